/*
 * prefork.h - the public API of libprefork.
 *
 * A server built on libprefork supplies one or more handler tables; the
 * library supplies the rest of the process model: configuration, listening
 * sockets, a master that forks, supervises, reloads and stops a pool of
 * workers per service, and workers that accept connections and pass each one
 * to the service's handler.
 *
 *	static int hello(struct pf_conn *c, void *state)
 *	{
 *		(void)state;
 *		return pf_conn_printf(c, "hello %s\n", pf_conn_peer(c)) < 0 ? -1 : 0;
 *	}
 *	static const struct pf_handler hello_handler = {
 *		.abi = PF_ABI_VERSION, .name = "hello", .handle = hello,
 *	};
 *	int main(int argc, char **argv)
 *	{
 *		const struct pf_handler *const handlers[] = { &hello_handler, NULL };
 *		return pf_main(argc, argv, handlers);
 *	}
 *
 * A module is a shared object that exports
 *	const struct pf_handler pf_module = { ... };
 * and is named in server.conf with `module = "path.so"`; the service's
 * `handler` must equal the table's name.
 *
 * Every type is opaque: the layout of connections, workers and settings can
 * change without breaking handlers compiled against an older header, as long
 * as PF_ABI_VERSION stays the same.
 */
#ifndef PREFORK_H
#define PREFORK_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PF_API __attribute__((visibility("default")))
#define PF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PF_API
#define PF_PRINTF(f, a)
#endif

/*
 * The version of struct pf_handler and of the callbacks' meaning. A table
 * says which version it was built for in its first field; the library
 * reads only the fields that version has. Version 1 tables (the seven
 * fields up to `reopen`) still load: version 2 only appended fields.
 */
#define PF_ABI_VERSION 2

/* The symbol a module exports: const struct pf_handler pf_module. */
#define PF_MODULE_SYMBOL "pf_module"

struct pf_conn;		/* one accepted connection */
struct pf_worker;	/* the calling worker process */
struct pf_settings;	/* the handler's block in server.conf */
struct pf_http;		/* one HTTP request and its response (ABI 2) */
struct pf_setting;	/* one entry of a handler's settings table */

struct pf_handler {
	unsigned abi;		/* PF_ABI_VERSION */
	const char *name;	/* what `handler = "..."` names */

	/*
	 * Optional. Validate the handler's settings block in the master (at
	 * start, on `-t` and on reload). Report problems with the pf_settings
	 * getters or pf_settings_error(); return non-zero when any was found.
	 */
	int (*check)(const struct pf_settings *settings);

	/*
	 * Optional. Runs in each worker after fork, before its first accept().
	 * Non-zero means the worker cannot serve: start-up or reload fails.
	 */
	int (*init)(struct pf_worker *worker, const struct pf_settings *settings,
		    void **state);

	/*
	 * Serve one connection; the library closes it afterwards. Exactly one
	 * of `handle` and `handle_http` is set. Non-zero means the connection
	 * failed: logged at warn with errno, counted as handler_errors in the
	 * status.
	 */
	int (*handle)(struct pf_conn *conn, void *state);

	/* Optional. Runs when the worker exits normally. */
	void (*fini)(struct pf_worker *worker, void *state);

	/* Optional. Reopen the handler's own log files (SIGUSR1). */
	void (*reopen)(struct pf_worker *worker, void *state);

	/* ---- ABI 2: read only from tables whose abi is 2 or more ---- */

	/*
	 * Serve one HTTP request instead of a raw connection: the library
	 * runs its HTTP/1.1 engine (the one of the `http` handler) and calls
	 * this once per request; see "HTTP applications" below. Non-zero:
	 * as for `handle`, and the request gets a 500 when nothing was sent
	 * yet, or its connection is closed.
	 */
	int (*handle_http)(struct pf_http *http, void *state);

	/*
	 * Optional (added in the room of `reserved`: a table built before it
	 * reads as NULL here). Runs in the worker every `tick_interval`
	 * seconds (a service setting, default 1; 0 turns it off) while the
	 * worker is idle: waiting in accept() or between two requests of a
	 * kept-alive connection (pf_conn_read_idle, the HTTP engine), never
	 * in the middle of a request; for cache refreshes or backend
	 * heartbeats. The first runs one interval after init; a busy worker
	 * runs it late. The worker wakes with SIGALRM (ITIMER_REAL) for it:
	 * a handler with `tick` must leave alarm() and that timer alone.
	 */
	void (*tick)(struct pf_worker *worker, void *state);

