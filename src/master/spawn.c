/*
 * spawn.c - the master's side of a worker's life: fork it into a
 * scoreboard slot and a pool place, read its "ready" message, reap it,
 * refill its place with a back-off when it keeps dying, and keep each
 * service's pool at its target (fixed, or sized by min/max spare).
 * Entry points: spawn_worker, spawn_read_ready,
 * spawn_maintain, spawn_retire, spawn_signal_gen, spawn_check_deadlines.
 */
#include "master/master.h"
#include "master/policy.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int spawn_worker(struct master *m, struct generation *g, int svc, int pos)
{
	struct service *s = &g->svcs[svc];
	static struct log_limit no_slot, no_fork;
	unsigned long rep;
	char suffix[64];
	int slot = scoreboard_alloc_slot(s->sb, g->id);
	if (slot < 0) {
		/* Every place retries this: one line a second, with the count of the others. */
		if (log_limit_pass(&no_slot, util_now_ns(), LOG_LIMIT_INTERVAL_NS, &rep))
			log_error("service %s: no free scoreboard slot (%d in use)%s", s->conf->name,
				  SB_MAX_SLOTS, log_limit_suffix(rep, suffix, sizeof(suffix)));
		g->slot_shortage++;
		errno = ENOSPC;
		return -1;
	}
	struct sb_slot *sl = &scoreboard->slots[slot];

	struct pf_worker w = {
		.svc = s->conf, .conf = g->conf, .generation = g->id, .slot = sl,
		.slot_index = slot, .sb_service = s->sb, .handler = s->conf->handler,
		.started_ns = util_now_ns(),	/* the worker's first clock read is then its first request's */
	};
	int lfd = m->listeners[s->listener].fd, ready_fd = m->ready_pipe[1];
	pid_t master_pid = m->pid;
	sigset_t old;
	signals_block_all(&old);
	pid_t pid = fork();
	if (pid == 0) {
		fds_close_all(lfd);	/* every descriptor of the master's but ours */
		worker_run(&w, lfd, ready_fd, master_pid, &old);
	}
	signals_restore(&old);
	if (pid < 0) {
		int err = errno;
		if (log_limit_pass(&no_fork, util_now_ns(), LOG_LIMIT_INTERVAL_NS, &rep)) {
			log_limit_suffix(rep, suffix, sizeof(suffix));
			errno = err;
			log_warn("service %s: fork%s", s->conf->name, suffix);
		}
		scoreboard_free_slot(slot);
		return -1;
	}
	scoreboard_set_pid(slot, pid);
	struct worker_rec *r = &m->workers[slot];
	memset(r, 0, sizeof(*r));
	r->pid = pid;
	r->gen = g;
	r->svc = svc;
	r->pos = pos;
	r->started_ns = w.started_ns;
	if (pos >= 0)
		s->pos[pos].slot = slot;
	g->live++;
	scoreboard_svc(s->sb)->spawns++;
	log_debug("service %s: worker %d started (generation %u, slot %d)", s->conf->name, (int)pid,
		  g->id, slot);
	return slot;
}

/*
 * Drain the workers' pipe: a slot number says that worker reached accept();
 * -1 - slot only wakes the master, which then finds in the scoreboard what
 * needs doing (a worker reached max_requests, spare workers ran short).
 */
void spawn_read_ready(struct master *m)
{
	int32_t msg;
	for (;;) {
		ssize_t n = read(m->ready_pipe[0], &msg, sizeof(msg));
		if (n != (ssize_t)sizeof(msg))
			return;
		if (msg >= 0 && msg < SB_MAX_SLOTS && m->workers[msg].pid && !m->workers[msg].ready) {
			m->workers[msg].ready = 1;
			log_debug("worker %d ready", (int)m->workers[msg].pid);
		}
	}
}

