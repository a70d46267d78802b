/* fuzz_criminalip.c - libFuzzer harness for the Criminal IP response parser.
 *
 * Input: byte 0 picks the HTTP status (mostly 200), the rest is the body. The body
 * goes through criminalip_judge() / criminalip_parse(), the facts through
 * criminalip_classify() and criminalip_facts_json(), and back through
 * criminalip_facts_from_json(); the body is also read by criminalip_facts_from_json()
 * itself, as a stored record would be. Invariants (abort() when broken): parse and
 * judge agree; the detail is a NUL-terminated printable string that fits its buffer;
 * a failed outcome leaves the facts zeroed; the facts' strings are terminated and
 * printable; categories are known bits; the facts' JSON is a JSON object of the
 * length returned, refused with -ENOSPC by a buffer one byte too small; and
 * facts_from_json(facts_json(f)) == f. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criminalip.h"
#include "fuzz_common.h"
#include "ipaddr.h"
#include "verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* In the dictionary too, so that the fuzzer finds echoes of it. */
#define FUZZ_KEY "FuzzKey0123456789abcdefXYZ"

static const long statuses[] = {
	200, 200, 200, 200, 200, 200, 200, 200, 400, 401, 403, 404, 429, 500, 502, 503,
	0, 199, 201, 301, 999, -1,
};

static int facts_equal(const struct cip_facts *a, const struct cip_facts *b)
{
	return a->flags == b->flags && a->score_in == b->score_in &&
	       a->score_out == b->score_out && strcmp(a->vpn_name, b->vpn_name) == 0 &&
	       strcmp(a->evidence, b->evidence) == 0 &&
	       memcmp(a->cat_time, b->cat_time, sizeof(a->cat_time)) == 0;
}

static void check_facts(const struct cip_facts *f)
{
	fuzz_check_text(f->vpn_name, sizeof(f->vpn_name), "vpn_name not printable or unterminated");
	fuzz_check_text(f->evidence, sizeof(f->evidence), "evidence not printable or unterminated");
	for (size_t i = 0; i < CIP_NCAT; i++)
		fuzz_check_text(f->cat_time[i], sizeof(f->cat_time[i]),
			   "category time not printable or unterminated");
	if (f->score_in > 5 || f->score_out > 5)
		fuzz_die("score out of scale");
	if (f->flags >> CIP_NFLAGS)
		fuzz_die("unknown flag bit");
	if (criminalip_classify(f) & ~VERDICT_ALL)
		fuzz_die("category outside VERDICT_ALL");
}

/* facts -> JSON -> facts must give the same facts. */
static void round_trip(const struct cip_facts *f)
{
	struct cip_facts back;
	json_error_t jerr;
	char buf[1024], *tight;
	json_t *o;
	int n;

	n = criminalip_facts_json(f, buf, sizeof(buf));
	if (n < 0)
		fuzz_die("facts_json failed with 1 KiB");
	if ((size_t)n != strlen(buf))
		fuzz_die("facts_json length differs from the string's");
	o = json_loads(buf, 0, &jerr);
	if (!json_is_object(o))
		fuzz_die("facts_json is not a JSON object");
	json_decref(o);

	/* Exact-size buffers: one byte short must be refused without a write past it. */
	tight = malloc((size_t)n);
	if (!tight)
		abort();
	if (criminalip_facts_json(f, tight, (size_t)n) != -ENOSPC)
		fuzz_die("facts_json accepted a buffer without room for the NUL");
	free(tight);
	tight = malloc((size_t)n + 1);
	if (!tight)
		abort();
	if (criminalip_facts_json(f, tight, (size_t)n + 1) != n || strcmp(tight, buf) != 0)
		fuzz_die("facts_json differs with an exact buffer");
	free(tight);

	if (criminalip_facts_from_json(buf, &back) != 0)
		fuzz_die("facts_from_json refused facts_json's output");
	if (!facts_equal(f, &back))
		fuzz_die("facts_from_json(facts_json(f)) != f");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cip_facts facts, again, zero, stored;
	struct ipaddr asked;
	struct cip_ask ask = { .ip = &asked, .key = FUZZ_KEY, .now = 1700000000,
			       .max_stale_s = 30 * 86400 };
	enum provider_outcome out, out2;
	char detail[128], *small, *text;
	const char *body;
	long status;
	size_t len;
	int refused = -1;

	if (size < 1)
		return 0;
	status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	body = (const char *)data + 1;
	len = size - 1;
	memset(&zero, 0, sizeof(zero));

	memset(detail, 0x55, sizeof(detail));
	memset(&facts, 0x55, sizeof(facts));
	out = criminalip_judge(NULL, status, body, len, &facts, detail, sizeof(detail), &refused);
	if ((unsigned)out > PROVIDER_UNUSABLE)
		fuzz_die("unknown outcome");
	if (refused != 0 && refused != 1)
		fuzz_die("refused not set");
	if (refused && out != PROVIDER_TROUBLE)
		fuzz_die("refused without PROVIDER_TROUBLE");
	fuzz_check_text(detail, sizeof(detail), "detail not printable or unterminated");
	if (!detail[0])
		fuzz_die("empty detail");

	memset(&again, 0xaa, sizeof(again));
	out2 = criminalip_parse(status, body, len, &again);
	if (out2 != out || !facts_equal(&facts, &again))
		fuzz_die("criminalip_parse and criminalip_judge disagree");

	/* A detail buffer of 7 bytes, exactly. */
	small = malloc(7);
	if (!small)
		abort();
	criminalip_judge(NULL, status, body, len, &again, small, 7, NULL);
	fuzz_check_text(small, 7, "short detail not printable or unterminated");
	free(small);

	/* With what a backend asks: the key never comes out, in any case. */
	if (ipaddr_parse(&asked, "188.214.106.93") < 0)
		abort();
	out2 = criminalip_judge(&ask, status, body, len, &again, detail, sizeof(detail), NULL);
	fuzz_check_text(detail, sizeof(detail), "detail (asked) not printable or unterminated");
	if (strcasestr(detail, FUZZ_KEY) || (out2 == PROVIDER_OK &&
	    (strcasestr(again.vpn_name, FUZZ_KEY) || strcasestr(again.evidence, FUZZ_KEY))))
		fuzz_die("the key came out");
	if (out2 == PROVIDER_OK)
		check_facts(&again);

	if (out != PROVIDER_OK) {
		if (memcmp(&facts, &zero, sizeof(facts)) != 0)
			fuzz_die("facts not zeroed after a failure");
	} else {
		check_facts(&facts);
		round_trip(&facts);
	}

	/* The body as a stored facts record. */
	text = malloc(len + 1);
	if (!text)
		abort();
	memcpy(text, body, len);
	text[len] = '\0';
	if (criminalip_facts_from_json(text, &stored) == 0) {
		check_facts(&stored);
		round_trip(&stored);
	} else if (memcmp(&stored, &zero, sizeof(stored)) != 0) {
		fuzz_die("facts_from_json failed but left facts");
	}
	free(text);
	return 0;
}
