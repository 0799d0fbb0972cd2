/*
 * metrics.c - the master's GET /metrics: Prometheus text exposition 0.0.4,
 * or OpenMetrics 1.0 when asked. Every name starts with prefork_ (the
 * master's own process_* aside), counters end in _total, units are base
 * units (seconds, bytes).
 *
 * Workers count connections, requests, bytes and request durations in
 * their own scoreboard slots without locks; the master folds those slots
 * into totals of its own. Shared memory is untrusted input: the service a
 * slot belongs to comes from the master's records, never from the slot;
 * each counter only ever adds what grew since the master last looked (a
 * counter that shrank adds nothing), with saturating sums; states outside
 * the enum count as nothing. So every counter here stays monotonic
 * whatever a worker writes. Entry points: metrics_worker_exit,
 * metrics_reload_done, metrics_render.
 */
#include "master/master.h"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* A single fold never adds more than this (a garbage value is not traffic). */
#define MAX_DELTA (1ULL << 48)

struct counters {
	uint64_t conns, requests, bytes_in, bytes_out, duration_us;
	uint64_t hist[SB_HIST_BUCKETS];
};

/* Totals per service name, kept across reloads and worker deaths. */
struct svc_totals {
	char name[64];
	struct counters c;
	uint64_t exits[EXIT_NREASONS];
};

/* What the master last read from a slot, for the worker now in it. */
struct seen {
	pid_t pid;
	struct counters c;
};

/* The master's own (arena.c): allocated on first use, never in a worker. */
static struct svc_totals *totals;
static struct seen *seen;

static void tables(void)
{
	if (!totals) {
		totals = arena_alloc(SB_MAX_SERVICES * sizeof(*totals));
		seen = arena_alloc(SB_MAX_SLOTS * sizeof(*seen));
	}
}
static uint64_t reloads_ok, reloads_failed;
static double last_reload_time;		/* wall clock, 0 before the first */
static int last_reload_ok = 1;

static const char *const exit_names[EXIT_NREASONS] = {
	[EXIT_STOP] = "stop", [EXIT_CRASH] = "crash", [EXIT_RECYCLE] = "recycle",
	[EXIT_WATCHDOG] = "watchdog", [EXIT_MEMORY] = "memory",
};

static void add(uint64_t *total, uint64_t now, uint64_t *last)
{
	if (now <= *last)
		return;		/* nothing new, or a counter that went back: ignored */
	uint64_t d = now - *last;
	*last = now;
	if (d > MAX_DELTA)
		return;
	*total = *total + d < *total ? UINT64_MAX : *total + d;
}

static int live_name(struct master *m, const char *name)
{
	struct generation *gens[] = { m->active, m->starting, m->draining };
	for (size_t k = 0; k < ARRAY_LEN(gens); k++)
		for (int v = 0; gens[k] && v < gens[k]->nsvcs; v++)
			if (strcmp(gens[k]->svcs[v].conf->name, name) == 0)
				return 1;
	return 0;
}

/* The totals of a service, found or added (a gone service's entry is reused). */
static struct svc_totals *totals_of(struct master *m, const char *name)
{
	struct svc_totals *free_at = NULL;
	tables();
	for (int i = 0; i < SB_MAX_SERVICES; i++) {
		if (totals[i].name[0] && strcmp(totals[i].name, name) == 0)
			return &totals[i];
		if (!free_at && !totals[i].name[0])
			free_at = &totals[i];
	}
	for (int i = 0; i < SB_MAX_SERVICES && !free_at; i++)
		if (!live_name(m, totals[i].name))
			free_at = &totals[i];
	if (!free_at)
		return NULL;
	memset(free_at, 0, sizeof(*free_at));
	snprintf(free_at->name, sizeof(free_at->name), "%s", name);
	return free_at;
}

static const char *slot_service(struct master *m, int slot)
{
	struct worker_rec *r = &m->workers[slot];
	return r->pid && r->gen && r->svc >= 0 && r->svc < r->gen->nsvcs ?
	       r->gen->svcs[r->svc].conf->name : NULL;
}

