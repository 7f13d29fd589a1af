/* scrape.c - being written. */
#include "config.h"
