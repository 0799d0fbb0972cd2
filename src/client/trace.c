/*
 * trace.c - the -v trace: each socket call of the one-shot mode, printed on
 * stderr as it happens, with its result and how long it took:
 *
 *	socket() = 3  0.01 ms
 *	connect(127.0.0.1:7007) = 0  0.08 ms
 *	write(5 bytes) = 5  0.01 ms
 *	shutdown(SHUT_WR) = 0  0.00 ms
 *	read(65536 bytes) = 5  0.01 ms
 *	read(65536 bytes) = 0 (EOF)  0.00 ms
 *	close() = 0  0.01 ms
 *
 * The trace_* wrappers make the call and, when tracing is on, print it;
 * errno is preserved. trace_now() is the monotonic clock every part of the
 * client measures with.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"

static bool tracing;

uint64_t trace_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void trace_enable(bool on)
{
	tracing = on;
}

bool trace_enabled(void)
{
	return tracing;
}

/* Print one trace line: the formatted call and result, then the time since T0. */
void trace_print(uint64_t t0, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int saved = errno;
	double ms = (double)(trace_now() - t0) / 1e6;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s  %.2f ms\n", line, ms);
	errno = saved;
}

/* The result part of a line: the value, or -1 and the error. */
static const char *result(long ret, int err, char *buf, size_t size)
{
	if (ret < 0)
		snprintf(buf, size, "-1 (%s)", strerror(err));
	else
		snprintf(buf, size, "%ld", ret);
	return buf;
}

int trace_socket(int domain, int type, int protocol)
{
	uint64_t t0 = tracing ? trace_now() : 0;
	int fd = socket(domain, type, protocol);
	int saved = errno;
	char res[160];

	if (tracing)
		trace_print(t0, "socket() = %s", result(fd, saved, res, sizeof(res)));
	errno = saved;
	return fd;
}

ssize_t trace_read(int fd, void *buf, size_t len)
{
	uint64_t t0 = tracing ? trace_now() : 0;
	ssize_t n = read(fd, buf, len);
	int saved = errno;
	char res[160];

	if (tracing && !(n < 0 && saved == EAGAIN))
		trace_print(t0, "read(%zu bytes) = %s%s", len,
			    result(n, saved, res, sizeof(res)), n == 0 ? " (EOF)" : "");
	errno = saved;
	return n;
}

ssize_t trace_write(int fd, const void *buf, size_t len)
{
	uint64_t t0 = tracing ? trace_now() : 0;
	ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
	int saved = errno;
	char res[160];

	if (tracing && !(n < 0 && saved == EAGAIN))
		trace_print(t0, "write(%zu bytes) = %s", len, result(n, saved, res, sizeof(res)));
	errno = saved;
	return n;
}

int trace_shutdown(int fd, int how)
{
	uint64_t t0 = tracing ? trace_now() : 0;
	int rc = shutdown(fd, how);
	int saved = errno;
	char res[160];

	if (tracing)
		trace_print(t0, "shutdown(%s) = %s",
			    how == SHUT_WR ? "SHUT_WR" : how == SHUT_RD ? "SHUT_RD" : "SHUT_RDWR",
			    result(rc, saved, res, sizeof(res)));
	errno = saved;
	return rc;
}

int trace_close(int fd)
{
	uint64_t t0 = tracing ? trace_now() : 0;
	int rc = close(fd);
	int saved = errno;
	char res[160];

	if (tracing)
		trace_print(t0, "close() = %s", result(rc, saved, res, sizeof(res)));
	errno = saved;
	return rc;
}
