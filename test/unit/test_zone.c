/* test_zone.c - zones built from a hand-filled struct config: SOA/NS wire data,
 * categories, static lists, FILE:LINE reports, and zoneset_find. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet.h"
#include "zone.h"
#include "tap.h"
#include "testutil.h"

struct reports {
	char msg[16][600];
	int n;
};

static void collect(void *arg, enum config_severity sev, const char *file, unsigned line,
		    const char *msg)
{
	struct reports *r = arg;

	if (r->n < 16)
		snprintf(r->msg[r->n++], sizeof(r->msg[0]), "%s:%u: %s%s", file, line,
			 sev == CONFIG_WARNING ? "warning: " : "", msg);
}

static int has_report(const struct reports *r, const char *prefix, const char *word)
{
	for (int i = 0; i < r->n; i++)
		if (strncmp(r->msg[i], prefix, strlen(prefix)) == 0 &&
		    (!word || strstr(r->msg[i], word)))
			return 1;
	return 0;
}

static void dump(const struct reports *r)
{
	for (int i = 0; i < r->n; i++)
		diag("report: %s", r->msg[i]);
}

static char *ns_two[] = { "ns1.example.org.", "NS2.example.org.", NULL };

static void zone_init(struct config_zone *cz, char *name, char *soa, char **ns)
{
	memset(cz, 0, sizeof(*cz));
	cz->name = name;
	cz->line = 5;
	cz->soa = soa;
	cz->soa_line = 6;
	cz->ns = ns;
	cz->ns_line = 7;
	cz->ttl = 300;
	cz->negative_ttl = 120;
	cz->unknown = CONFIG_UNKNOWN_SERVFAIL;
	cz->unknown_ttl = 30;
	for (int c = 0; c < VERDICT_NCAT; c++) {
		cz->cat[c].enabled = 1;
		cz->cat[c].a[0] = 127;
		cz->cat[c].a[3] = (uint8_t)(2 + c);
		cz->cat[c].txt = "listed $";
	}
}

static void test_soa_ns(void)
{
	static const uint8_t want_soa[] =
		"\003ns1\007example\003org\000"
		"\012hostmaster\007example\003org\000"
		"\000\000\060\071"          /* serial 12345 */
		"\000\000\016\020"          /* 3600 */
		"\000\000\002\130"          /* 600 */
		"\000\011\072\200"          /* 604800 */
		"\000\000\001\054";         /* 300 */
	static const uint8_t want_ns[] = "\003ns1\007example\003org\000"
					 "\003NS2\007example\003org\000";
	struct config cfg = { .file = "test.conf" };
	struct config_zone cz;
	struct reports rep = { .n = 0 };
	struct zoneset *zs = NULL;
	const struct zone *z;
	int r;

	zone_init(&cz, "Bl.Example.org",
		  "ns1.example.org. hostmaster.example.org. 3600 600 604800 300", ns_two);
	cz.cat[VERDICT_TOR].enabled = 0;
	cz.cat[VERDICT_TOR].txt = NULL;
	cz.cat[VERDICT_PROXY].txt = "";
	cz.clean.enabled = 1;
	cz.clean.a[0] = 127;
	cz.clean.a[3] = 1;
	cz.clean.txt = "clean";
	cfg.zones = &cz;
	cfg.nzones = 1;
	r = zoneset_build(&cfg, 12345, collect, &rep, &zs);
	is_int(r, 0, "a good zone builds");
	is_int(rep.n, 0, "no report");
	if (r) {
		dump(&rep);
		return;
	}
	is_int(zs->n, 1, "one zone");
	is_int(zs->serial, 12345, "serial kept");
	z = &zs->zones[0];
	is_str(z->name, "bl.example.org", "name lowercased");
	ok(z->apex_len == 16 && memcmp(z->apex, "\002bl\007example\003org", 16) == 0,
	   "apex in lowercase wire form");
	is_int(z->apex_labels >= 3, 1, "apex label count");
	is_int(z->soa_rdata_len, sizeof(want_soa) - 1, "SOA RDATA length");
	ok(z->soa_rdata_len == sizeof(want_soa) - 1 &&
	   memcmp(z->soa_rdata, want_soa, sizeof(want_soa) - 1) == 0,
	   "SOA RDATA: names, serial, timers");
	is_int(z->nns, 2, "two NS");
	ok(z->nns == 2 && z->ns_len[0] == 17 && z->ns_len[1] == 17 &&
	   memcmp(z->ns_rdata, want_ns, 34) == 0, "NS RDATA in wire form");
	is_int(z->ttl, 300, "ttl");
	is_int(z->negative_ttl, 120, "negative ttl");
	is_int(z->unknown_ttl, 30, "unknown ttl");
	is_int(z->unknown, CONFIG_UNKNOWN_SERVFAIL, "unknown mode");
	is_int(z->enabled_mask, VERDICT_ALL & ~VERDICT_BIT(VERDICT_TOR), "enabled mask");
	is_int(z->cat[VERDICT_TOR].enabled, 0, "tor disabled");
	ok(z->cat[VERDICT_SCANNER].a[0] == 127 && z->cat[VERDICT_SCANNER].a[3] == 7,
	   "scanner A");
	is_str(z->cat[VERDICT_VPN].txt, "listed $", "vpn template copied");
	ok(z->cat[VERDICT_VPN].txt != cz.cat[VERDICT_VPN].txt, "template owned by the zone");
	is_int(z->cat[VERDICT_VPN].txt_len, 8, "template length");
	is_int(z->cat[VERDICT_PROXY].txt_len, 0, "empty template");
	ok(z->clean.enabled && z->clean.a[3] == 1, "clean address");
	is_str(z->clean.txt, "clean", "clean template");
	ok(z->lists == NULL, "no static list, no lists");
	zoneset_free(zs);
}

