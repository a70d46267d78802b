/* mail.c - the IPs a mail message came from (see mail.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail.h"

static const char *const originating[] = {
	"X-Originating-IP", "X-Yahoo-Post-IP", "X-Apparently-From", "X-SenderIP", "X-AOL-IP",
	"X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp",
};
#define NORIG (sizeof(originating) / sizeof(originating[0]))

/* One unfolded header: its name and value, copied and bounded. */
#define FIELD_MAX 8192
struct field {
	char name[80];
	char value[FIELD_MAX];
};

size_t mail_header_end(const char *msg, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (msg[i] != '\n')
			continue;
		if (i + 1 < len && msg[i + 1] == '\n')
			return i + 1;
		if (i + 2 < len && msg[i + 1] == '\r' && msg[i + 2] == '\n')
			return i + 1;
	}
	return len;
}

/* Read the header starting at *pos; returns 0 at the end of the header block. */
static int next_field(const char *msg, size_t end, size_t *pos, struct field *f)
{
	size_t i = *pos, n = 0, vn = 0;

	while (i < end) {
		/* A name: up to ':' on the first line. Lines without one are skipped. */
		size_t line_end = i;

		while (line_end < end && msg[line_end] != '\n')
			line_end++;
		n = 0;
		while (i < line_end && msg[i] != ':' && n + 1 < sizeof(f->name)) {
			f->name[n++] = msg[i];
			i++;
		}
		f->name[n] = '\0';
		if (i >= line_end || msg[i] != ':') {
			i = line_end + 1;
			continue;
		}
		i++;
		/* The value and its continuation lines, joined with a space. */
		for (;;) {
			while (i < line_end) {
				char c = msg[i++];

				if (c == '\r' || c == '\t')
					c = ' ';
				if (vn + 1 < sizeof(f->value))
					f->value[vn++] = c;
			}
			i = line_end + 1;
			if (i < end && (msg[i] == ' ' || msg[i] == '\t')) {
				line_end = i;
				while (line_end < end && msg[line_end] != '\n')
					line_end++;
				if (vn + 1 < sizeof(f->value))
					f->value[vn++] = ' ';
				continue;
			}
			break;
		}
		f->value[vn] = '\0';
		*pos = i;
		return 1;
	}
	*pos = end;
	return 0;
}

static int add_ip(struct mail_ip *out, size_t *n, size_t max, const struct ipaddr *ip,
		  const char *source)
{
	if (ipaddr_is_reserved(ip))
		return 0;
	for (size_t i = 0; i < *n; i++)
		if (ipaddr_cmp(&out[i].ip, ip) == 0)
			return 0;
	if (*n >= max)
		return -1;
	out[*n].ip = *ip;
	strncpy(out[*n].source, source, sizeof(out[*n].source) - 1);
	out[*n].source[sizeof(out[*n].source) - 1] = '\0';
	(*n)++;
	return 0;
}

static int ipchar(char c)
{
	return isxdigit((unsigned char)c) || c == '.' || c == ':';
}

/* Every address written in text (bare, [bracketed], "IPv6:"-prefixed). */
static void scan_ips(const char *text, struct mail_ip *out, size_t *n, size_t max,
		     const char *source)
{
	const char *p = text;

	while (*p) {
		const char *start;
		char tok[64];
		size_t len;
		struct ipaddr ip;

		if (!ipchar(*p)) {
			p++;
			continue;
		}
		start = p;
		while (ipchar(*p))
			p++;
		len = (size_t)(p - start);
		/* Part of a longer word (a host name such as a1.b2.example): not an address. */
		if ((start > text && (isalnum((unsigned char)start[-1]) || start[-1] == '-')) ||
		    isalnum((unsigned char)*p) || *p == '-')
			continue;
		if (len < 2 || len >= sizeof(tok))
			continue;
		memcpy(tok, start, len);
		tok[len] = '\0';
		while (len && tok[len - 1] == '.')
			tok[--len] = '\0';
		if (ipaddr_parse(&ip, tok) == 0 && add_ip(out, n, max, &ip, source))
			return;
	}
}

size_t mail_find_ips(const char *msg, size_t len, struct mail_ip *out, size_t max)
{
	struct field *f = malloc(sizeof(*f));
	size_t end = mail_header_end(msg, len), pos, n = 0;

	if (!f)
		return 0;
	for (size_t h = 0; h < NORIG; h++) {
		pos = 0;
		while (next_field(msg, end, &pos, f))
			if (strcasecmp(f->name, originating[h]) == 0)
				scan_ips(f->value, out, &n, max, originating[h]);
	}
	pos = 0;
	while (next_field(msg, end, &pos, f)) {
		char *by;

		if (strcasecmp(f->name, "Received") != 0)
			continue;
		/* Only the "from" part names the relay that handed the message over. */
		for (by = f->value; (by = strcasestr(by, "by ")) != NULL; by++) {
			if (by == f->value || by[-1] == ' ' || by[-1] == ')') {
				*by = '\0';
				break;
			}
		}
		scan_ips(f->value, out, &n, max, "Received");
	}
	free(f);
	return n;
}
