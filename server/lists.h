/* lists.c - static lists in rbldnsd's ip4set / ip4trie / ip6trie text formats.
 *
 * lists_load() reads a zone's files into one immutable structure: every entry (single
 * address, CIDR prefix, range, "!" exclusion) becomes sorted, disjoint address
 * intervals in which the longest (most specific) prefix has already won, so a lookup is
 * one binary search and allocates nothing. A structure is built off the loop thread
 * and swapped in whole; nothing changes it afterwards, so readers need no lock. */
#ifndef THREATBL_LISTS_H
#define THREATBL_LISTS_H

#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"

/* Problems found while reading. level: 0 = error (the line is skipped),
 * 1 = warning (the line is accepted or ignored as said). line 0 = the whole file. */
typedef void (*lists_report_fn)(void *arg, const char *file, unsigned line, int level,
				const char *msg);

/* The value of a listed entry: the A record and the TXT template ('$' = the queried
 * IP, '$$' = '$'); txt is "" when the entry has no text. Owned by the lists. */
struct lists_value {
	uint8_t a[4];
	const char *txt;
};

struct lists;

/* Read paths[0..n-1]. Bad lines are reported and skipped; a file that cannot be read
 * is reported and makes the call fail with its negative errno (a reload then keeps the
 * old lists). On success *out is a new structure (lists_free), possibly empty. */
int lists_load(const char *const *paths, size_t n, lists_report_fn report, void *arg,
	       struct lists **out);

enum lists_match {
	LISTS_MISS = 0,     /* in no list */
	LISTS_LISTED = 1,   /* *val is set */
	LISTS_EXCLUDED = 2, /* a "!" entry: never listed, never looked up */
};

/* Longest-prefix match of ip. Never allocates. lists may be NULL (= no list). */
enum lists_match lists_match(const struct lists *lists, const struct ipaddr *ip,
			     const struct lists_value **val);

/* Number of entries read (after skipping bad lines), for logs and tests. */
size_t lists_count(const struct lists *lists);

void lists_free(struct lists *lists);

#endif
