/* progress.h: one self-rewriting progress line on stderr for long runs (ingest, check,
 * report over a large fleet), shown only on a terminal and never with -q.
 *
 *   ingest: 51234/100000 (51%)  4706 reports/s  ETA 0:10
 *   report: 20480 hosts  6800 hosts/s
 *
 * Updates are rate-limited (four a second), so calling mf_progress_update for every item
 * costs one clock read. Not thread-safe: update from one thread. */
#ifndef MF_PROGRESS_H
#define MF_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mf_progress {
    bool on;
    bool shown;        /* a line has been drawn and not ended yet */
    bool every;        /* MF_PROGRESS_EVERY set (tests): no rate limit, always a line */
    const char *label; /* "ingest" */
    const char *unit;  /* "reports" */
    size_t total;      /* 0 when unknown: no percentage and no ETA */
    int64_t start_ms, last_ms;
} mf_progress;

/* Whether a progress line belongs on stderr: not turned off, not quiet (-q gives a
 * negative verbosity), and stderr is a terminal. */
bool mf_progress_wanted(bool turned_off, int verbosity);

/* Begin; with on false every other call does nothing. label and unit must outlive p. */
void mf_progress_start(mf_progress *p, bool on, const char *label, const char *unit, size_t total);

/* done items so far; redraws at most four times a second. */
void mf_progress_update(mf_progress *p, size_t done);

/* Draw the final count and end the line (nothing when no line was ever drawn and the run
 * took under a second, so quick runs stay quiet). */
void mf_progress_end(mf_progress *p, size_t done);

#endif
