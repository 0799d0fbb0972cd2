/*
 * config.c - read server.conf with libconfig and validate it into plain
 * structs (struct pf_config, struct svc_conf) through two key tables.
 * Every problem is collected as "FILE:LINE: message"; nothing is started
 * and nothing outside the returned structure changes (beyond dlopen of
 * modules). Entry points: config_load, config_free, config_find_service.
 */
#include "internal.h"
#include "config/keys.h"

#include "http/http_shared.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_WORKERS 256
#define HARD_MAX_WORKERS 4096

#define NONE ((size_t)-1)
#define TOP(field) offsetof(struct pf_config, field)
#define SVC(field) offsetof(struct svc_conf, field)

static const struct key top_keys[] = {
	{ "pid_file", K_STRING, 0, 0, TOP(pid_file) },
	{ "error_log", K_STRING, 0, 0, TOP(error_log) },
	{ "log_level", K_LEVEL, 0, 0, TOP(log_level) },
	{ "shutdown_timeout", K_FLOAT, 0.001, 86400, TOP(shutdown_timeout) },
	{ "user", K_STRING, 0, 0, TOP(user) },
	{ "group", K_STRING, 0, 0, TOP(group) },
	{ "chroot", K_STRING, 0, 0, TOP(chroot) },
	{ "rlimit_nofile", K_LONG, 1, 1 << 30, TOP(rlimit_nofile) },
	{ "control_socket", K_STRING, 0, 0, TOP(control_socket) },
	{ "metrics", K_STRING, 0, 0, TOP(metrics) },
	{ "drain_delay", K_FLOAT, 0, 86400, TOP(drain_delay) },
	{ "services", K_LIST, 0, 0, NONE },
};

static const struct key svc_keys[] = {
	{ "name", K_STRING, 0, 0, SVC(name) },
	{ "listen", K_STRING, 0, 0, SVC(listen) },
	{ "handler", K_STRING, 0, 0, SVC(handler_name) },
	{ "module", K_STRING, 0, 0, SVC(module) },
	{ "backlog", K_INT, 1, 65535, SVC(backlog) },
	{ "workers", K_INT, 1, HARD_MAX_WORKERS, SVC(workers) },
	{ "min_spare", K_INT, 0, HARD_MAX_WORKERS, SVC(min_spare) },
	{ "max_spare", K_INT, 1, HARD_MAX_WORKERS, SVC(max_spare) },
	{ "max_workers", K_INT, 1, HARD_MAX_WORKERS, SVC(max_workers) },
	{ "max_requests", K_LONG, 0, 1e12, SVC(max_requests) },
	{ "read_timeout", K_FLOAT, 0.001, 86400, SVC(read_timeout) },
	{ "write_timeout", K_FLOAT, 0.001, 86400, SVC(write_timeout) },
	{ "tick_interval", K_FLOAT, 0, 86400, SVC(tick_interval) },
	{ "request_timeout", K_FLOAT, 0, 86400, SVC(request_timeout) },
	{ "defer_accept", K_BOOL, 0, 0, SVC(defer_accept) },
	{ "proxy_protocol", K_BOOL, 0, 0, SVC(proxy_protocol) },
	{ "agent_check", K_STRING, 0, 0, SVC(agent_check) },
	{ "max_rss", K_LONG, 0, 0, NONE },
	{ "tls", K_LIST, 0, 0, NONE },	/* a group: tls/tls_conf.c */
};



static void svc_defaults(struct svc_conf *v)
{
	memset(v, 0, sizeof(*v));
	v->backlog = 511;
	v->workers = -1;
	v->min_spare = -1;
	v->max_spare = -1;
	v->max_workers = -1;
	v->read_timeout = 30.0;
	v->write_timeout = 30.0;
	v->tick_interval = 1.0;
}

