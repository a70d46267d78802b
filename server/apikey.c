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

/* $CREDENTIALS_DIRECTORY/threatbl-api-key into path; 0 when there is no credentials
 * directory (or the path would not fit). */
static int credential_path(char *path, size_t size)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	int n;

	if (!dir || dir[0] != '/')
		return 0;
	n = snprintf(path, size, "%s/%s", dir, APIKEY_CREDENTIAL);
	return n > 0 && (size_t)n < size;
}

/* The credential counts when it is a file with something in it: the packaged
 * tmpfiles.d entry makes an empty one, so that the unit starts before a key is
 * written, and it must not hide $THREATBL_API_KEY. */
static int credential_present(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > 0);
}

/* The key file at path (what names it in messages) into buf; its length, or a
 * negative errno after report()ing why. */
static ssize_t read_reported(const char *path, const char *what, config_report_fn report,
			     void *arg, char *buf)
{
	char msg[256];
	mode_t mode = 0;
	ssize_t n = read_key_file(path, buf, &mode);

	if (n == -EFBIG) {
		snprintf(msg, sizeof(msg), "%s is larger than %d bytes", what, APIKEY_FILE_MAX);
		report(arg, CONFIG_ERROR, path, 0, msg);
		return n;
	}
	if (n == -EINVAL) {
		snprintf(msg, sizeof(msg), "%s is not a regular file", what);
		report(arg, CONFIG_ERROR, path, 0, msg);
		return n;
	}
	if (n < 0) {
		snprintf(msg, sizeof(msg), "cannot read %s: %s", what, strerror((int)-n));
		report(arg, CONFIG_ERROR, path, 0, msg);
		return n;
	}
	if (mode & 077) {
		snprintf(msg, sizeof(msg), "%s is readable or writable by "
			 "%s (mode %04o): make it 0600 or 0400, owned by root", what,
			 (mode & 070) && (mode & 007) ? "its group and others" :
			 mode & 070 ? "its group" : "others", (unsigned)(mode & 07777));
		report(arg, CONFIG_WARNING, path, 0, msg);
	}
	return n;
}

int apikey_read(const struct config *cfg, config_report_fn report, void *arg, char **key)
{
	char buf[APIKEY_FILE_MAX + 1], msg[256], cred[4096];
	const char *raw, *what, *k;
	size_t len, klen, bad;
	ssize_t n;
	int err = 0;

	*key = NULL;
	if (cfg->api_key_file || (credential_path(cred, sizeof(cred)) &&
				  credential_present(cred))) {
		what = cfg->api_key_file ? cfg->api_key_file : cred;
		n = read_reported(what, cfg->api_key_file ? "api-key-file" :
				  "the credential " APIKEY_CREDENTIAL, report, arg, buf);
		if (n < 0)
			return (int)n;
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

const char *apikey_source(const struct config *cfg)
{
	char cred[4096];

	if (cfg->api_key_file)
		return "api-key-file";
	if (credential_path(cred, sizeof(cred)) && credential_present(cred))
		return "the credential " APIKEY_CREDENTIAL;
	return "THREATBL_API_KEY";
}

void apikey_free(char *key)
{
	if (!key)
		return;
	explicit_bzero(key, strlen(key));
	free(key);
}
