/*
 * http_parse.c - an incremental HTTP/1.x request-head parser. Pure: no
 * I/O, no allocation, no global state, so that it can be unit-tested line
 * by line and fuzzed. The HTTP date formats are in http_time.c.
 *
 * Entry points: http_parse_init, http_parse_request, http_parse_str_eq.
 */
#include "handlers/http_parse.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/*
 * What each byte may be, by table (one load a byte: the parser looks at
 * every byte of every request): C_TOKEN, a tchar of RFC 9110 (a method, a
 * header name); C_HOST, a reg-name character of RFC 3986 (unreserved and
 * sub-delims); C_CTL, a control byte no field value may hold (all but
 * HTAB, and DEL); C_TARGET_END, a byte that ends or spoils a request
 * target (controls, space, DEL).
 */
enum { C_TOKEN = 1, C_HOST = 2, C_CTL = 4, C_TARGET_END = 8 };
#define TK C_TOKEN
#define HO C_HOST
#define TH (C_TOKEN | C_HOST)
#define TE C_TARGET_END
#define CE (C_CTL | C_TARGET_END)
static const unsigned char char_class[256] = {
	[0x00] = CE, [0x01] = CE, [0x02] = CE, [0x03] = CE, [0x04] = CE, [0x05] = CE,
	[0x06] = CE, [0x07] = CE, [0x08] = CE, ['\t'] = TE, [0x0a] = CE, [0x0b] = CE,
	[0x0c] = CE, [0x0d] = CE, [0x0e] = CE, [0x0f] = CE, [0x10] = CE, [0x11] = CE,
	[0x12] = CE, [0x13] = CE, [0x14] = CE, [0x15] = CE, [0x16] = CE, [0x17] = CE,
	[0x18] = CE, [0x19] = CE, [0x1a] = CE, [0x1b] = CE, [0x1c] = CE, [0x1d] = CE,
	[0x1e] = CE, [0x1f] = CE, [' '] = TE, ['!'] = TH, ['#'] = TK, ['$'] = TH, ['%'] = TK,
	['&'] = TH, ['\''] = TH, ['('] = HO, [')'] = HO, ['*'] = TH, ['+'] = TH, [','] = HO,
	['-'] = TH, ['.'] = TH, ['0'] = TH, ['1'] = TH, ['2'] = TH, ['3'] = TH, ['4'] = TH,
	['5'] = TH, ['6'] = TH, ['7'] = TH, ['8'] = TH, ['9'] = TH, [';'] = HO, ['='] = HO,
	['A'] = TH, ['B'] = TH, ['C'] = TH, ['D'] = TH, ['E'] = TH, ['F'] = TH, ['G'] = TH,
	['H'] = TH, ['I'] = TH, ['J'] = TH, ['K'] = TH, ['L'] = TH, ['M'] = TH, ['N'] = TH,
	['O'] = TH, ['P'] = TH, ['Q'] = TH, ['R'] = TH, ['S'] = TH, ['T'] = TH, ['U'] = TH,
	['V'] = TH, ['W'] = TH, ['X'] = TH, ['Y'] = TH, ['Z'] = TH, ['^'] = TK, ['_'] = TH,
	['`'] = TK, ['a'] = TH, ['b'] = TH, ['c'] = TH, ['d'] = TH, ['e'] = TH, ['f'] = TH,
	['g'] = TH, ['h'] = TH, ['i'] = TH, ['j'] = TH, ['k'] = TH, ['l'] = TH, ['m'] = TH,
	['n'] = TH, ['o'] = TH, ['p'] = TH, ['q'] = TH, ['r'] = TH, ['s'] = TH, ['t'] = TH,
	['u'] = TH, ['v'] = TH, ['w'] = TH, ['x'] = TH, ['y'] = TH, ['z'] = TH, ['|'] = TK,
	['~'] = TH, [0x7f] = CE,
};
#undef TK
#undef HO
#undef TH
#undef TE
#undef CE

