/* http.c - HTTP GETs with libcurl's multi interface, driven by the libuv loop.
 *
 * The glue follows curl's "multi_socket" model: curl tells us which sockets to watch
 * (sock_cb) and when to wake it up (timer_cb); we tell curl what happened with
 * curl_multi_socket_action() and then collect finished transfers. The parts that are
 * known to break elsewhere are done with care here: a 0 ms timeout becomes 1 ms (never
 * a call back into curl from inside its own callback), poll errors reach curl as
 * CURL_CSELECT_ERR, finished transfers are drained after every action, a poll handle is
 * freed only in its close callback, and http_close() waits for every handle to close. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <uv.h>

#include "http.h"
#include "list.h"

struct http_sock;

struct http_xfer {
	struct list_node node;     /* on h->xfers */
	struct http *h;
	CURL *easy;
	struct curl_slist *headers;
	char *buf;
	size_t len, cap;
	int too_big;
	http_done_fn done;
	void *arg;
};

struct http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	size_t max_body;
	long retry_after;          /* of the transfer whose done runs (http_retry_after) */
	CURL *current;             /* the transfer whose done runs (http_header) */
	CURLcode current_rc;       /* and how it ended (http_error) */
	struct list_head xfers;    /* in flight (http_xfer.node) */
	struct list_head socks;    /* watched, not closing (http_sock.node) */
	unsigned pending;
	unsigned handles;          /* uv handles not yet closed (timer + polls) */
	int closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

/* One socket curl asked us to watch. Freed in its close callback only. */
struct http_sock {
	struct list_node node;     /* on h->socks */
	struct http *h;
	uv_poll_t poll;
	curl_socket_t fd;
};

static void http_handle_closed(struct http *h)
{
	if (--h->handles > 0 || !h->closing)
		return;
	if (h->closed)
		h->closed(h->closed_arg);
	free(h);
	curl_global_cleanup();
}

static void sock_close_cb(uv_handle_t *handle)
{
	struct http_sock *s = handle->data;
	struct http *h = s->h;

	free(s);
	http_handle_closed(h);
}

static void sock_release(struct http_sock *s)
{
	list_del(&s->node);
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, sock_close_cb);
}

static int errno_of(CURLcode rc, const struct http_xfer *x)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_FILESIZE_EXCEEDED:
		return -EMSGSIZE;
	case CURLE_WRITE_ERROR:
		return x && x->too_big ? -EMSGSIZE : -EIO;
	default:
		return -EIO;
	}
}

static void xfer_free(struct http_xfer *x)
{
	struct curl_slist *l;

	if (x->easy)
		curl_easy_cleanup(x->easy);
	/* A header may carry the API key: do not leave it in freed memory. */
	for (l = x->headers; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(x->headers);
	free(x->buf);
	free(x);
}

/* Take x out of the multi handle and the list, call its done, free it. */
static void xfer_finish(struct http_xfer *x, int err)
{
	struct http *h = x->h;
	long status = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	h->retry_after = 0;
#if LIBCURL_VERSION_NUM >= 0x074200
	{
		curl_off_t ra = 0;

		/* curl reads both forms; a date in the past comes out negative */
		if (curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
			h->retry_after = ra > 86400 * 366 ? 86400 * 366 : (long)ra;
	}
#endif
	if (h->multi)
		curl_multi_remove_handle(h->multi, x->easy);
	list_del(&x->node);
	h->pending--;
	if (!x->buf) {
		x->buf = malloc(1);
		x->len = 0;
	}
	if (x->buf)
		x->buf[x->len] = '\0';
	h->current = x->easy;
	x->done(x->arg, err, status, x->buf ? x->buf : "", x->buf ? x->len : 0);
	h->current = NULL;
	h->retry_after = 0;
	xfer_free(x);
}

/* Collect every finished transfer. done may call http_get (fine) or http_close (then
 * the multi handle is gone and we stop). */
static void drain(struct http *h)
{
	CURLMsg *msg;
	int left;

	while (!h->closing && (msg = curl_multi_info_read(h->multi, &left))) {
		struct http_xfer *x = NULL;
		CURLcode rc;

		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (!x)
			continue;
		h->current_rc = rc;
		xfer_finish(x, errno_of(rc, x));
		h->current_rc = CURLE_OK;
	}
}

static void poll_cb(uv_poll_t *poll, int status, int events)
{
	struct http_sock *s = poll->data;
	struct http *h = s->h;
	int flags = 0;
	int running;

	if (h->closing)
		return;
	if (status < 0) {
		flags = CURL_CSELECT_ERR;
	} else {
		if (events & (UV_READABLE | UV_DISCONNECT))
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	drain(h);
}

static void timer_cb(uv_timer_t *timer)
{
	struct http *h = timer->data;
	int running;

	if (h->closing)
		return;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain(h);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct http_sock *s = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			/* While curl_multi_cleanup() runs, leave its socket table alone. */
			if (!h->closing)
				curl_multi_assign(h->multi, fd, NULL);
			sock_release(s);
		}
		return 0;
	}
	if (h->closing)
		return 0;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->h = h;
		s->fd = fd;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		h->handles++;
		list_add_head(&h->socks, &s->node);
		curl_multi_assign(h->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	if (uv_poll_start(&s->poll, events, poll_cb) < 0)
		return -1;
	return 0;
}

static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	if (h->closing)
		return 0;
	if (timeout_ms < 0) {
		uv_timer_stop(&h->timer);
		return 0;
	}
	/* Never act from inside curl's callback: a 0 ms timeout runs on the next turn. */
	uv_timer_start(&h->timer, timer_cb, timeout_ms ? (uint64_t)timeout_ms : 1, 0);
	return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct http_xfer *x = userp;
	size_t n = size * nmemb;

	if (n > x->h->max_body || x->len > x->h->max_body - n) {
		x->too_big = 1;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		char *p;

		while (cap < x->len + n + 1)
			cap *= 2;
		if (cap > x->h->max_body + 1)
			cap = x->h->max_body + 1;
		p = realloc(x->buf, cap);
		if (!p)
			return 0;
		x->buf = p;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, ptr, n);
	x->len += n;
	return n;
}

int http_new(uv_loop_t *loop, size_t max_body, struct http **out)
{
	struct http *h;

	if (!loop || !out || max_body == 0)
		return -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	h = calloc(1, sizeof(*h));
	if (!h)
		goto fail;
	h->loop = loop;
	h->max_body = max_body;
	list_init(&h->xfers);
	list_init(&h->socks);
	h->multi = curl_multi_init();
	if (!h->multi)
		goto fail;
	if (uv_timer_init(loop, &h->timer) < 0)
		goto fail;
	h->timer.data = h;
	h->handles = 1;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*out = h;
	return 0;
fail:
	if (h && h->multi)
		curl_multi_cleanup(h->multi);
	free(h);
	curl_global_cleanup();
	return -ENOMEM;
}

static int xfer_setup(struct http_xfer *x, const char *url, long timeout_ms)
{
	CURL *e = x->easy;
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PRIVATE, (void *)x);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_HTTPGET, 1L);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
#if LIBCURL_VERSION_NUM >= 0x075700
	/* Ending a transfer that is still resolving must not wait for the resolver thread
	 * (it would block the loop for as long as getaddrinfo takes). */
	SET(CURLOPT_QUICK_EXIT, 1L);
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	/* A proxy from the environment must not take loopback test traffic. */
	SET(CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	SET(CURLOPT_ACCEPT_ENCODING, "");
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->h->max_body);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, (void *)x);
	SET(CURLOPT_HTTPHEADER, x->headers);
