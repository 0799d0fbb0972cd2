/*
 * http_shared.h - what the files of libprefork's HTTP/1.1 engine share: the
 * engine under the built-in `http` (static files) handler and every handler
 * with `handle_http`.
 *
 *   http_chunked_*  the chunked transfer coding, decoded (pure: http_chunked.c)
 *   http_fields_*   header lines indexed by name, response header checks
 *                   (pure: http_fields.c)
 *   http_engine_*   the per-worker engine: settings, buffers, the connection
 *                   loop, error answers, the access log (http_engine.c)
 *   http_request_*  the request side of struct pf_http: strings, headers,
 *                   the body (http_request.c)
 *   http_response_* the response side: heads, bodies, streams (http_response.c)
 *   http_app_*      a service's HTTP handler in a worker, with static files
 *                   beside an app mounted at a prefix (http_app.c)
 *
 * Nothing here allocates per request: a worker's engine owns every buffer,
 * sized by max_header_size once at start.
 */
#ifndef PF_HTTP_SHARED_H
#define PF_HTTP_SHARED_H

#include "internal.h"

#include "handlers/http_parse.h"

#include <limits.h>
#include <string.h>
#include <time.h>

/* ---- http_chunked.c ---- */

enum http_chunked_status {
	HTTP_CHUNKED_ERROR = -2,	/* malformed: 400 */
	HTTP_CHUNKED_TOO_LARGE = -1,	/* the body passed its limit: 413 */
	HTTP_CHUNKED_MORE = 0,		/* feed more bytes (or give more room) */
	HTTP_CHUNKED_DONE = 1		/* last chunk and trailers consumed */
};

struct http_chunked {
	int state;
	unsigned long long chunk_left;	/* data bytes left in this chunk */
	unsigned long long total;	/* data bytes decoded so far */
	unsigned long long limit;	/* max_body_size */
	size_t line;			/* bytes of the size line or trailer line so far */
	int digits;
};

void http_chunked_init(struct http_chunked *c, unsigned long long limit);
/*
 * Decode in[0..inlen): framing is consumed, data is copied to out (at most
 * outcap bytes). *consumed and *produced say how much of each was used.
 * Stops at the end of the body; bytes after it are not consumed.
 */
enum http_chunked_status http_chunked_decode(struct http_chunked *c, const char *in, size_t inlen,
					     size_t *consumed, char *out, size_t outcap,
					     size_t *produced);

/* ---- http_fields.c ---- */

struct http_field {
	const char *name, *value;	/* NUL-terminated copies */
};

/*
 * Index the header lines of a parsed head: head[0..len) is the whole head
 * as the parser accepted it. Names and values are copied NUL-terminated
 * into store (at least len bytes); at most max fields are kept. Returns
 * the number of fields.
 */
int http_fields_index(const char *head, size_t len, char *store, struct http_field *fields,
		      int max);
/* The n-th (from 0) field called name, compared without case, or NULL. */
const char *http_fields_find(const struct http_field *fields, int count, const char *name,
			     int n);
/*
 * May a handler send this header? 0; or -1 with errno EINVAL for a name
 * that is not a token or a value with CR, LF or NUL, and EPERM for the
 * headers the library writes itself (Content-Length, Transfer-Encoding,
 * Date, Connection other than "close").
 */
int http_fields_check_response(const char *name, const char *value);

/* ---- text into a fixed buffer, cut at its end (heads, log lines) ---- */

struct http_out {
	char *p;
	size_t len, cap;
};

