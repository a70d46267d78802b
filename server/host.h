/* host.c - what the transports (udp.c, tcp.c) reach through the loop they run on.
 *
 * One answering loop (the main loop, or a worker loop of `threads`) is one host: its
 * libuv loop, its copy of the shared view (zones, cache, settings; shared.h), its own
 * clock, and its relay to the lookup thread (relay.h). The transports know nothing
 * else of the server, so a transport runs on any loop that has a host, as Knot's udp
 * and tcp handlers share handler.h. Owned by whoever runs the loop; it must outlive
 * every listener started on it. Loop thread only. */
#ifndef THREATBL_HOST_H
#define THREATBL_HOST_H

#include <uv.h>

#include "counters.h"
#include "ipaddr.h"
#include "relay.h"
#include "shared.h"

struct host {
	uv_loop_t *loop;
	struct shared *shared;
	struct relay *relay;
	struct shared_view view;     /* this loop's copy, valid between enter and leave */
	char tag[24];                /* added to log lines: "" or " (thread 2)" */
	struct counters ctr;         /* this loop's answers (counters.h): written by
				      * this loop only, read by any thread */
	struct querylog_loop *qlog;  /* this loop's side of the query log (querylog.h);
				      * NULL: none */
};

struct querylog_loop;

/* tag: "" for the main loop, " (thread N)" for a worker. */
void host_init(struct host *h, uv_loop_t *loop, struct shared *sh, struct relay *relay,
	       const char *tag);

/* Around each batch of queries (and each parked query's answer, each TCP read and
 * accept): enter takes the read side of the shared lock and returns this loop's copy
 * of the view, its clock set and its refreshes going to this loop's relay; leave
 * releases the lock. Never nested. */
const struct shared_view *host_enter(struct host *h);
void host_leave(struct host *h);

/* Park w until ip has a verdict (relay_wait: cb on this loop, never from inside);
 * client is the querier's address (NULL: unknown). */
int host_wait(struct host *h, const struct ipaddr *ip, const struct ipaddr *client,
	      struct relay_waiter *w, relay_wait_cb cb);

/* Forget a parked waiter: its cb will not run. */
void host_cancel(struct host *h, struct relay_waiter *w);

/* The cache's word on a query, from its first dns_handle (a query that waits is
 * counted as the miss it was on arrival, not again when answered). */
static inline void host_count_cache(struct host *h, const struct dns_result *r)
{
	if (r->cache < CTR_NCACHE)
		counter_add(&h->ctr.cache[r->cache], 1);
}

/* One answer made (DNS_REPLY): its RCODE, kind and listed categories. */
static inline void host_count_answer(struct host *h, enum ctr_transport t,
				     const struct dns_result *r)
{
	counter_add(&h->ctr.queries[t][r->rcode & 15], 1);
	counter_add(&h->ctr.answers[r->kind], 1);
	for (unsigned m = r->cats; m; m &= m - 1)
		counter_add(&h->ctr.listed[__builtin_ctz(m)], 1);
}

/* Log this loop's counters (info), the line starting with when ("stats: "). On the
 * loop's thread or once it has stopped. */
void host_log_counters(const struct host *h, const char *when);

#endif
