/*
 * check_proxy.c - the PROXY protocol parser: v1 and v2 headers, partial
 * input, exact header length (the client's bytes after it are untouched),
 * and malformed headers; proxy_read_header on a socket pair: a header
 * longer than its peek buffer, a partial header that times out.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"

static const char *peer_of(const struct proxy_result *r, char *buf, size_t len)
{
	return addr_format_sockaddr((const struct sockaddr *)&r->src, r->src_len, buf, len, 1);
}

struct v1_case {
	const char *text;
	int result;		/* expected return: header length, 0 or -1 */
	const char *peer;	/* NULL: local */
};

static const struct v1_case v1[] = {
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /", 45, "192.0.2.1:56324" },
	{ "PROXY TCP6 2001:db8::1 2001:db8::2 4000 80\r\n", 44, "[2001:db8::1]:4000" },
	{ "PROXY UNKNOWN\r\n", 15, NULL },
	{ "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 35, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324", 0, NULL },	/* more to come */
	{ "PROX", 0, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n", 0, NULL },	/* LF alone is not the end */
	{ "GET / HTTP/1.1\r\n", -1, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 65536\r\n", -1, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 056324 443\r\n", -1, NULL },
	{ "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", -1, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", -1, NULL },
	{ "PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n", -1, NULL },
	{ "PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n", -1, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n", -1, NULL },
	/* Found by fuzz_proxy: a seventh field was ignored, and a line of 108
	 * bytes accepted whole although a prefix of 107 was refused. */
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 junk\r\n", -1, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n", -1, NULL },
	{ "PROXY UNKNOWN 192.168.100.100 192.168.100.101 65535 65535 "
	  "...............................................\r\n", 107, NULL },
	{ "PROXY UNKNOWN 192.168.100.100 192.168.100.101 65535 65535 "
	  "................................................\r\n", -1, NULL },
};

START_TEST(test_v1)
{
	const struct v1_case *c = &v1[_i];
	struct proxy_result r;
	memset(&r, 0, sizeof(r));
	int got = proxy_parse((const unsigned char *)c->text, strlen(c->text), &r);
	ck_assert_msg(got == c->result, "case %d (%s): got %d want %d", _i, c->text, got, c->result);
	if (got > 0) {
		char buf[80];
		if (c->peer) {
			ck_assert_int_eq(r.local, 0);
			ck_assert_str_eq(peer_of(&r, buf, sizeof(buf)), c->peer);
		} else {
			ck_assert_int_eq(r.local, 1);
		}
	}
}
END_TEST

START_TEST(test_v1_too_long_without_crlf)
{
	char line[200];
	memset(line, 'A', sizeof(line));
	memcpy(line, "PROXY ", 6);
	struct proxy_result r;
	ck_assert_int_eq(proxy_parse((unsigned char *)line, sizeof(line), &r), -1);
}
END_TEST

static size_t v2_header(unsigned char *b, int cmd, int fam, const void *addr, size_t alen)
{
	static const unsigned char sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
					       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
	memcpy(b, sig, 12);
	b[12] = (unsigned char)(0x20 | cmd);
	b[13] = (unsigned char)fam;
	b[14] = (unsigned char)(alen >> 8);
	b[15] = (unsigned char)alen;
	memcpy(b + 16, addr, alen);
	return 16 + alen;
}

START_TEST(test_v2_ipv4_and_split)
{
	unsigned char a[12], b[64];
	inet_pton(AF_INET, "203.0.113.7", a);
	inet_pton(AF_INET, "10.0.0.1", a + 4);
	a[8] = 0x1F; a[9] = 0x90;	/* 8080 */
	a[10] = 0x00; a[11] = 0x50;
	size_t n = v2_header(b, 1, 0x11, a, sizeof(a));
	memcpy(b + n, "hello", 5);
	struct proxy_result r;
	/* Every prefix is "more to come"; the whole is exactly the header. */
	for (size_t k = 1; k < n; k++)
		ck_assert_msg(proxy_parse(b, k, &r) == 0, "prefix %zu", k);
	ck_assert_int_eq(proxy_parse(b, n + 5, &r), (int)n);
	ck_assert_int_eq(r.local, 0);
	char buf[80];
	ck_assert_str_eq(peer_of(&r, buf, sizeof(buf)), "203.0.113.7:8080");
}
END_TEST

START_TEST(test_v2_ipv6_local_and_tlvs)
{
	unsigned char a[36 + 7], b[128];
	memset(a, 0, sizeof(a));
	inet_pton(AF_INET6, "2001:db8::5", a);
	a[32] = 0x01; a[33] = 0xBB;	/* 443 */
	/* TLVs after the addresses are skipped with the header. */
	size_t n = v2_header(b, 1, 0x21, a, sizeof(a));
	struct proxy_result r;
	ck_assert_int_eq(proxy_parse(b, n, &r), (int)n);
	char buf[80];
	ck_assert_str_eq(peer_of(&r, buf, sizeof(buf)), "[2001:db8::5]:443");
	n = v2_header(b, 0, 0x00, a, 0);
	ck_assert_int_eq(proxy_parse(b, n, &r), 16);
	ck_assert_int_eq(r.local, 1);
}
END_TEST

START_TEST(test_v2_malformed)
{
	unsigned char a[12] = { 0 }, b[64];
	struct proxy_result r;
	size_t n = v2_header(b, 1, 0x11, a, 8);		/* too short for IPv4 */
	ck_assert_int_eq(proxy_parse(b, n, &r), -1);
	n = v2_header(b, 2, 0x11, a, 12);		/* unknown command */
	ck_assert_int_eq(proxy_parse(b, n, &r), -1);
	n = v2_header(b, 1, 0x11, a, 12);
	b[12] = 0x11;					/* version 1 in a v2 signature */
	ck_assert_int_eq(proxy_parse(b, n, &r), -1);
	n = v2_header(b, 1, 0x51, a, 12);		/* unknown family */
	ck_assert_int_eq(proxy_parse(b, n, &r), -1);
}
END_TEST

/* A non-blocking socket pair, as the worker's accepted sockets are. */
static void pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

START_TEST(test_read_long_v2_header_leaves_client_bytes)
{
	/* IPv4 addresses then 700 bytes of TLVs: more than the peek buffer. */
	unsigned char a[12 + 700], b[1024];
	memset(a, 0, sizeof(a));
	inet_pton(AF_INET, "198.51.100.4", a);
	a[8] = 0x30; a[9] = 0x39;	/* 12345 */
	size_t n = v2_header(b, 1, 0x11, a, sizeof(a));
	memcpy(b + n, "hello", 5);
	int sv[2];
	pair(sv);
	ck_assert_int_eq(write(sv[0], b, n + 5), (ssize_t)(n + 5));
	struct proxy_result r;
	ck_assert_int_eq(proxy_read_header(sv[1], 2.0, &r), 0);
	char buf[80];
	ck_assert_int_eq(r.local, 0);
	ck_assert_str_eq(peer_of(&r, buf, sizeof(buf)), "198.51.100.4:12345");
	ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_read_partial_header_times_out)
{
	int sv[2];
	pair(sv);
	ck_assert_int_eq(write(sv[0], "PROXY TCP4 192.0.2.1", 20), 20);
	struct proxy_result r;
	double t0 = util_now();
	ck_assert_int_eq(proxy_read_header(sv[1], 0.3, &r), -1);
	double took = util_now() - t0;
	ck_assert_msg(took >= 0.25 && took < 2.0, "took %.3f s", took);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_read_garbage_and_eof)
{
	int sv[2];
	pair(sv);
	ck_assert_int_eq(write(sv[0], "GET / HTTP/1.0\r\n\r\n", 18), 18);
	struct proxy_result r;
	ck_assert_int_eq(proxy_read_header(sv[1], 5.0, &r), -1);
	close(sv[0]);
	close(sv[1]);
	pair(sv);
	close(sv[0]);	/* the client leaves before sending a header */
	double t0 = util_now();
	ck_assert_int_eq(proxy_read_header(sv[1], 5.0, &r), -1);
	ck_assert(util_now() - t0 < 1.0);
	close(sv[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc = tcase_create("proxy");
	tcase_add_loop_test(tc, test_v1, 0, (int)ARRAY_LEN(v1));
	tcase_add_test(tc, test_v1_too_long_without_crlf);
	tcase_add_test(tc, test_v2_ipv4_and_split);
	tcase_add_test(tc, test_v2_ipv6_local_and_tlvs);
	tcase_add_test(tc, test_v2_malformed);
	tcase_add_test(tc, test_read_long_v2_header_leaves_client_bytes);
	tcase_add_test(tc, test_read_partial_header_times_out);
	tcase_add_test(tc, test_read_garbage_and_eof);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
