/* reload.c - load, reload and list watching (see reload.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apikey.h"
#include "feed.h"
#include "log.h"
#include "provider.h"
#include "querylog.h"
#include "reload.h"
#include "server.h"

/* How often the static lists' mtimes are looked at. */
#define WATCH_INTERVAL_MS 2000

struct watch_file {
	char *path;
	struct timespec mtime;
	int missing;
};

struct server_watch {
	struct watch_file *files;
	size_t n;
};

/* A reload_request waiting for its reload (srv->reload_pending, then
 * srv->reload_running). */
struct reload_waiter {
	struct reload_waiter *next;
	reload_done_fn done;
	void *arg;
};

struct reload_job {
	uv_work_t req;
	struct server *srv;
	uint32_t serial;
	int err;
	char msg[256];                   /* the first error reported, for reload_request */
	struct reload_keys held;         /* a copy of the keys in use */
	struct loaded ld;
};

struct watch_job {
	uv_work_t req;
	struct server *srv;
	struct server_watch *snap;       /* copies of the paths and the known mtimes */
	int changed;
};

/* Keeps the message (a buffer of 256) instead of reporting it. */

/* Two optional strings are the same (both NULL counts). */
static int str_same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}
static void report_quiet(void *arg, enum config_severity sev, const char *file,
			 unsigned line, const char *msg)
{
	(void)file;
	(void)line;
	if (sev == CONFIG_ERROR)
		snprintf(arg, 256, "%s", msg);
}

static void report_log(void *arg, enum config_severity sev, const char *file,
		       unsigned line, const char *msg)
{
	enum log_level level = sev == CONFIG_WARNING ? LOG_LVL_WARN : LOG_LVL_ERROR;

	(void)arg;
	if (!log_enabled(level))
		return;
	if (line)
		log_write(level, "%s:%u: %s", file, line, msg);
	else
		log_write(level, "%s: %s", file, msg);
}

/* Logs like report_log and keeps the first error in the job's msg. */
static void report_keep(void *arg, enum config_severity sev, const char *file,
			unsigned line, const char *msg)
{
	struct reload_job *job = arg;

	report_log(NULL, sev, file, line, msg);
	if (sev != CONFIG_ERROR || job->msg[0])
		return;
	if (line)
		snprintf(job->msg, sizeof(job->msg), "%s:%u: %s", file, line, msg);
	else
		snprintf(job->msg, sizeof(job->msg), "%s: %s", file, msg);
}

/* Call and free every waiter of *list. */
static void waiters_finish(struct reload_waiter **list, int err, const char *msg)
{
	struct reload_waiter *w = *list, *next;

	*list = NULL;
	for (; w; w = next) {
		next = w->next;
		w->done(w->arg, err, msg);
		free(w);
	}
}

static void watch_free(struct server_watch *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		free(w->files[i].path);
	free(w->files);
	free(w);
}

static void watch_stat(struct watch_file *f)
{
	struct stat st;

	if (stat(f->path, &st) == 0) {
		f->mtime = st.st_mtim;
		f->missing = 0;
	} else {
		memset(&f->mtime, 0, sizeof(f->mtime));
		f->missing = 1;
	}
}

/* The static lists of every zone, with their mtimes now. NULL when out of memory. */
static struct server_watch *watch_build(const struct config *cfg)
{
	struct server_watch *w = calloc(1, sizeof(*w));
	size_t n = 0;

	if (!w)
		return NULL;
	for (size_t z = 0; z < cfg->nzones; z++)
		n += cfg->zones[z].nstatics;
	w->files = calloc(n ? n : 1, sizeof(*w->files));
	if (!w->files)
		goto fail;
	for (size_t z = 0; z < cfg->nzones; z++) {
		for (size_t i = 0; i < cfg->zones[z].nstatics; i++) {
			struct watch_file *f = &w->files[w->n];

			f->path = strdup(cfg->zones[z].statics[i]);
			if (!f->path)
				goto fail;
			w->n++;
			watch_stat(f);
		}
	}
	return w;
fail:
	watch_free(w);
	return NULL;
}

