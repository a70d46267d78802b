/* mail.c - the IPs a mail message came from, found the way SpamAssassin finds them.
 *
 * The originating IP headers that SpamAssassin reads by default (X-Originating-IP,
 * X-Yahoo-Post-IP, X-Apparently-From, X-SenderIP, X-AOL-IP,
 * X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp) first, then the
 * relays of the Received: headers, newest first. Folded headers are unfolded; only
 * public addresses are kept; garbage yields nothing, never a crash. */
#ifndef THREATBL_MAIL_H
#define THREATBL_MAIL_H

#include <stddef.h>

#include "ipaddr.h"

struct mail_ip {
	struct ipaddr ip;
	char source[80]; /* the header it came from */
};

/* Find up to max distinct IPs in the header block of msg (len bytes, need not be
 * NUL-terminated). Returns how many were stored. */
size_t mail_find_ips(const char *msg, size_t len, struct mail_ip *out, size_t max);

/* Offset of the end of the header block (the empty line, or len). */
size_t mail_header_end(const char *msg, size_t len);

#endif
