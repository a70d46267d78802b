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
 * old lists). On success *out is a new structure (lists_free), possibly empty.
 *
 * The format, whatever the file is named (rbldnsd ip4set, ip4trie and ip6trie):
 *   1.2.3.4  1.2.3.0/24  1.2.3 (=/24)  1.2 (=/16)  1 (=/8)  1.2.3.4-1.2.3.40
 *   1.2.3.4-40 (suffix of the last octet given)  2001:db8::/32  2001:db8::1
 *   !ENTRY                 exclusion: never listed (any value after it is ignored)
 *   ENTRY :A:TEXT | ENTRY :A | ENTRY TEXT | ENTRY     A is a.b.c.d or N = 127.0.0.N;
 *                          ":A" alone keeps the default TEXT, TEXT alone the default A
 *   :A:TEXT                default value for the entries after it, up to the end of
 *                          that file; each file starts with 127.0.0.2 and no text
 *   # ; comments, blank lines; "$..." directives are ignored with a warning.
 * Octets with leading zeros are read as decimal ("010" = 10), as rbldnsd does, with
 * one warning per file. Ranges are split into CIDR blocks. A CIDR with host bits
 * set is masked (warning). An IPv6 entry without "/len" must be followed by
 * whitespace before its value. The most specific prefix wins; for the same prefix
 * given twice the later line wins (files in order), silently. IPv6 prefixes that
 * cover ::ffff:0:0/96 apply to IPv4 as well, as less specific than any IPv4 entry. */
int lists_load(const char *const *paths, size_t n, lists_report_fn report, void *arg,
	       struct lists **out);

/* The default of [server] max-list-size: 1 GiB. */
#define LISTS_MAX_SIZE (1ull << 30)

/* lists_load with a cap: only regular files of at most max_bytes each are read (a
 * FIFO, a device or a directory fails with -EINVAL, a larger file with -EFBIG, both
 * reported without a line). lists_load uses LISTS_MAX_SIZE. */
int lists_load_max(const char *const *paths, size_t n, uint64_t max_bytes,
		   lists_report_fn report, void *arg, struct lists **out);

/* The same format from memory: text[0..len) (not changed, need not end in a NUL),
 * named `name` in reports (feed.c hands its downloads here). Lines over 4096 bytes
 * or with a NUL byte are reported and skipped. *skipped (may be NULL): how many lines
 * were skipped as bad, every one, including those past the cap on line reports.
 * 0 or -ENOMEM / -EINVAL. */
int lists_load_text(const char *name, const char *text, size_t len,
		    lists_report_fn report, void *arg, size_t *skipped, struct lists **out);
/* An entry given in memory rather than read from a file (the operator's overrides,
 * steer.c): net/len on the 16-byte scale (IPv4 /24 = 96 + 24; host bits are masked),
 * excl for a "!" entry, else the value a and the TXT template txt ('$' = the queried
 * IP, '$$' = '$'; NULL = none). */
struct lists_entry {
	struct ipaddr net;
	unsigned len;
	int excl;
	uint8_t a[4];
	const char *txt;
};

/* A structure of e[0..n) built as lists_load builds one from files (the most specific
 * prefix wins; for the same prefix the later entry). 0, -EINVAL (a length past 128)
 * or -ENOMEM; *out is new (lists_free). */
int lists_build(const struct lists_entry *e, size_t n, struct lists **out);

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

/* Sizes of the built structure, for logs and tests. */
struct lists_stats {
	size_t entries;    /* = lists_count() */
	size_t intervals4; /* rows of the IPv4 interval table */
	size_t intervals6; /* rows of the IPv6 interval table */
	size_t values;     /* distinct (A, TXT) values */
	size_t bytes;      /* memory held, roughly */
};
void lists_stats(const struct lists *lists, struct lists_stats *st);

void lists_free(struct lists *lists);

#endif
