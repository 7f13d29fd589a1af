/* memwatchctl.c - command-line client of memwatchd's REST API (paths in api_paths.h).
 *
 * Every command checks its arguments before it touches the network, so a usage error never
 * depends on whether the daemon is up.  The exit status is part of the scripting contract:
 *   0  success
 *   1  the daemon answered with an error (its "error" text is printed), or with something
 *      that is not a memwatchd answer
 *   2  usage error (bad command, option or argument, including a malformed --server)
 *   3  the daemon could not be reached: not running, unreachable, or no answer in time
 * Human output goes to stdout; with --json the daemon's JSON body is printed as-is instead.
 * Diagnostics always go to stderr, once, prefixed "memwatchctl: ". */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api_paths.h"
#include "http.h"
#include "render.h"
#include "util.h"

enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_DAEMON = 1,
    CTL_EXIT_USAGE = 2,
    CTL_EXIT_UNREACHABLE = 3,
};

#define CTL_DEFAULT_TIMEOUT_MS 10000
#define CTL_DEFAULT_SINCE "1h" /* "the last hour" in usage_text */

/* The hint every "cannot reach the daemon" message ends with. */
#define CTL_START_HINT                                                                             \
    "Start it with 'memwatchd', or point --server / " MEMWATCH_SERVER_ENV " at it."

struct ctl {
    const char *server_opt; /* --server, or NULL */
    bool json;              /* --json: print the daemon's body as-is */
    int64_t timeout_ms;
    struct http_client *http; /* created by the first request */
};

struct ctl_command {
    const char *name;
    const char *args; /* usage after the name */
    int (*run)(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv);
};

/* Long-only options get values above any character. */
enum {
    OPT_SERVER = 256,
    OPT_JSON,
    OPT_TIMEOUT,
    OPT_VERSION,
    OPT_PID,
    OPT_MATCH,
    OPT_CMDLINE,
    OPT_INTERVAL,
    OPT_SMAPS_INTERVAL,
    OPT_SINCE,
    OPT_FROM,
    OPT_UNTIL,
    OPT_STEP,
};

/* Accepted before and after the command, so "memwatchctl list --json" works too. */
// clang-format off
#define COMMON_LONG_OPTIONS \
    { "server", required_argument, NULL, OPT_SERVER }, \
    { "json", no_argument, NULL, OPT_JSON }, \
    { "timeout", required_argument, NULL, OPT_TIMEOUT }, \
    { "help", no_argument, NULL, 'h' }
// clang-format on

