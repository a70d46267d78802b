/* udp.c - DNS over UDP on one address.
 *
 * A non-blocking socket polled by the loop; queries are read in batches with
 * recvmmsg() and answered in batches with sendmmsg(), which is where most of a DNS
 * server's CPU goes. A query that needs a lookup is copied into a waiter from a fixed
 * pool (no allocation) and answered when intel.c calls back. */
#ifndef THREATBL_UDP_H
#define THREATBL_UDP_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct server;
struct udp_listener;

/* Bind addr and start answering. 0, or a negative errno (the message is logged).
 * The socket has SO_REUSEPORT, so one listener per loop thread may share addr. On a
 * wildcard address (0.0.0.0, ::) answers leave from the address the query came to.
 * srv must outlive the listener; srv->intel may be NULL (nothing is ever parked). */
int udp_start(struct server *srv, const struct sockaddr *addr, struct udp_listener **out);

/* Stop reading, drop parked queries (intel_cancel), close, free once closed; the
 * counters below are logged (info). Call it while srv->intel is still alive (or
 * after it is closed and set to NULL). */
void udp_close(struct udp_listener *u);

/* Counters since start, for logs and tests. */
struct udp_stats {
	uint64_t received;   /* datagrams read */
	uint64_t answered;   /* answers handed to the kernel */
	uint64_t parked;     /* queries that waited for a lookup */
	uint64_t unparked;   /* answered at once because they could not wait */
	uint64_t dropped;    /* answers lost: socket full, or a send error */
	uint64_t oversized;  /* datagrams too large to be a query, dropped */
	uint64_t wakeups;    /* readable events from the loop */
	uint64_t batches;    /* recvmmsg calls that returned datagrams */
	uint64_t empty;      /* recvmmsg calls that found none */
	unsigned waiting;    /* parked now */
};
void udp_get_stats(const struct udp_listener *u, struct udp_stats *st);

#endif
