/* mail.c - the IPs a mail message came from, found the way SpamAssassin finds them.
 *
 * The originating IP headers that SpamAssassin reads by default (X-Originating-IP,
 * X-Yahoo-Post-IP, X-Apparently-From, X-SenderIP, X-AOL-IP,
 * X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp) first, then the
 * relays named in the "from" part of the Received: headers, newest (topmost) first.
 * Folded headers are unfolded; LF and CRLF line ends; addresses bare, [bracketed] or
 * "IPv6:"-prefixed; only public addresses are kept (ipaddr_is_reserved), each once;
 * garbage yields nothing, never a crash. Nothing is allocated but one bounded work
 * buffer per call. */
#ifndef THREATBL_MAIL_H
#define THREATBL_MAIL_H

#include <stddef.h>

#include "ipaddr.h"

struct mail_ip {
	struct ipaddr ip;
	char source[80]; /* the header it came from ("X-Originating-IP", "Received") */
};

/* Find up to max distinct IPs in the header block of msg (len bytes, need not be
 * NUL-terminated, may hold NUL bytes). Returns how many were stored in out, in order
 * of precedence. */
size_t mail_find_ips(const char *msg, size_t len, struct mail_ip *out, size_t max);

/* The same, skipping the trusted topmost Received: headers: those that your own
 * servers wrote about hops between your own servers. trusted 0 is mail_find_ips().
 * The originating IP headers are read whatever trusted is. */
size_t mail_find_ips_trusted(const char *msg, size_t len, unsigned trusted,
			     struct mail_ip *out, size_t max);

/* Offset of the end of the header block: the start of the empty line that separates
 * it from the body, or of the first line that cannot be a header line (a message
 * without a separator), or len. A leading mbox "From " line belongs to the header
 * block. */
size_t mail_header_end(const char *msg, size_t len);

#endif
