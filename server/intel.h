/* intel.c - the lookup scheduler between DNS queries and the intelligence service.
 *
 * One lookup per IP in flight, however many queries wait on it (coalescing). A query
 * waits at most `deadline`; the lookup goes on after that, so the next query finds
 * the verdict. `concurrency`, `rate` (token bucket) and `daily-budget` bound the calls,
 * with a bounded queue before them. Failures back off exponentially; a bad key or an
 * exhausted credit pauses calls (doc/criminalip.md#what-threatbl-does-with-each-outcome). Results go into the cache (memory)
 * and to the store (sqlite); errors are never remembered as clean.
 *
 * The service itself is behind struct provider_backend (provider.h), so the scheduler
 * knows no provider by name: logs say the backend's name and the store gets its
 * source. There may be several (doc/providers.md#combining-providers), each with its
 * own concurrency, rate, budget, pauses and backoff; a lookup asks them in priority
 * order, until the first verdict ([intel] combine = first) or all of them (all).
 * The tests plug in scripted backends, the daemon those of the provider table. Loop
 * thread only. */
#ifndef THREATBL_INTEL_H
#define THREATBL_INTEL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cache.h"
#include "config.h"
#include "ipaddr.h"
#include "list.h"
#include "provider.h"
#include "store.h"
#include "verdict.h"

/* A parked query. The transport embeds it and owns its memory; intel owns the links
 * while it waits. */
struct intel_waiter;
typedef void (*intel_wait_cb)(struct intel_waiter *w, int status);
struct intel_waiter {
	struct list_node node;            /* intel's: all waiters, by arrival */
	struct list_node lnode;           /* intel's: the waiters of one lookup */
	void *lookup;                     /* intel's; NULL when not parked */
	uint64_t deadline;                /* intel's, uv_now() ms */
	intel_wait_cb cb;
};

struct intel;

/* Most providers one intel asks (config.h's CONFIG_PROVIDERS_MAX). */
#define INTEL_PROVIDERS_MAX 8

/* store may be NULL (no persistence). On success the backend is owned by intel from
 * here on; on failure (-ENOMEM, or -EINVAL when the backend has no name or source)
 * nothing was taken and the caller closes it. The settings are copied, cfg is not
 * kept. */
int intel_new(uv_loop_t *loop, const struct config *cfg, struct provider_backend backend,
	      struct cache *cache, struct store *store, struct intel **out);

/* intel_new with n (1..INTEL_PROVIDERS_MAX) backends in priority order, asked as
 * cfg's [intel] combine says (doc/providers.md#combining-providers); each bounded by
 * the settings of its provider (config_provider_get by its source; [intel]'s for a
 * source that is not in the provider table). -EINVAL when one has no name or source,
 * or n is out of range (nothing taken). */
int intel_new_many(uv_loop_t *loop, const struct config *cfg,
		   const struct provider_backend *backends, size_t n, struct cache *cache,
		   struct store *store, struct intel **out);

/* Park w until ip has a verdict (cb status 0), the deadline passes (-ETIMEDOUT) or
 * intel closes (-ECANCELED); cb runs on the loop thread, never from inside this call.
 * client: the address of the querier, or NULL (no per-client accounting): a new
 * lookup must be allowed by lookup-from and paid for by the client's bucket
 * (clients.c); joining a lookup already there is free for anyone.
 * Returns 0 when parked, or, with nothing parked: -EEXIST (the cache has a verdict
 * for ip now, made since the caller looked: answer from it), -EBUSY (queue full, or
 * the client's bucket empty), -EAGAIN (calls paused: bad key, no credit, budget used
 * up, backing off; or the client is not in lookup-from). */
int intel_wait(struct intel *in, const struct ipaddr *ip, const struct ipaddr *client,
	       struct intel_waiter *w, intel_wait_cb cb);

/* A check before every new call (intel_wait, intel_refresh): when skip(arg, ip) is
 * true no call is made for ip (intel_wait returns -EAGAIN: the query is answered
 * from what is known; [intel] skip-when with feed.c). NULL: none. */
void intel_set_skip(struct intel *in, int (*skip)(void *arg, const struct ipaddr *ip),
		    void *arg);

/* Forget a parked waiter without calling it (its query's connection went away).
 * Harmless on a waiter whose cb has already run (w->lookup is then NULL). */
void intel_cancel(struct intel *in, struct intel_waiter *w);

/* Look ip up in the background when allowed (a stale verdict); never blocks. Does
 * nothing when ip is already being looked up, the queue is full, or calls are paused
 * or backing off. */
void intel_refresh(struct intel *in, const struct ipaddr *ip);