/* Ask the worker in `slot` to stop (SIGTERM: gracefully), SIGKILL at kill_at. */
void spawn_retire(struct master *m, int slot, int sig, int64_t kill_at)
{
	struct worker_rec *r = &m->workers[slot];
	if (!r->pid)
		return;
	if (!r->exiting || sig == SIGKILL)
		kill(r->pid, sig);
	r->exiting = 1;
	/* The status shows it leaving (a busy one still shows its connection). */
	scoreboard->slots[slot].state = SB_EXITING;
	if (kill_at && (!r->kill_at_ns || kill_at < r->kill_at_ns))
		r->kill_at_ns = kill_at;
	/* Its place is free for a successor as soon as it is told to go. */
	if (r->pos >= 0 && r->gen) {
		struct pool_pos *p = &r->gen->svcs[r->svc].pos[r->pos];
		if (p->slot == slot)
			p->slot = -1;
		r->pos = -1;
	}
}

void spawn_signal_gen(struct master *m, struct generation *g, int sig, int64_t kill_at)
{
	for (int i = 0; i < scoreboard_nslots(); i++)
		if (m->workers[i].pid && m->workers[i].gen == g)
			spawn_retire(m, i, sig, kill_at);
}

int spawn_gen_ready(struct master *m, struct generation *g)
{
	for (int v = 0; v < g->nsvcs; v++) {
		struct service *s = &g->svcs[v];
		for (int p = 0; p < s->target; p++) {
			int slot = s->pos[p].slot;
			if (slot < 0 || !m->workers[slot].ready)
				return 0;
		}
	}
	return 1;
}

static int slot_idle(struct master *m, int slot)
{
	int st = scoreboard->slots[slot].state;
	return !m->workers[slot].exiting && (st == SB_IDLE || st == SB_STARTING);
}

struct gen_svc {
	struct master *m;
	struct generation *g;
	int svc;		/* index into g->svcs, or -1 with name */
	const char *name;
	int exiting_too;	/* count workers told to go as well */
};

/* Count g's service (by index or by name) only, by the master's records. */
static int judge_gen_svc(int slot, int state, void *arg)
{
	const struct gen_svc *q = arg;
	const struct worker_rec *r = &q->m->workers[slot];
	if (!r->pid || r->gen != q->g || (r->exiting && !q->exiting_too))
		return SB_FREE;
	if (q->name ? strcmp(q->g->svcs[r->svc].conf->name, q->name) != 0 : r->svc != q->svc)
		return SB_FREE;
	return state;
}

/* Idle (or starting) workers of g's service v; *live gets all its workers not told to go. */
static int count_idle(struct master *m, struct generation *g, int svc, int *live)
{
	struct gen_svc q = { m, g, svc, NULL, 0 };
	struct sb_count c;
	scoreboard_count(g->svcs[svc].sb, g->id, judge_gen_svc, &q, &c);
	*live = c.workers;
	/* A starting worker is about to be idle: a spare too (as slot_idle says). */
	return c.idle + c.starting;
}

/* Spare capacity: idle workers plus the empty places about to be refilled. */
static int count_spares(struct master *m, struct generation *g, int v)
{
	struct service *s = &g->svcs[v];
	int live;
	int spares = count_idle(m, g, v, &live);
	for (int p = 0; p < s->target; p++)
		if (s->pos[p].slot < 0)
			spares++;
	return spares;
}

/*
 * Workers of the draining generation's service of the same name: they still
 * hold processes (and connections), so they count towards max_workers.
 */
static int draining_live(struct master *m, struct generation *g, int v)
{
	struct generation *d = m->draining;
	if (!d || d == g)
		return 0;
	struct gen_svc q = { m, d, -1, g->svcs[v].conf->name, 1 };
	struct sb_count c;
	scoreboard_count(SB_ANY_SERVICE, d->id, judge_gen_svc, &q, &c);
	return c.workers;
}

/* Is some place of the service in crash back-off? */
int spawn_throttled(struct service *s, int64_t now)
{
	for (int p = 0; p < s->target; p++)
		if (policy_throttled(s->pos[p].crashes, s->pos[p].next_spawn_ns, now))
			return 1;
	return 0;
}

/* What dynamic sizing sees of g's service v now. */
static struct policy_pool_view pool_view(struct master *m, struct generation *g, int v,
					 int64_t now)
{
	struct service *s = &g->svcs[v];
	return (struct policy_pool_view){
		.spares = count_spares(m, g, v),
		.min_spare = s->conf->min_spare,
		.max_spare = s->conf->max_spare,
		.max_workers = s->conf->max_workers,
		.draining = draining_live(m, g, v),
		.throttled = spawn_throttled(s, now),
	};
}

