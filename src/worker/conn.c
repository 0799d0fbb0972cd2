/*
 * conn.c - struct pf_conn: one accepted connection and its deadline-aware
 * I/O. Each call tries the system call first without blocking
 * (MSG_DONTWAIT, or a non-blocking socket) and waits in poll() only when it
 * would block, so a ready socket costs one system call. read_timeout bounds
 * each wait for data, write_timeout each wait for buffer space. Over TLS
 * (c->ssl) each call goes to tls/tls_conn.c instead.
 *
 * A connection is accepted in blocking mode (c->blocking), but behind a
 * PROXY header or on a TLS service that may use kTLS: every call still
 * behaves as on a non-blocking socket (MSG_DONTWAIT here, and in TLS's
 * BIO, tls/tls_bio.c) but the wait between two kept-alive requests, which
 * is a blocking recv() with a socket timeout slice (idle_recv), so such a
 * request costs recv + send, not poll + recv + send, plain or TLS.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/sendfile.h>
#include <unistd.h>

void conn_init(struct pf_conn *c, int fd, struct pf_worker *w, const struct sockaddr *sa,
	       socklen_t salen)
{
	/*
	 * Callers keep the struct on the stack: every field starts at zero,
	 * but the read-ahead buffer (only read within roff and rlen).
	 */
	memset(c, 0, offsetof(struct pf_conn, rbuf));
	c->fd = fd;
	c->worker = w;
	c->slot = w ? w->slot : NULL;
	c->read_timeout = w && w->svc ? w->svc->read_timeout : 30.0;
	c->write_timeout = w && w->svc ? w->svc->write_timeout : 30.0;
	if (salen > sizeof(c->peer_sa))
		salen = sizeof(c->peer_sa);
	memcpy(&c->peer_sa, sa, salen);
	c->peer_len = salen;
	addr_format_sockaddr(sa, salen, c->peer, sizeof(c->peer), 1);
	addr_format_sockaddr(sa, salen, c->peer_host, sizeof(c->peer_host), 0);
	if (sa->sa_family == AF_UNIX) {
		/* A client of a unix socket has no address worth printing. */
		snprintf(c->peer, sizeof(c->peer), "unix");
	}
}

/* Put a blocking fd in non-blocking mode for good (sendfile, pf_conn_fd users). */
static void conn_nonblock(struct pf_conn *c)
{
	if (c->blocking && util_set_nonblock(c->fd, 1) == 0)
		c->blocking = 0;
}

size_t conn_take(struct pf_conn *c, void *buf, size_t len)
{
	size_t n = len < c->rlen ? len : c->rlen;
	memcpy(buf, c->rbuf + c->roff, n);
	c->roff += n;
	c->rlen -= n;
	if (!c->rlen)
		c->roff = 0;
	return n;
}

/*
 * Has the client of a fresh connection spoken? One on a blocking socket is
 * read at once into the read-ahead buffer, which the handler's first read
 * takes (or, over TLS, the handshake: tls_bio.c hands it to OpenSSL): recv
 * instead of poll + recv. When nothing is there, that first read waits
 * first.
 */
static int has_spoken(struct pf_conn *c)
{
	if (!c->blocking) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		return poll(&p, 1, 0) > 0 && p.revents;
	}
	ssize_t n = recv(c->fd, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT);
	if (n > 0) {
		c->roff = 0;
		c->rlen = (size_t)n;
		/* Over TLS these are the handshake's: TLS counts what it decrypts. */
		if (c->slot && !(c->worker->svc && c->worker->svc->tls))
			c->slot->bytes_in += (uint64_t)n;
	}
	if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		return 1;	/* data, an end or an error: the handler's read says which */
	c->expect_wait = 1;
	return 0;
}

