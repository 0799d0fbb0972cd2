/*
 * check_settings.c - the typed getters a handler reads its block with:
 * values of the right type and range, the default for an absent key, and
 * for a wrong type or an out-of-range value the exact "FILE:LINE: message"
 * the master prints; paths resolved against the configuration's directory;
 * keys nobody read reported as unknown. Table-driven.
 */
#include "internal.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

/* One key per line, so each error names the line of its key. */
static const char block_text[] =
	"h = {\n"			/* line 1 */
	"  n = 5;\n"			/* 2 */
	"  big = 9999999999L;\n"	/* 3 */
	"  f = 1.5;\n"			/* 4 */
	"  s = \"text\";\n"		/* 5 */
	"  b = true;\n"			/* 6 */
	"  rel = \"sub/file\";\n"	/* 7 */
	"  abs = \"/etc/x\";\n"		/* 8 */
	"  empty = \"\";\n"		/* 9 */
	"  list = [1, 2];\n"		/* 10 */
	"};\n";

static config_t cfg;
static struct errlist errs;
static struct pf_settings st;

static void setup(void)
{
	config_init(&cfg);
	ck_assert_msg(config_read_string(&cfg, block_text) == CONFIG_TRUE, "%s",
		      config_error_text(&cfg));
	memset(&errs, 0, sizeof(errs));
	settings_init(&st, config_lookup(&cfg, "h"), "t.conf", "/srv/conf", 1, &errs);
}

static void teardown(void)
{
	errlist_free(&errs);
	config_destroy(&cfg);
}

/* Exactly one error was reported, with this text. */
static void assert_one_error(const char *want)
{
	ck_assert_int_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0], want);
	ck_assert_int_eq(st.failed, 1);
}

/* ---- integers ---- */

static const struct int_case {
	const char *key;
	long long min, max;
	int rc;
	long long value;	/* when rc == 0 */
	const char *error;	/* when rc < 0 */
} int_cases[] = {
	{ "n", 0, 10, 0, 5, NULL },
	{ "absent", 0, 10, 0, 42, NULL },		/* the default */
	{ "big", 0, 10000000000LL, 0, 9999999999LL, NULL },
	{ "n", 6, 10, -1, 0, "t.conf:2: 'n' must be between 6 and 10 (got 5)" },
	{ "n", 0, 4, -1, 0, "t.conf:2: 'n' must be between 0 and 4 (got 5)" },
	{ "f", 0, 10, -1, 0, "t.conf:4: 'f' must be an integer" },
	{ "s", 0, 10, -1, 0, "t.conf:5: 's' must be an integer" },
	{ "b", 0, 10, -1, 0, "t.conf:6: 'b' must be an integer" },
};

START_TEST(test_int)
{
	const struct int_case *c = &int_cases[_i];
	long long v = -7;
	int rc = pf_settings_int(&st, c->key, 42, c->min, c->max, &v);
	ck_assert_int_eq(rc, c->rc);
	if (rc == 0) {
		ck_assert_int_eq(v, c->value);
		ck_assert_int_eq(errs.count, 0);
	} else {
		ck_assert_int_eq(v, 42);	/* the default stays on error */
		assert_one_error(c->error);
	}
}
END_TEST

/* ---- numbers ---- */

static const struct double_case {
	const char *key;
	double min, max;
	int rc;
	double value;
	const char *error;
} double_cases[] = {
	{ "f", 0, 2, 0, 1.5, NULL },
	{ "n", 0, 10, 0, 5.0, NULL },			/* an integer is a number */
	{ "big", 0, 1e12, 0, 9999999999.0, NULL },
	{ "absent", 0, 10, 0, 0.25, NULL },
	{ "f", 2, 3, -1, 0, "t.conf:4: 'f' must be between 2 and 3 (got 1.5)" },
	{ "f", 0, 1, -1, 0, "t.conf:4: 'f' must be between 0 and 1 (got 1.5)" },
	{ "s", 0, 10, -1, 0, "t.conf:5: 's' must be a number" },
	{ "list", 0, 10, -1, 0, "t.conf:10: 'list' must be a number" },
};

START_TEST(test_double)
{
	const struct double_case *c = &double_cases[_i];
	double v = -7;
	int rc = pf_settings_double(&st, c->key, 0.25, c->min, c->max, &v);
	ck_assert_int_eq(rc, c->rc);
	if (rc == 0) {
		ck_assert_double_eq(v, c->value);
		ck_assert_int_eq(errs.count, 0);
	} else {
		ck_assert_double_eq(v, 0.25);
		assert_one_error(c->error);
	}
}
END_TEST

/* ---- booleans and strings ---- */

