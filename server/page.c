/* page.c - the lookup page's documents (see page.h). */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "override.h"
#include "page.h"

static const char css[] =
	":root{--fg:#1d232a;--bg:#f6f7f9;--card:#fff;--muted:#5b6573;--line:#dde1e6;"
	"--ok:#2e7d32;--vpn:#6a1b9a;--openvpn443:#ad1457;--hosting:#1565c0;--tor:#4e342e;"
	"--proxy:#ef6c00;--scanner:#c62828;--static:#37474f}\n"
	"*{box-sizing:border-box}\n"
	"body{margin:0;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
	"color:var(--fg);background:var(--bg)}\n"
	"main{max-width:46rem;margin:0 auto;padding:1.25rem}\n"
	"h1{font-size:1.6rem;margin:.5rem 0;word-break:break-all}\n"
	"h2{font-size:1.15rem;margin:0 0 .5rem}\n"
	"section,.summary{background:var(--card);border:1px solid var(--line);"
	"border-radius:.5rem;padding:1rem;margin:1rem 0}\n"
	".summary{font-weight:600;border-left:.4rem solid var(--ok)}\n"
	".summary.listed{border-left-color:var(--scanner)}\n"
	".cat{border-left:.4rem solid var(--muted)}\n"
	".cat-vpn{border-left-color:var(--vpn)}.cat-openvpn443{border-left-color:var(--openvpn443)}\n"
	".cat-hosting{border-left-color:var(--hosting)}.cat-tor{border-left-color:var(--tor)}\n"
	".cat-proxy{border-left-color:var(--proxy)}.cat-scanner{border-left-color:var(--scanner)}\n"
	".cat-static{border-left-color:var(--static)}\n"
	"code,.evidence li{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9rem;"
	"word-break:break-all}\n"
	"table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .4rem;"
	"border-bottom:1px solid var(--line);vertical-align:top}\n"
	".muted{color:var(--muted)}\n"
	"form{display:flex;gap:.5rem;flex-wrap:wrap}\n"
	"input[type=text]{flex:1 1 14rem;font:inherit;padding:.5rem;border:1px solid var(--line);"
	"border-radius:.4rem}\n"
	"button{font:inherit;padding:.5rem 1rem;border:0;border-radius:.4rem;background:#1d232a;"
	"color:#fff;cursor:pointer}\n"
	".notice{background:#fff8e1;border:1px solid #ffe082;border-radius:.5rem;padding:.75rem}\n"
	"@media (max-width:30rem){main{padding:.75rem}h1{font-size:1.3rem}}\n";

const char *page_css(size_t *len)
{
	*len = sizeof(css) - 1;
	return css;
}

