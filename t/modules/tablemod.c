/*
 * tablemod.c - a module that declares its settings in a table and has no
 * check(): the library checks types, ranges, allowed values and unknown
 * keys, and init reads the values with pf_settings_get_*. Each connection
 * is answered with one line: "greeting=G count=N mode=M ratio=R loud=B
 * file=PATH".
 */
#include <prefork.h>

#include <stdio.h>
#include <stdlib.h>

static const char *const tablemod_modes[] = { "fast", "slow", NULL };

static const struct pf_setting tablemod_settings[] = {
	{ .key = "greeting", .type = PF_SETTING_STRING, .def = "hello" },
	{ .key = "count", .type = PF_SETTING_INT, .def_number = 3, .min = 1, .max = 10 },
	{ .key = "mode", .type = PF_SETTING_STRING, .def = "fast", .allowed = tablemod_modes },
	{ .key = "ratio", .type = PF_SETTING_DOUBLE, .def_number = 0.5, .min = 0, .max = 1 },
	{ .key = "loud", .type = PF_SETTING_BOOL },
	{ .key = "file", .type = PF_SETTING_PATH, .def = "data.txt" },
	{ .key = NULL },
};

static int tablemod_init(struct pf_worker *w, const struct pf_settings *s, void **state)
{
	char *line = malloc(8192), path[4096];
	(void)w;
	if (!line || pf_settings_get_path(s, "file", path, sizeof(path)) < 0) {
		free(line);
		return -1;
	}
	snprintf(line, 8192, "greeting=%s count=%lld mode=%s ratio=%g loud=%d file=%s\n",
		 pf_settings_get_string(s, "greeting"), pf_settings_get_int(s, "count"),
		 pf_settings_get_string(s, "mode"), pf_settings_get_double(s, "ratio"),
		 pf_settings_get_bool(s, "loud"), path);
	*state = line;
	return 0;
}

static int tablemod_handle(struct pf_conn *c, void *state)
{
	return pf_conn_printf(c, "%s", (const char *)state) < 0 ? -1 : 0;
}

static void tablemod_fini(struct pf_worker *w, void *state)
{
	(void)w;
	free(state);
}

const struct pf_handler pf_module = {
	.abi = PF_ABI_VERSION,
	.name = "tablemod",
	.init = tablemod_init,
	.handle = tablemod_handle,
	.fini = tablemod_fini,
	.settings = tablemod_settings,
};
