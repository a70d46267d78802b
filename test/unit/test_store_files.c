/* test_store_files.c - store.c and its files: no symbolic links followed, the mode of a
 * new database, the daily call count across reopenings, and a database deleted while
 * the writer runs (created again with the verdicts held in memory). */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipaddr.h"
#include "store.h"
#include "tap.h"

static char dir[] = "/tmp/test_store_files.XXXXXX";

static const char *at(char *buf, const char *name)
{
	snprintf(buf, 512, "%s/%s", dir, name);
	return buf;
}

static int exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static void test_links(void)
{
	char db[512], target[512], wal[600], err[512];
	struct store *st = NULL;
	int rc;

	/* a dangling link at the database path: refused, its target never made */
	at(target, "elsewhere.sqlite");
	at(db, "dangling.sqlite");
	ok(symlink(target, db) == 0, "made a dangling link");
	rc = store_open(db, &st, err, sizeof(err));
	is_int(rc, -ELOOP, "a dangling link at the database path is refused");
	ok(!st, "nothing opened");
	ok(strstr(err, "symbolic link") && strstr(err, db), "saying so: %s", err);
	ok(!exists(target), "the link's target was not created");

	/* a link to an existing database: refused too, the file untouched */
	at(db, "real.sqlite");
	ok(store_open(db, &st, err, sizeof(err)) == 0, "a real database opens");
	store_close(st);
	st = NULL;
	at(target, "link-to-real.sqlite");
	ok(symlink(db, target) == 0, "made a link to it");
	is_int(store_open(target, &st, err, sizeof(err)), -ELOOP,
	       "a link to a real database is refused");

	/* a link at the -wal name */
	at(db, "walink.sqlite");
	snprintf(wal, sizeof(wal), "%s-wal", db);
	at(target, "wal-target");
	ok(symlink(target, wal) == 0, "made a link at the -wal name");
	rc = store_open(db, &st, err, sizeof(err));
	is_int(rc, -ELOOP, "a link at the -wal name is refused");
	ok(strstr(err, "-wal"), "naming the -wal file: %s", err);
	ok(!exists(target) && !exists(db), "neither the target nor the database was created");

	/* a directory at the database path */
	at(db, "adir.sqlite");
	ok(mkdir(db, 0700) == 0, "made a directory");
	ok(store_open(db, &st, err, sizeof(err)) < 0 && strstr(err, "not a regular file"),
	   "a directory is refused: %s", err);
}

static void test_mode(void)
{
	char db[512], err[512];
	struct store *st = NULL;
	struct stat sb;
	mode_t old = umask(0);

	at(db, "mode.sqlite");
	ok(store_open(db, &st, err, sizeof(err)) == 0, "a new database: %s", err);
	ok(stat(db, &sb) == 0 && (sb.st_mode & 0777) == 0640,
	   "is created 0640 (got %o)", (unsigned)(sb.st_mode & 0777));
	store_close(st);
	umask(old);
}

/* One statement on the file, through a connection of its own (another process). */
static int sql_run(const char *db, const char *sql)
{
	sqlite3 *h;
	int rc = sqlite3_open(db, &h);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc;
}

