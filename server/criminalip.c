/* criminalip.c - the Criminal IP asset report: request, response, classification.
 *
 * The parser is written for a service whose documents are large, change over time and
 * carry placeholders ("N/A", "Unknown", "", null) and scan histories (CRIMINALIP.md):
 * every field is looked at on its own, a field of the wrong type is ignored, and only a
 * response that is not a JSON object at all, or an error answer, is a failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "criminalip.h"
#include "ipaddr.h"
#include "verdict.h"

/* Flag names, by bit: "issues" keys first, then what the parser derives. */
static const char *const cip_flag_names[] = {
	"is_vpn", "is_cloud", "is_tor", "is_proxy", "is_hosting", "is_mobile",
	"is_darkweb", "is_scanner", "is_snort", "is_anonymous_vpn",
	"has_vpn_block", "openvpn_443",
};
#define CIP_NFLAGS (sizeof(cip_flag_names) / sizeof(cip_flag_names[0]))
#define CIP_NISSUES 10

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

/* 1-5 for a score given as a name or an integer, else 0. */
static uint8_t score_of(const json_t *v)
{
	size_t i;

	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		return n >= 1 && n <= 5 ? (uint8_t)n : 0;
	}
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

/* A confirmed_time that sorts as text: "YYYY-MM-DD HH:MM:SS". */
static const char *time_of(const json_t *item)
{
	static const char shape[] = "dddd-dd-dd dd:dd:dd";
	const json_t *v = json_object_get(item, "confirmed_time");
	const char *s;
	size_t i;

	if (!json_is_string(v) || json_string_length(v) != sizeof(shape) - 1)
		return NULL;
	s = json_string_value(v);
	for (i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
			return NULL;
	return s;
}

/* Whether field of item names OpenVPN; writes the evidence if so. */
static int names_openvpn(const json_t *item, const char *field, const char *when,
			 struct cip_facts *f)
{
	static const char *const marks[] = { "openvpn", "p_control_hard_reset_server" };
	const json_t *v = json_object_get(item, field);
	char shown[48];
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
		snprintf(f->evidence, sizeof(f->evidence), "tcp/443 %s=%s%s%s", field, shown,
			 when ? " " : "", when ? when : "");
		return 1;
	}
	return 0;
}

/* The port list is a scan history: judge tcp/443 by its newest entry. */
static void port_443(const json_t *root, struct cip_facts *f)
{
	static const char *const fields[] = { "app_name", "protocol", "banner" };
	const json_t *data = data_of(root, "port");
	const json_t *item, *best = NULL;
	const char *best_time = NULL;
	size_t i;

	if (!data)
		return;
	json_array_foreach(data, i, item) {
		const json_t *no = json_object_get(item, "open_port_no");
		const char *t;

		if (!json_is_integer(no) || json_integer_value(no) != 443 ||
		    !json_text_is(json_object_get(item, "socket"), "tcp"))
			continue;
		t = time_of(item);
		if (!best || (t && (!best_time || strcmp(t, best_time) > 0))) {
			best = item;
			best_time = t;
		}
	}
	if (!best || !json_text_is(json_object_get(best, "port_status"), "open"))
		return;
	for (i = 0; i < 3; i++) {
		if (names_openvpn(best, fields[i], best_time, f)) {
			f->flags |= CIP_OPENVPN_443;
			return;
		}
	}
}

static void extract(const json_t *root, struct cip_facts *f)
{
	const json_t *issues = json_object_get(root, "issues");
	const json_t *score = json_object_get(root, "score");
	size_t i;

	if (json_is_object(issues))
		for (i = 0; i < CIP_NISSUES; i++)
			if (json_is_true(json_object_get(issues, cip_flag_names[i])))
				f->flags |= 1u << i;
	if (json_is_object(score)) {
		f->score_in = score_of(json_object_get(score, "inbound"));
		f->score_out = score_of(json_object_get(score, "outbound"));
	}
	vpn_blocks(root, f);
	port_443(root, f);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 1;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 2;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 3;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (need >= n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need + 1;
}

/* jansson refuses a whole document for one byte that is not UTF-8 (a banner copied
 * raw): such bytes become '?' and the document is read again. own: NULL, or body itself
 * when it is ours to change (the thread-pool job's copy): then it is mended in place
 * rather than copied once more. */
static json_t *load(const char *body, size_t len, char *own)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
	unsigned char *copy;
	size_t i, n;

	if (root || json_error_code(&jerr) != json_error_invalid_utf8)
		return root;
	copy = own ? (unsigned char *)own : malloc(len);
	if (!copy)
		return NULL;
	if (!own)
		memcpy(copy, body, len);
	for (i = 0; i < len; i += n) {
		n = utf8_len(copy + i, len - i);
		if (!n) {
			copy[i] = '?';
			n = 1;
		}
	}
	root = json_loadb((const char *)copy, len, JSON_ALLOW_NUL, &jerr);
	if (!own)
		free(copy);
	return root;
}

