/* conf.c - table-driven configuration: defaults, bounds and help text in one place. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api_paths.h"
#include "conf.h"
#include "log.h"
#include "util.h"

enum conf_type {
    CT_DURATION, CT_SIZE, CT_INT, CT_BOOL, CT_LOGLEVEL, CT_LISTEN, CT_PATH,
    CT_URL,             /* "" or an http:// or https:// URL; max = the field's size */
    CT_COMMAND,         /* "" or a shell command line; max = the field's size */
    CT_FORMAT,          /* a webhook payload format, by name (format_names) */
};

struct conf_key {
    const char *section;
    const char *key;
    enum conf_type type;
    size_t offset;
    int64_t min, max;           /* durations in ms, sizes in bytes, ints as is; strings: size */
    const char *help;
};

#define OFF(field) offsetof(struct mw_config, field)
#define SIZE(field) ((int64_t)sizeof(((struct mw_config *)0)->field))

/* Indexed by enum deliver_format (deliver.h). */
static const char *const format_names[] = { "memwatch", "alertmanager" };
#define DAY_MS (24LL * 3600 * 1000)

static const struct conf_key keys[] = {
    { "daemon", "listen", CT_LISTEN, 0, 0, 0,
      "Address and port of the REST API. Loopback only by default:\n"
      "# the API can add targets, so do not expose it without a reason." },
    { "daemon", "state_dir", CT_PATH, OFF(state_dir), 0, 0,
      "Where memwatch.db lives. Default: $STATE_DIRECTORY under systemd, /var/lib/memwatch\n"
      "# for root, else $XDG_STATE_HOME/memwatch (~/.local/state/memwatch)." },
    { "daemon", "log_level", CT_LOGLEVEL, OFF(log_level), 0, 0,
      "error, warning, notice, info or debug." },
    { "daemon", "watch_self", CT_BOOL, OFF(watch_self), 0, 0,
      "Keep a target named \"memwatchd\" that watches memwatchd itself." },
    { "sampling", "interval", CT_DURATION, OFF(interval_ms), 100, DAY_MS,
      "How often each target's OS memory is sampled (targets may override)." },
    { "sampling", "smaps_interval", CT_DURATION, OFF(smaps_interval_ms), 1000, DAY_MS,
      "How often PSS/USS are read from smaps_rollup. It costs 100-250 us a process\n"
      "# (the kernel walks its page tables), so it has its own, slower interval." },
    { "storage", "flush_interval", CT_DURATION, OFF(flush_interval_ms), 100, 3600 * 1000LL,
      "How often samples are written to disk: a crash (kill -9, power loss) loses at most\n"
      "# this much. Shorter means more disk writes." },
    { "storage", "raw_retention", CT_DURATION, OFF(raw_retention_ms), 3600 * 1000LL, 3650 * DAY_MS,
      "How long raw samples are kept." },
    { "storage", "rollup_retention", CT_DURATION, OFF(rollup_retention_ms), 3600 * 1000LL,
      3650 * DAY_MS, "How long 1-minute min/avg/max rollups are kept." },
    { "go", "runtime_interval", CT_DURATION, OFF(go_runtime_interval_ms), 1000, DAY_MS,
      "How often a Go target's runtime statistics are scraped (/debug/vars or /metrics).\n"
      "# Each /debug/vars read runs runtime.ReadMemStats, which stops the target's world\n"
      "# briefly (well under a millisecond on a small heap)." },
    { "go", "profile_interval", CT_DURATION, OFF(go_profile_interval_ms), 1000, DAY_MS,
      "How often heap and goroutine profiles are fetched. A heap profile costs the target\n"
      "# 2-9 ms of CPU; a goroutine profile stops its world briefly." },
    { "go", "timeout", CT_DURATION, OFF(go_timeout_ms), 100, 600 * 1000LL,
      "A scrape that takes longer than this (connection included) fails." },
    { "go", "max_body", CT_SIZE, OFF(go_max_body_bytes), 4096, 1LL << 30,
      "Largest response accepted from a target; larger ones fail while being read." },
    { "go", "max_inflated", CT_SIZE, OFF(go_max_inflated_bytes), 4096, 1LL << 32,
      "Largest size a gzip'd profile may inflate to (stops gzip bombs)." },
    { "go", "heap_gc", CT_BOOL, OFF(go_heap_gc), 0, 0,
      "Ask for heap profiles with ?gc=1: current numbers, at the cost of a full GC in the\n"
      "# target every profile_interval. Off by default; targets may turn it on." },
    { "detect", "window", CT_DURATION, OFF(detect_window_ms), 60 * 1000, 7 * DAY_MS,
      "Leak detection judges each signal's trend over this much of its history (default 30m)." },
    { "detect", "min_history", CT_DURATION, OFF(detect_min_history_ms), 10 * 1000, 7 * DAY_MS,
      "A target is 'warming' until it has this much history (default 10m)." },
    { "detect", "min_growth", CT_SIZE, OFF(detect_min_growth), 0, 1LL << 50,
      "Growth below this many bytes an hour is never a leak (heap, non-Go memory, RSS)." },
    { "detect", "min_relative_growth", CT_INT, OFF(detect_min_relative_growth), 0, 1000,
      "...nor growth below this percentage of the current level an hour." },
    { "detect", "min_goroutine_growth", CT_INT, OFF(detect_min_goroutine_growth), 0, 1000000000,
      "Goroutines: fewer than this many more an hour is never a leak." },
    { "detect", "confirm", CT_DURATION, OFF(detect_confirm_ms), 0, DAY_MS,
      "A leak is confirmed (verdict 'leaking', alert firing) after 3 growing judgements\n"
      "# in a row spanning at least this long; before that it is 'suspect' (pending)." },
    { "detect", "speed", CT_INT, OFF(detect_speed), 1, 1000,
      "Divides every detection duration (window, history, confirmation, judge interval):\n"
      "# for tests that run workloads this many times faster. Keep 1 in production." },
    { "api", "max_body", CT_SIZE, OFF(max_body_bytes), 1024, 16 << 20,
      "Largest request body accepted (larger ones get 413)." },
    { "api", "max_connections", CT_INT, OFF(max_connections), 1, 10000,
      "Simultaneous HTTP connections." },
    { "api", "connection_timeout", CT_DURATION, OFF(connection_timeout_ms), 1000, 3600 * 1000LL,
      "Idle HTTP connections are closed after this long." },
    { "alerts", "journal", CT_BOOL, OFF(alerts_journal), 0, 0,
      "Write each alert notification to the systemd journal as a structured entry\n"
      "# (journalctl MESSAGE_ID=2cb5904cc8dc4a9f97edf749a6894621, or MEMWATCH_TARGET=NAME)." },
    { "alerts", "webhook", CT_URL, OFF(alerts_webhook), 0, SIZE(alerts_webhook),
      "POST each notification as JSON to this http:// or https:// URL. Empty: no webhook." },
    { "alerts", "webhook_format", CT_FORMAT, OFF(alerts_webhook_format), 0, 0,
      "memwatch ({\"version\":1,\"status\":...,\"alert\":{...}}) or alertmanager (an array of one\n"
      "# alert, as Alertmanager's POST /api/v2/alerts takes it; for example\n"
      "# webhook = http://127.0.0.1:9093/api/v2/alerts)." },
    { "alerts", "exec", CT_COMMAND, OFF(alerts_exec), 0, SIZE(alerts_exec),
      "Run this command with /bin/sh -c for each notification, the alert in MEMWATCH_*\n"
      "# environment variables; exit status 0 means delivered. Empty: no command." },
    { "alerts", "timeout", CT_DURATION, OFF(alerts_timeout_ms), 100, 600 * 1000LL,
      "How long one attempt may take (a webhook request, a command's run) before it fails\n"
      "# (a command is then killed)." },
    { "alerts", "max_attempts", CT_INT, OFF(alerts_max_attempts), 1, 100,
      "Attempts per notification and receiver before giving up." },
    { "alerts", "retry_initial", CT_DURATION, OFF(alerts_retry_initial_ms), 100, 3600 * 1000LL,
      "Wait after the first failed attempt; it doubles after each further failure, up to\n"
      "# retry_max. A Retry-After in a 429 or 503 answer lengthens it, up to retry_max." },
    { "alerts", "retry_max", CT_DURATION, OFF(alerts_retry_max_ms), 100, DAY_MS,
      "The longest wait between two attempts." },
    { "alerts", "queue_max", CT_INT, OFF(alerts_queue_max), 1, 100000,
      "Notifications waiting for each receiver; when full, the oldest is dropped (and logged)." },
    { "alerts", "external_url", CT_URL, OFF(alerts_external_url), 0, SIZE(alerts_external_url),
      "How receivers reach memwatchd's API, for links in payloads (Alertmanager's\n"
      "# generatorURL). Empty: http://LISTEN-ADDRESS:PORT." },
};