/* Bits kept while the header lines are read. */
enum {
	SEEN_HOST = 1,
	SEEN_CLOSE = 2,
	SEEN_KEEP_ALIVE = 4,
	SEEN_CONTENT_LENGTH = 8,
	SEEN_TRANSFER_ENCODING = 16,
};

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int http_parse_str_eq(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);
	if (s.len != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s.ptr[i]) != lower((unsigned char)lit[i]))
			return 0;
	return 1;
}

/*
 * a[0..n) equals lit without case, for the parser's own literals: lit is
 * lower-case letters, digits and '-', and a holds no control bytes (a
 * token, a checked field value). Then OR-ing 0x20 into a byte matches
 * exactly its lower-case letter, or itself: only a control byte could
 * alias a digit or '-'.
 */
static int mem_ieq(const char *a, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)a[i] | 0x20) != (unsigned char)lit[i])
			return 0;
	return 1;
}

/*
 * Does v[0..n) hold a byte no field value may (a control byte but HTAB,
 * or DEL)? Eight bytes at a time: a word with no byte below 0x20 and none
 * equal to 0x7f is clean; one that may have one is looked at byte by byte.
 */
static int word_may_have_ctl(const char *p)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t x, d;
	memcpy(&x, p, 8);
	d = x ^ (0x7f * ones);
	return ((((x - 0x20 * ones) & ~x) | ((d - ones) & ~d)) & high) != 0;
}

static int has_ctl(const char *v, size_t n)
{
	size_t k = 0;
	while (k + 8 <= n && !word_may_have_ctl(v + k))
		k += 8;
	/* The last bytes as the word that ends the value (it overlaps one already seen). */
	if (k < n && n >= 8 && k + 8 > n && !word_may_have_ctl(v + n - 8))
		return 0;
	for (; k < n; k++)
		if (char_class[(unsigned char)v[k]] & C_CTL)
			return 1;
	return 0;
}

void http_parse_init(struct http_request *req, size_t max_size)
{
	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	req->max_size = max_size;
}

static enum http_parse_status fail(struct http_request *req, int status)
{
	req->status = status;
	return HTTP_PARSE_ERROR;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* unreserved / sub-delims of RFC 3986: the characters of a reg-name. */
static int is_host_char(char c)
{
	return char_class[(unsigned char)c] & C_HOST;
}

/*
 * Host = uri-host [ ":" port ] (RFC 9110 7.2): an IP-literal in brackets or
 * a reg-name (percent-encoding allowed), then digits after a colon. Empty
 * is valid (an empty authority). Returns 0, or -1.
 */
static int valid_host(const char *v, size_t len)
{
	size_t i = 0;
	if (len > 0 && v[0] == '[') {
		for (i = 1; i < len && v[i] != ']'; i++)
			if (!is_host_char(v[i]) && v[i] != ':')
				return -1;
		if (i == len || i == 1)
			return -1;
		i++;
	} else {
		for (;;) {
			while (i < len && (char_class[(unsigned char)v[i]] & C_HOST))
				i++;
			if (i == len || v[i] != '%')
				break;
			if (len - i < 3 || !is_hex(v[i + 1]) || !is_hex(v[i + 2]))
				return -1;
			i += 3;
		}
	}
	if (i == len)
		return 0;
	if (v[i] != ':')
		return -1;
	for (i++; i < len; i++)
		if (!is_digit(v[i]))
			return -1;
	return 0;
}

/*
 * Absolute-form ("http://host/path"): keep the authority as the host and
 * the rest as the target. Returns 0, or -1 when it is not a URI at all.
 */
static int split_absolute_form(struct http_request *req)
{
	const char *t = req->target.ptr;
	size_t len = req->target.len, i = 0;

	while (i < len && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
			   (i > 0 && ((t[i] >= '0' && t[i] <= '9') || t[i] == '+' ||
				      t[i] == '-' || t[i] == '.'))))
		i++;
	if (i == 0 || len - i < 3 || memcmp(t + i, "://", 3) != 0)
		return -1;
	if (!((i == 4 && mem_ieq(t, "http", 4)) || (i == 5 && mem_ieq(t, "https", 5))))
		return -1;
	size_t auth = i + 3, end = auth;
	while (end < len && t[end] != '/' && t[end] != '?')
		end++;
	if (end == auth || valid_host(t + auth, end - auth) < 0)
		return -1;
	req->host.ptr = t + auth;
	req->host.len = end - auth;
	if (end == len || t[end] == '?') {
		/* "http://host" and "http://host?q" mean the root. */
		static const char slash[] = "/";
		if (end == len) {
			req->target.ptr = slash;
			req->target.len = 1;
			return 0;
		}
		return -1;
	}
	req->target.ptr = t + end;
	req->target.len = len - end;
	return 0;
}