static void err_unknown_handler(struct keys_ctx *x, const config_setting_t *s, const char *name)
{
	const char *best = NULL;
	int best_d = 3;
	for (int pass = 0; pass < 2; pass++) {
		const struct pf_handler *const *list = pass ? module_builtins : x->extra;
		for (int i = 0; list && list[i]; i++) {
			int d = util_edit_distance(name, list[i]->name);
			if (d < best_d) {
				best_d = d;
				best = list[i]->name;
			}
		}
	}
	if (best) {
		keys_err_at(x, s, "unknown handler '%s' (did you mean '%s'?)", name, best);
		return;
	}
	char names[256] = "";
	for (int i = 0; module_builtins[i]; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
			 module_builtins[i]->name);
	keys_err_at(x, s, "unknown handler '%s' (built-in: %s; or set 'module')", name, names);
}

/*
 * The engine's `http` block: the handler's own for the `http` handler; for
 * another HTTP handler (an app) an optional one beside its own, checked
 * here; a raw handler has none.
 */
static void check_http_block(struct keys_ctx *x, const config_setting_t *g, struct svc_conf *v)
{
	config_setting_t *hb = config_setting_get_member(g, "http");
	if (v->handler == &http_handler) {
		v->http_block = v->block;
		return;
	}
	if (hb && !v->handler->handle_http) {
		keys_err_at(x, hb, "'http' settings apply only to HTTP handlers; '%s' serves connections",
		       v->handler_name);
		return;
	}
	if (!v->handler->handle_http)
		return;
	if (hb && !config_setting_is_group(hb)) {
		keys_err_at(x, hb, "'http' must be a group of settings for the HTTP engine");
		return;
	}
	v->http_block = hb;
	struct pf_settings st;
	settings_init(&st, hb, keys_file(x, hb ? hb : g), x->c->dir, keys_line(g), x->errs);
	http_app_check(&st);
	settings_report_unknown(&st, "http");
}

/* Resolve the service's handler, load its module and check its block. */
static void check_handler(struct keys_ctx *x, const config_setting_t *g, struct svc_conf *v)
{
	const config_setting_t *hs = config_setting_get_member(g, "handler");
	const config_setting_t *ms = config_setting_get_member(g, "module");

	if (v->module) {
		char *path = util_resolve_path(x->c->dir, v->module);
		free(v->module);
		v->module = path;
		char err[512];
		v->handler = module_load(path, v->handler_name, &v->handler_compat, err,
					 sizeof(err));
		if (!v->handler) {
			keys_err_at(x, ms, "%s", err);
			return;
		}
	} else {
		v->handler = module_builtin(x->extra, v->handler_name);
		if (!v->handler) {
			err_unknown_handler(x, hs, v->handler_name);
			return;
		}
		char what[160], err[512];
		snprintf(what, sizeof(what), "handler '%s'", v->handler_name);
		if (module_check_table(v->handler, what, &v->handler_compat, err, sizeof(err)) < 0) {
			keys_err_at(x, hs, "%s", err);
			v->handler = NULL;
			return;
		}
		if (v->handler_compat)
			v->handler = v->handler_compat;
	}

	config_setting_t *block = config_setting_get_member(g, v->handler_name);
	if (block && !config_setting_is_group(block)) {
		keys_err_at(x, block, "'%s' must be a group of settings for the %s handler",
		       v->handler_name, v->handler_name);
		return;
	}
	v->block = block;
	check_http_block(x, g, v);
	if (v->handler->check || v->handler->settings) {
		struct pf_settings st;
		settings_init(&st, block, keys_file(x, block ? block : g), x->c->dir, keys_line(g),
			      x->errs);
		if (v->handler->settings)
			settings_table_check(&st, v->handler->settings, v->handler_name);
		if (v->handler->check)
			v->handler->check(&st);
		settings_report_unknown(&st, v->handler_name);
	}
}

