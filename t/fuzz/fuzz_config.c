/*
 * fuzz_config.c - libFuzzer target for the configuration validator: the
 * input is the text of server.conf, the outcome either a configuration or
 * a list of errors. Checked promises: exactly one of the two, and every
 * error names the file and a line ("FILE:LINE: message"). The lenient
 * reader behind `preforkd -s` must accept anything. Leaks abort (ASan).
 *
 * Inputs that @include other files or load a module are skipped: they
 * would read or dlopen whatever path the fuzzer invents.
 */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char conf_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char dir[] = "/tmp/pf-fuzz-config-XXXXXX";
	if (!mkdtemp(dir))
		abort();
	snprintf(conf_path, sizeof(conf_path), "%s/server.conf", dir);
	log_set_level(-1);	/* the validator's findings go to errs, not stderr */
	return 0;
}

static int contains(const uint8_t *data, size_t size, const char *word)
{
	return memmem(data, size, word, strlen(word)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (contains(data, size, "@include") || contains(data, size, "module"))
		return 0;
	FILE *f = fopen(conf_path, "w");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();

	struct errlist errs = { 0 };
	struct pf_config *c = config_load(conf_path, NULL, &errs);
	if ((c == NULL) == (errs.count == 0))
		abort();
	size_t plen = strlen(conf_path);
	for (int i = 0; i < errs.count; i++) {
		const char *m = errs.msgs[i];
		if (strncmp(m, conf_path, plen) != 0 || m[plen] != ':' ||
		    m[plen + 1] < '0' || m[plen + 1] > '9')
			abort();
	}
	if (c) {
		if (c->nservices < 1 || !c->pid_file || c->pid_file[0] != '/')
			abort();
		for (int i = 0; i < c->nservices; i++)
			if (config_find_service(c, c->services[i].name) != &c->services[i])
				abort();
	}
	config_free(c);
	errlist_free(&errs);

	struct pf_config *p = config_load_paths(conf_path);
	if (!p || !p->pid_file || p->shutdown_timeout <= 0)
		abort();
	config_free(p);
	return 0;
}
