/* threatbl.c - the command-line tool (doc/configuration.md#the-threatbl-tool): lookup, check-mail, db,
 * classify (classify.c).
 *
 * Exit status like grep: 0 nothing listed, 1 something listed, 2 error. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ask.h"
#include "classify.h"
#include "ctlcmd.h"
#include "dbcmd.h"
#include "dbcopy.h"
#include "log.h"
#include "mail.h"
#include "override.h"
#include "store.h"
#include "store_pg.h"

#define EXIT_CLEAN 0
#define EXIT_LISTED 1
#define EXIT_ERROR 2
/* The most check-mail keeps in memory; the header block is at the start, and with
 * --add-header the rest of a larger message is copied through unread. */
#define MAIL_MAX (64u << 20)
#define MAIL_IPS 32
#define TRUSTED_MAX 1000

static void usage(FILE *out)
{
	fputs("usage: threatbl lookup [-s HOST[:PORT]] -z ZONE [--json] IP...\n"
	      "       threatbl check-mail [-s HOST[:PORT]] -z ZONE [--json] [--add-header]\n"
	      "                           [--trusted N] [FILE]\n"
	      "       threatbl db [-d DBFILE|URI] [-p PASSWORD-FILE] [-s SOCKET] [-c CONFIG]\n"
	      "                   [--offline] COMMAND ...   (threatbl db --help: the commands)\n"
	      "       threatbl db [-p PASSWORD-FILE] copy FROM TO\n"
	      "       threatbl classify [--ip IP] [--max-stale DURATION] [--max-size BYTES] "
	      "FILE|-\n"
	      "       threatbl [-c FILE] [-s PATH] stats [--json] | status | reload\n"
	      "       threatbl help | -h | --help | -V | --version\n"
	      "exit status: 0 nothing listed, 1 something listed, 2 error\n"
	      "  (stats, status, reload: 0 ok, 1 the daemon answered an error, 2 usage,\n"
	      "   3 no daemon reached)\n", out);
}

static void db_usage(FILE *out)
{
	fputs("usage: threatbl db [-d DBFILE] [-p PASSWORD-FILE] [-s SOCKET] [-c CONFIG] "
	      "[--offline] COMMAND\n"
	      "-d: an sqlite file, or a postgresql:// URI (-p: the file of its password;\n"
	      "import needs sqlite)\n"
	      "reading the database (-d):\n"
	      "  show IP...                 verdicts and the overrides covering them\n"
	      "  list [-c CATEGORY]         every verdict\n"
	      "  export --format rbldnsd|rbldnsd6|zone|json [--zone NAME]\n"
	      "  import [FILE|-]            JSON lines of export, all or nothing\n"
	      "  init                       a new, empty database\n"
	      "  copy FROM TO               every verdict from one database to another (an\n"
	      "                             sqlite path or a postgresql:// URI; -p its\n"
	      "                             password file), TO empty\n"
	      "changing verdicts: the running threatbld at once, through its control socket\n"
	      "(-s, or [server] control of -c); without one listening, or with --offline,\n"
	      "the file (-d), seen by a running threatbld at its next start:\n"
	      "  purge IP|CIDR... [--force] forget verdicts: the next query looks up again\n"
	      "  allow IP|CIDR [--reason TEXT] [--force]       never listed, never looked up\n"
	      "  add IP|CIDR CATEGORY [--reason TEXT] [--force] listed, the reason as TXT\n"
	      "  unset IP|CIDR              remove an override\n"
	      "  overrides                  the overrides in force\n"
	      "daemon only:\n"
	      "  recheck IP                 look the IP up again now; prints the new verdict\n"
	      "  prune                      drop verdicts older than max-stale now\n"
	      "times are ISO 8601 UTC; a prefix wider than /8 (IPv4) or /32 (IPv6) needs "
	      "--force\n", out);
}

