/* abuseipdb.c - AbuseIPDB as a provider (see abuseipdb.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "abuseipdb.h"
#include "provider_json.h"
#include "verdict.h"

int abuseipdb_url(const char *base, const struct ipaddr *ip, char *buf, size_t size)
{
	char text[IPADDR_STRLEN], enc[3 * IPADDR_STRLEN];
	size_t j = 0;
	int n;

	ipaddr_format(ip, text);
	/* an IPv6 address's colons are escaped, as the API asks */
	for (size_t i = 0; text[i]; i++) {
		if (text[i] == ':') {
			memcpy(enc + j, "%3A", 3);
			j += 3;
		} else {
			enc[j++] = text[i];
		}
	}
	enc[j] = '\0';
	n = snprintf(buf, size, "%s/api/v2/check?ipAddress=%s&maxAgeInDays=90", base, enc);
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

/* The first error's detail of {"errors": [{"detail": ..., "status": N}]}, or NULL. */
static const char *error_detail(json_t *doc)
{
	json_t *e = json_array_get(json_object_get(doc, "errors"), 0);

	return json_is_object(e) ? provider_json_str(e, "detail") : NULL;
}

void abuseipdb_judge(const struct ipaddr *ip, unsigned scanner_score, long status,
		     const char *body, size_t len, struct provider_verdict *v)
{
	json_t *doc = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	json_t *data, *score;
	const char *addr, *usage, *msg;
	struct ipaddr got;
	long long sc = -1;
	int tor, n;

	memset(v, 0, sizeof(*v));
	if (!scanner_score)
		scanner_score = 75;
	if (status != 200) {
		msg = json_is_object(doc) ? error_detail(doc) : NULL;
		provider_json_error(status, msg, v);
		goto out;
	}
	data = json_object_get(doc, "data");
	if (!json_is_object(data)) {
		v->outcome = doc ? PROVIDER_UNUSABLE : PROVIDER_TROUBLE;
		snprintf(v->detail, sizeof(v->detail), doc ? "HTTP 200 without a data object"
			 : "HTTP 200 with a body that is not JSON");
		goto out;
	}
	addr = provider_json_str(data, "ipAddress");
	if (ip && (!addr || ipaddr_parse(&got, addr) < 0 || ipaddr_cmp(&got, ip) != 0)) {
		v->outcome = PROVIDER_UNUSABLE;
		snprintf(v->detail, sizeof(v->detail), "a report about %.60s, not the address "
			 "asked", addr ? addr : "no address");
		goto out;
	}
	score = json_object_get(data, "abuseConfidenceScore");
	if (json_is_integer(score))
		sc = json_integer_value(score);
	usage = provider_json_str(data, "usageType");
	tor = provider_json_bool(data, "isTor");
	v->outcome = PROVIDER_OK;
	if (tor == 1)
		v->mask |= VERDICT_BIT(VERDICT_TOR);
	if (usage && strcmp(usage, ABUSEIPDB_HOSTING) == 0)
		v->mask |= VERDICT_BIT(VERDICT_HOSTING);
	if (sc >= (long long)scanner_score)
		v->mask |= VERDICT_BIT(VERDICT_SCANNER);
	/* the facts behind it: small, and printable (json_dumps escapes) */
	{
		json_t *f = json_object();
		char *text;

		json_object_set_new(f, "abuseConfidenceScore", json_integer(sc < 0 ? 0 : sc));
		json_object_set_new(f, "usageType", usage ? json_string(usage) : json_null());
		json_object_set_new(f, "isTor", json_boolean(tor == 1));
		if (json_is_integer(json_object_get(data, "totalReports")))
			json_object_set(f, "totalReports", json_object_get(data, "totalReports"));
		text = json_dumps(f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
		n = text ? snprintf(v->facts, sizeof(v->facts), "%s", text) : -1;
		if (n < 0 || (size_t)n >= sizeof(v->facts))
			v->facts[0] = '\0';
		free(text);
		json_decref(f);
	}
	snprintf(v->detail, sizeof(v->detail), "score %lld, usage %.60s%s", sc,
		 usage ? usage : "none", tor == 1 ? ", tor" : "");
out:
	/* the service's words (an address, a usage type) may be any UTF-8; the facts are
	 * ASCII JSON (JSON_ENSURE_ASCII) where only a DEL can be left raw, inside a string */
	provider_json_printable(v->detail);
	provider_json_printable(v->facts);
	json_decref(doc);
}

static const struct provider_http_ops abuseipdb_ops = {
	.url = abuseipdb_url,
	.judge = abuseipdb_judge,
	.key_header = "Key: ",
};

int abuseipdb_open(uv_loop_t *loop, const struct config *cfg, const char *api_key,
		   struct provider_backend *out)
{
	struct config_prov p;
	struct provider_http_settings set;

	if (!cfg || config_provider_get(cfg, provider_find("abuseipdb"), &p) < 0 || !p.url)
		return -EINVAL;
	set = (struct provider_http_settings){
		.url = p.url, .timeout_ms = (long)p.timeout_ms, .param = p.scanner_score,
	};
	return provider_http_backend(loop, &abuseipdb_ops, &set, api_key, out);
}
