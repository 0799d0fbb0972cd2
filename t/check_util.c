/*
 * check_util.c - the small helpers: the growing buffer (formatting past its
 * first allocation), JSON string escaping, path resolution against the
 * configuration's directory, the edit distance behind "did you mean", and
 * the descriptor flag helpers on good and bad descriptors.
 */
#include "internal.h"

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"

START_TEST(test_buf_grows_and_stays_terminated)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(buf_printf(&b, "%03d,", i), 0);
	ck_assert_uint_eq(b.len, 4000);
	ck_assert_uint_ge(b.cap, 4001);
	ck_assert_uint_eq(strlen(b.data), 4000);
	ck_assert_int_eq(memcmp(b.data, "000,001,", 8), 0);
	ck_assert_str_eq(b.data + 3996, "999,");
	char big[1000];
	memset(big, 'z', sizeof(big));
	ck_assert_int_eq(buf_append(&b, big, sizeof(big)), 0);
	ck_assert_uint_eq(b.len, 5000);
	ck_assert_int_eq(b.data[5000], '\0');
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

static const struct json_case {
	const char *in, *out;
} json_cases[] = {
	{ "", "\"\"" },
	{ "plain", "\"plain\"" },
	{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
	{ "tab\there\nnl\x01\x1f", "\"tab\\u0009here\\u000anl\\u0001\\u001f\"" },
	{ "caf\xc3\xa9 \x7f", "\"caf\xc3\xa9 \x7f\"" },	/* bytes >= 0x20 pass as they are */
};

START_TEST(test_json_string)
{
	const struct json_case *c = &json_cases[_i];
	struct buf b;
	buf_init(&b);
	ck_assert_int_eq(buf_json_string(&b, c->in), 0);
	ck_assert_str_eq(b.data, c->out);
	buf_free(&b);
}
END_TEST

static const struct path_case {
	const char *dir, *path, *out;
} path_cases[] = {
	{ "/etc/prefork", "www", "/etc/prefork/www" },
	{ "/etc/prefork", "/var/www", "/var/www" },	/* absolute stays */
	{ "", "www", "www" },				/* no directory */
	{ NULL, "www", "www" },
	{ "rel/dir", "a/b", "rel/dir/a/b" },
};

START_TEST(test_resolve_path)
{
	const struct path_case *c = &path_cases[_i];
	char *got = util_resolve_path(c->dir, c->path);
	ck_assert_str_eq(got, c->out);
	free(got);
}
END_TEST

/* util_join_path cuts as snprintf would, at every buffer length. */
START_TEST(test_join_path_cuts_like_snprintf)
{
	const struct path_case *c = &path_cases[_i];
	int rel = c->path[0] != '/' && c->dir && c->dir[0];
	char want[256], got[256];
	for (size_t len = 0; len < sizeof(want); len++) {
		memset(want, 'x', sizeof(want));
		memset(got, 'x', sizeof(got));
		int wn = snprintf(want, len, "%s%s%s", rel ? c->dir : "", rel ? "/" : "", c->path);
		int gn = util_join_path(got, len, c->dir, c->path);
		ck_assert_int_eq(gn, wn);
		ck_assert_mem_eq(got, want, sizeof(want));
	}
}
END_TEST

START_TEST(test_cat_appends_and_cuts)
{
	char b[8];
	size_t n = util_cat(b, sizeof(b), 0, "worker");
	n = util_cat(b, sizeof(b), n, " ");
	n = util_cat(b, sizeof(b), n, "web");
	ck_assert_uint_eq(n, 10);
	ck_assert_str_eq(b, "worker ");	/* cut to 7 bytes and the NUL */
	ck_assert_uint_eq(util_cat(b, 0, 3, "ab"), 5);	/* no room: nothing written */
	ck_assert_str_eq(b, "worker ");
}
END_TEST

static const struct dist_case {
	const char *a, *b;
	int d;
} dist_cases[] = {
	{ "", "", 0 },
	{ "workers", "workers", 0 },
	{ "worker", "workers", 1 },
	{ "wrokers", "workers", 2 },
	{ "listen", "lisetn", 2 },
	{ "abc", "", 3 },
	{ "", "xyz", 3 },
	{ "kitten", "sitting", 3 },
	/* Names longer than 63 bytes are never "close". */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a", 64 },
	{ "a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 64 },
};

START_TEST(test_edit_distance)
{
	const struct dist_case *c = &dist_cases[_i];
	ck_assert_int_eq(util_edit_distance(c->a, c->b), c->d);
	ck_assert_int_eq(util_edit_distance(c->b, c->a), c->d);
}
END_TEST

START_TEST(test_alloc_helpers)
{
	char *s = util_xstrdup(NULL);
	ck_assert_str_eq(s, "");
	free(s);
	s = util_xstrdup("x");
	ck_assert_str_eq(s, "x");
	free(s);
	int *z = util_xcalloc(0, 0);	/* never NULL, even for nothing */
	ck_assert_ptr_nonnull(z);
	free(z);
	z = util_xcalloc(4, sizeof(int));
	ck_assert_int_eq(z[0] | z[1] | z[2] | z[3], 0);
	free(z);
}
END_TEST

START_TEST(test_fd_flags)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(util_set_cloexec(p[0]), 0);
	ck_assert_int_ne(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_int_eq(util_set_nonblock(p[0], 1), 0);
	ck_assert_int_ne(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(util_set_nonblock(p[0], 0), 0);
	ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	close(p[0]);
	close(p[1]);
	/* A closed descriptor: both fail rather than touch another. */
	ck_assert_int_eq(util_set_cloexec(p[0]), -1);
	ck_assert_int_eq(util_set_nonblock(p[0], 1), -1);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A line repeating in a loop: once per interval, then the count of those dropped. */
static const struct {
	int64_t at_ms;		/* attempts at these times (ms), in order */
	int pass;		/* logged? */
	unsigned long rep;	/* when logged: dropped since the last one */
} limit_steps[] = {
	{ 1, 1, 0 }, { 2, 0, 0 }, { 500, 0, 0 }, { 999, 0, 0 }, { 1001, 1, 3 },
	{ 1002, 0, 0 }, { 5000, 1, 1 }, { 6001, 1, 0 },
};

START_TEST(test_log_limit)
{
	struct log_limit l = { 0 };
	for (size_t i = 0; i < N(limit_steps); i++) {
		unsigned long rep = 99;
		int pass = log_limit_pass(&l, limit_steps[i].at_ms * 1000000LL, 1000000000LL, &rep);
		ck_assert_msg(pass == limit_steps[i].pass, "step %zu", i);
		if (pass)
			ck_assert_uint_eq(rep, limit_steps[i].rep);
	}
	char buf[64];
	ck_assert_str_eq(log_limit_suffix(0, buf, sizeof(buf)), "");
	ck_assert_str_eq(log_limit_suffix(1, buf, sizeof(buf)), " (repeated 1 time since)");
	ck_assert_str_eq(log_limit_suffix(548863, buf, sizeof(buf)), " (repeated 548863 times since)");
}
END_TEST

/* Is [p, p + len) mapped in this process? mincore says ENOMEM when it is not. */
static int mapped(void *p, size_t len)
{
	unsigned char vec[64];
	return mincore(p, len, vec) == 0;
}

/*
 * The master's tables: zeroed, page-rounded, left out of every fork but one
 * made between arena_fork_share(1) and (0), and given back by arena_free.
 */
START_TEST(test_arena_master_tables_stay_out_of_forks)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *a = arena_alloc(100), *b = arena_alloc((size_t)page * 3 + 1);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(a[i], 0);
	ck_assert_uint_eq(b[(size_t)page * 4 - 1], 0);	/* the rounded-up tail is ours too */
	memset(a, 0x5a, 100);
	for (int share = 0; share <= 1; share++) {
		if (share)
			arena_fork_share(1);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)	/* the child: 0 when the tables are there exactly when shared */
			_exit(mapped(a, 100) == share && mapped(b, (size_t)page * 4) == share &&
			      (!share || a[99] == 0x5a) ? 0 : 1);
		if (share)
			arena_fork_share(0);
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "share=%d: child saw %#x", share,
			      st);
	}
	/* Allocated while shared, hidden again with the rest afterwards. */
	arena_fork_share(1);
	unsigned char *c = arena_alloc(10);
	arena_fork_share(0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(mapped(c, 10) ? 1 : 0);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a table made while shared stayed shared");
	ck_assert(mapped(a, 100));	/* the master keeps them */
	arena_free(b);
	ck_assert(!mapped(b, (size_t)page));
	arena_free(NULL);
	arena_free(a);
	arena_free(c);
}
END_TEST

START_TEST(test_arena_worker_memory)
{
	char *p = arena_worker_calloc(10), *q = arena_worker_calloc(4280);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq((uintptr_t)p % 64, 0);
	ck_assert_uint_eq((uintptr_t)q % 64, 0);
	ck_assert(q >= p + 10);
	for (int i = 0; i < 4280; i++)
		ck_assert_int_eq(q[i], 0);
	memset(p, 1, 10);
	ck_assert_int_eq(q[0], 0);	/* no overlap */
	arena_worker_free(p);	/* kept: still usable memory, never handed out again */
	char *r = arena_worker_calloc(1);
	ck_assert(r != p);
	/* Far past the mapping: an ordinary allocation, freed by arena_worker_free. */
	char *big = arena_worker_calloc(1 << 20);
	ck_assert_ptr_nonnull(big);
	big[(1 << 20) - 1] = 1;
	arena_worker_free(big);
	arena_worker_free(NULL);
	arena_worker_free(q);
	arena_worker_free(r);
	/* Small things stay in front of the buffers: a start-up's structs share pages. */
	char *s1 = arena_worker_calloc(280), *buf = arena_worker_calloc(150000);
	char *s2 = arena_worker_calloc(4280);
	ck_assert(s2 < buf);
	ck_assert(s2 - s1 < 8192);
	ck_assert_int_eq(s2[4279], 0);
	ck_assert_int_eq(buf[149999], 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");
	tcase_add_test(tc, test_buf_grows_and_stays_terminated);
	tcase_add_test(tc, test_log_limit);
	tcase_add_loop_test(tc, test_json_string, 0, N(json_cases));
	tcase_add_loop_test(tc, test_resolve_path, 0, N(path_cases));
	tcase_add_loop_test(tc, test_join_path_cuts_like_snprintf, 0, N(path_cases));
	tcase_add_test(tc, test_cat_appends_and_cuts);
	tcase_add_loop_test(tc, test_edit_distance, 0, N(dist_cases));
	tcase_add_test(tc, test_alloc_helpers);
	tcase_add_test(tc, test_fd_flags);
	tcase_add_test(tc, test_arena_master_tables_stay_out_of_forks);
	tcase_add_test(tc, test_arena_worker_memory);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
