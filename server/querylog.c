/* querylog.c - the query log: per-loop rings, one writer thread (see querylog.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <uv.h>

#include "ipaddr.h"
#include "log.h"
#include "querylog.h"
#include "verdict.h"

/* Bytes of one loop's ring (a power of two): at 150k logged queries a second of about
 * 90 bytes each it holds some 75 ms, four of the writer's ticks. */
#define QUERYLOG_RING (1u << 20)
/* How often the writer looks at the rings while a file is open. */
#define QUERYLOG_TICK_MS 20
/* Longest line: time, client, transport, name, type/class, kind, rcode, categories,
 * microseconds, with room to spare. */
#define QUERYLOG_LINE_MAX (QUERYLOG_NAME_MAX + 256)

struct querylog_loop {
	struct querylog_loop *next;      /* never changes once attached */
	unsigned sample;                 /* 0: off; atomic, written by the main loop */
	unsigned count;                  /* queries since the last one logged (loop) */
	uint64_t head;                   /* bytes put in (loop; release) */
	uint64_t tail;                   /* bytes written out (writer; release) */
	uint64_t logged, dropped;        /* lines (loop; counter_add) */
	time_t sec;                      /* the second that stamp holds (loop) */
	char stamp[24];                  /* "2026-12-03T17:45:01." */
	char *ring;                      /* QUERYLOG_RING bytes */
	char line[QUERYLOG_LINE_MAX];    /* the line being formatted (loop) */
};

struct querylog {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	pthread_t thread;
	int started, stop;
	struct querylog_loop *loops;     /* under mu */
	int fd;                          /* the writer's */
	char *path;                      /* of fd, for messages (writer's) */
	int next_set;                    /* under mu: next_fd/next_path wait to be taken */
	int next_fd;
	char *next_path;
	unsigned loops_sample;           /* under mu: what a loop attached now gets */
	/* Writer only: the episode of dropped lines or write errors being in. */
	int behind;
	uint64_t dropped_seen;           /* sum of the loops' dropped at the last look */
	uint64_t dropped_at;             /* ... when the episode began */
	int err_seen;                    /* the errno warned about in this episode */
};

/* --- opening ---------------------------------------------------------------------- */

int querylog_check(const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *copy, *dir;
	int rc = 0;

	if (path[0] != '/') {
		snprintf(err, errlen, "query-log: '%s' is not an absolute path", path);
		return -EINVAL;
	}
	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			snprintf(err, errlen, "query-log: %s is a symbolic link; refusing to "
				 "follow it (name the file itself)", path);
			return -ELOOP;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "query-log: %s is not a regular file", path);
			return -EINVAL;
		}
		return 0;
	}
	if (errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "query-log: %s: %s", path, strerror(-rc));
		return rc;
	}
	copy = strdup(path);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	dir = dirname(copy);
	if (stat(dir, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "query-log: the directory %s of %s: %s", dir, path,
			 strerror(-rc));
	} else if (!S_ISDIR(st.st_mode)) {
		rc = -ENOTDIR;
		snprintf(err, errlen, "query-log: %s (of %s) is not a directory", dir, path);
	}
	free(copy);
	return rc;
}

int querylog_open(const char *path, const char *user, char *err, size_t errlen)
{
	int fd, rc;

	rc = querylog_check(path, err, errlen);
	if (rc)
		return rc;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		  0640);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ELOOP)
			snprintf(err, errlen, "query-log: %s is a symbolic link; refusing to "
				 "follow it (name the file itself)", path);
		else
			snprintf(err, errlen, "query-log: cannot open %s: %s", path,
				 strerror(-rc));
		return rc;
	}
	if (user && geteuid() == 0) {
		struct passwd *pw = getpwnam(user);

		/* A reopen (SIGHUP) runs as that user: the file must be its. */
		if (!pw || fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
			rc = pw ? -errno : -ENOENT;
			snprintf(err, errlen, "query-log: cannot give %s to user %s: %s", path,
				 user, pw ? strerror(-rc) : "no such user");
			close(fd);
			return rc;
		}
	}
	return fd;
}

/* --- the loops' side -------------------------------------------------------------- */

int querylog_on(const struct querylog_loop *l)
{
	return l && __atomic_load_n(&l->sample, __ATOMIC_RELAXED) != 0;
}

