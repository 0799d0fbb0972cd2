/*
 * check_config.c - configuration validation: every kind of error with the
 * exact "FILE:LINE: message" it must produce, all errors reported at once,
 * defaults, and relative paths resolved against the file's folder.
 */
#include "internal.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"

static char dir[256];

static const char *write_conf(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char www[300];
	snprintf(www, sizeof(www), "%s/www", dir);
	ck_assert_int_eq(mkdir(www, 0755), 0);
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

#define SVC_OK "{ name = \"a\"; listen = \"127.0.0.1:8080\"; handler = \"echo\"; }"

struct bad_case {
	const char *text;
	int line;		/* 0: no line prefix check (message only) */
	const char *message;
};

#define X10 "xxxxxxxxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
#define X1000 X100 X100 X100 X100 X100 X100 X100 X100 X100 X100
#define SVC_LINE2 "services = (" SVC_OK ");\n"

static const struct bad_case bad_cases[] = {
	/* Issue 11 item 12: -t refuses the paths start-up could not use. */
	{ "control_socket = \"/tmp/" X100 X10 "\";\n" SVC_LINE2, 1,
	  "'control_socket': unix socket path too long (at most 107 bytes): '/tmp/xxxxxxxxxx" },
	{ SVC_LINE2 "control_socket = \"/nonexistent-prefork-dir/c.sock\";\n", 2,
	  "'control_socket': folder '/nonexistent-prefork-dir': No such file or directory" },
	{ "pid_file = \"/tmp/" X1000 X1000 X1000 X1000 X100 "\";\n" SVC_LINE2, 1,
	  "'pid_file': path too long (4105 bytes, at most 4084)" },
	{ "pid_file = \"/tmp/" X100 X100 X10 X10 X10 X10 X10 "\";\n" SVC_LINE2, 1,
	  "'pid_file': name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' too long (at most 244 bytes)" },
	{ "\npid_file = \"/nonexistent-prefork-dir/p.pid\";\n" SVC_LINE2, 2,
	  "'pid_file': folder '/nonexistent-prefork-dir': No such file or directory" },
	{ "pid_file = \"/etc/passwd/p.pid\";\n" SVC_LINE2, 1,
	  "'pid_file': '/etc/passwd' is not a folder" },
	{ "error_log = \"/nonexistent-prefork-dir/e.log\";\n" SVC_LINE2, 1,
	  "'error_log': folder '/nonexistent-prefork-dir': No such file or directory" },
	{ "error_log = \"/tmp/" X1000 X1000 X1000 X1000 X100 "\";\n" SVC_LINE2, 1,
	  "'error_log': path too long (4105 bytes, at most 4095)" },
	{ "error_log = \"/tmp/" X100 X100 X10 X10 X10 X10 X10 X10 "\";\n" SVC_LINE2, 1,
	  "'error_log': name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' too long (at most 255 bytes)" },
	{ "services = (\n{ name = \"a\"; listen = \"unix:/tmp/" X100 X10 "\"; handler = \"echo\"; }\n);\n", 2,
	  "'listen': unix socket path too long (at most 107 bytes): '/tmp/xxxxxxxxxx" },
	{ "services = (\n" SVC_OK ");\nwokers = 3;\n", 3,
	  "unknown key 'wokers'" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n wokers = 3; }\n);\n",
	  3, "unknown key 'wokers' (did you mean 'workers'?)" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n workers = \"four\"; }\n);\n",
	  3, "'workers' must be an integer" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n workers = 0; }\n);\n",
	  3, "'workers' must be between 1 and 4096 (got 0)" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n workers = 10; max_workers = 4; }\n);\n",
	  3, "'workers' (10) exceeds 'max_workers' (4)" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n read_timeout = \"x\"; }\n);\n",
	  3, "'read_timeout' must be a number of seconds" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n defer_accept = 1; }\n);\n",
	  3, "'defer_accept' must be true or false" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n min_spare = 5; max_spare = 2; }\n);\n",
	  3, "'min_spare' (5) must not exceed 'max_spare' (2)" },
	{ "log_level = \"loud\";\nservices = (" SVC_OK ");\n", 1,
	  "'log_level' must be one of error, warn, info, debug (got 'loud')" },
	{ "shutdown_timeout = -1.0;\nservices = (" SVC_OK ");\n", 1,
	  "'shutdown_timeout' must be between 0.001 and 86400 seconds (got -1)" },
	{ "pid_file = \"x\";\n", 1, "missing required key 'services'" },
	{ "services = ();\n", 1, "'services' must not be empty" },
	{ "services = \"web\";\n", 1, "'services' must be a list of groups: services = ( { ... } );" },
	{ "services = (\n{ name = \"a\"; handler = \"echo\"; }\n);\n", 2,
	  "service is missing required key 'listen'" },
	{ "services = (\n" SVC_OK ",\n{ name = \"a\"; listen = \"127.0.0.1:8081\"; handler = \"echo\"; }\n);\n",
	  3, "duplicate service name 'a' (first at line 2)" },
	{ "services = (\n" SVC_OK ",\n{ name = \"b\"; listen = \"127.0.0.1:8080\"; handler = \"echo\"; }\n);\n",
	  3, "duplicate listen address '127.0.0.1:8080' (first at line 2)" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:8080\"; handler = \"ecko\"; }\n);\n", 2,
	  "unknown handler 'ecko' (did you mean 'echo'?)" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1\"; handler = \"echo\"; }\n);\n", 2,
	  "'listen': bad address '127.0.0.1': expected HOST:PORT, [V6]:PORT or unix:PATH" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:99999\"; handler = \"echo\"; }\n);\n", 2,
	  "'listen': bad port in '127.0.0.1:99999': expected 0 to 65535" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n module = \"nope.so\"; }\n);\n",
	  3, "cannot load module" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n echo = { x = 1; }; }\n);\n",
	  3, "unknown key 'x' in the echo handler's settings" },
	{ "user = \"no-such-user-here\";\nservices = (" SVC_OK ");\n", 1,
	  "unknown user 'no-such-user-here'" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\"; }\n);\nx = \"unterminated;\n",
	  0, "syntax error" },	/* Each kind of value of the wrong type or out of range. */
	{ "pid_file = 5;\nservices = (" SVC_OK ");\n", 1, "'pid_file' must be a string" },
	{ "rlimit_nofile = 0;\nservices = (" SVC_OK ");\n", 1,
	  "'rlimit_nofile' must be between 1 and 1073741824 (got 0)" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n backlog = 70000; }\n);\n", 3, "'backlog' must be between 1 and 65535 (got 70000)" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n max_requests = 1.5; }\n);\n", 3, "'max_requests' must be an integer" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n read_timeout = 100000; }\n);\n", 3,
	  "'read_timeout' must be between 0.001 and 86400 seconds (got 100000)" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n echo = 5; }\n);\n", 3, "'echo' must be a group of settings for the echo handler" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n lisen = \"x\"; }\n);\n", 3, "unknown key 'lisen' (did you mean 'listen'?)" },
	{ "services = ( \"web\" );\n", 1, "each entry of 'services' must be a group { ... }" },
	{ "services = (\n{ name = \"\"; listen = \"127.0.0.1:1\"; handler = \"echo\"; }\n);\n", 2,
	  "'name' must not be empty" },
	{ "services = (\n{ name = \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\";"
	  " listen = \"127.0.0.1:1\"; handler = \"echo\"; }\n);\n", 2, "'name' is too long (at most " },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n min_spare = 300; max_spare = 400; max_workers = 100; }\n);\n", 3,
	  "'min_spare' (300) exceeds 'max_workers' (100)" },
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\";\n module = \"x.so\"; }\n);\n", 3,
	  "'module' needs 'handler'" },
	{ "user = \"root\";\ngroup = \"no-such-group-here\";\nservices = (" SVC_OK ");\n", 2,
	  "unknown group 'no-such-group-here'" },
	{ "group = \"root\";\nservices = (" SVC_OK ");\n", 1, "'group' needs 'user'" },
	{ "chroot = \"no-such-dir\";\nservices = (" SVC_OK ");\n", 1, "'chroot': '" },
	/* Two generations of every start size must fit in the scoreboard. */
	{ "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\"; workers = 3000; max_workers = 4096; },\n"
	  "{ name = \"b\"; listen = \"127.0.0.1:2\"; handler = \"echo\"; workers = 1097; max_workers = 4096; }\n);\n", 1,
	  "the services' workers add up to 4097; at most 4096 in all, so that a reload's new generation "
	  "fits in the scoreboard beside the old one" },
};

