/*
 * sbwriter.c - a hostile module: the stand-in for a code-execution bug in
 * a handler. Its init starts a thread that, for as long as the worker
 * lives, overwrites the whole shared scoreboard (found the way an attacker
 * would: the shared anonymous mapping in /proc/self/maps) with random
 * bytes, and in between with targeted lies: nslots = 1 << 24, states and
 * service indexes out of range, peers without a NUL, and the pid of a
 * process the master did not fork (decoy_pid) in every slot.
 *	sbwriter = { decoy_pid = 1234; pause_us = 500; ready_delay_ms = 0; };
 * ready_delay_ms holds the worker in init that long after the scribbling
 * began: a worker not yet ready whose slot claims a connection for ages.
 * Connections are echoed (the worker keeps serving while it scribbles).
 * Built by make check; used by t/test_hostile.py.
 */
#include "internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sbwriter {
	unsigned char *map;
	size_t len;
	pid_t decoy;
	long pause_us;
	unsigned seed;
};

static int sbwriter_check(const struct pf_settings *s)
{
	long long v;
	int bad = pf_settings_int(s, "decoy_pid", 0, 0, 1 << 22, &v) < 0;
	bad |= pf_settings_int(s, "pause_us", 500, 0, 1000000, &v) < 0;
	bad |= pf_settings_int(s, "ready_delay_ms", 0, 0, 60000, &v) < 0;
	return bad ? -1 : 0;
}

/* The largest shared, writable mapping of /dev/zero: the scoreboard. */
static unsigned char *find_mapping(size_t *len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned char *best = NULL;
	*len = 0;
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if (strcmp(perms, "rw-s") != 0 || !strstr(line, "/dev/zero"))
			continue;
		if (hi - lo > *len) {
			*len = hi - lo;
			best = (unsigned char *)lo;
		}
	}
	fclose(f);
	return best;
}

static void fill_random(struct sbwriter *w, unsigned char *p, size_t n)
{
	uint32_t x = (uint32_t)rand_r(&w->seed) | 1u;
	for (size_t i = 0; i < n; i++) {
		/* xorshift32: fast enough to cover the whole mapping every round */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

/* One round of lies, chosen at random. */
static void scribble(struct sbwriter *w)
{
	struct scoreboard *sb = (struct scoreboard *)w->map;
	int mode = rand_r(&w->seed) % 4;
	if (mode == 0) {
		fill_random(w, w->map, w->len);
		return;
	}
	/* Random bytes over the header and the services, then the slots one by one. */
	fill_random(w, w->map, offsetof(struct scoreboard, slots));
	sb->nslots = mode == 1 ? 1 << 24 : mode == 2 ? -7 : SB_MAX_SLOTS;
	for (int i = 0; i < SB_MAX_SLOTS; i++) {
		struct sb_slot *s = &sb->slots[i];
		fill_random(w, (unsigned char *)s, sizeof(*s));
		if (w->decoy)
			s->pid = w->decoy;
		if (mode == 2) {
			s->state = SB_BUSY;
			s->svc = rand_r(&w->seed) % SB_MAX_SERVICES;
			s->conn_start_ns = 1;	/* busy for ages: the watchdog's business */
		} else if (mode == 3) {
			s->state = rand_r(&w->seed) % 2 ? SB_FREE : 1000000;
			s->svc = -5;
			s->recycle = 1;
			s->conn_start_ns = INT64_MAX;
		}
	}
	/* Service entries without a terminating NUL and absurd counts. */
	for (int v = 0; v < SB_MAX_SERVICES; v++) {
		memset(sb->svcs[v].name, 'A', sizeof(sb->svcs[v].name));
		sb->svcs[v].used = 1;
		sb->svcs[v].target = -1;
	}
}

static void *writer(void *arg)
{
	struct sbwriter *w = arg;
	for (;;) {
		scribble(w);
		if (w->pause_us)
			usleep((useconds_t)w->pause_us);
	}
	return NULL;
}

static int sbwriter_init(struct pf_worker *wk, const struct pf_settings *s, void **state)
{
	(void)wk;
	struct sbwriter *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	long long v = 0;
	pf_settings_int(s, "decoy_pid", 0, 0, 1 << 22, &v);
	w->decoy = (pid_t)v;
	pf_settings_int(s, "pause_us", 500, 0, 1000000, &v);
	w->pause_us = (long)v;
	w->seed = (unsigned)getpid();
	w->map = find_mapping(&w->len);
	if (!w->map || w->len < sizeof(struct scoreboard)) {
		pf_log(PF_LOG_ERROR, "sbwriter: no scoreboard mapping found");
		free(w);
		return -1;
	}
	pf_log(PF_LOG_INFO, "sbwriter: scribbling over %zu bytes at %p as uid %d", w->len,
	       (void *)w->map, (int)getuid());
	pthread_t t;
	if (pthread_create(&t, NULL, writer, w) != 0) {
		free(w);
		return -1;
	}
	pthread_detach(t);
	*state = w;
	pf_settings_int(s, "ready_delay_ms", 0, 0, 60000, &v);
	if (v > 0)
		usleep((useconds_t)(v * 1000));
	return 0;
}

static int sbwriter_handle(struct pf_conn *c, void *state)
{
	char buf[4096];
	ssize_t n;
	(void)state;
	while ((n = pf_conn_read(c, buf, sizeof(buf))) > 0)
		if (pf_conn_write(c, buf, (size_t)n) < 0)
			return -1;
	return 0;
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "sbwriter",
	.check = sbwriter_check,
	.init = sbwriter_init,
	.handle = sbwriter_handle,
};
