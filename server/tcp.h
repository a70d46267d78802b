/* tcp.c - DNS over TCP on one address (RFC 7766).
 *
 * Length-prefixed messages, several queries per connection answered as they are ready
 * (out of order when one waits for a lookup), an idle timeout, a cap on connections,
 * on queries in flight per connection and on bytes buffered per connection. */
#ifndef THREATBL_TCP_H
#define THREATBL_TCP_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct server;
struct tcp_listener;

/* Bind addr and start accepting. 0, or a negative errno (the message is logged).
 * srv->cfg->tcp_max_clients (0: no cap) and tcp_idle_ms are read per new connection,
 * so a reload applies to the next ones. TCP is served by the main loop alone (the
 * workers of `threads` serve UDP), so there is no SO_REUSEPORT here: a second daemon
 * on the same port fails to start although UDP would let it bind. */
int tcp_start(struct server *srv, const struct sockaddr *addr, struct tcp_listener **out);

/* Stop accepting, close every connection (parked queries cancelled), free once closed.
 * Call it while srv->intel is still alive (or after it is closed and set to NULL). */
void tcp_close(struct tcp_listener *t);

/* Connections open now, for tests and logs. */
unsigned tcp_connections(const struct tcp_listener *t);

/* Counters since start, for logs and tests. */
struct tcp_stats {
	uint64_t accepted;     /* connections served */
	uint64_t refused;      /* accepted and closed at once: over tcp-clients */
	uint64_t idle_closed;  /* closed by the idle timeout */
	uint64_t malformed;    /* closed for a message shorter than a DNS header */
	uint64_t queries;      /* complete messages read */
	uint64_t answered;     /* answers written or queued */
	uint64_t parked;       /* queries that waited for a lookup */
};
void tcp_get_stats(const struct tcp_listener *t, struct tcp_stats *st);

#endif
