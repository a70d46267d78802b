/* store.c - the verdicts in sqlite, so that they survive restarts.
 *
 * WAL mode; schema versioned with PRAGMA user_version and migrated forward. A row keeps
 * the categories, the facts that justified them (so a rule change can re-classify
 * without new API calls), the source and the times. The loop thread never calls sqlite:
 * store_put() copies the row into a queue and one writer thread commits in batches, at
 * most about a second apart. A write error (full disk, read-only file) is logged once,
 * the rows stay queued (bounded) and writing resumes when it can.
 *
 * Threads: store_open, store_load and store_start run on the starting thread before
 * the loop runs; afterwards the loop thread calls only store_put, store_delete and
 * store_get_stats, which take a mutex and never touch sqlite. store_get, store_list
 * and store_purge are synchronous helpers for the `threatbl db` tool: they run sqlite
 * on the caller's thread, never on the loop thread and never while the writer runs
 * (the connection is used by one thread at a time). */
#ifndef THREATBL_STORE_H
#define THREATBL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "verdict.h"

struct store;

/* Open or create path and bring its schema up to date. A new file is made with mode
 * 0640. path, path-wal and path-shm must not be symbolic links (-ELOOP): the daemon
 * opens them as root before handing them to [server] user. Errors (corrupt file, not a
 * database, unwritable, newer schema, a link) return a negative errno and put one clear
 * line into err (size errlen). On success *out is new (store_close). */
int store_open(const char *path, struct store **out, char *err, size_t errlen);

/* A source longer than this is handed over cut (the providers' names, comma-separated). */
#define STORE_SOURCE_MAX 128

/* What store_load and the listener hand over for each verdict: source is the row's
 * source column ("criminalip", "abuseipdb,ipinfo": the providers that gave the
 * verdict, so that a refresh asks them again), valid during the call only; "" when
 * none is stored, NULL when not known. */
typedef int (*store_verdict_fn)(void *arg, const struct ipaddr *ip, const struct verdict *v,
				const char *source);

/* Call fn for every stored verdict (start-up, before the loop runs). Stops early when
 * fn returns non-zero and returns that value; 0 when done; a negative errno on error. */
int store_load(struct store *st, store_verdict_fn fn, void *arg);

/* Start the writer thread. 0, -EALREADY, or a negative errno from pthread_create.
 * Rows put before it wait in the queue. */
int store_start(struct store *st);

/* Changes waiting to be written at most: past it store_put refuses a new one (sqlite),
 * or the oldest is dropped to make room (PostgreSQL, doc/fleet.md#faults). */
#define STORE_QUEUE_MAX 1000000

/* Queue a verdict for writing; copies everything. source: "criminalip", ...;
 * facts_json may be NULL. Never blocks on I/O. 0, or -ENOBUFS when the queue is full
 * (sqlite: the verdict stays in memory only; PostgreSQL returns 0 and drops the
 * oldest instead: STORE_QUEUE_MAX), or -ENOMEM. */
int store_put(struct store *st, const struct ipaddr *ip, const struct verdict *v,
	      const char *source, const char *facts_json);

/* store_put with the row's created/updated time given (`threatbl db copy`, which
 * keeps the queue well below STORE_QUEUE_MAX itself). */
int store_put_at(struct store *st, const struct ipaddr *ip, const struct verdict *v,
		 const char *source, const char *facts_json, uint32_t when);

/* The result of threatbl's own probe of ip (probe.c's word: "confirmed",
 * "not-openvpn", "unconfirmed") at unix time when, with the verdict it left v (its
 * mask and flags replace the row's; source and facts stay). Queued like a put, after
 * it; a row that is not there is not created. 0, -ENOBUFS or -ENOMEM. */
int store_put_probe(struct store *st, const struct ipaddr *ip, const struct verdict *v,
		    const char *result, uint32_t when);

/* Remove a verdict (queued like a put). */
int store_delete(struct store *st, const struct ipaddr *ip);

/* The calls made to each lookup service (provider: its configuration name, at most
 * STORE_PROVIDER_MAX - 1 bytes, as in the source column) on a UTC day (unix time /
 * 86400), kept in the database per provider so that every provider's `daily-budget`
 * holds across restarts, and in a fleet is the fleet's (doc/providers.md#budgets).
 * At most STORE_BUDGETS providers are counted. Any thread.
 *
 * get: the count known for day (0 for another day): read at open, counted here since,
 * and in a fleet what the database's row said at the last write.
 * add: n calls made on day (intel: one at a time; `threatbl db copy`: the day's count
 * of another database), written with the next batch. claimed: a fleet's claim counted
 * them in the database already (STORE_CLAIM_MINE, or STORE_CLAIM_LOCAL from the
 * claimer), so only the known count moves. */
