/*
 * check_policy.c - the master's pool decisions (src/master/policy.c) as
 * tables of plain inputs and the answers they must give: crash back-off,
 * dynamic sizing, the max_workers room, recycle staggering, the watchdog.
 * No fork, no clock: each case runs in microseconds.
 */
#include "master/policy.h"

#include <check.h>
#include <stdlib.h>

#include "check_run.h"

#define S 1000000000LL
#define MS 1000000LL

/* ---- crash back-off ---- */

static const struct {
	int crashes_before;
	int64_t ran_ns;
	int64_t delay;
	int crashes_after;
} backoff_cases[] = {
	{ 0, 0, 0, 1 },				/* the first crash: refill at once */
	{ 1, 1 * S, 100 * MS, 2 },		/* the second: 0.1 s */
	{ 2, 1 * S, 200 * MS, 3 },
	{ 3, 1 * S, 400 * MS, 4 },
	{ 7, 1 * S, 6400 * MS, 8 },
	{ 8, 1 * S, 10 * S, 9 },		/* 12.8 s capped at 10 s */
	{ 50, 1 * S, 10 * S, 51 },
	{ 1000000, 0, 10 * S, 1000001 },	/* no overflow however long the streak */
	{ 5, 10 * S, 0, 1 },			/* a healthy run forgives: at once again */
	{ 5, 10 * S - 1, 1600 * MS, 6 },	/* one nanosecond short of healthy */
};

START_TEST(test_backoff_table)
{
	int crashes = backoff_cases[_i].crashes_before;
	int64_t d = policy_backoff(&crashes, backoff_cases[_i].ran_ns);
	ck_assert_msg(d == backoff_cases[_i].delay, "case %d: delay %lld, want %lld", _i,
		      (long long)d, (long long)backoff_cases[_i].delay);
	ck_assert_int_eq(crashes, backoff_cases[_i].crashes_after);
}
END_TEST

static const struct {
	int crashes;
	int64_t next_spawn, now;
	int throttled;
} throttle_cases[] = {
	{ 0, 0, 5 * S, 0 },
	{ 1, 0, 5 * S, 0 },		/* one crash is not a pattern */
	{ 1, 6 * S, 5 * S, 1 },		/* waiting out a back-off */
	{ 2, 0, 5 * S, 1 },		/* two in a row */
};

START_TEST(test_throttled_table)
{
	ck_assert_int_eq(policy_throttled(throttle_cases[_i].crashes, throttle_cases[_i].next_spawn,
					  throttle_cases[_i].now), throttle_cases[_i].throttled);
}
END_TEST

/* ---- dynamic sizing ---- */

