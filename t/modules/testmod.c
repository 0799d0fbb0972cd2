/*
 * testmod.c - a module whose misbehaviour the tests choose in its settings:
 *	testmod = { init = "ok" | "fail" | "crash";
 *	            handle = "echo" | "sleep" | "crash" | "pid";
 *	            crash_file = "PATH"; fill_fds = true; init_sleep = 0.2; };
 * "sleep" never returns (for request_timeout), "crash" aborts, "pid"
 * answers the worker's PID. init also aborts while crash_file exists (a
 * crash loop that starts after a healthy start-up). fill_fds makes init
 * open descriptors until RLIMIT_NOFILE is reached, so accept() fails with
 * EMFILE, until the worker is told to reopen its logs (SIGUSR1), which
 * closes them again. init_sleep delays init (a slow-starting worker).
 */
#include <prefork.h>

#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define TESTMOD_MAX_FILL 4096

struct testmod {
	char init[16], handle[16];
	int filled[TESTMOD_MAX_FILL];
	int nfilled;
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
	bad |= pf_settings_string(s, "crash_file", "", &v) < 0;
	int fill;
	bad |= pf_settings_bool(s, "fill_fds", 0, &fill) < 0;
	double secs;
	bad |= pf_settings_double(s, "init_sleep", 0.0, 0.0, 60.0, &secs) < 0;
	return bad ? -1 : 0;
}

static int testmod_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	const char *init, *handle, *crash_file;
	struct testmod *t = calloc(1, sizeof(*t));
	(void)w;
	pf_settings_string(s, "init", "ok", &init);
	pf_settings_string(s, "handle", "echo", &handle);
	pf_settings_string(s, "crash_file", "", &crash_file);
	if (crash_file[0] && access(crash_file, F_OK) == 0)
		abort();
	double secs = 0;
	pf_settings_double(s, "init_sleep", 0.0, 0.0, 60.0, &secs);
	if (secs > 0)
		usleep((useconds_t)(secs * 1e6));
	int fill = 0;
	pf_settings_bool(s, "fill_fds", 0, &fill);
	while (fill && t->nfilled < TESTMOD_MAX_FILL) {
		int fd = dup(2);
		if (fd < 0)
			break;
		t->filled[t->nfilled++] = fd;
	}
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
	if (strcmp(t->handle, "fdflags") == 0) {
		/* The socket a handler gets for its own system calls. */
		int fl = fcntl(pf_conn_fd(c), F_GETFL);
		return pf_conn_printf(c, "%s\n", fl >= 0 && (fl & O_NONBLOCK) ? "nonblock" : "blocking") < 0
			       ? -1 : 0;
	}
	while ((n = pf_conn_read(c, buf, sizeof(buf))) > 0)
		if (pf_conn_write(c, buf, (size_t)n) < 0)
			return -1;
	return 0;
}

/* SIGUSR1: close every descriptor fill_fds opened. */
static void testmod_reopen(struct pf_worker *w, void *state)
{
	struct testmod *t = state;
	(void)w;
	pf_log(PF_LOG_INFO, "testmod: closing %d filler descriptors", t->nfilled);
	while (t->nfilled > 0)
		close(t->filled[--t->nfilled]);
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
	.reopen = testmod_reopen,
};
