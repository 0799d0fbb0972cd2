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
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
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

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Run fn in a forked child (a worker's signals are its own); it exits 0 when all held. */
static void in_child(int (*fn)(void))
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn());
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %d", st);
}

/* The stop pipe is made when first asked for, once; a stop makes it readable. */
static int stop_pipe_on_first_use(void)
{
	signals_close_pipe();	/* the master's (the tests above made one) */
	int before = open_fds();
	signals_worker_init(-1);
	if (open_fds() != before)
		return 10;		/* a starting worker makes no pipe */
	int fd = signals_worker_stop_fd();
	if (fd < 0 || open_fds() != before + 2)
		return 11;
	if (signals_worker_stop_fd() != fd || open_fds() != before + 2)
		return 12;		/* made once */
	if (readable(fd))
		return 13;
	raise(SIGTERM);
	if (!signals_worker_stop || !readable(fd))
		return 14;
	return 0;
}

/* A stop that came before the pipe was made: the pipe is readable at once. */
static int stop_before_the_pipe(void)
{
	signals_worker_init(-1);
	raise(SIGTERM);
	if (!signals_worker_stop)
		return 10;
	int fd = signals_worker_stop_fd();
	if (fd < 0)
		return 11;
	return readable(fd) ? 0 : 12;
}

START_TEST(test_stop_pipe_made_on_first_use)
{
	ck_assert_int_eq(signals_worker_stop_fd(), -1);	/* not a worker: none */
	in_child(stop_pipe_on_first_use);
	in_child(stop_before_the_pipe);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("signals");
	TCase *tc = tcase_create("counting");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ttin_counted_once_each_while_taken);
	tcase_add_test(tc, test_ttin_and_ttou_apart);
	tcase_add_test(tc, test_stop_pipe_made_on_first_use);
	suite_add_tcase(s, tc);
	return check_run(s, CK_NOFORK);
}
