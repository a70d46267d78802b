/* config.c - the configuration file (doc/configuration.md#the-configuration-file) and its one table of options.
 *
 * config_ini.c delivers headers and keys with their lines; this file knows what they
 * mean: the table below gives each option its section, type, default, range and field,
 * and the same parsers read the defaults and the file. Every problem is reported and
 * reading goes on; config_load() fails at the end if any was found. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config.h"
#include "config_ini.h"
#include "config_value.h"
#include "lists_parse.h"
#include "feed_parse.h"
#include "log.h"
#include "provider.h"

_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "uint options are stored as uint32_t");
_Static_assert(sizeof(enum config_provider) == sizeof(int), "enum options are stored as int");
_Static_assert(sizeof(enum config_unknown) == sizeof(int), "enum options are stored as int");

#define TTL_MAX 2147483647u /* RFC 2181 §8 */

/* The state directory, $(localstatedir)/lib/threatbl, comes from Makefile.am: the
 * default database must not depend on where threatbld happens to be started. */
#ifndef STATEDIR
#define STATEDIR "/var/lib/threatbl"
#endif

enum sect { SECT_NONE, SECT_SERVER, SECT_INTEL, SECT_PROBE, SECT_HTTP, SECT_ZONE, SECT_BAD,
	     SECT_FEED, SECT_PROVIDER };

enum opt_type {
	T_STRING,  /* char *; OPT_EMPTY_NULL: an empty value gives NULL */
	T_URL,     /* char *, http:// or https:// */
	T_UINT,    /* uint32_t in [min, max] */
	T_DUR_MS,  /* uint32_t milliseconds in [min, max] */
	T_DUR_S,   /* uint32_t whole seconds in [min, max]; TTLs too */
	T_BOOL,    /* int */
	T_ENUM,    /* int, the index of the value in names[] */
	T_PROVIDER, /* enum config_provider + provider_kind (struct config only) */
	T_RATE,    /* double, calls per second */
	T_LISTEN,  /* char **listen + nlisten */
	T_SOA,     /* char *, normalised "mname rname refresh retry expire minimum" */
	T_NAMES,   /* char **, NULL-terminated absolute names */
	T_CAT,     /* struct config_cat */
	T_STATIC,  /* statics[] + static_lines[] + nstatics */
	T_SIZE,    /* uint64_t bytes in [min, max]; suffixes K, M, G (x 1024) */
	T_ACL,     /* struct acl: prefixes separated by white space, or "any" */
	T_ADDR,    /* char *, a numeric IPv4 or IPv6 address; empty: NULL */
	T_SERIAL,  /* enum config_serial + serial_fixed (struct config only) */
	T_IDENT,   /* char *, printable ASCII up to max bytes, %h and %%; empty: NULL */
	T_ENDPOINT, /* char *, one numeric ADDRESS:PORT ([V6]:PORT); empty: NULL */
	T_PROVIDERS, /* providers[] + nproviders: names of provider.c's table */
	T_FEEDS,   /* config_zone feeds[] + nfeeds: [feed] names, or "none" */
	T_CATMASK, /* uint8_t VERDICT_BIT()s: category names, or "none" */
};

enum { OPT_REPEAT = 1, OPT_EMPTY_NULL = 2 };

struct opt {
	enum sect sect;
	const char *key;
	enum opt_type type;
	size_t off;             /* in struct config, or struct config_zone for SECT_ZONE */
	const char *def;        /* parsed like a value from the file; NULL: none */
	uint64_t min, max;
	unsigned flags;
	const char *const *names; /* T_ENUM */
};

static const char *const level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const unknown_names[] = { "nxdomain", "servfail", NULL };
static const char *const combine_names[] = { "first", "all", NULL };
static const char *const cat_names[] = { "vpn", "openvpn443", "hosting", "tor", "proxy",
					 "scanner", NULL };
_Static_assert(VERDICT_SCANNER == 5 && VERDICT_NCAT == 6, "cat_names");

/* The names' order is the enums' order. */
_Static_assert(LOG_LVL_ERROR == 0 && LOG_LVL_DEBUG == 3, "level_names");
_Static_assert(CONFIG_UNKNOWN_SERVFAIL == 1, "unknown_names");
_Static_assert(CONFIG_COMBINE_ALL == 1, "combine_names");
_Static_assert(sizeof(enum config_combine) == sizeof(int), "enum options are stored as int");

#define OPT(sc, st, k, t, f, d, lo, hi, fl, nm) { sc, k, t, offsetof(st, f), d, lo, hi, fl, nm }
#define S(...) OPT(SECT_SERVER, struct config, __VA_ARGS__)
#define I(...) OPT(SECT_INTEL, struct config, __VA_ARGS__)
#define P(...) OPT(SECT_PROBE, struct config, __VA_ARGS__)
#define H(...) OPT(SECT_HTTP, struct config, __VA_ARGS__)
#define Z(...) OPT(SECT_ZONE, struct config_zone, __VA_ARGS__)
/* [provider NAME]: no defaults here, what is not given comes from [intel] (cfg_finish) */
#define V(...) OPT(SECT_PROVIDER, struct config_prov, __VA_ARGS__)
#define F(...) OPT(SECT_FEED, struct config_feed, __VA_ARGS__)
#define CAT(k, c, d) Z(k, T_CAT, cat[c], d, 0, 0, 0, NULL)

