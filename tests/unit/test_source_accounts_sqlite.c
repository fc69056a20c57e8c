/* test_source_accounts_sqlite.c: Apple Mail's Accounts4.sqlite source.
 *
 * Every test builds its own Core Data-like database with the SQLite C API in a fresh
 * home folder, with property values archived by NSKeyedArchiver rules (built here with
 * libplist), scans it, and checks the servers and accounts. Every scan also checks that
 * nothing in ~/Library/Accounts changed (names, sizes, modification times) and that the
 * private temporary copy was removed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "report.h"
#include "testsupport.h"
#include "report_json.h"
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <plist/plist.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------ */
/* Fixture: a temporary root with home/Library/Accounts and a private TMPDIR */

typedef struct fx {
    char root[256];
    char home[300];
    char accdir[340];
    char tmpdir[300];
    char db[400];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->root, sizeof(f->root), "/tmp/mf-test-acctsql.XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->home, sizeof(f->home), "%s/home", f->root);
    snprintf(f->accdir, sizeof(f->accdir), "%s/Library/Accounts", f->home);
    snprintf(f->tmpdir, sizeof(f->tmpdir), "%s/tmp", f->root);
    snprintf(f->db, sizeof(f->db), "%s/Accounts4.sqlite", f->accdir);
    mft_must_mkdirs(f->accdir);
    mft_must_mkdirs(f->tmpdir);
    setenv("TMPDIR", f->tmpdir, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    mft_rm_tree(f->root);
    free(f);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Folder state: names, sizes, modification times */

#ifdef __APPLE__
#define MTIME_NS(st) ((long)(st).st_mtimespec.tv_nsec)
#else
#define MTIME_NS(st) ((long)(st).st_mtim.tv_nsec)
#endif

static char *dir_state(const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    assert_true(n >= 0);
    size_t cap = 64 + (size_t)n * 600, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    for (int i = 0; i < n; i++) {
        char p[1024];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]->d_name);
        if (lstat(p, &st) != 0)
            memset(&st, 0, sizeof(st));
        len += (size_t)snprintf(out + len, cap - len, "%s %lld %lld.%09ld %o\n", names[i]->d_name,
                                (long long)st.st_size, (long long)st.st_mtime, MTIME_NS(st),
                                (unsigned)st.st_mode);
        free(names[i]);
    }
    free(names);
    return out;
}

static bool dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = false;
    closedir(d);
    return empty;
}

/* Scan f->home with the source, checking that nothing was written next to the
 * database and that the temporary copy is gone. */
static mf_report *scan_cap(fx *f, size_t cap)
{
    char *before = dir_state(f->accdir);
    mf_report *r = mf_report_new();
    assert_non_null(r);
    mf_home h = {.user = "alice", .path = f->home};
    mf_scan_opts o = {.file_cap = cap};
    assert_int_equal(mf_source_accounts_sqlite.scan(r, &h, &o), MF_OK);
    mf_report_compute_findings(r);
    char *after = dir_state(f->accdir);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_true(dir_empty(f->tmpdir));
    return r;
}

static mf_report *scan(fx *f)
{
    return scan_cap(f, 0);
}

/* ------------------------------------------------------------------------------------ */
/* NSKeyedArchiver archives of plain values (strings and numbers inline, as NSString and
 * NSNumber are archived; arrays and dictionaries as NSArray/NSDictionary objects). */

static uint64_t obj_add(plist_t objs, plist_t o)
{
    plist_array_append_item(objs, o);
    return plist_array_get_size(objs) - 1;
}

static uint64_t class_add(plist_t objs, const char *name)
{
    plist_t c = plist_new_dict();
    plist_t l = plist_new_array();
    plist_array_append_item(l, plist_new_string(name));
    plist_array_append_item(l, plist_new_string("NSObject"));
    plist_dict_set_item(c, "$classes", l);
    plist_dict_set_item(c, "$classname", plist_new_string(name));
    return obj_add(objs, c);
}

static uint64_t encode(plist_t objs, plist_t v)
{
    switch (plist_get_node_type(v)) {
    case PLIST_ARRAY: {
        plist_t uids = plist_new_array();
        for (uint32_t i = 0; i < plist_array_get_size(v); i++)
            plist_array_append_item(uids, plist_new_uid(encode(objs, plist_array_get_item(v, i))));
        plist_t o = plist_new_dict();
        plist_dict_set_item(o, "NS.objects", uids);
        plist_dict_set_item(o, "$class", plist_new_uid(class_add(objs, "NSArray")));
        return obj_add(objs, o);
    }
    case PLIST_DICT: {
        plist_t ks = plist_new_array(), vs = plist_new_array();
        plist_dict_iter it = NULL;
        plist_dict_new_iter(v, &it);
        for (;;) {
            char *k = NULL;
            plist_t val = NULL;
            plist_dict_next_item(v, it, &k, &val);
            if (!val) {
                free(k);
                break;
            }
            plist_t kn = plist_new_string(k);
            plist_array_append_item(ks, plist_new_uid(encode(objs, kn)));
            plist_array_append_item(vs, plist_new_uid(encode(objs, val)));
            plist_free(kn);
            free(k);
        }
        free(it);
        plist_t o = plist_new_dict();
        plist_dict_set_item(o, "NS.keys", ks);
        plist_dict_set_item(o, "NS.objects", vs);
        plist_dict_set_item(o, "$class", plist_new_uid(class_add(objs, "NSDictionary")));
        return obj_add(objs, o);
    }
    default:
        return obj_add(objs, plist_copy(v));
    }
}

/* Binary archive of v (v is freed). mutable_string wraps a root string in an
 * NSMutableString object (NS.string) the way some values are stored. */
static char *archive_of(plist_t v, bool mutable_string, size_t *len)
{
    plist_t objs = plist_new_array();
    plist_array_append_item(objs, plist_new_string("$null"));
    uint64_t root;
    if (mutable_string) {
        plist_t o = plist_new_dict();
        plist_dict_set_item(o, "NS.string", plist_copy(v));
        plist_dict_set_item(o, "$class", plist_new_uid(class_add(objs, "NSMutableString")));
        root = obj_add(objs, o);
    } else {
        root = encode(objs, v);
    }
    plist_t a = plist_new_dict();
    plist_dict_set_item(a, "$archiver", plist_new_string("NSKeyedArchiver"));
    plist_dict_set_item(a, "$version", plist_new_uint(100000));
    plist_t top = plist_new_dict();
    plist_dict_set_item(top, "root", plist_new_uid(root));
    plist_dict_set_item(a, "$top", top);
    plist_dict_set_item(a, "$objects", objs);
    char *b = NULL;
    uint32_t n = 0;
    plist_to_bin(a, &b, &n);
    assert_non_null(b);
    *len = n;
    plist_free(a);
    plist_free(v);
    return b;
}

