/*
 * pf_main.c - pf_main(): the command line (-c -t -d -s -v -h). It reads
 * and checks the configuration, then hands over: to ctl_send for -s, to
 * master_run to be the master.
 */
#include "cli/ctl.h"
#include "master/master.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PF_SYSCONFDIR
#define PF_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF PF_SYSCONFDIR "/prefork/server.conf"

static void usage(FILE *out, const char *prog, const char *conf)
{
	fprintf(out,
		"usage: %s [-c FILE] [-t] [-d] [-s stop|quit|reload|reopen|status|drain|undrain] [-v] [-h]\n"
		"  -c FILE   configuration file (default %s)\n"
		"  -t        test the configuration and exit (0 when valid, 1 otherwise)\n"
		"  -d        run as a daemon (detach, log to syslog unless error_log is set)\n"
		"  -s CMD    tell the running master: stop (fast), quit (graceful), reload,\n"
		"            reopen (log files), status (print the scoreboard),\n"
		"            drain (tell load balancers to go elsewhere), undrain\n"
		"  -v        print the version\n"
		"  -h        print this help\n",
		prog, conf);
}

static void print_errors(struct errlist *e)
{
	for (int i = 0; i < e->count; i++)
		fprintf(stderr, "%s\n", e->msgs[i]);
}

PF_API int pf_main_program(int argc, char **argv, const struct pf_handler *const *handlers,
			   const char *name, const char *version, const char *default_config)
{
	const char *conf_path = default_config ? default_config : DEFAULT_CONF, *command = NULL;
	int test = 0, daemon_mode = 0, opt;
	const char *prog = argc > 0 ? argv[0] : name ? name : "preforkd";
	const char *def_conf = conf_path;

	optind = 1;
	while ((opt = getopt(argc, argv, "c:tds:vh")) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 't': test = 1; break;
		case 'd': daemon_mode = 1; break;
		case 's': command = optarg; break;
		case 'v':
			if (name)
				printf("%s %s (prefork %s)\n", name, version ? version : "", PACKAGE_VERSION);
			else
				printf("preforkd (prefork) %s\n", PACKAGE_VERSION);
			if (tls_conf_available())
				printf("TLS: %s\n", tls_conf_library());
			else
				printf("TLS: not built in (configured --without-tls)\n");
			return 0;
		case 'h': usage(stdout, prog, def_conf); return 0;
		default: usage(stderr, prog, def_conf); return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", name ? name : "preforkd", argv[optind]);
		usage(stderr, prog, def_conf);
		return 1;
	}

	if (command && !test) {
		/* The master validates the file itself and reports the outcome. */
		struct pf_config *pc = config_load_paths(conf_path);
		int rc = ctl_send(pc, command);
		config_free(pc);
		return rc;
	}

	struct errlist errs = { 0 };
	struct pf_config *c = config_load(conf_path, handlers, &errs);
	if (!c) {
		print_errors(&errs);
		errlist_free(&errs);
		return 1;
	}
	errlist_free(&errs);
	if (test) {
		for (int i = 0; i < c->nservices; i++)
			if (c->services[i].workers_auto)
				printf("service %s: workers = \"auto\": %d (%s)\n", c->services[i].name,
				       c->services[i].workers, c->services[i].workers_why);
		printf("%s: configuration OK\n", conf_path);
		config_free(c);
		return 0;
	}

	return master_run(conf_path, handlers, c, daemon_mode, prog);
}

PF_API int pf_main(int argc, char **argv, const struct pf_handler *const *handlers)
{
	return pf_main_program(argc, argv, handlers, NULL, NULL, NULL);
}
