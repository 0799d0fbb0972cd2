/*
 * addr.c - listening addresses: parse, format and compare "HOST:PORT",
 * "[V6]:PORT" and "unix:PATH". Pure functions, no I/O.
 */
#include "internal.h"
#include "core/port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int addr_parse(const char *text, const char *dir, struct addr *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(text, "unix:", 5) == 0) {
		const char *path = text + 5;
		if (!*path) {
			snprintf(err, errlen, "empty unix socket path in '%s'", text);
			return -1;
		}
		char *full = util_resolve_path(dir, path);
		struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
		if (strlen(full) >= sizeof(sun->sun_path)) {
			snprintf(err, errlen, "unix socket path too long (at most %zu bytes): '%s'",
				 sizeof(sun->sun_path) - 1, full);
			free(full);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, full);
		free(full);
		out->family = AF_UNIX;
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sun->sun_path) + 1);
		return 0;
	}

	char host[256];
	const char *colon;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "bad address '%s': expected [V6]:PORT", text);
			return -1;
		}
		size_t hl = (size_t)(close - text - 1);
		if (hl >= sizeof(host)) {
			snprintf(err, errlen, "bad address '%s'", text);
			return -1;
		}
		memcpy(host, text + 1, hl);
		host[hl] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon) {
			snprintf(err, errlen, "bad address '%s': expected HOST:PORT, [V6]:PORT or unix:PATH", text);
			return -1;
		}
		size_t hl = (size_t)(colon - text);
		if (hl >= sizeof(host) || memchr(text, ':', hl)) {
			snprintf(err, errlen, "bad address '%s': write IPv6 addresses as [V6]:PORT", text);
			return -1;
		}
		memcpy(host, text, hl);
		host[hl] = '\0';
	}
	int port;
	if (port_parse(colon + 1, &port) < 0) {
		snprintf(err, errlen, "bad port in '%s': expected 0 to 65535", text);
		return -1;
	}

	if (text[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			snprintf(err, errlen, "bad IPv6 address '%s'", host);
			return -1;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		out->family = AF_INET6;
		out->len = sizeof(*s6);
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)&out->ss;
	if (strcmp(host, "*") == 0 || host[0] == '\0')
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcmp(host, "localhost") == 0)
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
		snprintf(err, errlen, "bad IPv4 address '%s' (use a numeric address, or [V6] for IPv6)", host);
		return -1;
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	out->family = AF_INET;
	out->len = sizeof(*s4);
	return 0;
}

/* Decimal digits of v at p; returns the end. */
static char *put_decimal(char *p, unsigned v)
{
	char tmp[10];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/*
 * "a.b.c.d" or "a.b.c.d:port" by hand: every accepted connection formats
 * its peer, and inet_ntop + snprintf cost ten times as much.
 */
static void format_ipv4(const struct sockaddr_in *s4, char *buf, size_t buflen, int with_port)
{
	char tmp[32], *p = tmp;
	const unsigned char *b = (const unsigned char *)&s4->sin_addr;
	for (int i = 0; i < 4; i++) {
		if (i)
			*p++ = '.';
		p = put_decimal(p, b[i]);
	}
	if (with_port) {
		*p++ = ':';
		p = put_decimal(p, ntohs(s4->sin_port));
	}
	size_t n = (size_t)(p - tmp);
	if (!buflen)
		return;
	if (n >= buflen)
		n = buflen - 1;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
}

const char *addr_format_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf,
				 size_t buflen, int with_port)
{
	char host[INET6_ADDRSTRLEN];
	(void)len;
	switch (sa->sa_family) {
	case AF_INET:
		format_ipv4((const struct sockaddr_in *)sa, buf, buflen, with_port);
		break;
	case AF_INET6: {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		if (with_port)
			snprintf(buf, buflen, "[%s]:%u", host, ntohs(s6->sin6_port));
		else
			snprintf(buf, buflen, "%s", host);
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		if (with_port && len > offsetof(struct sockaddr_un, sun_path) && sun->sun_path[0])
			snprintf(buf, buflen, "unix:%s", sun->sun_path);
		else
			snprintf(buf, buflen, "unix");
		break;
	}
	default:
		snprintf(buf, buflen, "unknown");
	}
	return buf;
}

const char *addr_format(const struct addr *a, char *buf, size_t len)
{
	return addr_format_sockaddr((const struct sockaddr *)&a->ss, a->len, buf, len, 1);
}

int addr_equal(const struct addr *a, const struct addr *b)
{
	if (a->family != b->family)
		return 0;
	switch (a->family) {
	case AF_INET: {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	case AF_UNIX:
		return strcmp(addr_unix_path(a), addr_unix_path(b)) == 0;
	}
	return 0;
}

int addr_port(const struct addr *a)
{
	if (a->family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return -1;
}

const char *addr_unix_path(const struct addr *a)
{
	return a->family == AF_UNIX ? ((const struct sockaddr_un *)&a->ss)->sun_path : "";
}
