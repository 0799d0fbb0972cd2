/*
 * check_fleet.c - the pure parts of running a fleet: workers = "auto" from
 * cgroup v2 cpu.max texts, max_rss sizes, the agent-check weight and its
 * smoothing, the request-duration buckets, and the configuration errors of
 * metrics, agent_check, workers = "auto" and max_rss with their FILE:LINE.
 */
#include "master/master.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"

static const struct { const char *text; int cpus; } quota_cases[] = {
	{ "max 100000", 0 },
	{ "max 100000\n", 0 },
	{ "100000 100000", 1 },
	{ "150000 100000", 2 },
	{ "200000 100000", 2 },
	{ "50000 100000", 1 },
	{ "1 100000", 1 },
	{ "400000 100000", 4 },
	{ "350000 50000", 7 },
	{ "", -1 },
	{ "max", -1 },
	{ "abc 100000", -1 },
	{ "100000 0", -1 },
	{ "-5 100000", -1 },
	{ "100000 100000 9", -1 },
	{ "0 100000", -1 },
};

START_TEST(test_quota)
{
	ck_assert_msg(sizing_from_quota(quota_cases[_i].text) == quota_cases[_i].cpus,
		      "cpu.max \"%s\": got %d, want %d", quota_cases[_i].text,
		      sizing_from_quota(quota_cases[_i].text), quota_cases[_i].cpus);
}
END_TEST

START_TEST(test_auto_is_at_least_one)
{
	char why[512];
	int n = sizing_auto(why, sizeof(why));
	ck_assert_int_ge(n, 1);
	ck_assert_ptr_nonnull(strstr(why, "affinity"));
}
END_TEST

static const struct { const char *text; long long bytes; } size_cases[] = {
	{ "268435456", 268435456LL },
	{ "256M", 268435456LL },
	{ "256m", 268435456LL },
	{ "1G", 1LL << 30 },
	{ "512k", 512LL << 10 },
	{ "2T", 2LL << 40 },
	{ "0", 0 },
	{ "", -1 },
	{ "M", -1 },
	{ "12Q", -1 },
	{ "-1M", -1 },
	{ " 1M", -1 },
	{ "1MB", -1 },
	{ "99999999999999999999", -1 },
	{ "2000000T", -1 },
};

START_TEST(test_sizes)
{
	ck_assert_msg(sizing_parse_bytes(size_cases[_i].text) == size_cases[_i].bytes,
		      "\"%s\": got %lld", size_cases[_i].text,
		      sizing_parse_bytes(size_cases[_i].text));
}
END_TEST

static const struct { double ratio; int weight; } weight_cases[] = {
	{ 1.0, 100 }, { 0.5, 50 }, { 0.25, 25 }, { 0.0, 1 }, { 0.001, 1 },
	{ 0.006, 1 }, { 0.994, 99 }, { 1.5, 100 }, { -1.0, 1 },
};

START_TEST(test_weight)
{
	ck_assert_int_eq(agent_weight(weight_cases[_i].ratio), weight_cases[_i].weight);
}
END_TEST

START_TEST(test_weight_nan_is_not_zero)
{
	ck_assert_int_eq(agent_weight(NAN), 1);
}
END_TEST

START_TEST(test_smooth)
{
	/* No time passed: no change. A time constant later: 63% of the way. */
	ck_assert(agent_smooth(1.0, 0.0, 0, 2.0) == 1.0);
	double v = agent_smooth(1.0, 0.0, 2.0, 2.0);
	ck_assert(fabs(v - exp(-1.0)) < 1e-9);
	/* A long time later the sample wins; tau 0 takes it at once. */
	ck_assert(fabs(agent_smooth(1.0, 0.25, 100.0, 2.0) - 0.25) < 1e-9);
	ck_assert(agent_smooth(0.9, 0.1, 0.5, 0) == 0.1);
	/* The weight of the old value is e^(-dt/tau), as libm computes it, at every scale. */
	static const double dts[] = { 1e-9, 0.001, 0.015625, 0.1, 0.5, 1.0, 3.0, 10.0, 50.0,
				      300.0, 700.0, 744.0, 1e6 };
	for (size_t i = 0; i < sizeof(dts) / sizeof(dts[0]); i++) {
		double w = agent_smooth(1.0, 0.0, dts[i], 1.0), want = exp(-dts[i]);
		ck_assert_msg(fabs(w - want) <= 1e-12 * want + 1e-15, "dt %g: %.17g, libm %.17g",
			      dts[i], w, want);
	}
	/* Smoothing never leaves the range of its inputs. */
	double x = 1.0;
	for (int i = 0; i < 100; i++) {
		x = agent_smooth(x, i % 2 ? 0.0 : 1.0, 0.3, 2.0);
		ck_assert(x >= 0.0 && x <= 1.0);
	}
}
END_TEST

static const struct { uint64_t us; int bucket; } bucket_cases[] = {
	{ 0, 0 }, { 1000, 0 }, { 1001, 1 }, { 2500, 1 }, { 9999, 3 }, { 10000000, 12 },
	{ 10000001, 13 }, { UINT64_MAX, 13 },
};

