/*
 * module.c - find handlers: the ones a program gave pf_main, the built-in
 * ones, and handler tables exported by shared objects (`module = ...`).
 * A module exports `const struct pf_handler pf_module`; its ABI version
 * and name are checked before it is used, and a version 1 table (shorter:
 * it ends at `reopen`) is copied into a whole one.
 */
#include "internal.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

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

const struct pf_handler *module_load(const char *path, const char *name, struct pf_handler **compat,
				     char *err, size_t errlen)
{
	/*
	 * RTLD_NOW finds missing symbols here, in the master, rather than in
	 * a worker halfway through a connection. The handle stays open for
	 * the life of the process: workers inherit the mapping.
	 */
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(err, errlen, "cannot load module '%s': %s", path, e ? e : "unknown error");
		return NULL;
	}
	const struct pf_handler *t = dlsym(h, PF_MODULE_SYMBOL);
	if (!t) {
		snprintf(err, errlen, "module '%s' does not export '%s'", path, PF_MODULE_SYMBOL);
		dlclose(h);
		return NULL;
	}
	char what[PATH_MAX + 16];
	snprintf(what, sizeof(what), "module '%s'", path);
	if (module_check_table(t, what, compat, err, errlen) < 0) {
		dlclose(h);
		return NULL;
	}
	if (strcmp(t->name, name) != 0) {
		snprintf(err, errlen, "module '%s' provides handler '%s', but 'handler' is '%s'", path,
			 t->name, name);
		free(*compat);
		*compat = NULL;
		dlclose(h);
		return NULL;
	}
	return *compat ? *compat : t;
}
