/* cmd_report.c: `mailfleet-collector report --db FILE --policy FILE ...`, the fleet
 * report from the store: every host's latest report is evaluated as the store hands it
 * over (one at a time, results streamed), while the fleet-wide server facts are
 * aggregated; the store's server inventory then widens first/last seen to the whole
 * retained history, and the fleet-server rules run last.
 *
 * The store's probe history (mf_store_probe_history: first probe and last successful
 * probe of each server over every stored report) gives fleet_server.failing_days the same
 * history `check` has when it is given every report file.
 */
#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "report_json.h"
#include "report_outputs.h"
#include "results.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: mailfleet-collector report --db FILE --policy FILE [--waivers FILE]\n"
            "                                  [--json FILE] [--fail-on SEVERITY]\n"
            "                                  [--as-of DATE] [--dump-facts FILE] [--jobs N]\n"
            "                                  [--junit FILE] [--junit-group-by host|rule]\n"
            "                                  [--html FILE] [--csv FILE] [--history FILE]\n"
            "\n"
            "Evaluates the latest report of every host in the store against a policy;\n"
            "fleet-server rules see every server across the fleet, with first and last\n"
            "seen taken from the store's whole history.\n"
            "\n"
            "  --db FILE           the store written by ingest; required\n"
            "  --policy FILE       the policy (docs/policy-language.md); required\n"
            "  --waivers FILE      accepted exceptions with expiry dates (docs/waivers.md);\n"
            "                      a malformed file stops the run before any evaluation\n"
            "  --json FILE         write the results as JSON (docs/results.md); - is stdout\n"
            "  --junit FILE        write JUnit XML for CI systems (docs/reports.md); - is stdout\n"
            "  --junit-group-by W  one testsuite per host (default) or per rule\n"
            "  --html FILE         write the HTML report, with the store's server inventory\n"
            "  --csv FILE          write one CSV row per host, rule and server or account\n"
            "  --history FILE      keep compliance per day and first failures in FILE\n"
            "                      (SQLite; created when missing) for the HTML history\n"
            "  --fail-on SEVERITY  the lowest severity that fails the run: info (default),\n"
            "                      low, medium, high or critical\n"
            "  --as-of DATE        evaluate as of this day (YYYY-MM-DD) or time (RFC 3339)\n"
            "                      instead of now\n"
            "  --dump-facts FILE   write every entity's facts as JSON lines; - is stdout\n"
            "  --jobs N            threads decoding and evaluating reports (default: the\n"
            "                      CPUs, at most 8)\n"
            "  --no-progress       no progress line on stderr, even on a terminal\n"
            "  -v, -q              more / less logging on stderr\n"
            "  -h, --help          this help\n"
            "\n"
            "Exit status (docs/exit-codes.md): 0 compliant, 100 a rule at or above\n"
            "--fail-on failed, 101 nothing at or above --fail-on failed but a rule at or\n"
            "above it could not be evaluated (error), 1 runtime error (the store, the\n"
            "policy, the waivers or a stored report could not be read; wins over 100 and\n"
            "101), 2 usage error.\n");
}

typedef struct run {
    mf_eval_cli *cli;
    mf_fleet *fleet;
    mf_eval_pool *pool;
    mf_code rc;
    mf_error err;
} run;

static int on_latest(void *ctx, const char *host_id, const char *report_id, int64_t collected_at,
                     const char *json, size_t len)
{
    (void)collected_at;
    run *x = ctx;
    /* Decoded and evaluated by the pool's workers; a report that does not decode (it was
     * checked strictly at ingest, so it is damaged) is recorded under this label. */
    char label[160];
    snprintf(label, sizeof(label), "store: host %s report %s", host_id ? host_id : "?",
             report_id ? report_id : "?");
    mf_code rc = mf_eval_pool_submit(x->pool, json, len, label, &x->err);
    if (rc != MF_OK) {
        x->rc = rc;
        return 1;
    }
    return 0;
}

static int on_server(void *ctx, const mf_store_server_row *row)
{
    run *x = ctx;
    /* The HTML report's server inventory (report_outputs.h) comes from the same rows. */
    mf_code rc = mf_report_outputs_server(x->cli->outputs, row, &x->err);
    if (rc == MF_OK && x->fleet)
        rc = mf_fleet_add_seen(x->fleet, row->hostname, row->port, row->provider, row->first_seen,
                               row->last_seen, 0, &x->err);
    if (rc != MF_OK) {
        x->rc = rc;
        return 1;
    }
    return 0;
}

static int on_probes(void *ctx, const mf_store_probe_row *row)
{
    run *x = ctx;
    mf_code rc = mf_fleet_add_probes(x->fleet, row->hostname, row->port, row->first_probed,
                                     row->last_ok, &x->err);
    if (rc != MF_OK) {
        x->rc = rc;
        return 1;
    }
    return 0;
}

