/*
 * scoreboard.c - the shared-memory table of worker slots and per-service
 * counters. The master maps it before the first fork, so every worker
 * shares it; the master allocates and frees slots, each worker writes only
 * its own slot, and anyone may read. Its size is fixed (SB_MAX_SLOTS) so
 * it survives reloads untouched; pages never used cost no memory.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define SB_MAGIC 0x70726566u

struct scoreboard *scoreboard;

int scoreboard_create(void)
{
	if (scoreboard)
		return 0;
	void *p = mmap(NULL, sizeof(struct scoreboard), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	scoreboard = p;
	scoreboard->magic = SB_MAGIC;
	scoreboard->nslots = 0;
	return 0;
}

int scoreboard_alloc_slot(void)
{
	for (int i = 0; i < SB_MAX_SLOTS; i++) {
		struct sb_slot *s = &scoreboard->slots[i];
		if (s->state == SB_FREE && s->pid == 0) {
			memset(s, 0, sizeof(*s));
			s->state = SB_STARTING;
			if (i >= scoreboard->nslots)
				scoreboard->nslots = i + 1;
			return i;
		}
	}
	errno = ENOSPC;
	return -1;
}

void scoreboard_free_slot(int i)
{
	struct sb_slot *s = &scoreboard->slots[i];
	/* A worker's count outlives it; its slot's svc is bounds-checked, as all worker data. */
	if (s->svc >= 0 && s->svc < SB_MAX_SERVICES)
		scoreboard->svcs[s->svc].handler_errors += s->handler_errors;
	s->handler_errors = 0;
	s->state = SB_FREE;
	s->pid = 0;
	while (scoreboard->nslots > 0 &&
	       scoreboard->slots[scoreboard->nslots - 1].state == SB_FREE)
		scoreboard->nslots--;
}

int scoreboard_service(const char *name)
{
	int free_at = -1;
	for (int i = 0; i < SB_MAX_SERVICES; i++) {
		struct sb_service *v = &scoreboard->svcs[i];
		if (v->used && strcmp(v->name, name) == 0)
			return i;
		if (!v->used && free_at < 0)
			free_at = i;
	}
	if (free_at < 0)
		return -1;
	struct sb_service *v = &scoreboard->svcs[free_at];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->used = 1;
	return free_at;
}

/* 1 ms to 10 s, roughly 1-2.5-5 per decade, as Prometheus client libraries do. */
const uint64_t scoreboard_hist_bounds_us[SB_HIST_BUCKETS - 1] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};

/* The bucket a duration falls in: the first bound not below it, or the last (+Inf). */
int scoreboard_hist_bucket(uint64_t us)
{
	int i = 0;
	while (i < SB_HIST_BUCKETS - 1 && us > scoreboard_hist_bounds_us[i])
		i++;
	return i;
}
