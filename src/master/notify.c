/*
 * notify.c - systemd's readiness protocol without libsystemd: when
 * NOTIFY_SOCKET is set, send datagrams such as "READY=1" or "STATUS=..." to
 * it (a path, or an abstract socket when it starts with '@'). Entry points:
 * notify_send, notify_tick (STATUS= when the pool changes).
 */
#include "master/master.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

void notify_send(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !path[0])
		return;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun, sl) < 0)
		log_debug("notify %s failed", path);
	close(fd);
}

/* The STATUS= text: the pool's idle and busy counts, the last reload's result. */
static void status_text(struct master *m, char *out, size_t len)
{
	struct sb_count c;
	scoreboard_count(SB_ANY_SERVICE, SB_ANY_GENERATION, NULL, NULL, &c);
	snprintf(out, len, "STATUS=workers: %d idle, %d busy; last reload: %s", c.idle, c.busy,
		 m->reload_result[0] ? m->reload_result : "none");
}

static char last_status[sizeof(((struct master *)0)->reload_result) + 100];
static int64_t last_status_ns;

/*
 * On every turn of the master loop: a STATUS= line when the counts or the
 * last reload's result changed, at most once a second.
 */
void notify_tick(struct master *m, int64_t now)
{
	if (!getenv("NOTIFY_SOCKET") || (last_status_ns && now - last_status_ns < 1000000000LL))
		return;
	char text[sizeof(last_status)];
	status_text(m, text, sizeof(text));
	if (strcmp(text, last_status) == 0)
		return;
	memcpy(last_status, text, sizeof(last_status));
	last_status_ns = now;
	notify_send("%s", text);
}
