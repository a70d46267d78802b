/* stats.c - every number the server shows about itself (see stats.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "intel.h"
#include "server.h"
#include "stats.h"
#include "status.h"
#include "tcp.h"
#include "worker.h"

#define STATS_REFRESH_MS 1000

/* What the main loop copies for other threads (stats_refresh). */
struct stats_snap {
	size_t verdicts, zones;
	int lookups;                  /* a provider is configured */
	int lookups_on;               /* the lookup thread's snapshot had lookups on */
	struct intel_stats in;        /* zeros when not lookups_on */
	uint32_t daily_budget;        /* 0: none */
	int store;                    /* a database is open */
	struct store_stats store_st;
	unsigned tcp_connections;
	uint64_t reloads_ok, reloads_failed;
	int64_t start_time;
};

struct stats {
	struct server *srv;           /* main loop thread only */
	uv_timer_t timer;
	const struct counters **loops; /* [0] the main loop's, then the workers' */
	size_t nloops;
	uv_mutex_t mu;
	struct stats_snap snap;       /* guarded by mu */
};

/* RCODEs always shown (with 0), so that their series exist before the first one. */
#define RCODES_ALWAYS ((1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | \
		       (1u << 5) | (1u << 9))
static const char *const transport_names[CTR_NTRANSPORT] = { "udp", "tcp" };
static const char *const outcome_names[INTEL_NOUTCOME] = {
	"ok", "bad_key", "limit", "busy", "invalid_ip", "trouble", "canceled", "unusable",
};
static const char *const pause_words[] = { "bad_key", "budget", "limit", "trouble",
					   "off" };

/* The families, in the order they are shown. */
enum fam_id {
	F_BUILD, F_START, F_QUERIES, F_LOOP_QUERIES, F_ANSWERS, F_LISTED, F_CACHE,
	F_VERDICTS, F_ZONES, F_LOOKUPS, F_COALESCED, F_TIMEOUTS, F_REJECTED, F_QUEUE,
	F_SECONDS, F_CALLS_TODAY, F_BUDGET_LEFT, F_PROV_CALLS, F_PROV_BUDGET_LEFT, F_UP,
	F_PAUSED, F_STORE_WRITES,
	F_STORE_ERRORS, F_STORE_QUEUE, F_STORE_DROPPED, F_TCP, F_RELOADS, F_N
};

static const struct stats_family families[F_N] = {
	[F_BUILD] = { "threatbl_build_info", STATS_GAUGE,
		      "Always 1; the version of threatbld in its label." },
	[F_START] = { "threatbl_start_time_seconds", STATS_GAUGE,
		      "Unix time at which threatbld started." },
	[F_QUERIES] = { "threatbl_queries_total", STATS_COUNTER,
			"Answers sent, by transport and RCODE." },
	[F_LOOP_QUERIES] = { "threatbl_loop_queries_total", STATS_COUNTER,
			     "Answers sent by each answering loop (1: the main loop)." },
	[F_ANSWERS] = { "threatbl_answers_total", STATS_COUNTER,
			"Answers sent, by what they said." },
	[F_LISTED] = { "threatbl_listed_total", STATS_COUNTER,
		       "Listed answers from verdicts, once per category they carried." },
	[F_CACHE] = { "threatbl_cache_lookups_total", STATS_COUNTER,
		      "Queries that reached the verdict cache, by what it held." },
	[F_VERDICTS] = { "threatbl_verdicts", STATS_GAUGE, "Verdicts held in memory." },
	[F_ZONES] = { "threatbl_zones", STATS_GAUGE, "Zones served." },
	[F_LOOKUPS] = { "threatbl_lookups_total", STATS_COUNTER,
			"Calls to the intelligence service ended, by outcome." },
	[F_COALESCED] = { "threatbl_lookups_coalesced_total", STATS_COUNTER,
			  "Queries that joined a lookup already in flight." },
	[F_TIMEOUTS] = { "threatbl_lookup_timeouts_total", STATS_COUNTER,
			 "Queries answered at the deadline, before their lookup ended." },
	[F_REJECTED] = { "threatbl_lookups_rejected_total", STATS_COUNTER,
			 "Lookups refused: queue full, client over its rate, paused." },
	[F_QUEUE] = { "threatbl_lookup_queue", STATS_GAUGE,
		      "Lookups waiting for a call, and calls in flight." },
	[F_SECONDS] = { "threatbl_lookup_seconds", STATS_HISTOGRAM,
			"Duration of the calls to the intelligence service." },
	[F_CALLS_TODAY] = { "threatbl_api_calls_today", STATS_GAUGE,
			    "Calls started this UTC day." },
	[F_BUDGET_LEFT] = { "threatbl_api_budget_remaining", STATS_GAUGE,
			    "Calls left of daily-budget today (absent without a budget)." },
	[F_PROV_CALLS] = { "threatbl_provider_calls_today", STATS_GAUGE,
			   "Calls started this UTC day, by provider (the fleet's in a fleet)." },
	[F_PROV_BUDGET_LEFT] = { "threatbl_provider_budget_remaining", STATS_GAUGE,
				 "Calls left of the provider's daily-budget today (absent "
				 "without a budget)." },
	[F_UP] = { "threatbl_provider_up", STATS_GAUGE,
		   "1 when lookups are on and not paused, else 0." },
	[F_PAUSED] = { "threatbl_provider_paused", STATS_GAUGE,
		       "1 for the reason lookups are paused or off, 0 for the others." },
	[F_STORE_WRITES] = { "threatbl_store_writes_total", STATS_COUNTER,
			     "Verdicts written to the database." },
	[F_STORE_ERRORS] = { "threatbl_store_errors_total", STATS_COUNTER,
			     "Database commits that failed." },
	[F_STORE_QUEUE] = { "threatbl_store_queue", STATS_GAUGE,
			    "Verdicts waiting to be written." },
	[F_STORE_DROPPED] = { "threatbl_store_dropped_total", STATS_COUNTER,
			      "Verdicts not written: the writer's queue was full." },
	[F_TCP] = { "threatbl_tcp_connections", STATS_GAUGE, "TCP connections open." },
	[F_RELOADS] = { "threatbl_reloads_total", STATS_COUNTER,
			"Reloads (SIGHUP, threatbl reload, a changed list), by result." },
};