static const struct {
	const char *message;
	enum provider_outcome outcome;
} cip_errors[] = {
	{ "invalid api key", PROVIDER_BAD_KEY },
	{ "limit exceeded", PROVIDER_LIMIT },
	{ "unable to call api at the same time", PROVIDER_BUSY },
	{ "invalid ip address.", PROVIDER_INVALID_IP },
};

static enum provider_outcome judge(long http_status, const char *body, size_t len, char *own,
				   struct cip_facts *facts, char *detail, size_t dsize, int *refused)
{
	enum provider_outcome out = PROVIDER_TROUBLE;
	json_t *root = NULL, *msg, *st;
	json_int_t bstatus = -1;
	char text[64] = "", unused[1];
	size_t i;
	int ref = 0;

	if (!detail || !dsize) {
		detail = unused;
		dsize = sizeof(unused);
	}
	memset(facts, 0, sizeof(*facts));
	if (body && len)
		root = load(body, len, own);
	if (!json_is_object(root)) {
		if (http_status == 401)
			out = PROVIDER_BAD_KEY;
		snprintf(detail, dsize, "HTTP %ld, %s", http_status,
			 !len ? "empty body" : root ? "not a JSON object" : "malformed JSON");
		goto out;
	}
	st = json_object_get(root, "status");
	if (json_is_integer(st))
		bstatus = json_integer_value(st);
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
		copy_clean(text, sizeof(text), json_string_value(msg), json_string_length(msg));
	}
	if (http_status == 401 || bstatus == 401) {
		out = PROVIDER_BAD_KEY;
	} else if (http_status == 200 && bstatus == 200) {
		extract(root, facts);
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

enum provider_outcome criminalip_judge(long http_status, const char *body, size_t len,
				       struct cip_facts *facts, char *detail, size_t dsize,
				       int *refused)
{
	return judge(http_status, body, len, NULL, facts, detail, dsize, refused);
}

enum provider_outcome criminalip_judge_owned(long http_status, char *body, size_t len,
					     struct cip_facts *facts, char *detail, size_t dsize,
					     int *refused)
{
	return judge(http_status, body, len, body, facts, detail, dsize, refused);
}

enum provider_outcome criminalip_parse(long http_status, const char *body, size_t len,
				       struct cip_facts *facts)
{
	return criminalip_judge(http_status, body, len, facts, NULL, 0, NULL);
}

uint8_t criminalip_classify(const struct cip_facts *f)
{
	uint8_t mask = 0;

	if (f->flags & (CIP_IS_VPN | CIP_IS_ANONYMOUS_VPN | CIP_HAS_VPN_BLOCK))
		mask |= VERDICT_BIT(VERDICT_VPN);
	if (f->flags & CIP_OPENVPN_443)
		mask |= VERDICT_BIT(VERDICT_OPENVPN443);
	if (f->flags & (CIP_IS_HOSTING | CIP_IS_CLOUD))
		mask |= VERDICT_BIT(VERDICT_HOSTING);
	if (f->flags & CIP_IS_TOR)
		mask |= VERDICT_BIT(VERDICT_TOR);
	if (f->flags & CIP_IS_PROXY)
		mask |= VERDICT_BIT(VERDICT_PROXY);
	if ((f->flags & CIP_IS_SCANNER) || f->score_in >= 4)
		mask |= VERDICT_BIT(VERDICT_SCANNER);
	return mask;
}

int criminalip_facts_json(const struct cip_facts *f, char *buf, size_t size)
{
	json_t *o = json_object(), *flags = json_array();
	size_t i, n = 0;
	int err = -ENOMEM;

	if (!o || !flags)
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
	/* Built by this module, so printable ASCII; json_stringn checks anyway. */
	if (f->vpn_name[0] &&
	    json_object_set_new(o, "vpn", json_stringn(f->vpn_name, strnlen(f->vpn_name,
						sizeof(f->vpn_name)))))
		goto out;
	if (f->evidence[0] &&
	    json_object_set_new(o, "evidence", json_stringn(f->evidence, strnlen(f->evidence,
						sizeof(f->evidence)))))
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
	json_decref(flags);
	json_decref(o);
	return err;
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
	v = json_object_get(o, "vpn");
	if (json_is_string(v))
		copy_clean(f->vpn_name, sizeof(f->vpn_name), json_string_value(v),
			   json_string_length(v));
	v = json_object_get(o, "evidence");
	if (json_is_string(v))
		copy_clean(f->evidence, sizeof(f->evidence), json_string_value(v),
			   json_string_length(v));
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
