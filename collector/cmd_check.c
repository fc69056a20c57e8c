/* cmd_check.c: `mailfleet-collector check REPORT.json|DIR... --policy FILE ...`, the CI
 * mode: evaluate report files against a policy with no store. Also the steps check and
 * report share (mf_eval_cli_*, results.h).
 *
 * Two passes over the files keep memory bounded however many there are: the first
 * decodes each report once to find every host's latest report and to feed the
 * fleet-wide history (first/last seen, last successful probe); the second evaluates the
 * latest reports, host by host, streaming the results. Pass 1 keeps each host's latest
 * report decoded while their documents add up to at most KEEP_BYTES_DEFAULT (64 MiB),
 * so a CI run of a few thousand files decodes each file once; past that, pass 2 reads
 * and decodes the rest again. The results are the same either way (policy/parallel,
 * and MF_CHECK_KEEP_BYTES=0 runs in policy/bad-inputs and policy/older-reports). The
 * fleet-server rules run last, over the aggregated fleet. A file that cannot be read
 * or decoded is reported and skipped; the others are still evaluated, and the exit code
 * is then 1.
 */
#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "report_json.h"
#include "report_outputs.h"
#include "results.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ shared CLI */

void mf_eval_cli_init(mf_eval_cli *c, const char *command)
{
    memset(c, 0, sizeof(*c));
    c->command = command;
    c->fail_on = MF_SEV_INFO;
    c->as_of = (int64_t)time(NULL);
    c->jobs = mf_eval_threads_default();
}

static int usage_error(const mf_eval_cli *c, const char *option, const char *value,
                       const char *expected)
{
    fprintf(stderr, "mailfleet-collector %s: %s: \"%s\" is not %s\n", c->command, option, value,
            expected);
    return -1;
}

int mf_eval_cli_option(mf_eval_cli *c, const char *name, const char *arg)
{
    if (strcmp(name, "policy") == 0) {
        c->policy_path = arg;
    } else if (strcmp(name, "waivers") == 0) {
        c->waivers_path = arg;
    } else if (strcmp(name, "json") == 0) {
        c->json_path = arg;
    } else if (strcmp(name, "dump-facts") == 0) {
        c->dump_path = arg;
    } else if (strcmp(name, "no-progress") == 0) {
        c->no_progress = true;
    } else if (strcmp(name, "jobs") == 0) {
        long long n;
        if (mf_parse_long(arg, 1, 64, &n) != MF_OK)
            return usage_error(c, "--jobs", arg, "a number of threads from 1 to 64");
        c->jobs = (size_t)n;
    } else if (strcmp(name, "junit") == 0) { /* report writers: report_outputs.h */
        c->junit_path = arg;
    } else if (strcmp(name, "html") == 0) {
        c->html_path = arg;
    } else if (strcmp(name, "csv") == 0) {
        c->csv_path = arg;
    } else if (strcmp(name, "history") == 0) {
        c->history_path = arg;
    } else if (strcmp(name, "junit-group-by") == 0) {
        mf_rpt_group g;
        if (!mf_rpt_group_parse(arg, &g))
            return usage_error(c, "--junit-group-by", arg, "host or rule");
        c->junit_group = (int)g;
    } else if (strcmp(name, "fail-on") == 0) {
        if (!mf_severity_parse(arg, &c->fail_on))
            return usage_error(c, "--fail-on", arg,
                               "a severity (info, low, medium, high or critical)");
    } else if (strcmp(name, "as-of") == 0) {
        int64_t t;
        if (mf_date_parse(arg, &t) != MF_OK && mf_time_parse_rfc3339(arg, &t) != MF_OK)
            return usage_error(c, "--as-of", arg, "a date (YYYY-MM-DD) or an RFC 3339 time");
        c->as_of = t;
    } else {
        return 0;
    }
    return 1;
}

static void print_error(const mf_eval_cli *c, const mf_error *err)
{
    char msg[2048];
    fprintf(stderr, "mailfleet-collector %s: %s\n", c->command,
            mf_error_format(err, msg, sizeof(msg)));
}

