/* testutil.h - what the unit tests share besides TAP: names in wire form and
 * addresses made from numbers or text.
 *
 * Header-only, like tap.h: each test is one program. Include after tap.h. */
#ifndef THREATBL_TESTUTIL_H
#define THREATBL_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipaddr.h"

/* "www.Example.org" in uncompressed wire form into buf, with the root label; the
 * labels' case kept, an empty label ("a..b") kept as a zero byte, a trailing dot
 * ignored. buf holds at least strlen(text) + 2 bytes. Returns the length. */
static inline size_t wire_name(const char *text, uint8_t *buf)
{
	size_t n = 0;

	while (*text) {
		const char *dot = strchr(text, '.');
		size_t l = dot ? (size_t)(dot - text) : strlen(text);

		buf[n++] = (uint8_t)l;
		memcpy(buf + n, text, l);
		n += l;
		text += l + (dot ? 1 : 0);
	}
	buf[n++] = 0;
	return n;
}

/* The IPv4 address of a number in host byte order (0xC0000201 = 192.0.2.1). */
static inline struct ipaddr v4(uint32_t host)
{
	struct ipaddr a;

	ipaddr_set_v4(&a, host);
	return a;
}

/* 2001:db8::/32 plus a 32-bit suffix; the high bits vary less than the low ones, as
 * addresses handed out from one prefix do. */
static inline struct ipaddr v6(uint32_t n)
{
	struct ipaddr a;

	memset(&a, 0, sizeof(a));
	a.b[0] = 0x20;
	a.b[1] = 0x01;
	a.b[2] = 0x0d;
	a.b[3] = 0xb8;
	a.b[7] = (uint8_t)(n >> 24);
	a.b[12] = (uint8_t)(n >> 16);
	a.b[14] = (uint8_t)(n >> 8);
	a.b[15] = (uint8_t)n;
	return a;
}

/* The address written in text; a test that writes a bad one bails out (its
 * results would mean nothing). */
static inline struct ipaddr ip_of(const char *text)
{
	struct ipaddr a;

	if (ipaddr_parse(&a, text) < 0) {
		printf("Bail out! bad test address %s\n", text);
		exit(1);
	}
	return a;
}

#endif
