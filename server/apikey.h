/* apikey.c - the API key: where it is read from, and the one rule for what it may hold.
 *
 * The key comes from [intel] api-key-file or, without one, from the systemd credential
 * threatbl-api-key ($CREDENTIALS_DIRECTORY/threatbl-api-key, when that file is not
 * empty) or else from $THREATBL_API_KEY (doc/configuration.md#the-api-key). One
 * validator serves `-t`, the start, a reload and the provider backends, so that a key `-t` accepts is a key lookups use: surrounding
 * ASCII white space (a file's trailing newline) is trimmed, and every other byte must
 * be printable ASCII other than the space (0x21-0x7e); anything else (a pasted no-break
 * space, a tab inside, a control character) is refused with its position. No message
 * here or from a caller ever contains the key. */
#ifndef THREATBL_APIKEY_H
#define THREATBL_APIKEY_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* Largest key file read, in bytes. */
#define APIKEY_FILE_MAX 4096

/* The credential's name: LoadCredential=threatbl-api-key:PATH in the unit. */
#define APIKEY_CREDENTIAL "threatbl-api-key"

/* Trim raw (len bytes) and check what is left. 0: *start and *klen delimit the key
 * inside raw (*klen may be 0: no key). -EINVAL: *bad_pos is the 1-based position of the
 * first refused byte in the trimmed key. */
int apikey_clean(const char *raw, size_t len, const char **start, size_t *klen,
		 size_t *bad_pos);

/* Read the key of cfg: the file when api-key-file is set, else the credential, else
 * $THREATBL_API_KEY. 0 with *key NULL when there is none, 0 with *key a new string
 * (free with apikey_free), or a negative errno after report()ing why (naming the file
 * or the variable, never the key): -errno when the file cannot be read, -EFBIG when it
 * is too large, -EINVAL for a refused byte or a file that is not a regular one,
 * -ENOMEM. */
int apikey_read(const struct config *cfg, config_report_fn report, void *arg, char **key);

/* Where apikey_read takes the key of cfg from, for the log: "api-key-file", "the
 * credential threatbl-api-key" or "THREATBL_API_KEY" (a static string). Looks at the
 * credential's size: one stat(2). */
const char *apikey_source(const struct config *cfg);

/* The key of provider k: its [provider NAME] key-file (Criminal IP: or [intel]
 * api-key-file), else the credential threatbl-NAME-key, else $THREATBL_NAME_KEY
 * (NAME upper-cased); for Criminal IP, the credential threatbl-api-key and
 * $THREATBL_API_KEY come after its own names. Returns as apikey_read. */
struct provider_kind;
int apikey_read_for(const struct config *cfg, const struct provider_kind *k,
		    config_report_fn report, void *arg, char **key);

/* Where apikey_read_for takes k's key from, for the log (a string that stays valid:
 * static, or kept per provider and place; not thread-safe between two threads
 * asking about the same provider at once, which the server never does). */
const char *apikey_source_for(const struct config *cfg, const struct provider_kind *k);

/* Read a secret file (a key, a password) of at most max bytes into buf, which has
 * room for max + 1: a regular file only, opened without blocking, so that a FIFO or
 * a device can neither hang the start nor never end. The bytes read (not terminated),
 * -EINVAL when it is not a regular file, -EFBIG when larger than max, or -errno.
 * *mode: its mode bits (to warn about a file others can read). */
ssize_t apikey_file_read(const char *path, char *buf, size_t max, mode_t *mode);

/* Wipe and free a key from apikey_read (NULL is fine). */
void apikey_free(char *key);

#endif
