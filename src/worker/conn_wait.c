/*
 * conn_wait.c - the waits under every connection read and write, plain or
 * TLS: poll one descriptor with a timeout, and cut a wait to the
 * connection's per-request deadline (pf_conn_set_deadline). The lowest
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
