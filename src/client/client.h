/*
 * client.h - prefork-client: shared types and the entry points of each file.
 *
 *	main.c      command line, usage, dispatch to one-shot or load mode
 *	target.c    parse HOST:PORT, [V6]:PORT, unix:PATH; resolve; format
 *	trace.c     the -v trace of socket calls; the monotonic clock
 *	oneshot.c   one connection: send, half-close, print what comes back
 *	httpresp.c  incremental HTTP/1.x response parser (no allocation)
 *	hist.c      fixed-size log-linear latency histogram
 *	load.c      load mode: threads, one epoll loop each, the summary
 *	loadconn.c  load mode: the state machine of one connection
 *	tlsclient.c --tls: the client context, handshake, read and write
 */
#ifndef PREFORK_CLIENT_H
#define PREFORK_CLIENT_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define CLIENT_NAME "prefork-client"

/* Exit statuses. */
#define CLIENT_EXIT_OK      0
#define CLIENT_EXIT_FAIL    1	/* transport or protocol failure, failed requests */
#define CLIENT_EXIT_USAGE   2	/* bad command line */
#define CLIENT_EXIT_HTTPERR 3	/* --fail and an HTTP status >= 400 */

/* Everything the command line says. */
struct client_opts {
	const char *target;	/* HOST:PORT, [V6]:PORT or unix:PATH */
	const char *message;	/* -m, NULL: standard input (one-shot) */
	size_t      message_len;
	const char *http_path;	/* --http PATH, NULL: raw / echo */
	double      timeout_s;	/* -T */
	bool        include;	/* -i */
	bool        verbose;	/* -v */
	bool        fail;	/* --fail */
	/* load mode */
	bool        load;	/* any of -c, -n, -d */
	unsigned    conns;	/* -c */
	uint64_t    total;	/* -n, 0: unbounded (then -d bounds) */
	double      duration_s;	/* -d, 0: none */
	unsigned    threads;	/* -j */
	bool        keepalive;	/* --keepalive */
	bool        json;	/* --json */
	/* --tls */
	bool        tls;
	const char *cacert;	/* --cacert FILE, NULL: the system's store */
	bool        insecure;	/* --insecure: no verification */
	const char *sni;	/* --sni NAME, NULL: the target's host name */
};

/* ---- target.c ---- */

/* One address the target resolved to. */
struct target_addr {
	struct sockaddr_storage ta_sa;
	socklen_t ta_len;
	char      ta_text[272];	/* numeric, for messages: 127.0.0.1:80, [::1]:80, unix:/p */
};

/* A parsed HOST:PORT, [V6]:PORT or unix:PATH. */
struct target {
	bool tg_unix;
	char tg_host[256];	/* host without brackets, or the unix path */
	char tg_port[8];
	char tg_hostport[272];	/* for the Host header: as given, "localhost" for unix */
};

#define TARGET_MAX_ADDRS 16

int    target_parse(const char *text, struct target *t, char *err, size_t errlen);
int    target_resolve(const struct target *t, struct target_addr *out, size_t max,
		      char *err, size_t errlen);
void   target_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* ---- trace.c ---- */

