/* test_store.c - store.c: schema, round trips, refusals, the writer's failure path and
 * a million rows.
 *
 * The log lines go to a sink (log_set_sink) so the test can count warnings, and every
 * sqlite file goes through a pass-through VFS that can be told to fail writes with
 * SQLITE_FULL, which is how a full disk looks to the writer. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "override.h"
#include "store.h"
#include "tap.h"
#include "testutil.h"

/* ---- log.h, captured through its sink ---- */

/* log_set_sink serialises the calls (the writer thread logs too); logged() reads
 * under log_mu as well, since it runs while the writer may log. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	enum log_level level;
	char text[512];
} log_lines[256];
static unsigned log_n;

static void log_capture(void *arg, enum log_level level, const char *line)
{
	(void)arg;
	fprintf(stderr, "log %d: %s\n", (int)level, line);
	pthread_mutex_lock(&log_mu);
	if (log_n < 256) {
		log_lines[log_n].level = level;
		snprintf(log_lines[log_n].text, sizeof(log_lines[0].text), "%s", line);
		log_n++;
	}
	pthread_mutex_unlock(&log_mu);
}

/* How many messages of level contain what; the last one into last. */
static unsigned logged(enum log_level level, const char *what, char *last, size_t lastlen)
{
	unsigned n = 0;

	if (last)
		snprintf(last, lastlen, "(none)");
	pthread_mutex_lock(&log_mu);
	for (unsigned i = 0; i < log_n; i++) {
		if (log_lines[i].level != level || !strstr(log_lines[i].text, what))
			continue;
		n++;
		if (last)
			snprintf(last, lastlen, "%s", log_lines[i].text);
	}
	pthread_mutex_unlock(&log_mu);
	return n;
}

/* ---- a VFS that can fail writes ---- */

static atomic_int vfs_fail_writes; /* to the files whose name starts with "full" */
static sqlite3_vfs *vfs_real;

struct shim_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct in the same allocation */
	int failable;       /* one of the files named "full*" */
};

#define REAL(f) (((struct shim_file *)(f))->real)

static int shim_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	if (((struct shim_file *)f)->failable && atomic_load(&vfs_fail_writes))
		return SQLITE_FULL;
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int shim_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int shim_lock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int shim_unlock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int shim_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int shim_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int shim_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int shim_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int shim_shmmap(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int shim_shmlock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void shim_shmbarrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int shim_shmunmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_methods = {
	.iVersion = 3,
	.xClose = shim_close,
	.xRead = shim_read,
	.xWrite = shim_write,
	.xTruncate = shim_truncate,
	.xSync = shim_sync,
	.xFileSize = shim_size,
	.xLock = shim_lock,
	.xUnlock = shim_unlock,
	.xCheckReservedLock = shim_reserved,
	.xFileControl = shim_fcntl,
	.xSectorSize = shim_sector,
	.xDeviceCharacteristics = shim_devchar,
	.xShmMap = shim_shmmap,
	.xShmLock = shim_shmlock,
	.xShmBarrier = shim_shmbarrier,
	.xShmUnmap = shim_shmunmap,
	.xFetch = shim_fetch,
	.xUnfetch = shim_unfetch,
};

static int shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
		     int flags, int *outflags)
{
	struct shim_file *sf = (struct shim_file *)f;
	int rc;

	sf->real = (sqlite3_file *)(sf + 1);
	sf->failable = name && strstr(name, "/full") != NULL;
	rc = vfs_real->xOpen(vfs_real, name, sf->real, flags, outflags);
	sf->base.pMethods = sf->real->pMethods ? &shim_methods : NULL;
	return rc;
}

static sqlite3_vfs shim_vfs;

static void shim_install(void)
{
	vfs_real = sqlite3_vfs_find(NULL);
	shim_vfs = *vfs_real;
	shim_vfs.zName = "test-shim";
	shim_vfs.szOsFile = (int)sizeof(struct shim_file) + vfs_real->szOsFile;
	shim_vfs.xOpen = shim_open;
	sqlite3_vfs_register(&shim_vfs, 1);
}

/* ---- helpers ---- */

static char dir[192];

static const char *in_dir(char *buf, const char *name)
{
	snprintf(buf, 256, "%s/%s", dir, name);
	return buf;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One integer from a query on a connection of the test's own. */
static long long sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	long long v = -1;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			v = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	return v;
}

static int sql_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

static void sql_text(const char *path, const char *sql, char *out, size_t outlen)
{
	sqlite3 *db;
	sqlite3_stmt *s;

	snprintf(out, outlen, "(none)");
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
			snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(s, 0));
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
}

/* Wait until the writer has at most `queued` rows left; 0 when it got there. */
static int wait_queued(struct store *st, size_t queued, double timeout)
{
	double end = now_s() + timeout;
	struct store_stats ss;

	for (;;) {
		store_get_stats(st, &ss);
		if (ss.queued <= queued)
			return 0;
		if (now_s() > end)
			return -1;
		usleep(10000);
	}
}

