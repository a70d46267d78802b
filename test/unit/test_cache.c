/* test_cache.c - the verdict cache: put/get/replace/del for both families, growth to a
 * million entries, deletion checked against a reference model, foreach, memory, and
 * one writer against readers on other threads (the lookup thread and the answering
 * loops), and two writers (the lookup thread and the main loop) reading as writers,
 * which the ThreadSanitizer build checks for races. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "shared.h"
#include "tap.h"
#include "testutil.h"

static struct verdict vd(uint8_t mask, uint8_t flags, uint32_t checked)
{
	struct verdict v = { .mask = mask, .flags = flags, .checked = checked };

	return v;
}

static int same(const struct verdict *a, const struct verdict *b)
{
	return a->mask == b->mask && a->flags == b->flags && a->checked == b->checked;
}

/* xorshift64*: reproducible, no libc state. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void test_basic(void)
{
	struct cache *c = cache_new();
	struct ipaddr a = v4(0xBCD66A5D), b = v4(0), x = v6(1), y = v6(2);
	struct verdict v, w;

	ok(c != NULL, "cache_new");
	is_int(cache_count(c), 0, "new cache is empty");
	is_int(cache_get(c, &a, &v), -ENOENT, "get from an empty cache: -ENOENT");
	is_int(cache_del(c, &a), -ENOENT, "del from an empty cache: -ENOENT");

	w = vd(VERDICT_BIT(VERDICT_VPN) | VERDICT_BIT(VERDICT_OPENVPN443), 0, 1700000000);
	is_int(cache_put(c, &a, &w), 0, "put v4");
	memset(&v, 0xaa, sizeof(v));
	is_int(cache_get(c, &a, &v), 0, "get v4");
	ok(same(&v, &w), "v4 verdict read back");
	is_int(cache_get(c, &b, &v), -ENOENT, "0.0.0.0 absent");

	w = vd(0, VERDICT_F_UNKNOWN, 5);
	is_int(cache_put(c, &b, &w), 0, "put 0.0.0.0 (an all-zero key is a key too)");
	is_int(cache_get(c, &b, &v), 0, "get 0.0.0.0");
	ok(same(&v, &w), "0.0.0.0 verdict read back");

	w = vd(VERDICT_BIT(VERDICT_TOR), 0, 1700000100);
	is_int(cache_put(c, &a, &w), 0, "replace v4");
	is_int(cache_get(c, &a, &v), 0, "get replaced v4");
	ok(same(&v, &w), "replaced v4 verdict read back");
	is_int(cache_count(c), 2, "replace does not add");

	w = vd(VERDICT_BIT(VERDICT_HOSTING), 0, 42);
	is_int(cache_put(c, &x, &w), 0, "put v6");
	is_int(cache_get(c, &x, &v), 0, "get v6");
	ok(same(&v, &w), "v6 verdict read back");
	is_int(cache_get(c, &y, &v), -ENOENT, "other v6 absent");
	w = vd(VERDICT_ALL, 0, 43);
	is_int(cache_put(c, &x, &w), 0, "replace v6");
	is_int(cache_get(c, &x, &v), 0, "get replaced v6");
	ok(same(&v, &w), "replaced v6 verdict read back");
	is_int(cache_count(c), 3, "count with v4 and v6");

	/* ::ffff:188.214.106.93 is the v4 key; ::188.214.106.93 (v4-compatible) is not. */
	x = a;
	x.b[10] = x.b[11] = 0;
	is_int(cache_get(c, &x, &v), -ENOENT, "::a.b.c.d is not the mapped IPv4 address");

	is_int(cache_del(c, &a), 0, "del v4");
	is_int(cache_get(c, &a, &v), -ENOENT, "deleted v4 gone");
	is_int(cache_del(c, &a), -ENOENT, "del again: -ENOENT");
	x = v6(1);
	is_int(cache_del(c, &x), 0, "del v6");
	is_int(cache_get(c, &x, &v), -ENOENT, "deleted v6 gone");
	is_int(cache_get(c, &b, &v), 0, "the other entry is still there");
	is_int(cache_count(c), 1, "count after deletions");
	ok(cache_memory(c) > 0, "cache_memory counts the tables");
	cache_free(c);
	cache_free(NULL);
}

/* Random puts, replaces, deletes and gets over a small key space (so probe runs are
 * long and deletions shift a lot), each checked against a plain array. */
struct model {
	int present;
	struct verdict v;
};

