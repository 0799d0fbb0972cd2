/*
 * tls_ctx.c - the master's side of TLS: one SSL_CTX per certificate of a
 * service's tls block, built in the start-up and reload transactions
 * (config_load), before any privilege is dropped. Workers inherit the
 * contexts across fork and never open a certificate or key file.
 *
 * Every problem is a FILE:LINE error (unreadable file, key that does not
 * match its certificate, cipher list that matches nothing); an expired
 * certificate is a warning in the log. Defaults: TLS 1.2 minimum, no
 * renegotiation, no compression, the server's cipher preference, ALPN
 * http/1.1 for http services, SNI picks the certificate whose names match.
 *
 * Session resumption across workers: session tickets whose keys derive
 * from a secret the master draws per generation (per configuration load)
 * and from the wall-clock period (session_timeout): every worker computes
 * the same keys, they rotate each period, the previous period's key still
 * decrypts (and the ticket is renewed). Entry points: tls_ctx_build,
 * tls_ctx_free.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef PF_TLS
#include "tls_lib.h"

/* Mozilla's "intermediate" TLS 1.2 list, without DHE (no parameters to manage). */
#define DEFAULT_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* The last OpenSSL error as text (and the queue cleared). */
static const char *ssl_error_text(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (!e)
		snprintf(buf, len, "unknown error");
	else
		snprintf(buf, len, "%s", ERR_reason_error_string(e) ? ERR_reason_error_string(e)
			 : "unknown error");
	ERR_clear_error();
	return buf;
}

/* ---- session ticket keys ---- */

struct ticket_keys {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char mac[32];
};

static void derive(const struct tls_conf *t, uint64_t period, const char *label,
		   unsigned char *out, size_t len)
{
	unsigned char msg[32], md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t n = strlen(label) + 1;	/* with its NUL, then the period */
	memcpy(msg, label, n);
	for (int i = 0; i < 8; i++)
		msg[n + (size_t)i] = (unsigned char)(period >> (8 * i));
	HMAC(EVP_sha256(), t->ticket_secret, sizeof(t->ticket_secret), msg, n + 8, md, &mdlen);
	memcpy(out, md, len <= mdlen ? len : mdlen);
}

static void ticket_keys(const struct tls_conf *t, uint64_t period, struct ticket_keys *k)
{
	derive(t, period, "name", k->name, sizeof(k->name));
	derive(t, period, "aes", k->aes, sizeof(k->aes));
	derive(t, period, "mac", k->mac, sizeof(k->mac));
}

static int set_mac_key(EVP_MAC_CTX *hctx, unsigned char *key, size_t len)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, len),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	return EVP_MAC_CTX_set_params(hctx, params);
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct tls_conf *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (!t)
		return -1;
	uint64_t period = (uint64_t)time(NULL) / (uint64_t)t->session_timeout;
	struct ticket_keys k;
	if (enc) {
		ticket_keys(t, period, &k);
		memcpy(key_name, k.name, sizeof(k.name));
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) <= 0 ||
		    !EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) ||
		    !set_mac_key(hctx, k.mac, sizeof(k.mac)))
			return -1;
		return 1;
	}
	for (uint64_t back = 0; back < 2 && back <= period; back++) {
		ticket_keys(t, period - back, &k);
		if (memcmp(key_name, k.name, sizeof(k.name)) != 0)
			continue;
		if (!set_mac_key(hctx, k.mac, sizeof(k.mac)) ||
		    !EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv))
			return -1;
		return back ? 2 : 1;	/* 2: valid, but issue a fresh ticket */
	}
	return 0;	/* not ours (another generation, or too old): full handshake */
}

/* ---- SNI and ALPN ---- */

