/*
 * http_fields.c - header fields by name: the lines of a request head the
 * parser accepted, indexed for lookup without case (repeated fields each
 * kept, in order), and the check of a field a handler wants to send. Pure:
 * no I/O, no allocation.
 *
 * Entry points: http_fields_index, http_fields_find, http_fields_check_response.
 */
#include "http/http_shared.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* tchar of RFC 9110, by table: a response header's name is checked byte by byte. */
static const unsigned char tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

/*
 * The parser has checked every line (token name, ':', no control bytes in
 * the value, no folding), so this pass only splits them. The first line is
 * the request line; leading blank lines were allowed before it.
 */
int http_fields_index(const char *head, size_t len, char *store, struct http_field *fields,
		      int max)
{
	size_t i = 0, s = 0;
	int n = 0, request_line_seen = 0;

	while (i < len) {
		size_t start = i;
		while (i < len && head[i] != '\n')
			i++;
		size_t end = i;
		if (i < len)
			i++;	/* the LF */
		if (end > start && head[end - 1] == '\r')
			end--;
		if (end == start) {
			if (request_line_seen)
				break;	/* the blank line that ends the head */
			continue;
		}
		if (!request_line_seen) {
			request_line_seen = 1;
			continue;
		}
		const char *colon = memchr(head + start, ':', end - start);
		if (!colon || n >= max)
			continue;
		size_t nlen = (size_t)(colon - (head + start));
		size_t v = (size_t)(colon - head) + 1;
		while (v < end && (head[v] == ' ' || head[v] == '\t'))
			v++;
		size_t vend = end;
		while (vend > v && (head[vend - 1] == ' ' || head[vend - 1] == '\t'))
			vend--;
		/* name NUL value NUL: never more than the line itself plus its line end. */
		fields[n].name = store + s;
		memcpy(store + s, head + start, nlen);
		s += nlen;
		store[s++] = '\0';
		fields[n].value = store + s;
		memcpy(store + s, head + v, vend - v);
		s += vend - v;
		store[s++] = '\0';
		n++;
	}
	return n;
}

const char *http_fields_find(const struct http_field *fields, int count, const char *name, int n)
{
	for (int i = 0; i < count; i++)
		if (strcasecmp(fields[i].name, name) == 0 && n-- == 0)
			return fields[i].value;
	return NULL;
}

int http_fields_check_response(const char *name, const char *value)
{
	if (!name || !value || !name[0]) {
		errno = EINVAL;
		return -1;
	}
	const char *p = name;
	for (; *p; p++)
		if (!tchar[(unsigned char)*p]) {
			errno = EINVAL;
			return -1;
		}
	size_t nlen = (size_t)(p - name);
	for (const unsigned char *v = (const unsigned char *)value; *v; v++)
		if ((*v < 0x20 && *v != '\t') || *v == 0x7f) {
			errno = EINVAL;
			return -1;
		}
	/* The library's own names, by length first (Content-Type is no Content-Length). */
	if ((nlen == 14 && strcasecmp(name, "content-length") == 0) ||
	    (nlen == 17 && strcasecmp(name, "transfer-encoding") == 0) ||
	    (nlen == 4 && strcasecmp(name, "date") == 0) ||
	    (nlen == 10 && strcasecmp(name, "connection") == 0 && strcasecmp(value, "close") != 0)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}
