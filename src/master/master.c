/*
 * master.c - the master loop. It sleeps in one place (poll on the
 * self-pipe, the workers' ready pipe and the control socket, with a timer
 * for the next deadline), then handles the signal flags in a fixed order,
 * clearing each before acting on it. It is the one place that decides:
 * the files below it return what happened (control commands, deaths,
 * policy answers) and master.c acts. Reload is a transaction (reload.c).
 * Entry point: master_run (start-up, then the loop until the master stops).
 */
#include "master/daemon.h"
#include "master/master.h"
#include "master/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- resize (SIGTTIN, SIGTTOU, `workers NAME +N`) ---- */

/*
 * A resize applies to the serving generation and to the one starting (the
 * first at start-up, or a reload's), so that the target it sets is the one
 * that serves once that generation commits. The answer names the newest.
 */
int master_resize(struct master *m, const char *name, int delta, char *msg, size_t msglen)
{
	struct generation *gens[] = { m->active, m->starting };
	int found = 0;
	for (size_t k = 0; k < ARRAY_LEN(gens); k++) {
		struct generation *g = gens[k];
		for (int v = 0; g && v < g->nsvcs; v++) {
			struct service *s = &g->svcs[v];
			if (name && strcmp(s->conf->name, name) != 0)
				continue;
			found = 1;
			int t = s->target + delta;
			if (t < 1)
				t = 1;
			if (t > s->conf->max_workers)
				t = s->conf->max_workers;
			if (t != s->target)
				log_info("service %s: %d -> %d workers%s", s->conf->name, s->target, t,
					 g == m->starting && m->active ? " (new generation)" : "");
			s->target = t;
			if (g == m->active)
				scoreboard_svc(s->sb)->target = t;
			if (msg)
				snprintf(msg, msglen, "ok %s %d", s->conf->name, t);
		}
	}
	if (!found && msg)
		snprintf(msg, msglen, "error: no service named '%s'", name ? name : "");
	int64_t now = util_now_ns();
	spawn_maintain(m, m->active, now);
	spawn_maintain(m, m->starting, now);
	return found ? 0 : -1;
}

/* ---- deaths ---- */

/*
 * Reap every child that ended and decide what each death means: a worker
 * told to stop, a new generation that cannot get ready (it fails as a
 * whole: logged once, by its failure), or a crash to refill with back-off.
 */
static void reap(struct master *m)
{
	struct reap_death d;
	int64_t now = util_now_ns();
	while (reap_child(m, &d)) {
		if (d.slot < 0) {
			if (d.pid == m->upgrade_child)
				m->upgrade_child = 0;
			continue;
		}
		struct generation *g = d.gen;
		char reason[512] = "";
		if (d.exiting)
			log_debug("worker %d %s", (int)d.pid, d.how);
		else if (g->state == GEN_STARTING && !d.ready)
			snprintf(reason, sizeof(reason), "service %s: worker %d %s before it was ready",
				 g->svcs[d.svc].conf->name, (int)d.pid, d.how);
		else
			reap_crashed(m, &d, now);
		metrics_worker_exit(m, d.slot, d.why);
		reap_release(m, &d, now);
		if (reason[0])
			reload_done(m, 0, reason);
		else if (g->live == 0 && g->state == GEN_DRAINING)
			generation_free(m, g);
	}
}

/* ---- stop ---- */

static void stop_begin(struct master *m)
{
	int64_t now = util_now_ns();
	if (m->stopping || drain_hold_stop(m, now))
		return;
	m->stopping = 1;
	notify_send("STOPPING=1");
	log_info("stopping gracefully (shutdown_timeout %.1f s)", m->conf->shutdown_timeout);
	m->stop_deadline_ns = now + util_secs_ns(m->conf->shutdown_timeout);
	/* New connections are refused once every process has closed the listeners. */
	for (int i = 0; i < m->nlisteners; i++)
		listen_close(&m->listeners[i], !m->handed_over);
	for (int i = 0; i < scoreboard_nslots(); i++)
		if (m->workers[i].pid)
			spawn_retire(m, i, SIGTERM, m->stop_deadline_ns);
}

static int live_workers(struct master *m)
{
	int n = 0;
	for (int i = 0; i < scoreboard_nslots(); i++)
		if (m->workers[i].pid)
			n++;
	return n;
}

/* Fast stop: end every worker at once. */
static void stop_fast(struct master *m)
{
	notify_send("STOPPING=1");
	log_info("stopping now");
	for (int i = 0; i < scoreboard_nslots(); i++)
		if (m->workers[i].pid)
			spawn_retire(m, i, SIGKILL, 0);
	for (int i = 0; i < m->nlisteners; i++)
		listen_close(&m->listeners[i], !m->handed_over);
	int64_t deadline = util_now_ns() + 2000000000LL;
	while (live_workers(m) > 0 && util_now_ns() < deadline) {
		reap(m);
		if (live_workers(m) > 0)
			poll(NULL, 0, 5);
	}
}

