/* server.c - the life of one threatbld: start, reload, stop (see server.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "provider.h"
#include "server.h"
#include "tcp.h"
#include "udp.h"
#include "worker.h"

/* How often the static lists' mtimes are looked at. */
#define WATCH_INTERVAL_MS 2000
/* A verdict the service could not give ("Invalid IP Address.") is asked again after
 * this long at the earliest. */
#define UNKNOWN_RETRY_S (24 * 3600)
/* Largest API key file read. */
#define KEY_MAX 4096

struct watch_file {
	char *path;
	struct timespec mtime;
	int missing;
};

struct server_watch {
	struct watch_file *files;
	size_t n;
};

/* What a reload (or the start) builds; made on a worker thread, used on the loop. */
struct loaded {
	struct config *cfg;
	struct zoneset *zones;
	char *api_key;                   /* NULL: no lookups */
	const struct provider_kind *provider; /* NULL: none; "auto" resolved */
	struct server_watch *watch;
};

struct reload_job {
	uv_work_t req;
	struct server *srv;
	uint32_t serial;
	int err;
	struct loaded ld;
};

struct watch_job {
	uv_work_t req;
	struct server *srv;
	struct server_watch *snap;       /* copies of the paths and the known mtimes */
	int changed;
};

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

static void report_log(void *arg, const char *file, unsigned line, const char *msg)
{
	(void)arg;
	if (line)
		log_err("%s:%u: %s", file, line, msg);
	else
		log_err("%s: %s", file, msg);
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

/* Read the key file, or $THREATBL_API_KEY. *key is NULL when there is none. The key
 * is never printed: messages name the file only. */
static int read_api_key(const struct config *cfg, config_report_fn report, void *arg,
			char **key)
{
	char buf[KEY_MAX + 1];
	const char *src;
	size_t len;

	*key = NULL;
	if (cfg->api_key_file) {
		FILE *f = fopen(cfg->api_key_file, "re");

		if (!f) {
			char msg[512];
			int err = errno;

			snprintf(msg, sizeof(msg), "cannot read api-key-file: %s", strerror(err));
			report(arg, cfg->api_key_file, 0, msg);
			return -err;
		}
		len = fread(buf, 1, KEY_MAX + 1, f);
		fclose(f);
		if (len > KEY_MAX) {
			report(arg, cfg->api_key_file, 0, "api-key-file is larger than 4096 bytes");
			return -EINVAL;
		}
		buf[len] = '\0';
		src = buf;
	} else {
		src = getenv("THREATBL_API_KEY");
		if (!src)
			return 0;
	}
	while (*src == ' ' || *src == '\t' || *src == '\n' || *src == '\r')
		src++;
	len = strlen(src);
	while (len && (src[len - 1] == ' ' || src[len - 1] == '\t' || src[len - 1] == '\n' ||
		       src[len - 1] == '\r'))
		len--;
	for (size_t i = 0; i < len; i++) {
		/* It goes into an HTTP header: no control characters. */
		if ((unsigned char)src[i] < 0x20 || src[i] == 0x7f) {
			report(arg, cfg->api_key_file ? cfg->api_key_file : "THREATBL_API_KEY", 0,
			       "the API key contains a control character");
			explicit_bzero(buf, sizeof(buf));
			return -EINVAL;
		}
	}
	if (len)
		*key = strndup(src, len);
	explicit_bzero(buf, sizeof(buf));
	if (len && !*key)
		return -ENOMEM;
	return 0;
}

static void loaded_free(struct loaded *ld)
{
	if (ld->api_key) {
		explicit_bzero(ld->api_key, strlen(ld->api_key));
		free(ld->api_key);
	}
	zoneset_free(ld->zones);
	config_free(ld->cfg);
	watch_free(ld->watch);
	memset(ld, 0, sizeof(*ld));
}

/* Configuration, command-line overrides, zones and lists, key: everything a start or a
 * reload needs, built without touching the running server. */
static int load_all(const struct server *srv, uint32_t serial, config_report_fn report,
		    void *arg, struct loaded *ld)
{
	int err;

	memset(ld, 0, sizeof(*ld));
	err = config_load(srv->config_path, report, arg, &ld->cfg);
	if (err)
		return err;
	if (srv->ncli_listen && (err = config_set_listen(ld->cfg, srv->cli_listen,
							  srv->ncli_listen))) {
		report(arg, "-l", 0, "bad listen address");
		goto fail;
	}
	if (srv->cli_database && (err = config_set_database(ld->cfg, srv->cli_database)))
		goto fail;
	err = zoneset_build(ld->cfg, serial, report, arg, &ld->zones);
	if (err)
		goto fail;
	if (ld->cfg->provider != CONFIG_PROVIDER_NONE) {
		err = read_api_key(ld->cfg, report, arg, &ld->api_key);
		if (err)
			goto fail;
		if (!ld->api_key && ld->cfg->provider == CONFIG_PROVIDER_NAMED) {
			char msg[200];

			snprintf(msg, sizeof(msg), "provider = %s needs an API key: set [intel] "
				 "api-key-file or the environment variable THREATBL_API_KEY",
				 ld->cfg->provider_kind->name);
			report(arg, ld->cfg->file, 0, msg);
			err = -EINVAL;
			goto fail;
		}
		ld->provider = ld->api_key ? ld->cfg->provider_kind : NULL;
	}
	ld->watch = watch_build(ld->cfg);
	if (!ld->watch) {
		err = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	loaded_free(ld);
	return err;
}

int server_check(struct server *srv)
{
	struct loaded ld;
	unsigned errors = 0;
	int err = load_all(srv, (uint32_t)time(NULL), report_check, &errors, &ld);

	if (err)
		return 1;
	loaded_free(&ld);
	return errors ? 1 : 0;
}

void server_tick(struct server *srv)
{
	srv->env.now = (uint32_t)time(NULL);
}

/* dns_env's generic refresh hook, for intel. */
static void refresh_intel(void *arg, const struct ipaddr *ip)
{
	intel_refresh(arg, ip);
}

/* dns_env follows the configuration in use. Under the lock: once it is released no
 * worker holds a pointer into the previous zones, and they can be freed. */
static void env_apply(struct server *srv)
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

/* Start, replace or stop the lookups to match what was loaded. */
static int intel_apply(struct server *srv, const struct loaded *ld)
{
	struct provider_backend be;
	int err;

	if (!ld->provider) {
		if (srv->intel) {
			log_info("lookups switched off");
			intel_close(srv->intel, intel_closed, NULL);
			srv->intel = NULL;
		}
		return 0;
	}
	err = provider_open(ld->provider, &srv->loop, ld->cfg, ld->api_key, &be);
	if (err) {
		log_err("cannot set up %s lookups: %s", ld->provider->display, strerror(-err));
		return err;
	}
	if (srv->intel) {
		intel_reconfigure(srv->intel, ld->cfg, be);
		return 0;
	}
	err = intel_new(&srv->loop, ld->cfg, be, srv->cache, srv->store, &srv->intel);
	if (err) {
		be.close(be.impl, intel_closed, NULL);
		log_err("cannot start lookups: %s", strerror(-err));
		return err;
	}
	log_info("looking IPs up in %s at %s (API key %s)", be.name, ld->cfg->url,
		 ld->cfg->api_key_file ? "from api-key-file" : "from THREATBL_API_KEY");
	return 0;
}

/* Take what was loaded into use; the old data is freed (nothing on the loop keeps a
 * pointer into it: parked queries keep their bytes, not their zone). */
static void adopt(struct server *srv, struct loaded *ld)
{
	struct loaded old = {
		.cfg = srv->cfg, .zones = srv->zones, .api_key = srv->api_key,
		.watch = srv->watch,
	};

	srv->cfg = ld->cfg;
	srv->zones = ld->zones;
	srv->api_key = ld->api_key;
	srv->watch = ld->watch;
	if (intel_apply(srv, ld))
		log_warn("lookups keep their previous settings");
	memset(ld, 0, sizeof(*ld));
	log_set_level(srv->cfg->log_level);
	env_apply(srv);
	loaded_free(&old);
}

static void reload_start(struct server *srv, const char *why);

static void reload_work(uv_work_t *req)
{
	struct reload_job *job = req->data;

	job->err = load_all(job->srv, job->serial, report_log, NULL, &job->ld);
}

static void reload_done(uv_work_t *req, int status)
{
	struct reload_job *job = req->data;
	struct server *srv = job->srv;

	srv->reloading = 0;
	if (status || job->err) {
		log_err("reload failed: %s; still serving the previous configuration",
			strerror(status ? -status : -job->err));
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
		srv->serial = job->serial;
		adopt(srv, &job->ld);
		log_info("reloaded: %zu zone(s), serial %u", srv->zones->n, srv->serial);
	}
	loaded_free(&job->ld);
	free(job);
	if (srv->reload_again && !srv->stopping) {
		srv->reload_again = 0;
		reload_start(srv, "a reload was asked during the last one");
	}
}

static void reload_start(struct server *srv, const char *why)
{
	struct reload_job *job;
	uint32_t now = (uint32_t)time(NULL);
	int err;

	if (srv->stopping)
		return;
	if (srv->reloading || srv->watching) {
		srv->reload_again = 1;
		return;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		log_err("reload: out of memory");
		return;
	}
	log_info("reloading: %s", why);
	job->srv = srv;
	/* The serial must grow even for two reloads in one second. */
	job->serial = now > srv->serial ? now : srv->serial + 1;
	job->req.data = job;
	err = uv_queue_work(&srv->loop, &job->req, reload_work, reload_done);
	if (err) {
		log_err("reload: %s", uv_strerror(err));
		free(job);
		return;
	}
	srv->reloading = 1;
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

static void on_close_free_nothing(uv_handle_t *h)
{
	(void)h;
}

static void server_stop(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = 1;
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
	env_apply(srv);
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
		/* Verdicts are written by the main loop while the workers read them. */
		cache_set_lock(srv->cache, &srv->lock);
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

/* After binding: become cfg->user. The database files change owner first so that the
 * writer can still write them. */
static int drop_privileges(struct server *srv)
{
	const char *user = srv->cfg->user;
	struct passwd *pw;

	if (geteuid() != 0) {
		if (user)
			log_debug("not root: user = %s ignored", user);
		return 0;
	}
	if (!user) {
		log_warn("running as root: set [server] user to drop privileges after binding");
		return 0;
	}
	pw = getpwnam(user);
	if (!pw) {
		log_err("user '%s' does not exist", user);
		return -ENOENT;
	}
	if (srv->cfg->database) {
		static const char *const suffix[] = { "", "-wal", "-shm" };

		for (size_t i = 0; i < 3; i++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s%s", srv->cfg->database, suffix[i]);
			if (chown(path, pw->pw_uid, pw->pw_gid) && errno != ENOENT)
				log_warn("cannot give %s to %s: %s", path, user, strerror(errno));
		}
	}
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		log_err("cannot become user %s: %s", user, strerror(errno));
		return -EPERM;
	}
	if (setuid(0) == 0) {
		log_err("privileges could be regained after dropping them to %s", user);
		return -EPERM;
	}
	log_info("running as user %s", user);
	return 0;
}

/* Without -f: fork, and let the parent exit only once the child is ready (0) or has
 * failed (its exit code), so that init scripts and shells see start-up errors. */
static int daemonize(struct server *srv)
{
	int fds[2];
	pid_t pid;
	unsigned char code = 1;

	srv->ready_fd = -1;
	if (srv->foreground)
		return 0;
	if (pipe2(fds, O_CLOEXEC)) {
		perror("threatbld: pipe");
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		perror("threatbld: fork");
		return -errno;
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &code, 1) != 1)
			code = 1;
		_exit(code);
	}
	close(fds[0]);
	srv->ready_fd = fds[1];
	if (setsid() < 0)
		return -errno;
	return 0;
}

static void tell_parent(struct server *srv, unsigned char code)
{
	int fd;

	if (srv->ready_fd < 0)
		return;
	if (write(srv->ready_fd, &code, 1) != 1)
		log_warn("cannot tell the parent process that the server is ready");
	close(srv->ready_fd);
	srv->ready_fd = -1;
	if (code != 0)
		return;
	log_open(0, srv->cfg->log_level);
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
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

	srv->ready_fd = -1;
	srv->serial = (uint32_t)time(NULL);
	if (load_all(srv, srv->serial, report_stderr, NULL, &ld))
		return 1;
	/* Start-up problems go to stderr even without -f: the parent waits for the child
	 * and the person starting it should see why it failed. */
	log_open(1, ld.cfg->log_level);
	if (daemonize(srv))
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
	adopt(srv, &ld);
	/* Initialised before anything can fail: server_stop closes them. */
	uv_signal_init(&srv->loop, &srv->sig_hup);
	uv_signal_init(&srv->loop, &srv->sig_term);
	uv_signal_init(&srv->loop, &srv->sig_int);
	uv_timer_init(&srv->loop, &srv->list_watch);
	srv->sig_hup.data = srv->sig_term.data = srv->sig_int.data = srv;
	srv->list_watch.data = srv;
	if (listen_all(srv) || drop_privileges(srv))
		goto out;
	if (srv->store && (err = store_start(srv->store))) {
		log_err("cannot start the database writer: %s", strerror(-err));
		goto out;
	}
	uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
	uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
	uv_signal_start(&srv->sig_int, on_signal, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	uv_timer_start(&srv->list_watch, on_watch_timer, WATCH_INTERVAL_MS, WATCH_INTERVAL_MS);

	log_info("threatbld %s ready: %zu zone(s), serial %u", PACKAGE_VERSION, srv->zones->n,
		 srv->serial);
	tell_parent(srv, 0);
	uv_run(&srv->loop, UV_RUN_DEFAULT);
	code = 0;
out:
	server_stop(srv);
	uv_run(&srv->loop, UV_RUN_DEFAULT);
out_loaded:
	loaded_free(&ld);
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
	{
		struct loaded cur = {
			.cfg = srv->cfg, .zones = srv->zones, .api_key = srv->api_key,
			.watch = srv->watch,
		};
		loaded_free(&cur);
	}
	cache_free(srv->cache);
	if (lock_ok)
		pthread_rwlock_destroy(&srv->lock);
	if (code == 0)
		log_info("stopped");
	tell_parent(srv, (unsigned char)code);
	return code;
}
