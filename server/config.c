/* config.c - the configuration file (CONTRACT.md §3) and its one table of options.
 *
 * inih splits lines into key and value; our reader around it counts lines (this inih
 * cannot tell the handler), rejects lines longer than inih's buffer instead of letting
 * the rest be read as a new line, and classifies each line the way inih does so that
 * section headers (which inih does not pass to the handler) and every syntax error (inih
 * returns only the first) are seen here. A key is processed once its continuation lines
 * (indented lines after it, inih's multiline rule) have been appended to its value. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"

_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "uint options are stored as uint32_t");
_Static_assert(sizeof(enum config_provider) == sizeof(int), "enum options are stored as int");
_Static_assert(sizeof(enum config_unknown) == sizeof(int), "enum options are stored as int");

#define TTL_MAX 2147483647u /* RFC 2181 §8 */

enum sect { SECT_NONE, SECT_SERVER, SECT_INTEL, SECT_ZONE, SECT_BAD };

enum opt_type {
	T_STRING,  /* char *; OPT_EMPTY_NULL: an empty value gives NULL */
	T_URL,     /* char *, http:// or https:// */
	T_UINT,    /* uint32_t in [min, max] */
	T_DUR_MS,  /* uint32_t milliseconds in [min, max] */
	T_DUR_S,   /* uint32_t whole seconds in [min, max]; TTLs too */
	T_BOOL,    /* int */
	T_ENUM,    /* int, the index of the value in names[] */
	T_RATE,    /* double, calls per second */
	T_LISTEN,  /* char **listen + nlisten */
	T_SOA,     /* char *, normalised "mname rname refresh retry expire minimum" */
	T_NAMES,   /* char **, NULL-terminated absolute names */
	T_CAT,     /* struct config_cat */
	T_STATIC,  /* statics[] + static_lines[] + nstatics */
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
static const char *const provider_names[] = { "none", "criminalip", "auto", NULL };
static const char *const unknown_names[] = { "nxdomain", "servfail", NULL };

#define S(k, t, f, d, lo, hi, fl, nm) { SECT_SERVER, k, t, offsetof(struct config, f), d, lo, hi, fl, nm }
#define I(k, t, f, d, lo, hi, fl, nm) { SECT_INTEL, k, t, offsetof(struct config, f), d, lo, hi, fl, nm }
#define Z(k, t, f, d, lo, hi, fl, nm) { SECT_ZONE, k, t, offsetof(struct config_zone, f), d, lo, hi, fl, nm }
#define CAT(k, c, d) Z(k, T_CAT, cat[c], d, 0, 0, 0, NULL)

/* Every option: the defaults here are the ones zones/threatbl.conf.example documents. */
static const struct opt opts[] = {
	S("listen", T_LISTEN, listen, "127.0.0.1:5353", 0, 0, OPT_REPEAT, NULL),
	S("database", T_STRING, database, "threatbl.sqlite", 0, 0, 0, NULL),
	S("user", T_STRING, user, NULL, 0, 0, OPT_EMPTY_NULL, NULL),
	S("log-level", T_ENUM, log_level, "info", 0, 0, 0, level_names),
	S("threads", T_UINT, threads, "1", 1, 64, 0, NULL),
	S("tcp-idle", T_DUR_MS, tcp_idle_ms, "10s", 100, 3600000, 0, NULL),
	S("tcp-clients", T_UINT, tcp_max_clients, "256", 1, 65536, 0, NULL),
	I("provider", T_ENUM, provider, "none", 0, 0, 0, provider_names),
	I("url", T_URL, url, "https://api.criminalip.io", 0, 0, 0, NULL),
	I("api-key-file", T_STRING, api_key_file, NULL, 0, 0, OPT_EMPTY_NULL, NULL),
	I("timeout", T_DUR_MS, timeout_ms, "5s", 100, 300000, 0, NULL),
	I("deadline", T_DUR_MS, deadline_ms, "1500ms", 0, 60000, 0, NULL),
	I("concurrency", T_UINT, concurrency, "1", 1, 256, 0, NULL),
	I("rate", T_RATE, rate, "5/s", 0, 100000, 0, NULL),
	I("rate-burst", T_UINT, rate_burst, "5", 1, 100000, 0, NULL),
	I("daily-budget", T_UINT, daily_budget, "0", 0, UINT32_MAX, 0, NULL),
	I("fresh", T_DUR_S, fresh_s, "7d", 1, 3650 * 86400u, 0, NULL),
	I("max-stale", T_DUR_S, max_stale_s, "30d", 1, 3650 * 86400u, 0, NULL),
	I("lookup-reserved", T_BOOL, lookup_reserved, "no", 0, 0, 0, NULL),
	I("queue", T_UINT, queue_max, "10000", 0, 1000000, 0, NULL),
	Z("soa", T_SOA, soa, NULL, 0, 0, 0, NULL),
	Z("ns", T_NAMES, ns, NULL, 0, 0, 0, NULL),
	Z("ttl", T_DUR_S, ttl, "300", 0, TTL_MAX, 0, NULL),
	Z("negative-ttl", T_DUR_S, negative_ttl, "300", 0, TTL_MAX, 0, NULL),
	Z("unknown", T_ENUM, unknown, "nxdomain", 0, 0, 0, unknown_names),
	Z("unknown-ttl", T_DUR_S, unknown_ttl, "30", 0, TTL_MAX, 0, NULL),
	CAT("vpn", VERDICT_VPN, "127.0.0.2 VPN exit node: $"),
	CAT("openvpn443", VERDICT_OPENVPN443, "127.0.0.3 OpenVPN on tcp/443: $"),
	CAT("hosting", VERDICT_HOSTING, "127.0.0.4 Hosting or cloud network: $"),
	CAT("tor", VERDICT_TOR, "127.0.0.5 Tor exit node: $"),
	CAT("proxy", VERDICT_PROXY, "127.0.0.6 Open proxy: $"),
	CAT("scanner", VERDICT_SCANNER, "127.0.0.7 Scanner or attack source: $"),
	Z("clean", T_CAT, clean, "", 0, 0, 0, NULL),
	Z("static", T_STATIC, statics, NULL, 0, 0, OPT_REPEAT, NULL),
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

struct loader {
	struct config *cfg;
	const char *file;
	char *dir;                /* of the file, for relative static paths; NULL: cwd */
	config_report_fn report;
	void *arg;
	FILE *fp;
	unsigned lineno;
	unsigned nerr;
	int oom;
	unsigned first_syntax;    /* first syntax error we reported (inih returns it too) */
	int prev_key;             /* inih's prev_name: an indented line continues it */
	int cont;                 /* the line just read is a continuation */
	enum sect sect;           /* the section being read */
	size_t zone;              /* its index in cfg->zones when SECT_ZONE */
	unsigned seen[NOPTS];     /* line of each option's first setting, 0 = not yet */
	int listen_seen;          /* the file's first listen replaces the default */
	int pend;                 /* a key waits for possible continuation lines */
	char *pend_key, *pend_val;
	unsigned pend_line;
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
		ld->report(ld->arg, ld->file, line, msg);
}

/* Reported, but the configuration stays valid (config.h). */
__attribute__((format(printf, 3, 4)))
static void ld_warn(struct loader *ld, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	memcpy(msg, "warning: ", 9);
	va_start(ap, fmt);
	vsnprintf(msg + 9, sizeof(msg) - 9, fmt, ap);
	va_end(ap);
	if (ld->report)
		ld->report(ld->arg, ld->file, line, msg);
}

static void ld_oom(struct loader *ld, unsigned line)
{
	if (!ld->oom)
		ld_error(ld, line, "out of memory");
	ld->oom = 1;
}

/* ---- value parsers ---- */

/* Decimal digits only (no sign, no space). *end is past the digits even on -ERANGE. */
static int parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	int r = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			r = -ERANGE;
		v = v * 10 + d;
	}
	*end = s;
	*out = v;
	return r;
}

