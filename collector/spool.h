/* spool.h: the collector's spool folder, where `receive` leaves reports and `ingest`
 * picks them up.
 *
 * Layout of a spool folder DIR:
 *
 *   DIR/<report_id>.json        received, validated, waiting for ingest
 *   DIR/tmp/                    files being written (never read by ingest)
 *   DIR/done/<report_id>.json   ingested (moved here only after the database commit)
 *   DIR/quarantine/<name>       refused by ingest, with <name>.reason next to it
 *   DIR/ingest.lock             held (flock) by a running ingest
 *
 * <report_id> is always a lower-case canonical UUID: a name becomes a file name only
 * after mf_spool_id_normalise() accepted it, so nothing from a report can name a path.
 * Writes are durable: temporary file in tmp/, fsync, link into place, fsync of the
 * folder. Linking (not renaming) into place makes two writers of the same report agree
 * on exactly one winner: the second sees EEXIST and learns it holds a duplicate.
 */
#ifndef MF_SPOOL_H
#define MF_SPOOL_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mf_spool mf_spool;

/* The outcome of mf_spool_store. */
typedef enum mf_spool_result {
    MF_SPOOL_STORED = 0,    /* written durably under its id */
    MF_SPOOL_DUPLICATE = 1, /* already in the spool, done/ or quarantine/: nothing written */
} mf_spool_result;

/* Length of "<uuid>.json" plus NUL. */
#define MF_SPOOL_NAME_MAX 42

/* Check that id is a canonical UUID (either case) and write its lower-case form to
 * out (37 bytes). Returns false (out set to "") for anything else, including NULL. */
bool mf_spool_id_normalise(char out[37], const char *id);

/* True when name is exactly "<lower-case uuid>.json"; the id goes to id_out (37 bytes,
 * may be NULL). */
bool mf_spool_name_is_report(const char *name, char *id_out);

/* Open the spool at dir. With create, dir and its subfolders are made (mode 0750) when
 * missing; without it a missing dir is MF_ERR_NOTFOUND, and missing subfolders are
 * still made. *out is the caller's, freed with mf_spool_close(). */
mf_code mf_spool_open(mf_spool **out, const char *dir, bool create, mf_error *err);

/* Close the spool (releasing the ingest lock if held). NULL is allowed. */
void mf_spool_close(mf_spool *sp);

/* The folder given to mf_spool_open. */
const char *mf_spool_dir(const mf_spool *sp);

/* Store len bytes as report `id` (a UUID in either case; anything else is
 * MF_ERR_INVALID and nothing is written). *out says whether it was stored or was a
 * duplicate. A full disk or quota is MF_ERR_NOSPACE (the temporary file is removed);
 * other failures MF_ERR_IO. MF_OK means the file and its folder were fsynced. */
mf_code mf_spool_store(mf_spool_result *out, mf_spool *sp, const char *id, const void *data,
                       size_t len, mf_error *err);

/* True when report `id` (any case) is in the spool, done/ or quarantine/. */
bool mf_spool_has(const mf_spool *sp, const char *id);

/* Take the ingest lock (flock on DIR/ingest.lock, not waiting). MF_ERR_REFUSED when
 * another process holds it. Released by mf_spool_close or process exit. */
mf_code mf_spool_lock(mf_spool *sp, mf_error *err);

/* Iterate over the entries waiting in DIR (regular files, any name not starting with
 * '.', not ingest.lock), in directory order, without collecting them all in memory.
 * Start with mf_spool_scan_begin; each mf_spool_scan_next gives a name (valid until
 * the next call) or NULL at the end. Files moved away during the scan are fine. */
typedef struct mf_spool_scan mf_spool_scan;
mf_code mf_spool_scan_begin(mf_spool_scan **out, mf_spool *sp, mf_error *err);
const char *mf_spool_scan_next(mf_spool_scan *sc);
void mf_spool_scan_end(mf_spool_scan *sc);

/* Count the entries a scan would give (for progress). */
size_t mf_spool_count(mf_spool *sp);

/* Full path of an incoming entry: DIR/name. Caller frees; NULL on OOM. */
char *mf_spool_entry_path(const mf_spool *sp, const char *name);

/* An ingested entry: moved to done/ (replacing an older copy), or removed when remove
 * is true. A missing entry is not an error (a previous run may have moved it). Not
 * fsynced: call mf_spool_sync once after a batch. */
mf_code mf_spool_finish(mf_spool *sp, const char *name, bool remove, mf_error *err);

/* A refused entry: writes quarantine/<name>.reason (the reason text and a newline,
 * atomically) and then moves the entry to quarantine/<name>. Crash-safe: until the
 * move happens the entry stays in DIR and is looked at again. */
mf_code mf_spool_quarantine(mf_spool *sp, const char *name, const char *reason, mf_error *err);

/* fsync DIR, done/ and quarantine/ so that finished moves survive a power loss. */
mf_code mf_spool_sync(mf_spool *sp, mf_error *err);

/* Remove files in tmp/ last modified before `before` (seconds since the epoch): the
 * leftovers of receivers that died mid-write. *out counts them. */
mf_code mf_spool_clean_tmp(size_t *out, mf_spool *sp, int64_t before, mf_error *err);

#endif
