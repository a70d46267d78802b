/* test_mail.c - finding the IPs a message came from (tools/mail.c): the originating
 * headers, Received: hops, folding, CRLF, IPv6 forms, reserved ranges, duplicates,
 * host names, the end of the header block, and garbage that must never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail.h"
#include "tap.h"

#define MAX 32

/* The IPs found in msg, as "SOURCE=IP SOURCE=IP", or "" for none. msg is copied into
 * a buffer of exactly its length, so that a read past the end is caught by ASan. */
static const char *found(const char *msg, size_t len, unsigned trusted, size_t max,
			 char *buf, size_t size)
{
	struct mail_ip out[MAX];
	char *copy = malloc(len ? len : 1);
	size_t n, off = 0;

	memcpy(copy, msg, len);
	n = mail_find_ips_trusted(copy, len, trusted, out, max);
	free(copy);
	buf[0] = '\0';
	for (size_t i = 0; i < n && off < size; i++) {
		char text[IPADDR_STRLEN];

		ipaddr_format(&out[i].ip, text);
		off += (size_t)snprintf(buf + off, size - off, "%s%s=%s", i ? " " : "",
					out[i].source, text);
	}
	return buf;
}

static char result[4096];

#define FIND(msg) found((msg), strlen(msg), 0, MAX, result, sizeof(result))
#define FIND_T(msg, t) found((msg), strlen(msg), (t), MAX, result, sizeof(result))

static void test_originating(void)
{
	static const char *const names[] = {
		"X-Originating-IP", "X-Yahoo-Post-IP", "X-Apparently-From", "X-SenderIP",
		"X-AOL-IP", "X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp",
	};
	char msg[512], want[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(msg, sizeof(msg), "From: a@example.org\n%s: [93.184.216.34]\n"
			 "Subject: hi\n\nbody\n", names[i]);
		snprintf(want, sizeof(want), "%s=93.184.216.34", names[i]);
		is_str(FIND(msg), want, names[i]);
	}
	is_str(FIND("x-originating-ip: 93.184.216.34\n\n"), "X-Originating-IP=93.184.216.34",
	       "header names are case-insensitive");
	is_str(FIND("X-Originating-IP : 93.184.216.34\n\n"), "X-Originating-IP=93.184.216.34",
	       "white space before the colon (obsolete syntax)");
	is_str(FIND("X-Originating-IP:93.184.216.34\n\n"), "X-Originating-IP=93.184.216.34",
	       "no space after the colon");
	is_str(FIND("X-Originating-IP: [93.184.216.34]\n\n"), "X-Originating-IP=93.184.216.34",
	       "X-Originating-IP bracketed");
	is_str(FIND("X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp: "
		    "TenantId=72f988bf-86f1-41af-91ab-2d7cd011db47;Ip=[81.2.69.160];"
		    "Helo=[DM6PR11MB4545.namprd11.prod.outlook.com]\n\n"),
	       "X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp=81.2.69.160",
	       "Exchange's TenantId=...;Ip=[...];Helo=[...]: the IP only");
	is_str(FIND("X-Originating-Ipv4: 93.184.216.34\nX-Originating: 81.2.69.160\n\n"), "",
	       "other headers with similar names are not read");
	is_str(FIND("X-Originating-IP: 93.184.216.34:4711\n\n"), "X-Originating-IP=93.184.216.34",
	       "an IPv4 address with a port");
}

