/* test_config.c - config.c (with config_ini.c, config_value.c) and log.c's names.
 *
 * Configuration files are written into a temporary directory; every report is captured
 * as "LINE: message" so that tests check the line each problem is tied to. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "provider.h"
#include "tap.h"

#define ZONE "[zone bl.example.org]\n" \
	"soa = ns1.example.org. hostmaster.example.org. 3600 600 604800 300\n" \
	"ns = ns1.example.org.\n"

struct t {
	char dir[64];
	char path[128];
	unsigned n, nwarn;
	unsigned line[64];
	char msg[64][300];
	int file_ok; /* every report named the file */
};

/* Kept as a printer shows them: a warning's message behind "warning: ". */
static void capture(void *arg, enum config_severity sev, const char *file, unsigned line,
		    const char *msg)
{
	struct t *t = arg;

	if (!file || strcmp(file, t->path) != 0)
		t->file_ok = 0;
	if (sev == CONFIG_WARNING)
		t->nwarn++;
	if (strncmp(msg, "warning: ", 9) == 0)
		t->file_ok = 0; /* the severity says it, never the text */
	if (t->n < 64) {
		t->line[t->n] = line;
		snprintf(t->msg[t->n], sizeof(t->msg[0]), "%s%s",
			 sev == CONFIG_WARNING ? "warning: " : "", msg);
	}
	t->n++;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

static int load(struct t *t, const char *text, struct config **cfg)
{
	write_file(t->path, text);
	t->n = t->nwarn = 0;
	t->file_ok = 1;
	return config_load(t->path, capture, t, cfg);
}

static void dump(const struct t *t)
{
	for (unsigned i = 0; i < t->n && i < 64; i++)
		diag("report %u: %u: %s", i, t->line[i], t->msg[i]);
}

/* A report on line that contains sub. */
static int has(const struct t *t, unsigned line, const char *sub)
{
	for (unsigned i = 0; i < t->n && i < 64; i++) {
		if (t->line[i] == line && strstr(t->msg[i], sub))
			return 1;
	}
	return 0;
}

/* text loads without any report; the config is returned (caller frees). */
static struct config *good(struct t *t, const char *text, const char *name)
{
	struct config *cfg = NULL;
	int r = load(t, text, &cfg);

	if (!ok(r == 0 && cfg && t->n == 0, "good: %s", name)) {
		diag("r = %d", r);
		dump(t);
	}
	return cfg;
}

/* text fails with exactly one report, on line, containing sub. */
static void bad(struct t *t, const char *text, unsigned line, const char *sub, const char *name)
{
	struct config *cfg = (struct config *)1;
	int r = load(t, text, &cfg);

	if (!ok(r == -EINVAL && cfg == NULL && t->n == 1 && has(t, line, sub) && t->file_ok,
		"bad: %s -> %u: %s", name, line, sub)) {
		diag("r = %d", r);
		dump(t);
	}
}

static void test_durations(void)
{
	static const struct { const char *s; uint64_t ms; } goods[] = {
		{ "250ms", 250 }, { "0ms", 0 }, { "30s", 30000 }, { "10m", 600000 },
		{ "2h", 7200000 }, { "7d", 604800000 }, { "0", 0 }, { "42", 42000 },
		{ "18446744073709551615ms", UINT64_MAX }, { "007s", 7000 },
	};
	static const char *const garbage[] = {
		"", "s", "ms", "5 s", " 5s", "5s ", "-1s", "+1s", "1.5s", "5x", "5S", "1e3",
		"5sec", "h", "0x10", "5ms5",
	};
	static const char *const overflow[] = {
		"99999999999999999999", "18446744073709551616ms", "18446744073709551615s",
		"213503982334602d", "99999999999999999999999d",
	};
	uint64_t ms;

	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		ms = 12345;
		is_int(config_parse_duration_ms(goods[i].s, &ms), 0, goods[i].s);
		ok(ms == goods[i].ms, "duration %s = %llu ms", goods[i].s,
		   (unsigned long long)goods[i].ms);
	}
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		ms = 12345;
		ok(config_parse_duration_ms(garbage[i], &ms) == -EINVAL && ms == 12345,
		   "duration '%s' is -EINVAL", garbage[i]);
	}
	for (size_t i = 0; i < sizeof(overflow) / sizeof(overflow[0]); i++)
		is_int(config_parse_duration_ms(overflow[i], &ms), -ERANGE, overflow[i]);
	is_int(config_parse_duration_ms(NULL, &ms), -EINVAL, "duration NULL");
}

static void test_split_listen(void)
{
	char host[64];
	uint16_t port = 0;

	ok(config_split_listen("127.0.0.1:5353", host, &port) == 0 &&
	   strcmp(host, "127.0.0.1") == 0 && port == 5353, "split 127.0.0.1:5353");
	ok(config_split_listen("[::1]:53", host, &port) == 0 && strcmp(host, "::1") == 0 &&
	   port == 53, "split [::1]:53");
	ok(config_split_listen("0.0.0.0:65535", host, &port) == 0 && port == 65535,
	   "split 0.0.0.0:65535");
	ok(config_split_listen("[2001:db8::1]:5353", host, &port) == 0 &&
	   strcmp(host, "2001:db8::1") == 0, "split [2001:db8::1]:5353");
	static const char *const bads[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:53x",
		"::1:53", "[::1]", "[::1]53", "[127.0.0.1]:53", "[]:53", ":53", "localhost:53",
		"1.2.3:53", "[::1:53", "127.0.0.1:-1", "", "[::1]:+53",
	};
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		is_int(config_split_listen(bads[i], host, &port), -EINVAL, bads[i]);
}

