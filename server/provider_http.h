/* provider_http.c - a provider_backend for services that answer one small JSON
 * document per IP over HTTPS (AbuseIPDB, ipinfo).
 *
 * One GET per lookup through http.c, the key only in a header (never in the URL), the
 * answer judged on the loop thread (these answers are a few hundred bytes: no trip
 * through the thread pool, unlike Criminal IP's reports), the key redacted from what
 * is logged. A provider's file supplies its URL and its judge; this file does the
 * rest. Loop thread only. */
#ifndef THREATBL_PROVIDER_HTTP_H
#define THREATBL_PROVIDER_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ipaddr.h"
#include "provider.h"

/* Largest answer read: these services answer in well under a kilobyte. */
#define PROVIDER_HTTP_MAX_BODY (64u << 10)
/* Longest base URL accepted, so that a request URL always fits on the stack. */
#define PROVIDER_HTTP_MAX_BASE 1024

/* What one answer came to, filled by a judge. */
struct provider_verdict {
	enum provider_outcome outcome;
	uint8_t mask;            /* VERDICT_BIT()s with PROVIDER_OK */
	char facts[512];         /* compact JSON facts with PROVIDER_OK; "" when none */
	char detail[160];        /* a short printable reason for logs */
};

/* A service's own part. */
struct provider_http_ops {
	/* The request URL for ip under base, without the key. Length or -ENOSPC. */
	int (*url)(const char *base, const struct ipaddr *ip, char *buf, size_t size);
	/* Judge one answer (status 0: none) for ip, into v. param: the provider's own
	 * setting (AbuseIPDB's scanner-score). Pure: no I/O. */
	void (*judge)(const struct ipaddr *ip, unsigned param, long status, const char *body,
		      size_t len, struct provider_verdict *v);
	/* The header carrying the key, up to the key: "Key: ", "Authorization: Bearer ". */
	const char *key_header;
};

struct provider_http_settings {
	const char *url;        /* base URL, http:// or https:// */
	long timeout_ms;        /* bounds one call */
	unsigned param;         /* handed to ops->judge */
};

/* What every HTTP provider keeps of its settings (this file's backend and Criminal
 * IP's, criminalip_backend.c): the base URL, without a trailing slash, and the key
 * with the header line that carries it. The key is wiped when freed. */
struct provider_http_key {
	char *base;
	char *key;          /* only to keep it out of what is logged */
	char *key_header;   /* header + key */
};

/* Check url (http:// or https://, at most max_base bytes) and key (apikey_clean: the
 * rule of -t and the start, since it goes into a header) and copy them, the key after
 * header ("Key: "). 0, -EINVAL, -ENAMETOOLONG or -ENOMEM; on error k holds nothing. */
int provider_http_key_init(struct provider_http_key *k, const char *url, size_t max_base,
			   const char *header, const char *key);
void provider_http_key_free(struct provider_http_key *k);

/* A backend for ops (static, must outlive it) with set (copied) and key (copied,
 * checked with apikey_clean). 0 or a negative errno (-EINVAL for a bad URL or key).
 * Its name and source are left NULL: provider_open sets them. */
int provider_http_backend(uv_loop_t *loop, const struct provider_http_ops *ops,
			  const struct provider_http_settings *set, const char *key,
			  struct provider_backend *out);

/* For judges: sanitise text (len bytes) into detail as printable ASCII, at most
 * dsize - 1 bytes, prefixed by "HTTP status: ". */
void provider_http_detail(char *detail, size_t dsize, long status, const char *text,
			  size_t len);

#endif
