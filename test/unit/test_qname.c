/* test_qname.c - names under a zone: IPv4, IPv6 nibbles, empty non-terminals, others. */
#include <stdio.h>
#include <string.h>

#include "qname.h"
#include "tap.h"
#include "testutil.h"

static const char apex[] = "\002bl\007example\003org";

/* prefix "d.c.b.a" (or "" for the apex) + the apex, in wire form. */
static size_t wire(const char *prefix, uint8_t *buf, size_t *apex_off)
{
	char text[1024];
	size_t n;

	snprintf(text, sizeof(text), "%s%sbl.example.org", prefix, *prefix ? "." : "");
	n = wire_name(text, buf);
	*apex_off = n - sizeof(apex); /* apex with its root label */
	return n;
}

/* Names on which qname_parse_labels (after qname_scan) disagreed with qname_parse,
 * and how many were compared: every name below goes through both. */
static int label_mismatch, label_compared;

static enum qname_kind kind(const char *prefix, struct ipaddr *ip)
{
	uint8_t buf[512];
	size_t off, len = wire(prefix, buf, &off);
	enum qname_kind k = qname_parse(buf, len, off, ip);
	struct qname_labels ql;
	struct ipaddr ip2;

	if (qname_scan(buf, len, &ql) == 0 && ql.len == len) {
		/* the apex has 3 labels */
		enum qname_kind k2 = qname_parse_labels(buf, &ql, ql.n - 3, &ip2);

		label_compared++;
		if (k2 != k || (k == QNAME_IP && memcmp(ip, &ip2, sizeof(ip2)) != 0)) {
			label_mismatch++;
			diag("qname_parse_labels on \"%.60s\": kind %d, qname_parse %d", prefix,
			     k2, k);
		}
	}
	return k;
}

static void is_ip(const char *prefix, const char *want)
{
	struct ipaddr ip, w;
	char got[IPADDR_STRLEN] = "";
	int k;

	memset(&ip, 0xaa, sizeof(ip));
	k = kind(prefix, &ip);
	ipaddr_parse(&w, want);
	ok(k == QNAME_IP && memcmp(&ip, &w, sizeof(ip)) == 0, "%.40s... is IP %s", prefix, want);
	if (k == QNAME_IP) {
		ipaddr_format(&ip, got);
		if (memcmp(&ip, &w, sizeof(ip)))
			diag("got %s", got);
	} else {
		diag("kind %d", k);
	}
}

static void is_kind(const char *prefix, enum qname_kind want, const char *why)
{
	struct ipaddr ip;

	is_int(kind(prefix, &ip), want, why);
}

static void test_scan(void)
{
	static const uint8_t www[] = "\003www\002bl\007example\003org";
	uint8_t buf[300];
	struct qname_labels ql;
	size_t n;

	ok(qname_scan(www, sizeof(www), &ql) == 0 && ql.len == sizeof(www) && ql.n == 4 &&
	   ql.off[0] == 0 && ql.off[1] == 4 && ql.off[2] == 7 && ql.off[3] == 15 &&
	   ql.off[4] == 19, "scan: length, label count and offsets, root included");
	ok(qname_scan(www, sizeof(www) + 10, &ql) == 0 && ql.len == sizeof(www),
	   "scan: stops at the root label, bytes after it are not its business");
	ok(qname_scan((const uint8_t *)"", 1, &ql) == 0 && ql.len == 1 && ql.n == 0 &&
	   ql.off[0] == 0, "scan: the root");
	ok(qname_scan(www, sizeof(www) - 1, &ql) == -1, "scan: truncated before the root");
	ok(qname_scan(www, 0, &ql) == -1, "scan: nothing to read");
	ok(qname_scan((const uint8_t *)"\003www\300\014", 6, &ql) == -1,
	   "scan: a compression pointer");
	ok(qname_scan((const uint8_t *)"\003www\100", 6, &ql) == -1,
	   "scan: an extended label type");
	/* 127 one-byte labels and the root: 255 bytes, the longest name */
	for (n = 0; n < 254; n += 2) {
		buf[n] = 1;
		buf[n + 1] = 'a';
	}
	buf[254] = 0;
	ok(qname_scan(buf, sizeof(buf), &ql) == 0 && ql.len == 255 && ql.n == 127 &&
	   ql.off[126] == 252 && ql.off[127] == 254, "scan: 255 bytes, 127 labels");
	/* one more byte: 256 */
	buf[0] = 2;
	memmove(buf + 2, buf + 1, 254);
	buf[1] = 'a';
	ok(qname_scan(buf, sizeof(buf), &ql) == -1, "scan: 256 bytes is too long");
	/* 63-byte labels: fine; 4 of them with the root are 257 bytes */
	for (n = 0; n < 4 * 64; n += 64) {
		buf[n] = 63;
		memset(buf + n + 1, 'x', 63);
	}
	buf[3 * 64] = 0;
	ok(qname_scan(buf, sizeof(buf), &ql) == 0 && ql.len == 193 && ql.n == 3,
	   "scan: 63-byte labels");
	buf[3 * 64] = 61;
	buf[3 * 64 + 62] = 0;
	ok(qname_scan(buf, sizeof(buf), &ql) == 0 && ql.len == 255 && ql.n == 4,
	   "scan: 3 labels of 63, one of 61 and the root: 255 bytes");
	buf[3 * 64] = 62;
	buf[3 * 64 + 63] = 0;
	ok(qname_scan(buf, sizeof(buf), &ql) == -1, "scan: ... of 62: 256 bytes");
	buf[3 * 64] = 63;
	buf[4 * 64] = 0;
	ok(qname_scan(buf, sizeof(buf), &ql) == -1, "scan: 4 x 63 + root = 257 bytes");
}

