/*
 * load.c - load mode: set up the run, start one thread per -j, each with
 * its share of the connections (loadconn.c), show progress on a terminal,
 * merge the threads' results and print the summary (text or --json).
 *
 * Entry point: load_run(). The main thread only waits: each load thread
 * writes a byte to a pipe when it is done, and SIGINT/SIGTERM (whose
 * handler only records) write one too, ending the run early with a
 * summary of what completed.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "client/client.h"

#define NS_PER_S 1000000000.0

static struct load_shared *signal_shared;
static int signal_wake_fd = -1;

/* SIGINT, SIGTERM: stop the run. Only records. */
static void on_stop_signal(int sig)
{
	int saved = errno;
	ssize_t rc;

	(void)sig;
	if (signal_shared != NULL)
		atomic_store(&signal_shared->ls_stop, 1);
	rc = write(signal_wake_fd, "S", 1);
	(void)rc;
	errno = saved;
}

static void *thread_main(void *arg)
{
	struct load_worker *w = arg;
	ssize_t rc;

	loadconn_run_loop(w);
	rc = write(w->lw_shared->ls_wake_fd, "D", 1);
	(void)rc;
	return NULL;
}

/* With several addresses (a name), use the first that accepts a connection. */
static size_t choose_address(const struct target_addr *addrs, size_t n, double timeout_s)
{
	size_t i;

	for (i = 0; n > 1 && i < n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[i].ta_sa;
		int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int err = 0, rc;
		socklen_t elen = sizeof(err);

		if (fd < 0)
			continue;
		rc = connect(fd, sa, addrs[i].ta_len);
		if (rc < 0 && errno == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			if (poll(&p, 1, timeout_s > 1e6 ? 1000000000 : (int)(timeout_s * 1000)) != 1 ||
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
				err = ETIMEDOUT;
		} else if (rc < 0) {
			err = errno;
		}
		close(fd);
		if (err == 0)
			return i;
	}
	return 0;
}

/* Make room for NEED descriptors; -1 with a message when impossible. */
static int raise_fd_limit(rlim_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr, "%s: %llu connections need %llu file descriptors; "
			"the limit is %llu (ulimit -n)\n", CLIENT_NAME,
			(unsigned long long)need - 64, (unsigned long long)need,
			(unsigned long long)rl.rlim_max);
		return -1;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		fprintf(stderr, "%s: setrlimit RLIMIT_NOFILE %llu: %s\n", CLIENT_NAME,
			(unsigned long long)need, strerror(errno));
		return -1;
	}
	return 0;
}

/* The bytes of one request: the echo message, or the GET. */
static char *build_request(const struct client_opts *o, const struct target *t, size_t *len)
{
	const char *fmt = "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n";
	const char *conn = o->keepalive ? "" : "Connection: close\r\n";
	char *req;
	int n;

	if (o->http_path == NULL) {
		req = malloc(o->message_len);
		if (req != NULL)
			memcpy(req, o->message, o->message_len);
		*len = o->message_len;
		return req;
	}
	n = snprintf(NULL, 0, fmt, o->http_path, t->tg_hostport, conn);
	req = malloc((size_t)n + 1);
	if (req != NULL)
		snprintf(req, (size_t)n + 1, fmt, o->http_path, t->tg_hostport, conn);
	*len = (size_t)n;
	return req;
}

static const char *const err_names[LOAD_ERR_KINDS] = {
	[LOAD_ERR_REFUSED] = "refused",
	[LOAD_ERR_RESET] = "reset",
	[LOAD_ERR_TIMEOUT] = "timeout",
	[LOAD_ERR_SHORT_READ] = "short_read",
	[LOAD_ERR_BAD_STATUS] = "bad_status",
	[LOAD_ERR_OTHER] = "other",
};

const char *load_err_name(enum load_err kind)
{
	return err_names[kind];
}

