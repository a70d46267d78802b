/* store_pg.c - the verdicts in PostgreSQL, shared by a fleet (see store_pg.h). */
#include "store_pg.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define PG_CONNECT_TIMEOUT "3"      /* seconds libpq waits for a connection */
#define PG_LOCK_MIGRATE 0x74626c30  /* advisory locks: "tbl0", "tbl1" */
#define PG_LOCK_CHANGE 0x74626c31
#define PG_FETCH_ROWS 10000         /* rows per FETCH / catch-up query */
#define PG_POLL_MS 250              /* how often the threads look at their stop flag */
#define PG_BACKOFF_MIN_MS 500       /* reconnection delay, doubling */
#define PG_BACKOFF_MAX_MS 8000
#define PG_CLAIMS_MAX 100000        /* claim requests waiting */
#define PG_BUDGET_KEEP_DAYS 31
#define PG_PASSWORD_MAX 1024
#define PG_CREDENTIAL "threatbl-db-password"
#define PG_HEARTBEAT_S 5            /* a node says it is alive this often ... */
#define PG_ALIVE_S 30               /* ... and counts as alive for this long */

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
};

#define PG_STR2(x) #x
#define PG_STR(x) PG_STR2(x)

#define PG_SCHEMA ((int)(sizeof(pg_migrations) / sizeof(pg_migrations[0])))

/* A claim request, or a release (cb NULL). */
struct pg_claim {
	struct pg_claim *next;
	struct ipaddr ip;
	struct store_claim_args a;
	store_claim_cb cb;
	void *arg;
};

struct store_pg {
	char *uri;
	char *password;             /* NULL: none of ours (never logged) */
	char name[512];             /* the URI without its password, for the log */
	char node[40];              /* this process, in claims and verdicts.node */
	PGconn *wconn;              /* the writer's (the opener's before start) */
	int wprepared;

	pthread_mutex_t mu;         /* guards what follows */
	pthread_cond_t wake;        /* to the claimer */
	int stop, started;
	struct pg_claim *chead, *ctail;
	size_t nclaims;
	int64_t last_change;        /* listener: the last change number seen */
	struct store_fleet_stats stats;
	int (*listener)(void *arg, const struct ipaddr *ip, const struct verdict *v);
	void *listener_arg;
	pthread_t listen_thread, claim_thread;
	/* The budget while PostgreSQL is away (doc/fleet.md#faults): this node's share
	 * of what the fleet had left, split between the nodes alive then. */
	unsigned nodes;             /* nodes alive at the last heartbeat (>= 1) */
	int64_t budget_day;
	uint32_t fleet_calls;       /* the fleet's count on budget_day, as last known */
	uint32_t local_calls;       /* calls decided locally, not yet counted there */
};

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
	char buf[PG_PASSWORD_MAX + 2];
	ssize_t n;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
		return -e;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	e = errno;
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
		return -e;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if ((size_t)n > PG_PASSWORD_MAX) {
		snprintf(err, errlen, "%s %s: longer than %d bytes", what, path, PG_PASSWORD_MAX);
		return -EINVAL;
	}
	if (!buf[0]) {
		snprintf(err, errlen, "%s %s is empty", what, path);
		return -EINVAL;
	}
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (!*out) {
		snprintf(err, errlen, "%s: out of memory", what);
		return -ENOMEM;
	}
	return 0;
}

/* Notices (NOTICE: relation exists..., FATAL: terminating connection) are libpq's
 * to print on stderr by default: the errors that matter come back with the results. */
static void pg_notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("database: %.*s", (int)strcspn(msg, "\n"), msg);
}

static PGconn *pg_connect(struct store_pg *pg, char *err, size_t errlen)
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
static void pg_msg(PGconn *c, char *err, size_t errlen)
{
	char *nl;

	snprintf(err, errlen, "%s", PQerrorMessage(c));
	while ((nl = strchr(err, '\n')))
		*nl = nl[1] ? ' ' : '\0';
}

/* A command with no result rows; 0 or -EIO with the message in err. */
static int pg_exec(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		pg_msg(c, err, errlen);
	PQclear(r);
	return ok ? 0 : -EIO;
}

