/* fuzz_dns.c - libFuzzer harness for dns_handle() on arbitrary bytes.
 *
 * The environment is a realistic one, built once: two zones from a configuration
 * file (config_load + zoneset_build), static lists with values and exclusions, and a
 * cache with fresh, stale, expired, unknown and future verdicts. Input layout:
 *   byte 0   flags: bit 0 TCP, bit 1 NOWAIT, bit 2 lookups off, bit 3 lookup
 *            reserved ranges, bit 4 no cache
 *   byte 1   size of the second, small output buffer (0..1287)
 *   rest     the query
 * Each query is answered into a 65535-byte buffer and into the small one; a DNS_WAIT
 * is answered again with DNS_NOWAIT, as the transports do. Invariants (abort() when
 * broken): a reply fits the buffer, is at least a header, keeps the query's ID, has
 * QR set and RA clear, is at most DNS_UDP_MAX over UDP, parses with ldns, echoes the
 * question byte for byte; DNS_NOWAIT never waits; the small buffer gives the same
 * answer whenever the big answer fits in it, and drops what the big one drops. */
#include <errno.h>
#include <ldns/ldns.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "dns.h"
#include "fuzz_common.h"
#include "ipaddr.h"
#include "zone.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000u
#define DAY 86400u

static const char conf_text[] =
	"[server]\n"
	"listen = 127.0.0.1:5353\n"
	"[intel]\n"
	"provider = none\n"
	"fresh = 7d\n"
	"max-stale = 30d\n"
	"[zone bl.example.org]\n"
	"soa = ns1.example.org. hostmaster.example.org. 3600 600 604800 300\n"
	"ns = ns1.example.org. ns2.example.org.\n"
	"ttl = 300\n"
	"negative-ttl = 300\n"
	"unknown-ttl = 30\n"
	"vpn = 127.0.0.2 VPN exit node, see https://bl.example.org/ip/$\n"
	"tor = 127.0.0.5 Tor exit $ $$ $\n"
	"static = lists.ip4set\n"
	"static = lists.ip6trie\n"
	"[zone Sub.DNSBL.test]\n"
	"soa = ns.dnsbl.test. root.dnsbl.test. 1h 10m 7d 1m\n"
	"ns = ns.dnsbl.test.\n"
	"unknown = servfail\n"
	"tor =\n"
	"clean = 127.0.0.1 clean: $\n"
	"scanner = 127.0.0.7 $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $\n"
	"static = lists.ip4set\n";

static const char ip4_text[] =
	":127.0.0.2:Listed: $\n"
	"192.0.2.0/24 :127.0.0.3:Static $ on tcp/443\n"
	"!192.0.2.1\n"
	"198.51.100.10-20 :4:hosting $$ $\n"
	"203.0.113\n"
	"10.0.0.0/8 :127.0.0.6\n"
	"45.67.89.0/24 a text only, the default A\n"
	"!77.88.99.1\n";

static const char ip6_text[] =
	":127.0.0.2:v6 $\n"
	"2001:db8:1::/48\n"
	"!2001:db8:1::1\n"
	"2001:db8:2::5 :127.0.0.3:v6 openvpn $\n"
	"::ffff:198.51.100.0/120 :127.0.0.9:IPv4 by IPv6, less specific\n";

struct state {
	struct zoneset *zones;
	struct cache *cache;
	unsigned long refreshed;
	uint8_t *big;
};

static struct state st;

static void quiet_report(void *arg, enum config_severity sev, const char *file,
			 unsigned line, const char *msg)
{
	(void)sev;
	fprintf(stderr, "fuzz_dns setup: %s:%u: %s\n", file ? file : "-", line, msg);
}

static void put(const char *ip, uint8_t mask, uint8_t flags, uint32_t checked)
{
	struct verdict v = { .mask = mask, .flags = flags, .checked = checked };
	struct ipaddr a;

	if (ipaddr_parse(&a, ip) < 0 || cache_put(st.cache, &a, &v) < 0) {
		fprintf(stderr, "fuzz_dns setup: cannot cache %s\n", ip);
		exit(1);
	}
}