static const struct option no_extra_options[] = {
    COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "Usage: memwatchctl [--server URL] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  add NAME (--pid N | --match REGEX [--cmdline]) [--interval DUR] [--smaps-interval DUR]\n"
    "                      sample one process, or every process whose name (with --cmdline:\n"
    "                      whose command line) matches REGEX\n"
    "  remove NAME         stop sampling NAME and forget its target\n"
    "  list                all targets with state, RSS, PSS and last sample\n"
    "  show NAME           one target in detail\n"
    "  series NAME METRIC [--since DUR | --from T] [--until T] [--step DUR]\n"
    "                      stored values of METRIC (e.g. rss_bytes, pss_bytes, threads), by\n"
    "                      default for the last hour; --step aggregates to min/avg/max\n"
    "  health              daemon version, uptime and number of targets\n"
    "  help [COMMAND]      this text, or one command's synopsis\n"
    "\n"
    "Options:\n"
    "  --server URL        the daemon (default: $" MEMWATCH_SERVER_ENV ", else\n"
    "                      " MEMWATCH_DEFAULT_SERVER ")\n"
    "  --json              print the daemon's JSON answer as-is, for scripts and jq\n"
    "  --timeout SECONDS   give up on the daemon after this long (default 10; 500ms works too)\n"
    "  --version           print the version and exit\n"
    "\n"
    "DUR is 1500ms, 10s, 5m, 24h, 30d, 1h30m or a number of seconds.  T is unix seconds, 'now',\n"
    "-DUR (that long ago) or local time 'YYYY-MM-DD HH:MM[:SS]'.\n"
    "\n"
    "Exit status: 0 ok, 1 the daemon reported an error, 2 usage error, 3 daemon not reachable.\n";

static void print_command_usage(FILE *out, const struct ctl_command *cmd)
{
    fprintf(out, "usage: memwatchctl %s%s%s\n", cmd->name, cmd->args[0] ? " " : "", cmd->args);
}

/* Reports a usage problem once, with the command's synopsis when there is one. */
static int __attribute__((format(printf, 2, 3)))
usage_error(const struct ctl_command *cmd, const char *fmt, ...)
{
    va_list ap;

    fputs("memwatchctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (cmd != NULL)
        print_command_usage(stderr, cmd);
    fputs("Try 'memwatchctl --help' for more information.\n", stderr);
    return CTL_EXIT_USAGE;
}

/* Next option that is the command's own, handling the common ones on the way.  Returns -1 at
 * the end of the options; *stop is then >= 0 if the program should exit with that status
 * (after --help or a usage error). */
static int next_option(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv,
                       const char *optstring, const struct option *longopts, int *stop)
{
    int64_t ms;
    int c;

    for (;;) {
        c = getopt_long(argc, argv, optstring, longopts, NULL);
        switch (c) {
        case 'h':
            if (cmd != NULL)
                print_command_usage(stdout, cmd);
            else
                fputs(usage_text, stdout);
            *stop = CTL_EXIT_OK;
            return -1;
        case OPT_SERVER: ctl->server_opt = optarg; break;
        case OPT_JSON: ctl->json = true; break;
        case OPT_TIMEOUT:
            if (parse_duration_ms(optarg, &ms) != 0 || ms <= 0 || ms > INT32_MAX) {
                *stop = usage_error(cmd,
                                    "--timeout needs a positive number of seconds, "
                                    "not \"%s\"",
                                    optarg);
                return -1;
            }
            ctl->timeout_ms = ms;
            break;
        case ':':
            *stop = usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
            return -1;
        case '?':
            if (optopt != 0)
                *stop = usage_error(cmd, "unknown option '-%c'", optopt);
            else
                *stop = usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
            return -1;
        default: return c; /* the command's own option, or -1 at the end */
        }
    }
}

/* Parses a command that has only the common options and exactly nargs arguments. */
static int parse_plain_command(struct ctl *ctl, const struct ctl_command *cmd, int argc,
                               char **argv, int nargs)
{
    int stop = -1;

    while (next_option(ctl, cmd, argc, argv, ":h", no_extra_options, &stop) != -1)
        ;
    if (stop >= 0)
        return stop;
    if (argc - optind != nargs)
        return usage_error(cmd, "%s takes %s", cmd->name, nargs == 0 ? "no arguments" : cmd->args);
    return -1;
}

static int check_target_name(const struct ctl_command *cmd, const char *name)
{
    char *clean;

    if (target_name_valid(name))
        return -1;
    clean = render_clean(name);
    (void)usage_error(cmd,
                      "invalid target name \"%s\": use 1-63 characters of A-Z a-z 0-9 "
                      "_ . -, not starting with '.' or '-'",
                      clean);
    free(clean);
    return CTL_EXIT_USAGE;
}

/* Creates the HTTP client for the server chosen by --server > $MEMWATCH_SERVER > default. */
static int ctl_connect(struct ctl *ctl)
{
    const char *server = ctl->server_opt, *origin = "--server";

    if (ctl->http != NULL)
        return CTL_EXIT_OK;
    if (server == NULL) {
        server = getenv(MEMWATCH_SERVER_ENV);
        origin = MEMWATCH_SERVER_ENV;
        if (server == NULL || *server == '\0')
            server = MEMWATCH_DEFAULT_SERVER;
    }
    if (strncasecmp(server, "http://", 7) != 0 && strncasecmp(server, "https://", 8) != 0) {
        char *clean = render_clean(server);

        (void)usage_error(NULL, "%s \"%s\" is not an http:// URL (for example %s)", origin, clean,
                          MEMWATCH_DEFAULT_SERVER);
        free(clean);
        return CTL_EXIT_USAGE;
    }
    ctl->http = http_client_new(server, (long)ctl->timeout_ms);
    if (ctl->http == NULL) {
        fprintf(stderr, "memwatchctl: cannot initialise libcurl\n");
        return CTL_EXIT_DAEMON;
    }
    return CTL_EXIT_OK;
}

static int report_request_failure(struct ctl *ctl, int err, const char *cause)
{
    const char *base = http_client_base(ctl->http);

    switch (err) {
    case -ECONNREFUSED:
        fprintf(stderr, "memwatchctl: memwatchd is not running at %s (%s). " CTL_START_HINT "\n",
                base, cause);
        return CTL_EXIT_UNREACHABLE;
    case -EHOSTUNREACH:
        fprintf(stderr, "memwatchctl: cannot reach memwatchd at %s (%s). " CTL_START_HINT "\n",
                base, cause);
        return CTL_EXIT_UNREACHABLE;
    case -ETIMEDOUT:
        fprintf(stderr,
                "memwatchctl: memwatchd at %s did not answer (%s); it may be busy "
                "or stuck. A longer --timeout may help.\n",
                base, cause);
        return CTL_EXIT_UNREACHABLE;
    case -ECONNRESET:
        fprintf(stderr, "memwatchctl: the connection to memwatchd at %s failed (%s)\n", base,
                cause);
        return CTL_EXIT_UNREACHABLE;
    case -EINVAL:
        fprintf(stderr, "memwatchctl: cannot use server URL %s (%s)\n", base, cause);
        return CTL_EXIT_USAGE;
    default:
        fprintf(stderr, "memwatchctl: request to %s failed (%s)\n", base, cause);
        return CTL_EXIT_DAEMON;
    }
}

/* Sends one request and reduces every failure to one message and an exit status.  On
 * success *out is the parsed 2xx answer, always a JSON object (json_decref it), and with
 * --json the body has already been printed as-is. */
static int ctl_request(struct ctl *ctl, const char *method, const char *path, json_t *body,
                       json_t **out)
{
    struct http_response resp;
    json_error_t jerr;
    char *payload = NULL, *cause = NULL;
    json_t *answer;
    int err, ret;

    *out = NULL;
    if ((ret = ctl_connect(ctl)) != CTL_EXIT_OK)
        return ret;
    /* Bodies are built with jansson only, so every value is escaped correctly. */
    if (body != NULL && (payload = json_dumps(body, JSON_COMPACT)) == NULL) {
        fprintf(stderr, "memwatchctl: cannot encode the request body\n");
        return CTL_EXIT_USAGE;
    }
    err = http_client_request(ctl->http, method, path, payload, &resp, &cause);
    free(payload);
    if (err < 0) {
        ret = report_request_failure(ctl, err, cause);
        free(cause);
        return ret;
    }

    answer = json_loadb(resp.body, resp.len, 0, &jerr);
    if (resp.status < 200 || resp.status > 299) {
        const char *msg = json_string_value(json_object_get(answer, "error"));

        if (msg != NULL) {
            char *clean = render_clean(msg);

            fprintf(stderr, "memwatchctl: %s\n", clean);
            free(clean);
        } else {
            fprintf(stderr,
                    "memwatchctl: %s answered HTTP %ld without an error message; "
                    "is it memwatchd?\n",
                    http_client_base(ctl->http), resp.status);
        }
        ret = CTL_EXIT_DAEMON;
    } else if (!json_is_object(answer)) {
        fprintf(stderr,
                "memwatchctl: the answer from %s is not a JSON object (%s); "
                "is it memwatchd?\n",
                http_client_base(ctl->http), answer == NULL ? jerr.text : "another JSON type");
        ret = CTL_EXIT_DAEMON;
    } else {
        if (ctl->json) {
            fwrite(resp.body, 1, resp.len, stdout);
            if (resp.len == 0 || resp.body[resp.len - 1] != '\n')
                putchar('\n');
        }
        *out = answer;
        answer = NULL;
        ret = CTL_EXIT_OK;
    }
    json_decref(answer);
    http_response_clear(&resp);
    return ret;
}

/* API_TARGETS "/{name}" plus suffix, with the name percent-encoded. */
static char *target_path(struct ctl *ctl, const char *name, const char *suffix)
{
    char *escaped = http_client_escape(ctl->http, name);
    char *path = xasprintf(API_TARGETS "/%s%s", escaped, suffix);

    free(escaped);
    return path;
}

static int cmd_add(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONG_OPTIONS,
        {"pid", required_argument, NULL, OPT_PID},
        {"match", required_argument, NULL, OPT_MATCH},
        {"cmdline", no_argument, NULL, OPT_CMDLINE},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"smaps-interval", required_argument, NULL, OPT_SMAPS_INTERVAL},
        {NULL, 0, NULL, 0},
    };
    const char *match = NULL, *interval = NULL, *smaps_interval = NULL, *name, *state;
    bool cmdline = false, have_pid = false;
    json_t *body, *answer, *match_json;
    int64_t pid = 0, ms;
    int c, stop = -1, ret;
    char *selector;

    while ((c = next_option(ctl, cmd, argc, argv, ":h", longopts, &stop)) != -1) {
        switch (c) {
        case OPT_PID:
            if (parse_int64(optarg, 1, INT32_MAX, &pid) != 0)
                return usage_error(cmd, "--pid needs a process id, not \"%s\"", optarg);
            have_pid = true;
            break;
        case OPT_MATCH: match = optarg; break;
        case OPT_CMDLINE: cmdline = true; break;
        case OPT_INTERVAL:
        case OPT_SMAPS_INTERVAL:
            if (parse_duration_ms(optarg, &ms) != 0 || ms <= 0)
                return usage_error(cmd,
                                   "%s needs a duration such as 1s or 500ms, not "
                                   "\"%s\"",
                                   c == OPT_INTERVAL ? "--interval" : "--smaps-interval", optarg);
            *(c == OPT_INTERVAL ? &interval : &smaps_interval) = optarg;
            break;
        }
    }
    if (stop >= 0)
        return stop;
    if (argc - optind != 1)
        return usage_error(cmd, argc == optind ? "add needs a target NAME" : "add takes one NAME");
    name = argv[optind];
    if ((ret = check_target_name(cmd, name)) >= 0)
        return ret;
    if (have_pid && match != NULL)
        return usage_error(cmd, "use --pid or --match, not both");
    if (!have_pid && match == NULL)
        return usage_error(cmd, "add needs --pid N or --match REGEX");
    if (cmdline && match == NULL)
        return usage_error(cmd, "--cmdline only applies to --match");
    if (match != NULL && *match == '\0')
        return usage_error(cmd, "--match needs a non-empty REGEX");

    body = json_object();
    (void)json_object_set_new(body, "name", json_string(name));
    if (have_pid) {
        (void)json_object_set_new(body, "pid", json_integer(pid));
    } else {
        /* json_string refuses invalid UTF-8, which JSON cannot carry. */
        if ((match_json = json_string(match)) == NULL) {
            json_decref(body);
            return usage_error(cmd, "--match REGEX must be valid UTF-8");
        }
        (void)json_object_set_new(body, "match", match_json);
        (void)json_object_set_new(body, "cmdline", json_boolean(cmdline));
    }
    if (interval != NULL)
        (void)json_object_set_new(body, "interval", json_string(interval));
    if (smaps_interval != NULL)
        (void)json_object_set_new(body, "smaps_interval", json_string(smaps_interval));

    ret = ctl_request(ctl, "POST", API_TARGETS, body, &answer);
    json_decref(body);
    if (ret == CTL_EXIT_OK && !ctl->json) {
        selector = render_selector(answer);
        printf("added target \"%s\" (%s)\n", name, selector);
        free(selector);
        /* A --match target usually starts out waiting; say so rather than look broken. */
        state = json_string_value(json_object_get(answer, "state"));
        if (state != NULL && strcmp(state, "active") != 0) {
            char *s = render_clean(state);
            char *m = render_clean(json_string_value(json_object_get(answer, "message")));

            if (strcmp(m, "-") != 0)
                printf("state: %s (%s)\n", s, m);
            else
                printf("state: %s\n", s);
            free(s);
            free(m);
        }
    }
    json_decref(answer);
    return ret;
}

