/* cache.c - the in-memory verdict table: IP -> struct verdict.
 *
 * Two open-addressing tables with linear probing, power-of-two sizes, grown at 3/4
 * load and emptied by backward shifting (no tombstones, so lookups never slow down
 * after many deletions). IPv4 is the common case and gets 12-byte slots keyed by the
 * address in host order: even just after a doubling (3/8 load) that is 32 bytes per
 * verdict. IPv6 gets 24-byte slots. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "shared.h"

/* 12 bytes: the `used` byte sits in what would be padding, so every IPv4 address
 * (0.0.0.0 too) can be a key. */
struct ent4 {
	uint32_t ip;        /* host order */
	uint32_t checked;
	uint8_t mask;
	uint8_t flags;
	uint8_t used;
	uint8_t from;       /* cache_put_from's, in what was padding */
};

struct ent6 {
	uint8_t ip[16];
	uint32_t checked;
	uint8_t mask;
	uint8_t flags;
	uint8_t used;
	uint8_t from;       /* cache_put_from's, in what was padding */
};

_Static_assert(sizeof(struct ent4) == 12, "IPv4 slot must stay 12 bytes");
_Static_assert(sizeof(struct ent6) == 24, "IPv6 slot must stay 24 bytes");

struct cache {
	struct ent4 *t4;
	size_t cap4, n4;    /* cap is 0 or a power of two */
	struct ent6 *t6;
	size_t cap6, n6;
	struct shared *shared;  /* NULL, or its write side taken by put and del */
};

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
	return calloc(1, sizeof(struct cache));
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	free(c->t4);
	free(c->t6);
	free(c);
}

/* ---- IPv4 table ---- */

static struct ent4 *find4(const struct cache *c, uint32_t ip)
{
	size_t m, i;

	if (!c->cap4)
		return NULL;
	m = c->cap4 - 1;
	for (i = hash32(ip) & m;; i = (i + 1) & m) {
		struct ent4 *e = &c->t4[i];

		if (!e->used)
			return NULL;
		if (e->ip == ip)
			return e;
	}
}

/* Place e into a table known to hold no entry with its key and to have room. */
static void place4(struct ent4 *t, size_t cap, const struct ent4 *e)
{
	size_t m = cap - 1, i;

	for (i = hash32(e->ip) & m; t[i].used; i = (i + 1) & m)
		;
	t[i] = *e;
}

static int grow4(struct cache *c)
{
	size_t ncap = c->cap4 ? c->cap4 * 2 : CACHE_MIN_CAP, i;
	struct ent4 *nt;

	if (ncap > SIZE_MAX / sizeof(*nt) / 2)
		return -ENOMEM;
	nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (i = 0; i < c->cap4; i++)
		if (c->t4[i].used)
			place4(nt, ncap, &c->t4[i]);
	free(c->t4);
	c->t4 = nt;
	c->cap4 = ncap;
	return 0;
}

static int put4(struct cache *c, uint32_t ip, const struct verdict *v, int from)
{
	struct ent4 *e = find4(c, ip), ne;
	int rc;

	if (e) {
		e->mask = v->mask;
		e->flags = v->flags;
		e->checked = v->checked;
		if (from >= 0)
			e->from = (uint8_t)from;
		return 0;
	}
	if ((c->n4 + 1) * 4 > c->cap4 * 3 && (rc = grow4(c)) < 0)
		return rc;
	memset(&ne, 0, sizeof(ne));
	ne.ip = ip;
	ne.checked = v->checked;
	ne.mask = v->mask;
	ne.flags = v->flags;
	ne.from = from >= 0 ? (uint8_t)from : 0;
	ne.used = 1;
	place4(c->t4, c->cap4, &ne);
	c->n4++;
	return 0;
}

/* Backward-shift deletion: pull later entries of the probe run into the hole unless
 * their home slot lies cyclically in (hole, j]. */
static int del4(struct cache *c, uint32_t ip)
{
	struct ent4 *e = find4(c, ip);
	size_t m, i, j, k;

	if (!e)
		return -ENOENT;
	m = c->cap4 - 1;
	i = (size_t)(e - c->t4);
	c->t4[i].used = 0;
	for (j = (i + 1) & m; c->t4[j].used; j = (j + 1) & m) {
		k = hash32(c->t4[j].ip) & m;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		c->t4[i] = c->t4[j];
		c->t4[j].used = 0;
		i = j;
	}
	c->n4--;
	return 0;
}

/* ---- IPv6 table ---- */

static struct ent6 *find6(const struct cache *c, const uint8_t *ip)
{
	size_t m, i;

	if (!c->cap6)
		return NULL;
	m = c->cap6 - 1;
	for (i = hash128(ip) & m;; i = (i + 1) & m) {
		struct ent6 *e = &c->t6[i];

		if (!e->used)
			return NULL;
		if (memcmp(e->ip, ip, 16) == 0)
			return e;
	}
}

