/* criminalip.c - the Criminal IP asset report: request, response, classification.
 *
 * The parser is written for a service whose documents are large, change over time and
 * carry placeholders ("N/A", "Unknown", "", null) and scan histories (doc/criminalip.md#quirks-the-parser-survives):
 * every field is looked at on its own, a field of the wrong type is ignored, and only a
 * response that is not a JSON object at all, an error answer, or a report that says
 * nothing about the address asked is a failure. The document is read with jsonfilter.c,
 * keeping only the members the classifier reads. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "criminalip.h"
#include "ipaddr.h"
#include "jsonfilter.h"
#include "verdict.h"

/* Flag names, by bit: "issues" keys first, then what the parser derives. */
static const char *const cip_flag_names[CIP_NFLAGS] = {
	"is_vpn", "is_cloud", "is_tor", "is_proxy", "is_hosting", "is_mobile",
	"is_darkweb", "is_scanner", "is_snort", "is_anonymous_vpn",
	"has_vpn_block", "openvpn_443",
	"category_vpn", "category_tor", "category_proxy", "category_hosting",
	"category_scanner", "from_tags",
};
#define CIP_NISSUES 10

/* ip_category types, by CIP_CAT_I_*: the flag and the category they stand for. */
static const struct {
	const char *type;
	uint32_t flag;
	enum verdict_cat cat;
} cip_cats[CIP_NCAT] = {
	{ "vpn", CIP_CAT_VPN, VERDICT_VPN },
	{ "tor", CIP_CAT_TOR, VERDICT_TOR },
	{ "proxy", CIP_CAT_PROXY, VERDICT_PROXY },
	{ "hosting", CIP_CAT_HOSTING, VERDICT_HOSTING },
	{ "scanner", CIP_CAT_SCANNER, VERDICT_SCANNER },
};

static const char *const cip_score_names[] = {
	"Safe", "Low", "Moderate", "Dangerous", "Critical",
};

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Whether text (len bytes) equals want, ignoring case, surrounding white space and
 * trailing periods ("Invalid IP Address." and "invalid ip address" are the same). */
static int text_is(const char *text, size_t len, const char *want)
{
	size_t wlen = strlen(want);

	while (len && is_space(*text)) {
		text++;
		len--;
	}
	while (len && (is_space(text[len - 1]) || text[len - 1] == '.'))
		len--;
	while (wlen && want[wlen - 1] == '.')
		wlen--;
	return len == wlen && strncasecmp(text, want, len) == 0;
}

static int json_text_is(const json_t *v, const char *want)
{
	return json_is_string(v) && text_is(json_string_value(v), json_string_length(v), want);
}

static int is_placeholder(const json_t *v)
{
	static const char *const ph[] = { "", "n/a", "unknown", "null", "none" };
	size_t i;

	if (!json_is_string(v))
		return 1;
	for (i = 0; i < sizeof(ph) / sizeof(ph[0]); i++)
		if (json_text_is(v, ph[i]))
			return 1;
	return 0;
}