/* Every option: the defaults here are the ones zones/threatbl.conf.example documents. */
static const struct opt opts[] = {
	S("listen", T_LISTEN, listen, "127.0.0.1:5353", 0, 0, OPT_REPEAT, NULL),
	S("database", T_STRING, database, STATEDIR "/threatbl.sqlite", 0, 0, 0, NULL),
	S("database-password-file", T_STRING, database_password_file, NULL, 0, 0,
	  OPT_EMPTY_NULL, NULL),
	S("user", T_STRING, user, NULL, 0, 0, OPT_EMPTY_NULL, NULL),
	S("control", T_STRING, control, CONFIG_CONTROL_DEFAULT, 0, 0, OPT_EMPTY_NULL, NULL),
	S("log-level", T_ENUM, log_level, "info", 0, 0, 0, level_names),
	S("threads", T_UINT, threads, "1", 1, 64, 0, NULL),
	S("tcp-idle", T_DUR_MS, tcp_idle_ms, "10s", 100, 3600000, 0, NULL),
	S("tcp-clients", T_UINT, tcp_max_clients, "256", 1, 65536, 0, NULL),
	S("tcp-clients-per-ip", T_UINT, tcp_clients_per_ip, "16", 1, 65536, 0, NULL),
	S("max-list-size", T_SIZE, max_list_size, "1G", 1, 1ull << 40, 0, NULL),
	S("allow-query", T_ACL, allow_query, "any", 0, 0, OPT_REPEAT, NULL),
	S("serial", T_SERIAL, serial_mode, "content", 0, 0, 0, NULL),
	S("identity", T_IDENT, identity, NULL, 0, CONFIG_IDENTITY_MAX, OPT_EMPTY_NULL, NULL),
	S("metrics", T_ENDPOINT, metrics, NULL, 0, 0, OPT_EMPTY_NULL, NULL),
	S("metrics-allow", T_ACL, metrics_allow, "127.0.0.0/8 ::1", 0, 0, OPT_REPEAT, NULL),
	S("query-log", T_STRING, query_log, NULL, 0, 0, OPT_EMPTY_NULL, NULL),
	S("query-log-sample", T_UINT, query_log_sample, "1", 1, 1000000, 0, NULL),
	I("provider", T_PROVIDER, provider, "none", 0, 0, 0, NULL),
	I("url", T_URL, url, "https://api.criminalip.io", 0, 0, 0, NULL),
	I("api-key-file", T_STRING, api_key_file, NULL, 0, 0, OPT_EMPTY_NULL, NULL),
	I("timeout", T_DUR_MS, timeout_ms, "5s", 100, 300000, 0, NULL),
	I("max-report-size", T_SIZE, max_report_size, "32M", 4096, 1ull << 30, 0, NULL),
	I("deadline", T_DUR_MS, deadline_ms, "1500ms", 0, 60000, 0, NULL),
	I("concurrency", T_UINT, concurrency, "1", 1, 256, 0, NULL),
	I("rate", T_RATE, rate, "5/s", 0, 100000, 0, NULL),
	I("rate-burst", T_UINT, rate_burst, "5", 1, 100000, 0, NULL),
	I("daily-budget", T_UINT, daily_budget, "0", 0, UINT32_MAX, 0, NULL),
	I("fresh", T_DUR_S, fresh_s, "7d", 1, 3650 * 86400u, 0, NULL),
	I("max-stale", T_DUR_S, max_stale_s, "30d", 1, 3650 * 86400u, 0, NULL),
	I("lookup-reserved", T_BOOL, lookup_reserved, "no", 0, 0, 0, NULL),
	I("queue", T_UINT, queue_max, "10000", 0, 1000000, 0, NULL),
	I("lookup-from", T_ACL, lookup_from, "any", 0, 0, OPT_REPEAT, NULL),
	I("per-client-rate", T_RATE, per_client_rate, "1/s", 0, 100000, 0, NULL),
	I("per-client-burst", T_UINT, per_client_burst, "5", 1, 100000, 0, NULL),
	I("client-prefix-v4", T_UINT, client_prefix_v4, "24", 8, 32, 0, NULL),
	I("client-prefix-v6", T_UINT, client_prefix_v6, "56", 16, 128, 0, NULL),
	I("skip-when", T_CATMASK, skip_when, "none", 0, 0, 0, NULL),
	I("providers", T_PROVIDERS, providers, NULL, 0, 0, 0, NULL),
	I("combine", T_ENUM, combine, "first", 0, 0, 0, combine_names),
	V("url", T_URL, url, NULL, 0, 0, 0, NULL),
	V("key-file", T_STRING, key_file, NULL, 0, 0, OPT_EMPTY_NULL, NULL),
	V("timeout", T_DUR_MS, timeout_ms, NULL, 100, 300000, 0, NULL),
	V("rate", T_RATE, rate, NULL, 0, 100000, 0, NULL),
	V("rate-burst", T_UINT, rate_burst, NULL, 1, 100000, 0, NULL),
	V("concurrency", T_UINT, concurrency, NULL, 1, 256, 0, NULL),
	V("daily-budget", T_UINT, daily_budget, NULL, 0, UINT32_MAX, 0, NULL),
	V("scanner-score", T_UINT, scanner_score, "75", 1, 100, 0, NULL),
	P("openvpn443", T_BOOL, probe_openvpn443, "no", 0, 0, 0, NULL),
	P("timeout", T_DUR_MS, probe_timeout_ms, "3s", 100, 60000, 0, NULL),
	P("concurrency", T_UINT, probe_concurrency, "4", 1, 64, 0, NULL),
	P("rate", T_RATE, probe_rate, "2/s", 0, 100, 0, NULL),
	P("from", T_ADDR, probe_from, NULL, 0, 0, OPT_EMPTY_NULL, NULL),
	P("port", T_UINT, probe_port, "443", 1, 65535, 0, NULL),
	H("listen", T_STRING, http_listen, NULL, 0, 0, OPT_EMPTY_NULL, NULL),
	H("public-url", T_URL, http_public_url, NULL, 0, 0, OPT_EMPTY_NULL, NULL),
	H("allow", T_ACL, http_allow, "any", 0, 0, OPT_REPEAT, NULL),
	H("recheck", T_BOOL, http_recheck, "no", 0, 0, 0, NULL),
	H("recheck-interval", T_DUR_S, http_recheck_interval_s, "1h", 60, 30 * 86400u, 0, NULL),
	H("recheck-rate", T_RATE, http_recheck_rate, "60/h", 0, 100, 0, NULL),
	H("recheck-per-client", T_RATE, http_recheck_client_rate, "5/h", 0, 100, 0, NULL),
	H("max-connections", T_UINT, http_max_connections, "64", 1, 10000, 0, NULL),
	H("connections-per-ip", T_UINT, http_connections_per_ip, "8", 1, 10000, 0, NULL),
	Z("soa", T_SOA, soa, NULL, 0, 0, 0, NULL),
	Z("ns", T_NAMES, ns, NULL, 0, 0, 0, NULL),
	Z("ttl", T_DUR_S, ttl, "300", 0, TTL_MAX, 0, NULL),
	Z("negative-ttl", T_DUR_S, negative_ttl, "300", 0, TTL_MAX, 0, NULL),
	Z("unknown", T_ENUM, unknown, "nxdomain", 0, 0, 0, unknown_names),
	Z("unknown-ttl", T_DUR_S, unknown_ttl, "30", 0, TTL_MAX, 0, NULL),
	CAT("vpn", VERDICT_VPN, "127.0.0.2 VPN exit node, see https://bl.example.org/ip/$"),
	CAT("openvpn443", VERDICT_OPENVPN443, "127.0.0.3 OpenVPN served on tcp/443"),
	CAT("hosting", VERDICT_HOSTING, "127.0.0.4 Hosting or cloud network"),
	CAT("tor", VERDICT_TOR, "127.0.0.5 Tor exit node"),
	CAT("proxy", VERDICT_PROXY, "127.0.0.6 Open proxy"),
	CAT("scanner", VERDICT_SCANNER, "127.0.0.7 Scanner or attack source"),
	Z("clean", T_CAT, clean, "", 0, 0, 0, NULL),
	Z("static", T_STATIC, statics, NULL, 0, 0, OPT_REPEAT, NULL),
	Z("feeds", T_FEEDS, feeds, NULL, 0, 0, 0, NULL),
	F("url", T_URL, url, NULL, 0, 0, 0, NULL),
	F("format", T_ENUM, format, "plain", 0, 0, 0, feed_format_names),
	F("category", T_ENUM, category, NULL, 0, 0, 0, cat_names),
	F("every", T_DUR_S, every_s, "1h", 1, 30 * 86400u, 0, NULL),
	F("max-age", T_DUR_S, max_age_s, "7d", 1, 3650 * 86400u, 0, NULL),
	F("max-size", T_SIZE, max_size, "16M", 1024, 1ull << 30, 0, NULL),
	F("max-entries", T_UINT, max_entries, "1000000", 1, 100000000, 0, NULL),
	F("max-shrink", T_UINT, max_shrink, "50", 0, 100, 0, NULL),
	F("column", T_UINT, column, "1", 1, 64, 0, NULL),
	F("timeout", T_DUR_MS, timeout_ms, "60s", 100, 600000, 0, NULL),
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

struct loader {
	struct config *cfg;
	const char *file;
	char *dir;                /* of the file, for relative static paths; NULL: cwd */
	config_report_fn report;
	void *arg;
	unsigned nerr;
	int oom;
	enum sect sect;           /* the section being read */
	size_t zone;              /* its index in cfg->zones when SECT_ZONE */
	size_t psect;             /* its index in cfg->psect when SECT_PROVIDER */
	unsigned providers_line;  /* where [intel] providers was given */
	unsigned provider_line;   /* where [intel] provider was given */
	size_t feed;              /* its index in cfg->feeds when SECT_FEED */
	unsigned seen[NOPTS];     /* line of each option's first setting, 0 = not yet */
	int listen_seen;          /* the file's first listen replaces the default */
};

__attribute__((format(printf, 3, 4)))
static void ld_error(struct loader *ld, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ld->nerr++;
	if (ld->report)
		ld->report(ld->arg, CONFIG_ERROR, ld->file, line, msg);
}

/* Reported, but the configuration stays valid (config.h). */
__attribute__((format(printf, 3, 4)))
static void ld_warn(struct loader *ld, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ld->report)
		ld->report(ld->arg, CONFIG_WARNING, ld->file, line, msg);
}

