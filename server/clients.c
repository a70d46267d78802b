/* clients.c - lookups counted per client prefix (see clients.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"

void clients_init(struct clients *cs)
{
	memset(cs, 0, sizeof(*cs));
	ipmap_init(&cs->map);
	list_init(&cs->rr);
	cs->v4_len = 24;
	cs->v6_len = 56;
	cs->rate = 1.0;
	cs->burst = 5;
}

void clients_configure(struct clients *cs, const struct config *cfg)
{
	cs->v4_len = cfg->client_prefix_v4 ? cfg->client_prefix_v4 : 24;
	cs->v6_len = cfg->client_prefix_v6 ? cfg->client_prefix_v6 : 56;
	cs->rate = cfg->per_client_rate > 0 ? cfg->per_client_rate : 0;
	cs->burst = cfg->per_client_burst ? cfg->per_client_burst : 1;
}

static void refill(const struct clients *cs, struct client *c, uint64_t now)
{
	if (now > c->tokens_at) {
		c->tokens += (double)(now - c->tokens_at) * cs->rate / 1000.0;
		c->tokens_at = now;
	}
	if (c->tokens > cs->burst)
		c->tokens = cs->burst;
}

static int idle(const struct clients *cs, struct client *c, uint64_t now)
{
	if (c->refs || !list_empty(&c->q))
		return 0;
	refill(cs, c, now);
	return cs->rate == 0 || c->tokens >= cs->burst;
}

struct sweep {
	struct clients *cs;
	uint64_t now;
	struct client **found;
	size_t n, cap;
};

static int sweep_one(void *arg, void *obj)
{
	struct sweep *sw = arg;

	if (sw->n < sw->cap && idle(sw->cs, obj, sw->now))
		sw->found[sw->n++] = obj;
	return 0;
}

/* Free the idle clients: at most a quarter of the table, so a sweep is paid for by
 * many additions. */
static void sweep(struct clients *cs, uint64_t now)
{
	struct sweep sw = { .cs = cs, .now = now, .cap = CLIENTS_MAX / 4 };

	sw.found = malloc(sw.cap * sizeof(*sw.found));
	if (!sw.found)
		return;
	ipmap_foreach(&cs->map, sweep_one, &sw);
	for (size_t i = 0; i < sw.n; i++) {
		ipmap_del(&cs->map, sw.found[i]);
		free(sw.found[i]);
	}
	free(sw.found);
}

static void client_key(const struct clients *cs, const struct ipaddr *addr,
		       struct ipaddr *key)
{
	ipaddr_mask(addr, ipaddr_is_v4(addr) ? 96 + cs->v4_len : cs->v6_len, key);
}

int clients_is(const struct clients *cs, const struct client *c, const struct ipaddr *addr)
{
	struct ipaddr key;

	client_key(cs, addr, &key);
	return memcmp(key.b, c->prefix.b, sizeof(key.b)) == 0;
}

struct client *clients_get(struct clients *cs, const struct ipaddr *addr, uint64_t now)
{
	struct ipaddr key;
	struct client *c;

	client_key(cs, addr, &key);
	if ((c = ipmap_find(&cs->map, &key)))
		return c;
	if (cs->map.count >= CLIENTS_MAX) {
		sweep(cs, now);
		if (cs->map.count >= CLIENTS_MAX) {
			cs->limited++;
			return NULL;
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->prefix = key;
	list_init(&c->q);
	c->tokens = cs->burst;
	c->tokens_at = now;
	if (ipmap_add(&cs->map, c) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

int clients_take(struct clients *cs, struct client *c, uint64_t now)
{
	if (cs->rate > 0) {
		refill(cs, c, now);
		if (c->tokens < 1.0) {
			cs->limited++;
			return -EBUSY;
		}
		c->tokens -= 1.0;
	}
	c->refs++;
	return 0;
}

void clients_release(struct clients *cs, struct client *c, uint64_t now)
{
	if (c->refs)
		c->refs--;
	if (idle(cs, c, now)) {
		ipmap_del(&cs->map, c);
		free(c);
	}
}

void clients_queued(struct clients *cs, struct client *c)
{
	if (!list_linked(&c->rr))
		list_add_tail(&cs->rr, &c->rr);
}

void clients_unqueued(struct clients *cs, struct client *c)
{
	(void)cs;
	if (list_empty(&c->q))
		list_del(&c->rr);
}

struct client *clients_next(const struct clients *cs)
{
	struct list_node *n = list_first(&cs->rr);

	return n ? container_of(n, struct client, rr) : NULL;
}

void clients_rotate(struct clients *cs, struct client *c)
{
	if (!list_linked(&c->rr))
		return;
	list_del(&c->rr);
	list_add_tail(&cs->rr, &c->rr);
}

size_t clients_count(const struct clients *cs)
{
	return cs->map.count;
}

static int free_one(void *arg, void *obj)
{
	(void)arg;
	free(obj);
	return 0;
}

void clients_free(struct clients *cs)
{
	ipmap_foreach(&cs->map, free_one, NULL);
	ipmap_free(&cs->map);
	list_init(&cs->rr);
}
