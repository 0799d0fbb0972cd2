/*
 * app600.c - the benchmark's HTTP app: every request gets the same
 * 600-byte text/html body the static scenarios serve from a file, so
 * bench/run can set the app API beside the static handler on one engine.
 */
#include <prefork.h>

#include <string.h>

static char body[600];

static int app600_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	static const char top[] = "<!doctype html><title>bench</title>\n";
	(void)w;
	(void)s;
	(void)state;
	memcpy(body, top, sizeof(top) - 1);
	memset(body + sizeof(top) - 1, 'x', sizeof(body) - sizeof(top));
	body[sizeof(body) - 1] = '\n';
	return 0;
}

static int app600_handle(struct pf_http *h, void *state)
{
	(void)state;
	return pf_http_respond(h, 200, "text/html", body, sizeof(body));
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "app600",
	.init = app600_init,
	.handle_http = app600_handle,
};
