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
	/*
	 * A master with no free slot answers and closes without reading: the
	 * send may then fail (EPIPE, never SIGPIPE), and the answer is read all
	 * the same.
	 */
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n && errno != EPIPE && errno != ECONNRESET) {
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

#define CTL_BUSY "error: too many control connections"
#define CTL_BUSY_RETRY_NS 1000000000LL

static int answer_is_busy(const struct buf *b)
{
	return b->len >= strlen(CTL_BUSY) && memcmp(b->data, CTL_BUSY, strlen(CTL_BUSY)) == 0;
}

/*
 * The master's answer: on stdout and 0 when it is a success (status: any
 * answer that is not "error: ..."; reload, drain: "ok..."), else on stderr
 * and 1. A reload that found every control slot taken falls back to SIGHUP
 * and says so (1: its outcome is not known here). An answer that cannot be
 * written (a closed pipe) is an error too, never a SIGPIPE.
 */
static int answer_print(const struct buf *b, const char *cmd, pid_t pid)
{
	const char *text = b->len ? b->data : "";
	if (answer_is_busy(b) && strcmp(cmd, "reload") == 0) {
		if (kill(pid, SIGHUP) < 0) {
			fprintf(stderr, "preforkd: %s; SIGHUP to process %d failed: %s\n", CTL_BUSY,
				(int)pid, strerror(errno));
			return 1;
		}
		fprintf(stderr, "preforkd: %s: sent SIGHUP to process %d instead; its outcome is "
			"not known here (see the error log)\n", CTL_BUSY + 7, (int)pid);
		return 1;
	}
	int ok = strcmp(cmd, "status") == 0 ? b->len > 0 && strncmp(text, "error: ", 7) != 0 :
		 b->len >= 2 && memcmp(text, "ok", 2) == 0;
	if (!ok) {
		if (b->len == 0)
			fprintf(stderr, "preforkd: the master closed the control connection without an answer\n");
		else
			fprintf(stderr, "%s%s", text, text[b->len - 1] == '\n' ? "" : "\n");
		return 1;
	}
	if (fputs(text, stdout) == EOF || fflush(stdout) == EOF) {
		fprintf(stderr, "preforkd: cannot write the answer: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

int ctl_send(const struct pf_config *c, const char *cmd)
{
	/* A closed pipe or control connection is an error to report, not a death. */
	signal(SIGPIPE, SIG_IGN);

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
		struct buf b;
		buf_init(&b);
		/* Every slot taken: try again for a while, they are short-lived. */
		int64_t give_up = util_now_ns() + CTL_BUSY_RETRY_NS;
		for (;;) {
			b.len = 0;
			int fd = control_request(c->control_socket, cmd);
			int rc = fd < 0 ? -2 : control_answer(fd, &b, timeout);
			if (fd >= 0)
				close(fd);
			if (rc < 0) {
				if (rc == -1)
					fprintf(stderr, "preforkd: no answer from %s within %.0f s\n",
						c->control_socket, timeout);
				buf_free(&b);
				return 1;
			}
			if (!answer_is_busy(&b) || util_now_ns() >= give_up)
				break;
			poll(NULL, 0, 50);
		}
		int rc = answer_print(&b, cmd, pid);
		buf_free(&b);
		return rc;
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
