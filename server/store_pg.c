/* store_pg.c - the verdicts in PostgreSQL, shared by a fleet (see store_pg.h). */
#include "store_pg.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apikey.h"
#include "log.h"
#include "override.h"
#include "store_pg_int.h"

#define PG_CONNECT_TIMEOUT "3"      /* seconds libpq waits for a connection */
#define PG_LOCK_MIGRATE 0x74626c30  /* advisory locks: "tbl0", "tbl1" */
#define PG_LOCK_CHANGE 0x74626c31
#define PG_BUDGET_KEEP_DAYS 31
#define PG_PASSWORD_MAX 1024
#define PG_CREDENTIAL "threatbl-db-password"

/* Schema version N+1 is made by pg_migrations[N], in one transaction under an
 * advisory lock so that nodes starting together migrate once. Version 1 holds what
 * sqlite's version 3 holds (verdicts with probe columns, budget) plus what a fleet
 * needs: change numbers, the writing node, claims. To add a table: append a
 * migration here and one to store.c's store_migrations (doc/fleet.md#schema). */
static const char *const pg_migrations[] = {
	"CREATE SEQUENCE threatbl_change;"
	" CREATE TABLE verdicts ("
	"  ip bytea NOT NULL PRIMARY KEY CHECK (length(ip) = 16),"
	"  ip_text text NOT NULL,"
	"  family smallint NOT NULL CHECK (family IN (4, 6)),"
	"  mask integer NOT NULL,"
	"  flags integer NOT NULL,"
	"  checked bigint NOT NULL,"
	"  source text NOT NULL,"
	"  facts text,"
	"  created bigint NOT NULL,"
	"  updated bigint NOT NULL,"
	"  probe text,"
	"  probed bigint,"
	"  change bigint NOT NULL,"
	"  node text NOT NULL DEFAULT '');"
	" CREATE INDEX verdicts_change ON verdicts (change);"
	" CREATE TABLE budget (day bigint NOT NULL PRIMARY KEY, calls bigint NOT NULL);"
	" CREATE TABLE claims (ip bytea NOT NULL PRIMARY KEY, node text NOT NULL,"
	"  until timestamptz NOT NULL);"
	/* the nodes alive, for a node's share of the budget while PostgreSQL is away */
	" CREATE TABLE nodes (node text NOT NULL PRIMARY KEY, seen timestamptz NOT NULL);"
	/* One round trip per claim: a fresh verdict stored already (looked at again
	 * after the claim, since its writer may have committed while we waited on the
	 * claim's row), else the claim, else the fleet's budget counted. */
	" CREATE FUNCTION threatbl_claim(p_ip bytea, p_node text, p_lease_ms integer,"
	"  p_fresh bigint, p_day bigint, p_budget bigint, OUT outcome text,"
	"  OUT calls bigint, OUT vmask integer, OUT vflags integer, OUT vchecked bigint)"
	" LANGUAGE plpgsql AS $f$"
	" DECLARE got text;"
	" BEGIN"
	"  calls := 0;"
	"  SELECT mask, flags, checked INTO vmask, vflags, vchecked FROM verdicts"
	"   WHERE ip = p_ip AND checked >= p_fresh;"
	"  IF FOUND THEN outcome := 'done'; RETURN; END IF;"
	"  INSERT INTO claims AS c (ip, node, until) VALUES (p_ip, p_node,"
	"   clock_timestamp() + p_lease_ms * interval '1 millisecond')"
	"   ON CONFLICT (ip) DO UPDATE SET node = excluded.node, until = excluded.until"
	"   WHERE c.until < clock_timestamp() OR c.node = excluded.node"
	"   RETURNING c.node INTO got;"
	"  IF got IS NULL THEN outcome := 'theirs'; RETURN; END IF;"
	"  SELECT mask, flags, checked INTO vmask, vflags, vchecked FROM verdicts"
	"   WHERE ip = p_ip AND checked >= p_fresh;"
	"  IF FOUND THEN"
	"   DELETE FROM claims WHERE ip = p_ip AND node = p_node;"
	"   outcome := 'done'; RETURN;"
	"  END IF;"
	"  INSERT INTO budget AS b (day, calls) VALUES (p_day, 1)"
	"   ON CONFLICT (day) DO UPDATE SET calls = b.calls + 1"
	"   WHERE p_budget = 0 OR b.calls < p_budget"
	"   RETURNING b.calls INTO calls;"
	"  IF calls IS NULL THEN"
	"   DELETE FROM claims WHERE ip = p_ip AND node = p_node;"
	"   outcome := 'budget'; calls := p_budget; RETURN;"
	"  END IF;"
	"  outcome := 'mine';"
	" END $f$;",
	/* 2: the daily counts per provider (the day-keyed rows were Criminal IP's, the
	 * only provider then); a claim counts in its provider's row and, finding the
	 * verdict stored, hands over who gave it. */
	"CREATE TABLE budgets (provider text NOT NULL, day bigint NOT NULL,"
	"  calls bigint NOT NULL, PRIMARY KEY (provider, day));"
	" INSERT INTO budgets (provider, day, calls) SELECT 'criminalip', day, calls FROM budget;"
	" DROP TABLE budget;"
	" DROP FUNCTION threatbl_claim(bytea, text, integer, bigint, bigint, bigint);"
	" CREATE FUNCTION threatbl_claim(p_ip bytea, p_node text, p_lease_ms integer,"
	"  p_fresh bigint, p_provider text, p_day bigint, p_budget bigint, OUT outcome text,"
	"  OUT calls bigint, OUT vmask integer, OUT vflags integer, OUT vchecked bigint,"
	"  OUT vsource text)"
	" LANGUAGE plpgsql AS $f$"
	" DECLARE got text;"
	" BEGIN"
	"  calls := 0;"
	"  SELECT mask, flags, checked, source INTO vmask, vflags, vchecked, vsource"
	"   FROM verdicts WHERE ip = p_ip AND checked >= p_fresh;"
	"  IF FOUND THEN outcome := 'done'; RETURN; END IF;"
	"  INSERT INTO claims AS c (ip, node, until) VALUES (p_ip, p_node,"
	"   clock_timestamp() + p_lease_ms * interval '1 millisecond')"
	"   ON CONFLICT (ip) DO UPDATE SET node = excluded.node, until = excluded.until"
	"   WHERE c.until < clock_timestamp() OR c.node = excluded.node"
	"   RETURNING c.node INTO got;"
	"  IF got IS NULL THEN outcome := 'theirs'; RETURN; END IF;"
	"  SELECT mask, flags, checked, source INTO vmask, vflags, vchecked, vsource"
	"   FROM verdicts WHERE ip = p_ip AND checked >= p_fresh;"
	"  IF FOUND THEN"
	"   DELETE FROM claims WHERE ip = p_ip AND node = p_node;"
	"   outcome := 'done'; RETURN;"
	"  END IF;"
	"  INSERT INTO budgets AS b (provider, day, calls) VALUES (p_provider, p_day, 1)"
	"   ON CONFLICT (provider, day) DO UPDATE SET calls = b.calls + 1"
	"   WHERE p_budget = 0 OR b.calls < p_budget"
	"   RETURNING b.calls INTO calls;"
	"  IF calls IS NULL THEN"
	"   DELETE FROM claims WHERE ip = p_ip AND node = p_node;"
	"   outcome := 'budget'; calls := p_budget; RETURN;"
	"  END IF;"
	"  outcome := 'mine';"
	" END $f$;",
	/* 3: the operator's overrides, as sqlite keeps them (store.c's v4), shared by the
	 * fleet: a change is announced with NOTIFY threatbl_overrides. */
	"CREATE TABLE overrides (prefix text NOT NULL PRIMARY KEY,"
	"  net bytea NOT NULL CHECK (length(net) = 16),"
	"  len integer NOT NULL CHECK (len BETWEEN 0 AND 128),"
	"  kind text NOT NULL CHECK (kind IN ('allow', 'add')), category text,"
	"  reason text NOT NULL DEFAULT '', created bigint NOT NULL,"
	"  who text NOT NULL DEFAULT '');",
	/* 4: purges, so that the other nodes drop a purged verdict from memory too: a
	 * row per verdict deleted, numbered in the verdicts' sequence so that the
	 * listeners read deletions and verdicts in one order. Kept PG_PURGES_KEEP. */
	"CREATE TABLE purges (change bigint NOT NULL PRIMARY KEY,"
	"  ip bytea NOT NULL CHECK (length(ip) = 16), node text NOT NULL,"
	"  at timestamptz NOT NULL DEFAULT now());"
	" CREATE INDEX purges_at ON purges (at);",
};

