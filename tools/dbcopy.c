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
#define COPY_STUCK_S 30

struct dbcopy {
	struct store *from, *to;
	size_t rows, probes;
	int err;
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

/* The writer drains the queue while this fills it: wait when it is full. */
static int put_retry(struct dbcopy *c, const struct ipaddr *ip, const struct verdict *v,
		     const char *source, const char *facts, const char *probe, uint32_t when)
{
	int rc;

	for (;;) {
		rc = probe ? store_put_probe(c->to, ip, v, probe, when)
			   : store_put_at(c->to, ip, v, source, facts, v->checked);
		if (rc != -ENOBUFS)
			return rc;
		usleep(10000);
	}
}

static int copy_row(void *arg, const struct ipaddr *ip, const struct verdict *v,
		    const char *source, const char *facts)
{
	struct dbcopy *c = arg;
	char *probe = NULL;
	uint32_t when;
	int rc;

	if ((rc = put_retry(c, ip, v, source, facts, NULL, 0)) < 0)
		goto fail;
	c->rows++;
	rc = store_get_probe(c->from, ip, &probe, &when);
	if (rc == 0) {
		rc = put_retry(c, ip, v, NULL, NULL, probe, when);
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

int dbcopy_main(const char *from, const char *to, const char *password_file)
{
	struct store_options o = { .password_file = password_file };
	struct store_stats ss;
	int64_t today = (int64_t)time(NULL) / 86400;
	const struct provider_kind *k;
	struct dbcopy c = { 0 };
	size_t there = 0;
	unsigned counts = 0;
	char err[512];
	int rc, code = EXIT_ERROR;

	/* store_open creates a missing sqlite file: a mistyped FROM must not. */
	if (!strstr(from, "://") && access(from, F_OK)) {
		fprintf(stderr, "threatbl: %s: %s\n", from, strerror(errno));
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
	if ((rc = store_start(c.to)) < 0) {
		fprintf(stderr, "threatbl: %s: %s\n", store_name(c.to), strerror(-rc));
		goto out;
	}
	rc = store_list(c.from, copy_row, &c);
	if (rc < 0 || c.err) {
		fprintf(stderr, "threatbl: copying from %s: %s\n", store_name(c.from),
			strerror(c.err ? -c.err : -rc));
		goto out;
	}
	/* Everything written before saying so: the writer retries a failing database,
	 * and gives up only when nothing moves for COPY_STUCK_S. */
	for (uint64_t last = 0, still = 0;; usleep(50000)) {
		store_get_stats(c.to, &ss);
		if (!ss.queued)
			break;
		still = ss.written == last ? still + 1 : 0;
		last = ss.written;
		if (still > COPY_STUCK_S * 20) {
			fprintf(stderr, "threatbl: %s: %zu verdicts could not be written\n",
				store_name(c.to), ss.queued);
			goto out;
		}
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
	printf("%zu verdicts (%zu probed) and today's call counts of %u provider(s) copied"
	       " from %s to %s\n", c.rows, c.probes, counts, store_name(c.from),
	       store_name(c.to));
	code = fflush(stdout) ? EXIT_ERROR : EXIT_CLEAN;
out:
	store_close(c.to);
	store_close(c.from);
	return code;
}