START_TEST(test_buckets)
{
	ck_assert_int_eq(scoreboard_hist_bucket(bucket_cases[_i].us), bucket_cases[_i].bucket);
}
END_TEST

/* ---- configuration ---- */

static char dir[] = "/tmp/check_fleet.XXXXXX";

#define SVC(extra) "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n" \
		   extra " }\n);\n"

static const struct { const char *text; int line; const char *message; } bad_cases[] = {
	{ SVC("workers = \"many\";"), 3, "'workers' must be an integer or \"auto\" (got \"many\")" },
	{ SVC("max_rss = \"lots\";"), 3, "'max_rss' must be 0 (unlimited) or a size from 1M" },
	{ SVC("max_rss = 1000;"), 3, "'max_rss' must be 0 (unlimited) or a size from 1M" },
	{ SVC("max_rss = true;"), 3, "'max_rss' must be 0 (unlimited) or a size from 1M" },
	{ SVC("agent_check = \"nowhere\";"), 3, "'agent_check': " },
	{ SVC("agent_check = \"127.0.0.1:1\";"), 3,
	  "'agent_check' address '127.0.0.1:1' is already used by a" },
	{ "metrics = \"127.0.0.1:1\";\n" SVC(""), 1, "'metrics' address '127.0.0.1:1' is already used by a" },
	{ "metrics = \"127.0.0.1:9\";\n" SVC("agent_check = \"127.0.0.1:9\";"), 4,
	  "'agent_check' address '127.0.0.1:9' is already used by metrics" },
	{ "metrics = 9101;\n" SVC(""), 1, "'metrics' must be a string" },
	{ "drain_delay = -1;\n" SVC(""), 1, "'drain_delay' must be between 0 and 86400 seconds" },
	{ "drain_delay = \"1s\";\n" SVC(""), 1, "'drain_delay' must be a number of seconds" },
};

static const char *write_conf(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "%s/s.conf", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(test_bad_config)
{
	const char *path = write_conf(bad_cases[_i].text);
	struct errlist errs = { 0 };
	ck_assert_ptr_null(config_load(path, NULL, &errs));
	char want[600];
	snprintf(want, sizeof(want), "%s:%d: %s", path, bad_cases[_i].line, bad_cases[_i].message);
	int found = 0;
	for (int i = 0; i < errs.count; i++)
		found |= strncmp(errs.msgs[i], want, strlen(want)) == 0;
	for (int i = 0; i < errs.count && !found; i++)
		fprintf(stderr, "case %d got: %s\n", _i, errs.msgs[i]);
	ck_assert_msg(found, "case %d: no error starting with \"%s\"", _i, want);
	errlist_free(&errs);
}
END_TEST

START_TEST(test_good_config)
{
	const char *path = write_conf("metrics = \"127.0.0.1:0\";\ndrain_delay = 2;\n"
		SVC("workers = \"auto\"; max_rss = \"64M\"; agent_check = \"127.0.0.1:0\";"));
	struct errlist errs = { 0 };
	struct pf_config *c = config_load(path, NULL, &errs);
	for (int i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->metrics, "127.0.0.1:0");
	ck_assert(c->drain_delay == 2.0);
	ck_assert_int_eq(c->services[0].workers_auto, 1);
	ck_assert_int_ge(c->services[0].workers, 1);
	ck_assert_ptr_nonnull(c->services[0].workers_why);
	ck_assert(c->services[0].max_rss == 64LL << 20);
	ck_assert_str_eq(c->services[0].agent_check, "127.0.0.1:0");
	config_free(c);
	/* Empty addresses turn both off; the defaults are off and 0. */
	path = write_conf("metrics = \"\";\n" SVC("agent_check = \"\";"));
	c = config_load(path, NULL, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->metrics);
	ck_assert_ptr_null(c->services[0].agent_check);
	ck_assert(c->drain_delay == 0.0);
	ck_assert(c->services[0].max_rss == 0);
	config_free(c);
}
END_TEST

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/s.conf", dir);
	unlink(path);
	rmdir(dir);
	strcpy(dir, "/tmp/check_fleet.XXXXXX");
}

int main(void)
{
	Suite *s = suite_create("fleet");
	TCase *t = tcase_create("pure");
	tcase_add_loop_test(t, test_quota, 0, (int)ARRAY_LEN(quota_cases));
	tcase_add_test(t, test_auto_is_at_least_one);
	tcase_add_loop_test(t, test_sizes, 0, (int)ARRAY_LEN(size_cases));
	tcase_add_loop_test(t, test_weight, 0, (int)ARRAY_LEN(weight_cases));
	tcase_add_test(t, test_weight_nan_is_not_zero);
	tcase_add_test(t, test_smooth);
	tcase_add_loop_test(t, test_buckets, 0, (int)ARRAY_LEN(bucket_cases));
	suite_add_tcase(s, t);
	TCase *c = tcase_create("config");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_loop_test(c, test_bad_config, 0, (int)ARRAY_LEN(bad_cases));
	tcase_add_test(c, test_good_config);
	suite_add_tcase(s, c);
	return check_run(s, CK_FORK);
}
