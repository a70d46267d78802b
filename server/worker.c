/* worker.c - the extra loops of `threads`: UDP answered on more cores. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "host.h"
#include "log.h"
#include "querylog.h"
#include "udp.h"
#include "worker.h"

struct worker {
	char tag[24];
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t stop;             /* worker loop: stop */
	uv_async_t stats;            /* worker loop: log the counters (SIGUSR1) */
	uv_async_t joined;           /* main loop: the thread has ended */
	struct host host;
	struct udp_listener **udp;
	size_t nudp;
};

/* --- the worker loop ------------------------------------------------------------ */

static void worker_relay_closed(void *arg)
{
	struct worker *w = arg;

	/* Every slot is home: nothing else keeps the loop running. */
	uv_close((uv_handle_t *)&w->stop, NULL);
	uv_close((uv_handle_t *)&w->stats, NULL);
}

static void worker_stats_cb(uv_async_t *a)
{
	struct worker *w = a->data;

	/* The counters are this loop's: read them here, not from the main loop. */
	for (size_t i = 0; i < w->nudp; i++)
		udp_log_stats(w->udp[i], "stats: ");
	host_log_counters(&w->host, "stats: ");
}

static void worker_stop_cb(uv_async_t *a)
{
	struct worker *w = a->data;

	if (uv_is_closing((uv_handle_t *)a))
		return;
	for (size_t i = 0; i < w->nudp; i++)
		udp_close(w->udp[i]);
	w->nudp = 0;
	relay_close(w->host.relay, worker_relay_closed, w);
}

static void worker_main(void *arg)
{
	struct worker *w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&w->loop))
		log_warn("worker%s: loop closed with handles still open", w->tag);
	/* The main loop joins the thread before it closes `joined`. */
	uv_async_send(&w->joined);
}

/* --- the main loop -------------------------------------------------------------- */

static void worker_free(uv_handle_t *h)
{
	struct worker *w = h->data;

	free(w->udp);
	free(w);
}

static void worker_joined(uv_async_t *a)
{
	struct worker *w = a->data;

	uv_thread_join(&w->thread);
	uv_close((uv_handle_t *)&w->joined, worker_free);
}

const struct counters *worker_counters(const struct worker *w)
{
	return &w->host.ctr;
}

void worker_log_stats(struct worker *w)
{
	uv_async_send(&w->stats);
}

void worker_stop(struct worker *w)
{
	uv_async_send(&w->stop);
}

int worker_start(uv_loop_t *main_loop, struct shared *sh, struct lookup_thread *lk,
		 unsigned index, const struct sockaddr_storage *addrs, size_t naddrs,
		 struct querylog *ql, struct worker **out)
{
	struct worker *w;
	struct relay *relay = NULL;
	char tag[24];
	size_t i;
	int err, joined_ok = 0;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	snprintf(tag, sizeof(tag), " (thread %u)", index);
	snprintf(w->tag, sizeof(w->tag), "%s", tag);
	w->udp = calloc(naddrs ? naddrs : 1, sizeof(*w->udp));
	if (!w->udp) {
		free(w);
		return -ENOMEM;
	}
	if ((err = uv_loop_init(&w->loop))) {
		free(w->udp);
		free(w);
		return err;
	}
	uv_async_init(&w->loop, &w->stop, worker_stop_cb);
	w->stop.data = w;
	uv_async_init(&w->loop, &w->stats, worker_stats_cb);
	w->stats.data = w;
	if ((err = lookup_relay(lk, &w->loop, naddrs * UDP_WAITERS, &relay)))
		goto fail;
	host_init(&w->host, &w->loop, sh, relay, tag);
	if (ql && !(w->host.qlog = querylog_attach(ql))) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < naddrs; i++) {
		if ((err = udp_start(&w->host, (const struct sockaddr *)&addrs[i], &w->udp[i])))
			goto fail;
		w->nudp++;
	}
	if ((err = uv_async_init(main_loop, &w->joined, worker_joined)))
		goto fail;
	w->joined.data = w;
	joined_ok = 1;
	if ((err = uv_thread_create(&w->thread, worker_main, w))) {
		log_err("cannot start worker%s: %s", w->tag, uv_strerror(err));
		goto fail;
	}
	/* named for top -H, perf and pinning (doc/architecture.md#threads-and-loops) */
	snprintf(tag, sizeof(tag), "tbl-loop-%u", index);
	pthread_setname_np(w->thread, tag);
	*out = w;
	return 0;
fail:
	/* Nothing ran on this loop yet: close what was opened and let it end here. */
	for (i = 0; i < w->nudp; i++)
		udp_close(w->udp[i]);
	if (relay)
		relay_close(relay, NULL, NULL);
	uv_close((uv_handle_t *)&w->stop, NULL);
	uv_close((uv_handle_t *)&w->stats, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);
	if (joined_ok) {
		uv_close((uv_handle_t *)&w->joined, worker_free); /* frees the rest */
		return err;
	}
	free(w->udp);
	free(w);
	return err;
}
