/* server.c - the life of one threatbld: start, reload, stop (see server.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "feed.h"
#include "log.h"
#include "metrics.h"
#include "provider.h"
#include "querylog.h"
#include "reload.h"
#include "server.h"
#include "stats.h"
#include "status.h"
#include "steer.h"
#include "store_pg.h"
#include "tcp.h"
#include "udp.h"
#include "web.h"
#include "worker.h"

/* A stop that has not ended after this long is cut short (on_stop_timeout): a reload
 * reading a huge list or a stat on a hung NFS path holds the thread pool, and uv_run
 * would wait for it. 4 s leaves a supervisor's usual 5 s for the exit itself. */
#define STOP_GRACE_MS 4000

static void report_stderr(void *arg, enum config_severity sev, const char *file,
			  unsigned line, const char *msg)
{
	const char *what = sev == CONFIG_WARNING ? "warning: " : "";

	(void)arg;
	if (line)
		fprintf(stderr, "%s:%u: %s%s\n", file, line, what, msg);
	else
		fprintf(stderr, "%s: %s%s\n", file, what, msg);
}

/* -t: print like report_stderr and count what is not a warning: a bad list line is
 * skipped when serving, but makes the configuration invalid for -t. */
static void report_check(void *arg, enum config_severity sev, const char *file,
			 unsigned line, const char *msg)
{
	unsigned *errors = arg;

	report_stderr(NULL, sev, file, line, msg);
	if (sev == CONFIG_ERROR)
		(*errors)++;
}

int server_check(struct server *srv)
{
	struct loaded ld;
	unsigned errors = 0;
	int err = reload_load(srv, (uint32_t)time(NULL), NULL, report_check, &errors, &ld);
	char msg[300];

	if (err)
		return 1;
	/* the database's password file is read as the start reads it (no connection) */
	if (ld.cfg->database_password_file && store_pg_is_uri(ld.cfg->database) &&
	    store_pg_check_password(ld.cfg->database_password_file, msg, sizeof(msg)) < 0)
		report_check(&errors, CONFIG_ERROR, ld.cfg->file, 0, msg);
	reload_loaded_free(&ld);
	return errors ? 1 : 0;
}

void server_env_apply(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct shared_view view = {
		.env = {
			.zones = srv->zones,
			.cache = srv->cache,
			.fresh_s = cfg->fresh_s,
			.max_stale_s = cfg->max_stale_s,
			.unknown_retry_s = VERDICT_UNKNOWN_RETRY_S,
			.lookups = srv->lookups && !srv->stopping,
			.lookup_reserved = cfg->lookup_reserved,
			.feed_skip = cfg->skip_when,
			.overrides = srv->overrides,
		},
		.tcp_max_clients = cfg->tcp_max_clients,
		.tcp_clients_per_ip = cfg->tcp_clients_per_ip,
		.tcp_idle_ms = cfg->tcp_idle_ms,
		.allow_query = cfg->allow_query.n ? &cfg->allow_query : NULL,
	};

	shared_apply(&srv->shared, &view);
}

static void lookup_finished(void *arg)
{
	struct server *srv = arg;

	srv->lookup_running = 0;
}

static void on_close_free_nothing(uv_handle_t *h)
{
	(void)h;
}

/* The loop did not stop in time: something on the thread pool still runs, and
 * nothing of it needs to finish for the verdicts to be safe. Write them and exit
 * without waiting (no atexit handlers: other threads still run). */
static void on_stop_timeout(uv_timer_t *t)
{
	struct server *srv = t->data;

	log_warn("not stopped after %d s: abandoning %s; writing the pending verdicts and "
		 "exiting", STOP_GRACE_MS / 1000, srv->reloading ? "the reload still running" :
		 srv->watching ? "the check of the static lists still running" :
		 "what still runs");
	if (srv->lookup_running)
		log_warn("the lookup thread has not ended: verdicts it has not handed to the "
			 "database yet are lost");
	if (srv->store) {
		store_close(srv->store);
		srv->store = NULL;
	}
	log_info("stopped");
	fflush(NULL);
	_exit(0);
}