#undef SET
	return rc == CURLE_OK ? 0 : -EINVAL;
}

int http_get(struct http *h, const char *url, const char *const *headers, long timeout_ms,
	     http_done_fn done, void *arg)
{
	struct http_xfer *x;
	int err = -ENOMEM;

	if (!h || !url || !done || timeout_ms <= 0)
		return -EINVAL;
	if (h->closing)
		return -ECANCELED;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->h = h;
	x->done = done;
	x->arg = arg;
	x->easy = curl_easy_init();
	if (!x->easy)
		goto fail;
	for (; headers && *headers; headers++) {
		struct curl_slist *l = curl_slist_append(x->headers, *headers);

		if (!l)
			goto fail;
		x->headers = l;
	}
	err = xfer_setup(x, url, timeout_ms);
	if (err < 0)
		goto fail;
	if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
		err = -EIO;
		goto fail;
	}
	list_add_head(&h->xfers, &x->node);
	h->pending++;
	return 0;
fail:
	xfer_free(x);
	return err;
}

long http_retry_after(const struct http *h)
{
	return h ? h->retry_after : 0;
}

const char *http_header(const struct http *h, const char *name)
{
#if LIBCURL_VERSION_NUM >= 0x075400
	struct curl_header *hd;

	if (h && h->current && name &&
	    curl_easy_header(h->current, name, 0, CURLH_HEADER, -1, &hd) == CURLHE_OK)
		return hd->value;
#else
	(void)h;
	(void)name;
#endif
	return NULL;
}

const char *http_error(const struct http *h)
{
	return h && h->current && h->current_rc != CURLE_OK ?
	       curl_easy_strerror(h->current_rc) : NULL;
}

unsigned http_pending(const struct http *h)
{
	return h ? h->pending : 0;
}

static void timer_close_cb(uv_handle_t *handle)
{
	http_handle_closed(handle->data);
}

void http_close(struct http *h, void (*closed)(void *arg), void *arg)
{
	struct list_node *n;

	if (!h || h->closing)
		return;
	h->closed = closed;
	h->closed_arg = arg;
	/* Set first: a done called below may try http_get (refused) or http_close (no-op). */
	h->closing = 1;
	while ((n = list_first(&h->xfers)))
		xfer_finish(container_of(n, struct http_xfer, node), -ECANCELED);
	/* curl may report the sockets of cached connections as it cleans up (sock_cb
	 * releases them); whatever it does not report is released just after. */
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	while ((n = list_first(&h->socks)))
		sock_release(container_of(n, struct http_sock, node));
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, timer_close_cb);
}
