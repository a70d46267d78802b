/* config_value.c - the syntax of single configuration values (see config_value.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config_value.h"

int config_value_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	int r = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			r = -ERANGE;
		v = v * 10 + d;
	}
	*end = s;
	*out = v;
	return r;
}

int config_parse_duration_ms(const char *text, uint64_t *ms)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "", 1000 },
	};
	const char *end;
	uint64_t v;
	int r;

	if (!text)
		return -EINVAL;
	r = config_value_u64(text, &end, &v);
	if (r == -EINVAL)
		return r;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (r < 0 || v > UINT64_MAX / units[i].ms)
			return -ERANGE;
		*ms = v * units[i].ms;
		return 0;
	}
	return -EINVAL; /* "1.5s", "5 s", "5x" */
}

const char *config_value_fmt_ms(uint64_t ms, char *buf, size_t n)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	};

	for (size_t i = 0; ms && i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms % units[i].ms == 0) {
			snprintf(buf, n, "%llu%s", (unsigned long long)(ms / units[i].ms),
				 units[i].unit);
			return buf;
		}
	}
	snprintf(buf, n, "%llu%s", (unsigned long long)ms, ms ? "ms" : "");
	return buf;
}

int config_value_bool(const char *s, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

int config_value_rate(const char *s, double *per_second)
{
	size_t n = strspn(s, "0123456789.");
	double per = 1, v;
	char *end;

	if (n == 0)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end); /* only digits and dots: no sign, hex, exponent or inf */
	if (errno || end != s + n)
		return -EINVAL;
	if (*end == '/') {
		if (strcmp(end + 1, "s") == 0)
			per = 1;
		else if (strcmp(end + 1, "m") == 0)
			per = 60;
		else if (strcmp(end + 1, "h") == 0)
			per = 3600;
		else
			return -EINVAL;
	} else if (*end) {
		return -EINVAL;
	}
	if (!(v > 0))
		return -ERANGE;
	*per_second = v / per;
	return 0;
}

const char *config_value_dname(const char *name, int absolute)
{
	size_t len = strlen(name), label = 0;

	if (absolute) {
		if (len == 0 || name[len - 1] != '.')
			return "must be absolute (end with '.')";
		len--;
	}
	if (len == 0)
		return "is empty";
	if (len > 253)
		return "is longer than 253 characters";
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			if (label == 0)
				return "has an empty label";
			if (label > 63)
				return "has a label longer than 63 characters";
			label = 0;
		} else if (isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_') {
			label++;
		} else {
			return "has a character other than letters, digits, '-', '_' and '.'";
		}
	}
	return NULL;
}

int config_split_listen(const char *text, char *host, uint16_t *port)
{
	const char *colon, *h, *end;
	unsigned char addr[16];
	uint64_t p;
	size_t hlen;

	if (!text)
		return -EINVAL;
	if (*text == '[') {
		h = text + 1;
		end = strchr(h, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
	} else {
		h = text;
		colon = strchr(text, ':');
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL; /* no port, or IPv6 without brackets */
		end = colon;
	}
	hlen = (size_t)(end - h);
	if (hlen == 0 || hlen >= 64)
		return -EINVAL;
	if (config_value_u64(colon + 1, &end, &p) < 0 || *end || p == 0 || p > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(*text == '[' ? AF_INET6 : AF_INET, host, addr) != 1)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

char *config_value_trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

char *config_value_token(char **s)
{
	char *t = *s, *e;

	while (isspace((unsigned char)*t))
		t++;
	if (!*t)
		return NULL;
	for (e = t; *e && !isspace((unsigned char)*e); e++)
		;
	if (*e)
		*e++ = '\0';
	*s = e;
	return t;
}
