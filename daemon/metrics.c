/* metrics.c - the metric table's lookups. */
#include "config.h"

#include <string.h>

#include "metrics.h"

static const struct metric_info metrics[METRIC_COUNT] = {
#define METRIC_INFO(id, name, scale, kind, desc) [id] = { name, scale, kind, desc },
    METRIC_TABLE(METRIC_INFO)
#undef METRIC_INFO
};

const struct metric_info *metric_info(enum metric_id id)
{
    return (unsigned)id < METRIC_COUNT ? &metrics[id] : NULL;
}

int metric_by_name(const char *name)
{
    for (int i = 0; i < METRIC_COUNT; i++)
        if (strcmp(metrics[i].name, name) == 0)
            return i;
    return -1;
}