void conf_defaults(struct mw_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "%s", MEMWATCH_DEFAULT_HOST);
    cfg->listen_port = MEMWATCH_DEFAULT_PORT;
    cfg->log_level = LOG_INFO;
    cfg->watch_self = true;
    cfg->interval_ms = 1000;
    cfg->smaps_interval_ms = 30 * 1000;
    cfg->flush_interval_ms = 10 * 1000;
    cfg->raw_retention_ms = DAY_MS;
    cfg->rollup_retention_ms = 30 * DAY_MS;
    cfg->go_runtime_interval_ms = 10 * 1000;
    cfg->go_profile_interval_ms = 60 * 1000;
    cfg->go_timeout_ms = 2000;
    cfg->go_max_body_bytes = 8 << 20;
    cfg->go_max_inflated_bytes = 16 << 20;
    cfg->go_heap_gc = false;
    cfg->detect_speed = 1;
    cfg->detect_window_ms = 30 * 60 * 1000;
    cfg->detect_min_history_ms = 10 * 60 * 1000;
    /* detect.h's production defaults, repeated so that --check-config prints them. */
    cfg->detect_min_growth = 4 << 20;
    cfg->detect_min_relative_growth = 2;
    cfg->detect_min_goroutine_growth = 50;
    cfg->detect_confirm_ms = 5 * 60 * 1000;
    cfg->max_body_bytes = API_MAX_BODY_DEFAULT;
    cfg->max_connections = 64;
    cfg->connection_timeout_ms = 10 * 1000;
    cfg->alerts_journal = true;
    cfg->alerts_webhook_format = 0;
    cfg->alerts_timeout_ms = 10 * 1000;
    cfg->alerts_max_attempts = 8;
    cfg->alerts_retry_initial_ms = 5 * 1000;
    cfg->alerts_retry_max_ms = 5 * 60 * 1000;
    cfg->alerts_queue_max = 256;
}