int mf_eval_cli_open(mf_eval_cli *c, const char *source)
{
    mf_error err;
    mf_error_clear(&err);
    if (!c->policy_path) {
        fprintf(stderr, "mailfleet-collector %s: --policy FILE is required\n", c->command);
        return MF_EXIT_USAGE;
    }
    mf_cli_set_verbosity(c->verbosity);
    /* The policy and the waivers come first: if either is malformed, nothing has been
     * evaluated or written yet. */
    if (mf_policy_load(&c->policy, c->policy_path, &err) != MF_OK) {
        print_error(c, &err);
        return MF_EXIT_RUNTIME;
    }
    if (c->waivers_path) {
        if (mf_waivers_load(&c->waivers, c->waivers_path, &err) != MF_OK ||
            mf_waivers_bind(c->waivers, c->policy, c->as_of, &err) != MF_OK) {
            print_error(c, &err);
            return MF_EXIT_RUNTIME;
        }
        for (size_t i = 0; i < c->waivers->n; i++)
            if (c->waivers->v[i].status == MF_WAIVER_UNKNOWN_RULE)
                mf_log_warn("%s: waivers[%zu] names rule \"%s\", which policy %s does not have",
                            c->waivers_path, i, c->waivers->v[i].rule, c->policy->id);
    }
    mf_run_info info = {
        .command = c->command, .source = source, .as_of = c->as_of, .fail_on = c->fail_on};
    if (mf_results_new(&c->results, c->policy, c->waivers, &info) != MF_OK) {
        fprintf(stderr, "mailfleet-collector %s: out of memory\n", c->command);
        return MF_EXIT_RUNTIME;
    }
    if (c->json_path) {
        mf_results_sink sink;
        if (mf_results_json_sink(&sink, c->json_path, &err) != MF_OK) {
            print_error(c, &err);
            return MF_EXIT_RUNTIME;
        }
        if (mf_results_add_sink(c->results, &sink) != MF_OK) {
            fprintf(stderr, "mailfleet-collector %s: out of memory\n", c->command);
            return MF_EXIT_RUNTIME;
        }
    }
    /* The report writers (JUnit, HTML, CSV) and the history: files created now. */
    if (c->junit_path || c->html_path || c->csv_path || c->history_path) {
        mf_report_paths paths = {.junit = c->junit_path,
                                 .html = c->html_path,
                                 .csv = c->csv_path,
                                 .history = c->history_path,
                                 .junit_group = (mf_rpt_group)c->junit_group};
        if (mf_report_outputs_open(&c->outputs, &paths, &err) != MF_OK ||
            mf_report_outputs_attach(c->outputs, c->results, &err) != MF_OK) {
            print_error(c, &err);
            return MF_EXIT_RUNTIME;
        }
    }
    if (c->dump_path) {
        c->dump = strcmp(c->dump_path, "-") == 0 ? stdout : fopen(c->dump_path, "w");
        if (!c->dump) {
            fprintf(stderr, "mailfleet-collector %s: %s: cannot create: %s\n", c->command,
                    c->dump_path, strerror(errno));
            return MF_EXIT_RUNTIME;
        }
    }
    c->opts.as_of = c->as_of;
    c->opts.dump_facts = c->dump;
    if (mf_results_begin(c->results, &err) != MF_OK) {
        print_error(c, &err);
        return MF_EXIT_RUNTIME;
    }
    return MF_EXIT_COMPLIANT;
}

