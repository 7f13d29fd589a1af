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
#define CTL_DEFAULT_LIMIT 10   /* diff's sites, as in usage_text */

/* The Go runtime view's paths under API_TARGETS "/{name}". */
#define CTL_PATH_BREAKDOWN "/breakdown"            /* [?from=T&to=T] */
#define CTL_PATH_HEAP_DIFF "/heap/diff"            /* ?from=T&to=T&limit=N */
#define CTL_PATH_GOROUTINE_DIFF "/goroutines/diff" /* ?from=T&to=T&limit=N */
#define CTL_PATH_INSIGHTS "/insights"

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
    OPT_ENDPOINT,
    OPT_VARS_PATH,
    OPT_HEAP_PATH,
    OPT_GOROUTINE_PATH,
    OPT_METRICS_PATH,
    OPT_RUNTIME_INTERVAL,
    OPT_PROFILE_INTERVAL,
    OPT_HEAP_GC,
    OPT_GOROUTINES,
    OPT_LIMIT,
    OPT_ALL,
    OPT_DETECT_WINDOW,
    OPT_MIN_GROWTH,
    OPT_MIN_RELATIVE_GROWTH,
    OPT_MIN_GOROUTINE_GROWTH,
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
    "      [--endpoint URL [GO OPTIONS]]\n"
    "                      sample one process, or every process whose name (with --cmdline:\n"
    "                      whose command line) matches REGEX; with --endpoint, also read the\n"
    "                      Go runtime statistics and profiles the process serves at URL\n"
    "  remove NAME         stop sampling NAME and forget its target\n"
    "  list                all targets with state, RSS, PSS, Go runtime and last sample\n"
    "  show NAME           one target in detail: verdict, alerts, Go runtime, insights,\n"
    "                      breakdown\n"
    "  breakdown NAME [--since DUR]\n"
    "                      what the RSS is made of; --since adds how each part changed\n"
    "  diff NAME [--since DUR | --from T] [--until T] [--goroutines] [--limit N]\n"
    "                      the Go functions whose heap in use (with --goroutines: whose\n"
    "                      goroutines) grew most, by default the top 10 over the last hour\n"
    "  insights NAME       memory the Go runtime keeps after a burst, heavy garbage churn and\n"
    "                      where it is allocated: what is worth knowing, not alerts\n"
    "  series NAME METRIC [--since DUR | --from T] [--until T] [--step DUR]\n"
    "                      stored values of METRIC (e.g. rss_bytes, pss_bytes, threads), by\n"
    "                      default for the last hour; --step aggregates to min/avg/max\n"
    "  alerts [NAME] [--all]\n"
    "                      pending and firing leak alerts (of NAME), with their culprits;\n"
    "                      --all adds the resolved ones of the last 30 days\n"
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
    "Go options of add (they need --endpoint):\n"
    "  --endpoint URL      http://HOST:PORT[/PREFIX], where the process serves its debug handlers\n"
    "  --vars-path P       expvar JSON; P is a path under URL, such as /debug/vars\n"
    "  --metrics-path P    Prometheus text exposition\n"
    "  --heap-path P       pprof heap profile\n"
    "  --goroutine-path P  pprof goroutine profile\n"
    "  --runtime-interval DUR  how often to read vars and metrics\n"
    "  --profile-interval DUR  how often to take the heap and goroutine profiles\n"
    "  --heap-gc           have the process collect garbage before each heap profile, so the\n"
    "                      profile is current, not as of the last GC (each costs a full GC)\n"
    "Without them the daemon's defaults apply.\n"
    "\n"
    "Leak detection options of add (default: the daemon's [detect] settings):\n"
    "  --detect-window DUR judge growth over this much history (default 30m)\n"
    "  --min-growth SIZE   growth under SIZE an hour is never a leak (default 4MiB)\n"
    "  --min-relative-growth PCT  nor under PCT percent of the level an hour (default 2)\n"
    "  --min-goroutine-growth N   nor fewer than N more goroutines an hour (default 50)\n"
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

/* A refusal the caller reports itself instead of ctl_request_ex: the statuses it wants to
 * handle go in, the status and the daemon's error text (or NULL; free() it) come out. */
struct ctl_refusal {
    const long *quiet; /* 0-terminated */
    long status;       /* 0 unless one of quiet happened */
    char *error;
};

