/*
 * http_etag.c - entity tags and the validators of conditional requests
 * (RFC 9110 8.8 and 13), pure.
 *
 * A file's ETag is made of its modification time and size, as nginx does:
 * "<mtime in hex>-<size in hex>", a strong tag. If-None-Match uses the weak
 * comparison (W/"x" matches "x"); If-Range needs the strong one, or a date
 * equal to the file's Last-Modified.
 *
 * Entry points: http_etag_format, http_etag_none_match, http_etag_if_range.
 */
#include "handlers/http_static.h"
#include "handlers/http_parse.h"

#include <string.h>

static size_t put_hex(char *out, unsigned long long v)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0;
	do {
		tmp[n++] = hex[v & 15];
		v >>= 4;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

size_t http_etag_format(long long mtime, unsigned long long size, char out[HTTP_ETAG_MAX])
{
	size_t n = 0;
	out[n++] = '"';
	n += put_hex(out + n, (unsigned long long)mtime);
	out[n++] = '-';
	n += put_hex(out + n, size);
	out[n++] = '"';
	out[n] = '\0';
	return n;
}

/*
 * One entity-tag at v[*i]: [W/] DQUOTE *etagc DQUOTE. Sets *tag to the
 * quoted part (quotes included) and *weak. Returns 0, or -1 when malformed.
 */
static int next_tag(const char *v, size_t len, size_t *i, const char **tag, size_t *tlen,
		    int *weak)
{
	size_t p = *i;
	*weak = 0;
	if (len - p >= 2 && v[p] == 'W' && v[p + 1] == '/') {
		*weak = 1;
		p += 2;
	}
	if (p >= len || v[p] != '"')
		return -1;
	size_t s = p++;
	while (p < len && v[p] != '"') {
		unsigned char c = (unsigned char)v[p];
		if (c < 0x21 || c == 0x7f)
			return -1;
		p++;
	}
	if (p >= len)
		return -1;
	p++;
	*tag = v + s;
	*tlen = p - s;
	*i = p;
	return 0;
}

int http_etag_none_match(const char *v, size_t len, const char *etag, size_t etag_len)
{
	size_t i = 0;
	if (len == 1 && v[0] == '*')
		return 1;
	while (i < len) {
		const char *tag;
		size_t tlen;
		int weak;
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		if (i == len)
			break;
		if (next_tag(v, len, &i, &tag, &tlen, &weak) < 0)
			return 0;	/* a malformed list matches nothing */
		(void)weak;	/* the weak comparison ignores W/ */
		if (tlen == etag_len && memcmp(tag, etag, tlen) == 0)
			return 1;
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i < len && v[i] != ',')
			return 0;
	}
	return 0;
}

int http_etag_if_range(const char *v, size_t len, const char *etag, size_t etag_len,
		       long long mtime)
{
	if (len == 0)
		return 0;
	if (v[0] == '"' || (len >= 2 && v[0] == 'W' && v[1] == '/')) {
		const char *tag;
		size_t tlen, i = 0;
		int weak;
		if (next_tag(v, len, &i, &tag, &tlen, &weak) < 0 || i != len || weak)
			return 0;	/* a weak tag never validates a range */
		return tlen == etag_len && memcmp(tag, etag, tlen) == 0;
	}
	time_t t;
	return http_time_parse(v, len, &t) == 0 && (long long)t == mtime;
}
