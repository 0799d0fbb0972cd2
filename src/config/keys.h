/*
 * keys.h - the key tables behind config.c: a key's name, type, range and
 * place in the struct it fills, and the functions (keys.c) that check a
 * libconfig setting against them with FILE:LINE errors. Private to
 * src/config/.
 */
#ifndef PF_CONFIG_KEYS_H
#define PF_CONFIG_KEYS_H

#include "internal.h"

enum key_type { K_STRING, K_INT, K_LONG, K_FLOAT, K_BOOL, K_LIST, K_LEVEL };

struct key {
	const char *name;
	enum key_type type;
	double min, max;
	size_t offset;		/* into the struct being filled; (size_t)-1: handled apart */
};

/* One load: what is being filled, where errors go, the extra handlers. */
struct keys_ctx {
	struct pf_config *c;
	struct errlist *errs;
	const struct pf_handler *const *extra;
};

/* The file and line (>= 1) of setting s, for messages. */
const char *keys_file(struct keys_ctx *x, const config_setting_t *s);
int keys_line(const config_setting_t *s);
/* errlist_add with the FILE:LINE prefix of setting s. */
void keys_err_at(struct keys_ctx *x, const config_setting_t *s, const char *fmt, ...)
	PF_PRINTF_ATTR(3, 4);
/* The key called name in keys[0..n), or NULL. */
const struct key *keys_find(const struct key *keys, size_t n, const char *name);
/* "unknown key 'wokers' (did you mean 'workers'?)", the nearest of keys and extra_name. */
void keys_unknown(struct keys_ctx *x, const config_setting_t *s, const struct key *keys,
		  size_t n, const char *extra_name);
/* Check s against k (type, range) and store it at base + k->offset, or say why not. */
void keys_store(struct keys_ctx *x, const config_setting_t *s, const struct key *k, void *base);

#endif
