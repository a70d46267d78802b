/* feed.c - the feeds (see feed.h).
 *
 * Each feed is a small state machine on the lookup loop: a timer starts a fetch; the
 * answer (200, 304 or a failure) starts at most one job on the thread pool (parse and
 * keep, or rewrite the meta file), whose end swaps the new list in. One fetch or job at
 * a time per feed (`busy`), so a slow parse never overlaps the next fetch. Every file
 * is read and written on the thread pool, never on a loop. */
#include "feed.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed_keep.h"
#include "feed_parse.h"
#include "http.h"
#include "list.h"
#include "log.h"
#include "shared.h"

/* After a failed fetch, the next try comes after `every`, but no later than this. */
#define FEED_RETRY_MAX_S 300
/* A kept copy fetched later than now plus this was not fetched when it says. */
#define FEED_CLOCK_SLACK_S 300

struct feed_table *feed_table_new(void)
{
	return calloc(1, sizeof(struct feed_table));
}

void feed_table_free(struct feed_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		lists_free(t->slot[i].lists);
	free(t);
}

struct feed_slot *feed_table_bind(struct feed_table *t, const char *name)
{
	size_t i;

	if (!t || !name || strlen(name) >= FEED_NAME_MAX)
		return NULL;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->slot[i].name, name) == 0)
			return &t->slot[i];
	if (t->n == FEED_SLOTS) {
		log_err("feed %s: more than %d feed names since start: not served until "
			"threatbld is restarted", name, FEED_SLOTS);
		return NULL;
	}
	snprintf(t->slot[t->n].name, FEED_NAME_MAX, "%s", name);
	return &t->slot[t->n++];
}

struct lists *const *feed_table_lists_of(void *arg, const char *name)
{
	struct feed_slot *s = feed_table_bind(arg, name);

	return s ? &s->lists : NULL;
}

const char *feed_status_name(enum feed_status s)
{
	switch (s) {
	case FEED_STARTING:
		return "starting";
	case FEED_OK:
		return "ok";
	case FEED_UNCHANGED:
		return "not modified";
	case FEED_FAILED:
		return "failed";
	case FEED_REFUSED:
		return "refused";
	}
	return "?";
}

char *feeds_dir_for(const char *database)
{
	char *copy, *dir, *out = NULL;

	if (!database || !*database)
		return NULL;
	copy = strdup(database);
	if (!copy)
		return NULL;
	dir = dirname(copy);
	if (asprintf(&out, "%s/feeds", dir) < 0)
		out = NULL;
	free(copy);
	return out;
}

/* ---- jobs on the thread pool: reading, parsing and keeping ---------------------- */

enum job_kind { JOB_LOAD, JOB_FETCHED, JOB_TOUCH };

struct feed;

/* One job on the thread pool: everything it reads is copied in, so that a reload
 * changing the feed meanwhile does not matter to it. */
struct feed_job {
	uv_work_t req;
	struct feed *f;
	enum job_kind kind;
	unsigned gen;              /* f->fetch_gen when queued (JOB_FETCHED) */
	char *dir, *name;
	enum feed_format format;
	unsigned column;
	size_t max_entries, prev_entries;
	unsigned max_shrink;
	uint64_t max_size;
	char *body;                /* JOB_FETCHED: the download */
	size_t len;
	struct feed_meta meta;     /* in: to write; out (JOB_LOAD): read */
	/* out */
	int err;                   /* 0, -ENOENT (no kept copy), other: why says */
	char why[200];
	struct lists *lists;
	int write_err;             /* keeping failed (the copy is still served) */
};

static void parse_report(void *arg, const char *file, unsigned line, int level,
			 const char *msg)
{
	(void)arg;
	if (line)
		log_debug("feed %s: entry %u: %s%s", file, line, level ? "warning: " : "", msg);
}

