/* worker.c - the extra loops of `threads`: UDP answered on more cores.
 *
 * `threads = N` runs N-1 worker threads beside the main loop. Each has its own libuv
 * loop and its own SO_REUSEPORT socket per listen address, so the kernel spreads the
 * queries over the loops. They answer from the same zones, lists and verdicts as the
 * main loop, read under the server's read-write lock, held for one batch at a time;
 * the main loop takes it for writing when it adds a verdict or swaps in a reload.
 * Everything else stays on the main loop: TCP, lookups, the store, reloads. A worker's
 * query that needs a lookup is handed to the main loop, which parks it with intel.c
 * and hands it back when the verdict is in (or the deadline passes); the refresh of a
 * stale verdict goes the same way. Hand-offs use fixed pools: nothing is allocated
 * per query. */
#ifndef THREATBL_WORKER_H
#define THREATBL_WORKER_H

#include <stddef.h>
#include <sys/socket.h>

struct server;
struct worker;

/* Bind every address of addrs (naddrs of them) on a new loop and start its thread;
 * call on the main loop thread, before dropping root. index numbers the worker in
 * logs (2, 3, ...). 0, or a negative errno with nothing left running. The worker
 * belongs to the main loop from then on: it is freed there after worker_stop. */
int worker_start(struct server *srv, unsigned index, const struct sockaddr_storage *addrs,
		 size_t naddrs, struct worker **out);

/* Ask the worker to stop (on the main loop thread): it stops reading, waits for its
 * parked queries to come back (srv->intel must be closing or closed, so that they
 * do), closes, and ends its thread; the main loop then joins and frees it. The main
 * loop keeps running until that is done. */
void worker_stop(struct worker *w);

#endif