#define PG_SCHEMA ((int)(sizeof(pg_migrations) / sizeof(pg_migrations[0])))

int store_pg_is_uri(const char *database)
{
	return database && (!strncmp(database, "postgresql://", 13) ||
			    !strncmp(database, "postgres://", 11));
}

int store_pg_schema_version(void)
{
	return PG_SCHEMA;
}

void store_pg_redact(const char *uri, char *out, size_t outlen)
{
	const char *auth = strstr(uri, "://"), *at, *colon, *p, *end;
	size_t o = 0;

#define PUT(s, n) do { size_t n_ = (n); if (o + n_ >= outlen) n_ = outlen - o - 1; \
		memcpy(out + o, (s), n_); o += n_; } while (0)
	if (!outlen)
		return;
	if (!auth) {
		snprintf(out, outlen, "%s", uri);
		return;
	}
	auth += 3;
	end = auth + strcspn(auth, "/?");
	at = memrchr(auth, '@', (size_t)(end - auth));
	colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	p = uri;
	if (colon) {
		PUT(p, (size_t)(colon + 1 - p));
		PUT("***", 3);
		p = at;
	}
	/* password=... among the parameters, however often */
	for (const char *q = strstr(p, "password="); q; q = strstr(p, "password=")) {
		if (q > uri && q[-1] != '?' && q[-1] != '&') {
			PUT(p, (size_t)(q + 9 - p));
			p = q + 9;
			continue;
		}
		PUT(p, (size_t)(q + 9 - p));
		PUT("***", 3);
		p = q + 9 + strcspn(q + 9, "&");
	}
	PUT(p, strlen(p));
	out[o] = '\0';
#undef PUT
}

/* The password from a file (its first line), never logged. 0, or a negative errno
 * with a line in err. */
static int pg_read_password(const char *path, const char *what, char **out, char *err,
			    size_t errlen)
{
	char buf[PG_PASSWORD_MAX + 1];
	mode_t mode = 0;
	ssize_t n;

	/* apikey.c's reader: a FIFO would block the start, a device never end */
	n = apikey_file_read(path, buf, PG_PASSWORD_MAX, &mode);
	if (n == -EINVAL) {
		snprintf(err, errlen, "%s %s is not a regular file", what, path);
		return -EINVAL;
	}
	if (n == -EFBIG) {
		snprintf(err, errlen, "%s %s: longer than %d bytes", what, path, PG_PASSWORD_MAX);
		return -EINVAL;
	}
	if (n < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror((int)-n));
		return (int)n;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0]) {
		snprintf(err, errlen, "%s %s is empty", what, path);
		return -EINVAL;
	}
	if (mode & 077)
		log_warn("%s %s is readable or writable by others than its owner (mode %04o): "
			 "make it 0600 or 0400", what, path, (unsigned)(mode & 07777));
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (!*out) {
		snprintf(err, errlen, "%s: out of memory", what);
		return -ENOMEM;
	}
	return 0;
}

int store_pg_check_password(const char *password_file, char *err, size_t errlen)
{
	char *pw = NULL;
	int rc = pg_read_password(password_file, "database-password-file", &pw, err, errlen);

	if (pw) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	return rc;
}

