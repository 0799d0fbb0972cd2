/*
 * conn_wait.c - the waits under every connection read and write, plain or
 * TLS: poll one descriptor with a timeout, and cut a wait to the
 * connection's per-request deadline (pf_conn_set_deadline), and to the
 * short stop grace of a wait in the middle of a request. The lowest
 * layer of the connection code: conn.c, connbuf.c and tls/tls_conn.c call
 * it, it calls nothing of theirs.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>

int conn_wait_fd(int fd, short events, double timeout)
{
	int64_t deadline = timeout > 0 ? util_now_ns() + (int64_t)(timeout * 1e9) : 0;
	for (;;) {
		int ms = -1;
		if (deadline) {
			int64_t left = deadline - util_now_ns();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			ms = (int)((left + 999999) / 1000000);
		}
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		/* A signal (stop, reopen) must not cut the connection: wait on. */
		if (errno != EINTR)
			return -1;
	}
}

/*
 * Mid-request stop grace. Once the worker is told to stop (stop, reload
 * retiring it, recycle), a wait of a connection in a request (the HTTP
 * engine's, or one with a pf_conn_set_deadline) lasts at most
 * CONN_STOP_GRACE_NS more, or half of what is left of shutdown_timeout
 * (counted from when a wait first saw the stop), whichever is shorter:
 * a stalled client then fails its request (ETIMEDOUT: a 408 from the HTTP
 * engine) and the worker exits and runs fini instead of being killed. Each
 * wait gets its own grace, so a request whose bytes keep coming is never
 * cut. A connection outside a request (an echo session) waits as before:
 * SPEC lets it run until the client closes or shutdown_timeout ends it.
 */
static int64_t conn_wait_stop_seen_ns;

static int64_t stop_grace_end(const struct pf_conn *c, int64_t now)
{
	if (!conn_wait_stop_seen_ns)
		conn_wait_stop_seen_ns = now;
	double window = c->worker->conf ? c->worker->conf->shutdown_timeout : 10.0;
	int64_t grace = (conn_wait_stop_seen_ns + (int64_t)(window * 1e9) - now) / 2;
	if (grace > CONN_STOP_GRACE_NS)
		grace = CONN_STOP_GRACE_NS;
	return grace > 0 ? now + grace : now;
}

int conn_wait_conn(const struct pf_conn *c, short events, double timeout)
{
	if (!c->in_request || !c->worker)
		return conn_wait_fd(c->fd, events, timeout);
	int64_t deadline = timeout > 0 ? util_now_ns() + (int64_t)(timeout * 1e9) : 0;
	int sfd = signals_worker_stop_fd(), stopping = 0;
	for (;;) {
		int64_t now = util_now_ns();
		if (!stopping && signals_worker_stop) {
			stopping = 1;
			int64_t end = stop_grace_end(c, now);
			if (!deadline || end < deadline)
				deadline = end;
		}
		int ms = -1;
		if (deadline) {
			int64_t left = deadline - now;
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			ms = (int)((left + 999999) / 1000000);
		}
		/* p[1]: the stop pipe, so a stop during the wait shortens it. */
		struct pollfd p[2] = { { .fd = c->fd, .events = events },
				       { .fd = sfd, .events = POLLIN } };
		int n = poll(p, !stopping && sfd >= 0 ? 2 : 1, ms);
		if (n > 0 && p[0].revents)
			return 0;
		if (n > 0)
			continue;	/* the stop pipe: see above */
		if (n == 0 && deadline && deadline - util_now_ns() <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

double conn_wait_timeout(const struct pf_conn *c, double timeout)
{
	if (timeout <= 0)
		timeout = 0;	/* forever */
	if (!c->deadline_ns)
		return timeout;
	int64_t left = c->deadline_ns - util_now_ns();
	if (left <= 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	double l = (double)left / 1e9;
	return timeout == 0 || l < timeout ? l : timeout;
}
