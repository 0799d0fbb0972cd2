/*
 * fuzz_http_parse.c - libFuzzer target for the http handler's pure parts:
 * the request parser (in one piece, split in two at a point the input
 * chooses, and over pipelined requests), date parsing and formatting, path
 * normalisation and MIME lookup. Every result is checked against the
 * parser's promises, so a wrong answer aborts like a memory error does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEAD 1024

static void check_within(struct http_str s, const char *buf, size_t len)
{
	if (s.ptr == NULL || s.len == 0)
		return;
	/* The absolute-form "/" is the one string outside the buffer. */
	if (s.len == 1 && s.ptr[0] == '/')
		return;
	if (s.ptr < buf || s.ptr + s.len > buf + len)
		abort();
}

static void check_request(const struct http_request *req, int r, const char *buf, size_t len)
{
	if (r == HTTP_PARSE_ERROR) {
		if (req->status != 400 && req->status != 414 && req->status != 431 &&
		    req->status != 501 && req->status != 505)
			abort();
		return;
	}
	if (r != HTTP_PARSE_DONE)
		return;
	if (req->consumed == 0 || req->consumed > len || req->consumed > MAX_HEAD)
		abort();
	check_within(req->target, buf, req->consumed);
	check_within(req->method_name, buf, req->consumed);
	check_within(req->host, buf, req->consumed);
	check_within(req->if_modified_since, buf, req->consumed);
	if (req->version_major != 1 || req->target.len == 0)
		abort();
	if (req->chunked && req->content_length >= 0)
		abort();

	char path[256];
	int dir;
	if (http_path_normalize(req->target.ptr, req->target.len, path, sizeof(path), &dir) == 0) {
		size_t plen = strlen(path);
		/* Never a ".." segment, never absolute, never a NUL inside. */
		if (path[0] == '/' || strstr(path, "//") != NULL)
			abort();
		for (const char *p = path; (p = strstr(p, "..")) != NULL; p++)
			if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
				abort();
		(void)http_mime_type(path, plen);
	}
	time_t t;
	if (req->if_modified_since.len &&
	    http_time_parse(req->if_modified_since.ptr, req->if_modified_since.len, &t) == 0) {
		char out[HTTP_DATE_LEN + 1];
		time_t back;
		http_time_format(t, out);
		if (http_time_parse(out, HTTP_DATE_LEN, &back) != 0 || back != t)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* The first byte picks where the input is split in two reads. */
	size_t cut = data[0];
	const char *buf = (const char *)data + 1;
	size_t len = size - 1;
	if (cut > len)
		cut = len;

	struct http_request whole, split;
	http_parse_init(&whole, MAX_HEAD);
	int r1 = http_parse_request(&whole, buf, len);
	check_request(&whole, r1, buf, len);

	http_parse_init(&split, MAX_HEAD);
	int r2 = http_parse_request(&split, buf, cut);
	if (r2 == HTTP_PARSE_INCOMPLETE)
		r2 = http_parse_request(&split, buf, len);
	check_request(&split, r2, buf, len);
	/* Reading in two pieces changes nothing, unless the first already ended it. */
	if (r2 != r1 && !(r2 != HTTP_PARSE_INCOMPLETE && cut < len))
		abort();
	if (r1 == HTTP_PARSE_DONE && r2 == HTTP_PARSE_DONE && whole.consumed != split.consumed)
		abort();
	if (r1 == HTTP_PARSE_ERROR && r2 == HTTP_PARSE_ERROR && whole.status != split.status)
		abort();

	/* Pipelined: parse request after request. */
	size_t off = 0;
	while (off < len) {
		struct http_request req;
		http_parse_init(&req, MAX_HEAD);
		int r = http_parse_request(&req, buf + off, len - off);
		check_request(&req, r, buf + off, len - off);
		if (r != HTTP_PARSE_DONE)
			break;
		off += req.consumed;
	}

	time_t t;
	(void)http_time_parse(buf, len, &t);
	return 0;
}
