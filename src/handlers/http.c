/*
 * http.c - the built-in `http` handler: HTTP/1.1 static files under `root`.
 *
 * GET and HEAD, keep-alive and pipelining, and a small HTML body for every
 * error. The request head is parsed by http_parse.c; a file is answered by
 * http_file.c (the open-file cache, conditional requests, Range, gzip_static,
 * sendfile); this file does the settings, the connection loop, deadlines,
 * errors and the access log.
 *
 * Each worker owns one input buffer of max_header_size bytes, one for
 * response heads and one for small bodies; a cache hit allocates nothing.
 *
 * Entry point: handler_http (check, init, handle, fini, reopen).
 */
#include "internal.h"

#include "handlers/http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- settings ---- */

static int read_conf(const struct pf_settings *s, struct http_conf *c)
{
	int bad = 0;

	bad |= pf_settings_path(s, "root", NULL, c->root, sizeof(c->root)) < 0;
	bad |= pf_settings_string(s, "index", "index.html", &c->index) < 0;
	bad |= pf_settings_path(s, "access_log", "", c->access_log, sizeof(c->access_log)) < 0;
	bad |= pf_settings_double(s, "header_timeout", 10.0, 0.001, 86400.0,
				  &c->header_timeout) < 0;
	bad |= pf_settings_double(s, "keepalive_timeout", 5.0, 0.0, 86400.0,
				  &c->keepalive_timeout) < 0;
	bad |= pf_settings_int(s, "max_header_size", 8192, 256, 1024 * 1024,
			       &c->max_header_size) < 0;
	bad |= pf_settings_bool(s, "gzip_static", 0, &c->gzip_static) < 0;
	bad |= pf_settings_int(s, "cache_size", 1024 * 1024, 0, 1024LL * 1024 * 1024,
			       &c->cache_size) < 0;
	bad |= pf_settings_int(s, "cache_files", 256, 0, 65536, &c->cache_files) < 0;
	bad |= pf_settings_double(s, "cache_valid", 1.0, 0.0, 86400.0, &c->cache_valid) < 0;
	if (!c->index)
		c->index = "";
	return bad ? -1 : 0;
}

