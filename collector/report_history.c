/* report_history.c: the history file of the reports (report_history.h), in SQLite.
 * SQLite's errors are translated to mf_code here and nowhere else. */
#include "report_history.h"
#include "util.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HISTORY_SCHEMA "mailfleet.history.v1"

struct mf_history {
    sqlite3 *db;
    sqlite3_stmt *get, *touch, *insert, *host;
    int64_t as_of;
    long long run;
    size_t hosts, compliant;
    bool in_tx;
};

static mf_code db_error(mf_history *h, mf_error *err, const char *what)
{
    int ec = h->db ? sqlite3_errcode(h->db) : SQLITE_ERROR;
    return mf_error_set(err, ec == SQLITE_FULL ? MF_ERR_NOSPACE : MF_ERR_DB, "history: %s: %s",
                        what, h->db ? sqlite3_errmsg(h->db) : "cannot open");
}

static mf_code exec(mf_history *h, const char *sql, mf_error *err)
{
    if (sqlite3_exec(h->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(h, err, sql);
    return MF_OK;
}

static mf_code prepare(mf_history *h, sqlite3_stmt **st, const char *sql, mf_error *err)
{
    if (sqlite3_prepare_v2(h->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_error(h, err, "prepare");
    return MF_OK;
}

/* Rows are keyed by a 64-bit FNV-1a hash of their strings: an integer primary key is
 * several times faster to look up than three text columns, and a million failures stay
 * a few tens of megabytes. Two failures sharing a hash would share a first day, which
 * is harmless. */
static sqlite3_int64 hash_of(const char *a, const char *b, const char *c)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[3] = {a, b, c};
    for (int k = 0; k < 3; k++) {
        if (!parts[k])
            continue;
        for (const char *s = parts[k]; *s; s++)
            h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        h = (h ^ 0xffu) * 1099511628211ULL; /* separator: ("ab","c") != ("a","bc") */
    }
    return (sqlite3_int64)h;
}

mf_code mf_history_open(mf_history **out, const char *path, int64_t as_of, mf_error *err)
{
    *out = NULL;
    mf_code rc = MF_OK;
    mf_history *h = calloc(1, sizeof(*h));
    if (!h)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    h->as_of = as_of;
    if (sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = db_error(h, err, "open");
        mf_error_set_file(err, path);
        goto out;
    }
    sqlite3_busy_timeout(h->db, 10000);
    if ((rc = exec(h, "PRAGMA synchronous=NORMAL", err)) != MF_OK ||
        (rc = exec(h, "BEGIN IMMEDIATE", err)) != MF_OK)
        goto out;
    h->in_tx = true;
    if ((rc = exec(h,
                   "CREATE TABLE IF NOT EXISTS history_meta(key TEXT PRIMARY KEY, value TEXT);"
                   "CREATE TABLE IF NOT EXISTS days(day TEXT PRIMARY KEY, hosts INTEGER NOT NULL,"
                   " compliant INTEGER NOT NULL);"
                   "CREATE TABLE IF NOT EXISTS failures(key INTEGER PRIMARY KEY,"
                   " host INTEGER NOT NULL, first_failed INTEGER NOT NULL,"
                   " last_run INTEGER NOT NULL);"
                   "CREATE TEMP TABLE IF NOT EXISTS run_hosts(host INTEGER PRIMARY KEY);"
                   "INSERT OR IGNORE INTO history_meta VALUES('schema', '" HISTORY_SCHEMA "');"
                   "INSERT OR IGNORE INTO history_meta VALUES('run', '0');"
                   "UPDATE history_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'run';",
                   err)) != MF_OK)
        goto out;
    sqlite3_stmt *st = NULL;
    if ((rc = prepare(h, &st,
                      "SELECT (SELECT value FROM history_meta WHERE key='schema'),"
                      " (SELECT CAST(value AS INTEGER) FROM history_meta WHERE key='run')",
                      err)) != MF_OK)
        goto out;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *schema = (const char *)sqlite3_column_text(st, 0);
        h->run = sqlite3_column_int64(st, 1);
        if (!mf_streq(schema, HISTORY_SCHEMA)) {
            rc = mf_error_set(err, MF_ERR_UNSUPPORTED,
                              "history: %s is not a mailfleet history "
                              "file (schema %s)",
                              path, schema ? schema : "none");
            sqlite3_finalize(st);
            goto out;
        }
    }
    sqlite3_finalize(st);
    if ((rc = prepare(h, &h->get, "SELECT first_failed FROM failures WHERE key=?1", err)) !=
            MF_OK ||
        (rc = prepare(h, &h->touch, "UPDATE failures SET last_run=?2 WHERE key=?1", err)) !=
            MF_OK ||
        (rc = prepare(h, &h->insert, "INSERT INTO failures VALUES(?1, ?2, ?3, ?4)", err)) !=
            MF_OK ||
        (rc = prepare(h, &h->host, "INSERT OR IGNORE INTO run_hosts VALUES(?1)", err)) != MF_OK)
        goto out;
    *out = h;
    h = NULL;
out:
    if (h && rc != MF_OK)
        mf_error_set_file(err, path);
    mf_history_close(h);
    return rc;
}

mf_code mf_history_failure(mf_history *h, const char *host, const char *rule, const char *entity,
                           int64_t *first, mf_error *err)
{
    *first = h->as_of;
    sqlite3_int64 key = hash_of(host, rule, entity);
    sqlite3_stmt *st = h->get;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, key);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *first = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        st = h->touch;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, key);
        sqlite3_bind_int64(st, 2, h->run);
    } else if (src == SQLITE_DONE) {
        sqlite3_reset(st);
        st = h->insert;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, key);
        sqlite3_bind_int64(st, 2, hash_of(host, NULL, NULL));
        sqlite3_bind_int64(st, 3, h->as_of);
        sqlite3_bind_int64(st, 4, h->run);
    } else {
        return db_error(h, err, "read a failure");
    }
    src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_DONE)
        return db_error(h, err, "record a failure");
    return MF_OK;
}

