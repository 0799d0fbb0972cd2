/*
 * tls_conf.c - the `tls` block of a service, read into a struct tls_conf:
 *
 *	tls = {
 *		certificate = "cert.pem";	# may hold the chain after the leaf
 *		key = "key.pem";
 *		protocols = "TLSv1.2 TLSv1.3";	# the default; nothing older exists here
 *		ciphers = "...";		# TLS 1.2, OpenSSL syntax
 *		ciphersuites = "...";		# TLS 1.3
 *		certificates = ( { certificate = "b.pem"; key = "b.key"; } );	# by SNI
 *		alpn = "http/1.1";		# default for handler http, "" for none
 *		session_tickets = true;
 *		session_timeout = 3600;		# seconds; ticket keys rotate at this period
 *	};
 *
 * Paths resolve against the configuration file's folder. Every problem is
 * a FILE:LINE error; the block is then handed to tls_ctx_build, which reads
 * the files. Entry points: tls_conf_load, tls_conf_free,
 * tls_conf_parse_protocols.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#ifdef PF_TLS
#include "tls_lib.h"
#endif

int tls_conf_available(void)
{
#ifdef PF_TLS
	return 1;
#else
	return 0;
#endif
}

const char *tls_conf_library(void)
{
#ifdef PF_TLS
	static char why[256];
	if (tls_lib_load(why, sizeof(why)) < 0)
		return why;
	return OpenSSL_version(OPENSSL_VERSION);
#else
	return "none";
#endif
}

int tls_conf_parse_protocols(const char *text, char *err, size_t errlen)
{
	int bits = 0;
	const char *p = text;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, " \t,");
		char word[32];
		snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1), p);
		if (strcmp(word, "TLSv1.2") == 0)
			bits |= TLS_PROTO_12;
		else if (strcmp(word, "TLSv1.3") == 0)
			bits |= TLS_PROTO_13;
		else if (strcmp(word, "TLSv1") == 0 || strcmp(word, "TLSv1.0") == 0 ||
			 strcmp(word, "TLSv1.1") == 0 || strcmp(word, "SSLv3") == 0 ||
			 strcmp(word, "SSLv2") == 0) {
			snprintf(err, errlen, "protocol '%s' is not supported (TLS 1.2 is the minimum)",
				 word);
			return -1;
		} else {
			snprintf(err, errlen, "unknown protocol '%s' (known: TLSv1.2, TLSv1.3)", word);
			return -1;
		}
		p += n;
	}
	if (!bits) {
		snprintf(err, errlen, "no protocol given (known: TLSv1.2, TLSv1.3)");
		return -1;
	}
	return bits;
}

struct reader {
	const char *file;
	const char *dir;
	struct errlist *errs;
	int failed;
};

static int line_of(const config_setting_t *s)
{
	int l = s ? (int)config_setting_source_line(s) : 0;
	return l > 0 ? l : 1;
}

static void err_at(struct reader *r, const config_setting_t *s, const char *fmt, ...)
	PF_PRINTF_ATTR(3, 4);
static void err_at(struct reader *r, const config_setting_t *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *f = s ? config_setting_source_file(s) : NULL;
	errlist_add(r->errs, "%s:%d: %s", f ? f : r->file, line_of(s), msg);
	r->failed = 1;
}

/* A string member, or NULL when absent or (an error then) not a string. */
static const char *string_of(struct reader *r, const config_setting_t *g, const char *key,
			     int *line)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (!s)
		return NULL;
	*line = line_of(s);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		err_at(r, s, "tls: '%s' must be a string", key);
		return NULL;
	}
	return config_setting_get_string(s);
}

static void check_keys(struct reader *r, const config_setting_t *g, const char *const *known,
		       const char *where)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int ok = 0;
		for (int k = 0; known[k]; k++)
			ok |= name && strcmp(name, known[k]) == 0;
		if (ok)
			continue;
		const char *best = NULL;
		int best_d = 3;
		for (int k = 0; name && known[k]; k++) {
			int d = util_edit_distance(name, known[k]);
			if (d < best_d) {
				best_d = d;
				best = known[k];
			}
		}
		if (best)
			err_at(r, s, "%s: unknown key '%s' (did you mean '%s'?)", where, name, best);
		else
			err_at(r, s, "%s: unknown key '%s'", where, name ? name : "?");
	}
}

/* certificate + key of one group into c. */
static void read_pair(struct reader *r, const config_setting_t *g, struct tls_cert_conf *c,
		      const char *where)
{
	static const char *const known[] = { "certificate", "key", NULL };
	check_keys(r, g, known, where);
	const char *cert = string_of(r, g, "certificate", &c->cert_line);
	const char *key = string_of(r, g, "key", &c->key_line);
	if (!config_setting_get_member(g, "certificate"))
		err_at(r, g, "%s: missing required key 'certificate'", where);
	if (!config_setting_get_member(g, "key"))
		err_at(r, g, "%s: missing required key 'key'", where);
	if (cert && !cert[0])
		err_at(r, config_setting_get_member(g, "certificate"),
		       "%s: 'certificate' must not be empty", where);
	if (key && !key[0])
		err_at(r, config_setting_get_member(g, "key"), "%s: 'key' must not be empty", where);
	if (cert && cert[0])
		c->certificate = util_resolve_path(r->dir, cert);
	if (key && key[0])
		c->key = util_resolve_path(r->dir, key);
}

