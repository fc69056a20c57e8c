/* store.h: the collector's report store, behind a small table of function pointers
 * (the shape of OpenSMTPD's queue backends) so that a PostgreSQL backend can join the
 * SQLite one without touching ingest or the report writers.
 *
 * A store holds every ingested report once (by report_id), normalised rows for its
 * sources, servers, accounts and probes, and per-host summaries kept up to date in
 * the same transaction: the latest report of each host, and first/last seen of each
 * (host, server). docs/store.md describes the SQLite schema.
 *
 * Writes happen in batches: mf_store_begin, any number of mf_store_add, then
 * mf_store_commit (or mf_store_rollback). A report is in the store exactly when the
 * commit that added it returned MF_OK.
 *
 * Errors of the database library are translated to mf_code (MF_ERR_DB mostly,
 * MF_ERR_NOSPACE for a full disk, MF_ERR_UNSUPPORTED for a store written by a newer
 * mailfleet) inside the backend; nothing above it sees them.
 */
#ifndef MF_STORE_H
#define MF_STORE_H

#include "error.h"
#include "report.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mf_store mf_store;

/* Outcome of mf_store_add. */
typedef enum mf_store_added {
    MF_STORE_ADDED = 0,     /* new report, rows written */
    MF_STORE_DUPLICATE = 1, /* its report_id was already stored: nothing written */
} mf_store_added;

/* One row of the fleet-wide server inventory (mf_store_servers). Strings belong to the
 * store and are valid only during the callback. */
typedef struct mf_store_server_row {
    const char *hostname; /* NULL for a provider-managed entry */
    const char *provider; /* NULL unless provider-managed */
    int port;             /* 0 when unknown */
    long long hosts_ever; /* hosts that had it in any stored report */
    long long hosts;      /* hosts that have it in their latest report */
    long long entries;    /* server entries in latest reports (one Mac may have several) */
    long long accounts;   /* accounts using it, in latest reports */
    long long unused;     /* entries flagged unused, in latest reports */
    long long probes_ok;  /* probes of it in latest reports with outcome ok */
    long long probes_failed; /* probes with another outcome (skipped not counted) */
    const char *top_failure; /* most frequent failing outcome, NULL if none */
    int64_t first_seen;   /* earliest collected_at of a report naming it */
    int64_t last_seen;    /* latest collected_at */
} mf_store_server_row;

/* Return non-zero from a callback to stop the iteration early. */
typedef int (*mf_store_server_fn)(void *ctx, const mf_store_server_row *row);

/* One row of mf_store_probe_history (added for the policy engine's fleet-server facts):
 * the probes of one (hostname, port) across every stored report, not only the latest
 * ones. Times are collected_at of the reports; 0 means never. */
typedef struct mf_store_probe_row {
    const char *hostname; /* valid during the callback */
    int port;
    int64_t first_probed; /* earliest report whose probe of it ran (not skipped, not
                           * probe-error) */
    int64_t last_ok;      /* latest report whose probe of it succeeded; 0: never */
} mf_store_probe_row;

typedef int (*mf_store_probe_fn)(void *ctx, const mf_store_probe_row *row);

/* A latest-report row: the host and its newest report document (JSON text, len bytes,
 * not NUL-terminated necessarily; valid during the callback). */
typedef int (*mf_store_report_fn)(void *ctx, const char *host_id, const char *report_id,
                                  int64_t collected_at, const char *json, size_t len);

typedef struct mf_store_backend {
    const char *name; /* "sqlite" */
    /* Open or create the store at location, migrating its schema to the newest
     * version. *out belongs to the caller (close with the close member). */
    mf_code (*open)(void **out, const char *location, mf_error *err);
    void (*close)(void *impl);
    mf_code (*begin)(void *impl, mf_error *err);
    /* Add one decoded report r with its JSON text (json, len: stored as is) inside the
     * open batch. A duplicate report_id writes nothing. */
    mf_code (*add)(mf_store_added *out, void *impl, const mf_report *r, const char *json,
                   size_t len, mf_error *err);
    mf_code (*commit)(void *impl, mf_error *err);
    void (*rollback)(void *impl);
    /* Whether report_id (lower-case) is stored. */
    mf_code (*has)(bool *out, void *impl, const char *report_id, mf_error *err);
    /* Delete reports collected before `before` and every row that came from them,
     * recomputing the summaries from what remains, in one transaction. */
    mf_code (*prune)(long long *out, void *impl, int64_t before, mf_error *err);
    mf_code (*servers)(void *impl, mf_store_server_fn fn, void *ctx, mf_error *err);
    mf_code (*latest)(void *impl, mf_store_report_fn fn, void *ctx, mf_error *err);
    /* Number of reports and hosts stored. */
    mf_code (*count)(long long *out_reports, long long *out_hosts, void *impl, mf_error *err);
    /* The schema version of the open store. */
    int (*schema_version)(void *impl);
    /* Probe history per (hostname, port) over every stored report (mf_store_probe_row).
     * May be NULL in a backend that cannot give it. */
    mf_code (*probe_history)(void *impl, mf_store_probe_fn fn, void *ctx, mf_error *err);
} mf_store_backend;

/* The SQLite backend (store_sqlite.c). */
extern const mf_store_backend mf_store_sqlite;

/* The backend called name ("sqlite"), or NULL. */
const mf_store_backend *mf_store_backend_find(const char *name);

/* Open a store with a backend chosen by name (NULL means "sqlite"). *out is the
 * caller's, freed by mf_store_close (which accepts NULL and rolls back an open
 * batch). */
mf_code mf_store_open(mf_store **out, const char *backend, const char *location,
                      mf_error *err);
void mf_store_close(mf_store *st);

/* Thin wrappers over the backend; see mf_store_backend for each. */
mf_code mf_store_begin(mf_store *st, mf_error *err);
mf_code mf_store_add(mf_store_added *out, mf_store *st, const mf_report *r, const char *json,
                     size_t len, mf_error *err);
mf_code mf_store_commit(mf_store *st, mf_error *err);
void mf_store_rollback(mf_store *st);
mf_code mf_store_has(bool *out, mf_store *st, const char *report_id, mf_error *err);
mf_code mf_store_prune(long long *out, mf_store *st, int64_t before, mf_error *err);
mf_code mf_store_servers(mf_store *st, mf_store_server_fn fn, void *ctx, mf_error *err);
mf_code mf_store_latest(mf_store *st, mf_store_report_fn fn, void *ctx, mf_error *err);
mf_code mf_store_count(long long *out_reports, long long *out_hosts, mf_store *st,
                       mf_error *err);
int mf_store_schema_version(mf_store *st);
/* For each (hostname, port) ever probed, when it was first probed and when a probe of it
 * last succeeded, over the whole retained history. MF_ERR_UNSUPPORTED when the backend
 * does not provide it. Used by `report` for fleet_server.failing_days. */
mf_code mf_store_probe_history(mf_store *st, mf_store_probe_fn fn, void *ctx, mf_error *err);

#endif
