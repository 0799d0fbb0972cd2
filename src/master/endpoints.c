/*
 * endpoints.c - the master's own TCP doors, served from its loop like the
 * control socket (so they answer while every worker is busy): the
 * `metrics` address (a minimal HTTP/1.x server for GET /metrics) and each
 * service's `agent_check` address (HAProxy's agent protocol: one line,
 * then close). Sockets whose address is unchanged survive a reload, and a
 * binary upgrade hands them to the new master through the environment.
 * Entry points: endpoints_apply, endpoints_pollfds, endpoints_handle,
 * endpoints_export, endpoints_inherit, endpoints_close.
 */
#include "master/master.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ENV_ENDPOINTS "PREFORK_ENDPOINT_FDS"	/* "FD=ADDR,FD=ADDR" */
#define MAX_ENDPOINTS (1 + CONF_MAX_SERVICES)
#define MAX_CLIENTS 16
#define CLIENT_TIMEOUT_NS 5000000000LL
#define MAX_HEAD 8192

struct endpoint {
	int fd;			/* -1: unused */
	int metrics;		/* else an agent check */
	char svc[64];		/* agent: the service it speaks for */
	struct listener l;
	int claimed, fresh;	/* marks while applying a configuration */
};

struct client {
	int fd;			/* -1: unused */
	char *head;		/* heads[i]: apart, so scanning the clients touches one page */
	size_t len;
	struct buf out;		/* the answer, once rendered */
	size_t off;
	int64_t deadline_ns;
};

/* The master's own (arena.c), allocated by init_once. */
static struct endpoint *eps;
static struct client *clients;
static char (*heads)[MAX_HEAD];
static int initialised;

static void init_once(void)
{
	if (initialised)
		return;
	initialised = 1;
	eps = arena_alloc(MAX_ENDPOINTS * sizeof(*eps));
	clients = arena_alloc(MAX_CLIENTS * sizeof(*clients));
	heads = arena_alloc(MAX_CLIENTS * sizeof(*heads));	/* its pages are touched on use */
	for (int i = 0; i < MAX_ENDPOINTS; i++)
		eps[i].fd = -1;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		clients[i].fd = -1;
		clients[i].head = heads[i];
	}
}

static void ep_close(struct endpoint *e, int unlink_path)
{
	if (e->fd >= 0)
		listen_close(&e->l, unlink_path);
	e->fd = -1;
}

/* The endpoint already bound to a, or a newly bound one (fresh); NULL with err. */
static struct endpoint *ep_get(const struct addr *a, char *err, size_t errlen)
{
	struct endpoint *free_at = NULL;
	for (int i = 0; i < MAX_ENDPOINTS; i++) {
		struct endpoint *e = &eps[i];
		if (e->fd >= 0 && addr_equal(&e->l.addr, a))
			return e;
		if (e->fd < 0 && !free_at)
			free_at = e;
	}
	if (!free_at) {
		snprintf(err, errlen, "too many metrics and agent_check addresses");
		return NULL;
	}
	memset(free_at, 0, sizeof(*free_at));
	free_at->l.addr = *a;
	free_at->fd = -1;
	if (listen_open(&free_at->l, 64, LISTEN_UNIX_MODE, err, errlen) < 0)
		return NULL;
	util_set_nonblock(free_at->l.fd, 1);
	free_at->fd = free_at->l.fd;
	free_at->fresh = 1;
	return free_at;
}

/*
 * Bind what c asks for, keep what is unchanged, close the rest. On failure
 * every socket that was open stays open and serves as before.
 */
int endpoints_apply(const struct pf_config *c, char *err, size_t errlen)
{
	init_once();
	for (int i = -1; i < c->nservices; i++) {
		const struct addr *a = i < 0 ? (c->metrics ? &c->metrics_addr : NULL) :
				       c->services[i].agent_check ? &c->services[i].agent_addr : NULL;
		if (!a)
			continue;
		struct endpoint *e = ep_get(a, err, errlen);
		if (!e) {
			for (int k = 0; k < MAX_ENDPOINTS; k++) {
				if (eps[k].fresh)
					ep_close(&eps[k], 1);
				eps[k].claimed = eps[k].fresh = 0;
			}
			return -1;
		}
		e->claimed = 1;
		e->metrics = i < 0;
		snprintf(e->svc, sizeof(e->svc), "%s", i < 0 ? "" : c->services[i].name);
	}
	for (int i = 0; i < MAX_ENDPOINTS; i++) {
		struct endpoint *e = &eps[i];
		if (e->fd >= 0 && !e->claimed) {
			log_info("closing %s %s", e->metrics ? "metrics" : "agent_check", e->l.name);
			ep_close(e, 1);
		} else if (e->fd >= 0 && (e->fresh || e->l.inherited)) {
			log_info("%s%s: listening on %s", e->metrics ? "metrics" : "agent_check of service ",
				 e->svc, e->l.name);
			e->l.inherited = 0;
		}
		e->claimed = e->fresh = 0;
	}
	return 0;
}