static void ld_oom(struct loader *ld, unsigned line)
{
	if (!ld->oom)
		ld_error(ld, line, "out of memory");
	ld->oom = 1;
}

/* ---- small helpers ---- */

/* Append s (taken) to the NULL-terminated vector *v of n entries. */
static int strv_push(char ***v, size_t *n, char *s)
{
	char **nv;

	if (!s)
		return -ENOMEM;
	nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	nv[(*n)++] = s;
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* ---- setting one option ---- */

static int set_cat(struct loader *ld, const struct opt *o, struct config_cat *c,
		   const char *val, unsigned line)
{
	size_t n = strcspn(val, " \t");
	const char *txt = val + n;
	uint8_t a[4] = { 0 };
	char addr[64], *copy;

	while (isspace((unsigned char)*txt))
		txt++;
	if (n) {
		snprintf(addr, sizeof(addr), "%.*s", (int)n, val);
		if (n >= sizeof(addr) || inet_pton(AF_INET, addr, a) != 1) {
			ld_error(ld, line, "%s: '%s' is not an IPv4 address "
				 "(NAME = ADDRESS TXT-TEMPLATE)", o->key, addr);
			return -EINVAL;
		}
		if (strlen(txt) > 255)
			ld_warn(ld, line, "%s: the TXT template is longer than 255 characters; "
				"answers are cut at 255", o->key);
		if (a[0] != 127)
			ld_warn(ld, line, "%s: %s is outside 127.0.0.0/8, which RFC 5782 "
				"reserves for DNSBL codes", o->key, addr);
	}
	copy = strdup(n ? txt : "");
	if (!copy)
		return -ENOMEM;
	free(c->txt);
	c->txt = copy;
	c->enabled = n != 0;
	memcpy(c->a, a, 4);
	return 0;
}

static int set_soa(struct loader *ld, char **dst, const char *val, unsigned line)
{
	static const char *const what[] = { "mname", "rname", "refresh", "retry", "expire",
					    "minimum" };
	char *copy = strdup(val), *p = copy, *t, *out = NULL;
	char nums[4][16];
	char *names[2];
	unsigned n = 0;
	int r = -EINVAL;

	if (!copy)
		return -ENOMEM;
	while ((t = config_value_token(&p))) {
		if (n >= 6) {
			n++;
			continue;
		}
		if (n < 2) {
			const char *why = config_value_dname(t, 1);

			if (why) {
				ld_error(ld, line, "soa: %s '%s' %s", what[n], t, why);
				goto out;
			}
			names[n] = t;
		} else {
			uint64_t ms;

			if (config_parse_duration_ms(t, &ms) < 0 || ms % 1000 ||
			    ms / 1000 > TTL_MAX) {
				ld_error(ld, line, "soa: %s '%s' is not a number of seconds "
					 "up to %u or a duration", what[n], t, TTL_MAX);
				goto out;
			}
			snprintf(nums[n - 2], sizeof(nums[0]), "%u", (unsigned)(ms / 1000));
		}
		n++;
	}
	if (n != 6) {
		ld_error(ld, line, "soa: %u fields, expected 6: mname rname refresh retry "
			 "expire minimum", n);
		goto out;
	}
	if (asprintf(&out, "%s %s %s %s %s %s", names[0], names[1], nums[0], nums[1],
		     nums[2], nums[3]) < 0) {
		r = -ENOMEM;
		goto out;
	}
	free(*dst);
	*dst = out;
	r = 0;
out:
	free(copy);
	return r;
}

static int set_names(struct loader *ld, const struct opt *o, char ***dst, const char *val,
		     unsigned line)
{
	char *copy = strdup(val), *p = copy, *t;
	char **v = NULL;
	size_t n = 0;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	while (r == 0 && (t = config_value_token(&p))) {
		const char *why = config_value_dname(t, 1);

		if (why) {
			ld_error(ld, line, "%s: '%s' %s", o->key, t, why);
			r = -EINVAL;
		} else {
			r = strv_push(&v, &n, strdup(t));
		}
	}
	if (r == 0 && n == 0) {
		ld_error(ld, line, "%s: at least one name is needed", o->key);
		r = -EINVAL;
	}
	free(copy);
	if (r < 0) {
		strv_free(v);
		return r;
	}
	strv_free(*dst);
	*dst = v;
	return 0;
}

static int set_listen(struct loader *ld, struct config *cfg, const char *val, unsigned line)
{
	char *copy = strdup(val), *p = copy, *t, host[64];
	uint16_t port;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	if (!ld->listen_seen) {
		strv_free(cfg->listen);
		cfg->listen = NULL;
		cfg->nlisten = 0;
		ld->listen_seen = 1;
	}
	if (!*val) {
		ld_error(ld, line, "listen: an address is needed");
		r = -EINVAL;
	}
	while (r == 0 && (t = config_value_token(&p))) {
		if (config_split_listen(t, host, &port) < 0) {
			ld_error(ld, line, "listen: '%s' is not ADDRESS:PORT "
				 "(127.0.0.1:5353, [::1]:5353)", t);
			r = -EINVAL;
			break;
		}
		for (size_t i = 0; i < cfg->nlisten; i++) {
			if (strcmp(cfg->listen[i], t) == 0) {
				ld_error(ld, line, "listen: %s is given twice", t);
				r = -EINVAL;
			}
		}
		if (r == 0)
			r = strv_push(&cfg->listen, &cfg->nlisten, strdup(t));
	}
	free(copy);
	return r;
}

static int set_static(struct loader *ld, struct config_zone *z, const char *val,
		      unsigned line)
{
	unsigned *nl;
	char *path;
	int r;

	if (!*val) {
		ld_error(ld, line, "static: a file name is needed");
		return -EINVAL;
	}
	if (val[0] == '/' || !ld->dir)
		path = strdup(val);
	else if (asprintf(&path, "%s/%s", ld->dir, val) < 0)
		path = NULL;
	nl = realloc(z->static_lines, (z->nstatics + 1) * sizeof(*nl));
	if (!nl) {
		free(path);
		return -ENOMEM;
	}
	z->static_lines = nl;
	nl[z->nstatics] = line;
	r = strv_push(&z->statics, &z->nstatics, path);
	return r;
}

/* `feeds = NAME ...` or `none`: the names are checked against the [feed] sections once
 * the whole file is read (a feed may be defined after the zone). */
static int set_feeds(struct loader *ld, struct config_zone *z, const char *val,
		     unsigned line)
{
	char *copy = strdup(val), *p = copy, *t;
	int r = 0, none = 0;

	if (!copy)
		return -ENOMEM;
	while (r == 0 && (t = config_value_token(&p))) {
		if (strcasecmp(t, "none") == 0)
			none = 1;
		else
			r = strv_push(&z->feeds, &z->nfeeds, strdup(t));
	}
	free(copy);
	if (r == 0 && ((none && z->nfeeds) || (!none && !z->nfeeds))) {
		ld_error(ld, line, "feeds: '%s' is not a list of [feed] names, or none", val);
		r = -EINVAL;
	}
	return r;
}

/* Category names separated by white space, or `none`. */
static int set_catmask(struct loader *ld, const struct opt *o, uint8_t *dst,
		       const char *val, unsigned line)
{
	char *copy = strdup(val), *p = copy, *t;
	uint8_t mask = 0;
	int r = 0, none = 0, n = 0;

	if (!copy)
		return -ENOMEM;
	while (r == 0 && (t = config_value_token(&p))) {
		int c;

		n++;
		if (strcasecmp(t, "none") == 0) {
			none = 1;
			continue;
		}
		for (c = 0; cat_names[c] && strcasecmp(t, cat_names[c]); c++)
			;
		if (!cat_names[c]) {
			ld_error(ld, line, "%s: '%s' is not a category (vpn openvpn443 hosting tor "
				 "proxy scanner) or none", o->key, t);
			r = -EINVAL;
		}
		mask |= VERDICT_BIT(c);
	}
	free(copy);
	if (r == 0 && (n == 0 || (none && n > 1))) {
		ld_error(ld, line, "%s: '%s' is not a list of categories, or none", o->key, val);
		r = -EINVAL;
	}
	if (r == 0)
		*dst = mask;
	return r;
}

/* Whether the authority of an http:// URL (after the scheme) names this machine:
 * localhost, 127.0.0.0/8 or [::1]. Plain HTTP is for a local relay or a test double. */
static int url_host_is_loopback(const char *auth)
{
	size_t n = strcspn(auth, "/?#");
	const char *at = memchr(auth, '@', n);
	char host[256];
	size_t hl;

	if (at) {
		n -= (size_t)(at + 1 - auth);
		auth = at + 1;
	}
	if (auth[0] == '[')
		hl = strcspn(auth, "]") + 1;
	else
		hl = strcspn(auth, ":/?#");
	if (hl > n)
		hl = n;
	if (hl >= sizeof(host))
		return 0;
	memcpy(host, auth, hl);
	host[hl] = '\0';
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return 1;
	return strncmp(host, "127.", 4) == 0 && strspn(host + 4, "0123456789.") == hl - 4;
}

/* Prefixes separated by white space, or "any" (everyone: an empty list). A line adds
 * to the lines before it; "any" empties the list. */
static int set_acl(struct loader *ld, const struct opt *o, struct acl *dst, const char *val,
		   unsigned line)
{
	char *copy = strdup(val), *p = copy, *t;
	struct acl add = { 0 };
	int r = 0, any = 0, n = 0;

	if (!copy)
		return -ENOMEM;
	while (r == 0 && (t = config_value_token(&p))) {
		n++;
		if (strcmp(t, "any") == 0) {
			any = 1;
			continue;
		}
		r = acl_add(&add, t);
		if (r == -EINVAL)
			ld_error(ld, line, "%s: '%s' is not an address or a prefix (192.0.2.0/24, "
				 "2001:db8::/32) nor any", o->key, t);
	}
	if (r == 0 && n == 0) {
		ld_error(ld, line, "%s: a prefix, or any, is needed", o->key);
		r = -EINVAL;
	}
	if (r == 0 && any && add.n) {
		ld_error(ld, line, "%s: any together with prefixes", o->key);
		r = -EINVAL;
	}
	free(copy);
	if (r < 0) {
		acl_free(&add);
		return r;
	}
	/* The file's first line replaces the default (metrics-allow's is not empty). */
	if (line && ld->seen[o - opts] == line)
		acl_free(dst);
	if (any) {
		acl_free(dst);
		return 0;
	}
	for (size_t i = 0; i < add.n; i++) {
		struct acl_entry *nv = realloc(dst->v, (dst->n + 1) * sizeof(*nv));

		if (!nv) {
			acl_free(&add);
			return -ENOMEM;
		}
		dst->v = nv;
		dst->v[dst->n++] = add.v[i];
	}
	acl_free(&add);
	return 0;
}

/* A size in bytes: a whole number with an optional K, M or G (powers of 1024). */
static int set_size(struct loader *ld, const struct opt *o, uint64_t *dst, const char *val,
		    unsigned line)
{
	const char *end;
	uint64_t v, mul = 1;
	int r = config_value_u64(val, &end, &v);

	if (r == 0 && *end) {
		switch (end[0]) {
		case 'k': case 'K': mul = 1ull << 10; break;
		case 'm': case 'M': mul = 1ull << 20; break;
		case 'g': case 'G': mul = 1ull << 30; break;
		default: r = -EINVAL;
		}
		if (r == 0 && end[1])
			r = -EINVAL;
	}
	if (r == -EINVAL) {
		ld_error(ld, line, "%s: '%s' is not a size (bytes, or with K, M or G)", o->key, val);
		return r;
	}
	if (r < 0 || v > o->max / mul || v * mul < o->min) {
		ld_error(ld, line, "%s: %s is out of range (%llu..%llu bytes)", o->key, val,
			 (unsigned long long)o->min, (unsigned long long)o->max);
		return -ERANGE;
	}
	*dst = v * mul;
	return 0;
}

static int set_number(struct loader *ld, const struct opt *o, uint32_t *dst, const char *val,
		      unsigned line)
{
	char lo[32], hi[32];
	uint64_t v;
	int r;

	if (o->type == T_UINT) {
		const char *end;

		r = config_value_u64(val, &end, &v);
		if (r == 0 && *end)
			r = -EINVAL;
		if (r == -EINVAL) {
			ld_error(ld, line, "%s: '%s' is not a whole number", o->key, val);
			return r;
		}
		if (r < 0 || v < o->min || v > o->max) {
			ld_error(ld, line, "%s: %s is out of range (%llu..%llu)", o->key, val,
				 (unsigned long long)o->min, (unsigned long long)o->max);
			return -ERANGE;
		}
		*dst = (uint32_t)v;
		return 0;
	}
	r = config_parse_duration_ms(val, &v);
	if (r == -EINVAL) {
		ld_error(ld, line, "%s: '%s' is not a duration (250ms, 30s, 10m, 2h, 7d or "
			 "seconds)", o->key, val);
		return r;
	}
	if (r == 0 && o->type == T_DUR_S) {
		if (v % 1000) {
			ld_error(ld, line, "%s: '%s' is not a whole number of seconds", o->key, val);
			return -EINVAL;
		}
		v /= 1000;
	}
	if (r < 0 || v < o->min || v > o->max) {
		uint64_t k = o->type == T_DUR_S ? 1000 : 1;

		config_value_fmt_ms(o->min * k, lo, sizeof(lo));
		config_value_fmt_ms(o->max * k, hi, sizeof(hi));
		ld_error(ld, line, "%s: %s is out of range (%s..%s)", o->key, val, lo, hi);
		return -ERANGE;
	}
	*dst = (uint32_t)v;
	return 0;
}

static int set_enum(struct loader *ld, const struct opt *o, int *dst, const char *val,
		    unsigned line)
{
	char list[128] = "";
	size_t n = 0;

	for (int i = 0; o->names[i]; i++) {
		if (strcasecmp(val, o->names[i]) == 0) {
			*dst = i;
			return 0;
		}
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? " | " : "",
				      o->names[i]);
	}
	ld_error(ld, line, "%s: '%s' is not one of %s", o->key, val, list);
	return -EINVAL;
}