static const struct {
	const char *what;
	struct policy_pool before;
	struct policy_pool_view view;
	int64_t now;
	enum policy_step step;
	struct policy_pool after;
} size_cases[] = {
	{ "short of spares: grow by 1 first", { 4, 0, 0 }, { 0, 2, 10, 256, 0, 0 }, 1 * S,
	  POLICY_GROW, { 5, 2, 1 * S } },
	{ "still short: grow by the doubled step", { 5, 2, 1 * S }, { 1, 2, 10, 256, 0, 0 },
	  1 * S + 250 * MS, POLICY_GROW, { 7, 4, 1 * S + 250 * MS } },
	{ "growth step is capped at 32", { 100, 32, 0 }, { 0, 50, 60, 256, 0, 0 }, 1 * S,
	  POLICY_GROW, { 132, 32, 1 * S } },
	{ "16 doubles to 32", { 100, 16, 0 }, { 0, 50, 60, 256, 0, 0 }, 1 * S,
	  POLICY_GROW, { 116, 32, 1 * S } },
	{ "a quarter second has not passed", { 5, 2, 1 * S }, { 0, 2, 10, 256, 0, 0 },
	  1 * S + 249 * MS, POLICY_KEEP, { 5, 2, 1 * S } },
	{ "growth stops at max_workers", { 8, 4, 0 }, { 0, 2, 10, 10, 0, 0 }, 1 * S,
	  POLICY_GROW, { 10, 8, 1 * S } },
	{ "at max_workers: nothing", { 10, 4, 0 }, { 0, 2, 10, 10, 0, 0 }, 1 * S,
	  POLICY_KEEP, { 10, 0, 0 } },
	{ "draining workers count towards max_workers", { 6, 0, 0 }, { 0, 2, 10, 10, 4, 0 },
	  1 * S, POLICY_KEEP, { 6, 0, 0 } },
	{ "draining workers leave the rest of the room", { 6, 4, 0 }, { 0, 2, 10, 10, 2, 0 },
	  1 * S, POLICY_GROW, { 8, 8, 1 * S } },
	{ "no growth while workers keep crashing", { 4, 2, 0 }, { 0, 2, 10, 256, 0, 1 }, 1 * S,
	  POLICY_KEEP, { 4, 0, 0 } },
	{ "surplus: shrink by one", { 20, 0, 0 }, { 15, 2, 10, 256, 0, 0 }, 2 * S,
	  POLICY_SHRINK, { 19, 0, 2 * S } },
	{ "surplus: at most one a second", { 19, 0, 2 * S }, { 14, 2, 10, 256, 0, 0 },
	  2 * S + 999 * MS, POLICY_KEEP, { 19, 0, 2 * S } },
	{ "surplus: the next second", { 19, 0, 2 * S }, { 14, 2, 10, 256, 0, 0 }, 3 * S,
	  POLICY_SHRINK, { 18, 0, 3 * S } },
	{ "never below one worker", { 1, 0, 0 }, { 15, 0, 0, 256, 0, 0 }, 5 * S, POLICY_KEEP,
	  { 1, 0, 0 } },
	{ "within bounds: the step resets", { 6, 8, 0 }, { 5, 2, 10, 256, 0, 0 }, 1 * S,
	  POLICY_KEEP, { 6, 0, 0 } },
	{ "exactly min_spare is enough", { 6, 2, 0 }, { 2, 2, 10, 256, 0, 0 }, 1 * S,
	  POLICY_KEEP, { 6, 0, 0 } },
	{ "exactly max_spare is not a surplus", { 12, 0, 0 }, { 10, 2, 10, 256, 0, 0 }, 5 * S,
	  POLICY_KEEP, { 12, 0, 0 } },
};

START_TEST(test_size_table)
{
	struct policy_pool p = size_cases[_i].before;
	enum policy_step step = policy_size(&p, &size_cases[_i].view, size_cases[_i].now);
	const struct policy_pool *want = &size_cases[_i].after;
	ck_assert_msg(step == size_cases[_i].step, "%s: step %d", size_cases[_i].what, step);
	ck_assert_msg(p.target == want->target && p.rate == want->rate &&
		      p.last_step_ns == want->last_step_ns,
		      "%s: target %d rate %d last %lld", size_cases[_i].what, p.target, p.rate,
		      (long long)p.last_step_ns);
}
END_TEST

START_TEST(test_size_next_step)
{
	struct policy_pool p = { 4, 2, 1 * S };
	struct policy_pool_view shortage = { 0, 2, 10, 256, 0, 0 };
	struct policy_pool_view enough = { 3, 2, 10, 256, 0, 0 };
	ck_assert(policy_size_next(&p, &shortage, 1 * S + 100 * MS) == 1 * S + 250 * MS);
	ck_assert(policy_size_next(&p, &shortage, 1 * S + 250 * MS) == 0);	/* due now */
	ck_assert(policy_size_next(&p, &enough, 1 * S + 100 * MS) == 0);
}
END_TEST

/* A pool that stays short of spares grows 1, 2, 4, 8 ... in quarter seconds. */
START_TEST(test_size_growth_sequence)
{
	static const int targets[] = { 5, 7, 11, 19, 35, 67, 99, 131, 163 };
	struct policy_pool p = { 4, 0, 0 };
	struct policy_pool_view v = { 0, 1000, 2000, 4096, 0, 0 };
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		int64_t now = 1 * S + (int64_t)i * 250 * MS;
		ck_assert_int_eq(policy_size(&p, &v, now), POLICY_GROW);
		ck_assert_int_eq(p.target, targets[i]);
		/* Between steps nothing moves. */
		ck_assert_int_eq(policy_size(&p, &v, now + 100 * MS), POLICY_KEEP);
	}
}
END_TEST

static const struct {
	int place, start, live, max, may;
} fill_cases[] = {
	{ 0, 4, 300, 10, 1 },	/* the configured start size is always filled */
	{ 3, 4, 300, 10, 1 },
	{ 4, 4, 9, 10, 1 },	/* beyond it, while under max_workers */
	{ 4, 4, 10, 10, 0 },
	{ 7, 4, 12, 10, 0 },	/* draining workers made live exceed it */
};

