/* qname.c - what a name under a zone asks about (CONTRACT.md §5). */
#include "qname.h"

#include <string.h>

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
	if (numeric && n == 4) {
		memset(ip->b, 0, 10);
		ip->b[10] = 0xff;
		ip->b[11] = 0xff;
		ip->b[12] = v4[3];
		ip->b[13] = v4[2];
		ip->b[14] = v4[1];
		ip->b[15] = v4[0];
		return QNAME_IP;
	}
	if (nibble && n == 32) {
		memcpy(ip->b, v6, 16);
		return QNAME_IP;
	}
	if ((numeric && n < 4) || (nibble && n < 32))
		return QNAME_ENT;
	return QNAME_OTHER;
}
