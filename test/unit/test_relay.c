/* test_relay.c - the slot pool between an answering loop and the lookup thread:
 * post and answer back, a full pool refuses with -EBUSY, a cancelled waiter is not
 * called but its slot comes home, refreshes, disconnect (-ECANCELED), close once every
 * slot is home; then many rounds with the lookup side on a thread of its own. */
#include <errno.h>
#include <string.h>
#include <uv.h>

#include "relay.h"
#include "tap.h"

struct consumer {
	struct relay_slot *posted[64];
	unsigned nposted;
	struct ipaddr refreshed[8];
	unsigned nrefreshed;
	void *seen_consumer;
	struct relay *r;
	uv_async_t wake;
	int stop;
};

struct waiter {
	struct relay_waiter w;
	int calls, status;
};

static struct ipaddr ip4(uint8_t d)
{
	struct ipaddr a;

	memset(&a, 0, sizeof(a));
	a.b[10] = a.b[11] = 0xff;
	a.b[12] = 192;
	a.b[13] = 0;
	a.b[14] = 2;
	a.b[15] = d;
	return a;
}

static void waiter_cb(struct relay_waiter *rw, int status)
{
	struct waiter *w = container_of(rw, struct waiter, w);

	w->calls++;
	w->status = status;
}

static void on_post(void *arg, struct relay_slot *s)
{
	struct consumer *c = arg;

	c->seen_consumer = relay_consumer(s->r);
	c->posted[c->nposted++] = s;
}

static void on_refresh(void *arg, const struct ipaddr *ip)
{
	struct consumer *c = arg;

	if (c->nrefreshed < 8)
		c->refreshed[c->nrefreshed++] = *ip;
}

static void consumer_woken(uv_async_t *a)
{
	struct consumer *c = a->data;

	relay_drain(c->r, on_post, on_refresh, c);
}

static void closed_cb(void *arg)
{
	(*(int *)arg)++;
}

