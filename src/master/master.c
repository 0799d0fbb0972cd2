/*
 * master.c - the master loop. It sleeps in one place (poll on the
 * self-pipe, the workers' ready pipe and the control socket, with a timer
 * for the next deadline), then handles the signal flags in a fixed order,
 * clearing each before acting on it. Reload is a transaction: the new
 * configuration is built beside the live one, listeners whose address is
 * unchanged are carried over, and the old generation is retired only once
 * every new worker is ready. Entry points: master_start, master_loop.
 */
#include "master/master.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int64_t secs_ns(double s)
{
	return (int64_t)(s * 1e9);
}

/* ---- listeners ---- */

static int listener_find(struct master *m, const struct addr *a)
{
	for (int i = 0; i < m->nlisteners; i++)
		if (m->listeners[i].fd >= 0 && addr_equal(&m->listeners[i].addr, a))
			return i;
	return -1;
}

static int listener_used(struct master *m, int idx, const struct generation *except)
{
	struct generation *gens[] = { m->active, m->starting, m->draining };
	for (size_t k = 0; k < ARRAY_LEN(gens); k++) {
		struct generation *g = gens[k];
		if (!g || g == except)
			continue;
		for (int v = 0; v < g->nsvcs; v++)
			if (g->svcs[v].listener == idx)
				return 1;
	}
	return 0;
}

/* Close the master's copy of every listener no live generation uses. */
static void listeners_prune(struct master *m, const struct generation *except)
{
	for (int i = 0; i < m->nlisteners; i++) {
		struct listener *l = &m->listeners[i];
		if (l->fd < 0 || l->activated || listener_used(m, i, except))
			continue;
		log_info("closing listener %s", l->name);
		listen_close(l, !m->handed_over);
	}
	while (m->nlisteners > 0 && m->listeners[m->nlisteners - 1].fd < 0)
		m->nlisteners--;
}

/* Reuse the listener of an unchanged address, or bind a new one. */
static int listener_get(struct master *m, const struct svc_conf *c, char *err, size_t errlen)
{
	int i = listener_find(m, &c->addr);
	if (i >= 0) {
		struct listener *l = &m->listeners[i];
		if (l->backlog != c->backlog && listen(l->fd, c->backlog) == 0)
			l->backlog = c->backlog;
	} else {
		for (i = 0; i < m->nlisteners; i++)
			if (m->listeners[i].fd < 0)
				break;
		if (i == MAX_LISTENERS) {
			snprintf(err, errlen, "too many listeners");
			return -1;
		}
		struct listener *l = &m->listeners[i];
		memset(l, 0, sizeof(*l));
		l->addr = c->addr;
		l->fd = -1;
		if (listen_open(l, c->backlog, LISTEN_UNIX_MODE, err, errlen) < 0)
			return -1;
		if (i == m->nlisteners)
			m->nlisteners++;
		log_info("service %s: listening on %s", c->name, l->name);
	}
	int secs = c->defer_accept ? (int)c->read_timeout + 1 : 0;
	listen_apply_options(&m->listeners[i], secs);
	return i;
}

/* ---- generations ---- */

struct generation *master_gen_create(struct master *m, struct pf_config *conf, char *err,
				     size_t errlen)
{
	struct generation *g = util_xcalloc(1, sizeof(*g));
	g->id = ++m->next_gen;
	g->conf = conf;
	g->nsvcs = conf->nservices;
	g->svcs = util_xcalloc((size_t)g->nsvcs, sizeof(*g->svcs));
	for (int v = 0; v < g->nsvcs; v++) {
		struct service *s = &g->svcs[v];
		s->conf = &conf->services[v];
		s->listener = -1;
		s->target = s->conf->workers;
		s->recycle_old = s->recycle_new = -1;
		s->pos = util_xcalloc((size_t)s->conf->max_workers, sizeof(*s->pos));
		for (int p = 0; p < s->conf->max_workers; p++)
			s->pos[p].slot = -1;
	}
	/* Bind after building: on failure the caller drops g, and prune closes what it opened. */
	m->starting = g;
	for (int v = 0; v < g->nsvcs; v++) {
		struct service *s = &g->svcs[v];
		s->listener = listener_get(m, s->conf, err, errlen);
		if (s->listener < 0) {
			m->starting = NULL;
			listeners_prune(m, g);
			master_gen_free(m, g);
			return NULL;
		}
		s->sb = scoreboard_service(s->conf->name);
		if (s->sb < 0) {
			snprintf(err, errlen, "scoreboard full: too many services");
			m->starting = NULL;
			listeners_prune(m, g);
			master_gen_free(m, g);
			return NULL;
		}
	}
	return g;
}

