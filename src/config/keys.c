/*
 * keys.c - check one libconfig setting against its key table entry (type,
 * range, allowed values) and store it into the struct being filled; every
 * problem becomes "FILE:LINE: message" in the load's error list. config.c
 * holds the tables and walks the file; this file knows no key by name.
 */
#include "config/keys.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *keys_file(struct keys_ctx *x, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;
	return f ? f : x->c->file;
}

int keys_line(const config_setting_t *s)
{
	int l = s ? (int)config_setting_source_line(s) : 0;
	return l > 0 ? l : 1;
}

void keys_err_at(struct keys_ctx *x, const config_setting_t *s, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errlist_add(x->errs, "%s:%d: %s", keys_file(x, s), keys_line(s), msg);
}

const struct key *keys_find(const struct key *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* "unknown key 'wokers' (did you mean 'workers'?)" */
void keys_unknown(struct keys_ctx *x, const config_setting_t *s, const struct key *keys,
			size_t n, const char *extra_name)
{
	const char *name = config_setting_name(s);
	const char *best = NULL;
	int best_d = 3;
	for (size_t i = 0; i <= n; i++) {
		const char *cand = i < n ? keys[i].name : extra_name;
		if (!cand)
			continue;
		int d = util_edit_distance(name, cand);
		if (d < best_d || (d <= 2 && strlen(name) > 3 && strstr(cand, name))) {
			best_d = d;
			best = cand;
		}
	}
	if (best)
		keys_err_at(x, s, "unknown key '%s' (did you mean '%s'?)", name, best);
	else
		keys_err_at(x, s, "unknown key '%s'", name);
}

void keys_store(struct keys_ctx *x, const config_setting_t *s, const struct key *k, void *base)
{
	const char *name = k->name;
	int type = config_setting_type(s);
	char *field = (char *)base + k->offset;

	switch (k->type) {
	case K_STRING:
	case K_LEVEL:
		if (type != CONFIG_TYPE_STRING) {
			keys_err_at(x, s, "'%s' must be a string", name);
			return;
		}
		if (k->type == K_LEVEL) {
			int lvl = log_parse_level(config_setting_get_string(s));
			if (lvl < 0)
				keys_err_at(x, s, "'%s' must be one of error, warn, info, debug (got '%s')",
				       name, config_setting_get_string(s));
			else
				*(int *)field = lvl;
			return;
		}
		free(*(char **)field);
		*(char **)field = util_xstrdup(config_setting_get_string(s));
		return;
	case K_INT:
	case K_LONG: {
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
			keys_err_at(x, s, "'%s' must be an integer", name);
			return;
		}
		long long v = config_setting_get_int64(s);
		if ((double)v < k->min || (double)v > k->max) {
			keys_err_at(x, s, "'%s' must be between %.0f and %.0f (got %lld)", name, k->min,
			       k->max, v);
			return;
		}
		if (k->type == K_LONG)
			*(long *)field = (long)v;
		else
			*(int *)field = (int)v;
		return;
	}
	case K_FLOAT: {
		double v;
		if (settings_number(s, &v) < 0) {
			keys_err_at(x, s, "'%s' must be a number of seconds", name);
			return;
		}
		if (v < k->min || v > k->max) {
			keys_err_at(x, s, "'%s' must be between %g and %g seconds (got %g)", name, k->min,
			       k->max, v);
			return;
		}
		/* cppcheck-suppress invalidPointerCast ; field is the address of a double member */
		*(double *)field = v;
		return;
	}
	case K_BOOL:
		if (type != CONFIG_TYPE_BOOL) {
			keys_err_at(x, s, "'%s' must be true or false", name);
			return;
		}
		*(int *)field = config_setting_get_bool(s);
		return;
	case K_LIST:
		return;
	}
}

