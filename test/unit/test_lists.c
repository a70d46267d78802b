/* test_lists.c - rbldnsd-format static lists: every entry form, bad lines, values,
 * longest-prefix resolution, several files, IPv6, edges, and a million entries. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipaddr.h"
#include "lists.h"
#include "tap.h"
#include "testutil.h"

struct report {
	char file[256];
	unsigned line;
	int level;
	char msg[256];
};

struct reports {
	struct report r[128];
	size_t n, total;
};

static char tmpdir[256];
static const char *last_path; /* the file load_text wrote */

static void collect(void *arg, const char *file, unsigned line, int level, const char *msg)
{
	struct reports *rs = arg;

	rs->total++;
	if (rs->n == sizeof(rs->r) / sizeof(rs->r[0]))
		return;
	snprintf(rs->r[rs->n].file, sizeof(rs->r[0].file), "%s", file);
	rs->r[rs->n].line = line;
	rs->r[rs->n].level = level;
	snprintf(rs->r[rs->n].msg, sizeof(rs->r[0].msg), "%s", msg);
	rs->n++;
}

/* Whether a report of that level names that line (and contains text, if given). */
static int reported(const struct reports *rs, unsigned line, int level, const char *text)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (rs->r[i].line == line && rs->r[i].level == level &&
		    (!text || strstr(rs->r[i].msg, text)))
			return 1;
	return 0;
}

static int count_level(const struct reports *rs, int level)
{
	size_t i;
	int n = 0;

	for (i = 0; i < rs->n; i++)
		n += rs->r[i].level == level;
	return n;
}

static void dump_reports(const struct reports *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		diag("report %s:%u level %d: %s", rs->r[i].file, rs->r[i].line, rs->r[i].level,
		     rs->r[i].msg);
}

