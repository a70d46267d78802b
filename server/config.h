/* config.c - the configuration file (doc/configuration.md#the-configuration-file) and its one table of options.
 *
 * config_load() reads an INI file with inih into a struct config of plain values; it
 * checks types and ranges but builds nothing (zone.c and lists.c do that). The same
 * code serves the daemon and `threatbld -t`. Every problem is reported through the
 * report callback as FILE:LINE: message, and loading goes on, so one run shows them all.
 * The reading of lines is config_ini.c's; the syntax of single values config_value.c's. */
#ifndef THREATBL_CONFIG_H
#define THREATBL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "verdict.h"

struct provider_kind;

/* How bad a reported problem is: an error makes the load fail (or, for a bad list line
 * that a running server skips, makes -t fail); a warning does neither (a category
 * address outside 127.0.0.0/8, a key file others can read). */
/* $(runstatedir)/threatbl holds the control socket (systemd's RuntimeDirectory);
 * RUNDIR comes from Makefile.am. */
#ifndef RUNDIR
#define RUNDIR "/run/threatbl"
#endif
#define CONFIG_CONTROL_DEFAULT RUNDIR "/control"

enum config_severity { CONFIG_ERROR, CONFIG_WARNING };

/* Called once per problem. line is 0 when the problem is not tied to a line. Printers
 * put "warning: " before a warning's message; msg itself never starts with it. */
typedef void (*config_report_fn)(void *arg, enum config_severity sev, const char *file,
				 unsigned line, const char *msg);

/* provider = none | auto | a name in provider.c's table. NAMED: that provider.
 * AUTO: provider_default() when an API key is available (api-key-file set, or
 * $THREATBL_API_KEY non-empty), none otherwise; the server decides, config.c never
 * reads the key. */
enum config_provider { CONFIG_PROVIDER_NONE, CONFIG_PROVIDER_NAMED, CONFIG_PROVIDER_AUTO };
enum config_unknown { CONFIG_UNKNOWN_NXDOMAIN, CONFIG_UNKNOWN_SERVFAIL };
/* [server] serial (doc/dns.md#the-soa-serial): TIME, the serial zoneset_build is
 * given (the load time; 0 so that a struct config made by hand keeps it); CONTENT,
 * a hash of the zones and their lists; FIXED, serial_fixed. */
enum config_serial { CONFIG_SERIAL_TIME, CONFIG_SERIAL_CONTENT, CONFIG_SERIAL_FIXED };

/* The longest [server] identity, before and after %h is expanded: one TXT
 * character-string (RFC 1035 §3.3.14), also the NSID payload (RFC 5001). */
#define CONFIG_IDENTITY_MAX 255
/* [intel] combine: how the verdicts of several providers make one
 * (doc/providers.md#combining-providers). */
enum config_combine { CONFIG_COMBINE_FIRST, CONFIG_COMBINE_ALL };

/* Most providers in one [intel] providers list. */
#define CONFIG_PROVIDERS_MAX 8

/* The settings of one provider: a [provider NAME] section, its keys not given taken
 * from [intel] (url from the provider's own default unless it is Criminal IP). */
struct config_prov {
	const struct provider_kind *kind;
	unsigned line;         /* of its section; 0: no section (all defaults) */
	unsigned given;        /* bit i: the section's i-th key was given */
	char *url;             /* the base URL */
	char *key_file;        /* NULL: the credential threatbl-NAME-key or $THREATBL_NAME_KEY */
	uint32_t timeout_ms;
	double rate;
	unsigned rate_burst;
	unsigned concurrency;
	uint32_t daily_budget;
	unsigned scanner_score; /* AbuseIPDB: abuseConfidenceScore from which it is a scanner */
};

/* A category line: NAME = ADDRESS TXT-TEMPLATE. */
struct config_cat {
	int enabled;   /* 0 when the key was given an empty value */
	uint8_t a[4];  /* the A record, network order */
	char *txt;     /* the TXT template ('$' = queried IP, '$$' = '$'); "" = no TXT;
			* never NULL in a loaded config */
};

