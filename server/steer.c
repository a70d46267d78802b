/* steer.c - the verdict commands of the control socket (see steer.h). */
#include "steer.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "intel.h"
#include "list.h"
#include "log.h"
#include "lookup.h"
#include "override.h"
#include "provider.h"
#include "relay.h"
#include "server.h"
#include "store.h"

/* One change of the overrides, waiting for or on the thread pool. */
struct steer_job {
	struct steer_job *next;
	struct control_req *req;    /* NULL for a refresh */
	int refresh;                /* read them all again (another node changed them) */
	int unset;                  /* remove o's prefix; else insert or replace o */
	struct override o;
	/* filled on the pool */
	struct override *ovr;       /* the overrides after the change */
	size_t novr;
	struct override_set *set;   /* ovr compiled */
	int replaced;               /* o took the place of an override of its prefix */
	char err[300];              /* "" = done */
};

struct steer {
	struct server *srv;
	char *db_path;              /* NULL: no database, the overrides in memory only */
	char *password_file;        /* PostgreSQL's, for side (NULL: none or a credential) */
	struct store *side;         /* the pool's own connection, opened by a first job */
	struct override *ovr;       /* in force; changed only when a job comes back */
	size_t novr;
	struct override_set *set;   /* ovr compiled; srv->overrides */
	struct steer_job *head, *tail; /* head is on the pool */
	uv_work_t work;
	uv_timer_t prune;
	int prune_on;
	int stopping;
	/* A fleet's other nodes changed the overrides (store_set_overrides_listener):
	 * the store's listener thread sets pending and wakes the loop through changed,
	 * under mu, while changed_on (from steer_start to steer_stop). */
	pthread_mutex_t mu;
	int changed_on, pending;
	uv_async_t changed;
	int refresh_queued;         /* a refresh job waits or runs */
};

/* A recheck waiting for its lookup. */
struct steer_recheck {
	struct relay_waiter w;
	struct control_req *req;
	struct server *srv;
	struct ipaddr ip;
	struct verdict old;
	uint8_t old_from;            /* its providers (cache_put_from) */
	int had_old;
};

static void verdict_text(const struct verdict *v, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (v->flags & VERDICT_F_UNKNOWN) {
		snprintf(buf, len, "unknown");
		return;
	}
	for (int c = 0; c < VERDICT_NCAT && off < len; c++)
		if (v->mask & VERDICT_BIT(c))
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						verdict_cat_name((enum verdict_cat)c));
	if (!off)
		snprintf(buf, len, "clean");
}

/* --- finding verdicts in the cache ------------------------------------------------ */

struct collect {
	struct ipaddr *ips;
	size_t n, cap;
	int (*match)(void *arg, const struct ipaddr *ip, const struct verdict *v);
	void *arg;
};

static int collect_one(void *arg, const struct ipaddr *ip, const struct verdict *v)
{
	struct collect *c = arg;

	if (!c->match(c->arg, ip, v))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct ipaddr *p = realloc(c->ips, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->ips = p;
		c->cap = cap;
	}
	c->ips[c->n++] = *ip;
	return 0;
}

/* Remove every cached verdict match() selects, from memory now and from the database
 * through the writer's queue. The cache is walked under the read side of the shared
 * lock (the lookup thread writes it), then the verdicts are removed under the write
 * side, a chunk at a time (cache_del_many). *count how many; *unstored how many of them the
 * database's queue refused (full, or out of memory): those rows stay in the file and
 * come back at the next start. 0 or -ENOMEM (nothing removed). */