static void test_defaults(void)
{
	struct config *cfg = config_defaults();

	if (!ok(cfg != NULL, "config_defaults"))
		return;
	ok(cfg->nlisten == 1 && strcmp(cfg->listen[0], "127.0.0.1:5353") == 0 &&
	   cfg->listen[1] == NULL, "default listen 127.0.0.1:5353");
	is_str(cfg->database, STATEDIR "/threatbl.sqlite", "default database");
	ok(cfg->user == NULL && cfg->api_key_file == NULL && cfg->file == NULL,
	   "default user, api-key-file, file NULL");
	is_int(cfg->log_level, LOG_LVL_INFO, "default log-level info");
	is_int(cfg->threads, 1, "default threads");
	is_int(cfg->tcp_idle_ms, 10000, "default tcp-idle");
	is_int(cfg->tcp_max_clients, 256, "default tcp-clients");
	is_int(cfg->provider, CONFIG_PROVIDER_NONE, "default provider none");
	ok(cfg->provider_kind == NULL, "default provider: no kind");
	is_str(cfg->url, "https://api.criminalip.io", "default url");
	is_int(cfg->timeout_ms, 5000, "default timeout");
	is_int(cfg->deadline_ms, 1500, "default deadline");
	is_int(cfg->concurrency, 1, "default concurrency");
	ok(cfg->rate == 5.0, "default rate 5/s");
	is_int(cfg->rate_burst, 5, "default rate-burst");
	is_int(cfg->daily_budget, 0, "default daily-budget");
	is_int(cfg->fresh_s, 7 * 86400, "default fresh");
	is_int(cfg->max_stale_s, 30 * 86400, "default max-stale");
	is_int(cfg->lookup_reserved, 0, "default lookup-reserved");
	is_int(cfg->queue_max, 10000, "default queue");
	is_int(cfg->probe_openvpn443, 0, "default [probe] openvpn443 no");
	is_int(cfg->probe_timeout_ms, 3000, "default [probe] timeout 3s");
	is_int(cfg->probe_concurrency, 4, "default [probe] concurrency 4");
	ok(cfg->probe_rate == 2.0, "default [probe] rate 2/s");
	ok(cfg->probe_from == NULL, "default [probe] from: none");
	is_int(cfg->probe_port, 443, "default [probe] port 443");
	ok(cfg->nzones == 0 && cfg->zones == NULL, "no zone");
	is_int(cfg->serial_mode, CONFIG_SERIAL_CONTENT, "default serial content");
	ok(cfg->identity == NULL, "default identity: none (nothing told)");

	char *two[] = { "[::1]:5353", "127.0.0.2:53" };
	char *badl[] = { "127.0.0.1:5353", "nope" };

	is_int(config_set_listen(cfg, two, 2), 0, "config_set_listen");
	ok(cfg->nlisten == 2 && strcmp(cfg->listen[0], "[::1]:5353") == 0 &&
	   strcmp(cfg->listen[1], "127.0.0.2:53") == 0 && cfg->listen[2] == NULL,
	   "listen replaced");
	is_int(config_set_listen(cfg, badl, 2), -EINVAL, "config_set_listen bad address");
	is_int(config_set_listen(cfg, two, 0), -EINVAL, "config_set_listen none");
	ok(cfg->nlisten == 2 && strcmp(cfg->listen[0], "[::1]:5353") == 0,
	   "listen unchanged after failures");
	is_int(config_set_database(cfg, "/tmp/t.sqlite"), 0, "config_set_database");
	is_str(cfg->database, "/tmp/t.sqlite", "database replaced");
	is_int(config_set_database(cfg, ""), -EINVAL, "config_set_database empty");
	is_str(cfg->database, "/tmp/t.sqlite", "database unchanged");
	config_free(cfg);
	config_free(NULL);
}

/* Every key: one good value (no report) and one bad (one report on its line). */
static void test_every_key(struct t *t)
{
	static const struct { const char *sect, *key, *good, *bad; } keys[] = {
		{ "server", "listen", "[::1]:53", "localhost:53" },
		{ "server", "database", "/var/tmp/x.sqlite", "" },
		{ "server", "user", "nobody", NULL },
		{ "server", "log-level", "debug", "loud" },
		{ "server", "threads", "64", "65" },
		{ "server", "tcp-idle", "30s", "50ms" },
		{ "server", "tcp-clients", "1000", "0" },
		{ "intel", "provider", "criminalip", "maybe" },
		{ "intel", "url", "http://127.0.0.1:8080", "ftp://example.org" },
		{ "intel", "api-key-file", "/etc/threatbl/key", NULL },
		{ "intel", "timeout", "2s", "0" },
		{ "intel", "deadline", "0", "2m" },
		{ "intel", "concurrency", "4", "0" },
		{ "intel", "rate", "10/m", "0/s" },
		{ "intel", "rate-burst", "10", "0" },
		{ "intel", "daily-budget", "4294967295", "4294967296" },
		{ "intel", "fresh", "1d", "0" },
		{ "intel", "max-stale", "60d", "5x" },
		{ "intel", "lookup-reserved", "yes", "maybe" },
		{ "intel", "queue", "0", "1000001" },
		{ "intel", "lookup-from", "192.0.2.0/24 2001:db8::/48", "192.0.2.0/40" },
		{ "intel", "per-client-rate", "10/m", "0/s" },
		{ "intel", "per-client-burst", "1", "0" },
		{ "intel", "client-prefix-v4", "32", "7" },
		{ "intel", "client-prefix-v6", "64", "129" },
		{ "server", "allow-query", "any", "not-an-address" },
		{ "server", "max-list-size", "64K", "2T" },
		{ "server", "serial", "time", "yesterday" },
		{ "server", "identity", "ns1-%h.fra (bl)", "100%" },
		{ "probe", "openvpn443", "yes", "sometimes" },
		{ "probe", "timeout", "500ms", "99ms" },
		{ "probe", "concurrency", "64", "65" },
		{ "probe", "rate", "30/m", "101/s" },
		{ "probe", "from", "2001:db8::1", "eth0" },
		{ "probe", "port", "65535", "0" },
		{ "zone", "ttl", "2147483647", "2147483648" },
		{ "zone", "negative-ttl", "1h", "1.5" },
		{ "zone", "unknown", "servfail", "refused" },
		{ "zone", "unknown-ttl", "0", "-1" },
		{ "zone", "vpn", "127.0.0.2 VPN $", "127.0.0 VPN" },
		{ "zone", "openvpn443", "127.0.0.3", "::1 x" },
		{ "zone", "hosting", "127.0.0.4 Hosting", "hosting" },
		{ "zone", "tor", "127.0.0.5 Tor $$", "127.0.0.256" },
		{ "zone", "proxy", "127.0.0.6 Proxy", "127.0.0.6/32 Proxy" },
		{ "zone", "scanner", "127.0.0.7 Scanner", "x127.0.0.7" },
		{ "zone", "clean", "127.0.0.1 clean", "nope" },
		{ "zone", "static", "local.ip4set", "" },
	};
	char text[600], name[128];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int zone = strcmp(keys[i].sect, "zone") == 0;
		const char *vals[2] = { keys[i].good, keys[i].bad };

		for (int b = 0; b < 2; b++) {
			struct config *cfg;

			if (!vals[b])
				continue;
			if (zone)
				snprintf(text, sizeof(text), ZONE "%s = %s\n", keys[i].key, vals[b]);
			else
				snprintf(text, sizeof(text), "[%s]\n%s = %s\n" ZONE, keys[i].sect,
					 keys[i].key, vals[b]);
			snprintf(name, sizeof(name), "[%s] %s = %s", keys[i].sect, keys[i].key,
				 vals[b]);
			if (b) {
				bad(t, text, zone ? 4 : 2, keys[i].key, name);
			} else {
				cfg = good(t, text, name);
				config_free(cfg);
			}
		}
	}
}