/* An absolute http:// or https:// URL with a host, in one printable word.  libcurl has the
 * last word when the request is made; this catches typos at load time. */
static bool url_plausible(const char *s)
{
    size_t scheme = strncasecmp(s, "http://", 7) == 0    ? 7
                    : strncasecmp(s, "https://", 8) == 0 ? 8
                                                         : 0;
    if (scheme == 0 || s[scheme] == '\0' || strchr("/?#", s[scheme]))
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

int conf_set_listen(struct mw_config *cfg, const char *hostport, char **err)
{
    char host[64];
    const char *colon;
    if (hostport[0] == '[') {
        const char *close = strchr(hostport, ']');
        if (!close || close[1] != ':' || (size_t)(close - hostport - 1) >= sizeof host)
            goto bad;
        memcpy(host, hostport + 1, (size_t)(close - hostport - 1));
        host[close - hostport - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(hostport, ':');
        if (!colon || (size_t)(colon - hostport) >= sizeof host)
            goto bad;
        memcpy(host, hostport, (size_t)(colon - hostport));
        host[colon - hostport] = '\0';
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
        goto bad;
    int64_t port;
    if (parse_int64(colon + 1, 0, 65535, &port) < 0)
        goto bad;
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "%s", host);
    cfg->listen_port = (unsigned)port;
    return 0;
bad:
    *err = xasprintf("listen: \"%s\" is not ADDRESS:PORT with a numeric address "
                     "(e.g. 127.0.0.1:%d or [::1]:%d)", hostport, MEMWATCH_DEFAULT_PORT,
                     MEMWATCH_DEFAULT_PORT);
    return -EINVAL;
}

int conf_set(struct mw_config *cfg, const char *section, const char *key, const char *value,
             char **err)
{
    const struct conf_key *k = NULL;
    bool section_known = false;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        section_known = true;
        if (strcmp(keys[i].key, key) == 0)
            k = &keys[i];
    }
    if (!section_known) {
        *err = xasprintf("unknown section [%s]", section);
        return -EINVAL;
    }
    if (!k) {
        *err = xasprintf("unknown key \"%s\" in [%s]", key, section);
        return -EINVAL;
    }
    char *field = (char *)cfg + k->offset;
    int64_t i64;
    uint64_t u64;
    bool b;
    switch (k->type) {
    case CT_DURATION:
        if (parse_duration_ms(value, &i64) < 0 || i64 < k->min || i64 > k->max) {
            char lo[32], hi[32];
            *err = xasprintf("%s: \"%s\" is not a duration between %s and %s (e.g. 10s, 5m, 24h)",
                             key, value, format_duration_ms(k->min, lo, sizeof lo),
                             format_duration_ms(k->max, hi, sizeof hi));
            return -EINVAL;
        }
        memcpy(field, &i64, sizeof i64);
        return 0;
    case CT_SIZE:
        if (parse_size_bytes(value, &u64) < 0 || u64 < (uint64_t)k->min || u64 > (uint64_t)k->max) {
            *err = xasprintf("%s: \"%s\" is not a size between %lld and %lld bytes (e.g. 64KiB)",
                             key, value, (long long)k->min, (long long)k->max);
            return -EINVAL;
        }
        memcpy(field, &u64, sizeof u64);
        return 0;
    case CT_INT:
        if (parse_int64(value, k->min, k->max, &i64) < 0) {
            *err = xasprintf("%s: \"%s\" is not a whole number from %lld to %lld", key, value,
                             (long long)k->min, (long long)k->max);
            return -EINVAL;
        }
        memcpy(field, &i64, sizeof i64);
        return 0;
    case CT_BOOL:
        if (parse_bool(value, &b) < 0) {
            *err = xasprintf("%s: \"%s\" is not yes or no", key, value);
            return -EINVAL;
        }
        memcpy(field, &b, sizeof b);
        return 0;
    case CT_LOGLEVEL: {
        int level = log_level_from_name(value);
        if (level < 0) {
            *err = xasprintf("%s: \"%s\" is not error, warning, notice, info or debug", key, value);
            return -EINVAL;
        }
        memcpy(field, &level, sizeof level);
        return 0;
    }
    case CT_LISTEN:
        return conf_set_listen(cfg, value, err);
    case CT_PATH:
        if (value[0] != '/' || strlen(value) >= sizeof cfg->state_dir) {
            *err = xasprintf("%s: \"%s\" is not an absolute path (shorter than %zu)", key, value,
                             sizeof cfg->state_dir);
            return -EINVAL;
        }
        snprintf(field, sizeof cfg->state_dir, "%s", value);
        return 0;
    case CT_URL:
        if ((value[0] && !url_plausible(value)) || strlen(value) >= (size_t)k->max) {
            *err = xasprintf("%s: \"%s\" is not an http:// or https:// URL (shorter than %lld), "
                             "or empty", key, value, (long long)k->max);
            return -EINVAL;
        }
        /* All of it: what was there before must not linger behind the new end. */
        memset(field, 0, (size_t)k->max);
        memcpy(field, value, strlen(value));
        return 0;
    case CT_COMMAND:
        if (strlen(value) >= (size_t)k->max) {
            *err = xasprintf("%s: the command is longer than %lld characters", key,
                             (long long)k->max - 1);
            return -EINVAL;
        }
        memset(field, 0, (size_t)k->max);
        memcpy(field, value, strlen(value));
        return 0;
    case CT_FORMAT:
        for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
            if (strcmp(value, format_names[i]) == 0) {
                int f = (int)i;
                memcpy(field, &f, sizeof f);
                return 0;
            }
        *err = xasprintf("%s: \"%s\" is not memwatch or alertmanager", key, value);
        return -EINVAL;
    }
    return -EINVAL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

int conf_load_file(struct mw_config *cfg, const char *path, char **err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        *err = xasprintf("%s: %s", path, strerror(e));
        return -e;
    }
    char line[1024], section[64] = "";
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            *err = xasprintf("%s:%d: line too long", path, lineno);
            rc = -EINVAL;
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || close[1] != '\0' || (size_t)(close - s - 1) >= sizeof section) {
                *err = xasprintf("%s:%d: malformed section header", path, lineno);
                rc = -EINVAL;
                break;
            }
            *close = '\0';
            snprintf(section, sizeof section, "%s", trim(s + 1));
            bool known = false;
            for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
                known = known || strcmp(keys[i].section, section) == 0;
            if (!known) {
                *err = xasprintf("%s:%d: unknown section [%s]", path, lineno, section);
                rc = -EINVAL;
                break;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            *err = xasprintf("%s:%d: expected \"key = value\"", path, lineno);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!*section) {
            *err = xasprintf("%s:%d: \"%s\" is outside any [section]", path, lineno, key);
            rc = -EINVAL;
            break;
        }
        char *why = NULL;
        if (conf_set(cfg, section, key, value, &why) < 0) {
            *err = xasprintf("%s:%d: %s", path, lineno, why);
            free(why);
            rc = -EINVAL;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        *err = xasprintf("%s: read error", path);
        rc = -EIO;
    }
    fclose(f);
    return rc;
}