static int remove_matching(struct server *srv,
			   int (*match)(void *arg, const struct ipaddr *ip,
					const struct verdict *v),
			   void *arg, size_t *count, size_t *unstored)
{
	struct collect c = { .match = match, .arg = arg };
	struct shared_view copy;
	int err;

	*count = 0;
	*unstored = 0;
	shared_read_begin(&srv->shared, &copy);
	err = cache_foreach(srv->cache, collect_one, &c);
	shared_read_end(&srv->shared);
	if (err) {
		free(c.ips);
		return err;
	}
	*count = cache_del_many(srv->cache, c.ips, c.n);
	for (size_t i = 0; srv->store && i < c.n; i++)
		if (store_delete(srv->store, &c.ips[i]) < 0)
			(*unstored)++;
	free(c.ips);
	return 0;
}

/* What a purge or a prune says (and logs) when the database did not take every
 * removal: the command fails, so that a script sees it. */
static const char *unstored_error(size_t unstored, char *err, size_t errlen)
{
	snprintf(err, errlen, "%zu of them could not be removed from the database (its "
		 "write queue is full or memory ran out): they come back at the next start "
		 "unless the command is run again once the database keeps up", unstored);
	log_warn("%s", err);
	return err;
}

struct prefix {
	struct ipaddr net;
	unsigned len;
};

static int in_prefix(void *arg, const struct ipaddr *ip, const struct verdict *v)
{
	const struct prefix *p = arg;

	(void)v;
	return override_covers(&p->net, p->len, ip);
}

struct stale {
	uint32_t now, max;
};

static int too_old(void *arg, const struct ipaddr *ip, const struct verdict *v)
{
	const struct stale *s = arg;

	(void)ip;
	return s->now > v->checked && s->now - v->checked >= s->max;
}

/* --- argument parsing ------------------------------------------------------------- */

struct args {
	const char *pos[3];
	int npos;
	const char *reason, *who;
	int force;
};

static int parse_args(int argc, char **argv, int npos, struct args *a, char *err,
		      size_t errlen)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0) {
			a->force = 1;
		} else if (strcmp(argv[i], "--reason") == 0 || strcmp(argv[i], "--who") == 0) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "%s wants a value", argv[i]);
				return -EINVAL;
			}
			if (argv[i][2] == 'r')
				a->reason = argv[++i];
			else
				a->who = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			snprintf(err, errlen, "unknown option %.40s", argv[i]);
			return -EINVAL;
		} else if (a->npos < npos) {
			a->pos[a->npos++] = argv[i];
		} else {
			snprintf(err, errlen, "unexpected argument %.60s", argv[i]);
			return -EINVAL;
		}
	}
	if (a->npos < npos) {
		snprintf(err, errlen, "missing argument");
		return -EINVAL;
	}
	return 0;
}

/* A prefix wide enough to touch a big part of the Internet needs --force. */
static int check_width(const struct ipaddr *net, unsigned len, int force, char *err,
		       size_t errlen)
{
	int v4 = ipaddr_is_v4(net) && len >= 96;
	unsigned shown = override_display_len(net, len), min = v4 ? STEER_MIN_V4 : STEER_MIN_V6;

	if (force || shown >= min)
		return 0;
	snprintf(err, errlen, "prefix /%u is wider than /%u: add --force if you mean it",
		 shown, min);
	return -EINVAL;
}

static int parse_prefix(const char *text, int force, struct prefix *p, char *err,
			size_t errlen)
{
	if (override_parse_prefix(text, &p->net, &p->len, err, errlen) < 0)
		return -EINVAL;
	return check_width(&p->net, p->len, force, err, errlen);
}

/* --- purge and prune -------------------------------------------------------------- */