/* ------------------------------------------------------------------------------------ */
/* Building a Core Data-like Accounts database */

enum {
    T_SMTP = 1,
    T_IMAP,
    T_POP,
    T_APPLE,
    T_IMAPMAIL,
    T_GOOGLE,
    T_YAHOO,
    T_HOTMAIL,
    T_EXCHANGE,
    T_CALDAV
};

static const char *const type_ids[] = {
    NULL,
    "com.apple.account.SMTP",
    "com.apple.account.IMAP",
    "com.apple.account.POP",
    "com.apple.account.AppleAccount",
    "com.apple.account.IMAPMail",
    "com.apple.account.Google",
    "com.apple.account.Yahoo",
    "com.apple.account.Hotmail",
    "com.apple.account.Exchange",
    "com.apple.account.CalDAV",
};

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

static const char *const schema =
    "CREATE TABLE ZACCOUNTTYPE (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,"
    " ZCREDENTIALPROTECTIONPOLICY INTEGER, ZSUPPORTSAUTHENTICATION INTEGER,"
    " ZACCOUNTTYPEDESCRIPTION VARCHAR, ZIDENTIFIER VARCHAR, ZOWNINGBUNDLEID VARCHAR);"
    "CREATE TABLE ZACCOUNT (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,"
    " ZACTIVE INTEGER, ZAUTHENTICATED INTEGER, ZVISIBLE INTEGER, ZACCOUNTTYPE INTEGER,"
    " ZPARENTACCOUNT INTEGER, ZDATE TIMESTAMP, ZACCOUNTDESCRIPTION VARCHAR,"
    " ZIDENTIFIER VARCHAR, ZOWNINGBUNDLEID VARCHAR, ZUSERNAME VARCHAR,"
    " ZDATACLASSPROPERTIES BLOB);"
    "CREATE TABLE ZACCOUNTPROPERTY (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER,"
    " Z_OPT INTEGER, ZOWNER INTEGER, ZKEY VARCHAR, ZVALUE BLOB);"
    "CREATE INDEX ZACCOUNTPROPERTY_ZOWNER_INDEX ON ZACCOUNTPROPERTY (ZOWNER);";

