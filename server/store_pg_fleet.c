/* store_pg_fleet.c - what makes several threatbld one fleet (see store_pg.h): the
 * listener thread (LISTEN threatbl, then the rows above the last change number seen;
 * LISTEN threatbl_overrides, then the store's overrides listener) and the claimer
 * thread (claims before a call, the fleet's budget, and a node's share of it while
 * PostgreSQL is away). Each has its own connection. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store_pg_int.h"

/* ---- the listener ---- */

static int pg_stopping(struct store_pg *pg)
{
	int stop;

	pthread_mutex_lock(&pg->mu);
	stop = pg->stop;
	pthread_mutex_unlock(&pg->mu);
	return stop;
}

/* Sleep ms, in steps, unless stopping. 1 when stopping. */
static int pg_nap(struct store_pg *pg, unsigned ms)
{
	while (ms) {
		unsigned step = ms > PG_POLL_MS ? PG_POLL_MS : ms;

		if (pg_stopping(pg))
			return 1;
		usleep(step * 1000u);
		ms -= step;
	}
	return pg_stopping(pg);
}

/* Read every row changed after last_change, verdicts and purges in the order of
 * their change numbers (a purge, then a new verdict of the same IP, ends with the
 * verdict); hand the other nodes' to the listener. 0 or -EIO. */
static int pg_catch_up(struct store_pg *pg, PGconn *c)
{
	char last[24], msg[256];
	const char *vals[2] = { last, pg->node };
	uint64_t purged = 0;
	int n;

	do {
		PGresult *r;
		uint64_t got = 0;
		int64_t change;
		struct ipaddr ip;
		struct verdict v;
		char src[STORE_SOURCE_MAX];

		pthread_mutex_lock(&pg->mu);
		snprintf(last, sizeof(last), "%lld", (long long)pg->last_change);
		pthread_mutex_unlock(&pg->mu);
		r = PQexecParams(c, "SELECT ip, mask, flags, checked, change, node = $2, source,"
				 " false FROM verdicts WHERE change > $1 UNION ALL SELECT ip, 0, 0,"
				 " 0::bigint, change, node = $2, '', true FROM purges WHERE change > $1"
				 " ORDER BY 5 LIMIT " PG_STR(PG_FETCH_ROWS), 2, NULL, vals, NULL,
				 NULL, 1);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			store_pg_msg(c, msg, sizeof(msg));
			log_warn("database %s: reading new verdicts: %s", pg->name, msg);
			PQclear(r);
			return -EIO;
		}
		n = PQntuples(r);
		for (int i = 0; i < n; i++) {
			if (!store_pg_row(r, i, &ip, &v, &change))
				continue;
			if (PQgetvalue(r, i, 5)[0] == 0 && pg->listener) {
				if (PQgetvalue(r, i, 7)[0]) {
					pg->listener(pg->listener_arg, &ip, NULL, NULL);
					purged++;
				} else {
					store_pg_text(r, i, 6, src, sizeof(src));
					pg->listener(pg->listener_arg, &ip, &v, src);
					got++;
				}
			}
			pthread_mutex_lock(&pg->mu);
			if (change > pg->last_change)
				pg->last_change = change;
			pthread_mutex_unlock(&pg->mu);
		}
		PQclear(r);
		pthread_mutex_lock(&pg->mu);
		pg->stats.received += got;
		pthread_mutex_unlock(&pg->mu);
	} while (n == PG_FETCH_ROWS);
	if (purged)
		log_info("database %s: %lu verdict(s) purged on other nodes, dropped from "
			 "memory", pg->name, (unsigned long)purged);
	return 0;
}

static void pg_set_connected(struct store_pg *pg, int up, int again)
{
	pthread_mutex_lock(&pg->mu);
	pg->stats.connected = up;
	if (up && again)
		pg->stats.reconnects++;
	pthread_mutex_unlock(&pg->mu);
}

/* This node is alive; how many are (listener's connection). */
static void pg_heartbeat(struct store_pg *pg, PGconn *c)
{
	const char *vals[1] = { pg->node };
	PGresult *r;

	r = PQexecParams(c, "INSERT INTO nodes (node, seen) VALUES ($1, now()) ON CONFLICT"
			 " (node) DO UPDATE SET seen = now()", 1, NULL, vals, NULL, NULL, 0);
	PQclear(r);
	r = PQexec(c, "DELETE FROM purges WHERE at < now() - interval '" PG_PURGES_KEEP "';"
		   " DELETE FROM nodes WHERE seen < now() - interval '1 day';"
		   " SELECT count(*) FROM nodes WHERE seen > now() - interval '"
		   PG_STR(PG_ALIVE_S) " seconds'");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		int n = atoi(PQgetvalue(r, 0, 0));

		pthread_mutex_lock(&pg->mu);
		pg->nodes = n > 0 ? (unsigned)n : 1;
		pthread_mutex_unlock(&pg->mu);
	}
	PQclear(r);
}