/* qname_parse_labels with k other than the count of labels in front of an apex of
 * 3 labels, and on the IPv4 fast path's own edges. */
static void test_labels(void)
{
	static const uint8_t v4[] = "\00293\003106\003214\003188\002bl\007example\003org";
	static const uint8_t only[] = "\002bl\007example\003org";
	struct qname_labels ql;
	struct ipaddr ip, want;

	ipaddr_parse(&want, "188.214.106.93");
	ok(qname_scan(v4, sizeof(v4), &ql) == 0 &&
	   qname_parse_labels(v4, &ql, 4, &ip) == QNAME_IP &&
	   memcmp(&ip, &want, sizeof(ip)) == 0, "labels: four octets");
	ok(qname_parse_labels(v4, &ql, 0, &ip) == QNAME_APEX,
	   "labels: k = 0, the name is the apex");
	ok(qname_parse_labels(v4, &ql, 3, &ip) == QNAME_ENT,
	   "labels: three octets in front of a 4-label apex: ENT");
	ok(qname_scan(only, sizeof(only), &ql) == 0 &&
	   qname_parse_labels(only, &ql, 0, &ip) == QNAME_APEX, "labels: the apex itself");
	is_kind("1.2.3.0400", QNAME_OTHER, "a 4-digit label among octets");
	is_kind("1.2.3.2a", QNAME_OTHER, "2a: a second byte that is no digit");
	is_kind("1.2.3.25a", QNAME_OTHER, "25a: a third byte that is no digit");
	is_kind("1.2.3.2:5", QNAME_OTHER, "':' is the byte after '9'");
	is_kind("1.2.3./", QNAME_OTHER, "'/' is the byte before '0'");
	is_ip("9.0.0.1", "1.0.0.9");
	is_ip("99.10.100.199", "199.100.10.99");
	is_ip("250.251.252.253", "253.252.251.250");
	is_kind("260.1.1.1", QNAME_OTHER, "260");
	is_kind("300.1.1.1", QNAME_OTHER, "300: a first digit of 3");
	is_kind("1.1.1.999", QNAME_OTHER, "999");
	is_kind("1.1.1.00", QNAME_OTHER, "00");
	is_kind("a.b.c.d", QNAME_ENT, "four nibbles: an IPv6 prefix, not an IPv4 address");
	is_kind("1.b.c.d", QNAME_ENT, "a digit and three letters: nibbles");
	is_kind("12.b.c.d", QNAME_OTHER, "an octet and nibbles");
}

/* n nibble labels "0.1.2..." (hex digits cycling) */
static void nibbles(char *buf, int n, int upper)
{
	const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	buf[0] = 0;
	for (int i = 0; i < n; i++) {
		char l[3] = { hex[(i * 7 + 3) % 16], '.', 0 };

		strcat(buf, l);
	}
	if (n)
		buf[strlen(buf) - 1] = 0;
}