static void load_service(struct keys_ctx *x, const config_setting_t *g, struct svc_conf *v)
{
	svc_defaults(v);
	v->line = keys_line(g);
	if (!config_setting_is_group(g)) {
		keys_err_at(x, g, "each entry of 'services' must be a group { ... }");
		return;
	}

	/* The handler's own block is named after it: find that name first. */
	const char *hname = NULL;
	const config_setting_t *hs = config_setting_get_member(g, "handler");
	if (hs && config_setting_type(hs) == CONFIG_TYPE_STRING)
		hname = config_setting_get_string(hs);

	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct key *k = keys_find(svc_keys, ARRAY_LEN(svc_keys), name);
		if (k && config_fleet_service_key(x->errs, keys_file(x, s), s, v))
			continue;
		else if (k)
			keys_store(x, s, k, v);
		else if ((!hname || strcmp(name, hname) != 0) && strcmp(name, "http") != 0)
			keys_unknown(x, s, svc_keys, ARRAY_LEN(svc_keys), hname);
	}

	static const char *const required[] = { "name", "listen", "handler" };
	for (size_t i = 0; i < ARRAY_LEN(required); i++)
		if (!config_setting_get_member(g, required[i]))
			keys_err_at(x, g, "service is missing required key '%s'", required[i]);

	if (v->name && !v->name[0])
		keys_err_at(x, config_setting_get_member(g, "name"), "'name' must not be empty");
	if (v->name && strlen(v->name) >= sizeof(((struct sb_service *)0)->name))
		keys_err_at(x, config_setting_get_member(g, "name"), "'name' is too long (at most %zu bytes)",
		       sizeof(((struct sb_service *)0)->name) - 1);
	if (v->listen) {
		char err[512];
		if (addr_parse(v->listen, x->c->dir, &v->addr, err, sizeof(err)) < 0)
			keys_err_at(x, config_setting_get_member(g, "listen"), "'listen': %s", err);
	}

	/* Pool sizes: explicit values are checked against each other. */
	const config_setting_t *ws = config_setting_get_member(g, "workers");
	if (v->max_workers < 0)
		v->max_workers = DEFAULT_MAX_WORKERS;
	v->dynamic = v->min_spare >= 0 || v->max_spare >= 0;
	if (v->dynamic) {
		if (v->min_spare < 0)
			v->min_spare = 2;
		if (v->max_spare < 0)
			v->max_spare = v->min_spare + 8;
		if (v->min_spare > v->max_spare)
			keys_err_at(x, config_setting_get_member(g, "min_spare"),
			       "'min_spare' (%d) must not exceed 'max_spare' (%d)", v->min_spare,
			       v->max_spare);
		if (v->min_spare > v->max_workers)
			keys_err_at(x, config_setting_get_member(g, "min_spare"),
			       "'min_spare' (%d) exceeds 'max_workers' (%d)", v->min_spare,
			       v->max_workers);
	}
	if (v->workers < 0) {
		v->workers = 4;
		if (v->dynamic && v->workers < v->min_spare)
			v->workers = v->min_spare;
		if (v->workers > v->max_workers)
			v->workers = v->max_workers;
	} else if (v->workers > v->max_workers && v->workers_auto) {
		v->workers = v->max_workers;
	} else if (v->workers > v->max_workers) {
		keys_err_at(x, ws, "'workers' (%d) exceeds 'max_workers' (%d)", v->workers, v->max_workers);
	}

	if (v->handler_name)
		check_handler(x, g, v);
	else if (config_setting_get_member(g, "module"))
		keys_err_at(x, config_setting_get_member(g, "module"), "'module' needs 'handler'");

	const config_setting_t *ts = config_setting_get_member(g, "tls");
	/* An HTTP app speaks HTTP/1.1 like the http handler: the same ALPN default. */
	if (ts)
		v->tls = tls_conf_load(ts, keys_file(x, ts), x->c->dir,
				       v->handler && v->handler->handle_http ? "http" : v->handler_name,
				       x->errs);
}

static void check_duplicates(struct keys_ctx *x, const config_setting_t *list)
{
	struct pf_config *c = x->c;
	for (int i = 0; i < c->nservices; i++) {
		const config_setting_t *gi = config_setting_get_elem(list, (unsigned)i);
		for (int j = 0; j < i; j++) {
			struct svc_conf *a = &c->services[j], *b = &c->services[i];
			if (a->name && b->name && strcmp(a->name, b->name) == 0)
				keys_err_at(x, config_setting_get_member(gi, "name"),
				       "duplicate service name '%s' (first at line %d)", b->name, a->line);
			/* Two services may each ask for some free port. */
			if (a->listen && b->listen && a->addr.family && b->addr.family &&
			    addr_equal(&a->addr, &b->addr) && addr_port(&a->addr) != 0)
				keys_err_at(x, config_setting_get_member(gi, "listen"),
				       "duplicate listen address '%s' (first at line %d)", b->listen,
				       a->line);
		}
	}
}

