/* server.c - the server context: everything one running threatbld owns, and its life.
 *
 * server_run() loads the verdicts, binds every listen address, drops root, runs the
 * loop, reloads on SIGHUP (new configuration, zones and lists built on a worker thread
 * and swapped in on the loop thread; a bad one is logged and the old one kept), logs
 * every loop's counters and the lookups' on SIGUSR1, ignores SIGUSR2, and stops on
 * SIGTERM/SIGINT after writing pending verdicts: within about 4 s even when a reload
 * still holds a thread of the pool (then the store is closed and the process exits
 * without waiting for it; doc/configuration.md#signals). Threads: the main loop
 * (UDP, TCP, signals, reloads), the workers of `threads` (UDP), the lookup thread
 * (lookup.h) and the store's writer; what they share is in shared.h. This is the single context
 * passed by pointer; there are no other globals (log.c aside). */
#ifndef THREATBL_SERVER_H
#define THREATBL_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cache.h"
#include "config.h"
#include "daemon.h"
#include "host.h"
#include "lookup.h"
#include "reload.h"
#include "shared.h"
#include "store.h"
#include "zone.h"

struct feed_table;
struct udp_listener;
struct tcp_listener;
struct worker;
struct control;
struct web;
struct metrics;
struct reload_waiter;
struct stats;
struct steer;
struct override_set;

struct server {
	uv_loop_t loop;
	const char *config_path;    /* -c, or the default path */
	int foreground;             /* -f: no fork, log to stderr */
	char **cli_listen;          /* -l values, kept to override on reload (main's) */
	size_t ncli_listen;
	char *cli_database;         /* -d value */
	struct config *cfg;
	struct zoneset *zones;
	struct cache *cache;
	struct store *store;        /* NULL when no database */
	struct lookup_thread *lookup; /* the lookups' thread, running from start to stop */
	int lookups;                /* a provider is configured */
	int lookup_running;         /* its thread runs or has not been joined yet */
	struct reload_keys keys;    /* the providers' keys in use; never logged */
	struct feed_table *feeds;   /* the feeds' slots (feed.h), for the whole run */
	int feeds_started;          /* root dropped: the feeds may run (reload_feeds_apply) */
	struct shared shared;       /* the view every answering loop reads, and its lock */
	struct host host;           /* the main loop as an answering loop */
	struct udp_listener **udp;
	size_t nudp;
	struct worker **workers;    /* threads - 1 of them */
	size_t nworkers;
	struct tcp_listener **tcp;
	size_t ntcp;
	struct control *control;    /* the control socket; NULL: none (control.h) */
	struct web *web;            /* the lookup page; NULL: none (web.h) */
	struct steer *steer;        /* the operator's overrides and pruning (steer.h) */
	const struct override_set *overrides; /* compiled, in the view; NULL: none */
	uv_signal_t sig_hup, sig_term, sig_int, sig_usr1, sig_usr2;
	uv_timer_t stop_timer;      /* unreferenced: a stop taking too long exits */
	uv_timer_t list_watch;      /* polls the static lists' mtimes */
	struct server_watch *watch; /* the lists' paths and mtimes of the zones in use */
	int watching;               /* a stat job is on the thread pool */
	int reloading;              /* a reload job is on the thread pool */
	int reload_again;           /* a reload was asked while one ran */
	struct reload_waiter *reload_pending; /* reload_request: for the next reload */
	struct reload_waiter *reload_running; /* reload_request: for the one running */
	uint64_t reloads_ok, reloads_failed;  /* since start (reload.c) */
	int64_t start_time;         /* unix seconds of the start */
	struct stats *stats;        /* what the metrics thread reads (stats.h); NULL */
	struct metrics *metrics;    /* the Prometheus exposition (metrics.h); NULL: off */
	uint32_t serial;            /* SOA serial of the zones in use */
	struct daemon daemon;       /* the pipe to the waiting parent (no -f) */
	struct querylog *qlog;      /* [server] query-log's writer; NULL for -t */
	int stopping;
	int exit_code;
};

/* Point the shared view at the zones, cache and settings in use, under the write
 * side of the lock: afterwards no loop holds a pointer into the previous zones
 * (main loop thread). */
void server_env_apply(struct server *srv);

/* Everything from main(): returns the process exit code. */
int server_run(struct server *srv);

/* -t: load the configuration, its zones, lists and key; report problems on stderr as
 * FILE:LINE: message. Returns 0 when valid, 1 otherwise. */
int server_check(struct server *srv);

#endif