static void *pg_listen_thread(void *arg)
{
	struct store_pg *pg = arg;
	time_t beat = 0;
	unsigned backoff = 0;
	char err[512];
	PGconn *c = NULL;
	int first = 1;

	while (!pg_stopping(pg)) {
		struct pollfd pfd;
		PGnotify *nt;
		int any = 0, overrides = 0;

		if (!c) {
			if (backoff && pg_nap(pg, backoff))
				break;
			c = store_pg_connect(pg, err, sizeof(err));
			if (c && store_pg_exec(c, "LISTEN threatbl; LISTEN threatbl_overrides", err,
					       sizeof(err))) {
				PQfinish(c);
				c = NULL;
			}
			if (!c) {
				if (!backoff || backoff == PG_BACKOFF_MAX_MS)
					log_warn("%s; answering from memory, retrying", err);
				backoff = !backoff ? PG_BACKOFF_MIN_MS : backoff * 2 > PG_BACKOFF_MAX_MS
					  ? PG_BACKOFF_MAX_MS : backoff * 2;
				continue;
			}
			if (!first)
				log_info("database %s: listening again; reading the verdicts "
					 "stored meanwhile", pg->name);
			pg_set_connected(pg, 1, !first);
			/* the overrides may have changed while we were away, or (the first
			 * time) between the start's read of them and this LISTEN */
			overrides = 1;
			first = 0;
			backoff = 0;
			any = 1; /* what was stored while we were away, or before LISTEN */
		} else {
			pfd.fd = PQsocket(c);
			pfd.events = POLLIN;
			if (poll(&pfd, 1, PG_POLL_MS) > 0 && !PQconsumeInput(c)) {
				store_pg_msg(c, err, sizeof(err));
				log_warn("database %s: lost the connection: %s", pg->name, err);
				goto lost;
			}
		}
		while ((nt = PQnotifies(c))) {
			if (strcmp(nt->relname, "threatbl_overrides") == 0)
				overrides = 1;
			else
				any = 1;
			PQfreemem(nt);
		}
		if (overrides && pg->overrides_changed)
			pg->overrides_changed(pg->overrides_arg);
		if (any && pg_catch_up(pg, c) < 0)
			goto lost;
		if (time(NULL) - beat >= PG_HEARTBEAT_S) {
			beat = time(NULL);
			pg_heartbeat(pg, c);
		}
		if (PQstatus(c) != CONNECTION_OK)
			goto lost;
		continue;
lost:
		pg_set_connected(pg, 0, 0);
		PQfinish(c);
		c = NULL;
		backoff = PG_BACKOFF_MIN_MS;
	}
	if (c)
		PQfinish(c);
	return NULL;
}

/* ---- the claimer ---- */

/* PostgreSQL is away: a call within this node's share of what the fleet had left
 * (STORE_CLAIM_LOCAL), or none (STORE_CLAIM_BUDGET with the count as known here,
 * below the budget: the lookup ends, calls do not pause). Claimer's thread. */
static int pg_claim_local(struct store_pg *pg, const struct pg_claim *cl, uint32_t *calls)
{
	struct pg_share *s = store_pg_share(pg, cl->provider);
	uint32_t left, share;
	unsigned nodes;

	if (!s) {
		*calls = 0;
		return STORE_CLAIM_LOCAL;
	}
	if (cl->a.day != s->day) {
		s->day = cl->a.day;
		s->fleet_calls = 0;
		s->local_calls = 0;
	}
	*calls = s->fleet_calls + s->local_calls;
	if (!cl->a.budget) {
		s->local_calls++;
		return STORE_CLAIM_LOCAL;
	}
	pthread_mutex_lock(&pg->mu);
	nodes = pg->nodes ? pg->nodes : 1;
	pthread_mutex_unlock(&pg->mu);
	left = cl->a.budget > s->fleet_calls ? cl->a.budget - s->fleet_calls : 0;
	share = left / nodes;
	if (s->local_calls >= share)
		return STORE_CLAIM_BUDGET;
	s->local_calls++;
	(*calls)++;
	return STORE_CLAIM_LOCAL;
}