/* Serve only while this master has a serving generation and has not handed over. */
static int serving(struct master *m)
{
	return m->active && !m->handed_over;
}

int endpoints_pollfds(struct master *m, struct pollfd *fds, int max)
{
	int n = 0;
	init_once();
	if (!serving(m))
		return 0;
	for (int i = 0; i < MAX_ENDPOINTS && n < max; i++)
		if (eps[i].fd >= 0)
			fds[n++] = (struct pollfd){ .fd = eps[i].fd, .events = POLLIN };
	for (int i = 0; i < MAX_CLIENTS && n < max; i++)
		if (clients[i].fd >= 0)
			fds[n++] = (struct pollfd){ .fd = clients[i].fd,
						    .events = clients[i].out.len ? POLLOUT : POLLIN };
	return n;
}

int64_t endpoints_next_deadline(void)
{
	init_once();
	int64_t next = 0;
	for (int i = 0; i < MAX_CLIENTS && initialised; i++)
		if (clients[i].fd >= 0 && (!next || clients[i].deadline_ns < next))
			next = clients[i].deadline_ns;
	return next;
}

static void client_close(struct client *c)
{
	fds_forget(c->fd);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->off = 0;
	buf_free(&c->out);
}

/* The agent protocol: one line on connect, then close. */
static void answer_agent(struct master *m, struct endpoint *e, int fd)
{
	char line[128];
	agent_answer(m, e->svc, line, sizeof(line));
	ssize_t w = write(fd, line, strlen(line));
	(void)w;
	/* Read what HAProxy may have sent (agent-send), so close sends FIN, not RST. */
	char junk[512];
	shutdown(fd, SHUT_WR);
	while (read(fd, junk, sizeof(junk)) > 0)
		;
	close(fd);
}

static void accept_on(struct master *m, struct endpoint *e)
{
	for (;;) {
		int fd = accept4(e->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (!e->metrics) {
			answer_agent(m, e, fd);
			continue;
		}
		int i;
		for (i = 0; i < MAX_CLIENTS; i++)
			if (clients[i].fd < 0)
				break;
		if (i == MAX_CLIENTS) {
			static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
						   "Content-Length: 0\r\nConnection: close\r\n\r\n";
			ssize_t w = write(fd, busy, sizeof(busy) - 1);
			(void)w;
			close(fd);
			continue;
		}
		struct client *c = &clients[i];
		c->fd = fd;
		fds_add(fd);
		c->len = 0;
		c->off = 0;
		buf_init(&c->out);
		c->deadline_ns = util_now_ns() + CLIENT_TIMEOUT_NS;
	}
}

/* Does the request head ask for OpenMetrics in its Accept header? */
static int wants_openmetrics(const char *head)
{
	for (const char *h = strchr(head, '\n'); h; h = strchr(h + 1, '\n'))
		if (strncasecmp(h + 1, "accept:", 7) == 0) {
			const char *end = strpbrk(h + 1, "\r\n");
			size_t len = end ? (size_t)(end - h - 1) : strlen(h + 1);
			if (memmem(h + 1, len, "application/openmetrics-text", 28))
				return 1;
		}
	return 0;
}

static void respond(struct client *c, int code, const char *reason, const char *type,
		    const struct buf *body, int head_only)
{
	buf_printf(&c->out, "HTTP/1.1 %d %s\r\nServer: preforkd\r\nContent-Type: %s\r\n"
		   "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
		   code, reason, type, body->len);
	if (!head_only && body->len)
		buf_append(&c->out, body->data, body->len);
}

static void handle_request(struct master *m, struct client *c)
{
	struct buf body;
	buf_init(&body);
	int get = strncmp(c->head, "GET ", 4) == 0, head = strncmp(c->head, "HEAD ", 5) == 0;
	const char *target = strchr(c->head, ' ');
	size_t tlen = target ? strcspn(target + 1, " \r\n") : 0;
	int is_metrics = target && ((tlen == 8 && strncmp(target + 1, "/metrics", 8) == 0) ||
				    (tlen > 8 && strncmp(target + 1, "/metrics?", 9) == 0));
	if (!get && !head) {
		buf_printf(&body, "method not allowed\n");
		respond(c, 405, "Method Not Allowed", "text/plain; charset=utf-8", &body, 0);
	} else if (!is_metrics) {
		buf_printf(&body, "not found: try /metrics\n");
		respond(c, 404, "Not Found", "text/plain; charset=utf-8", &body, head);
	} else {
		int om = wants_openmetrics(c->head);
		metrics_render(m, &body, om);
		respond(c, 200, "OK", om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
			: "text/plain; version=0.0.4; charset=utf-8", &body, head);
	}
	buf_free(&body);
}

static void read_client(struct master *m, struct client *c)
{
	for (;;) {
		if (c->len >= MAX_HEAD - 1) {
			struct buf none = { 0 };
			respond(c, 431, "Request Header Fields Too Large", "text/plain", &none, 0);
			return;
		}
		ssize_t n = read(c->fd, c->head + c->len, MAX_HEAD - 1 - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;		/* EAGAIN */
		if (n == 0) {
			client_close(c);
			return;
		}
		c->len += (size_t)n;
		c->head[c->len] = '\0';
		if (strstr(c->head, "\r\n\r\n") || strstr(c->head, "\n\n")) {
			handle_request(m, c);
			return;
		}
	}
}

static void write_client(struct client *c)
{
	while (c->off < c->out.len) {
		ssize_t w = write(c->fd, c->out.data + c->off, c->out.len - c->off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0)
			break;
		c->off += (size_t)w;
	}
	client_close(c);
}

void endpoints_handle(struct master *m, const struct pollfd *fds, int n)
{
	init_once();
	int64_t now = util_now_ns();
	for (int k = 0; k < n; k++) {
		if (!fds[k].revents)
			continue;
		/* Handed over since the poll: the new master answers what waits. */
		for (int i = 0; i < MAX_ENDPOINTS && serving(m); i++)
			if (eps[i].fd >= 0 && eps[i].fd == fds[k].fd)
				accept_on(m, &eps[i]);
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];
			if (c->fd < 0 || c->fd != fds[k].fd)
				continue;
			if (!c->out.len)
				read_client(m, c);
			if (c->fd >= 0 && c->out.len)
				write_client(c);
		}
	}
	for (int i = 0; i < MAX_CLIENTS && initialised; i++)
		if (clients[i].fd >= 0 && now >= clients[i].deadline_ns)
			client_close(&clients[i]);
}

