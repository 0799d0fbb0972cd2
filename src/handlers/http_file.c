/*
 * http_file.c - the http handler's answer to a GET or HEAD of a file.
 *
 * The request path is resolved beneath the root (an index file for a
 * directory) through the worker's open-file cache (http_cache.c): a hit
 * younger than cache_valid costs no system call; an older one is
 * revalidated by opening and fstat-ing the path again, and replaced when
 * the file changed, vanished or appeared. A cached small file keeps its
 * bytes in memory; a larger one keeps its descriptor open for sendfile;
 * a path that failed (301, 403, 404) keeps its status.
 *
 * Then: If-None-Match (304, before If-Modified-Since), Range with If-Range
 * (206, 416), a precompressed "file.gz" for clients that accept gzip when
 * gzip_static is on, and the body from memory in one writev or from the
 * descriptor with sendfile, both through the engine's response calls. A
 * file that shrinks while it is sent ends the connection: the head already
 * promised more bytes.
 *
 * Entry points: http_file_serve, http_file_cache_init, http_file_cache_fini.
 */
#include "handlers/http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The last byte of a cache key: what kind of lookup it was. */
enum {
	KEY_FILE = 'f',		/* "/a/b" */
	KEY_DIR = 'd',		/* "/a/b/" */
	KEY_GZIP = 'z'		/* the precompressed twin of a resolved file name */
};

/* An entry in hand for one request, and who must free it. */
struct pick {
	struct http_cache_entry *e;
	struct http_cache_entry scratch;	/* the cache is off: st's buffers */
	int owned;				/* 1: e is not in the cache */
};

void http_file_cache_init(struct http_state *st)
{
	const struct http_static_conf *c = &st->conf;
	http_cache_init(&st->cache, (size_t)c->cache_size, (size_t)c->cache_files,
			c->cache_valid);
}

void http_file_cache_fini(struct http_state *st)
{
	http_cache_fini(&st->cache);
}

static int cache_on(const struct http_state *st)
{
	return st->cache.budget > 0 && st->cache.max_entries > 0;
}

