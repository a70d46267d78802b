/* test_page.c - the lookup page's documents (page.c): what each shows, and that no
 * string from a list, a provider or the configuration reaches the HTML unescaped or
 * breaks the JSON. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "override.h"
#include "page.h"
#include "tap.h"

static const char *const hostile[] = {
	"<script>alert(1)</script>",
	"\"><img src=x onerror=alert(1)>",
	"' onmouseover='x",
	"a&b<c>d\"e'f",
	"\x01\x1b[2Jterm\x7f",
	"\xff\xfe not UTF-8",
};

static void fill(struct explain *e, const char *s)
{
	memset(e, 0, sizeof(*e));
	e->ovr_kind = -1;
	e->ovr_cat = -1;
	ipaddr_parse(&e->ip, "203.0.113.10");
	strcpy(e->ip_text, "203.0.113.10");
	e->now = 1780000000;
	e->lookups = 1;
	e->has_verdict = 1;
	e->v.mask = VERDICT_BIT(VERDICT_VPN) | VERDICT_BIT(VERDICT_OPENVPN443);
	e->v.flags = VERDICT_F_PROBED;
	e->v.checked = e->now - 3600;
	e->fresh_until = e->now + 86400;
	e->stale_until = e->now + 30 * 86400;
	snprintf(e->source, sizeof(e->source), "%s", s);
	e->has_probe = 1;
	snprintf(e->probe, sizeof(e->probe), "%s", s);
	e->probe_when = e->now - 60;
	e->nevidence = 2;
	e->evidence[0].cat = VERDICT_VPN;
	snprintf(e->evidence[0].text, sizeof(e->evidence[0].text), "vpn_name=%s", s);
	e->evidence[1].cat = VERDICT_SCANNER; /* a category not listed: not shown */
	strcpy(e->evidence[1].text, "not-shown-evidence");
	e->nzones = 2;
	snprintf(e->zones[0].name, sizeof(e->zones[0].name), "%s", s);
	e->zones[0].list = EXPLAIN_LISTED;
	memcpy(e->zones[0].a, "\x7f\x00\x00\x09", 4);
	snprintf(e->zones[0].txt, sizeof(e->zones[0].txt), "%s", s);
	snprintf(e->zones[0].file, sizeof(e->zones[0].file), "/etc/threatbl/%s", s);
	e->zones[0].line = 12;
	snprintf(e->zones[0].entry, sizeof(e->zones[0].entry), "%s", s);
	strcpy(e->zones[1].name, "bl.example.org");
	e->zones[1].list = EXPLAIN_NOT_LISTED;
	e->zones[1].enabled_mask = VERDICT_ALL;
}

/* No raw markup from s: s itself (each holds a byte that must be escaped) appears
 * nowhere as written, nor any tag or control byte of it. */
static int markup_clean(const char *html, const char *s)
{
	return !strstr(html, s) && !strstr(html, "<script") && !strstr(html, "<img") &&
	       !strchr(html, '\x1b') && !strchr(html, '\x01') && !strchr(html, '\xff');
}

/* Whether got is the JSON value text says. */
static int json_is(json_t *got, const char *text)
{
	json_t *want = json_loads(text, 0, NULL);
	int same = got && want && json_equal(got, want);

	json_decref(want);
	return same;
}