static void test_relative(void)
{
	/* names without a final dot are relative to the zone; timers take units */
	static const uint8_t want[] =
		"\003ns1\002bl\007example\003org\000"
		"\012hostmaster\002bl\007example\003org\000"
		"\000\000\000\007"
		"\000\000\016\020\000\000\002\130\000\011\072\200\000\000\001\054";
	static char *ns[] = { "ns1", NULL };
	struct config cfg = { .file = "test.conf" };
	struct config_zone cz;
	struct zoneset *zs = NULL;
	int r;

	zone_init(&cz, "bl.example.org", "ns1  hostmaster\t1h 10m 7d 5m", ns);
	cfg.zones = &cz;
	cfg.nzones = 1;
	r = zoneset_build(&cfg, 7, NULL, NULL, &zs);
	is_int(r, 0, "relative names and units build (no report callback)");
	if (r)
		return;
	ok(zs->zones[0].soa_rdata_len == sizeof(want) - 1 &&
	   memcmp(zs->zones[0].soa_rdata, want, sizeof(want) - 1) == 0,
	   "relative SOA names completed with the zone, units converted");
	ok(zs->zones[0].nns == 1 && zs->zones[0].ns_len[0] == 20 &&
	   memcmp(zs->zones[0].ns_rdata, "\003ns1\002bl\007example\003org", 20) == 0,
	   "relative NS completed with the zone");
	zoneset_free(zs);
}

static void expect_bad(const char *why, char *soa, char **ns, const char *prefix,
		       const char *word)
{
	struct config cfg = { .file = "test.conf" };
	struct config_zone cz;
	struct reports rep = { .n = 0 };
	struct zoneset *zs = (struct zoneset *)&cfg; /* must stay untouched */
	int r;

	zone_init(&cz, "bl.example.org", soa, ns);
	cfg.zones = &cz;
	cfg.nzones = 1;
	r = zoneset_build(&cfg, 1, collect, &rep, &zs);
	is_int(r, -EINVAL, why);
	ok(zs == (struct zoneset *)&cfg, "%s: *out untouched", why);
	ok(has_report(&rep, prefix, word), "%s: reported as %s...", why, prefix);
	if (!has_report(&rep, prefix, word))
		dump(&rep);
}

static void test_bad(void)
{
	static char *bad_ns[] = { "ns1.example.org.", "bad..name", NULL };
	static char *two_in_one[] = { "a b", NULL };
	static char *empty_ns[] = { "", NULL };
	struct config cfg = { .file = "test.conf" };
	struct config_zone cz[2];
	struct reports rep = { .n = 0 };
	struct zoneset *zs = NULL;

	expect_bad("five SOA fields", "ns1. host. 3600 600 604800", ns_two, "test.conf:6: ",
		   "soa");
	expect_bad("seven SOA fields", "ns1. host. 1 3600 600 604800 300", ns_two,
		   "test.conf:6: ", "soa");
	expect_bad("bad SOA number", "ns1. host. 3600 abc 604800 300", ns_two,
		   "test.conf:6: ", "soa");
	expect_bad("bad SOA name", "ns1..x. host. 3600 600 604800 300", ns_two,
		   "test.conf:6: ", "soa");
	expect_bad("missing SOA", NULL, ns_two, "test.conf:6: ", "soa");
	expect_bad("bad NS name", "ns1. host. 3600 600 604800 300", bad_ns,
		   "test.conf:7: ", "bad..name");
	expect_bad("two names in one NS", "ns1. host. 3600 600 604800 300", two_in_one,
		   "test.conf:7: ", "ns");
	expect_bad("empty NS", "ns1. host. 3600 600 604800 300", empty_ns,
		   "test.conf:7: ", "ns");

	/* one run reports every problem */
	zone_init(&cz[0], "bl.example.org", "ns1. host. 1 2 3", bad_ns);
	zone_init(&cz[1], "bl.example.org", "ns1. host. 3600 600 604800 300", ns_two);
	cz[1].line = 20;
	cfg.zones = cz;
	cfg.nzones = 2;
	is_int(zoneset_build(&cfg, 1, collect, &rep, &zs), -EINVAL, "two bad zones fail");
	ok(has_report(&rep, "test.conf:6: ", "soa"), "bad SOA of zone 1 reported");
	ok(has_report(&rep, "test.conf:7: ", "bad..name"), "bad NS of zone 1 reported too");
	ok(has_report(&rep, "test.conf:20: ", "twice"), "duplicate zone reported");
}

