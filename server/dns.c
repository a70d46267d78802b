/* dns.c - one DNS query in, one answer out; no sockets, no loop, no allocation.
 *
 * The answer is written straight into the caller's buffer: header, the question
 * copied byte for byte, then records whose owner names are compression pointers into
 * that question (0xC00C for the name, 0xC000|(12+apex_off) for the apex), as are the
 * SOA's MNAME and RNAME where they can be (zone.c's template). Every write
 * is checked against a limit that already leaves room for the OPT record; an answer
 * that does not fit is rewritten as TC=1 (UDP) or SERVFAIL (TCP). */
#include "dns.h"

#include <string.h>

#include "provider.h"
#include "override.h"
#include "qname.h"

enum {
	T_A = 1, T_NS = 2, T_SOA = 6, T_TXT = 16, T_OPT = 41,
	T_TSIG = 250, T_IXFR = 251, T_AXFR = 252, T_ANY = 255,
	C_IN = 1, C_CH = 3,
};

enum {
	RC_NOERROR = 0, RC_FORMERR = 1, RC_SERVFAIL = 2, RC_NXDOMAIN = 3,
	RC_NOTIMP = 4, RC_REFUSED = 5, RC_NOTAUTH = 9,
};

/* TSIG error (RFC 8945 §5.2): threatbl holds no keys, so every key is unknown. */
#define TSIG_BADKEY 17

#define HDR_LEN 12
#define OPT_LEN 11
#define QNAME_PTR 0xc00c /* the question name, right after the header */
#define TXT_MAX 255
#define OPT_NSID 3 /* EDNS option code, RFC 5001 */
#define DNS_SOURCE_MAX 64 /* ${source}: the providers' names, comma-separated */

/* The RFC 5782 test entries, as IPv4-mapped addresses. */
static const struct ipaddr test_listed = {
	{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2 } };
static const struct ipaddr test_clean = {
	{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1 } };

/* What was read from the query. */
struct query {
	const uint8_t *q;
	size_t qend;        /* end of the question section */
	uint16_t qtype, qclass;
	int edns;           /* an OPT record was present */
	int do_bit;
	uint8_t version;
	uint8_t nsid;       /* the OPT record carries an NSID option (no growth: padding) */
	uint16_t udp_size;
	/* A TSIG record (the last of the additional section): its owner name and the
	 * algorithm name, both uncompressed, and the RDATA after the algorithm. */
	size_t tsig_name, tsig_name_len, tsig_alg_len, tsig_rest;
};

/* The answer being written. */
struct out {
	uint8_t *p;
	size_t len;         /* written so far */
	size_t cap;         /* limit for records: the OPT record's room is kept aside */
	int over;           /* a record did not fit */
	uint16_t an, ns;
	int rcode, aa;
	/* for TXT expansion and the apex pointer */
	const struct ipaddr *ip;
	char *iptxt;        /* IPADDR_STRLEN bytes, outside: not zeroed per query */
	size_t iptxt_len;   /* 0 = not formatted yet */
	uint8_t from;       /* the verdict's providers (verdict.h), for ${source} */
	uint16_t apex_ptr;
	int ent_too;        /* the name is also an IPv6 prefix: never NXDOMAIN */
	/* NSID asked, and the client not refused: the identity to add after the OPT
	 * record. Kept here rather than in registers to the end of dns_handle. */
	const struct zoneset *nsid;
	uint8_t kind;       /* enum ctr_answer, for struct dns_result */
	uint8_t cache;      /* enum ctr_cache, CTR_NCACHE: not asked */
	uint8_t cats;       /* categories answered (CTR_ANS_LISTED) */
};

/* One answered category: its A address and TXT template. */
struct hit {
	const uint8_t *a;
	const char *txt;
	size_t txt_len;
};

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Two 8-byte loads each: memcmp() was a library call on every query. */
static inline int ip_eq(const struct ipaddr *a, const struct ipaddr *b)
{
	uint64_t a0, a1, b0, b1;

	memcpy(&a0, a->b, 8);
	memcpy(&a1, a->b + 8, 8);
	memcpy(&b0, b->b, 8);
	memcpy(&b1, b->b + 8, 8);
	return a0 == b0 && a1 == b1;
}

/* The providers of the verdict answered, "criminalip,abuseipdb", into buf (64 bytes,
 * on the caller's stack: nothing allocated); "" when not known. Its length. */
static size_t source_text(const struct out *o, char *buf)
{
	const struct provider_kind *k;
	size_t n = 0, len;

	for (unsigned i = 0; i < 8 && (k = provider_at(i)); i++) {
		if (!(o->from & (1u << i)))
			continue;
		len = strlen(k->name);
		if (n + len + 1 > DNS_SOURCE_MAX)
			break;
		if (n)
			buf[n++] = ',';
		memcpy(buf + n, k->name, len);
		n += len;
	}
	return n;
}

