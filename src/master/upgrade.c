/*
 * upgrade.c - listeners that come from outside: the SIGUSR2 binary upgrade
 * (the old master forks and execs the new binary, handing it its listening
 * sockets and control socket through the environment; the new master says
 * "ready" through a pipe once its workers are ready, and the old one then
 * stops gracefully) and systemd socket activation (LISTEN_PID/LISTEN_FDS).
 * Entry points: upgrade_start, upgrade_readable, upgrade_tick,
 * upgrade_started, upgrade_inherit.
 */
#include "master/master.h"
#include "master/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENV_LISTENERS "PREFORK_LISTENERS"	/* "FD=ADDR,FD=ADDR"; "FDa=ADDR": socket-activated */
#define ENV_CONTROL "PREFORK_CONTROL_FD"	/* "FD=PATH" */
#define ENV_NOTIFY "PREFORK_UPGRADE_FD"		/* "FD" */

char *upgrade_exe;		/* absolute path of the binary to exec */
char *upgrade_conf;		/* absolute path of the configuration */
int upgrade_daemon;		/* this master runs detached (-d) */

static int keep_on_exec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

/* In the child: export the sockets and exec the (possibly new) binary. */
static void exec_new_master(struct master *m, int notify_fd)
{
	struct buf b;
	char name[160];
	buf_init(&b);
	for (int i = 0; i < m->nlisteners; i++) {
		struct listener *l = &m->listeners[i];
		if (l->fd < 0)
			continue;
		keep_on_exec(l->fd);
		buf_printf(&b, "%s%d%s=%s", b.len ? "," : "", l->fd, l->activated ? "a" : "",
			   addr_format(&l->addr, name, sizeof(name)));
	}
	setenv(ENV_LISTENERS, b.data ? b.data : "", 1);
	buf_free(&b);
	if (m->control_fd >= 0 && m->control_path) {
		char v[4200];
		keep_on_exec(m->control_fd);
		util_set_nonblock(m->control_fd, 0);
		snprintf(v, sizeof(v), "%d=%s", m->control_fd, m->control_path);
		setenv(ENV_CONTROL, v, 1);
	}
	endpoints_export();
	char nf[32];
	snprintf(nf, sizeof(nf), "%d", notify_fd);
	keep_on_exec(notify_fd);
	setenv(ENV_NOTIFY, nf, 1);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
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
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		exec_new_master(m, p[1]);
	}
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

void upgrade_readable(struct master *m)
{
	char buf[16];
	ssize_t n = read(m->upgrade_fd, buf, sizeof(buf));
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0 && buf[0] == 'R') {
		log_info("upgrade: new master %d is ready; stopping gracefully", (int)m->upgrade_child);
		fds_forget(m->upgrade_fd);
		close(m->upgrade_fd);
		m->upgrade_fd = -1;
		m->upgrade_deadline_ns = 0;
		m->handed_over = 1;
		m->upgrade_child = 0;	/* no longer ours to end */
		signals_stop_graceful = 1;
		return;
	}
	upgrade_failed(m, "the new master exited before it was ready");
}

void upgrade_tick(struct master *m, int64_t now)
{
	if (m->upgrade_fd >= 0 && m->upgrade_deadline_ns && now >= m->upgrade_deadline_ns)
		upgrade_failed(m, "the new master was not ready within shutdown_timeout");
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

static int add_inherited(struct master *m, int fd, const struct addr *a)
{
	if (m->nlisteners == MAX_LISTENERS)
		return -1;
	struct listener *l = &m->listeners[m->nlisteners++];
	memset(l, 0, sizeof(*l));
	l->addr = *a;
	l->fd = fd;
	fds_add(fd);
	l->inherited = 1;
	l->backlog = -1;
	util_set_cloexec(fd);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		addr_format_sockaddr((struct sockaddr *)&ss, len, l->name, sizeof(l->name), 1);
	return 0;
}

/*
 * Socket activation (sd_listen_fds(3)): descriptors 3..3+N-1 are listening
 * sockets, matched to services by their bound address. They stay open
 * even while no service uses them, so a later reload can take them again.
 */
static void inherit_systemd(struct master *m)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (!pid || !fds || atol(pid) != (long)getpid())
		return;
	int n = atoi(fds);
	if (n < 0 || n > MAX_LISTENERS) {
		log_error("LISTEN_FDS=%s: expected 0 to %d descriptors; ignored", fds, MAX_LISTENERS);
		n = 0;
	}
	for (int fd = 3; fd < 3 + n; fd++) {
		struct addr a;
		int type = 0, listening = 0;
		socklen_t tl = sizeof(type), ll = sizeof(listening);
		memset(&a, 0, sizeof(a));
		a.len = sizeof(a.ss);
		if (getsockname(fd, (struct sockaddr *)&a.ss, &a.len) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) < 0) {
			log_warn("LISTEN_FDS: descriptor %d is not a socket; ignored", fd);
			continue;
		}
		a.family = a.ss.ss_family;
		if (type != SOCK_STREAM || !listening ||
		    (a.family != AF_INET && a.family != AF_INET6 && a.family != AF_UNIX)) {
			log_error("LISTEN_FDS: descriptor %d is not a listening stream socket; ignored", fd);
			continue;
		}
		if (add_inherited(m, fd, &a) == 0) {
			m->listeners[m->nlisteners - 1].activated = 1;
			log_info("using inherited socket %s (descriptor %d)",
				 m->listeners[m->nlisteners - 1].name, fd);
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

int upgrade_inherit(struct master *m)
{
	inherit_systemd(m);
	const char *nf = getenv(ENV_NOTIFY);
	if (!nf)
		return 0;
	m->upgrade_notify_fd = atoi(nf);
	fds_add(m->upgrade_notify_fd);
	util_set_cloexec(m->upgrade_notify_fd);
	char *list = util_xstrdup(getenv(ENV_LISTENERS));
	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		struct addr a;
		char err[256];
		if (!eq || addr_parse(eq + 1, NULL, &a, err, sizeof(err)) < 0)
			continue;
		*eq = '\0';
		if (add_inherited(m, atoi(tok), &a) == 0 && eq > tok && eq[-1] == 'a')
			m->listeners[m->nlisteners - 1].activated = 1;
	}
	free(list);
	const char *ctl = getenv(ENV_CONTROL);
	if (ctl && strchr(ctl, '=')) {
		int fd = atoi(ctl);
		util_set_cloexec(fd);
		control_adopt(m, fd, strchr(ctl, '=') + 1);
	}
	endpoints_inherit();
	unsetenv(ENV_NOTIFY);
	unsetenv(ENV_LISTENERS);
	unsetenv(ENV_CONTROL);
	return 1;
}
