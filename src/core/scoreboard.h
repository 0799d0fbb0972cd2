/*
 * scoreboard.h - the scoreboard's slots in shared memory and the functions
 * of core/scoreboard.c. Included by internal.h after the configuration
 * limits it sizes itself by; include internal.h, not this file.
 */
#ifndef PF_CORE_SCOREBOARD_H
#define PF_CORE_SCOREBOARD_H

/* ---- scoreboard.c: shared-memory slots ---- */

#define SB_MAX_SLOTS (2 * CONF_MAX_WORKERS_TOTAL)	/* two generations */
#define SB_MAX_SERVICES CONF_MAX_SERVICES

enum sb_state { SB_FREE = 0, SB_STARTING, SB_IDLE, SB_BUSY, SB_EXITING };
/* Why a worker asks to be retired (sb_slot.recycle). */
enum sb_recycle { SB_RECYCLE_NO = 0, SB_RECYCLE_REQUESTS = 1, SB_RECYCLE_MEMORY = 2 };

/* Request duration histogram: upper bounds in microseconds, then +Inf. */
#define SB_HIST_BUCKETS 14
extern const uint64_t scoreboard_hist_bounds_us[SB_HIST_BUCKETS - 1];
int scoreboard_hist_bucket(uint64_t us);

struct sb_slot {
	volatile int state;
	int svc;		/* index into scoreboard.svcs */
	volatile pid_t pid;
	unsigned generation;
	volatile uint64_t served;
	volatile uint64_t bytes_in, bytes_out;
	volatile uint64_t handler_errors;	/* handle/handle_http returned non-zero */
	volatile int64_t conn_start_ns;	/* monotonic; 0 when idle */
	volatile int recycle;	/* SB_RECYCLE_*: retire me when it suits */
	int64_t started_ns;
	char peer[64];
	char tls[16];		/* the connection's TLS protocol, "" when plain */
	/* Requests served and their durations: counts per bucket, not cumulative. */
	volatile uint64_t requests;
	volatile uint64_t duration_us;
	volatile uint64_t duration_hist[SB_HIST_BUCKETS];
} __attribute__((aligned(64)));

struct sb_service {
	char name[64];
	char listen[128];
	char handler[32];
	int used;
	int target;		/* workers wanted */
	int throttled;		/* some slot is in crash back-off */
	int recycle_held;	/* max_requests recycling waits: successors fail to start */
	uint64_t spawns, crashes, recycles, watchdog_kills;
	int tls;		/* the service speaks TLS */
	char tls_sendfile[16];	/* "ktls" or "read+write" */
	volatile uint64_t tls_handshakes, tls_failures, tls_resumed;
	uint64_t handler_errors;	/* of workers gone (their slots were freed) */
	uint64_t init_failures;	/* workers whose handler init failed (not at a reload) */
};

struct scoreboard {
	int nslots;
	unsigned generation;	/* the serving generation */
	volatile int draining;	/* lame duck: health checks answer 503 */
	struct sb_service svcs[SB_MAX_SERVICES];
	struct sb_slot slots[SB_MAX_SLOTS];
};

extern struct scoreboard *scoreboard;
int scoreboard_create(void);
void scoreboard_destroy(void);
int scoreboard_is_owner(void);		/* the creating process (the master) */
/*
 * The creator's calls. Sizes, slot ownership, pids, services and
 * generations are its private records, never read back from the mapping.
 */
int scoreboard_alloc_slot(int svc, unsigned generation);	/* -1 when full */
void scoreboard_set_pid(int i, pid_t pid);
void scoreboard_free_slot(int i);
int scoreboard_free_slots(void);
int scoreboard_service(const char *name);	/* find or add, -1 when full */
struct sb_service *scoreboard_svc(int i);	/* the private entry, NULL out of range */
void scoreboard_set_generation(unsigned id);
void scoreboard_publish(void);		/* private entries -> shared copy */
/* Anyone: 1 + the highest slot in use (the creator's own count, else clamped). */
int scoreboard_nslots(void);
unsigned scoreboard_generation(void);

#define SB_INVALID (-1)	/* sb_view.state: a value no state has */

/* A slot as read once, checked: safe to use whatever the worker wrote. */
struct sb_view {
	pid_t pid;
	int svc;		/* < SB_MAX_SERVICES */
	unsigned generation;
	int state;		/* an enum sb_state, or SB_INVALID */
	uint64_t served, bytes_in, bytes_out, handler_errors;
	int64_t conn_start_ns;
	int recycle;
	char peer[64];		/* NUL-terminated, printable */
	char tls[16];		/* likewise */
};
int scoreboard_view(int i, struct sb_view *v);	/* 0: slot not in use */

/*
 * The one count of workers by state. Slots in use of scoreboard service
 * svc and generation `generation` (SB_ANY_*: all), each read as
 * scoreboard_view reads it. judge (may be NULL) adds what only the master
 * knows: it returns the state to count slot i under (say SB_EXITING for a
 * worker told to go that has not seen it yet), or SB_FREE to leave it out.
 * A slot whose state is SB_INVALID counts in workers only.
 */
#define SB_ANY_SERVICE (-1)
#define SB_ANY_GENERATION (~0u)
struct sb_count {
	int workers;		/* every slot counted */
	int starting, idle, busy, exiting;
};
typedef int scoreboard_judge_fn(int slot, int state, void *arg);
void scoreboard_count(int svc, unsigned generation, scoreboard_judge_fn *judge, void *arg,
		      struct sb_count *out);
int scoreboard_any_idle(int svc);	/* scoreboard_count(...).idle > 0, sooner */
int scoreboard_service_view(int i, struct sb_service *out);	/* 0: unused */
void scoreboard_copy_string(char *dst, const volatile char *src, size_t len);

#endif
