/* http.c - memwatchctl's HTTP requests (see http.h).
 *
 * One easy handle, reset before each request so no option leaks from one request into the
 * next.  The response is collected in memory with a hard cap, because the caller parses it
 * as a whole with jansson anyway. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http.h"
#include "util.h"

struct http_client {
    CURL *curl;
    char *base; /* server URL without trailing slashes */
    long timeout_ms;
    char *noproxy; /* the user's no_proxy list plus loopback */
};

struct body_buf {
    char *data;
    size_t len, cap;
    bool too_large;
};

/* A proxy from http_proxy/HTTPS_PROXY must never carry requests meant for a daemon on this
 * host (the default server), or memwatchctl would fail behind corporate proxies for no
 * reason.  Keep whatever the user listed in no_proxy and add the loopback names to it. */
static char *make_noproxy(void)
{
    const char *user = getenv("no_proxy");

    if (user == NULL || *user == '\0')
        user = getenv("NO_PROXY");
    if (user == NULL || *user == '\0')
        return xstrdup("localhost,127.0.0.1,::1");
    return xasprintf("%s,localhost,127.0.0.1,::1", user);
}

struct http_client *http_client_new(const char *base_url, long timeout_ms)
{
    struct http_client *client;
    CURL *curl = curl_easy_init();
    size_t len;

    if (curl == NULL)
        return NULL;
    client = xcalloc(1, sizeof(*client));
    client->curl = curl;
    client->base = xstrdup(base_url);
    len = strlen(client->base);
    while (len > 0 && client->base[len - 1] == '/')
        client->base[--len] = '\0';
    client->timeout_ms = timeout_ms;
    client->noproxy = make_noproxy();
    return client;
}

void http_client_free(struct http_client *client)
{
    if (client == NULL)
        return;
    curl_easy_cleanup(client->curl);
    free(client->base);
    free(client->noproxy);
    free(client);
}

const char *http_client_base(const struct http_client *client)
{
    return client->base;
}