static void job_work(uv_work_t *req)
{
	struct feed_job *j = req->data;
	int err;

	if (j->kind == JOB_TOUCH) {
		j->write_err = j->dir ? feed_keep_write(j->dir, j->name, NULL, 0, &j->meta) : 0;
		return;
	}
	if (j->kind == JOB_LOAD) {
		j->err = -ENOENT;
		if (!j->dir)
			return;
		j->err = feed_keep_read(j->dir, j->name, j->max_size, &j->body, &j->len, &j->meta,
					j->why, sizeof(j->why));
		if (j->err < 0)
			return;
	}
	j->err = feed_parse(j->format, j->column, j->name, j->body, j->len, j->max_entries,
			    parse_report, NULL, j->why, sizeof(j->why), &j->lists);
	if (j->err < 0 || j->kind != JOB_FETCHED)
		return;
	/* A list that lost most of its entries at once is more likely a broken
	 * publication than a real change: keep serving the old one. */
	if (j->prev_entries && j->max_shrink < 100 &&
	    (uint64_t)lists_count(j->lists) * 100 <
	    (uint64_t)j->prev_entries * (100 - j->max_shrink)) {
		snprintf(j->why, sizeof(j->why), "shrank from %zu to %zu entries, more than "
			 "max-shrink (%u%%)", j->prev_entries, lists_count(j->lists),
			 j->max_shrink);
		lists_free(j->lists);
		j->lists = NULL;
		j->err = -EINVAL;
		return;
	}
	if (j->dir && (err = feed_keep_write(j->dir, j->name, j->body, j->len, &j->meta)) < 0)
		j->write_err = err;
}

/* ---- the runner (lookup loop) --------------------------------------------------- */

struct feed {
	struct list_node node;       /* on fs->feeds, changed under fs->mu */
	struct feeds *fs;
	struct config_feed cfg;      /* name and url are this feed's copies */
	struct feed_slot *slot;
	struct http *http;           /* its max_body: http_max */
	uint64_t http_max;           /* cfg.max_size until a reload changes it */
	uv_timer_t timer;
	int busy;                    /* a fetch or a job is under way */
	int refetch;                 /* the settings changed while busy: fetch again */
	/* A reload that changes what the copy is made of (url, format, column) bumps gen
	 * and sets uncond: fetches send no If-None-Match / If-Modified-Since, so that no
	 * 304 confirms a copy of the old settings, until a download made under the new
	 * ones (fetch_gen == gen) is taken. */
	unsigned gen, fetch_gen;
	int uncond;
	int closing, drop;           /* drop: empty the slot (the feed left the config) */
	unsigned refs;               /* timer, http handles (a replaced one until it
				      * is closed), job: freed at 0 */
	char etag[FEED_HDR_MAX], last_modified[FEED_HDR_MAX];
	int64_t fetched;             /* the copy served was last confirmed then */
	int64_t attempted;           /* the last fetch started then (0: none yet) */
	int failing;                 /* the last attempt failed: retried sooner */
	struct feed_state st;        /* under fs->mu */
};

struct feeds {
	uv_loop_t *loop;
	struct feed_table *tab;
	struct shared *sh;
	char *dir;
	struct list_head feeds;
	uv_mutex_t mu;
	size_t nfeeds;
	int closing;
	unsigned closing_feeds;
	void (*closed)(void *arg);
	void *closed_arg;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static void fmt_age(int64_t s, char *buf, size_t n)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, n, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, n, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, n, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, n, "%lldd", (long long)(s / 86400));
}

/* Swap the served list: under the write side, as a reload swaps zones; the old one is
 * freed after the lock is released, when no reader can hold it. */
static void install(struct feed *f, struct lists *l)
{
	struct lists *old;

	if (!f->slot) {
		lists_free(l);
		return;
	}
	old = f->slot->lists;
	if (f->fs->sh)
		shared_write_begin(f->fs->sh);
	f->slot->lists = l;
	if (f->fs->sh)
		shared_write_end(f->fs->sh);
	lists_free(old);
	uv_mutex_lock(&f->fs->mu);
	f->st.serving = l != NULL;
	f->st.entries = l ? lists_count(l) : 0;
	f->st.copy_time = l ? f->fetched : 0;
	uv_mutex_unlock(&f->fs->mu);
}

static void feed_release(struct feed *f)
{
	struct feeds *fs = f->fs;

	if (--f->refs)
		return;
	free(f->cfg.name);
	free(f->cfg.url);
	free(f);
	fs->closing_feeds--;
	if (fs->closing && !fs->closing_feeds) {
		void (*closed)(void *) = fs->closed;
		void *arg = fs->closed_arg;

		uv_mutex_destroy(&fs->mu);
		free(fs->dir);
		free(fs);
		if (closed)
			closed(arg);
	}
}