int mf_eval_cli_finish(mf_eval_cli *c)
{
    mf_error err;
    mf_error_clear(&err);
    if (mf_results_end(c->results, &err) != MF_OK) {
        print_error(c, &err);
        return MF_EXIT_RUNTIME;
    }
    if (c->dump && c->dump != stdout && fclose(c->dump) != 0) {
        c->dump = NULL;
        fprintf(stderr, "mailfleet-collector %s: %s: cannot write: %s\n", c->command, c->dump_path,
                strerror(errno));
        return MF_EXIT_RUNTIME;
    }
    c->dump = NULL;
    bool stdout_taken = (c->json_path && strcmp(c->json_path, "-") == 0) ||
                        (c->dump_path && strcmp(c->dump_path, "-") == 0) ||
                        (c->junit_path && strcmp(c->junit_path, "-") == 0) ||
                        (c->html_path && strcmp(c->html_path, "-") == 0) ||
                        (c->csv_path && strcmp(c->csv_path, "-") == 0);
    if (c->verbosity >= 0 || mf_results_exit_code(c->results) != MF_EXIT_COMPLIANT)
        mf_results_print_summary(c->results, stdout_taken ? stderr : stdout);
    fflush(stdout);
    return mf_results_exit_code(c->results);
}

void mf_eval_cli_close(mf_eval_cli *c)
{
    if (c->dump && c->dump != stdout)
        fclose(c->dump);
    mf_results_free(c->results);
    mf_report_outputs_free(c->outputs); /* after the results: their sink borrowed it */
    c->outputs = NULL;
    mf_waivers_free(c->waivers);
    mf_policy_free(c->policy);
    c->results = NULL;
    c->waivers = NULL;
    c->policy = NULL;
    c->dump = NULL;
}

/* ------------------------------------------------------------------ inputs */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the path, or every *.json file of a folder (sorted), to files. */
static mf_code add_input(mf_strv *files, const char *path)
{
    if (!mf_path_is_dir(path))
        return mf_strv_push(files, path);
    DIR *d = opendir(path);
    if (!d)
        return mf_strv_push(files, path); /* reported as unreadable later */
    mf_strv found = {0};
    mf_code rc = MF_OK;
    struct dirent *e;
    while (rc == MF_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !mf_str_has_suffix(e->d_name, ".json"))
            continue;
        char *p = mf_path_join(path, e->d_name);
        rc = p ? mf_strv_push_owned(&found, p) : MF_ERR_NOMEM;
    }
    closedir(d);
    if (found.n)
        qsort(found.v, found.n, sizeof(char *), cmp_str);
    for (size_t i = 0; rc == MF_OK && i < found.n; i++) {
        rc = mf_strv_push_owned(files, found.v[i]);
        found.v[i] = NULL;
    }
    mf_strv_free(&found);
    return rc;
}

/* host id -> its latest report so far (open addressing). */
typedef struct latest {
    char *host_id;
    int64_t t;
    char report_id[37];
    size_t file;
    mf_report *kept;   /* that report as pass 1 decoded it, when it fit the budget */
    size_t kept_bytes; /* its document's size, counted against the budget */
} latest;

typedef struct host_map {
    latest *slots;
    size_t cap, n;
} host_map;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static latest *host_slot(host_map *m, const char *id)
{
    size_t j = (size_t)(str_hash(id) & (m->cap - 1));
    while (m->slots[j].host_id && strcmp(m->slots[j].host_id, id) != 0)
        j = (j + 1) & (m->cap - 1);
    return &m->slots[j];
}

static mf_code host_map_grow(host_map *m)
{
    host_map nm = {.cap = m->cap ? m->cap * 2 : 1024};
    nm.slots = calloc(nm.cap, sizeof(latest));
    if (!nm.slots)
        return MF_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].host_id)
            *host_slot(&nm, m->slots[i].host_id) = m->slots[i];
    nm.n = m->n;
    free(m->slots);
    *m = nm;
    return MF_OK;
}

static void host_map_free(host_map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].host_id);
        mf_report_free(m->slots[i].kept);
    }
    free(m->slots);
}

/* Note report r (from file index i): keep it when it is newer than the host's last.
 * The newest is the largest (collected_at, report_id), as in the store. *now is the
 * host's slot when r is now its latest (valid until the map next grows), else NULL. */