/* Add what the worker in `slot` counted since the last look. */
static void fold_slot(struct master *m, int slot)
{
	const char *name = slot_service(m, slot);
	struct svc_totals *t = name ? totals_of(m, name) : NULL;
	if (!t)
		return;
	struct seen *sn = &seen[slot];
	if (sn->pid != m->workers[slot].pid) {
		memset(sn, 0, sizeof(*sn));
		sn->pid = m->workers[slot].pid;
	}
	const struct sb_slot *s = &scoreboard->slots[slot];
	add(&t->c.conns, s->served, &sn->c.conns);
	add(&t->c.requests, s->requests, &sn->c.requests);
	add(&t->c.bytes_in, s->bytes_in, &sn->c.bytes_in);
	add(&t->c.bytes_out, s->bytes_out, &sn->c.bytes_out);
	add(&t->c.duration_us, s->duration_us, &sn->c.duration_us);
	for (int b = 0; b < SB_HIST_BUCKETS; b++)
		add(&t->c.hist[b], s->duration_hist[b], &sn->c.hist[b]);
}

static void fold_all(struct master *m)
{
	for (int i = 0; i < scoreboard_nslots(); i++)
		if (m->workers[i].pid)
			fold_slot(m, i);
}

void metrics_worker_exit(struct master *m, int slot, enum exit_reason why)
{
	tables();
	if (slot < 0 || slot >= SB_MAX_SLOTS)
		return;
	fold_slot(m, slot);
	const char *name = slot_service(m, slot);
	struct svc_totals *t = name ? totals_of(m, name) : NULL;
	if (t && why >= 0 && why < EXIT_NREASONS)
		t->exits[why]++;
	seen[slot].pid = 0;
}

void metrics_reload_done(int ok)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	last_reload_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	last_reload_ok = ok;
	if (ok)
		reloads_ok++;
	else
		reloads_failed++;
}

/* ---- rendering ---- */

struct out {
	struct buf *b;
	int om;			/* OpenMetrics */
};

/*
 * # HELP and # TYPE of a family. A counter's family is named without
 * _total in OpenMetrics and with it in the Prometheus text format.
 */
static void family(struct out *o, const char *name, const char *type, const char *help)
{
	int counter = strcmp(type, "counter") == 0, info = strcmp(type, "info") == 0;
	const char *suffix = o->om ? "" : counter ? "_total" : info ? "_info" : "";
	if (info && !o->om)
		type = "gauge";	/* the text format has no info type */
	buf_printf(o->b, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, suffix, help, name, suffix, type);
}

/* A label value, escaped (backslash, double quote, newline). */
static void label(struct buf *b, const char *key, const char *value)
{
	buf_printf(b, "%s=\"", key);
	for (const char *p = value; *p; p++) {
		if (*p == '\\' || *p == '"')
			buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			buf_printf(b, "\\n");
		else
			buf_append(b, p, 1);
	}
	buf_append(b, "\"", 1);
}

static void sample_svc(struct out *o, const char *name, const char *svc, const char *k2,
		       const char *v2, uint64_t value)
{
	buf_printf(o->b, "%s{", name);
	label(o->b, "service", svc);
	if (k2) {
		buf_append(o->b, ",", 1);
		label(o->b, k2, v2);
	}
	buf_printf(o->b, "} %llu\n", (unsigned long long)value);
}

/* The names of the services of every live generation, each once. */
static int service_names(struct master *m, const char **names, int max)
{
	int n = 0;
	struct generation *gens[] = { m->active, m->starting, m->draining };
	for (size_t k = 0; k < ARRAY_LEN(gens); k++)
		for (int v = 0; gens[k] && v < gens[k]->nsvcs; v++) {
			const char *name = gens[k]->svcs[v].conf->name;
			int dup = 0;
			for (int i = 0; i < n && !dup; i++)
				dup = strcmp(names[i], name) == 0;
			if (!dup && n < max)
				names[n++] = name;
		}
	return n;
}

static const char *const state_names[] = { "starting", "idle", "busy", "exiting" };

struct named_svc {
	struct master *m;
	const char *name;
};

/*
 * Workers of the service of that name (every generation), by the master's
 * records: told to go, not yet ready, else busy or idle from the slot.
 */
static int judge_by_record(int slot, int state, void *arg)
{
	const struct named_svc *ns = arg;
	const char *name = slot_service(ns->m, slot);
	if (!name || strcmp(name, ns->name) != 0)
		return SB_FREE;
	const struct worker_rec *r = &ns->m->workers[slot];
	return r->exiting ? SB_EXITING : !r->ready ? SB_STARTING : state == SB_BUSY ? SB_BUSY : SB_IDLE;
}

