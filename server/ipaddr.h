/* ipaddr.c - the one IP address type of the project, and the facts about address ranges.
 *
 * IPv4 addresses are kept as IPv4-mapped IPv6 (::ffff:a.b.c.d, RFC 4291 2.5.5.2), so
 * that lists, cache and store have a single 16-byte key; ::ffff:7f00:2 asked in
 * nibble form is then the same IP as 2.0.0.127. */
#ifndef THREATBL_IPADDR_H
#define THREATBL_IPADDR_H

#include <stddef.h>
#include <stdint.h>

struct ipaddr {
	uint8_t b[16]; /* network byte order */
};

/* Longest text form of an address, with its NUL (INET6_ADDRSTRLEN). */
#define IPADDR_STRLEN 46

/* Whether it is IPv4 (mapped). */
int ipaddr_is_v4(const struct ipaddr *a);

/* The IPv4 address in host byte order; only meaningful when ipaddr_is_v4(). */
uint32_t ipaddr_v4(const struct ipaddr *a);

/* Set from an IPv4 address in host byte order. */
void ipaddr_set_v4(struct ipaddr *a, uint32_t host_order);

/* Parse "a.b.c.d" or an IPv6 text form (inet_pton rules, no brackets, no zone).
 * Returns 0 or -EINVAL. */
int ipaddr_parse(struct ipaddr *out, const char *text);

/* Write the usual text form (dotted quad for IPv4) into buf (at least IPADDR_STRLEN
 * bytes). Returns the length written. */
size_t ipaddr_format(const struct ipaddr *a, char *buf);

/* Whether the address lies in a range that is never looked up by default: unspecified,
 * loopback, private (RFC 1918, fc00::/7), link-local, CGNAT (100.64/10), multicast,
 * documentation, benchmarking, reserved 240/4, broadcast, 6to4/Teredo relays and
 * other IANA special-purpose blocks that are not globally reachable. */
int ipaddr_is_reserved(const struct ipaddr *a);

/* ip's first len bits (of the 16-byte form: IPv4 /n is 96 + n), the rest zero. */
void ipaddr_mask(const struct ipaddr *ip, unsigned len, struct ipaddr *out);

struct sockaddr;

/* The address of an AF_INET or AF_INET6 socket address. 0, or -EAFNOSUPPORT. */
int ipaddr_from_sockaddr(struct ipaddr *out, const struct sockaddr *sa);

/* Compare, for sorting: <0, 0, >0 like memcmp. */
int ipaddr_cmp(const struct ipaddr *a, const struct ipaddr *b);

#endif
