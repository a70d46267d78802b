/* ask.c - ask a DNSBL about one IP over DNS (see ask.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ask.h"

/* The address of host: an IP literal, else a name the system resolves (the first
 * address it gives). NULL when there is none. */
static ldns_rdf *host_rdf(const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	ldns_rdf *rdf;

	if (!host[0])
		return NULL;
	rdf = ldns_rdf_new_frm_str(strchr(host, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A,
				   host);
	if (rdf || strchr(host, ':') || getaddrinfo(host, NULL, &hints, &ai) != 0)
		return rdf;
	for (struct addrinfo *p = ai; p && !rdf; p = p->ai_next) {
		if (p->ai_family == AF_INET)
			rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4,
				&((struct sockaddr_in *)(void *)p->ai_addr)->sin_addr);
		else if (p->ai_family == AF_INET6)
			rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16,
				&((struct sockaddr_in6 *)(void *)p->ai_addr)->sin6_addr);
	}
	freeaddrinfo(ai);
	return rdf;
}

int ask_resolver(const char *server, ldns_resolver **out, char *err, size_t errlen)
{
	char host[256];
	const char *colon;
	unsigned long port = 53;
	ldns_resolver *res = NULL;
	ldns_rdf *ns = NULL;
	ldns_status st;

	*out = NULL;
	if (!server) {
		st = ldns_resolver_new_frm_file(&res, NULL);
		if (st != LDNS_STATUS_OK) {
			snprintf(err, errlen, "cannot read the system resolver configuration: %s",
				 ldns_get_errorstr_by_id(st));
			return -EINVAL;
		}
		goto done;
	}
	if (server[0] == '[') {
		const char *end = strchr(server, ']');

		if (!end || (size_t)(end - server - 1) >= sizeof(host))
			goto bad;
		memcpy(host, server + 1, (size_t)(end - server - 1));
		host[end - server - 1] = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			goto bad;
	} else {
		colon = strchr(server, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		if (colon && (size_t)(colon - server) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s",
			 colon ? (int)(colon - server) : (int)strlen(server), server);
	}
	if (colon) {
		char *end;

		port = strtoul(colon + 1, &end, 10);
		if (*end || port == 0 || port > 65535)
			goto bad;
	}
	ns = host_rdf(host);
	if (!ns)
		goto bad;
	res = ldns_resolver_new();
	if (!res || ldns_resolver_push_nameserver(res, ns) != LDNS_STATUS_OK) {
		snprintf(err, errlen, "out of memory");
		ldns_rdf_deep_free(ns);
		ldns_resolver_free(res);
		return -ENOMEM;
	}
	ldns_rdf_deep_free(ns);
	ldns_resolver_set_port(res, (uint16_t)port);
done:
	ldns_resolver_set_retry(res, 2);
	ldns_resolver_set_timeout(res, (struct timeval){ .tv_sec = 2 });
	ldns_resolver_set_recursive(res, true);
	ldns_resolver_set_dnssec(res, false);
	*out = res;
	return 0;
bad:
	snprintf(err, errlen, "bad server '%s': want HOST, HOST:PORT or [IPv6]:PORT (HOST an "
		 "address or a name that resolves)", server);
	return -EINVAL;
}

/* The DNSBL name of ip under zone. */
static int ip_name(const char *zone, const struct ipaddr *ip, char *buf, size_t size)
{
	size_t off = 0;
	int n;

	if (ipaddr_is_v4(ip)) {
		n = snprintf(buf, size, "%u.%u.%u.%u.%s", ip->b[15], ip->b[14], ip->b[13],
			     ip->b[12], zone);
		return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
	}
	for (int i = 15; i >= 0; i--) {
		n = snprintf(buf + off, size - off, "%x.%x.", ip->b[i] & 0xf, ip->b[i] >> 4);
		if (n < 0 || (size_t)n >= size - off)
			return -ENAMETOOLONG;
		off += (size_t)n;
	}
	n = snprintf(buf + off, size - off, "%s", zone);
	return n >= 0 && (size_t)n < size - off ? 0 : -ENAMETOOLONG;
}

static int query(ldns_resolver *res, const char *name, ldns_rr_type type, ldns_pkt **pkt,
		 char *err, size_t errlen)
{
	ldns_rdf *qname = ldns_dname_new_frm_str(name);
	ldns_status st;
	ldns_pkt_rcode rc;

	*pkt = NULL;
	if (!qname) {
		snprintf(err, errlen, "bad name %s", name);
		return -EINVAL;
	}
	st = ldns_resolver_send(pkt, res, qname, type, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_rdf_deep_free(qname);
	if (st != LDNS_STATUS_OK || !*pkt) {
		snprintf(err, errlen, "no answer for %s: %s", name, ldns_get_errorstr_by_id(st));
		return -ETIMEDOUT;
	}
	rc = ldns_pkt_get_rcode(*pkt);
	if (rc != LDNS_RCODE_NOERROR && rc != LDNS_RCODE_NXDOMAIN) {
		ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rc);

		snprintf(err, errlen, "%s: %s", name, lt ? lt->name : "error");
		ldns_pkt_free(*pkt);
		*pkt = NULL;
		return -EIO;
	}
	return 0;
}

int ask_ip(ldns_resolver *res, const char *zone, const struct ipaddr *ip,
	   struct ask_result *out, char *err, size_t errlen)
{
	char name[512];
	ldns_pkt *pkt = NULL;
	ldns_rr_list *rrs;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ip_name(zone, ip, name, sizeof(name));
	if (rc) {
		snprintf(err, errlen, "zone name too long");
		return rc;
	}
	rc = query(res, name, LDNS_RR_TYPE_A, &pkt, err, errlen);
	if (rc)
		return rc;
	rrs = ldns_pkt_rr_list_by_type(pkt, LDNS_RR_TYPE_A, LDNS_SECTION_ANSWER);
	for (size_t i = 0; rrs && i < ldns_rr_list_rr_count(rrs) && out->na < ASK_MAX_RECORDS; i++) {
		ldns_rdf *rd = ldns_rr_rdf(ldns_rr_list_rr(rrs, i), 0);

		if (rd && ldns_rdf_size(rd) == 4)
			inet_ntop(AF_INET, ldns_rdf_data(rd), out->a[out->na++], sizeof(out->a[0]));
	}
	ldns_rr_list_deep_free(rrs);
	ldns_pkt_free(pkt);
	out->listed = out->na > 0;
	if (!out->listed)
		return 0;
	rc = query(res, name, LDNS_RR_TYPE_TXT, &pkt, err, errlen);
	if (rc)
		return 0; /* listed; the reasons are a bonus */
	rrs = ldns_pkt_rr_list_by_type(pkt, LDNS_RR_TYPE_TXT, LDNS_SECTION_ANSWER);
	for (size_t i = 0; rrs && i < ldns_rr_list_rr_count(rrs) && out->ntxt < ASK_MAX_RECORDS; i++) {
		ldns_rr *rr = ldns_rr_list_rr(rrs, i);
		size_t off = 0;

		for (size_t j = 0; j < ldns_rr_rd_count(rr); j++) {
			ldns_rdf *rd = ldns_rr_rdf(rr, j);
			const uint8_t *d = ldns_rdf_data(rd);
			size_t len = ldns_rdf_size(rd) ? d[0] : 0;

			if (len + 1 > ldns_rdf_size(rd))
				len = ldns_rdf_size(rd) ? ldns_rdf_size(rd) - 1 : 0;
			if (off + len >= sizeof(out->txt[0]))
				len = sizeof(out->txt[0]) - 1 - off;
			if (len)
				memcpy(out->txt[out->ntxt] + off, d + 1, len);
			off += len;
		}
		out->txt[out->ntxt][off] = '\0';
		/* The reasons are printed on a terminal: no control characters. */
		for (char *c = out->txt[out->ntxt]; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		out->ntxt++;
	}
	ldns_rr_list_deep_free(rrs);
	ldns_pkt_free(pkt);
	return 0;
}

const char *ask_category(const char *a)
{
	static const char *const names[] = {
		"vpn", "openvpn443", "hosting", "tor", "proxy", "scanner",
	};
	unsigned last;
	char extra;

	if (sscanf(a, "127.0.0.%u%c", &last, &extra) != 1 || last < 2 || last > 7)
		return NULL;
	return names[last - 2];
}
