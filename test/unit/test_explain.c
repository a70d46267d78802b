/* test_explain.c - explain.c without a database (a fleet's PostgreSQL, or a sqlite file
 * the page cannot read): what it takes from memory alone, here the operator's
 * overrides as dns.c consults them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "override.h"
#include "tap.h"

static void put(struct override *o, const char *prefix, int kind, int cat, const char *why)
{
	char err[300];

	memset(o, 0, sizeof(*o));
	override_parse_prefix(prefix, &o->net, &o->len, err, sizeof(err));
	o->kind = kind;
	o->cat = cat;
	snprintf(o->reason, sizeof(o->reason), "%s", why);
}

static void explain(struct shared *sh, const char *text, struct explain *e)
{
	struct ipaddr ip;

	ipaddr_parse(&ip, text);
	ok(explain_ip(sh, NULL, &ip, e) == 0, "explain %s", text);
}

int main(void)
{
	struct override o[4];
	char dollars[OVERRIDE_REASON_MAX + 1];
	struct override_set *set = NULL;
	struct shared sh;
	struct explain *e = malloc(sizeof(*e));

	ok(e && shared_init(&sh) == 0, "set up");
	/* every '$' of a reason is doubled in the TXT template (override.c) */
	put(&o[0], "198.51.100.0/24", OVERRIDE_ADD, VERDICT_SCANNER, "sold for $5 ($$ twice, $)");
	put(&o[1], "198.51.101.0/24", OVERRIDE_ADD, VERDICT_TOR, "");
	put(&o[2], "192.0.2.0/24", OVERRIDE_ALLOW, -1, "our partner");
	memset(dollars, '$', OVERRIDE_REASON_MAX);
	dollars[OVERRIDE_REASON_MAX] = '\0';
	put(&o[3], "198.51.102.0/24", OVERRIDE_ADD, VERDICT_VPN, dollars);
	ok(override_set_build(o, 4, &set) == 0, "overrides compiled");
	sh.view.env.overrides = set;

	explain(&sh, "198.51.100.9", e);
	is_int(e->ovr_kind, OVERRIDE_ADD, "an add decides");
	is_int(e->ovr_cat, VERDICT_SCANNER, "its category");
	is_str(e->ovr_reason, "sold for $5 ($$ twice, $)", "the reason as the operator wrote it");
	is_str(e->ovr_prefix, "", "no prefix without the database");

	explain(&sh, "198.51.101.1", e);
	is_int(e->ovr_kind, OVERRIDE_ADD, "an add without a reason");
	is_str(e->ovr_reason, "", "no reason shown");

	explain(&sh, "198.51.102.1", e);
	is_str(e->ovr_reason, dollars, "the longest reason, all '$', whole");

	explain(&sh, "192.0.2.5", e);
	is_int(e->ovr_kind, OVERRIDE_ALLOW, "an allow decides");
	is_str(e->ovr_reason, "", "its reason is in the database only");

	explain(&sh, "203.0.113.1", e);
	is_int(e->ovr_kind, -1, "no override");

	override_set_free(set);
	shared_destroy(&sh);
	free(e);
	return done_testing();
}