static void run(uv_loop_t *loop)
{
	for (int i = 0; i < 5; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

static void one_loop(void)
{
	uv_loop_t loop;
	struct relay *r;
	struct consumer c;
	struct waiter w[4];
	struct ipaddr a = ip4(1), b = ip4(2), z = ip4(9);
	int closed = 0;

	memset(&c, 0, sizeof(c));
	memset(w, 0, sizeof(w));
	uv_loop_init(&loop);
	uv_async_init(&loop, &c.wake, consumer_woken);
	c.wake.data = &c;
	is_int(relay_new(&loop, 2, &r), 0, "relay_new");
	c.r = r;
	relay_connect(r, &c.wake, &c);

	is_int(relay_wait(r, &a, NULL, &w[0].w, waiter_cb), 0, "post a");
	is_int(relay_wait(r, &b, NULL, &w[1].w, waiter_cb), 0, "post b");
	is_int(relay_wait(r, &z, NULL, &w[2].w, waiter_cb), -EBUSY, "a full pool refuses");
	relay_refresh(r, &z);
	ok(w[0].calls == 0 && w[1].calls == 0, "no callback from inside relay_wait");
	run(&loop);
	is_int(c.nposted, 2, "both posts reach the lookup side");
	ok(c.nposted == 2 && !ipaddr_cmp(&c.posted[0]->ip, &a) &&
	   !ipaddr_cmp(&c.posted[1]->ip, &b), "in order, with their IPs");
	ok(c.seen_consumer == &c, "the lookup side finds its own pointer");
	ok(c.nrefreshed == 1 && !ipaddr_cmp(&c.refreshed[0], &z), "the refresh too");

	relay_cancel(r, &w[1].w);
	relay_answer(c.posted[0], 0);
	relay_answer(c.posted[1], -ETIMEDOUT);
	run(&loop);
	ok(w[0].calls == 1 && w[0].status == 0, "answer back: the callback, once, status 0");
	is_int(w[1].calls, 0, "a cancelled waiter is not called");
	is_int(relay_wait(r, &a, NULL, &w[2].w, waiter_cb), 0, "both slots are home again (1)");
	is_int(relay_wait(r, &b, NULL, &w[3].w, waiter_cb), 0, "both slots are home again (2)");

	/* Disconnect with posts not yet drained: they come back -ECANCELED. */
	c.nposted = 0;
	relay_disconnect(r);
	run(&loop);
	ok(w[2].calls == 1 && w[2].status == -ECANCELED && w[3].calls == 1 &&
	   w[3].status == -ECANCELED, "posted waiters come back -ECANCELED");
	is_int(relay_wait(r, &z, NULL, &w[0].w, waiter_cb), -ECANCELED,
	       "after disconnect waits are refused");
	is_int(c.nposted, 0, "nothing reaches the lookup side after disconnect");

	relay_close(r, closed_cb, &closed);
	is_int(relay_wait(r, &z, NULL, &w[0].w, waiter_cb), -ECANCELED, "closing: refused");
	run(&loop);
	is_int(closed, 1, "closed once every slot is home");
	uv_close((uv_handle_t *)&c.wake, NULL);
	run(&loop);
	is_int(uv_loop_close(&loop), 0, "no handle left open");
	relay_free(r);
}

/* --- the lookup side on its own thread ----------------------------------------------- */

#define SLOTS 64
#define ROUNDS 200

static void thread_post(void *arg, struct relay_slot *s)
{
	(void)arg;
	relay_answer(s, s->ip.b[15] == 7 ? -ETIMEDOUT : 0);
}

static void thread_refresh(void *arg, const struct ipaddr *ip)
{
	(void)ip;
	((struct consumer *)arg)->nrefreshed++;
}

static void thread_woken(uv_async_t *a)
{
	struct consumer *c = a->data;

	relay_drain(c->r, thread_post, thread_refresh, c);
	if (__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		relay_disconnect(c->r);
		uv_close((uv_handle_t *)a, NULL);
	}
}

static void thread_main(void *arg)
{
	uv_loop_t *loop = arg;

	uv_run(loop, UV_RUN_DEFAULT);
}

static void two_threads(void)
{
	uv_loop_t loop, tloop;
	uv_thread_t th;
	struct relay *r;
	struct consumer c;
	static struct waiter w[SLOTS];
	unsigned back = 0, timeouts = 0, bad = 0;
	int closed = 0;

	memset(&c, 0, sizeof(c));
	uv_loop_init(&loop);
	uv_loop_init(&tloop);
	uv_async_init(&tloop, &c.wake, thread_woken);
	c.wake.data = &c;
	relay_new(&loop, SLOTS, &r);
	c.r = r;
	relay_connect(r, &c.wake, &c);
	uv_thread_create(&th, thread_main, &tloop);
	for (int round = 0; round < ROUNDS; round++) {
		memset(w, 0, sizeof(w));
		for (unsigned i = 0; i < SLOTS; i++) {
			struct ipaddr a = ip4((uint8_t)i);

			if (relay_wait(r, &a, NULL, &w[i].w, waiter_cb))
				bad++;
		}
		relay_refresh(r, &c.refreshed[0]);
		for (unsigned done = 0; done < SLOTS;) {
			uv_run(&loop, UV_RUN_ONCE);
			done = 0;
			for (unsigned i = 0; i < SLOTS; i++)
				done += w[i].calls;
		}
		for (unsigned i = 0; i < SLOTS; i++) {
			back += w[i].calls;
			timeouts += w[i].status == -ETIMEDOUT;
			bad += w[i].status != (i == 7 ? -ETIMEDOUT : 0);
		}
	}
	is_int(back, SLOTS * ROUNDS, "threads: every post comes back once");
	is_int(timeouts, ROUNDS, "threads: with its own status");
	is_int(bad, 0, "threads: no refusal, no wrong status");
	relay_close(r, closed_cb, &closed);
	while (!closed)
		uv_run(&loop, UV_RUN_ONCE);
	is_int(closed, 1, "threads: closed");
	/* Atomic: a uv_async carries no data and orders nothing for ThreadSanitizer. */
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	uv_async_send(&c.wake);
	uv_thread_join(&th);
	ok(c.nrefreshed >= 1, "threads: refreshes reach the lookup side");
	is_int(uv_loop_close(&tloop), 0, "threads: lookup loop closed");
	is_int(uv_loop_close(&loop), 0, "threads: owner loop closed");
	relay_free(r);
}

int main(void)
{
	one_loop();
	two_threads();
	return done_testing();
}
