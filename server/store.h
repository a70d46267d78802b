/* store.c - the verdicts in sqlite, so that they survive restarts.
 *
 * WAL mode; schema versioned with PRAGMA user_version and migrated forward. A row keeps
 * the categories, the facts that justified them (so a rule change can re-classify
 * without new API calls), the source and the times. The loop thread never calls sqlite:
 * store_put() copies the row into a queue and one writer thread commits in batches, at
 * most about a second apart. A write error (full disk, read-only file) is logged once,
 * the rows stay queued (bounded) and writing resumes when it can. */
#ifndef THREATBL_STORE_H
#define THREATBL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "verdict.h"

struct store;

/* Open or create path and bring its schema up to date. Errors (corrupt file, not a
 * database, unwritable, newer schema) return a negative errno and put one clear line
 * into err (size errlen). On success *out is new (store_close). */
int store_open(const char *path, struct store **out, char *err, size_t errlen);

/* Call fn for every stored verdict (start-up, before the loop runs). Stops early when
 * fn returns non-zero and returns that value; 0 when done; a negative errno on error. */
int store_load(struct store *st,
	       int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v),
	       void *arg);

/* Start the writer thread. */
int store_start(struct store *st);

/* Queue a verdict for writing; copies everything. source: "criminalip", ...;
 * facts_json may be NULL. Never blocks on I/O. 0, or -ENOBUFS when the queue is full
 * (the verdict stays in memory only), or -ENOMEM. */
int store_put(struct store *st, const struct ipaddr *ip, const struct verdict *v,
	      const char *source, const char *facts_json);

/* Remove a verdict (queued like a put). */
int store_delete(struct store *st, const struct ipaddr *ip);

struct store_stats {
	uint64_t written;  /* rows committed */
	uint64_t failed;   /* commits that failed */
	size_t queued;     /* rows waiting */
};
void store_get_stats(struct store *st, struct store_stats *out);

/* Write what is queued (waits for the writer, up to a few seconds on a failing disk),
 * stop the writer, close the database and free st. */
void store_close(struct store *st);

#endif
