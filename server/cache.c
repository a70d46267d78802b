/* cache.c - the in-memory verdict table: IP -> struct verdict.
 *
 * Two open-addressing tables with linear probing, power-of-two sizes, grown at 3/4
 * load and emptied by backward shifting (no tombstones, so lookups never slow down
 * after many deletions). IPv4 is the common case and gets 16-byte slots keyed by the
 * address in host order: even just after a doubling (3/8 load) that is 43 bytes per
 * verdict. IPv6 gets 24-byte slots.
 *
 * Writers one at a time, readers at the same time (doc/architecture.md#the-verdict-
 * cache): writers (the lookup loop; the main loop for the operator's purge and
 * recheck) take the cache's own mutex, which readers never touch. A slot's verdict,
 * its providers and its `used` bit are one 64-bit word, so a reader sees a verdict
 * whole, old or new, never half of each. A new entry is written into a free slot
 * (its key first, then the word with a release store), so a reader either stops at
 * the free slot or finds the entry complete: inserts and replacements need no lock.
 * Only what moves entries does: a deletion's backward shift, and swapping in a grown
 * table (built beside the old one without the lock, then swapped and the old one
 * freed under the write side, so no reader still walks it). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "shared.h"

/* The word: checked in bits 0-31, mask 32-39, flags 40-47, used 48, and the providers
 * that spoke (cache_put_from) in 56-63. */
#define W_USED (1ULL << 48)
#define W_FROM_SHIFT 56
#define W_FROM (0xffULL << W_FROM_SHIFT)

/* 16 bytes: the word must be 8-byte aligned to be loaded and stored whole. */
struct ent4 {
	uint64_t w;         /* only through wload/wstore while others may read */
	uint32_t ip;        /* host order; written before w is published */
	uint32_t pad_;
};

struct ent6 {
	uint8_t ip[16];
	uint64_t w;
};

_Static_assert(sizeof(struct ent4) == 16, "IPv4 slot must stay 16 bytes");
_Static_assert(sizeof(struct ent6) == 24, "IPv6 slot must stay 24 bytes");

struct cache {
	struct ent4 *t4;    /* t and cap change under the write side only */
	size_t cap4, n4;    /* cap is 0 or a power of two; n through count_* */
	struct ent6 *t6;
	size_t cap6, n6;
	struct shared *shared;  /* NULL, or its write side taken by del and grow */
	pthread_mutex_t wmu;    /* writers, one at a time; readers never take it */
	int moving_held;        /* under wmu: cache_del_many holds the write side */
};

/* The acquire pairs with the release that published the slot: a reader that sees
 * W_USED sees the key written before it. Plain loads on x86. */
