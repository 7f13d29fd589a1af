/* gorun.h - being written. */
#ifndef MEMWATCH_GORUN_H
#define MEMWATCH_GORUN_H
#endif
