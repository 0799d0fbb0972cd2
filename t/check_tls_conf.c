/*
 * check_tls_conf.c - the `tls` block of a service: every validation error
 * with its exact "FILE:LINE: message", the `protocols` parser, and the
 * defaults. Certificates themselves are tried end to end in t/test_tls.py
 * (made at test time with the openssl command).
 */
#include "internal.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
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
	snprintf(dir, sizeof(dir), "/tmp/check_tls_conf.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

#define HEAD "services = (\n{ name = \"a\"; listen = \"127.0.0.1:1\"; handler = \"echo\";\n"

struct bad_case {
	const char *text;
	int line;
	const char *message;
};

static const struct bad_case bad_cases[] = {
	{ HEAD "tls = 5; }\n);\n", 3,
	  "'tls' must be a group: tls = { certificate = \"...\"; key = \"...\"; }" },
	{ HEAD "tls = {\n key = \"k.pem\"; }; }\n);\n", 3, "tls: missing required key 'certificate'" },
	{ HEAD "tls = {\n certificate = \"c.pem\"; }; }\n);\n", 3, "tls: missing required key 'key'" },
	{ HEAD "tls = { certificate = \"c.pem\"; key = \"k.pem\";\n protocols = \"TLSv1.4\"; }; }\n);\n", 4,
	  "tls: 'protocols': unknown protocol 'TLSv1.4' (known: TLSv1.2, TLSv1.3)" },
	{ HEAD "tls = { certificate = \"c.pem\"; key = \"k.pem\";\n protocols = \"TLSv1.1 TLSv1.2\"; }; }\n);\n", 4,
	  "tls: 'protocols': protocol 'TLSv1.1' is not supported (TLS 1.2 is the minimum)" },
	{ HEAD "tls = { certificate = \"c.pem\"; key = \"k.pem\";\n protocols = \"\"; }; }\n);\n", 4,
	  "tls: 'protocols': no protocol given" },
	{ HEAD "tls = { certificate = \"c.pem\"; key = \"k.pem\";\n protocol = \"TLSv1.3\"; }; }\n);\n", 4,
	  "tls: unknown key 'protocol' (did you mean 'protocols'?)" },
	{ HEAD "tls = { certificate = \"c.pem\";\n key = 7; }; }\n);\n", 4, "tls: 'key' must be a string" },
	{ HEAD "tls = { certificate = \"\"; key = \"k.pem\"; }; }\n);\n", 3,
	  "tls: 'certificate' must not be empty" },
	{ HEAD "tls = { certificate = \"c.pem\"; key = \"k.pem\";\n alpn = \"h2\"; }; }\n);\n", 4,
	  "tls: 'alpn' must be \"http/1.1\" or \"\" (got 'h2')" },
	{ HEAD "tls = { certificate = \"c.pem\"; key = \"k.pem\";\n session_timeout = 0; }; }\n);\n", 4,
	  "tls: 'session_timeout' must be between 1 and 604800 seconds" },
	{ HEAD "tls = { certificate = \"c.pem\"; key = \"k.pem\";\n session_tickets = 1; }; }\n);\n", 4,
	  "tls: 'session_tickets' must be true or false" },
	{ HEAD "tls = { certificate = \"c.pem\"; key = \"k.pem\";\n certificates = 3; }; }\n);\n", 4,
	  "tls: 'certificates' must be a list of groups" },
	{ HEAD "tls = { certificate = \"c.pem\"; key = \"k.pem\";\n certificates = ( {\n certificate = \"b.pem\"; } ); }; }\n);\n", 4,
	  "tls: certificates: missing required key 'key'" },
	/* Files are read only once the block itself is valid. */
	{ HEAD "tls = {\n certificate = \"missing.pem\"; key = \"missing.key\"; }; }\n);\n", 4,
	  "tls: certificate '" },
};

START_TEST(test_each_error_names_file_and_line)
{
	const struct bad_case *bc = &bad_cases[_i];
	const char *path = write_conf("bad.conf", bc->text);
	struct errlist errs = { 0 };
	struct pf_config *c = config_load(path, NULL, &errs);
	ck_assert_ptr_null(c);
	char want[600];
	snprintf(want, sizeof(want), "%s:%d: %s", path, bc->line, bc->message);
	int found = 0;
	for (int i = 0; i < errs.count; i++)
		found |= strncmp(errs.msgs[i], want, strlen(want)) == 0;
	if (!found) {
		for (int i = 0; i < errs.count; i++)
			fprintf(stderr, "case %d got: %s\n", _i, errs.msgs[i]);
		ck_abort_msg("case %d: no error starting with \"%s\"", _i, want);
	}
	errlist_free(&errs);
}
END_TEST

START_TEST(test_missing_files_both_reported)
{
	const char *path = write_conf("files.conf", HEAD
		"tls = {\n certificate = \"nope.pem\";\n key = \"nope.key\"; }; }\n);\n");
	struct errlist errs = { 0 };
	ck_assert_ptr_null(config_load(path, NULL, &errs));
	ck_assert_int_eq(errs.count, 2);
	char want[600];
	snprintf(want, sizeof(want), "%s:4: tls: certificate '%s/nope.pem': cannot read: No such file",
		 path, dir);
	ck_assert_msg(strncmp(errs.msgs[0], want, strlen(want)) == 0, "got %s", errs.msgs[0]);
	snprintf(want, sizeof(want), "%s:5: tls: key '%s/nope.key': cannot read: ", path, dir);
	ck_assert_msg(strncmp(errs.msgs[1], want, strlen(want)) == 0, "got %s", errs.msgs[1]);
	errlist_free(&errs);
}
END_TEST

struct proto_case {
	const char *text;
	int bits;		/* -1: an error */
	const char *message;
};

static const struct proto_case proto_cases[] = {
	{ "TLSv1.2 TLSv1.3", TLS_PROTO_12 | TLS_PROTO_13, NULL },
	{ "TLSv1.3", TLS_PROTO_13, NULL },
	{ " TLSv1.2, ", TLS_PROTO_12, NULL },
	{ "TLSv1.3,TLSv1.2", TLS_PROTO_12 | TLS_PROTO_13, NULL },
	{ "TLSv1", -1, "protocol 'TLSv1' is not supported (TLS 1.2 is the minimum)" },
	{ "SSLv3 TLSv1.3", -1, "protocol 'SSLv3' is not supported (TLS 1.2 is the minimum)" },
	{ "tlsv1.3", -1, "unknown protocol 'tlsv1.3' (known: TLSv1.2, TLSv1.3)" },
	{ "", -1, "no protocol given (known: TLSv1.2, TLSv1.3)" },
	{ "TLSv1.2 TLSv1.3 TLSv1.3-and-a-very-long-name-beyond-the-buffer", -1, "unknown protocol '" },
};

START_TEST(test_protocols)
{
	const struct proto_case *pc = &proto_cases[_i];
	char err[256] = "";
	int bits = tls_conf_parse_protocols(pc->text, err, sizeof(err));
	ck_assert_int_eq(bits, pc->bits);
	if (pc->message)
		ck_assert_msg(strncmp(err, pc->message, strlen(pc->message)) == 0, "case %d: got %s",
			      _i, err);
}
END_TEST

START_TEST(test_no_tls_block_is_plain)
{
	const char *path = write_conf("plain.conf", HEAD "}\n);\n");
	struct errlist errs = { 0 };
	struct pf_config *c = config_load(path, NULL, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->services[0].tls);
	config_free(c);
	ck_assert_int_eq(tls_conf_available(), 1);
}
END_TEST

int main(void)
{
	if (!tls_conf_available()) {
		puts("SKIP: built without TLS (configure --without-tls)");
		return 77;
	}
	Suite *s = suite_create("tls_conf");
	TCase *tc = tcase_create("validation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_each_error_names_file_and_line, 0, (int)ARRAY_LEN(bad_cases));
	tcase_add_test(tc, test_missing_files_both_reported);
	tcase_add_loop_test(tc, test_protocols, 0, (int)ARRAY_LEN(proto_cases));
	tcase_add_test(tc, test_no_tls_block_is_plain);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
