/* http.c - HTTP GETs with libcurl's multi interface, driven by the libuv loop.
 *
 * uv_poll per socket, one uv_timer for curl's timeouts, curl_multi_socket_action, and
 * curl_multi_info_read drained after every action. Connections are reused. Bodies are
 * read up to a cap. Never blocks the loop. Loop thread only. */
#ifndef THREATBL_HTTP_H
#define THREATBL_HTTP_H

#include <stddef.h>
#include <uv.h>

struct http;

/* err: 0, or a negative errno (-ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EMSGSIZE when
 * the body passed the cap, -ECANCELED at close, -EIO otherwise). status: the HTTP code
 * (0 without one). body is NUL-terminated and valid until the callback returns. */
typedef void (*http_done_fn)(void *arg, int err, long status, const char *body, size_t len);

int http_new(uv_loop_t *loop, size_t max_body, struct http **out);

/* headers: NULL-terminated "Name: value" lines (copied). Returns 0 (done will be
 * called exactly once, later) or a negative errno (done is not called). */
int http_get(struct http *h, const char *url, const char *const *headers, long timeout_ms,
	     http_done_fn done, void *arg);

/* Inside a done callback: the answer's Retry-After in seconds, from either form
 * (delay-seconds or an HTTP-date, then counted from now); 0 when it had none, or a
 * date in the past. Kept on h only while done runs, so no callback signature has to
 * carry it. */
long http_retry_after(const struct http *h);

/* Inside a done callback: the value of the answer's header `name` (any case; the
 * last one when repeated), or NULL. Valid until done returns. Used for a feed's ETag
 * and Last-Modified (feed.c). */
const char *http_header(const struct http *h, const char *name);

/* Inside a done callback with err set: libcurl's words for it ("SSL peer certificate
 * or SSH remote key was not OK"), or NULL. For logs. */
const char *http_error(const struct http *h);

/* Transfers in flight. */
unsigned http_pending(const struct http *h);

/* Cancel every transfer (done with -ECANCELED), close every uv handle, then call
 * closed(arg) and free h. */
void http_close(struct http *h, void (*closed)(void *arg), void *arg);

#endif
