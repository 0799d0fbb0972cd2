/*
 * tick.c - the handler's optional per-worker `tick` callback, run every
 * tick_interval seconds (a service setting) while the worker is idle:
 * blocked in accept() (a one-shot ITIMER_REAL wakes it with SIGALRM, whose
 * handler only records) or waiting between two requests of a kept-alive
 * connection (pf_conn_read_idle caps its wait at the next tick). Never in
 * the middle of a request: the timer is disarmed once a connection is
 * accepted, and request waits never call it.
 * Entry points: tick_start, tick_left_ns, tick_run_due, tick_arm, tick_disarm.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>

static int tick_enabled(const struct pf_worker *w)
{
	return w && w->handler && w->handler->tick && w->svc && w->svc->tick_interval > 0;
}

static int64_t tick_interval_ns(const struct pf_worker *w)
{
	int64_t ns = (int64_t)(w->svc->tick_interval * 1e9);
	return ns > 0 ? ns : 1;
}

void tick_start(struct pf_worker *w)
{
	w->tick_next_ns = tick_enabled(w) ? util_now_ns() + tick_interval_ns(w) : 0;
}

int64_t tick_left_ns(const struct pf_worker *w)
{
	if (!tick_enabled(w) || !w->tick_next_ns)
		return INT64_MAX;
	int64_t left = w->tick_next_ns - util_now_ns();
	return left > 0 ? left : 0;
}

int tick_run_due(struct pf_worker *w)
{
	if (tick_left_ns(w) > 0)
		return 0;
	int saved = errno;
	w->handler->tick(w, w->state);
	/* The next one an interval after this one ends: a slow tick never piles up. */
	w->tick_next_ns = util_now_ns() + tick_interval_ns(w);
	errno = saved;
	return 1;
}

/* Wake a worker blocked in accept() when its next tick is due (SIGALRM: EINTR). */
void tick_arm(const struct pf_worker *w)
{
	int64_t left = tick_left_ns(w);
	if (left == INT64_MAX)
		return;
	if (left < 1000)
		left = 1000;	/* 0 would disarm the timer */
	/*
	 * It repeats every interval: a SIGALRM landing just before accept()
	 * blocks then delays the tick by one interval at most.
	 */
	int64_t every = tick_interval_ns(w);
	struct itimerval it;
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = (time_t)(left / 1000000000LL);
	it.it_value.tv_usec = (suseconds_t)(left % 1000000000LL / 1000);
	it.it_interval.tv_sec = (time_t)(every / 1000000000LL);
	it.it_interval.tv_usec = (suseconds_t)(every % 1000000000LL / 1000);
	if (!it.it_interval.tv_sec && !it.it_interval.tv_usec)
		it.it_interval.tv_usec = 1;
	setitimer(ITIMER_REAL, &it, NULL);
}

void tick_disarm(const struct pf_worker *w)
{
	if (!tick_enabled(w))
		return;
	struct itimerval it;
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
}
