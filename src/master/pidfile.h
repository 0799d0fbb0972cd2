/*
 * pidfile.h - the pid file: written by the master (atomically, by rename),
 * read by `preforkd -s` and by a second start that must refuse to run.
 */
#ifndef PREFORK_PIDFILE_H
#define PREFORK_PIDFILE_H

#include <sys/types.h>

/* Write pid to path through a temporary file and rename; 0, or -1 (logged). */
int pidfile_write(const char *path, pid_t pid);
/* The pid path names, or 0 when it is missing or garbage. */
pid_t pidfile_read(const char *path);
/* Remove path only while it still names pid (an upgrade may own it). */
void pidfile_remove(const char *path, pid_t pid);
/* Is pid a live process (a zombie is not)? */
int pidfile_alive(pid_t pid);

#endif /* PREFORK_PIDFILE_H */
