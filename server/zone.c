/* zone.c - not written yet */
#include "zone.h"