void conf_resolve_state_dir(struct mw_config *cfg)
{
    if (cfg->state_dir[0])
        return;
    const char *sd = getenv("STATE_DIRECTORY");     /* systemd StateDirectory=, may be a list */
    if (sd && sd[0] == '/') {
        size_t n = strcspn(sd, ":");
        snprintf(cfg->state_dir, sizeof cfg->state_dir, "%.*s", (int)n, sd);
        return;
    }
    if (geteuid() == 0) {
        snprintf(cfg->state_dir, sizeof cfg->state_dir, "%s", LOCALSTATEDIR "/lib/memwatch");
        return;
    }
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg && xdg[0] == '/') {
        snprintf(cfg->state_dir, sizeof cfg->state_dir, "%s/memwatch", xdg);
        return;
    }
    const char *home = getenv("HOME");
    snprintf(cfg->state_dir, sizeof cfg->state_dir, "%s/.local/state/memwatch",
             home && home[0] == '/' ? home : "/tmp");
}

/* format_duration_ms rounds for people; a config file must say exactly what is in force. */
static const char *duration_exact(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = { { "d", DAY_MS }, { "h", 3600 * 1000LL }, { "m", 60 * 1000LL }, { "s", 1000 } };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms > 0 && ms % units[i].ms == 0) {
            snprintf(buf, len, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return buf;
        }
    snprintf(buf, len, "%lldms", (long long)ms);
    return buf;
}

