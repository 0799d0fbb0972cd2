/*
 * control.c - the master's control socket: a Unix stream socket with
 * owner-only permissions. One command per connection, one line, answered
 * and then closed: `status`, `status json`, `reload` (answered when the
 * reload ends), `drain`, `undrain`, `workers NAME +N|-N`. The master serves it from its own
 * loop, so it answers while every worker is busy.
 */
#include "master/master.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define CONTROL_LINE_TIMEOUT_NS 5000000000LL
/* accept() out of descriptors or memory: leave the socket alone this long, as workers do. */
#define CONTROL_ACCEPT_BACKOFF_NS 100000000LL

int control_open(struct master *m, const char *path)
{
	struct listener l;
	char err[512];
	memset(&l, 0, sizeof(l));
	char spec[4200];
	snprintf(spec, sizeof(spec), "unix:%s", path);
	if (addr_parse(spec, NULL, &l.addr, err, sizeof(err)) < 0) {
		log_error("control socket: %s", err);
		return -1;
	}
	/* Owner-only from the start: no window where others could connect. */
	if (listen_open(&l, 16, 0600, err, sizeof(err)) < 0) {
		log_error("control socket: %s", err);
		return -1;
	}
	util_set_nonblock(l.fd, 1);
	m->control_fd = l.fd;
	free(m->control_path);
	m->control_path = util_xstrdup(path);
	log_debug("control socket on %s", path);
	return 0;
}

/* The socket handed over in an upgrade: adopt it as it is. */
void control_adopt(struct master *m, int fd, const char *path)
{
	util_set_nonblock(fd, 1);
	m->control_fd = fd;
	free(m->control_path);
	m->control_path = path ? util_xstrdup(path) : NULL;
}

void control_close(struct master *m, int unlink_path)
{
	if (m->control_fd >= 0)
		close(m->control_fd);
	m->control_fd = -1;
	if (unlink_path && m->control_path && !m->handed_over)
		unlink(m->control_path);
	free(m->control_path);
	m->control_path = NULL;
}

int control_pollfds(struct master *m, struct pollfd *fds, int max)
{
	int n = 0;
	/* While backing off, a readable listener must not wake the loop (it would spin). */
	if (m->control_fd >= 0 && n < max && util_now_ns() >= m->control_backoff_ns)
		fds[n++] = (struct pollfd){ .fd = m->control_fd, .events = POLLIN };
	for (int i = 0; i < MAX_CONTROL_CLIENTS && n < max; i++)
		if (m->clients[i].fd >= 0 && !m->clients[i].waiting_reload)
			fds[n++] = (struct pollfd){ .fd = m->clients[i].fd, .events = POLLIN };
	return n;
}

int64_t control_next_deadline(struct master *m)
{
	int64_t next = m->control_fd >= 0 && m->control_backoff_ns > util_now_ns() ?
		       m->control_backoff_ns : 0;
	for (int i = 0; i < MAX_CONTROL_CLIENTS; i++) {
		struct control_client *c = &m->clients[i];
		if (c->fd >= 0 && !c->waiting_reload && (!next || c->deadline_ns < next))
			next = c->deadline_ns;
	}
	return next;
}