static int pg_migrate(struct store_pg *pg, char *err, size_t errlen)
{
	PGconn *c = pg->wconn;
	char msg[512], sql[96];
	PGresult *r = NULL;
	int version = 0, rc;

	if ((rc = pg_exec(c, "BEGIN", msg, sizeof(msg))) ||
	    (rc = pg_exec(c, "SELECT pg_advisory_xact_lock(1952607280)", msg, sizeof(msg))))
		goto fail;
	r = PQexec(c, "SELECT to_regclass('threatbl_schema') IS NOT NULL,"
		   " to_regclass('verdicts') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_msg(c, msg, sizeof(msg));
		rc = -EIO;
		goto fail;
	}
	if (PQgetvalue(r, 0, 0)[0] == 't') {
		PQclear(r);
		r = PQexec(c, "SELECT max(version) FROM threatbl_schema");
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			pg_msg(c, msg, sizeof(msg));
			rc = -EIO;
			goto fail;
		}
		version = atoi(PQgetvalue(r, 0, 0));
	} else if (PQgetvalue(r, 0, 1)[0] == 't') {
		snprintf(err, errlen, "database %s has a table verdicts but no threatbl_schema: "
			 "not a threatbl database", pg->name);
		rc = -EINVAL;
		goto out;
	} else if ((rc = pg_exec(c, "CREATE TABLE threatbl_schema (version integer NOT NULL)",
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
		if ((rc = pg_exec(c, pg_migrations[version], msg, sizeof(msg))) ||
		    (rc = pg_exec(c, sql, msg, sizeof(msg))))
			goto fail;
		log_info("database %s: schema version %d", pg->name, version + 1);
	}
	if ((rc = pg_exec(c, "COMMIT", msg, sizeof(msg))))
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "database %s: cannot update the schema to version %d: %s",
		 pg->name, version + 1, msg);
out:
	PQclear(r);
	pg_exec(c, "ROLLBACK", msg, sizeof(msg));
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

int store_pg_open(const char *uri, const char *password_file, struct store_pg **out,
		  uint32_t *calls, char *err, size_t errlen)
{
	struct store_pg *pg;
	const char *cred_dir = getenv("CREDENTIALS_DIRECTORY");
	char cred[4096], msg[512], sql[128];
	PGresult *r;
	int rc;

	*out = NULL;
	*calls = 0;
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
		rc = pg_read_password(password_file, "database-password-file", &pg->password,
				      err, errlen);
	else if (cred_dir && *cred_dir &&
		 snprintf(cred, sizeof(cred), "%s/%s", cred_dir, PG_CREDENTIAL) <
		 (int)sizeof(cred) && access(cred, F_OK) == 0)
		rc = pg_read_password(cred, "credential", &pg->password, err, errlen);
	if (rc < 0)
		goto fail;
	if (!(pg->wconn = pg_connect(pg, err, errlen))) {
		rc = -ECONNREFUSED;
		goto fail;
	}
	if ((rc = pg_migrate(pg, err, errlen)) < 0)
		goto fail;
	snprintf(sql, sizeof(sql), "SELECT calls FROM budget WHERE day = %lld",
		 (long long)(time(NULL) / 86400));
	r = PQexec(pg->wconn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_msg(pg->wconn, msg, sizeof(msg));
		snprintf(err, errlen, "database %s: %s", pg->name, msg);
		PQclear(r);
		rc = -EIO;
		goto fail;
	}
	if (PQntuples(r) == 1) {
		long long n = atoll(PQgetvalue(r, 0, 0));

		*calls = n < 0 ? 0 : n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	}
	PQclear(r);
	pg->nodes = 1;
	pg->budget_day = time(NULL) / 86400;
	pg->fleet_calls = *calls;
	log_info("database %s: PostgreSQL %d, node %s", pg->name,
		 PQserverVersion(pg->wconn), pg->node);
	*out = pg;
	return 0;
fail:
	pg_free(pg);
	return rc;
}

static uint32_t pg_u32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static int64_t pg_i64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return (int64_t)be64toh(v);
}

/* Columns ip, mask, flags, checked, change (binary) of row i. 0 when malformed. */
static int pg_row(const PGresult *r, int i, struct ipaddr *ip, struct verdict *v,
		  int64_t *change)
{
	if (PQgetlength(r, i, 0) != (int)sizeof(ip->b) || PQgetlength(r, i, 1) != 4 ||
	    PQgetlength(r, i, 2) != 4 || PQgetlength(r, i, 3) != 8 || PQgetlength(r, i, 4) != 8)
		return 0;
	memcpy(ip->b, PQgetvalue(r, i, 0), sizeof(ip->b));
	memset(v, 0, sizeof(*v));
	v->mask = (uint8_t)pg_u32(PQgetvalue(r, i, 1));
	v->flags = (uint8_t)pg_u32(PQgetvalue(r, i, 2));
	v->checked = (uint32_t)pg_i64(PQgetvalue(r, i, 3));
	*change = pg_i64(PQgetvalue(r, i, 4));
	return 1;
}

/* One row of COPY ... BINARY (ip, mask, flags, checked) from p (n bytes); the bytes
 * used, 0 at the trailer, -1 when malformed. */
static long pg_copy_row(const char *p, size_t n, struct ipaddr *ip, struct verdict *v)
{
	static const int len[4] = { 16, 4, 4, 8 };
	const char *f[4];
	size_t off = 2;
	uint16_t nf;

	if (n < 2)
		return -1;
	memcpy(&nf, p, 2);
	nf = be16toh(nf);
	if (nf == 0xffff)
		return 0;
	if (nf != 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		if (off + 4 > n || (int)pg_u32(p + off) != len[i] || off + 4 + len[i] > n)
			return -1;
		f[i] = p + off + 4;
		off += 4 + (size_t)len[i];
	}
	memcpy(ip->b, f[0], 16);
	memset(v, 0, sizeof(*v));
	v->mask = (uint8_t)pg_u32(f[1]);
	v->flags = (uint8_t)pg_u32(f[2]);
	v->checked = (uint32_t)pg_i64(f[3]);
	return (long)off;
}

int store_pg_load(struct store_pg *pg,
		  int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v),
		  void *arg)
{
	static const char sig[11] = "PGCOPY\n\377\r\n";
	PGconn *c = pg->wconn;
	char msg[512] = "";
	int64_t last = 0;
	unsigned long bad = 0;
	struct ipaddr ip;
	struct verdict v;
	PGresult *r;
	int ret = 0, header = 0, n;
	char *buf;

	/* One snapshot (REPEATABLE READ): the highest change number in it covers every
	 * row below it, since the writers commit their numbers in order. COPY BINARY:
	 * rows stream without a result set in memory and without parsing text. */
	if (pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", msg, sizeof(msg)))
		goto fail;
	r = PQexec(c, "SELECT coalesce(max(change), 0) FROM verdicts");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_msg(c, msg, sizeof(msg));
		PQclear(r);
		goto fail;
	}
	last = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	r = PQexec(c, "COPY (SELECT ip, mask, flags, checked FROM verdicts) TO STDOUT"
		   " (FORMAT binary)");
	if (PQresultStatus(r) != PGRES_COPY_OUT) {
		pg_msg(c, msg, sizeof(msg));
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
			    (ext = pg_u32(p + 15), left < 19 + (size_t)ext)) {
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
			long used = pg_copy_row(p, left, &ip, &v);

			if (used <= 0) {
				bad += used < 0;
				break;
			}
			ret = fn(arg, &ip, &v);
			p += used;
			left -= (size_t)used;
		}
		PQfreemem(buf);
	}
	if (n == -2) {
		pg_msg(c, msg, sizeof(msg));
		goto fail;
	}
	while ((r = PQgetResult(c))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && !msg[0])
			pg_msg(c, msg, sizeof(msg));
		PQclear(r);
	}
	if (msg[0])
		goto fail;
	pg_exec(c, "COMMIT", msg, sizeof(msg));
	pthread_mutex_lock(&pg->mu);
	pg->last_change = last;
	pthread_mutex_unlock(&pg->mu);
	if (bad)
		log_warn("database %s: %lu malformed rows skipped", pg->name, bad);
	return ret;
fail:
	log_err("database %s: reading verdicts: %s", pg->name, msg);
	pg_exec(c, "ROLLBACK", msg, sizeof(msg));
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
static const char pg_sql_del[] = "DELETE FROM verdicts WHERE ip = $1";

static int pg_prepare(struct store_pg *pg, char *err, size_t errlen)
{
	static const struct { const char *name, *sql; int n; } st[] = {
		{ "put", pg_sql_put, 10 }, { "probe", pg_sql_probe, 6 }, { "del", pg_sql_del, 1 },
	};

	if (pg->wprepared)
		return 0;
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		PGresult *r = PQprepare(pg->wconn, st[i].name, st[i].sql, st[i].n, NULL);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

		if (!ok)
			pg_msg(pg->wconn, err, errlen);
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
	if (!(pg->wconn = pg_connect(pg, err, errlen)))
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
		n = 1;
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
		pg_msg(pg->wconn, err, errlen);
	PQclear(r);
	return ok ? 0 : -EIO;
}

int store_pg_write(struct store_pg *pg, const struct store_op *ops, int64_t day,
		   uint32_t calls, char *err, size_t errlen)
{
	char sql[256], msg[256];
	int rc;

	if ((rc = pg_writer_conn(pg, err, errlen)) < 0)
		return rc;
	if ((rc = pg_prepare(pg, err, errlen)) < 0)
		goto fail;
	/* The lock makes the batches that number rows commit one after the other. */
	if ((rc = pg_exec(pg->wconn, "BEGIN; SELECT pg_advisory_xact_lock(1952607281)",
			  err, errlen)))
		goto fail;
	if (day) {
		/* The claims count the fleet's calls (and the calls made while PostgreSQL
		 * was away, once it is back: pg_claim_settle); the node's own count is not
		 * written, it would count them twice. Old days go. */
		(void)calls;
		snprintf(sql, sizeof(sql), "DELETE FROM budget WHERE day < %lld",
			 (long long)(day - PG_BUDGET_KEEP_DAYS));
		if ((rc = pg_exec(pg->wconn, sql, err, errlen)))
			goto fail;
	}
	for (const struct store_op *op = ops; op; op = op->next)
		if ((rc = pg_write_op(pg, op, err, errlen)))
			goto fail;
	/* the other nodes read only when there are rows to read */
	if ((rc = pg_exec(pg->wconn, ops ? "SELECT pg_notify('threatbl', ''); COMMIT"
			  : "COMMIT", err, errlen)))
		goto fail;
	return 0;
fail:
	if (PQstatus(pg->wconn) == CONNECTION_OK)
		pg_exec(pg->wconn, "ROLLBACK", msg, sizeof(msg));
	return rc;
}

/* ---- the listener ---- */

static int pg_stopping(struct store_pg *pg)
{
	int stop;

	pthread_mutex_lock(&pg->mu);
	stop = pg->stop;
	pthread_mutex_unlock(&pg->mu);
	return stop;
}

/* Sleep ms, in steps, unless stopping. 1 when stopping. */
static int pg_nap(struct store_pg *pg, unsigned ms)
{
	while (ms) {
		unsigned step = ms > PG_POLL_MS ? PG_POLL_MS : ms;

		if (pg_stopping(pg))
			return 1;
		usleep(step * 1000u);
		ms -= step;
	}
	return pg_stopping(pg);
}

/* Read every row changed after last_change; hand the other nodes' to the listener.
 * 0 or -EIO. */