static void read_more_certs(struct reader *r, const config_setting_t *list, struct tls_conf *t)
{
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		err_at(r, list, "tls: 'certificates' must be a list of groups: "
		       "( { certificate = \"...\"; key = \"...\"; } )");
		return;
	}
	int n = config_setting_length(list);
	if (n > TLS_MAX_CERTS - 1) {
		err_at(r, list, "tls: too many certificates (at most %d)", TLS_MAX_CERTS - 1);
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		if (!config_setting_is_group(g)) {
			err_at(r, g, "tls: each entry of 'certificates' must be a group { ... }");
			continue;
		}
		read_pair(r, g, &t->certs[t->ncerts++], "tls: certificates");
	}
}

static void read_options(struct reader *r, const config_setting_t *g, struct tls_conf *t)
{
	int line = 0;
	const char *v;
	if ((v = string_of(r, g, "protocols", &line))) {
		char err[256];
		int bits = tls_conf_parse_protocols(v, err, sizeof(err));
		if (bits < 0)
			err_at(r, config_setting_get_member(g, "protocols"), "tls: 'protocols': %s", err);
		else
			t->protocols = bits;
	}
	if ((v = string_of(r, g, "ciphers", &t->ciphers_line)))
		t->ciphers = util_xstrdup(v);
	if ((v = string_of(r, g, "ciphersuites", &t->ciphersuites_line)))
		t->ciphersuites = util_xstrdup(v);
	if ((v = string_of(r, g, "alpn", &line))) {
		if (v[0] && strcmp(v, "http/1.1") != 0)
			err_at(r, config_setting_get_member(g, "alpn"),
			       "tls: 'alpn' must be \"http/1.1\" or \"\" (got '%s')", v);
		else {
			free(t->alpn);
			t->alpn = util_xstrdup(v);
		}
	}
	const config_setting_t *s = config_setting_get_member(g, "session_tickets");
	if (s) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			err_at(r, s, "tls: 'session_tickets' must be true or false");
		else
			t->session_tickets = config_setting_get_bool(s);
	}
	s = config_setting_get_member(g, "session_timeout");
	if (s) {
		int type = config_setting_type(s);
		double d = type == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
			 : (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
			 ? (double)config_setting_get_int64(s) : -1;
		if (d < 1 || d > 604800)
			err_at(r, s, "tls: 'session_timeout' must be between 1 and 604800 seconds");
		else
			t->session_timeout = d;
	}
}

struct tls_conf *tls_conf_load(const config_setting_t *g, const char *file, const char *dir,
			       const char *handler, struct errlist *errs)
{
	struct reader r = { file, dir, errs, 0 };
	if (!config_setting_is_group(g)) {
		err_at(&r, g, "'tls' must be a group: tls = { certificate = \"...\"; key = \"...\"; }");
		return NULL;
	}
	if (!tls_conf_available()) {
		err_at(&r, g, "'tls': this preforkd was built without TLS (configure --without-tls)");
		return NULL;
	}
	static const char *const known[] = {
		"certificate", "key", "protocols", "ciphers", "ciphersuites", "certificates",
		"alpn", "session_tickets", "session_timeout", NULL,
	};
	struct tls_conf *t = util_xcalloc(1, sizeof(*t));
	t->file = file;
	t->line = line_of(g);
	t->protocols = TLS_PROTO_12 | TLS_PROTO_13;
	t->alpn = util_xstrdup(handler && strcmp(handler, "http") == 0 ? "http/1.1" : "");
	t->session_tickets = 1;
	t->session_timeout = 3600;
	check_keys(&r, g, known, "tls");
	/* certificate and key of the block itself are the default pair. */
	t->ncerts = 1;
	{
		struct tls_cert_conf *c = &t->certs[0];
		const char *cert = string_of(&r, g, "certificate", &c->cert_line);
		const char *key = string_of(&r, g, "key", &c->key_line);
		if (!config_setting_get_member(g, "certificate"))
			err_at(&r, g, "tls: missing required key 'certificate'");
		if (!config_setting_get_member(g, "key"))
			err_at(&r, g, "tls: missing required key 'key'");
		if (cert && cert[0])
			c->certificate = util_resolve_path(dir, cert);
		else if (cert)
			err_at(&r, config_setting_get_member(g, "certificate"),
			       "tls: 'certificate' must not be empty");
		if (key && key[0])
			c->key = util_resolve_path(dir, key);
		else if (key)
			err_at(&r, config_setting_get_member(g, "key"), "tls: 'key' must not be empty");
	}
	const config_setting_t *more = config_setting_get_member(g, "certificates");
	if (more)
		read_more_certs(&r, more, t);
	read_options(&r, g, t);
	if (!r.failed && tls_ctx_build(t, errs) < 0)
		r.failed = 1;
	if (r.failed) {
		tls_conf_free(t);
		return NULL;
	}
	return t;
}

void tls_conf_free(struct tls_conf *t)
{
	if (!t)
		return;
	tls_ctx_free(t);
	for (int i = 0; i < t->ncerts; i++) {
		free(t->certs[i].certificate);
		free(t->certs[i].key);
	}
	free(t->ciphers);
	free(t->ciphersuites);
	free(t->alpn);
	free(t);
}