static int cmd_remove(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    json_t *answer;
    char *path;
    int ret;

    if ((ret = parse_plain_command(ctl, cmd, argc, argv, 1)) >= 0)
        return ret;
    if ((ret = check_target_name(cmd, argv[optind])) >= 0)
        return ret;
    if ((ret = ctl_connect(ctl)) != CTL_EXIT_OK)
        return ret;
    path = target_path(ctl, argv[optind], "");
    ret = ctl_request(ctl, "DELETE", path, NULL, &answer);
    free(path);
    if (ret == CTL_EXIT_OK && !ctl->json)
        printf("removed target \"%s\"\n", argv[optind]);
    json_decref(answer);
    return ret;
}

static int cmd_list(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    json_t *answer, *targets;
    int ret;

    if ((ret = parse_plain_command(ctl, cmd, argc, argv, 0)) >= 0)
        return ret;
    ret = ctl_request(ctl, "GET", API_TARGETS, NULL, &answer);
    if (ret == CTL_EXIT_OK && !ctl->json) {
        targets = json_object_get(answer, "targets");
        if (json_is_array(targets)) {
            render_target_table(stdout, targets, now_wall_ms());
        } else {
            fprintf(stderr, "memwatchctl: the answer has no \"targets\" list; "
                            "is it memwatchd?\n");
            ret = CTL_EXIT_DAEMON;
        }
    }
    json_decref(answer);
    return ret;
}

