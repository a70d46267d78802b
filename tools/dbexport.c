/* dbexport.c - `threatbl db export` and `import` (see dbexport.h). */
#include "dbexport.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "override.h"
#include "store.h"

#define EXIT_OK 0
#define EXIT_ERROR 2
#define IMPORT_LINE_MAX 65536
#define IMPORT_SOURCE_MAX 64

/* --- export ------------------------------------------------------------------------ */

enum fmt { FMT_RBLDNSD, FMT_RBLDNSD6, FMT_ZONE, FMT_JSON };

struct export {
	enum fmt fmt;
	struct dbcmd_overrides ovr;
	size_t rows, skipped;
};

/* The default A of a category (doc/dns.md): 127.0.0.2 for vpn ... 127.0.0.7. */
static unsigned cat_code(int cat)
{
	return 2u + (unsigned)cat;
}

static int allowed(const struct export *x, const struct ipaddr *ip)
{
	for (size_t i = 0; i < x->ovr.n; i++)
		if (x->ovr.o[i].kind == OVERRIDE_ALLOW &&
		    override_covers(&x->ovr.o[i].net, x->ovr.o[i].len, ip))
			return 1;
	return 0;
}

/* "4.3.2.1" or the 32 nibbles of an IPv6 address, as the query names them. */
static void reversed(const struct ipaddr *ip, char *buf, size_t len)
{
	size_t off = 0;

	if (ipaddr_is_v4(ip)) {
		snprintf(buf, len, "%u.%u.%u.%u", ip->b[15], ip->b[14], ip->b[13], ip->b[12]);
		return;
	}
	for (int i = 15; i >= 0 && off + 4 < len; i--)
		off += (size_t)snprintf(buf + off, len - off, "%s%x.%x", i == 15 ? "" : ".",
					ip->b[i] & 0xf, ip->b[i] >> 4);
}

static void cats_text(uint8_t mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int c = 0; c < VERDICT_NCAT && off < len; c++)
		if (mask & VERDICT_BIT(c))
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						verdict_cat_name((enum verdict_cat)c));
}

static int export_row(void *arg, const struct store_row *r)
{
	struct export *x = arg;
	char ip[IPADDR_STRLEN], cats[128], rev[80];
	int v4 = ipaddr_is_v4(&r->ip);

	if (x->fmt == FMT_JSON) {
		char when[32];
		json_t *o = json_object(), *c = json_array(), *f = json_array(), *facts = NULL;
		char *line;

		ipaddr_format(&r->ip, ip);
		for (int k = 0; k < VERDICT_NCAT; k++)
			if (r->v.mask & VERDICT_BIT(k))
				json_array_append_new(c, json_string(verdict_cat_name(k)));
		if (r->v.flags & VERDICT_F_UNKNOWN)
			json_array_append_new(f, json_string("unknown"));
		if (r->v.flags & VERDICT_F_PROBED)
			json_array_append_new(f, json_string("probed"));
		log_iso_time(r->v.checked, when, sizeof(when));
		json_object_set_new(o, "ip", json_string(ip));
		json_object_set_new(o, "categories", c);
		json_object_set_new(o, "flags", f);
		json_object_set_new(o, "checked", json_string(when));
		json_object_set_new(o, "source", r->source ? json_string(r->source) : json_null());
		if (r->facts)
			facts = json_loads(r->facts, 0, NULL);
		json_object_set_new(o, "facts", facts ? facts :
				    r->facts ? json_string(r->facts) : json_null());
		if (r->probe) {
			json_t *p = json_object();

			log_iso_time(r->probed, when, sizeof(when));
			json_object_set_new(p, "result", json_string(r->probe));
			json_object_set_new(p, "when", json_string(when));
			json_object_set_new(o, "probe", p);
		} else {
			json_object_set_new(o, "probe", json_null());
		}
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (!line)
			return -ENOMEM;
		puts(line);
		free(line);
		x->rows++;
		return 0;
	}
	if (!r->v.mask || (r->v.flags & VERDICT_F_UNKNOWN) || allowed(x, &r->ip))
		return 0;
	cats_text(r->v.mask, cats, sizeof(cats));
	if (x->fmt == FMT_RBLDNSD || x->fmt == FMT_RBLDNSD6) {
		if (v4 != (x->fmt == FMT_RBLDNSD)) {
			x->skipped++;
			return 0;
		}
		ipaddr_format(&r->ip, ip);
		printf("%s :127.0.0.%u:threatbl: %s\n", ip,
		       cat_code(__builtin_ctz(r->v.mask)), cats);
	} else {
		reversed(&r->ip, rev, sizeof(rev));
		for (int k = 0; k < VERDICT_NCAT; k++)
			if (r->v.mask & VERDICT_BIT(k))
				printf("%s\tIN\tA\t127.0.0.%u\n", rev, cat_code(k));
		for (int k = 0; k < VERDICT_NCAT; k++)
			if (r->v.mask & VERDICT_BIT(k))
				printf("%s\tIN\tTXT\t\"threatbl: %s\"\n", rev,
				       verdict_cat_name((enum verdict_cat)k));
	}
	x->rows++;
	return 0;
}

/* A reason (printable ASCII, override_check_reason) as the text of a value, printed
 * as written when loaded: in an rbldnsd TXT template '$' stands for the address and
 * "$N" for a variable, so '$' is doubled (lists_parse.c reads "$$" as rbldnsd does);
 * in a zone file's quoted string '"' and '\' are escaped (RFC 1035 section 5.1). */
static void put_reason(const char *r, enum fmt fmt)
{
	for (; *r; r++) {
		if (fmt == FMT_ZONE && (*r == '"' || *r == '\\'))
			putchar('\\');
		else if (fmt != FMT_ZONE && *r == '$')
			putchar('$');
		putchar(*r);
	}
}

static void export_overrides(struct export *x)
{
	for (size_t i = 0; i < x->ovr.n; i++) {
		const struct override *ov = &x->ovr.o[i];
		char text[OVERRIDE_PREFIX_STRLEN], rev[80];
		int v4 = ipaddr_is_v4(&ov->net) && ov->len >= 96;

		if (x->fmt == FMT_JSON) {
			char when[32];
			json_t *o = json_object();
			char *line;

			override_format_prefix(&ov->net, ov->len, text);
			log_iso_time(ov->created, when, sizeof(when));
			json_object_set_new(o, "override", json_string(ov->kind == OVERRIDE_ALLOW ?
								       "allow" : "add"));
			json_object_set_new(o, "prefix", json_string(text));
			json_object_set_new(o, "category", ov->kind == OVERRIDE_ADD ?
				json_string(verdict_cat_name((enum verdict_cat)ov->cat)) :
				json_null());
			json_object_set_new(o, "reason", json_string(ov->reason));
			json_object_set_new(o, "created", json_string(when));
			json_object_set_new(o, "who", json_string(ov->who));
			line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
			json_decref(o);
			if (line)
				puts(line);
			free(line);
			continue;
		}
		if (x->fmt == FMT_ZONE) {
			/* A zone file has names, not prefixes: single addresses only. */
			if (ov->kind != OVERRIDE_ADD || ov->len != 128) {
				if (ov->kind == OVERRIDE_ADD)
					x->skipped++;
				continue;
			}
			reversed(&ov->net, rev, sizeof(rev));
			printf("%s\tIN\tA\t127.0.0.%u\n", rev, cat_code(ov->cat));
			printf("%s\tIN\tTXT\t\"", rev);
			put_reason(ov->reason[0] ? ov->reason :
				   verdict_cat_name((enum verdict_cat)ov->cat), x->fmt);
			puts("\"");
			continue;
		}
		if (v4 != (x->fmt == FMT_RBLDNSD))
			continue;
		if (ov->kind == OVERRIDE_ALLOW && ov->len == 128)
			ipaddr_format(&ov->net, text);
		else
			override_format_prefix(&ov->net, ov->len, text);
		if (ov->kind == OVERRIDE_ALLOW)
			printf("!%s\n", text);
		else {
			printf("%s :127.0.0.%u:", text, cat_code(ov->cat));
			put_reason(ov->reason[0] ? ov->reason :
				   verdict_cat_name((enum verdict_cat)ov->cat), x->fmt);
			putchar('\n');
		}
	}
}

int dbexport_export(const struct dbcmd_opts *o, int argc, char **argv)
{
	struct export x = { .fmt = FMT_JSON };
	const char *format = NULL, *zone = NULL;
	char when[32];
	struct store *st;
	int rc, code = EXIT_OK;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
			format = argv[++i];
		else if (strcmp(argv[i], "--zone") == 0 && i + 1 < argc)
			zone = argv[++i];
		else {
			fprintf(stderr, "threatbl db export: unexpected '%s' (--format "
				"rbldnsd|rbldnsd6|zone|json [--zone NAME])\n", argv[i]);
			return EXIT_ERROR;
		}
	}
	if (!format) {
		fprintf(stderr, "threatbl db export: --format rbldnsd|rbldnsd6|zone|json\n");
		return EXIT_ERROR;
	}
	if (strcmp(format, "rbldnsd") == 0)
		x.fmt = FMT_RBLDNSD;
	else if (strcmp(format, "rbldnsd6") == 0)
		x.fmt = FMT_RBLDNSD6;
	else if (strcmp(format, "zone") == 0)
		x.fmt = FMT_ZONE;
	else if (strcmp(format, "json") != 0) {
		fprintf(stderr, "threatbl db export: unknown format '%s' (rbldnsd, rbldnsd6, "
			"zone, json)\n", format);
		return EXIT_ERROR;
	}
	if ((x.fmt == FMT_ZONE) != (zone != NULL)) {
		fprintf(stderr, "threatbl db export: --zone NAME %s\n", zone ?
			"is for --format zone only" : "is needed with --format zone");
		return EXIT_ERROR;
	}
	if (zone && (!*zone || strlen(zone) > 250 || strspn(zone,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") !=
		strlen(zone))) {
		fprintf(stderr, "threatbl db export: bad zone name '%s'\n", zone);
		return EXIT_ERROR;
	}
	if (!(st = dbcmd_open_file(o, "export", NULL)))
		return EXIT_ERROR;
	if ((rc = store_override_list(st, dbcmd_collect_override, &x.ovr)) < 0) {
		fprintf(stderr, "threatbl: %s: cannot read the overrides: %s\n",
			store_name(st), dbcmd_strerror(rc));
		code = EXIT_ERROR;
		goto out;
	}
	log_iso_time((uint32_t)time(NULL), when, sizeof(when));
	if (x.fmt == FMT_RBLDNSD || x.fmt == FMT_RBLDNSD6) {
		printf("# threatbl %s export of %s, %s: an rbldnsd %s dataset\n",
		       x.fmt == FMT_RBLDNSD ? "IPv4" : "IPv6", store_name(st), when,
		       x.fmt == FMT_RBLDNSD ? "ip4set" : "ip6trie");
		printf(":127.0.0.2:threatbl\n");
	} else if (x.fmt == FMT_ZONE) {
		const char *dot = zone[strlen(zone) - 1] == '.' ? "" : ".";

		printf("; threatbl export of %s, %s\n", store_name(st), when);
		printf("$ORIGIN %s%s\n$TTL 3600\n", zone, dot);
		printf("@\tIN\tSOA\tns.%s%s hostmaster.%s%s %lu 3600 600 604800 300\n", zone,
		       dot, zone, dot, (unsigned long)time(NULL));
		printf("@\tIN\tNS\tns.%s%s\n", zone, dot);
		/* RFC 5782 test entry */
		printf("2.0.0.127\tIN\tA\t127.0.0.2\n2.0.0.127\tIN\tTXT\t\"test entry\"\n");
	}
	/* Overrides first: in rbldnsd the later line wins for the same prefix. */
	export_overrides(&x);
	if ((rc = store_export(st, export_row, &x)) < 0) {
		fprintf(stderr, "threatbl: %s: %s\n", store_name(st), dbcmd_strerror(rc));
		code = EXIT_ERROR;
	}
	if (x.skipped && x.fmt != FMT_JSON)
		fprintf(stderr, "threatbl db export: %zu entries not expressible in this format "
			"skipped (%s)\n", x.skipped, x.fmt == FMT_ZONE ? "prefixes" :
			"the other address family: see --format rbldnsd/rbldnsd6");
out:
	free(x.ovr.o);
	store_close(st);
	if (fflush(stdout))
		code = EXIT_ERROR;
	return code;
}

/* --- import ------------------------------------------------------------------------ */

struct import {
	struct store_row *rows;
	size_t n, cap;
	struct dbcmd_overrides ovr;
	char **strings;    /* what rows point to */
	size_t nstr, capstr;
	unsigned errors;
};

static const char *keep(struct import *im, char *s)
{
	if (!s)
		return NULL;
	if (im->nstr == im->capstr) {
		size_t cap = im->capstr ? im->capstr * 2 : 64;
		char **p = realloc(im->strings, cap * sizeof(*p));

		if (!p) {
			free(s);
			return NULL;
		}
		im->strings = p;
		im->capstr = cap;
	}
	return im->strings[im->nstr++] = s;
}

static int bad(struct import *im, unsigned long line, const char *msg)
{
	if (++im->errors <= 50)
		fprintf(stderr, "threatbl db import: line %lu: %s\n", line, msg);
	return -EINVAL;
}

static int printable(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int import_override(struct import *im, unsigned long line, json_t *o)
{
	const char *kind = json_string_value(json_object_get(o, "override"));
	const char *prefix = json_string_value(json_object_get(o, "prefix"));
	const char *cat = json_string_value(json_object_get(o, "category"));
	const char *reason = json_string_value(json_object_get(o, "reason"));
	const char *created = json_string_value(json_object_get(o, "created"));
	const char *who = json_string_value(json_object_get(o, "who"));
	struct override ov = { .cat = -1 };
	char err[300];

	if (!kind || (strcmp(kind, "allow") && strcmp(kind, "add")))
		return bad(im, line, "\"override\" must be \"allow\" or \"add\"");
	ov.kind = kind[1] == 'l' ? OVERRIDE_ALLOW : OVERRIDE_ADD;
	if (!prefix || override_parse_prefix(prefix, &ov.net, &ov.len, err, sizeof(err)) < 0)
		return bad(im, line, prefix ? err : "no \"prefix\"");
	if (ov.kind == OVERRIDE_ADD && (!cat || (ov.cat = override_cat(cat)) < 0))
		return bad(im, line, "unknown or missing \"category\"");
	if (reason && override_check_reason(reason, err, sizeof(err)) < 0)
		return bad(im, line, err);
	if (who && !printable(who, OVERRIDE_WHO_MAX))
		return bad(im, line, "bad \"who\"");
	if (!created || dbcmd_parse_iso(created, &ov.created) < 0)
		return bad(im, line, "\"created\" must be an ISO 8601 UTC time "
			   "(2026-12-03T17:30:00Z)");
	snprintf(ov.reason, sizeof(ov.reason), "%s", reason ? reason : "");
	snprintf(ov.who, sizeof(ov.who), "%s", who ? who : "");
	return dbcmd_collect_override(&im->ovr, &ov);
}

static int import_line(struct import *im, unsigned long line, const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr), *v;
	struct store_row r = { 0 };
	const char *ip, *checked, *source = NULL;
	char msg[300];
	size_t i;
	int rc = -EINVAL;

	if (!o || !json_is_object(o)) {
		snprintf(msg, sizeof(msg), "not a JSON object%s%s", o ? "" : ": ",
			 o ? "" : jerr.text);
		json_decref(o);
		return bad(im, line, msg);
	}
	if (json_object_get(o, "override")) {
		rc = import_override(im, line, o);
		json_decref(o);
		return rc;
	}
	ip = json_string_value(json_object_get(o, "ip"));
	if (!ip || ipaddr_parse(&r.ip, ip) < 0) {
		bad(im, line, "no valid \"ip\"");
		goto out;
	}
	v = json_object_get(o, "categories");
	if (!json_is_array(v)) {
		bad(im, line, "\"categories\" must be an array");
		goto out;
	}
	for (i = 0; i < json_array_size(v); i++) {
		const char *c = json_string_value(json_array_get(v, i));
		int k = c ? override_cat(c) : -1;

		if (k < 0) {
			snprintf(msg, sizeof(msg), "unknown category %.40s", c ? c : "(not a string)");
			bad(im, line, msg);
			goto out;
		}
		r.v.mask |= VERDICT_BIT(k);
	}
	v = json_object_get(o, "flags");
	for (i = 0; v && i < json_array_size(v); i++) {
		const char *f = json_string_value(json_array_get(v, i));

		if (f && strcmp(f, "unknown") == 0)
			r.v.flags |= VERDICT_F_UNKNOWN;
		else if (f && strcmp(f, "probed") == 0)
			r.v.flags |= VERDICT_F_PROBED;
		else {
			bad(im, line, "unknown flag (unknown, probed)");
			goto out;
		}
	}
	if (v && !json_is_array(v)) {
		bad(im, line, "\"flags\" must be an array");
		goto out;
	}
	if ((r.v.flags & VERDICT_F_UNKNOWN) && r.v.mask) {
		bad(im, line, "an unknown verdict has no categories");
		goto out;
	}
	checked = json_string_value(json_object_get(o, "checked"));
	if (!checked || dbcmd_parse_iso(checked, &r.v.checked) < 0) {
		bad(im, line, "\"checked\" must be an ISO 8601 UTC time (2026-12-03T17:30:00Z)");
		goto out;
	}
	v = json_object_get(o, "source");
	if (v && !json_is_null(v)) {
		source = json_string_value(v);
		if (!source || !*source || !printable(source, IMPORT_SOURCE_MAX)) {
			bad(im, line, "bad \"source\"");
			goto out;
		}
	}
	r.source = keep(im, strdup(source ? source : "import"));
	v = json_object_get(o, "facts");
	if (v && !json_is_null(v))
		r.facts = keep(im, json_is_string(v) ? strdup(json_string_value(v)) :
			       json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER));
	v = json_object_get(o, "probe");
	if (v && !json_is_null(v)) {
		const char *res = json_string_value(json_object_get(v, "result"));
		const char *when = json_string_value(json_object_get(v, "when"));

		if (!res || (strcmp(res, "confirmed") && strcmp(res, "not-openvpn") &&
			     strcmp(res, "unconfirmed")) || !when ||
		    dbcmd_parse_iso(when, &r.probed) < 0) {
			bad(im, line, "bad \"probe\" (result confirmed|not-openvpn|unconfirmed, "
			    "when ISO 8601)");
			goto out;
		}
		r.probe = keep(im, strdup(res));
	}
	if (!r.source) {
		rc = -ENOMEM;
		goto out;
	}
	if (im->n == im->cap) {
		size_t cap = im->cap ? im->cap * 2 : 256;
		struct store_row *p = realloc(im->rows, cap * sizeof(*p));

		if (!p) {
			rc = -ENOMEM;
			goto out;
		}
		im->rows = p;
		im->cap = cap;
	}
	im->rows[im->n++] = r;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

