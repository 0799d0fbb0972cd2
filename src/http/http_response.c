/*
 * http_response.c - the response side of struct pf_http: status, the
 * handler's headers, and a body given as bytes, as a file (sendfile) or as
 * a stream (chunked for HTTP/1.1, delimited by closing for HTTP/1.0). The
 * library writes Server, Date, Content-Length or Transfer-Encoding, and
 * Connection itself, and sends no body to HEAD (nor for 1xx, 204, 304).
 * A head and a small body leave in one writev.
 *
 * Entry points: http_response_reason, http_response_error,
 * http_response_finish, and the response calls of prefork.h
 * (pf_http_set_status ... pf_http_json).
 */
#include "http/http_shared.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum framing { FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE };

const char *http_response_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ?
			"Client Error" : "Server Error";
	}
}

/* 1xx, 204 and 304 carry no body, and no length for one. */
static int bodyless(int status)
{
	return status < 200 || status == 204 || status == 304;
}

/* Refuse a call that would change a response already on its way. */
static int not_started(struct pf_http *h)
{
	if (h->started) {
		errno = EALREADY;
		return -1;
	}
	return 0;
}

/*
 * "HTTP/1.1 200 OK", Server and Date, rebuilt once a second: one copy per
 * worker process (a worker is single-threaded; every engine says the same).
 */
static char status200[96];
static size_t status200_len;
static time_t status200_at = -1;

static const char *status200_lines(struct http_engine *e, size_t *len)
{
	http_date_update(e);
	if (status200_at != e->date_now) {
		struct http_out o = { status200, 0, sizeof(status200) };
		HTTP_OUT_LIT(&o, "HTTP/1.1 200 OK\r\nServer: preforkd\r\nDate: ");
		http_out_put(&o, e->date, HTTP_DATE_LEN);
		HTTP_OUT_LIT(&o, "\r\n");
		status200_len = o.len;
		status200_at = e->date_now;
	}
	*len = status200_len;
	return status200;
}

/* Status line, Server, Date, the handler's headers, framing, Connection. */
static size_t build_head(struct pf_http *h, enum framing framing, unsigned long long length)
{
	struct http_engine *e = h->eng;
	struct http_out o = { e->head, 0, e->head_cap };
	if (!h->status)
		h->status = 200;
	/* A body that could not be drained must not be read as the next request. */
	if (h->body != HTTP_BODY_DONE && !http_request_may_drain(h))
		h->keep_alive = 0;
	if (framing == FRAME_CLOSE)
		h->keep_alive = 0;
	/* Told to stop while the request was read: this answer is the last. */
	if (h->keep_alive && signals_worker_stop)
		h->keep_alive = 0;
	if (h->status == 200) {
		size_t n;
		const char *lines = status200_lines(e, &n);
		http_out_put(&o, lines, n);
	} else {
		http_date_update(e);
		HTTP_OUT_LIT(&o, "HTTP/1.1 ");
		http_out_num(&o, (unsigned)h->status);
		HTTP_OUT_LIT(&o, " ");
		http_out_str(&o, http_response_reason(h->status));
		HTTP_OUT_LIT(&o, "\r\nServer: preforkd\r\nDate: ");
		http_out_put(&o, e->date, HTTP_DATE_LEN);
		HTTP_OUT_LIT(&o, "\r\n");
	}
	http_out_put(&o, e->fields_out, h->fields_out_len);
	if (!bodyless(h->status)) {
		if (framing == FRAME_LENGTH) {
			HTTP_OUT_LIT(&o, "Content-Length: ");
			http_out_num(&o, length);
			HTTP_OUT_LIT(&o, "\r\n");
		} else if (framing == FRAME_CHUNKED) {
			HTTP_OUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
		}
	}
	if (h->keep_alive)
		HTTP_OUT_LIT(&o, "Connection: keep-alive\r\n\r\n");
	else
		HTTP_OUT_LIT(&o, "Connection: close\r\n\r\n");
	h->started = 1;
	return o.len;
}