static int cmd_show(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    json_t *answer;
    char *path;
    int ret;

    if ((ret = parse_plain_command(ctl, cmd, argc, argv, 1)) >= 0)
        return ret;
    if ((ret = check_target_name(cmd, argv[optind])) >= 0)
        return ret;
    if ((ret = ctl_connect(ctl)) != CTL_EXIT_OK)
        return ret;
    path = target_path(ctl, argv[optind], "");
    ret = ctl_request(ctl, "GET", path, NULL, &answer);
    free(path);
    if (ret == CTL_EXIT_OK && !ctl->json)
        render_target(stdout, answer, now_wall_ms());
    json_decref(answer);
    return ret;
}

/* --from/--until in the API's forms: "now", "-DUR", or unix seconds.  Local
 * "YYYY-MM-DD HH:MM[:SS]" is accepted too, because that is how `series` prints time.
 * Returns NULL if s is none of these. */
static char *series_time(const char *s)
{
    static const char *const formats[] = {
        "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
    };
    int64_t v;
    size_t i;

    if (strcmp(s, "now") == 0)
        return xstrdup("now");
    if (s[0] == '-')
        return parse_duration_ms(s + 1, &v) == 0 ? xstrdup(s) : NULL;
    if (parse_int64(s, 0, INT64_MAX / 1000, &v) == 0)
        return xasprintf("%" PRId64, v);
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm;
        const char *end;
        time_t t;

        memset(&tm, 0, sizeof(tm));
        end = strptime(s, formats[i], &tm);
        if (end == NULL || *end != '\0')
            continue;
        tm.tm_isdst = -1; /* let mktime work out daylight saving time */
        if ((t = mktime(&tm)) == (time_t)-1)
            return NULL;
        return xasprintf("%lld", (long long)t);
    }
    return NULL;
}