/* The queried IP as text, formatted once per answer. */
static size_t ip_text(struct out *o)
{
	if (!o->iptxt_len)
		o->iptxt_len = ipaddr_format(o->ip, o->iptxt);
	return o->iptxt_len;
}

/* Header flags: QR, the query's opcode, RD and CD copied; RA, AD and Z never set. */
static void put_header(uint8_t *o, const uint8_t *q, int aa, int tc, int rcode)
{
	o[0] = q[0];
	o[1] = q[1];
	o[2] = (uint8_t)(0x80 | (q[2] & 0x79) | (aa ? 0x04 : 0) | (tc ? 0x02 : 0));
	o[3] = (uint8_t)((q[3] & 0x10) | (rcode & 0x0f));
}

/* A header-only reply (FORMERR, NOTIMP for another opcode). */
static void reply_bare(const uint8_t *q, uint8_t *out, int rcode, struct dns_result *res)
{
	put_header(out, q, 0, 0, rcode);
	memset(out + 4, 0, HDR_LEN - 4);
	res->status = DNS_REPLY;
	res->len = HDR_LEN;
	res->rcode = (uint16_t)rcode;
	res->kind = CTR_ANS_OTHER;
}

/* Skip a name anywhere after the question (compression allowed there). */
static int skip_name(const uint8_t *q, size_t qlen, size_t *off)
{
	size_t o = *off, n = 0;

	for (;;) {
		uint8_t l;

		if (o >= qlen)
			return -1;
		l = q[o];
		if ((l & 0xc0) == 0xc0) {
			if (qlen - o < 2)
				return -1;
			o += 2;
			break;
		}
		if (l & 0xc0)
			return -1;
		o += 1 + (size_t)l;
		if (l == 0)
			break;
		n += 1 + (size_t)l;
		if (n > 254)
			return -1;
	}
	*off = o;
	return 0;
}

/* Options of an OPT record must tile its RDATA exactly. */
static int check_options(const uint8_t *p, size_t len)
{
	while (len) {
		size_t ol;

		if (len < 4)
			return -1;
		ol = get16(p + 2);
		if (len - 4 < ol)
			return -1;
		p += 4 + ol;
		len -= 4 + ol;
	}
	return 0;
}

/* Whether options already checked by check_options hold an NSID option (RFC 5001
 * §2.1: its payload in a query means nothing and is ignored). Out of line: inlined,
 * it cost every EDNS query more than it does here (measured with callgrind). */
__attribute__((noinline))
static int has_nsid(const uint8_t *p, size_t len)
{
	while (len) {
		size_t ol = get16(p + 2);

		if (get16(p) == OPT_NSID)
			return 1;
		p += 4 + ol;
		len -= 4 + ol;
	}
	return 0;
}

/* The length of an uncompressed name at q[off], or 0 when it is compressed or
 * runs past end. */
static size_t plain_name_len(const uint8_t *q, size_t off, size_t end)
{
	size_t o = off;

	while (o < end && q[o] != 0) {
		if (q[o] & 0xc0)
			return 0;
		o += 1 + (size_t)q[o];
	}
	if (o >= end || o + 1 - off > 255)
		return 0;
	return o + 1 - off;
}

/* A TSIG record at start (owner name) with its RDATA at rd: the names must be plain
 * and the fixed fields present (RFC 8945 §4.2). 0, or -1 for FORMERR. */
static int parse_tsig(const uint8_t *q, size_t start, size_t rd, size_t rdlen,
		      struct query *qr)
{
	size_t end = rd + rdlen, alg, mac;

	qr->tsig_name = start;
	qr->tsig_name_len = plain_name_len(q, start, rd - 10);
	alg = plain_name_len(q, rd, end);
	if (!qr->tsig_name_len || !alg)
		return -1;
	qr->tsig_alg_len = alg;
	/* time signed (6), fudge (2), MAC size (2), MAC, original ID (2), error (2),
	 * other len (2), other data */
	if (end - rd - alg < 10)
		return -1;
	mac = get16(q + rd + alg + 8);
	if (end - rd - alg - 10 < mac + 6)
		return -1;
	if (end - rd - alg - 16 - mac != get16(q + rd + alg + 14 + mac))
		return -1;
	qr->tsig_rest = rd + alg;
	return 0;
}

/* The question and the records after it; *ql gets the question name's labels (kept
 * apart from *qr, which is zeroed per query). Returns an rcode (0 = fine). */
static int parse_query(const uint8_t *q, size_t qlen, struct query *qr,
		       struct qname_labels *ql)
{
	size_t off = HDR_LEN, nrr, i;
	unsigned an, ns, ar;

	if (get16(q + 4) != 1)
		return RC_FORMERR;
	/* The only walk over the question name: zoneset_match and qname_parse use the
	 * label offsets it notes. */
	if (qname_scan(q + off, qlen - off, ql))
		return RC_FORMERR;
	off += ql->len;
	if (qlen - off < 4)
		return RC_FORMERR;
	qr->qtype = get16(q + off);
	qr->qclass = get16(q + off + 2);
	off += 4;
	qr->qend = off;

