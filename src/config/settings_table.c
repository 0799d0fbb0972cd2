/*
 * settings_table.c - a handler's declarative settings (struct
 * pf_handler.settings): the master checks its block against the table
 * (types, ranges, allowed values, unknown keys: FILE:LINE errors at start,
 * on -t and on reload) with no check() code, and init reads the values with
 * the pf_settings_get_* getters, which give the table's default for an
 * absent key. The checks go through the typed getters of settings.c, so a
 * table and a check() report in the same words.
 * Entry points: settings_table_check and the pf_settings_get_* getters.
 */
#include "internal.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <string.h>

static const struct pf_setting *find(const struct pf_setting *t, const char *key)
{
	for (; t && t->key; t++)
		if (strcmp(t->key, key) == 0)
			return t;
	return NULL;
}

static int has_range(const struct pf_setting *e)
{
	return e->min != 0 || e->max != 0;
}

/* A bound as an integer, without overflowing. */
static long long to_ll(double v)
{
	if (v >= 9.2e18)
		return LLONG_MAX;
	if (v <= -9.2e18)
		return LLONG_MIN;
	return (long long)v;
}

/* Whether d is a whole number (floor(d) == d, without libm). */
static int is_whole(double d)
{
	if (d != d)			/* NaN */
		return 0;
	if (d >= 9007199254740992.0 || d <= -9007199254740992.0)
		return 1;		/* 2^53 and beyond: doubles have no fraction there */
	return (double)(long long)d == d;
}

static long long int_min(const struct pf_setting *e)
{
	return has_range(e) ? to_ll(e->min) : LLONG_MIN;
}

static long long int_max(const struct pf_setting *e)
{
	return has_range(e) ? to_ll(e->max) : LLONG_MAX;
}

static double dbl_min(const struct pf_setting *e)
{
	return has_range(e) ? e->min : -DBL_MAX;
}

static double dbl_max(const struct pf_setting *e)
{
	return has_range(e) ? e->max : DBL_MAX;
}

static const char *str_def(const struct pf_setting *e)
{
	return e->def ? e->def : "";
}

static int allowed(const struct pf_setting *e, const char *v)
{
	if (!e->allowed)
		return 1;
	for (const char *const *a = e->allowed; *a; a++)
		if (strcmp(*a, v) == 0)
			return 1;
	return 0;
}

