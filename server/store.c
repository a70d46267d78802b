/* store.c - the verdicts in sqlite, so that they survive restarts (see store.h). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "override.h"
#include "store_op.h"
#include "store_pg.h"

#define STORE_BATCH 1000           /* rows the writer waits for ... */
#define STORE_GATHER_MS 200        /* ... or this long, before a transaction */
#define STORE_BATCH_MAX 100000     /* rows per transaction when they pile up */
#define STORE_BUSY_MS 3000         /* wait for another writer (`threatbl db purge`) */
#define STORE_BACKOFF_MIN_MS 1000  /* retry delay after a failed commit, doubling */
#define STORE_BACKOFF_MAX_MS 30000
#define STORE_CLOSE_RETRY_MS 250   /* retry delay once store_close waits */
#define STORE_CLOSE_MS 5000        /* how long store_close retries a failing disk */
#define STORE_FULL_WARN_S 60       /* at most one queue-full warning per minute */
#define STORE_CHECK_MS 2000        /* how often an idle writer looks for its file */
#define STORE_BUDGET_KEEP_DAYS 31  /* daily call counts kept */
#define STORE_FILE_MODE 0640       /* a new database: verdicts are not for everyone */

struct store_oplist {
	struct store_op *head, *tail;
	size_t n;
};

struct store {
	sqlite3 *db;  /* used by one thread at a time: the opener, then the writer */
	char *path;
	sqlite3_stmt *upsert, *del, *probe;

	pthread_mutex_t mu;         /* guards everything below */
	pthread_cond_t wake;        /* to the writer: rows queued, or stop */
	struct store_oplist queue;  /* waiting changes, oldest first */
	size_t inflight;            /* rows the writer holds (being written or retried) */
	int started, stop;
	struct timespec stop_deadline;
	uint64_t written, failed, dropped;
	uint64_t dropped_unwarned;
	time_t last_full_warn;
	struct store_budget budget[STORE_BUDGETS]; /* per provider (store_budget_add) */
	unsigned nbudget;
	int budget_dirty;           /* a count not yet written */
	int budget_inflight;        /* counts taken by the writer, not yet written */
	int (*refill)(void *arg, int (*fn)(void *fnarg, const struct ipaddr *ip,
					   const struct verdict *v), void *fnarg);
	void *refill_arg;
	store_verdict_fn listener;
	void *listener_arg;
	pthread_t thread;
	struct store_pg *pg;        /* PostgreSQL (store_pg.h); NULL: sqlite. Then path is
				     * the URI without its password. */

	/* The writer thread's own (the opener's before store_start). */
	dev_t dev;                  /* the file opened, to notice it deleted or replaced */
	ino_t ino;
	struct timespec next_check;
};

/* A migration brings schema version N to N + 1; it runs inside a transaction. */
static int store_migrate_v1(sqlite3 *db)
{
	/* ip is the 16-byte key of ipaddr.h; ip_text and family are for people using the
	 * sqlite3 shell. WITHOUT ROWID: the key is the row, there is no other index. */
	return sqlite3_exec(db,
		"CREATE TABLE verdicts ("
		" ip BLOB NOT NULL PRIMARY KEY CHECK (length(ip) = 16),"
		" ip_text TEXT NOT NULL,"
		" family INTEGER NOT NULL CHECK (family IN (4, 6)),"
		" mask INTEGER NOT NULL,"
		" flags INTEGER NOT NULL,"
		" checked INTEGER NOT NULL,"
		" source TEXT NOT NULL,"
		" facts TEXT,"
		" created INTEGER NOT NULL,"
		" updated INTEGER NOT NULL"
		") WITHOUT ROWID", NULL, NULL, NULL);
}

/* The calls made to the lookup service per UTC day, so that daily-budget holds across
 * restarts. */
static int store_migrate_v2(sqlite3 *db)
{
	return sqlite3_exec(db,
		"CREATE TABLE budget ("
		" day INTEGER NOT NULL PRIMARY KEY,"
		" calls INTEGER NOT NULL"
		")", NULL, NULL, NULL);
}

/* threatbl's own OpenVPN probe (probe.c): its last result ("confirmed",
 * "not-openvpn", "unconfirmed") and when; NULL when the IP was never probed. A put
 * of a new report leaves them, the next probe replaces them. */
static int store_migrate_v3(sqlite3 *db)
{
	return sqlite3_exec(db,
		"ALTER TABLE verdicts ADD COLUMN probe TEXT;"
		" ALTER TABLE verdicts ADD COLUMN probed INTEGER", NULL, NULL, NULL);
}

/* The operator's overrides (override.h), keyed by the canonical prefix text; net and
 * len as override.h keeps them. A migration from v3 adds the table and touches no
 * verdict. */
static int store_migrate_v4(sqlite3 *db)
{
	return sqlite3_exec(db,
		"CREATE TABLE overrides ("
		" prefix TEXT NOT NULL PRIMARY KEY,"
		" net BLOB NOT NULL CHECK (length(net) = 16),"
		" len INTEGER NOT NULL CHECK (len BETWEEN 0 AND 128),"
		" kind TEXT NOT NULL CHECK (kind IN ('allow', 'add')),"
		" category TEXT,"
		" reason TEXT NOT NULL DEFAULT '',"
		" created INTEGER NOT NULL,"
		" who TEXT NOT NULL DEFAULT ''"
		") WITHOUT ROWID", NULL, NULL, NULL);
}

/* The daily counts per provider (doc/providers.md#budgets): the rows of the day-keyed
 * table were Criminal IP's, the only provider before there were several. */
static int store_migrate_v5(sqlite3 *db)
{
	return sqlite3_exec(db,
		"CREATE TABLE budgets ("
		" provider TEXT NOT NULL,"
		" day INTEGER NOT NULL,"
		" calls INTEGER NOT NULL,"
		" PRIMARY KEY (provider, day)"
		") WITHOUT ROWID;"
		" INSERT INTO budgets (provider, day, calls)"
		"  SELECT 'criminalip', day, calls FROM budget;"
		" DROP TABLE budget", NULL, NULL, NULL);
}

static int (*const store_migrations[])(sqlite3 *db) = {
	store_migrate_v1,
	store_migrate_v2,
	store_migrate_v3,
	store_migrate_v4,
	store_migrate_v5,
};

#define STORE_SCHEMA ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

int store_schema_version(void)
{
	return STORE_SCHEMA;
}

static int store_errno(sqlite3 *db, int rc)
{
	int sys;

	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return -EINVAL;
	case SQLITE_CANTOPEN:
		sys = db ? sqlite3_system_errno(db) : 0;
		return sys > 0 ? -sys : -EIO;
	default:
		return -EIO;
	}
}

static void store_deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static int store_ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* sqlite creates a missing file but the message for a missing directory is only
 * "unable to open database file": say which directory. */
static int store_check_dir(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	struct stat sb;

	if (!slash)
		return 0;
	if ((size_t)(slash - path) >= sizeof(dir)) {
		snprintf(err, errlen, "database %s: path too long", path);
		return -ENAMETOOLONG;
	}
	if (slash == path) {
		strcpy(dir, "/");
	} else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	if (stat(dir, &sb) < 0) {
		int e = errno;

		snprintf(err, errlen, "database %s: directory %s %s", path, dir,
			 e == ENOENT ? "does not exist" : strerror(e));
		return -e;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "database %s: %s is not a directory", path, dir);
		return -ENOTDIR;
	}
	return 0;
}

/* The first value of a query or PRAGMA, as text on one line ("ok" from quick_check,
 * "wal" from journal_mode, a user_version). */
static int store_query(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);

		snprintf(out, outlen, "%s", t ? (const char *)t : "");
		for (char *nl = out; (nl = strchr(nl, '\n')); )
			*nl = ' '; /* the error message is one line */
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

static int store_query_int(sqlite3 *db, const char *sql, int *out)
{
	char text[32];
	int rc;

	if ((rc = store_query(db, sql, text, sizeof(text))) == SQLITE_OK)
		*out = atoi(text);
	return rc;
}

static int store_migrate(struct store *st, int version, char *err, size_t errlen)
{
	int rc, tables;

	if (version == 0) {
		/* Version 0 is a new file: refuse to add tables to someone else's database. */
		rc = store_query_int(st->db, "SELECT count(*) FROM sqlite_schema", &tables);
		if (rc != SQLITE_OK)
			goto fail;
		if (tables > 0) {
			snprintf(err, errlen, "database %s has schema version 0 and %d tables: "
				 "not a threatbl database", st->path, tables);
			return -EINVAL;
		}
	}
	while (version < STORE_SCHEMA) {
		rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		/* Another process (a second threatbld, the tool) may have migrated it. */
		rc = store_query_int(st->db, "PRAGMA user_version", &version);
		if (rc == SQLITE_OK && version < STORE_SCHEMA) {
			char sql[64];

			rc = store_migrations[version](st->db);
			snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
			if (rc == SQLITE_OK)
				rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
		}
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		if (version < STORE_SCHEMA) {
			version++;
			log_info("database %s: schema version %d", st->path, version);
		}
	}
	return 0;
fail:
	snprintf(err, errlen, "database %s: cannot update the schema to version %d: %s",
		 st->path, version + 1, sqlite3_errmsg(st->db));
	rc = store_errno(st->db, rc);
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static void store_free_ops(struct store_op *op)
{
	while (op) {
		struct store_op *next = op->next;

		free(op);
		op = next;
	}
}

static void store_disconnect(struct store *st);

static void store_free(struct store *st)
{
	store_disconnect(st);
	store_pg_close(st->pg);
	store_free_ops(st->queue.head);
	pthread_cond_destroy(&st->wake);
	pthread_mutex_destroy(&st->mu);
	free(st->path);
	free(st);
}

static int store_prepare(struct store *st)
{
	static const char upsert[] =
		"INSERT INTO verdicts (ip, ip_text, family, mask, flags, checked, source,"
		" facts, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)"
		" ON CONFLICT (ip) DO UPDATE SET mask = excluded.mask,"
		" flags = excluded.flags, checked = excluded.checked,"
		" source = excluded.source, facts = excluded.facts,"
		" updated = excluded.updated";
	int rc;

	rc = sqlite3_prepare_v3(st->db, upsert, -1, SQLITE_PREPARE_PERSISTENT,
				&st->upsert, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(st->db, "DELETE FROM verdicts WHERE ip = ?1", -1,
					SQLITE_PREPARE_PERSISTENT, &st->del, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(st->db, "UPDATE verdicts SET mask = ?2, flags = ?3,"
					" probe = ?4, probed = ?5, updated = ?5 WHERE ip = ?1",
					-1, SQLITE_PREPARE_PERSISTENT, &st->probe, NULL);
	return rc;
}

static int store_init(struct store *st)
{
	pthread_condattr_t ca;
	int rc;

	if ((rc = pthread_condattr_init(&ca)))
		return -rc;
	if (!(rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) &&
	    !(rc = pthread_cond_init(&st->wake, &ca)) &&
	    (rc = pthread_mutex_init(&st->mu, NULL)))
		pthread_cond_destroy(&st->wake);
	pthread_condattr_destroy(&ca);
	return -rc;
}

/* The database and its -wal and -shm files must not be symbolic links: the daemon opens
 * them as root and then hands them to [server] user, who may be able to write the
 * directory and plant a link to any file. A missing database is created here, with
 * STORE_FILE_MODE and without following a link (sqlite's -wal and -shm take its mode). */
static int store_check_files(const char *path, char *err, size_t errlen)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char name[4096];
	struct stat sb;
	int fd;

	for (size_t i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "%s%s", path, suffix[i]);
		if (lstat(name, &sb) < 0) {
			if (errno == ENOENT)
				continue;
			snprintf(err, errlen, "database %s: %s", name, strerror(errno));
			return -errno;
		}
		if (S_ISLNK(sb.st_mode)) {
			snprintf(err, errlen, "database %s is a symbolic link: refusing to follow "
				 "it (name the file itself in [server] database or -d)", name);
			return -ELOOP;
		}
		if (!S_ISREG(sb.st_mode)) {
			snprintf(err, errlen, "database %s is not a regular file", name);
			return -EINVAL;
		}
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, STORE_FILE_MODE);
	if (fd >= 0)
		close(fd);
	else if (errno != EEXIST) {
		snprintf(err, errlen, "database %s cannot be created: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* The entry of provider; with make, made when there is none. NULL when there is none,
 * the table is full or the name too long. Under st->mu. */
static struct store_budget *store_budget_entry(struct store *st, const char *provider,
					       int make)
{
	struct store_budget *b;

	for (unsigned i = 0; i < st->nbudget; i++)
		if (!strcmp(st->budget[i].provider, provider))
			return &st->budget[i];
	if (!make || st->nbudget == STORE_BUDGETS || strlen(provider) >= sizeof(b->provider))
		return NULL;
	b = &st->budget[st->nbudget++];
	memset(b, 0, sizeof(*b));
	strcpy(b->provider, provider);
	return b;
}

/* A count read from the database for provider on day: the known count becomes at
 * least that. Under st->mu. */
static void store_budget_known(struct store *st, const char *provider, int64_t day,
			       int64_t calls)
{
	struct store_budget *b = store_budget_entry(st, provider, 1);
	uint32_t n = calls < 0 ? 0 : calls > UINT32_MAX ? UINT32_MAX : (uint32_t)calls;

	if (!b || day < b->day)
		return;
	if (day > b->day) {
		b->day = day;
		b->calls = 0;
		b->add = 0;
	}
	if (n > b->calls)
		b->calls = n;
}

/* Today's call counts, from the budgets table (on the opening thread: the start, or
 * the writer opening a deleted file again while the lookup thread runs). st->mu is
 * taken per row, never across sqlite3_step: the lookup thread reads the counts
 * (store_budget_get) and must not wait on the file. */
static int store_read_budget(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int64_t day = (int64_t)time(NULL) / 86400;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "SELECT provider, calls FROM budgets WHERE day = ?1",
				-1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(s, 1, day);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *provider = (const char *)sqlite3_column_text(s, 0);
		int64_t calls = sqlite3_column_int64(s, 1);

		if (!provider)
			continue;
		pthread_mutex_lock(&st->mu);
		store_budget_known(st, provider, day, calls);
		pthread_mutex_unlock(&st->mu);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Open st->path with sqlite and bring it up to date: the start, and the writer when
 * the file was deleted under it. Returns a negative errno with a line in err. */
static int store_connect(struct store *st, char *err, size_t errlen)
{
	const char *path = st->path;
	char text[256];
	struct stat sb;
	int rc, version = 0;

	if ((rc = store_check_files(path, err, errlen)) < 0)
		return rc;
	/* NOMUTEX: the connection is used by one thread at a time (the opener until
	 * store_start, then the writer), which makes the start-up load cheaper.
	 * NOFOLLOW: a link planted after the check above is refused too. */
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "database %s cannot be opened: %s", path,
			 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		snprintf(err, errlen, "database %s cannot be opened for writing", path);
		rc = SQLITE_READONLY;
		goto fail;
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);

	rc = store_query_int(st->db, "PRAGMA user_version", &version);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "database %s cannot be read: %s", path,
			 sqlite3_errmsg(st->db));
		goto fail;
	}
	if (version > STORE_SCHEMA) {
		snprintf(err, errlen, "database %s has schema version %d; this threatbld "
			 "knows up to %d", path, version, STORE_SCHEMA);
		return -EPROTO;
	}
	rc = store_query(st->db, "PRAGMA quick_check(1)", text, sizeof(text));
	if (rc != SQLITE_OK || strcmp(text, "ok") != 0) {
		snprintf(err, errlen, "database %s is corrupt: %s", path,
			 rc != SQLITE_OK ? sqlite3_errmsg(st->db) : text);
		if (rc == SQLITE_OK)
			rc = SQLITE_CORRUPT;
		goto fail;
	}
	/* WAL: readers (`threatbl db`) never block the writer; synchronous=NORMAL: a
	 * crash loses at most the last batches, the file stays consistent. A larger
	 * cache and fewer checkpoints keep a backlog of random keys from rewriting the
	 * same pages over and over; the WAL is cut back to 64 MB after a checkpoint. */
	rc = store_query(st->db, "PRAGMA journal_mode = WAL", text, sizeof(text));
	if (rc == SQLITE_OK && strcmp(text, "wal") != 0) {
		snprintf(err, errlen, "database %s cannot use WAL mode (journal mode %s)",
			 path, text);
		rc = SQLITE_CANTOPEN;
		goto fail;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL;"
				  " PRAGMA cache_size = -65536;"
				  " PRAGMA wal_autocheckpoint = 10000;"
				  " PRAGMA journal_size_limit = 67108864", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "database %s cannot be opened for writing: %s", path,
			 sqlite3_errmsg(st->db));
		goto fail;
	}
	if ((rc = store_migrate(st, version, err, errlen)) < 0)
		return rc;
	if ((rc = store_prepare(st)) != SQLITE_OK ||
	    (rc = store_read_budget(st)) != SQLITE_OK) {
		snprintf(err, errlen, "database %s: %s", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	if (stat(path, &sb) < 0) {
		snprintf(err, errlen, "database %s: %s", path, strerror(errno));
		return -errno;
	}
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	return 0;
fail:
	return store_errno(st->db, rc);
}

/* Close the connection (its statements first). */
static void store_disconnect(struct store *st)
{
	sqlite3_finalize(st->upsert);
	sqlite3_finalize(st->del);
	sqlite3_finalize(st->probe);
	st->upsert = st->del = st->probe = NULL;
	if (st->db)
		sqlite3_close_v2(st->db);
	st->db = NULL;
}

/* PostgreSQL: the front of store.c with store_pg.c behind it. */
static int store_open_pg(const char *uri, const struct store_options *o,
			 struct store **out, char *err, size_t errlen)
{
	struct store_budget today[STORE_BUDGETS];
	struct store *st;
	char name[1024];
	size_t n = 0;
	int rc;

	store_pg_redact(uri, name, sizeof(name));
	st = calloc(1, sizeof(*st));
	if (!st || !(st->path = strdup(name))) {
		free(st);
		snprintf(err, errlen, "database %s: out of memory", name);
		return -ENOMEM;
	}
	if ((rc = store_init(st)) < 0) {
		snprintf(err, errlen, "database %s: %s", name, strerror(-rc));
		free(st->path);
		free(st);
		return rc;
	}
	if ((rc = store_pg_open(uri, o ? o->password_file : NULL,
				o && o->password_what ? o->password_what :
				"database-password-file", &st->pg, today,
				STORE_BUDGETS, &n, err, errlen)) < 0) {
		store_free(st);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		store_budget_known(st, today[i].provider, today[i].day, today[i].calls);
	*out = st;
	return 0;
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	return store_open_opts(path, NULL, out, err, errlen);
}

int store_exists(const char *database)
{
	if (!database || !*database)
		return -EINVAL;
	if (store_pg_is_uri(database))
		return 0;
	return access(database, F_OK) ? -errno : 0;
}

int store_open_opts(const char *path, const struct store_options *o, struct store **out,
		    char *err, size_t errlen)
{
	struct store *st;
	int rc;

	*out = NULL;
	if (!path || !*path) {
		snprintf(err, errlen, "no database file given");
		return -EINVAL;
	}
	if (store_pg_is_uri(path))
		return store_open_pg(path, o, out, err, errlen);
	if ((rc = store_check_dir(path, err, errlen)) < 0)
		return rc;
	st = calloc(1, sizeof(*st));
	if (!st || !(st->path = strdup(path))) {
		free(st);
		snprintf(err, errlen, "database %s: out of memory", path);
		return -ENOMEM;
	}
	if ((rc = store_init(st)) < 0) {
		snprintf(err, errlen, "database %s: %s", path, strerror(-rc));
		free(st->path);
		free(st);
		return rc;
	}
	if ((rc = store_connect(st, err, errlen)) < 0) {
		store_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

/* ip, mask, flags, checked from columns col..col+3; 0 when the key is malformed. */
static int store_row(sqlite3_stmt *s, int col, struct ipaddr *ip, struct verdict *v)
{
	const void *key = sqlite3_column_blob(s, col);

	if (!key || sqlite3_column_bytes(s, col) != (int)sizeof(ip->b))
		return 0;
	memcpy(ip->b, key, sizeof(ip->b));
	memset(v, 0, sizeof(*v));
	v->mask = (uint8_t)sqlite3_column_int(s, col + 1);
	v->flags = (uint8_t)sqlite3_column_int(s, col + 2);
	v->checked = (uint32_t)sqlite3_column_int64(s, col + 3);
	return 1;
}

int store_load(struct store *st, store_verdict_fn fn, void *arg)
{
	sqlite3_stmt *s;
	struct ipaddr ip;
	struct verdict v;
	unsigned long bad = 0;
	int rc, ret = 0;

	if (st->pg)
		return store_pg_load(st->pg, fn, arg);
	/* One pass over the table needs a small page cache. With the writer's 64 MB
	 * one, every page read would stay resident (freed heap pages are not given back
	 * to the system) beside the same verdicts in cache.c: 95 instead of 26 bytes per
	 * verdict at a million. */
	sqlite3_exec(st->db, "PRAGMA cache_size = -2048", NULL, NULL, NULL);
	rc = sqlite3_prepare_v2(st->db, "SELECT ip, mask, flags, checked, source FROM verdicts",
				-1, &s, NULL);
	if (rc != SQLITE_OK) {
		log_err("database %s: %s", st->path, sqlite3_errmsg(st->db));
		return store_errno(st->db, rc);
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (!store_row(s, 0, &ip, &v))
			bad++;
		else if ((ret = fn(arg, &ip, &v, (const char *)sqlite3_column_text(s, 4))))
			break;
	}
	if (!ret && rc != SQLITE_DONE) {
		log_err("database %s: reading verdicts: %s", st->path, sqlite3_errmsg(st->db));
		ret = store_errno(st->db, rc);
	}
	sqlite3_finalize(s);
	sqlite3_db_release_memory(st->db);
	sqlite3_exec(st->db, "PRAGMA cache_size = -65536", NULL, NULL, NULL);
	if (bad)
		log_warn("database %s: %lu rows with a malformed ip skipped", st->path, bad);
	return ret;
}

/* The providers' counts of the day (the larger one, should two daemons share the
 * file), and no days older than STORE_BUDGET_KEEP_DAYS. Inside the writer's
 * transaction. */
static int store_write_budget(struct store *st, const struct store_budget *b, size_t nb)
{
	sqlite3_stmt *s = NULL;
	int64_t newest = 0;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "INSERT INTO budgets (provider, day, calls)"
				" VALUES (?1, ?2, ?3) ON CONFLICT (provider, day)"
				" DO UPDATE SET calls = max(calls, excluded.calls)", -1, &s, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < nb; i++) {
		sqlite3_bind_text(s, 1, b[i].provider, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, b[i].day);
		sqlite3_bind_int64(s, 3, b[i].calls);
		rc = sqlite3_step(s);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_reset(s);
		if (b[i].day > newest)
			newest = b[i].day;
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_OK && newest) {
		char sql[96];

		snprintf(sql, sizeof(sql), "DELETE FROM budgets WHERE day < %lld",
			 (long long)(newest - STORE_BUDGET_KEEP_DAYS));
		rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	}
	return rc;
}

/* Write ops and the counts b (nb of them) in one transaction; on failure nothing is
 * written and the sqlite message is put into err. */
static int store_write(struct store *st, const struct store_op *op,
		       const struct store_budget *b, size_t nb, char *err, size_t errlen)
{
	char ip_text[IPADDR_STRLEN];
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK && nb)
		rc = store_write_budget(st, b, nb);
	for (; rc == SQLITE_OK && op; op = op->next) {
		if (op->kind == STORE_OP_DEL) {
			s = st->del;
			sqlite3_bind_blob(s, 1, op->ip.b, sizeof(op->ip.b), SQLITE_STATIC);
		} else if (op->kind == STORE_OP_PROBE) {
			s = st->probe;
			sqlite3_bind_blob(s, 1, op->ip.b, sizeof(op->ip.b), SQLITE_STATIC);
			sqlite3_bind_int(s, 2, op->v.mask);
			sqlite3_bind_int(s, 3, op->v.flags);
			sqlite3_bind_text(s, 4, op->text, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 5, op->when);
		} else {
			s = st->upsert;
			ipaddr_format(&op->ip, ip_text);
			sqlite3_bind_blob(s, 1, op->ip.b, sizeof(op->ip.b), SQLITE_STATIC);
			sqlite3_bind_text(s, 2, ip_text, -1, SQLITE_STATIC);
			sqlite3_bind_int(s, 3, ipaddr_is_v4(&op->ip) ? 4 : 6);
			sqlite3_bind_int(s, 4, op->v.mask);
			sqlite3_bind_int(s, 5, op->v.flags);
			sqlite3_bind_int64(s, 6, op->v.checked);
			sqlite3_bind_text(s, 7, op->text, -1, SQLITE_STATIC);
			if (op->facts)
				sqlite3_bind_text(s, 8, op->facts, -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(s, 8);
			sqlite3_bind_int64(s, 9, op->when);
		}
		rc = sqlite3_step(s);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		else
			snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
		sqlite3_reset(s);
	}
	if (rc == SQLITE_OK) {
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
	} else if (!s) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
	}
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Move up to max ops from the head of src to the tail of dst. */
static void store_take(struct store_oplist *dst, struct store_oplist *src, size_t max)
{
	struct store_op *first = src->head, *last = NULL, *op = first;
	size_t n = 0;

	while (op && n < max) {
		last = op;
		op = op->next;
		n++;
	}
	if (!n)
		return;
	src->head = op;
	if (!op)
		src->tail = NULL;
	src->n -= n;
	last->next = NULL;
	if (dst->tail)
		dst->tail->next = first;
	else
		dst->head = first;
	dst->tail = last;
	dst->n += n;
}

/* One row from the memory of the server, written back into a re-created file. */
static int store_refill_row(void *arg, const struct ipaddr *ip, const struct verdict *v)
{
	struct store *st = arg;
	char ip_text[IPADDR_STRLEN];
	sqlite3_stmt *s = st->upsert;
	int rc;

	ipaddr_format(ip, ip_text);
	sqlite3_bind_blob(s, 1, ip->b, sizeof(ip->b), SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ip_text, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, ipaddr_is_v4(ip) ? 4 : 6);
	sqlite3_bind_int(s, 4, v->mask);
	sqlite3_bind_int(s, 5, v->flags);
	sqlite3_bind_int64(s, 6, v->checked);
	sqlite3_bind_text(s, 7, "restored", -1, SQLITE_STATIC);
	sqlite3_bind_null(s, 8);
	sqlite3_bind_int64(s, 9, v->checked);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Writer thread: when the file is gone or another file has taken its name (deleted
 * by mistake, a restore gone wrong), open a new one and write back what the server
 * holds in memory, so that a restart finds it. With no connection (a re-creation
 * that failed) try again. */
static void store_check_file(struct store *st)
{
	char err[512];
	struct stat sb;
	int (*refill)(void *, int (*)(void *, const struct ipaddr *, const struct verdict *),
		      void *);
	void *refill_arg;
	int rc;

	if (st->pg)
		return; /* PostgreSQL reconnects by itself (store_pg_write) */
	if (st->db && stat(st->path, &sb) == 0 && sb.st_dev == st->dev && sb.st_ino == st->ino)
		return;
	if (st->db) {
		log_err("database %s was deleted or replaced while threatbld ran: creating it "
			"again and writing back the verdicts held in memory", st->path);
		store_disconnect(st);
	}
	if ((rc = store_connect(st, err, sizeof(err))) < 0) {
		store_disconnect(st);
		log_err("%s; the verdicts stay in memory and queued", err);
		return;
	}
	pthread_mutex_lock(&st->mu);
	refill = st->refill;
	refill_arg = st->refill_arg;
	st->budget_dirty = 1;
	pthread_mutex_unlock(&st->mu);
	if (!refill)
		return;
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK && refill(refill_arg, store_refill_row, st) == 0)
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	else
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		log_err("database %s: cannot write the verdicts back: %s", st->path,
			sqlite3_errmsg(st->db));
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	log_info("database %s: created again with the verdicts held in memory", st->path);
}

/* After a write of the counts b: what was added is written (and the fleet's count read
 * back into b's calls); after a failed one the counts are written with the next batch.
 * The entries may have moved on meanwhile. Writer's thread, st->mu unlocked. */
static void store_budget_written(struct store *st, const struct store_budget *b, size_t nb,
				 int ok)
{
	pthread_mutex_lock(&st->mu);
	st->budget_inflight = 0;
	for (size_t i = 0; i < nb; i++) {
		struct store_budget *e = store_budget_entry(st, b[i].provider, 0);

		if (!e || e->day != b[i].day)
			continue;
		if (!ok) {
			st->budget_dirty = 1;
			continue;
		}
		e->add -= b[i].add <= e->add ? b[i].add : e->add;
		if (b[i].calls > e->calls)
			e->calls = b[i].calls;
	}
	pthread_mutex_unlock(&st->mu);
}

/* The writer thread; store_close also runs it in place when the thread never
 * started. Called and returns with st->mu unlocked. */
static void *store_writer(void *arg)
{
	struct store *st = arg;
	struct store_oplist batch = { 0 };
	struct timespec until;
	unsigned backoff = 0;   /* ms before the next retry; 0 = the last write worked */
	unsigned long tries = 0; /* failed writes in this episode */
	char err[256] = "";

	pthread_mutex_lock(&st->mu);
	for (;;) {
		struct store_budget bsnap[STORE_BUDGETS];
		struct store_op *done;
		size_t n, nb = 0;
		int rc;

		while (!st->queue.n && !batch.n && !st->stop && !st->budget_dirty) {
			/* Idle: look at the file now and then, so that a deleted database
			 * is noticed before the next verdict needs it. */
			store_deadline(&until, STORE_CHECK_MS);
			if (pthread_cond_timedwait(&st->wake, &st->mu, &until) == ETIMEDOUT) {
				pthread_mutex_unlock(&st->mu);
				store_check_file(st);
				pthread_mutex_lock(&st->mu);
			}
		}
		if (!st->queue.n && !batch.n && !st->budget_dirty)
			break;
		if (!backoff && !st->stop && batch.n + st->queue.n < STORE_BATCH) {
			/* Let the batch fill: one transaction per row would be slow. */
			store_deadline(&until, STORE_GATHER_MS);
			while (!st->stop && batch.n + st->queue.n < STORE_BATCH)
				if (pthread_cond_timedwait(&st->wake, &st->mu, &until) == ETIMEDOUT)
					break;
		}
		/* A backlog goes in big transactions: with random keys, a commit of
		 * 1000 rows rewrites about 1000 pages of a big table. */
		store_take(&batch, &st->queue, STORE_BATCH_MAX - batch.n);
		st->inflight = batch.n;
		if (st->budget_dirty) {
			nb = st->nbudget;
			memcpy(bsnap, st->budget, nb * sizeof(bsnap[0]));
			st->budget_dirty = 0;
			st->budget_inflight = nb > 0;
		}
		pthread_mutex_unlock(&st->mu);

		store_check_file(st);
		if (st->pg)
			rc = store_pg_write(st->pg, batch.head, bsnap, nb, err, sizeof(err))
			     ? SQLITE_ERROR : SQLITE_OK;
		else if (st->db)
			rc = store_write(st, batch.head, bsnap, nb, err, sizeof(err));
		else {
			rc = SQLITE_CANTOPEN;
			snprintf(err, sizeof(err), "the file could not be created again");
		}
		if (nb)
			store_budget_written(st, bsnap, nb, rc == SQLITE_OK);

		if (rc == SQLITE_OK) {
			done = batch.head;
			n = batch.n;
			batch.head = batch.tail = NULL;
			batch.n = 0;
			if (tries)
				log_info("database %s: writing again after %lu failed attempts",
					 st->path, tries);
			tries = 0;
			backoff = 0;
			store_free_ops(done);
			pthread_mutex_lock(&st->mu);
			st->written += n;
			st->inflight = 0;
			continue;
		}

		/* Keep the rows, in order, and retry: the disk may get space again. */
		if (!tries)
			log_warn("database %s: cannot write %zu verdicts: %s; keeping them "
				 "queued and retrying", st->path, batch.n, err);
		tries++;
		backoff = !backoff ? STORE_BACKOFF_MIN_MS :
			  backoff * 2 > STORE_BACKOFF_MAX_MS ? STORE_BACKOFF_MAX_MS : backoff * 2;
		pthread_mutex_lock(&st->mu);
		st->failed++;
		if (!st->stop) {
			store_deadline(&until, backoff);
			while (!st->stop)
				if (pthread_cond_timedwait(&st->wake, &st->mu, &until) == ETIMEDOUT)
					break;
		}
		if (st->stop) {
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (!store_ts_before(&now, &st->stop_deadline)) {
				size_t lost = batch.n + st->queue.n;

				store_take(&batch, &st->queue, st->queue.n);
				st->inflight = 0;
				pthread_mutex_unlock(&st->mu);
				log_err("database %s: %zu verdicts lost, not written: %s",
					st->path, lost, err);
				store_free_ops(batch.head);
				return NULL;
			}
			/* Closing: retry soon, until the deadline. */
			store_deadline(&until, STORE_CLOSE_RETRY_MS);
			if (store_ts_before(&st->stop_deadline, &until))
				until = st->stop_deadline;
			while (pthread_cond_timedwait(&st->wake, &st->mu, &until) == 0)
				;
		}
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

int store_start(struct store *st)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	if (st->started) {
		pthread_mutex_unlock(&st->mu);
		return -EALREADY;
	}
	if (st->pg && (rc = -store_pg_start(st->pg, st->listener, st->listener_arg))) {
		pthread_mutex_unlock(&st->mu);
		return -rc;
	}
	rc = pthread_create(&st->thread, NULL, store_writer, st);
	if (!rc) {
		st->started = 1;
		pthread_setname_np(st->thread, "tbl-store");
	}
	pthread_mutex_unlock(&st->mu);
	return -rc;
}

/* PostgreSQL away for long: the oldest queued change makes room for the new one,
 * counted in dropped and warned about at most once a minute. With st->mu held. */
static void store_drop_oldest(struct store *st)
{
	struct store_op *old = st->queue.head;
	time_t now = time(NULL);

	st->queue.head = old->next;
	if (!st->queue.head)
		st->queue.tail = NULL;
	st->queue.n--;
	st->dropped++;
	st->dropped_unwarned++;
	free(old);
	if (now - st->last_full_warn >= STORE_FULL_WARN_S) {
		st->last_full_warn = now;
		log_warn("database %s: %d changes waiting to be written; the oldest %llu "
			 "dropped (kept in memory only)", st->path, STORE_QUEUE_MAX,
			 (unsigned long long)st->dropped_unwarned);
		st->dropped_unwarned = 0;
	}
}

static int store_enqueue(struct store *st, struct store_op *op)
{
	uint64_t dropped = 0;
	time_t now;

	op->next = NULL;
	pthread_mutex_lock(&st->mu);
	if (st->pg && st->queue.n + st->inflight >= STORE_QUEUE_MAX && st->queue.head)
		store_drop_oldest(st); /* a fleet keeps the newest (doc/fleet.md#faults) */
	if (st->queue.n + st->inflight >= STORE_QUEUE_MAX) {
		st->dropped++;
		st->dropped_unwarned++;
		now = time(NULL);
		if (now - st->last_full_warn >= STORE_FULL_WARN_S) {
			st->last_full_warn = now;
			dropped = st->dropped_unwarned;
			st->dropped_unwarned = 0;
		}
		pthread_mutex_unlock(&st->mu);
		free(op);
		if (dropped)
			log_warn("database %s: %d verdicts waiting to be written; %llu more "
				 "kept in memory only", st->path, STORE_QUEUE_MAX,
				 (unsigned long long)dropped);
		return -ENOBUFS;
	}
	if (st->queue.tail)
		st->queue.tail->next = op;
	else
		st->queue.head = op;
	st->queue.tail = op;
	st->queue.n++;
	/* Wake the writer when it waits for a first row or for a full batch. */
	if (st->queue.n == 1 || st->queue.n + st->inflight == STORE_BATCH)
		pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->mu);
	return 0;
}

int store_put(struct store *st, const struct ipaddr *ip, const struct verdict *v,
	      const char *source, const char *facts_json)
{
	return store_put_at(st, ip, v, source, facts_json, (uint32_t)time(NULL));
}

int store_put_at(struct store *st, const struct ipaddr *ip, const struct verdict *v,
		 const char *source, const char *facts_json, uint32_t when)
{
	size_t slen, flen;
	struct store_op *op;

	if (!source)
		source = "";
	slen = strlen(source) + 1;
	flen = facts_json ? strlen(facts_json) + 1 : 0;
	op = malloc(sizeof(*op) + slen + flen);
	if (!op)
		return -ENOMEM;
	op->ip = *ip;
	op->v = *v;
	op->when = when;
	op->kind = STORE_OP_PUT;
	memcpy(op->text, source, slen);
	op->facts = NULL;
	if (facts_json) {
		op->facts = op->text + slen;
		memcpy(op->facts, facts_json, flen);
	}
	return store_enqueue(st, op);
}

int store_put_probe(struct store *st, const struct ipaddr *ip, const struct verdict *v,
		    const char *result, uint32_t when)
{
	size_t rlen = strlen(result) + 1;
	struct store_op *op;

	op = malloc(sizeof(*op) + rlen);
	if (!op)
		return -ENOMEM;
	op->ip = *ip;
	op->v = *v;
	op->when = when;
	op->kind = STORE_OP_PROBE;
	op->facts = NULL;
	memcpy(op->text, result, rlen);
	return store_enqueue(st, op);
}

int store_delete(struct store *st, const struct ipaddr *ip)
{
	struct store_op *op;

	op = calloc(1, sizeof(*op) + 1);
	if (!op)
		return -ENOMEM;
	op->ip = *ip;
	op->kind = STORE_OP_DEL;
	return store_enqueue(st, op);
}

void store_set_refill(struct store *st,
		      int (*refill)(void *arg, int (*fn)(void *fnarg, const struct ipaddr *ip,
							 const struct verdict *v),
				    void *fnarg),
		      void *arg)
{
	pthread_mutex_lock(&st->mu);
	st->refill = refill;
	st->refill_arg = arg;
	pthread_mutex_unlock(&st->mu);
}

uint32_t store_budget_get(struct store *st, const char *provider, int64_t day)
{
	struct store_budget *b;
	uint32_t calls = 0;

	pthread_mutex_lock(&st->mu);
	if ((b = store_budget_entry(st, provider, 0)) && b->day == day)
		calls = b->calls;
	pthread_mutex_unlock(&st->mu);
	return calls;
}

void store_budget_add(struct store *st, const char *provider, int64_t day, uint32_t n,
		      int claimed)
{
	struct store_budget *b;

	pthread_mutex_lock(&st->mu);
	if ((b = store_budget_entry(st, provider, 1)) && day >= b->day) {
		if (day > b->day) {
			b->day = day;
			b->calls = 0;
			b->add = 0;
		}
		b->calls = n > UINT32_MAX - b->calls ? UINT32_MAX : b->calls + n;
		if (!claimed)
			b->add = n > UINT32_MAX - b->add ? UINT32_MAX : b->add + n;
		if (!st->budget_dirty) {
			st->budget_dirty = 1;
			pthread_cond_signal(&st->wake);
		}
	}
	pthread_mutex_unlock(&st->mu);
}

void store_get_stats(struct store *st, struct store_stats *out)
{
	pthread_mutex_lock(&st->mu);
	out->written = st->written;
	out->failed = st->failed;
	out->queued = st->queue.n + st->inflight;
	out->dropped = st->dropped;
	out->budget_pending = st->budget_dirty || st->budget_inflight;
	pthread_mutex_unlock(&st->mu);
}

void store_close(struct store *st)
{
	int started;

	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	st->stop = 1;
	store_deadline(&st->stop_deadline, STORE_CLOSE_MS);
	started = st->started;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->mu);
	if (started)
		pthread_join(st->thread, NULL);
	else
		store_writer(st);
	store_free(st);
}

/* The tool's helpers: synchronous, on the caller's thread. */

static int store_dup_column(sqlite3_stmt *s, int col, char **out)
{
	const unsigned char *t;

	if (!out)
		return 0;
	*out = NULL;
	t = sqlite3_column_text(s, col);
	if (t && !(*out = strdup((const char *)t)))
		return -ENOMEM;
	return 0;
}

int store_get(struct store *st, const struct ipaddr *ip, struct verdict *v,
	      char **source, char **facts)
{
	struct ipaddr key;
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (st->pg)
		return store_pg_get(st->pg, ip, v, source, facts);
	if (source)
		*source = NULL;
	if (facts)
		*facts = NULL;
	rc = sqlite3_prepare_v2(st->db, "SELECT ip, mask, flags, checked, source, facts"
				" FROM verdicts WHERE ip = ?1", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_errno(st->db, rc);
	sqlite3_bind_blob(s, 1, ip->b, sizeof(ip->b), SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && store_row(s, 0, &key, v)) {
		ret = store_dup_column(s, 4, source);
		if (!ret)
			ret = store_dup_column(s, 5, facts);
		if (ret && source) {
			free(*source);
			*source = NULL;
		}
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT : store_errno(st->db, rc);
	}
	sqlite3_finalize(s);
	return ret;
}

int store_get_probe(struct store *st, const struct ipaddr *ip, char **result,
		    uint32_t *when)
{
	sqlite3_stmt *s;
	int rc, ret;

	if (st->pg)
		return store_pg_get_probe(st->pg, ip, result, when);
	*result = NULL;
	*when = 0;
	rc = sqlite3_prepare_v2(st->db, "SELECT probe, probed FROM verdicts WHERE ip = ?1",
				-1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_errno(st->db, rc);
	sqlite3_bind_blob(s, 1, ip->b, sizeof(ip->b), SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*when = (uint32_t)sqlite3_column_int64(s, 1);
		ret = store_dup_column(s, 0, result);
	} else {
		ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT : store_errno(st->db, rc);
	}
	sqlite3_finalize(s);
	return ret;
}

int store_list(struct store *st,
	       int (*fn)(void *arg, const struct ipaddr *ip, const struct verdict *v,
			 const char *source, const char *facts),
	       void *arg)
{
	sqlite3_stmt *s;
	struct ipaddr ip;
	struct verdict v;
	int rc, ret = 0;

	if (st->pg)
		return store_pg_list(st->pg, fn, arg);
	rc = sqlite3_prepare_v2(st->db, "SELECT ip, mask, flags, checked, source, facts"
				" FROM verdicts ORDER BY ip", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_errno(st->db, rc);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (store_row(s, 0, &ip, &v) &&
		    (ret = fn(arg, &ip, &v, (const char *)sqlite3_column_text(s, 4),
			      (const char *)sqlite3_column_text(s, 5))))
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = store_errno(st->db, rc);
	sqlite3_finalize(s);
	return ret;
}

int store_purge(struct store *st, const struct ipaddr *ip)
{
	sqlite3_stmt *s;
	int rc;

	if (st->pg)
		return store_pg_purge(st->pg, ip);
	rc = sqlite3_prepare_v2(st->db, "DELETE FROM verdicts WHERE ip = ?1", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_errno(st->db, rc);
	sqlite3_bind_blob(s, 1, ip->b, sizeof(ip->b), SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_errno(st->db, rc);
	return sqlite3_changes(st->db) ? 0 : -ENOENT;
}

/* The fleet's side (store.h): PostgreSQL only. */

int store_is_fleet(const struct store *st)
{
	return st && st->pg != NULL;
}

const char *store_name(const struct store *st)
{
	return st->path;
}

int store_claim(struct store *st, const struct ipaddr *ip, const struct store_claim_args *a,
		store_claim_cb cb, void *arg)
{
	return st->pg ? store_pg_claim(st->pg, ip, a, cb, arg) : -ENOTSUP;
}

void store_claim_release(struct store *st, const struct ipaddr *ip)
{
	if (st->pg)
		store_pg_release(st->pg, ip);
}

void store_set_listener(struct store *st, store_verdict_fn fn, void *arg)
{
	pthread_mutex_lock(&st->mu);
	st->listener = fn;
	st->listener_arg = arg;
	pthread_mutex_unlock(&st->mu);
}

void store_set_overrides_listener(struct store *st, void (*fn)(void *arg), void *arg)
{
	if (st->pg)
		store_pg_set_overrides_listener(st->pg, fn, arg);
}

void store_get_fleet_stats(struct store *st, struct store_fleet_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (st->pg)
		store_pg_get_stats(st->pg, out);
}

/* --- overrides, prefix purges, export and import (synchronous, like the above) --- */

int store_override_set(struct store *st, const struct override *o)
{
	char prefix[OVERRIDE_PREFIX_STRLEN];
	sqlite3_stmt *s;
	int rc;

	if (st->pg)
		return store_pg_override_set(st->pg, o);

	override_format_prefix(&o->net, o->len, prefix);
	rc = sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO overrides (prefix, net, len,"
				" kind, category, reason, created, who)"
				" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_errno(st->db, rc);
	sqlite3_bind_text(s, 1, prefix, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(s, 2, o->net.b, sizeof(o->net.b), SQLITE_STATIC);
	sqlite3_bind_int(s, 3, (int)o->len);
	sqlite3_bind_text(s, 4, o->kind == OVERRIDE_ALLOW ? "allow" : "add", -1, SQLITE_STATIC);
	if (o->kind == OVERRIDE_ADD)
		sqlite3_bind_text(s, 5, verdict_cat_name((enum verdict_cat)o->cat), -1,
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_text(s, 6, o->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, o->created);
	sqlite3_bind_text(s, 8, o->who, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : store_errno(st->db, rc);
}

int store_override_unset(struct store *st, const struct ipaddr *net, unsigned len)
{
	char prefix[OVERRIDE_PREFIX_STRLEN];
	sqlite3_stmt *s;
	int rc;

	if (st->pg)
		return store_pg_override_unset(st->pg, net, len);

	override_format_prefix(net, len, prefix);
	rc = sqlite3_prepare_v2(st->db, "DELETE FROM overrides WHERE prefix = ?1", -1, &s,
				NULL);
	if (rc != SQLITE_OK)
		return store_errno(st->db, rc);
	sqlite3_bind_text(s, 1, prefix, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_errno(st->db, rc);
	return sqlite3_changes(st->db) ? 0 : -ENOENT;
}

int store_override_list(struct store *st, int (*fn)(void *arg, const struct override *o),
			void *arg)
{
	sqlite3_stmt *s;
	unsigned long bad = 0;
	int rc, ret = 0;

	if (st->pg)
		return store_pg_override_list(st->pg, fn, arg);

	rc = sqlite3_prepare_v2(st->db, "SELECT net, len, kind, category, reason, created,"
				" who FROM overrides ORDER BY net, len", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_errno(st->db, rc);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(s, 2);
		const char *cat = (const char *)sqlite3_column_text(s, 3);
		const char *reason = (const char *)sqlite3_column_text(s, 4);
		const char *who = (const char *)sqlite3_column_text(s, 6);
		struct override o = { .cat = -1 };

		if (sqlite3_column_bytes(s, 0) != (int)sizeof(o.net.b) || !kind) {
			bad++;
			continue;
		}
		memcpy(o.net.b, sqlite3_column_blob(s, 0), sizeof(o.net.b));
		o.len = (unsigned)sqlite3_column_int(s, 1);
		o.kind = strcmp(kind, "allow") == 0 ? OVERRIDE_ALLOW : OVERRIDE_ADD;
		if (o.kind == OVERRIDE_ADD && (!cat || (o.cat = override_cat(cat)) < 0)) {
			bad++;
			continue;
		}
		o.created = (uint32_t)sqlite3_column_int64(s, 5);
		snprintf(o.reason, sizeof(o.reason), "%s", reason ? reason : "");
		snprintf(o.who, sizeof(o.who), "%s", who ? who : "");
		if ((ret = fn(arg, &o)))
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = store_errno(st->db, rc);
	sqlite3_finalize(s);
	if (bad)
		log_warn("database %s: %lu malformed override rows skipped", st->path, bad);
	return ret;
}

/* The first and last 16-byte keys of net/len. */
static void store_prefix_range(const struct ipaddr *net, unsigned len, struct ipaddr *lo,
			       struct ipaddr *hi)
{
	ipaddr_mask(net, len, lo);
	*hi = *lo;
	for (unsigned bit = len; bit < 128; bit++)
		hi->b[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
}

int store_purge_prefix(struct store *st, const struct ipaddr *net, unsigned len,
		       uint64_t *count)
{
	struct ipaddr lo, hi;
	sqlite3_stmt *s;
	int rc;

	*count = 0;
	store_prefix_range(net, len, &lo, &hi);
	if (st->pg)
		return store_pg_purge_range(st->pg, &lo, &hi, count);
	rc = sqlite3_prepare_v2(st->db, "DELETE FROM verdicts WHERE ip BETWEEN ?1 AND ?2", -1,
				&s, NULL);
	if (rc != SQLITE_OK)
		return store_errno(st->db, rc);
	sqlite3_bind_blob(s, 1, lo.b, sizeof(lo.b), SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, hi.b, sizeof(hi.b), SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_errno(st->db, rc);
	*count = (uint64_t)sqlite3_changes64(st->db);
	return 0;
}

int store_export(struct store *st, int (*fn)(void *arg, const struct store_row *r),
		 void *arg)
{
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (st->pg)
		return store_pg_export(st->pg, fn, arg);

	rc = sqlite3_prepare_v2(st->db, "SELECT ip, mask, flags, checked, source, facts,"
				" probe, probed, created, updated FROM verdicts ORDER BY ip",
				-1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_errno(st->db, rc);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_row r = { 0 };

		if (!store_row(s, 0, &r.ip, &r.v))
			continue;
		r.source = (const char *)sqlite3_column_text(s, 4);
		r.facts = (const char *)sqlite3_column_text(s, 5);
		r.probe = (const char *)sqlite3_column_text(s, 6);
		r.probed = (uint32_t)sqlite3_column_int64(s, 7);
		r.created = (uint32_t)sqlite3_column_int64(s, 8);
		r.updated = (uint32_t)sqlite3_column_int64(s, 9);
		if ((ret = fn(arg, &r)))
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = store_errno(st->db, rc);
	sqlite3_finalize(s);
	return ret;
}

int store_import(struct store *st, const struct store_row *rows, size_t n,
		 const struct override *ovr, size_t novr)
{
	char ip_text[IPADDR_STRLEN];
	sqlite3_stmt *s = NULL;
	int rc;

	/* not kept in a fleet's PostgreSQL yet (doc/fleet.md#what-is-shared-and-what-is-not) */
	if (st->pg)
		return -ENOTSUP;

	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(st->db,
			"INSERT INTO verdicts (ip, ip_text, family, mask, flags, checked, source,"
			" facts, created, updated, probe, probed)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
			" ON CONFLICT (ip) DO UPDATE SET mask = excluded.mask,"
			" flags = excluded.flags, checked = excluded.checked,"
			" source = excluded.source, facts = excluded.facts,"
			" updated = excluded.updated, probe = excluded.probe,"
			" probed = excluded.probed", -1, &s, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		const struct store_row *r = &rows[i];
		uint32_t now = (uint32_t)time(NULL);

		ipaddr_format(&r->ip, ip_text);
		sqlite3_bind_blob(s, 1, r->ip.b, sizeof(r->ip.b), SQLITE_STATIC);
		sqlite3_bind_text(s, 2, ip_text, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 3, ipaddr_is_v4(&r->ip) ? 4 : 6);
		sqlite3_bind_int(s, 4, r->v.mask);
		sqlite3_bind_int(s, 5, r->v.flags);
		sqlite3_bind_int64(s, 6, r->v.checked);
		sqlite3_bind_text(s, 7, r->source ? r->source : "import", -1, SQLITE_STATIC);
		if (r->facts)
			sqlite3_bind_text(s, 8, r->facts, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 8);
		sqlite3_bind_int64(s, 9, r->created ? r->created : now);
		sqlite3_bind_int64(s, 10, now);
		if (r->probe) {
			sqlite3_bind_text(s, 11, r->probe, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 12, r->probed);
		} else {
			sqlite3_bind_null(s, 11);
			sqlite3_bind_null(s, 12);
		}
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	/* The overrides in the same transaction: store_override_set makes no
	 * transaction of its own. */
	for (size_t i = 0; rc == SQLITE_OK && i < novr; i++)
		if (store_override_set(st, &ovr[i]) < 0)
			rc = SQLITE_ERROR;
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int err = rc == SQLITE_ERROR ? -EIO : store_errno(st->db, rc);

		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return err;
	}
	return 0;
}