static mf_code host_map_note(host_map *m, const mf_report *r, size_t i, latest **now)
{
    *now = NULL;
    if ((m->n + 1) * 2 > m->cap && host_map_grow(m) != MF_OK)
        return MF_ERR_NOMEM;
    int64_t t = 0;
    (void)mf_time_parse_rfc3339(r->collected_at, &t);
    latest *s = host_slot(m, r->host.id);
    if (!s->host_id) {
        s->host_id = mf_strdup(r->host.id);
        if (!s->host_id)
            return MF_ERR_NOMEM;
        m->n++;
    } else if (t < s->t || (t == s->t && strcmp(r->report_id, s->report_id) <= 0)) {
        return MF_OK;
    }
    s->t = t;
    mf_strlcpy(s->report_id, r->report_id, sizeof(s->report_id));
    s->file = i;
    *now = s;
    return MF_OK;
}

static int cmp_by_file(const void *a, const void *b)
{
    size_t x = (*(latest *const *)a)->file, y = (*(latest *const *)b)->file;
    return x < y ? -1 : x > y;
}

/* Pass 1 keeps each host's latest report as it decoded it, so that pass 2 evaluates it
 * without reading and decoding the file again, as long as the kept reports' documents
 * add up to at most this many bytes. A decoded report takes about twice its document's
 * size (100,000 fleetgen Macs: 96 MiB of documents kept raised the peak RSS from 42 to
 * 237 MB), so 64 MiB costs some 130 MB at most. Past that, pass 2 reads the rest again.
 * MF_CHECK_KEEP_BYTES overrides it (the tests set 0 to exercise re-reading). */
#define KEEP_BYTES_DEFAULT ((size_t)64 << 20)

/* Pass 1 of check: note each report's host (latest wins) or its failure. */
typedef struct pass1 {
    mf_eval_cli *cli;
    const mf_strv *files;
    host_map *hosts;
    char *failed;     /* per file */
    size_t *seq_file; /* file index of each submitted document */
    size_t *seq_len;  /* its size */
    size_t submitted;
    latest *now;      /* set by on_pass1 for take_whole: the slot r became latest of */
    size_t budget;    /* KEEP_BYTES */
    size_t kept;      /* bytes of the kept reports' documents */
    atomic_bool room; /* kept < budget: read by the workers */
} pass1;

static mf_code on_pass1(void *ctx, size_t seq, const char *label, const mf_report *r,
                        const char *why, mf_error *err)
{
    pass1 *p = ctx;
    size_t file = p->seq_file[seq];
    p->now = NULL;
    if (!r) {
        mf_log_error("%s: %s", label, why);
        mf_results_input_error(p->cli->results, label, why);
        p->failed[file] = 1;
        return MF_OK;
    }
    if (host_map_note(p->hosts, r, file, &p->now) != MF_OK)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    latest *s = p->now;
    if (s && s->kept) {
        /* A newer report of the host: the one kept is no longer its latest (whether or
         * not take_whole gets this one). */
        mf_report_free(s->kept);
        p->kept -= s->kept_bytes;
        s->kept = NULL;
    }
    return MF_OK;
}

static bool keep_whole(void *ctx)
{
    pass1 *p = ctx;
    return atomic_load_explicit(&p->room, memory_order_relaxed);
}

/* A report pass 1 decoded whole: keep it for pass 2 when it is its host's latest so far
 * (on_pass1 dropped the host's earlier kept report) and fits the budget. */
static void take_whole(void *ctx, size_t seq, mf_report *r)
{
    pass1 *p = ctx;
    latest *s = p->now;
    p->now = NULL;
    if (!s) {
        mf_report_free(r); /* an older report of its host */
        return;
    }
    size_t bytes = p->seq_len[seq];
    if (bytes <= p->budget - p->kept) {
        s->kept = r;
        s->kept_bytes = bytes;
        p->kept += bytes;
    } else {
        mf_report_free(r);
        atomic_store_explicit(&p->room, false, memory_order_relaxed);
    }
}

/* Pass 2 of check, and report: the report writers learn about the host, then its results
 * follow. */