	/*
	 * Optional (in the room of `reserved` too). The handler's settings as
	 * a table ending with a NULL key (see "declarative settings" below):
	 * the library then checks the block (unknown keys, types, ranges,
	 * allowed values) with FILE:LINE errors at start, on -t and on
	 * reload, with no check() code, and init reads the values with the
	 * pf_settings_get_* getters. A check() may still add its own checks.
	 */
	const struct pf_setting *settings;

	/*
	 * Room for fields later versions append; keep it zero (a designated
	 * initialiser does). A field added here reads as NULL from a table
	 * built with this header, so it needs no new ABI version.
	 */
	void *reserved[8];
};

/*
 * Run the whole daemon: command line (-c -t -d -s -v -h), configuration,
 * master, workers and signals. `handlers` is a NULL-terminated array (NULL
 * for none); the built-in handlers (echo, http, status) stay available
 * unless one of the given handlers has the same name. Returns the process's
 * exit status.
 */
PF_API int pf_main(int argc, char **argv, const struct pf_handler *const *handlers);

/*
 * pf_main for a program of its own: -v prints "NAME VERSION (prefork X)",
 * -h names the program and `default_config`, and without -c the
 * configuration is read from `default_config`. NULL for any of the three
 * keeps preforkd's.
 */
PF_API int pf_main_program(int argc, char **argv, const struct pf_handler *const *handlers,
			   const char *name, const char *version, const char *default_config);

/* ---- connections ---- */

/*
 * Read up to `len` bytes, waiting at most the service's read_timeout.
 * Returns the count, 0 at end of input, -1 with errno set (ETIMEDOUT when
 * the deadline passed). While the client has sent nothing at all (and the
 * handler has written nothing), -1 with EAGAIN means it gave its worker up:
 * silent for 0.5 s (its time in the listen queue included) with another
 * client queued and no worker free. Close it; that is not a handler error.
 */
PF_API ssize_t pf_conn_read(struct pf_conn *conn, void *buf, size_t len);

/* As pf_conn_read, but waiting at most `timeout` seconds (<= 0: forever). */
PF_API ssize_t pf_conn_read_timeout(struct pf_conn *conn, void *buf, size_t len,
				    double timeout);

/*
 * For the wait between two requests of a kept-alive connection: as
 * pf_conn_read_timeout, but returns -1 with errno EAGAIN when another
 * client is queued for this service and no worker is free to take it. The
 * handler should then close this idle connection, so that a pre-fork pool
 * is not starved by idle keep-alive clients.
 */
PF_API ssize_t pf_conn_read_idle(struct pf_conn *conn, void *buf, size_t len, double timeout);
/*
 * (Stop-aware: once the worker is told to stop or retire, an idle
 * pf_conn_read_idle returns -1 with errno ESHUTDOWN at once; bytes the
 * client had already sent are still returned.)
 */

/*
 * Buffered reads (a read-ahead buffer of 4096 bytes in the connection;
 * every pf_conn_read* call hands out buffered bytes first, so these mix
 * freely with plain reads, over TLS too).
 *
 * pf_conn_readline: read one line, up to and including its '\n', into
 * buf (at most size - 1 bytes, then a NUL). Returns the line's length; a
 * last line cut by end of input is returned without '\n'; 0 at end of
 * input; -1 with errno EMSGSIZE when no '\n' came within size - 1 bytes
 * (those bytes are consumed: close the connection), or the error of
 * pf_conn_read (ETIMEDOUT ...). Each wait is bounded as pf_conn_read's.
 *
 * pf_conn_peek: copy up to `len` bytes that the next read would return,
 * without consuming them (reading once when nothing is buffered). Returns
 * the count, 0 at end of input, -1 with errno.
 *
 * pf_conn_unread: push `len` bytes back in front of the input; 0, or -1
 * with errno ENOBUFS when the buffer has no room for them.
 */
