/* ipmap.c - a set of objects keyed by the IP address they start with.
 *
 * intel.c keeps one lookup per IP in flight; this is the index that lets every query
 * for an IP find that lookup. Open addressing with linear probing, power-of-two
 * sizes, at most 3/4 full, backward-shift deletion (no tombstones). The map holds
 * pointers only: the objects belong to the caller. */
#ifndef THREATBL_IPMAP_H
#define THREATBL_IPMAP_H

#include <stddef.h>

#include "ipaddr.h"

struct ipmap {
	struct ipaddr **slot; /* cap entries, NULL when free */
	size_t cap, count;
};

/* An empty map (no allocation until ipmap_reserve). */
void ipmap_init(struct ipmap *m);

/* Free the table, not the objects. */
void ipmap_free(struct ipmap *m);

/* Make room for n objects, so that as many ipmap_add calls cannot fail. 0 or -ENOMEM
 * (the map is unchanged). */
int ipmap_reserve(struct ipmap *m, size_t n);

/* The object whose key equals ip, or NULL. */
void *ipmap_find(const struct ipmap *m, const struct ipaddr *ip);

/* Add obj, whose first member is its struct ipaddr key, not already in the map.
 * 0, or -ENOMEM (room is made as needed; see ipmap_reserve). */
int ipmap_add(struct ipmap *m, void *obj);

/* Remove obj (compared by pointer); nothing when it is not in the map. */
void ipmap_del(struct ipmap *m, const void *obj);

/* Call fn for every object (order unspecified); stop early when fn returns non-zero
 * and return that value, else 0. fn must not add to or delete from the map (it may
 * free the object when the map is freed next, as intel.c does at close). */
int ipmap_foreach(const struct ipmap *m, int (*fn)(void *arg, void *obj), void *arg);

#endif