int conn_watch_silence(struct pf_conn *c, int defer_accept)
{
	int64_t now = util_now_ns();
	int inet = c->peer_sa.ss_family == AF_INET || c->peer_sa.ss_family == AF_INET6;
	c->silent_since = 0;
	if (!c->worker)
		return 0;
	/*
	 * A plain connection, a worker free: nothing to decide now. The
	 * handler's first read waits for the request in poll() and reads it
	 * (poll + recv), where asking first whether it came with the
	 * handshake would cost a recv() that mostly says EAGAIN: a worker
	 * blocked in accept() wakes when the handshake ends, before the
	 * request's first segment is there. A TLS handshake keeps the read.
	 */
	if (c->blocking && !defer_accept && !(c->worker->svc && c->worker->svc->tls) &&
	    conn_silent_idle_worker(c->worker)) {
		c->silent_since = now;
		c->silent_age_unread = inet;
		c->expect_wait = 1;
		return 0;
	}
	if (has_spoken(c))
		return 0;	/* data (or an end) is there already */
	c->silent_since = now;
	if (defer_accept) {
		/* The kernel held it for the defer period: silent all along. */
		c->silent_since = now - CONN_SILENT_GRACE_NS;
	} else if (inet) {
		/*
		 * Its time in the listen queue counts too, but only matters when
		 * others queue with no worker idle: conn_silent_age reads it then
		 * (a getsockopt per connection saved while workers are free).
		 */
		c->silent_age_unread = 1;
	}
	return conn_silent_should_yield(c, now, 0);
}

/*
 * A request-response client is usually not done when the server finishes
 * writing: once a read has had to wait, the next one polls first, which
 * saves the recv() that would only say EAGAIN. A client that has sent
 * nothing yet waits in conn_silent_wait.
 */
PF_API ssize_t pf_conn_read_timeout(struct pf_conn *c, void *buf, size_t len, double timeout)
{
	if (c->rlen)
		return (ssize_t)conn_take(c, buf, len);
	if ((timeout = conn_wait_timeout(c, timeout)) < 0)
		return -1;
	if (c->ssl)
		return tls_conn_read(c, buf, len, timeout);
	if (c->expect_wait && (c->silent_since ? conn_silent_wait(c, POLLIN, timeout, 0)
					       : conn_wait_conn(c, POLLIN, timeout)) < 0)
		return -1;
	for (int waited = c->expect_wait;; waited = 1) {
		ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);
		if (n >= 0) {
			c->expect_wait = waited;
			c->silent_since = 0;
			if (c->slot)
				c->slot->bytes_in += (uint64_t)n;
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if ((c->silent_since ? conn_silent_wait(c, POLLIN, timeout, 0)
				     : conn_wait_conn(c, POLLIN, timeout)) < 0)
			return -1;
	}
}

