/*
 * ctl.c - `preforkd -s CMD`, the client side of a running master: stop,
 * quit and reopen are signals to the pid in the pid file (stop and quit
 * wait for it to be gone); status, and reload when there is a control
 * socket, are one line on the control socket, answered by the master.
 * Entry point: ctl_send.
 */
#include "cli/ctl.h"
#include "master/pidfile.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int control_request(const char *path, const char *cmd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "preforkd: control socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "preforkd: cannot connect to control socket %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char line[256];
	int n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (write(fd, line, (size_t)n) != n) {
		fprintf(stderr, "preforkd: control socket %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Read the whole answer into out (NUL-terminated); -1 on timeout. */
static int control_answer(int fd, struct buf *out, double timeout)
{
	int64_t deadline = util_now_ns() + (int64_t)(timeout * 1e9);
	char chunk[4096];
	for (;;) {
		int64_t left = deadline - util_now_ns();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(left / 1000000) + 1) <= 0)
			continue;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		buf_append(out, chunk, (size_t)n);
	}
}

int ctl_send(const struct pf_config *c, const char *cmd)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "stop", SIGINT }, { "quit", SIGTERM }, { "reload", SIGHUP }, { "reopen", SIGUSR1 },
	};
	int drain = strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0;
	if (strcmp(cmd, "status") == 0 || drain || (strcmp(cmd, "reload") == 0 && c->control_socket)) {
		if (!c->control_socket) {
			fprintf(stderr, "preforkd: %s needs the control socket (control_socket is \"\")\n",
				cmd);
			return 1;
		}
		pid_t pid = pidfile_read(c->pid_file);
		if (!pidfile_alive(pid)) {
			fprintf(stderr, "preforkd: %s pid file %s%s\n", pid ? "stale" : "no",
				c->pid_file, pid ? " (no such process)" : "");
			return 1;
		}
		double timeout = strcmp(cmd, "reload") == 0 ? 3 * c->shutdown_timeout + 10 : 10;
		int fd = control_request(c->control_socket, cmd);
		if (fd < 0)
			return 1;
		struct buf b;
		buf_init(&b);
		int rc = control_answer(fd, &b, timeout);
		close(fd);
		if (rc < 0) {
			fprintf(stderr, "preforkd: no answer from %s within %.0f s\n", c->control_socket, timeout);
			buf_free(&b);
			return 1;
		}
		int ok = strcmp(cmd, "status") == 0 ? b.len > 0 :
			 b.len >= 2 && memcmp(b.data, "ok", 2) == 0;
		fputs(b.data ? b.data : "", ok ? stdout : stderr);
		buf_free(&b);
		return ok ? 0 : 1;
	}
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++) {
		if (strcmp(cmd, sigs[i].name) != 0)
			continue;
		pid_t pid = pidfile_read(c->pid_file);
		if (!pid) {
			fprintf(stderr, "preforkd: no pid file %s (is preforkd running?)\n", c->pid_file);
			return 1;
		}
		if (kill(pid, sigs[i].sig) < 0) {
			fprintf(stderr, "preforkd: stale pid file %s: process %d: %s\n", c->pid_file,
				(int)pid, strerror(errno));
			return 1;
		}
		if (sigs[i].sig == SIGINT || sigs[i].sig == SIGTERM) {
			/* Wait for the master to be gone, so scripts can go on safely. */
			int64_t deadline = util_now_ns() +
					   (int64_t)((c->drain_delay + c->shutdown_timeout + 5) * 1e9);
			while (pidfile_alive(pid) && util_now_ns() < deadline)
				poll(NULL, 0, 20);
			if (pidfile_alive(pid)) {
				fprintf(stderr, "preforkd: process %d still running\n", (int)pid);
				return 1;
			}
		}
		return 0;
	}
	fprintf(stderr, "preforkd: unknown -s command '%s' (stop, quit, reload, reopen, status, "
		"drain, undrain)\n", cmd);
	return 1;
}
