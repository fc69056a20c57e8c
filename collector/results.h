/* results.h: the results of evaluating a policy, counted and streamed to writers.
 *
 * A run (check or report) makes one mf_results, adds writers ("sinks": the JSON writer
 * here; JUnit and HTML writers of the reports library can join as further sinks), then
 * feeds it one mf_result at a time, host by host, so memory stays flat however large
 * the fleet. The counts (per state, per rule and state) and the exit code come from it.
 *
 * The JSON form (docs/results.md) is {"summary": {...}, "results": [...]} plus the
 * policy, the rules with their counts, the waivers and their status, and the inputs.
 */
#ifndef MF_RESULTS_H
#define MF_RESULTS_H

#include "policy.h"
#include "progress.h"

#include <stdio.h>

/* Result states, each counted on its own everywhere. */
typedef enum mf_state {
    MF_STATE_PASS = 0,
    MF_STATE_FAIL,
    MF_STATE_ERROR,
    MF_STATE_NOTAPPLICABLE,
    MF_STATE_WAIVED,
    MF_STATE__COUNT
} mf_state;

const char *mf_state_name(mf_state s);

/* Exit codes of the evaluating commands (docs/exit-codes.md). */
enum {
    MF_EXIT_COMPLIANT = 0,
    MF_EXIT_RUNTIME = 1,
    MF_EXIT_USAGE = 2,
    MF_EXIT_FAILED = 100,
    MF_EXIT_ERRORS = 101,
};

/* One result: a rule on one entity. Strings are borrowed for the duration of the
 * mf_results_add call; a sink that keeps them must copy them. */
typedef struct mf_result {
    const mf_rule *rule;
    const char *host_id;  /* NULL for the fleet-server scope */
    const char *hostname; /* may be NULL */
    const char *entity;   /* mf_entity.label */
    const char *server;   /* mf_entity.server, may be NULL */
    mf_state state;
    const char *message;
    const mf_waiver *waiver;  /* the waiver applied (state waived), or NULL */
    const mf_waiver *expired; /* an expired waiver that matched, or NULL */
    size_t waiver_index;      /* index of waiver or expired in the waivers file */
} mf_result;

typedef struct mf_results mf_results;

/* A writer of results. begin is called once before the first result, add for each,
 * end once after the last (the counts are final then); free releases ctx. Any member but
 * add may be NULL. */
typedef struct mf_results_sink {
    const char *name;
    void *ctx;
    mf_code (*begin)(void *ctx, const mf_results *rs, mf_error *err);
    mf_code (*add)(void *ctx, const mf_results *rs, const mf_result *r, mf_error *err);
    mf_code (*end)(void *ctx, const mf_results *rs, mf_error *err);
    void (*free)(void *ctx);
} mf_results_sink;

/* Options of one run; strings are borrowed and must outlive the mf_results. */
typedef struct mf_run_info {
    const char *command; /* "check" or "report" */
    const char *source;  /* "3 report files", "store /var/lib/mailfleet.db" */
    int64_t as_of;       /* reference time (seconds, UTC) */
    mf_severity fail_on;
} mf_run_info;

/* A new, empty results set for policy p (borrowed; waivers may be NULL). */
mf_code mf_results_new(mf_results **out, const mf_policy *p, mf_waivers *w,
                       const mf_run_info *info);
/* Free the set and every sink (calling their free). NULL is allowed. */
void mf_results_free(mf_results *rs);
/* Add a sink; the set owns it from now on (even on failure). */
mf_code mf_results_add_sink(mf_results *rs, const mf_results_sink *sink);
/* A sink writing the results JSON to path ("-" is stdout). The file is created now, so
 * an unwritable path fails before any evaluation. */
mf_code mf_results_json_sink(mf_results_sink *out, const char *path, mf_error *err);

/* Start the run: calls every sink's begin. */
mf_code mf_results_begin(mf_results *rs, mf_error *err);
/* Count r and hand it to every sink. Fails only when a sink fails (disk full). */
mf_code mf_results_add(mf_results *rs, const mf_result *r, mf_error *err);
/* Record an input: a report evaluated, or one that could not be (file and message are
 * copied; at most 1000 messages are kept, all are counted). */
void mf_results_input_ok(mf_results *rs);
/* Whether some sink receives every result (so their texts are needed). Sinks are added
 * before evaluation starts. */
bool mf_results_writes_each(const mf_results *rs);
void mf_results_input_skipped(mf_results *rs); /* an older report of a host */
void mf_results_input_error(mf_results *rs, const char *file, const char *message);
/* A free-form warning shown in the output (copied; at most 100 kept). */
void mf_results_warn(mf_results *rs, const char *message);
/* Finish: calls every sink's end. */
mf_code mf_results_end(mf_results *rs, mf_error *err);

