/*
 * master.h - the master's private state and the prototypes of the files
 * under src/master/, grouped per file. master.c decides; the others act on
 * their part of the state and return what happened.
 */
#ifndef PREFORK_MASTER_H
#define PREFORK_MASTER_H

#include "internal.h"

#include <poll.h>

#define MAX_LISTENERS (2 * CONF_MAX_SERVICES)
#define MAX_CONTROL_CLIENTS 16

/* One place in a service's pool; its back-off survives its workers. */
struct pool_pos {
	int slot;		/* scoreboard slot of its worker, -1 when empty */
	int crashes;		/* consecutive unexpected deaths */
	int64_t next_spawn_ns;	/* not before this time */
};

struct service {
	const struct svc_conf *conf;
	int listener;		/* index into master.listeners */
	int sb;			/* index into scoreboard->svcs */
	int target;		/* workers wanted */
	struct pool_pos *pos;	/* conf->max_workers places */
	int64_t last_spawn_ns;	/* dynamic sizing: pace of growth */
	int spawn_rate;		/* dynamic sizing: workers per step */
	/* max_requests: a successor starts first; the old worker serves until it is ready. */
	int recycle_old;	/* slot being recycled, -1 none */
	int recycle_new;	/* slot of its successor (in no place yet), -1 none */
	int recycle_failures;	/* successors that died before ready, in a row */
	int64_t recycle_next_ns;	/* next attempt after such a failure */
};

enum gen_state { GEN_STARTING, GEN_ACTIVE, GEN_DRAINING };

struct generation {
	unsigned id;
	struct pf_config *conf;
	struct service *svcs;
	int nsvcs;
	enum gen_state state;
	int64_t deadline_ns;	/* starting: ready by; draining: SIGKILL at */
	int live;		/* workers not yet reaped */
	int startup;		/* the first generation: failure ends the master */
	int slot_shortage;	/* spawns that found no free scoreboard slot */
};

/* Why a worker ended, as prefork_worker_exits_total counts it. */
enum exit_reason { EXIT_STOP = 0, EXIT_CRASH, EXIT_RECYCLE, EXIT_WATCHDOG, EXIT_MEMORY,
		   EXIT_NREASONS };

struct worker_rec {
	pid_t pid;
	struct generation *gen;
	int svc;		/* index into gen->svcs */
	int pos;		/* index into the service's pool, -1 when detached */
	int ready;
	int exiting;		/* the master told it to stop: not a crash */
	int recycling;		/* retired for max_requests */
	int reason;		/* enum exit_reason once retired for a reason */
	int64_t started_ns;
	int64_t kill_at_ns;	/* SIGKILL if still alive then (0: never) */
};

struct control_client {
	int fd;
	char line[512];
	size_t len;
	int64_t deadline_ns;
	int waiting_reload;	/* answered when the reload ends */
	int pending;		/* its command went to the master, not yet answered */
};

struct master {
	const struct pf_handler *const *extra;
	char *conf_path;
	struct pf_config *conf;		/* of the serving generation */
	struct generation *active, *starting, *draining;
	unsigned next_gen;
	struct listener listeners[MAX_LISTENERS];
	int nlisteners;
	struct worker_rec workers[SB_MAX_SLOTS];
	int sig_fd;
	int ready_pipe[2];
	int control_fd;
	int64_t control_backoff_ns;	/* accept() ran out of descriptors: retry then */
	int control_accept_errors;	/* in the current burst (logged once) */
	char control_path[sizeof(((struct sockaddr_un *)0)->sun_path)];	/* ours; "": none */
	struct control_client clients[MAX_CONTROL_CLIENTS];
	int reload_pending;		/* SIGHUPs coalesce into one */
	int upgrade_pending;		/* SIGUSR2 during a reload: started when it ends */
	char reload_result[1200];	/* "ok" or "failed: ..." of the last reload */
	int stopping;			/* 1 graceful */
	int64_t stop_deadline_ns;
	int handed_over;		/* an upgraded master took our sockets */
	pid_t pid;
	int upgrade_fd;			/* read end: the new master's "ready" */
	pid_t upgrade_child;
	int64_t upgrade_deadline_ns;
	int upgrade_notify_fd;		/* we are the new master: tell the old one */
	int startup_failed;		/* the first generation never got ready */
	int exit_now;			/* fast stop done */
	int report_fd;			/* daemon mode: start-up outcome goes here */
	int lame_duck;			/* draining: the agent says drain, health 503 */
	int64_t drain_stop_ns;		/* a graceful stop waits for this (drain_delay) */
};

/* spawn.c */
int spawn_worker(struct master *m, struct generation *g, int svc, int pos);	/* slot, or -1 */
void spawn_maintain(struct master *m, struct generation *g, int64_t now);
void spawn_signal_gen(struct master *m, struct generation *g, int sig, int64_t kill_at);
void spawn_retire(struct master *m, int slot, int sig, int64_t kill_at);
int spawn_gen_ready(struct master *m, struct generation *g);
void spawn_read_ready(struct master *m);
int64_t spawn_next_event(struct master *m, struct generation *g, int64_t now);
void spawn_check_deadlines(struct master *m, int64_t now);
void spawn_watchdog(struct master *m, int64_t now);
int spawn_throttled(struct service *s, int64_t now);

/* reap.c */
/* A child that ended, as reap_child found it; the master decides what it means. */
struct reap_death {
	pid_t pid;
	int slot;			/* -1: not one of our workers */
	struct generation *gen;
	int svc;			/* index into gen->svcs */
	int ready;			/* it had reached accept() */
	int exiting;			/* the master had told it to stop: not a crash */
	int init_failed;		/* exit status WORKER_EXIT_INIT */
	enum exit_reason why;
	char how[128];			/* "exited with status 3 (handler init failed)" */
};
/* Reap one child into *d: 1, or 0 when none is left. Its record stays until reap_release. */
int reap_child(struct master *m, struct reap_death *d);
/* An unexpected death: log it, and refill its place at once or after a back-off. */
void reap_crashed(struct master *m, const struct reap_death *d, int64_t now);
/* Free the dead worker's place, record and slot. */
void reap_release(struct master *m, const struct reap_death *d, int64_t now);

