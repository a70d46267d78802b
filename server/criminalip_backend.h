/* criminalip_backend.c - the provider_backend that asks Criminal IP through http.c.
 *
 * One HTTP GET per lookup, the key only in the x-api-key header; the answer is judged
 * by criminalip.c, on the libuv thread pool when it is large, and handed to intel on
 * the loop thread. */
#ifndef THREATBL_CRIMINALIP_BACKEND_H
#define THREATBL_CRIMINALIP_BACKEND_H

#include <uv.h>

#include "config.h"
#include "provider.h"

struct cip_settings {
	const char *url;        /* the base URL ([intel] url) */
	long timeout_ms;        /* bounds one call */
	size_t max_body;        /* largest report read ([intel] max-report-size); 0: the
				 * default, CIP_MAX_BODY */
	uint32_t max_stale_s;   /* ip_category entries older than this do not count; 0:
				 * any age counts */
};

/* A backend calling set->url with key (copied; sent only as the x-api-key header).
 * set is copied. Returns 0 or a negative errno. The backend is closed through its
 * close member (intel does it). Its name and source are left NULL: provider_open sets
 * them from the provider table. */
int criminalip_backend(uv_loop_t *loop, const struct cip_settings *set, const char *key,
		       struct provider_backend *out);

/* The provider table's open function: criminalip_backend() with cfg's url, timeout,
 * max-report-size and max-stale. */
int criminalip_open(uv_loop_t *loop, const struct config *cfg, const char *api_key,
		    struct provider_backend *out);

#endif
