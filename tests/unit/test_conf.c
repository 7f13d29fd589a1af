/* test_conf.c - configuration parsing: defaults, the INI reader, bounds, errors with
 * file:line, listen addresses, the [alerts] section (URLs, a command, the payload format),
 * and that the written effective config reads back the same. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"
#include "log.h"

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/mwconf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    struct mw_config c;
    conf_defaults(&c);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 7464);
    assert_int_equal(c.interval_ms, 1000);
    assert_int_equal(c.smaps_interval_ms, 30000);
    assert_int_equal(c.flush_interval_ms, 10000);
    assert_int_equal(c.raw_retention_ms, 24LL * 3600 * 1000);
    assert_int_equal(c.rollup_retention_ms, 30LL * 24 * 3600 * 1000);
    assert_true(c.watch_self);
    assert_int_equal(c.state_dir[0], '\0');
    assert_true(c.alerts_journal);
    assert_string_equal(c.alerts_webhook, "");
    assert_int_equal(c.alerts_webhook_format, 0);
    assert_string_equal(c.alerts_exec, "");
    assert_int_equal(c.alerts_timeout_ms, 10000);
    assert_int_equal(c.alerts_max_attempts, 8);
    assert_int_equal(c.alerts_retry_initial_ms, 5000);
    assert_int_equal(c.alerts_retry_max_ms, 300000);
    assert_int_equal(c.alerts_queue_max, 256);
    assert_string_equal(c.alerts_external_url, "");
}

static void test_load_all_keys(void **state)
{
    const char *text =
        "# a comment\n"
        "; another\n"
        "[daemon]\n"
        "listen = 127.0.0.1:9999\n"
        "state_dir = /tmp/mwstate\n"
        "log_level = debug\n"
        "watch_self = no\n"
        "\n"
        "[sampling]\n"
        "  interval = 500ms  \n"
        "smaps_interval = 1m\n"
        "[storage]\n"
        "flush_interval = 2s\n"
        "raw_retention = 48h\n"
        "rollup_retention = 7d\n"
        "[api]\n"
        "max_body = 128KiB\n"
        "max_connections = 10\n"
        "connection_timeout = 30s\n"
        "[alerts]\n"
        "journal = no\n"
        "webhook = https://hooks.example.com/services/T0/B0/secret?x=1#frag\n"
        "webhook_format = alertmanager\n"
        "exec = /usr/local/bin/page-oncall --target \"$MEMWATCH_TARGET\" # not a comment\n"
        "timeout = 3s\n"
        "max_attempts = 12\n"
        "retry_initial = 500ms\n"
        "retry_max = 1h\n"
        "queue_max = 1000\n"
        "external_url = http://memwatch.example:7464\n";
    char *path = write_temp(text);
    struct mw_config c;
    conf_defaults(&c);
    char *err = NULL;
    assert_int_equal(conf_load_file(&c, path, &err), 0);
    unlink(path);
    assert_null(err);
    assert_int_equal(c.listen_port, 9999);
    assert_string_equal(c.state_dir, "/tmp/mwstate");
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_false(c.watch_self);
    assert_int_equal(c.interval_ms, 500);
    assert_int_equal(c.smaps_interval_ms, 60000);
    assert_int_equal(c.flush_interval_ms, 2000);
    assert_int_equal(c.raw_retention_ms, 48LL * 3600 * 1000);
    assert_int_equal(c.rollup_retention_ms, 7LL * 24 * 3600 * 1000);
    assert_int_equal(c.max_body_bytes, 128 * 1024);
    assert_int_equal(c.max_connections, 10);
    assert_int_equal(c.connection_timeout_ms, 30000);
    assert_false(c.alerts_journal);
    assert_string_equal(c.alerts_webhook,
                        "https://hooks.example.com/services/T0/B0/secret?x=1#frag");
    assert_int_equal(c.alerts_webhook_format, 1);
    /* The value is the rest of the line: a shell command may hold '#' and quotes. */
    assert_string_equal(c.alerts_exec,
                        "/usr/local/bin/page-oncall --target \"$MEMWATCH_TARGET\" # not a comment");
    assert_int_equal(c.alerts_timeout_ms, 3000);
    assert_int_equal(c.alerts_max_attempts, 12);
    assert_int_equal(c.alerts_retry_initial_ms, 500);
    assert_int_equal(c.alerts_retry_max_ms, 3600 * 1000);
    assert_int_equal(c.alerts_queue_max, 1000);
    assert_string_equal(c.alerts_external_url, "http://memwatch.example:7464");
}

