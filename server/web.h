/* web.c - the lookup page on [http] listen: why an address is listed, over HTTP.
 *
 * Routes (doc/lookup-page.md): GET / (a form), GET /ip?address=A (redirects to
 * /ip/A), GET /ip/A (HTML), GET /v1/ip/A (JSON), POST /ip/A/recheck (when [http]
 * recheck = yes), GET /style.css. HEAD is answered like GET; other methods get 405,
 * other paths 404. libmicrohttpd runs it on one thread of its own: a page is built
 * from memory (explain.h: the shared view under its read lock, held only to copy)
 * and the local database and list files, and never waits on a provider. Limits:
 * connections in all and per address, 16 KiB of request, 10 s per connection, a
 * body of at most 1 KiB, [http] allow.
 *
 * A re-check is limited by [http] recheck-rate (all clients), recheck-per-client
 * (per client /24 or /56) and recheck-interval (per address, from the verdict's
 * last check and from the last re-check asked), then queued (WEB_RECHECK_QUEUE) and
 * handed to recheck on the main loop, which asks the lookup thread as the control
 * socket's `db recheck` does. */
#ifndef THREATBL_WEB_H
#define THREATBL_WEB_H

#include <uv.h>

#include "config.h"
#include "ipaddr.h"
#include "shared.h"

struct web;

/* Re-checks waiting for the main loop; a page asking for more is told to try later. */
#define WEB_RECHECK_QUEUE 64

/* Look ip up again now (main loop thread); what it does when it cannot (no lookups,
 * budget used up) is its own business: the page has said "asked" already. */
typedef void (*web_recheck_fn)(void *arg, const struct ipaddr *ip);

/* Bind [http] listen of cfg (before dropping root) and start serving. loop: the main
 * loop, where recheck runs (NULL recheck: re-checks are refused as if off).
 * database: the sqlite file to read stored facts from (NULL: none); sh: the
 * answering loops' view. 0 with *out NULL when [http] listen is not set; 0 with *out
 * set; or a negative errno (logged: a bad or busy address). Main loop thread. */
int web_start(uv_loop_t *loop, const struct config *cfg, struct shared *sh,
	      const char *database, web_recheck_fn recheck, void *recheck_arg,
	      struct web **out);

/* Stop serving (waits for the web thread); w is freed once its handle on the main
 * loop has closed. NULL: nothing. Main loop thread. */
void web_stop(struct web *w);

#endif
