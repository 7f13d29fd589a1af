/* profstore.c - being written. */
#include "config.h"