void page_buf_free(struct page_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void put(struct page_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Markup only: every argument is a constant or a number. */
static void raw(struct page_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void raw(struct page_buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, at most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* Text of unknown origin: escaped for element content and quoted attributes. Bytes
 * below 0x20 (except tab), DEL and bytes that are not UTF-8 show as U+FFFD. */
static void esc(struct page_buf *b, const char *s)
{
	while (*s) {
		unsigned char c = (unsigned char)*s;
		size_t n = utf8_len((const unsigned char *)s);

		switch (c) {
		case '&': put(b, "&amp;", 5); break;
		case '<': put(b, "&lt;", 4); break;
		case '>': put(b, "&gt;", 4); break;
		case '"': put(b, "&quot;", 6); break;
		case '\'': put(b, "&#39;", 5); break;
		default:
			if (!n || (c < 0x20 && c != '\t') || c == 0x7f)
				put(b, "\xef\xbf\xbd", 3);
			else
				put(b, s, n);
		}
		s += n ? n : 1;
	}
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The categories of the zone's feeds that hold the address. */
static uint8_t feed_mask(const struct explain_zone *z)
{
	uint8_t m = 0;

	for (size_t i = 0; i < z->nfeed; i++)
		m |= VERDICT_BIT(z->feed[i].cat);
	return m & z->enabled_mask;
}

/* What decides the address in one zone, and with which categories. */
enum zone_by { BY_NONE, BY_ALLOW, BY_OVERRIDE, BY_STATIC, BY_EXCLUSION, BY_VERDICT, BY_FEED };

struct zone_answer {
	enum zone_by by;
	uint8_t mask;  /* the categories answered (BY_STATIC: none, its entry's A) */
	uint8_t vmask; /* those of them the verdict gave */
	uint8_t fmask; /* those the feeds gave */
};

/* How dns.c's answer_ip answers the address in z (doc/dns.md#where-a-verdict-comes-
 * from): allow, then an add of a category the zone answers, the static lists, then
 * the feeds and the verdict. A feed hit is the whole answer without a provider or
 * when one of its categories is in [intel] skip-when: the verdict is not used then. */
static struct zone_answer zone_answer(const struct explain *e, const struct explain_zone *z)
{
	struct zone_answer a = { BY_NONE, 0, 0, 0 };

	if (e->ovr_kind == OVERRIDE_ALLOW) {
		a.by = BY_ALLOW;
		return a;
	}
	if (e->ovr_kind == OVERRIDE_ADD && e->ovr_cat >= 0 &&
	    (z->enabled_mask & VERDICT_BIT(e->ovr_cat))) {
		a.by = BY_OVERRIDE;
		a.mask = VERDICT_BIT(e->ovr_cat);
		return a;
	}
	if (z->list != EXPLAIN_NOT_LISTED) {
		a.by = z->list == EXPLAIN_LISTED ? BY_STATIC : BY_EXCLUSION;
		return a;
	}
	a.fmask = feed_mask(z);
	if (!(a.fmask && (!e->lookups || (a.fmask & e->feed_skip))) && e->has_verdict &&
	    !(e->v.flags & VERDICT_F_UNKNOWN))
		a.vmask = e->v.mask & z->enabled_mask;
	a.mask = a.fmask | a.vmask;
	a.by = !a.mask ? BY_NONE : a.vmask ? BY_VERDICT : BY_FEED;
	return a;
}

/* Over all zones: whether any lists the address, the categories they answer (*mask),
 * those of them the verdict gave (*vmask). */
static int listed_anywhere(const struct explain *e, uint8_t *mask, uint8_t *vmask)
{
	int listed = 0;

	*mask = *vmask = 0;
	for (size_t i = 0; i < e->nzones; i++) {
		struct zone_answer a = zone_answer(e, &e->zones[i]);

		if (a.by == BY_STATIC || a.mask)
			listed = 1;
		*mask |= a.mask;
		*vmask |= a.vmask;
	}
	return listed;
}

static void html_head(struct page_buf *b, const char *title)
{
	raw(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	       "<meta name=\"referrer\" content=\"no-referrer\"><title>");
	esc(b, title);
	raw(b, " - threatbl</title><link rel=\"stylesheet\" href=\"/style.css\"></head>\n"
	       "<body><main>\n");
}

static void html_lookup_form(struct page_buf *b, const char *value)
{
	raw(b, "<section><h2>Look up an address</h2><form method=\"get\" action=\"/ip\">"
	       "<input type=\"text\" name=\"address\" aria-label=\"IP address\" "
	       "placeholder=\"192.0.2.1 or 2001:db8::1\" maxlength=\"45\" value=\"");
	esc(b, value);
	raw(b, "\"><button type=\"submit\">Look up</button></form></section>\n");
}

static void html_tail(struct page_buf *b)
{
	raw(b, "<p class=\"muted\">Answered by threatbl %s from what it holds; this page "
	       "never asks a provider.</p>\n</main></body></html>\n", PACKAGE_VERSION);
}

/* ISO 8601 in the markup, "2026-12-03 17:30 UTC" for the eye. */
static void html_time(struct page_buf *b, uint32_t t)
{
	time_t tt = (time_t)t;
	char iso[32], shown[32];
	struct tm tm;

	log_iso_time(t, iso, sizeof(iso));
	gmtime_r(&tt, &tm);
	strftime(shown, sizeof(shown), "%Y-%m-%d %H:%M UTC", &tm);
	raw(b, "<time datetime=\"%s\">%s</time>", iso, shown);
}

static void html_when(struct page_buf *b, const char *label, uint32_t t)
{
	raw(b, "<tr><th>%s</th><td>", label);
	html_time(b, t);
	raw(b, "</td></tr>");
}

int page_html(const struct explain *e, const struct page_recheck *r, struct page_buf *out)
{
	uint8_t mask, vmask;
	int listed = listed_anywhere(e, &mask, &vmask);

	html_head(out, e->ip_text);
	raw(out, "<h1>");
	esc(out, e->ip_text);
	raw(out, "</h1>\n");
	if (r && r->notice) {
		raw(out, "<p class=\"notice\" id=\"notice\">");
		esc(out, r->notice);
		raw(out, "</p>\n");
	}
	raw(out, "<p class=\"summary%s\" id=\"summary\">", listed ? " listed" : "");
	if (listed) {
		int first = 1;

		raw(out, "Listed");
		for (unsigned c = 0; c < VERDICT_NCAT; c++)
			if (mask & VERDICT_BIT(c)) {
				raw(out, "%s%s", first ? ": " : ", ", explain_cat_title(c));
				first = 0;
			}
		if (first)
			raw(out, " by a static list");
	} else if (e->ovr_kind == OVERRIDE_ALLOW) {
		raw(out, "Not listed: the operator of this server has allowed this address");
	} else if (e->has_verdict && (e->v.flags & VERDICT_F_UNKNOWN)) {
		raw(out, "Not listed: the lookup service could not judge this address");
	} else if (e->has_verdict) {
		raw(out, "Not listed: checked and found clean");
	} else if (!e->lookups) {
		raw(out, "Not listed");
	} else {
		raw(out, "Not listed: not checked yet (the first DNS query for it will be)");
	}
	raw(out, "</p>\n");

	for (unsigned c = 0; c < VERDICT_NCAT; c++) {
		if (!(mask & VERDICT_BIT(c)))
			continue;
		raw(out, "<section class=\"cat cat-%s\"><h2>%s</h2><p>%s</p>", verdict_cat_name(c),
		    explain_cat_title(c), explain_cat_meaning(c));
		raw(out, "<ul class=\"evidence\">");
		/* the verdict's evidence only where an answer used the verdict for c */
		for (size_t i = 0; (vmask & VERDICT_BIT(c)) && i < e->nevidence; i++) {
			if (e->evidence[i].cat != c)
				continue;
			raw(out, "<li>");
			esc(out, e->evidence[i].text);
			raw(out, "</li>");
		}
		if (e->ovr_kind == OVERRIDE_ADD && e->ovr_cat == (int)c) {
			raw(out, "<li>listed by the operator of this server");
			if (e->ovr_reason[0]) {
				raw(out, ": ");
				esc(out, e->ovr_reason);
			}
			raw(out, "</li>");
		}
		if (c == VERDICT_OPENVPN443 && (e->v.flags & VERDICT_F_PROBED) &&
		    (vmask & VERDICT_BIT(c)))
			raw(out, "<li>confirmed by threatbl's own probe of tcp/443</li>");
		for (size_t i = 0; i < e->nzones; i++) {
			/* a zone's feeds only where its answer used them */
			if (!(zone_answer(e, &e->zones[i]).fmask & VERDICT_BIT(c)))
				continue;
			for (size_t f = 0; f < e->zones[i].nfeed; f++) {
				if (e->zones[i].feed[f].cat != c)
					continue;
				raw(out, "<li>a public feed: ");
				esc(out, e->zones[i].feed[f].txt);
				raw(out, "</li>");
			}
		}
		raw(out, "</ul></section>\n");
	}

	if (e->ovr_kind >= 0) {
		raw(out, "<section class=\"cat cat-static\" id=\"override\"><h2>Decided by the "
		       "operator</h2><p>%s", e->ovr_kind == OVERRIDE_ALLOW ?
		    "The operator of this server has allowed this address: it is never listed "
		    "and never looked up, whatever the lists and the lookup services say." :
		    "The operator of this server lists this address by hand.");
		if (e->ovr_reason[0]) {
			raw(out, " Reason: <q>");
			esc(out, e->ovr_reason);
			raw(out, "</q>");
		}
		raw(out, "</p>");
		if (e->ovr_prefix[0]) {
			raw(out, "<p class=\"muted\">For <code>");
			esc(out, e->ovr_prefix);
			raw(out, "</code>");
			if (e->ovr_created) {
				raw(out, ", since ");
				html_time(out, e->ovr_created);
			}
			raw(out, "</p>");
		}
		raw(out, "</section>\n");
	}
	for (size_t i = 0; i < e->nzones; i++) {
		const struct explain_zone *z = &e->zones[i];

		if (z->list == EXPLAIN_NOT_LISTED)
			continue;
		raw(out, "<section class=\"cat cat-static\"><h2>%s in zone <code>",
		    z->list == EXPLAIN_LISTED ? "Listed by a static list" :
		    "Excluded by a static list");
		esc(out, z->name);
		raw(out, "</code></h2><p>");
		if (z->list == EXPLAIN_LISTED) {
			raw(out, "The operator of this server lists it by hand. Answer: "
			       "<code>%u.%u.%u.%u</code>", z->a[0], z->a[1], z->a[2], z->a[3]);
			if (z->txt[0]) {
				raw(out, " <q>");
				esc(out, z->txt);
				raw(out, "</q>");
			}
		} else {
			raw(out, "The operator of this server has excluded it: it is never listed "
			       "and never looked up.");
		}
		raw(out, "</p>");
		if (z->line) {
			raw(out, "<p class=\"muted\">List <code>");
			esc(out, basename_of(z->file));
			raw(out, "</code>, line %u: <code>", z->line);
			esc(out, z->entry);
			raw(out, "</code></p>");
		}
		raw(out, "</section>\n");
	}

	if (e->has_verdict) {
		raw(out, "<section><h2>When</h2><table>");
		html_when(out, "Checked", e->v.checked);
		if (e->fresh_until > e->now)
			html_when(out, "Checked again after", e->fresh_until);
		else
			raw(out, "<tr><th>Checked again</th><td>at its next DNS query</td></tr>");
		html_when(out, "Forgotten after", e->stale_until);
		if (e->source[0]) {
			raw(out, "<tr><th>Source</th><td>");
			esc(out, e->source);
			raw(out, "</td></tr>");
		}
		if (e->has_probe) {
			raw(out, "<tr><th>Probe of tcp/443</th><td>");
			esc(out, e->probe);
			raw(out, "</td></tr>");
			html_when(out, "Probed", e->probe_when);
		}
		raw(out, "</table></section>\n");
	}

	if (r && r->enabled && e->lookups) {
		raw(out, "<section id=\"recheck\"><h2>Check again</h2>");
		if (r->next > e->now) {
			raw(out, "<p>A new check is possible from ");
			html_time(out, r->next);
			raw(out, ".</p>");
		} else {
			raw(out, "<p>If this address has changed hands or stopped what it was "
			       "listed for, ask for a new check now.</p><form method=\"post\" "
			       "action=\"/ip/");
			esc(out, e->ip_text);
			raw(out, "/recheck\"><button type=\"submit\">Check again now</button>"
			       "</form>");
		}
		raw(out, "</section>\n");
	}
	if (listed)
		raw(out, "<section><h2>What to do</h2><p>Mail servers that use this list may "
		       "refuse messages whose sender connected, or wrote, from this address. "
		       "If you wrote through a VPN or a proxy, send again without it. If this "
		       "is your mail server, contact the operator of the list.</p></section>\n");
	html_lookup_form(out, e->ip_text);
	html_tail(out);
	return out->oom ? -ENOMEM : 0;
}

int page_form(const char *message, struct page_buf *out)
{
	html_head(out, "Look up an address");
	raw(out, "<h1>Is an address listed?</h1>\n");
	if (message) {
		raw(out, "<p class=\"notice\" id=\"notice\">");
		esc(out, message);
		raw(out, "</p>\n");
	}
	raw(out, "<p>This server answers DNS blocklist queries about addresses that mail "
	       "came from or was written from: VPN exits, OpenVPN on tcp/443, hosting "
	       "networks, Tor exits, proxies and scanners. Enter an address to see what it "
	       "knows and why.</p>\n");
	html_lookup_form(out, "");
	html_tail(out);
	return out->oom ? -ENOMEM : 0;
}

/* A string from a list or a provider: jansson refuses bytes that are not UTF-8, and a
 * NULL value would drop its key silently; such a string comes out as null. */
static json_t *jstr(const char *s)
{
	json_t *j = json_stringn(s, strlen(s));

	return j ? j : json_null();
}

static json_t *cats_json(uint8_t mask)
{
	json_t *a = json_array();

	for (unsigned c = 0; a && c < VERDICT_NCAT; c++)
		if (mask & VERDICT_BIT(c))
			json_array_append_new(a, json_string(verdict_cat_name(c)));
	return a;
}

static json_t *iso_json(uint32_t t)
{
	char iso[32];

	log_iso_time(t, iso, sizeof(iso));
	return json_string(iso);
}

int page_json(const struct explain *e, const struct page_recheck *r, struct page_buf *out)
{
	json_t *o = json_object(), *zones = json_array(), *v = NULL;
	uint8_t mask, vmask;
	int listed = listed_anywhere(e, &mask, &vmask);
	char *text = NULL;
	int rc = -ENOMEM;

	if (!o || !zones)
		goto out;
	json_object_set_new(o, "ip", json_string(e->ip_text));
	json_object_set_new(o, "listed", json_boolean(listed));
	json_object_set_new(o, "categories", cats_json(mask));
	for (size_t i = 0; i < e->nzones; i++) {
		const struct explain_zone *z = &e->zones[i];
		json_t *zo = json_object();
		struct zone_answer a;
		char ip4[16];

		if (!zo)
			goto out;
		json_object_set_new(zo, "zone", jstr(z->name));
		a = zone_answer(e, z);
		switch (a.by) {
		case BY_ALLOW:
			json_object_set_new(zo, "listed", json_false());
			json_object_set_new(zo, "by", json_string("allow"));
			break;
		case BY_OVERRIDE:
			json_object_set_new(zo, "listed", json_true());
			json_object_set_new(zo, "by", json_string("override"));
			json_object_set_new(zo, "categories", cats_json(a.mask));
			break;
		case BY_STATIC:
			snprintf(ip4, sizeof(ip4), "%u.%u.%u.%u", z->a[0], z->a[1], z->a[2], z->a[3]);
			json_object_set_new(zo, "listed", json_true());
			json_object_set_new(zo, "by", json_string("static"));
			json_object_set_new(zo, "a", json_string(ip4));
			json_object_set_new(zo, "txt", jstr(z->txt));
			break;
		case BY_EXCLUSION:
			json_object_set_new(zo, "listed", json_false());
			json_object_set_new(zo, "by", json_string("exclusion"));
			break;
		default:
			json_object_set_new(zo, "listed", json_boolean(a.mask != 0));
			json_object_set_new(zo, "by", a.by == BY_FEED ? json_string("feed") :
					    a.by == BY_VERDICT ? json_string("verdict") : json_null());
			json_object_set_new(zo, "categories", cats_json(a.mask));
			if (z->nfeed) {
				json_t *fa = json_array();

				for (size_t f = 0; fa && f < z->nfeed; f++) {
					json_t *fo = json_object();

					json_object_set_new(fo, "category", json_string(
						verdict_cat_name(z->feed[f].cat)));
					json_object_set_new(fo, "txt", jstr(z->feed[f].txt));
					json_array_append_new(fa, fo);
				}
				json_object_set_new(zo, "feeds", fa);
			}
			break;
		}
		if (z->line) {
			json_t *l = json_object();

			json_object_set_new(l, "file", jstr(basename_of(z->file)));
			json_object_set_new(l, "line", json_integer(z->line));
			json_object_set_new(l, "entry", jstr(z->entry));
			json_object_set_new(zo, "list", l);
		}
		json_array_append_new(zones, zo);
	}
	json_object_set_new(o, "zones", zones);
	zones = NULL;
	if (e->ovr_kind >= 0) {
		json_t *ov = json_object();

		json_object_set_new(ov, "kind", json_string(e->ovr_kind == OVERRIDE_ALLOW ?
							    "allow" : "add"));
		json_object_set_new(ov, "category", e->ovr_kind == OVERRIDE_ADD ?
				    json_string(verdict_cat_name(e->ovr_cat)) : json_null());
		json_object_set_new(ov, "reason", e->ovr_reason[0] ? jstr(e->ovr_reason) :
				    json_null());
		json_object_set_new(ov, "prefix", e->ovr_prefix[0] ? jstr(e->ovr_prefix) :
				    json_null());
		json_object_set_new(ov, "since", e->ovr_created ? iso_json(e->ovr_created) :
				    json_null());
		json_object_set_new(o, "override", ov);
	} else {
		json_object_set_new(o, "override", json_null());
	}
	if (e->has_verdict) {
		json_t *ev = json_array();

		v = json_object();
		if (!v || !ev) {
			json_decref(ev);
			goto out;
		}
		json_object_set_new(v, "categories", cats_json(e->v.mask));
		json_object_set_new(v, "unknown", json_boolean(e->v.flags & VERDICT_F_UNKNOWN));
		json_object_set_new(v, "checked", iso_json(e->v.checked));
		json_object_set_new(v, "fresh_until", iso_json(e->fresh_until));
		json_object_set_new(v, "forgotten_after", iso_json(e->stale_until));
		json_object_set_new(v, "source", e->source[0] ? jstr(e->source) : json_null());
		for (size_t i = 0; i < e->nevidence; i++) {
			json_t *x = json_object();

			json_object_set_new(x, "category",
					    json_string(verdict_cat_name(e->evidence[i].cat)));
			json_object_set_new(x, "text", jstr(e->evidence[i].text));
			json_array_append_new(ev, x);
		}
		json_object_set_new(v, "evidence", ev);
		if (e->has_probe) {
			json_t *p = json_object();

			json_object_set_new(p, "result", jstr(e->probe));
			json_object_set_new(p, "when", iso_json(e->probe_when));
			json_object_set_new(v, "probe", p);
		}
		json_object_set_new(o, "verdict", v);
		v = NULL;
	} else {
		json_object_set_new(o, "verdict", json_null());
	}
	if (r) {
		json_t *ro = json_object();

		json_object_set_new(ro, "enabled", json_boolean(r->enabled && e->lookups));
		json_object_set_new(ro, "next", r->next > e->now ? iso_json(r->next) :
				    json_null());
		json_object_set_new(o, "recheck", ro);
	}
	text = json_dumps(o, JSON_COMPACT);
	if (!text)
		goto out;
	put(out, text, strlen(text));
	put(out, "\n", 1);
	rc = out->oom ? -ENOMEM : 0;
out:
	free(text);
	json_decref(v);
	json_decref(zones);
	json_decref(o);
	return rc;
}
