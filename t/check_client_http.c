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

#include "check_run.h"

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
	/* No body whatever the headers say, and what follows is the next response. */
	{ "no_content_204",
	  "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nnext",
	  204, "", false, DONE, 4 },
	{ "not_modified_304",
	  "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
	  304, "", false, DONE, 0 },
	{ "length_then_next_response",
	  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1",
	  200, "ok", false, DONE, 8 },
	{ "status_without_reason_bare_lf",
	  "HTTP/1.1 200\nContent-Length: 1\n\nx",
	  200, "x", false, DONE, 0 },
	{ "folded_header_ignored",
	  "HTTP/1.1 200 OK\r\nX-A: a\r\n\tfolded: 9\r\nContent-Length: 1\r\n\r\nx",
	  200, "x", false, DONE, 0 },
	{ "repeated_equal_length",
	  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length:\t2 \r\n\r\nok",
	  200, "ok", false, DONE, 0 },
	/* A coding other than chunked last: the body runs to the close. */
	{ "other_coding_until_close",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw",
	  200, "raw", true, NEEDS_EOF, 0 },
	{ "chunked_not_last_until_close",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc",
	  200, "3\r\nabc", true, NEEDS_EOF, 0 },
	{ "chunked_last_of_list",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip , ,\tchunked \r\n\r\n"
	  "2\r\nhi\r\n0\r\n\r\n",
	  200, "hi", false, DONE, 0 },
	{ "chunked_bare_lf_and_space_extension",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "3\nabc\n2 ;x\r\nde\r\n0\nT: 1\n\n",
	  200, "abcde", false, DONE, 0 },
	{ "connection_close_http10",
	  "HTTP/1.0 200 OK\r\nConnection: foo, keep-alive\r\nContent-Length: 1\r\n\r\nx",
	  200, "x", false, DONE, 0 },
	{ "incomplete_head",
	  "HTTP/1.1 200 OK\r\nContent-Le",
	  0, "", false, INCOMPLETE, 0 },
	{ "incomplete_chunk_extension",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext",
	  200, "", false, INCOMPLETE, 0 },
	{ "status_too_short", "HTTP/1.1 20 OK\r\n\r\n", 0, "", false, ERROR, 0 },
	{ "status_minor_not_digit", "HTTP/1.x 200 OK\r\n\r\n", 0, "", false, ERROR, 0 },
	{ "status_no_space", "HTTP/1.1_200 OK\r\n\r\n", 0, "", false, ERROR, 0 },
	{ "status_leading_zero", "HTTP/1.1 099 OK\r\n\r\n", 0, "", false, ERROR, 0 },
	{ "status_letter", "HTTP/1.1 2x0 OK\r\n\r\n", 0, "", false, ERROR, 0 },
	{ "status_letter_last", "HTTP/1.1 20x OK\r\n\r\n", 0, "", false, ERROR, 0 },
	{ "status_four_digits", "HTTP/1.1 2000 OK\r\n\r\n", 0, "", false, ERROR, 0 },
	{ "not_http", "SSH-2.0-OpenSSH_9.6\r\n\r\n", 0, "", false, ERROR, 0 },
	{ "switching_protocols",
	  "HTTP/1.1 101 Switching Protocols\r\n\r\n", 101, "", false, ERROR, 0 },
	{ "header_empty_name", "HTTP/1.1 200 OK\r\n: v\r\n\r\n", 0, "", false, ERROR, 0 },
	{ "length_empty", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
	  0, "", false, ERROR, 0 },
	{ "length_twenty_digits",
	  "HTTP/1.1 200 OK\r\nContent-Length: 12345678901234567890\r\n\r\n",
	  0, "", false, ERROR, 0 },
	{ "length_not_number", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
	  0, "", false, ERROR, 0 },
	{ "length_conflict",
	  "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
	  0, "", false, ERROR, 0 },
	{ "chunk_size_junk",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n",
	  0, "", false, ERROR, 0 },
	{ "chunk_cr_without_lf",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\rX0\r\n\r\n",
	  0, "", false, ERROR, 0 },
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

/* The whole response at once: the message a malformed one is refused with. */
static const struct error_case {
	const char *response, *error;
} error_cases[] = {
	{ "HTTP/1.1 20 OK\r\n\r\n", "malformed status line" },
	{ "SSH-2.0-OpenSSH_9.6", "not an HTTP/1.x response" },
	{ "HTTP/1.1 101 Switching Protocols\r\n\r\n", "unexpected 101 Switching Protocols" },
	{ "HTTP/1.1 200 OK\r\nX\r\n\r\n", "malformed header line" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	  "conflicting Content-Length headers" },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;\r\n", "bad chunk size" },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1/\r\n", "bad chunk size" },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
	  "missing CRLF after chunk data" },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\rb\r\n",
	  "missing CRLF after chunk data" },
};

START_TEST(error_messages)
{
	const struct error_case *c = &error_cases[_i];
	size_t len = strlen(c->response), off, dlen;
	struct httpresp r;
	ssize_t h;

	httpresp_init(&r);
	h = httpresp_head(&r, c->response, len);
	/* One piece of data per call: go on while bytes remain. */
	for (size_t pos = h > 0 ? (size_t)h : len; pos < len && r.hr_state != HR_ERROR &&
	     r.hr_state != HR_DONE; )
		pos += httpresp_body(&r, c->response + pos, len - pos, &off, &dlen);
	ck_assert_int_eq(r.hr_state, HR_ERROR);
	ck_assert_str_eq(r.hr_error, c->error);
}
END_TEST

START_TEST(misuse_is_an_error)
{
	struct httpresp r;
	size_t off, dlen;

	httpresp_init(&r);
	ck_assert_uint_eq(httpresp_body(&r, "x", 1, &off, &dlen), 0);
	ck_assert_str_eq(r.hr_error, "parser misuse");
	httpresp_init(&r);
	ck_assert_int_gt(httpresp_head(&r, "HTTP/1.1 200 OK\r\n\r\n", 19), 0);
	ck_assert_int_eq(httpresp_head(&r, "HTTP/1.1 200 OK\r\n\r\n", 19), -1);
	ck_assert_str_eq(r.hr_error, "parser misuse");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client_http");
	TCase *tc = tcase_create("httpresp");

	tcase_add_loop_test(tc, response_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, head_too_large);
	tcase_add_loop_test(tc, error_messages, 0, (int)(sizeof(error_cases) / sizeof(error_cases[0])));
	tcase_add_test(tc, misuse_is_an_error);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