int querylog_pick(struct querylog_loop *l)
{
	unsigned n = __atomic_load_n(&l->sample, __ATOMIC_RELAXED);

	if (!n)
		return 0;
	if (l->count == 0 || l->count >= n) {
		l->count = 1;
		return 1;
	}
	l->count++;
	return 0;
}

void querylog_loop_counts(const struct querylog_loop *l, uint64_t *logged,
			  uint64_t *dropped)
{
	*logged = l ? counter_get(&l->logged) : 0;
	*dropped = l ? counter_get(&l->dropped) : 0;
}

size_t querylog_name(const uint8_t *q, size_t qlen, char *buf, size_t *qend)
{
	size_t off = 12, n = 0;

	*qend = 0;
	if (qlen <= off) {
		buf[0] = '?';
		buf[1] = 0;
		return 1;
	}
	while (off < qlen && q[off] != 0) {
		size_t l = q[off];

		/* Only plain labels: a question name is never compressed. */
		if ((l & 0xc0) || qlen - off - 1 < l || off - 12 + l + 2 > 255) {
			buf[0] = '?';
			buf[1] = 0;
			return 1;
		}
		for (size_t i = 1; i <= l; i++) {
			uint8_t c = q[off + i];

			if (c < '!' || c > '~' || c == '\\' || c == '.') {
				buf[n++] = '\\';
				buf[n++] = (char)('0' + c / 100);
				buf[n++] = (char)('0' + c / 10 % 10);
				buf[n++] = (char)('0' + c % 10);
			} else {
				buf[n++] = (char)c;
			}
		}
		buf[n++] = '.';
		off += 1 + l;
	}
	if (off >= qlen) {
		buf[0] = '?';
		buf[1] = 0;
		return 1;
	}
	if (!n)
		buf[n++] = '.';
	buf[n] = 0;
	*qend = off + 1;
	return n;
}

static size_t put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return n;
}

static size_t put_u64(char *p, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

static size_t put_type(char *p, uint16_t type)
{
	const ldns_rr_descriptor *d = ldns_rr_descript(type);

	/* The descriptor table is static: no allocation, unlike ldns_rr_type2str. */
	if (d && d->_name && d->_type == type)
		return put_str(p, d->_name);
	return put_str(p, "TYPE") + put_u64(p + 4, type);
}

static size_t put_class(char *p, uint16_t cls)
{
	switch (cls) {
	case 3:
		return put_str(p, "CH");
	case 4:
		return put_str(p, "HS");
	case 254:
		return put_str(p, "NONE");
	case 255:
		return put_str(p, "ANY");
	default:
		return put_str(p, "CLASS") + put_u64(p + 5, cls);
	}
}

static size_t put_client(char *p, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;
	size_t n;

	if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		uv_ip6_name(s6, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	} else if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		uv_ip4_name(s4, host, sizeof(host));
		port = ntohs(s4->sin_port);
	}
	n = put_str(p, host);
	p[n++] = '#';
	return n + put_u64(p + n, port);
}

/* "2026-12-03T17:45:01.123Z": gmtime once per second per loop. */
static size_t put_time(struct querylog_loop *l, char *p)
{
	struct timespec ts;
	struct tm tm;
	unsigned ms;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != l->sec || !l->stamp[0]) {
		gmtime_r(&ts.tv_sec, &tm);
		strftime(l->stamp, sizeof(l->stamp), "%Y-%m-%dT%H:%M:%S.", &tm);
		l->sec = ts.tv_sec;
	}
	n = put_str(p, l->stamp);
	ms = (unsigned)(ts.tv_nsec / 1000000);
	p[n++] = (char)('0' + ms / 100);
	p[n++] = (char)('0' + ms / 10 % 10);
	p[n++] = (char)('0' + ms % 10);
	p[n++] = 'Z';
	return n;
}