struct config_zone {
	char *name;            /* as written, without trailing dot, lowercased */
	unsigned line;         /* where its section starts, for messages */
	char *soa;             /* "mname rname refresh retry expire minimum": names absolute,
				* numbers in seconds (durations already converted) */
	unsigned soa_line;
	char **ns;             /* NULL-terminated list of NS names, absolute (final dot) */
	unsigned ns_line;
	uint32_t ttl;
	uint32_t negative_ttl;
	enum config_unknown unknown;
	uint32_t unknown_ttl;
	struct config_cat cat[VERDICT_NCAT];
	struct config_cat clean; /* enabled = 0: clean IPs get NXDOMAIN */
	char **statics;        /* NULL-terminated list of static list paths; a relative one
				* is made relative to the configuration file's directory */
	unsigned *static_lines; /* the line of each static */
	size_t nstatics;
	char **feeds;          /* `feeds =`: NULL-terminated names of [feed] sections; NULL
				* with feeds_line 0: every feed; "none" gives an empty one */
	size_t nfeeds;
	unsigned feeds_line;
};

/* A [feed NAME] section (feed.c, doc/configuration.md#the-feed-section). */
struct config_feed {
	char *name;            /* [a-z0-9._-], 1-63 characters: also its files' names */
	unsigned line;         /* where its section starts */
	char *url;             /* http:// or https:// */
	int format;            /* enum feed_format (feed_parse.h) */
	int category;          /* enum verdict_cat; -1 until set (required) */
	uint32_t every_s;      /* fetched this often */
	uint32_t max_age_s;    /* a copy not confirmed for this long is dropped */
	uint64_t max_size;     /* bytes of one download */
	uint32_t max_entries;
	uint32_t max_shrink;   /* percent: a new copy this much smaller is refused */
	uint32_t column;       /* csv: the prefix's column, from 1 */
	uint32_t timeout_ms;   /* of one download */
};

struct config {
	char *file;            /* the path it was read from; NULL from config_defaults() */
	/* [server] */
	char **listen;         /* NULL-terminated "ADDR:PORT" / "[V6]:PORT" strings */
	size_t nlisten;
	char *database;        /* relative: to the working directory */
	char *database_password_file; /* PostgreSQL's password; NULL: credential or none */
	char *user;            /* NULL: do not change user */
	char *control;         /* the control socket's path; NULL: none (control.h) */
	int log_level;         /* enum log_level */
	unsigned threads;      /* UDP/TCP loops with SO_REUSEPORT; default 1 */
	uint32_t tcp_idle_ms;  /* RFC 7766 idle timeout */
	unsigned tcp_max_clients;
	unsigned tcp_clients_per_ip; /* per IPv4 address or IPv6 /64 */
	uint64_t max_list_size; /* bytes a static list may have; larger is refused */
	struct acl allow_query; /* who is answered; the others get REFUSED (empty: all) */
	enum config_serial serial_mode; /* how the zones' SOA serial is made */
	uint32_t serial_fixed;  /* CONFIG_SERIAL_FIXED: the serial */
	char *identity;        /* CH TXT id.server / hostname.bind and NSID; printable
				* ASCII, "%h" = the host name, "%%" = '%'; NULL: none */
	char *metrics;         /* "ADDR:PORT" of the Prometheus exposition; NULL: off */
	struct acl metrics_allow; /* who may scrape it (empty: all); metrics.h */
	char *query_log;       /* absolute path; NULL: no query log (querylog.h) */
	unsigned query_log_sample; /* log one answered query in this many, per loop */
	/* [intel] */
	enum config_provider provider;
	const struct provider_kind *provider_kind; /* NAMED: the one named; AUTO: the one
						    * used with a key; NONE: NULL */
	char *url;
	char *api_key_file;    /* NULL: $THREATBL_API_KEY; only a path, never read here */
	uint32_t timeout_ms;
	uint64_t max_report_size; /* bytes of one report; a larger one is that IP's failure */
	uint32_t deadline_ms;
	unsigned concurrency;
	double rate;           /* calls per second */
	unsigned rate_burst;
	uint32_t daily_budget; /* 0 = no limit */
	uint32_t fresh_s;
	uint32_t max_stale_s;
	int lookup_reserved;
	unsigned queue_max;    /* lookups waiting for a slot; past it, queries get `unknown` */
	struct acl lookup_from; /* whose queries may cause a lookup (empty: everyone's) */
	/* [intel] providers (in priority order; nproviders 0: provider = decides) */
	const struct provider_kind *providers[CONFIG_PROVIDERS_MAX];
	size_t nproviders;
	int combine;           /* enum config_combine */
	/* [provider NAME] sections */
	struct config_prov *psect;
	size_t npsect;
	double per_client_rate; /* new lookups per second one client prefix may cause */
	unsigned per_client_burst;
	unsigned client_prefix_v4; /* the prefix a client is counted by: /24 ... */
	unsigned client_prefix_v6; /* ... and /56 by default */
	/* [probe] (probe.c) */
	int probe_openvpn443;  /* confirm OpenVPN on tcp/443 by connecting to it */
	uint32_t probe_timeout_ms;
	unsigned probe_concurrency;
	double probe_rate;     /* probes per second */
	char *probe_from;      /* numeric source address; NULL: the kernel chooses */
	unsigned probe_port;   /* 443; another port only for the tests */
	/* [http] (web.c: the lookup page) */
	char *http_listen;     /* "ADDR:PORT"; NULL: no page */
	char *http_public_url; /* what $url in a TXT template starts with; NULL: none */
	struct acl http_allow; /* who may use the page (empty: all) */
	int http_recheck;      /* the re-check button */
	uint32_t http_recheck_interval_s; /* an address is re-checked at most this often */
	double http_recheck_rate;        /* re-checks per second, all clients together */
	double http_recheck_client_rate; /* ... and per client address */
	unsigned http_max_connections;
	unsigned http_connections_per_ip;
	/* [zone NAME] */
	struct config_zone *zones;
	size_t nzones;
	/* [feed NAME] (feed.c) */
	struct config_feed *feeds;
	size_t nfeeds;
	uint8_t skip_when;     /* [intel] skip-when: VERDICT_BIT()s of the feed categories
				* whose hit makes a lookup unnecessary */
};

