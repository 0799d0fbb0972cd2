/*
 * module.c - find handlers: the ones a program gave pf_main, the built-in
 * ones, and handler tables exported by shared objects (`module = ...`).
 * A module exports `const struct pf_handler pf_module`; its ABI version
 * and name are checked before it is used, and a version 1 table (shorter:
 * it ends at `reopen`) is copied into a whole one.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The handler's fields since ABI 2 fill the room ABI 2 reserved: the size never changes. */
_Static_assert(sizeof(struct pf_handler) ==
	       offsetof(struct pf_handler, handle_http) + 11 * sizeof(void *),
	       "struct pf_handler changed size: new fields belong in reserved");

/* A version 1 table holds the fields up to `reopen`: the rest is not there to read. */
#define MODULE_ABI1_SIZE offsetof(struct pf_handler, handle_http)

int module_check_table(const struct pf_handler *t, const char *what, struct pf_handler **compat,
		       char *err, size_t errlen)
{
	*compat = NULL;
	if (t->abi != 1 && t->abi != PF_ABI_VERSION) {
		snprintf(err, errlen, "%s was built for ABI version %u, this preforkd has %u "
			 "(and loads 1)", what, t->abi, (unsigned)PF_ABI_VERSION);
		return -1;
	}
	if (t->abi == 1) {
		struct pf_handler *c = calloc(1, sizeof(*c));
		if (!c) {
			snprintf(err, errlen, "%s: out of memory", what);
			return -1;
		}
		memcpy(c, t, MODULE_ABI1_SIZE);
		t = c;
		*compat = c;
	}
	const char *missing = !t->name ? "name" : !t->handle && !t->handle_http ?
			      "handle or handle_http callback" : NULL;
	if (missing || (t->handle && t->handle_http)) {
		if (missing)
			snprintf(err, errlen, "%s has no %s", what, missing);
		else
			snprintf(err, errlen, "%s sets both handle and handle_http", what);
		free(*compat);
		*compat = NULL;
		return -1;
	}
	return 0;
}

/* The built-in handlers: the one list (NULL-terminated). */
const struct pf_handler *const module_builtins[] = {
	&echo_handler, &http_handler, &status_handler, NULL,
};

const struct pf_handler *module_builtin(const struct pf_handler *const *extra, const char *name)
{
	for (int i = 0; extra && extra[i]; i++)
		if (extra[i]->name && strcmp(extra[i]->name, name) == 0)
			return extra[i];
	for (size_t i = 0; module_builtins[i]; i++)
		if (strcmp(module_builtins[i]->name, name) == 0)
			return module_builtins[i];
	return NULL;
}

/*
 * Module code reload. dlopen() hands back the mapping it already has for a
 * path, so a module rebuilt in place would keep its old code across
 * reloads. Each new build (told apart by device, inode, size, mtime and
 * ctime) is copied to a private file (a fresh mkdtemp folder, O_EXCL, mode
 * 0600), loaded from there and unlinked at once: the new generation runs
 * the new code, the old one keeps its own mapping until it exits, and a
 * module overwritten in place never changes code under a running worker.
 * An unchanged module reuses its mapping. Mappings stay for the life of
 * the process (workers of an older generation may still run them).
 */
struct module_loaded {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	void *handle;
	struct module_loaded *next;
};

static struct module_loaded *module_list;

static int module_same_build(const struct module_loaded *m, const char *path,
			     const struct stat *sb)
{
	return strcmp(m->path, path) == 0 && m->dev == sb->st_dev && m->ino == sb->st_ino &&
	       m->size == sb->st_size && m->mtime.tv_sec == sb->st_mtim.tv_sec &&
	       m->mtime.tv_nsec == sb->st_mtim.tv_nsec && m->ctime.tv_sec == sb->st_ctim.tv_sec &&
	       m->ctime.tv_nsec == sb->st_ctim.tv_nsec;
}