/* Workers by state, from the master's records; busy or idle from the slot. */
static void render_workers(struct master *m, struct out *o, const char **names, int n)
{
	family(o, "prefork_workers", "gauge", "Worker processes by service and state.");
	for (int v = 0; v < n; v++) {
		struct named_svc ns = { m, names[v] };
		struct sb_count c;
		scoreboard_count(SB_ANY_SERVICE, SB_ANY_GENERATION, judge_by_record, &ns, &c);
		const int count[4] = { c.starting, c.idle, c.busy, c.exiting };
		for (int s = 0; s < 4; s++)
			sample_svc(o, "prefork_workers", names[v], "state", state_names[s],
				   (uint64_t)count[s]);
	}
	family(o, "prefork_workers_target", "gauge", "Workers each service is sized to.");
	for (int v = 0; v < n; v++)
		for (int k = 0; m->active && k < m->active->nsvcs; k++)
			if (strcmp(m->active->svcs[k].conf->name, names[v]) == 0)
				sample_svc(o, "prefork_workers_target", names[v], NULL, NULL,
					   (uint64_t)m->active->svcs[k].target);
}

static void render_traffic(struct master *m, struct out *o, const char **names, int n)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} fams[] = {
		{ "prefork_connections", "Connections served.", offsetof(struct counters, conns) },
		{ "prefork_requests", "Requests served (one per connection for handlers that do not count requests).",
		  offsetof(struct counters, requests) },
		{ "prefork_received_bytes", "Bytes read from clients.", offsetof(struct counters, bytes_in) },
		{ "prefork_sent_bytes", "Bytes written to clients.", offsetof(struct counters, bytes_out) },
	};
	for (size_t f = 0; f < ARRAY_LEN(fams); f++) {
		family(o, fams[f].name, "counter", fams[f].help);
		char sample[80];
		snprintf(sample, sizeof(sample), "%s_total", fams[f].name);
		for (int v = 0; v < n; v++) {
			struct svc_totals *t = totals_of(m, names[v]);
			const uint64_t *val = t ? (const uint64_t *)((const char *)&t->c + fams[f].off) : NULL;
			sample_svc(o, sample, names[v], NULL, NULL, val ? *val : 0);
		}
	}
	family(o, "prefork_request_duration_seconds", "histogram",
	       "Time from a request's arrival to the end of its answer.");
	for (int v = 0; v < n; v++) {
		struct svc_totals *t = totals_of(m, names[v]);
		uint64_t cum = 0;
		for (int b = 0; b < SB_HIST_BUCKETS; b++) {
			char le[32];
			cum += t ? t->c.hist[b] : 0;
			if (b < SB_HIST_BUCKETS - 1)
				snprintf(le, sizeof(le), "%g", (double)scoreboard_hist_bounds_us[b] / 1e6);
			else
				snprintf(le, sizeof(le), "+Inf");
			sample_svc(o, "prefork_request_duration_seconds_bucket", names[v], "le", le, cum);
		}
		buf_printf(o->b, "prefork_request_duration_seconds_sum{");
		label(o->b, "service", names[v]);
		buf_printf(o->b, "} %.6f\n", t ? (double)t->c.duration_us / 1e6 : 0.0);
		sample_svc(o, "prefork_request_duration_seconds_count", names[v], NULL, NULL, cum);
	}
	family(o, "prefork_worker_exits", "counter", "Workers that ended, by reason.");
	for (int v = 0; v < n; v++) {
		struct svc_totals *t = totals_of(m, names[v]);
		for (int r = 0; r < EXIT_NREASONS; r++)
			sample_svc(o, "prefork_worker_exits_total", names[v], "reason", exit_names[r],
				   t ? t->exits[r] : 0);
	}
}