static void stress(int fam6, unsigned nkeys, unsigned nops, uint64_t seed)
{
	struct cache *c = cache_new();
	struct model *m = calloc(nkeys, sizeof(*m));
	unsigned op, i, bad_get = 0, bad_put = 0, bad_del = 0, bad_final = 0;
	size_t count = 0;
	uint64_t s = seed;

	for (op = 0; op < nops; op++) {
		uint64_t r = rnd(&s);
		unsigned k = (unsigned)(r % nkeys);
		/* keys spread over the address space, not consecutive */
		uint32_t key = (uint32_t)(k * 2654435761u);
		struct ipaddr a = fam6 ? v6(key) : v4(key);
		struct verdict v;
		int rc;

		switch ((r >> 32) % 4) {
		case 0:
		case 1:
			v = vd((uint8_t)(r >> 40) & VERDICT_ALL, (uint8_t)(r >> 48) & 1,
			       (uint32_t)(r >> 8));
			if (cache_put(c, &a, &v) != 0)
				bad_put++;
			if (!m[k].present)
				count++;
			m[k].present = 1;
			m[k].v = v;
			break;
		case 2:
			rc = cache_del(c, &a);
			if (rc != (m[k].present ? 0 : -ENOENT))
				bad_del++;
			if (m[k].present)
				count--;
			m[k].present = 0;
			break;
		default:
			rc = cache_get(c, &a, &v);
			if (m[k].present ? rc != 0 || !same(&v, &m[k].v) : rc != -ENOENT)
				bad_get++;
		}
		if (cache_count(c) != count)
			bad_final++;
	}
	for (i = 0; i < nkeys; i++) {
		uint32_t key = (uint32_t)(i * 2654435761u);
		struct ipaddr a = fam6 ? v6(key) : v4(key);
		struct verdict v;
		int rc = cache_get(c, &a, &v);

		if (m[i].present ? rc != 0 || !same(&v, &m[i].v) : rc != -ENOENT)
			bad_final++;
	}
	is_int(bad_put, 0, fam6 ? "v6 stress: puts succeed" : "v4 stress: puts succeed");
	is_int(bad_del, 0, fam6 ? "v6 stress: del agrees with the model"
				: "v4 stress: del agrees with the model");
	is_int(bad_get, 0, fam6 ? "v6 stress: get agrees with the model"
				: "v4 stress: get agrees with the model");
	is_int(bad_final, 0, fam6 ? "v6 stress: count and final contents agree"
				  : "v4 stress: count and final contents agree");
	free(m);
	cache_free(c);
}

struct walk {
	unsigned n4, n6, bad;
	uint32_t stop_after;
};

static int walk_fn(void *arg, const struct ipaddr *ip, const struct verdict *v)
{
	struct walk *w = arg;
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(ip->b, mapped, 12) == 0) {
		uint32_t h = (uint32_t)ip->b[12] << 24 | (uint32_t)ip->b[13] << 16 |
			     (uint32_t)ip->b[14] << 8 | ip->b[15];

		/* the test stores checked = address */
		if (v->checked != h)
			w->bad++;
		w->n4++;
	} else {
		if (v->mask != VERDICT_BIT(VERDICT_PROXY))
			w->bad++;
		w->n6++;
	}
	if (w->stop_after && w->n4 + w->n6 == w->stop_after)
		return 7;
	return 0;
}

static void test_foreach(void)
{
	struct cache *c = cache_new();
	struct walk w = { 0 };
	uint32_t i;

	for (i = 1; i <= 300; i++) {
		struct ipaddr a = v4(i * 7919u);
		struct verdict v = vd(VERDICT_BIT(VERDICT_VPN), 0, i * 7919u);

		cache_put(c, &a, &v);
	}
	for (i = 1; i <= 50; i++) {
		struct ipaddr a = v6(i);
		struct verdict v = vd(VERDICT_BIT(VERDICT_PROXY), 0, i);

		cache_put(c, &a, &v);
	}
	is_int(cache_foreach(c, walk_fn, &w), 0, "foreach returns 0 when done");
	is_int(w.n4, 300, "foreach visits every v4 entry");
	is_int(w.n6, 50, "foreach visits every v6 entry");
	is_int(w.bad, 0, "foreach hands the right verdict with each address");
	memset(&w, 0, sizeof(w));
	w.stop_after = 10;
	is_int(cache_foreach(c, walk_fn, &w), 7, "foreach stops and returns fn's value");
	is_int(w.n4 + w.n6, 10, "foreach stopped after fn said so");
	cache_free(c);
}

