/* override.c - the operator's overrides: `allow` (never listed, never looked up) and
 * `add` (listed in a category, with the operator's reason as the TXT), for an IP or a
 * prefix (doc/operations.md#managing-verdicts).
 *
 * They are kept in the database (store.c, table overrides) and, in the running
 * daemon, compiled into two immutable lists structures (lists.c) that dns.c consults
 * before the static lists and the verdicts: allow > add > static lists > verdicts
 * (doc/dns.md#where-a-verdict-comes-from). A change builds a new set off the loop
 * thread and swaps it in like a reload (steer.c), so the answer path takes no lock for
 * them and pays one pointer test when there are none. */
#ifndef THREATBL_OVERRIDE_H
#define THREATBL_OVERRIDE_H

#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "lists.h"
#include "verdict.h"

enum override_kind { OVERRIDE_ALLOW, OVERRIDE_ADD };

#define OVERRIDE_REASON_MAX 200 /* bytes; printable ASCII only */
#define OVERRIDE_WHO_MAX 64
/* "ffff:...:ffff/128" at most */
#define OVERRIDE_PREFIX_STRLEN (IPADDR_STRLEN + 4)

struct override {
	struct ipaddr net;  /* masked to len */
	unsigned len;       /* on the 16-byte scale: IPv4 /24 is 96 + 24 */
	int kind;           /* enum override_kind */
	int cat;            /* OVERRIDE_ADD: enum verdict_cat; else -1 */
	uint32_t created;   /* unix time */
	char reason[OVERRIDE_REASON_MAX + 1];
	char who[OVERRIDE_WHO_MAX + 1];
};

/* What dns.c consults (see above). Either list may be NULL. */
struct override_set {
	struct lists *allow; /* only "!" entries */
	struct lists *add;   /* values: a = 127.0.0.CAT (the category's index), txt =
			      * the reason as a TXT template ("" = the zone's own TXT) */
	size_t n;            /* overrides compiled in */
};

/* "IP" (a /32 or /128) or "IP/LEN". A prefix with host bits set is refused (the
 * operator may have meant another one). 0 with *net masked and *len on the 16-byte
 * scale, or -EINVAL with one line in err. */
int override_parse_prefix(const char *text, struct ipaddr *net, unsigned *len, char *err,
			  size_t errlen);

/* The canonical text of a prefix, always with its length ("192.0.2.0/24",
 * "2001:db8::/32", "192.0.2.7/32"): the key of the database table. buf holds at least
 * OVERRIDE_PREFIX_STRLEN bytes. */
void override_format_prefix(const struct ipaddr *net, unsigned len, char *buf);

/* The prefix length as the operator writes it (24 for IPv4 96 + 24). */
unsigned override_display_len(const struct ipaddr *net, unsigned len);

/* Whether ip lies in net/len. */
int override_covers(const struct ipaddr *net, unsigned len, const struct ipaddr *ip);

/* A reason: at most OVERRIDE_REASON_MAX bytes of printable ASCII (no control
 * characters, no tab: it travels in the control protocol and in TXT records). 0, or
 * -EINVAL with one line in err. */
int override_check_reason(const char *reason, char *err, size_t errlen);

/* The category named name ("vpn", ...), or -1. */
int override_cat(const char *name);

/* Compile o[0..n) (o[i].kind and cat valid). 0 or -ENOMEM; *out is new
 * (override_set_free); with n == 0 *out is NULL: nothing to consult. */
int override_set_build(const struct override *o, size_t n, struct override_set **out);
void override_set_free(struct override_set *s);

/* The override of set deciding ip: OVERRIDE_ALLOW, OVERRIDE_ADD with *cat and *txt
 * (the reason as a TXT template, "" = none; owned by set), or -1. Never allocates. */
int override_lookup(const struct override_set *set, const struct ipaddr *ip, int *cat,
		    const char **txt);

#endif
