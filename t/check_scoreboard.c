/*
 * check_scoreboard.c - slot allocation, service entries, and the status
 * renderings (text and JSON) of a known scoreboard.
 */
#include "internal.h"

#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"

static void setup(void)
{
	scoreboard_destroy();
	ck_assert_int_eq(scoreboard_create(), 0);
}

START_TEST(test_alloc_and_free_slots)
{
	int a = scoreboard_alloc_slot(0, 1);
	scoreboard_set_pid(a, 100);
	int b = scoreboard_alloc_slot(0, 1);
	scoreboard_set_pid(b, 101);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(scoreboard_nslots(), 2);
	ck_assert_int_eq(scoreboard->nslots, 2);
	ck_assert_int_eq(scoreboard->slots[a].state, SB_STARTING);
	ck_assert_int_eq(scoreboard_free_slots(), SB_MAX_SLOTS - 2);
	scoreboard_free_slot(b);
	ck_assert_int_eq(scoreboard_nslots(), 1);
	ck_assert_int_eq(scoreboard_free_slots(), SB_MAX_SLOTS - 1);
	/* Freeing a free slot, or one out of range, counts nothing. */
	scoreboard_free_slot(b);
	scoreboard_free_slot(-1);
	scoreboard_free_slot(SB_MAX_SLOTS);
	ck_assert_int_eq(scoreboard_free_slots(), SB_MAX_SLOTS - 1);
	/* A freed slot is reused. */
	int c = scoreboard_alloc_slot(0, 1);
	ck_assert_int_eq(c, b);
	ck_assert_int_eq(scoreboard_free_slots(), SB_MAX_SLOTS - 2);
}
END_TEST

START_TEST(test_full_scoreboard)
{
	for (int i = 0; i < SB_MAX_SLOTS; i++) {
		int s = scoreboard_alloc_slot(0, 1);
		ck_assert_int_eq(s, i);
		scoreboard_set_pid(s, 1000 + i);
	}
	ck_assert_int_eq(scoreboard_alloc_slot(0, 1), -1);
	ck_assert_int_eq(scoreboard_free_slots(), 0);
}
END_TEST

START_TEST(test_services_by_name)
{
	int a = scoreboard_service("web");
	int b = scoreboard_service("echo");
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(scoreboard_service("web"), a);
	ck_assert_str_eq(scoreboard_svc(b)->name, "echo");
	ck_assert_str_eq(scoreboard->svcs[b].name, "echo");	/* published */
	ck_assert_ptr_null(scoreboard_svc(-1));
	ck_assert_ptr_null(scoreboard_svc(SB_MAX_SERVICES));
}
END_TEST

