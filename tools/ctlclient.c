/* ctlclient.c - talk to threatbld's control socket (see ctlclient.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "ctlclient.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct first_problem {
	char *err;
	size_t errlen;
	int seen;
};

static void first_problem(void *arg, enum config_severity sev, const char *file,
			  unsigned line, const char *msg)
{
	struct first_problem *p = arg;

	if (sev != CONFIG_ERROR || p->seen)
		return;
	p->seen = 1;
	seterr(p->err, p->errlen, "%s:%u: %s", file, line, msg);
}

int ctl_path(const char *sock, const char *conf, char *out, size_t outlen, char *err,
	     size_t errlen)
{
	struct first_problem fp = { err, errlen, 0 };
	struct config *cfg = NULL;
	const char *path;
	int rc;

	if (sock) {
		path = sock;
		goto copy;
	}
	if (!conf && access(SYSCONFDIR "/threatbl/threatbl.conf", F_OK) == 0)
		conf = SYSCONFDIR "/threatbl/threatbl.conf";
	if (conf) {
		rc = config_load(conf, first_problem, &fp, &cfg);
		if (rc < 0) {
			if (!fp.seen)
				seterr(err, errlen, "%s: %s", conf, strerror(-rc));
			return rc;
		}
	} else {
		cfg = config_defaults();
		if (!cfg) {
			seterr(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	if (!cfg->control) {
		seterr(err, errlen, "%s: the control socket is switched off ([server] control "
		       "is empty)", conf ? conf : "built-in defaults");
		config_free(cfg);
		return -ENOENT;
	}
	rc = snprintf(out, outlen, "%s", cfg->control);
	config_free(cfg);
	if (rc < 0 || (size_t)rc >= outlen)
		goto toolong;
	return 0;
copy:
	rc = snprintf(out, outlen, "%s", path);
	if (rc >= 0 && (size_t)rc < outlen)
		return 0;
toolong:
	seterr(err, errlen, "control socket path too long");
	return -ENAMETOOLONG;
}

/* Wait until fd is ready for events; -ETIMEDOUT otherwise. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

static int build_request(int argc, char *const *argv, char *line, size_t cap, char *err,
			 size_t errlen)
{
	size_t len = strlen(CONTROL_VERSION);
	int i;

	if (argc < 1 || argc > CONTROL_ARGS_MAX) {
		seterr(err, errlen, "too many arguments (at most %d)", CONTROL_ARGS_MAX - 1);
		return -E2BIG;
	}
	memcpy(line, CONTROL_VERSION, len);
	for (i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		for (const unsigned char *c = (const unsigned char *)argv[i]; *c; c++)
			if (*c < 0x20 || *c == 0x7f) {
				seterr(err, errlen, "argument '%s' holds a control character "
				       "(tab, newline, ...)", i ? argv[i] : "command");
				return -EINVAL;
			}
		if (len + 1 + n + 1 >= cap) {
			seterr(err, errlen, "request longer than %d bytes", CONTROL_LINE_MAX);
			return -E2BIG;
		}
		line[len++] = '\t';
		memcpy(line + len, argv[i], n);
		len += n;
	}
	line[len++] = '\n';
	return (int)len;
}

/* Copy the answer to out line by line; the last line decides. */
static int read_answer(int fd, FILE *out, int timeout_ms, char *err, size_t errlen)
{
	char buf[8192];
	size_t have = 0;
	int rc;

	for (;;) {
		char *nl;
		ssize_t n;

		while ((nl = memchr(buf, '\n', have))) {
			size_t llen = (size_t)(nl - buf);

			*nl = '\0';
			if (llen >= 2 && buf[0] == '+' && buf[1] == ' ') {
				fprintf(out, "%s\n", buf + 2);
			} else if (strcmp(buf, "ok") == 0) {
				return 0;
			} else if (strncmp(buf, "error ", 6) == 0) {
				seterr(err, errlen, "%s", buf + 6);
				return -EREMOTEIO;
			} else {
				seterr(err, errlen, "the daemon's answer is not understood: '%.60s'",
				       buf);
				return -EPROTO;
			}
			memmove(buf, nl + 1, have - llen - 1);
			have -= llen + 1;
		}
		if (have == sizeof(buf)) {
			seterr(err, errlen, "the daemon sent a line longer than %zu bytes",
			       sizeof(buf));
			return -EPROTO;
		}
		rc = wait_fd(fd, POLLIN, timeout_ms);
		if (rc < 0) {
			seterr(err, errlen, "no answer from the daemon: %s", strerror(-rc));
			return rc;
		}
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			seterr(err, errlen, "reading the answer: %s", strerror(errno));
			return rc;
		}
		if (n == 0) {
			seterr(err, errlen, "the daemon closed the connection before its answer "
			       "was complete");
			return -EPROTO;
		}
		have += (size_t)n;
	}
}

int ctl_call(const char *path, int argc, char *const *argv, FILE *out, int timeout_ms,
	     char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char line[CONTROL_LINE_MAX + 1];
	size_t off = 0;
	int fd = -1, len, rc;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		seterr(err, errlen, "%s: path too long for a unix socket", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	len = build_request(argc, argv, line, sizeof(line), err, errlen);
	if (len < 0)
		return len;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		seterr(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		if (rc == -ENOENT || rc == -ECONNREFUSED)
			seterr(err, errlen, "%s: no threatbld is listening there (%s)", path,
			       strerror(-rc));
		else
			seterr(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	while (off < (size_t)len) {
		ssize_t n;

		rc = wait_fd(fd, POLLOUT, timeout_ms);
		if (rc < 0) {
			seterr(err, errlen, "sending the request: %s", strerror(-rc));
			goto out;
		}
		n = send(fd, line + off, (size_t)len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			seterr(err, errlen, "sending the request: %s", strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	rc = read_answer(fd, out, timeout_ms, err, errlen);
out:
	close(fd);
	return rc;
}
