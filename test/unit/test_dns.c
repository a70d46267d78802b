/* test_dns.c - dns_handle against CONTRACT.md §5: queries built by hand, answers read
 * back with ldns; plus random mutations (no overrun) and a timing line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "dns.h"
#include "tap.h"

#define ID 0xbeef
#define NOW 1000000u

/* Zones, in the order of cfg_zones[]. */
enum { Z_BL, Z_SRV, Z_BIG, Z_NOTXT, NZ };

static struct zoneset *zs;
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
};

static const struct qopt plain = { .f2 = 0x01, .qclass = 1 };
static const struct qopt edns0 = { .f2 = 0x01, .qclass = 1, .edns = 1, .udp = 1232 };

static uint8_t q[1024];
static size_t qlen, qend;

static size_t put_name(uint8_t *p, const char *text)
{
	size_t n = 0;

	while (*text) {
		const char *dot = strchr(text, '.');
		size_t l = dot ? (size_t)(dot - text) : strlen(text);

		p[n++] = (uint8_t)l;
		memcpy(p + n, text, l);
		n += l;
		text += l + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

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
	qlen = 12 + put_name(q + 12, name);
	q[qlen++] = (uint8_t)(qtype >> 8);
	q[qlen++] = (uint8_t)qtype;
	q[qlen++] = (uint8_t)(o->qclass >> 8);
	q[qlen++] = (uint8_t)o->qclass;
	qend = qlen;
	if (o->edns) {
		q[11] = 1;
		put_opt(q + qlen, o->udp, o->version, o->do_bit);
		qlen += 11;
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

static int is_a(ldns_rr *rr, int last_octet, uint32_t ttl)
{
	const uint8_t *d;

	if (!rr || ldns_rr_get_type(rr) != LDNS_RR_TYPE_A || ldns_rr_ttl(rr) != ttl ||
	    ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN)
		return 0;
	d = ldns_rdf_data(ldns_rr_rdf(rr, 0));
	return d[0] == 127 && d[1] == 0 && d[2] == 0 && d[3] == last_octet;
}

static int is_txt(ldns_rr *rr, const char *want, uint32_t ttl)
{
	const uint8_t *d;
	size_t n = strlen(want);

	if (!rr || ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || ldns_rr_ttl(rr) != ttl ||
	    ldns_rr_rd_count(rr) != 1)
		return 0;
	d = ldns_rdf_data(ldns_rr_rdf(rr, 0));
	if (d[0] != n || memcmp(d + 1, want, n) != 0) {
		diag("TXT \"%.*s\", want \"%s\"", d[0], d + 1, want);
		return 0;
	}
	return 1;
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

	/* a TSIG-like record after the OPT */
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &edns0);
	q[11] = 2;
	memcpy(q + qlen, tsig_like, sizeof(tsig_like));
	qlen += sizeof(tsig_like);
	run(0);
	expect("a TSIG-like record in the additional section is ignored",
	       LDNS_RCODE_NOERROR, 1, 6, 0, 1);
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

static void test_refused(void)
{
	struct qopt o = plain;

	query("4.3.2.1.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("outside every zone: REFUSED, AA=0, no records", LDNS_RCODE_REFUSED, 0, 0, 0, 0);
	query("org", LDNS_RR_TYPE_SOA);
	run(0);
	expect("above the zone: REFUSED", LDNS_RCODE_REFUSED, 0, 0, 0, 0);
	query("", LDNS_RR_TYPE_NS);
	run(0);
	expect("the root: REFUSED", LDNS_RCODE_REFUSED, 0, 0, 0, 0);
	query_o("4.3.2.1.example.net", LDNS_RR_TYPE_A, &edns0);
	run(0);
	expect("REFUSED keeps the OPT", LDNS_RCODE_REFUSED, 0, 0, 0, 1);

	o.qclass = LDNS_RR_CLASS_CH;
	query_o("bl.example.org", LDNS_RR_TYPE_SOA, &o);
	run(0);
	expect("class CH: REFUSED", LDNS_RCODE_REFUSED, 0, 0, 0, 0);
	o.qclass = LDNS_RR_CLASS_ANY;
	query_o("bl.example.org", LDNS_RR_TYPE_SOA, &o);
	run(0);
	expect("class ANY: REFUSED", LDNS_RCODE_REFUSED, 0, 0, 0, 0);

	query("bl.example.org", LDNS_RR_TYPE_AXFR);
	run(DNS_TCP);
	expect("AXFR: NOTIMP", LDNS_RCODE_NOTIMPL, 0, 0, 0, 0);
	query("bl.example.org", LDNS_RR_TYPE_IXFR);
	run(0);
	expect("IXFR: NOTIMP", LDNS_RCODE_NOTIMPL, 0, 0, 0, 0);
}

static void test_apex(void)
{
	ldns_rr *rr;

	query("bL.ExamPle.ORG", LDNS_RR_TYPE_SOA);
	run(0);
	expect("apex SOA", LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	rr = ans(0);
	ok(rr && ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ldns_rr_ttl(rr) == 300 &&
	   ldns_rdf2native_int32(ldns_rr_rdf(rr, 2)) == 2024 &&
	   ldns_rdf2native_int32(ldns_rr_rdf(rr, 6)) == 300, "SOA: zone ttl, serial, minimum");
	ok(out[qend] == 0xc0 && out[qend + 1] == 12, "SOA owner: pointer to the question name");
	{
		char *s = rr ? ldns_rdf2str(ldns_rr_owner(rr)) : NULL;

		is_str(s, "bL.ExamPle.ORG.", "owner as asked");
		free(s);
	}

	query("bl.example.org", LDNS_RR_TYPE_NS);
	run(0);
	expect("apex NS", LDNS_RCODE_NOERROR, 1, 2, 0, 0);
	rr = ans(1);
	ok(rr && ldns_rr_get_type(rr) == LDNS_RR_TYPE_NS && ldns_rr_ttl(rr) == 300,
	   "NS records, zone ttl");
	{
		char *s = rr ? ldns_rdf2str(ldns_rr_rdf(rr, 0)) : NULL;

		is_str(s, "ns2.example.org.", "second NS name");
		free(s);
	}

	query("bl.example.org", LDNS_RR_TYPE_ANY);
	run(0);
	expect("apex ANY: SOA and NS", LDNS_RCODE_NOERROR, 1, 3, 0, 0);
	ok(ans(0) && ldns_rr_get_type(ans(0)) == LDNS_RR_TYPE_SOA &&
	   ldns_rr_get_type(ans(2)) == LDNS_RR_TYPE_NS, "SOA first, then NS");

	query("bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("apex A: NODATA", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	ok(soa_auth(120), "NODATA: SOA in authority with negative ttl");
	query("bl.example.org", LDNS_RR_TYPE_MX);
	run(0);
	expect("apex MX: NODATA", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	query("bl.example.org", LDNS_RR_TYPE_MAILA);
	run(0);
	expect("apex MAILA: a plain type, NODATA", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
}

static void test_names(void)
{
	char name[200];

	query("3.2.1.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("3 numeric labels: empty non-terminal", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	ok(soa_auth(120), "ENT: SOA, negative ttl");
	query("1.bl.example.org", LDNS_RR_TYPE_NS);
	run(0);
	expect("1 label: ENT", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	strcpy(name, "a.b.c.d.e.f.0.1.2.3.4.5.6.7.8.9.A.B.C.D.E.F.0.1.2.3.4.5.6.7.8.bl.example.org");
	query(name, LDNS_RR_TYPE_A);
	run(0);
	expect("31 nibbles: ENT", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	query("0.a.b.c.d.e.f.0.1.2.3.4.5.6.7.8.9.A.B.C.D.E.F.0.1.2.3.4.5.6.7.8.9.bl.example.org",
	      LDNS_RR_TYPE_A);
	run(0);
	expect("33 nibbles: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	query("www.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("another name: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	ok(soa_auth(120), "NXDOMAIN: SOA, negative ttl");
	/* the SOA owner is a pointer to the apex inside the question name */
	ok(out[qend] == 0xc0 && out[qend + 1] == 12 + 4, "SOA owner points at the apex");
	query("5.4.3.2.1.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("five one-digit labels: an IPv6 prefix, ENT", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	query("50.40.30.20.10.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("five numeric labels: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	query("04.3.2.1.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("leading zero: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	query("4.3.2.256.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("256: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
}

static void test_test_entries(void)
{
	static const char *v6 = "2.0.0.0.0.0.F.7.F.F.F.F.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
				"bl.example.org";

	query("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("127.0.0.2: every category", LDNS_RCODE_NOERROR, 1, 6, 0, 0);
	ok(is_a(ans(0), 2, 300) && is_a(ans(1), 3, 300) && is_a(ans(2), 4, 300) &&
	   is_a(ans(3), 5, 300) && is_a(ans(4), 6, 300) && is_a(ans(5), 7, 300),
	   "A records in category order, zone ttl");
	ok(out[qend] == 0xc0 && out[qend + 1] == 12 && out[qend + 16] == 0xc0 &&
	   out[qend + 17] == 12, "owners are 0xC00C");

	query("2.0.0.127.bl.example.org", LDNS_RR_TYPE_TXT);
	run(0);
	expect("127.0.0.2 TXT: one per non-empty template", LDNS_RCODE_NOERROR, 1, 5, 0, 0);
	ok(is_txt(ans(0), "VPN exit 127.0.0.2", 300) &&
	   is_txt(ans(1), "OpenVPN $5 127.0.0.2", 300) && is_txt(ans(2), "Tor", 300) &&
	   is_txt(ans(3), "Proxy at 127.0.0.2", 300) && is_txt(ans(4), "Scanner", 300),
	   "TXT expanded: $ = IP, $$ = $");

	query("2.0.0.127.bl.example.org", LDNS_RR_TYPE_ANY);
	run(0);
	expect("127.0.0.2 ANY: A then TXT", LDNS_RCODE_NOERROR, 1, 11, 0, 0);
	ok(is_a(ans(5), 7, 300) && is_txt(ans(6), "VPN exit 127.0.0.2", 300), "A before TXT");

	query("2.0.0.127.bl.example.org", LDNS_RR_TYPE_MX);
	run(0);
	expect("127.0.0.2 MX: NODATA", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	ok(soa_auth(120), "NODATA for a listed IP: negative ttl");
	query("2.0.0.127.bl.example.org", LDNS_RR_TYPE_AAAA);
	run(0);
	expect("127.0.0.2 AAAA: NODATA", LDNS_RCODE_NOERROR, 1, 0, 1, 0);

	query(v6, LDNS_RR_TYPE_A);
	run(0);
	expect("::ffff:7f00:2 in nibbles: the same test entry", LDNS_RCODE_NOERROR, 1, 6, 0, 0);
	query(v6, LDNS_RR_TYPE_TXT);
	run(0);
	ok(is_txt(ans(0), "VPN exit 127.0.0.2", 300), "its TXT names the IPv4 address");

	query("2.0.0.127.srv.example.net", LDNS_RR_TYPE_A);
	run(0);
	expect("127.0.0.2 in a zone with tor and proxy off: 4 categories",
	       LDNS_RCODE_NOERROR, 1, 4, 0, 0);
	ok(is_a(ans(2), 4, 300) && is_a(ans(3), 7, 300), "the enabled ones only");

	/* 127.0.0.1: never listed, never looked up, even if a verdict says otherwise */
	put("127.0.0.1", VERDICT_ALL, 0, 0);
	query("1.0.0.127.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("127.0.0.1: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	ok(soa_auth(120), "127.0.0.1: negative ttl");
	env.lookup_reserved = 1;
	run(0);
	expect("127.0.0.1: not looked up even with lookup-reserved", LDNS_RCODE_NXDOMAIN, 1,
	       0, 1, 0);
	env.lookup_reserved = 0;
	query("1.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example.org",
	      LDNS_RR_TYPE_A);
	run(0);
	expect("::ffff:7f00:1: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
}

static void test_static(void)
{
	put("93.184.216.34", VERDICT_BIT(VERDICT_TOR), 0, 0);
	put("93.184.1.2", VERDICT_BIT(VERDICT_TOR), 0, 0);

	query("2.1.184.93.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("static list hit: A", LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	ok(is_a(ans(0), 10, 300), "the list's address, before the cache's verdict");
	query("2.1.184.93.bl.example.org", LDNS_RR_TYPE_TXT);
	run(0);
	expect("static list hit: TXT", LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	ok(is_txt(ans(0), "static 93.184.1.2", 300), "the list's template, expanded");
	query("2.1.184.93.bl.example.org", LDNS_RR_TYPE_ANY);
	run(0);
	expect("static list hit: ANY", LDNS_RCODE_NOERROR, 1, 2, 0, 0);

	query("9.9.185.93.bl.example.org", LDNS_RR_TYPE_TXT);
	run(0);
	expect("static entry without text: TXT is NODATA", LDNS_RCODE_NOERROR, 1, 0, 1, 0);

	query("34.216.184.93.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("static exclusion: NXDOMAIN, cache not consulted", LDNS_RCODE_NXDOMAIN, 1, 0,
	       1, 0);
	query("34.216.184.93.srv.example.net", LDNS_RR_TYPE_A);
	run(0);
	expect("lists belong to their zone: the other zone answers the cache",
	       LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	ok(is_a(ans(0), 100, 300), "tor is off there: the clean answer");
}

static void test_cache(void)
{
	struct ipaddr want;

	put("188.214.106.93", VERDICT_BIT(VERDICT_VPN) | VERDICT_BIT(VERDICT_SCANNER), 0, 10);
	nrefresh = 0;
	query("93.106.214.188.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("fresh verdict: A per category", LDNS_RCODE_NOERROR, 1, 2, 0, 0);
	ok(is_a(ans(0), 2, 300) && is_a(ans(1), 7, 300), "vpn and scanner");
	is_int(nrefresh, 0, "fresh: no refresh");
	query("93.106.214.188.bl.example.org", LDNS_RR_TYPE_TXT);
	run(0);
	expect("fresh verdict: TXT", LDNS_RCODE_NOERROR, 1, 2, 0, 0);
	ok(is_txt(ans(0), "VPN exit 188.214.106.93", 300) && is_txt(ans(1), "Scanner", 300),
	   "TXT of each category");

	put("188.214.106.94", VERDICT_BIT(VERDICT_HOSTING), 0, 500);
	query("94.106.214.188.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("stale verdict: answered", LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	ok(is_a(ans(0), 4, 300), "hosting");
	ipaddr_parse(&want, "188.214.106.94");
	ok(nrefresh == 1 && memcmp(&refreshed[0], &want, sizeof(want)) == 0,
	   "stale: refresh called with the IP");
	query("94.106.214.188.bl.example.org", LDNS_RR_TYPE_TXT);
	run(0);
	expect("hosting has no TXT: NODATA", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	env.refresh = NULL;
	run(0);
	expect("stale without a refresh hook", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	env.refresh = on_refresh;

	put("188.214.106.95", VERDICT_BIT(VERDICT_TOR), 0, 5000);
	nrefresh = 0;
	query("95.106.214.188.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	ipaddr_parse(&want, "188.214.106.95");
	ok(res.status == DNS_WAIT && memcmp(&res.ip, &want, sizeof(want)) == 0,
	   "too old: DNS_WAIT with the IP");
	is_int(nrefresh, 0, "too old: no refresh call, the lookup does it");
	run(DNS_NOWAIT);
	expect("too old, NOWAIT: the unknown answer (nxdomain)", LDNS_RCODE_NXDOMAIN, 1, 0, 1,
	       0);
	ok(soa_auth(30), "unknown answer: SOA with unknown-ttl");

	/* clean */
	put("188.214.106.96", 0, 0, 0);
	query("96.106.214.188.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("clean verdict: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	ok(soa_auth(120), "clean: negative ttl");
	query("96.106.214.188.srv.example.net", LDNS_RR_TYPE_A);
	run(0);
	expect("clean verdict in a zone with clean: answered", LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	ok(is_a(ans(0), 100, 300), "clean address");
	query("96.106.214.188.srv.example.net", LDNS_RR_TYPE_TXT);
	run(0);
	ok(is_txt(ans(0), "clean 188.214.106.96", 300), "clean template");
	query("96.106.214.188.srv.example.net", LDNS_RR_TYPE_MX);
	run(0);
	expect("clean answer, MX: NODATA", LDNS_RCODE_NOERROR, 1, 0, 1, 0);

	/* only disabled categories = clean */
	put("188.214.106.97", VERDICT_BIT(VERDICT_TOR) | VERDICT_BIT(VERDICT_PROXY), 0, 0);
	query("97.106.214.188.srv.example.net", LDNS_RR_TYPE_A);
	run(0);
	expect("only disabled categories: the clean answer", LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	ok(is_a(ans(0), 100, 300), "clean address");
	query("97.106.214.188.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("the same verdict where they are enabled", LDNS_RCODE_NOERROR, 1, 2, 0, 0);

	/* listed, no templates at all */
	query("93.106.214.188.notxt.example.com", LDNS_RR_TYPE_TXT);
	run(0);
	expect("listed, all templates empty: TXT is NODATA", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	query("93.106.214.188.notxt.example.com", LDNS_RR_TYPE_ANY);
	run(0);
	expect("listed, all templates empty: ANY has the A records", LDNS_RCODE_NOERROR, 1, 2,
	       0, 0);

	/* IPv6 verdicts */
	put("2001:db8::1", VERDICT_BIT(VERDICT_PROXY), 0, 0);
	query("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example.org",
	      LDNS_RR_TYPE_TXT);
	run(0);
	expect("IPv6 verdict", LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	ok(is_txt(ans(0), "Proxy at 2001:db8::1", 300), "IPv6 in the TXT, compressed form");
}

static void test_unknown(void)
{
	struct ipaddr want;

	/* nothing known */
	query("1.0.113.198.bl.example.org", LDNS_RR_TYPE_A); /* 198.113.0.1 */
	run(0);
	ipaddr_parse(&want, "198.113.0.1");
	ok(res.status == DNS_WAIT && memcmp(&res.ip, &want, sizeof(want)) == 0,
	   "absent: DNS_WAIT with the IP");
	run(DNS_NOWAIT);
	expect("absent, NOWAIT, unknown = nxdomain", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	ok(soa_auth(30), "unknown-ttl on the SOA");
	query("1.0.113.198.srv.example.net", LDNS_RR_TYPE_A);
	run(DNS_NOWAIT);
	expect("absent, NOWAIT, unknown = servfail: no records", LDNS_RCODE_SERVFAIL, 1, 0, 0,
	       0);
	query_o("1.0.113.198.srv.example.net", LDNS_RR_TYPE_TXT, &edns0);
	run(DNS_NOWAIT | DNS_TCP);
	expect("servfail keeps the OPT", LDNS_RCODE_SERVFAIL, 1, 0, 0, 1);
	env.lookups = 0;
	query("1.0.113.198.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("no provider: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	ok(soa_auth(120), "no provider: negative ttl");
	query("1.0.113.198.srv.example.net", LDNS_RR_TYPE_A);
	run(DNS_NOWAIT);
	expect("no provider, NOWAIT: still clean (the zone's clean answer)",
	       LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	ok(is_a(ans(0), 100, 300), "no provider: the clean address");
	env.lookups = 1;

	/* VERDICT_F_UNKNOWN */
	put("198.113.0.2", 0, VERDICT_F_UNKNOWN, 10);
	query("2.0.113.198.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("recent unknown verdict: unknown answer, no wait", LDNS_RCODE_NXDOMAIN, 1, 0, 1,
	       0);
	ok(soa_auth(30), "unknown-ttl");
	query("2.0.113.198.srv.example.net", LDNS_RR_TYPE_A);
	run(0);
	expect("recent unknown verdict, servfail zone", LDNS_RCODE_SERVFAIL, 1, 0, 0, 0);
	put("198.113.0.3", 0, VERDICT_F_UNKNOWN, 60);
	query("3.0.113.198.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	is_int(res.status, DNS_WAIT, "older unknown verdict: asked again");

	/* reserved ranges */
	query("3.2.1.10.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("reserved (10/8): NXDOMAIN, no lookup", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	ok(soa_auth(120), "reserved: negative ttl");
	env.lookup_reserved = 1;
	run(0);
	is_int(res.status, DNS_WAIT, "reserved with lookup-reserved: looked up");
	env.lookup_reserved = 0;
	put("10.1.2.4", VERDICT_BIT(VERDICT_VPN), 0, 0);
	query("4.2.1.10.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("reserved with a verdict (learnt with lookup-reserved): answered",
	       LDNS_RCODE_NOERROR, 1, 1, 0, 0);

	/* a verdict from the future (clock stepped back) is fresh */
	put("198.113.0.4", VERDICT_BIT(VERDICT_VPN), 0, 0);
	env.now = NOW - 10000;
	nrefresh = 0;
	query("4.0.113.198.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("verdict newer than now: fresh", LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	is_int(nrefresh, 0, "no refresh");
	env.now = NOW;

	/* no cache at all */
	env.cache = NULL;
	query("93.106.214.188.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	is_int(res.status, DNS_WAIT, "no cache: lookup");
	env.cache = cache;
}

static void test_ent_v4(void)
{
	/* 1.2.3.4 asked as 4.3.2.1: the name is also the prefix of IPv6 names */
	query("4.3.2.1.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	is_int(res.status, DNS_WAIT, "one-digit IPv4 is looked up like any other");
	put("1.2.3.4", 0, 0, 0);
	run(0);
	expect("one-digit IPv4, clean: NODATA, not NXDOMAIN (IPv6 names below it)",
	       LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	ok(soa_auth(120), "negative ttl");
	put("1.2.3.4", VERDICT_BIT(VERDICT_TOR), 0, 0);
	run(0);
	expect("one-digit IPv4, listed: A", LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	query("2.0.0.0.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("2.0.0.0 (0.0.0.2, reserved): NODATA for strict QNAME minimisation of "
	       "::ffff:7f00:2", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	put("4.3.2.10", 0, 0, 0);
	query("10.2.3.4.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("a two-digit label: NXDOMAIN as usual", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
}

static void test_edns(void)
{
	struct qopt o = edns0;
	const uint8_t *opt;

	o.do_bit = 1;
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &o);
	run(0);
	expect("EDNS: answer with OPT", LDNS_RCODE_NOERROR, 1, 6, 0, 1);
	opt = out + res.len - 11;
	ok(opt[0] == 0 && opt[1] == 0 && opt[2] == 41 && opt[3] == 0x04 && opt[4] == 0xd0 &&
	   opt[5] == 0 && opt[6] == 0 && opt[7] == 0x80 && opt[8] == 0 && opt[9] == 0 &&
	   opt[10] == 0, "OPT: root, size 1232, version 0, DO copied, no options");
	ok(ldns_pkt_edns_do(pkt) && ldns_pkt_edns_udp_size(pkt) == 1232, "ldns agrees");
	o.do_bit = 0;
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &o);
	run(0);
	ok(pkt && !ldns_pkt_edns_do(pkt) && ldns_pkt_edns(pkt), "DO clear copied");

	o.version = 1;
	query_o("2.0.0.127.bl.example.org", LDNS_RR_TYPE_A, &o);
	run(0);
	expect("EDNS version 1: BADVERS, no records", LDNS_RCODE_NOERROR, 0, 0, 0, 1);
	ok(pkt && ldns_pkt_edns_extended_rcode(pkt) == 1 && ldns_pkt_edns_version(pkt) == 0,
	   "BADVERS: extended rcode 1 (16), our version 0");
	o.version = 0;

	query_o("bl.example.org", LDNS_RR_TYPE_SOA, &o);
	run(0);
	expect("apex SOA with EDNS", LDNS_RCODE_NOERROR, 1, 1, 0, 1);
	query_o("www.bl.example.org", LDNS_RR_TYPE_SOA, &o);
	run(0);
	expect("NXDOMAIN with EDNS", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 1);
}

static void test_truncation(void)
{
	struct qopt o = edns0;
	ldns_rr *rr;
	size_t full;

	/* big.example.com: 6 TXT of ~250 bytes; ANY = 6 A + 6 TXT ~ 1.7 kB */
	query("2.0.0.127.big.example.com", LDNS_RR_TYPE_ANY);
	run(DNS_TCP);
	expect("TCP: the whole answer", LDNS_RCODE_NOERROR, 1, 12, 0, 0);
	full = res.len;
	ok(full > DNS_UDP_MAX, "the answer is larger than any UDP size (%zu)", full);
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

	/* TXT: 5 strings of 250-255 bytes, about 1.4 kB; 4 categories fit 1232 */
	query_o("2.0.0.127.srv.example.net", LDNS_RR_TYPE_TXT, &o);
	run(0);
	expect("a small answer with EDNS 4096", LDNS_RCODE_NOERROR, 1, 3, 0, 1);

	o.udp = 1232;
	query_o("5.6.7.8.big.example.com", LDNS_RR_TYPE_TXT, &o);
	put("8.7.6.5", VERDICT_BIT(VERDICT_OPENVPN443) | VERDICT_BIT(VERDICT_HOSTING) |
	    VERDICT_BIT(VERDICT_TOR) | VERDICT_BIT(VERDICT_PROXY), 0, 0);
	run(0);
	expect("4 long TXT (~1.1 kB) fit EDNS 1232", LDNS_RCODE_NOERROR, 1, 4, 0, 1);
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
	run(DNS_TCP);
	expect("the same over TCP: whole", LDNS_RCODE_NOERROR, 1, 4, 0, 0);

	/* an output buffer smaller than the answer */
	query_o("5.6.7.8.big.example.com", LDNS_RR_TYPE_TXT, &o);
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
	expect("0x20 mixed case: answered", LDNS_RCODE_NOERROR, 1, 5, 0, 0);
	ok(memcmp(out + 12, "\0012\0010\0010\003127\002bL\007eXaMpLe\003OrG", 25) == 0,
	   "question echoed byte for byte");
	query("a.B.c.D.e.F.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("nibbles in any case", LDNS_RCODE_NOERROR, 1, 0, 1, 0);
	ok(out[qend] == 0xc0 && out[qend + 1] == 12 + 12, "SOA pointer past 6 nibble labels");
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

/* MNAME and RNAME as compression pointers: 22 bytes less in every negative answer of
 * this zone, and the names still read back right, whatever the question's case and
 * wherever its apex starts. */
static void test_soa_compressed(void)
{
	struct config cfg = { .file = "test.conf" };
	struct config_zone cz;
	struct zoneset *other = NULL;
	const struct zoneset *saved = env.zones;
	size_t rd;

	query("www.bl.example.org", LDNS_RR_TYPE_A);
	run(0);
	expect("compressed SOA: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	/* header 12, question 20 + 4, SOA owner pointer 2 + 10, RDATA 6 + 13 + 20 */
	is_int(res.len, 87, "NXDOMAIN answer size with a 3-byte label in front of the apex");
	rd = qend + 12;
	ok(memcmp(out + rd, "\003ns1\300", 5) == 0 && out[rd + 5] == 12 + 4 + 3 &&
	   memcmp(out + rd + 6, "\012hostmaster\300", 12) == 0 && out[rd + 18] == 12 + 4 + 3,
	   "MNAME and RNAME point at example.org inside the question");
	ok(soa_name(LDNS_SECTION_AUTHORITY, 0, "ns1.example.org.") &&
	   soa_name(LDNS_SECTION_AUTHORITY, 1, "hostmaster.example.org."),
	   "MNAME and RNAME read back");
	ok(soa_auth(120), "serial and TTL right after the compressed names");

	query("188.106.214.93.bl.example.org", LDNS_RR_TYPE_A);
	run(DNS_NOWAIT);
	expect("unknown IP: NXDOMAIN", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	is_int(res.len, 12 + 31 + 4 + 12 + 39, "NXDOMAIN answer size, full IPv4 name (was 120)");
	ok(soa_auth(30), "unknown: SOA with unknown-ttl");

	query("WwW.bL.eXaMpLe.OrG", LDNS_RR_TYPE_TXT);
	run(0);
	expect("compressed SOA, 0x20 question", LDNS_RCODE_NXDOMAIN, 1, 0, 1, 0);
	ok(soa_name(LDNS_SECTION_AUTHORITY, 0, "ns1.example.org.") &&
	   soa_name(LDNS_SECTION_AUTHORITY, 1, "hostmaster.example.org."),
	   "0x20: names read back (the question's case)");

	query_o("9.8.7.6.5.4.3.2.1.0.bl.example.org", LDNS_RR_TYPE_A, &edns0);
	run(0);
	expect("compressed SOA with EDNS", LDNS_RCODE_NOERROR, 1, 0, 1, 1);
	ok(soa_name(LDNS_SECTION_AUTHORITY, 1, "hostmaster.example.org."),
	   "EDNS: RNAME read back, OPT after it");

	query("bl.example.org", LDNS_RR_TYPE_SOA);
	run(0);
	expect("apex SOA, compressed", LDNS_RCODE_NOERROR, 1, 1, 0, 0);
	ok(out[qend + 12 + 4] == 0xc0 && out[qend + 12 + 5] == 12 + 3 &&
	   soa_name(LDNS_SECTION_ANSWER, 0, "ns1.example.org."), "apex SOA: MNAME");
	query("bl.example.org", LDNS_RR_TYPE_ANY);
	run(DNS_TCP);
	expect("apex ANY over TCP", LDNS_RCODE_NOERROR, 1, 3, 0, 0);
	ok(soa_name(LDNS_SECTION_ANSWER, 1, "hostmaster.example.org."), "ANY: RNAME");

	/* RNAME pointing into MNAME, which shares nothing with the zone */
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
	test_refused();
	test_apex();
	test_names();
	test_test_entries();
	test_static();
	test_cache();
	test_unknown();
	test_ent_v4();
	test_edns();
	test_truncation();
	test_case();
	test_soa_compressed();
	test_mutations();
	bench();
	if (pkt)
		ldns_pkt_free(pkt);
	zoneset_free(zs);
	cache_free(cache);
	return done_testing();
}
