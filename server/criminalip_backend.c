/* criminalip_backend.c - the provider_backend that asks Criminal IP through http.c.
 *
 * A report can be hundreds of KB, and reading it (json_loadb, the facts, their JSON)
 * takes milliseconds: long enough to hold up every DNS answer queued behind it. So a
 * finished answer is judged on the libuv thread pool, from a copy of the body (http.c's
 * is only lent for the callback), and the result goes to intel from the after-work
 * callback, on the loop thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "criminalip.h"
#include "criminalip_backend.h"
#include "http.h"
#include "ipaddr.h"
#include "list.h"
#include "provider_http.h"

/* PACKAGE_VERSION comes from configure's -D flags (there is no autoconf header). */
#ifdef PACKAGE_VERSION
#define CIP_USER_AGENT "User-Agent: threatbl/" PACKAGE_VERSION
#else
#define CIP_USER_AGENT "User-Agent: threatbl"
#endif

/* Bodies up to this size are judged in the http callback, on the loop thread: error
 * answers (under 100 bytes) take a few microseconds to read, less than a trip through
 * the pool (a copy, a lock, a wake-up of the loop). Every report goes to the pool,
 * even a small one of 1-3 KB: measured in the storm benchmark, that kept cached
 * answers' p99 lower than reading it here. */
#define CIP_INLINE_MAX 512

struct cip_backend {
	uv_loop_t *loop;
	struct http *http;         /* NULL once closed */
	struct list_head jobs;     /* answers on the thread pool (cip_call.node) */
	struct provider_http_key k; /* "x-api-key: KEY"; the key is read by pool jobs */
	long timeout_ms;
	size_t max_body;
	uint32_t max_stale_s;
	int closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

/* What an answer comes to: filled by the pool job, read after it on the loop. */
struct cip_verdict {
	enum provider_outcome outcome;
	uint8_t mask;
	int has_facts;
	int tcp443_open;
	uint32_t retry_after_ms;
	char facts[1024];
	char detail[160];
};

struct cip_call {
	struct cip_backend *b;
	provider_fetch_done done;
	void *arg;
	struct ipaddr ip;
	/* From here on, used only by an answer sent to the pool. */
	struct list_node node;         /* on b->jobs */
	int canceled;                  /* done already called (the backend closed) */
	uv_work_t work;
	long status;
	size_t len;
	struct cip_verdict v;
	char body[];                   /* len bytes, the job's own copy */
};

static const char *transfer_error(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return "timed out";
	case -ECONNREFUSED:
		return "connection refused";
	case -ECONNRESET:
		return "connection reset or closed early";
	case -EMSGSIZE:
		return "report larger than max-report-size";
	default:
		return "transfer failed";
	}
}

/* Judge a complete answer. Reads only the call and the backend's settings and key,
 * which stay until every job is back (no loop, no logging), so that it runs on either
 * thread. */
static void cip_judge_answer(const struct cip_call *c, long status, const char *body,
			     size_t len, struct cip_verdict *v)
{
	struct cip_ask ask = {
		.ip = &c->ip,
		.key = c->b->k.key,
		.now = (int64_t)time(NULL),
		.max_stale_s = c->b->max_stale_s,
	};
	struct cip_facts f;
	int refused = 0, n;

	v->mask = 0;
	v->has_facts = 0;
	v->outcome = criminalip_judge(&ask, status, body, len, &f, v->detail,
				      sizeof(v->detail), &refused);
	/* doc/criminalip.md#reading-a-response: an error answer for IPv6 means "not supported". */
	if (!ipaddr_is_v4(&c->ip) && refused)
		v->outcome = PROVIDER_INVALID_IP;
	if (v->outcome == PROVIDER_OK) {
		v->mask = criminalip_classify(&f);
		v->tcp443_open = f.tcp443_open;
		n = criminalip_facts_json(&f, v->facts, sizeof(v->facts));
		v->has_facts = n >= 0;
	}
}

