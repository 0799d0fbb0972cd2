/*
 * errlist.c - a list of messages, each "FILE:LINE: message", as the
 * configuration validators collect them. Entry points: errlist_add,
 * errlist_free.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void errlist_add(struct errlist *e, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if (e->count == e->cap) {
		int cap = e->cap ? e->cap * 2 : 8;
		char **m = realloc(e->msgs, (size_t)cap * sizeof(*m));
		if (!m)
			abort();
		e->msgs = m;
		e->cap = cap;
	}
	e->msgs[e->count++] = msg;
}

void errlist_free(struct errlist *e)
{
	for (int i = 0; i < e->count; i++)
		free(e->msgs[i]);
	free(e->msgs);
	e->msgs = NULL;
	e->count = e->cap = 0;
}
