/* dbcopy.c - `threatbl db copy` (see dbcopy.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbcopy.h"
#include "provider.h"
#include "store.h"

#define EXIT_CLEAN 0
#define EXIT_ERROR 2
/* The copy reads much faster than PostgreSQL writes: it waits when this many changes
 * are queued, until the writer is down to half. Well below STORE_QUEUE_MAX, past
 * which a PostgreSQL store would drop the oldest change rather than refuse one. */
#define COPY_QUEUE_HIGH (STORE_QUEUE_MAX / 10)
#define COPY_QUEUE_LOW (COPY_QUEUE_HIGH / 2)
#define COPY_POLL_US 20000
/* The writer retries a failing database with a doubling delay (1 s, 2 s, 4 s ...):
 * give up after this many failed writes in a row (about 7 s), or when nothing was
 * written for COPY_STUCK_S (a connection that hangs). */
#define COPY_FAILS 4
#define COPY_STUCK_S 30

struct dbcopy {
	struct store *from, *to;
	size_t rows, probes, overrides;
	int err;       /* why the copy stopped */
	int reported;  /* err was said on stderr already */
};

static int count_row(void *arg, const struct ipaddr *ip, const struct verdict *v,
		     const char *source, const char *facts)
{
	(void)ip;
	(void)v;
	(void)source;
	(void)facts;
	(*(size_t *)arg)++;
	return 1; /* one is enough */
}

/* Wait until TO's writer has at most most changes queued and, when most is 0, the
 * call counts written too. 0, or -EIO after a message when it cannot write or lost
 * a change: then TO holds part of the copy. */
static int wait_written(struct dbcopy *c, size_t most)
{
	struct store_stats ss;
	uint64_t written = UINT64_MAX, failed = 0;
	unsigned idle = 0;

	for (;; usleep(COPY_POLL_US)) {
		store_get_stats(c->to, &ss);
		if (ss.dropped) {
			fprintf(stderr, "threatbl db copy: %s: %llu changes dropped from a full "
				"write queue: the copy is incomplete\n", store_name(c->to),
				(unsigned long long)ss.dropped);
			break;
		}
		if (ss.queued <= most && (most || !ss.budget_pending))
			return 0;
		if (ss.written != written) {
			written = ss.written;
			failed = ss.failed;
			idle = 0;
		} else if (ss.failed - failed >= COPY_FAILS ||
			   ++idle > COPY_STUCK_S * (1000000 / COPY_POLL_US)) {
			char why[64];

			if (ss.failed - failed >= COPY_FAILS)
				snprintf(why, sizeof(why), "%llu failed attempts: see the "
					 "warnings above", (unsigned long long)(ss.failed - failed));
			else
				snprintf(why, sizeof(why), "nothing written for %d s",
					 COPY_STUCK_S);
			fprintf(stderr, "threatbl db copy: cannot write to %s (%s): %zu "
				"changes%s not written\n", store_name(c->to), why, ss.queued,
				ss.budget_pending ? " and today's call counts" : "");
			break;
		}
	}
	fprintf(stderr, "threatbl db copy: %s holds part of the copy: empty it (or remove "
		"the file) before copying again\n", store_name(c->to));
	c->reported = 1;
	return -EIO;
}

static int copy_row(void *arg, const struct ipaddr *ip, const struct verdict *v,
		    const char *source, const char *facts)
{
	struct dbcopy *c = arg;
	struct store_stats ss;
	char *probe = NULL;
	uint32_t when;
	int rc;

	/* Backpressure: never more than COPY_QUEUE_HIGH changes waiting. */
	store_get_stats(c->to, &ss);
	if (ss.queued >= COPY_QUEUE_HIGH && (rc = wait_written(c, COPY_QUEUE_LOW)) < 0)
		goto fail;
	if ((rc = store_put_at(c->to, ip, v, source, facts, v->checked)) < 0)
		goto fail;
	c->rows++;
	rc = store_get_probe(c->from, ip, &probe, &when);
	if (rc == 0) {
		rc = store_put_probe(c->to, ip, v, probe, when);
		free(probe);
		if (rc < 0)
			goto fail;
		c->probes++;
	} else if (rc != -ENOENT) {
		goto fail;
	}
	return 0;
fail:
	c->err = rc;
	return 1;
}

