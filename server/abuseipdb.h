/* abuseipdb.c - AbuseIPDB's v2 check endpoint as a provider (doc/providers.md#abuseipdb).
 *
 * GET /api/v2/check?ipAddress=IP&maxAgeInDays=90 with the key in the "Key" header.
 * abuseipdb_judge() turns an answer into an outcome, categories and facts:
 * data.isTor -> tor, data.usageType "Data Center/Web Hosting/Transit" -> hosting,
 * data.abuseConfidenceScore >= scanner-score -> scanner. Pure except abuseipdb_open,
 * which makes a provider_http backend of it. */
#ifndef THREATBL_ABUSEIPDB_H
#define THREATBL_ABUSEIPDB_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "provider.h"
#include "provider_http.h"

/* The usageType AbuseIPDB gives hosting and transit networks. */
#define ABUSEIPDB_HOSTING "Data Center/Web Hosting/Transit"

/* The request URL for ip under base (no key in it). Length or -ENOSPC. */
int abuseipdb_url(const char *base, const struct ipaddr *ip, char *buf, size_t size);

/* Judge one answer for ip (may be NULL: not checked) with the scanner threshold
 * (0: 75). 200 with a data object about ip: PROVIDER_OK; about another address or
 * without data: PROVIDER_UNUSABLE; 401/403: PROVIDER_BAD_KEY; 422: PROVIDER_INVALID_IP;
 * 429: PROVIDER_LIMIT (the daily quota); 5xx, other codes and malformed bodies:
 * PROVIDER_TROUBLE. */
void abuseipdb_judge(const struct ipaddr *ip, unsigned scanner_score, long status,
		     const char *body, size_t len, struct provider_verdict *v);

/* The provider table's open function: its [provider abuseipdb] settings. */
int abuseipdb_open(uv_loop_t *loop, const struct config *cfg, const char *api_key,
		   struct provider_backend *out);

#endif
