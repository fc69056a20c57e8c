/* reports_int.h: what the writers of reports/ share behind reports.h.
 *
 * reports.c does the bookkeeping every format needs (order of calls, cleaning and
 * copying of values, grouping results by host, counts per state and per rule, the
 * server inventory, history and waivers) and hands each backend whole hosts. A backend
 * (report_junit.c, report_html.c, report_csv.c) is a table of four functions, like
 * OpenSMTPD's queue backends.
 */
#ifndef MF_REPORTS_INT_H
#define MF_REPORTS_INT_H

#include "reports.h"

#include <stdio.h>

/* A bump allocator for the strings of the open host; reset when the host closes. */
typedef struct mf_rpt_chunk mf_rpt_chunk;
typedef struct mf_rpt_arena {
    mf_rpt_chunk *head;
} mf_rpt_arena;

void *mf_rpt_arena_alloc(mf_rpt_arena *a, size_t n);
/* A cleaned copy of s (mf_xml_clean with cap max) in the arena; NULL for NULL s or OOM
 * (which the caller tells apart by s). */
char *mf_rpt_arena_clean(mf_rpt_arena *a, const char *s, size_t max);
void mf_rpt_arena_reset(mf_rpt_arena *a);
void mf_rpt_arena_free(mf_rpt_arena *a);

/* One host and its results, as backends see it. Every string is clean (mf_xml_clean)
 * and capped. */
typedef struct mf_rpt_hostgroup {
    const char *id;       /* NULL: the fleet-wide results */
    const char *hostname; /* may be NULL */
    const char *label;    /* hostname, else id; "hostname (id)" when another host
                             already used that host name; "fleet" for fleet-wide */
    int64_t collected_at; /* 0 unknown */
    const char *os_version;
    const char *agent_version;
    const char *report_id;
    bool stopped;           /* latest report older than opts.stale_days */
    size_t index;           /* 0, 1, 2 … in order of arrival */
    mf_rpt_result *results; /* n of them, strings in the arena */
    size_t n;
    size_t dropped; /* results past MF_RPT_HOST_RESULTS_MAX */
    size_t counts[MF_RPT__STATES];
    size_t fail_sev[MF_RPT__SEVERITIES]; /* failed results per severity */
    int worst;                           /* highest severity failed, -1 none */
} mf_rpt_hostgroup;

/* Counts over the whole run, final when the backend's end runs. */
typedef struct mf_rpt_totals {
    size_t hosts;           /* host groups (the fleet-wide group not counted) */
    size_t hosts_compliant; /* hosts without a failed result */
    size_t hosts_with_errors;
    size_t hosts_stopped;
    size_t results;
    size_t counts[MF_RPT__STATES];
    size_t fail_sev[MF_RPT__SEVERITIES];          /* failed results per severity */
    size_t rules_failing_sev[MF_RPT__SEVERITIES]; /* rules with >= 1 failure */
    size_t *rule_counts;                          /* nrules * MF_RPT__STATES */
    int64_t *rule_first_failed;     /* per rule: earliest first_failed of its failures */
    size_t *rule_hosts_failing;     /* per rule: hosts with at least one failure */
    int64_t window_from, window_to; /* oldest and newest collected_at seen, 0 none */
    size_t dropped;                 /* results not written (per-host cap) */
} mf_rpt_totals;

typedef struct mf_rpt_backend {
    const char *name;
    mf_code (*begin)(mf_rpt_writer *w, mf_error *err);
    mf_code (*host)(mf_rpt_writer *w, const mf_rpt_hostgroup *g, mf_error *err);
    mf_code (*end)(mf_rpt_writer *w, mf_error *err);
    void (*free)(void *impl);
} mf_rpt_backend;

/* Server rows, days and waivers as kept (cleaned copies). */
typedef struct mf_rpt_server_row {
    mf_rpt_server s; /* strings owned */
    char *key;       /* "hostname:port", "provider:NAME": matches results' server */
} mf_rpt_server_row;

struct mf_rpt_writer {
    mf_rpt_format fmt;
    const mf_rpt_backend *be;
    void *impl;
    mf_rpt_opts opts;
    char *path;
    char *tmp_path; /* NULL when writing to stdout */
    FILE *f;        /* the output */
    int stage;      /* 0 opened, 1 begun, 2 ended, 3 failed */
    mf_rpt_run run; /* strings cleaned, owned (run_strings) */
    char *run_strings[6];
    mf_rpt_rule *rules; /* cleaned copies */
    size_t nrules;
    char **rule_strings; /* everything allocated for rules */
    size_t nrule_strings, caprule_strings;
    mf_rpt_totals totals;
    /* the open host */
    bool open;
    mf_rpt_hostgroup cur;
    mf_rpt_arena arena;
    size_t capresults;
    size_t next_index;
    mf_rpt_host pending; /* from mf_rpt_host, strings in pending_arena */
    bool has_pending;
    mf_rpt_arena pending_arena;
    /* host name -> host id, to give colliding host names a distinct label */
    struct label_set *labels;
    /* HTML extras */
    mf_rpt_server_row *servers;
    size_t nservers, capservers, servers_dropped;
    mf_rpt_day *days;
    size_t ndays, capdays;
    mf_rpt_waiver *waivers; /* strings owned */
    size_t nwaivers, capwaivers;
};

/* Helpers for backends. */
const mf_rpt_rule *mf_rpt_rule_at(const mf_rpt_writer *w, size_t i);
/* "2026-11-29T10:00:00Z" / "2026-11-29" / "2026-11-29T10:00:00" (no zone); "" for 0. */
void mf_rpt_time_rfc3339(int64_t t, char *out, size_t outsz);
void mf_rpt_time_date(int64_t t, char *out, size_t outsz);
void mf_rpt_time_local(int64_t t, char *out, size_t outsz);
/* An unlinked temporary file in the output's folder (or $TMPDIR for stdout). */
mf_code mf_rpt_tmpfile(FILE **out, const mf_rpt_writer *w, mf_error *err);
/* The server key of a row: "hostname:port", "hostname", "provider:NAME" or "". */
void mf_rpt_server_key(const mf_rpt_server *s, char *out, size_t outsz);

extern const mf_rpt_backend mf_rpt_junit_backend;
extern const mf_rpt_backend mf_rpt_html_backend;
extern const mf_rpt_backend mf_rpt_csv_backend;

#endif
