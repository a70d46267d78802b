/* status.c - the one line a running threatbld says about itself: what it serves, how
 * many verdicts it holds, and whether lookups are paused and why. systemd shows it in
 * `systemctl status threatbld` (STATUS=, sent by daemon.c); it is built on the loop
 * thread from the server context. */
#ifndef THREATBL_STATUS_H
#define THREATBL_STATUS_H

#include <stddef.h>

struct server;

/* "serving 1 zone, 12345 verdicts", then "; lookups paused: daily budget used up" or
 * "; lookups off" as the case may be. arg is the struct server; loop thread. */
void status_describe(void *arg, char *buf, size_t size);

/* Hand status_describe to srv->daemon, so that STATUS= follows the server. Loop thread,
 * once srv->cache, srv->zones and srv->lock are set up. */
void status_start(struct server *srv);

#endif
