/* fleet.c - what makes the nodes of a fleet alike, and what tells them apart.
 *
 * Several threatbld behind one name must answer the same SOA serial when they serve
 * the same zones and lists, whenever each was started or reloaded: the CONTENT serial
 * is a hash of what the zones answer (doc/dns.md#the-soa-serial). And an operator
 * must see which node answered: [server] identity, with %h for the host name, is
 * answered to CH TXT id.server / hostname.bind and to NSID (dns.c). zone.c calls both
 * while building a zoneset, off the loop thread. */
#ifndef THREATBL_FLEET_H
#define THREATBL_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "zone.h"

/* The CONTENT serial of a built zoneset: a 64-bit hash, folded to 32 bits and never
 * 0, of what each zone answers, in configuration order (apex, the SOA without its
 * serial, NS, TTLs, the unknown answer, the categories and the clean answer) and of
 * the bytes of its static lists, in the order given. Names of list files, comments
 * in the configuration, [server] and [intel] settings are not in it. The hash is
 * independent of the machine's byte order. Reads the list files again: off the loop
 * thread. Returns 0 with *serial set, or a negative errno (*bad = the list path). */
int fleet_content_serial(const struct zoneset *zs, const struct config *cfg,
			 uint32_t *serial, const char **bad);

/* tpl with "%h" replaced by host and "%%" by '%' into out (CONFIG_IDENTITY_MAX + 1
 * bytes, NUL-terminated), *len its length. -ENAMETOOLONG when the result would be
 * longer than CONFIG_IDENTITY_MAX (out then holds nothing useful). */
int fleet_identity_expand(const char *tpl, const char *host, char *out, size_t *len);

#endif