/* none, auto or a provider of provider.c's table: the names come from the table, so
 * that a new provider needs no change here. */
static int set_provider(struct loader *ld, const struct opt *o, struct config *cfg,
			const char *val, unsigned line)
{
	const struct provider_kind *k;
	char list[256] = "none | auto";
	size_t n = strlen(list);

	if (strcasecmp(val, "none") == 0) {
		cfg->provider = CONFIG_PROVIDER_NONE;
		cfg->provider_kind = NULL;
		return 0;
	}
	if (strcasecmp(val, "auto") == 0) {
		cfg->provider = CONFIG_PROVIDER_AUTO;
		cfg->provider_kind = provider_default();
		return 0;
	}
	if ((k = provider_find(val))) {
		cfg->provider = CONFIG_PROVIDER_NAMED;
		cfg->provider_kind = k;
		return 0;
	}
	for (size_t i = 0; (k = provider_at(i)) && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, " | %s", k->name);
	ld_error(ld, line, "%s: '%s' is not one of %s", o->key, val, list);
	return -EINVAL;
}

/* content | time | a number 0..4294967295 (doc/dns.md#the-soa-serial). */
static int set_serial(struct loader *ld, const struct opt *o, struct config *cfg,
		      const char *val, unsigned line)
{
	const char *end;
	uint64_t v;
	int r;

	if (strcasecmp(val, "content") == 0 || strcasecmp(val, "time") == 0) {
		cfg->serial_mode = tolower((unsigned char)val[0]) == 'c' ?
				   CONFIG_SERIAL_CONTENT : CONFIG_SERIAL_TIME;
		cfg->serial_fixed = 0;
		return 0;
	}
	r = config_value_u64(val, &end, &v);
	if (r == 0 && *end)
		r = -EINVAL;
	if (r == 0 && v > UINT32_MAX)
		r = -ERANGE;
	if (r < 0) {
		ld_error(ld, line, "%s: '%s' is not content, time or a serial number "
			 "(0..4294967295)", o->key, val);
		return r;
	}
	cfg->serial_mode = CONFIG_SERIAL_FIXED;
	cfg->serial_fixed = (uint32_t)v;
	return 0;
}