PF_API ssize_t pf_conn_readline(struct pf_conn *conn, char *buf, size_t size);
PF_API ssize_t pf_conn_peek(struct pf_conn *conn, void *buf, size_t len);
PF_API int pf_conn_unread(struct pf_conn *conn, const void *buf, size_t len);

/*
 * A deadline `seconds` from now for all further waits on the connection
 * (reads and writes, on top of read_timeout/write_timeout): once it has
 * passed every wait fails with ETIMEDOUT, so a slow client cannot hold a
 * request open forever. Set it at the start of each request; <= 0 clears.
 *
 * While a deadline is set (and always inside an HTTP request) the
 * connection is in a request: once the worker is told to stop, each wait
 * gets a short grace (1 s, or half of what is left of shutdown_timeout,
 * whichever is shorter) and then fails with ETIMEDOUT instead of waiting
 * read_timeout; a request whose bytes keep coming is never cut.
 */
PF_API void pf_conn_set_deadline(struct pf_conn *conn, double seconds);

/*
 * Write all `len` bytes, each wait for buffer space bounded by
 * write_timeout. Returns `len` or -1 with errno set.
 */
PF_API ssize_t pf_conn_write(struct pf_conn *conn, const void *buf, size_t len);
PF_API ssize_t pf_conn_writev(struct pf_conn *conn, const struct iovec *iov, int iovcnt);

/* Send `len` bytes of file `fd` from `offset` (sendfile(2)); all or -1. */
PF_API ssize_t pf_conn_sendfile(struct pf_conn *conn, int fd, off_t offset, size_t len);

PF_API int pf_conn_printf(struct pf_conn *conn, const char *fmt, ...) PF_PRINTF(2, 3);

/*
 * TLS on this connection (a service with a `tls` block), or NULL when the
 * connection is plain. The strings live as long as the connection; `sni`
 * and `alpn` are "" when the client sent none or none was agreed.
 */
struct pf_tls_info {
	const char *protocol;	/* "TLSv1.2", "TLSv1.3" */
	const char *cipher;	/* "TLS_AES_256_GCM_SHA384", ... */
	const char *sni;	/* the server name the client asked for */
	const char *alpn;	/* "http/1.1" */
	int resumed;		/* the session was resumed (no full handshake) */
};
PF_API const struct pf_tls_info *pf_conn_tls(struct pf_conn *conn);

/* The data socket (non-blocking), for handlers that need their own system calls. */
PF_API int pf_conn_fd(const struct pf_conn *conn);

/* The client, as text: "127.0.0.1:5000", "[::1]:5000" or "unix". */
PF_API const char *pf_conn_peer(const struct pf_conn *conn);

/* The client's address only, without the port ("127.0.0.1", "::1", "unix"). */
PF_API const char *pf_conn_peer_host(const struct pf_conn *conn);

PF_API struct pf_worker *pf_conn_worker(struct pf_conn *conn);

/* ---- workers ---- */

/* Non-zero once the worker has been told to stop or retire gracefully. */
PF_API int pf_worker_stopping(const struct pf_worker *worker);
/*
 * A file descriptor that becomes readable (and stays so) once the worker
 * is told to stop or retire: for a handler that polls its own sockets.
 * Poll it for POLLIN, never read or close it. -1 outside a worker.
 */
PF_API int pf_worker_stop_fd(const struct pf_worker *worker);
/* Non-zero when a client waits in the accept queue and no worker is idle. */
PF_API int pf_worker_pending(const struct pf_worker *worker);
PF_API const char *pf_worker_service(const struct pf_worker *worker);
PF_API unsigned pf_worker_generation(const struct pf_worker *worker);

/* ---- HTTP applications (handle_http, ABI 2) ---- */

/*
 * A handler with `handle_http` gets requests, not connections: the library
 * reads and checks each request head (the `http` handler's engine: keep-
 * alive, pipelining, header_timeout, keepalive_timeout, max_header_size,
 * 4xx answers, access log, idle keep-alive connections yielding to queued
 * clients) and calls handle_http once per request. The engine's keys go in
 * the service's `http` block, whose `root` (optional) serves static files
 * for every path outside `mount`:
 *
 *	{ name = "web"; listen = "127.0.0.1:8080"; handler = "notes";
 *	  module = "notes.so"; http = { root = "www"; mount = "/api"; }; }
 *
 * Every pointer a request call returns stays valid until handle_http
 * returns. The library allocates nothing per request.
 */

