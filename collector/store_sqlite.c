/* store_sqlite.c: the SQLite store backend (store.h; schema in docs/store.md).
 *
 * - WAL journal, synchronous=FULL: a COMMIT that returned is on disk, which ingest
 *   relies on before it moves spool files to done/.
 * - The schema is versioned with PRAGMA user_version and an ordered list of migration
 *   steps (migrations[] below); each step runs in its own transaction together with
 *   the version bump, so a store is always at a whole version. PRAGMA application_id
 *   marks the file as a mailfleet store.
 * - Idempotent by report_id: reports.report_id is UNIQUE and add() looks it up first.
 * - Summaries (hosts, host_servers) change in the same transaction as the rows they
 *   summarise, and prune() recomputes them from what remains.
 *
 * SQLite's errors become mf_code here and nowhere else (sql_fail()).
 */
#include "buf.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "MFLT" */
#define APPLICATION_ID 0x4d464c54

/* ------------------------------------------------------------------ schema */

/* Version 1. Times are seconds since the epoch (UTC). Lists inside a row (flags,
 * e-mail addresses, server ids, mechanisms) are comma-separated; the exact values are
 * always in reports.document. */
static const char MIGRATION_1[] =
    "CREATE TABLE hosts ("
    "  host_pk INTEGER PRIMARY KEY,"
    "  host_id TEXT NOT NULL UNIQUE,"
    "  hostname TEXT,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  reports INTEGER NOT NULL,"
    "  latest_report INTEGER"
    ");"
    "CREATE TABLE reports ("
    "  report_pk INTEGER PRIMARY KEY,"
    "  report_id TEXT NOT NULL UNIQUE,"
    "  host_pk INTEGER NOT NULL,"
    "  collected_at INTEGER NOT NULL,"
    "  ingested_at INTEGER NOT NULL,"
    "  hostname TEXT,"
    "  os_name TEXT,"
    "  os_version TEXT,"
    "  agent_version TEXT,"
    "  dropped_reports INTEGER NOT NULL,"
    "  document TEXT NOT NULL"
    ");"
    "CREATE INDEX reports_by_host ON reports(host_pk, collected_at);"
    "CREATE INDEX reports_by_time ON reports(collected_at);"
    "CREATE TABLE sources ("
    "  report_pk INTEGER NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  user TEXT, client TEXT, format TEXT, path TEXT,"
    "  status TEXT NOT NULL,"
    "  error TEXT,"
    "  PRIMARY KEY (report_pk, idx)"
    ") WITHOUT ROWID;"
    "CREATE TABLE servers ("
    "  report_pk INTEGER NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  server_id TEXT NOT NULL,"
    "  user TEXT, client TEXT, source INTEGER,"
    "  hostname TEXT, provider TEXT, port INTEGER,"
    "  security TEXT NOT NULL, auth TEXT NOT NULL,"
    "  username TEXT, description TEXT,"
    "  used_by INTEGER NOT NULL,"
    "  flags TEXT NOT NULL,"
    "  PRIMARY KEY (report_pk, idx)"
    ") WITHOUT ROWID;"
    "CREATE TABLE accounts ("
    "  report_pk INTEGER NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  account_id TEXT NOT NULL,"
    "  user TEXT, client TEXT, source INTEGER,"
    "  type TEXT, description TEXT, emails TEXT,"
    "  smtp TEXT, smtp_ref TEXT,"
    "  flags TEXT NOT NULL,"
    "  PRIMARY KEY (report_pk, idx)"
    ") WITHOUT ROWID;"
    "CREATE TABLE probes ("
    "  report_pk INTEGER NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  hostname TEXT, port INTEGER NOT NULL, security TEXT NOT NULL,"
    "  servers TEXT NOT NULL,"
    "  outcome TEXT NOT NULL, phase TEXT, reply_code INTEGER, detail TEXT,"
    "  address TEXT, duration_ms INTEGER,"
    "  starttls_offered INTEGER NOT NULL,"
    "  auth_before_tls TEXT NOT NULL, auth TEXT NOT NULL,"
    "  tls_version TEXT, tls_cipher TEXT, tls_verified INTEGER, tls_hostname_match INTEGER,"
    "  cert_not_after TEXT, cert_days_left INTEGER,"
    "  PRIMARY KEY (report_pk, idx)"
    ") WITHOUT ROWID;"
    "CREATE TABLE host_servers ("
    "  host_pk INTEGER NOT NULL,"
    "  hostname TEXT NOT NULL,"
    "  port INTEGER NOT NULL,"
    "  provider TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  reports INTEGER NOT NULL,"
    "  PRIMARY KEY (host_pk, hostname, port, provider)"
    ") WITHOUT ROWID;";

/* The ordered migration steps: migrations[i] takes a store from version i to i + 1.
 * Only ever append. */
static const char *const migrations[] = {MIGRATION_1};
#define SCHEMA_VERSION ((int)MF_ARRAY_LEN(migrations))

/* ---------------------------------------------------------------- statements */

