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
 * Each provider (struct prov) has its own slot limit, token bucket, daily budget,
 * pauses and backoff. A lookup's next call goes to the first provider in priority
 * order it has not asked that takes calls; a provider that failed for it hands it to
 * the next one, and with combine = all a verdict does too (its waiters answered from
 * that verdict first). The decision point is dispatch() -> next_prov() ->
 * start_call(); what the providers said becomes one verdict in conclude().
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

#include <jansson.h>

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
	/* Which providers it has asked and what they said (doc/providers.md#combining-providers) */
	unsigned prov;                       /* the provider of its call (in flight or next) */
	unsigned set_gen;                    /* in->set_gen when that call started */
	uint8_t asked;                       /* bit i: provider i was asked (or skipped) */
	uint8_t spoke;                       /* bit i: provider i gave a verdict */
	uint8_t mask;                        /* the union of their categories */
	uint8_t unknown;                     /* one of them could not judge the IP */
	int tcp443_open;                     /* a report saw tcp/443 open (probe.c) */
	json_t *facts;                       /* each speaker's facts, by its source */
	int claim;                           /* CLAIM_*; CLAIM_THEIRS: on qtheirs */
	int claim_counted;                   /* the claim counted the call to prov in the
					      * fleet's budget (store_budget_add) */
	uint64_t reclaim_at;                 /* ms: CLAIM_THEIRS asks again then */
};
_Static_assert(offsetof(struct lookup, ip) == 0, "ipmap keys objects by their start");

/* One provider: its backend and everything that bounds its calls. Each has its own
 * rate, concurrency, daily budget, pauses and backoff, so that one provider down or
 * out of credit leaves the others working. */
struct prov {
	struct provider_backend backend;
	/* The backend's, kept apart so that they outlive its closing: logs and store. */
	const char *name;
	const char *source;
	unsigned backend_gen;       /* bumped when intel_reconfigure replaces it */
	int row;                    /* its row in the provider table (verdict.from's bit);
				     * -1: none (the tests' scripted backends) */

	unsigned concurrency;
	double rate;                /* calls per second; 0: no limit */
	unsigned rate_burst;
	uint32_t daily_budget;

	double tokens;
	uint64_t tokens_at;         /* ms of the last refill */
	int64_t day;                /* UTC day number of calls_today */
	uint32_t calls_today;
	int budget_out;             /* daily budget used up */
	enum provider_outcome pause;   /* PROVIDER_OK, PROVIDER_BAD_KEY or PROVIDER_LIMIT */
	uint64_t limit_until;       /* a LIMIT pause with a Retry-After ends then (ms); 0: at
				     * the next UTC day */
	uint32_t backoff_ms;        /* 0: reachable */
	uint64_t backoff_until;
	uint64_t trouble_at;        /* ms of the failure that set the backoff */
	int busy;                   /* one call at a time after "busy" */
	uint32_t busy_delay_ms;
	uint64_t busy_until;
	unsigned inflight;
	uint64_t requests;
};

struct intel {
	uv_loop_t *loop;
	int (*skip)(void *arg, const struct ipaddr *ip); /* intel_set_skip */
	void *skip_arg;
	struct prov prov[INTEL_PROVIDERS_MAX]; /* in priority order */
	unsigned nprov;
	unsigned set_gen;           /* bumped when the set of providers changes */
	int combine;                /* enum config_combine */
	const char *name;           /* prov[0].name, for messages about lookups as a whole */
	struct cache *cache;
	struct store *store;
	struct probe *probe;        /* threatbl's own OpenVPN check ([probe]) */
	struct intel_clock clk;

	/* settings, copied from the config (each provider's limits are in its prov) */
	uint32_t deadline_ms;
	uint32_t lease_ms;          /* a claim's lease: timeout + CLAIM_LEASE_EXTRA_MS */
	unsigned queue_max;
	uint32_t fresh_s, max_stale_s; /* as dns.c answers verdicts */

	struct ipmap map;           /* every lookup, by IP */

	/* Queued lookups (qnode): waited-for and shared first, then the clients' queues
	 * in turn (clients.rr, each client's q), then those nobody waits for. */
	struct list_head qshared, qidle;
	struct clients clients;
	struct acl lookup_from;     /* who may cause a lookup; empty: everyone */
	unsigned nqueued, inflight; /* inflight: calls of the current set of providers */
	struct list_head waiters;   /* every waiter, by arrival (node) */