static void server_stop(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = 1;
	daemon_stopping(&srv->daemon);
	log_info("stopping");
	/* Unreferenced: it cuts a slow stop short and never keeps a normal one going. */
	uv_timer_start(&srv->stop_timer, on_stop_timeout, STOP_GRACE_MS, 0);
	uv_unref((uv_handle_t *)&srv->stop_timer);
	/* First the metrics thread: it reads the counters of the loops stopped below. */
	metrics_stop(srv->metrics);
	srv->metrics = NULL;
	stats_close(srv->stats);
	srv->stats = NULL;
	/* `threatbl reload` still waiting gets its answer before its socket closes. */
	reload_cancel_waiters(srv);
	/* Every loop's parked queries come back from the lookup thread (-ECANCELED);
	 * the main loop runs until every worker, the lookup thread and its own relay
	 * are done. */
	for (size_t i = 0; i < srv->nworkers; i++)
		worker_stop(srv->workers[i]);
	srv->nworkers = 0;
	for (size_t i = 0; i < srv->nudp; i++)
		udp_close(srv->udp[i]);
	for (size_t i = 0; i < srv->ntcp; i++)
		tcp_close(srv->tcp[i]);
	srv->nudp = srv->ntcp = 0;
	control_stop(srv->control);
	srv->control = NULL;
	/* Before the zones and the cache it reads go. */
	web_stop(srv->web);
	srv->web = NULL;
	steer_stop(srv);
	if (srv->host.relay)
		relay_close(srv->host.relay, NULL, NULL);
	if (srv->lookup)
		lookup_stop(srv->lookup);
	server_env_apply(srv);
	uv_close((uv_handle_t *)&srv->sig_term, on_close_free_nothing);
	uv_close((uv_handle_t *)&srv->sig_int, on_close_free_nothing);
	/* Kept (closed at the very end): closing them would give SIGHUP, SIGUSR1 and
	 * SIGUSR2 back their default action, which ends the process, for the rest of the
	 * stop, while the database writer still writes what is queued (a reload asked
	 * by logrotate then would lose it). A SIGHUP now is logged and ignored. */
	uv_unref((uv_handle_t *)&srv->sig_hup);
	uv_unref((uv_handle_t *)&srv->sig_usr1);
	uv_unref((uv_handle_t *)&srv->sig_usr2);
	uv_close((uv_handle_t *)&srv->list_watch, on_close_free_nothing);
}

/* SIGUSR1: each loop logs its own counters (a worker's and the lookups' by message,
 * on their threads), as rbldnsd and NSD operators expect of a stats signal. */