static int wait_failed(struct store *st, uint64_t failed, double timeout)
{
	double end = now_s() + timeout;
	struct store_stats ss;

	for (;;) {
		store_get_stats(st, &ss);
		if (ss.failed >= failed)
			return 0;
		if (now_s() > end)
			return -1;
		usleep(10000);
	}
}

struct row {
	struct ipaddr ip;
	struct verdict v;
	char source[32];
};

struct rows {
	struct row r[64];
	size_t n;
};

static int collect(void *arg, const struct ipaddr *ip, const struct verdict *v,
		   const char *source)
{
	struct rows *rs = arg;

	if (rs->n < 64) {
		rs->r[rs->n].ip = *ip;
		rs->r[rs->n].v = *v;
		snprintf(rs->r[rs->n].source, sizeof(rs->r[rs->n].source), "%s",
			 source ? source : "(null)");
	}
	rs->n++;
	return 0;
}

static const struct verdict *find(const struct rows *rs, const struct ipaddr *ip)
{
	for (size_t i = 0; i < rs->n && i < 64; i++)
		if (memcmp(rs->r[i].ip.b, ip->b, 16) == 0)
			return &rs->r[i].v;
	return NULL;
}

static const char *source_of(const struct rows *rs, const struct ipaddr *ip)
{
	for (size_t i = 0; i < rs->n && i < 64; i++)
		if (memcmp(rs->r[i].ip.b, ip->b, 16) == 0)
			return rs->r[i].source;
	return "(none)";
}

static int same(const struct verdict *a, const struct verdict *b)
{
	return a && b && a->mask == b->mask && a->flags == b->flags &&
	       a->checked == b->checked;
}

static int load_rows(const char *path, struct rows *rs)
{
	struct store *st;
	char err[256];
	int rc;

	memset(rs, 0, sizeof(*rs));
	if ((rc = store_open(path, &st, err, sizeof(err))) < 0) {
		printf("# reopen: %s\n", err);
		return rc;
	}
	rc = store_load(st, collect, rs);
	store_close(st);
	return rc;
}

/* ---- tests ---- */

/* The probe's result (schema v3): it replaces the row's mask and flags, keeps source
 * and facts, and never creates a row. */
static void test_probe_rows(const char *path, const struct ipaddr *ip)
{
	struct verdict pv = { VERDICT_BIT(VERDICT_HOSTING) | VERDICT_BIT(VERDICT_OPENVPN443),
			      VERDICT_F_PROBED, 1700000100 }, got;
	char err[512], *result = NULL, *source = NULL, *facts = NULL;
	struct store *st;
	uint32_t when = 0;
	int rc;

	if (store_open(path, &st, err, sizeof(err)) < 0) {
		ok(0, "reopen for the probe: %s", err);
		return;
	}
	is_int(store_get_probe(st, &ip[0], &result, &when), -ENOENT,
	       "store_get_probe: -ENOENT before any probe");
	is_int(store_put_probe(st, &ip[0], &pv, "confirmed", 1700000200), 0, "store_put_probe");
	store_put_probe(st, &ip[1], &pv, "confirmed", 1700000200);
	store_close(st);
	is_int(sql_int(path, "SELECT count(*) FROM verdicts"), 3,
	       "a probe of an IP with no row creates none");
	if (store_open(path, &st, err, sizeof(err)) < 0)
		return;
	rc = store_get_probe(st, &ip[0], &result, &when);
	ok(rc == 0 && result && strcmp(result, "confirmed") == 0 && when == 1700000200,
	   "store_get_probe: the result and its time");
	free(result);
	rc = store_get(st, &ip[0], &got, &source, &facts);
	ok(rc == 0 && same(&got, &pv), "the probe's mask and flags replace the row's");
	ok(rc == 0 && source && strcmp(source, "test") == 0 && facts &&
	   strcmp(facts, "{\"is_hosting\":true}") == 0, "source and facts are kept");
	free(source);
	free(facts);
	/* a new report keeps the last probe until the next one */
	store_put(st, &ip[0], &pv, "criminalip", NULL);
	store_close(st);
	is_int(sql_int(path, "SELECT probed FROM verdicts WHERE probe = 'confirmed'"), 1700000200,
	       "a put leaves the probe's columns");
}

/* A database of schema version 2 (verdicts and budget) gains the probe's columns. */
static void test_migrate_v3(void)
{
	char path[256], err[512];
	struct store *st;

	in_dir(path, "v2.sqlite");
	sql_exec(path,
		 "CREATE TABLE verdicts (ip BLOB NOT NULL PRIMARY KEY CHECK (length(ip) = 16),"
		 " ip_text TEXT NOT NULL, family INTEGER NOT NULL CHECK (family IN (4, 6)),"
		 " mask INTEGER NOT NULL, flags INTEGER NOT NULL, checked INTEGER NOT NULL,"
		 " source TEXT NOT NULL, facts TEXT, created INTEGER NOT NULL,"
		 " updated INTEGER NOT NULL) WITHOUT ROWID;"
		 "CREATE TABLE budget (day INTEGER NOT NULL PRIMARY KEY, calls INTEGER NOT NULL);"
		 "INSERT INTO verdicts VALUES (x'00000000000000000000ffffc0000201', '192.0.2.1',"
		 " 4, 4, 0, 1700000000, 'criminalip', NULL, 1700000000, 1700000000);"
		 "PRAGMA user_version = 2");
	is_int(store_open(path, &st, err, sizeof(err)), 0, "a version 2 database opens");
	store_close(st);
	ok(store_schema_version() >= 3, "schema version 3 or later");
	is_int(sql_int(path, "PRAGMA user_version"), store_schema_version(),
	       "migrated to the current version");
	is_int(sql_int(path, "SELECT count(*) FROM verdicts WHERE probe IS NULL AND "
		       "probed IS NULL AND mask = 4"), 1, "its row kept, never probed");
}

