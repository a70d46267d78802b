/* test_ipaddr.c - parsing, formatting, IPv4 mapping and reserved ranges. */
#include <errno.h>
#include <string.h>

#include "ipaddr.h"
#include "tap.h"

/* Parse text and format it back; returns the text or "ERR". */
static const char *roundtrip(const char *text, char *buf)
{
	struct ipaddr a;

	if (ipaddr_parse(&a, text) != 0)
		return "ERR";
	ipaddr_format(&a, buf);
	return buf;
}

static int reserved(const char *text)
{
	struct ipaddr a;

	if (ipaddr_parse(&a, text) != 0)
		return -1;
	return ipaddr_is_reserved(&a);
}

static void test_parse_v4(void)
{
	static const char *const bad[] = {
		"", "1", "1.2", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.256", "01.2.3.4",
		"1.2.3.04", "1.2.3.00", "1..3.4", ".1.2.3", "1.2.3.", "1.2.3.4 ", " 1.2.3.4",
		"1.2.3.4/32", "a.b.c.d", "1.2.3.-4", "+1.2.3.4", "1.2.3.4x", "1000.1.1.1",
		"0x1.2.3.4",
	};
	char buf[IPADDR_STRLEN];
	struct ipaddr a;
	size_t i;

	is_str(roundtrip("1.2.3.4", buf), "1.2.3.4", "dotted quad round trip");
	is_str(roundtrip("0.0.0.0", buf), "0.0.0.0", "0.0.0.0");
	is_str(roundtrip("255.255.255.255", buf), "255.255.255.255", "255.255.255.255");
	is_str(roundtrip("10.0.0.1", buf), "10.0.0.1", "a zero octet alone is fine");
	ok(ipaddr_parse(&a, "192.0.2.1") == 0 && ipaddr_is_v4(&a), "dotted quad is v4");
	is_int(ipaddr_v4(&a), 0xc0000201u, "host-order value");
	ok(a.b[10] == 0xff && a.b[11] == 0xff && a.b[0] == 0 && a.b[9] == 0,
	   "stored as ::ffff:a.b.c.d");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(ipaddr_parse(&a, bad[i]), -EINVAL, bad[i][0] ? bad[i] : "(empty)");
	is_int(ipaddr_parse(&a, NULL), -EINVAL, "NULL text");
}

static void test_parse_v6(void)
{
	static const char *const bad[] = {
		"::1::", "2001:db8::g", "2001:db8:::1", "1:2:3:4:5:6:7:8:9", "[::1]", "::1%eth0",
		"2001:db8::/32", ":", "12345::",
	};
	char buf[IPADDR_STRLEN];
	struct ipaddr a, b;
	size_t i;

	is_str(roundtrip("::1", buf), "::1", "::1");
	is_str(roundtrip("::", buf), "::", "::");
	is_str(roundtrip("2001:DB8:0:0:0:0:0:1", buf), "2001:db8::1", "compressed, lower case");
	is_str(roundtrip("2001:db8:0:1:0:0:0:0", buf), "2001:db8:0:1::", "compression at end");
	is_str(roundtrip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", buf),
	       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "all ones");
	is_str(roundtrip("::ffff:1.2.3.4", buf), "1.2.3.4", "mapped v4 prints dotted");
	is_str(roundtrip("::FFFF:7F00:2", buf), "127.0.0.2", "mapped v4 in hex form");
	ok(ipaddr_parse(&a, "::ffff:7f00:2") == 0 && ipaddr_parse(&b, "127.0.0.2") == 0 &&
	   ipaddr_cmp(&a, &b) == 0, "::ffff:7f00:2 is the same IP as 127.0.0.2");
	ok(ipaddr_parse(&a, "::1.2.3.4") == 0 && !ipaddr_is_v4(&a),
	   "IPv4-compatible ::1.2.3.4 is not mapped");
	ok(ipaddr_parse(&a, "2001:db8::1") == 0 && !ipaddr_is_v4(&a), "v6 is not v4");
	ok(ipaddr_parse(&a, "::ffff:0:1.2.3.4") == 0 && !ipaddr_is_v4(&a),
	   "::ffff:0:0:0/96 (SIIT) is not mapped");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(ipaddr_parse(&a, bad[i]), -EINVAL, bad[i]);
	ipaddr_parse(&a, "2001:db8::1");
	is_int(ipaddr_format(&a, buf), 11, "format returns the length");
	ipaddr_parse(&a, "1111:2222:3333:4444:5555:6666:7777:8888");
	is_int(ipaddr_format(&a, buf), 39, "longest v6 text fits");
}

static void test_set_cmp(void)
{
	char buf[IPADDR_STRLEN];
	struct ipaddr a, b;

	ipaddr_set_v4(&a, 0x7f000001u);
	ipaddr_format(&a, buf);
	is_str(buf, "127.0.0.1", "set_v4 then format");
	ok(ipaddr_is_v4(&a), "set_v4 makes v4");
	ipaddr_set_v4(&b, 0x7f000002u);
	ok(ipaddr_cmp(&a, &b) < 0 && ipaddr_cmp(&b, &a) > 0 && ipaddr_cmp(&a, &a) == 0,
	   "cmp orders like the numbers");
	ipaddr_parse(&b, "2001:db8::1");
	ok(ipaddr_cmp(&b, &a) > 0, "v6 2001:: sorts after mapped v4");
	ipaddr_set_v4(&a, 0xffffffffu);
	ipaddr_format(&a, buf);
	is_str(buf, "255.255.255.255", "set_v4 all ones");
	is_int(ipaddr_format(&a, buf), 15, "length of the longest v4 text");
}

static void test_reserved(void)
{
	static const char *const yes[] = {
		"0.0.0.0", "0.255.255.255", "10.0.0.1", "10.255.255.255", "100.64.0.0",
		"100.127.255.255", "127.0.0.1", "127.0.0.2", "127.255.255.255", "169.254.1.1",
		"172.16.0.1", "172.31.255.255", "192.0.0.1", "192.0.0.255", "192.0.2.1",
		"192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.7",
		"203.0.113.9", "224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::ffff:10.1.2.3", "::ffff:7f00:1", "64:ff9b:1::1", "100::1",
		"100::ffff:ffff:ffff:ffff", "2001::1", "2001:1ff:ffff::1", "2001:db8::1",
		"2001:db8:ffff::", "2002::1", "2002:ffff::1", "fc00::1", "fdff::1", "fe80::1",
		"febf::1", "fec0::1", "feff::1", "ff02::1", "ffff::1", "3fff::1", "3fff:fff::1",
		"5f00::1",
	};
	static const char *const no[] = {
		"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255",
		"100.128.0.0", "126.255.255.255", "128.0.0.0", "169.253.255.255", "169.255.0.0",
		"172.15.255.255", "172.32.0.0", "192.0.1.255", "192.0.3.0", "192.88.98.255",
		"192.88.100.0", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0",
		"198.51.99.255", "198.51.101.0", "203.0.112.255", "203.0.114.0",
		"223.255.255.255", "93.184.216.34", "::2", "::ffff:8.8.8.8", "64:ff9b::808:808",
		"64:ff9b:2::1", "100:0:0:1::1", "2001:200::1", "2001:4860:4860::8888",
		"2001:db9::1", "2003::1", "2606:4700::1111", "fbff::1", "3ffe:ffff::1",
		"3fff:1000::1", "5f01::1",
	};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		is_int(reserved(yes[i]), 1, yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		is_int(reserved(no[i]), 0, no[i]);
}

int main(void)
{
	test_parse_v4();
	test_parse_v6();
	test_set_cmp();
	test_reserved();
	return done_testing();
}