static int cmd_series(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONG_OPTIONS,
        {"since", required_argument, NULL, OPT_SINCE},
        {"from", required_argument, NULL, OPT_FROM},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"step", required_argument, NULL, OPT_STEP},
        {NULL, 0, NULL, 0},
    };
    const char *since = NULL, *from_arg = NULL, *until_arg = NULL, *step = NULL;
    char *from = NULL, *until = NULL, *e_name, *e_metric, *e_from, *e_until, *e_step, *path;
    int c, stop = -1, ret;
    json_t *answer;
    int64_t ms;

    while ((c = next_option(ctl, cmd, argc, argv, ":h", longopts, &stop)) != -1) {
        switch (c) {
        case OPT_SINCE:
            /* "--since -1h" reads naturally too; the sign is implied either way. */
            since = optarg[0] == '-' ? optarg + 1 : optarg;
            if (parse_duration_ms(since, &ms) != 0)
                return usage_error(cmd,
                                   "--since needs a duration such as 30m or 24h, "
                                   "not \"%s\"",
                                   optarg);
            break;
        case OPT_FROM: from_arg = optarg; break;
        case OPT_UNTIL: until_arg = optarg; break;
        case OPT_STEP:
            if (parse_duration_ms(optarg, &ms) != 0 || ms <= 0)
                return usage_error(cmd,
                                   "--step needs a duration such as 60s or 5m, "
                                   "not \"%s\"",
                                   optarg);
            step = optarg;
            break;
        }
    }
    if (stop >= 0)
        return stop;
    if (argc - optind != 2)
        return usage_error(cmd, "series needs a target NAME and a METRIC");
    if ((ret = check_target_name(cmd, argv[optind])) >= 0)
        return ret;
    if (argv[optind + 1][0] == '\0')
        return usage_error(cmd, "METRIC must not be empty");
    if (since != NULL && from_arg != NULL)
        return usage_error(cmd, "use --since or --from, not both");

    if (from_arg != NULL && (from = series_time(from_arg)) == NULL)
        ret = usage_error(cmd,
                          "--from needs unix seconds, 'now', -DUR or "
                          "'YYYY-MM-DD HH:MM[:SS]', not \"%s\"",
                          from_arg);
    else if (until_arg != NULL && (until = series_time(until_arg)) == NULL)
        ret = usage_error(cmd,
                          "--until needs unix seconds, 'now', -DUR or "
                          "'YYYY-MM-DD HH:MM[:SS]', not \"%s\"",
                          until_arg);
    else
        ret = ctl_connect(ctl);
    if (ret != CTL_EXIT_OK) {
        free(from);
        free(until);
        return ret;
    }
    if (from == NULL)
        from = xasprintf("-%s", since != NULL ? since : CTL_DEFAULT_SINCE);
    if (until == NULL)
        until = xstrdup("now");

    e_name = http_client_escape(ctl->http, argv[optind]);
    e_metric = http_client_escape(ctl->http, argv[optind + 1]);
    e_from = http_client_escape(ctl->http, from);
    e_until = http_client_escape(ctl->http, until);
    e_step = step != NULL ? http_client_escape(ctl->http, step) : NULL;
    path = xasprintf(API_TARGETS "/%s/series?metric=%s&from=%s&to=%s%s%s", e_name, e_metric, e_from,
                     e_until, e_step != NULL ? "&step=" : "", e_step != NULL ? e_step : "");
    free(e_name);
    free(e_metric);
    free(e_from);
    free(e_until);
    free(e_step);
    free(from);
    free(until);

    ret = ctl_request(ctl, "GET", path, NULL, &answer);
    free(path);
    if (ret == CTL_EXIT_OK && !ctl->json)
        render_series(stdout, answer);
    json_decref(answer);
    return ret;
}