/* Results of all threads together. */
struct load_totals {
	struct hist lt_hist;
	struct hist lt_hs_hist;		/* --tls: handshakes */
	uint64_t    lt_ok;
	uint64_t    lt_errors;
	uint64_t    lt_by_kind[LOAD_ERR_KINDS];
	uint64_t    lt_connects;
	double      lt_duration_s;
};

static void merge(struct load_totals *t, const struct load_worker *w, unsigned n,
		  uint64_t start_ns)
{
	uint64_t last = start_ns;
	unsigned i;
	int k;

	memset(t, 0, sizeof(*t));
	hist_init(&t->lt_hist);
	hist_init(&t->lt_hs_hist);
	for (i = 0; i < n; i++) {
		hist_merge(&t->lt_hist, &w[i].lw_hist);
		hist_merge(&t->lt_hs_hist, &w[i].lw_hs_hist);
		t->lt_ok += w[i].lw_ok;
		t->lt_connects += w[i].lw_connects;
		for (k = 0; k < LOAD_ERR_KINDS; k++) {
			t->lt_by_kind[k] += w[i].lw_errors[k];
			t->lt_errors += w[i].lw_errors[k];
		}
		if (w[i].lw_stop_ns > last)
			last = w[i].lw_stop_ns;
	}
	t->lt_duration_s = (double)(last - start_ns) / NS_PER_S;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void report_text(const struct client_opts *o, const struct load_totals *t)
{
	const struct hist *h = &t->lt_hist;
	uint64_t requests = t->lt_ok + t->lt_errors;
	int k;

	printf("requests    %llu  in %.3f s, %u connection%s, %u thread%s, %llu connect%s\n",
	       (unsigned long long)requests, t->lt_duration_s,
	       o->conns, o->conns == 1 ? "" : "s", o->threads, o->threads == 1 ? "" : "s",
	       (unsigned long long)t->lt_connects, t->lt_connects == 1 ? "" : "s");
	printf("errors      %llu  (", (unsigned long long)t->lt_errors);
	for (k = 0; k < LOAD_ERR_KINDS; k++)
		printf("%s%s %llu", k ? ", " : "", load_err_name((enum load_err)k),
		       (unsigned long long)t->lt_by_kind[k]);
	printf(")\n");
	printf("requests/s  %.1f\n", t->lt_duration_s > 0 ? (double)requests / t->lt_duration_s : 0.0);
	printf("latency p50 p90 p99 max  %.3f %.3f %.3f %.3f ms\n",
	       ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)),
	       ms(hist_percentile(h, 99)), ms(h->h_max));
	printf("latency p99.9 min mean  %.3f %.3f %.3f ms\n",
	       ms(hist_percentile(h, 99.9)), ms(h->h_count ? h->h_min : 0),
	       hist_mean(h) / 1e6);
	if (o->tls) {
		h = &t->lt_hs_hist;
		printf("handshakes  %llu  (TLS, not in the latency above)\n",
		       (unsigned long long)h->h_count);
		printf("handshake p50 p90 p99 max  %.3f %.3f %.3f %.3f ms\n",
		       ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)),
		       ms(hist_percentile(h, 99)), ms(h->h_max));
	}
}