static void server_log_stats(struct server *srv)
{
	struct shared_view copy;
	size_t verdicts;

	shared_read_begin(&srv->shared, &copy);
	verdicts = cache_count(srv->cache);
	shared_read_end(&srv->shared);
	log_info("stats: %zu verdict(s) in memory, %zu zone(s), serial %u%s", verdicts,
		 srv->zones ? srv->zones->n : 0, srv->serial,
		 srv->reloading ? ", reloading" : "");
	for (size_t i = 0; i < srv->nudp; i++)
		udp_log_stats(srv->udp[i], "stats: ");
	for (size_t i = 0; i < srv->ntcp; i++)
		tcp_log_stats(srv->tcp[i], "stats: ");
	host_log_counters(&srv->host, "stats: ");
	for (size_t i = 0; i < srv->nworkers; i++)
		worker_log_stats(srv->workers[i]);
	if (srv->lookup)
		lookup_log_stats(srv->lookup);
	if (store_is_fleet(srv->store)) {
		struct store_fleet_stats fs;
		struct store_stats ss;

		store_get_stats(srv->store, &ss);
		store_get_fleet_stats(srv->store, &fs);
		log_info("stats: database: %llu written, %zu queued, %llu dropped, %llu failed "
			 "commits; fleet: %llu verdicts received, %llu claims (%llu another "
			 "node's, %llu decided locally), change %lld, %s, %llu reconnections",
			 (unsigned long long)ss.written, ss.queued,
			 (unsigned long long)ss.dropped, (unsigned long long)ss.failed,
			 (unsigned long long)fs.received, (unsigned long long)fs.claims,
			 (unsigned long long)fs.claims_theirs, (unsigned long long)fs.claims_local,
			 (long long)fs.last_change, fs.connected ? "listening" : "not connected",
			 (unsigned long long)fs.reconnects);
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct server *srv = h->data;

	if (signum == SIGHUP && srv->stopping)
		log_info("SIGHUP ignored: stopping");
	else if (signum == SIGHUP)
		reload_start(srv, "SIGHUP");
	else if (signum == SIGUSR1 && !srv->stopping)
		server_log_stats(srv);
	else if (signum == SIGUSR1 || signum == SIGUSR2)
		log_debug("%s ignored", signum == SIGUSR1 ? "SIGUSR1 (stopping)" : "SIGUSR2");
	else
		server_stop(srv);
}

/* The store's writer, when the database file was deleted under it: every verdict in
 * memory, read under the read side of the shared lock (shared.h). */
static int refill_from_cache(void *arg,
			     int (*fn)(void *fnarg, const struct ipaddr *ip,
				       const struct verdict *v),
			     void *fnarg)
{
	struct server *srv = arg;
	struct shared_view copy;
	int rc;

	shared_read_begin(&srv->shared, &copy);
	rc = cache_foreach(srv->cache, fn, fnarg);
	shared_read_end(&srv->shared);
	return rc;
}

static void pool_noop(uv_work_t *w)
{
	(void)w;
}

static void pool_done(uv_work_t *w, int status)
{
	(void)w;
	(void)status;
}

/* Start libuv's thread pool now, its threads named tbl-pool
 * (doc/architecture.md#threads-and-loops): they are made inside the first
 * uv_queue_work and take the name of the thread that makes them, which would
 * otherwise be whichever queued work first. After any fork. */
static int pool_start(uv_loop_t *loop)
{
	static uv_work_t first;
	pthread_t self = pthread_self();
	char name[16] = "";
	int err;

	pthread_getname_np(self, name, sizeof(name));
	pthread_setname_np(self, "tbl-pool");
	err = uv_queue_work(loop, &first, pool_noop, pool_done);
	pthread_setname_np(self, name);
	return err;
}

/* A stored verdict into memory, with the providers that gave it (refresh_skip). */
static int cache_fill(void *arg, const struct ipaddr *ip, const struct verdict *v,
		      const char *source)
{
	return cache_put_from(arg, ip, v, (int)provider_rows(source));
}

/* Bind every listen address for UDP and TCP on the main loop, then start the workers
 * of `threads`, each with its own UDP sockets on the same addresses. */
static int listen_all(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct sockaddr_storage *addrs;
	struct relay *relay;
	size_t n = cfg->nlisten;
	int err = 0;

	srv->udp = calloc(n ? n : 1, sizeof(*srv->udp));
	srv->tcp = calloc(n ? n : 1, sizeof(*srv->tcp));
	srv->workers = calloc(cfg->threads, sizeof(*srv->workers));
	addrs = calloc(n ? n : 1, sizeof(*addrs));
	if (!srv->udp || !srv->tcp || !srv->workers || !addrs) {
		err = -ENOMEM;
		goto out;
	}
	/* The main loop's relay serves its UDP and TCP listeners. */
	err = lookup_relay(srv->lookup, &srv->loop, n * (UDP_WAITERS + TCP_WAITERS), &relay);
	if (err) {
		log_err("cannot set up the lookups' relay: %s", strerror(-err));
		goto out;
	}
	host_init(&srv->host, &srv->loop, &srv->shared, relay, "");
	if (!(srv->host.qlog = querylog_attach(srv->qlog))) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char host[64];
		uint16_t port;

		if (config_split_listen(cfg->listen[i], host, &port) ||
		    (uv_ip4_addr(host, port, (struct sockaddr_in *)&addrs[i]) &&
		     uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addrs[i]))) {
			log_err("bad listen address '%s'", cfg->listen[i]);
			err = -EINVAL;
			goto out;
		}
		err = udp_start(&srv->host, (struct sockaddr *)&addrs[i], &srv->udp[srv->nudp]);
		if (err)
			goto out;
		srv->nudp++;
		err = tcp_start(&srv->host, (struct sockaddr *)&addrs[i], &srv->tcp[srv->ntcp]);
		if (err)
			goto out;
		srv->ntcp++;
	}
	if (cfg->threads > 1) {
		for (unsigned t = 2; t <= cfg->threads; t++) {
			err = worker_start(&srv->loop, &srv->shared, srv->lookup, t, addrs, n,
					   srv->qlog, &srv->workers[srv->nworkers]);
			if (err)
				goto out;
			srv->nworkers++;
		}
		log_info("answering UDP on %u loops", cfg->threads);
	}
out:
	free(addrs);
	return err;
}