static void test_precedence(void)
{
	const char *msg =
		"Received: from relay2.example (relay2.example [45.10.20.30])\n"
		"\tby mx.example.net (Postfix) with ESMTPS id 1; Thu, 26 Nov 2026 11:20:45 +0000\n"
		"Received: from relay1.example (relay1.example [81.2.69.160])\n"
		"\tby relay2.example with ESMTP id 2; Thu, 26 Nov 2026 11:20:44 +0000\n"
		"X-AOL-IP: 5.45.207.1\n"
		"X-Originating-IP: [93.184.216.34]\n"
		"Subject: order\n"
		"\n"
		"body\n";

	is_str(FIND(msg), "X-Originating-IP=93.184.216.34 X-AOL-IP=5.45.207.1 "
	       "Received=45.10.20.30 Received=81.2.69.160",
	       "originating headers first (in SpamAssassin's order), then Received newest first");
	is_str(FIND_T(msg, 1), "X-Originating-IP=93.184.216.34 X-AOL-IP=5.45.207.1 "
	       "Received=81.2.69.160", "trusted 1: the topmost Received is skipped");
	is_str(FIND_T(msg, 2), "X-Originating-IP=93.184.216.34 X-AOL-IP=5.45.207.1",
	       "trusted 2: both Received skipped, the originating headers kept");
	is_str(FIND_T(msg, 100), "X-Originating-IP=93.184.216.34 X-AOL-IP=5.45.207.1",
	       "trusted larger than the hops");
	is_str(found(msg, strlen(msg), 0, 2, result, sizeof(result)),
	       "X-Originating-IP=93.184.216.34 X-AOL-IP=5.45.207.1", "max 2: the first two");
	is_str(found(msg, strlen(msg), 0, 0, result, sizeof(result)), "", "max 0: none");
	is_str(FIND("Received: from a ([81.2.69.160]) by b\n"
		    "Received: from c (c [45.10.20.30] (may be forged)) by d\n"
		    "Received: from e (e [5.45.207.1]) by f\n\n"),
	       "Received=81.2.69.160 Received=45.10.20.30 Received=5.45.207.1",
	       "three hops, topmost first");
}

static void test_folding(void)
{
	is_str(FIND("Received: from host.example\n\t(host.example [45.10.20.30])\n"
		    "\tby mx.example.net with ESMTP\n\n"), "Received=45.10.20.30",
	       "Received folded with tabs");
	is_str(FIND("Received: from host.example\n    (host.example\n     [45.10.20.30])\n"
		    "    by mx.example.net with ESMTP\n\n"), "Received=45.10.20.30",
	       "Received folded with spaces");
	is_str(FIND("X-Originating-IP:\n [93.184.216.34]\n\n"), "X-Originating-IP=93.184.216.34",
	       "X-Originating-IP value on a continuation line");
	is_str(FIND("Received: from host.example (host.example [45.10.20.30]) by\n"
		    "\tmx.example.net (81.2.69.160) with ESMTP\n\n"), "Received=45.10.20.30",
	       "\"by\" at the end of a line, its host folded onto the next");
	is_str(FIND("Subject: hello\n 93.184.216.34\nReceived: from x ([81.2.69.160]) by y\n\n"),
	       "Received=81.2.69.160", "the continuation of another header is not read");
}

static void test_crlf(void)
{
	const char *msg =
		"Received: from relay.example\r\n"
		"\t(relay.example [45.10.20.30])\r\n"
		"\tby mx.example.net; Thu, 26 Nov 2026 11:20:45 +0000\r\n"
		"X-Originating-IP: [93.184.216.34]\r\n"
		"Subject: crlf\r\n"
		"\r\n"
		"X-Originating-IP: 81.2.69.160\r\n";

	is_str(FIND(msg), "X-Originating-IP=93.184.216.34 Received=45.10.20.30",
	       "CRLF message: folded header, header end at the CRLF empty line");
	is_int(mail_header_end(msg, strlen(msg)), strstr(msg, "\r\n\r\n") + 2 - msg,
	       "CRLF header end: the start of the empty line");
}

static void test_ipv6(void)
{
	is_str(FIND("Received: from v6.example (v6.example [2a01:4f8:c17:1::2]) by mx\n\n"),
	       "Received=2a01:4f8:c17:1::2", "IPv6 bracketed");
	is_str(FIND("Received: from [IPv6:2a00:1450:4001:80b::200e] (helo) by mx\n\n"),
	       "Received=2a00:1450:4001:80b::200e", "IPv6 in an RFC 5321 literal [IPv6:...]");
	is_str(FIND("Received: from x (ipv6:2a00:1450:4001:80b::200e) by mx\n\n"),
	       "Received=2a00:1450:4001:80b::200e", "ipv6: prefix, lower case");
	is_str(FIND("X-Originating-IP: 2a00:1450:4001:80b::200e\n\n"),
	       "X-Originating-IP=2a00:1450:4001:80b::200e", "IPv6 bare");
	is_str(FIND("X-Originating-IP: [IPv6:2A00:1450:4001:80B::200E]\n\n"),
	       "X-Originating-IP=2a00:1450:4001:80b::200e", "IPv6 upper case, normalised");
	is_str(FIND("X-Originating-IP: ::ffff:93.184.216.34\n\n"),
	       "X-Originating-IP=93.184.216.34", "IPv4-mapped IPv6 is the IPv4 address");
	is_str(FIND("Received: from x (x [2a01:4f8:c17:1::2]) by mx (2a00:1450:4001:80b::200e)\n\n"),
	       "Received=2a01:4f8:c17:1::2", "IPv6 after by is ignored");
	is_str(FIND("X-Originating-IP: xIPv6:2a00:1450:4001:80b::200e\n\n"), "",
	       "IPv6: inside a word is not a prefix");
}