static void services_unpublish(struct master *m);

/* Publish a generation's services (name, real address, handler) to the scoreboard. */
static void gen_publish(struct master *m, struct generation *g)
{
	for (int v = 0; v < g->nsvcs; v++) {
		struct service *s = &g->svcs[v];
		struct sb_service *sv = scoreboard_svc(s->sb);
		snprintf(sv->listen, sizeof(sv->listen), "%s", m->listeners[s->listener].name);
		snprintf(sv->handler, sizeof(sv->handler), "%s", s->conf->handler_name);
		sv->target = s->target;
		sv->tls = s->conf->tls != NULL;
		snprintf(sv->tls_sendfile, sizeof(sv->tls_sendfile), "%s",
			 !s->conf->tls ? "" : s->conf->tls->ktls ? "ktls" : "read+write");
		if (s->conf->tls)
			log_info("service %s: TLS; sendfile path: %s", s->conf->name,
				 s->conf->tls->ktls_note);
	}
	services_unpublish(m);
	scoreboard_set_generation(g->id);
	scoreboard_publish();
}

/* Services no generation has any more leave the status. */
static void services_unpublish(struct master *m)
{
	for (int i = 0; i < SB_MAX_SERVICES; i++) {
		struct sb_service *sv = scoreboard_svc(i);
		if (!sv->used)
			continue;
		int found = 0;
		struct generation *gens[] = { m->active, m->starting, m->draining };
		for (size_t k = 0; k < ARRAY_LEN(gens) && !found; k++)
			for (int v = 0; gens[k] && v < gens[k]->nsvcs; v++)
				if (gens[k]->svcs[v].sb == i)
					found = 1;
		if (!found)
			sv->used = 0;
	}
}

void master_gen_free(struct master *m, struct generation *g)
{
	if (!g)
		return;
	if (m->draining == g)
		m->draining = NULL;
	if (m->starting == g)
		m->starting = NULL;
	if (m->active == g)
		m->active = NULL;
	/* A drained or failed generation may have been the last user of a listener. */
	listeners_prune(m, NULL);
	services_unpublish(m);
	for (int v = 0; v < g->nsvcs; v++)
		free(g->svcs[v].pos);
	free(g->svcs);
	if (g->conf != m->conf)
		config_free(g->conf);
	free(g);
}

/* ---- reload ---- */

static void apply_top_level(struct master *m, struct pf_config *old, struct pf_config *c)
{
	if (log_open(c->error_log, c->log_level) < 0)
		log_warn("open error log %s (keeping the old one)", c->error_log);
	if (old && strcmp(old->pid_file, c->pid_file) != 0) {
		unlink(old->pid_file);
		pid_file_write(c->pid_file, m->pid);
	}
	const char *want = c->control_socket ? c->control_socket : "";
	const char *have = m->control_path ? m->control_path : "";
	if (strcmp(want, have) != 0) {
		control_close(m, 1);
		if (c->control_socket && control_open(m, c->control_socket) < 0)
			log_warn("control socket %s", c->control_socket);
	}
}

