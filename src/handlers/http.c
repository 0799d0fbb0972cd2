/*
 * http.c - the built-in `http` handler: static files under `root`, as the
 * HTTP engine's first user (src/http/). GET and HEAD, Content-Type by
 * extension, an index file for directories, Last-Modified and
 * If-Modified-Since; everything else (keep-alive, timeouts, limits, error
 * answers, the access log) is the engine's, shared with HTTP apps. The path
 * is resolved beneath the root by http_path.c.
 *
 * The hot path allocates nothing: a small file costs open, fstat, read and
 * one writev of head and body; a large one is sent with sendfile behind a
 * corked head.
 *
 * Entry points: handler_http (check, init, handle_http, fini), and
 * http_static_check for the `http` block beside an HTTP app.
 */
#include "http/http_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files up to this size are read and sent with the head in one writev. */
#define HTTP_SMALL_FILE (32 * 1024)

struct http_static {
	char root[PATH_MAX];
	const char *index;
	size_t index_len;
	int rootfd;
	char *path;		/* the resolved path, relative to root */
	size_t path_cap;
	char *location;		/* a directory's redirect: 3 * max_header + 4 */
	size_t location_cap;
	char *body;		/* small file bodies: HTTP_SMALL_FILE */
	void *arena;
	size_t arena_len;
};

/* ---- settings ---- */

static int read_conf(const struct pf_settings *s, struct http_static *st)
{
	int bad = pf_settings_path(s, "root", "", st->root, sizeof(st->root)) < 0;
	bad |= pf_settings_string(s, "index", "index.html", &st->index) < 0;
	if (!st->index)
		st->index = "";
	return bad ? -1 : 0;
}

int http_static_check(const struct pf_settings *s, int root_required)
{
	struct http_static st;
	struct stat sb;
	int bad = read_conf(s, &st) < 0;

	if (st.root[0] == '\0') {
		if (root_required) {
			pf_settings_error(s, "root", "missing required key 'root' in the http "
					  "handler's settings");
			bad = 1;
		}
	} else if (stat(st.root, &sb) < 0) {
		pf_settings_error(s, "root", "'root': '%s': %s", st.root, strerror(errno));
		bad = 1;
	} else if (!S_ISDIR(sb.st_mode)) {
		pf_settings_error(s, "root", "'root': '%s' is not a directory", st.root);
		bad = 1;
	}
	if (strchr(st.index, '/') || strcmp(st.index, ".") == 0 || strcmp(st.index, "..") == 0) {
		pf_settings_error(s, "index", "'index' must be a file name, not '%s'", st.index);
		bad = 1;
	}
	return bad;
}

/* Runs in the master: every problem becomes a FILE:LINE error for -t. */
static int http_check(const struct pf_settings *s)
{
	int bad = http_engine_check(s);
	bad |= http_static_check(s, 1);
	return bad;
}

static void http_fini(struct pf_worker *w, void *arg)
{
	struct http_static *st = arg;
	(void)w;
	if (!st)
		return;
	if (st->rootfd >= 0)
		close(st->rootfd);
	if (st->arena)
		munmap(st->arena, st->arena_len);
	free(st);
}

/* Runs in each worker: the root directory and the buffers. */
static int http_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	struct http_conf conf;
	struct http_static *st = calloc(1, sizeof(*st));
	if (!st) {
		pf_log(PF_LOG_ERROR, "http: out of memory");
		return -1;
	}
	st->rootfd = -1;
	if (read_conf(s, st) < 0 || http_engine_read_conf(s, &conf) < 0 || st->root[0] == '\0') {
		pf_log(PF_LOG_ERROR, "http: bad settings");
		goto fail;
	}
	st->rootfd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->rootfd < 0) {
		pf_log(PF_LOG_ERROR, "http: open root %s: %s", st->root, strerror(errno));
		goto fail;
	}
	st->index_len = strlen(st->index);
	st->path_cap = (size_t)conf.max_header_size + st->index_len + 2;
	/* A private mapping: pages cost memory only once a request touches them. */
	st->location_cap = 3 * (size_t)conf.max_header_size + 4;
	st->arena_len = st->path_cap + st->location_cap + HTTP_SMALL_FILE;
	st->arena = mmap(NULL, st->arena_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	if (st->arena == MAP_FAILED) {
		st->arena = NULL;
		pf_log(PF_LOG_ERROR, "http: out of memory");
		goto fail;
	}
	st->body = st->arena;
	st->path = st->body + HTTP_SMALL_FILE;
	st->location = st->path + st->path_cap;
	*state = st;
	return 0;
fail:
	http_fini(w, st);
	return -1;
}

/* ---- files ---- */

