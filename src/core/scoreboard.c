/*
 * scoreboard.c - the shared-memory table of worker slots and per-service
 * counters. The master maps it before the first fork, so every worker
 * shares it; the master allocates and frees slots, each worker writes only
 * its own slot, and anyone may read. Its size is fixed (SB_MAX_SLOTS) so
 * it survives reloads untouched; pages never used cost no memory.
 *
 * Every worker can write the whole mapping (a compromised handler runs
 * with its rights), so the process that created it, the master, trusts no
 * byte of it: which slots are in use, the bound of every loop, each slot's
 * pid, service and generation, and the per-service entries are the
 * master's private copies (the shared ones are published for the workers'
 * status handler). What the master does read from shared memory goes
 * through scoreboard_view: one read of each field, enums range-checked,
 * strings copied bounded, NUL-terminated and made printable. A worker can
 * at worst misreport its own slot.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


struct scoreboard *scoreboard;

/* The creator's private records (stale copies in a forked worker: unused there). */
static pid_t sb_owner;
/*
 * Whether this process created the scoreboard, kept up to date across fork
 * by an atfork handler, so that the owner test costs no getpid() (workers
 * ask it on every request). SB_ROLE_UNKNOWN: ask getpid().
 */
enum { SB_ROLE_UNKNOWN, SB_ROLE_OWNER, SB_ROLE_CHILD };
static int sb_role PF_FORK_WRITTEN;

static void sb_forked_child(void)
{
	if (sb_role == SB_ROLE_OWNER)
		sb_role = SB_ROLE_CHILD;
}
static int sb_nslots PF_FORK_WRITTEN;	/* 1 + the highest slot in use */
static struct sb_private {
	int used;
	pid_t pid;
	int svc;
	unsigned generation;
} *sb_priv;				/* SB_MAX_SLOTS, the owner's own (arena.c) */
static struct sb_service *sb_svcs;	/* SB_MAX_SERVICES, likewise */
static int sb_used;			/* slots with sb_priv[].used: counted, not scanned */
static unsigned sb_generation;

