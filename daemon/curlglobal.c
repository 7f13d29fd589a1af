/* curlglobal.c - curl_global_init() once per process (see curlglobal.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include <curl/curl.h>

#include "curlglobal.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc;

static void init(void)
{
    init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int curl_global_once(const char **why)
{
    pthread_once(&once, init);
    if (init_rc != CURLE_OK) {
        if (why)
            *why = curl_easy_strerror(init_rc);
        return -EIO;
    }
    return 0;
}
