/*
 * loadconn.c - load mode, inside one thread: an epoll loop driving that
 * thread's connections, each through its requests.
 *
 * Entry points: loadconn_setup() allocates a worker's connections and
 * buffers once; loadconn_run_loop() runs until the worker's share of the
 * run is done; loadconn_teardown() frees it all.
 *
 * A connection begins a request (taking a ticket when -n counts them),
 * connects if it has no socket, sends the request and reads the answer:
 * the same bytes back for echo, a complete response for HTTP. It then
 * records the latency or the error kind, and either keeps its socket for
 * the next request (keep-alive) or closes it. Sockets are non-blocking and
 * registered once, edge-triggered, for both directions, so the steady
 * state of keep-alive costs one write, one read and a share of one
 * epoll_wait per request. Requests are started from a pending list after
 * each batch of events, never from inside the handling of another, so a
 * server that refuses at once cannot make the loop recurse or starve the
 * other connections. Nothing is allocated per request. With --tls a new
 * socket makes its handshake (LC_HANDSHAKE, timed apart) before the first
 * request, and bytes go through the session (tlsclient.c).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client.h"

#define MAX_EVENTS   256
#define SCAN_NS      100000000u	/* look for timed-out requests this often */

enum lc_state {
	LC_IDLE,		/* between requests: start the next one */
	LC_RETRY,		/* the same request again, on a new connection */
	LC_CONNECTING,
	LC_HANDSHAKE,		/* --tls: connected, handshaking */
	LC_ACTIVE,		/* sending and receiving */
	LC_RETIRED		/* no more requests for this connection */
};

struct load_conn {
	struct load_worker *lc_worker;
	int       lc_fd;
	void     *lc_ssl;		/* --tls: the session over lc_fd */
	uint64_t  lc_hs_start_ns;
	enum lc_state lc_state;
	bool      lc_queued;		/* on the worker's pending list */
	bool      lc_reused;		/* this socket already served a request */
	bool      lc_retried;		/* this request was already retried once */
	bool      lc_peer_closed;	/* the server's FIN has been seen */
	struct load_conn *lc_next;	/* pending list */
	uint64_t  lc_start_ns;
	uint64_t  lc_deadline_ns;
	size_t    lc_sent;		/* request bytes sent */
	size_t    lc_got;		/* response bytes received */
	size_t    lc_head_len;		/* HTTP: head bytes in lc_buf */
	struct httpresp lc_resp;
	char     *lc_buf;		/* LOAD_BUF_SIZE bytes */
};

static void conn_start(struct load_worker *w, struct load_conn *c);

static void push_pending(struct load_worker *w, struct load_conn *c)
{
	if (c->lc_queued)
		return;
	c->lc_queued = true;
	c->lc_next = w->lw_pending;
	w->lw_pending = c;
}

static void conn_close(struct load_conn *c)
{
	if (c->lc_ssl != NULL) {
		tlsc_free(c->lc_ssl);
		c->lc_ssl = NULL;
	}
	if (c->lc_fd >= 0) {
		close(c->lc_fd);	/* also leaves the epoll set */
		c->lc_fd = -1;
	}
	c->lc_reused = false;
}

static void publish(struct load_worker *w, uint64_t errors)
{
	atomic_store_explicit(&w->lw_done_pub, w->lw_ok + errors, memory_order_relaxed);
	atomic_store_explicit(&w->lw_err_pub, errors, memory_order_relaxed);
}

static uint64_t total_errors(const struct load_worker *w)
{
	uint64_t n = 0;
	int k;

	for (k = 0; k < LOAD_ERR_KINDS; k++)
		n += w->lw_errors[k];
	return n;
}