static void test_lists(void)
{
	char path[] = "/tmp/test_zone_XXXXXX";
	char *statics[2], *missing[2] = { "/nonexistent/threatbl.list", NULL };
	unsigned lines[1] = { 9 };
	struct config cfg = { .file = "test.conf" };
	struct config_zone cz;
	struct reports rep = { .n = 0 };
	struct zoneset *zs = NULL;
	const struct lists_value *val = NULL;
	struct ipaddr ip;
	int fd, r;
	FILE *f;

	fd = mkstemp(path);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		ok(0, "temporary list file");
		return;
	}
	fprintf(f, "198.51.100.0/24 :127.0.0.10:static $\n!198.51.100.7\nnot-an-entry\n");
	fclose(f);
	statics[0] = path;
	statics[1] = NULL;
	zone_init(&cz, "bl.example.org", "ns1. host. 3600 600 604800 300", ns_two);
	cz.statics = statics;
	cz.static_lines = lines;
	cz.nstatics = 1;
	cfg.zones = &cz;
	cfg.nzones = 1;
	r = zoneset_build(&cfg, 1, collect, &rep, &zs);
	is_int(r, 0, "zone with a static list builds");
	if (!r) {
		ok(zs->zones[0].lists != NULL, "lists loaded");
		ipaddr_parse(&ip, "198.51.100.9");
		ok(lists_match(zs->zones[0].lists, &ip, &val) == LISTS_LISTED && val &&
		   val->a[3] == 10, "listed entry");
		ipaddr_parse(&ip, "198.51.100.7");
		is_int(lists_match(zs->zones[0].lists, &ip, &val), LISTS_EXCLUDED, "exclusion");
		zoneset_free(zs);
	}
	{
		char prefix[64];

		snprintf(prefix, sizeof(prefix), "%s:3: ", path);
		ok(has_report(&rep, prefix, NULL), "bad list line reported as LIST:LINE");
		if (!has_report(&rep, prefix, NULL))
			dump(&rep);
	}
	unlink(path);

	rep.n = 0;
	zs = NULL;
	cz.statics = missing;
	r = zoneset_build(&cfg, 1, collect, &rep, &zs);
	ok(r < 0 && zs == NULL, "a missing list fails the build");
	ok(has_report(&rep, "test.conf:9: ", "/nonexistent/threatbl.list"),
	   "missing list reported at its configuration line");
	is_int(rep.n, 1, "and only there");
	if (!has_report(&rep, "test.conf:9: ", "/nonexistent/threatbl.list"))
		dump(&rep);
}

static void test_find(void)
{
	static char *names[] = { "example.org", "bl.example.org", "v6.bl.example.org", "org.example" };
	struct config cfg = { .file = "test.conf" };
	struct config_zone cz[4];
	struct zoneset *zs = NULL;
	const struct zone *z;
	uint8_t buf[300];
	size_t len, off;
	int r;

	for (int i = 0; i < 4; i++)
		zone_init(&cz[i], names[i], "ns1. host. 3600 600 604800 300", ns_two);
	cfg.zones = cz;
	cfg.nzones = 4;
	r = zoneset_build(&cfg, 1, NULL, NULL, &zs);
	is_int(r, 0, "four zones build");
	if (r)
		return;
#define FIND(text) (len = wire_name(text, buf), off = 999, zoneset_find(zs, buf, len, &off))
	z = FIND("4.3.2.1.BL.Example.ORG");
	ok(z == &zs->zones[1] && off == 8, "longest apex, any case");
	z = FIND("1.x.V6.bl.EXAMPLE.org");
	ok(z == &zs->zones[2] && off == 4, "a deeper zone wins");
	z = FIND("www.example.org");
	ok(z == &zs->zones[0] && off == 4, "the parent zone");
	z = FIND("example.org");
	ok(z == &zs->zones[0] && off == 0, "an apex itself");
	z = FIND("v6.bl.example.org");
	ok(z == &zs->zones[2] && off == 0, "the deepest apex itself");
	ok(FIND("org") == NULL, "above every zone");
	ok(FIND("notexample.org") == NULL, "suffix match is per label");
	ok(FIND("bl.example.org.evil") == NULL, "zone name inside another name");
	ok(FIND("") == NULL, "the root");
	z = FIND("a.org.EXAMPLE");
	ok(z == &zs->zones[3] && off == 2, "another tree");
	ok(zoneset_find(NULL, buf, len, &off) == NULL, "no zoneset");
	{
		/* bytes that are not a well-formed name never match or overrun */
		static const uint8_t junk[] = { 200, 'a', 'b' };
		ok(zoneset_find(zs, junk, sizeof(junk), &off) == NULL, "junk");
	}
#undef FIND
	zoneset_free(zs);
	zoneset_free(NULL);
}