/* Hand a verdict to intel (loop thread). */
static void cip_report(const struct cip_call *c, const struct cip_verdict *v)
{
	struct provider_result res = {
		.outcome = v->outcome,
		.mask = v->mask,
		.facts_json = v->has_facts ? v->facts : NULL,
		.detail = v->detail,
		.retry_after_ms = v->retry_after_ms,
		.tcp443_open = v->tcp443_open,
	};

	/* The service's words were redacted by criminalip_judge; this is the last guard. */
	if (c->b->k.key[0] && strcasestr(v->detail, c->b->k.key))
		res.detail = "(detail withheld)";
	c->done(c->arg, &res);
}

static void cip_report_canceled(const struct cip_call *c)
{
	struct provider_result res = { .outcome = PROVIDER_CANCELED, .detail = "canceled" };

	c->done(c->arg, &res);
}

static void cip_free(struct cip_backend *b)
{
	provider_http_key_free(&b->k);
	free(b);
}

/* The backend goes once http.c has closed and the last pool job has come back. */
static void cip_maybe_free(struct cip_backend *b)
{
	void (*closed)(void *) = b->closed;
	void *closed_arg = b->closed_arg;

	if (!b->closing || b->http || !list_empty(&b->jobs))
		return;
	cip_free(b);
	if (closed)
		closed(closed_arg);
}

/* Thread pool: touches nothing but the call's own answer and verdict. */
static void cip_work(uv_work_t *w)
{
	struct cip_call *c = w->data;

	cip_judge_answer(c, c->status, c->body, c->len, &c->v);
}

/* Loop thread, once per queued job, whether it ran, was canceled before it started
 * (status UV_ECANCELED) or finished after the backend closed. */
static void cip_after_work(uv_work_t *w, int status)
{
	struct cip_call *c = w->data;
	struct cip_backend *b = c->b;

	list_del(&c->node);
	if (!c->canceled) {
		if (status < 0)
			cip_report_canceled(c);
		else
			cip_report(c, &c->v);
	}
	free(c);
	cip_maybe_free(b);
}

/* Send a report to the pool. Returns 0 (*cp is the pool's until cip_after_work), or a
 * negative errno (*cp, perhaps moved by realloc, is still the caller's to judge). */
static int cip_queue(struct cip_call **cp, long status, const char *body, size_t len,
		     uint32_t retry_after_ms)
{
	struct cip_call *c = *cp;
	struct cip_backend *b = c->b;
	int err;

	/* One allocation for the copy: the call grows to carry the body. */
	c = realloc(c, sizeof(*c) + len);
	if (!c)
		return -ENOMEM;
	*cp = c;
	memcpy(c->body, body, len);
	c->status = status;
	c->len = len;
	c->v.retry_after_ms = retry_after_ms;
	c->work.data = c;
	c->canceled = 0;
	/* realloc may have moved the node: it is linked only from here on */
	list_add_head(&b->jobs, &c->node);
	err = uv_queue_work(b->loop, &c->work, cip_work, cip_after_work);
	if (err < 0)
		list_del(&c->node);
	return err;
}

static void cip_http_done(void *arg, int err, long status, const char *body, size_t len)
{
	struct cip_call *c = arg;
	struct cip_verdict v;
	/* Retry-After (a 429 or 503 says how long to wait), in ms, at most a day */
	long ra = http_retry_after(c->b->http);
	uint32_t retry_after_ms = ra > 0 ? (uint32_t)(ra > 86400 ? 86400 : ra) * 1000u : 0;

	if (err == -ECANCELED || (!err && c->b->closing)) {
		cip_report_canceled(c);
	} else if (err) {
		/* A report too large is that address's problem, not the service's. */
		v.outcome = err == -EMSGSIZE ? PROVIDER_UNUSABLE : PROVIDER_TROUBLE;
		v.mask = 0;
		v.has_facts = 0;
		v.retry_after_ms = retry_after_ms;
		snprintf(v.detail, sizeof(v.detail), "HTTP %ld, %s", status, transfer_error(err));
		cip_report(c, &v);
	} else if (len <= CIP_INLINE_MAX || cip_queue(&c, status, body, len, retry_after_ms) < 0) {
		/* Small, or the pool could not take it: judged here, as a last resort. */
		cip_judge_answer(c, status, body, len, &v);
		v.retry_after_ms = retry_after_ms;
		cip_report(c, &v);
	} else {
		return; /* c is the pool's until cip_after_work */
	}
	free(c);
}

