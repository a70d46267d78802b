/* clients.c - the clients that cause lookups, counted by prefix, so that one of them
 * cannot take every call (issue: one client sending unique random IPs starved every
 * other client's lookups and spent the budget).
 *
 * A client is a prefix of the querier's address: /24 for IPv4 and /56 for IPv6 by
 * default ([intel] client-prefix-v4, client-prefix-v6), so that one host, one LAN or
 * one customer's block count as one. Each has a token bucket ([intel] per-client-rate,
 * per-client-burst) that every new lookup it causes takes a token from, and a queue of
 * its lookups waiting for a call; the clients with a waiting lookup take turns (round
 * robin), so when calls are scarce each gets its share. A lookup asked by a second
 * client is no longer any one client's (intel.c queues those first).
 *
 * Memory is bounded: a client is freed once nothing of it is queued or in flight and
 * its bucket is full again; at CLIENTS_MAX clients the idle ones are swept and, if
 * none is idle, a new client is refused (its query gets the `unknown` answer).
 * Lookup thread only, like intel.c. */
#ifndef THREATBL_CLIENTS_H
#define THREATBL_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ipaddr.h"
#include "ipmap.h"
#include "list.h"

#define CLIENTS_MAX 65536

struct client {
	struct ipaddr prefix;      /* first: the ipmap key */
	struct list_head q;        /* its lookups waiting for a call (intel.c's) */
	struct list_node rr;       /* on clients.rr while q is not empty */
	double tokens;
	uint64_t tokens_at;        /* ms of the last refill */
	unsigned refs;             /* lookups it owns (queued or in flight) */
};

struct clients {
	struct ipmap map;
	struct list_head rr;       /* clients with waiting lookups, next turn first */
	unsigned v4_len, v6_len;   /* prefix lengths (IPv4 in its own bits) */
	double rate;               /* tokens per second; 0: no limit */
	unsigned burst;
	uint64_t limited;          /* new lookups refused: bucket empty or table full */
};

void clients_init(struct clients *cs);
void clients_configure(struct clients *cs, const struct config *cfg);

/* The client of addr at now (ms), made when new. NULL: the table is full of busy
 * clients, or out of memory. */
struct client *clients_get(struct clients *cs, const struct ipaddr *addr, uint64_t now);

/* Whether addr belongs to client c (its prefix). */
int clients_is(const struct clients *cs, const struct client *c, const struct ipaddr *addr);

/* A token for a new lookup: 0 (and the caller owns one more lookup of c: release it
 * with clients_release), or -EBUSY when c's bucket is empty (counted). */
int clients_take(struct clients *cs, struct client *c, uint64_t now);

/* A lookup of c is gone (done or dropped). c may be freed (when idle). */
void clients_release(struct clients *cs, struct client *c, uint64_t now);

/* Queue bookkeeping for intel.c, which owns the lookups on c->q: call after adding
 * the first lookup to c->q (c takes a turn) and after removing the last (it leaves the
 * turns). */
void clients_queued(struct clients *cs, struct client *c);
void clients_unqueued(struct clients *cs, struct client *c);

/* The client whose turn it is, or NULL; clients_rotate sends c to the back. */
struct client *clients_next(const struct clients *cs);
void clients_rotate(struct clients *cs, struct client *c);

size_t clients_count(const struct clients *cs);

/* Free every client (their lookups must be gone). */
void clients_free(struct clients *cs);

#endif
