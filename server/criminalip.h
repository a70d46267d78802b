/* criminalip.c - the Criminal IP asset report: request, response, classification.
 *
 * criminalip_parse() turns a response (HTTP code + body, doc/criminalip.md#reading-a-response) into a compact
 * facts record or an error outcome; criminalip_classify() turns facts into the
 * categories of doc/criminalip.md#classification. All of it is pure (no loop, no I/O, no logging): unit
 * tests and the fuzzer call it directly, and criminalip_backend.c runs it on the
 * thread pool. */
#ifndef THREATBL_CRIMINALIP_H
#define THREATBL_CRIMINALIP_H

#include <stddef.h>
#include <stdint.h>

#include "provider.h"
#include "verdict.h"

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
	/* ip_category entries of these types, younger than max-stale */
	CIP_CAT_VPN = 1u << 12,
	CIP_CAT_TOR = 1u << 13,
	CIP_CAT_PROXY = 1u << 14,
	CIP_CAT_HOSTING = 1u << 15,
	CIP_CAT_SCANNER = 1u << 16,
	/* the is_* flags above were read from "tags" (a report without "issues") */
	CIP_FROM_TAGS = 1u << 17,
};
#define CIP_NFLAGS 18

/* The ip_category types read, in the order of cat_time below. */
enum { CIP_CAT_I_VPN, CIP_CAT_I_TOR, CIP_CAT_I_PROXY, CIP_CAT_I_HOSTING, CIP_CAT_I_SCANNER,
       CIP_NCAT };

/* Score scale: 0 unknown, 1 Safe, 2 Low, 3 Moderate, 4 Dangerous, 5 Critical. */
struct cip_facts {
	uint32_t flags;
	uint8_t score_in, score_out;
	char vpn_name[64];       /* first VPN name seen, "" if none */
	char evidence[128];      /* how the tcp/443 OpenVPN was recognised, "" if not */
	int tcp443_open;         /* the newest tcp/443 entry is open, whatever it names (a
				  * reason for the probe; not part of the stored facts) */
	char cat_time[CIP_NCAT][32]; /* confirmed_time of the newest ip_category entry
				      * of each type counted, "" if none or none given */
};

/* Longest base URL accepted, so that a request URL always fits on the stack. */
#define CIP_MAX_BASE 1024

/* Largest body read by default ([intel] max-report-size): real reports pass 4 MiB. */
#define CIP_MAX_BODY (32u << 20)

/* What a response is judged against. Every member may be 0 / NULL. */
struct cip_ask {
	const struct ipaddr *ip;  /* the address asked: a report naming another is unusable */
	const char *key;          /* the API key: redacted from details and facts */
	int64_t now;              /* unix seconds; with max_stale_s, ip_category entries */
	uint32_t max_stale_s;     /* older than this do not count */
};

/* Judge one response. Returns the outcome; with PROVIDER_OK *facts is filled. The
 * report's ip is not checked, nor the age of ip_category entries. */
enum provider_outcome criminalip_parse(long http_status, const char *body, size_t len,
				       struct cip_facts *facts);

/* criminalip_parse() with what was asked (ask may be NULL) and the reason: detail (may
 * be NULL) gets a short printable reason for logs, made of the HTTP code, the body's
 * status and a sanitised message with ask->key redacted; *refused (may be NULL) is set
 * to 1 when the outcome is PROVIDER_TROUBLE although the service answered cleanly with
 * a 4xx error object (for an IPv6 address that means "not supported"). A success that
 * names another address than ask->ip, or carries none of the blocks the classifier
 * reads, is PROVIDER_UNUSABLE. The body is read keeping only what the classifier
 * needs (jsonfilter.c), so a large report costs little more memory than its text. */
enum provider_outcome criminalip_judge(const struct cip_ask *ask, long http_status,
				       const char *body, size_t len, struct cip_facts *facts,
				       char *detail, size_t dsize, int *refused);

/* Unix time in ms of a confirmed_time: "YYYY-MM-DD HH:MM:SS", ISO 8601 ("T", fractional
 * seconds, "Z" or a +HH:MM / +HHMM / +HH offset; no offset is UTC) or a date alone.
 * Returns 0, or -EINVAL when text is none of these. */
int criminalip_time(const char *text, size_t len, int64_t *ms);

/* Replace with '*', in s (len bytes), every case-insensitive copy of key and every run
 * of 8 or more characters of it (the whole key when it is shorter). */
void criminalip_redact(char *s, size_t len, const char *key);

/* Categories (VERDICT_BIT()s) of the facts. */
uint8_t criminalip_classify(const struct cip_facts *facts);

/* The facts as one compact JSON object, for the store. Returns the length, or -ENOSPC
 * when buf is too small. */
int criminalip_facts_json(const struct cip_facts *facts, char *buf, size_t size);

/* The reverse of criminalip_facts_json(), so that stored facts can be classified
 * again. Unknown flag names and fields are ignored. Returns 0 or -EINVAL. */
int criminalip_facts_from_json(const char *json, struct cip_facts *facts);

/* The evidence behind each category of the facts, as "field=value" text, in category
 * order: fn(arg, category, text) once per piece (text is valid during the call). The
 * same lines for stored facts and a fresh report. */
typedef void (*cip_explain_fn)(void *arg, enum verdict_cat cat, const char *text);
void criminalip_explain(const struct cip_facts *facts, cip_explain_fn fn, void *arg);

/* The request URL for ip under base (no key in it). Returns length or -ENOSPC. */
int criminalip_url(const char *base, const struct ipaddr *ip, char *buf, size_t size);


#endif