static int pg_catch_up(struct store_pg *pg, PGconn *c)
{
	char last[24], msg[256];
	const char *vals[2] = { last, pg->node };
	int n;

	do {
		PGresult *r;
		uint64_t got = 0;
		int64_t change;
		struct ipaddr ip;
		struct verdict v;

		pthread_mutex_lock(&pg->mu);
		snprintf(last, sizeof(last), "%lld", (long long)pg->last_change);
		pthread_mutex_unlock(&pg->mu);
		r = PQexecParams(c, "SELECT ip, mask, flags, checked, change, node = $2"
				 " FROM verdicts WHERE change > $1 ORDER BY change LIMIT 10000",
				 2, NULL, vals, NULL, NULL, 1);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			pg_msg(c, msg, sizeof(msg));
			log_warn("database %s: reading new verdicts: %s", pg->name, msg);
			PQclear(r);
			return -EIO;
		}
		n = PQntuples(r);
		for (int i = 0; i < n; i++) {
			if (!pg_row(r, i, &ip, &v, &change))
				continue;
			if (PQgetvalue(r, i, 5)[0] == 0 && pg->listener) {
				pg->listener(pg->listener_arg, &ip, &v);
				got++;
			}
			pthread_mutex_lock(&pg->mu);
			if (change > pg->last_change)
				pg->last_change = change;
			pthread_mutex_unlock(&pg->mu);
		}
		PQclear(r);
		pthread_mutex_lock(&pg->mu);
		pg->stats.received += got;
		pthread_mutex_unlock(&pg->mu);
	} while (n == PG_FETCH_ROWS);
	return 0;
}

static void pg_set_connected(struct store_pg *pg, int up, int again)
{
	pthread_mutex_lock(&pg->mu);
	pg->stats.connected = up;
	if (up && again)
		pg->stats.reconnects++;
	pthread_mutex_unlock(&pg->mu);
}

/* This node is alive; how many are (listener's connection). */
static void pg_heartbeat(struct store_pg *pg, PGconn *c)
{
	const char *vals[1] = { pg->node };
	PGresult *r;

	r = PQexecParams(c, "INSERT INTO nodes (node, seen) VALUES ($1, now()) ON CONFLICT"
			 " (node) DO UPDATE SET seen = now()", 1, NULL, vals, NULL, NULL, 0);
	PQclear(r);
	r = PQexec(c, "DELETE FROM nodes WHERE seen < now() - interval '1 day';"
		   " SELECT count(*) FROM nodes WHERE seen > now() - interval '"
		   PG_STR(PG_ALIVE_S) " seconds'");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		int n = atoi(PQgetvalue(r, 0, 0));

		pthread_mutex_lock(&pg->mu);
		pg->nodes = n > 0 ? (unsigned)n : 1;
		pthread_mutex_unlock(&pg->mu);
	}
	PQclear(r);
}

static void *pg_listen_thread(void *arg)
{
	struct store_pg *pg = arg;
	time_t beat = 0;
	unsigned backoff = 0;
	char err[512];
	PGconn *c = NULL;
	int first = 1;

	while (!pg_stopping(pg)) {
		struct pollfd pfd;
		PGnotify *nt;
		int any = 0;

		if (!c) {
			if (backoff && pg_nap(pg, backoff))
				break;
			c = pg_connect(pg, err, sizeof(err));
			if (c && pg_exec(c, "LISTEN threatbl", err, sizeof(err))) {
				PQfinish(c);
				c = NULL;
			}
			if (!c) {
				if (!backoff || backoff == PG_BACKOFF_MAX_MS)
					log_warn("%s; answering from memory, retrying", err);
				backoff = !backoff ? PG_BACKOFF_MIN_MS : backoff * 2 > PG_BACKOFF_MAX_MS
					  ? PG_BACKOFF_MAX_MS : backoff * 2;
				continue;
			}
			if (!first)
				log_info("database %s: listening again; reading the verdicts "
					 "stored meanwhile", pg->name);
			pg_set_connected(pg, 1, !first);
			first = 0;
			backoff = 0;
			any = 1; /* what was stored while we were away, or before LISTEN */
		} else {
			pfd.fd = PQsocket(c);
			pfd.events = POLLIN;
			if (poll(&pfd, 1, PG_POLL_MS) > 0 && !PQconsumeInput(c)) {
				pg_msg(c, err, sizeof(err));
				log_warn("database %s: lost the connection: %s", pg->name, err);
				goto lost;
			}
		}
		while ((nt = PQnotifies(c))) {
			any = 1;
			PQfreemem(nt);
		}
		if (any && pg_catch_up(pg, c) < 0)
			goto lost;
		if (time(NULL) - beat >= PG_HEARTBEAT_S) {
			beat = time(NULL);
			pg_heartbeat(pg, c);
		}
		if (PQstatus(c) != CONNECTION_OK)
			goto lost;
		continue;
lost:
		pg_set_connected(pg, 0, 0);
		PQfinish(c);
		c = NULL;
		backoff = PG_BACKOFF_MIN_MS;
	}
	if (c)
		PQfinish(c);
	return NULL;
}

