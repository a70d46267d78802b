/* feed_parse.c - the formats of the feeds ([feed NAME] format =,
 * doc/configuration.md#the-feed-section).
 *
 * A feed's body, as downloaded, becomes a struct lists (lists.h) of its addresses and
 * prefixes: a plain list in rbldnsd's ip4set/ip6trie text (the Tor Project's bulk exit
 * list is one IPv4 address a line), AWS ip-ranges.json, Google Cloud cloud.json, Oracle
 * public_ip_ranges.json, or CSV with the address in a chosen column (DigitalOcean's geo
 * feed). The whole body is parsed before anything is built, and a body that does not
 * look like its format is refused whole, so that a captive portal's page or a cut
 * download never becomes an empty or partial list. Pure functions: no I/O, no loop;
 * called on the thread pool (feed.c). */
#ifndef THREATBL_FEED_PARSE_H
#define THREATBL_FEED_PARSE_H

#include <stddef.h>

#include "lists.h"

enum feed_format {
	FEED_PLAIN,  /* one address or prefix a line (rbldnsd ip4set/ip6trie text) */
	FEED_AWS,    /* prefixes[].ip_prefix, ipv6_prefixes[].ipv6_prefix */
	FEED_GCP,    /* prefixes[].ipv4Prefix / prefixes[].ipv6Prefix */
	FEED_ORACLE, /* regions[].cidrs[].cidr */
	FEED_CSV,    /* the prefix in column `column` (1 = first) of each line */
	FEED_NFORMATS
};

/* The configuration's names, in enum order: plain aws gcp oracle csv. */
extern const char *const feed_format_names[FEED_NFORMATS + 1];

/* Parse body[0..len) as fmt (column: CSV only, from 1). At most max_entries entries
 * (0: no cap). On success *out is a new struct lists (lists_free). On failure *out is
 * NULL, why holds one sentence for the log, and the return is -EINVAL (not the format,
 * no entries, or more than a tenth of the lines bad), -E2BIG (over max_entries) or
 * -ENOMEM. Individual bad lines go to report (may be NULL), as lists.c reports them,
 * under the file name `name`. */
int feed_parse(enum feed_format fmt, unsigned column, const char *name, const char *body,
	       size_t len, size_t max_entries, lists_report_fn report, void *arg,
	       char *why, size_t whylen, struct lists **out);

#endif
