/* lists.c - not written yet */
#include "lists.h"