	/* Answer and authority records in a query mean nothing; they are skipped only
	 * to reach the additional section and its OPT record. */
	an = get16(q + 6);
	ns = get16(q + 8);
	ar = get16(q + 10);
	nrr = (size_t)an + ns + ar;
	for (i = 0; i < nrr; i++) {
		size_t start = off, rdlen;
		uint16_t type;

		if (skip_name(q, qlen, &off) || qlen - off < 10)
			return RC_FORMERR;
		type = get16(q + off);
		rdlen = get16(q + off + 8);
		if (qlen - off - 10 < rdlen)
			return RC_FORMERR;
		if (type == T_OPT && i >= (size_t)an + ns) {
			if (qr->edns || off != start + 1 || q[start] != 0 ||
			    check_options(q + off + 10, rdlen))
				return RC_FORMERR;
			qr->nsid = rdlen && has_nsid(q + off + 10, rdlen);
			qr->edns = 1;
			qr->udp_size = get16(q + off + 2);
			qr->version = q[off + 5];
			qr->do_bit = !!(q[off + 6] & 0x80);
		} else if (type == T_TSIG && i >= (size_t)an + ns) {
			/* It must be the last record (RFC 8945 §5.1), with plain names. */
			if (i + 1 != nrr || parse_tsig(q, start, off + 10, rdlen, qr))
				return RC_FORMERR;
		}
		off += 10 + rdlen;
	}
	return 0;
}

/* A signed query: threatbl has no keys, so the answer is NOTAUTH with an unsigned
 * TSIG record saying BADKEY (RFC 8945 §5.2, as NSD answers): the key and algorithm
 * names, time signed and fudge of the query, no MAC, the original ID. When it does not
 * fit, the bare NOTAUTH. */
static void reply_badkey(const uint8_t *q, const struct query *qr, uint8_t *out,
			 size_t limit, struct dns_result *res)
{
	size_t rdlen = qr->tsig_alg_len + 16;
	size_t need = qr->qend + (qr->edns ? OPT_LEN : 0) + qr->tsig_name_len + 10 + rdlen;
	size_t len = qr->qend;
	const uint8_t *rest = q + qr->tsig_rest;
	uint8_t *p;

	if (need > limit) {
		reply_bare(q, out, RC_NOTAUTH, res);
		return;
	}
	memcpy(out + HDR_LEN, q + HDR_LEN, qr->qend - HDR_LEN);
	put_header(out, q, 0, 0, RC_NOTAUTH);
	put16(out + 4, 1);
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, qr->edns ? 2 : 1);
	if (qr->edns) {
		p = out + len;
		p[0] = 0;
		put16(p + 1, T_OPT);
		put16(p + 3, DNS_UDP_MAX);
		memset(p + 5, 0, 6);
		p[7] = qr->do_bit ? 0x80 : 0;
		len += OPT_LEN;
	}
	p = out + len;
	memcpy(p, q + qr->tsig_name, qr->tsig_name_len);
	p += qr->tsig_name_len;
	put16(p, T_TSIG);
	put16(p + 2, 255);       /* class ANY */
	memset(p + 4, 0, 4);     /* TTL 0 */
	put16(p + 8, (uint16_t)rdlen);
	p += 10;
	memcpy(p, q + qr->tsig_name + qr->tsig_name_len + 10, qr->tsig_alg_len);
	p += qr->tsig_alg_len;
	memcpy(p, rest, 8);      /* time signed, fudge */
	put16(p + 8, 0);         /* MAC size */
	memcpy(p + 10, rest + 10 + get16(rest + 8), 2); /* original ID */
	put16(p + 12, TSIG_BADKEY);
	put16(p + 14, 0);        /* other len */
	res->status = DNS_REPLY;
	res->len = need;
	res->rcode = RC_NOTAUTH;
	res->kind = CTR_ANS_OTHER;
}

/* Owner pointer, type, class IN, TTL and RDLENGTH of a record; NULL when the whole
 * record (rdlen bytes of RDATA) would not fit. */
static uint8_t *rr_start(struct out *o, uint16_t owner, uint16_t type, uint32_t ttl,
			 size_t rdlen)
{
	uint8_t *p;

	if (o->over || o->cap - o->len < 12 + rdlen) {
		o->over = 1;
		return NULL;
	}
	p = o->p + o->len;
	put16(p, owner);
	put16(p + 2, type);
	put16(p + 4, C_IN);
	put32(p + 6, ttl);
	put16(p + 10, (uint16_t)rdlen);
	o->len += 12 + rdlen;
	return p + 12;
}

static void rr_a(struct out *o, const uint8_t *a, uint32_t ttl)
{
	uint8_t *p = rr_start(o, QNAME_PTR, T_A, ttl, 4);

	if (p) {
		memcpy(p, a, 4);
		o->an++;
	}
}

