/*
 * main.c - prefork-client's command line: parse and check the options,
 * then run the one-shot mode (oneshot.c) or the load mode (load.c).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define DEFAULT_LOAD_MESSAGE "ping\n"
#define MAX_CONNS   1000000u
#define MAX_THREADS 1024u

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s [-v] [-T SECONDS] [-m MSG] HOST:PORT\n"
"       %s [-v] [-T SECONDS] [-i] [-f] --http PATH HOST:PORT\n"
"       %s -c CONNS (-n TOTAL | -d SECONDS) [--http PATH] [--keepalive]\n"
"                      [-m MSG] [-j THREADS] [-T SECONDS] [--json] HOST:PORT\n"
"\n"
"HOST:PORT may also be [V6]:PORT or unix:PATH (unix:@NAME: abstract socket).\n"
"\n"
"One-shot mode connects, sends MSG (or all of standard input), half-closes,\n"
"and prints exactly the bytes received until the server closes.\n"
"  -m, --message MSG     send MSG instead of standard input (sent as is)\n"
"  -T, --timeout SECONDS limit on each wait: connect, send, receive (default 10;\n"
"                        waiting for standard input typed by a user has none)\n"
"      --http PATH       send GET PATH (HTTP/1.1, Connection: close) and print\n"
"                        the response body\n"
"  -i, --include         with --http, print the status line and headers too\n"
"  -f, --fail            with --http, exit 3 when the status is 400 or more\n"
"  -v, --verbose         trace each socket call on stderr: result, time taken\n"
"\n"
"Load mode keeps CONNS connections busy and prints a summary: requests,\n"
"errors by kind (refused, reset, timeout, short_read, bad_status, other),\n"
"requests/s, and latency percentiles of the successful requests.\n"
"  -c, --connections N   connections kept busy (default 1)\n"
"  -n, --requests TOTAL  stop once TOTAL requests have completed\n"
"  -d, --duration SECS   stop after SECS seconds (requests then in flight are\n"
"                        not counted)\n"
"  -m, --message MSG     echo load: a request sends MSG and reads as many bytes\n"
"                        back (default \"ping\\n\")\n"
"      --http PATH       HTTP load: a request is GET PATH; a status of 400 or\n"
"                        more counts as a bad_status error\n"
"  -k, --keepalive       reuse connections (HTTP/1.1 keep-alive for --http);\n"
"                        otherwise each request uses a new connection\n"
"  -j, --threads N       threads, each with one event loop (default 1)\n"
"  -T, --timeout SECONDS the time one request may take (default 10)\n"
"      --json            print the summary as one JSON object\n"
"\n"
"-n and -d may be combined: the run ends at whichever comes first. While it\n"
"runs, a progress line is drawn on stderr once a second if that is a terminal;\n"
"SIGINT (Ctrl-C) ends it early and prints the summary of what completed.\n"
"\n"
"TLS, in both modes:\n"
"      --tls             speak TLS (1.2 or 1.3) to the server\n"
"      --cacert FILE     verify the server against the CA certificates in FILE\n"
"                        (default: the system's store)\n"
"      --insecure        do not verify the server's certificate\n"
"      --sni NAME        the server name sent and checked (default: HOST)\n"
"In load mode every new connection makes a full handshake; the summary gives\n"
"the handshake times apart from the request latency.\n"
"\n"
"  -h, --help            this text\n"
"  -V, --version         the version\n"
"\n"
"Exit status: 0 on success; 1 when the address is bad or the exchange failed\n"
"(a one-line reason is printed on stderr) or, in load mode, when any request\n"
"failed or none completed; 2 for bad options; 3 for --fail and an HTTP error\n"
"status.\n"
"With --http, any complete response (whatever its status) is a success.\n",
		CLIENT_NAME, CLIENT_NAME, CLIENT_NAME);
}

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", CLIENT_NAME);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s -h' for more information.\n", CLIENT_NAME);
	return -1;
}

static int parse_seconds(const char *opt, const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno != 0 || !isfinite(v) || v <= 0 || v > 1e7) {
		fprintf(stderr, "%s: %s: bad number of seconds \"%s\"\n", CLIENT_NAME, opt, arg);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_count(const char *opt, const char *arg, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 || v < 1 || v > max) {
		fprintf(stderr, "%s: %s: expected a number from 1 to %llu, not \"%s\"\n",
			CLIENT_NAME, opt, (unsigned long long)max, arg);
		return -1;
	}
	*out = v;
	return 0;
}

enum { OPT_HTTP = 256, OPT_JSON, OPT_TLS, OPT_CACERT, OPT_INSECURE, OPT_SNI };

static const struct option long_options[] = {
	{ "message",     required_argument, NULL, 'm' },
	{ "timeout",     required_argument, NULL, 'T' },
	{ "http",        required_argument, NULL, OPT_HTTP },
	{ "include",     no_argument,       NULL, 'i' },
	{ "fail",        no_argument,       NULL, 'f' },
	{ "verbose",     no_argument,       NULL, 'v' },
	{ "connections", required_argument, NULL, 'c' },
	{ "requests",    required_argument, NULL, 'n' },
	{ "duration",    required_argument, NULL, 'd' },
	{ "threads",     required_argument, NULL, 'j' },
	{ "keepalive",   no_argument,       NULL, 'k' },
	{ "json",        no_argument,       NULL, OPT_JSON },
	{ "tls",         no_argument,       NULL, OPT_TLS },
	{ "cacert",      required_argument, NULL, OPT_CACERT },
	{ "insecure",    no_argument,       NULL, OPT_INSECURE },
	{ "sni",         required_argument, NULL, OPT_SNI },
	{ "help",        no_argument,       NULL, 'h' },
	{ "version",     no_argument,       NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Fill O from the command line; -1 after a message, 1 when done (-h, -V). */
