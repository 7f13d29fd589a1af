/* http.h - the HTTP server under the REST API, /metrics and the dashboard (libmicrohttpd).
 *
 * Threading: MHD runs in external-polling mode inside memwatchd's single main loop (we poll
 * its epoll fd and call http_run).  Handlers therefore run on the main thread and read the
 * targets and the store directly, with no locks; the price is that a handler must be quick,
 * which request and response caps and the store's query design see to.
 *
 * The server owns request bodies: it accumulates them up to max_body and answers 413 itself
 * when a body is larger, so a handler only ever sees a complete, bounded body. */
#ifndef MEMWATCH_HTTP_H
#define MEMWATCH_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct http_server;
struct http_request;

struct http_reply {
    unsigned status;
    char *body;                 /* malloc'd; the server frees it */
    size_t len;
    const char *content_type;   /* static string */
    const char *allow;          /* static; sets the Allow header (405 replies) */
};

typedef void (*http_handler_fn)(void *arg, const struct http_request *req, struct http_reply *reply);

struct http_limits {
    size_t max_body;
    unsigned max_connections;
    unsigned connection_timeout_s;
};

/* Listens on host:port (port 0: any free port), or on a socket systemd passed us.
 * 0, or negative errno with *err (caller frees). */
int http_start(const char *host, unsigned port, const struct http_limits *limits,
               http_handler_fn handler, void *arg, struct http_server **out, char **err);
void http_stop(struct http_server *srv);

/* The port we actually listen on. */
unsigned http_port(const struct http_server *srv);
/* File descriptor to poll for input, and the longest the caller may wait before http_run
 * (-1: no deadline). */
int http_poll_fd(const struct http_server *srv);
int64_t http_timeout_ms(const struct http_server *srv);
/* Does all pending network work: accepts, reads, calls the handler, writes. */
void http_run(struct http_server *srv);

const char *http_method(const struct http_request *req);
const char *http_path(const struct http_request *req);
/* A query-string argument, already percent-decoded; NULL if absent. */
const char *http_query(const struct http_request *req, const char *key);
const char *http_body(const struct http_request *req, size_t *len);

#endif
