/* counters.c - the names the counters go by (see counters.h). */
#include <stddef.h>

#include "counters.h"

static const char *const answer_names[CTR_NANSWER] = {
	"listed", "clean", "unknown", "static", "nodata", "refused", "other",
};

static const char *const cache_names[CTR_NCACHE] = { "hit", "miss", "stale" };

/* RFC 6895's registry; 11-15 are unassigned, 16 is the extended BADVERS. */
static const char *const rcode_names[17] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
	"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13",
	"RCODE14", "RCODE15", "BADVERS",
};

const char *counters_answer_name(unsigned kind)
{
	return kind < CTR_NANSWER ? answer_names[kind] : "?";
}

const char *counters_cache_name(unsigned result)
{
	return result < CTR_NCACHE ? cache_names[result] : "?";
}

const char *counters_rcode_name(unsigned rcode)
{
	return rcode < sizeof(rcode_names) / sizeof(rcode_names[0]) ? rcode_names[rcode] : NULL;
}