static void insert_types(sqlite3 *db)
{
    for (int i = T_SMTP; i <= T_CALDAV; i++) {
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "INSERT INTO ZACCOUNTTYPE (Z_PK, Z_ENT, Z_OPT,"
                                            " ZIDENTIFIER, ZACCOUNTTYPEDESCRIPTION)"
                                            " VALUES (?, 3, 1, ?, ?)",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_int(st, 1, i);
        sqlite3_bind_text(st, 2, type_ids[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, strrchr(type_ids[i], '.') + 1, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
    }
}

/* A new database at path with the schema and the account types. wal: WAL mode with
 * automatic checkpoints off, so committed rows stay in the -wal file. */
static sqlite3 *db_new(const char *path, bool wal)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA synchronous=OFF"); /* no fsync per row: the tests stay quick */
    if (wal) {
        exec_ok(db, "PRAGMA journal_mode=WAL");
        exec_ok(db, "PRAGMA wal_autocheckpoint=0");
    }
    exec_ok(db, schema);
    insert_types(db);
    return db;
}

static void db_close(sqlite3 *db)
{
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* An account row; parent 0 = none; NULL strings are SQL NULL. Returns its Z_PK. */
static long long row(sqlite3 *db, int type, long long parent, const char *ident, const char *user,
                     const char *desc)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO ZACCOUNT (Z_ENT, Z_OPT, ZACTIVE,"
                                        " ZACCOUNTTYPE, ZPARENTACCOUNT, ZIDENTIFIER, ZUSERNAME,"
                                        " ZACCOUNTDESCRIPTION, ZOWNINGBUNDLEID) VALUES (2, 1,"
                                        " 1, ?, ?, ?, ?, ?, 'com.apple.mail')",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(st, 1, type);
    if (parent)
        sqlite3_bind_int64(st, 2, parent);
    if (ident)
        sqlite3_bind_text(st, 3, ident, -1, SQLITE_STATIC);
    if (user)
        sqlite3_bind_text(st, 4, user, -1, SQLITE_STATIC);
    if (desc)
        sqlite3_bind_text(st, 5, desc, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    return sqlite3_last_insert_rowid(db);
}

static void set_dataclasses(sqlite3 *db, long long pk, plist_t props)
{
    size_t n;
    char *b = archive_of(props, false, &n);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "UPDATE ZACCOUNT SET ZDATACLASSPROPERTIES = ?"
                                        " WHERE Z_PK = ?",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, b, (int)n, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, pk);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    free(b);
}

/* A property row with a raw value: blob (as_text false) or text. */
static void prop_raw(sqlite3 *db, long long owner, const char *key, const void *v, size_t n,
                     bool as_text)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO ZACCOUNTPROPERTY (ZOWNER, ZKEY, ZVALUE)"
                                        " VALUES (?, ?, ?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (as_text)
        sqlite3_bind_text(st, 3, v, (int)n, SQLITE_TRANSIENT);
    else
        sqlite3_bind_blob(st, 3, v, (int)n, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* A property archived with NSKeyedArchiver (v is taken). */
static void prop(sqlite3 *db, long long owner, const char *key, plist_t v)
{
    size_t n;
    char *b = archive_of(v, false, &n);
    prop_raw(db, owner, key, b, n, false);
    free(b);
}

static void prop_str(sqlite3 *db, long long owner, const char *key, const char *s)
{
    prop(db, owner, key, plist_new_string(s));
}

/* As an NSMutableString (NS.string wrapper). */
static void prop_mstr(sqlite3 *db, long long owner, const char *key, const char *s)
{
    size_t n;
    char *b = archive_of(plist_new_string(s), true, &n);
    prop_raw(db, owner, key, b, n, false);
    free(b);
}

static void prop_bool(sqlite3 *db, long long owner, const char *key, bool v)
{
    prop(db, owner, key, plist_new_bool(v));
}

static void prop_int(sqlite3 *db, long long owner, const char *key, uint64_t v)
{
    prop(db, owner, key, plist_new_uint(v));
}

/* The secrets every test database carries; none may reach a report. */
#define SECRET_1 "hunter2-SECRET-password"
#define SECRET_2 "ya29.SECRET-oauth-token"
#define SECRET_3 "dc-SECRET-in-dataclass"

static void add_secrets(sqlite3 *db, long long owner)
{
    prop_str(db, owner, "Password", SECRET_1);
    prop_str(db, owner, "OAuth2Token", SECRET_2);
    prop_raw(db, owner, "AccessToken", SECRET_2, strlen(SECRET_2), true);
}

static void assert_no_secrets(const mf_report *r)
{
    char *json = mf_report_encode(r, 1);
    assert_non_null(json);
    assert_null(strstr(json, "SECRET"));
    assert_null(strstr(json, "hunter2"));
    free(json);
}

/* ------------------------------------------------------------------------------------ */
/* Looking things up in the report */

static const mf_server *server_ident(const mf_report *r, const char *ident)
{
    for (size_t i = 0; i < r->nservers; i++)
        if (mf_streq(r->servers[i].identifier, ident))
            return &r->servers[i];
    fail_msg("no server with identifier %s", ident);
    return NULL;
}

static const mf_account *account_desc(const mf_report *r, const char *desc)
{
    for (size_t i = 0; i < r->naccounts; i++)
        if (mf_streq(r->accounts[i].description, desc))
            return &r->accounts[i];
    fail_msg("no account described %s", desc);
    return NULL;
}

static const mf_server *linked(const mf_report *r, const mf_account *a)
{
    assert_non_null(a->smtp);
    const mf_server *s = mf_report_find_server(r, a->smtp);
    assert_non_null(s);
    return s;
}

static void assert_source_ok(const mf_report *r, size_t i)
{
    assert_true(i < r->nsources);
    if (r->sources[i].status != MF_SRC_OK)
        fail_msg("source %zu: %s: %s", i, mf_source_status_name(r->sources[i].status),
                 r->sources[i].error ? r->sources[i].error : "");
    assert_string_equal(r->sources[i].client, "apple-mail");
    assert_string_equal(r->sources[i].format, "accounts-sqlite");
    assert_string_equal(r->sources[i].user, "alice");
}

static void assert_source_failed(const mf_report *r, mf_source_status st, const char *text)
{
    assert_int_equal(r->nsources, 1);
    assert_int_equal(r->sources[0].status, st);
    assert_non_null(r->sources[0].error);
    if (!strstr(r->sources[0].error, text))
        fail_msg("source error \"%s\" does not mention \"%s\"", r->sources[0].error, text);
    /* The message names the file. */
    assert_non_null(strstr(r->sources[0].error, "Accounts4.sqlite"));
    assert_int_equal(r->nservers, 0);
    assert_int_equal(r->naccounts, 0);
}

#define UUID_SMTP1 "8F1C2D3E-0000-4000-8000-000000000001"
#define UUID_SMTP2 "8F1C2D3E-0000-4000-8000-000000000002"
#define UUID_SMTP3 "8F1C2D3E-0000-4000-8000-000000000003"
#define UUID_SMTP4 "8F1C2D3E-0000-4000-8000-000000000004"
#define UUID_IMAP1 "1A2B3C4D-0000-4000-8000-000000000011"

/* ------------------------------------------------------------------------------------ */
/* Tests */

static void test_nothing_found(void **state)
{
    fx *f = *state;
    mf_report *r = scan(f); /* empty Accounts folder */
    assert_int_equal(r->nsources, 0);
    mf_report_free(r);
    mft_rm_tree(f->accdir);
    mf_report *r2 = mf_report_new();
    mf_home h = {.user = "alice", .path = f->home};
    assert_int_equal(mf_source_accounts_sqlite.scan(r2, &h, NULL), MF_OK);
    assert_int_equal(r2->nsources, 0);
    mf_report_free(r2);
    mft_must_mkdirs(f->accdir);
}

static void test_basic_imap_smtp(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    long long s = row(db, T_SMTP, 0, UUID_SMTP1, "alice@example.com", "Work SMTP");
    prop_mstr(db, s, "Hostname", "Smtp.Example.COM ");
    prop_str(db, s, "PortNumber", "587"); /* NSString, as older systems store it */
    prop_bool(db, s, "SSLEnabled", true);
    prop_bool(db, s, "ShouldUseAuthentication", true);
    prop_str(db, s, "AuthenticationScheme", "CRAM-MD5");
    prop_int(db, s, "MaxMessageBytes", 31457280);
    add_secrets(db, s);
    long long i = row(db, T_IMAP, 0, UUID_IMAP1, "alice@example.com", "Work");
    prop_str(db, i, "Hostname", "imap.example.com");
    prop_str(db, i, "SendingAccountIdentifier", UUID_SMTP1);
    plist_t emails = plist_new_array();
    plist_array_append_item(emails, plist_new_string("alice@example.com"));
    plist_array_append_item(emails, plist_new_string("a.liddell@example.com"));
    prop(db, i, "EmailAddresses", emails);
    add_secrets(db, i);
    row(db, T_CALDAV, 0, "CAL-1", "alice", "Calendar"); /* ignored */
    db_close(db);

    mf_report *r = scan(f);
    assert_int_equal(r->nsources, 1);
    assert_source_ok(r, 0);
    assert_string_equal(r->sources[0].path, f->db);
    assert_int_equal(r->nservers, 1);
    assert_int_equal(r->naccounts, 1);
    const mf_server *sv = &r->servers[0];
    assert_string_equal(sv->hostname, "smtp.example.com");
    assert_string_equal(sv->hostname_raw, "Smtp.Example.COM ");
    assert_true(sv->flags & MF_FLAG_HOSTNAME_WHITESPACE);
    assert_true(sv->flags & MF_FLAG_HOSTNAME_CASE);
    assert_int_equal(sv->port, 587);
    assert_false(sv->flags & MF_FLAG_DEFAULT_PORT);
    assert_int_equal(sv->security, MF_SEC_STARTTLS);
    assert_int_equal(sv->auth, MF_AUTH_PASSWORD_ENCRYPTED);
    assert_string_equal(sv->username, "alice@example.com");
    assert_string_equal(sv->description, "Work SMTP");
    assert_string_equal(sv->identifier, UUID_SMTP1);
    assert_null(sv->provider);
    assert_string_equal(sv->client, "apple-mail");
    assert_string_equal(sv->user, "alice");
    assert_int_equal(sv->source, 0);
    assert_false(sv->flags & MF_FLAG_UNUSED);
    const mf_account *a = &r->accounts[0];
    assert_string_equal(a->type, "imap");
    assert_string_equal(a->description, "Work");
    assert_string_equal(a->smtp, sv->id);
    assert_string_equal(a->smtp_ref, UUID_SMTP1);
    assert_int_equal(a->emails.n, 2);
    assert_string_equal(a->emails.v[0], "alice@example.com");
    assert_string_equal(a->emails.v[1], "a.liddell@example.com");
    assert_false(a->flags & MF_FLAG_DANGLING);
    assert_no_secrets(r);
    mf_report_free(r);
}

static void test_port_and_security(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    /* NSNumber port 465, TLS on, SSLIsDirect absent: direct TLS because of the port. */
    long long s1 = row(db, T_SMTP, 0, UUID_SMTP1, "u1", "s1");
    prop_str(db, s1, "Hostname", "a.example.com");
    prop_int(db, s1, "PortNumber", 465);
    prop_bool(db, s1, "SSLEnabled", true);
    /* Nothing stored: plain text, default port. */
    long long s2 = row(db, T_SMTP, 0, UUID_SMTP2, NULL, "s2");
    prop_str(db, s2, "Hostname", "b.example.com");
    /* NSString port, TLS, SSLIsDirect false: STARTTLS. */
    long long s3 = row(db, T_SMTP, 0, UUID_SMTP3, "u3", "s3");
    prop_str(db, s3, "Hostname", "c.example.com");
    prop_str(db, s3, "PortNumber", "2525");
    prop_str(db, s3, "SSLEnabled", "YES");
    prop_bool(db, s3, "SSLIsDirect", false);
    /* SSLIsDirect true, no port: TLS on the TLS default port. */
    long long s4 = row(db, T_SMTP, 0, UUID_SMTP4, "u4", "s4");
    prop_str(db, s4, "Hostname", "d.example.com");
    prop_int(db, s4, "SSLEnabled", 1);
    prop_bool(db, s4, "SSLIsDirect", true);
    /* Port 25 in plain text; a port that is no port. */
    long long s5 = row(db, T_SMTP, 0, "S5", "u5", "s5");
    prop_str(db, s5, "Hostname", "e.example.com");
    prop_int(db, s5, "PortNumber", 25);
    prop_bool(db, s5, "SSLEnabled", false);
    long long s6 = row(db, T_SMTP, 0, "S6", "u6", "s6");
    prop_str(db, s6, "Hostname", "f.example.com");
    prop_str(db, s6, "PortNumber", "smtp"); /* Mail reads 0: default ports */
    prop_str(db, s6, "SSLEnabled", "perhaps");
    db_close(db);

    mf_report *r = scan(f);
    assert_source_ok(r, 0);
    assert_int_equal(r->nservers, 6);
    const mf_server *a = server_ident(r, UUID_SMTP1);
    assert_int_equal(a->port, 465);
    assert_int_equal(a->security, MF_SEC_TLS);
    assert_false(a->flags & MF_FLAG_DEFAULT_PORT);
    const mf_server *b = server_ident(r, UUID_SMTP2);
    assert_int_equal(b->port, 587);
    assert_true(b->flags & MF_FLAG_DEFAULT_PORT);
    assert_int_equal(b->security, MF_SEC_NONE);
    assert_true(b->flags & MF_FLAG_PLAINTEXT);
    assert_int_equal(b->auth, MF_AUTH_NONE);
    assert_true(b->flags & MF_FLAG_UNUSED);
    const mf_server *c = server_ident(r, UUID_SMTP3);
    assert_int_equal(c->port, 2525);
    assert_int_equal(c->security, MF_SEC_STARTTLS);
    const mf_server *d = server_ident(r, UUID_SMTP4);
    assert_int_equal(d->port, 465);
    assert_true(d->flags & MF_FLAG_DEFAULT_PORT);
    assert_int_equal(d->security, MF_SEC_TLS);
    const mf_server *e = server_ident(r, "S5");
    assert_int_equal(e->port, 25);
    assert_true(e->flags & MF_FLAG_PORT_25);
    assert_int_equal(e->security, MF_SEC_NONE);
    const mf_server *g = server_ident(r, "S6");
    assert_int_equal(g->port, 587); /* not a port: the default, as Mail does */
    assert_true(g->flags & MF_FLAG_DEFAULT_PORT);
    assert_int_equal(g->security, MF_SEC_UNKNOWN);
    mf_report_free(r);
}

static void test_auth_mapping(void **state)
{
    fx *f = *state;
    static const struct {
        const char *ident, *user, *scheme;
        int should; /* -1 absent */
        mf_auth want;
    } cases[] = {
        {"A1", "bob", "", 1, MF_AUTH_PASSWORD},
        {"A2", "bob", NULL, 1, MF_AUTH_PASSWORD},
        {"A3", "bob", "CRAM-MD5", 1, MF_AUTH_PASSWORD_ENCRYPTED},
        {"A4", "bob", "DIGEST-MD5", 1, MF_AUTH_PASSWORD_ENCRYPTED},
        {"A5", "bob", "NTLM", 1, MF_AUTH_NTLM},
        {"A6", "bob", "GSSAPI", 1, MF_AUTH_GSSAPI},
        {"A7", "bob", "XOAUTH2", 1, MF_AUTH_OAUTH2},
        {"A8", "", "CRAM-MD5", 1, MF_AUTH_NONE}, /* no user name: the switch is ignored */
        {"A9", NULL, NULL, 1, MF_AUTH_NONE},
        {"A10", "bob", "CRAM-MD5", 0, MF_AUTH_NONE},
        {"A11", "bob", NULL, -1, MF_AUTH_PASSWORD}, /* a user name is only for logging in */
        {"A12", "bob", "X-UNHEARD-OF", 1, MF_AUTH_UNKNOWN},
        {"A13", NULL, NULL, -1, MF_AUTH_NONE},
        {"A14", NULL, "GSSAPI", 1, MF_AUTH_GSSAPI},
        {"A15", "bob", "XOAUTH2", 0, MF_AUTH_OAUTH2},
        {"A16", "bob", " cram-md5 ", -1, MF_AUTH_PASSWORD_ENCRYPTED},
    };
    sqlite3 *db = db_new(f->db, false);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long s = row(db, T_SMTP, 0, cases[i].ident, cases[i].user, NULL);
        prop_str(db, s, "Hostname", "smtp.example.com");
        prop_bool(db, s, "SSLEnabled", true);
        if (cases[i].scheme)
            prop_str(db, s, "AuthenticationScheme", cases[i].scheme);
        if (cases[i].should >= 0)
            prop_str(db, s, "ShouldUseAuthentication", cases[i].should ? "YES" : "NO");
    }
    db_close(db);
    mf_report *r = scan(f);
    assert_source_ok(r, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const mf_server *s = server_ident(r, cases[i].ident);
        if (s->auth != cases[i].want)
            fail_msg("%s: auth %s, expected %s", cases[i].ident, mf_auth_name(s->auth),
                     mf_auth_name(cases[i].want));
    }
    mf_report_free(r);
}

static void test_linking(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    long long s1 = row(db, T_SMTP, 0, UUID_SMTP1, "alice", "by uuid");
    prop_str(db, s1, "Hostname", "one.example.com");
    long long s2 = row(db, T_SMTP, 0, UUID_SMTP2, "bob@example.com", "by host:user");
    prop_str(db, s2, "Hostname", "Two.Example.com");
    long long s2b = row(db, T_SMTP, 0, "S2B", "carol", "same host, other user");
    prop_str(db, s2b, "Hostname", "two.example.com");
    long long s3 = row(db, T_SMTP, 0, UUID_SMTP3, NULL, "by host");
    prop_str(db, s3, "Hostname", "three.example.com");
    long long s4 = row(db, T_SMTP, 0, UUID_SMTP4, "dave", "by identifier in SMTPIdentifier");
    prop_str(db, s4, "Hostname", "four.example.com");

    long long a1 = row(db, T_IMAP, 0, "I1", "alice@example.com", "uuid");
    prop_str(db, a1, "SendingAccountIdentifier", UUID_SMTP1);
    prop_str(db, a1, "SMTPIdentifier", "two.example.com:bob@example.com"); /* not used */
    long long a2 = row(db, T_IMAP, 0, "I2", "bob@example.com", "host:user");
    prop_str(db, a2, "SMTPIdentifier", "two.example.com:bob@example.com");
    long long a3 = row(db, T_POP, 0, "I3", "x@example.com", "host");
    prop_str(db, a3, "SMTPIdentifier", "three.example.com");
    long long a4 = row(db, T_IMAP, 0, "I4", "d@example.com", "ident");
    prop_str(db, a4, "SMTPIdentifier", UUID_SMTP4);
    /* A stale SendingAccountIdentifier, but the SMTPIdentifier matches. */
    long long a5 = row(db, T_IMAP, 0, "I5", "c@example.com", "fallback");
    prop_str(db, a5, "SendingAccountIdentifier", "00000000-0000-4000-8000-0000000000FF");
    prop_str(db, a5, "SMTPIdentifier", "TWO.example.com:carol");
    /* Names nothing that exists: dangling, even though SMTP servers exist. */
    long long a6 = row(db, T_IMAP, 0, "I6", "e@example.com", "dangling");
    prop_str(db, a6, "SendingAccountIdentifier", "DEADBEEF-0000-4000-8000-000000000000");
    /* No reference stored: no server, not dangling. */
    row(db, T_IMAP, 0, "I7", "f@example.com", "none");
    /* Linked by structure: the SMTP row is its child. */
    long long a8 = row(db, T_IMAP, 0, "I8", "g@example.com", "parent");
    long long s8 = row(db, T_SMTP, a8, "S8", "g", "child smtp");
    prop_str(db, s8, "Hostname", "eight.example.com");
    db_close(db);

    mf_report *r = scan(f);
    assert_source_ok(r, 0);
    assert_int_equal(r->nservers, 6);
    assert_int_equal(r->naccounts, 8);
    const mf_account *a = account_desc(r, "uuid");
    assert_string_equal(linked(r, a)->identifier, UUID_SMTP1);
    assert_string_equal(a->smtp_ref, UUID_SMTP1);
    a = account_desc(r, "host:user");
    assert_string_equal(linked(r, a)->identifier, UUID_SMTP2);
    assert_string_equal(a->smtp_ref, "two.example.com:bob@example.com");
    a = account_desc(r, "host");
    assert_string_equal(linked(r, a)->identifier, UUID_SMTP3);
    assert_string_equal(a->type, "pop");
    a = account_desc(r, "ident");
    assert_string_equal(linked(r, a)->identifier, UUID_SMTP4);
    a = account_desc(r, "fallback");
    assert_string_equal(linked(r, a)->identifier, "S2B");
    assert_string_equal(a->smtp_ref, "TWO.example.com:carol");
    a = account_desc(r, "dangling");
    assert_null(a->smtp);
    assert_string_equal(a->smtp_ref, "DEADBEEF-0000-4000-8000-000000000000");
    assert_true(a->flags & MF_FLAG_DANGLING);
    a = account_desc(r, "none");
    assert_null(a->smtp);
    assert_null(a->smtp_ref);
    assert_false(a->flags & MF_FLAG_DANGLING);
    a = account_desc(r, "parent");
    assert_string_equal(linked(r, a)->identifier, "S8");
    assert_null(a->smtp_ref);
    mf_report_free(r);
}

static void test_dangling_with_single_smtp(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    long long s = row(db, T_SMTP, 0, UUID_SMTP1, "alice", "only one");
    prop_str(db, s, "Hostname", "smtp.example.com");
    long long a = row(db, T_IMAP, 0, "I1", "alice@example.com", "acct");
    prop_str(db, a, "SMTPIdentifier", "gone.example.com:alice");
    db_close(db);
    mf_report *r = scan(f);
    assert_source_ok(r, 0);
    assert_null(r->accounts[0].smtp);
    assert_string_equal(r->accounts[0].smtp_ref, "gone.example.com:alice");
    assert_true(r->accounts[0].flags & MF_FLAG_DANGLING);
    assert_true(r->servers[0].flags & MF_FLAG_UNUSED);
    mf_report_free(r);
}

static plist_t mail_dataclass(const char *host, uint64_t port, bool ssl)
{
    plist_t mail = plist_new_dict();
    plist_dict_set_item(mail, "smtpHostname", plist_new_string(host));
    plist_dict_set_item(mail, "smtpPort", plist_new_uint(port));
    plist_dict_set_item(mail, "smtpRequiresSSL", plist_new_bool(ssl));
    plist_dict_set_item(mail, "imapHostname", plist_new_string("p01-imap.mail.me.com"));
    plist_dict_set_item(mail, "password", plist_new_string(SECRET_3));
    plist_t all = plist_new_dict();
    plist_dict_set_item(all, "com.apple.Dataclass.Mail", mail);
    plist_t cal = plist_new_dict();
    plist_dict_set_item(cal, "token", plist_new_string(SECRET_3));
    plist_dict_set_item(all, "com.apple.Dataclass.Calendars", cal);
    return all;
}

static void test_icloud_from_parent(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    long long apple = row(db, T_APPLE, 0, "APPLE-1", "alice@icloud.com", "iCloud");
    set_dataclasses(db, apple, mail_dataclass("smtp.mail.me.com", 587, true));
    add_secrets(db, apple);
    long long mail = row(db, T_IMAPMAIL, apple, "ICLOUD-MAIL", "alice", NULL);
    prop_str(db, mail, "SendingAccountIdentifier", UUID_SMTP1);
    prop_str(db, mail, "IdentityEmailAddress", "alice@icloud.com");
    long long s = row(db, T_SMTP, apple, UUID_SMTP1, "alice", "iCloud SMTP");
    prop_bool(db, s, "ShouldUseAuthentication", true); /* no Hostname stored */
    db_close(db);

    mf_report *r = scan(f);
    assert_source_ok(r, 0);
    assert_int_equal(r->nservers, 1);
    assert_int_equal(r->naccounts, 1); /* the Apple account is not a second account */
    const mf_server *sv = &r->servers[0];
    assert_string_equal(sv->hostname, "smtp.mail.me.com");
    assert_int_equal(sv->port, 587);
    assert_int_equal(sv->security, MF_SEC_STARTTLS);
    assert_non_null(strstr(sv->description, "parent Apple account"));
    assert_false(sv->flags & MF_FLAG_PROVIDER_MANAGED);
    const mf_account *a = &r->accounts[0];
    assert_string_equal(a->type, "icloud");
    assert_string_equal(a->description, "iCloud"); /* the parent's */
    assert_string_equal(a->smtp, sv->id);
    assert_int_equal(a->emails.n, 1);
    assert_string_equal(a->emails.v[0], "alice@icloud.com");
    assert_no_secrets(r);
    mf_report_free(r);
}

static void test_icloud_provider_managed(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    long long apple = row(db, T_APPLE, 0, "APPLE-1", "alice@icloud.com", "iCloud");
    long long mail = row(db, T_IMAPMAIL, apple, "ICLOUD-MAIL", "alice@icloud.com", "iCloud");
    prop_str(db, mail, "SendingAccountIdentifier", UUID_SMTP1);
    row(db, T_SMTP, apple, UUID_SMTP1, "alice@icloud.com", "iCloud SMTP");
    db_close(db);

    mf_report *r = scan(f);
    assert_source_ok(r, 0);
    assert_int_equal(r->nservers, 1);
    assert_int_equal(r->naccounts, 1);
    const mf_server *sv = &r->servers[0];
    assert_null(sv->hostname);
    assert_string_equal(sv->provider, "icloud");
    assert_true(sv->flags & MF_FLAG_PROVIDER_MANAGED);
    assert_false(sv->flags & MF_FLAG_NO_HOSTNAME);
    assert_int_equal(sv->port, 0);
    assert_int_equal(sv->security, MF_SEC_UNKNOWN);
    assert_false(sv->flags & MF_FLAG_PLAINTEXT);
    assert_int_equal(sv->auth, MF_AUTH_APPLE_TOKEN);
    assert_string_equal(r->accounts[0].smtp, sv->id);
    assert_string_equal(r->accounts[0].type, "icloud");
    assert_string_equal(r->accounts[0].emails.v[0], "alice@icloud.com");
    mf_report_free(r);
}

static void test_provider_accounts(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    row(db, T_GOOGLE, 0, "GOOGLE-1", "alice@gmail.com", "Google");
    row(db, T_EXCHANGE, 0, "EXCH-1", "alice@corp.example", "Exchange");
    /* Yahoo with an IMAP child: the child is the mail account, of type yahoo. */
    long long y = row(db, T_YAHOO, 0, "YAHOO-1", "alice@yahoo.com", "Yahoo!");
    row(db, T_IMAP, y, "YAHOO-IMAP", "alice@yahoo.com", NULL);
    /* Outlook.com with a stored SMTP row that has no host. */
    long long h = row(db, T_HOTMAIL, 0, "HOTMAIL-1", "alice@outlook.com", "Outlook");
    prop_str(db, h, "SendingAccountIdentifier", UUID_SMTP1);
    row(db, T_SMTP, 0, UUID_SMTP1, "alice@outlook.com", "Outlook SMTP");
    /* A Google account whose SMTP row does store a host: used as stored. */
    long long g2 = row(db, T_GOOGLE, 0, "GOOGLE-2", "bob@gmail.com", "Google 2");
    prop_str(db, g2, "SendingAccountIdentifier", UUID_SMTP2);
    long long s2 = row(db, T_SMTP, 0, UUID_SMTP2, "bob@gmail.com", "Gmail SMTP");
    prop_str(db, s2, "Hostname", "smtp.gmail.com");
    prop_str(db, s2, "AuthenticationScheme", "XOAUTH2");
    prop_bool(db, s2, "SSLEnabled", true);
    db_close(db);

    mf_report *r = scan(f);
    assert_source_ok(r, 0);
    assert_int_equal(r->naccounts, 5);
    assert_int_equal(r->nservers, 5);

    const mf_account *a = account_desc(r, "Google");
    assert_string_equal(a->type, "google");
    assert_null(a->smtp_ref);
    const mf_server *s = linked(r, a);
    assert_null(s->hostname);
    assert_string_equal(s->provider, "google");
    assert_int_equal(s->auth, MF_AUTH_OAUTH2);
    assert_true(s->flags & MF_FLAG_PROVIDER_MANAGED);
    assert_false(s->flags & MF_FLAG_UNUSED);
    assert_string_equal(a->emails.v[0], "alice@gmail.com");

    a = account_desc(r, "Exchange");
    assert_string_equal(a->type, "exchange");
    s = linked(r, a);
    assert_null(s->hostname);
    assert_string_equal(s->provider, "exchange");
    assert_non_null(strstr(s->description, "EWS"));
    assert_true(s->flags & MF_FLAG_PROVIDER_MANAGED);

    a = account_desc(r, "Yahoo!"); /* the child, described by its parent */
    assert_string_equal(a->type, "yahoo");
    s = linked(r, a);
    assert_string_equal(s->provider, "yahoo");
    assert_int_equal(s->auth, MF_AUTH_OAUTH2);

    a = account_desc(r, "Outlook");
    assert_string_equal(a->type, "microsoft");
    s = linked(r, a);
    assert_string_equal(s->identifier, UUID_SMTP1);
    assert_null(s->hostname);
    assert_string_equal(s->provider, "microsoft");
    assert_true(s->flags & MF_FLAG_PROVIDER_MANAGED);
    assert_int_equal(s->auth, MF_AUTH_OAUTH2);

    a = account_desc(r, "Google 2");
    s = linked(r, a);
    assert_string_equal(s->hostname, "smtp.gmail.com");
    assert_null(s->provider);
    assert_int_equal(s->auth, MF_AUTH_OAUTH2);
    assert_false(s->flags & MF_FLAG_PROVIDER_MANAGED);
    mf_report_free(r);
}

static void test_tolerant_values(void **state)
{
    fx *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    /* Columns in another order, extra columns, the parent key stored as text. */
    exec_ok(db, "CREATE TABLE ZACCOUNTTYPE (ZACCOUNTTYPEDESCRIPTION VARCHAR, Z_OPT INTEGER,"
                " ZIDENTIFIER VARCHAR, Z_PK INTEGER PRIMARY KEY);"
                "CREATE TABLE ZACCOUNT (ZUSERNAME VARCHAR, ZIDENTIFIER VARCHAR, ZNEWCOLUMN BLOB,"
                " ZPARENTACCOUNT, Z_PK INTEGER PRIMARY KEY, ZACCOUNTTYPE INTEGER);"
                "CREATE TABLE ZACCOUNTPROPERTY (ZVALUE BLOB, ZKEY VARCHAR, Z_PK INTEGER"
                " PRIMARY KEY, ZOWNER INTEGER);"
                "INSERT INTO ZACCOUNTTYPE (Z_PK, ZIDENTIFIER) VALUES"
                " (7, 'com.apple.account.SMTP'), (8, 'com.apple.account.IMAP');"
                "INSERT INTO ZACCOUNT (Z_PK, ZACCOUNTTYPE, ZIDENTIFIER, ZUSERNAME) VALUES"
                " (1, 8, 'IMAP-1', 'not-an-address');"
                "INSERT INTO ZACCOUNT (Z_PK, ZACCOUNTTYPE, ZIDENTIFIER, ZUSERNAME,"
                " ZPARENTACCOUNT) VALUES (2, 7, 'SMTP-1', 'u', '1');"
                "INSERT INTO ZACCOUNT (Z_PK, ZACCOUNTTYPE, ZIDENTIFIER) VALUES"
                " (3, 7, 'SMTP-2'), (4, 7, 'SMTP-3');");
    /* Plain UTF-8 text in a BLOB, a plain (not archived) binary plist, a TEXT column, an
     * SQL integer, an undecodable blob. */
    prop_raw(db, 2, "Hostname", "plain.example.com", 17, false);
    plist_t n = plist_new_uint(2587);
    char *bin = NULL;
    uint32_t bn = 0;
    plist_to_bin(n, &bin, &bn);
    plist_free(n);
    prop_raw(db, 2, "PortNumber", bin, bn, false);
    free(bin);
    prop_raw(db, 3, "Hostname", "text.example.com", 16, true);
    exec_ok(db, "INSERT INTO ZACCOUNTPROPERTY (ZOWNER, ZKEY, ZVALUE) VALUES"
                " (3, 'PortNumber', 26), (999, 'Hostname', 'orphan.example.com')");
    prop_raw(db, 4, "Hostname", "\x00\xff\xfe garbage", 11, false);
    /* A 3001-byte host name, mostly two-byte characters: cut at a character boundary. */
    exec_ok(db, "INSERT INTO ZACCOUNT (Z_PK, ZACCOUNTTYPE, ZIDENTIFIER) VALUES (5, 7, 'LONG')");
    char longname[3002];
    longname[0] = 'x';
    for (int k = 1; k < 3000; k += 2) {
        longname[k] = (char)0xC3;
        longname[k + 1] = (char)0xA9;
    }
    longname[3001] = '\0';
    prop_str(db, 5, "Hostname", longname);
    db_close(db);

    mf_report *r = scan(f);
    assert_source_ok(r, 0);
    assert_int_equal(r->nservers, 4);
    const mf_server *s = server_ident(r, "SMTP-1");
    assert_string_equal(s->hostname, "plain.example.com");
    assert_int_equal(s->port, 2587);
    assert_string_equal(r->accounts[0].smtp, s->id); /* linked through its parent */
    assert_int_equal(r->accounts[0].emails.n, 0);    /* user name is no address */
    s = server_ident(r, "SMTP-2");
    assert_string_equal(s->hostname, "text.example.com");
    assert_int_equal(s->port, 26);
    /* Undecodable host name: no host, and not mistaken for provider-managed. */
    s = server_ident(r, "SMTP-3");
    assert_null(s->hostname);
    assert_null(s->provider);
    assert_true(s->flags & MF_FLAG_NO_HOSTNAME);
    assert_false(s->flags & MF_FLAG_PROVIDER_MANAGED);
    s = server_ident(r, "LONG");
    assert_non_null(s->hostname);
    assert_int_equal(strlen(s->hostname), 1023); /* not 1024: that would split a character */
    mf_report_free(r);
}

/* Copy a file byte for byte (test helper; the files are small). */
static void copy_plain(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY);
    assert_true(in >= 0);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(out >= 0);
    char buf[8192];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

static bool file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(buf + i, needle, k) == 0)
            return true;
    return false;
}