/* Notices (NOTICE: relation exists..., FATAL: terminating connection) are libpq's
 * to print on stderr by default: the errors that matter come back with the results. */
static void pg_notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("database: %.*s", (int)strcspn(msg, "\n"), msg);
}

PGconn *store_pg_connect(struct store_pg *pg, char *err, size_t errlen)
{
	const char *keys[] = { "dbname", "connect_timeout", "application_name",
			       pg->password ? "password" : NULL, NULL };
	const char *vals[] = { pg->uri, PG_CONNECT_TIMEOUT, "threatbld", pg->password, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);

	if (!c) {
		snprintf(err, errlen, "database %s: out of memory", pg->name);
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char *nl;

		snprintf(err, errlen, "database %s: cannot connect: %s", pg->name,
			 PQerrorMessage(c));
		while ((nl = strchr(err, '\n')))
			*nl = nl[1] ? ' ' : '\0';
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, pg_notice, NULL);
	return c;
}

/* PostgreSQL's message on one line. */
void store_pg_msg(PGconn *c, char *err, size_t errlen)
{
	char *nl;

	snprintf(err, errlen, "%s", PQerrorMessage(c));
	while ((nl = strchr(err, '\n')))
		*nl = nl[1] ? ' ' : '\0';
}

/* A command with no result rows; 0 or -EIO with the message in err. */
int store_pg_exec(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		store_pg_msg(c, err, errlen);
	PQclear(r);
	return ok ? 0 : -EIO;
}

static int pg_migrate(struct store_pg *pg, char *err, size_t errlen)
{
	PGconn *c = pg->wconn;
	char msg[512], sql[96];
	PGresult *r = NULL;
	int version = 0, rc;

	if ((rc = store_pg_exec(c, "BEGIN", msg, sizeof(msg))) ||
	    (rc = store_pg_exec(c, "SELECT pg_advisory_xact_lock(1952607280)", msg, sizeof(msg))))
		goto fail;
	r = PQexec(c, "SELECT to_regclass('threatbl_schema') IS NOT NULL,"
		   " to_regclass('verdicts') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		store_pg_msg(c, msg, sizeof(msg));
		rc = -EIO;
		goto fail;
	}
	if (PQgetvalue(r, 0, 0)[0] == 't') {
		PQclear(r);
		r = PQexec(c, "SELECT max(version) FROM threatbl_schema");
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			store_pg_msg(c, msg, sizeof(msg));
			rc = -EIO;
			goto fail;
		}
		version = atoi(PQgetvalue(r, 0, 0));
	} else if (PQgetvalue(r, 0, 1)[0] == 't') {
		snprintf(err, errlen, "database %s has a table verdicts but no threatbl_schema: "
			 "not a threatbl database", pg->name);
		rc = -EINVAL;
		goto out;
	} else if ((rc = store_pg_exec(c, "CREATE TABLE threatbl_schema (version integer NOT NULL)",
				 msg, sizeof(msg)))) {
		goto fail;
	}
	PQclear(r);
	r = NULL;
	if (version > PG_SCHEMA) {
		snprintf(err, errlen, "database %s has schema version %d; this threatbld knows "
			 "up to %d", pg->name, version, PG_SCHEMA);
		rc = -EPROTO;
		goto out;
	}
	for (; version < PG_SCHEMA; version++) {
		snprintf(sql, sizeof(sql), "DELETE FROM threatbl_schema;"
			 " INSERT INTO threatbl_schema VALUES (%d)", version + 1);
		if ((rc = store_pg_exec(c, pg_migrations[version], msg, sizeof(msg))) ||
		    (rc = store_pg_exec(c, sql, msg, sizeof(msg))))
			goto fail;
		log_info("database %s: schema version %d", pg->name, version + 1);
	}
	if ((rc = store_pg_exec(c, "COMMIT", msg, sizeof(msg))))
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "database %s: cannot update the schema to version %d: %s",
		 pg->name, version + 1, msg);
out:
	PQclear(r);
	store_pg_exec(c, "ROLLBACK", msg, sizeof(msg));
	return rc;
}

static void pg_free(struct store_pg *pg)
{
	struct pg_claim *cl, *next;

	if (!pg)
		return;
	if (pg->wconn)
		PQfinish(pg->wconn);
	for (cl = pg->chead; cl; cl = next) {
		next = cl->next;
		free(cl);
	}
	if (pg->password) {
		explicit_bzero(pg->password, strlen(pg->password));
		free(pg->password);
	}
	free(pg->uri);
	pthread_cond_destroy(&pg->wake);
	pthread_mutex_destroy(&pg->mu);
	free(pg);
}

