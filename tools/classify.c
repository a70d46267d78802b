/* classify.c - `threatbl classify`: judge a saved Criminal IP report by hand.
 *
 * The report is judged from the facts, as the daemon's verdict is: what is printed
 * is what `threatbl db show` would show for the same report, line by line. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify.h"
#include "config.h"
#include "criminalip.h"
#include "ipaddr.h"
#include "verdict.h"

#define EXIT_CLEAN 0
#define EXIT_LISTED 1
#define EXIT_ERROR 2

/* Read all of f, up to max bytes. Returns the buffer (caller frees) or NULL. */
static char *read_all(FILE *f, size_t max, size_t *len, int *too_big)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap), *p;

	*too_big = 0;
	while (buf) {
		if (n == cap) {
			if (cap > max) {
				*too_big = 1;
				goto fail;
			}
			p = realloc(buf, cap * 2);
			if (!p)
				goto fail;
			buf = p;
			cap *= 2;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (!buf || ferror(f))
		goto fail;
	if (n > max) {
		*too_big = 1;
		goto fail;
	}
	*len = n;
	return buf;
fail:
	free(buf);
	return NULL;
}

static void print_evidence(void *arg, enum verdict_cat cat, const char *text)
{
	(void)arg;
	printf("%s\t%s\n", verdict_cat_name(cat), text);
}

static void usage(FILE *out)
{
	fputs("usage: threatbl classify [--ip IP] [--max-stale DURATION] [--max-size BYTES] "
	      "FILE|-\n", out);
}

int classify_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "max-stale", required_argument, NULL, 's' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ipaddr ip;
	struct cip_ask ask = { .now = (int64_t)time(NULL), .max_stale_s = 30 * 86400 };
	struct cip_facts f;
	enum provider_outcome out;
	size_t max = CIP_MAX_BODY, len = 0;
	char detail[160], facts[1024], *body, *end;
	const char *path;
	uint64_t ms;
	uint8_t mask;
	FILE *in;
	int c, too_big, code;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (ipaddr_parse(&ip, optarg) < 0) {
				fprintf(stderr, "threatbl: '%s' is not an IP address\n", optarg);
				return EXIT_ERROR;
			}
			ask.ip = &ip;
			break;
		case 's':
			if (config_parse_duration_ms(optarg, &ms) < 0 || ms / 1000 > UINT32_MAX) {
				fprintf(stderr, "threatbl: --max-stale: '%s' is not a duration\n",
					optarg);
				return EXIT_ERROR;
			}
			ask.max_stale_s = (uint32_t)(ms / 1000);
			break;
		case 'm':
			errno = 0;
			max = strtoul(optarg, &end, 10);
			if (errno || *end || !max) {
				fprintf(stderr, "threatbl: --max-size: '%s' is not a size\n", optarg);
				return EXIT_ERROR;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_CLEAN;
		default:
			usage(stderr);
			return EXIT_ERROR;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_ERROR;
	}
	path = argv[optind];
	in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!in) {
		fprintf(stderr, "threatbl: %s: %s\n", path, strerror(errno));
		return EXIT_ERROR;
	}
	body = read_all(in, max, &len, &too_big);
	if (in != stdin)
		fclose(in);
	if (!body) {
		fprintf(stderr, "threatbl: %s: %s\n", path, too_big ?
			"larger than the size cap (--max-size)" : "cannot be read");
		return EXIT_ERROR;
	}
	/* A saved report is the body of an HTTP 200. */
	out = criminalip_judge(&ask, 200, body, len, &f, detail, sizeof(detail), NULL);
	free(body);
	if (out != PROVIDER_OK) {
		fprintf(stderr, "threatbl: %s: no verdict: %s\n", path, detail);
		return EXIT_ERROR;
	}
	mask = criminalip_classify(&f);
	printf("categories\t");
	for (c = 0, code = 0; c < VERDICT_NCAT; c++)
		if (mask & VERDICT_BIT(c))
			printf("%s%s", code++ ? "," : "", verdict_cat_name(c));
	printf("%s\n", mask ? "" : "clean");
	criminalip_explain(&f, print_evidence, NULL);
	if (criminalip_facts_json(&f, facts, sizeof(facts)) >= 0)
		printf("facts\t%s\n", facts);
	if (fflush(stdout))
		return EXIT_ERROR;
	return mask ? EXIT_LISTED : EXIT_CLEAN;
}
