/* acl.c - address lists of the configuration: who may query, who may cause a lookup.
 *
 * An acl is a list of prefixes (CIDR, IPv4 or IPv6); an empty acl admits everyone,
 * which is every list's default. Matching is a linear walk: the lists are short
 * (a few networks of one's own) and, when empty, cost one comparison, so the answer
 * path pays nothing for a key that is not set. Owned by the configuration (acl_free);
 * read-only once loaded, so any thread may match against it. */
#ifndef THREATBL_ACL_H
#define THREATBL_ACL_H

#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"

struct acl_entry {
	struct ipaddr net;  /* masked to len */
	uint8_t len;        /* prefix length on the 16-byte form: IPv4 /n is 96 + n */
};

struct acl {
	struct acl_entry *v;
	size_t n;           /* 0: everyone */
};

/* Add "ADDR", "ADDR/LEN" (IPv4 or IPv6). Host bits under the prefix are cleared.
 * 0, -EINVAL (not an address or prefix), -ENOMEM. */
int acl_add(struct acl *a, const char *text);

/* Deep copy (dst is overwritten). 0 or -ENOMEM. */
int acl_copy(struct acl *dst, const struct acl *src);
void acl_free(struct acl *a);

/* 1 when a prefix of a contains ip (acl_admits is the one to call). */
int acl_match_(const struct acl *a, const struct ipaddr *ip);

/* 1 when a admits ip: a is empty or a prefix of it contains ip. */
static inline int acl_admits(const struct acl *a, const struct ipaddr *ip)
{
	return a->n == 0 || acl_match_(a, ip);
}

#endif
