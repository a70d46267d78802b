/* lookup.c - the lookup thread (see lookup.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "feed.h"
#include "intel.h"
#include "log.h"
#include "lookup.h"
#include "provider.h"
#include "store.h"

/* What the store's threads hand the lookup loop in a fleet (doc/fleet.md): another
 * node's verdict, to put into the cache here (on the thread that writes verdicts, so
 * that fleet verdicts and lookups' verdicts are written in one order), or the outcome
 * of a claim. */
struct fleet_event {
	struct fleet_event *next;
	struct ipaddr ip;
	struct verdict v;
	int from;                    /* the verdict's providers (cache_put_from); -1: kept */
	int claim;                   /* 0: a verdict; 1: a claim's outcome */
	int purged;                  /* another node purged ip: drop it from memory */
	int outcome;
	uint32_t calls;
};

/* A reload's lookup settings, copied for the lookup thread. */
struct lookup_settings {
	struct config cfg;           /* the scalars; every pointer NULL but url */
	char *url;
	char *probe_from;
	/* the providers in priority order with their keys; n 0: lookups off */
	const struct provider_kind *kinds[INTEL_PROVIDERS_MAX];
	char *keys[INTEL_PROVIDERS_MAX];          /* never logged */
	const char *key_sources[INTEL_PROVIDERS_MAX]; /* where each came from, for the log */
	size_t n;
};

/* A reload's feeds, copied for the lookup thread (lookup_configure_feeds). */
struct lookup_feeds {
	struct config cfg;           /* feeds, nfeeds and skip_when only; deep copies */
	struct feed_slot **slots;    /* the slot of each feed (the table outlives us) */
	char *dir;
};

struct lookup_thread {
	uv_loop_t loop;
	uv_thread_t thread;
	uv_async_t wake;             /* lookup loop: posts, settings, stop */
	uv_timer_t snap_timer;       /* lookup loop: the counters' snapshot */
	uv_async_t done;             /* main loop: the thread has ended */
	struct cache *cache;
	struct store *store;
	void (*finished)(void *arg);
	void *finished_arg;
	int started;                 /* main loop only */
	/* lookup thread only */
	struct intel *intel;         /* NULL: lookups off */
	unsigned intels_closing;
	struct feed_table *feed_table; /* set before start (lookup_set_feeds) */
	struct shared *feed_shared;
	struct feeds *feeds;         /* NULL until the first feed settings */
	unsigned feeds_closing;
	uint8_t skip_when;           /* [intel] skip-when, for intel's check */
	int stopping;
	/* guarded by mu */
	uv_mutex_t mu;
	struct relay **relays;       /* max_relays, allocated once */
	size_t nrelays, max_relays;
	struct lookup_settings *pending;
	struct lookup_feeds *pending_feeds;
	struct feeds *feeds_pub;     /* = feeds while it may be read (lookup_get_feeds) */
	int stop;
	int stats;                   /* log the lookups' counters (SIGUSR1) */
	struct intel_stats snap;     /* the last snapshot, for other threads */
	int snap_on;                 /* lookups were on at that snapshot */
	int gone;                    /* the relays are disconnected */
	struct fleet_event *fhead, *ftail; /* oldest first */
};

static void settings_free(struct lookup_settings *s)
{
	if (!s)
		return;
	free(s->url);
	free(s->probe_from);
	acl_free(&s->cfg.lookup_from);
	for (size_t i = 0; i < s->n; i++)
		apikey_free(s->keys[i]);
	for (size_t i = 0; s->cfg.psect && i < s->cfg.npsect; i++)
		free(s->cfg.psect[i].url);
	free(s->cfg.psect);
	free(s);
}