void stats_refresh(struct stats *st)
{
	struct server *srv = st->srv;
	struct stats_snap s = { 0 };
	struct shared_view copy;

	shared_read_begin(&srv->shared, &copy);
	s.verdicts = srv->cache ? cache_count(srv->cache) : 0;
	shared_read_end(&srv->shared);
	s.zones = srv->zones ? srv->zones->n : 0;
	s.lookups = srv->lookups;
	if (srv->lookup && lookup_get_stats(srv->lookup, &s.in) == 0)
		s.lookups_on = 1;
	else
		memset(&s.in, 0, sizeof(s.in));
	s.daily_budget = srv->cfg ? srv->cfg->daily_budget : 0;
	if (srv->store) {
		s.store = 1;
		store_get_stats(srv->store, &s.store_st);
	}
	for (size_t i = 0; i < srv->ntcp; i++)
		s.tcp_connections += tcp_connections(srv->tcp[i]);
	s.reloads_ok = srv->reloads_ok;
	s.reloads_failed = srv->reloads_failed;
	s.start_time = srv->start_time;
	uv_mutex_lock(&st->mu);
	st->snap = s;
	uv_mutex_unlock(&st->mu);
}

static void on_timer(uv_timer_t *t)
{
	stats_refresh(t->data);
}

int stats_new(struct server *srv, struct stats **out)
{
	struct stats *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (!st)
		return -ENOMEM;
	st->loops = calloc(srv->nworkers + 1, sizeof(*st->loops));
	if (!st->loops || uv_mutex_init(&st->mu)) {
		free(st->loops);
		free(st);
		return -ENOMEM;
	}
	st->srv = srv;
	st->loops[st->nloops++] = &srv->host.ctr;
	for (size_t i = 0; i < srv->nworkers; i++)
		st->loops[st->nloops++] = worker_counters(srv->workers[i]);
	uv_timer_init(&srv->loop, &st->timer);
	st->timer.data = st;
	/* Never what keeps the loop running. */
	uv_unref((uv_handle_t *)&st->timer);
	stats_refresh(st);
	*out = st;
	return 0;
}

void stats_start(struct stats *st)
{
	uv_timer_start(&st->timer, on_timer, STATS_REFRESH_MS, STATS_REFRESH_MS);
}

static void on_closed(uv_handle_t *h)
{
	struct stats *st = h->data;

	uv_mutex_destroy(&st->mu);
	free(st->loops);
	free(st);
}

void stats_close(struct stats *st)
{
	if (!st)
		return;
	uv_close((uv_handle_t *)&st->timer, on_closed);
}

/* --- the walk ------------------------------------------------------------------- */

static void fam(const struct stats_visitor *v, enum fam_id id)
{
	v->family(v->arg, &families[id]);
}

static void sample(const struct stats_visitor *v, enum fam_id id, const char *suffix,
		   const struct stats_label *labels, size_t nlabels, uint64_t u)
{
	struct stats_sample s = {
		.fam = &families[id], .suffix = suffix, .labels = labels,
		.nlabels = nlabels, .u = u,
	};

	v->sample(v->arg, &s);
}