/* Read a whole small file; returns the bytes read, or -1. */
static ssize_t read_small(int fd, char *buf, size_t size)
{
	size_t done = 0;
	while (done < size) {
		ssize_t n = pread(fd, buf + done, size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * Open what the request names: the file, or a directory's index file.
 * Returns the descriptor with *sb filled in, or -1 with *status set (for
 * 301, the caller builds the Location).
 */
static int open_target(struct http_static *st, const struct pf_http *h, struct stat *sb,
		       int *status)
{
	/* The engine's path: "/" + normalised, with a trailing slash for a directory. */
	const char *path = pf_http_path(h);
	size_t plen = strlen(path);
	int dir = path[plen - 1] == '/';
	plen -= 1 + (dir && plen > 1);
	memcpy(st->path, path + 1, plen);
	st->path[plen] = '\0';

	int fd = http_path_open(st->rootfd, st->path, status);
	if (fd < 0)
		return -1;
	if (fstat(fd, sb) < 0) {
		*status = 500;
		goto fail;
	}
	if (S_ISDIR(sb->st_mode)) {
		close(fd);
		if (!dir) {
			*status = 301;
			return -1;
		}
		if (st->index_len == 0) {
			*status = 403;	/* no index, and no listings */
			return -1;
		}
		if (plen > 0)
			st->path[plen++] = '/';
		memcpy(st->path + plen, st->index, st->index_len + 1);
		fd = http_path_open(st->rootfd, st->path, status);
		if (fd < 0) {
			if (*status == 404)
				*status = 403;	/* a directory without its index */
			return -1;
		}
		if (fstat(fd, sb) < 0) {
			*status = 500;
			goto fail;
		}
	} else if (dir && S_ISREG(sb->st_mode)) {
		/* "/file.txt/" names a directory that is not there. */
		*status = 404;
		goto fail;
	}
	if (!S_ISREG(sb->st_mode)) {
		*status = 403;	/* devices, FIFOs, sockets */
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * A directory asked without its slash: 301 to its normalised path (in
 * st->path) with one, and the target's query; never the raw target, so the
 * Location always names a path on this server (http_path_location).
 */
static int redirect_to_dir(struct http_static *st, struct pf_http *h)
{
	const struct http_str *t = &h->req.target;
	if (http_path_location(st->path, t->ptr, t->len, st->location, st->location_cap) == 0 ||
	    pf_http_add_header(h, "Location", st->location) < 0) {
		h->fields_out_len = 0;
		return http_response_error(h, 500);
	}
	return http_response_error(h, 301);
}

/*
 * One request: GET or HEAD of a file (200, 304) or an error page. Always
 * 0: a lost connection is the engine's to notice, not a handler error.
 */
static int http_serve(struct pf_http *h, void *arg)
{
	struct http_static *st = arg;
	struct http_engine *e = h->eng;
	struct stat sb;
	int status;

	if (h->req.method == HTTP_METHOD_OTHER) {
		pf_http_add_header(h, "Allow", "GET, HEAD");
		http_response_error(h, 405);
		return 0;
	}
	int fd = open_target(st, h, &sb, &status);
	if (fd < 0) {
		if (status == 301) {
			redirect_to_dir(st, h);
			return 0;
		}
		if (status == 500)
			pf_log(PF_LOG_ERROR, "http: open %s/%s: %s", st->root, st->path,
			       strerror(errno));
		http_response_error(h, status);
		return 0;
	}

	char lastmod[HTTP_DATE_LEN + 1];
	time_t ims;
	http_parse_format_date(sb.st_mtime, lastmod);
	http_engine_update_dates(e);
	if (h->req.if_modified_since.len &&
	    http_parse_date(h->req.if_modified_since.ptr, h->req.if_modified_since.len, &ims) == 0 &&
	    sb.st_mtime <= ims && ims <= e->date_now) {
		close(fd);
		pf_http_add_header(h, "Last-Modified", lastmod);
		pf_http_set_status(h, 304);
		pf_http_send(h, NULL, 0);
		return 0;
	}

	size_t size = (size_t)sb.st_size;
	pf_http_add_header(h, "Content-Type", http_mime_type(st->path, strlen(st->path)));
	pf_http_add_header(h, "Last-Modified", lastmod);
	if (!h->head_only && size <= HTTP_SMALL_FILE) {
		ssize_t got = read_small(fd, st->body, size);
		close(fd);
		if (got < 0) {
			pf_log(PF_LOG_ERROR, "http: read %s/%s: %s", st->root, st->path,
			       strerror(errno));
			h->fields_out_len = 0;
			http_response_error(h, 500);
			return 0;
		}
		/* The file may have shrunk since fstat. */
		pf_http_send(h, st->body, (size_t)got);
		return 0;
	}
	pf_http_send_file(h, fd, 0, size);
	close(fd);
	return 0;
}

const struct pf_handler handler_http = {
	.abi = PF_ABI_VERSION,
	.name = "http",
	.check = http_check,
	.init = http_init,
	.handle_http = http_serve,
	.fini = http_fini,
};
