/* zone.c - the zones a server answers for, built once from the configuration.
 *
 * zoneset_build() turns each [zone NAME] section into everything the answer path
 * needs ready-made: the apex name in wire form, the SOA and NS RDATA (parsed with
 * ldns from the configured text), the TTLs, each category's A address and TXT
 * template, and the zone's static lists (lists.c). dns.c then only copies bytes.
 * A zoneset is immutable once built: a reload builds a new one off the loop thread
 * and swaps the pointer. */
#ifndef THREATBL_ZONE_H
#define THREATBL_ZONE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "lists.h"
#include "verdict.h"

/* A category as answered: the A RDATA and the TXT template split at '$'. */
struct zone_cat {
	int enabled;
	uint8_t a[4];
	const char *txt; /* template, "" = no TXT record; owned by the zone */
	size_t txt_len;
};

/* A compression pointer in an RDATA template, patched per answer: it points at
 * `target` bytes after the apex inside the question (ZONE_PTR_APEX) or after the
 * start of the RDATA itself (ZONE_PTR_RDATA). */
enum zone_ptr_base { ZONE_PTR_APEX, ZONE_PTR_RDATA };

struct zone_ptr {
	uint16_t at;             /* offset of the pointer in the template */
	uint16_t target;
	enum zone_ptr_base base;
};

/* A feed a zone serves ([zone] feeds, feed.c): its entries answer as the feed's
 * category, with ZONE_FEED_TXT after the category's TXT. */
struct zone_feed {
	size_t cfg_index;        /* in the building config's feeds[] */
	/* The feed's current list, swapped by the lookup thread under the write side of
	 * the shared lock (feed.h); NULL until zone_bind_feeds or while the feed has no
	 * copy. Read through it under the read side only. */
	struct lists *const *lists;
	uint8_t cat;             /* enum verdict_cat */
	struct zone_cat zc;      /* the category's A; its TXT with the feed's name */
};

struct zone {
	char *name;              /* "bl.example.org", lowercase, for logs */
	uint8_t apex[256];       /* wire form, lowercase */
	size_t apex_len;
	unsigned apex_labels;    /* labels, the root excluded */
	uint8_t *soa_rdata;      /* mname rname serial refresh retry expire minimum */
	size_t soa_rdata_len;
	/* soa_rdata with MNAME and RNAME compressed where they end like the apex (or
	 * RNAME like MNAME): what answers carry, after the pointers are patched. */
	uint8_t *soa_tpl;
	size_t soa_tpl_len;
	struct zone_ptr soa_ptr[2];
	unsigned soa_nptr;
	uint8_t *ns_rdata;       /* the NS names in wire form, one after another */
	size_t *ns_len;          /* length of each */
	size_t nns;
	uint32_t ttl, negative_ttl, unknown_ttl;
	enum config_unknown unknown;
	struct zone_cat cat[VERDICT_NCAT];
	struct zone_cat clean;   /* enabled = 0: clean IPs get NXDOMAIN */
	/* openvpn443 as answered when threatbl's own probe found it (VERDICT_F_PROBED):
	 * the same A, the TXT template with ZONE_PROBED_TXT after it. */
	struct zone_cat probed;
	uint8_t enabled_mask;    /* VERDICT_BIT() of every enabled category */
	struct lists *lists;     /* may be NULL */
	char **list_paths;       /* the files lists was read from, in order (the lookup
				  * page finds an entry's line in them); NULL when none */
	size_t nlist_paths;
	struct zone_feed *feeds; /* the feeds it serves, configuration order */
	size_t nfeeds;
};

#define ZONE_PROBED_TXT " (confirmed by probe)"
/* After a feed hit's TXT: " (feed NAME)". */
#define ZONE_FEED_TXT " (feed %s)"

struct zoneset {
	struct zone *zones;
	size_t n;
	uint32_t serial;         /* every zone's SOA serial (doc/dns.md#the-soa-serial) */
	/* [server] identity with %h expanded: the CH TXT id.server / hostname.bind
	 * answer and the NSID payload. identity_len 0: neither is answered. Kept here
	 * because the zoneset is what the loops already read under the shared lock and
	 * swap on reload: no other pointer to follow, nothing to allocate per query. */
	char identity[CONFIG_IDENTITY_MAX + 1];
	size_t identity_len;
	/* The zones again, the longest apex first: the first match is the longest. */
	const struct zone **by_len;
};

/* Problems are reported like config_report_fn (severity, FILE:LINE: message). */
typedef config_report_fn zone_report_fn;

/* Build every zone of cfg; reads the static lists (so call
 * it off the loop thread once the server runs). Bad list lines are reported and
 * skipped; a bad SOA/NS or an unreadable list fails the build with -EINVAL / -errno.
 * SOA and NS names not ending in '.' are taken relative to the zone, as in a zone
 * file. Every problem is reported (one run shows them all) before the build fails.
 * On success *out is new (zoneset_free); on failure *out is untouched.
 * The SOA serial follows cfg->serial_mode: TIME takes `serial` (the caller's clock),
 * FIXED cfg->serial_fixed, CONTENT fleet_content_serial() of what was built, so that
 * nodes with the same zones and lists answer the same serial whenever they loaded.
 * cfg->identity is expanded (%h = gethostname()) into zs->identity; a result over
 * CONFIG_IDENTITY_MAX bytes fails the build with -ENAMETOOLONG, reported. */
int zoneset_build(const struct config *cfg, uint32_t serial, zone_report_fn report,
		  void *arg, struct zoneset **out);

void zoneset_free(struct zoneset *zs);

/* Point every zone feed of zs at its list: lists_of(arg, name) gives the address of
 * that feed's list pointer (feed_table_bind), or NULL to leave it unserved. Before zs
 * is published to the answering loops (main loop, reload_adopt). */
void zoneset_bind_feeds(struct zoneset *zs, const struct config *cfg,
			struct lists *const *(*lists_of)(void *arg, const char *name),
			void *arg);

/* The zone whose apex is the longest suffix of the wire name `name` (any case, len
 * bytes including the root label, at most 255), or NULL. *apex_off is the offset of
 * the apex within name. Never allocates. */
const struct zone *zoneset_find(const struct zoneset *zs, const uint8_t *name, size_t len,
				size_t *apex_off);

/* The same for a name already walked: label_off[0..nlabels] are where its labels
 * start, label_off[nlabels] being its root label (qname_scan's struct qname_labels).
 * Each zone is tried at the one label that would start its apex, longest apex
 * first, comparing 8 bytes at a time with ASCII case folded. */
const struct zone *zoneset_match(const struct zoneset *zs, const uint8_t *name,
				 const uint8_t *label_off, unsigned nlabels, size_t *apex_off);

#endif
