/*
 * check_scoreboard.c - slot allocation, service entries, and the status
 * renderings (text and JSON) of a known scoreboard.
 */
#include "internal.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"

static void setup(void)
{
	ck_assert_int_eq(scoreboard_create(), 0);
	memset(scoreboard->svcs, 0, sizeof(scoreboard->svcs));
	memset(scoreboard->slots, 0, sizeof(scoreboard->slots));
	scoreboard->nslots = 0;
}

START_TEST(test_alloc_and_free_slots)
{
	int a = scoreboard_alloc_slot();
	scoreboard->slots[a].pid = 100;
	int b = scoreboard_alloc_slot();
	scoreboard->slots[b].pid = 101;
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(scoreboard->nslots, 2);
	ck_assert_int_eq(scoreboard->slots[a].state, SB_STARTING);
	scoreboard_free_slot(b);
	ck_assert_int_eq(scoreboard->nslots, 1);
	/* A freed slot is reused. */
	int c = scoreboard_alloc_slot();
	ck_assert_int_eq(c, b);
}
END_TEST

START_TEST(test_full_scoreboard)
{
	for (int i = 0; i < SB_MAX_SLOTS; i++) {
		int s = scoreboard_alloc_slot();
		ck_assert_int_eq(s, i);
		scoreboard->slots[s].pid = 1000 + i;
	}
	ck_assert_int_eq(scoreboard_alloc_slot(), -1);
}
END_TEST

START_TEST(test_services_by_name)
{
	int a = scoreboard_service("web");
	int b = scoreboard_service("echo");
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(scoreboard_service("web"), a);
	ck_assert_str_eq(scoreboard->svcs[b].name, "echo");
}
END_TEST

/* Shared memory: a child's writes to its slot are seen by the parent. */
START_TEST(test_shared_across_fork)
{
	int s = scoreboard_alloc_slot();
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
	snprintf(scoreboard->svcs[v].listen, sizeof(scoreboard->svcs[v].listen), "127.0.0.1:8080");
	snprintf(scoreboard->svcs[v].handler, sizeof(scoreboard->svcs[v].handler), "http");
	scoreboard->svcs[v].target = 2;
	int a = scoreboard_alloc_slot(), b = scoreboard_alloc_slot();
	struct sb_slot *sa = &scoreboard->slots[a], *sb = &scoreboard->slots[b];
	sa->pid = 11;
	sa->svc = v;
	sa->generation = 3;
	sa->state = SB_IDLE;
	sa->served = 5;
	sb->pid = 12;
	sb->svc = v;
	sb->generation = 3;
	sb->state = SB_BUSY;
	sb->served = 7;
	sb->handler_errors = 1;
	scoreboard->svcs[v].handler_errors = 2;	/* of workers gone */
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
	for (int i = 0; i < scoreboard->nslots; i++)
		if (scoreboard->slots[i].handler_errors)
			scoreboard_free_slot(i);
	ck_assert_uint_eq(scoreboard->svcs[v].handler_errors, 3);
	/* A slot's svc is worker-written: out of range, it is ignored. */
	int a = scoreboard_alloc_slot();
	scoreboard->slots[a].svc = SB_MAX_SERVICES + 7;
	scoreboard->slots[a].handler_errors = 5;
	scoreboard_free_slot(a);
	ck_assert_uint_eq(scoreboard->svcs[v].handler_errors, 3);
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
	suite_add_tcase(s, tc);
	return check_run(s, CK_NOFORK);
}
