/*
 * http_request.c - the request side of struct pf_http: method, target,
 * path, query and headers as NUL-terminated strings (built on first use,
 * in the engine's buffers), and the body, read by Content-Length or the
 * chunked coding within max_body_size. Whatever of a body the handler
 * leaves is drained here afterwards, or the connection is marked to close,
 * so body bytes are never parsed as the next request.
 *
 * Entry points: http_request_begin, http_request_drain, and the request
 * calls of prefork.h (pf_http_method ... pf_http_read_body).
 */
#include "http/http_shared.h"

#include <errno.h>
#include <string.h>

/* A body left unread is drained up to this many bytes; past it the connection closes. */
#define HTTP_DRAIN_MAX (1024 * 1024)

void http_request_begin(struct pf_http *h)
{
	struct http_engine *e = h->eng;
	int dir = 0;

	h->strings_ready = 0;
	h->fields_count = -1;
	h->method = h->target = h->query = NULL;
	if (h->req.chunked) {
		h->body = HTTP_BODY_CHUNKED;
		http_chunked_init(&h->chunked, (unsigned long long)e->conf.max_body_size);
	} else if (h->req.content_length > 0) {
		h->body = HTTP_BODY_LENGTH;
		h->body_left = h->req.content_length;
	} else {
		h->body = HTTP_BODY_DONE;
	}
	/* "/" + the normalised path, with room for a trailing slash. */
	e->path[0] = '/';
	h->path_status = http_path_normalize(h->req.target.ptr, h->req.target.len, e->path + 1,
					     e->path_cap - 2, &dir);
	if (h->path_status) {
		e->path[1] = '\0';
		h->path_len = 1;
	} else {
		h->path_len = 1 + strlen(e->path + 1);
		if (dir && h->path_len > 1) {
			e->path[h->path_len++] = '/';
			e->path[h->path_len] = '\0';
		}
	}
	h->path_info = e->path;
}

/* Copy a parsed string, NUL-terminated, to *pos in the strings buffer. */
static const char *keep(struct pf_http *h, size_t *pos, struct http_str s)
{
	char *out = h->eng->strings + *pos;
	if (s.len)
		memcpy(out, s.ptr, s.len);
	out[s.len] = '\0';
	*pos += s.len + 1;
	return out;
}

/*
 * Make the request's strings and header index independent of the input
 * buffer, which reading the body reuses. The request line is kept too, for
 * the access log.
 */
static void detach(struct pf_http *h)
{
	struct http_engine *e = h->eng;
	if (h->strings_ready)
		return;
	size_t pos = 0;
	h->method = keep(h, &pos, h->req.method_name);
	h->target = keep(h, &pos, h->req.target);
	const char *q = strchr(h->target, '?');
	h->query = q ? q + 1 : "";
	if (h->req.request_line.ptr) {
		const char *line = keep(h, &pos, h->req.request_line);
		h->req.request_line.ptr = line;
	}
	/* The head is at most max_header bytes: the index fits in the rest. */
	h->fields_count = http_fields_index(e->in + h->head_off, h->req.consumed, e->strings + pos,
					    e->fields, HTTP_MAX_FIELDS);
	h->strings_ready = 1;
}

PF_API const char *pf_http_method(const struct pf_http *h)
{
	detach((struct pf_http *)h);
	return h->method;
}

PF_API const char *pf_http_target(const struct pf_http *h)
{
	detach((struct pf_http *)h);
	return h->target;
}

PF_API const char *pf_http_path(const struct pf_http *h)
{
	return h->eng->path;
}

PF_API const char *pf_http_path_info(const struct pf_http *h)
{
	return h->path_info;
}

PF_API const char *pf_http_query(const struct pf_http *h)
{
	detach((struct pf_http *)h);
	return h->query;
}

PF_API int pf_http_version(const struct pf_http *h)
{
	return h->req.version_major * 10 + h->req.version_minor;
}

PF_API const char *pf_http_header_nth(const struct pf_http *h, const char *name, int n)
{
	detach((struct pf_http *)h);
	return name ? http_fields_find(h->eng->fields, h->fields_count, name, n) : NULL;
}

PF_API const char *pf_http_header(const struct pf_http *h, const char *name)
{
	return pf_http_header_nth(h, name, 0);
}

PF_API int pf_http_header_at(const struct pf_http *h, int i, const char **name, const char **value)
{
	detach((struct pf_http *)h);
	if (i < 0 || i >= h->fields_count)
		return -1;
	*name = h->eng->fields[i].name;
	*value = h->eng->fields[i].value;
	return 0;
}

PF_API const char *pf_http_peer(const struct pf_http *h)
{
	return pf_conn_peer_host(h->conn);
}

PF_API struct pf_conn *pf_http_conn(struct pf_http *h)
{
	return h->conn;
}

PF_API long long pf_http_body_length(const struct pf_http *h)
{
	return h->req.chunked ? -1 : h->req.content_length > 0 ? h->req.content_length : 0;
}

/* The client asked to hear "100 Continue" before it sends the body. */
static int wants_continue(struct pf_http *h)
{
	return h->req.expect_continue;
}

/* The body ended early or broke: it cannot be read on, nor the connection kept. */
static ssize_t body_failed(struct pf_http *h, int status, int err)
{
	h->keep_alive = 0;
	if (status)
		h->body_status = status;
	h->body = HTTP_BODY_DONE;
	errno = err;
	return -1;
}

