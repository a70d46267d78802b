/* server.c - the life of one threatbld: start, reload, stop (see server.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "reload.h"
#include "server.h"
#include "status.h"
#include "tcp.h"
#include "udp.h"
#include "worker.h"

/* A verdict the service could not give ("Invalid IP Address.") is asked again after
 * this long at the earliest. */
#define UNKNOWN_RETRY_S (24 * 3600)

static void report_stderr(void *arg, const char *file, unsigned line, const char *msg)
{
	(void)arg;
	if (line)
		fprintf(stderr, "%s:%u: %s\n", file, line, msg);
	else
		fprintf(stderr, "%s: %s\n", file, msg);
}

/* -t: print like report_stderr and count what is not a warning: a bad list line is
 * skipped when serving, but makes the configuration invalid for -t. */
static void report_check(void *arg, const char *file, unsigned line, const char *msg)
{
	unsigned *errors = arg;

	report_stderr(NULL, file, line, msg);
	if (strncmp(msg, "warning: ", 9) != 0)
		(*errors)++;
}

int server_check(struct server *srv)
{
	struct loaded ld;
	unsigned errors = 0;
	int err = reload_load(srv, (uint32_t)time(NULL), NULL, report_check, &errors, &ld);

	if (err)
		return 1;
	reload_loaded_free(&ld);
	return errors ? 1 : 0;
}

void server_tick(struct server *srv)
{
	srv->env.now = (uint32_t)time(NULL);
}

/* dns_env.refresh is a generic callback; intel_refresh takes its own type. */
static void refresh_intel(void *arg, const struct ipaddr *ip)
{
	intel_refresh(arg, ip);
}

/* dns_env follows the configuration in use. Under the lock: once it is released no
 * worker holds a pointer into the previous zones, and they can be freed. */
void server_env_apply(struct server *srv)
{
	const struct config *cfg = srv->cfg;

	pthread_rwlock_wrlock(&srv->lock);
	srv->env.zones = srv->zones;
	srv->env.cache = srv->cache;
	srv->env.fresh_s = cfg->fresh_s;
	srv->env.max_stale_s = cfg->max_stale_s;
	srv->env.unknown_retry_s = UNKNOWN_RETRY_S;
	srv->env.lookup_reserved = cfg->lookup_reserved;
	srv->env.lookups = srv->intel != NULL;
	srv->env.refresh = srv->intel ? refresh_intel : NULL;
	srv->env.refresh_arg = srv->intel;
	pthread_rwlock_unlock(&srv->lock);
	server_tick(srv);
}

static void intel_closed(void *arg)
{
	(void)arg;
}

static void on_close_free_nothing(uv_handle_t *h)
{
	(void)h;
}

static void server_stop(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = 1;
	daemon_stopping(&srv->daemon);
	log_info("stopping");
	/* The workers' parked queries come back through the main loop (cancelled by
	 * intel_close below); the loop runs until every worker has finished. */
	for (size_t i = 0; i < srv->nworkers; i++)
		worker_stop(srv->workers[i]);
	srv->nworkers = 0;
	for (size_t i = 0; i < srv->nudp; i++)
		udp_close(srv->udp[i]);
	for (size_t i = 0; i < srv->ntcp; i++)
		tcp_close(srv->tcp[i]);
	srv->nudp = srv->ntcp = 0;
	if (srv->intel) {
		intel_close(srv->intel, intel_closed, NULL);
		srv->intel = NULL;
	}
	server_env_apply(srv);
	uv_close((uv_handle_t *)&srv->sig_hup, on_close_free_nothing);
	uv_close((uv_handle_t *)&srv->sig_term, on_close_free_nothing);
	uv_close((uv_handle_t *)&srv->sig_int, on_close_free_nothing);
	uv_close((uv_handle_t *)&srv->list_watch, on_close_free_nothing);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct server *srv = h->data;

	if (signum == SIGHUP)
		reload_start(srv, "SIGHUP");
	else
		server_stop(srv);
}

/* The store's writer, when the database file was deleted under it: every verdict in
 * memory, read under the lock (cache_put takes it for writing). */
static int refill_from_cache(void *arg,
			     int (*fn)(void *fnarg, const struct ipaddr *ip,
				       const struct verdict *v),
			     void *fnarg)
{
	struct server *srv = arg;
	int rc;

	pthread_rwlock_rdlock(&srv->lock);
	rc = cache_foreach(srv->cache, fn, fnarg);
	pthread_rwlock_unlock(&srv->lock);
	return rc;
}

static int cache_fill(void *arg, const struct ipaddr *ip, const struct verdict *v)
{
	return cache_put(arg, ip, v);
}

/* The main loop as a udp_host: the data is its own, no lock needed to read it. */
static const struct dns_env *main_enter(struct udp_host *h)
{
	struct server *srv = (struct server *)((char *)h - offsetof(struct server, udp_host));

	server_tick(srv);
	return &srv->env;
}

static void main_leave(struct udp_host *h)
{
	(void)h;
}

static int main_wait(struct udp_host *h, const struct ipaddr *ip, struct intel_waiter *w,
		     intel_wait_cb cb)
{
	struct server *srv = (struct server *)((char *)h - offsetof(struct server, udp_host));

	return srv->intel ? intel_wait(srv->intel, ip, w, cb) : -ENOSYS;
}

static void main_cancel(struct udp_host *h, struct intel_waiter *w)
{
	struct server *srv = (struct server *)((char *)h - offsetof(struct server, udp_host));

	if (srv->intel)
		intel_cancel(srv->intel, w);
}

