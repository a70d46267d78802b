/* worker.c - the extra loops of `threads`: UDP answered on more cores.
 *
 * `threads = N` runs N-1 worker threads beside the main loop. Each has its own libuv
 * loop, its own host (host.h: its copy of the shared view, its clock, its relay to
 * the lookup thread) and its own SO_REUSEPORT socket per listen address, so the
 * kernel spreads the queries over the loops. The main loop keeps TCP, reloads and
 * signals; lookups run on the lookup thread (lookup.h) for every loop alike. */
#ifndef THREATBL_WORKER_H
#define THREATBL_WORKER_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "lookup.h"
#include "shared.h"

struct worker;
struct counters;
struct querylog;

/* Bind every address of addrs (naddrs of them) on a new loop answering from sh, with
 * a relay of lk, and start its thread; call on the main loop thread, before dropping
 * root. index numbers the worker in logs (2, 3, ...). 0, or a negative errno with
 * nothing left running. The worker belongs to the main loop from then on: it is
 * freed there after worker_stop. ql: the query log the loop attaches to (NULL:
 * none). */
int worker_start(uv_loop_t *main_loop, struct shared *sh, struct lookup_thread *lk,
		 unsigned index, const struct sockaddr_storage *addrs, size_t naddrs,
		 struct querylog *ql, struct worker **out);

/* Ask the worker to log its listeners' counters on its own loop (SIGUSR1); on the
 * main loop thread, before worker_stop. */
void worker_log_stats(struct worker *w);

/* The worker loop's answer counters (counters.h: written by that loop, read by any
 * thread with counter_get), valid until the worker is freed. */
const struct counters *worker_counters(const struct worker *w);

/* Ask the worker to stop (on the main loop thread): it stops reading, drops its
 * parked queries, waits for their relay slots to come home (the lookup thread must
 * be stopping, so that they do), closes, and ends its thread; the main loop then
 * joins and frees it. The main loop keeps running until that is done. */
void worker_stop(struct worker *w);

#endif