static void test_values(struct t *t)
{
	struct config *cfg;

	cfg = good(t, "[server]\nlisten = [::1]:5353\nlog-level = Debug\nthreads = 8\n"
		   "tcp-idle = 1500ms\ntcp-clients = 9\nuser = nobody\ndatabase = x.db\n"
		   "[intel]\nprovider = auto\nurl = http://127.0.0.1:1/\napi-key-file = k\n"
		   "timeout = 1m\ndeadline = 250ms\nconcurrency = 3\nrate = 300/m\n"
		   "rate-burst = 7\ndaily-budget = 100\nfresh = 2h\nmax-stale = 2h\n"
		   "lookup-reserved = on\nqueue = 12\n"
		   "[probe]\nopenvpn443 = yes\ntimeout = 1s\nconcurrency = 2\nrate = 60/m\n"
		   "from = 192.0.2.1\nport = 1194\n" ZONE
		   "ttl = 1m\nnegative-ttl = 7\nunknown = SERVFAIL\nunknown-ttl = 1d\n",
		   "values");
	if (cfg) {
		ok(cfg->nlisten == 1 && strcmp(cfg->listen[0], "[::1]:5353") == 0,
		   "listen replaces the default");
		is_int(cfg->log_level, LOG_LVL_DEBUG, "log-level Debug");
		is_int(cfg->threads, 8, "threads");
		is_int(cfg->tcp_idle_ms, 1500, "tcp-idle");
		is_int(cfg->tcp_max_clients, 9, "tcp-clients");
		is_str(cfg->user, "nobody", "user");
		is_str(cfg->database, "x.db", "database kept relative");
		is_int(cfg->provider, CONFIG_PROVIDER_AUTO, "provider auto");
		ok(cfg->provider_kind == provider_default(), "provider auto: the table's default");
		is_str(cfg->url, "http://127.0.0.1:1/", "url");
		is_str(cfg->api_key_file, "k", "api-key-file as written");
		is_int(cfg->timeout_ms, 60000, "timeout");
		is_int(cfg->deadline_ms, 250, "deadline");
		is_int(cfg->concurrency, 3, "concurrency");
		ok(cfg->rate == 5.0, "rate 300/m = 5/s");
		is_int(cfg->rate_burst, 7, "rate-burst");
		is_int(cfg->daily_budget, 100, "daily-budget");
		ok(cfg->fresh_s == 7200 && cfg->max_stale_s == 7200, "fresh = max-stale allowed");
		is_int(cfg->lookup_reserved, 1, "lookup-reserved on");
		is_int(cfg->queue_max, 12, "queue");
		ok(cfg->probe_openvpn443 == 1 && cfg->probe_timeout_ms == 1000 &&
		   cfg->probe_concurrency == 2 && cfg->probe_rate == 1.0 &&
		   cfg->probe_port == 1194, "[probe] values");
		is_str(cfg->probe_from, "192.0.2.1", "[probe] from");
		is_str(cfg->file, t->path, "file");
		if (ok(cfg->nzones == 1, "one zone")) {
			struct config_zone *z = &cfg->zones[0];

			is_int(z->ttl, 60, "ttl 1m");
			is_int(z->negative_ttl, 7, "negative-ttl");
			is_int(z->unknown, CONFIG_UNKNOWN_SERVFAIL, "unknown servfail");
			is_int(z->unknown_ttl, 86400, "unknown-ttl 1d");
			is_int(z->line, 30, "zone line");
			is_int(z->soa_line, 31, "soa line");
			is_int(z->ns_line, 32, "ns line");
		}
		config_free(cfg);
	}
	cfg = good(t, ZONE, "zone defaults");
	if (cfg) {
		struct config_zone *z = &cfg->zones[0];

		ok(z->ttl == 300 && z->negative_ttl == 300 && z->unknown_ttl == 30 &&
		   z->unknown == CONFIG_UNKNOWN_NXDOMAIN, "zone TTL defaults");
		is_str(z->soa, "ns1.example.org. hostmaster.example.org. 3600 600 604800 300",
		       "soa");
		ok(z->ns && z->ns[0] && strcmp(z->ns[0], "ns1.example.org.") == 0 && !z->ns[1],
		   "ns");
		ok(z->nstatics == 0 && z->statics == NULL, "no static");
		config_free(cfg);
	}
}

/* provider = takes none, auto and the names of provider.c's table; anything else is an
 * error on its line that lists them. */
static void test_providers(struct t *t)
{
	static const char *const named[] = { "criminalip", "CriminalIP" };
	const struct provider_kind *k;
	struct config *cfg;
	char text[300], list[200] = "none | auto";
	size_t n = strlen(list);

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		snprintf(text, sizeof(text), "[intel]\nprovider = %s\n" ZONE, named[i]);
		cfg = good(t, text, named[i]);
		if (cfg) {
			ok(cfg->provider == CONFIG_PROVIDER_NAMED, "provider = %s: named", named[i]);
			ok(cfg->provider_kind && strcmp(cfg->provider_kind->name, "criminalip") == 0,
			   "provider = %s: the criminalip row", named[i]);
		}
		config_free(cfg);
	}
	cfg = good(t, "[intel]\nprovider = none\n" ZONE, "provider none");
	if (cfg)
		ok(cfg->provider == CONFIG_PROVIDER_NONE && !cfg->provider_kind,
		   "provider = none: no kind");
	config_free(cfg);

	bad(t, "[intel]\nprovider = shodan\n" ZONE, 2,
	    "provider: 'shodan' is not one of none | auto | criminalip", "unknown provider");
	for (size_t i = 0; (k = provider_at(i)); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, " | %s", k->name);
	ok(t->n == 1 && strstr(t->msg[0], list) != NULL,
	   "unknown provider: every known name listed (%s)", list);
	bad(t, "[intel]\nprovider = Criminal IP\n" ZONE, 2, "is not one of",
	    "a display name is not a config name");
}

/* [intel] providers and combine, [provider NAME] sections: what they set, what they
 * take from [intel], and every mistake. */
