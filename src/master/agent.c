/*
 * agent.c - what the master tells a load balancer: HAProxy's agent-check
 * answer for a service, and the lame-duck drain behind it.
 *
 * The answer is one line: `up NN% maxconn:N ready` while serving, where NN
 * is the service's idle-worker ratio smoothed over a few seconds (never 0%,
 * which HAProxy reads as drain) and N its live workers, so HAProxy queues
 * the excess instead of the kernel's backlog; `ready` ends a DRAIN that an
 * earlier `drain` left in HAProxy (`up` alone does not: after an undrain,
 * an upgrade or a restart the server would stay drained there); `drain`
 * while the master drains; `down#throttled` while crash back-off throttles
 * the service.
 * Draining (drain_delay on a graceful stop, or `drain` on the control
 * socket) only changes what the master says: workers keep serving.
 * Entry points: agent_answer, agent_tick; agent_smooth and agent_weight
 * are pure. The drain itself is in drain.c.
 */
#include "master/master.h"

#include <string.h>

#define SMOOTH_TAU 2.0		/* seconds: the idle ratio's time constant */

/* Smoothed idle ratio per service name. */
struct idle_avg {
	char name[64];
	double ratio;
	int64_t at_ns;
};
static struct idle_avg *avgs;	/* the master's own (arena.c), on first use */

/*
 * e^-x for x >= 0, without libm (the daemon links no libm: one library
 * fewer to map and relocate at start and to copy at every fork): halve x
 * until it is at most 1/64, sum the Taylor series there, square back.
 * Within 1e-12 of exp(-x) (checked in t/check_fleet.c).
 */
static double exp_neg(double x)
{
	if (!(x > 0))
		return 1.0;
	if (x > 745.0)		/* below the smallest double */
		return 0.0;
	int k = 0;
	while (x > 1.0 / 64) {
		x /= 2;
		k++;
	}
	double term = 1.0, sum = 1.0;
	for (int i = 1; i <= 10; i++) {
		term *= -x / i;
		sum += term;
	}
	while (k-- > 0)
		sum *= sum;
	return sum;
}

/* Exponential moving average: sample weighs 1 - e^(-dt/tau). */
double agent_smooth(double prev, double sample, double dt, double tau)
{
	if (dt <= 0)
		return prev;
	if (tau <= 0)
		return sample;
	double a = 1.0 - exp_neg(dt / tau);
	return prev + a * (sample - prev);
}

/* The weight in percent for an idle ratio: 1 to 100, never 0 (0% means drain). */
int agent_weight(double idle_ratio)
{
	if (!(idle_ratio > 0))	/* also NaN */
		return 1;
	if (idle_ratio >= 1.0)
		return 100;
	int w = (int)(idle_ratio * 100.0 + 0.5);	/* rounded half up */
	return w < 1 ? 1 : w;
}

struct active_svc {
	struct master *m;
	int v;
};

/* Count only the active generation's service v, ready and not told to go. */
static int judge_live(int slot, int state, void *arg)
{
	const struct active_svc *a = arg;
	const struct worker_rec *r = &a->m->workers[slot];
	if (!r->pid || r->gen != a->m->active || r->svc != a->v || r->exiting || !r->ready)
		return SB_FREE;
	return state;
}

/* Live (ready, not leaving) and idle workers of the active service v. */
static void count(struct master *m, int v, int *live, int *idle)
{
	struct active_svc a = { m, v };
	struct sb_count c;
	scoreboard_count(m->active->svcs[v].sb, m->active->id, judge_live, &a, &c);
	*live = c.workers;
	*idle = c.idle;
}

static struct idle_avg *avg_of(const char *name, int create)
{
	struct idle_avg *free_at = NULL;
	if (!avgs)
		avgs = arena_alloc(SB_MAX_SERVICES * sizeof(*avgs));
	for (int i = 0; i < SB_MAX_SERVICES; i++) {
		if (avgs[i].name[0] && strcmp(avgs[i].name, name) == 0)
			return &avgs[i];
		if (!avgs[i].name[0] && !free_at)
			free_at = &avgs[i];
	}
	if (!create)
		return NULL;
	if (!free_at)
		free_at = &avgs[0];	/* more names than services: forget one */
	memset(free_at, 0, sizeof(*free_at));
	snprintf(free_at->name, sizeof(free_at->name), "%s", name);
	free_at->ratio = 1.0;
	return free_at;
}

void agent_tick(struct master *m, int64_t now)
{
	struct generation *g = m->active;
	/* Shared memory is anyone's to write: say it again every tick. */
	scoreboard->draining = m->lame_duck;
	for (int v = 0; g && v < g->nsvcs; v++) {
		if (!g->svcs[v].conf->agent_check)
			continue;
		int live, idle;
		count(m, v, &live, &idle);
		struct idle_avg *a = avg_of(g->svcs[v].conf->name, 1);
		double sample = live ? (double)idle / live : 0.0;
		double dt = a->at_ns ? (double)(now - a->at_ns) / 1e9 : 0;
		a->ratio = a->at_ns ? agent_smooth(a->ratio, sample, dt, SMOOTH_TAU) : sample;
		a->at_ns = now;
	}
}

void agent_answer(struct master *m, const char *svc, char *out, size_t len)
{
	struct generation *g = m->active;
	int v;
	for (v = 0; g && v < g->nsvcs; v++)
		if (strcmp(g->svcs[v].conf->name, svc) == 0)
			break;
	if (!g || v == g->nsvcs) {
		snprintf(out, len, "down#no such service\n");
		return;
	}
	if (m->lame_duck || m->stopping) {
		snprintf(out, len, "drain\n");
		return;
	}
	int64_t now = util_now_ns();
	if (spawn_throttled(&g->svcs[v], now)) {
		snprintf(out, len, "down#throttled: workers keep crashing\n");
		return;
	}
	int live, idle;
	count(m, v, &live, &idle);
	agent_tick(m, now);
	struct idle_avg *a = avg_of(svc, 0);
	double ratio = a ? a->ratio : (live ? (double)idle / live : 0.0);
	snprintf(out, len, "up %d%% maxconn:%d ready\n", agent_weight(ratio), live > 0 ? live : 1);
}
