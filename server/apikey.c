/* apikey.c - reading and validating the API key (see apikey.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apikey.h"

static int is_ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int apikey_clean(const char *raw, size_t len, const char **start, size_t *klen,
		 size_t *bad_pos)
{
	while (len && is_ascii_space(*raw)) {
		raw++;
		len--;
	}
	while (len && is_ascii_space(raw[len - 1]))
		len--;
	*start = raw;
	*klen = len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];

		/* It goes into an HTTP header as a token: visible ASCII only. */
		if (c <= 0x20 || c >= 0x7f) {
			*bad_pos = i + 1;
			return -EINVAL;
		}
	}
	return 0;
}

/* The whole file (at most APIKEY_FILE_MAX bytes) into buf; its length, or -errno. */
static ssize_t read_key_file(const char *path, char *buf, mode_t *mode)
{
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	/* A FIFO or a device would never end or block: regular files only. */
	{
		struct stat st;

		if (fstat(fd, &st)) {
			n = -errno;
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			n = -EINVAL;
			goto out;
		}
		*mode = st.st_mode;
	}
	while (got <= APIKEY_FILE_MAX) {
		n = read(fd, buf + got, APIKEY_FILE_MAX + 1 - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	n = got > APIKEY_FILE_MAX ? -EFBIG : (ssize_t)got;
out:
	close(fd);
	return n;
}

int apikey_read(const struct config *cfg, config_report_fn report, void *arg, char **key)
{
	char buf[APIKEY_FILE_MAX + 1], msg[256];
	const char *raw, *what, *k;
	size_t len, klen, bad;
	int err = 0;

	*key = NULL;
	if (cfg->api_key_file) {
		mode_t mode = 0;
		ssize_t n = read_key_file(cfg->api_key_file, buf, &mode);

		what = cfg->api_key_file;
		if (n == -EFBIG) {
			report(arg, CONFIG_ERROR, what, 0, "api-key-file is larger than 4096 bytes");
			return -EFBIG;
		}
		if (n == -EINVAL) {
			report(arg, CONFIG_ERROR, what, 0, "api-key-file is not a regular file");
			return -EINVAL;
		}
		if (n < 0) {
			snprintf(msg, sizeof(msg), "cannot read api-key-file: %s", strerror((int)-n));
			report(arg, CONFIG_ERROR, what, 0, msg);
			return (int)n;
		}
		if (mode & 077) {
			snprintf(msg, sizeof(msg), "api-key-file is readable or writable by "
				 "%s (mode %04o): make it 0600 or 0400, owned by root",
				 (mode & 070) && (mode & 007) ? "its group and others" :
				 mode & 070 ? "its group" : "others", (unsigned)(mode & 07777));
			report(arg, CONFIG_WARNING, what, 0, msg);
		}
		raw = buf;
		len = (size_t)n;
	} else {
		what = "THREATBL_API_KEY";
		raw = getenv("THREATBL_API_KEY");
		if (!raw)
			return 0;
		len = strlen(raw);
	}
	if (apikey_clean(raw, len, &k, &klen, &bad)) {
		snprintf(msg, sizeof(msg),
			 "the API key has a byte that is not printable ASCII (or a space) at "
			 "position %zu of %zu: keys are visible ASCII only", bad, klen);
		report(arg, CONFIG_ERROR, what, 0, msg);
		err = -EINVAL;
		goto out;
	}
	if (klen && !(*key = strndup(k, klen)))
		err = -ENOMEM;
out:
	explicit_bzero(buf, sizeof(buf));
	return err;
}

void apikey_free(char *key)
{
	if (!key)
		return;
	explicit_bzero(key, strlen(key));
	free(key);
}
