/*
 * ctl.h - `preforkd -s CMD`: tell a running master, found through the pid
 * file and the control socket named in its configuration.
 */
#ifndef PREFORK_CTL_H
#define PREFORK_CTL_H

#include "internal.h"

/* Run cmd (stop, quit, reload, reopen, status) against c's master; an exit status. */
int ctl_send(const struct pf_config *c, const char *cmd);

#endif /* PREFORK_CTL_H */
