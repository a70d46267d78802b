/* test_dns.c - dns_handle against doc/dns.md#the-answer-rules: queries built by hand, answers read
 * back with ldns; plus random mutations (no overrun) and a timing line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "dns.h"
#include "tap.h"
#include "testutil.h"

#define ID 0xbeef
#define NOW 1000000u
#define IDENTITY "node-1.fra (%%)" /* answered as "node-1.fra (%)" */
#define IDENTITY_TEXT "node-1.fra (%)"


/* Zones, in the order of cfg_zones[]. */
enum { Z_BL, Z_SRV, Z_BIG, Z_NOTXT, NZ };

static struct zoneset *zs;
static struct zoneset *zs_anon; /* the same zones without [server] identity */
static struct cache *cache;
static struct dns_env env;
static struct ipaddr refreshed[8];
static int nrefresh;
static char list_path[64];

static uint8_t out[65536 + 64];
static struct dns_result res;
static ldns_pkt *pkt;

/* ---- set-up ---------------------------------------------------------------- */

static void on_refresh(void *arg, const struct ipaddr *ip)
{
	(void)arg;
	if (nrefresh < 8)
		refreshed[nrefresh] = *ip;
	nrefresh++;
}

static char *ns2[] = { "ns1.example.org.", "ns2.example.org.", NULL };
static char long_txt[VERDICT_NCAT][251];

static void set_zone(struct config_zone *cz, char *name)
{
	static const char *tpl[VERDICT_NCAT] = {
		"VPN exit $", "OpenVPN $$5 $", "", "Tor", "Proxy at $", "Scanner",
	};

	memset(cz, 0, sizeof(*cz));
	cz->name = name;
	cz->line = 1;
	cz->soa = "ns1.example.org. hostmaster.example.org. 3600 600 604800 300";
	cz->ns = ns2;
	cz->ttl = 300;
	cz->negative_ttl = 120;
	cz->unknown = CONFIG_UNKNOWN_NXDOMAIN;
	cz->unknown_ttl = 30;
	for (int c = 0; c < VERDICT_NCAT; c++) {
		cz->cat[c].enabled = 1;
		cz->cat[c].a[0] = 127;
		cz->cat[c].a[3] = (uint8_t)(2 + c);
		cz->cat[c].txt = (char *)tpl[c];
	}
}

static int setup(void)
{
	static struct config_zone cz[NZ];
	static char *statics[2];
	static unsigned lines[1] = { 3 };
	struct config cfg = { .file = "test.conf", .zones = cz, .nzones = NZ };
	FILE *f;
	int fd, r;

	strcpy(list_path, "/tmp/test_dns_XXXXXX");
	fd = mkstemp(list_path);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		return -errno;
	fprintf(f, "93.184.0.0/16 :127.0.0.10:static $\n!93.184.216.34\n"
		   "93.185.0.0/16 :127.0.0.11\n");
	fclose(f);
	statics[0] = list_path;

	set_zone(&cz[Z_BL], "bl.example.org");
	cz[Z_BL].statics = statics;
	cz[Z_BL].static_lines = lines;
	cz[Z_BL].nstatics = 1;

	set_zone(&cz[Z_SRV], "srv.example.net");
	cz[Z_SRV].unknown = CONFIG_UNKNOWN_SERVFAIL;
	cz[Z_SRV].cat[VERDICT_TOR].enabled = 0;
	cz[Z_SRV].cat[VERDICT_PROXY].enabled = 0;
	cz[Z_SRV].clean.enabled = 1;
	cz[Z_SRV].clean.a[0] = 127;
	cz[Z_SRV].clean.a[3] = 100;
	cz[Z_SRV].clean.txt = "clean $";

	set_zone(&cz[Z_BIG], "big.example.com");
	for (int c = 0; c < VERDICT_NCAT; c++) {
		memset(long_txt[c], 'a' + c, 250);
		long_txt[c][250] = 0;
		cz[Z_BIG].cat[c].txt = long_txt[c];
	}
	cz[Z_BIG].cat[VERDICT_VPN].txt = "$$$ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ "
		"$ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $ $";

	set_zone(&cz[Z_NOTXT], "notxt.example.com");
	for (int c = 0; c < VERDICT_NCAT; c++)
		cz[Z_NOTXT].cat[c].txt = "";

	r = zoneset_build(&cfg, 2024, NULL, NULL, &zs_anon);
	cfg.identity = IDENTITY;
	if (!r)
		r = zoneset_build(&cfg, 2024, NULL, NULL, &zs);
	unlink(list_path);
	if (r)
		return r;
	cache = cache_new();
	if (!cache)
		return -ENOMEM;
	env.zones = zs;
	env.cache = cache;
	env.now = NOW;
	env.fresh_s = 100;
	env.max_stale_s = 1000;
	env.unknown_retry_s = 50;
	env.lookups = 1;
	env.lookup_reserved = 0;
	env.refresh = on_refresh;
	env.refresh_arg = NULL;
	return 0;
}

static void put(const char *text, uint8_t mask, uint8_t flags, uint32_t age)
{
	struct ipaddr ip;
	struct verdict v = { .mask = mask, .flags = flags, .checked = NOW - age };

	if (ipaddr_parse(&ip, text) || cache_put(cache, &ip, &v))
		diag("cannot put %s", text);
}

/* ---- queries ----------------------------------------------------------------- */

struct qopt {
	uint8_t f2, f3;     /* header flag bytes */
	uint16_t qclass;
	int edns;
	uint16_t udp;
	uint8_t version;
	int do_bit;
	int nsid;           /* N_*: an NSID option in the OPT record */
};

enum {
	N_NONE, N_EMPTY,    /* no NSID option; an empty one (RFC 5001 §2.1) */
	N_PAYLOAD,          /* with 3 bytes of payload, after a cookie option */
	N_TWICE,            /* two empty ones */
};

static const struct qopt plain = { .f2 = 0x01, .qclass = 1 };
static const struct qopt edns0 = { .f2 = 0x01, .qclass = 1, .edns = 1, .udp = 1232 };

static uint8_t q[1024];
static size_t qlen, qend;

static void put_opt(uint8_t *p, uint16_t udp, uint8_t version, int do_bit)
{
	static const uint8_t opt[11] = { 0, 0, 41 };

	memcpy(p, opt, 11);
	p[3] = (uint8_t)(udp >> 8);
	p[4] = (uint8_t)udp;
	p[6] = version;
	p[7] = do_bit ? 0x80 : 0;
}

static void query_o(const char *name, uint16_t qtype, const struct qopt *o)
{
	memset(q, 0, 12);
	q[0] = ID >> 8;
	q[1] = ID & 0xff;
	q[2] = o->f2;
	q[3] = o->f3;
	q[5] = 1;
	qlen = 12 + wire_name(name, q + 12);
	q[qlen++] = (uint8_t)(qtype >> 8);
	q[qlen++] = (uint8_t)qtype;
	q[qlen++] = (uint8_t)(o->qclass >> 8);
	q[qlen++] = (uint8_t)o->qclass;
	qend = qlen;
	if (o->edns) {
		static const uint8_t nsid[] = { 0, 3, 0, 0 };
		static const uint8_t cookie_nsid[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8,
						       0, 3, 0, 3, 'a', 'b', 'c' };
		size_t rd = 0;

		q[11] = 1;
		put_opt(q + qlen, o->udp, o->version, o->do_bit);
		qlen += 11;
		if (o->nsid == N_EMPTY || o->nsid == N_TWICE) {
			memcpy(q + qlen, nsid, 4);
			rd = 4;
		}
		if (o->nsid == N_TWICE) {
			memcpy(q + qlen + 4, nsid, 4);
			rd = 8;
		}
		if (o->nsid == N_PAYLOAD) {
			memcpy(q + qlen, cookie_nsid, sizeof(cookie_nsid));
			rd = sizeof(cookie_nsid);
		}
		q[qlen - 2] = (uint8_t)(rd >> 8);
		q[qlen - 1] = (uint8_t)rd;
		qlen += rd;
	}
}

static void query(const char *name, uint16_t qtype)
{
	query_o(name, qtype, &plain);
}

/* Run the current query; pkt = the parsed answer or NULL. */
static void run_cap(unsigned flags, size_t outcap)
{
	if (pkt)
		ldns_pkt_free(pkt);
	pkt = NULL;
	memset(out, 0xa5, sizeof(out));
	dns_handle(&env, q, qlen, out, outcap, flags, &res);
	if (res.status == DNS_REPLY) {
		if (res.len > outcap || out[outcap] != 0xa5)
			ok(0, "answer within outcap (len %zu)", res.len);
		if (ldns_wire2pkt(&pkt, out, res.len) != LDNS_STATUS_OK) {
			ok(0, "answer parses with ldns");
			pkt = NULL;
		}
	}
}

static void run(unsigned flags)
{
	run_cap(flags, flags & DNS_TCP ? 65535 : DNS_UDP_MAX);
}

/* ---- checks ------------------------------------------------------------------ */

/* From the raw header: ldns takes the OPT out of the additional count. */
static int counts(int an, int ns, int ar)
{
	return pkt && res.len >= 12 && (out[6] << 8 | out[7]) == an &&
	       (out[8] << 8 | out[9]) == ns && (out[10] << 8 | out[11]) == ar &&
	       ldns_pkt_ancount(pkt) == an && ldns_pkt_nscount(pkt) == ns;
}

static int rcode(void)
{
	return pkt ? (int)ldns_pkt_get_rcode(pkt) : -1;
}

/* Common to every reply: ID, QR, opcode, RD/CD copied, RA/AD clear, question echoed. */
static int sane(void)
{
	return pkt && ldns_pkt_id(pkt) == ID && ldns_pkt_qr(pkt) && !ldns_pkt_ra(pkt) &&
	       !ldns_pkt_ad(pkt) && ldns_pkt_rd(pkt) == !!(q[2] & 1) &&
	       ldns_pkt_cd(pkt) == !!(q[3] & 0x10) && ((out[2] >> 3) & 15) == ((q[2] >> 3) & 15) &&
	       out[4] == 0 && out[5] == 1 && memcmp(out + 12, q + 12, qend - 12) == 0;
}

