/*
 * check_signals.c - the master's signal counting: every SIGTTIN that the
 * kernel delivers is counted exactly once by signals_take, even when the
 * main loop takes the count while the handler runs between its reads and
 * writes. The deliveries are known independently: the handler writes one
 * byte per delivery into the self-pipe.
 */
#include "internal.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"

/* Bytes in the self-pipe that say `sig`, read until it is empty. */
static unsigned long pipe_count(int fd, int sig)
{
	unsigned long n = 0;
	char buf[4096];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == (char)sig;
	return n;
}

/*
 * A timer delivers SIGTTIN every 20 us for half a second, interrupting the
 * loop that takes the count at arbitrary instructions: with a count that
 * the main loop decrements (a read-modify-write), a delivery that lands
 * between the read and the write is lost.
 */
START_TEST(test_ttin_counted_once_each_while_taken)
{
	int fd = signals_master_init();
	ck_assert_int_ge(fd, 0);
	pipe_count(fd, SIGTTIN);
	signals_take(SIGTTIN);
	timer_t t;
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGTTIN };
	ck_assert_int_eq(timer_create(CLOCK_MONOTONIC, &ev, &t), 0);
	struct itimerspec its = { .it_interval = { 0, 20000 }, .it_value = { 0, 20000 } };
	ck_assert_int_eq(timer_settime(t, 0, &its, NULL), 0);
	unsigned long taken = 0, delivered = 0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		for (int i = 0; i < 1000; i++)
			taken += signals_take(SIGTTIN);
		/* Drain often: the pipe holds 64 KiB, one byte per delivery. */
		delivered += pipe_count(fd, SIGTTIN);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) <
		 500000000L);
	timer_delete(t);
	taken += signals_take(SIGTTIN);
	delivered += pipe_count(fd, SIGTTIN);
	ck_assert_msg(delivered > 100, "only %lu SIGTTIN delivered", delivered);
	ck_assert_msg(taken == delivered, "%lu delivered, %lu counted", delivered, taken);
}
END_TEST

START_TEST(test_ttin_and_ttou_apart)
{
	int fd = signals_master_init();
	pipe_count(fd, 0);
	signals_take(SIGTTIN);
	signals_take(SIGTTOU);
	raise(SIGTTIN);
	raise(SIGTTOU);
	raise(SIGTTIN);
	ck_assert_uint_eq(signals_take(SIGTTIN), 2);
	ck_assert_uint_eq(signals_take(SIGTTOU), 1);
	ck_assert_uint_eq(signals_take(SIGTTIN), 0);
	ck_assert_uint_eq(signals_take(SIGTTOU), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("signals");
	TCase *tc = tcase_create("counting");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ttin_counted_once_each_while_taken);
	tcase_add_test(tc, test_ttin_and_ttou_apart);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NOFORK);
}
