/* explain.c - everything threatbld knows about one address, for the lookup page.
 *
 * explain_ip() gathers, for one IP: each zone's static-list match (with the file and
 * line of the entry that decides it), the verdict in memory (categories, when it was
 * checked, until when it is fresh, when it will be asked again), and from the
 * database the source, the stored facts turned into evidence per category and
 * threatbl's own probe of tcp/443. It never asks a provider and never waits on one:
 * memory under the read side of the shared lock (held only to copy), then the local
 * database and the list files, read on the caller's thread (the page's HTTP thread,
 * never a loop thread). */
#ifndef THREATBL_EXPLAIN_H
#define THREATBL_EXPLAIN_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "shared.h"
#include "verdict.h"

#define EXPLAIN_ZONES_MAX 16
#define EXPLAIN_EVIDENCE_MAX 32
#define EXPLAIN_LISTS_MAX 16
#define EXPLAIN_FEEDS_MAX 8
/* List files larger than this (together) are not searched for the entry's line. */
#define EXPLAIN_SCAN_MAX (64u << 20)

struct store;

enum explain_list {
	EXPLAIN_NOT_LISTED,
	EXPLAIN_LISTED,   /* a static list entry lists it */
	EXPLAIN_EXCLUDED, /* a "!" entry: never listed, never looked up */
};

struct explain_zone {
	char name[256];
	enum explain_list list;
	uint8_t a[4];                 /* EXPLAIN_LISTED: the entry's A */
	char txt[600];                /* EXPLAIN_LISTED: its TXT with '$' expanded */
	char file[PATH_MAX];          /* the list file of the entry, "" when not found */
	unsigned line;                /* its line, 0 when not found */
	char entry[128];              /* the entry as written */
	uint8_t enabled_mask;         /* categories this zone answers */
	struct {
		uint8_t cat;          /* enum verdict_cat */
		char txt[256];        /* the feed's TXT ("Tor exit node (feed tor)") */
	} feed[EXPLAIN_FEEDS_MAX];    /* the feeds of the zone that hold the address */
	size_t nfeed;
	char *paths[EXPLAIN_LISTS_MAX]; /* private: copied under the lock */
	size_t npaths;
};

struct explain_evidence {
	enum verdict_cat cat;
	char text[200];
};

struct explain {
	struct ipaddr ip;
	char ip_text[46];
	uint32_t now;
	int reserved;                 /* a reserved range: never looked up by default */
	int lookups;                  /* a provider is configured */
	uint8_t feed_skip;            /* [intel] skip-when (dns_env.feed_skip) */
	int has_verdict;              /* a verdict is in memory */
	struct verdict v;
	uint32_t fresh_until;         /* v.checked + fresh */
	uint32_t stale_until;         /* v.checked + max-stale */
	char source[64];              /* from the database, "" when unknown */
	int has_probe;
	char probe[32];               /* "confirmed", "not-openvpn", "unconfirmed" */
	uint32_t probe_when;
	struct explain_evidence evidence[EXPLAIN_EVIDENCE_MAX];
	size_t nevidence;
	struct explain_zone zones[EXPLAIN_ZONES_MAX];
	size_t nzones;
	/* The operator's override deciding the address (override.h): -1 none */
	int ovr_kind;                 /* OVERRIDE_ALLOW, OVERRIDE_ADD */
	int ovr_cat;                  /* OVERRIDE_ADD: enum verdict_cat */
	char ovr_reason[208];         /* "" when none was given (or not in a database) */
	char ovr_prefix[56];          /* the override's prefix ("192.0.2.0/24"), "" unknown */
	uint32_t ovr_created;         /* 0: unknown */
};

/* Fill *out for ip. st may be NULL (no database: no source, facts or probe). 0, or
 * -ENOMEM; what cannot be read (a list file gone, the database busy) is left empty. */
int explain_ip(struct shared *sh, struct store *st, const struct ipaddr *ip,
	       struct explain *out);

/* What a category means for a message that came from such an address: one sentence
 * for the page. */
const char *explain_cat_meaning(enum verdict_cat cat);

/* A category's display name ("VPN exit", "Tor exit node", ...). */
const char *explain_cat_title(enum verdict_cat cat);

#endif
