/* badabi.c - a module built for another ABI version: loading must fail. */
#include <prefork.h>

static int badabi_handle(struct pf_conn *c, void *s)
{
	(void)c;
	(void)s;
	return 0;
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION + 1000,
	.name = "badabi",
	.handle = badabi_handle,
};