enum {
    ST_HAS,
    ST_HOST_UPSERT,
    ST_REPORT_INSERT,
    ST_HOST_LATEST,
    ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_HAS] = "SELECT 1 FROM reports WHERE report_id = ?1",
    [ST_HOST_UPSERT] =
        "INSERT INTO hosts(host_id, hostname, first_seen, last_seen, reports)"
        " VALUES (?1, ?2, ?3, ?3, 1)"
        " ON CONFLICT(host_id) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),"
        " last_seen = max(last_seen, excluded.last_seen), reports = reports + 1"
        " RETURNING host_pk",
    [ST_REPORT_INSERT] =
        "INSERT INTO reports(report_id, host_pk, collected_at, ingested_at, hostname, os_name,"
        " os_version, agent_version, dropped_reports, document)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    /* The newest report of a host is the one with the largest (collected_at, report_id):
     * reports may arrive out of order (an outbox drains late). */
    [ST_HOST_LATEST] =
        "UPDATE hosts SET latest_report = ?2, hostname = ?5 WHERE host_pk = ?1 AND"
        " (latest_report IS NULL OR (SELECT (collected_at, report_id) < (?3, ?4)"
        "  FROM reports WHERE report_pk = hosts.latest_report) IS NOT 0)",
};

/* The rows of one report go in with one multi-row INSERT per table (in chunks of at
 * most MULTI_MAX rows): every statement costs a few thousand instructions of setup and
 * teardown in SQLite, and a report has a dozen or more rows. The statements for each
 * row count are prepared when first needed and kept for the store's life. */
#define MULTI_MAX 16

enum { MT_SOURCES, MT_SERVERS, MT_ACCOUNTS, MT_PROBES, MT_HOST_SERVERS, MT__COUNT };

static const struct multi_def {
    const char *head;     /* up to VALUES */
    int ncols;            /* parameters per row */
    const char *row_tail; /* literal columns after the parameters of each row */
    const char *tail;     /* after the last row */
} multi_defs[MT__COUNT] = {
    [MT_SOURCES] = {"INSERT OR ROLLBACK INTO sources VALUES ", 8, "", ""},
    [MT_SERVERS] = {"INSERT OR ROLLBACK INTO servers VALUES ", 15, "", ""},
    [MT_ACCOUNTS] = {"INSERT OR ROLLBACK INTO accounts VALUES ", 12, "", ""},
    [MT_PROBES] = {"INSERT OR ROLLBACK INTO probes VALUES ", 21, "", ""},
    /* host_pk, hostname, port, provider, first_seen, last_seen, then reports = 1 */
    [MT_HOST_SERVERS] = {"INSERT OR ROLLBACK INTO host_servers VALUES ", 6, ", 1",
                         " ON CONFLICT(host_pk, hostname, port, provider) DO UPDATE SET"
                         " first_seen = min(first_seen, excluded.first_seen),"
                         " last_seen = max(last_seen, excluded.last_seen),"
                         " reports = reports + 1"},
};

typedef struct sq {
    sqlite3 *db;
    char *path;
    int version;
    sqlite3_stmt *st[ST__COUNT];
    sqlite3_stmt *multi[MT__COUNT][MULTI_MAX + 1]; /* [table][rows], prepared on demand */
    mf_buf tmp; /* joined lists while binding */
    mf_buf sql; /* text of a multi-row statement being prepared */
    size_t *uniq; /* add_host_servers: the distinct servers of a report */
    size_t capuniq;
    /* The report_id that sq_has last found absent inside the open write transaction:
     * sq_add need not look it up again (nobody else can write until the commit). */
    char absent[37];
} sq;

