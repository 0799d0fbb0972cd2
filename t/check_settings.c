/*
 * check_settings.c - the typed getters a handler reads its block with:
 * values of the right type and range, the default for an absent key, and
 * for a wrong type or an out-of-range value the exact "FILE:LINE: message"
 * the master prints; paths resolved against the configuration's directory;
 * keys nobody read reported as unknown. Table-driven.
 */
#include "internal.h"

#include <check.h>
#include <errno.h>
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

/* ---- the declarative table (struct pf_handler.settings) ---- */

static const char *const modes[] = { "fast", "slow", NULL };

static const struct pf_setting table[] = {
	{ .key = "greeting", .type = PF_SETTING_STRING, .def = "hello" },
	{ .key = "count", .type = PF_SETTING_INT, .def_number = 3, .min = 1, .max = 10 },
	{ .key = "mode", .type = PF_SETTING_STRING, .def = "fast", .allowed = modes },
	{ .key = "ratio", .type = PF_SETTING_DOUBLE, .def_number = 0.5, .min = 0, .max = 1 },
	{ .key = "loud", .type = PF_SETTING_BOOL, .def_number = 1 },
	{ .key = "file", .type = PF_SETTING_PATH, .def = "data" },
	{ .key = "any", .type = PF_SETTING_INT, .def_number = -5 },	/* no range */
	{ .key = NULL },
};

/* The block on line 1, each key on a line of its own from line 2. */
static const struct table_case {
	const char *block;
	const char *errors[3];	/* in order; NULL-terminated */
} table_cases[] = {
	{ "", { NULL } },
	{ "count = 10; mode = \"slow\"; ratio = 1; loud = false; any = -99999999999L;", { NULL } },
	{ "ratio = 0;\ncount = 1;", { NULL } },	/* an integer for a double, the range's ends */
	{ "greting = \"x\";",
	  { "t.conf:2: unknown key 'greting' in the tm handler's settings", NULL } },
	{ "count = 11;", { "t.conf:2: 'count' must be between 1 and 10 (got 11)", NULL } },
	{ "count = 0;", { "t.conf:2: 'count' must be between 1 and 10 (got 0)", NULL } },
	{ "count = 2.5;", { "t.conf:2: 'count' must be an integer", NULL } },
	{ "ratio = -0.1;", { "t.conf:2: 'ratio' must be between 0 and 1 (got -0.1)", NULL } },
	{ "ratio = \"x\";", { "t.conf:2: 'ratio' must be a number", NULL } },
	{ "mode = \"medium\";",
	  { "t.conf:2: 'mode' must be one of fast or slow (got 'medium')", NULL } },
	{ "loud = 1;", { "t.conf:2: 'loud' must be true or false", NULL } },
	{ "greeting = 5;", { "t.conf:2: 'greeting' must be a string", NULL } },
	{ "file = [1];", { "t.conf:2: 'file' must be a string", NULL } },
	{ "count = 99;\nzz = 1;\nmode = \"x\";",
	  { "t.conf:2: 'count' must be between 1 and 10 (got 99)",
	    "t.conf:4: 'mode' must be one of fast or slow (got 'x')",
	    "t.conf:3: unknown key 'zz' in the tm handler's settings" } },
};

static config_t tcfg;

/* Parse "tm = {\n BLOCK\n};" and check it against `t`; the result of the check. */
static int table_run(const struct pf_setting *t, const char *block, struct pf_settings *s)
{
	char text[1024];
	snprintf(text, sizeof(text), "tm = {\n%s\n};\n", block);
	config_init(&tcfg);
	ck_assert_msg(config_read_string(&tcfg, text) == CONFIG_TRUE, "%s",
		      config_error_text(&tcfg));
	settings_init(s, config_lookup(&tcfg, "tm"), "t.conf", "/srv/conf", 1, &errs);
	int rc = settings_table_check(s, t, "tm");
	if (rc == 0)
		settings_report_unknown(s, "tm");
	return rc;
}

START_TEST(test_table)
{
	const struct table_case *c = &table_cases[_i];
	struct pf_settings s;
	int rc = table_run(table, c->block, &s);
	int want = 0;
	while (want < 3 && c->errors[want])
		want++;
	if (rc < 0)
		settings_report_unknown(&s, "tm");
	for (int i = 0; i < errs.count && i < want; i++)
		ck_assert_str_eq(errs.msgs[i], c->errors[i]);
	ck_assert_int_eq(errs.count, want);
	ck_assert_int_eq(rc < 0 || s.failed, want > 0);
	config_destroy(&tcfg);
}
END_TEST

