/* lists.c - static lists in rbldnsd's ip4set / ip4trie / ip6trie text formats.
 *
 * Loading collects every entry as a prefix (ranges are split into CIDR blocks) with
 * a reference to its value, sorts the prefixes by (start, length, line order) and
 * sweeps them once with a stack of the enclosing prefixes: the result is a partition
 * of the address space into intervals, each naming "miss", "excluded" or a value, so
 * that a lookup is a single binary search over the interval starts. The line syntax
 * is lists_parse.c's. */
#include "lists.h"
#include "lists_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096
#define STACK_MAX 132 /* nested prefixes of distinct lengths 0..128, plus one */
#define REPORT_MAX 100 /* line reports per file; a binary file must not flood the log */

/* Interval references: values[ref - REF_VALUE0] for the listed ones. */
#define REF_MISS 0u
#define REF_EXCL 1u
#define REF_VALUE0 2u

/* IPv4 prefix lengths are kept on the IPv6 scale (/24 = 120), so that an IPv6 prefix
 * covering ::ffff:0:0/96 sorts as less specific than every IPv4 prefix. */
#define V4LEN(bits) ((bits) + 96u)

struct u128 {
	uint64_t hi, lo;
};

struct ent4 {
	uint64_t key; /* start << 32 | length (IPv6 scale) */
	uint32_t seq, ref;
};

struct ent6 {
	struct u128 start;
	uint32_t seq, ref;
	uint32_t len;
};

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	char data[];
};

/* Above this many IPv4 intervals, lookups start from an index by the address's top
 * 16 bits: a binary search over a million intervals touches some 20 cache lines, one
 * within the index's bucket a handful (256 KiB per set of lists). */
#define INDEX4_MIN 1024
#define INDEX4_SLOTS (1u << 16)

struct lists {
	size_t n4, n6;
	uint32_t *start4, *ref4;
	uint32_t *idx4;   /* NULL, or INDEX4_SLOTS + 1 row numbers: idx4[h] is how many
			   * intervals start below h << 16 */
	struct u128 *start6;
	uint32_t *ref6;
	struct lists_value *values;
	size_t nvalues;
	struct arena_block *strings; /* interned TXT templates */
	size_t entries, bytes;
};

struct strslot {
	const char *s;
	uint32_t hash, len;
	uint32_t values; /* first value with this TXT, index + 1 */
};

/* Build-time state, freed when lists_load returns. */
struct loader {
	struct lists *l;
	lists_report_fn report;
	void *arg;
	const char *file;
	unsigned line;
	struct lists_parse parse;
	unsigned reported, unreported, unreported_level;
	size_t skipped;    /* lines skipped as bad, every one, reported or not */

	struct ent4 *e4;
	struct ent6 *e6;
	size_t n4, cap4, n6, cap6;
	uint32_t seq;

	struct strslot *strs; /* interned TXT: open addressing */
	size_t nstrs, capstrs;
	uint32_t *vnext;      /* next value with the same TXT, index + 1 */
	size_t capvnext, capvalues;

	uint32_t def_ref;  /* 127.0.0.2, no text */
	uint32_t file_ref; /* the current file's default */
	int err;           /* the load failed: finish() only cleans up */
};

/* Every report passes here: after REPORT_MAX line reports in a file the rest are
 * only counted, for one summary at its end. A bad line gets exactly one error (the
 * parser stops at it), so the errors on lines count the lines skipped, whether they
 * were reported or not: feed_parse.c refuses a body on that count. */
static void tell(struct loader *ld, int level, const char *msg)
{
	if (ld->line && level == 0)
		ld->skipped++;
	if (!ld->report)
		return;
	if (ld->line && ++ld->reported > REPORT_MAX) {
		ld->unreported++;
		if (level < (int)ld->unreported_level)
			ld->unreported_level = (unsigned)level;
		return;
	}
	ld->report(ld->arg, ld->file, ld->line, level, msg);
}

__attribute__((format(printf, 3, 4)))
static void say(struct loader *ld, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!ld->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tell(ld, level, msg);
}