int config_parse_duration_ms(const char *text, uint64_t *ms)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "", 1000 },
	};
	const char *end;
	uint64_t v;
	int r;

	if (!text)
		return -EINVAL;
	r = parse_u64(text, &end, &v);
	if (r == -EINVAL)
		return r;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (r < 0 || v > UINT64_MAX / units[i].ms)
			return -ERANGE;
		*ms = v * units[i].ms;
		return 0;
	}
	return -EINVAL;
}

/* "2h", "1500ms": the largest unit that divides exactly, for messages. */
static const char *fmt_ms(uint64_t ms, char *buf, size_t n)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	};

	for (size_t i = 0; ms && i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms % units[i].ms == 0) {
			snprintf(buf, n, "%llu%s", (unsigned long long)(ms / units[i].ms),
				 units[i].unit);
			return buf;
		}
	}
	snprintf(buf, n, "%llums", (unsigned long long)ms);
	return buf;
}

static int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *out = 0, 0;
	}
	return -EINVAL;
}

/* "5/s", "300/m", "1000/h" or a bare number per second. */
static int parse_rate(const char *s, double *out)
{
	size_t n = strspn(s, "0123456789.");
	double per = 1, v;
	char *end;

	if (n == 0)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end != s + n)
		return -EINVAL;
	if (*end == '/') {
		if (strcmp(end + 1, "s") == 0)
			per = 1;
		else if (strcmp(end + 1, "m") == 0)
			per = 60;
		else if (strcmp(end + 1, "h") == 0)
			per = 3600;
		else
			return -EINVAL;
	} else if (*end) {
		return -EINVAL;
	}
	*out = v / per;
	return *out > 0 ? 0 : -ERANGE;
}

