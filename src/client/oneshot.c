/*
 * oneshot.c - one connection: connect, send the message (or standard input,
 * or an HTTP GET), half-close, and copy what comes back to standard output.
 *
 * Entry point: oneshot_run(). Sending and receiving are interleaved with
 * poll(), so a message of any size round-trips through an echo server
 * without either side blocking on a full buffer. Every wait is bounded by
 * -T, except a wait for the user to type on standard input. Any failure is
 * one line on stderr and exit status 1. With --tls the handshake follows
 * the connect, the bytes go through the session (tlsclient.c), and the
 * half-close is TLS's close_notify.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client.h"

#define IO_CHUNK 65536

struct oneshot {
	const struct client_opts *os_opts;
	struct target os_target;
	const struct target_addr *os_peer;	/* the address connected to */
	int         os_fd;
	void       *os_ssl;		/* --tls: the session over os_fd */
	int         os_timeout_ms;
	/* what goes out */
	const char *os_out;
	size_t      os_out_len;
	size_t      os_out_off;
	char       *os_request;		/* --http: the GET request */
	bool        os_from_stdin;	/* the message is standard input */
	bool        os_stdin_open;
	bool        os_shut;		/* SHUT_WR done (or not wanted) */
	bool        os_eof;		/* the server closed its side */
	/* what comes in */
	char       *os_in;		/* IO_CHUNK; stdin data shares os_stdin_buf */
	char       *os_stdin_buf;
	char       *os_head;		/* --http: bytes of the response head */
	size_t      os_head_len;
	struct httpresp os_resp;
};

static int fail(const char *op, const char *where, const char *why)
{
	fprintf(stderr, "%s: %s %s: %s\n", CLIENT_NAME, op, where, why);
	return -1;
}

static const char *timeout_text(const struct oneshot *s, char *buf, size_t size)
{
	snprintf(buf, size, "timed out after %g s", s->os_opts->timeout_s);
	return buf;
}

/* Write all of BUF to FD (standard output), waiting when it is non-blocking. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = fd, .events = POLLOUT };

				poll(&p, 1, -1);
				continue;
			}
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int output(const char *buf, size_t len)
{
	if (write_all(STDOUT_FILENO, buf, len) < 0)
		return fail("write", "standard output", strerror(errno));
	return 0;
}

/* Connect to one address; 0 and s->os_fd set, or -1 with *ERR. */
static int connect_one(struct oneshot *s, const struct target_addr *a, int *err)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->ta_sa;
	uint64_t t0;
	socklen_t elen = sizeof(*err);
	int fd, rc;

	fd = trace_socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	t0 = trace_now();
	*err = 0;
	rc = connect(fd, sa, a->ta_len);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		do
			rc = poll(&p, 1, s->os_timeout_ms);
		while (rc < 0 && errno == EINTR);
		if (rc == 0)
			*err = ETIMEDOUT;
		else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &elen) < 0)
			*err = errno;
	} else if (rc < 0) {
		*err = errno;
	}
	if (trace_enabled())
		trace_print(t0, "connect(%s) = %s%s%s", a->ta_text, *err ? "-1 (" : "0",
			    *err == ETIMEDOUT ? "timed out" : *err ? strerror(*err) : "",
			    *err ? ")" : "");
	if (*err != 0) {
		trace_close(fd);
		return -1;
	}
	s->os_fd = fd;
	return 0;
}

/* Resolve the target and connect to the first address that answers. */
static int open_connection(struct oneshot *s, struct target_addr *addrs)
{
	char err[512], where[400], tbuf[64];
	uint64_t t0 = trace_now();
	int n, i, last = 0;

	n = target_resolve(&s->os_target, addrs, TARGET_MAX_ADDRS, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", CLIENT_NAME, err);
		return -1;
	}
	if (trace_enabled() && !s->os_target.tg_unix)
		trace_print(t0, "getaddrinfo(%s) = %d address%s", s->os_target.tg_host, n,
			    n == 1 ? "" : "es");
	for (i = 0; i < n; i++) {
		if (connect_one(s, &addrs[i], &last) == 0) {
			s->os_peer = &addrs[i];
			return 0;
		}
	}
	/* Name both what was asked for and what was tried when they differ. */
	if (strcmp(s->os_opts->target, addrs[n - 1].ta_text) == 0)
		snprintf(where, sizeof(where), "%s", addrs[n - 1].ta_text);
	else
		snprintf(where, sizeof(where), "%s (%s)", s->os_opts->target,
			 addrs[n - 1].ta_text);
	return fail("connect", where,
		    last == ETIMEDOUT ? timeout_text(s, tbuf, sizeof(tbuf)) : strerror(last));
}

/* Send what is queued; -1 on a transport error. */
static int send_some(struct oneshot *s)
{
	while (s->os_out_off < s->os_out_len) {
		size_t want = s->os_out_len - s->os_out_off;
		want = want > IO_CHUNK ? IO_CHUNK : want;
		ssize_t n = s->os_ssl ? tlsc_write(s->os_ssl, s->os_out + s->os_out_off, want)
				      : trace_write(s->os_fd, s->os_out + s->os_out_off, want);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return fail("write", s->os_peer->ta_text, strerror(errno));
		}
		s->os_out_off += (size_t)n;
	}
	return 0;
}