/* Dynamic sizing (policy_size) of g's service v, logged. */
static void size_dynamic(struct master *m, struct generation *g, int v, int64_t now)
{
	struct service *s = &g->svcs[v];
	const struct svc_conf *c = s->conf;
	struct policy_pool_view view = pool_view(m, g, v, now);
	struct policy_pool pool = { s->target, s->spawn_rate, s->last_spawn_ns };
	enum policy_step step = policy_size(&pool, &view, now);
	s->target = pool.target;
	s->spawn_rate = pool.rate;
	s->last_spawn_ns = pool.last_step_ns;
	if (step == POLICY_GROW)
		log_info("service %s: %d idle < min_spare %d: growing to %d workers", c->name,
			 view.spares, c->min_spare, s->target);
	else if (step == POLICY_SHRINK)
		log_info("service %s: %d idle > max_spare %d: shrinking to %d workers", c->name,
			 view.spares, c->max_spare, s->target);
}

/* Swap places a and b of a service (worker and back-off move together). */
static void swap_places(struct master *m, struct service *s, int a, int b)
{
	struct pool_pos tmp = s->pos[a];
	s->pos[a] = s->pos[b];
	s->pos[b] = tmp;
	if (s->pos[a].slot >= 0)
		m->workers[s->pos[a].slot].pos = a;
	if (s->pos[b].slot >= 0)
		m->workers[s->pos[b].slot].pos = b;
}

/*
 * Retire the workers in places at or above the target. A busy one there
 * first trades places with an idle one below the target, so that shrinking
 * retires idle workers and lets busy ones serve on.
 */
static void retire_surplus(struct master *m, struct generation *g, int v, int64_t now)
{
	struct service *s = &g->svcs[v];
	int kill_after = g->conf->shutdown_timeout > 0;
	for (int p = s->conf->max_workers - 1; p >= s->target; p--) {
		int slot = s->pos[p].slot;
		if (slot < 0)
			continue;
		for (int q = 0; q < s->target && !slot_idle(m, slot); q++) {
			int other = s->pos[q].slot;
			if (other >= 0 && slot_idle(m, other)) {
				swap_places(m, s, p, q);
				slot = other;
			}
		}
		spawn_retire(m, slot, SIGTERM,
			     kill_after ? now + (int64_t)(g->conf->shutdown_timeout * 1e9) : 0);
	}
}

/*
 * max_requests: one asking worker per service at a time gets a successor,
 * started in no place; only once it is ready does it take the old
 * worker's place and the old one retire, so recycling never shrinks the
 * pool. A successor that cannot start (its handler's init fails) leaves the
 * old worker serving past max_requests: logged as an error, shown in the
 * status (recycle_held), retried with the crash back-off.
 */
