/* ipaddr.c - not written yet */
#include "ipaddr.h"