/* rcode, AA, counts; diag on mismatch. */
static void expect(const char *what, int want_rc, int aa, int an, int ns, int ar)
{
	int good = res.status == DNS_REPLY && sane() && rcode() == want_rc &&
		   ldns_pkt_aa(pkt) == aa && !ldns_pkt_tc(pkt) && counts(an, ns, ar);

	if (!ok(good, "%s", what)) {
		if (pkt) {
			diag("status %d rcode %d aa %d tc %d counts %d/%d/%d sane %d", res.status,
			     rcode(), ldns_pkt_aa(pkt), ldns_pkt_tc(pkt), out[6] << 8 | out[7],
			     out[8] << 8 | out[9], out[10] << 8 | out[11], sane());
			ldns_pkt_print(stdout, pkt);
		} else {
			diag("status %d", res.status);
		}
	}
}

static ldns_rr *ans(size_t i)
{
	return pkt ? ldns_rr_list_rr(ldns_pkt_answer(pkt), i) : NULL;
}

/* The only authority record is the zone's SOA with this TTL, owned by the apex. */
static int soa_auth(uint32_t ttl)
{
	ldns_rr *rr = pkt ? ldns_rr_list_rr(ldns_pkt_authority(pkt), 0) : NULL;

	return rr && ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ldns_rr_ttl(rr) == ttl &&
	       ldns_rdf2native_int32(ldns_rr_rdf(rr, 2)) == 2024;
}

static int txt_len(ldns_rr *rr)
{
	return rr && ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT ?
	       ldns_rdf_data(ldns_rr_rdf(rr, 0))[0] : -1;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_header(void)
{
	struct qopt o = plain;

	query("4.3.2.1.bl.example.org", LDNS_RR_TYPE_A);
	dns_handle(&env, q, 11, out, sizeof(out), 0, &res);
	is_int(res.status, DNS_DROP, "shorter than a header: dropped");
	dns_handle(&env, q, 0, out, sizeof(out), 0, &res);
	is_int(res.status, DNS_DROP, "empty: dropped");
	dns_handle(&env, q, qlen, out, 11, 0, &res);
	is_int(res.status, DNS_DROP, "no room for a header: dropped");
	q[2] |= 0x80;
	run(0);
	is_int(res.status, DNS_DROP, "QR=1: dropped");

	o.f2 = 4 << 3 | 1; /* NOTIFY, RD */
	query_o("bl.example.org", LDNS_RR_TYPE_SOA, &o);
	run(0);
	ok(res.status == DNS_REPLY && pkt && rcode() == LDNS_RCODE_NOTIMPL && ldns_pkt_qr(pkt) &&
	   ldns_pkt_get_opcode(pkt) == LDNS_PACKET_NOTIFY && ldns_pkt_rd(pkt) &&
	   ldns_pkt_id(pkt) == ID && !ldns_pkt_aa(pkt), "opcode NOTIFY: NOTIMP, opcode kept");
	o.f2 = 5 << 3; /* UPDATE */
	query_o("bl.example.org", LDNS_RR_TYPE_SOA, &o);
	run(0);
	ok(rcode() == LDNS_RCODE_NOTIMPL && !ldns_pkt_rd(pkt), "opcode UPDATE: NOTIMP, RD clear");
	o.f2 = 2 << 3; /* STATUS */
	query_o("bl.example.org", LDNS_RR_TYPE_SOA, &o);
	run(0);
	is_int(rcode(), LDNS_RCODE_NOTIMPL, "opcode STATUS: NOTIMP");

	/* flags: RD and CD copied, RA never; AD and Z in the query are not echoed */
	o = plain;
	o.f2 = 0x00;
	o.f3 = 0x10 | 0x20 | 0x40 | 0x80; /* CD, AD, Z, RA set in the query */
	query_o("bl.example.org", LDNS_RR_TYPE_SOA, &o);
	run(0);
	ok(sane() && ldns_pkt_cd(pkt) && !ldns_pkt_rd(pkt) && (out[3] & 0xe0) == 0,
	   "CD copied, RD clear copied, RA/AD/Z clear");
	o.f2 = 0x01 | 0x04 | 0x02; /* RD, and AA/TC set by a confused client */
	o.f3 = 0;
	query_o("bl.example.org", LDNS_RR_TYPE_SOA, &o);
	run(0);
	ok(sane() && ldns_pkt_rd(pkt) && !ldns_pkt_cd(pkt) && !ldns_pkt_tc(pkt),
	   "RD copied, query TC not echoed");
}

static void test_formerr(void)
{
	uint8_t *p;

	query("4.3.2.1.bl.example.org", LDNS_RR_TYPE_A);
	q[5] = 0;
	run(0);
	ok(rcode() == LDNS_RCODE_FORMERR && counts(0, 0, 0) && ldns_pkt_id(pkt) == ID,
	   "QDCOUNT 0: FORMERR");
	q[5] = 2;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "QDCOUNT 2: FORMERR");
	q[4] = 1;
	q[5] = 1;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "QDCOUNT 257: FORMERR");

	query("4.3.2.1.bl.example.org", LDNS_RR_TYPE_A);
	qlen -= 1;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "class cut short: FORMERR");
	qlen -= 3;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "type and class missing: FORMERR");
	qlen = 20;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "name cut short: FORMERR");
	qlen = 12;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "header only: FORMERR");

	query("4.3.2.1.bl.example.org", LDNS_RR_TYPE_A);
	q[12] = 0x41; /* label type 01 */
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "extended label type: FORMERR");
	q[12] = 0x81;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "label type 10: FORMERR");

	/* a compression pointer in the question */
	memset(q, 0, 12);
	q[0] = ID >> 8;
	q[1] = ID & 0xff;
	q[5] = 1;
	p = q + 12;
	*p++ = 1;
	*p++ = '4';
	*p++ = 0xc0;
	*p++ = 12;
	*p++ = 0;
	*p++ = 1;
	*p++ = 0;
	*p++ = 1;
	qlen = (size_t)(p - q);
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "compression pointer in the question: FORMERR");

	/* a name of 256 bytes: four 63-byte labels */
	{
		char name[300];
		int n = 0;

		for (int i = 0; i < 4; i++) {
			memset(name + n, 'a', 63);
			n += 63;
			name[n++] = '.';
		}
		name[n - 1] = 0; /* 4*64 + 1 = 257 bytes in wire form */
		query(name, LDNS_RR_TYPE_A);
		run(0);
		is_int(rcode(), LDNS_RCODE_FORMERR, "name over 255 bytes: FORMERR");
		name[n - 1 - 2] = 0; /* 255 bytes: fine, and outside every zone */
		query(name, LDNS_RR_TYPE_A);
		run(0);
		is_int(rcode(), LDNS_RCODE_REFUSED, "name of exactly 255 bytes: parsed");
	}

	/* the additional section */
	query_o("3.2.1.bl.example.org", LDNS_RR_TYPE_A, &edns0);
	q[11] = 2;
	put_opt(q + qlen, 1232, 0, 0);
	qlen += 11;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "two OPT records: FORMERR");

	query_o("3.2.1.bl.example.org", LDNS_RR_TYPE_A, &edns0);
	q[qlen - 1] = 4; /* RDLENGTH 4, but no data */
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "OPT RDATA beyond the packet: FORMERR");
	q[qlen++] = 0;
	q[qlen++] = 10;
	q[qlen++] = 0;
	q[qlen++] = 8; /* option of 8 bytes in 0 */
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "option longer than the OPT: FORMERR");
	q[qlen - 1] = 0;
	run(0);
	ok(rcode() == LDNS_RCODE_NOERROR && ldns_pkt_edns(pkt), "a well-formed empty option");
	q[qlen - 1] = 2;
	q[qlen - 5] = 6;
	q[qlen++] = 0xab;
	q[qlen++] = 0xcd;
	run(0);
	ok(rcode() == LDNS_RCODE_NOERROR && counts(0, 1, 1) && out[res.len - 1] == 0 &&
	   out[res.len - 2] == 0, "an option is accepted and not echoed");
	q[qlen - 7] = 3; /* RDLENGTH 3: option header cut */
	qlen -= 3;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "option header cut short: FORMERR");

	query_o("3.2.1.bl.example.org", LDNS_RR_TYPE_A, &edns0);
	q[qend] = 1; /* OPT with a non-root owner */
	memmove(q + qend + 2, q + qend + 1, 10);
	q[qend + 1] = 'x';
	q[qend + 2] = 0;
	qlen++;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "OPT owner not the root: FORMERR");

	query("3.2.1.bl.example.org", LDNS_RR_TYPE_A);
	q[11] = 1;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "ARCOUNT 1 without a record: FORMERR");
	q[qlen++] = 0;
	q[qlen++] = 0;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "additional record cut short: FORMERR");
}

