/*
 * reap.c - the master's side of a worker's end: reap_child collects one
 * dead child and says what it was (the master decides what the death
 * means), reap_crashed refills an unexpected death's place at once or
 * after a back-off (policy_backoff), and reap_release frees its place,
 * record and scoreboard slot, handing a recycled worker's place to its
 * successor. Entry points: reap_child, reap_crashed, reap_release.
 */
#include "master/master.h"
#include "master/policy.h"

#include <string.h>
#include <sys/wait.h>

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d%s", WEXITSTATUS(status),
			 WEXITSTATUS(status) == WORKER_EXIT_INIT ? " (handler init failed)" : "");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "ended with status %d", status);
}

/* An unexpected death: refill the place, at once the first time, then with back-off. */
static void crashed(struct worker_rec *r, const char *how, int64_t now)
{
	struct generation *g = r->gen;
	struct service *s = &g->svcs[r->svc];
	scoreboard_svc(s->sb)->crashes++;
	log_error("service %s: worker %d %s", s->conf->name, (int)r->pid, how);
	if (r->pos < 0)
		return;
	struct pool_pos *p = &s->pos[r->pos];
	int64_t delay = policy_backoff(&p->crashes, now - r->started_ns);
	if (delay > 0)
		log_warnx("service %s: throttled: restarting a crashed worker in %.1f s "
			  "(crash %d in a row)", s->conf->name, (double)delay / 1e9, p->crashes);
	p->next_spawn_ns = now + delay;
}

/*
 * A worker of g died: if it was a successor that never got ready, the old
 * worker serves on and the next attempt waits out a back-off (loudly: the
 * service now runs past max_requests); if it was the worker being recycled,
 * its successor takes its place at once.
 */
static void recycle_reaped(struct master *m, struct generation *g, int slot, const char *how,
			   int64_t now)
{
	struct worker_rec *r = &m->workers[slot];
	struct service *s = &g->svcs[r->svc];
	if (s->recycle_new == slot) {
		s->recycle_new = -1;
		if (r->ready) {
			s->recycle_old = -1;
			return;
		}
		struct sb_service *sv = scoreboard_svc(s->sb);
		int64_t delay = policy_backoff(&s->recycle_failures, 0);
		if (delay < POLICY_BACKOFF_FIRST_NS)
			delay = POLICY_BACKOFF_FIRST_NS;
		s->recycle_next_ns = now + delay;
		sv->recycle_held = 1;
		log_error("service %s: cannot recycle worker %d: its successor %d %s; it serves on "
			  "past max_requests (next try in %.1f s, failure %d in a row)", s->conf->name,
			  s->recycle_old >= 0 ? (int)m->workers[s->recycle_old].pid : 0, (int)r->pid,
			  how, (double)delay / 1e9, s->recycle_failures);
		s->recycle_old = -1;
	} else if (s->recycle_old == slot) {
		/* The successor inherits the place now (or finds one when ready). */
		s->recycle_old = -1;
		int heir = s->recycle_new;
		if (heir >= 0 && r->pos >= 0 && s->pos[r->pos].slot == slot) {
			s->pos[r->pos].slot = heir;
			m->workers[heir].pos = r->pos;
			r->pos = -1;
			s->recycle_new = -1;
		}
	}
}

int reap_child(struct master *m, struct reap_death *d)
{
	int status;
	pid_t pid = waitpid(-1, &status, WNOHANG);
	if (pid <= 0)
		return 0;
	memset(d, 0, sizeof(*d));
	d->pid = pid;
	d->slot = -1;
	for (int i = 0; i < scoreboard_nslots(); i++)
		if (m->workers[i].pid == pid) {
			d->slot = i;
			break;
		}
	describe_status(status, d->how, sizeof(d->how));
	if (d->slot < 0)
		return 1;
	struct worker_rec *r = &m->workers[d->slot];
	d->gen = r->gen;
	d->svc = r->svc;
	d->ready = r->ready;
	d->exiting = r->exiting;
	d->init_failed = WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_INIT;
	d->why = r->exiting ? (enum exit_reason)r->reason : EXIT_CRASH;
	return 1;
}

void reap_crashed(struct master *m, const struct reap_death *d, int64_t now)
{
	crashed(&m->workers[d->slot], d->how, now);
}

void reap_release(struct master *m, const struct reap_death *d, int64_t now)
{
	int slot = d->slot;
	struct worker_rec *r = &m->workers[slot];
	struct generation *g = r->gen;
	if (d->init_failed && !d->exiting && g->state != GEN_STARTING)
		scoreboard_svc(g->svcs[r->svc].sb)->init_failures++;
	recycle_reaped(m, g, slot, d->how, now);
	if (r->pos >= 0) {
		struct pool_pos *p = &g->svcs[r->svc].pos[r->pos];
		if (p->slot == slot)
			p->slot = -1;
	}
	memset(r, 0, sizeof(*r));
	scoreboard_free_slot(slot);
	g->live--;
}