/* The request on C succeeded: record it; keep the socket if allowed. */
static void request_ok(struct load_worker *w, struct load_conn *c, bool keep)
{
	hist_record(&w->lw_hist, trace_now() - c->lc_start_ns);
	w->lw_ok++;
	publish(w, total_errors(w));
	if (keep && w->lw_shared->ls_keepalive && c->lc_fd >= 0 && !c->lc_peer_closed) {
		c->lc_reused = true;
	} else {
		conn_close(c);
	}
	c->lc_state = LC_IDLE;
	/*
	 * Start the next request now, so that the server works on it while
	 * this thread handles the rest of its events. This cannot recurse:
	 * conn_start() never completes a request successfully, and what
	 * fails in it waits on the pending list.
	 */
	conn_start(w, c);
}

/* The request on C failed with KIND: count it, drop the socket. */
static void request_fail(struct load_worker *w, struct load_conn *c, enum load_err kind)
{
	w->lw_errors[kind]++;
	publish(w, total_errors(w));
	conn_close(c);
	c->lc_state = LC_IDLE;
	push_pending(w, c);
}

/*
 * A kept-alive socket may have been closed by the server just as the
 * request went out (its keep-alive timeout, a graceful stop). Like a
 * browser, try such a request once more on a new connection, as long as
 * nothing of a response came back.
 */
static bool may_retry(const struct load_conn *c)
{
	return c->lc_reused && !c->lc_retried && c->lc_got == 0;
}

static void retry(struct load_worker *w, struct load_conn *c)
{
	conn_close(c);
	c->lc_retried = true;
	c->lc_state = LC_RETRY;
	push_pending(w, c);
}

static void io_error(struct load_worker *w, struct load_conn *c, int err)
{
	if ((err == ECONNRESET || err == EPIPE) && may_retry(c))
		retry(w, c);
	else
		request_fail(w, c, load_err_of_errno(err));
}

