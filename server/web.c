/* web.c - the lookup page over HTTP (see web.h). */
#include <errno.h>
#include <pthread.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "explain.h"
#include "httpd.h"
#include "log.h"
#include "page.h"
#include "store.h"
#include "web.h"

#define WEB_MEMORY_LIMIT (16u * 1024)
#define WEB_TIMEOUT_S 10
#define WEB_BODY_MAX 1024
/* Client prefixes whose re-checks are counted; more share slots (by hash). */
#define WEB_CLIENTS 1024
/* Addresses re-checked lately, kept so that a second press waits its turn. */
#define WEB_RECENT 256

static const char csp[] = "default-src 'none'; style-src 'self'; form-action 'self'; "
			  "base-uri 'none'; frame-ancestors 'none'";

struct bucket {
	double tokens;
	double last;    /* monotonic seconds */
};

struct client_slot {
	struct ipaddr net;
	int used;
	struct bucket b;
};

struct recent {
	struct ipaddr ip;
	uint32_t when;
};

struct web {
	struct MHD_Daemon *d;
	int fd;
	struct shared *sh;
	char *database;
	struct store *store;      /* opened on the web thread at the first page */
	int store_failed;
	struct acl allow;
	int recheck_on;
	uint32_t interval_s;
	double rate, client_rate;
	web_recheck_fn recheck;
	void *recheck_arg;
	/* Re-checks from the web thread to the main loop. */
	uv_async_t wake;
	pthread_mutex_t qlock;
	struct ipaddr queue[WEB_RECHECK_QUEUE];
	size_t qhead, qlen;
	/* The web thread's own: no lock. */
	struct bucket global;
	struct client_slot clients[WEB_CLIENTS];
	struct recent recent[WEB_RECENT];
	size_t nrecent;
};