/* New settings after a reload: also ends an "invalid api key" pause. The backend is
 * replaced when new_backend.fetch is non-NULL (it needs a name and a source then,
 * as in intel_new; without them it is closed and the old one kept). */
void intel_reconfigure(struct intel *in, const struct config *cfg,
		       struct provider_backend new_backend);

/* Outcomes counted by intel_stats.outcomes (enum provider_outcome), and the upper
 * bounds of the call durations' histogram (intel_stats.call_ms; the last bucket, past
 * the largest bound, is +Inf): doc/operations.md#counters. */
#define INTEL_NOUTCOME (PROVIDER_UNUSABLE + 1)
#define INTEL_CALL_BUCKETS_MS { 50, 100, 250, 500, 1000, 2500, 5000, 10000 }
#define INTEL_NCALL_BUCKETS 8
/* The same with n backends (0: settings only). The same sources in the same order
 * replace the backends one by one, each provider keeping its budget and backoff;
 * another set starts afresh, and lookups in flight ask the new set. */
void intel_reconfigure_many(struct intel *in, const struct config *cfg,
			    const struct provider_backend *be, size_t n);

/* One provider's counters. */
struct intel_provider_stats {
	const char *source;   /* its name in the store ("criminalip") */
	uint64_t requests;
	uint32_t calls_today;
	uint32_t daily_budget; /* 0: none */
	uint32_t backoff_ms;
	unsigned inflight;
	int paused;           /* as intel_stats.paused, for this provider alone */
};

struct intel_stats {
	uint64_t requests;   /* calls started */
	uint64_t coalesced;  /* waiters that joined a lookup in flight */
	uint64_t timeouts;   /* waiters answered at the deadline */
	uint64_t dropped;    /* queued lookups nobody waited for, dropped to make room */
	uint64_t rejected;   /* intel_wait refusals */
	uint64_t client_limited; /* new lookups refused: the client's bucket was empty */
	uint64_t not_allowed;    /* new lookups refused: the client is not in lookup-from */
	size_t clients;          /* client prefixes tracked now */
	unsigned inflight, queued;
	int paused;          /* 0, or the outcome that paused calls: PROVIDER_BAD_KEY,
			      * PROVIDER_LIMIT (also the daily budget), PROVIDER_TROUBLE
			      * (backing off) */
	uint32_t calls_today;  /* calls started this UTC day */
	uint32_t backoff_ms;   /* the current trouble backoff, 0 when reachable */
	int one_at_a_time;     /* 1 after "busy" or trouble, until a call succeeds */
	uint64_t outcomes[INTEL_NOUTCOME]; /* calls ended, by outcome */
	uint64_t call_ms[INTEL_NCALL_BUCKETS + 1]; /* calls ended, by duration: not
				* cumulative; [i] <= bound i, the last one beyond */
	uint64_t call_ms_sum;  /* their total duration */
	/* With several providers: paused only when all are (the first one's reason),
	 * calls_today their sum, backoff_ms and one_at_a_time the first one's. */
	unsigned nproviders;
	struct intel_provider_stats prov[INTEL_PROVIDERS_MAX];
};
void intel_get_stats(const struct intel *in, struct intel_stats *st);

/* Cancel every waiter (-ECANCELED) and lookup, close the backend, then call
 * done(arg) and free in. */
void intel_close(struct intel *in, void (*done)(void *arg), void *arg);

/* For tests: the clocks intel reads, a monotonic one in ms (uv_now by default) and
 * unix seconds (time(NULL) by default, for the UTC day and verdict times). NULL
 * functions restore the defaults. After moving a fake clock, call intel_poll so that
 * deadlines and waiting calls are handled now rather than when the uv timers fire. */
struct intel_clock {
	uint64_t (*mono_ms)(void *arg);
	int64_t (*unix_s)(void *arg);
	void *arg;
};
void intel_set_clock(struct intel *in, const struct intel_clock *clk);

/* A fleet (store_is_fleet; doc/fleet.md): before a call, intel claims the IP through
 * the store, whose answer cb carries from the store's thread to this loop, where
 * intel_fleet_claimed takes it. intel_fleet_arrived: another node's verdict for ip
 * is in the cache now; the lookups waiting for it end without a call. Not set, or a
 * store that is no fleet: no claims. Loop thread. */
void intel_set_fleet(struct intel *in, store_claim_cb cb, void *arg);
void intel_fleet_claimed(struct intel *in, const struct ipaddr *ip, int outcome,
			 uint32_t calls);
void intel_fleet_arrived(struct intel *in, const struct ipaddr *ip);
void intel_poll(struct intel *in);

#endif
