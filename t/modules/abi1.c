/*
 * abi1.c - a module as built against the version 1 header, whose handler
 * table ended at `reopen`: it must still load and serve. It answers
 * "abi1 NAME" to any line, except "fail", where its handle returns -1 with
 * errno EPROTO (a handler error: logged and counted).
 */
#include <prefork.h>

#include <errno.h>
#include <string.h>

/* struct pf_handler of ABI version 1, field for field. */
struct pf_handler_v1 {
	unsigned abi;
	const char *name;
	int (*check)(const struct pf_settings *settings);
	int (*init)(struct pf_worker *worker, const struct pf_settings *settings, void **state);
	int (*handle)(struct pf_conn *conn, void *state);
	void (*fini)(struct pf_worker *worker, void *state);
	void (*reopen)(struct pf_worker *worker, void *state);
};

static int abi1_handle(struct pf_conn *c, void *state)
{
	char line[64];
	ssize_t n = pf_conn_read(c, line, sizeof(line) - 1);
	(void)state;
	if (n < 0)
		return -1;
	line[n] = '\0';
	if (strncmp(line, "fail", 4) == 0) {
		errno = EPROTO;
		return -1;
	}
	return pf_conn_printf(c, "abi1 %s\n", pf_worker_service(pf_conn_worker(c))) < 0 ? -1 : 0;
}

const struct pf_handler_v1 pf_module = {
	.abi = 1,
	.name = "abi1",
	.handle = abi1_handle,
};