static void test_reserved(void)
{
	is_str(FIND("X-Originating-IP: 10.1.2.3\nX-AOL-IP: 192.168.1.1\n"
		    "X-SenderIP: 127.0.0.1\nX-Yahoo-Post-IP: 203.0.113.10\n"
		    "Received: from a (a [172.16.5.4]) by b\n"
		    "Received: from c (c [100.64.1.1]) by d\n"
		    "Received: from e (e [2001:db8::1]) by f\n"
		    "Received: from g (g [fe80::1]) by h\n"
		    "Received: from i (i [::1]) by j\n"
		    "Received: from k (k [fd00::5]) by l\n"
		    "Received: from m (m [169.254.1.1]) by n\n"
		    "Received: from o (o [0.0.0.0]) by p\n\n"), "",
	       "private, loopback, documentation, CGNAT, link-local, ULA addresses skipped");
	is_str(FIND("Received: from a (a [10.0.0.1]) by b\n"
		    "Received: from c (c [45.10.20.30]) by d\n\n"), "Received=45.10.20.30",
	       "the first public hop after private ones");
}

static void test_duplicates(void)
{
	is_str(FIND("X-Originating-IP: 93.184.216.34\nX-SenderIP: [93.184.216.34]\n"
		    "Received: from a (a [93.184.216.34]) by b\n"
		    "Received: from [93.184.216.34] (a [93.184.216.34]) by c\n\n"),
	       "X-Originating-IP=93.184.216.34", "the same IP is kept once, with its first source");
	is_str(FIND("X-Originating-IP: ::ffff:93.184.216.34\nReceived: from a ([93.184.216.34]) by b\n\n"),
	       "X-Originating-IP=93.184.216.34", "IPv4-mapped and dotted forms are the same IP");
}

static void test_host_names(void)
{
	is_str(FIND("Received: from mail-93-184-216-34.example (mail-93-184-216-34.example"
		    " [45.10.20.30]) by mx\n\n"), "Received=45.10.20.30",
	       "mail-93-184-216-34.example is a host name");
	is_str(FIND("Received: from a1.b2.c3.d4 (a1.b2.c3.d4 [45.10.20.30]) by mx\n\n"),
	       "Received=45.10.20.30", "a1.b2.c3.d4 is a host name");
	is_str(FIND("Received: from 93.184.216.34.example.net (x93.184.216.34 [45.10.20.30]) by mx\n\n"),
	       "Received=45.10.20.30", "addresses inside longer words are not addresses");
	is_str(FIND("Received: from host_93.184.216.34 (93.184.216.34_x [45.10.20.30]) by mx\n\n"),
	       "Received=45.10.20.30", "underscores join words too");
	is_str(FIND("Received: from cafe.beef (dead:beef [45.10.20.30]) by mx\n\n"),
	       "Received=45.10.20.30", "hex words are not IPv6 addresses");
	is_str(FIND("Received: from host (host [45.10.20.30.]) by mx\n\n"), "Received=45.10.20.30",
	       "a trailing dot is dropped");
	is_str(FIND("Received: from host (host [1.2.3.4.5]) by mx\n\n"), "",
	       "five parts are not an address");
	is_str(FIND("Received: from host (host [45.010.20.30]) by mx\n\n"), "",
	       "a leading zero (octal to some parsers) is not taken");
	is_str(FIND("Received: from host (host [999.1.1.1]) by mx\n\n"), "",
	       "an octet above 255 is not an address");
	is_str(FIND("Received: from standby (host [45.10.20.30]) by mx\n\n"),
	       "Received=45.10.20.30", "\"standby\" does not start the by part");
}