mf_code mf_eval_cli_on_report(void *ctx, size_t seq, const char *label, const mf_report *r,
                              const char *why, mf_error *err)
{
    (void)seq;
    mf_eval_cli *cli = ctx;
    if (!r) {
        mf_log_error("%s: %s", label, why);
        mf_results_input_error(cli->results, label, why);
        mf_progress_update(&cli->progress, ++cli->evaluated);
        return MF_OK;
    }
    mf_code rc = mf_report_outputs_host(cli->outputs, r, err);
    if (rc == MF_OK)
        mf_results_input_ok(cli->results);
    mf_progress_update(&cli->progress, ++cli->evaluated);
    return rc;
}

static mf_code on_pass2(void *ctx, size_t seq, const char *label, const mf_report *r,
                        const char *why, mf_error *err)
{
    return mf_eval_cli_on_report(ctx, seq, label, r, why, err);
}

/* ------------------------------------------------------------------ check */

static void help(FILE *f)
{
    fprintf(f,
            "usage: mailfleet-collector check REPORT.json|DIR... --policy FILE\n"
            "                                 [--waivers FILE] [--json FILE]\n"
            "                                 [--fail-on SEVERITY] [--as-of DATE]\n"
            "                                 [--dump-facts FILE] [--jobs N]\n"
            "                                 [--junit FILE] [--junit-group-by host|rule]\n"
            "                                 [--html FILE] [--csv FILE] [--history FILE]\n"
            "\n"
            "Evaluates report files (a folder stands for every *.json file in it) against a\n"
            "policy, with no store: the CI mode. Only each host's latest report is\n"
            "evaluated; fleet-server rules see every report given.\n"
            "\n"
            "  --policy FILE       the policy (docs/policy-language.md); required\n"
            "  --waivers FILE      accepted exceptions with expiry dates (docs/waivers.md);\n"
            "                      a malformed file stops the run before any evaluation\n"
            "  --json FILE         write the results as JSON (docs/results.md); - is stdout\n"
            "  --junit FILE        write JUnit XML for CI systems (docs/reports.md); - is stdout\n"
            "  --junit-group-by W  one testsuite per host (default) or per rule\n"
            "  --html FILE         write the HTML report (one self-contained file)\n"
            "  --csv FILE          write one CSV row per host, rule and server or account\n"
            "  --history FILE      keep compliance per day and first failures in FILE\n"
            "                      (SQLite; created when missing) for the HTML history\n"
            "  --fail-on SEVERITY  the lowest severity that fails the run: info (default),\n"
            "                      low, medium, high or critical\n"
            "  --as-of DATE        evaluate as of this day (YYYY-MM-DD) or time (RFC 3339)\n"
            "                      instead of now: waiver expiry and ages in days use it\n"
            "  --dump-facts FILE   write every entity's facts as JSON lines (for writing\n"
            "                      rules); - is stdout\n"
            "  --jobs N            threads decoding and evaluating reports (default: the\n"
            "                      CPUs, at most 8); results come out in file order anyway\n"
            "  --no-progress       no progress line on stderr, even on a terminal\n"
            "  -v, -q              more / less logging on stderr (-q: summary only when\n"
            "                      something failed)\n"
            "  -h, --help          this help\n"
            "\n"
            "Prints a summary: each rule's pass / fail / error / notapplicable / waived\n"
            "counts and the first failures. Exit status (docs/exit-codes.md):\n"
            "  0    compliant: no rule at or above --fail-on failed or gave an error\n"
            "  100  a rule at or above --fail-on failed\n"
            "  101  nothing failed, but a rule at or above --fail-on could not be\n"
            "       evaluated (error)\n"
            "  1    runtime error: a report, the policy or the waivers could not be read\n"
            "  2    usage error\n");
}