static void render_services(struct master *m, struct out *o, const char **names, int n)
{
	family(o, "prefork_service_throttled", "gauge",
	       "1 while a service restarts crashing workers with a back-off.");
	for (int v = 0; v < n; v++) {
		int thr = 0;
		for (int k = 0; m->active && k < m->active->nsvcs; k++)
			if (strcmp(m->active->svcs[k].conf->name, names[v]) == 0)
				thr = spawn_throttled(&m->active->svcs[k], util_now_ns());
		sample_svc(o, "prefork_service_throttled", names[v], NULL, NULL, (uint64_t)thr);
	}
	family(o, "prefork_listen_queue_length", "gauge",
	       "Connections waiting in a listening socket's accept queue.");
	struct buf lim;
	buf_init(&lim);
	for (int i = 0; i < m->nlisteners; i++) {
		struct listener *l = &m->listeners[i];
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		memset(&ti, 0, sizeof(ti));
		if (l->fd < 0 || l->addr.family == AF_UNIX ||
		    getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
			continue;
		/* On a listening socket, unacked is the queue and sacked its limit. */
		buf_printf(o->b, "prefork_listen_queue_length{");
		label(o->b, "listener", l->name);
		buf_printf(o->b, "} %u\n", ti.tcpi_unacked);
		buf_printf(&lim, "prefork_listen_queue_limit{");
		label(&lim, "listener", l->name);
		buf_printf(&lim, "} %u\n", ti.tcpi_sacked);
	}
	family(o, "prefork_listen_queue_limit", "gauge", "The accept queue's limit (the backlog).");
	if (lim.len)
		buf_append(o->b, lim.data, lim.len);
	buf_free(&lim);
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's start, wall clock, from /proc (0 when unknown). */
static double start_time(void)
{
	char text[1024];
	FILE *f = fopen("/proc/self/stat", "re");
	if (!f)
		return 0;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	const char *p = strrchr(text, ')');
	unsigned long long ticks = 0;
	/* Field 22 (starttime) is the 20th after the closing parenthesis. */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return 0;
	struct timespec up;
	clock_gettime(CLOCK_BOOTTIME, &up);
	double boot = wall_now() - ((double)up.tv_sec + (double)up.tv_nsec / 1e9);
	return boot + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

static void render_process(struct master *m, struct out *o)
{
	long long group = util_rss_bytes(0);
	for (int i = 0; i < scoreboard_nslots(); i++) {
		long long r = m->workers[i].pid ? util_rss_bytes(m->workers[i].pid) : -1;
		if (r > 0)
			group += r;
	}
	family(o, "prefork_group_resident_memory_bytes", "gauge",
	       "Resident memory of the master and all its workers.");
	buf_printf(o->b, "prefork_group_resident_memory_bytes %lld\n", group > 0 ? group : 0);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	family(o, "process_cpu_seconds", "counter", "CPU time of the master process.");
	buf_printf(o->b, "process_cpu_seconds_total %.6f\n", cpu);
	long long rss = util_rss_bytes(0);
	family(o, "process_resident_memory_bytes", "gauge", "Resident memory of the master process.");
	buf_printf(o->b, "process_resident_memory_bytes %lld\n", rss > 0 ? rss : 0);
	family(o, "process_open_fds", "gauge", "Open file descriptors of the master process.");
	buf_printf(o->b, "process_open_fds %d\n", open_fds());
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	family(o, "process_max_fds", "gauge", "The master's limit of open file descriptors.");
	buf_printf(o->b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	family(o, "process_start_time_seconds", "gauge",
	       "Start of the master process, seconds since the epoch.");
	buf_printf(o->b, "process_start_time_seconds %.3f\n", start_time());
}

int metrics_render(struct master *m, struct buf *out, int openmetrics)
{
	struct out o = { out, openmetrics };
	const char *names[SB_MAX_SERVICES];
	fold_all(m);
	int n = service_names(m, names, SB_MAX_SERVICES);

	family(&o, "prefork_build", "info", "The running prefork build.");
	buf_printf(out, "prefork_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	family(&o, "prefork_draining", "gauge",
	       "1 while the master drains (lame duck): the agent says drain, health answers 503.");
	buf_printf(out, "prefork_draining %d\n", m->lame_duck || m->stopping ? 1 : 0);
	render_workers(m, &o, names, n);
	render_traffic(m, &o, names, n);
	render_services(m, &o, names, n);
	family(&o, "prefork_reloads", "counter", "Configuration reloads, by result.");
	buf_printf(out, "prefork_reloads_total{result=\"success\"} %llu\n",
		   (unsigned long long)reloads_ok);
	buf_printf(out, "prefork_reloads_total{result=\"failure\"} %llu\n",
		   (unsigned long long)reloads_failed);
	family(&o, "prefork_last_reload_timestamp_seconds", "gauge",
	       "When the last reload ended, seconds since the epoch (0: none yet).");
	buf_printf(out, "prefork_last_reload_timestamp_seconds %.3f\n", last_reload_time);
	family(&o, "prefork_last_reload_success", "gauge", "1 when the last reload succeeded.");
	buf_printf(out, "prefork_last_reload_success %d\n", last_reload_ok);
	render_process(m, &o);
	if (openmetrics)
		buf_printf(out, "# EOF\n");
	return 0;
}