#define PROVS "[intel]\nproviders = ipinfo abuseipdb\n"
static void test_provider_sections(struct t *t)
{
	const struct provider_kind *list[CONFIG_PROVIDERS_MAX];
	const struct provider_kind *cip = provider_find("criminalip");
	const struct provider_kind *adb = provider_find("abuseipdb");
	const struct provider_kind *ipi = provider_find("ipinfo");
	struct config_prov p;
	struct config *cfg;

	ok(cip && adb && ipi, "criminalip, abuseipdb and ipinfo are in the table");
	cfg = good(t, "[intel]\nproviders = abuseipdb criminalip ipinfo\ncombine = all\n"
		   "rate = 2/s\nconcurrency = 3\ndaily-budget = 100\nurl = http://127.0.0.1:1\n"
		   "[provider abuseipdb]\nurl = http://127.0.0.1:2\nkey-file = /k/a\n"
		   "rate = 10/m\nconcurrency = 2\ndaily-budget = 900\ntimeout = 2s\n"
		   "scanner-score = 60\nrate-burst = 4\n"
		   "[provider ipinfo]\nrate-burst = 7\n" ZONE, "three providers, two sections");
	if (cfg) {
		is_int(config_providers(cfg, list), 3, "three providers");
		ok(list[0] == adb && list[1] == cip && list[2] == ipi, "in the order given");
		is_int(cfg->combine, CONFIG_COMBINE_ALL, "combine = all");
		config_provider_get(cfg, adb, &p);
		is_str(p.url, "http://127.0.0.1:2", "abuseipdb: its url");
		is_str(p.key_file, "/k/a", "abuseipdb: its key file");
		ok(p.rate > 0.16 && p.rate < 0.17, "abuseipdb: its rate (10/m)");
		is_int(p.concurrency, 2, "abuseipdb: its concurrency");
		is_int(p.daily_budget, 900, "abuseipdb: its budget");
		is_int(p.timeout_ms, 2000, "abuseipdb: its timeout");
		is_int(p.scanner_score, 60, "abuseipdb: its scanner-score");
		is_int(p.rate_burst, 4, "abuseipdb: its rate-burst");
		config_provider_get(cfg, ipi, &p);
		is_str(p.url, "https://ipinfo.io", "ipinfo: the service's own url by default");
		ok(p.key_file == NULL, "ipinfo: no key file");
		ok(p.rate > 1.9 && p.rate < 2.1, "ipinfo: [intel] rate");
		is_int(p.concurrency, 3, "ipinfo: [intel] concurrency");
		is_int(p.daily_budget, 100, "ipinfo: [intel] daily-budget");
		is_int(p.rate_burst, 7, "ipinfo: its rate-burst");
		is_int(p.scanner_score, 75, "scanner-score defaults to 75");
		config_provider_get(cfg, cip, &p);
		is_str(p.url, "http://127.0.0.1:1", "criminalip without a section: [intel] url");
	}
	config_free(cfg);
	cfg = good(t, "[intel]\nprovider = criminalip\napi-key-file = /k/c\n" ZONE,
		   "provider = is the one-provider shorthand");
	if (cfg) {
		is_int(config_providers(cfg, list), 1, "one provider");
		ok(list[0] == cip, "criminalip");
		is_int(cfg->combine, CONFIG_COMBINE_FIRST, "combine defaults to first");
		config_provider_get(cfg, cip, &p);
		is_str(p.key_file, "/k/c", "criminalip's key file is [intel] api-key-file");
	}
	config_free(cfg);
	cfg = good(t, "[provider criminalip]\nkey-file = /k/own\nurl = http://127.0.0.1:3\n"
		   "[intel]\nproviders = criminalip\napi-key-file = /k/c\n" ZONE,
		   "a section before [intel]");
	if (cfg) {
		config_provider_get(cfg, cip, &p);
		is_str(p.key_file, "/k/own", "its section's key-file wins");
		is_str(p.url, "http://127.0.0.1:3", "its section's url wins");
	}
	config_free(cfg);
	cfg = good(t, "[intel]\nprovider = none\n" ZONE, "no provider");
	if (cfg)
		is_int(config_providers(cfg, list), 0, "provider = none: no provider");
	config_free(cfg);

	bad(t, "[intel]\nproviders = criminalip shodan\n" ZONE, 2,
	    "providers: 'shodan' is not a provider (criminalip abuseipdb ipinfo)",
	    "an unknown provider in the list");
	bad(t, "[intel]\nproviders = ipinfo IPINFO\n" ZONE, 2, "ipinfo is named twice",
	    "a provider twice");
	bad(t, "[intel]\nproviders =\n" ZONE, 2, "a value is needed", "an empty list");
	bad(t, "[intel]\nprovider = criminalip\nproviders = ipinfo\n" ZONE, 3,
	    "providers and provider are both given", "provider and providers together");
	bad(t, "[intel]\ncombine = any\n" ZONE, 2, "'any' is not one of first | all",
	    "a bad combine");
	bad(t, "[provider shodan]\nurl = http://127.0.0.1:1\n" ZONE, 1,
	    "[provider shodan]: not a provider", "a section for an unknown provider");
	bad(t, PROVS "[provider ipinfo]\n[provider ipinfo]\n" ZONE, 4,
	    "[provider ipinfo] is given twice (first on line 3)", "a section twice");
	bad(t, PROVS "[provider]\nrate = 1/s\n" ZONE, 3, "not a provider", "a section without a name");
	bad(t, PROVS "[provider ipinfo]\nurl = ftp://x\n" ZONE, 4, "does not start with http://",
	    "a bad url");
	bad(t, PROVS "[provider ipinfo]\nconcurrency = 0\n" ZONE, 4, "concurrency", "concurrency 0");
	bad(t, PROVS "[provider abuseipdb]\nscanner-score = 101\n" ZONE, 4, "scanner-score",
	    "scanner-score over 100");
	bad(t, PROVS "[provider ipinfo]\ndeadline = 1s\n" ZONE, 4, "unknown key 'deadline' in "
	    "[provider ipinfo]", "an [intel]-only key in a section");
	bad(t, PROVS "[provider ipinfo]\nrate = 1/s\nrate = 2/s\n" ZONE, 5, "rate is given twice",
	    "a key twice in a section");
	cfg = NULL;
	ok(load(t, "[intel]\nproviders = criminalip\n[provider ipinfo]\nrate = 1/s\n" ZONE,
		&cfg) == 0 && t->nwarn == 1 && has(t, 3, "[provider ipinfo] is not in [intel] "
		"providers"), "a section nobody asks for: a warning");
	config_free(cfg);
	cfg = NULL;
	ok(load(t, PROVS "[provider ipinfo]\nscanner-score = 50\n" ZONE, &cfg) == 0 &&
	   t->nwarn == 1 && has(t, 3, "scanner-score is AbuseIPDB's"),
	   "scanner-score in another provider's section: a warning");
	config_free(cfg);
}

static void test_rates_bools(struct t *t)
{
	static const struct { const char *s; double v; } rates[] = {
		{ "5/s", 5 }, { "300/m", 5 }, { "1000/h", 1000.0 / 3600 }, { "2", 2 },
		{ "0.5", 0.5 }, { "1.5/s", 1.5 }, { "100000", 100000 },
	};
	static const char *const bad_rates[] = {
		"0", "0/s", "-1/s", "5/x", "abc", "5 /s", "/s", "5/", "1e3", "100001", "5/S",
		"1.2.3",
	};
	static const struct { const char *s; int v; } bools[] = {
		{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 }, { "on", 1 },
		{ "off", 0 }, { "1", 1 }, { "0", 0 }, { "YES", 1 }, { "Off", 0 },
	};
	static const char *const bad_bools[] = { "maybe", "2", "y", "ja" };
	char text[300];
	struct config *cfg;

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		snprintf(text, sizeof(text), "[intel]\nrate = %s\n" ZONE, rates[i].s);
		cfg = good(t, text, rates[i].s);
		if (cfg)
			ok(cfg->rate > rates[i].v * 0.999999 && cfg->rate < rates[i].v * 1.000001,
			   "rate %s = %g/s", rates[i].s, rates[i].v);
		config_free(cfg);
	}
	for (size_t i = 0; i < sizeof(bad_rates) / sizeof(bad_rates[0]); i++) {
		snprintf(text, sizeof(text), "[intel]\nrate = %s\n" ZONE, bad_rates[i]);
		bad(t, text, 2, "rate:", bad_rates[i]);
	}
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		snprintf(text, sizeof(text), "[intel]\nlookup-reserved = %s\n" ZONE, bools[i].s);
		cfg = good(t, text, bools[i].s);
		if (cfg)
			is_int(cfg->lookup_reserved, bools[i].v, bools[i].s);
		config_free(cfg);
	}
	for (size_t i = 0; i < sizeof(bad_bools) / sizeof(bad_bools[0]); i++) {
		snprintf(text, sizeof(text), "[intel]\nlookup-reserved = %s\n" ZONE, bad_bools[i]);
		bad(t, text, 2, "lookup-reserved", bad_bools[i]);
	}
	bad(t, ZONE "ttl = 1500ms\n", 4, "whole number of seconds", "ttl in ms");
	bad(t, "[server]\nthreads = 4x\n" ZONE, 2, "not a whole number", "threads 4x");
	bad(t, "[server]\nthreads = 99999999999999999999999\n" ZONE, 2, "out of range",
	    "threads overflow");
	bad(t, "[intel]\ntimeout = 99999999999999999999999d\n" ZONE, 2, "out of range",
	    "timeout overflow");
}