/* Synchronous, before TO's writer starts (store.h: it then owns the connection). */
static int copy_override(void *arg, const struct override *ov)
{
	struct dbcopy *c = arg;
	int rc = store_override_set(c->to, ov);

	if (rc < 0) {
		c->err = rc;
		return 1;
	}
	c->overrides++;
	return 0;
}

int dbcopy_main(const char *from, const char *to, const char *password_file)
{
	struct store_options o = { .password_file = password_file, .password_what = "-p" };
	struct store_stats ss;
	int64_t today = (int64_t)time(NULL) / 86400;
	const struct provider_kind *k;
	struct dbcopy c = { 0 };
	size_t there = 0;
	unsigned counts = 0;
	char err[512];
	int rc, code = EXIT_ERROR;

	/* store_open creates a missing sqlite file: a mistyped FROM must not. */
	if ((rc = store_exists(from)) < 0) {
		fprintf(stderr, "threatbl: %s: %s\n", from, strerror(-rc));
		return EXIT_ERROR;
	}
	if (!strcmp(from, to)) {
		fprintf(stderr, "threatbl db copy: FROM and TO are the same database\n");
		return EXIT_ERROR;
	}
	if (store_open_opts(from, &o, &c.from, err, sizeof(err)) ||
	    store_open_opts(to, &o, &c.to, err, sizeof(err))) {
		fprintf(stderr, "threatbl: %s\n", err);
		goto out;
	}
	if ((rc = store_list(c.to, count_row, &there)) < 0) {
		fprintf(stderr, "threatbl: %s: %s\n", store_name(c.to), strerror(-rc));
		goto out;
	}
	if (there) {
		fprintf(stderr, "threatbl db copy: %s is not empty: copy into a new database\n",
			store_name(c.to));
		goto out;
	}
	/* The operator's overrides, kept by both backends (doc/fleet.md#moving). */
	rc = store_override_list(c.from, copy_override, &c);
	if (rc < 0 || c.err) {
		fprintf(stderr, "threatbl: copying the overrides from %s to %s: %s\n",
			store_name(c.from), store_name(c.to), strerror(c.err ? -c.err : -rc));
		goto out;
	}
	if ((rc = store_start(c.to)) < 0) {
		fprintf(stderr, "threatbl: %s: %s\n", store_name(c.to), strerror(-rc));
		goto out;
	}
	rc = store_list(c.from, copy_row, &c);
	if (rc < 0 || c.err) {
		if (!c.reported)
			fprintf(stderr, "threatbl: copying from %s to %s: %s\n",
				store_name(c.from), store_name(c.to),
				strerror(c.err ? -c.err : -rc));
		goto out;
	}
	/* Today's counts too, so that a move does not give any provider a new budget
	 * (doc/providers.md#budgets); in PostgreSQL they are added to the fleet's. */
	for (size_t i = 0; (k = provider_at(i)); i++) {
		uint32_t n = store_budget_get(c.from, k->name, today);

		if (n) {
			store_budget_add(c.to, k->name, today, n, 0);
			counts++;
		}
	}
	/* Success is said only once everything is written: the rows, the probes and the
	 * counts, nothing dropped on the way. */
	if (wait_written(&c, 0) < 0)
		goto out;
	store_get_stats(c.to, &ss);
	if (ss.written != c.rows + c.probes) {
		fprintf(stderr, "threatbl db copy: %s: %llu of %zu changes written\n",
			store_name(c.to), (unsigned long long)ss.written, c.rows + c.probes);
		goto out;
	}
	printf("%zu verdicts (%zu probed) and today's call counts of %u provider(s) copied"
	       " from %s to %s\n", c.rows, c.probes, counts, store_name(c.from),
	       store_name(c.to));
	printf("%zu override(s) copied\n", c.overrides);
	code = fflush(stdout) ? EXIT_ERROR : EXIT_CLEAN;
out:
	store_close(c.to);
	store_close(c.from);
	return code;
}