static struct server_watch *watch_copy(const struct server_watch *src)
{
	struct server_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->files = calloc(src->n ? src->n : 1, sizeof(*w->files));
	if (!w->files)
		goto fail;
	for (size_t i = 0; i < src->n; i++) {
		w->files[i] = src->files[i];
		w->files[i].path = strdup(src->files[i].path);
		if (!w->files[i].path)
			goto fail;
		w->n++;
	}
	return w;
fail:
	watch_free(w);
	return NULL;
}

int reload_keys_copy(struct reload_keys *dst, const struct reload_keys *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++) {
		dst->kind[i] = src->kind[i];
		if (src->key[i] && !(dst->key[i] = strdup(src->key[i]))) {
			reload_keys_free(dst);
			return -ENOMEM;
		}
		dst->n++;
	}
	return 0;
}

void reload_keys_free(struct reload_keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		apikey_free(k->key[i]);
	memset(k, 0, sizeof(*k));
}

static const char *held_key(const struct reload_keys *held, const struct provider_kind *k)
{
	for (size_t i = 0; held && i < held->n; i++)
		if (held->kind[i] == k)
			return held->key[i];
	return NULL;
}

/* Provider k's key (doc/configuration.md#the-api-key), for the start and a reload
 * alike, except that on a reload a key file that cannot be read any more (root-only,
 * and root was dropped) keeps the key held, with one warning. A refused key, a file
 * too large or not a regular file stay errors. */
static int load_key(const struct config *cfg, const struct provider_kind *k,
		    const char *held, config_report_fn report, void *arg, char **key)
{
	char msg[256];
	int err;

	if (!held)
		return apikey_read_for(cfg, k, report, arg, key);
	msg[0] = 0;
	err = apikey_read_for(cfg, k, report_quiet, msg, key);
	if (err == 0 || err == -EINVAL || err == -EFBIG || err == -ENOMEM) {
		if (err)
			report(arg, CONFIG_ERROR, apikey_source_for(cfg, k), 0, msg);
		return err;
	}
	log_warn("%s: %s; keeping the API key read before for %s", apikey_source_for(cfg, k),
		 msg, k->display);
	*key = strdup(held);
	return *key ? 0 : -ENOMEM;
}

/* No key for k, which must have one. */
static void report_no_key(const struct config *cfg, const struct provider_kind *k,
			  config_report_fn report, void *arg)
{
	char msg[300], var[64];
	size_t j;

	if (!cfg->nproviders && k == provider_default()) {
		snprintf(msg, sizeof(msg), "provider = %s needs an API key: set [intel] "
			 "api-key-file or the environment variable THREATBL_API_KEY", k->name);
	} else {
		snprintf(var, sizeof(var), "THREATBL_%s_KEY", k->name);
		for (j = 0; var[j]; j++)
			var[j] = (char)toupper((unsigned char)var[j]);
		snprintf(msg, sizeof(msg), "provider %s needs an API key: set key-file in "
			 "[provider %s], the credential threatbl-%s-key or the environment "
			 "variable %s", k->name, k->name, k->name, var);
	}
	report(arg, CONFIG_ERROR, cfg->file, 0, msg);
}

/* The providers to ask and their keys: [intel] providers, each with its key, or the
 * one of [intel] provider (auto: only when its key is there). */
static int load_keys(struct loaded *ld, const struct reload_keys *held,
		     config_report_fn report, void *arg)
{
	const struct provider_kind *kinds[CONFIG_PROVIDERS_MAX];
	size_t n = 0;
	char *key;
	int err;

	if (ld->cfg->nproviders) {
		n = ld->cfg->nproviders;
		memcpy(kinds, ld->cfg->providers, n * sizeof(kinds[0]));
	} else if (ld->cfg->provider != CONFIG_PROVIDER_NONE) {
		kinds[n++] = ld->cfg->provider_kind;
	}
	for (size_t i = 0; i < n; i++) {
		err = load_key(ld->cfg, kinds[i], held_key(held, kinds[i]), report, arg, &key);
		if (err)
			return err;
		if (!key) {
			if (ld->cfg->provider == CONFIG_PROVIDER_AUTO && !ld->cfg->nproviders)
				return 0;       /* auto without a key: no lookups */
			report_no_key(ld->cfg, kinds[i], report, arg);
			return -EINVAL;
		}
		ld->keys[ld->nprov] = key;
		ld->prov[ld->nprov] = (struct lookup_provider){ kinds[i], key,
			apikey_source_for(ld->cfg, kinds[i]) };
		ld->nprov++;
	}
	return 0;
}