/* Text answered to anyone who asks (CH TXT, NSID): printable ASCII only, so that
 * it reads the same in dig, logs and monitors; '%' only as %h or %%. */
static int set_ident(struct loader *ld, const struct opt *o, char **dst, const char *val,
		     unsigned line)
{
	size_t n = strlen(val);
	char *s;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)val[i];

		if (c < 0x20 || c > 0x7e) {
			ld_error(ld, line, "%s: byte %zu (0x%02x) is not printable ASCII",
				 o->key, i + 1, c);
			return -EINVAL;
		}
		if (c == '%' && val[i + 1] != 'h' && val[i + 1] != '%') {
			ld_error(ld, line, "%s: '%%' must be followed by h (the host name) or %% "
				 "(a '%%')", o->key);
			return -EINVAL;
		}
		if (c == '%')
			i++;
	}
	if (n > o->max) {
		ld_error(ld, line, "%s: %zu bytes, at most %llu", o->key, n,
			 (unsigned long long)o->max);
		return -ERANGE;
	}
	s = n ? strdup(val) : NULL;
	if (n && !s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* One numeric ADDRESS:PORT with a port above 0 (T_ENDPOINT). */
static int endpoint_ok(const char *val)
{
	unsigned char addr[16];
	char host[64];
	uint16_t port;

	return config_split_listen(val, host, &port) == 0 && port != 0 &&
	       (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1);
}

/* providers = NAME...: names of the table, each once, at most CONFIG_PROVIDERS_MAX. */
static int set_providers(struct loader *ld, const struct opt *o, struct config *cfg,
			 const char *val, unsigned line)
{
	const struct provider_kind *list[CONFIG_PROVIDERS_MAX], *k;
	char *copy = strdup(val), *p = copy, *t;
	size_t n = 0;
	int r = -EINVAL;

	if (!copy)
		return -ENOMEM;
	while ((t = config_value_token(&p))) {
		if (!(k = provider_find(t))) {
			char names[256] = "";
			size_t m = 0;

			for (size_t i = 0; (k = provider_at(i)) && m < sizeof(names); i++)
				m += (size_t)snprintf(names + m, sizeof(names) - m, "%s%s",
						      i ? " " : "", k->name);
			ld_error(ld, line, "%s: '%s' is not a provider (%s)", o->key, t, names);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (list[i] == k) {
				ld_error(ld, line, "%s: %s is named twice", o->key, k->name);
				goto out;
			}
		}
		if (n == CONFIG_PROVIDERS_MAX) {
			ld_error(ld, line, "%s: more than %d providers", o->key,
				 CONFIG_PROVIDERS_MAX);
			goto out;
		}
		list[n++] = k;
	}
	if (!n) {
		ld_error(ld, line, "%s: a value is needed (provider names in priority order)",
			 o->key);
		goto out;
	}
	memcpy(cfg->providers, list, n * sizeof(list[0]));
	cfg->nproviders = n;
	ld->providers_line = line;
	r = 0;
out:
	free(copy);
	return r;
}

/* Parse val for o into base (struct config or struct config_zone). Problems are
 * reported; the old value stays. Returns 0, -EINVAL/-ERANGE or -ENOMEM. */
static int opt_set(struct loader *ld, const struct opt *o, void *base, const char *val,
		   unsigned line)
{
	void *field = (char *)base + o->off;
	unsigned char addr[16];
	char *s;
	int r;

	switch (o->type) {
	case T_ENDPOINT:
		if (*val && !endpoint_ok(val)) {
			ld_error(ld, line, "%s: '%s' is not one numeric ADDRESS:PORT "
				 "(127.0.0.1:9153, [::1]:9153)", o->key, val);
			return -EINVAL;
		}
		/* fall through */
	case T_ADDR:
	case T_URL:
	case T_STRING:
		if (o->type == T_ADDR && *val && inet_pton(AF_INET, val, addr) != 1 &&
		    inet_pton(AF_INET6, val, addr) != 1) {
			ld_error(ld, line, "%s: '%s' is not an IPv4 or IPv6 address", o->key, val);
			return -EINVAL;
		}
		if (o->type == T_URL && strncmp(val, "http://", 7) != 0 &&
		    strncmp(val, "https://", 8) != 0) {
			ld_error(ld, line, "%s: '%s' does not start with http:// or https://",
				 o->key, val);
			return -EINVAL;
		}
		if (o->type == T_URL && o->sect == SECT_FEED && strncmp(val, "http://", 7) == 0 &&
		    !url_host_is_loopback(val + 7))
			ld_warn(ld, line, "%s: '%s' is plain HTTP to another host: anyone on the "
				"path can change the list (use https://)", o->key, val);
		else if (o->type == T_URL && strncmp(val, "http://", 7) == 0 &&
		    !url_host_is_loopback(val + 7))
			ld_warn(ld, line, "%s: '%s' is plain HTTP to another host: the API key "
				"and the answers cross the network unencrypted (use https://)",
				o->key, val);
		if (!*val && !(o->flags & OPT_EMPTY_NULL)) {
			ld_error(ld, line, "%s: a value is needed", o->key);
			return -EINVAL;
		}
		s = *val ? strdup(val) : NULL;
		if (*val && !s)
			return -ENOMEM;
		free(*(char **)field);
		*(char **)field = s;
		return 0;
	case T_UINT:
	case T_DUR_MS:
	case T_DUR_S:
		return set_number(ld, o, field, val, line);
	case T_SIZE:
		return set_size(ld, o, field, val, line);
	case T_ACL:
		return set_acl(ld, o, field, val, line);
	case T_BOOL:
		if (config_value_bool(val, field) < 0) {
			ld_error(ld, line, "%s: '%s' is not yes or no", o->key, val);
			return -EINVAL;
		}
		return 0;
	case T_ENUM:
		return set_enum(ld, o, field, val, line);
	case T_PROVIDER:
		if (line)
			ld->provider_line = line;
		return set_provider(ld, o, base, val, line);
	case T_PROVIDERS:
		return set_providers(ld, o, base, val, line);
	case T_RATE:
		r = config_value_rate(val, field);
		if (r == 0 && *(double *)field > (double)o->max)
			r = -ERANGE;
		if (r < 0)
			ld_error(ld, line, "%s: '%s' is not a rate above 0 and up to %llu/s "
				 "(5/s, 300/m, 1000/h)", o->key, val, (unsigned long long)o->max);
		return r;
	case T_LISTEN:
		return set_listen(ld, base, val, line);
	case T_SOA:
		((struct config_zone *)base)->soa_line = line;
		return set_soa(ld, field, val, line);
	case T_NAMES:
		((struct config_zone *)base)->ns_line = line;
		return set_names(ld, o, field, val, line);
	case T_CAT:
		return set_cat(ld, o, field, val, line);
	case T_STATIC:
		return set_static(ld, base, val, line);
	case T_SERIAL:
		return set_serial(ld, o, base, val, line);
	case T_IDENT:
		return set_ident(ld, o, field, val, line);
	case T_FEEDS:
		((struct config_zone *)base)->feeds_line = line;
		return set_feeds(ld, base, val, line);
	case T_CATMASK:
		return set_catmask(ld, o, field, val, line);
	}
	return -EINVAL;
}

/* Set every option of sect to its default. */
static void opts_default(struct loader *ld, enum sect sect, void *base)
{
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].sect == sect && opts[i].def &&
		    opt_set(ld, &opts[i], base, opts[i].def, 0) == -ENOMEM)
			ld_oom(ld, 0);
	}
}

