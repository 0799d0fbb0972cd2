/*
 * http_chunked.c - the chunked transfer coding of RFC 9112 section 7.1,
 * decoded incrementally: bytes may arrive split at any point, and data is
 * copied out as soon as it is there. Pure: no I/O, no allocation.
 *
 * Strict where leniency has let requests be smuggled past proxies: chunk
 * sizes are hex digits only (at most 15 of them), every line ends in CRLF
 * (a bare CR or LF is an error), a chunk's data is followed by CRLF, and
 * extensions and trailer lines are skipped but bounded in length and may not
 * hold control characters.
 *
 * Entry points: http_chunked_init, http_chunked_decode.
 */
#include "http/http_shared.h"

#include <string.h>

/* A size line (with extensions) or a trailer line may be at most this long. */
#define CHUNKED_MAX_LINE 4096
/* 15 hex digits keep every size below 2^60: no overflow. */
#define CHUNKED_MAX_DIGITS 15

enum {
	ST_SIZE,		/* hex digits of the chunk size */
	ST_SIZE_BWS,		/* blanks after the size, before ';' or CR */
	ST_EXT,			/* chunk extensions, up to CR */
	ST_SIZE_LF,		/* LF after the size line's CR */
	ST_DATA,		/* chunk_left bytes of data */
	ST_DATA_CR,		/* CR after the data */
	ST_DATA_LF,		/* LF after the data */
	ST_TRAILER,		/* start of a trailer line, or the final CRLF */
	ST_TRAILER_LINE,	/* inside a trailer field line, up to CR */
	ST_TRAILER_LF,		/* LF after a trailer line's CR */
	ST_FINAL_LF,		/* LF of the empty line that ends the body */
	ST_DONE
};

void http_chunked_init(struct http_chunked *c, unsigned long long limit)
{
	memset(c, 0, sizeof(*c));
	c->state = ST_SIZE;
	c->limit = limit;
}

static int hex_value(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A byte allowed inside an extension or a trailer line. */
static int line_byte_ok(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

/* The size line ended: start the chunk's data, or the trailers after the last one. */
static enum http_chunked_status end_size_line(struct http_chunked *c)
{
	if (c->chunk_left == 0) {
		c->state = ST_TRAILER;
		c->line = 0;
		return HTTP_CHUNKED_MORE;
	}
	if (c->chunk_left > c->limit || c->total > c->limit - c->chunk_left)
		return HTTP_CHUNKED_TOO_LARGE;
	c->state = ST_DATA;
	return HTTP_CHUNKED_MORE;
}

enum http_chunked_status http_chunked_decode(struct http_chunked *c, const char *in, size_t inlen,
					     size_t *consumed, char *out, size_t outcap,
					     size_t *produced)
{
	size_t i = 0, o = 0;
	enum http_chunked_status r = HTTP_CHUNKED_MORE;

	while (i < inlen && r == HTTP_CHUNKED_MORE && c->state != ST_DONE) {
		unsigned char ch = (unsigned char)in[i];
		if (c->state == ST_DATA) {
			size_t n = inlen - i;
			if (n > outcap - o)
				n = outcap - o;
			if (n > c->chunk_left)
				n = (size_t)c->chunk_left;
			if (n == 0)
				break;	/* no room left in out */
			memcpy(out + o, in + i, n);
			o += n;
			i += n;
			c->chunk_left -= n;
			c->total += n;
			if (c->chunk_left == 0)
				c->state = ST_DATA_CR;
			continue;
		}
		if (c->state == ST_SIZE || c->state == ST_SIZE_BWS || c->state == ST_EXT ||
		    c->state == ST_TRAILER_LINE) {
			if (++c->line > CHUNKED_MAX_LINE) {
				r = HTTP_CHUNKED_ERROR;
				break;
			}
		}
		i++;
		switch (c->state) {
		case ST_SIZE: {
			int v = hex_value(ch);
			if (v >= 0) {
				if (++c->digits > CHUNKED_MAX_DIGITS)
					r = HTTP_CHUNKED_ERROR;
				c->chunk_left = c->chunk_left * 16 + (unsigned)v;
			} else if (c->digits > 0 && (ch == ' ' || ch == '\t')) {
				c->state = ST_SIZE_BWS;
			} else if (c->digits > 0 && ch == ';') {
				c->state = ST_EXT;
			} else if (c->digits > 0 && ch == '\r') {
				c->state = ST_SIZE_LF;
			} else {
				r = HTTP_CHUNKED_ERROR;	/* no digit yet, or a stray byte */
			}
			break;
		}
		case ST_SIZE_BWS:
			if (ch == ';')
				c->state = ST_EXT;
			else if (ch == '\r')
				c->state = ST_SIZE_LF;
			else if (ch != ' ' && ch != '\t')
				r = HTTP_CHUNKED_ERROR;
			break;
		case ST_EXT:
			if (ch == '\r')
				c->state = ST_SIZE_LF;
			else if (!line_byte_ok(ch))
				r = HTTP_CHUNKED_ERROR;
			break;
		case ST_SIZE_LF:
			if (ch != '\n')
				r = HTTP_CHUNKED_ERROR;
			else
				r = end_size_line(c);
			break;
		case ST_DATA_CR:
			if (ch == '\r')
				c->state = ST_DATA_LF;
			else
				r = HTTP_CHUNKED_ERROR;
			break;
		case ST_DATA_LF:
			if (ch == '\n') {
				c->state = ST_SIZE;
				c->chunk_left = 0;
				c->digits = 0;
				c->line = 0;
			} else {
				r = HTTP_CHUNKED_ERROR;
			}
			break;
		case ST_TRAILER:
			if (ch == '\r') {
				c->state = ST_FINAL_LF;
			} else if (line_byte_ok(ch) && ch != ' ' && ch != '\t') {
				/* A trailer field; skipped (obs-fold continuations refused). */
				c->state = ST_TRAILER_LINE;
				c->line = 1;
			} else {
				r = HTTP_CHUNKED_ERROR;
			}
			break;
		case ST_TRAILER_LINE:
			if (ch == '\r')
				c->state = ST_TRAILER_LF;
			else if (!line_byte_ok(ch))
				r = HTTP_CHUNKED_ERROR;
			break;
		case ST_TRAILER_LF:
			if (ch == '\n') {
				c->state = ST_TRAILER;
				c->line = 0;
			} else {
				r = HTTP_CHUNKED_ERROR;
			}
			break;
		case ST_FINAL_LF:
			if (ch == '\n')
				c->state = ST_DONE;
			else
				r = HTTP_CHUNKED_ERROR;
			break;
		default:
			r = HTTP_CHUNKED_ERROR;
			break;
		}
	}
	*consumed = i;
	*produced = o;
	if (r == HTTP_CHUNKED_MORE && c->state == ST_DONE)
		r = HTTP_CHUNKED_DONE;
	return r;
}
