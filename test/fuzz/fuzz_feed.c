/* fuzz_feed.c - libFuzzer harness for the feeds' formats (feed_parse.c): a downloaded
 * body is the network's, not the operator's.
 *
 * The first byte chooses the format (mod 5) and, for CSV, the column (1-4); the rest
 * is the body. Invariants (abort() when broken): on success a list with at least one
 * and at most max-entries entries, no reason; on failure no list, -EINVAL, -E2BIG or
 * -ENOMEM, and a reason; the same body parsed again gives the same result. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feed_parse.h"
#include "fuzz_common.h"
#include "lists.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 5000

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_log();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[200], why2[200];
	struct lists *l = NULL, *l2 = NULL;
	enum feed_format fmt;
	unsigned column;
	int r, r2;

	if (size < 1)
		return 0;
	fmt = (enum feed_format)(data[0] % FEED_NFORMATS);
	column = 1 + (data[0] >> 3) % 4;
	r = feed_parse(fmt, column, "fuzz", (const char *)data + 1, size - 1, MAX_ENTRIES, NULL,
		       NULL, why, sizeof(why), &l);
	if (r == 0) {
		if (!l || lists_count(l) == 0 || lists_count(l) > MAX_ENTRIES || why[0])
			fuzz_die("success without a list of 1..max entries, or with a reason");
	} else {
		if (l || !why[0] || (r != -EINVAL && r != -E2BIG && r != -ENOMEM))
			fuzz_die("failure with a list, without a reason, or an odd error");
	}
	r2 = feed_parse(fmt, column, "fuzz", (const char *)data + 1, size - 1, MAX_ENTRIES, NULL,
			NULL, why2, sizeof(why2), &l2);
	if (r2 != r || (l && lists_count(l) != lists_count(l2)))
		fuzz_die("a second parse differs");
	lists_free(l);
	lists_free(l2);
	return 0;
}