static void test_by(void)
{
	is_str(FIND("Received: from host.example (host.example [45.10.20.30]) by mx.example.net "
		    "(81.2.69.160) with ESMTP id 1 for <a@[5.45.207.1]>; Thu, 26 Nov 2026\n\n"),
	       "Received=45.10.20.30", "the by part (and for, id, date) is ignored");
	is_str(FIND("Received: by 2a00:1450:4001:80b::200e with SMTP id x; Thu, 26 Nov 2026\n\n"),
	       "", "a Received with only a by part");
	is_str(FIND("Received: (qmail 1234 invoked by uid 0); 26 Nov 2026\n"
		    "Received: from unknown (HELO mail.example) (45.10.20.30) by mx with SMTP\n\n"),
	       "Received=45.10.20.30", "qmail forms");
	is_str(FIND("Received: from [45.10.20.30] (port=4711 helo=x)\n\tby mx with esmtp\n\n"),
	       "Received=45.10.20.30", "Exim form");
	is_str(FIND("Received: FROM host (host [45.10.20.30]) BY mx (81.2.69.160)\n\n"),
	       "Received=45.10.20.30", "BY in upper case");
}

static void test_header_end(void)
{
	const char *m;

	is_int(mail_header_end("", 0), 0, "empty message");
	is_int(mail_header_end("\nbody", 5), 0, "empty header block");
	is_int(mail_header_end("\r\nbody", 6), 0, "empty header block, CRLF");
	m = "A: 1\nB: 2\n\nbody\n";
	is_int(mail_header_end(m, strlen(m)), 10, "LF separator");
	m = "A: 1\n\tmore\nB: 2\n";
	is_int(mail_header_end(m, strlen(m)), strlen(m), "no body: the whole message");
	m = "A: 1\nB: 2";
	is_int(mail_header_end(m, strlen(m)), strlen(m), "no final line end");
	m = "A: 1\nthis is the body\nX-Originating-IP: 93.184.216.34\n";
	is_int(mail_header_end(m, strlen(m)), 5, "no separator: the body starts at a non-header line");
	is_str(FIND(m), "", "no separator: a header-like line in the body is not read");
	m = "From alice@example.org Thu Nov 26 11:20:45 2026\nX-Originating-IP: 93.184.216.34\n\n";
	is_int(mail_header_end(m, strlen(m)), strlen(m) - 1, "a leading mbox From line");
	is_str(FIND(m), "X-Originating-IP=93.184.216.34", "IPs found behind the mbox From line");
	m = " folded: nothing\nX-Originating-IP: 93.184.216.34\n\n";
	is_int(mail_header_end(m, strlen(m)), 0, "a first line that continues nothing is body");
	m = "Subject: x\n\nReceived: from a (a [45.10.20.30]) by b\n";
	is_str(FIND(m), "", "a Received line in the body is not read");
	m = "Subject: x\n   \nX-Originating-IP: 93.184.216.34\n\n";
	is_str(FIND(m), "X-Originating-IP=93.184.216.34",
	       "a line of white space is a continuation, not the separator");
}

static void test_garbage_forms(void)
{
	static const char nul[] = "X-Originating-IP: \0[93.184.216.34]\nSubject: a\0b\n\n";
	static const char nul_name[] = "X-Orig\0inating-IP: 93.184.216.34\n"
				       "X-AOL-IP: 81.2.69.160\n\n";
	char *big;
	size_t n;

	is_str(found(nul, sizeof(nul) - 1, 0, MAX, result, sizeof(result)),
	       "X-Originating-IP=93.184.216.34", "a NUL byte in a value is a space");
	is_str(found(nul_name, sizeof(nul_name) - 1, 0, MAX, result, sizeof(result)), "",
	       "a NUL byte in a name ends the header block");
	/* A value longer than the work buffer: cut, the start still read. */
	n = 100000;
	big = malloc(n + 64);
	memcpy(big, "Received: from a ([45.10.20.30]) ", 33);
	memset(big + 33, 'x', n - 33);
	memcpy(big + n, " [81.2.69.160] by b\n\n", 22);
	is_str(found(big, n + 21, 0, MAX, result, sizeof(result)), "Received=45.10.20.30",
	       "a 100 kB Received value is cut, its start read");
	/* A name too long for the work buffer is skipped with its continuation lines. */
	memset(big, 'N', 200);
	memcpy(big + 200, ": 93.184.216.34\n 81.2.69.160\nX-AOL-IP: 5.45.207.1\n\n", 51);
	is_str(found(big, 251, 0, MAX, result, sizeof(result)), "X-AOL-IP=5.45.207.1",
	       "a 200-byte header name is skipped with its continuation lines");
	free(big);
	is_str(FIND("X-Originating-IP: [93.184.216.34\n\n"), "X-Originating-IP=93.184.216.34",
	       "an unclosed bracket");
	is_str(FIND("X-Originating-IP: 93.184.216.34, 81.2.69.160\n\n"),
	       "X-Originating-IP=93.184.216.34 X-Originating-IP=81.2.69.160",
	       "a list of addresses in one header");
	is_str(FIND("X-Originating-IP: 1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:"
		    "cccc:dddd:eeee:ffff:0000 93.184.216.34\n\n"),
	       "X-Originating-IP=93.184.216.34", "an over-long address-like run is skipped");
}