/* Empty strings say "none"; the format names are the only ones. */
static void test_alerts_values(void **state)
{
    struct mw_config c;
    conf_defaults(&c);
    char *err = NULL;
    assert_int_equal(
        conf_set(&c, "alerts", "webhook", "HTTP://127.0.0.1:9093/api/v2/alerts", &err), 0);
    assert_int_equal(conf_set(&c, "alerts", "webhook", "", &err), 0);
    assert_string_equal(c.alerts_webhook, "");
    assert_int_equal(conf_set(&c, "alerts", "exec", "", &err), 0);
    assert_int_equal(conf_set(&c, "alerts", "webhook_format", "memwatch", &err), 0);
    assert_int_equal(c.alerts_webhook_format, 0);
    assert_true(conf_set(&c, "alerts", "webhook_format", "Alertmanager", &err) < 0);
    assert_non_null(strstr(err, "is not memwatch or alertmanager"));
    free(err);
    char long_cmd[1100];
    memset(long_cmd, 'x', sizeof long_cmd - 1);
    long_cmd[sizeof long_cmd - 1] = '\0';
    assert_true(conf_set(&c, "alerts", "exec", long_cmd, &err) < 0);
    free(err);
    assert_string_equal(c.alerts_exec, "");
}

/* Each bad file must fail, and the message must name the line. */
static void test_errors_name_the_line(void **state)
{
    static const struct {
        const char *text;
        const char *expect;     /* substring of the error */
    } cases[] = {
        { "[daemon]\nlisten = 127.0.0.1:7464\nbogus = 1\n", ":3: unknown key \"bogus\"" },
        { "[nosuch]\nx = 1\n", ":1: unknown section [nosuch]" },
        { "interval = 1s\n", ":1: \"interval\" is outside any [section]" },
        { "[sampling]\ninterval = fast\n", ":2: interval: \"fast\" is not a duration" },
        { "[sampling]\ninterval = 10ms\n", ":2: interval" },               /* below 100ms */
        { "[sampling]\ninterval = -1s\n", ":2: interval" },
        { "[storage]\nflush_interval = 2h\n", ":2: flush_interval" },     /* above 1h */
        { "[api]\nmax_body = 1PiB\n", ":2: max_body" },
        { "[api]\nmax_connections = 0\n", ":2: max_connections" },
        { "[api]\nmax_connections = 12abc\n", ":2: max_connections" },
        { "[daemon]\nwatch_self = maybe\n", ":2: watch_self" },
        { "[daemon]\nlog_level = loud\n", ":2: log_level" },
        { "[daemon]\nstate_dir = relative/path\n", ":2: state_dir" },
        { "[daemon]\nlisten = 127.0.0.1\n", ":2: listen" },
        { "[daemon]\nlisten = 127.0.0.1:70000\n", ":2: listen" },
        { "[daemon]\nlisten = example.com:80\n", ":2: listen" },
        { "[daemon\nlisten = 127.0.0.1:1\n", ":1: malformed section header" },
        { "[daemon]\njust some words\n", ":2: expected \"key = value\"" },
        { "[alerts]\nwebhook = ftp://example.com/x\n",
          ":2: webhook: \"ftp://example.com/x\" is not an http" },
        { "[alerts]\nwebhook = example.com/hook\n", ":2: webhook" },
        { "[alerts]\nwebhook = http:///path\n", ":2: webhook" },
        { "[alerts]\nwebhook = http://a b/\n", ":2: webhook" },
        { "[alerts]\nwebhook_format = slack\n",
          ":2: webhook_format: \"slack\" is not memwatch or alertmanager" },
        { "[alerts]\njournal = sometimes\n", ":2: journal" },
        { "[alerts]\ntimeout = 20m\n", ":2: timeout" },                 /* above 10m */
        { "[alerts]\ntimeout = 10ms\n", ":2: timeout" },
        { "[alerts]\nmax_attempts = 0\n", ":2: max_attempts" },
        { "[alerts]\nretry_initial = 0s\n", ":2: retry_initial" },
        { "[alerts]\nretry_max = 2d\n", ":2: retry_max" },
        { "[alerts]\nqueue_max = 0\n", ":2: queue_max" },
        { "[alerts]\nexternal_url = memwatch.example\n", ":2: external_url" },
        { "[alerts]\nwebhooks = http://x/\n", ":2: unknown key \"webhooks\" in [alerts]" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = write_temp(cases[i].text);
        struct mw_config c;
        conf_defaults(&c);
        char *err = NULL;
        int r = conf_load_file(&c, path, &err);
        unlink(path);
        if (r >= 0 || !err || !strstr(err, cases[i].expect))
            fail_msg("case %zu: rc=%d err=%s (wanted \"%s\")", i, r, err ? err : "(none)",
                     cases[i].expect);
        free(err);
    }
}

static void test_missing_file(void **state)
{
    struct mw_config c;
    conf_defaults(&c);
    char *err = NULL;
    assert_true(conf_load_file(&c, "/nonexistent/memwatchd.conf", &err) < 0);
    assert_non_null(strstr(err, "/nonexistent/memwatchd.conf"));
    free(err);
}

static void test_listen_forms(void **state)
{
    struct mw_config c;
    conf_defaults(&c);
    char *err = NULL;
    assert_int_equal(conf_set_listen(&c, "[::1]:8080", &err), 0);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(conf_set_listen(&c, "localhost:0", &err), 0);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 0);
    assert_true(conf_set_listen(&c, "[::1:80", &err) < 0);
    free(err);
}