/* ---- the loop ---- */

/*
 * The flags the signal handlers recorded, in a fixed order. handed_over:
 * the new master of a binary upgrade is ready, so this one stops
 * gracefully, as on SIGTERM.
 */
static void handle_signals(struct master *m, int handed_over)
{
	if (signals_child) {
		signals_child = 0;
		spawn_read_ready(m);
		reap(m);
	}
	if (signals_stop_fast) {
		signals_stop_fast = 0;
		stop_fast(m);
		m->exit_now = 1;
		return;
	}
	if (signals_stop_graceful || handed_over) {
		signals_stop_graceful = 0;
		stop_begin(m);
	}
	if (signals_reload) {
		signals_reload = 0;
		reload_request(m);
	}
	if (signals_reopen) {
		signals_reopen = 0;
		log_info("reopening log files");
		if (log_reopen() < 0)
			log_warn("reopen error log");
		for (int i = 0; i < scoreboard_nslots(); i++)
			if (m->workers[i].pid && !m->workers[i].exiting)
				kill(m->workers[i].pid, SIGUSR1);
	}
	/* Each delivered signal is one step. */
	for (unsigned n = signals_take(SIGTTIN); n > 0; n--)
		master_resize(m, NULL, +1, NULL, 0);
	for (unsigned n = signals_take(SIGTTOU); n > 0; n--)
		master_resize(m, NULL, -1, NULL, 0);
	if (signals_upgrade) {
		signals_upgrade = 0;
		if (m->starting && !m->stopping) {
			/* As SIGHUPs are: it waits for the reload in progress, then runs. */
			if (!m->upgrade_pending)
				log_info("upgrade queued: a reload is in progress; it starts when the "
					 "reload ends");
			m->upgrade_pending = 1;
		} else {
			upgrade_start(m);
		}
	}
}

/* Act on the control socket's commands and answer them. */
static void answer_control(struct master *m, const struct pollfd *fds, int n)
{
	struct control_cmd cmds[MAX_CONTROL_CLIENTS];
	int ncmds = control_handle(m, fds, n, cmds, (int)ARRAY_LEN(cmds));
	for (int i = 0; i < ncmds; i++) {
		struct control_cmd *c = &cmds[i];
		char msg[256];
		switch (c->kind) {
		case CONTROL_STATUS:
		case CONTROL_STATUS_JSON: {
			struct buf b;
			buf_init(&b);
			status_render(&b, c->kind == CONTROL_STATUS_JSON);
			control_reply(m, c->client, b.data ? b.data : "", b.len);
			buf_free(&b);
			continue;
		}
		case CONTROL_RELOAD:
			if (m->stopping) {
				snprintf(msg, sizeof(msg), "failed: the server is stopping\n");
				break;
			}
			control_wait_reload(m, c->client);
			reload_request(m);
			continue;
		case CONTROL_DRAIN:
		case CONTROL_UNDRAIN:
			if (c->kind == CONTROL_UNDRAIN && (m->stopping || m->drain_stop_ns)) {
				snprintf(msg, sizeof(msg), "error: the server is stopping\n");
				break;
			}
			drain_set(m, c->kind == CONTROL_DRAIN, "control command");
			snprintf(msg, sizeof(msg), "ok %s\n",
				 c->kind == CONTROL_DRAIN ? "draining" : "serving");
			break;
		case CONTROL_RESIZE:
			master_resize(m, c->name, c->delta, msg, sizeof(msg) - 1);
			strcat(msg, "\n");
			break;
		}
		control_reply(m, c->client, msg, strlen(msg));
	}
}

static void tick(struct master *m, int64_t now)
{
	spawn_check_deadlines(m, now);
	if (m->starting) {
		struct generation *g = m->starting;
		if (spawn_gen_ready(m, g)) {
			reload_done(m, 1, NULL);
		} else if (now >= g->deadline_ns) {
			char reason[256];
			if (g->slot_shortage)
				snprintf(reason, sizeof(reason), "the scoreboard is full: %d attempt(s) to "
					 "start a new worker found no free slot (%d in all)",
					 g->slot_shortage, SB_MAX_SLOTS);
			else
				snprintf(reason, sizeof(reason),
					 "the new workers were not ready within shutdown_timeout (%.1f s)",
					 g->conf->shutdown_timeout);
			reload_done(m, 0, reason);
		}
	}
	if (drain_stop_due(m, now))
		stop_begin(m);
	if (!m->stopping) {
		spawn_maintain(m, m->active, now);
		if (m->starting)
			spawn_maintain(m, m->starting, now);
		spawn_watchdog(m, now);
		rss_watchdog(m, now);
		agent_tick(m, now);
		if (m->reload_pending)
			reload_start(m);
		if (m->upgrade_pending && !m->starting) {
			m->upgrade_pending = 0;
			upgrade_start(m);
		}
	}
	/* A new master that is late is ended (and logged); this one serves on. */
	upgrade_tick(m, now);
	notify_tick(m, now);
}