static void fill_wal_db(sqlite3 *db)
{
    long long s = row(db, T_SMTP, 0, UUID_SMTP1, "alice", "wal smtp");
    prop_str(db, s, "Hostname", "wal-only.example.com");
    prop_int(db, s, "PortNumber", 587);
    long long i = row(db, T_IMAP, 0, "I1", "alice@example.com", "wal imap");
    prop_str(db, i, "SendingAccountIdentifier", UUID_SMTP1);
    add_secrets(db, i);
}

static void test_wal_rows_only_in_wal(void **state)
{
    fx *f = *state;
    /* Write the database elsewhere and copy the trio while the writer is still open,
     * so the copy's rows exist only in its -wal (as on a Mac where Accounts is
     * running); then close the writer, which only checkpoints the original. */
    char src[400], srcwal[420], srcshm[420], dst[420];
    snprintf(src, sizeof(src), "%s/writer.sqlite", f->root);
    sqlite3 *db = db_new(src, true);
    fill_wal_db(db);
    snprintf(srcwal, sizeof(srcwal), "%s-wal", src);
    snprintf(srcshm, sizeof(srcshm), "%s-shm", src);
    copy_plain(src, f->db);
    snprintf(dst, sizeof(dst), "%s-wal", f->db);
    copy_plain(srcwal, dst);
    snprintf(dst, sizeof(dst), "%s-shm", f->db);
    copy_plain(srcshm, dst);
    db_close(db);

    snprintf(dst, sizeof(dst), "%s-wal", f->db);
    assert_false(file_contains(f->db, "wal-only.example.com"));
    assert_true(file_contains(dst, "wal-only.example.com"));

    mf_report *r = scan(f); /* also checks that nothing in the folder changed */
    assert_source_ok(r, 0);
    assert_int_equal(r->nservers, 1);
    assert_string_equal(r->servers[0].hostname, "wal-only.example.com");
    assert_int_equal(r->naccounts, 1);
    assert_string_equal(r->accounts[0].smtp, r->servers[0].id);
    assert_no_secrets(r);
    mf_report_free(r);
    /* Still only in the -wal: nothing was checkpointed into the original. */
    assert_false(file_contains(f->db, "wal-only.example.com"));
}

