/* tcp.c - DNS over TCP on one address (RFC 7766).
 *
 * Length-prefixed messages, several queries per connection answered as they are ready
 * (out of order when one waits for a lookup), an idle timeout, a cap on connections
 * per client address (IPv4 /32, IPv6 /64) and in all, on queries in flight per
 * connection and on bytes buffered per connection. At the cap in all, the longest
 * idle connection is closed to admit a new one (an LRU list by last activity, O(1) per
 * event), so that one client cannot lock the others out by holding connections. */
#ifndef THREATBL_TCP_H
#define THREATBL_TCP_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "host.h"

/* Queries waiting for a lookup per connection; past it the connection is not read. */
#define TCP_INFLIGHT 32
/* Relay slots a host should provide per TCP listener for parked queries; when they
 * are all taken a query is answered at once (`unknown`). */
#define TCP_WAITERS 4096

struct tcp_listener;

/* Bind addr and start accepting on host->loop. 0, or a negative errno (the message is
 * logged). The connection caps (tcp_max_clients and tcp_clients_per_ip, 0: no cap) and
 * the idle timeout are read from the host's view per new connection, so a reload
 * applies to the next ones.
 * TCP is served by the main loop alone (the workers of `threads` serve UDP), so there
 * is no SO_REUSEPORT here: a second daemon on the same port fails to start although
 * UDP would let it bind. */
int tcp_start(struct host *host, const struct sockaddr *addr, struct tcp_listener **out);

/* Log the counters (info), each line starting with when ("" or "stats: "). On the
 * listener's loop thread. */
void tcp_log_stats(const struct tcp_listener *t, const char *when);

/* Connections open now, counted against tcp-clients (stats.c). On the listener's loop
 * thread. */
unsigned tcp_connections(const struct tcp_listener *t);

/* Stop accepting, close every connection (parked queries cancelled with host_cancel),
 * free once closed; the counters are logged (info). On the listener's loop thread. */
void tcp_close(struct tcp_listener *t);

#endif