/* ---- sections and keys ---- */

static const char *sect_name(struct loader *ld, char *buf, size_t n)
{
	if (ld->sect == SECT_ZONE)
		snprintf(buf, n, "[zone %s]", ld->cfg->zones[ld->zone].name);
	else if (ld->sect == SECT_PROVIDER)
		snprintf(buf, n, "[provider %s]", ld->cfg->psect[ld->psect].kind->name);
	else if (ld->sect == SECT_FEED)
		snprintf(buf, n, "[feed %s]", ld->cfg->feeds[ld->feed].name);
	else
		snprintf(buf, n, "%s", ld->sect == SECT_SERVER ? "[server]" :
			 ld->sect == SECT_PROBE ? "[probe]" :
			 ld->sect == SECT_HTTP ? "[http]" : "[intel]");
	return buf;
}

/* The index in opts of the first [provider NAME] key: given bits count from it. */
static size_t provider_opt0(void)
{
	size_t i = 0;

	while (i < NOPTS && opts[i].sect != SECT_PROVIDER)
		i++;
	return i;
}

/* config_ini_ops: "key = value". */
static void on_key(void *arg, unsigned line, const char *key, const char *val)
{
	struct loader *ld = arg;
	const struct opt *o = NULL;
	char sn[300];
	size_t i;
	int r;

	if (ld->sect == SECT_BAD)
		return; /* the section header was reported */
	if (ld->sect == SECT_NONE) {
		ld_error(ld, line, "'%s' is outside any section", key);
		return;
	}
	for (i = 0; i < NOPTS && !o; i++) {
		if (opts[i].sect == ld->sect && strcasecmp(opts[i].key, key) == 0)
			o = &opts[i];
	}
	if (!o) {
		ld_error(ld, line, "unknown key '%s' in %s", key, sect_name(ld, sn, sizeof(sn)));
		return;
	}
	i = (size_t)(o - opts);
	if (ld->seen[i] && !(o->flags & OPT_REPEAT)) {
		ld_error(ld, line, "%s is given twice (first on line %u)", o->key, ld->seen[i]);
		return;
	}
	if (!ld->seen[i])
		ld->seen[i] = line;
	if (ld->sect == SECT_PROVIDER) {
		r = opt_set(ld, o, &ld->cfg->psect[ld->psect], val, line);
		if (r == 0)
			ld->cfg->psect[ld->psect].given |= 1u << (i - provider_opt0());
	} else {
		r = opt_set(ld, o, ld->sect == SECT_ZONE ? (void *)&ld->cfg->zones[ld->zone] :
			    ld->sect == SECT_FEED ? (void *)&ld->cfg->feeds[ld->feed] :
			    (void *)ld->cfg, val, line);
	}
	if (r == -ENOMEM)
		ld_oom(ld, line);
}

static void zone_start(struct loader *ld, unsigned line, char *name)
{
	struct config *cfg = ld->cfg;
	struct config_zone *nz;
	size_t len = strlen(name);
	const char *why;

	ld->sect = SECT_BAD;
	if (!*name) {
		ld_error(ld, line, "[zone] needs a name: [zone bl.example.org]");
		return;
	}
	for (char *p = name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (len > 1 && name[len - 1] == '.')
		name[len - 1] = '\0';
	why = config_value_dname(name, 0);
	if (why) {
		ld_error(ld, line, "zone name '%s' %s", name, why);
		return;
	}
	for (size_t i = 0; i < cfg->nzones; i++) {
		if (strcmp(cfg->zones[i].name, name) == 0) {
			ld_error(ld, line, "zone %s is given twice (first on line %u)", name,
				 cfg->zones[i].line);
			return;
		}
	}
	nz = realloc(cfg->zones, (cfg->nzones + 1) * sizeof(*nz));
	if (!nz) {
		ld_oom(ld, line);
		return;
	}
	cfg->zones = nz;
	nz = &cfg->zones[cfg->nzones];
	memset(nz, 0, sizeof(*nz));
	nz->name = strdup(name);
	nz->line = line;
	cfg->nzones++;
	if (!nz->name) {
		ld_oom(ld, line);
		return;
	}
	opts_default(ld, SECT_ZONE, nz);
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].sect == SECT_ZONE)
			ld->seen[i] = 0;
	}
	ld->sect = SECT_ZONE;
	ld->zone = cfg->nzones - 1;
}

/* [provider NAME]: a provider of the table, once. */
static void provider_start(struct loader *ld, unsigned line, const char *name)
{
	struct config *cfg = ld->cfg;
	const struct provider_kind *k = provider_find(name);
	struct config_prov *np;

	ld->sect = SECT_BAD;
	if (!k) {
		ld_error(ld, line, "[provider %s]: not a provider (providers are named as in "
			 "[intel] providers)", name);
		return;
	}
	for (size_t i = 0; i < cfg->npsect; i++) {
		if (cfg->psect[i].kind == k) {
			ld_error(ld, line, "[provider %s] is given twice (first on line %u)",
				 k->name, cfg->psect[i].line);
			return;
		}
	}
	np = realloc(cfg->psect, (cfg->npsect + 1) * sizeof(*np));
	if (!np) {
		ld_oom(ld, line);
		return;
	}
	cfg->psect = np;
	np = &cfg->psect[cfg->npsect++];
	memset(np, 0, sizeof(*np));
	np->kind = k;
	np->line = line;
	opts_default(ld, SECT_PROVIDER, np);
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].sect == SECT_PROVIDER)
			ld->seen[i] = 0;
	}
	ld->sect = SECT_PROVIDER;
	ld->psect = cfg->npsect - 1;
}

