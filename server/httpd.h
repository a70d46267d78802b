/* httpd.c - what the HTTP listeners (metrics.c, web.c) share: their listening socket,
 * the peers they admit, libmicrohttpd's messages in our log.
 *
 * Both hand libmicrohttpd a socket of their own, bound here before root is dropped, so
 * that a bad, busy or foreign address is reported precisely and a port below 1024
 * works. Nothing here keeps state: any thread. */
#ifndef THREATBL_HTTPD_H
#define THREATBL_HTTPD_H

#include <stdarg.h>
#include <sys/socket.h>

#include "acl.h"

/* A non-blocking, close-on-exec TCP socket listening on addr ("ADDR:PORT", numeric,
 * IPv6 only for an IPv6 address), backlog deep. The fd, or a negative errno with the
 * reason logged as "WHO: cannot listen on ADDR: why". */
int httpd_listen(const char *who, const char *addr, int backlog);

/* Whether allow admits the peer sa (an empty allow admits everyone); a refused peer
 * is logged at debug, naming allow_key, the setting that would admit it. 1 or 0. */
int httpd_admits(const char *who, const char *allow_key, const struct acl *allow,
		 const struct sockaddr *sa);

/* One libmicrohttpd message (its printf format) as a debug line of ours, "WHO: ...",
 * its line ends taken off. */
__attribute__((format(printf, 2, 0)))
void httpd_log(const char *who, const char *fmt, va_list ap);

#endif
