/* fuzz_config.c - libFuzzer harness for config_load() on arbitrary file contents,
 * and zoneset_build() on what it accepts.
 *
 * The input is the file (kept in a memfd, so nothing touches the disk). Invariants
 * (abort() when broken): every report names the file and a line of it (or 0) and has
 * a non-empty message; a load succeeds exactly when no report is an error (those not
 * of severity CONFIG_WARNING); a loaded config has at least one zone, each with its
 * name, SOA, NS and category texts, max-stale >= fresh, and listen addresses that
 * config_split_listen() takes. The zones of a loaded config are then built with their
 * static lists left out (a fuzzed path could name any file): a failed build says
 * why, and every built zone is found again by its own apex. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_common.h"
#include "zone.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_file input;

struct reports {
	unsigned lines;
	unsigned errors, warnings, zone_reports;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_log();
	fuzz_file_open(&input, "fuzz_config");
	return 0;
}

static void report(void *arg, enum config_severity sev, const char *file, unsigned line,
		   const char *msg)
{
	struct reports *rs = arg;

	if (!file || strcmp(file, input.path) != 0)
		fuzz_die("report without the file");
	if (line > rs->lines)
		fuzz_die("report names a line past the end");
	if (!msg || !msg[0])
		fuzz_die("empty report");
	if (sev == CONFIG_WARNING)
		rs->warnings++;
	else if (sev == CONFIG_ERROR)
		rs->errors++;
	else
		fuzz_die("a severity that is neither error nor warning");
}

static void zone_report(void *arg, enum config_severity sev, const char *file,
			unsigned line, const char *msg)
{
	(void)sev;
	struct reports *rs = arg;

	if (!msg || !msg[0])
		fuzz_die("empty zone report");
	rs->zone_reports++;
}

static void check_config(const struct config *cfg)
{
	char host[64];
	uint16_t port;
	size_t i, j, n;

	if (cfg->nzones < 1 || !cfg->zones)
		fuzz_die("a loaded config without a zone");
	if (cfg->max_stale_s < cfg->fresh_s)
		fuzz_die("max-stale shorter than fresh");
	if (cfg->nlisten < 1 || !cfg->listen || cfg->listen[cfg->nlisten])
		fuzz_die("listen list not NULL-terminated or empty");
	for (i = 0; i < cfg->nlisten; i++)
		if (!cfg->listen[i] || config_split_listen(cfg->listen[i], host, &port) < 0)
			fuzz_die("a listen address config_split_listen refuses");
	if (!cfg->database || !cfg->url)
		fuzz_die("database or url missing");
	for (i = 0; i < cfg->nzones; i++) {
		const struct config_zone *z = &cfg->zones[i];

		if (!z->name || !z->soa || !z->ns || !z->ns[0])
			fuzz_die("zone without name, soa or ns");
		for (j = 0; j < VERDICT_NCAT; j++)
			if (!z->cat[j].txt)
				fuzz_die("category text NULL");
		if (!z->clean.txt)
			fuzz_die("clean text NULL");
		for (n = 0; z->statics && z->statics[n]; n++)
			;
		if (n != z->nstatics)
			fuzz_die("statics count differs from the list");
	}
}

/* Build the zones without their static lists (restored before config_free). */
static void build_zones(struct config *cfg, struct reports *rs)
{
	size_t *saved = calloc(cfg->nzones, sizeof(*saved));
	struct zoneset *zs = NULL;
	size_t i, off;
	int r;

	if (!saved)
		return;
	for (i = 0; i < cfg->nzones; i++) {
		saved[i] = cfg->zones[i].nstatics;
		cfg->zones[i].nstatics = 0;
	}
	rs->zone_reports = 0;
	r = zoneset_build(cfg, 1, zone_report, rs, &zs);
	for (i = 0; i < cfg->nzones; i++)
		cfg->zones[i].nstatics = saved[i];
	free(saved);
	if (r == -ENOMEM)
		return;
	if (r < 0) {
		if (zs)
			fuzz_die("failed zoneset_build set *out");
		if (!rs->zone_reports)
			fuzz_die("zoneset_build failed without a report");
		return;
	}
	if (!zs || zs->n != cfg->nzones)
		fuzz_die("zoneset_build lost zones");
	for (i = 0; i < zs->n; i++) {
		const struct zone *z = &zs->zones[i], *found;

		if (!z->soa_rdata || !z->soa_rdata_len || !z->nns)
			fuzz_die("zone built without SOA or NS");
		found = zoneset_find(zs, z->apex, z->apex_len, &off);
		if (!found || off != 0 || found->apex_len != z->apex_len ||
		    strncasecmp((const char *)found->apex, (const char *)z->apex, z->apex_len))
			fuzz_die("a zone is not found by its own apex");
	}
	zoneset_free(zs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reports rs = { 0, 0, 0, 0 };
	struct config *cfg = (void *)1;
	int r;

	rs.lines = fuzz_file_set(&input, data, size);

	r = config_load(input.path, report, &rs, &cfg);
	if (r == -ENOMEM)
		return 0;
	if (r < 0) {
		if (cfg)
			fuzz_die("failed config_load set *out");
		if (!rs.errors)
			fuzz_die("config_load failed without an error report");
		return 0;
	}
	if (r != 0 || !cfg)
		fuzz_die("config_load returned neither 0 nor an error");
	if (rs.errors)
		fuzz_die("config_load succeeded after an error report");
	check_config(cfg);
	build_zones(cfg, &rs);
	config_free(cfg);
	return 0;
}