struct opts {
	const char *server;
	const char *zone;
	int json;
	int add_header;
	int trusted_set;
	unsigned trusted;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "server", required_argument, NULL, 's' },
		{ "zone", required_argument, NULL, 'z' },
		{ "json", no_argument, NULL, 'j' },
		{ "add-header", no_argument, NULL, 'a' },
		{ "trusted", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:z:h", longs, NULL)) != -1) {
		switch (c) {
		case 's': o->server = optarg; break;
		case 'z': o->zone = optarg; break;
		case 'j': o->json = 1; break;
		case 'a': o->add_header = 1; break;
		case 't': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);

			if (!*optarg || *end || optarg[0] == '-' || n > TRUSTED_MAX) {
				fprintf(stderr, "threatbl: --trusted wants a number of Received "
					"headers from 0 to %d\n", TRUSTED_MAX);
				return -EINVAL;
			}
			o->trusted = (unsigned)n;
			o->trusted_set = 1;
			break;
		}
		case 'h': usage(stdout); exit(EXIT_CLEAN);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (!o->zone || !o->zone[0]) {
		fprintf(stderr, "threatbl: -z ZONE is required\n");
		return -EINVAL;
	}
	return 0;
}

/* A JSON string of text that may not be UTF-8 (a TXT record, a command-line word):
 * bytes outside ASCII become '?' when it is not. */