/* Accessors for sinks. */
const mf_policy *mf_results_policy(const mf_results *rs);
const mf_waivers *mf_results_waivers(const mf_results *rs);
const mf_run_info *mf_results_info(const mf_results *rs);
/* Count of results in state s (all rules). */
size_t mf_results_count(const mf_results *rs, mf_state s);
/* Count of results of rule (by index) in state s. */
size_t mf_results_rule_count(const mf_results *rs, size_t rule, mf_state s);
/* Inputs: evaluated reports, skipped older reports, reports that failed. */
void mf_results_inputs(const mf_results *rs, size_t *ok, size_t *skipped, size_t *errors);
size_t mf_results_input_error_count(const mf_results *rs);
const char *mf_results_input_error_file(const mf_results *rs, size_t i);
const char *mf_results_input_error_text(const mf_results *rs, size_t i);
size_t mf_results_warning_count(const mf_results *rs);
const char *mf_results_warning(const mf_results *rs, size_t i);
/* Results failing (or in error) at or above the fail-on severity. */
size_t mf_results_failed_at_or_above(const mf_results *rs);
size_t mf_results_errors_at_or_above(const mf_results *rs);

/* The exit code of the run: 1 when an input could not be evaluated, else 100 when a
 * rule of severity >= fail_on failed, else 101 when such a rule gave an error, else 0.
 * Waived, passing and not-applicable results never count. */
int mf_results_exit_code(const mf_results *rs);

/* Print the human summary: a table of rules with their counts, the first max_list
 * failures and errors, and the totals. The results kept for this are the first
 * max_list fail/error results (copies), so memory stays bounded. */
void mf_results_print_summary(const mf_results *rs, FILE *f);

/* ------------------------------------------------------------------ driving a run */

/* Evaluation options shared by check and report. */
typedef struct mf_eval_opts {
    int64_t as_of;
    FILE *dump_facts; /* when set, every entity's facts are written as JSON lines */
    /* pass and notapplicable results carry no message or entity (they are counted but
     * nothing writes them); mf_eval_pool_new sets it when the results have no sink */
    bool quiet_passes;
} mf_eval_opts;

/* Evaluate every rule of scope server, account, probe and host on report r (its host's
 * latest), applying waivers and feeding results to rs. */
mf_code mf_policy_eval_report(const mf_policy *p, const mf_report *r, mf_waivers *w, mf_results *rs,
                              const mf_eval_opts *opts, mf_error *err);
/* Evaluate every fleet-server rule over the aggregated fleet. */
mf_code mf_policy_eval_fleet(const mf_policy *p, mf_fleet *fleet, mf_waivers *w, mf_results *rs,
                             const mf_eval_opts *opts, mf_error *err);

/* ------------------------------------------------------------------ the pool */

/* Reports are decoded and evaluated by a pool of worker threads, and their results are
 * handed to the results in submission order on the caller's thread (so outputs are the
 * same whatever the number of threads, and sinks never see two threads). Memory is
 * bounded by the jobs in flight (8 per thread). Each worker aggregates its own fleet
 * facts; mf_eval_pool_finish merges them into the caller's fleet. */
typedef struct mf_eval_pool mf_eval_pool;

/* Called on the caller's thread, in submission order, once per document, just before
 * its results are handed on: r is the decoded report (or its head, see keep_report), or
 * NULL when it did not decode (why then says why). label is the one given to submit. A
 * non-MF_OK return stops the run with that error. */
typedef mf_code (*mf_eval_pool_fn)(void *ctx, size_t seq, const char *label, const mf_report *r,
                                   const char *why, mf_error *err);

typedef struct mf_eval_pool_opts {
    size_t threads;     /* worker threads; 0 or 1 evaluates on the caller's thread */
    bool evaluate;      /* evaluate the policy's host-level rules (else only decode) */
    bool fleet_history; /* feed each report to mf_fleet_add_history */
    bool fleet_latest;  /* feed each report to mf_fleet_add_latest */
    bool keep_report;   /* on_report gets the whole report; else only its head (ids,
                         * times, host and agent: sources, servers, accounts and probes
                         * are freed by the worker) */
    mf_eval_pool_fn on_report;
    void *ctx;
    /* Optional, without keep_report: keep_whole (on a worker, any time) says whether a
     * report just decoded should stay whole rather than be cut to its head; when it
     * did, take_whole (on the caller's thread, in order, right after on_report for the
     * same report) gets it and owns it from then on (keeps it or mf_report_free's it).
     * `check` keeps reports this way so that it need not decode them twice. */
    bool (*keep_whole)(void *ctx);
    void (*take_whole)(void *ctx, size_t seq, mf_report *r);
} mf_eval_pool_opts;

/* The default number of worker threads: the online CPUs, at most 8. */
size_t mf_eval_threads_default(void);
/* Start a pool. p, w, rs and fleet (may be NULL) are borrowed and must outlive it.
 * --dump-facts (eo->dump_facts) runs on the caller's thread, to keep the file in order. */
mf_code mf_eval_pool_new(mf_eval_pool **out, const mf_policy *p, mf_waivers *w, mf_results *rs,
                         const mf_eval_opts *eo, mf_fleet *fleet, const mf_eval_pool_opts *po,
                         mf_error *err);
