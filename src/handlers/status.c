/*
 * status.c (handler) - the scoreboard over a connection. It reads one
 * line: `GET ...` gets an HTTP response (JSON for `/?json` or `Accept:
 * application/json`), the line `json` gets JSON, anything else (or end of
 * input) gets the text form. `GET /health` (or the line `health`) answers
 * "ok" (200), or "draining" (503) while the master drains.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BARE_WAIT 1.0	/* seconds a silent client waits for the text form */

/* header_timeout: the whole request (line or HTTP head) must come within it. */
static int read_timeout_key(const struct pf_settings *s, double *out)
{
	return pf_settings_double(s, "header_timeout", 2.0, 0.001, 86400.0, out);
}

static int status_check(const struct pf_settings *s)
{
	double t;
	return read_timeout_key(s, &t) < 0;
}

static int status_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	double *t = malloc(sizeof(*t));
	(void)w;
	if (!t || read_timeout_key(s, t) < 0) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static void status_fini(struct pf_worker *w, void *state)
{
	(void)w;
	free(state);
}

/*
 * Read until a blank line ends an HTTP head, or the first line otherwise,
 * all within `timeout` seconds. A client that sends nothing at all gets
 * the text form after a second (or the timeout, when shorter); one that
 * started but is not done in time gets nothing: -1.
 */
static ssize_t read_request(struct pf_conn *c, char *buf, size_t cap, double timeout)
{
	double deadline = util_now() + timeout;
	size_t len = 0;
	while (len < cap - 1) {
		double left = deadline - util_now();
		if (len == 0 && left > BARE_WAIT)
			left = BARE_WAIT;
		ssize_t n = -1;
		errno = ETIMEDOUT;
		if (left >= 0.001)
			n = pf_conn_read_timeout(c, buf + len, cap - 1 - len, left);
		if (n < 0 && errno == ETIMEDOUT && len > 0)
			return -1;	/* a trickling client: it had its time */
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strncmp(buf, "GET ", 4) == 0 || strncmp(buf, "HEAD ", 5) == 0) {
			if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
				break;
		} else if (strchr(buf, '\n')) {
			break;
		}
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

static int status_handle(struct pf_conn *c, void *state)
{
	char req[8192] = "";	/* all zero: the analyzer cannot see read_request NUL-terminate */
	if (read_request(c, req, sizeof(req), state ? *(const double *)state : 2.0) < 0)
		return 0;
	int http = strncmp(req, "GET ", 4) == 0 || strncmp(req, "HEAD ", 5) == 0;
	int json = 0;
	if (http) {
		char *eol = strpbrk(req, "\r\n");
		char *target = strchr(req, ' ') + 1;
		size_t tlen = eol ? (size_t)(eol - target) : strlen(target);
		json = memmem(target, tlen, "?json", 5) != NULL;
		for (char *h = eol; h && *h && !json; h = strpbrk(h + 1, "\n")) {
			if (strncasecmp(h + 1, "accept:", 7) == 0) {
				char *end = strpbrk(h + 1, "\r\n");
				json = memmem(h + 1, end ? (size_t)(end - h - 1) : strlen(h + 1),
					      "application/json", 16) != NULL;
			}
		}
	} else {
		char *p = req;
		while (*p == ' ' || *p == '\t')
			p++;
		json = strncmp(p, "json", 4) == 0 && (p[4] == '\0' || p[4] == '\r' || p[4] == '\n' || p[4] == ' ');
	}

	/* GET /health (or the line `health`): 200 while serving, 503 while draining. */
	const char *path = http ? strchr(req, ' ') + 1 : req;
	int health = strncmp(path, "/health", 7) == 0 ? strchr(" ?\r\n", path[7]) != NULL :
		     !http && strncmp(path, "health", 6) == 0 && strchr("\r\n", path[6]);
	int draining = scoreboard && scoreboard->draining;
	struct buf body;
	buf_init(&body);
	if (health)
		buf_printf(&body, "%s\n", draining ? "draining" : "ok");
	else
		status_render(&body, json);
	int rc;
	if (http) {
		char head[256];
		int code = health && draining ? 503 : 200;
		int n = snprintf(head, sizeof(head),
				 "HTTP/1.1 %d %s\r\nServer: preforkd\r\nContent-Type: %s\r\n"
				 "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
				 code, code == 200 ? "OK" : "Service Unavailable",
				 json && !health ? "application/json" : "text/plain; charset=utf-8", body.len);
		struct iovec iov[2] = { { head, (size_t)n }, { body.data, body.len } };
		rc = pf_conn_writev(c, iov, strncmp(req, "HEAD ", 5) == 0 ? 1 : 2) < 0 ? -1 : 0;
	} else {
		rc = pf_conn_write(c, body.data, body.len) < 0 ? -1 : 0;
	}
	buf_free(&body);
	return rc;
}

const struct pf_handler status_handler = {
	.abi = PF_ABI_VERSION,
	.name = "status",
	.check = status_check,
	.init = status_init,
	.handle = status_handle,
	.fini = status_fini,
};