/* "GET", "POST", ... as sent. */
PF_API const char *pf_http_method(const struct pf_http *http);
/* The request target as sent: "/a%20b?x=1". */
PF_API const char *pf_http_target(const struct pf_http *http);
/* The path, percent-decoded and normalised ("." and ".." resolved): "/a b". */
PF_API const char *pf_http_path(const struct pf_http *http);
/* The path below the mount point ("/notes" for "/api/notes" under "/api"). */
PF_API const char *pf_http_path_info(const struct pf_http *http);
/* The query string without '?', not decoded; "" when there is none. */
PF_API const char *pf_http_query(const struct pf_http *http);
/* 11 for HTTP/1.1, 10 for HTTP/1.0. */
PF_API int pf_http_version(const struct pf_http *http);
/* The first header called `name` (any case), or NULL. */
PF_API const char *pf_http_header(const struct pf_http *http, const char *name);
/* The n-th (from 0) header called `name`: repeated headers each stay visible. */
PF_API const char *pf_http_header_nth(const struct pf_http *http, const char *name, int n);
/* Every header in order: 0 with *name and *value set, -1 past the last. */
PF_API int pf_http_header_at(const struct pf_http *http, int i, const char **name,
			     const char **value);
/* The client's address ("127.0.0.1"; from the PROXY header when there is one). */
PF_API const char *pf_http_peer(const struct pf_http *http);
PF_API struct pf_conn *pf_http_conn(struct pf_http *http);

/*
 * The body's Content-Length; -1 for a chunked body (length unknown), 0
 * when there is none. A Content-Length over the `max_body_size` setting is
 * answered 413 before handle_http is called.
 */
PF_API long long pf_http_body_length(const struct pf_http *http);
/*
 * Read up to `len` bytes of the body (Content-Length or chunked; "100
 * Continue" is sent first when the client asked for it). Returns the count,
 * 0 at its end, -1 with errno: EMSGSIZE past max_body_size (the library
 * answers 413 when no response was sent), EPROTO for a malformed chunked
 * body (400), ETIMEDOUT when the body is slower than the `body_timeout` and
 * `body_min_rate` settings allow (408), ECONNRESET. A body the handler does not read is
 * drained after it returns, or the connection is closed: it is never taken
 * for a next request.
 */
PF_API ssize_t pf_http_read(struct pf_http *http, void *buf, size_t len);
/*
 * The whole body into buf (NUL-terminated: at most cap - 1 bytes). Returns
 * its length, or -1 with errno (EMSGSIZE when it does not fit).
 */
PF_API ssize_t pf_http_read_body(struct pf_http *http, char *buf, size_t cap);

/*
 * The response. The status defaults to 200. Content-Length, Date,
 * Connection and Transfer-Encoding are the library's: adding one fails
 * with EPERM ("Connection: close" is allowed and closes the connection
 * after the response). A HEAD request gets the head alone. Each call
 * returns 0, or -1 with errno (EINVAL, ENOSPC once the headers no longer
 * fit in 8 KiB plus 3 x max_header_size, EALREADY once the head is sent,
 * or the write's error).
 */
PF_API int pf_http_set_status(struct pf_http *http, int status);
PF_API int pf_http_add_header(struct pf_http *http, const char *name, const char *value);
/* The whole body at once, with its Content-Length. */
PF_API int pf_http_send(struct pf_http *http, const void *body, size_t len);
/* `len` bytes of file `fd` from `offset`, with sendfile(2); the caller closes fd. */
PF_API int pf_http_send_file(struct pf_http *http, int fd, off_t offset, size_t len);
/*
 * Stream the body: the first call sends the head, chunked for HTTP/1.1
 * and delimited by closing the connection for HTTP/1.0; the stream ends
 * when handle_http returns.
 */
PF_API int pf_http_write(struct pf_http *http, const void *buf, size_t len);
/* One call for a complete response: status, Content-Type and body. */
PF_API int pf_http_respond(struct pf_http *http, int status, const char *content_type,
			   const void *body, size_t len);
