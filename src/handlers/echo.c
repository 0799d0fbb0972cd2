/*
 * echo.c - the echo handler: writes back every byte it reads until the
 * client closes or half-closes the connection. A graceful stop does not
 * cut it; shutdown_timeout does.
 */
#include "internal.h"

static int echo_check(const struct pf_settings *s)
{
	(void)s;	/* no settings: any key in an echo block is reported unknown */
	return 0;
}

static int echo_handle(struct pf_conn *c, void *state)
{
	char buf[16384];
	(void)state;
	for (;;) {
		ssize_t n = pf_conn_read(c, buf, sizeof(buf));
		if (n <= 0)
			return n < 0 ? -1 : 0;
		if (pf_conn_write(c, buf, (size_t)n) < 0)
			return -1;
	}
}

const struct pf_handler echo_handler = {
	.abi = PF_ABI_VERSION,
	.name = "echo",
	.check = echo_check,
	.handle = echo_handle,
};
