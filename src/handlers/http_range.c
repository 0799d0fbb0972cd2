/*
 * http_range.c - the Range header of a GET (RFC 9110 14.1-14.2), pure.
 *
 * Only the "bytes" unit is understood. One satisfiable range is served as
 * 206; a valid header whose ranges all lie beyond the end is 416; anything
 * else (another unit, bad syntax, several ranges) is ignored and the whole
 * file is sent with 200, as RFC 9110 allows.
 *
 * Entry point: http_range_parse.
 */
#include "handlers/http_static.h"

#include <limits.h>

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1*DIGIT at v[*i], saturating at ULLONG_MAX. Returns 0, or -1 when no digit. */
static int parse_pos(const char *v, size_t len, size_t *i, unsigned long long *out)
{
	unsigned long long n = 0;
	size_t s = *i;
	while (*i < len && is_digit(v[*i])) {
		unsigned d = (unsigned)(v[*i] - '0');
		n = n > (ULLONG_MAX - d) / 10 ? ULLONG_MAX : n * 10 + d;
		(*i)++;
	}
	*out = n;
	return *i == s ? -1 : 0;
}

static void skip_ows(const char *v, size_t len, size_t *i)
{
	while (*i < len && (v[*i] == ' ' || v[*i] == '\t'))
		(*i)++;
}

enum http_range_result http_range_parse(const char *v, size_t len, unsigned long long size,
					struct http_range *out)
{
	static const char unit[] = "bytes=";
	size_t i = 0;
	int ranges = 0, satisfiable = 0, empty_suffix = 0;

	if (len < sizeof(unit) - 1)
		return HTTP_RANGE_IGNORE;
	for (; i < sizeof(unit) - 1; i++) {
		char c = v[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != unit[i])
			return HTTP_RANGE_IGNORE;
	}
	/* range-set = 1#range-spec; empty list elements are allowed (RFC 9110 5.6.1). */
	while (i < len) {
		unsigned long long first, last;
		skip_ows(v, len, &i);
		if (i < len && v[i] == ',') {
			i++;
			continue;
		}
		if (i == len)
			break;
		if (v[i] == '-') {
			/* suffix-range: the last N bytes. */
			i++;
			if (parse_pos(v, len, &i, &last) < 0)
				return HTTP_RANGE_IGNORE;
			ranges++;
			empty_suffix |= last > 0 && size == 0;
			if (last > 0 && size > 0) {
				satisfiable++;
				out->first = last >= size ? 0 : size - last;
				out->last = size - 1;
			}
		} else {
			if (parse_pos(v, len, &i, &first) < 0 || i == len || v[i] != '-')
				return HTTP_RANGE_IGNORE;
			i++;
			int open_end = i == len || !is_digit(v[i]);
			if (!open_end && parse_pos(v, len, &i, &last) < 0)
				return HTTP_RANGE_IGNORE;
			if (!open_end && last < first)
				return HTTP_RANGE_IGNORE;	/* an invalid range-spec */
			ranges++;
			if (first < size) {
				satisfiable++;
				out->first = first;
				out->last = open_end || last >= size ? size - 1 : last;
			}
		}
		skip_ows(v, len, &i);
		if (i < len && v[i] != ',')
			return HTTP_RANGE_IGNORE;
	}
	if (ranges == 0)
		return HTTP_RANGE_IGNORE;
	/* A suffix of an empty file is satisfiable but empty: send it whole. */
	if (satisfiable == 0)
		return empty_suffix ? HTTP_RANGE_IGNORE : HTTP_RANGE_UNSATISFIABLE;
	return ranges == 1 ? HTTP_RANGE_ONE : HTTP_RANGE_IGNORE;
}
