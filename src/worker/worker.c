/*
 * worker.c - a worker's life after fork: reset signals, run the handler's
 * init, tell the master it is ready, then block in accept() on its
 * service's socket, hand each connection to the handler, close it, and
 * loop until told to stop, the master dies, or max_requests is reached.
 * Entry point: worker_run.
 */
#include "internal.h"

#include "http/http_shared.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* _exit() skips atexit handlers: a coverage build writes its counters first. */
static PF_NORETURN void exit_now(int status)
{
	util_coverage_flush();
	_exit(status);
}

/*
 * Root only: chroot, then drop to user/group (the user's primary group
 * when group is unset, plus its supplementary groups) for good. Groups are
 * looked up before chroot: the jail usually has no /etc. Returns 1 when
 * the credentials changed, 0 when they did not, -1 on failure.
 */
static int drop_privileges(const struct pf_config *c)
{
	if (geteuid() != 0 || (!c->user && !c->chroot))
		return 0;
	uid_t uid = 0;
	gid_t gid = 0;
	gid_t groups_buf[64], *groups = groups_buf;
	int ngroups = (int)ARRAY_LEN(groups_buf);
	if (c->user) {
		struct passwd *pw = getpwnam(c->user);
		if (!pw) {
			log_error("unknown user '%s'", c->user);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (c->group) {
			struct group *gr = getgrnam(c->group);
			if (!gr) {
				log_error("unknown group '%s'", c->group);
				return -1;
			}
			gid = gr->gr_gid;
		}
		if (getgrouplist(c->user, gid, groups, &ngroups) < 0) {
			groups = util_xcalloc((size_t)ngroups, sizeof(*groups));
			if (getgrouplist(c->user, gid, groups, &ngroups) < 0) {
				log_error("cannot list the groups of user '%s'", c->user);
				return -1;
			}
		}
	}
	if (c->chroot && (chroot(c->chroot) < 0 || chdir("/") < 0)) {
		log_warn("chroot %s", c->chroot);
		return -1;
	}
	if (!c->user)
		return 0;
	if (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		log_warn("cannot drop privileges to user %s", c->user);
		return -1;
	}
	if (groups != groups_buf)
		free(groups);
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0 || (gid != 0 && setegid(0) == 0))) {
		log_error("privileges could be regained after dropping them to %s", c->user);
		return -1;
	}
	return 1;
}

/* max_requests plus 0-10% jitter, so workers do not all recycle at once. */
static uint64_t recycle_limit(long max_requests)
{
	if (max_requests <= 0)
		return 0;
	unsigned seed = (unsigned)getpid() ^ (unsigned)util_now_ns();
	uint64_t jitter = (uint64_t)max_requests * (uint64_t)(rand_r(&seed) % 1001) / 10000;
	return (uint64_t)max_requests + jitter;
}

/* Ask the master to look at the scoreboard now (see spawn_read_ready). */
static void wake_master(struct pf_worker *w, int ready_fd)
{
	/*
	 * A full pipe is harmless (the master also looks once a second); a
	 * closed one means the master is gone and this worker on its way out.
	 */
	int32_t msg = -1 - w->slot_index;
	if (write(ready_fd, &msg, sizeof(msg)) < 0 && errno != EAGAIN && errno != EPIPE)
		log_warn("wake the master");
}

/*
 * Dynamic pool: a worker that has just taken one of the last spares wakes
 * the master (at most every 100 ms), so that growth starts at once instead
 * of at the master's next tick. Nothing to do once the pool is at
 * max_workers, draining workers of the same service included.
 */
static void check_spares(struct pf_worker *w, int ready_fd)
{
	static int64_t last_wake;
	const struct svc_conf *svc = w->svc;
	if (!svc->dynamic)
		return;
	/* Spares: idle workers and those about to be; live: every worker, leaving ones too. */
	struct sb_count c;
	scoreboard_count(w->sb_service, SB_ANY_GENERATION, NULL, NULL, &c);
	if (c.idle + c.starting >= svc->min_spare || c.workers >= svc->max_workers)
		return;
	int64_t now = util_now_ns();
	if (now - last_wake < 100000000LL)
		return;
	last_wake = now;
	wake_master(w, ready_fd);
}