/* A complete application/json response; the body is printf-formatted. */
PF_API int pf_http_json(struct pf_http *http, int status, const char *fmt, ...) PF_PRINTF(3, 4);

/* ---- settings: the handler's block in server.conf ---- */

/*
 * Each getter stores the value of `key` (or `def` when the key is absent)
 * in *out and returns 0; a value of the wrong type or out of range is
 * recorded as a `FILE:LINE: message` error and returns -1.
 */
PF_API int pf_settings_string(const struct pf_settings *s, const char *key,
			      const char *def, const char **out);
PF_API int pf_settings_int(const struct pf_settings *s, const char *key,
			   long long def, long long min, long long max, long long *out);
PF_API int pf_settings_double(const struct pf_settings *s, const char *key,
			      double def, double min, double max, double *out);
PF_API int pf_settings_bool(const struct pf_settings *s, const char *key,
			    int def, int *out);
/* A path; relative ones resolve against the configuration file's folder. */
PF_API int pf_settings_path(const struct pf_settings *s, const char *key,
			    const char *def, char *out, size_t outlen);
/* Record an error about `key` (NULL: the block itself) at its line. */
PF_API void pf_settings_error(const struct pf_settings *s, const char *key,
			      const char *fmt, ...) PF_PRINTF(3, 4);

/*
 * Declarative settings: a handler's `settings` table, for example
 *
 *	static const char *const modes[] = { "fast", "slow", NULL };
 *	static const struct pf_setting my_settings[] = {
 *		{ .key = "greeting", .type = PF_SETTING_STRING, .def = "hello" },
 *		{ .key = "count", .type = PF_SETTING_INT, .def_number = 3,
 *		  .min = 1, .max = 10 },
 *		{ .key = "mode", .type = PF_SETTING_STRING, .def = "fast",
 *		  .allowed = modes },
 *		{ .key = NULL },
 *	};
 *
 * A key of the block that is not in the table, a value of the wrong type,
 * out of [min, max] or not among `allowed` is a FILE:LINE error: -t fails,
 * start-up fails, a reload fails and changes nothing. A table that cannot
 * work (a key twice, min above max, a default outside the range or not
 * allowed, an unknown type) is reported at the handler's block.
 */
enum pf_setting_type {
	PF_SETTING_STRING = 1,	/* a string; with `allowed`, one of those */
	PF_SETTING_INT,		/* an integer in [min, max] */
	PF_SETTING_DOUBLE,	/* a number (an integer too) in [min, max] */
	PF_SETTING_BOOL,	/* true or false */
	PF_SETTING_PATH,	/* a string; relative paths resolve against the config's folder */
};

struct pf_setting {
	const char *key;		/* NULL ends the table */
	enum pf_setting_type type;
	const char *def;		/* STRING, PATH: the default (NULL: "") */
	double def_number;		/* INT, DOUBLE: the default; BOOL: non-zero is true */
	double min, max;		/* INT, DOUBLE: the range; both 0: any value */
	const char *const *allowed;	/* STRING: NULL-terminated allowed values, or NULL: any */
};

/*
 * The value of a key of the table: the configured one (checked already) or
 * the table's default. For a key the table lacks, or of another type: 0,
 * "" (pf_settings_get_path: -1) with errno ENOENT, and an error logged.
 * Strings live as long as the worker.
 */
PF_API const char *pf_settings_get_string(const struct pf_settings *s, const char *key);
PF_API long long pf_settings_get_int(const struct pf_settings *s, const char *key);
PF_API double pf_settings_get_double(const struct pf_settings *s, const char *key);
PF_API int pf_settings_get_bool(const struct pf_settings *s, const char *key);
/* A PATH key, resolved, into out; 0, or -1 when it does not fit. */
PF_API int pf_settings_get_path(const struct pf_settings *s, const char *key, char *out,
				size_t outlen);

/* ---- logging (the server's error_log) ---- */

enum pf_log_level { PF_LOG_ERROR, PF_LOG_WARN, PF_LOG_INFO, PF_LOG_DEBUG };

PF_API void pf_log(enum pf_log_level level, const char *fmt, ...) PF_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif

#endif /* PREFORK_H */