static void test_million(void)
{
	struct cache *c = cache_new();
	const uint32_t n = 1000000;
	uint32_t i, missing = 0, wrong = 0, gone = 0, kept = 0;
	double per;
	struct walk w = { 0 };

	for (i = 0; i < n; i++) {
		/* odd multiplier: a bijection, so n distinct addresses */
		uint32_t ip = i * 2246822519u + 0x5bd1e995u;
		struct ipaddr a = v4(ip);
		struct verdict v = vd((uint8_t)(i & VERDICT_ALL), 0, ip);

		if (cache_put(c, &a, &v) != 0)
			break;
		if (i + 1 == 100000) {
			per = (double)cache_memory(c) / 100000;
			diag("IPv4 cache: %.1f bytes per entry at 100k (%zu bytes)", per,
			     cache_memory(c));
			ok(per <= 64, "at most 64 bytes per IPv4 verdict at 100k");
		}
	}
	is_int(i, n, "a million IPv4 puts succeed");
	is_int(cache_count(c), n, "count is a million");
	per = (double)cache_memory(c) / n;
	diag("IPv4 cache: %.1f bytes per entry at 1M (%zu bytes)", per, cache_memory(c));
	ok(per <= 64, "at most 64 bytes per IPv4 verdict at 1M");
	for (i = 0; i < n; i++) {
		uint32_t ip = i * 2246822519u + 0x5bd1e995u;
		struct ipaddr a = v4(ip);
		struct verdict v;

		if (cache_get(c, &a, &v) != 0)
			missing++;
		else if (v.checked != ip || v.mask != (i & VERDICT_ALL))
			wrong++;
	}
	is_int(missing, 0, "every one of the million is found");
	is_int(wrong, 0, "every one of the million has its verdict");
	is_int(cache_foreach(c, walk_fn, &w), 0, "foreach over a million");
	is_int(w.n4, n, "foreach visits a million");
	is_int(w.bad, 0, "foreach verdicts right");

	/* delete every third, then the others must all still be there */
	for (i = 0; i < n; i += 3) {
		struct ipaddr a = v4(i * 2246822519u + 0x5bd1e995u);

		cache_del(c, &a);
	}
	for (i = 0; i < n; i++) {
		struct ipaddr a = v4(i * 2246822519u + 0x5bd1e995u);
		struct verdict v;
		int rc = cache_get(c, &a, &v);

		if (i % 3 == 0)
			gone += rc == -ENOENT;
		else
			kept += rc == 0 && v.checked == i * 2246822519u + 0x5bd1e995u;
	}
	is_int(gone, (n + 2) / 3, "deleted entries are gone");
	is_int(kept, n - (n + 2) / 3, "the others are still found");
	is_int(cache_count(c), n - (n + 2) / 3, "count after deleting a third");
	cache_free(c);
}

static void test_v6_growth(void)
{
	struct cache *c = cache_new();
	const uint32_t n = 200000;
	uint32_t i, missing = 0;

	for (i = 0; i < n; i++) {
		struct ipaddr a = v6(i);
		struct verdict v = vd(VERDICT_BIT(VERDICT_SCANNER), 0, i);

		if (cache_put(c, &a, &v) != 0)
			break;
	}
	is_int(i, n, "200k IPv6 puts succeed");
	for (i = 0; i < n; i++) {
		struct ipaddr a = v6(i);
		struct verdict v;

		if (cache_get(c, &a, &v) != 0 || v.checked != i)
			missing++;
	}
	is_int(missing, 0, "every IPv6 entry found after growth");
	diag("IPv6 cache: %.1f bytes per entry at 200k",
	     (double)cache_memory(c) / n);
	ok((double)cache_memory(c) / n <= 128, "IPv6 entries stay compact");
	cache_free(c);
}

/* ---- one writer, readers on other threads ---- */

#define CONC_N 60000u       /* keys the writer adds, from an empty cache: it grows 11 times */
#define CONC_DEL 4096u      /* keys added and deleted again, beyond CONC_N */
#define CONC_READERS 2

struct conc {
	struct cache *c;
	struct shared sh;
	unsigned done;          /* keys [0, done) are in: release by the writer */
	unsigned finished;      /* the writer is done */
};

struct conc_reader {
	struct conc *k;
	int foreach;            /* walk the whole cache too, as the store's refill does */
	unsigned long looked, missing, torn, walked;
};

