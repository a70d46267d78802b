/* feed.c - the feeds: whole lists fetched on a schedule, kept on disk, served like
 * static lists ([feed NAME], doc/configuration.md#the-feed-section).
 *
 * Two halves, on two sides of the shared lock (shared.h):
 * - The feed table (struct feed_table) holds one slot per feed name: the list the
 *   answering loops read. It lives for the whole run (the server owns it); a slot is
 *   given to a name on the main loop (feed_table_bind, at start and at every reload)
 *   and keeps it, so that zones built by a reload can point at it before the lookup
 *   thread hears of the new configuration. Only the lookup thread changes a slot's list,
 *   under the write side of the lock; readers follow it under the read side (dns.c),
 *   as they follow the static lists.
 * - The runner (struct feeds) lives on the lookup thread's loop (lookup.c): one timer
 *   and one http.c handle per feed, conditional GETs (If-None-Match /
 *   If-Modified-Since), the download parsed whole on the thread pool (feed_parse.c)
 *   and refused when it is not the format, has no entries or shrank by more than
 *   max-shrink; a good copy is written to DIR/NAME.data and DIR/NAME.meta (temporary
 *   file, fsync, rename; symbolic links refused; mode 0640) and swapped in. At start
 *   the kept copy is served before any fetch; a copy not confirmed for max-age is
 *   dropped with a warning. No allocation on the answer path, nothing per query. */
#ifndef THREATBL_FEED_H
#define THREATBL_FEED_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "ipaddr.h"
#include "lists.h"

struct shared;

#define FEED_SLOTS 64    /* distinct feed names during one run */
#define FEED_NAME_MAX 64 /* with its NUL; config.c allows 63 characters */

struct feed_slot {
	char name[FEED_NAME_MAX]; /* set once, on the main loop */
	struct lists *lists;      /* NULL: nothing served; see above */
};

struct feed_table {
	struct feed_slot slot[FEED_SLOTS];
	size_t n;                 /* slots given out; main loop only */
};

/* A new, empty table (calloc'd), or NULL. Free with feed_table_free once no loop can
 * read it (after the lookup thread and the answering loops have ended). */
struct feed_table *feed_table_new(void);
void feed_table_free(struct feed_table *t);

/* The slot of feed `name`, given out now when it has none: NULL when all FEED_SLOTS
 * are taken (logged; a restart frees them). Main loop. */
struct feed_slot *feed_table_bind(struct feed_table *t, const char *name);

/* zoneset_bind_feeds' callback: &feed_table_bind(arg, name)->lists, or NULL. */
struct lists *const *feed_table_lists_of(void *arg, const char *name);

/* What a feed is doing, for logs and for `threatbl stats` (feeds_get_states). */
enum feed_status {
	FEED_STARTING = 0, /* no fetch finished yet */
	FEED_OK,           /* the last fetch brought a new copy */
	FEED_UNCHANGED,    /* the last fetch was answered 304 Not Modified */
	FEED_FAILED,       /* the last fetch failed (network, HTTP status, timeout, size) */
	FEED_REFUSED,      /* the last download was refused (format, empty, shrink, size) */
};

struct feed_state {
	char name[FEED_NAME_MAX];
	enum feed_status status;
	char why[200];          /* the last failure or refusal, "" when none */
	int serving;            /* a copy is served */
	size_t entries;         /* of the copy served (0: none) */
	int64_t copy_time;      /* unix time the copy served was last confirmed, 0: none */
	int64_t last_attempt;   /* unix time of the last fetch that ended, 0: none */
	uint64_t fetches, changed, unchanged, failures, refused, expired;
};

const char *feed_status_name(enum feed_status s);

struct feeds;

/* A runner on loop (the lookup thread's) over table t; sh: the lock of the answering
 * loops (NULL in tests: swaps without a lock). dir: where copies are kept, created
 * 0750 when missing (NULL: nothing kept). 0 or a negative errno. Loop thread. */
int feeds_new(uv_loop_t *loop, struct feed_table *t, struct shared *sh, struct feeds **out);

/* The feeds to run from now on: cfg->feeds with slots[i] the slot of cfg->feeds[i]
 * (NULL: not run), kept copies in dir (NULL: none). Feeds gone from cfg stop and their
 * slots are emptied; new ones load their kept copy, then fetch; changed ones fetch
 * again. cfg is not kept. Loop thread. */
void feeds_configure(struct feeds *fs, const struct config *cfg,
		     struct feed_slot *const *slots, const char *dir);

/* Whether ip is in the copy of a feed whose category is in mask ([intel] skip-when).
 * Loop thread (the lists are the runner's own there). */
int feeds_listed(const struct feeds *fs, const struct ipaddr *ip, uint8_t mask);

/* Copy the state of up to max feeds into out; returns how many feeds there are.
 * Any thread. */
size_t feeds_get_states(struct feeds *fs, struct feed_state *out, size_t max);

/* Stop every feed (the slots keep their lists: the table's owner frees them), then
 * call closed(arg) on the loop and free fs. Loop thread. */
void feeds_close(struct feeds *fs, void (*closed)(void *arg), void *arg);

/* DIR for the kept copies: "feeds" beside the database file (NULL when there is no
 * database). Caller frees. */
char *feeds_dir_for(const char *database);

#endif
