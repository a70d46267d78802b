/* threatbl.c - the command-line tool (CONTRACT.md §6): lookup, check-mail, db.
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
#include "mail.h"
#include "store.h"

#define EXIT_CLEAN 0
#define EXIT_LISTED 1
#define EXIT_ERROR 2
/* The largest message check-mail reads. */
#define MAIL_MAX (64u << 20)
#define MAIL_IPS 32

static void usage(FILE *out)
{
	fputs("usage: threatbl lookup [-s HOST[:PORT]] -z ZONE [--json] IP...\n"
	      "       threatbl check-mail [-s HOST[:PORT]] -z ZONE [--json] [--add-header] [FILE]\n"
	      "       threatbl db -d DBFILE show IP | list [-c CATEGORY] | purge IP...\n"
	      "exit status: 0 nothing listed, 1 something listed, 2 error\n", out);
}

struct opts {
	const char *server;
	const char *zone;
	int json;
	int add_header;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "server", required_argument, NULL, 's' },
		{ "zone", required_argument, NULL, 'z' },
		{ "json", no_argument, NULL, 'j' },
		{ "add-header", no_argument, NULL, 'a' },
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
		case 'h': usage(stdout); exit(EXIT_CLEAN);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (!o->zone) {
		fprintf(stderr, "threatbl: -z ZONE is required\n");
		return -EINVAL;
	}
	return 0;
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
		json_array_append_new(txt, json_string(r->txt[i]));
	json_object_set_new(o, "ip", json_string(ip));
	json_object_set_new(o, "listed", json_boolean(r->listed));
	json_object_set_new(o, "categories", cats);
	json_object_set_new(o, "codes", codes);
	json_object_set_new(o, "txt", txt);
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

static int cmd_lookup(int argc, char **argv)
{
	struct opts o;
	ldns_resolver *res = NULL;
	char err[512];
	json_t *all = NULL;
	int code = EXIT_CLEAN, failed = 0;

	if (parse_opts(argc, argv, &o))
		return EXIT_ERROR;
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

		if (ipaddr_parse(&ip, argv[i])) {
			fprintf(stderr, "threatbl: '%s' is not an IP address\n", argv[i]);
			failed = 1;
			continue;
		}
		ipaddr_format(&ip, text);
		if (ask_ip(res, o.zone, &ip, &r, err, sizeof(err))) {
			fprintf(stderr, "threatbl: %s: %s\n", text, err);
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
	return failed ? EXIT_ERROR : code;
}

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);

	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (got == 0)
			break;
		if (n == cap) {
			char *bigger;

			if (cap >= MAIL_MAX) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			bigger = realloc(buf, cap + 1);
			if (!bigger)
				free(buf);
			buf = bigger;
		}
	}
	if (!buf)
		return NULL;
	if (ferror(f)) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int cmd_check_mail(int argc, char **argv)
{
	struct opts o;
	struct mail_ip ips[MAIL_IPS];
	ldns_resolver *res = NULL;
	FILE *in = stdin, *report;
	char err[512], header[1024] = "";
	char *msg = NULL;
	size_t len = 0, n;
	json_t *all = NULL;
	int code = EXIT_CLEAN, errors = 0, listed_at = -1;

	if (parse_opts(argc, argv, &o))
		return EXIT_ERROR;
	if (optind < argc - 1) {
		fprintf(stderr, "threatbl check-mail: one message at a time\n");
		return EXIT_ERROR;
	}
	if (optind == argc - 1 && strcmp(argv[optind], "-") != 0) {
		in = fopen(argv[optind], "rb");
		if (!in) {
			fprintf(stderr, "threatbl: %s: %s\n", argv[optind], strerror(errno));
			return EXIT_ERROR;
		}
	}
	msg = read_all(in, &len);
	if (in != stdin)
		fclose(in);
	if (!msg) {
		fprintf(stderr, "threatbl: cannot read the message: %s\n", strerror(errno));
		return EXIT_ERROR;
	}
	/* With --add-header the message goes to stdout: the report goes to stderr. */
	report = o.add_header ? stderr : stdout;
	if (ask_resolver(o.server, &res, err, sizeof(err))) {
		fprintf(stderr, "threatbl: %s\n", err);
		if (o.add_header)
			goto write_back;
		free(msg);
		return EXIT_ERROR;
	}
	n = mail_find_ips(msg, len, ips, MAIL_IPS);
	if (o.json)
		all = json_array();
	for (size_t i = 0; i < n; i++) {
		struct ask_result r;
		char text[IPADDR_STRLEN];

		ipaddr_format(&ips[i].ip, text);
		if (ask_ip(res, o.zone, &ips[i].ip, &r, err, sizeof(err))) {
			fprintf(stderr, "threatbl: %s: %s\n", text, err);
			errors++;
			continue;
		}
		if (all) {
			json_t *j = result_json(text, &r);

			json_object_set_new(j, "source", json_string(ips[i].source));
			json_array_append_new(all, j);
		} else {
			print_result(report, text, o.zone, ips[i].source, &r);
		}
		if (r.listed && listed_at < 0) {
			char cats[256];

			categories(&r, cats, sizeof(cats));
			listed_at = (int)i;
			snprintf(header, sizeof(header),
				 "X-Threatbl: listed ip=%s source=%s categories=%s zone=%s", text,
				 ips[i].source, cats, o.zone);
			code = EXIT_LISTED;
		}
	}
	if (listed_at < 0)
		snprintf(header, sizeof(header), "X-Threatbl: %s checked=%zu zone=%s",
			 errors ? "unknown" : "clean", n, o.zone);
	if (all) {
		json_t *top = json_object();

		json_object_set_new(top, "ips", all);
		json_object_set_new(top, "header", json_string(header));
		json_dumpf(top, report, JSON_INDENT(2));
		fputc('\n', report);
		json_decref(top);
	} else {
		fprintf(report, "%s\n", header);
	}
write_back:
	if (o.add_header) {
		/* The message is never lost: it goes out whole, with the header first. */
		if (!header[0])
			snprintf(header, sizeof(header), "X-Threatbl: unknown zone=%s", o.zone);
		printf("%s\n", header);
		fwrite(msg, 1, len, stdout);
		if (fflush(stdout)) {
			fprintf(stderr, "threatbl: cannot write the message: %s\n", strerror(errno));
			errors++;
		}
	}
	free(msg);
	if (res)
		ldns_resolver_deep_free(res);
	if (code == EXIT_LISTED)
		return code;
	return errors ? EXIT_ERROR : code;
}