static void sample_d(const struct stats_visitor *v, enum fam_id id, const char *suffix,
		     const struct stats_label *labels, size_t nlabels, double d)
{
	struct stats_sample s = {
		.fam = &families[id], .suffix = suffix, .labels = labels,
		.nlabels = nlabels, .is_float = 1, .d = d,
	};

	v->sample(v->arg, &s);
}

/* One sample with one label. */
static void sample1(const struct stats_visitor *v, enum fam_id id, const char *label,
		    const char *value, uint64_t u)
{
	struct stats_label l = { label, value };

	sample(v, id, "", &l, 1, u);
}

/* Every counter summed over the loops. struct counters is made of uint64_t arrays
 * only, so it is walked as one array. */
_Static_assert(sizeof(struct counters) % sizeof(uint64_t) == 0, "counters: uint64_t only");

static void loops_total(const struct stats *st, struct counters *tot)
{
	uint64_t *t = (uint64_t *)tot;
	size_t n = sizeof(*tot) / sizeof(uint64_t);

	memset(tot, 0, sizeof(*tot));
	for (size_t i = 0; i < st->nloops; i++) {
		const uint64_t *c = (const uint64_t *)st->loops[i];

		for (size_t k = 0; k < n; k++)
			t[k] += counter_get(&c[k]);
	}
}

static void walk_answers(const struct stats *st, const struct stats_visitor *v)
{
	struct counters tot;

	loops_total(st, &tot);
	fam(v, F_QUERIES);
	for (int t = 0; t < CTR_NTRANSPORT; t++) {
		for (unsigned rc = 0; rc < 16; rc++) {
			uint64_t n = tot.queries[t][rc];
			struct stats_label l[2] = {
				{ "transport", transport_names[t] },
				{ "rcode", counters_rcode_name(rc) },
			};

			if (n || (RCODES_ALWAYS & (1u << rc)))
				sample(v, F_QUERIES, "", l, 2, n);
		}
	}
	fam(v, F_LOOP_QUERIES);
	for (size_t i = 0; i < st->nloops; i++) {
		char thread[24];
		uint64_t n = 0;

		for (int t = 0; t < CTR_NTRANSPORT; t++)
			for (unsigned rc = 0; rc < 16; rc++)
				n += counter_get(&st->loops[i]->queries[t][rc]);
		snprintf(thread, sizeof(thread), "%zu", i + 1);
		sample1(v, F_LOOP_QUERIES, "thread", thread, n);
	}
	fam(v, F_ANSWERS);
	for (int a = 0; a < CTR_NANSWER; a++)
		sample1(v, F_ANSWERS, "kind", counters_answer_name(a), tot.answers[a]);
	fam(v, F_LISTED);
	for (int c = 0; c < VERDICT_NCAT; c++)
		sample1(v, F_LISTED, "category", verdict_cat_name((enum verdict_cat)c),
			tot.listed[c]);
	fam(v, F_CACHE);
	for (int c = 0; c < CTR_NCACHE; c++)
		sample1(v, F_CACHE, "result", counters_cache_name(c), tot.cache[c]);
}

static void walk_lookups(const struct stats_snap *s, const struct stats_visitor *v)
{
	static const uint64_t bounds[INTEL_NCALL_BUCKETS] = INTEL_CALL_BUCKETS_MS;
	const char *paused = NULL;
	uint64_t count = 0;

	fam(v, F_LOOKUPS);
	for (int o = 0; o < INTEL_NOUTCOME; o++)
		sample1(v, F_LOOKUPS, "outcome", outcome_names[o], s->in.outcomes[o]);
	fam(v, F_COALESCED);
	sample(v, F_COALESCED, "", NULL, 0, s->in.coalesced);
	fam(v, F_TIMEOUTS);
	sample(v, F_TIMEOUTS, "", NULL, 0, s->in.timeouts);
	fam(v, F_REJECTED);
	sample(v, F_REJECTED, "", NULL, 0, s->in.rejected);
	fam(v, F_QUEUE);
	sample1(v, F_QUEUE, "kind", "queued", s->in.queued);
	sample1(v, F_QUEUE, "kind", "inflight", s->in.inflight);
	fam(v, F_SECONDS);
	for (int b = 0; b <= INTEL_NCALL_BUCKETS; b++) {
		char le[16];

		count += s->in.call_ms[b];
		if (b < INTEL_NCALL_BUCKETS)
			snprintf(le, sizeof(le), "%g", (double)bounds[b] / 1000.0);
		else
			snprintf(le, sizeof(le), "+Inf");
		{
			struct stats_label l = { "le", le };

			sample(v, F_SECONDS, "_bucket", &l, 1, count);
		}
	}
	sample_d(v, F_SECONDS, "_sum", NULL, 0, (double)s->in.call_ms_sum / 1000.0);
	sample(v, F_SECONDS, "_count", NULL, 0, count);
	fam(v, F_CALLS_TODAY);
	sample(v, F_CALLS_TODAY, "", NULL, 0, s->in.calls_today);
	fam(v, F_BUDGET_LEFT);
	if (s->daily_budget)
		sample(v, F_BUDGET_LEFT, "", NULL, 0, s->in.calls_today >= s->daily_budget ?
		       0 : s->daily_budget - s->in.calls_today);
	fam(v, F_PROV_CALLS);
	for (unsigned i = 0; i < s->in.nproviders && i < INTEL_PROVIDERS_MAX; i++)
		sample1(v, F_PROV_CALLS, "provider", s->in.prov[i].source,
			s->in.prov[i].calls_today);
	fam(v, F_PROV_BUDGET_LEFT);
	for (unsigned i = 0; i < s->in.nproviders && i < INTEL_PROVIDERS_MAX; i++) {
		const struct intel_provider_stats *ps = &s->in.prov[i];

		if (ps->daily_budget)
			sample1(v, F_PROV_BUDGET_LEFT, "provider", ps->source,
				ps->calls_today >= ps->daily_budget ? 0 :
				ps->daily_budget - ps->calls_today);
	}
	if (!s->lookups || !s->lookups_on)
		paused = "off";
	else
		paused = status_pause_word(s->in.paused, s->in.calls_today, s->daily_budget);
	fam(v, F_UP);
	sample(v, F_UP, "", NULL, 0, paused ? 0 : 1);
	fam(v, F_PAUSED);
	for (size_t i = 0; i < sizeof(pause_words) / sizeof(pause_words[0]); i++)
		sample1(v, F_PAUSED, "reason", pause_words[i],
			paused && strcmp(paused, pause_words[i]) == 0);
}

