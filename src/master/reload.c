/*
 * reload.c - reload as a transaction: the new configuration is built
 * beside the live one (reload_start), its generation starts, and
 * reload_done commits it (the old generation drains) or drops it (the old
 * one never stopped serving). The first generation's start-up is the same
 * transaction, and its failure stops the master. Entry points:
 * reload_request, reload_start, reload_done.
 */
#include "master/daemon.h"
#include "master/master.h"
#include "master/pidfile.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* A changed pid file, error log, control socket or endpoints take effect now. */
static void apply_top_level(struct master *m, struct pf_config *old, struct pf_config *c)
{
	if (log_open(c->error_log, c->log_level) < 0)
		log_warn("open error log %s (keeping the old one)", c->error_log);
	if (old && strcmp(old->pid_file, c->pid_file) != 0) {
		unlink(old->pid_file);
		pidfile_write(c->pid_file, m->pid);
	}
	const char *want = c->control_socket ? c->control_socket : "";
	const char *have = m->control_path;
	if (strcmp(want, have) != 0) {
		control_close(m, 1);
		if (c->control_socket && control_open(m, c->control_socket) < 0)
			log_warn("control socket %s", c->control_socket);
	}
	char err[512];
	if (old && endpoints_apply(c, err, sizeof(err)) < 0)
		log_error("%s (keeping the old metrics and agent_check sockets)", err);
}

void reload_done(struct master *m, int ok, const char *reason)
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
			old->deadline_ns = now + util_secs_ns(g->conf->shutdown_timeout);
			spawn_signal_gen(m, old, SIGTERM, old->deadline_ns);
		}
		generation_prune_listeners(m, NULL);
		generation_publish(m, g);
		apply_top_level(m, old_conf, g->conf);
		if (old && old->live == 0)
			generation_free(m, old);
		if (g->startup) {
			log_info("ready: %d service(s), generation %u", g->nsvcs, g->id);
			daemon_report(&m->report_fd, NULL);
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
					     now + util_secs_ns(g->conf->shutdown_timeout));
		}
		if (g->startup) {
			log_error("start-up failed: %s", reason);
			m->startup_failed = 1;
			m->stopping = 1;
			m->stop_deadline_ns = now + util_secs_ns(g->conf->shutdown_timeout);
		} else {
			log_error("reload failed: %s", reason);
		}
		snprintf(m->reload_result, sizeof(m->reload_result), "failed: %s", reason);
		generation_prune_listeners(m, g);
		if (g->live == 0)
			generation_free(m, g);
		else
			m->draining = g;
	}
	if (!startup) {
		metrics_reload_done(ok);
		control_reload_done(m, m->reload_result);
		notify_send("READY=1\nSTATUS=reload %s", ok ? "succeeded" : "failed");
	}
}

void reload_start(struct master *m)
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
		metrics_reload_done(0);
		control_reload_done(m, m->reload_result);
		notify_send("READY=1\nSTATUS=reload failed");
		return;
	}
	errlist_free(&errs);
	struct generation *g = generation_create(m, c, reason, sizeof(reason));
	if (!g) {
		/* generation_create's failure path already freed c with its generation. */
		log_error("reload failed: %s", reason);
		snprintf(m->reload_result, sizeof(m->reload_result), "failed: %s", reason);
		metrics_reload_done(0);
		control_reload_done(m, m->reload_result);
		notify_send("READY=1\nSTATUS=reload failed");
		return;
	}
	g->state = GEN_STARTING;
	g->deadline_ns = now + util_secs_ns(c->shutdown_timeout);
	spawn_maintain(m, g, now);
}

void reload_request(struct master *m)
{
	m->reload_pending = 1;
	reload_start(m);
}
