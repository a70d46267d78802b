/* feed_keep.c - a feed's kept copy: DIR/NAME.data (the body as downloaded) and
 * DIR/NAME.meta (ETag, Last-Modified, the unix time a fetch last confirmed it).
 *
 * Written data first, then meta, each through NAME.EXT.tmp (created 0640 with O_EXCL
 * and O_NOFOLLOW), fsync, rename and an fsync of DIR, so that a crash leaves the old
 * copy or the new one, never half of one. Read only from regular files (no symbolic
 * link, no FIFO) within the size cap. DIR is made 0750 when missing and must not be a
 * symbolic link. Blocking file I/O: call it on the thread pool (feed.c), never on a
 * loop. */
#ifndef THREATBL_FEED_KEEP_H
#define THREATBL_FEED_KEEP_H

#include <stddef.h>
#include <stdint.h>

#define FEED_HDR_MAX 256 /* a kept header value, with its NUL */

struct feed_meta {
	char etag[FEED_HDR_MAX];          /* "" when none */
	char last_modified[FEED_HDR_MAX]; /* "" when none */
	int64_t fetched;
};

/* Read the kept copy: *body (malloc'd, NUL-terminated; caller frees) and *m. 0;
 * -ENOENT when there is none (no meta file, nothing said); else a negative errno
 * with one sentence in why (a symbolic link: -ELOOP; over max_size: -EFBIG). */
int feed_keep_read(const char *dir, const char *name, uint64_t max_size, char **body,
		   size_t *len, struct feed_meta *m, char *why, size_t whylen);

/* Keep body[0..len) and m; body NULL: m only (a 304). 0 or a negative errno. */
int feed_keep_write(const char *dir, const char *name, const char *body, size_t len,
		    const struct feed_meta *m);

/* Copy a response header's value into dst (FEED_HDR_MAX bytes) when it is printable
 * ASCII that fits; else dst is "". v may be NULL. */
void feed_keep_header(char *dst, const char *v);

#endif
