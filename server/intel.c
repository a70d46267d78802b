/* intel.c - the lookup scheduler between DNS queries and the intelligence service.
 *
 * A lookup is one IP to ask about. Lookups live in a map keyed by IP (ipmap.c, so
 * every query for an IP joins the one lookup), wait in a queue for a slot
 * (concurrency, token bucket, daily budget, pauses, backoff) and then have one
 * backend call in flight. Lookups that queries wait for go before those nobody waits
 * for any more (refreshes of stale verdicts, lookups whose queries were answered at
 * their deadline), so that credits left after a slow spell go to the questions being
 * asked now; a full queue makes room for a waited-for lookup by dropping the newest of
 * the others. Among the waited-for ones, a lookup that several clients ask about (or
 * that no one client caused) goes first; the others wait in their client's queue and
 * the clients take turns (clients.c), so that one client sending unique addresses
 * gets its share of the calls and no more. A client pays a token of its own bucket
 * for every lookup it causes, and only clients in [intel] lookup-from cause any. Waiters all have the same deadline, so they sit in one
 * arrival-ordered list and one uv timer runs for the oldest; each waiter is also on
 * its lookup's list, so a finished lookup reaches its waiters directly.
 *
 * Callbacks of waiters never run from inside intel_wait or intel_refresh: those only
 * start a call when the queue is empty, and a call that cannot start is queued, never
 * failed on the spot. Waiter callbacks may call back into intel (wait, refresh,
 * cancel): state is updated before any callback runs. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients.h"
#include "intel.h"
#include "ipmap.h"
#include "list.h"
#include "log.h"
#include "probe.h"
#include "store.h"

#define BUSY_DELAY_MIN_MS 200u
#define BUSY_DELAY_MAX_MS 5000u
#define BACKOFF_MIN_MS 1000u
#define BACKOFF_MAX_MS 300000u
#define RETRY_AFTER_MAX_MS 3600000u  /* a Retry-After is honoured up to an hour */
#define DAY_S 86400

enum { Q_NONE, Q_SHARED, Q_CLIENT, Q_IDLE };

/* A lookup's claim in a fleet (store_claim; doc/fleet.md#one-call-per-ip). */
enum { CLAIM_NONE, CLAIM_ASKED, CLAIM_MINE, CLAIM_LOCAL, CLAIM_THEIRS };
#define CLAIM_LEASE_EXTRA_MS 3000u  /* a dead node's claim outlives its call by this */

struct lookup {
	struct ipaddr ip;                    /* first: the ipmap key */
	struct intel *in;
	struct list_node qnode;              /* on its queue, while queued */
	int queued;                          /* Q_NONE, or which queue */
	struct list_head waiters;            /* its waiters, by arrival (lnode) */
	uint64_t started;                    /* ms, when its call started */
	unsigned gen;                        /* backend generation of that call */
	struct client *owner;                /* the client that caused it; NULL: none */
	int shared;                          /* another client asked about it too */
	int claim;                           /* CLAIM_*; CLAIM_THEIRS: on qtheirs */
	uint64_t reclaim_at;                 /* ms: CLAIM_THEIRS asks again then */
};
_Static_assert(offsetof(struct lookup, ip) == 0, "ipmap keys objects by their start");

struct intel {
	uv_loop_t *loop;
	struct provider_backend backend;
	/* The backend's, kept apart so that they outlive its closing: logs and store. */
	const char *name;
	const char *source;
	unsigned backend_gen;       /* bumped when intel_reconfigure replaces it */
	struct cache *cache;
	struct store *store;
	struct probe *probe;        /* threatbl's own OpenVPN check ([probe]) */
	struct intel_clock clk;

	/* settings, copied from the config */
	uint32_t deadline_ms;
	unsigned concurrency;
	double rate;                /* calls per second; 0: no limit */
	unsigned rate_burst;
	uint32_t daily_budget;
	uint32_t lease_ms;          /* a claim's lease: timeout + CLAIM_LEASE_EXTRA_MS */
	unsigned queue_max;
	uint32_t fresh_s, max_stale_s; /* as dns.c answers verdicts */

	struct ipmap map;           /* every lookup, by IP */

	/* Queued lookups (qnode): waited-for and shared first, then the clients' queues
	 * in turn (clients.rr, each client's q), then those nobody waits for. */
	struct list_head qshared, qidle;
	struct clients clients;
	struct acl lookup_from;     /* who may cause a lookup; empty: everyone */
	unsigned nqueued, inflight;
	struct list_head waiters;   /* every waiter, by arrival (node) */

	double tokens;
	uint64_t tokens_at;         /* ms of the last refill */
	int64_t day;                /* UTC day number of calls_today */
	uint32_t calls_today;
	int budget_out;             /* daily budget used up */
	enum provider_outcome pause;   /* PROVIDER_OK, PROVIDER_BAD_KEY or PROVIDER_LIMIT */
	uint32_t backoff_ms;        /* 0: reachable */
	uint64_t backoff_until;
	uint64_t trouble_at;        /* ms of the failure that set the backoff */
	int busy;                   /* one call at a time after "busy" */
	uint32_t busy_delay_ms;
	uint64_t busy_until;

	uint64_t requests, coalesced, timeouts, rejected, dropped, not_allowed;
	uint64_t limited_warned;    /* clients.limited at the last warning */
	uint64_t limited_warn_at;   /* ms of that warning */