static void timer_closed(uv_handle_t *h)
{
	feed_release(h->data);
}

static void http_closed(void *arg)
{
	feed_release(arg);
}

static void feed_start_fetch(struct feed *f);

static void on_timer(uv_timer_t *t)
{
	feed_start_fetch(t->data);
}

/* A copy not confirmed for max-age is dropped: better nothing than a list that may
 * have moved on long ago. */
static void check_expiry(struct feed *f)
{
	char age[32], max[32];
	int64_t now = now_s();
	size_t n;

	if (!f->slot || !f->slot->lists || now - f->fetched <= (int64_t)f->cfg.max_age_s)
		return;
	n = lists_count(f->slot->lists);
	fmt_age(now - f->fetched, age, sizeof(age));
	fmt_age(f->cfg.max_age_s, max, sizeof(max));
	log_warn("feed %s: no good copy for %s, more than max-age (%s): dropped, its %zu "
		 "entries are not served until a fetch succeeds", f->cfg.name, age, max, n);
	install(f, NULL);
	f->etag[0] = f->last_modified[0] = '\0';
	uv_mutex_lock(&f->fs->mu);
	f->st.expired++;
	uv_mutex_unlock(&f->fs->mu);
}

/* Arm the timer for delay_s, or sooner when the copy expires before. */
static void schedule(struct feed *f, int64_t delay_s)
{
	if (f->closing)
		return;
	if (f->slot && f->slot->lists) {
		int64_t left = f->fetched + (int64_t)f->cfg.max_age_s + 1 - now_s();

		if (left < delay_s)
			delay_s = left;
	}
	if (delay_s < 0)
		delay_s = 0;
	uv_timer_start(&f->timer, on_timer, delay_s ? (uint64_t)delay_s * 1000 : 1, 0);
}

static void after_attempt(struct feed *f, int64_t delay_s)
{
	f->busy = 0;
	f->failing = 0;
	if (f->refetch) {
		f->refetch = 0;
		delay_s = 0;
	}
	schedule(f, delay_s);
}

/* A fetch that failed, or a download refused: the copy served stays (until max-age). */
static void feed_failed(struct feed *f, enum feed_status status, const char *why)
{
	char age[32];
	int64_t retry = f->cfg.every_s < FEED_RETRY_MAX_S ? f->cfg.every_s : FEED_RETRY_MAX_S;

	uv_mutex_lock(&f->fs->mu);
	f->st.status = status;
	snprintf(f->st.why, sizeof(f->st.why), "%s", why);
	if (status == FEED_REFUSED)
		f->st.refused++;
	else
		f->st.failures++;
	uv_mutex_unlock(&f->fs->mu);
	if (f->slot && f->slot->lists) {
		fmt_age(now_s() - f->fetched, age, sizeof(age));
		log_warn("feed %s: %s %s; serving the copy of %s ago (%zu entries)", f->cfg.name,
			 status == FEED_REFUSED ? "download refused:" : "fetch failed:", why, age,
			 lists_count(f->slot->lists));
	} else {
		log_warn("feed %s: %s %s; nothing served", f->cfg.name,
			 status == FEED_REFUSED ? "download refused:" : "fetch failed:", why);
	}
	check_expiry(f);
	after_attempt(f, retry);
	f->failing = 1;
}

