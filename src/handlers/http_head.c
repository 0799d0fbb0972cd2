/*
 * http_head.c - building a response head in a fixed buffer: bytes,
 * strings, decimal numbers, and the reason phrase of each status. What
 * does not fit the buffer is cut (the buffer is sized for the longest head).
 *
 * Entry points: http_head_put, http_head_put_str, http_head_put_num,
 * http_head_reason.
 */
#include "handlers/http_int.h"

#include <string.h>

void http_head_put(struct http_head *h, const char *s, size_t n)
{
	if (n > h->cap - h->len)
		n = h->cap - h->len;
	memcpy(h->p + h->len, s, n);
	h->len += n;
}

void http_head_put_str(struct http_head *h, const char *s)
{
	http_head_put(h, s, strlen(s));
}

void http_head_put_num(struct http_head *h, unsigned long long v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	http_head_put(h, tmp + i, sizeof(tmp) - i);
}

const char *http_head_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}
