/* zone.c - the zones a server answers for, built once from the configuration.
 *
 * ldns is used here only, at build time, to read the SOA and NS text exactly as a
 * zone file would; the answer path (dns.c) then copies the wire bytes kept here. */
#include "zone.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>

struct build {
	const struct config *cfg;
	zone_report_fn report;
	void *arg;
	unsigned list_errors; /* errors lists.c reported */
};

__attribute__((format(printf, 3, 4)))
static void report(const struct build *b, unsigned line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!b->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->report(b->arg, b->cfg->file ? b->cfg->file : "(config)", line, msg);
}

/* lists.c reports with its own file and line (the list file); pass them on. A
 * report without a file is left out: build_lists() reports that failure at the
 * configuration line that names the list. */
static void lists_report(void *arg, const char *file, unsigned line, int level,
			 const char *msg)
{
	struct build *b = arg;
	char buf[512];

	if (!b->report || !file)
		return;
	if (level == 0)
		b->list_errors++;
	if (level > 0) {
		snprintf(buf, sizeof(buf), "warning: %s", msg);
		msg = buf;
	}
	b->report(b->arg, file, line, msg);
}

/* Append the wire form of every rdf of rr to *buf (malloc'ed). */
static int rr_rdata(const ldns_rr *rr, uint8_t **buf, size_t *len)
{
	size_t n = 0, i;
	uint8_t *p;

	for (i = 0; i < ldns_rr_rd_count(rr); i++)
		n += ldns_rdf_size(ldns_rr_rdf(rr, i));
	p = malloc(n ? n : 1);
	if (!p)
		return -ENOMEM;
	n = 0;
	for (i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);

		memcpy(p + n, ldns_rdf_data(f), ldns_rdf_size(f));
		n += ldns_rdf_size(f);
	}
	*buf = p;
	*len = n;
	return 0;
}

/* "mname rname refresh retry expire minimum" + serial -> SOA RDATA. */
static int build_soa(const struct build *b, const struct config_zone *cz, ldns_rdf *origin,
		     uint32_t serial, struct zone *z)
{
	char *tok[7], *copy, *save = NULL, *t, text[1024];
	ldns_rr *rr = NULL;
	ldns_status st;
	int n = 0, r;

	if (!cz->soa || !*cz->soa) {
		report(b, cz->soa_line ? cz->soa_line : cz->line, "zone %s: soa is missing",
		       cz->name);
		return -EINVAL;
	}
	copy = strdup(cz->soa);
	if (!copy)
		return -ENOMEM;
	for (t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
		if (n < 7)
			tok[n++] = t;
		else
			n++;
	if (n != 6) {
		report(b, cz->soa_line, "zone %s: soa must be \"mname rname refresh retry "
		       "expire minimum\" (6 fields, got %d)", cz->name, n);
		free(copy);
		return -EINVAL;
	}
	snprintf(text, sizeof(text), "@ 0 IN SOA %s %s %u %s %s %s %s", tok[0], tok[1],
		 (unsigned)serial, tok[2], tok[3], tok[4], tok[5]);
	free(copy);
	st = ldns_rr_new_frm_str(&rr, text, 0, origin, NULL);
	if (st != LDNS_STATUS_OK || ldns_rr_rd_count(rr) != 7) {
		report(b, cz->soa_line, "zone %s: bad soa \"%s\": %s", cz->name, cz->soa,
		       st != LDNS_STATUS_OK ? ldns_get_errorstr_by_id(st) : "wrong field count");
		if (rr)
			ldns_rr_free(rr);
		return -EINVAL;
	}
	r = rr_rdata(rr, &z->soa_rdata, &z->soa_rdata_len);
	ldns_rr_free(rr);
	return r;
}

static int build_ns(const struct build *b, const struct config_zone *cz, ldns_rdf *origin,
		    struct zone *z)
{
	size_t n = 0, total = 0, i;
	ldns_rdf **names;
	int r = 0;

	while (cz->ns && cz->ns[n])
		n++;
	if (!n)
		return 0;
	names = calloc(n, sizeof(*names));
	z->ns_len = calloc(n, sizeof(*z->ns_len));
	if (!names || !z->ns_len) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		char text[512];
		ldns_rr *rr = NULL;
		ldns_status st;

		snprintf(text, sizeof(text), "@ 0 IN NS %s", cz->ns[i]);
		st = ldns_rr_new_frm_str(&rr, text, 0, origin, NULL);
		if (st != LDNS_STATUS_OK || ldns_rr_rd_count(rr) != 1 || !*cz->ns[i]) {
			report(b, cz->ns_line, "zone %s: bad ns name \"%s\": %s", cz->name,
			       cz->ns[i], st != LDNS_STATUS_OK ?
			       ldns_get_errorstr_by_id(st) : "one name expected");
			if (rr)
				ldns_rr_free(rr);
			r = -EINVAL;
			continue;
		}
		names[i] = ldns_rdf_clone(ldns_rr_rdf(rr, 0));
		ldns_rr_free(rr);
		if (!names[i]) {
			r = -ENOMEM;
			goto out;
		}
		total += ldns_rdf_size(names[i]);
	}
	if (r)
		goto out;
	z->ns_rdata = malloc(total);
	if (!z->ns_rdata) {
		r = -ENOMEM;
		goto out;
	}
	total = 0;
	for (i = 0; i < n; i++) {
		z->ns_len[i] = ldns_rdf_size(names[i]);
		memcpy(z->ns_rdata + total, ldns_rdf_data(names[i]), z->ns_len[i]);
		total += z->ns_len[i];
	}
	z->nns = n;
out:
	if (names)
		for (i = 0; i < n; i++)
			if (names[i])
				ldns_rdf_deep_free(names[i]);
	free(names);
	return r;
}