/* A database of schema version 3 gains the overrides table and keeps every row. */
static void test_migrate_v4(void)
{
	char path[256], err[512];
	struct store *st;

	in_dir(path, "v3.sqlite");
	sql_exec(path,
		 "CREATE TABLE verdicts (ip BLOB NOT NULL PRIMARY KEY CHECK (length(ip) = 16),"
		 " ip_text TEXT NOT NULL, family INTEGER NOT NULL CHECK (family IN (4, 6)),"
		 " mask INTEGER NOT NULL, flags INTEGER NOT NULL, checked INTEGER NOT NULL,"
		 " source TEXT NOT NULL, facts TEXT, created INTEGER NOT NULL,"
		 " updated INTEGER NOT NULL, probe TEXT, probed INTEGER) WITHOUT ROWID;"
		 "CREATE TABLE budget (day INTEGER NOT NULL PRIMARY KEY, calls INTEGER NOT NULL);"
		 "INSERT INTO budget VALUES (20000, 17);"
		 "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)"
		 " INSERT INTO verdicts SELECT randomblob(16), 'x', 4, i % 64, 0, 1700000000 + i,"
		 " 'criminalip', '{}', 1700000000, 1700000000,"
		 " CASE WHEN i % 2 THEN 'confirmed' END, CASE WHEN i % 2 THEN 1700000001 END"
		 " FROM n;"
		 "PRAGMA user_version = 3");
	is_int(store_open(path, &st, err, sizeof(err)), 0, "a version 3 database opens");
	store_close(st);
	ok(store_schema_version() >= 4, "schema version 4 or later");
	is_int(sql_int(path, "PRAGMA user_version"), store_schema_version(),
	       "migrated to the current version");
	is_int(sql_int(path, "SELECT count(*) FROM verdicts"), 1000, "every verdict kept");
	is_int(sql_int(path, "SELECT sum(mask) + sum(checked - 1700000000) FROM verdicts"),
	       31020 + 499500, "with its mask and time");
	is_int(sql_int(path, "SELECT count(*) FROM verdicts WHERE probe = 'confirmed'"), 500,
	       "and its probe");
	is_int(sql_int(path, "SELECT calls FROM budgets WHERE day = 20000 AND"
		       " provider = 'criminalip'"), 17,
	       "the day's count kept, as Criminal IP's (v5: per provider)");
	is_int(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'budget'"), 0,
	       "the table of one count per day is gone");
	is_int(sql_int(path, "SELECT count(*) FROM overrides"), 0, "no overrides yet");
}

static int collect_ovr(void *arg, const struct override *o)
{
	struct override *out = arg;
	size_t i = 0;

	while (out[i].len)
		i++;
	if (i >= 7)
		return -ENOSPC;
	out[i] = *o;
	return 0;
}

static int count_rows(void *arg, const struct store_row *r)
{
	size_t *n = arg;

	(void)r;
	(*n)++;
	return 0;
}