int store_pg_open(const char *uri, const char *password_file, const char *password_what,
		  struct store_pg **out, struct store_budget *today, size_t max, size_t *n,
		  char *err, size_t errlen)
{
	struct store_pg *pg;
	const char *cred_dir = getenv("CREDENTIALS_DIRECTORY");
	char cred[4096], msg[512], sql[128];
	PGresult *r;
	int64_t day;
	int rc;

	*out = NULL;
	*n = 0;
	pg = calloc(1, sizeof(*pg));
	if (!pg || !(pg->uri = strdup(uri))) {
		free(pg);
		snprintf(err, errlen, "database: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&pg->mu, NULL);
	pthread_cond_init(&pg->wake, NULL);
	store_pg_redact(uri, pg->name, sizeof(pg->name));
	{
		/* Unique per process and start: claims and rows say which node made them. */
		struct timespec ts;
		char host[64] = "";

		clock_gettime(CLOCK_REALTIME, &ts);
		gethostname(host, sizeof(host) - 1);
		host[16] = '\0';
		snprintf(pg->node, sizeof(pg->node), "%s/%ld/%lx", host, (long)getpid(),
			 (unsigned long)(ts.tv_nsec ^ ts.tv_sec));
	}
	rc = 0;
	if (password_file)
		rc = pg_read_password(password_file, password_what, &pg->password, err,
				      errlen);
	else if (cred_dir && *cred_dir &&
		 snprintf(cred, sizeof(cred), "%s/%s", cred_dir, PG_CREDENTIAL) <
		 (int)sizeof(cred) && access(cred, F_OK) == 0)
		rc = pg_read_password(cred, "credential", &pg->password, err, errlen);
	if (rc < 0)
		goto fail;
	if (!(pg->wconn = store_pg_connect(pg, err, errlen))) {
		rc = -ECONNREFUSED;
		goto fail;
	}
	if ((rc = pg_migrate(pg, err, errlen)) < 0)
		goto fail;
	day = time(NULL) / 86400;
	snprintf(sql, sizeof(sql), "SELECT provider, calls FROM budgets WHERE day = %lld",
		 (long long)day);
	r = PQexec(pg->wconn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		store_pg_msg(pg->wconn, msg, sizeof(msg));
		snprintf(err, errlen, "database %s: %s", pg->name, msg);
		PQclear(r);
		rc = -EIO;
		goto fail;
	}
	*n = 0;
	for (int i = 0; i < PQntuples(r) && *n < max; i++) {
		long long calls = atoll(PQgetvalue(r, i, 1));
		struct store_budget *b = &today[*n];
		struct pg_share *s;

		memset(b, 0, sizeof(*b));
		if (PQgetlength(r, i, 0) >= (int)sizeof(b->provider))
			continue;
		strcpy(b->provider, PQgetvalue(r, i, 0));
		b->day = day;
		b->calls = calls < 0 ? 0 : calls > UINT32_MAX ? UINT32_MAX : (uint32_t)calls;
		if ((s = store_pg_share(pg, b->provider))) {
			s->day = day;
			s->fleet_calls = b->calls;
		}
		(*n)++;
	}
	PQclear(r);
	pg->nodes = 1;
	log_info("database %s: PostgreSQL %d, node %s", pg->name,
		 PQserverVersion(pg->wconn), pg->node);
	*out = pg;
	return 0;
fail:
	pg_free(pg);
	return rc;
}

/* Columns ip, mask, flags, checked, change (binary) of row i. 0 when malformed. */
int store_pg_row(const PGresult *r, int i, struct ipaddr *ip, struct verdict *v,
		  int64_t *change)
{
	if (PQgetlength(r, i, 0) != (int)sizeof(ip->b) || PQgetlength(r, i, 1) != 4 ||
	    PQgetlength(r, i, 2) != 4 || PQgetlength(r, i, 3) != 8 || PQgetlength(r, i, 4) != 8)
		return 0;
	memcpy(ip->b, PQgetvalue(r, i, 0), sizeof(ip->b));
	memset(v, 0, sizeof(*v));
	v->mask = (uint8_t)store_pg_u32(PQgetvalue(r, i, 1));
	v->flags = (uint8_t)store_pg_u32(PQgetvalue(r, i, 2));
	v->checked = (uint32_t)store_pg_i64(PQgetvalue(r, i, 3));
	*change = store_pg_i64(PQgetvalue(r, i, 4));
	return 1;
}

void store_pg_text(const PGresult *r, int row, int col, char *out, size_t size)
{
	size_t n = PQgetisnull(r, row, col) ? 0 : (size_t)PQgetlength(r, row, col);

	if (!size)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(out, PQgetvalue(r, row, col), n);
	out[n] = '\0';
}

/* One row of COPY ... BINARY (ip, mask, flags, checked, source) from p (n bytes),
 * the source into src (cut to srclen); the bytes used, 0 at the trailer, -1 when
 * malformed. */
static long pg_copy_row(const char *p, size_t n, struct ipaddr *ip, struct verdict *v,
			char *src, size_t srclen)
{
	static const int len[5] = { 16, 4, 4, 8, -1 }; /* -1: text, any length */
	const char *f[5];
	int32_t flen[5];
	size_t off = 2, k;
	uint16_t nf;

	if (n < 2)
		return -1;
	memcpy(&nf, p, 2);
	nf = be16toh(nf);
	if (nf == 0xffff)
		return 0;
	if (nf != 5)
		return -1;
	for (int i = 0; i < 5; i++) {
		if (off + 4 > n)
			return -1;
		flen[i] = (int32_t)store_pg_u32(p + off);
		if (len[i] >= 0 ? flen[i] != len[i] : flen[i] < -1)
			return -1;
		f[i] = p + off + 4;
		off += 4;
		if (flen[i] > 0) {
			if ((size_t)flen[i] > n - off)
				return -1;
			off += (size_t)flen[i];
		}
	}
	memcpy(ip->b, f[0], 16);
	memset(v, 0, sizeof(*v));
	v->mask = (uint8_t)store_pg_u32(f[1]);
	v->flags = (uint8_t)store_pg_u32(f[2]);
	v->checked = (uint32_t)store_pg_i64(f[3]);
	k = flen[4] > 0 ? (size_t)flen[4] : 0;
	if (k >= srclen)
		k = srclen - 1;
	memcpy(src, f[4], k);
	src[k] = '\0';
	return (long)off;
}

int store_pg_load(struct store_pg *pg, store_verdict_fn fn, void *arg)
{
	static const char sig[11] = "PGCOPY\n\377\r\n";
	PGconn *c = pg->wconn;
	char msg[512] = "";
	int64_t last = 0;
	unsigned long bad = 0;
	struct ipaddr ip;
	struct verdict v;
	char src[STORE_SOURCE_MAX];
	PGresult *r;
	int ret = 0, header = 0, n;
	char *buf;

	/* One snapshot (REPEATABLE READ): the highest change number in it covers every
	 * row below it, since the writers commit their numbers in order. COPY BINARY:
	 * rows stream without a result set in memory and without parsing text. */
	if (store_pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", msg, sizeof(msg)))
		goto fail;
	r = PQexec(c, "SELECT greatest((SELECT coalesce(max(change), 0) FROM verdicts),"
		   " (SELECT coalesce(max(change), 0) FROM purges))");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		store_pg_msg(c, msg, sizeof(msg));
		PQclear(r);
		goto fail;
	}
	last = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	r = PQexec(c, "COPY (SELECT ip, mask, flags, checked, source FROM verdicts) TO STDOUT"
		   " (FORMAT binary)");
	if (PQresultStatus(r) != PGRES_COPY_OUT) {
		store_pg_msg(c, msg, sizeof(msg));
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
		const char *p = buf;
		size_t left = (size_t)n;

		if (!header) {
			uint32_t ext;

			header = 1;
			if (left < 19 || memcmp(p, sig, sizeof(sig)) ||
			    (ext = store_pg_u32(p + 15), left < 19 + (size_t)ext)) {
				/* read to the end, use nothing */
				snprintf(msg, sizeof(msg), "malformed COPY header");
				header = 2;
				left = 0;
			} else {
				p += 19 + ext;
				left -= 19 + ext;
			}
		}
		while (left && !ret && header == 1) {
			long used = pg_copy_row(p, left, &ip, &v, src, sizeof(src));

			if (used <= 0) {
				bad += used < 0;
				break;
			}
			ret = fn(arg, &ip, &v, src);
			p += used;
			left -= (size_t)used;
		}
		PQfreemem(buf);
	}
	if (n == -2) {
		store_pg_msg(c, msg, sizeof(msg));
		goto fail;
	}
	while ((r = PQgetResult(c))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && !msg[0])
			store_pg_msg(c, msg, sizeof(msg));
		PQclear(r);
	}
	if (msg[0])
		goto fail;
	store_pg_exec(c, "COMMIT", msg, sizeof(msg));
	pthread_mutex_lock(&pg->mu);
	pg->last_change = last;
	pthread_mutex_unlock(&pg->mu);
	if (bad)
		log_warn("database %s: %lu malformed rows skipped", pg->name, bad);
	return ret;
fail:
	log_err("database %s: reading verdicts: %s", pg->name, msg);
	store_pg_exec(c, "ROLLBACK", msg, sizeof(msg));
	return -EIO;
}

/* ---- the writer ---- */

static const char pg_sql_put[] =
	"WITH d AS (DELETE FROM claims WHERE ip = $1)"
	" INSERT INTO verdicts (ip, ip_text, family, mask, flags, checked, source, facts,"
	" created, updated, change, node) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9,"
	" nextval('threatbl_change'), $10) ON CONFLICT (ip) DO UPDATE SET"
	" mask = excluded.mask, flags = excluded.flags, checked = excluded.checked,"
	" source = excluded.source, facts = excluded.facts, updated = excluded.updated,"
	" change = excluded.change, node = excluded.node";
static const char pg_sql_probe[] =
	"UPDATE verdicts SET mask = $2, flags = $3, probe = $4, probed = $5, updated = $5,"
	" change = nextval('threatbl_change'), node = $6 WHERE ip = $1";
/* A purge of the keys $1..$2 leaves a numbered row behind for each verdict, for the
 * other nodes (schema 4); the writer's single deletions are the range ip..ip. */
static const char pg_sql_del[] =
	"WITH d AS (DELETE FROM verdicts WHERE ip BETWEEN $1 AND $2 RETURNING ip)"
	" INSERT INTO purges (change, ip, node)"
	" SELECT nextval('threatbl_change'), ip, $3 FROM d";
/* The transaction of a numbered write: the lock (PG_LOCK_CHANGE) makes the
 * transactions that number rows commit one after the other. */
static const char pg_sql_begin_numbered[] = "BEGIN; SELECT pg_advisory_xact_lock(1952607281)";

static int pg_prepare(struct store_pg *pg, char *err, size_t errlen)
{
	static const struct { const char *name, *sql; int n; } st[] = {
		{ "put", pg_sql_put, 10 }, { "probe", pg_sql_probe, 6 }, { "del", pg_sql_del, 3 },
	};

	if (pg->wprepared)
		return 0;
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		PGresult *r = PQprepare(pg->wconn, st[i].name, st[i].sql, st[i].n, NULL);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

		if (!ok)
			store_pg_msg(pg->wconn, err, errlen);
		PQclear(r);
		if (!ok)
			return -EIO;
	}
	pg->wprepared = 1;
	return 0;
}