/* The SOA in the answer (ttl = zone ttl) or the authority section (negative TTL),
 * from the zone's compressed template: its pointers are patched to the apex in the
 * question or to the RDATA's own MNAME. The SOA is always the first record, right
 * after the question (at most 271 bytes in), so every pointer reaches. */
static void rr_soa(struct out *o, const struct zone *z, uint32_t ttl, int authority)
{
	uint8_t *p = rr_start(o, o->apex_ptr, T_SOA, ttl, z->soa_tpl_len);
	uint16_t rdata_ptr;

	if (!p)
		return;
	memcpy(p, z->soa_tpl, z->soa_tpl_len);
	rdata_ptr = (uint16_t)(0xc000 | (p - o->p));
	for (unsigned i = 0; i < z->soa_nptr; i++) {
		const struct zone_ptr *zp = &z->soa_ptr[i];

		put16(p + zp->at, (uint16_t)((zp->base == ZONE_PTR_APEX ? o->apex_ptr :
					      rdata_ptr) + zp->target));
	}
	if (authority)
		o->ns++;
	else
		o->an++;
}

static void rr_ns(struct out *o, const struct zone *z)
{
	const uint8_t *rd = z->ns_rdata;

	for (size_t i = 0; i < z->nns; i++) {
		uint8_t *p = rr_start(o, o->apex_ptr, T_NS, z->ttl, z->ns_len[i]);

		if (!p)
			return;
		memcpy(p, rd, z->ns_len[i]);
		rd += z->ns_len[i];
		o->an++;
	}
}

/* One TXT record of one character-string: the template with '$' replaced by the
 * queried IP, '${source}' by the verdict's providers and '$$' by '$', cut at 255
 * bytes. Written in place, the text between two '$' copied as one piece. */
static void rr_txt(struct out *o, const char *tpl, size_t tpl_len, uint32_t ttl)
{
	uint8_t *p = rr_start(o, QNAME_PTR, T_TXT, ttl, 1), *s;
	const char *t = tpl, *end = tpl + tpl_len;
	char source[DNS_SOURCE_MAX];
	size_t room, n = 0;

	if (!p)
		return;
	s = p + 1;
	room = o->cap - o->len; /* bytes left after the length byte */
	if (room > TXT_MAX)
		room = TXT_MAX;
	while (t < end && n < TXT_MAX) {
		const char *d = memchr(t, '$', (size_t)(end - t));
		const char *src = t;
		size_t k;

		if (d != t) {           /* up to the next '$' or the end */
			k = (size_t)((d ? d : end) - t);
			t += k;
		} else if (t + 1 < end && t[1] == '$') {
			k = 1;          /* "$$": one '$' */
			t += 2;
		} else if ((size_t)(end - t) >= 9 && memcmp(t, "${source}", 9) == 0) {
			k = source_text(o, source);
			src = source;
			t += 9;
		} else {
			k = ip_text(o);
			src = o->iptxt;
			t++;
		}
		if (k > TXT_MAX - n)
			k = TXT_MAX - n;
		if (k > room - n) {
			o->over = 1;
			return;
		}
		memcpy(s + n, src, k);
		n += k;
	}
	*p = (uint8_t)n;
	put16(p - 2, (uint16_t)(n + 1));
	o->len += n;
	o->an++;
}

/* NXDOMAIN or NODATA: the SOA in the authority section. */
static void negative(struct out *o, const struct zone *z, int rcode, uint32_t ttl)
{
	if (rcode == RC_NXDOMAIN && o->ent_too)
		rcode = RC_NOERROR;
	o->rcode = rcode;
	rr_soa(o, z, ttl, 1);
}

/* The zone's answer for an IP whose verdict is not ready. */
static void unknown(struct out *o, const struct zone *z)
{
	o->kind = CTR_ANS_UNKNOWN;
	if (z->unknown == CONFIG_UNKNOWN_SERVFAIL)
		o->rcode = RC_SERVFAIL;
	else
		negative(o, z, RC_NXDOMAIN, z->unknown_ttl);
}

static void answer_hits(struct out *o, const struct zone *z, uint16_t qtype,
			const struct hit *h, unsigned n)
{
	unsigned i;

	if (qtype == T_A || qtype == T_ANY)
		for (i = 0; i < n; i++)
			rr_a(o, h[i].a, z->ttl);
	if (qtype == T_TXT || qtype == T_ANY)
		for (i = 0; i < n; i++)
			if (h[i].txt_len)
				rr_txt(o, h[i].txt, h[i].txt_len, z->ttl);
	if (!o->an && !o->over) {
		/* Listed, but not for the type asked (MX, AAAA...): NODATA. */
		o->kind = CTR_ANS_NODATA;
		o->cats = 0;
		negative(o, z, RC_NOERROR, z->negative_ttl);
	}
}

/* A verdict's categories as answered in zone z: the enabled ones, or the `clean`
 * answer when none is left. Returns how many (0 = NXDOMAIN). */
static unsigned verdict_hits(const struct zone *z, uint8_t mask, uint8_t flags,
			     struct hit *h)
{
	unsigned n = 0;

