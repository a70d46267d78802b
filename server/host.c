/* host.c - an answering loop as the transports see it (see host.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "host.h"

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