char *http_client_escape(struct http_client *client, const char *s)
{
    char *curl_owned = curl_easy_escape(client->curl, s, 0);
    char *copy;

    /* curl_easy_escape only fails on allocation failure or absurd lengths. */
    if (curl_owned == NULL) {
        fprintf(stderr, "memwatchctl: out of memory escaping a URL component\n");
        abort();
    }
    /* Hand back malloc memory so callers free() it like every other string. */
    copy = xstrdup(curl_owned);
    curl_free(curl_owned);
    return copy;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body_buf *b = userdata;
    size_t n = size * nmemb; /* libcurl documents size as always 1 */

    if (n > HTTP_MAX_RESPONSE - b->len) {
        b->too_large = true;
        return 0; /* anything but n aborts the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;

        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > HTTP_MAX_RESPONSE + 1) /* the check above keeps len+n+1 within */
            cap = HTTP_MAX_RESPONSE + 1;
        b->data = xreallocarray(b->data, cap, 1);
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* curl_slist_append returns NULL only when out of memory; follow util.h's policy. */
static struct curl_slist *xslist_append(struct curl_slist *list, const char *header)
{
    struct curl_slist *l = curl_slist_append(list, header);

    if (l == NULL) {
        fprintf(stderr, "memwatchctl: out of memory building request headers\n");
        abort();
    }
    return l;
}

/* strerror() text with a lower-case first letter, to sit inside our own sentences. */
static char *lower_first(const char *text)
{
    char *s = xstrdup(text);

    if (s[0] != '\0')
        s[0] = (char)tolower((unsigned char)s[0]);
    return s;
}

static int classify_failure(struct http_client *client, CURLcode rc, const struct body_buf *b,
                            const char *errbuf, char **cause)
{
    const char *detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    long os_errno = 0;

    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        (void)curl_easy_getinfo(client->curl, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == ECONNREFUSED) {
            *cause = xstrdup("connection refused");
            return -ECONNREFUSED;
        }
        *cause = os_errno != 0 ? lower_first(strerror((int)os_errno)) : lower_first(detail);
        return -EHOSTUNREACH;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: *cause = lower_first(detail); return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT: {
        char dur[32];

        *cause = xasprintf("no answer within %s",
                           format_duration_ms(client->timeout_ms, dur, sizeof(dur)));
        return -ETIMEDOUT;
    }
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE: *cause = lower_first(detail); return -ECONNRESET;
    case CURLE_FILESIZE_EXCEEDED:
        *cause = xasprintf("response larger than %u MiB", HTTP_MAX_RESPONSE >> 20);
        return -EFBIG;
    case CURLE_WRITE_ERROR:
        if (b->too_large) {
            *cause = xasprintf("response larger than %u MiB", HTTP_MAX_RESPONSE >> 20);
            return -EFBIG;
        }
        *cause = lower_first(detail);
        return -EIO;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: *cause = lower_first(detail); return -EINVAL;
    default: *cause = lower_first(detail); return -EIO;
    }
}

int http_client_request(struct http_client *client, const char *method, const char *path,
                        const char *json_body, struct http_response *resp, char **cause)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct body_buf b = {0};
    struct curl_slist *headers = NULL;
    char *url = xasprintf("%s%s", client->base, path);
    CURLcode rc;
    int ret = 0;

    memset(resp, 0, sizeof(*resp));
    *cause = NULL;
    curl_easy_reset(client->curl);

    headers = xslist_append(headers, "Accept: application/json");
    if (json_body != NULL) {
        headers = xslist_append(headers, "Content-Type: application/json");
        /* Skip the 100-continue round trip; our bodies are tiny. */
        headers = xslist_append(headers, "Expect:");
    }

    (void)curl_easy_setopt(client->curl, CURLOPT_URL, url);
    (void)curl_easy_setopt(client->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    (void)curl_easy_setopt(client->curl, CURLOPT_NOPROXY, client->noproxy);
    (void)curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, headers);
    (void)curl_easy_setopt(client->curl, CURLOPT_USERAGENT, "memwatchctl/" PACKAGE_VERSION);
    (void)curl_easy_setopt(client->curl, CURLOPT_ERRORBUFFER, errbuf);
    /* We are not multi-threaded, but timeouts must not rely on SIGALRM around DNS either. */
    (void)curl_easy_setopt(client->curl, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(client->curl, CURLOPT_TIMEOUT_MS, client->timeout_ms);
    (void)curl_easy_setopt(client->curl, CURLOPT_CONNECTTIMEOUT_MS, client->timeout_ms);
    (void)curl_easy_setopt(client->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_RESPONSE);
    (void)curl_easy_setopt(client->curl, CURLOPT_WRITEFUNCTION, on_body);
    (void)curl_easy_setopt(client->curl, CURLOPT_WRITEDATA, &b);
    if (json_body != NULL) {
        (void)curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, json_body);
        (void)curl_easy_setopt(client->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                               (curl_off_t)strlen(json_body));
    }
    /* POSTFIELDS already implies POST; every other verb is named explicitly. */
    if (strcmp(method, "GET") != 0 && !(json_body != NULL && strcmp(method, "POST") == 0))
        (void)curl_easy_setopt(client->curl, CURLOPT_CUSTOMREQUEST, method);

    rc = curl_easy_perform(client->curl);
    if (rc != CURLE_OK) {
        ret = classify_failure(client, rc, &b, errbuf, cause);
        free(b.data);
    } else {
        (void)curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body = b.data != NULL ? b.data : xstrdup("");
        resp->len = b.len;
    }
    /* The handle keeps pointers to these until the next reset; drop them now. */
    curl_easy_reset(client->curl);
    curl_slist_free_all(headers);
    free(url);
    return ret;
}

void http_response_clear(struct http_response *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}
