/*
 * http.c - the built-in `http` handler: HTTP/1.1 static files under `root`.
 *
 * GET and HEAD, keep-alive and pipelining, Content-Type by extension, an
 * index file for directories, Last-Modified/If-Modified-Since, and a small
 * HTML body for every error. The request head is parsed by http_parse.c and
 * the path resolved beneath the root by http_path.c; this file does the I/O:
 * deadlines, responses, the access log.
 *
 * The hot path allocates nothing: each worker owns one input buffer of
 * max_header_size bytes, one for response heads and one for small bodies.
 * A small file costs open, fstat, read, one writev, close; a large one is
 * sent with sendfile behind a corked head.
 *
 * Entry point: handler_http (check, init, handle, fini, reopen).
 */
#include "internal.h"

#include "handlers/http_parse.h"

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
	size_t path_cap;
	void *arena;		/* one private mapping holds all the buffers above */
	size_t arena_len;
	time_t date_now;	/* the second the two dates below show */
	char date[HTTP_DATE_LEN + 1];
	char clf_date[HTTP_CLF_DATE_LEN + 1];
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

struct head {
	char *p;
	size_t len, cap;
};

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
	st->path_cap = st->max_header + strlen(st->conf.index) + 2;
	/*
	 * The buffers live in a fresh private mapping rather than on the heap
	 * the worker shares copy-on-write with the master: a page costs memory
	 * only once a request writes to it, so an idle pool of many workers
	 * stays small.
	 */
	size_t in_len = align64(st->max_header), head_len = align64(st->head_cap);
	size_t path_len = align64(st->path_cap), log_len = align64(st->logline_cap);
	st->arena_len = in_len + head_len + path_len + log_len + HTTP_SMALL_FILE;
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
	st->logline = st->path + path_len;
	st->body = st->logline + log_len;
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
static void update_dates(struct http_state *st)
{
	time_t t = time(NULL);
	if (t != st->date_now) {
		st->date_now = t;
		http_parse_format_date(t, st->date);
		http_parse_format_clf_date(t, st->clf_date);
	}
}

static void put(struct head *h, const char *s, size_t n)
{
	if (n > h->cap - h->len)
		n = h->cap - h->len;
	memcpy(h->p + h->len, s, n);
	h->len += n;
}

#define PUT_LIT(h, s) put((h), (s), sizeof(s) - 1)

static void put_str(struct head *h, const char *s)
{
	put(h, s, strlen(s));
}