/* Read and check FILE. On success *out is a new config (free with config_free) and 0 is
 * returned; otherwise the problems went to report and a negative errno is returned
 * (-EINVAL for content, -ENOENT / -EACCES ... when the file cannot be read, with one
 * message on line 0; -ENOMEM). Problems: unknown section or key, bad or out-of-range
 * value, a key given twice (listen and static may repeat), a zone given twice or
 * without soa or ns, no zone at all, max-stale below fresh, lines over 199 characters.
 * The file's first listen line replaces the default address; later ones add to it. */
int config_load(const char *file, config_report_fn report, void *arg, struct config **out);

/* A config with every default and no zone, for tests and for -l/-d without -c. */
struct config *config_defaults(void);

void config_free(struct config *cfg);

/* "250ms", "30s", "10m", "2h", "7d" or a bare number of seconds -> milliseconds.
 * Returns 0, -EINVAL (empty, sign, space, fraction, unknown unit) or -ERANGE (over
 * 64 bits). */
int config_parse_duration_ms(const char *text, uint64_t *ms);

/* Replace the listen addresses (the -l options; each checked with config_split_listen,
 * n >= 1) or the database (-d, non-empty). Return 0, -EINVAL or -ENOMEM; on error cfg
 * is unchanged. */
int config_set_listen(struct config *cfg, char *const *addrs, size_t n);
int config_set_database(struct config *cfg, const char *path);

/* Split "ADDR:PORT" or "[V6]:PORT" into a sockaddr-ready host and port. ADDR must be a
 * numeric IPv4 address (IPv6 only in brackets), PORT 1..65535.
 * Returns 0 or -EINVAL. host must hold 64 bytes. */
int config_split_listen(const char *text, char *host, uint16_t *port);

/* The providers to ask, in priority order, into out (CONFIG_PROVIDERS_MAX entries):
 * [intel] providers, or else the one of provider = (NAMED or AUTO; the caller drops
 * AUTO's when there is no key). Returns how many. */
size_t config_providers(const struct config *cfg, const struct provider_kind **out);

/* The settings of provider k: its [provider NAME] section as loaded (every key
 * resolved), or the defaults a section with no key would have. out's strings are
 * cfg's (valid while cfg is). 0, or -EINVAL without k. */
int config_provider_get(const struct config *cfg, const struct provider_kind *k,
			struct config_prov *out);

#endif