/* Back: the calls made meanwhile join the fleet's counts. 0 or -EIO. */
static int pg_claim_settle(struct store_pg *pg, PGconn *c)
{
	for (unsigned i = 0; i < pg->nshare; i++) {
		struct pg_share *s = &pg->share[i];
		char day[24], add[16];
		const char *vals[3] = { s->provider, day, add };
		PGresult *r;
		int ok;

		if (!s->local_calls)
			continue;
		snprintf(day, sizeof(day), "%lld", (long long)s->day);
		snprintf(add, sizeof(add), "%lu", (unsigned long)s->local_calls);
		r = PQexecParams(c, "INSERT INTO budgets AS b (provider, day, calls)"
				 " VALUES ($1, $2, $3) ON CONFLICT (provider, day)"
				 " DO UPDATE SET calls = b.calls + excluded.calls",
				 3, NULL, vals, NULL, NULL, 0);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok)
			return -EIO;
		log_info("database %s: %lu calls to %s made while it was away counted in the "
			 "fleet's budget", pg->name, (unsigned long)s->local_calls, s->provider);
		s->local_calls = 0;
	}
	return 0;
}

static void pg_claim_one(struct store_pg *pg, PGconn *c, struct pg_claim *cl)
{
	char lease[16], fresh[24], day[24], budget[16], msg[256], src[STORE_SOURCE_MAX];
	const char *vals[7] = { (const char *)cl->ip.b, pg->node, lease, fresh, cl->provider,
				day, budget };
	int lens[7] = { (int)sizeof(cl->ip.b) }, fmts[7] = { 1 };
	int outcome = STORE_CLAIM_LOCAL;
	uint32_t calls = 0;
	PGresult *r;

	if (!cl->cb) {
		vals[1] = pg->node;
		r = PQexecParams(c, "DELETE FROM claims WHERE ip = $1 AND node = $2", 2, NULL,
				 vals, lens, fmts, 0);
		PQclear(r);
		return;
	}
	snprintf(lease, sizeof(lease), "%lu", (unsigned long)cl->a.lease_ms);
	snprintf(fresh, sizeof(fresh), "%lu", (unsigned long)cl->a.fresh_after);
	snprintf(day, sizeof(day), "%lld", (long long)cl->a.day);
	snprintf(budget, sizeof(budget), "%lu", (unsigned long)cl->a.budget);
	r = PQexecParams(c, "SELECT outcome, calls, vmask, vflags, vchecked, vsource FROM"
			 " threatbl_claim($1, $2, $3, $4, $5, $6, $7)", 7, NULL, vals, lens, fmts,
			 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		const char *o = PQgetvalue(r, 0, 0);
		long long n = atoll(PQgetvalue(r, 0, 1));

		calls = n < 0 ? 0 : n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
		if (!strcmp(o, "mine"))
			outcome = STORE_CLAIM_MINE;
		else if (!strcmp(o, "theirs"))
			outcome = STORE_CLAIM_THEIRS;
		else if (!strcmp(o, "budget"))
			outcome = STORE_CLAIM_BUDGET;
		else if (!strcmp(o, "done")) {
			struct verdict v = { 0 };

			v.mask = (uint8_t)atoi(PQgetvalue(r, 0, 2));
			v.flags = (uint8_t)atoi(PQgetvalue(r, 0, 3));
			v.checked = (uint32_t)atoll(PQgetvalue(r, 0, 4));
			store_pg_text(r, 0, 5, src, sizeof(src));
			if (pg->listener)
				pg->listener(pg->listener_arg, &cl->ip, &v, src);
			outcome = STORE_CLAIM_DONE;
		}
	} else {
		store_pg_msg(c, msg, sizeof(msg));
		log_warn("database %s: claim failed: %s; deciding locally", pg->name, msg);
	}
	PQclear(r);
	if (outcome == STORE_CLAIM_MINE || outcome == STORE_CLAIM_BUDGET) {
		struct pg_share *s = store_pg_share(pg, cl->provider);

		if (s) {
			s->day = cl->a.day;
			s->fleet_calls = calls;
		}
	}
	if (outcome == STORE_CLAIM_LOCAL)
		outcome = pg_claim_local(pg, cl, &calls);
	pthread_mutex_lock(&pg->mu);
	pg->stats.claims++;
	if (outcome == STORE_CLAIM_THEIRS)
		pg->stats.claims_theirs++;
	else if (outcome == STORE_CLAIM_LOCAL)
		pg->stats.claims_local++;
	pthread_mutex_unlock(&pg->mu);
	cl->cb(cl->arg, &cl->ip, outcome, calls);
}

