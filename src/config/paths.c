/*
 * paths.c - the top-level paths of server.conf (pid_file, error_log,
 * control_socket): resolved against the configuration file's folder and
 * checked for what start-up needs of them, so that `-t` and a reload refuse
 * what the master could not use: a path too long for the kernel (PATH_MAX,
 * NAME_MAX per name, sun_path for the control socket, room for the pid
 * file's temporary name) or in a folder that does not exist.
 * Entry point: paths_resolve.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* "FILE:LINE: 'key': message", at the key's line (line 1 for a default). */
static void PF_PRINTF_ATTR(4, 5) path_error(const struct pf_config *c, struct errlist *errs,
					     const char *key, const char *fmt, ...)
{
	const config_setting_t *s = config_lookup(&c->lc, key);
	const char *file = s ? config_setting_source_file(s) : NULL;
	int line = s ? (int)config_setting_source_line(s) : 0;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errlist_add(errs, "%s:%d: '%s': %s", file ? file : c->file, line > 0 ? line : 1, key, msg);
}

/*
 * Can the master create a file at path (an absolute path), with `extra`
 * more bytes on its name for a temporary? 0, or -1 with the error added.
 */
static int path_check(const struct pf_config *c, struct errlist *errs, const char *key,
		      const char *path, size_t extra)
{
	size_t len = strlen(path);
	if (len + extra >= PATH_MAX) {
		path_error(c, errs, key, "path too long (%zu bytes, at most %zu)", len,
			   (size_t)PATH_MAX - 1 - extra);
		return -1;
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		size_t limit = p == base ? NAME_MAX - extra : NAME_MAX;
		if (n > limit) {
			path_error(c, errs, key, "name '%.*s...' too long (at most %zu bytes)", 40, p,
				   limit);
			return -1;
		}
		p += n;
		p += *p == '/';
	}
	char *folder = util_xstrdup(path);
	char *slash = strrchr(folder, '/');
	if (slash)
		slash[slash == folder] = '\0';	/* "/x" -> "/" */
	struct stat st;
	int rc = 0;
	if (slash && stat(folder, &st) < 0) {
		path_error(c, errs, key, "folder '%s': %s", folder, strerror(errno));
		rc = -1;
	} else if (slash && !S_ISDIR(st.st_mode)) {
		path_error(c, errs, key, "'%s' is not a folder", folder);
		rc = -1;
	}
	free(folder);
	return rc;
}

/* Resolve and check pid_file, error_log and control_socket (NULL when ""). */
void paths_resolve(struct pf_config *c, struct errlist *errs)
{
	char *p = util_resolve_path(c->dir, c->pid_file);
	free(c->pid_file);
	c->pid_file = p;
	path_check(c, errs, "pid_file", c->pid_file, strlen(CONF_PID_TMP_SUFFIX));

	if (c->error_log[0] && strcmp(c->error_log, "syslog") != 0) {
		p = util_resolve_path(c->dir, c->error_log);
		free(c->error_log);
		c->error_log = p;
		path_check(c, errs, "error_log", c->error_log, 0);
	}

	if (!c->control_socket[0]) {
		free(c->control_socket);
		c->control_socket = NULL;
		return;
	}
	p = util_resolve_path(c->dir, c->control_socket);
	free(c->control_socket);
	c->control_socket = p;
	/* The same check the master makes when it opens it. */
	size_t len = strlen(p) + 6;
	char *spec = util_xcalloc(1, len);
	snprintf(spec, len, "unix:%s", p);
	struct addr a;
	char err[512];
	if (addr_parse(spec, NULL, &a, err, sizeof(err)) < 0)
		path_error(c, errs, "control_socket", "%s", err);
	else
		path_check(c, errs, "control_socket", p, 0);
	free(spec);
}
