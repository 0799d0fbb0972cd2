/*
 * pf_main.c - pf_main(): the command line (-c -t -d -s -v -h), the pid
 * file, daemon mode, and the master's start-up transaction: configuration,
 * listeners, first generation ready, then the loop. Also the `-s` client
 * side: signals by pid file, status and reload through the control socket.
 */
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

static void usage(FILE *out, const char *prog)
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
		prog, DEFAULT_CONF);
}

/* ---- pid file ---- */

/* Read up to size-1 bytes of a small file, NUL-terminated; the count, or <= 0. */
static ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n > 0)
		buf[n] = '\0';
	return n;
}

static pid_t pid_file_read(const char *path)
{
	char buf[32];
	if (read_small_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	long v = strtol(buf, NULL, 10);
	return v > 0 && v < INT_MAX ? (pid_t)v : 0;
}

/* Written to a temporary file and renamed: readers never see half a pid. */
int pid_file_write(const char *path, pid_t pid)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_warn("pid file %s", tmp);
		return -1;
	}
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write(fd, buf, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
		log_warn("pid file %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Remove the pid file only while it still names us (an upgrade may own it). */
void pid_file_remove(const char *path, pid_t pid)
{
	if (pid_file_read(path) == pid)
		unlink(path);
}

/* A zombie is not alive: its parent (a shell, init) may reap it only later. */
static int pid_alive(pid_t pid)
{
	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return 0;
	char path[64], stat[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small_file(path, stat, sizeof(stat)) <= 0)
		return 1;
	const char *paren = strrchr(stat, ')');
	return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}

/* ---- -s: talk to a running master ---- */

static int control_request(const char *path, const char *cmd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "preforkd: control socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "preforkd: cannot connect to control socket %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char line[256];
	int n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (write(fd, line, (size_t)n) != n) {
		fprintf(stderr, "preforkd: control socket %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Read the whole answer into out (NUL-terminated); -1 on timeout. */
static int control_answer(int fd, struct buf *out, double timeout)
{
	int64_t deadline = util_now_ns() + (int64_t)(timeout * 1e9);
	char chunk[4096];
	for (;;) {
		int64_t left = deadline - util_now_ns();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(left / 1000000) + 1) <= 0)
			continue;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		buf_append(out, chunk, (size_t)n);
	}
}

static int send_command(struct pf_config *c, const char *cmd)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "stop", SIGINT }, { "quit", SIGTERM }, { "reload", SIGHUP }, { "reopen", SIGUSR1 },
	};
	int drain = strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0;
	if (strcmp(cmd, "status") == 0 || drain || (strcmp(cmd, "reload") == 0 && c->control_socket)) {
		if (!c->control_socket) {
			fprintf(stderr, "preforkd: %s needs the control socket (control_socket is \"\")\n", cmd);
			return 1;
		}
		pid_t pid = pid_file_read(c->pid_file);
		if (!pid_alive(pid)) {
			fprintf(stderr, "preforkd: %s pid file %s%s\n", pid ? "stale" : "no",
				c->pid_file, pid ? " (no such process)" : "");
			return 1;
		}
		double timeout = strcmp(cmd, "reload") == 0 ? 3 * c->shutdown_timeout + 10 : 10;
		int fd = control_request(c->control_socket, cmd);
		if (fd < 0)
			return 1;
		struct buf b;
		buf_init(&b);
		int rc = control_answer(fd, &b, timeout);
		close(fd);
		if (rc < 0) {
			fprintf(stderr, "preforkd: no answer from %s within %.0f s\n", c->control_socket, timeout);
			buf_free(&b);
			return 1;
		}
		const char *text = b.data ? b.data : "";
		int ok = strcmp(cmd, "status") == 0 ? b.len > 0 : strncmp(text, "ok", 2) == 0;
		fputs(text, ok ? stdout : stderr);
		buf_free(&b);
		return ok ? 0 : 1;
	}
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++) {
		if (strcmp(cmd, sigs[i].name) != 0)
			continue;
		pid_t pid = pid_file_read(c->pid_file);
		if (!pid) {
			fprintf(stderr, "preforkd: no pid file %s (is preforkd running?)\n", c->pid_file);
			return 1;
		}
		if (kill(pid, sigs[i].sig) < 0) {
			fprintf(stderr, "preforkd: stale pid file %s: process %d: %s\n", c->pid_file,
				(int)pid, strerror(errno));
			return 1;
		}
		if (sigs[i].sig == SIGINT || sigs[i].sig == SIGTERM) {
			/* Wait for the master to be gone, so scripts can go on safely. */
			int64_t deadline = util_now_ns() +
					   (int64_t)((c->drain_delay + c->shutdown_timeout + 5) * 1e9);
			while (pid_alive(pid) && util_now_ns() < deadline)
				poll(NULL, 0, 20);
			if (pid_alive(pid)) {
				fprintf(stderr, "preforkd: process %d still running\n", (int)pid);
				return 1;
			}
		}
		return 0;
	}
	fprintf(stderr, "preforkd: unknown -s command '%s' (stop, quit, reload, reopen, status, "
		"drain, undrain)\n", cmd);
	return 1;
}

