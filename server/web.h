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
 * A re-check is handed to recheck (set by the server), on the web thread: it must
 * not block. It is limited by [http] recheck-rate (all clients), recheck-per-client
 * (per client /24 or /56) and recheck-interval (per address, from the verdict's
 * last check and from the last re-check asked). */
#ifndef THREATBL_WEB_H
#define THREATBL_WEB_H

#include "config.h"
#include "ipaddr.h"
#include "shared.h"

struct web;

/* Ask for a new lookup of ip now. 0, or a negative errno whose meaning the page
 * shows: -ENOTSUP (no lookups), -EDQUOT (daily budget used up), -EAGAIN (the lookup
 * queue is full), -EPERM (the operator allowed or listed it by hand). */
typedef int (*web_recheck_fn)(void *arg, const struct ipaddr *ip);

/* Bind [http] listen of cfg (before dropping root) and start serving. database: the
 * sqlite file to read stored facts from (NULL: none); sh: the answering loops' view.
 * 0 with *out NULL when [http] listen is not set; 0 with *out set; or a negative
 * errno (logged: a bad or busy address). */
int web_start(const struct config *cfg, struct shared *sh, const char *database,
	      web_recheck_fn recheck, void *recheck_arg, struct web **out);

/* Stop serving (waits for the web thread) and free w. NULL: nothing. */
void web_stop(struct web *w);

#endif