/* "a, b or c" into buf. */
static void list_allowed(const struct pf_setting *e, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (const char *const *a = e->allowed; *a && o < len; a++) {
		const char *sep = a == e->allowed ? "" : a[1] ? ", " : " or ";
		int n = snprintf(buf + o, len - o, "%s%s", sep, *a);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

/* A handler's table that cannot work (its own bug): the reason, or NULL. */
static const char *entry_invalid(const struct pf_setting *t, const struct pf_setting *e)
{
	if (!e->key[0])
		return "has an empty key";
	if (find(t, e->key) != e)
		return "appears twice";
	switch (e->type) {
	case PF_SETTING_STRING:
		return allowed(e, str_def(e)) ? NULL : "has a default that is not allowed";
	case PF_SETTING_PATH:
	case PF_SETTING_BOOL:
		return NULL;
	case PF_SETTING_INT:
		if (e->min > e->max)
			return "has min above max";
		if (!is_whole(e->def_number) || e->def_number < (double)int_min(e) ||
		    e->def_number > (double)int_max(e))
			return "has a default outside its range";
		return NULL;
	case PF_SETTING_DOUBLE:
		if (e->min > e->max)
			return "has min above max";
		if (!(e->def_number >= dbl_min(e) && e->def_number <= dbl_max(e)))
			return "has a default outside its range";
		return NULL;
	default:
		return "has an unknown type";
	}
}

/* Check one configured key against its entry (errors at its line); -1 on error. */
static int check_entry(const struct pf_settings *s, const struct pf_setting *e)
{
	long long i;
	double d;
	int b;
	const char *v;
	char path[4096];
	switch (e->type) {
	case PF_SETTING_INT:
		return pf_settings_int(s, e->key, to_ll(e->def_number), int_min(e), int_max(e), &i);
	case PF_SETTING_DOUBLE:
		return pf_settings_double(s, e->key, e->def_number, dbl_min(e), dbl_max(e), &d);
	case PF_SETTING_BOOL:
		return pf_settings_bool(s, e->key, e->def_number != 0, &b);
	case PF_SETTING_PATH:
		return pf_settings_path(s, e->key, str_def(e), path, sizeof(path));
	case PF_SETTING_STRING:
		if (pf_settings_string(s, e->key, str_def(e), &v) < 0)
			return -1;
		if (!allowed(e, v)) {
			char list[512];
			list_allowed(e, list, sizeof(list));
			pf_settings_error(s, e->key, "'%s' must be %s%s (got '%s')", e->key,
					  e->allowed[0] && e->allowed[1] ? "one of " : "", list, v);
			return -1;
		}
		return 0;
	}
	return -1;
}

int settings_table_check(struct pf_settings *s, const struct pf_setting *table,
			 const char *handler)
{
	int bad = 0;
	s->table = table;
	for (const struct pf_setting *e = table; e->key; e++) {
		const char *why = entry_invalid(table, e);
		if (why) {
			pf_settings_error(s, NULL, "the %s handler's settings table: entry '%s' %s",
					  handler, e->key, why);
			bad = 1;
		}
	}
	if (bad) {
		s->used = ~0UL;	/* the block cannot be judged: no "unknown key" noise */
		return -1;
	}
	for (const struct pf_setting *e = table; e->key; e++)
		bad |= check_entry(s, e) < 0;
	return bad ? -1 : 0;
}

/* ---- the getters init reads the checked values with ---- */

/* The table entry of `key` of type `type`, or NULL (errno ENOENT, logged). */
static const struct pf_setting *entry(const struct pf_settings *s, const char *key, int type)
{
	const struct pf_setting *e = find(s->table, key);
	if (!e || (int)e->type != type) {
		log_error("setting '%s' is not in the handler's settings table%s", key,
			  e ? " with that type" : "");
		errno = ENOENT;
		return NULL;
	}
	return e;
}

PF_API const char *pf_settings_get_string(const struct pf_settings *s, const char *key)
{
	const struct pf_setting *e = entry(s, key, PF_SETTING_STRING);
	const char *v = "";
	if (e && pf_settings_string(s, key, str_def(e), &v) < 0)
		v = str_def(e);
	return v;
}

PF_API long long pf_settings_get_int(const struct pf_settings *s, const char *key)
{
	const struct pf_setting *e = entry(s, key, PF_SETTING_INT);
	long long v = 0;
	if (e && pf_settings_int(s, key, to_ll(e->def_number), int_min(e), int_max(e), &v) < 0)
		v = to_ll(e->def_number);
	return v;
}

PF_API double pf_settings_get_double(const struct pf_settings *s, const char *key)
{
	const struct pf_setting *e = entry(s, key, PF_SETTING_DOUBLE);
	double v = 0;
	if (e && pf_settings_double(s, key, e->def_number, dbl_min(e), dbl_max(e), &v) < 0)
		v = e->def_number;
	return v;
}

PF_API int pf_settings_get_bool(const struct pf_settings *s, const char *key)
{
	const struct pf_setting *e = entry(s, key, PF_SETTING_BOOL);
	int v = 0;
	if (e && pf_settings_bool(s, key, e->def_number != 0, &v) < 0)
		v = e->def_number != 0;
	return v;
}

PF_API int pf_settings_get_path(const struct pf_settings *s, const char *key, char *out,
				size_t outlen)
{
	const struct pf_setting *e = entry(s, key, PF_SETTING_PATH);
	if (outlen)
		out[0] = '\0';
	if (!e)
		return -1;
	return pf_settings_path(s, key, str_def(e), out, outlen);
}
