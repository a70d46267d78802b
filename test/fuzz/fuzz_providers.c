/* fuzz_providers.c - libFuzzer harness for the AbuseIPDB and ipinfo answer judges.
 *
 * Input: byte 0 picks the service (even: AbuseIPDB, odd: ipinfo), byte 1 the HTTP
 * status (mostly 200), byte 2 AbuseIPDB's scanner-score; the rest is the body.
 * Invariants (abort() when broken): the outcome is a known one; the detail is a
 * NUL-terminated printable string; without PROVIDER_OK there are no categories and no
 * facts; categories are known bits; the facts are "" or a JSON object. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abuseipdb.h"
#include "fuzz_common.h"
#include "ipaddr.h"
#include "ipinfo.h"
#include "verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const long statuses[] = {
	200, 200, 200, 200, 200, 200, 200, 200, 401, 403, 404, 422, 429, 500, 502, 0,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct provider_verdict v;
	struct ipaddr ip;
	long status;
	json_t *j;

	if (size < 3)
		return 0;
	ipaddr_parse(&ip, "203.0.113.10");
	status = statuses[data[1] % (sizeof(statuses) / sizeof(statuses[0]))];
	/* poisoned: a judge that leaves a field unset is caught by the checks below */
	memset(&v, 0x55, sizeof(v));
	if (data[0] & 1)
		ipinfo_judge(&ip, 0, status, (const char *)data + 3, size - 3, &v);
	else
		abuseipdb_judge(&ip, data[2] % 101, status, (const char *)data + 3, size - 3, &v);
	if ((unsigned)v.outcome > PROVIDER_UNUSABLE)
		fuzz_die("unknown outcome");
	fuzz_check_text(v.detail, sizeof(v.detail), "detail");
	fuzz_check_text(v.facts, sizeof(v.facts), "facts");
	if (v.mask & ~VERDICT_ALL)
		fuzz_die("unknown category bits");
	if (v.outcome != PROVIDER_OK && (v.mask || v.facts[0]))
		fuzz_die("categories or facts without a verdict");
	if (v.facts[0]) {
		j = json_loads(v.facts, 0, NULL);
		if (!json_is_object(j))
			fuzz_die("facts are not a JSON object");
		json_decref(j);
	}
	return 0;
}
