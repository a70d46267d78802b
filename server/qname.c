/* qname.c - what a name under a zone asks about (doc/dns.md#names-under-a-zone). */
#include "qname.h"

#include <string.h>

/* ::ffff:0:0/96, the prefix of an IPv4 address kept as IPv6. */
static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int qname_scan(const uint8_t *p, size_t avail, struct qname_labels *ql)
{
	size_t off = 0;
	unsigned n = 0;

	/* The root label must start below QNAME_MAX: then off < 255 fits a byte, and
	 * every other label takes two bytes at least, so n < 128. */
	if (avail > QNAME_MAX)
		avail = QNAME_MAX;
	for (;;) {
		unsigned l;

		if (off >= avail)
			return -1;
		l = p[off];
		if (l & 0xc0) /* pointer or extended label type */
			return -1;
		ql->off[n] = (uint8_t)off;
		if (l == 0)
			break;
		n++;
		off += 1 + l;
	}
	ql->n = n;
	ql->len = off + 1;
	return 0;
}

/* Value of a hex digit, or -1. */
static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Value of a decimal octet label ("0".."255", no leading zero), or -1. */
static int octet(const uint8_t *p, unsigned l)
{
	unsigned v = 0;

	if (l < 1 || l > 3 || (l > 1 && p[0] == '0'))
		return -1;
	for (unsigned i = 0; i < l; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v <= 255 ? (int)v : -1;
}

/* The common case on its own: four labels in front of the apex, well formed (the
 * walk of qname_scan saw them), each an octet. Unsigned arithmetic makes each range
 * check one compare. Returns 0 when they are anything else. */
static int parse_v4(const uint8_t *name, const uint8_t *off, struct ipaddr *ip)
{
	for (int i = 0; i < 4; i++) {
		const uint8_t *p = name + off[i];
		unsigned l = p[0], v = (unsigned)p[1] - '0', d;

		if (v > 9)
			return 0;
		if (l > 1) {
			d = (unsigned)p[2] - '0';
			if (d > 9 || v == 0 || l > 3) /* a leading zero or too long */
				return 0;
			v = v * 10 + d;
			if (l == 3) {
				d = (unsigned)p[3] - '0';
				v = v * 10 + d;
				if (d > 9 || v > 255)
					return 0;
			}
		}
		ip->b[15 - i] = (uint8_t)v; /* the first label is the last octet */
	}
	memcpy(ip->b, v4_mapped, sizeof(v4_mapped));
	return 1;
}

enum qname_kind qname_parse_labels(const uint8_t *name, const struct qname_labels *ql,
				   unsigned k, struct ipaddr *ip)
{
	if (k == 4 && parse_v4(name, ql->off, ip))
		return QNAME_IP;
	return qname_parse(name, ql->len, ql->off[k], ip);
}

enum qname_kind qname_parse(const uint8_t *name, size_t len, size_t apex_off,
			    struct ipaddr *ip)
{
	uint8_t v4[4], v6[16];
	int numeric = 1, nibble = 1;
	unsigned n = 0;
	size_t off = 0;

	if (apex_off == 0)
		return QNAME_APEX;
	if (apex_off >= len)
		return QNAME_OTHER;
	memset(v6, 0, sizeof(v6));
	/* One pass: every label is checked both as an octet and as a nibble; the name
	 * is an address (or its prefix) only if all its labels agree on one reading. */
	while (off < apex_off) {
		unsigned l = name[off];
		const uint8_t *p = name + off + 1;
		int v;

		if (l == 0 || l > 63 || off + 1 + l > apex_off)
			return QNAME_OTHER;
		if (numeric) {
			v = octet(p, l);
			if (v < 0 || n >= 4)
				numeric = 0;
			else
				v4[n] = (uint8_t)v;
		}
		if (nibble) {
			v = l == 1 ? hexval(p[0]) : -1;
			if (v < 0 || n >= 32)
				nibble = 0;
			else /* the first label is the lowest nibble */
				v6[15 - n / 2] |= (uint8_t)(n & 1 ? v << 4 : v);
		}
		if (!numeric && !nibble)
			return QNAME_OTHER;
		n++;
		off += 1 + l;
	}
	if (off != apex_off)
		return QNAME_OTHER;
	if (nibble && n == 32) {
		memcpy(ip->b, v6, 16);
		return QNAME_IP;
	}
	if (numeric && n == 4) {
		memcpy(ip->b, v4_mapped, sizeof(v4_mapped));
		ip->b[12] = v4[3];
		ip->b[13] = v4[2];
		ip->b[14] = v4[1];
		ip->b[15] = v4[0];
		return QNAME_IP;
	}
	if ((numeric && n < 4) || (nibble && n < 32))
		return QNAME_ENT;
	return QNAME_OTHER;
}