int main(void)
{
	char buf[256];
	struct ipaddr ip;

	test_scan();
	test_labels();

	/* the apex itself */
	is_kind("", QNAME_APEX, "apex");

	/* IPv4 */
	is_ip("4.3.2.1", "1.2.3.4");
	is_ip("2.0.0.127", "127.0.0.2");
	is_ip("188.214.106.93", "93.106.214.188");
	is_ip("255.255.255.255", "255.255.255.255");
	is_ip("0.0.0.0", "0.0.0.0");
	is_kind("01.2.3.4", QNAME_OTHER, "leading zero 01 is not an IP");
	is_kind("1.2.3.00", QNAME_OTHER, "00 is not an octet");
	is_kind("1.2.3.010", QNAME_OTHER, "010 is not an octet");
	is_kind("256.2.3.4", QNAME_OTHER, "256 is not an octet");
	is_kind("1.2.3.1000", QNAME_OTHER, "1000 is not an octet");
	is_kind("10.20.30.40.50", QNAME_OTHER, "5 numeric labels");
	is_kind("1.2.3.-4", QNAME_OTHER, "sign");
	is_kind("1.2.x.4", QNAME_OTHER, "letter among numbers");
	is_kind("1.2.3.4a", QNAME_OTHER, "digit+letter");
	is_kind("www", QNAME_OTHER, "a word");
	is_kind("ab", QNAME_OTHER, "two hex digits are no nibble");
	is_kind("10.ab", QNAME_OTHER, "mixed numeric and non-nibble");
	is_kind("10.a", QNAME_OTHER, "mixed octet and nibble");
	is_kind("256", QNAME_OTHER, "256 alone");
	is_kind("300.1", QNAME_OTHER, "300 in an ENT");
	is_kind("01", QNAME_OTHER, "leading zero in an ENT");

	/* empty non-terminals */
	is_kind("1", QNAME_ENT, "1 label");
	is_kind("200", QNAME_ENT, "1 numeric label");
	is_kind("200.100", QNAME_ENT, "2 numeric labels");
	is_kind("200.100.10", QNAME_ENT, "3 numeric labels");
	is_kind("1.2.3", QNAME_ENT, "1.2.3: numeric and nibble-like");
	is_kind("a", QNAME_ENT, "1 nibble");
	is_kind("F.e", QNAME_ENT, "2 nibbles, any case");
	is_kind("1.2.3.4.5", QNAME_ENT, "5 digit labels: an IPv6 prefix");
	nibbles(buf, 31, 0);
	is_kind(buf, QNAME_ENT, "31 nibbles");
	nibbles(buf, 33, 0);
	is_kind(buf, QNAME_OTHER, "33 nibbles");
	nibbles(buf, 40, 0);
	is_kind(buf, QNAME_OTHER, "40 nibbles");

	/* IPv6 */
	is_ip("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2", "2001:db8::1");
	is_ip("2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", "127.0.0.2");
	is_ip("2.0.0.0.0.0.F.7.F.F.F.F.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", "127.0.0.2");
	is_ip("f.e.d.c.b.a.9.8.7.6.5.4.3.2.1.0.f.e.d.c.b.a.9.8.7.6.5.4.3.2.1.0",
	      "0123:4567:89ab:cdef:0123:4567:89ab:cdef");
	is_ip("F.E.D.C.B.A.9.8.7.6.5.4.3.2.1.0.F.E.D.C.B.A.9.8.7.6.5.4.3.2.1.0",
	      "0123:4567:89ab:cdef:0123:4567:89ab:cdef");
	is_kind("g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2", QNAME_OTHER,
		"a g among nibbles");
	is_kind("10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2", QNAME_OTHER,
		"a two-digit label among nibbles");

	/* hand-made wire forms */
	{
		/* an empty label before the apex */
		static const uint8_t empty[] = "\0011\000\0012\002bl\007example\003org";
		ok(qname_parse(empty, sizeof(empty), 5, &ip) == QNAME_OTHER,
		   "empty label before the apex");
		/* a label running past the apex offset */
		static const uint8_t over[] = "\0051\002bl\007example\003org";
		ok(qname_parse(over, sizeof(over), 2, &ip) == QNAME_OTHER,
		   "label past the apex offset");
		/* a label with a length byte that is not a length */
		static const uint8_t ptr[] = "\3001\002bl\007example\003org";
		ok(qname_parse(ptr, sizeof(ptr), 2, &ip) == QNAME_OTHER, "bad label type");
		ok(qname_parse(ptr, 2, 2, &ip) == QNAME_OTHER, "apex offset at the end");
	}
	ok(label_compared > 50 && label_mismatch == 0,
	   "qname_parse_labels agrees with qname_parse (%d names)", label_compared);
	return done_testing();
}