static void test_wal_live_writer(void **state)
{
    fx *f = *state;
    /* The writer keeps the database open (and its -wal and -shm) while we scan. */
    sqlite3 *db = db_new(f->db, true);
    fill_wal_db(db);
    assert_false(file_contains(f->db, "wal-only.example.com"));
    mf_report *r = scan(f);
    assert_source_ok(r, 0);
    assert_int_equal(r->nservers, 1);
    assert_string_equal(r->servers[0].hostname, "wal-only.example.com");
    mf_report_free(r);
    db_close(db);
}

static void test_corrupt_not_a_database(void **state)
{
    fx *f = *state;
    FILE *fp = fopen(f->db, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 4096; i++)
        fputc((i * 7919) & 0xff, fp);
    fclose(fp);
    mf_report *r = scan(f);
    assert_source_failed(r, MF_SRC_MALFORMED, "not a database");
    mf_report_free(r);
}

static void test_corrupt_page(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    for (int i = 0; i < 50; i++) {
        long long s = row(db, T_SMTP, 0, NULL, "u", "filler");
        prop_str(db, s, "Hostname", "filler.example.com");
    }
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT rootpage FROM sqlite_master WHERE"
                                        " name = 'ZACCOUNT'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int page = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    db_close(db);
    int fd = open(f->db, O_WRONLY);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0xA5, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)(page - 1) * 4096), 4096);
    close(fd);
    mf_report *r = scan(f);
    assert_source_failed(r, MF_SRC_MALFORMED, "malformed");
    mf_report_free(r);
}

