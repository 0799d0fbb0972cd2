/*
 * failinit.c - a test module whose handler's init always fails, so that
 * start-up (including -d) and reload must report failure and keep the old
 * generation serving. Built by the integration tests (test_reload.py,
 * test_cli.py, test_upgrade.py) with
 *	cc -shared -fPIC -I$PREFORK_SRCDIR/src -o failinit.so failinit.c
 */
#include "prefork.h"

static int failinit_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	(void)s;
	(void)state;
	pf_log(PF_LOG_ERROR, "failinit: init fails on purpose (service %s)", pf_worker_service(w));
	return -1;
}

static int failinit_handle(struct pf_conn *c, void *state)
{
	(void)c;
	(void)state;
	return -1;
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "failinit",
	.init = failinit_init,
	.handle = failinit_handle,
};