static const char *write_file(const char *name, const char *text, size_t len)
{
	static char paths[8][512];
	static unsigned next;
	char *path = paths[next++ % 8];
	FILE *f;

	snprintf(path, 512, "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	return path;
}

/* Load one file holding text; NULL (and a failed test) if the load fails. */
static struct lists *load_text(const char *text, struct reports *rs)
{
	const char *path = write_file("one.list", text, strlen(text));
	struct lists *l = NULL;
	int r;

	last_path = path;
	memset(rs, 0, sizeof(*rs));
	r = lists_load(&path, 1, collect, rs, &l);
	if (r != 0) {
		ok(0, "load failed: %d", r);
		dump_reports(rs);
		return NULL;
	}
	return l;
}

/* "MISS", "EXCL" or "A TXT" for ip. */
static const char *look(const struct lists *l, const char *ip)
{
	static char buf[8][320];
	static unsigned next;
	char *b = buf[next++ % 8];
	const struct lists_value *v = (const void *)1;
	struct ipaddr a;

	if (ipaddr_parse(&a, ip) != 0)
		return "BAD TEST IP";
	switch (lists_match(l, &a, &v)) {
	case LISTS_MISS:
		return v ? "MISS but val set" : "MISS";
	case LISTS_EXCLUDED:
		return v ? "EXCL but val set" : "EXCL";
	case LISTS_LISTED:
		snprintf(b, 320, "%u.%u.%u.%u %s", v->a[0], v->a[1], v->a[2], v->a[3], v->txt);
		return b;
	}
	return "?";
}

#define L(ip, want) is_str(look(l, ip), want, ip " -> " want)

static void test_forms(void)
{
	struct reports rs;
	struct lists *l = load_text(
		"1.2.3.4\n"
		"10.1.0.0/16\n"
		"20.1.2\n"
		"30.1\n"
		"40\n"
		"50.0.0.10-50.0.0.20\n"
		"60.0.0.250-5\n"           /* suffix before start: bad range */
		"60.0.1.4-40\n"
		"70.16-31\n"
		"80.1.0-80.2.255\n"
		"127.16/12\n"
		"90.0.0.0/8\n"
		"2001:db8::/32\n"
		"2001:db8:1::5\n"
		"::ffff:100.1.2.0/120\n"
		"fe80::/10 Link local\n", &rs);

	if (!l)
		return;
	is_int(lists_count(l), 15, "15 entries read, the bad range skipped");
	ok(reported(&rs, 7, 0, NULL), "reversed suffix range is an error on line 7");
	is_int(count_level(&rs, 0), 1, "only that error");
	L("1.2.3.4", "127.0.0.2 ");
	L("1.2.3.3", "MISS");
	L("1.2.3.5", "MISS");
	L("10.1.0.0", "127.0.0.2 ");
	L("10.1.255.255", "127.0.0.2 ");
	L("10.2.0.0", "MISS");
	L("10.0.255.255", "MISS");
	L("20.1.2.0", "127.0.0.2 ");
	L("20.1.2.255", "127.0.0.2 ");
	L("20.1.3.0", "MISS");
	L("30.1.0.0", "127.0.0.2 ");
	L("30.1.255.255", "127.0.0.2 ");
	L("30.2.0.0", "MISS");
	L("40.0.0.0", "127.0.0.2 ");
	L("40.255.255.255", "127.0.0.2 ");
	L("41.0.0.0", "MISS");
	L("39.255.255.255", "MISS");
	L("50.0.0.9", "MISS");
	L("50.0.0.10", "127.0.0.2 ");
	L("50.0.0.15", "127.0.0.2 ");
	L("50.0.0.20", "127.0.0.2 ");
	L("50.0.0.21", "MISS");
	L("60.0.0.250", "MISS");
	L("60.0.1.3", "MISS");
	L("60.0.1.4", "127.0.0.2 ");
	L("60.0.1.40", "127.0.0.2 ");
	L("60.0.1.41", "MISS");
	L("70.15.255.255", "MISS");
	L("70.16.0.0", "127.0.0.2 ");
	L("70.31.255.255", "127.0.0.2 ");
	L("70.32.0.0", "MISS");
	L("80.0.255.255", "MISS");
	L("80.1.0.0", "127.0.0.2 ");
	L("80.2.255.255", "127.0.0.2 ");
	L("80.3.0.0", "MISS");
	L("127.16.0.0", "127.0.0.2 ");
	L("127.31.255.255", "127.0.0.2 ");
	L("127.32.0.0", "MISS");
	L("90.200.1.1", "127.0.0.2 ");
	L("2001:db8::", "127.0.0.2 ");
	L("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "127.0.0.2 ");
	L("2001:db9::", "MISS");
	L("2001:db7:ffff::", "MISS");
	L("2001:db8:1::5", "127.0.0.2 ");
	L("100.1.2.3", "127.0.0.2 ");
	L("::ffff:100.1.2.255", "127.0.0.2 ");
	L("100.1.3.0", "MISS");
	L("fe80::1", "127.0.0.2 Link local");
	L("fec0::1", "MISS");
	L("::", "MISS");
	L("0.0.0.0", "MISS");
	L("255.255.255.255", "MISS");
	lists_free(l);
}

static void test_bad_lines(void)
{
	static const char *const bad[] = {
		"256",                  /* 1 */
		"1.2.3.256",            /* 2 */
		"1.2.3.4/33",           /* 3 */
		"1.2.3.4/",             /* 4 */
		"1.2.3.4x",             /* 5 */
		"1.2.3.4.5",            /* 6 */
		"1.2.3.10-1.2.3.9",     /* 7 */
		"1.2-1.2.3.4",          /* 8 */
		"1.2.3.4-",             /* 9 */
		"!",                    /* 10 */
		"1.2.3.4 :300:text",    /* 11 */
		"1.2.3.4 :0:text",      /* 12 */
		"1.2.3.4 :1.2:text",    /* 13 */
		"1.2.3.4 :127.0.0.3 junk", /* 14: garbage after the value */
		"1.2.3.4 :abc",         /* 15 */
		"2001:db8::/129",       /* 16 */
		"2001:db8:::1",         /* 17 */
		"garbage",              /* 18 */
		"1.2.3.4/24/8",         /* 19 */
		":300:default",         /* 20: bad default line */
		"-1.2.3.4",             /* 21 */
		"1.2.3.4 :",            /* 22 */
		"2001:db8::/",          /* 23 */
		"1.2.3.0/-1",           /* 24 */
		"1..2.3",               /* 25 */
		"1.2.3.4 :0.0.0.0",     /* 26 */
	};
	char text[4096] = "";
	struct reports rs;
	struct lists *l;
	size_t i;
	char name[64];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcat(text, bad[i]);
		strcat(text, "\n");
	}
	strcat(text, "9.9.9.9\n"); /* loading goes on after the bad lines */
	l = load_text(text, &rs);
	if (!l)
		return;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "line %zu \"%s\" is an error", i + 1, bad[i]);
		ok(reported(&rs, (unsigned)i + 1, 0, NULL), "%s", name);
	}
	is_int(count_level(&rs, 0), sizeof(bad) / sizeof(bad[0]), "one error per bad line");
	is_int(lists_count(l), 1, "only the good line counts");
	L("9.9.9.9", "127.0.0.2 ");
	L("1.2.3.4", "MISS");
	L("2001:db8::1", "MISS");
	ok(reported(&rs, 3, 0, "over 32"), "/33 says why");
	ok(reported(&rs, 4, 0, "missing prefix length"), "\"1.2.3.4/\" says why");
	ok(reported(&rs, 11, 0, "invalid A value"), "bad A says why");
	ok(reported(&rs, 14, 0, "after the A value"), "garbage after the value says why");
	ok(reported(&rs, 16, 0, "over 128"), "/129 says why");
	if (count_level(&rs, 0) != (int)(sizeof(bad) / sizeof(bad[0])))
		dump_reports(&rs);
	lists_free(l);
}

/* A file of garbage reports its first 100 problems, then one summary (line 0). */
static void test_report_cap(void)
{
	char *text = malloc(150 * 8 + 16);
	struct reports rs;
	struct lists *l;
	size_t n = 0;
	int i;

	for (i = 0; i < 150; i++)
		n += (size_t)sprintf(text + n, "junk%d\n", i % 10);
	sprintf(text + n, "7.7.7.7\n");
	l = load_text(text, &rs);
	free(text);
	if (!l)
		return;
	is_int(rs.total, 101, "100 line reports and a summary");
	ok(reported(&rs, 100, 0, NULL) && !reported(&rs, 101, 0, NULL), "lines 1-100 reported");
	ok(reported(&rs, 0, 0, "50 more problems"), "summary counts the rest, as an error");
	L("7.7.7.7", "127.0.0.2 ");
	lists_free(l);
}

