/*
 * proxy.c - the PROXY protocol (versions 1 and 2, as HAProxy documents
 * them): a header a trusted load balancer sends before the client's bytes,
 * carrying the client's address. proxy_parse is pure; proxy_read_header
 * takes exactly the header off a socket (peeking first, so not one byte of
 * the client's data is consumed) within a deadline.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>

static const unsigned char v2_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
					  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

#define V1_MAX 107	/* the longest v1 line, CRLF included */

/* A decimal port: 1 to 5 digits, no sign, no leading zero. */
static int parse_port(const char *s, uint16_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int parse_v1(const unsigned char *buf, size_t len, struct proxy_result *out)
{
	const unsigned char *crlf = NULL;
	/* The CRLF must end within V1_MAX bytes. */
	for (size_t i = 0; i + 1 < len && i + 2 <= V1_MAX; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n') {
			crlf = buf + i;
			break;
		}
	if (!crlf)
		return len >= V1_MAX ? -1 : 0;
	size_t hlen = (size_t)(crlf - buf) + 2;
	char line[V1_MAX + 1];
	memcpy(line, buf, hlen - 2);
	line[hlen - 2] = '\0';

	char *fields[7];
	int n = 0;
	/* Fields are separated by exactly one space; a seventh is an error. */
	for (char *p = line; n < 7; ) {
		fields[n++] = p;
		char *sp = strchr(p, ' ');
		if (!sp)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	if (strcmp(fields[0], "PROXY") != 0 || n < 2)
		return -1;
	if (strcmp(fields[1], "UNKNOWN") == 0) {
		out->local = 1;
		return (int)hlen;
	}
	if (n != 6)
		return -1;
	uint16_t sport, dport;
	if (parse_port(fields[4], &sport) < 0 || parse_port(fields[5], &dport) < 0)
		return -1;
	memset(&out->src, 0, sizeof(out->src));
	if (strcmp(fields[1], "TCP4") == 0) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->src;
		struct in_addr d;
		if (inet_pton(AF_INET, fields[2], &s4->sin_addr) != 1 ||
		    inet_pton(AF_INET, fields[3], &d) != 1)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(sport);
		out->src_len = sizeof(*s4);
	} else if (strcmp(fields[1], "TCP6") == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->src;
		struct in6_addr d;
		if (inet_pton(AF_INET6, fields[2], &s6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, fields[3], &d) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(sport);
		out->src_len = sizeof(*s6);
	} else {
		return -1;
	}
	out->local = 0;
	return (int)hlen;
}

/*
 * A v2 header. With prefix_ok, only the fixed part and the addresses need
 * to be in buf (the TLVs after them may not fit in the caller's buffer);
 * the return value is still the whole header's length.
 */
static int parse_v2(const unsigned char *buf, size_t len, struct proxy_result *out, int prefix_ok)
{
	if (len < 16)
		return 0;
	unsigned ver = buf[12] >> 4, cmd = buf[12] & 0x0F;
	unsigned fam = buf[13];
	size_t alen = ((size_t)buf[14] << 8) | buf[15];
	if (ver != 2 || cmd > 1)
		return -1;
	if (len < 16 + alen && !prefix_ok)
		return 0;
	int hlen = (int)(16 + alen);
	const unsigned char *a = buf + 16;
	memset(&out->src, 0, sizeof(out->src));
	if (cmd == 0) {		/* LOCAL: the balancer's own connection (health check) */
		out->local = 1;
		return hlen;
	}
	size_t need = (fam >> 4) == 0x1 ? 12 : (fam >> 4) == 0x2 ? 36 : 0;
	if (alen < need)
		return -1;
	if (len < 16 + need)
		return 0;
	switch (fam >> 4) {
	case 0x1: {	/* AF_INET */
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->src;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&s4->sin_port, a + 8, 2);
		out->src_len = sizeof(*s4);
		break;
	}
	case 0x2: {	/* AF_INET6 */
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->src;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&s6->sin6_port, a + 32, 2);
		out->src_len = sizeof(*s6);
		break;
	}
	case 0x0:	/* AF_UNSPEC: keep the real peer */
	case 0x3:	/* AF_UNIX: no address worth carrying */
		out->local = 1;
		return hlen;
	default:
		return -1;
	}
	out->local = 0;
	return hlen;
}

int proxy_parse(const unsigned char *buf, size_t len, struct proxy_result *out)
{
	if (len == 0)
		return 0;
	size_t cmp = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if (memcmp(buf, v2_sig, cmp) == 0)
		return len < sizeof(v2_sig) ? 0 : parse_v2(buf, len, out, 0);
	cmp = len < 6 ? len : 6;
	if (memcmp(buf, "PROXY ", cmp) != 0)
		return -1;
	return len < 6 ? 0 : parse_v1(buf, len, out);
}

/* Read and drop exactly len bytes (a long v2 header's TLVs) before the deadline. */
static int discard(int fd, size_t len, int64_t deadline)
{
	unsigned char scratch[1024];
	while (len > 0) {
		ssize_t n = recv(fd, scratch, len < sizeof(scratch) ? len : sizeof(scratch), 0);
		if (n > 0) {
			len -= (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
			return -1;
		int64_t left = deadline - util_now_ns();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(left / 1000000) + 1) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

int proxy_read_header(int fd, double timeout, struct proxy_result *out)
{
	unsigned char buf[16 + 216 + 64];
	int64_t deadline = util_now_ns() + (int64_t)(timeout * 1e9);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK);
		if (n == 0)
			return -1;
		if (n > 0) {
			int h = proxy_parse(buf, (size_t)n, out);
			/* A v2 header longer than buf: its addresses are at the front. */
			if (h == 0 && n >= 16 && memcmp(buf, v2_sig, sizeof(v2_sig)) == 0 &&
			    16 + (((size_t)buf[14] << 8) | buf[15]) > sizeof(buf))
				h = parse_v2(buf, (size_t)n, out, 1);
			if (h < 0)
				return -1;
			if (h > 0)	/* take exactly the header */
				return discard(fd, (size_t)h, deadline);
			if ((size_t)n == sizeof(buf))
				return -1;
		} else if (errno == EINTR) {
			continue;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			return -1;
		}
		/* Wait for more; a peek leaves the data readable, so wait for new bytes. */
		int64_t left = deadline - util_now_ns();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (n > 0) {
			/* Data is already there: poll would return at once. Sleep a little. */
			poll(NULL, 0, 5);
			continue;
		}
		if (poll(&p, 1, (int)(left / 1000000) + 1) < 0 && errno != EINTR)
			return -1;
	}
}
