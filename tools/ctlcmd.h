/* ctlcmd.c - the `threatbl` commands that ask the running daemon over its control
 * socket: stats [--json], status, reload (doc/operations.md#counters).
 *
 *   threatbl [-c FILE] [-s PATH] stats [--json] | status | reload
 *
 * The socket is found by ctl_path (ctlclient.h): -s, else [server] control of -c FILE
 * (or of the default configuration), else the built-in default. */
#ifndef THREATBL_CTLCMD_H
#define THREATBL_CTLCMD_H

#include <stddef.h>
#include <stdio.h>

/* Exit status of these commands. */
#define CTL_EXIT_OK 0
#define CTL_EXIT_DAEMON 1      /* the daemon answered "error ..." */
#define CTL_EXIT_USAGE 2       /* bad arguments, or a configuration that cannot be read */
#define CTL_EXIT_UNREACHABLE 3 /* no daemon at the socket, permission denied, timeout,
				* an answer that breaks the protocol */

/* 1 when argv[1] is for ctlcmd_main: one of its commands, or -c/-s before one. */
int ctlcmd_is(int argc, char **argv);

/* argv[0] is the program's name. Returns the exit status. */
int ctlcmd_main(int argc, char **argv);

/* The lines of `stats` (name{label="value",...} value) read from in, as one JSON
 * object printed to out: {"name": value, "name": [{"labels": {...}, "value": v}]}.
 * 0, or -EINVAL (err: the line that is not a stats line) or -ENOMEM. */
int ctlcmd_stats_json(FILE *in, FILE *out, char *err, size_t errlen);

#endif
