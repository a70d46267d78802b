/* ipmap.c - a set of objects keyed by the IP address they start with. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipmap.h"

static size_t ipmap_hash(const struct ipaddr *ip)
{
	uint64_t a, b, x;

	memcpy(&a, ip->b, 8);
	memcpy(&b, ip->b + 8, 8);
	x = a * 0x9e3779b97f4a7c15ULL ^ b;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)x;
}

static void place(struct ipaddr **slot, size_t cap, struct ipaddr *key)
{
	size_t m = cap - 1, i;

	for (i = ipmap_hash(key) & m; slot[i]; i = (i + 1) & m)
		;
	slot[i] = key;
}

void ipmap_init(struct ipmap *m)
{
	m->slot = NULL;
	m->cap = m->count = 0;
}

void ipmap_free(struct ipmap *m)
{
	free(m->slot);
	ipmap_init(m);
}

int ipmap_reserve(struct ipmap *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 16, i;
	struct ipaddr **ns;

	while (n * 4 > cap * 3) {
		if (cap > SIZE_MAX / sizeof(*ns) / 2)
			return -ENOMEM;
		cap *= 2;
	}
	if (cap == m->cap)
		return 0;
	ns = calloc(cap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (i = 0; i < m->cap; i++)
		if (m->slot[i])
			place(ns, cap, m->slot[i]);
	free(m->slot);
	m->slot = ns;
	m->cap = cap;
	return 0;
}

void *ipmap_find(const struct ipmap *m, const struct ipaddr *ip)
{
	size_t mask = m->cap - 1, i;

	if (!m->cap)
		return NULL;
	for (i = ipmap_hash(ip) & mask; m->slot[i]; i = (i + 1) & mask)
		if (memcmp(m->slot[i]->b, ip->b, sizeof(ip->b)) == 0)
			return m->slot[i];
	return NULL;
}

int ipmap_add(struct ipmap *m, void *obj)
{
	int err = ipmap_reserve(m, m->count + 1);

	if (err)
		return err;
	place(m->slot, m->cap, obj);
	m->count++;
	return 0;
}

void ipmap_del(struct ipmap *m, const void *obj)
{
	size_t mask = m->cap - 1, i, j, k;

	if (!m->cap)
		return;
	for (i = ipmap_hash(obj) & mask; (const void *)m->slot[i] != obj; i = (i + 1) & mask)
		if (!m->slot[i])
			return;
	m->slot[i] = NULL;
	/* Move back every entry of the run after the hole that may not sit past it. */
	for (j = (i + 1) & mask; m->slot[j]; j = (j + 1) & mask) {
		k = ipmap_hash(m->slot[j]) & mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->slot[i] = m->slot[j];
		m->slot[j] = NULL;
		i = j;
	}
	m->count--;
}

int ipmap_foreach(const struct ipmap *m, int (*fn)(void *arg, void *obj), void *arg)
{
	int r;

	for (size_t i = 0; i < m->cap; i++)
		if (m->slot[i] && (r = fn(arg, m->slot[i])) != 0)
			return r;
	return 0;
}
