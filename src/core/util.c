/*
 * util.c - small shared helpers: growable buffers, error lists, monotonic
 * time, path joining, descriptor flags and edit distance.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

static int buf_reserve(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) < 0)
		return -1;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Append s as a JSON string literal, quotes included. */
int buf_json_string(struct buf *b, const char *s)
{
	if (buf_append(b, "\"", 1) < 0)
		return -1;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int rc;
		if (*p == '"' || *p == '\\')
			rc = buf_printf(b, "\\%c", *p);
		else if (*p < 0x20)
			rc = buf_printf(b, "\\u%04x", *p);
		else
			rc = buf_append(b, p, 1);
		if (rc < 0)
			return -1;
	}
	return buf_append(b, "\"", 1);
}

void errlist_add(struct errlist *e, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if (e->count == e->cap) {
		int cap = e->cap ? e->cap * 2 : 8;
		char **m = realloc(e->msgs, (size_t)cap * sizeof(*m));
		if (!m)
			abort();
		e->msgs = m;
		e->cap = cap;
	}
	e->msgs[e->count++] = msg;
}

void errlist_free(struct errlist *e)
{
	for (int i = 0; i < e->count; i++)
		free(e->msgs[i]);
	free(e->msgs);
	e->msgs = NULL;
	e->count = e->cap = 0;
}

int64_t util_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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

char *util_resolve_path(const char *dir, const char *path)
{
	if (path[0] == '/' || !dir || !dir[0])
		return util_xstrdup(path);
	char *out;
	if (asprintf(&out, "%s/%s", dir, path) < 0)
		abort();
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
void __gcov_dump(void);		/* NOLINT(bugprone-reserved-identifier,cert-dcl37-c) */
void __gcov_reset(void);	/* NOLINT(bugprone-reserved-identifier,cert-dcl37-c) */
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
