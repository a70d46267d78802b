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

struct dbcmd_opts {
	const char *path;  /* -d: the database file, or NULL */
	const char *sock;  /* -s: the control socket, or NULL */
	const char *conf;  /* -c: the configuration naming it, or NULL */
	int offline;       /* --offline: the file, even with a daemon running */
};

/* Whether cmd is one of this file's. */
int dbcmd_knows(const char *cmd);

/* Run argv[0] (a command dbcmd_knows) with its arguments: the tool's exit status. */
int dbcmd_run(const struct dbcmd_opts *o, int argc, char **argv);

#endif
