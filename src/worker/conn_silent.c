/*
 * conn_silent.c - silent-connection floods: may a connection whose client
 * has not spoken (no first byte of a plain request, or a TLS handshake not
 * finished) go on holding its worker while other clients queue? Below
 * conn.c (first reads) and tls/tls_conn.c (the handshake); above
 * conn_wait.c. Entry points: conn_silent_idle_worker,
 * conn_silent_idle_worker_recent, conn_silent_listen_pending,
 * conn_silent_should_yield, conn_silent_wait.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define QUEUED_RECHECK_NS 250000000LL	/* workers free: look again this often */
#define QUEUED_CROWD_NS 50000000LL	/* all busy, c young: is the queue crowding? */

int conn_silent_idle_worker(const struct pf_worker *w)
{
	return scoreboard_any_idle(w->sb_service);
}

/*
 * The wait between kept-alive requests picks its slice by
 * conn_silent_idle_worker on every request; counting the scoreboard each
 * time read every slot (about 60 instructions a slot: 4,000 a request with
 * 64 workers). An answer 10 ms old is as good: the slice it picks already
 * lasts 50 or 250 ms, during which workers come and go unseen.
 */
#define IDLE_MEMO_NS 10000000LL

int conn_silent_idle_worker_recent(const struct pf_worker *w, int64_t now)
{
	static int known, idle;
	static int64_t seen_ns;
	if (!known || now < seen_ns || now - seen_ns >= IDLE_MEMO_NS) {
		idle = conn_silent_idle_worker(w);
		seen_ns = now;
		known = 1;
	}
	return idle;
}

int conn_silent_listen_pending(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/*
 * Is the listen queue at least half full? Then the kernel is about to drop
 * the SYNs of new clients, and a silent connection gets no grace at all.
 * (TCP_INFO of a listener: tcpi_unacked is the queue, tcpi_sacked its
 * size.) Unix sockets do not say: never.
 */
static int listen_crowded(int lfd)
{
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	if (getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0 ||
	    tl < offsetof(struct tcp_info, tcpi_sacked) + sizeof(ti.tcpi_sacked))
		return 0;
	return ti.tcpi_sacked > 0 && 2 * ti.tcpi_unacked >= ti.tcpi_sacked;
}

void conn_silent_age(struct pf_conn *c)
{
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	if (!c->silent_age_unread)
		return;
	c->silent_age_unread = 0;
	/* No data since the handshake: the last data received is the handshake's. */
	if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 &&
	    tl >= offsetof(struct tcp_info, tcpi_last_data_recv) + sizeof(ti.tcpi_last_data_recv)) {
		int64_t since = util_now_ns() - (int64_t)ti.tcpi_last_data_recv * 1000000LL;
		if (since < c->silent_since)
			c->silent_since = since;
	}
}

/* conn_silent_should_yield, told whether some worker of the service is idle. */
static int should_yield(struct pf_conn *c, int64_t now, int spoke, int lfd, int idle)
{
	/* The scoreboard first: while a worker is idle, no poll() of the listener. */
	if (!c->silent_since || !c->worker || lfd < 0 || signals_worker_stop || idle ||
	    !conn_silent_listen_pending(lfd))
		return 0;
	conn_silent_age(c);
	if (now - c->silent_since < CONN_SILENT_GRACE_NS && (spoke || !listen_crowded(lfd)))
		return 0;
	/*
	 * About to give it up as silent: has it spoken since it was last
	 * looked at? (A plain connection taken while a worker was free was
	 * never asked at accept; its request may be waiting, unread.)
	 */
	if (c->rlen)
		return 0;
	if (!c->ssl) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, 0) > 0 && p.revents)
			return 0;
	}
	return 1;
}

int conn_silent_should_yield(struct pf_conn *c, int64_t now, int spoke)
{
	int lfd = signals_worker_listen_fd();
	if (!c->silent_since || !c->worker || lfd < 0 || signals_worker_stop)
		return 0;
	return should_yield(c, now, spoke, lfd, conn_silent_idle_worker(c->worker));
}

int conn_silent_wait(struct pf_conn *c, short events, double timeout, int spoke)
{
	int64_t deadline = timeout > 0 ? util_now_ns() + (int64_t)(timeout * 1e9) : 0;
	for (;;) {
		int64_t now = util_now_ns();
		int64_t left = deadline ? deadline - now : INT64_MAX;
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		int lfd = signals_worker_listen_fd();
		/* One look at the scoreboard serves both questions below. */
		int idle = lfd < 0 || signals_worker_stop || !c->worker ||
			   conn_silent_idle_worker(c->worker);
		if (should_yield(c, now, spoke, lfd, idle)) {
			c->yielded = 1;
			errno = EAGAIN;
			return -1;
		}
		if (signals_worker_stop && c->in_request)
			return conn_wait_conn(c, events, (double)left / 1e9);	/* its stop grace */
		int64_t young = CONN_SILENT_GRACE_NS - (now - c->silent_since);
		/*
		 * Old enough: wake when someone queues. Young: look again when
		 * it is old enough, and meanwhile every QUEUED_CROWD_NS while
		 * others queue (the queue may crowd).
		 */
		int busy = !idle;
		if (busy)
			conn_silent_age(c);	/* young must count its time queued */
		int watch = young <= 0 && busy;
		int64_t wait = watch ? left : !busy ? QUEUED_RECHECK_NS :
			       young < QUEUED_CROWD_NS ? young : QUEUED_CROWD_NS;
		if (wait > left)
			wait = left;
		struct pollfd p[2] = { { .fd = c->fd, .events = events },
				       { .fd = lfd, .events = POLLIN } };
		int n = poll(p, watch ? 2 : 1, (int)((wait + 999999) / 1000000));
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0 && p[0].revents)
			return 0;
		if (watch && n > 0 && (p[1].revents & (POLLERR | POLLHUP | POLLNVAL)))
			return conn_wait_conn(c, events, (double)left / 1e9);
	}
}
