/* daemon.c - becoming a daemon: detaching, telling the starter it is ready, dropping
 * root after binding.
 *
 * Without -f threatbld forks and the parent waits on a pipe until the child is ready
 * (exit 0) or has failed (its exit code), so that init scripts and shells see start-up
 * errors; the child then leaves the terminal and logs to syslog. Privileges are
 * dropped once every socket is bound: the database files are handed to the user first
 * so that the writer can still write them. Main thread only, before the loops run
 * (daemon_detach, daemon_drop_privileges) or once they do (daemon_ready).
 *
 * Under systemd (Type=notify, $NOTIFY_SOCKET set) the service manager is told the same
 * things with sd_notify(3)'s datagrams: READY=1 once listening, RELOADING=1 and
 * READY=1 around each reload, STOPPING=1, and a STATUS= line that follows what the
 * server reports. The protocol is spoken here, without libsystemd: it is one datagram
 * on an AF_UNIX socket, documented as stable, and the same code then runs in every
 * build and in the tests. Without $NOTIFY_SOCKET all of it does nothing. */
#ifndef THREATBL_DAEMON_H
#define THREATBL_DAEMON_H

#include <sys/socket.h>
#include <sys/un.h>
#include <uv.h>

#include "log.h"

/* Longest STATUS= text, terminating NUL included. */
#define DAEMON_STATUS_MAX 256

/* Writes what the server says about itself (one line, no newline) into buf. */
typedef void daemon_status_fn(void *arg, char *buf, size_t size);

/* Embedded in the server context, zeroed before daemon_detach. */
struct daemon {
	int ready_fd;                   /* -1, or the pipe to the waiting parent (no -f) */
	struct sockaddr_un notify_addr; /* $NOTIFY_SOCKET, path or abstract (@name) */
	socklen_t notify_len;           /* 0: no service manager to tell */
	int notify_failed;              /* a send failed (warned once) */
	int told_ready;                 /* READY=1 was sent at start */
	int stopping;                   /* STOPPING=1 was sent: nothing after it */
	int reload_failed;              /* the last reload was refused: STATUS says so */
	daemon_status_fn *status;       /* NULL until daemon_status_start */
	void *status_arg;
	char status_sent[DAEMON_STATUS_MAX]; /* the STATUS= text last sent */
	uv_timer_t status_timer;        /* while notifying: STATUS= follows changes */
	int status_timer_on;
};

/* Read $NOTIFY_SOCKET (a warning when it is not an AF_UNIX address). Then, in the
 * foreground (-f), nothing else happens. Otherwise fork; the parent never returns (it
 * exits with the child's code). 0 in the child, or a negative errno (a message on
 * stderr). Under systemd run with -f: the service manager hears only its main
 * process. */
int daemon_detach(struct daemon *d, int foreground);

/* Tell the waiting parent the outcome (0: ready; else the exit code), once. When ready,
 * logging moves to syslog at level and stdin/out/err go to /dev/null (not with -f).
 * The first time code is 0, the service manager gets READY=1 and the status. */
void daemon_ready(struct daemon *d, unsigned char code, enum log_level level);

/* Where STATUS= comes from (fn(arg, ...), on the loop thread). While a service
 * manager listens, the status is looked at every few seconds on loop and sent when it
 * changed; daemon_stopping closes that timer. Before daemon_ready. */
void daemon_status_start(struct daemon *d, uv_loop_t *loop, daemon_status_fn *fn,
			 void *arg);

/* A reload begins: RELOADING=1 with MONOTONIC_USEC (systemd.service(5)). */
void daemon_reloading(struct daemon *d);

/* The reload ended (failed: the old configuration is still in use): READY=1 and the
 * status, which mentions a failed reload until one succeeds. */
void daemon_reloaded(struct daemon *d, int failed);

/* The server stops: STOPPING=1; the status timer is closed (loop thread). */
void daemon_stopping(struct daemon *d);

/* The default action of SIGHUP, SIGUSR1 and SIGUSR2 ends the process, and libuv gives
 * it back when their handles close. daemon_hold_signals blocks them in the calling
 * thread, and every thread it starts afterwards inherits the mask: held from the
 * start of server_run until every thread is started, only the main thread takes them
 * (a signal for the process goes to a thread that does not block it), so that a
 * reload asked during start-up waits instead of killing a server that may already
 * answer, and holding them again before the handles close at the end covers the whole
 * process. daemon_release_signals unblocks them in the calling thread; one that came
 * meanwhile is then delivered to its handler or, ignored by then, discarded. Main
 * thread only. */
void daemon_hold_signals(void);
void daemon_release_signals(void);

/* As root with user set: give database (and its -wal and -shm) to user, then become
 * user with no way back. Not root: nothing (user is ignored). Root without user: a
 * warning. 0, or a negative errno (logged). database may be NULL. */
int daemon_drop_privileges(const char *user, const char *database);

#endif
