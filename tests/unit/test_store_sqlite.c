/* test_store_sqlite.c: collector/store_sqlite.c through the store.h interface —
 * schema versioning, idempotent adds, batches and rollback, latest report per host
 * with out-of-order arrival, first/last seen per (host, server), retention that keeps
 * the summaries equal to what the rows say, and the server inventory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "report_json.h"
#include "store.h"
#include "util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fx {
    char dir[256];
    char db[300];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof(f->db), "%s/store.sqlite", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* A report document: host `host`, time `when`, and servers from a NULL-terminated list
 * of "hostname:port" (the first is used by an account and probes ok; the others are
 * unused and fail their probe with dns-nxdomain). "@icloud" is a provider entry. */
typedef struct doc {
    char *json;
    mf_report *r;
} doc;

static doc mk(const char *id, const char *host, const char *when, const char *const *servers)
{
    mf_buf b;
    mf_buf_init(&b, 1 << 20);
    mf_buf_appendf(&b,
                   "{\"schema\":\"mailfleet.report.v1\",\"report_id\":\"%s\","
                   "\"collected_at\":\"%s\",\"agent\":{\"version\":\"0.1.0\"},"
                   "\"host\":{\"id\":\"%s\",\"hostname\":\"%s-mbp\","
                   "\"os\":{\"name\":\"macOS\",\"version\":\"14.5\"}},"
                   "\"sources\":[{\"user\":\"alice\",\"client\":\"apple-mail\","
                   "\"format\":\"accounts-plist\",\"path\":\"/Users/alice/x\",\"status\":\"ok\","
                   "\"error\":null}],\"servers\":[",
                   id, when, host, host);
    size_t n = 0;
    for (; servers && servers[n]; n++) {
        char name[128];
        int port = 0;
        const char *colon = strchr(servers[n], ':');
        snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - servers[n]) : 127,
                 servers[n]);
        if (colon)
            port = (int)strtol(colon + 1, NULL, 10);
        bool provider = name[0] == '@';
        mf_buf_appendf(&b,
                       "%s{\"id\":\"s%zu\",\"user\":\"alice\",\"client\":\"apple-mail\","
                       "\"source\":0,\"hostname\":%s%s%s,%s%s%s\"port\":%d,"
                       "\"security\":\"starttls\",\"auth\":\"password\",\"username\":\"alice\","
                       "\"description\":\"d\",\"used_by\":[%s],\"flags\":[%s]}",
                       n ? "," : "", n + 1, provider ? "" : "\"", provider ? "null" : name,
                       provider ? "" : "\"", provider ? "\"provider\":\"" : "",
                       provider ? name + 1 : "", provider ? "\"," : "", port ? port : 587,
                       n == 0 ? "\"a1\"" : "", n == 0 ? "" : "\"unused\"");
    }
    mf_buf_append_str(&b, "],\"accounts\":[");
    if (n)
        mf_buf_append_str(&b, "{\"id\":\"a1\",\"user\":\"alice\",\"client\":\"apple-mail\","
                              "\"source\":0,\"type\":\"imap\",\"description\":\"Work\","
                              "\"emails\":[\"alice@example.com\",\"a@example.com\"],"
                              "\"smtp\":\"s1\",\"smtp_ref\":\"S1\",\"flags\":[]}");
    mf_buf_append_str(&b, "],\"probes\":[");
    for (size_t i = 0; i < n; i++) {
        char name[128];
        const char *colon = strchr(servers[i], ':');
        snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - servers[i]) : 127,
                 servers[i]);
        if (name[0] == '@')
            continue;
        mf_buf_appendf(&b,
                       "%s{\"hostname\":\"%s\",\"port\":%d,\"security\":\"starttls\","
                       "\"servers\":[\"s%zu\"],\"outcome\":\"%s\",\"duration_ms\":5,"
                       "\"phases\":{},\"tls\":null}",
                       b.data[b.len - 1] == '[' ? "" : ",", name,
                       colon ? (int)strtol(colon + 1, NULL, 10) : 587, i + 1,
                       i == 0 ? "ok" : "dns-nxdomain");
    }
    mf_buf_append_str(&b, "]}");
    doc d = {0};
    size_t len;
    d.json = mf_buf_detach(&b, &len);
    mf_error err;
    mf_error_clear(&err);
    if (mf_report_decode(&d.r, d.json, len, &err) != MF_OK) {
        char msg[1024];
        fail_msg("test document does not decode: %s\n%s", mf_error_format(&err, msg, sizeof(msg)),
                 d.json);
    }
    return d;
}