static int servername_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_conf *t = arg;
	(void)alert;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (!name || !name[0])
		return SSL_TLSEXT_ERR_OK;
	/* The default certificate first, then the others in the order given. */
	for (int i = 0; i < t->ncerts; i++) {
		SSL_CTX *c = i ? t->sni_ctx[i] : t->ctx;
		X509 *x = SSL_CTX_get0_certificate(c);
		if (x && X509_check_host(x, name, 0, 0, NULL) == 1) {
			if (i)
				SSL_set_SSL_CTX(ssl, c);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_OK;	/* no match: the default certificate */
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char http11[] = "\x08http/1.1";
	unsigned char *sel = NULL;
	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, http11, sizeof(http11) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* ---- kTLS ---- */

/* Does the running kernel offer the "tls" upper-layer protocol? */
static int kernel_has_ktls(void)
{
	char buf[256] = "";
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *save = NULL;
	for (char *p = strtok_r(buf, " \t\n", &save); p; p = strtok_r(NULL, " \t\n", &save))
		if (strcmp(p, "tls") == 0)
			return 1;
	return 0;
}

static void detect_ktls(struct tls_conf *t)
{
#ifdef OPENSSL_NO_KTLS
	t->ktls = 0;
	snprintf(t->ktls_note, sizeof(t->ktls_note), "read+write (OpenSSL built without kTLS)");
#else
	t->ktls = kernel_has_ktls();
	snprintf(t->ktls_note, sizeof(t->ktls_note), "%s",
		 t->ktls ? "SSL_sendfile (kTLS)" : "read+write (the kernel has no tls module)");
#endif
}

/* ---- building ---- */

static void err_line(struct errlist *errs, const struct tls_conf *t, int line, const char *fmt,
		     ...) PF_PRINTF_ATTR(4, 5);
static void err_line(struct errlist *errs, const struct tls_conf *t, int line, const char *fmt,
		     ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errlist_add(errs, "%s:%d: %s", t->file, line > 0 ? line : t->line, msg);
}

/* Can this file be opened for reading? A message when not. */
static int readable(struct errlist *errs, const struct tls_conf *t, int line, const char *what,
		    const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		err_line(errs, t, line, "tls: %s '%s': cannot read: %s", what, path, strerror(errno));
		return 0;
	}
	fclose(f);
	return 1;
}

static void warn_dates(const struct tls_conf *t, const struct tls_cert_conf *cc, X509 *x)
{
	const ASN1_TIME *after = X509_get0_notAfter(x), *before = X509_get0_notBefore(x);
	if (after && X509_cmp_current_time(after) < 0)
		log_warnx("%s:%d: warning: tls: certificate '%s' has expired", t->file,
			  cc->cert_line, cc->certificate);
	else if (before && X509_cmp_current_time(before) > 0)
		log_warnx("%s:%d: warning: tls: certificate '%s' is not valid yet", t->file,
			  cc->cert_line, cc->certificate);
}

static SSL_CTX *build_one(struct tls_conf *t, const struct tls_cert_conf *cc,
			  struct errlist *errs)
{
	char e[256];
	int before = errs->count;
	if (!readable(errs, t, cc->cert_line, "certificate", cc->certificate) |
	    !readable(errs, t, cc->key_line, "key", cc->key))
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		err_line(errs, t, t->line, "tls: cannot create a context: %s",
			 ssl_error_text(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, (t->protocols & TLS_PROTO_12) ? TLS1_2_VERSION
				      : TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, (t->protocols & TLS_PROTO_13) ? TLS1_3_VERSION
				      : TLS1_2_VERSION);
	uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			SSL_OP_CIPHER_SERVER_PREFERENCE |
			SSL_OP_IGNORE_UNEXPECTED_EOF;
	if (!t->session_tickets)
		opts |= SSL_OP_NO_TICKET;
#ifndef OPENSSL_NO_KTLS
	if (t->ktls)
		opts |= SSL_OP_ENABLE_KTLS;
#endif
	SSL_CTX_set_options(ctx, opts);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/*
	 * Read ahead: one read() takes a whole record (or several) instead of a
	 * 5-byte header and then the body; what it took beyond the record is
	 * seen by SSL_has_pending (tls_conn_pending), so no wait misses it.
	 */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (!SSL_CTX_set_cipher_list(ctx, t->ciphers ? t->ciphers : DEFAULT_CIPHERS))
		err_line(errs, t, t->ciphers_line, "tls: 'ciphers': no cipher matches '%s'",
			 t->ciphers ? t->ciphers : DEFAULT_CIPHERS);
	if (t->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, t->ciphersuites))
		err_line(errs, t, t->ciphersuites_line,
			 "tls: 'ciphersuites': no TLS 1.3 cipher suite matches '%s'", t->ciphersuites);
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cc->certificate) != 1) {
		err_line(errs, t, cc->cert_line, "tls: certificate '%s': %s", cc->certificate,
			 ssl_error_text(e, sizeof(e)));
	} else if (SSL_CTX_use_PrivateKey_file(ctx, cc->key, SSL_FILETYPE_PEM) != 1) {
		unsigned long code = ERR_peek_last_error();
		if (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH)
			err_line(errs, t, cc->key_line,
				 "tls: key '%s' does not match certificate '%s'", cc->key,
				 cc->certificate);
		else
			err_line(errs, t, cc->key_line, "tls: key '%s': %s", cc->key,
				 ssl_error_text(e, sizeof(e)));
		ERR_clear_error();
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		err_line(errs, t, cc->key_line, "tls: key '%s' does not match certificate '%s'",
			 cc->key, cc->certificate);
		ERR_clear_error();
	} else {
		warn_dates(t, cc, SSL_CTX_get0_certificate(ctx));
	}
	if (errs->count > before) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Resumption: stateless tickets only, so every worker can resume every session. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_timeout(ctx, (long)t->session_timeout);
	SSL_CTX_set_num_tickets(ctx, t->session_tickets ? 1 : 0);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"prefork", 7);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	SSL_CTX_set_app_data(ctx, t);
	SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, t);
	if (t->alpn && t->alpn[0])
		SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, t);
	return ctx;
}

