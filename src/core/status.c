/*
 * status.c - render the scoreboard as text or JSON: one entry per worker
 * (service, pid, generation, state, connections served, current connection
 * age, peer) grouped by service, with per-service counters and totals.
 * Used by the status handler and the master's control socket.
 */
#include "internal.h"

#include <string.h>

static const char *const state_names[] = { "free", "starting", "idle", "busy", "exiting" };

/* Views come checked (scoreboard_view), but a name lookup stays bounded on its own. */
static const char *state_name(int st)
{
	return st >= 0 && (size_t)st < ARRAY_LEN(state_names) ? state_names[st] : "invalid";
}

struct totals {
	int workers, idle, busy, starting, exiting;
	unsigned long long served;
	unsigned long long handler_errors;	/* live workers' and those gone */
};

/* Age of the connection in hand (an exiting worker may still finish one). */
static double busy_for(const struct sb_view *s, int64_t now)
{
	int64_t start = s->conn_start_ns;
	return (start > 0 && now > start) ? (double)(now - start) / 1e9 : 0.0;
}

/* The peer of the connection in hand, or NULL. */
static const char *peer_of(const struct sb_view *s)
{
	return s->conn_start_ns > 0 && s->peer[0] ? s->peer : NULL;
}

/* The TLS protocol of the connection in hand, or NULL. */
static const char *tls_of(const struct sb_view *s)
{
	return s->conn_start_ns > 0 && s->tls[0] ? s->tls : NULL;
}

static void count_service(int svc, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (int v = 0; v < SB_MAX_SERVICES; v++) {
		struct sb_service sv;
		if (scoreboard_service_view(v, &sv) && (svc < 0 || v == svc))
			t->handler_errors += sv.handler_errors;
	}
	struct sb_count c;
	scoreboard_count(svc >= 0 ? svc : SB_ANY_SERVICE, SB_ANY_GENERATION, NULL, NULL, &c);
	t->workers = c.workers;
	t->idle = c.idle;
	t->busy = c.busy;
	t->starting = c.starting;
	t->exiting = c.exiting;
	for (int i = 0; i < scoreboard_nslots(); i++) {
		struct sb_view s;
		if (!scoreboard_view(i, &s) || (svc >= 0 && s.svc != svc))
			continue;
		t->served += s.served;
		t->handler_errors += s.handler_errors;
	}
}

static int render_text(struct buf *out, int64_t now)
{
	for (int v = 0; v < SB_MAX_SERVICES; v++) {
		struct sb_service svc, *sv = &svc;
		if (!scoreboard_service_view(v, sv))
			continue;
		struct totals t;
		count_service(v, &t);
		buf_printf(out,
			   "service %s listen=%s handler=%s target=%d workers=%d idle=%d busy=%d "
			   "throttled=%s spawns=%llu crashes=%llu recycles=%llu watchdog_kills=%llu "
			   "handler_errors=%llu\n",
			   sv->name, sv->listen, sv->handler, sv->target, t.workers, t.idle, t.busy,
			   sv->throttled ? "yes" : "no", (unsigned long long)sv->spawns,
			   (unsigned long long)sv->crashes, (unsigned long long)sv->recycles,
			   (unsigned long long)sv->watchdog_kills, t.handler_errors);
		if (sv->tls)
			buf_printf(out, "  %s tls handshakes=%llu handshake_failures=%llu resumed=%llu "
				   "sendfile=%s\n", sv->name, (unsigned long long)sv->tls_handshakes,
				   (unsigned long long)sv->tls_failures,
				   (unsigned long long)sv->tls_resumed, sv->tls_sendfile);
		if (sv->init_failures || sv->recycle_held)
			buf_printf(out, "  %s warning: handler init failed %llu time(s)%s\n", sv->name,
				   (unsigned long long)sv->init_failures, sv->recycle_held ?
				   "; max_requests recycling held back: workers serve on until a "
				   "successor starts" : "");
		for (int i = 0; i < scoreboard_nslots(); i++) {
			struct sb_view s;
			if (!scoreboard_view(i, &s) || s.svc != v)
				continue;
			buf_printf(out, "  %s pid=%d generation=%u state=%s served=%llu busy_for=%.3f peer=%s%s%s\n",
				   sv->name, (int)s.pid, s.generation, state_name(s.state),
				   (unsigned long long)s.served, busy_for(&s, now),
				   peer_of(&s) ? peer_of(&s) : "-", tls_of(&s) ? " tls=" : "",
				   tls_of(&s) ? tls_of(&s) : "");
		}
	}
	struct totals t;
	count_service(-1, &t);
	buf_printf(out, "total workers=%d idle=%d busy=%d starting=%d exiting=%d served=%llu "
			  "handler_errors=%llu\n", t.workers, t.idle, t.busy, t.starting, t.exiting,
		   t.served, t.handler_errors);
	return buf_printf(out, "state %s\n", scoreboard->draining ? "draining" : "serving");
}