/* Translate the database's last error into err. */
static mf_code sql_fail(sq *s, int src, mf_error *err, const char *what)
{
    mf_code code;
    switch (src & 0xff) {
    case SQLITE_FULL:
        code = MF_ERR_NOSPACE;
        break;
    case SQLITE_NOMEM:
        code = MF_ERR_NOMEM;
        break;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
        code = MF_ERR_PERM;
        break;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
        code = MF_ERR_IO;
        break;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        code = MF_ERR_INVALID;
        break;
    default:
        code = MF_ERR_DB;
        break;
    }
    if (err) {
        mf_error_set_file(err, s->path);
        mf_error_set(err, code, "%s: %s", what,
                     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
    }
    return code;
}

static mf_code exec(sq *s, const char *sql, mf_error *err, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? MF_OK : sql_fail(s, rc, err, what);
}

/* Run a one-value integer query; -1 on failure. */
static long long query_int(sq *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Check that the file is a mailfleet store (or empty) of a version we know, and give
 * its version in *ver. Touches nothing. */
static mf_code check_header(sq *s, long long *ver, mf_error *err)
{
    long long app = query_int(s, "PRAGMA application_id");
    *ver = query_int(s, "PRAGMA user_version");
    long long objects = query_int(s, "SELECT count(*) FROM sqlite_master");
    if (app < 0 || *ver < 0 || objects < 0)
        return sql_fail(s, sqlite3_errcode(s->db), err, "cannot read the store's header");
    if (app != APPLICATION_ID && (app != 0 || objects != 0)) {
        mf_error_set_file(err, s->path);
        return mf_error_set(err, MF_ERR_INVALID,
                            "not a mailfleet store (it is some other SQLite database)");
    }
    if (*ver > SCHEMA_VERSION) {
        mf_error_set_file(err, s->path);
        return mf_error_set(err, MF_ERR_UNSUPPORTED,
                            "the store has schema version %lld, newer than this mailfleet "
                            "knows (%d): upgrade mailfleet",
                            *ver, SCHEMA_VERSION);
    }
    return MF_OK;
}

/* Bring the schema to SCHEMA_VERSION, one transaction per step. */
static mf_code migrate(sq *s, mf_error *err)
{
    for (;;) {
        mf_code rc = exec(s, "BEGIN IMMEDIATE", err, "cannot lock the store to migrate it");
        if (rc != MF_OK)
            return rc;
        /* Read inside the lock: another ingest may have migrated meanwhile. */
        long long ver;
        if ((rc = check_header(s, &ver, err)) != MF_OK) {
            exec(s, "ROLLBACK", NULL, "");
            return rc;
        }
        if (ver == SCHEMA_VERSION) {
            s->version = (int)ver;
            return exec(s, "COMMIT", err, "cannot read the store's header");
        }
        char bump[96];
        snprintf(bump, sizeof(bump), "PRAGMA application_id = %d; PRAGMA user_version = %lld;",
                 APPLICATION_ID, ver + 1);
        if ((rc = exec(s, migrations[ver], err, "schema migration failed")) != MF_OK ||
            (rc = exec(s, bump, err, "schema migration failed")) != MF_OK ||
            (rc = exec(s, "COMMIT", err, "schema migration failed")) != MF_OK) {
            exec(s, "ROLLBACK", NULL, "");
            return rc;
        }
        mf_log_info("store %s: migrated schema to version %lld", s->path, ver + 1);
    }
}

static void sq_close(void *impl)
{
    sq *s = impl;
    if (!s)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    for (int t = 0; t < MT__COUNT; t++)
        for (int k = 0; k <= MULTI_MAX; k++)
            sqlite3_finalize(s->multi[t][k]);
    if (s->db)
        sqlite3_close(s->db);
    mf_buf_free(&s->tmp);
    mf_buf_free(&s->sql);
    free(s->uniq);
    free(s->path);
    free(s);
}

static mf_code sq_open(void **out, const char *location, mf_error *err)
{
    *out = NULL;
    mf_code rc = MF_OK;
    sq *s = calloc(1, sizeof(*s));
    if (!s)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    mf_buf_init(&s->tmp, 4 * (size_t)1024 * 1024);
    mf_buf_init(&s->sql, 64 * (size_t)1024);
    s->path = mf_strdup(location);
    if (!s->path) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    int src = sqlite3_open_v2(location, &s->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              NULL);
    if (src != SQLITE_OK) {
        rc = sql_fail(s, src, err, "cannot open the store");
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 0);
    sqlite3_busy_timeout(s->db, 30000);
    /* Refuse someone else's database before changing anything in it (journal mode). */
    long long ver;
    if ((rc = check_header(s, &ver, err)) != MF_OK)
        goto out;
    /* A new store gets 16 KiB pages (SQLite's default is 4 KiB): a report's document
     * (about 4 KB) then sits in its B-tree leaf with others instead of mostly in an
     * overflow page of its own, and the WAL is written in a quarter as many frames,
     * each one two system calls. A page size is fixed when the file is first written;
     * stores created before keep theirs. */
    if (ver == 0 && query_int(s, "SELECT count(*) FROM sqlite_master") == 0 &&
        (rc = exec(s, "PRAGMA page_size = 16384", err, "cannot configure the store")) != MF_OK)
        goto out;
    /* WAL + FULL: every commit is durable when it returns (ingest moves files after
     * it). Memory stays bounded: a fixed page cache of 64 MiB (with 16 MiB, an ingest
     * of 100,000 reports read back 70 % more pages: the indexes no longer stayed
     * cached between batches), temporary tables in memory. The WAL is copied into the
     * database (checkpoint) once it holds 4096 pages (64 MiB with 16 KiB pages) rather
     * than SQLite's 1000: pages that every batch touches (indexes, hosts,
     * host_servers) are then copied once for several batches. */
    if ((rc = exec(s,
                   "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                   " PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;"
                   " PRAGMA foreign_keys = OFF; PRAGMA wal_autocheckpoint = 4096;",
                   err, "cannot configure the store")) != MF_OK)
        goto out;
    if ((rc = migrate(s, err)) != MF_OK)
        goto out;
    for (int i = 0; i < ST__COUNT; i++) {
        src = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                 NULL);
        if (src != SQLITE_OK) {
            rc = sql_fail(s, src, err, "cannot prepare a statement");
            goto out;
        }
    }
out:
    if (rc != MF_OK) {
        sq_close(s);
        return rc;
    }
    *out = s;
    return MF_OK;
}

static mf_code sq_begin(void *impl, mf_error *err)
{
    ((sq *)impl)->absent[0] = '\0';
    return exec(impl, "BEGIN IMMEDIATE", err, "cannot start a transaction");
}

static mf_code sq_commit(void *impl, mf_error *err)
{
    ((sq *)impl)->absent[0] = '\0';
    return exec(impl, "COMMIT", err, "cannot commit");
}

static void sq_rollback(void *impl)
{
    sq *s = impl;
    s->absent[0] = '\0';
    if (!sqlite3_get_autocommit(s->db))
        (void)exec(s, "ROLLBACK", NULL, "");
}

/* ------------------------------------------------------------------ binding */

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* An int that is "unknown" when zero or negative. */
static void bind_pos(sqlite3_stmt *st, int i, long long v)
{
    if (v > 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* Join a list into b ("a,b,c"). Returns the text (valid until b changes). */
static const char *join(mf_buf *b, const mf_strv *sv)
{
    mf_buf_reset(b);
    for (size_t i = 0; i < sv->n; i++)
        if ((i && mf_buf_append(b, ",", 1) != MF_OK) || mf_buf_append_str(b, sv->v[i]) != MF_OK)
            break;
    return b->data ? b->data : "";
}

static const char *flags_text(mf_buf *b, unsigned flags)
{
    mf_buf_reset(b);
    bool first = true;
    for (unsigned bit = 1; bit && bit <= MF_FLAG__LAST; bit <<= 1) {
        const char *name = (flags & bit) ? mf_flag_name(bit) : NULL;
        if (!name)
            continue;
        if (!first)
            mf_buf_append(b, ",", 1);
        mf_buf_append_str(b, name);
        first = false;
    }
    return b->data ? b->data : "";
}

/* Step a statement that returns no rows (or whose rows we ignore), then reset it. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static mf_code sq_has(bool *out, void *impl, const char *report_id, mf_error *err)
{
    sq *s = impl;
    *out = false;
    s->absent[0] = '\0';
    sqlite3_stmt *st = s->st[ST_HAS];
    bind_text(st, 1, report_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = true;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sql_fail(s, rc, err, "cannot look up a report");
    /* Absent inside our write transaction: it stays absent until we add it. */
    if (!*out && !sqlite3_get_autocommit(s->db) && strlen(report_id) < sizeof(s->absent))
        memcpy(s->absent, report_id, strlen(report_id) + 1);
    return MF_OK;
}

/* The statement inserting k rows (1..MULTI_MAX) into table t, prepared on first use. */
static sqlite3_stmt *multi_stmt(sq *s, int t, int k, int *src)
{
    if (s->multi[t][k])
        return s->multi[t][k];
    const struct multi_def *d = &multi_defs[t];
    mf_buf *b = &s->sql;
    mf_buf_reset(b);
    mf_code rc = mf_buf_append_str(b, d->head);
    for (int r = 0; rc == MF_OK && r < k; r++) {
        rc = mf_buf_append_str(b, r ? ",(" : "(");
        for (int c = 0; rc == MF_OK && c < d->ncols; c++)
            rc = mf_buf_append_str(b, c ? ",?" : "?");
        if (rc == MF_OK)
            rc = mf_buf_append_str(b, d->row_tail);
        if (rc == MF_OK)
            rc = mf_buf_append_str(b, ")");
    }
    if (rc == MF_OK)
        rc = mf_buf_append_str(b, d->tail);
    if (rc != MF_OK) {
        *src = SQLITE_NOMEM;
        return NULL;
    }
    *src = sqlite3_prepare_v3(s->db, b->data, (int)b->len, SQLITE_PREPARE_PERSISTENT,
                              &s->multi[t][k], NULL);
    return *src == SQLITE_OK ? s->multi[t][k] : NULL;
}

/* Bind the text of a scratch buffer: copied, since the buffer is reused for the next
 * row of the same statement. */
static void bind_copy(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static void bind_int_or_null(sqlite3_stmt *st, int i, bool present, long long v)
{
    if (present)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* Bind row `i` (element `idx` of its array) of table t at parameter b + 1... Every
 * parameter is bound, NULL included, so the statement needs no clear_bindings. */
static void bind_source(sq *s, sqlite3_stmt *st, int b, sqlite3_int64 rpk, size_t i,
                        const mf_source *x)
{
    (void)s;
    sqlite3_bind_int64(st, b + 1, rpk);
    sqlite3_bind_int64(st, b + 2, (sqlite3_int64)i);
    bind_text(st, b + 3, x->user);
    bind_text(st, b + 4, x->client);
    bind_text(st, b + 5, x->format);
    bind_text(st, b + 6, x->path);
    bind_text(st, b + 7, mf_source_status_name(x->status));
    bind_text(st, b + 8, x->error);
}

static void bind_server(sq *s, sqlite3_stmt *st, int b, sqlite3_int64 rpk, size_t i,
                        const mf_server *x)
{
    sqlite3_bind_int64(st, b + 1, rpk);
    sqlite3_bind_int64(st, b + 2, (sqlite3_int64)i);
    bind_text(st, b + 3, x->id);
    bind_text(st, b + 4, x->user);
    bind_text(st, b + 5, x->client);
    bind_int_or_null(st, b + 6, x->source >= 0, x->source);
    bind_text(st, b + 7, x->hostname);
    bind_text(st, b + 8, x->provider);
    bind_pos(st, b + 9, x->port);
    bind_text(st, b + 10, mf_security_name(x->security));
    bind_text(st, b + 11, mf_auth_name(x->auth));
    bind_text(st, b + 12, x->username);
    bind_text(st, b + 13, x->description);
    sqlite3_bind_int64(st, b + 14, (sqlite3_int64)x->used_by.n);
    bind_copy(st, b + 15, flags_text(&s->tmp, x->flags));
}

static void bind_account(sq *s, sqlite3_stmt *st, int b, sqlite3_int64 rpk, size_t i,
                         const mf_account *x)
{
    sqlite3_bind_int64(st, b + 1, rpk);
    sqlite3_bind_int64(st, b + 2, (sqlite3_int64)i);
    bind_text(st, b + 3, x->id);
    bind_text(st, b + 4, x->user);
    bind_text(st, b + 5, x->client);
    bind_int_or_null(st, b + 6, x->source >= 0, x->source);
    bind_text(st, b + 7, x->type);
    bind_text(st, b + 8, x->description);
    bind_copy(st, b + 9, join(&s->tmp, &x->emails));
    bind_text(st, b + 10, x->smtp);
    bind_text(st, b + 11, x->smtp_ref);
    bind_copy(st, b + 12, flags_text(&s->tmp, x->flags));
}

static void bind_probe(sq *s, sqlite3_stmt *st, int b, sqlite3_int64 rpk, size_t i,
                       const mf_probe *x)
{
    bool failed = x->outcome != MF_OUT_OK && x->outcome != MF_OUT_SKIPPED;
    sqlite3_bind_int64(st, b + 1, rpk);
    sqlite3_bind_int64(st, b + 2, (sqlite3_int64)i);
    bind_text(st, b + 3, x->hostname);
    sqlite3_bind_int(st, b + 4, x->port);
    bind_text(st, b + 5, mf_security_name(x->security));
    bind_copy(st, b + 6, join(&s->tmp, &x->servers));
    bind_text(st, b + 7, mf_outcome_name(x->outcome));
    bind_text(st, b + 8, failed ? mf_phase_name(x->fail_phase) : NULL);
    bind_pos(st, b + 9, x->reply_code);
    bind_text(st, b + 10, x->detail);
    bind_text(st, b + 11, x->address);
    sqlite3_bind_int64(st, b + 12, x->duration_ms);
    sqlite3_bind_int(st, b + 13, x->starttls_offered);
    bind_copy(st, b + 14, join(&s->tmp, &x->auth_before_tls));
    bind_copy(st, b + 15, join(&s->tmp, &x->auth));
    bool tls = x->has_tls, cert = tls && x->tls.has_cert;
    bind_text(st, b + 16, tls ? x->tls.version : NULL);
    bind_text(st, b + 17, tls ? x->tls.cipher : NULL);
    bind_int_or_null(st, b + 18, tls, tls && x->tls.verified);
    bind_int_or_null(st, b + 19, tls, tls && x->tls.hostname_match);
    bind_text(st, b + 20, cert ? x->tls.cert.not_after : NULL);
    bind_int_or_null(st, b + 21, cert, cert ? x->tls.cert.days_left : 0);
}

/* Insert n rows of table t, MULTI_MAX at a time; bind(k, row) binds row number `row`
 * as the k-th row of the statement. */
#define INSERT_ROWS(t, n, BIND)                                                                   \
    do {                                                                                          \
        for (size_t from_ = 0; rc == SQLITE_DONE && from_ < (n); from_ += MULTI_MAX) {            \
            int k_ = (n) - from_ < MULTI_MAX ? (int)((n) - from_) : MULTI_MAX;                     \
            sqlite3_stmt *st_ = multi_stmt(s, (t), k_, &rc);                                      \
            if (!st_)                                                                             \
                return rc;                                                                        \
            for (int j_ = 0; j_ < k_; j_++) {                                                     \
                size_t i = from_ + (size_t)j_;                                                    \
                int b = j_ * multi_defs[t].ncols;                                                 \
                sqlite3_stmt *st = st_;                                                           \
                BIND;                                                                             \
            }                                                                                     \
            rc = sqlite3_step(st_);                                                               \
            sqlite3_reset(st_);                                                                   \
        }                                                                                         \
    } while (0)

static int add_rows(sq *s, sqlite3_int64 rpk, const mf_report *r)
{
    int rc = SQLITE_DONE;
    INSERT_ROWS(MT_SOURCES, r->nsources, bind_source(s, st, b, rpk, i, &r->sources[i]));
    INSERT_ROWS(MT_SERVERS, r->nservers, bind_server(s, st, b, rpk, i, &r->servers[i]));
    INSERT_ROWS(MT_ACCOUNTS, r->naccounts, bind_account(s, st, b, rpk, i, &r->accounts[i]));
    INSERT_ROWS(MT_PROBES, r->nprobes, bind_probe(s, st, b, rpk, i, &r->probes[i]));
    return rc;
}

/* host_servers: one upsert row per distinct (hostname, port, provider) of the report,
 * so that `reports` counts reports, not entries (and no two rows of one statement hit
 * the same key). */
static int add_host_servers(sq *s, sqlite3_int64 hpk, int64_t t, const mf_report *r)
{
    int rc = SQLITE_DONE;
    size_t n = 0;
    if (r->nservers && mf_grow((void **)&s->uniq, &s->capuniq, r->nservers, sizeof(size_t)))
        return SQLITE_NOMEM;
    for (size_t i = 0; i < r->nservers; i++) {
        const mf_server *x = &r->servers[i];
        const char *h = x->hostname ? x->hostname : "";
        const char *p = x->provider ? x->provider : "";
        int port = x->port > 0 ? x->port : 0;
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++) {
            const mf_server *y = &r->servers[s->uniq[j]];
            seen = (y->port > 0 ? y->port : 0) == port &&
                   strcmp(y->hostname ? y->hostname : "", h) == 0 &&
                   strcmp(y->provider ? y->provider : "", p) == 0;
        }
        if (!seen)
            s->uniq[n++] = i;
    }
    INSERT_ROWS(MT_HOST_SERVERS, n, {
        const mf_server *x = &r->servers[s->uniq[i]];
        sqlite3_bind_int64(st, b + 1, hpk);
        bind_text(st, b + 2, x->hostname ? x->hostname : "");
        sqlite3_bind_int(st, b + 3, x->port > 0 ? x->port : 0);
        bind_text(st, b + 4, x->provider ? x->provider : "");
        sqlite3_bind_int64(st, b + 5, t);
        sqlite3_bind_int64(st, b + 6, t);
    });
    return rc;
}

static mf_code sq_add(mf_store_added *out, void *impl, const mf_report *r, const char *json,
                      size_t len, mf_error *err)
{
    sq *s = impl;
    *out = MF_STORE_DUPLICATE;
    char id[37];
    if (!mf_uuid_valid(r->report_id))
        return mf_error_set(err, MF_ERR_INVALID, "report_id is not a UUID");
    for (int i = 0; i < 36; i++)
        id[i] = (char)tolower((unsigned char)r->report_id[i]);
    id[36] = '\0';
    int64_t t;
    if (mf_time_parse_rfc3339(r->collected_at, &t) != MF_OK)
        return mf_error_set(err, MF_ERR_INVALID, "collected_at is not a time");
    if (len > (size_t)0x7fffffff)
        return mf_error_set(err, MF_ERR_TOOBIG, "report too large");
    /* Looked up just before by ingest (sq_has, same transaction): no second lookup. */
    if (strcmp(s->absent, id) != 0) {
        bool dup;
        mf_code code = sq_has(&dup, s, id, err);
        if (code != MF_OK || dup)
            return code;
    }
    s->absent[0] = '\0';

    const char *hostname = r->host.hostname;
    sqlite3_stmt *st = s->st[ST_HOST_UPSERT];
    bind_text(st, 1, r->host.id);
    bind_text(st, 2, hostname);
    sqlite3_bind_int64(st, 3, t);
    int rc = sqlite3_step(st);
    sqlite3_int64 hpk = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return sql_fail(s, rc, err, "cannot store the host");

    st = s->st[ST_REPORT_INSERT];
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, hpk);
    sqlite3_bind_int64(st, 3, t);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    bind_text(st, 5, hostname);
    bind_text(st, 6, r->host.os_name);
    bind_text(st, 7, r->host.os_version);
    bind_text(st, 8, r->agent_version);
    sqlite3_bind_int64(st, 9, r->dropped_reports);
    sqlite3_bind_text(st, 10, json, (int)len, SQLITE_STATIC);
    if ((rc = step_done(st)) != SQLITE_DONE)
        return sql_fail(s, rc, err, "cannot store the report");
    sqlite3_int64 rpk = sqlite3_last_insert_rowid(s->db);

    st = s->st[ST_HOST_LATEST];
    sqlite3_bind_int64(st, 1, hpk);
    sqlite3_bind_int64(st, 2, rpk);
    sqlite3_bind_int64(st, 3, t);
    bind_text(st, 4, id);
    bind_text(st, 5, hostname);
    if ((rc = step_done(st)) != SQLITE_DONE)
        return sql_fail(s, rc, err, "cannot update the host's latest report");
    if ((rc = add_rows(s, rpk, r)) != SQLITE_DONE)
        return sql_fail(s, rc, err, "cannot store the report's rows");
    if ((rc = add_host_servers(s, hpk, t, r)) != SQLITE_DONE)
        return sql_fail(s, rc, err, "cannot update first/last seen");
    *out = MF_STORE_ADDED;
    return MF_OK;
}

/* ------------------------------------------------------------------ retention */

static const char PRUNE_SQL[] =
    "CREATE TEMP TABLE IF NOT EXISTS prune_reports (report_pk INTEGER PRIMARY KEY, host_pk);"
    "CREATE TEMP TABLE IF NOT EXISTS prune_hosts (host_pk INTEGER PRIMARY KEY);"
    "DELETE FROM temp.prune_reports; DELETE FROM temp.prune_hosts;"
    "INSERT INTO temp.prune_reports SELECT report_pk, host_pk FROM reports"
    "  WHERE collected_at < @before;"
    "INSERT OR IGNORE INTO temp.prune_hosts SELECT host_pk FROM temp.prune_reports;"
    "DELETE FROM sources WHERE report_pk IN (SELECT report_pk FROM temp.prune_reports);"
    "DELETE FROM servers WHERE report_pk IN (SELECT report_pk FROM temp.prune_reports);"
    "DELETE FROM accounts WHERE report_pk IN (SELECT report_pk FROM temp.prune_reports);"
    "DELETE FROM probes WHERE report_pk IN (SELECT report_pk FROM temp.prune_reports);"
    "DELETE FROM reports WHERE report_pk IN (SELECT report_pk FROM temp.prune_reports);"
    /* Recompute the summaries of the hosts that lost reports from what remains. */
    "DELETE FROM host_servers WHERE host_pk IN (SELECT host_pk FROM temp.prune_hosts);"
    "INSERT INTO host_servers"
    "  SELECT host_pk, hostname, port, provider, min(collected_at), max(collected_at), count(*)"
    "  FROM (SELECT DISTINCT r.host_pk, r.report_pk, r.collected_at,"
    "          coalesce(s.hostname, '') AS hostname, coalesce(s.port, 0) AS port,"
    "          coalesce(s.provider, '') AS provider"
    "        FROM servers s JOIN reports r ON r.report_pk = s.report_pk"
    "        WHERE r.host_pk IN (SELECT host_pk FROM temp.prune_hosts))"
    "  GROUP BY host_pk, hostname, port, provider;"
    "DELETE FROM hosts WHERE host_pk IN (SELECT host_pk FROM temp.prune_hosts)"
    "  AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.host_pk = hosts.host_pk);"
    "UPDATE hosts SET"
    "  first_seen = (SELECT min(collected_at) FROM reports r WHERE r.host_pk = hosts.host_pk),"
    "  last_seen = (SELECT max(collected_at) FROM reports r WHERE r.host_pk = hosts.host_pk),"
    "  reports = (SELECT count(*) FROM reports r WHERE r.host_pk = hosts.host_pk),"
    "  latest_report = (SELECT report_pk FROM reports r WHERE r.host_pk = hosts.host_pk"
    "                   ORDER BY collected_at DESC, report_id DESC LIMIT 1),"
    "  hostname = (SELECT hostname FROM reports r WHERE r.host_pk = hosts.host_pk"
    "              ORDER BY collected_at DESC, report_id DESC LIMIT 1)"
    "  WHERE host_pk IN (SELECT host_pk FROM temp.prune_hosts);";

static mf_code sq_prune(long long *out, void *impl, int64_t before, mf_error *err)
{
    sq *s = impl;
    *out = 0;
    mf_code rc = exec(s, "BEGIN IMMEDIATE", err, "cannot start a transaction");
    if (rc != MF_OK)
        return rc;
    const char *sql = PRUNE_SQL;
    while (rc == MF_OK && sql && *sql) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int src = sqlite3_prepare_v2(s->db, sql, -1, &st, &tail);
        if (src != SQLITE_OK) {
            rc = sql_fail(s, src, err, "retention failed");
            break;
        }
        if (st) {
            int idx = sqlite3_bind_parameter_index(st, "@before");
            if (idx > 0)
                sqlite3_bind_int64(st, idx, before);
            src = sqlite3_step(st);
            if (src != SQLITE_DONE && src != SQLITE_ROW)
                rc = sql_fail(s, src, err, "retention failed");
            sqlite3_finalize(st);
        }
        sql = tail;
    }
    if (rc == MF_OK)
        *out = query_int(s, "SELECT count(*) FROM temp.prune_reports");
    if (rc == MF_OK)
        rc = exec(s, "COMMIT", err, "cannot commit the retention");
    if (rc != MF_OK) {
        sq_rollback(s);
        *out = 0;
    }
    return rc;
}

/* ------------------------------------------------------------------ queries */

static const char SERVERS_SQL[] =
    "WITH latest AS (SELECT latest_report AS report_pk, host_pk FROM hosts"
    "                WHERE latest_report IS NOT NULL),"
    " cur AS (SELECT coalesce(s.hostname, '') AS hostname, coalesce(s.port, 0) AS port,"
    "           coalesce(s.provider, '') AS provider, count(DISTINCT l.host_pk) AS hosts,"
    "           count(*) AS entries, sum(s.used_by) AS accounts,"
    "           sum(instr(',' || s.flags || ',', ',unused,') > 0) AS unused"
    "         FROM servers s JOIN latest l ON l.report_pk = s.report_pk"
    "         GROUP BY 1, 2, 3),"
    " pr AS (SELECT coalesce(p.hostname, '') AS hostname, p.port AS port,"
    "          sum(p.outcome = 'ok') AS ok,"
    "          sum(p.outcome NOT IN ('ok', 'skipped')) AS failed"
    "        FROM probes p JOIN latest l ON l.report_pk = p.report_pk GROUP BY 1, 2),"
    " pf AS (SELECT hostname, port, outcome FROM"
    "          (SELECT coalesce(p.hostname, '') AS hostname, p.port AS port, p.outcome,"
    "             row_number() OVER (PARTITION BY coalesce(p.hostname, ''), p.port"
    "                                ORDER BY count(*) DESC, p.outcome) AS rn"
    "           FROM probes p JOIN latest l ON l.report_pk = p.report_pk"
    "           WHERE p.outcome NOT IN ('ok', 'skipped') GROUP BY 1, 2, 3)"
    "        WHERE rn = 1),"
    " ever AS (SELECT hostname, port, provider, count(*) AS hosts_ever,"
    "            min(first_seen) AS first_seen, max(last_seen) AS last_seen"
    "          FROM host_servers GROUP BY 1, 2, 3)"
    " SELECT e.hostname, e.provider, e.port, e.hosts_ever, coalesce(c.hosts, 0),"
    "   coalesce(c.entries, 0), coalesce(c.accounts, 0), coalesce(c.unused, 0),"
    "   coalesce(pr.ok, 0), coalesce(pr.failed, 0), pf.outcome, e.first_seen, e.last_seen"
    " FROM ever e"
    " LEFT JOIN cur c ON c.hostname = e.hostname AND c.port = e.port AND c.provider = e.provider"
    " LEFT JOIN pr ON e.provider = '' AND e.hostname <> '' AND pr.hostname = e.hostname"
    "   AND pr.port = e.port"
    " LEFT JOIN pf ON e.provider = '' AND e.hostname <> '' AND pf.hostname = e.hostname"
    "   AND pf.port = e.port"
    " ORDER BY 5 DESC, 4 DESC, e.hostname, e.port, e.provider";

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t && t[0] ? (const char *)t : NULL;
}