static int build_cat(const struct config_cat *cc, struct zone_cat *zc)
{
	zc->enabled = cc->enabled;
	memcpy(zc->a, cc->a, 4);
	zc->txt = strdup(cc->enabled && cc->txt ? cc->txt : "");
	if (!zc->txt)
		return -ENOMEM;
	zc->txt_len = strlen(zc->txt);
	return 0;
}

static int build_lists(struct build *b, const struct config_zone *cz, struct zone *z)
{
	unsigned errors;
	int r;

	if (!cz->nstatics)
		return 0;
	/* A missing file is the usual mistake: say so once, at the configuration line
	 * that names it, rather than as LIST:0 from lists.c. */
	for (size_t i = 0; i < cz->nstatics; i++)
		if (access(cz->statics[i], R_OK) != 0) {
			r = -errno;
			report(b, cz->static_lines ? cz->static_lines[i] : cz->line,
			       "zone %s: cannot read static list %s: %s", cz->name,
			       cz->statics[i], strerror(-r));
			return r;
		}
	errors = b->list_errors;
	r = lists_load((const char *const *)cz->statics, cz->nstatics, lists_report, b,
		       &z->lists);
	if (r && b->list_errors == errors)
		report(b, cz->static_lines ? cz->static_lines[0] : cz->line,
		       "zone %s: static lists not loaded: %s", cz->name, strerror(-r));
	return r;
}

static int build_zone(struct build *b, const struct config_zone *cz, uint32_t serial,
		      struct zone *z)
{
	ldns_rdf *origin;
	int r, ret = 0;

