/* feed_keep.c - a feed's kept copy on disk (see feed_keep.h). */
#include "feed_keep.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FEED_META_MAX 4096

/* The directory exists (made 0750 when missing) and is not a symbolic link. */
static int ensure_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Read a regular file (no symbolic link, no FIFO) of at most max bytes. */
static int read_file(const char *path, uint64_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, err = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

/* Write path atomically: PATH.tmp (created 0640, never through a link), fsync,
 * rename, fsync of the directory. */
static int write_file(const char *dir, const char *path, const char *data, size_t len)
{
	char tmp[4096];
	size_t done = 0;
	int fd, dfd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if (unlink(tmp) < 0 && errno != ENOENT)
		return -errno;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0640) < 0)
		err = -errno;
	while (!err && done < len) {
		ssize_t w = write(fd, data + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			err = -errno;
		else
			done += (size_t)w;
	}
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* A header value as kept: printable ASCII only, else dropped. */
void feed_keep_header(char *dst, const char *v)
{
	size_t n = v ? strlen(v) : 0;

	dst[0] = '\0';
	if (!v || n >= FEED_HDR_MAX)
		return;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return;
	memcpy(dst, v, n + 1);
}

static void meta_parse(char *text, struct feed_meta *m)
{
	char *save = NULL;

	memset(m, 0, sizeof(*m));
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "etag ", 5) == 0)
			feed_keep_header(m->etag, l + 5);
		else if (strncmp(l, "last-modified ", 14) == 0)
			feed_keep_header(m->last_modified, l + 14);
		else if (strncmp(l, "fetched ", 8) == 0)
			m->fetched = strtoll(l + 8, NULL, 10);
	}
}

static int meta_write(const char *dir, const char *name, const struct feed_meta *m)
{
	char path[4096], text[FEED_META_MAX];
	int n;

	snprintf(path, sizeof(path), "%s/%s.meta", dir, name);
	n = snprintf(text, sizeof(text), "etag %s\nlast-modified %s\nfetched %" PRId64 "\n",
		     m->etag, m->last_modified, m->fetched);
	return write_file(dir, path, text, (size_t)n);
}

int feed_keep_read(const char *dir, const char *name, uint64_t max_size, char **body,
		   size_t *len, struct feed_meta *m, char *why, size_t whylen)
{
	char path[4096], *meta = NULL;
	size_t mlen;
	int err;

	*body = NULL;
	*len = 0;
	memset(m, 0, sizeof(*m));
	if ((err = ensure_dir(dir)) < 0) {
		snprintf(why, whylen, "directory %.150s: %s", dir, strerror(-err));
		return err;
	}
	snprintf(path, sizeof(path), "%s/%s.meta", dir, name);
	err = read_file(path, FEED_META_MAX, &meta, &mlen);
	if (err == -ENOENT)
		return err;
	if (err < 0) {
		snprintf(why, whylen, "%.150s: %s", path,
			 err == -ELOOP ? "a symbolic link: refused" : strerror(-err));
		return err;
	}
	meta_parse(meta, m);
	free(meta);
	snprintf(path, sizeof(path), "%s/%s.data", dir, name);
	err = read_file(path, max_size, body, len);
	if (err < 0) {
		snprintf(why, whylen, "%.150s: %s", path,
			 err == -ELOOP ? "a symbolic link: refused" :
			 err == -EFBIG ? "larger than max-size" : strerror(-err));
		return err == -ENOENT ? -ENODATA : err;
	}
	return 0;
}

int feed_keep_write(const char *dir, const char *name, const char *body, size_t len,
		    const struct feed_meta *m)
{
	char path[4096];
	int err;

	if ((err = ensure_dir(dir)) < 0)
		return err;
	if (body) {
		snprintf(path, sizeof(path), "%s/%s.data", dir, name);
		if ((err = write_file(dir, path, body, len)) < 0)
			return err;
	}
	return meta_write(dir, name, m);
}
