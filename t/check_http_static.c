/*
 * check_http_static.c - unit tests of the static file handler's pure
 * parts: Range parsing (every well-formed and malformed form), ETags and
 * their matching (If-None-Match, If-Range), Accept-Encoding, and the
 * open-file cache (lookup, revalidation, the budget, LRU eviction, pins).
 * Table-driven: each case sits beside the result it must produce.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "handlers/http_parse.h"
#include "handlers/http_static.h"

#include "check_run.h"

/* ---- Range ---- */

static const struct range_case {
	const char *value;
	unsigned long long size;
	enum http_range_result result;
	unsigned long long first, last;	/* for HTTP_RANGE_ONE */
} range_cases[] = {
	/* One satisfiable range. */
	{ "bytes=0-4", 23, HTTP_RANGE_ONE, 0, 4 },
	{ "bytes=0-0", 23, HTTP_RANGE_ONE, 0, 0 },
	{ "bytes=5-", 23, HTTP_RANGE_ONE, 5, 22 },
	{ "bytes=22-", 23, HTTP_RANGE_ONE, 22, 22 },
	{ "bytes=0-", 23, HTTP_RANGE_ONE, 0, 22 },
	{ "bytes=-5", 23, HTTP_RANGE_ONE, 18, 22 },
	{ "bytes=-23", 23, HTTP_RANGE_ONE, 0, 22 },
	{ "bytes=-100", 23, HTTP_RANGE_ONE, 0, 22 },		/* longer than the file */
	{ "bytes=10-100", 23, HTTP_RANGE_ONE, 10, 22 },		/* last clamped */
	{ "bytes=3-3", 23, HTTP_RANGE_ONE, 3, 3 },
	{ "BYTES=1-2", 23, HTTP_RANGE_ONE, 1, 2 },		/* the unit is case-insensitive */
	{ "Bytes=1-2", 23, HTTP_RANGE_ONE, 1, 2 },
	{ "bytes=1-2, ", 23, HTTP_RANGE_ONE, 1, 2 },		/* empty list elements */
	{ "bytes=,1-2", 23, HTTP_RANGE_ONE, 1, 2 },
	{ "bytes= 1-2", 23, HTTP_RANGE_ONE, 1, 2 },		/* OWS in the list */
	{ "bytes=1-2 ,", 23, HTTP_RANGE_ONE, 1, 2 },
	{ "bytes=0-99999999999999999999999", 23, HTTP_RANGE_ONE, 0, 22 },	/* saturates */
	{ "bytes=-99999999999999999999999", 23, HTTP_RANGE_ONE, 0, 22 },
	{ "bytes=1000-2000", 100000, HTTP_RANGE_ONE, 1000, 2000 },
	/* Several ranges, one of them beyond the end: the whole file. */
	{ "bytes=0-1,100-200", 23, HTTP_RANGE_IGNORE, 0, 0 },
	/* Unsatisfiable: every range starts at or after the end, or "-0". */
	{ "bytes=23-", 23, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=23-30", 23, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=100-200", 23, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=-0", 23, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=99999999999999999999999-", 23, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=30-40,50-60", 23, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
	{ "bytes=0-", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0 },		/* an empty file */
	{ "bytes=-5", 0, HTTP_RANGE_IGNORE, 0, 0 },		/* its suffix: the whole */
	/* Several ranges: the whole file. */
	{ "bytes=0-1,3-4", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=0-1, -2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=0-,0-", 23, HTTP_RANGE_IGNORE, 0, 0 },
	/* Malformed, or another unit: ignored. */
	{ "", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=,", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=-", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=--1", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=1", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=a-b", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=1-a", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=-a", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=+1-2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=1-+2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=-1-2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=1--2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=5-1", 23, HTTP_RANGE_IGNORE, 0, 0 },		/* last before first */
	{ "bytes=1-2;3-4", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=1-2 3-4", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=1 -2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=1- 2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=0x1-2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=1.5-2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes =1-2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ " bytes=1-2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes:1-2", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "items=0-1", 23, HTTP_RANGE_IGNORE, 0, 0 },		/* another unit */
	{ "byte=0-1", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytesx=0-1", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=0-1,x", 23, HTTP_RANGE_IGNORE, 0, 0 },	/* one bad element spoils all */
	{ "bytes=100-200,x", 23, HTTP_RANGE_IGNORE, 0, 0 },
	{ "bytes=1-2\t,\t", 23, HTTP_RANGE_ONE, 1, 2 },
};

START_TEST(test_range)
{
	const struct range_case *c = &range_cases[_i];
	struct http_range r = { 12345, 12345 };
	enum http_range_result got = http_range_parse(c->value, strlen(c->value), c->size, &r);
	ck_assert_msg(got == c->result, "\"%s\" size %llu: %d, want %d", c->value, c->size,
		      got, c->result);
	if (c->result == HTTP_RANGE_ONE) {
		ck_assert_msg(r.first == c->first && r.last == c->last,
			      "\"%s\": %llu-%llu, want %llu-%llu", c->value, r.first, r.last,
			      c->first, c->last);
	}
}
END_TEST

/* The length is respected: bytes beyond it are not read. */
START_TEST(test_range_length)
{
	struct http_range r;
	ck_assert_int_eq(http_range_parse("bytes=1-2junk", 9, 23, &r), HTTP_RANGE_ONE);
	ck_assert(r.first == 1 && r.last == 2);
	ck_assert_int_eq(http_range_parse("bytes=1-2", 8, 23, &r), HTTP_RANGE_ONE);
	ck_assert(r.first == 1 && r.last == 22);
}
END_TEST

/* ---- ETag ---- */

START_TEST(test_etag_format)
{
	char tag[HTTP_ETAG_MAX];
	ck_assert_uint_eq(http_etag_format(0x6b0dedb6, 23, tag), 13);
	ck_assert_str_eq(tag, "\"6b0dedb6-17\"");
	ck_assert_uint_eq(http_etag_format(0, 0, tag), 5);
	ck_assert_str_eq(tag, "\"0-0\"");
	size_t n = http_etag_format(-1, ~0ULL, tag);
	ck_assert_str_eq(tag, "\"ffffffffffffffff-ffffffffffffffff\"");
	ck_assert_uint_lt(n, HTTP_ETAG_MAX);
	/* Size and time both count. */
	char a[HTTP_ETAG_MAX], b[HTTP_ETAG_MAX];
	http_etag_format(100, 7, a);
	http_etag_format(100, 8, b);
	ck_assert_str_ne(a, b);
	http_etag_format(101, 7, b);
	ck_assert_str_ne(a, b);
}
END_TEST

#define TAG "\"6b0dedb6-17\""

static const struct match_case {
	const char *value;
	int match;
} none_match_cases[] = {
	{ TAG, 1 },
	{ "*", 1 },
	{ "W/" TAG, 1 },			/* the weak comparison */
	{ "\"x\", " TAG, 1 },
	{ "\"x\"," TAG ",\"y\"", 1 },
	{ " \"x\" , W/" TAG " ", 1 },
	{ "\"x\"", 0 },
	{ "\"6b0dedb6-18\"", 0 },
	{ "6b0dedb6-17", 0 },			/* unquoted */
	{ "\"6b0dedb6-17", 0 },			/* unterminated */
	{ "w/" TAG, 0 },			/* W is upper case */
	{ "", 0 },
	{ "**", 0 },
	{ "\"x\" " TAG, 0 },			/* no comma */
	{ "\"a b\", " TAG, 0 },			/* a space inside a tag: malformed */
	{ "junk, " TAG, 0 },
	{ "\"\"", 0 },
};

START_TEST(test_none_match)
{
	const struct match_case *c = &none_match_cases[_i];
	ck_assert_msg(http_etag_none_match(c->value, strlen(c->value), TAG, strlen(TAG)) ==
		      c->match, "If-None-Match: %s", c->value);
}
END_TEST

static const struct if_range_case {
	const char *value;
	int match;
} if_range_cases[] = {
	{ TAG, 1 },
	{ "W/" TAG, 0 },			/* a weak tag never validates a range */
	{ "\"x\"", 0 },
	{ TAG ", \"x\"", 0 },			/* one validator, not a list */
	{ "Sun, 06 Nov 1994 08:49:37 GMT", 1 },	/* the file's date exactly */
	{ "Sun, 06 Nov 1994 08:49:38 GMT", 0 },
	{ "Sun, 06 Nov 1994 08:49:36 GMT", 0 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT", 1 },
	{ "not a date", 0 },
	{ "", 0 },
	{ "*", 0 },
};

START_TEST(test_if_range)
{
	const struct if_range_case *c = &if_range_cases[_i];
	ck_assert_msg(http_etag_if_range(c->value, strlen(c->value), TAG, strlen(TAG),
					 784111777) == c->match, "If-Range: %s", c->value);
}
END_TEST

/* ---- Accept-Encoding ---- */

static const struct match_case gzip_cases[] = {
	{ "gzip", 1 },
	{ "GZIP", 1 },
	{ "x-gzip", 1 },
	{ "deflate, gzip", 1 },
	{ "gzip, deflate, br", 1 },
	{ "gzip;q=0.5", 1 },
	{ "gzip ; q=1.0", 1 },
	{ "*", 1 },
	{ "br, *;q=0.1", 1 },
	{ "gzip;q=0", 0 },
	{ "gzip;q=0.0", 0 },
	{ "gzip;q=0.000", 0 },
	{ "gzip; q=0.", 0 },
	{ "gzip;q=0.001", 1 },
	{ "*;q=0", 0 },
	{ "gzip;q=0, *", 0 },			/* gzip named and refused: * does not bring it back */
	{ "*, gzip;q=0", 0 },
	{ "identity", 0 },
	{ "deflate, br", 0 },
	{ "gzipx", 0 },
	{ "xgzip", 0 },
	{ "", 0 },
};

START_TEST(test_gzip_accepted)
{
	const struct match_case *c = &gzip_cases[_i];
	ck_assert_msg(http_gzip_accepted(c->value, strlen(c->value)) == c->match,
		      "Accept-Encoding: %s", c->value);
}
END_TEST

/* ---- the open-file cache ---- */

#define SEC 1000000000LL

static struct http_cache_entry *entry(const char *key, size_t body)
{
	struct http_cache_entry *e = http_cache_entry_new(key, strlen(key), 3, body);
	ck_assert_ptr_nonnull(e);
	memcpy(e->name, "abc", 4);
	return e;
}

START_TEST(test_cache_find_insert)
{
	struct http_cache c;
	http_cache_init(&c, 1 << 20, 16, 1.0);
	ck_assert_ptr_null(http_cache_find(&c, "a", 1));
	struct http_cache_entry *a = entry("a", 10), *b = entry("b", 0);
	ck_assert_ptr_nonnull(a->body);
	ck_assert_ptr_null(b->body);
	ck_assert_int_eq(a->fd, -1);
	ck_assert_int_eq(http_cache_insert(&c, a, 5), 0);
	ck_assert_int_eq(http_cache_insert(&c, b, 5), 0);
	ck_assert_ptr_eq(http_cache_find(&c, "a", 1), a);
	ck_assert_ptr_eq(http_cache_find(&c, "b", 1), b);
	ck_assert_ptr_null(http_cache_find(&c, "ab", 2));
	ck_assert_ptr_null(http_cache_find(&c, "", 0));
	ck_assert_uint_eq(c.count, 2);
	ck_assert_uint_eq(c.used, a->cost + b->cost);
	/* The same key again replaces the old entry. */
	struct http_cache_entry *a2 = entry("a", 20);
	ck_assert_int_eq(http_cache_insert(&c, a2, 6), 0);
	ck_assert_ptr_eq(http_cache_find(&c, "a", 1), a2);
	ck_assert_uint_eq(c.count, 2);
	http_cache_remove(&c, b);
	ck_assert_ptr_null(http_cache_find(&c, "b", 1));
	ck_assert_uint_eq(c.count, 1);
	ck_assert_uint_eq(c.used, a2->cost);
	http_cache_fini(&c);
	ck_assert_uint_eq(c.count, 0);
	ck_assert_uint_eq(c.used, 0);
}
END_TEST

/* Many keys in few buckets: every one is found again. */
START_TEST(test_cache_many)
{
	struct http_cache c;
	char key[32];
	http_cache_init(&c, 1 << 24, 1000, 1.0);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "dir/file%d.html", i);
		ck_assert_int_eq(http_cache_insert(&c, entry(key, 1), 0), 0);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "dir/file%d.html", i);
		struct http_cache_entry *e = http_cache_find(&c, key, strlen(key));
		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(e->key_len, strlen(key));
	}
	http_cache_fini(&c);
}
END_TEST

/*
 * Keys hashed a word at a time: prefixes of one another, and keys that
 * differ only past the first word or only in the last byte, are all told
 * apart; 1000 similar keys spread over the buckets (no chain over 12).
 */
START_TEST(test_cache_hash_words)
{
	static const char long_key[] = "abcdefghijklmnopqrstuvwx";
	struct http_cache c;
	char key[32];
	http_cache_init(&c, 1 << 24, 2000, 1.0);
	for (size_t n = 1; n < sizeof(long_key); n++) {
		snprintf(key, sizeof(key), "%.*s", (int)n, long_key);
		ck_assert_int_eq(http_cache_insert(&c, entry(key, 1), 0), 0);
	}
	ck_assert_int_eq(http_cache_insert(&c, entry("abcdefghijklmnopqrstuvwY", 1), 0), 0);
	ck_assert_int_eq(http_cache_insert(&c, entry("abcdefghiXklmnopqrstuvwx", 1), 0), 0);
	for (size_t n = 1; n < sizeof(long_key); n++) {
		struct http_cache_entry *e = http_cache_find(&c, long_key, n);
		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(e->key_len, n);
	}
	ck_assert_ptr_nonnull(http_cache_find(&c, "abcdefghijklmnopqrstuvwY", 24));
	ck_assert_ptr_null(http_cache_find(&c, "abcdefghijklmnopqrstuvwZ", 24));
	ck_assert_ptr_null(http_cache_find(&c, "abcdefghijklmnopqrstuvwxy", 25));
	http_cache_fini(&c);

	http_cache_init(&c, 1 << 24, 1000, 1.0);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "dir/file%d.htmlf", i);
		ck_assert_int_eq(http_cache_insert(&c, entry(key, 1), 0), 0);
	}
	size_t longest = 0;
	for (size_t b = 0; b < c.nbuckets; b++) {
		size_t n = 0;
		for (struct http_cache_entry *e = c.buckets[b]; e; e = e->hnext)
			n++;
		if (n > longest)
			longest = n;
	}
	ck_assert_uint_le(longest, 12);
	http_cache_fini(&c);
}
END_TEST

