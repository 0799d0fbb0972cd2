/*
 * tls_bio.c - the BIO under a worker's TLS connection: OpenSSL's socket BIO
 * reads and writes with read() and write(), whose blocking follows the
 * descriptor's O_NONBLOCK. This one passes MSG_DONTWAIT to every recv() and
 * send() (and MSG_NOSIGNAL), so the connection's socket may stay in
 * blocking mode, as a plain connection's does: a record-layer call never
 * blocks (EAGAIN becomes WANT_READ / WANT_WRITE, waited for in poll() by
 * tls_conn.c), except the first read of the idle wait between two
 * kept-alive requests (c->tls_idle), a blocking recv() cut into slices by
 * SO_RCVTIMEO (conn.c's idle_recv): one system call instead of poll() +
 * read(). Once it has brought bytes, the reads are non-blocking again.
 * It first hands OpenSSL the bytes the worker read ahead into c->rbuf
 * before the handshake (the ClientHello, read instead of polled for).
 * kTLS needs OpenSSL's own socket BIO: a service that may use it keeps
 * SSL_set_fd and a non-blocking socket. Entry point: tls_bio_attach.
 */
#include "internal.h"

#ifdef PF_TLS
#include "tls_lib.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* The process's method table, made on first use (one per worker). */
static BIO_METHOD *method;

static int retryable(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

static int bio_read(BIO *b, char *buf, int len)
{
	struct pf_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (c->rlen) {
		/* Read ahead by the worker before the handshake (conn_watch_silence). */
		size_t n = (size_t)len < c->rlen ? (size_t)len : c->rlen;
		memcpy(buf, c->rbuf + c->roff, n);
		c->roff += n;
		c->rlen -= n;
		if (!c->rlen)
			c->roff = 0;
		return (int)n;
	}
	ssize_t n = recv(c->fd, buf, (size_t)len, c->tls_idle ? 0 : MSG_DONTWAIT);
	if (n > 0) {
		/* The client spoke: the rest of its record is read_timeout's (tls_conn.c). */
		c->tls_idle = 0;
		return (int)n;
	}
	if (n == 0) {
		/* BIO_eof: with SSL_OP_IGNORE_UNEXPECTED_EOF an end is a clean close. */
		BIO_set_flags(b, BIO_FLAGS_IN_EOF);
		return 0;
	}
	if (retryable(errno))
		BIO_set_retry_read(b);
	return -1;
}

static int bio_write(BIO *b, const char *buf, int len)
{
	const struct pf_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	ssize_t n = send(c->fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n >= 0)
		return (int)n;
	if (retryable(errno))
		BIO_set_retry_write(b);
	return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	const struct pf_conn *c = BIO_get_data(b);
	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
	case BIO_C_GET_FD:
		if (ptr)
			*(int *)ptr = c->fd;
		return c->fd;
	default:
		return 0;	/* no kTLS, nothing pending, nothing to duplicate */
	}
}

int tls_bio_attach(SSL *ssl, struct pf_conn *c)
{
	if (!method) {
		BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
					     BIO_TYPE_DESCRIPTOR, "prefork socket");
		if (!m || !BIO_meth_set_read(m, bio_read) || !BIO_meth_set_write(m, bio_write) ||
		    !BIO_meth_set_ctrl(m, bio_ctrl)) {
			BIO_meth_free(m);
			return -1;
		}
		method = m;	/* kept for the process's life */
	}
	BIO *b = BIO_new(method);
	if (!b)
		return -1;
	BIO_set_data(b, c);
	BIO_set_init(b, 1);
	SSL_set_bio(ssl, b, b);	/* one reference for both directions */
	return 0;
}

#endif