/* The writer's connection, made again when it broke. */
static int pg_writer_conn(struct store_pg *pg, char *err, size_t errlen)
{
	if (pg->wconn && PQstatus(pg->wconn) == CONNECTION_OK)
		return 0;
	if (pg->wconn) {
		PQfinish(pg->wconn);
		pg->wconn = NULL;
	}
	pg->wprepared = 0;
	if (!(pg->wconn = store_pg_connect(pg, err, errlen)))
		return -ECONNREFUSED;
	log_info("database %s: the writer is connected again", pg->name);
	return 0;
}

static int pg_write_op(struct store_pg *pg, const struct store_op *op, char *err,
		       size_t errlen)
{
	char ip_text[IPADDR_STRLEN], fam[4], mask[8], flags[8], checked[24], when[24];
	const char *vals[10];
	int lens[10] = { (int)sizeof(op->ip.b) }, fmts[10] = { 1 };
	const char *name;
	PGresult *r;
	int n, ok;

	vals[0] = (const char *)op->ip.b;
	snprintf(mask, sizeof(mask), "%u", op->v.mask);
	snprintf(flags, sizeof(flags), "%u", op->v.flags);
	snprintf(when, sizeof(when), "%lu", (unsigned long)op->when);
	if (op->kind == STORE_OP_DEL) {
		name = "del";
		vals[1] = vals[0];
		lens[1] = lens[0];
		fmts[1] = 1;
		vals[2] = pg->node;
		n = 3;
	} else if (op->kind == STORE_OP_PROBE) {
		name = "probe";
		vals[1] = mask;
		vals[2] = flags;
		vals[3] = op->text;
		vals[4] = when;
		vals[5] = pg->node;
		n = 6;
	} else {
		name = "put";
		ipaddr_format(&op->ip, ip_text);
		snprintf(fam, sizeof(fam), "%d", ipaddr_is_v4(&op->ip) ? 4 : 6);
		snprintf(checked, sizeof(checked), "%lu", (unsigned long)op->v.checked);
		vals[1] = ip_text;
		vals[2] = fam;
		vals[3] = mask;
		vals[4] = flags;
		vals[5] = checked;
		vals[6] = op->text;
		vals[7] = op->facts;
		vals[8] = when;
		vals[9] = pg->node;
		n = 10;
	}
	r = PQexecPrepared(pg->wconn, name, n, vals, lens, fmts, 0);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		store_pg_msg(pg->wconn, err, errlen);
	PQclear(r);
	return ok ? 0 : -EIO;
}

