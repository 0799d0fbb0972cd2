/*
 * http_mime.c - Content-Type by file extension, as nginx's mime.types
 * would answer for the common ones; anything else is
 * application/octet-stream.
 */
#include "handlers/http_parse.h"

#include <string.h>

static const struct {
	const char *ext;
	const char *type;
} mime_types[] = {
	{ "html", "text/html" },
	{ "htm", "text/html" },
	{ "shtml", "text/html" },
	{ "css", "text/css" },
	{ "js", "application/javascript" },
	{ "mjs", "application/javascript" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "txt", "text/plain" },
	{ "md", "text/markdown" },
	{ "csv", "text/csv" },
	{ "xml", "text/xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "svg", "image/svg+xml" },
	{ "svgz", "image/svg+xml" },
	{ "ico", "image/x-icon" },
	{ "webp", "image/webp" },
	{ "avif", "image/avif" },
	{ "bmp", "image/bmp" },
	{ "tif", "image/tiff" },
	{ "tiff", "image/tiff" },
	{ "pdf", "application/pdf" },
	{ "wasm", "application/wasm" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf", "font/ttf" },
	{ "otf", "font/otf" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "ogv", "video/ogg" },
	{ "mp3", "audio/mpeg" },
	{ "ogg", "audio/ogg" },
	{ "wav", "audio/wav" },
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
	{ "tar", "application/x-tar" },
	{ "rss", "application/rss+xml" },
	{ "atom", "application/atom+xml" },
};

const char *http_mime_type(const char *name, size_t len)
{
	size_t dot = len;

	while (dot > 0 && name[dot - 1] != '.' && name[dot - 1] != '/')
		dot--;
	/* No dot, or a dot file such as ".profile" with no extension. */
	if (dot == 0 || name[dot - 1] != '.' || dot == 1 || name[dot - 2] == '/')
		return "application/octet-stream";
	const char *ext = name + dot;
	size_t elen = len - dot;
	for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++) {
		const char *e = mime_types[i].ext;
		if (strlen(e) != elen)
			continue;
		size_t k;
		for (k = 0; k < elen; k++) {
			char c = ext[k];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c + ('a' - 'A'));
			if (c != e[k])
				break;
		}
		if (k == elen)
			return mime_types[i].type;
	}
	return "application/octet-stream";
}
