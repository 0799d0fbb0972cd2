/*
 * testmod.c - a module whose misbehaviour the tests choose in its settings:
 *	testmod = { init = "ok" | "fail" | "crash";
 *	            handle = "echo" | "sleep" | "crash" | "pid"; };
 * "sleep" never returns (for request_timeout), "crash" aborts, "pid"
 * answers the worker's PID.
 */
#include <prefork.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct testmod {
	char init[16], handle[16];
};

static int testmod_check(const struct pf_settings *s)
{
	const char *v;
	int bad = pf_settings_string(s, "init", "ok", &v) < 0;
	if (!bad && strcmp(v, "ok") && strcmp(v, "fail") && strcmp(v, "crash")) {
		pf_settings_error(s, "init", "'init' must be ok, fail or crash");
		bad = 1;
	}
	bad |= pf_settings_string(s, "handle", "echo", &v) < 0;
	return bad ? -1 : 0;
}

static int testmod_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	const char *init, *handle;
	struct testmod *t = calloc(1, sizeof(*t));
	(void)w;
	pf_settings_string(s, "init", "ok", &init);
	pf_settings_string(s, "handle", "echo", &handle);
	strncpy(t->init, init, sizeof(t->init) - 1);
	strncpy(t->handle, handle, sizeof(t->handle) - 1);
	*state = t;
	if (strcmp(init, "fail") == 0) {
		pf_log(PF_LOG_ERROR, "testmod: init fails as configured");
		free(t);
		return -1;
	}
	if (strcmp(init, "crash") == 0)
		abort();
	return 0;
}

static int testmod_handle(struct pf_conn *c, void *state)
{
	struct testmod *t = state;
	char buf[4096];
	ssize_t n;
	if (strcmp(t->handle, "sleep") == 0) {
		for (;;)
			pause();
	}
	if (strcmp(t->handle, "crash") == 0)
		abort();
	if (strcmp(t->handle, "pid") == 0)
		return pf_conn_printf(c, "%d\n", (int)getpid()) < 0 ? -1 : 0;
	while ((n = pf_conn_read(c, buf, sizeof(buf))) > 0)
		if (pf_conn_write(c, buf, (size_t)n) < 0)
			return -1;
	return 0;
}

static void testmod_fini(struct pf_worker *w, void *state)
{
	(void)w;
	free(state);
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "testmod",
	.check = testmod_check,
	.init = testmod_init,
	.handle = testmod_handle,
	.fini = testmod_fini,
};