mf_code mf_history_host(mf_history *h, const char *host, bool compliant, mf_error *err)
{
    h->hosts++;
    h->compliant += compliant;
    sqlite3_reset(h->host);
    sqlite3_bind_int64(h->host, 1, hash_of(host, NULL, NULL));
    int src = sqlite3_step(h->host);
    sqlite3_reset(h->host);
    return src == SQLITE_DONE ? MF_OK : db_error(h, err, "record a host");
}

mf_code mf_history_finish(mf_history *h, mf_code (*fn)(void *ctx, const mf_rpt_day *d, mf_error *e),
                          void *ctx, mf_error *err)
{
    mf_code rc;
    sqlite3_stmt *st = NULL;
    char day[16];
    time_t t = (time_t)h->as_of;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0)
        return mf_error_set(err, MF_ERR_RANGE, "history: the run's time is out of range");
    if ((rc = prepare(h, &st,
                      "DELETE FROM failures WHERE last_run <> ?1 AND host IN "
                      "(SELECT host FROM run_hosts)",
                      err)) != MF_OK)
        return rc;
    sqlite3_bind_int64(st, 1, h->run);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return db_error(h, err, "forget ended failures");
    if ((rc = prepare(h, &st, "INSERT OR REPLACE INTO days VALUES(?1, ?2, ?3)", err)) != MF_OK)
        return rc;
    sqlite3_bind_text(st, 1, day, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)h->hosts);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)h->compliant);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return db_error(h, err, "record the day");
    if ((rc = exec(h, "COMMIT", err)) != MF_OK)
        return rc;
    h->in_tx = false;
    if (!fn)
        return MF_OK;
    if ((rc = prepare(h, &st,
                      "SELECT day, hosts, compliant FROM (SELECT * FROM days ORDER BY "
                      "day DESC LIMIT ?1) ORDER BY day",
                      err)) != MF_OK)
        return rc;
    sqlite3_bind_int(st, 1, MF_RPT_DAYS_MAX);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        int64_t when = 0;
        char stamp[32];
        snprintf(stamp, sizeof(stamp), "%.10sT12:00:00Z", d ? d : "");
        if (mf_time_parse_rfc3339(stamp, &when) != MF_OK)
            continue; /* a row someone edited by hand */
        mf_rpt_day rd = {.day = when,
                         .hosts = (size_t)sqlite3_column_int64(st, 1),
                         .compliant = (size_t)sqlite3_column_int64(st, 2)};
        if ((rc = fn(ctx, &rd, err)) != MF_OK)
            break;
    }
    sqlite3_finalize(st);
    if (rc == MF_OK && src != SQLITE_DONE)
        return db_error(h, err, "read the days");
    return rc;
}

void mf_history_close(mf_history *h)
{
    if (!h)
        return;
    sqlite3_finalize(h->get);
    sqlite3_finalize(h->touch);
    sqlite3_finalize(h->insert);
    sqlite3_finalize(h->host);
    if (h->in_tx && h->db)
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    if (h->db)
        sqlite3_close(h->db);
    free(h);
}