static void test_long_and_nul(void)
{
	char *text = malloc(20000);
	struct lists *l = NULL;
	struct reports rs = { .n = 0 };
	const char *path;
	size_t n = 0;

	n += (size_t)sprintf(text + n, "1.1.1.1\n");
	memset(text + n, 'x', 5000); /* line 2: too long */
	n += 5000;
	text[n++] = '\n';
	memcpy(text + n, "2.2.2.2 a\0b\n", 12); /* line 3: NUL byte */
	n += 12;
	n += (size_t)sprintf(text + n, "3.3.3.3 ");  /* line 4: exactly 4096 bytes */
	memset(text + n, 't', 4096 - 8);
	n += 4096 - 8;
	text[n++] = '\n';
	n += (size_t)sprintf(text + n, "4.4.4.4 ");  /* line 5: 4097 bytes */
	memset(text + n, 't', 4097 - 8);
	n += 4097 - 8;
	text[n++] = '\n';
	n += (size_t)sprintf(text + n, "5.5.5.5\r\n6.6.6.6"); /* CRLF, no final newline */
	path = write_file("long.list", text, n);
	is_int(lists_load(&path, 1, collect, &rs, &l), 0, "file with long and NUL lines loads");
	ok(reported(&rs, 2, 0, "longer than 4096"), "line 2 too long");
	ok(reported(&rs, 3, 0, "NUL"), "line 3 has a NUL byte");
	ok(!reported(&rs, 4, 0, NULL), "a 4096-byte line is fine");
	ok(reported(&rs, 4, 1, "truncated to 255"), "its TXT is truncated, with a warning");
	ok(reported(&rs, 5, 0, "longer than 4096"), "a 4097-byte line is too long");
	is_int(lists_count(l), 4, "four good lines");
	L("1.1.1.1", "127.0.0.2 ");
	L("2.2.2.2", "MISS");
	L("4.4.4.4", "MISS");
	L("5.5.5.5", "127.0.0.2 ");
	L("6.6.6.6", "127.0.0.2 ");
	{
		struct ipaddr a;
		const struct lists_value *v = NULL;

		a = ip_of("3.3.3.3");
		ok(lists_match(l, &a, &v) == LISTS_LISTED && v && strlen(v->txt) == 255,
		   "TXT kept to 255 bytes");
	}
	lists_free(l);
	free(text);
}

static void test_zeros_hostbits_directives(void)
{
	struct reports rs;
	struct lists *l = load_text(
		"# comment\n"                 /* 1 */
		"; another comment\n"         /* 2 */
		"\n"                          /* 3 */
		"   \t\n"                     /* 4 */
		"$TTL 300\n"                  /* 5 */
		"$SOA 0 ns.example. hm.example. 0 1 2 3 4\n" /* 6 */
		"$NS 0 ns.example.\n"         /* 7 */
		"$1 http://example.org/\n"    /* 8 */
		":$DATASET ip4set @\n"        /* 9 */
		"010.000.000.001\n"           /* 10 */
		"020.0.0.1\n"                 /* 11: zeros again, no new warning */
		"1.2.3.4/24\n"                /* 12: host bits */
		"2001:db8::1/32\n"            /* 13: host bits */
		"  5.6.7.8  \n", &rs);        /* 14: surrounding spaces */

	if (!l)
		return;
	is_int(count_level(&rs, 0), 0, "no errors");
	ok(reported(&rs, 5, 1, "$TTL"), "$TTL ignored with a warning on line 5");
	ok(reported(&rs, 6, 1, "$SOA"), "$SOA ignored with a warning on line 6");
	ok(reported(&rs, 7, 1, "$NS"), "$NS ignored with a warning on line 7");
	ok(reported(&rs, 8, 1, "$1"), "$1 ignored with a warning on line 8");
	ok(reported(&rs, 9, 1, ":$DATASET"), ":$ ignored with a warning on line 9");
	ok(reported(&rs, 10, 1, "leading zeros"), "leading zeros warned on line 10");
	ok(!reported(&rs, 11, 1, NULL), "and only once per file");
	ok(reported(&rs, 12, 1, "host bits"), "host bits warned on line 12");
	ok(reported(&rs, 13, 1, "host bits"), "IPv6 host bits warned on line 13");
	is_int(count_level(&rs, 1), 8, "eight warnings");
	is_int(lists_count(l), 5, "five entries");
	L("10.0.0.1", "127.0.0.2 ");
	L("8.0.0.1", "MISS");
	L("20.0.0.1", "127.0.0.2 ");
	L("16.0.0.1", "MISS");
	L("1.2.3.0", "127.0.0.2 ");
	L("1.2.3.255", "127.0.0.2 ");
	L("2001:db8:ffff::", "127.0.0.2 ");
	L("5.6.7.8", "127.0.0.2 ");
	ok(rs.n > 0 && strcmp(rs.r[0].file, last_path) == 0, "reports name the file");
	lists_free(l);
}