/* [feed NAME]: NAME names its files too, so it is kept to a safe alphabet. */
static void feed_start(struct loader *ld, unsigned line, char *name)
{
	struct config *cfg = ld->cfg;
	struct config_feed *nf;
	size_t len = strlen(name);

	ld->sect = SECT_BAD;
	for (char *p = name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!*name || len > 63 || name[0] == '.' || name[0] == '-' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") != len) {
		ld_error(ld, line, "[feed %s]: a feed's name is 1-63 of a-z 0-9 . _ - (not "
			 "starting with . or -): [feed tor-exits]", name);
		return;
	}
	for (size_t i = 0; i < cfg->nfeeds; i++) {
		if (strcmp(cfg->feeds[i].name, name) == 0) {
			ld_error(ld, line, "feed %s is given twice (first on line %u)", name,
				 cfg->feeds[i].line);
			return;
		}
	}
	nf = realloc(cfg->feeds, (cfg->nfeeds + 1) * sizeof(*nf));
	if (!nf) {
		ld_oom(ld, line);
		return;
	}
	cfg->feeds = nf;
	nf = &cfg->feeds[cfg->nfeeds];
	memset(nf, 0, sizeof(*nf));
	nf->category = -1;
	nf->name = strdup(name);
	nf->line = line;
	cfg->nfeeds++;
	if (!nf->name) {
		ld_oom(ld, line);
		return;
	}
	opts_default(ld, SECT_FEED, nf);
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].sect == SECT_FEED)
			ld->seen[i] = 0;
	}
	ld->sect = SECT_FEED;
	ld->feed = cfg->nfeeds - 1;
}

/* config_ini_ops: a [section] header, NULL when broken. */
static void on_section(void *arg, unsigned line, char *text)
{
	struct loader *ld = arg;

	if (!text) {
		ld->sect = SECT_BAD; /* reported; its keys would only add noise */
		return;
	}
	if (strcasecmp(text, "server") == 0) {
		ld->sect = SECT_SERVER;
	} else if (strcasecmp(text, "intel") == 0) {
		ld->sect = SECT_INTEL;
	} else if (strcasecmp(text, "probe") == 0) {
		ld->sect = SECT_PROBE;
	} else if (strcasecmp(text, "http") == 0) {
		ld->sect = SECT_HTTP;
	} else if (strncasecmp(text, "zone", 4) == 0 &&
		   (!text[4] || isspace((unsigned char)text[4]))) {
		zone_start(ld, line, config_value_trim(text + 4));
	} else if (strncasecmp(text, "provider", 8) == 0 &&
		   (!text[8] || isspace((unsigned char)text[8]))) {
		provider_start(ld, line, config_value_trim(text + 8));
	} else if (strncasecmp(text, "feed", 4) == 0 &&
		   (!text[4] || isspace((unsigned char)text[4]))) {
		feed_start(ld, line, config_value_trim(text + 4));
	} else {
		ld_error(ld, line, "unknown section [%s] (server, intel, probe, http, zone NAME, "
			 "feed NAME, provider NAME)", text);
		ld->sect = SECT_BAD;
	}
}

/* config_ini_ops: a syntax error. */
static void on_error(void *arg, unsigned line, const char *msg)
{
	ld_error(arg, line, "%s", msg);
}

static const struct config_ini_ops ini_ops = { on_section, on_key, on_error };

/* The line an option of sect was set on, 0 when it was not. */
static unsigned opt_line(struct loader *ld, enum sect sect, const char *key)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].sect == sect && strcmp(opts[i].key, key) == 0)
			return ld->seen[i];
	return 0;
}

/* "$url" in a TXT template: [http] public-url + "/ip/" + the address ("$"), so that a
 * refused sender's bounce carries a link to the lookup page. "$$" stays a dollar. */
static void expand_url(struct loader *ld, struct config_zone *z, const char *key,
		       char **txt)
{
	const char *base = ld->cfg->http_public_url;
	size_t blen = base ? strlen(base) : 0;
	char out[LISTS_PARSE_TXT_MAX * 4 + 1];
	size_t o = 0;
	int used = 0;

	while (blen && base[blen - 1] == '/')
		blen--;
	for (const char *p = *txt; *p; p++) {
		const char *add = p;
		size_t n = 1;

		if (p[0] == '$' && p[1] == '$') {
			n = 2;
			p++;
		} else if (strncmp(p, "$url", 4) == 0) {
			used = 1;
			if (o + blen + 5 >= sizeof(out))
				goto toolong;
			memcpy(out + o, base ? base : "", blen);
			memcpy(out + o + blen, "/ip/$", 5);
			o += blen + 5;
			p += 3;
			continue;
		}
		if (o + n >= sizeof(out))
			goto toolong;
		memcpy(out + o, add, n);
		o += n;
	}
	if (!used)
		return;
	if (!base) {
		ld_error(ld, z->line, "zone %s: %s uses $url but [http] public-url is not set",
			 z->name, key);
		return;
	}
	out[o] = '\0';
	if (o > LISTS_PARSE_TXT_MAX) {
toolong:
		ld_error(ld, z->line, "zone %s: %s is longer than %d characters once $url is "
			 "expanded", z->name, key, LISTS_PARSE_TXT_MAX);
		return;
	}
	free(*txt);
	*txt = strdup(out);
	if (!*txt)
		ld_oom(ld, z->line);
}

/* A provider's settings with what its section did not give from [intel]. */
static void provider_fill(const struct config *cfg, struct config_prov *p)
{
	size_t o0 = provider_opt0();

	for (size_t i = o0; i < NOPTS && opts[i].sect == SECT_PROVIDER; i++) {
		if (p->given & (1u << (i - o0)))
			continue;
		if (strcmp(opts[i].key, "url") == 0)
			p->url = p->kind->url ? (char *)p->kind->url : cfg->url;
		else if (strcmp(opts[i].key, "key-file") == 0)
			p->key_file = p->kind == provider_default() ? cfg->api_key_file : NULL;
		else if (strcmp(opts[i].key, "timeout") == 0)
			p->timeout_ms = cfg->timeout_ms;
		else if (strcmp(opts[i].key, "rate") == 0)
			p->rate = cfg->rate;
		else if (strcmp(opts[i].key, "rate-burst") == 0)
			p->rate_burst = cfg->rate_burst;
		else if (strcmp(opts[i].key, "concurrency") == 0)
			p->concurrency = cfg->concurrency;
		else if (strcmp(opts[i].key, "daily-budget") == 0)
			p->daily_budget = cfg->daily_budget;
	}
}

/* providers and provider together, sections nobody asks for. */
static void providers_finish(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	const struct provider_kind *list[CONFIG_PROVIDERS_MAX];
	size_t n;

	if (cfg->nproviders && ld->provider_line)
		ld_error(ld, ld->providers_line, "providers and provider are both given (provider "
			 "on line %u): provider = NAME is the one-provider shorthand",
			 ld->provider_line);
	n = config_providers(cfg, list);
	for (size_t i = 0; i < cfg->npsect; i++) {
		size_t j = 0, o0 = provider_opt0();

		for (size_t k = o0; k < NOPTS && opts[k].sect == SECT_PROVIDER; k++)
			if ((cfg->psect[i].given & (1u << (k - o0))) &&
			    strcmp(opts[k].key, "scanner-score") == 0 &&
			    cfg->psect[i].kind != provider_find("abuseipdb"))
				ld_warn(ld, cfg->psect[i].line, "[provider %s]: scanner-score is "
					"AbuseIPDB's; it does nothing here", cfg->psect[i].kind->name);

		while (j < n && list[j] != cfg->psect[i].kind)
			j++;
		if (j == n)
			ld_warn(ld, cfg->psect[i].line, "[provider %s] is not in [intel] providers: "
				"it is not asked", cfg->psect[i].kind->name);
	}
}