static void recycle_one(struct master *m, struct generation *g, int v, int64_t now)
{
	struct service *s = &g->svcs[v];
	struct sb_service *sv = scoreboard_svc(s->sb);
	if (s->recycle_new >= 0) {
		/* A successor is starting: once ready, it takes the old worker's place. */
		int old = s->recycle_old, heir = s->recycle_new;
		struct worker_rec *o = &m->workers[old < 0 ? heir : old], *h = &m->workers[heir];
		if (!h->ready)
			return;
		s->recycle_old = s->recycle_new = -1;
		if (s->recycle_failures)
			log_info("service %s: recycling resumed: a successor started after %d failure(s)",
				 s->conf->name, s->recycle_failures);
		s->recycle_failures = 0;
		sv->recycle_held = 0;
		if (old < 0 || !o->pid || o->exiting || o->pos < 0 || s->pos[o->pos].slot != old) {
			/* The old worker already left its place: the successor fills an empty one, or leaves. */
			for (int p = 0; p < s->target; p++)
				if (s->pos[p].slot < 0) {
					s->pos[p].slot = heir;
					h->pos = p;
					return;
				}
			spawn_retire(m, heir, SIGTERM, now + (int64_t)(g->conf->shutdown_timeout * 1e9));
			return;
		}
		s->pos[o->pos].slot = heir;
		h->pos = o->pos;
		o->pos = -1;
		o->recycling = 1;
		sv->recycles++;
		/* max_rss or max_requests: the worker said which (only the metrics' label). */
		o->reason = scoreboard->slots[old].recycle == SB_RECYCLE_MEMORY && s->conf->max_rss > 0 ?
			    EXIT_MEMORY : EXIT_RECYCLE;
		if (o->reason == EXIT_MEMORY)
			log_info("service %s: recycling worker %d: resident memory over max_rss "
				 "(%lld bytes; successor %d ready)", s->conf->name, (int)o->pid,
				 s->conf->max_rss, (int)h->pid);
		else
			log_info("service %s: recycling worker %d after %llu connections (successor %d ready)",
				 s->conf->name, (int)o->pid,
				 (unsigned long long)scoreboard->slots[old].served, (int)h->pid);
		spawn_retire(m, old, SIGTERM, now + (int64_t)(g->conf->shutdown_timeout * 1e9));
		return;
	}
	if (now < s->recycle_next_ns)
		return;
	struct policy_worker ws[SB_MAX_SLOTS];
	int slots[SB_MAX_SLOTS];
	int n = 0;
	for (int i = 0; i < scoreboard_nslots(); i++) {
		struct worker_rec *r = &m->workers[i];
		if (!r->pid || r->gen != g || r->svc != v)
			continue;
		ws[n] = (struct policy_worker){ r->ready, r->exiting, scoreboard->slots[i].recycle };
		slots[n++] = i;
	}
	int full = 1;
	for (int p = 0; p < s->target; p++)
		if (s->pos[p].slot < 0)
			full = 0;
	int k = policy_recycle_pick(ws, n, full);
	if (k < 0 || k >= n)
		return;
	int old = slots[k];
	if (m->workers[old].pos < 0)
		return;
	/* The successor first, in no place yet: the pool never dips for a recycle. */
	int heir = spawn_worker(m, g, v, -1);
	if (heir < 0) {
		s->recycle_next_ns = now + POLICY_BACKOFF_FIRST_NS;
		return;
	}
	s->recycle_old = old;
	s->recycle_new = heir;
}

/*
 * Start a worker in every empty place below the target whose back-off is
 * over. Places beyond the configured start size are only filled while the
 * service, draining generation included, stays within max_workers.
 */
static void fill_places(struct master *m, struct generation *g, int v, int64_t now)
{
	struct service *s = &g->svcs[v];
	int live = -1;
	for (int p = 0; p < s->target; p++) {
		struct pool_pos *pp = &s->pos[p];
		if (pp->slot >= 0) {
			/* A worker that has run healthily for a while clears its place's back-off. */
			struct worker_rec *r = &m->workers[pp->slot];
			if (pp->crashes && r->ready && now - r->started_ns >= POLICY_HEALTHY_RUN_NS)
				pp->crashes = 0;
			continue;
		}
		if (pp->next_spawn_ns > now)
			continue;
		/* A starting generation is filled once; a death there fails it. */
		if (g->state == GEN_STARTING && pp->crashes)
			continue;
		if (p >= s->conf->workers) {
			if (live < 0) {
				count_idle(m, g, v, &live);
				live += draining_live(m, g, v);
			}
			if (!policy_may_fill(p, s->conf->workers, live, s->conf->max_workers))
				continue;
		}
		if (spawn_worker(m, g, v, p) < 0)
			pp->next_spawn_ns = now + POLICY_BACKOFF_FIRST_NS;
		else if (live >= 0)
			live++;
	}
}

void spawn_maintain(struct master *m, struct generation *g, int64_t now)
{
	if (!g || m->stopping)
		return;
	for (int v = 0; v < g->nsvcs; v++) {
		struct service *s = &g->svcs[v];
		if (g->state == GEN_ACTIVE && s->conf->dynamic)
			size_dynamic(m, g, v, now);
		if (g->state == GEN_ACTIVE && (s->conf->max_requests > 0 || s->conf->max_rss > 0))
			recycle_one(m, g, v, now);
		fill_places(m, g, v, now);
		retire_surplus(m, g, v, now);
		if (g->state != GEN_ACTIVE)
			continue;
		struct sb_service *sv = scoreboard_svc(s->sb);
		int throttled = spawn_throttled(s, now);
		if (throttled != sv->throttled) {
			if (throttled)
				log_warnx("service %s: throttled: workers keep crashing, "
					  "restarting them with a back-off", s->conf->name);
			else
				log_info("service %s: no longer throttled", s->conf->name);
		}
		sv->throttled = throttled;
		sv->target = s->target;
	}
}

