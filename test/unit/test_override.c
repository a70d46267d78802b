/* test_override.c - override.c: prefixes, reasons, and the compiled set dns.c reads
 * (allow beats add whatever the lengths; within add the most specific wins). */
#include <string.h>

#include "override.h"
#include "tap.h"

static int parse(const char *text, struct override *o)
{
	char err[300];

	return override_parse_prefix(text, &o->net, &o->len, err, sizeof(err));
}

static void test_prefixes(void)
{
	struct override o;
	char text[OVERRIDE_PREFIX_STRLEN], err[300];

	is_int(parse("192.0.2.7", &o), 0, "an IPv4 address");
	override_format_prefix(&o.net, o.len, text);
	is_str(text, "192.0.2.7/32", "as a /32");
	is_int(parse("2001:db8::/32", &o), 0, "an IPv6 prefix");
	override_format_prefix(&o.net, o.len, text);
	is_str(text, "2001:db8::/32", "kept as written");
	is_int(parse("10.0.0.0/0", &o), -22, "host bits set: refused");
	is_int(override_parse_prefix("10.1.2.3/16", &o.net, &o.len, err, sizeof(err)), -22,
	       "host bits set");
	ok(strstr(err, "10.1.0.0/16") != NULL, "the message names the prefix meant: %s", err);
	{
		static const char *const bads[] = { "", "bogus", "1.2.3.4/33", "1.2.3.4/",
			"1.2.3.4/-1", "1.2.3.4/+8", "::/129", "1.2.3.4/8x", "1.2.3.4 ",
			"[::1]", NULL };

		for (size_t i = 0; bads[i]; i++)
			ok(parse(bads[i], &o) == -22, "refused: '%s'", bads[i]);
	}
	is_int(override_cat("tor"), VERDICT_TOR, "a category");
	is_int(override_cat("spam"), -1, "an unknown one");
	is_int(override_check_reason("fine: #42 ($)", err, sizeof(err)), 0, "a reason");
	is_int(override_check_reason("a\tb", err, sizeof(err)), -22, "a tab: refused");
	is_int(override_check_reason("caf\xc3\xa9", err, sizeof(err)), -22, "non-ASCII: refused");
	{
		char longr[OVERRIDE_REASON_MAX + 2];

		memset(longr, 'x', sizeof(longr) - 1);
		longr[sizeof(longr) - 1] = '\0';
		is_int(override_check_reason(longr, err, sizeof(err)), -22, "too long: refused");
		longr[OVERRIDE_REASON_MAX] = '\0';
		is_int(override_check_reason(longr, err, sizeof(err)), 0, "the longest accepted");
	}
}

static void test_set(void)
{
	struct override o[4];
	struct override_set *set = NULL;
	struct override ip;
	const char *txt;
	int cat;

	memset(o, 0, sizeof(o));
	parse("192.0.2.0/24", &o[0]);
	o[0].kind = OVERRIDE_ADD;
	o[0].cat = VERDICT_SCANNER;
	strcpy(o[0].reason, "costs $5");
	parse("192.0.2.128/25", &o[1]);
	o[1].kind = OVERRIDE_ADD;
	o[1].cat = VERDICT_TOR;
	parse("192.0.2.0/23", &o[2]);
	o[2].kind = OVERRIDE_ALLOW;
	parse("2001:db8::1", &o[3]);
	o[3].kind = OVERRIDE_ADD;
	o[3].cat = VERDICT_VPN;

	is_int(override_set_build(o, 0, &set), 0, "nothing to build");
	ok(set == NULL, "no set: dns.c tests a NULL pointer only");
	is_int(override_lookup(NULL, &o[0].net, &cat, &txt), -1, "a NULL set decides nothing");

	is_int(override_set_build(o, 2, &set), 0, "two adds");
	parse("192.0.2.9", &ip);
	is_int(override_lookup(set, &ip.net, &cat, &txt), OVERRIDE_ADD, "in the /24");
	ok(cat == VERDICT_SCANNER && strcmp(txt, "costs $$5") == 0,
	   "its category, the reason with '$' doubled for the template: %s", txt);
	parse("192.0.2.200", &ip);
	is_int(override_lookup(set, &ip.net, &cat, &txt), OVERRIDE_ADD, "in the /25");
	ok(cat == VERDICT_TOR && *txt == '\0', "the more specific add, no reason");
	parse("192.0.3.1", &ip);
	is_int(override_lookup(set, &ip.net, &cat, &txt), -1, "outside");
	override_set_free(set);

	is_int(override_set_build(o, 4, &set), 0, "with an allow around them");
	parse("192.0.2.200", &ip);
	is_int(override_lookup(set, &ip.net, &cat, &txt), OVERRIDE_ALLOW,
	       "allow beats a more specific add");
	parse("2001:db8::1", &ip);
	is_int(override_lookup(set, &ip.net, &cat, &txt), OVERRIDE_ADD, "IPv6");
	parse("2001:db8::2", &ip);
	is_int(override_lookup(set, &ip.net, &cat, &txt), -1, "IPv6 outside");
	is_int((long long)set->n, 4, "four compiled");
	override_set_free(set);
}

int main(void)
{
	test_prefixes();
	test_set();
	return done_testing();
}