	uint64_t requests, coalesced, timeouts, rejected, dropped, not_allowed;
	uint64_t outcomes[INTEL_NOUTCOME]; /* calls ended (intel_stats) */
	uint64_t call_ms[INTEL_NCALL_BUCKETS + 1];
	uint64_t call_ms_sum;
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

/* Provider p's count of calls on day, as the database knows it (doc/providers.md#budgets). */
static uint32_t budget_load(struct intel *in, unsigned p, int64_t day)
{
	return in->store ? store_budget_get(in->store, in->prov[p].source, day) : 0;
}

static void budget_spent(struct intel *in, struct prov *p);

/* A new UTC day ends a "limit exceeded" pause and an exhausted budget; a Retry-After
 * ends a "limit exceeded" pause sooner. Checked on every entry point, so no timer has
 * to wake at midnight. The database's count of the day may also have grown beyond
 * ours (the other nodes of a fleet, read back with the store's writes): calls stop
 * when it reaches the budget. */
static void check_day(struct intel *in)
{
	int64_t d = day_of(wall_s(in));
	uint64_t now = now_ms(in);

	for (unsigned i = 0; i < in->nprov; i++) {
		struct prov *p = &in->prov[i];

		if (p->pause == PROVIDER_LIMIT && p->limit_until && now >= p->limit_until) {
			log_info("%s: the wait it asked for is over: calls resume", p->name);
			p->pause = PROVIDER_OK;
			p->limit_until = 0;
		}
		if (d == p->day) {
			uint32_t known = budget_load(in, i, d);

			if (known > p->calls_today) {
				p->calls_today = known;
				/* not budget_check: an entry point must not answer waiters */
				if (p->daily_budget && known >= p->daily_budget && !p->budget_out)
					budget_spent(in, p);
			}
			continue;
		}
		p->day = d;
		/* Counted in the database too, so that a restart does not reset the budget. */
		p->calls_today = budget_load(in, i, d);
		if (p->budget_out || p->pause == PROVIDER_LIMIT)
			log_info("new UTC day: calls to %s resume", p->name);
		/* Not budget_check: an entry point must not answer waiters. A day whose
		 * budget the database says is spent (another process on the file) stays
		 * paused. */
		p->budget_out = p->daily_budget && p->calls_today >= p->daily_budget;
		if (p->pause == PROVIDER_LIMIT) {
			p->pause = PROVIDER_OK;
			p->limit_until = 0;
		}
	}
}

/* Whether provider p takes no new call now (paused, out of budget, backing off). */
static int prov_refusing(const struct prov *p, uint64_t now)
{
	return p->pause != PROVIDER_OK || p->budget_out || now < p->backoff_until;
}

/* Whether a new IP is refused at once (its query gets `unknown`): every provider is. */
static int refusing(const struct intel *in, uint64_t now)
{
	if (in->closing)
		return 1;
	for (unsigned i = 0; i < in->nprov; i++)
		if (!prov_refusing(&in->prov[i], now))
			return 0;
	return 1;
}

/* Whether every provider is paused or out of budget (a backoff ends by itself). */
static int all_paused(const struct intel *in)
{
	for (unsigned i = 0; i < in->nprov; i++)
		if (in->prov[i].pause == PROVIDER_OK && !in->prov[i].budget_out)
			return 0;
	return 1;
}

static void refill(struct prov *p, uint64_t now)
{
	if (p->rate <= 0 || now <= p->tokens_at)
		return;
	p->tokens += (double)(now - p->tokens_at) * p->rate / 1000.0;
	if (p->tokens > p->rate_burst)
		p->tokens = p->rate_burst;
	p->tokens_at = now;
}

/* 1 when a call to p may start now. Otherwise 0, with *wake set to the time a
 * time-bound block ends (0 when only a finished call or a new day can unblock). */
static int can_start(struct intel *in, struct prov *p, uint64_t now, uint64_t *wake)
{
	unsigned limit = p->busy || p->backoff_ms ? 1 : p->concurrency;

	*wake = 0;
	if (in->closing || p->pause != PROVIDER_OK || p->budget_out)
		return 0;
	if (now < p->backoff_until) {
		*wake = p->backoff_until;
		return 0;
	}
	if (now < p->busy_until) {
		*wake = p->busy_until;
		return 0;
	}
	if (p->inflight >= limit)
		return 0;
	if (p->rate > 0) {
		refill(p, now);
		if (p->tokens < 1.0 - 1e-9) {
			uint64_t ms = (uint64_t)((1.0 - p->tokens) * 1000.0 / p->rate) + 1;

			*wake = now + ms;
			return 0;
		}
	}
	return 1;
}

/* The provider l asks next: the first in priority order that it has not asked and
 * that takes calls (or will after a backoff: -1 only when none is left at all). */
static int next_prov(const struct intel *in, const struct lookup *l, uint64_t now)
{
	int later = -1;

	for (unsigned i = 0; i < in->nprov; i++) {
		const struct prov *p = &in->prov[i];

		if (l->asked & (1u << i) || p->pause != PROVIDER_OK || p->budget_out)
			continue;
		if (now >= p->backoff_until)
			return (int)i;
		if (later < 0)
			later = (int)i;
	}
	/* every one left is backing off: a lookup that nobody else can answer waits for
	 * the first of them (its backoff wakes the queue) */
	return later;
}

static void arm_sched(struct intel *in, uint64_t now)
{
	struct lookup *l;
	uint64_t wake;
	int p;

	if (in->closing)
		return;
	if (!in->nqueued || !(l = queue_head(in))) {
		uv_timer_stop(&in->sched_timer);
		return;
	}
	p = next_prov(in, l, now);
	if (p < 0 || can_start(in, &in->prov[p], now, &wake))
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
	l->set_gen = in->set_gen;
	list_init(&l->waiters);
	if (ipmap_add(&in->map, l) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

/* What l learnt from a set of providers that is gone: it asks the new set afresh. */
static void lookup_restart(struct intel *in, struct lookup *l)
{
	l->asked = l->spoke = l->mask = l->unknown = 0;
	l->tcp443_open = 0;
	json_decref(l->facts);
	l->facts = NULL;
	l->set_gen = in->set_gen;
}

static void lookup_free(struct lookup *l)
{
	json_decref(l->facts);
	free(l);
}

/* Answer l's waiters with status, keeping l. */
static void answer_waiters(struct intel *in, struct lookup *l, int status)
{
	struct intel_waiter *w;
	struct list_node *n;

	/* one at a time: a callback may cancel another waiter of l */
	while ((n = list_first(&l->waiters))) {
		w = container_of(n, struct intel_waiter, lnode);
		waiter_unlink(in, w);
		w->cb(w, status);
	}
}

/* Remove l and hand its waiters status. */
static void lookup_finish(struct intel *in, struct lookup *l, int status)
{
	ipmap_del(&in->map, l);
	answer_waiters(in, l, status);
	if (l->owner)
		clients_release(&in->clients, l->owner, now_ms(in));
	lookup_free(l);
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

static void trouble(struct prov *p, uint64_t started, uint64_t now, const char *detail)
{
	uint64_t until;

	if (!p->backoff_ms) {
		p->backoff_ms = BACKOFF_MIN_MS;
		log_warn("%s unreachable: %s; backing off %" PRIu32 "s", p->name,
			 detail ? detail : "service trouble", p->backoff_ms / 1000);
	} else if (started >= p->trouble_at) {
		/* calls that were in flight at the last failure do not double it again */
		p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
								   : p->backoff_ms * 2;
		log_debug("%s still unreachable: %s; backing off %" PRIu32 "s", p->name,
			  detail ? detail : "service trouble", p->backoff_ms / 1000);
	}
	p->trouble_at = now;
	until = now + p->backoff_ms;
	if (until > p->backoff_until)
		p->backoff_until = until;
}

/* The service said how long to wait (Retry-After): no call before then, whatever the
 * backoff or busy delay says, up to RETRY_AFTER_MAX_MS. */
static void retry_after(struct prov *p, uint64_t now, uint32_t ms, uint64_t *until)
{
	if (!ms)
		return;
	if (ms > RETRY_AFTER_MAX_MS)
		ms = RETRY_AFTER_MAX_MS;
	if (now + ms > *until) {
		*until = now + ms;
		log_info("%s asks to wait %" PRIu32 "s before the next call", p->name, ms / 1000);
	}
}

/* The service answered properly: end the backoff and the one-at-a-time mode. */
static void reachable(struct prov *p)
{
	if (p->backoff_ms)
		log_info("%s reachable again", p->name);
	p->backoff_ms = 0;
	p->backoff_until = 0;
	p->busy = 0;
	p->busy_until = 0;
	p->busy_delay_ms = BUSY_DELAY_MIN_MS;
}

/* Pause p's calls when its daily budget is used up; when every provider is paused,
 * answer the queue. Only from loop callbacks, or with an empty queue: flushing it
 * calls waiters. */
static void budget_check(struct intel *in, struct prov *p)
{
	if (!p->daily_budget || p->calls_today < p->daily_budget || p->budget_out)
		return;
	budget_spent(in, p);
	if (all_paused(in))
		flush_queue(in);
}

/* p takes no more calls today. */
static void budget_spent(struct intel *in, struct prov *p)
{
	p->budget_out = 1;
	if (in->nprov > 1)
		log_warn("%s: daily budget of %" PRIu32 " calls used up; its calls resume at "
			 "00:00 UTC", p->name, p->daily_budget);
	else
		log_warn("daily budget of %" PRIu32 " calls used up; calls resume at 00:00 UTC",
			 p->daily_budget);
}

/* Start l's call to provider pi. On failure (the backend could not even start it)
 * the provider backs off and l is left for the caller to queue again. */
static int start_fetch(struct intel *in, struct lookup *l, unsigned pi, uint64_t now)
{
	struct prov *p = &in->prov[pi];
	int claimed = l->claim_counted && l->prov == pi, rc;

	l->claim_counted = 0;
	l->started = now;
	l->prov = pi;
	l->gen = p->backend_gen;
	l->set_gen = in->set_gen;
	in->inflight++;
	p->inflight++;
	rc = p->backend.fetch(p->backend.impl, &l->ip, lookup_done, l);
	if (rc < 0) {
		in->inflight--;
		p->inflight--;
		trouble(p, now, now, "could not start a call");
		return rc;
	}
	if (p->rate > 0)
		p->tokens -= 1.0;
	in->requests++;
	p->requests++;
	p->calls_today++;
	if (in->store)
		store_budget_add(in->store, p->source, p->day, 1, claimed);
	budget_check(in, p);
	return 0;
}

/* The verdict of what l's providers said (or unknown, or nothing when none could
 * judge it) into the cache and the store; then l's waiters are answered. */
static void conclude(struct intel *in, struct lookup *l, int keep);

/* In a fleet a lookup's first call starts with a claim: it holds l's slot (and
 * token) with provider pi until the claim's outcome comes back
 * (intel_fleet_claimed). A claim that cannot be asked is decided locally. One claim
 * covers the lookup whatever providers it asks afterwards; it counts its call in
 * provider pi's budget of the fleet, and the further calls are added by the store
 * (doc/fleet.md#one-call-per-ip). */
static int start_call(struct intel *in, struct lookup *l, unsigned pi, uint64_t now)
{
	struct prov *p = &in->prov[pi];
	struct store_claim_args a;

	if (!in->fleet_cb || l->claim != CLAIM_NONE)
		return start_fetch(in, l, pi, now);
	a.fresh_after = (uint32_t)(wall_s(in) - in->fresh_s);
	a.provider = p->source;
	a.day = p->day;
	a.budget = p->daily_budget;
	a.lease_ms = in->lease_ms;
	l->claim = CLAIM_ASKED;
	l->started = now;
	l->prov = pi;
	l->set_gen = in->set_gen;
	if (store_claim(in->store, &l->ip, &a, in->fleet_cb, in->fleet_arg) < 0) {
		l->claim = CLAIM_LOCAL;
		return start_fetch(in, l, pi, now);
	}
	in->inflight++;
	p->inflight++;
	if (p->rate > 0)
		p->tokens -= 1.0;
	return 0;
}

static void dispatch(struct intel *in)
{
	uint64_t now = now_ms(in), wake;
	struct lookup *l;
	int pi;

	check_day(in);
	while ((l = queue_head(in))) {
		int turn = l->queued == Q_CLIENT;

		if (l->set_gen != in->set_gen) /* queued before the set changed */
			lookup_restart(in, l);
		pi = next_prov(in, l, now);
		if (pi < 0) {
			/* every provider it could ask is paused: what it has is the answer */
			queue_remove(in, l);
			conclude(in, l, 0);
			continue;
		}
		if (!can_start(in, &in->prov[pi], now, &wake))
			break;
		queue_remove(in, l);
		if (start_call(in, l, (unsigned)pi, now) < 0) {
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
				   struct client *owner, uint64_t now, int waited,
				   uint8_t skip, int *err)
{
	struct lookup *l;
	uint64_t wake;
	int direct, pi;

	/* the first provider a new lookup asks is the first one taking calls (and not
	 * skipped: a refresh asks those that spoke) */
	for (pi = 0; pi < (int)in->nprov && ((skip & (1u << pi)) ||
					     prov_refusing(&in->prov[pi], now)); pi++)
		;
	if (refusing(in, now) || pi == (int)in->nprov) {
		*err = -EAGAIN;
		return NULL;
	}
	direct = !in->nqueued && can_start(in, &in->prov[pi], now, &wake);
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
	l->asked = skip;
	if (!direct || start_call(in, l, (unsigned)pi, now) < 0) {
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
	    cache_get_locked(in->cache, ip, &old, NULL) == 0 &&
	    (old.flags & VERDICT_F_PROBED)) {
		v->mask |= VERDICT_BIT(VERDICT_OPENVPN443);
		v->flags |= VERDICT_F_PROBED;
	}
}

/* What probe_done hands cache_update: the result in, the verdict as it now is out. */
struct probe_update {
	enum probe_result r;
	struct verdict v;
};

static int probe_apply(void *arg, struct verdict *v)
{
	struct probe_update *u = arg;
	uint8_t mask = v->mask, flags = v->flags;

	if (!(v->flags & VERDICT_F_UNKNOWN)) {
		if (u->r == PROBE_CONFIRMED && !(v->mask & VERDICT_BIT(VERDICT_OPENVPN443))) {
			v->mask |= VERDICT_BIT(VERDICT_OPENVPN443);
			v->flags |= VERDICT_F_PROBED;
		} else if (u->r == PROBE_NOT_OPENVPN && (v->flags & VERDICT_F_PROBED)) {
			v->mask &= (uint8_t)~VERDICT_BIT(VERDICT_OPENVPN443);
			v->flags &= (uint8_t)~VERDICT_F_PROBED;
		}
	}
	u->v = *v;
	return v->mask != mask || v->flags != flags;
}

/* A probe's result: confirmed adds openvpn443 to the verdict answered from now on;
 * not OpenVPN takes back what an earlier probe added (never what the report says);
 * unconfirmed changes nothing. The result and its time go to the store either way.
 * The verdict is read and changed in one step (cache_update): an operator's purge on
 * the main loop meanwhile is not undone. */
static void probe_done(void *arg, const struct ipaddr *ip, enum probe_result r)
{
	struct intel *in = arg;
	struct probe_update u = { .r = r };
	int rc;

	if (in->closing)
		return;
	if ((rc = cache_update(in->cache, ip, probe_apply, &u)) < 0) {
		if (rc != -ENOENT)
			log_warn("probe result not cached: %s", strerror(-rc));
		return;
	}
	if (in->store && !(u.v.flags & VERDICT_F_UNKNOWN))
		store_put_probe(in->store, ip, &u.v, probe_result_name(r), (uint32_t)wall_s(in));
}



static void log_lookup(struct intel *in, struct lookup *l, const struct prov *p,
		       const struct provider_result *res, uint64_t now)
{
	char ip[IPADDR_STRLEN];

	if (!log_enabled(LOG_LVL_DEBUG))
		return;
	ipaddr_format(&l->ip, ip);
	log_debug("lookup %s: %s%s%s%s%s in %" PRIu64 " ms", ip,
		  in->nprov > 1 ? p->source : "", in->nprov > 1 ? ": " : "",
		  outcome_name(res->outcome), res->detail ? ", " : "",
		  res->detail ? res->detail : "", now - l->started);
}

/* What a provider said is added to what l knows: its categories, its facts under its
 * source (several speakers), or that it could not judge the IP. */
static void record(struct lookup *l, unsigned pi, const struct prov *p,
		   const struct provider_result *res)
{
	char cats[128];
	size_t n = 0;
	json_t *f;

	if (res->outcome != PROVIDER_OK) {
		l->unknown = 1;
		return;
	}
	l->spoke |= (uint8_t)(1u << pi);
	l->mask |= res->mask;
	if (res->tcp443_open)
		l->tcp443_open = 1;
	if (!l->facts && !(l->facts = json_object()))
		return;
	/* {"categories": "vpn,hosting", "facts": {...}}: who said what, for db show */
	for (int c = 0; c < VERDICT_NCAT; c++)
		if (res->mask & VERDICT_BIT(c))
			n += (size_t)snprintf(cats + n, sizeof(cats) - n, "%s%s", n ? "," : "",
					      verdict_cat_name((enum verdict_cat)c));
	f = res->facts_json ? json_loads(res->facts_json, 0, NULL) : NULL;
	json_object_set_new(l->facts, p->source,
			    json_pack("{s:s,s:o}", "categories", n ? cats : "clean", "facts",
				      f ? f : json_null()));
}

/* The store's source and facts for l: one speaker's own (as with one provider), or
 * "a,b" and {"a": {"categories": ..., "facts": {...}}, "b": ...}. *facts is to be
 * freed (may be NULL). */
static void attribution(struct intel *in, const struct lookup *l, char *source,
			size_t size, char **facts)
{
	size_t n = 0, speakers = 0;
	const char *only = NULL;

	source[0] = '\0';
	*facts = NULL;
	for (unsigned i = 0; i < in->nprov; i++) {
		if (!(l->spoke & (1u << i)))
			continue;
		only = in->prov[i].source;
		speakers++;
		n += (size_t)snprintf(source + n, n < size ? size - n : 0, "%s%s",
				      n ? "," : "", only);
	}
	if (n >= size && size)
		source[size - 1] = '\0';
	if (speakers == 1) {
		/* one speaker: its own facts, as with one provider (tools/classify.c reads them) */
		json_t *f = json_object_get(json_object_get(l->facts, only), "facts");

		*facts = f && !json_is_null(f) ? json_dumps(f, JSON_COMPACT | JSON_PRESERVE_ORDER)
					       : NULL;
	} else if (speakers > 1) {
		*facts = json_dumps(l->facts, JSON_COMPACT | JSON_PRESERVE_ORDER);
	}
}

/* The verdict of l so far into the cache and the store, then its waiters. keep: l
 * goes on to ask more providers (combine = all), so it stays. */
static void conclude(struct intel *in, struct lookup *l, int keep)
{
	struct provider_result res = { .outcome = PROVIDER_OK };
	struct verdict v;
	char source[INTEL_PROVIDERS_MAX * 24];
	char *facts = NULL;
	unsigned from;
	int rc;

	if (l->spoke || l->unknown) {
		v.mask = l->spoke ? l->mask : 0;
		v.flags = l->spoke ? 0 : VERDICT_F_UNKNOWN;
		from = 0;
		for (unsigned i = 0; i < in->nprov; i++)
			if ((l->spoke & (1u << i)) && in->prov[i].row >= 0 && in->prov[i].row < 8)
				from |= 1u << in->prov[i].row;
		v.checked = (uint32_t)wall_s(in);
		res.mask = l->mask;
		res.tcp443_open = l->tcp443_open;
		if (l->spoke && !keep)
			probe_after(in, &l->ip, &res, &v);
		if ((rc = cache_put_from(in->cache, &l->ip, &v, (int)from)) < 0)
			log_warn("verdict not cached: %s", strerror(-rc));
		/* an unknown is no verdict: never stored */
		if (in->store && l->spoke) {
			attribution(in, l, source, sizeof(source), &facts);
			store_put(in->store, &l->ip, &v, source, facts);
			free(facts);
		}
	}
	if (keep) {
		answer_waiters(in, l, 0);
		return;
	}
	lookup_finish(in, l, 0);
}

/* l asks its next provider: back to the front of its queue. */
static void ask_next(struct intel *in, struct lookup *l)
{
	queue_push(in, l, 1);
}

/* For the stats: one call ended with outcome after ms. */
static void count_call(struct intel *in, enum provider_outcome outcome, uint64_t ms)
{
	static const uint64_t bounds[INTEL_NCALL_BUCKETS] = INTEL_CALL_BUCKETS_MS;
	size_t b = 0;

	if ((unsigned)outcome < INTEL_NOUTCOME)
		in->outcomes[outcome]++;
	while (b < INTEL_NCALL_BUCKETS && ms > bounds[b])
		b++;
	in->call_ms[b]++;
	in->call_ms_sum += ms;
}

static void lookup_done(void *arg, const struct provider_result *res)
{
	struct lookup *l = arg;
	struct intel *in = l->in;
	uint64_t now = now_ms(in);
	unsigned pi = l->prov;
	struct prov *p;
	int more;

	if (l->set_gen == in->set_gen)
		in->inflight--;
	if (in->closing) {
		/* waiters were answered by intel_close; results are not wanted any more */
		ipmap_del(&in->map, l);
		lookup_free(l);
		return;
	}
	if (l->set_gen != in->set_gen) {
		/* the set of providers changed while it was out: ask the new set afresh */
		lookup_restart(in, l);
		ask_next(in, l);
		dispatch(in);
		return;
	}
	p = &in->prov[pi];
	p->inflight--;
	log_lookup(in, l, p, res, now);
	count_call(in, res->outcome, now - l->started);
	switch (res->outcome) {
	case PROVIDER_UNUSABLE:
		/* one bad report (empty, another address's, too large) is this address's
		 * problem: the service is reachable and other lookups go on */
		if (log_enabled(LOG_LVL_INFO)) {
			char ip[IPADDR_STRLEN];

			ipaddr_format(&l->ip, ip);
			log_info("%s gave no usable report for %s: %s", p->name, ip,
				 res->detail ? res->detail : "unusable");
		}
		/* fall through */
	case PROVIDER_OK:
	case PROVIDER_INVALID_IP:
		/* an invalid IP is remembered as unknown so that it is not asked again
		 * soon, and never stored: it is no verdict */
		reachable(p);
		record(l, pi, p, res);
		break;
	case PROVIDER_BAD_KEY:
		if (p->pause != PROVIDER_BAD_KEY)
			log_err("%s rejected the API key (invalid api key); "
				"no more calls until reload (SIGHUP)", p->name);
		p->pause = PROVIDER_BAD_KEY;
		break;
	case PROVIDER_LIMIT:
		if (p->pause == PROVIDER_OK) {
			uint64_t midnight = (uint64_t)((p->day + 1) * DAY_S - wall_s(in)) * 1000u;

			/* a Retry-After sooner than the next UTC day ends the pause then */
			p->limit_until = res->retry_after_ms && res->retry_after_ms < midnight
					 ? now + res->retry_after_ms : 0;
			if (p->limit_until)
				log_warn("%s credits used up (limit exceeded); calls resume in "
					 "%" PRIu32 "s", p->name, res->retry_after_ms / 1000);
			else
				log_warn("%s credits used up (limit exceeded); "
					 "calls resume at 00:00 UTC", p->name);
			p->pause = PROVIDER_LIMIT;
		}
		break;
	case PROVIDER_BUSY:
		if (p->pause == PROVIDER_OK && !p->budget_out) {
			/* the plan allows fewer calls at once: ask again shortly, alone */
			if (!p->busy)
				log_info("%s refuses concurrent calls; "
					 "making one call at a time", p->name);
			p->busy = 1;
			p->busy_until = now + p->busy_delay_ms;
			p->busy_delay_ms = p->busy_delay_ms * 2 > BUSY_DELAY_MAX_MS
					   ? BUSY_DELAY_MAX_MS : p->busy_delay_ms * 2;
			retry_after(p, now, res->retry_after_ms, &p->busy_until);
			queue_push(in, l, 1);
			dispatch(in);
			return;
		}
		break;
	case PROVIDER_CANCELED:
		if (l->gen != p->backend_gen && p->pause == PROVIDER_OK && !p->budget_out) {
			/* intel_reconfigure replaced the backend: ask the new one */
			queue_push(in, l, 1);
			dispatch(in);
			return;
		}
		if (l->gen == p->backend_gen)
			trouble(p, l->started, now, res->detail ? res->detail : "call canceled");
		break;
	case PROVIDER_TROUBLE:
	default:
		trouble(p, l->started, now, res->detail);
		retry_after(p, now, res->retry_after_ms, &p->backoff_until);
		break;
	}
	l->asked |= (uint8_t)(1u << pi);
	/* combine = first: the first verdict is the answer; all: every provider that
	 * takes calls is asked, and the queries are answered from the first verdict */
	more = next_prov(in, l, now) >= 0 &&
	       (!l->spoke || in->combine == CONFIG_COMBINE_ALL);
	if (more) {
		if (l->spoke)
			conclude(in, l, 1);
		ask_next(in, l);
		dispatch(in);
		return;
	}
	/* no verdict stored: another node may try at once */
	if (l->claim == CLAIM_MINE && !l->spoke)
		store_claim_release(in->store, &l->ip);
	dispatch(in);
	if (all_paused(in))
		flush_queue(in);
	conclude(in, l, 0);
}

/* ---- the interface ---- */

/* Provider p's bounds: its [provider NAME] settings, [intel]'s when it has no row in
 * the provider table (the tests' scripted backends). */
static void prov_settings(struct prov *p, const struct config *cfg)
{
	const struct provider_kind *k = provider_find(p->source);
	struct config_prov cp;

	if (k && config_provider_get(cfg, k, &cp) == 0) {
		p->concurrency = cp.concurrency;
		p->rate = cp.rate;
		p->rate_burst = cp.rate_burst;
		p->daily_budget = cp.daily_budget;
	} else {
		p->concurrency = cfg->concurrency;
		p->rate = cfg->rate;
		p->rate_burst = cfg->rate_burst;
		p->daily_budget = cfg->daily_budget;
	}
	if (!p->concurrency)
		p->concurrency = 1;
	if (p->rate < 0)
		p->rate = 0;
	if (!p->rate_burst)
		p->rate_burst = 1;
	if (p->tokens > p->rate_burst)
		p->tokens = p->rate_burst;
}

/* 0, or -ENOMEM with lookup-from unchanged (the rest applied). */
static int apply_settings(struct intel *in, const struct config *cfg)
{
	struct acl from;

	in->deadline_ms = cfg->deadline_ms;
	in->lease_ms = cfg->timeout_ms + CLAIM_LEASE_EXTRA_MS;
	in->queue_max = cfg->queue_max;
	in->fresh_s = cfg->fresh_s;
	in->max_stale_s = cfg->max_stale_s;
	in->combine = cfg->combine;
	for (unsigned i = 0; i < in->nprov; i++)
		prov_settings(&in->prov[i], cfg);
	clients_configure(&in->clients, cfg);
	if (acl_copy(&from, &cfg->lookup_from) < 0)
		return -ENOMEM;
	acl_free(&in->lookup_from);
	in->lookup_from = from;
	return 0;
}

/* Concurrency of all providers together, for the map's reservation. */
static unsigned total_concurrency(const struct intel *in)
{
	unsigned n = 0;

	for (unsigned i = 0; i < in->nprov; i++)
		n += in->prov[i].concurrency;
	return n;
}

static void closed_noop(void *arg)
{
	(void)arg;
}

static int free_lookup(void *arg, void *obj)
{
	(void)arg;
	lookup_free(obj);
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

/* The provider table's row of source, or -1. */
static int prov_row(const char *source)
{
	unsigned rows = provider_rows(source);

	return rows ? __builtin_ctz(rows) : -1;
}

/* A fresh provider slot for be: its state at rest, today's calls counted. */
static void prov_init(struct intel *in, unsigned i, struct provider_backend be,
		      const struct config *cfg)
{
	struct prov *p = &in->prov[i];

	memset(p, 0, sizeof(*p));
	p->backend = be;
	p->name = be.name;
	p->source = be.source;
	p->row = prov_row(be.source);
	prov_settings(p, cfg);
	p->tokens = p->rate_burst;
	p->tokens_at = now_ms(in);
	p->day = day_of(wall_s(in));
	p->calls_today = budget_load(in, i, p->day);
	p->busy_delay_ms = BUSY_DELAY_MIN_MS;
	if (p->calls_today)
		log_info("%" PRIu32 " calls to %s made earlier today (UTC), counted in the "
			 "daily budget", p->calls_today, p->name);
}

static int backends_ok(const struct provider_backend *be, size_t n)
{
	if (!be || !n || n > INTEL_PROVIDERS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!be[i].name || !be[i].source)
			return 0;
	return 1;
}

int intel_new_many(uv_loop_t *loop, const struct config *cfg,
		   const struct provider_backend *backends, size_t n, struct cache *cache,
		   struct store *store, struct intel **out)
{
	struct intel *in;
	int rc;

	if (!backends_ok(backends, n))
		return -EINVAL;
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	ipmap_init(&in->map);
	if (ipmap_reserve(&in->map, (size_t)cfg->queue_max + cfg->concurrency * n + 1) < 0) {
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
	in->cache = cache;
	in->store = store;
	in->nprov = (unsigned)n;
	for (unsigned i = 0; i < in->nprov; i++)
		prov_init(in, i, backends[i], cfg);
	in->name = in->prov[0].name;
	list_init(&in->qshared);
	list_init(&in->qidle);
	clients_init(&in->clients);
	list_init(&in->waiters);
	list_init(&in->qtheirs);
	if (apply_settings(in, cfg) < 0) {
		probe_close(in->probe, closed_noop, NULL);
		ipmap_free(&in->map);
		free(in);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < in->nprov; i++)
		budget_check(in, &in->prov[i]);
	in->backends_open = in->nprov;
	uv_timer_init(loop, &in->deadline_timer);
	uv_timer_init(loop, &in->sched_timer);
	uv_timer_init(loop, &in->fleet_timer);
	in->deadline_timer.data = in;
	in->sched_timer.data = in;
	in->fleet_timer.data = in;
	*out = in;
	return 0;
}

int intel_new(uv_loop_t *loop, const struct config *cfg, struct provider_backend backend,
	      struct cache *cache, struct store *store, struct intel **out)
{
	return intel_new_many(loop, cfg, &backend, 1, cache, store, out);
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
 * The main loop writes the cache too (steer.c): read under the writers' mutex. */
static int cache_answers(const struct intel *in, const struct ipaddr *ip, int fresh_only)
{
	struct verdict v;
	int64_t age;

	if (!in->cache || cache_get_locked(in->cache, ip, &v, NULL) < 0)
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
	} else if (in->skip && in->skip(in->skip_arg, ip)) {
		return -EAGAIN; /* a feed says enough: no call */
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
		if (!(l = lookup_begin(in, ip, c, now, 1, 0, &err))) {
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

/* The providers a refresh of ip does not ask: those that did not give its verdict,
 * when the cache knows who did and one of them is still configured. */
static uint8_t refresh_skip(const struct intel *in, const struct ipaddr *ip)
{
	struct verdict v;
	uint8_t skip = 0, from;

	if (!in->cache || cache_get_locked(in->cache, ip, &v, &from) < 0 || !from)
		return 0;
	for (unsigned i = 0; i < in->nprov; i++)
		if (in->prov[i].row < 0 || !(from & (1u << in->prov[i].row)))
			skip |= (uint8_t)(1u << i);
	return skip == (uint8_t)((1u << in->nprov) - 1) ? 0 : skip;
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
	if (!ipmap_find(&in->map, ip) && !cache_answers(in, ip, 1) &&
	    !(in->skip && in->skip(in->skip_arg, ip)))
		lookup_begin(in, ip, NULL, now, 0, refresh_skip(in, ip), &err);
}


/* Replace the backends by the ones of the same sources, in the same order: each
 * provider keeps its state (budget, backoff); calls in flight come back canceled and
 * are asked again of the new backend. */
static void replace_backends(struct intel *in, const struct provider_backend *be)
{
	struct provider_backend old;

	for (unsigned i = 0; i < in->nprov; i++) {
		struct prov *p = &in->prov[i];

		old = p->backend;
		p->backend = be[i];
		p->name = be[i].name;
		p->source = be[i].source;
		p->row = prov_row(be[i].source);
		p->backend_gen++;
		in->backends_open++;
		backend_close(in, &old);
	}
	in->name = in->prov[0].name;
}

/* Another set of providers: the old ones close, the new start at rest, and lookups
 * (queued or in flight) ask the new set afresh. */
static void replace_set(struct intel *in, const struct provider_backend *be, size_t n,
			const struct config *cfg)
{
	struct prov old[INTEL_PROVIDERS_MAX];
	unsigned nold = in->nprov;

	memcpy(old, in->prov, sizeof(old));
	in->set_gen++;
	in->inflight = 0;           /* the old set's calls still out are not counted */
	in->nprov = (unsigned)n;
	for (unsigned i = 0; i < in->nprov; i++)
		prov_init(in, i, be[i], cfg);
	in->name = in->prov[0].name;
	log_info("lookups now ask %u provider(s), %s first", in->nprov, in->name);
	for (unsigned i = 0; i < nold; i++) {
		in->backends_open++;
		backend_close(in, &old[i].backend);
	}
}

static int same_sources(const struct intel *in, const struct provider_backend *be, size_t n)
{
	if (n != in->nprov)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(in->prov[i].source, be[i].source) != 0)
			return 0;
	return 1;
}

void intel_reconfigure_many(struct intel *in, const struct config *cfg,
			    const struct provider_backend *be, size_t n)
{
	uint32_t old_deadline = in->deadline_ms;
	struct intel_waiter *w;
	struct list_node *n_;

	if (n && !backends_ok(be, n) && !in->closing) {
		/* a programming error, but the service must go on with what it has */
		log_err("a backend without a name or store source: keeping %s", in->name);
		for (size_t i = 0; i < n; i++)
			if (be[i].close)
				be[i].close(be[i].impl, closed_noop, NULL);
		n = 0;
	}
	if (in->closing) {
		for (size_t i = 0; i < n; i++)
			if (be[i].fetch && be[i].close)
				be[i].close(be[i].impl, closed_noop, NULL);
		return;
	}
	if (n && !same_sources(in, be, n))
		replace_set(in, be, n, cfg);
	if (apply_settings(in, cfg) < 0)
		log_warn("lookups: out of memory: lookup-from keeps its previous list");
	probe_reconfigure(in->probe, cfg);
	/* Best effort: ipmap_add makes room as needed anyway. */
	(void)ipmap_reserve(&in->map, (size_t)in->queue_max + total_concurrency(in) + 1);
	if (in->deadline_ms != old_deadline) {
		/* the same shift for all keeps the list ordered by deadline */
		for (n_ = list_first(&in->waiters); n_; n_ = list_next(&in->waiters, n_)) {
			w = waiter_of(n_);
			w->deadline = w->deadline - old_deadline + in->deadline_ms;
		}
		arm_deadline(in, now_ms(in));
	}
	for (unsigned i = 0; i < in->nprov; i++) {
		struct prov *p = &in->prov[i];

		if (p->pause == PROVIDER_BAD_KEY) {
			log_info("configuration reloaded: calls to %s resume", p->name);
			p->pause = PROVIDER_OK;
		}
		if (p->budget_out && (!p->daily_budget || p->calls_today < p->daily_budget))
			p->budget_out = 0;
		budget_check(in, p);
	}
	if (n && same_sources(in, be, n) && be[0].impl != in->prov[0].backend.impl)
		replace_backends(in, be);
	dispatch(in);
}

void intel_set_skip(struct intel *in, int (*skip)(void *arg, const struct ipaddr *ip),
		    void *arg)
{
	in->skip = skip;
	in->skip_arg = arg;
}

void intel_reconfigure(struct intel *in, const struct config *cfg,
		       struct provider_backend new_backend)
{
	if (new_backend.fetch) {
		intel_reconfigure_many(in, cfg, &new_backend, 1);
		return;
	}
	intel_reconfigure_many(in, cfg, NULL, 0);
}

void intel_get_stats(const struct intel *in, struct intel_stats *st)
{
	uint64_t now = now_ms(in);
	int paused = 1;

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
	st->nproviders = in->nprov;
	/* paused: only when no provider takes calls; the first one's reason */
	for (unsigned i = 0; i < in->nprov; i++) {
		const struct prov *p = &in->prov[i];
		struct intel_provider_stats *ps = &st->prov[i];

		ps->source = p->source;
		ps->requests = p->requests;
		ps->calls_today = p->calls_today;
		ps->daily_budget = p->daily_budget;
		ps->backoff_ms = p->backoff_ms;
		ps->inflight = p->inflight;
		if (p->pause != PROVIDER_OK)
			ps->paused = p->pause;
		else if (p->budget_out)
			ps->paused = PROVIDER_LIMIT;
		else if (now < p->backoff_until)
			ps->paused = PROVIDER_TROUBLE;
		if (!ps->paused)
			paused = 0;
		st->calls_today += p->calls_today;
	}
	if (paused && in->nprov)
		st->paused = st->prov[0].paused;
	if (in->nprov) {
		st->backoff_ms = in->prov[0].backoff_ms;
		st->one_at_a_time = in->prov[0].busy || in->prov[0].backoff_ms;
	}
	memcpy(st->outcomes, in->outcomes, sizeof(st->outcomes));
	memcpy(st->call_ms, in->call_ms, sizeof(st->call_ms));
	st->call_ms_sum = in->call_ms_sum;
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
		lookup_free(l);
	}
	/* calls in flight come back canceled (lookup_done frees them), then the
	 * backends and the probes say they are closed, then the timers close and in
	 * is freed */
	in->backends_open++;
	probe_close(in->probe, backend_closed, in);
	in->probe = NULL;
	for (unsigned i = 0; i < in->nprov; i++) {
		be = in->prov[i].backend;
		memset(&in->prov[i].backend, 0, sizeof(in->prov[i].backend));
		backend_close(in, &be);
	}
}

void intel_set_clock(struct intel *in, const struct intel_clock *clk)
{
	if (clk)
		in->clk = *clk;
	else
		memset(&in->clk, 0, sizeof(in->clk));
	for (unsigned i = 0; i < in->nprov; i++) {
		struct prov *p = &in->prov[i];

		p->tokens_at = now_ms(in);
		p->day = day_of(wall_s(in));
		p->calls_today = budget_load(in, i, p->day);
		p->budget_out = p->daily_budget && p->calls_today >= p->daily_budget;
	}
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
	struct prov *p;
	uint64_t now;

	if (in->closing || !(l = ipmap_find(&in->map, ip)) || l->claim != CLAIM_ASKED)
		return;
	now = now_ms(in);
	p = &in->prov[l->prov < in->nprov ? l->prov : 0];
	if (l->set_gen == in->set_gen) {
		in->inflight--;
		p->inflight--;
		if (p->rate > 0)
			p->tokens += 1.0; /* start_fetch takes it again */
	}
	check_day(in);
	if (l->set_gen != in->set_gen) {
		/* the set of providers changed while the claim was out: ask the new set */
		l->claim = outcome == STORE_CLAIM_MINE ? CLAIM_MINE : CLAIM_LOCAL;
		lookup_restart(in, l);
		queue_push(in, l, 1);
		dispatch(in);
		return;
	}
	switch (outcome) {
	case STORE_CLAIM_MINE:
		/* the fleet's count includes this call, which start_fetch counts */
		if (calls > p->calls_today + 1)
			p->calls_today = calls - 1;
		/* fall through */
	case STORE_CLAIM_LOCAL:
		/* counted by the claim (or by the claimer's local share) */
		l->claim = outcome == STORE_CLAIM_MINE ? CLAIM_MINE : CLAIM_LOCAL;
		l->claim_counted = 1;
		if (prov_refusing(p, now) || start_fetch(in, l, l->prov, now) < 0)
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
		if (calls > p->calls_today)
			p->calls_today = calls;
		lookup_finish(in, l, 0);
		budget_check(in, p);
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
