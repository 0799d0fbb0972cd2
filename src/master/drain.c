/*
 * drain.c - the lame-duck drain: the agent check answers `drain` and the
 * health check 503 while workers keep serving; set by the `drain` control
 * command or, for drain_delay, ahead of a graceful stop. Entry points:
 * drain_set, drain_hold_stop, drain_stop_due.
 */
#include "master/master.h"

void drain_set(struct master *m, int on, const char *why)
{
	if (m->lame_duck != on)
		log_info("%s (%s)", on ? "draining: the agent says drain, health answers 503, "
			 "workers keep serving" : "no longer draining", why);
	m->lame_duck = on;
	scoreboard->draining = on;
}

/*
 * A graceful stop with drain_delay first drains for that long; the stop
 * proceeds when drain_stop_due says so. An upgraded master hands its
 * sockets over instead: it never drains.
 */
int drain_hold_stop(struct master *m, int64_t now)
{
	if (m->drain_stop_ns)
		return now < m->drain_stop_ns;
	if (m->handed_over || !m->conf || m->conf->drain_delay <= 0)
		return 0;
	m->drain_stop_ns = now + (int64_t)(m->conf->drain_delay * 1e9);
	char why[96];
	snprintf(why, sizeof(why), "graceful stop in %.1f s (drain_delay)", m->conf->drain_delay);
	drain_set(m, 1, why);
	return 1;
}

int drain_stop_due(struct master *m, int64_t now)
{
	return m->drain_stop_ns && !m->stopping && now >= m->drain_stop_ns;
}