/* Per request: the bytes of a body counted, so that a large one is refused. */
struct web_req {
	size_t body;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A token bucket of rate per second holding at most burst. 1 when a token was taken. */
static int take(struct bucket *b, double rate, double burst, double now)
{
	if (b->last == 0)
		b->tokens = burst;
	else
		b->tokens += (now - b->last) * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last = now;
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

static enum MHD_Result send_doc(struct MHD_Connection *c, unsigned status,
				const char *type, struct page_buf *body, const char *location,
				int cache)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (body->oom || !body->p) {
		static const char oom[] = "out of memory\n";

		page_buf_free(body);
		r = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
						    MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
		type = "text/plain; charset=utf-8";
	} else {
		r = MHD_create_response_from_buffer(body->len, body->p, MHD_RESPMEM_MUST_FREE);
		if (r)
			body->p = NULL; /* MHD frees it */
		page_buf_free(body);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Cache-Control", cache ? "public, max-age=3600" : "no-store");
	if (location)
		MHD_add_response_header(r, "Location", location);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A copy of s[0..n) that send_doc hands to libmicrohttpd (which frees it). */
static struct page_buf buf_copy(const char *s, size_t n)
{
	struct page_buf b = { 0 };

	b.p = malloc(n + 1);
	if (b.p) {
		memcpy(b.p, s, n);
		b.p[n] = '\0';
		b.len = n;
	} else {
		b.oom = 1;
	}
	return b;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	struct page_buf b = buf_copy(msg, strlen(msg));

	return send_doc(c, status, "text/plain; charset=utf-8", &b, NULL, 0);
}

static enum MHD_Result send_form(struct MHD_Connection *c, unsigned status, const char *msg)
{
	struct page_buf b = { 0 };

	page_form(msg, &b);
	return send_doc(c, status, "text/html; charset=utf-8", &b, NULL, 0);
}

static struct store *web_store(struct web *w)
{
	char err[256];

	if (w->store || w->store_failed || !w->database)
		return w->store;
	if (store_open(w->database, &w->store, err, sizeof(err)) < 0) {
		log_warn("lookup page: the database cannot be read, pages show what is in "
			 "memory only: %s", err);
		w->store_failed = 1;
		w->store = NULL;
	}
	return w->store;
}

/* When ip may be re-checked again; 0: now. */
static uint32_t next_recheck(struct web *w, const struct explain *e)
{
	uint32_t next = 0;

	if (e->has_verdict && !(e->v.flags & VERDICT_F_UNKNOWN))
		next = e->v.checked + w->interval_s;
	for (size_t i = 0; i < w->nrecent && i < WEB_RECENT; i++)
		if (ipaddr_cmp(&w->recent[i].ip, &e->ip) == 0 &&
		    w->recent[i].when + w->interval_s > next)
			next = w->recent[i].when + w->interval_s;
	return next > e->now ? next : 0;
}

static enum MHD_Result ip_page(struct web *w, struct MHD_Connection *c, const char *text,
			       int json, const char *notice, unsigned status)
{
	struct page_recheck r = { .enabled = w->recheck_on, .notice = notice };
	struct page_buf b = { 0 };
	struct explain *e;
	struct ipaddr ip;
	char msg[160];

	if (strlen(text) > 45 || ipaddr_parse(&ip, text) != 0) {
		if (json)
			return send_text(c, MHD_HTTP_BAD_REQUEST, "{\"error\":\"not an IP address\"}\n");
		snprintf(msg, sizeof(msg), "That is not an IPv4 or IPv6 address.");
		return send_form(c, MHD_HTTP_BAD_REQUEST, msg);
	}
	e = malloc(sizeof(*e));
	if (!e || explain_ip(w->sh, web_store(w), &ip, e) < 0) {
		free(e);
		return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
	}
	r.next = next_recheck(w, e);
	if (json)
		page_json(e, &r, &b);
	else
		page_html(e, &r, &b);
	free(e);
	return send_doc(c, status, json ? "application/json" : "text/html; charset=utf-8", &b,
			NULL, 0);
}

static void client_prefix(const struct sockaddr *sa, struct ipaddr *net)
{
	struct ipaddr ip;

	memset(net, 0, sizeof(*net));
	if (!sa || ipaddr_from_sockaddr(&ip, sa) != 0)
		return;
	ipaddr_mask(&ip, ipaddr_is_v4(&ip) ? 96 + 24 : 56, net);
}

static struct client_slot *client_slot(struct web *w, const struct ipaddr *net)
{
	uint32_t h = 2166136261u;
	struct client_slot *s;

	for (int i = 0; i < 16; i++)
		h = (h ^ net->b[i]) * 16777619u;
	s = &w->clients[h % WEB_CLIENTS];
	if (!s->used || ipaddr_cmp(&s->net, net) != 0) {
		memset(s, 0, sizeof(*s));
		s->used = 1;
		s->net = *net;
	}
	return s;
}

/* Web thread: queue ip for the main loop. 0 or -EAGAIN (the queue is full). */
static int post_recheck(struct web *w, const struct ipaddr *ip)
{
	int rc = 0;

	pthread_mutex_lock(&w->qlock);
	if (w->qlen == WEB_RECHECK_QUEUE)
		rc = -EAGAIN;
	else
		w->queue[(w->qhead + w->qlen++) % WEB_RECHECK_QUEUE] = *ip;
	pthread_mutex_unlock(&w->qlock);
	if (rc == 0)
		uv_async_send(&w->wake);
	return rc;
}

/* Main loop: hand the queued re-checks over. */
static void on_wake(uv_async_t *a)
{
	struct web *w = a->data;

	for (;;) {
		struct ipaddr ip;

		pthread_mutex_lock(&w->qlock);
		if (!w->qlen) {
			pthread_mutex_unlock(&w->qlock);
			return;
		}
		ip = w->queue[w->qhead];
		w->qhead = (w->qhead + 1) % WEB_RECHECK_QUEUE;
		w->qlen--;
		pthread_mutex_unlock(&w->qlock);
		w->recheck(w->recheck_arg, &ip);
	}
}

static enum MHD_Result recheck(struct web *w, struct MHD_Connection *c, const char *text)
{
	const union MHD_ConnectionInfo *ci;
	struct explain *e;
	struct ipaddr ip, net;
	struct client_slot *slot;
	char loc[80], notice[200];
	double now = mono_s();
	uint32_t next;
	int rc;

	if (!w->recheck_on || !w->recheck)
		return send_text(c, MHD_HTTP_NOT_FOUND, "re-checks are off on this server\n");
	if (strlen(text) > 45 || ipaddr_parse(&ip, text) != 0)
		return send_form(c, MHD_HTTP_BAD_REQUEST, "That is not an IPv4 or IPv6 address.");
	e = malloc(sizeof(*e));
	if (!e || explain_ip(w->sh, NULL, &ip, e) < 0) {
		free(e);
		return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
	}
	next = next_recheck(w, e);
	rc = e->lookups;
	free(e);
	if (!rc)
		return ip_page(w, c, text, 0, "This server does not look addresses up: there "
			       "is nothing to check again.", MHD_HTTP_CONFLICT);
	if (next) {
		char iso[32];

		log_iso_time(next, iso, sizeof(iso));
		snprintf(notice, sizeof(notice), "This address was checked lately; a new check "
			 "is possible from %s.", iso);
		return ip_page(w, c, text, 0, notice, MHD_HTTP_TOO_MANY_REQUESTS);
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	client_prefix(ci ? ci->client_addr : NULL, &net);
	slot = client_slot(w, &net);
	if (!take(&slot->b, w->client_rate, 3.0, now) ||
	    !take(&w->global, w->rate, w->rate * 600 > 5 ? w->rate * 600 : 5, now))
		return ip_page(w, c, text, 0, "Too many checks were asked for lately; try again "
			       "in an hour.", MHD_HTTP_TOO_MANY_REQUESTS);
	if (post_recheck(w, &ip) < 0)
		return ip_page(w, c, text, 0, "Too many checks are waiting; try again in a "
			       "minute.", MHD_HTTP_SERVICE_UNAVAILABLE);
	w->recent[w->nrecent % WEB_RECENT].ip = ip;
	w->recent[w->nrecent % WEB_RECENT].when = (uint32_t)time(NULL);
	w->nrecent++;
	{
		char ipt[46];

		ipaddr_format(&ip, ipt);
		snprintf(loc, sizeof(loc), "/ip/%s?rechecked=1", ipt);
	}
	{
		struct page_buf b = { 0 };

		page_form(NULL, &b);
		return send_doc(c, MHD_HTTP_SEE_OTHER, "text/html; charset=utf-8", &b, loc, 0);
	}
}

/* A POST from a page of another site must not spend the budget: when the browser
 * says where the form was (Origin), it must be this host. */
static int same_origin(struct MHD_Connection *c)
{
	const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	const char *p;

	if (!origin)
		return 1;
	if (!host)
		return 0;
	p = strstr(origin, "://");
	return p && strcmp(p + 3, host) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct web *w = cls;
	struct web_req *req = *req_cls;
	int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		  strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	int post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

	(void)version;
	(void)upload_data;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*req_cls = req;
		return MHD_YES;
	}
	if (*upload_size) {
		req->body += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	if (req->body > WEB_BODY_MAX)
		return send_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
	if (!get && !post) {
		struct MHD_Response *r;
		enum MHD_Result ret;

		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Allow", "GET, HEAD, POST");
		ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (post) {
		size_t n = strlen(url);

		if (strncmp(url, "/ip/", 4) == 0 && n > 12 &&
		    strcmp(url + n - 8, "/recheck") == 0) {
			char ip[64];

			if (!same_origin(c))
				return send_text(c, MHD_HTTP_FORBIDDEN, "cross-site request refused\n");
			if (n - 12 >= sizeof(ip))
				return send_form(c, MHD_HTTP_BAD_REQUEST, "That is not an IPv4 or "
						 "IPv6 address.");
			memcpy(ip, url + 4, n - 12);
			ip[n - 12] = '\0';
			return recheck(w, c, ip);
		}
		return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed here\n");
	}
	if (strcmp(url, "/") == 0)
		return send_form(c, MHD_HTTP_OK, NULL);
	if (strcmp(url, "/style.css") == 0) {
		size_t len;
		const char *css = page_css(&len);
		struct page_buf b = buf_copy(css, len);

		return send_doc(c, MHD_HTTP_OK, "text/css; charset=utf-8", &b, NULL, 1);
	}
	if (strcmp(url, "/ip") == 0) {
		const char *a = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "address");
		struct ipaddr ip;
		char loc[64], text[46];
		struct page_buf b = { 0 };

		if (!a || strlen(a) > 45 || ipaddr_parse(&ip, a) != 0)
			return send_form(c, MHD_HTTP_BAD_REQUEST, "That is not an IPv4 or IPv6 "
					 "address.");
		ipaddr_format(&ip, text);
		snprintf(loc, sizeof(loc), "/ip/%s", text);
		page_form(NULL, &b);
		return send_doc(c, MHD_HTTP_SEE_OTHER, "text/html; charset=utf-8", &b, loc, 0);
	}
	if (strncmp(url, "/ip/", 4) == 0) {
		const char *r = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "rechecked");

		return ip_page(w, c, url + 4, 0, r ? "A new check was asked for; it takes a few "
			       "seconds. Load this page again to see its result." : NULL,
			       MHD_HTTP_OK);
	}
	if (strncmp(url, "/v1/ip/", 7) == 0)
		return ip_page(w, c, url + 7, 1, NULL, MHD_HTTP_OK);
	return send_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	free(*req_cls);
	*req_cls = NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct web *w = cls;

	(void)len;
	return httpd_admits("lookup page", "[http] allow", &w->allow, addr) ? MHD_YES : MHD_NO;
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	httpd_log("lookup page", fmt, ap);
}

int web_start(uv_loop_t *loop, const struct config *cfg, struct shared *sh,
	      const char *database, web_recheck_fn recheck_fn, void *recheck_arg,
	      struct web **out)
{
	struct web *w;
	int rc;

	*out = NULL;
	if (!cfg->http_listen)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if ((rc = pthread_mutex_init(&w->qlock, NULL))) {
		free(w);
		return -rc;
	}
	if ((rc = uv_async_init(loop, &w->wake, on_wake))) {
		pthread_mutex_destroy(&w->qlock);
		free(w);
		return rc;
	}
	w->wake.data = w;
	w->fd = -1;
	w->sh = sh;
	w->recheck_on = cfg->http_recheck;
	w->interval_s = cfg->http_recheck_interval_s;
	w->rate = cfg->http_recheck_rate;
	w->client_rate = cfg->http_recheck_client_rate;
	w->recheck = recheck_fn;
	w->recheck_arg = recheck_arg;
	if ((database && !(w->database = strdup(database))) ||
	    acl_copy(&w->allow, &cfg->http_allow)) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((w->fd = httpd_listen("lookup page", cfg->http_listen, 64)) < 0) {
		rc = w->fd;
		goto fail;
	}
	w->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				MHD_USE_ERROR_LOG, 0, on_accept, w, on_request, w,
				MHD_OPTION_LISTEN_SOCKET, w->fd,
				MHD_OPTION_CONNECTION_LIMIT, cfg->http_max_connections,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->http_connections_per_ip,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_MEMORY_LIMIT,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
				MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, w,
				MHD_OPTION_END);
	/* libmicrohttpd closes the socket it was given when it stops; whether it does
	 * when it fails to start is not said, and the start then fails anyway: it is
	 * not ours to close from here on. */
	w->fd = -1;
	if (!w->d) {
		log_err("lookup page: cannot start the HTTP server on %s", cfg->http_listen);
		rc = -EIO;
		goto fail;
	}
	log_info("lookup page on http://%s/%s", cfg->http_listen,
		 w->recheck_on ? " (re-checks on)" : "");
	*out = w;
	return 0;
fail:
	web_stop(w);
	return rc;
}

static void on_closed(uv_handle_t *h)
{
	struct web *w = h->data;

	pthread_mutex_destroy(&w->qlock);
	free(w);
}

void web_stop(struct web *w)
{
	if (!w)
		return;
	if (w->d)
		MHD_stop_daemon(w->d);
	if (w->fd >= 0)
		close(w->fd);
	if (w->store)
		store_close(w->store);
	acl_free(&w->allow);
	free(w->database);
	uv_close((uv_handle_t *)&w->wake, on_closed);
}