/* The overrides, a purge by prefix, and an import that is all or nothing. */
static void test_overrides(void)
{
	char path[256], err[512];
	struct override o = { 0 }, got[8];
	struct store_row rows[3];
	struct ipaddr ip;
	struct store *st;
	uint64_t n = 0;
	size_t nrows = 0;

	in_dir(path, "ovr.sqlite");
	if (!ok(store_open(path, &st, err, sizeof(err)) == 0, "open ovr.sqlite: %s", err))
		return;
	ok(override_parse_prefix("192.0.2.0/24", &o.net, &o.len, err, sizeof(err)) == 0,
	   "a prefix parses");
	o.kind = OVERRIDE_ADD;
	o.cat = VERDICT_TOR;
	o.created = 1700000000;
	strcpy(o.reason, "seen scanning");
	strcpy(o.who, "root");
	is_int(store_override_set(st, &o), 0, "an add is stored");
	o.cat = VERDICT_PROXY;
	is_int(store_override_set(st, &o), 0, "the same prefix again replaces it");
	override_parse_prefix("2001:db8::/32", &o.net, &o.len, err, sizeof(err));
	o.kind = OVERRIDE_ALLOW;
	o.cat = -1;
	o.reason[0] = '\0';
	is_int(store_override_set(st, &o), 0, "an allow is stored");
	memset(got, 0, sizeof(got));
	is_int(store_override_list(st, collect_ovr, got), 0, "listed");
	ok(got[0].len == 120 && got[0].kind == OVERRIDE_ADD && got[0].cat == VERDICT_PROXY &&
	   strcmp(got[0].reason, "seen scanning") == 0 && strcmp(got[0].who, "root") == 0 &&
	   got[0].created == 1700000000, "the add as stored, replaced once");
	ok(got[1].len == 32 && got[1].kind == OVERRIDE_ALLOW && got[2].len == 0,
	   "the allow, and nothing else");
	is_int(store_override_unset(st, &o.net, o.len), 0, "unset");
	is_int(store_override_unset(st, &o.net, o.len), -ENOENT, "unset again: -ENOENT");
	is_int(sql_int(path, "SELECT count(*) FROM overrides"), 1, "one left in the file");

	/* purge by prefix: rows in it go, rows outside stay */
	memset(rows, 0, sizeof(rows));
	ipaddr_parse(&rows[0].ip, "192.0.2.1");
	ipaddr_parse(&rows[1].ip, "192.0.2.255");
	ipaddr_parse(&rows[2].ip, "192.0.3.0");
	for (int i = 0; i < 3; i++) {
		rows[i].v.mask = VERDICT_BIT(VERDICT_VPN);
		rows[i].v.checked = 1700000000;
		rows[i].source = "import";
	}
	is_int(store_import(st, rows, 3, NULL, 0), 0, "three rows imported");
	override_parse_prefix("192.0.2.0/24", &ip, &o.len, err, sizeof(err));
	is_int(store_purge_prefix(st, &ip, o.len, &n), 0, "a prefix purged");
	is_int((long long)n, 2, "its two rows");
	is_int(store_export(st, count_rows, &nrows), 0, "exported");
	is_int((long long)nrows, 1, "the row outside it stays");

	/* an override that cannot be written rolls the verdicts back with it */
	sql_exec(path, "CREATE TRIGGER no_ovr BEFORE INSERT ON overrides"
		       " BEGIN SELECT RAISE(ABORT, 'refused'); END");
	o.kind = OVERRIDE_ALLOW;
	ok(store_import(st, rows, 2, &o, 1) < 0, "an import whose override fails fails");
	nrows = 0;
	store_export(st, count_rows, &nrows);
	is_int((long long)nrows, 1, "and none of its verdicts is there");
	store_close(st);
}

static void test_round_trip(void)
{
	static const char *const ips[] = {
		"93.184.216.34", "1.2.3.4", "2001:db8::1", "2a00:1450:4001:82b::200e",
		"::ffff:7f00:2",
	};
	struct verdict v[5] = {
		{ VERDICT_BIT(VERDICT_VPN) | VERDICT_BIT(VERDICT_OPENVPN443), 0, 1700000001 },
		{ 0, 0, 1700000002 },
		{ 0, VERDICT_F_UNKNOWN, 1700000003 },
		{ VERDICT_BIT(VERDICT_TOR) | VERDICT_BIT(VERDICT_SCANNER), 0, 4000000000u },
		{ VERDICT_ALL, 0, 1 },
	};
	struct verdict nv = { VERDICT_BIT(VERDICT_HOSTING), 0, 1700000100 };
	struct ipaddr ip[5];
	struct store *st;
	struct store_stats ss;
	struct rows rs;
	char path[256], err[256], text[256];
	char *source, *facts;
	int rc, okrows = 0;

	in_dir(path, "rt.sqlite");
	rc = store_open(path, &st, err, sizeof(err));
	if (!ok(rc == 0, "a missing file is created")) {
		printf("# %s\n", err);
		return;
	}
	is_int(sql_int(path, "PRAGMA user_version"), store_schema_version(),
	       "user_version is the schema version");
	ok(store_schema_version() >= 1, "schema version is at least 1");
	sql_text(path, "PRAGMA journal_mode", text, sizeof(text));
	is_str(text, "wal", "the database is in WAL mode");

	for (int i = 0; i < 5; i++) {
		ip[i] = ip_of(ips[i]);
		if (store_put(st, &ip[i], &v[i], "criminalip",
			      i == 0 ? "{\"is_vpn\":true}" : NULL) == 0)
			okrows++;
	}
	is_int(okrows, 5, "five puts queued");
	is_int(store_start(st), 0, "writer started");
	is_int(store_start(st), -EALREADY, "a second start is refused");
	ok(wait_queued(st, 0, 5) == 0, "the writer empties the queue");
	store_get_stats(st, &ss);
	is_int(ss.written, 5, "five rows written");
	is_int(ss.failed, 0, "no failed commit");
	is_int(sql_int(path, "SELECT count(*) FROM verdicts"), 5,
	       "rows visible to another connection while the server runs");
	store_close(st);

	load_rows(path, &rs);
	is_int(rs.n, 5, "reopened: five rows loaded");
	okrows = 0;
	for (int i = 0; i < 5; i++)
		okrows += same(find(&rs, &ip[i]), &v[i]);
	is_int(okrows, 5, "every row back with the same mask, flags and checked");

	sql_text(path, "SELECT ip_text FROM verdicts WHERE family = 4 AND mask = 3",
		 text, sizeof(text));
	is_str(text, "93.184.216.34", "ip_text of an IPv4 row is a dotted quad");
	sql_text(path, "SELECT ip_text FROM verdicts WHERE family = 6 AND flags = 1",
		 text, sizeof(text));
	is_str(text, "2001:db8::1", "ip_text and family of an IPv6 row");
	is_int(sql_int(path, "SELECT count(*) FROM verdicts WHERE length(ip) = 16 AND "
		       "hex(ip) = '00000000000000000000FFFF5DB8D822'"), 1,
	       "the key of an IPv4 address is IPv4-mapped IPv6");

	/* overwrite, delete, and a put before start written by close */
	rc = store_open(path, &st, err, sizeof(err));
	ok(rc == 0, "reopen for writing");
	if (rc < 0)
		return;
	store_put(st, &ip[0], &nv, "test", "{\"is_hosting\":true}");
	store_delete(st, &ip[1]);
	store_close(st);

	load_rows(path, &rs);
	is_int(rs.n, 4, "after overwrite and delete: four rows");
	ok(same(find(&rs, &ip[0]), &nv), "the overwritten IP has the new verdict");
	is_str(source_of(&rs, &ip[0]), "test", "store_load hands over the new source");
	is_str(source_of(&rs, &ip[2]), "criminalip", "and the source of an older row");
	ok(!find(&rs, &ip[1]), "the deleted IP is gone");
	is_int(sql_int(path, "SELECT count(*) FROM verdicts WHERE created <= updated AND "
		       "updated >= strftime('%s','now') - 60"), 4,
	       "created and updated are set");

	/* the tool's helpers */
	rc = store_open(path, &st, err, sizeof(err));
	if (rc < 0)
		return;
	memset(&nv, 0, sizeof(nv));
	rc = store_get(st, &ip[0], &nv, &source, &facts);
	is_int(rc, 0, "store_get finds a row");
	ok(rc == 0 && nv.mask == VERDICT_BIT(VERDICT_HOSTING) && nv.checked == 1700000100,
	   "store_get returns the verdict");
	is_str(rc == 0 ? source : NULL, "test", "store_get returns the source");
	is_str(rc == 0 ? facts : NULL, "{\"is_hosting\":true}", "store_get returns the facts");
	if (rc == 0) {
		free(source);
		free(facts);
	}
	rc = store_get(st, &ip[2], &nv, &source, &facts);
	ok(rc == 0 && facts == NULL && nv.flags == VERDICT_F_UNKNOWN,
	   "store_get: facts NULL when none were stored");
	if (rc == 0)
		free(source);
	is_int(store_get(st, &ip[1], &nv, NULL, NULL), -ENOENT, "store_get: -ENOENT");
	is_int(store_purge(st, &ip[3]), 0, "store_purge removes a row");
	is_int(store_purge(st, &ip[3]), -ENOENT, "store_purge again: -ENOENT");
	store_close(st);
	is_int(sql_int(path, "SELECT count(*) FROM verdicts"), 3, "purged row is gone");
	test_probe_rows(path, ip);
}

struct listed {
	int n, sorted, facts, nulls;
	struct ipaddr last;
};

static int list_cb(void *arg, const struct ipaddr *ip, const struct verdict *v,
		   const char *source, const char *facts)
{
	struct listed *l = arg;

	if (l->n && memcmp(l->last.b, ip->b, 16) >= 0)
		l->sorted = 0;
	l->last = *ip;
	l->n++;
	if (strcmp(source, "criminalip") == 0 && v->mask == VERDICT_BIT(VERDICT_TOR)) {
		if (facts && strcmp(facts, "{}") == 0)
			l->facts++;
		else if (!facts)
			l->nulls++;
	}
	return l->n == 50 ? 7 : 0;
}

static void test_list(void)
{
	struct store *st;
	struct listed l = { .sorted = 1 };
	struct verdict v = { VERDICT_BIT(VERDICT_TOR), 0, 1700000000 };
	struct ipaddr ip;
	char path[256], err[256];

	if (store_open(in_dir(path, "list.sqlite"), &st, err, sizeof(err)) < 0) {
		ok(0, "open list.sqlite: %s", err);
		return;
	}
	for (unsigned i = 0; i < 40; i++) {
		ip = v4(0xc6336400u + (i * 37 % 40));
		store_put(st, &ip, &v, "criminalip", "{}");
	}
	for (unsigned i = 0; i < 20; i++) {
		ip = ip_of("2a01:4f8::");
		ip.b[15] = (uint8_t)(i * 7 % 20);
		store_put(st, &ip, &v, "criminalip", NULL);
	}
	store_close(st); /* never started: close writes the queue itself */
	if (store_open(path, &st, err, sizeof(err)) < 0)
		return;
	is_int(store_list(st, list_cb, &l), 7, "store_list stops with fn's value");
	is_int(l.n, 50, "store_list stopped at the 50th row");
	ok(l.sorted, "store_list is in key order");
	/* IPv4-mapped keys (::ffff:...) sort before 2a01::, and only they have facts */
	is_int(l.facts, 40, "store_list passes source and facts");
	is_int(l.nulls, 10, "and NULL facts as NULL");
	store_close(st);
}

/* `threatbl db purge` on the file of a running threatbld. */
static void test_two_handles(void)
{
	struct verdict v = { VERDICT_BIT(VERDICT_VPN), 0, 1700000000 }, got;
	struct store *srv, *tool;
	struct store_stats ss;
	struct ipaddr ip;
	char path[256], err[256];

	if (store_open(in_dir(path, "two.sqlite"), &srv, err, sizeof(err)) < 0) {
		ok(0, "open two.sqlite: %s", err);
		return;
	}
	store_start(srv);
	for (unsigned i = 1; i <= 3; i++) {
		ip = v4(0x05050500 + i);
		store_put(srv, &ip, &v, "criminalip", NULL);
	}
	ok(wait_queued(srv, 0, 3) == 0, "server wrote three rows");
	if (store_open(path, &tool, err, sizeof(err)) == 0) {
		ip = v4(0x05050501);
		is_int(store_purge(tool, &ip), 0, "the tool purges a row while the server runs");
		ip = v4(0x05050502);
		is_int(store_get(tool, &ip, &got, NULL, NULL), 0, "and reads another");
		store_close(tool);
	} else {
		ok(0, "the tool opens the file of a running server: %s", err);
	}
	ip = v4(0x05050504);
	store_put(srv, &ip, &v, "criminalip", NULL);
	ok(wait_queued(srv, 0, 3) == 0, "the server writes after the tool");
	store_get_stats(srv, &ss);
	is_int(ss.failed, 0, "without a failed commit");
	store_close(srv);
	is_int(sql_int(path, "SELECT count(*) FROM verdicts"), 3, "three rows remain");
}

static void test_refusals(void)
{
	struct store *st = NULL;
	char path[256], err[256];
	int rc, fd;

	/* a newer schema */
	in_dir(path, "future.sqlite");
	sql_exec(path, "PRAGMA user_version = 99");
	err[0] = 0;
	rc = store_open(path, &st, err, sizeof(err));
	ok(rc < 0 && !st, "a newer schema version is refused");
	{
		char want[512];

		snprintf(want, sizeof(want), "database %s has schema version 99; this "
			 "threatbld knows up to %d", path, store_schema_version());
		is_str(err, want, "with a message naming both versions");
	}

	/* not a database */
	in_dir(path, "garbage.sqlite");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	for (int i = 0; i < 64; i++)
		if (write(fd, "this is not a database, just text\n", 34) != 34)
			break;
	close(fd);
	err[0] = 0;
	rc = store_open(path, &st, err, sizeof(err));
	ok(rc < 0 && !st, "a file that is not a database is refused");
	ok(strstr(err, path) && strstr(err, "not a database"), "message: %s", err);

	/* a missing directory */
	in_dir(path, "nodir/sub/x.sqlite");
	err[0] = 0;
	rc = store_open(path, &st, err, sizeof(err));
	is_int(rc, -ENOENT, "a missing directory is refused");
	ok(strstr(err, "nodir/sub does not exist") != NULL, "message: %s", err);
	ok(access(path, F_OK) < 0, "and nothing was created");

	/* a directory where the file should be */
	in_dir(path, "adir");
	mkdir(path, 0755);
	err[0] = 0;
	rc = store_open(path, &st, err, sizeof(err));
	ok(rc < 0 && strstr(err, path), "a directory as the database is refused: %s", err);

	/* someone else's database */
	in_dir(path, "other.sqlite");
	sql_exec(path, "CREATE TABLE t (x)");
	err[0] = 0;
	rc = store_open(path, &st, err, sizeof(err));
	ok(rc < 0 && strstr(err, "not a threatbl database"),
	   "a version 0 database with tables is refused: %s", err);

	/* corrupt: a b-tree page overwritten */
	in_dir(path, "corrupt.sqlite");
	if (store_open(path, &st, err, sizeof(err)) == 0) {
		struct verdict v = { 1, 0, 1 };
		struct ipaddr ip;
		char junk[1024];

		for (unsigned i = 0; i < 3000; i++) {
			ip = v4(0x0b000000u + i * 977);
			store_put(st, &ip, &v, "criminalip", "{\"a\":1}");
		}
		store_close(st);
		st = NULL;
		memset(junk, 0x5a, sizeof(junk));
		fd = open(path, O_WRONLY);
		/* a page of the verdicts (the first pages are the schema's, the budget's
		 * and the overrides' empty tables) */
		rc = (int)pwrite(fd, junk, sizeof(junk), 9 * 4096 + 8);
		close(fd);
		ok(rc == (int)sizeof(junk), "corrupted a page");
		err[0] = 0;
		rc = store_open(path, &st, err, sizeof(err));
		ok(rc < 0 && !st && strstr(err, "corrupt"), "a corrupt database is refused: %s",
		   err);
	} else {
		ok(0, "create corrupt.sqlite: %s", err);
	}
}

/* A file that cannot be opened for writing. root may write anything, so as root
 * the check runs in a child that has become nobody. */
static void test_readonly(void)
{
	char path[256], err[256] = "";
	struct store *st;
	int p[2], status = 0, rc;
	ssize_t n;
	pid_t pid;

	in_dir(path, "ro.sqlite");
	if (store_open(path, &st, err, sizeof(err)) < 0) {
		ok(0, "create ro.sqlite: %s", err);
		return;
	}
	store_close(st);
	chmod(path, 0444);
	chmod(dir, 0755);
	if (geteuid() != 0) {
		rc = store_open(path, &st, err, sizeof(err));
		ok(rc < 0, "a read-only file is refused");
		ok(strstr(err, "cannot be opened for writing") != NULL, "message: %s", err);
		goto out;
	}
	if (pipe(p) < 0) {
		ok(0, "pipe");
		goto out;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		rc = store_open(path, &st, err, sizeof(err));
		n = write(p[1], err, strlen(err) + 1);
		_exit(rc < 0 ? 0 : n > 0 ? 1 : 2);
	}
	close(p[1]);
	memset(err, 0, sizeof(err));
	n = read(p[0], err, sizeof(err) - 1);
	close(p[0]);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a read-only file is refused (as nobody; exit %d)", WEXITSTATUS(status));
	ok(n > 0 && strstr(err, "cannot be opened for writing") && strstr(err, path),
	   "message: %s", err);
out:
	chmod(dir, 0700);
}

static void test_write_failure(void)
{
	struct verdict v = { VERDICT_BIT(VERDICT_PROXY), 0, 1700000000 };
	struct store_stats ss;
	struct store *st;
	struct rows rs;
	struct ipaddr ip;
	char path[256], err[256], last[512];
	double t0;

	if (store_open(in_dir(path, "full.sqlite"), &st, err, sizeof(err)) < 0) {
		ok(0, "open full.sqlite: %s", err);
		return;
	}
	store_start(st);
	ip = v4(0x01010101);
	store_put(st, &ip, &v, "criminalip", NULL);
	ok(wait_queued(st, 0, 3) == 0, "a first row is written");

	atomic_store(&vfs_fail_writes, 1);
	for (unsigned i = 0; i < 10; i++) {
		ip = v4(0x02020200 + i);
		v.checked = 1700000000 + i;
		store_put(st, &ip, &v, "criminalip", NULL);
	}
	ip = v4(0x01010101);
	store_delete(st, &ip);
	t0 = now_s();
	ok(wait_failed(st, 1, 3) == 0, "the commit fails on a full disk");
	store_get_stats(st, &ss);
	is_int(ss.queued, 11, "the rows stay queued");
	is_int(ss.written, 1, "nothing more is written");
	is_int(logged(LOG_LVL_WARN, path, last, sizeof(last)), 1, "one warning");
	ok(strstr(last, "full") && strstr(last, "11 verdicts"), "saying why: %s", last);
	ok(wait_failed(st, 2, 3) == 0, "the writer retries");
	diag("second attempt %.2f s after the first failure", now_s() - t0);
	store_get_stats(st, &ss);
	is_int(ss.queued, 11, "rows still queued after the retry");
	is_int(logged(LOG_LVL_WARN, path, NULL, 0), 1, "still one warning in the episode");

	atomic_store(&vfs_fail_writes, 0);
	ok(wait_queued(st, 0, 5) == 0, "once the disk has room the rows are written");
	store_get_stats(st, &ss);
	is_int(ss.written, 12, "all of them");
	is_int(ss.failed, 2, "after two failed commits");
	/* one line per schema migration, then the one that says it writes again */
	ok(logged(LOG_LVL_INFO, path, last, sizeof(last)) == (unsigned)store_schema_version() + 1 &&
	   strstr(last, "again"),
	   "writing again is logged: %s", last);
	store_close(st);
	load_rows(path, &rs);
	is_int(rs.n, 10, "reopened: the ten rows, and the deleted row gone");
}

/* store_close on a disk that keeps failing; runs on a thread of its own beside the
 * million rows (the wait is long), and reports afterwards. */
struct closing {
	pthread_t thread;
	char path[256];
	int opened;
	double secs;
};

static void *closing_run(void *arg)
{
	struct verdict v = { VERDICT_BIT(VERDICT_PROXY), 0, 1700000000 };
	struct closing *c = arg;
	struct store *st;
	struct ipaddr ip;
	char err[256];
	double t0;

	if (store_open(c->path, &st, err, sizeof(err)) < 0)
		return NULL;
	c->opened = 1;
	store_start(st);
	atomic_store(&vfs_fail_writes, 1);
	for (unsigned i = 0; i < 5; i++) {
		ip = v4(0x03030300 + i);
		store_put(st, &ip, &v, "criminalip", NULL);
	}
	t0 = now_s();
	store_close(st);
	c->secs = now_s() - t0;
	atomic_store(&vfs_fail_writes, 0);
	return NULL;
}

static void closing_start(struct closing *c)
{
	in_dir(c->path, "full-close.sqlite");
	if (pthread_create(&c->thread, NULL, closing_run, c))
		c->thread = 0;
}

