/*
 * internal.h - libprefork's internal structures and prototypes, grouped by
 * the file that owns them. Nothing here is exported from libprefork.so.
 */
#ifndef PREFORK_INTERNAL_H
#define PREFORK_INTERNAL_H

#include "config.h"
#include "prefork.h"

#include <libconfig.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define PF_PRINTF_ATTR(f, a) __attribute__((format(printf, f, a)))
#define PF_NORETURN __attribute__((noreturn))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/*
 * A static variable a worker writes as it starts (or the master between two
 * forks): kept in .data, beside the others (log, signals), instead of on
 * some page of .bss; a worker then copies one page for all of them rather
 * than one for each page they would be scattered over (README: what an
 * idle worker costs).
 */
#define PF_FORK_WRITTEN __attribute__((section(".data.pf_fork_written")))

/* ---- buf.c: growable buffers ---- */

struct buf {
	char *data;
	size_t len, cap;
};
void buf_init(struct buf *b);
void buf_free(struct buf *b);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_printf(struct buf *b, const char *fmt, ...) PF_PRINTF_ATTR(2, 3);
int buf_json_string(struct buf *b, const char *s);

/* ---- errlist.c: a list of messages, each "FILE:LINE: message" ---- */

struct errlist {
	char **msgs;
	int count, cap;
};
void errlist_add(struct errlist *e, const char *fmt, ...) PF_PRINTF_ATTR(2, 3);
void errlist_free(struct errlist *e);

/* ---- arena.c: the master's own tables, left out of workers' forks ---- */

/* Zeroed, page-rounded memory (aborts when none is left); never freed. */
void *arena_alloc(size_t size);
/* Left out of every fork but those between share=1 and share=0 (daemon, upgrade). */
void arena_fork_share(int share);
void arena_free(void *p);	/* what arena_alloc gave, or NULL */
/* A worker's memory for its lifetime: zeroed, written pages only; NULL when none. */
void *arena_worker_calloc(size_t size);
void arena_worker_free(void *p);	/* anything arena_worker_calloc gave, or NULL */

/* ---- util.c: time, paths, descriptor flags, rlimits ---- */

int64_t util_now_ns(void);		/* CLOCK_MONOTONIC */
double util_now(void);			/* CLOCK_MONOTONIC, seconds */
int64_t util_secs_ns(double s);		/* seconds as nanoseconds */
char *util_xstrdup(const char *s);	/* aborts on ENOMEM */
void *util_xcalloc(size_t n, size_t size);
/* Join dir and a relative path; absolute paths come back unchanged. */
char *util_resolve_path(const char *dir, const char *path);
/* The same into out (snprintf's return: the length it needed). */
int util_join_path(char *out, size_t len, const char *dir, const char *path);
/* Append s at out[at] (as snprintf would: cut to len, NUL-ended); returns at + strlen(s). */
size_t util_cat(char *out, size_t len, size_t at, const char *s);
int util_set_cloexec(int fd);
int util_set_nonblock(int fd, int on);
/* Levenshtein distance, for "did you mean" suggestions. */
int util_edit_distance(const char *a, const char *b);
/* Resident memory of pid (0: this process) in bytes; -1 when unknown. */
long long util_rss_bytes(pid_t pid);
/* RLIMIT_NOFILE to n (<= 0: unchanged); 0, or -1 with errno. */
int util_set_nofile(long n);
/* Coverage builds: write gcov's counters now; elsewhere a no-op. */
void util_coverage_flush(void);

/* ---- fds.c: the master's descriptors a forked worker closes ---- */

void fds_add(int fd);		/* the owner opened it */
void fds_forget(int fd);	/* the owner is about to close it */
void fds_close_all(int keep);	/* in a new worker: close every one but keep */

/* ---- log.c ---- */

int log_open(const char *target, int level);	/* target: "", "syslog", or a path */
int log_reopen(void);
void log_close(void);
void log_set_level(int level);
int log_get_level(void);
void log_set_role(const char *kind, const char *name);	/* "worker", "web": "worker web" */
int log_parse_level(const char *name);		/* -1 when unknown */
void log_error(const char *fmt, ...) PF_PRINTF_ATTR(1, 2);
void log_warn(const char *fmt, ...) PF_PRINTF_ATTR(1, 2);	/* appends strerror(errno) */
void log_warnx(const char *fmt, ...) PF_PRINTF_ATTR(1, 2);	/* a warning without errno */
void log_info(const char *fmt, ...) PF_PRINTF_ATTR(1, 2);
void log_debug(const char *fmt, ...) PF_PRINTF_ATTR(1, 2);
void log_vwrite(int level, const char *fmt, va_list ap) PF_PRINTF_ATTR(2, 0);
/*
 * A line that may repeat in a loop: log it at most once per interval.
 * log_limit_pass says whether it may be logged now (1), and then puts in
 * *suppressed how many were dropped since the last one; 0: drop this one.
 * log_limit_suffix formats " (repeated N times)" for those, or "".
 */
