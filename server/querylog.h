/* querylog.c - one line per answered query ([server] query-log), written off the loops.
 *
 * The format is doc/operations.md#query-log. Each answering loop owns a struct
 * querylog_loop: it formats a line into its own fixed ring buffer (no allocation, no
 * lock, no system call) and one writer thread of the struct querylog writes the rings
 * out to the file, whole lines only, so that the lines of the loops never interleave.
 * When the writer falls behind or the disk is full the ring fills and the loop drops
 * lines, counted; the writer warns once per episode and says how many were dropped
 * when writing resumes. Memory is bounded by the rings.
 *
 * The file is opened by querylog_open at start (as root, before the privileges are
 * dropped: it is then given to [server] user) and at each reload (SIGHUP: logrotate's
 * create or move), on the reload's thread; querylog_set hands the new file to the
 * writer, which writes what the rings hold to the previous one and closes it. */
#ifndef THREATBL_QUERYLOG_H
#define THREATBL_QUERYLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "counters.h"
#include "dns.h"

struct querylog;

/* One loop's side; written by that loop only, except sample (the main loop). */
struct querylog_loop;

/* -t, and before opening: the path must be absolute, not a symlink, not a directory,
 * in a directory that exists. 0, or a negative errno with a message in err. */
int querylog_check(const char *path, char *err, size_t errlen);

/* Open (create 0640) path for appending, refusing a symlink (O_NOFOLLOW); when user
 * is not NULL and we are root, the file is given to that user (a reopen after the
 * privileges are dropped must work). Returns the fd, or a negative errno with a
 * message in err. Any thread. */
int querylog_open(const char *path, const char *user, char *err, size_t errlen);

/* The writer, without its thread (started by querylog_start once the process has
 * forked). NULL when out of memory. Main thread. */
struct querylog *querylog_new(void);

/* Start the writer thread. 0, or a negative errno. */
int querylog_start(struct querylog *ql);

/* Take fd (opened from path) into use (-1: log nothing) and log one query in sample
 * (>= 1) per loop. The
 * previous file is written out and closed by the writer. fd is the writer's from here
 * on, even on error. Main loop. */
int querylog_set(struct querylog *ql, int fd, const char *path, unsigned sample);

/* A loop's side, for its host (host.h). NULL when out of memory. Main loop, before
 * that loop runs. Freed by querylog_free. */
struct querylog_loop *querylog_attach(struct querylog *ql);

/* Stop the writer after it has written what the rings hold; free everything. Once
 * the loops have stopped. NULL is fine. */
void querylog_free(struct querylog *ql);

/* Whether the loop logs at all now (one relaxed load): the transports take the time
 * of receipt only then. l may be NULL. */
int querylog_on(const struct querylog_loop *l);

/* Whether this answered query is one of the sample: counts per loop, the first of
 * every N. Call once per answered query when querylog_on. */
int querylog_pick(struct querylog_loop *l);

/* One answered query. */
struct querylog_entry {
	const struct sockaddr *client;
	enum ctr_transport transport;
	const uint8_t *q;           /* the query as received */
	size_t qlen;
	const struct dns_result *res;
	uint64_t received_ns;       /* uv_hrtime() at receipt */
	uint64_t sent_ns;           /* uv_hrtime() once handed to the kernel */
};

/* Format e into the loop's ring, or count it dropped when the ring is full. */
void querylog_line(struct querylog_loop *l, const struct querylog_entry *e);

/* The query name of q (its question) as zone-file text into buf (at least
 * QUERYLOG_NAME_MAX bytes): bytes outside '!'..'~', backslash and a '.' inside a
 * label as \DDD (decimal, as in zone files); "." for the root; "?" when there is no
 * readable name. Returns the length; *qend gets the offset after the name (0 with
 * "?"). */
#define QUERYLOG_NAME_MAX (255 * 4 + 2)
size_t querylog_name(const uint8_t *q, size_t qlen, char *buf, size_t *qend);

/* The loop's lines handed to the writer and dropped, since start (any thread). */
void querylog_loop_counts(const struct querylog_loop *l, uint64_t *logged,
			  uint64_t *dropped);

#endif