	mask &= z->enabled_mask;
	if (!mask) {
		if (!z->clean.enabled)
			return 0;
		h[0] = (struct hit){ z->clean.a, z->clean.txt, z->clean.txt_len };
		return 1;
	}
	/* The set bits only, lowest (first category) first. */
	for (unsigned m = mask; m; m &= m - 1) {
		int c = __builtin_ctz(m);

		const struct zone_cat *zc = &z->cat[c];

		/* the TXT says when threatbl's own probe found it */
		if (c == VERDICT_OPENVPN443 && (flags & VERDICT_F_PROBED))
			zc = &z->probed;
		h[n++] = (struct hit){ zc->a, zc->txt, zc->txt_len };
	}
	return n;
}

/* verdict_hits with the feeds' hits (fmask, never 0; fh[cat]) added, in category
 * order: a category a feed lists is answered with the feed's TXT. Kept apart so that
 * the path without feeds stays as it was (inlined, not one test more). */
static unsigned feed_verdict_hits(const struct zone *z, uint8_t mask, uint8_t flags,
				  uint8_t fmask, const struct hit *fh, struct hit *h)
{
	unsigned n = 0;

	mask = (mask & z->enabled_mask) | fmask;
	for (unsigned m = mask; m; m &= m - 1) {
		int c = __builtin_ctz(m);
		const struct zone_cat *zc = &z->cat[c];

		if (fmask & VERDICT_BIT(c)) {
			h[n++] = fh[c];
			continue;
		}
		if (c == VERDICT_OPENVPN443 && (flags & VERDICT_F_PROBED))
			zc = &z->probed;
		h[n++] = (struct hit){ zc->a, zc->txt, zc->txt_len };
	}
	return n;
}

/* What the cache holds for ip as an answer sees it
 * (doc/dns.md#where-a-verdict-comes-from), for answer_ip and its feed steps alike:
 * nothing usable (absent, or older than max-stale), a verdict in *v (a stale one is
 * refreshed behind the answer), or an address the service could not judge lately.
 * Counts the cache's result and notes the providers that spoke. */
enum { CACHED_NONE, CACHED_VERDICT, CACHED_UNKNOWN };

static inline int cached_verdict(const struct dns_env *env, struct out *o,
				 const struct ipaddr *ip, struct verdict *v)
{
	uint32_t age;
	uint8_t from;

	if (!env->cache)
		return CACHED_NONE;
	o->cache = CTR_CACHE_MISS;
	if (cache_get_from(env->cache, ip, v, &from) != 0)
		return CACHED_NONE;
	/* A verdict stamped in the future (clock stepped back) counts as new. */
	age = env->now > v->checked ? env->now - v->checked : 0;
	if (v->flags & VERDICT_F_UNKNOWN) {
		if (age >= env->unknown_retry_s)
			return CACHED_NONE;
		o->cache = CTR_CACHE_HIT;
		return CACHED_UNKNOWN;
	}
	if (age >= env->fresh_s && age >= env->max_stale_s)
		return CACHED_NONE;
	o->cache = age < env->fresh_s ? CTR_CACHE_HIT : CTR_CACHE_STALE;
	o->from = from;
	if (age >= env->fresh_s && env->refresh)
		env->refresh(env->refresh_arg, ip);
	return CACHED_VERDICT;
}

/* The zone's feeds that list ip: their categories' bits, and fh[cat] for each (the
 * first feed of a category wins). Reads the feeds' lists under the read side of the
 * shared lock, as the static lists; allocates nothing. */
static uint8_t feed_hits(const struct zone *z, const struct ipaddr *ip, struct hit *fh)
{
	uint8_t mask = 0;

	for (size_t i = 0; i < z->nfeeds; i++) {
		const struct zone_feed *zf = &z->feeds[i];
		const struct lists *l = zf->lists ? *zf->lists : NULL;

		if (!l || (mask & VERDICT_BIT(zf->cat)) ||
		    lists_match(l, ip, NULL) != LISTS_LISTED)
			continue;
		mask |= VERDICT_BIT(zf->cat);
		fh[zf->cat] = (struct hit){ zf->zc.a, zf->zc.txt, zf->zc.txt_len };
	}
	return mask;
}

/* answer_ip's steps after the static lists for a zone with feeds (doc/dns.md#where-a-
 * verdict-comes-from): a feed's hit is the whole answer when no lookup can add to it
 * (no provider, or its category is in [intel] skip-when); otherwise it joins the
 * verdict, or stands alone when no verdict is ready. Returns the number of hits put in
 * h (0: NXDOMAIN), FEEDS_UNKNOWN or FEEDS_WAIT. Apart from answer_ip, and writing no
 * answer itself, so that a zone without feeds runs the same code as before. */
enum { FEEDS_UNKNOWN = -1, FEEDS_WAIT = -2 };

