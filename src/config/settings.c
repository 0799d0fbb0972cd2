/*
 * settings.c - struct pf_settings: typed getters over a handler's block in
 * server.conf. Bad values become "FILE:LINE: message" errors in the master
 * (so `-t` and reload catch them) and log lines in a worker. Keys nobody
 * read are reported as unknown after the handler's check.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/*
 * A number of any libconfig type: a float key takes an integer too
 * (`shutdown_timeout = 18;`), as server.conf(5) promises. The one reader
 * of numbers: the key table, the handlers' settings and `-s` use it.
 */
int settings_number(const config_setting_t *s, double *out)
{
	switch (s ? config_setting_type(s) : CONFIG_TYPE_NONE) {
	case CONFIG_TYPE_FLOAT:
		*out = s->value.fval;
		return 0;
	case CONFIG_TYPE_INT:
		*out = (double)s->value.ival;
		return 0;
	case CONFIG_TYPE_INT64:
		*out = (double)s->value.llval;
		return 0;
	default:
		return -1;
	}
}

/*
 * A worker reads its handler's settings as it starts. The values are read
 * from libconfig's public structures (libconfig.h) rather than through its
 * getters, and keys compared here rather than by strcmp: a starting worker
 * then touches no page of libconfig's code, nor that page of libc's, and
 * saves a page fault for each (README: what an idle worker costs).
 */
static unsigned block_length(const config_setting_t *b)
{
	switch (b ? config_setting_type(b) : CONFIG_TYPE_NONE) {
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ARRAY:
		return b->value.list ? b->value.list->length : 0;
	default:
		return 0;
	}
}

static const config_setting_t *block_elem(const config_setting_t *b, unsigned i)
{
	return i < block_length(b) ? b->value.list->elements[i] : NULL;
}

static long long int_value(const config_setting_t *c)
{
	return config_setting_type(c) == CONFIG_TYPE_INT64 ? c->value.llval : c->value.ival;
}

static int same_key(const char *a, const char *b)
{
	if (!a)
		return 0;
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

void settings_init(struct pf_settings *s, const config_setting_t *block, const char *file,
		   const char *dir, int line, struct errlist *errs)
{
	memset(s, 0, sizeof(*s));
	s->block = block;
	s->file = file;
	s->dir = dir;
	s->line = line;
	s->errs = errs;
}

static void report(const struct pf_settings *s, const config_setting_t *at, const char *msg)
{
	struct pf_settings *m = (struct pf_settings *)s;
	int line = at ? (int)config_setting_source_line(at) : s->line;
	m->failed = 1;
	if (s->errs)
		errlist_add(s->errs, "%s:%d: %s", s->file, line > 0 ? line : 1, msg);
	else
		log_error("%s:%d: %s", s->file, line > 0 ? line : 1, msg);
}

/* The child setting `key`, marked as read; NULL when absent. */
static const config_setting_t *member(const struct pf_settings *s, const char *key)
{
	unsigned n = block_length(s->block);
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *c = block_elem(s->block, i);
		if (c && same_key(config_setting_name(c), key)) {
			if (i < 8 * sizeof(s->used))
				((struct pf_settings *)s)->used |= 1UL << i;
			return c;
		}
	}
	return NULL;
}

PF_API void pf_settings_error(const struct pf_settings *s, const char *key, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const config_setting_t *at = key ? member(s, key) : NULL;
	if (!at)
		at = s->block;
	report(s, at, msg);
}

PF_API int pf_settings_string(const struct pf_settings *s, const char *key, const char *def,
			      const char **out)
{
	const config_setting_t *c = member(s, key);
	*out = def;
	if (!c)
		return 0;
	if (config_setting_type(c) != CONFIG_TYPE_STRING) {
		char msg[256];
		snprintf(msg, sizeof(msg), "'%s' must be a string", key);
		report(s, c, msg);
		return -1;
	}
	*out = c->value.sval;
	return 0;
}

PF_API int pf_settings_int(const struct pf_settings *s, const char *key, long long def,
			   long long min, long long max, long long *out)
{
	const config_setting_t *c = member(s, key);
	char msg[256];
	*out = def;
	if (!c)
		return 0;
	int t = config_setting_type(c);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		snprintf(msg, sizeof(msg), "'%s' must be an integer", key);
		report(s, c, msg);
		return -1;
	}
	long long v = int_value(c);
	if (v < min || v > max) {
		snprintf(msg, sizeof(msg), "'%s' must be between %lld and %lld (got %lld)", key, min,
			 max, v);
		report(s, c, msg);
		return -1;
	}
	*out = v;
	return 0;
}

PF_API int pf_settings_double(const struct pf_settings *s, const char *key, double def,
			      double min, double max, double *out)
{
	const config_setting_t *c = member(s, key);
	char msg[256];
	*out = def;
	if (!c)
		return 0;
	double v;
	if (settings_number(c, &v) < 0) {
		snprintf(msg, sizeof(msg), "'%s' must be a number", key);
		report(s, c, msg);
		return -1;
	}
	if (v < min || v > max) {
		snprintf(msg, sizeof(msg), "'%s' must be between %g and %g (got %g)", key, min, max, v);
		report(s, c, msg);
		return -1;
	}
	*out = v;
	return 0;
}

PF_API int pf_settings_bool(const struct pf_settings *s, const char *key, int def, int *out)
{
	const config_setting_t *c = member(s, key);
	*out = def;
	if (!c)
		return 0;
	if (config_setting_type(c) != CONFIG_TYPE_BOOL) {
		char msg[256];
		snprintf(msg, sizeof(msg), "'%s' must be true or false", key);
		report(s, c, msg);
		return -1;
	}
	*out = c->value.ival != 0;
	return 0;
}

PF_API int pf_settings_path(const struct pf_settings *s, const char *key, const char *def,
			    char *out, size_t outlen)
{
	const char *v;
	if (pf_settings_string(s, key, def, &v) < 0)
		return -1;
	if (!v || !v[0]) {
		if (outlen)
			out[0] = '\0';
		return 0;
	}
	/* Without an allocation: a worker's start-up makes none. */
	int n = util_join_path(out, outlen, s->dir, v);
	if (n < 0 || (size_t)n >= outlen) {
		pf_settings_error(s, key, "'%s' is too long", key);
		return -1;
	}
	return 0;
}

void settings_report_unknown(struct pf_settings *s, const char *handler)
{
	if (!s->block)
		return;
	unsigned n = block_length(s->block);
	for (unsigned i = 0; i < n && i < 8 * sizeof(s->used); i++) {
		if (s->used & (1UL << i))
			continue;
		const config_setting_t *c = block_elem(s->block, i);
		char msg[256];
		snprintf(msg, sizeof(msg), "unknown key '%s' in the %s handler's settings",
			 config_setting_name(c), handler);
		report(s, c, msg);
	}
}