START_TEST(test_may_fill_table)
{
	ck_assert_int_eq(policy_may_fill(fill_cases[_i].place, fill_cases[_i].start,
					 fill_cases[_i].live, fill_cases[_i].max), fill_cases[_i].may);
}
END_TEST

/* ---- recycle staggering ---- */

#define W(ready, exiting, recycle) { ready, exiting, recycle }
static const struct {
	const char *what;
	struct policy_worker w[4];
	int n, full, pick;
} recycle_cases[] = {
	{ "nobody asks", { W(1, 0, 0), W(1, 0, 0) }, 2, 1, -1 },
	{ "the first asking worker", { W(1, 0, 0), W(1, 0, 1), W(1, 0, 1) }, 3, 1, 1 },
	{ "one retiring already replaced: the next goes",
	  { W(1, 1, 1), W(1, 0, 1), W(1, 0, 0) }, 3, 1, 1 },
	{ "a successor still starting: wait", { W(1, 1, 1), W(0, 0, 0), W(1, 0, 1) }, 3, 1, -1 },
	{ "a place still empty: wait", { W(1, 0, 1), W(1, 0, 0) }, 2, 0, -1 },
	{ "an exiting worker is no candidate", { W(1, 1, 1), W(1, 0, 0) }, 2, 1, -1 },
	{ "an exiting worker that never got ready does not block",
	  { W(0, 1, 0), W(1, 0, 1) }, 2, 1, 1 },
	{ "no workers", { W(0, 0, 0) }, 0, 1, -1 },
};

START_TEST(test_recycle_table)
{
	int pick = policy_recycle_pick(recycle_cases[_i].w, recycle_cases[_i].n,
				       recycle_cases[_i].full);
	ck_assert_msg(pick == recycle_cases[_i].pick, "%s: picked %d", recycle_cases[_i].what,
		      pick);
}
END_TEST

/* ---- watchdog ---- */

static const struct {
	const char *what;
	int busy;
	int64_t start;
	double timeout;
	int64_t now;
	int kill;
	int64_t due;
} watchdog_cases[] = {
	{ "off", 1, 1 * S, 0, 100 * S, 0, 0 },
	{ "idle", 0, 1 * S, 2, 100 * S, 0, 0 },
	{ "busy but no connection time yet", 1, 0, 2, 100 * S, 0, 0 },
	{ "busy, within the timeout", 1, 1 * S, 2, 2 * S, 0, 3 * S },
	{ "busy, just before", 1, 1 * S, 2, 3 * S - 1, 0, 3 * S },
	{ "busy, exactly the timeout", 1, 1 * S, 2, 3 * S, 1, 0 },
	{ "busy, long past", 1, 1 * S, 2, 60 * S, 1, 0 },
	{ "fractional timeout", 1, 1 * S, 0.5, 1 * S + 400 * MS, 0, 1 * S + 500 * MS },
};

START_TEST(test_watchdog_table)
{
	int64_t due = -1;
	int kill = policy_watchdog(watchdog_cases[_i].busy, watchdog_cases[_i].start,
				   watchdog_cases[_i].timeout, watchdog_cases[_i].now, &due);
	ck_assert_msg(kill == watchdog_cases[_i].kill, "%s: kill %d", watchdog_cases[_i].what, kill);
	ck_assert_msg(due == watchdog_cases[_i].due, "%s: due %lld", watchdog_cases[_i].what,
		      (long long)due);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("backoff");
	tcase_add_loop_test(tc, test_backoff_table, 0, N(backoff_cases));
	tcase_add_loop_test(tc, test_throttled_table, 0, N(throttle_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("sizing");
	tcase_add_loop_test(tc, test_size_table, 0, N(size_cases));
	tcase_add_test(tc, test_size_next_step);
	tcase_add_test(tc, test_size_growth_sequence);
	tcase_add_loop_test(tc, test_may_fill_table, 0, N(fill_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("recycle");
	tcase_add_loop_test(tc, test_recycle_table, 0, N(recycle_cases));
	suite_add_tcase(s, tc);
	tc = tcase_create("watchdog");
	tcase_add_loop_test(tc, test_watchdog_table, 0, N(watchdog_cases));
	suite_add_tcase(s, tc);
	return check_run(s, CK_NOFORK);
}
