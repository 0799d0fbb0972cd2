/*
 * module.c - find handlers: the ones a program gave pf_main, the built-in
 * ones, and handler tables exported by shared objects (`module = ...`).
 * A module exports `const struct pf_handler pf_module`; its ABI version
 * and name are checked before it is used.
 */
#include "internal.h"

#include <dlfcn.h>
#include <string.h>

static const struct pf_handler *const builtins[] = {
	&handler_echo, &handler_http, &handler_status,
};

const struct pf_handler *module_builtin(const struct pf_handler *const *extra, const char *name)
{
	for (int i = 0; extra && extra[i]; i++)
		if (extra[i]->name && strcmp(extra[i]->name, name) == 0)
			return extra[i];
	for (size_t i = 0; i < ARRAY_LEN(builtins); i++)
		if (strcmp(builtins[i]->name, name) == 0)
			return builtins[i];
	return NULL;
}

const struct pf_handler *module_load(const char *path, const char *name, char *err, size_t errlen)
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
	if (t->abi != PF_ABI_VERSION) {
		snprintf(err, errlen, "module '%s' was built for ABI version %u, this preforkd has %u",
			 path, t->abi, (unsigned)PF_ABI_VERSION);
		dlclose(h);
		return NULL;
	}
	if (!t->name || !t->handle) {
		snprintf(err, errlen, "module '%s' has no %s", path, t->name ? "handle callback" : "name");
		dlclose(h);
		return NULL;
	}
	if (strcmp(t->name, name) != 0) {
		snprintf(err, errlen, "module '%s' provides handler '%s', but 'handler' is '%s'", path,
			 t->name, name);
		dlclose(h);
		return NULL;
	}
	return t;
}
