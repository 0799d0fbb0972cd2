/*
 * httpresp.c - an incremental HTTP/1.x response parser that allocates
 * nothing, shared by the one-shot and load modes.
 *
 * The caller keeps the bytes of the head in its own buffer and calls
 * httpresp_head() as more arrive, until it returns the head's length; then
 * it passes the bytes that follow to httpresp_body(), which frames the body
 * (Content-Length, chunked, or until the server closes) and points at each
 * piece of body data, until the state is HR_DONE. httpresp_eof() says
 * whether end of input completes the response.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <strings.h>

#include "client/client.h"

void httpresp_init(struct httpresp *r)
{
	memset(r, 0, sizeof(*r));
	r->hr_state = HR_HEAD;
}

static ssize_t fail(struct httpresp *r, const char *why)
{
	r->hr_state = HR_ERROR;
	r->hr_error = why;
	return -1;
}

/* Find the end of the head (after its empty line) in BUF; 0 if not there yet. */
static size_t head_end(struct httpresp *r, const char *buf, size_t len)
{
	size_t i = r->hr_scanned;

	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);

		if (nl == NULL) {
			r->hr_scanned = len;
			return 0;
		}
		i = (size_t)(nl - buf);
		if (i + 1 >= len)
			break;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r') {
			if (i + 2 >= len)
				break;
			if (buf[i + 2] == '\n')
				return i + 3;
		}
		i++;
	}
	/* Resume at this newline, whose following line is still incomplete. */
	r->hr_scanned = i;
	return 0;
}

/* Does the comma-separated header VALUE (of length LEN) contain TOKEN? */
static bool has_token(const char *value, size_t len, const char *token, bool last_only)
{
	size_t tlen = strlen(token);
	size_t i = 0;
	bool found = false;

	while (i < len) {
		size_t start, end;

		while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
			i++;
		start = i;
		while (i < len && value[i] != ',')
			i++;
		end = i;
		while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
			end--;
		if (end == start)
			continue;
		found = end - start == tlen && strncasecmp(value + start, token, tlen) == 0;
		if (found && !last_only)
			return true;
	}
	return found;
}

/*
 * Parse the head if BUF holds all of it. Returns its length (the body
 * starts there), 0 when more bytes are needed, -1 on a malformed response.
 * After an interim 1xx response the state stays HR_HEAD: the caller drops
 * those bytes and goes on with the next head.
 */