	uv_timer_t deadline_timer;  /* the oldest waiter's deadline */
	uv_timer_t sched_timer;     /* when the queue head may start */
	/* A fleet: claims go through the store; their outcomes come back by
	 * intel_fleet_claimed. Lookups another node calls wait on qtheirs (qnode). */
	store_claim_cb fleet_cb;    /* NULL: no fleet */
	void *fleet_arg;
	struct list_head qtheirs;
	uv_timer_t fleet_timer;     /* the first of qtheirs to claim again */
	int closing;
	int timers_closing;
	unsigned backends_open;     /* backends whose closed() has not come yet */
	unsigned handles_open;
	void (*close_done)(void *arg);
	void *close_arg;
};

static void lookup_done(void *arg, const struct provider_result *res);
static void dispatch(struct intel *in);
static int cache_answers(const struct intel *in, const struct ipaddr *ip, int fresh_only);

static uint64_t now_ms(const struct intel *in)
{
	return in->clk.mono_ms ? in->clk.mono_ms(in->clk.arg) : uv_now(in->loop);
}

static int64_t wall_s(const struct intel *in)
{
	return in->clk.unix_s ? in->clk.unix_s(in->clk.arg) : (int64_t)time(NULL);
}

static int64_t day_of(int64_t t)
{
	return t >= 0 ? t / DAY_S : -((-t + DAY_S - 1) / DAY_S);
}