static int cmd_health(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    const char *status;
    json_t *answer;
    int ret;

    if ((ret = parse_plain_command(ctl, cmd, argc, argv, 0)) >= 0)
        return ret;
    ret = ctl_request(ctl, "GET", API_HEALTH, NULL, &answer);
    if (ret == CTL_EXIT_OK) {
        if (!ctl->json)
            render_health(stdout, answer);
        /* Scripts use `memwatchctl health` as a check: anything but "ok" fails it. */
        status = json_string_value(json_object_get(answer, "status"));
        if (status == NULL || strcmp(status, "ok") != 0)
            ret = CTL_EXIT_DAEMON;
    }
    json_decref(answer);
    return ret;
}

static int cmd_help(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv);

static const struct ctl_command ctl_commands[] = {
    {"add",
     "NAME (--pid N | --match REGEX [--cmdline]) [--interval DUR] "
     "[--smaps-interval DUR]",
     cmd_add},
    {"remove", "NAME", cmd_remove},
    {"list", "", cmd_list},
    {"show", "NAME", cmd_show},
    {"series", "NAME METRIC [--since DUR | --from T] [--until T] [--step DUR]", cmd_series},
    {"health", "", cmd_health},
    {"help", "[COMMAND]", cmd_help},
};

static const struct ctl_command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
        if (strcmp(name, ctl_commands[i].name) == 0)
            return &ctl_commands[i];
    return NULL;
}