static int64_t next_deadline(struct master *m, int64_t now)
{
	int64_t next = now + 1000000000LL;	/* at least once a second */
	int64_t cand[8] = {
		m->stopping ? 0 : m->drain_stop_ns,
		endpoints_next_deadline(),
		m->starting ? m->starting->deadline_ns : 0,
		m->stopping ? m->stop_deadline_ns : 0,
		spawn_next_event(m, m->active, now),
		control_next_deadline(m),
		m->upgrade_deadline_ns,
		m->starting ? now + 20000000LL : 0,	/* readiness is also polled */
	};
	for (size_t i = 0; i < ARRAY_LEN(cand); i++)
		if (cand[i] && cand[i] < next)
			next = cand[i];
	for (int i = 0; i < scoreboard_nslots(); i++)
		if (m->workers[i].pid && m->workers[i].kill_at_ns && m->workers[i].kill_at_ns < next)
			next = m->workers[i].kill_at_ns;
	return next;
}

static int master_loop(struct master *m)
{
	struct pollfd fds[4 + MAX_CONTROL_CLIENTS + ENDPOINTS_MAX_FDS];
	for (;;) {
		int64_t now = util_now_ns();
		if (m->stopping && live_workers(m) == 0)
			break;
		if (m->exit_now)
			break;
		if (m->stopping && now >= m->stop_deadline_ns) {
			for (int i = 0; i < scoreboard_nslots(); i++)
				if (m->workers[i].pid && m->workers[i].kill_at_ns)
					m->workers[i].kill_at_ns = now;
			spawn_check_deadlines(m, now);
		}
		int64_t wait = next_deadline(m, now) - now;
		int n = 0;
		fds[n++] = (struct pollfd){ .fd = m->sig_fd, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = m->ready_pipe[0], .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = m->upgrade_fd, .events = POLLIN };
		int ctl = n;
		n += control_pollfds(m, fds + n, (int)ARRAY_LEN(fds) - n);
		int ep = n;
		n += endpoints_pollfds(m, fds + n, (int)ARRAY_LEN(fds) - n);
		/* The workers' status handler reads the services' entries from the shared copy. */
		scoreboard_publish();
		if (wait > 0)
			util_coverage_flush();
		int rc = poll(fds, (nfds_t)n, wait > 0 ? (int)((wait + 999999) / 1000000) : 0);
		if (rc < 0 && errno != EINTR)
			log_warn("poll");
		if (rc > 0 && fds[0].revents)
			signals_drain();
		/* The new master's word first: it may start our graceful stop. */
		pid_t new_master = 0;
		int handed_over = rc > 0 && fds[2].revents &&
				  upgrade_readable(m, &new_master) == UPGRADE_READY;
		if (handed_over) {
			log_info("upgrade: new master %d is ready; stopping gracefully", (int)new_master);
			m->handed_over = 1;
		}
		/* Ready messages before deaths: a worker writes one before it can die. */
		spawn_read_ready(m);
		handle_signals(m, handed_over);
		if (m->exit_now)
			break;
		if (rc > 0)
			answer_control(m, fds + ctl, ep - ctl);
		endpoints_handle(m, fds + ep, rc > 0 ? n - ep : 0);
		tick(m, util_now_ns());
	}
	return m->startup_failed ? 1 : 0;
}

/* The absolute path of our binary, for the SIGUSR2 upgrade's exec. */
static char *find_exe(const char *argv0)
{
	char *p = NULL;
	if (strchr(argv0, '/'))
		p = realpath(argv0, NULL);
	if (!p)
		p = realpath("/proc/self/exe", NULL);
	return p;
}

/* Start-up errors reach the terminal even when the log goes elsewhere. */
static void PF_PRINTF_ATTR(2, 3) startup_error(const char *log_target, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	if (log_target[0])
		fprintf(stderr, "preforkd: %s\n", msg);
}

/*
 * The master's start-up transaction: inherited listeners, the pid file
 * check, the error log, the first generation's listeners (bound before
 * detaching, so errors reach the terminal), daemon mode, the control
 * socket, the pid file; then the loop until the master stops. Takes c.
 */
