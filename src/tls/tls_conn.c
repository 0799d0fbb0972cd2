/*
 * tls_conn.c - TLS on one accepted connection, in the worker: the
 * handshake (after the PROXY header, before the handler, bounded by
 * read_timeout as a whole, and given up early, as a silent plain
 * connection is, when it stalls while other clients queue), and the
 * record layer under pf_conn_read, write, writev, printf and sendfile, so
 * handlers serve TLS unchanged.
 * OpenSSL never blocks on the socket (its BIO, tls_bio.c, passes
 * MSG_DONTWAIT; with kTLS the socket is non-blocking): each OpenSSL call is
 * tried first, and WANT_READ / WANT_WRITE wait in poll() with the same
 * deadlines as plain connections. The one exception is the idle wait
 * between kept-alive requests on a blocking socket (tls_conn_read_idle): a
 * blocking recv() under SO_RCVTIMEO, as for plain connections.
 * sendfile goes through SSL_sendfile when the kernel's TLS offload took
 * the connection, else it reads the file into a buffer and writes
 * records. Entry points: tls_conn_accept, tls_conn_close, tls_conn_read,
 * tls_conn_read_idle, tls_conn_writev, tls_conn_sendfile,
 * tls_conn_pending, pf_conn_tls.
 */
#include "internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#ifdef PF_TLS
#include "tls_lib.h"

/* One connection per worker at a time: the buffers are the process's. */
#define RECORD 16384
static unsigned char out_buf[RECORD];

static struct {
	struct pf_tls_info info;
	char alpn[32];
} tls_info_store;

/*
 * After a failed call: wait for what OpenSSL wants, or give up (-1 with
 * errno). `spoke`: NULL for a record-layer call; during the handshake, the
 * client's silence is watched as a plain connection's first read is
 * (conn_silent_wait), and *spoke notes that it has sent something.
 */
static int want(struct pf_conn *c, int r, double timeout, int *spoke)
{
	int e = SSL_get_error(c->ssl, r);
	int saved = errno;
	ERR_clear_error();
	if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && timeout < 0) {
		errno = ETIMEDOUT;	/* pf_conn_set_deadline passed */
		return -1;
	}
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE: {
		short ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		if (!spoke || !c->worker || !c->silent_since)
			return conn_wait_conn(c, ev, timeout);
		int w = conn_silent_wait(c, ev, timeout, *spoke);
		if (w == 0 && ev == POLLIN)
			*spoke = 1;
		return w;
	}
	case SSL_ERROR_SYSCALL:
		if (saved == EINTR)
			return 0;
		errno = saved ? saved : ECONNRESET;
		return -1;
	default:
		errno = ECONNRESET;
		return -1;
	}
}