static void report_json(const struct client_opts *o, const struct load_totals *t)
{
	const struct hist *h = &t->lt_hist;
	uint64_t requests = t->lt_ok + t->lt_errors;
	int k;

	printf("{\"requests\": %llu, \"errors\": %llu, \"errors_by_kind\": {",
	       (unsigned long long)requests, (unsigned long long)t->lt_errors);
	for (k = 0; k < LOAD_ERR_KINDS; k++)
		printf("%s\"%s\": %llu", k ? ", " : "", load_err_name((enum load_err)k),
		       (unsigned long long)t->lt_by_kind[k]);
	printf("}, \"rps\": %.3f, \"latency_ms\": {\"p50\": %.3f, \"p90\": %.3f, "
	       "\"p99\": %.3f, \"p99.9\": %.3f, \"max\": %.3f, \"min\": %.3f, \"mean\": %.3f}, "
	       "\"duration_s\": %.3f, \"connections\": %u, \"threads\": %u, \"connects\": %llu",
	       t->lt_duration_s > 0 ? (double)requests / t->lt_duration_s : 0.0,
	       ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)),
	       ms(hist_percentile(h, 99)), ms(hist_percentile(h, 99.9)), ms(h->h_max),
	       ms(h->h_count ? h->h_min : 0), hist_mean(h) / 1e6,
	       t->lt_duration_s, o->conns, o->threads, (unsigned long long)t->lt_connects);
	if (o->tls) {
		h = &t->lt_hs_hist;
		printf(", \"handshakes\": %llu, \"handshake_ms\": {\"p50\": %.3f, \"p90\": %.3f, "
		       "\"p99\": %.3f, \"max\": %.3f, \"mean\": %.3f}",
		       (unsigned long long)h->h_count, ms(hist_percentile(h, 50)),
		       ms(hist_percentile(h, 90)), ms(hist_percentile(h, 99)), ms(h->h_max),
		       hist_mean(h) / 1e6);
	}
	printf("}\n");
}

/* One progress line on the terminal, rewritten in place. */
static void progress(const struct load_worker *w, unsigned n, uint64_t start_ns,
		     uint64_t *last_done, uint64_t *last_ns)
{
	uint64_t done = 0, errors = 0, now = trace_now();
	unsigned i;

	for (i = 0; i < n; i++) {
		done += atomic_load_explicit(&w[i].lw_done_pub, memory_order_relaxed);
		errors += atomic_load_explicit(&w[i].lw_err_pub, memory_order_relaxed);
	}
	fprintf(stderr, "\r\033[K%6.1f s  requests %llu  errors %llu  requests/s %.0f",
		(double)(now - start_ns) / NS_PER_S, (unsigned long long)done,
		(unsigned long long)errors,
		now > *last_ns ? (double)(done - *last_done) * NS_PER_S / (double)(now - *last_ns) : 0.0);
	*last_done = done;
	*last_ns = now;
}

/* Wait for every thread to report done, drawing progress once a second on a tty. */
static void wait_threads(struct load_shared *sh, int wake_rd, const struct load_worker *w,
			 unsigned n)
{
	bool tty = isatty(STDERR_FILENO);
	uint64_t next_tick = sh->ls_start_ns + 1000000000u, last_done = 0;
	uint64_t last_ns = sh->ls_start_ns;
	unsigned done = 0;

	while (done < n) {
		struct pollfd p = { .fd = wake_rd, .events = POLLIN };
		uint64_t now = trace_now();
		int timeout = -1;
		char buf[64];
		ssize_t got, i;

		if (tty)
			timeout = now >= next_tick ? 0 : (int)((next_tick - now + 999999) / 1000000);
		if (poll(&p, 1, timeout) > 0) {
			got = read(wake_rd, buf, sizeof(buf));
			for (i = 0; i < got; i++)
				if (buf[i] == 'D')
					done++;
		}
		if (tty && trace_now() >= next_tick && done < n) {
			progress(w, n, sh->ls_start_ns, &last_done, &last_ns);
			next_tick += 1000000000u;
		}
	}
	if (tty && last_ns != sh->ls_start_ns)
		fprintf(stderr, "\r\033[K");
}