static void test_values(void)
{
	struct reports rs;
	struct lists_stats st;
	struct lists *l = load_text(
		"1.0.0.1\n"                              /* built-in default */
		"1.0.0.2 :127.0.0.3:Three $\n"
		"1.0.0.3 :4:Four\n"                      /* bare N = 127.0.0.N */
		"1.0.0.4 :5\n"                           /* A only: default TXT (none yet) */
		"1.0.0.5 Text only\n"                    /* default A */
		"1.0.0.6:127.0.0.6:no space\n"           /* no space before the value */
		"1.0.0.7 # a comment\n"                  /* default */
		"1.0.0.8 ; a comment\n"
		"1.0.0.9 :7 # comment after A\n"
		"1.0.0.10 see #5 ; here\n"               /* '#' inside a TXT */
		"1.0.0.11 :8:   spaced   \n"
		"1.0.0.12 :9:\n"                         /* empty TXT */
		"1.0.0.13 :10.20.30.40:Other A\n"
		":127.0.0.5:Default five, see $\n"       /* line 14 */
		"2.0.0.1\n"
		"2.0.0.2 :6\n"                           /* A only: TXT of the default */
		"2.0.0.3 Own text\n"                     /* A of the default */
		"2.0.0.4 :127.0.0.7:Seven\n"
		"!2.0.0.5 :127.0.0.9:ignored\n"          /* exclusion ignores its value */
		":3\n"                                   /* line 20: default A only */
		"2.0.0.6\n"
		"2.0.0.7 Text\n"
		":\n"                                    /* line 23: bad default */
		"2.0.0.8\n", &rs);

	if (!l)
		return;
	L("1.0.0.1", "127.0.0.2 ");
	L("1.0.0.2", "127.0.0.3 Three $");
	L("1.0.0.3", "127.0.0.4 Four");
	L("1.0.0.4", "127.0.0.5 ");
	L("1.0.0.5", "127.0.0.2 Text only");
	L("1.0.0.6", "127.0.0.6 no space");
	L("1.0.0.7", "127.0.0.2 ");
	L("1.0.0.8", "127.0.0.2 ");
	L("1.0.0.9", "127.0.0.7 ");
	L("1.0.0.10", "127.0.0.2 see #5 ; here");
	L("1.0.0.11", "127.0.0.8 spaced");
	L("1.0.0.12", "127.0.0.9 ");
	L("1.0.0.13", "10.20.30.40 Other A");
	L("2.0.0.1", "127.0.0.5 Default five, see $");
	L("2.0.0.2", "127.0.0.6 Default five, see $");
	L("2.0.0.3", "127.0.0.5 Own text");
	L("2.0.0.4", "127.0.0.7 Seven");
	L("2.0.0.5", "EXCL");
	L("2.0.0.6", "127.0.0.3 ");
	L("2.0.0.7", "127.0.0.3 Text");
	L("2.0.0.8", "127.0.0.3 ");
	ok(reported(&rs, 23, 0, "invalid A"), "\":\" alone is a bad default line");
	is_int(count_level(&rs, 0), 1, "no other error");
	is_int(lists_count(l), 21, "21 entries (default lines do not count)");
	lists_stats(l, &st);
	is_int(st.entries, 21, "stats: entries");
	{
		struct ipaddr a, b;
		const struct lists_value *va, *vb;

		a = ip_of("2.0.0.1");
		b = ip_of("2.0.0.2");
		lists_match(l, &a, &va);
		lists_match(l, &b, &vb);
		ok(va != vb && va->txt == vb->txt, "same TXT with two A codes: one interned string");
		a = ip_of("1.0.0.7");
		b = ip_of("1.0.0.8");
		lists_match(l, &a, &va);
		lists_match(l, &b, &vb);
		ok(va == vb, "same value: one lists_value");
	}
	lists_free(l);
}

static void test_default_per_file(void)
{
	const char *paths[2];
	struct reports rs = { .n = 0 };
	struct lists *l = NULL;

	paths[0] = write_file("a.list", ":127.0.0.9:From A\n1.1.1.1\n", 27);
	paths[1] = write_file("b.list", "2.2.2.2\n", 8);
	is_int(lists_load(paths, 2, collect, &rs, &l), 0, "two files load");
	L("1.1.1.1", "127.0.0.9 From A");
	L("2.2.2.2", "127.0.0.2 ");
	lists_free(l);
}

static void test_longest_prefix(void)
{
	struct reports rs;
	struct lists *l = load_text(
		"10.0.0.0/8 :127.0.0.2:eight\n"
		"10.1.0.0/16 :127.0.0.3:sixteen\n"
		"!10.1.2.0/24\n"
		"10.1.2.3 :127.0.0.4:thirtytwo\n"
		"!10.1.5.5\n"
		"10.1.2.0/28 :127.0.0.5:twentyeight\n"
		"20.0.0.0/24 :127.0.0.2:first\n"
		"20.0.0.0/24 :127.0.0.3:second\n"     /* same prefix: later wins */
		"!30.0.0.0/24\n"
		"30.0.0.0/24\n"                       /* later listing wins over exclusion */
		"40.0.0.0/24\n"
		"!40.0.0.0/24\n"                      /* later exclusion wins */
		"50.0.0.0/24 :127.0.0.2:a\n"
		"50.0.1.0/24 :127.0.0.2:a\n"          /* adjacent, same value */
		"60.0.0.0/30 :127.0.0.2:x\n"
		"60.0.0.0/32 :127.0.0.3:y\n", &rs);   /* same start, longer */

	if (!l)
		return;
	L("10.0.0.0", "127.0.0.2 eight");
	L("10.255.255.255", "127.0.0.2 eight");
	L("10.1.0.0", "127.0.0.3 sixteen");
	L("10.1.1.255", "127.0.0.3 sixteen");
	L("10.1.2.0", "127.0.0.5 twentyeight");
	L("10.1.2.3", "127.0.0.4 thirtytwo");
	L("10.1.2.15", "127.0.0.5 twentyeight");
	L("10.1.2.16", "EXCL");
	L("10.1.2.255", "EXCL");
	L("10.1.3.0", "127.0.0.3 sixteen");
	L("10.1.5.4", "127.0.0.3 sixteen");
	L("10.1.5.5", "EXCL");
	L("10.1.5.6", "127.0.0.3 sixteen");
	L("10.2.0.0", "127.0.0.2 eight");
	L("11.0.0.0", "MISS");
	L("9.255.255.255", "MISS");
	L("20.0.0.9", "127.0.0.3 second");
	L("30.0.0.9", "127.0.0.2 ");
	L("40.0.0.9", "EXCL");
	L("50.0.0.255", "127.0.0.2 a");
	L("50.0.1.0", "127.0.0.2 a");
	L("50.0.2.0", "MISS");
	L("60.0.0.0", "127.0.0.3 y");
	L("60.0.0.1", "127.0.0.2 x");
	L("60.0.0.3", "127.0.0.2 x");
	L("60.0.0.4", "MISS");
	{
		struct lists_stats st;

		lists_stats(l, &st);
		ok(st.intervals6 == 1, "no IPv6 entries: one IPv6 row (all miss)");
		diag("intervals4 %zu values %zu bytes %zu", st.intervals4, st.values, st.bytes);
		ok(st.intervals4 <= 2 * 16 + 1, "rows bounded by 2 per prefix + 1");
	}
	lists_free(l);
}

