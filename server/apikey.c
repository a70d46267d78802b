/* apikey.c - reading and validating the API key (see apikey.h). */
#include <errno.h>
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apikey.h"
#include "provider.h"

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
ssize_t apikey_file_read(const char *path, char *buf, size_t max, mode_t *mode)
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
	while (got <= max) {
		n = read(fd, buf + got, max + 1 - got);
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
	n = got > max ? -EFBIG : (ssize_t)got;
out:
	close(fd);
	return n;
}

/* $CREDENTIALS_DIRECTORY/name into path; 0 when there is no credentials directory
 * (or the path would not fit). */
static int credential_path(const char *name, char *path, size_t size)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	int n;

	if (!dir || dir[0] != '/')
		return 0;
	n = snprintf(path, size, "%s/%s", dir, name);
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
	ssize_t n = apikey_file_read(path, buf, APIKEY_FILE_MAX, &mode);

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

/* Where k's key is read from: a file (*path set; *what names it), or an environment
 * variable (*path NULL, *what its name, into env). name_buf holds composed names. */
struct key_place {
	const char *path;       /* a file to read, or NULL */
	const char *what;       /* for messages and the log */
	char var[64];           /* THREATBL_NAME_KEY */
	char cred_name[64];     /* threatbl-NAME-key */
	char cred[4096];
	char what_buf[128];
};

/* The first of: the provider's key file (for Criminal IP also [intel] api-key-file),
 * the credential threatbl-NAME-key, (Criminal IP: the credential threatbl-api-key),
 * $THREATBL_NAME_KEY, (Criminal IP: $THREATBL_API_KEY) - doc/configuration.md#the-api-key. */
static void key_place(const struct config *cfg, const struct provider_kind *k,
		      struct key_place *pl)
{
	const int legacy = k == provider_default();
	struct config_prov cp;
	size_t i;

	memset(pl, 0, sizeof(*pl));
	snprintf(pl->cred_name, sizeof(pl->cred_name), "threatbl-%s-key", k->name);
	snprintf(pl->var, sizeof(pl->var), "THREATBL_%s_KEY", k->name);
	for (i = 0; pl->var[i]; i++)
		pl->var[i] = (char)toupper((unsigned char)pl->var[i]);
	if (config_provider_get(cfg, k, &cp) == 0 && cp.key_file) {
		pl->path = cp.key_file;
		if (legacy && cp.key_file == cfg->api_key_file) {
			pl->what = "api-key-file";
		} else {
			snprintf(pl->what_buf, sizeof(pl->what_buf), "[provider %s] key-file",
				 k->name);
			pl->what = pl->what_buf;
		}
		return;
	}
	if (credential_path(pl->cred_name, pl->cred, sizeof(pl->cred)) &&
	    credential_present(pl->cred)) {
		snprintf(pl->what_buf, sizeof(pl->what_buf), "the credential %s", pl->cred_name);
		pl->path = pl->cred;
		pl->what = pl->what_buf;
		return;
	}
	if (legacy && credential_path(APIKEY_CREDENTIAL, pl->cred, sizeof(pl->cred)) &&
	    credential_present(pl->cred)) {
		pl->path = pl->cred;
		pl->what = "the credential " APIKEY_CREDENTIAL;
		return;
	}
	pl->what = pl->var;
	if (legacy && !getenv(pl->var))
		pl->what = "THREATBL_API_KEY";
}

int apikey_read_for(const struct config *cfg, const struct provider_kind *k,
		    config_report_fn report, void *arg, char **key)
{
	char buf[APIKEY_FILE_MAX + 1], msg[256];
	struct key_place pl;
	const char *raw, *kk;
	size_t len, klen, bad;
	ssize_t n;
	int err = 0;

	*key = NULL;
	if (!k)
		return -EINVAL;
	key_place(cfg, k, &pl);
	if (pl.path) {
		n = read_reported(pl.path, pl.what, report, arg, buf);
		if (n < 0)
			return (int)n;
		raw = buf;
		len = (size_t)n;
	} else {
		raw = getenv(pl.what);
		if (!raw)
			return 0;
		len = strlen(raw);
	}
	if (apikey_clean(raw, len, &kk, &klen, &bad)) {
		snprintf(msg, sizeof(msg),
			 "the API key has a byte that is not printable ASCII (or a space) at "
			 "position %zu of %zu: keys are visible ASCII only", bad, klen);
		report(arg, CONFIG_ERROR, pl.path ? pl.path : pl.what, 0, msg);
		err = -EINVAL;
		goto out;
	}
	if (klen && !(*key = strndup(kk, klen)))
		err = -ENOMEM;
out:
	explicit_bzero(buf, sizeof(buf));
	return err;
}

int apikey_read(const struct config *cfg, config_report_fn report, void *arg, char **key)
{
	return apikey_read_for(cfg, provider_default(), report, arg, key);
}

const char *apikey_source_for(const struct config *cfg, const struct provider_kind *k)
{
	/* the names apikey_source always gave, returned as the same literals */
	static const char cred[] = "the credential " APIKEY_CREDENTIAL;
	static const char *const fixed[] = { "api-key-file", cred, "THREATBL_API_KEY" };
	struct key_place pl;

	/* a static string for the log: the composed names are kept by kind */
	static char names[CONFIG_PROVIDERS_MAX * 3][96];
	size_t row;

	if (!k)
		return "none";
	key_place(cfg, k, &pl);
	for (size_t i = 0; i < 3; i++)
		if (strcmp(pl.what, fixed[i]) == 0)
			return fixed[i];
	for (row = 0; provider_at(row) && provider_at(row) != k; row++)
		;
	row = row * 3 + (pl.path == pl.cred ? 1 : pl.path ? 0 : 2);
	if (row >= sizeof(names) / sizeof(names[0]))
		return "its key";
	snprintf(names[row], sizeof(names[row]), "%s", pl.what);
	return names[row];
}

const char *apikey_source(const struct config *cfg)
{
	return apikey_source_for(cfg, provider_default());
}

void apikey_free(char *key)
{
	if (!key)
		return;
	explicit_bzero(key, strlen(key));
	free(key);
}
