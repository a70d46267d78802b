/* steer.c - the verdict commands of the control socket (see steer.h). */
#include <stddef.h>

#include "steer.h"

const struct control_cmd steer_commands[] = {
	{ NULL, 0, 0, NULL, NULL },
};