static void cmd_purge(struct server *srv, struct control_req *req, int argc, char **argv)
{
	char err[300], text[OVERRIDE_PREFIX_STRLEN];
	struct prefix p;
	struct args a;
	size_t n = 0, unstored = 0;

	if (parse_args(argc, argv, 1, &a, err, sizeof(err)) < 0 ||
	    parse_prefix(a.pos[0], a.force, &p, err, sizeof(err)) < 0) {
		control_end(req, err);
		return;
	}
	override_format_prefix(&p.net, p.len, text);
	if (p.len == 128) {
		/* One IP: no walk over the cache. */
		n = cache_del(srv->cache, &p.net) == 0;
		if (srv->store && store_delete(srv->store, &p.net) < 0)
			unstored = 1;
	} else if (remove_matching(srv, in_prefix, &p, &n, &unstored) < 0) {
		control_end(req, "out of memory");
		return;
	}
	log_info("control: purged %zu verdict(s) in %s", n, text);
	control_print(req, "purged %zu verdict(s) in %s", n, text);
	control_end(req, unstored ? unstored_error(unstored, err, sizeof(err)) : NULL);
}

/* Verdicts past max-stale are never answered again: drop them from memory and the
 * database. Returns how many, or a negative errno; *unstored as remove_matching. */
static long steer_prune_now(struct server *srv, size_t *unstored)
{
	struct stale s = { (uint32_t)time(NULL), srv->cfg->max_stale_s };
	size_t n;
	int err;

	if ((err = remove_matching(srv, too_old, &s, &n, unstored)) < 0) {
		log_warn("pruning old verdicts: %s", strerror(-err));
		return err;
	}
	if (n)
		log_info("pruned %zu verdict(s) older than max-stale (%u s)", n, s.max);
	return (long)n;
}

static void on_prune(uv_timer_t *t)
{
	struct server *srv = t->data;
	char err[300];
	size_t unstored;

	if (steer_prune_now(srv, &unstored) > 0 && unstored)
		unstored_error(unstored, err, sizeof(err));
}

static void cmd_prune(struct server *srv, struct control_req *req, int argc, char **argv)
{
	char err[300];
	size_t unstored;
	long n;

	(void)argc;
	(void)argv;
	if ((n = steer_prune_now(srv, &unstored)) < 0) {
		control_end(req, strerror((int)-n));
		return;
	}
	control_print(req, "pruned %ld verdict(s) older than max-stale (%u s)", n,
		      srv->cfg->max_stale_s);
	control_end(req, unstored ? unstored_error(unstored, err, sizeof(err)) : NULL);
}

/* --- recheck ---------------------------------------------------------------------- */

/* The main loop writes the cache too: it reads as a writer (cache.h). */
static int cache_read(struct server *srv, const struct ipaddr *ip, struct verdict *v)
{
	return cache_get_locked(srv->cache, ip, v, NULL);
}

/* The previous verdict comes back when no new one was made (never over one that the
 * lookup thread put meanwhile). */
static void restore_old(struct steer_recheck *rc)
{
	if (rc->had_old)
		cache_put_new(rc->srv->cache, &rc->ip, &rc->old, rc->old_from);
}

static void recheck_done(struct relay_waiter *w, int status)
{
	struct steer_recheck *rc = container_of(w, struct steer_recheck, w);
	char text[IPADDR_STRLEN], cats[128], when[32];
	const char *err = NULL;
	struct verdict v;

	ipaddr_format(&rc->ip, text);
	if (!rc->req) {
		/* asked by the lookup page: nobody waits for the outcome but the log */
		if (status == 0 && cache_read(rc->srv, &rc->ip, &v) == 0) {
			verdict_text(&v, cats, sizeof(cats));
			log_info("lookup page: rechecked %s: %s", text, cats);
		} else if (status != -ETIMEDOUT) {
			restore_old(rc);
			log_info("lookup page: recheck of %s made no verdict (%s)", text,
				 strerror(-status));
		}
		free(rc);
		return;
	}
	if (status == 0 && cache_read(rc->srv, &rc->ip, &v) == 0) {
		verdict_text(&v, cats, sizeof(cats));
		log_iso_time(v.checked, when, sizeof(when));
		control_print(rc->req, "%s\t%s\tchecked %s", text, cats, when);
		log_info("control: rechecked %s: %s", text, cats);
	} else if (status == -ETIMEDOUT) {
		control_print(rc->req, "%s: the lookup goes on; its verdict replaces the "
			      "old one when it comes", text);
		err = "timed out waiting for the lookup";
	} else {
		restore_old(rc);
		err = status == -ECANCELED ? "the server is stopping" :
		      status == -EBUSY ? "the lookup queue is full: try again later" :
		      "the lookup was refused or failed (calls paused: budget used up, bad "
		      "key or backing off); the previous verdict stays";
	}
	control_end(rc->req, err);
	free(rc);
}