static int cip_fetch(void *impl, const struct ipaddr *ip, provider_fetch_done done, void *arg)
{
	struct cip_backend *b = impl;
	const char *headers[] = {
		b->k.key_header, "Accept: application/json", CIP_USER_AGENT, NULL,
	};
	char url[CIP_MAX_BASE + 128];
	struct cip_call *c;
	int err;

	if (!ip || !done)
		return -EINVAL;
	if (b->closing)
		return -ECANCELED;
	err = criminalip_url(b->k.base, ip, url, sizeof(url));
	if (err < 0)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->b = b;
	c->done = done;
	c->arg = arg;
	c->ip = *ip;
	err = http_get(b->http, url, headers, b->timeout_ms, cip_http_done, c);
	if (err < 0)
		free(c);
	return err;
}

static void cip_http_closed(void *arg)
{
	struct cip_backend *b = arg;

	b->http = NULL;
	cip_maybe_free(b);
}

/* Like http.c at close: every call still out is answered PROVIDER_CANCELED now, those
 * whose answer is on the pool too. A job that has not started is dropped from the
 * pool's queue; one that is running cannot be stopped, so b stays until its
 * cip_after_work has come back. */
static void cip_close(void *impl, void (*closed)(void *arg), void *closed_arg)
{
	struct cip_backend *b = impl;
	struct list_node *n, *tmp;
	struct cip_call *c;

	if (b->closing)
		return;
	b->closing = 1;
	b->closed = closed;
	b->closed_arg = closed_arg;
	list_for_each_safe(n, tmp, &b->jobs) {
		c = container_of(n, struct cip_call, node);
		uv_cancel((uv_req_t *)&c->work);
		c->canceled = 1;
		cip_report_canceled(c);
	}
	http_close(b->http, cip_http_closed, b);
}

int criminalip_backend(uv_loop_t *loop, const struct cip_settings *set, const char *key,
		       struct provider_backend *out)
{
	struct cip_backend *b;
	int err;

	if (!loop || !set || !out || set->timeout_ms <= 0)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->loop = loop;
	list_init(&b->jobs);
	b->timeout_ms = set->timeout_ms;
	b->max_body = set->max_body ? set->max_body : CIP_MAX_BODY;
	b->max_stale_s = set->max_stale_s;
	err = provider_http_key_init(&b->k, set->url, CIP_MAX_BASE, "x-api-key: ", key);
	if (err < 0)
		goto fail;
	err = http_new(loop, b->max_body, &b->http);
	if (err < 0)
		goto fail;
	/* jansson's one piece of global state, its hash seed, is set here on the loop
	 * thread rather than by whichever pool job reads a document first. */
	json_object_seed(0);
	*out = (struct provider_backend){ .impl = b, .fetch = cip_fetch, .close = cip_close };
	return 0;
fail:
	cip_free(b);
	return err;
}

int criminalip_open(uv_loop_t *loop, const struct config *cfg, const char *api_key,
		    struct provider_backend *out)
{
	struct cip_settings set;
	struct config_prov p;

	/* its [provider criminalip] section, or [intel]'s url and timeout */
	if (!cfg || config_provider_get(cfg, provider_find("criminalip"), &p) < 0 || !p.url)
		return -EINVAL;
	set = (struct cip_settings){
		.url = p.url,
		.timeout_ms = (long)p.timeout_ms,
		.max_body = cfg->max_report_size > SIZE_MAX - 1 ? SIZE_MAX - 1
			    : (size_t)cfg->max_report_size,
		.max_stale_s = cfg->max_stale_s,
	};
	return criminalip_backend(loop, &set, api_key, out);
}