static json_t *jstr(const char *text)
{
	json_t *j = json_string(text);
	char *copy;

	if (j || !(copy = strdup(text)))
		return j;
	for (char *c = copy; *c; c++)
		if ((unsigned char)*c >= 0x80)
			*c = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* The categories of a result, "vpn,openvpn443" or the codes when they are not ours. */
static void categories(const struct ask_result *r, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->na && off < size; i++) {
		const char *cat = ask_category(r->a[i]);
		int n = snprintf(buf + off, size - off, "%s%s", i ? "," : "", cat ? cat : r->a[i]);

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static json_t *result_json(const char *ip, const struct ask_result *r)
{
	json_t *o = json_object(), *cats = json_array(), *codes = json_array(),
	       *txt = json_array();

	for (size_t i = 0; i < r->na; i++) {
		const char *cat = ask_category(r->a[i]);

		json_array_append_new(codes, json_string(r->a[i]));
		json_array_append_new(cats, cat ? json_string(cat) : json_null());
	}
	for (size_t i = 0; i < r->ntxt; i++)
		json_array_append_new(txt, jstr(r->txt[i]));
	json_object_set_new(o, "ip", json_string(ip));
	json_object_set_new(o, "listed", json_boolean(r->listed));
	json_object_set_new(o, "categories", cats);
	json_object_set_new(o, "codes", codes);
	json_object_set_new(o, "txt", txt);
	return o;
}

static json_t *error_json(const char *ip, const char *err)
{
	json_t *o = json_object();

	json_object_set_new(o, "ip", jstr(ip));
	json_object_set_new(o, "listed", json_null());
	json_object_set_new(o, "error", jstr(err));
	return o;
}

static void print_result(FILE *out, const char *ip, const char *zone, const char *source,
			 const struct ask_result *r)
{
	char cats[256];

	if (!r->listed) {
		fprintf(out, "%s%s%s: not listed in %s\n", source ? source : "",
			source ? " " : "", ip, zone);
		return;
	}
	categories(r, cats, sizeof(cats));
	fprintf(out, "%s%s%s: listed in %s as %s\n", source ? source : "", source ? " " : "",
		ip, zone, cats);
	for (size_t i = 0; i < r->ntxt; i++)
		fprintf(out, "  \"%s\"\n", r->txt[i]);
}

/* An IP on the command line, also in brackets ("[2001:db8::1]", as mail shows them). */
static int parse_arg_ip(const char *arg, struct ipaddr *ip)
{
	char buf[IPADDR_STRLEN + 2];
	size_t len = strlen(arg);

	if (len > 2 && arg[0] == '[' && arg[len - 1] == ']' && len - 2 < sizeof(buf)) {
		memcpy(buf, arg + 1, len - 2);
		buf[len - 2] = '\0';
		arg = buf;
	}
	return ipaddr_parse(ip, arg);
}

/* ask_ip(), but once the server has not answered, the next IPs are not asked: each
 * would wait for the whole timeout again. */
static int ask(ldns_resolver *res, const char *zone, const struct ipaddr *ip,
	       struct ask_result *r, int *silent, char *err, size_t errlen)
{
	int rc;

	if (*silent) {
		snprintf(err, errlen, "not asked: the server did not answer");
		return -ETIMEDOUT;
	}
	rc = ask_ip(res, zone, ip, r, err, errlen);
	if (rc == -ETIMEDOUT)
		*silent = 1;
	return rc;
}

static int cmd_lookup(int argc, char **argv)
{
	struct opts o;
	ldns_resolver *res = NULL;
	char err[512];
	json_t *all = NULL;
	int code = EXIT_CLEAN, failed = 0, silent = 0;

	if (parse_opts(argc, argv, &o))
		return EXIT_ERROR;
	if (o.add_header || o.trusted_set) {
		fprintf(stderr, "threatbl lookup: --add-header and --trusted are for check-mail\n");
		return EXIT_ERROR;
	}
	if (optind >= argc) {
		fprintf(stderr, "threatbl lookup: no IP given\n");
		return EXIT_ERROR;
	}
	if (ask_resolver(o.server, &res, err, sizeof(err))) {
		fprintf(stderr, "threatbl: %s\n", err);
		return EXIT_ERROR;
	}
	if (o.json)
		all = json_array();
	for (int i = optind; i < argc; i++) {
		struct ipaddr ip;
		struct ask_result r;
		char text[IPADDR_STRLEN];

		if (parse_arg_ip(argv[i], &ip)) {
			fprintf(stderr, "threatbl: '%s' is not an IP address\n", argv[i]);
			if (all)
				json_array_append_new(all, error_json(argv[i], "not an IP address"));
			failed = 1;
			continue;
		}
		ipaddr_format(&ip, text);
		if (ask(res, o.zone, &ip, &r, &silent, err, sizeof(err))) {
			fprintf(stderr, "threatbl: %s: %s\n", text, err);
			if (all)
				json_array_append_new(all, error_json(text, err));
			failed = 1;
			continue;
		}
		if (r.listed)
			code = EXIT_LISTED;
		if (all)
			json_array_append_new(all, result_json(text, &r));
		else
			print_result(stdout, text, o.zone, NULL, &r);
	}
	if (all) {
		json_dumpf(all, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(all);
	}
	ldns_resolver_deep_free(res);
	if (fflush(stdout))
		failed = 1;
	/* Like grep: an error wins over a match. */
	return failed ? EXIT_ERROR : code;
}

/* Read up to MAIL_MAX bytes of f into a new NUL-terminated buffer (free()); *more is
 * set when f holds more than that. NULL with errno on error. */
static char *read_message(FILE *f, size_t *len, int *more)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);

	*more = 0;
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);
		char *bigger;

		n += got;
		if (n < cap)
			break; /* end of file or error */
		if (cap >= MAIL_MAX) {
			int c = getc(f);

			if (c != EOF) {
				ungetc(c, f);
				*more = 1;
			}
			break;
		}
		cap = cap * 2 > MAIL_MAX ? MAIL_MAX : cap * 2;
		bigger = realloc(buf, cap + 1);
		if (!bigger)
			free(buf);
		buf = bigger;
	}
	if (!buf) {
		errno = ENOMEM;
		return NULL;
	}
	if (ferror(f)) {
		int e = errno;

		free(buf);
		errno = e ? e : EIO;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Where the X-Threatbl: line goes: after a leading mbox "From " line, else first; and
 * the line end the message uses. */
static size_t header_spot(const char *msg, size_t len, const char **eol)
{
	const char *nl = memchr(msg, '\n', len);

	*eol = nl && nl > msg && nl[-1] == '\r' ? "\r\n" : "\n";
	if (nl && len >= 5 && memcmp(msg, "From ", 5) == 0) {
		const char *next = memchr(nl + 1, '\n', len - (size_t)(nl + 1 - msg));

		*eol = next && next > nl + 1 && next[-1] == '\r' ? "\r\n" : "\n";
		return (size_t)(nl - msg) + 1;
	}
	return 0;
}

/* Write the message with header added to stdout, then what is left of in (a message
 * larger than MAIL_MAX). 0, or -EIO. */
static int write_back(const char *msg, size_t len, const char *header, FILE *in, int more)
{
	const char *eol;
	size_t spot = header_spot(msg, len, &eol);
	char buf[65536];

	fwrite(msg, 1, spot, stdout);
	fputs(header, stdout);
	fputs(eol, stdout);
	fwrite(msg + spot, 1, len - spot, stdout);
	while (more) {
		size_t got = fread(buf, 1, sizeof(buf), in);

		if (got)
			fwrite(buf, 1, got, stdout);
		if (got < sizeof(buf)) {
			if (ferror(in)) {
				fprintf(stderr, "threatbl: cannot read the message: %s\n",
					strerror(errno));
				fflush(stdout);
				return -EIO;
			}
			break;
		}
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "threatbl: cannot write the message: %s\n", strerror(errno));
		return -EIO;
	}
	return 0;
}

