/*
 * http_date.c - the engine's clock: the Date header and the access log's
 * timestamp, formatted at most once a second. The bottom of the HTTP
 * layer: the engine, the response writer and the static file server call
 * it, it calls only the formatters.
 */
#include "internal.h"
#include "http/http_shared.h"

#include <time.h>

/* The Date header and the log's timestamp, formatted once a second. */
void http_date_update(struct http_engine *e)
{
	time_t t = time(NULL);
	if (t != e->date_now) {
		e->date_now = t;
		http_time_format(t, e->date);
		http_time_format_clf(t, e->clf_date);
	}
}