static struct ipaddr conc_ip(unsigned i)
{
	/* every fourth key an IPv6 one: both tables grow under the readers */
	return i % 4 == 3 ? v6(i) : v4(i * 2246822519u + 0x5bd1e995u);
}

/* The first verdict and its replacement differ in every field: a reader that saw
 * half of each would see neither. */
static struct verdict conc_v(unsigned i, int second)
{
	return second ? vd((uint8_t)(~i & VERDICT_ALL), VERDICT_F_PROBED, ~i)
		      : vd((uint8_t)(i & VERDICT_ALL), 0, i);
}

static int conc_whole(unsigned i, const struct verdict *v)
{
	struct verdict a = conc_v(i, 0), b = conc_v(i, 1);

	return same(v, &a) || same(v, &b);
}

static int conc_walk(void *arg, const struct ipaddr *ip, const struct verdict *v)
{
	struct conc_reader *r = arg;
	/* the index is in the verdict (checked is i or ~i) */
	unsigned i = v->flags ? ~v->checked : v->checked;
	struct ipaddr want = conc_ip(i);

	/* read by the writer while this runs (test_concurrent) */
	__atomic_fetch_add(&r->walked, 1, __ATOMIC_RELAXED);
	if (memcmp(want.b, ip->b, sizeof(ip->b)) != 0 || !conc_whole(i, v))
		r->torn++;
	return 0;
}

static void *conc_read(void *arg)
{
	struct conc_reader *r = arg;
	struct conc *k = r->k;
	uint64_t seed = 0x853c49e6748fea9bULL + (uint64_t)r->foreach;
	struct shared_view view;
	unsigned batch;

	while (!__atomic_load_n(&k->finished, __ATOMIC_ACQUIRE)) {
		/* a batch under the read side, as host_enter takes it */
		shared_read_begin(&k->sh, &view);
		for (batch = 0; batch < 64; batch++) {
			unsigned d = __atomic_load_n(&k->done, __ATOMIC_ACQUIRE);
			unsigned i = (unsigned)(rnd(&seed) % (CONC_N + CONC_DEL));
			struct ipaddr a = conc_ip(i);
			struct verdict v;
			int rc = cache_get(k->c, &a, &v);

			r->looked++;
			if (rc == 0 && !conc_whole(i, &v))
				r->torn++;
			else if (rc != 0 && i < d)
				r->missing++;  /* added before this lookup began, so it must be found */
		}
		/* a walk at once (until one met an entry), then every 4096 lookups */
		if (r->foreach && (!r->walked || r->looked % 4096 == 0))
			cache_foreach(k->c, conc_walk, r);
		shared_read_end(&k->sh);
	}
	return NULL;
}

static void test_concurrent(void)
{
	struct conc k = { 0 };
	struct conc_reader rd[CONC_READERS];
	pthread_t th[CONC_READERS];
	unsigned i, wrong = 0, failed = 0;
	unsigned long looked = 0, missing = 0, torn = 0, walked = 0;
	int t;

	k.c = cache_new();
	ok(k.c && shared_init(&k.sh) == 0, "concurrent: cache and lock");
	cache_set_shared(k.c, &k.sh);
	for (t = 0; t < CONC_READERS; t++) {
		rd[t] = (struct conc_reader){ .k = &k, .foreach = t == 0 };
		pthread_create(&th[t], NULL, conc_read, &rd[t]);
	}
	/* the writer: add, replace every other one, add and delete some more */
	for (i = 0; i < CONC_N; i++) {
		struct ipaddr a = conc_ip(i);
		struct verdict v = conc_v(i, 0);

		failed += cache_put(k.c, &a, &v) != 0;
		__atomic_store_n(&k.done, i + 1, __ATOMIC_RELEASE);
		/* Halfway, until the walker has met an entry (up to 10 s): on a busy
		 * machine it may not run at all before the writes end. */
		for (int w = 0; i == CONC_N / 2 && w < 10000 &&
		     !__atomic_load_n(&rd[0].walked, __ATOMIC_RELAXED); w++)
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		if (i >= 1000 && i % 2 == 0) {
			struct ipaddr b = conc_ip(i - 1000);
			struct verdict w = conc_v(i - 1000, 1);

			failed += cache_put(k.c, &b, &w) != 0;
		}
		if (i % 16 == 0) {
			struct ipaddr x = conc_ip(CONC_N + (i / 16) % CONC_DEL);
			struct verdict w = conc_v(CONC_N + (i / 16) % CONC_DEL, 0);

			if (cache_put(k.c, &x, &w) != 0 || cache_del(k.c, &x) != 0)
				failed++;
		}
	}
	__atomic_store_n(&k.finished, 1, __ATOMIC_RELEASE);
	for (t = 0; t < CONC_READERS; t++) {
		pthread_join(th[t], NULL);
		looked += rd[t].looked;
		missing += rd[t].missing;
		torn += rd[t].torn;
		walked += rd[t].walked;
	}
	is_int(failed, 0, "concurrent: every put and del of the writer succeeds");
	ok(looked > 0, "concurrent: the readers looked up %lu keys while the writer wrote",
	   looked);
	is_int(missing, 0, "concurrent: a key added before a lookup is always found");
	is_int(torn, 0, "concurrent: every verdict read is one the writer put, whole");
	ok(walked > 0, "concurrent: foreach visited %lu entries during the writes", walked);
	is_int(cache_count(k.c), CONC_N, "concurrent: the deleted keys are gone from the count");
	for (i = 0; i < CONC_N; i++) {
		struct ipaddr a = conc_ip(i);
		struct verdict v, want = conc_v(i, i + 1000 < CONC_N && i % 2 == 0);

		if (cache_get(k.c, &a, &v) != 0 || !same(&v, &want))
			wrong++;
	}
	is_int(wrong, 0, "concurrent: afterwards every key holds its last verdict");
	cache_free(k.c);
	shared_destroy(&k.sh);
}

