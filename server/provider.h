/* provider.c - IP-intelligence providers: what one is to the rest of the server, and
 * the table of those that can be configured.
 *
 * A provider answers "what is this IP?" through a struct provider_backend; intel.c
 * schedules the calls and knows no provider by name. The backend says what to call
 * its service in logs and what to write as the source of its verdicts in the store.
 * No libuv here (the loop is only forward-declared), so that config.c and the pure
 * parsers (criminalip.c) can use the outcome and the table without it. Adding a
 * provider: one file implementing the open function below, one row in provider.c. */
#ifndef THREATBL_PROVIDER_H
#define THREATBL_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"

struct config;
struct uv_loop_s; /* uv_loop_t, without including uv.h */

/* What one call to the service came to (doc/criminalip.md#errors). */
enum provider_outcome {
	PROVIDER_OK,          /* mask (and facts) are the verdict */
	PROVIDER_BAD_KEY,     /* "invalid api key": pause until reload */
	PROVIDER_LIMIT,       /* "limit exceeded": pause until the next UTC day */
	PROVIDER_BUSY,        /* "unable to call api at the same time": retry shortly, alone */
	PROVIDER_INVALID_IP,  /* "Invalid IP Address." (or IPv6 refused): unknown, retry late */
	PROVIDER_TROUBLE,     /* 5xx, timeout, reset, malformed or oversized body */
	PROVIDER_CANCELED,    /* the backend is closing */
	/* The service answered, but not with a verdict for this address: an empty report,
	 * one about another address, one too large to read. The address's problem, not
	 * the service's: no backoff; remembered as unknown like PROVIDER_INVALID_IP. */
	PROVIDER_UNUSABLE,
};

struct provider_result {
	enum provider_outcome outcome;
	uint8_t mask;            /* VERDICT_BIT()s, with PROVIDER_OK */
	const char *facts_json;  /* compact facts behind the verdict, for the store; may be NULL */
	const char *detail;      /* a short reason for logs (never the key); may be NULL */
	int tcp443_open;         /* the report shows tcp/443 open now (its newest entry):
				  * a reason for probe.c to look; 0 when not or unknown */
	uint32_t retry_after_ms; /* the service asked to wait this long (Retry-After) before
				  * the next call; 0 when it did not say */
};

typedef void (*provider_fetch_done)(void *arg, const struct provider_result *res);

/* A service. fetch starts one call and calls done exactly once, later, on the loop
 * thread (never from inside fetch); the result's strings live until done returns. */
struct provider_backend {
	/* Both must outlive the backend's users (string literals: provider_open sets them
	 * from its table). */
	const char *name;    /* for logs: "Criminal IP" */
	const char *source;  /* written to the store with each verdict: "criminalip" */
	void *impl;
	int (*fetch)(void *impl, const struct ipaddr *ip, provider_fetch_done done, void *arg);
	/* Cancel what is in flight (done runs with PROVIDER_CANCELED) and free impl once
	 * every handle is closed; then call closed(closed_arg). */
	void (*close)(void *impl, void (*closed)(void *arg), void *closed_arg);
};

/* Opens a backend for its settings in cfg (config_provider_get: its [provider NAME]
 * section, or [intel]'s url and timeout) and api_key (copied).
 * Returns 0 or a negative errno. Loop thread. */
typedef int (*provider_open_fn)(struct uv_loop_s *loop, const struct config *cfg,
				const char *api_key, struct provider_backend *out);

/* One row of the table. */
struct provider_kind {
	const char *name;     /* in the configuration (provider = NAME) and the store */
	const char *display;  /* in logs */
	provider_open_fn open;
	const char *url;      /* the service's base URL; NULL: [intel] url (Criminal IP's) */
};

/* The provider configured as name (case-insensitive), or NULL when there is none of
 * that name ("none" and "auto" are config.c's words, not providers). */
const struct provider_kind *provider_find(const char *name);

/* The i-th row, or NULL past the end: for listing the known names. */
const struct provider_kind *provider_at(size_t i);

/* The rows (bit i: provider_at(i), rows past 7 left out) of the providers named in
 * source, a store's source column ("abuseipdb,ipinfo"): who gave a verdict, so that
 * its refresh asks them again. 0 when it names none (a static list, an older row). */
unsigned provider_rows(const char *source);

/* The one that provider = auto uses when an API key is available: the first row. */
const struct provider_kind *provider_default(void);

/* Open k's backend, with its name (k->display) and store source (k->name) set.
 * Returns 0 or a negative errno (-EINVAL without k). The caller hands the backend to
 * intel_new / intel_reconfigure, or closes it through its close member. */
int provider_open(const struct provider_kind *k, struct uv_loop_s *loop,
		  const struct config *cfg, const char *api_key, struct provider_backend *out);

#endif