/* What --check-config prints must load back into the same configuration. */
static void test_written_config_reads_back(void **state)
{
    struct mw_config a, b;
    conf_defaults(&a);
    char *err = NULL;
    assert_int_equal(conf_set(&a, "sampling", "interval", "1500ms", &err), 0);
    assert_int_equal(conf_set(&a, "storage", "raw_retention", "36h", &err), 0);
    assert_int_equal(conf_set(&a, "daemon", "state_dir", "/var/tmp/x", &err), 0);
    assert_int_equal(conf_set(&a, "daemon", "listen", "[::1]:7000", &err), 0);
    assert_int_equal(conf_set(&a, "alerts", "journal", "no", &err), 0);
    assert_int_equal(
        conf_set(&a, "alerts", "webhook", "https://am.example/api/v2/alerts", &err), 0);
    assert_int_equal(conf_set(&a, "alerts", "webhook_format", "alertmanager", &err), 0);
    assert_int_equal(conf_set(&a, "alerts", "exec", "notify-send \"$MEMWATCH_SUMMARY\"", &err), 0);
    assert_int_equal(conf_set(&a, "alerts", "retry_initial", "1500ms", &err), 0);
    char path[] = "/tmp/mwconf-rt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    conf_write(&a, f);
    fclose(f);
    conf_defaults(&b);
    int r = conf_load_file(&b, path, &err);
    if (r < 0)
        fail_msg("reading back: %s", err);
    unlink(path);
    assert_int_equal(memcmp(&a, &b, sizeof a), 0);

    /* Empty strings too ("webhook =" reads back as none). */
    conf_defaults(&a);
    snprintf(path, sizeof path, "/tmp/mwconf-rt-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    conf_write(&a, f);
    fclose(f);
    conf_defaults(&b);
    assert_int_equal(conf_set(&b, "alerts", "webhook", "http://x/", &err), 0);
    r = conf_load_file(&b, path, &err);
    if (r < 0)
        fail_msg("reading back: %s", err);
    unlink(path);
    assert_int_equal(memcmp(&a, &b, sizeof a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_all_keys),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_alerts_values),
        cmocka_unit_test(test_written_config_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