struct pg_share *store_pg_share(struct store_pg *pg, const char *provider)
{
	struct pg_share *s;

	for (unsigned i = 0; i < pg->nshare; i++)
		if (!strcmp(pg->share[i].provider, provider))
			return &pg->share[i];
	if (pg->nshare == STORE_BUDGETS || strlen(provider) >= sizeof(s->provider))
		return NULL;
	s = &pg->share[pg->nshare++];
	memset(s, 0, sizeof(*s));
	strcpy(s->provider, provider);
	return s;
}

/* The calls b->add of this node that no claim counted (the further providers of a
 * lookup, a retry) join the fleet's row; its count comes back into b->calls. Inside
 * the writer's transaction. 0 or -EIO. */
static int pg_write_budget(struct store_pg *pg, struct store_budget *b, char *err,
			   size_t errlen)
{
	char day[24], add[16];
	const char *vals[3] = { b->provider, day, add };
	PGresult *r;
	int ok;

	snprintf(day, sizeof(day), "%lld", (long long)b->day);
	snprintf(add, sizeof(add), "%lu", (unsigned long)b->add);
	r = PQexecParams(pg->wconn, "INSERT INTO budgets AS b (provider, day, calls)"
			 " VALUES ($1, $2, $3) ON CONFLICT (provider, day)"
			 " DO UPDATE SET calls = b.calls + excluded.calls RETURNING calls",
			 3, NULL, vals, NULL, NULL, 0);
	ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	if (ok) {
		long long calls = atoll(PQgetvalue(r, 0, 0));

		b->calls = calls < 0 ? 0 : calls > UINT32_MAX ? UINT32_MAX : (uint32_t)calls;
	} else {
		store_pg_msg(pg->wconn, err, errlen);
	}
	PQclear(r);
	return ok ? 0 : -EIO;
}

int store_pg_write(struct store_pg *pg, const struct store_op *ops,
		   struct store_budget *b, size_t nb, char *err, size_t errlen)
{
	char sql[256], msg[256];
	int64_t newest = 0;
	int rc;

	if ((rc = pg_writer_conn(pg, err, errlen)) < 0)
		return rc;
	if ((rc = pg_prepare(pg, err, errlen)) < 0)
		goto fail;
	if ((rc = store_pg_exec(pg->wconn, pg_sql_begin_numbered, err, errlen)))
		goto fail;
	/* The claims count the calls they allow (and those allowed while PostgreSQL
	 * was away, once it is back: pg_claim_settle); the others are added here. */
	for (size_t i = 0; i < nb; i++) {
		if (b[i].add && (rc = pg_write_budget(pg, &b[i], err, errlen)))
			goto fail;
		if (b[i].day > newest)
			newest = b[i].day;
	}
	if (newest) {
		snprintf(sql, sizeof(sql), "DELETE FROM budgets WHERE day < %lld",
			 (long long)(newest - PG_BUDGET_KEEP_DAYS));
		if ((rc = store_pg_exec(pg->wconn, sql, err, errlen)))
			goto fail;
	}
	for (const struct store_op *op = ops; op; op = op->next)
		if ((rc = pg_write_op(pg, op, err, errlen)))
			goto fail;
	/* the other nodes read only when there are rows to read */
	if ((rc = store_pg_exec(pg->wconn, ops ? "SELECT pg_notify('threatbl', ''); COMMIT"
			  : "COMMIT", err, errlen)))
		goto fail;
	return 0;
fail:
	if (PQstatus(pg->wconn) == CONNECTION_OK)
		store_pg_exec(pg->wconn, "ROLLBACK", msg, sizeof(msg));
	return rc;
}

void store_pg_close(struct store_pg *pg)
{
	int started;

	if (!pg)
		return;
	pthread_mutex_lock(&pg->mu);
	started = pg->started;
	pg->stop = 1;
	pthread_cond_broadcast(&pg->wake);
	pthread_mutex_unlock(&pg->mu);
	if (started) {
		pthread_join(pg->listen_thread, NULL);
		pthread_join(pg->claim_thread, NULL);
	}
	pg_free(pg);
}

/* ---- the tool's helpers ---- */

static int pg_dup(const PGresult *r, int col, char **out)
{
	if (!out)
		return 0;
	*out = NULL;
	if (PQgetisnull(r, 0, col))
		return 0;
	return (*out = strdup(PQgetvalue(r, 0, col))) ? 0 : -ENOMEM;
}

