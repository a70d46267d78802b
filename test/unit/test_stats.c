/* test_stats.c - one stats line (stats_format) and its way back into JSON
 * (tools/ctlcmd.c): escaping, numbers, the JSON shape of doc/operations.md#counters. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlcmd.h"
#include "stats.h"
#include "tap.h"

static const struct stats_family fam = { "threatbl_x_total", STATS_COUNTER, "x" };

static void test_format(void)
{
	struct stats_label l[2] = { { "kind", "a\"b\\c\nd" }, { "rcode", "NOERROR" } };
	struct stats_sample s = { .fam = &fam, .suffix = "", .labels = l, .nlabels = 2,
				  .u = 18446744073709551615ull };
	char buf[256], small[8];
	int n;

	n = stats_format(&s, buf, sizeof(buf));
	is_str(buf, "threatbl_x_total{kind=\"a\\\"b\\\\c\\nd\",rcode=\"NOERROR\"} "
	       "18446744073709551615", "labels escaped, integer in decimal");
	is_int(n, strlen(buf), "length returned");
	s.nlabels = 0;
	s.suffix = "_sum";
	s.is_float = 1;
	s.d = 0.25;
	stats_format(&s, buf, sizeof(buf));
	is_str(buf, "threatbl_x_total_sum 0.25", "suffix and double");
	n = stats_format(&s, small, sizeof(small));
	ok(n == (int)strlen("threatbl_x_total_sum 0.25") && strlen(small) == 7,
	   "cut to the buffer, full length returned");
}

static json_t *to_json(const char *text, int *rc)
{
	char err[256], *out = NULL;
	size_t outlen = 0;
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	FILE *o = open_memstream(&out, &outlen);
	json_t *j = NULL;

	*rc = ctlcmd_stats_json(in, o, err, sizeof(err));
	fclose(in);
	fclose(o);
	if (*rc == 0)
		j = json_loads(out, 0, NULL);
	free(out);
	return j;
}

static void test_json(void)
{
	int rc;
	json_t *j = to_json("threatbl_verdicts 12\n"
			    "threatbl_x_total{kind=\"a\\\"b\\\\c\\nd\"} 3\n"
			    "threatbl_x_total{kind=\"y\"} 4\n"
			    "threatbl_lookup_seconds_sum 1.5\n", &rc);
	json_t *arr;

	ok(rc == 0 && j, "stats lines to JSON");
	if (!j)
		return;
	is_int(json_integer_value(json_object_get(j, "threatbl_verdicts")), 12,
	       "a name without labels: its value");
	arr = json_object_get(j, "threatbl_x_total");
	ok(json_is_array(arr) && json_array_size(arr) == 2, "labelled: an array");
	is_str(json_string_value(json_object_get(json_object_get(json_array_get(arr, 0),
								  "labels"), "kind")),
	       "a\"b\\c\nd", "label value unescaped");
	is_int(json_integer_value(json_object_get(json_array_get(arr, 1), "value")), 4,
	       "second sample's value");
	ok(json_real_value(json_object_get(j, "threatbl_lookup_seconds_sum")) == 1.5,
	   "a double");
	json_decref(j);
	for (const char *bad = "threatbl_x{kind=\"open} 1\n\0"
			       "threatbl_x{kind=y} 1\n\0"
			       "threatbl_x 1 2\n\0"
			       "threatbl_x\n\0"
			       "threatbl_x 1\nthreatbl_x 2\n\0"
			       "threatbl_x{k=\"\\q\"} 1\n\0";
	     *bad; bad += strlen(bad) + 1) {
		j = to_json(bad, &rc);
		ok(rc == -22 && !j, "refused: %.*s", (int)strcspn(bad, "\n"), bad);
	}
}

int main(void)
{
	test_format();
	test_json();
	return done_testing();
}
