/*
 * upper_module.c - a module for preforkd: echoes what it reads in upper
 * case, after a greeting taken from its settings block. Build it with
 *
 *	cc -shared -fPIC -o upper.so upper_module.c $(pkg-config --cflags prefork)
 *
 * and load it from server.conf:
 *
 *	{ name = "upper"; listen = "127.0.0.1:7010"; handler = "upper";
 *	  module = "upper.so"; upper = { greeting = "HI"; }; }
 */
#include <prefork.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct upper_state {
	char greeting[64];
};

/* In the master, for -t and reload: reject bad settings with FILE:LINE. */
static int upper_check(const struct pf_settings *s)
{
	const char *g;
	if (pf_settings_string(s, "greeting", "HELLO", &g) < 0)
		return -1;
	if (strlen(g) >= sizeof(((struct upper_state *)0)->greeting)) {
		pf_settings_error(s, "greeting", "'greeting' is too long (at most 63 bytes)");
		return -1;
	}
	return 0;
}

/* In each worker, after fork. */
static int upper_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	const char *g;
	struct upper_state *st = calloc(1, sizeof(*st));
	(void)w;
	if (!st || pf_settings_string(s, "greeting", "HELLO", &g) < 0) {
		free(st);
		return -1;
	}
	strncpy(st->greeting, g, sizeof(st->greeting) - 1);
	*state = st;
	return 0;
}

static int upper_handle(struct pf_conn *c, void *state)
{
	struct upper_state *st = state;
	char buf[4096];
	ssize_t n;
	if (pf_conn_printf(c, "%s\n", st->greeting) < 0)
		return -1;
	while ((n = pf_conn_read(c, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			buf[i] = (char)toupper((unsigned char)buf[i]);
		if (pf_conn_write(c, buf, (size_t)n) < 0)
			return -1;
	}
	return n < 0 ? -1 : 0;
}

static void upper_fini(struct pf_worker *w, void *state)
{
	(void)w;
	free(state);
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "upper",
	.check = upper_check,
	.init = upper_init,
	.handle = upper_handle,
	.fini = upper_fini,
};