/* zoneset_match, through zoneset_find: case folding 8 bytes at a time (apexes
 * shorter than 8 bytes, exactly 8, 16, and 22 with an overlapping last word), bytes
 * that only a careless fold would take for letters, zones with a common suffix,
 * names a byte longer or shorter than a zone. */
static void test_match(void)
{
	static char *names[] = { "example.org", "bl.example.org", "abcdefgh.example.org",
				 "a.b", "ab.def", "q`{z.test" };
	enum { EX, BL, LONG, AB, DEF, ODD, NZONES };
	struct config cfg = { .file = "test.conf" };
	struct config_zone cz[NZONES];
	struct zoneset *zs = NULL;
	const struct zone *z;
	uint8_t buf[300];
	size_t len, off;
	int r;

	for (int i = 0; i < NZONES; i++)
		zone_init(&cz[i], names[i], "ns1. host. 3600 600 604800 300", ns_two);
	cfg.zones = cz;
	cfg.nzones = NZONES;
	r = zoneset_build(&cfg, 1, NULL, NULL, &zs);
	is_int(r, 0, "match: zones build");
	if (r)
		return;
	ok(zs->zones[EX].apex_len == 13 && zs->zones[BL].apex_len == 16 &&
	   zs->zones[LONG].apex_len == 22 && zs->zones[AB].apex_len == 5 &&
	   zs->zones[DEF].apex_len == 8 && zs->zones[ODD].apex_len == 11,
	   "match: apex lengths as the cases below need them");
	ok(zs->zones[EX].apex_labels == 2 && zs->zones[BL].apex_labels == 3 &&
	   zs->zones[AB].apex_labels == 2, "match: label counts, root excluded");
	ok(zs->by_len && zs->by_len[0] == &zs->zones[LONG] && zs->by_len[1] == &zs->zones[BL] &&
	   zs->by_len[2] == &zs->zones[EX] && zs->by_len[5] == &zs->zones[AB],
	   "match: zones by apex length, longest first");
#define FIND(text) (len = wire_name(text, buf), off = 999, zoneset_find(zs, buf, len, &off))
#define IS(text, zi, o, why) do { z = FIND(text); \
	ok(z == &zs->zones[zi] && off == (o), "match: %s (%s)", text, why); } while (0)
	IS("4.3.2.1.bl.example.org", BL, 8, "the longer of two zones");
	IS("4.3.2.1.BL.EXAMPLE.ORG", BL, 8, "upper case");
	IS("4.3.2.1.bL.eXaMpLe.OrG", BL, 8, "0x20 mixed case");
	IS("4.3.2.1.Bl.example.orG", BL, 8, "first and last letters");
	IS("bl.example.org", BL, 0, "the apex");
	IS("xbl.example.org", EX, 4, "a label one byte longer than the zone's");
	IS("b.example.org", EX, 2, "a label one byte shorter than the zone's");
	IS("l.example.org", EX, 2, "the zone's label cut at the front");
	IS("www.Example.Org", EX, 4, "the parent zone");
	ok(FIND("bl.example.or") == NULL, "match: one byte shorter at the end");
	ok(FIND("bl.example.orgg") == NULL, "match: one byte longer at the end");
	ok(FIND("xample.org") == NULL && FIND("eexample.org") == NULL,
	   "match: names one byte shorter or longer than the shortest apex");
	IS("1.abcdefgh.example.org", LONG, 2, "22 bytes: words and an overlapping last one");
	IS("1.ABCDEFGH.EXAMPLE.ORG", LONG, 2, "22 bytes, upper case");
	IS("1.abcdefgi.example.org", EX, 11, "a difference in the overlapping word");
	IS("1.bbcdefgh.example.org", EX, 11, "a difference in the first word");
	IS("1.a.b", AB, 2, "5 bytes, byte by byte");
	IS("1.A.B", AB, 2, "5 bytes, upper case");
	ok(FIND("1.a.c") == NULL, "match: 5 bytes, a difference");
	IS("x.AB.DEF", DEF, 2, "exactly 8 bytes");
	ok(FIND("ab.deg") == NULL && FIND("ab.de") == NULL, "match: 8 bytes, differences");
	IS("9.q`{z.test", ODD, 2, "'`' and '{' match themselves");
	IS("9.Q`{Z.TEST", ODD, 2, "letters around them fold");
	ok(FIND("9.q@[z.test") == NULL, "match: '@' and '[' are not '`' and '{' upper-cased");
	{
		/* 0xc1 is 'A' with the top bit set: not a letter */
		static const uint8_t hi[] = "\0011\010\301bcdefgh\007example\003org";
		static const uint8_t lo[] = "\0011\010\141bcdefgh\007example\003org";

		off = 999;
		ok(zoneset_find(zs, hi, sizeof(hi), &off) == &zs->zones[EX] && off == 11,
		   "match: 0xc1 is not 'a'");
		ok(zoneset_find(zs, lo, sizeof(lo), &off) == &zs->zones[LONG] && off == 2,
		   "match: the same name with 'a'");
	}
	{
		/* the apex's bytes at the tail, but not at a label boundary: the first
		 * label is the 3 bytes "\002bl" */
		static const uint8_t inside[] = "\003\002bl\007example\003org";
		static const uint8_t loff[] = { 0, 4, 12, 16 };

		off = 999;
		ok(zoneset_find(zs, inside, sizeof(inside), &off) == &zs->zones[EX] && off == 4,
		   "match: an apex's bytes inside a label do not count");
		off = 999;
		ok(zoneset_match(zs, inside, loff, 3, &off) == &zs->zones[EX] && off == 4,
		   "match: the same with the offsets given");
	}
	{
		/* zoneset_match reads the offsets it is given, nothing else */
		static const uint8_t www[] = "\003www\002Bl\007example\003org";
		static const uint8_t loff[] = { 0, 4, 7, 15, 19 };

		off = 999;
		ok(zoneset_match(zs, www, loff, 4, &off) == &zs->zones[BL] && off == 4,
		   "match: from label offsets");
		ok(zoneset_match(NULL, www, loff, 4, &off) == NULL, "match: no zoneset");
		ok(zoneset_match(zs, www, loff + 4, 0, &off) == NULL, "match: the root");
	}
	{
		static const uint8_t longname[256] = { 1, 'a' };

		ok(zoneset_find(zs, longname, sizeof(longname), &off) == NULL,
		   "match: more than 255 bytes");
	}
	zoneset_free(zs);

	/* a root zone takes what no other zone does */
	zone_init(&cz[0], "", "ns1.example. host.example. 3600 600 604800 300", ns_two);
	zone_init(&cz[1], "bl.example.org", "ns1. host. 3600 600 604800 300", ns_two);
	cfg.nzones = 2;
	r = zoneset_build(&cfg, 1, NULL, NULL, &zs);
	is_int(r, 0, "match: a root zone builds");
	if (r)
		return;
	IS("1.bl.example.org", 1, 2, "another zone before the root");
	IS("www.example.com", 0, 16, "the root zone");
	IS("", 0, 0, "the root itself");
