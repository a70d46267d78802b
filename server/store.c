/* store.c - not written yet */
#include "store.h"
