/* provider_http.c - a backend for small per-IP JSON answers (see provider_http.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apikey.h"
#include "criminalip.h"
#include "http.h"
#include "provider_http.h"

#ifdef PACKAGE_VERSION
#define PH_USER_AGENT "User-Agent: threatbl/" PACKAGE_VERSION
#else
#define PH_USER_AGENT "User-Agent: threatbl"
#endif

struct ph_backend {
	const struct provider_http_ops *ops;
	struct http *http;          /* NULL once closed */
	struct provider_http_key k; /* the key after ops->key_header */
	long timeout_ms;
	unsigned param;
	int closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

struct ph_call {
	struct ph_backend *b;
	provider_fetch_done done;
	void *arg;
	struct ipaddr ip;
};

void provider_http_detail(char *detail, size_t dsize, long status, const char *text,
			  size_t len)
{
	int n;
	size_t at;

	if (!dsize)
		return;
	n = snprintf(detail, dsize, "HTTP %ld%s", status, text && len ? ": " : "");
	at = n < 0 ? 0 : (size_t)n >= dsize ? dsize - 1 : (size_t)n;
	for (size_t i = 0; text && i < len && at + 1 < dsize; i++) {
		unsigned char c = (unsigned char)text[i];

		detail[at++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	detail[at] = '\0';
}

int provider_http_key_init(struct provider_http_key *k, const char *url, size_t max_base,
			   const char *header, const char *key)
{
	size_t klen, bad, hlen, blen;

	memset(k, 0, sizeof(*k));
	if (!url || !header || !key)
		return -EINVAL;
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return -EINVAL;
	if (strlen(url) > max_base)
		return -ENAMETOOLONG;
	if (apikey_clean(key, strlen(key), &key, &klen, &bad) || !klen)
		return -EINVAL;
	/* no trailing slash: paths are appended with their own */
	for (blen = strlen(url); blen > 8 && url[blen - 1] == '/'; blen--)
		;
	hlen = strlen(header);
	k->base = strndup(url, blen);
	k->key = strndup(key, klen);
	k->key_header = malloc(hlen + klen + 1);
	if (!k->base || !k->key || !k->key_header) {
		provider_http_key_free(k);
		return -ENOMEM;
	}
	memcpy(k->key_header, header, hlen);
	memcpy(k->key_header + hlen, key, klen);
	k->key_header[hlen + klen] = '\0';
	return 0;
}

void provider_http_key_free(struct provider_http_key *k)
{
	if (k->key)
		explicit_bzero(k->key, strlen(k->key));
	if (k->key_header)
		explicit_bzero(k->key_header, strlen(k->key_header));
	free(k->key);
	free(k->key_header);
	free(k->base);
	memset(k, 0, sizeof(*k));
}

static void ph_free(struct ph_backend *b)
{
	provider_http_key_free(&b->k);
	free(b);
}

static void ph_http_done(void *arg, int err, long status, const char *body, size_t len)
{
	struct ph_call *c = arg;
	struct ph_backend *b = c->b;
	struct provider_verdict v = { .outcome = PROVIDER_TROUBLE };
	struct provider_result res = { 0 };
	long ra = http_retry_after(b->http);

	if (err == -ECANCELED || (!err && b->closing)) {
		res.outcome = PROVIDER_CANCELED;
		res.detail = "canceled";
		c->done(c->arg, &res);
		free(c);
		return;
	}
	if (err) {
		v.outcome = PROVIDER_TROUBLE;
		snprintf(v.detail, sizeof(v.detail), "HTTP %ld, %s", status,
			 err == -ETIMEDOUT ? "timed out" : err == -ECONNREFUSED ?
			 "connection refused" : err == -EMSGSIZE ? "answer too large" :
			 "transfer failed");
	} else {
		b->ops->judge(&c->ip, b->param, status, body, len, &v);
	}
	/* The service's words may echo the key: never into a log. */
	criminalip_redact(v.detail, strlen(v.detail), b->k.key);
	res.outcome = v.outcome;
	res.mask = v.outcome == PROVIDER_OK ? v.mask : 0;
	res.facts_json = v.outcome == PROVIDER_OK && v.facts[0] ? v.facts : NULL;
	res.detail = v.detail;
	/* Retry-After (a 429 says how long to wait), in ms, at most a day */
	res.retry_after_ms = ra > 0 ? (uint32_t)(ra > 86400 ? 86400 : ra) * 1000u : 0;
	c->done(c->arg, &res);
	free(c);
}

static int ph_fetch(void *impl, const struct ipaddr *ip, provider_fetch_done done, void *arg)
{
	struct ph_backend *b = impl;
	const char *headers[] = { b->k.key_header, "Accept: application/json", PH_USER_AGENT,
				  NULL };
	char url[PROVIDER_HTTP_MAX_BASE + 128];
	struct ph_call *c;
	int err;

	if (!ip || !done)
		return -EINVAL;
	if (b->closing)
		return -ECANCELED;
	err = b->ops->url(b->k.base, ip, url, sizeof(url));
	if (err < 0)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct ph_call){ .b = b, .done = done, .arg = arg, .ip = *ip };
	err = http_get(b->http, url, headers, b->timeout_ms, ph_http_done, c);
	if (err < 0)
		free(c);
	return err;
}

static void ph_http_closed(void *arg)
{
	struct ph_backend *b = arg;
	void (*closed)(void *) = b->closed;
	void *closed_arg = b->closed_arg;

	ph_free(b);
	if (closed)
		closed(closed_arg);
}

/* http.c answers every call in flight -ECANCELED, then says it is closed. */
static void ph_close(void *impl, void (*closed)(void *arg), void *closed_arg)
{
	struct ph_backend *b = impl;

	if (b->closing)
		return;
	b->closing = 1;
	b->closed = closed;
	b->closed_arg = closed_arg;
	http_close(b->http, ph_http_closed, b);
}

int provider_http_backend(uv_loop_t *loop, const struct provider_http_ops *ops,
			  const struct provider_http_settings *set, const char *key,
			  struct provider_backend *out)
{
	struct ph_backend *b;
	int err;

	if (!loop || !ops || !set || !out || set->timeout_ms <= 0)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ops = ops;
	b->timeout_ms = set->timeout_ms;
	b->param = set->param;
	err = provider_http_key_init(&b->k, set->url, PROVIDER_HTTP_MAX_BASE, ops->key_header,
				     key);
	if (err < 0)
		goto fail;
	err = http_new(loop, PROVIDER_HTTP_MAX_BODY, &b->http);
	if (err < 0)
		goto fail;
	*out = (struct provider_backend){ .impl = b, .fetch = ph_fetch, .close = ph_close };
	return 0;
fail:
	ph_free(b);
	return err;
}
