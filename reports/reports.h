/* reports.h: the report writers of mailfleet: JUnit XML, HTML and CSV.
 *
 * (The results JSON is written by the result model itself, collector/results.c;
 * report_sink.h connects these writers to that model.)
 *
 * A writer knows nothing about policies or stores. It is fed a small, neutral model:
 *
 *   mf_rpt_open(&w, MF_RPT_JUNIT, "out.xml", &opts, &err);
 *   mf_rpt_begin(w, &run, rules, nrules, &err);
 *   mf_rpt_add_host(w, &host, &err);      optional: facts about the next host
 *   mf_rpt_add_result(w, &result, &err);  every result, host by host
 *   mf_rpt_add_server(w, &server, &err);  optional, any time: the server inventory
 *   mf_rpt_add_day(w, &day, &err);        optional, any time: compliance history
 *   mf_rpt_add_waiver(w, &waiver, &err);  optional, any time: the waivers file
 *   mf_rpt_end(w, &err);                  writes the rest and puts the file in place
 *   mf_rpt_free(w);
 *
 * Results of one host must arrive together (the policy engine evaluates host by host);
 * a change of host id closes the host. Results without a host id (the fleet-server
 * scope) form their own group. Only one host is held in memory at a time; writers that
 * need a different order (JUnit grouped by rule, HTML with the worst hosts first) keep
 * their markup in an unlinked temporary file next to the output and an index of a few
 * bytes per host or result, so memory does not grow with the text of the fleet.
 *
 * Every string is treated as untrusted: invalid UTF-8 and characters XML cannot carry
 * (C0 controls but tab and newlines, U+FFFE, U+FFFF) are replaced by U+FFFD, and
 * values are capped in length (MF_RPT_TEXT_MAX, MF_RPT_BODY_MAX) with an ellipsis.
 *
 * The output file is written under a temporary name in the same folder and renamed into
 * place by mf_rpt_end, so an interrupted run never leaves half a report. "-" writes to
 * standard output instead.
 */
#ifndef MF_REPORTS_H
#define MF_REPORTS_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps on one value (bytes, before escaping). Longer values end in "…". */
#define MF_RPT_TEXT_MAX 2048  /* names, messages, attributes */
#define MF_RPT_BODY_MAX 16384 /* descriptions, remediation, failure bodies */
/* Results of one host kept while it is open; more are counted but not written. */
#define MF_RPT_HOST_RESULTS_MAX 100000
/* Server inventory rows and history days kept for the HTML report. */
#define MF_RPT_SERVERS_MAX 200000
#define MF_RPT_DAYS_MAX    3660
#define MF_RPT_WAIVERS_MAX 10000

typedef enum mf_rpt_format {
    MF_RPT_JUNIT = 0,
    MF_RPT_HTML,
    MF_RPT_CSV,
    MF_RPT__FORMATS
} mf_rpt_format;

/* The five result states, kept apart everywhere (same order as the result model). */
typedef enum mf_rpt_state {
    MF_RPT_PASS = 0,
    MF_RPT_FAIL,
    MF_RPT_ERROR,
    MF_RPT_NOTAPPLICABLE,
    MF_RPT_WAIVED,
    MF_RPT__STATES
} mf_rpt_state;

typedef enum mf_rpt_severity {
    MF_RPT_INFO = 0,
    MF_RPT_LOW,
    MF_RPT_MEDIUM,
    MF_RPT_HIGH,
    MF_RPT_CRITICAL,
    MF_RPT__SEVERITIES
} mf_rpt_severity;

/* JUnit: one testsuite per host (default) or per rule. */
typedef enum mf_rpt_group { MF_RPT_GROUP_HOST = 0, MF_RPT_GROUP_RULE } mf_rpt_group;

/* Names: "pass", "fail", "error", "notapplicable", "waived"; "info" … "critical";
 * "junit", "html", "csv"; "host", "rule". Never NULL ("?" when out of range). */
const char *mf_rpt_state_name(mf_rpt_state s);
const char *mf_rpt_severity_name(mf_rpt_severity s);
const char *mf_rpt_format_name(mf_rpt_format f);
/* Parse those words; false for anything else. */
bool mf_rpt_format_parse(const char *s, mf_rpt_format *out);
bool mf_rpt_group_parse(const char *s, mf_rpt_group *out);

typedef struct mf_rpt_opts {
    mf_rpt_group junit_group; /* JUnit only */
    int stale_days;           /* a host whose latest report is older stopped reporting;
                                 0 means 7 */
    size_t html_page_hosts;   /* hosts per page of host details; 0 means 250 */
    size_t html_open_hosts;   /* fleets up to this many hosts get every page expanded
                                 and print in full; 0 means 1000 */
    size_t html_detail_hosts; /* hosts with findings shown with every result (worst
                                 first); the others get one summary row each, so the
                                 page stays usable at 100,000 hosts; 0 means 1000 */
} mf_rpt_opts;

/* What was run. All strings may be NULL. */
typedef struct mf_rpt_run {
    const char *policy_id;
    const char *policy_title;
    const char *policy_version;
    const char *command;  /* "check" or "report" */
    const char *source;   /* "store /var/lib/mailfleet/store.db", "3 report files" */
    int64_t generated_at; /* the reference time, seconds since the epoch (UTC) */
    mf_rpt_severity fail_on;
    /* Inputs: reports evaluated, older reports skipped, reports that failed to load. */
    size_t inputs_ok, inputs_skipped, inputs_failed;
} mf_rpt_run;