static void job_done(uv_work_t *req, int status)
{
	struct feed_job *j = req->data;
	struct feed *f = j->f;
	int64_t delay = f->cfg.every_s;
	char age[32];

	if (status < 0 && !j->err) {
		j->err = status;
		snprintf(j->why, sizeof(j->why), "%s", strerror(-status));
	}
	if (f->closing)
		goto out;
	if (j->write_err)
		log_warn("feed %s: cannot keep the copy in %s: %s (it is served, but a restart "
			 "will not have it)", f->cfg.name, j->dir, strerror(-j->write_err));
	switch (j->kind) {
	case JOB_LOAD:
		delay = 0;
		if (j->err == -ENOENT) {
			log_info("feed %s: no kept copy yet: fetching %s", f->cfg.name, f->cfg.url);
		} else if (j->err < 0) {
			log_warn("feed %s: kept copy not used: %s", f->cfg.name, j->why);
		} else if (j->meta.fetched > now_s() + FEED_CLOCK_SLACK_S) {
			/* Not trusted to say how old it is (the clock went back, or the file
			 * was written by hand): served, as the best there is, but as if
			 * fetched now, so that max-age runs from now, and fetched at once
			 * rather than at a time that may be years away. */
			fmt_age(j->meta.fetched - now_s(), age, sizeof(age));
			log_warn("feed %s: the kept copy says it was fetched %s from now (the "
				 "clock went back?): served, and fetched again now", f->cfg.name,
				 age);
			f->fetched = now_s();
			install(f, j->lists);
			j->lists = NULL;
		} else if (now_s() - j->meta.fetched > (int64_t)f->cfg.max_age_s) {
			fmt_age(now_s() - j->meta.fetched, age, sizeof(age));
			log_warn("feed %s: the kept copy is %s old, more than max-age: not served",
				 f->cfg.name, age);
		} else {
			f->fetched = j->meta.fetched;
			memcpy(f->etag, j->meta.etag, sizeof(f->etag));
			memcpy(f->last_modified, j->meta.last_modified, sizeof(f->last_modified));
			fmt_age(now_s() - f->fetched, age, sizeof(age));
			log_info("feed %s: serving the kept copy of %s ago (%zu entries)",
				 f->cfg.name, age, lists_count(j->lists));
			install(f, j->lists);
			j->lists = NULL;
			delay = f->fetched + (int64_t)f->cfg.every_s - now_s();
		}
		after_attempt(f, delay);
		break;
	case JOB_TOUCH:
		f->fetched = j->meta.fetched;
		uv_mutex_lock(&f->fs->mu);
		f->st.copy_time = f->fetched;
		uv_mutex_unlock(&f->fs->mu);
		log_info("feed %s: not modified (%zu entries)", f->cfg.name,
			 f->slot && f->slot->lists ? lists_count(f->slot->lists) : (size_t)0);
		after_attempt(f, delay);
		break;
	case JOB_FETCHED:
		if (j->err < 0) {
			feed_failed(f, FEED_REFUSED, j->why);
			break;
		}
		f->fetched = j->meta.fetched;
		/* A download asked before a reload changed the url, format or column is
		 * served until the fetch that follows, but its validators are not kept: that
		 * fetch must not be answered 304. */
		if (j->gen == f->gen) {
			memcpy(f->etag, j->meta.etag, sizeof(f->etag));
			memcpy(f->last_modified, j->meta.last_modified,
			       sizeof(f->last_modified));
			f->uncond = 0;
		}
		log_info("feed %s: %zu entries (was %zu), %zu bytes from %s", f->cfg.name,
			 lists_count(j->lists), j->prev_entries, j->len, f->cfg.url);
		uv_mutex_lock(&f->fs->mu);
		f->st.status = FEED_OK;
		f->st.why[0] = '\0';
		f->st.changed++;
		uv_mutex_unlock(&f->fs->mu);
		install(f, j->lists);
		j->lists = NULL;
		after_attempt(f, delay);
		break;
	}
out:
	lists_free(j->lists);
	free(j->body);
	free(j->dir);
	free(j->name);
	free(j);
	feed_release(f);
}

/* Queue a job for f (f->busy is set); body is taken. */
static void start_job(struct feed *f, enum job_kind kind, char *body, size_t len,
		      const struct feed_meta *meta)
{
	struct feed_job *j = calloc(1, sizeof(*j));
	int err;

	if (!j || (f->fs->dir && !(j->dir = strdup(f->fs->dir))) ||
	    !(j->name = strdup(f->cfg.name))) {
		if (j) {
			free(j->dir);
			free(j);
		}
		free(body);
		feed_failed(f, FEED_FAILED, "out of memory");
		return;
	}
	j->req.data = j;
	j->f = f;
	j->kind = kind;
	j->gen = f->fetch_gen;
	j->format = (enum feed_format)f->cfg.format;
	j->column = f->cfg.column;
	j->max_entries = f->cfg.max_entries;
	j->max_size = f->cfg.max_size;
	j->max_shrink = f->cfg.max_shrink;
	j->prev_entries = f->slot && f->slot->lists ? lists_count(f->slot->lists) : 0;
	j->body = body;
	j->len = len;
	if (meta)
		j->meta = *meta;
	f->refs++;
	if ((err = uv_queue_work(f->fs->loop, &j->req, job_work, job_done)) < 0) {
		f->refs--;
		free(j->body);
		free(j->dir);
		free(j->name);
		free(j);
		feed_failed(f, FEED_FAILED, uv_strerror(err));
	}
}

