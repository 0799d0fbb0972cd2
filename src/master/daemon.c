/*
 * daemon.c - daemon mode (-d): detach from the terminal, and tell the
 * process that started us how start-up ended, so that an init script or a
 * terminal sees a failed start. The original process waits on a pipe for
 * one byte (0: ready) or 1 and the reason up to a newline.
 * Entry points: daemon_detach, daemon_report, daemon_stdio_to_null.
 */
#include "master/daemon.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * In the original process: wait for the daemon's start-up outcome (one
 * byte, 0 for ready, then on failure the reason up to a newline) and exit
 * with it, so that an init script or a terminal sees a failed start.
 */
static PF_NORETURN void daemon_wait(int fd, pid_t child)
{
	/* The master's handlers record and restart: let ^C end this wait. */
	static const int sigs[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP };
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		signal(sigs[i], SIG_DFL);
	char msg[1400];
	size_t len = 0;
	while (len < sizeof(msg) - 1) {
		ssize_t n = read(fd, msg + len, sizeof(msg) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (msg[0] == 0 || memchr(msg, '\n', len))
			break;
	}
	msg[len] = '\0';
	int st;
	waitpid(child, &st, 0);
	if (len > 0 && msg[0] == 0)
		_exit(0);
	char *nl = strchr(msg + (len > 0), '\n');
	if (nl)
		*nl = '\0';
	fprintf(stderr, "preforkd: %s\n",
		len > 1 ? msg + 1 : "the daemon exited before it was ready (see the error log)");
	_exit(1);
}

/*
 * Detach (fork, setsid, fork, chdir /); the original process waits on a
 * pipe for the daemon's start-up outcome and exits with it. Standard I/O
 * is left alone: start-up errors still reach the terminal until
 * daemon_stdio_to_null.
 */
int daemon_detach(int *report_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		daemon_wait(p[0], pid);
	}
	close(p[0]);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -1;
	umask(022);
	*report_fd = p[1];
	fds_add(p[1]);
	return 0;
}

void daemon_report(int *report_fd, const char *failure)
{
	if (*report_fd < 0)
		return;
	char msg[1400];
	int n = failure ? snprintf(msg, sizeof(msg), "%c%s\n", 1, failure) : 1;
	if (!failure)
		msg[0] = 0;
	if (n > (int)sizeof(msg) - 1) {
		n = (int)sizeof(msg) - 1;
		msg[n - 1] = '\n';
	}
	ssize_t w = write(*report_fd, msg, (size_t)n);
	(void)w;
	fds_forget(*report_fd);
	close(*report_fd);
	*report_fd = -1;
}

void daemon_stdio_to_null(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}
