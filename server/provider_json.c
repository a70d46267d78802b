/* provider_json.c - shared reading for small-JSON providers (see provider_json.h). */
#include <string.h>

#include "provider_json.h"

void provider_json_error(long status, const char *msg, struct provider_verdict *v)
{
	if (status == 401 || status == 403)
		v->outcome = PROVIDER_BAD_KEY;
	else if (status == 429)
		v->outcome = PROVIDER_LIMIT;
	else if (status == 404 || status == 422)
		v->outcome = PROVIDER_INVALID_IP;
	else
		v->outcome = PROVIDER_TROUBLE;
	v->mask = 0;
	v->facts[0] = '\0';
	provider_http_detail(v->detail, sizeof(v->detail), status, msg, msg ? strlen(msg) : 0);
}

void provider_json_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

const char *provider_json_str(json_t *o, const char *key)
{
	json_t *s = json_object_get(o, key);

	return json_is_string(s) ? json_string_value(s) : NULL;
}

int provider_json_bool(json_t *o, const char *key)
{
	json_t *b = json_object_get(o, key);

	return json_is_boolean(b) ? json_is_true(b) : -1;
}
