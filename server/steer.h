/* steer.c - the control commands that change verdicts in the running daemon.
 *
 * Their table, terminated by an entry with a NULL name, is consulted by control.c
 * after its own (control.h). */
#ifndef THREATBL_STEER_H
#define THREATBL_STEER_H

#include "control.h"

extern const struct control_cmd steer_commands[];

#endif
