/* test_feed_parse.c - feed_parse.c: every format on fixtures of its published shape
 * (test/fixtures/feed_*), and the bodies a feed must refuse whole: not the format,
 * no entries, mostly bad lines, over max-entries, injected rbldnsd syntax. Also
 * feed.c's helpers that need no loop (the table, the kept copy's directory). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "feed_parse.h"
#include "ipaddr.h"
#include "lists.h"
#include "tap.h"

static char *slurp(const char *name, size_t *len)
{
	const char *top = getenv("TOP_SRCDIR");
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/test/fixtures/%s", top ? top : ".", name);
	f = fopen(path, "rb");
	if (!f) {
		printf("Bail out! cannot open %s\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int listed(const struct lists *l, const char *text)
{
	struct ipaddr ip;

	if (ipaddr_parse(&ip, text) < 0) {
		diag("bad test address %s", text);
		return -1;
	}
	return lists_match(l, &ip, NULL) == LISTS_LISTED;
}

/* Parse the fixture, expect `entries`, then the listed and unlisted addresses. */
static void fixture(const char *file, enum feed_format fmt, unsigned column, size_t entries,
		    const char *const *in, const char *const *out)
{
	char why[200];
	struct lists *l = NULL;
	size_t len;
	char *body = slurp(file, &len);
	int r = feed_parse(fmt, column, file, body, len, 0, NULL, NULL, why, sizeof(why), &l);

	if (!ok(r == 0 && l, "%s parses as %s", file, feed_format_names[fmt]))
		diag("%d: %s", r, why);
	if (l) {
		is_int(lists_count(l), entries, "its entries");
		for (; *in; in++)
			ok(listed(l, *in) == 1, "%s: %s is listed", file, *in);
		for (; *out; out++)
			ok(listed(l, *out) == 0, "%s: %s is not", file, *out);
	}
	lists_free(l);
	free(body);
}

static int parse_str(enum feed_format fmt, unsigned column, const char *body, size_t max,
		     char *why, struct lists **l)
{
	return feed_parse(fmt, column, "t", body, strlen(body), max, NULL, NULL, why, 200, l);
}

/* A body that must be refused: err, why mentioning `word`, no list. */
static void refused(enum feed_format fmt, const char *body, int err, const char *word,
		    const char *name)
{
	char why[200];
	struct lists *l = (struct lists *)1;
	int r = parse_str(fmt, 1, body, 0, why, &l);

	if (!ok(r == err && l == NULL && strstr(why, word), "refused: %s", name))
		diag("got %d, why \"%s\"", r, why);
	if (r == 0)
		lists_free(l);
}

static void test_fixtures(void)
{
	fixture("feed_tor.txt", FEED_PLAIN, 0, 10,
		(const char *const[]){ "1.36.40.210", "185.220.101.1", "104.244.73.43", NULL },
		(const char *const[]){ "1.36.40.211", "185.220.101.2", "8.8.8.8", NULL });
	fixture("feed_aws.json", FEED_AWS, 0, 7,
		(const char *const[]){ "3.2.34.63", "13.34.37.70", "52.94.79.255",
				       "18.215.255.255", "2600:1f14::1",
				       "2a05:d07a:a0ff::5", NULL },
		(const char *const[]){ "3.2.34.64", "18.216.0.0", "2600:1f15::1", NULL });
	fixture("feed_gcp.json", FEED_GCP, 0, 5,
		(const char *const[]){ "34.1.223.255", "104.155.1.1", "2600:1900:800f::1",
				       "2600:1901:8180::1", NULL },
		(const char *const[]){ "34.1.224.0", "104.156.0.0", "2600:1900:8010::1", NULL });
	fixture("feed_oracle.json", FEED_ORACLE, 0, 4,
		(const char *const[]){ "129.146.7.1", "134.70.15.255", "130.61.200.1",
				       "138.1.15.1", NULL },
		(const char *const[]){ "129.146.8.0", "138.1.16.0", NULL });
	fixture("feed_do.csv", FEED_CSV, 1, 6,
		(const char *const[]){ "5.101.96.1", "45.55.31.255", "2604:a880:800::9",
				       "2a03:b0c0:0:1000::1", NULL },
		(const char *const[]){ "5.101.108.0", "45.55.32.0", "2604:a880:801::1", NULL });
}

static void test_shapes(void)
{
	char why[200];
	struct lists *l = NULL;
	int r;

	/* rbldnsd ip4set text in a plain feed: comments, ranges, /24 shorthand */
	r = parse_str(FEED_PLAIN, 0, "# exits\n; more\n10.0.0.1\n10.1.2\n10.2.0.0-10.2.0.255\n",
		      0, why, &l);
	ok(r == 0 && l && lists_count(l) == 3, "plain: comments, shorthand, range");
	if (l) {
		ok(listed(l, "10.1.2.200") == 1, "plain: 10.1.2 is a /24");
		ok(listed(l, "10.2.0.128") == 1, "plain: the range");
	}
	lists_free(l);
	l = NULL;
	/* CRLF line ends and a header line in CSV; a quoted field; another column */
	r = parse_str(FEED_CSV, 1, "prefix,country\r\n\"192.0.2.0/24\",NL\r\n198.51.100.0/24,US\r\n",
		      0, why, &l);
	ok(r == 0 && l && lists_count(l) == 2, "csv: CRLF, a header, quotes");
	lists_free(l);
	l = NULL;
	r = parse_str(FEED_CSV, 3, "a,b,192.0.2.1\nc,d,192.0.2.2\n", 0, why, &l);
	ok(r == 0 && l && lists_count(l) == 2 && listed(l, "192.0.2.2") == 1,
	   "csv: column 3");
	lists_free(l);
	l = NULL;
	/* AWS without ipv6_prefixes is fine (older files had none) */
	r = parse_str(FEED_AWS, 0, "{\"syncToken\":\"1\",\"prefixes\":[{\"ip_prefix\":"
		      "\"192.0.2.0/24\",\"region\":\"x\"}]}", 0, why, &l);
	ok(r == 0 && l && lists_count(l) == 1, "aws: no ipv6_prefixes");
	lists_free(l);
	l = NULL;
	/* exactly at max-entries is allowed, one more is not */
	r = parse_str(FEED_PLAIN, 0, "192.0.2.1\n192.0.2.2\n", 2, why, &l);
	ok(r == 0 && l, "max-entries: at the cap");
	lists_free(l);
	l = NULL;
	r = parse_str(FEED_PLAIN, 0, "192.0.2.1\n192.0.2.2\n192.0.2.3\n", 2, why, &l);
	ok(r == -E2BIG && !l && strstr(why, "max-entries"), "max-entries: over the cap (plain)");
	r = parse_str(FEED_AWS, 0, "{\"prefixes\":[{\"ip_prefix\":\"192.0.2.1\"},"
		      "{\"ip_prefix\":\"192.0.2.2\"},{\"ip_prefix\":\"192.0.2.3\"}]}", 2, why, &l);
	ok(r == -E2BIG && !l, "max-entries: over the cap (json)");
	/* one bad line in twenty is tolerated (and not listed) */
	{
		char body[1024] = "";

		for (int i = 1; i <= 19; i++)
			snprintf(body + strlen(body), sizeof(body) - strlen(body),
				 "192.0.2.%d\n", i);
		strcat(body, "not-an-address\n");
		r = parse_str(FEED_PLAIN, 0, body, 0, why, &l);
		ok(r == 0 && l && lists_count(l) == 19, "plain: one bad line in twenty");
		lists_free(l);
		l = NULL;
	}
}

static void test_refused(void)
{
	refused(FEED_PLAIN, "<html><body>Service unavailable</body></html>\n", -EINVAL,
		"no entries", "an HTML page as a plain list");
	refused(FEED_PLAIN, "", -EINVAL, "no entries", "an empty body");
	refused(FEED_PLAIN, "192.0.2.1\nx\ny\n", -EINVAL, "bad", "mostly bad lines");
	refused(FEED_AWS, "{\"prefixes\": [{\"ip_prefix\": \"192.0.2.0/24\"", -EINVAL,
		"not JSON", "truncated JSON");
	refused(FEED_AWS, "[1,2]", -EINVAL, "object", "a JSON array");
	refused(FEED_AWS, "{\"regions\":[]}", -EINVAL, "prefixes", "Oracle's file as AWS");
	refused(FEED_GCP, "{\"syncToken\":\"1\",\"prefixes\":[{\"ip_prefix\":\"192.0.2.0/24\"}]}",
		-EINVAL, "no entries", "AWS's file as Google's");
	refused(FEED_ORACLE, "{\"prefixes\":[]}", -EINVAL, "regions", "AWS's file as Oracle");
	refused(FEED_AWS, "{\"prefixes\":[]}", -EINVAL, "no entries", "no prefixes");
	refused(FEED_AWS, "{\"prefixes\":[{\"ip_prefix\":\"1.2.3.4 :127.0.0.9:x\"}]}", -EINVAL,
		"bad", "an rbldnsd value inside a JSON string");
	refused(FEED_GCP, "{\"prefixes\":[{\"ipv4Prefix\":\"!192.0.2.1\"}]}", -EINVAL, "bad",
		"an exclusion inside a JSON string");
	refused(FEED_AWS, "{\"prefixes\":[{\"ip_prefix\":17}]}", -EINVAL, "bad",
		"a number for a prefix");
	refused(FEED_CSV, "prefix,country\n", -EINVAL, "no entries", "a CSV header alone");
	{
		char why[200];
		struct lists *l = NULL;
		int r = feed_parse(FEED_PLAIN, 0, "t", "192.0.2.1\n\0\n", 12, 0, NULL, NULL, why,
				   sizeof(why), &l);

		ok(r == -EINVAL && !l && strstr(why, "NUL"), "refused: a NUL byte");
		r = feed_parse(FEED_CSV, 0, "t", "a", 1, 0, NULL, NULL, why, sizeof(why), &l);
		ok(r == -EINVAL && !l, "refused: csv column 0");
	}
}