static struct lookup_settings *settings_copy(const struct config *cfg,
					     const struct lookup_provider *p, size_t n)
{
	struct lookup_settings *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cfg = *cfg;
	/* intel and the backend read scalars and the copies made here (url, key, the
	 * probe's source, lookup-from): what the main loop frees on the next reload must
	 * not be reachable from here. */
	s->cfg.file = NULL;
	s->cfg.listen = NULL;
	s->cfg.nlisten = 0;
	s->cfg.database = NULL;
	s->cfg.database_password_file = NULL;
	s->cfg.user = NULL;
	s->cfg.control = NULL;
	s->cfg.identity = NULL;
	s->cfg.query_log = NULL;
	s->cfg.api_key_file = NULL;
	s->cfg.zones = NULL;
	s->cfg.nzones = 0;
	s->cfg.feeds = NULL;         /* the feeds have their own copy (lookup_feeds) */
	s->cfg.nfeeds = 0;
	memset(&s->cfg.allow_query, 0, sizeof(s->cfg.allow_query));
	s->cfg.metrics = NULL;
	memset(&s->cfg.metrics_allow, 0, sizeof(s->cfg.metrics_allow));
	s->cfg.http_listen = NULL;
	s->cfg.http_public_url = NULL;
	memset(&s->cfg.http_allow, 0, sizeof(s->cfg.http_allow));
	s->cfg.psect = NULL;
	s->cfg.npsect = 0;
	if (acl_copy(&s->cfg.lookup_from, &cfg->lookup_from) < 0) {
		free(s);
		return NULL;
	}
	/* the [provider NAME] sections: their urls copied, their key files not needed */
	if (cfg->npsect && !(s->cfg.psect = calloc(cfg->npsect, sizeof(*s->cfg.psect))))
		goto fail;
	for (size_t i = 0; i < cfg->npsect; i++) {
		s->cfg.psect[i] = cfg->psect[i];
		s->cfg.psect[i].key_file = NULL;
		s->cfg.psect[i].url = NULL;
		s->cfg.npsect = i + 1;
		if (cfg->psect[i].url && !(s->cfg.psect[i].url = strdup(cfg->psect[i].url)))
			goto fail;
	}
	for (size_t i = 0; i < n && i < INTEL_PROVIDERS_MAX; i++) {
		s->kinds[i] = p[i].kind;
		s->key_sources[i] = p[i].key_source ? p[i].key_source : "THREATBL_API_KEY";
		s->n = i + 1;
		if (p[i].key && !(s->keys[i] = strdup(p[i].key)))
			goto fail;
	}
	if ((cfg->url && !(s->url = strdup(cfg->url))) ||
	    (cfg->probe_from && !(s->probe_from = strdup(cfg->probe_from))))
		goto fail;
	s->cfg.url = s->url;
	s->cfg.probe_from = s->probe_from;
	return s;
fail:
	settings_free(s);
	return NULL;
}

static void feeds_settings_free(struct lookup_feeds *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cfg.nfeeds; i++) {
		free(s->cfg.feeds[i].name);
		free(s->cfg.feeds[i].url);
	}
	free(s->cfg.feeds);
	free(s->slots);
	free(s->dir);
	free(s);
}

static struct lookup_feeds *feeds_settings_copy(const struct config *cfg,
						struct feed_slot *const *slots,
						const char *dir)
{
	struct lookup_feeds *s = calloc(1, sizeof(*s));
	size_t n = cfg->nfeeds;

	if (!s)
		return NULL;
	s->cfg.skip_when = cfg->skip_when;
	s->cfg.feeds = calloc(n ? n : 1, sizeof(*s->cfg.feeds));
	s->slots = calloc(n ? n : 1, sizeof(*s->slots));
	if (!s->cfg.feeds || !s->slots || (dir && !(s->dir = strdup(dir))))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct config_feed *d = &s->cfg.feeds[i];

		*d = cfg->feeds[i];
		d->name = strdup(cfg->feeds[i].name);
		d->url = cfg->feeds[i].url ? strdup(cfg->feeds[i].url) : NULL;
		s->cfg.nfeeds++;
		if (!d->name || (cfg->feeds[i].url && !d->url))
			goto fail;
		s->slots[i] = slots[i];
	}
	return s;
fail:
	feeds_settings_free(s);
	return NULL;
}

/* --- the fleet: from the store's threads ----------------------------------------- */

static void fleet_post(struct lookup_thread *lk, struct fleet_event *e)
{
	uv_mutex_lock(&lk->mu);
	if (lk->gone) {
		uv_mutex_unlock(&lk->mu);
		free(e);
		return;
	}
	if (lk->ftail)
		lk->ftail->next = e;
	else
		lk->fhead = e;
	lk->ftail = e;
	uv_async_send(&lk->wake);
	uv_mutex_unlock(&lk->mu);
}

static void lookup_claimed(void *arg, const struct ipaddr *ip, int outcome, uint32_t calls)
{
	struct fleet_event *e = calloc(1, sizeof(*e));

	if (!e)
		return; /* the lookup claims again after the lease */
	e->ip = *ip;
	e->claim = 1;
	e->outcome = outcome;
	e->calls = calls;
	fleet_post(arg, e);
}

