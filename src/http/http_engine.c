/*
 * http_engine.c - the HTTP/1.1 connection loop every HTTP handler runs on:
 * read a request head within header_timeout, answer a bad one with its 4xx
 * and close, hand a good one to the route (static files or an app), then
 * settle its body and decide whether the connection lives on: keep-alive
 * and pipelining, keepalive_timeout between requests, idle connections
 * yielding to queued clients, a graceful stop answering the request in hand
 * with Connection: close. Also the engine's settings, buffers and access log.
 *
 * Entry points: http_engine_read_conf, http_engine_check, http_engine_create,
 * http_engine_destroy, http_engine_reopen, http_engine_serve.
 */
#include "http/http_shared.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- settings ---- */

int http_engine_read_conf(const struct pf_settings *s, struct http_conf *c)
{
	int bad = 0;
	/* Resolved when opened: no path buffer on a starting worker's stack. */
	bad |= pf_settings_string(s, "access_log", "", &c->access_log) < 0;
	c->access_log_dir = s->dir;
	bad |= pf_settings_double(s, "header_timeout", 10.0, 0.001, 86400.0,
				  &c->header_timeout) < 0;
	bad |= pf_settings_double(s, "keepalive_timeout", 5.0, 0.0, 86400.0,
				  &c->keepalive_timeout) < 0;
	bad |= pf_settings_int(s, "max_header_size", 8192, 256, 1024 * 1024,
			       &c->max_header_size) < 0;
	bad |= pf_settings_int(s, "max_body_size", 1024 * 1024, 0, 1LL << 40,
			       &c->max_body_size) < 0;
	/* As Apache's RequestReadTimeout body=10,MinRate=500. */
	bad |= pf_settings_double(s, "body_timeout", 10.0, 0.001, 86400.0, &c->body_timeout) < 0;
	bad |= pf_settings_int(s, "body_min_rate", 500, 0, 1LL << 30, &c->body_min_rate) < 0;
	return bad ? -1 : 0;
}

/* Runs in the master: every problem becomes a FILE:LINE error for -t. */
int http_engine_check(const struct pf_settings *s)
{
	struct http_conf c;
	struct stat sb;
	char dir[PATH_MAX];
	int bad = http_engine_read_conf(s, &c) < 0;
	if (c.access_log && c.access_log[0]) {
		/* Resolved as the workers will, its length checked here once for all of them. */
		int n = util_join_path(dir, sizeof(dir), c.access_log_dir, c.access_log);
		if (n < 0 || (size_t)n >= sizeof(dir)) {
			pf_settings_error(s, "access_log", "'access_log' is too long");
			return 1;
		}
		char *slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			pf_settings_error(s, "access_log", "'access_log': directory '%s' does not "
					  "exist", dir);
			bad = 1;
		}
	}
	return bad;
}

static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		pf_log(PF_LOG_ERROR, "http: open access log %s: %s", path, strerror(errno));
	return fd;
}

/* Round n up to a multiple of 64 bytes. */
static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

