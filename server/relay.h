/* relay.c - how an answering loop hands lookups to the lookup thread and gets the
 * outcomes back.
 *
 * Each answering loop (the main loop, every worker loop of `threads`) owns one relay:
 * a fixed pool of slots allocated once, two lists under a mutex (posted: to the lookup
 * thread; back: outcomes to the owner) and a uv_async on each side. A parked query
 * takes a slot; the slot carries its IP to the lookup thread, which parks the slot's
 * intel_waiter with intel.c, and carries the status back. Refreshes of stale verdicts
 * go in a fixed array beside the lists. Nothing is allocated per query: a full pool
 * refuses (-EBUSY) and the query is answered at once (`unknown`).
 *
 * Threads: relay_wait, relay_cancel, relay_refresh and relay_close on the owner loop's
 * thread; relay_connect, relay_drain, relay_answer and relay_disconnect on the lookup
 * thread (relay_connect before the first relay_wait). The mutex is taken once per
 * posted query, per stale refresh and per wake-up, never per cached answer. */
#ifndef THREATBL_RELAY_H
#define THREATBL_RELAY_H

#include <stddef.h>
#include <uv.h>

#include "intel.h"
#include "ipaddr.h"
#include "list.h"

struct relay;
struct relay_waiter;
typedef void (*relay_wait_cb)(struct relay_waiter *w, int status);

/* A parked query: the transport embeds it and owns its memory. */
struct relay_waiter {
	struct relay_slot *slot;     /* the relay's: the slot while parked, else NULL */
};

/* One query on its way. The lookup thread uses iw and ip between relay_drain and
 * relay_answer; the rest is the relay's. */
struct relay_slot {
	struct intel_waiter iw;
	struct ipaddr ip;
	struct ipaddr client;        /* who asked (per-client accounting, lookup-from) */
	int has_client;
	int status;
	struct relay *r;
	struct list_node node;       /* on the free, posted or back list */
	struct relay_waiter *orig;   /* owner loop only; NULL once cancelled */
	relay_wait_cb cb;            /* owner loop only */
};

/* A relay for the loop `loop` with nslots slots: its async is initialised on loop
 * (from any thread before that loop runs). 0, -ENOMEM or a libuv error. Freed with
 * relay_free once relay_close has finished and the lookup thread is done with it. */
int relay_new(uv_loop_t *loop, size_t nslots, struct relay **out);
void relay_free(struct relay *r);

/* --- the owner loop ---------------------------------------------------------- */

/* Hand ip, asked by client (NULL: unknown), to the lookup thread; cb(w, status) runs
 * later on the owner loop: 0 (the
 * verdict is in, or lookups were switched off: answer from the cache), -ETIMEDOUT
 * (deadline), -EAGAIN/-EBUSY (refused), -ECANCELED (stopping). Never from inside this
 * call. Returns 0 when parked, -EBUSY when every slot is taken, -ECANCELED when the
 * relay is closing or the lookup thread is gone. */
int relay_wait(struct relay *r, const struct ipaddr *ip, const struct ipaddr *client,
	       struct relay_waiter *w, relay_wait_cb cb);

/* Forget w (its connection went away): cb will not run. The slot comes home when the
 * lookup thread is done with it. Harmless on a waiter that is not parked. */
void relay_cancel(struct relay *r, struct relay_waiter *w);

/* Ask for a background lookup of ip (a stale verdict); dns_env.refresh's signature.
 * Dropped when the fixed array is full until the lookup thread's next wake-up. */
void relay_refresh(void *r, const struct ipaddr *ip);

/* Refuse new waits; once every slot is home, close the async and call closed(arg) on
 * the owner loop. */
void relay_close(struct relay *r, void (*closed)(void *arg), void *arg);

/* --- the lookup thread ------------------------------------------------------- */

/* The async relay_wait and relay_refresh wake the lookup thread with, and the lookup
 * thread's own pointer (relay_consumer). */
void relay_connect(struct relay *r, uv_async_t *wake, void *consumer);
void *relay_consumer(const struct relay *r);

/* Take what was posted: post(arg, s) for each query (answer it with relay_answer,
 * now or later), refresh(arg, ip) for each refresh. */
void relay_drain(struct relay *r, void (*post)(void *arg, struct relay_slot *s),
		 void (*refresh)(void *arg, const struct ipaddr *ip), void *arg);

/* Send s home with status. */
void relay_answer(struct relay_slot *s, int status);

/* The lookup thread is going away: what is posted is answered -ECANCELED, later
 * relay_wait calls are refused, and the wake async is not used any more. */
void relay_disconnect(struct relay *r);

#endif
