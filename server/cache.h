/* cache.c - the in-memory verdict table: IP -> struct verdict.
 *
 * Open-addressing hash tables, one for IPv4 (4-byte keys, the common case, kept
 * small: the target is at most 64 bytes per IPv4 verdict at a million) and one for
 * IPv6. Written by one thread at a time (the cache's own mutex: start-up fills it from
 * store.c, then the lookup thread adds verdicts (intel.c) and the main loop removes or
 * puts back the ones the operator purges or rechecks (steer.c)) while the answering
 * loops read it under the read side of the shared lock (the rules are in shared.h). A
 * writer reads under the writers' mutex (cache_get_locked), not the read side.
 * Adding or replacing a verdict takes no lock readers wait on: they see each verdict
 * whole, the old one or the new one. Deleting and growing take the write side
 * (cache_set_shared). cache_get never allocates. */
#ifndef THREATBL_CACHE_H
#define THREATBL_CACHE_H

#include <stddef.h>
#include <stdint.h>

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

/* Insert or replace (writers one at a time, by the cache's mutex). 0, or -ENOMEM (the
 * table is unchanged). The entry's providers (cache_put_from) stay as they were; a new
 * entry has none. */
int cache_put(struct cache *c, const struct ipaddr *ip, const struct verdict *v);

/* Which providers gave a verdict, kept beside it in the entry's word (no memory more):
 * bit i for provider_at(i) (provider.h), for the TXT template's ${source}
 * (doc/dns.md#categories-and-a-and-txt-records) and for refreshes
 * (doc/providers.md#combining-providers); 0: none known (a test entry, a row whose
 * source names no provider). The store keeps the names (its source column, read back
 * with provider_rows). cache_put_from sets it (from < 0: kept);
 * cache_get_from also reads it (from may be NULL). */
int cache_put_from(struct cache *c, const struct ipaddr *ip, const struct verdict *v,
		   int from);
int cache_get_from(const struct cache *c, const struct ipaddr *ip, struct verdict *out,
		   uint8_t *from);

/* 0, or -ENOENT. Writers one at a time, as cache_put. */
int cache_del(struct cache *c, const struct ipaddr *ip);

/* cache_del of each of ips[0..n), taking the write side once per chunk of them
 * rather than once each. Returns how many were there. */
size_t cache_del_many(struct cache *c, const struct ipaddr *ips, size_t n);

/* For a writer that holds no read side (the lookup thread, the main loop's steering):
 * since two threads write, one of them reading without the read side could meet an
 * entry moved or a table freed by the other (cache_del, a table that grew). These run
 * under the writers' mutex instead, which no reader ever waits on:
 * - cache_get_locked: cache_get_from;
 * - cache_update: a read-modify-write of ip's verdict that no other writer can come
 *   between; fn changes *v and returns 1 to store it, 0 to leave it, or a negative
 *   errno (returned). -ENOENT when ip is not cached;
 * - cache_put_new: cache_put_from unless ip is cached (-EEXIST then), for putting
 *   back a verdict without overwriting a newer one. */
int cache_get_locked(struct cache *c, const struct ipaddr *ip, struct verdict *out,
		     uint8_t *from);
int cache_update(struct cache *c, const struct ipaddr *ip,
		 int (*fn)(void *arg, struct verdict *v), void *arg);
int cache_put_new(struct cache *c, const struct ipaddr *ip, const struct verdict *v,
		  int from);

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