PF_API int pf_worker_pending(const struct pf_worker *w)
{
	int lfd = signals_worker_listen_fd();
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	if (!w || lfd < 0 || signals_worker_stop)
		return 0;
	/* The scoreboard first: while a worker is idle, no poll() of the listener. */
	return !conn_silent_idle_worker(w) && poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/*
 * Between two requests of a kept-alive connection: wait for the client, but
 * give the connection up (EAGAIN) when another client has queued for this
 * service for YIELD_AFTER_NS with no worker free to take it, so idle
 * keep-alive connections cannot starve a pre-fork pool. The grace period
 * keeps a worker that is about to be told to stop (its listener then
 * closes) from cutting its connection for a client nobody will serve.
 */
#define YIELD_AFTER_NS 100000000LL
#define RECHECK_NS 250000000LL	/* while workers are free: look again this often */
#define QUEUED_POLL_NS 10000000LL

/*
 * The listening socket is watched only while no worker of the service is
 * idle: otherwise every new connection would wake every kept-alive worker.
 */
/*
 * Told to stop while idle: the client gets STOP_GRACE_S for a request that
 * is on its way (sent before it could know: it is read and answered, with
 * "Connection: close" from the http engine); otherwise ESHUTDOWN, so a
 * graceful stop never waits keepalive_timeout for an idle client.
 */
#define STOP_GRACE_S 0.25

static ssize_t idle_stopping(struct pf_conn *c, void *buf, size_t len, int64_t deadline)
{
	double left = (double)(deadline - util_now_ns()) / 1e9;
	if (left > STOP_GRACE_S)
		left = STOP_GRACE_S;
	if (left > 0 && conn_wait_fd(c->fd, POLLIN, left) == 0)
		return pf_conn_read_timeout(c, buf, len, c->read_timeout);
	errno = ESHUTDOWN;
	return -1;
}

/*
 * The blocking idle wait: recv() on the blocking socket, cut into slices by
 * SO_RCVTIMEO so that the loop looks around now and then. The slice is
 * RECHECK_NS while a worker of the service is idle (nobody can be queued
 * for long), IDLE_BUSY_SLICE_NS while none is (a client may queue: how soon
 * it is seen), QUEUED_POLL_NS once one has queued. A stop signal interrupts
 * the recv() (EINTR: no SA_RESTART, and a socket timeout never restarts);
 * one that lands between the flag check and the recv() is seen when the
 * slice ends.
 */
#define IDLE_BUSY_SLICE_NS 50000000LL

static int set_rcvtimeo(struct pf_conn *c, int64_t ns)
{
	if (ns < 1000)
		ns = 1000;
	if (ns == c->rcvtimeo_ns)
		return 0;
	struct timeval tv = { .tv_sec = (time_t)(ns / 1000000000LL),
			      .tv_usec = (suseconds_t)(ns % 1000000000LL / 1000) };
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	c->rcvtimeo_ns = ns;
	return 0;
}

/* now: the clock the caller just read (the first pass reads no other). */
static ssize_t idle_recv(struct pf_conn *c, void *buf, size_t len, int64_t now, int64_t deadline)
{
	int64_t queued_since = 0;
	for (;; now = util_now_ns()) {
		if (signals_worker_stop)
			return idle_stopping(c, buf, len, deadline);
		int64_t left = deadline - now;
		int lfd = signals_worker_listen_fd();
		if (left <= 0 || lfd < 0)
			return pf_conn_read_timeout(c, buf, len, left > 0 ? (double)left / 1e9 : 0.001);
		/* Between two requests: the handler's tick runs when due (tick.c). */
		if (tick_run_due(c->worker))
			continue;
		int64_t slice = queued_since ? QUEUED_POLL_NS :
				conn_silent_idle_worker_recent(c->worker, now) ? RECHECK_NS :
				IDLE_BUSY_SLICE_NS;
		int64_t tick_left = tick_left_ns(c->worker);
		if (slice > tick_left)
			slice = tick_left;
		if (set_rcvtimeo(c, slice < left ? slice : left) < 0)
			return -1;
		/* Over TLS: SSL_read, whose BIO makes this one blocking recv(). */
		ssize_t n = c->ssl ? tls_conn_read_idle(c, buf, len) : recv(c->fd, buf, len, 0);
		if (n >= 0) {
			c->expect_wait = 0;
			c->silent_since = 0;
			if (c->slot && !c->ssl)
				c->slot->bytes_in += (uint64_t)n;
			return n;
		}
		if (errno == EINTR)
			continue;	/* signals_worker_stop, maybe: see above */
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		/* A slice ended: is a client queued, with nobody free, long enough? */
		if (signals_worker_stop || conn_silent_idle_worker(c->worker) ||
		    !conn_silent_listen_pending(lfd))
			queued_since = 0;
		else if (!queued_since)
			queued_since = util_now_ns();
		else if (util_now_ns() - queued_since >= YIELD_AFTER_NS) {
			errno = EAGAIN;
			return -1;
		}
	}
}

PF_API ssize_t pf_conn_read_idle(struct pf_conn *c, void *buf, size_t len, double timeout)
{
	int64_t start = util_now_ns(), deadline = start + (int64_t)(timeout * 1e9);
	int64_t queued_since = 0;
	if (c->rlen || tls_conn_pending(c))	/* bytes wait already */
		return pf_conn_read_timeout(c, buf, len, timeout);
	if (c->blocking && c->worker)
		return idle_recv(c, buf, len, start, deadline);
	for (;;) {
		if (c->worker && signals_worker_stop)
			return idle_stopping(c, buf, len, deadline);
		int lfd = signals_worker_listen_fd(), sfd = signals_worker_stop_fd();
		int64_t now = util_now_ns(), left = deadline - now;
		if (lfd < 0 || !c->worker || left <= 0)
			return pf_conn_read_timeout(c, buf, len, left > 0 ? (double)left / 1e9 : 0.001);
		int watch_listen = !queued_since && !conn_silent_idle_worker(c->worker);
		int64_t wait = queued_since ? QUEUED_POLL_NS : watch_listen ? left : RECHECK_NS;
		if (wait > left)
			wait = left;
		/* Between two requests: the handler's tick runs when due (tick.c). */
		if (tick_run_due(c->worker))
			continue;
		int64_t tick_left = tick_left_ns(c->worker);
		if (wait > tick_left)
			wait = tick_left;
		/* p[1]: the stop pipe (a stop landing before poll() still wakes it). */
		struct pollfd p[3] = { { .fd = c->fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
				       { .fd = lfd, .events = POLLIN } };
		int n = poll(p, watch_listen ? 3 : 2, (int)((wait + 999999) / 1000000));
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0 && p[0].revents) {
			c->expect_wait = 0;
			return pf_conn_read_timeout(c, buf, len, (double)left / 1e9);
		}
		if (n > 0 && p[1].revents)
			continue;	/* signals_worker_stop is set: see above */
		if (watch_listen && n > 0) {
			if (p[2].revents & (POLLERR | POLLHUP | POLLNVAL))
				return pf_conn_read_timeout(c, buf, len, (double)left / 1e9);
			if (p[2].revents & POLLIN)
				queued_since = util_now_ns();
			continue;
		}
		if (queued_since) {
			/* Still queued, still nobody free, long enough: give this one up. */
			if (signals_worker_stop || conn_silent_idle_worker(c->worker) ||
			    !conn_silent_listen_pending(lfd))
				queued_since = 0;
			else if (util_now_ns() - queued_since >= YIELD_AFTER_NS) {
				errno = EAGAIN;
				return -1;
			}
		}
	}
}

PF_API ssize_t pf_conn_read(struct pf_conn *c, void *buf, size_t len)
{
	return pf_conn_read_timeout(c, buf, len, c->read_timeout);
}

/* After a failed write: 0 to try again (interrupted, or room came in time), -1 to give up. */
static int write_again(struct pf_conn *c)
{
	if (errno == EINTR)
		return 0;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	double t = conn_wait_timeout(c, c->write_timeout);
	return t < 0 ? -1 : conn_wait_conn(c, POLLOUT, t);
}

PF_API ssize_t pf_conn_writev(struct pf_conn *c, const struct iovec *iov_in, int iovcnt)
{
	c->silent_since = 0;	/* we spoke: the client may be thinking */
	struct iovec iov[64];
	size_t total = 0, done = 0;
	if (iovcnt > (int)ARRAY_LEN(iov)) {
		errno = EINVAL;
		return -1;
	}
	if (c->ssl)
		return tls_conn_writev(c, iov_in, iovcnt);
	for (int i = 0; i < iovcnt; i++)
		total += iov_in[i].iov_len;
	/*
	 * sendmsg() reads the caller's vector as it is; it is copied (to be
	 * advanced) only after a partial write. Most answers leave whole.
	 */
	struct iovec *cur = (struct iovec *)iov_in;
	int left = iovcnt, copied = 0;
	while (done < total) {
		struct msghdr mh = { .msg_iov = cur, .msg_iovlen = (size_t)left };
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (write_again(c) < 0)
				return -1;
			continue;
		}
		done += (size_t)n;
		if (c->slot)
			c->slot->bytes_out += (uint64_t)n;
		if (done == total)
			break;
		if (!copied) {
			memcpy(iov, cur, (size_t)left * sizeof(*cur));
			cur = iov;
			copied = 1;
		}
		/* Skip what was sent. */
		size_t k = (size_t)n;
		while (left > 0 && k >= cur->iov_len) {
			k -= cur->iov_len;
			cur++;
			left--;
		}
		if (left > 0) {
			cur->iov_base = (char *)cur->iov_base + k;
			cur->iov_len -= k;
		}
	}
	return (ssize_t)total;
}

