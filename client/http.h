/* http.h - memwatchctl's HTTP requests to memwatchd, over libcurl's easy interface.
 *
 * Library-like: nothing here prints.  Failures come back as a negative errno plus a short
 * lower-case cause ("connection refused") that the caller turns into one message and an
 * exit code.  The caller owns curl_global_init()/curl_global_cleanup(). */
#ifndef MEMWATCH_CTL_HTTP_H
#define MEMWATCH_CTL_HTTP_H

#include <stddef.h>

/* Responses larger than this are refused: even a year of raw samples is far below it, and a
 * misdirected --server must not make us buffer an endless stream. */
#define HTTP_MAX_RESPONSE (64u * 1024 * 1024)

struct http_client;

struct http_response {
    long status; /* HTTP status code */
    char *body;  /* always NUL-terminated (empty if no body); free with http_response_clear */
    size_t len;  /* body length without the NUL */
};

/* base_url is the server, e.g. "http://127.0.0.1:7464" (trailing slashes are dropped);
 * timeout_ms bounds each whole request, connect included.  Returns NULL if libcurl cannot
 * create a handle. */
struct http_client *http_client_new(const char *base_url, long timeout_ms);
/* Accepts NULL. */
void http_client_free(struct http_client *client);

/* The server URL as used, without trailing slashes. */
const char *http_client_base(const struct http_client *client);

/* Percent-encodes s for a path segment or query value; free() the result. */
char *http_client_escape(struct http_client *client, const char *s);

/* Sends method (GET, POST, DELETE) to base_url + path, with json_body (may be NULL) as
 * application/json.  Any HTTP status counts as success here: the caller reads resp->status.
 * Errors, each with *cause set (free() it):
 *   -ECONNREFUSED  nothing listens at the address (the daemon is not running)
 *   -EHOSTUNREACH  the address cannot be reached or resolved
 *   -ETIMEDOUT     no complete answer within the timeout
 *   -ECONNRESET    the connection broke or closed without a reply
 *   -EFBIG         the response exceeds HTTP_MAX_RESPONSE
 *   -EINVAL        the server URL is malformed or not http(s)
 *   -EIO           anything else libcurl reports */
int http_client_request(struct http_client *client, const char *method, const char *path,
                        const char *json_body, struct http_response *resp, char **cause);

/* Frees resp's body and zeroes it; accepts an already cleared response. */
void http_response_clear(struct http_response *resp);

#endif
