/*
 * tls.h - what the master and the workers know of TLS: the `tls` block
 * (tls_conf.c), the SSL_CTX built from it (tls_ctx.c) and the master's
 * warm-up (tls_warm.c). OpenSSL's own types stay out of it. Included by
 * internal.h; include internal.h, not this file.
 */
#ifndef PF_TLS_TLS_H
#define PF_TLS_TLS_H

/* ---- tls/tls_conf.c: the `tls` block of a service ---- */

#define TLS_MAX_CERTS 16
#define TLS_PROTO_12 1		/* bits of tls_conf.protocols */
#define TLS_PROTO_13 2

struct ssl_ctx_st;		/* OpenSSL's SSL_CTX, kept out of this header */
struct ssl_st;

struct tls_cert_conf {
	char *certificate, *key;	/* resolved paths */
	int cert_line, key_line;
};

struct tls_conf {
	const char *file;		/* the configuration file, for messages */
	int line;			/* of the block */
	struct tls_cert_conf certs[TLS_MAX_CERTS];	/* [0]: the default one */
	int ncerts;
	int protocols;			/* TLS_PROTO_* bits */
	char *ciphers;			/* TLS 1.2 list (OpenSSL syntax) */
	char *ciphersuites;		/* TLS 1.3 list */
	int ciphers_line, ciphersuites_line;
	char *alpn;			/* "http/1.1" or "" (none) */
	int session_tickets;
	double session_timeout;		/* ticket lifetime; keys rotate at this period */
	struct ssl_ctx_st *ctx;		/* built by tls_ctx_build in the master */
	struct ssl_ctx_st *sni_ctx[TLS_MAX_CERTS];	/* [i]: certs[i] (0 is ctx) */
	char ktls_note[96];		/* which sendfile path, and why */
	int ktls;			/* kTLS offload may be used (kernel + OpenSSL) */
	unsigned char ticket_secret[32];	/* the generation's ticket key seed */
};
/*
 * Parse and check a `tls` group into a new tls_conf (NULL with errors in
 * errs). handler: the service's handler name (http gets ALPN http/1.1).
 * Then build its SSL_CTX (tls_ctx_build): certificates are read here, in
 * the master, before privileges are dropped.
 */
struct tls_conf *tls_conf_load(const config_setting_t *g, const char *file, const char *dir,
			       const char *handler, struct errlist *errs);
void tls_conf_free(struct tls_conf *t);
/* A `protocols` value ("TLSv1.2 TLSv1.3") as TLS_PROTO_* bits; -1 with a message. */
int tls_conf_parse_protocols(const char *text, char *err, size_t errlen);
/* Is TLS built in? (-v says so) */
int tls_conf_available(void);
const char *tls_conf_library(void);

/* ---- tls/tls_ctx.c: SSL_CTX from a tls_conf (the master) ---- */

/* Build t->ctx; every problem goes to errs as FILE:LINE, warnings to the log. 0 or -1. */
int tls_ctx_build(struct tls_conf *t, struct errlist *errs);
void tls_ctx_free(struct tls_conf *t);
/* ---- tls/tls_warm.c: OpenSSL's lazy tables built in the master ---- */
/* One in-memory handshake with ctx before workers fork; 0, or -1 (harmless). */
int tls_warm_up(struct ssl_ctx_st *ctx);

#endif