static inline void http_out_put(struct http_out *o, const char *s, size_t n)
{
	/* Two copies: a literal's length stays a constant, so its copy is inlined. */
	if (n <= o->cap - o->len) {
		memcpy(o->p + o->len, s, n);
		o->len += n;
		return;
	}
	n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static inline void http_out_str(struct http_out *o, const char *s)
{
	http_out_put(o, s, strlen(s));
}

static inline void http_out_num(struct http_out *o, unsigned long long v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	http_out_put(o, tmp + i, sizeof(tmp) - i);
}

#define HTTP_OUT_LIT(o, s) http_out_put((o), (s), sizeof(s) - 1)

/* ---- http_engine.c ---- */

/* The engine's keys of an `http` settings block. */
struct http_conf {
	double header_timeout, keepalive_timeout;
	long long max_header_size, max_body_size;
	double body_timeout;		/* the body's time, from its first wait, */
	long long body_min_rate;	/* plus 1 s per this many bytes received */
	/* As written in the configuration (NULL or "": none), relative to access_log_dir. */
	const char *access_log;
	const char *access_log_dir;
};

/* Room for the headers a handler adds to one response, beyond max_header_size. */
#define HTTP_RESPONSE_FIELDS 8192
/* A JSON body formatted up to this size needs no allocation. */
#define HTTP_JSON_INLINE 16384
/* Header lines of a request a handler can look up. */
#define HTTP_MAX_FIELDS 128

struct http_engine {
	struct http_conf conf;
	char *log_path;		/* access_log resolved; NULL: none */
	int logfd;			/* -1: no access log */
	size_t max_header;
	char *in;			/* request bytes: max_header */
	char *head;			/* the response head being sent */
	size_t head_cap;
	char *fields_out;		/* headers the handler added */
	size_t fields_out_cap;
	char *json;			/* pf_http_json's body: HTTP_JSON_INLINE */
	char *strings;			/* request strings, NUL-terminated */
	size_t strings_cap;
	char *path;			/* "/" + the normalised path */
	size_t path_cap;
	char *logline;
	size_t logline_cap;
	struct http_field *fields;	/* HTTP_MAX_FIELDS */
	void *arena;			/* one private mapping holds the buffers */
	size_t arena_len;
	time_t date_now;		/* the second the two dates show */
	char date[HTTP_DATE_LEN + 1];
	char clf_date[HTTP_CLF_DATE_LEN + 1];
};

/* How a request's body is being read. */
enum http_body_state { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED, HTTP_BODY_DONE };

/* One request on one connection; the handler's struct pf_http. */
struct pf_http {
	struct pf_conn *conn;
	struct http_engine *eng;
	struct http_request req;
	size_t off, len;		/* unparsed input: eng->in[off..len) */
	size_t head_off;		/* where this request's head starts in eng->in */
	int64_t started_ns;		/* the request's head began arriving (metrics) */
	int64_t head_ns;		/* the head was in: "now" for the handler's clock */

	/* The request, as the handler sees it. */
	int path_status;		/* 0, or the 400/414 the path earns */
	size_t path_len;		/* of eng->path, trailing slash included */
	const char *path_info;		/* the path below the mount point */
	int strings_ready, fields_count;	/* -1: not indexed yet */
	const char *method, *target, *query;

	/* The body. */
	enum http_body_state body;
	long long body_left;		/* Content-Length bytes not read yet */
	struct http_chunked chunked;
	int body_status;		/* 400, 408 or 413 once reading failed */
	double body_deadline;		/* 0 until the body is first waited for */
	int continue_sent;		/* "100 Continue" went out */

	/* The response. */
	int status;
	size_t fields_out_len;
	int started;			/* the head is sent */
	int streaming;			/* chunked (1.1) or close-delimited (1.0) */
	int head_only;			/* HEAD: no body bytes go out */
	int keep_alive;
	int failed;			/* a write failed: the connection is lost */
	unsigned long long body_bytes;	/* for the access log */
};

/* Read and check the engine's keys; FILE:LINE errors through s. -1 when bad. */
int http_engine_read_conf(const struct pf_settings *s, struct http_conf *c);
int http_engine_check(const struct pf_settings *s);
/* In a worker: buffers and the access log. NULL when it cannot. */
struct http_engine *http_engine_create(const struct http_conf *c);
void http_engine_destroy(struct http_engine *e);
void http_engine_reopen(struct http_engine *e);
/* http_date.c: the Date header and the log's timestamp, formatted once a second. */
void http_date_update(struct http_engine *e);

/* Called once per request with its routing done by the caller. Non-zero: failed. */
typedef int (*http_engine_route)(struct pf_http *h, void *arg);
/* Serve one connection, request after request, until it should close. */
void http_engine_serve(struct http_engine *e, struct pf_conn *conn, http_engine_route route,
		       void *arg);

/* ---- http_request.c ---- */

/* Prepare h for the request the parser just accepted. */
void http_request_begin(struct pf_http *h);
/* Throw away what the handler left of the body. 0, or -1: close the connection. */
int http_request_drain(struct pf_http *h);
/* Could what is left of the body be drained (so the connection may live on)? */
int http_request_may_drain(struct pf_http *h);

/* ---- http_response.c ---- */

const char *http_response_reason(int status);
/*
 * A small HTML page for status, with any headers already added (Allow,
 * Location). 0, or -1 when the connection is lost.
 */
int http_response_error(struct pf_http *h, int status);
/*
 * For the library's own handlers: append header lines without the checks
 * of pf_http_add_header. Take the buffer, write "Name: value\r\n" lines
 * into it (what does not fit is cut), then give it back.
 */
struct http_out http_response_fields(struct pf_http *h);
void http_response_fields_done(struct pf_http *h, const struct http_out *o);
/* After the handler: end a stream; 0, or -1 when the connection is lost. */
int http_response_finish(struct pf_http *h);
/*
 * A 200 whose header lines after Date, through Content-Length (len), were
 * built once by the caller (a cached file's): no formatting per request,
 * the head and body leave in one sendmsg. 0, or -1 when the connection is lost.
 */
int http_response_send_built(struct pf_http *h, const char *fields, size_t fields_len,
			     const void *body, size_t len);

/* ---- http_app.c: a service's HTTP handler in a worker ---- */

/* In the master: the `http` block of a service whose handler is an HTTP app. */
int http_app_check(const struct pf_settings *s);
/* In a worker, before the handler's init: the engine (and files beside a mounted app). */
int http_app_init(struct pf_worker *w, const struct pf_settings *http_block);
/* Serve one accepted connection. */
void http_app_serve(struct pf_worker *w, struct pf_conn *conn);
void http_app_reopen(struct pf_worker *w);
void http_app_fini(struct pf_worker *w);

/* ---- handlers/http.c: static files, as the engine's first user ---- */

/* The static keys (root, index) of an http block; root required or not. */
int http_static_check(const struct pf_settings *s, int root_required);

#endif /* PF_HTTP_SHARED_H */
