/*
 * http_cache.c - the http handler's per-worker open-file cache, as nginx's
 * open_file_cache: a hash table of request paths and what they resolved
 * to (a small file's bytes, a larger file's open descriptor, or the error
 * to answer), bounded by a memory budget and an entry count, evicting the
 * least recently used. An entry older than cache_valid is revalidated by
 * the caller before use (http_cache_fresh, http_cache_same).
 *
 * No I/O but the close() of an evicted entry's descriptor; the time is
 * passed in, so every rule is unit-tested with made-up clocks.
 *
 * Entry points: http_cache_init, http_cache_fini, http_cache_entry_new,
 * http_cache_entry_free, http_cache_find, http_cache_fresh,
 * http_cache_same, http_cache_insert, http_cache_remove.
 */
#include "handlers/http_static.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Eight bytes at a time, each word mixed in by a multiply and a shift (a
 * byte-at-a-time FNV-1a was ~5 instructions a byte on every request).
 */
static uint32_t hash_key(const char *key, size_t len)
{
	const uint64_t k = 0x9e3779b97f4a7c15ULL;
	uint64_t h = (uint64_t)len * k, w = 0;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, key + i, 8);
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	if (i < len) {
		/* The last 8 bytes as one word (the length is mixed in), or a short key's bytes. */
		if (len >= 8) {
			memcpy(&w, key + len - 8, 8);
		} else {
			w = 0;
			for (; i < len; i++)
				w = w << 8 | (unsigned char)key[i];
		}
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	return (uint32_t)(h ^ (h >> 32));
}

void http_cache_init(struct http_cache *c, size_t budget, size_t max_entries, double valid)
{
	memset(c, 0, sizeof(*c));
	c->budget = budget;
	c->max_entries = max_entries;
	c->valid_ns = (int64_t)(valid * 1e9);
}

struct http_cache_entry *http_cache_entry_new(const char *key, size_t key_len, size_t name_len,
					      size_t body_len)
{
	size_t size = sizeof(struct http_cache_entry) + key_len + name_len + 1 + body_len;
	struct http_cache_entry *e = malloc(size);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	char *data = (char *)(e + 1);
	memcpy(data, key, key_len);
	e->key = data;
	e->key_len = key_len;
	e->name = data + key_len;
	e->name[0] = '\0';
	e->body = body_len ? e->name + name_len + 1 : NULL;
	e->body_len = body_len;
	e->cost = size;
	e->fd = -1;
	return e;
}

void http_cache_entry_free(struct http_cache_entry *e)
{
	if (!e)
		return;
	if (e->fd >= 0)
		close(e->fd);
	free(e);
}

static void lru_unlink(struct http_cache *c, struct http_cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->lru_first = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->lru_last = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct http_cache *c, struct http_cache_entry *e)
{
	e->prev = NULL;
	e->next = c->lru_first;
	if (c->lru_first)
		c->lru_first->prev = e;
	else
		c->lru_last = e;
	c->lru_first = e;
}

struct http_cache_entry *http_cache_find(struct http_cache *c, const char *key, size_t len)
{
	if (!c->buckets)
		return NULL;
	uint32_t h = hash_key(key, len);
	for (struct http_cache_entry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext) {
		if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0) {
			if (c->lru_first != e) {
				lru_unlink(c, e);
				lru_push_front(c, e);
			}
			return e;
		}
	}
	return NULL;
}

int http_cache_fresh(const struct http_cache *c, const struct http_cache_entry *e, int64_t now)
{
	return now - e->checked_ns < c->valid_ns && now >= e->checked_ns;
}

int http_cache_same(const struct http_file_id *a, const struct http_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}

static void unlink_entry(struct http_cache *c, struct http_cache_entry *e)
{
	struct http_cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->used -= e->cost;
	c->count--;
}

void http_cache_remove(struct http_cache *c, struct http_cache_entry *e)
{
	unlink_entry(c, e);
	http_cache_entry_free(e);
}

int http_cache_insert(struct http_cache *c, struct http_cache_entry *e, int64_t now)
{
	if (c->max_entries == 0 || e->cost > c->budget)
		return -1;
	if (!c->buckets) {
		size_t n = 16;
		while (n < c->max_entries * 2 && n < ((size_t)1 << 20))
			n <<= 1;
		c->buckets = calloc(n, sizeof(struct http_cache_entry *));
		if (!c->buckets)
			return -1;
		c->nbuckets = n;
	}
	struct http_cache_entry *old = http_cache_find(c, e->key, e->key_len);
	if (old && old->pinned)
		return -1;
	if (old)
		http_cache_remove(c, old);
	struct http_cache_entry *victim = c->lru_last;
	while (c->count >= c->max_entries || c->used + e->cost > c->budget) {
		while (victim && victim->pinned)
			victim = victim->prev;
		if (!victim)
			return -1;
		struct http_cache_entry *prev = victim->prev;
		http_cache_remove(c, victim);
		victim = prev;
	}
	e->hash = hash_key(e->key, e->key_len);
	e->checked_ns = now;
	struct http_cache_entry **b = &c->buckets[e->hash & (c->nbuckets - 1)];
	e->hnext = *b;
	*b = e;
	lru_push_front(c, e);
	c->used += e->cost;
	c->count++;
	return 0;
}

void http_cache_fini(struct http_cache *c)
{
	struct http_cache_entry *e = c->lru_first;
	while (e) {
		struct http_cache_entry *next = e->next;
		http_cache_entry_free(e);
		e = next;
	}
	c->lru_first = c->lru_last = NULL;
	c->count = 0;
	c->used = 0;
	free(c->buckets);
	c->buckets = NULL;
	c->nbuckets = 0;
}
