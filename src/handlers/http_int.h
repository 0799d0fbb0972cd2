/*
 * http_int.h - what the files of the built-in http handler share: the
 * settings, the per-worker state, the connection, and the calls between
 *
 *   http.c       settings, init, the connection loop, errors, the access log
 *   http_head.c  building a response head in a fixed buffer
 *   http_file.c  serving a file: the open-file cache, conditional requests,
 *                Range, precompressed .gz files, sendfile
 */
#ifndef PF_HTTP_INT_H
#define PF_HTTP_INT_H

#include "internal.h"

#include "handlers/http_parse.h"
#include "handlers/http_static.h"

#include <limits.h>
#include <sys/uio.h>
#include <time.h>

/* Files up to this size are read and sent with the head in one writev. */
#define HTTP_SMALL_FILE (32 * 1024)
/* A request body up to this size is read and discarded; larger ones get 413. */
#define HTTP_MAX_BODY (1024 * 1024)
/*
 * Requests served on one connection before it is closed (as nginx's
 * keepalive_requests). Queued clients do not wait for it: an idle
 * kept-alive connection yields as soon as one queues with no free worker
 * (pf_conn_read_idle), and a busy one checks every 16 requests.
 */
#define HTTP_KEEPALIVE_REQUESTS 1000
/* After an error that closes the connection, how long to drain the client. */
#define HTTP_LINGER_SECONDS 2.0
#define HTTP_LINGER_BYTES (1024 * 1024)

/* The settings block, as check and init both read it. */
struct http_conf {
	char root[PATH_MAX];
	const char *index;
	char access_log[PATH_MAX];
	double header_timeout, keepalive_timeout;
	long long max_header_size;
	int gzip_static;
	long long cache_size, cache_files;
	double cache_valid;
};

struct http_state {
	struct http_conf conf;
	int rootfd;
	int logfd;		/* -1: no access log */
	size_t max_header;
	char *in;		/* request bytes: max_header */
	char *head;		/* response head */
	size_t head_cap;
	char *body;		/* small file bodies: HTTP_SMALL_FILE */
	char *logline;
	size_t logline_cap;
	char *path;		/* the resolved path, relative to root */
	char *key;		/* the open-file cache's key: path_cap */
	size_t path_cap;
	void *arena;		/* one private mapping holds all the buffers above */
	size_t arena_len;
	time_t date_now;	/* the second the two dates below show */
	char date[HTTP_DATE_LEN + 1];
	char clf_date[HTTP_CLF_DATE_LEN + 1];
	struct http_cache cache;	/* the open-file cache (http_file.c) */
};

/* One connection: the buffer window and what the current response was. */
struct http_conn {
	struct pf_conn *conn;
	struct http_state *st;
	size_t off, len;	/* unparsed bytes: st->in[off..len) */
	int status;		/* of the response being sent, for the log */
	unsigned long long body_bytes;
	int64_t started_ns;	/* of the request in hand: its head began arriving */
};

/* A response head being built in a fixed buffer; what does not fit is cut. */
struct http_head {
	char *p;
	size_t len, cap;
};

/* ---- http_head.c ---- */

void http_head_put(struct http_head *h, const char *s, size_t n);
#define HTTP_PUT_LIT(h, s) http_head_put((h), (s), sizeof(s) - 1)
void http_head_put_str(struct http_head *h, const char *s);
void http_head_put_num(struct http_head *h, unsigned long long v);
const char *http_head_reason(int status);

/* ---- http.c ---- */

/* Refresh st->date and st->clf_date when the second has changed. */
void http_update_dates(struct http_state *st);
/* Start a head in st->head: status line, Server, Date; remembers the status. */
void http_begin_head(struct http_conn *hc, struct http_head *h, int status);
/* Connection and the blank line. */
void http_end_head(struct http_head *h, int keep_alive);
/* Write it all; 0, or -1 when the connection is lost. */
int http_send_iov(struct http_conn *hc, struct iovec *iov, int n);
/*
 * An error (or redirect) with a small HTML body; HEAD gets the head alone.
 * For 301, `target` is the request target, and st->path holds its
 * normalised path: the Location is that path with a slash added.
 */
int http_send_error(struct http_conn *hc, int status, int head_only, int keep_alive,
		    const struct http_str *target);

/* ---- http_file.c ---- */

/* GET or HEAD of a file: 200, 206, 304, 416, or an error. -1 when the connection is lost. */
int http_file_serve(struct http_conn *hc, const struct http_request *req, int keep_alive);
/* The open-file cache of a worker: set up from the settings, and freed. */
void http_file_cache_init(struct http_state *st);
void http_file_cache_fini(struct http_state *st);

#endif /* PF_HTTP_INT_H */