void querylog_line(struct querylog_loop *l, const struct querylog_entry *e)
{
	const struct dns_result *r = e->res;
	char *p = l->line;
	size_t n, qend, room;
	uint64_t head, tail;
	const char *rc;

	n = put_time(l, p);
	p[n++] = ' ';
	n += put_client(p + n, e->client);
	p[n++] = ' ';
	n += put_str(p + n, e->transport == CTR_TCP ? "tcp" : "udp");
	p[n++] = ' ';
	n += querylog_name(e->q, e->qlen, p + n, &qend);
	p[n++] = ' ';
	if (qend && e->qlen - qend >= 4) {
		uint16_t type = (uint16_t)(e->q[qend] << 8 | e->q[qend + 1]);
		uint16_t cls = (uint16_t)(e->q[qend + 2] << 8 | e->q[qend + 3]);

		n += put_type(p + n, type);
		if (cls != 1) {
			p[n++] = '/';
			n += put_class(p + n, cls);
		}
	} else {
		p[n++] = '-';
	}
	p[n++] = ' ';
	n += put_str(p + n, counters_answer_name(r->kind));
	p[n++] = ' ';
	rc = counters_rcode_name(r->rcode);
	n += rc ? put_str(p + n, rc) : put_str(p + n, "RCODE") + put_u64(p + n + 5, r->rcode);
	p[n++] = ' ';
	if (r->cats) {
		for (unsigned m = r->cats; m; m &= m - 1) {
			n += put_str(p + n, verdict_cat_name((enum verdict_cat)__builtin_ctz(m)));
			p[n++] = ',';
		}
		n--;
	} else {
		p[n++] = '-';
	}
	p[n++] = ' ';
	n += put_u64(p + n, e->received_ns && e->sent_ns > e->received_ns ?
			    (e->sent_ns - e->received_ns) / 1000 : 0);
	p[n++] = '\n';

	/* Into the ring, whole or not at all. */
	head = l->head;
	tail = __atomic_load_n(&l->tail, __ATOMIC_ACQUIRE);
	room = QUERYLOG_RING - (size_t)(head - tail);
	if (n > room) {
		counter_add(&l->dropped, 1);
		return;
	}
	{
		size_t off = (size_t)(head & (QUERYLOG_RING - 1));
		size_t first = QUERYLOG_RING - off < n ? QUERYLOG_RING - off : n;

		memcpy(l->ring + off, l->line, first);
		memcpy(l->ring, l->line + first, n - first);
	}
	__atomic_store_n(&l->head, head + n, __ATOMIC_RELEASE);
	counter_add(&l->logged, 1);
}

/* --- the writer ------------------------------------------------------------------- */

/* Write what l's ring holds to fd (or discard it with fd < 0). 0, or the errno of a
 * failed write: what was not written stays for the next round. */
static int flush_loop(struct querylog_loop *l, int fd)
{
	uint64_t head = __atomic_load_n(&l->head, __ATOMIC_ACQUIRE);
	uint64_t tail = l->tail;
	int err = 0;

	while (tail != head) {
		size_t off = (size_t)(tail & (QUERYLOG_RING - 1));
		size_t n = (size_t)(head - tail);
		ssize_t w;

		if (n > QUERYLOG_RING - off)
			n = QUERYLOG_RING - off;
		if (fd < 0) {
			tail += n;
			continue;
		}
		w = write(fd, l->ring + off, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? errno : EIO;
			break;
		}
		tail += (uint64_t)w;
	}
	__atomic_store_n(&l->tail, tail, __ATOMIC_RELEASE);
	return err;
}

/* One round over the rings, and the warnings of an episode: once when lines start to
 * be dropped or writes to fail, once when writing is back to normal. */
static void flush_all(struct querylog *ql, struct querylog_loop *loops)
{
	uint64_t dropped = 0;
	int err = 0;

	for (struct querylog_loop *l = loops; l; l = l->next) {
		int e = flush_loop(l, ql->fd);

		if (e && !err)
			err = e;
		dropped += counter_get(&l->dropped);
	}
	if (err || dropped != ql->dropped_seen) {
		if (!ql->behind) {
			ql->behind = 1;
			ql->dropped_at = ql->dropped_seen;
			ql->err_seen = err;
			if (err)
				log_warn("query log %s: %s: dropping lines until it can be "
					 "written again", ql->path ? ql->path : "", strerror(err));
			else
				log_warn("query log %s: the writer fell behind: dropping lines",
					 ql->path ? ql->path : "");
		} else if (err && err != ql->err_seen) {
			ql->err_seen = err;
			log_warn("query log %s: %s: dropping lines until it can be written "
				 "again", ql->path ? ql->path : "", strerror(err));
		}
	} else if (ql->behind) {
		ql->behind = 0;
		log_warn("query log %s: writing again; %llu line(s) dropped",
			 ql->path ? ql->path : "",
			 (unsigned long long)(dropped - ql->dropped_at));
	}
	ql->dropped_seen = dropped;
}