static void parse_say(void *arg, int level, const char *msg)
{
	tell(arg, level, msg);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 64;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

/* ---- interning: TXT strings and (A, TXT) values ---- */

static uint32_t hash_bytes(const void *p, size_t len, uint32_t h)
{
	const uint8_t *b = p;

	while (len--)
		h = (h ^ *b++) * 16777619u; /* FNV-1a */
	return h;
}

static char *arena_copy(struct lists *l, const char *s, size_t len)
{
	struct arena_block *b = l->strings;
	char *p;

	if (!b || b->cap - b->used < len + 1) {
		size_t cap = 65536;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->next = l->strings;
		b->used = 0;
		b->cap = cap;
		l->strings = b;
		l->bytes += sizeof(*b) + cap;
	}
	p = b->data + b->used;
	memcpy(p, s, len);
	p[len] = '\0';
	b->used += len + 1;
	return p;
}

/* The slot of TXT s[0..len), copied into the lists the first time it is seen. */
static struct strslot *intern(struct loader *ld, const char *s, size_t len)
{
	uint32_t h = hash_bytes(s, len, 2166136261u);
	size_t i, j, mask;
	char *copy;

	if ((ld->nstrs + 1) * 2 > ld->capstrs) {
		size_t ncap = ld->capstrs ? ld->capstrs * 2 : 256;
		struct strslot *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return NULL;
		for (j = 0; j < ld->capstrs; j++) {
			for (i = ld->strs[j].hash & (ncap - 1); ld->strs[j].s && ns[i].s;
			     i = (i + 1) & (ncap - 1))
				;
			if (ld->strs[j].s)
				ns[i] = ld->strs[j];
		}
		free(ld->strs);
		ld->strs = ns;
		ld->capstrs = ncap;
	}
	mask = ld->capstrs - 1;
	for (i = h & mask; ld->strs[i].s; i = (i + 1) & mask)
		if (ld->strs[i].hash == h && ld->strs[i].len == len &&
		    memcmp(ld->strs[i].s, s, len) == 0)
			return &ld->strs[i];
	copy = arena_copy(ld->l, s, len);
	if (!copy)
		return NULL;
	ld->strs[i] = (struct strslot){ copy, h, (uint32_t)len, 0 };
	ld->nstrs++;
	return &ld->strs[i];
}

/* The reference of the value (a, TXT s[0..len)): the values that share a TXT are
 * chained from its slot, and they are few (one per A code). 0 when out of memory. */
static uint32_t value_ref(struct loader *ld, const uint8_t a[4], const char *s, size_t len)
{
	struct strslot *ss = intern(ld, s, len);
	struct lists *l = ld->l;
	uint32_t v;

	if (!ss)
		return 0;
	for (v = ss->values; v; v = ld->vnext[v - 1])
		if (memcmp(l->values[v - 1].a, a, 4) == 0)
			return v - 1 + REF_VALUE0;
	if (grow((void **)&l->values, &ld->capvalues, l->nvalues + 1, sizeof(*l->values)) < 0 ||
	    grow((void **)&ld->vnext, &ld->capvnext, l->nvalues + 1, sizeof(*ld->vnext)) < 0)
		return 0;
	memcpy(l->values[l->nvalues].a, a, 4);
	l->values[l->nvalues].txt = ss->s;
	ld->vnext[l->nvalues] = ss->values;
	ss->values = (uint32_t)++l->nvalues;
	return ss->values - 1 + REF_VALUE0;
}

/* ---- 128-bit keys ---- */

static struct u128 u128_from(const uint8_t b[16])
{
	struct u128 v = { 0, 0 };
	int i;

	for (i = 0; i < 8; i++) {
		v.hi = v.hi << 8 | b[i];
		v.lo = v.lo << 8 | b[8 + i];
	}
	return v;
}

static int u128_cmp(struct u128 a, struct u128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

/* The host bits of a /len prefix. */
static struct u128 u128_hostmask(unsigned len)
{
	struct u128 m;

	if (len < 64) {
		m.hi = ~0ull >> len;
		m.lo = ~0ull;
	} else {
		m.hi = 0;
		m.lo = len == 128 ? 0 : ~0ull >> (len - 64);
	}
	return m;
}

/* ---- collecting entries ---- */

static int add4(struct loader *ld, uint32_t start, unsigned len, uint32_t ref)
{
	if (grow((void **)&ld->e4, &ld->cap4, ld->n4 + 1, sizeof(*ld->e4)) < 0)
		return -ENOMEM;
	ld->e4[ld->n4++] = (struct ent4){ (uint64_t)start << 32 | len, ld->seq++, ref };
	return 0;
}

/* An IPv6 prefix (already masked). Inside ::ffff:0:0/96 it is an IPv4 prefix; one
 * that covers ::ffff:0:0/96 also covers every IPv4 address, less specifically. */
static int add6(struct loader *ld, struct u128 net, unsigned len, uint32_t ref)
{
	const struct u128 mapped = { 0, 0xffff00000000ull };
	struct u128 m = u128_hostmask(len);

	if (len >= 96 && net.hi == 0 && net.lo >> 32 == 0xffff)
		return add4(ld, (uint32_t)net.lo, len, ref);
	if (len < 96 && (mapped.hi & ~m.hi) == net.hi && (mapped.lo & ~m.lo) == net.lo &&
	    add4(ld, 0, len, ref) < 0)
		return -ENOMEM;
	if (grow((void **)&ld->e6, &ld->cap6, ld->n6 + 1, sizeof(*ld->e6)) < 0)
		return -ENOMEM;
	ld->e6[ld->n6++] = (struct ent6){ net, ld->seq++, ref, len };
	return 0;
}

static int add_range4(struct loader *ld, uint32_t lo, uint32_t hi, uint32_t ref)
{
	uint64_t a = lo, b = hi;

	while (a <= b) {
		unsigned k = a ? (unsigned)__builtin_ctz((uint32_t)a) : 32;

		while ((1ull << k) > b - a + 1)
			k--;
		if (add4(ld, (uint32_t)a, V4LEN(32 - k), ref) < 0)
			return -ENOMEM;
		a += 1ull << k;
	}
	return 0;
}

/* The reference of a value as written, its missing parts taken from def_ref.
 * 0 when out of memory. The A is copied: value_ref may move the values. */
static uint32_t resolve(struct loader *ld, const struct lists_parse_value *val,
			uint32_t def_ref)
{
	const struct lists_value *def = &ld->l->values[def_ref - REF_VALUE0];
	const char *txt = val->txt ? val->txt : def->txt; /* in the arena: stays */
	uint8_t a[4];

	memcpy(a, val->has_a ? val->a : def->a, 4);
	return value_ref(ld, a, txt, val->txt ? val->txtlen : strlen(txt));
}

/* One line (lists_parse.c reads it). Returns 0, or -ENOMEM. */
static int parse_line(struct loader *ld, char *s)
{
	struct lists_parse_entry e;
	uint32_t ref;

	switch (lists_parse_line(&ld->parse, s, &e)) {
	case LISTS_PARSE_NOTHING:
		return 0;
	case LISTS_PARSE_DEFAULT:
		ref = resolve(ld, &e.val, ld->def_ref);
		if (!ref)
			return -ENOMEM;
		ld->file_ref = ref;
		return 0;
	case LISTS_PARSE_ENTRY:
		break;
	}
	ref = e.excl ? REF_EXCL : ld->file_ref;
	if (e.has_val) {
		ref = resolve(ld, &e.val, ld->file_ref);
		if (!ref)
			return -ENOMEM;
	}
	ld->l->entries++;
	if (e.v6)
		return add6(ld, u128_from(e.net), e.len, ref);
	if (e.bits >= 0)
		return add4(ld, e.lo, V4LEN((unsigned)e.bits), ref);
	return add_range4(ld, e.lo, e.hi, ref);
}

/* Reads one line into buf (LINE_MAX_BYTES + 1). Returns 0 at the end of the file,
 * else 1 with *toolong / *nul telling what was wrong with it. */
static int read_line(FILE *f, char *buf, int *toolong, int *nul)
{
	size_t n = 0;
	int c, any = 0;

	*toolong = *nul = 0;
	while ((c = getc_unlocked(f)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (c == '\0')
			*nul = 1;
		if (n < LINE_MAX_BYTES)
			buf[n++] = (char)c;
		else
			*toolong = 1;
	}
	buf[n] = '\0';
	return any;
}

/* Open path for reading if it is a regular file of at most max bytes: a FIFO or a
 * device (a list replaced by a link to /dev/zero) would never end and hang the reload,
 * and a huge file would take the memory. NULL with *err set (and reported) otherwise. */
static FILE *open_list(struct loader *ld, const char *path, uint64_t max, int *err)
{
	struct stat sb;
	FILE *f;
	int fd;

	/* O_NONBLOCK: opening a FIFO with no writer would wait for one. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		*err = -errno;
		say(ld, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0) {
		*err = -errno;
		say(ld, 0, "cannot open: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		*err = -EINVAL;
		say(ld, 0, "not a regular file (%s): refused",
		    S_ISDIR(sb.st_mode) ? "a directory" : S_ISFIFO(sb.st_mode) ? "a FIFO" :
		    S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device" : "a special file");
		goto fail;
	}
	if ((uint64_t)sb.st_size > max) {
		*err = -EFBIG;
		say(ld, 0, "%llu bytes, more than max-list-size (%llu): refused",
		    (unsigned long long)sb.st_size, (unsigned long long)max);
		goto fail;
	}
	if (fcntl(fd, F_SETFL, 0) < 0 || !(f = fdopen(fd, "r"))) {
		*err = -errno;
		say(ld, 0, "cannot open: %s", strerror(errno));
		goto fail;
	}
	return f;
fail:
	close(fd);
	return NULL;
}

static int load_file(struct loader *ld, const char *path, uint64_t max)
{
	char *buf;
	int toolong, nul, err = 0;
	uint64_t bytes = 0;
	FILE *f;

	ld->file = path;
	ld->line = 0;
	f = open_list(ld, path, max, &err);
	if (!f)
		return err;
	buf = malloc(LINE_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	ld->file_ref = ld->def_ref;
	lists_parse_file(&ld->parse);
	ld->reported = ld->unreported = 0;
	ld->unreported_level = 1;
	while (read_line(f, buf, &toolong, &nul)) {
		ld->line++;
		/* A file that grows while it is read stops at the cap too. */
		bytes += strlen(buf) + 1;
		if (bytes > max + 1) {
			ld->line = 0;
			say(ld, 0, "grew past max-list-size (%llu bytes) while being read: refused",
			    (unsigned long long)max);
			err = -EFBIG;
			goto out;
		}
		if (toolong) {
			say(ld, 0, "line longer than %d bytes, skipped", LINE_MAX_BYTES);
			continue;
		}
		if (nul) {
			say(ld, 0, "NUL byte in line, skipped");
			continue;
		}
		err = parse_line(ld, buf);
		if (err < 0)
			goto out;
	}
	ld->line = 0;
	if (ld->unreported)
		say(ld, (int)ld->unreported_level, "%u more problems in this file not reported",
		    ld->unreported);
	if (ferror(f)) {
		err = errno ? -errno : -EIO;
		say(ld, 0, "read error: %s", strerror(-err));
	}
out:
	free(buf);
	fclose(f);
	return err;
}

/* ---- building the interval tables ---- */

static int cmp4(const void *x, const void *y)
{
	const struct ent4 *a = x, *b = y;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int cmp6(const void *x, const void *y)
{
	const struct ent6 *a = x, *b = y;
	int c = u128_cmp(a->start, b->start);

	if (c)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* From pos on (up to the next row), the value is ref: a row that starts at pos is
 * replaced, and a row with the value of the row before it is not added. */
static void set_row(struct lists *l, int v6, struct u128 pos, uint32_t ref)
{
	size_t *n = v6 ? &l->n6 : &l->n4;
	uint32_t *refs = v6 ? l->ref6 : l->ref4;

	if (*n && (v6 ? u128_cmp(l->start6[*n - 1], pos) == 0 : l->start4[*n - 1] == pos.lo)) {
		if (--*n && refs[*n - 1] == ref)
			return;
	} else if (*n && refs[*n - 1] == ref) {
		return;
	}
	if (v6)
		l->start6[*n] = pos;
	else
		l->start4[*n] = (uint32_t)pos.lo;
	refs[(*n)++] = ref;
}

/* The prefixes enclosing the sweep position, innermost on top. */
struct sweep {
	struct lists *l;
	int v6;
	size_t top;
	struct u128 end[STACK_MAX];
	uint32_t ref[STACK_MAX];
};

/* Close the prefixes that end before pos (all of them when last): after each end,
 * the value is the enclosing prefix's, or a miss. */
static void sweep_close(struct sweep *sw, struct u128 pos, int last)
{
	while (sw->top && (last || u128_cmp(sw->end[sw->top - 1], pos) < 0)) {
		struct u128 after = sw->end[--sw->top];

		if (sw->v6 ? ++after.lo == 0 && ++after.hi == 0 : ++after.lo > 0xffffffffull)
			continue; /* it ended at the last address */
		set_row(sw->l, sw->v6, after, sw->top ? sw->ref[sw->top - 1] : REF_MISS);
	}
}

/* Prefixes come sorted by (start, length): each one is inside the prefixes still
 * open after closing those that end before it. */
static void sweep_open(struct sweep *sw, struct u128 start, struct u128 end, uint32_t ref)
{
	sweep_close(sw, start, 0);
	sw->end[sw->top] = end;
	sw->ref[sw->top++] = ref;
	set_row(sw->l, sw->v6, start, ref);
}

/* Sort, keep the last line of each (start, length), then sweep. A prefix adds at most
 * two rows (at its start and after its end), plus the first row at 0. */
static int build(struct loader *ld)
{
	const struct u128 zero = { 0, 0 };
	struct lists *l = ld->l;
	struct sweep *sw;
	size_t i, n4 = 0, n6 = 0;

	if (ld->n4)
		qsort(ld->e4, ld->n4, sizeof(*ld->e4), cmp4);
	for (i = 0; i < ld->n4; i++) {
		if (n4 && ld->e4[n4 - 1].key == ld->e4[i].key)
			n4--;
		ld->e4[n4++] = ld->e4[i];
	}
	if (ld->n6)
		qsort(ld->e6, ld->n6, sizeof(*ld->e6), cmp6);
	for (i = 0; i < ld->n6; i++) {
		if (n6 && u128_cmp(ld->e6[n6 - 1].start, ld->e6[i].start) == 0 &&
		    ld->e6[n6 - 1].len == ld->e6[i].len)
			n6--;
		ld->e6[n6++] = ld->e6[i];
	}
	l->start4 = malloc((2 * n4 + 1) * sizeof(*l->start4));
	l->ref4 = malloc((2 * n4 + 1) * sizeof(*l->ref4));
	l->start6 = malloc((2 * n6 + 1) * sizeof(*l->start6));
	l->ref6 = malloc((2 * n6 + 1) * sizeof(*l->ref6));
	sw = calloc(1, sizeof(*sw));
	if (!l->start4 || !l->ref4 || !l->start6 || !l->ref6 || !sw) {
		free(sw);
		return -ENOMEM;
	}
	sw->l = l;
	set_row(l, 0, zero, REF_MISS);
	for (i = 0; i < n4; i++) {
		uint32_t start = (uint32_t)(ld->e4[i].key >> 32);
		unsigned len = (unsigned)(ld->e4[i].key & 0xff);
		uint64_t size = 1ull << (len >= 96 ? 128 - len : 32);

		sweep_open(sw, (struct u128){ 0, start }, (struct u128){ 0, start + size - 1 },
			   ld->e4[i].ref);
	}
	sweep_close(sw, zero, 1);
	sw->v6 = 1;
	set_row(l, 1, zero, REF_MISS);
	for (i = 0; i < n6; i++) {
		struct u128 st = ld->e6[i].start, m = u128_hostmask(ld->e6[i].len);

		sweep_open(sw, st, (struct u128){ st.hi | m.hi, st.lo | m.lo }, ld->e6[i].ref);
	}
	sweep_close(sw, zero, 1);
	free(sw);
	return 0;
}

/* The IPv4 index of struct lists (INDEX4_MIN). 0 or -ENOMEM. */
static int index4(struct lists *l)
{
	size_t j = 0;

	if (l->n4 < INDEX4_MIN)
		return 0;
	l->idx4 = malloc((INDEX4_SLOTS + 1) * sizeof(*l->idx4));
	if (!l->idx4)
		return -ENOMEM;
	for (uint64_t h = 0; h <= INDEX4_SLOTS; h++) {
		while (j < l->n4 && l->start4[j] < h << 16)
			j++;
		l->idx4[h] = (uint32_t)j;
	}
	l->bytes += (INDEX4_SLOTS + 1) * sizeof(*l->idx4);
	return 0;
}

/* Give back what the tables over-allocated; failure to shrink is harmless. */
static void *shrink(void *p, size_t size)
{
	void *np = realloc(p, size ? size : 1);

	return np ? np : p;
}


/* The end of every load: with no error yet (ld->err 0), the entries become the
 * intervals and the structure is handed to *out; then the loader's scratch goes. */
static int finish(struct loader *ld, struct lists **out)
{
	int err = ld->err;

	if (!err && build(ld) < 0)
		err = -ENOMEM;
	if (!err) {
		struct lists *l = ld->l;

		l->start4 = shrink(l->start4, l->n4 * sizeof(*l->start4));
		l->ref4 = shrink(l->ref4, l->n4 * sizeof(*l->ref4));
		l->start6 = shrink(l->start6, l->n6 * sizeof(*l->start6));
		l->ref6 = shrink(l->ref6, l->n6 * sizeof(*l->ref6));
		l->values = shrink(l->values, l->nvalues * sizeof(*l->values));
		l->bytes += sizeof(*l) + l->n4 * 8 + l->n6 * 20 +
			    l->nvalues * sizeof(*l->values);
		if (index4(l) < 0)
			err = -ENOMEM;
	}
	if (!err) {
		*out = ld->l;
		ld->l = NULL;
	}
	lists_free(ld->l);
	free(ld->e4);
	free(ld->e6);
	free(ld->strs);
	free(ld->vnext);
	return err;
}

/* The lines of text[0..len) (a feed's body), as load_file reads a file's. */
static int load_text(struct loader *ld, const char *name, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	char *buf = malloc(LINE_MAX_BYTES + 1);
	int err = 0;

	if (!buf)
		return -ENOMEM;
	ld->file = name;
	ld->line = 0;
	ld->file_ref = ld->def_ref;
	lists_parse_file(&ld->parse);
	ld->reported = ld->unreported = 0;
	ld->unreported_level = 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		ld->line++;
		if (n > LINE_MAX_BYTES) {
			say(ld, 0, "line longer than %d bytes, skipped", LINE_MAX_BYTES);
		} else if (memchr(p, '\0', n)) {
			say(ld, 0, "NUL byte in line, skipped");
		} else {
			memcpy(buf, p, n);
			buf[n] = '\0';
			err = parse_line(ld, buf);
			if (err < 0)
				break;
		}
		p += n + 1;
	}
	ld->line = 0;
	if (err == 0 && ld->unreported)
		say(ld, (int)ld->unreported_level, "%u more problems in this file not reported",
		    ld->unreported);
	free(buf);
	return err;
}

int lists_load(const char *const *paths, size_t n, lists_report_fn report, void *arg,
	       struct lists **out)
{
	return lists_load_max(paths, n, LISTS_MAX_SIZE, report, arg, out);
}

static int load_any(const char *const *paths, size_t n, uint64_t max_bytes,
		    const char *name, const char *text, size_t len,
		    lists_report_fn report, void *arg, size_t *skipped, struct lists **out)
{
	static const uint8_t def_a[4] = { 127, 0, 0, 2 };
	struct loader ld = { .report = report, .arg = arg };
	size_t i;
	int err = -ENOMEM;

	*out = NULL;
	ld.parse.say = parse_say;
	ld.parse.arg = &ld;
	ld.l = calloc(1, sizeof(*ld.l));
	if (!ld.l)
		return -ENOMEM;
	ld.def_ref = value_ref(&ld, def_a, "", 0);
	if (!ld.def_ref)
		goto fail;
	for (i = 0; i < n; i++) {
		err = load_file(&ld, paths[i], max_bytes);
		if (err < 0)
			goto fail;
	}
	if (text && (err = load_text(&ld, name, text, len)) < 0)
		goto fail;
	if (skipped)
		*skipped = ld.skipped;
	return finish(&ld, out);
fail:
	ld.err = err;
	return finish(&ld, out);
}

int lists_load_max(const char *const *paths, size_t n, uint64_t max_bytes,
		   lists_report_fn report, void *arg, struct lists **out)
{
	return load_any(paths, n, max_bytes, NULL, NULL, 0, report, arg, NULL, out);
}

int lists_load_text(const char *name, const char *text, size_t len,
		    lists_report_fn report, void *arg, size_t *skipped, struct lists **out)
{
	if (skipped)
		*skipped = 0;
	if (!text) {
		*out = NULL;
		return -EINVAL;
	}
	return load_any(NULL, 0, 0, name, text, len, report, arg, skipped, out);
}

int lists_build(const struct lists_entry *e, size_t n, struct lists **out)
{
	struct loader ld = { 0 };
	int err = -ENOMEM;

	*out = NULL;
	ld.l = calloc(1, sizeof(*ld.l));
	if (!ld.l)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct ipaddr net;
		uint32_t ref = REF_EXCL;

		if (e[i].len > 128) {
			err = -EINVAL;
			goto fail;
		}
		if (!e[i].excl) {
			const char *txt = e[i].txt ? e[i].txt : "";

			if (!(ref = value_ref(&ld, e[i].a, txt, strlen(txt))))
				goto fail;
		}
		ipaddr_mask(&e[i].net, e[i].len, &net);
		ld.l->entries++;
		if (add6(&ld, u128_from(net.b), e[i].len, ref) < 0)
			goto fail;
	}
	return finish(&ld, out);
fail:
	ld.err = err;
	return finish(&ld, out);
}

enum lists_match lists_match(const struct lists *lists, const struct ipaddr *ip,
			     const struct lists_value **val)
{
	size_t lo = 0, hi, mid;
	uint32_t ref;

	if (val)
		*val = NULL;
	if (!lists)
		return LISTS_MISS;
	if (ipaddr_is_v4(ip)) {
		uint32_t x = ipaddr_v4(ip);

		if (!lists->n4)
			return LISTS_MISS;
		hi = lists->n4;
		if (lists->idx4) {
			/* The answer is the last interval starting at or below x: the one
			 * before the bucket's first, or one inside the bucket. */
			lo = lists->idx4[x >> 16];
			lo = lo ? lo - 1 : 0;
			hi = lists->idx4[(x >> 16) + 1];
		}
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (lists->start4[mid] <= x)
				lo = mid;
			else
				hi = mid;
		}
		ref = lists->ref4[lo];
	} else {
		struct u128 x = u128_from(ip->b);

		if (!lists->n6)
			return LISTS_MISS;
		for (hi = lists->n6; hi - lo > 1; ) {
			mid = lo + (hi - lo) / 2;
			if (u128_cmp(lists->start6[mid], x) <= 0)
				lo = mid;
			else
				hi = mid;
		}
		ref = lists->ref6[lo];
	}
	if (ref == REF_MISS)
		return LISTS_MISS;
	if (ref == REF_EXCL)
		return LISTS_EXCLUDED;
	if (val)
		*val = &lists->values[ref - REF_VALUE0];
	return LISTS_LISTED;
}

size_t lists_count(const struct lists *lists)
{
	return lists ? lists->entries : 0;
}

void lists_stats(const struct lists *lists, struct lists_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!lists)
		return;
	st->entries = lists->entries;
	st->intervals4 = lists->n4;
	st->intervals6 = lists->n6;
	st->values = lists->nvalues;
	st->bytes = lists->bytes;
}

void lists_free(struct lists *lists)
{
	struct arena_block *b, *next;

	if (!lists)
		return;
	for (b = lists->strings; b; b = next) {
		next = b->next;
		free(b);
	}
	free(lists->start4);
	free(lists->ref4);
	free(lists->idx4);
	free(lists->start6);
	free(lists->ref6);
	free(lists->values);
	free(lists);
}