/* Counts; `count_key` names the worker count ("workers" in totals). */
static void json_totals(struct buf *out, const struct totals *t, const char *count_key)
{
	buf_printf(out, "\"%s\": %d, \"idle\": %d, \"busy\": %d, \"starting\": %d, "
		   "\"exiting\": %d, \"served\": %llu, \"handler_errors\": %llu", count_key,
		   t->workers, t->idle, t->busy, t->starting, t->exiting, t->served,
		   t->handler_errors);
}

static int render_json(struct buf *out, int64_t now)
{
	int first_svc = 1;
	buf_printf(out, "{\"generation\": %u, \"draining\": %s, \"services\": [",
		   scoreboard_generation(), scoreboard->draining ? "true" : "false");
	for (int v = 0; v < SB_MAX_SERVICES; v++) {
		struct sb_service svc, *sv = &svc;
		if (!scoreboard_service_view(v, sv))
			continue;
		struct totals t;
		count_service(v, &t);
		buf_printf(out, "%s{\"name\": ", first_svc ? "" : ", ");
		first_svc = 0;
		buf_json_string(out, sv->name);
		buf_printf(out, ", \"listen\": ");
		buf_json_string(out, sv->listen);
		buf_printf(out, ", \"handler\": ");
		buf_json_string(out, sv->handler);
		buf_printf(out, ", \"target\": %d, \"throttled\": %s, \"spawns\": %llu, \"crashes\": %llu, "
			   "\"recycles\": %llu, \"watchdog_kills\": %llu, ",
			   sv->target, sv->throttled ? "true" : "false", (unsigned long long)sv->spawns,
			   (unsigned long long)sv->crashes, (unsigned long long)sv->recycles,
			   (unsigned long long)sv->watchdog_kills);
		if (sv->tls)
			buf_printf(out, "\"tls\": {\"handshakes\": %llu, \"handshake_failures\": %llu, "
				   "\"resumed\": %llu, \"sendfile\": \"%s\"}, ",
				   (unsigned long long)sv->tls_handshakes,
				   (unsigned long long)sv->tls_failures,
				   (unsigned long long)sv->tls_resumed, sv->tls_sendfile);
		else
			buf_printf(out, "\"tls\": null, ");
		buf_printf(out, "\"init_failures\": %llu, \"recycle_held\": %s, ",
			   (unsigned long long)sv->init_failures, sv->recycle_held ? "true" : "false");
		json_totals(out, &t, "workers_total");
		buf_printf(out, ", \"workers\": [");
		int first = 1;
		for (int i = 0; i < scoreboard_nslots(); i++) {
			struct sb_view s;
			if (!scoreboard_view(i, &s) || s.svc != v)
				continue;
			buf_printf(out, "%s{\"pid\": %d, \"generation\": %u, \"state\": \"%s\", "
				   "\"served\": %llu, \"busy_for\": %.3f, \"bytes_in\": %llu, "
				   "\"bytes_out\": %llu, \"peer\": ",
				   first ? "" : ", ", (int)s.pid, s.generation, state_name(s.state),
				   (unsigned long long)s.served, busy_for(&s, now),
				   (unsigned long long)s.bytes_in, (unsigned long long)s.bytes_out);
			buf_json_string(out, peer_of(&s) ? peer_of(&s) : "");
			buf_printf(out, ", \"tls\": ");
			buf_json_string(out, tls_of(&s) ? tls_of(&s) : "");
			buf_printf(out, "}");
			first = 0;
		}
		buf_printf(out, "]}");
	}
	struct totals t;
	count_service(-1, &t);
	buf_printf(out, "], \"totals\": {");
	json_totals(out, &t, "workers");
	return buf_printf(out, "}}\n");
}

int status_render(struct buf *out, int json)
{
	if (!scoreboard)
		return buf_printf(out, json ? "{\"services\": [], \"totals\": {}}\n" : "no scoreboard\n");
	int64_t now = util_now_ns();
	return json ? render_json(out, now) : render_text(out, now);
}