/* The earliest time something in g needs the master (0: nothing). */
int64_t spawn_next_event(struct master *m, struct generation *g, int64_t now)
{
	int64_t next = 0;
	if (!g)
		return 0;
	for (int v = 0; v < g->nsvcs; v++) {
		struct service *s = &g->svcs[v];
		for (int p = 0; p < s->target; p++)
			if (s->pos[p].slot < 0 && s->pos[p].next_spawn_ns > now &&
			    (!next || s->pos[p].next_spawn_ns < next))
				next = s->pos[p].next_spawn_ns;
		/* request_timeout: the watchdog acts when the oldest connection reaches it. */
		for (int i = 0; s->conf->request_timeout > 0 && i < scoreboard_nslots(); i++) {
			struct worker_rec *r = &m->workers[i];
			int64_t due;
			if (!r->pid || r->gen != g || r->svc != v || r->exiting || !r->ready)
				continue;
			policy_watchdog(scoreboard->slots[i].state == SB_BUSY,
					scoreboard->slots[i].conn_start_ns, s->conf->request_timeout,
					now, &due);
			if (due && (!next || due < next))
				next = due;
		}
		/* While idle workers are short, the next growth step is due soon. */
		if (s->conf->dynamic) {
			struct policy_pool pool = { s->target, s->spawn_rate, s->last_spawn_ns };
			struct policy_pool_view view = pool_view(m, g, v, now);
			int64_t step = policy_size_next(&pool, &view, now);
			if (step && (!next || step < next))
				next = step;
		}
	}
	return next;
}

/* SIGKILL every worker past its deadline. */
void spawn_check_deadlines(struct master *m, int64_t now)
{
	for (int i = 0; i < scoreboard_nslots(); i++) {
		struct worker_rec *r = &m->workers[i];
		if (r->pid && r->kill_at_ns && now >= r->kill_at_ns) {
			log_warnx("worker %d did not stop in time: killing it", (int)r->pid);
			kill(r->pid, SIGKILL);
			r->kill_at_ns = 0;
		}
	}
}

/*
 * request_timeout: end a worker busy on one connection for too long. A
 * worker not yet ready has taken no connection, whatever its slot says (its
 * modules' init may already have written there): the master's own record of
 * the ready message decides, and a worker slow to start is the business of
 * the generation's start-up, not of the watchdog.
 */
void spawn_watchdog(struct master *m, int64_t now)
{
	for (int i = 0; i < scoreboard_nslots(); i++) {
		struct worker_rec *r = &m->workers[i];
		if (!r->pid || r->exiting || !r->gen || !r->ready)
			continue;
		const struct svc_conf *c = r->gen->svcs[r->svc].conf;
		struct sb_view s;
		int64_t due;
		if (!scoreboard_view(i, &s))
			continue;
		int64_t start = s.conn_start_ns;
		if (!policy_watchdog(s.state == SB_BUSY, start, c->request_timeout, now, &due))
			continue;
		double age = (double)(now - start) / 1e9;
		log_error("service %s: worker %d busy for %.1f s on %s (request_timeout %.1f s): ending it",
			  c->name, (int)r->pid, age, s.peer[0] ? s.peer : "-", c->request_timeout);
		scoreboard_svc(r->gen->svcs[r->svc].sb)->watchdog_kills++;
		r->reason = EXIT_WATCHDOG;
		/* SIGKILL after a grace period; watchdog kills are not crashes. */
		spawn_retire(m, i, SIGTERM, now + POLICY_WATCHDOG_GRACE_NS);
		/* The replacement starts at once, in the place just vacated. */
		if (r->gen->state == GEN_ACTIVE)
			fill_places(m, r->gen, r->svc, now);
	}
}
