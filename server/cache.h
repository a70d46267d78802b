/* cache.c - the in-memory verdict table: IP -> struct verdict.
 *
 * Open-addressing hash tables, one for IPv4 (4-byte keys, the common case, kept
 * small: the target is at most 64 bytes per IPv4 verdict at a million) and one for
 * IPv6. Written by one thread at a time: start-up fills it from store.c, then the
 * lookup thread adds verdicts (intel.c) while the answering loops read it under the
 * read side of the shared lock (the rules are in shared.h). Adding or replacing a
 * verdict takes no lock: readers see each verdict whole, the old one or the new one.
 * Deleting and growing take the write side (cache_set_shared). cache_get never
 * allocates. */
#ifndef THREATBL_CACHE_H
#define THREATBL_CACHE_H

#include <stddef.h>

#include "ipaddr.h"
#include "verdict.h"

struct cache;
struct shared;

/* Returns NULL when out of memory. Free with cache_free. */
struct cache *cache_new(void);
void cache_free(struct cache *c);

/* With other threads reading: cache_del, and cache_put when the table must grow, take
 * sh's write side (shared_write_begin) for the moment entries move; a cache_put that
 * does not grow takes nothing. NULL (the default) when one thread does everything. sh
 * must outlive the cache's use of it. */
void cache_set_shared(struct cache *c, struct shared *sh);

/* 0 and *out filled when ip is known, -ENOENT otherwise. Any thread that holds the
 * read side (or the writer itself) while the writer writes. */
int cache_get(const struct cache *c, const struct ipaddr *ip, struct verdict *out);

/* Insert or replace: the one writer thread. 0, or -ENOMEM (the table is unchanged). */
int cache_put(struct cache *c, const struct ipaddr *ip, const struct verdict *v);

/* 0, or -ENOENT. The one writer thread. */
int cache_del(struct cache *c, const struct ipaddr *ip);

size_t cache_count(const struct cache *c);

/* Bytes allocated by the tables, for the memory benchmark and logs. */
size_t cache_memory(const struct cache *c);

/* Call fn for every entry (order unspecified); stop early when fn returns non-zero
 * and return that value. fn must not change the cache. Under the read side while the
 * writer adds: an entry added meanwhile may or may not be visited. */
int cache_foreach(const struct cache *c,
		  int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v),
		  void *arg);

#endif