/* A DNS name in presentation form: labels of 1-63 letters, digits, '-' or '_', at most
 * 253 characters without the final dot. absolute: the final dot is required. */
static const char *dname_check(const char *name, int absolute)
{
	size_t len = strlen(name), label = 0;

	if (absolute) {
		if (len == 0 || name[len - 1] != '.')
			return "must be absolute (end with '.')";
		len--;
	}
	if (len == 0)
		return "is empty";
	if (len > 253)
		return "is longer than 253 characters";
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			if (label == 0)
				return "has an empty label";
			if (label > 63)
				return "has a label longer than 63 characters";
			label = 0;
		} else if (isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_') {
			label++;
		} else {
			return "has a character other than letters, digits, '-', '_' and '.'";
		}
	}
	return NULL;
}

int config_split_listen(const char *text, char *host, uint16_t *port)
{
	const char *colon, *h = text, *end;
	unsigned char buf[16];
	uint64_t p;
	size_t hlen;

	if (!text)
		return -EINVAL;
	if (*text == '[') {
		h = text + 1;
		end = strchr(h, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
	} else {
		colon = strchr(text, ':');
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL; /* no port, or IPv6 without brackets */
		end = colon;
	}
	hlen = (size_t)(end - h);
	if (hlen == 0 || hlen >= 64)
		return -EINVAL;
	if (parse_u64(colon + 1, &end, &p) < 0 || *end || p == 0 || p > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(*text == '[' ? AF_INET6 : AF_INET, host, buf) != 1)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
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

static char *trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Next whitespace-separated token of *s (modified in place), or NULL. */
static char *token(char **s)
{
	char *t = *s, *e;

	while (isspace((unsigned char)*t))
		t++;
	if (!*t)
		return NULL;
	for (e = t; *e && !isspace((unsigned char)*e); e++)
		;
	if (*e)
		*e++ = '\0';
	*s = e;
	return t;
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
		if (strlen(txt) > 255) {
			ld_error(ld, line, "%s: the TXT template is longer than 255 characters",
				 o->key);
			return -EINVAL;
		}
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
	while ((t = token(&p))) {
		if (n >= 6) {
			n++;
			continue;
		}
		if (n < 2) {
			const char *why = dname_check(t, 1);

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
	while (r == 0 && (t = token(&p))) {
		const char *why = dname_check(t, 1);

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
	while (r == 0 && (t = token(&p))) {
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

static int set_number(struct loader *ld, const struct opt *o, uint32_t *dst, const char *val,
		      unsigned line)
{
	char lo[32], hi[32];
	uint64_t v;
	int r;

	if (o->type == T_UINT) {
		const char *end;

		r = parse_u64(val, &end, &v);
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

		ld_error(ld, line, "%s: %s is out of range (%s..%s)", o->key, val,
			 fmt_ms(o->min * k, lo, sizeof(lo)), fmt_ms(o->max * k, hi, sizeof(hi)));
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

/* Parse val for o into base (struct config or struct config_zone). Problems are
 * reported; the old value stays. Returns 0, -EINVAL/-ERANGE or -ENOMEM. */
static int opt_set(struct loader *ld, const struct opt *o, void *base, const char *val,
		   unsigned line)
{
	void *field = (char *)base + o->off;
	char *s;
	int r;

	switch (o->type) {
	case T_URL:
		if (strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0) {
			ld_error(ld, line, "%s: '%s' does not start with http:// or https://",
				 o->key, val);
			return -EINVAL;
		}
		/* fall through */
	case T_STRING:
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
	case T_BOOL:
		if (parse_bool(val, field) < 0) {
			ld_error(ld, line, "%s: '%s' is not yes or no", o->key, val);
			return -EINVAL;
		}
		return 0;
	case T_ENUM:
		return set_enum(ld, o, field, val, line);
	case T_RATE:
		r = parse_rate(val, field);
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
	ld->listen_seen = 0;
}

/* ---- sections and keys ---- */

static const char *sect_name(struct loader *ld, char *buf, size_t n)
{
	if (ld->sect == SECT_ZONE)
		snprintf(buf, n, "[zone %s]", ld->cfg->zones[ld->zone].name);
	else
		snprintf(buf, n, "%s", ld->sect == SECT_SERVER ? "[server]" : "[intel]");
	return buf;
}

static void key_process(struct loader *ld, const char *key, const char *val, unsigned line)
{
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
	r = opt_set(ld, o, ld->sect == SECT_ZONE ? (void *)&ld->cfg->zones[ld->zone] :
		    (void *)ld->cfg, val, line);
	if (r == -ENOMEM)
		ld_oom(ld, line);
}

static void pend_flush(struct loader *ld)
{
	if (!ld->pend)
		return;
	key_process(ld, ld->pend_key, ld->pend_val, ld->pend_line);
	free(ld->pend_key);
	free(ld->pend_val);
	ld->pend_key = ld->pend_val = NULL;
	ld->pend = 0;
}

static void zone_start(struct loader *ld, char *name)
{
	struct config *cfg = ld->cfg;
	struct config_zone *nz;
	size_t len = strlen(name);
	const char *why;

	ld->sect = SECT_BAD;
	if (!*name) {
		ld_error(ld, ld->lineno, "[zone] needs a name: [zone bl.example.org]");
		return;
	}
	for (char *p = name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (len > 1 && name[len - 1] == '.')
		name[len - 1] = '\0';
	why = dname_check(name, 0);
	if (why) {
		ld_error(ld, ld->lineno, "zone name '%s' %s", name, why);
		return;
	}
	for (size_t i = 0; i < cfg->nzones; i++) {
		if (strcmp(cfg->zones[i].name, name) == 0) {
			ld_error(ld, ld->lineno, "zone %s is given twice (first on line %u)", name,
				 cfg->zones[i].line);
			return;
		}
	}
	nz = realloc(cfg->zones, (cfg->nzones + 1) * sizeof(*nz));
	if (!nz) {
		ld_oom(ld, ld->lineno);
		return;
	}
	cfg->zones = nz;
	nz = &cfg->zones[cfg->nzones];
	memset(nz, 0, sizeof(*nz));
	nz->name = strdup(name);
	nz->line = ld->lineno;
	cfg->nzones++;
	if (!nz->name) {
		ld_oom(ld, ld->lineno);
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

static void section_start(struct loader *ld, char *text)
{
	text = trim(text);
	if (strcasecmp(text, "server") == 0) {
		ld->sect = SECT_SERVER;
	} else if (strcasecmp(text, "intel") == 0) {
		ld->sect = SECT_INTEL;
	} else if (strncasecmp(text, "zone", 4) == 0 &&
		   (!text[4] || isspace((unsigned char)text[4]))) {
		zone_start(ld, trim(text + 4));
	} else {
		ld_error(ld, ld->lineno, "unknown section [%s] (server, intel, zone NAME)", text);
		ld->sect = SECT_BAD;
	}
}

/* inih's scan: up to one of chars or to a ';' after whitespace (an inline comment). */
static char *find_chars_or_comment(char *s, const char *chars)
{
	int was_space = 0;

	while (*s && !(chars && strchr(chars, *s)) && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/* Classify a line as inih will (same order of tests), on a copy. */
static void line_classify(struct loader *ld, const char *raw)
{
	char buf[INI_MAX_LINE + 8], *start = buf, *s, *end;

	snprintf(buf, sizeof(buf), "%s", raw);
	if (ld->lineno == 1 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		start += 3;
	s = trim(start);
	ld->cont = 0;
	if (!*s || *s == ';' || *s == '#')
		return;
	if (ld->prev_key && s > buf) {
		ld->cont = 1;
		return;
	}
	pend_flush(ld);
	if (*s == '[') {
		end = find_chars_or_comment(s + 1, "]");
		if (*end == ']') {
			*end = '\0';
			section_start(ld, s + 1);
			ld->prev_key = 0;
			return;
		}
		ld_error(ld, ld->lineno, "no ']' at the end of the section header");
		ld->sect = SECT_BAD;
	} else {
		end = find_chars_or_comment(s, "=:");
		if (*end == '=' || *end == ':') {
			ld->prev_key = end > s;
			return;
		}
		ld_error(ld, ld->lineno, "expected 'key = value', a [section] or a comment");
	}
	if (!ld->first_syntax)
		ld->first_syntax = ld->lineno;
}

/* inih's reader: fgets, counting lines and refusing the ones inih would cut. */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	size_t len;
	int c;

	if (!fgets(str, num, ld->fp)) {
		pend_flush(ld);
		return NULL;
	}
	ld->lineno++;
	len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n') {
		c = getc(ld->fp);
		if (c == '\r')
			c = getc(ld->fp);
		else if (c != '\n' && c != EOF)
			c = 'x';
		if (c != '\n' && c != EOF) {
			while (c != '\n' && c != EOF)
				c = getc(ld->fp);
			ld_error(ld, ld->lineno, "line too long (at most %d characters)", num - 1);
			str[0] = '\0'; /* inih sees an empty line */
			ld->cont = 0;
			return str;
		}
	}
	line_classify(ld, str);
	return str;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	char *v;

	(void)section; /* ours is in ld->sect: inih cuts long names and drops empty ones */
	if (ld->cont && ld->pend) {
		/* inih keeps " ;" comments in continuation lines: drop them as on key lines */
		char *c = find_chars_or_comment((char *)value, NULL);
		size_t n = (size_t)(c - value);

		while (n && isspace((unsigned char)value[n - 1]))
			n--;
		if (n && asprintf(&v, "%s%s%.*s", ld->pend_val, *ld->pend_val ? " " : "",
				  (int)n, value) >= 0) {
			free(ld->pend_val);
			ld->pend_val = v;
		} else if (n) {
			ld_oom(ld, ld->lineno);
		}
		return 1;
	}
	pend_flush(ld);
	ld->pend_key = strdup(name);
	ld->pend_val = strdup(value);
	ld->pend_line = ld->lineno;
	ld->pend = 1;
	if (!ld->pend_key || !ld->pend_val) {
		ld_oom(ld, ld->lineno);
		free(ld->pend_key);
		free(ld->pend_val);
		ld->pend_key = ld->pend_val = NULL;
		ld->pend = 0;
	}
	return 1; /* problems are reported by us, all of them */
}

/* What can only be judged once the whole file is read. */
static void cfg_finish(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	char a[32], b[32];

	if (cfg->nzones == 0)
		ld_error(ld, 0, "no [zone ...] section");
	for (size_t i = 0; i < cfg->nzones; i++) {
		if (!cfg->zones[i].soa_line)
			ld_error(ld, cfg->zones[i].line, "zone %s: missing soa", cfg->zones[i].name);
		if (!cfg->zones[i].ns_line)
			ld_error(ld, cfg->zones[i].line, "zone %s: missing ns", cfg->zones[i].name);
	}
	if (cfg->max_stale_s < cfg->fresh_s) {
		unsigned line = 0;

		for (size_t i = 0; i < NOPTS; i++) {
			if (strcmp(opts[i].key, "max-stale") == 0 && ld->seen[i])
				line = ld->seen[i];
			else if (strcmp(opts[i].key, "fresh") == 0 && ld->seen[i] && !line)
				line = ld->seen[i];
		}
		ld_error(ld, line, "max-stale (%s) is shorter than fresh (%s)",
			 fmt_ms(cfg->max_stale_s * 1000ull, a, sizeof(a)),
			 fmt_ms(cfg->fresh_s * 1000ull, b, sizeof(b)));
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
	char msg[256];
	int r;

	*out = NULL;
	ld.fp = fopen(file, "r");
	if (!ld.fp)
		r = -errno;
	else if (fstat(fileno(ld.fp), &st) < 0)
		r = -errno;
	else
		r = S_ISDIR(st.st_mode) ? -EISDIR : 0;
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot read the configuration: %s", strerror(-r));
		if (report)
			report(arg, file, 0, msg);
		if (ld.fp)
			fclose(ld.fp);
		return r;
	}
	ld.cfg = config_defaults();
	if (slash && !(ld.dir = strndup(file, slash == file ? 1 : (size_t)(slash - file))))
		ld.oom = 1;
	if (!ld.cfg || !(ld.cfg->file = strdup(file)) || ld.oom) {
		r = -ENOMEM;
		goto out;
	}
	r = ini_parse_stream(cfg_reader, &ld, cfg_handler, &ld);
	pend_flush(&ld);
	if (r > 0 && (unsigned)r != ld.first_syntax)
		ld_error(&ld, (unsigned)r, "syntax error");
	if (ferror(ld.fp)) {
		r = -EIO;
		ld_error(&ld, ld.lineno, "read error");
		goto out;
	}
	cfg_finish(&ld);
	r = ld.oom ? -ENOMEM : ld.nerr ? -EINVAL : 0;
out:
	fclose(ld.fp);
	free(ld.dir);
	free(ld.pend_key);
	free(ld.pend_val);
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
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->file);
	strv_free(cfg->listen);
	free(cfg->database);
	free(cfg->user);
	free(cfg->url);
	free(cfg->api_key_file);
	for (size_t i = 0; i < cfg->nzones; i++)
		zone_free(&cfg->zones[i]);
	free(cfg->zones);
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