static void test_locked(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    long long s = row(db, T_SMTP, 0, UUID_SMTP1, "alice", "locked");
    prop_str(db, s, "Hostname", "smtp.example.com");
    db_close(db);

    int ready[2], done[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Another process holding SQLite's exclusive lock mid-transaction. */
        sqlite3 *c = NULL;
        char x = 'x';
        if (sqlite3_open(f->db, &c) != SQLITE_OK ||
            sqlite3_exec(c, "BEGIN EXCLUSIVE; UPDATE ZACCOUNT SET ZUSERNAME = 'changed';", NULL,
                         NULL, NULL) != SQLITE_OK)
            _exit(1);
        if (write(ready[1], &x, 1) != 1 || read(done[0], &x, 1) < 0)
            _exit(2);
        _exit(0);
    }
    char x;
    assert_int_equal(read(ready[0], &x, 1), 1);
    mf_report *r = scan(f);
    assert_int_equal(write(done[1], "x", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]);
    close(ready[1]);
    close(done[0]);
    close(done[1]);
    assert_source_failed(r, MF_SRC_UNREADABLE, "locked");
    mf_report_free(r);

    /* Once the lock is gone (the transaction rolled back), the file reads normally. */
    r = scan(f);
    assert_source_ok(r, 0);
    assert_string_equal(r->servers[0].username, "alice");
    mf_report_free(r);
}

