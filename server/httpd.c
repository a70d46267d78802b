/* httpd.c - what the HTTP listeners share (see httpd.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "httpd.h"
#include "ipaddr.h"
#include "log.h"

int httpd_listen(const char *who, const char *addr, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char host[64];
	uint16_t port;
	int fd, one = 1, err;

	memset(&ss, 0, sizeof(ss));
	if (config_split_listen(addr, host, &port) < 0)
		goto bad;
	/* as server.c reads `listen` */
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0)
		sl = sizeof(struct sockaddr_in);
	else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0)
		sl = sizeof(struct sockaddr_in6);
	else
		goto bad;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		log_err("%s: cannot listen on %s: %s", who, addr, strerror(errno));
		return err;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0) {
		err = -errno;
		log_err("%s: cannot listen on %s: %s%s", who, addr, strerror(errno),
			errno == EADDRINUSE ? " (another process listens there)" :
			errno == EADDRNOTAVAIL ? " (not an address of this machine)" : "");
		close(fd);
		return err;
	}
	return fd;
bad:
	/* config.c checks the form at load: this is a caller's mistake */
	log_err("%s: cannot listen on %s: not a numeric ADDRESS:PORT", who, addr);
	return -EINVAL;
}

int httpd_admits(const char *who, const char *allow_key, const struct acl *allow,
		 const struct sockaddr *sa)
{
	struct ipaddr ip;

	if (ipaddr_from_sockaddr(&ip, sa) < 0)
		return 0;
	if (acl_admits(allow, &ip))
		return 1;
	if (log_enabled(LOG_LVL_DEBUG)) {
		char text[IPADDR_STRLEN];

		ipaddr_format(&ip, text);
		log_debug("%s: %s is not in %s: closed", who, text, allow_key);
	}
	return 0;
}

void httpd_log(const char *who, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strcspn(msg, "\r\n");
	msg[n] = '\0';
	log_debug("%s: %s", who, msg);
}