void master_reload_done(struct master *m, int ok, const char *reason)
{
	struct generation *g = m->starting;
	if (!g)
		return;
	int64_t now = util_now_ns();
	int startup = g->startup;	/* g may be freed below */
	m->starting = NULL;
	if (ok) {
		struct generation *old = m->active;
		struct pf_config *old_conf = m->conf;
		g->state = GEN_ACTIVE;
		m->active = g;
		m->conf = g->conf;
		if (old) {
			old->state = GEN_DRAINING;
			m->draining = old;
			old->deadline_ns = now + secs_ns(g->conf->shutdown_timeout);
			spawn_signal_gen(m, old, SIGTERM, old->deadline_ns);
		}
		listeners_prune(m, NULL);
		gen_publish(m, g);
		apply_top_level(m, old_conf, g->conf);
		if (old && old->live == 0)
			master_gen_free(m, old);
		if (g->startup) {
			log_info("ready: %d service(s), generation %u", g->nsvcs, g->id);
			master_report_startup(m, 1);
			notify_send("READY=1\nMAINPID=%d", (int)m->pid);
			upgrade_started(m);
		} else {
			log_info("reload succeeded: generation %u serves", g->id);
			snprintf(m->reload_result, sizeof(m->reload_result), "ok");
		}
	} else {
		/* The old generation never stopped serving; end the new one. */
		g->state = GEN_DRAINING;
		for (int i = 0; i < scoreboard_nslots(); i++) {
			struct worker_rec *r = &m->workers[i];
			if (r->pid && r->gen == g)
				spawn_retire(m, i, r->ready ? SIGTERM : SIGKILL,
					     now + secs_ns(g->conf->shutdown_timeout));
		}
		if (g->startup) {
			log_error("start-up failed: %s", reason);
			master_report_startup(m, 0);
			m->startup_failed = 1;
			m->stopping = 1;
			m->stop_deadline_ns = now + secs_ns(g->conf->shutdown_timeout);
		} else {
			log_error("reload failed: %s", reason);
		}
		snprintf(m->reload_result, sizeof(m->reload_result), "failed: %s", reason);
		listeners_prune(m, g);
		if (g->live == 0)
			master_gen_free(m, g);
		else
			m->draining = g;
	}
	if (!startup) {
		control_reload_done(m, m->reload_result);
		notify_send("READY=1\nSTATUS=reload %s", ok ? "succeeded" : "failed");
	}
}

/* Start a reload now if nothing is in the way; otherwise it waits its turn. */
static void reload_start(struct master *m)
{
	int64_t now = util_now_ns();
	if (m->starting || m->stopping)
		return;
	if (m->draining) {
		/* At most two generations: this drain is bounded by its deadline. */
		return;
	}
	m->reload_pending = 0;
	notify_send("RELOADING=1\nMONOTONIC_USEC=%lld", (long long)(util_now_ns() / 1000));
	log_info("reloading %s", m->conf_path);

	struct errlist errs = { 0 };
	struct pf_config *c = config_load(m->conf_path, m->extra, &errs);
	char reason[1024];
	if (!c) {
		for (int i = 0; i < errs.count; i++)
			log_error("reload failed: %s", errs.msgs[i]);
		snprintf(reason, sizeof(reason), "%s%s", errs.count ? errs.msgs[0] : "invalid configuration",
			 errs.count > 1 ? " (and more, see the log)" : "");
		errlist_free(&errs);
		snprintf(m->reload_result, sizeof(m->reload_result), "failed: %s", reason);
		control_reload_done(m, m->reload_result);
		notify_send("READY=1\nSTATUS=reload failed");
		return;
	}
	errlist_free(&errs);
	struct generation *g = master_gen_create(m, c, reason, sizeof(reason));
	if (!g) {
		/* master_gen_create's failure path already freed c with its generation. */
		log_error("reload failed: %s", reason);
		snprintf(m->reload_result, sizeof(m->reload_result), "failed: %s", reason);
		control_reload_done(m, m->reload_result);
		notify_send("READY=1\nSTATUS=reload failed");
		return;
	}
	g->state = GEN_STARTING;
	g->deadline_ns = now + secs_ns(c->shutdown_timeout);
	spawn_maintain(m, g, now);
}

void master_request_reload(struct master *m)
{
	m->reload_pending = 1;
	reload_start(m);
}

/* ---- resize (SIGTTIN, SIGTTOU, `workers NAME +N`) ---- */

int master_resize(struct master *m, const char *name, int delta, char *msg, size_t msglen)
{
	struct generation *g = m->active;
	int found = 0;
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
			log_info("service %s: %d -> %d workers", s->conf->name, s->target, t);
		s->target = t;
		scoreboard_svc(s->sb)->target = t;
		if (msg)
			snprintf(msg, msglen, "ok %s %d", s->conf->name, t);
	}
	if (!found && msg)
		snprintf(msg, msglen, "error: no service named '%s'", name ? name : "");
	spawn_maintain(m, g, util_now_ns());
	return found ? 0 : -1;
}