/* Start the lookup of a recheck (req NULL: the lookup page's): the verdict leaves
 * memory, so that the lookup thread does not take the IP as answered and starts a
 * lookup (or joins the one in flight); it comes back when no new one is made. 0, or
 * relay_wait's error (then rc is freed, the old verdict back). */
static int recheck_start(struct server *srv, struct control_req *req,
			 const struct ipaddr *ip)
{
	struct steer_recheck *rc = calloc(1, sizeof(*rc));
	int e;

	if (!rc)
		return -ENOMEM;
	rc->req = req;
	rc->srv = srv;
	rc->ip = *ip;
	rc->had_old = cache_get_locked(srv->cache, ip, &rc->old, &rc->old_from) == 0;
	if (rc->had_old)
		cache_del(srv->cache, ip);
	if ((e = relay_wait(srv->host.relay, ip, NULL, &rc->w, recheck_done)) < 0) {
		restore_old(rc);
		free(rc);
	}
	return e < 0 ? e : 0;
}

/* Why a recheck of ip cannot start now, or NULL. */
static const char *recheck_refusal(struct server *srv, const struct ipaddr *ip)
{
	struct intel_stats st;

	if (override_lookup(srv->overrides, ip, NULL, NULL) == OVERRIDE_ALLOW)
		return "the IP is allowed by an override: it is never looked up";
	if (!srv->lookups || srv->stopping || !srv->host.relay)
		return "lookups are off (no API key or provider configured)";
	if (lookup_get_stats(srv->lookup, &st) == 0 && st.paused == PROVIDER_LIMIT)
		return "lookups are paused: the daily budget or the service's credit is used up";
	if (lookup_get_stats(srv->lookup, &st) == 0 && st.paused == PROVIDER_BAD_KEY)
		return "lookups are paused: the service refused the API key";
	return NULL;
}

static void cmd_recheck(struct server *srv, struct control_req *req, int argc, char **argv)
{
	const char *why;
	struct prefix p;
	char err[300];
	int e;

	(void)argc;
	if (override_parse_prefix(argv[1], &p.net, &p.len, err, sizeof(err)) < 0) {
		control_end(req, err);
		return;
	}
	if (p.len != 128) {
		control_end(req, "recheck wants one IP address, not a prefix");
		return;
	}
	if ((why = recheck_refusal(srv, &p.net))) {
		control_end(req, why);
		return;
	}
	if ((e = recheck_start(srv, req, &p.net)) < 0)
		control_end(req, e == -ENOMEM ? "out of memory" :
			    e == -EBUSY ? "too many lookups waiting: try again later" :
			    "the server is stopping");
}

void steer_recheck_ip(void *arg, const struct ipaddr *ip)
{
	struct server *srv = arg;
	char text[IPADDR_STRLEN];
	const char *why;
	int e;

	ipaddr_format(ip, text);
	if ((why = recheck_refusal(srv, ip))) {
		log_info("lookup page: recheck of %s not started: %s", text, why);
		return;
	}
	if ((e = recheck_start(srv, NULL, ip)) < 0) {
		log_info("lookup page: recheck of %s not started: %s", text, strerror(-e));
		return;
	}
	log_info("lookup page: recheck of %s asked", text);
}

/* --- overrides -------------------------------------------------------------------- */

static int same_prefix(const struct override *a, const struct override *b)
{
	return a->len == b->len && memcmp(a->net.b, b->net.b, sizeof(a->net.b)) == 0;
}