static const char *outcome_name(enum provider_outcome o)
{
	static const char *const names[] = {
		"ok", "invalid api key", "limit exceeded", "busy", "invalid ip", "trouble",
		"canceled", "unusable report",
	};

	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

/* ---- lists ---- */

static struct lookup *lookup_of(struct list_node *n)
{
	return n ? container_of(n, struct lookup, qnode) : NULL;
}

static struct intel_waiter *waiter_of(struct list_node *n)
{
	return n ? container_of(n, struct intel_waiter, node) : NULL;
}

/* Which queue l belongs in now. */
static int queue_class(const struct lookup *l)
{
	if (list_empty(&l->waiters))
		return Q_IDLE;
	return l->shared || !l->owner ? Q_SHARED : Q_CLIENT;
}

/* Into the queue its waiters and clients say, at the front (a call to retry first) or
 * back. */
static void queue_push(struct intel *in, struct lookup *l, int front)
{
	struct list_head *q;

	l->queued = queue_class(l);
	q = l->queued == Q_IDLE ? &in->qidle : l->queued == Q_SHARED ? &in->qshared
								      : &l->owner->q;
	if (front)
		list_add_head(q, &l->qnode);
	else
		list_add_tail(q, &l->qnode);
	if (l->queued == Q_CLIENT)
		clients_queued(&in->clients, l->owner);
	in->nqueued++;
}

static void queue_remove(struct intel *in, struct lookup *l)
{
	int was = l->queued;

	list_del(&l->qnode);
	l->queued = Q_NONE;
	in->nqueued--;
	if (was == Q_CLIENT)
		clients_unqueued(&in->clients, l->owner);
}

/* The next lookup to call, or NULL. */
static struct lookup *queue_head(const struct intel *in)
{
	struct client *c;

	if (!list_empty(&in->qshared))
		return lookup_of(list_first(&in->qshared));
	if ((c = clients_next(&in->clients)))
		return lookup_of(list_first(&c->q));
	return lookup_of(list_first(&in->qidle));
}

/* A queued lookup whose first waiter came or last one left, or that a second client
 * asked about, changes queue (to the back of the other). */
static void queue_reclass(struct intel *in, struct lookup *l)
{
	if (l->queued == Q_NONE || l->queued == queue_class(l))
		return;
	queue_remove(in, l);
	queue_push(in, l, 0);
}

static void waiter_unlink(struct intel *in, struct intel_waiter *w)
{
	struct lookup *l = w->lookup;

	list_del(&w->node);
	list_del(&w->lnode);
	w->lookup = NULL;
	queue_reclass(in, l);
}

/* ---- timers ---- */

static void deadline_cb(uv_timer_t *t);
static void sched_cb(uv_timer_t *t);

/* One timer for the oldest waiter: deadlines grow with arrival. */
static void arm_deadline(struct intel *in, uint64_t now)
{
	struct intel_waiter *w;

	if (in->closing)
		return;
	if (!(w = waiter_of(list_first(&in->waiters)))) {
		uv_timer_stop(&in->deadline_timer);
		return;
	}
	uv_timer_start(&in->deadline_timer, deadline_cb,
		       w->deadline > now ? w->deadline - now : 0, 0);
}

static void expire(struct intel *in, uint64_t now)
{
	struct intel_waiter *w;

	while (!in->closing && (w = waiter_of(list_first(&in->waiters))) &&
	       w->deadline <= now) {
		waiter_unlink(in, w);
		in->timeouts++;
		w->cb(w, -ETIMEDOUT);
	}
	arm_deadline(in, now);
}

static void deadline_cb(uv_timer_t *t)
{
	struct intel *in = t->data;

	expire(in, now_ms(in));
}

static void sched_cb(uv_timer_t *t)
{
	dispatch(t->data);
}

/* ---- when calls may start ---- */

/* A new UTC day ends a "limit exceeded" pause and an exhausted budget. Checked on
 * every entry point, so no timer has to wake at midnight. */
static void check_day(struct intel *in)
{
	int64_t d = day_of(wall_s(in));

	if (d == in->day)
		return;
	in->day = d;
	/* Counted in the database too, so that a restart does not reset the budget. */
	in->calls_today = in->store ? store_budget_get(in->store, d) : 0;
	if (in->budget_out || in->pause == PROVIDER_LIMIT)
		log_info("new UTC day: calls to %s resume", in->name);
	/* Not budget_check: an entry point must not answer waiters. A day whose budget
	 * the database says is spent (another process on the file) stays paused. */
	in->budget_out = in->daily_budget && in->calls_today >= in->daily_budget;
	if (in->pause == PROVIDER_LIMIT)
		in->pause = PROVIDER_OK;
}

/* Whether a new IP is refused at once (its query gets `unknown`). */
static int refusing(const struct intel *in, uint64_t now)
{
	return in->closing || in->pause != PROVIDER_OK || in->budget_out ||
	       now < in->backoff_until;
}

static void refill(struct intel *in, uint64_t now)
{
	if (in->rate <= 0 || now <= in->tokens_at)
		return;
	in->tokens += (double)(now - in->tokens_at) * in->rate / 1000.0;
	if (in->tokens > in->rate_burst)
		in->tokens = in->rate_burst;
	in->tokens_at = now;
}

/* 1 when a call may start now. Otherwise 0, with *wake set to the time a time-bound
 * block ends (0 when only a finished call or a new day can unblock). */
static int can_start(struct intel *in, uint64_t now, uint64_t *wake)
{
	unsigned limit = in->busy || in->backoff_ms ? 1 : in->concurrency;

	*wake = 0;
	if (in->closing || in->pause != PROVIDER_OK || in->budget_out)
		return 0;
	if (now < in->backoff_until) {
		*wake = in->backoff_until;
		return 0;
	}
	if (now < in->busy_until) {
		*wake = in->busy_until;
		return 0;
	}
	if (in->inflight >= limit)
		return 0;
	if (in->rate > 0) {
		refill(in, now);
		if (in->tokens < 1.0 - 1e-9) {
			uint64_t ms = (uint64_t)((1.0 - in->tokens) * 1000.0 / in->rate) + 1;

			*wake = now + ms;
			return 0;
		}
	}
	return 1;
}

static void arm_sched(struct intel *in, uint64_t now)
{
	uint64_t wake;

	if (in->closing)
		return;
	if (!in->nqueued) {
		uv_timer_stop(&in->sched_timer);
		return;
	}
	if (can_start(in, now, &wake))
		wake = now;
	if (!wake) {
		uv_timer_stop(&in->sched_timer);
		return;
	}
	uv_timer_start(&in->sched_timer, sched_cb, wake - now, 0);
}

/* ---- lookups ---- */

static struct lookup *lookup_new(struct intel *in, const struct ipaddr *ip)
{
	struct lookup *l;

	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->ip = *ip;
	l->in = in;
	list_init(&l->waiters);
	if (ipmap_add(&in->map, l) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

/* Remove l and hand its waiters status. */
static void lookup_finish(struct intel *in, struct lookup *l, int status)
{
	struct intel_waiter *w;
	struct list_node *n;

	ipmap_del(&in->map, l);
	/* one at a time: a callback may cancel another waiter of l */
	while ((n = list_first(&l->waiters))) {
		w = container_of(n, struct intel_waiter, lnode);
		waiter_unlink(in, w);
		w->cb(w, status);
	}
	if (l->owner)
		clients_release(&in->clients, l->owner, now_ms(in));
	free(l);
}

/* Queued lookups cannot be served while calls are paused: answer their waiters now
 * (status 0: from the cache, i.e. `unknown`) rather than at their deadline. */
static void flush_queue(struct intel *in)
{
	struct lookup *l;

	while ((l = queue_head(in))) {
		queue_remove(in, l);
		lookup_finish(in, l, 0);
	}
}

static void trouble(struct intel *in, uint64_t started, uint64_t now, const char *detail)
{
	uint64_t until;

	if (!in->backoff_ms) {
		in->backoff_ms = BACKOFF_MIN_MS;
		log_warn("%s unreachable: %s; backing off %" PRIu32 "s", in->name,
			 detail ? detail : "service trouble", in->backoff_ms / 1000);
	} else if (started >= in->trouble_at) {
		/* calls that were in flight at the last failure do not double it again */
		in->backoff_ms = in->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
								       : in->backoff_ms * 2;
		log_debug("%s still unreachable: %s; backing off %" PRIu32 "s", in->name,
			  detail ? detail : "service trouble", in->backoff_ms / 1000);
	}
	in->trouble_at = now;
	until = now + in->backoff_ms;
	if (until > in->backoff_until)
		in->backoff_until = until;
}

/* The service said how long to wait (Retry-After): no call before then, whatever the
 * backoff or busy delay says, up to RETRY_AFTER_MAX_MS. */
static void retry_after(struct intel *in, uint64_t now, uint32_t ms, uint64_t *until)
{
	if (!ms)
		return;
	if (ms > RETRY_AFTER_MAX_MS)
		ms = RETRY_AFTER_MAX_MS;
	if (now + ms > *until) {
		*until = now + ms;
		log_info("%s asks to wait %" PRIu32 "s before the next call", in->name, ms / 1000);
	}
}

/* The service answered properly: end the backoff and the one-at-a-time mode. */
static void reachable(struct intel *in)
{
	if (in->backoff_ms)
		log_info("%s reachable again", in->name);
	in->backoff_ms = 0;
	in->backoff_until = 0;
	in->busy = 0;
	in->busy_until = 0;
	in->busy_delay_ms = BUSY_DELAY_MIN_MS;
}

/* Pause calls when the daily budget is used up. Only from loop callbacks, or with an
 * empty queue: flushing it calls waiters. */
static void budget_check(struct intel *in)
{
	if (!in->daily_budget || in->calls_today < in->daily_budget || in->budget_out)
		return;
	in->budget_out = 1;
	log_warn("daily budget of %" PRIu32 " calls used up; calls resume at 00:00 UTC",
		 in->daily_budget);
	flush_queue(in);
}

/* Start l's call. On failure (the backend could not even start it) the service
 * backs off and l is left for the caller to queue again. */
static int start_fetch(struct intel *in, struct lookup *l, uint64_t now)
{
	int rc;

	l->started = now;
	l->gen = in->backend_gen;
	in->inflight++;
	rc = in->backend.fetch(in->backend.impl, &l->ip, lookup_done, l);
	if (rc < 0) {
		in->inflight--;
		trouble(in, now, now, "could not start a call");
		return rc;
	}
	if (in->rate > 0)
		in->tokens -= 1.0;
	in->requests++;
	in->calls_today++;
	if (in->store)
		store_budget_set(in->store, in->day, in->calls_today);
	budget_check(in);
	return 0;
}

/* In a fleet a call starts with a claim: it holds l's slot (and token) until its
 * outcome comes back (intel_fleet_claimed). A claim that cannot be asked is decided
 * locally. */
static int start_call(struct intel *in, struct lookup *l, uint64_t now)
{
	struct store_claim_args a;

	if (!in->fleet_cb || l->claim != CLAIM_NONE)
		return start_fetch(in, l, now);
	a.fresh_after = (uint32_t)(wall_s(in) - in->fresh_s);
	a.day = in->day;
	a.budget = in->daily_budget;
	a.lease_ms = in->lease_ms;
	l->claim = CLAIM_ASKED;
	l->started = now;
	if (store_claim(in->store, &l->ip, &a, in->fleet_cb, in->fleet_arg) < 0) {
		l->claim = CLAIM_LOCAL;
		return start_fetch(in, l, now);
	}
	in->inflight++;
	if (in->rate > 0)
		in->tokens -= 1.0;
	return 0;
}

static void dispatch(struct intel *in)
{
	uint64_t now = now_ms(in), wake;
	struct lookup *l;

	check_day(in);
	while ((l = queue_head(in)) && can_start(in, now, &wake)) {
		int turn = l->queued == Q_CLIENT;

		queue_remove(in, l);
		if (start_call(in, l, now) < 0) {
			queue_push(in, l, 1);
			break;
		}
		/* its client's turn is over: the next client's lookup goes next */
		if (turn)
			clients_rotate(&in->clients, l->owner);
	}
	arm_sched(in, now);
}

/* A lookup for a new IP (intel_wait with waited set, intel_refresh): started at
 * once when nothing is queued and a slot is free, else queued. NULL with *err when
 * refused. */
static struct lookup *lookup_begin(struct intel *in, const struct ipaddr *ip,
				   struct client *owner, uint64_t now, int waited, int *err)
{
	struct lookup *l;
	uint64_t wake;
	int direct;

	if (refusing(in, now)) {
		*err = -EAGAIN;
		return NULL;
	}
	direct = !in->nqueued && can_start(in, now, &wake);
	if (!direct && in->nqueued >= in->queue_max) {
		/* A query waits for this one: drop the newest lookup nobody waits for. */
		if (!waited || !(l = lookup_of(list_last(&in->qidle)))) {
			*err = -EBUSY;
			return NULL;
		}
		queue_remove(in, l);
		lookup_finish(in, l, 0);
		in->dropped++;
	}
	l = lookup_new(in, ip);
	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	l->owner = owner;
	if (!direct || start_call(in, l, now) < 0) {
		queue_push(in, l, 0);
		arm_sched(in, now);
	}
	return l;
}

/* Start threatbl's own probe when the report gives a reason to look for OpenVPN on
 * tcp/443 (the port open, or a VPN or hosting address) and does not name it. It runs
 * after the verdict is made, so that no answer waits for it. An openvpn443 the last
 * probe found is kept in the refreshed verdict until this probe says otherwise. */
static void probe_after(struct intel *in, const struct ipaddr *ip,
			const struct provider_result *res, struct verdict *v)
{
	const uint8_t why = VERDICT_BIT(VERDICT_VPN) | VERDICT_BIT(VERDICT_HOSTING);
	struct verdict old;
	int rc;

	if (!probe_enabled(in->probe) || (v->mask & VERDICT_BIT(VERDICT_OPENVPN443)) ||
	    (!res->tcp443_open && !(v->mask & why)))
		return;
	rc = probe_start(in->probe, ip);
	if ((rc == 0 || rc == -EALREADY || rc == -EBUSY) &&
	    cache_get(in->cache, ip, &old) == 0 && (old.flags & VERDICT_F_PROBED)) {
		v->mask |= VERDICT_BIT(VERDICT_OPENVPN443);
		v->flags |= VERDICT_F_PROBED;
	}
}

/* A probe's result: confirmed adds openvpn443 to the verdict answered from now on;
 * not OpenVPN takes back what an earlier probe added (never what the report says);
 * unconfirmed changes nothing. The result and its time go to the store either way. */
static void probe_done(void *arg, const struct ipaddr *ip, enum probe_result r)
{
	struct intel *in = arg;
	struct verdict v;
	uint8_t mask, flags;
	int rc;

	if (in->closing || cache_get(in->cache, ip, &v) < 0 || (v.flags & VERDICT_F_UNKNOWN))
		return;
	mask = v.mask;
	flags = v.flags;
	if (r == PROBE_CONFIRMED && !(v.mask & VERDICT_BIT(VERDICT_OPENVPN443))) {
		v.mask |= VERDICT_BIT(VERDICT_OPENVPN443);
		v.flags |= VERDICT_F_PROBED;
	} else if (r == PROBE_NOT_OPENVPN && (v.flags & VERDICT_F_PROBED)) {
		v.mask &= (uint8_t)~VERDICT_BIT(VERDICT_OPENVPN443);
		v.flags &= (uint8_t)~VERDICT_F_PROBED;
	}
	if ((v.mask != mask || v.flags != flags) && (rc = cache_put(in->cache, ip, &v)) < 0)
		log_warn("probe result not cached: %s", strerror(-rc));
	if (in->store)
		store_put_probe(in->store, ip, &v, probe_result_name(r), (uint32_t)wall_s(in));
}

static void log_lookup(struct intel *in, struct lookup *l, const struct provider_result *res,
		       uint64_t now)
{
	char ip[IPADDR_STRLEN];

	if (!log_enabled(LOG_LVL_DEBUG))
		return;
	ipaddr_format(&l->ip, ip);
	log_debug("lookup %s: %s%s%s in %" PRIu64 " ms", ip, outcome_name(res->outcome),
		  res->detail ? ", " : "", res->detail ? res->detail : "", now - l->started);
}

static void lookup_done(void *arg, const struct provider_result *res)
{
	struct lookup *l = arg;
	struct intel *in = l->in;
	uint64_t now = now_ms(in);
	struct verdict v;
	int rc;

	in->inflight--;
	if (in->closing) {
		/* waiters were answered by intel_close; results are not wanted any more */
		ipmap_del(&in->map, l);
		free(l);
		return;
	}
	log_lookup(in, l, res, now);
	switch (res->outcome) {
	case PROVIDER_UNUSABLE:
		/* one bad report (empty, another address's, too large) is this address's
		 * problem: the service is reachable and other lookups go on */
		if (log_enabled(LOG_LVL_INFO)) {
			char ip[IPADDR_STRLEN];

			ipaddr_format(&l->ip, ip);
			log_info("%s gave no usable report for %s: %s", in->name, ip,
				 res->detail ? res->detail : "unusable");
		}
		/* fall through */
	case PROVIDER_OK:
	case PROVIDER_INVALID_IP:
		/* an invalid IP is remembered as unknown so that it is not asked again
		 * soon, and never stored: it is no verdict */
		reachable(in);
		v.mask = res->outcome == PROVIDER_OK ? res->mask : 0;
		v.flags = res->outcome == PROVIDER_OK ? 0 : VERDICT_F_UNKNOWN;
		v.checked = (uint32_t)wall_s(in);
		if (res->outcome == PROVIDER_OK)
			probe_after(in, &l->ip, res, &v);
		if ((rc = cache_put(in->cache, &l->ip, &v)) < 0)
			log_warn("verdict not cached: %s", strerror(-rc));
		if (in->store && res->outcome == PROVIDER_OK)
			store_put(in->store, &l->ip, &v, in->source, res->facts_json);
		break;
	case PROVIDER_BAD_KEY:
		if (in->pause != PROVIDER_BAD_KEY)
			log_err("%s rejected the API key (invalid api key); "
				"no more calls until reload (SIGHUP)", in->name);
		in->pause = PROVIDER_BAD_KEY;
		break;
	case PROVIDER_LIMIT:
		if (in->pause == PROVIDER_OK) {
			log_warn("%s credits used up (limit exceeded); "
				 "calls resume at 00:00 UTC", in->name);
			in->pause = PROVIDER_LIMIT;
		}
		break;
	case PROVIDER_BUSY:
		if (in->pause == PROVIDER_OK && !in->budget_out) {
			/* the plan allows fewer calls at once: ask again shortly, alone */
			if (!in->busy)
				log_info("%s refuses concurrent calls; "
					 "making one call at a time", in->name);
			in->busy = 1;
			in->busy_until = now + in->busy_delay_ms;
			in->busy_delay_ms = in->busy_delay_ms * 2 > BUSY_DELAY_MAX_MS
					    ? BUSY_DELAY_MAX_MS : in->busy_delay_ms * 2;
			retry_after(in, now, res->retry_after_ms, &in->busy_until);
			queue_push(in, l, 1);
			dispatch(in);
			return;
		}
		break;
	case PROVIDER_CANCELED:
		if (l->gen != in->backend_gen && in->pause == PROVIDER_OK && !in->budget_out) {
			/* intel_reconfigure replaced the backend: ask the new one */
			queue_push(in, l, 1);
			dispatch(in);
			return;
		}
		if (l->gen == in->backend_gen)
			trouble(in, l->started, now, res->detail ? res->detail : "call canceled");
		break;
	case PROVIDER_TROUBLE:
	default:
		trouble(in, l->started, now, res->detail);
		retry_after(in, now, res->retry_after_ms, &in->backoff_until);
		break;
	}
	/* no verdict stored: another node may try at once */
	if (l->claim == CLAIM_MINE && res->outcome != PROVIDER_OK)
		store_claim_release(in->store, &l->ip);
	dispatch(in);
	if (in->pause != PROVIDER_OK)
		flush_queue(in);
	lookup_finish(in, l, 0);
}

/* ---- the interface ---- */

/* 0, or -ENOMEM with lookup-from unchanged (the rest applied). */
static int apply_settings(struct intel *in, const struct config *cfg)
{
	struct acl from;

	in->deadline_ms = cfg->deadline_ms;
	in->concurrency = cfg->concurrency ? cfg->concurrency : 1;
	in->rate = cfg->rate > 0 ? cfg->rate : 0;
	in->rate_burst = cfg->rate_burst ? cfg->rate_burst : 1;
	in->daily_budget = cfg->daily_budget;
	in->lease_ms = cfg->timeout_ms + CLAIM_LEASE_EXTRA_MS;
	in->queue_max = cfg->queue_max;
	in->fresh_s = cfg->fresh_s;
	in->max_stale_s = cfg->max_stale_s;
	if (in->tokens > in->rate_burst)
		in->tokens = in->rate_burst;
	clients_configure(&in->clients, cfg);
	if (acl_copy(&from, &cfg->lookup_from) < 0)
		return -ENOMEM;
	acl_free(&in->lookup_from);
	in->lookup_from = from;
	return 0;
}

static void closed_noop(void *arg)
{
	(void)arg;
}

static int free_lookup(void *arg, void *obj)
{
	(void)arg;
	free(obj);
	return 0;
}

static void timer_closed(uv_handle_t *h)
{
	struct intel *in = h->data;
	void (*done)(void *arg) = in->close_done;
	void *done_arg = in->close_arg;

	if (--in->handles_open)
		return;
	/* lookups whose backend never reported back (it promised to) */
	ipmap_foreach(&in->map, free_lookup, NULL);
	ipmap_free(&in->map);
	clients_free(&in->clients);
	acl_free(&in->lookup_from);
	free(in);
	if (done)
		done(done_arg);
}

static void backend_closed(void *arg)
{
	struct intel *in = arg;

	in->backends_open--;
	if (!in->closing || in->backends_open || in->timers_closing)
		return;
	in->timers_closing = 1;
	in->handles_open = 3;
	uv_close((uv_handle_t *)&in->deadline_timer, timer_closed);
	uv_close((uv_handle_t *)&in->sched_timer, timer_closed);
	uv_close((uv_handle_t *)&in->fleet_timer, timer_closed);
}

static void backend_close(struct intel *in, struct provider_backend *be)
{
	if (be->close)
		be->close(be->impl, backend_closed, in);
	else
		backend_closed(in);
}

int intel_new(uv_loop_t *loop, const struct config *cfg, struct provider_backend backend,
	      struct cache *cache, struct store *store, struct intel **out)
{
	struct intel *in;
	int rc;

	if (!backend.name || !backend.source)
		return -EINVAL;
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	ipmap_init(&in->map);
	if (ipmap_reserve(&in->map, (size_t)cfg->queue_max + cfg->concurrency + 1) < 0) {
		free(in);
		return -ENOMEM;
	}
	/* the probes run on this loop, whichever thread runs it */
	if ((rc = probe_new(loop, cfg, probe_done, in, &in->probe)) < 0) {
		ipmap_free(&in->map);
		free(in);
		return rc;
	}
	in->loop = loop;
	in->backend = backend;
	in->name = backend.name;
	in->source = backend.source;
	list_init(&in->qshared);
	list_init(&in->qidle);
	clients_init(&in->clients);
	list_init(&in->waiters);
	list_init(&in->qtheirs);
	in->cache = cache;
	in->store = store;
	if (apply_settings(in, cfg) < 0) {
		probe_close(in->probe, closed_noop, NULL);
		ipmap_free(&in->map);
		free(in);
		return -ENOMEM;
	}
	in->tokens = in->rate_burst;
	in->tokens_at = now_ms(in);
	in->day = day_of(wall_s(in));
	in->calls_today = store ? store_budget_get(store, in->day) : 0;
	if (in->calls_today)
		log_info("%" PRIu32 " calls to %s made earlier today (UTC), counted in the "
			 "daily budget", in->calls_today, in->name);
	budget_check(in);
	in->busy_delay_ms = BUSY_DELAY_MIN_MS;
	in->backends_open = 1;
	uv_timer_init(loop, &in->deadline_timer);
	uv_timer_init(loop, &in->sched_timer);
	uv_timer_init(loop, &in->fleet_timer);
	in->deadline_timer.data = in;
	in->sched_timer.data = in;
	in->fleet_timer.data = in;
	*out = in;
	return 0;
}

static void park(struct intel *in, struct lookup *l, const struct ipaddr *client,
		 struct intel_waiter *w, intel_wait_cb cb, uint64_t now)
{
	/* A second client asking about it: the lookup is nobody's alone any more. */
	if (client && l->owner && !clients_is(&in->clients, l->owner, client))
		l->shared = 1;
	w->cb = cb;
	w->lookup = l;
	w->deadline = now + in->deadline_ms;
	list_add_tail(&in->waiters, &w->node);
	list_add_tail(&l->waiters, &w->lnode);
	if (list_first(&in->waiters) == &w->node)
		arm_deadline(in, now);
	queue_reclass(in, l);
}

/* Whether the cache now holds a verdict that dns.c answers without a lookup (with
 * fresh_only: without a refresh either). The
 * answering loop looked at the cache before it handed the query over; a lookup for
 * the IP may have finished on this thread in between, and must not be made twice.
 * The lookup thread is the cache's only writer, so it reads it without the lock. */
static int cache_answers(const struct intel *in, const struct ipaddr *ip, int fresh_only)
{
	struct verdict v;
	int64_t age;

	if (!in->cache || cache_get(in->cache, ip, &v) < 0)
		return 0;
	age = wall_s(in) - (int64_t)v.checked;
	if (age < 0)
		age = 0;
	if (v.flags & VERDICT_F_UNKNOWN)
		return age < VERDICT_UNKNOWN_RETRY_S;
	return age < in->fresh_s || (!fresh_only && age < in->max_stale_s);
}

/* A client over its share is answered `unknown`: say so, at most once a minute, so
 * that a site whose every query comes through one resolver sees why. */
static void warn_limited(struct intel *in, const struct ipaddr *client, uint64_t now)
{
	char text[IPADDR_STRLEN];

	if (in->limited_warn_at && now - in->limited_warn_at < 60000)
		return;
	ipaddr_format(client, text);
	log_warn("%s (and its prefix) asks for more new lookups than per-client-rate allows: "
		 "%" PRIu64 " refused since the last warning (behind a resolver every query "
		 "is the resolver's: raise per-client-rate)", text,
		 in->clients.limited - in->limited_warned);
	in->limited_warned = in->clients.limited;
	in->limited_warn_at = now ? now : 1;
}

int intel_wait(struct intel *in, const struct ipaddr *ip, const struct ipaddr *client,
	       struct intel_waiter *w, intel_wait_cb cb)
{
	struct client *c = NULL;
	struct lookup *l;
	uint64_t now;
	int err = -EAGAIN;

	w->lookup = NULL;
	if (in->closing) {
		in->rejected++;
		return -EAGAIN;
	}
	now = now_ms(in);
	check_day(in);
	l = ipmap_find(&in->map, ip);
	if (l) {
		/* joining a lookup costs nothing: anyone may */
		in->coalesced++;
	} else if (cache_answers(in, ip, 0)) {
		return -EEXIST;
	} else if (client && !acl_admits(&in->lookup_from, client)) {
		in->not_allowed++;
		in->rejected++;
		return -EAGAIN;
	} else {
		if (client) {
			c = clients_get(&in->clients, client, now);
			if (!c || clients_take(&in->clients, c, now) < 0) {
				in->rejected++;
				warn_limited(in, client, now);
				return -EBUSY;
			}
		}
		if (!(l = lookup_begin(in, ip, c, now, 1, &err))) {
			if (c)
				clients_release(&in->clients, c, now);
			in->rejected++;
			return err;
		}
	}
	park(in, l, client, w, cb, now);
	return 0;
}

void intel_cancel(struct intel *in, struct intel_waiter *w)
{
	/* a cancelled head leaves the timer armed for it: it fires, finds nothing due
	 * and re-arms for the new head */
	if (w->lookup)
		waiter_unlink(in, w);
}

void intel_refresh(struct intel *in, const struct ipaddr *ip)
{
	uint64_t now;
	int err;

	if (in->closing)
		return;
	now = now_ms(in);
	check_day(in);
	/* a refresh asked for before another one finished: the verdict is fresh now */
	if (!ipmap_find(&in->map, ip) && !cache_answers(in, ip, 1))
		lookup_begin(in, ip, NULL, now, 0, &err);
}

void intel_reconfigure(struct intel *in, const struct config *cfg,
		       struct provider_backend new_backend)
{
	uint32_t old_deadline = in->deadline_ms;
	struct provider_backend old;
	struct intel_waiter *w;
	struct list_node *n;

	if (new_backend.fetch && (!new_backend.name || !new_backend.source) && !in->closing) {
		/* a programming error, but the service must go on with what it has */
		log_err("a backend without a name or store source: keeping %s", in->name);
		if (new_backend.close)
			new_backend.close(new_backend.impl, closed_noop, NULL);
		new_backend.fetch = NULL;
	}
	if (in->closing) {
		if (new_backend.fetch && new_backend.close)
			new_backend.close(new_backend.impl, closed_noop, NULL);
		return;
	}
	if (apply_settings(in, cfg) < 0)
		log_warn("lookups: out of memory: lookup-from keeps its previous list");
	probe_reconfigure(in->probe, cfg);
	/* Best effort: ipmap_add makes room as needed anyway. */
	(void)ipmap_reserve(&in->map, (size_t)in->queue_max + in->concurrency + 1);
	if (in->deadline_ms != old_deadline) {
		/* the same shift for all keeps the list ordered by deadline */
		for (n = list_first(&in->waiters); n; n = list_next(&in->waiters, n)) {
			w = waiter_of(n);
			w->deadline = w->deadline - old_deadline + in->deadline_ms;
		}
		arm_deadline(in, now_ms(in));
	}
	if (in->pause == PROVIDER_BAD_KEY) {
		log_info("configuration reloaded: calls to %s resume", in->name);
		in->pause = PROVIDER_OK;
	}
	if (in->budget_out && (!in->daily_budget || in->calls_today < in->daily_budget))
		in->budget_out = 0;
	budget_check(in);
	if (new_backend.fetch) {
		/* calls in flight come back canceled and are asked again of the new one */
		old = in->backend;
		in->backend = new_backend;
		in->name = new_backend.name;
		in->source = new_backend.source;
		in->backend_gen++;
		in->backends_open++;
		backend_close(in, &old);
	}
	dispatch(in);
}

void intel_get_stats(const struct intel *in, struct intel_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->requests = in->requests;
	st->coalesced = in->coalesced;
	st->timeouts = in->timeouts;
	st->rejected = in->rejected;
	st->dropped = in->dropped;
	st->client_limited = in->clients.limited;
	st->not_allowed = in->not_allowed;
	st->clients = clients_count(&in->clients);
	st->inflight = in->inflight;
	st->queued = in->nqueued;
	if (in->pause != PROVIDER_OK)
		st->paused = in->pause;
	else if (in->budget_out)
		st->paused = PROVIDER_LIMIT;
	else if (now_ms(in) < in->backoff_until)
		st->paused = PROVIDER_TROUBLE;
	st->calls_today = in->calls_today;
	st->backoff_ms = in->backoff_ms;
	st->one_at_a_time = in->busy || in->backoff_ms;
}

void intel_close(struct intel *in, void (*done)(void *arg), void *arg)
{
	struct intel_waiter *w;
	struct lookup *l;
	struct provider_backend be;

	in->closing = 1;
	in->close_done = done;
	in->close_arg = arg;
	uv_timer_stop(&in->deadline_timer);
	uv_timer_stop(&in->sched_timer);
	uv_timer_stop(&in->fleet_timer);
	while ((w = waiter_of(list_first(&in->waiters)))) {
		waiter_unlink(in, w);
		w->cb(w, -ECANCELED);
	}
	while ((l = queue_head(in))) {
		queue_remove(in, l);
		ipmap_del(&in->map, l);
		free(l);
	}
	/* calls in flight come back canceled (lookup_done frees them), then the
	 * backend and the probes say they are closed, then the timers close and in
	 * is freed */
	in->backends_open++;
	probe_close(in->probe, backend_closed, in);
	in->probe = NULL;
	be = in->backend;
	memset(&in->backend, 0, sizeof(in->backend));
	backend_close(in, &be);
}

void intel_set_clock(struct intel *in, const struct intel_clock *clk)
{
	if (clk)
		in->clk = *clk;
	else
		memset(&in->clk, 0, sizeof(in->clk));
	in->tokens_at = now_ms(in);
	in->day = day_of(wall_s(in));
	in->calls_today = in->store ? store_budget_get(in->store, in->day) : 0;
	in->budget_out = in->daily_budget && in->calls_today >= in->daily_budget;
}

void intel_poll(struct intel *in)
{
	if (in->closing)
		return;
	check_day(in);
	expire(in, now_ms(in));
	dispatch(in);
}

/* ---- a fleet (doc/fleet.md) ---- */

void intel_set_fleet(struct intel *in, store_claim_cb cb, void *arg)
{
	if (!in->store || !store_is_fleet(in->store))
		cb = NULL;
	in->fleet_cb = cb;
	in->fleet_arg = arg;
}

static void fleet_timer_cb(uv_timer_t *t);

static void arm_fleet(struct intel *in, uint64_t now)
{
	struct lookup *l = lookup_of(list_first(&in->qtheirs));

	if (in->closing)
		return;
	if (!l)
		uv_timer_stop(&in->fleet_timer);
	else
		uv_timer_start(&in->fleet_timer, fleet_timer_cb,
			       l->reclaim_at > now ? l->reclaim_at - now : 0, 0);
}

/* The node that claimed these has not stored a verdict within the lease: it may
 * have died. Claim them again, first in line (its claim has expired by then). */
static void fleet_timer_cb(uv_timer_t *t)
{
	struct intel *in = t->data;
	uint64_t now = now_ms(in);
	struct lookup *l;

	while ((l = lookup_of(list_first(&in->qtheirs))) && l->reclaim_at <= now) {
		list_del(&l->qnode);
		l->claim = CLAIM_NONE;
		queue_push(in, l, 1);
	}
	arm_fleet(in, now);
	dispatch(in);
}

void intel_fleet_claimed(struct intel *in, const struct ipaddr *ip, int outcome,
			 uint32_t calls)
{
	struct lookup *l;
	uint64_t now;

	if (in->closing || !(l = ipmap_find(&in->map, ip)) || l->claim != CLAIM_ASKED)
		return;
	now = now_ms(in);
	in->inflight--;
	if (in->rate > 0)
		in->tokens += 1.0; /* start_fetch takes it again */
	check_day(in);
	switch (outcome) {
	case STORE_CLAIM_MINE:
		/* the fleet's count includes this call, which start_fetch counts */
		if (calls > in->calls_today + 1)
			in->calls_today = calls - 1;
		/* fall through */
	case STORE_CLAIM_LOCAL:
		l->claim = outcome == STORE_CLAIM_MINE ? CLAIM_MINE : CLAIM_LOCAL;
		if (refusing(in, now) || start_fetch(in, l, now) < 0)
			queue_push(in, l, 1);
		break;
	case STORE_CLAIM_THEIRS:
		if (cache_answers(in, ip, 1)) {
			/* its verdict came while the claim was on its way back */
			lookup_finish(in, l, 0);
			break;
		}
		l->claim = CLAIM_THEIRS;
		l->reclaim_at = now + in->lease_ms;
		list_add_tail(&in->qtheirs, &l->qnode);
		if (list_first(&in->qtheirs) == &l->qnode)
			arm_fleet(in, now);
		break;
	case STORE_CLAIM_BUDGET:
		if (calls > in->calls_today)
			in->calls_today = calls;
		lookup_finish(in, l, 0);
		budget_check(in);
		break;
	case STORE_CLAIM_DONE:
	default:
		/* the verdict is in the cache already (store_set_listener) */
		lookup_finish(in, l, 0);
		break;
	}
	dispatch(in);
}

void intel_fleet_arrived(struct intel *in, const struct ipaddr *ip)
{
	struct lookup *l;

	if (in->closing || !(l = ipmap_find(&in->map, ip)))
		return;
	if (l->claim == CLAIM_THEIRS) {
		list_del(&l->qnode);
		l->queued = Q_NONE;
		lookup_finish(in, l, 0);
	} else if (l->queued != Q_NONE && l->claim == CLAIM_NONE) {
		/* another node was quicker: no call */
		queue_remove(in, l);
		lookup_finish(in, l, 0);
	}
	/* asked, or calling: its own outcome comes */
}
