/* qname.c - what a name under a zone asks about (CONTRACT.md §5).
 *
 * The labels in front of the apex are either a reversed IPv4 address (4 decimal
 * labels, 0-255, no leading zeros), a reversed IPv6 address (32 single hex nibbles,
 * RFC 5782), a prefix of one of those (an empty non-terminal), or anything else.
 * Never allocates. */
#ifndef THREATBL_QNAME_H
#define THREATBL_QNAME_H

#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"

enum qname_kind {
	QNAME_APEX,     /* the zone itself */
	QNAME_IP,       /* a complete address: *ip is set */
	QNAME_ENT,      /* 1-3 numeric labels or 1-31 nibbles: empty non-terminal */
	QNAME_OTHER,    /* anything else under the zone: NXDOMAIN */
};

/* name: wire-form name (len bytes, uncompressed, root label included); apex_off: where
 * the zone's apex starts in it (zoneset_find). */
enum qname_kind qname_parse(const uint8_t *name, size_t len, size_t apex_off,
			    struct ipaddr *ip);

#endif
