/* cache.c - the in-memory verdict table: IP -> struct verdict.
 *
 * Open-addressing hash tables, one for IPv4 (4-byte keys, the common case, kept
 * small: the target is at most 64 bytes per IPv4 verdict at a million) and one for
 * IPv6. Written by one thread at a time: start-up fills it from store.c, then the
 * lookup thread adds verdicts (intel.c) under the write side of the shared lock
 * while the answering loops read it under the read side (cache_set_shared; the
 * rules are in shared.h). cache_get never allocates. */
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

/* With other threads reading: cache_put and cache_del take sh's write side
 * (shared_write_begin). NULL (the default) when one thread does everything. sh must
 * outlive the cache's use of it. */
void cache_set_shared(struct cache *c, struct shared *sh);

/* 0 and *out filled when ip is known, -ENOENT otherwise. */
int cache_get(const struct cache *c, const struct ipaddr *ip, struct verdict *out);

/* Insert or replace. 0, or -ENOMEM (the table is unchanged). The entry's providers
 * (cache_put_from) stay as they were; a new entry has none. */
int cache_put(struct cache *c, const struct ipaddr *ip, const struct verdict *v);

/* Which providers gave a verdict, kept beside it in the entry's spare byte (no
 * memory more): bit i for provider_at(i) (provider.h), for the TXT template's
 * ${source} (doc/dns.md#categories-and-a-and-txt-records) and for refreshes
 * (doc/providers.md#combining-providers); 0: not known (a verdict loaded from the
 * database, which keeps the names). cache_put_from sets it (from < 0: kept);
 * cache_get_from also reads it (from may be NULL). */
int cache_put_from(struct cache *c, const struct ipaddr *ip, const struct verdict *v,
		   int from);
int cache_get_from(const struct cache *c, const struct ipaddr *ip, struct verdict *out,
		   uint8_t *from);

/* 0, or -ENOENT. */
int cache_del(struct cache *c, const struct ipaddr *ip);

size_t cache_count(const struct cache *c);

/* Bytes allocated by the tables, for the memory benchmark and logs. */
size_t cache_memory(const struct cache *c);

/* Call fn for every entry (order unspecified); stop early when fn returns non-zero
 * and return that value. fn must not change the cache. */
int cache_foreach(const struct cache *c,
		  int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v),
		  void *arg);

#endif