struct http_engine *http_engine_create(const struct http_conf *c)
{
	struct http_engine *e = arena_worker_calloc(sizeof(*e));
	if (!e) {
		pf_log(PF_LOG_ERROR, "http: out of memory");
		return NULL;
	}
	/* Field by field: the path is copied as far as it goes (an idle worker writes no more). */
	e->conf.header_timeout = c->header_timeout;
	e->conf.keepalive_timeout = c->keepalive_timeout;
	e->conf.max_header_size = c->max_header_size;
	e->conf.max_body_size = c->max_body_size;
	e->conf.body_timeout = c->body_timeout;
	e->conf.body_min_rate = c->body_min_rate;
	e->logfd = -1;
	if (c->access_log && c->access_log[0]) {
		size_t n = (c->access_log_dir ? strlen(c->access_log_dir) : 0) + strlen(c->access_log) + 2;
		e->log_path = arena_worker_calloc(n);
		if (e->log_path)
			util_join_path(e->log_path, n, c->access_log_dir, c->access_log);
		if (!e->log_path || (e->logfd = open_log(e->log_path)) < 0) {
			arena_worker_free(e->log_path);
			arena_worker_free(e);
			return NULL;
		}
	}
	e->max_header = (size_t)c->max_header_size;
	/* A head may carry a Location as long as the request target. */
	/* A Location may carry the request target percent-encoded: three bytes a byte. */
	e->fields_out_cap = 3 * e->max_header + HTTP_RESPONSE_FIELDS;
	e->head_cap = e->fields_out_cap + 1024;
	/* Method, target and request line copied, then every header line split. */
	e->strings_cap = 3 * e->max_header + 16;
	e->path_cap = e->max_header + 2;
	/* A request line escaped for the log takes at most four bytes a byte. */
	e->logline_cap = 4 * e->max_header + 512;
	/*
	 * The buffers live in the worker's own mapping (arena_worker_calloc)
	 * rather than on the heap the worker shares copy-on-write with the
	 * master: a page costs memory only once a request writes to it, so an
	 * idle pool of many workers stays small.
	 */
	size_t in_len = align64(e->max_header), head_len = align64(e->head_cap);
	size_t out_len = align64(e->fields_out_cap), str_len = align64(e->strings_cap);
	size_t path_len = align64(e->path_cap), log_len = align64(e->logline_cap);
	size_t fields_len = align64(HTTP_MAX_FIELDS * sizeof(struct http_field));
	e->arena_len = in_len + head_len + out_len + str_len + path_len + log_len + fields_len +
		       HTTP_JSON_INLINE;
	e->arena = arena_worker_calloc(e->arena_len);
	if (!e->arena) {
		pf_log(PF_LOG_ERROR, "http: out of memory");
		http_engine_destroy(e);
		return NULL;
	}
	e->fields = e->arena;
	e->in = (char *)e->arena + fields_len;
	e->head = e->in + in_len;
	e->fields_out = e->head + head_len;
	e->strings = e->fields_out + out_len;
	e->path = e->strings + str_len;
	e->logline = e->path + path_len;
	e->json = e->logline + log_len;
	return e;
}

void http_engine_destroy(struct http_engine *e)
{
	if (!e)
		return;
	if (e->logfd >= 0)
		close(e->logfd);
	arena_worker_free(e->arena);
	arena_worker_free(e->log_path);
	arena_worker_free(e);
}

/* SIGUSR1: reopen the access log under its name (logrotate moved the old). */
void http_engine_reopen(struct http_engine *e)
{
	if (!e || e->logfd < 0)
		return;
	int fd = open_log(e->log_path);
	if (fd < 0)
		return;
	if (dup2(fd, e->logfd) < 0)
		pf_log(PF_LOG_ERROR, "http: reopen access log %s: %s", e->log_path,
		       strerror(errno));
	close(fd);
}

/* ---- the access log ---- */