START_TEST(test_bool)
{
	int v = -1;
	ck_assert_int_eq(pf_settings_bool(&st, "b", 0, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(pf_settings_bool(&st, "absent", 1, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(errs.count, 0);
	ck_assert_int_eq(pf_settings_bool(&st, "n", 0, &v), -1);
	ck_assert_int_eq(v, 0);
	assert_one_error("t.conf:2: 'n' must be true or false");
}
END_TEST

START_TEST(test_string)
{
	const char *v = NULL;
	ck_assert_int_eq(pf_settings_string(&st, "s", "d", &v), 0);
	ck_assert_str_eq(v, "text");
	ck_assert_int_eq(pf_settings_string(&st, "absent", "d", &v), 0);
	ck_assert_str_eq(v, "d");
	ck_assert_int_eq(errs.count, 0);
	ck_assert_int_eq(pf_settings_string(&st, "n", "d", &v), -1);
	assert_one_error("t.conf:2: 'n' must be a string");
}
END_TEST

/* ---- paths ---- */

static const struct path_case {
	const char *key, *def;
	size_t outlen;
	int rc;
	const char *value;
	const char *error;
} path_cases[] = {
	{ "rel", NULL, 256, 0, "/srv/conf/sub/file", NULL },	/* beside the configuration */
	{ "abs", NULL, 256, 0, "/etc/x", NULL },
	{ "empty", "dflt", 256, 0, "", NULL },			/* "" stays "", unresolved */
	{ "absent", "dflt", 256, 0, "/srv/conf/dflt", NULL },
	{ "absent", NULL, 256, 0, "", NULL },			/* no default: empty */
	{ "rel", NULL, 19, 0, "/srv/conf/sub/file", NULL },	/* exactly fits with its NUL */
	{ "rel", NULL, 18, -1, NULL, "t.conf:7: 'rel' is too long" },
	{ "n", NULL, 256, -1, NULL, "t.conf:2: 'n' must be a string" },
};

START_TEST(test_path)
{
	const struct path_case *c = &path_cases[_i];
	char out[256];
	memset(out, 'x', sizeof(out));
	int rc = pf_settings_path(&st, c->key, c->def, out, c->outlen);
	ck_assert_int_eq(rc, c->rc);
	if (c->value)
		ck_assert_str_eq(out, c->value);
	if (c->error) {
		ck_assert_int_ge(errs.count, 1);
		ck_assert_str_eq(errs.msgs[errs.count - 1], c->error);
	} else {
		ck_assert_int_eq(errs.count, 0);
	}
}
END_TEST

/* ---- errors, unknown keys ---- */

START_TEST(test_error_names_key_line_or_block)
{
	pf_settings_error(&st, "b", "bad %s", "b");
	pf_settings_error(&st, "absent", "no such key");	/* the block's line */
	pf_settings_error(&st, NULL, "general");
	ck_assert_int_eq(errs.count, 3);
	ck_assert_str_eq(errs.msgs[0], "t.conf:6: bad b");
	ck_assert_str_eq(errs.msgs[1], "t.conf:1: no such key");
	ck_assert_str_eq(errs.msgs[2], "t.conf:1: general");
}
END_TEST

START_TEST(test_unknown_keys_are_the_unread_ones)
{
	long long n;
	const char *s;
	ck_assert_int_eq(pf_settings_int(&st, "n", 0, 0, 10, &n), 0);
	ck_assert_int_eq(pf_settings_string(&st, "s", NULL, &s), 0);
	settings_report_unknown(&st, "echo");
	/* Every key but n and s, in the order of the file. */
	static const char *const want[] = { "big", "f", "b", "rel", "abs", "empty", "list" };
	static const int line[] = { 3, 4, 6, 7, 8, 9, 10 };
	ck_assert_int_eq(errs.count, 7);
	for (int i = 0; i < 7; i++) {
		char msg[128];
		snprintf(msg, sizeof(msg), "t.conf:%d: unknown key '%s' in the echo handler's settings",
			 line[i], want[i]);
		ck_assert_str_eq(errs.msgs[i], msg);
	}
}
END_TEST

START_TEST(test_no_block_means_every_key_absent)
{
	struct pf_settings none;
	long long n = 0;
	int b = 0;
	settings_init(&none, NULL, "t.conf", "/srv", 9, &errs);
	ck_assert_int_eq(pf_settings_int(&none, "n", 3, 0, 10, &n), 0);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(pf_settings_bool(&none, "b", 1, &b), 0);
	ck_assert_int_eq(b, 1);
	settings_report_unknown(&none, "echo");
	ck_assert_int_eq(errs.count, 0);
	pf_settings_error(&none, "n", "at the service");
	ck_assert_int_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0], "t.conf:9: at the service");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *settings_suite(void)
{
	Suite *s = suite_create("settings");
	TCase *tc = tcase_create("getters");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_int, 0, N(int_cases));
	tcase_add_loop_test(tc, test_double, 0, N(double_cases));
	tcase_add_test(tc, test_bool);
	tcase_add_test(tc, test_string);
	tcase_add_loop_test(tc, test_path, 0, N(path_cases));
	tcase_add_test(tc, test_error_names_key_line_or_block);
	tcase_add_test(tc, test_unknown_keys_are_the_unread_ones);
	tcase_add_test(tc, test_no_block_means_every_key_absent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(settings_suite(), CK_FORK);
}
