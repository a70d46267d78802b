/* counters.h - what one answering loop counts, read by the stats of the whole server.
 *
 * Every answering loop (the main loop and each worker of `threads`; host.h) owns one
 * struct counters in its host. Only that loop's thread writes it; any thread may read
 * it (the control socket's `stats`, the Prometheus exposition). A shared atomic
 * counter per query would put a locked instruction and a contended cache line on the
 * answer path; instead each counter has one writer and is stored with a relaxed
 * atomic store of load+1 (a plain load, add and store on x86-64 and arm64: no lock
 * prefix), which is enough for a reader on another thread to see whole, monotonic
 * values (C11 7.17: no torn reads, no data race for ThreadSanitizer). Readers add the
 * loops' values together; a total may lag the truth by the queries in flight.
 *
 * The labels these counters carry in `threatbl stats` and /metrics are in
 * doc/operations.md#counters. */
#ifndef THREATBL_COUNTERS_H
#define THREATBL_COUNTERS_H

#include <stdint.h>

#include "verdict.h"

enum ctr_transport { CTR_UDP, CTR_TCP, CTR_NTRANSPORT };

/* The answer a query got, as an operator reads it (dns.c sets it). */
enum ctr_answer {
	CTR_ANS_LISTED,  /* A/TXT records from a verdict of the lookups */
	CTR_ANS_CLEAN,   /* an IP under the zone that is not listed: no list, a "!" line
			  * of one, a clean verdict, a reserved address, the test entry
			  * 127.0.0.1. NXDOMAIN, or the zone's `clean` record, or NOERROR
			  * without records for a 4.3.2.1.zone name (dns.h: also an IPv6
			  * prefix, so never NXDOMAIN) */
	CTR_ANS_UNKNOWN, /* the zone's `unknown` answer: no verdict by the deadline, or
			  * the service could not judge the IP */
	CTR_ANS_STATIC,  /* A/TXT records from a static list, a feed alone, an
			  * operator's `add` override, or the RFC 5782 test entry
			  * 127.0.0.2 */
	CTR_ANS_NODATA,  /* NOERROR without records for the type asked (RFC 2308): a
			  * listed IP asked for MX, the apex asked for A, an empty
			  * non-terminal */
	CTR_ANS_REFUSED, /* REFUSED: outside our zones, another class, or allow-query */
	CTR_ANS_OTHER,   /* the zone's own records (SOA, NS, apex), a name under the
			  * zone that is no IP (NXDOMAIN), FORMERR, NOTIMP, NOTAUTH,
			  * BADVERS, SERVFAIL of an answer too large for TCP */
	CTR_NANSWER
};

/* What the verdict cache said about the IP of a query that reached it. */
enum ctr_cache { CTR_CACHE_HIT, CTR_CACHE_MISS, CTR_CACHE_STALE, CTR_NCACHE };

struct counters {
	/* Answers made, by transport and the header's 4-bit RCODE (BADVERS, extended
	 * RCODE 16, has 0 there: it is also an `other` answer). A query given no
	 * answer (not DNS, a UDP datagram cut short) is in none; an answer the
	 * kernel did not take is also in the transport's own `dropped`. */
	uint64_t queries[CTR_NTRANSPORT][16];
	uint64_t answers[CTR_NANSWER];        /* the same answers, by kind */
	uint64_t listed[VERDICT_NCAT];        /* listed answers, once per category */
	/* Queries whose IP reached the verdict cache, once per query: a query that
	 * waited for a lookup counts as the miss (or stale) it was on arrival. */
	uint64_t cache[CTR_NCACHE];
};

/* The names of the kinds, the cache's results and the RCODEs (0-16; "RCODE11" for
 * the unassigned ones; NULL past 16), as the stats, the log and the query log write
 * them. Static strings. */
const char *counters_answer_name(unsigned kind);
const char *counters_cache_name(unsigned result);
const char *counters_rcode_name(unsigned rcode);

/* One writer (the owning loop's thread). */
static inline void counter_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Any thread. */
static inline uint64_t counter_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif
