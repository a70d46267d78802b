/* qname.c - not written yet */
#include "qname.h"
