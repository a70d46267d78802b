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

/* One unfolded header: its name and value, copied and bounded (a longer value is cut:
 * the relays are named at its start). */
#define FIELD_MAX 8192
struct field {
	char name[80];
	char value[FIELD_MAX];
};

/* The end of the line that starts at i (i <= len): the offset of its '\n', or len. */
static size_t line_end(const char *msg, size_t len, size_t i)
{
	const char *nl = memchr(msg + i, '\n', len - i);

	return nl ? (size_t)(nl - msg) : len;
}

/* Whether the n bytes at s start a header field: a name of printable ASCII other than
 * ':' (RFC 5322 2.2), optional white space (the obsolete syntax) and ':'. Returns the
 * length of the name and sets *colon to the offset of the ':', or returns 0. */
static size_t field_name(const char *s, size_t n, size_t *colon)
{
	size_t i = 0, name;

	while (i < n && (unsigned char)s[i] > ' ' && (unsigned char)s[i] < 127 && s[i] != ':')
		i++;
	name = i;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (!name || i >= n || s[i] != ':')
		return 0;
	*colon = i;
	return name;
}

size_t mail_header_end(const char *msg, size_t len)
{
	size_t i = 0, colon;
	int fields = 0;

	while (i < len) {
		size_t eol = line_end(msg, len, i), n = eol - i;

		if (n && msg[eol - 1] == '\r')
			n--;
		if (n == 0)
			return i; /* the separator */
		if (msg[i] == ' ' || msg[i] == '\t') {
			if (!fields)
				return i; /* a continuation of nothing: body */
		} else if (i == 0 && n >= 5 && memcmp(msg, "From ", 5) == 0) {
			/* the mbox separator procmail and local delivery put first */
		} else if (!field_name(msg + i, n, &colon)) {
			return i; /* no separator: the body starts here */
		} else {
			fields = 1;
		}
		i = eol + 1;
	}
	return len;
}

/* Read the header field starting at *pos (end: mail_header_end()); 0 when none is
 * left. Lines that are not fields (the mbox line) and fields whose name does not fit
 * are skipped with their continuation lines. */
static int next_field(const char *msg, size_t end, size_t *pos, struct field *f)
{
	size_t i = *pos;

	while (i < end) {
		size_t eol = line_end(msg, end, i), colon = 0, name, vn = 0;

		name = (msg[i] == ' ' || msg[i] == '\t') ? 0 : field_name(msg + i, eol - i, &colon);
		if (!name || name >= sizeof(f->name)) {
			i = eol + 1;
			continue;
		}
		memcpy(f->name, msg + i, name);
		f->name[name] = '\0';
		i += colon + 1;
		/* The value and its continuation lines: unfolding removes the line ends only
		 * (RFC 5322 2.2.3); CR, tabs, NUL and other controls become spaces. */
		for (;;) {
			for (; i < eol; i++) {
				unsigned char c = (unsigned char)msg[i];

				if (c < ' ' || c == 127)
					c = ' ';
				if (vn + 1 < sizeof(f->value))
					f->value[vn++] = (char)c;
			}
			i = eol + 1;
			if (i >= end || (msg[i] != ' ' && msg[i] != '\t'))
				break;
			eol = line_end(msg, end, i);
		}
		f->value[vn] = '\0';
		*pos = i;
		return 1;
	}
	*pos = end;
	return 0;
}

/* Keep ip unless it is reserved or known; 0 while there is room for more. */
static int add_ip(struct mail_ip *out, size_t *n, size_t max, const struct ipaddr *ip,
		  const char *source)
{
	if (*n >= max)
		return -1;
	if (ipaddr_is_reserved(ip))
		return 0;
	for (size_t i = 0; i < *n; i++)
		if (ipaddr_cmp(&out[i].ip, ip) == 0)
			return 0;
	out[*n].ip = *ip;
	strncpy(out[*n].source, source, sizeof(out[*n].source) - 1);
	out[*n].source[sizeof(out[*n].source) - 1] = '\0';
	(*n)++;
	return *n < max ? 0 : -1;
}

static int ipchar(char c)
{
	return isxdigit((unsigned char)c) || c == '.' || c == ':';
}

/* A character that makes a run of ipchar()s part of a longer word (a host name such as
 * mail-203-0-113-10.example or a1.b2.c3.d4). */
static int wordchar(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Parse one candidate token: an address, with trailing dots (end of a sentence, a
 * fully qualified form) dropped and an IPv4 port suffix ("192.0.2.1:25") allowed. */
static int parse_token(char *tok, size_t len, struct ipaddr *ip)
{
	char *colon;

	while (len && tok[len - 1] == '.')
		tok[--len] = '\0';
	if (len < 2)
		return -1;
	if (ipaddr_parse(ip, tok) == 0)
		return 0;
	colon = strrchr(tok, ':');
	if (!colon || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	*colon = '\0';
	if (strchr(tok, ':') || !strchr(tok, '.'))
		return -1;
	return ipaddr_parse(ip, tok) == 0 ? 0 : -1;
}

/* Every address written in text (bare, [bracketed], "IPv6:"-prefixed). -1 when out is
 * full. */
static int scan_ips(const char *text, struct mail_ip *out, size_t *n, size_t max,
		    const char *source)
{
	const char *p = text;

	while (*p) {
		const char *start;
		char tok[64];
		size_t len;
		struct ipaddr ip;

		/* The address literal of RFC 5321 4.1.3: the prefix is not part of a word. */
		if (strncasecmp(p, "IPv6:", 5) == 0 && (p == text || !wordchar(p[-1]))) {
			p += 5;
			continue;
		}
		if (!ipchar(*p)) {
			p++;
			continue;
		}
		start = p;
		while (ipchar(*p))
			p++;
		len = (size_t)(p - start);
		if ((start > text && wordchar(start[-1])) || wordchar(*p))
			continue;
		if (len >= sizeof(tok))
			continue;
		memcpy(tok, start, len);
		tok[len] = '\0';
		if (parse_token(tok, len, &ip) == 0 && add_ip(out, n, max, &ip, source))
			return -1;
	}
	return 0;
}

/* Cut a Received: value before its "by" part: only the "from" part names the relay
 * that handed the message over; "by" is the host that wrote the header. */
static void cut_by(char *value)
{
	for (char *by = value; (by = strcasestr(by, "by ")) != NULL; by++) {
		if (by == value || by[-1] == ' ' || by[-1] == ')') {
			*by = '\0';
			return;
		}
	}
}

size_t mail_find_ips_trusted(const char *msg, size_t len, unsigned trusted,
			     struct mail_ip *out, size_t max)
{
	struct field *f;
	size_t end, pos, n = 0;
	unsigned hop = 0;

	if (!msg || !max)
		return 0;
	f = malloc(sizeof(*f));
	if (!f)
		return 0;
	end = mail_header_end(msg, len);
	for (size_t h = 0; h < NORIG; h++) {
		pos = 0;
		while (next_field(msg, end, &pos, f))
			if (strcasecmp(f->name, originating[h]) == 0 &&
			    scan_ips(f->value, out, &n, max, originating[h]))
				goto out;
	}
	pos = 0;
	while (next_field(msg, end, &pos, f)) {
		if (strcasecmp(f->name, "Received") != 0)
			continue;
		if (hop++ < trusted)
			continue;
		cut_by(f->value);
		if (scan_ips(f->value, out, &n, max, "Received"))
			break;
	}
out:
	free(f);
	return n;
}

size_t mail_find_ips(const char *msg, size_t len, struct mail_ip *out, size_t max)
{
	return mail_find_ips_trusted(msg, len, 0, out, max);
}