struct log_limit {
	int64_t last_ns;
	unsigned long suppressed;
};
#define LOG_LIMIT_INTERVAL_NS 1000000000LL
int log_limit_pass(struct log_limit *l, int64_t now_ns, int64_t interval_ns,
		   unsigned long *suppressed);
const char *log_limit_suffix(unsigned long suppressed, char *buf, size_t len);

/* ---- addr.c ---- */

struct addr {
	int family;		/* AF_INET, AF_INET6 or AF_UNIX */
	socklen_t len;
	struct sockaddr_storage ss;
};
/*
 * Parse "HOST:PORT", "[V6]:PORT" or "unix:PATH" (a relative PATH resolves
 * against dir when dir is not NULL). HOST must be a numeric address or
 * "localhost"/"*". Returns 0, or -1 with a message in err.
 */
int addr_parse(const char *text, const char *dir, struct addr *out, char *err, size_t errlen);
/* Format as "127.0.0.1:80", "[::1]:80" or "unix:/path". */
const char *addr_format(const struct addr *a, char *buf, size_t len);
const char *addr_format_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf,
				 size_t buflen, int with_port);
int addr_equal(const struct addr *a, const struct addr *b);
int addr_port(const struct addr *a);
const char *addr_unix_path(const struct addr *a);

/* ---- config.c ---- */

#define CONF_MAX_SERVICES 64
/*
 * The services' start sizes (`workers`) add up to at most this, so that a
 * reload's new generation always fits in the scoreboard beside the old one
 * (SB_MAX_SLOTS is twice as large).
 */
#define CONF_MAX_WORKERS_TOTAL 4096
/*
 * The pid file is written to PID_FILE.XXXXXX.tmp (an unpredictable name,
 * created O_EXCL|O_NOFOLLOW) and renamed: config_load refuses a pid_file
 * whose temporary name would not fit in PATH_MAX.
 */
#define CONF_PID_TMP_SUFFIX ".XXXXXX.tmp"

struct svc_conf {
	char *name;
	char *listen;		/* as written */
	struct addr addr;
	char *handler_name;
	char *module;		/* resolved path, or NULL */
	const struct pf_handler *handler;
	struct pf_handler *handler_compat;	/* a whole copy of an ABI 1 table, or NULL */
	int backlog;
	int workers;
	int min_spare, max_spare, max_workers;
	int dynamic;		/* min_spare or max_spare given */
	long max_requests;
	double read_timeout, write_timeout, request_timeout;
	double tick_interval;	/* seconds between the handler's ticks; 0: none */
	int defer_accept;
	int proxy_protocol;
	char *agent_check;	/* HAProxy agent-check address, or NULL */
	struct addr agent_addr;
	long long max_rss;	/* bytes; 0: unlimited */
	int workers_auto;	/* workers = "auto": resolved from the CPUs we may use */
	char *workers_why;	/* how "auto" was resolved, for -t and the log */
	struct tls_conf *tls;		/* the service's tls block, or NULL: plain */
	config_setting_t *block;	/* the handler's settings, or NULL */
	config_setting_t *http_block;	/* HTTP handlers: the engine's `http` block, or NULL */
	int line;
};

struct pf_config {
	struct pf_config *live_next, *live_prev;	/* every one alive (config.c) */
	char *file;		/* as given */
	char *dir;		/* its folder: base of relative paths */
	config_t lc;		/* kept alive for the handlers' blocks */
	char *pid_file;		/* resolved */
	char *error_log;	/* "", "syslog" or a resolved path */
	int log_level;
	double shutdown_timeout;
	char *user, *group, *chroot;
	long rlimit_nofile;	/* 0: unset */
	char *control_socket;	/* resolved, or NULL when disabled */
	char *metrics;		/* the /metrics address, or NULL when off */
	struct addr metrics_addr;
	double drain_delay;	/* seconds of lame duck before a graceful stop */
	struct svc_conf *services;
	int nservices;
};

/*
 * Read and fully validate a configuration. On any error returns NULL with
 * every problem found in errs as "FILE:LINE: message". Loads modules and
 * runs each handler's check. No side effects on the running process beyond
 * dlopen.
 */
