/*
 * generation.c - one configuration's running shape: its services, their
 * pool places and the listeners they use. Listeners are shared between
 * generations by address: a new one reuses an unchanged address, and a
 * listener is closed when no live generation uses it any more. Entry
 * points: generation_create, generation_publish, generation_prune_listeners,
 * generation_free.
 */
#include "master/master.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
void generation_prune_listeners(struct master *m, const struct generation *except)
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

struct generation *generation_create(struct master *m, struct pf_config *conf, char *err,
				     size_t errlen)
{
	/* Say so now, rather than after shutdown_timeout of "not ready". */
	int need = 0, room = scoreboard_free_slots();
	for (int v = 0; v < conf->nservices; v++)
		need += conf->services[v].workers;
	if (need > room) {
		snprintf(err, errlen, "the scoreboard has %d free slots of %d (the running workers hold "
			 "the rest): not enough for the new generation's %d workers", room, SB_MAX_SLOTS,
			 need);
		if (conf != m->conf)	/* as generation_free would */
			config_free(conf);
		return NULL;
	}
	/*
	 * One block of the master's own memory (arena.c) holds the generation,
	 * its services and their pool places: the master changes them between
	 * two forks, which must copy no page into the workers forked before.
	 */
	size_t size = sizeof(struct generation) + (size_t)conf->nservices * sizeof(struct service);
	for (int v = 0; v < conf->nservices; v++)
		size += (size_t)conf->services[v].max_workers * sizeof(struct pool_pos);
	char *block = arena_alloc(size);
	struct generation *g = (struct generation *)block;
	g->id = ++m->next_gen;
	g->conf = conf;
	g->nsvcs = conf->nservices;
	g->svcs = (struct service *)(block + sizeof(struct generation));
	struct pool_pos *places = (struct pool_pos *)(g->svcs + g->nsvcs);
	for (int v = 0; v < g->nsvcs; v++) {
		struct service *s = &g->svcs[v];
		s->conf = &conf->services[v];
		s->listener = -1;
		s->target = s->conf->workers;
		s->recycle_old = s->recycle_new = -1;
		s->pos = places;
		places += s->conf->max_workers;
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
			generation_prune_listeners(m, g);
			generation_free(m, g);
			return NULL;
		}
		s->sb = scoreboard_service(s->conf->name);
		if (s->sb < 0) {
			snprintf(err, errlen, "scoreboard full: too many services");
			m->starting = NULL;
			generation_prune_listeners(m, g);
			generation_free(m, g);
			return NULL;
		}
	}
	return g;
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

/* Publish a generation's services (name, real address, handler) to the scoreboard. */
void generation_publish(struct master *m, struct generation *g)
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

void generation_free(struct master *m, struct generation *g)
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
	generation_prune_listeners(m, NULL);
	services_unpublish(m);
	if (g->conf != m->conf)
		config_free(g->conf);
	arena_free(g);
}