PF_API ssize_t pf_conn_write(struct pf_conn *c, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return pf_conn_writev(c, &iov, 1);
}

PF_API ssize_t pf_conn_sendfile(struct pf_conn *c, int fd, off_t offset, size_t len)
{
	c->silent_since = 0;
	size_t done = 0;
	if (c->ssl)
		return tls_conn_sendfile(c, fd, offset, len);
	conn_nonblock(c);	/* sendfile() has no MSG_DONTWAIT */
	while (done < len) {
		ssize_t n = sendfile(c->fd, fd, &offset, len - done);
		if (n < 0) {
			if (write_again(c) < 0)
				return -1;
			continue;
		}
		if (n == 0) {	/* the file shrank under us */
			errno = EIO;
			return -1;
		}
		done += (size_t)n;
		if (c->slot)
			c->slot->bytes_out += (uint64_t)n;
	}
	return (ssize_t)len;
}

PF_API int pf_conn_printf(struct pf_conn *c, const char *fmt, ...)
{
	char small[1024];
	char *p = small;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(small)) {
		p = malloc((size_t)n + 1);
		if (!p)
			return -1;
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	ssize_t w = pf_conn_write(c, p, (size_t)n);
	if (p != small)
		/* cppcheck-suppress autovarInvalidDeallocation ; p is small only when not malloc'ed */
		free(p);
	return w < 0 ? -1 : n;
}

