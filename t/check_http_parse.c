/*
 * check_http_parse.c - unit tests of the http handler's pure parts: the
 * request parser (whole, split at every byte, pipelined, oversized,
 * malformed), dates, path normalisation and opening beneath a root, MIME
 * types. Table-driven: each case sits beside the result it must produce.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers/http_parse.h"

#include "check_run.h"

#define MAX_HEAD 8192

/* ---- well-formed requests ---- */

static const struct good_case {
	const char *raw;
	enum http_method method;
	const char *target;
	int minor;
	int keep_alive;
	const char *host;	/* NULL: absent */
	const char *ims;	/* NULL: absent */
	long long content_length;
	int chunked;
	size_t consumed;	/* 0: the whole raw text */
} good_cases[] = {
	{ "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "example.com", NULL, -1, 0, 0 },
	{ "HEAD /index.html HTTP/1.1\r\nHost: h\r\n\r\n",
	  HTTP_METHOD_HEAD, "/index.html", 1, 1, "h", NULL, -1, 0, 0 },
	{ "GET /a?b=c HTTP/1.0\r\n\r\n",
	  HTTP_METHOD_GET, "/a?b=c", 0, 0, NULL, NULL, -1, 0, 0 },
	{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	  HTTP_METHOD_GET, "/", 0, 1, NULL, NULL, -1, 0, 0 },
	{ "GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n",
	  HTTP_METHOD_GET, "/", 0, 0, NULL, NULL, -1, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: h\r\nconnection: upgrade, CLOSE\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 0, "h", NULL, -1, 0, 0 },
	/* Bare LF line ends, as nginx accepts. */
	{ "GET /x HTTP/1.1\nHost: a\n\n",
	  HTTP_METHOD_GET, "/x", 1, 1, "a", NULL, -1, 0, 0 },
	/* Empty lines before the request line are skipped. */
	{ "\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n",
	  HTTP_METHOD_GET, "/x", 1, 1, "h", NULL, -1, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "h", "Sun, 06 Nov 1994 08:49:37 GMT", -1, 0, 0 },
	{ "GET / HTTP/1.1\r\nX-Empty:\r\nX-Spaces:   v   \r\nHOST:\tb \r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "b", NULL, -1, 0, 0 },
	{ "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
	  HTTP_METHOD_OTHER, "/form", 1, 1, "h", NULL, 5, 0, 51 },
	{ "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 7, 7\r\n\r\n",
	  HTTP_METHOD_OTHER, "/form", 1, 1, "h", NULL, 7, 0, 0 },
	{ "POST /form HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
	  HTTP_METHOD_OTHER, "/form", 1, 1, "h", NULL, -1, 1, 0 },
	{ "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "h", NULL, -2, 0, 0 },
	{ "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n",
	  HTTP_METHOD_OTHER, "/x", 1, 1, "h", NULL, -1, 0, 0 },
	{ "get / HTTP/1.1\r\nHost: h\r\n\r\n",	/* methods are case-sensitive */
	  HTTP_METHOD_OTHER, "/", 1, 1, "h", NULL, -1, 0, 0 },
	{ "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	  HTTP_METHOD_OTHER, "*", 1, 1, "h", NULL, -1, 0, 0 },
	/* Every reg-name character of RFC 3986 (unreserved, sub-delims), a port. */
	{ "GET / HTTP/1.1\r\nHost: aZ0-._~!$&'()*+,;=%41:8080\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "aZ0-._~!$&'()*+,;=%41:8080", NULL, -1, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: [::1]:80\r\nX-Bytes: \x80\xff\ta\"<>\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "[::1]:80", NULL, -1, 0, 0 },
	/* Long values with tabs, DEL's neighbours and obs-text are fine. */
	{ "GET / HTTP/1.1\r\nX: a\tbcdefgh\x80\xff\x7e\x20ijklmnopq\trs~~~~~~~~\x81\r\n"
	  "Host: h\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "h", NULL, -1, 0, 0 },
	/* Absolute form: the authority becomes the host. */
	{ "GET http://example.org/p/q.txt HTTP/1.1\r\nHost: other\r\n\r\n",
	  HTTP_METHOD_GET, "/p/q.txt", 1, 1, "example.org", NULL, -1, 0, 0 },
	{ "GET HTTP://example.org HTTP/1.1\r\nHost: h\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "example.org", NULL, -1, 0, 0 },
	{ "GET https://Ex.org:8080/a?b HTTP/1.1\r\nHost: h\r\n\r\n",
	  HTTP_METHOD_GET, "/a?b", 1, 1, "Ex.org:8080", NULL, -1, 0, 0 },
	{ "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 4\t,\t4 \r\n\r\n",
	  HTTP_METHOD_OTHER, "/form", 1, 1, "h", NULL, 4, 0, 0 },
	{ "GET / HTTP/1.0\r\nConnection:\tfoo,,\tkeep-alive\r\n\r\n",
	  HTTP_METHOD_GET, "/", 0, 1, NULL, NULL, -1, 0, 0 },
	/* HTTP/1.x for x > 1 is served as 1.1. */
	{ "GET / HTTP/1.2\r\nHost: h\r\n\r\n",
	  HTTP_METHOD_GET, "/", 2, 1, "h", NULL, -1, 0, 0 },
	{ "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\nX-Utf8: \xc3\xa9\r\n\r\n",
	  HTTP_METHOD_GET, "/caf\xc3\xa9", 1, 1, "h", NULL, -1, 0, 0 },
	/* Host forms of RFC 9110 7.2: IP literals, ports, an empty value. */
	{ "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "[::1]:8080", NULL, -1, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: 127.0.0.1:\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "127.0.0.1:", NULL, -1, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost:\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "", NULL, -1, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: xn--caf-dma.Example_1~%41!$&'()*+,;=\r\n\r\n",
	  HTTP_METHOD_GET, "/", 1, 1, "xn--caf-dma.Example_1~%41!$&'()*+,;=", NULL, -1, 0, 0 },
	/* HTTP/1.0 needs no Host. */
	{ "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
	  HTTP_METHOD_GET, "/", 0, 0, "a", NULL, -1, 0, 0 },
	/* Transfer codings are case-insensitive; empty list members are skipped. */
	{ "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , CHUNKED ,\r\n\r\n",
	  HTTP_METHOD_OTHER, "/", 1, 1, "h", NULL, -1, 1, 0 },
	{ "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n",
	  HTTP_METHOD_OTHER, "/", 1, 1, "h", NULL, -1, 1, 0 },
	/* Identical Content-Length lines are one length. */
	{ "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
	  HTTP_METHOD_OTHER, "/", 1, 1, "h", NULL, 3, 0, 0 },
};

static void check_str(struct http_str s, const char *want, const char *what, const char *raw)
{
	if (want == NULL) {
		ck_assert_msg(s.ptr == NULL, "%s: %s present in %s", what, what, raw);
		return;
	}
	ck_assert_msg(s.ptr != NULL, "%s: absent in %s", what, raw);
	ck_assert_msg(s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0,
		      "%s: got '%.*s', want '%s' in %s", what, (int)s.len, s.ptr, want, raw);
}

/* How many bytes of the case make its request. */
static size_t good_len(const struct good_case *c)
{
	return c->consumed ? c->consumed : strlen(c->raw);
}

static void check_good(const struct good_case *c, const struct http_request *req)
{
	size_t consumed = good_len(c);
	ck_assert_int_eq(req->method, c->method);
	check_str(req->target, c->target, "target", c->raw);
	ck_assert_int_eq(req->version_major, 1);
	ck_assert_int_eq(req->version_minor, c->minor);
	ck_assert_msg(req->keep_alive == c->keep_alive, "keep_alive %d in %s",
		      req->keep_alive, c->raw);
	check_str(req->host, c->host, "host", c->raw);
	check_str(req->if_modified_since, c->ims, "if-modified-since", c->raw);
	if (c->content_length == -2)
		ck_assert(req->content_length > 1000000000LL);
	else
		ck_assert_int_eq(req->content_length, c->content_length);
	ck_assert_int_eq(req->chunked, c->chunked);
	ck_assert_uint_eq(req->consumed, consumed);
}

START_TEST(test_parse_well_formed)
{
	const struct good_case *c = &good_cases[_i];
	struct http_request req;
	http_parse_init(&req, MAX_HEAD);
	int r = http_parse_request(&req, c->raw, strlen(c->raw));
	ck_assert_msg(r == HTTP_PARSE_DONE, "%s: result %d status %d", c->raw, r, req.status);
	check_good(c, &req);
}
END_TEST

/* Feed the same buffer one more byte at a time: incomplete until the end. */
START_TEST(test_parse_split_every_byte)
{
	const struct good_case *c = &good_cases[_i];
	size_t consumed = good_len(c);
	struct http_request req;
	http_parse_init(&req, MAX_HEAD);
	for (size_t n = 0; n < consumed; n++) {
		int r = http_parse_request(&req, c->raw, n);
		ck_assert_msg(r == HTTP_PARSE_INCOMPLETE, "%s: %d after %zu bytes", c->raw, r, n);
	}
	ck_assert_int_eq(http_parse_request(&req, c->raw, consumed), HTTP_PARSE_DONE);
	check_good(c, &req);
}
END_TEST

/* Split into two reads at every position, a fresh parser per split. */
START_TEST(test_parse_split_two_reads)
{
	const struct good_case *c = &good_cases[_i];
	size_t consumed = good_len(c);
	for (size_t cut = 0; cut < consumed; cut++) {
		struct http_request req;
		http_parse_init(&req, MAX_HEAD);
		ck_assert_int_eq(http_parse_request(&req, c->raw, cut), HTTP_PARSE_INCOMPLETE);
		ck_assert_int_eq(http_parse_request(&req, c->raw, consumed), HTTP_PARSE_DONE);
		check_good(c, &req);
	}
}
END_TEST

START_TEST(test_parse_pipelined)
{
	static const char buf[] =
		"GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
		"HEAD /two HTTP/1.1\r\nHost: a\r\n\r\n"
		"GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	static const char *const targets[] = { "/one", "/two", "/three" };
	static const int methods[] = { HTTP_METHOD_GET, HTTP_METHOD_HEAD, HTTP_METHOD_GET };
	size_t off = 0, len = sizeof(buf) - 1;

	for (int k = 0; k < 3; k++) {
		struct http_request req;
		http_parse_init(&req, MAX_HEAD);
		ck_assert_int_eq(http_parse_request(&req, buf + off, len - off), HTTP_PARSE_DONE);
		check_str(req.target, targets[k], "target", buf);
		ck_assert_int_eq(req.method, methods[k]);
		ck_assert_int_eq(req.keep_alive, k < 2);
		off += req.consumed;
	}
	ck_assert_uint_eq(off, len);
}
END_TEST

/* The parser stops at the blank line even when the next request follows. */
START_TEST(test_parse_pipelined_partial_second)
{
	static const char buf[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HT";
	struct http_request req;
	http_parse_init(&req, MAX_HEAD);
	ck_assert_int_eq(http_parse_request(&req, buf, sizeof(buf) - 1), HTTP_PARSE_DONE);
	ck_assert_uint_eq(req.consumed, 28);
	http_parse_init(&req, MAX_HEAD);
	ck_assert_int_eq(http_parse_request(&req, buf + 28, sizeof(buf) - 1 - 28),
			 HTTP_PARSE_INCOMPLETE);
}
END_TEST

/* ---- malformed requests ---- */

/* BAD("..."): a case's bytes and their number (some hold a NUL byte). */
#define BAD(s) s, sizeof(s) - 1
static const struct bad_case {
	const char *raw;
	size_t size;
	int status;
} bad_cases[] = {
	{ BAD("GET\r\n\r\n"), 400 },
	{ BAD("GET /\r\n\r\n"), 400 },			/* HTTP/0.9 */
	{ BAD(" GET / HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET  / HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1 \r\n\r\n"), 400 },
	{ BAD("G(T / HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\rX\r\n\r\n"), 400 },		/* bare CR */
	/* A bare CR anywhere in a line, wherever the line is read. */
	{ BAD("G\rT / HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET\r/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET /a HTTP/1.1\r\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX\rY: v\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX:\rv\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: a\rb\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: a \r\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: h\r\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: \x1f\r\nHost: h\r\n\r\n"), 400 },
	/* Long values are checked eight bytes at a time: a control byte in any place. */
	{ BAD("GET / HTTP/1.1\r\nX: abcdefghijklm\x01nop\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: abcdefgh\x7fijklmnop\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: abcdefghij\x01k\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: abcdefghijk\x7f\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: \x80\xff\xfe\xa0\x9f\xe0\xc3\x1f\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: abcdefghijklmnopqrstuvwxyz0123456789\x0b\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: \x7f abcdefghijklmnopqrstuvwxyz\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: abcdefghijklmnop\rqrstuvwx\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET /a\x01 HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET /a\x7f HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a\x00z\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: a\x07z\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nName : v\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\n: v\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 400 },
	{ BAD("GET index.html HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET ftp://x/y HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET 1http://x/y HTTP/1.1\r\n\r\n"), 400 },	/* a scheme starts with a letter */
	{ BAD("GET a1+b-c.d://x/y HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET httpx://x/y HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET http:x HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET http:///y HTTP/1.1\r\n\r\n"), 400 },		/* empty authority */
	{ BAD("GET / HTTP/1x1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1234\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nContent-Length: 1,\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nContent-Length: 1 x\r\n\r\n"), 400 },
	{ BAD("GET / http/1.1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/x.1\r\n\r\n"), 400 },
	{ BAD("GET / FOO/1.1\r\n\r\n"), 400 },
	{ BAD("\rGET / HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/2.0\r\n\r\n"), 505 },
	{ BAD("GET / HTTP/0.9\r\n\r\n"), 505 },
	{ BAD("GET / HTTP/3.0\r\nHost: a\r\n\r\n"), 505 },
	/* RFC 9112 2.3: HTTP-version is HTTP/DIGIT.DIGIT, exactly. */
	{ BAD("GET / HTTP/10.0\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/01.1\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.01\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/+1.1\r\nHost: h\r\n\r\n"), 400 },
	/* RFC 9112 3.2: HTTP/1.1 needs exactly one valid Host. */
	{ BAD("GET / HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.2\r\nX: y\r\n\r\n"), 400 },
	{ BAD("GET http://a/ HTTP/1.1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: []\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a%4\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a<b\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a{b\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n"), 400 },
	/* Host skips the generic control-byte check: valid_host must refuse them all. */
	{ BAD("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: [::1\x01]\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a:8\x0b\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: abcdefghijklmnop\x1f\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: %41\x7f\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: [a b]\r\n\r\n"), 400 },
	{ BAD("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"), 400 },
	{ BAD("GET http://a b/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	{ BAD("GET http://u@a/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400 },
	/* An empty Content-Length is no length, not zero. */
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:   \r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.0\r\nContent-Length:\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length:\r\n\r\n"), 400 },
	/* RFC 9112 6.1: only a final, single chunked frames a body. */
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501 },
	{ BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n"), 501 },
};

/* A fresh parser of max bytes given the first len bytes of raw: an error with this status. */
static void check_error(const char *raw, size_t len, size_t max, int status)
{
	struct http_request req;
	http_parse_init(&req, max);
	int r = http_parse_request(&req, raw, len);
	ck_assert_msg(r == HTTP_PARSE_ERROR, "%.*s: result %d", (int)len, raw, r);
	ck_assert_msg(req.status == status, "%.*s: status %d, want %d", (int)len, raw, req.status,
		      status);
}

/* A case's length is up to its blank line, or all of it when it has none. */
static size_t bad_len(const struct bad_case *c)
{
	for (size_t i = 0; i + 4 <= c->size; i++)
		if (memcmp(c->raw + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return c->size;
}

START_TEST(test_parse_malformed)
{
	const struct bad_case *c = &bad_cases[_i];
	check_error(c->raw, bad_len(c), MAX_HEAD, c->status);
}
END_TEST

/* The error shows as soon as the bad line is complete, byte by byte too. */
START_TEST(test_parse_malformed_split)
{
	const struct bad_case *c = &bad_cases[_i];
	size_t len = bad_len(c);
	struct http_request req;
	http_parse_init(&req, MAX_HEAD);
	int r = HTTP_PARSE_INCOMPLETE;
	for (size_t n = 1; n <= len && r == HTTP_PARSE_INCOMPLETE; n++)
		r = http_parse_request(&req, c->raw, n);
	ck_assert_int_eq(r, HTTP_PARSE_ERROR);
	ck_assert_int_eq(req.status, c->status);
}
END_TEST

/* ---- Expect ---- */

static const struct expect_case {
	const char *raw;
	int expect_continue;
} expect_cases[] = {
	{ "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", 1 },
	{ "POST / HTTP/1.1\r\nHost: h\r\nexpect:  100-Continue \r\n\r\n", 1 },
	{ "POST / HTTP/1.1\r\nHost: h\r\n\r\n", 0 },
	{ "POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 0 },
	{ "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continuex\r\n\r\n", 0 },
	/* RFC 9110 10.1.1: a 100-continue from an HTTP/1.0 client is ignored. */
	{ "POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", 0 },
};

START_TEST(test_parse_expect)
{
	const struct expect_case *c = &expect_cases[_i];
	struct http_request req;
	http_parse_init(&req, MAX_HEAD);
	ck_assert_int_eq(http_parse_request(&req, c->raw, strlen(c->raw)), HTTP_PARSE_DONE);
	ck_assert_msg(req.expect_continue == c->expect_continue, "%s: %d", c->raw,
		      req.expect_continue);
}
END_TEST

/* ---- size limits ---- */

static char *make_request(size_t target_len, size_t header_bytes, size_t *len)
{
	size_t cap = target_len + header_bytes + 256;
	char *b = malloc(cap);
	ck_assert_ptr_nonnull(b);
	size_t n = 0;
	memcpy(b, "GET /", 5);
	n = 5;
	memset(b + n, 'a', target_len);
	n += target_len;
	memcpy(b + n, " HTTP/1.1\r\nHost: h\r\n", 20);
	n += 20;
	while (header_bytes >= 10) {
		/* "X-Pad: vvv\r\n" lines */
		size_t line = header_bytes > 200 ? 200 : header_bytes;
		memcpy(b + n, "X-Pad: ", 7);
		memset(b + n + 7, 'v', line - 9);
		memcpy(b + n + line - 2, "\r\n", 2);
		n += line;
		header_bytes -= line;
	}
	memcpy(b + n, "\r\n", 2);
	n += 2;
	*len = n;
	return b;
}

START_TEST(test_parse_request_line_too_long_414)
{
	size_t len;
	char *b = make_request(300, 0, &len);
	struct http_request req;

	/* The whole line arrived: 414. */
	check_error(b, len, 256, 414);

	/* Only max bytes arrived, none of them a line end: 414 already. */
	http_parse_init(&req, 256);
	ck_assert_int_eq(http_parse_request(&req, b, 255), HTTP_PARSE_INCOMPLETE);
	ck_assert_int_eq(http_parse_request(&req, b, 256), HTTP_PARSE_ERROR);
	ck_assert_int_eq(req.status, 414);
	free(b);
}
END_TEST

START_TEST(test_parse_header_section_too_long_431)
{
	size_t len;
	char *b = make_request(10, 1000, &len);
	struct http_request req;

	check_error(b, len, 512, 431);

	/* A buffer of max bytes filled by headers: 431, not incomplete. */
	check_error(b, 512, 512, 431);

	/* A head of exactly max bytes is fine; one more byte is not. */
	http_parse_init(&req, len);
	ck_assert_int_eq(http_parse_request(&req, b, len), HTTP_PARSE_DONE);
	check_error(b, len, len - 1, 431);
	free(b);
}
END_TEST

START_TEST(test_parse_request_line_counts_towards_limit)
{
	size_t len;
	char *b = make_request(100, 0, &len);
	/* The request line alone fits exactly; the blank line does not. */
	check_error(b, len, len - 2, 431);
	free(b);
}
END_TEST

/* ---- dates ---- */

static const struct date_case {
	const char *text;
	long long t;		/* -1: invalid */
} date_cases[] = {
	{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT", 784111777 },
	{ "Sun Nov  6 08:49:37 1994", 784111777 },
	{ "Thu, 01 Jan 1970 00:00:00 GMT", 0 },
	{ "Tue, 29 Feb 2000 23:59:59 GMT", 951868799 },
	{ "Sat, 01 Jan 2050 00:00:00 GMT", 2524608000LL },
	{ "Wed, 30 Feb 2000 00:00:00 GMT", -1 },
	{ "Sun, 06 Nov 1994 24:00:00 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:49:37 UTC", -1 },
	{ "Sun, 06 Nov 1994 08:49:37 GMT ", -1 },
	{ "Sun, 6 Nov 1994 08:49:37 GMT", -1 },
	{ "Funday, 06-Nov-94 08:49:37 GMT", -1 },
	{ "Sun, 06 Foo 1994 08:49:37 GMT", -1 },
	{ "yesterday", -1 },
	{ "", -1 },
	/* IMF-fixdate: a leap second is read as :59; each field refused in turn. */
	{ "Sun, 06 Nov 1994 08:49:60 GMT", 784111799 },
	{ "Sun, 29 Feb 2004 00:00:00 GMT", 1078012800 },
	{ "Sat, 01 Jan 0000 00:00:00 GMT", -62167219200LL },
	{ "Sun, 29 Feb 1900 00:00:00 GMT", -1 },
	{ "Sun, 00 Nov 1994 08:49:37 GMT", -1 },
	{ "Sun, 31 Nov 1994 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:60:00 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:49:61 GMT", -1 },
	{ "Sun,X06 Nov 1994 08:49:37 GMT", -1 },
	{ "Sun, 06-Nov 1994 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov-1994 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 94 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994-08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 08-49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:4x:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:49-37 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:49:3x GMT", -1 },
	{ "Sun, 06 Nov 19", -1 },
	{ "Sun, 06 No", -1 },
	/* RFC 850: two-digit years below 70 are 20xx. */
	{ "Sunday, 06-Nov-69 08:49:37 GMT", 3150953377LL },
	{ "Friday, 06-Nov-70 08:49:37 GMT", 26729377 },
	{ "Sunday,X06-Nov-94 08:49:37 GMT", -1 },
	{ "Sunday, 06 Nov-94 08:49:37 GMT", -1 },
	{ "Sunday, 06-Nov 94 08:49:37 GMT", -1 },
	{ "Sunday, 06-Nov-94-08:49:37 GMT", -1 },
	{ "Sunday, 06-Nov-94 08:49 GMT", -1 },
	{ "Sunday, 06-Nov-94 08:49:37 UTC", -1 },
	{ "Sunday, 06-Xyz-94 08:49:37 GMT", -1 },
	/* asctime: a two-digit day, and each field refused in turn. */
	{ "Wed Nov 16 08:49:37 1994", 784975777 },
	{ "SunXNov  6 08:49:37 1994", -1 },
	{ "Sun Foo  6 08:49:37 1994", -1 },
	{ "Sun Nov-6 08:49:37 1994", -1 },
	{ "Sun Nov  x 08:49:37 1994", -1 },
	{ "Sun Nov 6 08:49:37 1994", -1 },
	{ "Sun Nov  6-08:49:37 1994", -1 },
	{ "Sun Nov  6 08:49:37-1994", -1 },
	{ "Sun Nov  6 08:49:37 94", -1 },
	{ "Sun Nov  6 08:49:37 1994 ", -1 },
	{ "Su", -1 },
};

START_TEST(test_parse_date)
{
	const struct date_case *c = &date_cases[_i];
	time_t t = 12345;
	int r = http_time_parse(c->text, strlen(c->text), &t);
	if (c->t == -1) {
		ck_assert_msg(r == -1, "'%s' parsed", c->text);
	} else {
		ck_assert_msg(r == 0, "'%s' refused", c->text);
		ck_assert_int_eq((long long)t, c->t);
	}
}
END_TEST

START_TEST(test_format_date)
{
	char out[HTTP_DATE_LEN + 1];
	char clf[HTTP_CLF_DATE_LEN + 1];
	http_time_format(784111777, out);
	ck_assert_str_eq(out, "Sun, 06 Nov 1994 08:49:37 GMT");
	http_time_format(0, out);
	ck_assert_str_eq(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	http_time_format(951868799, out);
	ck_assert_str_eq(out, "Tue, 29 Feb 2000 23:59:59 GMT");
	http_time_format_clf(971185736, clf);
	ck_assert_str_eq(clf, "[10/Oct/2000:13:48:56 +0000]");

	/* Years outside 0000-9999 are clamped, never printed with more digits. */
	http_time_format((time_t)-62167219200LL, out);
	ck_assert_str_eq(out, "Sat, 01 Jan 0000 00:00:00 GMT");
	http_time_format((time_t)-62167219200LL - 86400, out);
	ck_assert_uint_eq(strlen(out), HTTP_DATE_LEN);
	ck_assert_msg(strstr(out, " 0000 ") != NULL, "year below 0 not clamped: %s", out);
	http_time_format((time_t)253402300800LL, out);	/* 10000-01-01 */
	ck_assert_uint_eq(strlen(out), HTTP_DATE_LEN);
	ck_assert_msg(strstr(out, " 9999 ") != NULL, "year above 9999 not clamped: %s", out);

	/* Every day for 200 years formats and parses back to itself. */
	for (long long t = -86400LL * 365; t < 86400LL * 365 * 200; t += 86400 + 3671) {
		time_t back;
		http_time_format((time_t)t, out);
		ck_assert_uint_eq(strlen(out), HTTP_DATE_LEN);
		if (t >= 0) {
			ck_assert_int_eq(http_time_parse(out, HTTP_DATE_LEN, &back), 0);
			ck_assert_int_eq((long long)back, t);
		}
		struct tm tm;
		time_t tt = (time_t)t;
		char want[64];
		gmtime_r(&tt, &tm);
		strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		ck_assert_str_eq(out, want);
	}
}
END_TEST

/* ---- path normalisation ---- */

static const struct path_case {
	const char *target;
	int status;		/* 0: ok */
	const char *path;
	int dir;
} path_cases[] = {
	{ "/", 0, "", 1 },
	{ "/index.html", 0, "index.html", 0 },
	{ "/a/b/c.txt", 0, "a/b/c.txt", 0 },
	{ "/a/b/", 0, "a/b", 1 },
	{ "/a//b", 0, "a/b", 0 },
	{ "//a", 0, "a", 0 },
	{ "/./a/./b", 0, "a/b", 0 },
	{ "/a/.", 0, "a", 1 },
	{ "/a/../b", 0, "b", 0 },
	{ "/a/b/../../c", 0, "c", 0 },
	{ "/a/..", 0, "", 1 },
	{ "/a/b/..", 0, "a", 1 },
	{ "/a?x=../../etc", 0, "a", 0 },
	{ "/a#frag", 0, "a", 0 },
	{ "/?q", 0, "", 1 },
	{ "/hello%20world.txt", 0, "hello world.txt", 0 },
	{ "/%7euser", 0, "~user", 0 },
	{ "/caf%C3%A9", 0, "caf\xc3\xa9", 0 },
	{ "/a%2eb", 0, "a.b", 0 },
	{ "/...", 0, "...", 0 },
	{ "/..a", 0, "..a", 0 },
	{ "/.hidden", 0, ".hidden", 0 },
	{ "/a/%2e", 0, "a", 1 },
	{ "/a/%2e%2e/b", 0, "b", 0 },
	{ "/..", 400, NULL, 0 },
	{ "/../", 400, NULL, 0 },
	{ "/../etc/passwd", 400, NULL, 0 },
	{ "/a/../../etc/passwd", 400, NULL, 0 },
	{ "/./../x", 400, NULL, 0 },
	{ "/%2e%2e/etc/passwd", 400, NULL, 0 },
	{ "/%2E%2E/x", 400, NULL, 0 },
	{ "/.%2e/x", 400, NULL, 0 },
	{ "/a%2f..%2f..%2fetc", 400, NULL, 0 },
	{ "/%2F", 400, NULL, 0 },
	{ "/a%00.html", 400, NULL, 0 },
	{ "/a%", 400, NULL, 0 },
	{ "/a%4", 400, NULL, 0 },
	{ "/a%zz", 400, NULL, 0 },
	{ "/a%g0", 400, NULL, 0 },
	{ "a", 400, NULL, 0 },
	{ "*", 400, NULL, 0 },
	{ "", 400, NULL, 0 },
	{ "?x", 400, NULL, 0 },
	/* The path ends at '?' or '#': an escape cut there is bad, one before it fine. */
	{ "/a%4?1", 400, NULL, 0 },
	{ "/a%?12", 400, NULL, 0 },
	{ "/a%41#x", 0, "aA", 0 },
	{ "/a/b?x/../..", 0, "a/b", 0 },
	{ "/b/..?x", 0, "", 1 },
	{ "/b/#/..", 0, "b", 1 },
	{ "/%41%42c/d%45f", 0, "ABc/dEf", 0 },
};

START_TEST(test_path_normalize)
{
	const struct path_case *c = &path_cases[_i];
	char out[256];
	int dir = -1;
	int r = http_path_normalize(c->target, strlen(c->target), out, sizeof(out), &dir);
	ck_assert_msg(r == c->status, "'%s': status %d, want %d", c->target, r, c->status);
	if (r == 0) {
		ck_assert_msg(strcmp(out, c->path) == 0, "'%s': path '%s', want '%s'", c->target,
			      out, c->path);
		ck_assert_msg(dir == c->dir, "'%s': trailing slash %d", c->target, dir);
	}
}
END_TEST

START_TEST(test_path_normalize_too_long)
{
	char out[8];
	int dir;
	ck_assert_int_eq(http_path_normalize("/abcdefgh", 9, out, sizeof(out), &dir), 414);
	ck_assert_int_eq(http_path_normalize("/abcdefg", 8, out, sizeof(out), &dir), 0);
	ck_assert_str_eq(out, "abcdefg");
	ck_assert_int_eq(http_path_normalize("/a/bcdef", 8, out, sizeof(out), &dir), 0);
	ck_assert_str_eq(out, "a/bcdef");
	ck_assert_int_eq(http_path_normalize("/a/bcdefg", 9, out, sizeof(out), &dir), 414);
	/* ".." takes a segment back. */
	ck_assert_int_eq(http_path_normalize("/abc/../xyz", 11, out, sizeof(out), &dir), 0);
	ck_assert_str_eq(out, "xyz");
	/* Escapes count decoded; the limit holds wherever the run or escape ends. */
	ck_assert_int_eq(http_path_normalize("/%41bcdefg", 10, out, sizeof(out), &dir), 0);
	ck_assert_str_eq(out, "Abcdefg");
	ck_assert_int_eq(http_path_normalize("/abcdefg%41", 11, out, sizeof(out), &dir), 414);
	ck_assert_int_eq(http_path_normalize("/abcdefgh?q", 11, out, sizeof(out), &dir), 414);
	ck_assert_int_eq(http_path_normalize("/abcdefg?qqqqqqqq", 17, out, sizeof(out), &dir), 0);
	ck_assert_str_eq(out, "abcdefg");
	/* A raw NUL in the path is refused; in the query it is not the path's. */
	ck_assert_int_eq(http_path_normalize("/a\0b", 4, out, sizeof(out), &dir), 400);
	ck_assert_int_eq(http_path_normalize("/\0", 2, out, sizeof(out), &dir), 400);
	ck_assert_int_eq(http_path_normalize("/a?\0", 4, out, sizeof(out), &dir), 0);
	ck_assert_str_eq(out, "a");
}
END_TEST

/* ---- the Location of a directory redirect ---- */

static const struct location_case {
	const char *target;	/* as sent; the path part is normalised first */
	const char *location;
} location_cases[] = {
	{ "/sub", "/sub/" },
	{ "/sub?q=1", "/sub/?q=1" },
	{ "/a/b", "/a/b/" },
	/* Open redirects: the raw target never reaches the Location. */
	{ "//evil.example/../sub", "/sub/" },
	{ "//evil.example", "/evil.example/" },
	{ "///evil.example/x/..", "/evil.example/" },
	{ "/\\evil.example/../sub", "/sub/" },
	{ "/\\evil.example", "/%5Cevil.example/" },
	{ "/%5C%5Cevil.example", "/%5C%5Cevil.example/" },
	{ "/%2e%2e%5cevil/..", "/" },
	/* A fragment is not part of the path, nor of the query. */
	{ "/sub#frag", "/sub/" },
	{ "/sub?q=1#frag", "/sub/?q=1" },
	{ "/sub#f?q", "/sub/" },
	/* Decoded bytes that are not pchars are encoded again. */
	{ "/hello%20world", "/hello%20world/" },
	{ "/caf%C3%A9", "/caf%C3%A9/" },
	{ "/caf\xc3\xa9", "/caf%C3%A9/" },
	{ "/a%3Fb%23c%25d", "/a%3Fb%23c%25d/" },
	{ "/a:b@c;d=e,f!$&'()*+~_.-", "/a:b@c;d=e,f!$&'()*+~_.-/" },
	/* The query keeps its escapes; what may not be in it is encoded. */
	{ "/sub?a=%20b&c=/d?e", "/sub/?a=%20b&c=/d?e" },
	{ "/sub?a=%zz\\\"<>", "/sub/?a=%25zz%5C%22%3C%3E" },
	{ "/sub?\xff", "/sub/?%FF" },
	{ "/sub?", "/sub/?" },
};

START_TEST(test_path_location)
{
	const struct location_case *c = &location_cases[_i];
	char rel[256], out[1024];
	int dir;
	size_t len = strlen(c->target);
	ck_assert_int_eq(http_path_normalize(c->target, len, rel, sizeof(rel), &dir), 0);
	size_t n = http_path_location(rel, c->target, len, out, sizeof(out));
	ck_assert_msg(n == strlen(c->location) && strcmp(out, c->location) == 0,
		      "'%s': Location '%s', want '%s'", c->target, out, c->location);
	/* Always a path here: one slash, then no second one or backslash. */
	ck_assert(out[0] == '/' && out[1] != '/' && out[1] != '\\');
	/* 3 * len + 3 bytes always suffice; one byte less than needed never overflows. */
	ck_assert_uint_gt(http_path_location(rel, c->target, len, out, 3 * len + 3), 0);
	ck_assert_uint_eq(http_path_location(rel, c->target, len, out, n), 0);
}
END_TEST

/* ---- opening beneath the root ---- */

static char tree[256];
static int rootfd = -1;

static void put_file(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void tree_setup(void)
{
	char p[512];
	snprintf(tree, sizeof(tree), "/tmp/check_http_parse.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tree));
	snprintf(p, sizeof(p), "%s/root", tree);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/root/sub", tree);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	put_file("secret.txt", "outside\n");
	put_file("root/index.html", "<p>hi</p>\n");
	put_file("root/sub/file.txt", "text\n");
	snprintf(p, sizeof(p), "%s/root/out", tree);
	ck_assert_int_eq(symlink("../secret.txt", p), 0);
	snprintf(p, sizeof(p), "%s/root/abs", tree);
	char target[512];
	snprintf(target, sizeof(target), "%s/secret.txt", tree);
	ck_assert_int_eq(symlink(target, p), 0);
	snprintf(p, sizeof(p), "%s/root/outdir", tree);
	ck_assert_int_eq(symlink("..", p), 0);
	snprintf(p, sizeof(p), "%s/root/inside", tree);
	ck_assert_int_eq(symlink("sub/file.txt", p), 0);
	snprintf(p, sizeof(p), "%s/root", tree);
	rootfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(rootfd, 0);
}

static void tree_teardown(void)
{
	char cmd[600];
	close(rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tree);
	ck_assert_int_eq(system(cmd), 0);
}

static const struct open_case {
	const char *rel;
	int status;		/* 0: opens */
	const char *content;	/* for files that open */
} open_cases[] = {
	{ "index.html", 0, "<p>hi</p>\n" },
	{ "sub/file.txt", 0, "text\n" },
	{ "", 0, NULL },
	{ "sub", 0, NULL },
	{ "missing.html", 404, NULL },
	{ "sub/missing/x", 404, NULL },
	{ "index.html/x", 404, NULL },
	{ "out", 403, NULL },			/* relative link out of the root */
	{ "abs", 403, NULL },			/* absolute link out of the root */
	{ "outdir/secret.txt", 403, NULL },	/* directory link out of the root */
};

START_TEST(test_path_open)
{
	const struct open_case *c = &open_cases[_i];
	int status = 0;
	int fd = http_path_open(rootfd, c->rel, &status);
	if (c->status) {
		ck_assert_msg(fd < 0, "'%s' opened", c->rel);
		ck_assert_msg(status == c->status, "'%s': status %d, want %d", c->rel, status,
			      c->status);
		return;
	}
	ck_assert_msg(fd >= 0, "'%s': status %d", c->rel, status);
	if (c->content) {
		char buf[64];
		ssize_t n = read(fd, buf, sizeof(buf));
		ck_assert_int_eq(n, (ssize_t)strlen(c->content));
		ck_assert(memcmp(buf, c->content, (size_t)n) == 0);
	}
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(fd);
}
END_TEST

/* A link that stays inside the root is served when openat2 is there. */
START_TEST(test_path_open_link_inside)
{
	int status = 0;
	int fd = http_path_open(rootfd, "inside", &status);
	ck_assert_msg(fd >= 0 || status == 403, "status %d", status);
	if (fd >= 0)
		close(fd);
}
END_TEST

/* ---- MIME types ---- */

static const struct mime_case {
	const char *name;
	const char *type;
} mime_cases[] = {
	{ "index.html", "text/html" },
	{ "a/b/page.htm", "text/html" },
	{ "INDEX.HTML", "text/html" },
	{ "style.css", "text/css" },
	{ "app.js", "application/javascript" },
	{ "data.json", "application/json" },
	{ "notes.txt", "text/plain" },
	{ "logo.png", "image/png" },
	{ "photo.jpg", "image/jpeg" },
	{ "photo.JPEG", "image/jpeg" },
	{ "anim.gif", "image/gif" },
	{ "icon.svg", "image/svg+xml" },
	{ "favicon.ico", "image/x-icon" },
	{ "doc.pdf", "application/pdf" },
	{ "feed.xml", "text/xml" },
	{ "mod.wasm", "application/wasm" },
	{ "f.woff", "font/woff" },
	{ "f.woff2", "font/woff2" },
	{ "movie.mp4", "video/mp4" },
	{ "archive.tar.gz", "application/gzip" },
	{ "README", "application/octet-stream" },
	{ "file.unknownext", "application/octet-stream" },
	{ "file.", "application/octet-stream" },
	{ ".html", "application/octet-stream" },
	{ "dir/.css", "application/octet-stream" },
	{ "dir.html/file", "application/octet-stream" },
	{ "", "application/octet-stream" },
};

START_TEST(test_mime_type)
{
	const struct mime_case *c = &mime_cases[_i];
	ck_assert_str_eq(http_mime_type(c->name, strlen(c->name)), c->type);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *http_parse_suite(void)
{
	Suite *s = suite_create("http_parse");
	TCase *tc;

	tc = tcase_create("request");
	tcase_add_loop_test(tc, test_parse_well_formed, 0, N(good_cases));
	tcase_add_loop_test(tc, test_parse_split_every_byte, 0, N(good_cases));
	tcase_add_loop_test(tc, test_parse_split_two_reads, 0, N(good_cases));
	tcase_add_test(tc, test_parse_pipelined);
	tcase_add_test(tc, test_parse_pipelined_partial_second);
	tcase_add_loop_test(tc, test_parse_malformed, 0, N(bad_cases));
	tcase_add_loop_test(tc, test_parse_malformed_split, 0, N(bad_cases));
	tcase_add_loop_test(tc, test_parse_expect, 0, N(expect_cases));
	tcase_add_test(tc, test_parse_request_line_too_long_414);
	tcase_add_test(tc, test_parse_header_section_too_long_431);
	tcase_add_test(tc, test_parse_request_line_counts_towards_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("date");
	tcase_add_loop_test(tc, test_parse_date, 0, N(date_cases));
	tcase_add_test(tc, test_format_date);
	suite_add_tcase(s, tc);

	tc = tcase_create("path");
	tcase_add_loop_test(tc, test_path_normalize, 0, N(path_cases));
	tcase_add_test(tc, test_path_normalize_too_long);
	tcase_add_loop_test(tc, test_path_location, 0, N(location_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, tree_setup, tree_teardown);
	tcase_add_loop_test(tc, test_path_open, 0, N(open_cases));
	tcase_add_test(tc, test_path_open_link_inside);
	suite_add_tcase(s, tc);

	tc = tcase_create("mime");
	tcase_add_loop_test(tc, test_mime_type, 0, N(mime_cases));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(http_parse_suite(), CK_FORK);
}
