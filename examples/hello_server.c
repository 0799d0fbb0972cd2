/*
 * hello_server.c - a complete custom server on libprefork: the whole
 * process model (master, worker pool, reload, graceful stop, control
 * socket) around one handler. Build it against an installed prefork:
 *
 *	cc -o hello-server hello_server.c $(pkg-config --cflags --libs prefork)
 *
 * and run it with a server.conf whose service says handler = "hello".
 */
#include <prefork.h>

static int hello(struct pf_conn *c, void *state)
{
	(void)state;
	return pf_conn_printf(c, "hello %s\n", pf_conn_peer_host(c)) < 0 ? -1 : 0;
}

static const struct pf_handler hello_handler = {
	.abi = PF_ABI_VERSION,
	.name = "hello",
	.handle = hello,
};

int main(int argc, char **argv)
{
	const struct pf_handler *const handlers[] = { &hello_handler, NULL };
	return pf_main(argc, argv, handlers);
}
