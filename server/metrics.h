/* metrics.c - the Prometheus exposition: `GET /metrics` on [server] metrics.
 *
 * Off by default. libmicrohttpd serves it on a thread of its own, so a slow or
 * hostile scraper never touches the answering loops: a scrape walks stats_foreach
 * (stats.h), which reads the loops' counters with relaxed loads and the rest from
 * the snapshot the main loop refreshes every second. Only GET and HEAD of /metrics
 * are answered (404 for other paths, 405 for other methods); peers outside
 * [server] metrics-allow (default 127.0.0.0/8 and ::1) are closed at accept; the
 * connections are bounded (METRICS_CONNECTIONS_MAX, METRICS_PER_IP_MAX,
 * METRICS_TIMEOUT_S, a small memory pool each). doc/operations.md#metrics. */
#ifndef THREATBL_METRICS_H
#define THREATBL_METRICS_H

#include "acl.h"

#define METRICS_CONNECTIONS_MAX 16
#define METRICS_PER_IP_MAX 4
#define METRICS_TIMEOUT_S 10
#define METRICS_MEMORY_LIMIT (32u * 1024)

struct stats;
struct metrics;

/* Bind addr ("ADDR:PORT", numeric; before dropping root, so a port below 1024 works)
 * and serve st there from now on, admitting the peers allow admits (copied; empty:
 * everyone). st must outlive it. 0, or a negative errno with the reason logged (a
 * bad address, the address in use, not this machine's). Main loop thread. */
int metrics_start(const char *addr, const struct acl *allow, struct stats *st,
		  struct metrics **out);

/* Stop serving: waits for the metrics thread to end (a scrape in progress is cut at
 * once), closes the socket, frees m. NULL: nothing. Main loop thread. */
void metrics_stop(struct metrics *m);

#endif