static const struct option check_longopts[] = {
    MF_EVAL_LONGOPTS,
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int mf_cmd_check(int argc, char **argv)
{
    mf_eval_cli cli;
    mf_eval_cli_init(&cli, "check");
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vqh", check_longopts, NULL)) != -1) {
        if (c >= MF_EVAL_OPT_FIRST && c <= MF_EVAL_OPT_LAST) {
            if (mf_eval_cli_option(&cli, check_longopts[c - MF_EVAL_OPT_FIRST].name, optarg) < 0)
                return MF_EXIT_USAGE;
            continue;
        }
        switch (c) {
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
    if (optind >= argc) {
        fprintf(stderr, "mailfleet-collector check: give at least one report file or folder\n");
        return MF_EXIT_USAGE;
    }
    if (!cli.policy_path) {
        fprintf(stderr, "mailfleet-collector check: --policy FILE is required\n");
        return MF_EXIT_USAGE;
    }

    int status = MF_EXIT_RUNTIME;
    mf_strv files = {0};
    host_map hosts = {0};
    mf_fleet *fleet = NULL;
    latest **todo = NULL;
    char *failed = NULL;
    mf_eval_pool *pool = NULL;
    mf_error err;
    mf_error_clear(&err);
    for (int i = optind; i < argc; i++)
        if (add_input(&files, argv[i]) != MF_OK) {
            fprintf(stderr, "mailfleet-collector check: out of memory\n");
            goto out;
        }
    char source[64];
    snprintf(source, sizeof(source), "%zu report file%s", files.n, files.n == 1 ? "" : "s");
    int rc = mf_eval_cli_open(&cli, source);
    if (rc != MF_EXIT_COMPLIANT) {
        status = rc;
        goto out;
    }
    bool want_fleet = cli.policy->has_fleet_rules || cli.dump;
    if (want_fleet && mf_fleet_new(&fleet, 0) != MF_OK) {
        fprintf(stderr, "mailfleet-collector check: out of memory\n");
        goto out;
    }
    failed = calloc(files.n + 1, 1);
    if (!failed) {
        fprintf(stderr, "mailfleet-collector check: out of memory\n");
        goto out;
    }

    /* Pass 1: every report once (decoded by the pool's workers): latest per host, fleet
     * history. */
    pass1 p1 = {.cli = &cli, .files = &files, .hosts = &hosts, .failed = failed};
    p1.budget = KEEP_BYTES_DEFAULT;
    const char *kb = getenv("MF_CHECK_KEEP_BYTES");
    long long kbv;
    if (kb && mf_parse_long(kb, 0, LLONG_MAX, &kbv) == MF_OK)
        p1.budget = (size_t)kbv;
    atomic_init(&p1.room, p1.budget > 0);
    p1.seq_file = calloc(files.n + 1, sizeof(size_t));
    p1.seq_len = calloc(files.n + 1, sizeof(size_t));
    if (!p1.seq_file || !p1.seq_len) {
        free(p1.seq_file);
        free(p1.seq_len);
        fprintf(stderr, "mailfleet-collector check: out of memory\n");
        goto out;
    }
    mf_eval_pool_opts po = {.threads = cli.jobs,
                            .evaluate = false,
                            .fleet_history = fleet != NULL,
                            .on_report = on_pass1,
                            .ctx = &p1,
                            .keep_whole = keep_whole,
                            .take_whole = take_whole};
    bool show = mf_progress_wanted(cli.no_progress, cli.verbosity);
    mf_progress_start(&cli.progress, show, "check: reading", "reports", files.n);
    mf_code prc =
        mf_eval_pool_new(&pool, cli.policy, cli.waivers, cli.results, &cli.opts, fleet, &po, &err);
    for (size_t i = 0; prc == MF_OK && i < files.n; i++) {
        mf_progress_update(&cli.progress, i);
        char *data = NULL;
        size_t len = 0;
        mf_error_clear(&err);
        if (mf_file_read(files.v[i], MF_REPORT_MAX_BYTES, &data, &len, &err) != MF_OK) {
            char msg[1024];
            mf_error_set_file(&err, "");
            mf_error_format(&err, msg, sizeof(msg));
            mf_log_error("%s: %s", files.v[i], msg);
            mf_results_input_error(cli.results, files.v[i], msg);
            failed[i] = 1;
            continue;
        }
        p1.seq_len[p1.submitted] = len;
        p1.seq_file[p1.submitted++] = i;
        prc = mf_eval_pool_submit_owned(pool, data, len, files.v[i], &err);
    }
    if (prc == MF_OK)
        prc = mf_eval_pool_finish(pool, &err);
    mf_progress_end(&cli.progress, files.n);
    mf_eval_pool_free(pool);
    pool = NULL;
    free(p1.seq_file);
    free(p1.seq_len);
    mf_log_debug("check: pass 1 kept %zu bytes of reports for pass 2 (budget %zu)", p1.kept,
                 p1.budget);
    if (prc != MF_OK) {
        print_error(&cli, &err);
        goto out;
    }
    size_t skipped = 0;
    todo = calloc(hosts.n + 1, sizeof(latest *));
    if (!todo) {
        fprintf(stderr, "mailfleet-collector check: out of memory\n");
        goto out;
    }
    size_t ntodo = 0;
    for (size_t i = 0; i < hosts.cap; i++)
        if (hosts.slots[i].host_id)
            todo[ntodo++] = &hosts.slots[i];
    qsort(todo, ntodo, sizeof(latest *), cmp_by_file);
    for (size_t i = 0; i < files.n; i++)
        skipped += !failed[i];
    skipped -= ntodo;
    for (size_t i = 0; i < skipped; i++)
        mf_results_input_skipped(cli.results);

    /* Pass 2: each host's latest report, evaluated by the workers, results streamed in
     * file order. */
    /* The HTML writer reads the whole report (its server inventory); others its head. */
    po = (mf_eval_pool_opts){.threads = cli.jobs,
                             .evaluate = true,
                             .fleet_latest = fleet != NULL,
                             .keep_report = cli.html_path != NULL,
                             .on_report = on_pass2,
                             .ctx = &cli};
    prc =
        mf_eval_pool_new(&pool, cli.policy, cli.waivers, cli.results, &cli.opts, fleet, &po, &err);
    size_t reread = 0;
    mf_progress_start(&cli.progress, show, "check: evaluating", "hosts", ntodo);
    for (size_t k = 0; prc == MF_OK && k < ntodo; k++) {
        const char *path = files.v[todo[k]->file];
        if (todo[k]->kept) {
            /* Decoded in pass 1: evaluated as it is. */
            mf_report *r = todo[k]->kept;
            todo[k]->kept = NULL;
            prc = mf_eval_pool_submit_report(pool, r, path, &err);
            continue;
        }
        reread++;
        char *data = NULL;
        size_t len = 0;
        mf_error_clear(&err);
        if (mf_file_read(path, MF_REPORT_MAX_BYTES, &data, &len, &err) != MF_OK) {
            /* It was read a moment ago: the file changed under us. */
            char msg[1024];
            mf_error_set_file(&err, "");
            mf_results_input_error(cli.results, path, mf_error_format(&err, msg, sizeof(msg)));
            continue;
        }
        prc = mf_eval_pool_submit_owned(pool, data, len, path, &err);
    }
    if (prc == MF_OK)
        prc = mf_eval_pool_finish(pool, &err);
    mf_progress_end(&cli.progress, cli.evaluated);
    mf_eval_pool_free(pool);
    pool = NULL;
    mf_log_info("check: %zu latest reports evaluated as pass 1 decoded them, %zu read again",
                ntodo - reread, reread);
    if (prc != MF_OK) {
        print_error(&cli, &err);
        goto out;
    }
    if (fleet) {
        if (mf_fleet_dropped(fleet)) {
            char w[160];
            snprintf(w, sizeof(w),
                     "%zu servers beyond the fleet aggregator's cap were not "
                     "evaluated by fleet-server rules",
                     mf_fleet_dropped(fleet));
            mf_results_warn(cli.results, w);
        }
        if (mf_policy_eval_fleet(cli.policy, fleet, cli.waivers, cli.results, &cli.opts, &err) !=
            MF_OK) {
            print_error(&cli, &err);
            goto out;
        }
    }
    status = mf_eval_cli_finish(&cli);
out:
    mf_eval_pool_free(pool);
    free(failed);
    free(todo);
    mf_fleet_free(fleet);
    host_map_free(&hosts);
    mf_strv_free(&files);
    mf_eval_cli_close(&cli);
    return status;
}
