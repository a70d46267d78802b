/* test_ipmap.c - the IP-keyed index of intel.c's lookups: add, find, delete checked
 * against a reference model through growth and long runs of deletions (the backward
 * shift must keep every remaining key reachable), deletion of absent objects, and
 * ipmap_foreach visiting each object once and stopping early when told. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipmap.h"
#include "tap.h"
#include "testutil.h"

struct obj {
	struct ipaddr ip; /* first, as ipmap wants */
	int in_map;
	int visits;
};

#define N 20000

/* Odd n: IPv4-mapped, even n: 2001:db8::/32 (testutil.h). */
static struct ipaddr key(uint32_t n)
{
	return n & 1 ? v4(n) : v6(n);
}

/* Every object is found exactly when the model says it is in the map. */
static int consistent(const struct ipmap *m, struct obj *objs, size_t n)
{
	size_t in = 0;

	for (size_t i = 0; i < n; i++) {
		void *got = ipmap_find(m, &objs[i].ip);

		if (got != (objs[i].in_map ? (void *)&objs[i] : NULL))
			return 0;
		in += (size_t)objs[i].in_map;
	}
	return in == m->count;
}

struct walk {
	unsigned calls;
	unsigned stop_at; /* return 7 at this call; 0: never */
};

static int visit(void *arg, void *obj)
{
	struct walk *w = arg;

	((struct obj *)obj)->visits++;
	return ++w->calls == w->stop_at ? 7 : 0;
}

/* Every object in the map visited exactly once, none other. */
static int visited_once(struct obj *objs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (objs[i].visits != objs[i].in_map)
			return 0;
	return 1;
}

static void test_foreach(struct ipmap *m, struct obj *objs, size_t n)
{
	struct walk w = { 0, 0 };
	size_t i, in = 0;

	for (i = 0; i < n; i++) {
		objs[i].visits = 0;
		in += (size_t)objs[i].in_map;
	}
	is_int(ipmap_foreach(m, visit, &w), 0, "foreach: 0 when fn never stops it");
	ok(w.calls == in, "foreach: one call per object (%u of %zu)", w.calls, in);
	ok(visited_once(objs, n), "foreach: every object once, nothing else");

	for (i = 0; i < n; i++)
		objs[i].visits = 0;
	w.calls = 0;
	w.stop_at = 3;
	is_int(ipmap_foreach(m, visit, &w), 7, "foreach: fn's non-zero value returned");
	is_int((int)w.calls, 3, "foreach: no call after the one that stopped it");
}

int main(void)
{
	static struct obj objs[N];
	struct ipmap m;
	struct obj stranger = { .ip = key(N + 7) };
	uint64_t rnd = 0x243f6a8885a308d3ULL;
	int ok_all = 1;

	ipmap_init(&m);
	ok(ipmap_find(&m, &stranger.ip) == NULL, "an empty map finds nothing");
	{
		struct walk w = { 0, 1 };

		ok(ipmap_foreach(&m, visit, &w) == 0 && w.calls == 0,
		   "foreach on a map never allocated: no call");
	}
	ipmap_del(&m, &stranger); /* nothing to do, no crash */
	is_int(ipmap_reserve(&m, 100), 0, "reserve");
	ok(m.cap >= 134 && (m.cap & (m.cap - 1)) == 0, "room for 100 at 3/4, a power of two");

	for (size_t i = 0; i < N; i++) {
		objs[i].ip = key((uint32_t)(i * 2654435761u));
		if (ipmap_add(&m, &objs[i]) != 0)
			ok_all = 0;
		objs[i].in_map = 1;
	}
	ok(ok_all, "%d objects added, the map growing as needed", N);
	is_int((int)m.count, N, "count");
	ok(m.count * 4 <= m.cap * 3, "at most 3/4 full (%zu of %zu)", m.count, m.cap);
	ok(consistent(&m, objs, N), "every object found by an equal key");
	ok(ipmap_find(&m, &stranger.ip) == NULL, "a key never added is not found");

	/* random deletions and re-additions, checked against the model */
	ok_all = 1;
	for (int round = 0; round < 6; round++) {
		for (int k = 0; k < N / 2; k++) {
			size_t i;

			rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
			i = (size_t)(rnd >> 33) % N;
			if (objs[i].in_map) {
				ipmap_del(&m, &objs[i]);
				objs[i].in_map = 0;
			} else if (round % 2) {
				if (ipmap_add(&m, &objs[i]) != 0)
					ok_all = 0;
				objs[i].in_map = 1;
			}
		}
		if (!consistent(&m, objs, N))
			ok_all = 0;
	}
	ok(ok_all, "6 rounds of random deletions and additions keep every key reachable");
	test_foreach(&m, objs, N);

	/* an object with an equal key but another address is not deleted in its place */
	for (size_t i = 0; i < N; i++) {
		if (objs[i].in_map) {
			struct obj twin = { .ip = objs[i].ip };
			size_t before = m.count;

			ipmap_del(&m, &twin);
			ok(m.count == before && ipmap_find(&m, &objs[i].ip) == &objs[i],
			   "deletion is by object, not by key");
			break;
		}
	}

	for (size_t i = 0; i < N; i++) {
		if (objs[i].in_map)
			ipmap_del(&m, &objs[i]);
		objs[i].in_map = 0;
	}
	is_int((int)m.count, 0, "all deleted");
	ok(consistent(&m, objs, N), "nothing found after deleting everything");
	ipmap_free(&m);
	ok(m.slot == NULL && m.cap == 0, "freed");
	return done_testing();
}