static void doc_free(doc *d)
{
    mf_report_free(d->r);
    free(d->json);
}

static mf_store_added add(mf_store *st, doc d)
{
    mf_store_added a;
    mf_error err;
    mf_error_clear(&err);
    mf_code rc = mf_store_add(&a, st, d.r, d.json, strlen(d.json), &err);
    if (rc != MF_OK)
        fail_msg("add: %s", err.text);
    return a;
}

/* Add one document in its own batch, then free it. */
static mf_store_added add1(mf_store *st, const char *id, const char *host, const char *when,
                           const char *const *servers)
{
    doc d = mk(id, host, when, servers);
    assert_int_equal(mf_store_begin(st, NULL), MF_OK);
    mf_store_added a = add(st, d);
    assert_int_equal(mf_store_commit(st, NULL), MF_OK);
    doc_free(&d);
    return a;
}

static long long q(const fx *f, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void sql(const fx *f, const char *stmt)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    if (sqlite3_exec(db, stmt, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", stmt, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* The summaries must always equal what the rows say. */
static void assert_summaries_consistent(const fx *f)
{
    static const char AGG[] =
        "SELECT host_pk, hostname, port, provider, min(collected_at), max(collected_at), count(*)"
        " FROM (SELECT DISTINCT r.host_pk, r.report_pk, r.collected_at,"
        "   coalesce(s.hostname, '') AS hostname, coalesce(s.port, 0) AS port,"
        "   coalesce(s.provider, '') AS provider"
        "   FROM servers s JOIN reports r ON r.report_pk = s.report_pk)"
        " GROUP BY 1, 2, 3, 4";
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "SELECT count(*) FROM (SELECT * FROM host_servers EXCEPT %s)", AGG);
    assert_int_equal(q(f, buf), 0);
    snprintf(buf, sizeof(buf), "SELECT count(*) FROM (%s EXCEPT SELECT * FROM host_servers)",
             AGG);
    assert_int_equal(q(f, buf), 0);
    assert_int_equal(q(f, "SELECT count(*) FROM hosts h WHERE reports <>"
                          " (SELECT count(*) FROM reports r WHERE r.host_pk = h.host_pk)"
                          " OR first_seen <> (SELECT min(collected_at) FROM reports r"
                          "   WHERE r.host_pk = h.host_pk)"
                          " OR last_seen <> (SELECT max(collected_at) FROM reports r"
                          "   WHERE r.host_pk = h.host_pk)"
                          " OR latest_report IS NOT (SELECT report_pk FROM reports r"
                          "   WHERE r.host_pk = h.host_pk"
                          "   ORDER BY collected_at DESC, report_id DESC LIMIT 1)"),
                     0);
    /* No orphans. */
    assert_int_equal(q(f, "SELECT (SELECT count(*) FROM servers WHERE report_pk NOT IN"
                          " (SELECT report_pk FROM reports)) + (SELECT count(*) FROM probes"
                          " WHERE report_pk NOT IN (SELECT report_pk FROM reports))"
                          " + (SELECT count(*) FROM accounts WHERE report_pk NOT IN"
                          " (SELECT report_pk FROM reports)) + (SELECT count(*) FROM sources"
                          " WHERE report_pk NOT IN (SELECT report_pk FROM reports))"
                          " + (SELECT count(*) FROM reports WHERE host_pk NOT IN"
                          " (SELECT host_pk FROM hosts))"),
                     0);
}

#define ID(n) "00000000-0000-4000-8000-00000000000" #n

static const char *const S_WORK[] = {"smtp.work.com:587", NULL};
static const char *const S_WORK_OLD[] = {"smtp.work.com:587", "mail.old.com:25", NULL};
static const char *const S_ALL[] = {"smtp.work.com:587", "mail.old.com:25", "@icloud", NULL};

static void test_backend_find(void **state)
{
    (void)state;
    assert_ptr_equal(mf_store_backend_find("sqlite"), &mf_store_sqlite);
    assert_null(mf_store_backend_find("postgresql"));
    assert_null(mf_store_backend_find(NULL));
    mf_store *st = (mf_store *)1;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_store_open(&st, "postgresql", "x", &err), MF_ERR_UNSUPPORTED);
    assert_null(st);
    assert_true(strstr(err.text, "postgresql") != NULL);
}

static void test_open_new_and_reopen(void **state)
{
    fx *f = *state;
    mf_store *st = NULL;
    long long nr, nh;
    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    assert_int_equal(mf_store_schema_version(st), 1);
    assert_int_equal(mf_store_count(&nr, &nh, st, NULL), MF_OK);
    assert_int_equal(nr, 0);
    assert_int_equal(nh, 0);
    mf_store_close(st);
    assert_int_equal(q(f, "PRAGMA user_version"), 1);
    assert_int_equal(q(f, "PRAGMA application_id"), 0x4d464c54);
    assert_int_equal(q(f, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'"),
                     1);
    assert_int_equal(mf_store_open(&st, "sqlite", f->db, NULL), MF_OK);
    assert_int_equal(mf_store_schema_version(st), 1);
    mf_store_close(st);
    mf_store_close(NULL);
}

static void test_refuses_newer_and_foreign(void **state)
{
    fx *f = *state;
    mf_store *st = NULL;
    mf_error err;
    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    mf_store_close(st);
    sql(f, "PRAGMA user_version = 99");
    mf_error_clear(&err);
    assert_int_equal(mf_store_open(&st, NULL, f->db, &err), MF_ERR_UNSUPPORTED);
    assert_null(st);
    assert_true(strstr(err.text, "newer") != NULL);
    assert_string_equal(err.file, f->db);
    unlink(f->db);
    /* Some other application's database is left alone. */
    sql(f, "CREATE TABLE customers (name TEXT)");
    mf_error_clear(&err);
    assert_int_equal(mf_store_open(&st, NULL, f->db, &err), MF_ERR_INVALID);
    assert_true(strstr(err.text, "not a mailfleet store") != NULL);
    assert_int_equal(q(f, "SELECT count(*) FROM sqlite_master"), 1);
    unlink(f->db);
    /* Not a database at all. */
    FILE *fp = fopen(f->db, "w");
    fputs("this is not a database, just text that is long enough to be a header.......",
          fp);
    fclose(fp);
    mf_error_clear(&err);
    assert_int_not_equal(mf_store_open(&st, NULL, f->db, &err), MF_OK);
    assert_null(st);
    assert_true(err.text[0] != '\0');
}

static void test_add_duplicate_rows(void **state)
{
    fx *f = *state;
    mf_store *st = NULL;
    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    assert_int_equal(add1(st, ID(1), "H1", "2026-01-01T10:00:00Z", S_ALL), MF_STORE_ADDED);
    bool have = false;
    assert_int_equal(mf_store_has(&have, st, ID(1), NULL), MF_OK);
    assert_true(have);
    assert_int_equal(mf_store_has(&have, st, ID(2), NULL), MF_OK);
    assert_false(have);
    /* The same report again, even with its id in upper case: nothing written. */
    assert_int_equal(add1(st, "00000000-0000-4000-8000-00000000000A", "H1",
                          "2026-01-01T10:00:00Z", S_ALL),
                     MF_STORE_ADDED);
    assert_int_equal(add1(st, "00000000-0000-4000-8000-00000000000a", "H1",
                          "2026-01-01T10:00:00Z", S_ALL),
                     MF_STORE_DUPLICATE);
    assert_int_equal(add1(st, ID(1), "H1", "2026-01-01T10:00:00Z", S_ALL), MF_STORE_DUPLICATE);
    long long nr, nh;
    assert_int_equal(mf_store_count(&nr, &nh, st, NULL), MF_OK);
    assert_int_equal(nr, 2);
    assert_int_equal(nh, 1);
    mf_store_close(st);
    assert_int_equal(q(f, "SELECT count(*) FROM reports WHERE report_id = lower(report_id)"), 2);
    assert_int_equal(q(f, "SELECT count(*) FROM servers"), 6);
    assert_int_equal(q(f, "SELECT count(*) FROM accounts"), 2);
    assert_int_equal(q(f, "SELECT count(*) FROM probes"), 4);
    assert_int_equal(q(f, "SELECT count(*) FROM sources"), 2);
    assert_int_equal(q(f, "SELECT count(*) FROM servers WHERE hostname IS NULL AND"
                          " provider = 'icloud' AND flags = 'unused'"),
                     2);
    assert_int_equal(q(f, "SELECT count(*) FROM accounts WHERE"
                          " emails = 'alice@example.com,a@example.com' AND smtp = 's1'"),
                     2);
    assert_int_equal(q(f, "SELECT count(*) FROM probes WHERE outcome = 'dns-nxdomain'"
                          " AND hostname = 'mail.old.com' AND port = 25"),
                     2);
    assert_int_equal(q(f, "SELECT collected_at FROM reports WHERE report_id = '" ID(1) "'"),
                     1767261600);
    assert_int_equal(q(f, "SELECT count(*) FROM reports WHERE document LIKE"
                          " '{\"schema\":\"mailfleet.report.v1\"%'"),
                     2);
    assert_summaries_consistent(f);
}

static void test_rollback(void **state)
{
    fx *f = *state;
    mf_store *st = NULL;
    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    doc d = mk(ID(1), "H1", "2026-01-01T10:00:00Z", S_WORK);
    assert_int_equal(mf_store_begin(st, NULL), MF_OK);
    assert_int_equal(mf_store_begin(st, NULL), MF_ERR_INTERNAL); /* no nesting */
    assert_int_equal(add(st, d), MF_STORE_ADDED);
    bool have = false;
    assert_int_equal(mf_store_has(&have, st, ID(1), NULL), MF_OK);
    assert_true(have); /* visible inside the batch */
    mf_store_rollback(st);
    assert_int_equal(mf_store_has(&have, st, ID(1), NULL), MF_OK);
    assert_false(have);
    /* Adding outside a batch is a bug, not a silent autocommit. */
    mf_store_added a;
    assert_int_equal(mf_store_add(&a, st, d.r, d.json, strlen(d.json), NULL), MF_ERR_INTERNAL);
    /* Closing with an open batch rolls it back. */
    assert_int_equal(mf_store_begin(st, NULL), MF_OK);
    assert_int_equal(add(st, d), MF_STORE_ADDED);
    mf_store_close(st);
    doc_free(&d);
    assert_int_equal(q(f, "SELECT count(*) FROM reports"), 0);
    assert_int_equal(q(f, "SELECT count(*) FROM hosts"), 0);
    assert_int_equal(q(f, "SELECT count(*) FROM servers"), 0);
}

typedef struct latest_ctx {
    int n;
    char ids[8][37];
    char hosts[8][16];
} latest_ctx;

static int on_latest(void *ctx, const char *host_id, const char *report_id, int64_t t,
                     const char *json, size_t len)
{
    latest_ctx *c = ctx;
    (void)t;
    assert_true(len > 0 && json[0] == '{');
    if (c->n < 8) {
        mf_strlcpy(c->ids[c->n], report_id, 37);
        mf_strlcpy(c->hosts[c->n], host_id, 16);
    }
    c->n++;
    return 0;
}

static void test_latest_out_of_order(void **state)
{
    fx *f = *state;
    mf_store *st = NULL;
    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    /* Newest first, then an older one drains from an outbox. */
    add1(st, ID(2), "H1", "2026-03-01T10:00:00Z", S_WORK);
    add1(st, ID(1), "H1", "2026-01-01T10:00:00Z", S_WORK_OLD);
    add1(st, ID(3), "H2", "2026-02-01T10:00:00Z", S_WORK);
    /* Same second: report_id breaks the tie, the same way every time. */
    add1(st, ID(5), "H2", "2026-02-01T10:00:00Z", S_WORK);
    add1(st, ID(4), "H2", "2026-02-01T10:00:00Z", S_WORK);
    latest_ctx c = {0};
    assert_int_equal(mf_store_latest(st, on_latest, &c, NULL), MF_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.hosts[0], "H1");
    assert_string_equal(c.ids[0], ID(2));
    assert_string_equal(c.hosts[1], "H2");
    assert_string_equal(c.ids[1], ID(5));
    mf_store_close(st);
    assert_int_equal(q(f, "SELECT first_seen FROM hosts WHERE host_id = 'H1'"), 1767261600);
    assert_int_equal(q(f, "SELECT last_seen FROM hosts WHERE host_id = 'H1'"), 1772359200);
    assert_int_equal(q(f, "SELECT reports FROM hosts WHERE host_id = 'H2'"), 3);
    /* History per host, in order. */
    assert_int_equal(q(f, "SELECT group_concat(substr(report_id, 36), '') FROM (SELECT"
                          " report_id FROM reports r JOIN hosts h USING (host_pk)"
                          " WHERE h.host_id = 'H1' ORDER BY collected_at)"),
                     12);
    assert_summaries_consistent(f);
}

typedef struct inv {
    int n;
    mf_store_server_row rows[8];
    char names[8][64];
    char fails[8][32];
    int stop_after;
} inv;

static int on_server(void *ctx, const mf_store_server_row *r)
{
    inv *c = ctx;
    if (c->n < 8) {
        c->rows[c->n] = *r;
        snprintf(c->names[c->n], 64, "%s", r->hostname ? r->hostname
                                            : r->provider ? r->provider
                                                          : "?");
        snprintf(c->fails[c->n], 32, "%s", r->top_failure ? r->top_failure : "");
    }
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static int find(const inv *c, const char *name)
{
    for (int i = 0; i < c->n && i < 8; i++)
        if (strcmp(c->names[i], name) == 0)
            return i;
    fail_msg("server %s not in the inventory", name);
    return -1;
}

static void test_first_last_seen_and_inventory(void **state)
{
    fx *f = *state;
    mf_store *st = NULL;
    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    add1(st, ID(1), "H1", "2026-01-01T10:00:00Z", S_WORK_OLD);
    add1(st, ID(2), "H1", "2026-02-01T10:00:00Z", S_WORK);
    add1(st, ID(3), "H1", "2026-03-01T10:00:00Z", S_WORK_OLD);
    add1(st, ID(4), "H2", "2026-01-15T10:00:00Z", S_ALL);
    add1(st, ID(5), "H2", "2026-02-15T10:00:00Z", S_WORK);
    /* A report naming the same server twice counts once per report. */
    static const char *const twice[] = {"smtp.work.com:587", "smtp.work.com:587", NULL};
    add1(st, ID(6), "H3", "2026-02-20T10:00:00Z", twice);
    mf_store_close(st);
    assert_int_equal(q(f, "SELECT hs.first_seen FROM host_servers hs JOIN hosts h USING (host_pk)"
                          " WHERE h.host_id = 'H1' AND hs.hostname = 'mail.old.com'"),
                     1767261600);
    assert_int_equal(q(f, "SELECT hs.last_seen FROM host_servers hs JOIN hosts h USING (host_pk)"
                          " WHERE h.host_id = 'H1' AND hs.hostname = 'mail.old.com'"),
                     1772359200);
    assert_int_equal(q(f, "SELECT hs.reports FROM host_servers hs JOIN hosts h USING (host_pk)"
                          " WHERE h.host_id = 'H1' AND hs.hostname = 'mail.old.com'"),
                     2);
    assert_int_equal(q(f, "SELECT hs.reports FROM host_servers hs JOIN hosts h USING (host_pk)"
                          " WHERE h.host_id = 'H3'"),
                     1);
    assert_summaries_consistent(f);

    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    inv c = {0};
    assert_int_equal(mf_store_servers(st, on_server, &c, NULL), MF_OK);
    assert_int_equal(c.n, 3);
    int w = find(&c, "smtp.work.com"), o = find(&c, "mail.old.com"), i = find(&c, "icloud");
    assert_int_equal(w, 0); /* most hosts first */
    assert_int_equal(c.rows[w].hosts, 3);
    assert_int_equal(c.rows[w].hosts_ever, 3);
    assert_int_equal(c.rows[w].entries, 4); /* H3 has it twice */
    assert_int_equal(c.rows[w].accounts, 3);
    assert_int_equal(c.rows[w].probes_ok, 3);
    assert_int_equal(c.rows[w].probes_failed, 1); /* H3's second probe */
    assert_int_equal(c.rows[w].port, 587);
    assert_int_equal(c.rows[w].first_seen, 1767261600);
    /* mail.old.com: now only on H1 (H2 dropped it), ever on both, unused, failing. */
    assert_int_equal(c.rows[o].hosts, 1);
    assert_int_equal(c.rows[o].hosts_ever, 2);
    assert_int_equal(c.rows[o].accounts, 0);
    assert_int_equal(c.rows[o].unused, 1);
    assert_int_equal(c.rows[o].probes_ok, 0);
    assert_int_equal(c.rows[o].probes_failed, 1);
    assert_string_equal(c.fails[o], "dns-nxdomain");
    assert_int_equal(c.rows[o].port, 25);
    /* iCloud: provider-managed, gone from every latest report. */
    assert_int_equal(c.rows[i].hosts, 0);
    assert_int_equal(c.rows[i].hosts_ever, 1);
    /* Stopping early. */
    inv c2 = {.stop_after = 1};
    assert_int_equal(mf_store_servers(st, on_server, &c2, NULL), MF_OK);
    assert_int_equal(c2.n, 1);
    mf_store_close(st);
}

static void test_prune(void **state)
{
    fx *f = *state;
    mf_store *st = NULL;
    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    add1(st, ID(1), "H1", "2026-01-01T10:00:00Z", S_WORK_OLD);
    add1(st, ID(2), "H1", "2026-02-01T10:00:00Z", S_WORK_OLD);
    add1(st, ID(3), "H1", "2026-03-01T10:00:00Z", S_WORK);
    add1(st, ID(4), "H2", "2026-01-15T10:00:00Z", S_ALL);
    long long pruned = -1;
    int64_t before;
    assert_int_equal(mf_time_parse_rfc3339("2026-02-01T00:00:00Z", &before), MF_OK);
    assert_int_equal(mf_store_prune(&pruned, st, before, NULL), MF_OK);
    assert_int_equal(pruned, 2);
    long long nr, nh;
    assert_int_equal(mf_store_count(&nr, &nh, st, NULL), MF_OK);
    assert_int_equal(nr, 2);
    assert_int_equal(nh, 1); /* H2 had nothing newer: gone */
    bool have = true;
    assert_int_equal(mf_store_has(&have, st, ID(1), NULL), MF_OK);
    assert_false(have);
    /* Nothing to prune: 0, no error. */
    assert_int_equal(mf_store_prune(&pruned, st, before, NULL), MF_OK);
    assert_int_equal(pruned, 0);
    mf_store_close(st);
    /* mail.old.com on H1 is now first seen in the remaining report. */
    assert_int_equal(q(f, "SELECT first_seen FROM host_servers WHERE hostname = 'mail.old.com'"),
                     1769940000);
    assert_int_equal(q(f, "SELECT reports FROM host_servers WHERE hostname = 'mail.old.com'"), 1);
    assert_int_equal(q(f, "SELECT count(*) FROM host_servers WHERE provider = 'icloud'"), 0);
    assert_int_equal(q(f, "SELECT first_seen FROM hosts"), 1769940000);
    assert_summaries_consistent(f);
    /* Prune everything. */
    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    assert_int_equal(mf_store_prune(&pruned, st, INT64_C(4000000000), NULL), MF_OK);
    assert_int_equal(pruned, 2);
    mf_store_close(st);
    assert_int_equal(q(f, "SELECT (SELECT count(*) FROM hosts) + (SELECT count(*) FROM"
                          " host_servers) + (SELECT count(*) FROM servers)"),
                     0);
    assert_summaries_consistent(f);
}

static void test_many_in_one_batch(void **state)
{
    fx *f = *state;
    mf_store *st = NULL;
    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    assert_int_equal(mf_store_begin(st, NULL), MF_OK);
    for (int i = 0; i < 300; i++) {
        char id[37], host[16], when[32];
        snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", i);
        snprintf(host, sizeof(host), "H%d", i % 37);
        mf_time_format_rfc3339(1767261600 + (int64_t)(i * 7919 % 300) * 3600, when,
                               sizeof(when));
        doc d = mk(id, host, when, i % 3 ? S_WORK_OLD : S_ALL);
        assert_int_equal(add(st, d), MF_STORE_ADDED);
        /* The same report twice inside one batch is still a duplicate. */
        if (i % 50 == 0)
            assert_int_equal(add(st, d), MF_STORE_DUPLICATE);
        doc_free(&d);
    }
    assert_int_equal(mf_store_commit(st, NULL), MF_OK);
    mf_store_close(st);
    assert_int_equal(q(f, "SELECT count(*) FROM reports"), 300);
    assert_int_equal(q(f, "SELECT count(*) FROM hosts"), 37);
    assert_summaries_consistent(f);
}

typedef struct ph {
    int n;
    char names[8][64];
    mf_store_probe_row rows[8];
} ph;

static int on_probe(void *ctx, const mf_store_probe_row *r)
{
    ph *c = ctx;
    if (c->n < 8) {
        snprintf(c->names[c->n], 64, "%s:%d", r->hostname, r->port);
        c->rows[c->n] = *r;
        c->rows[c->n].hostname = NULL; /* valid only during the callback */
    }
    c->n++;
    return 0;
}

static void test_probe_history(void **state)
{
    fx *f = *state;
    mf_store *st = NULL;
    assert_int_equal(mf_store_open(&st, NULL, f->db, NULL), MF_OK);
    /* smtp.work.com probes ok in every report; mail.old.com always fails. */
    add1(st, ID(1), "H1", "2026-01-01T10:00:00Z", S_WORK_OLD);
    add1(st, ID(2), "H1", "2026-02-01T10:00:00Z", S_WORK);
    add1(st, ID(3), "H2", "2026-03-01T10:00:00Z", S_ALL);
    ph c = {0};
    assert_int_equal(mf_store_probe_history(st, on_probe, &c, NULL), MF_OK);
    mf_store_close(st);
    assert_int_equal(c.n, 2); /* provider-managed entries are never probed */
    for (int i = 0; i < 2; i++) {
        if (strcmp(c.names[i], "smtp.work.com:587") == 0) {
            assert_int_equal(c.rows[i].first_probed, 1767261600);
            assert_int_equal(c.rows[i].last_ok, 1772359200);
        } else {
            assert_string_equal(c.names[i], "mail.old.com:25");
            assert_int_equal(c.rows[i].first_probed, 1767261600);
            assert_int_equal(c.rows[i].last_ok, 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_find),
        cmocka_unit_test_setup_teardown(test_open_new_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_and_foreign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_duplicate_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_last_seen_and_inventory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_in_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_history, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