/* What a feed answer tells the counters (counters.h): listed when the verdict gave a
 * category the zone answers, static (a list) when only the feeds did, clean without
 * any. Returns n. */
static int feeds_counted(struct out *o, const struct zone *z, uint8_t vmask, uint8_t fmask,
			 unsigned n)
{
	o->cats = (uint8_t)((vmask | fmask) & z->enabled_mask);
	o->kind = !o->cats ? CTR_ANS_CLEAN :
		  (vmask & z->enabled_mask) ? CTR_ANS_LISTED : CTR_ANS_STATIC;
	return (int)n;
}

static __attribute__((noinline)) int answer_ip_feeds(const struct dns_env *env,
						     struct out *o, const struct zone *z,
						     const struct ipaddr *ip, unsigned flags,
						     struct hit *h)
{
	struct hit fh[VERDICT_NCAT];
	struct verdict v;
	uint8_t fmask = feed_hits(z, ip, fh);

	if (fmask && (!env->lookups || (fmask & env->feed_skip)))
		goto feed_only;
	switch (cached_verdict(env, o, ip, &v)) {
	case CACHED_UNKNOWN:
		return fmask ? feeds_counted(o, z, 0, fmask,
					     feed_verdict_hits(z, 0, 0, fmask, fh, h)) :
			       FEEDS_UNKNOWN;
	case CACHED_VERDICT:
		if (fmask)
			return feeds_counted(o, z, v.mask, fmask,
					     feed_verdict_hits(z, v.mask, v.flags, fmask, fh, h));
		return feeds_counted(o, z, v.mask, 0, verdict_hits(z, v.mask, v.flags, h));
	default:
		break;
	}
	if (!env->lookups && !z->clean.enabled)
		return 0;
	if (!env->lookup_reserved && ipaddr_is_reserved(ip))
		goto feed_only;
	if (!env->lookups)
		return (int)verdict_hits(z, 0, 0, h);
	if (flags & DNS_NOWAIT)
		return fmask ? feeds_counted(o, z, 0, fmask,
					     feed_verdict_hits(z, 0, 0, fmask, fh, h)) :
			       FEEDS_UNKNOWN;
	return FEEDS_WAIT;
feed_only:
	/* fmask 0 here only for a reserved address: NXDOMAIN */
	return fmask ? feeds_counted(o, z, 0, fmask, feed_verdict_hits(z, 0, 0, fmask, fh, h)) :
		       0;
}

/* Returns 1 when the query must wait for a lookup. */
static int answer_ip(const struct dns_env *env, struct out *o, const struct zone *z,
		     uint16_t qtype, unsigned flags)
{
	const struct ipaddr *ip = o->ip;
	const struct lists_value *val;
	struct hit h[VERDICT_NCAT];
	struct verdict v;
	unsigned n;

	/* The kinds are counters.h's: the test entries count as a static list. */
	o->kind = CTR_ANS_CLEAN;
	if (ip_eq(ip, &test_listed)) {
		o->kind = CTR_ANS_STATIC;
		n = verdict_hits(z, VERDICT_ALL, 0, h);
		goto hits;
	}
	if (ip_eq(ip, &test_clean))
		goto not_listed;
	/* The operator's overrides beat everything below
	 * (doc/dns.md#where-a-verdict-comes-from); NULL when there are none. */
	if (env->overrides) {
		const char *txt = "";
		int cat = -1;

		switch (override_lookup(env->overrides, ip, &cat, &txt)) {
		case OVERRIDE_ALLOW:
			goto not_listed;
		case OVERRIDE_ADD:
			if (!(z->enabled_mask & VERDICT_BIT(cat)))
				break; /* a category this zone does not answer */
			/* the A of the zone's category; the reason as TXT, or the zone's.
			 * Counted as the operator's list (a static one), as a feed
			 * alone is. */
			o->kind = CTR_ANS_STATIC;
			o->cats = (uint8_t)VERDICT_BIT(cat);
			h[0].a = z->cat[cat].a;
			h[0].txt = *txt ? txt : z->cat[cat].txt;
			h[0].txt_len = qtype == T_TXT || qtype == T_ANY ? strlen(h[0].txt) : 0;
			n = 1;
			goto hits;
		default:
			break;
		}
	}
	if (z->lists) {
		switch (lists_match(z->lists, ip, &val)) {
		case LISTS_LISTED:
			o->kind = CTR_ANS_STATIC;
			h[0].a = val->a;
			h[0].txt = val->txt ? val->txt : "";
			/* Only TXT needs the length: spare A queries the strlen(). */
			h[0].txt_len = qtype == T_TXT || qtype == T_ANY ? strlen(h[0].txt) : 0;
			n = 1;
			goto hits;
		case LISTS_EXCLUDED:
			goto not_listed;
		default:
			break;
		}
	}
	if (z->nfeeds) {
		int r = answer_ip_feeds(env, o, z, ip, flags, h);

		if (r == FEEDS_WAIT)
			return 1;
		if (r == FEEDS_UNKNOWN) {
			unknown(o, z);
			return 0;
		}
		n = (unsigned)r;
		goto hits;
	}
	switch (cached_verdict(env, o, ip, &v)) {
	case CACHED_UNKNOWN:
		unknown(o, z);
		return 0;
	case CACHED_VERDICT:
		o->cats = v.mask & z->enabled_mask;
		if (o->cats)
			o->kind = CTR_ANS_LISTED;
		n = verdict_hits(z, v.mask, v.flags, h);
		goto hits;
	default:
		break;
	}
	/* Without a provider and without a `clean` answer, an IP in no list is
	 * NXDOMAIN whether it is reserved or not: skip that check. */
	if (!env->lookups && !z->clean.enabled)
		goto not_listed;
	if (!env->lookup_reserved && ipaddr_is_reserved(ip))
		goto not_listed;
	if (!env->lookups) {
		/* Without a provider, an IP in no list is judged clean. */
		n = verdict_hits(z, 0, 0, h);
		goto hits;
	}
	if (flags & DNS_NOWAIT) {
		unknown(o, z);
		return 0;
	}
	return 1;
hits:
	if (n) {
		answer_hits(o, z, qtype, h, n);
		return 0;
	}
not_listed:
	negative(o, z, RC_NXDOMAIN, z->negative_ttl);
	return 0;
}