static void put_num(struct head *h, unsigned long long v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(h, tmp + i, sizeof(tmp) - i);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* Status line, Server and Date. */
static void begin_head(struct http_conn *hc, struct head *h, int status)
{
	struct http_state *st = hc->st;
	h->p = st->head;
	h->len = 0;
	h->cap = st->head_cap;
	hc->status = status;
	update_dates(st);
	PUT_LIT(h, "HTTP/1.1 ");
	put_num(h, (unsigned)status);
	PUT_LIT(h, " ");
	put_str(h, reason(status));
	PUT_LIT(h, "\r\nServer: preforkd\r\nDate: ");
	put(h, st->date, HTTP_DATE_LEN);
	PUT_LIT(h, "\r\n");
}

static void end_head(struct head *h, int keep_alive)
{
	if (keep_alive)
		PUT_LIT(h, "Connection: keep-alive\r\n\r\n");
	else
		PUT_LIT(h, "Connection: close\r\n\r\n");
}

static int send_iov(struct http_conn *hc, struct iovec *iov, int n)
{
	if (pf_conn_writev(hc->conn, iov, n) < 0) {
		pf_log(PF_LOG_DEBUG, "http: write to %s: %s", pf_conn_peer(hc->conn),
		       strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * An error (or redirect) with a small HTML body; HEAD gets the head alone.
 * For 301, `target` is the request target: the Location is the normalised
 * path in st->path with a slash added, and the target's query
 * (http_path_location), never the raw target.
 */
static int send_error(struct http_conn *hc, int status, int head_only, int keep_alive,
		      const struct http_str *target)
{
	char body[256];
	struct head h;
	int n = snprintf(body, sizeof(body),
			 "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
			 "<center><h1>%d %s</h1></center>\r\n<hr><center>preforkd</center>\r\n"
			 "</body>\r\n</html>\r\n",
			 status, reason(status), status, reason(status));
	size_t blen = n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0;

	begin_head(hc, &h, status);
	PUT_LIT(&h, "Content-Type: text/html\r\nContent-Length: ");
	put_num(&h, blen);
	PUT_LIT(&h, "\r\n");
	if (status == 405)
		PUT_LIT(&h, "Allow: GET, HEAD\r\n");
	if (target) {
		PUT_LIT(&h, "Location: ");
		h.len += http_path_location(hc->st->path, target->ptr, target->len,
					    h.p + h.len, h.cap - h.len);
		PUT_LIT(&h, "\r\n");
	}
	end_head(&h, keep_alive);
	struct iovec iov[2] = {
		{ .iov_base = h.p, .iov_len = h.len },
		{ .iov_base = body, .iov_len = blen },
	};
	hc->body_bytes = head_only ? 0 : blen;
	return send_iov(hc, iov, head_only ? 1 : 2);
}

/* ---- the access log ---- */

static void log_escaped(struct head *h, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			put(h, e, 4);
		} else {
			put(h, (const char *)&c, 1);
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
	struct head h = { st->logline, 0, st->logline_cap };
	update_dates(st);
	put_str(&h, pf_conn_peer_host(hc->conn));
	PUT_LIT(&h, " - - ");
	put(&h, st->clf_date, HTTP_CLF_DATE_LEN);
	PUT_LIT(&h, " \"");
	if (req && req->request_line.ptr)
		log_escaped(&h, req->request_line.ptr, req->request_line.len);
	else
		PUT_LIT(&h, "-");
	PUT_LIT(&h, "\" ");
	put_num(&h, (unsigned)hc->status);
	PUT_LIT(&h, " ");
	put_num(&h, hc->body_bytes);
	const struct pf_tls_info *tls = pf_conn_tls(hc->conn);
	if (tls) {
		PUT_LIT(&h, " ");
		put_str(&h, tls->protocol);
	}
	PUT_LIT(&h, "\n");
	/* One write with O_APPEND: lines of concurrent workers never interleave. */
	if (write(st->logfd, h.p, h.len) < 0)
		pf_log(PF_LOG_WARN, "http: write access log %s: %s", st->conf.access_log,
		       strerror(errno));
}

/* ---- files ---- */

/* Read a whole small file; returns the bytes read, or -1. */
static ssize_t read_small(int fd, char *buf, size_t size)
{
	size_t done = 0;
	while (done < size) {
		ssize_t n = pread(fd, buf + done, size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void set_cork(struct pf_conn *conn, int on)
{
	/* Fails harmlessly on unix sockets. */
	(void)setsockopt(pf_conn_fd(conn), IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

/*
 * Open what the target names: the file, or a directory's index file.
 * Returns the descriptor with *sb filled in, or -1 with *status set (for
 * 301, *status is 301 and the caller builds the Location).
 */
static int open_target(struct http_conn *hc, const struct http_request *req, struct stat *sb,
		       int *status, const char **name, size_t *name_len)
{
	struct http_state *st = hc->st;
	size_t idx = strlen(st->conf.index);
	int dir;

	/* Keep room to append "/index" to the path. */
	*status = http_path_normalize(req->target.ptr, req->target.len, st->path,
				      st->path_cap - idx - 1, &dir);
	if (*status)
		return -1;
	int fd = http_path_open(st->rootfd, st->path, status);
	if (fd < 0)
		return -1;
	if (fstat(fd, sb) < 0) {
		*status = 500;
		goto fail;
	}
	size_t plen = strlen(st->path);
	if (S_ISDIR(sb->st_mode)) {
		close(fd);
		if (!dir) {
			*status = 301;
			return -1;
		}
		if (idx == 0) {
			*status = 403;	/* no index, and no listings */
			return -1;
		}
		if (plen > 0)
			st->path[plen++] = '/';
		memcpy(st->path + plen, st->conf.index, idx + 1);
		plen += idx;
		fd = http_path_open(st->rootfd, st->path, status);
		if (fd < 0) {
			if (*status == 404)
				*status = 403;	/* a directory without its index */
			return -1;
		}
		if (fstat(fd, sb) < 0) {
			*status = 500;
			goto fail;
		}
	} else if (dir && S_ISREG(sb->st_mode)) {
		/* "/file.txt/" names a directory that is not there. */
		*status = 404;
		goto fail;
	}
	if (!S_ISREG(sb->st_mode)) {
		*status = 403;	/* devices, FIFOs, sockets */
		goto fail;
	}
	*name = st->path;
	*name_len = plen;
	return fd;
fail:
	close(fd);
	return -1;
}

/* GET or HEAD of a file: 200, 304, or an error. Returns -1 when the connection is lost. */
static int serve(struct http_conn *hc, const struct http_request *req, int keep_alive)
{
	struct http_state *st = hc->st;
	int head_only = req->method == HTTP_METHOD_HEAD;
	struct stat sb;
	const char *name = NULL;
	size_t name_len = 0;
	int status;

	int fd = open_target(hc, req, &sb, &status, &name, &name_len);
	if (fd < 0) {
		if (status == 301)
			return send_error(hc, 301, head_only, keep_alive, &req->target);
		if (status == 500)
			pf_log(PF_LOG_ERROR, "http: open %s/%s: %s", st->conf.root, st->path,
			       strerror(errno));
		return send_error(hc, status, head_only, keep_alive && status != 500, NULL);
	}

	char lastmod[HTTP_DATE_LEN + 1];
	struct head h;
	time_t ims;
	http_parse_format_date(sb.st_mtime, lastmod);
	update_dates(st);
	if (req->if_modified_since.len &&
	    http_parse_date(req->if_modified_since.ptr, req->if_modified_since.len, &ims) == 0 &&
	    sb.st_mtime <= ims && ims <= st->date_now) {
		close(fd);
		begin_head(hc, &h, 304);
		PUT_LIT(&h, "Last-Modified: ");
		put(&h, lastmod, HTTP_DATE_LEN);
		PUT_LIT(&h, "\r\n");
		end_head(&h, keep_alive);
		struct iovec iov = { .iov_base = h.p, .iov_len = h.len };
		hc->body_bytes = 0;
		return send_iov(hc, &iov, 1);
	}

	size_t size = (size_t)sb.st_size;
	ssize_t got = 0;
	if (!head_only && size <= HTTP_SMALL_FILE) {
		got = read_small(fd, st->body, size);
		if (got < 0) {
			pf_log(PF_LOG_ERROR, "http: read %s/%s: %s", st->conf.root, name,
			       strerror(errno));
			close(fd);
			return send_error(hc, 500, 0, 0, NULL);
		}
		size = (size_t)got;	/* the file may have shrunk since fstat */
	}
	begin_head(hc, &h, 200);
	PUT_LIT(&h, "Content-Type: ");
	put_str(&h, http_mime_type(name, name_len));
	PUT_LIT(&h, "\r\nContent-Length: ");
	put_num(&h, size);
	PUT_LIT(&h, "\r\nLast-Modified: ");
	put(&h, lastmod, HTTP_DATE_LEN);
	PUT_LIT(&h, "\r\n");
	end_head(&h, keep_alive);

	struct iovec iov[2] = {
		{ .iov_base = h.p, .iov_len = h.len },
		{ .iov_base = st->body, .iov_len = size },
	};
	int r;
	hc->body_bytes = head_only ? 0 : size;
	if (head_only || size <= HTTP_SMALL_FILE) {
		r = send_iov(hc, iov, head_only ? 1 : 2);
	} else {
		/* Corked, the head leaves in the first segment of the file. */
		set_cork(hc->conn, 1);
		r = send_iov(hc, iov, 1);
		if (r == 0 && pf_conn_sendfile(hc->conn, fd, 0, size) < 0) {
			pf_log(PF_LOG_DEBUG, "http: sendfile to %s: %s", pf_conn_peer(hc->conn),
			       strerror(errno));
			r = -1;
		}
		set_cork(hc->conn, 0);
	}
	close(fd);
	return r;
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
			send_error(&hc, req.status, 0, 0, NULL);
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
			send_error(&hc, 413, head_only, 0, NULL);
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
			sent = send_error(&hc, 405, 0, keep_alive, NULL);
		else
			sent = serve(&hc, &req, keep_alive);
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