uint64_t trace_now(void);	/* CLOCK_MONOTONIC in nanoseconds */
void     trace_enable(bool on);
bool     trace_enabled(void);
void     trace_print(uint64_t t0, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int      trace_socket(int domain, int type, int protocol);
ssize_t  trace_read(int fd, void *buf, size_t len);
ssize_t  trace_write(int fd, const void *buf, size_t len);
int      trace_shutdown(int fd, int how);
int      trace_close(int fd);

/* ---- oneshot.c ---- */

int oneshot_run(const struct client_opts *o);

/* ---- httpresp.c ---- */

enum httpresp_state {
	HR_HEAD,		/* waiting for a complete status line and headers */
	HR_BODY_LENGTH,		/* Content-Length body, hr_remaining bytes left */
	HR_BODY_EOF,		/* body runs until the server closes */
	HR_CHUNK_SIZE,		/* chunked: hex digits of a chunk size */
	HR_CHUNK_EXT,		/* chunked: extension, up to the end of the line */
	HR_CHUNK_DATA,		/* chunked: hr_remaining bytes of chunk data left */
	HR_CHUNK_DATA_CR,	/* chunked: the CRLF after chunk data */
	HR_CHUNK_DATA_LF,
	HR_TRAILER_START,	/* chunked: start of a trailer line (or the end) */
	HR_TRAILER_LINE,	/* chunked: inside a trailer line */
	HR_DONE,		/* a complete response */
	HR_ERROR		/* hr_error says why */
};

struct httpresp {
	enum httpresp_state hr_state;
	int         hr_status;		/* status code of the last head */
	bool        hr_close;		/* the server closes after this response */
	bool        hr_digits;		/* chunk size line had a digit */
	uint64_t    hr_remaining;
	size_t      hr_scanned;		/* head bytes already searched for the end */
	const char *hr_error;
};

#define HTTPRESP_MAX_HEAD 65536

void    httpresp_init(struct httpresp *r);
ssize_t httpresp_head(struct httpresp *r, const char *buf, size_t len);
size_t  httpresp_body(struct httpresp *r, const char *buf, size_t len,
		      size_t *data_off, size_t *data_len);
bool    httpresp_eof(struct httpresp *r);

/* ---- hist.c ---- */

/*
 * Values below 2^(HIST_SUB_BITS+1) are exact; above, each power of two is
 * cut into 2^HIST_SUB_BITS linear buckets, so a bucket spans at most 1/128
 * of its values (reported at its midpoint: within 0.4%). Values up to 2^40
 * (about 18 minutes in nanoseconds) are kept; larger ones are clamped.
 */
#define HIST_SUB_BITS   7
#define HIST_SUB_COUNT  (1u << HIST_SUB_BITS)
#define HIST_MAX_BITS   40
#define HIST_BUCKETS    (HIST_SUB_COUNT * (HIST_MAX_BITS - HIST_SUB_BITS + 1))

struct hist {
	uint64_t h_count;
	uint64_t h_min;
	uint64_t h_max;
	double   h_sum;
	uint64_t h_buckets[HIST_BUCKETS];
};

void     hist_init(struct hist *h);
void     hist_record(struct hist *h, uint64_t value);
void     hist_merge(struct hist *into, const struct hist *from);
uint64_t hist_percentile(const struct hist *h, double pct);
double   hist_mean(const struct hist *h);
size_t   hist_bucket_of(uint64_t value);
uint64_t hist_bucket_low(size_t index);
uint64_t hist_bucket_high(size_t index);

/* ---- tlsclient.c: an SSL * is passed as void * ---- */

int         tlsc_setup(const struct client_opts *o, const struct target *t,
		       char *err, size_t errlen);
void        tlsc_cleanup(void);
void       *tlsc_new(int fd);		/* NULL on failure */
/* 1 done, 0 again (*want_write: wait to write, else to read), -1 failed (tlsc_error). */
int         tlsc_handshake(void *ssl, bool *want_write);
/* As read(2)/write(2) on a non-blocking socket: EAGAIN when it would block. */
ssize_t     tlsc_read(void *ssl, void *buf, size_t len);
ssize_t     tlsc_write(void *ssl, const void *buf, size_t len);
bool        tlsc_pending(void *ssl);	/* decrypted bytes wait in the session */
void        tlsc_shutdown(void *ssl);	/* send close_notify */
void        tlsc_free(void *ssl);
const char *tlsc_describe(void *ssl, char *buf, size_t len);
const char *tlsc_error(void);

/* ---- load.c / loadconn.c ---- */

/* Error kinds of load mode, in report order. */
enum load_err {
	LOAD_ERR_REFUSED,
	LOAD_ERR_RESET,
	LOAD_ERR_TIMEOUT,
	LOAD_ERR_SHORT_READ,
	LOAD_ERR_BAD_STATUS,
	LOAD_ERR_OTHER,
	LOAD_ERR_KINDS
};

/* What every load thread shares: read-only once the run starts, but for
 * the request tickets and the stop flag. */
struct load_shared {
	struct target_addr ls_addr;
	const char *ls_request;		/* the bytes of one request */
	size_t      ls_request_len;
	bool        ls_http;
	bool        ls_keepalive;
	bool        ls_tls;
	uint64_t    ls_total;		/* -n, 0 = no count limit */
	uint64_t    ls_start_ns;
	uint64_t    ls_end_ns;		/* -d, UINT64_MAX = none */
	uint64_t    ls_timeout_ns;	/* per request */
	_Atomic uint64_t ls_issued;	/* tickets handed out (with -n) */
	_Atomic int ls_stop;		/* set on SIGINT */
	int         ls_wake_fd;		/* each thread writes a byte here when done */
};

/* Bytes of the read buffer of each load connection: an HTTP head must fit. */
#define LOAD_BUF_SIZE 16384

struct load_conn;

/* One thread of load mode: its connections, its epoll set, its results. */
struct load_worker {
	struct load_shared *lw_shared;
	pthread_t lw_thread;
	int       lw_epfd;
	struct load_conn *lw_conns;
	char     *lw_bufs;		/* one read buffer per connection */
	unsigned  lw_nconns;
	unsigned  lw_active;		/* connections still running requests */
	struct load_conn *lw_pending;	/* to (re)start outside an event */
	uint64_t  lw_ok;
	uint64_t  lw_errors[LOAD_ERR_KINDS];
	uint64_t  lw_connects;
	uint64_t  lw_stop_ns;		/* when the loop ended */
	_Atomic uint64_t lw_done_pub;	/* completed requests, for progress */
	_Atomic uint64_t lw_err_pub;	/* failed requests, for progress */
	struct hist lw_hist;		/* latency of successful requests, ns */
	struct hist lw_hs_hist;		/* --tls: handshake times, ns */
	int       lw_fatal;		/* errno of a setup failure, 0 if none */
};

int  load_run(const struct client_opts *o);
int  loadconn_setup(struct load_worker *w);
void loadconn_run_loop(struct load_worker *w);
void loadconn_teardown(struct load_worker *w);
const char *load_err_name(enum load_err kind);
/* Which error counter an errno goes to: refused, reset, timeout or other. */
static inline enum load_err load_err_of_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return LOAD_ERR_REFUSED;
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
		return LOAD_ERR_RESET;
	case ETIMEDOUT:
		return LOAD_ERR_TIMEOUT;
	default:
		return LOAD_ERR_OTHER;
	}
}

#endif
