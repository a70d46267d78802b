/* explain.c - what is known about one address (see explain.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache.h"
#include "criminalip.h"
#include "explain.h"
#include "lists.h"
#include "lists_parse.h"
#include "override.h"
#include "store.h"
#include "zone.h"

const char *explain_cat_title(enum verdict_cat cat)
{
	static const char *const t[VERDICT_NCAT] = {
		"VPN exit", "OpenVPN on tcp/443", "Hosting or cloud network", "Tor exit node",
		"Proxy", "Scanner or attack source",
	};
	return (unsigned)cat < VERDICT_NCAT ? t[cat] : "?";
}

const char *explain_cat_meaning(enum verdict_cat cat)
{
	static const char *const m[VERDICT_NCAT] = {
		"The address is an exit of a commercial VPN service. Mail written from it "
		"hides where its author really is: phishing sent through large, reputable "
		"mail services is often written from such exits.",
		"The address serves OpenVPN on tcp/443, the HTTPS port, so that the tunnel "
		"passes firewalls and looks like a web server to ordinary scanners.",
		"The address belongs to a hosting or cloud network rather than to an access "
		"provider: people do not normally write mail from a data centre.",
		"The address is a Tor exit node: whoever wrote the message cannot be traced "
		"beyond it.",
		"The address is a proxy that relays other people's traffic.",
		"The address scans the Internet or has been seen attacking other hosts.",
	};
	return (unsigned)cat < VERDICT_NCAT ? m[cat] : "";
}

/* The operator's reason from its TXT template, where override.c doubled every '$': the
 * page shows it as written (the database's copy, when there is one, replaces it). */
static void reason_of_template(const char *txt, char *out, size_t size)
{
	size_t o = 0;

	for (const char *p = txt; *p && o + 1 < size; p++) {
		out[o++] = *p;
		if (p[0] == '$' && p[1] == '$')
			p++;
	}
	out[o] = '\0';
}

/* Copy under the read lock what is needed later; nothing is followed afterwards. */
static int copy_view(struct shared *sh, const struct ipaddr *ip, struct explain *out)
{
	struct shared_view view;
	const struct zoneset *zs;
	int ret = 0;

	shared_read_begin(sh, &view);
	zs = view.env.zones;
	out->lookups = view.env.lookups;
	out->feed_skip = view.env.feed_skip;
	{
		const char *txt = NULL;
		int cat = -1;

		out->ovr_kind = override_lookup(view.env.overrides, ip, &cat, &txt);
		out->ovr_cat = cat;
		if (out->ovr_kind == OVERRIDE_ADD && txt)
			reason_of_template(txt, out->ovr_reason, sizeof(out->ovr_reason));
	}
	if (view.env.cache && cache_get(view.env.cache, ip, &out->v) == 0) {
		out->has_verdict = 1;
		out->fresh_until = out->v.checked + view.env.fresh_s;
		out->stale_until = out->v.checked + view.env.max_stale_s;
	}
	for (size_t i = 0; zs && i < zs->n && out->nzones < EXPLAIN_ZONES_MAX; i++) {
		const struct zone *z = &zs->zones[i];
		struct explain_zone *ez = &out->zones[out->nzones++];
		const struct lists_value *val = NULL;

		snprintf(ez->name, sizeof(ez->name), "%s", z->name);
		ez->enabled_mask = z->enabled_mask;
		for (size_t f = 0; f < z->nfeeds && ez->nfeed < EXPLAIN_FEEDS_MAX; f++) {
			const struct zone_feed *zf = &z->feeds[f];
			const struct lists *l = zf->lists ? *zf->lists : NULL;

			if (!l || lists_match(l, ip, NULL) != LISTS_LISTED)
				continue;
			ez->feed[ez->nfeed].cat = zf->cat;
			snprintf(ez->feed[ez->nfeed].txt, sizeof(ez->feed[ez->nfeed].txt), "%s",
				 zf->zc.txt ? zf->zc.txt : "");
			ez->nfeed++;
		}
		switch (lists_match(z->lists, ip, &val)) {
		case LISTS_LISTED:
			ez->list = EXPLAIN_LISTED;
			memcpy(ez->a, val->a, 4);
			snprintf(ez->txt, sizeof(ez->txt), "%s", val->txt);
			break;
		case LISTS_EXCLUDED:
			ez->list = EXPLAIN_EXCLUDED;
			break;
		default:
			ez->list = EXPLAIN_NOT_LISTED;
			break;
		}
		if (ez->list == EXPLAIN_NOT_LISTED)
			continue;
		for (size_t p = 0; p < z->nlist_paths && p < EXPLAIN_LISTS_MAX; p++) {
			ez->paths[p] = strdup(z->list_paths[p]);
			if (!ez->paths[p]) {
				ret = -ENOMEM;
				break;
			}
			ez->npaths = p + 1;
		}
	}
	shared_read_end(sh);
	return ret;
}