static void client_finish(struct control_client *c, const char *text, size_t len)
{
	/* Answers are small; a bounded blocking write keeps this simple. */
	struct timeval tv = { .tv_sec = 2 };
	util_set_nonblock(c->fd, 0);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(c->fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->waiting_reload = 0;
}

static void client_reply(struct control_client *c, const char *fmt, ...) PF_PRINTF_ATTR(2, 3);
static void client_reply(struct control_client *c, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	client_finish(c, msg, (size_t)n);
}

static void run_command(struct master *m, struct control_client *c, char *line)
{
	char *end = line + strlen(line);
	while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	while (*line == ' ' || *line == '\t')
		line++;
	log_debug("control: %s", line);

	if (strcmp(line, "status") == 0 || strcmp(line, "status json") == 0) {
		struct buf b;
		buf_init(&b);
		status_render(&b, line[6] != '\0');
		client_finish(c, b.data ? b.data : "", b.len);
		buf_free(&b);
		return;
	}
	if (strcmp(line, "reload") == 0) {
		if (m->stopping) {
			client_reply(c, "failed: the server is stopping\n");
			return;
		}
		c->waiting_reload = 1;
		master_request_reload(m);
		return;
	}
	if (strcmp(line, "drain") == 0 || strcmp(line, "undrain") == 0) {
		int on = line[0] == 'd';
		if (!on && (m->stopping || m->drain_stop_ns)) {
			client_reply(c, "error: the server is stopping\n");
			return;
		}
		drain_set(m, on, "control command");
		client_reply(c, "ok %s\n", on ? "draining" : "serving");
		return;
	}
	if (strncmp(line, "workers ", 8) == 0) {
		char name[128];
		char sign;
		int count;
		char extra;
		/* At most 9 digits: a longer count is an error, not an int overflow. */
		if (sscanf(line + 8, "%127s %c%9d %c", name, &sign, &count, &extra) != 3 ||
		    (sign != '+' && sign != '-') || count < 0) {
			client_reply(c, "error: usage: workers NAME +N|-N\n");
			return;
		}
		char msg[256];
		master_resize(m, name, sign == '+' ? count : -count, msg, sizeof(msg));
		client_reply(c, "%s\n", msg);
		return;
	}
	client_reply(c, "error: unknown command '%s' (try: status, status json, reload, "
		     "drain, undrain, workers NAME +N|-N)\n", line);
}

static void accept_clients(struct master *m)
{
	for (;;) {
		int fd = accept4(m->control_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: say so once per burst, back off. */
				if (m->control_accept_errors++ == 0)
					log_warn("control socket: accept (backing off until it recovers)");
				m->control_backoff_ns = util_now_ns() + CONTROL_ACCEPT_BACKOFF_NS;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (m->control_accept_errors)
					log_info("control socket: accepting again after %d failed attempt(s)",
						 m->control_accept_errors);
				m->control_accept_errors = 0;
			}
			return;
		}
		int i;
		for (i = 0; i < MAX_CONTROL_CLIENTS; i++)
			if (m->clients[i].fd < 0)
				break;
		if (i == MAX_CONTROL_CLIENTS) {
			static const char busy[] = "error: too many control connections\n";
			ssize_t w = write(fd, busy, sizeof(busy) - 1);
			(void)w;
			close(fd);
			continue;
		}
		struct control_client *c = &m->clients[i];
		c->fd = fd;
		c->len = 0;
		c->waiting_reload = 0;
		c->deadline_ns = util_now_ns() + CONTROL_LINE_TIMEOUT_NS;
	}
}

static void read_client(struct master *m, struct control_client *c)
{
	for (;;) {
		if (c->len == sizeof(c->line) - 1) {
			client_reply(c, "error: line too long\n");
			return;
		}
		ssize_t n = read(c->fd, c->line + c->len, sizeof(c->line) - 1 - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;		/* EAGAIN: more later */
		c->line[c->len + (size_t)n] = '\0';
		char *nl = strchr(c->line + c->len, '\n');
		c->len += (size_t)n;
		if (nl || n == 0) {
			if (nl)
				*nl = '\0';
			if (n == 0 && c->len == 0) {
				close(c->fd);
				c->fd = -1;
				return;
			}
			run_command(m, c, c->line);
			return;
		}
	}
}

void control_handle(struct master *m, const struct pollfd *fds, int n)
{
	int64_t now = util_now_ns();
	for (int k = 0; k < n; k++) {
		if (!fds[k].revents)
			continue;
		if (fds[k].fd == m->control_fd) {
			accept_clients(m);
			continue;
		}
		for (int i = 0; i < MAX_CONTROL_CLIENTS; i++)
			if (m->clients[i].fd == fds[k].fd && !m->clients[i].waiting_reload)
				read_client(m, &m->clients[i]);
	}
	for (int i = 0; i < MAX_CONTROL_CLIENTS; i++) {
		struct control_client *c = &m->clients[i];
		if (c->fd >= 0 && !c->waiting_reload && now >= c->deadline_ns)
			client_reply(c, "error: timed out waiting for a command line\n");
	}
}

void control_reload_done(struct master *m, const char *result)
{
	for (int i = 0; i < MAX_CONTROL_CLIENTS; i++) {
		struct control_client *c = &m->clients[i];
		if (c->fd >= 0 && c->waiting_reload)
			client_reply(c, "%s\n", result);
	}
}
