/* shared.c - what the answering loops and the lookup thread share, and its one lock.
 *
 * The rules (the only place they are written down):
 * - Readers are the answering loops: the main loop and the worker loops of `threads`.
 *   Each takes the read side once per batch of queries (and once per parked query's
 *   answer, per TCP read or accept), never per query, and never nested: with a
 *   writer-preferring lock a second read_begin on the same thread behind a waiting
 *   writer would deadlock. The store's writer thread reads too, rarely: when the
 *   database file was deleted it writes every verdict back (store_set_refill).
 * - While it holds the read side a reader may use its copy of the view and everything
 *   the view points to (zones, static lists, the verdict cache). shared_read_begin
 *   copies the view with one struct assignment; after shared_read_end the reader keeps
 *   only that copy's plain values and must not follow its pointers again.
 * - Writers are the main loop (shared_apply: a reload's new zones and settings; an
 *   operator's purge or recheck, which deletes verdicts) and, rarely, the lookup
 *   thread: only when the verdict cache moves entries (cache_del, and the swap of a
 *   table that grew: cache.c). A writer never holds the read side at the same time.
 *   The cache's writers take turns on its own mutex and read under it
 *   (cache_get_locked), never under the read side.
 * - A new or changed verdict (cache_put) takes no lock at all: one writer thread at a
 *   time (the lookup thread, mostly) publishes it in a way readers can read while it writes (cache.c,
 *   doc/architecture.md#the-verdict-cache). So an answering loop never waits for a
 *   verdict: measured, the wait for the write side was short (at most 0.12 ms a batch),
 *   but a lookup thread that does not get the CPU while it holds or waits for the write
 *   side would hold every loop back (doc/performance.md#the-write-lock-measured-2026-12-03).
 * - Writers first (PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP): a reload waits for
 *   at most one batch per loop, and loops that are busy all the time cannot keep it
 *   out.
 * - After shared_apply returns, no reader holds a pointer into what the view pointed
 *   to before, so the main loop frees the previous zones right away; nothing else
 *   frees them (parked queries keep their bytes, not their zone).
 * - The clock (dns_env.now) is not shared: each loop sets its own copy's. */
#ifndef THREATBL_SHARED_H
#define THREATBL_SHARED_H

#include <pthread.h>
#include <stdint.h>

#include "acl.h"
#include "dns.h"

/* What a reader copies per batch. */
struct shared_view {
	struct dns_env env;          /* refresh/now are set by each reader on its copy */
	unsigned tcp_max_clients;    /* 0: no cap; read per new connection */
	unsigned tcp_clients_per_ip; /* 0: no cap; read per new connection */
	uint32_t tcp_idle_ms;        /* RFC 7766 idle timeout, per new connection */
	const struct acl *allow_query; /* who is answered; NULL: everyone */
};

struct shared {
	pthread_rwlock_t lock;
	struct shared_view view;     /* written under the write side only */
};

/* 0, or a negative errno. Before any other thread starts; shared_destroy after the
 * last has ended. */
int shared_init(struct shared *sh);
void shared_destroy(struct shared *sh);

/* Readers: take the read side and copy the view into *copy. */
static inline void shared_read_begin(struct shared *sh, struct shared_view *copy)
{
	pthread_rwlock_rdlock(&sh->lock);
	*copy = sh->view;
}

static inline void shared_read_end(struct shared *sh)
{
	pthread_rwlock_unlock(&sh->lock);
}

/* Writers: the data the readers follow may change between these two. */
static inline void shared_write_begin(struct shared *sh)
{
	pthread_rwlock_wrlock(&sh->lock);
}

static inline void shared_write_end(struct shared *sh)
{
	pthread_rwlock_unlock(&sh->lock);
}

/* Replace the view under the write side (main loop, reloads and stop). */
void shared_apply(struct shared *sh, const struct shared_view *view);

#endif