static mf_code sq_servers(void *impl, mf_store_server_fn fn, void *ctx, mf_error *err)
{
    sq *s = impl;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, SERVERS_SQL, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(s, rc, err, "cannot query the server inventory");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mf_store_server_row row = {
            .hostname = col_text(st, 0),
            .provider = col_text(st, 1),
            .port = sqlite3_column_int(st, 2),
            .hosts_ever = sqlite3_column_int64(st, 3),
            .hosts = sqlite3_column_int64(st, 4),
            .entries = sqlite3_column_int64(st, 5),
            .accounts = sqlite3_column_int64(st, 6),
            .unused = sqlite3_column_int64(st, 7),
            .probes_ok = sqlite3_column_int64(st, 8),
            .probes_failed = sqlite3_column_int64(st, 9),
            .top_failure = col_text(st, 10),
            .first_seen = sqlite3_column_int64(st, 11),
            .last_seen = sqlite3_column_int64(st, 12),
        };
        if (fn(ctx, &row) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    mf_code code = rc == SQLITE_DONE ? MF_OK : sql_fail(s, rc, err, "server inventory query");
    sqlite3_finalize(st);
    return code;
}

static mf_code sq_latest(void *impl, mf_store_report_fn fn, void *ctx, mf_error *err)
{
    sq *s = impl;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT h.host_id, r.report_id, r.collected_at, r.document"
                                " FROM hosts h JOIN reports r ON r.report_pk = h.latest_report"
                                " ORDER BY h.host_id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(s, rc, err, "cannot query the latest reports");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *doc = (const char *)sqlite3_column_text(st, 3);
        size_t len = (size_t)sqlite3_column_bytes(st, 3);
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
               doc ? doc : "", len) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    mf_code code = rc == SQLITE_DONE ? MF_OK : sql_fail(s, rc, err, "latest reports query");
    sqlite3_finalize(st);
    return code;
}

