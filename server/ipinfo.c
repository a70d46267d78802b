/* ipinfo.c - ipinfo as a provider (see ipinfo.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ipinfo.h"
#include "provider_json.h"
#include "verdict.h"

int ipinfo_url(const char *base, const struct ipaddr *ip, char *buf, size_t size)
{
	char text[IPADDR_STRLEN];
	int n;

	ipaddr_format(ip, text);
	n = snprintf(buf, size, "%s/%s/privacy", base, text);
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

/* The flags, in the order of the facts. */
static const struct {
	const char *key;
	enum verdict_cat cat;
} flags[] = {
	{ "vpn", VERDICT_VPN },
	{ "proxy", VERDICT_PROXY },
	{ "tor", VERDICT_TOR },
	{ "relay", VERDICT_PROXY },   /* a relay (iCloud Private Relay) hides the user */
	{ "hosting", VERDICT_HOSTING },
};

/* {"status": 403, "error": {"title": ..., "message": ...}}: its title and message. */
static void error_text(json_t *doc, char *buf, size_t size)
{
	json_t *e = json_object_get(doc, "error");
	const char *t = json_is_object(e) ? provider_json_str(e, "title") : NULL;
	const char *m = json_is_object(e) ? provider_json_str(e, "message") : NULL;

	if (!t && json_is_string(e))
		t = json_string_value(e);
	snprintf(buf, size, "%s%s%s", t ? t : "", t && m ? ": " : "", m ? m : "");
}

void ipinfo_judge(const struct ipaddr *ip, unsigned param, long status, const char *body,
		  size_t len, struct provider_verdict *v)
{
	json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *priv, *f = NULL;
	const char *service;
	char msg[128];
	char *text;
	int any = 0, b, n;

	(void)ip;
	(void)param;
	memset(v, 0, sizeof(*v));
	if (status != 200) {
		if (json_is_object(doc))
			error_text(doc, msg, sizeof(msg));
		else /* a 429 may be plain text */
			snprintf(msg, sizeof(msg), "%.*s", (int)(len < 100 ? len : 100),
				 body ? body : "");
		provider_json_error(status, msg, v);
		goto out;
	}
	if (!json_is_object(doc)) {
		v->outcome = PROVIDER_TROUBLE;
		snprintf(v->detail, sizeof(v->detail), "HTTP 200 with a body that is not JSON");
		goto out;
	}
	if (provider_json_bool(doc, "bogon") == 1) {
		v->outcome = PROVIDER_INVALID_IP;
		snprintf(v->detail, sizeof(v->detail), "a bogon address");
		goto out;
	}
	/* the full /IP answer carries the same flags in a "privacy" object */
	priv = json_object_get(doc, "privacy");
	if (!json_is_object(priv))
		priv = doc;
	f = json_object();
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		b = provider_json_bool(priv, flags[i].key);
		if (b < 0)
			continue;
		any = 1;
		json_object_set_new(f, flags[i].key, json_boolean(b));
		if (b)
			v->mask |= VERDICT_BIT(flags[i].cat);
	}
	if (!any) {
		v->outcome = PROVIDER_UNUSABLE;
		v->mask = 0;
		snprintf(v->detail, sizeof(v->detail), "HTTP 200 without privacy flags");
		goto out;
	}
	service = provider_json_str(priv, "service");
	if (service && *service)
		json_object_set_new(f, "service", json_string(service));
	v->outcome = PROVIDER_OK;
	text = json_dumps(f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	n = text ? snprintf(v->facts, sizeof(v->facts), "%s", text) : -1;
	if (n < 0 || (size_t)n >= sizeof(v->facts))
		v->facts[0] = '\0';
	free(text);
	snprintf(v->detail, sizeof(v->detail), "privacy flags%s%.60s",
		 service && *service ? ", service " : "", service && *service ? service : "");
out:
	/* the service's words (a title, a service name) may be any UTF-8; the facts are
	 * ASCII JSON (JSON_ENSURE_ASCII) where only a DEL can be left raw, inside a string */
	provider_json_printable(v->detail);
	provider_json_printable(v->facts);
	json_decref(f);
	json_decref(doc);
}

static const struct provider_http_ops ipinfo_ops = {
	.url = ipinfo_url,
	.judge = ipinfo_judge,
	.key_header = "Authorization: Bearer ",
};

int ipinfo_open(uv_loop_t *loop, const struct config *cfg, const char *api_key,
		struct provider_backend *out)
{
	struct config_prov p;
	struct provider_http_settings set;

	if (!cfg || config_provider_get(cfg, provider_find("ipinfo"), &p) < 0 || !p.url)
		return -EINVAL;
	set = (struct provider_http_settings){ .url = p.url, .timeout_ms = (long)p.timeout_ms };
	return provider_http_backend(loop, &ipinfo_ops, &set, api_key, out);
}