/* ---- the writers' own reads (cache_get_locked, cache_update, cache_put_new) ---- */

static int add_tor(void *arg, struct verdict *v)
{
	int *calls = arg;

	(*calls)++;
	if (v->mask & VERDICT_BIT(VERDICT_TOR))
		return 0;
	v->mask |= VERDICT_BIT(VERDICT_TOR);
	return 1;
}

static int refuse(void *arg, struct verdict *v)
{
	(void)arg;
	v->mask = 0;                 /* not stored: the error is returned */
	return -EPERM;
}

static void test_writer_reads(void)
{
	struct cache *c = cache_new();
	struct ipaddr a = v4(0xC0000205), x = v6(7);
	struct verdict v, w = vd(VERDICT_BIT(VERDICT_VPN), 0, 1700000000);
	uint8_t from = 0xff;
	int calls = 0;

	is_int(cache_get_locked(c, &a, &v, &from), -ENOENT, "get_locked: absent");
	is_int(cache_update(c, &a, add_tor, &calls), -ENOENT, "update: absent is -ENOENT");
	is_int(calls, 0, "update: fn not called for an absent IP");
	is_int(cache_put_new(c, &a, &w, 3), 0, "put_new: absent, put");
	is_int(cache_get_locked(c, &a, &v, &from), 0, "get_locked: present");
	ok(same(&v, &w) && from == 3, "put_new keeps the verdict and its providers");
	is_int(cache_update(c, &a, add_tor, &calls), 0, "update: changed");
	is_int(cache_update(c, &a, add_tor, &calls), 0, "update: unchanged");
	is_int(calls, 2, "update: fn called once each");
	cache_get_from(c, &a, &v, &from);
	is_int(v.mask, VERDICT_BIT(VERDICT_VPN) | VERDICT_BIT(VERDICT_TOR),
	       "update: fn's change stored");
	is_int(from, 3, "update: the providers stay");
	is_int(cache_update(c, &a, refuse, NULL), -EPERM, "update: fn's error returned");
	cache_get(c, &a, &v);
	ok(v.mask != 0, "update: nothing stored when fn fails");
	is_int(cache_put_new(c, &a, &w, 1), -EEXIST, "put_new: present is -EEXIST");
	cache_get_from(c, &a, &v, &from);
	ok(v.mask == (VERDICT_BIT(VERDICT_VPN) | VERDICT_BIT(VERDICT_TOR)) && from == 3,
	   "put_new: the newer verdict is not overwritten");
	is_int(cache_put_new(c, &x, &w, -1), 0, "put_new: IPv6");
	is_int(cache_get_locked(c, &x, &v, NULL), 0, "get_locked: IPv6");
	cache_free(c);
}