static void fetch_done(void *arg, int err, long status, const char *body, size_t len)
{
	struct feed *f = arg;
	struct feed_meta m = { .fetched = now_s() };
	char why[200], tag[FEED_HDR_MAX];
	char *copy;

	if (f->closing)
		return;
	uv_mutex_lock(&f->fs->mu);
	f->st.fetches++;
	f->st.last_attempt = m.fetched;
	uv_mutex_unlock(&f->fs->mu);
	if (err) {
		if (err == -EMSGSIZE)
			snprintf(why, sizeof(why), "larger than max-size (%" PRIu64 " bytes)",
				 f->http_max);
		else if (err == -ECONNRESET)
			snprintf(why, sizeof(why), "connection cut (a truncated body?)");
		else if (err == -EIO && http_error(f->http))
			snprintf(why, sizeof(why), "%s", http_error(f->http));
		else
			snprintf(why, sizeof(why), "%s", strerror(-err));
		feed_failed(f, FEED_FAILED, why);
		return;
	}
	if (status == 304 && f->slot && f->slot->lists) {
		memcpy(m.etag, f->etag, sizeof(m.etag));
		memcpy(m.last_modified, f->last_modified, sizeof(m.last_modified));
		feed_keep_header(tag, http_header(f->http, "ETag"));
		if (tag[0])
			memcpy(m.etag, tag, sizeof(m.etag));
		uv_mutex_lock(&f->fs->mu);
		f->st.status = FEED_UNCHANGED;
		f->st.why[0] = '\0';
		f->st.unchanged++;
		uv_mutex_unlock(&f->fs->mu);
		start_job(f, JOB_TOUCH, NULL, 0, &m);
		return;
	}
	if (status != 200) {
		snprintf(why, sizeof(why), "HTTP status %ld", status);
		feed_failed(f, FEED_FAILED, why);
		return;
	}
	feed_keep_header(m.etag, http_header(f->http, "ETag"));
	feed_keep_header(m.last_modified, http_header(f->http, "Last-Modified"));
	copy = malloc(len + 1);
	if (!copy) {
		feed_failed(f, FEED_FAILED, "out of memory");
		return;
	}
	memcpy(copy, body, len);
	copy[len] = '\0';
	start_job(f, JOB_FETCHED, copy, len, &m);
}

/* The cap on a download is the http handle's (http_new): a reload that changed
 * max-size gets a new handle here, before a fetch, when none is in flight. Failing
 * that, the old cap stays (logged) and this is tried again before the next fetch. */
static void renew_http(struct feed *f)
{
	struct http *h;
	int err;

	if (f->http_max == f->cfg.max_size)
		return;
	if ((err = http_new(f->fs->loop, (size_t)f->cfg.max_size, &h)) < 0) {
		log_err("feed %s: cannot apply max-size: %s; still %" PRIu64 " bytes",
			f->cfg.name, strerror(-err), f->http_max);
		return;
	}
	http_close(f->http, http_closed, f); /* its reference goes when it is closed */
	f->http = h;
	f->refs++;
	f->http_max = f->cfg.max_size;
}

static void feed_start_fetch(struct feed *f)
{
	char inm[FEED_HDR_MAX + 32], ims[FEED_HDR_MAX + 32];
	const char *headers[3];
	size_t n = 0;
	int err;

	if (f->closing || f->busy)
		return;
	check_expiry(f);
	renew_http(f);
	/* Ask "only if changed" only when there is a copy to keep serving, made under
	 * the settings of now. */
	if (f->slot && f->slot->lists && !f->uncond) {
		if (f->etag[0]) {
			snprintf(inm, sizeof(inm), "If-None-Match: %s", f->etag);
			headers[n++] = inm;
		}
		if (f->last_modified[0]) {
			snprintf(ims, sizeof(ims), "If-Modified-Since: %s", f->last_modified);
			headers[n++] = ims;
		}
	}
	headers[n] = NULL;
	f->busy = 1;
	f->fetch_gen = f->gen;
	f->attempted = now_s();
	log_debug("feed %s: fetching %s", f->cfg.name, f->cfg.url);
	err = http_get(f->http, f->cfg.url, headers, (long)f->cfg.timeout_ms, fetch_done, f);
	if (err < 0)
		feed_failed(f, FEED_FAILED, strerror(-err));
}

