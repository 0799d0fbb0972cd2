/*
 * leaky.c - a test module that leaks on purpose: each connection keeps
 * (and touches) `leak_kb` KiB more memory, then answers "leaked N KiB\n".
 * With `hold = true` it then waits for the client to close (a worker
 * busy while over its limit). t/test_drain.py uses it for max_rss.
 */
#include "prefork.h"

#include <stdlib.h>
#include <string.h>

struct leaky {
	long long leak_kb;
	long long total_kb;
	int hold;
	void *chain;		/* every block, linked: reachable, so never optimised away */
};

static int leaky_check(const struct pf_settings *s)
{
	long long kb;
	int hold;
	return (pf_settings_int(s, "leak_kb", 1024, 1, 1 << 20, &kb) < 0) |
	       (pf_settings_bool(s, "hold", 0, &hold) < 0);
}

static int leaky_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	(void)w;
	struct leaky *l = calloc(1, sizeof(*l));
	if (!l || pf_settings_int(s, "leak_kb", 1024, 1, 1 << 20, &l->leak_kb) < 0 ||
	    pf_settings_bool(s, "hold", 0, &l->hold) < 0) {
		free(l);
		return -1;
	}
	*state = l;
	return 0;
}

static int leaky_handle(struct pf_conn *c, void *state)
{
	struct leaky *l = state;
	char *p = malloc((size_t)l->leak_kb * 1024);
	if (p) {
		memset(p, 0x5a, (size_t)l->leak_kb * 1024);	/* resident, not only reserved */
		*(void **)p = l->chain;
		l->chain = p;
		l->total_kb += l->leak_kb;
	}
	if (pf_conn_printf(c, "leaked %lld KiB\n", l->total_kb) < 0)
		return -1;
	char buf[64];
	while (l->hold && pf_conn_read_timeout(c, buf, sizeof(buf), 0) > 0)
		;
	return 0;
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "leaky",
	.check = leaky_check,
	.init = leaky_init,
	.handle = leaky_handle,
};
