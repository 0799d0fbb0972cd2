/*
 * http.c - the built-in `http` handler: static files under `root`, as the
 * HTTP engine's first user (src/http/). GET and HEAD; a file is answered
 * by http_file.c (the open-file cache, conditional requests, Range,
 * gzip_static, sendfile); everything else (keep-alive, timeouts, limits,
 * error answers, the access log) is the engine's, shared with HTTP apps.
 *
 * Each worker owns a buffer for small bodies and two for paths; a cache
 * hit allocates nothing.
 *
 * Entry points: http_handler (check, init, handle_http, fini), and
 * http_static_check for the `http` block beside an HTTP app.
 */
#include "handlers/http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- settings ---- */

static int read_conf(const struct pf_settings *s, struct http_static_conf *c)
{
	int bad = pf_settings_path(s, "root", "", c->root, sizeof(c->root)) < 0;
	bad |= pf_settings_string(s, "index", "index.html", &c->index) < 0;
	bad |= pf_settings_bool(s, "gzip_static", 0, &c->gzip_static) < 0;
	bad |= pf_settings_int(s, "cache_size", 1024 * 1024, 0, 1024LL * 1024 * 1024,
			       &c->cache_size) < 0;
	bad |= pf_settings_int(s, "cache_files", 256, 0, 65536, &c->cache_files) < 0;
	bad |= pf_settings_double(s, "cache_valid", 1.0, 0.0, 86400.0, &c->cache_valid) < 0;
	if (!c->index)
		c->index = "";
	return bad ? -1 : 0;
}

int http_static_check(const struct pf_settings *s, int root_required)
{
	struct http_static_conf st;
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
	struct http_state *st = arg;
	(void)w;
	if (!st)
		return;
	http_file_cache_fini(st);
	if (st->rootfd >= 0)
		close(st->rootfd);
	arena_worker_free(st->arena);
	arena_worker_free(st);
}

/* Round n up to a multiple of 64 bytes. */
static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* Runs in each worker: the root directory, the buffers, the open-file cache. */
static int http_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	struct http_conf engine;
	struct http_state *st = arena_worker_calloc(sizeof(*st));
	if (!st) {
		pf_log(PF_LOG_ERROR, "http: out of memory");
		return -1;
	}
	st->rootfd = -1;
	if (read_conf(s, &st->conf) < 0 || http_engine_read_conf(s, &engine) < 0 ||
	    st->conf.root[0] == '\0') {
		pf_log(PF_LOG_ERROR, "http: bad settings");
		goto fail;
	}
	st->rootfd = open(st->conf.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->rootfd < 0) {
		pf_log(PF_LOG_ERROR, "http: open root %s: %s", st->conf.root, strerror(errno));
		goto fail;
	}
	size_t max_header = (size_t)engine.max_header_size;
	/* Room for "/index", then ".gz" and the cache key's kind byte. */
	st->path_cap = max_header + strlen(st->conf.index) + 8;
	st->location_cap = 3 * max_header + 4;
	/*
	 * The buffers live in the worker's own mapping (arena_worker_calloc)
	 * rather than on the heap the worker shares copy-on-write with the
	 * master: a page costs memory only once a request writes to it, so an
	 * idle pool of many workers stays small.
	 */
	size_t path_len = align64(st->path_cap), loc_len = align64(st->location_cap);
	st->arena_len = HTTP_SMALL_FILE + 2 * path_len + loc_len;
	st->arena = arena_worker_calloc(st->arena_len);
	if (!st->arena) {
		pf_log(PF_LOG_ERROR, "http: out of memory");
		goto fail;
	}
	st->body = st->arena;
	st->path = st->body + HTTP_SMALL_FILE;
	st->key = st->path + path_len;
	st->location = st->key + path_len;
	http_file_cache_init(st);
	*state = st;
	return 0;
fail:
	http_fini(w, st);
	return -1;
}

/*
 * One request: GET or HEAD of a file, or 405. 0, or -1 when the
 * connection is lost (not a handler error: the engine closes it).
 */
static int http_serve(struct pf_http *h, void *arg)
{
	if (h->req.method == HTTP_METHOD_OTHER) {
		pf_http_add_header(h, "Allow", "GET, HEAD");
		return http_response_error(h, 405);
	}
	return http_file_serve(h, arg);
}

const struct pf_handler http_handler = {
	.abi = PF_ABI_VERSION,
	.name = "http",
	.check = http_check,
	.init = http_init,
	.handle_http = http_serve,
	.fini = http_fini,
};