struct pf_config *config_load(const char *path, const struct pf_handler *const *extra,
			      struct errlist *errs);
void config_free(struct pf_config *c);
struct pf_config *config_load_paths(const char *path);
/* paths.c: resolve pid_file, error_log, control_socket; add what start-up would refuse. */
void paths_resolve(struct pf_config *c, struct errlist *errs);
/* s as a number (float or integer): 0, or -1 when s is missing or not a number. */
int settings_number(const config_setting_t *s, double *out);
const struct svc_conf *config_find_service(const struct pf_config *c, const char *name);

/* ---- sizing.c: workers = "auto" ---- */

/* CPUs a cgroup v2 cpu.max text allows: 0 for "max", -1 when malformed. */
int sizing_from_quota(const char *cpu_max);
/* The CPUs this process may use (affinity, cgroup quota); why says how. */
int sizing_auto(char *why, size_t whylen);
/* "268435456", "256M", "1G": bytes (K, M, G, T are powers of 1024); -1 when malformed. */
long long sizing_parse_bytes(const char *text);

/* ---- config_fleet.c: metrics, agent_check, workers = "auto", max_rss ---- */

int config_fleet_service_key(struct errlist *errs, const char *file, const config_setting_t *s,
			     struct svc_conf *v);
void config_fleet_check(struct errlist *errs, struct pf_config *c, const config_setting_t *list);
#include "tls/tls.h"

/* ---- settings.c: struct pf_settings over a libconfig group ---- */

struct pf_settings {
	const config_setting_t *block;	/* may be NULL: every key absent */
	const char *file;
	const char *dir;
	int line;			/* of the service, when block is NULL */
	struct errlist *errs;		/* NULL: log instead */
	int failed;
	unsigned long used;		/* bit i: child i was read */
	const struct pf_setting *table;	/* the handler's settings table, or NULL */
};
void settings_init(struct pf_settings *s, const config_setting_t *block, const char *file,
		   const char *dir, int line, struct errlist *errs);
/* After check: report every key of the block that nobody read. */
void settings_report_unknown(struct pf_settings *s, const char *handler);

/* Check s's block and `table` itself (config/settings_table.c): 0, or -1 with errors in s. */
int settings_table_check(struct pf_settings *s, const struct pf_setting *table,
			 const char *handler);

/* ---- module.c: handler lookup and loading ---- */

extern const struct pf_handler echo_handler;
extern const struct pf_handler http_handler;
extern const struct pf_handler status_handler;

/* A handler by name: the given ones first, then the built-ins. */
extern const struct pf_handler *const module_builtins[];	/* NULL-terminated */
const struct pf_handler *module_builtin(const struct pf_handler *const *extra, const char *name);
/*
 * Check a handler table (`what` names it in messages): ABI version 1 or
 * PF_ABI_VERSION, a name, exactly one of handle and handle_http. A version
 * 1 table is copied into a whole one, returned in *compat for the caller
 * to free (NULL otherwise). 0, or -1 with err.
 */
int module_check_table(const struct pf_handler *t, const char *what, struct pf_handler **compat,
		       char *err, size_t errlen);
/*
 * dlopen path and return its pf_module table, checked; NULL with err. When
 * the table had to be copied (ABI 1), the copy is returned and also stored
 * in *compat, which the caller frees.
 */
const struct pf_handler *module_load(const char *path, const char *name, struct pf_handler **compat,
				     char *err, size_t errlen);

/* ---- listen.c ---- */

struct listener {
	struct addr addr;
	char name[128];		/* formatted; the real port when 0 was asked */
	int fd;
	int backlog;
	int inherited;		/* from LISTEN_FDS or an upgrade: never unlink */
	int activated;		/* from LISTEN_FDS: kept even while unused */
	int in_use;		/* mark for reload bookkeeping */
};
/* Service unix sockets: anyone who can reach the file may connect. */
#define LISTEN_UNIX_MODE 0666
/* socket, bind, listen; a unix socket file is created with `mode` (it
 * never has any other); -1 with a message in err. */
int listen_open(struct listener *l, int backlog, mode_t mode, char *err, size_t errlen);
void listen_close(struct listener *l, int unlink_path);
int listen_apply_options(struct listener *l, int defer_accept);

/* ---- signals.c ---- */

extern volatile sig_atomic_t signals_child, signals_stop_graceful, signals_stop_fast, signals_reload,
	signals_reopen, signals_upgrade;