/* ---- stop ---- */

static void stop_begin(struct master *m)
{
	int64_t now = util_now_ns();
	if (m->stopping)
		return;
	m->stopping = 1;
	notify_send("STOPPING=1");
	log_info("stopping gracefully (shutdown_timeout %.1f s)", m->conf->shutdown_timeout);
	m->stop_deadline_ns = now + secs_ns(m->conf->shutdown_timeout);
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
		spawn_reap(m);
		if (live_workers(m) > 0)
			poll(NULL, 0, 5);
	}
}

/* ---- the loop ---- */

static void handle_signals(struct master *m)
{
	if (sig_child) {
		sig_child = 0;
		spawn_read_ready(m);
		spawn_reap(m);
	}
	if (sig_stop_fast) {
		sig_stop_fast = 0;
		stop_fast(m);
		m->exit_now = 1;
		return;
	}
	if (sig_stop_graceful) {
		sig_stop_graceful = 0;
		stop_begin(m);
	}
	if (sig_reload) {
		sig_reload = 0;
		master_request_reload(m);
	}
	if (sig_reopen) {
		sig_reopen = 0;
		log_info("reopening log files");
		if (log_reopen() < 0)
			log_warn("reopen error log");
		for (int i = 0; i < scoreboard_nslots(); i++)
			if (m->workers[i].pid && !m->workers[i].exiting)
				kill(m->workers[i].pid, SIGUSR1);
	}
	while (sig_ttin > 0) {
		sig_ttin--;
		master_resize(m, NULL, +1, NULL, 0);
	}
	while (sig_ttou > 0) {
		sig_ttou--;
		master_resize(m, NULL, -1, NULL, 0);
	}
	if (sig_upgrade) {
		sig_upgrade = 0;
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

static void tick(struct master *m, int64_t now)
{
	spawn_check_deadlines(m, now);
	if (m->starting) {
		struct generation *g = m->starting;
		if (spawn_gen_ready(m, g)) {
			master_reload_done(m, 1, NULL);
		} else if (now >= g->deadline_ns) {
			char reason[256];
			snprintf(reason, sizeof(reason),
				 "the new workers were not ready within shutdown_timeout (%.1f s)",
				 g->conf->shutdown_timeout);
			master_reload_done(m, 0, reason);
		}
	}
	if (!m->stopping) {
		spawn_maintain(m, m->active, now);
		if (m->starting)
			spawn_maintain(m, m->starting, now);
		spawn_watchdog(m, now);
		if (m->reload_pending)
			reload_start(m);
		if (m->upgrade_pending && !m->starting) {
			m->upgrade_pending = 0;
			upgrade_start(m);
		}
	}
	upgrade_tick(m, now);
	notify_tick(m, now);
}

static int64_t next_deadline(struct master *m, int64_t now)
{
	int64_t next = now + 1000000000LL;	/* at least once a second */
	int64_t cand[6] = {
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

int master_loop(struct master *m)
{
	struct pollfd fds[4 + MAX_CONTROL_CLIENTS];
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
		/* Workers read the services' entries from the shared copy. */
		scoreboard_publish();
		if (wait > 0)
			util_coverage_flush();
		int rc = poll(fds, (nfds_t)n, wait > 0 ? (int)((wait + 999999) / 1000000) : 0);
		if (rc < 0 && errno != EINTR)
			log_warn("poll");
		if (rc > 0 && fds[0].revents)
			signals_drain();
		/* The new master's word first: it may start our graceful stop. */
		if (rc > 0 && fds[2].revents)
			upgrade_readable(m);
		/* Ready messages before deaths: a worker writes one before it can die. */
		spawn_read_ready(m);
		handle_signals(m);
		if (m->exit_now)
			break;
		if (rc > 0)
			control_handle(m, fds + ctl, n - ctl);
		tick(m, util_now_ns());
	}
	return m->startup_failed ? 1 : 0;
}