static void refresh(void *arg, const struct ipaddr *ip)
{
	struct state *s = arg;

	if (!ip)
		fuzz_die("refresh without an IP");
	s->refreshed++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/threatbl-fuzz-dns-XXXXXX", conf[64];
	struct config *cfg = NULL;

	fuzz_quiet_log();
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	fuzz_write_file(dir, "threatbl.conf", conf_text);
	fuzz_write_file(dir, "lists.ip4set", ip4_text);
	fuzz_write_file(dir, "lists.ip6trie", ip6_text);
	snprintf(conf, sizeof(conf), "%s/threatbl.conf", dir);
	if (config_load(conf, quiet_report, NULL, &cfg) < 0 ||
	    zoneset_build(cfg, 2026112801u, quiet_report, NULL, &st.zones) < 0) {
		fprintf(stderr, "fuzz_dns setup: configuration rejected\n");
		exit(1);
	}
	config_free(cfg);
	/* Everything is in memory now. */
	fuzz_remove_file(dir, "threatbl.conf");
	fuzz_remove_file(dir, "lists.ip4set");
	fuzz_remove_file(dir, "lists.ip6trie");
	rmdir(dir);

	st.cache = cache_new();
	if (!st.cache)
		exit(1);
	put("93.106.214.188", VERDICT_BIT(VERDICT_VPN) | VERDICT_BIT(VERDICT_HOSTING), 0,
	    NOW - 60);                                                     /* fresh */
	put("188.214.106.93", VERDICT_BIT(VERDICT_OPENVPN443) | VERDICT_BIT(VERDICT_SCANNER),
	    0, NOW - 10 * DAY);                                            /* stale */
	put("8.8.8.8", VERDICT_BIT(VERDICT_TOR), 0, NOW - 40 * DAY);        /* expired */
	put("1.2.3.4", 0, VERDICT_F_UNKNOWN, NOW - 60);                     /* unknown */
	put("1.2.3.5", 0, VERDICT_F_UNKNOWN, NOW - 2 * DAY);                /* unknown, old */
	put("5.6.7.8", 0, 0, NOW - 60);                                     /* clean */
	put("9.9.9.9", VERDICT_ALL, 0, NOW - 1);                            /* everything */
	put("4.4.4.4", VERDICT_BIT(VERDICT_PROXY), 0, NOW + 1000);          /* future */
	put("10.1.2.3", VERDICT_BIT(VERDICT_TOR), 0, NOW - 60);             /* reserved */
	put("77.88.99.1", VERDICT_BIT(VERDICT_VPN), 0, NOW - 60);           /* excluded */
	put("2001:4860::8888", VERDICT_BIT(VERDICT_TOR) | VERDICT_BIT(VERDICT_PROXY), 0,
	    NOW - 60);
	put("2a01:4f8::1", VERDICT_BIT(VERDICT_HOSTING), 0, NOW - 20 * DAY);

	st.big = malloc(65535);
	if (!st.big)
		exit(1);
	return 0;
}

/* The end of the question in q, or 0 when it cannot be found. */
static size_t question_end(const uint8_t *q, size_t qlen)
{
	size_t off = 12;

	while (off < qlen && q[off] && !(q[off] & 0xc0))
		off += 1 + (size_t)q[off];
	if (off >= qlen || q[off])
		return 0;
	off += 5;
	return off <= qlen ? off : 0;
}