static void place6(struct ent6 *t, size_t cap, const struct ent6 *e)
{
	size_t m = cap - 1, i;

	for (i = hash128(e->ip) & m; t[i].used; i = (i + 1) & m)
		;
	t[i] = *e;
}

static int grow6(struct cache *c)
{
	size_t ncap = c->cap6 ? c->cap6 * 2 : CACHE_MIN_CAP, i;
	struct ent6 *nt;

	if (ncap > SIZE_MAX / sizeof(*nt) / 2)
		return -ENOMEM;
	nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (i = 0; i < c->cap6; i++)
		if (c->t6[i].used)
			place6(nt, ncap, &c->t6[i]);
	free(c->t6);
	c->t6 = nt;
	c->cap6 = ncap;
	return 0;
}

static int put6(struct cache *c, const uint8_t *ip, const struct verdict *v, int from)
{
	struct ent6 *e = find6(c, ip), ne;
	int rc;

	if (e) {
		e->mask = v->mask;
		e->flags = v->flags;
		e->checked = v->checked;
		if (from >= 0)
			e->from = (uint8_t)from;
		return 0;
	}
	if ((c->n6 + 1) * 4 > c->cap6 * 3 && (rc = grow6(c)) < 0)
		return rc;
	memset(&ne, 0, sizeof(ne));
	memcpy(ne.ip, ip, 16);
	ne.checked = v->checked;
	ne.mask = v->mask;
	ne.flags = v->flags;
	ne.from = from >= 0 ? (uint8_t)from : 0;
	ne.used = 1;
	place6(c->t6, c->cap6, &ne);
	c->n6++;
	return 0;
}

static int del6(struct cache *c, const uint8_t *ip)
{
	struct ent6 *e = find6(c, ip);
	size_t m, i, j, k;

	if (!e)
		return -ENOENT;
	m = c->cap6 - 1;
	i = (size_t)(e - c->t6);
	c->t6[i].used = 0;
	for (j = (i + 1) & m; c->t6[j].used; j = (j + 1) & m) {
		k = hash128(c->t6[j].ip) & m;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		c->t6[i] = c->t6[j];
		c->t6[j].used = 0;
		i = j;
	}
	c->n6--;
	return 0;
}

/* ---- the interface ---- */

int cache_get_from(const struct cache *c, const struct ipaddr *ip, struct verdict *out,
		   uint8_t *from)
{
	if (is_v4(ip)) {
		const struct ent4 *e = find4(c, v4_key(ip));

		if (!e)
			return -ENOENT;
		out->mask = e->mask;
		out->flags = e->flags;
		out->checked = e->checked;
		if (from)
			*from = e->from;
	} else {
		const struct ent6 *e = find6(c, ip->b);

		if (!e)
			return -ENOENT;
		out->mask = e->mask;
		out->flags = e->flags;
		out->checked = e->checked;
		if (from)
			*from = e->from;
	}
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

int cache_put(struct cache *c, const struct ipaddr *ip, const struct verdict *v)
{
	return cache_put_from(c, ip, v, -1);
}

int cache_put_from(struct cache *c, const struct ipaddr *ip, const struct verdict *v,
		   int from)
{
	int rc;

	if (c->shared)
		shared_write_begin(c->shared);
	rc = is_v4(ip) ? put4(c, v4_key(ip), v, from) : put6(c, ip->b, v, from);
	if (c->shared)
		shared_write_end(c->shared);
	return rc;
}

int cache_del(struct cache *c, const struct ipaddr *ip)
{
	int rc;

	if (c->shared)
		shared_write_begin(c->shared);
	rc = is_v4(ip) ? del4(c, v4_key(ip)) : del6(c, ip->b);
	if (c->shared)
		shared_write_end(c->shared);
	return rc;
}

size_t cache_count(const struct cache *c)
{
	return c->n4 + c->n6;
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

		if (!e->used)
			continue;
		ip.b[12] = (uint8_t)(e->ip >> 24);
		ip.b[13] = (uint8_t)(e->ip >> 16);
		ip.b[14] = (uint8_t)(e->ip >> 8);
		ip.b[15] = (uint8_t)e->ip;
		v.mask = e->mask;
		v.flags = e->flags;
		v.checked = e->checked;
		if ((rc = fn(arg, &ip, &v)) != 0)
			return rc;
	}
	for (i = 0; i < c->cap6; i++) {
		const struct ent6 *e = &c->t6[i];

		if (!e->used)
			continue;
		memcpy(ip.b, e->ip, 16);
		v.mask = e->mask;
		v.flags = e->flags;
		v.checked = e->checked;
		if ((rc = fn(arg, &ip, &v)) != 0)
			return rc;
	}
	return 0;
}