/* Queue one report document (copied; _owned takes data, which must be malloc'd and is
 * freed in every case). May hand on earlier results, and blocks while the pool is full. */
mf_code mf_eval_pool_submit(mf_eval_pool *pool, const char *json, size_t len, const char *label,
                            mf_error *err);
mf_code mf_eval_pool_submit_owned(mf_eval_pool *pool, char *data, size_t len, const char *label,
                                  mf_error *err);
/* Queue a report decoded earlier (taken: freed in every case), as if its document had
 * been submitted: the workers do not decode it again. */
mf_code mf_eval_pool_submit_report(mf_eval_pool *pool, mf_report *r, const char *label,
                                   mf_error *err);
/* Wait for every queued report, hand on their results, stop the workers and merge their
 * fleet facts into the caller's fleet. */
mf_code mf_eval_pool_finish(mf_eval_pool *pool, mf_error *err);
/* Free the pool (stopping the workers if finish was not called). NULL is allowed. */
void mf_eval_pool_free(mf_eval_pool *pool);

/* ------------------------------------------------------------------ the commands */

/* What check and report share (cmd_check.c): their common options, and the steps
 * before and after evaluating. */
typedef struct mf_eval_cli {
    const char *command;      /* "check" or "report" */
    const char *policy_path;  /* --policy */
    const char *waivers_path; /* --waivers */
    const char *json_path;    /* --json */
    const char *dump_path;    /* --dump-facts */
    /* Report writers (reports/, wired by report_outputs.h): --junit, --html, --csv,
     * --history FILE and --junit-group-by host|rule. */
    const char *junit_path;
    const char *html_path;
    const char *csv_path;
    const char *history_path;
    int junit_group;     /* mf_rpt_group */
    mf_severity fail_on; /* --fail-on, default info */
    int64_t as_of;       /* --as-of, default now */
    int verbosity;       /* -v / -q */
    size_t jobs;         /* --jobs: worker threads (default: the CPUs, at most 8) */
    bool no_progress;    /* --no-progress */
    mf_progress progress; /* the line on a terminal while hosts are evaluated */
    size_t evaluated;     /* hosts handed to the writers so far */
    /* set by mf_eval_cli_open */
    mf_policy *policy;
    mf_waivers *waivers;
    mf_results *results;
    FILE *dump;
    mf_eval_opts opts;
    struct mf_report_outputs *outputs; /* the report writers, NULL when none */
} mf_eval_cli;

/* The common options as getopt_long entries, first in both commands' tables so that
 * option code c names entry c - MF_EVAL_OPT_FIRST; each is handed to mf_eval_cli_option
 * by its name. (Needs <getopt.h>.) */
#define MF_EVAL_OPT_FIRST 1000
#define MF_EVAL_OPT_LAST 1012
#define MF_EVAL_LONGOPTS                                                                         \
    {"policy", required_argument, NULL, 1000}, {"waivers", required_argument, NULL, 1001},       \
        {"json", required_argument, NULL, 1002}, {"fail-on", required_argument, NULL, 1003},     \
        {"as-of", required_argument, NULL, 1004},                                                \
        {"dump-facts", required_argument, NULL, 1005}, {"junit", required_argument, NULL, 1006}, \
        {"html", required_argument, NULL, 1007}, {"csv", required_argument, NULL, 1008},         \
        {"history", required_argument, NULL, 1009},                                              \
        {"junit-group-by", required_argument, NULL, 1010},                                       \
        {"jobs", required_argument, NULL, 1011}, {"no-progress", no_argument, NULL, 1012}

/* Initialise with the defaults. */
void mf_eval_cli_init(mf_eval_cli *c, const char *command);
/* Handle one of the common options, given by its long name ("policy", "fail-on", ...)
 * with its argument. Returns 1 when handled, 0 when the option is not a common one, and
 * -1 after printing a usage error to stderr. */
int mf_eval_cli_option(mf_eval_cli *c, const char *name, const char *arg);
/* After the options: load the policy and the waivers (a malformed file stops here, before
 * anything is evaluated), create the outputs and start the results. source describes
 * the input for the output ("3 report files"). Returns 0, or the exit code to stop with
 * (1 runtime error, 2 usage error) after printing why. */
int mf_eval_cli_open(mf_eval_cli *c, const char *source);
/* After evaluating: finish the outputs, print the summary (to stdout, or stderr when the
 * JSON goes to stdout) and return the exit code. */
int mf_eval_cli_finish(mf_eval_cli *c);
/* The pool's on_report for evaluating runs (ctx: the mf_eval_cli): records the input as
 * evaluated or failed, and tells the report writers about the host. */
mf_code mf_eval_cli_on_report(void *ctx, size_t seq, const char *label, const mf_report *r,
                              const char *why, mf_error *err);
/* Release everything; safe after a failed open. */
void mf_eval_cli_close(mf_eval_cli *c);

/* The commands (cmd_check.c, cmd_report.c): argv[0] is the command name; they return
 * the process exit code. */
int mf_cmd_check(int argc, char **argv);
int mf_cmd_report(int argc, char **argv);

#endif