/* Counts the reports feed_parse passes on. */
static void count_reports(void *arg, const char *file, unsigned line, int level,
			  const char *msg)
{
	(void)file;
	(void)line;
	(void)level;
	(void)msg;
	(*(size_t *)arg)++;
}

/* good lines, then warned lines (host bits set: accepted), then bad ones, as a plain
 * body; parsed with the reports counted. */
static int parse_many(size_t good, size_t warned, size_t bad, size_t *reports,
		      char *why, struct lists **l)
{
	size_t cap = (good + warned + bad) * 24 + 1, len = 0;
	char *body = malloc(cap);
	int r;

	if (!body)
		return -ENOMEM;
	for (size_t i = 0; i < warned; i++)
		len += (size_t)snprintf(body + len, cap - len, "10.%zu.%zu.1/24\n",
					i / 256, i % 256);
	for (size_t i = 0; i < good; i++)
		len += (size_t)snprintf(body + len, cap - len, "192.%zu.%zu.1\n",
					i / 256 % 256, i % 256);
	for (size_t i = 0; i < bad; i++)
		len += (size_t)snprintf(body + len, cap - len, "bad-%zu\n", i);
	*reports = 0;
	r = feed_parse(FEED_PLAIN, 0, "t", body, len, 0, count_reports, reports, why, 200, l);
	free(body);
	return r;
}

/* The refusal counts every bad line, not only the ones lists.c reports (it stops
 * reporting after 100 lines of a file, warnings included), while the reports stay
 * bounded. */
static void test_many_bad(void)
{
	char why[200];
	struct lists *l = NULL;
	size_t reports;
	int r;

	r = parse_many(900, 0, 200, &reports, why, &l);
	if (!ok(r == -EINVAL && !l && strstr(why, "200 of 1100"),
		"refused: 200 bad lines of 1100, past the 100 reported"))
		diag("got %d, why \"%s\"", r, why);
	ok(reports <= 101, "reports stay bounded (%zu)", reports);
	lists_free(l);
	l = NULL;
	r = parse_many(700, 200, 150, &reports, why, &l);
	if (!ok(r == -EINVAL && !l && strstr(why, "150 of 1050"),
		"refused: 150 bad lines after 200 warnings"))
		diag("got %d, why \"%s\"", r, why);
	ok(reports <= 101, "reports stay bounded (%zu)", reports);
	lists_free(l);
	l = NULL;
	r = parse_many(1000, 200, 110, &reports, why, &l);
	if (!ok(r == 0 && l && lists_count(l) == 1200, "accepted: 110 bad lines of 1310"))
		diag("got %d, why \"%s\"", r, why);
	lists_free(l);
}

static void test_table(void)
{
	struct feed_table *t = feed_table_new();
	struct feed_slot *a, *b;
	char *d;
	char name[16];
	int all = 1;

	a = feed_table_bind(t, "tor");
	b = feed_table_bind(t, "aws");
	ok(a && b && a != b, "table: two names, two slots");
	ok(feed_table_bind(t, "tor") == a, "table: a name keeps its slot");
	ok(feed_table_lists_of(t, "aws") == &b->lists, "table: lists_of is the slot's pointer");
	for (int i = 2; i < FEED_SLOTS; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		all = all && feed_table_bind(t, name);
	}
	ok(all, "table: FEED_SLOTS names fit");
	ok(feed_table_bind(t, "one-too-many") == NULL, "table: one more is refused");
	ok(feed_table_bind(t, "tor") == a, "table: a known name still binds when full");
	feed_table_free(t);

	d = feeds_dir_for("/var/lib/threatbl/threatbl.sqlite");
	is_str(d, "/var/lib/threatbl/feeds", "dir: beside the database");
	free(d);
	d = feeds_dir_for("verdicts.sqlite");
	is_str(d, "./feeds", "dir: a relative database");
	free(d);
	ok(feeds_dir_for(NULL) == NULL, "dir: no database, no directory");
}

int main(void)
{
	test_fixtures();
	test_shapes();
	test_refused();
	test_many_bad();
	test_table();
	return done_testing();
}