/* Look up the IPs of the message and report on report; header gets the X-Threatbl:
 * line. EXIT_LISTED when an IP is listed (whatever else failed: the verdict is
 * known), else EXIT_ERROR when a lookup failed, else EXIT_CLEAN. */
static int check_message(const char *msg, size_t len, const struct opts *o, FILE *report,
			 char *header, size_t size)
{
	struct mail_ip ips[MAIL_IPS];
	ldns_resolver *res = NULL;
	char err[512];
	json_t *all = NULL;
	size_t n = mail_find_ips_trusted(msg, len, o->trusted, ips, MAIL_IPS);
	int code = EXIT_CLEAN, errors = 0, silent = 0;

	if (ask_resolver(o->server, &res, err, sizeof(err))) {
		fprintf(stderr, "threatbl: %s\n", err);
		snprintf(header, size, "X-Threatbl: unknown checked=0 zone=%s", o->zone);
		return EXIT_ERROR;
	}
	if (o->json)
		all = json_array();
	header[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		struct ask_result r;
		char text[IPADDR_STRLEN];

		ipaddr_format(&ips[i].ip, text);
		if (ask(res, o->zone, &ips[i].ip, &r, &silent, err, sizeof(err))) {
			fprintf(stderr, "threatbl: %s: %s\n", text, err);
			if (all) {
				json_t *j = error_json(text, err);

				json_object_set_new(j, "source", json_string(ips[i].source));
				json_array_append_new(all, j);
			}
			errors++;
			continue;
		}
		if (all) {
			json_t *j = result_json(text, &r);

			json_object_set_new(j, "source", json_string(ips[i].source));
			json_array_append_new(all, j);
		} else {
			print_result(report, text, o->zone, ips[i].source, &r);
		}
		if (r.listed && code != EXIT_LISTED) {
			char cats[256];

			categories(&r, cats, sizeof(cats));
			snprintf(header, size,
				 "X-Threatbl: listed ip=%s source=%s categories=%s zone=%s", text,
				 ips[i].source, cats, o->zone);
			code = EXIT_LISTED;
		}
	}
	if (code != EXIT_LISTED) {
		snprintf(header, size, "X-Threatbl: %s checked=%zu zone=%s",
			 errors ? "unknown" : "clean", n, o->zone);
		if (errors)
			code = EXIT_ERROR;
	}
	if (all) {
		json_t *top = json_object();

		json_object_set_new(top, "ips", all);
		json_object_set_new(top, "header", jstr(header));
		json_dumpf(top, report, JSON_INDENT(2));
		fputc('\n', report);
		json_decref(top);
	} else {
		fprintf(report, "%s\n", header);
	}
	ldns_resolver_deep_free(res);
	return code;
}

