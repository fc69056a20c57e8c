/* report_outputs.h: the report writers of reports/ (JUnit XML, HTML, CSV) as sinks of
 * the result model (results.h), plus what those writers want that results do not carry:
 * facts about each host's report, the store's server inventory, and history.
 *
 * The glue lives on the collector's side so that the reports library stays free of the
 * policy engine (it knows only reports.h) and the link order stays one-way.
 *
 *   mf_report_outputs_open(&o, &paths, &err);      create the files now (fail early)
 *   mf_report_outputs_attach(o, results, &err);    one sink per file, before begin
 *   ... for each host: mf_report_outputs_host(o, report) then evaluate it ...
 *   mf_report_outputs_server(o, row)               the store's inventory (report)
 *   mf_results_end(results)                        writes and renames the files
 *   mf_report_outputs_free(o)                      after mf_results_free
 */
#ifndef MF_REPORT_OUTPUTS_H
#define MF_REPORT_OUTPUTS_H

#include "report.h"
#include "reports.h"
#include "results.h"
#include "store.h"

typedef struct mf_report_paths {
    const char *junit;        /* --junit FILE, or NULL */
    const char *html;         /* --html FILE */
    const char *csv;          /* --csv FILE */
    const char *history;      /* --history FILE: compliance per day and first failures,
                                 kept between runs (report_history.c); NULL: none */
    mf_rpt_group junit_group; /* --junit-group-by host|rule */
    int stale_days;           /* hosts silent for longer stopped reporting; 0: 7 */
} mf_report_paths;

typedef struct mf_report_outputs mf_report_outputs;

/* Open every writer named in paths (none is fine: *out is then an empty set whose
 * functions do nothing). Files are created under temporary names now, so an unwritable
 * path fails before any evaluation. *out belongs to the caller. */
mf_code mf_report_outputs_open(mf_report_outputs **out, const mf_report_paths *paths,
                               mf_error *err);
/* Add one sink per writer to rs. The set must outlive rs's end; the sinks do not own it
 * (mf_results_free leaves it alone). */
mf_code mf_report_outputs_attach(mf_report_outputs *o, mf_results *rs, mf_error *err);
/* Tell the writers about report r, whose results come next (collection time, OS and
 * agent versions, report id). NULL o does nothing. */
mf_code mf_report_outputs_host(mf_report_outputs *o, const mf_report *r, mf_error *err);
/* One row of the store's server inventory (HTML). NULL o does nothing. */
mf_code mf_report_outputs_server(mf_report_outputs *o, const mf_store_server_row *row,
                                 mf_error *err);
/* Whether any writer is open. */
bool mf_report_outputs_any(const mf_report_outputs *o);
void mf_report_outputs_free(mf_report_outputs *o);

#endif
