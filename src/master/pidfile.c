/*
 * pidfile.c - the pid file. The master writes it through a temporary file
 * renamed into place, so readers never see half a pid; `preforkd -s` and a
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

int pidfile_write(const char *path, pid_t pid)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_warn("pid file %s", tmp);
		return -1;
	}
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write(fd, buf, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
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
	if (read_small_file(path, stat, sizeof(stat)) <= 0)
		return 1;
	const char *paren = strrchr(stat, ')');
	return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}
