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

#include "fleet.h"

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
	b->report(b->arg, CONFIG_ERROR, b->cfg->file ? b->cfg->file : "(config)", line, msg);
}

/* lists.c reports with its own file and line (the list file); pass them on. A
 * report without a file is left out: build_lists() reports that failure at the
 * configuration line that names the list. */
static void lists_report(void *arg, const char *file, unsigned line, int level,
			 const char *msg)
{
	struct build *b = arg;

	if (!b->report || !file)
		return;
	if (level == 0)
		b->list_errors++;
	b->report(b->arg, level > 0 ? CONFIG_WARNING : CONFIG_ERROR, file, line, msg);
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

static inline uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

/* Two byte strings equal with ASCII case folded (length bytes are < 64: no letter). */
static int eq_fold(const uint8_t *a, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (lower(a[i]) != lower(b[i]))
			return 0;
	return 1;
}

/* Length of the well-formed, uncompressed wire name at p. */
static size_t name_len(const uint8_t *p)
{
	size_t n = 0;

	while (p[n])
		n += 1 + p[n];
	return n + 1;
}

/* The first label boundary j < limit of name (len bytes) where name[j..] equals
 * sfx (sfx_len bytes), or -1. */
static long suffix_at(const uint8_t *name, size_t len, size_t limit, const uint8_t *sfx,
		      size_t sfx_len)
{
	for (size_t j = 0; j < limit && name[j]; j += 1 + name[j])
		if (len - j == sfx_len && eq_fold(name + j, sfx, sfx_len))
			return (long)j;
	return -1;
}

/* Append the wire name nm to the template at t + *len, its longest suffix that the
 * apex (or the first `prev_lit` bytes of prev, written at the start of the RDATA)
 * also ends with replaced by a pointer, noted in ptr[*nptr]. Returns how many bytes
 * of nm were written as labels. */
static size_t compress_name(const struct zone *z, const uint8_t *nm, const uint8_t *prev,
			    size_t prev_lit, uint8_t *t, size_t *len, struct zone_ptr *ptr,
			    unsigned *nptr)
{
	size_t nlen = name_len(nm), i;

	/* Longest suffix first; the root alone is not worth a pointer. */
	for (i = 0; nm[i]; i += 1 + nm[i]) {
		enum zone_ptr_base base = ZONE_PTR_RDATA;
		long j = -1;

		if (prev)
			j = suffix_at(prev, name_len(prev), prev_lit, nm + i, nlen - i);
		if (j < 0) {
			base = ZONE_PTR_APEX;
			j = suffix_at(z->apex, z->apex_len, z->apex_len, nm + i, nlen - i);
		}
		if (j < 0)
			continue;
		memcpy(t + *len, nm, i);
		ptr[*nptr] = (struct zone_ptr){ .at = (uint16_t)(*len + i),
						.target = (uint16_t)j, .base = base };
		(*nptr)++;
		t[*len + i] = 0xc0; /* the offset is patched per answer */
		t[*len + i + 1] = 0;
		*len += i + 2;
		return i;
	}
	memcpy(t + *len, nm, nlen);
	*len += nlen;
	return nlen;
}

/* The SOA RDATA as answers carry it: MNAME compressed against the apex that the
 * question holds, RNAME against that or MNAME, the numbers as they are. */
static int build_soa_tpl(struct zone *z)
{
	const uint8_t *mname = z->soa_rdata;
	const uint8_t *rname = mname + name_len(mname);
	size_t numbers = z->soa_rdata_len - (size_t)(rname + name_len(rname) - mname);
	size_t len = 0, lit;

	z->soa_tpl = malloc(z->soa_rdata_len);
	if (!z->soa_tpl)
		return -ENOMEM;
	z->soa_nptr = 0;
	lit = compress_name(z, mname, NULL, 0, z->soa_tpl, &len, z->soa_ptr, &z->soa_nptr);
	compress_name(z, rname, mname, lit, z->soa_tpl, &len, z->soa_ptr, &z->soa_nptr);
	memcpy(z->soa_tpl + len, z->soa_rdata + z->soa_rdata_len - numbers, numbers);
	z->soa_tpl_len = len + numbers;
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
	return r ? r : build_soa_tpl(z);
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

/* openvpn443 with the reason a probe gives: built here so that answers only copy. */
static int build_probed(const struct zone_cat *ovpn, struct zone_cat *zc)
{
	zc->enabled = ovpn->enabled;
	memcpy(zc->a, ovpn->a, 4);
	if (!ovpn->txt_len)
		zc->txt = strdup("");
	else if (asprintf((char **)&zc->txt, "%s%s", ovpn->txt, ZONE_PROBED_TXT) < 0)
		zc->txt = NULL;
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
	r = lists_load_max((const char *const *)cz->statics, cz->nstatics,
			   b->cfg->max_list_size ? b->cfg->max_list_size : LISTS_MAX_SIZE,
			   lists_report, b, &z->lists);
	if (r && b->list_errors == errors)
		report(b, cz->static_lines ? cz->static_lines[0] : cz->line,
		       "zone %s: static lists not loaded: %s", cz->name, strerror(-r));
	if (r)
		return r;
	z->list_paths = calloc(cz->nstatics, sizeof(*z->list_paths));
	if (!z->list_paths)
		return -ENOMEM;
	for (size_t i = 0; i < cz->nstatics; i++) {
		z->list_paths[i] = strdup(cz->statics[i]);
		if (!z->list_paths[i])
			return -ENOMEM;
		z->nlist_paths = i + 1;
	}
	return 0;
}

/* The feeds of `feeds =` (every feed without it) whose category the zone answers. */
static int build_feeds(const struct config *cfg, const struct config_zone *cz,
		       struct zone *z)
{
	if (!cfg || !cfg->nfeeds || (cz->feeds_line && !cz->nfeeds))
		return 0;
	z->feeds = calloc(cfg->nfeeds, sizeof(*z->feeds));
	if (!z->feeds)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nfeeds; i++) {
		const struct config_feed *f = &cfg->feeds[i];
		const struct zone_cat *cat;
		struct zone_feed *zf;
		int used = !cz->feeds_line;

		for (size_t j = 0; j < cz->nfeeds && !used; j++)
			used = strcmp(cz->feeds[j], f->name) == 0;
		if (!used || f->category < 0 || f->category >= VERDICT_NCAT)
			continue;
		cat = &z->cat[f->category];
		if (!cat->enabled)
			continue; /* the zone does not answer this category */
		zf = &z->feeds[z->nfeeds++];
		zf->cfg_index = i;
		zf->cat = (uint8_t)f->category;
		zf->zc.enabled = 1;
		memcpy(zf->zc.a, cat->a, 4);
		if (!cat->txt_len)
			zf->zc.txt = strdup("");
		else if (asprintf((char **)&zf->zc.txt, "%s" ZONE_FEED_TXT, cat->txt,
				  f->name) < 0)
			zf->zc.txt = NULL;
		if (!zf->zc.txt)
			return -ENOMEM;
		zf->zc.txt_len = strlen(zf->zc.txt);
	}
	return 0;
}

void zoneset_bind_feeds(struct zoneset *zs, const struct config *cfg,
			struct lists *const *(*lists_of)(void *arg, const char *name),
			void *arg)
{
	for (size_t i = 0; zs && i < zs->n; i++) {
		struct zone *z = &zs->zones[i];

		for (size_t j = 0; j < z->nfeeds; j++) {
			size_t k = z->feeds[j].cfg_index;

			z->feeds[j].lists = k < cfg->nfeeds ?
				lists_of(arg, cfg->feeds[k].name) : NULL;
		}
	}
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
	z->apex_labels = 0;
	for (size_t i = 0; z->apex[i]; i += 1 + z->apex[i])
		z->apex_labels++;

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
	if (!r)
		r = build_probed(&z->cat[VERDICT_OPENVPN443], &z->probed);
	if (r)
		return r;
	r = build_feeds(b->cfg, cz, z);
	if (r)
		return r;
	r = build_lists(b, cz, z);
	return ret ? ret : r;
}

static void zone_clear(struct zone *z)
{
	free(z->name);
	free(z->soa_rdata);
	free(z->soa_tpl);
	free(z->ns_rdata);
	free(z->ns_len);
	for (int c = 0; c < VERDICT_NCAT; c++)
		free((char *)z->cat[c].txt);
	free((char *)z->clean.txt);
	free((char *)z->probed.txt);
	lists_free(z->lists);
	for (size_t i = 0; i < z->nlist_paths; i++)
		free(z->list_paths[i]);
	free(z->list_paths);
	for (size_t i = 0; i < z->nfeeds; i++)
		free((char *)z->feeds[i].zc.txt);
	free(z->feeds);
}

void zoneset_free(struct zoneset *zs)
{
	if (!zs)
		return;
	for (size_t i = 0; i < zs->n; i++)
		zone_clear(&zs->zones[i]);
	free(zs->zones);
	free(zs->by_len);
	free(zs);
}

/* The serial is the first of the 20 bytes of numbers that end the SOA RDATA, in the
 * built RDATA and in the answers' template alike. */
static void zone_set_serial(struct zone *z, uint32_t serial)
{
	uint8_t b[4] = { (uint8_t)(serial >> 24), (uint8_t)(serial >> 16),
			 (uint8_t)(serial >> 8), (uint8_t)serial };

	memcpy(z->soa_rdata + z->soa_rdata_len - 20, b, 4);
	memcpy(z->soa_tpl + z->soa_tpl_len - 20, b, 4);
}

/* The serial and the identity, once every zone is built. */
static int zoneset_finish(struct build *b, struct zoneset *zs, uint32_t serial)
{
	const struct config *cfg = b->cfg;
	const char *bad = NULL;
	char host[256] = "";
	int r;

	if (cfg->serial_mode == CONFIG_SERIAL_CONTENT) {
		r = fleet_content_serial(zs, cfg, &serial, &bad);
		if (r) {
			report(b, 0, "cannot read %s again for the SOA serial: %s",
			       bad ? bad : "a static list", strerror(-r));
			return r;
		}
	} else if (cfg->serial_mode == CONFIG_SERIAL_FIXED) {
		serial = cfg->serial_fixed;
	}
	zs->serial = serial;
	for (size_t i = 0; i < zs->n; i++)
		zone_set_serial(&zs->zones[i], serial);

	if (!cfg->identity)
		return 0;
	if (strstr(cfg->identity, "%h") && gethostname(host, sizeof(host) - 1) < 0) {
		r = -errno;
		report(b, 0, "identity: cannot get the host name for %%h: %s", strerror(-r));
		return r;
	}
	r = fleet_identity_expand(cfg->identity, host, zs->identity, &zs->identity_len);
	if (r)
		report(b, 0, "identity: \"%s\" with %%h = \"%s\" is longer than %d bytes",
		       cfg->identity, host, CONFIG_IDENTITY_MAX);
	return r;
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
	if (!ret && cfg->nzones) {
		zs->by_len = malloc(cfg->nzones * sizeof(*zs->by_len));
		if (!zs->by_len)
			ret = -ENOMEM;
	}
	if (!ret)
		ret = zoneset_finish(&b, zs, serial);
	if (ret) {
		zoneset_free(zs);
		return ret;
	}
	/* Insertion sort, longest apex first; configuration order among equals. */
	for (size_t i = 0; i < zs->n; i++) {
		size_t j = i;

		while (j > 0 && zs->by_len[j - 1]->apex_len < zs->zones[i].apex_len) {
			zs->by_len[j] = zs->by_len[j - 1];
			j--;
		}
		zs->by_len[j] = &zs->zones[i];
	}
	*out = zs;
	return 0;
}

/* ASCII case folding of 8 bytes at once: 0x20 is added to the bytes 'A'..'Z' only.
 * Within each byte, h + 0x3f has its top bit set when h >= 'A' and h + 0x25 when
 * h > 'Z'; bytes with the top bit set (not ASCII) are left alone. */
static inline uint64_t fold8(uint64_t x)
{
	const uint64_t top = 0x8080808080808080ull;
	uint64_t h = x & ~top;
	uint64_t upper = ((h + 0x3f3f3f3f3f3f3f3full) ^ (h + 0x2525252525252525ull)) & ~x & top;

	return x | upper >> 2;
}

static inline uint64_t load8(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* name (any case) equals the lowercase apex, both len bytes. Words from the start,
 * then one last word that overlaps the previous one. */
static inline int apex_eq(const uint8_t *name, const uint8_t *apex, size_t len)
{
	size_t i;

	if (len < 8)
		return eq_fold(name, apex, len);
	for (i = 0; i + 8 < len; i += 8)
		if (fold8(load8(name + i)) != load8(apex + i))
			return 0;
	return fold8(load8(name + len - 8)) == load8(apex + len - 8);
}

const struct zone *zoneset_match(const struct zoneset *zs, const uint8_t *name,
				 const uint8_t *label_off, unsigned nlabels, size_t *apex_off)
{
	size_t len = (size_t)label_off[nlabels] + 1;

	if (!zs)
		return NULL;
	/* A zone of k labels can only start at label nlabels - k: one compare each. */
	for (size_t i = 0; i < zs->n; i++) {
		const struct zone *z = zs->by_len[i];
		size_t off;

		if (z->apex_labels > nlabels)
			continue;
		off = label_off[nlabels - z->apex_labels];
		if (len - off != z->apex_len || !apex_eq(name + off, z->apex, z->apex_len))
			continue;
		*apex_off = off;
		return z;
	}
	return NULL;
}

const struct zone *zoneset_find(const struct zoneset *zs, const uint8_t *name, size_t len,
				size_t *apex_off)
{
	uint8_t off[128];
	size_t o = 0;
	unsigned n = 0;

	if (!zs || len > 255)
		return NULL;
	/* The walk of qname_scan, on a name that must end exactly at len. */
	for (;;) {
		if (o >= len || (name[o] & 0xc0))
			return NULL;
		off[n] = (uint8_t)o;
		if (!name[o])
			break;
		o += 1 + (size_t)name[o];
		n++;
	}
	if (o + 1 != len)
		return NULL;
	return zoneset_match(zs, name, off, n, apex_off);
}