static int cmd_check_mail(int argc, char **argv)
{
	struct opts o;
	FILE *in = stdin;
	char header[1024];
	char *msg;
	size_t len = 0;
	int code, more;

	if (parse_opts(argc, argv, &o))
		return EXIT_ERROR;
	if (optind < argc - 1) {
		fprintf(stderr, "threatbl check-mail: one message at a time\n");
		return EXIT_ERROR;
	}
	/* The zone goes into a header line: no line breaks or controls. */
	for (const char *c = o.zone; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			fprintf(stderr, "threatbl: bad zone name '%s'\n", o.zone);
			return EXIT_ERROR;
		}
	}
	if (optind == argc - 1 && strcmp(argv[optind], "-") != 0) {
		in = fopen(argv[optind], "rb");
		if (!in) {
			fprintf(stderr, "threatbl: %s: %s\n", argv[optind], strerror(errno));
			return EXIT_ERROR;
		}
	}
	msg = read_message(in, &len, &more);
	if (!msg) {
		fprintf(stderr, "threatbl: cannot read the message: %s\n", strerror(errno));
		if (in != stdin)
			fclose(in);
		return EXIT_ERROR;
	}
	if (more)
		fprintf(stderr, "threatbl: the message is larger than %u MiB: its header is "
			"read from the first %u MiB\n", MAIL_MAX >> 20, MAIL_MAX >> 20);
	/* With --add-header the message goes to stdout: the report goes to stderr. */
	code = check_message(msg, len, &o, o.add_header ? stderr : stdout, header,
			     sizeof(header));
	/* The message is never lost: it goes out whole, with the header, even when the
	 * lookups failed. A write error is an error whatever the verdict. */
	if (o.add_header && write_back(msg, len, header, in, more))
		code = EXIT_ERROR;
	if (!o.add_header && fflush(stdout))
		code = EXIT_ERROR;
	free(msg);
	if (in != stdin)
		fclose(in);
	return code;
}

/* A text column of the database on one line: controls become '?'. */
static void print_field(const char *text)
{
	for (const char *c = text ? text : ""; *c; c++)
		putchar((unsigned char)*c < ' ' || *c == 0x7f ? '?' : *c);
}

struct list_state {
	int want;      /* a category, or -1 for every row */
	size_t listed; /* rows shown that are in a category */
};

/* One stored verdict as tab-separated fields, without the end of line. */
static void print_fields(struct list_state *ls, const struct ipaddr *ip,
			 const struct verdict *v, const char *source, const char *facts)
{
	char text[IPADDR_STRLEN], cats[128] = "", when[32];
	size_t off = 0;

	for (int c = 0; c < VERDICT_NCAT; c++)
		if (v->mask & VERDICT_BIT(c))
			off += (size_t)snprintf(cats + off, sizeof(cats) - off, "%s%s",
						off ? "," : "", verdict_cat_name(c));
	ipaddr_format(ip, text);
	log_iso_time(v->checked, when, sizeof(when));
	printf("%s\t%s\t%s\t", text,
	       (v->flags & VERDICT_F_UNKNOWN) ? "unknown" : off ? cats : "clean", when);
	print_field(source);
	putchar('\t');
	print_field(facts);
	if (v->mask)
		ls->listed++;
}

static int print_row(void *arg, const struct ipaddr *ip, const struct verdict *v,
		     const char *source, const char *facts)
{
	struct list_state *ls = arg;

	if (ls->want >= 0 && !(v->mask & VERDICT_BIT(ls->want)))
		return 0;
	print_fields(ls, ip, v, source, facts);
	putchar('\n');
	return 0;
}

struct show_ovr {
	const struct ipaddr *ip;
	int *code;
};

static int show_ovr_one(void *arg, const struct override *o)
{
	struct show_ovr *so = arg;
	char text[OVERRIDE_PREFIX_STRLEN], ip[IPADDR_STRLEN], when[32];

	if (!override_covers(&o->net, o->len, so->ip))
		return 0;
	ipaddr_format(so->ip, ip);
	override_format_prefix(&o->net, o->len, text);
	log_iso_time(o->created, when, sizeof(when));
	printf("%s: override %s %s%s%s by %s at %s: ", ip, text,
	       o->kind == OVERRIDE_ALLOW ? "allow" : "add ",
	       o->kind == OVERRIDE_ADD ? verdict_cat_name((enum verdict_cat)o->cat) : "", "",
	       o->who[0] ? o->who : "-", when);
	print_field(o->reason);
	putchar('\n');
	/* an add lists the IP whatever its verdict; an allow clears it */
	if (*so->code != EXIT_ERROR)
		*so->code = o->kind == OVERRIDE_ADD ? EXIT_LISTED : *so->code;
	return 0;
}

/* The overrides covering ip, one line each after its verdict. */
static void show_overrides(struct store *st, const struct ipaddr *ip, int *code)
{
	struct show_ovr so = { ip, code };
	int rc = store_override_list(st, show_ovr_one, &so);

	if (rc < 0) {
		fprintf(stderr, "threatbl: cannot read the overrides: %s\n", strerror(-rc));
		*code = EXIT_ERROR;
	}
}