/* ---- daemon mode ---- */

/*
 * In the original process: wait for the daemon's start-up outcome (one
 * byte, 0 for ready, then on failure the reason up to a newline) and exit
 * with it, so that an init script or a terminal sees a failed start.
 */
static PF_NORETURN void daemon_wait(int fd, pid_t child)
{
	/* The master's handlers record and restart: let ^C end this wait. */
	static const int sigs[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP };
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		signal(sigs[i], SIG_DFL);
	char msg[1400];
	size_t len = 0;
	while (len < sizeof(msg) - 1) {
		ssize_t n = read(fd, msg + len, sizeof(msg) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (msg[0] == 0 || memchr(msg, '\n', len))
			break;
	}
	msg[len] = '\0';
	int st;
	waitpid(child, &st, 0);
	if (len > 0 && msg[0] == 0)
		_exit(0);
	char *nl = strchr(msg + (len > 0), '\n');
	if (nl)
		*nl = '\0';
	fprintf(stderr, "preforkd: %s\n",
		len > 1 ? msg + 1 : "the daemon exited before it was ready (see the error log)");
	_exit(1);
}

/*
 * Detach (fork, setsid, fork, chdir /); the original process waits on a
 * pipe for the daemon's start-up outcome and exits with it. Standard I/O
 * is left alone: start-up errors still reach the terminal until
 * stdio_to_null.
 */
static int daemonize(int *report_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		daemon_wait(p[0], pid);
	}
	close(p[0]);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -1;
	umask(022);
	*report_fd = p[1];
	return 0;
}

/* Tell the waiting foreground process how start-up ended (daemon mode). */
static void report_outcome(struct master *m, const char *failure)
{
	if (m->report_fd < 0)
		return;
	char msg[1400];
	int n = failure ? snprintf(msg, sizeof(msg), "%c%s\n", 1, failure) : 1;
	if (!failure)
		msg[0] = 0;
	if (n > (int)sizeof(msg) - 1) {
		n = (int)sizeof(msg) - 1;
		msg[n - 1] = '\n';
	}
	ssize_t w = write(m->report_fd, msg, (size_t)n);
	(void)w;
	close(m->report_fd);
	m->report_fd = -1;
}

/*
 * Called by the master loop when the first generation is ready (or not).
 * A failure is reported once the master has stopped its workers (the
 * reason is then in reload_result): the start-up command returns when the
 * ports are free again.
 */
void master_report_startup(struct master *m, int ok)
{
	if (ok)
		report_outcome(m, NULL);
}

/* Start-up errors reach the terminal even when the log goes elsewhere. */
static void PF_PRINTF_ATTR(2, 3) startup_error(const char *log_target, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	if (log_target[0])
		fprintf(stderr, "preforkd: %s\n", msg);
}

