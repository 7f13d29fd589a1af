/* pprof.c - being written. */
#include "config.h"
