/* ipinfo.c - ipinfo's privacy detection as a provider (doc/providers.md#ipinfo).
 *
 * GET /IP/privacy with the token as "Authorization: Bearer TOKEN" (never in the URL).
 * ipinfo_judge() reads the privacy flags, either the /IP/privacy answer itself or the
 * "privacy" object of a full /IP answer: vpn -> vpn, proxy and relay -> proxy, tor ->
 * tor, hosting -> hosting; the named service goes into the facts. Pure except
 * ipinfo_open, which makes a provider_http backend of it. */
#ifndef THREATBL_IPINFO_H
#define THREATBL_IPINFO_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "provider.h"
#include "provider_http.h"

int ipinfo_url(const char *base, const struct ipaddr *ip, char *buf, size_t size);

/* Judge one answer (ip and param are unused: the privacy answer names no address).
 * 200 with the flags: PROVIDER_OK; a bogon or no flags: PROVIDER_UNUSABLE; 401/403
 * (unknown token, or a plan without privacy): PROVIDER_BAD_KEY; 404 (wrong ip):
 * PROVIDER_INVALID_IP; 429: PROVIDER_LIMIT; 5xx, malformed: PROVIDER_TROUBLE. */
void ipinfo_judge(const struct ipaddr *ip, unsigned param, long status, const char *body,
		  size_t len, struct provider_verdict *v);

int ipinfo_open(uv_loop_t *loop, const struct config *cfg, const char *api_key,
		struct provider_backend *out);

#endif
