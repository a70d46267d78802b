/* http.c - not written yet */
#include "http.h"
