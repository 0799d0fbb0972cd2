/*
 * tls_warm.c - one throw-away handshake in the master, in memory, with each
 * SSL_CTX it builds. OpenSSL builds much of what a handshake needs lazily
 * (algorithm fetches and their caches, name maps, the random generator, the
 * ticket key HMAC and cipher): done once here, before workers fork, those
 * pages are inherited and shared, instead of being built again in the
 * private memory of every worker on its first TLS connection.
 * Entry point: tls_warm_up.
 */
#include "internal.h"

#ifdef PF_TLS
#include "tls_lib.h"

#define ROUNDS 16

/* Move what `from` wrote to what `to` reads. */
static void shuttle(SSL *from, SSL *to)
{
	char buf[4096];
	int n;
	while ((n = BIO_read(SSL_get_wbio(from), buf, sizeof(buf))) > 0)
		BIO_write(SSL_get_rbio(to), buf, n);
}

static SSL *mem_ssl(SSL_CTX *ctx)
{
	SSL *s = SSL_new(ctx);
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	if (!s || !r || !w) {
		SSL_free(s);
		BIO_free(r);
		BIO_free(w);
		return NULL;
	}
	SSL_set_bio(s, r, w);
	return s;
}

int tls_warm_up(SSL_CTX *server_ctx)
{
	int ok = 0;
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *cli = cctx ? mem_ssl(cctx) : NULL, *srv = mem_ssl(server_ctx);
	if (!cli || !srv)
		goto out;
	SSL_set_connect_state(cli);
	SSL_set_accept_state(srv);
	int done_c = 0, done_s = 0;
	for (int i = 0; i < ROUNDS && !(done_c && done_s); i++) {
		if (!done_c)
			done_c = SSL_do_handshake(cli) == 1;
		shuttle(cli, srv);
		if (!done_s)
			done_s = SSL_do_handshake(srv) == 1;
		shuttle(srv, cli);
	}
	/* A record each way: the record ciphers, and the client takes the tickets. */
	char byte = 'w';
	if (done_c && done_s && SSL_write(cli, &byte, 1) == 1) {
		shuttle(cli, srv);
		if (SSL_read(srv, &byte, 1) == 1 && SSL_write(srv, &byte, 1) == 1) {
			shuttle(srv, cli);
			ok = SSL_read(cli, &byte, 1) == 1;
		}
	}
out:
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	ERR_clear_error();
	return ok ? 0 : -1;
}

#endif
