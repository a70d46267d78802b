/* stats.c - every number the server shows about itself, from one list.
 *
 * `threatbl stats` (its lines and --json) and the Prometheus exposition at /metrics
 * (metrics.c) both walk stats_foreach, so that they cannot drift: one family per
 * metric (name, type, help) and its samples (labels, value). The families, their
 * labels and the line format are in doc/operations.md#counters.
 *
 * Threads. The answering loops' counters (counters.h) are read live, with relaxed
 * loads, by whichever thread walks the list. Everything else is the main loop's or
 * behind another thread's lock (the cache under the shared lock, the lookups'
 * snapshot, the store's mutex): stats_refresh, on the main loop thread, copies it into
 * a snapshot under the snapshot's own mutex. The control socket's `stats` refreshes
 * first; while /metrics is served the main loop also refreshes every second
 * (stats_start), so a scrape reads numbers at most about a second old and never waits
 * for the main loop. The loops' counters read by a walk belong to loops that must
 * outlive it: stop the metrics thread before the workers (server.c). */
#ifndef THREATBL_STATS_H
#define THREATBL_STATS_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct stats;

enum stats_type { STATS_COUNTER, STATS_GAUGE, STATS_HISTOGRAM };

struct stats_family {
	const char *name;        /* threatbl_... */
	enum stats_type type;
	const char *help;        /* one line, no backslash or newline */
};

struct stats_label {
	const char *name;
	const char *value;       /* escaped when printed (stats_format) */
};

/* One sample: the family's name with suffix ("" or, for a histogram, "_bucket",
 * "_sum", "_count"), its labels and value: the double d when is_float, else u. */
struct stats_sample {
	const struct stats_family *fam;
	const char *suffix;
	const struct stats_label *labels;
	size_t nlabels;
	int is_float;
	uint64_t u;
	double d;
};

/* Called for each family before its samples (a family may have none), then for
 * each sample. */
struct stats_visitor {
	void (*family)(void *arg, const struct stats_family *fam);
	void (*sample)(void *arg, const struct stats_sample *s);
	void *arg;
};

/* The stats of srv, reading the counters of srv->host and of srv->workers as they
 * are now (call after the loops have started; they must outlive it). Refreshed once.
 * 0 or -ENOMEM. Main loop thread; stats_close frees it. */
int stats_new(struct server *srv, struct stats **out);

/* Copy what the main loop knows into the snapshot. Main loop thread. */
void stats_refresh(struct stats *st);

/* Refresh every second from now on (for the metrics thread). Main loop thread. */
void stats_start(struct stats *st);

/* Stop refreshing and free st (once its timer has closed). No walk may run any more.
 * Main loop thread. NULL: nothing. */
void stats_close(struct stats *st);

/* Walk every family and sample: the snapshot (copied under its mutex) and the loops'
 * counters now. Any thread. */
void stats_foreach(struct stats *st, const struct stats_visitor *v);

/* The sample's line without its newline: `name{label="value",...} value` or
 * `name value`, label values escaped as Prometheus wants (\\, \", \n), integers in
 * decimal, doubles with up to 15 significant digits. Returns what snprintf returns. */
int stats_format(const struct stats_sample *s, char *buf, size_t size);

#endif
