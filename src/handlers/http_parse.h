/*
 * http_parse.h - the http handler's pure parts: no I/O, no allocation.
 *
 *   http_parse_*  an incremental HTTP/1.x request-head parser (http_parse.c)
 *   http_time_*   the HTTP date formats: parse and format (http_time.c)
 *   http_path_*   percent-decoding and normalisation of a request target,
 *                 and opening the result beneath a root directory (http_path.c)
 *   http_mime_*   Content-Type by file extension (http_mime.c)
 *
 * The parser is fed the whole buffer received so far, starting at the first
 * byte of the request, every time more bytes arrive; it remembers how far it
 * has looked, so a head trickled in one byte at a time costs linear work.
 * Every pointer it returns points into that buffer.
 */
#ifndef PF_HTTP_PARSE_H
#define PF_HTTP_PARSE_H

#include <stddef.h>
#include <time.h>

enum http_parse_status {
	HTTP_PARSE_ERROR = -1,		/* req->status holds the code to answer */
	HTTP_PARSE_INCOMPLETE = 0,	/* feed more bytes */
	HTTP_PARSE_DONE = 1		/* req->consumed bytes form the head */
};

enum http_method {
	HTTP_METHOD_OTHER = 0,		/* a valid token we do not serve: 405 */
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD
};

/* A string inside the parsed buffer; not NUL-terminated. */
struct http_str {
	const char *ptr;
	size_t len;
};

struct http_request {
	/* Results, valid once the parser returned HTTP_PARSE_DONE. */
	enum http_method method;
	struct http_str method_name;
	struct http_str target;		/* as sent: path, maybe "?query" */
	struct http_str request_line;	/* without the line end; also set on
					   most errors, for the access log */
	int version_major, version_minor;
	int keep_alive;			/* what the client asked, by version
					   and Connection */
	struct http_str host;
	struct http_str if_modified_since;
	struct http_str if_none_match;	/* the static file headers: empty */
	struct http_str if_range;	/* when absent (the last line wins) */
	struct http_str range;
	struct http_str accept_encoding;
	long long content_length;	/* -1 when absent */
	int chunked;			/* Transfer-Encoding: chunked (the only
					   coding accepted) */
	int expect_continue;		/* Expect: 100-continue */
	size_t consumed;		/* bytes of the head, blank line included */
	int status;			/* on HTTP_PARSE_ERROR: 400, 414, 431,
					   501, 505 */

	/* Parser state: zeroed by http_parse_init. */
	size_t max_size;		/* max_header_size */
	size_t scanned;			/* bytes already looked at */
	size_t line_start;		/* start of the line being scanned */
	size_t head_start;		/* first byte after leading blank lines */
	int have_request_line;
	int seen;			/* headers met so far (bit set) */
	int te_codings;			/* transfer codings listed so far */
	int te_chunked;			/* how many of them were "chunked" */
	int te_last_chunked;		/* the last one was "chunked" */
	int te_unknown;			/* one of them was something else */
};

/* Prepare req for a new request whose head may be at most max_size bytes. */
void http_parse_init(struct http_request *req, size_t max_size);

/*
 * Parse the head at buf[0..len). buf must hold the same bytes as on the
 * previous call, plus possibly more. Returns HTTP_PARSE_INCOMPLETE,
 * HTTP_PARSE_DONE or HTTP_PARSE_ERROR (then req->status says why).
 */
enum http_parse_status http_parse_request(struct http_request *req, const char *buf,
					  size_t len);

/* Case-insensitive comparison of a parsed string with a literal. */
int http_parse_str_eq(struct http_str s, const char *lit);

/* ---- http_time.c ---- */

/*
 * Parse an HTTP date (IMF-fixdate, RFC 850 or asctime form). Returns 0
 * and the time in *out, or -1.
 */
int http_time_parse(const char *s, size_t len, time_t *out);

/* Format t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"): 29 chars + NUL. */
#define HTTP_DATE_LEN 29
void http_time_format(time_t t, char out[HTTP_DATE_LEN + 1]);

/* Format t as CLF "[10/Oct/2000:13:55:36 +0000]": 28 chars + NUL. */
#define HTTP_CLF_DATE_LEN 28
void http_time_format_clf(time_t t, char out[HTTP_CLF_DATE_LEN + 1]);

/* ---- http_path.c ---- */

/*
 * Turn a request target into a clean path relative to the root: take the
 * path part (before '?'), percent-decode it, drop "." and empty segments
 * and resolve "..". Writes "a/b/c" (no leading slash; "" for the root)
 * into out and sets *trailing_slash when the path named a directory
 * ("/a/" or "/"). Returns 0, or the status to answer: 400 for a bad escape,
 * an encoded slash or NUL, ".." above the root, or a target that is not a
 * path; 414 when the decoded path does not fit in outlen.
 */
int http_path_normalize(const char *target, size_t len, char *out, size_t outlen,
			int *trailing_slash);

/*
 * The Location of a directory's redirect: "/" + rel (from
 * http_path_normalize, percent-encoded where RFC 3986 needs it) + "/" +
 * the query of the request target (from '?' up to any '#', bytes that may
 * not appear there encoded). Never anything of the raw path, so it always
 * names a path on this server ("//host", "/\host" cannot come out).
 * Writes a NUL-terminated string; returns its length, or 0 when it does
 * not fit in outlen bytes (3 * len + 3 always does).
 */
size_t http_path_location(const char *rel, const char *target, size_t len, char *out,
			  size_t outlen);

/*
 * Open the relative path rel (from http_path_normalize) beneath the
 * directory rootfd, never leaving it: ".." cannot occur and symbolic links
 * that lead outside the root are refused. Returns a read-only descriptor,
 * or -1 with *status set to 404 (absent), 403 (unreadable, or a link out of
 * the root) or 500.
 */
int http_path_open(int rootfd, const char *rel, int *status);

/* ---- http_mime.c ---- */

/* The Content-Type for a file name, by its extension. */
const char *http_mime_type(const char *name, size_t len);

#endif /* PF_HTTP_PARSE_H */
