/*
 * inherit.c - listening sockets that come from outside the configuration:
 * systemd socket activation (LISTEN_PID/LISTEN_FDS) and the sockets an old
 * master hands over in a SIGUSR2 binary upgrade. Both ends of the hand-over
 * live here: the old master's child exports its descriptors in the
 * environment before exec, the new master parses them at start-up.
 * Entry points: inherit_export, inherit_listeners.
 */
#include "master/master.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENV_LISTENERS "PREFORK_LISTENERS"	/* "FD=ADDR,FD=ADDR"; "FDa=ADDR": socket-activated */
#define ENV_CONTROL "PREFORK_CONTROL_FD"	/* "FD=PATH" */
#define ENV_NOTIFY "PREFORK_UPGRADE_FD"		/* "FD" */

static int keep_on_exec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

/*
 * In the old master's child, before it execs the new binary: keep the
 * listeners, the control socket, the endpoints and the "ready" pipe's
 * write end open across exec and name them in the environment.
 */
void inherit_export(struct master *m, int notify_fd)
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
	if (m->control_fd >= 0 && m->control_path[0]) {
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
static void from_systemd(struct master *m)
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

/* What inherit_export named: 0 when this master was not exec'd by an old one. */
static int from_old_master(struct master *m)
{
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

/*
 * At start-up: adopt systemd's sockets, then an old master's. 1 when an
 * old master handed its sockets over (m->upgrade_notify_fd is then the
 * pipe to tell it "ready"), 0 otherwise.
 */
int inherit_listeners(struct master *m)
{
	from_systemd(m);
	return from_old_master(m);
}