static void test_files(void)
{
	const char *paths[3];
	struct reports rs = { .n = 0 };
	struct lists *l = NULL;
	const char *a = "10.0.0.0/16 :127.0.0.2:A\n!10.0.1.1\n10.0.2.2 :127.0.0.3:A\n";
	const char *b = "# b\n10.0.0.0/16 :127.0.0.4:B\n10.0.1.1 :127.0.0.5:B\nbad\n";
	const char *c = "!10.0.2.2\n";

	paths[0] = write_file("a.list", a, strlen(a));
	paths[1] = write_file("b.list", b, strlen(b));
	paths[2] = write_file("c.list", c, strlen(c));
	is_int(lists_load(paths, 3, collect, &rs, &l), 0, "three files load");
	L("10.0.0.1", "127.0.0.4 B");
	L("10.0.1.1", "127.0.0.5 B");
	L("10.0.2.2", "EXCL");
	L("10.0.2.3", "127.0.0.4 B");
	is_int(lists_count(l), 6, "entries of all files counted");
	ok(rs.n == 1 && rs.r[0].line == 4 && strcmp(rs.r[0].file, paths[1]) == 0 &&
	   rs.r[0].level == 0, "error reported as b.list line 4");
	lists_free(l);

	/* a missing file fails the whole load with its errno */
	memset(&rs, 0, sizeof(rs));
	paths[1] = "/nonexistent/threatbl/none.list";
	l = (struct lists *)&rs;
	is_int(lists_load(paths, 2, collect, &rs, &l), -ENOENT, "missing file: -ENOENT");
	ok(l == NULL, "no structure on failure");
	ok(rs.n == 1 && rs.r[0].line == 0 && strcmp(rs.r[0].file, paths[1]) == 0 &&
	   rs.r[0].level == 0, "missing file reported with line 0");
	is_int(lists_load(paths + 1, 1, NULL, NULL, &l), -ENOENT, "no callback: still -ENOENT");

	/* a directory cannot be read as a list */
	is_int(lists_load((const char *const[]){ tmpdir }, 1, NULL, NULL, &l) < 0, 1,
	       "a directory fails");

	/* no files: an empty structure */
	is_int(lists_load(NULL, 0, NULL, NULL, &l), 0, "zero files load");
	L("1.2.3.4", "MISS");
	L("::1", "MISS");
	is_int(lists_count(l), 0, "nothing in it");
	lists_free(l);
	l = NULL;
	L("1.2.3.4", "MISS"); /* lists_match(NULL) */
	is_int(lists_count(NULL), 0, "lists_count(NULL)");
	lists_free(NULL);
}

