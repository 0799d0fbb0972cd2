/*
 * pidfile.c - the pid file. The master writes it through a temporary file
 * (unpredictable name, O_EXCL|O_NOFOLLOW) renamed into place, so readers
 * never see half a pid and no planted link is followed; `preforkd -s` and a
 * second start read it. Entry points: pidfile_write, pidfile_read,
 * pidfile_remove, pidfile_alive.
 */
#include "internal.h"
#include "master/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Read up to size-1 bytes of a small file, NUL-terminated; the count, or <= 0. */
static ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n > 0)
		buf[n] = '\0';
	return n;
}

pid_t pidfile_read(const char *path)
{
	char buf[32];
	if (read_small_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	long v = strtol(buf, NULL, 10);
	return v > 0 && v < INT_MAX ? (pid_t)v : 0;
}

/*
 * The temporary beside the pid file has an unpredictable name and is
 * created with O_EXCL|O_NOFOLLOW: a link planted in the pid file's folder
 * (by anyone who may write there) is never followed, so root never writes
 * through it.
 */
int pidfile_write(const char *path, pid_t pid)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s%s", path, CONF_PID_TMP_SUFFIX) >= sizeof(tmp)) {
		log_warnx("pid file %s: path too long", path);
		return -1;
	}
	int fd = mkostemps(tmp, 4, O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		log_warn("pid file %s", tmp);
		return -1;
	}
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (fchmod(fd, 0644) < 0 || write(fd, buf, (size_t)n) != n) {
		log_warn("pid file %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		log_warn("pid file %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

void pidfile_remove(const char *path, pid_t pid)
{
	if (pidfile_read(path) == pid)
		unlink(path);
}

/* A zombie is not alive: its parent (a shell, init) may reap it only later. */
int pidfile_alive(pid_t pid)
{
	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return 0;
	char path[64], stat[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small_file(path, stat, sizeof(stat)) <= 0)	/* reaped in between, or no /proc */
		return kill(pid, 0) == 0 || errno == EPERM;
	const char *paren = strrchr(stat, ')');
	return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}
