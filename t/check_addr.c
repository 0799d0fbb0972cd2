/*
 * check_addr.c - listening addresses: parsing, formatting, comparing, and
 * the error message for each kind of bad address.
 */
#include "internal.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

struct good_case {
	const char *text;
	int family;
	int port;
	const char *formatted;
};

static const struct good_case good[] = {
	{ "127.0.0.1:8080", AF_INET, 8080, "127.0.0.1:8080" },
	{ "0.0.0.0:80", AF_INET, 80, "0.0.0.0:80" },
	{ "*:81", AF_INET, 81, "0.0.0.0:81" },
	{ "localhost:82", AF_INET, 82, "127.0.0.1:82" },
	{ "127.0.0.1:0", AF_INET, 0, "127.0.0.1:0" },
	{ "[::1]:8080", AF_INET6, 8080, "[::1]:8080" },
	{ "[::]:443", AF_INET6, 443, "[::]:443" },
	{ "[fe80::1:2]:65535", AF_INET6, 65535, "[fe80::1:2]:65535" },
	{ "unix:/tmp/p.sock", AF_UNIX, -1, "unix:/tmp/p.sock" },
};

START_TEST(test_parse_good)
{
	const struct good_case *g = &good[_i];
	struct addr a;
	char err[256], out[256];
	ck_assert_msg(addr_parse(g->text, NULL, &a, err, sizeof(err)) == 0, "%s: %s", g->text, err);
	ck_assert_int_eq(a.family, g->family);
	ck_assert_int_eq(addr_port(&a), g->port);
	ck_assert_str_eq(addr_format(&a, out, sizeof(out)), g->formatted);
	/* Formatting then parsing again gives an equal address. */
	struct addr b;
	ck_assert_int_eq(addr_parse(out, NULL, &b, err, sizeof(err)), 0);
	ck_assert(addr_equal(&a, &b));
}
END_TEST

struct bad_case {
	const char *text;
	const char *error;
};

static const struct bad_case bad[] = {
	{ "127.0.0.1", "bad address '127.0.0.1': expected HOST:PORT, [V6]:PORT or unix:PATH" },
	{ "127.0.0.1:", "bad port in '127.0.0.1:': expected 0 to 65535" },
	{ "127.0.0.1:65536", "bad port in '127.0.0.1:65536': expected 0 to 65535" },
	{ "127.0.0.1:80x", "bad port in '127.0.0.1:80x': expected 0 to 65535" },
	{ "300.1.1.1:80", "bad IPv4 address '300.1.1.1' (use a numeric address, or [V6] for IPv6)" },
	{ "example.com:80", "bad IPv4 address 'example.com' (use a numeric address, or [V6] for IPv6)" },
	{ "::1:80", "bad address '::1:80': write IPv6 addresses as [V6]:PORT" },
	{ "[::1]80", "bad address '[::1]80': expected [V6]:PORT" },
	{ "[::g]:80", "bad IPv6 address '::g'" },
	{ "unix:", "empty unix socket path in 'unix:'" },
};

START_TEST(test_parse_bad)
{
	struct addr a;
	char err[256];
	ck_assert_int_eq(addr_parse(bad[_i].text, NULL, &a, err, sizeof(err)), -1);
	ck_assert_str_eq(err, bad[_i].error);
}
END_TEST

START_TEST(test_unix_relative_and_too_long)
{
	struct addr a;
	char err[256];
	ck_assert_int_eq(addr_parse("unix:run/x.sock", "/etc/prefork", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(addr_unix_path(&a), "/etc/prefork/run/x.sock");
	char longp[200] = "unix:/";
	memset(longp + 6, 'a', 150);
	longp[156] = '\0';
	ck_assert_int_eq(addr_parse(longp, NULL, &a, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "unix socket path too long"));
}
END_TEST

START_TEST(test_equal)
{
	struct addr a, b, c, d;
	char err[256];
	addr_parse("127.0.0.1:80", NULL, &a, err, sizeof(err));
	addr_parse("localhost:80", NULL, &b, err, sizeof(err));
	addr_parse("127.0.0.1:81", NULL, &c, err, sizeof(err));
	addr_parse("[::1]:80", NULL, &d, err, sizeof(err));
	ck_assert(addr_equal(&a, &b));
	ck_assert(!addr_equal(&a, &c));
	ck_assert(!addr_equal(&a, &d));
	struct addr u1, u2;
	addr_parse("unix:/tmp/a", NULL, &u1, err, sizeof(err));
	addr_parse("unix:a", "/tmp", &u2, err, sizeof(err));
	ck_assert(addr_equal(&u1, &u2));
}
END_TEST

struct v4_case {
	const char *text, *with_port, *without_port;
};

static const struct v4_case v4[] = {
	{ "0.0.0.0:0", "0.0.0.0:0", "0.0.0.0" },
	{ "255.255.255.255:65535", "255.255.255.255:65535", "255.255.255.255" },
	{ "10.1.20.200:8080", "10.1.20.200:8080", "10.1.20.200" },
	{ "127.0.0.1:9", "127.0.0.1:9", "127.0.0.1" },
};

/* A peer's IPv4 address and port, as formatted for every accepted connection. */
START_TEST(test_format_ipv4_peer)
{
	const struct v4_case *v = &v4[_i];
	struct addr a;
	char err[256], out[64], tiny[8];
	ck_assert_int_eq(addr_parse(v->text, NULL, &a, err, sizeof(err)), 0);
	const struct sockaddr *sa = (const struct sockaddr *)&a.ss;
	ck_assert_str_eq(addr_format_sockaddr(sa, a.len, out, sizeof(out), 1), v->with_port);
	ck_assert_str_eq(addr_format_sockaddr(sa, a.len, out, sizeof(out), 0), v->without_port);
	/* A short buffer gets a cut, terminated string, as snprintf would. */
	addr_format_sockaddr(sa, a.len, tiny, sizeof(tiny), 1);
	ck_assert_int_eq((int)strlen(tiny), 7);
	ck_assert(strncmp(tiny, v->with_port, 7) == 0);
}
END_TEST

START_TEST(test_format_peer_without_port)
{
	struct addr a;
	char err[256], out[64];
	addr_parse("[::1]:5000", NULL, &a, err, sizeof(err));
	ck_assert_str_eq(addr_format_sockaddr((struct sockaddr *)&a.ss, a.len, out, sizeof(out), 0), "::1");
	ck_assert_str_eq(addr_format_sockaddr((struct sockaddr *)&a.ss, a.len, out, sizeof(out), 1),
			 "[::1]:5000");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("addr");
	tcase_add_loop_test(tc, test_parse_good, 0, (int)ARRAY_LEN(good));
	tcase_add_loop_test(tc, test_parse_bad, 0, (int)ARRAY_LEN(bad));
	tcase_add_test(tc, test_unix_relative_and_too_long);
	tcase_add_test(tc, test_equal);
	tcase_add_test(tc, test_format_peer_without_port);
	tcase_add_loop_test(tc, test_format_ipv4_peer, 0, (int)ARRAY_LEN(v4));
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