#undef IS
#undef FIND
	zoneset_free(zs);
}

/* One zone; NULL when it does not build. */
static struct zoneset *one_zone(char *name, char *soa)
{
	struct config cfg = { .file = "test.conf" };
	static struct config_zone cz;
	struct zoneset *zs = NULL;

	zone_init(&cz, name, soa, ns_two);
	cfg.zones = &cz;
	cfg.nzones = 1;
	return zoneset_build(&cfg, 0x01020304, NULL, NULL, &zs) == 0 ? zs : NULL;
}

#define NUMBERS "\001\002\003\004\000\000\016\020\000\000\002\130\000\011\072\200" \
		"\000\000\001\054"

/* The SOA template: names compressed against the apex or MNAME, pointers noted. */
static void test_soa_tpl(void)
{
	static const struct {
		char *zone, *soa;
		const char *tpl;
		size_t tpl_len;
		unsigned nptr;
		struct zone_ptr ptr[2];
		const char *why;
	} cases[] = {
		{ "bl.example.org", "ns1.example.org. hostmaster.example.org.",
		  "\003ns1\300\000\012hostmaster\300\000" NUMBERS, 39, 2,
		  { { 4, 3, ZONE_PTR_APEX }, { 17, 3, ZONE_PTR_APEX } },
		  "both names end like the apex's parent" },
		{ "bl.example.org", "ns1 hostmaster",
		  "\003ns1\300\000\012hostmaster\300\000" NUMBERS, 39, 2,
		  { { 4, 0, ZONE_PTR_APEX }, { 17, 0, ZONE_PTR_APEX } },
		  "names under the zone: pointers to the apex itself" },
		{ "bl.example.org", "NS1.EXAMPLE.ORG. host.Example.Org.",
		  "\003NS1\300\000\004host\300\000" NUMBERS, 33, 2,
		  { { 4, 3, ZONE_PTR_APEX }, { 11, 3, ZONE_PTR_APEX } },
		  "any case" },
		{ "bl.example.org", "ns.dns.net. hostmaster.dns.net.",
		  "\002ns\003dns\003net\000\012hostmaster\300\000" NUMBERS, 45, 1,
		  { { 23, 3, ZONE_PTR_RDATA } }, "RNAME ends like MNAME" },
		{ "bl.example.org", "ns.dns.net. ns.dns.net.",
		  "\002ns\003dns\003net\000\300\000" NUMBERS, 34, 1,
		  { { 12, 0, ZONE_PTR_RDATA } }, "RNAME is MNAME" },
		{ "bl.example.org", "bl.example.org. bl.example.org.",
		  "\300\000\300\000" NUMBERS, 24, 2,
		  { { 0, 0, ZONE_PTR_APEX }, { 2, 0, ZONE_PTR_APEX } },
		  "both names are the apex (not a pointer to a pointer)" },
		{ "bl.example.org", "ns1.org. h.dns.net.",
		  "\003ns1\300\000\001h\003dns\003net\000" NUMBERS, 37, 1,
		  { { 4, 11, ZONE_PTR_APEX } }, "only the last label in common" },
		{ "bl.example.org", "a.test. b.other.",
		  "\001a\004test\000\001b\005other\000" NUMBERS, 37, 0, { { 0 } },
		  "nothing in common: as it is" },
		{ "", "ns.example. host.example.",
		  "\002ns\007example\000\004host\300\000" NUMBERS, 39, 1,
		  { { 17, 3, ZONE_PTR_RDATA } }, "the root zone: the root alone is no suffix" },
	};
	char soa[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zoneset *zs;
		const struct zone *z;
		int good;

		snprintf(soa, sizeof(soa), "%s 3600 600 604800 300", cases[i].soa);
		zs = one_zone(cases[i].zone, soa);
		if (!zs) {
			ok(0, "soa template: %s: builds", cases[i].why);
			continue;
		}
		z = &zs->zones[0];
		good = z->soa_tpl_len == cases[i].tpl_len &&
		       memcmp(z->soa_tpl, cases[i].tpl, cases[i].tpl_len) == 0 &&
		       z->soa_nptr == cases[i].nptr;
		for (unsigned k = 0; good && k < z->soa_nptr; k++)
			good = z->soa_ptr[k].at == cases[i].ptr[k].at &&
			       z->soa_ptr[k].target == cases[i].ptr[k].target &&
			       z->soa_ptr[k].base == cases[i].ptr[k].base;
		if (!ok(good, "soa template: %s", cases[i].why)) {
			diag("len %zu nptr %u", z->soa_tpl_len, z->soa_nptr);
			for (unsigned k = 0; k < z->soa_nptr; k++)
				diag("ptr at %u target %u base %d", z->soa_ptr[k].at,
				     z->soa_ptr[k].target, z->soa_ptr[k].base);
		}
		/* the numbers at the end, the uncompressed RDATA kept */
		ok(z->soa_rdata_len >= 20 && z->soa_tpl_len >= 20 &&
		   memcmp(z->soa_tpl + z->soa_tpl_len - 20,
			  z->soa_rdata + z->soa_rdata_len - 20, 20) == 0,
		   "soa template: %s: serial and timers", cases[i].why);
		zoneset_free(zs);
	}
}

