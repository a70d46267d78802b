/* provider_json.c - what the small-JSON providers (abuseipdb.c, ipinfo.c) share: the
 * reading of an error answer and the outcome of an HTTP code. Pure. */
#ifndef THREATBL_PROVIDER_JSON_H
#define THREATBL_PROVIDER_JSON_H

#include <jansson.h>

#include "provider_http.h"

/* The outcome of an answer that is not a 200: 401 and 403 a refused key, 429 a used
 * up quota, 404 and 422 an address the service will not judge, anything else trouble.
 * The message (msg, may be NULL) goes into v->detail. */
void provider_json_error(long status, const char *msg, struct provider_verdict *v);

/* Make s printable ASCII in place: every other byte (UTF-8 from the service, control
 * characters) becomes '?', so that a detail can go into a log line as it is. */
void provider_json_printable(char *s);

/* A string member of o, or NULL when absent or not a string. */
const char *provider_json_str(json_t *o, const char *key);

/* A boolean member of o: 1, 0, or -1 when absent or not a boolean. */
int provider_json_bool(json_t *o, const char *key);

#endif
