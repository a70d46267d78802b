/* server.c - the server context: everything one running threatbld owns, and its life.
 *
 * server_run() loads the verdicts, binds every listen address, drops root, runs the
 * loop, reloads on SIGHUP (new configuration, zones and lists built on a worker thread
 * and swapped in on the loop thread; a bad one is logged and the old one kept) and
 * stops on SIGTERM/SIGINT after writing pending verdicts. This is the single context
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
#include "dns.h"
#include "intel.h"
#include "store.h"
#include "udp.h"
#include "zone.h"

struct udp_listener;
struct tcp_listener;
struct worker;

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
	struct intel *intel;        /* NULL when provider none */
	char *api_key;              /* never logged */
	struct dns_env env;         /* read by dns_handle; pointers swapped on reload */
	/* With workers: held for reading by them around each batch, taken for writing
	 * here when env changes and by cache_put. */
	pthread_rwlock_t lock;
	struct udp_host udp_host;   /* the main loop, for its UDP listeners */
	struct udp_listener **udp;
	size_t nudp;
	struct worker **workers;    /* threads - 1 of them */
	size_t nworkers;
	struct tcp_listener **tcp;
	size_t ntcp;
	uv_signal_t sig_hup, sig_term, sig_int;
	uv_timer_t list_watch;      /* polls the static lists' mtimes */
	struct server_watch *watch; /* the lists' paths and mtimes of the zones in use */
	int watching;               /* a stat job is on the thread pool */
	int reloading;              /* a reload job is on the thread pool */
	int reload_again;           /* a reload was asked while one ran */
	uint32_t serial;            /* SOA serial of the zones in use */
	struct daemon daemon;       /* the pipe to the waiting parent (no -f) */
	int stopping;
	int exit_code;
};

/* The waiting queries' budget: UDP waiters per listener, TCP queries per connection. */
#define SERVER_UDP_WAITERS 4096
#define SERVER_TCP_INFLIGHT 32

/* Point env at the zones, cache and lookups in use, under the lock (loop thread). */
void server_env_apply(struct server *srv);

/* Set env.now from the clock; transports call it once per batch. */
void server_tick(struct server *srv);

/* Everything from main(): returns the process exit code. */
int server_run(struct server *srv);

/* -t: load the configuration, its zones, lists and key; report problems on stderr as
 * FILE:LINE: message. Returns 0 when valid, 1 otherwise. */
int server_check(struct server *srv);

#endif
