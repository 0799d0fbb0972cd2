/*
 * tickmod.c - a module with a tick: each tick counts one and writes the
 * count to `tick_file` (tickmod = { tick_file = "PATH"; }). On a kept-alive
 * connection each line is a request: "slow" waits 0.4 s for more request
 * bytes (a wait in the middle of a request) and answers "slow BEFORE AFTER"
 * (the counts around it); anything else answers "ticks N". Between two
 * requests it waits with pf_conn_read_idle.
 */
#include <prefork.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tickmod {
	char path[4096];
	long count;
};

static int tickmod_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	struct tickmod *t = calloc(1, sizeof(*t));
	(void)w;
	if (!t || pf_settings_path(s, "tick_file", "", t->path, sizeof(t->path)) < 0) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static void tickmod_tick(struct pf_worker *w, void *state)
{
	struct tickmod *t = state;
	char tmp[4200];
	t->count++;
	if (!t->path[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.%d", t->path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%ld %s\n", t->count, pf_worker_stopping(w) ? "stopping" : "running");
	if (fclose(f) == 0)
		rename(tmp, t->path);
}

static int tickmod_handle(struct pf_conn *c, void *state)
{
	struct tickmod *t = state;
	char buf[256];
	for (;;) {
		ssize_t n = pf_conn_read_idle(c, buf, sizeof(buf) - 1, 30);
		if (n <= 0)
			return 0;
		buf[n] = '\0';
		if (strncmp(buf, "slow", 4) == 0) {
			long before = t->count;
			char more[16];
			(void)pf_conn_read_timeout(c, more, sizeof(more), 0.4);
			if (pf_conn_printf(c, "slow %ld %ld\n", before, t->count) < 0)
				return -1;
		} else if (pf_conn_printf(c, "ticks %ld\n", t->count) < 0) {
			return -1;
		}
	}
}

static void tickmod_fini(struct pf_worker *w, void *state)
{
	(void)w;
	free(state);
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "tickmod",
	.init = tickmod_init,
	.handle = tickmod_handle,
	.fini = tickmod_fini,
	.tick = tickmod_tick,
};
