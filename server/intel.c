/* intel.c - not written yet */
#include "intel.h"
