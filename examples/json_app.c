/*
 * json_app.c - an HTTP app module: JSON over the library's HTTP engine.
 *
 *	GET  /hello?name=NAME  {"greeting": "hello", "name": "NAME", "worker": PID}
 *	POST /sum              body [1, 2.5, 3]  ->  {"count": 3, "sum": 6.5}
 *
 * Anything else is a JSON 404 (405 for a known path with the wrong method).
 * Build it with
 *
 *	cc -shared -fPIC -o json_app.so json_app.c $(pkg-config --cflags prefork)
 *
 * and serve it under /api beside static files:
 *
 *	{ name = "api"; listen = "127.0.0.1:8090"; handler = "json_app";
 *	  module = "json_app.so"; json_app = { greeting = "hello"; };
 *	  http = { root = "www"; mount = "/api"; max_body_size = 65536; }; }
 */
#include <prefork.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct app {
	char greeting[64];
	char body[65536];	/* one POST body at a time */
};

static int app_check(const struct pf_settings *s)
{
	const char *g;
	if (pf_settings_string(s, "greeting", "hello", &g) < 0)
		return -1;
	if (strlen(g) >= sizeof(((struct app *)0)->greeting)) {
		pf_settings_error(s, "greeting", "'greeting' is too long (at most 63 bytes)");
		return -1;
	}
	return 0;
}

static int app_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	const char *g;
	struct app *a = calloc(1, sizeof(*a));
	(void)w;
	if (!a || pf_settings_string(s, "greeting", "hello", &g) < 0) {
		free(a);
		return -1;
	}
	snprintf(a->greeting, sizeof(a->greeting), "%s", g);
	*state = a;
	return 0;
}

static void app_fini(struct pf_worker *w, void *state)
{
	(void)w;
	free(state);
}

/* Copy s into out as JSON string content: quotes, backslashes and controls escaped. */
static const char *json_escape(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	for (; *s && o + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
		else if (c < 0x20)
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static int hello(struct pf_http *h, struct app *a)
{
	char name[256] = "world", esc[1024];
	const char *q = pf_http_query(h);
	if (strncmp(q, "name=", 5) == 0)
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(q + 5, "&"), q + 5);
	return pf_http_json(h, 200, "{\"greeting\": \"%s\", \"name\": \"%s\", \"worker\": %d}\n",
			    a->greeting, json_escape(name, esc, sizeof(esc)), (int)getpid());
}

/* POST /sum: the body is a JSON array of numbers. */
static int sum(struct pf_http *h, struct app *a)
{
	ssize_t n = pf_http_read_body(h, a->body, sizeof(a->body));
	if (n < 0)
		return errno == EMSGSIZE ? pf_http_json(h, 413, "{\"error\": \"body too large\"}\n")
					 : -1;	/* the client went away: a handler error */
	char *p = a->body, *end;
	double total = 0;
	int count = 0;
	while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
		p++;
	if (*p++ != '[')
		return pf_http_json(h, 400, "{\"error\": \"expected a JSON array of numbers\"}\n");
	for (;;) {
		p += strspn(p, " \t\r\n");
		if (*p == ']' && count == 0)
			break;
		double v = strtod(p, &end);
		if (end == p)
			return pf_http_json(h, 400, "{\"error\": \"not a number at byte %d\"}\n",
					    (int)(p - a->body));
		total += v;
		count++;
		p = end + strspn(end, " \t\r\n");
		if (*p == ']')
			break;
		if (*p++ != ',')
			return pf_http_json(h, 400, "{\"error\": \"expected ',' at byte %d\"}\n",
					    (int)(p - 1 - a->body));
	}
	return pf_http_json(h, 200, "{\"count\": %d, \"sum\": %g}\n", count, total);
}

static int app_handle(struct pf_http *h, void *state)
{
	const char *path = pf_http_path_info(h), *method = pf_http_method(h);
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	if (strcmp(path, "/hello") == 0 && get)
		return hello(h, state);
	if (strcmp(path, "/sum") == 0 && strcmp(method, "POST") == 0)
		return sum(h, state);
	if (strcmp(path, "/hello") == 0 || strcmp(path, "/sum") == 0) {
		pf_http_add_header(h, "Allow", strcmp(path, "/sum") == 0 ? "POST" : "GET, HEAD");
		return pf_http_json(h, 405, "{\"error\": \"method not allowed\"}\n");
	}
	return pf_http_json(h, 404, "{\"error\": \"no such route\"}\n");
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "json_app",
	.check = app_check,
	.init = app_init,
	.handle_http = app_handle,
	.fini = app_fini,
};
