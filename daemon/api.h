/* api.h - the REST API (README.md "REST API"): routes, JSON in and out, status codes. */
#ifndef MEMWATCH_API_H
#define MEMWATCH_API_H

#include "http.h"

struct api;
struct targets;
struct store;
struct gorun;
struct profstore;
struct leakwatch;
struct alerts;

struct api *api_new(struct targets *ts, struct store *st, struct gorun *gr, struct profstore *ps,
                    struct leakwatch *lw, struct alerts *ab);
void api_free(struct api *api);
/* An http_handler_fn: pass the api as its argument. */
void api_handle(void *api, const struct http_request *req, struct http_reply *reply);

#endif
