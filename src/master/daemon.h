/*
 * daemon.h - daemon mode: detach, report the start-up outcome to the
 * waiting foreground process, leave the terminal.
 */
#ifndef PREFORK_DAEMON_H
#define PREFORK_DAEMON_H

/*
 * Detach (fork, setsid, fork, chdir /). The original process never
 * returns: it waits for the outcome and exits with it. In the daemon, 0
 * with *report_fd the pipe for daemon_report; -1 with errno.
 */
int daemon_detach(int *report_fd);
/* Write the outcome (NULL: ready) once and close *report_fd; no-op when -1. */
void daemon_report(int *report_fd, const char *failure);
/* Standard input, output and error to /dev/null. */
void daemon_stdio_to_null(void);

#endif /* PREFORK_DAEMON_H */
