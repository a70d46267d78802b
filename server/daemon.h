/* daemon.c - becoming a daemon: detaching, telling the starter it is ready, dropping
 * root after binding.
 *
 * Without -f threatbld forks and the parent waits on a pipe until the child is ready
 * (exit 0) or has failed (its exit code), so that init scripts and shells see start-up
 * errors; the child then leaves the terminal and logs to syslog. Privileges are
 * dropped once every socket is bound: the database files are handed to the user first
 * so that the writer can still write them. Main thread only, before the loops run
 * (daemon_detach, daemon_drop_privileges) or once they do (daemon_ready). */
#ifndef THREATBL_DAEMON_H
#define THREATBL_DAEMON_H

#include "log.h"

struct daemon {
	int ready_fd; /* -1, or the pipe to the waiting parent (no -f) */
};

/* foreground (-f): nothing happens. Otherwise fork; the parent never returns (it exits
 * with the child's code). 0 in the child, or a negative errno (a message on stderr). */
int daemon_detach(struct daemon *d, int foreground);

/* Tell the waiting parent the outcome (0: ready; else the exit code), once. When ready,
 * logging moves to syslog at level and stdin/out/err go to /dev/null. Harmless in the
 * foreground. */
void daemon_ready(struct daemon *d, unsigned char code, enum log_level level);

/* As root with user set: give database (and its -wal and -shm) to user, then become
 * user with no way back. Not root: nothing (user is ignored). Root without user: a
 * warning. 0, or a negative errno (logged). database may be NULL. */
int daemon_drop_privileges(const char *user, const char *database);

#endif