/* xorshift64*: reproducible garbage. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dull;
}

static const char real[] =
	"Return-Path: <bob@bigmail.example>\r\n"
	"Received: from smtp-out.bigmail.example (smtp-out.bigmail.example [45.10.20.30])\r\n"
	"\tby mx.example.net (Postfix) with ESMTPS id 4dKq2T0xYzz1Q\r\n"
	"\tfor <alice@example.net>; Thu, 26 Nov 2026 09:14:02 +0000 (UTC)\r\n"
	"Received: from [IPv6:2a00:1450:4001:80b::200e] (webmail [10.12.0.7])\r\n"
	" by smtp-out.bigmail.example with HTTP; Thu, 26 Nov 2026 09:14:01 +0000\r\n"
	"X-Originating-IP: [188.214.106.93]\r\n"
	"X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp: TenantId=72f988bf;"
	"Ip=[81.2.69.160]\r\n"
	"From: Bob <bob@bigmail.example>\r\n"
	"Subject: the invoice\r\n"
	"\r\n"
	"Hello Alice, X-Originating-IP: 5.45.207.1\r\n";

/* Check what came back: at most max, none reserved, no duplicates. */
static int sane(const char *msg, size_t len, size_t max)
{
	struct mail_ip out[MAX];
	char *copy = malloc(len ? len : 1);
	size_t n;

	memcpy(copy, msg, len);
	n = mail_find_ips(copy, len, out, max);
	free(copy);
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (ipaddr_is_reserved(&out[i].ip) || !out[i].source[0])
			return 0;
		for (size_t j = 0; j < i; j++)
			if (ipaddr_cmp(&out[i].ip, &out[j].ip) == 0)
				return 0;
	}
	return 1;
}

static void test_random(void)
{
	/* Bytes that make the parser work: digits, separators, line ends, header names. */
	static const char *const pieces[] = {
		"Received:", "X-Originating-IP:", "X-AOL-IP:", "from ", "by ", " ", "\t", "\n",
		"\r\n", "\n\t", "[", "]", "(", ")", "IPv6:", ":", "::", ".", "45.10.20.", "81.2.",
		"2a00:1450:", "ffff:", "1", "25", "255", "\0", "From ", "-", "a", "\xff",
	};
	static char buf[4096];
	unsigned bad = 0, bad_trunc = 0;
	size_t real_len = sizeof(real) - 1;

	is_str(found(real, real_len, 0, MAX, result, sizeof(result)),
	       "X-Originating-IP=188.214.106.93 "
	       "X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp=81.2.69.160 "
	       "Received=45.10.20.30 Received=2a00:1450:4001:80b::200e",
	       "the real message of the garbage tests");
	for (int i = 0; i < 10000; i++) {
		size_t len = (size_t)(rnd() % sizeof(buf)), max = (size_t)(rnd() % (MAX + 1));

		if (i % 2) {
			for (size_t k = 0; k < len; k++)
				buf[k] = (char)rnd();
		} else {
			size_t k = 0;

			while (k < len) {
				const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
				size_t pl = p[0] ? strlen(p) : 1;

				if (pl > len - k)
					pl = len - k;
				memcpy(buf + k, p, pl);
				k += pl;
			}
		}
		if (!sane(buf, len, max))
			bad++;
	}
	is_int(bad, 0, "10,000 random byte strings: no crash, at most max, public and distinct");
	for (size_t len = 0; len <= real_len; len++) {
		if (!sane(real, len, MAX) || !sane(real, len, 1))
			bad_trunc++;
		/* A copy with one byte changed at the cut. */
		memcpy(buf, real, real_len);
		if (len < real_len)
			buf[len] = (char)rnd();
		if (!sane(buf, real_len, 3))
			bad_trunc++;
	}
	is_int(bad_trunc, 0, "every truncation and one-byte change of a real message");
}

int main(void)
{
	test_originating();
	test_precedence();
	test_folding();
	test_crlf();
	test_ipv6();
	test_reserved();
	test_duplicates();
	test_host_names();
	test_by();
	test_header_end();
	test_garbage_forms();
	test_random();
	return done_testing();
}