static int load_one(void *arg, const struct override *o);

/* Thread pool: the pool's own connection to the database, opened once (again after a
 * failure: a PostgreSQL restarted meanwhile). 0 (also without a database) or a
 * negative errno with the reason in err. */
static int side_open(struct steer *s, char *err, size_t errlen)
{
	struct store_options so = { .password_file = s->password_file };

	if (!s->db_path || s->side)
		return 0;
	return store_open_opts(s->db_path, &so, &s->side, err, errlen);
}

static void side_close(struct steer *s)
{
	store_close(s->side);
	s->side = NULL;
}

/* Thread pool: every override as the database holds them now, compiled. */
static void refresh_work(struct steer *s, struct steer_job *j)
{
	int err = 0;

	/* A second try on a new connection: PostgreSQL may have dropped the pool's while
	 * it restarted, which is when the listener asks for a refresh. */
	for (int attempt = 0; attempt < 2; attempt++) {
		struct steer got = { .novr = 0 };

		if (side_open(s, j->err, sizeof(j->err)) < 0 || !s->side)
			return;
		if ((err = store_override_list(s->side, load_one, &got)) >= 0) {
			j->ovr = got.ovr;
			j->novr = got.novr;
			if (override_set_build(j->ovr, j->novr, &j->set) < 0)
				snprintf(j->err, sizeof(j->err), "out of memory");
			return;
		}
		free(got.ovr);
		side_close(s);
	}
	snprintf(j->err, sizeof(j->err), "cannot read them: %s", strerror(-err));
}

/* Thread pool: the database first, then the new array and its compiled set. */
static void job_work(uv_work_t *w)
{
	struct steer *s = w->data;
	struct steer_job *j = s->head;
	size_t found = s->novr;
	int err;

	if (j->refresh) {
		refresh_work(s, j);
		return;
	}
	for (size_t i = 0; i < s->novr; i++)
		if (same_prefix(&s->ovr[i], &j->o))
			found = i;
	if (j->unset && found == s->novr) {
		snprintf(j->err, sizeof(j->err), "no override for that prefix");
		return;
	}
	/* Twice at most, as refresh_work (a set or an unset may be written again). */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (side_open(s, j->err, sizeof(j->err)) < 0)
			return;
		if (!s->side)
			break;
		err = j->unset ? store_override_unset(s->side, &j->o.net, j->o.len) :
		      store_override_set(s->side, &j->o);
		if (err >= 0 || (j->unset && err == -ENOENT))
			break;
		side_close(s);
		if (attempt == 1) {
			snprintf(j->err, sizeof(j->err), "cannot write the database: %s",
				 strerror(-err));
			return;
		}
	}
	j->ovr = malloc((s->novr + 1) * sizeof(*j->ovr));
	if (!j->ovr)
		goto nomem;
	j->novr = 0;
	for (size_t i = 0; i < s->novr; i++)
		if (i != found)
			j->ovr[j->novr++] = s->ovr[i];
	if (!j->unset)
		j->ovr[j->novr++] = j->o;
	j->replaced = found != s->novr;
	if (override_set_build(j->ovr, j->novr, &j->set) < 0)
		goto nomem;
	return;
nomem:
	snprintf(j->err, sizeof(j->err), "out of memory (the database holds the change; "
		 "it applies at the next start)");
}

static void job_next(struct steer *s);