static const struct option report_longopts[] = {
    MF_EVAL_LONGOPTS,
    {"db", required_argument, NULL, 'd'},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int mf_cmd_report(int argc, char **argv)
{
    mf_eval_cli cli;
    mf_eval_cli_init(&cli, "report");
    const char *db = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:vqh", report_longopts, NULL)) != -1) {
        if (c >= MF_EVAL_OPT_FIRST && c <= MF_EVAL_OPT_LAST) {
            if (mf_eval_cli_option(&cli, report_longopts[c - MF_EVAL_OPT_FIRST].name, optarg) < 0)
                return MF_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'v':
            cli.verbosity = cli.verbosity < 0 ? 1 : cli.verbosity + 1;
            break;
        case 'q':
            cli.verbosity = -1;
            break;
        case 'h':
            help(stdout);
            return MF_EXIT_COMPLIANT;
        default:
            help(stderr);
            return MF_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                "mailfleet-collector report: unexpected argument \"%s\" (report reads "
                "the store; `check` evaluates report files)\n",
                argv[optind]);
        return MF_EXIT_USAGE;
    }
    if (!db || !cli.policy_path) {
        fprintf(stderr, "mailfleet-collector report: %s is required\n",
                db ? "--policy FILE" : "--db FILE");
        return MF_EXIT_USAGE;
    }
    if (!mf_path_is_file(db)) {
        fprintf(stderr, "mailfleet-collector report: %s: no such store (run ingest first)\n", db);
        return MF_EXIT_RUNTIME;
    }
    int status = MF_EXIT_RUNTIME;
    mf_store *st = NULL;
    run x = {.cli = &cli};
    mf_error_clear(&x.err);
    char source[600];
    snprintf(source, sizeof(source), "store %s", db);
    int rc = mf_eval_cli_open(&cli, source);
    if (rc != MF_EXIT_COMPLIANT) {
        status = rc;
        goto out;
    }
    char msg[2048];
    if (mf_store_open(&st, "sqlite", db, &x.err) != MF_OK) {
        fprintf(stderr, "mailfleet-collector report: %s\n",
                mf_error_format(&x.err, msg, sizeof(msg)));
        goto out;
    }
    if ((cli.policy->has_fleet_rules || cli.dump) && mf_fleet_new(&x.fleet, 0) != MF_OK) {
        fprintf(stderr, "mailfleet-collector report: out of memory\n");
        goto out;
    }
    mf_eval_pool_opts po = {.threads = cli.jobs,
                            .evaluate = true,
                            .fleet_history = x.fleet != NULL,
                            .fleet_latest = x.fleet != NULL,
                            .keep_report = cli.html_path != NULL,
                            .on_report = mf_eval_cli_on_report,
                            .ctx = &cli};
    mf_code src = mf_eval_pool_new(&x.pool, cli.policy, cli.waivers, cli.results, &cli.opts,
                                   x.fleet, &po, &x.err);
    long long nhosts = 0;
    bool show = mf_progress_wanted(cli.no_progress, cli.verbosity);
    if (src == MF_OK && show) {
        long long nreports = 0;
        mf_error cerr;
        mf_error_clear(&cerr);
        if (mf_store_count(&nreports, &nhosts, st, &cerr) != MF_OK)
            nhosts = 0; /* the line then goes without a total */
    }
    mf_progress_start(&cli.progress, show, "report: evaluating", "hosts", (size_t)nhosts);
    if (src == MF_OK)
        src = mf_store_latest(st, on_latest, &x, &x.err);
    if (src == MF_OK && x.rc == MF_OK)
        src = mf_eval_pool_finish(x.pool, &x.err);
    mf_progress_end(&cli.progress, cli.evaluated);
    /* The store's inventory and probe history are whole-history queries (the inventory is
     * seconds on 100,000 hosts): run each only when a fact the policy reads depends on it
     * (every fact for --dump-facts), and the inventory also for the HTML report. */
    bool want_seen = false, want_probes = false;
    if (x.fleet)
        mf_fleet_history_needs(cli.dump ? NULL : &cli.policy->mask, &want_seen, &want_probes);
    if (x.fleet)
        mf_log_info("store history: server inventory %s, probe history %s",
                    want_seen || cli.html_path ? "read" : "not needed",
                    want_probes ? "read" : "not needed");
    if (src == MF_OK && x.rc == MF_OK && (want_seen || cli.html_path))
        src = mf_store_servers(st, on_server, &x, &x.err);
    if (src == MF_OK && x.rc == MF_OK && want_probes) {
        src = mf_store_probe_history(st, on_probes, &x, &x.err);
        if (src == MF_ERR_UNSUPPORTED) {
            /* Another backend: failing_days then counts from the latest reports only. */
            mf_results_warn(cli.results, "the store gives no probe history: failing_days "
                                         "is computed from the latest reports only");
            mf_error_clear(&x.err);
            src = MF_OK;
        }
    }
    if (src != MF_OK || x.rc != MF_OK) {
        fprintf(stderr, "mailfleet-collector report: %s\n",
                mf_error_format(&x.err, msg, sizeof(msg)));
        goto out;
    }
    if (x.fleet) {
        if (mf_fleet_dropped(x.fleet)) {
            char w[160];
            snprintf(w, sizeof(w),
                     "%zu servers beyond the fleet aggregator's cap were not "
                     "evaluated by fleet-server rules",
                     mf_fleet_dropped(x.fleet));
            mf_results_warn(cli.results, w);
        }
        if (mf_policy_eval_fleet(cli.policy, x.fleet, cli.waivers, cli.results, &cli.opts,
                                 &x.err) != MF_OK) {
            fprintf(stderr, "mailfleet-collector report: %s\n",
                    mf_error_format(&x.err, msg, sizeof(msg)));
            goto out;
        }
    }
    status = mf_eval_cli_finish(&cli);
out:
    mf_eval_pool_free(x.pool);
    mf_fleet_free(x.fleet);
    mf_store_close(st);
    mf_eval_cli_close(&cli);
    return status;
}
