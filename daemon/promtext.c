/* promtext.c - being written. */
#include "config.h"
