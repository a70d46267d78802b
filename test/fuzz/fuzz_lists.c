/* fuzz_lists.c - libFuzzer harness for the static lists: lists_load() on arbitrary
 * file contents, then lists_match() on addresses taken from the input.
 *
 * The input is the file (kept in a memfd, so nothing touches the disk). The addresses
 * are the text at the start of each of the first lines, their neighbours, and raw
 * 4- and 16-byte windows of the input. Invariants (abort() when broken): loading
 * succeeds (or fails with -ENOMEM); every report names the file, a line of it (or 0),
 * a level 0 or 1 and a non-empty message, at most 100 line reports and a summary;
 * the counts agree; a listed match has a non-zero A and a TXT of at most 255 bytes;
 * loading again without a report callback gives the same answers. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "ipaddr.h"
#include "lists.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IPS 64

static struct fuzz_file input;

struct reports {
	unsigned lines;   /* lines in the input */
	unsigned n, summaries;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	fuzz_file_open(&input, "fuzz_lists");
	return 0;
}

static void report(void *arg, const char *file, unsigned line, int level, const char *msg)
{
	struct reports *rs = arg;

	if (!file || strcmp(file, input.path) != 0)
		fuzz_die("report without the file");
	if (line > rs->lines)
		fuzz_die("report names a line past the end");
	if (level != 0 && level != 1)
		fuzz_die("report level neither 0 nor 1");
	if (!msg || !msg[0])
		fuzz_die("empty report");
	if (line)
		rs->n++;
	else
		rs->summaries++;
}

/* The address at the start of s, if any: the run of address characters. */
static int leading_ip(const uint8_t *s, size_t len, struct ipaddr *ip)
{
	char text[64];
	size_t i = 0;

	if (len && (*s == '!' || *s == ' ' || *s == '\t'))
		return leading_ip(s + 1, len - 1, ip);
	while (i < len && i + 1 < sizeof(text) &&
	       ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		(s[i] >= 'A' && s[i] <= 'F') || s[i] == ':' || s[i] == '.')) {
		text[i] = (char)s[i];
		i++;
	}
	text[i] = '\0';
	return i && ipaddr_parse(ip, text) == 0 ? 0 : -1;
}

static size_t collect_ips(const uint8_t *data, size_t size, struct ipaddr *ips)
{
	size_t n = 0, off = 0;
	struct ipaddr ip;

	while (off < size && n + 3 <= MAX_IPS - 4) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (data + off)) : size - off;

		if (leading_ip(data + off, len, &ip) == 0) {
			ips[n++] = ip;
			/* Its neighbours: where a prefix or range ends. */
			for (int d = -1; d <= 1; d += 2) {
				struct ipaddr nb = ip;
				int k = 15;

				if (d > 0)
					while (k >= 0 && ++nb.b[k] == 0)
						k--;
				else
					while (k >= 0 && nb.b[k]-- == 0)
						k--;
				ips[n++] = nb;
			}
		}
		off += len + 1;
	}
	if (size >= 4) {
		uint32_t v;

		memcpy(&v, data, 4);
		ipaddr_set_v4(&ips[n++], v);
		memcpy(&v, data + size - 4, 4);
		ipaddr_set_v4(&ips[n++], v);
	}
	if (size >= 16) {
		memcpy(ips[n++].b, data, 16);
		memcpy(ips[n++].b, data + size - 16, 16);
	}
	return n;
}

static void check_lists(const struct lists *l)
{
	struct lists_stats st;

	lists_stats(l, &st);
	if (st.entries != lists_count(l))
		fuzz_die("lists_stats and lists_count disagree");
	if (st.intervals4 < 1 || st.intervals6 < 1)
		fuzz_die("an interval table without its first row");
	if (st.values < 1)
		fuzz_die("no value, not even the default");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *paths[1] = { input.path };
	struct ipaddr ips[MAX_IPS];
	struct lists *l = NULL, *quiet = NULL;
	struct reports rs = { 0, 0, 0 };
	size_t i, n;
	int r;

	rs.lines = fuzz_file_set(&input, data, size);

	r = lists_load(paths, 1, report, &rs, &l);
	if (r == -ENOMEM)
		return 0;
	if (r != 0 || !l)
		fuzz_die("lists_load failed on a readable file");
	if (rs.n > 100 || rs.summaries > 1)
		fuzz_die("more than 100 line reports, or several summaries");
	check_lists(l);
	r = lists_load(paths, 1, NULL, NULL, &quiet);
	if (r == -ENOMEM) {
		lists_free(l);
		return 0;
	}
	if (r != 0 || lists_count(quiet) != lists_count(l))
		fuzz_die("loading without a callback differs");

	n = collect_ips(data, size, ips);
	for (i = 0; i < n; i++) {
		const struct lists_value *v = (const void *)1, *qv = (const void *)1;
		enum lists_match m = lists_match(l, &ips[i], &v);
		enum lists_match qm = lists_match(quiet, &ips[i], &qv);

		if (m != LISTS_MISS && m != LISTS_LISTED && m != LISTS_EXCLUDED)
			fuzz_die("unknown match result");
		if ((m == LISTS_LISTED) != (v != NULL))
			fuzz_die("value set without LISTS_LISTED, or missing with it");
		if (v) {
			if (!v->txt || strlen(v->txt) > 255)
				fuzz_die("TXT missing or over 255 bytes");
			if (!(v->a[0] | v->a[1] | v->a[2] | v->a[3]))
				fuzz_die("A record 0.0.0.0");
		}
		if (qm != m || (v && (memcmp(v->a, qv->a, 4) || strcmp(v->txt, qv->txt))))
			fuzz_die("loading without a callback gives another answer");
		if (lists_match(NULL, &ips[i], &v) != LISTS_MISS || v)
			fuzz_die("lists_match(NULL) is not a miss");
	}
	lists_free(quiet);
	lists_free(l);
	return 0;
}