static void stdio_to_null(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

static char *find_exe(const char *argv0)
{
	char *p = NULL;
	if (strchr(argv0, '/'))
		p = realpath(argv0, NULL);
	if (!p)
		p = realpath("/proc/self/exe", NULL);
	return p;
}

static void print_errors(struct errlist *e)
{
	for (int i = 0; i < e->count; i++)
		fprintf(stderr, "%s\n", e->msgs[i]);
}

PF_API int pf_main(int argc, char **argv, const struct pf_handler *const *handlers)
{
	const char *conf_path = DEFAULT_CONF, *command = NULL;
	int test = 0, daemon_mode = 0, opt;
	const char *prog = argc > 0 ? argv[0] : "preforkd";

	optind = 1;
	while ((opt = getopt(argc, argv, "c:tds:vh")) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 't': test = 1; break;
		case 'd': daemon_mode = 1; break;
		case 's': command = optarg; break;
		case 'v':
			printf("preforkd (prefork) %s\n", PACKAGE_VERSION);
			if (tls_conf_available())
				printf("TLS: %s\n", tls_conf_library());
			else
				printf("TLS: not built in (configured --without-tls)\n");
			return 0;
		case 'h': usage(stdout, prog); return 0;
		default: usage(stderr, prog); return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "preforkd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr, prog);
		return 1;
	}

	if (command && !test) {
		/* The master validates the file itself and reports the outcome. */
		struct pf_config *pc = config_load_paths(conf_path);
		int rc = send_command(pc, command);
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

	/* ---- the master ---- */
	static struct master m;
	memset(&m, 0, sizeof(m));
	m.extra = handlers;
	m.control_fd = m.upgrade_fd = m.upgrade_notify_fd = -1;
	for (int i = 0; i < MAX_CONTROL_CLIENTS; i++)
		m.clients[i].fd = -1;
	upgrade_exe = find_exe(prog);
	upgrade_conf = realpath(conf_path, NULL);
	m.conf_path = upgrade_conf ? upgrade_conf : util_xstrdup(conf_path);

	int upgrading = upgrade_inherit(&m);
	if (!upgrading) {
		pid_t other = pid_file_read(c->pid_file);
		if (other && other != getpid() && pid_alive(other)) {
			fprintf(stderr, "preforkd: already running as process %d (pid file %s)\n",
				(int)other, c->pid_file);
			config_free(c);
			return 1;
		}
	}
	/*
	 * With -d and error_log = "", the log goes to syslog, but only once
	 * detached: until then errors are printed on the terminal.
	 */
	const char *log_target = c->error_log;
	int syslog_when_detached = daemon_mode && !log_target[0];
	if (log_open(log_target, c->log_level) < 0) {
		fprintf(stderr, "preforkd: cannot open error log %s: %s\n", log_target, strerror(errno));
		config_free(c);
		return 1;
	}
	if (c->rlimit_nofile > 0) {
		/* The hard limit only grows (as root); lowering it would be for good. */
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = (rlim_t)c->rlimit_nofile;
			if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
				rl.rlim_max = rl.rlim_cur;
		}
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("rlimit_nofile %ld", c->rlimit_nofile);
	}
	if (c->user && geteuid() != 0)
		log_warnx("'user' is ignored: not started as root");
	if (c->chroot && geteuid() != 0)
		log_warnx("'chroot' is ignored: not started as root");

	if (scoreboard_create() < 0 || pipe2(m.ready_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		startup_error(log_target, "start-up: %s", strerror(errno));
		return 1;
	}
	m.sig_fd = signals_master_init();
	if (m.sig_fd < 0) {
		startup_error(log_target, "signal pipe: %s", strerror(errno));
		return 1;
	}
	m.conf = c;
	char err[1024];
	struct generation *g = master_gen_create(&m, c, err, sizeof(err));
	if (!g) {
		startup_error(log_target, "%s", err);
		return 1;
	}
	g->startup = 1;
	if (endpoints_apply(c, err, sizeof(err)) < 0) {
		startup_error(log_target, "%s", err);
		return 1;
	}
	for (int i = 0; i < c->nservices; i++)
		if (c->services[i].workers_auto)
			log_info("service %s: workers = \"auto\": %d (%s)", c->services[i].name,
				 c->services[i].workers, c->services[i].workers_why);

	m.report_fd = -1;
	if (daemon_mode && !upgrading) {
		if (daemonize(&m.report_fd) < 0) {
			startup_error(log_target, "daemonize: %s", strerror(errno));
			return 1;
		}
	}
	upgrade_daemon = daemon_mode;
	m.pid = getpid();
	/* The control socket first: once the pid file names us, `-s status` works. */
	if (!m.control_path && c->control_socket && control_open(&m, c->control_socket) < 0)
		log_error("continuing without a control socket");
	if (!upgrading && pid_file_write(c->pid_file, m.pid) < 0) {
		startup_error(log_target, "cannot write the pid file %s", c->pid_file);
		control_close(&m, 1);
		return 1;
	}
	if (syslog_when_detached)
		log_open("syslog", c->log_level);
	if (daemon_mode)
		stdio_to_null();

	g->state = GEN_STARTING;
	g->deadline_ns = util_now_ns() + (int64_t)(c->shutdown_timeout * 1e9);
	spawn_maintain(&m, g, util_now_ns());
	int rc = master_loop(&m);

	/*
	 * A new master of an upgrade that never got ready (it still holds the
	 * pipe to tell the old one) leaves the control socket file to the old
	 * master, which keeps serving on it.
	 */
	control_close(&m, m.upgrade_notify_fd < 0);
	endpoints_close(&m);
	pid_file_remove(m.conf->pid_file, m.pid);
	if (m.report_fd >= 0) {
		/* Start-up did not complete (failed, or stopped first): say why, now that all is clean. */
		const char *why = strncmp(m.reload_result, "failed: ", 8) == 0 ? m.reload_result + 8 :
				  "stopped before start-up completed";
		char msg[sizeof(m.reload_result) + 32];
		snprintf(msg, sizeof(msg), "start-up failed: %.1100s", why);
		report_outcome(&m, msg);
		rc = 1;
	}
	log_info("exiting with status %d", rc);
	return rc;
}