/* ---- the claimer ---- */

/* PostgreSQL is away: a call within this node's share of what the fleet had left
 * (STORE_CLAIM_LOCAL), or none (STORE_CLAIM_BUDGET with the count as known here,
 * below the budget: the lookup ends, calls do not pause). Claimer's thread. */
static int pg_claim_local(struct store_pg *pg, const struct pg_claim *cl, uint32_t *calls)
{
	uint32_t left, share;
	unsigned nodes;

	if (cl->a.day != pg->budget_day) {
		pg->budget_day = cl->a.day;
		pg->fleet_calls = 0;
		pg->local_calls = 0;
	}
	*calls = pg->fleet_calls + pg->local_calls;
	if (!cl->a.budget) {
		pg->local_calls++;
		return STORE_CLAIM_LOCAL;
	}
	pthread_mutex_lock(&pg->mu);
	nodes = pg->nodes ? pg->nodes : 1;
	pthread_mutex_unlock(&pg->mu);
	left = cl->a.budget > pg->fleet_calls ? cl->a.budget - pg->fleet_calls : 0;
	share = left / nodes;
	if (pg->local_calls >= share)
		return STORE_CLAIM_BUDGET;
	pg->local_calls++;
	(*calls)++;
	return STORE_CLAIM_LOCAL;
}

/* Back: the calls made meanwhile join the fleet's count. 0 or -EIO. */
static int pg_claim_settle(struct store_pg *pg, PGconn *c)
{
	char sql[160];
	PGresult *r;
	int ok;

	if (!pg->local_calls)
		return 0;
	snprintf(sql, sizeof(sql), "INSERT INTO budget AS b (day, calls) VALUES (%lld, %lu)"
		 " ON CONFLICT (day) DO UPDATE SET calls = b.calls + excluded.calls",
		 (long long)pg->budget_day, (unsigned long)pg->local_calls);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok)
		return -EIO;
	log_info("database %s: %lu calls made while it was away counted in the fleet's "
		 "budget", pg->name, (unsigned long)pg->local_calls);
	pg->local_calls = 0;
	return 0;
}

static void pg_claim_one(struct store_pg *pg, PGconn *c, struct pg_claim *cl)
{
	char lease[16], fresh[24], day[24], budget[16], msg[256];
	const char *vals[6] = { (const char *)cl->ip.b, pg->node, lease, fresh, day, budget };
	int lens[6] = { (int)sizeof(cl->ip.b) }, fmts[6] = { 1 };
	int outcome = STORE_CLAIM_LOCAL;
	uint32_t calls = 0;
	PGresult *r;

	if (!cl->cb) {
		vals[1] = pg->node;
		r = PQexecParams(c, "DELETE FROM claims WHERE ip = $1 AND node = $2", 2, NULL,
				 vals, lens, fmts, 0);
		PQclear(r);
		return;
	}
	snprintf(lease, sizeof(lease), "%lu", (unsigned long)cl->a.lease_ms);
	snprintf(fresh, sizeof(fresh), "%lu", (unsigned long)cl->a.fresh_after);
	snprintf(day, sizeof(day), "%lld", (long long)cl->a.day);
	snprintf(budget, sizeof(budget), "%lu", (unsigned long)cl->a.budget);
	r = PQexecParams(c, "SELECT outcome, calls, vmask, vflags, vchecked FROM"
			 " threatbl_claim($1, $2, $3, $4, $5, $6)", 6, NULL, vals, lens, fmts, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		const char *o = PQgetvalue(r, 0, 0);
		long long n = atoll(PQgetvalue(r, 0, 1));

		calls = n < 0 ? 0 : n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
		if (!strcmp(o, "mine"))
			outcome = STORE_CLAIM_MINE;
		else if (!strcmp(o, "theirs"))
			outcome = STORE_CLAIM_THEIRS;
		else if (!strcmp(o, "budget"))
			outcome = STORE_CLAIM_BUDGET;
		else if (!strcmp(o, "done")) {
			struct verdict v = { 0 };

			v.mask = (uint8_t)atoi(PQgetvalue(r, 0, 2));
			v.flags = (uint8_t)atoi(PQgetvalue(r, 0, 3));
			v.checked = (uint32_t)atoll(PQgetvalue(r, 0, 4));
			if (pg->listener)
				pg->listener(pg->listener_arg, &cl->ip, &v);
			outcome = STORE_CLAIM_DONE;
		}
	} else {
		pg_msg(c, msg, sizeof(msg));
		log_warn("database %s: claim failed: %s; deciding locally", pg->name, msg);
	}
	PQclear(r);
	if (outcome == STORE_CLAIM_MINE || outcome == STORE_CLAIM_BUDGET) {
		pg->budget_day = cl->a.day;
		pg->fleet_calls = calls;
	}
	if (outcome == STORE_CLAIM_LOCAL)
		outcome = pg_claim_local(pg, cl, &calls);
	pthread_mutex_lock(&pg->mu);
	pg->stats.claims++;
	if (outcome == STORE_CLAIM_THEIRS)
		pg->stats.claims_theirs++;
	else if (outcome == STORE_CLAIM_LOCAL)
		pg->stats.claims_local++;
	pthread_mutex_unlock(&pg->mu);
	cl->cb(cl->arg, &cl->ip, outcome, calls);
}

