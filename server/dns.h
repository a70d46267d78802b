/* dns.c - one DNS query in, one answer out; no sockets, no loop, no allocation.
 *
 * The transports (udp.c, tcp.c) hand dns_handle() the bytes of a query and a buffer.
 * It answers from the static lists and the verdict cache through the zone's ready-made
 * data, or says DNS_WAIT when the IP needs a lookup first: the transport then parks
 * the query with intel.c and calls dns_handle() again, with DNS_NOWAIT, once the
 * verdict is in or the deadline has passed. Being transport-agnostic is what makes it
 * unit-testable and fuzzable. */
#ifndef THREATBL_DNS_H
#define THREATBL_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "counters.h"
#include "ipaddr.h"
#include "zone.h"

/* What dns_handle reads; owned by the server, the pointers swapped on reload. */
struct override_set;

struct dns_env {
	const struct zoneset *zones;
	const struct cache *cache;   /* NULL: no verdicts */
	uint32_t now;                /* unix time, set by the transport per batch */
	uint32_t fresh_s;            /* verdicts younger than this are answered as is */
	uint32_t max_stale_s;        /* older, up to this: answered and refreshed */
	uint32_t unknown_retry_s;    /* a VERDICT_F_UNKNOWN entry is not asked again before */
	int lookups;                 /* 0: no provider, an IP without verdict is clean */
	int lookup_reserved;         /* 1: reserved ranges are looked up too */
	uint8_t feed_skip;           /* [intel] skip-when: a feed hit of these categories
				      * is answered without a lookup */
	/* Called for a stale verdict; must not block (intel_refresh). May be NULL. */
	void (*refresh)(void *arg, const struct ipaddr *ip);
	void *refresh_arg;
	/* The operator's overrides (override.h), consulted first; NULL: none. */
	const struct override_set *overrides;
};

enum dns_flags {
	DNS_TCP = 1u << 0,    /* no TC: the answer may use the whole buffer */
	DNS_NOWAIT = 1u << 1, /* an IP without verdict gets the zone's `unknown` answer */
	DNS_REFUSE = 1u << 2, /* the client may not query ([server] allow-query): REFUSED,
			       * with the question, whatever it asks */
};

enum dns_status {
	DNS_DROP,  /* send nothing */
	DNS_REPLY, /* send out[0..len) */
	DNS_WAIT,  /* look ip up, then call again with DNS_NOWAIT */
};

/* What was answered, for the counters and the query log (counters.h has the
 * definitions of the kinds); set with DNS_REPLY, and cache also with DNS_WAIT. */
struct dns_result {
	enum dns_status status;
	size_t len;
	struct ipaddr ip;    /* with DNS_WAIT */
	uint16_t rcode;      /* the full RCODE (16 = BADVERS, in the OPT record) */
	uint8_t kind;        /* enum ctr_answer */
	uint8_t cache;       /* enum ctr_cache; CTR_NCACHE: the cache was not asked */
	uint8_t cats;        /* VERDICT_BIT()s answered, with CTR_ANS_LISTED only */
};

/* Largest answer dns_handle writes over UDP when the query has no EDNS. */
#define DNS_UDP_MIN 512
/* Largest UDP payload advertised and accepted (RFC 9715 / DNS flag day 2020). */
#define DNS_UDP_MAX 1232

/* q/qlen: the query. out/outcap: the answer buffer (at least DNS_UDP_MAX bytes for
 * UDP, 65535 for TCP). Reads nothing past qlen, writes nothing past outcap; a
 * smaller buffer only makes answers TC (UDP) / SERVFAIL (TCP) or dropped.
 * With DNS_WAIT nothing is to be sent (out may hold scratch bytes).
 * One deviation from "not listed = NXDOMAIN": an IPv4 name of four one-digit labels
 * (4.3.2.1.Z) is also the first four nibbles of IPv6 names, so its negative answers
 * are NODATA rather than NXDOMAIN (RFC 8020), or strict QNAME minimisation could
 * not reach IPv6 names such as ::ffff:7f00:2 below it. */
void dns_handle(const struct dns_env *env, const uint8_t *q, size_t qlen, uint8_t *out,
		size_t outcap, unsigned flags, struct dns_result *res);

#endif