static int print_row(void *arg, const struct ipaddr *ip, const struct verdict *v,
		     const char *source, const char *facts)
{
	int want = *(int *)arg;
	char text[IPADDR_STRLEN], cats[128] = "";
	size_t off = 0;

	if (want >= 0 && !(v->mask & VERDICT_BIT(want)))
		return 0;
	for (int c = 0; c < VERDICT_NCAT; c++)
		if (v->mask & VERDICT_BIT(c))
			off += (size_t)snprintf(cats + off, sizeof(cats) - off, "%s%s",
						off ? "," : "", verdict_cat_name(c));
	ipaddr_format(ip, text);
	printf("%s\t%s\t%u\t%s\t%s\n", text,
	       (v->flags & VERDICT_F_UNKNOWN) ? "unknown" : off ? cats : "clean", v->checked,
	       source ? source : "", facts ? facts : "");
	return 0;
}

static int cmd_db(int argc, char **argv)
{
	const char *path = NULL, *cat = NULL;
	struct store *st = NULL;
	char err[512];
	int c, code = EXIT_CLEAN, want = -1;

	optind = 1;
	while ((c = getopt(argc, argv, "+d:h")) != -1) {
		switch (c) {
		case 'd': path = optarg; break;
		case 'h': usage(stdout); return EXIT_CLEAN;
		default: usage(stderr); return EXIT_ERROR;
		}
	}
	if (!path || optind >= argc) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if (access(path, F_OK)) {
		fprintf(stderr, "threatbl: %s: %s\n", path, strerror(errno));
		return EXIT_ERROR;
	}
	if (store_open(path, &st, err, sizeof(err))) {
		fprintf(stderr, "threatbl: %s\n", err);
		return EXIT_ERROR;
	}
	if (strcmp(argv[optind], "list") == 0) {
		int o;

		argv += optind;
		argc -= optind;
		optind = 1;
		while ((o = getopt(argc, argv, "c:")) != -1) {
			if (o != 'c') {
				code = EXIT_ERROR;
				goto out;
			}
			cat = optarg;
		}
		if (cat) {
			for (int k = 0; k < VERDICT_NCAT; k++)
				if (strcmp(cat, verdict_cat_name(k)) == 0)
					want = k;
			if (want < 0) {
				fprintf(stderr, "threatbl: unknown category '%s'\n", cat);
				code = EXIT_ERROR;
				goto out;
			}
		}
		printf("# ip\tcategories\tchecked\tsource\tfacts\n");
		if (store_list(st, print_row, &want) < 0) {
			fprintf(stderr, "threatbl: cannot list %s\n", path);
			code = EXIT_ERROR;
		}
	} else if (strcmp(argv[optind], "show") == 0 || strcmp(argv[optind], "purge") == 0) {
		int purge = argv[optind][0] == 'p';

		if (optind + 1 >= argc) {
			fprintf(stderr, "threatbl db %s: no IP given\n", argv[optind]);
			code = EXIT_ERROR;
			goto out;
		}
		for (int i = optind + 1; i < argc; i++) {
			struct ipaddr ip;
			struct verdict v;
			char *source = NULL, *facts = NULL;
			int rc;

			if (ipaddr_parse(&ip, argv[i])) {
				fprintf(stderr, "threatbl: '%s' is not an IP address\n", argv[i]);
				code = EXIT_ERROR;
				continue;
			}
			rc = purge ? store_purge(st, &ip) : store_get(st, &ip, &v, &source, &facts);
			if (rc == -ENOENT) {
				printf("%s: no verdict\n", argv[i]);
			} else if (rc) {
				fprintf(stderr, "threatbl: %s: %s\n", argv[i], strerror(-rc));
				code = EXIT_ERROR;
			} else if (purge) {
				printf("%s: purged\n", argv[i]);
			} else {
				print_row(&want, &ip, &v, source, facts);
				if (v.mask && code != EXIT_ERROR)
					code = EXIT_LISTED;
			}
			free(source);
			free(facts);
		}
	} else {
		fprintf(stderr, "threatbl db: unknown command '%s'\n", argv[optind]);
		code = EXIT_ERROR;
	}
out:
	store_close(st);
	return code;
}

int main(int argc, char **argv)
{
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
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
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
