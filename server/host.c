/* host.c - an answering loop as the transports see it (see host.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "log.h"
#include "querylog.h"

void host_init(struct host *h, uv_loop_t *loop, struct shared *sh, struct relay *relay,
	       const char *tag)
{
	memset(&h->ctr, 0, sizeof(h->ctr));
	h->loop = loop;
	h->shared = sh;
	h->relay = relay;
	snprintf(h->tag, sizeof(h->tag), "%s", tag);
}

const struct shared_view *host_enter(struct host *h)
{
	shared_read_begin(h->shared, &h->view);
	/* Per loop: the shared view's clock is nobody's, so no thread writes it. */
	h->view.env.now = (uint32_t)time(NULL);
	h->view.env.refresh = h->view.env.lookups ? relay_refresh : NULL;
	h->view.env.refresh_arg = h->relay;
	return &h->view;
}

void host_leave(struct host *h)
{
	shared_read_end(h->shared);
}

int host_wait(struct host *h, const struct ipaddr *ip, const struct ipaddr *client,
	      struct relay_waiter *w, relay_wait_cb cb)
{
	return relay_wait(h->relay, ip, client, w, cb);
}

void host_cancel(struct host *h, struct relay_waiter *w)
{
	relay_cancel(h->relay, w);
}

void host_log_counters(const struct host *h, const char *when)
{
	static const char *const tr_names[CTR_NTRANSPORT] = { "udp", "tcp" };
	const struct counters *c = &h->ctr;
	char buf[1024];
	size_t n = 0;
	uint64_t logged, dropped;

	if (!log_enabled(LOG_LVL_INFO))
		return;
#define ADD(...) do { \
		int k_ = snprintf(buf + n, sizeof(buf) - n, __VA_ARGS__); \
		if (k_ > 0 && (size_t)k_ < sizeof(buf) - n) \
			n += (size_t)k_; \
	} while (0)
	ADD("answers");
	for (unsigned k = 0; k < CTR_NANSWER; k++)
		ADD(" %s=%llu", counters_answer_name(k),
		    (unsigned long long)counter_get(&c->answers[k]));
	ADD("; rcodes");
	for (unsigned t = 0; t < CTR_NTRANSPORT; t++)
		for (unsigned r = 0; r < 16; r++) {
			uint64_t v = counter_get(&c->queries[t][r]);

			if (v)
				ADD(" %s/%s=%llu", tr_names[t], counters_rcode_name(r),
				    (unsigned long long)v);
		}
	ADD("; categories");
	for (unsigned k = 0; k < VERDICT_NCAT; k++)
		ADD(" %s=%llu", verdict_cat_name((enum verdict_cat)k),
		    (unsigned long long)counter_get(&c->listed[k]));
	ADD("; cache");
	for (unsigned k = 0; k < CTR_NCACHE; k++)
		ADD(" %s=%llu", counters_cache_name(k),
		    (unsigned long long)counter_get(&c->cache[k]));
	if (h->qlog) {
		querylog_loop_counts(h->qlog, &logged, &dropped);
		ADD("; query-log logged=%llu dropped=%llu", (unsigned long long)logged,
		    (unsigned long long)dropped);
	}
#undef ADD
	log_info("%s%s%s", when, buf, h->tag);
}
