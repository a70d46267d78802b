/* feed_parse.c - the formats of the feeds (see feed_parse.h).
 *
 * Every format is first turned into the plain one (one prefix a line) and then read by
 * lists.c, so that the matching, the IPv4-in-IPv6 rules and the caps are the static
 * lists' own. The JSON formats and CSV only hand on strings made of address
 * characters: a field such as "1.2.3.4 :127.0.0.9:text" or "!1.2.3.4" is a bad entry,
 * not an rbldnsd value or exclusion slipped in through the feed. */
#include "feed_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

const char *const feed_format_names[FEED_NFORMATS + 1] = {
	"plain", "aws", "gcp", "oracle", "csv", NULL,
};

/* The plain text being made from a structured body. */
struct text {
	char *p;
	size_t len, cap;
	size_t entries, bad;
};

__attribute__((format(printf, 3, 4)))
static void set_why(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (!why || !n)
		return;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
}

/* An address or prefix as a feed may write it: digits, hex, '.', ':', '/'. */
static int prefix_chars(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		      (c >= 'A' && c <= 'F') || c == '.' || c == ':' || c == '/'))
			return 0;
	}
	return 1;
}

static int text_add(struct text *t, const char *s, size_t n)
{
	if (!prefix_chars(s, n)) {
		t->bad++;
		return 0;
	}
	if (t->len + n + 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		char *p;

		while (cap < t->len + n + 2)
			cap *= 2;
		p = realloc(t->p, cap);
		if (!p)
			return -ENOMEM;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len++] = '\n';
	t->entries++;
	return 0;
}

/* Add obj[key] (a string) when obj has it; *had says whether it had. */
static int json_field(struct text *t, const json_t *obj, const char *key, int *had)
{
	const json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	*had = 1;
	if (!json_is_string(v)) {
		t->bad++;
		return 0;
	}
	return text_add(t, json_string_value(v), json_string_length(v));
}

/* Every element of arr: an object with one of key1/key2 (key2 may be NULL). */
static int json_prefixes(struct text *t, const json_t *arr, const char *key1,
			 const char *key2)
{
	size_t i;
	json_t *e;
	int err;

	json_array_foreach(arr, i, e) {
		int had = 0;

		if (!json_is_object(e)) {
			t->bad++;
			continue;
		}
		if ((err = json_field(t, e, key1, &had)) < 0)
			return err;
		if (key2 && (err = json_field(t, e, key2, &had)) < 0)
			return err;
		if (!had)
			t->bad++;
	}
	return 0;
}

/* The array root[key]; NULL (with why) when it is missing or not an array. */
static const json_t *json_array_at(const json_t *root, const char *key, int required,
				   char *why, size_t whylen)
{
	const json_t *a = json_object_get(root, key);

	if (!a && !required)
		return NULL;
	if (!json_is_array(a)) {
		set_why(why, whylen, "no \"%s\" array: not this format", key);
		return NULL;
	}
	return a;
}

static int from_json(enum feed_format fmt, const char *body, size_t len, struct text *t,
		     char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	const json_t *a;
	int err = -EINVAL;

	if (!root) {
		set_why(why, whylen, "not JSON (%s, line %d)", jerr.text, jerr.line);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		set_why(why, whylen, "not a JSON object");
		goto out;
	}
	switch (fmt) {
	case FEED_AWS:
		/* ip-ranges.json: {"syncToken", "createDate", "prefixes": [{"ip_prefix",
		 * "region", "service", "network_border_group"}], "ipv6_prefixes": [...]} */
		if (!(a = json_array_at(root, "prefixes", 1, why, whylen)))
			goto out;
		if ((err = json_prefixes(t, a, "ip_prefix", NULL)) < 0)
			goto out;
		err = -EINVAL;
		a = json_object_get(root, "ipv6_prefixes");
		if (a && !json_is_array(a)) {
			set_why(why, whylen, "\"ipv6_prefixes\" is not an array");
			goto out;
		}
		if (a && (err = json_prefixes(t, a, "ipv6_prefix", NULL)) < 0)
			goto out;
		break;
	case FEED_GCP:
		/* cloud.json: {"syncToken", "creationTime", "prefixes": [{"ipv4Prefix" or
		 * "ipv6Prefix", "service", "scope"}]} */
		if (!(a = json_array_at(root, "prefixes", 1, why, whylen)))
			goto out;
		if ((err = json_prefixes(t, a, "ipv4Prefix", "ipv6Prefix")) < 0)
			goto out;
		break;
	case FEED_ORACLE: {
		/* public_ip_ranges.json: {"last_updated_timestamp", "regions": [{"region",
		 * "cidrs": [{"cidr", "tags": [...]}]}]} */
		size_t i;
		json_t *r;

		if (!(a = json_array_at(root, "regions", 1, why, whylen)))
			goto out;
		json_array_foreach(a, i, r) {
			const json_t *c = json_is_object(r) ? json_object_get(r, "cidrs") : NULL;

			if (!json_is_array(c)) {
				t->bad++;
				continue;
			}
			if ((err = json_prefixes(t, c, "cidr", NULL)) < 0)
				goto out;
		}
		break;
	}
	default:
		break;
	}
	err = 0;
out:
	json_decref(root);
	return err;
}

