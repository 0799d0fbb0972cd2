/*
 * listen.c - listening sockets: socket, bind, listen, and the options set
 * once on the listener so that accepted sockets inherit them (TCP_NODELAY,
 * TCP_DEFER_ACCEPT). Stale unix socket files are replaced; a live one is
 * an "address in use" error. A unix socket file has its final mode from
 * the instant bind() creates it (the umask is set around the call), and
 * it is checked again before listen(): nobody else can ever connect to an
 * owner-only socket, not even for a moment.
 */
#include "internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Is something accepting on this unix socket path? */
static int unix_path_live(const struct addr *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int live = connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0;
	close(fd);
	return live;
}

/*
 * bind() a unix socket file created with exactly `mode`. A directory with
 * a default ACL overrides the umask; then the mode is set before listen(),
 * while connecting is still refused, and only when lstat() shows a socket.
 */
static int bind_unix(int fd, const struct addr *a, mode_t mode)
{
	mode_t old = umask(~mode & 0777);
	int rc = bind(fd, (const struct sockaddr *)&a->ss, a->len);
	umask(old);
	if (rc < 0)
		return -1;
	const char *path = addr_unix_path(a);
	struct stat st;
	if (lstat(path, &st) < 0)
		return -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;	/* replaced under us: not ours to remove */
		return -1;
	}
	if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0) {
		int e = errno;
		unlink(path);
		errno = e;
		return -1;
	}
	return 0;
}

int listen_open(struct listener *l, int backlog, mode_t mode, char *err, size_t errlen)
{
	char name[128];
	int one = 1;
	addr_format(&l->addr, name, sizeof(name));

	if (l->addr.family == AF_UNIX) {
		const char *path = addr_unix_path(&l->addr);
		struct stat st;
		if (lstat(path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode)) {
				snprintf(err, errlen, "bind %s: a file that is not a socket is in the way", name);
				return -1;
			}
			if (unix_path_live(&l->addr)) {
				snprintf(err, errlen, "bind %s: %s (another server answers there)", name,
					 strerror(EADDRINUSE));
				return -1;
			}
			unlink(path);
		}
	}
	int fd = socket(l->addr.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket %s: %s", name, strerror(errno));
		return -1;
	}
	if (l->addr.family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->addr.family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	log_debug("socket() = %d for %s", fd, name);
	int rc = l->addr.family == AF_UNIX ? bind_unix(fd, &l->addr, mode)
					   : bind(fd, (const struct sockaddr *)&l->addr.ss, l->addr.len);
	if (rc < 0) {
		snprintf(err, errlen, "bind %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	log_debug("bind(%d, %s) = 0", fd, name);
	if (listen(fd, backlog) < 0) {
		snprintf(err, errlen, "listen %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	log_debug("listen(%d, %d) = 0", fd, backlog);
	l->fd = fd;
	l->backlog = backlog;
	fds_add(fd);

	/* The real address: port 0 asked the kernel to pick one. */
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && l->addr.family != AF_UNIX)
		addr_format_sockaddr((struct sockaddr *)&ss, len, l->name, sizeof(l->name), 1);
	else
		snprintf(l->name, sizeof(l->name), "%s", name);
	return 0;
}

int listen_apply_options(struct listener *l, int defer_accept)
{
	if (l->addr.family == AF_UNIX)
		return 0;
	int one = 1;
	/* Accepted sockets inherit these: no setsockopt per connection. */
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int secs = defer_accept;	/* seconds; 0 turns it off */
	return setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
}

void listen_close(struct listener *l, int unlink_path)
{
	if (l->fd >= 0) {
		fds_forget(l->fd);
		close(l->fd);
	}
	if (unlink_path && l->addr.family == AF_UNIX && !l->inherited)
		unlink(addr_unix_path(&l->addr));
	l->fd = -1;
}
