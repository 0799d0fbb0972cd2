/*
 * check_client_http.c - unit tests of prefork-client's HTTP response parser
 * (src/client/httpresp.c). Each response in the table is fed whole and in
 * pieces of every size from one byte up, and must give the same status,
 * body, connection fate and outcome every time.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

enum outcome { DONE, NEEDS_EOF, INCOMPLETE, ERROR };

struct http_case {
	const char  *name;
	const char  *response;
	int          status;
	const char  *body;
	bool         close;
	enum outcome outcome;
	size_t       leftover;	/* bytes after the response, not consumed */
};

static const struct http_case cases[] = {
	{ "content_length",
	  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	  200, "hello", false, DONE, 0 },
	{ "content_length_zero",
	  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	  200, "", false, DONE, 0 },
	{ "chunked_with_extension_and_trailer",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
	  200, "hello world", false, DONE, 0 },
	{ "chunked_upper_hex",
	  "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n"
	  "A\r\n0123456789\r\n0\r\n\r\n",
	  200, "0123456789", false, DONE, 0 },
	{ "chunked_wins_over_length",
	  "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "3\r\nabc\r\n0\r\n\r\n",
	  200, "abc", false, DONE, 0 },
	{ "body_until_close",
	  "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil the end",
	  200, "until the end", true, NEEDS_EOF, 0 },
	{ "http10_keep_alive",
	  "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
	  200, "ok", false, DONE, 0 },
	{ "connection_close",
	  "HTTP/1.1 404 Not Found\r\nConnection: keep-alive, close\r\nContent-Length: 3\r\n\r\nnot",
	  404, "not", true, DONE, 0 },
	{ "interim_100_continue",
	  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
	  201, "x", false, DONE, 0 },
	{ "no_content",
	  "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
	  204, "", false, DONE, 0 },
	{ "not_modified",
	  "HTTP/1.1 304 Not Modified\r\n\r\n",
	  304, "", false, DONE, 0 },
	{ "bare_newlines",
	  "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc",
	  200, "abc", false, DONE, 0 },
	{ "no_reason_phrase",
	  "HTTP/1.1 500\r\nContent-Length: 1\r\n\r\n!",
	  500, "!", false, DONE, 0 },
	{ "header_whitespace",
	  "HTTP/1.1 200 OK\r\nContent-Length:   4  \r\n\r\nabcd",
	  200, "abcd", false, DONE, 0 },
	{ "leftover_after_response",
	  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
	  200, "ok", false, DONE, 5 },
	{ "truncated_body",
	  "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	  200, "short", false, INCOMPLETE, 0 },
	{ "truncated_chunked",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
	  200, "hel", false, INCOMPLETE, 0 },
	{ "truncated_head",
	  "HTTP/1.1 200 OK\r\nContent-Le",
	  0, "", false, INCOMPLETE, 0 },
	{ "not_http",
	  "SSH-2.0-OpenSSH_9.2\r\n\r\n",
	  0, "", false, ERROR, 0 },
	{ "bad_status_code",
	  "HTTP/1.1 2x0 OK\r\n\r\n",
	  0, "", false, ERROR, 0 },
	{ "bad_content_length",
	  "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
	  200, "", false, ERROR, 0 },
	{ "conflicting_content_length",
	  "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	  200, "", false, ERROR, 0 },
	{ "bad_chunk_size",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	  200, "", false, ERROR, 0 },
	{ "chunk_size_overflow",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
	  200, "", false, ERROR, 0 },
	{ "missing_crlf_after_chunk",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n",
	  200, "ab", false, ERROR, 0 },
	{ "header_without_colon",
	  "HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n",
	  200, "", false, ERROR, 0 },
};

struct result {
	int    status;
	char   body[256];
	size_t body_len;
	bool   close;
	enum outcome outcome;
	size_t leftover;
};

/* Feed RESPONSE in pieces of SPLIT bytes, as a client reading would. */
static void run(const char *response, size_t split, struct result *res)
{
	size_t len = strlen(response), pos = 0, head_len = 0;
	char head[512];
	struct httpresp r;

	memset(res, 0, sizeof(*res));
	httpresp_init(&r);
	while (pos < len && r.hr_state != HR_DONE && r.hr_state != HR_ERROR) {
		size_t n = len - pos < split ? len - pos : split;
		const char *p = response + pos;

		pos += n;
		while (n > 0 && r.hr_state != HR_DONE && r.hr_state != HR_ERROR) {
			if (r.hr_state == HR_HEAD) {
				size_t old = head_len;
				ssize_t h;

				ck_assert_uint_le(head_len + n, sizeof(head));
				memcpy(head + head_len, p, n);
				head_len += n;
				h = httpresp_head(&r, head, head_len);
				if (h <= 0) {
					n = 0;
					break;
				}
				p += (size_t)h - old;
				n -= (size_t)h - old;
				head_len = 0;
			} else {
				size_t off, dlen, used = httpresp_body(&r, p, n, &off, &dlen);

				ck_assert_uint_le(res->body_len + dlen, sizeof(res->body));
				memcpy(res->body + res->body_len, p + off, dlen);
				res->body_len += dlen;
				ck_assert(used > 0 || r.hr_state == HR_DONE || r.hr_state == HR_ERROR);
				p += used;
				n -= used;
			}
		}
		res->leftover = n + (len - pos);
	}
	res->status = r.hr_status;
	res->close = r.hr_close;
	if (r.hr_state == HR_ERROR) {
		ck_assert_ptr_nonnull(r.hr_error);
		res->outcome = ERROR;
	} else if (r.hr_state == HR_DONE) {
		res->outcome = DONE;
	} else if (httpresp_eof(&r)) {
		res->outcome = NEEDS_EOF;
		ck_assert(r.hr_state == HR_DONE);
	} else {
		res->outcome = INCOMPLETE;
	}
}

START_TEST(response_table)
{
	const struct http_case *tc = &cases[_i];
	size_t len = strlen(tc->response), split;

	for (split = 1; split <= len; split++) {
		struct result res;

		run(tc->response, split, &res);
		ck_assert_msg(res.outcome == tc->outcome, "%s split %zu: outcome %d, want %d",
			      tc->name, split, res.outcome, tc->outcome);
		if (tc->outcome == ERROR)
			continue;
		ck_assert_msg(res.status == tc->status, "%s split %zu: status %d", tc->name,
			      split, res.status);
		ck_assert_msg(res.body_len == strlen(tc->body) &&
			      memcmp(res.body, tc->body, res.body_len) == 0,
			      "%s split %zu: body \"%.*s\"", tc->name, split,
			      (int)res.body_len, res.body);
		if (tc->outcome != INCOMPLETE || tc->status != 0)
			ck_assert_msg(res.close == tc->close, "%s split %zu: close %d",
				      tc->name, split, res.close);
		ck_assert_msg(res.leftover == tc->leftover, "%s split %zu: leftover %zu",
			      tc->name, split, res.leftover);
	}
}
END_TEST

START_TEST(head_too_large)
{
	static char big[HTTPRESP_MAX_HEAD + 64];
	struct httpresp r;

	memset(big, 'a', sizeof(big));
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	httpresp_init(&r);
	ck_assert_int_eq(httpresp_head(&r, big, sizeof(big)), -1);
	ck_assert_str_eq(r.hr_error, "response head too large");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client_http");
	TCase *tc = tcase_create("httpresp");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, response_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, head_too_large);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