int lookup_fleet_verdict(void *arg, const struct ipaddr *ip, const struct verdict *v,
			 const char *source)
{
	struct fleet_event *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->ip = *ip;
	if (v) {
		e->v = *v;
		e->from = source ? (int)provider_rows(source) : -1;
	} else {
		e->purged = 1;
	}
	fleet_post(arg, e);
	return 0;
}

/* --- the lookup thread ----------------------------------------------------------- */

static void closed_noop(void *arg)
{
	(void)arg;
}

static void lookup_maybe_end(struct lookup_thread *lk)
{
	size_t n;

	if (!lk->stopping || lk->intels_closing || lk->feeds_closing ||
	    uv_is_closing((uv_handle_t *)&lk->wake))
		return;
	uv_mutex_lock(&lk->mu);
	lk->gone = 1;
	n = lk->nrelays;
	uv_mutex_unlock(&lk->mu);
	for (size_t i = 0; i < n; i++)
		relay_disconnect(lk->relays[i]);
	uv_close((uv_handle_t *)&lk->snap_timer, NULL);
	uv_close((uv_handle_t *)&lk->wake, NULL);
}

/* Every second, the counters other threads may read (lookup_get_stats): intel is the
 * lookup thread's alone. */
static void lookup_snapshot(uv_timer_t *t)
{
	struct lookup_thread *lk = t->data;
	struct intel_stats st;
	int on = lk->intel != NULL;

	if (on)
		intel_get_stats(lk->intel, &st);
	uv_mutex_lock(&lk->mu);
	if (on)
		lk->snap = st;
	lk->snap_on = on;
	uv_mutex_unlock(&lk->mu);
}

static void intel_closed(void *arg)
{
	struct lookup_thread *lk = arg;

	lk->intels_closing--;
	lookup_maybe_end(lk);
}

static void feeds_closed(void *arg)
{
	struct lookup_thread *lk = arg;

	lk->feeds_closing--;
	lookup_maybe_end(lk);
}

/* intel's check before a call: an address in a feed of a skip-when category needs
 * none (the feeds are this thread's). */
static int lookup_skip(void *arg, const struct ipaddr *ip)
{
	struct lookup_thread *lk = arg;

	return feeds_listed(lk->feeds, ip, lk->skip_when);
}

static void lookup_feeds_apply(struct lookup_thread *lk, const struct lookup_feeds *s)
{
	if (!lk->feeds) {
		struct feeds *fs;
		int err = feeds_new(&lk->loop, lk->feed_table, lk->feed_shared, &fs);

		if (err) {
			log_err("cannot start the feeds: %s", strerror(-err));
			return;
		}
		uv_mutex_lock(&lk->mu);
		lk->feeds = lk->feeds_pub = fs;
		uv_mutex_unlock(&lk->mu);
	}
	lk->skip_when = s->cfg.skip_when;
	feeds_configure(lk->feeds, &s->cfg, s->slots, s->dir);
}

static void lookup_feeds_close(struct lookup_thread *lk)
{
	struct feeds *fs = lk->feeds;

	if (!fs)
		return;
	uv_mutex_lock(&lk->mu);
	lk->feeds_pub = NULL;
	uv_mutex_unlock(&lk->mu);
	lk->feeds = NULL;
	lk->feeds_closing++;
	feeds_close(fs, feeds_closed, lk);
}

static void lookup_intel_close(struct lookup_thread *lk)
{
	struct intel *in = lk->intel;

	lk->intel = NULL;
	lk->intels_closing++;
	/* Its waiters come back now: -ECANCELED, made -EAGAIN unless stopping. */
	intel_close(in, intel_closed, lk);
}