int reload_load(const struct server *srv, uint32_t serial, const struct reload_keys *held,
		config_report_fn report, void *arg, struct loaded *ld)
{
	int err;

	memset(ld, 0, sizeof(*ld));
	err = config_load(srv->config_path, report, arg, &ld->cfg);
	if (err)
		return err;
	if (srv->ncli_listen && (err = config_set_listen(ld->cfg, srv->cli_listen,
							  srv->ncli_listen))) {
		report(arg, CONFIG_ERROR, "-l", 0, "bad listen address");
		goto fail;
	}
	if (srv->cli_database && (err = config_set_database(ld->cfg, srv->cli_database)))
		goto fail;
	/* The lists' mtimes before they are read (for the answers, then for the content
	 * serial): a list changed meanwhile is then seen as changed and read again. */
	ld->watch = watch_build(ld->cfg);
	if (!ld->watch) {
		err = -ENOMEM;
		goto fail;
	}
	err = zoneset_build(ld->cfg, serial, report, arg, &ld->zones);
	if (err)
		goto fail;
	if (ld->cfg->query_log) {
		char msg[512];

		/* Opened here, at start as root and at each reload (SIGHUP: logrotate's
		 * move or create); -t (no writer) only checks the path. */
		if (srv->qlog)
			err = querylog_open(ld->cfg->query_log, ld->cfg->user, msg, sizeof(msg));
		else
			err = querylog_check(ld->cfg->query_log, msg, sizeof(msg));
		if (err < 0) {
			report(arg, CONFIG_ERROR, ld->cfg->file, 0, msg);
			goto fail;
		}
		if (srv->qlog) {
			ld->qlog_fd = err;
			ld->has_qlog_fd = 1;
		}
		err = 0;
	}
	if ((err = load_keys(ld, held, report, arg)))
		goto fail;
	return 0;
fail:
	reload_loaded_free(ld);
	return err;
}

/* Start, replace or stop the lookups to match what was loaded (on the lookup
 * thread, by message). */
static int lookups_apply(struct server *srv, const struct loaded *ld)
{
	int err;

	err = lookup_configure_many(srv->lookup, ld->cfg, ld->prov, ld->nprov);
	if (err) {
		log_err("cannot pass the new settings to the lookups: %s", strerror(-err));
		return err;
	}
	srv->lookups = ld->nprov != 0;
	return 0;
}

void reload_feeds_apply(struct server *srv)
{
	struct feed_slot **slots;
	char *dir;
	size_t n = srv->cfg->nfeeds;

	if (!srv->feeds || !srv->lookup || !srv->feeds_started)
		return;
	slots = calloc(n ? n : 1, sizeof(*slots));
	if (!slots) {
		log_err("feeds: out of memory: they keep their previous settings");
		return;
	}
	for (size_t i = 0; i < n; i++)
		slots[i] = feed_table_bind(srv->feeds, srv->cfg->feeds[i].name);
	dir = feeds_dir_for(srv->cfg->database);
	if (lookup_configure_feeds(srv->lookup, srv->cfg, slots, dir) < 0)
		log_err("feeds: out of memory: they keep their previous settings");
	free(dir);
	free(slots);
}

void reload_loaded_free(struct loaded *ld)
{
	for (size_t i = 0; i < CONFIG_PROVIDERS_MAX; i++)
		apikey_free(ld->keys[i]);
	zoneset_free(ld->zones);
	config_free(ld->cfg);
	watch_free(ld->watch);
	if (ld->has_qlog_fd)
		close(ld->qlog_fd);
	memset(ld, 0, sizeof(*ld));
}

/* Take what was loaded into use; the old data is freed (nothing on the loop keeps a
 * pointer into it: parked queries keep their bytes, not their zone). */