int dbexport_import(const struct dbcmd_opts *o, int argc, char **argv)
{
	struct import im = { 0 };
	const char *file = argc > 1 ? argv[1] : "-";
	unsigned long line = 0;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	struct store *st = NULL;
	FILE *in;
	int code = EXIT_ERROR, rc;

	if (argc > 2) {
		fprintf(stderr, "threatbl db import: one FILE (or - for stdin)\n");
		return EXIT_ERROR;
	}
	in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (!in) {
		fprintf(stderr, "threatbl db import: %s: %s\n", file, strerror(errno));
		return EXIT_ERROR;
	}
	while ((len = getline(&buf, &cap, in)) >= 0) {
		line++;
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (!len)
			continue;
		if ((size_t)len > IMPORT_LINE_MAX || strlen(buf) != (size_t)len)
			rc = bad(&im, line, "line too long or holding a NUL byte");
		else
			rc = import_line(&im, line, buf);
		if (rc == -ENOMEM) {
			fprintf(stderr, "threatbl db import: out of memory\n");
			goto out;
		}
	}
	if (ferror(in)) {
		fprintf(stderr, "threatbl db import: %s: read error\n", file);
		goto out;
	}
	if (im.errors) {
		fprintf(stderr, "threatbl db import: %u bad line(s): nothing imported\n",
			im.errors);
		goto out;
	}
	if (!(st = dbcmd_open_file(o, "import", NULL)))
		goto out;
	if ((rc = store_import(st, im.rows, im.n, im.ovr.o, im.ovr.n)) < 0) {
		fprintf(stderr, "threatbl db import: %s: %s: nothing imported\n",
			store_name(st), dbcmd_strerror(rc));
		goto out;
	}
	printf("imported %zu verdict(s) and %zu override(s) into %s\n", im.n, im.ovr.n,
	       store_name(st));
	fprintf(stderr, "threatbl: a running threatbld sees imported rows at its next "
		"start\n");
	code = EXIT_OK;
out:
	store_close(st);
	if (in != stdin)
		fclose(in);
	free(buf);
	for (size_t i = 0; i < im.nstr; i++)
		free(im.strings[i]);
	free(im.strings);
	free(im.rows);
	free(im.ovr.o);
	return code;
}
