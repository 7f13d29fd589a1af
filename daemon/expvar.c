/* expvar.c - being written. */
#include "config.h"