static int feed_copy_cfg(struct config_feed *dst, const struct config_feed *src)
{
	char *name = strdup(src->name), *url = strdup(src->url ? src->url : "");

	if (!name || !url) {
		free(name);
		free(url);
		return -ENOMEM;
	}
	free(dst->name);
	free(dst->url);
	*dst = *src;
	dst->name = name;
	dst->url = url;
	return 0;
}

static void feed_close(struct feed *f, int drop)
{
	struct feeds *fs = f->fs;

	f->closing = 1;
	if (drop)
		install(f, NULL);
	uv_mutex_lock(&fs->mu);
	list_del(&f->node);
	fs->nfeeds--;
	uv_mutex_unlock(&fs->mu);
	fs->closing_feeds++;
	uv_timer_stop(&f->timer);
	uv_close((uv_handle_t *)&f->timer, timer_closed);
	http_close(f->http, http_closed, f);
}

static int feed_open(struct feeds *fs, const struct config_feed *c, struct feed_slot *slot)
{
	struct feed *f = calloc(1, sizeof(*f));
	int err;

	if (!f)
		return -ENOMEM;
	f->fs = fs;
	f->slot = slot;
	if ((err = feed_copy_cfg(&f->cfg, c)) < 0) {
		free(f);
		return err;
	}
	f->http_max = c->max_size;
	if ((err = http_new(fs->loop, (size_t)c->max_size, &f->http)) < 0) {
		free(f->cfg.name);
		free(f->cfg.url);
		free(f);
		return err;
	}
	uv_timer_init(fs->loop, &f->timer);
	f->timer.data = f;
	f->refs = 2; /* the timer and the http handle */
	snprintf(f->st.name, sizeof(f->st.name), "%s", c->name);
	uv_mutex_lock(&fs->mu);
	list_add_tail(&fs->feeds, &f->node);
	fs->nfeeds++;
	uv_mutex_unlock(&fs->mu);
	/* The kept copy first: served before any fetch. */
	f->busy = 1;
	start_job(f, JOB_LOAD, NULL, 0, NULL);
	return 0;
}

int feeds_new(uv_loop_t *loop, struct feed_table *t, struct shared *sh, struct feeds **out)
{
	struct feeds *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return -ENOMEM;
	if (uv_mutex_init(&fs->mu) < 0) {
		free(fs);
		return -ENOMEM;
	}
	fs->loop = loop;
	fs->tab = t;
	fs->sh = sh;
	list_init(&fs->feeds);
	*out = fs;
	return 0;
}

static struct feed *feed_find(struct feeds *fs, const char *name)
{
	struct list_node *n, *tmp;

	list_for_each_safe(n, tmp, &fs->feeds) {
		struct feed *f = container_of(n, struct feed, node);

		if (strcmp(f->cfg.name, name) == 0)
			return f;
	}
	return NULL;
}

void feeds_configure(struct feeds *fs, const struct config *cfg,
		     struct feed_slot *const *slots, const char *dir)
{
	struct list_node *n, *tmp;