static void test_repeatable(struct t *t)
{
	struct config *cfg;
	char want[200];

	cfg = good(t, "[server]\nlisten = 127.0.0.1:53\nlisten = [::1]:53\n"
		   "listen = 127.0.0.2:53 127.0.0.3:53\n" ZONE, "listen x3");
	if (cfg) {
		ok(cfg->nlisten == 4 && strcmp(cfg->listen[0], "127.0.0.1:53") == 0 &&
		   strcmp(cfg->listen[1], "[::1]:53") == 0 &&
		   strcmp(cfg->listen[2], "127.0.0.2:53") == 0 &&
		   strcmp(cfg->listen[3], "127.0.0.3:53") == 0 && cfg->listen[4] == NULL,
		   "first listen replaces the default, the others add");
		config_free(cfg);
	}
	cfg = good(t, "[server]\ndatabase = x\n" ZONE, "no listen");
	if (cfg) {
		ok(cfg->nlisten == 1 && strcmp(cfg->listen[0], "127.0.0.1:5353") == 0,
		   "default listen kept");
		config_free(cfg);
	}
	bad(t, "[server]\nlisten = 127.0.0.1:53\nlisten = 127.0.0.1:53\n" ZONE, 3,
	    "given twice", "same listen twice");
	cfg = good(t, ZONE "static = local.ip4set\nstatic = /abs/list.ip4trie\n"
		   "static = sub/x.ip6trie\n", "static x3");
	if (cfg) {
		struct config_zone *z = &cfg->zones[0];

		if (ok(z->nstatics == 3 && z->statics[3] == NULL, "three statics")) {
			snprintf(want, sizeof(want), "%s/local.ip4set", t->dir);
			is_str(z->statics[0], want, "relative static resolved to the file's dir");
			is_str(z->statics[1], "/abs/list.ip4trie", "absolute static kept");
			snprintf(want, sizeof(want), "%s/sub/x.ip6trie", t->dir);
			is_str(z->statics[2], want, "relative subdir static");
			ok(z->static_lines[0] == 4 && z->static_lines[1] == 5 &&
			   z->static_lines[2] == 6, "static lines");
		}
		config_free(cfg);
	}
	bad(t, ZONE "ttl = 60\nttl = 70\n", 5, "ttl is given twice (first on line 4)",
	    "ttl twice");
	bad(t, "[intel]\nrate = 1\n[server]\n[intel]\nrate = 2\n" ZONE, 5, "given twice",
	    "key twice across repeated sections");
}

static void test_categories(struct t *t)
{
	struct config *cfg;

	cfg = good(t, ZONE "vpn = 127.0.0.9 Listed $, see https://x/$ or $$5\n"
		   "tor = 127.0.0.5\nproxy =\nscanner = 127.0.0.70   spaced  out  \n"
		   "clean = 127.0.0.1 clean $\n", "categories");
	if (cfg) {
		struct config_zone *z = &cfg->zones[0];
		struct config_cat *vpn = &z->cat[VERDICT_VPN];

		ok(vpn->enabled && vpn->a[0] == 127 && vpn->a[1] == 0 && vpn->a[2] == 0 &&
		   vpn->a[3] == 9, "vpn address");
		is_str(vpn->txt, "Listed $, see https://x/$ or $$5", "vpn template kept whole");
		ok(z->cat[VERDICT_TOR].enabled && z->cat[VERDICT_TOR].a[3] == 5,
		   "tor address only");
		is_str(z->cat[VERDICT_TOR].txt, "", "tor without template: no TXT");
		ok(!z->cat[VERDICT_PROXY].enabled, "empty proxy switches it off");
		is_str(z->cat[VERDICT_PROXY].txt, "", "switched-off txt is empty");
		is_str(z->cat[VERDICT_SCANNER].txt, "spaced  out", "template trimmed at the ends");
		ok(z->cat[VERDICT_SCANNER].a[3] == 70, "scanner address");
		ok(z->cat[VERDICT_HOSTING].enabled && z->cat[VERDICT_HOSTING].a[0] == 127 &&
		   z->cat[VERDICT_HOSTING].a[3] == 4, "absent hosting keeps 127.0.0.4");
		is_str(z->cat[VERDICT_HOSTING].txt, "Hosting or cloud network",
		       "absent hosting keeps the template of doc/configuration.md#categories");
		ok(z->cat[VERDICT_OPENVPN443].enabled && z->cat[VERDICT_OPENVPN443].a[3] == 3,
		   "absent openvpn443 keeps 127.0.0.3");
		ok(z->clean.enabled && z->clean.a[3] == 1, "clean answered with an address");
		is_str(z->clean.txt, "clean $", "clean template");
		config_free(cfg);
	}
	cfg = good(t, ZONE, "default categories");
	if (cfg) {
		struct config_zone *z = &cfg->zones[0];
		int all = 1;

		for (int c = 0; c < VERDICT_NCAT; c++)
			all &= z->cat[c].enabled && z->cat[c].a[0] == 127 && z->cat[c].a[1] == 0 &&
			       z->cat[c].a[2] == 0 && z->cat[c].a[3] == 2 + c &&
			       z->cat[c].txt && z->cat[c].txt[0];
		ok(all, "every category defaults to 127.0.0.(2+n) with a template");
		ok(!z->clean.enabled && z->clean.txt && !z->clean.txt[0], "clean off by default");
		config_free(cfg);
	}
	/* outside 127.0.0.0/8: a warning only */
	{
		int r = load(t, ZONE "vpn = 10.0.0.2 VPN\n", &cfg);

		ok(r == 0 && cfg && t->n == 1 && t->nwarn == 1 && has(t, 4, "warning: vpn"),
		   "address outside 127/8 warns and loads");
		if (cfg)
			ok(cfg->zones[0].cat[VERDICT_VPN].a[0] == 10, "warned address kept");
		config_free(cfg);
	}
}

