/*
 * http_path.c - from a request target to an open file beneath the root.
 *
 * http_path_normalize is pure: it percent-decodes the path and resolves
 * "." and ".." textually, refusing anything that could name a file outside
 * the root. http_path_open then opens the result relative to the root's
 * descriptor with openat2(RESOLVE_BENEATH), so that a symbolic link cannot
 * lead out either; where openat2 is missing, it walks the path one
 * component at a time with O_NOFOLLOW and refuses every symbolic link.
 */
#include "handlers/http_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Bytes that end a run of plain path bytes: a separator, an escape, the query or fragment, NUL. */
static const unsigned char path_stop[256] = {
	[0] = 1, ['/'] = 1, ['%'] = 1, ['?'] = 1, ['#'] = 1,
};

int http_path_normalize(const char *target, size_t len, char *out, size_t outlen,
			int *trailing_slash)
{
	size_t o = 0, i;

	if (outlen == 0)
		return 414;
	if (len == 0 || target[0] != '/')
		return 400;

	/*
	 * One segment at a time: its decoded bytes are written at seg in out,
	 * after a '/' when out already holds one; a segment that turns out to
	 * be empty, "." or ".." is then taken back. The path ends at the end,
	 * or at '?' or '#'. Plain bytes are copied a run at a time.
	 */
	*trailing_slash = 0;
	i = 1;
	for (;;) {
		size_t seg = o > 0 ? o + 1 : 0;
		size_t w = seg;
		for (;;) {
			size_t r = i;
			while (r < len && !path_stop[(unsigned char)target[r]])
				r++;
			if (r > i) {
				if (w + (r - i) >= outlen)
					return 414;
				memcpy(out + w, target + i, r - i);
				w += r - i;
				i = r;
			}
			if (i == len || target[i] != '%')
				break;
			int hi = i + 2 < len ? hex_value((unsigned char)target[i + 1]) : -1;
			int lo = hi >= 0 ? hex_value((unsigned char)target[i + 2]) : -1;
			if (lo < 0)
				return 400;
			int c = hi * 16 + lo;
			/* An encoded slash would let a segment hide a separator. */
			if (c == 0 || c == '/')
				return 400;
			i += 3;
			if (w + 1 >= outlen)
				return 414;
			out[w++] = (char)c;
		}
		if (i < len && target[i] == '\0')
			return 400;
		size_t slen = w - seg;
		if (slen == 0 || (slen == 1 && out[seg] == '.')) {
			*trailing_slash = 1;
		} else if (slen == 2 && out[seg] == '.' && out[seg + 1] == '.') {
			if (o == 0)
				return 400;	/* above the root */
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;	/* the separator before the dropped segment */
			*trailing_slash = 1;
		} else {
			if (seg > 0)
				out[o] = '/';
			o = w;
			*trailing_slash = 0;
		}
		if (i == len || target[i] != '/')
			break;	/* the end, or '?' or '#' */
		i++;	/* the '/' */
	}
	out[o] = '\0';
	return 0;
}

/* pchar of RFC 3986 less '%': unreserved, sub-delims, ':' and '@'. */
static int is_pchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("-._~!$&'()*+,;=:@", c) != NULL);
}

/* Append c to out[*o..outlen), %XX-encoded unless `keep`; -1 when full. */
static int put_char(char *out, size_t outlen, size_t *o, int c, int keep)
{
	static const char hex[] = "0123456789ABCDEF";
	if (keep) {
		if (*o + 1 >= outlen)
			return -1;
		out[(*o)++] = (char)c;
		return 0;
	}
	if (*o + 3 >= outlen)
		return -1;
	out[(*o)++] = '%';
	out[(*o)++] = hex[(c >> 4) & 15];
	out[(*o)++] = hex[c & 15];
	return 0;
}

size_t http_path_location(const char *rel, const char *target, size_t len, char *out,
			  size_t outlen)
{
	size_t o = 0, q = 0, end;

	if (put_char(out, outlen, &o, '/', 1) < 0)
		return 0;
	for (size_t i = 0; rel[i]; i++) {
		int c = (unsigned char)rel[i];
		if (put_char(out, outlen, &o, c, c == '/' || is_pchar(c)) < 0)
			return 0;
	}
	if (rel[0] && put_char(out, outlen, &o, '/', 1) < 0)
		return 0;
	/* The query as sent, up to a fragment; what is not a query byte is encoded. */
	while (q < len && target[q] != '?' && target[q] != '#')
		q++;
	for (end = q; end < len && target[end] != '#'; end++)
		;
	for (size_t i = q; i < end; i++) {
		int c = (unsigned char)target[i];
		int keep = is_pchar(c) || c == '/' || c == '?' ||
			   (c == '%' && i + 2 < end && hex_value((unsigned char)target[i + 1]) >= 0 &&
			    hex_value((unsigned char)target[i + 2]) >= 0);
		if (put_char(out, outlen, &o, c, keep) < 0)
			return 0;
	}
	out[o] = '\0';
	return o;
}

static int status_of_errno(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case ENAMETOOLONG:
		return 404;
	case EACCES:
	case EPERM:
	case ELOOP:	/* a symbolic link where none is allowed */
	case EXDEV:	/* a symbolic link out of the root */
	case ENXIO:	/* a socket, or a FIFO with no writer */
	case ENODEV:
		return 403;
	default:
		return 500;
	}
}

/* Without openat2: one component at a time, no symbolic links at all. */
static int open_walk(int rootfd, const char *rel, int flags)
{
	char comp[NAME_MAX + 1];
	int dirfd = rootfd;

	for (;;) {
		const char *slash = strchr(rel, '/');
		size_t n = slash ? (size_t)(slash - rel) : strlen(rel);
		if (n > NAME_MAX) {
			if (dirfd != rootfd)
				close(dirfd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, rel, n);
		comp[n] = '\0';
		int fd = openat(dirfd, comp,
				slash ? O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC :
					flags | O_NOFOLLOW);
		/* O_DIRECTORY | O_NOFOLLOW says ENOTDIR for a symbolic link: 403 as with openat2. */
		struct stat st;
		if (fd < 0 && errno == ENOTDIR && slash &&
		    fstatat(dirfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			errno = ELOOP;
		int saved = errno;
		if (dirfd != rootfd)
			close(dirfd);
		if (fd < 0) {
			errno = saved;
			return -1;
		}
		if (!slash)
			return fd;
		dirfd = fd;
		rel = slash + 1;
	}
}

int http_path_open(int rootfd, const char *rel, int *status)
{
	/* O_NONBLOCK: a FIFO must not hang the worker in open(). */
	int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd;

	if (rel[0] == '\0')
		rel = ".";
#ifdef SYS_openat2
	static int no_openat2;
	if (!no_openat2) {
		struct open_how how;
		memset(&how, 0, sizeof(how));
		how.flags = (unsigned long long)flags;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		/* A kernel or a seccomp filter without openat2: walk instead. */
		if (errno != ENOSYS && errno != EPERM) {
			*status = status_of_errno(errno);
			return -1;
		}
		if (errno == ENOSYS)
			no_openat2 = 1;
	}
#endif
	fd = open_walk(rootfd, rel, flags);
	if (fd < 0)
		*status = status_of_errno(errno);
	return fd;
}
