/*
 * sizing.c - `workers = "auto"`: how many CPUs this process may really use.
 * The answer is the smaller of the CPUs in its affinity mask
 * (sched_getaffinity) and the cgroup v2 quota (cpu.max "QUOTA PERIOD",
 * rounded up, the tightest along the cgroup's ancestors), never below 1.
 * sizing_from_quota is the pure part; sizing_auto reads the system.
 * Entry points: sizing_from_quota, sizing_auto.
 */
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

/*
 * The CPUs one cpu.max text allows: ceil(QUOTA / PERIOD), 0 for "max" (no
 * limit), -1 when the text is not "QUOTA PERIOD" with positive integers.
 */
int sizing_from_quota(const char *cpu_max)
{
	char quota[32];
	long long period;
	char extra;
	if (!cpu_max || sscanf(cpu_max, "%31s %lld %c", quota, &period, &extra) != 2 || period <= 0)
		return -1;
	if (strcmp(quota, "max") == 0)
		return 0;
	char *end;
	errno = 0;
	long long q = strtoll(quota, &end, 10);
	if (*end || errno || q <= 0)
		return -1;
	long long cpus = (q + period - 1) / period;
	return cpus > 4096 ? 4096 : (int)cpus;
}

static int read_text(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (int)n;
}

/* Our cgroup v2 path ("/system.slice/x.service"), from /proc/self/cgroup. */
static int cgroup_path(char *out, size_t len)
{
	char text[4096];
	if (read_text("/proc/self/cgroup", text, sizeof(text)) <= 0)
		return -1;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "0::", 3) == 0) {
			snprintf(out, len, "%s", line + 3);
			return 0;
		}
	return -1;
}

int sizing_auto(char *why, size_t whylen)
{
	cpu_set_t set;
	int cpus = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		cpus = CPU_COUNT(&set);
	if (cpus <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cpus = n > 0 ? (int)n : 1;
	}
	int result = cpus;
	char path[4096];
	/* Room for the longest message below: the quota's text and the whole path. */
	char limit[sizeof(path) + 192] = "no cgroup v2 cpu.max quota";
	if (cgroup_path(path, sizeof(path)) == 0) {
		/* The quota of any ancestor bounds us too: take the tightest. */
		for (;;) {
			char file[4200], text[128];
			snprintf(file, sizeof(file), CGROUP_ROOT "%s%scpu.max", path,
				 path[strlen(path) - 1] == '/' ? "" : "/");
			if (read_text(file, text, sizeof(text)) > 0) {
				text[strcspn(text, "\n")] = '\0';
				int q = sizing_from_quota(text);
				if (q > 0 && q < result) {
					result = q;
					snprintf(limit, sizeof(limit), "cgroup cpu.max \"%s\" in %s", text,
						 path);
				} else if (q > 0 && strncmp(limit, "no ", 3) == 0) {
					snprintf(limit, sizeof(limit), "cgroup cpu.max \"%s\" in %s (not tighter)",
						 text, path);
				}
			}
			char *slash = strrchr(path, '/');
			if (!slash || slash == path)
				break;
			*slash = '\0';
		}
	}
	snprintf(why, whylen, "%d CPU%s in the affinity mask, %s", cpus, cpus == 1 ? "" : "s", limit);
	return result < 1 ? 1 : result;
}

/* "268435456", "256M", "1G", "512k": bytes (powers of 1024); -1 when malformed. */
long long sizing_parse_bytes(const char *text)
{
	char *end;
	errno = 0;
	long long n = strtoll(text, &end, 10);
	if (end == text || errno || n < 0 || *text == '-' || *text == '+' || *text == ' ')
		return -1;
	int shift = 0;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	}
	if (*end || n > (1LL << 50) >> shift)
		return -1;
	return n << shift;
}
