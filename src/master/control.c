/*
 * control.c - the master's control socket: a Unix stream socket with
 * owner-only permissions. One command per connection, one line, answered
 * and then closed: `status`, `status json`, `reload` (answered when the
 * reload ends), `drain`, `undrain`, `workers NAME +N|-N`. The master serves it from its own
 * loop, so it answers while every worker is busy. This file owns the
 * sockets and the line protocol: control_handle returns parsed commands,
 * and the master acts and answers through control_reply (or, for a
 * reload, control_wait_reload and then control_reload_done).
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
	snprintf(m->control_path, sizeof(m->control_path), "%s", path);	/* it fit in sun_path */
	log_debug("control socket on %s", path);
	return 0;
}

/* The socket handed over in an upgrade: adopt it as it is. */
void control_adopt(struct master *m, int fd, const char *path)
{
	fds_add(fd);
	util_set_nonblock(fd, 1);
	m->control_fd = fd;
	snprintf(m->control_path, sizeof(m->control_path), "%s", path ? path : "");
}

void control_close(struct master *m, int unlink_path)
{
	if (m->control_fd >= 0) {
		fds_forget(m->control_fd);
		close(m->control_fd);
	}
	m->control_fd = -1;
	if (unlink_path && m->control_path[0] && !m->handed_over)
		unlink(m->control_path);
	m->control_path[0] = '\0';
}

int control_pollfds(struct master *m, struct pollfd *fds, int max)
{
	int n = 0;
	/* While backing off, a readable listener must not wake the loop (it would spin). */
	if (m->control_fd >= 0 && n < max && util_now_ns() >= m->control_backoff_ns)
		fds[n++] = (struct pollfd){ .fd = m->control_fd, .events = POLLIN };
	for (int i = 0; i < MAX_CONTROL_CLIENTS && n < max; i++)
		if (m->clients[i].fd >= 0 && !m->clients[i].waiting_reload && !m->clients[i].pending)
			fds[n++] = (struct pollfd){ .fd = m->clients[i].fd, .events = POLLIN };
	return n;
}

int64_t control_next_deadline(struct master *m)
{
	int64_t next = m->control_fd >= 0 && m->control_backoff_ns > util_now_ns() ?
		       m->control_backoff_ns : 0;
	for (int i = 0; i < MAX_CONTROL_CLIENTS; i++) {
		struct control_client *c = &m->clients[i];
		if (c->fd >= 0 && !c->waiting_reload && !c->pending &&
		    (!next || c->deadline_ns < next))
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
	fds_forget(c->fd);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->waiting_reload = 0;
	c->pending = 0;
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

/*
 * Parse one command line: 1 with *cmd filled (the master answers through
 * control_reply), or 0 when the line was answered here (a usage error).
 */
static int parse_command(struct control_client *c, char *line, struct control_cmd *cmd)
{
	char *end = line + strlen(line);
	while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	while (*line == ' ' || *line == '\t')
		line++;
	log_debug("control: %s", line);

	memset(cmd, 0, sizeof(*cmd));
	if (strcmp(line, "status") == 0) {
		cmd->kind = CONTROL_STATUS;
		return 1;
	}
	if (strcmp(line, "status json") == 0) {
		cmd->kind = CONTROL_STATUS_JSON;
		return 1;
	}
	if (strcmp(line, "reload") == 0) {
		cmd->kind = CONTROL_RELOAD;
		return 1;
	}
	if (strcmp(line, "drain") == 0 || strcmp(line, "undrain") == 0) {
		cmd->kind = line[0] == 'd' ? CONTROL_DRAIN : CONTROL_UNDRAIN;
		return 1;
	}
	if (strncmp(line, "workers ", 8) == 0) {
		char sign;
		int count;
		char extra;
		/* At most 9 digits: a longer count is an error, not an int overflow. */
		if (sscanf(line + 8, "%127s %c%9d %c", cmd->name, &sign, &count, &extra) != 3 ||
		    (sign != '+' && sign != '-') || count < 0) {
			client_reply(c, "error: usage: workers NAME +N|-N\n");
			return 0;
		}
		cmd->kind = CONTROL_RESIZE;
		cmd->delta = sign == '+' ? count : -count;
		return 1;
	}
	client_reply(c, "error: unknown command '%s' (try: status, status json, reload, "
		     "drain, undrain, workers NAME +N|-N)\n", line);
	return 0;
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
		fds_add(fd);
		c->len = 0;
		c->waiting_reload = 0;
		c->deadline_ns = util_now_ns() + CONTROL_LINE_TIMEOUT_NS;
	}
}

/* Read what the client sent; 1 with *cmd when its line is a command for the master. */
static int read_client(struct control_client *c, struct control_cmd *cmd)
{
	for (;;) {
		if (c->len == sizeof(c->line) - 1) {
			client_reply(c, "error: line too long\n");
			return 0;
		}
		ssize_t n = read(c->fd, c->line + c->len, sizeof(c->line) - 1 - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 0;	/* EAGAIN: more later */
		c->line[c->len + (size_t)n] = '\0';
		char *nl = strchr(c->line + c->len, '\n');
		c->len += (size_t)n;
		if (nl || n == 0) {
			if (nl)
				*nl = '\0';
			if (n == 0 && c->len == 0) {
				fds_forget(c->fd);
				close(c->fd);
				c->fd = -1;
				return 0;
			}
			if (!parse_command(c, c->line, cmd))
				return 0;
			c->pending = 1;	/* the master's turn to answer */
			return 1;
		}
	}
}

int control_handle(struct master *m, const struct pollfd *fds, int n, struct control_cmd *cmds,
		   int max)
{
	int64_t now = util_now_ns();
	int ncmds = 0;
	for (int k = 0; k < n; k++) {
		if (!fds[k].revents)
			continue;
		if (fds[k].fd == m->control_fd) {
			accept_clients(m);
			continue;
		}
		for (int i = 0; i < MAX_CONTROL_CLIENTS && ncmds < max; i++) {
			struct control_client *c = &m->clients[i];
			if (c->fd == fds[k].fd && !c->waiting_reload && !c->pending &&
			    read_client(c, &cmds[ncmds]))
				cmds[ncmds++].client = i;
		}
	}
	for (int i = 0; i < MAX_CONTROL_CLIENTS; i++) {
		struct control_client *c = &m->clients[i];
		if (c->fd >= 0 && !c->waiting_reload && !c->pending && now >= c->deadline_ns)
			client_reply(c, "error: timed out waiting for a command line\n");
	}
	return ncmds;
}

void control_reply(struct master *m, int client, const char *text, size_t len)
{
	if (client < 0 || client >= MAX_CONTROL_CLIENTS || m->clients[client].fd < 0)
		return;
	client_finish(&m->clients[client], text, len);
}

void control_wait_reload(struct master *m, int client)
{
	if (client >= 0 && client < MAX_CONTROL_CLIENTS && m->clients[client].fd >= 0) {
		m->clients[client].pending = 0;
		m->clients[client].waiting_reload = 1;
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