/* Start, replace or stop the lookups to match a reload. */
static void lookup_apply(struct lookup_thread *lk, const struct lookup_settings *s)
{
	struct provider_backend be[INTEL_PROVIDERS_MAX];
	struct config_prov cp;
	size_t i;
	int err = 0;

	if (!s->n) {
		if (lk->intel) {
			log_info("lookups switched off");
			lookup_intel_close(lk);
		}
		return;
	}
	/* all of them or none: a provider that cannot be set up keeps the previous set */
	for (i = 0; i < s->n; i++) {
		err = provider_open(s->kinds[i], &lk->loop, &s->cfg, s->keys[i], &be[i]);
		if (err) {
			log_err("cannot set up %s lookups: %s", s->kinds[i]->display,
				strerror(-err));
			break;
		}
	}
	if (err) {
		while (i--)
			be[i].close(be[i].impl, closed_noop, NULL);
		if (lk->intel)
			log_warn("lookups keep their previous settings");
		return;
	}
	if (lk->intel) {
		intel_reconfigure_many(lk->intel, &s->cfg, be, s->n);
		return;
	}
	err = intel_new_many(&lk->loop, &s->cfg, be, s->n, lk->cache, lk->store, &lk->intel);
	if (err) {
		for (i = 0; i < s->n; i++)
			be[i].close(be[i].impl, closed_noop, NULL);
		log_err("cannot start lookups: %s", strerror(-err));
		return;
	}
	intel_set_fleet(lk->intel, lookup_claimed, lk);
	intel_set_skip(lk->intel, lookup_skip, lk);
	for (i = 0; i < s->n; i++) {
		config_provider_get(&s->cfg, s->kinds[i], &cp);
		log_info("looking IPs up in %s at %s (API key from %s)", be[i].name, cp.url,
			 s->key_sources[i]);
	}
}

static void lookup_parked_cb(struct intel_waiter *iw, int status)
{
	struct relay_slot *s = container_of(iw, struct relay_slot, iw);
	struct lookup_thread *lk = relay_consumer(s->r);

	/* Lookups switched off or the provider changed: answer the query now (from the
	 * cache and the configuration in use) rather than drop it. */
	if (status == -ECANCELED && !lk->stopping)
		status = -EAGAIN;
	relay_answer(s, status);
}

static void lookup_post(void *arg, struct relay_slot *s)
{
	struct lookup_thread *lk = arg;
	int err;

	if (lk->stopping)
		err = -ECANCELED;
	else if (!lk->intel)
		err = -EAGAIN; /* lookups off: answer now */
	else
		err = intel_wait(lk->intel, &s->ip, s->has_client ? &s->client : NULL, &s->iw,
				 lookup_parked_cb);
	/* -EEXIST: a verdict made since the query looked; 0 sends it to the cache */
	if (err)
		relay_answer(s, err == -EEXIST ? 0 : err);
}

static void lookup_refresh(void *arg, const struct ipaddr *ip)
{
	struct lookup_thread *lk = arg;

	if (lk->intel && !lk->stopping)
		intel_refresh(lk->intel, ip);
}

/* The intel counters are the lookup loop's: logged here, asked by message. */
static void lookup_stats_log(struct lookup_thread *lk)
{
	struct intel_stats st;

	if (!lk->intel || lk->stopping) {
		log_info("stats: lookups off");
		return;
	}
	intel_get_stats(lk->intel, &st);
	log_info("stats: lookups: %llu calls, %llu joined one in flight, %llu answered at "
		 "the deadline, %llu refused, %llu dropped; %u in flight, %u queued; %u calls "
		 "today (UTC)%s", (unsigned long long)st.requests,
		 (unsigned long long)st.coalesced, (unsigned long long)st.timeouts,
		 (unsigned long long)st.rejected, (unsigned long long)st.dropped, st.inflight,
		 st.queued, (unsigned)st.calls_today, st.paused ? "; calls paused" : "");
	/* with several providers, each one's share and state */
	for (unsigned i = 0; st.nproviders > 1 && i < st.nproviders; i++) {
		const struct intel_provider_stats *p = &st.prov[i];

		log_info("stats: lookups: %s: %llu calls, %u today (UTC), %u in flight%s",
			 p->source, (unsigned long long)p->requests, (unsigned)p->calls_today,
			 p->inflight, p->paused == PROVIDER_BAD_KEY ? "; paused: key refused" :
			 p->paused == PROVIDER_LIMIT ? "; paused: credits or budget used up" :
			 p->paused == PROVIDER_TROUBLE ? "; backing off" : "");
	}
}

/* One line per feed, with SIGUSR1's counters. */
static void lookup_feeds_log(struct lookup_thread *lk)
{
	struct feed_state st[FEED_SLOTS];
	size_t n = lk->feeds ? feeds_get_states(lk->feeds, st, FEED_SLOTS) : 0;

	for (size_t i = 0; i < n && i < FEED_SLOTS; i++)
		log_info("stats: feed %s: %s%s%s, %zu entries served, %llu fetches (%llu new, "
			 "%llu not modified, %llu failed, %llu refused, %llu expired)",
			 st[i].name, feed_status_name(st[i].status), st[i].why[0] ? ": " : "",
			 st[i].why, st[i].entries, (unsigned long long)st[i].fetches,
			 (unsigned long long)st[i].changed, (unsigned long long)st[i].unchanged,
			 (unsigned long long)st[i].failures, (unsigned long long)st[i].refused,
			 (unsigned long long)st[i].expired);
}