/* Revalidation: fresh for cache_valid after the check, never after a clock step back. */
START_TEST(test_cache_fresh)
{
	struct http_cache c;
	http_cache_init(&c, 1 << 20, 16, 1.0);
	struct http_cache_entry *e = entry("a", 0);
	ck_assert_int_eq(http_cache_insert(&c, e, 10 * SEC), 0);
	ck_assert_int_eq(e->checked_ns, 10 * SEC);
	ck_assert(http_cache_fresh(&c, e, 10 * SEC));
	ck_assert(http_cache_fresh(&c, e, 11 * SEC - 1));
	ck_assert(!http_cache_fresh(&c, e, 11 * SEC));
	ck_assert(!http_cache_fresh(&c, e, 100 * SEC));
	ck_assert(!http_cache_fresh(&c, e, 9 * SEC));
	http_cache_fini(&c);

	/* cache_valid 0: always revalidated. */
	http_cache_init(&c, 1 << 20, 16, 0.0);
	e = entry("a", 0);
	ck_assert_int_eq(http_cache_insert(&c, e, 10 * SEC), 0);
	ck_assert(!http_cache_fresh(&c, e, 10 * SEC));
	http_cache_fini(&c);

	http_cache_init(&c, 1 << 20, 16, 2.5);
	e = entry("a", 0);
	ck_assert_int_eq(http_cache_insert(&c, e, 0), 0);
	ck_assert(http_cache_fresh(&c, e, 2 * SEC));
	ck_assert(!http_cache_fresh(&c, e, 2 * SEC + SEC / 2));
	http_cache_fini(&c);
}
END_TEST