static void closing_report(struct closing *c)
{
	char last[512];

	if (!c->thread) {
		ok(0, "closing thread");
		return;
	}
	pthread_join(c->thread, NULL);
	ok(c->opened, "open full-close.sqlite");
	ok(c->secs > 4 && c->secs < 7, "store_close gives up on a failing disk after %.2f s",
	   c->secs);
	ok(logged(LOG_LVL_ERROR, c->path, last, sizeof(last)) == 1 &&
	   strstr(last, "5 verdicts lost"), "and logs the loss: %s", last);
	is_int(sql_int(c->path, "SELECT count(*) FROM verdicts"), 0, "nothing was written");
}

/* A million rows: keys spread over the IPv4 space like real traffic. */
#define MILLION 1000000u
#define SPREAD 2654435761u /* odd: i * SPREAD is a bijection of 32-bit numbers */

struct big {
	uint32_t inverse;
	unsigned char *seen;
	size_t n, wrong;
};

static int big_cb(void *arg, const struct ipaddr *ip, const struct verdict *v,
		  const char *source)
{
	struct big *b = arg;
	uint32_t i = ipaddr_v4(ip) * b->inverse;

	b->n++;
	if (!ipaddr_is_v4(ip) || i >= MILLION || b->seen[i] ||
	    v->mask != (i & VERDICT_ALL) || v->flags != (i % 7 == 0) ||
	    v->checked != 1600000000u + i || !source || strcmp(source, "criminalip")) {
		b->wrong++;
		return 0;
	}
	b->seen[i] = 1;
	return 0;
}

static void test_million(void)
{
	struct big b = { .inverse = SPREAD };
	struct store_stats ss;
	struct store *st;
	struct ipaddr ip;
	struct verdict v;
	char path[256], err[256];
	unsigned refused = 0;
	double t0, t1;

	for (int k = 0; k < 5; k++) /* Newton: inverse of SPREAD modulo 2^32 */
		b.inverse *= 2 - SPREAD * b.inverse;
	if (store_open(in_dir(path, "big.sqlite"), &st, err, sizeof(err)) < 0) {
		ok(0, "open big.sqlite: %s", err);
		return;
	}
	/* Before the writer starts, so that the queue's bound is reached. */
	t0 = now_s();
	for (uint32_t i = 0; i < MILLION; i++) {
		ip = v4(i * SPREAD);
		v.mask = i & VERDICT_ALL;
		v.flags = i % 7 == 0;
		v.checked = 1600000000u + i;
		if (store_put(st, &ip, &v, "criminalip", "{\"score\":\"low\"}") < 0)
			refused++;
	}
	t1 = now_s();
	diag("1,000,000 store_put: %.3f s", t1 - t0);
	is_int(refused, 0, "a million rows fit in the queue");
	ip = v4(0x7f000002);
	is_int(store_put(st, &ip, &v, "criminalip", NULL), -ENOBUFS, "one more: -ENOBUFS");
	is_int(store_delete(st, &ip), -ENOBUFS, "a delete too");
	is_int(logged(LOG_LVL_WARN, path, NULL, 0), 1, "one warning for both");
	store_get_stats(st, &ss);
	is_int(ss.dropped, 2, "dropped counts them");

	t0 = now_s();
	store_start(st);
	ok(wait_queued(st, 0, 30) == 0, "the writer writes them all");
	t1 = now_s();
	store_get_stats(st, &ss);
	diag("1,000,000 rows written in %.3f s (%llu commits failed)", t1 - t0,
	     (unsigned long long)ss.failed);
	is_int(ss.written, MILLION, "a million rows committed");
	store_close(st);

	t0 = now_s();
	if (store_open(path, &st, err, sizeof(err)) < 0) {
		ok(0, "reopen big.sqlite: %s", err);
		return;
	}
	t1 = now_s();
	diag("store_open of 1,000,000 rows (with quick_check): %.3f s", t1 - t0);
	b.seen = calloc(MILLION, 1);
	t0 = now_s();
	is_int(store_load(st, big_cb, &b), 0, "store_load succeeds");
	t1 = now_s();
	diag("store_load of 1,000,000 rows: %.3f s", t1 - t0);
	ok(t1 - t0 < 2, "store_load of a million rows takes under 2 s");
	is_int(b.n, MILLION, "a million rows loaded");
	is_int(b.wrong, 0, "every one with its own mask, flags and checked");
	free(b.seen);
	store_close(st);
}

static void cleanup(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "chmod -R u+w %s; rm -rf %s", dir, dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	struct closing closing = { 0 };

	snprintf(dir, sizeof(dir), "%s/test_store.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp %s", dir);
		return done_testing();
	}
	log_set_level(LOG_LVL_DEBUG);
	log_set_sink(log_capture, NULL);
	shim_install();
	test_readonly(); /* forks: before any thread exists */
	test_round_trip();
	test_migrate_v3();
	test_migrate_v4();
	test_overrides();
	test_list();
	test_two_handles();
	test_refusals();
	test_write_failure();
	closing_start(&closing);
	test_million();
	closing_report(&closing);
	cleanup();
	log_set_sink(NULL, NULL);
	return done_testing();
}