/* METHOD SP TARGET SP HTTP/D.D, without its line end. */
static enum http_parse_status parse_request_line(struct http_request *req, const char *p,
						 size_t len)
{
	size_t i = 0;

	req->request_line.ptr = p;
	req->request_line.len = len;

	while (i < len && (char_class[(unsigned char)p[i]] & C_TOKEN))
		i++;
	if (i == 0 || i == len || p[i] != ' ')
		return fail(req, 400);
	req->method_name.ptr = p;
	req->method_name.len = i;
	if (i == 3 && memcmp(p, "GET", 3) == 0)
		req->method = HTTP_METHOD_GET;
	else if (i == 4 && memcmp(p, "HEAD", 4) == 0)
		req->method = HTTP_METHOD_HEAD;
	else
		req->method = HTTP_METHOD_OTHER;

	size_t t = ++i;
	while (i < len && !(char_class[(unsigned char)p[i]] & C_TARGET_END))
		i++;
	if (i < len && p[i] != ' ')
		return fail(req, 400);
	if (i == t || i == len)
		return fail(req, 400);	/* no target, or HTTP/0.9 */
	req->target.ptr = p + t;
	req->target.len = i - t;
	i++;

	/* HTTP-version: "HTTP/" DIGIT "." DIGIT, exactly (RFC 9112 2.3). */
	const char *v = p + i;
	if (len - i != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' ||
	    !is_digit(v[7]))
		return fail(req, 400);
	req->version_major = v[5] - '0';
	req->version_minor = v[7] - '0';
	if (req->version_major != 1)
		return fail(req, 505);

	if (req->target.ptr[0] != '/' &&
	    !(req->target.len == 1 && req->target.ptr[0] == '*') &&
	    split_absolute_form(req) < 0)
		return fail(req, 400);
	return HTTP_PARSE_INCOMPLETE;
}

/* The tokens of a Connection header: close, keep-alive. */
static void parse_connection(const char *v, size_t len, int *seen)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (i - s == 5 && mem_ieq(v + s, "close", 5))
			*seen |= SEEN_CLOSE;
		else if (i - s == 10 && mem_ieq(v + s, "keep-alive", 10))
			*seen |= SEEN_KEEP_ALIVE;
	}
}

/*
 * Content-Length: 1*DIGIT, or a list of identical values. Values too large
 * to matter are clamped, so the handler answers 413 rather than 400.
 */
static int parse_content_length(struct http_request *req, const char *v, size_t len,
				 int *seen)
{
	size_t i = 0;
	if (len == 0)
		return -1;	/* empty: no length at all, not zero */
	while (i < len) {
		long long value = 0;
		size_t s = i;
		while (i < len && v[i] >= '0' && v[i] <= '9') {
			if (value < LLONG_MAX / 100)
				value = value * 10 + (v[i] - '0');
			i++;
		}
		if (i == s)
			return -1;
		if ((*seen & SEEN_CONTENT_LENGTH) && value != req->content_length)
			return -1;
		req->content_length = value;
		*seen |= SEEN_CONTENT_LENGTH;
		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i < len) {
			if (v[i] != ',')
				return -1;
			i++;
			while (i < len && (v[i] == ' ' || v[i] == '\t'))
				i++;
			if (i == len)
				return -1;
		}
	}
	return 0;
}

