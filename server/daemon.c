/* daemon.c - detaching, readiness (to the parent and to systemd) and dropping root
 * (see daemon.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

/* How often the status is looked at for a change while a service manager listens. */
#define STATUS_INTERVAL_MS 5000

/* $NOTIFY_SOCKET: an absolute path, or "@name" for Linux's abstract namespace. Other
 * forms (vsock:) are left alone with a warning: nothing is sent. */
static void notify_init(struct daemon *d)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t n;

	d->notify_len = 0;
	if (!e || !*e)
		return;
	n = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || n < 2 || n >= sizeof(d->notify_addr.sun_path)) {
		log_warn("NOTIFY_SOCKET is not an AF_UNIX socket address: the service manager "
			 "will not hear when threatbld is ready");
		return;
	}
	memset(&d->notify_addr, 0, sizeof(d->notify_addr));
	d->notify_addr.sun_family = AF_UNIX;
	memcpy(d->notify_addr.sun_path, e, n);
	if (e[0] == '@')
		d->notify_addr.sun_path[0] = '\0'; /* abstract: the length ends the name */
	else
		n++; /* a path: its NUL is part of the address */
	d->notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

/* One datagram of "KEY=VALUE" lines. A socket per message, as sd_notify does: nothing
 * to keep open across the fork, the loss of a socket or a change of user. Never
 * blocks: the loop thread sends it, and a lost STATUS= is harmless. */
static void notify_send(struct daemon *d, const char *msg)
{
	int fd, err = 0;

	if (!d->notify_len)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
			     (const struct sockaddr *)&d->notify_addr, d->notify_len) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	if (!err)
		return;
	if (!d->notify_failed)
		log_warn("cannot notify the service manager at NOTIFY_SOCKET: %s", strerror(err));
	else
		log_debug("cannot notify the service manager: %s", strerror(err));
	d->notify_failed = 1;
}

/* The status as it is now, into d->status_sent; 1 when it changed. */
static int status_update(struct daemon *d)
{
	char now[DAEMON_STATUS_MAX];
	size_t n;

	if (!d->status)
		return 0;
	now[0] = '\0';
	d->status(d->status_arg, now, sizeof(now));
	n = strlen(now);
	if (d->reload_failed)
		snprintf(now + n, sizeof(now) - n, "%sthe last reload failed (see the log)",
			 n ? "; " : "");
	for (char *c = now; *c; c++) {
		if (*c == '\n' || *c == '\r')
			*c = ' '; /* a newline would start another assignment */
	}
	if (strcmp(now, d->status_sent) == 0)
		return 0;
	memcpy(d->status_sent, now, sizeof(now));
	return 1;
}

/* msg (READY=1 and the like) with the status, sent together in one datagram. */
static void notify_with_status(struct daemon *d, const char *msg)
{
	char buf[64 + DAEMON_STATUS_MAX];

	status_update(d);
	if (d->status_sent[0])
		snprintf(buf, sizeof(buf), "%s\nSTATUS=%s", msg, d->status_sent);
	else
		snprintf(buf, sizeof(buf), "%s", msg);
	notify_send(d, buf);
}

static void on_status_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	char buf[16 + DAEMON_STATUS_MAX];

	if (d->stopping || !status_update(d))
		return;
	snprintf(buf, sizeof(buf), "STATUS=%s", d->status_sent);
	notify_send(d, buf);
}

void daemon_status_start(struct daemon *d, uv_loop_t *loop, daemon_status_fn *fn,
			 void *arg)
{
	d->status = fn;
	d->status_arg = arg;
	if (!d->notify_len || d->status_timer_on)
		return;
	uv_timer_init(loop, &d->status_timer);
	d->status_timer.data = d;
	uv_timer_start(&d->status_timer, on_status_timer, STATUS_INTERVAL_MS,
		       STATUS_INTERVAL_MS);
	d->status_timer_on = 1;
}

void daemon_reloading(struct daemon *d)
{
	char buf[64];
	struct timespec ts;

	if (d->stopping || !d->notify_len)
		return;
	/* systemd matches the reload it asked for (ExecReload) by this time. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	notify_send(d, buf);
}

void daemon_reloaded(struct daemon *d, int failed)
{
	d->reload_failed = !!failed;
	if (d->stopping)
		return;
	notify_with_status(d, "READY=1");
}

static void on_close_nothing(uv_handle_t *h)
{
	(void)h;
}

void daemon_stopping(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	notify_send(d, "STOPPING=1\nSTATUS=stopping");
	if (d->status_timer_on) {
		uv_close((uv_handle_t *)&d->status_timer, on_close_nothing);
		d->status_timer_on = 0;
	}
}

/* Hand one database file to the user through a descriptor opened without following a
 * link: chown(2) by path would follow a link planted by that user since the open and
 * give them any file root can reach. A missing file is fine (sqlite makes it later,
 * as the user). */
static int give_file(const char *path, const struct passwd *pw)
{
	struct stat sb;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		log_err("cannot give %s to %s: %s", path, pw->pw_name,
			errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		return err;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		log_err("cannot give %s to %s: not a regular file", path, pw->pw_name);
		err = -EINVAL;
	} else if (fchown(fd, pw->pw_uid, pw->pw_gid) < 0) {
		err = -errno;
		log_err("cannot give %s to %s: %s", path, pw->pw_name, strerror(errno));
	}
	close(fd);
	return err;
}

int daemon_drop_privileges(const char *user, const char *database)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		if (user)
			log_debug("not root: user = %s ignored", user);
		return 0;
	}
	if (!user) {
		log_warn("running as root: set [server] user to drop privileges after binding");
		return 0;
	}
	pw = getpwnam(user);
	if (!pw) {
		log_err("user '%s' does not exist", user);
		return -ENOENT;
	}
	if (database) {
		static const char *const suffix[] = { "", "-wal", "-shm" };

		for (size_t i = 0; i < 3; i++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s%s", database, suffix[i]);
			if (give_file(path, pw) < 0)
				return -EPERM;
		}
	}
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		log_err("cannot become user %s: %s", user, strerror(errno));
		return -EPERM;
	}
	if (setuid(0) == 0) {
		log_err("privileges could be regained after dropping them to %s", user);
		return -EPERM;
	}
	log_info("running as user %s", user);
	return 0;
}

static void signal_mask(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(how, &set, NULL);
}

void daemon_hold_signals(void)
{
	signal_mask(SIG_BLOCK);
}

void daemon_release_signals(void)
{
	signal_mask(SIG_UNBLOCK);
}

int daemon_detach(struct daemon *d, int foreground)
{
	int fds[2];
	pid_t pid;
	unsigned char code = 1;

	d->ready_fd = -1;
	notify_init(d);
	if (foreground)
		return 0;
	if (pipe2(fds, O_CLOEXEC)) {
		perror("threatbld: pipe");
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		perror("threatbld: fork");
		return -errno;
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &code, 1) != 1)
			code = 1;
		_exit(code);
	}
	close(fds[0]);
	d->ready_fd = fds[1];
	if (setsid() < 0)
		return -errno;
	return 0;
}

void daemon_ready(struct daemon *d, unsigned char code, enum log_level level)
{
	int fd;

	if (code == 0 && !d->told_ready && !d->stopping) {
		d->told_ready = 1;
		notify_with_status(d, "READY=1");
	}
	if (d->ready_fd < 0)
		return;
	if (write(d->ready_fd, &code, 1) != 1)
		log_warn("cannot tell the parent process that the server is ready");
	close(d->ready_fd);
	d->ready_fd = -1;
	if (code != 0)
		return;
	log_open(0, level);
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}
