/* status.c - the one line a running threatbld says about itself: what it serves, how
 * many verdicts it holds, and whether lookups are paused and why. systemd shows it in
 * `systemctl status threatbld` (STATUS=, sent by daemon.c); it is built on the loop
 * thread from the server context. */
#ifndef THREATBL_STATUS_H
#define THREATBL_STATUS_H

#include <stddef.h>
#include <stdint.h>

struct server;

/* "serving 1 zone, 12345 verdicts", then "; lookups paused: daily budget used up" or
 * "; lookups off" as the case may be. arg is the struct server; loop thread. */
void status_describe(void *arg, char *buf, size_t size);

/* Why lookups are paused, as a short word for the stats' label
 * (threatbl_provider_paused{reason}): "bad_key", "budget" (the daily budget used up),
 * "limit" (the service's credits), "trouble" (backing off), or NULL when not paused.
 * paused and calls_today are intel_stats's, daily_budget the configuration's. */
const char *status_pause_word(int paused, uint32_t calls_today, uint32_t daily_budget);

/* Hand status_describe to srv->daemon, so that STATUS= follows the server. Loop thread,
 * once srv->cache, srv->zones and srv->lock are set up. */
void status_start(struct server *srv);

#endif