int scoreboard_create(void)
{
	if (scoreboard)
		return 0;
	void *p = mmap(NULL, sizeof(struct scoreboard), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	scoreboard = p;
	scoreboard->nslots = 0;
	sb_owner = getpid();
	static int atfork_set;
	if (!atfork_set && pthread_atfork(NULL, NULL, sb_forked_child) == 0)
		atfork_set = 1;
	sb_role = atfork_set ? SB_ROLE_OWNER : SB_ROLE_UNKNOWN;
	sb_nslots = 0;
	sb_used = 0;
	sb_generation = 0;
	if (!sb_priv) {
		sb_priv = arena_alloc(SB_MAX_SLOTS * sizeof(*sb_priv));
		sb_svcs = arena_alloc(SB_MAX_SERVICES * sizeof(*sb_svcs));
	} else {
		memset(sb_priv, 0, SB_MAX_SLOTS * sizeof(*sb_priv));
		memset(sb_svcs, 0, SB_MAX_SERVICES * sizeof(*sb_svcs));
	}
	return 0;
}

void scoreboard_destroy(void)
{
	if (!scoreboard)
		return;
	munmap(scoreboard, sizeof(struct scoreboard));
	scoreboard = NULL;
	sb_owner = 0;
	sb_role = SB_ROLE_UNKNOWN;
}

int scoreboard_is_owner(void)
{
	if (!scoreboard)
		return 0;
	if (sb_role != SB_ROLE_UNKNOWN)
		return sb_role == SB_ROLE_OWNER;
	return sb_owner == getpid();
}

int scoreboard_nslots(void)
{
	if (!scoreboard)
		return 0;
	if (scoreboard_is_owner())
		return sb_nslots;
	int n = scoreboard->nslots;
	return n < 0 ? 0 : n > SB_MAX_SLOTS ? SB_MAX_SLOTS : n;
}

int scoreboard_alloc_slot(int svc, unsigned generation)
{
	for (int i = 0; i < SB_MAX_SLOTS; i++) {
		if (sb_priv[i].used)
			continue;
		struct sb_slot *s = &scoreboard->slots[i];
		memset(s, 0, sizeof(*s));
		s->svc = svc;
		s->generation = generation;
		s->state = SB_STARTING;
		sb_priv[i] = (struct sb_private){ .used = 1, .svc = svc, .generation = generation };
		sb_used++;
		if (i >= sb_nslots)
			sb_nslots = i + 1;
		scoreboard->nslots = sb_nslots;
		return i;
	}
	errno = ENOSPC;
	return -1;
}

void scoreboard_set_pid(int i, pid_t pid)
{
	if (i < 0 || i >= SB_MAX_SLOTS || !sb_priv[i].used)
		return;
	sb_priv[i].pid = pid;
	scoreboard->slots[i].pid = pid;
}

void scoreboard_free_slot(int i)
{
	if (i < 0 || i >= SB_MAX_SLOTS)
		return;
	struct sb_slot *s = &scoreboard->slots[i];
	/* A worker's count outlives it (under the service of the master's own record). */
	if (sb_priv[i].used) {
		sb_svcs[sb_priv[i].svc].handler_errors += s->handler_errors;
		sb_used--;
	}
	s->handler_errors = 0;
	s->state = SB_FREE;
	s->pid = 0;
	memset(&sb_priv[i], 0, sizeof(sb_priv[i]));
	while (sb_nslots > 0 && !sb_priv[sb_nslots - 1].used)
		sb_nslots--;
	scoreboard->nslots = sb_nslots;
}

int scoreboard_free_slots(void)
{
	/* A count: a scan would fault in every page of sb_priv before the first fork. */
	return SB_MAX_SLOTS - sb_used;
}

int scoreboard_service(const char *name)
{
	int free_at = -1;
	for (int i = 0; i < SB_MAX_SERVICES; i++) {
		struct sb_service *v = &sb_svcs[i];
		if (v->used && strcmp(v->name, name) == 0)
			return i;
		if (!v->used && free_at < 0)
			free_at = i;
	}
	if (free_at < 0)
		return -1;
	struct sb_service *v = &sb_svcs[free_at];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->used = 1;
	memset(&scoreboard->svcs[free_at], 0, sizeof(scoreboard->svcs[free_at]));
	scoreboard_publish();
	return free_at;
}

struct sb_service *scoreboard_svc(int i)
{
	return i >= 0 && i < SB_MAX_SERVICES ? &sb_svcs[i] : NULL;
}

void scoreboard_set_generation(unsigned id)
{
	sb_generation = id;
	scoreboard->generation = id;
}

/* The master's fields of a service entry; the workers' own counters (TLS) stay as they are. */
static void publish_service(struct sb_service *dst, const struct sb_service *src)
{
	memcpy(dst->name, src->name, sizeof(dst->name));
	memcpy(dst->listen, src->listen, sizeof(dst->listen));
	memcpy(dst->handler, src->handler, sizeof(dst->handler));
	dst->used = src->used;
	dst->target = src->target;
	dst->throttled = src->throttled;
	dst->spawns = src->spawns;
	dst->crashes = src->crashes;
	dst->recycles = src->recycles;
	dst->watchdog_kills = src->watchdog_kills;
	dst->handler_errors = src->handler_errors;
	dst->init_failures = src->init_failures;
	dst->recycle_held = src->recycle_held;
	dst->tls = src->tls;
	memcpy(dst->tls_sendfile, src->tls_sendfile, sizeof(dst->tls_sendfile));
}

void scoreboard_publish(void)
{
	if (!scoreboard_is_owner())
		return;
	for (int i = 0; i < SB_MAX_SERVICES; i++)
		publish_service(&scoreboard->svcs[i], &sb_svcs[i]);
	scoreboard->generation = sb_generation;
	scoreboard->nslots = sb_nslots;
}

/* Copy a string another process wrote: bounded, NUL-terminated, printable ASCII only. */
void scoreboard_copy_string(char *dst, const volatile char *src, size_t len)
{
	size_t i;
	for (i = 0; i + 1 < len; i++) {
		char ch = src[i];
		if (ch == '\0')
			break;
		dst[i] = (char)((ch >= 0x20 && ch < 0x7f) ? ch : '?');
	}
	if (len)
		dst[i] = '\0';
}

/*
 * Slot i's pid, service, generation and state, each read once: the
 * creator's own records for the first three, the state range-checked
 * (SB_INVALID when out of range). 0 when the slot is not in use.
 */
static int read_slot(int i, int owner, struct sb_view *v)
{
	const volatile struct sb_slot *s = &scoreboard->slots[i];
	if (owner) {
		if (!sb_priv[i].used || !sb_priv[i].pid)
			return 0;
		v->pid = sb_priv[i].pid;
		v->svc = sb_priv[i].svc;
		v->generation = sb_priv[i].generation;
	} else {
		v->pid = s->pid;
		v->svc = s->svc;
		v->generation = s->generation;
		if (v->pid <= 0 || v->svc < 0 || v->svc >= SB_MAX_SERVICES)
			return 0;
	}
	int st = s->state;
	if (st == SB_FREE && !owner)
		return 0;
	v->state = (st > SB_FREE && st <= SB_EXITING) ? st : SB_INVALID;
	return 1;
}

int scoreboard_view(int i, struct sb_view *v)
{
	memset(v, 0, sizeof(*v));
	if (!scoreboard || i < 0 || i >= SB_MAX_SLOTS || !read_slot(i, scoreboard_is_owner(), v))
		return 0;
	const volatile struct sb_slot *s = &scoreboard->slots[i];
	v->served = s->served;
	v->bytes_in = s->bytes_in;
	v->bytes_out = s->bytes_out;
	v->handler_errors = s->handler_errors;
	v->conn_start_ns = s->conn_start_ns;
	v->recycle = s->recycle != 0;
	scoreboard_copy_string(v->peer, s->peer, sizeof(v->peer));
	scoreboard_copy_string(v->tls, s->tls, sizeof(v->tls));
	return 1;
}

void scoreboard_count(int svc, unsigned generation, scoreboard_judge_fn *judge, void *arg,
		      struct sb_count *out)
{
	memset(out, 0, sizeof(*out));
	int owner = scoreboard_is_owner(), n = scoreboard_nslots();
	for (int i = 0; i < n; i++) {
		struct sb_view v;
		if (!read_slot(i, owner, &v) || (svc != SB_ANY_SERVICE && v.svc != svc) ||
		    (generation != SB_ANY_GENERATION && v.generation != generation))
			continue;
		int st = judge ? judge(i, v.state, arg) : v.state;
		if (st == SB_FREE)
			continue;
		out->workers++;
		switch (st) {
		case SB_STARTING: out->starting++; break;
		case SB_IDLE: out->idle++; break;
		case SB_BUSY: out->busy++; break;
		case SB_EXITING: out->exiting++; break;
		}
	}
}

/*
 * Is some worker of svc idle? scoreboard_count's answer to that one
 * question, but it stops at the first idle slot: while workers are free
 * (the usual case) a few slots are read, not every one.
 */
int scoreboard_any_idle(int svc)
{
	int owner = scoreboard_is_owner(), n = scoreboard_nslots();
	for (int i = 0; i < n; i++) {
		struct sb_view v;
		if (read_slot(i, owner, &v) && (svc == SB_ANY_SERVICE || v.svc == svc) &&
		    v.state == SB_IDLE)
			return 1;
	}
	return 0;
}

int scoreboard_service_view(int i, struct sb_service *out)
{
	memset(out, 0, sizeof(*out));
	if (!scoreboard || i < 0 || i >= SB_MAX_SERVICES)
		return 0;
	const volatile struct sb_service *s = &scoreboard->svcs[i];
	/* The workers' own counters, as they wrote them (they can only misreport those). */
	uint64_t tls_handshakes = s->tls_handshakes, tls_failures = s->tls_failures,
		 tls_resumed = s->tls_resumed;
	if (scoreboard_is_owner()) {
		*out = sb_svcs[i];
		out->tls_handshakes = tls_handshakes;
		out->tls_failures = tls_failures;
		out->tls_resumed = tls_resumed;
		return out->used;
	}
	if (!s->used)
		return 0;
	out->tls_handshakes = tls_handshakes;
	out->tls_failures = tls_failures;
	out->tls_resumed = tls_resumed;
	out->tls = s->tls != 0;
	scoreboard_copy_string(out->tls_sendfile, s->tls_sendfile, sizeof(out->tls_sendfile));
	scoreboard_copy_string(out->name, s->name, sizeof(out->name));
	scoreboard_copy_string(out->listen, s->listen, sizeof(out->listen));
	scoreboard_copy_string(out->handler, s->handler, sizeof(out->handler));
	out->used = 1;
	out->target = s->target;
	out->throttled = s->throttled != 0;
	out->spawns = s->spawns;
	out->crashes = s->crashes;
	out->recycles = s->recycles;
	out->watchdog_kills = s->watchdog_kills;
	out->handler_errors = s->handler_errors;
	out->init_failures = s->init_failures;
	out->recycle_held = s->recycle_held != 0;
	return 1;
}

unsigned scoreboard_generation(void)
{
	if (!scoreboard)
		return 0;
	return scoreboard_is_owner() ? sb_generation : scoreboard->generation;
}

/* 1 ms to 10 s, roughly 1-2.5-5 per decade, as Prometheus client libraries do. */
const uint64_t scoreboard_hist_bounds_us[SB_HIST_BUCKETS - 1] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};

/* The bucket a duration falls in: the first bound not below it, or the last (+Inf). */
int scoreboard_hist_bucket(uint64_t us)
{
	int i = 0;
	while (i < SB_HIST_BUCKETS - 1 && us > scoreboard_hist_bounds_us[i])
		i++;
	return i;
}