/* Copy the next block of src to out: bytes copied, 0 at the end, -1 with errno. */
static ssize_t module_copy_some(int src, int out)
{
	char buf[65536];
	ssize_t n;
	do
		n = read(src, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	for (ssize_t done = 0; n > 0 && done < n;) {
		ssize_t w = write(out, buf + done, (size_t)(n - done));
		if (w < 0 && errno != EINTR)
			return -1;
		if (w > 0)
			done += w;
	}
	return n;
}

/* Copy open file `src` to a new private file under a fresh folder; 0 or -1 with errno. */
static int module_copy(int src, const char *path, char *dir, size_t dirlen, char *copy,
		       size_t copylen)
{
	const char *tmp = getenv("TMPDIR");
	if (!tmp || tmp[0] != '/')
		tmp = "/tmp";
	if ((size_t)snprintf(dir, dirlen, "%s/prefork-module.XXXXXX", tmp) >= dirlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (!mkdtemp(dir))
		return -1;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if ((size_t)snprintf(copy, copylen, "%s/%s", dir, base[0] ? base : "module.so") >= copylen) {
		rmdir(dir);
		errno = ENAMETOOLONG;
		return -1;
	}
	int out = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0) {
		int e = errno;
		rmdir(dir);
		errno = e;
		return -1;
	}
	ssize_t n;
	while ((n = module_copy_some(src, out)) > 0)
		;
	int e = errno;
	if (close(out) < 0 && n == 0) {
		e = errno;
		n = -1;
	}
	if (n != 0) {
		unlink(copy);
		rmdir(dir);
		errno = e;
		return -1;
	}
	return 0;
}

/* dlerror() names the private copy: name the module's own path instead. */
static void module_dlerror(const char *path, const char *copy, char *err, size_t errlen)
{
	const char *e = dlerror();
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", e ? e : "unknown error");
	const char *at = copy[0] ? strstr(msg, copy) : NULL;
	if (at)
		snprintf(err, errlen, "cannot load module '%s': %.*s%s%s", path, (int)(at - msg),
			 msg, path, at + strlen(copy));
	else
		snprintf(err, errlen, "cannot load module '%s': %s", path, msg);
}

/* The dlopen() handle of the current build of `path`, or NULL with err set. */
static void *module_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "cannot load module '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (struct module_loaded *m = module_list; m; m = m->next)
		if (module_same_build(m, path, &sb)) {
			close(fd);
			return m->handle;
		}
	char dir[PATH_MAX], copy[PATH_MAX + NAME_MAX + 2];
	if (module_copy(fd, path, dir, sizeof(dir), copy, sizeof(copy)) < 0) {
		snprintf(err, errlen, "cannot load module '%s': cannot make a private copy: %s",
			 path, strerror(errno));
		close(fd);
		return NULL;
	}
	close(fd);
	/*
	 * RTLD_NOW finds missing symbols here, in the master, rather than in
	 * a worker halfway through a connection.
	 */
	void *h = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		module_dlerror(path, copy, err, errlen);
	unlink(copy);
	rmdir(dir);
	if (!h)
		return NULL;
	struct module_loaded *m = util_xcalloc(1, sizeof(*m));
	m->path = util_xstrdup(path);
	m->dev = sb.st_dev;
	m->ino = sb.st_ino;
	m->size = sb.st_size;
	m->mtime = sb.st_mtim;
	m->ctime = sb.st_ctim;
	m->handle = h;
	m->next = module_list;
	module_list = m;
	return h;
}

const struct pf_handler *module_load(const char *path, const char *name, struct pf_handler **compat,
				     char *err, size_t errlen)
{
	*compat = NULL;
	void *h = module_open(path, err, errlen);
	if (!h)
		return NULL;
	const struct pf_handler *t = dlsym(h, PF_MODULE_SYMBOL);
	if (!t) {
		snprintf(err, errlen, "module '%s' does not export '%s'", path, PF_MODULE_SYMBOL);
		return NULL;
	}
	char what[PATH_MAX + 16];
	snprintf(what, sizeof(what), "module '%s'", path);
	if (module_check_table(t, what, compat, err, errlen) < 0)
		return NULL;
	if (strcmp(t->name, name) != 0) {
		snprintf(err, errlen, "module '%s' provides handler '%s', but 'handler' is '%s'", path,
			 t->name, name);
		free(*compat);
		*compat = NULL;
		return NULL;
	}
	return *compat ? *compat : t;
}
