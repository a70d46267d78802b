/* udp.c - not written yet */
#include "udp.h"