/* The fleet's events, on the lookup loop. */
static void lookup_fleet_drain(struct lookup_thread *lk, struct fleet_event *e)
{
	struct fleet_event *next;
	int rc;

	for (; e; e = next) {
		next = e->next;
		if (e->claim) {
			if (lk->intel)
				intel_fleet_claimed(lk->intel, &e->ip, e->outcome, e->calls);
		} else if (e->purged) {
			cache_del(lk->cache, &e->ip);
		} else if ((rc = cache_put_from(lk->cache, &e->ip, &e->v, e->from)) < 0) {
			log_warn("a verdict of another node not cached: %s", strerror(-rc));
		} else if (lk->intel) {
			intel_fleet_arrived(lk->intel, &e->ip);
		}
		free(e);
	}
}

static void lookup_woken(uv_async_t *a)
{
	struct lookup_thread *lk = a->data;
	struct lookup_settings *s;
	struct lookup_feeds *fsets;
	struct fleet_event *fe;
	size_t n;
	int stop, stats;

	uv_mutex_lock(&lk->mu);
	fe = lk->fhead;
	lk->fhead = lk->ftail = NULL;
	s = lk->pending;
	lk->pending = NULL;
	fsets = lk->pending_feeds;
	lk->pending_feeds = NULL;
	stop = lk->stop;
	stats = lk->stats;
	lk->stats = 0;
	n = lk->gone ? 0 : lk->nrelays;
	uv_mutex_unlock(&lk->mu);

	lookup_fleet_drain(lk, fe);
	if (stats) {
		lookup_stats_log(lk);
		lookup_feeds_log(lk);
	}
	if (s && !lk->stopping) {
		lookup_apply(lk, s);
		lookup_snapshot(&lk->snap_timer);
	}
	settings_free(s);
	if (fsets && !lk->stopping && lk->feed_table)
		lookup_feeds_apply(lk, fsets);
	feeds_settings_free(fsets);
	for (size_t i = 0; i < n; i++)
		relay_drain(lk->relays[i], lookup_post, lookup_refresh, lk);
	if (stop && !lk->stopping) {
		lk->stopping = 1;
		if (lk->intel)
			lookup_intel_close(lk);
		lookup_feeds_close(lk);
		lookup_maybe_end(lk);
	}
}

static void lookup_main(void *arg)
{
	struct lookup_thread *lk = arg;

	uv_timer_init(&lk->loop, &lk->snap_timer);
	lk->snap_timer.data = lk;
	uv_timer_start(&lk->snap_timer, lookup_snapshot, 0, 1000);
	uv_unref((uv_handle_t *)&lk->snap_timer);
	uv_run(&lk->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&lk->loop))
		log_warn("lookups: loop closed with handles still open");
	/* The main loop joins the thread before it closes `done`. */
	uv_async_send(&lk->done);
}

/* --- the main loop --------------------------------------------------------------- */

int lookup_new(struct cache *cache, struct store *store, size_t max_relays,
	       struct lookup_thread **out)
{
	struct lookup_thread *lk = calloc(1, sizeof(*lk));
	int err;

	if (!lk)
		return -ENOMEM;
	lk->relays = calloc(max_relays ? max_relays : 1, sizeof(*lk->relays));
	if (!lk->relays) {
		free(lk);
		return -ENOMEM;
	}
	lk->max_relays = max_relays;
	lk->cache = cache;
	lk->store = store;
	if ((err = uv_mutex_init(&lk->mu)))
		goto fail;
	if ((err = uv_loop_init(&lk->loop))) {
		uv_mutex_destroy(&lk->mu);
		goto fail;
	}
	uv_async_init(&lk->loop, &lk->wake, lookup_woken);
	lk->wake.data = lk;
	*out = lk;
	return 0;
fail:
	free(lk->relays);
	free(lk);
	return err;
}

static void relay_closed_free(void *arg)
{
	relay_free(arg);
}

int lookup_relay(struct lookup_thread *lk, uv_loop_t *loop, size_t nslots,
		 struct relay **out)
{
	struct relay *r;
	int err;

	if ((err = relay_new(loop, nslots, &r)))
		return err;
	uv_mutex_lock(&lk->mu);
	if (lk->gone || lk->nrelays == lk->max_relays) {
		err = lk->gone ? -ECANCELED : -ENOSPC;
	} else {
		relay_connect(r, &lk->wake, lk);
		lk->relays[lk->nrelays++] = r;
	}
	uv_mutex_unlock(&lk->mu);
	if (err) {
		relay_close(r, relay_closed_free, r);
		return err;
	}
	*out = r;
	return 0;
}

