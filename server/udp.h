/* udp.c - DNS over UDP on one address.
 *
 * A non-blocking socket polled by the loop; queries are read in batches with
 * recvmmsg() and answered in batches with sendmmsg(), which is where most of a DNS
 * server's CPU goes. A query that needs a lookup is copied into a waiter from a fixed
 * pool (no allocation) and answered when the lookup comes back through the host. */
#ifndef THREATBL_UDP_H
#define THREATBL_UDP_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "host.h"

/* Parked queries per listener (its fixed pool of waiters); the host's relay should
 * have as many slots per UDP listener. */
#define UDP_WAITERS 4096

struct udp_listener;

/* Bind addr and start answering on host->loop. 0, or a negative errno (the message
 * is logged). The socket has SO_REUSEPORT, so one listener per loop thread shares
 * addr. On a wildcard address (0.0.0.0, ::) answers leave from the address the query
 * came to. */
int udp_start(struct host *host, const struct sockaddr *addr, struct udp_listener **out);

/* Log the counters (info), the line starting with when ("" or "stats: "). On the
 * listener's loop thread. */
void udp_log_stats(const struct udp_listener *u, const char *when);

/* Stop reading, drop parked queries (host_cancel), close, free once closed; the
 * counters are logged (info). On the listener's loop thread. */
void udp_close(struct udp_listener *u);

#endif
