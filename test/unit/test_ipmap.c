/* test_ipmap.c - the IP-keyed index of intel.c's lookups: add, find, delete checked
 * against a reference model through growth and long runs of deletions (the backward
 * shift must keep every remaining key reachable), deletion of absent objects. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipmap.h"
#include "tap.h"

struct obj {
	struct ipaddr ip; /* first, as ipmap wants */
	int in_map;
};

#define N 20000

static struct ipaddr key(uint32_t n)
{
	struct ipaddr a;

	memset(&a, 0, sizeof(a));
	if (n & 1) {    /* IPv4-mapped */
		a.b[10] = a.b[11] = 0xff;
	} else {        /* 2001:db8::/32 */
		a.b[0] = 0x20;
		a.b[1] = 0x01;
		a.b[2] = 0x0d;
		a.b[3] = 0xb8;
	}
	a.b[12] = (uint8_t)(n >> 24);
	a.b[13] = (uint8_t)(n >> 16);
	a.b[14] = (uint8_t)(n >> 8);
	a.b[15] = (uint8_t)n;
	return a;
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

int main(void)
{
	static struct obj objs[N];
	struct ipmap m;
	struct obj stranger = { .ip = key(N + 7) };
	uint64_t rnd = 0x243f6a8885a308d3ULL;
	int ok_all = 1;

	ipmap_init(&m);
	ok(ipmap_find(&m, &stranger.ip) == NULL, "an empty map finds nothing");
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
