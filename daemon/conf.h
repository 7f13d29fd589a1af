/* conf.h - memwatchd's configuration: an INI file over embedded defaults.
 *
 * Every key has a default, a type and bounds in one table (conf.c), so memwatchd runs with no
 * file at all.  Unknown sections or keys and out-of-range values are errors reported as
 * "FILE:LINE: ...": a typo must not silently fall back to a default. */
#ifndef MEMWATCH_CONF_H
#define MEMWATCH_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct mw_config {
    /* [daemon] */
    char listen_host[64];           /* numeric IPv4/IPv6 address */
    unsigned listen_port;           /* 0: any free port (tests) */
    char state_dir[512];            /* "" until conf_resolve_state_dir() */
    int log_level;                  /* LOG_* */
    bool watch_self;                /* keep a target named "memwatchd" for ourselves */
    /* [sampling] */
    int64_t interval_ms;
    int64_t smaps_interval_ms;
    /* [storage] */
    int64_t flush_interval_ms;
    int64_t raw_retention_ms;
    int64_t rollup_retention_ms;
    /* [go] */
    int64_t go_runtime_interval_ms;
    int64_t go_profile_interval_ms;
    int64_t go_timeout_ms;
    uint64_t go_max_body_bytes;
    uint64_t go_max_inflated_bytes;
    bool go_heap_gc;
    /* [detect] */
    int64_t detect_speed;               /* divides every detection duration (tests) */
    int64_t detect_window_ms;           /* 0 = detect.h's default */
    int64_t detect_min_history_ms;      /* 0 = default */
    uint64_t detect_min_growth;         /* bytes an hour */
    int64_t detect_min_relative_growth; /* percent of the level an hour */
    int64_t detect_min_goroutine_growth;/* goroutines an hour */
    int64_t detect_confirm_ms;          /* growing judgements must span this to confirm */
    /* [api] */
    uint64_t max_body_bytes;
    int64_t max_connections;
    int64_t connection_timeout_ms;
    /* [alerts]: where alert notifications go (deliver.h; deliver_config_of() converts) */
    bool alerts_journal;
    char alerts_webhook[1024];          /* "" = none; http:// or https:// */
    int alerts_webhook_format;          /* enum deliver_format: 0 memwatch, 1 alertmanager */
    char alerts_exec[1024];             /* "" = none; run with /bin/sh -c */
    int64_t alerts_timeout_ms;
    int64_t alerts_max_attempts;
    int64_t alerts_retry_initial_ms;
    int64_t alerts_retry_max_ms;
    int64_t alerts_queue_max;
    char alerts_external_url[256];      /* "" = the API's listen address */
};

void conf_defaults(struct mw_config *cfg);
/* Applies one key.  0, or -EINVAL with *err (caller frees) saying why. */
int conf_set(struct mw_config *cfg, const char *section, const char *key, const char *value,
             char **err);
/* Reads an INI file over cfg.  On error cfg may be half-applied: load into a copy and swap
 * it in only on success (SIGHUP does).  0, or negative errno with *err = "FILE:LINE: why". */
int conf_load_file(struct mw_config *cfg, const char *path, char **err);
/* Parses "HOST:PORT" or "[V6]:PORT" into cfg.  0 or -EINVAL with *err. */
int conf_set_listen(struct mw_config *cfg, const char *hostport, char **err);
/* Fills state_dir if empty: $STATE_DIRECTORY (systemd), /var/lib/memwatch for root,
 * else $XDG_STATE_HOME/memwatch or ~/.local/state/memwatch. */
void conf_resolve_state_dir(struct mw_config *cfg);
/* Writes the effective configuration as a commented INI file. */
void conf_write(const struct mw_config *cfg, FILE *out);

#endif