int lookup_configure_many(struct lookup_thread *lk, const struct config *cfg,
			  const struct lookup_provider *p, size_t n)
{
	struct lookup_settings *s = settings_copy(cfg, p, n), *old;

	if (!s)
		return -ENOMEM;
	uv_mutex_lock(&lk->mu);
	old = lk->pending;
	lk->pending = s;
	uv_mutex_unlock(&lk->mu);
	settings_free(old);
	uv_async_send(&lk->wake);
	return 0;
}

void lookup_set_feeds(struct lookup_thread *lk, struct feed_table *t, struct shared *sh)
{
	lk->feed_table = t;
	lk->feed_shared = sh;
}

int lookup_configure_feeds(struct lookup_thread *lk, const struct config *cfg,
			   struct feed_slot *const *slots, const char *dir)
{
	struct lookup_feeds *s = feeds_settings_copy(cfg, slots, dir), *old;

	if (!s)
		return -ENOMEM;
	uv_mutex_lock(&lk->mu);
	old = lk->pending_feeds;
	lk->pending_feeds = s;
	uv_mutex_unlock(&lk->mu);
	feeds_settings_free(old);
	uv_async_send(&lk->wake);
	return 0;
}

size_t lookup_get_feeds(struct lookup_thread *lk, struct feed_state *out, size_t max)
{
	size_t n = 0;

	uv_mutex_lock(&lk->mu);
	if (lk->feeds_pub)
		n = feeds_get_states(lk->feeds_pub, out, max);
	uv_mutex_unlock(&lk->mu);
	return n;
}

static void done_closed(uv_handle_t *h)
{
	struct lookup_thread *lk = h->data;

	if (lk->finished)
		lk->finished(lk->finished_arg);
}

static void lookup_done(uv_async_t *a)
{
	struct lookup_thread *lk = a->data;

	uv_thread_join(&lk->thread);
	uv_close((uv_handle_t *)&lk->done, done_closed);
}

int lookup_start(struct lookup_thread *lk, uv_loop_t *main_loop,
		 void (*finished)(void *arg), void *arg)
{
	int err;

	lk->finished = finished;
	lk->finished_arg = arg;
	if ((err = uv_async_init(main_loop, &lk->done, lookup_done)))
		return err;
	lk->done.data = lk;
	if ((err = uv_thread_create(&lk->thread, lookup_main, lk))) {
		log_err("cannot start the lookup thread: %s", uv_strerror(err));
		lk->finished = NULL;
		uv_close((uv_handle_t *)&lk->done, NULL);
		return err;
	}
	pthread_setname_np(lk->thread, "tbl-lookup");
	lk->started = 1;
	return 0;
}

int lookup_get_stats(struct lookup_thread *lk, struct intel_stats *st)
{
	int on;

	uv_mutex_lock(&lk->mu);
	on = lk->snap_on;
	if (on)
		*st = lk->snap;
	uv_mutex_unlock(&lk->mu);
	return on ? 0 : -ENOENT;
}

void lookup_log_stats(struct lookup_thread *lk)
{
	uv_mutex_lock(&lk->mu);
	lk->stats = 1;
	uv_mutex_unlock(&lk->mu);
	uv_async_send(&lk->wake);
}

void lookup_stop(struct lookup_thread *lk)
{
	uv_mutex_lock(&lk->mu);
	lk->stop = 1;
	uv_mutex_unlock(&lk->mu);
	uv_async_send(&lk->wake);
}

void lookup_free(struct lookup_thread *lk)
{
	if (!lk)
		return;
	if (!lk->started) {
		/* The loop never ran on a thread of its own: close it here. */
		uv_close((uv_handle_t *)&lk->wake, NULL);
		uv_run(&lk->loop, UV_RUN_DEFAULT);
		uv_loop_close(&lk->loop);
	}
	for (size_t i = 0; i < lk->nrelays; i++)
		relay_free(lk->relays[i]);
	settings_free(lk->pending);
	feeds_settings_free(lk->pending_feeds);
	while (lk->fhead) {
		struct fleet_event *e = lk->fhead;

		lk->fhead = e->next;
		free(e);
	}
	uv_mutex_destroy(&lk->mu);
	free(lk->relays);
	free(lk);
}
