/* api_paths.h - the memwatchd <-> memwatchctl contract: where the daemon listens and the
 * paths of its REST API.  JSON field names are documented in README.md ("REST API").
 *
 * API history:
 *   v1 (0.1.0) health, targets (list/add/get/delete), series.
 *   v1 (0.2.0) runtime, breakdown, heap/goroutine diffs, verdict, alerts, alert profiles. */
#ifndef MEMWATCH_API_PATHS_H
#define MEMWATCH_API_PATHS_H

#define MEMWATCH_DEFAULT_HOST     "127.0.0.1"
#define MEMWATCH_DEFAULT_PORT     7464
#define MEMWATCH_DEFAULT_SERVER   "http://127.0.0.1:7464"
#define MEMWATCH_SERVER_ENV       "MEMWATCH_SERVER"

#define API_PREFIX                "/api/v1"
#define API_HEALTH                API_PREFIX "/health"
#define API_TARGETS               API_PREFIX "/targets"
#define API_ALERTS                API_PREFIX "/alerts"
/* API_TARGETS "/{name}" and API_TARGETS "/{name}/series?metric=..&from=..&to=..&step=.." */

/* Request bodies larger than this are refused with 413. */
#define API_MAX_BODY_DEFAULT      (64 * 1024)

#endif