static void *pg_claim_thread(void *arg)
{
	struct store_pg *pg = arg;
	struct timespec retry = { 0 }, now;
	unsigned backoff = 0;
	char err[512];
	PGconn *c = NULL;

	pthread_mutex_lock(&pg->mu);
	for (;;) {
		struct pg_claim *cl;

		while (!pg->chead && !pg->stop)
			pthread_cond_wait(&pg->wake, &pg->mu);
		if (pg->stop)
			break;
		cl = pg->chead;
		pg->chead = cl->next;
		if (!pg->chead)
			pg->ctail = NULL;
		pg->nclaims--;
		pthread_mutex_unlock(&pg->mu);

		if (c && PQstatus(c) != CONNECTION_OK) {
			PQfinish(c);
			c = NULL;
			backoff = PG_BACKOFF_MIN_MS;
			clock_gettime(CLOCK_MONOTONIC, &retry);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!c && (now.tv_sec > retry.tv_sec ||
			   (now.tv_sec == retry.tv_sec && now.tv_nsec >= retry.tv_nsec))) {
			if ((c = pg_connect(pg, err, sizeof(err))))
				backoff = 0;
			else {
				backoff = !backoff ? PG_BACKOFF_MIN_MS : backoff * 2 >
					  PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : backoff * 2;
				clock_gettime(CLOCK_MONOTONIC, &retry);
				retry.tv_sec += backoff / 1000;
				retry.tv_nsec += (long)(backoff % 1000) * 1000000;
				if (retry.tv_nsec >= 1000000000) {
					retry.tv_sec++;
					retry.tv_nsec -= 1000000000;
				}
			}
		}
		if (c && pg_claim_settle(pg, c) < 0) {
			PQfinish(c);
			c = NULL;
		}
		if (c)
			pg_claim_one(pg, c, cl);
		else if (cl->cb) {
			/* PostgreSQL is away: no lookup waits for it */
			uint32_t calls;
			int outcome = pg_claim_local(pg, cl, &calls);

			pthread_mutex_lock(&pg->mu);
			pg->stats.claims++;
			pg->stats.claims_local++;
			pthread_mutex_unlock(&pg->mu);
			cl->cb(cl->arg, &cl->ip, outcome, calls);
		}
		free(cl);
		pthread_mutex_lock(&pg->mu);
	}
	pthread_mutex_unlock(&pg->mu);
	if (c)
		PQfinish(c);
	return NULL;
}

