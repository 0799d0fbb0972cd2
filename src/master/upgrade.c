/*
 * upgrade.c - the SIGUSR2 binary upgrade: the old master forks and execs the
 * new binary, handing it its listening sockets and control socket
 * (inherit_export); the new master says "ready" through a pipe once its
 * workers are ready. This file reports what happened (upgrade_readable,
 * upgrade_tick return UPGRADE_READY or UPGRADE_FAILED); master.c decides
 * what follows (on ready, the old master stops gracefully).
 * Entry points: upgrade_start, upgrade_readable, upgrade_tick, upgrade_started.
 */
#include "master/master.h"
#include "master/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *upgrade_exe;		/* absolute path of the binary to exec */
char *upgrade_conf;		/* absolute path of the configuration */
int upgrade_daemon;		/* this master runs detached (-d) */

/* In the child: export the sockets and exec the (possibly new) binary. */
static void exec_new_master(struct master *m, int notify_fd)
{
	inherit_export(m, notify_fd);
	/* -d again, so the new master logs where this one does (syslog by default). */
	char *const argv[] = { upgrade_exe, "-c", upgrade_conf, upgrade_daemon ? "-d" : NULL, NULL };
	/* Signals blocked by the parent would stay blocked across exec. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(upgrade_exe, argv);
	log_warn("upgrade: exec %s", upgrade_exe);
	_exit(127);
}

void upgrade_start(struct master *m)
{
	if (m->upgrade_child || m->stopping || m->starting || !upgrade_exe) {
		log_error("upgrade refused: %s", m->upgrade_child ? "an upgrade is already running" :
			  m->stopping ? "stopping" : m->starting ? "a reload is in progress" :
			  "binary path unknown");
		return;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		log_warn("upgrade: pipe");
		return;
	}
	log_info("upgrade: starting %s", upgrade_exe);
	sigset_t old;
	signals_block_all(&old);
	arena_fork_share(1);	/* the child reads m before exec */
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		exec_new_master(m, p[1]);
	}
	arena_fork_share(0);
	signals_restore(&old);
	close(p[1]);
	if (pid < 0) {
		log_warn("upgrade: fork");
		close(p[0]);
		return;
	}
	util_set_nonblock(p[0], 1);
	m->upgrade_child = pid;
	m->upgrade_fd = p[0];
	fds_add(p[0]);
	m->upgrade_deadline_ns = util_now_ns() + (int64_t)(m->conf->shutdown_timeout * 1e9);
}

static void upgrade_failed(struct master *m, const char *why)
{
	log_error("upgrade failed: %s; this master keeps serving", why);
	if (m->upgrade_child)
		kill(m->upgrade_child, SIGKILL);
	if (m->upgrade_fd >= 0)
		close(m->upgrade_fd);
	fds_forget(m->upgrade_fd);
	m->upgrade_fd = -1;
	m->upgrade_deadline_ns = 0;
	/* The new master may have written the pid file before it failed. */
	pidfile_write(m->conf->pid_file, m->pid);
}

/*
 * The new master's pipe is readable: UPGRADE_READY once it said so (its
 * pid in *new_master; it is no longer ours to end), UPGRADE_FAILED when it
 * exited first (cleaned up and logged), or UPGRADE_NONE.
 */
enum upgrade_event upgrade_readable(struct master *m, pid_t *new_master)
{
	char buf[16];
	ssize_t n = read(m->upgrade_fd, buf, sizeof(buf));
	if (n < 0 && errno == EAGAIN)
		return UPGRADE_NONE;
	if (n > 0 && buf[0] == 'R') {
		fds_forget(m->upgrade_fd);
		close(m->upgrade_fd);
		m->upgrade_fd = -1;
		m->upgrade_deadline_ns = 0;
		*new_master = m->upgrade_child;
		m->upgrade_child = 0;
		return UPGRADE_READY;
	}
	upgrade_failed(m, "the new master exited before it was ready");
	return UPGRADE_FAILED;
}

/* UPGRADE_FAILED (cleaned up and logged) once the new master is late. */
enum upgrade_event upgrade_tick(struct master *m, int64_t now)
{
	if (m->upgrade_fd >= 0 && m->upgrade_deadline_ns && now >= m->upgrade_deadline_ns) {
		upgrade_failed(m, "the new master was not ready within shutdown_timeout");
		return UPGRADE_FAILED;
	}
	return UPGRADE_NONE;
}

/* We are the new master and ready: take the pid file, tell the old one. */
void upgrade_started(struct master *m)
{
	if (m->upgrade_notify_fd < 0)
		return;
	pidfile_write(m->conf->pid_file, m->pid);
	ssize_t w = write(m->upgrade_notify_fd, "R", 1);
	(void)w;
	fds_forget(m->upgrade_notify_fd);
	close(m->upgrade_notify_fd);
	m->upgrade_notify_fd = -1;
}