#define STORE_BUDGETS 8
#define STORE_PROVIDER_MAX 32
uint32_t store_budget_get(struct store *st, const char *provider, int64_t day);
void store_budget_add(struct store *st, const char *provider, int64_t day, uint32_t n,
		      int claimed);

/* How the writer gets the verdicts back when the file was deleted or replaced while
 * running (it notices within a couple of seconds, or before its next write): refill is
 * called on the writer thread and must call fn for every verdict held in memory (under
 * whatever lock guards them). Set it before store_start. */
void store_set_refill(struct store *st,
		      int (*refill)(void *arg, int (*fn)(void *fnarg, const struct ipaddr *ip,
							 const struct verdict *v),
				    void *fnarg),
		      void *arg);

struct store_stats {
	uint64_t written;  /* rows committed */
	uint64_t failed;   /* commits that failed */
	size_t queued;     /* rows waiting */
	uint64_t dropped;  /* changes lost to a full queue: puts refused with -ENOBUFS
			    * (sqlite), or the oldest dropped (PostgreSQL) */
	int budget_pending; /* call counts added (store_budget_add) not yet written */
};
void store_get_stats(struct store *st, struct store_stats *out);

/* Write what is queued (waits for the writer, up to a few seconds on a failing disk),
 * stop the writer, close the database and free st. */
void store_close(struct store *st);

/* The schema version this code creates and knows (PRAGMA user_version). */
int store_schema_version(void);

/* For the `threatbl db` tool only (see the threads note above). */

/* The stored verdict of ip. 0, -ENOENT when there is none, or a negative errno.
 * source and facts may be NULL when not wanted; otherwise *source and *facts are
 * new strings (free()) or NULL (facts not stored). */
int store_get(struct store *st, const struct ipaddr *ip, struct verdict *v,
	      char **source, char **facts);

/* The last probe of ip: *result a new string (free()), *when its unix time.
 * 0, -ENOENT when ip has no row or was never probed, or a negative errno. */
int store_get_probe(struct store *st, const struct ipaddr *ip, char **result,
		    uint32_t *when);

/* Call fn for every stored verdict, in the order of the 16-byte keys;
 * source and facts (NULL when not stored) are valid during the call only. Stops
 * early when fn returns non-zero and returns that value; 0 when done; a negative
 * errno on error. */
int store_list(struct store *st,
	       int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v,
			 const char *source, const char *facts),
	       void *arg);

/* Delete the verdict of ip now (not queued). 0, -ENOENT when there was none, or a
 * negative errno. A running threatbld on the same sqlite file still has it in memory
 * until it restarts; the nodes of a fleet drop it (doc/fleet.md). */
int store_purge(struct store *st, const struct ipaddr *ip);

/* ---- A fleet on PostgreSQL (doc/fleet.md) ----
 *
 * [server] database may be a postgresql:// or postgres:// URI (any libpq connection
 * URI): then the verdicts, the daily count and the claims live in PostgreSQL, shared
 * by every threatbld using it, and the functions above keep their meaning. */

struct store_options {
	const char *password_file;  /* PostgreSQL's password; NULL: the credential
				     * threatbl-db-password, or none */
	const char *password_what;  /* how messages name password_file; NULL:
				     * "database-password-file" (the tool: "-p") */
};

/* Whether database is there to be opened: a PostgreSQL URI (whether it answers is
 * store_open's), or an sqlite file that exists. 0, or -errno (-ENOENT: a mistyped path,
 * which store_open would create; the tool's commands that read or change a database
 * check this first). */
int store_exists(const char *database);

/* store_open with options (o may be NULL). */
int store_open_opts(const char *database, const struct store_options *o,
		    struct store **out, char *err, size_t errlen);

/* 1 when st is shared by a fleet (PostgreSQL): claims and the listener work. */
int store_is_fleet(const struct store *st);

/* Where log lines name the database: the path, or the URI without its password. */
const char *store_name(const struct store *st);