	z->name = strdup(cz->name ? cz->name : "");
	if (!z->name)
		return -ENOMEM;
	for (char *p = z->name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	origin = ldns_dname_new_frm_str(*z->name ? z->name : ".");
	if (!origin || ldns_rdf_size(origin) > sizeof(z->apex)) {
		report(b, cz->line, "zone %s: bad zone name", z->name);
		if (origin)
			ldns_rdf_deep_free(origin);
		return -EINVAL;
	}
	ldns_dname2canonical(origin);
	z->apex_len = ldns_rdf_size(origin);
	memcpy(z->apex, ldns_rdf_data(origin), z->apex_len);
	z->apex_labels = ldns_dname_label_count(origin);

	/* Go on after a bad SOA so that the NS and the lists are checked too. */
	r = build_soa(b, cz, origin, serial, z);
	if (r)
		ret = r;
	r = build_ns(b, cz, origin, z);
	if (r && !ret)
		ret = r;
	ldns_rdf_deep_free(origin);
	if (ret == -ENOMEM)
		return ret;

	z->ttl = cz->ttl;
	z->negative_ttl = cz->negative_ttl;
	z->unknown_ttl = cz->unknown_ttl;
	z->unknown = cz->unknown;
	for (int c = 0; c < VERDICT_NCAT; c++) {
		r = build_cat(&cz->cat[c], &z->cat[c]);
		if (r)
			return r;
		if (z->cat[c].enabled)
			z->enabled_mask |= VERDICT_BIT(c);
	}
	r = build_cat(&cz->clean, &z->clean);
	if (r)
		return r;
	r = build_lists(b, cz, z);
	return ret ? ret : r;
}

static void zone_clear(struct zone *z)
{
	free(z->name);
	free(z->soa_rdata);
	free(z->ns_rdata);
	free(z->ns_len);
	for (int c = 0; c < VERDICT_NCAT; c++)
		free((char *)z->cat[c].txt);
	free((char *)z->clean.txt);
	lists_free(z->lists);
}

void zoneset_free(struct zoneset *zs)
{
	if (!zs)
		return;
	for (size_t i = 0; i < zs->n; i++)
		zone_clear(&zs->zones[i]);
	free(zs->zones);
	free(zs);
}

int zoneset_build(const struct config *cfg, uint32_t serial, zone_report_fn report_fn,
		  void *arg, struct zoneset **out)
{
	struct build b = { .cfg = cfg, .report = report_fn, .arg = arg };
	struct zoneset *zs;
	int ret = 0;

	zs = calloc(1, sizeof(*zs));
	if (!zs)
		return -ENOMEM;
	zs->serial = serial;
	if (cfg->nzones) {
		zs->zones = calloc(cfg->nzones, sizeof(*zs->zones));
		if (!zs->zones) {
			free(zs);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < cfg->nzones; i++) {
		struct zone *z = &zs->zones[i];
		int r;

		zs->n = i + 1;
		r = build_zone(&b, &cfg->zones[i], serial, z);
		if (r == -ENOMEM) {
			ret = r;
			break;
		}
		if (r && !ret)
			ret = r;
		if (r)
			continue;
		for (size_t j = 0; j < i; j++)
			if (zs->zones[j].apex_len == z->apex_len &&
			    memcmp(zs->zones[j].apex, z->apex, z->apex_len) == 0) {
				report(&b, cfg->zones[i].line, "zone %s: defined twice", z->name);
				ret = -EINVAL;
			}
	}
	if (ret) {
		zoneset_free(zs);
		return ret;
	}
	*out = zs;
	return 0;
}

static inline uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

const struct zone *zoneset_find(const struct zoneset *zs, const uint8_t *name, size_t len,
				size_t *apex_off)
{
	size_t off = 0;

	if (!zs || !zs->n)
		return NULL;
	/* Suffixes from the longest down: the first apex that matches is the longest
	 * one. Length bytes (< 64) are not letters, so lowering every byte is safe. */
	while (off < len) {
		size_t rest = len - off;

		for (size_t i = 0; i < zs->n; i++) {
			const struct zone *z = &zs->zones[i];
			size_t k;

			if (z->apex_len != rest)
				continue;
			for (k = 0; k < rest && lower(name[off + k]) == z->apex[k]; k++)
				;
			if (k == rest) {
				*apex_off = off;
				return z;
			}
		}
		if (name[off] == 0 || name[off] > 63)
			break;
		off += 1 + name[off];
	}
	return NULL;
}