/* The daily counts, one per provider (doc/providers.md#budgets). */
static void test_budget(void)
{
	char db[512], err[512], sql[256], name[16];
	struct store *st = NULL;
	int64_t today = (int64_t)time(NULL) / 86400;

	at(db, "budget.sqlite");
	ok(store_open(db, &st, err, sizeof(err)) == 0, "open: %s", err);
	is_int(store_budget_get(st, "criminalip", today), 0, "a new database: no calls today");
	for (int i = 0; i < 3; i++)
		store_budget_add(st, "criminalip", today, 1, 0);
	store_budget_add(st, "abuseipdb", today, 1, 0);
	is_int(store_budget_get(st, "criminalip", today), 3, "three calls of one provider");
	is_int(store_budget_get(st, "abuseipdb", today), 1, "one of another, counted apart");
	is_int(store_budget_get(st, "ipinfo", today), 0, "none of a third");
	is_int(store_budget_get(st, "criminalip", today - 1), 0, "another day has its own count");
	store_budget_add(st, "criminalip", today - 1, 1, 0);
	is_int(store_budget_get(st, "criminalip", today), 3, "a call of an older day is not counted");
	store_budget_add(st, "a-provider-name-longer-than-the-column-allows", today, 1, 0);
	is_int(store_budget_get(st, "a-provider-name-longer-than-the-column-allows", today), 0,
	       "a name too long is not counted (and nothing breaks)");
	for (int i = 0; i < STORE_BUDGETS; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		store_budget_add(st, name, today, 1, 0);
	}
	is_int(store_budget_get(st, "p5", today), 1, "more providers, up to the table's size");
	is_int(store_budget_get(st, "p7", today), 0, "past STORE_BUDGETS: not counted");
	ok(store_start(st) == 0, "writer started");
	store_close(st);
	is_int(sql_run(db, "SELECT 1 FROM budgets WHERE provider = 'p7'"), SQLITE_OK,
	       "the budgets table is there");

	st = NULL;
	ok(store_open(db, &st, err, sizeof(err)) == 0, "reopened: %s", err);
	is_int(store_budget_get(st, "criminalip", today), 3, "today's calls survive a restart");
	is_int(store_budget_get(st, "abuseipdb", today), 1, "each provider's");
	store_close(st);

	/* another daemon on the same file counted more: the larger count holds */
	snprintf(sql, sizeof(sql), "UPDATE budgets SET calls = 10 WHERE provider = 'abuseipdb'"
		 " AND day = %lld", (long long)today);
	is_int(sql_run(db, sql), SQLITE_OK, "another process counts 10 calls");
	st = NULL;
	ok(store_open(db, &st, err, sizeof(err)) == 0, "reopened: %s", err);
	is_int(store_budget_get(st, "abuseipdb", today), 10, "read at open");
	store_budget_add(st, "abuseipdb", today, 1, 0);
	ok(store_start(st) == 0, "writer started");
	store_close(st);
	st = NULL;
	ok(store_open(db, &st, err, sizeof(err)) == 0, "reopened: %s", err);
	is_int(store_budget_get(st, "abuseipdb", today), 11, "and counted on");
	store_budget_add(st, "abuseipdb", today, 5, 0);
	is_int(store_budget_get(st, "abuseipdb", today), 16, "several calls at once (db copy)");
	store_budget_add(st, "abuseipdb", today, UINT32_MAX, 1);
	ok(store_budget_get(st, "abuseipdb", today) == UINT32_MAX, "the count saturates");
	store_budget_add(st, "criminalip", today + 1, 1, 0);
	is_int(store_budget_get(st, "criminalip", today + 1), 1, "a new day starts");
	is_int(store_budget_get(st, "criminalip", today), 0, "and forgets the last");
	store_close(st);
}

/* The "memory" of a server: three verdicts. */
static int refills;
static int refill(void *arg, int (*fn)(void *, const struct ipaddr *, const struct verdict *),
		  void *fnarg)
{
	static const char *const ips[] = { "192.0.2.1", "198.51.100.7", "2001:db8::5" };

	(void)arg;
	refills++;
	for (size_t i = 0; i < 3; i++) {
		struct ipaddr ip;
		struct verdict v = { .mask = (uint8_t)(1u << i), .checked = 1700000000 };
		int rc;

		ipaddr_parse(&ip, ips[i]);
		if ((rc = fn(fnarg, &ip, &v)))
			return rc;
	}
	return 0;
}

static int count_rows(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM verdicts", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	return n;
}

static void test_deleted(void)
{
	char db[512], name[600], err[512];
	struct store *st = NULL;
	struct verdict v = { .mask = 1, .checked = 1700000000 };
	struct ipaddr ip;
	int n = -1;

	at(db, "deleted.sqlite");
	ok(store_open(db, &st, err, sizeof(err)) == 0, "open: %s", err);
	store_set_refill(st, refill, NULL);
	ok(store_start(st) == 0, "writer started");
	unlink(db);
	snprintf(name, sizeof(name), "%s-wal", db);
	unlink(name);
	snprintf(name, sizeof(name), "%s-shm", db);
	unlink(name);
	ok(!exists(db), "the database was deleted under the writer");
	/* the idle writer looks every two seconds */
	for (int i = 0; i < 100 && (n = exists(db) ? count_rows(db) : -1) < 3; i++)
		usleep(100 * 1000);
	is_int(n, 3, "it is created again, with the verdicts held in memory");
	is_int(refills, 1, "memory was asked once");
	ipaddr_parse(&ip, "203.0.113.9");
	ok(store_put(st, &ip, &v, "test", NULL) == 0, "a new verdict is queued");
	store_close(st);
	is_int(count_rows(db), 4, "and written into the new file");
}

int main(void)
{
	char cmd[600];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_links();
	test_mode();
	test_budget();
	test_deleted();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
