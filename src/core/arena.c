/*
 * arena.c - memory only the master touches: its tables (workers, control
 * clients, metrics, endpoints, scoreboard bookkeeping) live in anonymous
 * mappings left out of every fork (MADV_DONTFORK) but the two whose child
 * carries on as the master (daemon mode, binary upgrade: arena_fork_share).
 * A worker therefore cannot read or write them, even through a bug, and the
 * master's writes to them never copy a page into a worker: a 64-worker pool
 * does not carry 64 private copies of the pages the master changes between
 * two forks. A fork copies none of them either.
 * Entry points: arena_alloc, arena_free, arena_fork_share, arena_worker_calloc,
 * arena_worker_free.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * LeakSanitizer looks for pointers in the heap, stacks and globals, not in
 * mappings of our own: the tables are declared to it as roots, or every
 * configuration they hold would read as leaked.
 */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define ROOT_ADD(p, len) __lsan_register_root_region((p), (len))
#define ROOT_DEL(p, len) __lsan_unregister_root_region((p), (len))
#else
#define ROOT_ADD(p, len) ((void)0)
#define ROOT_DEL(p, len) ((void)0)
#endif

#define ARENA_MAX_REGIONS 64

static struct region {
	void *addr;
	size_t len;
} regions[ARENA_MAX_REGIONS];
static int nregions;
static int shared;	/* inside arena_fork_share(1) ... (0) */

void *arena_alloc(size_t size)
{
	if (nregions == ARENA_MAX_REGIONS)
		return util_xcalloc(1, size);	/* never expected: works, only not hidden */
	long page = sysconf(_SC_PAGESIZE);
	size_t len = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		/* Like util_xcalloc: the master cannot run without its tables. */
		fprintf(stderr, "preforkd: out of memory (%zu bytes)\n", size);
		abort();
	}
	regions[nregions++] = (struct region){ p, len };
	ROOT_ADD(p, len);
	if (!shared)
		madvise(p, len, MADV_DONTFORK);
	return p;	/* zero-filled: pages appear when first written */
}

void arena_free(void *p)
{
	for (int i = 0; p && i < nregions; i++)
		if (regions[i].addr == p) {
			ROOT_DEL(p, regions[i].len);
			munmap(p, regions[i].len);
			regions[i] = regions[--nregions];
			return;
		}
	free(p);	/* from util_xcalloc, the table being full */
}

void arena_fork_share(int share)
{
	shared = share;
	for (int i = 0; i < nregions; i++)
		madvise(regions[i].addr, regions[i].len, share ? MADV_DOFORK : MADV_DONTFORK);
}

/*
 * A worker's own memory for what it keeps until it exits (its handler's
 * state, the HTTP engine): a private mapping made on first use, handed out
 * in order. Unlike malloc, this writes nothing the worker shares with the
 * master (no heap chunk, no allocator state): an idle worker costs only the
 * bytes its start-up writes. Past the mapping, calloc takes over.
 */
#define ARENA_WORKER_SIZE (1024 * 1024)	/* reserved, not committed: pages come as written */
/*
 * Small things (structs a start-up fills in) from the front, buffers after
 * it: the structs share their pages instead of each starting one of its own
 * past a buffer, and a new worker faults in fewer pages before it serves.
 */
#define ARENA_WORKER_SMALL (32 * 1024)
#define ARENA_WORKER_SMALL_MAX 8192

static char *worker_base PF_FORK_WRITTEN;
static size_t worker_small_used PF_FORK_WRITTEN;	/* of [0, ARENA_WORKER_SMALL) */
static size_t worker_used PF_FORK_WRITTEN = ARENA_WORKER_SMALL;	/* of the rest */

void *arena_worker_calloc(size_t size)
{
	if (!worker_base) {
		void *p = mmap(NULL, ARENA_WORKER_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return calloc(1, size);
		worker_base = p;
	}
	size_t len = (size + 63) & ~(size_t)63;
	if (len < size)
		return calloc(1, size);
	if (len <= ARENA_WORKER_SMALL_MAX && len <= ARENA_WORKER_SMALL - worker_small_used) {
		void *p = worker_base + worker_small_used;
		worker_small_used += len;
		return p;
	}
	if (len > ARENA_WORKER_SIZE - worker_used)
		return calloc(1, size);
	void *p = worker_base + worker_used;
	worker_used += len;
	return p;
}

void arena_worker_free(void *p)
{
	char *c = p;
	if (!p)
		return;
	if (worker_base && c >= worker_base && c < worker_base + ARENA_WORKER_SIZE)
		return;	/* kept until the worker exits */
	free(p);
}