START_TEST(test_cache_same)
{
	struct http_file_id a = { 1, 2, 3, 4, 5 }, b = a;
	ck_assert(http_cache_same(&a, &b));
	b.dev = 9;
	ck_assert(!http_cache_same(&a, &b));
	b = a;
	b.ino = 9;
	ck_assert(!http_cache_same(&a, &b));		/* replaced (rename) */
	b = a;
	b.size = 9;
	ck_assert(!http_cache_same(&a, &b));		/* grown or truncated */
	b = a;
	b.mtime_sec = 9;
	ck_assert(!http_cache_same(&a, &b));
	b = a;
	b.mtime_nsec = 9;
	ck_assert(!http_cache_same(&a, &b));		/* rewritten within the second */
}
END_TEST

/* The budget: the least recently used go first; an entry too big is refused. */
START_TEST(test_cache_budget)
{
	struct http_cache c;
	struct http_cache_entry *a = entry("a", 100), *b = entry("b", 100), *d = entry("d", 100);
	size_t one = a->cost;
	http_cache_init(&c, 2 * one + one / 2, 16, 1.0);
	ck_assert_int_eq(http_cache_insert(&c, a, 0), 0);
	ck_assert_int_eq(http_cache_insert(&c, b, 0), 0);
	ck_assert_ptr_eq(http_cache_find(&c, "a", 1), a);	/* a is now the most recent */
	ck_assert_int_eq(http_cache_insert(&c, d, 0), 0);
	ck_assert_ptr_null(http_cache_find(&c, "b", 1));	/* b was evicted */
	ck_assert_ptr_eq(http_cache_find(&c, "a", 1), a);
	ck_assert_ptr_eq(http_cache_find(&c, "d", 1), d);
	ck_assert_uint_le(c.used, c.budget);
	struct http_cache_entry *big = entry("big", 3 * one);
	ck_assert_int_eq(http_cache_insert(&c, big, 0), -1);	/* the caller keeps it */
	ck_assert_ptr_eq(http_cache_find(&c, "a", 1), a);	/* nothing evicted for it */
	ck_assert_ptr_eq(http_cache_find(&c, "d", 1), d);
	http_cache_entry_free(big);
	http_cache_fini(&c);

	/* Off: a zero budget or no entries caches nothing. */
	http_cache_init(&c, 0, 16, 1.0);
	a = entry("a", 0);
	ck_assert_int_eq(http_cache_insert(&c, a, 0), -1);
	http_cache_entry_free(a);
	http_cache_fini(&c);
	http_cache_init(&c, 1 << 20, 0, 1.0);
	a = entry("a", 0);
	ck_assert_int_eq(http_cache_insert(&c, a, 0), -1);
	http_cache_entry_free(a);
	http_cache_fini(&c);
}
END_TEST

