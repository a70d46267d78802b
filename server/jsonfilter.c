/* jsonfilter.c - read a large JSON document, keeping only the members asked for.
 *
 * A recursive-descent reader over the whole text (RFC 8259, as strict as jansson's
 * json_loadb with JSON_ALLOW_NUL and one top-level value). One routine per kind of
 * value, each told whether to build what it reads: a skipped value is checked and
 * forgotten, so the memory a document costs is the kept part only. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonfilter.h"

enum { SKIP, KEEP, FILTER };

struct jf {
	const unsigned char *p, *end;
	unsigned depth;
	int nomem;
	char *buf;        /* the decoded string or number being read */
	size_t len, cap;
};

static int value(struct jf *j, int mode, const struct jsonf_rule *rules, json_t **out);

static void ws(struct jf *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int put(struct jf *j, const void *s, size_t n)
{
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 256;
		char *b;

		while (cap < j->len + n + 1)
			cap *= 2;
		b = realloc(j->buf, cap);
		if (!b) {
			j->nomem = 1;
			return -1;
		}
		j->buf = b;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
	return 0;
}

static int put_cp(struct jf *j, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return put(j, u, n);
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
	if (need >= n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need + 1;
}

static int hex4(struct jf *j, uint32_t *cp)
{
	int i;

	*cp = 0;
	if (j->end - j->p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		unsigned char c = *j->p++;

		*cp <<= 4;
		if (c >= '0' && c <= '9')
			*cp |= (uint32_t)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			*cp |= (uint32_t)((c | 0x20) - 'a' + 10);
		else
			return -1;
	}
	return 0;
}

/* A string at j->p (the opening quote); decoded into j->buf when build. */
static int string(struct jf *j, int build)
{
	static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
	const unsigned char *run;
	uint32_t cp, lo;

	j->len = 0;
	if (build && put(j, "", 0) < 0)
		return -1;
	j->p++;
	for (;;) {
		/* Copy plain bytes a run at a time. */
		run = j->p;
		while (j->p < j->end && *j->p != '"' && *j->p != '\\' && *j->p >= 0x20 &&
		       *j->p < 0x80)
			j->p++;
		if (build && j->p > run && put(j, run, (size_t)(j->p - run)) < 0)
			return -1;
		if (j->p >= j->end || *j->p < 0x20)
			return -1;
		if (*j->p == '"') {
			j->p++;
			return 0;
		}
		if (*j->p >= 0x80) {
			size_t n = utf8_len(j->p, (size_t)(j->end - j->p));

			if (build && (n ? put(j, j->p, n) : put(j, "?", 1)) < 0)
				return -1;
			j->p += n ? n : 1;
			continue;
		}
		/* a backslash */
		if (++j->p >= j->end)
			return -1;
		if (*j->p != 'u') {
			const char *e = memchr(esc_in, *j->p, sizeof(esc_in) - 1);

			if (!e)
				return -1;
			j->p++;
			if (build && put(j, &esc_out[e - esc_in], 1) < 0)
				return -1;
			continue;
		}
		j->p++;
		if (hex4(j, &cp) < 0)
			return -1;
		if (cp >= 0xd800 && cp <= 0xdbff && j->end - j->p >= 6 && j->p[0] == '\\' &&
		    j->p[1] == 'u') {
			const unsigned char *save = j->p;

			j->p += 2;
			if (hex4(j, &lo) < 0)
				return -1;
			if (lo >= 0xdc00 && lo <= 0xdfff)
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			else
				j->p = save; /* read again on its own */
		}
		if (cp >= 0xd800 && cp <= 0xdfff)
			cp = '?';
		if (build && put_cp(j, cp) < 0)
			return -1;
	}
}

static int digits(struct jf *j)
{
	const unsigned char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s ? 0 : -1;
}

static int number(struct jf *j, int build, json_t **out)
{
	const unsigned char *s = j->p;
	int integral = 1;
	char *endp;

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (digits(j) < 0)
		return -1;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		integral = 0;
		if (digits(j) < 0)
			return -1;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		integral = 0;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (digits(j) < 0)
			return -1;
	}
	if (!build)
		return 0;
	j->len = 0;
	if (put(j, s, (size_t)(j->p - s)) < 0)
		return -1;
	if (integral) {
		long long v;

		errno = 0;
		v = strtoll(j->buf, &endp, 10);
		if (!errno) {
			*out = json_integer((json_int_t)v);
			goto made;
		}
	}
	{
		double d = strtod(j->buf, &endp);

		/* jansson refuses the whole document for 1e999; one field is not worth it */
		*out = isfinite(d) ? json_real(d) : json_null();
	}
made:
	if (!*out) {
		j->nomem = 1;
		return -1;
	}
	return 0;
}

static int literal(struct jf *j, const char *word, json_t *(*make)(void), int build,
		   json_t **out)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return -1;
	j->p += n;
	if (build && !(*out = make())) {
		j->nomem = 1;
		return -1;
	}
	return 0;
}

