/* lookup.c - the lookup thread: intel.c, http.c and criminalip*.c on their own loop.
 *
 * Looking an IP up (the scheduler, curl, parsing and classifying the report, putting
 * the verdict into the cache and the store) runs on one thread with its own libuv
 * loop, so that a storm of lookups does not delay the answers the other loops give
 * from memory. The answering loops reach it only through their relays (relay.h):
 * queries to park and stale verdicts to refresh go in, outcomes come back. New
 * settings reach it by message (lookup_configure_many). Verdicts go into the cache under
 * the write side of the shared lock (cache_set_shared; shared.h).
 *
 * Threads: every function here is called on the main loop's thread. */
#ifndef THREATBL_LOOKUP_H
#define THREATBL_LOOKUP_H

#include <stddef.h>
#include <uv.h>

#include "cache.h"
#include "config.h"
#include "relay.h"

struct feed_slot;
struct feed_state;
struct feed_table;
struct intel_stats;
struct shared;
struct provider_kind;
struct store;
struct lookup_thread;

/* A lookup thread for at most max_relays answering loops, putting verdicts into cache
 * and store (NULL: no persistence); both must outlive it. Not running yet. 0 or a
 * negative errno. Free with lookup_free. */
int lookup_new(struct cache *cache, struct store *store, size_t max_relays,
	       struct lookup_thread **out);

/* A relay with nslots slots for the answering loop `loop` (relay_new). The relay
 * belongs to lk and is freed by lookup_free; its owner loop closes it (relay_close)
 * before that loop ends. 0, -ENOSPC (max_relays reached), -ECANCELED (stopped) or a
 * relay_new error. */
int lookup_relay(struct lookup_thread *lk, uv_loop_t *loop, size_t nslots,
		 struct relay **out);

/* One provider to ask, with its key (copied) and where the key came from (a static
 * string for the log, may be NULL). */
struct lookup_provider {
	const struct provider_kind *kind;
	const char *key;
	const char *key_source;
};

/* Look up with these settings from now on (copied; the latest wins when several
 * wait): n providers in priority order (at most INTEL_PROVIDERS_MAX), asked as cfg's
 * [intel] combine says; n 0 switches lookups off, answering every waiting query; a
 * new key or URL replaces a backend, keeping the waiting queries. Only the lookup
 * settings of cfg are read (the [intel], [provider] and [probe] sections). 0 or
 * -ENOMEM. */
int lookup_configure_many(struct lookup_thread *lk, const struct config *cfg,
			  const struct lookup_provider *p, size_t n);

/* Run the feeds on this thread, over table t (its lists swapped under sh's write
 * side): before lookup_start. Without it feeds are not run. */
void lookup_set_feeds(struct lookup_thread *lk, struct feed_table *t, struct shared *sh);

/* Run cfg->feeds from now on (feed.h, feeds_configure): slots[i] is the table slot of
 * cfg->feeds[i] (feed_table_bind), dir where copies are kept (NULL: nowhere); with
 * cfg->skip_when for intel's check. Copied; the latest wins. 0 or -ENOMEM. */
int lookup_configure_feeds(struct lookup_thread *lk, const struct config *cfg,
			   struct feed_slot *const *slots, const char *dir);

/* The feeds' state (feed.h, feeds_get_states), any thread: how many feeds there are
 * (0 before the first settings and after the stop). */
size_t lookup_get_feeds(struct lookup_thread *lk, struct feed_state *out, size_t max);

/* Start the thread; finished(arg) runs on main_loop once it has stopped and been
 * joined. 0 or a negative errno (nothing started). */
int lookup_start(struct lookup_thread *lk, uv_loop_t *main_loop,
		 void (*finished)(void *arg), void *arg);

/* Ask the thread to log the lookups' counters (info, "stats: lookups: ..."); it does
 * so on its own loop, since the counters are its. */
void lookup_log_stats(struct lookup_thread *lk);

/* The lookups' counters as of at most a second ago (any thread): 0, or -ENOENT when
 * lookups were off then. */
int lookup_get_stats(struct lookup_thread *lk, struct intel_stats *st);

/* Ask the thread to stop: every waiting query comes back -ECANCELED through its
 * relay, calls in flight are cancelled, later relay_wait calls are refused. */
void lookup_stop(struct lookup_thread *lk);

/* A verdict of another node of the fleet, from the store's listener thread
 * (store_set_listener; arg is lk): the lookup thread puts it into the cache and ends
 * the lookups waiting for it. 0 or -ENOMEM. Any thread; never blocks. */
struct ipaddr;
struct verdict;
int lookup_fleet_verdict(void *arg, const struct ipaddr *ip, const struct verdict *v,
			 const char *source);

/* Free lk and its relays: after finished ran, or when lookup_start was never called
 * or failed. */
void lookup_free(struct lookup_thread *lk);

#endif
