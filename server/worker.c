/* worker.c - the extra loops of `threads`: UDP answered on more cores. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intel.h"
#include "log.h"
#include "server.h"
#include "udp.h"
#include "worker.h"

/* Refreshes of stale verdicts waiting for the main loop; more in one wake-up are
 * dropped (the next question about the IP asks again). */
#define WORKER_REFRESH 256

/* One parked query on its way through the main loop. The worker's listener keeps the
 * query; the slot carries the IP there and the outcome back. */
struct relay_slot {
	struct intel_waiter iw;      /* the main loop's, while intel holds it */
	struct ipaddr ip;
	struct intel_waiter *orig;   /* the listener's waiter, on the worker loop */
	intel_wait_cb cb;
	int status;
	struct worker *w;
	struct relay_slot *next;
};

struct worker {
	struct server *srv;
	char tag[24];
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t wake;             /* worker loop: answers back, stop */
	uv_async_t main_wake;        /* main loop: lookups, refreshes, finished */
	struct udp_host host;
	struct dns_env env;          /* the worker's copy, taken under the lock per batch */
	struct udp_listener **udp;
	size_t nudp;
	struct relay_slot *slots;    /* nudp * SERVER_UDP_WAITERS, allocated once */
	struct relay_slot *free_slots; /* worker loop only */
	size_t away;                 /* slots off the free list (worker loop only) */
	int stopping;                /* worker loop only */
	uv_mutex_t mu;               /* guards the fields below */
	struct relay_slot *to_main, **to_main_end;
	struct relay_slot *back, **back_end;
	struct ipaddr refresh[WORKER_REFRESH];
	unsigned nrefresh;
	int stop;
	int finished;
};

static void slots_append(struct relay_slot **end_ptr[], struct relay_slot *s)
{
	s->next = NULL;
	**end_ptr = s;
	*end_ptr = &s->next;
}

/* --- the worker loop ------------------------------------------------------------ */

/* env.refresh on a worker: called with the read lock held, so only the mutex here. */
static void worker_refresh(void *arg, const struct ipaddr *ip)
{
	struct worker *w = arg;
	int wake = 0;

	uv_mutex_lock(&w->mu);
	if (w->nrefresh < WORKER_REFRESH) {
		w->refresh[w->nrefresh++] = *ip;
		wake = 1;
	}
	uv_mutex_unlock(&w->mu);
	if (wake)
		uv_async_send(&w->main_wake);
}

static const struct dns_env *worker_enter(struct udp_host *h)
{
	struct worker *w = (struct worker *)((char *)h - offsetof(struct worker, host));
	const struct dns_env *cur = &w->srv->env;

	/* Field by field: the main loop writes cur->now without the lock. */
	pthread_rwlock_rdlock(&w->srv->lock);
	w->env.zones = cur->zones;
	w->env.cache = cur->cache;
	w->env.fresh_s = cur->fresh_s;
	w->env.max_stale_s = cur->max_stale_s;
	w->env.unknown_retry_s = cur->unknown_retry_s;
	w->env.lookups = cur->lookups;
	w->env.lookup_reserved = cur->lookup_reserved;
	w->env.refresh_arg = w;
	w->env.refresh = cur->refresh ? worker_refresh : NULL;
	w->env.now = (uint32_t)time(NULL);
	return &w->env;
}

static void worker_leave(struct udp_host *h)
{
	struct worker *w = (struct worker *)((char *)h - offsetof(struct worker, host));

	pthread_rwlock_unlock(&w->srv->lock);
}

static int worker_wait(struct udp_host *h, const struct ipaddr *ip, struct intel_waiter *iw,
		       intel_wait_cb cb)
{
	struct worker *w = (struct worker *)((char *)h - offsetof(struct worker, host));
	struct relay_slot *s = w->free_slots;

	if (!s || w->stopping)
		return -EBUSY;
	w->free_slots = s->next;
	w->away++;
	s->ip = *ip;
	s->orig = iw;
	s->cb = cb;
	s->status = 0;
	uv_mutex_lock(&w->mu);
	slots_append(&w->to_main_end, s);
	uv_mutex_unlock(&w->mu);
	uv_async_send(&w->main_wake);
	return 0;
}

static void worker_woken(uv_async_t *a)
{
	struct worker *w = a->data;
	struct relay_slot *s, *next;
	int stop;

	uv_mutex_lock(&w->mu);
	s = w->back;
	w->back = NULL;
	w->back_end = &w->back;
	stop = w->stop;
	uv_mutex_unlock(&w->mu);

	for (; s; s = next) {
		struct intel_waiter *orig = s->orig;
		intel_wait_cb cb = s->cb;
		int status = s->status;

		next = s->next;
		s->next = w->free_slots;
		w->free_slots = s;
		w->away--;
		cb(orig, status);
	}
	if (stop && !w->stopping) {
		w->stopping = 1;
		for (size_t i = 0; i < w->nudp; i++)
			udp_close(w->udp[i]);
	}
	/* Every parked query is home, so every listener has closed or is closing. */
	if (w->stopping && !w->away && !uv_is_closing((uv_handle_t *)&w->wake))
		uv_close((uv_handle_t *)&w->wake, NULL);
}