/* Read len bytes at off; returns the bytes read (fewer at the end of the file), or -1. */
static ssize_t read_at(int fd, char *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * Open what a key names, into st->path: the file, a directory's index
 * file, or (KEY_GZIP) a file name's ".gz" twin. Returns the descriptor with
 * *sb filled in, or -1 with *status set (301: the caller builds the
 * Location; 500: errno says why).
 */
static int open_key(struct http_state *st, const char *key, size_t klen, struct stat *sb,
		    int *status)
{
	size_t idx = strlen(st->conf.index);
	int kind = (unsigned char)key[klen - 1];
	size_t plen = klen - 1;

	memcpy(st->path, key, plen);
	st->path[plen] = '\0';
	int fd = http_path_open(st->rootfd, st->path, status);
	if (fd < 0)
		return -1;
	if (fstat(fd, sb) < 0) {
		*status = 500;
		goto fail;
	}
	if (S_ISDIR(sb->st_mode) && kind != KEY_GZIP) {
		close(fd);
		if (kind != KEY_DIR) {
			*status = 301;
			return -1;
		}
		if (idx == 0) {
			*status = 403;	/* no index, and no listings */
			return -1;
		}
		if (plen > 0)
			st->path[plen++] = '/';
		memcpy(st->path + plen, st->conf.index, idx + 1);
		fd = http_path_open(st->rootfd, st->path, status);
		if (fd < 0) {
			if (*status == 404)
				*status = 403;	/* a directory without its index */
			return -1;
		}
		if (fstat(fd, sb) < 0) {
			*status = 500;
			goto fail;
		}
	} else if (kind == KEY_DIR && S_ISREG(sb->st_mode)) {
		/* "/file.txt/" names a directory that is not there. */
		*status = 404;
		goto fail;
	}
	if (!S_ISREG(sb->st_mode)) {
		*status = kind == KEY_GZIP ? 404 : 403;	/* devices, FIFOs, sockets */
		goto fail;
	}
	*status = 0;
	return fd;
fail:
	close(fd);
	return -1;
}

static void file_id(const struct stat *sb, struct http_file_id *id)
{
	memset(id, 0, sizeof(*id));
	id->dev = sb->st_dev;
	id->ino = sb->st_ino;
	id->size = (long long)sb->st_size;
	id->mtime_sec = (long long)sb->st_mtim.tv_sec;
	id->mtime_nsec = (long long)sb->st_mtim.tv_nsec;
}

/* What the response needs of a resolved file, computed once per entry. */
static void describe(struct http_cache_entry *e, const struct stat *sb, const char *name,
		     size_t name_len)
{
	file_id(sb, &e->id);
	e->etag_len = http_etag_format(e->id.mtime_sec, (unsigned long long)e->id.size, e->etag);
	http_time_format((time_t)e->id.mtime_sec, e->last_modified);
	e->content_type = http_mime_type(name, name_len);
}

/*
 * Resolve a key afresh into p: through the cache when it is on (a new
 * entry; a small file's bytes read now), else into p->scratch. fd and
 * status come from open_key. Returns 0, or -1 (status 500) when out of
 * memory or the read failed.
 */
static int fill(struct http_state *st, struct pick *p, const char *key, size_t klen, int fd,
		int status, const struct stat *sb, int64_t now)
{
	size_t name_len = status == 0 ? strlen(st->path) : 0;
	if (!cache_on(st)) {
		struct http_cache_entry *e = &p->scratch;
		memset(e, 0, sizeof(*e));
		e->status = status;
		e->fd = fd;
		e->name = st->path;
		e->name_len = name_len;
		if (status == 0)
			describe(e, sb, st->path, name_len);
		p->e = e;
		p->owned = 1;
		return 0;
	}
	size_t body = status == 0 && sb->st_size <= HTTP_SMALL_FILE ? (size_t)sb->st_size : 0;
	struct http_cache_entry *e = http_cache_entry_new(key, klen, name_len, body);
	if (!e) {
		if (fd >= 0)
			close(fd);
		errno = ENOMEM;
		return -1;
	}
	e->status = status;
	if (status == 0) {
		memcpy(e->name, st->path, name_len + 1);
		e->name_len = name_len;
		describe(e, sb, e->name, name_len);
		if (body) {
			ssize_t got = read_at(fd, e->body, body, 0);
			close(fd);
			if (got < 0) {
				http_cache_entry_free(e);
				return -1;
			}
			/* Shrunk since fstat: serve what is there; revalidation sees the change. */
			e->body_len = (size_t)got;
		} else if (sb->st_size == 0) {
			close(fd);
			e->body = e->name + name_len;	/* an empty file: nothing to read */
		} else {
			e->fd = fd;
		}
	}
	p->e = e;
	p->owned = http_cache_insert(&st->cache, e, now) < 0;
	return 0;
}

/*
 * The entry for a key: a fresh cached one, a revalidated one, or a new one.
 * now: the request's clock (its head was in), so a hit reads no clock.
 * Returns 0 with p->e set, or -1 (answer 500, errno says why).
 */
static int lookup(struct http_state *st, struct pick *p, const char *key, size_t klen,
		  int64_t now)
{
	struct http_cache_entry *e = NULL;
	p->e = NULL;
	p->owned = 0;
	if (cache_on(st)) {
		e = http_cache_find(&st->cache, key, klen);
		if (e && http_cache_fresh(&st->cache, e, now)) {
			p->e = e;
			return 0;
		}
	}
	struct stat sb;
	int status = 500;
	memset(&sb, 0, sizeof(sb));
	int fd = open_key(st, key, klen, &sb, &status);
	if (status == 500)
		return -1;
	if (e) {
		struct http_file_id id;
		if (status == 0)
			file_id(&sb, &id);
		if (status == e->status && (status != 0 || http_cache_same(&id, &e->id))) {
			/* Unchanged: the entry lives on for another cache_valid. */
			if (fd >= 0)
				close(fd);
			e->checked_ns = now;
			p->e = e;
			return 0;
		}
		http_cache_remove(&st->cache, e);
	}
	return fill(st, p, key, klen, fd, status, &sb, now);
}

static void release(struct pick *p)
{
	if (!p->e || !p->owned)
		return;
	if (p->e == &p->scratch) {
		if (p->e->fd >= 0)
			close(p->e->fd);
	} else {
		http_cache_entry_free(p->e);
	}
	p->e = NULL;
}

/* The header lines every answer about a file carries: validators, Vary. */
static void put_validators(struct http_out *o, const struct http_cache_entry *f, int vary)
{
	HTTP_OUT_LIT(o, "Last-Modified: ");
	http_out_put(o, f->last_modified, HTTP_DATE_LEN);
	HTTP_OUT_LIT(o, "\r\nETag: ");
	http_out_put(o, f->etag, f->etag_len);
	HTTP_OUT_LIT(o, "\r\n");
	if (vary)
		HTTP_OUT_LIT(o, "Vary: Accept-Encoding\r\n");
}

static void put_type(struct http_out *o, const char *ctype)
{
	HTTP_OUT_LIT(o, "Content-Type: ");
	http_out_str(o, ctype);
	HTTP_OUT_LIT(o, "\r\n");
}

/* After Content-Type (and Content-Range): encoding, ranges, validators. */
static void put_file_fields(struct http_out *o, const struct http_cache_entry *f, int gzip,
			    int vary)
{
	if (gzip)
		HTTP_OUT_LIT(o, "Content-Encoding: gzip\r\n");
	HTTP_OUT_LIT(o, "Accept-Ranges: bytes\r\n");
	put_validators(o, f, vary);
}

/*
 * A whole 200 of f in memory: its header lines from Content-Type through
 * Content-Length, built into the entry on first use (for one entry ctype,
 * gzip and vary never change: a .gz twin has its own entry, vary is the
 * service's). 0 when they do not fit.
 */
static size_t built_fields(struct http_cache_entry *f, const char *ctype, int gzip, int vary)
{
	if (!f->fields_len) {
		struct http_out o = { f->fields, 0, sizeof(f->fields) };
		put_type(&o, ctype);
		put_file_fields(&o, f, gzip, vary);
		HTTP_OUT_LIT(&o, "Content-Length: ");
		http_out_num(&o, f->body_len);
		HTTP_OUT_LIT(&o, "\r\n");
		if (o.len < o.cap)	/* a full buffer may have cut a line */
			f->fields_len = o.len;
	}
	return f->fields_len;
}

/* Is the client's copy current (304)? If-None-Match, else If-Modified-Since. */
static int not_modified(struct http_engine *e, const struct http_request *req,
			const struct http_cache_entry *f)
{
	time_t ims;
	if (req->if_none_match.len)
		return http_etag_none_match(req->if_none_match.ptr, req->if_none_match.len,
					    f->etag, f->etag_len);
	if (!req->if_modified_since.len)
		return 0;
	http_date_update(e);
	return http_time_parse(req->if_modified_since.ptr, req->if_modified_since.len,
			       &ims) == 0 &&
	       f->id.mtime_sec <= (long long)ims && ims <= e->date_now;
}

/*
 * Send file f (ctype: its Content-Type; gzip: it is the .gz twin; vary:
 * the answer depends on Accept-Encoding). Returns -1 when the connection
 * is lost or must close.
 */
static int send_file(struct pf_http *h, struct http_state *st, struct http_cache_entry *f,
		     const char *ctype, int gzip, int vary)
{
	const struct http_request *req = &h->req;
	unsigned long long size = f->body ? f->body_len : (unsigned long long)f->id.size;
	unsigned long long first = 0, len = size;
	struct http_out o = http_response_fields(h);
	int status = 200;

	if (not_modified(h->eng, req, f)) {
		put_validators(&o, f, vary);
		http_response_fields_done(h, &o);
		h->status = 304;
		return pf_http_send(h, NULL, 0);
	}
	if (req->range.len && req->method == HTTP_METHOD_GET &&
	    (!req->if_range.len || http_etag_if_range(req->if_range.ptr, req->if_range.len,
						       f->etag, f->etag_len, f->id.mtime_sec))) {
		struct http_range r;
		switch (http_range_parse(req->range.ptr, req->range.len, size, &r)) {
		case HTTP_RANGE_ONE:
			status = 206;
			first = r.first;
			len = r.last - r.first + 1;
			break;
		case HTTP_RANGE_UNSATISFIABLE:
			HTTP_OUT_LIT(&o, "Content-Range: bytes */");
			http_out_num(&o, size);
			HTTP_OUT_LIT(&o, "\r\n");
			put_validators(&o, f, vary);
			http_response_fields_done(h, &o);
			h->status = 416;
			return pf_http_send(h, NULL, 0);
		case HTTP_RANGE_IGNORE:
			break;
		}
	}

	/* A whole file in memory: its head was built once, with the entry. */
	if (status == 200 && f->body && built_fields(f, ctype, gzip, vary))
		return http_response_send_built(h, f->fields, f->fields_len, f->body, f->body_len);
	const char *mem = f->body ? f->body + first : NULL;
	if (!mem && !h->head_only && len <= HTTP_SMALL_FILE) {
		ssize_t got = read_at(f->fd, st->body, (size_t)len, (off_t)first);
		if (got < 0) {
			pf_log(PF_LOG_ERROR, "http: read %s/%s: %s", st->conf.root, f->name,
			       strerror(errno));
			return http_response_error(h, 500);
		}
		if ((unsigned long long)got < len) {
			/* Shrunk since fstat: a whole file is sent as it is now. */
			if (status != 200)
				return http_response_error(h, 500);
			len = size = (unsigned long long)got;
		}
		mem = st->body;
	}

	put_type(&o, ctype);
	if (status == 206) {
		HTTP_OUT_LIT(&o, "Content-Range: bytes ");
		http_out_num(&o, first);
		HTTP_OUT_LIT(&o, "-");
		http_out_num(&o, first + len - 1);
		HTTP_OUT_LIT(&o, "/");
		http_out_num(&o, size);
		HTTP_OUT_LIT(&o, "\r\n");
	}
	put_file_fields(&o, f, gzip, vary);
	http_response_fields_done(h, &o);
	h->status = status;
	if (mem || h->head_only)
		return pf_http_send(h, mem, (size_t)len);
	/* EIO from sendfile: the file shrank under us; the connection cannot go on. */
	return pf_http_send_file(h, f->fd, (off_t)first, (size_t)len);
}

int http_file_serve(struct pf_http *h, struct http_state *st)
{
	const struct http_request *req = &h->req;
	struct pick file, twin;
	int status, r;

	/*
	 * The engine's path: "/" + normalised, with a trailing slash for a
	 * directory; the key is it without either slash, and the kind byte.
	 * path_cap keeps room for "/index", ".gz" and that byte.
	 */
	const char *path = pf_http_path(h);
	size_t plen = h->path_len;
	int dir = path[plen - 1] == '/';
	size_t klen = plen - 1 - (dir && plen > 1);
	memcpy(st->key, path + 1, klen);
	st->key[klen++] = (char)(dir ? KEY_DIR : KEY_FILE);
	if (lookup(st, &file, st->key, klen, h->head_ns) < 0) {
		pf_log(PF_LOG_ERROR, "http: open %s/%s: %s", st->conf.root, st->path,
		       strerror(errno));
		return http_response_error(h, 500);
	}
	struct http_cache_entry *f = file.e;
	if (f->status) {
		status = f->status;
		release(&file);
		/* A cache hit left st->path as it was: the Location is built from it. */
		memcpy(st->path, st->key, klen - 1);
		st->path[klen - 1] = '\0';
		if (status == 301 && http_path_location(st->path, req->target.ptr, req->target.len,
							st->location, st->location_cap) > 0) {
			struct http_out o = http_response_fields(h);
			HTTP_OUT_LIT(&o, "Location: ");
			http_out_str(&o, st->location);
			HTTP_OUT_LIT(&o, "\r\n");
			http_response_fields_done(h, &o);
		} else if (status == 301) {
			status = 500;
		}
		return http_response_error(h, status);
	}

	/* The twin's lookup below may evict: not this one. */
	file.e->pinned = 1;
	const char *ctype = f->content_type;
	int vary = st->conf.gzip_static, gzip = 0;
	twin.e = NULL;
	twin.owned = 0;
	if (vary && req->accept_encoding.len &&
	    http_gzip_accepted(req->accept_encoding.ptr, req->accept_encoding.len)) {
		/* file.gz beside file: its key is the resolved name. */
		memcpy(st->key, f->name, f->name_len);
		memcpy(st->key + f->name_len, ".gz", 3);
		st->key[f->name_len + 3] = (char)KEY_GZIP;
		if (lookup(st, &twin, st->key, f->name_len + 4, h->head_ns) == 0 &&
		    twin.e->status == 0) {
			f = twin.e;
			gzip = 1;
		}
	}
	r = send_file(h, st, f, ctype, gzip, vary);
	file.e->pinned = 0;
	release(&twin);
	release(&file);
	return r;
}
