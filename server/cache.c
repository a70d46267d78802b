/* cache.c - not written yet */
#include "cache.h"
