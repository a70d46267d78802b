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

#include "dns.h"
#include "intel.h"

struct udp_listener;

/* The loop a listener runs on and what its queries reach through it: the main loop
 * (server.c) or a worker loop of `threads` (worker.c). Owned by the caller, which
 * keeps it alive until every listener on it has closed. */
struct udp_host {
	uv_loop_t *loop;
	/* Around each batch of queries (and each parked query's answer): enter returns
	 * the data to answer from, with its clock set, and holds whatever guards that
	 * data until leave. */
	const struct dns_env *(*enter)(struct udp_host *h);
	void (*leave)(struct udp_host *h);
	/* Park w until ip has a verdict, like intel_wait (cb on this host's loop). */
	int (*wait)(struct udp_host *h, const struct ipaddr *ip, struct intel_waiter *w,
		    intel_wait_cb cb);
	/* Forget a parked waiter, like intel_cancel. NULL: a host whose waiters cannot
	 * be taken back; udp_close then waits for them to come back (-ECANCELED). */
	void (*cancel)(struct udp_host *h, struct intel_waiter *w);
	const char *tag; /* added to log lines: "" or " (thread 2)" */
};

/* Bind addr and start answering on host->loop. 0, or a negative errno (the message
 * is logged). The socket has SO_REUSEPORT, so one listener per loop thread shares
 * addr. On a wildcard address (0.0.0.0, ::) answers leave from the address the query
 * came to. */
int udp_start(struct udp_host *host, const struct sockaddr *addr, struct udp_listener **out);

/* Stop reading, drop parked queries (host->cancel) or wait for them to come back,
 * close, free once closed; the counters below are logged (info). On the listener's
 * loop thread. */
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
