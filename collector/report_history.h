/* report_history.h: what the HTML report's history section needs and a single run
 * cannot know: the share of compliant Macs on each day a report was made, and the day
 * each current failure first appeared. Kept in a small SQLite file (--history FILE)
 * that every `report` (or `check`) run reads and updates in one transaction:
 *
 *   days(day 'YYYY-MM-DD', hosts, compliant)      one row per day, last run wins
 *   failures(key, host, first_failed, last_run)    the failures of the last run, keyed
 *                                                  by a hash of (host, rule, entity)
 *
 * A failure that is no longer failing on a host evaluated in this run is forgotten, so
 * when it comes back it counts from its new first day. Hosts not evaluated in a run
 * (check on a subset of files) keep their rows. docs/reports.md describes the file.
 */
#ifndef MF_REPORT_HISTORY_H
#define MF_REPORT_HISTORY_H

#include "error.h"
#include "reports.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct mf_history mf_history;

/* Open or create the history at path for a run as of `as_of` (seconds, UTC) and start
 * its transaction. *out belongs to the caller (mf_history_close). */
mf_code mf_history_open(mf_history **out, const char *path, int64_t as_of, mf_error *err);
/* A failed result: returns (in *first) the time it first failed, recording it as new
 * when it was not failing in the previous run. */
mf_code mf_history_failure(mf_history *h, const char *host, const char *rule, const char *entity,
                           int64_t *first, mf_error *err);
/* A host was evaluated in this run, compliant or not (no failed and no erroneous
 * result). */
mf_code mf_history_host(mf_history *h, const char *host, bool compliant, mf_error *err);
/* Finish the run: record today's counts, forget failures that ended on the hosts
 * evaluated, commit. Then call fn (may be NULL) for every day on record, oldest first,
 * at most MF_RPT_DAYS_MAX; an error from fn stops the walk and is returned. */
mf_code mf_history_finish(mf_history *h,
                          mf_code (*fn)(void *ctx, const mf_rpt_day *d, mf_error *err), void *ctx,
                          mf_error *err);
/* Close; a run not finished is rolled back. NULL allowed. */
void mf_history_close(mf_history *h);

#endif
