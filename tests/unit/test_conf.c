/* test_conf.c - configuration parsing: defaults, the INI reader, bounds, errors with
 * file:line, listen addresses, and that the written effective config reads back the same. */
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
        "connection_timeout = 30s\n";
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_all_keys),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_written_config_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
