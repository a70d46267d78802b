/* criminalip.c - not written yet */
#include "criminalip.h"