int store_pg_get(struct store_pg *pg, const struct ipaddr *ip, struct verdict *v,
		 char **source, char **facts)
{
	const char *vals[1] = { (const char *)ip->b };
	int lens[1] = { (int)sizeof(ip->b) }, fmts[1] = { 1 }, ret;
	PGresult *r;

	if (source)
		*source = NULL;
	if (facts)
		*facts = NULL;
	r = PQexecParams(pg->wconn, "SELECT mask, flags, checked, source, facts FROM verdicts"
			 " WHERE ip = $1", 1, NULL, vals, lens, fmts, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		ret = -EIO;
	else if (PQntuples(r) != 1)
		ret = -ENOENT;
	else {
		memset(v, 0, sizeof(*v));
		v->mask = (uint8_t)atoi(PQgetvalue(r, 0, 0));
		v->flags = (uint8_t)atoi(PQgetvalue(r, 0, 1));
		v->checked = (uint32_t)atoll(PQgetvalue(r, 0, 2));
		ret = pg_dup(r, 3, source);
		if (!ret && (ret = pg_dup(r, 4, facts)) && source) {
			free(*source);
			*source = NULL;
		}
	}
	PQclear(r);
	return ret;
}

int store_pg_get_probe(struct store_pg *pg, const struct ipaddr *ip, char **result,
		       uint32_t *when)
{
	const char *vals[1] = { (const char *)ip->b };
	int lens[1] = { (int)sizeof(ip->b) }, fmts[1] = { 1 }, ret;
	PGresult *r;

	*result = NULL;
	*when = 0;
	r = PQexecParams(pg->wconn, "SELECT probe, probed FROM verdicts WHERE ip = $1", 1,
			 NULL, vals, lens, fmts, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		ret = -EIO;
	else if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0))
		ret = -ENOENT;
	else {
		*when = (uint32_t)atoll(PQgetvalue(r, 0, 1));
		ret = pg_dup(r, 0, result);
	}
	PQclear(r);
	return ret;
}

/* Run sql (a SELECT of verdict rows, binary) through a cursor in one read-only
 * snapshot, PG_FETCH_ROWS at a time, calling row(arg, r, i) for each until it
 * returns non-zero (returned). -EIO, logged with what, when PostgreSQL fails. */
static int pg_walk(struct store_pg *pg, const char *what, const char *sql,
		   int (*row)(void *arg, const PGresult *r, int i), void *arg)
{
	PGconn *c = pg->wconn;
	char msg[256], declare[512];
	int ret = 0, n;

	snprintf(declare, sizeof(declare), "DECLARE threatbl_walk NO SCROLL CURSOR FOR %s", sql);
	if (store_pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", msg, sizeof(msg)) ||
	    store_pg_exec(c, declare, msg, sizeof(msg)))
		goto fail;
	do {
		PGresult *r = PQexecParams(c, "FETCH " PG_STR(PG_FETCH_ROWS) " FROM threatbl_walk",
					   0, NULL, NULL, NULL, NULL, 1);

		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			store_pg_msg(c, msg, sizeof(msg));
			PQclear(r);
			goto fail;
		}
		n = PQntuples(r);
		for (int i = 0; i < n && !ret; i++)
			ret = row(arg, r, i);
		PQclear(r);
	} while (n > 0 && !ret);
	store_pg_exec(c, "COMMIT", msg, sizeof(msg));
	return ret;
fail:
	log_err("database %s: %s verdicts: %s", pg->name, what, msg);
	store_pg_exec(c, "ROLLBACK", msg, sizeof(msg));
	return -EIO;
}

struct pg_list {
	int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v,
		  const char *source, const char *facts);
	void *arg;
};

/* Binary text columns are the bytes of the text, without a NUL: libpq adds one. */
static int pg_list_row(void *arg, const PGresult *r, int i)
{
	struct pg_list *l = arg;
	struct ipaddr ip;
	struct verdict v;
	int64_t change;

	if (!store_pg_row(r, i, &ip, &v, &change))
		return 0;
	return l->fn(l->arg, &ip, &v, PQgetvalue(r, i, 5),
		     PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6));
}

int store_pg_list(struct store_pg *pg,
		  int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v,
			    const char *source, const char *facts),
		  void *arg)
{
	struct pg_list l = { fn, arg };

	return pg_walk(pg, "listing", "SELECT ip, mask, flags, checked, change, source, facts"
		       " FROM verdicts ORDER BY ip", pg_list_row, &l);
}

struct pg_export {
	int (*fn)(void *arg, const struct store_row *r);
	void *arg;
};

static int pg_export_row(void *arg, const PGresult *r, int i)
{
	struct pg_export *x = arg;
	struct store_row row = { 0 };
	int64_t change;

	if (!store_pg_row(r, i, &row.ip, &row.v, &change) || PQgetlength(r, i, 9) != 8 ||
	    PQgetlength(r, i, 10) != 8)
		return 0;
	row.source = PQgetvalue(r, i, 5);
	row.facts = PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6);
	row.probe = PQgetisnull(r, i, 7) ? NULL : PQgetvalue(r, i, 7);
	if (PQgetlength(r, i, 8) == 8)
		row.probed = (uint32_t)store_pg_i64(PQgetvalue(r, i, 8));
	row.created = (uint32_t)store_pg_i64(PQgetvalue(r, i, 9));
	row.updated = (uint32_t)store_pg_i64(PQgetvalue(r, i, 10));
	return x->fn(x->arg, &row);
}

int store_pg_export(struct store_pg *pg, int (*fn)(void *arg, const struct store_row *r),
		    void *arg)
{
	struct pg_export x = { fn, arg };

	return pg_walk(pg, "exporting", "SELECT ip, mask, flags, checked, change, source, facts,"
		       " probe, probed, created, updated FROM verdicts ORDER BY ip",
		       pg_export_row, &x);
}