static void test_zones(struct t *t)
{
	static const char *const bad_names[] = {
		"bl..example.org", "bl example.org", "b@d.example", ".", "..", ".bl.example",
		"bl.example.org..",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
	};
	char text[400], name[100];
	struct config *cfg;

	cfg = good(t, "[zone BL.Example.ORG.]\nsoa = a. b. 1 2 3 4\nns = a.\n"
		   "[zone x_y-1.test]\nsoa = ns.x. h.x. 1h 10m 7d 5m\nns = a. b.\n", "two zones");
	if (cfg && ok(cfg->nzones == 2, "two zones")) {
		is_str(cfg->zones[0].name, "bl.example.org", "zone name lowercased, dot removed");
		is_str(cfg->zones[1].name, "x_y-1.test", "underscore and hyphen allowed");
		is_str(cfg->zones[1].soa, "ns.x. h.x. 3600 600 604800 300",
		       "soa durations converted to seconds");
		ok(cfg->zones[1].ns[0] && cfg->zones[1].ns[1] && !cfg->zones[1].ns[2] &&
		   strcmp(cfg->zones[1].ns[1], "b.") == 0, "two ns");
		ok(cfg->zones[1].line == 4, "second zone line");
	}
	config_free(cfg);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		snprintf(text, sizeof(text), ZONE "[zone %s]\nsoa = a. b. 1 2 3 4\nns = a.\n",
			 bad_names[i]);
		snprintf(name, sizeof(name), "zone name '%.60s'", bad_names[i]);
		bad(t, text, 4, "zone name", name);
	}
	bad(t, ZONE "[zone]\nttl = 5\n", 4, "needs a name", "[zone] without name");
	bad(t, ZONE "[zone BL.example.org.]\nsoa = a. b. 1 2 3 4\nns = a.\n", 4,
	    "zone bl.example.org is given twice (first on line 1)", "duplicate zone");
	bad(t, "[zone bl.x]\nns = a.\n", 1, "zone bl.x: missing soa", "missing soa");
	bad(t, "[zone bl.x]\nsoa = a. b. 1 2 3 4\n", 1, "zone bl.x: missing ns", "missing ns");
	bad(t, "[server]\n", 0, "no [zone ...] section", "no zone");
	bad(t, "[zone bl.x]\nsoa = a. b. 1 2 3\nns = a.\n", 2, "soa: 5 fields", "soa short");
	bad(t, "[zone bl.x]\nsoa = a. b. 1 2 3 4 5\nns = a.\n", 2, "soa: 7 fields", "soa long");
	bad(t, "[zone bl.x]\nsoa = a b. 1 2 3 4\nns = a.\n", 2, "mname 'a' must be absolute",
	    "soa relative mname");
	bad(t, "[zone bl.x]\nsoa = a. b 1 2 3 4\nns = a.\n", 2, "rname 'b' must be absolute",
	    "soa relative rname");
	bad(t, "[zone bl.x]\nsoa = a. b. 1 2 x 4\nns = a.\n", 2, "soa: expire 'x'",
	    "soa bad number");
	bad(t, "[zone bl.x]\nsoa = a. b. 1 2 3 2147483648\nns = a.\n", 2, "soa: minimum",
	    "soa number too big");
	bad(t, "[zone bl.x]\nsoa = a. b. 1 2 3 4\nns = a. b\n", 3, "ns: 'b' must be absolute",
	    "ns relative");
	bad(t, "[zone bl.x]\nsoa = a. b. 1 2 3 4\nns =\n", 3, "ns: at least one", "ns empty");
}

static void test_errors(struct t *t)
{
	char text[1200], line199[200];
	struct config *cfg;
	int r;

	bad(t, "[server]\nbogus = 1\n" ZONE, 2, "unknown key 'bogus' in [server]", "unknown key");
	bad(t, ZONE "rate = 1\n", 4, "unknown key 'rate' in [zone bl.example.org]",
	    "intel key in a zone");
	bad(t, "[servr]\nlisten = 127.0.0.1:53\n" ZONE, 1, "unknown section [servr]",
	    "unknown section, its keys not reported");
	bad(t, "ttl = 5\n" ZONE, 1, "outside any section", "key before any section");
	bad(t, "[server\n" ZONE, 1, "no ']'", "header without ]");
	bad(t, "[server]\njust words\n" ZONE, 2, "expected 'key = value'", "line without =");
	bad(t, "[intel]\nfresh = 7d\nmax-stale = 1d\n" ZONE, 3,
	    "max-stale (1d) is shorter than fresh (7d)", "max-stale < fresh");
	bad(t, "[intel]\nfresh = 90d\n" ZONE, 2, "max-stale (30d) is shorter than fresh (90d)",
	    "fresh > default max-stale");

	/* a long line is one error and its tail is not read as a line of its own */
	memset(line199, 'a', 199);
	line199[199] = '\0';
	memcpy(line199, "# ", 2);
	snprintf(text, sizeof(text), "%s\n" ZONE "%sbogus = 1\n", line199, line199);
	bad(t, text, 5, "line too long (at most 199 characters)", "208-character line");
	snprintf(text, sizeof(text), "%s\r\n" ZONE "%s", line199, line199);
	cfg = good(t, text, "199-character lines, CRLF, and no final newline");
	config_free(cfg);
	{
		char val[210];

		/* exactly 199 characters on a key line: the template is kept whole */
		snprintf(val, sizeof(val), "vpn = 127.0.0.2 %0183d", 0);
		snprintf(text, sizeof(text), ZONE "%s\n", val);
		cfg = good(t, text, "199-character key line");
		if (cfg)
			is_int(strlen(cfg->zones[0].cat[VERDICT_VPN].txt), 183, "long template whole");
		config_free(cfg);
		snprintf(val, sizeof(val), "vpn = 127.0.0.2 %0184d", 0);
		snprintf(text, sizeof(text), ZONE "%s\nttl = x\n", val);
		r = load(t, text, &cfg);
		ok(r == -EINVAL && t->n == 2 && has(t, 4, "line too long") && has(t, 5, "ttl:"),
		   "200-character key line, next line still read");
	}

	{
		/* A NUL byte must not split a physical line in two (found by fuzz_config):
		 * the text after it was parsed as a line of its own, so a comment could
		 * smuggle in a section, and later line numbers were off by one. */
		static const char head[] = "[zone bl.x]\n#\0";
		char nul[400];
		size_t n = sizeof(head) - 1;
		FILE *f;

		memcpy(nul, head, n);
		memset(nul + n, 'x', 197);
		n += 197;
		n += (size_t)sprintf(nul + n, "[zone smuggled.test]\nttl = x\n");
		f = fopen(t->path, "w");
		if (!f || fwrite(nul, 1, n, f) != n || fclose(f) != 0) {
			perror(t->path);
			exit(2);
		}
		t->n = t->nwarn = 0;
		t->file_ok = 1;
		cfg = NULL;
		r = config_load(t->path, capture, t, &cfg);
		if (!ok(r == -EINVAL && has(t, 2, "NUL byte") && has(t, 3, "ttl:") &&
			!has(t, 4, ""), "NUL byte: reported on its line, the rest not parsed"))
			dump(t);
		config_free(cfg);
	}

	/* many problems: all reported, in order, with their lines */
	r = load(t, "[server]\n"               /* 1 */
		    "threads = 0\n"               /* 2 */
		    "nonsense\n"                  /* 3 */
		    "listen = 1.2.3.4\n"          /* 4 */
		    "[intel]\n"                   /* 5 */
		    "rate = fast\n"               /* 6 */
		    "oops = 1\n"                  /* 7 */
		    "[zone bl.x]\n"               /* 8 */
		    "ttl = 1y\n"                  /* 9 */
		    "[zone bl.x]\n"               /* 10 */
		    "[what]\n"                    /* 11 */
		    "[zone ok.x]\n"               /* 12 */
		    "soa = a. b. 1 2 3 4\n"       /* 13 */
		    "ns = a.\n",                  /* 14 */
		 &cfg);
	ok(r == -EINVAL && cfg == NULL, "many problems: -EINVAL, no config");
	ok(t->n == 10 && has(t, 2, "threads") && has(t, 3, "expected") && has(t, 4, "listen") &&
	   has(t, 6, "rate") && has(t, 7, "unknown key 'oops'") && has(t, 9, "ttl") &&
	   has(t, 10, "given twice") && has(t, 11, "unknown section") &&
	   has(t, 8, "zone bl.x: missing soa") && has(t, 8, "zone bl.x: missing ns"),
	   "every problem reported once with its line");
	if (t->n != 10)
		dump(t);
	ok(t->line[0] == 2 && t->line[1] == 3 && t->line[2] == 4 && t->line[3] == 6,
	   "in file order");

	r = load(t, "", &cfg);
	ok(r == -EINVAL && t->n == 1 && has(t, 0, "no [zone"), "empty file");
	snprintf(text, sizeof(text), "%s/missing.conf", t->dir);
	t->n = 0;
	r = config_load(text, capture, t, &cfg);
	ok(r == -ENOENT && cfg == NULL && t->n == 1 && t->line[0] == 0 &&
	   strstr(t->msg[0], "No such file"), "missing file: -ENOENT, one message, line 0");
	t->n = 0;
	r = config_load(t->dir, capture, t, &cfg);
	ok(r == -EISDIR && t->n == 1, "a directory: -EISDIR");
}

