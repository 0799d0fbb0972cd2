/*
 * kv_server.c - a line-based key/value server on libprefork, with
 * pf_main and pf_conn_readline. One command per line:
 *
 *	SET key value	-> OK
 *	GET key		-> VALUE value | NOT_FOUND
 *	QUIT		-> (closes)
 *
 * A line longer than 512 bytes is answered "ERROR line too long" and the
 * connection closed; each command must arrive within 10 seconds of the
 * previous one (pf_conn_set_deadline), so a slow client cannot hold a
 * worker. The store lives in each worker's memory (use workers = 1 to
 * share it between connections). Build it against an installed prefork:
 *
 *	cc -o kv-server kv_server.c $(pkg-config --cflags --libs prefork)
 *
 * and run it with a server.conf whose service says handler = "kv".
 */
#include <errno.h>
#include <prefork.h>
#include <stdio.h>
#include <string.h>

#define NKEYS 256

static struct { char key[64], value[256]; } store[NKEYS];

static char *lookup(const char *key, int create)
{
	for (int i = 0; i < NKEYS; i++)
		if (store[i].key[0] ? !strcmp(store[i].key, key) : create) {
			snprintf(store[i].key, sizeof(store[i].key), "%s", key);
			return store[i].value;
		}
	return NULL;
}

static int kv(struct pf_conn *c, void *state)
{
	char line[513], *value;
	(void)state;
	for (;;) {
		pf_conn_set_deadline(c, 10);
		ssize_t n = pf_conn_readline(c, line, sizeof(line));
		if (n < 0 && errno == EMSGSIZE)
			return pf_conn_printf(c, "ERROR line too long\n") < 0 ? -1 : 0;
		if (n <= 0)
			return n < 0 ? -1 : 0;
		line[strcspn(line, "\r\n")] = '\0';
		char *cmd = strtok(line, " "), *key = strtok(NULL, " "), *rest = strtok(NULL, "");
		if (cmd && !strcmp(cmd, "QUIT"))
			return 0;
		if (cmd && key && !strcmp(cmd, "SET") && rest && strlen(key) < 64 && strlen(rest) < 256
		    && (value = lookup(key, 1))) {
			snprintf(value, 256, "%s", rest);
			n = pf_conn_printf(c, "OK\n");
		}
		else if (cmd && key && !rest && !strcmp(cmd, "GET"))
			n = (value = lookup(key, 0)) ? pf_conn_printf(c, "VALUE %s\n", value)
						     : pf_conn_printf(c, "NOT_FOUND\n");
		else
			n = pf_conn_printf(c, "ERROR bad command\n");
		if (n < 0)
			return -1;
	}
}

static const struct pf_handler kv_handler = {
	.abi = PF_ABI_VERSION,
	.name = "kv",
	.handle = kv,
};

int main(int argc, char **argv)
{
	const struct pf_handler *const handlers[] = { &kv_handler, NULL };
	return pf_main(argc, argv, handlers);
}