static void test_ipv6(void)
{
	struct reports rs;
	struct lists *l = load_text(
		"2001:db8::/32 :127.0.0.2:v6 thirtytwo\n"
		"!2001:db8:1::/48\n"
		"2001:db8:1:2::/64 :127.0.0.3:sixtyfour\n"
		"2001:db8:1:2::7 :127.0.0.4:host\n"
		"::1\n"
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff :127.0.0.5:last\n"
		"::/128 :127.0.0.6:first\n"
		"2001:db8::/32:127.0.0.7:no space after len\n"
		"! 2001:db8:5::/48\n"
		"::ffff:192.0.2.0/120 :127.0.0.8:mapped\n"
		"192.0.2.128/25 :127.0.0.9:v4 inside mapped\n", &rs);

	if (!l)
		return;
	is_int(count_level(&rs, 0), 0, "no errors");
	L("2001:db8::1", "127.0.0.7 no space after len"); /* same /32 again: later wins */
	L("2001:db8:1::1", "EXCL");
	L("2001:db8:1:2::1", "127.0.0.3 sixtyfour");
	L("2001:db8:1:2::7", "127.0.0.4 host");
	L("2001:db8:1:3::", "EXCL");
	L("2001:db8:2::", "127.0.0.7 no space after len");
	L("2001:db8:5::9", "EXCL");
	L("::1", "127.0.0.2 ");
	L("::2", "MISS");
	L("::", "127.0.0.6 first");
	L("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "127.0.0.5 last");
	L("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "MISS");
	L("192.0.2.1", "127.0.0.8 mapped");
	L("192.0.2.200", "127.0.0.9 v4 inside mapped");
	L("::ffff:192.0.2.200", "127.0.0.9 v4 inside mapped");
	L("192.0.3.0", "MISS");
	lists_free(l);

	/* an IPv6 prefix covering ::ffff:0:0/96 covers IPv4, below any IPv4 entry */
	l = load_text("::/0 :127.0.0.2:all\n1.2.3.0/24 :127.0.0.3:v4\n!1.2.3.4\n"
		      "::ffff:0:0/96 :127.0.0.4:all v4\n2000::/3 :127.0.0.5:global\n", &rs);
	if (!l)
		return;
	L("9.9.9.9", "127.0.0.4 all v4");
	L("1.2.3.5", "127.0.0.3 v4");
	L("1.2.3.4", "EXCL");
	L("2001:db8::1", "127.0.0.5 global");
	L("fe80::1", "127.0.0.2 all");
	L("::1", "127.0.0.2 all");
	lists_free(l);
	l = load_text("::/64 :127.0.0.2:low\n", &rs);
	if (!l)
		return;
	L("1.2.3.4", "127.0.0.2 low");
	L("0.0.0.0", "127.0.0.2 low");
	L("0:0:0:1::1", "MISS");
	L("::1:0:0:1", "127.0.0.2 low");
	lists_free(l);
}

static void test_edges(void)
{
	struct reports rs;
	struct lists_stats st;
	struct lists *l = load_text(
		"0.0.0.0\n"
		"255.255.255.255 :127.0.0.3:top\n"
		"0.0.0.2-0.0.0.5\n"
		"255.255.255.250-255.255.255.253 :127.0.0.4:near top\n"
		"10.0.0.0-10.255.255.255 :127.0.0.5:whole eight\n"
		"20.0.0.1-20.255.255.255 :127.0.0.6:almost eight\n", &rs);

	if (!l)
		return;
	L("0.0.0.0", "127.0.0.2 ");
	L("0.0.0.1", "MISS");
	L("0.0.0.2", "127.0.0.2 ");
	L("0.0.0.5", "127.0.0.2 ");
	L("0.0.0.6", "MISS");
	L("255.255.255.255", "127.0.0.3 top");
	L("255.255.255.254", "MISS");
	L("255.255.255.253", "127.0.0.4 near top");
	L("255.255.255.250", "127.0.0.4 near top");
	L("255.255.255.249", "MISS");
	L("9.255.255.255", "MISS");
	L("10.0.0.0", "127.0.0.5 whole eight");
	L("10.128.0.1", "127.0.0.5 whole eight");
	L("10.255.255.255", "127.0.0.5 whole eight");
	L("11.0.0.0", "MISS");
	L("20.0.0.0", "MISS");
	L("20.0.0.1", "127.0.0.6 almost eight");
	L("20.255.255.255", "127.0.0.6 almost eight");
	L("21.0.0.0", "MISS");
	lists_free(l);

	l = load_text("0.0.0.0-255.255.255.255\n!128.0.0.0\n", &rs);
	if (!l)
		return;
	L("0.0.0.0", "127.0.0.2 ");
	L("127.255.255.255", "127.0.0.2 ");
	L("128.0.0.0", "EXCL");
	L("128.0.0.1", "127.0.0.2 ");
	L("255.255.255.255", "127.0.0.2 ");
	L("::1", "MISS");
	lists_stats(l, &st);
	is_int(st.intervals4, 3, "whole space with one hole: three rows");
	lists_free(l);

	l = load_text("0/0\n", &rs);
	if (!l)
		return;
	L("0.0.0.0", "127.0.0.2 ");
	L("255.255.255.255", "127.0.0.2 ");
	lists_stats(l, &st);
	is_int(st.intervals4, 1, "0/0: one row");
	lists_free(l);
}

/* Prefixes of every length around one address: flipping bit k of it lands in the /k
 * prefix. Run for a plain IPv6 address and for a mapped IPv4 one (whose prefixes
 * under /96 cover all of IPv4 and the rest are IPv4 prefixes). Also 300 lines of the
 * same prefix, more than any nesting depth: the last one wins. */
static void test_nesting(void)
{
	static const char *const bases[] = { "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff",
					     "::ffff:1.2.3.4" };
	struct reports rs;
	char *text = malloc(64 * 1024), want[64], name[96];
	struct lists *l;
	size_t b, n;
	unsigned k, bad;

	for (b = 0; b < 2; b++) {
		struct ipaddr base, q;

		ipaddr_parse(&base, bases[b]);
		for (n = 0, k = 0; k <= 128; k++)
			n += (size_t)sprintf(text + n, "%s/%u :10.0.0.%u:len %u\n", bases[b], k, k, k);
		l = load_text(text, &rs);
		if (!l)
			break;
		is_int(count_level(&rs, 0), 0, "nested prefixes: no error");
		for (bad = 0, k = 0; k <= 128; k++) {
			const struct lists_value *v = NULL;
			unsigned want_len = k;

			q = base;
			if (k < 128)
				q.b[k / 8] ^= (uint8_t)(0x80 >> (k % 8));
			else
				want_len = 128;
			snprintf(want, sizeof(want), "len %u", want_len);
			if (lists_match(l, &q, &v) != LISTS_LISTED || v->a[3] != want_len ||
			    strcmp(v->txt, want) != 0) {
				bad++;
				diag("bit %u flipped: %s", k, v ? v->txt : "no match");
			}
		}
		snprintf(name, sizeof(name), "%s: each flipped bit finds its prefix", bases[b]);
		is_int(bad, 0, name);
		lists_free(l);
	}
	for (n = 0, k = 1; k <= 300; k++)
		n += (size_t)sprintf(text + n, "5.5.5.0/24 dup %u\n", k);
	l = load_text(text, &rs);
	if (l) {
		L("5.5.5.5", "127.0.0.2 dup 300");
		lists_free(l);
	}
	free(text);
}

static void test_demo_files(void)
{
	char top[512], p4[600], p6[600];
	const char *paths[2] = { p4, p6 };
	const char *env = getenv("TOP_SRCDIR");
	struct reports rs = { .n = 0 };
	struct lists *l = NULL;

	if (env) {
		snprintf(top, sizeof(top), "%s", env);
	} else {
		snprintf(top, sizeof(top), "%s", __FILE__);
		if (strstr(top, "test/unit/test_lists.c"))
			*strstr(top, "test/unit/test_lists.c") = '\0';
		else
			snprintf(top, sizeof(top), ".");
		if (!top[0])
			snprintf(top, sizeof(top), ".");
	}
	snprintf(p4, sizeof(p4), "%s/zones/demo.ip4set", top);
	snprintf(p6, sizeof(p6), "%s/zones/example.ip6trie", top);
	is_int(lists_load(paths, 2, collect, &rs, &l), 0, "demo lists load");
	is_int(rs.n, 0, "demo lists load without a report");
	if (rs.n)
		dump_reports(&rs);
	L("192.0.2.7", "127.0.0.2 Demo list: $ is listed");
	L("192.0.2.1", "EXCL");
	L("192.0.2.200", "127.0.0.3 Demo list: $ serves OpenVPN on tcp/443");
	L("198.51.100.15", "127.0.0.4 Demo list: $ is a hosting network");
	L("198.51.100.21", "MISS");
	L("203.0.113.9", "127.0.0.2 Demo list: $ is listed");
	L("8.8.8.8", "MISS");
	L("2001:db8:1::2", "127.0.0.2 Demo list: $ is listed");
	L("2001:db8:1::1", "EXCL");
	L("2001:db8:2::1", "127.0.0.4 Demo list: $ is a hosting network");
	L("2001:db8:2::5", "127.0.0.3 Demo list: $ serves OpenVPN on tcp/443");
	L("2001:db8:3::1", "MISS");
	lists_free(l);
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/* A million generated entries: each i gives address mix(i) (a bijection, so all
 * distinct); every 10th has its own value, every 7th is an exclusion, and there are
 * a few thousand /24 prefixes over them. */
static void test_million(void)
{
	const unsigned n = 1000000;
	struct timespec t0, t1;
	struct lists_stats st;
	struct lists *l = NULL;
	struct reports rs = { .n = 0 };
	unsigned i, bad = 0, hits;
	uint32_t *sorted;
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/million.list", tmpdir);
	f = fopen(path, "w");
	if (!f) {
		ok(0, "cannot write %s", path);
		return;
	}
	fprintf(f, ":127.0.0.2:Listed, see $\n");
	for (i = 0; i < n; i++) {
		uint32_t a = mix(i);

		if (i % 7 == 0)
			fprintf(f, "!%u.%u.%u.%u\n", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
		else if (i % 10 == 0)
			fprintf(f, "%u.%u.%u.%u :127.0.0.%u:Entry %u\n", a >> 24, a >> 16 & 255,
				a >> 8 & 255, a & 255, 3 + i % 5, i);
		else
			fprintf(f, "%u.%u.%u.%u\n", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
	}
	fclose(f);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(lists_load((const char *const[]){ path }, 1, collect, &rs, &l), 0,
	       "a million entries load");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	diag("1,000,000 entries loaded in %.3f s",
	     (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (!l)
		return;
	is_int(rs.total, 0, "no report");
	is_int(lists_count(l), n, "all counted");
	for (i = 0; i < n; i++) {
		uint32_t a = mix(i);
		const struct lists_value *v;
		struct ipaddr ip;
		enum lists_match m;
		char want[64];

		ip = v4(a);
		m = lists_match(l, &ip, &v);
		if (i % 7 == 0) {
			bad += m != LISTS_EXCLUDED;
		} else if (i % 10 == 0) {
			snprintf(want, sizeof(want), "Entry %u", i);
			bad += m != LISTS_LISTED || v->a[3] != 3 + i % 5 || strcmp(v->txt, want);
		} else {
			bad += m != LISTS_LISTED || v->a[3] != 2 ||
			       strcmp(v->txt, "Listed, see $") != 0;
		}
	}
	is_int(bad, 0, "every generated entry matches as written");
	/* the address after each entry: a miss unless it is an entry itself */
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted) {
		ok(0, "out of memory");
		lists_free(l);
		return;
	}
	for (i = 0; i < n; i++)
		sorted[i] = mix(i);
	qsort(sorted, n, sizeof(*sorted), cmp_u32);
	for (i = 0, bad = 0, hits = 0; i < n; i += 10) {
		uint32_t a = mix(i) + 1;
		struct ipaddr ip;
		int entry = bsearch(&a, sorted, n, sizeof(*sorted), cmp_u32) != NULL;

		ip = v4(a);
		if (entry)
			hits++;
		else
			bad += lists_match(l, &ip, NULL) != LISTS_MISS;
	}
	free(sorted);
	is_int(bad, 0, "addresses next to entries miss");
	diag("%u of 100000 next addresses were entries themselves", hits);
	lists_stats(l, &st);
	diag("rows4 %zu rows6 %zu values %zu bytes %zu", st.intervals4, st.intervals6, st.values,
	     st.bytes);
	ok(st.values <= 2 + 100000, "values deduplicated (%zu)", st.values);
	ok(st.bytes < 64u * 1024 * 1024, "under 64 MB held (%zu)", st.bytes);
	lists_free(l);
	unlink(path);
}

/* Prefixes of every length from /8 to /32, enough of them for the lookup index
 * (lists.c, INDEX4_MIN), checked against a brute-force longest-prefix match at their
 * edges, just outside them and at the index's bucket boundaries (h << 16, one
 * below), with 0.0.0.0 and 255.255.255.255; and the same list cut to a few entries,
 * which is searched without the index. */
static void test_index_model(void)
{
	enum { N = 3000, NQ = 8 * N + 4002 };
	static uint32_t net[N], qs[NQ];
	static uint8_t len[N], val[N];
	unsigned sizes[2] = { N, 40 }, i, k, n, nq, bad;
	char path[512];
	FILE *f;

	for (i = 0; i < N; i++) {
		uint32_t a = mix(i * 2654435761u + 17);

		len[i] = (uint8_t)(8 + mix(i) % 25);
		net[i] = len[i] == 32 ? a : a & ~(0xffffffffu >> len[i]);
		val[i] = (uint8_t)(2 + i % 250);
		/* a (net, len) seen before would make "the later line wins" the model */
		for (k = 0; k < i; k++)
			if (net[k] == net[i] && len[k] == len[i])
				break;
		if (k < i)
			len[i] = 0; /* left out */
	}
	for (int round = 0; round < 2; round++) {
		struct lists *l = NULL;
		struct reports rs = { .n = 0 };

		n = sizes[round];
		snprintf(path, sizeof(path), "%s/index.list", tmpdir);
		f = fopen(path, "w");
		if (!f) {
			ok(0, "cannot write %s", path);
			return;
		}
		for (i = 0; i < n; i++)
			if (len[i])
				fprintf(f, "%u.%u.%u.%u/%u :127.0.0.%u:\n", net[i] >> 24,
					net[i] >> 16 & 255, net[i] >> 8 & 255, net[i] & 255, len[i],
					val[i]);
		fclose(f);
		if (!ok(lists_load((const char *const[]){ path }, 1, collect, &rs, &l) == 0 && l,
			"index model, %u entries: loads", n))
			return;
		nq = 0;
		qs[nq++] = 0;
		qs[nq++] = 0xffffffffu;
		for (i = 0; i < n; i++) {
			uint32_t last;

			if (!len[i])
				continue;
			last = net[i] | (len[i] == 32 ? 0 : 0xffffffffu >> len[i]);
			qs[nq++] = net[i];
			qs[nq++] = last;
			qs[nq++] = net[i] - 1;
			qs[nq++] = last + 1;
		}
		for (i = 0; i < 2000; i++) {
			uint32_t h = mix(i + 99) & 0xffff;

			qs[nq++] = h << 16;
			qs[nq++] = (h << 16) - 1;
		}
		for (k = 0, bad = 0; k < nq; k++) {
			const struct lists_value *v;
			struct ipaddr ip;
			int best = -1;
			enum lists_match m;

			for (i = 0; i < n; i++) {
				uint32_t mask = len[i] ? 0xffffffffu << (32 - len[i]) : 0;

				if (len[i] && (qs[k] & mask) == net[i] &&
				    (best < 0 || len[i] > len[best]))
					best = (int)i;
			}
			ip = v4(qs[k]);
			m = lists_match(l, &ip, &v);
			if (best < 0 ? m != LISTS_MISS
				     : m != LISTS_LISTED || v->a[3] != val[best]) {
				if (bad++ < 5)
					diag("%u.%u.%u.%u: want %d, got %d/%u", qs[k] >> 24,
					     qs[k] >> 16 & 255, qs[k] >> 8 & 255, qs[k] & 255,
					     best < 0 ? -1 : val[best], m,
					     m == LISTS_LISTED ? v->a[3] : 0);
			}
		}
		ok(bad == 0, "index model, %u entries: %u lookups as the brute force says (%u wrong)",
		   n, nq, bad);
		lists_free(l);
	}
}

int main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_lists.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	test_forms();
	test_bad_lines();
	test_report_cap();
	test_long_and_nul();
	test_zeros_hostbits_directives();
	test_values();
	test_default_per_file();
	test_longest_prefix();
	test_files();
	test_ipv6();
	test_edges();
	test_nesting();
	test_demo_files();
	test_million();
	test_index_model();
	{
		static const char *const names[] = { "one.list", "long.list", "a.list",
						     "b.list", "c.list", "index.list" };
		char p[600];
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(p, sizeof(p), "%s/%s", tmpdir, names[i]);
			unlink(p);
		}
		rmdir(tmpdir);
	}
	return done_testing();
}