/* Main loop: the overrides a refresh read take the place of those in force. */
static void refresh_done(struct steer *s, struct steer_job *j)
{
	struct override_set *old = s->set;

	s->refresh_queued = 0;
	/* announced while this one was queued or ran: read them once more */
	pthread_mutex_lock(&s->mu);
	if (s->pending && s->changed_on)
		uv_async_send(&s->changed);
	pthread_mutex_unlock(&s->mu);
	if (j->err[0]) {
		log_warn("overrides changed in the database: %s; the %zu in force stay",
			 j->err, s->novr);
		free(j->ovr);
		override_set_free(j->set);
		return;
	}
	if (j->novr != s->novr || (j->novr &&
				   memcmp(j->ovr, s->ovr, j->novr * sizeof(*j->ovr)) != 0))
		log_info("overrides changed in the database: %zu in force", j->novr);
	free(s->ovr);
	s->ovr = j->ovr;
	s->novr = j->novr;
	s->set = j->set;
	s->srv->overrides = s->set;
	/* Afterwards no loop holds a pointer into the old set (shared.h). */
	server_env_apply(s->srv);
	override_set_free(old);
}

static void job_done(uv_work_t *w, int status)
{
	struct steer *s = w->data;
	struct steer_job *j = s->head;
	struct server *srv = s->srv;
	char text[OVERRIDE_PREFIX_STRLEN];

	s->head = j->next;
	if (!s->head)
		s->tail = NULL;
	if (status < 0 && !j->err[0])
		snprintf(j->err, sizeof(j->err), "cancelled");
	if (j->refresh) {
		refresh_done(s, j);
		free(j);
		job_next(s);
		return;
	}
	override_format_prefix(&j->o.net, j->o.len, text);
	if (!j->err[0]) {
		struct override_set *old = s->set;

		free(s->ovr);
		s->ovr = j->ovr;
		s->novr = j->novr;
		s->set = j->set;
		srv->overrides = s->set;
		/* Afterwards no loop holds a pointer into the old set (shared.h). */
		server_env_apply(srv);
		override_set_free(old);
		if (j->unset) {
			control_print(j->req, "%s: override removed", text);
			log_info("control: override of %s removed", text);
		} else {
			const char *cat = j->o.kind == OVERRIDE_ADD ?
				verdict_cat_name((enum verdict_cat)j->o.cat) : "";

			control_print(j->req, "%s: %s%s%s%s", text,
				      j->o.kind == OVERRIDE_ALLOW ? "allowed" : "listed as ", cat,
				      j->replaced ? " (replaces the previous override)" : "",
				      "");
			log_info("control: %s %s%s%s by %s: %s", text,
				 j->o.kind == OVERRIDE_ALLOW ? "allowed" : "listed as ", cat,
				 j->replaced ? " (replaced)" : "",
				 j->o.who[0] ? j->o.who : "?", j->o.reason);
		}
		control_end(j->req, NULL);
	} else {
		free(j->ovr);
		override_set_free(j->set);
		control_end(j->req, j->err);
	}
	free(j);
	job_next(s);
}

static void job_next(struct steer *s)
{
	int err;

	if (!s->head)
		return;
	s->work.data = s;
	if ((err = uv_queue_work(&s->srv->loop, &s->work, job_work, job_done)) < 0) {
		struct steer_job *j = s->head;

		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		if (j->refresh)
			s->refresh_queued = 0;
		else
			control_end(j->req, uv_strerror(err));
		free(j);
		job_next(s);
	}
}

static void job_add(struct server *srv, struct steer_job *j)
{
	struct steer *s = srv->steer;
	int idle = !s->head;

	j->next = NULL;
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	if (idle)
		job_next(s);
}

