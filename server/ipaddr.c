/* ipaddr.c - the one IP address type of the project, and the facts about address ranges. */
#include "ipaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

/* ::ffff:0:0/96, the IPv4-mapped prefix (RFC 4291 2.5.5.2). */
static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int ipaddr_is_v4(const struct ipaddr *a)
{
	return memcmp(a->b, v4_mapped, sizeof(v4_mapped)) == 0;
}

uint32_t ipaddr_v4(const struct ipaddr *a)
{
	return (uint32_t)a->b[12] << 24 | (uint32_t)a->b[13] << 16 |
	       (uint32_t)a->b[14] << 8 | a->b[15];
}

void ipaddr_set_v4(struct ipaddr *a, uint32_t host_order)
{
	memcpy(a->b, v4_mapped, sizeof(v4_mapped));
	a->b[12] = host_order >> 24;
	a->b[13] = host_order >> 16;
	a->b[14] = host_order >> 8;
	a->b[15] = host_order;
}

/* Strict dotted quad: exactly four decimal parts 0-255, no leading zeros (inet_aton
 * would read "010" as octal 8, so it is refused rather than guessed), nothing else. */
static int parse_v4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned n = 0, digits = 0;

		if (part > 0) {
			if (*s != '.')
				return -EINVAL;
			s++;
		}
		while (*s >= '0' && *s <= '9') {
			if (digits == 3)
				return -EINVAL;
			if (digits == 1 && n == 0)
				return -EINVAL; /* leading zero */
			n = n * 10 + (unsigned)(*s - '0');
			digits++;
			s++;
		}
		if (digits == 0 || n > 255)
			return -EINVAL;
		v = v << 8 | n;
	}
	if (*s != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int ipaddr_parse(struct ipaddr *out, const char *text)
{
	uint32_t v4;

	if (!text)
		return -EINVAL;
	if (strchr(text, ':')) {
		if (inet_pton(AF_INET6, text, out->b) != 1)
			return -EINVAL;
		return 0;
	}
	if (parse_v4(text, &v4) < 0)
		return -EINVAL;
	ipaddr_set_v4(out, v4);
	return 0;
}

size_t ipaddr_format(const struct ipaddr *a, char *buf)
{
	if (ipaddr_is_v4(a)) {
		/* By hand: dns.c formats the IP of every TXT answer, and snprintf cost
		 * more than the rest of such an answer. */
		char *p = buf;

		for (int i = 12; i < 16; i++) {
			unsigned v = a->b[i];

			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
			*p++ = '.';
		}
		p[-1] = '\0';
		return (size_t)(p - 1 - buf);
	}
	if (!inet_ntop(AF_INET6, a->b, buf, IPADDR_STRLEN)) {
		buf[0] = '\0'; /* cannot happen with a 46-byte buffer */
		return 0;
	}
	return strlen(buf);
}

struct block4 {
	uint32_t net;
	uint8_t len;
};

/* IANA IPv4 special-purpose registry, the blocks that are not globally reachable. */
static const struct block4 reserved4[] = {
	{ 0x00000000, 8 },  /* 0.0.0.0/8 "this network" */
	{ 0x0a000000, 8 },  /* 10.0.0.0/8 private */
	{ 0x64400000, 10 }, /* 100.64.0.0/10 shared (CGNAT) */
	{ 0x7f000000, 8 },  /* 127.0.0.0/8 loopback */
	{ 0xa9fe0000, 16 }, /* 169.254.0.0/16 link-local */
	{ 0xac100000, 12 }, /* 172.16.0.0/12 private */
	{ 0xc0000000, 24 }, /* 192.0.0.0/24 IETF protocol assignments */
	{ 0xc0000200, 24 }, /* 192.0.2.0/24 TEST-NET-1 */
	{ 0xc0586300, 24 }, /* 192.88.99.0/24 6to4 relay anycast */
	{ 0xc0a80000, 16 }, /* 192.168.0.0/16 private */
	{ 0xc6120000, 15 }, /* 198.18.0.0/15 benchmarking */
	{ 0xc6336400, 24 }, /* 198.51.100.0/24 TEST-NET-2 */
	{ 0xcb007100, 24 }, /* 203.0.113.0/24 TEST-NET-3 */
	{ 0xe0000000, 4 },  /* 224.0.0.0/4 multicast */
	{ 0xf0000000, 4 },  /* 240.0.0.0/4 reserved, with 255.255.255.255 */
};

struct block6 {
	uint8_t net[16];
	uint8_t len;
};

/* IANA IPv6 special-purpose registry (and the multicast and site-local blocks), the
 * blocks that are not globally reachable; ::ffff:0:0/96 is answered as IPv4. */
static const struct block6 reserved6[] = {
	{ { 0 }, 128 },                                        /* ::/128 */
	{ { [15] = 1 }, 128 },                                 /* ::1/128 */
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48 },        /* 64:ff9b:1::/48 */
	{ { 0x01, 0x00 }, 64 },                                /* 100::/64 discard */
	{ { 0x20, 0x01, 0x00, 0x00 }, 23 },                    /* 2001::/23 IETF */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32 },                    /* 2001:db8::/32 doc */
	{ { 0x20, 0x02 }, 16 },                                /* 2002::/16 6to4 */
	{ { 0x3f, 0xff, 0x00 }, 20 },                          /* 3fff::/20 doc */
	{ { 0x5f, 0x00 }, 16 },                                /* 5f00::/16 SRv6 SIDs */
	{ { 0xfc }, 7 },                                       /* fc00::/7 ULA */
	{ { 0xfe, 0x80 }, 10 },                                /* fe80::/10 link-local */
	{ { 0xfe, 0xc0 }, 10 },                                /* fec0::/10 site-local */
	{ { 0xff }, 8 },                                       /* ff00::/8 multicast */
};

static int in_prefix6(const uint8_t *a, const uint8_t *net, unsigned len)
{
	unsigned whole = len / 8, rest = len % 8;

	if (memcmp(a, net, whole) != 0)
		return 0;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((a[whole] & mask) != net[whole])
			return 0;
	}
	return 1;
}

int ipaddr_is_reserved(const struct ipaddr *a)
{
	size_t i;

	if (ipaddr_is_v4(a)) {
		uint32_t v = ipaddr_v4(a);

		for (i = 0; i < sizeof(reserved4) / sizeof(reserved4[0]); i++) {
			uint32_t mask = reserved4[i].len ? ~0u << (32 - reserved4[i].len) : 0;

			if ((v & mask) == reserved4[i].net)
				return 1;
		}
		return 0;
	}
	for (i = 0; i < sizeof(reserved6) / sizeof(reserved6[0]); i++)
		if (in_prefix6(a->b, reserved6[i].net, reserved6[i].len))
			return 1;
	return 0;
}

int ipaddr_cmp(const struct ipaddr *a, const struct ipaddr *b)
{
	return memcmp(a->b, b->b, sizeof(a->b));
}

int ipaddr_from_sockaddr(struct ipaddr *out, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

		ipaddr_set_v4(out, ntohl(s4->sin_addr.s_addr));
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

		memcpy(out->b, &s6->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

void ipaddr_mask(const struct ipaddr *ip, unsigned len, struct ipaddr *out)
{
	unsigned i;

	if (len > 128)
		len = 128;
	for (i = 0; i < 16; i++) {
		unsigned bits = len >= 8 * (i + 1) ? 8 : len > 8 * i ? len - 8 * i : 0;

		out->b[i] = bits ? (uint8_t)(ip->b[i] & (0xff00u >> bits)) : 0;
	}
}