static const struct jsonf_rule *rule_for(const struct jsonf_rule *rules, const char *key,
					 size_t len)
{
	for (; rules && rules->key; rules++)
		if (strlen(rules->key) == len && memcmp(rules->key, key, len) == 0)
			return rules;
	return NULL;
}

static int object(struct jf *j, int mode, const struct jsonf_rule *rules, json_t **out)
{
	json_t *o = NULL, *v;
	const struct jsonf_rule *r;
	char *key = NULL;
	int cmode;

	if (mode != SKIP && !(o = json_object()))
		goto nomem;
	j->p++;
	ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		goto done;
	}
	for (;;) {
		ws(j);
		if (j->p >= j->end || *j->p != '"' || string(j, mode != SKIP) < 0)
			goto fail;
		r = NULL;
		cmode = SKIP;
		if (mode == KEEP) {
			cmode = KEEP;
		} else if (mode == FILTER && (r = rule_for(rules, j->buf, j->len))) {
			cmode = r->sub ? FILTER : KEEP;
		}
		if (cmode != SKIP && !(key = strdup(j->buf)))
			goto nomem;
		ws(j);
		if (j->p >= j->end || *j->p++ != ':')
			goto fail;
		v = NULL;
		if (value(j, cmode, r ? r->sub : NULL, &v) < 0)
			goto fail;
		if (v && json_object_set_new(o, key, v) < 0)
			goto nomem;
		free(key);
		key = NULL;
		ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			break;
		}
		goto fail;
	}
done:
	*out = o;
	return 0;
nomem:
	j->nomem = 1;
fail:
	free(key);
	json_decref(o);
	return -1;
}

static int array(struct jf *j, int mode, const struct jsonf_rule *rules, json_t **out)
{
	json_t *a = NULL, *v;

	if (mode != SKIP && !(a = json_array()))
		goto nomem;
	j->p++;
	ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		goto done;
	}
	for (;;) {
		v = NULL;
		if (value(j, mode, rules, &v) < 0)
			goto fail;
		if (v && json_array_append_new(a, v) < 0)
			goto nomem;
		ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			break;
		}
		goto fail;
	}
done:
	*out = a;
	return 0;
nomem:
	j->nomem = 1;
fail:
	json_decref(a);
	return -1;
}

static int value(struct jf *j, int mode, const struct jsonf_rule *rules, json_t **out)
{
	int build = mode != SKIP, rc;

	*out = NULL;
	ws(j);
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '{':
	case '[':
		if (++j->depth > JSONF_MAX_DEPTH)
			return -1;
		rc = *j->p == '{' ? object(j, mode, rules, out) : array(j, mode, rules, out);
		j->depth--;
		return rc;
	case '"':
		if (string(j, build) < 0)
			return -1;
		if (build && !(*out = json_stringn(j->buf, j->len))) {
			j->nomem = 1;
			return -1;
		}
		return 0;
	case 't':
		return literal(j, "true", json_true, build, out);
	case 'f':
		return literal(j, "false", json_false, build, out);
	case 'n':
		return literal(j, "null", json_null, build, out);
	default:
		return number(j, build, out);
	}
}

json_t *jsonf_read(const char *text, size_t len, const struct jsonf_rule *rules, int *nomem)
{
	struct jf j = {
		.p = (const unsigned char *)text,
		.end = (const unsigned char *)text + len,
	};
	json_t *root = NULL;

	if (nomem)
		*nomem = 0;
	if (!text)
		return NULL;
	if (value(&j, rules ? FILTER : KEEP, rules, &root) == 0) {
		ws(&j);
		if (j.p != j.end) {
			json_decref(root);
			root = NULL;
		}
	}
	free(j.buf);
	if (nomem)
		*nomem = j.nomem;
	return root;
}
