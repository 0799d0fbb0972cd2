/*
 * signals.c - every sigaction of the product. Handlers only record: they
 * save errno, set a volatile sig_atomic_t flag (or add to an atomic
 * counter: SIGTTIN, SIGTTOU), write a byte to the master's non-blocking
 * close-on-exec self-pipe, and restore errno. The one
 * exception is the worker's stop handler, which also closes the worker's
 * copy of the listening socket (close(2) is async-signal-safe) so that an
 * accept() entered just after the signal returns at once instead of
 * sleeping.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t signals_child, signals_stop_graceful, signals_stop_fast, signals_reload,
	signals_reopen, signals_upgrade;

/*
 * SIGTTIN and SIGTTOU count: each delivery is one step. The handler adds
 * and the loop takes the whole count with one atomic exchange, so that a
 * delivery landing while the loop takes the count is never lost (a
 * decrement of a sig_atomic_t would be a read-modify-write). Lock-free
 * atomics are async-signal-safe.
 */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "signal counters need lock-free atomics");
static atomic_uint ttin_count, ttou_count;
volatile sig_atomic_t signals_worker_stop, signals_worker_reopen;

static int self_pipe[2] = { -1, -1 };
static volatile sig_atomic_t worker_listen_fd = -1;
/*
 * Readable once the worker is told to stop (pf_worker_stop_fd); never
 * drained. Made on first use, not as the worker starts: most waits of a
 * worker that serves whole requests never need it, and a starting worker
 * saves the system call and two descriptors.
 */
static volatile int worker_stop_pipe[2] PF_FORK_WRITTEN = { -1, -1 };
static int worker_stop_wanted PF_FORK_WRITTEN;	/* signals_worker_init ran here */

static void master_handler(int sig)
{
	int saved = errno;
	switch (sig) {
	case SIGCHLD: signals_child = 1; break;
	case SIGTERM:
	case SIGQUIT: signals_stop_graceful = 1; break;
	case SIGINT: signals_stop_fast = 1; break;
	case SIGHUP: signals_reload = 1; break;
	case SIGUSR1: signals_reopen = 1; break;
	case SIGUSR2: signals_upgrade = 1; break;
	case SIGTTIN: atomic_fetch_add(&ttin_count, 1); break;
	case SIGTTOU: atomic_fetch_add(&ttou_count, 1); break;
	}
	if (self_pipe[1] >= 0) {
		char c = (char)sig;
		ssize_t w = write(self_pipe[1], &c, 1);
		(void)w;
	}
	errno = saved;
}

/*
 * Every signal, filled once: the master fills it before its first fork
 * (signals_block_all), so a new worker copies it instead of calling
 * sigfillset, one library page less to fault in at every worker start.
 */
static const sigset_t *all_signals(void)
{
	static sigset_t all;
	static int filled;
	if (!filled) {
		sigfillset(&all);
		filled = 1;
	}
	return &all;
}

static int set(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sa.sa_mask = *all_signals();
	return sigaction(sig, &sa, NULL);
}

int signals_master_init(void)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGQUIT, SIGINT, SIGHUP,
				    SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU };
	if (self_pipe[0] < 0 && pipe2(self_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		set(sigs[i], master_handler, SA_RESTART);
	set(SIGPIPE, SIG_IGN, 0);
	return self_pipe[0];
}

void signals_drain(void)
{
	char buf[256];
	while (read(self_pipe[0], buf, sizeof(buf)) > 0)
		;
}

void signals_close_pipe(void)
{
	if (self_pipe[0] >= 0)
		close(self_pipe[0]);
	if (self_pipe[1] >= 0)
		close(self_pipe[1]);
	self_pipe[0] = self_pipe[1] = -1;
}

static void worker_stop_handler(int sig)
{
	int saved = errno;
	(void)sig;
	signals_worker_stop = 1;
	if (worker_stop_pipe[1] >= 0) {
		char c = 1;
		ssize_t w = write(worker_stop_pipe[1], &c, 1);
		(void)w;
	}
	int fd = worker_listen_fd;
	if (fd >= 0) {
		worker_listen_fd = -1;
		close(fd);
	}
	errno = saved;
}

static void worker_flag_handler(int sig)
{
	(void)sig;
	signals_worker_reopen = 1;
}

/* The handler's tick is due (tick.c): only interrupt accept(); the loop looks at the clock. */
static void worker_alarm_handler(int sig)
{
	(void)sig;
}

/* SIGTTIN (or SIGTTOU) deliveries since the last call. */
unsigned signals_take(int sig)
{
	return atomic_exchange(sig == SIGTTIN ? &ttin_count : &ttou_count, 0);
}

int signals_worker_listen_fd(void)
{
	return worker_listen_fd;
}

void signals_worker_set_listen_fd(int fd)
{
	worker_listen_fd = fd;
}

int signals_worker_stop_fd(void)
{
	if (worker_stop_pipe[0] < 0 && worker_stop_wanted) {
		int p[2];
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
			return -1;
		worker_stop_pipe[0] = p[0];
		worker_stop_pipe[1] = p[1];
		/*
		 * A stop whose handler ran before the write end was set found
		 * no pipe: its flag is set, so say it here (a second byte, if
		 * the handler ran in between, is harmless).
		 */
		if (signals_worker_stop) {
			char c = 1;
			ssize_t w = write(p[1], &c, 1);
			(void)w;
		}
	}
	return worker_stop_pipe[0];
}

void signals_worker_init(int listen_fd)
{
	signals_close_pipe();
	for (int i = 0; i < 2; i++) {
		if (worker_stop_pipe[i] >= 0)
			close(worker_stop_pipe[i]);
		worker_stop_pipe[i] = -1;
	}
	worker_stop_wanted = 1;	/* the pipe: signals_worker_stop_fd, on first use */
	worker_listen_fd = listen_fd;
	/* No SA_RESTART: a blocked accept() or poll() returns EINTR. */
	set(SIGTERM, worker_stop_handler, 0);
	set(SIGQUIT, worker_stop_handler, 0);
	set(SIGUSR1, worker_flag_handler, 0);
	set(SIGALRM, worker_alarm_handler, 0);
	set(SIGINT, SIG_DFL, 0);
	set(SIGCHLD, SIG_DFL, 0);
	set(SIGHUP, SIG_IGN, 0);
	set(SIGUSR2, SIG_IGN, 0);
	set(SIGTTIN, SIG_IGN, 0);
	set(SIGTTOU, SIG_IGN, 0);
	/* SIGPIPE: ignored since signals_master_init, and a fork keeps that. */
}

void signals_block_all(sigset_t *old)
{
	sigprocmask(SIG_BLOCK, all_signals(), old);
}

void signals_restore(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
}