/* ---- the SOA serial and the identity (fleet.c) ---------------------------------- */

static void write_list(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		diag("cannot write %s", path);
}

/* The serial of cfg built with the load time `now`, read back from the SOA RDATA and
 * the answers' template (both must hold zs->serial); 0 when the build fails. */
static uint32_t built_serial(const struct config *cfg, uint32_t now)
{
	struct reports rep = { .n = 0 };
	struct zoneset *zs = NULL;
	uint32_t serial = 0;

	if (zoneset_build(cfg, now, collect, &rep, &zs)) {
		dump(&rep);
		return 0;
	}
	for (size_t i = 0; i < zs->n; i++) {
		const struct zone *z = &zs->zones[i];
		const uint8_t *a = z->soa_rdata + z->soa_rdata_len - 20;
		const uint8_t *b = z->soa_tpl + z->soa_tpl_len - 20;
		uint32_t sa = (uint32_t)a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];

		if (sa != zs->serial || memcmp(a, b, 20) != 0) {
			diag("zone %zu: SOA serial %u, zoneset %u", i, sa, zs->serial);
			zoneset_free(zs);
			return 0;
		}
	}
	serial = zs->serial;
	zoneset_free(zs);
	return serial;
}

static void test_serial(void)
{
	char dir[] = "/tmp/test_zone_serial_XXXXXX";
	char a[96], b[96], fifo[96];
	char *statics[3] = { a, NULL, NULL };
	unsigned lines[2] = { 9, 10 };
	struct config cfg = { .file = "test.conf", .serial_mode = CONFIG_SERIAL_CONTENT };
	struct config_zone cz[2];
	struct zoneset *zs = NULL;
	const char *bad = NULL;
	uint32_t s1, s2, s, base;
	int r;

	if (!mkdtemp(dir)) {
		ok(0, "temporary directory");
		return;
	}
	snprintf(a, sizeof(a), "%s/a.ip4set", dir);
	snprintf(b, sizeof(b), "%s/b.ip4set", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	write_list(a, "198.51.100.0/24 :127.0.0.10:listed\n");
	zone_init(&cz[0], "bl.example.org", "ns1. host. 3600 600 604800 300", ns_two);
	cz[0].statics = statics;
	cz[0].static_lines = lines;
	cz[0].nstatics = 1;
	zone_init(&cz[1], "other.example.net", "ns1. host. 3600 600 604800 300", ns_two);
	cfg.zones = cz;
	cfg.nzones = 2;

	/* Two nodes loading the same zones at different times. */
	s1 = built_serial(&cfg, 1000);
	s2 = built_serial(&cfg, 2000);
	ok(s1 != 0 && s1 == s2, "content: the same serial whenever loaded (%u, %u)", s1, s2);
	ok(s1 != 1000 && s1 != 2000, "content: not the load time");
	base = s1;
	write_list(b, "198.51.100.0/24 :127.0.0.10:listed\n");
	/* The algorithm is pinned: nodes of one version agree across machines (the bytes
	 * are hashed little-endian everywhere), and a change of it, which changes every
	 * fleet's serial on upgrade, shows here first. */
	{
		struct config one = cfg;
		struct config_zone z0;
		char *no_ns[] = { "ns1.example.org.", NULL };

		zone_init(&z0, "bl.example.org", "ns1.example.org. host.example.org. 3600 600 "
			  "604800 300", no_ns);
		one.zones = &z0;
		one.nzones = 1;
		is_int(built_serial(&one, 5), 4251992665u, "content: the pinned value of a "
		       "zone without lists");
	}

	/* A list's bytes. */
	write_list(a, "198.51.100.0/24 :127.0.0.10:listed\n198.51.100.7\n");
	s = built_serial(&cfg, 1000);
	ok(s != 0 && s != base, "content: a list entry added changes the serial");
	write_list(a, "198.51.100.0/24 :127.0.0.10:listed\n");
	is_int(built_serial(&cfg, 3000), base, "content: the old list again, the old serial");
	write_list(a, "198.51.100.0/24 :127.0.0.10:listed\n# a comment\n");
	s = built_serial(&cfg, 1000);
	ok(s != 0 && s != base, "content: a comment changes it too (the bytes are hashed)");
	write_list(a, "198.51.100.0/24 :127.0.0.10:listed\n");

	/* Where the list is does not matter, what it holds does. */
	statics[0] = b;
	is_int(built_serial(&cfg, 1000), base, "content: the same list elsewhere, the same "
	       "serial");
	statics[0] = a;

	/* A second list after the first, and the order of the lists. */
	write_list(b, "203.0.113.0/24\n");
	statics[1] = b;
	cz[0].nstatics = 2;
	s = built_serial(&cfg, 1000);
	ok(s != 0 && s != base, "content: a second list changes it");
	statics[0] = b;
	statics[1] = a;
	s2 = built_serial(&cfg, 1000);
	ok(s2 != 0 && s2 != s, "content: the lists in another order change it");
	statics[0] = a;
	statics[1] = NULL;
	cz[0].nstatics = 1;
	is_int(built_serial(&cfg, 1000), base, "content: back to one list");

	/* The zones' settings. */
	cz[1].ttl = 301;
	s = built_serial(&cfg, 1000);
	ok(s != 0 && s != base, "content: another zone's ttl changes it");
	cz[1].ttl = 300;
	cz[1].cat[VERDICT_TOR].txt = "listed $ ";
	s = built_serial(&cfg, 1000);
	ok(s != 0 && s != base, "content: a TXT template changes it");
	cz[1].cat[VERDICT_TOR].txt = "listed $";
	cz[1].soa = "ns1. host. 3600 600 604800 301";
	s = built_serial(&cfg, 1000);
	ok(s != 0 && s != base, "content: the SOA minimum changes it");
	cz[1].soa = "ns1. host. 3600 600 604800 300";
	cz[0].unknown = CONFIG_UNKNOWN_NXDOMAIN;
	s = built_serial(&cfg, 1000);
	ok(s != 0 && s != base, "content: the unknown answer changes it");
	cz[0].unknown = CONFIG_UNKNOWN_SERVFAIL;
	is_int(built_serial(&cfg, 1000), base, "content: every setting back, the serial back");

	/* time and a fixed number. */
	cfg.serial_mode = CONFIG_SERIAL_TIME;
	is_int(built_serial(&cfg, 1234567), 1234567, "time: the serial given");
	cfg.serial_mode = CONFIG_SERIAL_FIXED;
	cfg.serial_fixed = 2026120301u;
	is_int(built_serial(&cfg, 1234567), 2026120301u, "fixed: the configured number");
	cfg.serial_fixed = 4294967295u;
	is_int(built_serial(&cfg, 1234567), 4294967295u, "fixed: 4294967295");
	cfg.serial_mode = CONFIG_SERIAL_CONTENT;

	/* The lists are read again for the hash: what if one went away meanwhile, or
	 * became a FIFO (nothing may hang: O_NONBLOCK, then refused)? */
	r = zoneset_build(&cfg, 1, NULL, NULL, &zs);
	is_int(r, 0, "built");
	if (!r) {
		unlink(a);
		r = fleet_content_serial(zs, &cfg, &s, &bad);
		ok(r == -ENOENT && bad == a, "a list gone: -ENOENT, the path said (%d)", r);
		if (mkfifo(a, 0600) == 0) {
			bad = NULL;
			r = fleet_content_serial(zs, &cfg, &s, &bad);
			ok(r == -EINVAL && bad == a, "a FIFO: -EINVAL without hanging (%d)", r);
			unlink(a);
		} else {
			ok(0, "mkfifo");
		}
		zoneset_free(zs);
	}
	unlink(b);
	unlink(fifo);
	rmdir(dir);
}

static void test_identity(void)
{
	char out[CONFIG_IDENTITY_MAX + 1], host[256], want[300], big[300];
	struct config cfg = { .file = "test.conf" };
	struct config_zone cz;
	struct reports rep = { .n = 0 };
	struct zoneset *zs = NULL;
	size_t len = 99;
	int r;

	is_int(fleet_identity_expand("ns1.fra", "h", out, &len), 0, "plain identity");
	ok(len == 7 && strcmp(out, "ns1.fra") == 0, "kept as it is");
	fleet_identity_expand("bl-%h.%%h%%", "node7", out, &len);
	ok(len == 12 && strcmp(out, "bl-node7.%h%") == 0, "%%h = host, %%%% = %%: %s", out);
	fleet_identity_expand("", "node7", out, &len);
	ok(len == 0 && out[0] == 0, "empty");
	memset(big, 'x', 255);
	big[255] = 0;
	ok(fleet_identity_expand(big, "h", out, &len) == 0 && len == 255, "255 bytes fit");
	big[255] = 'x';
	big[256] = 0;
	is_int(fleet_identity_expand(big, "h", out, &len), -ENAMETOOLONG, "256 do not");
	memset(big, 'y', 200);
	big[200] = 0;
	is_int(fleet_identity_expand("%h-%h", big, out, &len), -ENAMETOOLONG,
	       "a long host name twice does not");

	zone_init(&cz, "bl.example.org", "ns1. host. 3600 600 604800 300", ns_two);
	cfg.zones = &cz;
	cfg.nzones = 1;
	r = zoneset_build(&cfg, 1, collect, &rep, &zs);
	ok(r == 0 && zs && zs->identity_len == 0, "no identity: none answered");
	zoneset_free(zs);
	zs = NULL;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = 0;
	snprintf(want, sizeof(want), "node-%s", host);
	cfg.identity = "node-%h";
	r = zoneset_build(&cfg, 1, collect, &rep, &zs);
	ok(r == 0 && zs && zs->identity_len == strlen(want) &&
	   strcmp(zs->identity, want) == 0, "identity with %%h: %s", zs ? zs->identity : "-");
	zoneset_free(zs);
	zs = NULL;

	/* 128 times %h: at least 256 bytes whatever the host name. */
	for (int i = 0; i < 128; i++)
		memcpy(big + 2 * i, "%h", 2);
	big[256] = 0;
	cfg.identity = big;
	rep.n = 0;
	r = zoneset_build(&cfg, 1, collect, &rep, &zs);
	ok(r == -ENAMETOOLONG && zs == NULL, "an identity too long once expanded fails");
	ok(has_report(&rep, "test.conf:0: ", "longer than 255 bytes"), "and says why");
	if (!has_report(&rep, "test.conf:0: ", "longer than 255 bytes"))
		dump(&rep);
}

int main(void)
{
	test_soa_ns();
	test_relative();
	test_bad();
	test_lists();
	test_find();
	test_match();
	test_soa_tpl();
	test_serial();
	test_identity();
	return done_testing();
}
