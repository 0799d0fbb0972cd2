/*
 * fuzz_addr.c - libFuzzer target for the address parser: HOST:PORT,
 * [V6]:PORT and unix:PATH. Checked promises: an error always comes with a
 * message; a parsed address formats to text that parses back to an equal
 * address, and the port agrees with the text.
 */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512];
	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	struct addr a, b;
	char err[256], out[sizeof(struct sockaddr_un) + 16], err2[256];
	err[0] = '\0';
	if (addr_parse(text, "/srv/prefork", &a, err, sizeof(err)) < 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (a.family != AF_INET && a.family != AF_INET6 && a.family != AF_UNIX)
		abort();
	if (a.len == 0 || a.len > sizeof(a.ss))
		abort();
	if (!addr_equal(&a, &a))
		abort();
	addr_format(&a, out, sizeof(out));
	if (a.family == AF_UNIX) {
		/* Relative paths resolve against the folder given. */
		if (addr_unix_path(&a)[0] != '/' || addr_port(&a) != -1)
			abort();
	} else {
		int port = addr_port(&a);
		const char *colon = strrchr(text, ':');
		if (port < 0 || port > 65535 || !colon || atoi(colon + 1) != port)
			abort();
	}
	if (addr_parse(out, NULL, &b, err2, sizeof(err2)) < 0 || !addr_equal(&a, &b))
		abort();
	return 0;
}