typedef struct mf_rpt_rule {
    const char *id; /* required */
    const char *title;
    mf_rpt_severity severity;
    const char *scope; /* "server", "account", "probe", "host", "fleet-server" */
    const char *description;
    const char *rationale;
    const char *remediation; /* for the user of the Mac */
    const char *remediation_admin;
    const char *const *references;
    size_t nreferences;
} mf_rpt_rule;

/* Facts about a host that results do not carry. Call mf_rpt_add_host just before the
 * host's results; strings are copied. */
typedef struct mf_rpt_host {
    const char *id; /* required: must equal the results' host_id */
    const char *hostname;
    int64_t collected_at; /* of the report evaluated; 0 unknown */
    const char *os_version;
    const char *agent_version;
    const char *report_id;
} mf_rpt_host;

/* One result: a rule on one entity of one host. Strings are borrowed for the call. */
typedef struct mf_rpt_result {
    size_t rule;          /* index into the rules given to mf_rpt_begin */
    const char *host_id;  /* NULL for fleet-wide results (fleet-server scope) */
    const char *hostname; /* may be NULL */
    const char *entity;   /* "s1 smtp.example.com:587 (alice, apple-mail)" */
    const char *server;   /* "smtp.example.com:587", "provider:icloud" or NULL */
    mf_rpt_state state;
    const char *message; /* the evidence: why it passed, failed or erred */
    /* The waiver that applies (state waived), else all NULL. */
    const char *waiver_justification;
    const char *waiver_approved_by;
    const char *waiver_expires; /* YYYY-MM-DD */
    /* An expired waiver matched (so the result counts again), else NULL. */
    const char *expired_waiver_expires;
    int64_t first_failed; /* when this failure first appeared (seconds); 0 unknown */
} mf_rpt_result;

/* One SMTP server across the fleet (the store's inventory). Strings are copied. */
typedef struct mf_rpt_server {
    const char *hostname; /* NULL for a provider-managed entry */
    const char *provider; /* NULL unless provider-managed */
    int port;             /* 0 unknown */
    long long hosts;      /* Macs that have it in their latest report */
    long long hosts_ever; /* Macs that had it in any stored report */
    long long entries;    /* server entries in latest reports */
    long long accounts;   /* accounts using it */
    long long unused;     /* entries no account uses */
    long long probes_ok;
    long long probes_failed;
    const char *top_failure; /* most frequent failing probe outcome, or NULL */
    int64_t first_seen;      /* 0 unknown */
    int64_t last_seen;
} mf_rpt_server;

/* One day of history: how many hosts reported that day and how many were compliant
 * (no failed result). day is any time within the day (UTC). */
typedef struct mf_rpt_day {
    int64_t day;
    size_t hosts;
    size_t compliant;
} mf_rpt_day;

/* One entry of the waivers file, with what it did in this run. Strings are copied. */
typedef struct mf_rpt_waiver {
    const char *rule;
    const char *host;   /* glob */
    const char *server; /* glob */
    const char *justification;
    const char *approved_by;
    const char *expires; /* YYYY-MM-DD */
    const char *status;  /* "active", "expired", "unknown-rule" */
    size_t matched;      /* results it waived (or, expired, would have waived) */
} mf_rpt_waiver;

typedef struct mf_rpt_writer mf_rpt_writer;

/* Create a writer of format fmt to path ("-" for standard output). The output file is
 * created now (under a temporary name), so an unwritable path fails before any work.
 * opts may be NULL (defaults). *out belongs to the caller (mf_rpt_free). */
mf_code mf_rpt_open(mf_rpt_writer **out, mf_rpt_format fmt, const char *path,
                    const mf_rpt_opts *opts, mf_error *err);
/* Start: the run and the rules (borrowed: both must outlive the writer). */
mf_code mf_rpt_begin(mf_rpt_writer *w, const mf_rpt_run *run, const mf_rpt_rule *rules,
                     size_t nrules, mf_error *err);
/* Facts about the host whose results come next (optional). */
mf_code mf_rpt_add_host(mf_rpt_writer *w, const mf_rpt_host *host, mf_error *err);
/* One result. MF_ERR_INVALID for a rule index out of range or an unknown state. */
mf_code mf_rpt_add_result(mf_rpt_writer *w, const mf_rpt_result *r, mf_error *err);
/* One row of the server inventory (HTML only; the other formats ignore it). */
mf_code mf_rpt_add_server(mf_rpt_writer *w, const mf_rpt_server *s, mf_error *err);
/* One day of history (HTML only). */
mf_code mf_rpt_add_day(mf_rpt_writer *w, const mf_rpt_day *d, mf_error *err);
/* One waiver (HTML only; JUnit and CSV show waivers on the results they waive). */
mf_code mf_rpt_add_waiver(mf_rpt_writer *w, const mf_rpt_waiver *wv, mf_error *err);
/* Update the input counts of the run (known only at the end of an evaluation); any time
 * before mf_rpt_end. */
void mf_rpt_set_inputs(mf_rpt_writer *w, size_t ok, size_t skipped, size_t failed);
/* Finish: write what is left, flush, and rename the file into place. After a failure
 * (or without mf_rpt_end) mf_rpt_free removes the temporary file. */
mf_code mf_rpt_end(mf_rpt_writer *w, mf_error *err);
/* Free the writer; NULL is allowed. */
void mf_rpt_free(mf_rpt_writer *w);

/* The output path given to mf_rpt_open (borrowed). */
const char *mf_rpt_path(const mf_rpt_writer *w);

#endif