/*
 * Read from the client for the body, within the body's deadline: it starts
 * at body_timeout from the first wait for body bytes and grows by a second
 * for every body_min_rate bytes received, so a body trickled in slower than
 * that cannot hold the worker (408; read_timeout still bounds each wait).
 */
static ssize_t body_recv(struct pf_http *h, char *buf, size_t len)
{
	const struct http_conf *c = &h->eng->conf;
	double now = util_now();
	if (h->body_deadline == 0)
		h->body_deadline = now + c->body_timeout;
	double left = h->body_deadline - now;
	if (left < 0.001) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (left > h->conn->read_timeout)
		left = h->conn->read_timeout;
	ssize_t n = pf_conn_read_timeout(h->conn, buf, len, left);
	if (n > 0 && c->body_min_rate > 0)
		h->body_deadline += (double)n / (double)c->body_min_rate;
	return n;
}

/* A failed body read: a timeout earns 408, a lost connection no answer. */
static ssize_t body_recv_failed(struct pf_http *h, ssize_t n)
{
	if (n == 0)
		return body_failed(h, 0, ECONNRESET);
	return body_failed(h, errno == ETIMEDOUT ? 408 : 0, errno);
}

/* Bytes of the body into out: at most len; 0 at its end. Shared by read and drain. */
static ssize_t body_read(struct pf_http *h, char *out, size_t len)
{
	struct http_engine *e = h->eng;
	if (h->body == HTTP_BODY_LENGTH) {
		size_t want = len;
		if ((unsigned long long)want > (unsigned long long)h->body_left)
			want = (size_t)h->body_left;
		size_t avail = h->len - h->off;
		ssize_t n;
		if (avail) {
			n = (ssize_t)(avail < want ? avail : want);
			memcpy(out, e->in + h->off, (size_t)n);
			h->off += (size_t)n;
		} else {
			/* Straight into out, never past the body: the next request stays unread. */
			n = body_recv(h, out, want);
			if (n <= 0)
				return body_recv_failed(h, n);
		}
		h->body_left -= n;
		if (h->body_left == 0)
			h->body = HTTP_BODY_DONE;
		return n;
	}
	for (;;) {
		if (h->off == h->len) {
			h->off = h->len = 0;
			ssize_t n = body_recv(h, e->in, e->max_header);
			if (n <= 0)
				return body_recv_failed(h, n);
			h->len = (size_t)n;
		}
		size_t used, got;
		enum http_chunked_status r = http_chunked_decode(&h->chunked, e->in + h->off,
								 h->len - h->off, &used, out, len,
								 &got);
		h->off += used;
		if (r == HTTP_CHUNKED_ERROR || r == HTTP_CHUNKED_TOO_LARGE) {
			int tl = r == HTTP_CHUNKED_TOO_LARGE;
			body_failed(h, tl ? 413 : 400, tl ? EMSGSIZE : EPROTO);
			/* Data decoded before the fault still counts; the next read fails. */
			return got ? (ssize_t)got : -1;
		}
		if (r == HTTP_CHUNKED_DONE)
			h->body = HTTP_BODY_DONE;
		if (got > 0 || r == HTTP_CHUNKED_DONE)
			return (ssize_t)got;
	}
}

PF_API ssize_t pf_http_read(struct pf_http *h, void *buf, size_t len)
{
	if (h->body_status) {
		errno = h->body_status == 413 ? EMSGSIZE : h->body_status == 408 ? ETIMEDOUT : EPROTO;
		return -1;
	}
	if (h->body == HTTP_BODY_DONE || len == 0)
		return 0;
	detach(h);
	if (wants_continue(h) && !h->continue_sent && !h->started) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		h->continue_sent = 1;
		if (pf_conn_write(h->conn, cont, sizeof(cont) - 1) < 0) {
			h->failed = 1;
			return -1;
		}
	}
	return body_read(h, buf, len);
}

PF_API ssize_t pf_http_read_body(struct pf_http *h, char *buf, size_t cap)
{
	size_t got = 0;
	if (cap == 0) {
		errno = EMSGSIZE;
		return -1;
	}
	for (;;) {
		ssize_t n = pf_http_read(h, buf + got, cap - 1 - got);
		if (n < 0)
			return -1;
		if (n == 0 && h->body != HTTP_BODY_DONE) {
			/* Full, and more is coming. */
			errno = EMSGSIZE;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

int http_request_may_drain(struct pf_http *h)
{
	if (h->body == HTTP_BODY_DONE)
		return !h->body_status;
	/* A client told nothing may still wait for its "100 Continue": do not wait for it. */
	if (h->body_status || (wants_continue(h) && !h->continue_sent))
		return 0;
	return h->body == HTTP_BODY_CHUNKED || h->body_left <= HTTP_DRAIN_MAX;
}

int http_request_drain(struct pf_http *h)
{
	size_t total = 0;
	if (!http_request_may_drain(h))
		return -1;
	/* Nothing left (the common case): the head's strings need not be kept. */
	if (h->body == HTTP_BODY_DONE)
		return 0;
	detach(h);
	while (h->body != HTTP_BODY_DONE) {
		/* The response is out: its head buffer takes what is thrown away. */
		ssize_t n = body_read(h, h->eng->head, h->eng->head_cap);
		if (n < 0)
			return -1;
		total += (size_t)n;
		if (total > HTTP_DRAIN_MAX)
			return -1;
	}
	return 0;
}
