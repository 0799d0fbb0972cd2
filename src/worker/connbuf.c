/*
 * connbuf.c - buffered reads on a struct pf_conn: a line reader, peek and
 * unread over the connection's read-ahead buffer (c->rbuf), and the
 * per-request deadline. pf_conn_read* hand out read-ahead bytes first, so
 * all of these mix freely with plain reads, over TLS too (the buffer sits
 * above tls_conn_read).
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

PF_API void pf_conn_set_deadline(struct pf_conn *c, double seconds)
{
	c->deadline_ns = seconds > 0 ? util_now_ns() + (int64_t)(seconds * 1e9) : 0;
	if (seconds > 0 && !c->deadline_ns)
		c->deadline_ns = 1;
	/* A deadline marks a request: its waits get the stop grace (conn_wait_conn). */
	c->in_request = seconds > 0;
}

/* Read once into the empty read-ahead buffer: the count, 0 at EOF, -1. */
static ssize_t fill(struct pf_conn *c)
{
	ssize_t n = pf_conn_read(c, c->rbuf, sizeof(c->rbuf));
	if (n > 0) {
		c->roff = 0;
		c->rlen = (size_t)n;
	}
	return n;
}

PF_API ssize_t pf_conn_peek(struct pf_conn *c, void *buf, size_t len)
{
	if (!c->rlen) {
		ssize_t n = fill(c);
		if (n <= 0)
			return n;
	}
	size_t n = len < c->rlen ? len : c->rlen;
	memcpy(buf, c->rbuf + c->roff, n);
	return (ssize_t)n;
}

PF_API int pf_conn_unread(struct pf_conn *c, const void *buf, size_t len)
{
	if (len > sizeof(c->rbuf) - c->rlen) {
		errno = ENOBUFS;
		return -1;
	}
	if (c->roff >= len) {
		c->roff -= len;
	} else {
		memmove(c->rbuf + len, c->rbuf + c->roff, c->rlen);
		c->roff = 0;
	}
	memcpy(c->rbuf + c->roff, buf, len);
	c->rlen += len;
	return 0;
}

PF_API ssize_t pf_conn_readline(struct pf_conn *c, char *buf, size_t size)
{
	size_t got = 0;
	if (size < 2) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		if (!c->rlen) {
			ssize_t n = fill(c);
			if (n < 0)
				return -1;
			if (n == 0) {	/* EOF: a last line without '\n', or 0 */
				buf[got] = '\0';
				return (ssize_t)got;
			}
		}
		const unsigned char *p = c->rbuf + c->roff;
		const unsigned char *nl = memchr(p, '\n', c->rlen);
		size_t take = nl ? (size_t)(nl - p) + 1 : c->rlen;
		size_t room = size - 1 - got;
		if (take > room) {
			conn_take(c, buf + got, room);
			buf[size - 1] = '\0';
			errno = EMSGSIZE;
			return -1;
		}
		conn_take(c, buf + got, take);
		got += take;
		if (nl) {
			buf[got] = '\0';
			return (ssize_t)got;
		}
	}
}