static void test_comments(struct t *t)
{
	struct config *cfg;

	cfg = good(t, "# comment\n; comment\n\n[server] ; the server\n"
		   "threads = 3 ; three\n"
		   "listen = 127.0.0.1:5353           ; (repeatable) UDP and TCP\n"
		   "[intel]\nlookup-reserved = no     ; yes: also look up\n"
		   "                                  ;      ranges (for tests)\n"
		   "[zone bl.example.org]\n"
		   "soa = ns1.example.org. hostmaster.example.org. 3600 600 604800 300\n"
		   "vpn = 127.0.0.2 a;b c ;d\n"
		   "tor = 127.0.0.5 T # not a comment\n"
		   "ns = ns1.example.org.\n"
		   "     ns2.example.org. ; continued\n"
		   "\n"
		   "     ns3.example.org.\n"
		   "static = l.txt ; list\n",
		   "comments");
	if (cfg) {
		struct config_zone *z = &cfg->zones[0];

		is_int(cfg->threads, 3, "inline comment after a number");
		is_str(z->cat[VERDICT_VPN].txt, "a;b c", "';' without a space before is text");
		is_str(z->cat[VERDICT_TOR].txt, "T # not a comment", "'#' inside is text");
		is_int(cfg->lookup_reserved, 0, "commented continuation adds nothing");
		ok(z->ns && z->ns[0] && z->ns[1] && z->ns[2] && !z->ns[3] &&
		   strcmp(z->ns[1], "ns2.example.org.") == 0 &&
		   strcmp(z->ns[2], "ns3.example.org.") == 0, "continuation lines add names");
		ok(z->nstatics == 1 && strstr(z->statics[0], "/l.txt"), "static with comment");
	}
	config_free(cfg);
	bad(t, "[zone bl.x]\nns = a.\nsoa = a. b.\n  1 2\n  3 x\n", 3, "soa: minimum 'x'",
	    "continued value's errors are on its key line");
	cfg = good(t, "[zone bl.x]\nns = a.\nsoa = a. b.\n  1 2\n  3 4\n", "soa on 3 lines");
	if (cfg)
		is_str(cfg->zones[0].soa, "a. b. 1 2 3 4", "joined soa");
	config_free(cfg);
	cfg = good(t, "\xEF\xBB\xBF[server]\nthreads = 2\n" ZONE, "UTF-8 BOM");
	config_free(cfg);
	cfg = good(t, "[Server]\nThreads: 2\n" ZONE, "case-insensitive names, ':' separator");
	if (cfg)
		is_int(cfg->threads, 2, "Threads: 2");
	config_free(cfg);
}

/* [server] serial and identity: what a fleet sets (doc/configuration.md). */
static void test_fleet(struct t *t)
{
	static const struct { const char *val; enum config_serial mode; uint32_t n; } serials[] = {
		{ "content", CONFIG_SERIAL_CONTENT, 0 }, { "Time", CONFIG_SERIAL_TIME, 0 },
		{ "2026120301", CONFIG_SERIAL_FIXED, 2026120301u },
		{ "0", CONFIG_SERIAL_FIXED, 0 }, { "4294967295", CONFIG_SERIAL_FIXED, 4294967295u },
	};
	static const char *const bad_serials[] = { "4294967296", "-1", "1e9", "12 34", "",
						   "contents", "0x10" };
	char text[600], id[200];
	struct config *cfg;

	for (size_t i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
		snprintf(text, sizeof(text), "[server]\nserial = %s\n" ZONE, serials[i].val);
		cfg = good(t, text, serials[i].val);
		ok(cfg && cfg->serial_mode == serials[i].mode &&
		   cfg->serial_fixed == serials[i].n, "serial = %s read", serials[i].val);
		config_free(cfg);
	}
	for (size_t i = 0; i < sizeof(bad_serials) / sizeof(bad_serials[0]); i++) {
		snprintf(text, sizeof(text), "[server]\nserial = %s\n" ZONE, bad_serials[i]);
		bad(t, text, 2, "is not content, time or a serial number", bad_serials[i]);
	}
	bad(t, "[server]\nserial = 5\nserial = time\n" ZONE, 3, "serial is given twice",
	    "serial twice");

	cfg = good(t, "[server]\nidentity = ns1.fra-%h (100%%)\n" ZONE, "identity");
	ok(cfg && cfg->identity && strcmp(cfg->identity, "ns1.fra-%h (100%%)") == 0,
	   "identity kept as written (%%h is expanded when the zones are built)");
	config_free(cfg);
	cfg = good(t, "[server]\nidentity =\n" ZONE, "empty identity");
	ok(cfg && cfg->identity == NULL, "an empty identity: none");
	config_free(cfg);
	/* the longest one line allows (the cap after %h is test_zone's) */
	memset(id, 'n', 188);
	id[188] = 0;
	snprintf(text, sizeof(text), "[server]\nidentity = %s\n" ZONE, id);
	cfg = good(t, text, "188-byte identity");
	ok(cfg && cfg->identity && strlen(cfg->identity) == 188, "188 bytes kept");
	config_free(cfg);

	/* longer values through a continuation line (joined with a space) */
	memset(id, 'a', 127);
	id[127] = 0;
	snprintf(text, sizeof(text), "[server]\nidentity = %s\n  %s\n" ZONE, id, id);
	cfg = good(t, text, "255-byte identity on two lines");
	ok(cfg && cfg->identity && strlen(cfg->identity) == 255, "255 bytes kept");
	config_free(cfg);
	memset(id, 'a', 150);
	id[150] = 0;
	snprintf(text, sizeof(text), "[server]\nidentity = %s\n  %s\n" ZONE, id, id);
	bad(t, text, 2, "identity: 301 bytes, at most 255", "301-byte identity");
	bad(t, "[server]\nidentity = a\tb\n" ZONE, 2, "byte 2 (0x09) is not printable ASCII",
	    "identity with a tab");
	bad(t, "[server]\nidentity = n\xc3\xa9ud\n" ZONE, 2, "byte 2 (0xc3) is not printable",
	    "identity in UTF-8");
	bad(t, "[server]\nidentity = n\x7f\n" ZONE, 2, "byte 2 (0x7f)", "identity with DEL");
	bad(t, "[server]\nidentity = %s\n" ZONE, 2, "'%' must be followed by h", "%s");
	bad(t, "[server]\nidentity = 50%\n" ZONE, 2, "'%' must be followed by h",
	    "a '%' at the end");
	bad(t, "[server]\nidentity = a\nidentity = b\n" ZONE, 3, "identity is given twice",
	    "identity twice");
	bad(t, ZONE "identity = a\n", 4, "unknown key 'identity' in [zone", "identity in a zone");
	bad(t, ZONE "serial = 1\n", 4, "unknown key 'serial' in [zone", "serial in a zone");
}

