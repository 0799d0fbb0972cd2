/*
 * http_fields.c - header fields by name: the lines of a request head the
 * parser accepted, indexed for lookup without case (repeated fields each
 * kept, in order), and the check of a field a handler wants to send. Pure:
 * no I/O, no allocation.
 *
 * Entry points: http_fields_index, http_fields_find, http_fields_check_response.
 */
#include "http/http_engine.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

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
	for (const char *p = name; *p; p++)
		if (!is_tchar((unsigned char)*p)) {
			errno = EINVAL;
			return -1;
		}
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
			errno = EINVAL;
			return -1;
		}
	if (strcasecmp(name, "content-length") == 0 || strcasecmp(name, "transfer-encoding") == 0 ||
	    strcasecmp(name, "date") == 0 ||
	    (strcasecmp(name, "connection") == 0 && strcasecmp(value, "close") != 0)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}