void reload_adopt(struct server *srv, struct loaded *ld)
{
	struct loaded old = {
		.cfg = srv->cfg, .zones = srv->zones, .watch = srv->watch,
	};

	srv->cfg = ld->cfg;
	srv->zones = ld->zones;
	/* The serial the zones answer: the load time only with serial = time. */
	srv->serial = ld->zones->serial;
	srv->watch = ld->watch;
	if (lookups_apply(srv, ld))
		log_warn("lookups keep their previous settings");
	/* kept for the next reload (the lookups have their own copies) */
	reload_keys_free(&srv->keys);
	for (size_t i = 0; i < ld->nprov; i++) {
		srv->keys.kind[i] = ld->prov[i].kind;
		srv->keys.key[i] = ld->keys[i];
		ld->keys[i] = NULL;
	}
	srv->keys.n = ld->nprov;
	/* The writer takes the new file (or none) and closes the previous one. */
	if (srv->qlog && querylog_set(srv->qlog, ld->has_qlog_fd ? ld->qlog_fd : -1,
				      srv->cfg->query_log, srv->cfg->query_log_sample))
		log_err("query log: out of memory; nothing logged");
	ld->has_qlog_fd = 0;
	/* The new zones point at their feeds' slots before anyone can read them. */
	if (srv->feeds)
		zoneset_bind_feeds(srv->zones, srv->cfg, feed_table_lists_of, srv->feeds);
	reload_feeds_apply(srv);
	memset(ld, 0, sizeof(*ld));
	log_set_level(srv->cfg->log_level);
	server_env_apply(srv);
	reload_loaded_free(&old);
}

static void reload_work(uv_work_t *req)
{
	struct reload_job *job = req->data;

	job->err = reload_load(job->srv, job->serial, &job->held, report_keep, job,
			       &job->ld);
}

static void reload_done(uv_work_t *req, int status)
{
	struct reload_job *job = req->data;
	struct server *srv = job->srv;

	srv->reloading = 0;
	if (status || job->err) {
		const char *why = strerror(status ? -status : -job->err);

		log_err("reload failed: %s; still serving the previous configuration", why);
		srv->reloads_failed++;
		if (!job->msg[0])
			snprintf(job->msg, sizeof(job->msg), "%s", why);
		waiters_finish(&srv->reload_running, status ? status : job->err, job->msg);
		if (status == 0 && srv->watch) {
			/* Remember the new mtimes so that a broken list is not re-read every
			 * WATCH_INTERVAL_MS; the next change or SIGHUP tries again. */
			for (size_t i = 0; i < srv->watch->n; i++)
				watch_stat(&srv->watch->files[i]);
		}
	} else if (!srv->stopping) {
		size_t nl = srv->ncli_listen ? srv->ncli_listen : job->ld.cfg->nlisten;

		if (nl != srv->nudp)
			log_warn("listen addresses changed: restart threatbld to use them");
		if (job->ld.cfg->threads != srv->cfg->threads)
			log_warn("threads changed from %u to %u: restart threatbld to use it",
				 srv->cfg->threads, job->ld.cfg->threads);
		if (!str_same(job->ld.cfg->control, srv->cfg->control))
			log_warn("control socket changed: restart threatbld to use it");
		if (!str_same(job->ld.cfg->metrics, srv->cfg->metrics))
			log_warn("metrics address changed: restart threatbld to use it");
		reload_adopt(srv, &job->ld);
		log_info("reloaded: %zu zone(s), serial %u", srv->zones->n, srv->serial);
		srv->reloads_ok++;
		waiters_finish(&srv->reload_running, 0, NULL);
	}
	daemon_reloaded(&srv->daemon, status || job->err);
	reload_loaded_free(&job->ld);
	reload_keys_free(&job->held);
	free(job);
	if (srv->reload_again && !srv->stopping) {
		srv->reload_again = 0;
		reload_start(srv, "a reload was asked during the last one");
	}
}