/*
 * Transfer-Encoding: a list of codings, maybe over several lines. Only
 * "chunked" is understood; what it means is settled in finish().
 */
static void parse_transfer_encoding(struct http_request *req, const char *v, size_t len)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		if (i == len)
			break;
		size_t s = i;
		while (i < len && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		int chunked = e - s == 7 && mem_ieq(v + s, "chunked", 7);
		req->te_codings++;
		req->te_chunked += chunked;
		req->te_unknown |= !chunked;
		req->te_last_chunked = chunked;
	}
}

/* Expect: only "100-continue" means anything (RFC 9110 10.1.1). */
static void parse_expect(struct http_request *req, const char *v, size_t len)
{
	/* An HTTP/1.0 client cannot expect 100 (RFC 9110 10.1.1): ignore it. */
	if (req->version_minor >= 1 && len == 12 && mem_ieq(v, "100-continue", 12))
		req->expect_continue = 1;
}

/* One "name: value" line, without its line end. */
static enum http_parse_status parse_header_line(struct http_request *req, const char *p,
						size_t len, int *seen)
{
	size_t i = 0;

	/* A line folded onto the previous one (obs-fold) is refused. */
	while (i < len && (char_class[(unsigned char)p[i]] & C_TOKEN))
		i++;
	if (i == 0 || i == len || p[i] != ':')
		return fail(req, 400);
	const char *name = p;
	size_t nlen = i++;

	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	size_t vend = len;
	while (vend > i && (p[vend - 1] == ' ' || p[vend - 1] == '\t'))
		vend--;
	/* Host is checked more strictly below (valid_host refuses every control byte). */
	int is_host = nlen == 4 && mem_ieq(name, "host", 4);
	if (!is_host && has_ctl(p + i, vend - i))
		return fail(req, 400);
	const char *v = p + i;
	size_t vlen = vend - i;

	switch (nlen) {
	case 5:
		if (mem_ieq(name, "range", 5)) {
			req->range.ptr = v;
			req->range.len = vlen;
		}
		break;
	case 8:
		if (mem_ieq(name, "if-range", 8)) {
			req->if_range.ptr = v;
			req->if_range.len = vlen;
		}
		break;
	case 13:
		if (mem_ieq(name, "if-none-match", 13)) {
			req->if_none_match.ptr = v;
			req->if_none_match.len = vlen;
		}
		break;
	case 15:
		if (mem_ieq(name, "accept-encoding", 15)) {
			req->accept_encoding.ptr = v;
			req->accept_encoding.len = vlen;
		}
		break;
	case 4:
		if (is_host) {
			if ((*seen & SEEN_HOST) || valid_host(v, vlen) < 0)
				return fail(req, 400);
			*seen |= SEEN_HOST;
			/* An absolute-form target's authority wins over Host. */
			if (req->host.ptr == NULL) {
				req->host.ptr = v;
				req->host.len = vlen;
			}
		}
		break;
	case 10:
		if (mem_ieq(name, "connection", 10))
			parse_connection(v, vlen, seen);
		break;
	case 14:
		if (mem_ieq(name, "content-length", 14) &&
		    parse_content_length(req, v, vlen, seen) < 0)
			return fail(req, 400);
		break;
	case 17:
		if (mem_ieq(name, "if-modified-since", 17)) {
			req->if_modified_since.ptr = v;
			req->if_modified_since.len = vlen;
		} else if (mem_ieq(name, "transfer-encoding", 17)) {
			*seen |= SEEN_TRANSFER_ENCODING;
			parse_transfer_encoding(req, v, vlen);
		}
		break;
	case 6:
		if (mem_ieq(name, "expect", 6))
			parse_expect(req, v, vlen);
		break;
	default:
		break;
	}
	return HTTP_PARSE_INCOMPLETE;
}

