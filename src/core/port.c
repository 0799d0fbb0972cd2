/*
 * port.c - parse a TCP port number: decimal digits only, 0 to 65535 (no
 * sign, no spaces, no leading "+"). Pure; see port.h.
 */
#include "core/port.h"

int port_parse(const char *s, int *port)
{
	if (!*s)
		return -1;
	long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
		if (v > 65535)
			return -1;
	}
	*port = (int)v;
	return 0;
}
