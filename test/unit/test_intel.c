/* test_intel.c - the lookup scheduler against a scripted backend on a real uv loop.
 *
 * The fake backend records every fetch and completes one when the test says so, from
 * a uv timer (never from inside fetch, as the contract wants). Most tests run on a
 * fake clock (intel_set_clock + intel_poll), so rate, backoff, budget and day changes
 * are exact; one deadline test runs on real time with loose bounds. store_put is
 * defined here (a link seam: intel.o's reference resolves to it, so store.o is not
 * pulled in) to check what intel hands to the store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cache.h"
#include "config.h"
#include "intel.h"
#include "log.h"
#include "store.h"
#include "tap.h"

/* ---- the store seam ---- */

static struct {
	unsigned puts;
	struct ipaddr ip;
	struct verdict v;
	char source[32];
	char facts[64];
} st_seen;

int store_put(struct store *st, const struct ipaddr *ip, const struct verdict *v,
	      const char *source, const char *facts_json)
{
	(void)st;
	st_seen.puts++;
	st_seen.ip = *ip;
	st_seen.v = *v;
	snprintf(st_seen.source, sizeof(st_seen.source), "%s", source ? source : "(null)");
	snprintf(st_seen.facts, sizeof(st_seen.facts), "%s", facts_json ? facts_json : "(null)");
	return 0;
}

/* With [probe] off (the default) intel never calls it; defined for the link seam. */
int store_put_probe(struct store *st, const struct ipaddr *ip, const struct verdict *v,
		    const char *result, uint32_t when)
{
	(void)st;
	(void)ip;
	(void)v;
	(void)result;
	(void)when;
	return 0;
}

/* One provider's daily call count in the store, as store.c keeps it (per provider
 * and day; a new day starts at 0). */
static struct {
	char provider[32];          /* "": any */
	int64_t day;
	uint32_t calls;
	unsigned sets, claimed;
} st_budget;

uint32_t store_budget_get(struct store *st, const char *provider, int64_t day)
{
	(void)st;
	if (st_budget.provider[0] && strcmp(provider, st_budget.provider))
		return 0;
	return day == st_budget.day ? st_budget.calls : 0;
}

void store_budget_add(struct store *st, const char *provider, int64_t day, uint32_t n,
		      int claimed)
{
	(void)st;
	if (day > st_budget.day) {
		st_budget.day = day;
		st_budget.calls = 0;
	}
	snprintf(st_budget.provider, sizeof(st_budget.provider), "%s", provider);
	st_budget.calls += n;
	st_budget.sets++;
	st_budget.claimed += claimed != 0;
}

/* The fleet's claims (store.h): a store that is no fleet unless a test says so; the
 * claims asked are recorded for the test to answer (intel_fleet_claimed). */
static struct {
	int fleet;
	unsigned asked, released;
	struct ipaddr last;
	struct store_claim_args args;
} st_claims;

int store_is_fleet(const struct store *st)
{
	(void)st;
	return st_claims.fleet;
}

int store_claim(struct store *st, const struct ipaddr *ip, const struct store_claim_args *a,
		store_claim_cb cb, void *arg)
{
	(void)st;
	(void)cb;
	(void)arg;
	st_claims.asked++;
	st_claims.last = *ip;
	st_claims.args = *a;
	return 0;
}

void store_claim_release(struct store *st, const struct ipaddr *ip)
{
	(void)st;
	(void)ip;
	st_claims.released++;
}

/* ---- clock ---- */

struct fclock {
	uint64_t ms;
	int64_t s;
};

static uint64_t f_mono(void *arg)
{
	return ((struct fclock *)arg)->ms;
}

static int64_t f_unix(void *arg)
{
	return ((struct fclock *)arg)->s;
}

/* ---- the scripted backend ---- */

struct fake;

struct fetch {
	struct fake *fk;
	struct fetch *next;
	struct ipaddr ip;
	provider_fetch_done done;
	void *arg;
	uv_timer_t timer;
	struct provider_result res;
};

#define FAKE_LOG 512

struct fake {
	uv_loop_t *loop;
	struct fetch *pending;  /* not yet reported, in fetch order */
	unsigned nfetch;        /* fetches accepted */
	unsigned npending, max_pending;
	unsigned live;          /* fetch records not yet freed */
	int fail_next;          /* the next fetch returns this */
	int close_sync;         /* close reports CANCELED from inside close */
	int closing, closed;
	void (*closed_cb)(void *arg);
	void *closed_arg;
	struct ipaddr log[FAKE_LOG]; /* every fetched IP, in order */
};

static int in_wait; /* set around intel_wait/intel_refresh calls */
static unsigned cb_inside_wait;

static void fetch_free(uv_handle_t *h)
{
	struct fetch *f = h->data;
	struct fake *fk = f->fk;

	fk->live--;
	free(f);
	if (fk->closing && !fk->live && !fk->closed) {
		fk->closed = 1;
		fk->closed_cb(fk->closed_arg);
	}
}

static void unlink_fetch(struct fake *fk, struct fetch *f)
{
	struct fetch **pp;

	for (pp = &fk->pending; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			fk->npending--;
			return;
		}
	}
}

static void fire(uv_timer_t *t)
{
	struct fetch *f = t->data;

	unlink_fetch(f->fk, f);
	f->done(f->arg, &f->res);
	uv_close((uv_handle_t *)&f->timer, fetch_free);
}

static int fake_fetch(void *impl, const struct ipaddr *ip, provider_fetch_done done, void *arg)
{
	struct fake *fk = impl;
	struct fetch *f, **pp;
	int rc;

	if (fk->fail_next) {
		rc = fk->fail_next;
		fk->fail_next = 0;
		return rc;
	}
	f = calloc(1, sizeof(*f));
	f->fk = fk;
	f->ip = *ip;
	f->done = done;
	f->arg = arg;
	uv_timer_init(fk->loop, &f->timer);
	f->timer.data = f;
	for (pp = &fk->pending; *pp; pp = &(*pp)->next)
		;
	*pp = f;
	if (fk->nfetch < FAKE_LOG)
		fk->log[fk->nfetch] = *ip;
	fk->nfetch++;
	fk->live++;
	if (++fk->npending > fk->max_pending)
		fk->max_pending = fk->npending;
	return 0;
}

static void fake_close(void *impl, void (*closed)(void *arg), void *closed_arg)
{
	struct fake *fk = impl;
	struct fetch *f;

	fk->closing = 1;
	fk->closed_cb = closed;
	fk->closed_arg = closed_arg;
	if (!fk->live) {
		fk->closed = 1;
		closed(closed_arg);
		return;
	}
	while ((f = fk->pending)) {
		f->res.outcome = PROVIDER_CANCELED;
		f->res.detail = "closing";
		if (fk->close_sync) {
			unlink_fetch(fk, f);
			uv_timer_stop(&f->timer);
			f->done(f->arg, &f->res);
			uv_close((uv_handle_t *)&f->timer, fetch_free);
		} else {
			/* reported later, from the loop */
			uv_timer_start(&f->timer, fire, 0, 0);
			unlink_fetch(fk, f);
			f->next = NULL;
			/* keep it reachable for fire(): it unlinks nothing now */
		}
	}
}

/* Named unlike any real provider, so that a provider name in intel's logs or store
 * rows can only have come from the backend. */
#define FAKE_NAME "Test Intel"
#define FAKE_SOURCE "testintel"

static struct provider_backend fake_backend(struct fake *fk, uv_loop_t *loop)
{
	struct provider_backend be = {
		.name = FAKE_NAME, .source = FAKE_SOURCE,
		.impl = fk, .fetch = fake_fetch, .close = fake_close,
	};

	memset(fk, 0, sizeof(*fk));
	fk->loop = loop;
	return be;
}

static int same_ip(const struct ipaddr *a, const struct ipaddr *b)
{
	return memcmp(a->b, b->b, 16) == 0;
}

/* Report the pending fetch of ip after delay_ms (real time). */
static int complete(struct fake *fk, const struct ipaddr *ip, enum provider_outcome o,
		    uint8_t mask, const char *facts, unsigned delay_ms)
{
	struct fetch *f;

	for (f = fk->pending; f; f = f->next) {
		if (same_ip(&f->ip, ip) && !uv_is_active((uv_handle_t *)&f->timer)) {
			f->res.outcome = o;
			f->res.mask = mask;
			f->res.facts_json = facts;
			f->res.detail = o == PROVIDER_TROUBLE ? "HTTP 503" : NULL;
			uv_timer_start(&f->timer, fire, delay_ms, 0);
			return 0;
		}
	}
	return -1;
}