static void *pg_claim_thread(void *arg)
{
	struct store_pg *pg = arg;
	struct timespec retry = { 0 }, now;
	unsigned backoff = 0;
	char err[512];
	PGconn *c = NULL;

	pthread_mutex_lock(&pg->mu);
	for (;;) {
		struct pg_claim *cl;

		while (!pg->chead && !pg->stop)
			pthread_cond_wait(&pg->wake, &pg->mu);
		if (pg->stop)
			break;
		cl = pg->chead;
		pg->chead = cl->next;
		if (!pg->chead)
			pg->ctail = NULL;
		pg->nclaims--;
		pthread_mutex_unlock(&pg->mu);

		if (c && PQstatus(c) != CONNECTION_OK) {
			PQfinish(c);
			c = NULL;
			backoff = PG_BACKOFF_MIN_MS;
			clock_gettime(CLOCK_MONOTONIC, &retry);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!c && (now.tv_sec > retry.tv_sec ||
			   (now.tv_sec == retry.tv_sec && now.tv_nsec >= retry.tv_nsec))) {
			if ((c = store_pg_connect(pg, err, sizeof(err))))
				backoff = 0;
			else {
				backoff = !backoff ? PG_BACKOFF_MIN_MS : backoff * 2 >
					  PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : backoff * 2;
				clock_gettime(CLOCK_MONOTONIC, &retry);
				retry.tv_sec += backoff / 1000;
				retry.tv_nsec += (long)(backoff % 1000) * 1000000;
				if (retry.tv_nsec >= 1000000000) {
					retry.tv_sec++;
					retry.tv_nsec -= 1000000000;
				}
			}
		}
		if (c && pg_claim_settle(pg, c) < 0) {
			PQfinish(c);
			c = NULL;
		}
		if (c)
			pg_claim_one(pg, c, cl);
		else if (cl->cb) {
			/* PostgreSQL is away: no lookup waits for it */
			uint32_t calls;
			int outcome = pg_claim_local(pg, cl, &calls);

			pthread_mutex_lock(&pg->mu);
			pg->stats.claims++;
			pg->stats.claims_local++;
			pthread_mutex_unlock(&pg->mu);
			cl->cb(cl->arg, &cl->ip, outcome, calls);
		}
		free(cl);
		pthread_mutex_lock(&pg->mu);
	}
	pthread_mutex_unlock(&pg->mu);
	if (c)
		PQfinish(c);
	return NULL;
}

static int pg_claim_push(struct store_pg *pg, const struct ipaddr *ip,
			 const struct store_claim_args *a, store_claim_cb cb, void *arg)
{
	struct pg_claim *cl = calloc(1, sizeof(*cl));

	if (!cl)
		return -ENOMEM;
	cl->ip = *ip;
	if (a) {
		cl->a = *a;
		snprintf(cl->provider, sizeof(cl->provider), "%s", a->provider ? a->provider : "");
		cl->a.provider = cl->provider;
	}
	cl->cb = cb;
	cl->arg = arg;
	pthread_mutex_lock(&pg->mu);
	if (!pg->started || pg->stop || pg->nclaims >= PG_CLAIMS_MAX) {
		pthread_mutex_unlock(&pg->mu);
		free(cl);
		return -ENOBUFS;
	}
	if (pg->ctail)
		pg->ctail->next = cl;
	else
		pg->chead = cl;
	pg->ctail = cl;
	pg->nclaims++;
	pthread_cond_signal(&pg->wake);
	pthread_mutex_unlock(&pg->mu);
	return 0;
}

int store_pg_claim(struct store_pg *pg, const struct ipaddr *ip,
		   const struct store_claim_args *a, store_claim_cb cb, void *arg)
{
	return pg_claim_push(pg, ip, a, cb, arg);
}

void store_pg_release(struct store_pg *pg, const struct ipaddr *ip)
{
	pg_claim_push(pg, ip, NULL, NULL, NULL);
}

void store_pg_set_overrides_listener(struct store_pg *pg, void (*fn)(void *arg), void *arg)
{
	pg->overrides_changed = fn;
	pg->overrides_arg = arg;
}

int store_pg_start(struct store_pg *pg, store_verdict_fn listener, void *arg)
{
	int rc;

	pg->listener = listener;
	pg->listener_arg = arg;
	if ((rc = pthread_create(&pg->listen_thread, NULL, pg_listen_thread, pg)))
		return -rc;
	pthread_setname_np(pg->listen_thread, "tbl-pg-listen");
	if ((rc = pthread_create(&pg->claim_thread, NULL, pg_claim_thread, pg))) {
		pthread_mutex_lock(&pg->mu);
		pg->stop = 1;
		pthread_mutex_unlock(&pg->mu);
		pthread_join(pg->listen_thread, NULL);
		return -rc;
	}
	pthread_setname_np(pg->claim_thread, "tbl-pg-claim");
	pthread_mutex_lock(&pg->mu);
	pg->started = 1;
	pthread_mutex_unlock(&pg->mu);
	return 0;
}

void store_pg_get_stats(struct store_pg *pg, struct store_fleet_stats *out)
{
	pthread_mutex_lock(&pg->mu);
	*out = pg->stats;
	out->last_change = pg->last_change;
	pthread_mutex_unlock(&pg->mu);
}