/* Take the next piece of standard input as the data to send. */
static int read_stdin(struct oneshot *s)
{
	ssize_t n;

	do
		n = read(STDIN_FILENO, s->os_stdin_buf, IO_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		return fail("read", "standard input", strerror(errno));
	}
	if (n == 0)
		s->os_stdin_open = false;
	s->os_out = s->os_stdin_buf;
	s->os_out_len = (size_t)n;
	s->os_out_off = 0;
	return 0;
}

/* --http: feed received bytes to the parser and print the body (and head). */
static int http_input(struct oneshot *s, const char *buf, size_t len)
{
	struct httpresp *r = &s->os_resp;

	while (len > 0) {
		if (r->hr_state == HR_HEAD) {
			size_t old = s->os_head_len, room = HTTPRESP_MAX_HEAD - old;
			size_t take = len < room ? len : room;
			ssize_t hlen;

			memcpy(s->os_head + old, buf, take);
			s->os_head_len += take;
			hlen = httpresp_head(r, s->os_head, s->os_head_len);
			if (hlen < 0)
				return fail("read", s->os_peer->ta_text, r->hr_error);
			if (hlen == 0) {
				buf += take;
				len -= take;
				continue;
			}
			if (s->os_opts->include && output(s->os_head, (size_t)hlen) < 0)
				return -1;
			/*
			 * The head ends in this piece, since its end was not
			 * in the bytes seen before: what follows it (a body,
			 * or the head after an interim 1xx) is still in BUF.
			 */
			buf += (size_t)hlen - old;
			len -= (size_t)hlen - old;
			s->os_head_len = 0;
			continue;
		}
		if (r->hr_state == HR_DONE || r->hr_state == HR_ERROR)
			break;
		{
			size_t off, dlen, used = httpresp_body(r, buf, len, &off, &dlen);

			if (dlen > 0 && output(buf + off, dlen) < 0)
				return -1;
			if (used == 0)
				break;
			buf += used;
			len -= used;
		}
	}
	if (r->hr_state == HR_ERROR)
		return fail("read", s->os_peer->ta_text, r->hr_error);
	return 0;
}

static bool finished(const struct oneshot *s);

/* Read once from the socket; -1 on failure. */
static int receive_some(struct oneshot *s)
{
	ssize_t n;

	do
		n = s->os_ssl ? tlsc_read(s->os_ssl, s->os_in, IO_CHUNK)
			      : trace_read(s->os_fd, s->os_in, IO_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		return fail("read", s->os_peer->ta_text, strerror(errno));
	}
	if (n == 0) {
		s->os_eof = true;
		if (s->os_opts->http_path == NULL)
			return 0;
		if (httpresp_eof(&s->os_resp))
			return 0;
		return fail("read", s->os_peer->ta_text,
			    s->os_resp.hr_state == HR_HEAD && s->os_head_len == 0
			    ? "connection closed without a response"
			    : "connection closed before the end of the response");
	}
	if (s->os_opts->http_path != NULL ? http_input(s, s->os_in, (size_t)n) < 0
	    : output(s->os_in, (size_t)n) < 0)
		return -1;
	/* Bytes the session has decrypted already never wake poll(). */
	if (s->os_ssl && tlsc_pending(s->os_ssl) && !finished(s))
		return receive_some(s);
	return 0;
}

/* Has the exchange finished? */
static bool finished(const struct oneshot *s)
{
	if (s->os_opts->http_path != NULL)
		return s->os_resp.hr_state == HR_DONE;
	return s->os_eof && (s->os_out_off >= s->os_out_len || s->os_shut);
}

/* The poll loop: interleave sending, receiving and reading standard input. */
static int exchange(struct oneshot *s)
{
	char tbuf[64];

	while (!finished(s)) {
		struct pollfd p[2];
		nfds_t np = 1;
		bool pending = s->os_out_off < s->os_out_len;
		bool want_stdin = s->os_from_stdin && s->os_stdin_open && !pending && !s->os_eof;
		int rc;

		/* Everything sent and no more to come: half-close. */
		if (!pending && !want_stdin && !s->os_shut) {
			s->os_shut = true;
			if (s->os_ssl && s->os_opts->http_path == NULL)
				tlsc_shutdown(s->os_ssl);
			else if (s->os_opts->http_path == NULL &&
			    trace_shutdown(s->os_fd, SHUT_WR) < 0 && errno != ENOTCONN)
				return fail("shutdown", s->os_peer->ta_text, strerror(errno));
			continue;
		}
		p[0].fd = s->os_fd;
		p[0].events = (short)((s->os_eof ? 0 : POLLIN) | (pending ? POLLOUT : 0));
		p[0].revents = 0;
		if (want_stdin) {
			p[1].fd = STDIN_FILENO;
			p[1].events = POLLIN;
			p[1].revents = 0;
			np = 2;
		}
		rc = poll(p, np, want_stdin ? -1 : s->os_timeout_ms);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll", s->os_peer->ta_text, strerror(errno));
		}
		if (rc == 0)
			return fail(pending ? "write" : "read", s->os_peer->ta_text,
				    timeout_text(s, tbuf, sizeof(tbuf)));
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !s->os_eof) {
			if (receive_some(s) < 0)
				return -1;
			if (finished(s))
				break;
		} else if (p[0].revents & (POLLHUP | POLLERR) && !(p[0].revents & POLLOUT)) {
			int err = 0;
			socklen_t elen = sizeof(err);

			getsockopt(s->os_fd, SOL_SOCKET, SO_ERROR, &err, &elen);
			return fail("write", s->os_peer->ta_text,
				    strerror(err ? err : ECONNRESET));
		}
		if ((p[0].revents & (POLLOUT | POLLERR)) && pending && send_some(s) < 0)
			return -1;
		if (np == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) &&
		    read_stdin(s) < 0)
			return -1;
	}
	return 0;
}