static void cmd_override(struct server *srv, struct control_req *req, int argc, char **argv)
{
	int add = strcmp(argv[0], "add") == 0, unset = strcmp(argv[0], "unset") == 0;
	struct steer_job *j;
	struct prefix p;
	struct args a;
	char err[300];

	if (!srv->steer || srv->stopping) {
		control_end(req, "the server is stopping");
		return;
	}
	if (parse_args(argc, argv, add ? 2 : 1, &a, err, sizeof(err)) < 0 ||
	    override_parse_prefix(a.pos[0], &p.net, &p.len, err, sizeof(err)) < 0 ||
	    (!unset && check_width(&p.net, p.len, a.force, err, sizeof(err)) < 0) ||
	    (a.reason && override_check_reason(a.reason, err, sizeof(err)) < 0)) {
		control_end(req, err);
		return;
	}
	if (unset && (a.reason || a.who)) {
		control_end(req, "unset takes no --reason or --who");
		return;
	}
	if (a.who && (strlen(a.who) > OVERRIDE_WHO_MAX ||
		      override_check_reason(a.who, err, sizeof(err)) < 0)) {
		control_end(req, "bad --who: at most 64 printable ASCII characters");
		return;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		control_end(req, "out of memory");
		return;
	}
	j->req = req;
	j->unset = unset;
	j->o.net = p.net;
	j->o.len = p.len;
	j->o.kind = add ? OVERRIDE_ADD : OVERRIDE_ALLOW;
	j->o.cat = -1;
	j->o.created = (uint32_t)time(NULL);
	if (add && (j->o.cat = override_cat(a.pos[1])) < 0) {
		snprintf(err, sizeof(err), "unknown category %.40s (vpn, openvpn443, hosting, "
			 "tor, proxy, scanner)", a.pos[1]);
		free(j);
		control_end(req, err);
		return;
	}
	snprintf(j->o.reason, sizeof(j->o.reason), "%s", a.reason ? a.reason : "");
	snprintf(j->o.who, sizeof(j->o.who), "%s", a.who ? a.who : "");
	job_add(srv, j);
}

static void cmd_overrides(struct server *srv, struct control_req *req, int argc,
			  char **argv)
{
	struct steer *s = srv->steer;

	(void)argc;
	(void)argv;
	for (size_t i = 0; s && i < s->novr; i++) {
		const struct override *o = &s->ovr[i];
		char text[OVERRIDE_PREFIX_STRLEN], when[32];

		override_format_prefix(&o->net, o->len, text);
		log_iso_time(o->created, when, sizeof(when));
		control_print(req, "%s\t%s%s%s\t%s\t%s\t%s", text,
			      o->kind == OVERRIDE_ALLOW ? "allow" : "add ",
			      o->kind == OVERRIDE_ADD ?
				      verdict_cat_name((enum verdict_cat)o->cat) : "",
			      "", when, o->who[0] ? o->who : "-", o->reason);
	}
	control_end(req, NULL);
}

const struct control_cmd steer_commands[] = {
	{ "purge", 1, 2, "purge IP|CIDR [--force]", cmd_purge },
	{ "recheck", 1, 1, "recheck IP", cmd_recheck },
	{ "allow", 1, 6, "allow IP|CIDR [--reason TEXT] [--who USER] [--force]", cmd_override },
	{ "add", 2, 7, "add IP|CIDR CATEGORY [--reason TEXT] [--who USER] [--force]",
	  cmd_override },
	{ "unset", 1, 1, "unset IP|CIDR", cmd_override },
	{ "overrides", 0, 0, "overrides", cmd_overrides },
	{ "prune", 0, 0, "prune", cmd_prune },
	{ NULL, 0, 0, NULL, NULL },
};

/* --- life ------------------------------------------------------------------------- */

static int load_one(void *arg, const struct override *o)
{
	struct steer *s = arg;
	struct override *p;

	for (size_t i = 0; i < s->novr; i++)
		if (same_prefix(&s->ovr[i], o)) {
			s->ovr[i] = *o;
			return 0;
		}
	if (!(p = realloc(s->ovr, (s->novr + 1) * sizeof(*p))))
		return -ENOMEM;
	s->ovr = p;
	s->ovr[s->novr++] = *o;
	return 0;
}