/* Open a socket and start connecting; 0, or -1 with errno. */
static int conn_open(struct load_worker *w, struct load_conn *c)
{
	const struct load_shared *sh = w->lw_shared;
	const struct sockaddr *sa = (const struct sockaddr *)&sh->ls_addr.ta_sa;
	struct epoll_event ev;
	int fd, one = 1, rc, err;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	w->lw_connects++;
	rc = connect(fd, sa, sh->ls_addr.ta_len);
	if (rc < 0 && errno != EINPROGRESS) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(w->lw_epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	c->lc_fd = fd;
	c->lc_reused = false;
	c->lc_peer_closed = false;
	c->lc_state = rc == 0 ? LC_ACTIVE : LC_CONNECTING;
	return 0;
}

/* Send what is left of the request; -1 when the request ended in error. */
static int conn_send(struct load_worker *w, struct load_conn *c)
{
	const struct load_shared *sh = w->lw_shared;

	while (c->lc_sent < sh->ls_request_len) {
		ssize_t n = c->lc_ssl
			? tlsc_write(c->lc_ssl, sh->ls_request + c->lc_sent,
				     sh->ls_request_len - c->lc_sent)
			: send(c->lc_fd, sh->ls_request + c->lc_sent,
			       sh->ls_request_len - c->lc_sent, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;	/* an EPOLLOUT edge will follow */
			io_error(w, c, errno);
			return -1;
		}
		c->lc_sent += (size_t)n;
	}
	return 0;
}

/* --tls: go on with the handshake; once done, send the request. */
static void conn_handshake(struct load_worker *w, struct load_conn *c)
{
	bool want_write;
	int r = tlsc_handshake(c->lc_ssl, &want_write);

	if (r == 0)
		return;		/* an edge will come back */
	if (r < 0) {
		request_fail(w, c, errno == ECONNRESET ? LOAD_ERR_RESET : LOAD_ERR_OTHER);
		return;
	}
	hist_record(&w->lw_hs_hist, trace_now() - c->lc_hs_start_ns);
	c->lc_state = LC_ACTIVE;
	conn_send(w, c);
}

/* The socket is connected: handshake first with --tls, else send. */
static void conn_connected(struct load_worker *w, struct load_conn *c)
{
	if (!w->lw_shared->ls_tls || c->lc_ssl != NULL) {
		c->lc_state = LC_ACTIVE;
		conn_send(w, c);
		return;
	}
	c->lc_ssl = tlsc_new(c->lc_fd);
	if (c->lc_ssl == NULL) {
		request_fail(w, c, LOAD_ERR_OTHER);
		return;
	}
	c->lc_state = LC_HANDSHAKE;
	c->lc_hs_start_ns = trace_now();
	conn_handshake(w, c);
}

/* Begin C's next request (or the retry of its current one), or retire C. */
static void conn_start(struct load_worker *w, struct load_conn *c)
{
	struct load_shared *sh = w->lw_shared;
	uint64_t now = trace_now();

	if (c->lc_state == LC_RETIRED)
		return;
	if (atomic_load_explicit(&sh->ls_stop, memory_order_relaxed) || now >= sh->ls_end_ns)
		goto retire;
	if (c->lc_state == LC_RETRY && now >= c->lc_deadline_ns) {
		request_fail(w, c, LOAD_ERR_TIMEOUT);
		return;
	}
	if (c->lc_state != LC_RETRY) {
		if (sh->ls_total != 0 &&
		    atomic_fetch_add_explicit(&sh->ls_issued, 1,
					      memory_order_relaxed) >= sh->ls_total)
			goto retire;
		c->lc_start_ns = now;
		c->lc_deadline_ns = now + sh->ls_timeout_ns;
		c->lc_retried = false;
	}
	c->lc_sent = 0;
	c->lc_got = 0;
	c->lc_head_len = 0;
	httpresp_init(&c->lc_resp);
	if (c->lc_fd < 0) {
		if (conn_open(w, c) < 0) {
			/*
			 * A unix socket whose backlog is full says EAGAIN where
			 * TCP would wait: try again on the next turn, within
			 * the request's deadline.
			 */
			if (errno == EAGAIN && sh->ls_addr.ta_sa.ss_family == AF_UNIX) {
				c->lc_state = LC_RETRY;
				push_pending(w, c);
				return;
			}
			request_fail(w, c, load_err_of_errno(errno));
			return;
		}
		if (c->lc_state == LC_CONNECTING)
			return;
	}
	conn_connected(w, c);
	return;
retire:
	conn_close(c);
	c->lc_state = LC_RETIRED;
	w->lw_active--;
}

/* Echo: check the bytes that came back; true when the request ended. */
static bool echo_input(struct load_worker *w, struct load_conn *c, size_t n)
{
	const struct load_shared *sh = w->lw_shared;

	if (c->lc_got + n > c->lc_sent ||
	    memcmp(c->lc_buf, sh->ls_request + c->lc_got, n) != 0) {
		request_fail(w, c, LOAD_ERR_OTHER);	/* not an echo of what was sent */
		return true;
	}
	c->lc_got += n;
	if (c->lc_got == sh->ls_request_len) {
		request_ok(w, c, true);
		return true;
	}
	return false;
}

/* HTTP: parse N new bytes at lc_buf + lc_head_len (or lc_buf in the body). */
static bool http_input(struct load_worker *w, struct load_conn *c, size_t n)
{
	struct httpresp *r = &c->lc_resp;
	const char *data = c->lc_buf;

	c->lc_got += n;
	if (r->hr_state == HR_HEAD) {
		ssize_t hlen;

		c->lc_head_len += n;
		for (;;) {
			hlen = httpresp_head(r, c->lc_buf, c->lc_head_len);
			if (hlen < 0) {
				request_fail(w, c, LOAD_ERR_BAD_STATUS);
				return true;
			}
			if (hlen == 0) {
				if (c->lc_head_len >= LOAD_BUF_SIZE) {
					request_fail(w, c, LOAD_ERR_OTHER);	/* head too large */
					return true;
				}
				return false;
			}
			if (r->hr_state != HR_HEAD)
				break;
			/* An interim 1xx response: the real head follows. */
			c->lc_head_len -= (size_t)hlen;
			memmove(c->lc_buf, c->lc_buf + hlen, c->lc_head_len);
		}
		if (r->hr_status >= 400) {
			request_fail(w, c, LOAD_ERR_BAD_STATUS);
			return true;
		}
		data = c->lc_buf + hlen;
		n = c->lc_head_len - (size_t)hlen;
		c->lc_head_len = 0;
	}
	while (n > 0 && r->hr_state != HR_DONE && r->hr_state != HR_ERROR) {
		size_t off, dlen, used = httpresp_body(r, data, n, &off, &dlen);

		data += used;
		n -= used;
	}
	if (r->hr_state == HR_ERROR) {
		request_fail(w, c, LOAD_ERR_BAD_STATUS);
		return true;
	}
	if (r->hr_state == HR_DONE) {
		if (n > 0)
			request_fail(w, c, LOAD_ERR_OTHER);	/* bytes after the response */
		else
			request_ok(w, c, !r->hr_close);
		return true;
	}
	return false;
}

/* The server closed its side. */
static void conn_eof(struct load_worker *w, struct load_conn *c)
{
	if (w->lw_shared->ls_http && httpresp_eof(&c->lc_resp)) {
		if (c->lc_resp.hr_status >= 400)
			request_fail(w, c, LOAD_ERR_BAD_STATUS);
		else
			request_ok(w, c, false);
	} else if (may_retry(c)) {
		retry(w, c);
	} else {
		request_fail(w, c, LOAD_ERR_SHORT_READ);
	}
}

/* Read what has arrived, until the socket is drained or the request ends. */
static void conn_recv(struct load_worker *w, struct load_conn *c, uint32_t ev)
{
	bool http = w->lw_shared->ls_http;

	for (;;) {
		bool in_head = http && c->lc_resp.hr_state == HR_HEAD;
		size_t room = in_head ? LOAD_BUF_SIZE - c->lc_head_len : LOAD_BUF_SIZE;
		char *to = in_head ? c->lc_buf + c->lc_head_len : c->lc_buf;
		ssize_t n = c->lc_ssl ? tlsc_read(c->lc_ssl, to, room) : read(c->lc_fd, to, room);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				io_error(w, c, errno);
			return;
		}
		if (n == 0) {
			conn_eof(w, c);
			return;
		}
		if (http ? http_input(w, c, (size_t)n) : echo_input(w, c, (size_t)n))
			return;
		/*
		 * Edge-triggered: a short read emptied the socket, and any byte
		 * that arrives later raises a new edge. A full buffer may have
		 * left more behind, and when the peer has closed (its edge
		 * came with these bytes) only one more read sees the end.
		 * A TLS read returns one record: only EAGAIN tells.
		 */
		if (!c->lc_ssl && (size_t)n < room && !(ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			return;
	}
}

/* Handle the epoll events EV of connection C. */
static void conn_event(struct load_worker *w, struct load_conn *c, uint32_t ev)
{
	if (c->lc_state == LC_CONNECTING) {
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (ev & (EPOLLERR | EPOLLHUP)) {
			int err = 0;
			socklen_t elen = sizeof(err);

			if (getsockopt(c->lc_fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
				err = errno;
			if (err != 0) {
				request_fail(w, c, load_err_of_errno(err));
				return;
			}
			/* Connected, then closed at once: the read below tells. */
		}
		conn_connected(w, c);
		if (c->lc_state != LC_ACTIVE || c->lc_fd < 0)
			return;
	} else if (c->lc_state == LC_HANDSHAKE) {
		conn_handshake(w, c);
		return;
	} else if (c->lc_state == LC_ACTIVE) {
		if ((ev & (EPOLLOUT | EPOLLERR)) && c->lc_sent < w->lw_shared->ls_request_len &&
		    conn_send(w, c) < 0)
			return;
	} else {
		return;		/* a stale event for a socket already closed */
	}
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		c->lc_peer_closed = true;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_recv(w, c, ev);
}

/* Fail every request that has run past its deadline. */
static void scan_timeouts(struct load_worker *w, uint64_t now)
{
	unsigned i;

	for (i = 0; i < w->lw_nconns; i++) {
		struct load_conn *c = &w->lw_conns[i];

		if ((c->lc_state == LC_CONNECTING || c->lc_state == LC_HANDSHAKE ||
		     c->lc_state == LC_ACTIVE) &&
		    now >= c->lc_deadline_ns)
			request_fail(w, c, LOAD_ERR_TIMEOUT);
	}
}

int loadconn_setup(struct load_worker *w)
{
	unsigned i;

	hist_init(&w->lw_hist);
	hist_init(&w->lw_hs_hist);
	w->lw_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->lw_epfd < 0)
		return -1;
	w->lw_conns = calloc(w->lw_nconns, sizeof(*w->lw_conns));
	w->lw_bufs = malloc((size_t)w->lw_nconns * LOAD_BUF_SIZE);
	if (w->lw_conns == NULL || w->lw_bufs == NULL)
		return -1;
	for (i = 0; i < w->lw_nconns; i++) {
		struct load_conn *c = &w->lw_conns[i];

		c->lc_worker = w;
		c->lc_fd = -1;
		c->lc_state = LC_IDLE;
		c->lc_buf = w->lw_bufs + (size_t)i * LOAD_BUF_SIZE;
	}
	return 0;
}

/* How long epoll_wait may sleep: until the next scan or the end, in ms. */
static int wait_ms(const struct load_worker *w, uint64_t now, uint64_t next_scan)
{
	uint64_t until = next_scan;

	if (w->lw_pending != NULL)
		return 0;
	if (w->lw_shared->ls_end_ns < until)
		until = w->lw_shared->ls_end_ns;
	if (until <= now)
		return 0;
	return (int)((until - now + 999999) / 1000000);
}

void loadconn_run_loop(struct load_worker *w)
{
	struct epoll_event events[MAX_EVENTS];
	struct load_shared *sh = w->lw_shared;
	uint64_t now = trace_now(), next_scan = now + SCAN_NS;
	unsigned i;

	w->lw_active = w->lw_nconns;
	for (i = 0; i < w->lw_nconns; i++)
		push_pending(w, &w->lw_conns[w->lw_nconns - 1 - i]);
	while (w->lw_active > 0) {
		struct load_conn *list;
		int n, k;

		now = trace_now();
		if (atomic_load_explicit(&sh->ls_stop, memory_order_relaxed) || now >= sh->ls_end_ns)
			break;
		n = epoll_wait(w->lw_epfd, events, MAX_EVENTS, wait_ms(w, now, next_scan));
		if (n < 0 && errno != EINTR) {
			w->lw_fatal = errno;
			break;
		}
		for (k = 0; k < n; k++)
			conn_event(w, events[k].data.ptr, events[k].events);
		/* Start what is pending now; what fails at once waits a turn. */
		list = w->lw_pending;
		w->lw_pending = NULL;
		while (list != NULL) {
			struct load_conn *c = list;

			list = c->lc_next;
			c->lc_queued = false;
			conn_start(w, c);
		}
		now = trace_now();
		if (now >= next_scan) {
			scan_timeouts(w, now);
			next_scan = now + SCAN_NS;
		}
	}
	w->lw_stop_ns = trace_now();
	for (i = 0; i < w->lw_nconns; i++)
		conn_close(&w->lw_conns[i]);
}

void loadconn_teardown(struct load_worker *w)
{
	unsigned i;

	if (w->lw_conns != NULL)
		for (i = 0; i < w->lw_nconns; i++)
			conn_close(&w->lw_conns[i]);
	if (w->lw_epfd >= 0)
		close(w->lw_epfd);
	free(w->lw_conns);
	free(w->lw_bufs);
	w->lw_conns = NULL;
	w->lw_bufs = NULL;
	w->lw_epfd = -1;
}