static void check(const uint8_t *q, size_t qlen, const uint8_t *out, size_t outcap,
		  unsigned flags, const struct dns_result *res)
{
	ldns_pkt *pkt = NULL;
	size_t qend;

	switch (res->status) {
	case DNS_DROP:
		return;
	case DNS_WAIT:
		if (flags & DNS_NOWAIT)
			fuzz_die("DNS_WAIT with DNS_NOWAIT");
		return;
	case DNS_REPLY:
		break;
	default:
		fuzz_die("unknown status");
	}
	if (res->len > outcap)
		fuzz_die("reply longer than the buffer");
	if (res->len < 12)
		fuzz_die("reply shorter than a header");
	if (qlen < 2 || out[0] != q[0] || out[1] != q[1])
		fuzz_die("reply ID differs from the query's");
	if (!(out[2] & 0x80))
		fuzz_die("reply without QR");
	if (out[3] & 0x80)
		fuzz_die("reply with RA");
	if (!(flags & DNS_TCP) && res->len > DNS_UDP_MAX)
		fuzz_die("UDP reply over DNS_UDP_MAX");
	if (ldns_wire2pkt(&pkt, out, res->len) != LDNS_STATUS_OK)
		fuzz_die("reply does not parse");
	ldns_pkt_free(pkt);
	if ((out[4] << 8 | out[5]) == 1) {
		qend = question_end(q, qlen);
		if (!qend || res->len < qend || memcmp(out + 12, q + 12, qend - 12) != 0)
			fuzz_die("question not echoed byte for byte");
	}
}

/* One answer, and the second call a DNS_WAIT leads to. Returns the last result. */
static struct dns_result answer(const struct dns_env *env, const uint8_t *q, size_t qlen,
				uint8_t *out, size_t outcap, unsigned flags)
{
	struct dns_result res, again;

	memset(&res, 0xa5, sizeof(res));
	dns_handle(env, q, qlen, out, outcap, flags, &res);
	check(q, qlen, out, outcap, flags, &res);
	if (res.status == DNS_WAIT) {
		if (!env->lookups)
			fuzz_die("DNS_WAIT without lookups");
		memset(&again, 0xa5, sizeof(again));
		dns_handle(env, q, qlen, out, outcap, flags | DNS_NOWAIT, &again);
		check(q, qlen, out, outcap, flags | DNS_NOWAIT, &again);
		if (again.status == DNS_WAIT)
			fuzz_die("DNS_WAIT again");
		return again;
	}
	return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_env env = {
		.zones = st.zones,
		.cache = st.cache,
		.now = NOW,
		.fresh_s = 7 * DAY,
		.max_stale_s = 30 * DAY,
		.unknown_retry_s = DAY,
		.lookups = 1,
		.lookup_reserved = 0,
		.refresh = refresh,
		.refresh_arg = &st,
	};
	struct dns_result big, small;
	unsigned flags = 0;
	size_t cap, qlen;
	uint8_t *q, *out;

	if (size < 2)
		return 0;
	if (data[0] & 1)
		flags |= DNS_TCP;
	if (data[0] & 2)
		flags |= DNS_NOWAIT;
	if (data[0] & 4)
		env.lookups = 0;
	if (data[0] & 8)
		env.lookup_reserved = 1;
	if (data[0] & 16)
		env.cache = NULL;
	cap = data[1] < 16 ? data[1] : 12 + (size_t)(data[1] - 16) * 5;

	/* Exact-size copies, so that ASan sees any read past the query or write past
	 * the small buffer. */
	qlen = size - 2;
	q = malloc(qlen ? qlen : 1);
	out = malloc(cap ? cap : 1);
	if (!q || !out)
		abort();
	memcpy(q, data + 2, qlen);

	big = answer(&env, q, qlen, st.big, 65535, flags);
	small = answer(&env, q, qlen, out, cap, flags);
	if (big.status == DNS_REPLY && big.len <= cap &&
	    (small.status != DNS_REPLY || small.len != big.len ||
	     memcmp(out, st.big, big.len) != 0))
		fuzz_die("a buffer big enough for the answer gives another answer");
	if (big.status == DNS_DROP && small.status != DNS_DROP)
		fuzz_die("a smaller buffer answers a dropped query");
	free(out);
	free(q);
	return 0;
}
