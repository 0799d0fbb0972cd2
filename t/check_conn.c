/*
 * check_conn.c - the buffered reads of struct pf_conn over a socket pair:
 * pf_conn_readline on lines split at every kind of point (across writes,
 * across the 4096-byte read-ahead buffer), overlong lines (EMSGSIZE), EOF
 * mid-line and at a line end; peek/unread mixed with pf_conn_read; and
 * pf_conn_set_deadline cutting a wait short (ETIMEDOUT).
 */
#include "internal.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"

/* A writer child: each piece in its own write, a pause between, then EOF. */
static pid_t writer(int fd, const char *const *pieces)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (int i = 0; pieces[i]; i++) {
			const struct timespec ts = { 0, 3000000 };
			if (write(fd, pieces[i], strlen(pieces[i])) < 0)
				_exit(1);
			nanosleep(&ts, NULL);
		}
		_exit(0);
	}
	close(fd);
	return pid;
}

static void open_pair(int sv[2], struct pf_conn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	conn_init(c, sv[1], NULL, (struct sockaddr *)&sa, sizeof(sa));
	c->read_timeout = 5;
}

#define ERR(e) ("\001" #e)	/* an expected -1 with errno e */

struct line_case {
	const char *pieces[6];
	size_t size;		/* readline's buffer */
	const char *want[6];	/* each call's result; "" = 0 (EOF); NULL ends */
	int want_errno[6];
};

static const struct line_case lines[] = {
	{ { "a\nbb\n", NULL }, 16, { "a\n", "bb\n", "" }, { 0 } },
	{ { "he", "llo", "\nwor", "ld\n", NULL }, 16, { "hello\n", "world\n", "" }, { 0 } },
	{ { "x\r\n", "\n", NULL }, 16, { "x\r\n", "\n", "" }, { 0 } },
	/* EOF mid-line: the cut line, then 0. */
	{ { "one\ntw", "o", NULL }, 16, { "one\n", "two", "" }, { 0 } },
	{ { NULL }, 16, { "" }, { 0 } },
	/* exactly size - 1 bytes fit; one more is EMSGSIZE */
	{ { "abcd\n", NULL }, 6, { "abcd\n", "" }, { 0 } },
	{ { "abcde\n", NULL }, 6, { "x" }, { EMSGSIZE } },
	{ { "abc", "defgh", "ij\n", NULL }, 6, { "x" }, { EMSGSIZE } },
	{ { "ok\n", "toolongline\n", NULL }, 8, { "ok\n", "x" }, { 0, EMSGSIZE } },
};

START_TEST(test_readline)
{
	const struct line_case *t = &lines[_i];
	int sv[2];
	struct pf_conn c;
	char buf[64];
	open_pair(sv, &c);
	pid_t pid = writer(sv[0], t->pieces);
	for (int k = 0; t->want[k]; k++) {
		errno = 0;
		ssize_t n = pf_conn_readline(&c, buf, t->size);
		if (t->want_errno[k]) {
			ck_assert_int_eq(n, -1);
			ck_assert_int_eq(errno, t->want_errno[k]);
			continue;
		}
		ck_assert_int_eq(n, (ssize_t)strlen(t->want[k]));
		ck_assert_str_eq(buf, t->want[k]);
	}
	close(sv[1]);
	waitpid(pid, NULL, 0);
}
END_TEST