/* The entry count: the oldest goes, and its descriptor is closed. */
START_TEST(test_cache_eviction_count)
{
	struct http_cache c;
	http_cache_init(&c, 1 << 20, 2, 1.0);
	struct http_cache_entry *a = entry("a", 0), *b = entry("b", 0), *d = entry("d", 0);
	a->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(a->fd, 0);
	int afd = a->fd;
	ck_assert_int_eq(http_cache_insert(&c, a, 0), 0);
	ck_assert_int_eq(http_cache_insert(&c, b, 0), 0);
	ck_assert_int_eq(http_cache_insert(&c, d, 0), 0);
	ck_assert_uint_eq(c.count, 2);
	ck_assert_ptr_null(http_cache_find(&c, "a", 1));
	ck_assert_int_eq(fcntl(afd, F_GETFD), -1);		/* closed with its entry */
	ck_assert_ptr_eq(http_cache_find(&c, "b", 1), b);
	/* b was used last: d goes next. */
	struct http_cache_entry *e = entry("e", 0);
	ck_assert_int_eq(http_cache_insert(&c, e, 0), 0);
	ck_assert_ptr_null(http_cache_find(&c, "d", 1));
	ck_assert_ptr_eq(http_cache_find(&c, "b", 1), b);
	ck_assert_ptr_eq(http_cache_find(&c, "e", 1), e);
	http_cache_fini(&c);
}
END_TEST

