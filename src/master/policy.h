/*
 * policy.h - the master's decisions as pure functions of plain inputs:
 * crash back-off, dynamic pool sizing, recycle staggering and the
 * request_timeout watchdog. No fork, no clock, no globals: the caller
 * passes the time and the counts, applies the answer, and logs.
 * t/check_policy.c holds their table-driven suites.
 */
#ifndef PREFORK_POLICY_H
#define PREFORK_POLICY_H

#include <stdint.h>

/* Crash back-off: first refill at once, then 0.1 s doubling to 10 s. */
#define POLICY_BACKOFF_FIRST_NS 100000000LL
#define POLICY_BACKOFF_MAX_NS 10000000000LL
/* A worker that ran this long clears its place's crash count. */
#define POLICY_HEALTHY_RUN_NS 10000000000LL
/* Dynamic sizing: at most one growth step per quarter second ... */
#define POLICY_GROW_STEP_NS 250000000LL
/* ... and one shrink step a second. */
#define POLICY_SHRINK_STEP_NS 1000000000LL
/* The growth step doubles up to this many workers. */
#define POLICY_GROW_MAX_RATE 32
/* request_timeout: SIGTERM, then SIGKILL this much later. */
#define POLICY_WATCHDOG_GRACE_NS 1000000000LL

/*
 * A worker in a place with *crashes consecutive crashes died after running
 * ran_ns: update *crashes and return how long to wait before refilling
 * the place (0: at once).
 */
int64_t policy_backoff(int *crashes, int64_t ran_ns);

/* Is a place with these crashes and this next-spawn time in back-off? */
int policy_throttled(int crashes, int64_t next_spawn_ns, int64_t now);

/* One service's dynamic sizing state, kept by the caller between calls. */
struct policy_pool {
	int target;		/* workers wanted */
	int rate;		/* the next growth step (0: the first, 1) */
	int64_t last_step_ns;	/* when the target last changed */
};

/* What dynamic sizing sees of a service now. */
struct policy_pool_view {
	int spares;		/* idle workers plus empty places about to be refilled */
	int min_spare, max_spare, max_workers;
	int draining;		/* workers of the same service in a draining generation */
	int throttled;		/* some place is in crash back-off */
};

enum policy_step { POLICY_KEEP, POLICY_GROW, POLICY_SHRINK };

/*
 * Dynamic sizing, as Apache prefork: keep spares between min and max
 * spare. A shortage grows the target by 1, 2, 4 ... (capped at 32) every
 * quarter second while it lasts, never past max_workers counting the
 * draining generation, and not while workers keep crashing; a surplus
 * shrinks it by one a second, never below 1. Updates *p.
 */
enum policy_step policy_size(struct policy_pool *p, const struct policy_pool_view *v,
			     int64_t now);

/* When the next growth step may be taken (0: no shortage, nothing due). */
int64_t policy_size_next(const struct policy_pool *p, const struct policy_pool_view *v,
			 int64_t now);

/*
 * May the empty place `place` be filled? Places below the configured
 * start size always may; the ones beyond only while the service's live
 * workers (draining generation included) stay under max_workers.
 */
int policy_may_fill(int place, int start_workers, int live, int max_workers);

/* One worker of a service, as recycle staggering sees it. */
struct policy_worker {
	int ready;		/* reached accept() */
	int exiting;		/* told to stop */
	int recycle;		/* asks to be retired (max_requests reached) */
};

/*
 * max_requests staggering: the index of the one asking worker to retire
 * now, or -1. Nobody is retired while a worker is still starting (the
 * successor of the previous one) or a place is empty.
 */
int policy_recycle_pick(const struct policy_worker *w, int n, int places_full);

/*
 * The watchdog: a worker busy since conn_start_ns (0: not on a
 * connection) under request_timeout seconds (0: off). Returns 1 when it
 * must be ended now; otherwise 0 and *due_ns gets when it will be (0:
 * never).
 */
int policy_watchdog(int busy, int64_t conn_start_ns, double request_timeout, int64_t now,
		    int64_t *due_ns);

#endif /* PREFORK_POLICY_H */