int store_pg_purge_range(struct store_pg *pg, const struct ipaddr *lo,
			 const struct ipaddr *hi, uint64_t *count)
{
	const char *vals[3] = { (const char *)lo->b, (const char *)hi->b, pg->node };
	int lens[3] = { (int)sizeof(lo->b), (int)sizeof(hi->b), 0 }, fmts[3] = { 1, 1, 0 };
	char msg[256];
	PGresult *r;
	int ok;

	*count = 0;
	/* As the writer's batches: numbered under the lock, a row left in purges for
	 * each (schema 4), and the nodes told. */
	if (store_pg_exec(pg->wconn, pg_sql_begin_numbered, msg, sizeof(msg)))
		return -EIO;
	r = PQexecParams(pg->wconn, pg_sql_del, 3, NULL, vals, lens, fmts, 0);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (ok)
		*count = strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	if (!ok || store_pg_exec(pg->wconn, *count ? "SELECT pg_notify('threatbl', ''); COMMIT"
				 : "COMMIT", msg, sizeof(msg))) {
		store_pg_exec(pg->wconn, "ROLLBACK", msg, sizeof(msg));
		*count = 0;
		return -EIO;
	}
	return 0;
}

int store_pg_purge(struct store_pg *pg, const struct ipaddr *ip)
{
	uint64_t n;
	int rc = store_pg_purge_range(pg, ip, ip, &n);

	return rc ? rc : n ? 0 : -ENOENT;
}

/* One statement with text parameters and the notification, in one transaction on the
 * writer's connection: the other nodes hear of the change at commit. The number of
 * rows it touched, or -EIO (logged). */
static int pg_override_change(struct store_pg *pg, const char *sql, int n,
			      const char *const *vals, const int *lens, const int *fmts)
{
	PGconn *c = pg->wconn;
	char msg[256];
	PGresult *r;
	int rows;

	if (store_pg_exec(c, "BEGIN", msg, sizeof(msg)))
		goto fail;
	r = PQexecParams(c, sql, n, NULL, vals, lens, fmts, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		store_pg_msg(c, msg, sizeof(msg));
		PQclear(r);
		goto fail;
	}
	rows = atoi(PQcmdTuples(r));
	PQclear(r);
	if (store_pg_exec(c, "NOTIFY threatbl_overrides; COMMIT", msg, sizeof(msg)))
		goto fail;
	return rows;
fail:
	log_err("database %s: changing an override: %s", pg->name, msg);
	store_pg_exec(c, "ROLLBACK", msg, sizeof(msg));
	return -EIO;
}

int store_pg_override_set(struct store_pg *pg, const struct override *o)
{
	char prefix[OVERRIDE_PREFIX_STRLEN], len[16], created[24];
	const char *vals[8];
	int lens[8] = { 0 }, fmts[8] = { 0 }, rc;

	override_format_prefix(&o->net, o->len, prefix);
	snprintf(len, sizeof(len), "%u", o->len);
	snprintf(created, sizeof(created), "%" PRIu32, o->created);
	vals[0] = prefix;
	vals[1] = (const char *)o->net.b;
	lens[1] = (int)sizeof(o->net.b);
	fmts[1] = 1;
	vals[2] = len;
	vals[3] = o->kind == OVERRIDE_ALLOW ? "allow" : "add";
	vals[4] = o->kind == OVERRIDE_ADD ? verdict_cat_name((enum verdict_cat)o->cat) : NULL;
	vals[5] = o->reason;
	vals[6] = created;
	vals[7] = o->who;
	rc = pg_override_change(pg, "INSERT INTO overrides (prefix, net, len, kind, category,"
				" reason, created, who) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
				" ON CONFLICT (prefix) DO UPDATE SET net = excluded.net,"
				" len = excluded.len, kind = excluded.kind,"
				" category = excluded.category, reason = excluded.reason,"
				" created = excluded.created, who = excluded.who",
				8, vals, lens, fmts);
	return rc < 0 ? rc : 0;
}

int store_pg_override_unset(struct store_pg *pg, const struct ipaddr *net, unsigned len)
{
	char prefix[OVERRIDE_PREFIX_STRLEN];
	const char *vals[1] = { prefix };
	int rc;

	override_format_prefix(net, len, prefix);
	rc = pg_override_change(pg, "DELETE FROM overrides WHERE prefix = $1", 1, vals, NULL,
				NULL);
	return rc < 0 ? rc : rc > 0 ? 0 : -ENOENT;
}

int store_pg_override_list(struct store_pg *pg,
			   int (*fn)(void *arg, const struct override *o), void *arg)
{
	unsigned long bad = 0;
	PGresult *r;
	char msg[256];
	int ret = 0, n;

	r = PQexec(pg->wconn, "SELECT net, len, kind, category, reason, created, who"
		   " FROM overrides ORDER BY net, len");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		store_pg_msg(pg->wconn, msg, sizeof(msg));
		PQclear(r);
		log_err("database %s: reading the overrides: %s", pg->name, msg);
		return -EIO;
	}
	n = PQntuples(r);
	for (int i = 0; i < n && !ret; i++) {
		struct override o = { .cat = -1 };
		unsigned char *net;
		size_t netlen = 0;

		/* a text result: bytea comes escaped (hex) */
		net = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 0), &netlen);
		if (!net || netlen != sizeof(o.net.b)) {
			PQfreemem(net);
			bad++;
			continue;
		}
		memcpy(o.net.b, net, sizeof(o.net.b));
		PQfreemem(net);
		o.len = (unsigned)atoi(PQgetvalue(r, i, 1));
		o.kind = strcmp(PQgetvalue(r, i, 2), "allow") == 0 ? OVERRIDE_ALLOW : OVERRIDE_ADD;
		if (o.kind == OVERRIDE_ADD && (PQgetisnull(r, i, 3) ||
					       (o.cat = override_cat(PQgetvalue(r, i, 3))) < 0)) {
			bad++;
			continue;
		}
		o.created = (uint32_t)strtoull(PQgetvalue(r, i, 5), NULL, 10);
		snprintf(o.reason, sizeof(o.reason), "%s", PQgetvalue(r, i, 4));
		snprintf(o.who, sizeof(o.who), "%s", PQgetvalue(r, i, 6));
		ret = fn(arg, &o);
	}
	PQclear(r);
	if (bad)
		log_warn("database %s: %lu malformed override rows skipped", pg->name, bad);
	return ret;
}