static void test_folder_instead_of_file(void **state)
{
    fx *f = *state;
    assert_int_equal(mkdir(f->db, 0700), 0);
    mf_report *r = scan(f);
    assert_source_failed(r, MF_SRC_UNREADABLE, "directory");
    mf_report_free(r);
}

static void test_wal_is_a_folder(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    db_close(db);
    char wal[420];
    snprintf(wal, sizeof(wal), "%s-wal", f->db);
    assert_int_equal(mkdir(wal, 0700), 0);
    mf_report *r = scan(f);
    assert_source_failed(r, MF_SRC_UNREADABLE, "its -wal file: is a directory");
    mf_report_free(r);
}

static void test_too_large(void **state)
{
    fx *f = *state;
    sqlite3 *db = db_new(f->db, false);
    for (int i = 0; i < 20; i++)
        row(db, T_SMTP, 0, NULL, "u", "filler");
    db_close(db);
    mf_report *r = scan_cap(f, 1024);
    assert_source_failed(r, MF_SRC_TOO_LARGE, "limit");
    mf_report_free(r);
}

static void test_missing_table(void **state)
{
    fx *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    exec_ok(db, "CREATE TABLE ZACCOUNTTYPE (Z_PK INTEGER PRIMARY KEY, ZIDENTIFIER VARCHAR);"
                "CREATE TABLE ZACCOUNT (Z_PK INTEGER PRIMARY KEY, ZACCOUNTTYPE INTEGER);");
    db_close(db);
    mf_report *r = scan(f);
    assert_source_failed(r, MF_SRC_MALFORMED, "no table ZACCOUNTPROPERTY");
    mf_report_free(r);

    unlink(f->db);
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    exec_ok(db, "CREATE TABLE ZACCOUNTTYPE (Z_PK INTEGER PRIMARY KEY, ZIDENTIFIER VARCHAR);"
                "CREATE TABLE ZACCOUNT (Z_PK INTEGER PRIMARY KEY, ZTYPE INTEGER);"
                "CREATE TABLE ZACCOUNTPROPERTY (ZOWNER, ZKEY, ZVALUE);");
    db_close(db);
    r = scan(f);
    assert_source_failed(r, MF_SRC_MALFORMED, "no column ZACCOUNTTYPE");
    mf_report_free(r);
}

