/* udp.c - DNS over UDP on one address.
 *
 * A non-blocking socket polled by the loop; queries are read in batches with
 * recvmmsg() and answered in batches with sendmmsg(), which is where most of a DNS
 * server's CPU goes. A query that needs a lookup is copied into a waiter from a fixed
 * pool (no allocation) and answered when intel.c calls back. */
#ifndef THREATBL_UDP_H
#define THREATBL_UDP_H

#include <sys/socket.h>
#include <uv.h>

struct server;
struct udp_listener;

/* Bind addr and start answering. 0, or a negative errno (the message is logged). */
int udp_start(struct server *srv, const struct sockaddr *addr, struct udp_listener **out);

/* Stop reading, drop parked queries (intel_cancel), close, free once closed. */
void udp_close(struct udp_listener *u);

#endif
