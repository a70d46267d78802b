/* tcp.c - not written yet */
#include "tcp.h"