static void test_view_is_refused(void **state)
{
    fx *f = *state;
    /* A hostile file: ZACCOUNT is a view that would compute forever. Views are off. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    exec_ok(db, "CREATE TABLE ZACCOUNTTYPE (Z_PK INTEGER PRIMARY KEY, ZIDENTIFIER VARCHAR);"
                "CREATE TABLE ZACCOUNTPROPERTY (ZOWNER, ZKEY, ZVALUE);"
                "CREATE VIEW ZACCOUNT AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL"
                " SELECT x + 1 FROM c) SELECT x AS Z_PK, 1 AS ZACCOUNTTYPE FROM c;");
    db_close(db);
    mf_report *r = scan(f);
    assert_source_failed(r, MF_SRC_MALFORMED, "reading ZACCOUNT");
    mf_report_free(r);
}

static void test_accounts3_and_4(void **state)
{
    fx *f = *state;
    char db3[420];
    snprintf(db3, sizeof(db3), "%s/Accounts3.sqlite", f->accdir);
    sqlite3 *db = db_new(db3, false);
    long long s = row(db, T_SMTP, 0, "OLD", "u", "from Accounts3");
    prop_str(db, s, "Hostname", "old.example.com");
    db_close(db);
    db = db_new(f->db, false);
    s = row(db, T_SMTP, 0, "NEW", "u", "from Accounts4");
    prop_str(db, s, "Hostname", "new.example.com");
    db_close(db);
    mf_report *r = scan(f);
    assert_int_equal(r->nsources, 2);
    assert_source_ok(r, 0);
    assert_source_ok(r, 1);
    assert_string_equal(r->sources[0].path, f->db);
    assert_string_equal(r->sources[1].path, db3);
    assert_int_equal(server_ident(r, "NEW")->source, 0);
    assert_int_equal(server_ident(r, "OLD")->source, 1);
    mf_report_free(r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nothing_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic_imap_smtp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_and_security, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_linking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dangling_with_single_smtp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_icloud_from_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_icloud_provider_managed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tolerant_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_rows_only_in_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_live_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_not_a_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder_instead_of_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_is_a_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accounts3_and_4, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