/* generation.c */
/* Build g for conf and bind its listeners (set as m->starting); NULL with err. */
struct generation *generation_create(struct master *m, struct pf_config *conf, char *err,
				     size_t errlen);
/* Publish g's services (name, real address, handler) to the scoreboard. */
void generation_publish(struct master *m, struct generation *g);
/* Close the master's copy of every listener no live generation but except uses. */
void generation_prune_listeners(struct master *m, const struct generation *except);
void generation_free(struct master *m, struct generation *g);

/* reload.c */
/* A reload is wanted (SIGHUP, `reload`): start it now or when nothing is in the way. */
void reload_request(struct master *m);
/* Start a pending reload if nothing is in the way; otherwise it waits its turn. */
void reload_start(struct master *m);
/* The starting generation is ready (ok) or failed for reason: commit or drop it. */
void reload_done(struct master *m, int ok, const char *reason);

/* master.c */
/* Be the master of configuration c (taken) until it stops; an exit status. */
int master_run(const char *conf_path, const struct pf_handler *const *handlers,
	       struct pf_config *c, int daemon_mode, const char *argv0);
int master_resize(struct master *m, const char *name, int delta, char *msg, size_t msglen);

/* upgrade.c: SIGUSR2 binary upgrade; it reports, master.c decides */
enum upgrade_event { UPGRADE_NONE, UPGRADE_READY, UPGRADE_FAILED };
void upgrade_start(struct master *m);
/* The new master's pipe is readable: READY (its pid in *new_master), FAILED or NONE. */
enum upgrade_event upgrade_readable(struct master *m, pid_t *new_master);
enum upgrade_event upgrade_tick(struct master *m, int64_t now);	/* FAILED when late */
void upgrade_started(struct master *m);	/* the new master is ready */
extern char *upgrade_exe, *upgrade_conf;
extern int upgrade_daemon;			/* started with -d: so is the new master */

/* inherit.c: sockets from systemd (LISTEN_FDS) or an old master (upgrade) */
/* In the upgrade's child before exec: name every socket in the environment. */
void inherit_export(struct master *m, int notify_fd);
/* At start-up: adopt them; 1 when an old master handed its sockets over. */
int inherit_listeners(struct master *m);

/* control.c */
int control_open(struct master *m, const char *path);
void control_close(struct master *m, int unlink_path);
void control_adopt(struct master *m, int fd, const char *path);
int control_pollfds(struct master *m, struct pollfd *fds, int max);
enum control_kind { CONTROL_STATUS, CONTROL_STATUS_JSON, CONTROL_RELOAD, CONTROL_DRAIN,
		   CONTROL_UNDRAIN, CONTROL_RESIZE };
/* A command line parsed: what the master must do and answer. */
struct control_cmd {
	enum control_kind kind;
	int client;		/* whom to answer: control_reply, control_wait_reload */
	char name[128];		/* CONTROL_RESIZE: the service */
	int delta;		/* CONTROL_RESIZE: +N or -N */
};
/* Accept and read clients; up to max commands into cmds, their count. */
int control_handle(struct master *m, const struct pollfd *fds, int n, struct control_cmd *cmds,
		   int max);
/* Answer a command's client (and close it). */
void control_reply(struct master *m, int client, const char *text, size_t len);
/* The client's reload is under way: control_reload_done answers it. */
void control_wait_reload(struct master *m, int client);
void control_reload_done(struct master *m, const char *result);
int64_t control_next_deadline(struct master *m);

/* metrics.c: GET /metrics (Prometheus text, OpenMetrics) */
void metrics_worker_exit(struct master *m, int slot, enum exit_reason why);
void metrics_reload_done(int ok);
int metrics_render(struct master *m, struct buf *out, int openmetrics);

/* endpoints.c: the master's TCP doors: the metrics address and agent checks */
#define ENDPOINTS_MAX_FDS (1 + CONF_MAX_SERVICES + 16)
int endpoints_apply(const struct pf_config *c, char *err, size_t errlen);
int endpoints_pollfds(struct master *m, struct pollfd *fds, int max);
void endpoints_handle(struct master *m, const struct pollfd *fds, int n);
int64_t endpoints_next_deadline(void);
void endpoints_close(struct master *m);		/* at exit */
void endpoints_export(void);			/* upgrade: in the child before exec */
void endpoints_inherit(void);			/* upgrade: in the new master */

/* agent.c: HAProxy's agent-check answer, drain */
void agent_answer(struct master *m, const char *svc, char *out, size_t len);
void agent_tick(struct master *m, int64_t now);	/* sample idle ratios */
double agent_smooth(double prev, double sample, double dt, double tau);
int agent_weight(double idle_ratio);

/* drain.c: lame-duck drain */
void drain_set(struct master *m, int on, const char *why);
int drain_hold_stop(struct master *m, int64_t now);	/* 1: stop waits (drain_delay) */
int drain_stop_due(struct master *m, int64_t now);

/* rss.c: max_rss */
void rss_watchdog(struct master *m, int64_t now);

/* notify.c: systemd's sd_notify protocol, without libsystemd */
void notify_send(const char *fmt, ...) PF_PRINTF_ATTR(1, 2);
void notify_tick(struct master *m, int64_t now);	/* STATUS= on change, at most 1/s */

#endif /* PREFORK_MASTER_H */