ssize_t httpresp_head(struct httpresp *r, const char *buf, size_t len)
{
	size_t end, i, line_end;
	bool chunked = false, other_coding = false, has_length = false;
	bool conn_close = false, conn_keep = false;
	uint64_t length = 0;
	int minor;
	const char *nl;

	if (r->hr_state != HR_HEAD)
		return fail(r, "parser misuse");
	end = head_end(r, buf, len);
	if (end == 0) {
		if (len >= 8 && memcmp(buf, "HTTP/1.", 7) != 0)
			return fail(r, "not an HTTP/1.x response");
		if (len >= HTTPRESP_MAX_HEAD)
			return fail(r, "response head too large");
		return 0;
	}

	/* Status line: HTTP/1.x SSS [reason] */
	nl = memchr(buf, '\n', end);
	line_end = (size_t)(nl - buf);
	if (line_end < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
	    buf[7] < '0' || buf[7] > '9' || buf[8] != ' ' ||
	    buf[9] < '1' || buf[9] > '9' || buf[10] < '0' || buf[10] > '9' ||
	    buf[11] < '0' || buf[11] > '9' ||
	    (buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n'))
		return fail(r, "malformed status line");
	minor = buf[7] - '0';
	r->hr_status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');

	/* Header lines, up to the empty line. */
	for (i = line_end + 1; i < end; ) {
		const char *line = buf + i, *colon, *value;
		size_t llen, nlen, vlen;

		nl = memchr(line, '\n', end - i);
		llen = (size_t)(nl - line);
		i += llen + 1;
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (llen == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t')
			continue;	/* obsolete line folding: ignore */
		colon = memchr(line, ':', llen);
		if (colon == NULL || colon == line)
			return fail(r, "malformed header line");
		nlen = (size_t)(colon - line);
		value = colon + 1;
		vlen = llen - nlen - 1;
		while (vlen > 0 && (*value == ' ' || *value == '\t')) {
			value++;
			vlen--;
		}
		while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
			vlen--;
		if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
			uint64_t v = 0;
			size_t k;

			if (vlen == 0 || vlen > 19)
				return fail(r, "bad Content-Length");
			for (k = 0; k < vlen; k++) {
				if (value[k] < '0' || value[k] > '9')
					return fail(r, "bad Content-Length");
				v = v * 10 + (uint64_t)(value[k] - '0');
			}
			if (has_length && v != length)
				return fail(r, "conflicting Content-Length headers");
			has_length = true;
			length = v;
		} else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
			if (has_token(value, vlen, "chunked", true))
				chunked = true;
			else
				other_coding = true;
		} else if (nlen == 10 && strncasecmp(line, "connection", 10) == 0) {
			if (has_token(value, vlen, "close", false))
				conn_close = true;
			if (has_token(value, vlen, "keep-alive", false))
				conn_keep = true;
		}
	}

	r->hr_scanned = 0;
	r->hr_remaining = 0;
	r->hr_digits = false;
	if (r->hr_status < 200) {
		if (r->hr_status == 101)
			return fail(r, "unexpected 101 Switching Protocols");
		return (ssize_t)end;	/* interim response: another head follows */
	}
	r->hr_close = conn_close || (minor == 0 && !conn_keep);
	if (r->hr_status == 204 || r->hr_status == 304) {
		r->hr_state = HR_DONE;
	} else if (chunked && !other_coding) {
		r->hr_state = HR_CHUNK_SIZE;
	/* NOLINTNEXTLINE(bugprone-branch-clone): like the last case, but a rule of its own */
	} else if (chunked || other_coding) {
		r->hr_state = HR_BODY_EOF;
		r->hr_close = true;
	} else if (has_length) {
		r->hr_remaining = length;
		r->hr_state = length > 0 ? HR_BODY_LENGTH : HR_DONE;
	} else {
		r->hr_state = HR_BODY_EOF;
		r->hr_close = true;
	}
	return (ssize_t)end;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The chunk-size line ended: data follows, or the last chunk's trailer. */
static void chunk_line_done(struct httpresp *r)
{
	r->hr_state = r->hr_remaining > 0 ? HR_CHUNK_DATA : HR_TRAILER_START;
}

/*
 * Consume body bytes from BUF. Returns how many were consumed; when some of
 * them are body data, *DATA_OFF and *DATA_LEN point at them (one piece per
 * call, so the caller loops while bytes remain and the state is not
 * HR_DONE or HR_ERROR). Bytes after the end of the response are left.
 */
size_t httpresp_body(struct httpresp *r, const char *buf, size_t len,
		     size_t *data_off, size_t *data_len)
{
	size_t i = 0, n;
	const char *nl;
	int v;

	*data_off = 0;
	*data_len = 0;
	while (i < len) {
		switch (r->hr_state) {
		case HR_BODY_LENGTH:
			n = len - i;
			if (n > r->hr_remaining)
				n = (size_t)r->hr_remaining;
			*data_off = i;
			*data_len = n;
			r->hr_remaining -= n;
			if (r->hr_remaining == 0)
				r->hr_state = HR_DONE;
			return i + n;
		case HR_BODY_EOF:
			*data_off = i;
			*data_len = len - i;
			return len;
		case HR_CHUNK_SIZE:
			v = hexval(buf[i]);
			if (v >= 0) {
				if (r->hr_remaining > (UINT64_MAX >> 4)) {
					fail(r, "chunk size too large");
					return i;
				}
				r->hr_remaining = r->hr_remaining * 16 + (uint64_t)v;
				r->hr_digits = true;
				i++;
				break;
			}
			if (!r->hr_digits) {
				fail(r, "bad chunk size");
				return i;
			}
			if (buf[i] == '\n') {
				i++;
				chunk_line_done(r);
			} else if (buf[i] == '\r' || buf[i] == ';' || buf[i] == ' ' || buf[i] == '\t') {
				i++;
				r->hr_state = HR_CHUNK_EXT;
			} else {
				fail(r, "bad chunk size");
				return i;
			}
			break;
		case HR_CHUNK_EXT:
			nl = memchr(buf + i, '\n', len - i);
			if (nl == NULL)
				return len;
			i = (size_t)(nl - buf) + 1;
			chunk_line_done(r);
			break;
		case HR_CHUNK_DATA:
			n = len - i;
			if (n > r->hr_remaining)
				n = (size_t)r->hr_remaining;
			*data_off = i;
			*data_len = n;
			r->hr_remaining -= n;
			if (r->hr_remaining == 0)
				r->hr_state = HR_CHUNK_DATA_CR;
			return i + n;
		case HR_CHUNK_DATA_CR:
			if (buf[i] == '\r') {
				r->hr_state = HR_CHUNK_DATA_LF;
			} else if (buf[i] == '\n') {
				r->hr_state = HR_CHUNK_SIZE;
				r->hr_digits = false;
			} else {
				fail(r, "missing CRLF after chunk data");
				return i;
			}
			i++;
			break;
		case HR_CHUNK_DATA_LF:
			if (buf[i] != '\n') {
				fail(r, "missing CRLF after chunk data");
				return i;
			}
			r->hr_state = HR_CHUNK_SIZE;
			r->hr_digits = false;
			i++;
			break;
		case HR_TRAILER_START:
			if (buf[i] == '\n') {
				r->hr_state = HR_DONE;
				return i + 1;
			}
			r->hr_state = buf[i] == '\r' ? HR_TRAILER_START : HR_TRAILER_LINE;
			i++;
			break;
		case HR_TRAILER_LINE:
			nl = memchr(buf + i, '\n', len - i);
			if (nl == NULL)
				return len;
			i = (size_t)(nl - buf) + 1;
			r->hr_state = HR_TRAILER_START;
			break;
		case HR_HEAD:
			fail(r, "parser misuse");
			return i;
		case HR_DONE:
		case HR_ERROR:
			return i;
		}
	}
	return i;
}

/* End of input: true when it completes the response (or it was complete). */
bool httpresp_eof(struct httpresp *r)
{
	if (r->hr_state == HR_BODY_EOF)
		r->hr_state = HR_DONE;
	return r->hr_state == HR_DONE;
}
