/* log.c - not written yet */
#include "log.h"
