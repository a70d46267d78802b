/* test_provider.c - the provider table: lookup by name, the default for provider =
 * auto, and provider_open naming the backend it opens from its row. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config.h"
#include "provider.h"
#include "tap.h"

static void set_flag(void *arg)
{
	*(int *)arg = 1;
}

static void test_table(void)
{
	const struct provider_kind *k = provider_find("criminalip"), *r;
	size_t n;
	int rows_ok = 1;

	if (ok(k != NULL, "criminalip is in the table")) {
		is_str(k->name, "criminalip", "its config name");
		is_str(k->display, "Criminal IP", "its display name");
	}
	ok(provider_find("CriminalIP") == k, "names are case-insensitive");
	ok(provider_find("shodan") == NULL, "an unknown name finds nothing");
	ok(provider_find("none") == NULL && provider_find("auto") == NULL,
	   "none and auto are config words, not providers");
	ok(provider_find("") == NULL && provider_find(NULL) == NULL, "empty and NULL: nothing");
	ok(provider_find("Criminal IP") == NULL, "the display name is not a config name");
	ok(provider_default() == provider_at(0), "auto means the first row");
	for (n = 0; (r = provider_at(n)); n++) {
		if (!r->name || !r->display || !r->open || provider_find(r->name) != r)
			rows_ok = 0;
	}
	ok(n >= 1 && rows_ok, "%zu row(s), each complete and found by its own name", n);
	ok(provider_at(n) == NULL && provider_at((size_t)-1) == NULL, "nothing past the end");
}

static void test_open(uv_loop_t *loop)
{
	const struct provider_kind *k = provider_find("criminalip");
	struct config *cfg = config_defaults();
	struct provider_backend be;
	char *url;
	int closed = 0;

	if (!ok(cfg != NULL && k != NULL, "defaults and the criminalip row"))
		return;
	is_int(provider_open(NULL, loop, cfg, "key", &be), -EINVAL, "no kind: -EINVAL");
	memset(&be, 0, sizeof(be));
	is_int(provider_open(k, loop, cfg, "", &be), -EINVAL, "the provider's own refusal");
	ok(be.name == NULL && be.fetch == NULL, "a refused backend is not named");
	url = cfg->url;
	cfg->url = "ftp://127.0.0.1";
	is_int(provider_open(k, loop, cfg, "key", &be), -EINVAL, "the config's url is used");
	cfg->url = url;
	if (ok(provider_open(k, loop, cfg, "key", &be) == 0, "opened")) {
		is_str(be.name, "Criminal IP", "named from the table's display name");
		is_str(be.source, "criminalip", "store source from the table's name");
		ok(be.fetch && be.close && be.impl, "a working backend");
		be.close(be.impl, set_flag, &closed);
		for (int i = 0; i < 100 && !closed; i++)
			uv_run(loop, UV_RUN_NOWAIT);
		ok(closed, "closed");
	}
	config_free(cfg);
}

/* The store's source column back to the rows that gave a verdict (refresh_skip). */
static void test_rows(void)
{
	unsigned cip = 1u << (provider_find("criminalip") - provider_at(0));
	unsigned adb = 1u << (provider_find("abuseipdb") - provider_at(0));
	unsigned ipi = 1u << (provider_find("ipinfo") - provider_at(0));

	is_int(provider_rows("criminalip"), cip, "one name");
	is_int(provider_rows("abuseipdb,ipinfo"), adb | ipi, "two, as intel writes them");
	is_int(provider_rows("ipinfo,criminalip,abuseipdb"), cip | adb | ipi, "any order");
	is_int(provider_rows("IPinfo"), ipi, "case-insensitive, like the configuration");
	is_int(provider_rows("ipinfox,xipinfo,ipinf"), 0, "a name only when whole");
	is_int(provider_rows(",,criminalip,"), cip, "empty items are skipped");
	is_int(provider_rows("test"), 0, "a source that is no provider (a test entry)");
	is_int(provider_rows(""), 0, "an empty source");
	is_int(provider_rows(NULL), 0, "no source");
}

int main(void)
{
	uv_loop_t loop;

	uv_loop_init(&loop);
	test_table();
	test_rows();
	test_open(&loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	is_int(uv_loop_close(&loop), 0, "every handle closed");
	return done_testing();
}