void stats_foreach(struct stats *st, const struct stats_visitor *v)
{
	struct stats_snap s;
	struct stats_label version = { "version", PACKAGE_VERSION };

	uv_mutex_lock(&st->mu);
	s = st->snap;
	uv_mutex_unlock(&st->mu);

	fam(v, F_BUILD);
	sample(v, F_BUILD, "", &version, 1, 1);
	fam(v, F_START);
	sample(v, F_START, "", NULL, 0, (uint64_t)s.start_time);
	walk_answers(st, v);
	fam(v, F_VERDICTS);
	sample(v, F_VERDICTS, "", NULL, 0, s.verdicts);
	fam(v, F_ZONES);
	sample(v, F_ZONES, "", NULL, 0, s.zones);
	walk_lookups(&s, v);
	fam(v, F_STORE_WRITES);
	sample(v, F_STORE_WRITES, "", NULL, 0, s.store_st.written);
	fam(v, F_STORE_ERRORS);
	sample(v, F_STORE_ERRORS, "", NULL, 0, s.store_st.failed);
	fam(v, F_STORE_QUEUE);
	sample(v, F_STORE_QUEUE, "", NULL, 0, s.store_st.queued);
	fam(v, F_STORE_DROPPED);
	sample(v, F_STORE_DROPPED, "", NULL, 0, s.store_st.dropped);
	fam(v, F_TCP);
	sample(v, F_TCP, "", NULL, 0, s.tcp_connections);
	fam(v, F_RELOADS);
	sample1(v, F_RELOADS, "result", "ok", s.reloads_ok);
	sample1(v, F_RELOADS, "result", "error", s.reloads_failed);
}

/* --- one line ------------------------------------------------------------------- */

struct out {
	char *p;
	size_t size, len;    /* len: what the whole line needs, as snprintf counts */
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len < o->size) {
		size_t room = o->size - o->len;

		memcpy(o->p + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void put_escaped(struct out *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(o, "\\\\", 2);
		else if (*s == '"')
			put(o, "\\\"", 2);
		else if (*s == '\n')
			put(o, "\\n", 2);
		else
			put(o, s, 1);
	}
}

int stats_format(const struct stats_sample *s, char *buf, size_t size)
{
	struct out o = { buf, size, 0 };
	char num[40];
	int n;

	put(&o, s->fam->name, strlen(s->fam->name));
	put(&o, s->suffix, strlen(s->suffix));
	if (s->nlabels) {
		put(&o, "{", 1);
		for (size_t i = 0; i < s->nlabels; i++) {
			if (i)
				put(&o, ",", 1);
			put(&o, s->labels[i].name, strlen(s->labels[i].name));
			put(&o, "=\"", 2);
			put_escaped(&o, s->labels[i].value);
			put(&o, "\"", 1);
		}
		put(&o, "}", 1);
	}
	if (s->is_float)
		n = snprintf(num, sizeof(num), " %.15g", s->d);
	else
		n = snprintf(num, sizeof(num), " %" PRIu64, s->u);
	put(&o, num, (size_t)n);
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}