int steer_load(struct server *srv, struct store *st, const char *db_path,
	       const char *password_file)
{
	struct steer *s = calloc(1, sizeof(*s));
	int err = -ENOMEM;

	if (!s || (db_path && !(s->db_path = strdup(db_path))) ||
	    (password_file && !(s->password_file = strdup(password_file))))
		goto fail;
	pthread_mutex_init(&s->mu, NULL);
	s->srv = srv;
	if (st && (err = store_override_list(st, load_one, s)) < 0)
		goto fail;
	if ((err = override_set_build(s->ovr, s->novr, &s->set)) < 0)
		goto fail;
	if (s->novr)
		log_info("%zu override(s) of the operator in force", s->novr);
	srv->steer = s;
	srv->overrides = s->set;
	return 0;
fail:
	log_err("cannot load the overrides: %s", strerror(-err));
	if (s) {
		free(s->ovr);
		free(s->db_path);
		free(s->password_file);
		free(s);
	}
	return err;
}

/* Main loop: another node changed the overrides; one refresh at a time (a change
 * announced while one is queued or runs stays pending: refresh_done asks again). */
static void on_changed(uv_async_t *a)
{
	struct steer *s = a->data;
	struct steer_job *j;
	int pending;

	if (s->stopping || s->refresh_queued)
		return;
	pthread_mutex_lock(&s->mu);
	pending = s->pending;
	s->pending = 0;
	pthread_mutex_unlock(&s->mu);
	if (!pending)
		return;
	if (!(j = calloc(1, sizeof(*j)))) {
		log_err("overrides changed in the database: out of memory; the %zu in force "
			"stay", s->novr);
		return;
	}
	j->refresh = 1;
	s->refresh_queued = 1;
	job_add(s->srv, j);
}

void steer_overrides_changed(void *arg)
{
	struct server *srv = arg;
	struct steer *s = srv->steer;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->pending = 1;
	if (s->changed_on)
		uv_async_send(&s->changed);
	pthread_mutex_unlock(&s->mu);
}

int steer_start(struct server *srv)
{
	struct steer *s = srv->steer;
	int err;

	if (!s)
		return 0;
	if ((err = uv_async_init(&srv->loop, &s->changed, on_changed)))
		return err;
	s->changed.data = s;
	uv_unref((uv_handle_t *)&s->changed);
	pthread_mutex_lock(&s->mu);
	s->changed_on = 1;
	/* a change announced between steer_load and now */
	if (s->pending)
		uv_async_send(&s->changed);
	pthread_mutex_unlock(&s->mu);
	if ((err = uv_timer_init(&srv->loop, &s->prune)))
		return err;
	s->prune.data = srv;
	s->prune_on = 1;
	/* At once (start-up), then every STEER_PRUNE_MS; it never keeps the loop alive. */
	err = uv_timer_start(&s->prune, on_prune, 0, STEER_PRUNE_MS);
	uv_unref((uv_handle_t *)&s->prune);
	return err;
}

void steer_stop(struct server *srv)
{
	struct steer *s = srv->steer;
	struct steer_job *j;

	if (!s || s->stopping)
		return;
	s->stopping = 1;
	if (s->prune_on)
		uv_close((uv_handle_t *)&s->prune, NULL);
	pthread_mutex_lock(&s->mu);
	if (s->changed_on) {
		s->changed_on = 0;
		uv_close((uv_handle_t *)&s->changed, NULL);
	}
	pthread_mutex_unlock(&s->mu);
	/* The change on the pool (head) finishes; the ones behind it are refused. */
	if (s->head) {
		while ((j = s->head->next)) {
			s->head->next = j->next;
			if (!j->refresh)
				control_end(j->req, "the server is stopping");
			free(j);
		}
		s->tail = s->head;
	}
}

void steer_free(struct server *srv)
{
	struct steer *s = srv->steer;

	if (!s)
		return;
	store_close(s->side);
	override_set_free(s->set);
	free(s->ovr);
	free(s->db_path);
	free(s->password_file);
	pthread_mutex_destroy(&s->mu);
	free(s);
	srv->steer = NULL;
	srv->overrides = NULL;
}
