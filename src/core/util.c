/*
 * util.c - small shared helpers: monotonic time, path joining, descriptor
 * flags, rlimits and edit distance.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int64_t util_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t util_secs_ns(double s)
{
	return (int64_t)(s * 1e9);
}

double util_now(void)
{
	return (double)util_now_ns() / 1e9;
}

char *util_xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		abort();
	return p;
}

void *util_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		abort();
	return p;
}

size_t util_cat(char *out, size_t len, size_t at, const char *s)
{
	for (; *s; s++, at++)
		if (at + 1 < len)
			out[at] = *s;
	if (len)
		out[at < len ? at : len - 1] = '\0';
	return at;
}

/*
 * Without snprintf: workers join their paths at start-up, where each
 * library routine met for the first time is a page fault.
 */
int util_join_path(char *out, size_t len, const char *dir, const char *path)
{
	int rel = path[0] != '/' && dir && dir[0];
	size_t n = 0;
	if (rel) {
		n = util_cat(out, len, n, dir);
		n = util_cat(out, len, n, "/");
	}
	n = util_cat(out, len, n, path);
	return n > INT_MAX ? INT_MAX : (int)n;
}

char *util_resolve_path(const char *dir, const char *path)
{
	size_t n = (dir ? strlen(dir) : 0) + strlen(path) + 2;	/* room for both, '/' and NUL */
	char *out = util_xcalloc(1, n);
	util_join_path(out, n, dir, path);
	return out;
}

int util_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

int util_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

int util_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 64;
	int row[64];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int cost = a[i - 1] == b[j - 1] ? 0 : 1;
			int best = diag + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

#ifdef PF_COVERAGE
/* libgcov's interface (gcc 11 and later), hence the reserved names. */
/* NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
void __gcov_dump(void);
void __gcov_reset(void);
/* NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
#endif

/*
 * Coverage builds (configure --enable-coverage) write gcov's counters
 * where a process may next end by SIGKILL (a fast stop kills workers, a
 * test may kill the master) or leave through _exit(), which skips atexit:
 * the master before it sleeps, a worker once ready, after each connection
 * and before _exit().
 */
void util_coverage_flush(void)
{
#ifdef PF_COVERAGE
	__gcov_dump();
	__gcov_reset();
#endif
}

/* Resident memory of pid (0: this process) in bytes, from /proc; -1 when unknown. */
long long util_rss_bytes(pid_t pid)
{
	char path[64], text[128];
	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/statm");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	unsigned long long size, resident;
	if (sscanf(text, "%llu %llu", &size, &resident) != 2)
		return -1;
	return (long long)resident * sysconf(_SC_PAGESIZE);
}

/*
 * RLIMIT_NOFILE's soft limit to n (<= 0: leave it), and the hard one only
 * when it has to grow (which needs root): lowering it would be for good.
 */
int util_set_nofile(long n)
{
	struct rlimit rl;
	if (n <= 0)
		return 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur == (rlim_t)n)
		return 0;
	rl.rlim_cur = (rlim_t)n;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)n)
		rl.rlim_max = (rlim_t)n;
	return setrlimit(RLIMIT_NOFILE, &rl);
}
