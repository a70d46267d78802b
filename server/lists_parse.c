/* lists_parse.c - the line syntax of the static lists: rbldnsd's ip4set, ip4trie and
 * ip6trie entries, values and default lines. Each step returns where it stopped, or
 * NULL with p->why saying what was wrong, so that a line is reported once. */
#include "lists_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4)))
static void say(struct lists_parse *p, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!p->say)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->say(p->arg, level, msg);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int is_comment(char c)
{
	return c == '#' || c == ';';
}

static char *skip_space(char *s)
{
	while (is_space(*s))
		s++;
	return s;
}

/* A short printable copy of the text where parsing failed, for messages. */
static const char *excerpt(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; i + 1 < size && s[i] && !is_space(s[i]); i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* One decimal octet 0-255; leading zeros are read as decimal, as rbldnsd does. */
static char *octet(struct lists_parse *p, char *s, uint32_t *out)
{
	char *begin = s;
	uint32_t n = 0;

	if (*s < '0' || *s > '9')
		return NULL;
	while (*s >= '0' && *s <= '9') {
		n = n * 10 + (uint32_t)(*s++ - '0');
		if (n > 255)
			return NULL;
	}
	if (*begin == '0' && s - begin > 1)
		p->saw_zero = 1;
	*out = n;
	return s;
}

/* rbldnsd's IPv4 prefix: 1 to 4 octets, left-aligned into *addr. */
static char *prefix4(struct lists_parse *p, char *s, uint32_t *addr, unsigned *noct)
{
	uint32_t o;

	*addr = 0;
	for (*noct = 0; *noct < 4; ) {
		if (*noct && *s != '.')
			break;
		if (*noct)
			s++;
		s = octet(p, s, &o);
		if (!s)
			return NULL;
		*addr |= o << (24 - 8 * *noct);
		++*noct;
	}
	return s;
}

static uint32_t mask4(unsigned bits)
{
	return bits ? ~0u << (32 - bits) : 0;
}

/* Prefix length digits after '/'. */
static char *prefix_len(struct lists_parse *p, char *s, unsigned max, unsigned *bits)
{
	unsigned n = 0;

	if (*s < '0' || *s > '9') {
		p->why = "missing prefix length";
		return NULL;
	}
	while (*s >= '0' && *s <= '9') {
		n = n * 10 + (unsigned)(*s++ - '0');
		if (n > max) {
			p->why = max == 32 ? "prefix length over 32" : "prefix length over 128";
			return NULL;
		}
	}
	*bits = n;
	return s;
}

/* An IPv4 entry: prefix, CIDR or range, into [*lo, *hi]; *bits = -1 for a range. */
static char *entry4(struct lists_parse *p, char *s, uint32_t *lo, uint32_t *hi, int *bits)
{
	uint32_t a, b;
	unsigned na, nb, n;

	p->why = "invalid address";
	s = prefix4(p, s, &a, &na);
	if (!s)
		return NULL;
	if (*s == '-') {
		p->why = "invalid range";
		s = prefix4(p, s + 1, &b, &nb);
		if (!s)
			return NULL;
		if (nb == 1 && na > 1) /* 1.2.3.4-40: the last octet given */
			b = (a & mask4(8 * (na - 1))) | b >> (8 * (na - 1));
		else if (nb != na)
			return NULL;
		b |= ~mask4(8 * na);
		if (a > b) {
			p->why = "range ends before it starts";
			return NULL;
		}
		*lo = a;
		*hi = b;
		*bits = -1;
		return s;
	}
	n = 8 * na;
	if (*s == '/') {
		s = prefix_len(p, s + 1, 32, &n);
		if (!s)
			return NULL;
	}
	*lo = a;
	*hi = a | ~mask4(n);
	*bits = (int)n;
	return s;
}

/* An IPv6 entry when the run of address characters holds a ':' and inet_pton takes
 * it (in an IPv4 entry ':' starts the value). Returns the end of the entry, s when
 * it is not IPv6, NULL for a bad prefix length. */
static char *entry6(struct lists_parse *p, char *s, uint8_t net[16], unsigned *len)
{
	char tmp[46], *q = s;

	while (isxdigit((unsigned char)*q) || *q == ':' || *q == '.')
		q++;
	if (!memchr(s, ':', (size_t)(q - s)) || (size_t)(q - s) >= sizeof(tmp))
		return s;
	memcpy(tmp, s, (size_t)(q - s));
	tmp[q - s] = '\0';
	if (inet_pton(AF_INET6, tmp, net) != 1)
		return s;
	*len = 128;
	if (*q == '/')
		q = prefix_len(p, q + 1, 128, len);
	return q;
}

/* Clear the host bits of net/len; whether any was set. */
static int mask6(uint8_t net[16], unsigned len)
{
	int host = 0;
	unsigned i;

	for (i = 0; i < 16; i++) {
		uint8_t m = len >= 8 * (i + 1) ? 0xff : len <= 8 * i ? 0 :
			    (uint8_t)(0xff << (8 - (len - 8 * i)));

		host |= net[i] & ~m;
		net[i] &= m;
	}
	return host != 0;
}

/* rbldnsd's value rules: ":A:TEXT", ":A" (the default's TEXT), or TEXT (the default's
 * A). A is a dotted quad or N meaning 127.0.0.N. Returns 0, or -1 after reporting
 * the problem. */
static int parse_value(struct lists_parse *p, char *s, struct lists_parse_value *val)
{
	const char *txt = s;
	char ex[32];
	uint32_t v;
	unsigned n;

	val->has_a = 0;
	if (*s == ':') {
		char *t = prefix4(p, s + 1, &v, &n);

		if (t && n == 1 && v)
			v = 0x7f000000u | v >> 24; /* N = 127.0.0.N; 0 stays invalid */
		if (!t || (n != 1 && n != 4) || !v || (*t && *t != ':' && !is_space(*t))) {
			say(p, 0, "invalid A value \"%s\"", excerpt(s + 1, ex, sizeof(ex)));
			return -1;
		}
		val->has_a = 1;
		val->a[0] = v >> 24;
		val->a[1] = v >> 16;
		val->a[2] = v >> 8;
		val->a[3] = v;
		t = skip_space(t);
		if (*t == ':') {
			txt = skip_space(t + 1);
		} else if (*t && !is_comment(*t)) {
			say(p, 0, "unexpected text after the A value: \"%s\"",
			    excerpt(t, ex, sizeof(ex)));
			return -1;
		} else {
			txt = NULL; /* the default's, never longer than the maximum */
		}
	}
	val->txt = txt;
	val->txtlen = 0;
	if (txt) {
		val->txtlen = strlen(txt);
		if (val->txtlen > LISTS_PARSE_TXT_MAX) {
			say(p, 1, "TXT template truncated to %d bytes", LISTS_PARSE_TXT_MAX);
			val->txtlen = LISTS_PARSE_TXT_MAX;
		}
	}
	return 0;
}

void lists_parse_file(struct lists_parse *p)
{
	p->saw_zero = p->zero_warned = 0;
}

enum lists_parse_kind lists_parse_line(struct lists_parse *p, char *s,
				       struct lists_parse_entry *e)
{
	char ex[48], *q, *end;
	int host;

	p->saw_zero = 0;
	s = skip_space(s);
	end = s + strlen(s);
	while (end > s && is_space(end[-1]))
		*--end = '\0';
	memset(e, 0, sizeof(*e));
	if (!*s || is_comment(*s))
		return LISTS_PARSE_NOTHING;
	if (*s == '$' || (s[0] == ':' && s[1] == '$')) {
		say(p, 1, "directive \"%s\" ignored", excerpt(s, ex, 24));
		return LISTS_PARSE_NOTHING;
	}
	if (s[0] == ':' && s[1] != ':') { /* "::1" is an address */
		if (parse_value(p, s, &e->val) < 0)
			return LISTS_PARSE_NOTHING;
		e->has_val = 1;
		return LISTS_PARSE_DEFAULT;
	}
	if (*s == '!') {
		e->excl = 1;
		s = skip_space(s + 1);
	}
	q = entry6(p, s, e->net, &e->len);
	e->v6 = q != s;
	if (!e->v6)
		q = entry4(p, s, &e->lo, &e->hi, &e->bits);
	if (q && *q && !is_space(*q) && !is_comment(*q) && *q != ':') {
		p->why = "invalid address";
		q = NULL;
	}
	if (!q) {
		say(p, 0, "%s: \"%s\"", p->why, excerpt(s, ex, 40));
		return LISTS_PARSE_NOTHING;
	}
	if (p->saw_zero && !p->zero_warned) {
		say(p, 1, "leading zeros read as decimal (\"010\" = 10); "
			  "not reported again for this file");
		p->zero_warned = 1;
	}
	host = 0;
	if (e->v6) {
		host = mask6(e->net, e->len);
	} else if (e->bits >= 0) {
		host = (e->lo & ~mask4((unsigned)e->bits)) != 0;
		e->lo &= mask4((unsigned)e->bits);
	}
	if (host)
		say(p, 1, "host bits set in \"%s\", masked", excerpt(s, ex, 48));
	q = skip_space(q);
	if (!e->excl && *q && !is_comment(*q)) {
		if (parse_value(p, q, &e->val) < 0)
			return LISTS_PARSE_NOTHING;
		e->has_val = 1;
	}
	return LISTS_PARSE_ENTRY;
}