/* cache_del_many over several chunks, both families, some absent. */
static void test_del_many(void)
{
	struct cache *c = cache_new();
	struct shared sh;
	struct ipaddr *ips = calloc(5000, sizeof(*ips));
	struct verdict v = vd(VERDICT_BIT(VERDICT_TOR), 0, 1700000000);
	unsigned wrong = 0, i;

	ok(c && ips && shared_init(&sh) == 0, "del_many: cache, lock, room");
	cache_set_shared(c, &sh);
	for (i = 0; i < 5000; i++) {
		ips[i] = i % 3 == 2 ? v6(i) : v4(0x0a000000u + i);
		if (i < 4000)
			cache_put(c, &ips[i], &v);
	}
	/* the first 3000 and 1000 that were never put */
	memmove(&ips[3000], &ips[4000], 1000 * sizeof(*ips));
	is_int(cache_del_many(c, ips, 4000), 3000, "del_many: the ones that were there");
	is_int(cache_count(c), 1000, "del_many: the others stay");
	for (i = 0; i < 5000; i++) {
		struct ipaddr a = i % 3 == 2 ? v6(i) : v4(0x0a000000u + i);
		int there = cache_get(c, &a, &v) == 0;

		wrong += there != (i >= 3000 && i < 4000);
	}
	is_int(wrong, 0, "del_many: exactly the ones asked are gone");
	is_int(cache_del_many(c, ips, 0), 0, "del_many: none");
	free(ips);
	cache_free(c);
	shared_destroy(&sh);
}

/* Two writers, as the lookup thread and the main loop are: one adds (the tables grow
 * and are freed under it) and reads back what it added with cache_get_locked, the
 * other adds and deletes other keys (entries move). Neither holds the read side; the
 * ThreadSanitizer build reports a reader that follows a moved entry or a freed table. */
#define TWO_N 40000u
#define TWO_DEL 2048u

struct two {
	struct cache *c;
	unsigned finished;
	unsigned long failed, exists;
};

static void *two_deleter(void *arg)
{
	struct two *k = arg;
	unsigned j = 0;

	while (!__atomic_load_n(&k->finished, __ATOMIC_ACQUIRE)) {
		unsigned n = TWO_N + j++ % TWO_DEL;
		struct ipaddr x = conc_ip(n);
		struct verdict w = conc_v(n, 0);

		if (cache_put_new(k->c, &x, &w, -1) != 0 || cache_put_new(k->c, &x, &w, -1) !=
		    -EEXIST)
			k->failed++;
		else
			k->exists++;
		if (j % 2 ? cache_del(k->c, &x) != 0 : cache_del_many(k->c, &x, 1) != 1)
			k->failed++;
	}
	return NULL;
}

static void test_two_writers(void)
{
	struct two k = { 0 };
	struct shared sh;
	pthread_t th;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	unsigned long missing = 0, torn = 0, failed = 0;
	unsigned i;

	k.c = cache_new();
	ok(k.c && shared_init(&sh) == 0, "two writers: cache and lock");
	cache_set_shared(k.c, &sh);
	pthread_create(&th, NULL, two_deleter, &k);
	for (i = 0; i < TWO_N; i++) {
		struct ipaddr a = conc_ip(i), b;
		struct verdict v = conc_v(i, 0);
		unsigned j = (unsigned)(rnd(&seed) % (i + 1));

		failed += cache_put(k.c, &a, &v) != 0;
		b = conc_ip(j);
		if (cache_get_locked(k.c, &b, &v, NULL) != 0)
			missing++;
		else if (!conc_whole(j, &v))
			torn++;
	}
	__atomic_store_n(&k.finished, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	is_int(failed + k.failed, 0, "two writers: every put, put_new and del as expected");
	ok(k.exists > 0, "two writers: the other writer deleted %lu keys meanwhile", k.exists);
	is_int(missing, 0, "two writers: a key added is always found by its writer");
	is_int(torn, 0, "two writers: every verdict read whole");
	is_int(cache_count(k.c), TWO_N, "two writers: only the deleted keys are gone");
	cache_free(k.c);
	shared_destroy(&sh);
}

int main(void)
{
	test_basic();
	stress(0, 3000, 400000, 0x9e3779b97f4a7c15ULL);
	stress(1, 3000, 400000, 0x2545f4914f6cdd1dULL);
	/* a tiny key space: the table stays at its smallest size, runs wrap around */
	stress(0, 40, 100000, 12345);
	stress(1, 40, 100000, 67890);
	test_foreach();
	test_v6_growth();
	test_million();
	test_concurrent();
	test_writer_reads();
	test_del_many();
	test_two_writers();
	return done_testing();
}