int main(void)
{
	struct page_recheck r = { .enabled = 1 };
	struct explain e;

	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		struct page_buf b = { 0 };
		json_error_t jerr;
		json_t *j;

		fill(&e, hostile[i]);
		ok(page_html(&e, &r, &b) == 0, "html %zu renders", i);
		ok(markup_clean(b.p, hostile[i]), "html %zu: nothing unescaped", i);
		ok(!strstr(b.p, "/etc/threatbl/"), "html %zu: the list's directory stays private", i);
		ok(strstr(b.p, "Listed: VPN exit, OpenVPN on tcp/443") != NULL,
		   "html %zu: the summary names the categories", i);
		ok(!strstr(b.p, "not-shown-evidence"), "html %zu: evidence of another category "
		   "is not shown", i);
		ok(strstr(b.p, "confirmed by threatbl's own probe") != NULL,
		   "html %zu: the probe's confirmation", i);
		page_buf_free(&b);

		ok(page_json(&e, &r, &b) == 0, "json %zu renders", i);
		j = json_loads(b.p, 0, &jerr);
		ok(j != NULL, "json %zu parses", i);
		ok(json_is_true(json_object_get(j, "listed")), "json %zu: listed", i);
		ok(json_object_get(json_array_get(json_object_get(j, "zones"), 0), "txt") != NULL,
		   "json %zu: a txt that is not UTF-8 is there (as null)", i);
		json_decref(j);
		page_buf_free(&b);
	}

	/* The escapes themselves. */
	{
		struct page_buf b = { 0 };

		fill(&e, "a&b<c>d\"e'f");
		page_html(&e, &r, &b);
		ok(strstr(b.p, "a&amp;b&lt;c&gt;d&quot;e&#39;f") != NULL, "the five escapes");
		page_buf_free(&b);
	}

	/* UTF-8: kept when valid, U+FFFD for what is not (overlong, surrogate, cut). */
	{
		struct page_buf b = { 0 };

		fill(&e, "caf\xc3\xa9 \xc0\xaf \xed\xa0\x80 \xe2\x82");
		page_html(&e, &r, &b);
		ok(strstr(b.p, "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd"
			       "\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd") != NULL,
		   "UTF-8 kept, the rest replaced byte by byte");
		page_buf_free(&b);
	}

	/* Clean, not checked, unknown; the re-check's states. */
	{
		struct page_buf b = { 0 };

		fill(&e, "x");
		e.nzones = 0;
		e.v.mask = 0;
		e.v.flags = 0;
		page_html(&e, &r, &b);
		ok(strstr(b.p, "checked and found clean") != NULL, "clean");
		ok(strstr(b.p, "action=\"/ip/203.0.113.10/recheck\"") != NULL,
		   "the re-check button when possible");
		page_buf_free(&b);
		r.next = e.now + 600;
		page_html(&e, &r, &b);
		ok(strstr(b.p, "A new check is possible from") != NULL &&
		   !strstr(b.p, "/recheck\""), "the time of the next re-check, no button");
		page_buf_free(&b);
		r.next = 0;
		e.has_verdict = 0;
		page_html(&e, &r, &b);
		ok(strstr(b.p, "not checked yet") != NULL, "not checked yet");
		page_buf_free(&b);
		e.has_verdict = 1;
		e.v.flags = VERDICT_F_UNKNOWN;
		page_html(&e, &r, &b);
		ok(strstr(b.p, "could not judge") != NULL, "unknown");
		page_buf_free(&b);
		e.lookups = 0;
		e.has_verdict = 0;
		page_html(&e, &r, &b);
		ok(!strstr(b.p, "Check again"), "no re-check without lookups");
		page_buf_free(&b);
	}

	/* A zone that does not answer a category does not list it. */
	{
		struct page_buf b = { 0 };

		fill(&e, "x");
		e.nzones = 2;
		e.zones[0].list = EXPLAIN_NOT_LISTED;
		e.zones[0].enabled_mask = VERDICT_BIT(VERDICT_TOR);
		e.zones[1].enabled_mask = VERDICT_BIT(VERDICT_TOR);
		page_html(&e, &r, &b);
		ok(strstr(b.p, "Not listed") != NULL, "categories the zones do not answer");
		page_buf_free(&b);
	}

	/* The operator's overrides: allow beats everything, add lists with its reason. */
	{
		struct page_buf b = { 0 };
		json_t *j;

		fill(&e, "x");
		e.ovr_kind = OVERRIDE_ALLOW;
		snprintf(e.ovr_reason, sizeof(e.ovr_reason), "our <partner>");
		strcpy(e.ovr_prefix, "203.0.113.0/24");
		page_html(&e, &r, &b);
		ok(strstr(b.p, "the operator of this server has allowed this address") != NULL &&
		   !strstr(b.p, "Listed:"), "allow: not listed, whatever the verdict says");
		ok(strstr(b.p, "Reason: <q>our &lt;partner&gt;</q>") != NULL, "allow: its reason");
		page_buf_free(&b);
		page_json(&e, &r, &b);
		j = json_loads(b.p, 0, NULL);
		ok(j && json_is_false(json_object_get(j, "listed")) &&
		   strcmp(json_string_value(json_object_get(json_object_get(j, "override"),
							    "kind")), "allow") == 0,
		   "allow in the JSON");
		json_decref(j);
		page_buf_free(&b);
		e.ovr_kind = OVERRIDE_ADD;
		e.ovr_cat = VERDICT_SCANNER;
		e.zones[0].list = EXPLAIN_NOT_LISTED;
		e.zones[0].enabled_mask = VERDICT_ALL;
		page_html(&e, &r, &b);
		ok(strstr(b.p, "Listed: Scanner or attack source") != NULL &&
		   strstr(b.p, "listed by the operator of this server: our &lt;partner&gt;") != NULL,
		   "add: the category and the operator's reason");
		ok(!strstr(b.p, "Listed: VPN"), "add beats the verdict");
		page_buf_free(&b);
	}

	/* A feed hit of a skip-when category (or any, without a provider) is the whole
	 * answer in its zone, as dns.c answers it: the verdict's categories, evidence and
	 * probe are not shown for that zone. */
	{
		struct page_buf b = { 0 };
		json_t *j, *z;

		fill(&e, "x");
		e.nzones = 1;
		e.zones[0].list = EXPLAIN_NOT_LISTED;
		e.zones[0].enabled_mask = VERDICT_ALL;
		e.zones[0].nfeed = 1;
		e.zones[0].feed[0].cat = VERDICT_TOR;
		strcpy(e.zones[0].feed[0].txt, "Tor exit node (feed tor)");
		e.feed_skip = VERDICT_BIT(VERDICT_TOR);
		page_html(&e, &r, &b);
		ok(strstr(b.p, "Listed: Tor exit node<") != NULL, "skip-when: the feed alone");
		ok(strstr(b.p, "a public feed: Tor exit node (feed tor)") != NULL,
		   "skip-when: the feed as evidence");
		ok(!strstr(b.p, "cat-vpn") && !strstr(b.p, "vpn_name=") &&
		   !strstr(b.p, "confirmed by threatbl's own probe"),
		   "skip-when: nothing of the verdict the answer does not use");
		page_buf_free(&b);
		page_json(&e, &r, &b);
		j = json_loads(b.p, 0, NULL);
		z = json_array_get(json_object_get(j, "zones"), 0);
		ok(j && json_is(json_object_get(j, "categories"), "[\"tor\"]"),
		   "skip-when: JSON categories");
		ok(z && strcmp(json_string_value(json_object_get(z, "by")), "feed") == 0 &&
		   json_is(json_object_get(z, "categories"), "[\"tor\"]"),
		   "skip-when: the zone by the feed");
		json_decref(j);
		page_buf_free(&b);

		/* without a provider too */
		e.feed_skip = 0;
		e.lookups = 0;
		page_html(&e, &r, &b);
		ok(strstr(b.p, "Listed: Tor exit node<") != NULL && !strstr(b.p, "vpn_name="),
		   "no provider: the feed alone");
		page_buf_free(&b);

		/* not in skip-when: the feed's category joins the verdict's */
		e.lookups = 1;
		page_html(&e, &r, &b);
		ok(strstr(b.p, "Listed: VPN exit, OpenVPN on tcp/443, Tor exit node<") != NULL &&
		   strstr(b.p, "vpn_name=x") != NULL, "a feed not skipped joins the verdict");
		page_buf_free(&b);

		/* a second zone without the feed answers the verdict */
		e.feed_skip = VERDICT_BIT(VERDICT_TOR);
		e.nzones = 2;
		page_html(&e, &r, &b);
		ok(strstr(b.p, "Listed: VPN exit, OpenVPN on tcp/443, Tor exit node<") != NULL &&
		   strstr(b.p, "vpn_name=x") != NULL &&
		   strstr(b.p, "confirmed by threatbl's own probe") != NULL,
		   "skip-when: another zone still answers the verdict");
		page_buf_free(&b);
		page_json(&e, &r, &b);
		j = json_loads(b.p, 0, NULL);
		z = json_array_get(json_object_get(j, "zones"), 0);
		ok(z && strcmp(json_string_value(json_object_get(z, "by")), "feed") == 0,
		   "skip-when: the first zone by the feed");
		z = json_array_get(json_object_get(j, "zones"), 1);
		ok(z && strcmp(json_string_value(json_object_get(z, "by")), "verdict") == 0 &&
		   json_is(json_object_get(z, "categories"), "[\"vpn\",\"openvpn443\"]"),
		   "skip-when: the second by the verdict");
		json_decref(j);
		page_buf_free(&b);
	}

	/* The form carries its message escaped. */
	{
		struct page_buf b = { 0 };

		page_form("<b>bad</b>", &b);
		ok(strstr(b.p, "&lt;b&gt;bad&lt;/b&gt;") != NULL && !strstr(b.p, "<b>"),
		   "the form's message is escaped");
		page_buf_free(&b);
	}
	return done_testing();
}