/* --tls: the handshake, each wait bounded by -T. */
static int handshake(struct oneshot *s)
{
	char tbuf[64], desc[160];
	uint64_t t0 = trace_now();
	bool want_write;
	int r;

	s->os_ssl = tlsc_new(s->os_fd);
	if (s->os_ssl == NULL)
		return fail("handshake", s->os_peer->ta_text, "cannot create a TLS session");
	while ((r = tlsc_handshake(s->os_ssl, &want_write)) == 0) {
		struct pollfd p = { .fd = s->os_fd, .events = want_write ? POLLOUT : POLLIN };
		int rc = poll(&p, 1, s->os_timeout_ms);

		if (rc == 0)
			return fail("handshake", s->os_peer->ta_text,
				    timeout_text(s, tbuf, sizeof(tbuf)));
		if (rc < 0 && errno != EINTR)
			return fail("poll", s->os_peer->ta_text, strerror(errno));
	}
	if (r < 0)
		return fail("handshake", s->os_peer->ta_text, tlsc_error());
	if (trace_enabled())
		trace_print(t0, "TLS handshake = %s", tlsc_describe(s->os_ssl, desc, sizeof(desc)));
	return 0;
}

/* Build the GET request of --http. */
static char *http_request(const struct oneshot *s, size_t *len)
{
	const char *fmt = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n";
	int n = snprintf(NULL, 0, fmt, s->os_opts->http_path, s->os_target.tg_hostport);
	char *req = malloc((size_t)n + 1);

	if (req == NULL)
		return NULL;
	snprintf(req, (size_t)n + 1, fmt, s->os_opts->http_path, s->os_target.tg_hostport);
	*len = (size_t)n;
	return req;
}

int oneshot_run(const struct client_opts *o)
{
	struct target_addr *addrs;
	struct oneshot s;
	char err[512];
	int rc = CLIENT_EXIT_FAIL;
	double ms = o->timeout_s * 1000.0;

	memset(&s, 0, sizeof(s));
	s.os_opts = o;
	s.os_fd = -1;
	s.os_timeout_ms = ms >= 2147483647.0 ? 2147483647 : ms < 1.0 ? 1 : (int)(ms + 0.999);
	trace_enable(o->verbose);
	httpresp_init(&s.os_resp);
	if (target_parse(o->target, &s.os_target, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", CLIENT_NAME, err);
		return CLIENT_EXIT_FAIL;
	}
	addrs = calloc(TARGET_MAX_ADDRS, sizeof(*addrs));
	s.os_in = malloc(IO_CHUNK);
	s.os_stdin_buf = malloc(IO_CHUNK);
	s.os_head = malloc(HTTPRESP_MAX_HEAD);
	if (addrs == NULL || s.os_in == NULL || s.os_stdin_buf == NULL || s.os_head == NULL) {
		fprintf(stderr, "%s: out of memory\n", CLIENT_NAME);
		goto out;
	}
	if (o->http_path != NULL) {
		s.os_request = http_request(&s, &s.os_out_len);
		if (s.os_request == NULL) {
			fprintf(stderr, "%s: out of memory\n", CLIENT_NAME);
			goto out;
		}
		s.os_out = s.os_request;
	} else if (o->message != NULL) {
		s.os_out = o->message;
		s.os_out_len = o->message_len;
	} else {
		s.os_from_stdin = true;
		s.os_stdin_open = true;
	}
	if (o->tls && tlsc_setup(o, &s.os_target, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", CLIENT_NAME, err);
		goto out;
	}
	if (open_connection(&s, addrs) < 0)
		goto out;
	if (o->tls && handshake(&s) < 0)
		goto out;
	if (exchange(&s) == 0) {
		rc = CLIENT_EXIT_OK;
		if (o->fail && o->http_path != NULL && s.os_resp.hr_status >= 400)
			rc = CLIENT_EXIT_HTTPERR;
	}
out:
	if (s.os_ssl)
		tlsc_free(s.os_ssl);
	if (o->tls)
		tlsc_cleanup();
	if (s.os_fd >= 0)
		trace_close(s.os_fd);
	free(s.os_request);
	free(s.os_head);
	free(s.os_stdin_buf);
	free(s.os_in);
	free(addrs);
	return rc;
}
