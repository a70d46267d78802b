/* verdict.h - what threatbl knows about one IP: its categories and when it learnt them.
 *
 * Shared by cache.c (memory), store.c (sqlite), intel.c (lookups), criminalip.c
 * (classification) and dns.c (answers). The category order is the order of the
 * A and TXT records in an answer and of the 127.0.0.x defaults (doc/dns.md#categories-and-a-and-txt-records). */
#ifndef THREATBL_VERDICT_H
#define THREATBL_VERDICT_H

#include <stdint.h>

enum verdict_cat {
	VERDICT_VPN,
	VERDICT_OPENVPN443,
	VERDICT_HOSTING,
	VERDICT_TOR,
	VERDICT_PROXY,
	VERDICT_SCANNER,
	VERDICT_NCAT
};

#define VERDICT_BIT(cat) ((uint8_t)(1u << (cat)))
#define VERDICT_ALL ((uint8_t)((1u << VERDICT_NCAT) - 1))

/* Flags of a verdict. */
enum {
	/* The service could not judge the IP (e.g. "Invalid IP Address."): no categories
	 * are known, the IP is answered `unknown` and not asked again before the
	 * retry time. Never stored as clean. */
	VERDICT_F_UNKNOWN = 1u << 0,
	/* The openvpn443 category comes from threatbl's own probe (probe.c), not from
	 * the report: a refreshed report keeps it until the probe says otherwise, and
	 * its TXT says so. */
	VERDICT_F_PROBED = 1u << 1,
};

/* A VERDICT_F_UNKNOWN entry is not asked about again before this many seconds. */
#define VERDICT_UNKNOWN_RETRY_S (24 * 3600)

struct verdict {
	uint8_t mask;     /* VERDICT_BIT()s; 0 with no flag = clean */
	uint8_t flags;    /* VERDICT_F_* */
	uint32_t checked; /* unix time of the lookup that produced it */
};

/* The configuration key of a category ("vpn", "openvpn443", ...). */
static inline const char *verdict_cat_name(enum verdict_cat cat)
{
	static const char *const names[VERDICT_NCAT] = {
		"vpn", "openvpn443", "hosting", "tor", "proxy", "scanner",
	};
	return (unsigned)cat < VERDICT_NCAT ? names[cat] : "?";
}

#endif