void conf_write(const struct mw_config *cfg, FILE *out)
{
    const char *section = "";
    fprintf(out, "# memwatchd configuration (effective values). Every key is optional.\n");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const struct conf_key *k = &keys[i];
        if (strcmp(section, k->section) != 0) {
            section = k->section;
            fprintf(out, "\n[%s]\n", section);
        }
        fprintf(out, "# %s\n", k->help);
        const char *field = (const char *)cfg + k->offset;
        char buf[64];
        int64_t i64;
        uint64_t u64;
        bool b;
        int level;
        switch (k->type) {
        case CT_DURATION:
            memcpy(&i64, field, sizeof i64);
            fprintf(out, "%s = %s\n", k->key, duration_exact(i64, buf, sizeof buf));
            break;
        case CT_SIZE:
            memcpy(&u64, field, sizeof u64);
            fprintf(out, "%s = %llu\n", k->key, (unsigned long long)u64);
            break;
        case CT_INT:
            memcpy(&i64, field, sizeof i64);
            fprintf(out, "%s = %lld\n", k->key, (long long)i64);
            break;
        case CT_BOOL:
            memcpy(&b, field, sizeof b);
            fprintf(out, "%s = %s\n", k->key, b ? "yes" : "no");
            break;
        case CT_LOGLEVEL: {
            static const char *const names[] = { "error", "error", "error", "error", "warning",
                                                 "notice", "info", "debug" };
            memcpy(&level, field, sizeof level);
            fprintf(out, "%s = %s\n", k->key, names[level & 7]);
            break;
        }
        case CT_LISTEN:
            if (strchr(cfg->listen_host, ':'))
                fprintf(out, "%s = [%s]:%u\n", k->key, cfg->listen_host, cfg->listen_port);
            else
                fprintf(out, "%s = %s:%u\n", k->key, cfg->listen_host, cfg->listen_port);
            break;
        case CT_PATH:
            fprintf(out, "%s%s = %s\n", field[0] ? "" : "# ", k->key, field[0] ? field : "(automatic)");
            break;
        case CT_URL:
        case CT_COMMAND:
            /* An empty value reads back as empty: "key =" is valid and says "none". */
            fprintf(out, "%s =%s%s\n", k->key, field[0] ? " " : "", field);
            break;
        case CT_FORMAT: {
            int f;
            memcpy(&f, field, sizeof f);
            fprintf(out, "%s = %s\n", k->key,
                    f >= 0 && (size_t)f < sizeof format_names / sizeof format_names[0]
                        ? format_names[f] : format_names[0]);
            break;
        }
        }
    }
}