int load_run(const struct client_opts *o)
{
	struct target_addr addrs[TARGET_MAX_ADDRS];
	struct load_shared sh;
	struct load_worker *workers = NULL;
	struct load_totals *totals = NULL;
	struct target tg;
	struct sigaction sa, old_int, old_term;
	sigset_t block, old_mask;
	char err[512], *request = NULL;
	int wake[2] = { -1, -1 }, n, rc = CLIENT_EXIT_FAIL;
	unsigned i, started = 0;

	memset(&sh, 0, sizeof(sh));
	if (target_parse(o->target, &tg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", CLIENT_NAME, err);
		return CLIENT_EXIT_FAIL;
	}
	n = target_resolve(&tg, addrs, TARGET_MAX_ADDRS, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", CLIENT_NAME, err);
		return CLIENT_EXIT_FAIL;
	}
	sh.ls_addr = addrs[choose_address(addrs, (size_t)n, o->timeout_s)];
	if (raise_fd_limit((rlim_t)o->conns + 2 * o->threads + 64) < 0)
		return CLIENT_EXIT_FAIL;
	if (o->tls && tlsc_setup(o, &tg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", CLIENT_NAME, err);
		return CLIENT_EXIT_FAIL;
	}
	request = build_request(o, &tg, &sh.ls_request_len);
	workers = calloc(o->threads, sizeof(*workers));
	totals = malloc(sizeof(*totals));
	if (request == NULL || workers == NULL || totals == NULL ||
	    pipe2(wake, O_CLOEXEC) < 0) {
		fprintf(stderr, "%s: %s\n", CLIENT_NAME, strerror(errno ? errno : ENOMEM));
		goto out;
	}
	for (i = 0; i < o->threads; i++)
		workers[i].lw_epfd = -1;
	fcntl(wake[1], F_SETFL, O_NONBLOCK);
	sh.ls_request = request;
	sh.ls_http = o->http_path != NULL;
	sh.ls_keepalive = o->keepalive;
	sh.ls_tls = o->tls;
	sh.ls_total = o->total;
	sh.ls_timeout_ns = (uint64_t)(o->timeout_s * NS_PER_S);
	sh.ls_wake_fd = wake[1];

	for (i = 0; i < o->threads; i++) {
		workers[i].lw_shared = &sh;
		workers[i].lw_nconns = o->conns / o->threads + (i < o->conns % o->threads);
		if (loadconn_setup(&workers[i]) < 0) {
			fprintf(stderr, "%s: load set-up: %s\n", CLIENT_NAME, strerror(errno));
			goto out;
		}
	}

	/* Signals go to this thread only; the load threads never see them. */
	signal_shared = &sh;
	signal_wake_fd = wake[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old_mask);

	sh.ls_start_ns = trace_now();
	sh.ls_end_ns = o->duration_s > 0
		? sh.ls_start_ns + (uint64_t)(o->duration_s * NS_PER_S) : UINT64_MAX;
	for (i = 0; i < o->threads; i++) {
		pthread_t tid;
		int e = pthread_create(&tid, NULL, thread_main, &workers[i]);

		if (e != 0) {
			fprintf(stderr, "%s: pthread_create: %s\n", CLIENT_NAME, strerror(e));
			atomic_store(&sh.ls_stop, 1);
			break;
		}
		workers[i].lw_thread = tid;
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	wait_threads(&sh, wake[0], workers, started);
	for (i = 0; i < started; i++)
		pthread_join(workers[i].lw_thread, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	signal_shared = NULL;
	if (started < o->threads)
		goto out;
	for (i = 0; i < o->threads; i++) {
		if (workers[i].lw_fatal != 0) {
			fprintf(stderr, "%s: epoll_wait: %s\n", CLIENT_NAME,
				strerror(workers[i].lw_fatal));
			goto out;
		}
	}

	merge(totals, workers, o->threads, sh.ls_start_ns);
	if (o->json)
		report_json(o, totals);
	else
		report_text(o, totals);
	fflush(stdout);
	if (totals->lt_ok + totals->lt_errors == 0)
		fprintf(stderr, "%s: no request completed\n", CLIENT_NAME);
	else if (totals->lt_errors == 0)
		rc = CLIENT_EXIT_OK;
out:
	if (workers != NULL)
		for (i = 0; i < o->threads; i++)
			loadconn_teardown(&workers[i]);
	if (wake[0] >= 0) {
		close(wake[0]);
		close(wake[1]);
	}
	signal_wake_fd = -1;
	free(totals);
	free(workers);
	free(request);
	if (o->tls)
		tlsc_cleanup();
	return rc;
}