/*
 * A handler doing its own system calls gets the non-blocking socket it
 * always had (the fast idle wait of a blocking one ends there).
 */
PF_API int pf_conn_fd(const struct pf_conn *c)
{
	conn_nonblock((struct pf_conn *)c);
	return c->fd;
}

PF_API const char *pf_conn_peer(const struct pf_conn *c)
{
	return c->peer;
}

PF_API const char *pf_conn_peer_host(const struct pf_conn *c)
{
	return c->peer_host;
}

PF_API struct pf_worker *pf_conn_worker(struct pf_conn *c)
{
	return c->worker;
}

PF_API int pf_worker_stopping(const struct pf_worker *w)
{
	(void)w;
	return signals_worker_stop != 0;
}

PF_API int pf_worker_stop_fd(const struct pf_worker *w)
{
	(void)w;
	return signals_worker_stop_fd();
}

PF_API const char *pf_worker_service(const struct pf_worker *w)
{
	return w->svc->name;
}

PF_API unsigned pf_worker_generation(const struct pf_worker *w)
{
	return w->generation;
}

/*
 * The worker's own slot only: plain stores, no locks. The master reads
 * these counters as untrusted and only ever adds what grew.
 */
void conn_request_done(struct pf_conn *c, int64_t start_ns)
{
	struct sb_slot *s = c->slot;
	int64_t now = util_now_ns();
	if (!s || start_ns <= 0 || now < start_ns)
		return;
	uint64_t us = (uint64_t)(now - start_ns) / 1000;
	s->requests++;
	s->duration_us += us;
	s->duration_hist[scoreboard_hist_bucket(us)]++;
}

/*
 * A handler returned non-zero: the connection failed. Logged at warn with
 * errno as the handler left it, and counted in the status (handler_errors).
 */
void conn_handler_failed(const struct pf_conn *c, const char *request)
{
	struct pf_worker *w = c->worker;
	const char *on = request ? "request " : "the connection";
	if (!request)
		request = "";
	w->slot->handler_errors++;
	if (errno)
		log_warn("handler %s failed on %s%s from %s", w->handler->name, on, request,
			 c->peer);
	else
		log_warnx("handler %s failed on %s%s from %s (errno not set)", w->handler->name,
			  on, request, c->peer);
}