static int cmd_help(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    const struct ctl_command *about;
    int stop = -1;

    while (next_option(ctl, cmd, argc, argv, ":h", no_extra_options, &stop) != -1)
        ;
    if (stop >= 0)
        return stop;
    if (argc - optind > 1)
        return usage_error(cmd, "help takes at most one COMMAND");
    if (argc - optind == 0) {
        fputs(usage_text, stdout);
        return CTL_EXIT_OK;
    }
    if ((about = find_command(argv[optind])) == NULL)
        return usage_error(cmd, "unknown command \"%s\"", argv[optind]);
    print_command_usage(stdout, about);
    return CTL_EXIT_OK;
}

int main(int argc, char **argv)
{
    static const struct option global_options[] = {
        COMMON_LONG_OPTIONS,
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    struct ctl ctl = {.timeout_ms = CTL_DEFAULT_TIMEOUT_MS};
    const struct ctl_command *cmd;
    int c, stop = -1, ret, first;

    /* jansson allocates through our policy: out of memory aborts, so NULL means bad input. */
    json_set_alloc_funcs(xmalloc, free);

    /* "+": options end at the command; the command parses the rest itself. */
    while ((c = next_option(&ctl, NULL, argc, argv, "+:h", global_options, &stop)) != -1) {
        if (c == OPT_VERSION) {
            printf("memwatchctl %s (REST API %s)\n", PACKAGE_VERSION, API_PREFIX);
            return CTL_EXIT_OK;
        }
    }
    if (stop >= 0)
        return stop;
    if (optind >= argc)
        return usage_error(NULL, "no command given");
    if ((cmd = find_command(argv[optind])) == NULL) {
        char *clean = render_clean(argv[optind]);

        (void)usage_error(NULL, "unknown command \"%s\"", clean);
        free(clean);
        return CTL_EXIT_USAGE;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "memwatchctl: cannot initialise libcurl\n");
        return CTL_EXIT_DAEMON;
    }

    /* The command sees itself as argv[0]; optind = 0 makes getopt start afresh. */
    first = optind;
    optind = 0;
    ret = cmd->run(&ctl, cmd, argc - first, argv + first);
    http_client_free(ctl.http);
    curl_global_cleanup();

    /* A full disk or closed pipe must not look like success to a script. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "memwatchctl: cannot write output: %s\n", strerror(errno));
        if (ret == CTL_EXIT_OK)
            ret = CTL_EXIT_DAEMON;
    }
    return ret;
}