/* Field `column` (from 1) of a CSV line, unquoted: [*f, *f + *n). 0 when absent. */
static int csv_field(const char *s, size_t len, unsigned column, const char **f, size_t *n)
{
	const char *p = s, *end = s + len;
	unsigned col = 1;

	while (col < column) {
		const char *c = memchr(p, ',', (size_t)(end - p));

		if (!c)
			return 0;
		p = c + 1;
		col++;
	}
	{
		const char *c = memchr(p, ',', (size_t)(end - p));

		end = c ? c : end;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	if (end - p >= 2 && *p == '"' && end[-1] == '"') {
		p++;
		end--;
	}
	*f = p;
	*n = (size_t)(end - p);
	return 1;
}

static int from_csv(const char *body, size_t len, unsigned column, struct text *t)
{
	const char *p = body, *end = body + len;
	int first = 1;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *f;
		size_t fn;
		int err;

		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0 || *p == '#') {
			p = nl ? nl + 1 : end;
			continue;
		}
		if (!csv_field(p, n, column, &f, &fn)) {
			t->bad++;
		} else if (first && !prefix_chars(f, fn)) {
			/* a header line ("prefix,country,...") */
		} else if ((err = text_add(t, f, fn)) < 0) {
			return err;
		}
		first = 0;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

int feed_parse(enum feed_format fmt, unsigned column, const char *name, const char *body,
	       size_t len, size_t max_entries, lists_report_fn report, void *arg,
	       char *why, size_t whylen, struct lists **out)
{
	struct text t = { 0 };
	struct lists *l = NULL;
	const char *text = body;
	size_t tlen = len, entries, lines, skipped = 0;
	int err;

	*out = NULL;
	if (why && whylen)
		why[0] = '\0';
	if (!body || (unsigned)fmt >= FEED_NFORMATS || (fmt == FEED_CSV && column == 0)) {
		set_why(why, whylen, "bad arguments");
		return -EINVAL;
	}
	if (memchr(body, '\0', len)) {
		set_why(why, whylen, "a NUL byte in the body: not text");
		return -EINVAL;
	}
	if (fmt != FEED_PLAIN) {
		err = fmt == FEED_CSV ? from_csv(body, len, column, &t) :
					from_json(fmt, body, len, &t, why, whylen);
		if (err < 0)
			goto out;
		text = t.p ? t.p : "";
		tlen = t.len;
		if (max_entries && t.entries > max_entries) {
			set_why(why, whylen, "more than %zu entries (max-entries)", max_entries);
			err = -E2BIG;
			goto out;
		}
	}
	/* lists.c reports the first bad lines only; skipped counts them all. */
	err = lists_load_text(name, text, tlen, report, arg, &skipped, &l);
	if (err < 0) {
		set_why(why, whylen, "cannot build the list: %s", strerror(-err));
		goto out;
	}
	entries = lists_count(l);
	lines = entries + skipped + t.bad;
	if (max_entries && entries > max_entries) {
		set_why(why, whylen, "more than %zu entries (max-entries)", max_entries);
		err = -E2BIG;
		goto out;
	}
	if (entries == 0) {
		set_why(why, whylen, "no entries%s", skipped + t.bad ? " (every one bad)" : "");
		err = -EINVAL;
		goto out;
	}
	/* A few odd lines are the feed's business; many are a wrong body. */
	if ((skipped + t.bad) * 10 > lines) {
		set_why(why, whylen, "%zu of %zu entries bad: not this format",
			skipped + t.bad, lines);
		err = -EINVAL;
		goto out;
	}
	*out = l;
	l = NULL;
	err = 0;
out:
	lists_free(l);
	free(t.p);
	return err;
}
