/* daemon.c - detaching, readiness and dropping root (see daemon.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"

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

int daemon_detach(struct daemon *d, int foreground)
{
	int fds[2];
	pid_t pid;
	unsigned char code = 1;

	d->ready_fd = -1;
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
