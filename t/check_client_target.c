/*
 * check_client_target.c - prefork-client's target: HOST:PORT, [V6]:PORT
 * and unix:PATH parsed into host, port and Host header (each malformed form
 * beside the exact message), numeric targets and unix paths (abstract ones
 * too) resolved without DNS, and addresses formatted as the trace prints them.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "client/client.h"

#include "check_run.h"

#define LONG_HOST \
	"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh" \
	"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh" \
	"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh" \
	"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"	/* 256 */
#define LONG_PATH \
	"/ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp" \
	"pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"	/* 128 */

static const struct parse_case {
	const char *text;
	const char *error;	/* NULL: parses */
	int is_unix;
	const char *host, *port, *hostport;
} parse_cases[] = {
	{ "127.0.0.1:8080", NULL, 0, "127.0.0.1", "8080", "127.0.0.1:8080" },
	{ "example.org:80", NULL, 0, "example.org", "80", "example.org" },	/* :80 left out */
	{ "[::1]:443", NULL, 0, "::1", "443", "[::1]:443" },
	{ "[::1]:80", NULL, 0, "::1", "80", "[::1]" },
	{ "h:65535", NULL, 0, "h", "65535", "h:65535" },
	{ "unix:/run/p.sock", NULL, 1, "/run/p.sock", "", "localhost" },
	{ "unix:@abstract", NULL, 1, "@abstract", "", "localhost" },
	{ "unix:", "bad address \"unix:\": empty unix socket path", 0, NULL, NULL, NULL },
	{ "unix:" LONG_PATH, "bad address \"unix:" LONG_PATH "\": unix socket path too long", 0, NULL, NULL, NULL },
	{ "[::1]", "bad address \"[::1]\": expected [V6]:PORT", 0, NULL, NULL, NULL },
	{ "[::1", "bad address \"[::1\": expected [V6]:PORT", 0, NULL, NULL, NULL },
	{ "[::1]8080", "bad address \"[::1]8080\": expected [V6]:PORT", 0, NULL, NULL, NULL },
	{ "localhost", "bad address \"localhost\": expected HOST:PORT, [V6]:PORT or unix:PATH", 0, NULL, NULL, NULL },
	{ "::1:80", "bad address \"::1:80\": an IPv6 address needs brackets: [V6]:PORT", 0, NULL, NULL, NULL },
	{ ":80", "bad address \":80\": empty host", 0, NULL, NULL, NULL },
	{ "[]:80", "bad address \"[]:80\": empty host", 0, NULL, NULL, NULL },
	{ LONG_HOST ":80", "bad address \"" LONG_HOST ":80\": host name too long", 0, NULL, NULL, NULL },
	{ "h:", "bad address \"h:\": port must be a number", 0, NULL, NULL, NULL },
	{ "h:http", "bad address \"h:http\": port must be a number", 0, NULL, NULL, NULL },
	{ "h:0", "bad address \"h:0\": port must be 1-65535", 0, NULL, NULL, NULL },
	{ "h:65536", "bad address \"h:65536\": port must be 1-65535", 0, NULL, NULL, NULL },
	{ "h:80x", "bad address \"h:80x\": port must be 1-65535", 0, NULL, NULL, NULL },
	{ "h:99999999999999999999", "bad address \"h:99999999999999999999\": port must be 1-65535", 0, NULL, NULL, NULL },
};

START_TEST(test_parse)
{
	const struct parse_case *c = &parse_cases[_i];
	struct target t;
	char err[512] = "";
	int rc = target_parse(c->text, &t, err, sizeof(err));
	if (c->error) {
		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(err, c->error);
		return;
	}
	ck_assert_msg(rc == 0, "%s: %s", c->text, err);
	ck_assert_int_eq(t.tg_unix, c->is_unix);
	ck_assert_str_eq(t.tg_host, c->host);
	ck_assert_str_eq(t.tg_port, c->port);
	ck_assert_str_eq(t.tg_hostport, c->hostport);
}
END_TEST

static const struct resolve_case {
	const char *text;
	const char *first;	/* ta_text of the first address */
	int family;
	socklen_t len;		/* 0: do not check */
} resolve_cases[] = {
	{ "127.0.0.1:8080", "127.0.0.1:8080", AF_INET, sizeof(struct sockaddr_in) },
	{ "[::1]:9", "[::1]:9", AF_INET6, sizeof(struct sockaddr_in6) },
	{ "unix:/run/p.sock", "unix:/run/p.sock", AF_UNIX, sizeof(struct sockaddr_un) },
	/* Abstract: the leading NUL, and a length that ends at the name. */
	{ "unix:@name", "unix:@name", AF_UNIX, offsetof(struct sockaddr_un, sun_path) + 5 },
};

START_TEST(test_resolve)
{
	const struct resolve_case *c = &resolve_cases[_i];
	struct target t;
	struct target_addr out[4];
	char err[256] = "";
	ck_assert_int_eq(target_parse(c->text, &t, err, sizeof(err)), 0);
	ck_assert_int_eq(target_resolve(&t, out, 0, err, sizeof(err)), 0);
	int n = target_resolve(&t, out, 4, err, sizeof(err));
	ck_assert_msg(n >= 1, "%s: %s", c->text, err);
	ck_assert_str_eq(out[0].ta_text, c->first);
	ck_assert_int_eq(out[0].ta_sa.ss_family, c->family);
	if (c->len)
		ck_assert_uint_eq(out[0].ta_len, c->len);
	if (c->family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)&out[0].ta_sa;
		if (c->text[5] == '@')
			ck_assert(sun->sun_path[0] == '\0' && memcmp(sun->sun_path + 1, "name", 4) == 0);
		else
			ck_assert_str_eq(sun->sun_path, c->text + 5);
	}
}
END_TEST

START_TEST(test_format)
{
	char buf[300];
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	target_format((struct sockaddr *)&sin, sizeof(sin), buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.7:80");

	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(8443) };
	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	target_format((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf));
	ck_assert_str_eq(buf, "[2001:db8::1]:8443");

	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	strcpy(sun.sun_path, "/tmp/s");
	target_format((struct sockaddr *)&sun, sizeof(sun), buf, sizeof(buf));
	ck_assert_str_eq(buf, "unix:/tmp/s");
	/* An unnamed socket (as accept returns for a unix peer): no path. */
	memset(sun.sun_path, 0, sizeof(sun.sun_path));
	target_format((struct sockaddr *)&sun, offsetof(struct sockaddr_un, sun_path), buf,
		      sizeof(buf));
	ck_assert_str_eq(buf, "unix:");
	memcpy(sun.sun_path, "\0abs", 4);
	target_format((struct sockaddr *)&sun, offsetof(struct sockaddr_un, sun_path) + 4, buf,
		      sizeof(buf));
	ck_assert_str_eq(buf, "unix:@abs");

	struct sockaddr other = { .sa_family = AF_APPLETALK };
	target_format(&other, sizeof(other), buf, sizeof(buf));
	char want[32];
	snprintf(want, sizeof(want), "(family %d)", AF_APPLETALK);
	ck_assert_str_eq(buf, want);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
	Suite *s = suite_create("client_target");
	TCase *tc = tcase_create("target");
	tcase_add_loop_test(tc, test_parse, 0, N(parse_cases));
	tcase_add_loop_test(tc, test_resolve, 0, N(resolve_cases));
	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
