/* http.c - libmicrohttpd in external-polling mode, with capped request bodies. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "http.h"
#include "log.h"
#include "util.h"

struct http_server {
    struct MHD_Daemon *mhd;
    http_handler_fn handler;
    void *arg;
    size_t max_body;
    unsigned port;
};

/* Per-request state, created at the headers call and freed by the completion callback. */
struct http_request {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    char *body;
    size_t len, cap;
    int too_large;
};

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    log_debug("http: %s", msg);
}

static enum MHD_Result queue_reply(struct MHD_Connection *conn, struct http_reply *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                        r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    r->body = NULL;     /* MHD owns it now */
    if (r->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    /* The dashboard and API are same-origin; nothing here should be framed or sniffed. */
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    struct http_reply r = { .status = status, .content_type = "application/json" };
    r.body = xasprintf("{\"error\":\"%s\"}\n", msg);    /* msg is a fixed string, no escaping */
    r.len = strlen(r.body);
    return queue_reply(conn, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    struct http_server *srv = cls;
    struct http_request *req = *req_cls;

    if (!req) {     /* first call: headers only; a response may be queued only now or at the end */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > srv->max_body)
                return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        }
        req = xcalloc(1, sizeof *req);
        req->conn = conn;
        req->method = method;
        req->path = url;
        *req_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size) {    /* a piece of the body: keep it if it fits, else drop it */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_large || req->len + n > srv->max_body) {
            req->too_large = 1;
            return MHD_YES;
        }
        if (req->len + n + 1 > req->cap) {
            size_t cap = req->cap ? req->cap : 1024;
            while (cap < req->len + n + 1)
                cap *= 2;
            req->body = xreallocarray(req->body, cap, 1);
            req->cap = cap;
        }
        memcpy(req->body + req->len, upload_data, n);
        req->len += n;
        req->body[req->len] = '\0';
        return MHD_YES;
    }
    if (req->too_large)
        return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");

    struct http_reply reply = { .status = 500, .content_type = "application/json" };
    srv->handler(srv->arg, req, &reply);
    return queue_reply(conn, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_request *req = *req_cls;
    if (req) {
        free(req->body);
        free(req);
    }
    *req_cls = NULL;
}

int http_start(const char *host, unsigned port, const struct http_limits *limits,
               http_handler_fn handler, void *arg, struct http_server **out, char **err)
{
    struct http_server *srv = xcalloc(1, sizeof *srv);
    srv->handler = handler;
    srv->arg = arg;
    srv->max_body = limits->max_body;

    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr;
    memset(&addr, 0, sizeof addr);
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, host, &addr.in4.sin_addr) == 1) {
        addr.in4.sin_family = AF_INET;
        addr.in4.sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &addr.in6.sin6_addr) == 1) {
        addr.in6.sin6_family = AF_INET6;
        addr.in6.sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        *err = xasprintf("cannot listen on \"%s\": not a numeric address", host);
        free(srv);
        return -EINVAL;
    }

    /* systemd socket activation: use the socket it passes instead of binding ourselves. */
    int listen_fd = -1;
    int nfds = sd_listen_fds(1);
    if (nfds == 1 && sd_is_socket(SD_LISTEN_FDS_START, AF_UNSPEC, SOCK_STREAM, 1) > 0)
        listen_fd = SD_LISTEN_FDS_START;
    else if (nfds > 1)
        log_warn("systemd passed %d sockets; expected one, ignoring them", nfds);

    /* Without SOCK_ADDR, MHD would bind every address (techref 7.1): always pass one. */
    struct MHD_OptionItem ops[] = {
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)limits->max_connections, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)limits->connection_timeout_s, NULL },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)(64 * 1024), NULL },
        { MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)limits->max_connections, NULL },
        listen_fd >= 0 ? (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL }
                       : (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &addr.sa },
        { MHD_OPTION_END, 0, NULL },
    };
    srv->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, srv,
                                MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!srv->mhd) {
        int e = errno ? errno : EADDRINUSE;
        *err = xasprintf("cannot listen on %s:%u: %s", host, port, strerror(e));
        free(srv);
        return -e;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : port;
    *out = srv;
    return 0;
}

void http_stop(struct http_server *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->mhd);
    free(srv);
}

unsigned http_port(const struct http_server *srv)
{
    return srv->port;
}

int http_poll_fd(const struct http_server *srv)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    return di ? di->epoll_fd : -1;
}

int64_t http_timeout_ms(const struct http_server *srv)
{
    MHD_UNSIGNED_LONG_LONG t;
    if (MHD_get_timeout(srv->mhd, &t) == MHD_YES)
        return t > INT64_MAX ? INT64_MAX : (int64_t)t;
    return -1;
}

void http_run(struct http_server *srv)
{
    MHD_run(srv->mhd);
}

const char *http_method(const struct http_request *req)
{
    return req->method;
}

const char *http_path(const struct http_request *req)
{
    return req->path;
}

const char *http_query(const struct http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_body(const struct http_request *req, size_t *len)
{
    *len = req->len;
    return req->body ? req->body : "";
}
