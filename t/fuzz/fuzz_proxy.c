/*
 * fuzz_proxy.c - libFuzzer target for the PROXY protocol v1/v2 header
 * parser. Checked promises: the answer is -1, 0 or a length within the
 * input; a complete header's answer does not change when more bytes
 * follow it, and no prefix of it is called invalid; a carried address is
 * one the logs can format.
 */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_result r, r2;
	memset(&r, 0, sizeof(r));
	int h = proxy_parse(data, size, &r);
	if (h < -1 || h > (int)size)
		abort();
	if (h <= 0)
		return 0;
	if (!r.local) {
		char text[128];
		if (r.src_len == 0 || r.src_len > sizeof(r.src))
			abort();
		if (r.src.ss_family != AF_INET && r.src.ss_family != AF_INET6)
			abort();
		addr_format_sockaddr((const struct sockaddr *)&r.src, r.src_len, text,
				     sizeof(text), 1);
	}
	/* The same header alone, and each shorter prefix (bytes read so far). */
	if (proxy_parse(data, (size_t)h, &r2) != h || r2.local != r.local)
		abort();
	for (size_t k = 1; k < (size_t)h; k++)
		if (proxy_parse(data, k, &r2) != 0)
			abort();
	return 0;
}
