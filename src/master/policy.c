/*
 * policy.c - the master's pool decisions as pure functions (see policy.h):
 * crash back-off, dynamic sizing, the max_workers room for extra places,
 * recycle staggering and the watchdog. Nothing here forks, reads a clock
 * or logs; spawn.c applies the answers.
 */
#include "master/policy.h"

#include <stddef.h>

int64_t policy_backoff(int *crashes, int64_t ran_ns)
{
	if (ran_ns >= POLICY_HEALTHY_RUN_NS)
		*crashes = 0;
	int64_t delay = 0;
	if (*crashes > 0) {
		delay = POLICY_BACKOFF_FIRST_NS;
		for (int i = 1; i < *crashes && delay < POLICY_BACKOFF_MAX_NS; i++)
			delay *= 2;
		if (delay > POLICY_BACKOFF_MAX_NS)
			delay = POLICY_BACKOFF_MAX_NS;
	}
	(*crashes)++;
	return delay;
}

int policy_throttled(int crashes, int64_t next_spawn_ns, int64_t now)
{
	return next_spawn_ns > now || crashes >= 2;
}

enum policy_step policy_size(struct policy_pool *p, const struct policy_pool_view *v,
			     int64_t now)
{
	if (now - p->last_step_ns < POLICY_GROW_STEP_NS)
		return POLICY_KEEP;
	int room = v->max_workers - v->draining - p->target;
	if (v->spares < v->min_spare && room > 0 && !v->throttled) {
		int add = p->rate ? p->rate : 1;
		if (add > room)
			add = room;
		p->target += add;
		p->rate = p->rate ? (p->rate < POLICY_GROW_MAX_RATE ? p->rate * 2 :
				     POLICY_GROW_MAX_RATE) : 2;
		p->last_step_ns = now;
		return POLICY_GROW;
	}
	if (v->spares > v->max_spare && p->target > 1) {
		if (now - p->last_step_ns < POLICY_SHRINK_STEP_NS)
			return POLICY_KEEP;
		p->target--;
		p->rate = 0;
		p->last_step_ns = now;
		return POLICY_SHRINK;
	}
	p->rate = 0;
	return POLICY_KEEP;
}

int64_t policy_size_next(const struct policy_pool *p, const struct policy_pool_view *v,
			 int64_t now)
{
	if (v->spares >= v->min_spare)
		return 0;
	int64_t step = p->last_step_ns + POLICY_GROW_STEP_NS;
	return step > now ? step : 0;
}

int policy_may_fill(int place, int start_workers, int live, int max_workers)
{
	return place < start_workers || live < max_workers;
}

int policy_recycle_pick(const struct policy_worker *w, int n, int places_full)
{
	int candidate = -1;
	for (int i = 0; i < n; i++) {
		if (!w[i].ready && !w[i].exiting)
			return -1;	/* a successor is still starting */
		if (!w[i].exiting && w[i].recycle && candidate < 0)
			candidate = i;
	}
	return places_full ? candidate : -1;
}

int policy_watchdog(int busy, int64_t conn_start_ns, double request_timeout, int64_t now,
		    int64_t *due_ns)
{
	*due_ns = 0;
	/* conn_start_ns is worker-written: a start in the future is a lie, not an overflow. */
	if (request_timeout <= 0 || !busy || conn_start_ns <= 0 || conn_start_ns > now)
		return 0;
	int64_t due = conn_start_ns + (int64_t)(request_timeout * 1e9);
	if (now >= due)
		return 1;
	*due_ns = due;
	return 0;
}
