/* provider.c - the table of IP-intelligence providers (see provider.h). */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "abuseipdb.h"
#include "criminalip_backend.h"
#include "ipinfo.h"
#include "provider.h"

/* One row per provider. The first is what provider = auto means. */
static const struct provider_kind kinds[] = {
	{ "criminalip", "Criminal IP", criminalip_open, NULL },
	{ "abuseipdb", "AbuseIPDB", abuseipdb_open, "https://api.abuseipdb.com" },
	{ "ipinfo", "ipinfo", ipinfo_open, "https://ipinfo.io" },
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

const struct provider_kind *provider_find(const char *name)
{
	for (size_t i = 0; name && i < NKINDS; i++)
		if (strcasecmp(name, kinds[i].name) == 0)
			return &kinds[i];
	return NULL;
}

const struct provider_kind *provider_at(size_t i)
{
	return i < NKINDS ? &kinds[i] : NULL;
}

unsigned provider_rows(const char *source)
{
	unsigned rows = 0;

	while (source && *source) {
		size_t n = strcspn(source, ",");

		for (size_t i = 0; i < NKINDS && i < 8; i++)
			if (strlen(kinds[i].name) == n && !strncasecmp(source, kinds[i].name, n))
				rows |= 1u << i;
		source += n;
		source += *source == ',';
	}
	return rows;
}

const struct provider_kind *provider_default(void)
{
	return &kinds[0];
}

int provider_open(const struct provider_kind *k, struct uv_loop_s *loop,
		  const struct config *cfg, const char *api_key, struct provider_backend *out)
{
	int err;

	if (!k || !out)
		return -EINVAL;
	err = k->open(loop, cfg, api_key, out);
	if (err < 0)
		return err;
	/* Named here, from the table, so that a provider's file cannot disagree with it. */
	out->name = k->display;
	out->source = k->name;
	return 0;
}