/* Whether the question name (len bytes) is want, ASCII case folded. */
static int name_is(const uint8_t *name, size_t len, const char *want, size_t want_len)
{
	if (len != want_len)
		return 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		if (c != (uint8_t)want[i])
			return 0;
	}
	return 1;
}

/* Class CH (doc/dns.md#server-identity): TXT or ANY for id.server. or hostname.bind.
 * (RFC 4892) is the [server] identity, one TXT record of class CH, TTL 0, AA clear,
 * as NSD answers it; everything else in CH, and these names when no identity is set,
 * is REFUSED (version.server and version.bind too: the version is not told). The
 * question is read from the answer, where it was copied: no pointer to the query
 * kept alive for this rare case. */
__attribute__((noinline))
static void answer_chaos(const struct zoneset *zs, struct out *o, uint16_t qclass,
			 uint16_t qtype, size_t qname_len)
{
	const uint8_t *name = o->p + HDR_LEN;
	uint8_t *p;

	o->rcode = RC_REFUSED;
	if (!zs || !zs->identity_len || qclass != C_CH || (qtype != T_TXT && qtype != T_ANY) ||
	    (!name_is(name, qname_len, "\002id\006server", 11) &&
	     !name_is(name, qname_len, "\010hostname\004bind", 15)))
		return;
	o->rcode = RC_NOERROR;
	p = rr_start(o, QNAME_PTR, T_TXT, 0, 1 + zs->identity_len);
	if (!p)
		return;
	put16(p - 8, C_CH);
	p[0] = (uint8_t)zs->identity_len;
	memcpy(p + 1, zs->identity, zs->identity_len);
	o->an++;
}

/* The NSID option (RFC 5001) after the OPT record at opt, when zs has an identity and
 * it fits in room: a diagnostic never truncates an answer. Returns the bytes added
 * (the OPT's RDLENGTH is updated). */
__attribute__((noinline))
static size_t put_nsid(const struct zoneset *zs, uint8_t *opt, size_t room)
{
	size_t n = 4 + zs->identity_len;

	if (!zs->identity_len || n > room)
		return 0;
	put16(opt + OPT_LEN, OPT_NSID);
	put16(opt + OPT_LEN + 2, (uint16_t)zs->identity_len);
	memcpy(opt + OPT_LEN + 4, zs->identity, zs->identity_len);
	put16(opt + 9, (uint16_t)n);
	return n;
}

static void answer_apex(struct out *o, const struct zone *z, uint16_t qtype)
{
	switch (qtype) {
	case T_SOA:
		rr_soa(o, z, z->ttl, 0);
		break;
	case T_NS:
		rr_ns(o, z);
		break;
	case T_ANY:
		rr_soa(o, z, z->ttl, 0);
		rr_ns(o, z);
		break;
	}
	if (!o->an && !o->over) {
		o->kind = CTR_ANS_NODATA;
		negative(o, z, RC_NOERROR, z->negative_ttl);
	}
}

