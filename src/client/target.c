/*
 * target.c - where prefork-client connects to.
 *
 * target_parse() splits HOST:PORT, [V6]:PORT and unix:PATH (unix:@NAME for
 * the abstract namespace); target_resolve() turns it into socket addresses
 * (getaddrinfo for names); target_format() prints an address numerically,
 * as messages and the -v trace show it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "core/port.h"

#include "client/client.h"

static int bad(char *err, size_t errlen, const char *text, const char *why)
{
	snprintf(err, errlen, "bad address \"%s\": %s", text, why);
	return -1;
}

/* Split TEXT into host and port, or recognise unix:PATH. */
int target_parse(const char *text, struct target *t, char *err, size_t errlen)
{
	const char *colon, *host, *port;
	size_t hostlen;
	int num;

	memset(t, 0, sizeof(*t));
	if (strncmp(text, "unix:", 5) == 0) {
		const char *path = text + 5;

		if (*path == '\0')
			return bad(err, errlen, text, "empty unix socket path");
		if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return bad(err, errlen, text, "unix socket path too long");
		t->tg_unix = true;
		snprintf(t->tg_host, sizeof(t->tg_host), "%s", path);
		snprintf(t->tg_hostport, sizeof(t->tg_hostport), "localhost");
		return 0;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':')
			return bad(err, errlen, text, "expected [V6]:PORT");
		host = text + 1;
		hostlen = (size_t)(close - host);
		port = close + 2;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL)
			return bad(err, errlen, text,
				   "expected HOST:PORT, [V6]:PORT or unix:PATH");
		host = text;
		hostlen = (size_t)(colon - text);
		if (memchr(host, ':', hostlen) != NULL)
			return bad(err, errlen, text,
				   "an IPv6 address needs brackets: [V6]:PORT");
		port = colon + 1;
	}
	if (hostlen == 0)
		return bad(err, errlen, text, "empty host");
	if (hostlen >= sizeof(t->tg_host))
		return bad(err, errlen, text, "host name too long");
	if (*port < '0' || *port > '9')
		return bad(err, errlen, text, "port must be a number");
	if (port_parse(port, &num) < 0 || num < 1)
		return bad(err, errlen, text, "port must be 1-65535");
	memcpy(t->tg_host, host, hostlen);
	t->tg_host[hostlen] = '\0';
	snprintf(t->tg_port, sizeof(t->tg_port), "%u", (unsigned)num & 0xffffu);
	if (num == 80)
		snprintf(t->tg_hostport, sizeof(t->tg_hostport), "%.*s",
			 (int)(port - 1 - text), text);
	else
		snprintf(t->tg_hostport, sizeof(t->tg_hostport), "%s", text);
	return 0;
}

/* Fill OUT with up to MAX addresses of T; returns how many, or -1 with ERR. */
int target_resolve(const struct target *t, struct target_addr *out, size_t max,
		   char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	size_t n = 0;
	int rc;

	if (max == 0)
		return 0;
	if (t->tg_unix) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&out[0].ta_sa;
		size_t plen = strlen(t->tg_host);

		memset(&out[0], 0, sizeof(out[0]));
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, t->tg_host, plen);
		/* unix:@NAME names a socket in the abstract namespace. */
		if (t->tg_host[0] == '@') {
			sun->sun_path[0] = '\0';
			out[0].ta_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
		} else {
			out[0].ta_len = (socklen_t)sizeof(*sun);
		}
		snprintf(out[0].ta_text, sizeof(out[0].ta_text), "unix:%s", t->tg_host);
		return 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(t->tg_host, t->tg_port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "resolve %s: %s", t->tg_host,
			 rc == EAI_SYSTEM ? "system error" : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(out[n].ta_sa))
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		memcpy(&out[n].ta_sa, ai->ai_addr, ai->ai_addrlen);
		out[n].ta_len = ai->ai_addrlen;
		target_format(ai->ai_addr, ai->ai_addrlen, out[n].ta_text,
			      sizeof(out[n].ta_text));
		n++;
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(err, errlen, "resolve %s: no usable address", t->tg_host);
		return -1;
	}
	return (int)n;
}

/* Print SA numerically: 127.0.0.1:80, [::1]:80, unix:/path. */
void target_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		size_t plen = len > offsetof(struct sockaddr_un, sun_path)
			? len - offsetof(struct sockaddr_un, sun_path) : 0;

		if (plen > 0 && sun->sun_path[0] == '\0')
			snprintf(buf, size, "unix:@%.*s", (int)(plen - 1), sun->sun_path + 1);
		else
			snprintf(buf, size, "unix:%.*s", (int)strnlen(sun->sun_path,
				 sizeof(sun->sun_path)), sun->sun_path);
		break;
	}
	default:
		snprintf(buf, size, "(family %d)", sa->sa_family);
	}
}