/* A pinned entry (in use by the request) is never evicted. */
START_TEST(test_cache_pinned)
{
	struct http_cache c;
	http_cache_init(&c, 1 << 20, 1, 1.0);
	struct http_cache_entry *a = entry("a", 0), *b = entry("b", 0);
	ck_assert_int_eq(http_cache_insert(&c, a, 0), 0);
	a->pinned = 1;
	ck_assert_int_eq(http_cache_insert(&c, b, 0), -1);
	ck_assert_ptr_eq(http_cache_find(&c, "a", 1), a);
	/* Nor replaced under the same key. */
	struct http_cache_entry *a2 = entry("a", 0);
	ck_assert_int_eq(http_cache_insert(&c, a2, 0), -1);
	ck_assert_ptr_eq(http_cache_find(&c, "a", 1), a);
	http_cache_entry_free(a2);
	a->pinned = 0;
	ck_assert_int_eq(http_cache_insert(&c, b, 0), 0);
	ck_assert_ptr_null(http_cache_find(&c, "a", 1));
	http_cache_fini(&c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("http_static");
	TCase *tc = tcase_create("range");
	tcase_add_loop_test(tc, test_range, 0, sizeof(range_cases) / sizeof(range_cases[0]));
	tcase_add_test(tc, test_range_length);
	suite_add_tcase(s, tc);
	tc = tcase_create("etag");
	tcase_add_test(tc, test_etag_format);
	tcase_add_loop_test(tc, test_none_match, 0,
			    sizeof(none_match_cases) / sizeof(none_match_cases[0]));
	tcase_add_loop_test(tc, test_if_range, 0,
			    sizeof(if_range_cases) / sizeof(if_range_cases[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("gzip");
	tcase_add_loop_test(tc, test_gzip_accepted, 0, sizeof(gzip_cases) / sizeof(gzip_cases[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("cache");
	tcase_add_test(tc, test_cache_find_insert);
	tcase_add_test(tc, test_cache_many);
	tcase_add_test(tc, test_cache_hash_words);
	tcase_add_test(tc, test_cache_fresh);
	tcase_add_test(tc, test_cache_same);
	tcase_add_test(tc, test_cache_budget);
	tcase_add_test(tc, test_cache_eviction_count);
	tcase_add_test(tc, test_cache_pinned);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite(), CK_FORK);
}