/* Every service's start size together must leave room for a reload's second generation. */
static void check_total_workers(struct keys_ctx *x, const config_setting_t *list)
{
	struct pf_config *c = x->c;
	long total = 0;
	for (int i = 0; i < c->nservices; i++)
		total += c->services[i].workers > 0 ? c->services[i].workers : 0;
	if (total > CONF_MAX_WORKERS_TOTAL)
		keys_err_at(x, list, "the services' workers add up to %ld; at most %d in all, so that a "
		       "reload's new generation fits in the scoreboard beside the old one", total,
		       CONF_MAX_WORKERS_TOTAL);
}

static void check_privileges(struct keys_ctx *x, const config_setting_t *root)
{
	struct pf_config *c = x->c;
	if (c->user && !getpwnam(c->user))
		keys_err_at(x, config_setting_get_member(root, "user"), "unknown user '%s'", c->user);
	if (c->group && !getgrnam(c->group))
		keys_err_at(x, config_setting_get_member(root, "group"), "unknown group '%s'", c->group);
	if (c->group && !c->user)
		keys_err_at(x, config_setting_get_member(root, "group"), "'group' needs 'user'");
	if (c->chroot) {
		struct stat st;
		char *p = util_resolve_path(c->dir, c->chroot);
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			keys_err_at(x, config_setting_get_member(root, "chroot"),
			       "'chroot': '%s' is not a directory", p);
		free(c->chroot);
		c->chroot = p;
	}
}

static char *config_dir(const char *path)
{
	char *copy = util_xstrdup(path);
	char *d = dirname(copy);
	char *real = realpath(d, NULL);
	char *out = util_xstrdup(real ? real : d);
	free(real);
	free(copy);
	return out;
}

/* Free *dst and keep s (owned) instead. */
static void set_str(char **dst, char *s)
{
	free(*dst);
	*dst = s;
}

/* The top-level defaults: the one place they are written. */
static void top_defaults(struct pf_config *c, const char *path)
{
	c->file = util_xstrdup(path);
	c->dir = config_dir(path);
	c->log_level = PF_LOG_INFO;
	c->shutdown_timeout = 10.0;
	c->pid_file = util_xstrdup("preforkd.pid");
	c->error_log = util_xstrdup("");
	c->control_socket = util_xstrdup("preforkd.sock");
	config_init(&c->lc);
	config_set_include_dir(&c->lc, c->dir);
}

/*
 * Every configuration alive, on one list. The master keeps its generations
 * in memory no worker is forked with (core/arena.c): without the list a
 * worker would hold the other generations' configurations with no pointer
 * to them left, and a memory checker would call them lost.
 */
static struct pf_config *live_configs PF_FORK_WRITTEN;

static struct pf_config *config_new(void)
{
	struct pf_config *c = util_xcalloc(1, sizeof(*c));
	c->live_next = live_configs;
	if (live_configs)
		live_configs->live_prev = c;
	live_configs = c;
	return c;
}

struct pf_config *config_load(const char *path, const struct pf_handler *const *extra,
			      struct errlist *errs)
{
	struct pf_config *c = config_new();
	struct keys_ctx x = { c, errs, extra };
	int before = errs->count;

	top_defaults(c, path);

	FILE *f = fopen(path, "r");
	if (!f) {
		errlist_add(errs, "%s: cannot open: %s", path, strerror(errno));
		config_free(c);
		return NULL;
	}
	int ok = config_read(&c->lc, f);
	fclose(f);
	if (!ok) {
		const char *ef = config_error_file(&c->lc);
		errlist_add(errs, "%s:%d: %s", ef ? ef : path, config_error_line(&c->lc),
			    config_error_text(&c->lc));
		config_free(c);
		return NULL;
	}

