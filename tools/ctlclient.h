/* ctlclient.c - the `threatbl` side of the control socket (server/control.h). */
#ifndef THREATBL_CTLCLIENT_H
#define THREATBL_CTLCLIENT_H

#include <stddef.h>
#include <stdio.h>

/* The socket to talk to: sock (-s) when given; otherwise [server] control of the
 * configuration file conf (-c), or of the default configuration when conf is NULL and
 * that file exists; otherwise the built-in default. 0 with the path in out (size
 * outlen), or a negative errno with one line in err: conf unreadable or invalid,
 * control switched off (empty), or the path too long. */
int ctl_path(const char *sock, const char *conf, char *out, size_t outlen, char *err,
	     size_t errlen);

/* Send argv[0..argc) (the command and its arguments) and copy the output lines, without
 * their "+ " prefix, to out. 0 when the daemon said "ok"; -EREMOTEIO when it said
 * "error ...", with its message in err; otherwise a negative errno with one line in err
 * (no daemon listening, permission denied, an argument the protocol cannot carry, a
 * broken answer). Waits at most timeout_ms for each read and write. */
int ctl_call(const char *path, int argc, char *const *argv, FILE *out, int timeout_ms,
	     char *err, size_t errlen);

#endif