static int pg_claim_push(struct store_pg *pg, const struct ipaddr *ip,
			 const struct store_claim_args *a, store_claim_cb cb, void *arg)
{
	struct pg_claim *cl = calloc(1, sizeof(*cl));

	if (!cl)
		return -ENOMEM;
	cl->ip = *ip;
	if (a)
		cl->a = *a;
	cl->cb = cb;
	cl->arg = arg;
	pthread_mutex_lock(&pg->mu);
	if (!pg->started || pg->stop || pg->nclaims >= PG_CLAIMS_MAX) {
		pthread_mutex_unlock(&pg->mu);
		free(cl);
		return -ENOBUFS;
	}
	if (pg->ctail)
		pg->ctail->next = cl;
	else
		pg->chead = cl;
	pg->ctail = cl;
	pg->nclaims++;
	pthread_cond_signal(&pg->wake);
	pthread_mutex_unlock(&pg->mu);
	return 0;
}

int store_pg_claim(struct store_pg *pg, const struct ipaddr *ip,
		   const struct store_claim_args *a, store_claim_cb cb, void *arg)
{
	return pg_claim_push(pg, ip, a, cb, arg);
}

void store_pg_release(struct store_pg *pg, const struct ipaddr *ip)
{
	pg_claim_push(pg, ip, NULL, NULL, NULL);
}

int store_pg_start(struct store_pg *pg,
		   int (*listener)(void *arg, const struct ipaddr *ip, const struct verdict *v),
		   void *arg)
{
	int rc;

	pg->listener = listener;
	pg->listener_arg = arg;
	if ((rc = pthread_create(&pg->listen_thread, NULL, pg_listen_thread, pg)))
		return -rc;
	if ((rc = pthread_create(&pg->claim_thread, NULL, pg_claim_thread, pg))) {
		pthread_mutex_lock(&pg->mu);
		pg->stop = 1;
		pthread_mutex_unlock(&pg->mu);
		pthread_join(pg->listen_thread, NULL);
		return -rc;
	}
	pthread_mutex_lock(&pg->mu);
	pg->started = 1;
	pthread_mutex_unlock(&pg->mu);
	return 0;
}

void store_pg_get_stats(struct store_pg *pg, struct store_fleet_stats *out)
{
	pthread_mutex_lock(&pg->mu);
	*out = pg->stats;
	out->last_change = pg->last_change;
	pthread_mutex_unlock(&pg->mu);
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

int store_pg_list(struct store_pg *pg,
		  int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v,
			    const char *source, const char *facts),
		  void *arg)
{
	PGconn *c = pg->wconn;
	char msg[256];
	int ret = 0, n;

	if (pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", msg, sizeof(msg)) ||
	    pg_exec(c, "DECLARE threatbl_list NO SCROLL CURSOR FOR SELECT ip, mask, flags,"
		    " checked, change, source, facts FROM verdicts ORDER BY ip", msg, sizeof(msg)))
		goto fail;
	do {
		PGresult *r = PQexecParams(c, "FETCH 10000 FROM threatbl_list", 0, NULL, NULL,
					   NULL, NULL, 1);

		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			pg_msg(c, msg, sizeof(msg));
			PQclear(r);
			goto fail;
		}
		n = PQntuples(r);
		for (int i = 0; i < n && !ret; i++) {
			struct ipaddr ip;
			struct verdict v;
			int64_t change;

			/* binary text columns are the bytes of the text, without a NUL:
			 * libpq adds one */
			if (pg_row(r, i, &ip, &v, &change))
				ret = fn(arg, &ip, &v, PQgetvalue(r, i, 5),
					 PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6));
		}
		PQclear(r);
	} while (n > 0 && !ret);
	pg_exec(c, "COMMIT", msg, sizeof(msg));
	return ret;
fail:
	log_err("database %s: listing verdicts: %s", pg->name, msg);
	pg_exec(c, "ROLLBACK", msg, sizeof(msg));
	return -EIO;
}

int store_pg_purge(struct store_pg *pg, const struct ipaddr *ip)
{
	const char *vals[1] = { (const char *)ip->b };
	int lens[1] = { (int)sizeof(ip->b) }, fmts[1] = { 1 }, ret;
	PGresult *r;

	r = PQexecParams(pg->wconn, "DELETE FROM verdicts WHERE ip = $1", 1, NULL, vals, lens,
			 fmts, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		ret = -EIO;
	else
		ret = atoi(PQcmdTuples(r)) > 0 ? 0 : -ENOENT;
	PQclear(r);
	return ret;
}
