/*
 * http_int.h - what the files of the built-in http handler (static files,
 * the HTTP engine's first user) share: its settings, its per-worker state,
 * and the calls between
 *
 *   http.c       settings, init, fini, and each request's first checks
 *   http_file.c  serving a file: the open-file cache, conditional requests,
 *                Range, precompressed .gz files, sendfile
 *
 * The connection, the request head, the response head, errors and the
 * access log are the engine's (src/http/http_shared.h).
 */
#ifndef PF_HTTP_INT_H
#define PF_HTTP_INT_H

#include "http/http_shared.h"

#include "handlers/http_static.h"

#include <limits.h>

/* Files up to this size are read and sent with the head in one writev. */
#define HTTP_SMALL_FILE (32 * 1024)

/* The static keys of an http block, as check and init both read them. */
struct http_static_conf {
	const char *index;
	int gzip_static;
	long long cache_size, cache_files;
	double cache_valid;
	char root[PATH_MAX];	/* last: a worker writes only its first bytes */
};

struct http_state {
	int rootfd;
	char *body;		/* small file bodies: HTTP_SMALL_FILE */
	char *path;		/* the resolved path, relative to root */
	char *key;		/* the open-file cache's key: path_cap */
	size_t path_cap;
	char *location;		/* a directory's redirect: 3 * max_header + 4 */
	size_t location_cap;
	void *arena;		/* one private mapping holds all the buffers above */
	size_t arena_len;
	struct http_cache cache;	/* the open-file cache (http_file.c) */
	struct http_static_conf conf;	/* last, for the same reason */
};

/* ---- http_file.c ---- */

/*
 * GET or HEAD of a file: 200, 206, 304, 416, or an error. 0, or -1 when
 * the connection is lost or must close.
 */
int http_file_serve(struct pf_http *h, struct http_state *st);
/* The open-file cache of a worker: set up from the settings, and freed. */
void http_file_cache_init(struct http_state *st);
void http_file_cache_fini(struct http_state *st);

#endif /* PF_HTTP_INT_H */