/* '$' is the address, '$$' a dollar sign (lists.h). */
static void expand_txt(char *txt, size_t size, const char *ip)
{
	char out[sizeof(((struct explain_zone *)0)->txt)];
	size_t o = 0;

	for (const char *p = txt; *p && o + 1 < sizeof(out); p++) {
		if (*p == '$' && p[1] == '$') {
			out[o++] = '$';
			p++;
		} else if (*p == '$') {
			for (const char *q = ip; *q && o + 1 < sizeof(out); q++)
				out[o++] = *q;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	snprintf(txt, size, "%s", out);
}

/* How specific an entry is: the number of addresses it covers (smaller wins). */
struct scan_best {
	int found;
	double span;
	unsigned line;
	size_t file;
	char entry[128];
};

static int entry_covers(const struct lists_parse_entry *e, const struct ipaddr *ip,
			double *span)
{
	if (!e->v6) {
		uint32_t v;

		if (!ipaddr_is_v4(ip))
			return 0;
		v = ipaddr_v4(ip);
		*span = (double)(e->hi - e->lo) + 1;
		return v >= e->lo && v <= e->hi;
	} else {
		struct ipaddr net;

		ipaddr_mask(ip, e->len, &net);
		/* Twice its size: an IPv6 prefix that covers IPv4 is less specific than any
		 * IPv4 entry of the same size (lists.h). */
		*span = 2.0;
		for (unsigned b = e->len; b < 128; b++)
			*span *= 2.0;
		return memcmp(net.b, e->net, 16) == 0;
	}
}

/* Find the line of the most specific entry that holds ip, as lists.c decides it:
 * the most specific prefix wins, and for the same one the later line. */
static void find_line(struct explain_zone *ez, const struct ipaddr *ip)
{
	struct scan_best best = { 0 };
	struct lists_parse lp = { 0 };
	uint64_t total = 0;
	struct stat stt;
	char line[4096];

	for (size_t i = 0; i < ez->npaths; i++) {
		if (stat(ez->paths[i], &stt) < 0 || !S_ISREG(stt.st_mode))
			return;
		total += (uint64_t)stt.st_size;
	}
	if (total > EXPLAIN_SCAN_MAX)
		return;
	for (size_t i = 0; i < ez->npaths; i++) {
		FILE *f = fopen(ez->paths[i], "r");
		unsigned n = 0;

		if (!f)
			continue;
		lists_parse_file(&lp);
		while (fgets(line, sizeof(line), f)) {
			struct lists_parse_entry e;
			char copy[128];
			double span;
			size_t len = strcspn(line, "\r\n");

			n++;
			line[len] = '\0';
			len = len < sizeof(copy) - 1 ? len : sizeof(copy) - 1;
			memcpy(copy, line, len);
			copy[len] = '\0';
			if (lists_parse_line(&lp, line, &e) != LISTS_PARSE_ENTRY)
				continue;
			if (!entry_covers(&e, ip, &span))
				continue;
			if (!best.found || span <= best.span) {
				best.found = 1;
				best.span = span;
				best.line = n;
				best.file = i;
				snprintf(best.entry, sizeof(best.entry), "%s", copy);
			}
		}
		fclose(f);
	}
	if (best.found) {
		snprintf(ez->file, sizeof(ez->file), "%s", ez->paths[best.file]);
		ez->line = best.line;
		snprintf(ez->entry, sizeof(ez->entry), "%s", best.entry);
	}
}

static void add_evidence(void *arg, enum verdict_cat cat, const char *text)
{
	struct explain *out = arg;

	if (out->nevidence == EXPLAIN_EVIDENCE_MAX)
		return;
	out->evidence[out->nevidence].cat = cat;
	snprintf(out->evidence[out->nevidence].text,
		 sizeof(out->evidence[out->nevidence].text), "%s", text);
	out->nevidence++;
}

struct ovr_find {
	const struct ipaddr *ip;
	int kind;                     /* the kind that decides (override_lookup) */
	struct override best;
	int found;
};

/* The override that decides the address, as override_lookup (and so dns.c) does: of
 * the kind that decides (any covering allow beats every add, even a more specific
 * one), the most specific. */
static int ovr_one(void *arg, const struct override *o)
{
	struct ovr_find *f = arg;

	if (o->kind == f->kind && override_covers(&o->net, o->len, f->ip) &&
	    (!f->found || o->len > f->best.len)) {
		f->best = *o;
		f->found = 1;
	}
	return 0;
}

static void read_store(struct store *st, const struct ipaddr *ip, struct explain *out)
{
	struct verdict v;
	char *source = NULL, *facts = NULL, *probe = NULL;
	uint32_t when;

	if (store_get(st, ip, &v, &source, &facts) == 0) {
		snprintf(out->source, sizeof(out->source), "%s", source ? source : "");
		if (facts && source && strcmp(source, "criminalip") == 0) {
			struct cip_facts f;

			if (criminalip_facts_from_json(facts, &f) == 0)
				criminalip_explain(&f, add_evidence, out);
		}
	}
	if (out->ovr_kind >= 0) {
		struct ovr_find f = { .ip = ip, .kind = out->ovr_kind };

		if (store_override_list(st, ovr_one, &f) == 0 && f.found) {
			snprintf(out->ovr_reason, sizeof(out->ovr_reason), "%s", f.best.reason);
			override_format_prefix(&f.best.net, f.best.len, out->ovr_prefix);
			out->ovr_created = f.best.created;
		}
	}
	if (store_get_probe(st, ip, &probe, &when) == 0 && probe) {
		out->has_probe = 1;
		snprintf(out->probe, sizeof(out->probe), "%s", probe);
		out->probe_when = when;
	}
	free(source);
	free(facts);
	free(probe);
}

int explain_ip(struct shared *sh, struct store *st, const struct ipaddr *ip,
	       struct explain *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->ovr_kind = -1;
	out->ovr_cat = -1;
	out->ip = *ip;
	ipaddr_format(ip, out->ip_text);
	out->now = (uint32_t)time(NULL);
	out->reserved = ipaddr_is_reserved(ip);
	rc = copy_view(sh, ip, out);
	for (size_t i = 0; i < out->nzones; i++) {
		struct explain_zone *ez = &out->zones[i];

		if (rc == 0 && ez->list != EXPLAIN_NOT_LISTED)
			find_line(ez, ip);
		if (ez->list == EXPLAIN_LISTED)
			expand_txt(ez->txt, sizeof(ez->txt), out->ip_text);
		for (size_t p = 0; p < ez->npaths; p++)
			free(ez->paths[p]);
		ez->npaths = 0;
	}
	if (rc == 0 && st)
		read_store(st, ip, out);
	return rc;
}
