/* criminalip_backend.c - the intel_backend that asks Criminal IP through http.c.
 *
 * One HTTP GET per lookup, the key only in the x-api-key header; the answer is judged
 * by criminalip.c, on the libuv thread pool when it is large, and handed to intel on
 * the loop thread. */
#ifndef THREATBL_CRIMINALIP_BACKEND_H
#define THREATBL_CRIMINALIP_BACKEND_H

#include <uv.h>

#include "intel.h"

/* A backend calling base_url with key (copied; sent only as the x-api-key header).
 * timeout_ms bounds one call. Returns 0 or a negative errno. The backend is closed
 * through its close member (intel does it). */
int criminalip_backend(uv_loop_t *loop, const char *base_url, const char *key,
		       long timeout_ms, struct intel_backend *out);

#endif