/* show and purge: each IP in turn. */
static int db_each(struct store *st, int purge, int argc, char **argv)
{
	struct list_state ls = { .want = -1 };
	int code = EXIT_CLEAN;

	for (int i = 0; i < argc; i++) {
		struct ipaddr ip;
		struct verdict v;
		char *source = NULL, *facts = NULL;
		char text[IPADDR_STRLEN];
		int rc;

		if (parse_arg_ip(argv[i], &ip)) {
			fprintf(stderr, "threatbl: '%s' is not an IP address\n", argv[i]);
			code = EXIT_ERROR;
			continue;
		}
		ipaddr_format(&ip, text);
		rc = purge ? store_purge(st, &ip) : store_get(st, &ip, &v, &source, &facts);
		if (rc == -ENOENT) {
			printf("%s: no verdict\n", text);
		} else if (rc) {
			fprintf(stderr, "threatbl: %s: %s\n", text, strerror(-rc));
			code = EXIT_ERROR;
		} else if (purge) {
			printf("%s: purged\n", text);
		} else {
			char *probe = NULL;
			uint32_t when;

			print_fields(&ls, &ip, &v, source, facts);
			/* threatbl's own OpenVPN probe, when it ran: a sixth field */
			if (store_get_probe(st, &ip, &probe, &when) == 0) {
				char iso[32];

				log_iso_time(when, iso, sizeof(iso));
				printf("\tprobe %s %s", probe, iso);
			}
			putchar('\n');
			free(probe);
		}
		if (!purge)
			show_overrides(st, &ip, &code);
		free(source);
		free(facts);
	}
	if (ls.listed && code != EXIT_ERROR)
		code = EXIT_LISTED;
	return code;
}

/* init: a new database with the server's schema and no rows (what the benchmark and
 * the tests fill), made by store.c itself so that no copy of the schema exists. An
 * existing file is left alone; a postgresql:// URI gets the schema made or brought up
 * to date, its rows left as they are. */
static int db_init(const char *path, const char *password_file)
{
	struct store_options so = { .password_file = password_file,
				    .password_what = "-p" };
	struct store *st = NULL;
	char err[512];
	int rc;

	/* a file must be new; a URI's schema is made or brought up to date */
	if (!store_pg_is_uri(path) && (rc = store_exists(path)) != -ENOENT) {
		fprintf(stderr, "threatbl: %s: %s\n", path, strerror(rc ? -rc : EEXIST));
		return EXIT_ERROR;
	}
	if (store_open_opts(path, &so, &st, err, sizeof(err))) {
		fprintf(stderr, "threatbl: %s\n", err);
		return EXIT_ERROR;
	}
	if (store_is_fleet(st))
		printf("%s: schema ready\n", store_name(st));
	else
		printf("%s: created (schema version %d)\n", path, store_schema_version());
	store_close(st);
	return fflush(stdout) ? EXIT_ERROR : EXIT_CLEAN;
}

