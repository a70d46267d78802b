/* status.c - the server's one-line status (see status.h). */
#include <stdio.h>

#include "lookup.h"
#include "provider.h"
#include "server.h"
#include "status.h"

const char *status_pause_word(int paused, uint32_t calls_today, uint32_t daily_budget)
{
	switch (paused) {
	case 0:
		return NULL;
	case PROVIDER_BAD_KEY:
		return "bad_key";
	case PROVIDER_LIMIT:
		return daily_budget && calls_today >= daily_budget ? "budget" : "limit";
	default:
		return "trouble";
	}
}

/* Why calls are paused, as the operator needs to hear it. */
static const char *pause_reason(const struct server *srv, const struct intel_stats *st)
{
	switch (st->paused) {
	case PROVIDER_BAD_KEY:
		return "the API key was refused (fix it, then reload)";
	case PROVIDER_LIMIT:
		if (srv->cfg->daily_budget && st->calls_today >= srv->cfg->daily_budget)
			return "daily budget used up (until 00:00 UTC)";
		return "the service's limit reached (until 00:00 UTC)";
	case PROVIDER_TROUBLE:
		return "the service fails or cannot be reached (retrying)";
	default:
		return "paused";
	}
}

void status_describe(void *arg, char *buf, size_t size)
{
	struct server *srv = arg;
	size_t nzones = srv->zones ? srv->zones->n : 0, nverdicts, n;
	struct intel_stats st;
	struct shared_view copy;

	/* The lookup thread writes the cache under the write side (shared.h). */
	shared_read_begin(&srv->shared, &copy);
	nverdicts = cache_count(srv->cache);
	shared_read_end(&srv->shared);
	n = (size_t)snprintf(buf, size, "serving %zu zone%s, %zu verdict%s", nzones,
			     nzones == 1 ? "" : "s", nverdicts, nverdicts == 1 ? "" : "s");
	if (n >= size)
		return;
	if (!srv->lookups) {
		snprintf(buf + n, size - n, "; lookups off");
		return;
	}
	/* the lookup thread's counters, at most a second old */
	if (srv->lookup && lookup_get_stats(srv->lookup, &st) == 0 && st.paused)
		snprintf(buf + n, size - n, "; lookups paused: %s", pause_reason(srv, &st));
}

void status_start(struct server *srv)
{
	daemon_status_start(&srv->daemon, &srv->loop, status_describe, srv);
}
