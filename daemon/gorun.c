/* gorun.c - being written. */
#include "config.h"
