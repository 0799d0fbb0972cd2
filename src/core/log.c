/*
 * log.c - the error log: stderr, a file (O_APPEND, reopened on SIGUSR1) or
 * syslog. One line per event: time, level, pid and role, then the message.
 * Entry points: log_open, log_reopen, log_error/warn/info/debug, and
 * the public pf_log.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static int log_level = PF_LOG_INFO;
static int log_syslog;
static char log_path[4096];
static char log_role[80] = "master";

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_parse_level(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(level_names); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

/*
 * "worker web": copied byte by byte (util_cat), cut to fit. A worker sets it first
 * thing after fork, where every library routine it calls for the first time
 * costs it a page fault (printf's would cost four).
 */
void log_set_role(const char *kind, const char *name)
{
	size_t n = util_cat(log_role, sizeof(log_role), 0, kind);
	if (name) {
		n = util_cat(log_role, sizeof(log_role), n, " ");
		util_cat(log_role, sizeof(log_role), n, name);
	}
}

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int log_open(const char *target, int level)
{
	log_level = level;
	if (!target || !target[0]) {
		log_close();
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		log_close();
		openlog("preforkd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_syslog = 1;
		return 0;
	}
	int fd = open_file(target);
	if (fd < 0)
		return -1;
	log_close();
	snprintf(log_path, sizeof(log_path), "%s", target);
	log_fd = fd;
	return 0;
}

/* Reopen a file log (after logrotate renamed it); others need nothing. */
int log_reopen(void)
{
	if (log_fd == STDERR_FILENO || !log_path[0])
		return 0;
	int fd = open_file(log_path);
	if (fd < 0)
		return -1;
	dup2(fd, log_fd);
	close(fd);
	return 0;
}

void log_close(void)
{
	if (log_syslog)
		closelog();
	log_syslog = 0;
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
	log_path[0] = '\0';
}

static void log_emit(int level, const char *suffix, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;

	if (log_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		char msg[1800];
		vsnprintf(msg, sizeof(msg), fmt, ap);
		syslog(prio[level], "%s: %s%s", log_role, msg, suffix);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ld [%s] %d %s: ",
			      ts.tv_nsec / 1000000, level_names[level], (int)getpid(), log_role);
	if (n < sizeof(line)) {
		int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (m > 0)
			n += (size_t)m;
	}
	if (n >= sizeof(line) - 2 - strlen(suffix))
		n = sizeof(line) - 2 - strlen(suffix);
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): written by length, not a string */
	memcpy(line + n, suffix, strlen(suffix));
	n += strlen(suffix);
	line[n++] = '\n';
	/* One write per line keeps lines from master and workers whole. */
	ssize_t w = write(log_fd, line, n);
	(void)w;
}

void log_vwrite(int level, const char *fmt, va_list ap)
{
	if (level > log_level)
		return;
	int saved = errno;
	log_emit(level, "", fmt, ap);
	errno = saved;
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(PF_LOG_ERROR, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	char suffix[256];
	snprintf(suffix, sizeof(suffix), ": %s", strerror(saved));
	va_list ap;
	va_start(ap, fmt);
	if (PF_LOG_WARN <= log_level)
		log_emit(PF_LOG_WARN, suffix, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(PF_LOG_WARN, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(PF_LOG_INFO, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(PF_LOG_DEBUG, fmt, ap);
	va_end(ap);
}

PF_API void pf_log(enum pf_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite((int)level, fmt, ap);
	va_end(ap);
}

int log_limit_pass(struct log_limit *l, int64_t now_ns, int64_t interval_ns,
		   unsigned long *suppressed)
{
	if (l->last_ns && now_ns - l->last_ns < interval_ns) {
		l->suppressed++;
		return 0;
	}
	*suppressed = l->suppressed;
	l->suppressed = 0;
	l->last_ns = now_ns ? now_ns : 1;
	return 1;
}

const char *log_limit_suffix(unsigned long suppressed, char *buf, size_t len)
{
	if (!suppressed)
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, " (repeated %lu time%s since)", suppressed, suppressed == 1 ? "" : "s");
	return buf;
}