int tls_ctx_build(struct tls_conf *t, struct errlist *errs)
{
	int before = errs->count;
	char why[256];
	if (tls_lib_load(why, sizeof(why)) < 0) {
		err_line(errs, t, t->line, "tls: %s", why);
		return -1;
	}
	detect_ktls(t);
	if (RAND_bytes(t->ticket_secret, sizeof(t->ticket_secret)) != 1) {
		err_line(errs, t, t->line, "tls: no random bytes for the ticket keys");
		return -1;
	}
	for (int i = 0; i < t->ncerts; i++) {
		SSL_CTX *c = build_one(t, &t->certs[i], errs);
		if (i == 0)
			t->ctx = c;
		else
			t->sni_ctx[i] = c;
	}
	if (errs->count > before) {
		tls_ctx_free(t);
		return -1;
	}
	/* Workers then share what a first handshake builds (tls_warm.c). */
	for (int i = 0; i < t->ncerts; i++)
		log_debug("%s:%d: tls: warm-up handshake with '%s': %s", t->file,
			  t->certs[i].cert_line, t->certs[i].certificate,
			  tls_warm_up(i ? t->sni_ctx[i] : t->ctx) == 0 ? "done" : "failed");
	return 0;
}

void tls_ctx_free(struct tls_conf *t)
{
	if (!tls_lib_loaded())
		return;	/* nothing was built */
	SSL_CTX_free(t->ctx);
	t->ctx = NULL;
	for (int i = 1; i < TLS_MAX_CERTS; i++) {
		SSL_CTX_free(t->sni_ctx[i]);
		t->sni_ctx[i] = NULL;
	}
	OPENSSL_cleanse(t->ticket_secret, sizeof(t->ticket_secret));
}

#else /* !PF_TLS */

int tls_ctx_build(struct tls_conf *t, struct errlist *errs)
{
	errlist_add(errs, "%s:%d: 'tls': this preforkd was built without TLS", t->file, t->line);
	return -1;
}

void tls_ctx_free(struct tls_conf *t)
{
	(void)t;
}

#endif