	config_setting_t *root = config_root_setting(&c->lc);
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const struct key *k = keys_find(top_keys, ARRAY_LEN(top_keys), config_setting_name(s));
		if (!k)
			keys_unknown(&x, s, top_keys, ARRAY_LEN(top_keys), NULL);
		else if (k->offset != NONE)
			keys_store(&x, s, k, c);
	}

	config_setting_t *list = config_setting_get_member(root, "services");
	if (!list) {
		errlist_add(errs, "%s:1: missing required key 'services'", c->file);
	} else if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		keys_err_at(&x, list, "'services' must be a list of groups: services = ( { ... } );");
	} else if (config_setting_length(list) == 0) {
		keys_err_at(&x, list, "'services' must not be empty");
	} else if (config_setting_length(list) > CONF_MAX_SERVICES) {
		keys_err_at(&x, list, "too many services (at most %d)", CONF_MAX_SERVICES);
	} else {
		c->nservices = config_setting_length(list);
		c->services = util_xcalloc((size_t)c->nservices, sizeof(*c->services));
		for (int i = 0; i < c->nservices; i++)
			load_service(&x, config_setting_get_elem(list, (unsigned)i), &c->services[i]);
		check_duplicates(&x, list);
		config_fleet_check(errs, c, list);
		check_total_workers(&x, list);
	}
	check_privileges(&x, root);

	/* Paths in the file are relative to the file's folder; -t checks them as start-up would. */
	paths_resolve(c, errs);

	if (errs->count > before) {
		config_free(c);
		return NULL;
	}
	return c;
}

void config_free(struct pf_config *c)
{
	if (!c)
		return;
	if (c->live_prev)
		c->live_prev->live_next = c->live_next;
	else if (live_configs == c)
		live_configs = c->live_next;
	if (c->live_next)
		c->live_next->live_prev = c->live_prev;
	for (int i = 0; i < c->nservices; i++) {
		struct svc_conf *v = &c->services[i];
		free(v->name);
		free(v->listen);
		free(v->handler_name);
		free(v->module);
		free(v->agent_check);
		free(v->workers_why);
		tls_conf_free(v->tls);
		free(v->handler_compat);
	}
	free(c->services);
	config_destroy(&c->lc);
	free(c->file);
	free(c->dir);
	free(c->pid_file);
	free(c->error_log);
	free(c->user);
	free(c->group);
	free(c->chroot);
	free(c->control_socket);
	free(c->metrics);
	free(c);
}

/*
 * Only what `preforkd -s` needs to find a running master (pid_file,
 * control_socket, shutdown_timeout), read leniently: a file the master
 * would refuse must still let the operator reach it, and hear why.
 */
struct pf_config *config_load_paths(const char *path)
{
	struct pf_config *c = config_new();
	const char *v;
	double d;
	top_defaults(c, path);
	int ok = config_read_file(&c->lc, path);
	if (ok && config_lookup_string(&c->lc, "pid_file", &v))
		set_str(&c->pid_file, util_xstrdup(v));
	if (ok && config_lookup_string(&c->lc, "control_socket", &v))
		set_str(&c->control_socket, util_xstrdup(v));
	set_str(&c->pid_file, util_resolve_path(c->dir, c->pid_file));
	set_str(&c->control_socket,
		c->control_socket[0] ? util_resolve_path(c->dir, c->control_socket) : NULL);
	const struct key *k = keys_find(top_keys, ARRAY_LEN(top_keys), "shutdown_timeout");
	if (ok && settings_number(config_lookup(&c->lc, k->name), &d) == 0 && d >= k->min &&
	    d <= k->max)
		c->shutdown_timeout = d;
	int n;
	if (ok && config_lookup_float(&c->lc, "drain_delay", &d) && d > 0)
		c->drain_delay = d;
	else if (ok && config_lookup_int(&c->lc, "drain_delay", &n) && n > 0)
		c->drain_delay = n;
	return c;
}

const struct svc_conf *config_find_service(const struct pf_config *c, const char *name)
{
	for (int i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return &c->services[i];
	return NULL;
}