START_TEST(test_each_error_names_file_and_line)
{
	const struct bad_case *bc = &bad_cases[_i];
	const char *path = write_conf("bad.conf", bc->text);
	struct errlist errs = { 0 };
	struct pf_config *c = config_load(path, NULL, &errs);
	ck_assert_ptr_null(c);
	ck_assert_int_ge(errs.count, 1);
	char want[600];
	if (bc->line)
		snprintf(want, sizeof(want), "%s:%d: %s", path, bc->line, bc->message);
	else
		snprintf(want, sizeof(want), "%s", bc->message);
	int found = 0;
	for (int i = 0; i < errs.count; i++) {
		if (bc->line ? strncmp(errs.msgs[i], want, strlen(want)) == 0
			     : strstr(errs.msgs[i], want) != NULL)
			found = 1;
	}
	if (!found) {
		for (int i = 0; i < errs.count; i++)
			fprintf(stderr, "case %d got: %s\n", _i, errs.msgs[i]);
		ck_abort_msg("case %d: no error starting with \"%s\"", _i, want);
	}
	/* A module error is the one message of its case. */
	errlist_free(&errs);
}
END_TEST

START_TEST(test_all_errors_reported)
{
	const char *path = write_conf("many.conf",
		"log_level = \"loud\";\n"
		"bogus = 1;\n"
		"services = (\n"
		"{ name = \"a\"; listen = \"nope\"; handler = \"echo\"; workers = 0; }\n"
		");\n");
	struct errlist errs = { 0 };
	ck_assert_ptr_null(config_load(path, NULL, &errs));
	ck_assert_int_eq(errs.count, 4);
	errlist_free(&errs);
}
END_TEST