/* What can only be judged once the whole file is read. */
static void cfg_finish(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	char a[32], b[32];

	if (cfg->http_listen) {
		char host[64];
		uint16_t port;
		struct in6_addr any;

		if (config_split_listen(cfg->http_listen, host, &port) ||
		    (inet_pton(AF_INET, host, &any) != 1 && inet_pton(AF_INET6, host, &any) != 1))
			ld_error(ld, opt_line(ld, SECT_HTTP, "listen"), "[http] listen: '%s' is "
				 "not ADDR:PORT or [IPV6]:PORT with a numeric address",
				 cfg->http_listen);
	}
	for (size_t i = 0; i < cfg->nzones; i++) {
		struct config_zone *z = &cfg->zones[i];

		for (unsigned c = 0; c < VERDICT_NCAT; c++)
			if (z->cat[c].txt)
				expand_url(ld, z, verdict_cat_name(c), &z->cat[c].txt);
		if (z->clean.txt)
			expand_url(ld, z, "clean", &z->clean.txt);
	}

	if (cfg->nzones == 0)
		ld_error(ld, 0, "no [zone ...] section");
	for (size_t i = 0; i < cfg->nzones; i++) {
		if (!cfg->zones[i].soa_line)
			ld_error(ld, cfg->zones[i].line, "zone %s: missing soa", cfg->zones[i].name);
		if (!cfg->zones[i].ns_line)
			ld_error(ld, cfg->zones[i].line, "zone %s: missing ns", cfg->zones[i].name);
		for (size_t j = 0; j < cfg->zones[i].nfeeds; j++) {
			size_t k;

			for (k = 0; k < cfg->nfeeds; k++)
				if (strcmp(cfg->feeds[k].name, cfg->zones[i].feeds[j]) == 0)
					break;
			if (k == cfg->nfeeds)
				ld_error(ld, cfg->zones[i].feeds_line, "zone %s: feeds: no [feed %s] "
					 "section", cfg->zones[i].name, cfg->zones[i].feeds[j]);
		}
	}
	for (size_t i = 0; i < cfg->nfeeds; i++) {
		if (!cfg->feeds[i].url)
			ld_error(ld, cfg->feeds[i].line, "feed %s: missing url", cfg->feeds[i].name);
		if (cfg->feeds[i].category < 0)
			ld_error(ld, cfg->feeds[i].line, "feed %s: missing category (vpn openvpn443 "
				 "hosting tor proxy scanner)", cfg->feeds[i].name);
	}
	providers_finish(ld);
	if (cfg->max_stale_s < cfg->fresh_s) {
		unsigned line = 0;

		for (size_t i = 0; i < NOPTS; i++) {
			if (strcmp(opts[i].key, "max-stale") == 0 && ld->seen[i])
				line = ld->seen[i];
			else if (strcmp(opts[i].key, "fresh") == 0 && ld->seen[i] && !line)
				line = ld->seen[i];
		}
		ld_error(ld, line, "max-stale (%s) is shorter than fresh (%s)",
			 config_value_fmt_ms(cfg->max_stale_s * 1000ull, a, sizeof(a)),
			 config_value_fmt_ms(cfg->fresh_s * 1000ull, b, sizeof(b)));
	}
}

struct config *config_defaults(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct loader ld = { .cfg = cfg };

	if (!cfg)
		return NULL;
	opts_default(&ld, SECT_SERVER, cfg);
	opts_default(&ld, SECT_INTEL, cfg);
	opts_default(&ld, SECT_PROBE, cfg);
	opts_default(&ld, SECT_HTTP, cfg);
	if (ld.nerr) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

int config_load(const char *file, config_report_fn report, void *arg, struct config **out)
{
	struct loader ld = { .file = file, .report = report, .arg = arg };
	const char *slash = strrchr(file, '/');
	struct stat st;
	FILE *fp;
	int r;

	*out = NULL;
	fp = fopen(file, "r");
	if (!fp)
		r = -errno;
	else if (fstat(fileno(fp), &st) < 0)
		r = -errno;
	else
		r = S_ISDIR(st.st_mode) ? -EISDIR : 0;
	if (r < 0) {
		ld_error(&ld, 0, "cannot read the configuration: %s", strerror(-r));
		if (fp)
			fclose(fp);
		return r;
	}
	ld.cfg = config_defaults();
	if (slash && !(ld.dir = strndup(file, slash == file ? 1 : (size_t)(slash - file))))
		ld.oom = 1;
	if (!ld.cfg || !(ld.cfg->file = strdup(file)) || ld.oom) {
		r = -ENOMEM;
		goto out;
	}
	r = config_ini_parse(fp, &ini_ops, &ld);
	if (r == -EIO)
		ld_error(&ld, 0, "read error: %s", strerror(EIO));
	if (r == -ENOMEM || ld.oom) {
		r = -ENOMEM;
		goto out;
	}
	if (r == 0)
		cfg_finish(&ld);
	if (r == 0 && ld.nerr)
		r = -EINVAL;
out:
	fclose(fp);
	free(ld.dir);
	if (r < 0) {
		config_free(ld.cfg);
		return r;
	}
	*out = ld.cfg;
	return 0;
}

static void zone_free(struct config_zone *z)
{
	free(z->name);
	free(z->soa);
	strv_free(z->ns);
	for (size_t i = 0; i < VERDICT_NCAT; i++)
		free(z->cat[i].txt);
	free(z->clean.txt);
	strv_free(z->statics);
	free(z->static_lines);
	strv_free(z->feeds);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->file);
	strv_free(cfg->listen);
	free(cfg->database);
	free(cfg->database_password_file);
	free(cfg->user);
	free(cfg->control);
	free(cfg->query_log);
	free(cfg->url);
	free(cfg->api_key_file);
	for (size_t i = 0; i < cfg->npsect; i++) {
		free(cfg->psect[i].url);
		free(cfg->psect[i].key_file);
	}
	free(cfg->psect);
	free(cfg->probe_from);
	free(cfg->http_listen);
	free(cfg->http_public_url);
	acl_free(&cfg->http_allow);
	free(cfg->identity);
	acl_free(&cfg->allow_query);
	acl_free(&cfg->lookup_from);
	free(cfg->metrics);
	acl_free(&cfg->metrics_allow);
	for (size_t i = 0; i < cfg->nzones; i++)
		zone_free(&cfg->zones[i]);
	free(cfg->zones);
	for (size_t i = 0; i < cfg->nfeeds; i++) {
		free(cfg->feeds[i].name);
		free(cfg->feeds[i].url);
	}
	free(cfg->feeds);
	free(cfg);
}

int config_set_listen(struct config *cfg, char *const *addrs, size_t n)
{
	char host[64], **v = NULL;
	size_t nv = 0;
	uint16_t port;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (config_split_listen(addrs[i], host, &port) < 0) {
			strv_free(v);
			return -EINVAL;
		}
		if (strv_push(&v, &nv, strdup(addrs[i])) < 0) {
			strv_free(v);
			return -ENOMEM;
		}
	}
	strv_free(cfg->listen);
	cfg->listen = v;
	cfg->nlisten = nv;
	return 0;
}

int config_set_database(struct config *cfg, const char *path)
{
	char *s;

	if (!path || !*path)
		return -EINVAL;
	s = strdup(path);
	if (!s)
		return -ENOMEM;
	free(cfg->database);
	cfg->database = s;
	return 0;
}

size_t config_providers(const struct config *cfg, const struct provider_kind **out)
{
	if (cfg->nproviders) {
		memcpy(out, cfg->providers, cfg->nproviders * sizeof(out[0]));
		return cfg->nproviders;
	}
	if (cfg->provider == CONFIG_PROVIDER_NONE || !cfg->provider_kind)
		return 0;
	out[0] = cfg->provider_kind;
	return 1;
}

int config_provider_get(const struct config *cfg, const struct provider_kind *k,
			struct config_prov *out)
{
	if (!k)
		return -EINVAL;
	for (size_t i = 0; i < cfg->npsect; i++) {
		if (cfg->psect[i].kind == k) {
			*out = cfg->psect[i];
			provider_fill(cfg, out);
			return 0;
		}
	}
	memset(out, 0, sizeof(*out));
	out->kind = k;
	out->scanner_score = 75;
	provider_fill(cfg, out);
	return 0;
}