static void reopen_logs(struct pf_worker *w)
{
	signals_worker_reopen = 0;
	if (log_reopen() < 0)
		log_warn("reopen error log");
	http_app_reopen(w);
	if (w->handler->reopen)
		w->handler->reopen(w, w->state);
}

void worker_run(struct pf_worker *w, int lfd, int ready_fd, pid_t master_pid,
		const sigset_t *mask)
{
	const struct svc_conf *svc = w->svc;
	struct sb_slot *slot = w->slot;

	signals_worker_init(lfd);
	log_set_role("worker", svc->name);
	/* When the master dies, even by SIGKILL, stop like on SIGTERM. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master_pid)
		signals_worker_stop = 1;
	slot->pid = getpid();
	slot->started_ns = w->started_ns;
	signals_restore(mask);

	struct pf_settings st;
	if (w->handler->handle_http) {
		settings_init(&st, svc->http_block, w->conf->file, w->conf->dir, svc->line, NULL);
		if (http_app_init(w, &st) < 0) {
			log_error("handler %s: the HTTP engine cannot start", w->handler->name);
			exit_now(WORKER_EXIT_INIT);
		}
	}
	settings_init(&st, svc->block, w->conf->file, w->conf->dir, svc->line, NULL);
	st.table = w->handler->settings;	/* for pf_settings_get_* (checked in the master) */
	if (w->handler->init && w->handler->init(w, &st, &w->state) != 0) {
		log_error("handler %s: init failed", w->handler->name);
		exit_now(WORKER_EXIT_INIT);
	}
	/* The master set it at start-up; setting it here too lets a reload change it. */
	if (util_set_nofile(w->conf->rlimit_nofile) < 0)
		log_warn("rlimit_nofile %ld", w->conf->rlimit_nofile);
	int dropped = drop_privileges(w->conf);
	if (dropped < 0)
		exit_now(WORKER_EXIT_INIT);
	/* A change of credentials clears the parent-death signal: set it again. */
	if (dropped) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != master_pid)
			signals_worker_stop = 1;
	}

	util_coverage_flush();
	slot->state = SB_IDLE;
	/* The pipe stays open: it also wakes the master (max_requests, spares short). */
	int32_t msg = w->slot_index;
	if (write(ready_fd, &msg, sizeof(msg)) != sizeof(msg))
		log_warn("tell the master this worker is ready");

	uint64_t limit = recycle_limit(svc->max_requests);
	int accept_errors = 0;
	/* kTLS needs OpenSSL's socket BIO, which blocks as its socket does. */
	int nonblock = svc->proxy_protocol || (svc->tls && svc->tls->ktls) ? SOCK_NONBLOCK : 0;
	tick_start(w);
	while (!signals_worker_stop) {
		if (signals_worker_reopen)
			reopen_logs(w);
		tick_run_due(w);
		/*
		 * max_requests reached: ask the master, which staggers recycling so
		 * a service loses at most one worker at a time, and serve on until
		 * it says so.
		 */
		if (limit && slot->served >= limit && !slot->recycle) {
			log_debug("asking to be recycled after %llu connections",
				  (unsigned long long)slot->served);
			slot->recycle = SB_RECYCLE_REQUESTS;
			wake_master(w, ready_fd);
		}
		/* max_rss: likewise, once resident memory has passed it. */
		if (svc->max_rss > 0 && !slot->recycle && slot->served &&
		    util_rss_bytes(0) > svc->max_rss) {
			log_info("resident memory over max_rss (%lld bytes): asking to be recycled",
				 svc->max_rss);
			slot->recycle = SB_RECYCLE_MEMORY;
			wake_master(w, ready_fd);
		}
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		/*
		 * Blocking mode: conn.c (and TLS's BIO, tls_bio.c) pass
		 * MSG_DONTWAIT everywhere but the wait between kept-alive
		 * requests. The PROXY reader and kTLS want a non-blocking socket.
		 */
		tick_arm(w);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | nonblock);
		tick_disarm(w);	/* no SIGALRM in the middle of a request */
		if (fd < 0) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EBADF:
			case EINVAL:
				/* The stop handler closed our listening socket. */
				if (signals_worker_stop)
					goto out;
				log_warn("accept");
				goto out;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				/* Out of descriptors or memory: say so once per burst, back off. */
				if (accept_errors++ == 0)
					log_warn("accept (backing off until it recovers)");
				poll(NULL, 0, 100);
				continue;
			default:
				log_warn("accept");
				poll(NULL, 0, 10);
				continue;
			}
		}
		if (accept_errors) {
			log_info("accept recovered after %d failures", accept_errors);
			accept_errors = 0;
		}
		if (svc->proxy_protocol) {
			/* A trusted balancer speaks first; anything else is dropped unanswered. */
			struct proxy_result pr;
			double t = svc->read_timeout < 5.0 ? svc->read_timeout : 5.0;
			slot->peer[0] = '\0';	/* not known until the header is read */
			slot->state = SB_BUSY;
			slot->conn_start_ns = util_now_ns();
			if (proxy_read_header(fd, t, &pr) < 0) {
				log_debug("closing a connection without a valid PROXY header");
				close(fd);
				slot->conn_start_ns = 0;
				slot->state = SB_IDLE;
				continue;
			}
			if (!pr.local) {
				memcpy(&ss, &pr.src, sizeof(ss));
				sl = pr.src_len;
			}
		}
		struct pf_conn conn;
		conn_init(&conn, fd, w, (struct sockaddr *)&ss, sl);
		conn.blocking = !nonblock;
		memcpy(slot->peer, conn.peer, sizeof(slot->peer) - 1);
		slot->conn_start_ns = util_now_ns();
		/* A worker told to stop still finishes this one, shown as exiting. */
		slot->state = signals_worker_stop ? SB_EXITING : SB_BUSY;
		check_spares(w, ready_fd);
		if (log_get_level() >= PF_LOG_DEBUG)
			log_debug("accept() = %d from %s", fd, conn.peer);
		/*
		 * Silent-connection floods: one that waited silent in the
		 * queue while others queue behind it and no worker is free is
		 * dropped at once; one that is silent now is given up later,
		 * in its first read, on the same terms (conn.c).
		 */
		if (!svc->proxy_protocol && conn_watch_silence(&conn, svc->defer_accept)) {
			log_debug("closing %s: silent, with clients queued and no worker free",
				  conn.peer);
			close(fd);
			slot->conn_start_ns = 0;
			slot->state = signals_worker_stop ? SB_EXITING : SB_IDLE;
			continue;
		}
		if (svc->tls && tls_conn_start(&conn, w) < 0) {
			close(fd);	/* counted as a failed handshake */
			slot->conn_start_ns = 0;
			slot->state = signals_worker_stop ? SB_EXITING : SB_IDLE;
			continue;
		}
		if (svc->tls)
			conn.silent_since = 0;	/* it spoke: the handshake */
		uint64_t requests_before = slot->requests;
		int64_t conn_start = slot->conn_start_ns;
		errno = 0;
		if (w->http_app)
			http_app_serve(w, &conn);
		else if (w->handler->handle(&conn, w->state) != 0 && !conn.yielded)
			conn_handler_failed(&conn, NULL);	/* a yielded one is no failure */
		/* A handler that does not count requests served one per connection. */
		if (slot->requests == requests_before && !conn.yielded)
			conn_request_done(&conn, conn_start);
		util_coverage_flush();
		tls_conn_close(&conn);
		close(fd);
		if (log_get_level() >= PF_LOG_DEBUG)
			log_debug("close(%d) peer %s", fd, conn.peer);
		slot->served++;
		slot->conn_start_ns = 0;
		slot->state = signals_worker_stop ? SB_EXITING : SB_IDLE;
	}
out:
	slot->state = SB_EXITING;
	if (w->handler->fini)
		w->handler->fini(w, w->state);
	http_app_fini(w);
	exit_now(0);
}