/* complete() for an answer that carries a Retry-After. */
static int complete_after(struct fake *fk, const struct ipaddr *ip, enum provider_outcome o,
			  uint32_t retry_after_ms)
{
	struct fetch *f;

	for (f = fk->pending; f; f = f->next) {
		if (same_ip(&f->ip, ip) && !uv_is_active((uv_handle_t *)&f->timer)) {
			f->res = (struct provider_result){ .outcome = o, .detail = "HTTP 429",
							   .retry_after_ms = retry_after_ms };
			uv_timer_start(&f->timer, fire, 0, 0);
			return 0;
		}
	}
	return -1;
}

/* ---- test scaffolding ---- */

static uv_loop_t loop;

static void spin(void)
{
	int i;

	for (i = 0; i < 4; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
}

struct qw {
	struct intel_waiter w; /* first: the callback casts back */
	int called, status, order;
};

static int cb_seq;

static void wcb(struct intel_waiter *w, int status)
{
	struct qw *q = (struct qw *)w;

	if (in_wait)
		cb_inside_wait++;
	q->called++;
	q->status = status;
	q->order = ++cb_seq;
}

static struct ipaddr ip4(uint32_t host)
{
	struct ipaddr a;

	memset(&a, 0, sizeof(a));
	a.b[10] = a.b[11] = 0xff;
	a.b[12] = (uint8_t)(host >> 24);
	a.b[13] = (uint8_t)(host >> 16);
	a.b[14] = (uint8_t)(host >> 8);
	a.b[15] = (uint8_t)host;
	return a;
}

static struct config mkcfg(void)
{
	struct config c;

	memset(&c, 0, sizeof(c));
	c.deadline_ms = 1500;
	c.concurrency = 1;
	c.rate = 1000;
	c.rate_burst = 1000;
	c.daily_budget = 0;
	c.queue_max = 64;
	return c;
}

struct env {
	struct fake fk;
	struct fclock clk;
	struct cache *cache;
	struct intel *in;
	int done;
	struct ipaddr client;  /* the querier of wait_ip, when client_set */
	int client_set;
};

/* 2026-11-28 12:00:00 UTC */
#define NOON 1795867200

static void env_init(struct env *e, const struct config *cfg, int fake_time,
		     struct store *store)
{
	struct intel_clock clk = { f_mono, f_unix, &e->clk };

	memset(e, 0, sizeof(*e));
	e->cache = cache_new();
	e->clk.ms = 1000000;
	e->clk.s = NOON;
	if (intel_new(&loop, cfg, fake_backend(&e->fk, &loop), e->cache, store, &e->in) != 0)
		abort();
	if (fake_time)
		intel_set_clock(e->in, &clk);
}

static void on_done(void *arg)
{
	(*(int *)arg)++;
}

/* Close and check that everything was released (ASan reports leaks). */
static void env_close(struct env *e, const char *what)
{
	int i;

	intel_close(e->in, on_done, &e->done);
	for (i = 0; i < 20 && !e->done; i++)
		spin();
	if (!ok(e->done == 1 && e->fk.closed && e->fk.live == 0, "%s: closed cleanly", what))
		diag("done %d closed %d live %u", e->done, e->fk.closed, e->fk.live);
	cache_free(e->cache);
}

static int wait_ip(struct env *e, const struct ipaddr *ip, struct qw *q)
{
	int rc;

	memset(q, 0, sizeof(*q));
	in_wait = 1;
	rc = intel_wait(e->in, ip, e->client_set ? &e->client : NULL, &q->w, wcb);
	in_wait = 0;
	return rc;
}

static void refresh_ip(struct env *e, const struct ipaddr *ip)
{
	in_wait = 1;
	intel_refresh(e->in, ip);
	in_wait = 0;
}

static void at(struct env *e, uint64_t rel_ms)
{
	e->clk.ms = 1000000 + rel_ms;
	intel_poll(e->in);
}

static struct intel_stats stats(struct env *e)
{
	struct intel_stats s;

	intel_get_stats(e->in, &s);
	return s;
}

/* ---- stderr capture, to count log lines ---- */

static int saved_fd = -1;
static FILE *cap;

static void capture_start(void)
{
	fflush(stderr);
	cap = tmpfile();
	saved_fd = dup(STDERR_FILENO);
	dup2(fileno(cap), STDERR_FILENO);
}

static char *capture_end(void)
{
	long n;
	char *buf;

	fflush(stderr);
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	n = ftell(cap);
	buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
	rewind(cap);
	if (n > 0 && fread(buf, 1, (size_t)n, cap) != (size_t)n)
		buf[0] = 0;
	fclose(cap);
	return buf;
}

static unsigned count_str(const char *hay, const char *needle)
{
	unsigned n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* ---- tests ---- */

static void test_coalescing(void)
{
	struct config cfg = mkcfg();
	struct env e;
	static struct qw q[200];
	struct ipaddr a = ip4(0xBCD66A5D);
	unsigned i, zero = 0, bad = 0;
	struct verdict v;
	struct intel_stats s;

	env_init(&e, &cfg, 1, NULL);
	for (i = 0; i < 200; i++)
		bad += wait_ip(&e, &a, &q[i]) != 0;
	is_int(bad, 0, "coalescing: 200 waiters parked");
	is_int(e.fk.nfetch, 1, "coalescing: one fetch for 200 waiters");
	is_int(cb_seq, 0, "coalescing: no callback from inside intel_wait");
	s = stats(&e);
	is_int(s.coalesced, 199, "coalescing: 199 joined the lookup");
	is_int(s.inflight, 1, "coalescing: one call in flight");
	complete(&e.fk, &a, PROVIDER_OK, VERDICT_BIT(VERDICT_VPN) | VERDICT_BIT(VERDICT_OPENVPN443),
		 NULL, 0);
	spin();
	for (i = 0; i < 200; i++)
		zero += q[i].called == 1 && q[i].status == 0;
	is_int(zero, 200, "coalescing: all 200 called once with 0");
	ok(q[0].order < q[199].order, "coalescing: waiters called in arrival order");
	is_int(cache_get(e.cache, &a, &v), 0, "coalescing: verdict in the cache");
	is_int(v.mask, VERDICT_BIT(VERDICT_VPN) | VERDICT_BIT(VERDICT_OPENVPN443),
	       "coalescing: cached mask");
	is_int(v.flags, 0, "coalescing: no flag on an OK verdict");
	is_int(v.checked, NOON, "coalescing: checked is the lookup time");
	s = stats(&e);
	is_int(s.requests, 1, "coalescing: one request counted");
	is_int(s.inflight, 0, "coalescing: nothing in flight after");
	env_close(&e, "coalescing");
}

static void test_deadline_real(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q1, q2;
	struct ipaddr a = ip4(0x01020304);
	uint64_t t0, ms;
	struct verdict v;
	int i;

	cfg.deadline_ms = 60;
	env_init(&e, &cfg, 0, NULL);
	uv_update_time(&loop);
	t0 = uv_hrtime();
	is_int(wait_ip(&e, &a, &q1), 0, "deadline: parked");
	for (i = 0; i < 100 && !q1.called; i++)
		uv_run(&loop, UV_RUN_ONCE);
	ms = (uv_hrtime() - t0) / 1000000;
	is_int(q1.status, -ETIMEDOUT, "deadline: slow backend -> -ETIMEDOUT");
	ok(ms >= 55 && ms < 2000, "deadline: called at about the deadline (%llu ms)",
	   (unsigned long long)ms);
	is_int(stats(&e).timeouts, 1, "deadline: timeout counted");
	is_int(stats(&e).inflight, 1, "deadline: the lookup goes on");
	is_int(wait_ip(&e, &a, &q2), 0, "deadline: a later query joins the same lookup");
	is_int(e.fk.nfetch, 1, "deadline: still one fetch");
	complete(&e.fk, &a, PROVIDER_OK, VERDICT_BIT(VERDICT_HOSTING), NULL, 5);
	for (i = 0; i < 100 && !q2.called; i++)
		uv_run(&loop, UV_RUN_ONCE);
	is_int(q2.status, 0, "deadline: the later query gets the result");
	is_int(q1.called, 1, "deadline: the timed-out waiter is not called again");
	ok(cache_get(e.cache, &a, &v) == 0 && v.mask == VERDICT_BIT(VERDICT_HOSTING),
	   "deadline: the late result lands in the cache");
	env_close(&e, "deadline");
}

static void test_deadline_fifo(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qb;
	struct ipaddr a = ip4(0x0a000001), b = ip4(0x0a000002);

	cfg.deadline_ms = 1000;
	env_init(&e, &cfg, 1, NULL);
	wait_ip(&e, &a, &qa);
	at(&e, 400);
	wait_ip(&e, &b, &qb);
	is_int(stats(&e).queued, 1, "fifo: second IP queued behind the first");
	at(&e, 999);
	ok(!qa.called && !qb.called, "fifo: nobody called before the deadline");
	at(&e, 1000);
	ok(qa.called && qa.status == -ETIMEDOUT && !qb.called,
	   "fifo: the oldest times out at its deadline, the younger does not");
	at(&e, 1399);
	ok(!qb.called, "fifo: the younger waits for its own deadline");
	at(&e, 1400);
	ok(qb.called && qb.status == -ETIMEDOUT, "fifo: the younger times out at its deadline");
	is_int(stats(&e).queued, 1, "fifo: its lookup is still queued (it goes on)");
	complete(&e.fk, &a, PROVIDER_OK, 0, NULL, 0);
	spin();
	is_int(e.fk.nfetch, 2, "fifo: the queued lookup is called after the first");
	env_close(&e, "fifo");
}

static void test_concurrency(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q[5];
	struct ipaddr ip[5];
	unsigned i, zero = 0;

	cfg.concurrency = 2;
	env_init(&e, &cfg, 1, NULL);
	for (i = 0; i < 5; i++) {
		ip[i] = ip4(0x0b000000 + i);
		wait_ip(&e, &ip[i], &q[i]);
	}
	is_int(e.fk.nfetch, 2, "concurrency: 2 calls start");
	is_int(stats(&e).queued, 3, "concurrency: 3 queued");
	complete(&e.fk, &ip[1], PROVIDER_OK, 0, NULL, 0);
	spin();
	is_int(e.fk.nfetch, 3, "concurrency: a finished call frees a slot");
	ok(same_ip(&e.fk.log[2], &ip[2]), "concurrency: the queue is served in order");
	for (i = 0; i < 5; i++) {
		complete(&e.fk, &ip[i], PROVIDER_OK, 0, NULL, 0);
		spin();
	}
	complete(&e.fk, &ip[4], PROVIDER_OK, 0, NULL, 0);
	spin();
	is_int(e.fk.nfetch, 5, "concurrency: every IP called once");
	is_int(e.fk.max_pending, 2, "concurrency: never more than 2 in flight");
	for (i = 0; i < 5; i++)
		zero += q[i].called == 1 && q[i].status == 0;
	is_int(zero, 5, "concurrency: every waiter answered");
	env_close(&e, "concurrency");
}

static void test_rate(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q[5];
	struct ipaddr ip[5];
	unsigned i, inorder = 1;

	cfg.concurrency = 10;
	cfg.rate = 2;
	cfg.rate_burst = 1;
	cfg.deadline_ms = 10000;
	env_init(&e, &cfg, 1, NULL);
	for (i = 0; i < 5; i++) {
		ip[i] = ip4(0x0c000000 + i);
		wait_ip(&e, &ip[i], &q[i]);
	}
	is_int(e.fk.nfetch, 1, "rate 2/s burst 1: one call at once");
	at(&e, 499);
	is_int(e.fk.nfetch, 1, "rate: none more at 499 ms");
	at(&e, 500);
	is_int(e.fk.nfetch, 2, "rate: second at 500 ms");
	at(&e, 1000);
	is_int(e.fk.nfetch, 3, "rate: third at 1000 ms");
	at(&e, 1499);
	is_int(e.fk.nfetch, 3, "rate: none at 1499 ms");
	at(&e, 2000);
	is_int(e.fk.nfetch, 4, "rate: a late poll starts one, not a burst beyond 1");
	at(&e, 2500);
	is_int(e.fk.nfetch, 5, "rate: fifth at 2500 ms");
	for (i = 0; i < 5; i++)
		inorder &= same_ip(&e.fk.log[i], &ip[i]);
	ok(inorder, "rate: calls in arrival order");
	env_close(&e, "rate");

	cfg.rate = 1;
	cfg.rate_burst = 3;
	env_init(&e, &cfg, 1, NULL);
	for (i = 0; i < 5; i++)
		wait_ip(&e, &ip[i], &q[i]);
	is_int(e.fk.nfetch, 3, "rate 1/s burst 3: three calls at once");
	at(&e, 999);
	is_int(e.fk.nfetch, 3, "burst: none more before a second");
	at(&e, 1000);
	is_int(e.fk.nfetch, 4, "burst: one more after a second");
	env_close(&e, "burst");
}

static void test_budget(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qb, qc, qd, qe;
	struct ipaddr a = ip4(0x0d000001), b = ip4(0x0d000002), c = ip4(0x0d000003),
		      d = ip4(0x0d000004);
	char *logs;

	cfg.daily_budget = 2;
	env_init(&e, &cfg, 1, NULL);
	capture_start();
	wait_ip(&e, &a, &qa);
	wait_ip(&e, &b, &qb);
	wait_ip(&e, &c, &qc);
	is_int(e.fk.nfetch, 1, "budget: first call");
	complete(&e.fk, &a, PROVIDER_OK, 0, NULL, 0);
	spin();
	is_int(e.fk.nfetch, 2, "budget: second call");
	ok(qc.called && qc.status == 0,
	   "budget: used up -> the queued lookup is dropped, its waiter answered (0)");
	is_int(stats(&e).paused, PROVIDER_LIMIT, "budget: calls paused");
	is_int(stats(&e).calls_today, 2, "budget: 2 calls today");
	is_int(wait_ip(&e, &d, &qd), -EAGAIN, "budget: new IP -> -EAGAIN");
	refresh_ip(&e, &d);
	is_int(e.fk.nfetch, 2, "budget: refresh makes no call");
	is_int(wait_ip(&e, &b, &qe), 0, "budget: joining a call in flight still works");
	complete(&e.fk, &b, PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(qb.called && qe.called, "budget: the call in flight completes");
	is_int(wait_ip(&e, &d, &qd), -EAGAIN, "budget: still -EAGAIN before midnight");
	e.clk.s = NOON + 12 * 3600 - 1;
	is_int(wait_ip(&e, &d, &qd), -EAGAIN, "budget: still -EAGAIN at 23:59:59");
	e.clk.s = NOON + 12 * 3600;
	is_int(wait_ip(&e, &d, &qd), 0, "budget: calls resume at 00:00 UTC");
	is_int(e.fk.nfetch, 3, "budget: a call on the new day");
	is_int(stats(&e).calls_today, 1, "budget: the count starts again");
	is_int(stats(&e).paused, 0, "budget: not paused");
	cfg.daily_budget = 1;
	intel_reconfigure(e.in, &cfg, (struct provider_backend){ 0 });
	is_int(stats(&e).paused, PROVIDER_LIMIT, "budget: lowered below today's calls -> paused");
	cfg.daily_budget = 5;
	intel_reconfigure(e.in, &cfg, (struct provider_backend){ 0 });
	is_int(stats(&e).paused, 0, "budget: raised again -> calls resume");
	logs = capture_end();
	is_int(count_str(logs, "daily budget of 2 calls used up; calls resume at 00:00 UTC"), 1,
	       "budget: warned once");
	is_int(count_str(logs, "daily budget of 1 calls used up"), 1,
	       "budget: warned on the lowered budget");
	free(logs);
	env_close(&e, "budget");
}

/* Fair shares between clients: the clients take turns, each new lookup costs its
 * client a token, a lookup two clients ask about goes first, and only lookup-from
 * causes lookups (joining one is free). */
static void test_clients(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa[8], qb, qc, qd, qe, qf;
	struct ipaddr a[8], b = ip4(0x0e000001), c = ip4(0x0e000002), d = ip4(0x0e000003);
	struct ipaddr flood = ip4(0x0a000002), other = ip4(0x0a000103), third = ip4(0x0a000203);
	struct intel_stats st;
	int rc, limited = 0;

	cfg.concurrency = 1;
	cfg.per_client_rate = 1;
	cfg.per_client_burst = 4;
	cfg.client_prefix_v4 = 24;
	cfg.client_prefix_v6 = 56;
	env_init(&e, &cfg, 1, NULL);
	/* the flood's client (10.0.0.0/24) asks for 8 new IPs at once: 4 tokens */
	e.client = flood;
	e.client_set = 1;
	for (int i = 0; i < 8; i++) {
		a[i] = ip4(0x0d100001 + (uint32_t)i);
		rc = wait_ip(&e, &a[i], &qa[i]);
		limited += rc == -EBUSY;
	}
	is_int(limited, 4, "clients: a client's burst of 4, the rest refused");
	intel_get_stats(e.in, &st);
	is_int(st.client_limited, 4, "clients: counted as limited");
	is_int(e.fk.nfetch, 1, "clients: the first call started");
	/* another client (10.0.1.0/24) asks now: the clients take turns, so its lookup
	 * comes after the flood's next one, before the flood's other two */
	e.client = other;
	is_int(wait_ip(&e, &b, &qb), 0, "clients: another client's lookup is queued");
	complete(&e.fk, &a[0], PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(e.fk.nfetch == 2 && same_ip(&e.fk.log[1], &a[1]), "clients: the flood's turn");
	complete(&e.fk, &a[1], PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(e.fk.nfetch == 3 && same_ip(&e.fk.log[2], &b),
	   "clients: then the other client's, before the flood's queue");
	/* the other client queues one more; a third client asks for an IP of the flood's
	 * queue: asked by two clients, it goes first */
	is_int(wait_ip(&e, &c, &qc), 0, "clients: the other client queues one more");
	e.client = third;
	is_int(wait_ip(&e, &a[3], &qd), 0, "clients: a third client asks for a flood IP");
	complete(&e.fk, &b, PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(e.fk.nfetch == 4 && same_ip(&e.fk.log[3], &a[3]),
	   "clients: an IP two clients ask about goes first");
	complete(&e.fk, &a[3], PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(e.fk.nfetch == 5 && same_ip(&e.fk.log[4], &a[2]), "clients: then the flood's turn");
	complete(&e.fk, &a[2], PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(e.fk.nfetch == 6 && same_ip(&e.fk.log[5], &c), "clients: and the other's");
	complete(&e.fk, &c, PROVIDER_OK, 0, NULL, 0);
	spin();
	intel_get_stats(e.in, &st);
	is_int(st.queued, 0, "clients: all served");
	/* a second later the flood has one token again */
	e.clk.ms += 1000;
	e.client = flood;
	is_int(wait_ip(&e, &a[4], &qa[4]), 0, "clients: a token a second comes back");
	is_int(wait_ip(&e, &a[5], &qa[5]), -EBUSY, "clients: and only one");
	complete(&e.fk, &a[4], PROVIDER_OK, 0, NULL, 0);
	spin();
	env_close(&e, "clients");

	/* lookup-from: only 10.0.1.0/24 causes lookups; anyone may join one */
	cfg = mkcfg();
	ok(acl_add(&cfg.lookup_from, "10.0.1.0/24") == 0, "lookup-from set");
	env_init(&e, &cfg, 1, NULL);
	e.client_set = 1;
	e.client = flood;
	is_int(wait_ip(&e, &d, &qe), -EAGAIN, "lookup-from: another client causes no lookup");
	is_int(e.fk.nfetch, 0, "lookup-from: no call");
	intel_get_stats(e.in, &st);
	is_int(st.not_allowed, 1, "lookup-from: counted");
	e.client = other;
	is_int(wait_ip(&e, &d, &qe), 0, "lookup-from: a client in it does");
	e.client = flood;
	is_int(wait_ip(&e, &d, &qf), 0, "lookup-from: the other client joins the lookup");
	complete(&e.fk, &d, PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(qe.called && qf.called && qe.status == 0 && qf.status == 0,
	   "lookup-from: both answered by the one call");
	is_int(e.fk.nfetch, 1, "lookup-from: one call");
	env_close(&e, "lookup-from");
	acl_free(&cfg.lookup_from);
}

/* A verdict put since the answering loop looked (the lookup finished on the lookup
 * thread in between): no second lookup, the query is answered from the cache. */
static void test_cache_raced(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q;
	struct ipaddr a = ip4(0x0d200001), b = ip4(0x0d200002);
	struct verdict v = { .mask = 1, .checked = NOON - 10 };

	cfg.fresh_s = 3600;
	cfg.max_stale_s = 7200;
	env_init(&e, &cfg, 1, NULL);
	cache_put(e.cache, &a, &v);
	is_int(wait_ip(&e, &a, &q), -EEXIST, "raced: a fresh verdict in the cache: -EEXIST");
	is_int(e.fk.nfetch, 0, "raced: no call");
	v.checked = NOON - 8000;
	cache_put(e.cache, &b, &v);
	is_int(wait_ip(&e, &b, &q), 0, "raced: a verdict older than max-stale is looked up");
	is_int(e.fk.nfetch, 1, "raced: one call");
	complete(&e.fk, &b, PROVIDER_OK, 0, NULL, 0);
	spin();
	/* a refresh asked for before that lookup finished: b is fresh now, no call */
	refresh_ip(&e, &b);
	spin();
	is_int(e.fk.nfetch, 1, "raced: no refresh of a verdict that is fresh now");
	env_close(&e, "raced");
}

/* intel_set_skip ([intel] skip-when with a feed): an address the check names makes no
 * call, through intel_wait (-EAGAIN: answered from what is known) or intel_refresh;
 * others still do. */
static const struct ipaddr *skip_this;

static int skip_fn(void *arg, const struct ipaddr *ip)
{
	(*(int *)arg)++;
	return ipaddr_cmp(ip, skip_this) == 0;
}

static void test_skip(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q;
	struct ipaddr a = ip4(0x0d300001), b = ip4(0x0d300002);
	int asked = 0;

	env_init(&e, &cfg, 1, NULL);
	skip_this = &a;
	intel_set_skip(e.in, skip_fn, &asked);
	is_int(wait_ip(&e, &a, &q), -EAGAIN, "skip: a listed address is not waited for");
	refresh_ip(&e, &a);
	spin();
	is_int(e.fk.nfetch, 0, "skip: no call for it, by wait or refresh");
	ok(asked >= 2, "skip: the check was asked");
	is_int(wait_ip(&e, &b, &q), 0, "skip: another address waits");
	is_int(e.fk.nfetch, 1, "skip: and is looked up");
	complete(&e.fk, &b, PROVIDER_OK, 0, NULL, 0);
	spin();
	intel_set_skip(e.in, NULL, NULL);
	is_int(wait_ip(&e, &a, &q), 0, "skip: without the check it is looked up");
	is_int(e.fk.nfetch, 2, "skip: one more call");
	complete(&e.fk, &a, PROVIDER_OK, 0, NULL, 0);
	spin();
	env_close(&e, "skip");
}

/* The day's count comes from the store and goes back to it: a restart (a new intel)
 * does not get a fresh budget. */
static void test_budget_stored(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qb;
	struct ipaddr a = ip4(0x0d000011), b = ip4(0x0d000012), c = ip4(0x0d000013);
	struct store *fake_store = (struct store *)&st_budget; /* only the seam sees it */

	cfg.daily_budget = 3;
	memset(&st_budget, 0, sizeof(st_budget));
	snprintf(st_budget.provider, sizeof(st_budget.provider), "another");
	st_budget.day = NOON / 86400;
	st_budget.calls = 3;
	env_init(&e, &cfg, 1, fake_store);
	is_int(stats(&e).calls_today, 0, "stored budget: another provider's count is not ours");
	env_close(&e, "stored budget (another provider)");
	snprintf(st_budget.provider, sizeof(st_budget.provider), "%s", FAKE_SOURCE);
	env_init(&e, &cfg, 1, fake_store);
	is_int(wait_ip(&e, &a, &qa), -EAGAIN, "stored budget: 3 calls made today -> -EAGAIN");
	is_int(e.fk.nfetch, 0, "stored budget: no call");
	is_int(stats(&e).calls_today, 3, "stored budget: today's count read from the store");
	cfg.daily_budget = 4;
	intel_reconfigure(e.in, &cfg, (struct provider_backend){ 0 });
	is_int(wait_ip(&e, &b, &qb), 0, "stored budget: raised -> one more call");
	is_int(e.fk.nfetch, 1, "stored budget: the call is made");
	is_int(st_budget.calls, 4, "stored budget: the store gets the new count");
	is_int(st_budget.sets, 1, "stored budget: once per call");
	is_str(st_budget.provider, FAKE_SOURCE, "stored budget: under the provider's name");
	is_int(st_budget.claimed, 0, "stored budget: no claim counted it (no fleet)");
	complete(&e.fk, &b, PROVIDER_OK, 0, NULL, 0);
	spin();
	e.clk.s = NOON + 12 * 3600;
	is_int(wait_ip(&e, &a, &qa), 0, "stored budget: a new day starts at 0 calls");
	is_int(st_budget.day, NOON / 86400 + 1, "stored budget: counted on the new day");
	is_int(st_budget.calls, 1, "stored budget: one call on it");
	complete(&e.fk, &a, PROVIDER_OK, 0, NULL, 0);
	spin();
	/* the database's count grows by the calls of others (a fleet's nodes) */
	st_budget.calls = 4;
	is_int(wait_ip(&e, &c, &qa), -EAGAIN,
	       "stored budget: the others spent it -> no call, -EAGAIN");
	is_int(e.fk.nfetch, 2, "stored budget: no call past the database's count");
	is_int(stats(&e).calls_today, 4, "stored budget: the database's count is ours");
	env_close(&e, "stored budget");
}

static void test_bad_key(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qb, qc, qd;
	struct ipaddr a = ip4(0x0e000001), b = ip4(0x0e000002), c = ip4(0x0e000003),
		      d = ip4(0x0e000004);
	struct verdict v;
	char *logs;

	cfg.concurrency = 2;
	cfg.queue_max = 8;
	env_init(&e, &cfg, 1, NULL);
	capture_start();
	wait_ip(&e, &a, &qa);
	wait_ip(&e, &b, &qb);
	wait_ip(&e, &c, &qc);
	is_int(e.fk.nfetch, 2, "bad key: two calls, one queued");
	complete(&e.fk, &a, PROVIDER_BAD_KEY, 0, NULL, 0);
	spin();
	ok(qa.called && qa.status == 0, "bad key: its waiter answered with 0");
	ok(qc.called && qc.status == 0, "bad key: the queued lookup dropped, waiter answered");
	ok(!qb.called, "bad key: the other call in flight goes on");
	is_int(stats(&e).paused, PROVIDER_BAD_KEY, "bad key: paused");
	is_int(stats(&e).queued, 0, "bad key: queue empty");
	is_int(cache_get(e.cache, &a, &v), -ENOENT, "bad key: nothing cached");
	complete(&e.fk, &b, PROVIDER_BAD_KEY, 0, NULL, 0);
	spin();
	ok(qb.called && qb.status == 0, "bad key: second call's waiter answered");
	is_int(wait_ip(&e, &d, &qd), -EAGAIN, "bad key: new IP -> -EAGAIN");
	refresh_ip(&e, &d);
	at(&e, 3600 * 1000);
	is_int(e.fk.nfetch, 2, "bad key: no call an hour later");
	e.clk.s += 86400;
	is_int(wait_ip(&e, &d, &qd), -EAGAIN, "bad key: not even on the next day");
	intel_reconfigure(e.in, &cfg, (struct provider_backend){ 0 });
	is_int(stats(&e).paused, 0, "bad key: reconfigure ends the pause");
	is_int(wait_ip(&e, &d, &qd), 0, "bad key: calls again after reload");
	is_int(e.fk.nfetch, 3, "bad key: a call after reload");
	logs = capture_end();
	is_int(count_str(logs, FAKE_NAME " rejected the API key (invalid api key); "
			       "no more calls until reload (SIGHUP)"), 1,
	       "bad key: logged once for two rejections, under the backend's name");
	is_int(count_str(logs, "configuration reloaded: calls to " FAKE_NAME " resume"), 1,
	       "bad key: the reload's resumption names the backend");
	is_int(count_str(logs, "Criminal IP"), 0, "bad key: no provider named but the backend");
	free(logs);
	env_close(&e, "bad key");
}

static void test_limit(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qb;
	struct ipaddr a = ip4(0x0f000001), b = ip4(0x0f000002);
	char *logs;

	env_init(&e, &cfg, 1, NULL);
	capture_start();
	wait_ip(&e, &a, &qa);
	complete(&e.fk, &a, PROVIDER_LIMIT, 0, NULL, 0);
	spin();
	ok(qa.called && qa.status == 0, "limit: waiter answered with 0");
	is_int(stats(&e).paused, PROVIDER_LIMIT, "limit: paused");
	is_int(wait_ip(&e, &b, &qb), -EAGAIN, "limit: new IP -> -EAGAIN");
	e.clk.s = NOON + 11 * 3600;
	is_int(wait_ip(&e, &b, &qb), -EAGAIN, "limit: still paused at 23:00");
	e.clk.s = NOON + 12 * 3600 + 5;
	is_int(wait_ip(&e, &b, &qb), 0, "limit: calls resume on the next UTC day");
	is_int(e.fk.nfetch, 2, "limit: a call after midnight");
	logs = capture_end();
	is_int(count_str(logs, FAKE_NAME " credits used up (limit exceeded)"), 1,
	       "limit: logged with the backend's name");
	is_int(count_str(logs, "new UTC day: calls to " FAKE_NAME " resume"), 1,
	       "limit: the new day's resumption names the backend");
	free(logs);
	env_close(&e, "limit");
}

static void test_busy(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qb, qc;
	struct ipaddr a = ip4(0x10000001), b = ip4(0x10000002), c = ip4(0x10000003);
	struct verdict v;
	char *logs;

	cfg.concurrency = 3;
	cfg.deadline_ms = 60000;
	env_init(&e, &cfg, 1, NULL);
	capture_start();
	wait_ip(&e, &a, &qa);
	complete(&e.fk, &a, PROVIDER_BUSY, 0, NULL, 0);
	spin();
	ok(!qa.called, "busy: the waiter keeps waiting");
	is_int(stats(&e).queued, 1, "busy: the lookup is queued again");
	is_int(stats(&e).one_at_a_time, 1, "busy: one call at a time");
	wait_ip(&e, &b, &qb);
	wait_ip(&e, &c, &qc);
	is_int(e.fk.nfetch, 1, "busy: nothing starts during the delay");
	at(&e, 199);
	is_int(e.fk.nfetch, 1, "busy: no retry before 200 ms");
	at(&e, 200);
	is_int(e.fk.nfetch, 2, "busy: retried after 200 ms");
	ok(same_ip(&e.fk.log[1], &a), "busy: the same lookup first");
	is_int(stats(&e).inflight, 1, "busy: alone although concurrency is 3");
	complete(&e.fk, &a, PROVIDER_BUSY, 0, NULL, 0);
	spin();
	at(&e, 599);
	is_int(e.fk.nfetch, 2, "busy: second delay is longer (no retry at +399 ms)");
	at(&e, 600);
	is_int(e.fk.nfetch, 3, "busy: retried after 400 ms");
	ok(same_ip(&e.fk.log[2], &a), "busy: still the same lookup first");
	complete(&e.fk, &a, PROVIDER_OK, VERDICT_BIT(VERDICT_PROXY), NULL, 0);
	spin();
	ok(qa.called && qa.status == 0, "busy: answered once the call succeeds");
	ok(cache_get(e.cache, &a, &v) == 0 && v.mask == VERDICT_BIT(VERDICT_PROXY),
	   "busy: verdict cached");
	is_int(e.fk.nfetch, 5, "busy: after a success the others start together");
	is_int(stats(&e).one_at_a_time, 0, "busy: back to full concurrency");
	logs = capture_end();
	is_int(count_str(logs, FAKE_NAME " refuses concurrent calls"), 1,
	       "busy: logged once, with the backend's name");
	free(logs);
	env_close(&e, "busy");
}

static void test_invalid_ip_and_store(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qb;
	struct ipaddr a = ip4(0x11000001), b = ip4(0x11000002);
	struct verdict v;
	int fake_store;

	memset(&st_seen, 0, sizeof(st_seen));
	env_init(&e, &cfg, 1, (struct store *)&fake_store);
	wait_ip(&e, &a, &qa);
	complete(&e.fk, &a, PROVIDER_INVALID_IP, 0, NULL, 0);
	spin();
	ok(qa.called && qa.status == 0, "invalid ip: waiter answered with 0");
	is_int(cache_get(e.cache, &a, &v), 0, "invalid ip: remembered in the cache");
	is_int(v.flags, VERDICT_F_UNKNOWN, "invalid ip: flagged unknown");
	is_int(v.mask, 0, "invalid ip: no category");
	is_int(v.checked, NOON, "invalid ip: time of the lookup");
	is_int(st_seen.puts, 0, "invalid ip: not stored");
	is_int(stats(&e).paused, 0, "invalid ip: calls go on");

	wait_ip(&e, &b, &qb);
	complete(&e.fk, &b, PROVIDER_OK, VERDICT_BIT(VERDICT_TOR), "{\"is_tor\":true}", 0);
	spin();
	is_int(st_seen.puts, 1, "store: an OK verdict is stored");
	ok(same_ip(&st_seen.ip, &b), "store: for its IP");
	is_int(st_seen.v.mask, VERDICT_BIT(VERDICT_TOR), "store: with its mask");
	is_int(st_seen.v.checked, NOON, "store: and its time");
	is_str(st_seen.source, FAKE_SOURCE, "store: the backend's source, " FAKE_SOURCE);
	is_str(st_seen.facts, "{\"is_tor\":true}", "store: with the facts");
	env_close(&e, "invalid ip");
}

static void test_trouble(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qb, qc, qd, qx;
	struct ipaddr a = ip4(0x12000001), b = ip4(0x12000002), c = ip4(0x12000003),
		      d = ip4(0x12000004), x = ip4(0x12000009);
	struct verdict v;
	char *logs;

	cfg.deadline_ms = 60000;
	env_init(&e, &cfg, 1, NULL);
	capture_start();
	wait_ip(&e, &a, &qa);
	wait_ip(&e, &b, &qb);
	complete(&e.fk, &a, PROVIDER_TROUBLE, 0, NULL, 0);
	spin();
	ok(qa.called && qa.status == 0, "trouble: the failed lookup's waiter gets 0");
	is_int(cache_get(e.cache, &a, &v), -ENOENT, "trouble: nothing remembered");
	ok(!qb.called, "trouble: a parked waiter stays parked");
	is_int(stats(&e).paused, PROVIDER_TROUBLE, "trouble: backing off");
	is_int(stats(&e).backoff_ms, 1000, "trouble: first backoff 1 s");
	is_int(wait_ip(&e, &x, &qx), -EAGAIN, "trouble: new IP -> -EAGAIN");
	refresh_ip(&e, &x);
	at(&e, 999);
	is_int(e.fk.nfetch, 1, "trouble: no call before 1 s");
	is_int(wait_ip(&e, &x, &qx), -EAGAIN, "trouble: still -EAGAIN at 999 ms");
	at(&e, 1000);
	is_int(e.fk.nfetch, 2, "trouble: the queued lookup is tried after 1 s");
	is_int(wait_ip(&e, &c, &qc), 0, "trouble: new IPs accepted once the wait is over");
	complete(&e.fk, &b, PROVIDER_TROUBLE, 0, NULL, 0);
	spin();
	ok(qb.called && qb.status == 0, "trouble: second failure answers its waiter");
	is_int(stats(&e).backoff_ms, 2000, "trouble: backoff doubles to 2 s");
	at(&e, 2999);
	is_int(e.fk.nfetch, 2, "trouble: no call before 2 s more");
	at(&e, 3000);
	is_int(e.fk.nfetch, 3, "trouble: next call after 2 s");
	complete(&e.fk, &c, PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(qc.called && qc.status == 0, "trouble: success answers");
	is_int(stats(&e).backoff_ms, 0, "trouble: success resets the backoff");
	is_int(stats(&e).paused, 0, "trouble: not paused after success");
	is_int(wait_ip(&e, &d, &qd), 0, "trouble: new IPs accepted again");
	complete(&e.fk, &d, PROVIDER_TROUBLE, 0, NULL, 0);
	spin();
	is_int(stats(&e).backoff_ms, 1000, "trouble: a new failure starts again at 1 s");
	logs = capture_end();
	is_int(count_str(logs, FAKE_NAME " unreachable: HTTP 503; backing off 1s"), 2,
	       "trouble: 'unreachable' logged once per episode, with the backend's name");
	is_int(count_str(logs, FAKE_NAME " reachable again"), 1,
	       "trouble: 'reachable again' logged once");
	is_int(count_str(logs, "Criminal IP"), 0, "trouble: no provider named but the backend");
	free(logs);
	env_close(&e, "trouble");
}

/* Issue 12: a 429 with Retry-After waits as long as it says, up to an hour. */
static void test_retry_after(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qb, qc, qx;
	struct ipaddr a = ip4(0x12100001), b = ip4(0x12100002), c = ip4(0x12100003),
		      x = ip4(0x12100009);
	char *logs;

	cfg.deadline_ms = 60000;
	env_init(&e, &cfg, 1, NULL);
	capture_start();
	wait_ip(&e, &a, &qa);
	complete_after(&e.fk, &a, PROVIDER_TROUBLE, 120000);
	spin();
	ok(qa.called && qa.status == 0, "retry-after: the waiter gets 0");
	at(&e, 1000);
	is_int(wait_ip(&e, &x, &qx), -EAGAIN, "retry-after 120 s: still refused after 1 s");
	at(&e, 119999);
	is_int(wait_ip(&e, &x, &qx), -EAGAIN, "retry-after 120 s: refused at 119.999 s");
	is_int(e.fk.nfetch, 1, "retry-after: no call meanwhile");
	at(&e, 120000);
	is_int(wait_ip(&e, &b, &qb), 0, "retry-after 120 s: accepted at 120 s");
	is_int(e.fk.nfetch, 2, "retry-after: the call made");
	/* ten hours asked: an hour honoured */
	complete_after(&e.fk, &b, PROVIDER_TROUBLE, 36000000);
	spin();
	at(&e, 120000 + 3599999);
	is_int(wait_ip(&e, &x, &qx), -EAGAIN, "retry-after 10 h: refused just before an hour");
	at(&e, 120000 + 3600000);
	is_int(wait_ip(&e, &c, &qc), 0, "retry-after 10 h: bounded to an hour");
	/* busy with a Retry-After: the retry waits for it, not 200 ms */
	complete_after(&e.fk, &c, PROVIDER_BUSY, 5000);
	spin();
	at(&e, 120000 + 3600000 + 4999);
	is_int(e.fk.nfetch, 3, "retry-after on busy: no retry before 5 s");
	at(&e, 120000 + 3600000 + 5000);
	is_int(e.fk.nfetch, 4, "retry-after on busy: retried at 5 s");
	complete(&e.fk, &c, PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(qc.called && qc.status == 0, "retry-after on busy: answered");
	logs = capture_end();
	ok(count_str(logs, "asks to wait 120s") == 1 && count_str(logs, "asks to wait 3600s") == 1,
	   "retry-after: logged with the delay honoured");
	free(logs);
	env_close(&e, "retry-after");
}

/* Issue 11: an unusable report is that address's problem: unknown, never clean, not
 * stored, and no backoff for the others. */
static void test_unusable(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qb;
	struct ipaddr a = ip4(0x12200001), b = ip4(0x12200002);
	struct verdict v;
	int fake_store;

	memset(&st_seen, 0, sizeof(st_seen));
	env_init(&e, &cfg, 1, (struct store *)&fake_store);
	wait_ip(&e, &a, &qa);
	complete(&e.fk, &a, PROVIDER_UNUSABLE, 0, NULL, 0);
	spin();
	ok(qa.called && qa.status == 0, "unusable: waiter answered with 0");
	ok(cache_get(e.cache, &a, &v) == 0 && v.flags == VERDICT_F_UNKNOWN && v.mask == 0,
	   "unusable: remembered as unknown, not clean");
	is_int(st_seen.puts, 0, "unusable: not stored");
	is_int(stats(&e).paused, 0, "unusable: no backoff");
	is_int(stats(&e).backoff_ms, 0, "unusable: the service is reachable");
	is_int(wait_ip(&e, &b, &qb), 0, "unusable: the next address is looked up at once");
	is_int(e.fk.nfetch, 2, "unusable: with a call");
	complete(&e.fk, &b, PROVIDER_OK, 0, NULL, 0);
	spin();
	env_close(&e, "unusable");
}

static void test_backoff_cap(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q;
	struct ipaddr a;
	uint64_t t = 0;
	unsigned i;

	env_init(&e, &cfg, 1, NULL);
	for (i = 0; i < 12; i++) {
		a = ip4(0x13000000 + i);
		if (wait_ip(&e, &a, &q) != 0)
			break;
		complete(&e.fk, &a, PROVIDER_TROUBLE, 0, NULL, 0);
		spin();
		t += stats(&e).backoff_ms;
		at(&e, t);
	}
	is_int(i, 12, "backoff: a new IP is accepted after each wait");
	is_int(stats(&e).backoff_ms, 300000, "backoff: capped at 5 minutes");
	env_close(&e, "backoff cap");
}

static void test_queue_full(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q[5];
	struct ipaddr ip[5];
	unsigned i;

	cfg.queue_max = 2;
	env_init(&e, &cfg, 1, NULL);
	for (i = 0; i < 5; i++)
		ip[i] = ip4(0x14000000 + i);
	for (i = 0; i < 3; i++)
		wait_ip(&e, &ip[i], &q[i]);
	is_int(stats(&e).queued, 2, "queue: two queued");
	is_int(wait_ip(&e, &ip[3], &q[3]), -EBUSY, "queue full: -EBUSY");
	is_int(stats(&e).rejected, 1, "queue full: rejection counted");
	is_int(wait_ip(&e, &ip[2], &q[4]), 0, "queue full: joining a queued lookup works");
	refresh_ip(&e, &ip[4]);
	is_int(stats(&e).queued, 2, "queue full: refresh adds nothing");
	env_close(&e, "queue full");
}

/* Lookups that queries wait for are called before those nobody waits for; a lookup
 * changes side when its first waiter comes or its last one times out; a full queue
 * drops the newest unwaited lookup for a waited one, never the other way round. */
static void test_priority(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa, qc, qd, qe, qg, qd2;
	struct ipaddr a = ip4(0x17000001), b = ip4(0x17000002), c = ip4(0x17000003),
		      d = ip4(0x17000004), ea = ip4(0x17000005), f = ip4(0x17000006),
		      g = ip4(0x17000007);

	cfg.queue_max = 3;
	cfg.deadline_ms = 1000;
	env_init(&e, &cfg, 1, NULL);
	wait_ip(&e, &a, &qa);
	refresh_ip(&e, &b);
	wait_ip(&e, &c, &qc);
	is_int(e.fk.nfetch, 1, "priority: one call at a time");
	complete(&e.fk, &a, PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(e.fk.nfetch == 2 && same_ip(&e.fk.log[1], &c),
	   "priority: the waited-for lookup goes before the earlier refresh");

	wait_ip(&e, &d, &qd);
	at(&e, 1500);
	ok(qd.called && qd.status == -ETIMEDOUT, "priority: d's query answered at the deadline");
	wait_ip(&e, &ea, &qe);
	is_int(stats(&e).queued, 3, "priority: b, d (nobody waits any more) and e queued");
	refresh_ip(&e, &f);
	ok(stats(&e).queued == 3 && stats(&e).dropped == 0,
	   "priority: a refresh finds the queue full and adds nothing");
	is_int(wait_ip(&e, &g, &qg), 0, "priority: a query's lookup gets into the full queue");
	ok(stats(&e).queued == 3 && stats(&e).dropped == 1,
	   "priority: by dropping one nobody waits for");

	complete(&e.fk, &c, PROVIDER_OK, 0, NULL, 0);
	spin();
	complete(&e.fk, &ea, PROVIDER_OK, 0, NULL, 0);
	spin();
	complete(&e.fk, &g, PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(e.fk.nfetch == 5 && same_ip(&e.fk.log[2], &ea) && same_ip(&e.fk.log[3], &g) &&
	   same_ip(&e.fk.log[4], &b),
	   "priority: e and g (waited for, in arrival order), then b; d was the one dropped");
	ok(qe.called && qe.status == 0 && qg.called && qg.status == 0,
	   "priority: e's and g's queries answered with the verdict");
	complete(&e.fk, &b, PROVIDER_OK, 0, NULL, 0);
	spin();
	is_int(wait_ip(&e, &d, &qd2), 0, "priority: the dropped IP is asked again when queried");
	ok(e.fk.nfetch == 6 && same_ip(&e.fk.log[5], &d), "priority: with a call of its own");
	complete(&e.fk, &d, PROVIDER_OK, 0, NULL, 0);
	spin();
	env_close(&e, "priority");
}

static void test_cancel(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q1, q2, q3;
	struct ipaddr a = ip4(0x15000001), b = ip4(0x15000002);

	cfg.deadline_ms = 1000;
	env_init(&e, &cfg, 1, NULL);
	wait_ip(&e, &a, &q1);
	wait_ip(&e, &a, &q2);
	wait_ip(&e, &b, &q3);
	intel_cancel(e.in, &q1.w);
	intel_cancel(e.in, &q3.w);
	complete(&e.fk, &a, PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(!q1.called, "cancel: a cancelled waiter is not called");
	ok(q2.called && q2.status == 0, "cancel: the other waiter is");
	intel_cancel(e.in, &q2.w);
	ok(1, "cancel: cancelling after the callback is harmless");
	at(&e, 5000);
	ok(!q3.called, "cancel: no timeout for a cancelled waiter");
	is_int(stats(&e).timeouts, 0, "cancel: no timeout counted");
	is_int(e.fk.nfetch, 2, "cancel: the lookup goes on without waiters");
	env_close(&e, "cancel");
}

static void test_refresh(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q;
	struct ipaddr a = ip4(0x16000001);
	struct verdict v;

	env_init(&e, &cfg, 1, NULL);
	refresh_ip(&e, &a);
	is_int(e.fk.nfetch, 1, "refresh: starts a call");
	refresh_ip(&e, &a);
	is_int(e.fk.nfetch, 1, "refresh: not twice for one IP");
	is_int(wait_ip(&e, &a, &q), 0, "refresh: a query joins it");
	is_int(stats(&e).coalesced, 1, "refresh: counted as joined");
	complete(&e.fk, &a, PROVIDER_OK, VERDICT_BIT(VERDICT_SCANNER), NULL, 0);
	spin();
	ok(cache_get(e.cache, &a, &v) == 0 && v.mask == VERDICT_BIT(VERDICT_SCANNER),
	   "refresh: the result is cached");
	ok(q.called && q.status == 0, "refresh: the joined waiter answered");
	env_close(&e, "refresh");
}

static void test_fetch_fails(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q;
	struct ipaddr a = ip4(0x17000001);

	cfg.deadline_ms = 5000;
	env_init(&e, &cfg, 1, NULL);
	e.fk.fail_next = -ENOMEM;
	is_int(wait_ip(&e, &a, &q), 0, "fetch fails: the query is parked anyway");
	is_int(stats(&e).paused, PROVIDER_TROUBLE, "fetch fails: backing off");
	is_int(stats(&e).queued, 1, "fetch fails: the lookup waits in the queue");
	at(&e, 1000);
	is_int(e.fk.nfetch, 1, "fetch fails: retried after the backoff");
	complete(&e.fk, &a, PROVIDER_OK, 0, NULL, 0);
	spin();
	ok(q.called && q.status == 0, "fetch fails: answered after the retry");
	env_close(&e, "fetch fails");
}

static void test_reconfigure(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct fake fk2;
	struct qw q1, q2;
	struct ipaddr a = ip4(0x18000001), b = ip4(0x18000002);
	int i;

	cfg.deadline_ms = 1000;
	env_init(&e, &cfg, 1, NULL);
	wait_ip(&e, &a, &q1);
	e.fk.close_sync = 1;
	intel_reconfigure(e.in, &cfg, fake_backend(&fk2, &loop));
	for (i = 0; i < 10 && !e.fk.closed; i++)
		spin();
	ok(e.fk.closed && e.fk.live == 0, "reconfigure: the old backend is closed");
	ok(!q1.called, "reconfigure: the waiter still waits");
	is_int(fk2.nfetch, 1, "reconfigure: the call is made again on the new backend");
	complete(&fk2, &a, PROVIDER_OK, VERDICT_BIT(VERDICT_VPN), NULL, 0);
	spin();
	ok(q1.called && q1.status == 0, "reconfigure: answered by the new backend");

	at(&e, 100);
	wait_ip(&e, &b, &q2);
	cfg.deadline_ms = 500;
	intel_reconfigure(e.in, &cfg, (struct provider_backend){ 0 });
	at(&e, 599);
	ok(!q2.called, "reconfigure: shorter deadline, not yet");
	at(&e, 600);
	ok(q2.called && q2.status == -ETIMEDOUT, "reconfigure: shorter deadline applies");

	/* env_close checks e.fk; the live backend is fk2 now */
	intel_close(e.in, on_done, &e.done);
	for (i = 0; i < 20 && !e.done; i++)
		spin();
	ok(e.done == 1 && fk2.closed && fk2.live == 0, "reconfigure: closed cleanly");
	cache_free(e.cache);
}

/* intel names no provider of its own: a backend without a name or store source is
 * refused, and a replacement brings its own. */
static void test_backend_names(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct fake fk2, fk3;
	struct provider_backend be;
	struct intel *in = NULL;
	struct cache *cache = cache_new();
	struct qw q;
	struct ipaddr a = ip4(0x1a000001), b = ip4(0x1a000002);
	char *logs;
	int fake_store, i;

	be = fake_backend(&fk2, &loop);
	be.name = NULL;
	is_int(intel_new(&loop, &cfg, be, cache, NULL, &in), -EINVAL,
	       "names: a backend without a name is refused");
	be = fake_backend(&fk2, &loop);
	be.source = NULL;
	is_int(intel_new(&loop, &cfg, be, cache, NULL, &in), -EINVAL,
	       "names: a backend without a store source is refused");
	ok(in == NULL && !fk2.closing, "names: nothing taken on refusal");
	cache_free(cache);

	memset(&st_seen, 0, sizeof(st_seen));
	env_init(&e, &cfg, 1, (struct store *)&fake_store);
	capture_start();
	be = fake_backend(&fk3, &loop);
	be.name = NULL;
	intel_reconfigure(e.in, &cfg, be);
	ok(fk3.closed, "names: a nameless replacement is closed at once");
	be = fake_backend(&fk2, &loop);
	be.name = "Other Intel";
	be.source = "otherintel";
	intel_reconfigure(e.in, &cfg, be);
	for (i = 0; i < 10 && !e.fk.closed; i++)
		spin();
	wait_ip(&e, &a, &q);
	is_int(fk2.nfetch, 1, "names: the replacement is asked");
	complete(&fk2, &a, PROVIDER_OK, VERDICT_BIT(VERDICT_VPN), NULL, 0);
	spin();
	is_str(st_seen.source, "otherintel", "names: the store gets the replacement's source");
	wait_ip(&e, &b, &q);
	complete(&fk2, &b, PROVIDER_TROUBLE, 0, NULL, 0);
	spin();
	logs = capture_end();
	is_int(count_str(logs, "Other Intel unreachable"), 1,
	       "names: logs use the replacement's name");
	is_int(count_str(logs, FAKE_NAME " unreachable"), 0, "names: not the old one's");
	free(logs);
	intel_close(e.in, on_done, &e.done);
	for (i = 0; i < 20 && !e.done; i++)
		spin();
	ok(e.done == 1 && fk2.closed && fk2.live == 0, "names: closed cleanly");
	cache_free(e.cache);
}

static void test_close(int sync)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw qa1, qa2, qb, qc;
	struct ipaddr a = ip4(0x19000001), b = ip4(0x19000002), c = ip4(0x19000003);
	int i;

	cfg.concurrency = 2;
	env_init(&e, &cfg, 1, NULL);
	e.fk.close_sync = sync;
	wait_ip(&e, &a, &qa1);
	wait_ip(&e, &a, &qa2);
	wait_ip(&e, &b, &qb);
	wait_ip(&e, &c, &qc);
	/* b's result is on its way when intel closes */
	complete(&e.fk, &b, PROVIDER_OK, 0, NULL, 50);
	intel_close(e.in, on_done, &e.done);
	ok(qa1.status == -ECANCELED && qa2.status == -ECANCELED && qb.status == -ECANCELED &&
	   qc.status == -ECANCELED, "close (%s): every waiter gets -ECANCELED",
	   sync ? "sync cancel" : "async cancel");
	ok(qa1.called == 1 && qb.called == 1 && qc.called == 1, "close: each called once");
	is_int(e.done, 0, "close: done comes later, from the loop");
	for (i = 0; i < 20 && !e.done; i++)
		spin();
	is_int(e.done, 1, "close: done called once");
	ok(e.fk.closed && e.fk.live == 0, "close: backend closed, its calls released");
	is_int(cache_count(e.cache), 0, "close: canceled calls leave nothing in the cache");
	cache_free(e.cache);
}

/* A fleet (doc/fleet.md): a claim before every call, holding its slot; "theirs" waits
 * for the other node's verdict, "mine" calls, "budget" ends the lookup and pauses. */
static void fleet_cb_unused(void *arg, const struct ipaddr *ip, int outcome, uint32_t calls)
{
	(void)arg;
	(void)ip;
	(void)outcome;
	(void)calls;
}

static void test_fleet(void)
{
	struct config cfg = mkcfg();
	struct env e;
	struct qw q1, q2, q3;
	struct ipaddr a = ip4(0x0e000001), b = ip4(0x0e000002), c = ip4(0x0e000003);
	struct verdict v = { .mask = VERDICT_BIT(VERDICT_VPN), .checked = NOON };
	struct store *fake_store = (struct store *)&st_claims; /* only the seams see it */

	cfg.daily_budget = 10;
	memset(&st_claims, 0, sizeof(st_claims));
	memset(&st_budget, 0, sizeof(st_budget));
	st_claims.fleet = 1;
	env_init(&e, &cfg, 1, fake_store);
	intel_set_fleet(e.in, fleet_cb_unused, NULL);
	is_int(wait_ip(&e, &a, &q1), 0, "fleet: parked");
	is_int(st_claims.asked, 1, "fleet: a claim before any call");
	ok(ipaddr_cmp(&st_claims.last, &a) == 0, "fleet: the claim is for the IP asked");
	is_int(e.fk.nfetch, 0, "fleet: no call before the claim's outcome");
	is_int(stats(&e).inflight, 1, "fleet: the claim holds a slot");
	is_int(st_claims.args.budget, 10, "fleet: the claim carries the daily budget");
	is_int(st_claims.args.lease_ms, cfg.timeout_ms + 3000, "fleet: lease = timeout + 3 s");
	is_int(st_claims.args.fresh_after, NOON - cfg.fresh_s, "fleet: fresh = checked since");
	intel_fleet_claimed(e.in, &a, STORE_CLAIM_THEIRS, 0);
	spin();
	is_int(e.fk.nfetch, 0, "fleet: another node's claim -> no call");
	is_int(stats(&e).inflight, 0, "fleet: its slot is free again");
	is_int(q1.called, 0, "fleet: the query waits for the other node");
	intel_fleet_claimed(e.in, &a, STORE_CLAIM_MINE, 1);
	is_int(e.fk.nfetch, 0, "fleet: an outcome for a claim not asked is ignored");
	cache_put(e.cache, &a, &v);
	intel_fleet_arrived(e.in, &a);
	spin();
	ok(q1.called == 1 && q1.status == 0, "fleet: the other node's verdict answers it");

	is_int(wait_ip(&e, &b, &q2), 0, "fleet: b parked");
	intel_fleet_claimed(e.in, &b, STORE_CLAIM_MINE, 5);
	is_int(e.fk.nfetch, 1, "fleet: our claim -> one call");
	is_int(stats(&e).calls_today, 5, "fleet: the fleet's count of the day");
	ok(st_budget.sets == 1 && st_budget.claimed == 1,
	   "fleet: the call is told to the store as counted by the claim");
	is_str(st_claims.args.provider, FAKE_SOURCE, "fleet: the claim names the provider");
	complete(&e.fk, &b, PROVIDER_UNUSABLE, 0, NULL, 0);
	spin();
	is_int(st_claims.released, 1, "fleet: a call with no verdict gives the claim up");

	is_int(wait_ip(&e, &c, &q3), 0, "fleet: c parked");
	intel_fleet_claimed(e.in, &c, STORE_CLAIM_BUDGET, 10);
	spin();
	is_int(e.fk.nfetch, 1, "fleet: no call past the fleet's budget");
	ok(q3.called == 1 && q3.status == 0, "fleet: the query is answered at once");
	is_int(stats(&e).paused, PROVIDER_LIMIT, "fleet: calls pause for the day");
	st_claims.fleet = 0;
	env_close(&e, "fleet");
}

int main(void)
{
	/* debug: every lookup line is formatted too (and checked by ASan) */
	log_open(1, LOG_LVL_DEBUG);
	uv_loop_init(&loop);
	test_coalescing();
	test_deadline_real();
	test_deadline_fifo();
	test_concurrency();
	test_rate();
	test_budget();
	test_budget_stored();
	test_cache_raced();
	test_skip();
	test_clients();
	test_bad_key();
	test_limit();
	test_busy();
	test_invalid_ip_and_store();
	test_trouble();
	test_retry_after();
	test_unusable();
	test_backoff_cap();
	test_queue_full();
	test_priority();
	test_cancel();
	test_refresh();
	test_fetch_fails();
	test_reconfigure();
	test_backend_names();
	test_fleet();
	test_close(1);
	test_close(0);
	is_int(cb_inside_wait, 0, "no waiter callback ever ran inside intel_wait/refresh");
	spin();
	is_int(uv_loop_close(&loop), 0, "every handle closed");
	return done_testing();
}
