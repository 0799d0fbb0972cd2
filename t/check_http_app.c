/*
 * check_http_app.c - unit tests of the HTTP request/response layer under
 * handle_http: the chunked decoder (every split point of every body, size
 * limits, malformed framing), header fields (repeated, any case) and the
 * response header check, then the engine itself over a socketpair: what a
 * handler sees of a request, bodies read by Content-Length and chunked in
 * pieces of every size, max_body_size, unread bodies drained before the
 * next pipelined request, and the responses (bytes, file, stream, HEAD).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http/http_shared.h"

#include "check_run.h"

/* ---- the chunked decoder ---- */

static const struct chunk_case {
	const char *raw;
	const char *body;	/* NULL: an error is expected */
	unsigned long long limit;
	enum http_chunked_status error;
	size_t tail;		/* bytes after the body, left unconsumed */
} chunk_cases[] = {
	{ "0\r\n\r\n", "", 100, 0, 0 },
	{ "5\r\nhello\r\n0\r\n\r\n", "hello", 100, 0, 0 },
	{ "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 100, 0, 0 },
	{ "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 100, 0, 0 },
	{ "a;name=value\r\n0123456789\r\n0;x\r\n\r\n", "0123456789", 100, 0, 0 },
	{ "3 ;ext\r\nabc\r\n0\r\n\r\n", "abc", 100, 0, 0 },
	{ "3\t\r\nabc\r\n0\r\n\r\n", "abc", 100, 0, 0 },
	{ "000003\r\nabc\r\n0000\r\n\r\n", "abc", 100, 0, 0 },
	{ "3\r\nabc\r\n0\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n", "abc", 100, 0, 0 },
	/* What follows the body is the next request: not consumed. */
	{ "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", "abc", 100, 0, 18 },
	{ "5\r\nhello\r\n0\r\n\r\n", "hello", 5, 0, 0 },
	/* Limits. */
	{ "6\r\nhello!\r\n0\r\n\r\n", NULL, 5, HTTP_CHUNKED_TOO_LARGE, 0 },
	{ "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", NULL, 5, HTTP_CHUNKED_TOO_LARGE, 0 },
	{ "fffffffffffffff\r\n", NULL, 1ULL << 40, HTTP_CHUNKED_TOO_LARGE, 0 },
	{ "1000000000000000\r\n", NULL, 1ULL << 62, HTTP_CHUNKED_ERROR, 0 },
	/* Malformed framing. */
	{ "\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "x\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "-1\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "+3\r\nabc\r\n0\r\n\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "0x3\r\nabc\r\n0\r\n\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "3\nabc\r\n0\r\n\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "3\rabc\r\n0\r\n\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "3\r\nabcd\r\n0\r\n\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "3\r\nabc\n0\r\n\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "3\r\nabc\r\n0\r\n\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "3 4\r\nabc\r\n0\r\n\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "3;a\x01\r\nabc\r\n0\r\n\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "3\r\nabc\r\n0\r\n folded\r\n\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
	{ "3\r\nabc\r\n0\r\nBad\x7f: x\r\n\r\n", NULL, 100, HTTP_CHUNKED_ERROR, 0 },
};

/*
 * Decode raw delivered in two pieces split at `split`, into an output
 * buffer of outcap bytes at a time. Returns the final status and the body.
 */
static enum http_chunked_status decode_split(const struct chunk_case *c, size_t split,
					     size_t outcap, char *body, size_t *body_len,
					     size_t *left)
{
	struct http_chunked ch;
	size_t len = strlen(c->raw), fed = 0, have = split, got = 0;
	enum http_chunked_status r = HTTP_CHUNKED_MORE;
	http_chunked_init(&ch, c->limit);
	for (int rounds = 0; rounds < 10000; rounds++) {
		size_t used, produced;
		char out[64];
		r = http_chunked_decode(&ch, c->raw + fed, have - fed, &used, out, outcap,
					&produced);
		memcpy(body + got, out, produced);
		got += produced;
		fed += used;
		if (r != HTTP_CHUNKED_MORE)
			break;
		if (fed == have) {
			if (have == len)
				break;	/* everything fed and still more wanted */
			have = len;
		}
	}
	*body_len = got;
	*left = len - fed;
	return r;
}

START_TEST(test_chunked_every_split_point)
{
	const struct chunk_case *c = &chunk_cases[_i];
	size_t len = strlen(c->raw);
	static const size_t outcaps[] = { 1, 2, 3, 7, 64 };
	for (size_t split = 0; split <= len; split++) {
		for (size_t k = 0; k < sizeof(outcaps) / sizeof(outcaps[0]); k++) {
			char body[256];
			size_t blen, left;
			enum http_chunked_status r = decode_split(c, split, outcaps[k], body, &blen,
								  &left);
			if (c->body) {
				ck_assert_msg(r == HTTP_CHUNKED_DONE, "%s split %zu out %zu: %d",
					      c->raw, split, outcaps[k], r);
				ck_assert_msg(blen == strlen(c->body) &&
					      memcmp(body, c->body, blen) == 0,
					      "%s split %zu: body '%.*s'", c->raw, split, (int)blen,
					      body);
				ck_assert_uint_eq(left, c->tail);
			} else {
				ck_assert_msg(r == c->error, "%s split %zu out %zu: %d, want %d",
					      c->raw, split, outcaps[k], r, c->error);
			}
		}
	}
}
END_TEST

/* An extension longer than any size line may be is refused, however it arrives. */
START_TEST(test_chunked_overlong_line)
{
	char raw[8192];
	int n = snprintf(raw, sizeof(raw), "1;");
	memset(raw + n, 'x', 5000);
	struct http_chunked ch;
	size_t used, produced;
	char out[8];
	http_chunked_init(&ch, 100);
	ck_assert_int_eq(http_chunked_decode(&ch, raw, (size_t)n + 5000, &used, out, sizeof(out),
					     &produced), HTTP_CHUNKED_ERROR);
}
END_TEST

/* ---- header fields ---- */

START_TEST(test_fields_repeated_and_any_case)
{
	static const char head[] =
		"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nX-Tag: one\r\n"
		"x-tag:two  \r\nX-TAG:\tthree\r\nEmpty:\r\n\r\n";
	char store[sizeof(head)];
	struct http_field f[8];
	int n = http_fields_index(head, sizeof(head) - 1, store, f, 8);
	ck_assert_int_eq(n, 6);
	ck_assert_str_eq(http_fields_find(f, n, "host", 0), "h");
	ck_assert_str_eq(http_fields_find(f, n, "X-Tag", 0), "one");
	ck_assert_str_eq(http_fields_find(f, n, "X-TAG", 1), "two");
	ck_assert_str_eq(http_fields_find(f, n, "x-tag", 2), "three");
	ck_assert_ptr_null(http_fields_find(f, n, "x-tag", 3));
	ck_assert_str_eq(http_fields_find(f, n, "empty", 0), "");
	ck_assert_ptr_null(http_fields_find(f, n, "missing", 0));
	ck_assert_str_eq(f[2].name, "X-Tag");
}
END_TEST

START_TEST(test_fields_bare_lf_and_limit)
{
	static const char head[] = "\r\nGET / HTTP/1.1\nA: 1\nB: 2\nC: 3\n\n";
	char store[sizeof(head)];
	struct http_field f[2];
	int n = http_fields_index(head, sizeof(head) - 1, store, f, 2);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(f[0].name, "A");
	ck_assert_str_eq(f[1].value, "2");
}
END_TEST

static const struct out_case {
	const char *name, *value;
	int err;		/* 0: allowed */
} out_cases[] = {
	{ "Content-Type", "application/json", 0 },
	{ "X-A", "", 0 },
	{ "Connection", "close", 0 },
	{ "Connection", "keep-alive", EPERM },
	{ "content-length", "5", EPERM },
	{ "Transfer-Encoding", "chunked", EPERM },
	{ "DATE", "x", EPERM },
	{ "CONNECTION", "Close", 0 },
	{ "connection", "close, x", EPERM },
	{ "Content-LENGTH", "5", EPERM },
	{ "transfer-encoding", "gzip", EPERM },
	/* Near misses are the handler's: the reserved names are matched whole. */
	{ "Dates", "x", 0 },
	{ "Dat", "x", 0 },
	{ "Content-Lengths", "5", 0 },
	{ "Content-Lengt", "5", 0 },
	{ "Transfer-Encodings", "x", 0 },
	{ "Connections", "keep-alive", 0 },
	{ "Connectio", "keep-alive", 0 },
	{ "X-Connection", "keep-alive", 0 },
	{ "Tab", "a\tb", 0 },
	{ "X-Del", "a\x7f", EINVAL },
	{ "Bad Name", "x", EINVAL },
	{ "", "x", EINVAL },
	{ "X-Split", "a\r\nInjected: 1", EINVAL },
	{ "X-Lf", "a\nb", EINVAL },
	{ "X:Colon", "a", EINVAL },
};

START_TEST(test_fields_response_check)
{
	const struct out_case *c = &out_cases[_i];
	errno = 0;
	int r = http_fields_check_response(c->name, c->value);
	if (c->err == 0)
		ck_assert_msg(r == 0, "%s: %s refused", c->name, c->value);
	else
		ck_assert_msg(r == -1 && errno == c->err, "%s: %s: %d errno %d", c->name,
			      c->value, r, errno);
}
END_TEST

/* ---- the engine over a socketpair ---- */

/* What the test handler saw and how it should answer. */
struct seen {
	int calls;
	char log[4096];		/* one line per request */
	size_t read_size;	/* pf_http_read in pieces of this size; 0: do not read */
	int mode;		/* 0 bytes, 1 stream, 2 file, 3 fail, 4 nothing */
	int file_fd;
};

static int test_handler(struct pf_http *h, void *arg)
{
	struct seen *s = arg;
	char body[4096];
	size_t got = 0;
	ssize_t n = 0;
	s->calls++;
	if (s->read_size) {
		while (got < sizeof(body) &&
		       (n = pf_http_read(h, body + got, s->read_size)) > 0)
			got += (size_t)n;
	}
	const char *tags = pf_http_header_nth(h, "x-tag", 1);
	size_t used = strlen(s->log);
	snprintf(s->log + used, sizeof(s->log) - used, "%s %s %s q=%s v=%d tag1=%s len=%lld body=%.*s%s\n",
		 pf_http_method(h), pf_http_target(h), pf_http_path(h), pf_http_query(h),
		 pf_http_version(h), tags ? tags : "-", pf_http_body_length(h), (int)got, body,
		 n < 0 ? (errno == EMSGSIZE ? " EMSGSIZE" : errno == EPROTO ? " EPROTO" : " ERR")
		       : "");
	/* A body too large or malformed: the library's answer (413, 400). */
	if (n < 0 && (errno == EMSGSIZE || errno == EPROTO))
		return 0;
	switch (s->mode) {
	case 1:
		if (pf_http_write(h, "ab", 2) < 0 || pf_http_write(h, "", 0) < 0 ||
		    pf_http_write(h, "cde", 3) < 0)
			return -1;
		return 0;
	case 2:
		return pf_http_send_file(h, s->file_fd, 2, 5);
	case 3:
		errno = EIO;
		return -1;
	case 4:
		return 0;
	default:
		return pf_http_respond(h, 200, "text/plain", "ok", 2);
	}
}

/*
 * Send raw (then close the sending side), run the engine over the
 * connection with a given max_body_size, return everything it answered.
 */
static char *serve(const char *raw, size_t rawlen, struct seen *s, long long max_body)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq((int)write(sv[0], raw, rawlen), (int)rawlen);
	shutdown(sv[0], SHUT_WR);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);

	struct http_conf conf = { .header_timeout = 2, .keepalive_timeout = 2,
				  .max_header_size = 8192, .max_body_size = max_body };
	struct http_engine *e = http_engine_create(&conf);
	ck_assert_ptr_nonnull(e);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pf_conn conn;
	conn_init(&conn, sv[1], NULL, (struct sockaddr *)&sa, sizeof(sa));
	http_engine_serve(e, &conn, test_handler, s);
	http_engine_destroy(e);
	close(sv[1]);

	static char out[65536];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(out) - 1 && (n = read(sv[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(sv[0]);
	return out;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

START_TEST(test_engine_request_as_seen)
{
	struct seen s = { 0 };
	const char raw[] = "GET /a/./b/../c%20d?x=1&y HTTP/1.1\r\nHost: t\r\nX-Tag: one\r\nx-tag: two\r\n\r\n"
			   "HEAD /dir/ HTTP/1.0\r\n\r\n";
	char *out = serve(raw, sizeof(raw) - 1, &s, 100);
	ck_assert_int_eq(s.calls, 2);
	ck_assert_str_eq(s.log, "GET /a/./b/../c%20d?x=1&y /a/c d q=x=1&y v=11 tag1=two len=0 body=\n"
				"HEAD /dir/ /dir/ q= v=10 tag1=- len=0 body=\n");
	/* Two answers; HEAD gets the head alone, with the length of the body it would have. */
	ck_assert_int_eq(count(out, "HTTP/1.1 200 OK\r\n"), 2);
	ck_assert_int_eq(count(out, "Content-Length: 2\r\n"), 2);
	ck_assert_ptr_nonnull(strstr(out, "Connection: keep-alive\r\n\r\nokHTTP/1.1"));
	ck_assert_ptr_nonnull(strstr(out, "Connection: close\r\n\r\n"));
	/* The HEAD's answer ends the output: no body. */
	ck_assert_int_eq((int)strlen(strstr(out, "Connection: close\r\n\r\n")), 21);
}
END_TEST

/* A chunked body read in pieces of every size, then a pipelined request. */
START_TEST(test_engine_chunked_body_in_pieces)
{
	const char raw[] = "POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "5\r\nhello\r\n1;x=y\r\n \r\n5\r\nworld\r\n0\r\nT: 1\r\n\r\n"
			   "GET /next HTTP/1.1\r\nHost: t\r\n\r\n";
	for (size_t piece = 1; piece <= 12; piece++) {
		struct seen s = { .read_size = piece };
		serve(raw, sizeof(raw) - 1, &s, 100);
		ck_assert_int_eq(s.calls, 2);
		ck_assert_str_eq(s.log, "POST /up /up q= v=11 tag1=- len=-1 body=hello world\n"
					"GET /next /next q= v=11 tag1=- len=0 body=\n");
	}
}
END_TEST

START_TEST(test_engine_length_body_in_pieces)
{
	const char raw[] = "PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello worldGET /y HTTP/1.1\r\nHost: t\r\n\r\n";
	for (size_t piece = 1; piece <= 12; piece++) {
		struct seen s = { .read_size = piece };
		serve(raw, sizeof(raw) - 1, &s, 11);
		ck_assert_str_eq(s.log, "PUT /x /x q= v=11 tag1=- len=11 body=hello world\n"
					"GET /y /y q= v=11 tag1=- len=0 body=\n");
	}
}
END_TEST

/* A body the handler leaves unread is drained, never parsed as a request. */
START_TEST(test_engine_unread_body_is_drained)
{
	/* The body in both: "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n", 35 bytes. */
	const char raw[] = "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
			   "POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "23\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n\r\n0\r\n\r\n"
			   "GET /c HTTP/1.1\r\nHost: t\r\n\r\n";
	struct seen s = { 0 };
	char *out = serve(raw, sizeof(raw) - 1, &s, 100);
	ck_assert_int_eq(s.calls, 3);
	ck_assert_ptr_null(strstr(s.log, "smuggled"));
	ck_assert_ptr_nonnull(strstr(s.log, "GET /c /c"));
	ck_assert_int_eq(count(out, "HTTP/1.1 200 OK"), 3);
}
END_TEST

static const struct limit_case {
	const char *raw;
	long long max_body;
	size_t read_size;
	const char *status;	/* the answer's status line */
	int calls;		/* handler calls */
	const char *seen;	/* a fragment of the handler's log, or NULL */
	int closes;		/* the answer says Connection: close */
} limit_cases[] = {
	/* Content-Length past the limit: 413 before the handler, then close. */
	{ "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world", 10, 64,
	  "HTTP/1.1 413 Payload Too Large\r\n", 0, NULL, 1 },
	{ "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhelloworld", 10, 64,
	  "HTTP/1.1 200 OK\r\n", 1, "body=helloworld\n", 0 },
	/* Chunked past the limit: the read fails, the library answers 413. */
	{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello!\r\n0\r\n\r\n", 5, 64,
	  "HTTP/1.1 413 Payload Too Large\r\n", 1, "EMSGSIZE", 1 },
	{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 5, 1,
	  "HTTP/1.1 413 Payload Too Large\r\n", 1, "body=abc EMSGSIZE", 1 },
	/* Bad framing: 400. */
	{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100, 64,
	  "HTTP/1.1 400 Bad Request\r\n", 1, "EPROTO", 1 },
	/* Unread and over the limit as chunks: the drain fails, the connection closes. */
	{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello!\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n",
	  5, 0, "HTTP/1.1 200 OK\r\n", 1, NULL, 1 },
	/* A body that ends early. */
	{ "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello", 100, 64,
	  "HTTP/1.1 200 OK\r\n", 1, "body=hello ERR", 1 },
};

START_TEST(test_engine_body_limits)
{
	const struct limit_case *c = &limit_cases[_i];
	struct seen s = { .read_size = c->read_size };
	char *out = serve(c->raw, strlen(c->raw), &s, c->max_body);
	ck_assert_msg(strncmp(out, c->status, strlen(c->status)) == 0, "%s: answered %s", c->raw,
		      out);
	ck_assert_int_eq(s.calls, c->calls);
	if (c->seen)
		ck_assert_msg(strstr(s.log, c->seen) != NULL, "%s: saw %s", c->raw, s.log);
	/* Exactly one answer: the connection is not reused past a broken body. */
	ck_assert_int_eq(count(out, "HTTP/1.1 "), 1);
	ck_assert_int_eq(strstr(out, "Connection: close\r\n") != NULL, c->closes);
}
END_TEST

START_TEST(test_engine_stream_chunked_and_close_delimited)
{
	struct seen s = { .mode = 1 };
	const char raw[] = "GET /s HTTP/1.1\r\nHost: t\r\n\r\nGET /t HTTP/1.0\r\n\r\n";
	char *out = serve(raw, sizeof(raw) - 1, &s, 100);
	ck_assert_ptr_nonnull(strstr(out, "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
					  "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"));
	/* HTTP/1.0: no length, no chunks; the close ends the body. */
	const char *second = strstr(out, "0\r\n\r\nHTTP/1.1 200 OK\r\n");
	ck_assert_ptr_nonnull(strstr(second, "Connection: close\r\n\r\nabcde"));
	ck_assert_ptr_null(strstr(second + 5, "Content-Length"));
	ck_assert_ptr_null(strstr(second + 5, "Transfer-Encoding"));
	ck_assert_str_eq(out + strlen(out) - 5, "abcde");
}
END_TEST

START_TEST(test_engine_stream_head_has_no_body)
{
	struct seen s = { .mode = 1 };
	const char raw[] = "HEAD /s HTTP/1.1\r\nHost: t\r\n\r\n";
	char *out = serve(raw, sizeof(raw) - 1, &s, 100);
	ck_assert_ptr_nonnull(strstr(out, "Transfer-Encoding: chunked\r\n"));
	ck_assert_str_eq(out + strlen(out) - 4, "\r\n\r\n");
	ck_assert_ptr_null(strstr(out, "ab"));
}
END_TEST

START_TEST(test_engine_send_file)
{
	char path[] = "/tmp/check_http_app_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq((int)write(fd, "0123456789", 10), 10);
	unlink(path);
	struct seen s = { .mode = 2, .file_fd = fd };
	const char raw[] = "GET /f HTTP/1.1\r\nHost: t\r\n\r\nHEAD /f HTTP/1.1\r\nHost: t\r\n\r\n";
	char *out = serve(raw, sizeof(raw) - 1, &s, 100);
	close(fd);
	ck_assert_int_eq(count(out, "Content-Length: 5\r\n"), 2);
	ck_assert_ptr_nonnull(strstr(out, "\r\n\r\n23456HTTP/1.1 200"));
	ck_assert_str_eq(out + strlen(out) - 4, "\r\n\r\n");
}
END_TEST

/* A failing handler gets a 500 and a closed connection; so does one that sends nothing. */
START_TEST(test_engine_handler_failure_is_500)
{
	for (int mode = 3; mode <= 4; mode++) {
		struct seen s = { .mode = mode };
		const char raw[] = "GET /f HTTP/1.1\r\nHost: t\r\n\r\nGET /g HTTP/1.1\r\nHost: t\r\n\r\n";
		char *out = serve(raw, sizeof(raw) - 1, &s, 100);
		ck_assert_int_eq(s.calls, 1);
		ck_assert_int_eq(count(out, "HTTP/1.1 "), 1);
		ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 500 Internal Server Error\r\n"));
		ck_assert_ptr_nonnull(strstr(out, "Connection: close\r\n"));
	}
}
END_TEST

/* Bad request heads never reach the handler. */
START_TEST(test_engine_bad_heads_answered_by_engine)
{
	static const char *const raws[] = {
		"GET /%2e%2e/x HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
		struct seen s = { 0 };
		char *out = serve(raws[i], strlen(raws[i]), &s, 100);
		ck_assert_msg(strncmp(out, "HTTP/1.1 4", 10) == 0 || strncmp(out, "HTTP/1.1 5", 10) == 0,
			      "%s: %s", raws[i], out);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_app");
	TCase *tc = tcase_create("chunked");
	tcase_add_loop_test(tc, test_chunked_every_split_point, 0,
			    (int)(sizeof(chunk_cases) / sizeof(chunk_cases[0])));
	tcase_add_test(tc, test_chunked_overlong_line);
	suite_add_tcase(s, tc);
	tc = tcase_create("fields");
	tcase_add_test(tc, test_fields_repeated_and_any_case);
	tcase_add_test(tc, test_fields_bare_lf_and_limit);
	tcase_add_loop_test(tc, test_fields_response_check, 0,
			    (int)(sizeof(out_cases) / sizeof(out_cases[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("engine");
	tcase_add_test(tc, test_engine_request_as_seen);
	tcase_add_test(tc, test_engine_chunked_body_in_pieces);
	tcase_add_test(tc, test_engine_length_body_in_pieces);
	tcase_add_test(tc, test_engine_unread_body_is_drained);
	tcase_add_loop_test(tc, test_engine_body_limits, 0,
			    (int)(sizeof(limit_cases) / sizeof(limit_cases[0])));
	tcase_add_test(tc, test_engine_stream_chunked_and_close_delimited);
	tcase_add_test(tc, test_engine_stream_head_has_no_body);
	tcase_add_test(tc, test_engine_send_file);
	tcase_add_test(tc, test_engine_handler_failure_is_500);
	tcase_add_test(tc, test_engine_bad_heads_answered_by_engine);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
