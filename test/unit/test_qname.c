/* test_qname.c - names under a zone: IPv4, IPv6 nibbles, empty non-terminals, others. */
#include <stdio.h>
#include <string.h>

#include "qname.h"
#include "tap.h"

static const char apex[] = "\002bl\007example\003org";

/* prefix "d.c.b.a" (or "" for the apex) + the apex, in wire form. */
static size_t wire(const char *prefix, uint8_t *buf, size_t *apex_off)
{
	size_t n = 0;
	const char *p = prefix;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		buf[n++] = (uint8_t)l;
		memcpy(buf + n, p, l);
		n += l;
		p += l;
		if (*p == '.')
			p++;
	}
	*apex_off = n;
	memcpy(buf + n, apex, sizeof(apex)); /* with its root label */
	return n + sizeof(apex);
}

static enum qname_kind kind(const char *prefix, struct ipaddr *ip)
{
	uint8_t buf[512];
	size_t off, len = wire(prefix, buf, &off);

	return qname_parse(buf, len, off, ip);
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
	return done_testing();
}