static mf_code sq_count(long long *out_reports, long long *out_hosts, void *impl, mf_error *err)
{
    sq *s = impl;
    *out_reports = query_int(s, "SELECT count(*) FROM reports");
    *out_hosts = query_int(s, "SELECT count(*) FROM hosts");
    if (*out_reports < 0 || *out_hosts < 0)
        return sql_fail(s, sqlite3_errcode(s->db), err, "cannot count reports");
    return MF_OK;
}

static int sq_schema_version(void *impl)
{
    return ((sq *)impl)->version;
}

/* Probe history per (hostname, port) over every report (store.h mf_store_probe_row). */
static const char PROBE_HISTORY_SQL[] =
    "SELECT p.hostname, p.port,"
    "  min(CASE WHEN p.outcome NOT IN ('skipped', 'probe-error') THEN r.collected_at END),"
    "  max(CASE WHEN p.outcome = 'ok' THEN r.collected_at END)"
    " FROM probes p JOIN reports r ON r.report_pk = p.report_pk"
    " WHERE p.hostname IS NOT NULL GROUP BY p.hostname, p.port";

static mf_code sq_probe_history(void *impl, mf_store_probe_fn fn, void *ctx, mf_error *err)
{
    sq *s = impl;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, PROBE_HISTORY_SQL, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(s, rc, err, "cannot query the probe history");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mf_store_probe_row row = {
            .hostname = (const char *)sqlite3_column_text(st, 0),
            .port = sqlite3_column_int(st, 1),
            .first_probed = sqlite3_column_int64(st, 2), /* NULL reads as 0 */
            .last_ok = sqlite3_column_int64(st, 3),
        };
        if (!row.hostname)
            continue;
        if (fn(ctx, &row) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    mf_code code = rc == SQLITE_DONE ? MF_OK : sql_fail(s, rc, err, "probe history query");
    sqlite3_finalize(st);
    return code;
}

const mf_store_backend mf_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .add = sq_add,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .has = sq_has,
    .prune = sq_prune,
    .servers = sq_servers,
    .latest = sq_latest,
    .count = sq_count,
    .schema_version = sq_schema_version,
    .probe_history = sq_probe_history,
};