int signals_master_init(void);	/* returns the self-pipe's read end */
void signals_drain(void);
/* SIGTTIN or SIGTTOU: how many were delivered since the last call (none lost). */
unsigned signals_take(int sig);
void signals_worker_init(int listen_fd);
extern volatile sig_atomic_t signals_worker_stop, signals_worker_reopen;
/* Worker: the stop handler closes this fd so a pending accept() returns. */
void signals_worker_set_listen_fd(int fd);
int signals_worker_listen_fd(void);	/* -1 once the stop handler closed it */
int signals_worker_stop_fd(void);	/* readable once told to stop; -1 if none */
void signals_close_pipe(void);
void signals_block_all(sigset_t *old);
void signals_restore(const sigset_t *old);

#include "core/scoreboard.h"

/* ---- conn.c ---- */

struct pf_worker {
	const struct svc_conf *svc;
	const struct pf_config *conf;
	unsigned generation;
	struct sb_slot *slot;
	int slot_index;
	int sb_service;			/* index into scoreboard->svcs */
	const struct pf_handler *handler;
	void *state;
	struct http_app *http_app;	/* handle_http services: engine and routes */
	int64_t tick_next_ns;		/* monotonic ns of the next tick; 0: none */
	int64_t started_ns;		/* monotonic ns of the fork (the master's clock) */
};

struct pf_conn {
	int fd;
	struct pf_worker *worker;
	struct sb_slot *slot;
	double read_timeout, write_timeout;
	struct sockaddr_storage peer_sa;
	socklen_t peer_len;
	char peer[80];
	char peer_host[64];
	int expect_wait;		/* the last read had to wait: poll first */
	int blocking;			/* fd accepted blocking: the idle wait is recv() */
	int64_t rcvtimeo_ns;		/* SO_RCVTIMEO set on fd (0: none yet) */
	int64_t silent_since;		/* ns the client is silent since (0: spoke, or we wrote) */
	int silent_age_unread;		/* silent_since is accept's: its queue time not yet read */
	int yielded;			/* given up, silent, for a queued client */
	struct ssl_st *ssl;		/* TLS: the session over fd, or NULL */
	int ktls_send;			/* kTLS offload active: SSL_sendfile */
	int tls_idle;			/* the TLS BIO's reads may block: the idle wait */
	struct pf_tls_info *tls_info;	/* filled on first pf_conn_tls */
	int64_t deadline_ns;		/* pf_conn_set_deadline: monotonic, 0 = none */
	int in_request;			/* waits get the stop grace (conn_wait_conn) */
	size_t roff, rlen;		/* read-ahead: rlen bytes at rbuf + roff */
	unsigned char rbuf[4096];	/* pf_conn_readline/peek/unread */
};
void conn_init(struct pf_conn *c, int fd, struct pf_worker *w,
	       const struct sockaddr *sa, socklen_t salen);
/*
 * Silent-connection floods (conn.c): note how long the client of a fresh
 * connection has been silent (TCP_INFO counts its time in the listen
 * queue; with defer_accept a connection without data has been silent for
 * the defer period). Returns 1 when it should be dropped at once: silent
 * for CONN_SILENT_GRACE, others queued, no worker of the service idle.
 */
#define CONN_SILENT_GRACE_NS 500000000LL
int conn_watch_silence(struct pf_conn *c, int defer_accept);
/* Count one request served on c, begun at start_ns (monotonic), in the slot. */
void conn_request_done(struct pf_conn *c, int64_t start_ns);
/*
 * The handler returned non-zero on c (on the HTTP request `request`, or
 * NULL): log at warn with errno, count it.
 */
void conn_handler_failed(const struct pf_conn *c, const char *request);
/* Move up to len read-ahead bytes of c (c->rlen > 0) to buf; the count. */
size_t conn_take(struct pf_conn *c, void *buf, size_t len);
/* ---- worker/conn_wait.c: the waits under conn.c and tls_conn.c ---- */
/* Wait for `events` on fd up to `timeout` seconds (<= 0: forever); 0, or -1 (ETIMEDOUT). */
int conn_wait_fd(int fd, short events, double timeout);
/* conn_wait_fd on c; in a request, a stop cuts it to CONN_STOP_GRACE_NS (ETIMEDOUT). */
#define CONN_STOP_GRACE_NS 1000000000LL
int conn_wait_conn(const struct pf_conn *c, short events, double timeout);
/*
 * A wait of `timeout` seconds (<= 0: forever) cut to c's deadline: the
 * timeout to use, or -1 (errno ETIMEDOUT) when the deadline has passed.
 */
