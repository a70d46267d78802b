/* override.c - the operator's overrides (see override.h). */
#include "override.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int override_parse_prefix(const char *text, struct ipaddr *net, unsigned *len, char *err,
			  size_t errlen)
{
	char buf[OVERRIDE_PREFIX_STRLEN + 1], *slash, *end;
	struct ipaddr ip, masked;
	unsigned long bits;
	unsigned max;

	if (!text || strlen(text) >= sizeof(buf)) {
		snprintf(err, errlen, "not an IP address or CIDR prefix: %.60s", text ? text : "");
		return -EINVAL;
	}
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (ipaddr_parse(&ip, buf) < 0) {
		snprintf(err, errlen, "not an IP address or CIDR prefix: %s", text);
		return -EINVAL;
	}
	max = ipaddr_is_v4(&ip) ? 32 : 128;
	bits = max;
	if (slash) {
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || slash[1] == '+' || slash[1] == '-' || bits > max) {
			snprintf(err, errlen, "bad prefix length in %s (0 to %u)", text, max);
			return -EINVAL;
		}
	}
	*len = (unsigned)bits + (max == 32 ? 96 : 0);
	ipaddr_mask(&ip, *len, &masked);
	if (memcmp(masked.b, ip.b, sizeof(ip.b)) != 0) {
		char m[IPADDR_STRLEN];

		ipaddr_format(&masked, m);
		snprintf(err, errlen, "%s has host bits set (did you mean %s/%lu?)", text, m,
			 bits);
		return -EINVAL;
	}
	*net = masked;
	return 0;
}

unsigned override_display_len(const struct ipaddr *net, unsigned len)
{
	return ipaddr_is_v4(net) && len >= 96 ? len - 96 : len;
}

void override_format_prefix(const struct ipaddr *net, unsigned len, char *buf)
{
	size_t n = ipaddr_format(net, buf);

	snprintf(buf + n, OVERRIDE_PREFIX_STRLEN - n, "/%u", override_display_len(net, len));
}

int override_covers(const struct ipaddr *net, unsigned len, const struct ipaddr *ip)
{
	struct ipaddr m;

	ipaddr_mask(ip, len, &m);
	return memcmp(m.b, net->b, sizeof(m.b)) == 0;
}

int override_check_reason(const char *reason, char *err, size_t errlen)
{
	size_t n = strlen(reason);

	if (n > OVERRIDE_REASON_MAX) {
		snprintf(err, errlen, "reason too long: %zu bytes (at most %d)", n,
			 OVERRIDE_REASON_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)reason[i];

		if (c < 0x20 || c > 0x7e) {
			snprintf(err, errlen, "reason holds a control or non-ASCII character "
				 "(byte %zu): printable ASCII only", i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

int override_cat(const char *name)
{
	for (int c = 0; c < VERDICT_NCAT; c++)
		if (strcmp(name, verdict_cat_name((enum verdict_cat)c)) == 0)
			return c;
	return -1;
}

/* The reason as a TXT template: '$' doubled, so that it is printed as written. */
static char *txt_template(const char *reason)
{
	size_t n = 0;
	char *t, *p;

	for (const char *r = reason; *r; r++)
		n += *r == '$' ? 2 : 1;
	if (!(t = p = malloc(n + 1)))
		return NULL;
	for (const char *r = reason; *r; r++) {
		*p++ = *r;
		if (*r == '$')
			*p++ = '$';
	}
	*p = '\0';
	return t;
}

int override_set_build(const struct override *o, size_t n, struct override_set **out)
{
	struct lists_entry *allow = NULL, *add = NULL;
	struct override_set *set = NULL;
	size_t na = 0, nd = 0;
	int err = -ENOMEM;

	*out = NULL;
	if (!n)
		return 0;
	if (!(set = calloc(1, sizeof(*set))) || !(allow = calloc(n, sizeof(*allow))) ||
	    !(add = calloc(n, sizeof(*add))))
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct lists_entry *e = o[i].kind == OVERRIDE_ALLOW ? &allow[na++] : &add[nd++];

		e->net = o[i].net;
		e->len = o[i].len;
		e->excl = o[i].kind == OVERRIDE_ALLOW;
		if (!e->excl) {
			e->a[0] = 127;
			e->a[3] = (uint8_t)o[i].cat;
			if (!(e->txt = txt_template(o[i].reason)))
				goto out;
		}
	}
	if ((na && (err = lists_build(allow, na, &set->allow)) < 0) ||
	    (nd && (err = lists_build(add, nd, &set->add)) < 0))
		goto out;
	set->n = n;
	*out = set;
	set = NULL;
	err = 0;
out:
	for (size_t i = 0; add && i < nd; i++)
		free((char *)add[i].txt);
	free(allow);
	free(add);
	override_set_free(set);
	return err;
}

void override_set_free(struct override_set *s)
{
	if (!s)
		return;
	lists_free(s->allow);
	lists_free(s->add);
	free(s);
}

int override_lookup(const struct override_set *set, const struct ipaddr *ip, int *cat,
		    const char **txt)
{
	const struct lists_value *val;

	if (!set)
		return -1;
	if (lists_match(set->allow, ip, NULL) == LISTS_EXCLUDED)
		return OVERRIDE_ALLOW;
	if (lists_match(set->add, ip, &val) == LISTS_LISTED) {
		if (cat)
			*cat = val->a[3];
		if (txt)
			*txt = val->txt ? val->txt : "";
		return OVERRIDE_ADD;
	}
	return -1;
}