static inline uint64_t wload(const uint64_t *w)
{
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static inline void wstore(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

static inline uint64_t wpack(const struct verdict *v)
{
	return W_USED | (uint64_t)v->flags << 40 | (uint64_t)v->mask << 32 | v->checked;
}

static inline void wunpack(uint64_t w, struct verdict *out)
{
	out->checked = (uint32_t)w;
	out->mask = (uint8_t)(w >> 32);
	out->flags = (uint8_t)(w >> 40);
}

/* cache_count may be called on any thread while the writer counts. */
static inline void count_set(size_t *n, size_t v)
{
	__atomic_store_n(n, v, __ATOMIC_RELAXED);
}

static inline size_t count_get(const size_t *n)
{
	return __atomic_load_n(n, __ATOMIC_RELAXED);
}

/* What moves entries runs under the write side: readers hold the read side while
 * they walk a table. */
static inline void moving_begin(struct cache *c)
{
	if (c->shared && !c->moving_held)
		shared_write_begin(c->shared);
}

static inline void moving_end(struct cache *c)
{
	if (c->shared && !c->moving_held)
		shared_write_end(c->shared);
}

/* Deletions cache_del_many makes per taking of the write side: the readers wait for
 * a few tens of microseconds at most, and a purge of a million verdicts takes the
 * lock a thousand times instead of a million. */
#define CACHE_DEL_CHUNK 1024

#define CACHE_MIN_CAP 64

/* ::ffff:a.b.c.d (ipaddr.h): checked here inline because cache_get is on the answer
 * path. */
static inline int is_v4(const struct ipaddr *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(a->b, prefix, sizeof(prefix)) == 0;
}

static inline uint32_t v4_key(const struct ipaddr *a)
{
	return (uint32_t)a->b[12] << 24 | (uint32_t)a->b[13] << 16 |
	       (uint32_t)a->b[14] << 8 | a->b[15];
}

/* lowbias32 (Chris Wellons' hash prospector): full avalanche, two multiplies. */
static inline uint32_t hash32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

/* splitmix64's finaliser. */
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static inline uint64_t hash128(const uint8_t *k)
{
	uint64_t a, b;

	memcpy(&a, k, 8);
	memcpy(&b, k + 8, 8);
	return mix64(mix64(a) ^ b);
}

struct cache *cache_new(void)
{
	struct cache *c = calloc(1, sizeof(struct cache));

	if (c && pthread_mutex_init(&c->wmu, NULL)) {
		free(c);
		return NULL;
	}
	return c;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->wmu);
	free(c->t4);
	free(c->t6);
	free(c);
}

/* ---- IPv4 table ---- */

/* Any thread: the slot holding ip, its word in *w, or NULL. */
static struct ent4 *find4(const struct cache *c, uint32_t ip, uint64_t *w)
{
	struct ent4 *t = c->t4;
	size_t m, i;

	if (!c->cap4)
		return NULL;
	m = c->cap4 - 1;
	for (i = hash32(ip) & m;; i = (i + 1) & m) {
		uint64_t x = wload(&t[i].w);

		if (!(x & W_USED))
			return NULL;
		if (t[i].ip == ip) {
			*w = x;
			return &t[i];
		}
	}
}

/* Publish (ip, w) in a table known to hold no entry with ip and to have room. */
static void place4(struct ent4 *t, size_t cap, uint32_t ip, uint64_t w)
{
	size_t m = cap - 1, i;

	for (i = hash32(ip) & m; wload(&t[i].w) & W_USED; i = (i + 1) & m)
		;
	t[i].ip = ip;
	wstore(&t[i].w, w);
}

/* The new table is built while readers go on with the old one. */
static int grow4(struct cache *c)
{
	size_t ncap = c->cap4 ? c->cap4 * 2 : CACHE_MIN_CAP, i;
	struct ent4 *nt, *old = c->t4;

	if (ncap > SIZE_MAX / sizeof(*nt) / 2)
		return -ENOMEM;
	nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (i = 0; i < c->cap4; i++) {
		uint64_t w = wload(&old[i].w);

		if (w & W_USED)
			place4(nt, ncap, old[i].ip, w);
	}
	moving_begin(c);
	c->t4 = nt;
	c->cap4 = ncap;
	moving_end(c);
	free(old);
	return 0;
}

static int put4(struct cache *c, uint32_t ip, const struct verdict *v, int from)
{
	uint64_t w = wpack(v), old;
	struct ent4 *e = find4(c, ip, &old);
	int rc;

	/* the providers: new ones when given, else the entry's (none for a new one) */
	if (from >= 0)
		w |= (uint64_t)(uint8_t)from << W_FROM_SHIFT;
	else if (e)
		w |= old & W_FROM;
	if (e) {
		if (old != w)
			wstore(&e->w, w);
		return 0;
	}
	if ((c->n4 + 1) * 4 > c->cap4 * 3 && (rc = grow4(c)) < 0)
		return rc;
	place4(c->t4, c->cap4, ip, w);
	count_set(&c->n4, c->n4 + 1);
	return 0;
}

/* Backward-shift deletion: pull later entries of the probe run into the hole unless
 * their home slot lies cyclically in (hole, j]. Under the write side: entries move. */
static int del4(struct cache *c, uint32_t ip)
{
	uint64_t w;
	struct ent4 *e = find4(c, ip, &w);
	struct ent4 *t = c->t4;
	size_t m, i, j, k;

	if (!e)
		return -ENOENT;
	m = c->cap4 - 1;
	i = (size_t)(e - t);
	moving_begin(c);
	wstore(&t[i].w, 0);
	for (j = (i + 1) & m; (w = wload(&t[j].w)) & W_USED; j = (j + 1) & m) {
		k = hash32(t[j].ip) & m;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t[i].ip = t[j].ip;
		wstore(&t[i].w, w);
		wstore(&t[j].w, 0);
		i = j;
	}
	moving_end(c);
	count_set(&c->n4, c->n4 - 1);
	return 0;
}

/* ---- IPv6 table ---- */

static struct ent6 *find6(const struct cache *c, const uint8_t *ip, uint64_t *w)
{
	struct ent6 *t = c->t6;
	size_t m, i;

	if (!c->cap6)
		return NULL;
	m = c->cap6 - 1;
	for (i = hash128(ip) & m;; i = (i + 1) & m) {
		uint64_t x = wload(&t[i].w);

		if (!(x & W_USED))
			return NULL;
		if (memcmp(t[i].ip, ip, 16) == 0) {
			*w = x;
			return &t[i];
		}
	}
}

static void place6(struct ent6 *t, size_t cap, const uint8_t *ip, uint64_t w)
{
	size_t m = cap - 1, i;

	for (i = hash128(ip) & m; wload(&t[i].w) & W_USED; i = (i + 1) & m)
		;
	memcpy(t[i].ip, ip, 16);
	wstore(&t[i].w, w);
}

static int grow6(struct cache *c)
{
	size_t ncap = c->cap6 ? c->cap6 * 2 : CACHE_MIN_CAP, i;
	struct ent6 *nt, *old = c->t6;

	if (ncap > SIZE_MAX / sizeof(*nt) / 2)
		return -ENOMEM;
	nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (i = 0; i < c->cap6; i++) {
		uint64_t w = wload(&old[i].w);

		if (w & W_USED)
			place6(nt, ncap, old[i].ip, w);
	}
	moving_begin(c);
	c->t6 = nt;
	c->cap6 = ncap;
	moving_end(c);
	free(old);
	return 0;
}

static int put6(struct cache *c, const uint8_t *ip, const struct verdict *v, int from)
{
	uint64_t w = wpack(v), old;
	struct ent6 *e = find6(c, ip, &old);
	int rc;

	/* the providers: new ones when given, else the entry's (none for a new one) */
	if (from >= 0)
		w |= (uint64_t)(uint8_t)from << W_FROM_SHIFT;
	else if (e)
		w |= old & W_FROM;
	if (e) {
		if (old != w)
			wstore(&e->w, w);
		return 0;
	}
	if ((c->n6 + 1) * 4 > c->cap6 * 3 && (rc = grow6(c)) < 0)
		return rc;
	place6(c->t6, c->cap6, ip, w);
	count_set(&c->n6, c->n6 + 1);
	return 0;
}

static int del6(struct cache *c, const uint8_t *ip)
{
	uint64_t w;
	struct ent6 *e = find6(c, ip, &w);
	struct ent6 *t = c->t6;
	size_t m, i, j, k;

	if (!e)
		return -ENOENT;
	m = c->cap6 - 1;
	i = (size_t)(e - t);
	moving_begin(c);
	wstore(&t[i].w, 0);
	for (j = (i + 1) & m; (w = wload(&t[j].w)) & W_USED; j = (j + 1) & m) {
		k = hash128(t[j].ip) & m;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		memcpy(t[i].ip, t[j].ip, 16);
		wstore(&t[i].w, w);
		wstore(&t[j].w, 0);
		i = j;
	}
	moving_end(c);
	count_set(&c->n6, c->n6 - 1);
	return 0;
}

/* ---- the interface ---- */

int cache_get_from(const struct cache *c, const struct ipaddr *ip, struct verdict *out,
		   uint8_t *from)
{
	uint64_t w;

	if (is_v4(ip) ? !find4(c, v4_key(ip), &w) : !find6(c, ip->b, &w))
		return -ENOENT;
	wunpack(w, out);
	if (from)
		*from = (uint8_t)(w >> W_FROM_SHIFT);
	return 0;
}

int cache_get(const struct cache *c, const struct ipaddr *ip, struct verdict *out)
{
	return cache_get_from(c, ip, out, NULL);
}

void cache_set_shared(struct cache *c, struct shared *sh)
{
	c->shared = sh;
}

int cache_put_from(struct cache *c, const struct ipaddr *ip, const struct verdict *v,
		   int from)
{
	int rc;

	pthread_mutex_lock(&c->wmu);
	rc = is_v4(ip) ? put4(c, v4_key(ip), v, from) : put6(c, ip->b, v, from);
	pthread_mutex_unlock(&c->wmu);
	return rc;
}

int cache_put(struct cache *c, const struct ipaddr *ip, const struct verdict *v)
{
	return cache_put_from(c, ip, v, -1);
}

int cache_get_locked(struct cache *c, const struct ipaddr *ip, struct verdict *out,
		     uint8_t *from)
{
	int rc;

	pthread_mutex_lock(&c->wmu);
	rc = cache_get_from(c, ip, out, from);
	pthread_mutex_unlock(&c->wmu);
	return rc;
}

int cache_update(struct cache *c, const struct ipaddr *ip,
		 int (*fn)(void *arg, struct verdict *v), void *arg)
{
	struct verdict v;
	int rc;

	pthread_mutex_lock(&c->wmu);
	if ((rc = cache_get_from(c, ip, &v, NULL)) == 0 && (rc = fn(arg, &v)) > 0)
		rc = is_v4(ip) ? put4(c, v4_key(ip), &v, -1) : put6(c, ip->b, &v, -1);
	pthread_mutex_unlock(&c->wmu);
	return rc < 0 ? rc : 0;
}

int cache_put_new(struct cache *c, const struct ipaddr *ip, const struct verdict *v,
		  int from)
{
	struct verdict now;
	int rc;

	pthread_mutex_lock(&c->wmu);
	if (cache_get_from(c, ip, &now, NULL) == 0)
		rc = -EEXIST;
	else
		rc = is_v4(ip) ? put4(c, v4_key(ip), v, from) : put6(c, ip->b, v, from);
	pthread_mutex_unlock(&c->wmu);
	return rc;
}

int cache_del(struct cache *c, const struct ipaddr *ip)
{
	int rc;

	pthread_mutex_lock(&c->wmu);
	rc = is_v4(ip) ? del4(c, v4_key(ip)) : del6(c, ip->b);
	pthread_mutex_unlock(&c->wmu);
	return rc;
}

size_t cache_del_many(struct cache *c, const struct ipaddr *ips, size_t n)
{
	size_t done = 0;

	for (size_t i = 0; i < n; i += CACHE_DEL_CHUNK) {
		size_t end = n - i > CACHE_DEL_CHUNK ? i + CACHE_DEL_CHUNK : n;

		pthread_mutex_lock(&c->wmu);
		moving_begin(c);
		c->moving_held = 1;
		for (size_t k = i; k < end; k++)
			done += (is_v4(&ips[k]) ? del4(c, v4_key(&ips[k])) :
				 del6(c, ips[k].b)) == 0;
		c->moving_held = 0;
		moving_end(c);
		pthread_mutex_unlock(&c->wmu);
	}
	return done;
}

size_t cache_count(const struct cache *c)
{
	return count_get(&c->n4) + count_get(&c->n6);
}

size_t cache_memory(const struct cache *c)
{
	return sizeof(*c) + c->cap4 * sizeof(struct ent4) + c->cap6 * sizeof(struct ent6);
}

int cache_foreach(const struct cache *c,
		  int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v),
		  void *arg)
{
	struct ipaddr ip;
	struct verdict v;
	size_t i;
	int rc;

	memset(&ip, 0, sizeof(ip));
	ip.b[10] = ip.b[11] = 0xff;
	for (i = 0; i < c->cap4; i++) {
		const struct ent4 *e = &c->t4[i];
		uint64_t w = wload(&e->w);

		if (!(w & W_USED))
			continue;
		ip.b[12] = (uint8_t)(e->ip >> 24);
		ip.b[13] = (uint8_t)(e->ip >> 16);
		ip.b[14] = (uint8_t)(e->ip >> 8);
		ip.b[15] = (uint8_t)e->ip;
		wunpack(w, &v);
		if ((rc = fn(arg, &ip, &v)) != 0)
			return rc;
	}
	for (i = 0; i < c->cap6; i++) {
		const struct ent6 *e = &c->t6[i];
		uint64_t w = wload(&e->w);

		if (!(w & W_USED))
			continue;
		memcpy(ip.b, e->ip, 16);
		wunpack(w, &v);
		if ((rc = fn(arg, &ip, &v)) != 0)
			return rc;
	}
	return 0;
}