double conn_wait_timeout(const struct pf_conn *c, double timeout);
/* ---- worker/conn_silent.c: silent-connection floods ---- */
/* Does a worker of w's service sit idle in accept()? */
int conn_silent_idle_worker(const struct pf_worker *w);
/* The same answer as seen at most 10 ms before `now` (one scan per 10 ms, not per call). */
int conn_silent_idle_worker_recent(const struct pf_worker *w, int64_t now);
/* Is a connection waiting in the listen queue lfd right now? */
int conn_silent_listen_pending(int lfd);
/*
 * Should c, silent since c->silent_since, give its worker up now? Others
 * are queued, no worker of the service is idle, and it has been silent for
 * CONN_SILENT_GRACE_NS, or (when it has not sent a byte: !spoke) the listen
 * queue is half full. A worker told to stop never gives a connection up.
 */
int conn_silent_should_yield(struct pf_conn *c, int64_t now, int spoke);
/* Read the time c spent silent in the listen queue into c->silent_since, once. */
void conn_silent_age(struct pf_conn *c);
/*
 * Wait for `events` on a silent c up to `timeout` seconds (<= 0: forever),
 * as conn_wait_fd does, but give the connection up (-1, EAGAIN,
 * c->yielded) when conn_silent_should_yield says so: a flood of clients
 * that never speak (or never finish a TLS handshake) costs a worker
 * CONN_SILENT_GRACE_NS each at most.
 */
int conn_silent_wait(struct pf_conn *c, short events, double timeout, int spoke);

/* ---- tls/tls_conn.c: TLS on one connection (the worker) ---- */

/*
 * Handshake on c->fd with svc's context, all of it within `timeout`
 * seconds. 0 when done (c->ssl set), -1 otherwise (counted as a failure).
 */
int tls_conn_accept(struct pf_conn *c, const struct tls_conf *t, double timeout);
/* The worker's hook: tls_conn_accept with the service's read_timeout, counted in the scoreboard. */
int tls_conn_start(struct pf_conn *c, struct pf_worker *w);
/* Close notify (one try, never waits) and free the session. */
void tls_conn_close(struct pf_conn *c);
ssize_t tls_conn_read(struct pf_conn *c, void *buf, size_t len, double timeout);
/*
 * The idle wait's read on a blocking socket (conn.c's idle_recv): SSL_read
 * with one blocking recv() under SO_RCVTIMEO. > 0 bytes, 0 at the end, -1
 * with EAGAIN (the slice ended, nothing came) or EINTR, or another error.
 * A record begun in the slice is finished within read_timeout.
 */
ssize_t tls_conn_read_idle(struct pf_conn *c, void *buf, size_t len);
ssize_t tls_conn_writev(struct pf_conn *c, const struct iovec *iov, int iovcnt);
ssize_t tls_conn_sendfile(struct pf_conn *c, int fd, off_t offset, size_t len);
int tls_conn_pending(const struct pf_conn *c);	/* decrypted bytes ready */
/* ---- tls/tls_bio.c: the socket BIO of tls_conn.c ---- */
/* Put c's socket under ssl with MSG_DONTWAIT reads and writes (but c->tls_idle): 0 or -1. */
int tls_bio_attach(struct ssl_st *ssl, struct pf_conn *c);

/* ---- proxy.c: PROXY protocol v1 and v2 ---- */

struct proxy_result {
	int local;		/* keep the real peer (LOCAL, UNKNOWN, AF_UNSPEC) */
	struct sockaddr_storage src;
	socklen_t src_len;
};
/* The header's length (> 0), 0 when more bytes are needed, -1 when invalid. */
int proxy_parse(const unsigned char *buf, size_t len, struct proxy_result *out);
/* Consume exactly the header from fd within timeout seconds; 0 or -1. */
int proxy_read_header(int fd, double timeout, struct proxy_result *out);

/* ---- worker/tick.c: the handler's tick while the worker is idle ---- */
void tick_start(struct pf_worker *w);		/* schedule the first tick (after init) */
int64_t tick_left_ns(const struct pf_worker *w);	/* until the next tick; INT64_MAX: none */
int tick_run_due(struct pf_worker *w);		/* run the tick when due: 1 if it ran */
void tick_arm(const struct pf_worker *w);	/* SIGALRM when the next tick is due */
void tick_disarm(const struct pf_worker *w);

/* ---- worker.c ---- */

/* Runs in the child after fork; never returns. */
#define WORKER_EXIT_INIT 3	/* exit status: the handler's init failed */
PF_NORETURN void worker_run(struct pf_worker *w, int listen_fd, int ready_fd, pid_t master_pid,
			    const sigset_t *mask);

/* ---- status.c: the scoreboard as text or JSON ---- */

int status_render(struct buf *out, int json);

#endif /* PREFORK_INTERNAL_H */
