/* outbox.h: the agent's queue of reports waiting for the collector's acknowledgement.
 *
 * Layout of the folder (created 0700 when missing):
 *   <ms since the epoch, 16 digits>-<report_id>.json   one queued report each, so the
 *                                  names sort oldest first
 *   state.json                     retry state: attempts, next attempt, last error,
 *                                  and the number of reports dropped but not yet
 *                                  announced (the next queued report carries it)
 *   rejected/<name>.json + .reason reports the collector refused for good (kept for
 *                                  inspection, never retried, capped like the queue)
 *   .lock                          held (flock) while a process uses the outbox
 * Every file is written atomically (temporary file, fsync, rename, fsync of the folder).
 * Files that do not match these names are ignored; stale temporary files (older than an
 * hour, left by a crash) are removed.
 *
 * The caps (count and bytes) are applied after each new report is queued: the oldest
 * reports are dropped first, never the one just queued, and the number dropped is
 * carried by the next report as agent.dropped_reports.
 */
#ifndef MF_OUTBOX_H
#define MF_OUTBOX_H

#include "error.h"
#include "report.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest state.json read back (it is a few hundred bytes). */
#define MF_OUTBOX_STATE_MAX 16384
/* Length of a queued report's file name: 16 digits, '-', UUID, ".json". */
#define MF_OUTBOX_NAME_LEN (16 + 1 + 36 + 5)

typedef struct mf_outbox mf_outbox;

typedef struct mf_outbox_entry {
    char name[MF_OUTBOX_NAME_LEN + 1];
    char report_id[37];
    long long size; /* bytes */
} mf_outbox_entry;

typedef struct mf_outbox_state {
    long long attempts;        /* consecutive failed shipping attempts */
    int64_t next_attempt;      /* epoch seconds before which a --respect-backoff run waits */
    int64_t last_attempt;      /* epoch seconds, 0 = never */
    int64_t last_success;      /* epoch seconds of the last run that emptied the queue */
    long long dropped_pending; /* dropped by the caps, not yet carried by a report */
    long long dropped_total;   /* dropped since the outbox was created (for humans) */
    char last_error[256];      /* why the last attempt failed, "" after a success */
} mf_outbox_state;

/* Open (creating it, and its rejected/ folder, when missing) the outbox at dir and take
 * its lock, waiting up to lock_wait_s seconds for another agent process to finish.
 * Caps: max_reports >= 1, max_bytes >= 1. *out is the caller's (mf_outbox_close).
 * MF_ERR_TIMEOUT when the lock stays held; errors name the folder. */
mf_code mf_outbox_open(mf_outbox **out, const char *dir, long long max_reports, long long max_bytes,
                       int lock_wait_s, mf_error *err);
/* Release the lock and free. NULL is allowed. */
void mf_outbox_close(mf_outbox *ob);

const char *mf_outbox_dir(const mf_outbox *ob);

/* The queued reports, oldest first. *out (caller frees with free()) may be NULL when
 * *n is 0. */
mf_code mf_outbox_list(mf_outbox_entry **out, size_t *n, const mf_outbox *ob, mf_error *err);

/* Queue r: set r->dropped_reports from the state (the drops not yet announced), encode
 * it, write it atomically, then apply the caps. *dropped_out (may be NULL) is the
 * number of older reports the caps dropped now. On failure nothing is queued and the
 * pending drop count is kept for the next report. */
mf_code mf_outbox_enqueue(mf_outbox *ob, mf_report *r, long long *dropped_out, mf_error *err);

/* Read a queued report's bytes, refusing more than cap (MF_ERR_TOOBIG). *out is the
 * caller's; MF_ERR_NOTFOUND when it has vanished. */
mf_code mf_outbox_read(char **out, size_t *len, const mf_outbox *ob, const mf_outbox_entry *e,
                       size_t cap, mf_error *err);

/* Delete a report once the collector has acknowledged it. A report already gone is not
 * an error (another run shipped it). */
mf_code mf_outbox_remove(mf_outbox *ob, const mf_outbox_entry *e, mf_error *err);

/* Move a report the collector refused for good to rejected/, with a .reason file
 * holding reason (one line). The rejected folder keeps at most max_reports files. */
mf_code mf_outbox_reject(mf_outbox *ob, const mf_outbox_entry *e, const char *reason,
                         mf_error *err);

/* Load the retry state; a missing file is the zero state. A corrupt one is logged and
 * replaced by the zero state (it must never stop shipping), so this fails only on OOM. */
mf_code mf_outbox_state_load(mf_outbox_state *out, const mf_outbox *ob, mf_error *err);
/* Write the retry state atomically. */
mf_code mf_outbox_state_save(const mf_outbox *ob, const mf_outbox_state *st, mf_error *err);

/* The back-off before attempt number attempts + 1, in seconds: min_s * 2^(attempts-1),
 * capped at max_s, then "equal jitter": a value in [d/2, d] chosen by rnd (any 32-bit
 * number; pass a random one). attempts <= 0 gives 0. */
int64_t mf_outbox_backoff(long long attempts, int min_s, int max_s, uint32_t rnd);

/* Record a failed attempt at time now: attempts grows (or restarts at 1 when progress
 * is true: some reports were acknowledged, so the collector works), next_attempt is
 * now + back-off, last_error is error (truncated). */
void mf_outbox_note_failure(mf_outbox_state *st, int64_t now, bool progress, const char *error,
                            int min_s, int max_s, uint32_t rnd);
/* Record an attempt that emptied the queue. */
void mf_outbox_note_success(mf_outbox_state *st, int64_t now);

#endif