static void worker_main(void *arg)
{
	struct worker *w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&w->loop))
		log_warn("worker%s: loop closed with handles still open", w->tag);
	uv_mutex_lock(&w->mu);
	w->finished = 1;
	uv_mutex_unlock(&w->mu);
	uv_async_send(&w->main_wake);
}

/* --- the main loop -------------------------------------------------------------- */

static void worker_free(uv_handle_t *h)
{
	struct worker *w = h->data;

	uv_mutex_destroy(&w->mu);
	free(w->slots);
	free(w->udp);
	free(w);
}

/* intel's callback on the main loop: send the outcome home. */
static void relay_parked_cb(struct intel_waiter *iw, int status)
{
	struct relay_slot *s = (struct relay_slot *)((char *)iw - offsetof(struct relay_slot, iw));
	struct worker *w = s->w;

	s->status = status;
	uv_mutex_lock(&w->mu);
	slots_append(&w->back_end, s);
	uv_mutex_unlock(&w->mu);
	uv_async_send(&w->wake);
}

static void worker_main_woken(uv_async_t *a)
{
	struct worker *w = a->data;
	struct server *srv = w->srv;
	struct ipaddr refresh[WORKER_REFRESH];
	struct relay_slot *s, *next, *back = NULL, **back_end = &back;
	unsigned nrefresh;
	int finished;

	uv_mutex_lock(&w->mu);
	s = w->to_main;
	w->to_main = NULL;
	w->to_main_end = &w->to_main;
	nrefresh = w->nrefresh;
	memcpy(refresh, w->refresh, nrefresh * sizeof(refresh[0]));
	w->nrefresh = 0;
	finished = w->finished;
	uv_mutex_unlock(&w->mu);

	for (; s; s = next) {
		next = s->next;
		if (srv->stopping)
			s->status = -ECANCELED;
		else if (!srv->intel)
			s->status = -EAGAIN; /* lookups were switched off: answer now */
		else if ((s->status = intel_wait(srv->intel, &s->ip, &s->iw, relay_parked_cb)) == 0)
			continue;
		slots_append(&back_end, s);
	}
	if (back) {
		uv_mutex_lock(&w->mu);
		*w->back_end = back;
		w->back_end = back_end;
		uv_mutex_unlock(&w->mu);
		uv_async_send(&w->wake);
	}
	for (unsigned i = 0; i < nrefresh && srv->intel && !srv->stopping; i++)
		intel_refresh(srv->intel, &refresh[i]);
	if (finished && !uv_is_closing((uv_handle_t *)&w->main_wake)) {
		uv_thread_join(&w->thread);
		uv_close((uv_handle_t *)&w->main_wake, worker_free);
	}
}

void worker_stop(struct worker *w)
{
	uv_mutex_lock(&w->mu);
	w->stop = 1;
	uv_mutex_unlock(&w->mu);
	uv_async_send(&w->wake);
}

int worker_start(struct server *srv, unsigned index, const struct sockaddr_storage *addrs,
		 size_t naddrs, struct worker **out)
{
	struct worker *w;
	size_t i, nslots = naddrs * SERVER_UDP_WAITERS;
	int err, loop_ok = 0, mu_ok = 0, main_wake_ok = 0;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->srv = srv;
	snprintf(w->tag, sizeof(w->tag), " (thread %u)", index);
	w->udp = calloc(naddrs ? naddrs : 1, sizeof(*w->udp));
	w->slots = calloc(nslots ? nslots : 1, sizeof(*w->slots));
	if (!w->udp || !w->slots) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < nslots; i++) {
		w->slots[i].w = w;
		w->slots[i].next = i + 1 < nslots ? &w->slots[i + 1] : NULL;
	}
	w->free_slots = w->slots;
	w->to_main_end = &w->to_main;
	w->back_end = &w->back;
	if ((err = uv_mutex_init(&w->mu)))
		goto fail;
	mu_ok = 1;
	if ((err = uv_loop_init(&w->loop)))
		goto fail;
	loop_ok = 1;
	w->host = (struct udp_host){
		.loop = &w->loop, .enter = worker_enter, .leave = worker_leave,
		.wait = worker_wait, .cancel = NULL, .tag = w->tag,
	};
	uv_async_init(&w->loop, &w->wake, worker_woken);
	w->wake.data = w;
	for (i = 0; i < naddrs; i++) {
		if ((err = udp_start(&w->host, (const struct sockaddr *)&addrs[i], &w->udp[i])))
			goto fail;
		w->nudp++;
	}
	if ((err = uv_async_init(&srv->loop, &w->main_wake, worker_main_woken)))
		goto fail;
	w->main_wake.data = w;
	main_wake_ok = 1;
	if ((err = uv_thread_create(&w->thread, worker_main, w))) {
		log_err("cannot start worker%s: %s", w->tag, uv_strerror(err));
		goto fail;
	}
	*out = w;
	return 0;
fail:
	if (loop_ok) {
		/* Nothing ran on this loop yet: close what was opened and let it end. */
		for (i = 0; i < w->nudp; i++)
			udp_close(w->udp[i]);
		uv_close((uv_handle_t *)&w->wake, NULL);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		uv_loop_close(&w->loop);
	}
	if (main_wake_ok) {
		uv_close((uv_handle_t *)&w->main_wake, worker_free); /* frees the rest */
		return err;
	}
	if (mu_ok)
		uv_mutex_destroy(&w->mu);
	free(w->slots);
	free(w->udp);
	free(w);
	return err;
}
