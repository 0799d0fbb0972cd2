/*
 * config_fleet.c - the keys for running behind a load balancer: the
 * top-level `metrics` address, and per service `workers = "auto"`,
 * `max_rss` and `agent_check`. Validated like the rest of config.c, every
 * problem as "FILE:LINE: message". Entry points: config_fleet_service_key,
 * config_fleet_check.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void err_at(struct errlist *errs, const char *file, const config_setting_t *s,
		   const char *fmt, ...) PF_PRINTF_ATTR(4, 5);
static void err_at(struct errlist *errs, const char *file, const config_setting_t *s,
		   const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *f = s && config_setting_source_file(s) ? config_setting_source_file(s) : file;
	int line = s ? (int)config_setting_source_line(s) : 0;
	errlist_add(errs, "%s:%d: %s", f, line > 0 ? line : 1, msg);
}

/* workers = "auto" and max_rss; 1 when s was one of them (handled), else 0. */
int config_fleet_service_key(struct errlist *errs, const char *file, const config_setting_t *s,
			     struct svc_conf *v)
{
	const char *name = config_setting_name(s);
	int type = config_setting_type(s);
	if (strcmp(name, "workers") == 0 && type == CONFIG_TYPE_STRING) {
		if (strcmp(config_setting_get_string(s), "auto") != 0) {
			err_at(errs, file, s, "'workers' must be an integer or \"auto\" (got \"%s\")",
			       config_setting_get_string(s));
			return 1;
		}
		char why[512];
		v->workers = sizing_auto(why, sizeof(why));
		v->workers_auto = 1;
		free(v->workers_why);
		v->workers_why = util_xstrdup(why);
		return 1;
	}
	if (strcmp(name, "max_rss") != 0)
		return 0;
	long long bytes = -1;
	if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
		bytes = config_setting_get_int64(s);
	else if (type == CONFIG_TYPE_STRING)
		bytes = sizing_parse_bytes(config_setting_get_string(s));
	if (bytes != 0 && (bytes < (1LL << 20) || bytes > (1LL << 50)))
		err_at(errs, file, s, "'max_rss' must be 0 (unlimited) or a size from 1M to 1024T, "
		       "such as 268435456 or \"256M\"");
	else
		v->max_rss = bytes;
	return 1;
}

/* Parse an address key in place; "" turns it off (NULL). */
static void parse_addr(struct errlist *errs, const char *file, const config_setting_t *s,
		       const char *dir, char **text, struct addr *out)
{
	if (*text && !(*text)[0]) {
		free(*text);
		*text = NULL;
	}
	char err[512];
	if (*text && addr_parse(*text, dir, out, err, sizeof(err)) < 0) {
		err_at(errs, file, s, "'%s': %s", config_setting_name(s), err);
		free(*text);
		*text = NULL;
	}
}

/* Who else uses a: a service's name, "another agent_check", "metrics", or NULL. */
static const char *addr_taken(const struct pf_config *c, const struct addr *a, int self)
{
	if (addr_port(a) == 0 && a->family != AF_UNIX)
		return NULL;	/* each may ask for a free port */
	for (int j = 0; j < c->nservices; j++) {
		const struct svc_conf *o = &c->services[j];
		if (o->listen && o->addr.family && addr_equal(&o->addr, a))
			return o->name ? o->name : "a service";
		if (j < self && o->agent_check && addr_equal(&o->agent_addr, a))
			return "another agent_check";
	}
	if (self >= 0 && c->metrics && addr_equal(&c->metrics_addr, a))
		return "metrics";
	return NULL;
}

void config_fleet_check(struct errlist *errs, struct pf_config *c, const config_setting_t *list)
{
	config_setting_t *root = config_root_setting(&c->lc);
	const config_setting_t *ms = config_setting_get_member(root, "metrics");
	const char *who;
	parse_addr(errs, c->file, ms, c->dir, &c->metrics, &c->metrics_addr);
	if (c->metrics && (who = addr_taken(c, &c->metrics_addr, -1)))
		err_at(errs, c->file, ms, "'metrics' address '%s' is already used by %s", c->metrics,
		       who);
	for (int i = 0; i < c->nservices; i++) {
		struct svc_conf *v = &c->services[i];
		const config_setting_t *as =
			config_setting_get_member(config_setting_get_elem(list, (unsigned)i), "agent_check");
		parse_addr(errs, c->file, as, c->dir, &v->agent_check, &v->agent_addr);
		if (v->agent_check && (who = addr_taken(c, &v->agent_addr, i)))
			err_at(errs, c->file, as, "'agent_check' address '%s' is already used by %s",
			       v->agent_check, who);
	}
}
