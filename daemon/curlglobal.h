/* curlglobal.h - libcurl's process-wide initialisation, done once for every module using it.
 *
 * The scraper (scrape.c) and alert delivery (deliver.c) each run libcurl on a thread of their
 * own, started at different times; both call this before their thread exists.  Never undone:
 * curl_global_cleanup() at exit gains nothing and would race with the other user. */
#ifndef MEMWATCH_CURLGLOBAL_H
#define MEMWATCH_CURLGLOBAL_H

/* curl_global_init(CURL_GLOBAL_DEFAULT) on the first call; its outcome on every call.
 * 0, or -EIO (with *why, a static string, saying what curl said). */
int curl_global_once(const char **why);

#endif
