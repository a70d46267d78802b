/* acl.c - address lists of the configuration (see acl.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

int acl_add(struct acl *a, const char *text)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	struct acl_entry e, *nv;
	unsigned long len;
	char *end;
	int v4;

	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (ipaddr_parse(&e.net, addr))
		return -EINVAL;
	v4 = strchr(addr, ':') == NULL;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		len = strtoul(slash + 1, &end, 10);
		if (*end || len > (v4 ? 32u : 128u))
			return -EINVAL;
	} else {
		len = v4 ? 32 : 128;
	}
	e.len = (uint8_t)(v4 ? 96 + len : len);
	ipaddr_mask(&e.net, e.len, &e.net);
	nv = realloc(a->v, (a->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	a->v = nv;
	a->v[a->n++] = e;
	return 0;
}

int acl_match_(const struct acl *a, const struct ipaddr *ip)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct acl_entry *e = &a->v[i];
		unsigned full = e->len / 8, rest = e->len % 8;

		if (memcmp(ip->b, e->net.b, full) != 0)
			continue;
		if (rest && ((ip->b[full] ^ e->net.b[full]) & (0xff00u >> rest)))
			continue;
		return 1;
	}
	return 0;
}

int acl_copy(struct acl *dst, const struct acl *src)
{
	dst->v = NULL;
	dst->n = 0;
	if (!src->n)
		return 0;
	dst->v = malloc(src->n * sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
	dst->n = src->n;
	return 0;
}

void acl_free(struct acl *a)
{
	free(a->v);
	a->v = NULL;
	a->n = 0;
}
