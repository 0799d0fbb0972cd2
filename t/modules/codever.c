/*
 * codever.c - a module built twice (codever1.so, codever2.so) with a
 * different CODEVER: it answers "code N" and closes. The module reload
 * tests swap one build for the other in place between reloads.
 */
#include <prefork.h>

#ifndef CODEVER
#define CODEVER 0
#endif

static int codever_handle(struct pf_conn *c, void *state)
{
	(void)state;
	return pf_conn_printf(c, "code %d\n", CODEVER) < 0 ? -1 : 0;
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "codever",
	.handle = codever_handle,
};