/* Sends one request and reduces every failure to one message and an exit status.  On
 * success *out is the parsed 2xx answer, always a JSON object (json_decref it), and with
 * --json the body has already been printed as-is.  refusal may be NULL; an answer with one of
 * its quiet statuses returns CTL_EXIT_DAEMON without a message. */
static int ctl_request_ex(struct ctl *ctl, const char *method, const char *path, json_t *body,
                          json_t **out, struct ctl_refusal *refusal)
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
        const long *q;

        for (q = refusal != NULL ? refusal->quiet : NULL; q != NULL && *q != 0; q++)
            if (*q == resp.status)
                break;
        if (q != NULL && *q != 0) {
            refusal->status = resp.status;
            refusal->error = msg != NULL ? xstrdup(msg) : NULL;
        } else if (msg != NULL) {
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

static int ctl_request(struct ctl *ctl, const char *method, const char *path, json_t *body,
                       json_t **out)
{
    return ctl_request_ex(ctl, method, path, body, out, NULL);
}

/* API_TARGETS "/{name}" plus suffix, with the name percent-encoded. */
static char *target_path(struct ctl *ctl, const char *name, const char *suffix)
{
    char *escaped = http_client_escape(ctl->http, name);
    char *path = xasprintf(API_TARGETS "/%s%s", escaped, suffix);

    free(escaped);
    return path;
}

/* add's options that go into the request body as given, under field. */
static const struct add_field {
    int opt;
    const char *option;
    const char *field;
    bool is_path;        /* a path under --endpoint, else a positive duration */
    bool needs_endpoint; /* meaningless without --endpoint */
    const char *example;
} add_fields[] = {
    {OPT_INTERVAL, "--interval", "interval", false, false, "1s or 500ms"},
    {OPT_SMAPS_INTERVAL, "--smaps-interval", "smaps_interval", false, false, "1s or 500ms"},
    {OPT_RUNTIME_INTERVAL, "--runtime-interval", "runtime_interval", false, true, "5s or 1m"},
    {OPT_PROFILE_INTERVAL, "--profile-interval", "profile_interval", false, true, "1m or 30s"},
    {OPT_VARS_PATH, "--vars-path", "vars_path", true, true, "/debug/vars"},
    {OPT_METRICS_PATH, "--metrics-path", "metrics_path", true, true, "/metrics"},
    {OPT_HEAP_PATH, "--heap-path", "heap_path", true, true, "/debug/pprof/heap"},
    {OPT_GOROUTINE_PATH, "--goroutine-path", "goroutine_path", true, true,
     "/debug/pprof/goroutine"},
    {OPT_DETECT_WINDOW, "--detect-window", "detect_window", false, false, "2h or 90m"},
};
#define ADD_FIELD_COUNT (sizeof(add_fields) / sizeof(add_fields[0]))

/* The characters of a URL path (RFC 3986: unreserved, sub-delims, ':', '@', '/' and
 * percent-escapes), and '?' when a query may follow.  Nothing that needs quoting, so what
 * the user typed is the URL the daemon fetches. */
static bool url_path_valid(const char *p, bool query)
{
    for (; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (strchr("-._~!$&'()*+,;=:@/%", c) == NULL && !(query && c == '?'))
            return false;
    }
    return true;
}

/* --endpoint: http://HOST:PORT[/PREFIX], HOST a name, an IPv4 address or an [IPv6] one.
 * The daemon fetches plain, lower-case http:// only, and a debug port is never implied. */
static bool endpoint_valid(const char *url)
{
    const char *p, *host;
    char digits[8];
    int64_t port;
    size_t n;

    if (strncmp(url, "http://", 7) != 0)
        return false;
    p = host = url + 7;
    if (*p == '[') {
        p += strspn(p + 1, "0123456789abcdefABCDEF:.") + 1;
        if (*p != ']' || p == host + 1)
            return false;
        p++;
    } else {
        p += strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._");
        if (p == host)
            return false;
    }
    if (*p++ != ':')
        return false;
    n = strspn(p, "0123456789");
    if (n == 0 || n >= sizeof(digits))
        return false;
    memcpy(digits, p, n);
    digits[n] = '\0';
    if (parse_int64(digits, 1, 65535, &port) != 0)
        return false;
    p += n;
    return *p == '\0' || (*p == '/' && url_path_valid(p, false));
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
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"vars-path", required_argument, NULL, OPT_VARS_PATH},
        {"metrics-path", required_argument, NULL, OPT_METRICS_PATH},
        {"heap-path", required_argument, NULL, OPT_HEAP_PATH},
        {"goroutine-path", required_argument, NULL, OPT_GOROUTINE_PATH},
        {"runtime-interval", required_argument, NULL, OPT_RUNTIME_INTERVAL},
        {"profile-interval", required_argument, NULL, OPT_PROFILE_INTERVAL},
        {"heap-gc", no_argument, NULL, OPT_HEAP_GC},
        {"detect-window", required_argument, NULL, OPT_DETECT_WINDOW},
        {"min-growth", required_argument, NULL, OPT_MIN_GROWTH},
        {"min-relative-growth", required_argument, NULL, OPT_MIN_RELATIVE_GROWTH},
        {"min-goroutine-growth", required_argument, NULL, OPT_MIN_GOROUTINE_GROWTH},
        {NULL, 0, NULL, 0},
    };
    const char *min_growth = NULL;
    int64_t min_relative = -1, min_goroutines = -1;
    uint64_t bytes;
    const char *match = NULL, *endpoint = NULL, *name, *state;
    const char *values[ADD_FIELD_COUNT] = {NULL};
    bool cmdline = false, have_pid = false, heap_gc = false;
    json_t *body, *answer, *match_json;
    int64_t pid = 0, ms;
    int c, stop = -1, ret;
    char *selector;
    size_t i;

    while ((c = next_option(ctl, cmd, argc, argv, ":h", longopts, &stop)) != -1) {
        switch (c) {
        case OPT_PID:
            if (parse_int64(optarg, 1, INT32_MAX, &pid) != 0)
                return usage_error(cmd, "--pid needs a process id, not \"%s\"", optarg);
            have_pid = true;
            break;
        case OPT_MATCH: match = optarg; break;
        case OPT_CMDLINE: cmdline = true; break;
        case OPT_ENDPOINT:
            if (!endpoint_valid(optarg))
                return usage_error(cmd,
                                   "--endpoint needs http://HOST:PORT[/PREFIX], such as "
                                   "http://127.0.0.1:6060, not \"%s\"",
                                   optarg);
            endpoint = optarg;
            break;
        case OPT_HEAP_GC: heap_gc = true; break;
        case OPT_MIN_GROWTH:
            if (parse_size_bytes(optarg, &bytes) != 0)
                return usage_error(cmd, "--min-growth needs bytes an hour such as 16MiB, not \"%s\"",
                                   optarg);
            min_growth = optarg;
            break;
        case OPT_MIN_RELATIVE_GROWTH:
            if (parse_int64(optarg, 0, 1000, &min_relative) != 0)
                return usage_error(cmd, "--min-relative-growth needs a percentage an hour "
                                        "(0-1000), not \"%s\"", optarg);
            break;
        case OPT_MIN_GOROUTINE_GROWTH:
            if (parse_int64(optarg, 0, 1000000000, &min_goroutines) != 0)
                return usage_error(cmd, "--min-goroutine-growth needs goroutines an hour, "
                                        "not \"%s\"", optarg);
            break;
        default:
            for (i = 0; i < ADD_FIELD_COUNT && add_fields[i].opt != c; i++)
                ;
            if (i == ADD_FIELD_COUNT)
                break;
            if (add_fields[i].is_path ? optarg[0] != '/' || !url_path_valid(optarg, true)
                                      : parse_duration_ms(optarg, &ms) != 0 || ms <= 0)
                return usage_error(
                    cmd, "%s needs a %s such as %s, not \"%s\"", add_fields[i].option,
                    add_fields[i].is_path ? "path" : "duration", add_fields[i].example, optarg);
            values[i] = optarg;
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
    if (endpoint == NULL) {
        for (i = 0; i < ADD_FIELD_COUNT; i++)
            if (values[i] != NULL && add_fields[i].needs_endpoint)
                return usage_error(cmd, "%s only applies with --endpoint", add_fields[i].option);
        if (heap_gc)
            return usage_error(cmd, "--heap-gc only applies with --endpoint");
    }
    /* The daemon asks for the GC by appending "?gc=1" to the heap path. */
    for (i = 0; i < ADD_FIELD_COUNT; i++)
        if (heap_gc && add_fields[i].opt == OPT_HEAP_PATH && values[i] != NULL &&
            strchr(values[i], '?') != NULL)
            return usage_error(cmd, "--heap-gc needs a --heap-path without a '?' query");

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
    /* Everything below was checked to be ASCII, so json_string cannot refuse it. */
    if (endpoint != NULL)
        (void)json_object_set_new(body, "endpoint", json_string(endpoint));
    for (i = 0; i < ADD_FIELD_COUNT; i++)
        if (values[i] != NULL)
            (void)json_object_set_new(body, add_fields[i].field, json_string(values[i]));
    if (heap_gc)
        (void)json_object_set_new(body, "heap_gc", json_true());
    if (min_growth != NULL)
        (void)json_object_set_new(body, "detect_min_growth", json_string(min_growth));
    if (min_relative >= 0)
        (void)json_object_set_new(body, "detect_min_relative_growth", json_integer(min_relative));
    if (min_goroutines >= 0)
        (void)json_object_set_new(body, "detect_min_goroutine_growth",
                                  json_integer(min_goroutines));

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

/* The part `remove`, `show` and `insights` share: exactly one target NAME, checked, then
 * METHOD on its path with suffix.  CTL_EXIT_OK with *answer (json_decref it), or the exit
 * status (usage error, unreachable daemon, refusal). */
static int request_target(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv,
                          const char *method, const char *suffix, json_t **answer)
{
    char *path;
    int ret;

    *answer = NULL;
    if ((ret = parse_plain_command(ctl, cmd, argc, argv, 1)) >= 0)
        return ret;
    if ((ret = check_target_name(cmd, argv[optind])) >= 0)
        return ret;
    if ((ret = ctl_connect(ctl)) != CTL_EXIT_OK)
        return ret;
    path = target_path(ctl, argv[optind], suffix);
    ret = ctl_request(ctl, method, path, NULL, answer);
    free(path);
    return ret;
}

static int cmd_remove(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    json_t *answer;
    int ret = request_target(ctl, cmd, argc, argv, "DELETE", "", &answer);

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

/* The end of `show` for a Go target.  Until the daemon has scraped the runtime it answers
 * 409 (or 404), which is a state worth a line, not a failure of `show`. */
static int show_breakdown(struct ctl *ctl, const char *name)
{
    static const long not_yet[] = {404, 409, 0};
    struct ctl_refusal refusal = {.quiet = not_yet};
    char *path = target_path(ctl, name, CTL_PATH_BREAKDOWN), *why;
    json_t *answer;
    int ret;

    ret = ctl_request_ex(ctl, "GET", path, NULL, &answer, &refusal);
    free(path);
    if (ret == CTL_EXIT_OK || refusal.status != 0)
        putchar('\n');
    if (ret == CTL_EXIT_OK) {
        render_breakdown(stdout, answer, false);
    } else if (refusal.status != 0) {
        why =
            refusal.error != NULL ? xstrdup(refusal.error) : xasprintf("HTTP %ld", refusal.status);
        render_breakdown_unavailable(stdout, why);
        free(why);
        ret = CTL_EXIT_OK;
    }
    free(refusal.error);
    json_decref(answer);
    return ret;
}

/* The end of `show`: the target's pending and firing alerts, if any. */
static int show_alerts(struct ctl *ctl, const char *name)
{
    char *path = target_path(ctl, name, "/alerts");
    json_t *answer, *alerts;
    int ret = ctl_request(ctl, "GET", path, NULL, &answer);

    free(path);
    alerts = json_object_get(answer, "alerts");
    if (ret == CTL_EXIT_OK && json_array_size(alerts) > 0) {
        putchar('\n');
        render_alerts(stdout, alerts, now_wall_ms());
    }
    json_decref(answer);
    return ret;
}

static int cmd_alerts(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONG_OPTIONS,
        {"all", no_argument, NULL, OPT_ALL},
        {NULL, 0, NULL, 0},
    };
    bool all = false;
    int c, stop = -1, ret;
    char *path;
    json_t *answer, *alerts;

    while ((c = next_option(ctl, cmd, argc, argv, ":h", longopts, &stop)) != -1)
        if (c == OPT_ALL)
            all = true;
    if (stop >= 0)
        return stop;
    if (argc - optind > 1)
        return usage_error(cmd, "alerts takes at most one target NAME");
    if (argc - optind == 1 && (ret = check_target_name(cmd, argv[optind])) >= 0)
        return ret;
    if ((ret = ctl_connect(ctl)) != CTL_EXIT_OK)
        return ret;
    if (argc - optind == 1)
        path = target_path(ctl, argv[optind], all ? "/alerts?all=1" : "/alerts");
    else
        path = xstrdup(all ? API_ALERTS "?all=1" : API_ALERTS);
    ret = ctl_request(ctl, "GET", path, NULL, &answer);
    free(path);
    if (ret == CTL_EXIT_OK && !ctl->json) {
        alerts = json_object_get(answer, "alerts");
        if (json_is_array(alerts)) {
            render_alerts(stdout, alerts, now_wall_ms());
        } else {
            fprintf(stderr, "memwatchctl: the answer has no \"alerts\" list; is it memwatchd?\n");
            ret = CTL_EXIT_DAEMON;
        }
    }
    json_decref(answer);
    return ret;
}

static int cmd_show(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    json_t *answer;
    int ret = request_target(ctl, cmd, argc, argv, "GET", "", &answer);

    /* --json stays one JSON document, the target's; `breakdown --json` has the rest. */
    if (ret == CTL_EXIT_OK && !ctl->json) {
        render_target(stdout, answer, now_wall_ms());
        ret = show_alerts(ctl, argv[optind]);
        if (ret == CTL_EXIT_OK && json_is_object(json_object_get(answer, "runtime")))
            ret = show_breakdown(ctl, argv[optind]);
    }
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

#define CTL_SINCE_USAGE "--since needs a duration such as 30m or 24h, not \"%s\""

/* --since's duration without a sign: "--since -1h" reads naturally too, and the sign is
 * implied either way.  NULL if it is not a duration. */
static const char *since_duration(const char *arg)
{
    const char *since = arg[0] == '-' ? arg + 1 : arg;
    int64_t ms;

    return parse_duration_ms(since, &ms) == 0 ? since : NULL;
}

/* The from and to query values of --since/--from/--until, percent-encoded (free() them):
 * by default the last CTL_DEFAULT_SINCE until now.  Connects, so that it can encode. */
static int time_range(struct ctl *ctl, const struct ctl_command *cmd, const char *since,
                      const char *from_arg, const char *until_arg, char **e_from, char **e_until)
{
    char *from = NULL, *until = NULL;
    int ret;

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
    *e_from = http_client_escape(ctl->http, from);
    *e_until = http_client_escape(ctl->http, until);
    free(from);
    free(until);
    return CTL_EXIT_OK;
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
    char *e_name, *e_metric, *e_from, *e_until, *e_step, *path;
    int c, stop = -1, ret;
    json_t *answer;
    int64_t ms;

    while ((c = next_option(ctl, cmd, argc, argv, ":h", longopts, &stop)) != -1) {
        switch (c) {
        case OPT_SINCE:
            if ((since = since_duration(optarg)) == NULL)
                return usage_error(cmd, CTL_SINCE_USAGE, optarg);
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
    if ((ret = time_range(ctl, cmd, since, from_arg, until_arg, &e_from, &e_until)) != CTL_EXIT_OK)
        return ret;

    e_name = http_client_escape(ctl->http, argv[optind]);
    e_metric = http_client_escape(ctl->http, argv[optind + 1]);
    e_step = step != NULL ? http_client_escape(ctl->http, step) : NULL;
    path = xasprintf(API_TARGETS "/%s/series?metric=%s&from=%s&to=%s%s%s", e_name, e_metric, e_from,
                     e_until, e_step != NULL ? "&step=" : "", e_step != NULL ? e_step : "");
    free(e_name);
    free(e_metric);
    free(e_from);
    free(e_until);
    free(e_step);

    ret = ctl_request(ctl, "GET", path, NULL, &answer);
    free(path);
    if (ret == CTL_EXIT_OK && !ctl->json)
        render_series(stdout, answer);
    json_decref(answer);
    return ret;
}

static int cmd_breakdown(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONG_OPTIONS,
        {"since", required_argument, NULL, OPT_SINCE},
        {NULL, 0, NULL, 0},
    };
    const char *since = NULL;
    char *e_since, *path, *query;
    int c, stop = -1, ret;
    json_t *answer;

    while ((c = next_option(ctl, cmd, argc, argv, ":h", longopts, &stop)) != -1)
        if (c == OPT_SINCE && (since = since_duration(optarg)) == NULL)
            return usage_error(cmd, CTL_SINCE_USAGE, optarg);
    if (stop >= 0)
        return stop;
    if (argc - optind != 1)
        return usage_error(cmd, "breakdown needs one target NAME");
    if ((ret = check_target_name(cmd, argv[optind])) >= 0)
        return ret;
    if ((ret = ctl_connect(ctl)) != CTL_EXIT_OK)
        return ret;

    /* Without "from" the daemon answers the breakdown now; with it, also the change since. */
    if (since != NULL) {
        e_since = http_client_escape(ctl->http, since);
        query = xasprintf(CTL_PATH_BREAKDOWN "?from=-%s", e_since);
        free(e_since);
    } else {
        query = xstrdup(CTL_PATH_BREAKDOWN);
    }
    path = target_path(ctl, argv[optind], query);
    free(query);
    ret = ctl_request(ctl, "GET", path, NULL, &answer);
    free(path);
    if (ret == CTL_EXIT_OK && !ctl->json)
        render_breakdown(stdout, answer, since != NULL);
    json_decref(answer);
    return ret;
}

static int cmd_diff(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONG_OPTIONS,
        {"since", required_argument, NULL, OPT_SINCE},
        {"from", required_argument, NULL, OPT_FROM},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"goroutines", no_argument, NULL, OPT_GOROUTINES},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    const char *since = NULL, *from_arg = NULL, *until_arg = NULL;
    char *e_from, *e_until, *query, *path;
    int64_t limit = CTL_DEFAULT_LIMIT;
    bool goroutines = false;
    int c, stop = -1, ret;
    json_t *answer;

    while ((c = next_option(ctl, cmd, argc, argv, ":h", longopts, &stop)) != -1) {
        switch (c) {
        case OPT_SINCE:
            if ((since = since_duration(optarg)) == NULL)
                return usage_error(cmd, CTL_SINCE_USAGE, optarg);
            break;
        case OPT_FROM: from_arg = optarg; break;
        case OPT_UNTIL: until_arg = optarg; break;
        case OPT_GOROUTINES: goroutines = true; break;
        case OPT_LIMIT:
            if (parse_int64(optarg, 1, INT32_MAX, &limit) != 0)
                return usage_error(cmd, "--limit needs a positive number, not \"%s\"", optarg);
            break;
        }
    }
    if (stop >= 0)
        return stop;
    if (argc - optind != 1)
        return usage_error(cmd, "diff needs one target NAME");
    if ((ret = check_target_name(cmd, argv[optind])) >= 0)
        return ret;
    if ((ret = time_range(ctl, cmd, since, from_arg, until_arg, &e_from, &e_until)) != CTL_EXIT_OK)
        return ret;

    query = xasprintf("%s?from=%s&to=%s&limit=%" PRId64,
                      goroutines ? CTL_PATH_GOROUTINE_DIFF : CTL_PATH_HEAP_DIFF, e_from, e_until,
                      limit);
    path = target_path(ctl, argv[optind], query);
    free(query);
    free(e_from);
    free(e_until);
    ret = ctl_request(ctl, "GET", path, NULL, &answer);
    free(path);
    if (ret == CTL_EXIT_OK && !ctl->json) {
        if (goroutines)
            render_goroutine_diff(stdout, answer);
        else
            render_heap_diff(stdout, answer);
    }
    json_decref(answer);
    return ret;
}

static int cmd_insights(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv)
{
    json_t *answer;
    int ret = request_target(ctl, cmd, argc, argv, "GET", CTL_PATH_INSIGHTS, &answer);

    if (ret == CTL_EXIT_OK && !ctl->json)
        render_insights(stdout, json_object_get(answer, "insights"),
                        json_object_get(answer, "window"));
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
     "[--smaps-interval DUR] [--endpoint URL [--vars-path P] [--metrics-path P] "
     "[--heap-path P] [--goroutine-path P] [--runtime-interval DUR] [--profile-interval DUR] "
     "[--heap-gc]] [--detect-window DUR] [--min-growth SIZE] [--min-relative-growth PCT] "
     "[--min-goroutine-growth N]",
     cmd_add},
    {"remove", "NAME", cmd_remove},
    {"list", "", cmd_list},
    {"show", "NAME", cmd_show},
    {"breakdown", "NAME [--since DUR]", cmd_breakdown},
    {"diff", "NAME [--since DUR | --from T] [--until T] [--goroutines] [--limit N]", cmd_diff},
    {"insights", "NAME", cmd_insights},
    {"series", "NAME METRIC [--since DUR | --from T] [--until T] [--step DUR]", cmd_series},
    {"alerts", "[NAME] [--all]", cmd_alerts},
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
