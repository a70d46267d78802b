/* dbcmd.c - the `threatbl db` commands that steer verdicts and move them in and out
 * (doc/operations.md#managing-verdicts): purge, recheck, allow, add, unset,
 * overrides, prune, export, import.
 *
 * The write commands go to the running threatbld through its control socket when one
 * answers there (ctlclient.h), so that they take effect at once; when none is
 * listening (or with --offline) they write the database file (-d) directly, and a
 * running daemon sees the change at its next start. */
#ifndef THREATBL_DBCMD_H
#define THREATBL_DBCMD_H

#include <stddef.h>
#include <stdint.h>

struct dbcmd_opts {
	const char *path;  /* -d: the database file or postgresql:// URI, or NULL */
	const char *password_file; /* -p: the URI's password, or NULL */
	const char *sock;  /* -s: the control socket, or NULL */
	const char *conf;  /* -c: the configuration naming it, or NULL */
	int offline;       /* --offline: the file, even with a daemon running */
};

/* Whether cmd is one of this file's. */
int dbcmd_knows(const char *cmd);

/* Run argv[0] (a command dbcmd_knows) with its arguments: the tool's exit status. */
int dbcmd_run(const struct dbcmd_opts *o, int argc, char **argv);

/* Shared with dbexport.c. */
struct override;
struct store;

/* Reads ISO 8601 UTC ("2026-12-03T17:30:00Z"), the form every time the tool prints
 * (log_iso_time), and only that: 0 or -EINVAL. */
int dbcmd_parse_iso(const char *s, uint32_t *out);

/* strerror(-rc), but for -ENOTSUP what it means here: a PostgreSQL database does not
 * do that yet (import). */
const char *dbcmd_strerror(int rc);

/* The database -d for cmd, which must exist (a mistyped path is not created); why:
 * why the daemon was not used, for the message when there is no -d. NULL after a
 * message on stderr. */
struct store *dbcmd_open_file(const struct dbcmd_opts *o, const char *cmd, const char *why);

/* store_override_list's fn: appends to a struct dbcmd_overrides (free o). */
struct dbcmd_overrides {
	struct override *o;
	size_t n;
};
int dbcmd_collect_override(void *arg, const struct override *o);

#endif
