/*
 * httpmod.c - an HTTP app (handle_http) whose routes exercise the request
 * and response calls for the integration tests:
 *	/peer      the client's address (PROXY-aware), as text
 *	/headers   every X-Tag value, in order, and the number of headers
 *	/echo      the body read in pieces of ?N bytes (default 7), sent back
 *	/unread    answers without reading the body
 *	/stream    three pieces with pf_http_write
 *	/file      ?PATH sent with pf_http_send_file
 *	/fail      returns -1 with errno EIO before any response
 *	/fail-late streams one piece, then returns -1
 *	/nothing   returns 0 without a response
 *	/json      pf_http_json with a status from ?N
 * With httpmod = { fini_dir = "DIR"; }, fini creates DIR/fini.PID (the
 * stop tests count them).
 */
#include <prefork.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char body[1 << 20];

static int headers(struct pf_http *h)
{
	char out[4096];
	size_t o = 0;
	const char *v, *name;
	int n = 0;
	for (int i = 0; (v = pf_http_header_nth(h, "x-tag", i)); i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? "|" : "", v);
	while (pf_http_header_at(h, n, &name, &v) == 0)
		n++;
	o += (size_t)snprintf(out + o, sizeof(out) - o, " %d\n", n);
	return pf_http_respond(h, 200, "text/plain", out, o);
}

static int echo(struct pf_http *h)
{
	size_t piece = (size_t)atoi(pf_http_query(h)), got = 0;
	ssize_t n = 0;
	if (piece == 0)
		piece = 7;
	while (got + piece <= sizeof(body) && (n = pf_http_read(h, body + got, piece)) > 0)
		got += (size_t)n;
	if (n < 0 && (errno == EMSGSIZE || errno == EPROTO))
		return 0;	/* the library answers 413 or 400 */
	if (n < 0)
		return -1;
	return pf_http_respond(h, 200, "application/octet-stream", body, got);
}

static int handle(struct pf_http *h, void *state)
{
	const char *p = pf_http_path_info(h);
	(void)state;
	if (strcmp(p, "/peer") == 0)
		return pf_http_respond(h, 200, "text/plain", pf_http_peer(h), strlen(pf_http_peer(h)));
	if (strcmp(p, "/headers") == 0)
		return headers(h);
	if (strcmp(p, "/echo") == 0)
		return echo(h);
	if (strcmp(p, "/unread") == 0)
		return pf_http_respond(h, 200, "text/plain", "unread\n", 7);
	if (strcmp(p, "/stream") == 0 || strcmp(p, "/fail-late") == 0) {
		if (pf_http_add_header(h, "Content-Type", "text/plain") < 0 ||
		    pf_http_write(h, "one,", 4) < 0)
			return -1;
		if (p[1] == 'f') {
			errno = EIO;
			return -1;
		}
		return pf_http_write(h, "two,", 4) < 0 || pf_http_write(h, "three\n", 6) < 0 ? -1 : 0;
	}
	if (strcmp(p, "/file") == 0) {
		struct stat sb;
		int fd = open(pf_http_query(h), O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) < 0)
			return pf_http_respond(h, 404, "text/plain", "no\n", 3);
		int r = pf_http_send_file(h, fd, 0, (size_t)sb.st_size);
		close(fd);
		return r;
	}
	if (strcmp(p, "/fail") == 0) {
		pf_http_add_header(h, "X-Lost", "yes");
		errno = EIO;
		return -1;
	}
	if (strcmp(p, "/nothing") == 0)
		return 0;
	if (strcmp(p, "/json") == 0)
		return pf_http_json(h, atoi(pf_http_query(h)), "{\"path\": \"%s\", \"method\": \"%s\"}",
				    pf_http_path(h), pf_http_method(h));
	return pf_http_respond(h, 404, "text/plain", "no route\n", 9);
}

static char fini_dir[512];

static int init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	const char *dir = "";
	(void)w;
	*state = NULL;
	pf_settings_string(s, "fini_dir", "", &dir);
	snprintf(fini_dir, sizeof(fini_dir), "%s", dir);
	return 0;
}

static void fini(struct pf_worker *w, void *state)
{
	char path[600];
	(void)w;
	(void)state;
	if (!fini_dir[0])
		return;
	snprintf(path, sizeof(path), "%s/fini.%d", fini_dir, (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "httpmod",
	.init = init,
	.handle_http = handle,
	.fini = fini,
};
