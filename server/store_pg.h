/* store_pg.c - the verdicts in PostgreSQL, shared by a fleet of threatbld nodes.
 *
 * The backend of store.c when [server] database is a postgresql:// or postgres:// URI
 * (doc/fleet.md). store.c keeps the queue and the writer thread; this file does what
 * touches PostgreSQL (the listener and the claimer are in store_pg_fleet.c), on three
 * connections, each used by one thread:
 * - the writer's (store.c's writer thread, or the opener before store_start): the
 *   schema, the start-up load, the batches. A batch takes a transaction-level
 *   advisory lock before numbering its rows from the sequence threatbl_change, so
 *   that the change numbers commit in order and "everything after N" is exact; it
 *   ends with a NOTIFY threatbl that reaches the other nodes at commit.
 * - the listener's (its own thread): LISTEN threatbl; on a notification, or after a
 *   reconnection, it reads the rows whose change number is above the last it saw
 *   and hands the other nodes' verdicts to the store's listener (store_set_listener).
 *   Also LISTEN threatbl_overrides: a changed override, or a (re)connection, calls the
 *   overrides listener (store_set_overrides_listener), which reads them all again.
 * - the claimer's (its own thread): the claims before an API call (store_claim) and
 *   their release, answered at once with STORE_CLAIM_LOCAL while PostgreSQL is away.
 * Every connection reconnects by itself with a backoff. No function here is ever
 * called on a loop thread. The password is never logged: the URI is logged as
 * store_pg_redact makes it. */
#ifndef THREATBL_STORE_PG_H
#define THREATBL_STORE_PG_H

#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "store.h"
#include "store_op.h"
#include "verdict.h"

struct store_pg;

/* 1 when database names PostgreSQL rather than a sqlite file. */
int store_pg_is_uri(const char *database);

/* uri with its password (user:PASSWORD@ and password=PASSWORD) replaced by ***. */
void store_pg_redact(const char *uri, char *out, size_t outlen);

/* Whether password_file holds a password the start would take (a regular file, not
 * empty, not too long), for -t: read, wiped, never connecting. 0, or a negative errno
 * with one line in err. */
int store_pg_check_password(const char *password_file, char *err, size_t errlen);

/* Connect, bring the schema up to date and read today's call counts, one per provider
 * (at most max) into today[0..*n).
 * password_file: where the password is (NULL: the credential threatbl-db-password in
 * $CREDENTIALS_DIRECTORY when there is one, else the URI's or libpq's own), named
 * password_what in messages. A negative errno with one line in err on failure. */
int store_pg_open(const char *uri, const char *password_file, const char *password_what,
		  struct store_pg **out, struct store_budget *today, size_t max, size_t *n,
		  char *err, size_t errlen);

/* Every stored verdict to fn (the opener's thread, before store_pg_start). */
int store_pg_load(struct store_pg *pg, store_verdict_fn fn, void *arg);

/* One batch and the counts b (each one's add added to the fleet's row, whose count
 * comes back in its calls) in one transaction, on the writer's thread; reconnects
 * first when the connection is gone. 0, or a negative errno with the reason in err:
 * nothing was written. */
int store_pg_write(struct store_pg *pg, const struct store_op *ops,
		   struct store_budget *b, size_t nb, char *err, size_t errlen);

/* The listener and the claimer. 0 or a negative errno. */
int store_pg_start(struct store_pg *pg, store_verdict_fn listener, void *arg);

int store_pg_claim(struct store_pg *pg, const struct ipaddr *ip,
		   const struct store_claim_args *a, store_claim_cb cb, void *arg);
void store_pg_release(struct store_pg *pg, const struct ipaddr *ip);
void store_pg_get_stats(struct store_pg *pg, struct store_fleet_stats *out);

/* Stop the threads, close the connections, free pg. */
void store_pg_close(struct store_pg *pg);

/* The tool's helpers (store.h), on the writer's connection. */
int store_pg_get(struct store_pg *pg, const struct ipaddr *ip, struct verdict *v,
		 char **source, char **facts);
int store_pg_get_probe(struct store_pg *pg, const struct ipaddr *ip, char **result,
		       uint32_t *when);
int store_pg_list(struct store_pg *pg,
		  int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v,
			    const char *source, const char *facts),
		  void *arg);
int store_pg_purge(struct store_pg *pg, const struct ipaddr *ip);
/* Delete the verdicts from lo to hi (key order) and leave a row in purges for each,
 * so that the running nodes drop them too; *count of them. 0 or -EIO. */
int store_pg_purge_range(struct store_pg *pg, const struct ipaddr *lo,
			 const struct ipaddr *hi, uint64_t *count);
/* store_export on PostgreSQL: every verdict row in key order, one snapshot. */
struct store_row;
int store_pg_export(struct store_pg *pg, int (*fn)(void *arg, const struct store_row *r),
		    void *arg);

/* The operator's overrides (store.h), on the writer's connection; a set or unset
 * ends with NOTIFY threatbl_overrides, which the other nodes' listeners follow
 * (store_set_overrides_listener). */
struct override;
int store_pg_override_set(struct store_pg *pg, const struct override *o);
int store_pg_override_unset(struct store_pg *pg, const struct ipaddr *net, unsigned len);
int store_pg_override_list(struct store_pg *pg,
			   int (*fn)(void *arg, const struct override *o), void *arg);
/* Before store_pg_start: the listener calls fn(arg) on its thread when a NOTIFY
 * threatbl_overrides comes, and after each connection. */
void store_pg_set_overrides_listener(struct store_pg *pg, void (*fn)(void *arg), void *arg);

/* The schema version this code creates (table threatbl_schema). */
int store_pg_schema_version(void);

#endif
