/* test_store_pg.c - what store_pg.c decides without a server: which databases are
 * PostgreSQL, and the URI as logged (no password in it, whatever its shape). The
 * server side is tested against a real PostgreSQL in test/blackbox/test_fleet.py. */
#include <string.h>

#include "store_pg.h"
#include "tap.h"

static const char *redact(const char *uri, char *buf, size_t n)
{
	store_pg_redact(uri, buf, n);
	return buf;
}

int main(void)
{
	char b[256], tiny[12];

	ok(store_pg_is_uri("postgresql://db/x"), "postgresql:// is PostgreSQL");
	ok(store_pg_is_uri("postgres://db/x"), "postgres:// is PostgreSQL");
	ok(!store_pg_is_uri("/var/lib/threatbl/threatbl.sqlite"), "a path is sqlite");
	ok(!store_pg_is_uri("postgresql.sqlite"), "a file named postgresql... is sqlite");
	ok(!store_pg_is_uri("POSTGRESQL://db/x"), "libpq knows the scheme in lower case only");
	ok(!store_pg_is_uri(NULL), "NULL is no URI");

	is_str(redact("postgresql://tbl:s3cret@db.example:5432/threatbl", b, sizeof(b)),
	       "postgresql://tbl:***@db.example:5432/threatbl", "user:password@ -> ***");
	is_str(redact("postgresql://tbl@db/threatbl", b, sizeof(b)),
	       "postgresql://tbl@db/threatbl", "no password: unchanged");
	is_str(redact("postgresql://db/threatbl?sslmode=require&password=s3cret&x=1", b,
		      sizeof(b)), "postgresql://db/threatbl?sslmode=require&password=***&x=1",
	       "password= parameter -> ***");
	is_str(redact("postgresql://u:p%40ss@h/d?password=a&password=b", b, sizeof(b)),
	       "postgresql://u:***@h/d?password=***&password=***", "both forms, twice");
	is_str(redact("postgresql://u:pw@h/d?mypassword=x", b, sizeof(b)),
	       "postgresql://u:***@h/d?mypassword=x", "only the password parameter itself");
	is_str(redact("postgresql://u:a@b@h/d", b, sizeof(b)), "postgresql://u:***@h/d",
	       "an @ inside the password: up to the last @ of the authority");
	is_str(redact("postgresql://h/d?x=@y:z", b, sizeof(b)), "postgresql://h/d?x=@y:z",
	       "an @ after the path is not the authority's");
	redact("postgresql://user:s3cretpassword@host/db", tiny, sizeof(tiny));
	ok(strlen(tiny) < sizeof(tiny) && !strstr(tiny, "s3cret"),
	   "a short buffer: truncated, still no password (%s)", tiny);
	is_str(redact("not a uri", b, sizeof(b)), "not a uri", "no scheme: unchanged");
	ok(store_pg_schema_version() >= 1, "a schema version");
	return done_testing();
}