/* The documented maximum pool, alone or split, still passes. */
START_TEST(test_maximum_pool_passes)
{
	const char *path = write_conf("max.conf",
		"services = (\n"
		"{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\"; workers = 4000; max_workers = 4096; },\n"
		"{ name = \"b\"; listen = \"127.0.0.1:2\"; handler = \"echo\"; workers = 96; }\n"
		");\n");
	struct errlist errs = { 0 };
	struct pf_config *c = config_load(path, NULL, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(errs.count, 0);
	config_free(c);
	ck_assert_int_ge(SB_MAX_SLOTS, 2 * 4096);
}
END_TEST

START_TEST(test_defaults)
{
	const char *path = write_conf("ok.conf", "services = (" SVC_OK ");\n");
	struct errlist errs = { 0 };
	struct pf_config *c = config_load(path, NULL, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(errs.count, 0);
	ck_assert_int_eq(c->nservices, 1);
	const struct svc_conf *v = &c->services[0];
	ck_assert_int_eq(v->workers, 4);
	ck_assert_int_eq(v->backlog, 511);
	ck_assert_int_eq(v->max_workers, 256);
	ck_assert_int_eq(v->max_requests, 0);
	ck_assert(v->read_timeout == 30.0 && v->write_timeout == 30.0);
	ck_assert(v->request_timeout == 0.0);
	ck_assert_int_eq(v->defer_accept, 0);
	ck_assert_int_eq(v->dynamic, 0);
	ck_assert(c->shutdown_timeout == 10.0);
	ck_assert_int_eq(c->log_level, PF_LOG_INFO);
	ck_assert_ptr_eq(v->handler, &echo_handler);
	/* Relative paths resolve against the configuration file's folder. */
	char want[600];
	char *real = realpath(dir, NULL);
	snprintf(want, sizeof(want), "%s/preforkd.pid", real);
	ck_assert_str_eq(c->pid_file, want);
	snprintf(want, sizeof(want), "%s/preforkd.sock", real);
	ck_assert_str_eq(c->control_socket, want);
	free(real);
	config_free(c);
}
END_TEST

START_TEST(test_values_and_unix_path)
{
	const char *path = write_conf("full.conf",
		"pid_file = \"/tmp/x.pid\";\n"
		"error_log = \"logs/error.log\";\n"
		"log_level = \"debug\";\n"
		"shutdown_timeout = 3;\n"
		"control_socket = \"\";\n"
		"rlimit_nofile = 4096;\n"
		"services = (\n"
		"{ name = \"u\"; listen = \"unix:run/u.sock\"; handler = \"status\";\n"
		"  workers = 2; min_spare = 1; max_spare = 3; max_workers = 8; max_requests = 100;\n"
		"  read_timeout = 1.5; write_timeout = 2; request_timeout = 9.0;\n"
		"  defer_accept = true; proxy_protocol = true; backlog = 64; }\n"
		");\n");
	char logs[300];
	snprintf(logs, sizeof(logs), "%s/logs", dir);	/* error_log's folder must exist */
	ck_assert_int_eq(mkdir(logs, 0755), 0);
	struct errlist errs = { 0 };
	struct pf_config *c = config_load(path, NULL, &errs);
	for (int i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->pid_file, "/tmp/x.pid");
	ck_assert_ptr_null(c->control_socket);
	ck_assert(c->shutdown_timeout == 3.0);
	ck_assert_int_eq(c->rlimit_nofile, 4096);
	ck_assert_int_eq(c->log_level, PF_LOG_DEBUG);
	const struct svc_conf *v = &c->services[0];
	ck_assert_int_eq(v->dynamic, 1);
	ck_assert_int_eq(v->min_spare, 1);
	ck_assert_int_eq(v->max_spare, 3);
	ck_assert_int_eq(v->max_workers, 8);
	ck_assert_int_eq(v->max_requests, 100);
	ck_assert(v->read_timeout == 1.5 && v->write_timeout == 2.0 && v->request_timeout == 9.0);
	ck_assert_int_eq(v->defer_accept, 1);
	ck_assert_int_eq(v->proxy_protocol, 1);
	ck_assert_int_eq(v->backlog, 64);
	ck_assert_int_eq(v->addr.family, AF_UNIX);
	char *real = realpath(dir, NULL);
	char want[600];
	snprintf(want, sizeof(want), "%s/run/u.sock", real);
	ck_assert_str_eq(addr_unix_path(&v->addr), want);
	snprintf(want, sizeof(want), "%s/logs/error.log", real);
	ck_assert_str_eq(c->error_log, want);
	free(real);
	config_free(c);
}
END_TEST

START_TEST(test_missing_file)
{
	struct errlist errs = { 0 };
	ck_assert_ptr_null(config_load("/nonexistent/server.conf", NULL, &errs));
	ck_assert_int_eq(errs.count, 1);
	ck_assert_str_eq(errs.msgs[0], "/nonexistent/server.conf: cannot open: No such file or directory");
	errlist_free(&errs);
}
END_TEST

static int custom_handle(struct pf_conn *c, void *s)
{
	(void)c;
	(void)s;
	return 0;
}

START_TEST(test_extra_handlers_are_found)
{
	static const struct pf_handler mine = { .abi = PF_ABI_VERSION, .name = "mine",
						.handle = custom_handle };
	const struct pf_handler *const list[] = { &mine, NULL };
	const char *path = write_conf("mine.conf",
		"services = ({ name = \"m\"; listen = \"127.0.0.1:1\"; handler = \"mine\";"
		" mine = { anything = 1; }; });\n");
	struct errlist errs = { 0 };
	struct pf_config *c = config_load(path, list, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_eq(c->services[0].handler, &mine);
	ck_assert_ptr_nonnull(c->services[0].block);
	config_free(c);
	/* Without the table, the name is unknown. */
	ck_assert_ptr_null(config_load(path, NULL, &errs));
	ck_assert_int_ge(errs.count, 1);
	errlist_free(&errs);
}
END_TEST

START_TEST(test_paths_only_reader_is_lenient)
{
	const char *path = write_conf("lenient.conf",
		"pid_file = \"p.pid\";\ncontrol_socket = \"c.sock\";\nbogus = 1;\n");
	struct pf_config *c = config_load_paths(path);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(strstr(c->pid_file, "/p.pid"));
	ck_assert_ptr_nonnull(strstr(c->control_socket, "/c.sock"));
	config_free(c);
}
END_TEST

/* Issue 11 item 10: `-s` reads a float key written as an integer too. */
static const struct {
	const char *text;
	double want;
} paths_timeout_cases[] = {
	{ "shutdown_timeout = 18;\n", 18.0 },
	{ "shutdown_timeout = 18L;\n", 18.0 },
	{ "shutdown_timeout = 2.5;\n", 2.5 },
	{ "shutdown_timeout = 86400;\n", 86400.0 },
	{ "shutdown_timeout = \"18\";\n", 10.0 },	/* not a number: the default */
	{ "shutdown_timeout = 0;\n", 10.0 },		/* out of range: the default */
	{ "shutdown_timeout = -3;\n", 10.0 },
	{ "shutdown_timeout = 100000;\n", 10.0 },
	{ "bogus = 1;\n", 10.0 },
};

START_TEST(test_paths_only_reader_takes_an_integer_timeout)
{
	const char *path = write_conf("timeout.conf", paths_timeout_cases[_i].text);
	struct pf_config *c = config_load_paths(path);
	ck_assert_ptr_nonnull(c);
	ck_assert_double_eq(c->shutdown_timeout, paths_timeout_cases[_i].want);
	config_free(c);
}
END_TEST

/* Every float key of the table takes an integer (server.conf(5)). */
START_TEST(test_every_float_key_takes_an_integer)
{
	const char *path = write_conf("ints.conf",
		"shutdown_timeout = 18;\n"
		"services = (\n"
		"{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"http\";\n"
		"  read_timeout = 7; write_timeout = 8L; request_timeout = 9;\n"
		"  http = { root = \"www\"; header_timeout = 3; keepalive_timeout = 0; }; }\n"
		");\n");
	struct errlist errs = { 0 };
	struct pf_config *c = config_load(path, NULL, &errs);
	for (int i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	ck_assert_ptr_nonnull(c);
	ck_assert_double_eq(c->shutdown_timeout, 18.0);
	const struct svc_conf *v = &c->services[0];
	ck_assert_double_eq(v->read_timeout, 7.0);
	ck_assert_double_eq(v->write_timeout, 8.0);
	ck_assert_double_eq(v->request_timeout, 9.0);
	config_free(c);
}
END_TEST

START_TEST(test_edit_distance)
{
	ck_assert_int_eq(util_edit_distance("wokers", "workers"), 1);
	ck_assert_int_eq(util_edit_distance("", "abc"), 3);
	ck_assert_int_eq(util_edit_distance("same", "same"), 0);
	ck_assert_int_eq(util_edit_distance("kitten", "sitting"), 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("validation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_each_error_names_file_and_line, 0, (int)ARRAY_LEN(bad_cases));
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_maximum_pool_passes);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_values_and_unix_path);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_extra_handlers_are_found);
	tcase_add_test(tc, test_paths_only_reader_is_lenient);
	tcase_add_loop_test(tc, test_paths_only_reader_takes_an_integer_timeout, 0,
			    (int)ARRAY_LEN(paths_timeout_cases));
	tcase_add_test(tc, test_every_float_key_takes_an_integer);
	tcase_add_test(tc, test_edit_distance);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
