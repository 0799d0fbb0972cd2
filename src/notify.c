/*
 * notify.c - systemd's readiness protocol without libsystemd: when
 * NOTIFY_SOCKET is set, send datagrams such as "READY=1" or "STATUS=..." to
 * it (a path, or an abstract socket when it starts with '@').
 */
#include "master.h"

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

/* STATUS= line with the pool's idle and busy counts. */
void notify_status(struct master *m)
{
	int idle = 0, busy = 0;
	(void)m;
	if (!getenv("NOTIFY_SOCKET"))
		return;
	for (int i = 0; i < scoreboard->nslots; i++) {
		int st = scoreboard->slots[i].state;
		if (scoreboard->slots[i].pid == 0)
			continue;
		idle += st == SB_IDLE;
		busy += st == SB_BUSY;
	}
	notify_send("STATUS=workers idle %d busy %d; last reload: %s", idle, busy,
		    m->reload_result[0] ? m->reload_result : "none");
}
