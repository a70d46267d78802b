/* steer.c - the control commands that change verdicts in the running daemon
 * (doc/operations.md#managing-verdicts): purge, recheck, allow, add, unset and
 * overrides, and the periodic pruning of verdicts older than max-stale.
 *
 * Their table, terminated by an entry with a NULL name, is consulted by control.c
 * after its own (control.h). The overrides live here in memory (an array, the
 * authority once loaded) and as a compiled override_set (override.h) that the shared
 * view points to (server_env_apply reads srv->overrides). A change is written to the
 * database and compiled on the thread pool, one at a time in arrival order, and
 * swapped in on the main loop; in a fleet, a change another node makes is read again
 * the same way when PostgreSQL announces it. Threads: everything here runs on the
 * main loop, but steer_load, which runs on the starting thread before the loop, and
 * steer_overrides_changed. */
#ifndef THREATBL_STEER_H
#define THREATBL_STEER_H

#include "control.h"
#include "ipaddr.h"

extern const struct control_cmd steer_commands[];

struct server;
struct store;

/* A v4 prefix shorter than this, or a v6 one shorter than STEER_MIN_V6, is refused
 * by purge, allow and add without --force. */
#define STEER_MIN_V4 8
#define STEER_MIN_V6 32
/* How often verdicts older than max-stale are pruned (and once at the start). */
#define STEER_PRUNE_MS (3600u * 1000u)

/* Read the overrides of st (NULL: none) into srv->steer and srv->overrides, on the
 * starting thread before store_start. db_path is where the thread pool reopens the
 * database, a file or a PostgreSQL URI with its password_file (NULL: none, or the
 * credential); both copied. 0 or a negative errno (logged). */
int steer_load(struct server *srv, struct store *st, const char *db_path,
	       const char *password_file);

/* The overrides changed in a fleet's database (store_set_overrides_listener; arg is
 * the server): they are read again on the thread pool and swapped in. Any thread. */
void steer_overrides_changed(void *arg);

/* Start the pruning timer (main loop running). 0 or a libuv error. */
int steer_start(struct server *srv);

/* Stop the timer; a change still on the thread pool finishes and ends its request.
 * Then steer_free after the loop has ended. */
void steer_stop(struct server *srv);

/* The lookup page's "Check again now" (web.h's web_recheck_fn, main loop): the same
 * lookup as the control socket's recheck, its outcome only logged. */
void steer_recheck_ip(void *arg, const struct ipaddr *ip);
void steer_free(struct server *srv);

#endif
