/* reload.c - what a start or a reload builds, and taking it into use.
 *
 * reload_load() reads the configuration (with the command line's overrides), builds
 * the zones and their static lists and reads the API key, without touching the
 * running server: at start on the main thread, for SIGHUP and for a changed static
 * list on the thread pool. reload_adopt() swaps the result in on the loop thread; a
 * failed reload is logged and the running configuration kept. The static lists'
 * mtimes are polled every two seconds on the thread pool (list watching), and a change
 * reloads. */
#ifndef THREATBL_RELOAD_H
#define THREATBL_RELOAD_H

#include <stdint.h>

#include "config.h"
#include "lookup.h"

struct server;
struct provider_kind;
struct server_watch;
struct zoneset;

/* What a reload (or the start) builds. Owned by whoever holds it; reload_loaded_free. */
struct loaded {
	struct config *cfg;
	struct zoneset *zones;
	struct server_watch *watch;      /* the static lists' paths and mtimes */
	/* every provider to ask, in priority order ("auto" resolved; none: no lookups),
	 * each with its key (keys[i], owned here, never logged) and where the key came
	 * from (found here, off the loop, as it stats the credential) */
	struct lookup_provider prov[CONFIG_PROVIDERS_MAX];
	char *keys[CONFIG_PROVIDERS_MAX];
	size_t nprov;
	int qlog_fd;                     /* [server] query-log opened; valid with... */
	int has_qlog_fd;                 /* ... this (-t opens nothing) */
};

/* The keys in use, one per provider asked: kept for a reload that can no longer read
 * a key file (a root-only file after dropping root). Owned by the holder;
 * reload_keys_free. Never logged. */
struct reload_keys {
	const struct provider_kind *kind[CONFIG_PROVIDERS_MAX];
	char *key[CONFIG_PROVIDERS_MAX];
	size_t n;
};

/* Copy src into *dst (empty on failure). 0 or -ENOMEM. */
int reload_keys_copy(struct reload_keys *dst, const struct reload_keys *src);
void reload_keys_free(struct reload_keys *k);

/* Build everything for serial. held: the keys in use, each kept (with one warning)
 * when its file cannot be read any more; NULL at start and for -t. Problems go to
 * report. 0, or a negative errno with ld empty. */
int reload_load(const struct server *srv, uint32_t serial, const struct reload_keys *held,
		config_report_fn report, void *arg, struct loaded *ld);
void reload_loaded_free(struct loaded *ld);

/* Take ld into use (ld is emptied): configuration, zones, key, lookups, log level,
 * the answering loops' view. The previous ones are freed. Loop thread. */
void reload_adopt(struct server *srv, struct loaded *ld);

/* Pass the feeds of the configuration in use to the lookup thread (feed.h), once
 * srv->feeds_started is set (after dropping root, so that their files are the
 * daemon user's); reload_adopt calls it. Loop thread. */
void reload_feeds_apply(struct server *srv);

/* Reload on the thread pool (why is logged); a reload asked while one runs is done
 * once it ends. Loop thread. */
void reload_start(struct server *srv, const char *why);

/* A reload asked for through the control socket (`threatbl reload`): done(arg, 0,
 * NULL) once a reload that started after this call has been taken into use, or
 * done(arg, err, msg) when it failed, msg the first error it reported ("FILE:LINE:
 * text") or the errno's text. A reload already running is not the one: the request
 * waits for the next, which starts when the running one ends (as SIGHUP does, and
 * several requests share it). When the server stops first, done(arg, -ECANCELED,
 * "the server is stopping"). done runs on the loop thread, from inside this call
 * only when the reload cannot even start (out of memory). 0, or -ECANCELED
 * (stopping) / -ENOMEM with done never called. Loop thread. */
typedef void (*reload_done_fn)(void *arg, int err, const char *msg);
int reload_request(struct server *srv, const char *why, reload_done_fn done, void *arg);

/* Call every done still waiting with -ECANCELED (server_stop). Loop thread. */
void reload_cancel_waiters(struct server *srv);

/* Start polling the static lists of the configuration in use (srv->list_watch must be
 * initialised). Loop thread. */
void reload_watch_start(struct server *srv);

/* Free what is in use (at the end, once the loop has stopped). */
void reload_release(struct server *srv);

#endif