/* The head is complete: settle what depends on all the headers together. */
static enum http_parse_status finish(struct http_request *req, int seen)
{
	/* RFC 9112 3.2: HTTP/1.1 needs exactly one valid Host (checked as read). */
	if (req->version_minor >= 1 && !(seen & SEEN_HOST))
		return fail(req, 400);
	/* Both framings at once is how requests are smuggled: refuse. */
	if ((seen & SEEN_TRANSFER_ENCODING) && (seen & SEEN_CONTENT_LENGTH))
		return fail(req, 400);
	if (seen & SEEN_TRANSFER_ENCODING) {
		/*
		 * RFC 9112 6.1, 6.3: the body's length is known only when
		 * chunked is the final coding, applied once; HTTP/1.0 has no
		 * transfer codings at all. Codings we do not know: 501.
		 */
		if (req->version_minor == 0 || !req->te_last_chunked || req->te_chunked != 1)
			return fail(req, 400);
		if (req->te_unknown)
			return fail(req, 501);
		req->chunked = 1;
	}
	if (req->version_minor >= 1)
		req->keep_alive = !(seen & SEEN_CLOSE);
	else
		req->keep_alive = (seen & SEEN_KEEP_ALIVE) && !(seen & SEEN_CLOSE);
	return HTTP_PARSE_DONE;
}

/*
 * Lines end in LF, optionally preceded by CR; a CR anywhere else is an
 * error. Limits count from the first byte of buf, so that the handler, whose
 * buffer holds max_size bytes, always gets an answer once it is full: a
 * request line that does not fit is 414, a head that does not fit is 431.
 */
enum http_parse_status http_parse_request(struct http_request *req, const char *buf,
					  size_t len)
{
	int seen = 0;

	/* Empty lines before the request line are ignored (RFC 9112 2.2). */
	if (!req->have_request_line) {
		size_t h = req->head_start;
		for (;;) {
			if (h < len && buf[h] == '\n') {
				h++;
			} else if (h < len && buf[h] == '\r') {
				if (h + 1 == len)
					break;
				if (buf[h + 1] != '\n')
					return fail(req, 400);
				h += 2;
			} else {
				break;
			}
		}
		req->head_start = h;
		if (req->line_start < h)
			req->line_start = h;
		if (req->scanned < h)
			req->scanned = h;
	}

	seen = req->seen;
	size_t pos = req->scanned;
	for (;;) {
		const char *nl = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
		if (nl == NULL) {
			req->scanned = len;
			if (len >= req->max_size)
				return fail(req, req->have_request_line ? 431 : 414);
			req->seen = seen;
			return HTTP_PARSE_INCOMPLETE;
		}
		size_t end = (size_t)(nl - buf);	/* index of the LF */
		size_t ls = req->line_start;
		size_t llen = end - ls;
		if (llen > 0 && buf[end - 1] == '\r')
			llen--;
		/*
		 * A CR left inside the line is refused where the line is read:
		 * it is no tchar (method, header name), it ends a target badly,
		 * it is no version, and it is a control byte in a field value.
		 */
		pos = end + 1;
		req->scanned = pos;
		req->line_start = pos;

		if (!req->have_request_line) {
			if (pos > req->max_size) {
				req->request_line.ptr = buf + ls;
				req->request_line.len = llen;
				return fail(req, 414);
			}
			req->have_request_line = 1;
			if (parse_request_line(req, buf + ls, llen) == HTTP_PARSE_ERROR)
				return HTTP_PARSE_ERROR;
			continue;
		}
		if (pos > req->max_size)
			return fail(req, 431);
		if (llen == 0) {
			req->consumed = pos;
			return finish(req, seen);
		}
		if (parse_header_line(req, buf + ls, llen, &seen) == HTTP_PARSE_ERROR)
			return HTTP_PARSE_ERROR;
	}
}
