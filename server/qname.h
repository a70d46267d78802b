/* qname.c - what a name under a zone asks about (doc/dns.md#names-under-a-zone).
 *
 * The labels in front of the apex are either a reversed IPv4 address (4 decimal
 * labels, 0-255, no leading zeros), a reversed IPv6 address (32 single hex nibbles,
 * RFC 5782), a prefix of one of those (an empty non-terminal), or anything else.
 * The answer path walks the question name once (qname_scan): the walk that checks it
 * also notes where each label starts, so that zoneset_match() finds the zone from the
 * tail without walking again, and qname_parse() then reads only the labels in front
 * of the apex. Never allocates. */
#ifndef THREATBL_QNAME_H
#define THREATBL_QNAME_H

#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"

/* Longest wire name, root label included (RFC 1035 §3.1). */
#define QNAME_MAX 255

enum qname_kind {
	QNAME_APEX,     /* the zone itself */
	QNAME_IP,       /* a complete address: *ip is set */
	QNAME_ENT,      /* 1-3 numeric labels or 1-31 nibbles: empty non-terminal */
	QNAME_OTHER,    /* anything else under the zone: NXDOMAIN */
};

/* Where the labels of a wire name start. A name of at most 255 bytes has at most 127
 * labels besides the root, so the offsets fit in a byte. */
struct qname_labels {
	size_t len;             /* bytes, root label included */
	unsigned n;             /* labels, root excluded */
	uint8_t off[128];       /* off[i]: start of label i; off[n]: the root label */
};

/* Walk the uncompressed wire name at p, of which avail bytes may be read. Returns 0
 * and fills *ql, or -1 when the name is malformed: a compression pointer or another
 * label type, longer than QNAME_MAX, or not ended within avail. */
int qname_scan(const uint8_t *p, size_t avail, struct qname_labels *ql);

/* name: wire-form name (len bytes, uncompressed, root label included); apex_off: where
 * the zone's apex starts in it (zoneset_match / zoneset_find). *ip may be written
 * even when the answer is not QNAME_IP. */
enum qname_kind qname_parse(const uint8_t *name, size_t len, size_t apex_off,
			    struct ipaddr *ip);

/* The same for a name walked by qname_scan, whose first k labels are in front of the
 * apex (label k starts it): four octet labels, the usual question, are read without
 * another walk. */
enum qname_kind qname_parse_labels(const uint8_t *name, const struct qname_labels *ql,
				   unsigned k, struct ipaddr *ip);

#endif