static int send_iov(struct pf_http *h, struct iovec *iov, int n)
{
	if (pf_conn_writev(h->conn, iov, n) < 0) {
		int saved = errno;
		pf_log(PF_LOG_DEBUG, "http: write to %s: %s", pf_conn_peer(h->conn), strerror(errno));
		h->failed = 1;
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * A complete response ends the request: what the handler left of its body
 * is drained first (within limits), so that Connection tells the truth.
 * The engine's head buffer takes the bytes thrown away, before the head.
 */
static void settle_body(struct pf_http *h)
{
	if (h->keep_alive && h->body != HTTP_BODY_DONE && http_request_drain(h) < 0)
		h->keep_alive = 0;
}

/* The whole response with a body of len bytes from memory. */
static int send_bytes(struct pf_http *h, const void *body, size_t len)
{
	if (not_started(h) < 0)
		return -1;
	settle_body(h);
	struct iovec iov[2] = {
		{ .iov_base = h->eng->head, .iov_len = build_head(h, FRAME_LENGTH, len) },
		{ .iov_base = (void *)body, .iov_len = len },
	};
	int with_body = !h->head_only && !bodyless(h->status) && len > 0;
	h->body_bytes = with_body ? len : 0;
	return send_iov(h, iov, with_body ? 2 : 1);
}

int http_response_error(struct pf_http *h, int status)
{
	char body[256];
	int n = snprintf(body, sizeof(body),
			 "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
			 "<center><h1>%d %s</h1></center>\r\n<hr><center>preforkd</center>\r\n"
			 "</body>\r\n</html>\r\n",
			 status, http_response_reason(status), status, http_response_reason(status));
	size_t blen = n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0;
	static const char ctype[] = "Content-Type: text/html\r\n";
	struct http_engine *e = h->eng;
	if (h->fields_out_len + sizeof(ctype) <= e->fields_out_cap) {
		memcpy(e->fields_out + h->fields_out_len, ctype, sizeof(ctype) - 1);
		h->fields_out_len += sizeof(ctype) - 1;
	}
	if (status >= 500)
		h->keep_alive = 0;
	h->status = status;
	return send_bytes(h, body, blen);
}

PF_API int pf_http_set_status(struct pf_http *h, int status)
{
	if (not_started(h) < 0)
		return -1;
	if (status < 200 || status > 599) {
		errno = EINVAL;
		return -1;
	}
	h->status = status;
	return 0;
}

PF_API int pf_http_add_header(struct pf_http *h, const char *name, const char *value)
{
	struct http_engine *e = h->eng;
	if (not_started(h) < 0 || http_fields_check_response(name, value) < 0)
		return -1;
	size_t nlen = strlen(name), vlen = strlen(value);
	if (nlen == 10 && strcasecmp(name, "connection") == 0) {
		h->keep_alive = 0;	/* "close": the library says it */
		return 0;
	}
	if (nlen + vlen + 4 > e->fields_out_cap - h->fields_out_len) {
		errno = ENOSPC;
		return -1;
	}
	/* Header lines, not strings: the buffer holds no NUL. */
	struct http_out o = http_response_fields(h);
	http_out_put(&o, name, nlen);
	HTTP_OUT_LIT(&o, ": ");
	http_out_put(&o, value, vlen);
	HTTP_OUT_LIT(&o, "\r\n");
	http_response_fields_done(h, &o);
	return 0;
}

struct http_out http_response_fields(struct pf_http *h)
{
	struct http_out o = { h->eng->fields_out, h->fields_out_len, h->eng->fields_out_cap };
	return o;
}

void http_response_fields_done(struct pf_http *h, const struct http_out *o)
{
	h->fields_out_len = o->len;
}

int http_response_send_built(struct pf_http *h, const char *fields, size_t fields_len,
			     const void *body, size_t len)
{
	struct http_engine *e = h->eng;
	if (not_started(h) < 0)
		return -1;
	settle_body(h);
	h->status = 200;
	/* As build_head: a body that could not be drained ends the connection. */
	if (h->body != HTTP_BODY_DONE && !http_request_may_drain(h))
		h->keep_alive = 0;
	size_t lines_len;
	const char *lines = status200_lines(e, &lines_len);
	static const char ka[] = "Connection: keep-alive\r\n\r\n", cl[] = "Connection: close\r\n\r\n";
	struct iovec iov[5];
	int n = 0;
	iov[n++] = (struct iovec){ .iov_base = (void *)lines, .iov_len = lines_len };
	if (h->fields_out_len)
		iov[n++] = (struct iovec){ .iov_base = e->fields_out, .iov_len = h->fields_out_len };
	iov[n++] = (struct iovec){ .iov_base = (void *)fields, .iov_len = fields_len };
	iov[n++] = h->keep_alive ? (struct iovec){ .iov_base = (void *)ka, .iov_len = sizeof(ka) - 1 }
				 : (struct iovec){ .iov_base = (void *)cl, .iov_len = sizeof(cl) - 1 };
	h->started = 1;
	h->body_bytes = h->head_only ? 0 : len;
	if (!h->head_only && len > 0)
		iov[n++] = (struct iovec){ .iov_base = (void *)body, .iov_len = len };
	return send_iov(h, iov, n);
}

PF_API int pf_http_send(struct pf_http *h, const void *body, size_t len)
{
	return send_bytes(h, body, len);
}

static void set_cork(struct pf_conn *conn, int on)
{
	/* Fails harmlessly on unix sockets. */
	(void)setsockopt(pf_conn_fd(conn), IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

PF_API int pf_http_send_file(struct pf_http *h, int fd, off_t offset, size_t len)
{
	if (not_started(h) < 0)
		return -1;
	settle_body(h);
	struct iovec iov = { .iov_base = h->eng->head, .iov_len = build_head(h, FRAME_LENGTH, len) };
	if (h->head_only || bodyless(h->status) || len == 0)
		return send_iov(h, &iov, 1);
	/* Corked, the head leaves in the first segment of the file. */
	set_cork(h->conn, 1);
	int r = send_iov(h, &iov, 1);
	if (r == 0 && pf_conn_sendfile(h->conn, fd, offset, len) < 0) {
		int saved = errno;
		pf_log(PF_LOG_DEBUG, "http: sendfile to %s: %s", pf_conn_peer(h->conn),
		       strerror(errno));
		h->failed = 1;
		errno = saved;
		r = -1;
	}
	set_cork(h->conn, 0);
	if (r == 0)
		h->body_bytes = len;
	return r;
}

PF_API int pf_http_write(struct pf_http *h, const void *buf, size_t len)
{
	if (!h->started) {
		int chunked = pf_http_version(h) >= 11;
		struct iovec iov = {
			.iov_base = h->eng->head,
			.iov_len = build_head(h, chunked ? FRAME_CHUNKED : FRAME_CLOSE, 0),
		};
		h->streaming = chunked ? FRAME_CHUNKED : FRAME_CLOSE;
		if (send_iov(h, &iov, 1) < 0)
			return -1;
	} else if (!h->streaming) {
		errno = EALREADY;
		return -1;
	}
	if (h->failed) {
		errno = EPIPE;
		return -1;
	}
	if (len == 0 || h->head_only || bodyless(h->status))
		return 0;
	h->body_bytes += len;
	if (h->streaming == FRAME_CLOSE) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
		return send_iov(h, &iov, 1);
	}
	char size[24];
	int n = snprintf(size, sizeof(size), "%zx\r\n", len);
	struct iovec iov[3] = {
		{ .iov_base = size, .iov_len = (size_t)n },
		{ .iov_base = (void *)buf, .iov_len = len },
		{ .iov_base = (void *)"\r\n", .iov_len = 2 },
	};
	return send_iov(h, iov, 3);
}

PF_API int pf_http_respond(struct pf_http *h, int status, const char *content_type,
			   const void *body, size_t len)
{
	if (pf_http_set_status(h, status) < 0)
		return -1;
	if (content_type && pf_http_add_header(h, "Content-Type", content_type) < 0)
		return -1;
	return send_bytes(h, body, len);
}

PF_API int pf_http_json(struct pf_http *h, int status, const char *fmt, ...)
{
	struct http_engine *e = h->eng;
	char *body = e->json;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(body, HTTP_JSON_INLINE, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= HTTP_JSON_INLINE) {
		/* Larger than the worker's buffer: this one response allocates. */
		body = malloc((size_t)n + 1);
		if (!body)
			return -1;
		va_start(ap, fmt);
		vsnprintf(body, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	int r = pf_http_respond(h, status, "application/json", body, (size_t)n);
	if (body != e->json)
		free(body);
	return r;
}

int http_response_finish(struct pf_http *h)
{
	if (!h->started)
		return http_response_error(h, 500);
	if (h->streaming == FRAME_CHUNKED && !h->head_only && !bodyless(h->status)) {
		struct iovec iov = { .iov_base = (void *)"0\r\n\r\n", .iov_len = 5 };
		return send_iov(h, &iov, 1);
	}
	return 0;
}