static int log_escaped(unsigned char c)
{
	return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

/* s with controls, non-ASCII, '"' and '\\' as \xHH; plain bytes copied a run at a time. */
static void put_escaped(struct http_out *l, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;
	while (i < len) {
		size_t r = i;
		while (r < len && !log_escaped((unsigned char)s[r]))
			r++;
		http_out_put(l, s + i, r - i);
		if (r == len)
			break;
		unsigned char c = (unsigned char)s[r];
		char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
		http_out_put(l, esc, 4);
		i = r + 1;
	}
}

/*
 * One Common Log Format line: HOST - - [DATE] "REQUEST" STATUS BYTES, and
 * over TLS the protocol after it ("... 200 6 TLSv1.3").
 */
static void access_log(struct pf_http *h)
{
	struct http_engine *e = h->eng;
	/* Every answered request passes here: count it and its duration (metrics). */
	conn_request_done(h->conn, h->started_ns);
	if (e->logfd < 0)
		return;
	struct http_out l = { e->logline, 0, e->logline_cap };
	http_date_update(e);
	http_out_str(&l, pf_conn_peer_host(h->conn));
	HTTP_OUT_LIT(&l, " - - ");
	http_out_put(&l, e->clf_date, HTTP_CLF_DATE_LEN);
	HTTP_OUT_LIT(&l, " \"");
	if (h->req.request_line.ptr)
		put_escaped(&l, h->req.request_line.ptr, h->req.request_line.len);
	else
		HTTP_OUT_LIT(&l, "-");
	HTTP_OUT_LIT(&l, "\" ");
	http_out_num(&l, (unsigned)h->status);
	HTTP_OUT_LIT(&l, " ");
	http_out_num(&l, h->body_bytes);
	/* Over TLS, the protocol after it ("... 200 6 TLSv1.3"). */
	const struct pf_tls_info *tls = pf_conn_tls(h->conn);
	if (tls) {
		HTTP_OUT_LIT(&l, " ");
		http_out_str(&l, tls->protocol);
	}
	HTTP_OUT_LIT(&l, "\n");
	/* One write with O_APPEND: lines of concurrent workers never interleave. */
	if (write(e->logfd, l.p, l.len) < 0)
		pf_log(PF_LOG_WARN, "http: write access log %s: %s", e->log_path,
		       strerror(errno));
}

/* ---- the connection ---- */

/*
 * Before closing after an error, stop writing and read what the client is
 * still sending for a moment: closing with unread data makes the kernel
 * send a reset, which can destroy the response before the client reads it.
 */
static void linger_close(struct pf_http *h)
{
	double deadline = util_now() + HTTP_LINGER_SECONDS;
	size_t total = 0;

	shutdown(pf_conn_fd(h->conn), SHUT_WR);
	while (total < HTTP_LINGER_BYTES) {
		double left = deadline - util_now();
		if (left <= 0.001)
			break;
		ssize_t n = pf_conn_read_timeout(h->conn, h->eng->in, h->eng->max_header, left);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

/*
 * Read until a whole request head is in the buffer. `first` is the
 * connection's first request, whose header_timeout runs from accept.
 * Returns HTTP_PARSE_DONE or HTTP_PARSE_ERROR (req->status, 408 on
 * timeout), or HTTP_PARSE_INCOMPLETE when the connection should close
 * without an answer (idle timeout, client gone).
 */
static enum http_parse_status read_head(struct pf_http *h, int first, double accepted)
{
	struct http_engine *e = h->eng;
	struct http_request *req = &h->req;
	double deadline;

	if (h->off == h->len) {
		h->off = h->len = 0;
		/* Between requests keepalive_timeout applies, and silence is no error. */
		double wait = first ? accepted + e->conf.header_timeout - util_now() :
				      e->conf.keepalive_timeout;
		if (wait < 0.001)
			wait = 0.001;
		/* An idle kept-alive connection yields to clients queued with no free worker. */
		ssize_t n = first ? pf_conn_read_timeout(h->conn, e->in, e->max_header, wait)
				  : pf_conn_read_idle(h->conn, e->in, e->max_header, wait);
		if (n < 0 && errno == ETIMEDOUT && first) {
			req->status = 408;
			return HTTP_PARSE_ERROR;
		}
		if (n <= 0)
			return HTTP_PARSE_INCOMPLETE;
		h->len = (size_t)n;
	}
	/* A kept-alive head's header_timeout runs from its first wait for more bytes. */
	deadline = first ? accepted + e->conf.header_timeout : 0;
	http_parse_init(req, e->max_header);
	for (;;) {
		enum http_parse_status r = http_parse_request(req, e->in + h->off, h->len - h->off);
		if (r != HTTP_PARSE_INCOMPLETE)
			return r;
		if (h->off > 0) {
			/* Make room: the parser starts again on the moved bytes. */
			memmove(e->in, e->in + h->off, h->len - h->off);
			h->len -= h->off;
			h->off = 0;
			http_parse_init(req, e->max_header);
			continue;
		}
		if (deadline == 0)
			deadline = util_now() + e->conf.header_timeout;
		double left = deadline - util_now();
		ssize_t n = -1;
		if (left >= 0.001)
			n = pf_conn_read_timeout(h->conn, e->in + h->len, e->max_header - h->len,
						 left);
		else
			errno = ETIMEDOUT;
		if (n < 0 && errno == ETIMEDOUT) {
			req->status = 408;
			return HTTP_PARSE_ERROR;
		}
		if (n <= 0)
			return HTTP_PARSE_INCOMPLETE;
		h->len += (size_t)n;
	}
}

/* Reset the per-request half of h; the connection's window stays. */
static void begin_request(struct pf_http *h)
{
	h->status = 0;
	h->fields_out_len = 0;
	h->started = h->streaming = h->failed = 0;
	h->body_bytes = 0;
	h->body_status = 0;
	h->body_deadline = 0;
	h->body = HTTP_BODY_DONE;
	h->continue_sent = 0;
}

void http_engine_serve(struct http_engine *e, struct pf_conn *conn, http_engine_route route,
		       void *arg)
{
	struct pf_http h = { .conn = conn, .eng = e };
	struct pf_worker *w = pf_conn_worker(conn);
	double accepted = util_now();

	/* Every wait but the idle one between requests is a request's: it gets the stop grace. */
	conn->in_request = 1;

	for (int served = 0;; served++) {
		int first = served == 0;
		begin_request(&h);
		/* A kept-alive request starts when its head begins to arrive. */
		h.started_ns = first || h.off < h.len ? util_now_ns() : 0;
		enum http_parse_status r = read_head(&h, first, accepted);
		/* The clock once the head is in: the request's start, or its handler's "now". */
		h.head_ns = util_now_ns();
		if (!h.started_ns)
			h.started_ns = h.head_ns;
		if (r == HTTP_PARSE_INCOMPLETE)
			return;
		if (r == HTTP_PARSE_ERROR) {
			int timed_out = h.req.status == 408;
			if (timed_out)
				h.req.request_line.ptr = NULL;
			h.keep_alive = 0;
			h.head_only = 0;
			http_response_error(&h, h.req.status);
			access_log(&h);
			if (!timed_out)
				linger_close(&h);
			return;
		}
		h.head_off = h.off;
		h.off += h.req.consumed;

		/*
		 * A worker told to stop answers the request in hand and closes:
		 * the client learns it from Connection: close, not from an error.
		 */
		h.keep_alive = h.req.keep_alive && e->conf.keepalive_timeout > 0 &&
			       served + 1 < HTTP_KEEPALIVE_REQUESTS && !(w && pf_worker_stopping(w));
		/* A client that never pauses still yields, now and then, to a queue. */
		if (h.keep_alive && (served & 15) == 15 && w && pf_worker_pending(w))
			h.keep_alive = 0;
		h.head_only = h.req.method == HTTP_METHOD_HEAD;
		http_request_begin(&h);

		if (h.req.content_length > e->conf.max_body_size) {
			h.keep_alive = 0;
			http_response_error(&h, 413);
			access_log(&h);
			linger_close(&h);
			return;
		}
		/* A path that cannot be normalised gets its 400 or 414 here, for every route. */
		if (h.path_status) {
			h.keep_alive = h.keep_alive && h.path_status < 500;
			http_response_error(&h, h.path_status);
		/* A route that failed gets a 500, or its response is cut off. */
		} else if (route(&h, arg) != 0 && !h.failed) {
			h.keep_alive = 0;
			h.fields_out_len = 0;	/* the handler's headers were for its own answer */
			if (h.started)
				h.failed = 1;
			else if (!h.body_status)
				http_response_error(&h, 500);	/* a body fault is answered below */
		}
		if (!h.failed && h.body_status && !h.started) {
			h.fields_out_len = 0;
			http_response_error(&h, h.body_status);
		}
		if (!h.failed && http_response_finish(&h) < 0)
			h.failed = 1;
		access_log(&h);
		if (h.failed)
			return;
		if (h.status >= 500 || h.body_status)
			h.keep_alive = 0;
		if (h.keep_alive && http_request_drain(&h) < 0)
			h.keep_alive = 0;
		if (!h.keep_alive) {
			if (h.off < h.len || h.body != HTTP_BODY_DONE)
				linger_close(&h);
			return;
		}
	}
}