int tls_conn_accept(struct pf_conn *c, const struct tls_conf *t, double timeout)
{
	int64_t deadline = util_now_ns() + (int64_t)(timeout * 1e9);
	SSL *ssl = SSL_new(t->ctx);
	/* kTLS works through OpenSSL's socket BIO only (on a non-blocking socket). */
	if (!ssl || (t->ktls && !c->blocking ? SSL_set_fd(ssl, c->fd) != 1
					     : tls_bio_attach(ssl, c) < 0)) {
		SSL_free(ssl);
		ERR_clear_error();
		return -1;
	}
	c->ssl = ssl;
	/*
	 * TLS writes come in small pieces (a session ticket, then the first
	 * response): Nagle would hold the second for the client's delayed ACK.
	 */
	if (c->peer_sa.ss_family == AF_INET || c->peer_sa.ss_family == AF_INET6) {
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	/*
	 * Silent-connection floods: until the handshake is done the client has
	 * not spoken. Its silence runs from accept (or from its time silent in
	 * the listen queue), less the time the server itself works: a client
	 * that sends nothing or trickles its handshake gives its worker up
	 * after CONN_SILENT_GRACE_NS when others queue and no worker is free.
	 */
	int spoke = !c->silent_since;	/* its first bytes were there at accept */
	conn_silent_age(c);	/* before the server's own time is taken out below */
	if (!c->silent_since)
		c->silent_since = util_now_ns();
	for (;;) {
		int64_t t0 = util_now_ns();
		int r = SSL_accept(ssl);
		c->silent_since += util_now_ns() - t0;
		if (r == 1 && !c->rlen)
			break;
		if (r == 1)
			r = 0;	/* bytes sent with the ClientHello beyond the handshake */
		int64_t left = deadline - util_now_ns();
		if (r == 0 || left <= 0 || want(c, r, (double)left / 1e9, &spoke) < 0) {
			ERR_clear_error();
			SSL_free(ssl);
			c->ssl = NULL;
			return -1;
		}
	}
#ifndef OPENSSL_NO_KTLS
	c->ktls_send = BIO_get_ktls_send(SSL_get_wbio(ssl)) > 0;
#endif
	return 0;
}

int tls_conn_start(struct pf_conn *c, struct pf_worker *w)
{
	struct sb_service *sv = &scoreboard->svcs[w->sb_service];
	if (tls_conn_accept(c, w->svc->tls, w->svc->read_timeout) < 0) {
		__atomic_fetch_add(&sv->tls_failures, 1, __ATOMIC_RELAXED);
		if (log_get_level() >= PF_LOG_DEBUG)
			log_debug("TLS handshake with %s %s", c->peer,
				  c->yielded ? "given up: silent, with clients queued and no worker free"
				  : "failed");
		return -1;
	}
	__atomic_fetch_add(&sv->tls_handshakes, 1, __ATOMIC_RELAXED);
	if (SSL_session_reused(c->ssl))
		__atomic_fetch_add(&sv->tls_resumed, 1, __ATOMIC_RELAXED);
	if (c->slot)
		snprintf(c->slot->tls, sizeof(c->slot->tls), "%s", SSL_get_version(c->ssl));
	return 0;
}

void tls_conn_close(struct pf_conn *c)
{
	if (c->slot)
		c->slot->tls[0] = '\0';
	if (!c->ssl)
		return;
	/* close_notify when the socket takes it at once; never wait for the answer. */
	if (!SSL_in_init(c->ssl))
		SSL_shutdown(c->ssl);
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->tls_info = NULL;
}

int tls_conn_pending(const struct pf_conn *c)
{
	return c->ssl && (SSL_pending(c->ssl) > 0 || SSL_has_pending(c->ssl));
}

/*
 * One record may take several waits: `timeout` bounds them all, as it
 * bounds the one wait of a plain read (a client trickling a record gets
 * no longer).
 */
/*
 * What SSL_read gave: bytes (counted), 0 at the peer's close_notify, or -1
 * with *err set to SSL_get_error's verdict for the caller to act on.
 */
static int read_result(struct pf_conn *c, int n, int *err)
{
	if (n > 0) {
		if (c->slot)
			c->slot->bytes_in += (uint64_t)n;
		return n;
	}
	*err = SSL_get_error(c->ssl, n);
	if (*err == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		return 0;
	}
	return -1;
}

ssize_t tls_conn_read(struct pf_conn *c, void *buf, size_t len, double timeout)
{
	int ask = len > (size_t)RECORD * 4 ? RECORD * 4 : (int)len;
	int64_t end = 0;
	for (;;) {
		int e, r = SSL_read(c->ssl, buf, ask), n = read_result(c, r, &e);
		if (n >= 0)
			return n;
		double left = timeout;
		if (timeout > 0) {
			int64_t now = util_now_ns();
			if (!end)
				end = now + (int64_t)(timeout * 1e9);
			left = end > now ? (double)(end - now) / 1e9 : -1;
		}
		if (want(c, r, left, NULL) < 0)
			return -1;
	}
}

ssize_t tls_conn_read_idle(struct pf_conn *c, void *buf, size_t len)
{
	int ask = len > (size_t)RECORD * 4 ? RECORD * 4 : (int)len;
	c->tls_idle = 1;
	int r = SSL_read(c->ssl, buf, ask);
	int saved = errno;
	c->tls_idle = 0;
	int e, n = read_result(c, r, &e);
	if (n >= 0)
		return n;
	if (e == SSL_ERROR_WANT_READ && !SSL_has_pending(c->ssl)) {
		/* Nothing came in the slice (EAGAIN), or a signal (EINTR). */
		ERR_clear_error();
		errno = saved == EINTR ? EINTR : EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		/* A record begun, or OpenSSL has to write: the rest as any read. */
		ERR_clear_error();
		double t = conn_wait_timeout(c, c->read_timeout);
		return t < 0 ? -1 : tls_conn_read(c, buf, len, t);
	}
	ERR_clear_error();
	errno = e == SSL_ERROR_SYSCALL && saved ? saved : ECONNRESET;
	return -1;
}

static int write_all(struct pf_conn *c, const void *p, size_t len)
{
	size_t done = 0;
	while (done < len) {
		size_t chunk = len - done > 1u << 30 ? 1u << 30 : len - done;
		int n = SSL_write(c->ssl, (const char *)p + done, (int)chunk);
		if (n > 0) {
			done += (size_t)n;
			if (c->slot)
				c->slot->bytes_out += (uint64_t)n;
			continue;
		}
		if (want(c, n, conn_wait_timeout(c, c->write_timeout), NULL) < 0) {
			if (errno != ETIMEDOUT)
				errno = EPIPE;
			return -1;
		}
	}
	return 0;
}

/* Small pieces are gathered into one record; large ones go out as they are. */
ssize_t tls_conn_writev(struct pf_conn *c, const struct iovec *iov, int iovcnt)
{
	size_t total = 0, used = 0;
	for (int i = 0; i < iovcnt; i++) {
		const char *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;
		total += n;
		if (used + n <= RECORD) {
			memcpy(out_buf + used, p, n);
			used += n;
			continue;
		}
		if (used && write_all(c, out_buf, used) < 0)
			return -1;
		used = 0;
		if (n >= RECORD) {
			if (write_all(c, p, n) < 0)
				return -1;
		} else {
			memcpy(out_buf, p, n);
			used = n;
		}
	}
	if (used && write_all(c, out_buf, used) < 0)
		return -1;
	return (ssize_t)total;
}

ssize_t tls_conn_sendfile(struct pf_conn *c, int fd, off_t offset, size_t len)
{
	size_t done = 0;
#ifndef OPENSSL_NO_KTLS
	if (c->ktls_send) {
		while (done < len) {
			ossl_ssize_t n = SSL_sendfile(c->ssl, fd, offset + (off_t)done, len - done, 0);
			if (n > 0) {
				done += (size_t)n;
				if (c->slot)
					c->slot->bytes_out += (uint64_t)n;
				continue;
			}
			if (want(c, (int)n, conn_wait_timeout(c, c->write_timeout), NULL) < 0)
				return -1;
		}
		return (ssize_t)len;
	}
#endif
	while (done < len) {
		size_t want_n = len - done < RECORD ? len - done : RECORD;
		ssize_t n = pread(fd, out_buf, want_n, offset + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)	/* the file shrank under us */
				errno = EIO;
			return -1;
		}
		if (write_all(c, out_buf, (size_t)n) < 0)
			return -1;
		done += (size_t)n;
	}
	return (ssize_t)len;
}