static void walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int server_run(struct server *srv)
{
	struct loaded ld;
	char err_text[512];
	size_t nverdicts;
	uint64_t t0;
	int err, code = 1, loop_ok = 0, shared_ok = 0;

	srv->daemon.ready_fd = -1;
	srv->start_time = (int64_t)time(NULL);
	srv->serial = (uint32_t)time(NULL);
	/* Their default action ends the process: not while starting or stopping either
	 * (libuv restores the default when their handles close). A SIGHUP while starting
	 * waits for the loop and reloads then (daemon.h). */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	daemon_hold_signals();
	/* Its thread starts after the fork; the file is opened by reload_load. */
	srv->qlog = querylog_new();
	if (!srv->qlog) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	if (reload_load(srv, srv->serial, NULL, report_stderr, NULL, &ld)) {
		querylog_free(srv->qlog);
		srv->qlog = NULL;
		return 1;
	}
	/* Start-up problems go to stderr even without -f: the parent waits for the child
	 * and the person starting it should see why it failed. */
	log_open(1, ld.cfg->log_level);
	if (daemon_detach(&srv->daemon, srv->foreground))
		goto out_loaded;

	if ((err = shared_init(&srv->shared))) {
		log_err("cannot create a lock: %s", strerror(-err));
		goto out_loaded;
	}
	shared_ok = 1;
	srv->cache = cache_new();
	if (!srv->cache) {
		log_err("out of memory");
		goto out_loaded;
	}
	if (ld.cfg->database) {
		struct store_options so = { .password_file = ld.cfg->database_password_file };

		err = store_open_opts(ld.cfg->database, &so, &srv->store, err_text,
				      sizeof(err_text));
		if (err) {
			log_err("%s", err_text);
			goto out_loaded;
		}
		t0 = uv_hrtime();
		err = store_load(srv->store, cache_fill, srv->cache);
		if (err) {
			log_err("cannot load the verdicts of %s: %s", store_name(srv->store),
				strerror(err < 0 ? -err : ENOMEM));
			goto out_loaded;
		}
		nverdicts = cache_count(srv->cache);
		log_info("loaded %zu verdict(s) from %s in %.3f s", nverdicts,
			 store_name(srv->store), (double)(uv_hrtime() - t0) / 1e9);
	}
	/* The operator's overrides, from the same file (steer.h). */
	if (steer_load(srv, srv->store, ld.cfg->database, ld.cfg->database_password_file) < 0)
		goto out_loaded;
	if ((err = uv_loop_init(&srv->loop))) {
		log_err("cannot start the event loop: %s", uv_strerror(err));
		goto out_loaded;
	}
	loop_ok = 1;
	if ((err = pool_start(&srv->loop)) < 0)
		log_warn("cannot start the thread pool: %s", uv_strerror(err));
	/* From here on the lookup thread writes verdicts while the loops read them. */
	cache_set_shared(srv->cache, &srv->shared);
	if ((err = lookup_new(srv->cache, srv->store, ld.cfg->threads, &srv->lookup))) {
		log_err("cannot set up the lookups: %s", strerror(-err));
		goto out_loaded;
	}
	if (!(srv->feeds = feed_table_new())) {
		log_err("out of memory");
		goto out_loaded;
	}
	lookup_set_feeds(srv->lookup, srv->feeds, &srv->shared);
	if ((err = lookup_start(srv->lookup, &srv->loop, lookup_finished, srv))) {
		log_err("cannot start the lookups: %s", uv_strerror(err));
		goto out_loaded;
	}
	srv->lookup_running = 1;
	if (!ld.nprov && ld.cfg->provider == CONFIG_PROVIDER_AUTO)
		log_info("no API key: serving the static lists only. To look IPs up in "
			 "%s, set THREATBL_API_KEY or [intel] api-key-file and restart",
			 ld.cfg->provider_kind->display);
	reload_adopt(srv, &ld);
	/* Initialised before anything can fail: server_stop closes them. */
	uv_signal_init(&srv->loop, &srv->sig_hup);
	uv_signal_init(&srv->loop, &srv->sig_term);
	uv_signal_init(&srv->loop, &srv->sig_int);
	uv_signal_init(&srv->loop, &srv->sig_usr1);
	uv_signal_init(&srv->loop, &srv->sig_usr2);
	uv_timer_init(&srv->loop, &srv->list_watch);
	uv_timer_init(&srv->loop, &srv->stop_timer);
	srv->sig_hup.data = srv->sig_term.data = srv->sig_int.data = srv;
	srv->sig_usr1.data = srv->sig_usr2.data = srv;
	srv->list_watch.data = srv->stop_timer.data = srv;
	/* Before the first answer: from then on a stop is a clean one (the signal waits
	 * for uv_run). SIGHUP, SIGUSR1 and SIGUSR2 stay held until every thread is
	 * started, so that all of them but this one block those three (daemon.h). */
	uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
	uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
	uv_signal_start(&srv->sig_int, on_signal, SIGINT);
	uv_signal_start(&srv->sig_usr1, on_signal, SIGUSR1);
	uv_signal_start(&srv->sig_usr2, on_signal, SIGUSR2);
	if (listen_all(srv))
		goto out;
	if ((err = stats_new(srv, &srv->stats))) {
		log_err("cannot set up the stats: %s", strerror(-err));
		goto out;
	}
	if (srv->cfg->control &&
	    control_start(&srv->loop, srv, srv->cfg->control,
			  strcmp(srv->cfg->control, CONFIG_CONTROL_DEFAULT) == 0,
			  srv->cfg->user, &srv->control))
		goto out;
	/* The page reads stored facts through a sqlite connection of its own; from a
	 * fleet's PostgreSQL it shows what is in memory (doc/lookup-page.md). */
	if (web_start(&srv->loop, srv->cfg, &srv->shared,
		      store_is_fleet(srv->store) ? NULL : srv->cfg->database,
		      steer_recheck_ip, srv, &srv->web))
		goto out;
	/* Bound as root, so that a port below 1024 works. */
	if (srv->cfg->metrics &&
	    metrics_start(srv->cfg->metrics, &srv->cfg->metrics_allow, srv->stats,
			  &srv->metrics))
		goto out;
	if (daemon_drop_privileges(srv->cfg->user,
				   store_is_fleet(srv->store) ? NULL : srv->cfg->database))
		goto out;
	if (srv->store)
		store_set_refill(srv->store, refill_from_cache, srv);
	if (srv->store)
		store_set_listener(srv->store, lookup_fleet_verdict, srv->lookup);
	if (srv->store)
		store_set_overrides_listener(srv->store, steer_overrides_changed, srv);
	if (srv->store && (err = store_start(srv->store))) {
		log_err("cannot start the database writer: %s", strerror(-err));
		goto out;
	}
	if ((err = querylog_start(srv->qlog))) {
		log_err("cannot start the query log's writer: %s", strerror(-err));
		goto out;
	}
	srv->feeds_started = 1;
	reload_feeds_apply(srv);
	signal(SIGPIPE, SIG_IGN);
	reload_watch_start(srv);
	if (srv->metrics)
		stats_start(srv->stats);
	if ((err = steer_start(srv)))
		log_warn("cannot start pruning old verdicts: %s", uv_strerror(err));

	/* Every thread is started; a SIGHUP that came meanwhile is a reload now. */
	daemon_release_signals();
	log_info("threatbld %s ready: %zu zone(s), serial %u", PACKAGE_VERSION, srv->zones->n,
		 srv->serial);
	status_start(srv);
	daemon_ready(&srv->daemon, 0, srv->cfg->log_level);
	uv_run(&srv->loop, UV_RUN_DEFAULT);
	code = 0;
out:
	server_stop(srv);
	uv_run(&srv->loop, UV_RUN_DEFAULT);
out_loaded:
	reload_loaded_free(&ld);
	if (srv->store) {
		store_close(srv->store);
		srv->store = NULL;
	}
	if (loop_ok) {
		daemon_hold_signals();
		uv_walk(&srv->loop, walk_close, NULL);
		uv_run(&srv->loop, UV_RUN_DEFAULT);
		signal(SIGHUP, SIG_IGN);
		signal(SIGUSR1, SIG_IGN);
		signal(SIGUSR2, SIG_IGN);
		daemon_release_signals();
		if (uv_loop_close(&srv->loop))
			log_warn("event loop closed with handles still open");
	}
	if (srv->lookup && !srv->lookup_running) {
		/* Its thread has been joined, or never ran: nothing uses it now. */
		lookup_free(srv->lookup);
		srv->lookup = NULL;
	}
	free(srv->udp);
	free(srv->tcp);
	free(srv->workers);
	/* Every loop has stopped: what they logged is written out. */
	querylog_free(srv->qlog);
	srv->qlog = NULL;
	reload_release(srv);
	/* After the lookup thread and every answering loop: nothing reads the slots. */
	if (!srv->lookup_running) {
		feed_table_free(srv->feeds);
		srv->feeds = NULL;
	}
	steer_free(srv);
	cache_free(srv->cache);
	if (shared_ok)
		shared_destroy(&srv->shared);
	if (code == 0)
		log_info("stopped");
	daemon_ready(&srv->daemon, (unsigned char)code, LOG_LVL_INFO);
	return code;
}