static int cmd_db(int argc, char **argv)
{
	struct list_state ls = { .want = -1 };
	const char *path = NULL, *cmd, *cat = NULL, *password_file = NULL;
	struct store *st = NULL;
	char err[512];
	int c, rc, code = EXIT_CLEAN;

	static const struct option longs[] = {
		{ "offline", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dbcmd_opts dopt = { 0 };

	optind = 1;
	while ((c = getopt_long(argc, argv, "+d:s:c:p:h", longs, NULL)) != -1) {
		switch (c) {
		case 'd': path = optarg; break;
		case 's': dopt.sock = optarg; break;
		case 'c': dopt.conf = optarg; break;
		case 'p': password_file = optarg; break;
		case 'o': dopt.offline = 1; break;
		case 'h': db_usage(stdout); return EXIT_CLEAN;
		default: db_usage(stderr); return EXIT_ERROR;
		}
	}
	if (optind < argc && strcmp(argv[optind], "help") == 0) {
		db_usage(stdout);
		return EXIT_CLEAN;
	}
	if (optind < argc && strcmp(argv[optind], "copy") == 0) {
		if (path || argc - optind != 3) {
			fprintf(stderr, "usage: threatbl db [-p PASSWORD-FILE] copy FROM TO\n");
			return EXIT_ERROR;
		}
		return dbcopy_main(argv[optind + 1], argv[optind + 2], password_file);
	}
	if (optind >= argc) {
		db_usage(stderr);
		return EXIT_ERROR;
	}
	/* The command line is checked whole before the database is opened. */
	cmd = argv[optind];
	argv += optind;
	argc -= optind;
	dopt.path = path;
	dopt.password_file = password_file;
	if (dbcmd_knows(cmd))
		return dbcmd_run(&dopt, argc, argv);
	if (!path && (strcmp(cmd, "show") == 0 || strcmp(cmd, "list") == 0 ||
		      strcmp(cmd, "init") == 0)) {
		fprintf(stderr, "threatbl db %s: no -d DBFILE given\n", cmd);
		return EXIT_ERROR;
	}
	if (strcmp(cmd, "list") == 0) {
		optind = 1;
		while ((c = getopt(argc, argv, "+c:")) != -1) {
			if (c != 'c')
				return EXIT_ERROR;
			cat = optarg;
		}
		if (optind < argc) {
			fprintf(stderr, "threatbl db list: unexpected '%s'\n", argv[optind]);
			return EXIT_ERROR;
		}
		for (int k = 0; cat && k < VERDICT_NCAT; k++)
			if (strcmp(cat, verdict_cat_name(k)) == 0)
				ls.want = k;
		if (cat && ls.want < 0) {
			fprintf(stderr, "threatbl: unknown category '%s'\n", cat);
			return EXIT_ERROR;
		}
	} else if (strcmp(cmd, "init") == 0) {
		if (argc > 1) {
			fprintf(stderr, "threatbl db init: unexpected '%s'\n", argv[1]);
			return EXIT_ERROR;
		}
		return db_init(path, password_file);
	} else if (strcmp(cmd, "show") == 0) {
		if (argc < 2) {
			fprintf(stderr, "threatbl db %s: no IP given\n", cmd);
			return EXIT_ERROR;
		}
	} else {
		fprintf(stderr, "threatbl db: unknown command '%s'\n", cmd);
		return EXIT_ERROR;
	}
	/* store_open creates a missing file: a mistyped path must not leave an empty
	 * database behind. A postgresql:// URI works too, with -p for its password
	 * (doc/fleet.md). */
	if ((rc = store_exists(path)) < 0) {
		fprintf(stderr, "threatbl: %s: %s\n", path, strerror(-rc));
		return EXIT_ERROR;
	}
	if (store_open_opts(path, &(struct store_options){ .password_file = password_file,
						   .password_what = "-p" },
			    &st, err, sizeof(err))) {
		fprintf(stderr, "threatbl: %s\n", err);
		return EXIT_ERROR;
	}
	if (cmd[0] == 'l') {
		printf("# ip\tcategories\tchecked\tsource\tfacts\n");
		if (store_list(st, print_row, &ls) < 0) {
			fprintf(stderr, "threatbl: cannot list %s\n", path);
			code = EXIT_ERROR;
		} else if (ls.listed) {
			code = EXIT_LISTED;
		}
	} else {
		code = db_each(st, 0, argc - 1, argv + 1);
	}
	store_close(st);
	if (fflush(stdout))
		code = EXIT_ERROR;
	return code;
}

int main(int argc, char **argv)
{
	log_set_name("threatbl");
	if (argc < 2) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if (strcmp(argv[1], "lookup") == 0)
		return cmd_lookup(argc - 1, argv + 1);
	if (strcmp(argv[1], "check-mail") == 0)
		return cmd_check_mail(argc - 1, argv + 1);
	if (strcmp(argv[1], "db") == 0)
		return cmd_db(argc - 1, argv + 1);
	if (strcmp(argv[1], "classify") == 0)
		return classify_main(argc - 1, argv + 1);
	if (ctlcmd_is(argc, argv))
		return ctlcmd_main(argc, argv);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_CLEAN;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("threatbl %s\n", PACKAGE_VERSION);
		return EXIT_CLEAN;
	}
	fprintf(stderr, "threatbl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_ERROR;
}
