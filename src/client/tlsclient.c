/*
 * tlsclient.c - prefork-client --tls, for both modes: one client SSL_CTX
 * (the peer verified against --cacert, or the system's store, unless
 * --insecure; the name checked and sent as SNI is --sni or the target's
 * host name), and a non-blocking handshake, read and write over a socket.
 *
 * Entry points: tlsc_setup, tlsc_cleanup, tlsc_new, tlsc_handshake,
 * tlsc_read, tlsc_write, tlsc_pending, tlsc_shutdown, tlsc_free,
 * tlsc_describe, tlsc_error.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/client.h"

#ifdef PF_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static SSL_CTX *client_ctx;
static char peer_name[256];	/* checked against the certificate and sent as SNI */
static int name_is_ip;
static __thread char last_error[256];

/* The reason of the last failure, from OpenSSL's queue or the verification. */
static void note_error(SSL *ssl)
{
	unsigned long e = ERR_peek_last_error();
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (v != X509_V_OK)
		snprintf(last_error, sizeof(last_error), "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
	else if (e)
		snprintf(last_error, sizeof(last_error), "%s",
			 ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "TLS error");
	else
		snprintf(last_error, sizeof(last_error), "%s",
			 errno ? strerror(errno) : "connection closed during the handshake");
	ERR_clear_error();
}

const char *tlsc_error(void)
{
	return last_error[0] ? last_error : "TLS error";
}

int tlsc_setup(const struct client_opts *o, const struct target *t, char *err, size_t errlen)
{
	unsigned char ip[16];

	client_ctx = SSL_CTX_new(TLS_client_method());
	if (client_ctx == NULL) {
		snprintf(err, errlen, "--tls: cannot create a TLS context");
		return -1;
	}
	SSL_CTX_set_min_proto_version(client_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(client_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(client_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (o->http_path != NULL)
		SSL_CTX_set_alpn_protos(client_ctx, (const unsigned char *)"\x08http/1.1", 9);
	snprintf(peer_name, sizeof(peer_name), "%s",
		 o->sni ? o->sni : t->tg_unix ? "localhost" : t->tg_host);
	name_is_ip = inet_pton(AF_INET, peer_name, ip) == 1 ||
		     inet_pton(AF_INET6, peer_name, ip) == 1;
	if (o->insecure) {
		SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
	if (o->cacert ? SSL_CTX_load_verify_locations(client_ctx, o->cacert, NULL) != 1
		      : SSL_CTX_set_default_verify_paths(client_ctx) != 1) {
		unsigned long e = ERR_peek_last_error();

		snprintf(err, errlen, "--cacert %s: %s", o->cacert ? o->cacert : "(system)",
			 e && ERR_reason_error_string(e) ? ERR_reason_error_string(e)
			 : "cannot load");
		ERR_clear_error();
		SSL_CTX_free(client_ctx);
		client_ctx = NULL;
		return -1;
	}
	return 0;
}

void tlsc_cleanup(void)
{
	SSL_CTX_free(client_ctx);
	client_ctx = NULL;
}

void *tlsc_new(int fd)
{
	SSL *ssl = SSL_new(client_ctx);

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	if (!name_is_ip)
		SSL_set_tlsext_host_name(ssl, peer_name);
	if (SSL_CTX_get_verify_mode(client_ctx) != SSL_VERIFY_NONE) {
		X509_VERIFY_PARAM *p = SSL_get0_param(ssl);

		if (name_is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(p, peer_name);
		else
			X509_VERIFY_PARAM_set1_host(p, peer_name, 0);
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

/* After a call that returned r <= 0: -1 with errno EAGAIN (*want_write set) or another. */
static int map_error(SSL *ssl, int r, bool *want_write)
{
	int saved = errno;

	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		*want_write = false;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want_write = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return 0;
	case SSL_ERROR_SYSCALL:
		errno = saved ? saved : ECONNRESET;
		note_error(ssl);
		errno = saved ? saved : ECONNRESET;
		return -1;
	default:
		note_error(ssl);
		errno = EPROTO;
		return -1;
	}
}

int tlsc_handshake(void *p, bool *want_write)
{
	SSL *ssl = p;
	int r = SSL_do_handshake(ssl);

	*want_write = false;
	if (r == 1)
		return 1;
	if (map_error(ssl, r, want_write) == 0) {
		snprintf(last_error, sizeof(last_error), "connection closed during the handshake");
		errno = ECONNRESET;
		return -1;
	}
	return errno == EAGAIN ? 0 : -1;
}

ssize_t tlsc_read(void *p, void *buf, size_t len)
{
	bool want_write;
	int n = SSL_read(p, buf, len > 1u << 30 ? 1 << 30 : (int)len);

	return n > 0 ? n : map_error(p, n, &want_write);
}

ssize_t tlsc_write(void *p, const void *buf, size_t len)
{
	bool want_write;
	int n = SSL_write(p, buf, len > 1u << 30 ? 1 << 30 : (int)len);

	if (n > 0)
		return n;
	if (map_error(p, n, &want_write) == 0)
		errno = EPIPE;
	return -1;
}

bool tlsc_pending(void *p)
{
	return SSL_pending(p) > 0;
}

void tlsc_shutdown(void *p)
{
	SSL_shutdown(p);
	ERR_clear_error();
}

void tlsc_free(void *p)
{
	SSL_free(p);
}

const char *tlsc_describe(void *p, char *buf, size_t len)
{
	const unsigned char *alpn = NULL;
	unsigned alen = 0;

	SSL_get0_alpn_selected(p, &alpn, &alen);
	snprintf(buf, len, "%s %s%s%.*s%s", SSL_get_version(p),
		 SSL_CIPHER_get_name(SSL_get_current_cipher(p)), alen ? " ALPN " : "",
		 (int)alen, alen ? (const char *)alpn : "",
		 SSL_session_reused(p) ? " (resumed)" : "");
	return buf;
}

#else /* !PF_TLS */

const char *tlsc_error(void)
{
	return "built without TLS";
}

int tlsc_setup(const struct client_opts *o, const struct target *t, char *err, size_t errlen)
{
	(void)o;
	(void)t;
	snprintf(err, errlen, "--tls: this prefork-client was built without TLS");
	return -1;
}

void tlsc_cleanup(void)
{
}

void *tlsc_new(int fd)
{
	(void)fd;
	return NULL;
}

int tlsc_handshake(void *p, bool *want_write)
{
	(void)p;
	*want_write = false;
	errno = ENOTSUP;
	return -1;
}

ssize_t tlsc_read(void *p, void *buf, size_t len)
{
	(void)p;
	(void)buf;
	(void)len;
	errno = ENOTSUP;
	return -1;
}

ssize_t tlsc_write(void *p, const void *buf, size_t len)
{
	(void)p;
	(void)buf;
	(void)len;
	errno = ENOTSUP;
	return -1;
}

bool tlsc_pending(void *p)
{
	(void)p;
	return false;
}

void tlsc_shutdown(void *p)
{
	(void)p;
}

void tlsc_free(void *p)
{
	(void)p;
}

const char *tlsc_describe(void *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "none");
	return buf;
}

#endif