static void test_sections_ignored(void)
{
	static const uint8_t tsig_like[] = {
		0xc0, 12, 0, 250, 0, 255, 0, 0, 0, 0, 0, 3, 1, 2, 3,
	};
	/* key "tkey.", hmac-sha256., a 4-byte MAC, original ID 0x1234 */
	static const uint8_t tsig_ok[] = {
		4, 't', 'k', 'e', 'y', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 33,
		11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0,
		0, 0, 0x5f, 0, 0, 0, 1, 0x2c, 0, 4, 1, 2, 3, 4, 0x12, 0x34, 0, 0, 0, 0,
	};

	/* a TSIG record with a compressed owner name after the OPT: TSIG names are plain
	 * (RFC 8945 §4.2) */
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &edns0);
	q[11] = 2;
	memcpy(q + qlen, tsig_like, sizeof(tsig_like));
	qlen += sizeof(tsig_like);
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "a TSIG record with a compressed name: FORMERR");
	/* a well-formed one: threatbl holds no key, NOTAUTH with TSIG error BADKEY */
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &edns0);
	q[11] = 2;
	memcpy(q + qlen, tsig_ok, sizeof(tsig_ok));
	qlen += sizeof(tsig_ok);
	run(0);
	ok(res.status == DNS_REPLY && sane() && rcode() == LDNS_RCODE_NOTAUTH &&
	   counts(0, 0, 2), "a signed query: NOTAUTH, no answer, OPT and TSIG");
	ok(res.len > 6 && memcmp(out + res.len - 6, "\x12\x34\x00\x11\x00\x00", 6) == 0,
	   "the TSIG record ends with the original ID, BADKEY and no other data");
	ok(res.len > 45 && memcmp(out + res.len - 45, tsig_ok, 6) == 0 &&
	   out[res.len - 8] == 0 && out[res.len - 7] == 0,
	   "it names the key and carries no MAC");
	/* the same record before another one: TSIG must be last (RFC 8945 §5.1) */
	query("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A);
	q[11] = 2;
	memcpy(q + qlen, tsig_ok, sizeof(tsig_ok));
	qlen += sizeof(tsig_ok);
	put_opt(q + qlen, 4096, 0, 0);
	qlen += 11;
	run(0);
	is_int(rcode(), LDNS_RCODE_FORMERR, "a TSIG record that is not the last: FORMERR");
	/* records in the answer and authority sections of a query */
	query("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A);
	q[7] = 1;
	q[9] = 1;
	memcpy(q + qlen, tsig_like, sizeof(tsig_like));
	qlen += sizeof(tsig_like);
	memcpy(q + qlen, tsig_like, sizeof(tsig_like));
	qlen += sizeof(tsig_like);
	put_opt(q + qlen, 4096, 0, 1);
	qlen += 11;
	q[11] = 1;
	run(0);
	expect("answer and authority records in a query are ignored", LDNS_RCODE_NOERROR,
	       1, 6, 0, 1);
	ok(pkt && ldns_pkt_edns_do(pkt), "the OPT after them is read");
	/* an OPT in the answer section is not the query's EDNS */
	query("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A);
	q[7] = 1;
	put_opt(q + qlen, 4096, 0, 0);
	qlen += 11;
	run(0);
	expect("an OPT in the answer section is skipped", LDNS_RCODE_NOERROR, 1, 6, 0, 0);
}

/* ---- the cases, as data -------------------------------------------------------- */

/* Query options besides plain and edns0. */
static const struct qopt edns_do = { .f2 = 0x01, .qclass = 1, .edns = 1, .udp = 1232,
				     .do_bit = 1 };
static const struct qopt edns_v1 = { .f2 = 0x01, .qclass = 1, .edns = 1, .udp = 1232,
				     .version = 1, .do_bit = 1 };
static const struct qopt edns4096 = { .f2 = 0x01, .qclass = 1, .edns = 1, .udp = 4096 };
static const struct qopt class_ch = { .f2 = 0x01, .qclass = LDNS_RR_CLASS_CH };
static const struct qopt class_any = { .f2 = 0x01, .qclass = LDNS_RR_CLASS_ANY };
static const struct qopt class_hs = { .f2 = 0x01, .qclass = LDNS_RR_CLASS_HS };
static const struct qopt edns_nsid = { .f2 = 0x01, .qclass = 1, .edns = 1, .udp = 1232,
				       .nsid = N_EMPTY };
static const struct qopt edns_nsid_payload = { .f2 = 0x01, .qclass = 1, .edns = 1,
					       .udp = 1232, .nsid = N_PAYLOAD };
static const struct qopt edns_nsid_twice = { .f2 = 0x01, .qclass = 1, .edns = 1,
					     .udp = 1232, .nsid = N_TWICE };
static const struct qopt edns_v1_nsid = { .f2 = 0x01, .qclass = 1, .edns = 1, .udp = 1232,
					  .version = 1, .nsid = N_EMPTY };
static const struct qopt ch_nsid = { .f2 = 0x01, .qclass = LDNS_RR_CLASS_CH, .edns = 1,
				     .udp = 1232, .nsid = N_EMPTY };

/* Changes to the environment for one case, undone after it. */
enum {
	E_NO_LOOKUPS = 1 << 0,      /* no provider: env.lookups = 0 */
	E_LOOKUP_RESERVED = 1 << 1, /* env.lookup_reserved = 1 */
	E_NO_REFRESH = 1 << 2,      /* no refresh hook */
	E_PAST = 1 << 3,            /* the clock stepped back: now - 10000 */
	E_NO_CACHE = 1 << 4,        /* env.cache = NULL */
	E_NO_IDENTITY = 1 << 5,     /* the zones without [server] identity */
};

/* What is asked of the refresh hook. */
enum { R_ANY, R_NONE, R_ONCE /* with the IP of put[0] */ };

struct put_row {
	const char *ip; /* NULL: none */
	uint8_t mask, flags;
	uint32_t age; /* seconds before NOW */
};

struct dns_case {
	const char *what;
	/* the query */
	const char *name;
	uint16_t qtype;
	const struct qopt *o; /* NULL: plain (RD, no EDNS) */
	unsigned flags;       /* DNS_TCP, DNS_NOWAIT */
	unsigned env;         /* E_* */
	struct put_row put[2]; /* verdicts cached before the query */
	/* the answer */
	const char *wait;     /* DNS_WAIT expected for this IP; else a reply: */
	int rcode, aa, an, ns, ar;
	const char *answers;  /* "A 127.0.0.2 | TXT Tor": the answer section, every record
			       * with the zone TTL and owned by the name as asked */
	uint32_t auth_ttl;    /* the authority is the zone's SOA with this TTL */
	const char *auth;     /* the authority section as text, case aside */
	uint8_t owner_ptr;    /* every record's owner: a pointer to this offset */
	size_t len;           /* the size of the answer */
	int refresh;          /* R_* */
	int ch;               /* every answer record is of class CH */
	const char *nsid;     /* the OPT's NSID payload; "-": no NSID option; NULL: not
			       * checked */
	/* what dns_result tells the counters (counters.h): "KIND CACHE CATEGORIES", as
	 * "listed hit vpn,scanner", "static - -" ("-": the cache was not asked, no
	 * category); the kind is "-" with DNS_WAIT. Every row has one. */
	const char *ctr;
};

#define NOERROR LDNS_RCODE_NOERROR
#define NXDOMAIN LDNS_RCODE_NXDOMAIN
#define REFUSED LDNS_RCODE_REFUSED
#define SERVFAIL LDNS_RCODE_SERVFAIL
#define NOTIMP LDNS_RCODE_NOTIMPL
#define T_A LDNS_RR_TYPE_A
#define T_NS LDNS_RR_TYPE_NS
#define T_SOA LDNS_RR_TYPE_SOA
#define T_MX LDNS_RR_TYPE_MX
#define T_TXT LDNS_RR_TYPE_TXT
#define T_AAAA LDNS_RR_TYPE_AAAA
#define T_ANY LDNS_RR_TYPE_ANY

#define BIT(c) VERDICT_BIT(VERDICT_##c)
#define SOA_TEXT "SOA ns1.example.org. hostmaster.example.org. 2024 3600 600 604800 300"
#define NS_TEXT "NS ns1.example.org. | NS ns2.example.org."
#define ALL_A "A 127.0.0.2 | A 127.0.0.3 | A 127.0.0.4 | A 127.0.0.5 | A 127.0.0.6 | " \
	"A 127.0.0.7"
#define ALL_TXT(ip) "TXT VPN exit " ip " | TXT OpenVPN $5 " ip " | TXT Tor | " \
	"TXT Proxy at " ip " | TXT Scanner"
#define V6_TEST "2.0.0.0.0.0.F.7.F.F.F.F.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." \
	"bl.example.org"
#define V6_DB8_1 "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2." \
	"bl.example.org"

/* In order: the verdicts that cases cache stay for the cases after them. */
static const struct dns_case cases[] = {
	/* REFUSED and NOTIMP */
	{ "outside every zone: REFUSED, AA=0, no records", "4.3.2.1.example.org", T_A,
	  .rcode = REFUSED,
	  .ctr = "refused - -" },
	{ "above the zone: REFUSED", "org", T_SOA, .rcode = REFUSED,
	  .ctr = "refused - -" },
	{ "the root: REFUSED", "", T_NS, .rcode = REFUSED,
	  .ctr = "refused - -" },
	{ "REFUSED keeps the OPT", "4.3.2.1.example.net", T_A, &edns0, .rcode = REFUSED,
	  .ar = 1,
	  .ctr = "refused - -" },
	{ "class CH: REFUSED", "bl.example.org", T_SOA, &class_ch, .rcode = REFUSED,
	  .ctr = "refused - -" },
	{ "class HS, id.server: REFUSED", "id.server", T_TXT, &class_hs, .rcode = REFUSED,
	  .ctr = "refused - -" },
	{ "class ANY: REFUSED", "bl.example.org", T_SOA, &class_any, .rcode = REFUSED,
	  .ctr = "refused - -" },
	{ "AXFR: NOTIMP", "bl.example.org", LDNS_RR_TYPE_AXFR, .flags = DNS_TCP,
	  .rcode = NOTIMP,
	  .ctr = "other - -" },
	{ "IXFR: NOTIMP", "bl.example.org", LDNS_RR_TYPE_IXFR, .rcode = NOTIMP,
	  .ctr = "other - -" },

	/* who answered: CH TXT id.server / hostname.bind (RFC 4892) and NSID (RFC 5001) */
	{ "CH TXT id.server: the identity, class CH, TTL 0, AA clear (as NSD)", "id.server",
	  T_TXT, &class_ch, .an = 1, .answers = "TXT " IDENTITY_TEXT " (ttl 0, owner "
	  "id.server.)", .ch = 1, .owner_ptr = 12, .len = 12 + 11 + 4 + 12 + 15, .ctr = "other - -" },
	{ "CH TXT hostname.bind: the same", "hostname.bind", T_TXT, &class_ch, .an = 1,
	  .answers = "TXT " IDENTITY_TEXT " (ttl 0, owner hostname.bind.)", .ch = 1, .ctr = "other - -" },
	{ "CH ANY ID.Server: names in any case, ANY as TXT", "ID.Server", T_ANY, &class_ch,
	  .an = 1, .answers = "TXT " IDENTITY_TEXT " (ttl 0, owner ID.Server.)", .ch = 1, .ctr = "other - -" },
	{ "CH TXT id.server over TCP", "id.server", T_TXT, &class_ch, .flags = DNS_TCP,
	  .an = 1, .ch = 1, .ctr = "other - -" },
	{ "CH A id.server: REFUSED", "id.server", T_A, &class_ch, .rcode = REFUSED, .ctr = "refused - -" },
	{ "CH TXT version.server: REFUSED (the version is not told)", "version.server",
	  T_TXT, &class_ch, .rcode = REFUSED, .ctr = "refused - -" },
	{ "CH TXT version.bind: REFUSED", "version.bind", T_TXT, &class_ch, .rcode = REFUSED, .ctr = "refused - -" },
	{ "CH TXT authors.bind: REFUSED", "authors.bind", T_TXT, &class_ch, .rcode = REFUSED, .ctr = "refused - -" },
	{ "CH TXT x.id.server: REFUSED", "x.id.server", T_TXT, &class_ch, .rcode = REFUSED, .ctr = "refused - -" },
	{ "CH TXT id.serve: REFUSED", "id.serve", T_TXT, &class_ch, .rcode = REFUSED, .ctr = "refused - -" },
	{ "IN TXT id.server: REFUSED (no such zone)", "id.server", T_TXT, .rcode = REFUSED, .ctr = "refused - -" },
	{ "CH TXT id.server without identity: REFUSED", "id.server", T_TXT, &class_ch,
	  .env = E_NO_IDENTITY, .rcode = REFUSED, .ctr = "refused - -" },
	{ "CH TXT hostname.bind without identity: REFUSED", "hostname.bind", T_TXT,
	  &class_ch, .env = E_NO_IDENTITY, .rcode = REFUSED, .ctr = "refused - -" },
	{ "CH TXT id.server, allow-query refuses the client: REFUSED", "id.server", T_TXT,
	  &class_ch, .flags = DNS_REFUSE, .rcode = REFUSED, .ctr = "refused - -" },
	{ "NSID asked, a listed IP: the A records and the NSID", "2.0.0.127.bl.example.org",
	  T_A, &edns_nsid, .aa = 1, .an = 6, .ar = 1, .answers = ALL_A, .nsid = IDENTITY_TEXT, .ctr = "static - -" },
	{ "NSID asked over TCP: the same", "2.0.0.127.bl.example.org", T_A, &edns_nsid,
	  .flags = DNS_TCP, .aa = 1, .an = 6, .ar = 1, .nsid = IDENTITY_TEXT, .ctr = "static - -" },
	{ "NSID asked, NXDOMAIN: with the NSID", "www.bl.example.org", T_A, &edns_nsid,
	  .rcode = NXDOMAIN, .aa = 1, .ns = 1, .ar = 1, .auth_ttl = 120,
	  .nsid = IDENTITY_TEXT, .ctr = "other - -" },
	{ "NSID asked, outside the zones: REFUSED with the NSID", "example.net", T_A,
	  &edns_nsid, .rcode = REFUSED, .ar = 1, .nsid = IDENTITY_TEXT, .ctr = "refused - -" },
	{ "NSID with a payload, after a cookie: the payload ignored (RFC 5001 §2.1)",
	  "2.0.0.127.bl.example.org", T_TXT, &edns_nsid_payload, .aa = 1, .an = 5, .ar = 1,
	  .nsid = IDENTITY_TEXT, .ctr = "static - -" },
	{ "NSID asked twice: one NSID", "bl.example.org", T_SOA, &edns_nsid_twice, .aa = 1,
	  .an = 1, .ar = 1, .nsid = IDENTITY_TEXT, .ctr = "other - -" },
	{ "no NSID asked: none sent", "2.0.0.127.bl.example.org", T_A, &edns0, .aa = 1,
	  .an = 6, .ar = 1, .nsid = "-", .ctr = "static - -" },
	{ "NSID asked, no identity: none sent, the answer as usual",
	  "2.0.0.127.bl.example.org", T_A, &edns_nsid, .env = E_NO_IDENTITY, .aa = 1,
	  .an = 6, .ar = 1, .answers = ALL_A, .nsid = "-", .ctr = "static - -" },
	{ "NSID asked, allow-query refuses the client: REFUSED, no NSID", "bl.example.org",
	  T_SOA, &edns_nsid, .flags = DNS_REFUSE, .rcode = REFUSED, .ar = 1, .nsid = "-", .ctr = "refused - -" },
	{ "CH TXT id.server with NSID: both", "id.server", T_TXT, &ch_nsid, .an = 1, .ar = 1,
	  .ch = 1, .nsid = IDENTITY_TEXT, .ctr = "other - -" },
	{ "CH TXT id.server with NSID, no identity: REFUSED, no NSID", "id.server", T_TXT,
	  &ch_nsid, .env = E_NO_IDENTITY, .rcode = REFUSED, .ar = 1, .nsid = "-", .ctr = "refused - -" },

	/* the apex */
	{ "apex SOA (zone ttl, serial, minimum; owner as asked, a pointer; MNAME and "
	  "RNAME compressed into the question's case)", "bL.ExamPle.ORG", T_SOA, .aa = 1,
	  .an = 1, .answers = "SOA ns1.ExamPle.ORG. hostmaster.ExamPle.ORG. 2024 3600 600 "
	  "604800 300", .owner_ptr = 12,
	  .ctr = "other - -" },
	{ "apex NS", "bl.example.org", T_NS, .aa = 1, .an = 2, .answers = NS_TEXT,
	  .ctr = "other - -" },
	{ "apex ANY: SOA and NS", "bl.example.org", T_ANY, .aa = 1, .an = 3,
	  .answers = SOA_TEXT " | " NS_TEXT,
	  .ctr = "other - -" },
	{ "apex A: NODATA, SOA with the negative ttl", "bl.example.org", T_A, .aa = 1,
	  .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata - -" },
	{ "apex MX: NODATA", "bl.example.org", T_MX, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata - -" },
	{ "apex MAILA: a plain type, NODATA", "bl.example.org", LDNS_RR_TYPE_MAILA, .aa = 1,
	  .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata - -" },

	/* names that are not an IP */
	{ "3 numeric labels: empty non-terminal", "3.2.1.bl.example.org", T_A, .aa = 1,
	  .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata - -" },
	{ "1 label: ENT", "1.bl.example.org", T_NS, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata - -" },
	{ "31 nibbles: ENT",
	  "a.b.c.d.e.f.0.1.2.3.4.5.6.7.8.9.A.B.C.D.E.F.0.1.2.3.4.5.6.7.8.bl.example.org", T_A,
	  .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata - -" },
	{ "33 nibbles: NXDOMAIN",
	  "0.a.b.c.d.e.f.0.1.2.3.4.5.6.7.8.9.A.B.C.D.E.F.0.1.2.3.4.5.6.7.8.9.bl.example.org",
	  T_A, .rcode = NXDOMAIN, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "other - -" },
	{ "another name: NXDOMAIN, the SOA owner points at the apex", "www.bl.example.org",
	  T_A, .rcode = NXDOMAIN, .aa = 1, .ns = 1, .auth_ttl = 120, .owner_ptr = 12 + 4,
	  .ctr = "other - -" },
	{ "five one-digit labels: an IPv6 prefix, ENT", "5.4.3.2.1.bl.example.org", T_A,
	  .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata - -" },
	{ "five numeric labels: NXDOMAIN", "50.40.30.20.10.bl.example.org", T_A,
	  .rcode = NXDOMAIN, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "other - -" },
	{ "leading zero: NXDOMAIN", "04.3.2.1.bl.example.org", T_A, .rcode = NXDOMAIN,
	  .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "other - -" },
	{ "256: NXDOMAIN", "4.3.2.256.bl.example.org", T_A, .rcode = NXDOMAIN, .aa = 1,
	  .ns = 1, .auth_ttl = 120,
	  .ctr = "other - -" },

	/* the test entries */
	{ "127.0.0.2: every category, in category order, owners 0xC00C",
	  "2.0.0.127.bl.example.org", T_A, .aa = 1, .an = 6, .answers = ALL_A,
	  .owner_ptr = 12,
	  .ctr = "static - -" },
	{ "127.0.0.2 TXT: one per non-empty template, $ = IP, $$ = $",
	  "2.0.0.127.bl.example.org", T_TXT, .aa = 1, .an = 5,
	  .answers = ALL_TXT("127.0.0.2"),
	  .ctr = "static - -" },
	{ "127.0.0.2 ANY: A then TXT", "2.0.0.127.bl.example.org", T_ANY, .aa = 1, .an = 11,
	  .answers = ALL_A " | " ALL_TXT("127.0.0.2"),
	  .ctr = "static - -" },
	{ "127.0.0.2 MX: NODATA, negative ttl", "2.0.0.127.bl.example.org", T_MX, .aa = 1,
	  .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata - -" },
	{ "127.0.0.2 AAAA: NODATA", "2.0.0.127.bl.example.org", T_AAAA, .aa = 1, .ns = 1,
	  .auth_ttl = 120,
	  .ctr = "nodata - -" },
	{ "::ffff:7f00:2 in nibbles: the same test entry", V6_TEST, T_A, .aa = 1, .an = 6,
	  .answers = ALL_A,
	  .ctr = "static - -" },
	{ "::ffff:7f00:2 TXT names the IPv4 address", V6_TEST, T_TXT, .aa = 1, .an = 5,
	  .answers = ALL_TXT("127.0.0.2"),
	  .ctr = "static - -" },
	{ "127.0.0.2 in a zone with tor and proxy off: the 4 enabled categories",
	  "2.0.0.127.srv.example.net", T_A, .aa = 1, .an = 4,
	  .answers = "A 127.0.0.2 | A 127.0.0.3 | A 127.0.0.4 | A 127.0.0.7",
	  .ctr = "static - -" },
	/* 127.0.0.1: never listed, never looked up, even if a verdict says otherwise */
	{ "127.0.0.1: NXDOMAIN", "1.0.0.127.bl.example.org", T_A,
	  .put = { { "127.0.0.1", VERDICT_ALL } }, .rcode = NXDOMAIN, .aa = 1, .ns = 1,
	  .auth_ttl = 120,
	  .ctr = "clean - -" },
	{ "127.0.0.1: not looked up even with lookup-reserved", "1.0.0.127.bl.example.org",
	  T_A, .env = E_LOOKUP_RESERVED, .rcode = NXDOMAIN, .aa = 1, .ns = 1,
	  .auth_ttl = 120,
	  .ctr = "clean - -" },
	{ "::ffff:7f00:1: NXDOMAIN",
	  "1.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example.org", T_A,
	  .rcode = NXDOMAIN, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "clean - -" },

	/* static lists, before the cache */
	{ "static list hit: A, the list's address before the cache's verdict",
	  "2.1.184.93.bl.example.org", T_A,
	  .put = { { "93.184.216.34", BIT(TOR) }, { "93.184.1.2", BIT(TOR) } }, .aa = 1,
	  .an = 1, .answers = "A 127.0.0.10",
	  .ctr = "static - -" },
	{ "static list hit: TXT, the list's template expanded", "2.1.184.93.bl.example.org",
	  T_TXT, .aa = 1, .an = 1, .answers = "TXT static 93.184.1.2",
	  .ctr = "static - -" },
	{ "static list hit: ANY", "2.1.184.93.bl.example.org", T_ANY, .aa = 1, .an = 2,
	  .answers = "A 127.0.0.10 | TXT static 93.184.1.2",
	  .ctr = "static - -" },
	{ "static entry without text: TXT is NODATA", "9.9.185.93.bl.example.org", T_TXT,
	  .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata - -" },
	{ "static exclusion: NXDOMAIN, cache not consulted", "34.216.184.93.bl.example.org",
	  T_A, .rcode = NXDOMAIN, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "clean - -" },
	{ "lists belong to their zone: the other zone answers the cache (tor off: clean)",
	  "34.216.184.93.srv.example.net", T_A, .aa = 1, .an = 1, .answers = "A 127.0.0.100",
	  .ctr = "clean hit -" },

	/* cached verdicts */
	{ "fresh verdict: A per category (vpn and scanner), no refresh",
	  "93.106.214.188.bl.example.org", T_A,
	  .put = { { "188.214.106.93", BIT(VPN) | BIT(SCANNER), 0, 10 } }, .aa = 1, .an = 2,
	  .answers = "A 127.0.0.2 | A 127.0.0.7", .refresh = R_NONE,
	  .ctr = "listed hit vpn,scanner" },
	{ "fresh verdict: TXT of each category", "93.106.214.188.bl.example.org", T_TXT,
	  .aa = 1, .an = 2, .answers = "TXT VPN exit 188.214.106.93 | TXT Scanner",
	  .ctr = "listed hit vpn,scanner" },
	{ "openvpn443 found by threatbl's probe: its TXT says so",
	  "95.106.214.188.bl.example.org", T_TXT,
	  .put = { { "188.214.106.95", BIT(OPENVPN443) | BIT(HOSTING), VERDICT_F_PROBED, 10 } },
	  .aa = 1, .an = 1, .answers = "TXT OpenVPN $5 188.214.106.95 (confirmed by probe)",
	  .ctr = "listed hit openvpn443,hosting" },
	{ "... and its A is the category's", "95.106.214.188.bl.example.org", T_A,
	  .aa = 1, .an = 2, .answers = "A 127.0.0.3 | A 127.0.0.4",
	  .ctr = "listed hit openvpn443,hosting" },
	{ "stale verdict: answered (hosting), refresh called with the IP",
	  "94.106.214.188.bl.example.org", T_A,
	  .put = { { "188.214.106.94", BIT(HOSTING), 0, 500 } }, .aa = 1, .an = 1,
	  .answers = "A 127.0.0.4", .refresh = R_ONCE,
	  .ctr = "listed stale hosting" },
	{ "hosting has no TXT: NODATA", "94.106.214.188.bl.example.org", T_TXT, .aa = 1,
	  .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata stale -" },
	{ "stale without a refresh hook", "94.106.214.188.bl.example.org", T_TXT,
	  .env = E_NO_REFRESH, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata stale -" },
	{ "too old: DNS_WAIT with the IP, no refresh call (the lookup does it)",
	  "95.106.214.188.bl.example.org", T_A,
	  .put = { { "188.214.106.95", BIT(TOR), 0, 5000 } }, .wait = "188.214.106.95",
	  .refresh = R_NONE,
	  .ctr = "- miss -" },
	{ "too old, NOWAIT: the unknown answer (nxdomain), SOA with unknown-ttl",
	  "95.106.214.188.bl.example.org", T_A, .flags = DNS_NOWAIT, .rcode = NXDOMAIN,
	  .aa = 1, .ns = 1, .auth_ttl = 30,
	  .ctr = "unknown miss -" },
	{ "clean verdict: NXDOMAIN, negative ttl", "96.106.214.188.bl.example.org", T_A,
	  .put = { { "188.214.106.96", 0 } }, .rcode = NXDOMAIN, .aa = 1, .ns = 1,
	  .auth_ttl = 120,
	  .ctr = "clean hit -" },
	{ "clean verdict in a zone with clean: answered", "96.106.214.188.srv.example.net",
	  T_A, .aa = 1, .an = 1, .answers = "A 127.0.0.100",
	  .ctr = "clean hit -" },
	{ "clean template", "96.106.214.188.srv.example.net", T_TXT, .aa = 1, .an = 1,
	  .answers = "TXT clean 188.214.106.96",
	  .ctr = "clean hit -" },
	{ "clean answer, MX: NODATA", "96.106.214.188.srv.example.net", T_MX, .aa = 1,
	  .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata hit -" },
	{ "only disabled categories: the clean answer", "97.106.214.188.srv.example.net",
	  T_A, .put = { { "188.214.106.97", BIT(TOR) | BIT(PROXY) } }, .aa = 1, .an = 1,
	  .answers = "A 127.0.0.100",
	  .ctr = "clean hit -" },
	{ "the same verdict where they are enabled", "97.106.214.188.bl.example.org", T_A,
	  .aa = 1, .an = 2, .answers = "A 127.0.0.5 | A 127.0.0.6",
	  .ctr = "listed hit tor,proxy" },
	{ "listed, all templates empty: TXT is NODATA", "93.106.214.188.notxt.example.com",
	  T_TXT, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "nodata hit -" },
	{ "listed, all templates empty: ANY has the A records",
	  "93.106.214.188.notxt.example.com", T_ANY, .aa = 1, .an = 2,
	  .answers = "A 127.0.0.2 | A 127.0.0.7",
	  .ctr = "listed hit vpn,scanner" },
	{ "IPv6 verdict, IPv6 in the TXT in compressed form", V6_DB8_1, T_TXT,
	  .put = { { "2001:db8::1", BIT(PROXY) } }, .aa = 1, .an = 1,
	  .answers = "TXT Proxy at 2001:db8::1",
	  .ctr = "listed hit proxy" },

	/* nothing known, unknown verdicts */
	{ "absent: DNS_WAIT with the IP", "1.0.113.198.bl.example.org", T_A,
	  .wait = "198.113.0.1",
	  .ctr = "- miss -" },
	{ "absent, NOWAIT, unknown = nxdomain: unknown-ttl on the SOA",
	  "1.0.113.198.bl.example.org", T_A, .flags = DNS_NOWAIT, .rcode = NXDOMAIN, .aa = 1,
	  .ns = 1, .auth_ttl = 30,
	  .ctr = "unknown miss -" },
	{ "absent, NOWAIT, unknown = servfail: no records", "1.0.113.198.srv.example.net",
	  T_A, .flags = DNS_NOWAIT, .rcode = SERVFAIL, .aa = 1,
	  .ctr = "unknown miss -" },
	{ "servfail keeps the OPT", "1.0.113.198.srv.example.net", T_TXT, &edns0,
	  .flags = DNS_NOWAIT | DNS_TCP, .rcode = SERVFAIL, .aa = 1, .ar = 1,
	  .ctr = "unknown miss -" },
	{ "no provider: NXDOMAIN, negative ttl", "1.0.113.198.bl.example.org", T_A,
	  .env = E_NO_LOOKUPS, .rcode = NXDOMAIN, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "clean miss -" },
	{ "no provider, NOWAIT: still clean (the zone's clean answer)",
	  "1.0.113.198.srv.example.net", T_A, .flags = DNS_NOWAIT, .env = E_NO_LOOKUPS,
	  .aa = 1, .an = 1, .answers = "A 127.0.0.100",
	  .ctr = "clean miss -" },
	{ "recent unknown verdict: unknown answer, no wait, unknown-ttl",
	  "2.0.113.198.bl.example.org", T_A,
	  .put = { { "198.113.0.2", 0, VERDICT_F_UNKNOWN, 10 } }, .rcode = NXDOMAIN, .aa = 1,
	  .ns = 1, .auth_ttl = 30,
	  .ctr = "unknown hit -" },
	{ "recent unknown verdict, servfail zone", "2.0.113.198.srv.example.net", T_A,
	  .rcode = SERVFAIL, .aa = 1,
	  .ctr = "unknown hit -" },
	{ "older unknown verdict: asked again", "3.0.113.198.bl.example.org", T_A,
	  .put = { { "198.113.0.3", 0, VERDICT_F_UNKNOWN, 60 } }, .wait = "198.113.0.3",
	  .ctr = "- miss -" },

	/* reserved ranges */
	{ "reserved (10/8): NXDOMAIN, no lookup, negative ttl", "3.2.1.10.bl.example.org",
	  T_A, .rcode = NXDOMAIN, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "clean miss -" },
	{ "reserved with lookup-reserved: looked up", "3.2.1.10.bl.example.org", T_A,
	  .env = E_LOOKUP_RESERVED, .wait = "10.1.2.3",
	  .ctr = "- miss -" },
	{ "reserved with a verdict (learnt with lookup-reserved): answered",
	  "4.2.1.10.bl.example.org", T_A, .put = { { "10.1.2.4", BIT(VPN) } }, .aa = 1,
	  .an = 1, .answers = "A 127.0.0.2",
	  .ctr = "listed hit vpn" },
	{ "verdict newer than now (clock stepped back): fresh, no refresh",
	  "4.0.113.198.bl.example.org", T_A, .env = E_PAST,
	  .put = { { "198.113.0.4", BIT(VPN) } }, .aa = 1, .an = 1, .answers = "A 127.0.0.2",
	  .refresh = R_NONE,
	  .ctr = "listed hit vpn" },
	{ "no cache: lookup", "93.106.214.188.bl.example.org", T_A, .env = E_NO_CACHE,
	  .wait = "188.214.106.93",
	  .ctr = "- - -" },

	/* 1.2.3.4 asked as 4.3.2.1: the name is also the prefix of IPv6 names */
	{ "one-digit IPv4 is looked up like any other", "4.3.2.1.bl.example.org", T_A,
	  .wait = "1.2.3.4",
	  .ctr = "- miss -" },
	{ "one-digit IPv4, clean: NODATA, not NXDOMAIN (IPv6 names below it)",
	  "4.3.2.1.bl.example.org", T_A, .put = { { "1.2.3.4", 0 } }, .aa = 1, .ns = 1,
	  .auth_ttl = 120,
	  .ctr = "clean hit -" },
	{ "one-digit IPv4, listed: A", "4.3.2.1.bl.example.org", T_A,
	  .put = { { "1.2.3.4", BIT(TOR) } }, .aa = 1, .an = 1, .answers = "A 127.0.0.5",
	  .ctr = "listed hit tor" },
	{ "2.0.0.0 (0.0.0.2, reserved): NODATA for strict QNAME minimisation of "
	  "::ffff:7f00:2", "2.0.0.0.bl.example.org", T_A, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "clean miss -" },
	{ "a two-digit label: NXDOMAIN as usual", "10.2.3.4.bl.example.org", T_A,
	  .put = { { "4.3.2.10", 0 } }, .rcode = NXDOMAIN, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .ctr = "clean hit -" },

	/* EDNS */
	{ "EDNS: answer with OPT", "2.0.0.127.bl.example.org", T_A, &edns_do, .aa = 1,
	  .an = 6, .ar = 1, .answers = ALL_A,
	  .ctr = "static - -" },
	{ "EDNS version 1: BADVERS, no records", "2.0.0.127.bl.example.org", T_A, &edns_v1,
	  .ar = 1,
	  .ctr = "other - -" },
	{ "BADVERS with NSID asked: the NSID too", "2.0.0.127.bl.example.org", T_A,
	  &edns_v1_nsid, .ar = 1, .nsid = IDENTITY_TEXT, .ctr = "other - -" },
	{ "apex SOA with EDNS", "bl.example.org", T_SOA, &edns_do, .aa = 1, .an = 1, .ar = 1,
	  .answers = SOA_TEXT,
	  .ctr = "other - -" },
	{ "NXDOMAIN with EDNS", "www.bl.example.org", T_SOA, &edns_do, .rcode = NXDOMAIN,
	  .aa = 1, .ns = 1, .ar = 1, .auth_ttl = 120,
	  .ctr = "other - -" },

	/* sizes (big.example.com: 6 TXT of ~250 bytes; ANY = 6 A + 6 TXT ~ 1.7 kB) */
	{ "TCP: the whole answer", "2.0.0.127.big.example.com", T_ANY, .flags = DNS_TCP,
	  .aa = 1, .an = 12,
	  .ctr = "static - -" },
	{ "a small answer with EDNS 4096", "2.0.0.127.srv.example.net", T_TXT, &edns4096,
	  .aa = 1, .an = 3, .ar = 1,
	  .answers = "TXT VPN exit 127.0.0.2 | TXT OpenVPN $5 127.0.0.2 | TXT Scanner",
	  .ctr = "static - -" },
	{ "4 long TXT (~1.1 kB) fit EDNS 1232", "5.6.7.8.big.example.com", T_TXT, &edns0,
	  .put = { { "8.7.6.5", BIT(OPENVPN443) | BIT(HOSTING) | BIT(TOR) | BIT(PROXY) } },
	  .aa = 1, .an = 4, .ar = 1,
	  .ctr = "listed hit openvpn443,hosting,tor,proxy" },
	{ "the same over TCP without EDNS: whole", "5.6.7.8.big.example.com", T_TXT,
	  .flags = DNS_TCP, .aa = 1, .an = 4,
	  .ctr = "listed hit openvpn443,hosting,tor,proxy" },

	/* case */
	{ "0x20 mixed case: answered, the question echoed byte for byte",
	  "2.0.0.127.bL.eXaMpLe.OrG", T_TXT, .aa = 1, .an = 5,
	  .answers = ALL_TXT("127.0.0.2"),
	  .ctr = "static - -" },
	{ "nibbles in any case; the SOA pointer past 6 nibble labels",
	  "a.B.c.D.e.F.bl.example.org", T_A, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .owner_ptr = 12 + 12,
	  .ctr = "nodata - -" },

	/* MNAME and RNAME as compression pointers: 22 bytes less in every negative
	 * answer, and the names still read back right, whatever the question's case
	 * and wherever its apex starts. */
	{ "compressed SOA: NXDOMAIN (header 12, question 20 + 4, SOA owner 2 + 10, RDATA "
	  "6 + 13 + 20)", "www.bl.example.org", T_A, .rcode = NXDOMAIN, .aa = 1, .ns = 1,
	  .auth_ttl = 120, .auth = SOA_TEXT, .len = 87,
	  .ctr = "other - -" },
	{ "unknown IP: NXDOMAIN, full IPv4 name (was 120), SOA with unknown-ttl",
	  "188.106.214.93.bl.example.org", T_A, .flags = DNS_NOWAIT, .rcode = NXDOMAIN,
	  .aa = 1, .ns = 1, .auth_ttl = 30, .len = 12 + 31 + 4 + 12 + 39,
	  .ctr = "unknown miss -" },
	{ "compressed SOA, 0x20 question: names read back (the question's case)",
	  "WwW.bL.eXaMpLe.OrG", T_TXT, .rcode = NXDOMAIN, .aa = 1, .ns = 1, .auth_ttl = 120,
	  .auth = SOA_TEXT,
	  .ctr = "other - -" },
	{ "compressed SOA with EDNS: RNAME read back, OPT after it",
	  "9.8.7.6.5.4.3.2.1.0.bl.example.org", T_A, &edns0, .aa = 1, .ns = 1, .ar = 1,
	  .auth_ttl = 120, .auth = SOA_TEXT,
	  .ctr = "nodata - -" },
	{ "apex SOA, compressed", "bl.example.org", T_SOA, .aa = 1, .an = 1,
	  .answers = SOA_TEXT, .owner_ptr = 12,
	  .ctr = "other - -" },
	{ "apex ANY over TCP", "bl.example.org", T_ANY, .flags = DNS_TCP, .aa = 1, .an = 3,
	  .answers = SOA_TEXT " | " NS_TEXT,
	  .ctr = "other - -" },
};

/* One record as "TYPE RDATA" (TXT: its strings as they are, A/NS/SOA: ldns' text). */
static void rr_text(ldns_rr *rr, char *buf, size_t size)
{
	char *t = ldns_rr_type2str(ldns_rr_get_type(rr));
	size_t n = (size_t)snprintf(buf, size, "%s", t ? t : "?");

	free(t);
	for (size_t i = 0; i < ldns_rr_rd_count(rr) && n < size; i++) {
		ldns_rdf *rdf = ldns_rr_rdf(rr, i);

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT) {
			const uint8_t *d = ldns_rdf_data(rdf);

			n += (size_t)snprintf(buf + n, size - n, " %.*s", d[0], d + 1);
		} else {
			char *s = ldns_rdf2str(rdf);

			n += (size_t)snprintf(buf + n, size - n, " %s", s ? s : "?");
			free(s);
		}
	}
}

/* A section as "A 127.0.0.2 | TXT Tor"; with ttl, "" when a record has another TTL
 * or is not owned by owner (as text, case kept). */
static void section_text(ldns_rr_list *l, const char *owner, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l) && n < size; i++) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);
		char one[600];

		rr_text(rr, one, sizeof(one));
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? " | " : "", one);
		if (owner) {
			char *o = ldns_rdf2str(ldns_rr_owner(rr));
			int same = o && strncmp(o, owner, strlen(owner)) == 0 &&
				   strcmp(o + strlen(owner), ".") == 0;

			if (ldns_rr_ttl(rr) != 300 || !same)
				n += (size_t)snprintf(buf + n, size - n, " (ttl %u, owner %s)",
						      ldns_rr_ttl(rr), o ? o : "?");
			free(o);
		}
	}
}

/* Whether every record after the question is owned by a pointer to off. */
static int owners_point_at(unsigned off)
{
	size_t p = qend, nrr = (size_t)(out[6] << 8 | out[7]) + (size_t)(out[8] << 8 | out[9]);

	for (size_t i = 0; i < nrr; i++) {
		if (p + 12 > res.len || out[p] != 0xc0 || out[p + 1] != off)
			return 0;
		p += 12 + (size_t)(out[p + 10] << 8 | out[p + 11]);
	}
	return p <= res.len;
}

/* The NSID option of the answer's OPT record into buf ("-" when there is none); 0, or
 * -1 when the options do not tile the RDATA. */
static int answer_nsid(char *buf, size_t size)
{
	ldns_rdf *d = pkt ? ldns_pkt_edns_data(pkt) : NULL;
	const uint8_t *p = d ? ldns_rdf_data(d) : NULL;
	size_t len = d ? ldns_rdf_size(d) : 0;

	snprintf(buf, size, "-");
	while (len) {
		size_t ol;

		if (len < 4 || len - 4 < (ol = (size_t)(p[2] << 8 | p[3])))
			return -1;
		if ((p[0] << 8 | p[1]) == 3)
			snprintf(buf, size, "%.*s", (int)ol, (const char *)p + 4);
		p += 4 + ol;
		len -= 4 + ol;
	}
	return 0;
}

/* What res says for the counters, as a row's ctr. */
static void ctr_text(char *buf, size_t size)
{
	static const char *const kinds[] = {
		"listed", "clean", "unknown", "static", "nodata", "refused", "other" };
	static const char *const caches[] = { "hit", "miss", "stale", "-" };
	size_t n;

	n = (size_t)snprintf(buf, size, "%s %s ", res.status == DNS_WAIT ? "-" :
			     res.kind < CTR_NANSWER ? kinds[res.kind] : "?",
			     res.cache <= CTR_NCACHE ? caches[res.cache] : "?");
	if (!res.cats)
		snprintf(buf + n, size - n, "-");
	for (unsigned c = 0; c < VERDICT_NCAT; c++)
		if (res.cats & VERDICT_BIT(c))
			n += (size_t)snprintf(buf + n, size - n, "%s%s",
					      buf[n - 1] == ' ' ? "" : ",",
					      verdict_cat_name((enum verdict_cat)c));
}

/* Why the answer to c is wrong, or NULL. */
static const char *check_case(const struct dns_case *c, char *why, size_t size)
{
	char text[4096];
	struct ipaddr want;

	ctr_text(text, sizeof(text));
	/* DNS_CTR_DUMP=1: print what each row got, to check a new row's ctr by eye. */
	if (getenv("DNS_CTR_DUMP"))
		printf("CTR %s\n", text);
	if (!c->ctr || strcmp(text, c->ctr) != 0) {
		snprintf(why, size, "counters \"%s\", want \"%s\"", text,
			 c->ctr ? c->ctr : "(none given)");
		return why;
	}

	if (c->refresh == R_NONE && nrefresh != 0)
		return "the refresh hook was called";
	if (c->refresh == R_ONCE) {
		want = ip_of(c->put[0].ip);
		if (nrefresh != 1 || memcmp(&refreshed[0], &want, sizeof(want)) != 0)
			return "the refresh hook was not called once with the IP";
	}
	if (c->wait) {
		want = ip_of(c->wait);
		if (res.status != DNS_WAIT || memcmp(&res.ip, &want, sizeof(want)) != 0)
			return "not DNS_WAIT with the IP";
		return NULL;
	}
	if (res.status != DNS_REPLY || !sane())
		return "not a sane reply";
	/* The header's RCODE, the extended one (BADVERS) aside. */
	if (res.rcode != (c->o && c->o->edns && c->o->version ? 16 : c->rcode))
		return "dns_result's rcode is not the answer's";
	if (rcode() != c->rcode || ldns_pkt_aa(pkt) != c->aa || ldns_pkt_tc(pkt) ||
	    !counts(c->an, c->ns, c->ar))
		return "rcode, AA, TC or counts";
	if (c->auth_ttl && !soa_auth(c->auth_ttl))
		return "the authority is not the SOA with that TTL";
	if (c->auth) {
		section_text(ldns_pkt_authority(pkt), NULL, text, sizeof(text));
		if (strcasecmp(text, c->auth) != 0) {
			snprintf(why, size, "authority \"%s\"", text);
			return why;
		}
	}
	if (c->answers) {
		section_text(ldns_pkt_answer(pkt), c->name, text, sizeof(text));
		if (strcmp(text, c->answers) != 0) {
			snprintf(why, size, "answers \"%s\"", text);
			return why;
		}
	}
	if (c->owner_ptr && !owners_point_at(c->owner_ptr))
		return "owners are not pointers to that offset";
	for (size_t i = 0; c->ch && i < ldns_rr_list_rr_count(ldns_pkt_answer(pkt)); i++)
		if (ldns_rr_get_class(ans(i)) != LDNS_RR_CLASS_CH)
			return "an answer record is not of class CH";
	if (c->nsid) {
		if (answer_nsid(text, sizeof(text)))
			return "the OPT record's options do not tile its RDATA";
		if (strcmp(text, c->nsid) != 0) {
			snprintf(why, size, "NSID \"%s\"", text);
			return why;
		}
	}
	if (c->len && res.len != c->len) {
		snprintf(why, size, "size %zu, want %zu", res.len, c->len);
		return why;
	}
	return NULL;
}

static void run_case(const struct dns_case *c)
{
	char why[4200];
	const char *bad;

	for (int i = 0; i < 2 && c->put[i].ip; i++)
		put(c->put[i].ip, c->put[i].mask, c->put[i].flags, c->put[i].age);
	if (c->env & E_NO_LOOKUPS)
		env.lookups = 0;
	if (c->env & E_LOOKUP_RESERVED)
		env.lookup_reserved = 1;
	if (c->env & E_NO_REFRESH)
		env.refresh = NULL;
	if (c->env & E_PAST)
		env.now = NOW - 10000;
	if (c->env & E_NO_CACHE)
		env.cache = NULL;
	if (c->env & E_NO_IDENTITY)
		env.zones = zs_anon;
	nrefresh = 0;
	query_o(c->name, c->qtype, c->o ? c->o : &plain);
	run(c->flags);
	bad = check_case(c, why, sizeof(why));
	env.lookups = 1;
	env.lookup_reserved = 0;
	env.refresh = on_refresh;
	env.now = NOW;
	env.cache = cache;
	env.zones = zs;
	if (!ok(!bad, "%s", c->what)) {
		diag("%s: %s", c->name, bad);
		if (pkt) {
			diag("status %d rcode %d aa %d tc %d counts %d/%d/%d", res.status, rcode(),
			     ldns_pkt_aa(pkt), ldns_pkt_tc(pkt), out[6] << 8 | out[7],
			     out[8] << 8 | out[9], out[10] << 8 | out[11]);
			ldns_pkt_print(stdout, pkt);
		} else {
			diag("status %d", res.status);
		}
	}
}

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* ---- what needs code: bytes on the wire, sizes, a second zone set --------------- */

static void test_edns(void)
{
	struct qopt o = edns_do;
	const uint8_t *opt;

	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &o);
	run(0);
	opt = out + res.len - 11;
	ok(pkt && res.len > 11 && opt[0] == 0 && opt[1] == 0 && opt[2] == 41 &&
	   opt[3] == 0x04 && opt[4] == 0xd0 && opt[5] == 0 && opt[6] == 0 && opt[7] == 0x80 &&
	   opt[8] == 0 && opt[9] == 0 && opt[10] == 0,
	   "OPT: root, size 1232, version 0, DO copied, no options");
	ok(pkt && ldns_pkt_edns_do(pkt) && ldns_pkt_edns_udp_size(pkt) == 1232, "ldns agrees");
	o.do_bit = 0;
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &o);
	run(0);
	ok(pkt && !ldns_pkt_edns_do(pkt) && ldns_pkt_edns(pkt), "DO clear copied");

	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &edns_v1);
	run(0);
	ok(pkt && ldns_pkt_edns_extended_rcode(pkt) == 1 && ldns_pkt_edns_version(pkt) == 0,
	   "BADVERS: extended rcode 1 (16), our version 0");
}

/* NSID on the wire: a malformed option, and an answer with little room. */
static void test_nsid(void)
{
	char nsid[300];
	size_t plain_len, need = 4 + strlen(IDENTITY_TEXT);

	/* The option claims 5 bytes where the RDATA holds 4 (its header only). */
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &edns_nsid);
	q[qlen - 1] = 5;
	run(0);
	ok(rcode() == LDNS_RCODE_FORMERR && counts(0, 0, 0), "NSID longer than the RDATA: "
	   "FORMERR");
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &edns_nsid);
	q[qlen - 5] = 0;
	q[qlen - 6] = 3;
	qlen -= 1;
	run(0);
	ok(rcode() == LDNS_RCODE_FORMERR, "NSID option cut to 3 bytes: FORMERR");

	/* Room for the answer and the OPT, not for the NSID: the answer whole, no NSID
	 * (a diagnostic never truncates an answer). */
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &edns0);
	run(0);
	plain_len = res.len;
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &edns_nsid);
	run_cap(0, plain_len + need - 1);
	ok(pkt && !ldns_pkt_tc(pkt) && counts(6, 0, 1) && res.len == plain_len &&
	   answer_nsid(nsid, sizeof(nsid)) == 0 && strcmp(nsid, "-") == 0,
	   "one byte short for the NSID: the answer without it, not truncated");
	run_cap(0, plain_len + need);
	ok(pkt && !ldns_pkt_tc(pkt) && counts(6, 0, 1) && res.len == plain_len + need &&
	   answer_nsid(nsid, sizeof(nsid)) == 0 && strcmp(nsid, IDENTITY_TEXT) == 0,
	   "room for it: the answer and the NSID (%zu bytes)", res.len);
	/* A truncated answer still says who truncated it. */
	query_o("9.9.9.9.big.example.com", LDNS_RR_TYPE_TXT, &edns_nsid);
	put("9.9.9.9", VERDICT_ALL, 0, 1);
	run(0);
	ok(pkt && ldns_pkt_tc(pkt) && answer_nsid(nsid, sizeof(nsid)) == 0 &&
	   strcmp(nsid, IDENTITY_TEXT) == 0, "TC=1 over UDP, with the NSID");
}

static void test_truncation(void)
{
	struct qopt o = edns0;
	ldns_rr *rr;
	size_t full;

	query("2.0.0.127.big.example.com", LDNS_RR_TYPE_ANY);
	run(DNS_TCP);
	full = res.len;
	ok(res.status == DNS_REPLY && full > DNS_UDP_MAX,
	   "the answer is larger than any UDP size (%zu)", full);
	rr = ans(6);
	is_int(txt_len(rr), 255, "a long expanded template is cut at 255 bytes");
	ok(rr && memcmp(ldns_rdf_data(ldns_rr_rdf(rr, 0)) + 1, "$127.0.0.2 127.0.0.2", 20) == 0,
	   "cut template starts right");
	is_int(txt_len(ans(7)), 250, "a 250-byte template is whole");

	run(0);
	ok(res.status == DNS_REPLY && pkt && ldns_pkt_tc(pkt) && counts(0, 0, 0) &&
	   rcode() == LDNS_RCODE_NOERROR && sane() && res.len == qend,
	   "UDP without EDNS: TC=1, question only");
	ok(pkt && ldns_pkt_aa(pkt), "TC answer keeps AA");

	o.udp = 4096;
	query_o("2.0.0.127.big.example.com", LDNS_RR_TYPE_ANY, &o);
	run(0);
	ok(pkt && ldns_pkt_tc(pkt) && counts(0, 0, 1) && res.len == qend + 11 && sane(),
	   "EDNS 4096 is capped at 1232: TC=1, only the OPT");

	/* 5.6.7.8 has 4 long TXT (cached by the cases): about 1.1 kB */
	o.udp = 1232;
	query_o("5.6.7.8.big.example.com", LDNS_RR_TYPE_TXT, &o);
	run(0);
	ok(res.len > 512 && res.len <= 1232, "answer size %zu between 512 and 1232", res.len);
	o.udp = 512;
	query_o("5.6.7.8.big.example.com", LDNS_RR_TYPE_TXT, &o);
	run(0);
	ok(pkt && ldns_pkt_tc(pkt) && counts(0, 0, 1) && rcode() == LDNS_RCODE_NOERROR &&
	   ldns_pkt_edns(pkt), "EDNS 512: TC=1 with the OPT");
	o.udp = 100;
	query_o("5.6.7.8.big.example.com", LDNS_RR_TYPE_TXT, &o);
	run(0);
	ok(pkt && ldns_pkt_tc(pkt) && res.len == qend + 11, "EDNS below 512 counts as 512");
	query("5.6.7.8.big.example.com", LDNS_RR_TYPE_TXT);
	run(0);
	ok(pkt && ldns_pkt_tc(pkt) && res.len == qend, "no EDNS: 512, TC=1");

	/* an output buffer smaller than the answer */
	o.udp = 1232;
	query_o("5.6.7.8.big.example.com", LDNS_RR_TYPE_TXT, &o);
	run_cap(0, 600);
	ok(pkt && ldns_pkt_tc(pkt) && res.len <= 600, "UDP, outcap 600 < 1232: TC=1");
	run_cap(DNS_TCP, 600);
	ok(pkt && rcode() == LDNS_RCODE_SERVFAIL && counts(0, 0, 1) && !ldns_pkt_tc(pkt),
	   "TCP, outcap too small: SERVFAIL");
	run_cap(0, 40);
	is_int(res.status, DNS_DROP, "no room for the question: dropped");
	query("5.6.7.8.big.example.com", LDNS_RR_TYPE_TXT);
	run_cap(0, 12);
	is_int(res.status, DNS_DROP, "outcap 12 and a question: dropped");
	q[5] = 0;
	run_cap(0, 12);
	is_int(rcode(), LDNS_RCODE_FORMERR, "outcap 12: a header-only FORMERR fits");
}

static void test_case(void)
{
	query("2.0.0.127.bL.eXaMpLe.OrG", LDNS_RR_TYPE_TXT);
	run(0);
	ok(res.status == DNS_REPLY &&
	   memcmp(out + 12, "\0012\0010\0010\003127\002bL\007eXaMpLe\003OrG", 25) == 0,
	   "question echoed byte for byte");
}

/* The SOA's MNAME (i = 0) or RNAME (1) of the record in section sec, as text compared
 * with want without regard to case. */
static int soa_name(ldns_pkt_section sec, int i, const char *want)
{
	ldns_rr_list *l = pkt ? ldns_pkt_get_section_clone(pkt, sec) : NULL;
	ldns_rr *rr = l ? ldns_rr_list_rr(l, 0) : NULL;
	ldns_rdf *w = ldns_dname_new_frm_str(want);
	int r = 0;

	if (rr && w && ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA)
		r = ldns_dname_compare(ldns_rr_rdf(rr, i), w) == 0;
	if (!r && rr) {
		char *t = ldns_rdf2str(ldns_rr_rdf(rr, i));

		diag("SOA name %d: %s, want %s", i, t ? t : "?", want);
		free(t);
	}
	ldns_rdf_deep_free(w);
	ldns_rr_list_deep_free(l);
	return r;
}

/* The bytes of MNAME and RNAME as compression pointers (the cases check the names
 * read back and the sizes), and an RNAME pointing into an MNAME that shares nothing
 * with the zone. */
static void test_soa_compressed(void)
{
	struct config cfg = { .file = "test.conf" };
	struct config_zone cz;
	struct zoneset *other = NULL;
	const struct zoneset *saved = env.zones;
	size_t rd;

	query("www.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	rd = qend + 12;
	ok(res.status == DNS_REPLY && memcmp(out + rd, "\003ns1\300", 5) == 0 &&
	   out[rd + 5] == 12 + 4 + 3 && memcmp(out + rd + 6, "\012hostmaster\300", 12) == 0 &&
	   out[rd + 18] == 12 + 4 + 3,
	   "MNAME and RNAME point at example.org inside the question");

	query("bl.example.org", LDNS_RR_TYPE_SOA);
	run(0);
	ok(res.status == DNS_REPLY && out[qend + 12 + 4] == 0xc0 &&
	   out[qend + 12 + 5] == 12 + 3, "apex SOA: MNAME a pointer into the question");

	set_zone(&cz, "bl.example.org");
	cz.soa = "ns.dns.net. hostmaster.dns.net. 3600 600 604800 300";
	cfg.zones = &cz;
	cfg.nzones = 1;
	if (zoneset_build(&cfg, 2024, NULL, NULL, &other)) {
		ok(0, "a zone with an unrelated SOA builds");
		return;
	}
	env.zones = other;
	query("x.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	rd = qend + 12;
	expect("RNAME into MNAME: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	ok(memcmp(out + rd, "\002ns\003dns\003net\000\012hostmaster\300", 24) == 0 &&
	   out[rd + 24] == rd + 3, "RNAME points at dns.net in MNAME");
	ok(soa_name(LDNS_SECTION_AUTHORITY, 0, "ns.dns.net.") &&
	   soa_name(LDNS_SECTION_AUTHORITY, 1, "hostmaster.dns.net."),
	   "MNAME and RNAME read back");
	query("X.BL.EXAMPLE.ORG", LDNS_RR_TYPE_SOA);
	run(DNS_TCP);
	expect("RNAME into MNAME over TCP: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	ok(soa_name(LDNS_SECTION_AUTHORITY, 1, "hostmaster.dns.net."), "TCP: RNAME");
	env.zones = saved;
	zoneset_free(other);
}

/* Random mutations of real queries: every call must stay inside its buffers (ASan) and
 * produce a reply that ldns can read, or nothing. */
static void test_mutations(void)
{
	static const char *names[] = {
		"2.0.0.127.bl.example.org", "bl.example.org", "3.2.1.bl.example.org",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example.org",
		"2.0.0.127.big.example.com", "www.srv.example.net",
	};
	uint8_t base[1024], *m;
	size_t blen;
	unsigned seed = 12345, bad = 0, replies = 0;
	int unparsable = 0;

	m = malloc(2048);
	if (!m) {
		ok(0, "malloc");
		return;
	}
	for (int i = 0; i < 200000; i++) {
		size_t mlen;
		int nmut;

		query_o(names[i % 6], i % 3 ? LDNS_RR_TYPE_ANY : LDNS_RR_TYPE_TXT,
			i % 2 ? &edns0 : &plain);
		memcpy(base, q, qlen);
		blen = qlen;
		seed = seed * 1103515245 + 12345;
		mlen = blen;
		memcpy(m, base, blen);
		nmut = 1 + (int)(seed >> 28) % 4;
		for (int k = 0; k < nmut; k++) {
			seed = seed * 1103515245 + 12345;
			switch ((seed >> 16) % 4) {
			case 0:
				m[(seed >> 8) % mlen] = (uint8_t)(seed >> 3);
				break;
			case 1:
				mlen = (seed >> 8) % (mlen + 1);
				break;
			case 2:
				if (mlen < 1000)
					m[mlen++] = (uint8_t)(seed >> 5);
				break;
			default:
				m[(seed >> 8) % mlen] ^= (uint8_t)(1u << ((seed >> 4) % 8));
				break;
			}
			if (!mlen)
				break;
		}
		/* copy into an exact-size heap block so ASan sees any over-read */
		{
			uint8_t *exact = malloc(mlen ? mlen : 1);
			size_t cap = (seed >> 9) % 3 == 0 ? 512 : DNS_UDP_MAX;
			uint8_t *o = malloc(cap);

			memcpy(exact, m, mlen);
			dns_handle(&env, exact, mlen, o, cap, i & 1 ? DNS_NOWAIT : 0, &res);
			if (res.status == DNS_REPLY) {
				ldns_pkt *p = NULL;

				replies++;
				if (res.len > cap || res.len < 12)
					bad++;
				else if (ldns_wire2pkt(&p, o, res.len) != LDNS_STATUS_OK)
					unparsable++;
				if (p)
					ldns_pkt_free(p);
			}
			free(exact);
			free(o);
		}
	}
	free(m);
	is_int(bad, 0, "200000 mutated queries: every reply within its buffer");
	is_int(unparsable, 0, "every reply parses with ldns");
	ok(replies > 1000, "mutations produce replies (%u)", replies);
}

static void bench(void)
{
	struct timespec t0, t1;
	const int n = 1000000;
	unsigned sink = 0;
	double ns;

	put("188.214.106.93", VERDICT_BIT(VERDICT_VPN), 0, 0);
	query("93.106.214.188.bl.example.org", LDNS_RR_TYPE_A);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		q[1] = (uint8_t)i;
		dns_handle(&env, q, qlen, out, DNS_UDP_MAX, 0, &res);
		sink += (unsigned)res.len;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n;
	diag("dns_handle, cached A hit: %.0f ns per query (%d queries)", ns, n);
	ok(sink == (unsigned)n * (unsigned)res.len && res.status == DNS_REPLY,
	   "benchmark answers were replies");
}

int main(void)
{
	int r = setup();

	if (r) {
		ok(0, "set-up: %s", strerror(-r));
		return done_testing();
	}
	test_header();
	test_formerr();
	test_sections_ignored();
	test_cases();
	test_edns();
	test_nsid();
	test_truncation();
	test_case();
	test_soa_compressed();
	test_mutations();
	bench();
	if (pkt)
		ldns_pkt_free(pkt);
	zoneset_free(zs);
	zoneset_free(zs_anon);
	cache_free(cache);
	return done_testing();
}
