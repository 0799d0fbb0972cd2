/*
 * http_gzip.c - does a request's Accept-Encoding admit gzip (RFC 9110
 * 12.5.3)? Pure. "gzip" and "x-gzip" count, as does "*" when gzip is not
 * named; a q-value of zero refuses.
 *
 * Entry point: http_gzip_accepted.
 */
#include "handlers/http_static.h"

#include <string.h>

static int ieq(const char *a, size_t n, const char *lit)
{
	if (strlen(lit) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = a[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return 0;
	}
	return 1;
}

/* Is the weight (after "q=") zero: "0", "0.", "0.0", "0.00", "0.000"? */
static int q_is_zero(const char *q, size_t n)
{
	if (n == 0 || q[0] != '0')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(i == 1 ? q[i] == '.' : q[i] == '0'))
			return 0;
	return 1;
}

int http_gzip_accepted(const char *v, size_t len)
{
	int gzip = -1, star = -1;	/* -1: not named; 0: refused; 1: accepted */
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < len && v[i] != ',' && v[i] != ';' && v[i] != ' ' && v[i] != '\t')
			i++;
		const char *coding = v + s;
		size_t clen = i - s;
		int ok = 1;
		/* Parameters: only q matters. */
		while (i < len && v[i] != ',') {
			while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ';'))
				i++;
			size_t ps = i;
			while (i < len && v[i] != ';' && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
				i++;
			if (i - ps >= 2 && (v[ps] == 'q' || v[ps] == 'Q') && v[ps + 1] == '=')
				ok = !q_is_zero(v + ps + 2, i - ps - 2);
		}
		if (ieq(coding, clen, "gzip") || ieq(coding, clen, "x-gzip")) {
			if (gzip != 1)
				gzip = ok;
		} else if (clen == 1 && coding[0] == '*') {
			star = ok;
		}
	}
	return gzip >= 0 ? gzip : star == 1;
}