static int parse_args(int argc, char **argv, struct client_opts *o)
{
	bool have_j = false;
	uint64_t v;
	int c;
	const char *p;

	memset(o, 0, sizeof(*o));
	o->timeout_s = 10.0;
	o->conns = 1;
	o->threads = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:T:ifvc:n:d:j:khV", long_options, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->message = optarg;
			o->message_len = strlen(optarg);
			break;
		case 'T':
			if (parse_seconds("-T", optarg, &o->timeout_s) < 0)
				return -1;
			break;
		case OPT_HTTP:
			o->http_path = optarg;
			break;
		case 'i':
			o->include = true;
			break;
		case 'f':
			o->fail = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'c':
			if (parse_count("-c", optarg, MAX_CONNS, &v) < 0)
				return -1;
			o->conns = (unsigned)v;
			o->load = true;
			break;
		case 'n':
			if (parse_count("-n", optarg, UINT64_MAX / 2, &o->total) < 0)
				return -1;
			o->load = true;
			break;
		case 'd':
			if (parse_seconds("-d", optarg, &o->duration_s) < 0)
				return -1;
			o->load = true;
			break;
		case 'j':
			if (parse_count("-j", optarg, MAX_THREADS, &v) < 0)
				return -1;
			o->threads = (unsigned)v;
			have_j = true;
			break;
		case 'k':
			o->keepalive = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_TLS:
			o->tls = true;
			break;
		case OPT_CACERT:
			o->cacert = optarg;
			break;
		case OPT_INSECURE:
			o->insecure = true;
			break;
		case OPT_SNI:
			o->sni = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("%s %s\n", CLIENT_NAME, PACKAGE_VERSION);
			return 1;
		case ':':
			return bad_usage("option %s needs a value", argv[optind - 1]);
		default:
			if (optopt != 0) {
				char opt[3] = { '-', (char)optopt, '\0' };

				return bad_usage("unknown option %s", opt);
			}
			return bad_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return bad_usage("missing HOST:PORT%s", "");
	if (optind + 1 < argc)
		return bad_usage("unexpected argument \"%s\"", argv[optind + 1]);
	o->target = argv[optind];

	if (o->http_path != NULL) {
		if (o->http_path[0] == '\0')
			return bad_usage("--http: empty path%s", "");
		for (p = o->http_path; *p; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				return bad_usage("--http: the path may not contain spaces or "
						 "control characters: \"%s\"", o->http_path);
		if (o->message != NULL)
			return bad_usage("-m and --http exclude each other%s", "");
	}
	if ((o->cacert || o->insecure || o->sni) && !o->tls)
		return bad_usage("--cacert, --insecure and --sni need --tls%s", "");
	if (o->cacert && o->insecure)
		return bad_usage("--cacert and --insecure exclude each other%s", "");
	if (o->include && o->http_path == NULL)
		return bad_usage("-i needs --http%s", "");
	if (o->fail && o->http_path == NULL)
		return bad_usage("--fail needs --http%s", "");
	if (o->load) {
		if (o->total == 0 && o->duration_s == 0)
			return bad_usage("load mode needs -n TOTAL or -d SECONDS%s", "");
		if (o->verbose)
			return bad_usage("-v traces the one-shot mode only%s", "");
		if (o->include || o->fail)
			return bad_usage("-i and --fail are for the one-shot mode%s", "");
		if (o->http_path == NULL && o->message == NULL) {
			o->message = DEFAULT_LOAD_MESSAGE;
			o->message_len = strlen(DEFAULT_LOAD_MESSAGE);
		}
		if (o->http_path == NULL && o->message_len == 0)
			return bad_usage("-m: an echo request needs at least one byte%s", "");
		if (o->threads > o->conns)
			o->threads = o->conns;
	} else if (o->keepalive || o->json || have_j) {
		return bad_usage("--keepalive, --json and -j need load mode "
				 "(-c with -n or -d)%s", "");
	}
	return 0;
}

/*
 * Started with a standard descriptor closed, the first socket would take
 * its number and be mistaken for it (stdin read from the socket itself).
 */
static void open_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) < 0)
			exit(CLIENT_EXIT_FAIL);
}

int main(int argc, char **argv)
{
	struct client_opts opts;
	int rc;

	open_std_fds();
	signal(SIGPIPE, SIG_IGN);
	rc = parse_args(argc, argv, &opts);
	if (rc != 0)
		return rc > 0 ? CLIENT_EXIT_OK : CLIENT_EXIT_USAGE;
	if (opts.load)
		return load_run(&opts);
	return oneshot_run(&opts);
}