/* Case-insensitive search that survives NUL bytes (banners are raw scanner output). */
static const char *find_ci(const char *hay, size_t hlen, const char *needle)
{
	size_t nlen = strlen(needle), i;

	if (nlen > hlen)
		return NULL;
	for (i = 0; i + nlen <= hlen; i++)
		if (strncasecmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

/* Copy at most n bytes of src into dst (size bytes), printable ASCII only, so that the
 * result is safe in a log line and valid UTF-8 in JSON. */
static void copy_clean(char *dst, size_t size, const char *src, size_t n)
{
	size_t i, j = 0;

	for (i = 0; i < n && j + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[j++] = c >= 0x20 && c < 0x7f ? (char)c : (c < 0x80 ? ' ' : '?');
	}
	while (j && dst[j - 1] == ' ')
		j--;
	dst[j] = '\0';
}

/* An integer given as a JSON integer or as a string of digits ("443", " 5 "): the
 * service writes some numbers as text. 0, or -EINVAL for anything else. */
static int int_of(const json_t *v, json_int_t *out)
{
	const char *s;
	size_t len, i = 0;
	json_int_t n = 0;
	int neg = 0;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	s = json_string_value(v);
	len = json_string_length(v);
	while (len && is_space(s[len - 1]))
		len--;
	while (i < len && is_space(s[i]))
		i++;
	if (i < len && s[i] == '-') {
		neg = 1;
		i++;
	}
	if (i == len || len - i > 15)
		return -EINVAL;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		n = n * 10 + (s[i] - '0');
	}
	*out = neg ? -n : n;
	return 0;
}

/* 1-5 for a score given as a name or an integer (also as text: "5"), else 0. */
static uint8_t score_of(const json_t *v)
{
	json_int_t n;
	size_t i;

	if (int_of(v, &n) == 0)
		return n >= 1 && n <= 5 ? (uint8_t)n : 0;
	for (i = 0; i < 5; i++)
		if (json_text_is(v, cip_score_names[i]))
			return (uint8_t)(i + 1);
	return 0;
}

static const json_t *data_of(const json_t *root, const char *block)
{
	const json_t *data = json_object_get(json_object_get(root, block), "data");

	return json_is_array(data) ? data : NULL;
}

static void vpn_blocks(const json_t *root, struct cip_facts *f)
{
	static const char *const blocks[] = { "vpn", "anonymous_vpn" };
	size_t b, i;

	for (b = 0; b < 2; b++) {
		const json_t *data = data_of(root, blocks[b]);
		const json_t *item;

		if (!data)
			continue;
		json_array_foreach(data, i, item) {
			const json_t *name;

			if (!json_is_object(item))
				continue;
			f->flags |= CIP_HAS_VPN_BLOCK;
			name = json_object_get(item, "vpn_name");
			if (!f->vpn_name[0] && !is_placeholder(name))
				copy_clean(f->vpn_name, sizeof(f->vpn_name), json_string_value(name),
					   json_string_length(name));
		}
	}
}

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_of(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

int criminalip_time(const char *s, size_t n, int64_t *ms)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, oh = 0, om = 0, sign = 0;
	size_t i = 10, k;

	if (!s || !ms || n < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d))
		return -EINVAL;
	if (n > 10) {
		if ((s[10] != ' ' && s[10] != 'T' && s[10] != 't') || n < 16 ||
		    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi))
			return -EINVAL;
		i = 16;
		if (i < n && s[i] == ':') {
			if (n < i + 3 || digits(s + i + 1, 2, &sec))
				return -EINVAL;
			i += 3;
		}
		if (i < n && (s[i] == '.' || s[i] == ',')) {
			/* milliseconds are enough to order scans */
			for (k = 0, i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++)
				if (k < 3)
					frac = frac * 10 + (s[i] - '0');
			if (!k)
				return -EINVAL;
			for (; k < 3; k++)
				frac *= 10;
		}
		if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
			i++;
		} else if (i < n && (s[i] == '+' || s[i] == '-')) {
			sign = s[i] == '-' ? -1 : 1;
			if (n < i + 3 || digits(s + i + 1, 2, &oh))
				return -EINVAL;
			i += 3;
			if (i < n && s[i] == ':')
				i++;
			if (i < n && (n < i + 2 || digits(s + i, 2, &om)))
				return -EINVAL;
			if (i < n)
				i += 2;
		}
		if (i != n)
			return -EINVAL;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60 ||
	    oh > 23 || om > 59)
		return -EINVAL;
	*ms = ((days_of(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
	       (int64_t)sign * (oh * 3600 + om * 60)) * 1000 + frac;
	return 0;
}

/* The time of an entry's confirmed_time; INT64_MIN (the oldest) when it has none
 * that can be read. */
static int64_t time_of(const json_t *item, const char **text)
{
	const json_t *v = json_object_get(item, "confirmed_time");
	int64_t ms;

	*text = NULL;
	if (!json_is_string(v) ||
	    criminalip_time(json_string_value(v), json_string_length(v), &ms) < 0)
		return INT64_MIN;
	*text = json_string_value(v);
	return ms;
}

/* Whether field of item names OpenVPN; writes the evidence if so. */
static int names_openvpn(const json_t *item, const char *field, const char *when,
			 struct cip_facts *f)
{
	static const char *const marks[] = { "openvpn", "p_control_hard_reset_server" };
	const json_t *v = json_object_get(item, field);
	char shown[48], at_time[40];
	size_t i;

	if (is_placeholder(v))
		return 0;
	for (i = 0; i < 2; i++) {
		const char *s = json_string_value(v), *at;
		size_t len = json_string_length(v);

		at = find_ci(s, len, marks[i]);
		if (!at)
			continue;
		/* A long banner is shown from the match on. */
		if (len >= sizeof(shown)) {
			len -= (size_t)(at - s);
			s = at;
		}
		copy_clean(shown, sizeof(shown), s, len);
		at_time[0] = '\0';
		if (when)
			copy_clean(at_time, sizeof(at_time), when, strlen(when));
		snprintf(f->evidence, sizeof(f->evidence), "tcp/443 %s=%s%s%s", field, shown,
			 at_time[0] ? " " : "", at_time);
		return 1;
	}
	return 0;
}

/* A port entry's status: "open" (any case) is open; absent or null too, since the
 * list is of ports found open and some shapes leave the status out. */
static int port_open(const json_t *item)
{
	const json_t *st = json_object_get(item, "port_status");

	return !st || json_is_null(st) || json_text_is(st, "open");
}

/* The port list is a scan history: judge tcp/443 by its newest entry, by time
 * whatever the order of the array. */
static void port_443(const json_t *root, struct cip_facts *f)
{
	static const char *const fields[] = { "app_name", "protocol", "banner" };
	const json_t *data = data_of(root, "port");
	const json_t *item, *best = NULL;
	const char *best_text = NULL, *text;
	int64_t best_t = INT64_MIN, t;
	json_int_t no;
	size_t i;

	if (!data)
		return;
	json_array_foreach(data, i, item) {
		if (int_of(json_object_get(item, "open_port_no"), &no) < 0 || no != 443 ||
		    !json_text_is(json_object_get(item, "socket"), "tcp"))
			continue;
		t = time_of(item, &text);
		/* of two with the same time, the first */
		if (!best || t > best_t) {
			best = item;
			best_t = t;
			best_text = text;
		}
	}
	if (!best || !port_open(best))
		return;
	f->tcp443_open = 1;
	for (i = 0; i < 3; i++) {
		if (names_openvpn(best, fields[i], best_text, f)) {
			f->flags |= CIP_OPENVPN_443;
			return;
		}
	}
}

/* ip_category: a list (bare, or a {count, data} block) of {type, detect_source,
 * confirmed_time}; the vendor's classification. An entry older than max-stale no
 * longer counts; one without a readable time does (it is the vendor's current list). */
static void ip_category(const json_t *root, const struct cip_ask *ask, struct cip_facts *f)
{
	const json_t *list = json_object_get(root, "ip_category"), *item;
	int64_t newest[CIP_NCAT], t;
	const char *text;
	size_t i, c;

	if (!json_is_array(list))
		list = data_of(root, "ip_category");
	if (!list)
		return;
	for (c = 0; c < CIP_NCAT; c++)
		newest[c] = INT64_MIN;
	json_array_foreach(list, i, item) {
		for (c = 0; c < CIP_NCAT; c++)
			if (json_text_is(json_object_get(item, "type"), cip_cats[c].type))
				break;
		if (c == CIP_NCAT)
			continue;
		t = time_of(item, &text);
		if (text && ask && ask->now && ask->max_stale_s &&
		    t < (ask->now - (int64_t)ask->max_stale_s) * 1000)
			continue;
		if ((f->flags & cip_cats[c].flag) && t <= newest[c])
			continue;
		f->flags |= cip_cats[c].flag;
		newest[c] = t;
		f->cat_time[c][0] = '\0';
		if (text)
			copy_clean(f->cat_time[c], sizeof(f->cat_time[c]), text, strlen(text));
	}
}

static void extract(const json_t *root, const struct cip_ask *ask, struct cip_facts *f)
{
	const json_t *issues = json_object_get(root, "issues");
	const json_t *score = json_object_get(root, "score");
	int from_tags = 0;
	size_t i;

	/* /v1/ip/data's shape: the same flags under "tags" */
	if (!json_is_object(issues)) {
		issues = json_object_get(root, "tags");
		from_tags = 1;
	}
	if (json_is_object(issues))
		for (i = 0; i < CIP_NISSUES; i++)
			if (json_is_true(json_object_get(issues, cip_flag_names[i])))
				f->flags |= 1u << i;
	if (from_tags && f->flags)
		f->flags |= CIP_FROM_TAGS;
	if (json_is_object(score)) {
		f->score_in = score_of(json_object_get(score, "inbound"));
		f->score_out = score_of(json_object_get(score, "outbound"));
	}
	vpn_blocks(root, f);
	port_443(root, f);
	ip_category(root, ask, f);
	if (ask && ask->key && ask->key[0]) {
		/* the service's text, kept and perhaps answered in TXT: never the key */
		criminalip_redact(f->vpn_name, strlen(f->vpn_name), ask->key);
		criminalip_redact(f->evidence, strlen(f->evidence), ask->key);
	}
}

/* The service's words for a log detail (a message, an ip): the key is redacted before
 * the text is cut, so that no part of it survives the cut. */
static void quote(const json_t *msg, const struct cip_ask *ask, char *text, size_t size)
{
	char raw[1024];
	size_t n = json_string_length(msg);

	if (n > sizeof(raw))
		n = sizeof(raw);
	memcpy(raw, json_string_value(msg), n);
	if (ask && ask->key)
		criminalip_redact(raw, n, ask->key);
	copy_clean(text, size, raw, n);
}

/* Why a successful answer cannot be a verdict, or NULL when it can: an answer about
 * another address, or one without any block the classifier reads (`{"status":200}`
 * is not "clean"). */
static const char *unusable(const json_t *root, const struct cip_ask *ask, char *why,
			    size_t size)
{
	static const char *const objects[] = { "issues", "tags", "score" };
	static const char *const lists[] = { "vpn", "anonymous_vpn", "port", "ip_category" };
	const json_t *ip = json_object_get(root, "ip"), *v;
	struct ipaddr named;
	char shown[48];
	size_t i;

	if (ask && ask->ip && json_is_string(ip) &&
	    (ipaddr_parse(&named, json_string_value(ip)) < 0 ||
	     ipaddr_cmp(&named, ask->ip) != 0)) {
		quote(ip, ask, shown, sizeof(shown));
		snprintf(why, size, "a report for another address (%s)", shown);
		return why;
	}
	for (i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
		if (json_is_object(json_object_get(root, objects[i])))
			return NULL;
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		v = json_object_get(root, lists[i]);
		if (json_is_object(v) || json_is_array(v))
			return NULL;
	}
	snprintf(why, size, "a report without issues, tags, score, vpn, port or ip_category");
	return why;
}

static int is_key_char(char a, char b)
{
	if (a >= 'A' && a <= 'Z')
		a = (char)(a - 'A' + 'a');
	if (b >= 'A' && b <= 'Z')
		b = (char)(b - 'A' + 'a');
	return a == b;
}

void criminalip_redact(char *s, size_t len, const char *key)
{
	size_t klen = key ? strlen(key) : 0, min = klen < 8 ? klen : 8;
	size_t i = 0, j, l, best;

	if (!klen || !s)
		return;
	while (i < len) {
		best = 0;
		for (j = 0; j < klen && best < len - i; j++) {
			for (l = 0; i + l < len && j + l < klen && is_key_char(s[i + l], key[j + l]);
			     l++)
				;
			if (l > best)
				best = l;
		}
		if (best >= min) {
			memset(s + i, '*', best);
			i += best;
		} else {
			i++;
		}
	}
}

/* The report's rules for jsonfilter: only what extract(), unusable() and the error
 * checks read is built; domains, certificates, whois and the rest are skipped. */
static const struct jsonf_rule vpn_item_rules[] = {
	{ "vpn_name", NULL }, { NULL, NULL },
};
static const struct jsonf_rule port_item_rules[] = {
	{ "open_port_no", NULL }, { "socket", NULL }, { "port_status", NULL },
	{ "confirmed_time", NULL }, { "app_name", NULL }, { "protocol", NULL },
	{ "banner", NULL }, { NULL, NULL },
};
static const struct jsonf_rule cat_item_rules[] = {
	{ "type", NULL }, { "confirmed_time", NULL }, { NULL, NULL },
};
static const struct jsonf_rule vpn_rules[] = { { "data", vpn_item_rules }, { NULL, NULL } };
static const struct jsonf_rule port_rules[] = { { "data", port_item_rules }, { NULL, NULL } };
/* a bare list of entries, or a {count, data} block */
static const struct jsonf_rule cat_rules[] = {
	{ "data", cat_item_rules }, { "type", NULL }, { "confirmed_time", NULL },
	{ NULL, NULL },
};
static const struct jsonf_rule report_rules[] = {
	{ "status", NULL }, { "message", NULL }, { "ip", NULL },
	{ "issues", NULL }, { "tags", NULL }, { "score", NULL },
	{ "vpn", vpn_rules }, { "anonymous_vpn", vpn_rules }, { "port", port_rules },
	{ "ip_category", cat_rules }, { NULL, NULL },
};

static const struct {
	const char *message;
	enum provider_outcome outcome;
} cip_errors[] = {
	{ "invalid api key", PROVIDER_BAD_KEY },
	{ "limit exceeded", PROVIDER_LIMIT },
	{ "unable to call api at the same time", PROVIDER_BUSY },
	{ "invalid ip address.", PROVIDER_INVALID_IP },
};

enum provider_outcome criminalip_judge(const struct cip_ask *ask, long http_status,
				       const char *body, size_t len, struct cip_facts *facts,
				       char *detail, size_t dsize, int *refused)
{
	enum provider_outcome out = PROVIDER_TROUBLE;
	json_t *root = NULL, *msg;
	json_int_t bstatus = -1;
	char text[64] = "", why[96], unused[1];
	size_t i;
	int ref = 0, nomem = 0;

	if (!detail || !dsize) {
		detail = unused;
		dsize = sizeof(unused);
	}
	memset(facts, 0, sizeof(*facts));
	if (body && len)
		root = jsonf_read(body, len, report_rules, &nomem);
	if (!json_is_object(root)) {
		if (http_status == 401)
			out = PROVIDER_BAD_KEY;
		snprintf(detail, dsize, "HTTP %ld, %s", http_status,
			 !len ? "empty body" : root ? "not a JSON object"
			 : nomem ? "out of memory" : "malformed JSON");
		goto out;
	}
	if (int_of(json_object_get(root, "status"), &bstatus) < 0)
		bstatus = -1;
	msg = json_object_get(root, "message");
	if (json_is_string(msg)) {
		for (i = 0; i < sizeof(cip_errors) / sizeof(cip_errors[0]); i++) {
			if (json_text_is(msg, cip_errors[i].message)) {
				out = cip_errors[i].outcome;
				snprintf(detail, dsize, "HTTP %ld, status %lld: %s", http_status,
					 (long long)bstatus, cip_errors[i].message);
				goto out;
			}
		}
		quote(msg, ask, text, sizeof(text));
	}
	if (http_status == 401 || bstatus == 401) {
		out = PROVIDER_BAD_KEY;
	} else if (http_status == 200 && bstatus == 200) {
		if (unusable(root, ask, why, sizeof(why))) {
			snprintf(detail, dsize, "HTTP 200, status 200: %s", why);
			out = PROVIDER_UNUSABLE;
			goto out;
		}
		extract(root, ask, facts);
		out = PROVIDER_OK;
	} else {
		long code = http_status != 200 ? http_status : (long)bstatus;

		ref = code >= 400 && code < 500;
	}
	snprintf(detail, dsize, "HTTP %ld, status %lld%s%s", http_status, (long long)bstatus,
		 text[0] ? ": " : "", text);
out:
	json_decref(root);
	if (refused)
		*refused = out == PROVIDER_TROUBLE && ref;
	return out;
}

enum provider_outcome criminalip_parse(long http_status, const char *body, size_t len,
				       struct cip_facts *facts)
{
	return criminalip_judge(NULL, http_status, body, len, facts, NULL, 0, NULL);
}

uint8_t criminalip_classify(const struct cip_facts *f)
{
	uint8_t mask = 0;

	if (f->flags & (CIP_IS_VPN | CIP_IS_ANONYMOUS_VPN | CIP_HAS_VPN_BLOCK | CIP_CAT_VPN))
		mask |= VERDICT_BIT(VERDICT_VPN);
	if (f->flags & CIP_OPENVPN_443)
		mask |= VERDICT_BIT(VERDICT_OPENVPN443);
	if (f->flags & (CIP_IS_HOSTING | CIP_IS_CLOUD | CIP_CAT_HOSTING))
		mask |= VERDICT_BIT(VERDICT_HOSTING);
	if (f->flags & (CIP_IS_TOR | CIP_CAT_TOR))
		mask |= VERDICT_BIT(VERDICT_TOR);
	if (f->flags & (CIP_IS_PROXY | CIP_CAT_PROXY))
		mask |= VERDICT_BIT(VERDICT_PROXY);
	if ((f->flags & (CIP_IS_SCANNER | CIP_CAT_SCANNER)) || f->score_in >= 4)
		mask |= VERDICT_BIT(VERDICT_SCANNER);
	return mask;
}

void criminalip_explain(const struct cip_facts *f, cip_explain_fn fn, void *arg)
{
	/* the issue flags, by the category they decide */
	static const struct { uint32_t flag; enum verdict_cat cat; } issue_of[] = {
		{ CIP_IS_VPN, VERDICT_VPN }, { CIP_IS_ANONYMOUS_VPN, VERDICT_VPN },
		{ CIP_IS_HOSTING, VERDICT_HOSTING }, { CIP_IS_CLOUD, VERDICT_HOSTING },
		{ CIP_IS_TOR, VERDICT_TOR }, { CIP_IS_PROXY, VERDICT_PROXY },
		{ CIP_IS_SCANNER, VERDICT_SCANNER },
	};
	const char *from = f->flags & CIP_FROM_TAGS ? "tags" : "issues";
	char text[192];
	unsigned cat;
	size_t i, b;

	for (cat = 0; cat < VERDICT_NCAT; cat++) {
		for (i = 0; i < sizeof(issue_of) / sizeof(issue_of[0]); i++) {
			if (issue_of[i].cat != cat || !(f->flags & issue_of[i].flag))
				continue;
			for (b = 0; !(issue_of[i].flag & (1u << b)); b++)
				;
			snprintf(text, sizeof(text), "%s.%s=true", from, cip_flag_names[b]);
			fn(arg, cat, text);
		}
		if (cat == VERDICT_VPN && (f->flags & CIP_HAS_VPN_BLOCK)) {
			snprintf(text, sizeof(text), "vpn block%s%s", f->vpn_name[0] ?
				 " vpn_name=" : "", f->vpn_name);
			fn(arg, cat, text);
		}
		if (cat == VERDICT_OPENVPN443 && (f->flags & CIP_OPENVPN_443)) {
			snprintf(text, sizeof(text), "port %s", f->evidence[0] ? f->evidence
				 : "tcp/443 names OpenVPN");
			fn(arg, cat, text);
		}
		if (cat == VERDICT_SCANNER && f->score_in >= 4 && f->score_in <= 5) {
			snprintf(text, sizeof(text), "score.inbound=%s",
				 cip_score_names[f->score_in - 1]);
			fn(arg, cat, text);
		}
		for (i = 0; i < CIP_NCAT; i++) {
			if (cip_cats[i].cat != cat || !(f->flags & cip_cats[i].flag))
				continue;
			snprintf(text, sizeof(text), "ip_category type=%s%s%s", cip_cats[i].type,
				 f->cat_time[i][0] ? " confirmed_time=" : "", f->cat_time[i]);
			fn(arg, cat, text);
		}
	}
}

static int set_str(json_t *o, const char *key, const char *s, size_t size)
{
	/* Built by this module, so printable ASCII; json_stringn checks anyway. */
	return s[0] && json_object_set_new(o, key, json_stringn(s, strnlen(s, size)));
}

int criminalip_facts_json(const struct cip_facts *f, char *buf, size_t size)
{
	json_t *o = json_object(), *flags = json_array(), *cats = json_object();
	size_t i, n = 0;
	int err = -ENOMEM;

	if (!o || !flags || !cats)
		goto out;
	for (i = 0; i < CIP_NFLAGS; i++)
		if (f->flags & (1u << i) && json_array_append_new(flags, json_string(cip_flag_names[i])))
			goto out;
	if (json_object_set_new(o, "v", json_integer(1)) ||
	    json_object_set(o, "flags", flags))
		goto out;
	if (f->score_in >= 1 && f->score_in <= 5 &&
	    json_object_set_new(o, "in", json_string(cip_score_names[f->score_in - 1])))
		goto out;
	if (f->score_out >= 1 && f->score_out <= 5 &&
	    json_object_set_new(o, "out", json_string(cip_score_names[f->score_out - 1])))
		goto out;
	if (set_str(o, "vpn", f->vpn_name, sizeof(f->vpn_name)) ||
	    set_str(o, "evidence", f->evidence, sizeof(f->evidence)))
		goto out;
	for (i = 0; i < CIP_NCAT; i++)
		if (set_str(cats, cip_cats[i].type, f->cat_time[i], sizeof(f->cat_time[i])))
			goto out;
	if (json_object_size(cats) && json_object_set(o, "category", cats))
		goto out;
	n = json_dumpb(o, NULL, 0, JSON_COMPACT);
	if (!n)
		goto out;
	err = -ENOSPC;
	if (!buf || n >= size)
		goto out;
	json_dumpb(o, buf, size, JSON_COMPACT);
	buf[n] = '\0';
	err = (int)n;
out:
	json_decref(cats);
	json_decref(flags);
	json_decref(o);
	return err;
}

static void get_str(const json_t *v, char *dst, size_t size)
{
	if (json_is_string(v))
		copy_clean(dst, size, json_string_value(v), json_string_length(v));
}

int criminalip_facts_from_json(const char *text, struct cip_facts *f)
{
	json_t *o, *flags, *v;
	json_error_t jerr;
	size_t i, j;
	int err = -EINVAL;

	memset(f, 0, sizeof(*f));
	if (!text)
		return -EINVAL;
	o = json_loads(text, 0, &jerr);
	v = json_object_get(o, "v");
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		goto out;
	flags = json_object_get(o, "flags");
	json_array_foreach(flags, i, v)
		for (j = 0; j < CIP_NFLAGS; j++)
			if (json_text_is(v, cip_flag_names[j]))
				f->flags |= 1u << j;
	f->score_in = score_of(json_object_get(o, "in"));
	f->score_out = score_of(json_object_get(o, "out"));
	get_str(json_object_get(o, "vpn"), f->vpn_name, sizeof(f->vpn_name));
	get_str(json_object_get(o, "evidence"), f->evidence, sizeof(f->evidence));
	v = json_object_get(o, "category");
	for (i = 0; i < CIP_NCAT; i++)
		get_str(json_object_get(v, cip_cats[i].type), f->cat_time[i],
			sizeof(f->cat_time[i]));
	err = 0;
out:
	json_decref(o);
	return err;
}

int criminalip_url(const char *base, const struct ipaddr *ip, char *buf, size_t size)
{
	char text[IPADDR_STRLEN];
	size_t blen;
	int n;

	if (!base || !ip || !buf)
		return -EINVAL;
	blen = strlen(base);
	while (blen && base[blen - 1] == '/')
		blen--;
	if (blen > CIP_MAX_BASE)
		return -ENOSPC;
	ipaddr_format(ip, text);
	n = snprintf(buf, size, "%.*s/v1/asset/ip/report?ip=%s&full=true", (int)blen, base, text);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}