/* zones/threatbl.conf.example sets every option to its default: check it does. */
static void test_example(struct t *t)
{
	const char *top = getenv("TOP_SRCDIR");
	char path[512];
	struct config *ex = NULL, *def = config_defaults(), *dz = NULL;
	int r, same;

	if (top)
		snprintf(path, sizeof(path), "%s/zones/threatbl.conf.example", top);
	else /* run by hand: find it from this source file's path */
		snprintf(path, sizeof(path), "%.*szones/threatbl.conf.example",
			 (int)(strlen(__FILE__) - strlen("test/unit/test_config.c")), __FILE__);
	t->n = 0;
	r = config_load(path, capture, t, &ex);
	if (!ok(r == 0 && ex && t->n == 0, "example configuration loads: %s", path)) {
		dump(t);
		config_free(def);
		return;
	}
	dz = good(t, ZONE, "a zone of defaults");
	if (!def || !dz)
		goto out;
	same = ex->nlisten == def->nlisten && strcmp(ex->listen[0], def->listen[0]) == 0 &&
	       strcmp(ex->database, def->database) == 0 && !ex->user && !ex->api_key_file &&
	       !ex->database_password_file &&
	       ex->log_level == def->log_level && ex->threads == def->threads &&
	       ex->tcp_idle_ms == def->tcp_idle_ms && ex->tcp_max_clients == def->tcp_max_clients &&
	       ex->provider == def->provider && strcmp(ex->url, def->url) == 0 &&
	       ex->timeout_ms == def->timeout_ms && ex->deadline_ms == def->deadline_ms &&
	       ex->concurrency == def->concurrency && ex->rate == def->rate &&
	       ex->rate_burst == def->rate_burst && ex->daily_budget == def->daily_budget &&
	       ex->fresh_s == def->fresh_s && ex->max_stale_s == def->max_stale_s &&
	       ex->lookup_reserved == def->lookup_reserved && ex->queue_max == def->queue_max &&
	       ex->probe_openvpn443 == def->probe_openvpn443 &&
	       ex->probe_timeout_ms == def->probe_timeout_ms &&
	       ex->probe_concurrency == def->probe_concurrency &&
	       ex->probe_rate == def->probe_rate && !ex->probe_from &&
	       ex->probe_port == def->probe_port &&
	       ex->serial_mode == def->serial_mode && !ex->identity;
	same &= !ex->metrics && !def->metrics &&
		ex->metrics_allow.n == def->metrics_allow.n && def->metrics_allow.n == 2;
	ok(same, "example [server], [intel] and [probe] are the defaults");
	if (ok(ex->nzones == 1, "example has one zone")) {
		struct config_zone *a = &ex->zones[0], *b = &dz->zones[0];

		same = a->ttl == b->ttl && a->negative_ttl == b->negative_ttl &&
		       a->unknown == b->unknown && a->unknown_ttl == b->unknown_ttl &&
		       a->clean.enabled == b->clean.enabled && a->nstatics == 0;
		for (int c = 0; c < VERDICT_NCAT; c++)
			same &= a->cat[c].enabled == b->cat[c].enabled &&
				memcmp(a->cat[c].a, b->cat[c].a, 4) == 0 &&
				strcmp(a->cat[c].txt, b->cat[c].txt) == 0;
		ok(same, "example zone options are the defaults");
	}
out:
	config_free(ex);
	config_free(dz);
	config_free(def);
}

static void test_log_names(void)
{
	is_int(log_level_parse("error"), LOG_LVL_ERROR, "log error");
	is_int(log_level_parse("warn"), LOG_LVL_WARN, "log warn");
	is_int(log_level_parse("info"), LOG_LVL_INFO, "log info");
	is_int(log_level_parse("debug"), LOG_LVL_DEBUG, "log debug");
	is_int(log_level_parse("DEBUG"), LOG_LVL_DEBUG, "log DEBUG");
	is_int(log_level_parse("loud"), -EINVAL, "log loud");
	is_int(log_level_parse(""), -EINVAL, "log empty");
}

/* log.c writes one whole line per message to stderr, filtered by level. */
static void test_log_lines(struct t *t)
{
	char path[128], buf[4096], pid[32];
	int saved = dup(2), fd;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/stderr.txt", t->dir);
	f = fopen(path, "w+");
	if (!ok(f && saved >= 0, "stderr capture"))
		return;
	fd = fileno(f);
	dup2(fd, 2);
	log_open(1, LOG_LVL_WARN);
	log_info("hidden %d", 1);
	log_warn("shown %d\nforged line", 2);
	log_err("error %s", "x");
	log_set_level(LOG_LVL_DEBUG);
	log_debug("debug now");
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	snprintf(pid, sizeof(pid), " threatbld[%ld]: ", (long)getpid());
	ok(!strstr(buf, "hidden"), "info filtered at warn");
	ok(strstr(buf, "warn: shown 2 forged line\n") != NULL, "newline in message flattened");
	ok(strstr(buf, "error: error x\n") != NULL, "error line");
	ok(strstr(buf, "debug: debug now\n") != NULL, "level raised");
	ok(strstr(buf, pid) != NULL, "program and pid");
	{
		int lines = 0, stamps = 1;

		for (char *p = buf; *p; p = strchr(p, '\n') + 1) {
			lines++;
			/* 2026-11-28T13:05:01Z */
			stamps &= strlen(p) > 20 && p[4] == '-' && p[7] == '-' && p[10] == 'T' &&
				  p[13] == ':' && p[16] == ':' && p[19] == 'Z' && p[20] == ' ';
			if (!strchr(p, '\n'))
				break;
		}
		is_int(lines, 3, "three lines");
		ok(stamps, "each line starts with an ISO UTC time");
	}
	log_open(1, LOG_LVL_INFO);
}

int main(void)
{
	struct t *t = calloc(1, sizeof(*t));
	char cmd[200];

	snprintf(t->dir, sizeof(t->dir), "%s", "/tmp/test_config.XXXXXX");
	if (!mkdtemp(t->dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(t->path, sizeof(t->path), "%s/t.conf", t->dir);
	test_durations();
	test_split_listen();
	test_defaults();
	test_every_key(t);
	test_values(t);
	test_providers(t);
	test_provider_sections(t);
	test_rates_bools(t);
	test_repeatable(t);
	test_categories(t);
	test_zones(t);
	test_errors(t);
	test_comments(t);
	test_fleet(t);
	test_example(t);
	test_log_names();
	test_log_lines(t);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		diag("could not remove %s", t->dir);
	free(t);
	return done_testing();
}
