/* intel.c - the lookup scheduler between DNS queries and the intelligence service.
 *
 * One lookup per IP in flight, however many queries wait on it (coalescing). A query
 * waits at most `deadline`; the lookup goes on after that, so the next query finds
 * the verdict. `concurrency`, `rate` (token bucket) and `daily-budget` bound the calls,
 * with a bounded queue before them. Failures back off exponentially; a bad key or an
 * exhausted credit pauses calls (CRIMINALIP.md). Results go into the cache (memory)
 * and to the store (sqlite); errors are never remembered as clean.
 *
 * The service itself is behind struct intel_backend, so the scheduler is tested with
 * a scripted backend and the daemon plugs in criminalip.c. Loop thread only. */
#ifndef THREATBL_INTEL_H
#define THREATBL_INTEL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cache.h"
#include "config.h"
#include "ipaddr.h"
#include "verdict.h"

struct store;

/* What one call to the service came to (CRIMINALIP.md "Errors"). */
enum intel_outcome {
	INTEL_OK,          /* mask (and facts) are the verdict */
	INTEL_BAD_KEY,     /* "invalid api key": pause until reload */
	INTEL_LIMIT,       /* "limit exceeded": pause until the next UTC day */
	INTEL_BUSY,        /* "unable to call api at the same time": retry shortly, alone */
	INTEL_INVALID_IP,  /* "Invalid IP Address." (or IPv6 refused): unknown, retry late */
	INTEL_TROUBLE,     /* 5xx, timeout, reset, malformed or oversized body */
	INTEL_CANCELED,    /* the backend is closing */
};

struct intel_result {
	enum intel_outcome outcome;
	uint8_t mask;            /* VERDICT_BIT()s, with INTEL_OK */
	const char *facts_json;  /* compact facts behind the verdict, for the store; may be NULL */
	const char *detail;      /* a short reason for logs (never the key); may be NULL */
};

typedef void (*intel_fetch_done)(void *arg, const struct intel_result *res);

/* A service. fetch starts one call and calls done exactly once, later, on the loop
 * thread (never from inside fetch); the result's strings live until done returns. */
struct intel_backend {
	void *impl;
	int (*fetch)(void *impl, const struct ipaddr *ip, intel_fetch_done done, void *arg);
	/* Cancel what is in flight (done runs with INTEL_CANCELED) and free impl once
	 * every handle is closed; then call closed(closed_arg). */
	void (*close)(void *impl, void (*closed)(void *arg), void *closed_arg);
};

/* A parked query. The transport embeds it and owns its memory; intel owns the links
 * while it waits. */
struct intel_waiter;
typedef void (*intel_wait_cb)(struct intel_waiter *w, int status);
struct intel_waiter {
	struct intel_waiter *next, *prev; /* intel's: all waiters, by arrival */
	struct intel_waiter *lnext, *lprev; /* intel's: the waiters of one lookup */
	void *lookup;                     /* intel's; NULL when not parked */
	uint64_t deadline;                /* intel's, uv_now() ms */
	intel_wait_cb cb;
};

struct intel;

/* store may be NULL (no persistence). On success the backend is owned by intel from
 * here on; on failure (-ENOMEM) nothing was taken and the caller closes it. The
 * settings are copied, cfg is not kept. */
int intel_new(uv_loop_t *loop, const struct config *cfg, struct intel_backend backend,
	      struct cache *cache, struct store *store, struct intel **out);

/* Park w until ip has a verdict (cb status 0), the deadline passes (-ETIMEDOUT) or
 * intel closes (-ECANCELED); cb runs on the loop thread, never from inside this call.
 * Returns 0 when parked, or, with nothing parked: -EBUSY (queue full), -EAGAIN (calls
 * paused: bad key, no credit, budget used up, backing off). */
int intel_wait(struct intel *in, const struct ipaddr *ip, struct intel_waiter *w,
	       intel_wait_cb cb);

/* Forget a parked waiter without calling it (its query's connection went away).
 * Harmless on a waiter whose cb has already run (w->lookup is then NULL). */
void intel_cancel(struct intel *in, struct intel_waiter *w);

/* Look ip up in the background when allowed (a stale verdict); never blocks. Has the
 * signature of dns_env.refresh. Does nothing when ip is already being looked up, the
 * queue is full, or calls are paused or backing off. */
void intel_refresh(void *in, const struct ipaddr *ip);

/* New settings after a reload: also ends an "invalid api key" pause. The backend is
 * replaced when new_backend.fetch is non-NULL. */
void intel_reconfigure(struct intel *in, const struct config *cfg,
		       struct intel_backend new_backend);

struct intel_stats {
	uint64_t requests;   /* calls started */
	uint64_t coalesced;  /* waiters that joined a lookup in flight */
	uint64_t timeouts;   /* waiters answered at the deadline */
	uint64_t dropped;    /* queued lookups nobody waited for, dropped to make room */
	uint64_t rejected;   /* intel_wait refusals */
	unsigned inflight, queued;
	int paused;          /* 0, or the outcome that paused calls: INTEL_BAD_KEY,
			      * INTEL_LIMIT (also the daily budget), INTEL_TROUBLE
			      * (backing off) */
	uint32_t calls_today;  /* calls started this UTC day */
	uint32_t backoff_ms;   /* the current trouble backoff, 0 when reachable */
	int one_at_a_time;     /* 1 after "busy" or trouble, until a call succeeds */
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
void intel_poll(struct intel *in);

#endif