void dns_handle(const struct dns_env *env, const uint8_t *q, size_t qlen, uint8_t *out,
		size_t outcap, unsigned flags, struct dns_result *res)
{
	struct query qr = { .q = q };
	struct qname_labels ql;
	char iptxt[IPADDR_STRLEN];
	struct out o = { .p = out, .iptxt = iptxt, .kind = CTR_ANS_OTHER,
			 .cache = CTR_NCACHE };
	const struct zone *z = NULL;
	struct ipaddr ip;
	size_t limit, apex_off;
	int rc;

	res->status = DNS_DROP;
	res->len = 0;
	res->rcode = 0;
	res->kind = CTR_ANS_OTHER;
	res->cache = CTR_NCACHE;
	res->cats = 0;
	if (qlen < HDR_LEN || (q[2] & 0x80) || outcap < HDR_LEN)
		return;
	if ((q[2] >> 3 & 0x0f) != 0) {
		reply_bare(q, out, RC_NOTIMP, res);
		return;
	}
	rc = parse_query(q, qlen, &qr, &ql);
	if (rc) {
		reply_bare(q, out, rc, res);
		return;
	}

	if (flags & DNS_TCP) {
		limit = outcap < 65535 ? outcap : 65535;
	} else {
		limit = DNS_UDP_MIN;
		if (qr.edns && qr.udp_size > limit)
			limit = qr.udp_size < DNS_UDP_MAX ? qr.udp_size : DNS_UDP_MAX;
		if (limit > outcap)
			limit = outcap;
	}
	if (limit < qr.qend + (qr.edns ? OPT_LEN : 0))
		return; /* only with a buffer smaller than the contract's */
	if (qr.tsig_name_len) {
		reply_badkey(q, &qr, out, limit, res);
		return;
	}
	o.cap = limit - (qr.edns ? OPT_LEN : 0);
	/* A client that allow-query refuses is told nothing more than REFUSED. */
	if (qr.nsid && !(flags & DNS_REFUSE))
		o.nsid = env->zones;
	memcpy(out + HDR_LEN, q + HDR_LEN, qr.qend - HDR_LEN);
	o.len = qr.qend;

	if (qr.edns && qr.version != 0) {
		o.rcode = 16; /* BADVERS: the upper bits go into the OPT record */
	} else if (flags & DNS_REFUSE) {
		o.rcode = RC_REFUSED;
		o.kind = CTR_ANS_REFUSED;
	} else if (qr.qclass != C_IN) {
		answer_chaos(env->zones, &o, qr.qclass, qr.qtype, ql.len);
		if (o.rcode == RC_REFUSED)
			o.kind = CTR_ANS_REFUSED;
	} else if (qr.qtype == T_AXFR || qr.qtype == T_IXFR) {
		o.rcode = RC_NOTIMP;
	} else if (!(z = zoneset_match(env->zones, q + HDR_LEN, ql.off, ql.n,
				       &apex_off))) {
		o.rcode = RC_REFUSED;
		o.kind = CTR_ANS_REFUSED;
	} else {
		o.aa = 1;
		o.apex_ptr = (uint16_t)(0xc000 | (HDR_LEN + apex_off));
		switch (qname_parse_labels(q + HDR_LEN, &ql, ql.n - z->apex_labels, &ip)) {
		case QNAME_APEX:
			answer_apex(&o, z, qr.qtype);
			break;
		case QNAME_ENT:
			o.kind = CTR_ANS_NODATA;
			negative(&o, z, RC_NOERROR, z->negative_ttl);
			break;
		case QNAME_OTHER:
			negative(&o, z, RC_NXDOMAIN, z->negative_ttl);
			break;
		case QNAME_IP:
			/* Four one-digit labels are also the first four nibbles of IPv6
			 * names: the name has children, so it is never NXDOMAIN (RFC 8020),
			 * or strict QNAME minimisation would stop there. */
			o.ent_too = apex_off == 8;
			o.ip = &ip;
			if (answer_ip(env, &o, z, qr.qtype, flags)) {
				res->status = DNS_WAIT;
				res->ip = ip;
				res->cache = o.cache;
				return;
			}
			break;
		}
	}

	if (o.over) {
		/* Too big: nothing but the question (and OPT); TC over UDP. Over TCP
		 * only a 64 KiB answer could get here. */
		o.len = qr.qend;
		o.an = o.ns = 0;
		if (flags & DNS_TCP) {
			o.rcode = RC_SERVFAIL;
			o.kind = CTR_ANS_OTHER;
			o.cats = 0;
		}
	}
	put_header(out, q, o.aa, o.over && !(flags & DNS_TCP), o.rcode);
	put16(out + 4, 1);
	put16(out + 6, o.an);
	put16(out + 8, o.ns);
	put16(out + 10, qr.edns ? 1 : 0);
	if (qr.edns) {
		uint8_t *p = out + o.len;

		p[0] = 0;
		put16(p + 1, T_OPT);
		put16(p + 3, DNS_UDP_MAX);
		p[5] = (uint8_t)(o.rcode >> 4); /* extended RCODE, upper 8 bits */
		p[6] = 0;                       /* version */
		p[7] = qr.do_bit ? 0x80 : 0;
		p[8] = 0;
		put16(p + 9, 0);
		o.len += OPT_LEN;
		if (o.nsid)
			o.len += put_nsid(o.nsid, p, o.cap + OPT_LEN - o.len);
	}
	res->status = DNS_REPLY;
	res->len = o.len;
	res->rcode = (uint16_t)o.rcode;
	res->kind = o.kind;
	res->cache = o.cache;
	res->cats = o.kind == CTR_ANS_LISTED ? o.cats : 0;
}
