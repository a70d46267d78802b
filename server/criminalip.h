/* criminalip.c - the Criminal IP asset report: request, response, classification.
 *
 * criminalip_parse() turns a response (HTTP code + body, CRIMINALIP.md) into a compact
 * facts record or an error outcome; criminalip_classify() turns facts into the
 * categories of CONTRACT.md §4. All of it is pure (no loop, no I/O, no logging): unit
 * tests and the fuzzer call it directly, and criminalip_backend.c runs it on the
 * thread pool. */
#ifndef THREATBL_CRIMINALIP_H
#define THREATBL_CRIMINALIP_H

#include <stddef.h>
#include <stdint.h>

#include "provider.h"

enum cip_flag {
	CIP_IS_VPN = 1u << 0,
	CIP_IS_CLOUD = 1u << 1,
	CIP_IS_TOR = 1u << 2,
	CIP_IS_PROXY = 1u << 3,
	CIP_IS_HOSTING = 1u << 4,
	CIP_IS_MOBILE = 1u << 5,
	CIP_IS_DARKWEB = 1u << 6,
	CIP_IS_SCANNER = 1u << 7,
	CIP_IS_SNORT = 1u << 8,
	CIP_IS_ANONYMOUS_VPN = 1u << 9,
	CIP_HAS_VPN_BLOCK = 1u << 10,      /* non-empty "vpn" or "anonymous_vpn" data */
	CIP_OPENVPN_443 = 1u << 11,        /* newest tcp/443 entry open and naming OpenVPN */
};

/* Score scale: 0 unknown, 1 Safe, 2 Low, 3 Moderate, 4 Dangerous, 5 Critical. */
struct cip_facts {
	uint32_t flags;
	uint8_t score_in, score_out;
	char vpn_name[64];       /* first VPN name seen, "" if none */
	char evidence[128];      /* how the tcp/443 OpenVPN was recognised, "" if not */
};

/* Longest base URL accepted, so that a request URL always fits on the stack. */
#define CIP_MAX_BASE 1024

/* Largest body read (CRIMINALIP.md: documents can be large). */
#define CIP_MAX_BODY (4u << 20)

/* Judge one response. Returns the outcome; with PROVIDER_OK *facts is filled. */
enum provider_outcome criminalip_parse(long http_status, const char *body, size_t len,
				       struct cip_facts *facts);

/* criminalip_parse() with the reason: detail (may be NULL) gets a short printable
 * reason for logs, made of the HTTP code, the body's status and a sanitised message;
 * *refused (may be NULL) is set to 1 when the outcome is PROVIDER_TROUBLE although the
 * service answered cleanly with a 4xx error object (for an IPv6 address that means
 * "not supported"). */
enum provider_outcome criminalip_judge(long http_status, const char *body, size_t len,
				       struct cip_facts *facts, char *detail, size_t dsize,
				       int *refused);

/* criminalip_judge() for a body it may change: bytes that are not UTF-8 are mended
 * in place rather than in a copy. */
enum provider_outcome criminalip_judge_owned(long http_status, char *body, size_t len,
					     struct cip_facts *facts, char *detail, size_t dsize,
					     int *refused);

/* Categories (VERDICT_BIT()s) of the facts. */
uint8_t criminalip_classify(const struct cip_facts *facts);

/* The facts as one compact JSON object, for the store. Returns the length, or -ENOSPC
 * when buf is too small. */
int criminalip_facts_json(const struct cip_facts *facts, char *buf, size_t size);

/* The reverse of criminalip_facts_json(), so that stored facts can be classified
 * again. Unknown flag names and fields are ignored. Returns 0 or -EINVAL. */
int criminalip_facts_from_json(const char *json, struct cip_facts *facts);

/* The request URL for ip under base (no key in it). Returns length or -ENOSPC. */
int criminalip_url(const char *base, const struct ipaddr *ip, char *buf, size_t size);


#endif