START_TEST(test_table_getters)
{
	struct pf_settings s;
	char path[256];
	ck_assert_int_eq(table_run(table, "count = 7;\nmode = \"slow\";\nfile = \"/abs\";", &s), 0);
	ck_assert_str_eq(pf_settings_get_string(&s, "greeting"), "hello");	/* defaults */
	ck_assert_double_eq(pf_settings_get_double(&s, "ratio"), 0.5);
	ck_assert_int_eq(pf_settings_get_bool(&s, "loud"), 1);
	ck_assert_int_eq(pf_settings_get_int(&s, "any"), -5);
	ck_assert_int_eq(pf_settings_get_int(&s, "count"), 7);			/* configured */
	ck_assert_str_eq(pf_settings_get_string(&s, "mode"), "slow");
	ck_assert_int_eq(pf_settings_get_path(&s, "file", path, sizeof(path)), 0);
	ck_assert_str_eq(path, "/abs");
	ck_assert_int_eq(errs.count, 0);
	config_destroy(&tcfg);
	ck_assert_int_eq(table_run(table, "", &s), 0);
	ck_assert_int_eq(pf_settings_get_path(&s, "file", path, sizeof(path)), 0);
	ck_assert_str_eq(path, "/srv/conf/data");	/* relative: the config's folder */
	/* A key the table lacks, or with another type: 0 / "" and ENOENT. */
	errno = 0;
	ck_assert_int_eq(pf_settings_get_int(&s, "nope"), 0);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_str_eq(pf_settings_get_string(&s, "count"), "");
	config_destroy(&tcfg);
}
END_TEST

/* A table that cannot work is the handler's bug: reported at the block, nothing checked. */
static const struct pf_setting bad_dup[] = {
	{ .key = "a", .type = PF_SETTING_BOOL }, { .key = "a", .type = PF_SETTING_INT }, { NULL } };
static const struct pf_setting bad_range[] = {
	{ .key = "n", .type = PF_SETTING_INT, .def_number = 0, .min = 5, .max = 1 }, { NULL } };
static const struct pf_setting bad_def[] = {
	{ .key = "n", .type = PF_SETTING_INT, .def_number = 20, .min = 1, .max = 10 }, { NULL } };
static const struct pf_setting bad_frac[] = {
	{ .key = "n", .type = PF_SETTING_INT, .def_number = 2.5, .min = 1, .max = 10 }, { NULL } };
static const struct pf_setting bad_allowed[] = {
	{ .key = "m", .type = PF_SETTING_STRING, .def = "x", .allowed = modes }, { NULL } };
static const struct pf_setting bad_type[] = {
	{ .key = "t", .type = (enum pf_setting_type)42 }, { NULL } };

static const struct bad_table_case {
	const struct pf_setting *t;
	const char *error;
} bad_table_cases[] = {
	{ bad_dup, "t.conf:1: the tm handler's settings table: entry 'a' appears twice" },
	{ bad_range, "t.conf:1: the tm handler's settings table: entry 'n' has min above max" },
	{ bad_def, "t.conf:1: the tm handler's settings table: entry 'n' has a default outside "
		   "its range" },
	{ bad_frac, "t.conf:1: the tm handler's settings table: entry 'n' has a default outside "
		    "its range" },
	{ bad_allowed, "t.conf:1: the tm handler's settings table: entry 'm' has a default that "
		       "is not allowed" },
	{ bad_type, "t.conf:1: the tm handler's settings table: entry 't' has an unknown type" },
};

START_TEST(test_bad_table)
{
	struct pf_settings s;
	ck_assert_int_eq(table_run(bad_table_cases[_i].t, "x = 1;", &s), -1);
	settings_report_unknown(&s, "tm");	/* no noise about keys a broken table cannot judge */
	ck_assert_int_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0], bad_table_cases[_i].error);
	config_destroy(&tcfg);
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
	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_table, 0, N(table_cases));
	tcase_add_test(tc, test_table_getters);
	tcase_add_loop_test(tc, test_bad_table, 0, N(bad_table_cases));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(settings_suite(), CK_FORK);
}
