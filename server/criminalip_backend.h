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

/* A backend calling base_url with key (copied; sent only as the x-api-key header).
 * timeout_ms bounds one call. Returns 0 or a negative errno. The backend is closed
 * through its close member (intel does it). Its name and source are left NULL:
 * provider_open sets them from the provider table. */
int criminalip_backend(uv_loop_t *loop, const char *base_url, const char *key,
		       long timeout_ms, struct provider_backend *out);

/* The provider table's open function: criminalip_backend() with cfg's url and
 * timeout. */
int criminalip_open(uv_loop_t *loop, const struct config *cfg, const char *api_key,
		    struct provider_backend *out);

#endif