void endpoints_close(struct master *m)
{
	init_once();
	for (int i = 0; i < MAX_CLIENTS && initialised; i++)
		if (clients[i].fd >= 0)
			client_close(&clients[i]);
	for (int i = 0; i < MAX_ENDPOINTS && initialised; i++)
		ep_close(&eps[i], !m->handed_over);
}

void endpoints_export(void)
{
	init_once();
	struct buf b;
	char name[160];
	buf_init(&b);
	for (int i = 0; i < MAX_ENDPOINTS && initialised; i++) {
		struct endpoint *e = &eps[i];
		if (e->fd < 0)
			continue;
		int fl = fcntl(e->fd, F_GETFD);
		if (fl >= 0)
			fcntl(e->fd, F_SETFD, fl & ~FD_CLOEXEC);
		buf_printf(&b, "%s%d=%s", b.len ? "," : "", e->fd, addr_format(&e->l.addr, name, sizeof(name)));
	}
	if (b.len)
		setenv(ENV_ENDPOINTS, b.data, 1);
	else
		unsetenv(ENV_ENDPOINTS);
	buf_free(&b);
}

/* Adopt the old master's endpoints; endpoints_apply claims them by address. */
void endpoints_inherit(void)
{
	init_once();
	const char *env = getenv(ENV_ENDPOINTS);
	if (!env)
		return;
	char *list = util_xstrdup(env);
	int n = 0;
	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok && n < MAX_ENDPOINTS;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		char err[256];
		struct endpoint *e = &eps[n];
		memset(e, 0, sizeof(*e));
		e->fd = -1;
		if (!eq || addr_parse(eq + 1, NULL, &e->l.addr, err, sizeof(err)) < 0)
			continue;
		*eq = '\0';
		int fd = atoi(tok);
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		if (fd < 3 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
			continue;
		util_set_cloexec(fd);
		util_set_nonblock(fd, 1);
		e->fd = e->l.fd = fd;
		fds_add(fd);
		e->l.inherited = 1;
		addr_format(&e->l.addr, e->l.name, sizeof(e->l.name));
		if (e->l.addr.family != AF_UNIX)
			addr_format_sockaddr((struct sockaddr *)&ss, len, e->l.name, sizeof(e->l.name), 1);
		n++;
	}
	free(list);
	unsetenv(ENV_ENDPOINTS);
}
