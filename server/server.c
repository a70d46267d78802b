/* server.c - not written yet */
#include "server.h"
