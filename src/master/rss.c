/*
 * rss.c - the master's side of max_rss. A worker over max_rss asks to be
 * recycled itself after its connection (worker.c), staggered like
 * max_requests (spawn.c); this watchdog catches one that cannot ask, far
 * over the limit (RSS_FAR_FACTOR times it), from /proc, and ends it like
 * the request_timeout watchdog does. Entry point: rss_watchdog.
 */
#include "master/master.h"

#include <signal.h>

#define RSS_FAR_FACTOR 2
#define RSS_GRACE_NS 1000000000LL	/* SIGTERM, then SIGKILL this much later */
#define RSS_EVERY_NS 500000000LL	/* /proc is read at most this often */

void rss_watchdog(struct master *m, int64_t now)
{
	static int64_t last PF_FORK_WRITTEN;
	if (now - last < RSS_EVERY_NS)
		return;
	last = now;
	for (int i = 0; i < scoreboard_nslots(); i++) {
		struct worker_rec *r = &m->workers[i];
		if (!r->pid || r->exiting || !r->gen)
			continue;
		const struct svc_conf *c = r->gen->svcs[r->svc].conf;
		if (c->max_rss <= 0)
			continue;
		long long rss = util_rss_bytes(r->pid);
		if (rss <= RSS_FAR_FACTOR * c->max_rss)
			continue;
		log_error("service %s: worker %d uses %lld bytes, far over max_rss %lld: ending it",
			  c->name, (int)r->pid, rss, c->max_rss);
		r->reason = EXIT_MEMORY;
		spawn_retire(m, i, SIGTERM, now + RSS_GRACE_NS);
	}
}