/* Switch to the file querylog_set gave; under mu. */
static void take_next(struct querylog *ql)
{
	if (ql->fd >= 0)
		close(ql->fd);
	free(ql->path);
	ql->fd = ql->next_fd;
	ql->path = ql->next_path;
	ql->next_set = 0;
	ql->next_path = NULL;
	ql->behind = 0;
}

static void *writer_main(void *arg)
{
	struct querylog *ql = arg;
	struct querylog_loop *loops;
	int stop;

	pthread_mutex_lock(&ql->mu);
	for (;;) {
		if (!ql->stop && !ql->next_set) {
			if (ql->fd >= 0) {
				struct timespec ts;

				clock_gettime(CLOCK_MONOTONIC, &ts);
				ts.tv_nsec += QUERYLOG_TICK_MS * 1000000L;
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				pthread_cond_timedwait(&ql->cond, &ql->mu, &ts);
			} else {
				/* Nothing to write to: the loops log nothing either. */
				pthread_cond_wait(&ql->cond, &ql->mu);
			}
		}
		if (ql->next_set && ql->fd < 0)
			take_next(ql);   /* off until now: the rings hold the new file's lines */
		stop = ql->stop;
		loops = ql->loops;
		pthread_mutex_unlock(&ql->mu);
		flush_all(ql, loops);
		pthread_mutex_lock(&ql->mu);
		if (ql->next_set)
			take_next(ql);   /* what the rings held went to the previous file */
		if (stop)
			break;
	}
	pthread_mutex_unlock(&ql->mu);
	return NULL;
}

struct querylog *querylog_new(void)
{
	struct querylog *ql = calloc(1, sizeof(*ql));
	pthread_condattr_t ca;

	if (!ql)
		return NULL;
	ql->fd = -1;
	pthread_mutex_init(&ql->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ql->cond, &ca);
	pthread_condattr_destroy(&ca);
	return ql;
}

int querylog_start(struct querylog *ql)
{
	int rc = pthread_create(&ql->thread, NULL, writer_main, ql);

	if (rc)
		return -rc;
	pthread_setname_np(ql->thread, "tbl-querylog");
	ql->started = 1;
	return 0;
}

int querylog_set(struct querylog *ql, int fd, const char *path, unsigned sample)
{
	char *copy = path ? strdup(path) : NULL;

	if (path && !copy) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	pthread_mutex_lock(&ql->mu);
	if (!ql->started) {
		/* Before the writer runs: take it now. */
		if (ql->fd >= 0)
			close(ql->fd);
		free(ql->path);
		ql->fd = fd;
		ql->path = copy;
	} else {
		if (ql->next_set && ql->next_fd >= 0)
			close(ql->next_fd);
		free(ql->next_path);
		ql->next_fd = fd;
		ql->next_path = copy;
		ql->next_set = 1;
	}
	for (struct querylog_loop *l = ql->loops; l; l = l->next)
		__atomic_store_n(&l->sample, fd >= 0 ? sample : 0, __ATOMIC_RELAXED);
	ql->loops_sample = fd >= 0 ? sample : 0;
	pthread_cond_signal(&ql->cond);
	pthread_mutex_unlock(&ql->mu);
	return 0;
}

struct querylog_loop *querylog_attach(struct querylog *ql)
{
	struct querylog_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	/* Pages are touched only as lines are written: a log never enabled costs none. */
	l->ring = malloc(QUERYLOG_RING);
	if (!l->ring) {
		free(l);
		return NULL;
	}
	pthread_mutex_lock(&ql->mu);
	l->sample = ql->loops_sample;
	l->next = ql->loops;
	ql->loops = l;
	pthread_mutex_unlock(&ql->mu);
	return l;
}

void querylog_free(struct querylog *ql)
{
	struct querylog_loop *l, *next;

	if (!ql)
		return;
	if (ql->started) {
		pthread_mutex_lock(&ql->mu);
		ql->stop = 1;
		pthread_cond_signal(&ql->cond);
		pthread_mutex_unlock(&ql->mu);
		pthread_join(ql->thread, NULL);
	} else {
		flush_all(ql, ql->loops);
	}
	if (ql->next_set && ql->next_fd >= 0)
		close(ql->next_fd);
	if (ql->fd >= 0)
		close(ql->fd);
	free(ql->path);
	free(ql->next_path);
	for (l = ql->loops; l; l = next) {
		next = l->next;
		free(l->ring);
		free(l);
	}
	pthread_cond_destroy(&ql->cond);
	pthread_mutex_destroy(&ql->mu);
	free(ql);
}
