/* dns.c - not written yet */
#include "dns.h"
