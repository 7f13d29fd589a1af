/* main.c - memwatchd: start-up, the main loop, signals, systemd notification, shutdown.
 *
 * One thread does everything, in this order every iteration: sample the targets that are
 * due, let the store flush if its interval has passed, serve HTTP.  poll() sleeps until the
 * next sample, an HTTP event or a signal (signalfd), never longer than a second. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "api.h"
#include "conf.h"
#include "http.h"
#include "leak.h"
#include "log.h"
#include "gorun.h"
#include "procmem.h"
#include "profstore.h"
#include "scrape.h"
#include "store.h"
#include "targets.h"
#include "util.h"

#define DEFAULT_CONFIG_FILE SYSCONFDIR "/memwatch/memwatchd.conf"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: memwatchd [OPTION]...\n"
            "Watch the memory of processes, keep its history, serve it over HTTP.\n"
            "\n"
            "  -l, --listen HOST:PORT   where to serve the API (default 127.0.0.1:7464)\n"
            "  -s, --state-dir DIR      where memwatch.db lives (default: /var/lib/memwatch as\n"
            "                           root, else $XDG_STATE_HOME/memwatch)\n"
            "  -c, --config FILE        configuration file (default " DEFAULT_CONFIG_FILE
            " if it exists;\n"
            "                           every key has a built-in default)\n"
            "      --log-level LEVEL    error, warning, notice, info (default) or debug\n"
            "      --check-config       check the configuration, print it and exit\n"
            "  -h, --help               show this help\n"
            "  -V, --version            show the version\n"
            "\n"
            "Signals: SIGTERM/SIGINT flush and exit; SIGHUP reloads the configuration file.\n");
}

struct options {
    const char *config_path;    /* NULL: the default file, if present */
    const char *listen;
    const char *state_dir;
    const char *log_level;
    bool check_only;
};

/* Builds the configuration: defaults, then the file, then the command line. */
static int load_config(const struct options *opt, struct mw_config *cfg, char **err)
{
    conf_defaults(cfg);
    const char *path = opt->config_path;
    if (!path && access(DEFAULT_CONFIG_FILE, F_OK) == 0)
        path = DEFAULT_CONFIG_FILE;
    if (path && conf_load_file(cfg, path, err) < 0)
        return -EINVAL;
    if (opt->listen && conf_set_listen(cfg, opt->listen, err) < 0)
        return -EINVAL;
    if (opt->state_dir && conf_set(cfg, "daemon", "state_dir", opt->state_dir, err) < 0)
        return -EINVAL;
    if (opt->log_level && conf_set(cfg, "daemon", "log_level", opt->log_level, err) < 0)
        return -EINVAL;
    conf_resolve_state_dir(cfg);
    return 0;
}

static int mkdir_p(const char *dir, mode_t mode)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Two daemons on one database would each think they own the open chunks. */
static int lock_state_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/memwatchd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? -EBUSY : -e;
    }
    return fd;      /* held until exit */
}

static struct targets_config targets_config_of(const struct mw_config *cfg)
{
    return (struct targets_config){ .interval_ms = cfg->interval_ms,
                                    .smaps_interval_ms = cfg->smaps_interval_ms };
}

static struct gorun_config gorun_config_of(const struct mw_config *cfg)
{
    return (struct gorun_config){ .runtime_interval_ms = cfg->go_runtime_interval_ms,
                                  .profile_interval_ms = cfg->go_profile_interval_ms,
                                  .heap_gc = cfg->go_heap_gc };
}

static struct leakwatch_config leakwatch_config_of(const struct mw_config *cfg)
{
    struct leakwatch_config lc;
    leakwatch_config_default(&lc, 1);
    lc.bytes.window_ms = lc.counts.window_ms = cfg->detect_window_ms;
    lc.bytes.min_history_ms = lc.counts.min_history_ms = cfg->detect_min_history_ms;
    if (cfg->detect_speed > 1) {
        detect_params_speed(&lc.bytes, (double)cfg->detect_speed);
        detect_params_speed(&lc.counts, (double)cfg->detect_speed);
        lc.judge_interval_ms /= cfg->detect_speed;
        if (lc.judge_interval_ms < 1000)
            lc.judge_interval_ms = 1000;
        lc.limit_refresh_ms /= cfg->detect_speed;
        lc.speed = (double)cfg->detect_speed;
    }
    return lc;
}