/* Shared memory: a child's writes to its slot are seen by the parent. */
START_TEST(test_shared_across_fork)
{
	int s = scoreboard_alloc_slot(0, 1);
	pid_t pid = fork();
	if (pid == 0) {
		scoreboard->slots[s].served = 42;
		scoreboard->slots[s].state = SB_BUSY;
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	ck_assert_int_eq((int)scoreboard->slots[s].served, 42);
	ck_assert_int_eq(scoreboard->slots[s].state, SB_BUSY);
}
END_TEST

static void fill_example(void)
{
	int v = scoreboard_service("web");
	struct sb_service *sv = scoreboard_svc(v);
	snprintf(sv->listen, sizeof(sv->listen), "127.0.0.1:8080");
	snprintf(sv->handler, sizeof(sv->handler), "http");
	sv->target = 2;
	scoreboard_set_generation(3);
	scoreboard_publish();
	int a = scoreboard_alloc_slot(v, 3), b = scoreboard_alloc_slot(v, 3);
	scoreboard_set_pid(a, 11);
	scoreboard_set_pid(b, 12);
	struct sb_slot *sa = &scoreboard->slots[a], *sb = &scoreboard->slots[b];
	sa->state = SB_IDLE;
	sa->served = 5;
	sb->state = SB_BUSY;
	sb->served = 7;
	sb->handler_errors = 1;
	sv->handler_errors = 2;	/* of workers gone */
	scoreboard_publish();
	sb->conn_start_ns = util_now_ns() - 2000000000LL;
	snprintf(sb->peer, sizeof(sb->peer), "127.0.0.1:5555");
}

START_TEST(test_render_text)
{
	fill_example();
	struct buf b;
	buf_init(&b);
	status_render(&b, 0);
	ck_assert_ptr_nonnull(strstr(b.data, "service web listen=127.0.0.1:8080 handler=http target=2 workers=2 idle=1 busy=1"));
	ck_assert_ptr_nonnull(strstr(b.data, "  web pid=11 generation=3 state=idle served=5 busy_for=0.000 peer=-\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "  web pid=12 generation=3 state=busy served=7 busy_for=2."));
	ck_assert_ptr_nonnull(strstr(b.data, "peer=127.0.0.1:5555\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "total workers=2 idle=1 busy=1 starting=0 exiting=0 served=12 "
					 "handler_errors=3\n"));
	ck_assert_ptr_nonnull(strstr(b.data, " watchdog_kills=0 handler_errors=3\n"));
	buf_free(&b);
}
END_TEST

START_TEST(test_render_json)
{
	fill_example();
	struct buf b;
	buf_init(&b);
	status_render(&b, 1);
	ck_assert_ptr_nonnull(strstr(b.data, "{\"generation\": 3, "));
	ck_assert_ptr_nonnull(strstr(b.data, "\"services\": [{\"name\": \"web\", \"listen\": \"127.0.0.1:8080\", \"handler\": \"http\""));
	ck_assert_ptr_nonnull(strstr(b.data, "{\"pid\": 11, \"generation\": 3, \"state\": \"idle\", \"served\": 5, \"busy_for\": 0.000"));
	ck_assert_ptr_nonnull(strstr(b.data, "\"totals\": {\"workers\": 2, \"idle\": 1, \"busy\": 1"));
	ck_assert_ptr_nonnull(strstr(b.data, "\"served\": 12, \"handler_errors\": 3}}"));
	buf_free(&b);
}
END_TEST

/* A worker's handler errors are kept for its service when its slot is freed. */
START_TEST(test_freed_slot_keeps_handler_errors)
{
	fill_example();
	int v = scoreboard_service("web");
	for (int i = 0; i < scoreboard_nslots(); i++)
		if (scoreboard->slots[i].handler_errors)
			scoreboard_free_slot(i);
	ck_assert_uint_eq(scoreboard_svc(v)->handler_errors, 3);
	/* A slot's svc is worker-written: the master's own record counts, not it. */
	int a = scoreboard_alloc_slot(v, 3);
	scoreboard->slots[a].svc = SB_MAX_SERVICES + 7;
	scoreboard->slots[a].handler_errors = 5;
	scoreboard_free_slot(a);
	ck_assert_uint_eq(scoreboard_svc(v)->handler_errors, 8);
}
END_TEST

/* ---- the shared mapping as hostile input ---- */

static void scribble(unsigned seed)
{
	unsigned char *p = (unsigned char *)scoreboard;
	for (size_t i = 0; i < sizeof(*scoreboard); i++)
		p[i] = (unsigned char)rand_r(&seed);
	scoreboard->nslots = 1 << 24;
	for (int i = 0; i < SB_MAX_SLOTS; i++)
		scoreboard->slots[i].pid = 4242;
}

/* The creator's bounds, slots, pids and services are its own: a worker's writes change none. */
START_TEST(test_owner_ignores_shared_lies)
{
	fill_example();
	scribble(1);
	ck_assert_int_eq(scoreboard_nslots(), 2);
	ck_assert_int_eq(scoreboard_generation(), 3);
	/* A slot a worker marked free is not handed out again. */
	scoreboard->slots[0].state = SB_FREE;
	scoreboard->slots[0].pid = 0;
	ck_assert_int_eq(scoreboard_alloc_slot(0, 4), 2);
	struct sb_view v;
	ck_assert_int_eq(scoreboard_view(0, &v), 1);
	ck_assert_int_eq(v.pid, 11);
	ck_assert_int_eq(v.svc, 0);
	ck_assert_int_eq(v.generation, 3);
	/* No pid set yet: not shown. Beyond the bound: not in use. */
	ck_assert_int_eq(scoreboard_view(2, &v), 0);
	ck_assert_int_eq(scoreboard_view(100, &v), 0);
	ck_assert_int_eq(scoreboard_view(-1, &v), 0);
	ck_assert_int_eq(scoreboard_view(SB_MAX_SLOTS, &v), 0);
	struct sb_service sv;
	ck_assert_int_eq(scoreboard_service_view(0, &sv), 1);
	ck_assert_str_eq(sv.name, "web");
	ck_assert_str_eq(sv.listen, "127.0.0.1:8080");
	ck_assert_int_eq(scoreboard_service_view(5, &sv), 0);
	/* The next publish restores the shared copy. */
	scoreboard_publish();
	ck_assert_str_eq(scoreboard->svcs[0].name, "web");
	ck_assert_int_eq(scoreboard->nslots, 3);
}
END_TEST

/* Counters the workers keep in the service entry (TLS) survive the master's publish. */
START_TEST(test_publish_keeps_worker_counters)
{
	fill_example();
	scoreboard->svcs[0].tls_handshakes = 9;
	scoreboard_svc(0)->spawns = 4;
	scoreboard_publish();
	ck_assert_uint_eq(scoreboard->svcs[0].tls_handshakes, 9);
	ck_assert_uint_eq(scoreboard->svcs[0].spawns, 4);
	struct sb_service sv;
	ck_assert_int_eq(scoreboard_service_view(0, &sv), 1);
	ck_assert_uint_eq(sv.tls_handshakes, 9);
}
END_TEST

static const struct {
	int state, want;
} state_cases[] = {
	{ SB_STARTING, SB_STARTING }, { SB_IDLE, SB_IDLE }, { SB_BUSY, SB_BUSY },
	{ SB_EXITING, SB_EXITING }, { SB_FREE, SB_INVALID }, { -1, SB_INVALID },
	{ 5, SB_INVALID }, { 1 << 30, SB_INVALID }, { INT_MIN, SB_INVALID },
};

START_TEST(test_view_checks_state)
{
	int s = scoreboard_alloc_slot(0, 1);
	scoreboard_set_pid(s, 77);
	scoreboard->slots[s].state = state_cases[_i].state;
	struct sb_view v;
	ck_assert_int_eq(scoreboard_view(s, &v), 1);
	ck_assert_int_eq(v.state, state_cases[_i].want);
	ck_assert_int_eq(v.pid, 77);
}
END_TEST

/* A known scoreboard for the counts: service, generation and state of each slot. */
static const struct {
	int svc;
	unsigned gen;
	int state;
} count_slots[] = {
	{ 0, 1, SB_IDLE }, { 0, 1, SB_BUSY }, { 0, 1, SB_STARTING }, { 0, 2, SB_IDLE },
	{ 1, 2, SB_EXITING }, { 1, 2, 99 }, { 1, 2, SB_IDLE },
};

static void fill_counts(void)
{
	for (size_t i = 0; i < ARRAY_LEN(count_slots); i++) {
		int s = scoreboard_alloc_slot(count_slots[i].svc, count_slots[i].gen);
		ck_assert_int_eq(s, (int)i);
		scoreboard_set_pid(s, 200 + s);
		scoreboard->slots[s].state = count_slots[i].state;
	}
}

/* The master's kind of judge: leave slot 0 out, count slot 1 as told to go. */
static int judge_example(int slot, int state, void *arg)
{
	(void)arg;
	return slot == 0 ? SB_FREE : slot == 1 ? SB_EXITING : state;
}

static const struct {
	int svc;
	unsigned gen;
	int judged;
	struct sb_count want;	/* workers, starting, idle, busy, exiting */
} count_cases[] = {
	{ SB_ANY_SERVICE, SB_ANY_GENERATION, 0, { 7, 1, 3, 1, 1 } },
	{ 0, SB_ANY_GENERATION, 0, { 4, 1, 2, 1, 0 } },
	{ 0, 1, 0, { 3, 1, 1, 1, 0 } },
	{ 0, 2, 0, { 1, 0, 1, 0, 0 } },
	{ 1, SB_ANY_GENERATION, 0, { 3, 0, 1, 0, 1 } },	/* state 99 counts as a worker only */
	{ SB_ANY_SERVICE, 2, 0, { 4, 0, 2, 0, 1 } },
	{ 2, SB_ANY_GENERATION, 0, { 0, 0, 0, 0, 0 } },
	{ 0, 1, 1, { 2, 1, 0, 0, 1 } },
	{ SB_ANY_SERVICE, SB_ANY_GENERATION, 1, { 6, 1, 2, 0, 2 } },
};

START_TEST(test_count_by_service_and_generation)
{
	fill_counts();
	/* The master trusts its own records, not what a worker wrote over them. */
	scoreboard->slots[3].svc = 1;
	scoreboard->slots[3].generation = 7;
	struct sb_count c;
	scoreboard_count(count_cases[_i].svc, count_cases[_i].gen,
			 count_cases[_i].judged ? judge_example : NULL, NULL, &c);
	const struct sb_count *w = &count_cases[_i].want;
	ck_assert_int_eq(c.workers, w->workers);
	ck_assert_int_eq(c.starting, w->starting);
	ck_assert_int_eq(c.idle, w->idle);
	ck_assert_int_eq(c.busy, w->busy);
	ck_assert_int_eq(c.exiting, w->exiting);
}
END_TEST

/* A worker counts from the shared slots: the same answer. */
START_TEST(test_count_as_worker)
{
	fill_counts();
	pid_t pid = fork();
	if (pid == 0) {
		struct sb_count c;
		scoreboard_count(0, SB_ANY_GENERATION, NULL, NULL, &c);
		_exit(c.workers * 10 + c.idle);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 42);
}
END_TEST

/* scoreboard_any_idle says what scoreboard_count(...).idle > 0 says, as master and as worker. */
static int any_idle_agrees(void)
{
	static const int svcs[] = { SB_ANY_SERVICE, 0, 1, 2, 5 };
	int bits = 0;
	for (size_t k = 0; k < ARRAY_LEN(svcs); k++) {
		struct sb_count c;
		scoreboard_count(svcs[k], SB_ANY_GENERATION, NULL, NULL, &c);
		if (scoreboard_any_idle(svcs[k]) != (c.idle > 0))
			return -1;
		bits |= (c.idle > 0) << k;
	}
	return bits;
}

START_TEST(test_any_idle)
{
	fill_counts();
	ck_assert_int_eq(any_idle_agrees(), 0x7);	/* any, 0 and 1; not 2 nor 5 */
	/* Service 0's idle workers get busy: only service 1 has one left. */
	scoreboard->slots[0].state = SB_BUSY;
	scoreboard->slots[3].state = SB_EXITING;
	ck_assert_int_eq(any_idle_agrees(), 0x5);
	pid_t pid = fork();
	if (pid == 0) {
		int ok = any_idle_agrees() == 0x5;
		/* A slot that lies (idle, in a service out of range) is no idle worker. */
		scoreboard->slots[6].state = SB_BUSY;
		scoreboard->slots[5].state = SB_IDLE;
		scoreboard->slots[5].svc = SB_MAX_SERVICES + 3;
		ok &= any_idle_agrees() == 0 && !scoreboard_any_idle(SB_MAX_SERVICES + 3);
		_exit(ok ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	/* The master reads slot 5 by its own record (service 1): idle there. */
	ck_assert_int_eq(any_idle_agrees(), 0x5);
	scoreboard->slots[5].state = SB_BUSY;
	ck_assert_int_eq(any_idle_agrees(), 0);
}
END_TEST

static const struct {
	const char *in;
	size_t len;		/* bytes of in to offer; the copy's size is 8 */
	const char *want;
} string_cases[] = {
	{ "1.2.3.4", 8, "1.2.3.4" },
	{ "123456789012", 12, "1234567" },	/* no NUL within the size: cut */
	{ "a\nb\rc\x01", 7, "a?b?c?" },
	{ "\xff\x80zz", 5, "??zz" },
	{ "", 1, "" },
};

START_TEST(test_copy_string)
{
	char src[16], dst[8];
	memset(src, 'X', sizeof(src));
	memcpy(src, string_cases[_i].in, string_cases[_i].len);
	scoreboard_copy_string(dst, src, sizeof(dst));
	ck_assert_str_eq(dst, string_cases[_i].want);
}
END_TEST

static int printable_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\n' && (s[i] < 0x20 || s[i] >= 0x7f))
			return 0;
	return 1;
}

/* The master's status of a scribbled scoreboard: its own records, clean text. */
START_TEST(test_render_garbage_as_owner)
{
	fill_example();
	scribble(7);
	for (int json = 0; json <= 1; json++) {
		struct buf b;
		buf_init(&b);
		status_render(&b, json);
		ck_assert(printable_text(b.data, b.len));
		ck_assert_ptr_null(strstr(b.data, "4242"));
		ck_assert_ptr_nonnull(strstr(b.data, json ? "\"pid\": 12" : "pid=12"));
		ck_assert_ptr_nonnull(strstr(b.data, json ? "\"name\": \"web\"" : "service web "));
		buf_free(&b);
	}
}
END_TEST

/* A worker's status handler reads what others wrote: bounded, and it must not crash. */
START_TEST(test_render_garbage_as_worker)
{
	fill_example();
	for (unsigned seed = 1; seed <= 20; seed++) {
		pid_t pid = fork();
		if (pid == 0) {
			scribble(seed);
			if (seed % 2) {
				for (int i = 0; i < SB_MAX_SLOTS; i++) {
					scoreboard->slots[i].state = SB_BUSY;
					scoreboard->slots[i].svc = i % SB_MAX_SERVICES;
				}
				for (int v = 0; v < SB_MAX_SERVICES; v++) {
					memset(&scoreboard->svcs[v], 'A', sizeof(scoreboard->svcs[v]));
					scoreboard->svcs[v].used = 1;
				}
			}
			for (int json = 0; json <= 1; json++) {
				struct buf b;
				buf_init(&b);
				status_render(&b, json);
				if (!b.data || !printable_text(b.data, b.len))
					_exit(2);
				buf_free(&b);
			}
			_exit(scoreboard_nslots() <= SB_MAX_SLOTS ? 0 : 3);
		}
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "seed %u: status %d", seed, st);
	}
}
END_TEST

START_TEST(test_json_string_escapes)
{
	struct buf b;
	buf_init(&b);
	buf_json_string(&b, "a\"b\\c\n");
	ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\u000a\"");
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scoreboard");
	TCase *tc = tcase_create("scoreboard");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_alloc_and_free_slots);
	tcase_add_test(tc, test_full_scoreboard);
	tcase_add_test(tc, test_services_by_name);
	tcase_add_test(tc, test_shared_across_fork);
	tcase_add_test(tc, test_render_text);
	tcase_add_test(tc, test_render_json);
	tcase_add_test(tc, test_freed_slot_keeps_handler_errors);
	tcase_add_test(tc, test_json_string_escapes);
	tcase_add_test(tc, test_owner_ignores_shared_lies);
	tcase_add_test(tc, test_publish_keeps_worker_counters);
	tcase_add_loop_test(tc, test_view_checks_state, 0, (int)ARRAY_LEN(state_cases));
	tcase_add_loop_test(tc, test_count_by_service_and_generation, 0,
			    (int)ARRAY_LEN(count_cases));
	tcase_add_test(tc, test_count_as_worker);
	tcase_add_test(tc, test_any_idle);
	tcase_add_loop_test(tc, test_copy_string, 0, (int)ARRAY_LEN(string_cases));
	tcase_add_test(tc, test_render_garbage_as_owner);
	tcase_add_test(tc, test_render_garbage_as_worker);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NOFORK);
}