/* What a node does with an IP it has no verdict for, as the database says. */
enum store_claim_outcome {
	STORE_CLAIM_MINE,    /* call the service: this node holds the claim, and the
			      * fleet's count of the day for the provider (calls)
			      * includes this call */
	STORE_CLAIM_THEIRS,  /* another node holds it: wait for its verdict */
	STORE_CLAIM_DONE,    /* a fresh verdict is stored: already handed to the
			      * listener (so in memory), no call */
	STORE_CLAIM_BUDGET,  /* the provider's daily budget is used up in the fleet (calls) */
	STORE_CLAIM_LOCAL,   /* PostgreSQL is away: decide locally */
};

struct store_claim_args {
	uint32_t fresh_after;  /* unix time: a stored verdict checked since is fresh */
	const char *provider;  /* whose budget the call counts in (copied) */
	int64_t day;           /* the UTC day of the budget */
	uint32_t budget;       /* that provider's daily budget; 0: none */
	uint32_t lease_ms;     /* how long the claim holds if the node dies */
};

/* Runs on the store's claim thread: post to your own loop, do not block. */
typedef void (*store_claim_cb)(void *arg, const struct ipaddr *ip, int outcome,
			       uint32_t calls);

/* Claim ip before calling the service (any thread; never blocks). cb runs later on
 * the store's thread. 0, -ENOTSUP (not a fleet), -ENOBUFS or -ENOMEM (cb will not
 * run: decide locally). */
int store_claim(struct store *st, const struct ipaddr *ip, const struct store_claim_args *a,
		store_claim_cb cb, void *arg);

/* Give the claim of ip up (the call made no verdict); a stored verdict releases it
 * by itself. Any thread, never blocks. */
void store_claim_release(struct store *st, const struct ipaddr *ip);

/* The verdicts other nodes store, and those a claim found: fn runs on a store thread
 * for each (put it into memory; do not block). v is NULL when another node purged
 * ip (drop it from memory). Set it before store_start. */
void store_set_listener(struct store *st, store_verdict_fn fn, void *arg);

/* A fleet's overrides changed (another node's, or this one's, announced by
 * PostgreSQL; also each time the listener connects): fn(arg) runs on a store thread
 * (do not block). Nothing with sqlite. Set it before store_start. */
void store_set_overrides_listener(struct store *st, void (*fn)(void *arg), void *arg);

struct store_fleet_stats {
	uint64_t received;     /* verdicts of other nodes put into memory */
	uint64_t claims, claims_theirs, claims_local;
	uint64_t reconnects;
	int64_t last_change;   /* the last change number seen */
	int connected;         /* the listener's connection is up */
};
void store_get_fleet_stats(struct store *st, struct store_fleet_stats *out);
/* The operator's overrides (override.h), same rules as above: synchronous, never on
 * the loop thread (the daemon runs them on its thread pool with a connection of its
 * own, steer.c). */
struct override;

/* Insert or replace the override of o->net/o->len. 0 or a negative errno. */
int store_override_set(struct store *st, const struct override *o);

/* Remove the override of exactly net/len. 0, -ENOENT, or a negative errno. */
int store_override_unset(struct store *st, const struct ipaddr *net, unsigned len);

/* Call fn for every override, by prefix; stops early like store_list. Also on the
 * starting thread before store_start (the daemon's start-up). */
int store_override_list(struct store *st, int (*fn)(void *arg, const struct override *o),
			void *arg);

/* Delete every verdict inside net/len (16-byte scale) now; *count how many. 0 or a
 * negative errno. Running threatbld as with store_purge. */
int store_purge_prefix(struct store *st, const struct ipaddr *net, unsigned len,
		       uint64_t *count);

/* A whole verdict row, for export and import. The strings may be NULL; in
 * store_export's fn they are valid during the call only. */
struct store_row {
	struct ipaddr ip;
	struct verdict v;
	const char *source, *facts, *probe;
	uint32_t probed, created, updated;
};

/* Call fn for every verdict row in key order; stops early like store_list. */
int store_export(struct store *st, int (*fn)(void *arg, const struct store_row *r),
		 void *arg);

/* Insert or replace rows[0..n) and the overrides ovr[0..novr) in one transaction: all
 * or nothing. created 0 = now; updated is now. 0 or a negative errno. */
int store_import(struct store *st, const struct store_row *rows, size_t n,
		 const struct override *ovr, size_t novr);

#endif
