/* ask.c - ask a DNSBL about one IP over DNS (ldns), and say what the answer means.
 *
 * Used by `threatbl lookup` and `threatbl check-mail`. A blocking client: the tool is a
 * command, not the server. */
#ifndef THREATBL_ASK_H
#define THREATBL_ASK_H

#include <ldns/ldns.h>
#include <stddef.h>

#include "ipaddr.h"

#define ASK_MAX_RECORDS 16

struct ask_result {
	int listed;                                /* 1 listed, 0 not listed */
	size_t na;
	char a[ASK_MAX_RECORDS][16];               /* the A records, dotted */
	size_t ntxt;
	char txt[ASK_MAX_RECORDS][256];            /* the TXT strings */
};

/* A resolver for server ("HOST", "HOST:PORT", "[V6]:PORT"; HOST an address or a
 * name the system resolves), or the system's when server is NULL. Returns 0 or
 * -EINVAL with a message in err. */
int ask_resolver(const char *server, ldns_resolver **out, char *err, size_t errlen);

/* Ask zone about ip. Returns 0 (result filled), or a negative errno with a message in
 * err (timeout, SERVFAIL, REFUSED...). */
int ask_ip(ldns_resolver *res, const char *zone, const struct ipaddr *ip,
	   struct ask_result *out, char *err, size_t errlen);

/* The category a 127.0.0.x code stands for by default (doc/dns.md#categories-and-a-and-txt-records), or NULL. */
const char *ask_category(const char *a);

#endif
