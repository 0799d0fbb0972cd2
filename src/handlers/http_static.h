/*
 * http_static.h - the static file handler's pure parts, beside the parser
 * of http_parse.h: no I/O but closing a cached descriptor.
 *
 *   http_range_*  the Range header: one range, 416, or ignore (http_range.c)
 *   http_etag_*   ETag from mtime and size; If-None-Match, If-Range (http_etag.c)
 *   http_gzip_*   does Accept-Encoding admit gzip (http_gzip.c)
 *   http_cache_*  the per-worker open-file cache: lookup, freshness, the
 *                 memory budget, LRU eviction (http_cache.c)
 */
#ifndef PF_HTTP_STATIC_H
#define PF_HTTP_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- http_range.c ---- */

enum http_range_result {
	HTTP_RANGE_IGNORE = 0,		/* send the whole file: 200 */
	HTTP_RANGE_ONE,			/* send *out: 206 */
	HTTP_RANGE_UNSATISFIABLE	/* 416 */
};

struct http_range {
	unsigned long long first, last;	/* inclusive, last < size */
};

/*
 * Read a Range header value (v, len) for a file of `size` bytes. A
 * "bytes=" set of one satisfiable range is HTTP_RANGE_ONE; a set whose
 * ranges all start at or beyond the end (or "-0") is HTTP_RANGE_UNSATISFIABLE;
 * another unit, a malformed set, several ranges: HTTP_RANGE_IGNORE.
 */
enum http_range_result http_range_parse(const char *v, size_t len, unsigned long long size,
					struct http_range *out);

/* ---- http_etag.c ---- */

#define HTTP_ETAG_MAX 40
/* Room for a cached file's pre-built header lines. */
#define HTTP_FIELDS_MAX 256

/* "<mtime hex>-<size hex>" with its quotes, NUL-terminated; returns the length. */
size_t http_etag_format(long long mtime, unsigned long long size, char out[HTTP_ETAG_MAX]);

/* Does the If-None-Match value v name etag ("*", or a list; weak comparison)? */
int http_etag_none_match(const char *v, size_t len, const char *etag, size_t etag_len);

/*
 * Does the If-Range value v still describe the file: the same strong ETag,
 * or an HTTP date equal to its modification time? 0 means send it whole.
 */
int http_etag_if_range(const char *v, size_t len, const char *etag, size_t etag_len,
		       long long mtime);

/* ---- http_gzip.c ---- */

/* Does the Accept-Encoding value v admit gzip (gzip, x-gzip or *, q > 0)? */
int http_gzip_accepted(const char *v, size_t len);

/* ---- http_cache.c ---- */

/* What makes a cached file the same file as the one on disk now. */
struct http_file_id {
	dev_t dev;
	ino_t ino;
	long long size;
	long long mtime_sec, mtime_nsec;
};

/*
 * One request path and what it resolved to. The cache owns the entry once
 * inserted; the caller fills in everything below `key`.
 */
struct http_cache_entry {
	struct http_cache_entry *hnext;		/* hash chain */
	struct http_cache_entry *prev, *next;	/* LRU list, most recent first */
	uint32_t hash;
	size_t cost;				/* bytes charged to the budget */
	int64_t checked_ns;			/* last opened or revalidated */
	int pinned;				/* in use: never evicted */

	const char *key;			/* the lookup key (not NUL-terminated) */
	size_t key_len;
	int status;				/* 0: a file; else the status to answer */
	int fd;					/* -1, or kept open for sendfile */
	char *body;				/* a small file's bytes, or NULL */
	size_t body_len;
	char *name;				/* the file's path under the root */
	size_t name_len;
	struct http_file_id id;
	size_t etag_len;
	char etag[HTTP_ETAG_MAX];
	char last_modified[32];			/* IMF-fixdate */
	const char *content_type;
	/*
	 * A whole 200's header lines after Date, Content-Type through
	 * Content-Length, built on the entry's first 200 from memory (0: not
	 * yet, or they did not fit): http_response_send_built.
	 */
	size_t fields_len;
	char fields[HTTP_FIELDS_MAX];
};

struct http_cache {
	struct http_cache_entry **buckets;	/* allocated on the first insert */
	size_t nbuckets;			/* a power of two */
	struct http_cache_entry *lru_first, *lru_last;
	size_t used, budget;			/* bytes */
	size_t count, max_entries;
	int64_t valid_ns;			/* cache_valid */
};

/* An empty cache of at most `budget` bytes and `max_entries` entries. */
void http_cache_init(struct http_cache *c, size_t budget, size_t max_entries, double valid);

/* Free every entry (closing their descriptors). */
void http_cache_fini(struct http_cache *c);

/*
 * A new entry for `key` with room for `name_len` + 1 and `body_len` bytes
 * (name and body point there), fd -1; NULL when out of memory.
 */
struct http_cache_entry *http_cache_entry_new(const char *key, size_t key_len, size_t name_len,
					      size_t body_len);

/* Free an entry that is not in a cache; closes its descriptor. */
void http_cache_entry_free(struct http_cache_entry *e);

/* The entry for key, made the most recently used; NULL when absent. */
struct http_cache_entry *http_cache_find(struct http_cache *c, const char *key, size_t len);

/* Was e opened or revalidated less than cache_valid before now? */
int http_cache_fresh(const struct http_cache *c, const struct http_cache_entry *e, int64_t now);

/* Are two identities the same file, unchanged? */
int http_cache_same(const struct http_file_id *a, const struct http_file_id *b);

/*
 * Insert e (checked at `now`), replacing an entry of the same key and
 * evicting the least recently used unpinned entries until it fits the
 * budget and the entry count. Returns 0, or -1 when it cannot fit (e alone
 * exceeds the budget, the cache is off, pinned entries fill it): the
 * caller keeps e.
 */
int http_cache_insert(struct http_cache *c, struct http_cache_entry *e, int64_t now);

/* Take e out of the cache and free it. */
void http_cache_remove(struct http_cache *c, struct http_cache_entry *e);

#endif /* PF_HTTP_STATIC_H */