int master_run(const char *conf_path, const struct pf_handler *const *handlers,
	       struct pf_config *c, int daemon_mode, const char *argv0)
{
	/* The master's own memory (arena.c): a worker never sees it. */
	static struct master *master;
	if (!master)
		master = arena_alloc(sizeof(*master));
	else
		memset(master, 0, sizeof(*master));
	struct master *m = master;
	m->extra = handlers;
	m->control_fd = m->upgrade_fd = m->upgrade_notify_fd = -1;
	for (int i = 0; i < MAX_CONTROL_CLIENTS; i++)
		m->clients[i].fd = -1;
	upgrade_exe = find_exe(argv0);
	upgrade_conf = realpath(conf_path, NULL);
	m->conf_path = upgrade_conf ? upgrade_conf : util_xstrdup(conf_path);

	int upgrading = inherit_listeners(m);
	if (!upgrading) {
		pid_t other = pidfile_read(c->pid_file);
		if (other && other != getpid() && pidfile_alive(other)) {
			fprintf(stderr, "preforkd: already running as process %d (pid file %s)\n",
				(int)other, c->pid_file);
			config_free(c);
			return 1;
		}
	}
	/*
	 * With -d and error_log = "", the log goes to syslog, but only once
	 * detached: until then errors are printed on the terminal.
	 */
	const char *log_target = c->error_log;
	int syslog_when_detached = daemon_mode && !log_target[0];
	if (log_open(log_target, c->log_level) < 0) {
		fprintf(stderr, "preforkd: cannot open error log %s: %s\n", log_target, strerror(errno));
		config_free(c);
		return 1;
	}
	if (util_set_nofile(c->rlimit_nofile) < 0)
		log_warn("rlimit_nofile %ld", c->rlimit_nofile);
	if (c->user && geteuid() != 0)
		log_warnx("'user' is ignored: not started as root");
	if (c->chroot && geteuid() != 0)
		log_warnx("'chroot' is ignored: not started as root");

	if (scoreboard_create() < 0 || pipe2(m->ready_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		startup_error(log_target, "start-up: %s", strerror(errno));
		return 1;
	}
	fds_add(m->ready_pipe[0]);
	m->sig_fd = signals_master_init();
	if (m->sig_fd < 0) {
		startup_error(log_target, "signal pipe: %s", strerror(errno));
		return 1;
	}
	m->conf = c;
	char err[1024];
	struct generation *g = generation_create(m, c, err, sizeof(err));
	if (!g) {
		startup_error(log_target, "%s", err);
		return 1;
	}
	g->startup = 1;
	if (endpoints_apply(c, err, sizeof(err)) < 0) {
		startup_error(log_target, "%s", err);
		return 1;
	}
	for (int i = 0; i < c->nservices; i++)
		if (c->services[i].workers_auto)
			log_info("service %s: workers = \"auto\": %d (%s)", c->services[i].name,
				 c->services[i].workers, c->services[i].workers_why);

	m->report_fd = -1;
	if (daemon_mode && !upgrading) {
		arena_fork_share(1);	/* the daemon carries on as this master */
		int rc = daemon_detach(&m->report_fd);
		arena_fork_share(0);
		if (rc < 0) {
			startup_error(log_target, "daemonize: %s", strerror(errno));
			return 1;
		}
	}
	upgrade_daemon = daemon_mode;
	m->pid = getpid();
	/* The control socket first: once the pid file names us, `-s status` works. */
	if (!m->control_path[0] && c->control_socket && control_open(m, c->control_socket) < 0)
		log_error("continuing without a control socket");
	if (!upgrading && pidfile_write(c->pid_file, m->pid) < 0) {
		startup_error(log_target, "cannot write the pid file %s", c->pid_file);
		control_close(m, 1);
		return 1;
	}
	if (syslog_when_detached)
		log_open("syslog", c->log_level);
	if (daemon_mode)
		daemon_stdio_to_null();

	g->state = GEN_STARTING;
	g->deadline_ns = util_now_ns() + (int64_t)(c->shutdown_timeout * 1e9);
	spawn_maintain(m, g, util_now_ns());
	int rc = master_loop(m);

	/*
	 * A new master of an upgrade that never got ready (it still holds the
	 * pipe to tell the old one) leaves the control socket file to the old
	 * master, which keeps serving on it.
	 */
	control_close(m, m->upgrade_notify_fd < 0);
	endpoints_close(m);
	pidfile_remove(m->conf->pid_file, m->pid);
	if (m->report_fd >= 0) {
		/* Start-up did not complete (failed, or stopped first): say why, now that all is clean. */
		const char *why = strncmp(m->reload_result, "failed: ", 8) == 0 ? m->reload_result + 8 :
				  "stopped before start-up completed";
		char msg[sizeof(m->reload_result) + 32];
		snprintf(msg, sizeof(msg), "start-up failed: %.1100s", why);
		daemon_report(&m->report_fd, msg);
		rc = 1;
	}
	log_info("exiting with status %d", rc);
	return rc;
}
