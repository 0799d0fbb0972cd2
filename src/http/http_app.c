/*
 * http_app.c - a service whose handler speaks HTTP (`handle_http`: the
 * built-in `http` handler or an app), in a worker: the engine built from
 * the service's `http` block, and each request routed to the handler, or,
 * for an app mounted at a path prefix (`mount`), to the static files of
 * `root` when its path lies outside the prefix. A handler's failure is
 * logged and counted here, per request.
 *
 * Entry points: http_app_check (master), http_app_init, http_app_serve,
 * http_app_reopen, http_app_fini (worker).
 */
#include "http/http_shared.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MOUNT_MAX 256

struct http_app {
	struct http_engine *engine;
	void *files;			/* static files beside a mounted app, or NULL */
	char mount[HTTP_MOUNT_MAX];	/* "" for the whole space, else "/api" */
	size_t mount_len;
};

/* "/api", "/api/" -> "/api"; "/" -> "". -1 when it is not an absolute path. */
static int clean_mount(const char *in, char *out, size_t outlen)
{
	size_t n = strlen(in);
	if (in[0] != '/' || n >= outlen || strstr(in, "//") || strchr(in, '?') || strchr(in, '%'))
		return -1;
	while (n > 0 && in[n - 1] == '/')
		n--;
	memcpy(out, in, n);
	out[n] = '\0';
	return 0;
}

/* Runs in the master on the `http` block of an app's service. */
int http_app_check(const struct pf_settings *s)
{
	const char *mount;
	char clean[HTTP_MOUNT_MAX], root[PATH_MAX];
	int bad = http_engine_check(s);
	bad |= http_static_check(s, 0);
	bad |= pf_settings_string(s, "mount", "/", &mount) < 0;
	if (!bad && clean_mount(mount, clean, sizeof(clean)) < 0) {
		pf_settings_error(s, "mount", "'mount' must be a path such as \"/api\", not '%s'",
				  mount);
		bad = 1;
	}
	if (!bad && pf_settings_path(s, "root", "", root, sizeof(root)) == 0 && root[0] &&
	    clean[0] == '\0') {
		pf_settings_error(s, "root", "'root' needs 'mount' (the app's path prefix): "
				  "without it the app answers every path");
		bad = 1;
	}
	return bad;
}

int http_app_init(struct pf_worker *w, const struct pf_settings *s)
{
	struct http_conf conf;
	const char *mount = "/";
	const char *root = NULL;
	struct http_app *a = arena_worker_calloc(sizeof(*a));
	if (!a) {
		log_error("http: out of memory");
		return -1;
	}
	w->http_app = a;
	if (http_engine_read_conf(s, &conf) < 0 || !(a->engine = http_engine_create(&conf)))
		return -1;
	if (w->handler == &http_handler)
		return 0;	/* the static files are the handler itself */
	if (pf_settings_string(s, "mount", "/", &mount) < 0 ||
	    clean_mount(mount, a->mount, sizeof(a->mount)) < 0) {
		log_error("http: bad 'mount'");
		return -1;
	}
	a->mount_len = strlen(a->mount);
	/* Static files beside the app: the handler reads (and resolves) root itself. */
	if (pf_settings_string(s, "root", "", &root) == 0 && root && root[0] &&
	    http_handler.init(w, s, &a->files) != 0)
		return -1;
	return 0;
}

/* The path lies under the mount point: "/api" and "/api/..." for "/api". */
static int under_mount(const struct http_app *a, const char *path)
{
	return strncmp(path, a->mount, a->mount_len) == 0 &&
	       (path[a->mount_len] == '\0' || path[a->mount_len] == '/');
}

static int route(struct pf_http *h, void *arg)
{
	struct pf_worker *w = arg;
	struct http_app *a = w->http_app;
	const char *path = pf_http_path(h);

	if (w->handler == &http_handler)
		return http_handler.handle_http(h, w->state);
	if (a->mount_len && !under_mount(a, path)) {
		if (a->files)
			return http_handler.handle_http(h, a->files);
		http_response_error(h, 404);
		return 0;
	}
	h->path_info = path[a->mount_len] ? path + a->mount_len : "/";
	errno = 0;
	if (w->handler->handle_http(h, w->state) != 0) {
		conn_handler_failed(h->conn, pf_http_target(h));
		return -1;
	}
	if (!h->started && !h->failed)
		log_warnx("handler %s sent no response to %s %s (500)", w->handler->name,
			  pf_http_method(h), pf_http_target(h));
	return 0;
}

void http_app_serve(struct pf_worker *w, struct pf_conn *conn)
{
	http_engine_serve(w->http_app->engine, conn, route, w);
}

void http_app_reopen(struct pf_worker *w)
{
	if (w->http_app)
		http_engine_reopen(w->http_app->engine);
}

void http_app_fini(struct pf_worker *w)
{
	struct http_app *a = w->http_app;
	if (!a)
		return;
	if (a->files)
		http_handler.fini(w, a->files);
	http_engine_destroy(a->engine);
	arena_worker_free(a);
	w->http_app = NULL;
}