/* Runs in the master: every problem becomes a FILE:LINE error for -t. */
static int http_check(const struct pf_settings *s)
{
	struct http_conf c;
	struct stat sb;
	int bad = read_conf(s, &c) < 0;

	if (c.root[0] == '\0') {
		pf_settings_error(s, "root", "missing required key 'root' in the http handler's "
				  "settings");
		bad = 1;
	} else if (stat(c.root, &sb) < 0) {
		pf_settings_error(s, "root", "'root': '%s': %s", c.root, strerror(errno));
		bad = 1;
	} else if (!S_ISDIR(sb.st_mode)) {
		pf_settings_error(s, "root", "'root': '%s' is not a directory", c.root);
		bad = 1;
	}
	if (strchr(c.index, '/') || strcmp(c.index, ".") == 0 || strcmp(c.index, "..") == 0) {
		pf_settings_error(s, "index", "'index' must be a file name, not '%s'", c.index);
		bad = 1;
	}
	if (c.access_log[0]) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", c.access_log);
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

static void http_fini(struct pf_worker *w, void *arg)
{
	struct http_state *st = arg;
	(void)w;
	if (!st)
		return;
	http_file_cache_fini(st);
	if (st->rootfd >= 0)
		close(st->rootfd);
	if (st->logfd >= 0)
		close(st->logfd);
	if (st->arena)
		munmap(st->arena, st->arena_len);
	free(st);
}

/* Round n up to a multiple of 64 bytes. */
static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* Runs in each worker: the root directory, the access log, the buffers. */
static int http_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	struct http_state *st = calloc(1, sizeof(*st));
	if (!st) {
		pf_log(PF_LOG_ERROR, "http: out of memory");
		return -1;
	}
	st->rootfd = st->logfd = -1;
	if (read_conf(s, &st->conf) < 0 || st->conf.root[0] == '\0') {
		pf_log(PF_LOG_ERROR, "http: bad settings");
		goto fail;
	}
	st->rootfd = open(st->conf.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->rootfd < 0) {
		pf_log(PF_LOG_ERROR, "http: open root %s: %s", st->conf.root, strerror(errno));
		goto fail;
	}
	if (st->conf.access_log[0] && (st->logfd = open_log(st->conf.access_log)) < 0)
		goto fail;
	st->max_header = (size_t)st->conf.max_header_size;
	/* A head may carry a Location of the request target, percent-encoded. */
	st->head_cap = 3 * st->max_header + 1024;
	/* A request line escaped for the log takes at most four bytes a byte. */
	st->logline_cap = 4 * st->max_header + 512;
	/* Room for "/index", then ".gz" and the cache key's kind byte. */
	st->path_cap = st->max_header + strlen(st->conf.index) + 8;
	/*
	 * The buffers live in a fresh private mapping rather than on the heap
	 * the worker shares copy-on-write with the master: a page costs memory
	 * only once a request writes to it, so an idle pool of many workers
	 * stays small.
	 */
	size_t in_len = align64(st->max_header), head_len = align64(st->head_cap);
	size_t path_len = align64(st->path_cap), log_len = align64(st->logline_cap);
	st->arena_len = in_len + head_len + 2 * path_len + log_len + HTTP_SMALL_FILE;
	st->arena = mmap(NULL, st->arena_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	if (st->arena == MAP_FAILED) {
		st->arena = NULL;
		pf_log(PF_LOG_ERROR, "http: out of memory");
		goto fail;
	}
	st->in = st->arena;
	st->head = st->in + in_len;
	st->path = st->head + head_len;
	st->key = st->path + path_len;
	st->logline = st->key + path_len;
	st->body = st->logline + log_len;
	http_file_cache_init(st);
	*state = st;
	return 0;
fail:
	http_fini(w, st);
	return -1;
}

/* SIGUSR1: reopen the access log under its name (logrotate moved the old). */
static void http_reopen(struct pf_worker *w, void *arg)
{
	struct http_state *st = arg;
	(void)w;
	if (!st || st->logfd < 0)
		return;
	int fd = open_log(st->conf.access_log);
	if (fd < 0)
		return;
	if (dup2(fd, st->logfd) < 0)
		pf_log(PF_LOG_ERROR, "http: reopen access log %s: %s", st->conf.access_log,
		       strerror(errno));
	close(fd);
}

/* ---- response heads ---- */

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The Date header and the log's timestamp, formatted once a second. */
void http_update_dates(struct http_state *st)
{
	time_t t = time(NULL);
	if (t != st->date_now) {
		st->date_now = t;
		http_parse_format_date(t, st->date);
		http_parse_format_clf_date(t, st->clf_date);
	}
}

/* Status line, Server and Date. */
void http_begin_head(struct http_conn *hc, struct http_head *h, int status)
{
	struct http_state *st = hc->st;
	h->p = st->head;
	h->len = 0;
	h->cap = st->head_cap;
	hc->status = status;
	http_update_dates(st);
	HTTP_PUT_LIT(h, "HTTP/1.1 ");
	http_head_put_num(h, (unsigned)status);
	HTTP_PUT_LIT(h, " ");
	http_head_put_str(h, http_head_reason(status));
	HTTP_PUT_LIT(h, "\r\nServer: preforkd\r\nDate: ");
	http_head_put(h, st->date, HTTP_DATE_LEN);
	HTTP_PUT_LIT(h, "\r\n");
}

void http_end_head(struct http_head *h, int keep_alive)
{
	if (keep_alive)
		HTTP_PUT_LIT(h, "Connection: keep-alive\r\n\r\n");
	else
		HTTP_PUT_LIT(h, "Connection: close\r\n\r\n");
}

int http_send_iov(struct http_conn *hc, struct iovec *iov, int n)
{
	if (pf_conn_writev(hc->conn, iov, n) < 0) {
		pf_log(PF_LOG_DEBUG, "http: write to %s: %s", pf_conn_peer(hc->conn),
		       strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * For 301, `target` is the request target: the Location is the normalised
 * path in st->path with a slash added, and the target's query
 * (http_path_location), never the raw target.
 */
int http_send_error(struct http_conn *hc, int status, int head_only, int keep_alive,
		    const struct http_str *target)
{
	char body[256];
	struct http_head h;
	int n = snprintf(body, sizeof(body),
			 "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
			 "<center><h1>%d %s</h1></center>\r\n<hr><center>preforkd</center>\r\n"
			 "</body>\r\n</html>\r\n",
			 status, http_head_reason(status), status, http_head_reason(status));
	size_t blen = n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0;

	http_begin_head(hc, &h, status);
	HTTP_PUT_LIT(&h, "Content-Type: text/html\r\nContent-Length: ");
	http_head_put_num(&h, blen);
	HTTP_PUT_LIT(&h, "\r\n");
	if (status == 405)
		HTTP_PUT_LIT(&h, "Allow: GET, HEAD\r\n");
	if (target) {
		HTTP_PUT_LIT(&h, "Location: ");
		h.len += http_path_location(hc->st->path, target->ptr, target->len,
					    h.p + h.len, h.cap - h.len);
		HTTP_PUT_LIT(&h, "\r\n");
	}
	http_end_head(&h, keep_alive);
	struct iovec iov[2] = {
		{ .iov_base = h.p, .iov_len = h.len },
		{ .iov_base = body, .iov_len = blen },
	};
	hc->body_bytes = head_only ? 0 : blen;
	return http_send_iov(hc, iov, head_only ? 1 : 2);
}

/* ---- the access log ---- */

static void log_escaped(struct http_head *h, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			http_head_put(h, e, 4);
		} else {
			http_head_put(h, (const char *)&c, 1);
		}
	}
}

/*
 * One Common Log Format line: HOST - - [DATE] "REQUEST" STATUS BYTES, and
 * over TLS the protocol after it ("... 200 6 TLSv1.3").
 */
static void access_log(struct http_conn *hc, const struct http_request *req)
{
	struct http_state *st = hc->st;
	/* Every answered request passes here: count it and its duration (metrics). */
	conn_request_done(hc->conn, hc->started_ns);
	if (st->logfd < 0)
		return;
	struct http_head h = { st->logline, 0, st->logline_cap };
	http_update_dates(st);
	http_head_put_str(&h, pf_conn_peer_host(hc->conn));
	HTTP_PUT_LIT(&h, " - - ");
	http_head_put(&h, st->clf_date, HTTP_CLF_DATE_LEN);
	HTTP_PUT_LIT(&h, " \"");
	if (req && req->request_line.ptr)
		log_escaped(&h, req->request_line.ptr, req->request_line.len);
	else
		HTTP_PUT_LIT(&h, "-");
	HTTP_PUT_LIT(&h, "\" ");
	http_head_put_num(&h, (unsigned)hc->status);
	HTTP_PUT_LIT(&h, " ");
	http_head_put_num(&h, hc->body_bytes);
	const struct pf_tls_info *tls = pf_conn_tls(hc->conn);
	if (tls) {
		HTTP_PUT_LIT(&h, " ");
		http_head_put_str(&h, tls->protocol);
	}
	HTTP_PUT_LIT(&h, "\n");
	/* One write with O_APPEND: lines of concurrent workers never interleave. */
	if (write(st->logfd, h.p, h.len) < 0)
		pf_log(PF_LOG_WARN, "http: write access log %s: %s", st->conf.access_log,
		       strerror(errno));
}

/* ---- the connection ---- */

/*
 * Before closing after an error, stop writing and read what the client is
 * still sending for a moment: closing with unread data makes the kernel
 * send a reset, which can destroy the response before the client reads it.
 */
static void linger_close(struct http_conn *hc)
{
	struct http_state *st = hc->st;
	double deadline = now_mono() + HTTP_LINGER_SECONDS;
	size_t total = 0;

	shutdown(pf_conn_fd(hc->conn), SHUT_WR);
	while (total < HTTP_LINGER_BYTES) {
		double left = deadline - now_mono();
		if (left <= 0.001)
			break;
		ssize_t n = pf_conn_read_timeout(hc->conn, st->in, st->max_header, left);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

/*
 * Read and throw away a request body of `length` bytes, part of which may
 * already be in the buffer. Returns 0, or -1 when the connection is lost.
 */
static int discard_body(struct http_conn *hc, long long length)
{
	struct http_state *st = hc->st;
	size_t avail = hc->len - hc->off;
	if ((unsigned long long)length <= avail) {
		hc->off += (size_t)length;
		return 0;
	}
	length -= (long long)avail;
	hc->off = hc->len = 0;
	while (length > 0) {
		ssize_t n = pf_conn_read(hc->conn, st->in, st->max_header);
		if (n <= 0)
			return -1;
		if (n > length) {
			/* The next request follows the body. */
			hc->off = (size_t)length;
			hc->len = (size_t)n;
			return 0;
		}
		length -= n;
	}
	return 0;
}

/*
 * Read until a whole request head is in the buffer. `first` is the
 * connection's first request, whose header_timeout runs from accept.
 * Returns HTTP_PARSE_DONE or HTTP_PARSE_ERROR (req->status, 408 on
 * timeout), or HTTP_PARSE_INCOMPLETE when the connection should close
 * without an answer (idle timeout, client gone).
 */
static enum http_parse_status read_head(struct http_conn *hc, struct http_request *req,
					int first, double accepted)
{
	struct http_state *st = hc->st;
	double deadline;

	if (hc->off == hc->len) {
		hc->off = hc->len = 0;
		/* Between requests keepalive_timeout applies, and silence is no error. */
		double wait = first ? accepted + st->conf.header_timeout - now_mono() :
				      st->conf.keepalive_timeout;
		if (wait < 0.001)
			wait = 0.001;
		/* An idle kept-alive connection yields to clients queued with no free worker. */
		ssize_t n = first ? pf_conn_read_timeout(hc->conn, st->in, st->max_header, wait)
				  : pf_conn_read_idle(hc->conn, st->in, st->max_header, wait);
		if (n < 0 && errno == ETIMEDOUT && first) {
			req->status = 408;
			return HTTP_PARSE_ERROR;
		}
		if (n <= 0)
			return HTTP_PARSE_INCOMPLETE;
		hc->len = (size_t)n;
	}
	deadline = first ? accepted + st->conf.header_timeout :
			   now_mono() + st->conf.header_timeout;
	http_parse_init(req, st->max_header);
	for (;;) {
		enum http_parse_status r = http_parse_request(req, st->in + hc->off,
							      hc->len - hc->off);
		if (r != HTTP_PARSE_INCOMPLETE)
			return r;
		if (hc->off > 0) {
			/* Make room: the parser starts again on the moved bytes. */
			memmove(st->in, st->in + hc->off, hc->len - hc->off);
			hc->len -= hc->off;
			hc->off = 0;
			http_parse_init(req, st->max_header);
			continue;
		}
		double left = deadline - now_mono();
		ssize_t n = -1;
		if (left >= 0.001)
			n = pf_conn_read_timeout(hc->conn, st->in + hc->len,
						 st->max_header - hc->len, left);
		else
			errno = ETIMEDOUT;
		if (n < 0 && errno == ETIMEDOUT) {
			req->status = 408;
			return HTTP_PARSE_ERROR;
		}
		if (n <= 0)
			return HTTP_PARSE_INCOMPLETE;
		hc->len += (size_t)n;
	}
}

static int http_handle(struct pf_conn *conn, void *arg)
{
	struct http_state *st = arg;
	struct http_conn hc = { .conn = conn, .st = st };
	struct pf_worker *w = pf_conn_worker(conn);
	double accepted = now_mono();
	struct http_request req;

	for (int served = 0;; served++) {
		int first = served == 0;
		/* A kept-alive request starts when its head begins to arrive. */
		hc.started_ns = first || hc.off < hc.len ? util_now_ns() : 0;
		enum http_parse_status r = read_head(&hc, &req, first, accepted);
		if (!hc.started_ns)
			hc.started_ns = util_now_ns();
		if (r == HTTP_PARSE_INCOMPLETE)
			return 0;
		if (r == HTTP_PARSE_ERROR) {
			int timed_out = req.status == 408;
			if (timed_out)
				req.request_line.ptr = NULL;
			http_send_error(&hc, req.status, 0, 0, NULL);
			access_log(&hc, &req);
			if (!timed_out)
				linger_close(&hc);
			return 0;
		}
		hc.off += req.consumed;

		/*
		 * A worker told to stop answers the request in hand and closes:
		 * the client learns it from Connection: close, not from an error.
		 */
		int keep_alive = req.keep_alive && st->conf.keepalive_timeout > 0 &&
				 served + 1 < HTTP_KEEPALIVE_REQUESTS &&
				 !(w && pf_worker_stopping(w));
		/* A client that never pauses still yields, now and then, to a queue. */
		if (keep_alive && (served & 15) == 15 && w && pf_worker_pending(w))
			keep_alive = 0;
		int head_only = req.method == HTTP_METHOD_HEAD;

		if (req.content_length > HTTP_MAX_BODY) {
			http_send_error(&hc, 413, head_only, 0, NULL);
			access_log(&hc, &req);
			linger_close(&hc);
			return 0;
		}
		if (req.content_length > 0 && discard_body(&hc, req.content_length) < 0)
			return 0;
		/* A chunked body cannot be skipped cheaply: answer, then close. */
		if (req.chunked)
			keep_alive = 0;

		int sent;
		if (req.method == HTTP_METHOD_OTHER)
			sent = http_send_error(&hc, 405, 0, keep_alive, NULL);
		else
			sent = http_file_serve(&hc, &req, keep_alive);
		access_log(&hc, &req);
		if (sent < 0)
			return 0;
		if (hc.status >= 500)
			keep_alive = 0;
		if (!keep_alive) {
			if (hc.off < hc.len || req.chunked)
				linger_close(&hc);
			return 0;
		}
	}
}

const struct pf_handler handler_http = {
	.abi = PF_ABI_VERSION,
	.name = "http",
	.check = http_check,
	.init = http_init,
	.handle = http_handle,
	.fini = http_fini,
	.reopen = http_reopen,
};
