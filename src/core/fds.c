/*
 * fds.c - the master's descriptors that workers must not keep: each owner
 * (listeners, the control socket and its clients, the master's end of the
 * ready pipe, the upgrade and daemon pipes, the metrics endpoints)
 * registers a descriptor when it opens it and forgets it when it closes
 * it; a freshly forked worker closes them all but its own listener.
 * Entry points: fds_add, fds_forget, fds_close_all.
 */
#include "internal.h"

#include <unistd.h>

#define FDS_MAX 1024

static int fds[FDS_MAX];
static int nfds PF_FORK_WRITTEN;

void fds_add(int fd)
{
	if (fd < 0)
		return;
	for (int i = 0; i < nfds; i++)
		if (fds[i] == fd)
			return;
	if (nfds < FDS_MAX)
		fds[nfds++] = fd;
	else
		log_error("fds: more than %d master descriptors; descriptor %d stays open in workers",
			  FDS_MAX, fd);
}

void fds_forget(int fd)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] == fd) {
			fds[i] = fds[--nfds];
			return;
		}
}

void fds_close_all(int keep)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] != keep)
			close(fds[i]);
	nfds = 0;
}