void reload_start(struct server *srv, const char *why)
{
	struct reload_job *job;
	uint32_t now = (uint32_t)time(NULL);
	int err;

	if (srv->stopping)
		return;
	if (srv->reloading || srv->watching) {
		srv->reload_again = 1;
		log_debug("reload asked (%s) while one runs: it comes next", why);
		return;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		log_err("reload: out of memory");
		srv->reloads_failed++;
		waiters_finish(&srv->reload_pending, -ENOMEM, "out of memory");
		return;
	}
	log_info("reloading: %s", why);
	job->srv = srv;
	/* With serial = time, the serial must grow even for two reloads in one second
	 * (zoneset_build uses it then only). */
	job->serial = now > srv->serial ? now : srv->serial + 1;
	job->req.data = job;
	if (reload_keys_copy(&job->held, &srv->keys)) {
		log_err("reload: out of memory");
		free(job);
		srv->reloads_failed++;
		waiters_finish(&srv->reload_pending, -ENOMEM, "out of memory");
		return;
	}
	err = uv_queue_work(&srv->loop, &job->req, reload_work, reload_done);
	if (err) {
		log_err("reload: %s", uv_strerror(err));
		reload_keys_free(&job->held);
		free(job);
		srv->reloads_failed++;
		waiters_finish(&srv->reload_pending, err, uv_strerror(err));
		return;
	}
	/* Those who asked before this reload read the configuration get its result. */
	srv->reload_running = srv->reload_pending;
	srv->reload_pending = NULL;
	srv->reloading = 1;
	daemon_reloading(&srv->daemon);
}

int reload_request(struct server *srv, const char *why, reload_done_fn done, void *arg)
{
	struct reload_waiter *w, **tail;

	if (srv->stopping)
		return -ECANCELED;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->done = done;
	w->arg = arg;
	/* In the order asked: the answers come in that order too. */
	for (tail = &srv->reload_pending; *tail; tail = &(*tail)->next)
		;
	*tail = w;
	reload_start(srv, why);
	return 0;
}

void reload_cancel_waiters(struct server *srv)
{
	waiters_finish(&srv->reload_running, -ECANCELED, "the server is stopping");
	waiters_finish(&srv->reload_pending, -ECANCELED, "the server is stopping");
}

static void watch_work(uv_work_t *req)
{
	struct watch_job *job = req->data;

	for (size_t i = 0; i < job->snap->n; i++) {
		struct watch_file now = job->snap->files[i];

		watch_stat(&now);
		if (now.missing != job->snap->files[i].missing ||
		    now.mtime.tv_sec != job->snap->files[i].mtime.tv_sec ||
		    now.mtime.tv_nsec != job->snap->files[i].mtime.tv_nsec) {
			job->changed = (int)i + 1;
			return;
		}
	}
}

static void watch_done(uv_work_t *req, int status)
{
	struct watch_job *job = req->data;
	struct server *srv = job->srv;

	srv->watching = 0;
	if (status == 0 && job->changed && !srv->stopping) {
		char why[512];

		snprintf(why, sizeof(why), "%s changed", job->snap->files[job->changed - 1].path);
		srv->reload_again = 0;
		reload_start(srv, why);
	} else if (srv->reload_again && !srv->stopping) {
		srv->reload_again = 0;
		reload_start(srv, "SIGHUP");
	}
	watch_free(job->snap);
	free(job);
}

static void on_watch_timer(uv_timer_t *t)
{
	struct server *srv = t->data;
	struct watch_job *job;

	if (srv->reloading || srv->watching || !srv->watch || !srv->watch->n)
		return;
	job = calloc(1, sizeof(*job));
	if (!job)
		return;
	job->srv = srv;
	job->snap = watch_copy(srv->watch);
	job->req.data = job;
	if (!job->snap || uv_queue_work(&srv->loop, &job->req, watch_work, watch_done)) {
		watch_free(job->snap);
		free(job);
		return;
	}
	srv->watching = 1;
}


void reload_watch_start(struct server *srv)
{
	uv_timer_start(&srv->list_watch, on_watch_timer, WATCH_INTERVAL_MS, WATCH_INTERVAL_MS);
}

void reload_release(struct server *srv)
{
	struct loaded cur = {
		.cfg = srv->cfg, .zones = srv->zones, .watch = srv->watch,
	};

	reload_loaded_free(&cur);
	reload_keys_free(&srv->keys);
	srv->cfg = NULL;
	srv->zones = NULL;
	srv->watch = NULL;
}