/* Bind every listen address for UDP and TCP on the main loop, then start the workers
 * of `threads`, each with its own UDP sockets on the same addresses. */
static int listen_all(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct sockaddr_storage *addrs;
	size_t n = cfg->nlisten;
	int err = 0;

	srv->udp_host = (struct udp_host){
		.loop = &srv->loop, .enter = main_enter, .leave = main_leave,
		.wait = main_wait, .cancel = main_cancel, .tag = "",
	};
	srv->udp = calloc(n ? n : 1, sizeof(*srv->udp));
	srv->tcp = calloc(n ? n : 1, sizeof(*srv->tcp));
	srv->workers = calloc(cfg->threads, sizeof(*srv->workers));
	addrs = calloc(n ? n : 1, sizeof(*addrs));
	if (!srv->udp || !srv->tcp || !srv->workers || !addrs) {
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
		err = udp_start(&srv->udp_host, (struct sockaddr *)&addrs[i], &srv->udp[srv->nudp]);
		if (err)
			goto out;
		srv->nudp++;
		err = tcp_start(srv, (struct sockaddr *)&addrs[i], &srv->tcp[srv->ntcp]);
		if (err)
			goto out;
		srv->ntcp++;
	}
	if (cfg->threads > 1) {
		for (unsigned t = 2; t <= cfg->threads; t++) {
			err = worker_start(srv, t, addrs, n, &srv->workers[srv->nworkers]);
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
	pthread_rwlockattr_t lock_attr;
	int err, code = 1, loop_ok = 0, lock_ok = 0;

	srv->daemon.ready_fd = -1;
	srv->serial = (uint32_t)time(NULL);
	if (reload_load(srv, srv->serial, NULL, report_stderr, NULL, &ld))
		return 1;
	/* Start-up problems go to stderr even without -f: the parent waits for the child
	 * and the person starting it should see why it failed. */
	log_open(1, ld.cfg->log_level);
	if (daemon_detach(&srv->daemon, srv->foreground))
		goto out_loaded;

	/* Writers first: a verdict or a reload waits for at most one batch per worker,
	 * and busy workers cannot keep it out. */
	pthread_rwlockattr_init(&lock_attr);
	pthread_rwlockattr_setkind_np(&lock_attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	err = pthread_rwlock_init(&srv->lock, &lock_attr);
	pthread_rwlockattr_destroy(&lock_attr);
	if (err) {
		log_err("cannot create a lock: %s", strerror(err));
		goto out_loaded;
	}
	lock_ok = 1;
	srv->cache = cache_new();
	if (!srv->cache) {
		log_err("out of memory");
		goto out_loaded;
	}
	if (ld.cfg->database) {
		err = store_open(ld.cfg->database, &srv->store, err_text, sizeof(err_text));
		if (err) {
			log_err("%s", err_text);
			goto out_loaded;
		}
		t0 = uv_hrtime();
		err = store_load(srv->store, cache_fill, srv->cache);
		if (err) {
			log_err("cannot load the verdicts of %s: %s", ld.cfg->database,
				strerror(err < 0 ? -err : ENOMEM));
			goto out_loaded;
		}
		nverdicts = cache_count(srv->cache);
		log_info("loaded %zu verdict(s) from %s in %.3f s", nverdicts,
			 ld.cfg->database, (double)(uv_hrtime() - t0) / 1e9);
	}
	if ((err = uv_loop_init(&srv->loop))) {
		log_err("cannot start the event loop: %s", uv_strerror(err));
		goto out_loaded;
	}
	loop_ok = 1;
	if (!ld.provider && ld.cfg->provider == CONFIG_PROVIDER_AUTO)
		log_info("no API key: serving the static lists only. To look IPs up in "
			 "%s, set THREATBL_API_KEY or [intel] api-key-file and restart",
			 ld.cfg->provider_kind->display);
	reload_adopt(srv, &ld);
	/* Initialised before anything can fail: server_stop closes them. */
	uv_signal_init(&srv->loop, &srv->sig_hup);
	uv_signal_init(&srv->loop, &srv->sig_term);
	uv_signal_init(&srv->loop, &srv->sig_int);
	uv_timer_init(&srv->loop, &srv->list_watch);
	srv->sig_hup.data = srv->sig_term.data = srv->sig_int.data = srv;
	srv->list_watch.data = srv;
	if (listen_all(srv) || daemon_drop_privileges(srv->cfg->user, srv->cfg->database))
		goto out;
	/* Verdicts are written by the main loop while the workers, and the store's writer
	 * when it must write them all back, read them. */
	cache_set_lock(srv->cache, &srv->lock);
	if (srv->store)
		store_set_refill(srv->store, refill_from_cache, srv);
	if (srv->store && (err = store_start(srv->store))) {
		log_err("cannot start the database writer: %s", strerror(-err));
		goto out;
	}
	uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
	uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
	uv_signal_start(&srv->sig_int, on_signal, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	reload_watch_start(srv);

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
		uv_walk(&srv->loop, walk_close, NULL);
		uv_run(&srv->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&srv->loop))
			log_warn("event loop closed with handles still open");
	}
	free(srv->udp);
	free(srv->tcp);
	free(srv->workers);
	reload_release(srv);
	cache_free(srv->cache);
	if (lock_ok)
		pthread_rwlock_destroy(&srv->lock);
	if (code == 0)
		log_info("stopped");
	daemon_ready(&srv->daemon, (unsigned char)code, LOG_LVL_INFO);
	return code;
}