/* Lines that straddle the 4096-byte read-ahead buffer, and one longer than it. */
START_TEST(test_readline_across_buffer)
{
	static char in[12000], line[9000];
	int sv[2];
	struct pf_conn c;
	open_pair(sv, &c);
	memset(in, 'a', 4090);
	memcpy(in + 4090, "\nbbbbbbbbbbbb\n", 14);	/* 4091 + 13 */
	memset(in + 4104, 'c', 4000);
	in[4104 + 3999] = '\n';
	in[4104 + 4000] = '\0';
	const char *pieces[] = { in, NULL };
	pid_t pid = writer(sv[0], pieces);
	ck_assert_int_eq(pf_conn_readline(&c, line, sizeof(line)), 4091);
	ck_assert_int_eq(line[4090], '\n');
	ck_assert_int_eq(pf_conn_readline(&c, line, sizeof(line)), 13);
	ck_assert_str_eq(line, "bbbbbbbbbbbb\n");
	ck_assert_int_eq(pf_conn_readline(&c, line, sizeof(line)), 4000);
	ck_assert_int_eq(line[0], 'c');
	ck_assert_int_eq(line[3999], '\n');
	ck_assert_int_eq(pf_conn_readline(&c, line, sizeof(line)), 0);
	close(sv[1]);
	waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(test_peek_unread_read)
{
	int sv[2];
	struct pf_conn c;
	char buf[64];
	open_pair(sv, &c);
	const char *pieces[] = { "PING\nrest of it", NULL };
	pid_t pid = writer(sv[0], pieces);
	ck_assert_int_eq(pf_conn_peek(&c, buf, 4), 4);
	ck_assert_int_eq(memcmp(buf, "PING", 4), 0);
	/* the peeked bytes are still there for a line and a plain read */
	ck_assert_int_eq(pf_conn_readline(&c, buf, sizeof(buf)), 5);
	ck_assert_str_eq(buf, "PING\n");
	ck_assert_int_eq(pf_conn_unread(&c, "X:", 2), 0);
	ck_assert_int_eq(pf_conn_read(&c, buf, 3), 3);
	ck_assert_int_eq(memcmp(buf, "X:r", 3), 0);
	ck_assert_int_eq(pf_conn_unread(&c, "r", 1), 0);
	ssize_t n, got = 0;
	while ((n = pf_conn_read(&c, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	ck_assert_int_eq(n, 0);
	buf[got] = '\0';
	ck_assert_str_eq(buf, "rest of it");
	/* no room: a whole buffer plus one byte */
	static char big[4097];
	ck_assert_int_eq(pf_conn_unread(&c, big, sizeof(big)), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	ck_assert_int_eq(pf_conn_unread(&c, big, 4096), 0);
	ck_assert_int_eq(pf_conn_unread(&c, big, 1), -1);
	close(sv[1]);
	waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(test_deadline)
{
	int sv[2];
	struct pf_conn c;
	char buf[64];
	open_pair(sv, &c);
	c.read_timeout = 30;
	ck_assert_int_eq(write(sv[0], "partial", 7), 7);
	pf_conn_set_deadline(&c, 0.2);
	int64_t t0 = util_now_ns();
	errno = 0;
	ck_assert_int_eq(pf_conn_readline(&c, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_lt(util_now_ns() - t0, 10 * 1000000000LL);	/* not read_timeout */
	/* cleared: the rest of the line comes */
	pf_conn_set_deadline(&c, 0);
	ck_assert_int_eq(write(sv[0], "x\n", 2), 2);
	ck_assert_int_eq(pf_conn_readline(&c, buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "x\n");
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static char byte_at(size_t i)
{
	return (char)(i * 7 + i / 251);
}

/*
 * A vector larger than the socket buffer, read slowly: sent whole across
 * partial writes (one piece empty, one cut at any place), and the caller's
 * vector is never changed (pf_conn_writev sends it as it is at first).
 */
START_TEST(test_writev_partial)
{
	static char all[300003];
	int sv[2];
	struct pf_conn c;
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = byte_at(i);
	open_pair(sv, &c);
	c.write_timeout = 10;
	struct iovec iov[4] = { { all, 100000 }, { all + 100000, 0 }, { all + 100000, 3 },
				{ all + 100003, 200000 } };
	struct iovec saved[4];
	memcpy(saved, iov, sizeof(iov));
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		const struct timespec ts = { 0, 50000000 };
		char buf[7000];
		size_t got = 0;
		close(sv[1]);
		nanosleep(&ts, NULL);
		for (;;) {
			struct timespec t2 = { 0, 1000000 };
			ssize_t n = read(sv[0], buf, sizeof(buf));
			if (n < 0 && errno == EAGAIN) {
				nanosleep(&t2, NULL);
				continue;
			}
			if (n <= 0)
				break;
			for (ssize_t k = 0; k < n; k++)
				if (buf[k] != byte_at(got + (size_t)k))
					_exit(2);
			got += (size_t)n;
		}
		_exit(got == sizeof(all) ? 0 : 3);
	}
	close(sv[0]);
	ck_assert_int_eq(pf_conn_writev(&c, iov, 4), (ssize_t)sizeof(all));
	ck_assert_int_eq(memcmp(iov, saved, sizeof(iov)), 0);
	close(sv[1]);
	int st = 0;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reader status %d", st);
}
END_TEST

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("conn");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_readline, 0, (int)ARRAY_LEN(lines));
	tcase_add_test(tc, test_readline_across_buffer);
	tcase_add_test(tc, test_peek_unread_read);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_writev_partial);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