static void reload(const struct options *opt, struct mw_config *cfg, struct targets *ts,
                   struct gorun *gr)
{
    struct mw_config fresh;
    char *err = NULL;
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)now_mono_ms() * 1000);
    if (load_config(opt, &fresh, &err) < 0) {
        log_err("reload: %s; keeping the running configuration", err);
        free(err);
    } else {
        if (strcmp(fresh.listen_host, cfg->listen_host) || fresh.listen_port != cfg->listen_port ||
            strcmp(fresh.state_dir, cfg->state_dir))
            log_notice("reload: listen and state_dir take effect at the next start");
        strcpy(fresh.listen_host, cfg->listen_host);
        fresh.listen_port = cfg->listen_port;
        strcpy(fresh.state_dir, cfg->state_dir);
        *cfg = fresh;
        log_set_level(cfg->log_level);
        struct targets_config tc = targets_config_of(cfg);
        targets_set_config(ts, &tc);
        struct gorun_config gc = gorun_config_of(cfg);
        gorun_set_config(gr, &gc);
        log_info("configuration reloaded");
    }
    sd_notify(0, "READY=1");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "state-dir", required_argument, NULL, 's' },
        { "config", required_argument, NULL, 'c' },
        { "log-level", required_argument, NULL, 'L' },
        { "check-config", no_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    struct options opt = { 0 };
    int c;
    while ((c = getopt_long(argc, argv, "l:s:c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': opt.listen = optarg; break;
        case 's': opt.state_dir = optarg; break;
        case 'c': opt.config_path = optarg; break;
        case 'L': opt.log_level = optarg; break;
        case 'C': opt.check_only = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("memwatchd %s\n", PACKAGE_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "memwatchd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct mw_config cfg;
    char *err = NULL;
    if (load_config(&opt, &cfg, &err) < 0) {
        fprintf(stderr, "memwatchd: %s\n", err);
        free(err);
        return 1;
    }
    if (opt.check_only) {
        conf_write(&cfg, stdout);
        fprintf(stderr, "configuration OK\n");
        return 0;
    }
    log_set_level(cfg.log_level);

    int rc = 1, lock_fd = -1, sig_fd = -1;
    struct store *st = NULL;
    struct procmem *pm = NULL;
    struct targets *ts = NULL;
    struct profstore *ps = NULL;
    struct gorun *gr = NULL;
    struct leakwatch *lw = NULL;
    struct api *api = NULL;
    struct http_server *http = NULL;

    int r = mkdir_p(cfg.state_dir, 0750);
    if (r < 0) {
        log_err("cannot create state directory %s: %s", cfg.state_dir, strerror(-r));
        goto out;
    }
    lock_fd = lock_state_dir(cfg.state_dir);
    if (lock_fd < 0) {
        log_err("state directory %s: %s", cfg.state_dir,
                lock_fd == -EBUSY ? "another memwatchd is using it" : strerror(-lock_fd));
        goto out;
    }
    char db_path[PATH_MAX];
    snprintf(db_path, sizeof db_path, "%s/memwatch.db", cfg.state_dir);
    struct store_config scfg = {
        .path = db_path,
        .flush_interval_ms = cfg.flush_interval_ms,
        .raw_retention_ms = cfg.raw_retention_ms,
        .rollup_retention_ms = cfg.rollup_retention_ms,
    };
    if (store_open(&scfg, now_wall_ms(), &st, &err) < 0) {
        log_err("cannot open %s: %s", db_path, err);
        goto out;
    }
    r = procmem_open(&pm);
    if (r < 0) {
        log_err("cannot read /proc through libproc2: %s", strerror(-r));
        goto out;
    }
    struct targets_config tcfg = targets_config_of(&cfg);
    if (targets_open(st, pm, &tcfg, &ts, &err) < 0) {
        log_err("%s", err);
        goto out;
    }
    if (cfg.watch_self)
        targets_ensure_self(ts);
    /* Three hours of every profile, then one per 30 min: with 1000-site heap profiles that
     * is ~3 MB per target plus ~0.8 MB per day of history (test_profstore measures it). */
    struct profstore_config pcfg = { .path = db_path, .full_retention_ms = 3 * 3600 * 1000LL };
    if (profstore_open(&pcfg, &ps, &err) < 0) {
        log_err("cannot open the profile store in %s: %s", db_path, err);
        goto out;
    }
    struct scrape_limits slim = {
        .timeout_ms = (long)cfg.go_timeout_ms,
        .connect_timeout_ms = (long)(cfg.go_timeout_ms < 1000 ? cfg.go_timeout_ms : 1000),
        .max_body = (size_t)cfg.go_max_body_bytes,
        .max_inflated = (size_t)cfg.go_max_inflated_bytes,
        /* Each target has at most one request of each kind out: this bounds the scraper's
         * memory at 256 bodies, whatever the number of targets. */
        .max_in_flight = 256,
    };
    struct gorun_config gcfg = gorun_config_of(&cfg);
    gorun_open(st, ps, &slim, &gcfg, &gr);
    struct leakwatch_config lcfg = leakwatch_config_of(&cfg);
    leakwatch_open(st, &lcfg, &lw);

    api = api_new(ts, st, gr, ps, lw);
    struct http_limits limits = {
        .max_body = (size_t)cfg.max_body_bytes,
        .max_connections = (unsigned)cfg.max_connections,
        .connection_timeout_s = (unsigned)((cfg.connection_timeout_ms + 999) / 1000),
    };
    if (http_start(cfg.listen_host, cfg.listen_port, &limits, api_handle, api, &http, &err) < 0) {
        log_err("%s (is another memwatchd running? choose another with --listen)", err);
        goto out;
    }

    /* Signals arrive as reads on a descriptor, so the loop handles them between tasks. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sig_fd < 0) {
        log_err("signalfd: %s", strerror(errno));
        goto out;
    }

    bool v6 = strchr(cfg.listen_host, ':') != NULL;
    log_notice("listening on http://%s%s%s:%u", v6 ? "[" : "", cfg.listen_host, v6 ? "]" : "",
               http_port(http));
    log_info("memwatchd %s: state in %s, %zu targets, sampling every %lld ms", PACKAGE_VERSION,
             cfg.state_dir, targets_count(ts), (long long)cfg.interval_ms);

    uint64_t wd_usec = 0;
    bool watchdog = sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0;
    int64_t wd_next = 0;
    sd_notifyf(0, "READY=1\nSTATUS=watching %zu targets\nMAINPID=%lu", targets_count(ts),
               (unsigned long)getpid());

    int64_t store_err_logged = 0, maintain_next = now_mono_ms() + 60 * 1000;
    bool running = true;
    while (running) {
        int64_t now = now_mono_ms(), wall = now_wall_ms();
        int64_t next = targets_tick(ts, now, wall);
        int64_t next_scrape = gorun_tick(gr, ts, now);
        if (next_scrape < next)
            next = next_scrape;
        int64_t next_judge = leakwatch_tick(lw, ts, now, wall);
        if (next_judge < next)
            next = next_judge;
        r = store_tick(st, wall);
        if (now >= maintain_next) {
            /* Profile thinning is cheap but not free: once an hour is plenty. */
            if (profstore_maintain(ps, wall) < 0)
                log_warn("profile store maintenance failed: %s", profstore_errmsg(ps));
            maintain_next = now + 3600 * 1000;
        }
        if (r < 0 && now - store_err_logged > 60 * 1000) {
            /* Rate-limited: a full disk would otherwise say so every second. */
            log_err("cannot write samples to %s: %s; keeping them in memory and retrying",
                    db_path, store_errmsg(st));
            store_err_logged = now;
        } else if (r >= 0 && store_err_logged) {
            log_notice("writing samples to %s works again", db_path);
            store_err_logged = 0;
        }
        if (watchdog && now >= wd_next) {
            sd_notify(0, "WATCHDOG=1");
            wd_next = now + (int64_t)(wd_usec / 2000);
        }

        int64_t timeout = next - now_mono_ms();
        if (timeout > 1000)
            timeout = 1000;
        int64_t ht = http_timeout_ms(http);
        if (ht >= 0 && ht < timeout)
            timeout = ht;
        if (timeout < 0)
            timeout = 0;
        struct pollfd pfd[3] = {
            { .fd = sig_fd, .events = POLLIN },
            { .fd = http_poll_fd(http), .events = POLLIN },
            { .fd = gorun_event_fd(gr), .events = POLLIN },     /* -1: ignored */
        };
        if (poll(pfd, 3, (int)timeout) < 0 && errno != EINTR) {
            log_err("poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGHUP)
                    reload(&opt, &cfg, ts, gr);
                else {
                    log_info("%s: flushing and exiting", strsignal((int)si.ssi_signo));
                    running = false;
                }
            }
        }
        if (pfd[2].revents & POLLIN)
            gorun_collect(gr, ts);
        http_run(http);
    }
    sd_notify(0, "STOPPING=1");
    rc = 0;
out:
    http_stop(http);
    api_free(api);
    gorun_close(gr);       /* stops the scraper */
    leakwatch_close(lw);
    targets_close(ts);
    profstore_close(ps);
    store_close(st, now_wall_ms());
    procmem_close(pm);
    free(err);
    if (sig_fd >= 0)
        close(sig_fd);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}