PF_API const struct pf_tls_info *pf_conn_tls(struct pf_conn *c)
{
	if (!c || !c->ssl)
		return NULL;
	if (c->tls_info)
		return c->tls_info;
	struct pf_tls_info *i = &tls_info_store.info;
	const unsigned char *alpn = NULL;
	unsigned alen = 0;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	if (alen >= sizeof(tls_info_store.alpn))
		alen = 0;
	if (alen)
		memcpy(tls_info_store.alpn, alpn, alen);
	tls_info_store.alpn[alen] = '\0';
	const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
	i->protocol = SSL_get_version(c->ssl);
	i->cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl));
	i->sni = sni ? sni : "";
	i->alpn = tls_info_store.alpn;
	i->resumed = SSL_session_reused(c->ssl);
	c->tls_info = i;
	return i;
}

#else /* !PF_TLS */

int tls_conn_accept(struct pf_conn *c, const struct tls_conf *t, double timeout)
{
	(void)c;
	(void)t;
	(void)timeout;
	errno = ENOTSUP;
	return -1;
}

int tls_conn_start(struct pf_conn *c, struct pf_worker *w)
{
	(void)c;
	(void)w;
	errno = ENOTSUP;
	return -1;
}

void tls_conn_close(struct pf_conn *c)
{
	(void)c;
}

int tls_conn_pending(const struct pf_conn *c)
{
	(void)c;
	return 0;
}

ssize_t tls_conn_read_idle(struct pf_conn *c, void *buf, size_t len)
{
	(void)c;
	(void)buf;
	(void)len;
	errno = ENOTSUP;
	return -1;
}

ssize_t tls_conn_read(struct pf_conn *c, void *buf, size_t len, double timeout)
{
	(void)c;
	(void)buf;
	(void)len;
	(void)timeout;
	errno = ENOTSUP;
	return -1;
}

ssize_t tls_conn_writev(struct pf_conn *c, const struct iovec *iov, int iovcnt)
{
	(void)c;
	(void)iov;
	(void)iovcnt;
	errno = ENOTSUP;
	return -1;
}

ssize_t tls_conn_sendfile(struct pf_conn *c, int fd, off_t offset, size_t len)
{
	(void)c;
	(void)fd;
	(void)offset;
	(void)len;
	errno = ENOTSUP;
	return -1;
}

PF_API const struct pf_tls_info *pf_conn_tls(struct pf_conn *c)
{
	(void)c;
	return NULL;
}

#endif
