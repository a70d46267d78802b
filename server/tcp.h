/* tcp.c - DNS over TCP on one address (RFC 7766).
 *
 * Length-prefixed messages, several queries per connection answered as they are ready
 * (out of order when one waits for a lookup), an idle timeout, a cap on connections,
 * on queries in flight per connection and on bytes buffered per connection. */
#ifndef THREATBL_TCP_H
#define THREATBL_TCP_H

#include <sys/socket.h>
#include <uv.h>

struct server;
struct tcp_listener;

int tcp_start(struct server *srv, const struct sockaddr *addr, struct tcp_listener **out);

/* Stop accepting, close every connection (parked queries cancelled), free once closed. */
void tcp_close(struct tcp_listener *t);

/* Connections open now, for tests and logs. */
unsigned tcp_connections(const struct tcp_listener *t);

#endif
