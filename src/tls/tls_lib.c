/*
 * tls_lib.c - libssl loaded on demand. preforkd does not link OpenSSL: the
 * master dlopen()s libssl.so.3 (and with it libcrypto.so.3) in the first
 * configuration transaction that has a tls block, before workers fork, so
 * every worker inherits the mapped, relocated library and never loads it
 * itself. A server without TLS never touches OpenSSL: no mapping, no
 * relocation, no OPENSSL_init_ssl, no RAND or config loading.
 * Entry points: tls_lib_load, tls_lib_loaded.
 */
#include "internal.h"

#ifdef PF_TLS
#define TLS_LIB_IMPL
#include "tls_lib.h"

#include <dlfcn.h>
#include <stdio.h>

#define LIBSSL_SONAME "libssl.so.3"

struct tls_lib tls_lib;
static int loaded;

static const struct {
	const char *name;
	void **slot;
} syms[] = {
#define X(f) {#f, (void **)&tls_lib.f},
	TLS_LIB_SYMS
#undef X
};

int tls_lib_load(char *err, size_t errlen)
{
	if (loaded)
		return 0;
	void *h = dlopen(LIBSSL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "cannot load %s: %s", LIBSSL_SONAME, dlerror());
		return -1;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *p = dlsym(h, syms[i].name);
		if (!p) {
			snprintf(err, errlen, "%s has no %s", LIBSSL_SONAME, syms[i].name);
			dlclose(h);
			return -1;
		}
		*syms[i].slot = p;
	}
	loaded = 1;	/* never unloaded: contexts of an old generation may live on */
	return 0;
}

int tls_lib_loaded(void)
{
	return loaded;
}

#endif