	if (fs->closing)
		return;
	if ((dir || fs->dir) && (!dir || !fs->dir || strcmp(dir, fs->dir))) {
		free(fs->dir);
		fs->dir = dir ? strdup(dir) : NULL;
	}
	/* Feeds gone from the configuration: stopped, their slots emptied. */
	list_for_each_safe(n, tmp, &fs->feeds) {
		struct feed *f = container_of(n, struct feed, node);
		size_t i;

		for (i = 0; i < cfg->nfeeds; i++)
			if (strcmp(cfg->feeds[i].name, f->cfg.name) == 0 && slots[i])
				break;
		if (i == cfg->nfeeds) {
			log_info("feed %s: removed from the configuration", f->cfg.name);
			feed_close(f, 1);
		}
	}
	for (size_t i = 0; i < cfg->nfeeds; i++) {
		const struct config_feed *c = &cfg->feeds[i];
		struct feed *f = feed_find(fs, c->name);
		int err;

		if (!slots[i])
			continue;
		if (!f) {
			if ((err = feed_open(fs, c, slots[i])) < 0)
				log_err("feed %s: cannot start: %s", c->name, strerror(-err));
			continue;
		}
		/* A new max-size is applied by feed_start_fetch (renew_http): the copy
		 * served stays, whatever its size. */
		if (c->max_size != f->cfg.max_size)
			log_info("feed %s: max-size changed to %" PRIu64 " bytes: applies from "
				 "the next fetch", c->name, c->max_size);
		{
			char what[32] = "";
			int url = strcmp(f->cfg.url, c->url) != 0;
			int format = f->cfg.format != c->format, column = f->cfg.column != c->column;
			int timing = f->cfg.every_s != c->every_s || f->cfg.max_age_s != c->max_age_s;
			int limits = f->cfg.max_shrink != c->max_shrink ||
				     f->cfg.max_entries != c->max_entries;

			if (feed_copy_cfg(&f->cfg, c) < 0) {
				log_err("feed %s: out of memory: keeping its settings", c->name);
				continue;
			}
			if (url || format || column) {
				snprintf(what, sizeof(what), "%s%s%s", url ? ", url" : "",
					 format ? ", format" : "", column ? ", column" : "");
				log_info("feed %s: %s changed: fetching it again, unconditionally",
					 c->name, what + 2);
				f->etag[0] = f->last_modified[0] = '\0';
				f->gen++;
				f->uncond = 1;
				if (f->busy)
					f->refetch = 1;
				else
					schedule(f, 0);
			} else if (limits && f->st.status == FEED_REFUSED) {
				/* The last download was refused by the limits just changed
				 * (a list that shrank legitimately): asked again now, not
				 * after `every`. Its validators are the copy's, so the
				 * answer is the new list, not a 304. */
				log_info("feed %s: max-shrink or max-entries changed after a "
					 "refused download: fetching it again", c->name);
				if (f->busy)
					f->refetch = 1;
				else
					schedule(f, 0);
			} else if (timing && !f->busy && (f->attempted || f->fetched)) {
				/* The timer was armed with the old every or max-age: armed
				 * again from the last attempt with the new ones (an attempt
				 * under way arms it with them when it ends). */
				int64_t every = f->cfg.every_s;

				if (f->failing && every > FEED_RETRY_MAX_S)
					every = FEED_RETRY_MAX_S;
				log_info("feed %s: every or max-age changed: next fetch rescheduled",
					 c->name);
				schedule(f, (f->attempted ? f->attempted : f->fetched) + every -
					    now_s());
			}
		}
	}
}

int feeds_listed(const struct feeds *fs, const struct ipaddr *ip, uint8_t mask)
{
	struct list_node *n, *tmp;

	if (!fs || !mask)
		return 0;
	list_for_each_safe(n, tmp, &((struct feeds *)fs)->feeds) {
		const struct feed *f = container_of(n, struct feed, node);

		if (f->cfg.category >= 0 && (mask & VERDICT_BIT(f->cfg.category)) && f->slot &&
		    lists_match(f->slot->lists, ip, NULL) == LISTS_LISTED)
			return 1;
	}
	return 0;
}

size_t feeds_get_states(struct feeds *fs, struct feed_state *out, size_t max)
{
	struct list_node *n, *tmp;
	size_t i = 0, total;

	if (!fs)
		return 0;
	uv_mutex_lock(&fs->mu);
	total = fs->nfeeds;
	list_for_each_safe(n, tmp, &fs->feeds) {
		if (i < max)
			out[i] = container_of(n, struct feed, node)->st;
		i++;
	}
	uv_mutex_unlock(&fs->mu);
	return total;
}

void feeds_close(struct feeds *fs, void (*closed)(void *arg), void *arg)
{
	struct list_node *n;

	if (!fs || fs->closing)
		return;
	fs->closing = 1;
	fs->closed = closed;
	fs->closed_arg = arg;
	/* Hold one count so that the last feed closing below cannot free fs under us. */
	fs->closing_feeds++;
	while ((n = list_first(&fs->feeds)))
		feed_close(container_of(n, struct feed, node), 0);
	fs->closing_feeds--;
	if (!fs->closing_feeds) {
		uv_mutex_destroy(&fs->mu);
		free(fs->dir);
		free(fs);
		if (closed)
			closed(arg);
	}
}
