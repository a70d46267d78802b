/* relay.c - slot pools between the answering loops and the lookup thread (see relay.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

/* Refreshes of stale verdicts waiting for the lookup thread; more in one wake-up are
 * dropped (the next question about the IP asks again). */
#define RELAY_REFRESH 256

struct relay {
	uv_async_t wake;             /* owner loop: outcomes are back */
	struct relay_slot *slots;    /* allocated once */
	size_t nslots;
	struct list_head free_slots; /* owner loop only */
	size_t away;                 /* slots off the free list (owner loop only) */
	int closing;                 /* owner loop only */
	void (*closed)(void *arg);
	void *closed_arg;
	void *consumer;              /* set before the first wait, then read only */
	uv_mutex_t mu;               /* guards the fields below */
	uv_async_t *consumer_wake;   /* NULL once disconnected */
	struct list_head posted, back;
	struct ipaddr refresh[RELAY_REFRESH];
	unsigned nrefresh;
};

/* Move every node of from to the tail of to. */
static void move_all(struct list_head *from, struct list_head *to)
{
	struct list_node *n;

	while ((n = list_pop(from)))
		list_add_tail(to, n);
}

static void relay_woken(uv_async_t *a);

int relay_new(uv_loop_t *loop, size_t nslots, struct relay **out)
{
	struct relay *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->slots = calloc(nslots ? nslots : 1, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return -ENOMEM;
	}
	r->nslots = nslots;
	list_init(&r->free_slots);
	list_init(&r->posted);
	list_init(&r->back);
	for (size_t i = 0; i < nslots; i++) {
		r->slots[i].r = r;
		list_add_tail(&r->free_slots, &r->slots[i].node);
	}
	if ((err = uv_mutex_init(&r->mu)))
		goto fail;
	if ((err = uv_async_init(loop, &r->wake, relay_woken))) {
		uv_mutex_destroy(&r->mu);
		goto fail;
	}
	r->wake.data = r;
	*out = r;
	return 0;
fail:
	free(r->slots);
	free(r);
	return err;
}

void relay_free(struct relay *r)
{
	if (!r)
		return;
	uv_mutex_destroy(&r->mu);
	free(r->slots);
	free(r);
}

/* --- the owner loop -------------------------------------------------------------- */

int relay_wait(struct relay *r, const struct ipaddr *ip, const struct ipaddr *client,
	       struct relay_waiter *w, relay_wait_cb cb)
{
	struct list_node *n;
	struct relay_slot *s;
	int err = 0;

	if (r->closing)
		return -ECANCELED;
	if (!(n = list_first(&r->free_slots)))
		return -EBUSY;
	s = container_of(n, struct relay_slot, node);
	s->ip = *ip;
	s->has_client = client != NULL;
	if (client)
		s->client = *client;
	s->status = 0;
	s->orig = w;
	s->cb = cb;
	/* The send is made under the mutex: relay_disconnect, which ends the lookup
	 * thread's use of its async, takes the mutex first. */
	uv_mutex_lock(&r->mu);
	if (r->consumer_wake) {
		list_del(n);
		list_add_tail(&r->posted, n);
		uv_async_send(r->consumer_wake);
	} else {
		err = -ECANCELED;
	}
	uv_mutex_unlock(&r->mu);
	if (err)
		return err;
	r->away++;
	w->slot = s;
	return 0;
}

void relay_cancel(struct relay *r, struct relay_waiter *w)
{
	(void)r;
	if (!w->slot)
		return;
	w->slot->orig = NULL;
	w->slot->cb = NULL;
	w->slot = NULL;
}

void relay_refresh(void *arg, const struct ipaddr *ip)
{
	struct relay *r = arg;

	if (r->closing)
		return;
	uv_mutex_lock(&r->mu);
	if (r->consumer_wake && r->nrefresh < RELAY_REFRESH) {
		r->refresh[r->nrefresh++] = *ip;
		uv_async_send(r->consumer_wake);
	}
	uv_mutex_unlock(&r->mu);
}

static void relay_handle_closed(uv_handle_t *h)
{
	struct relay *r = h->data;

	if (r->closed)
		r->closed(r->closed_arg);
}

static void relay_maybe_closed(struct relay *r)
{
	if (r->closing && !r->away && !uv_is_closing((uv_handle_t *)&r->wake))
		uv_close((uv_handle_t *)&r->wake, relay_handle_closed);
}

static void relay_woken(uv_async_t *a)
{
	struct relay *r = a->data;
	struct list_head back;
	struct list_node *n;

	list_init(&back);
	uv_mutex_lock(&r->mu);
	move_all(&r->back, &back);
	uv_mutex_unlock(&r->mu);

	while ((n = list_pop(&back))) {
		struct relay_slot *s = container_of(n, struct relay_slot, node);
		struct relay_waiter *w = s->orig;
		relay_wait_cb cb = s->cb;

		s->orig = NULL;
		s->cb = NULL;
		list_add_tail(&r->free_slots, n);
		r->away--;
		/* The callback may wait again: the slot is free by now. */
		if (w) {
			w->slot = NULL;
			cb(w, s->status);
		}
	}
	relay_maybe_closed(r);
}

void relay_close(struct relay *r, void (*closed)(void *arg), void *arg)
{
	if (r->closing)
		return;
	r->closing = 1;
	r->closed = closed;
	r->closed_arg = arg;
	relay_maybe_closed(r);
}

/* --- the lookup thread ----------------------------------------------------------- */

void relay_connect(struct relay *r, uv_async_t *wake, void *consumer)
{
	r->consumer = consumer;
	uv_mutex_lock(&r->mu);
	r->consumer_wake = wake;
	uv_mutex_unlock(&r->mu);
}

void *relay_consumer(const struct relay *r)
{
	return r->consumer;
}

void relay_drain(struct relay *r, void (*post)(void *arg, struct relay_slot *s),
		 void (*refresh)(void *arg, const struct ipaddr *ip), void *arg)
{
	struct ipaddr ips[RELAY_REFRESH];
	struct list_head posted;
	struct list_node *n;
	unsigned nips;

	list_init(&posted);
	uv_mutex_lock(&r->mu);
	move_all(&r->posted, &posted);
	nips = r->nrefresh;
	memcpy(ips, r->refresh, nips * sizeof(ips[0]));
	r->nrefresh = 0;
	uv_mutex_unlock(&r->mu);

	while ((n = list_pop(&posted)))
		post(arg, container_of(n, struct relay_slot, node));
	for (unsigned i = 0; i < nips; i++)
		refresh(arg, &ips[i]);
}

void relay_answer(struct relay_slot *s, int status)
{
	struct relay *r = s->r;

	s->status = status;
	/* The send is made under the mutex: the owner closes its async only after it
	 * has taken the mutex and found every slot home, so never during this send. */
	uv_mutex_lock(&r->mu);
	list_add_tail(&r->back, &s->node);
	uv_async_send(&r->wake);
	uv_mutex_unlock(&r->mu);
}

void relay_disconnect(struct relay *r)
{
	struct list_head posted;
	struct list_node *n;

	list_init(&posted);
	uv_mutex_lock(&r->mu);
	r->consumer_wake = NULL;
	r->nrefresh = 0;
	move_all(&r->posted, &posted);
	uv_mutex_unlock(&r->mu);
	while ((n = list_pop(&posted)))
		relay_answer(container_of(n, struct relay_slot, node), -ECANCELED);
}
