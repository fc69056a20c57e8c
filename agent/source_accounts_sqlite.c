/* source_accounts_sqlite.c: Apple Mail's outgoing servers and accounts from the macOS
 * Accounts store, ~/Library/Accounts/Accounts4.sqlite (10.13 on) and Accounts3.sqlite
 * (10.11-10.12). docs/sources.md, section "Apple Mail (Accounts4.sqlite)", has the
 * mapping of every raw value; this comment explains the shape of the code.
 *
 * The store is a live Core Data database in WAL mode: the newest rows may exist only in
 * the -wal file, and Accounts may hold locks on it while we look. We must not write to
 * it or next to it, yet SQLite needs a writable -shm to read a WAL database. So:
 *
 *   1. check the original without opening it in SQLite: a regular file, under the size
 *      cap, and no other process holding a write lock on SQLite's lock bytes (F_GETLK
 *      only tests, it takes no lock). A locked database is reported "unreadable";
 *   2. copy the .sqlite and its -wal (and a hot -journal, if any) into a private mkdtemp
 *      folder, checking that the originals did not change while we copied (else retry);
 *      the -shm is not copied: SQLite rebuilds it from the -wal, and a -shm taken from a
 *      live database could not be trusted anyway;
 *   3. open the copy (SQLite replays the -wal there), hardened against a hostile file:
 *      no views, no triggers, defensive mode, no busy wait, and a step budget so a
 *      damaged file cannot keep us busy; find tables and columns by name;
 *   4. read everything into memory, and only then add servers and accounts to the
 *      report, so a file that fails half-way adds nothing but its failed source record;
 *   5. delete the copy.
 *
 * Property values (ZVALUE) are decoded with nskeyed.h, and only the keys this file needs
 * are decoded at all: password and token properties are never read into memory.
 */
#include "fileio.h"
#include "log.h"
#include "nskeyed.h"
#include "source.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds on what we keep from one database (a real one has a few dozen accounts). */
#define MAX_ACCOUNT_ROWS 5000u
#define MAX_TYPE_ROWS    10000u
#define MAX_EMAILS       64u
#define MAX_TEXT         1024u /* longest string copied into the report */
#define COPY_ATTEMPTS    3
/* Progress handler: called every STEP_CHUNK virtual-machine steps; give up after
 * STEP_LIMIT calls (10^8 steps, far beyond what a real store needs). */
#define STEP_CHUNK 1000
#define STEP_LIMIT 100000L

/* SQLite's lock bytes (os_unix.c; the same on every unix build). */
#define SQLITE_PENDING_BYTE 0x40000000L
#define SQLITE_SHARED_FIRST (SQLITE_PENDING_BYTE + 2)
#define SQLITE_SHARED_SIZE  510

/* ------------------------------------------------------------------------------------ */
/* Account kinds, from ZACCOUNTTYPE.ZIDENTIFIER */

typedef enum kind {
    K_OTHER = 0, /* calendars, contacts, ...: ignored */
    K_SMTP,
    K_IMAP,
    K_POP,
    K_IMAPMAIL, /* iCloud mail, child of the Apple account */
    K_APPLE,    /* the Apple account (iCloud parent) */
    K_GOOGLE,
    K_YAHOO,
    K_HOTMAIL,
    K_EXCHANGE,
} kind;

static const struct {
    const char *identifier;
    kind k;
} kind_table[] = {
    {"com.apple.account.SMTP", K_SMTP},
    {"com.apple.account.IMAP", K_IMAP},
    {"com.apple.account.POP", K_POP},
    {"com.apple.account.IMAPMail", K_IMAPMAIL},
    {"com.apple.account.AppleAccount", K_APPLE},
    {"com.apple.account.Google", K_GOOGLE},
    {"com.apple.account.Yahoo", K_YAHOO},
    {"com.apple.account.Hotmail", K_HOTMAIL},
    {"com.apple.account.Exchange", K_EXCHANGE},
};

static kind kind_for(const char *identifier)
{
    for (size_t i = 0; identifier && i < MF_ARRAY_LEN(kind_table); i++)
        if (mf_strcaseeq(identifier, kind_table[i].identifier))
            return kind_table[i].k;
    return K_OTHER;
}

/* The provider that manages a kind's outgoing server, or NULL. */
static const char *kind_provider(kind k)
{
    switch (k) {
    case K_IMAPMAIL:
    case K_APPLE:
        return "icloud";
    case K_GOOGLE:
        return "google";
    case K_YAHOO:
        return "yahoo";
    case K_HOTMAIL:
        return "microsoft";
    case K_EXCHANGE:
        return "exchange";
    default:
        return NULL;
    }
}

static bool kind_is_mail_child(kind k)
{
    return k == K_IMAP || k == K_POP || k == K_IMAPMAIL;
}

/* ------------------------------------------------------------------------------------ */
/* Property keys we decode (any other ZKEY is skipped without decoding its value). */

typedef enum pkey {
    P_HOSTNAME,
    P_PORT,
    P_SSL,
    P_SSL_DIRECT,
    P_SHOULD_AUTH,
    P_AUTH_SCHEME,
    P_SENDING_ID,
    P_SMTP_ID,
    P_EMAIL_ADDRESSES,
    P_EMAIL_ADDRESS,
    P_IDENTITY_EMAIL,
    P_USERNAME,
    P__COUNT
} pkey;

static const char *const pkey_names[P__COUNT] = {
    "Hostname",
    "PortNumber",
    "SSLEnabled",
    "SSLIsDirect",
    "ShouldUseAuthentication",
    "AuthenticationScheme",
    "SendingAccountIdentifier",
    "SMTPIdentifier",
    "EmailAddresses",
    "EmailAddress",
    "IdentityEmailAddress",
    "Username",
};

static int pkey_for(const char *key)
{
    for (int i = 0; key && i < P__COUNT; i++)
        if (strcmp(key, pkey_names[i]) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------------------------ */
/* What we read from the database */

typedef struct type_row {
    long long pk;
    char *identifier;
} type_row;

typedef struct acct_row {
    long long pk;
    bool has_type, has_parent;
    long long type_pk, parent_pk;
    char *identifier;  /* ZIDENTIFIER */
    char *username;    /* ZUSERNAME */
    char *description; /* ZACCOUNTDESCRIPTION */
    kind k;
    int parent;            /* index of the parent row, -1 */
    plist_t val[P__COUNT]; /* decoded properties we use; NULL = absent */
    unsigned bad;          /* bit per pkey: stored but undecodable */
    plist_t mail_dc;       /* Apple account: its com.apple.Dataclass.Mail dictionary */
    /* results */
    bool is_account;
    int link;             /* index of the linked SMTP row, -1 */
    const char *link_ref; /* the stored reference (borrowed from val[]), NULL */
    char *server_id;      /* SMTP rows: id of the server added for it */
} acct_row;

typedef struct ctx {
    mf_report *r;
    int src;
    const char *path; /* the original database, for messages */
    sqlite3 *db;
    long steps;
    type_row *types;
    size_t ntypes, captypes;
    acct_row *rows;
    size_t nrows, caprows;
} ctx;

static void ctx_free(ctx *c)
{
    for (size_t i = 0; i < c->ntypes; i++)
        free(c->types[i].identifier);
    free(c->types);
    for (size_t i = 0; i < c->nrows; i++) {
        acct_row *a = &c->rows[i];
        free(a->identifier);
        free(a->username);
        free(a->description);
        free(a->server_id);
        for (int k = 0; k < P__COUNT; k++)
            plist_free(a->val[k]);
        plist_free(a->mail_dc);
    }
    free(c->rows);
}

/* ------------------------------------------------------------------------------------ */
/* Plain values from decoded nodes, tolerant of the ways Apple writes them */

static const char *node_str(plist_t n)
{
    return n && plist_get_node_type(n) == PLIST_STRING ? plist_get_string_ptr(n, NULL) : NULL;
}

/* A string value with surrounding white space ignored; NULL when absent or empty. */
static char *node_trimmed(plist_t n)
{
    const char *s = node_str(n);
    if (!s)
        return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t len = strlen(s);
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    return len ? mf_strndup(s, len) : NULL;
}

/* An integer from an integer, an integral real, or a decimal string (" 587 "). */
static bool node_int(plist_t n, long long *out)
{
    if (!n)
        return false;
    switch (plist_get_node_type(n)) {
    case PLIST_UINT: {
        uint64_t v = 0;
        plist_get_uint_val(n, &v);
        if (v > (uint64_t)LLONG_MAX)
            return false;
        *out = (long long)v;
        return true;
    }
    case PLIST_REAL: {
        double d = 0;
        plist_get_real_val(n, &d);
        if (!(d >= -1e15 && d <= 1e15) || d != (double)(long long)d)
            return false;
        *out = (long long)d;
        return true;
    }
    case PLIST_STRING: {
        char *t = node_trimmed(n);
        long long v;
        bool ok = t && mf_parse_long(t, LLONG_MIN, LLONG_MAX, &v) == MF_OK;
        free(t);
        if (ok)
            *out = v;
        return ok;
    }
    default:
        return false;
    }
}

/* A boolean from a boolean, 0/1, or YES/NO/true/false/1/0 in any case. */
static bool node_bool(plist_t n, bool *out)
{
    if (!n)
        return false;
    plist_type t = plist_get_node_type(n);
    if (t == PLIST_BOOLEAN) {
        uint8_t b = 0;
        plist_get_bool_val(n, &b);
        *out = b != 0;
        return true;
    }
    long long v;
    if (t != PLIST_STRING) {
        if (node_int(n, &v) && (v == 0 || v == 1)) {
            *out = v == 1;
            return true;
        }
        return false;
    }
    char *s = node_trimmed(n);
    bool ok = true;
    if (s && (mf_strcaseeq(s, "YES") || mf_strcaseeq(s, "true") || strcmp(s, "1") == 0))
        *out = true;
    else if (s && (mf_strcaseeq(s, "NO") || mf_strcaseeq(s, "false") || strcmp(s, "0") == 0))
        *out = false;
    else
        ok = false;
    free(s);
    return ok;
}

/* Tri-state reading of a boolean property. */
typedef enum tri { T_ABSENT, T_FALSE, T_TRUE, T_BAD } tri;

static tri row_bool(const acct_row *a, pkey k)
{
    if (a->bad & (1u << k))
        return T_BAD;
    if (!a->val[k])
        return T_ABSENT;
    bool b;
    if (!node_bool(a->val[k], &b))
        return T_BAD;
    return b ? T_TRUE : T_FALSE;
}

static bool looks_like_address(const char *s)
{
    if (mf_str_empty(s) || strlen(s) > 320)
        return false;
    const char *at = strchr(s, '@');
    if (!at || at == s || at[1] == '\0' || strchr(at + 1, '@'))
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ')
            return false;
    return true;
}

/* ------------------------------------------------------------------------------------ */
/* SQLite helpers */

static mf_code db_error(ctx *c, int src, const char *what, mf_error *err)
{
    int code = src & 0xff;
    mf_code rc;
    switch (code) {
    case SQLITE_NOMEM:
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT:
    case SQLITE_ERROR: /* "malformed database schema", "no such table", ... */
        rc = MF_ERR_PARSE;
        break;
    case SQLITE_TOOBIG:
        rc = MF_ERR_TOOBIG;
        break;
    case SQLITE_INTERRUPT:
        return mf_error_set(err, MF_ERR_PARSE,
                            "%s: gave up after %ld million SQLite steps (is the file damaged?)",
                            what, (long)(STEP_LIMIT * STEP_CHUNK / 1000000L));
    default:
        rc = MF_ERR_DB;
        break;
    }
    return mf_error_set(err, rc, "%s: %s", what,
                        c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(src));
}

static int progress_cb(void *arg)
{
    ctx *c = arg;
    return ++c->steps > STEP_LIMIT;
}

/* An integer column, tolerating text ("12") and integral reals. */
static bool col_int(sqlite3_stmt *st, int i, long long *out)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        *out = sqlite3_column_int64(st, i);
        return true;
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(st, i);
        if (!(d >= -1e15 && d <= 1e15) || d != (double)(long long)d)
            return false;
        *out = (long long)d;
        return true;
    }
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_column_text(st, i);
        return s && mf_parse_long(s, LLONG_MIN, LLONG_MAX, out) == MF_OK;
    }
    default:
        return false;
    }
}

/* A text column as a new string; NULL when NULL, empty or not text. *oom on failure. */
static char *col_text(sqlite3_stmt *st, int i, bool *oom)
{
    if (sqlite3_column_type(st, i) != SQLITE_TEXT)
        return NULL;
    const char *s = (const char *)sqlite3_column_text(st, i);
    if (!s) {
        *oom = sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM;
        return NULL;
    }
    if (!*s)
        return NULL;
    char *d = mf_strdup(s);
    if (!d)
        *oom = true;
    return d;
}

/* Which of the wanted columns table has (PRAGMA table_info: names are matched without
 * regard to case, as SQLite does). has[i] is set for wanted[i]. Returns MF_OK even
 * when the table does not exist (then *exists is false). */
static mf_code table_columns(ctx *c, const char *table, const char *const *wanted, size_t n,
                             bool *has, bool *exists, mf_error *err)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "PRAGMA table_info(\"%s\")", table);
    sqlite3_stmt *st = NULL;
    *exists = false;
    for (size_t i = 0; i < n; i++)
        has[i] = false;
    int src = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_error(c, src, "reading the schema", err);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        *exists = true;
        const char *name = (const char *)sqlite3_column_text(st, 1);
        for (size_t i = 0; name && i < n; i++)
            if (mf_strcaseeq(name, wanted[i]))
                has[i] = true;
    }
    mf_code rc = MF_OK;
    if (src != SQLITE_DONE)
        rc = db_error(c, src, "reading the schema", err);
    sqlite3_finalize(st);
    return rc;
}

static mf_code need_columns(const char *table, const char *const *wanted, const bool *has,
                            size_t nrequired, bool exists, mf_error *err)
{
    if (!exists)
        return mf_error_set(err, MF_ERR_PARSE, "no table %s: not an Accounts database", table);
    for (size_t i = 0; i < nrequired; i++)
        if (!has[i])
            return mf_error_set(err, MF_ERR_PARSE, "table %s has no column %s", table, wanted[i]);
    return MF_OK;
}

/* ------------------------------------------------------------------------------------ */
/* Reading the three tables */

static const char *type_name_of(const ctx *c, const acct_row *a)
{
    if (!a->has_type)
        return NULL;
    for (size_t i = 0; i < c->ntypes; i++)
        if (c->types[i].pk == a->type_pk)
            return c->types[i].identifier;
    return NULL;
}

static mf_code read_types(ctx *c, mf_error *err)
{
    static const char *const cols[] = {"Z_PK", "ZIDENTIFIER"};
    bool has[2], exists;
    mf_code rc = table_columns(c, "ZACCOUNTTYPE", cols, 2, has, &exists, err);
    if (rc || (rc = need_columns("ZACCOUNTTYPE", cols, has, 2, exists, err)))
        return rc;
    sqlite3_stmt *st = NULL;
    int src =
        sqlite3_prepare_v2(c->db, "SELECT Z_PK, ZIDENTIFIER FROM ZACCOUNTTYPE", -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_error(c, src, "reading ZACCOUNTTYPE", err);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        long long pk;
        bool oom = false;
        if (!col_int(st, 0, &pk))
            continue;
        char *id = col_text(st, 1, &oom);
        if (oom) {
            rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            break;
        }
        if (!id)
            continue;
        if (c->ntypes >= MAX_TYPE_ROWS) {
            free(id);
            rc = mf_error_set(err, MF_ERR_TOOBIG, "ZACCOUNTTYPE has more than %u rows",
                              MAX_TYPE_ROWS);
            break;
        }
        if (mf_grow((void **)&c->types, &c->captypes, c->ntypes + 1, sizeof(type_row))) {
            free(id);
            rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            break;
        }
        c->types[c->ntypes].pk = pk;
        c->types[c->ntypes].identifier = id;
        c->ntypes++;
    }
    if (rc == MF_OK && src != SQLITE_DONE)
        rc = db_error(c, src, "reading ZACCOUNTTYPE", err);
    sqlite3_finalize(st);
    return rc;
}

/* The Mail entry of an Apple account's ZDATACLASSPROPERTIES (a dictionary keyed by
 * dataclass name) into a->mail_dc. Undecodable or absent: left NULL, with a log line for
 * the former. Only out of memory is an error. */
static mf_code mail_dataclass(ctx *c, acct_row *a, const void *blob, int len)
{
    plist_t all = NULL;
    mf_error e;
    mf_error_clear(&e);
    if (!blob || len <= 0)
        return MF_OK;
    mf_code rc = mf_nskeyed_decode_blob(&all, NULL, blob, (size_t)len, &e);
    if (rc == MF_ERR_NOMEM)
        return rc;
    if (rc != MF_OK) {
        mf_log_warn("%s: account %s: ZDATACLASSPROPERTIES: %s", c->path,
                    a->identifier ? a->identifier : "?", e.text);
        return MF_OK;
    }
    plist_t mail = all && plist_get_node_type(all) == PLIST_DICT
                       ? plist_dict_get_item(all, "com.apple.Dataclass.Mail")
                       : NULL;
    if (mail && plist_get_node_type(mail) == PLIST_DICT) {
        a->mail_dc = plist_copy(mail);
        if (!a->mail_dc)
            rc = MF_ERR_NOMEM;
    }
    plist_free(all);
    return rc;
}

static int cmp_row_pk(const void *x, const void *y)
{
    const acct_row *a = x, *b = y;
    return a->pk < b->pk ? -1 : a->pk > b->pk;
}

static int find_row(const ctx *c, long long pk)
{
    size_t lo = 0, hi = c->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->rows[mid].pk < pk)
            lo = mid + 1;
        else if (c->rows[mid].pk > pk)
            hi = mid;
        else
            return (int)mid;
    }
    return -1;
}

static mf_code read_accounts(ctx *c, mf_error *err)
{
    enum { C_PK, C_TYPE, C_PARENT, C_ID, C_USER, C_DESC, C_DC, C_N };
    static const char *const cols[C_N] = {
        "Z_PK",      "ZACCOUNTTYPE",        "ZPARENTACCOUNT",      "ZIDENTIFIER",
        "ZUSERNAME", "ZACCOUNTDESCRIPTION", "ZDATACLASSPROPERTIES"};
    bool has[C_N], exists;
    mf_code rc = table_columns(c, "ZACCOUNT", cols, C_N, has, &exists, err);
    if (rc || (rc = need_columns("ZACCOUNT", cols, has, 2, exists, err)))
        return rc;
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT Z_PK, ZACCOUNTTYPE, %s, %s, %s, %s, %s FROM ZACCOUNT",
             has[C_PARENT] ? "ZPARENTACCOUNT" : "NULL", has[C_ID] ? "ZIDENTIFIER" : "NULL",
             has[C_USER] ? "ZUSERNAME" : "NULL", has[C_DESC] ? "ZACCOUNTDESCRIPTION" : "NULL",
             has[C_DC] ? "ZDATACLASSPROPERTIES" : "NULL");
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return db_error(c, src, "reading ZACCOUNT", err);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        long long pk;
        if (!col_int(st, C_PK, &pk))
            continue; /* a row without a usable key cannot be linked to anything */
        if (c->nrows >= MAX_ACCOUNT_ROWS) {
            rc = mf_error_set(err, MF_ERR_TOOBIG, "ZACCOUNT has more than %u rows",
                              MAX_ACCOUNT_ROWS);
            break;
        }
        if (mf_grow((void **)&c->rows, &c->caprows, c->nrows + 1, sizeof(acct_row))) {
            rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            break;
        }
        acct_row *a = &c->rows[c->nrows++];
        memset(a, 0, sizeof(*a));
        a->pk = pk;
        a->parent = -1;
        a->link = -1;
        a->has_type = col_int(st, C_TYPE, &a->type_pk);
        a->has_parent = col_int(st, C_PARENT, &a->parent_pk);
        bool oom = false;
        a->identifier = col_text(st, C_ID, &oom);
        a->username = col_text(st, C_USER, &oom);
        a->description = col_text(st, C_DESC, &oom);
        if (oom) {
            rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            break;
        }
        a->k = kind_for(type_name_of(c, a));
        int dct = sqlite3_column_type(st, C_DC);
        if (a->k == K_APPLE && (dct == SQLITE_BLOB || dct == SQLITE_TEXT) &&
            mail_dataclass(c, a, sqlite3_column_blob(st, C_DC), sqlite3_column_bytes(st, C_DC)) !=
                MF_OK) {
            rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            break;
        }
    }
    if (rc == MF_OK && src != SQLITE_DONE)
        rc = db_error(c, src, "reading ZACCOUNT", err);
    sqlite3_finalize(st);
    if (rc)
        return rc;
    if (c->nrows > 1)
        qsort(c->rows, c->nrows, sizeof(acct_row), cmp_row_pk);
    for (size_t i = 0; i < c->nrows; i++) {
        acct_row *a = &c->rows[i];
        if (a->has_parent) {
            int p = find_row(c, a->parent_pk);
            a->parent = p == (int)i ? -1 : p;
        }
    }
    return MF_OK;
}

/* One ZVALUE: a blob or text through the blob decoder, numbers as numbers. */
static mf_code decode_value(sqlite3_stmt *st, int i, plist_t *out, mf_error *err)
{
    *out = NULL;
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return MF_OK;
    case SQLITE_INTEGER: {
        sqlite3_int64 v = sqlite3_column_int64(st, i);
        *out = v >= 0 ? plist_new_uint((uint64_t)v) : plist_new_real((double)v);
        return *out ? MF_OK : mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    case SQLITE_FLOAT:
        *out = plist_new_real(sqlite3_column_double(st, i));
        return *out ? MF_OK : mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    default: {
        const void *p = sqlite3_column_blob(st, i);
        int n = sqlite3_column_bytes(st, i);
        return mf_nskeyed_decode_blob(out, NULL, p, n > 0 ? (size_t)n : 0, err);
    }
    }
}

static mf_code read_properties(ctx *c, mf_error *err)
{
    static const char *const cols[] = {"ZOWNER", "ZKEY", "ZVALUE"};
    bool has[3], exists;
    mf_code rc = table_columns(c, "ZACCOUNTPROPERTY", cols, 3, has, &exists, err);
    if (rc || (rc = need_columns("ZACCOUNTPROPERTY", cols, has, 3, exists, err)))
        return rc;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(c->db, "SELECT ZOWNER, ZKEY, ZVALUE FROM ZACCOUNTPROPERTY", -1,
                                 &st, NULL);
    if (src != SQLITE_OK)
        return db_error(c, src, "reading ZACCOUNTPROPERTY", err);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        long long owner;
        if (sqlite3_column_type(st, 1) != SQLITE_TEXT || !col_int(st, 0, &owner))
            continue;
        int k = pkey_for((const char *)sqlite3_column_text(st, 1));
        int idx = k < 0 ? -1 : find_row(c, owner);
        if (idx < 0)
            continue; /* a key we do not use (passwords, tokens...), or an orphan row */
        acct_row *a = &c->rows[idx];
        plist_t v = NULL;
        mf_error e;
        mf_error_clear(&e);
        mf_code drc = decode_value(st, 2, &v, &e);
        if (drc == MF_ERR_NOMEM) {
            rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            break;
        }
        if (drc != MF_OK) {
            /* Stored but unreadable: remembered, so it is never taken for "absent". */
            mf_log_warn("%s: account %s: property %s: %s", c->path,
                        a->identifier ? a->identifier : "?", pkey_names[k], e.text);
            plist_free(a->val[k]); /* the last row wins, unreadable or not */
            a->val[k] = NULL;
            a->bad |= 1u << k;
            continue;
        }
        plist_free(a->val[k]); /* a repeated key: the last row wins */
        a->val[k] = v;
        a->bad &= ~(1u << k);
    }
    if (rc == MF_OK && src != SQLITE_DONE)
        rc = db_error(c, src, "reading ZACCOUNTPROPERTY", err);
    sqlite3_finalize(st);
    return rc;
}

static mf_code read_db(ctx *c, const char *copy, mf_error *err)
{
    int src = sqlite3_open_v2(copy, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_PRIVATECACHE, NULL);
    if (src != SQLITE_OK)
        return db_error(c, src, "opening the database", err);
    /* The file is untrusted: nothing in it may run code or make us wait. */
    sqlite3_busy_timeout(c->db, 0);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_progress_handler(c->db, STEP_CHUNK, progress_cb, c);
    src = sqlite3_exec(c->db, "PRAGMA query_only=1; PRAGMA temp_store=MEMORY;", NULL, NULL, NULL);
    if (src != SQLITE_OK)
        return db_error(c, src, "opening the database", err);
    mf_code rc;
    if ((rc = read_types(c, err)) || (rc = read_accounts(c, err)) || (rc = read_properties(c, err)))
        return rc;
    return MF_OK;
}

/* ------------------------------------------------------------------------------------ */
/* Linking accounts to SMTP rows */

/* The SMTP row's host name as it will be reported (trimmed, lower-case), or NULL. */
static char *smtp_host(const acct_row *s)
{
    char *t = node_trimmed(s->val[P_HOSTNAME]);
    if (t)
        for (char *p = t; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    return t;
}

static int match_identifier(const ctx *c, const char *ref)
{
    for (size_t i = 0; i < c->nrows; i++)
        if (c->rows[i].k == K_SMTP && c->rows[i].identifier &&
            mf_strcaseeq(c->rows[i].identifier, ref))
            return (int)i;
    return -1;
}

/* "host:user" (user may be empty), or "host" alone: the first SMTP row with that host
 * and user; for a bare host, a row without a user name is preferred. *oom on failure. */
static int match_host_user(const ctx *c, const char *ref, bool *oom)
{
    const char *colon = strchr(ref, ':');
    char *host_raw = colon ? mf_strndup(ref, (size_t)(colon - ref)) : mf_strdup(ref);
    char *host = host_raw ? mf_str_trim_lower(host_raw) : NULL;
    free(host_raw);
    if (!host) {
        *oom = true;
        return -1;
    }
    const char *user = colon ? colon + 1 : NULL;
    int found = -1, any_user = -1;
    for (size_t i = 0; found < 0 && i < c->nrows; i++) {
        const acct_row *s = &c->rows[i];
        if (s->k != K_SMTP)
            continue;
        char *h = smtp_host(s);
        bool same = h && *host && strcmp(h, host) == 0;
        free(h);
        if (!same)
            continue;
        const char *su = s->username ? s->username : "";
        if (user ? mf_strcaseeq(su, user) : *su == '\0')
            found = (int)i;
        else if (!user && any_user < 0)
            any_user = (int)i;
    }
    free(host);
    return found >= 0 ? found : any_user;
}

/* An SMTP row that is this account's child, or shares its parent. */
static int match_parent(const ctx *c, int ai)
{
    const acct_row *a = &c->rows[ai];
    for (size_t i = 0; i < c->nrows; i++) {
        const acct_row *s = &c->rows[i];
        if (s->k != K_SMTP || s->parent < 0)
            continue;
        if (s->parent == ai || (a->parent >= 0 && s->parent == a->parent))
            return (int)i;
    }
    return -1;
}

static mf_code link_account(ctx *c, int ai, mf_error *err)
{
    acct_row *a = &c->rows[ai];
    const char *send = node_str(a->val[P_SENDING_ID]);
    const char *smtpid = node_str(a->val[P_SMTP_ID]);
    if (mf_str_empty(send))
        send = NULL;
    if (mf_str_empty(smtpid))
        smtpid = NULL;
    int s = -1;
    bool oom = false;
    if (send && (s = match_identifier(c, send)) >= 0) {
        a->link_ref = send;
    } else if (smtpid && ((s = match_identifier(c, smtpid)) >= 0 ||
                          (s = match_host_user(c, smtpid, &oom)) >= 0)) {
        a->link_ref = smtpid;
    } else if (!oom && (s = match_parent(c, ai)) >= 0) {
        a->link_ref = NULL; /* linked by structure: nothing was stored */
    } else {
        a->link_ref = send ? send : smtpid; /* dangling when one was stored */
    }
    if (oom)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    a->link = s;
    return MF_OK;
}

/* Which rows are mail accounts: IMAP, POP and iCloud mail rows always; a provider row
 * (Apple account with Mail, Google, Yahoo, Hotmail, Exchange) only when no IMAP/POP/
 * IMAPMail child speaks for it. */
static void choose_accounts(ctx *c)
{
    for (size_t i = 0; i < c->nrows; i++) {
        acct_row *a = &c->rows[i];
        if (kind_is_mail_child(a->k)) {
            a->is_account = true;
            continue;
        }
        if (!kind_provider(a->k) || (a->k == K_APPLE && !a->mail_dc))
            continue;
        bool has_child = false;
        for (size_t j = 0; j < c->nrows && !has_child; j++)
            has_child = c->rows[j].parent == (int)i && kind_is_mail_child(c->rows[j].k);
        a->is_account = !has_child;
    }
}

/* The provider managing an account's outgoing server: its own kind's, or its parent's
 * (an IMAP child of a Google account is a Google account). */
static const char *account_provider(const ctx *c, const acct_row *a)
{
    const char *p = kind_provider(a->k);
    if (!p && a->parent >= 0)
        p = kind_provider(c->rows[a->parent].k);
    return p;
}

static const char *account_type(const ctx *c, const acct_row *a)
{
    const char *p = account_provider(c, a);
    if (p)
        return p; /* icloud, google, yahoo, microsoft, exchange */
    return a->k == K_POP ? "pop" : "imap";
}

/* The Apple account behind a row: the row itself, its parent or its grandparent. */
static const acct_row *apple_of(const ctx *c, const acct_row *a)
{
    for (int hops = 0; a && hops < 3; hops++) {
        if (a->k == K_APPLE)
            return a;
        a = a->parent >= 0 ? &c->rows[a->parent] : NULL;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Building servers and accounts */

static mf_auth auth_for_scheme(const char *scheme)
{
    static const struct {
        const char *name;
        mf_auth auth;
    } map[] = {
        {"PLAIN", MF_AUTH_PASSWORD},
        {"LOGIN", MF_AUTH_PASSWORD},
        {"PASSWORD", MF_AUTH_PASSWORD},
        {"KERBEROS", MF_AUTH_GSSAPI},
        {"KERBEROS_V5", MF_AUTH_GSSAPI},
        {"CRAM-MD5", MF_AUTH_PASSWORD_ENCRYPTED},
        {"DIGEST-MD5", MF_AUTH_PASSWORD_ENCRYPTED},
        {"NTLM", MF_AUTH_NTLM},
        {"GSSAPI", MF_AUTH_GSSAPI},
        {"XOAUTH2", MF_AUTH_OAUTH2},
        {"OAUTHBEARER", MF_AUTH_OAUTH2},
        {"ATOKEN", MF_AUTH_APPLE_TOKEN},
        {"ATOKEN2", MF_AUTH_APPLE_TOKEN},
        {"EXTERNAL", MF_AUTH_CLIENT_CERT},
    };
    if (mf_str_empty(scheme))
        return MF_AUTH_PASSWORD;
    for (size_t i = 0; i < MF_ARRAY_LEN(map); i++)
        if (mf_strcaseeq(scheme, map[i].name))
            return map[i].auth;
    return MF_AUTH_UNKNOWN;
}

static bool is_token_auth(mf_auth a)
{
    return a == MF_AUTH_OAUTH2 || a == MF_AUTH_APPLE_TOKEN;
}

/* What a provider authenticates with when the row says nothing about it. */
static mf_auth provider_auth(const char *provider)
{
    if (mf_streq(provider, "icloud"))
        return MF_AUTH_APPLE_TOKEN;
    if (mf_streq(provider, "google") || mf_streq(provider, "yahoo") ||
        mf_streq(provider, "microsoft"))
        return MF_AUTH_OAUTH2;
    return MF_AUTH_UNKNOWN; /* exchange: EWS, password or OAuth: not stored */
}

/* Authentication of an SMTP row (s may be NULL for a server we add for a provider).
 * The same rules as Accounts.plist (docs/sources.md), plus the provider defaults. */
static mf_auth row_auth(const acct_row *s, const char *provider)
{
    if (!s)
        return provider_auth(provider);
    char *scheme = NULL;
    bool scheme_bad = (s->bad & (1u << P_AUTH_SCHEME)) != 0;
    if (s->val[P_AUTH_SCHEME] && !node_str(s->val[P_AUTH_SCHEME]))
        scheme_bad = true;
    else
        scheme = node_trimmed(s->val[P_AUTH_SCHEME]); /* NULL when absent or blank */
    mf_auth mapped = scheme_bad ? MF_AUTH_UNKNOWN : auth_for_scheme(scheme);
    tri should = row_bool(s, P_SHOULD_AUTH);
    mf_auth res;
    if (is_token_auth(mapped))
        res = mapped; /* OAuth / Apple token: the scheme says it all */
    else if (should == T_BAD)
        res = MF_AUTH_UNKNOWN;
    else if (should == T_FALSE)
        res = MF_AUTH_NONE;
    else if (should == T_ABSENT && provider && !scheme && !scheme_bad)
        res = provider_auth(provider); /* nothing stored: what the provider uses */
    else if (mapped == MF_AUTH_GSSAPI)
        res = mapped; /* Kerberos logs in with a ticket, not the user name */
    else if (mf_str_empty(s->username))
        res = MF_AUTH_NONE; /* Mail ignores the switch without a user name */
    else
        res = mapped; /* on, or absent with a user name (stored only to log in with) */
    free(scheme);
    return res;
}

/* Port and security from a row's PortNumber / SSLEnabled / SSLIsDirect.
 * *port: 0 when no usable port is stored (absent, 0, empty, not a number, out of
 * range: Mail reads those as 0 too and then uses its default ports). */
static void row_port_security(const ctx *c, const acct_row *s, int *port, mf_security *sec,
                              bool *ssl_stored)
{
    long long p;
    *port = 0;
    if (node_int(s->val[P_PORT], &p) && p >= 1 && p <= 65535) {
        *port = (int)p;
    } else if ((s->bad & (1u << P_PORT)) ||
               (s->val[P_PORT] && !(node_int(s->val[P_PORT], &p) && p == 0) &&
                !mf_streq(node_str(s->val[P_PORT]), ""))) {
        mf_log_warn("%s: account %s: PortNumber is not a port: the default applies", c->path,
                    s->identifier ? s->identifier : "?");
    }
    tri ssl = row_bool(s, P_SSL);
    *ssl_stored = ssl != T_ABSENT;
    if (ssl == T_BAD) {
        *sec = MF_SEC_UNKNOWN;
    } else if (ssl != T_TRUE) {
        *sec = MF_SEC_NONE; /* Mail deletes the row when TLS is off: absent = off */
    } else {
        tri direct = row_bool(s, P_SSL_DIRECT);
        if (direct == T_BAD)
            *sec = MF_SEC_UNKNOWN;
        else if (direct == T_ABSENT)
            *sec = *port == 465 ? MF_SEC_TLS : MF_SEC_STARTTLS;
        else
            *sec = direct == T_TRUE ? MF_SEC_TLS : MF_SEC_STARTTLS;
    }
}

/* A copy of s cut to MAX_TEXT bytes at a UTF-8 character boundary (the report need
 * not carry a megabyte "host name" from a hostile file). NULL for NULL; *oom. */
static char *clip(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n > MAX_TEXT) {
        n = MAX_TEXT;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    char *d = mf_strndup(s, n);
    if (!d)
        *oom = true;
    return d;
}

static mf_code set_str(char **dst, const char *src)
{
    if (!src)
        return MF_OK;
    bool oom = false;
    char *d = clip(src, &oom);
    if (oom)
        return MF_ERR_NOMEM;
    free(*dst);
    *dst = d;
    return MF_OK;
}

static mf_code set_hostname(mf_server *sv, const char *raw)
{
    bool oom = false;
    char *h = clip(raw, &oom);
    if (oom)
        return MF_ERR_NOMEM;
    mf_code rc = mf_server_set_hostname(sv, h);
    free(h);
    return rc;
}

/* iCloud: take the host, port and TLS setting from the parent Apple account's Mail
 * dataclass, labelled as such. Returns MF_OK and *used false when nothing is there. */
static mf_code fill_from_parent(mf_server *sv, const acct_row *apple, const char *desc, bool *used)
{
    *used = false;
    plist_t dc = apple ? apple->mail_dc : NULL;
    char *host = dc ? node_trimmed(plist_dict_get_item(dc, "smtpHostname")) : NULL;
    if (!host)
        return MF_OK;
    *used = true;
    mf_code rc = set_hostname(sv, host);
    free(host);
    if (rc)
        return rc;
    long long p;
    int port = 0;
    if (node_int(plist_dict_get_item(dc, "smtpPort"), &p) && p >= 1 && p <= 65535)
        port = (int)p;
    bool req;
    if (!node_bool(plist_dict_get_item(dc, "smtpRequiresSSL"), &req))
        sv->security = MF_SEC_UNKNOWN;
    else if (!req)
        sv->security = MF_SEC_NONE;
    else
        sv->security = port == 465 ? MF_SEC_TLS : MF_SEC_STARTTLS;
    if (port) {
        sv->port = port;
    } else {
        sv->port = mf_default_port(sv->security);
        sv->flags |= MF_FLAG_DEFAULT_PORT;
    }
    char *d = desc ? mf_asprintf("%s (server settings from the parent Apple account)", desc)
                   : mf_strdup("server settings from the parent Apple account");
    if (!d)
        return MF_ERR_NOMEM;
    mf_code rc2 = set_str(&sv->description, d);
    free(d);
    return rc2;
}

/* A server with no stored host for a provider: reported, not invented. */
static mf_code fill_provider_managed(mf_server *sv, const char *provider, const char *desc)
{
    sv->flags |= MF_FLAG_PROVIDER_MANAGED;
    if (set_str(&sv->provider, provider))
        return MF_ERR_NOMEM;
    char *d;
    if (mf_streq(provider, "exchange"))
        d = mf_asprintf("%s%sExchange sends through Exchange Web Services (EWS): no SMTP "
                        "server",
                        desc ? desc : "", desc ? ": " : "");
    else
        d = mf_asprintf("%s%soutgoing server chosen by macOS for %s (not stored)", desc ? desc : "",
                        desc ? ": " : "", provider);
    if (!d)
        return MF_ERR_NOMEM;
    mf_code rc2 = set_str(&sv->description, d);
    free(d);
    return rc2;
}

/* The provider context of an SMTP row: that of the first account linked to it, else
 * that of its parent. *via is the account it came from (NULL for the parent). */
static const char *smtp_provider(const ctx *c, int si, const acct_row **via)
{
    *via = NULL;
    for (size_t i = 0; i < c->nrows; i++) {
        const acct_row *a = &c->rows[i];
        if (a->is_account && a->link == si && account_provider(c, a)) {
            *via = a;
            return account_provider(c, a);
        }
    }
    const acct_row *s = &c->rows[si];
    return s->parent >= 0 ? account_provider(c, &c->rows[s->parent]) : NULL;
}

static mf_code add_smtp_server(ctx *c, int si)
{
    acct_row *s = &c->rows[si];
    mf_server *sv = mf_report_add_server(c->r, c->src);
    if (!sv)
        return MF_ERR_NOMEM;
    const acct_row *via;
    const char *provider = smtp_provider(c, si, &via);
    if (set_str(&sv->identifier, s->identifier) || set_str(&sv->description, s->description))
        return MF_ERR_NOMEM;
    const char *user = s->username;
    char *prop_user = NULL;
    if (mf_str_empty(user)) /* tolerance: some rows may keep it as a property */
        user = prop_user = node_trimmed(s->val[P_USERNAME]);
    mf_code rc = set_str(&sv->username, user);
    free(prop_user);
    if (rc)
        return rc;

    int port;
    bool ssl_stored;
    mf_security sec;
    row_port_security(c, s, &port, &sec, &ssl_stored);
    sv->auth = row_auth(s, provider);

    char *host = node_trimmed(s->val[P_HOSTNAME]);
    const char *raw = node_str(s->val[P_HOSTNAME]);
    if (host) {
        free(host);
        if ((rc = set_hostname(sv, raw)))
            return rc;
    } else if (s->bad & (1u << P_HOSTNAME)) {
        /* Stored but undecodable: say so rather than call it provider-managed. */
        sv->flags |= MF_FLAG_NO_HOSTNAME;
    } else if (provider) {
        bool used = false;
        if (mf_streq(provider, "icloud")) {
            const acct_row *apple = apple_of(c, via);
            if (!apple)
                apple = apple_of(c, s);
            if ((rc = fill_from_parent(sv, apple, s->description, &used)))
                return rc;
        }
        if (used)
            return MF_OK;
        if ((rc = fill_provider_managed(sv, provider, s->description)))
            return rc;
        /* The OS picks the host; only what the row states explicitly is reported. */
        sv->port = port;
        sv->security = ssl_stored ? sec : MF_SEC_UNKNOWN;
        return MF_OK;
    } else {
        sv->flags |= MF_FLAG_NO_HOSTNAME;
    }
    sv->security = sec;
    if (port) {
        sv->port = port;
    } else {
        sv->port = mf_default_port(sec);
        sv->flags |= MF_FLAG_DEFAULT_PORT;
    }
    return MF_OK;
}

/* A server for a provider account that names none: the OS chooses it. */
static mf_code add_provider_server(ctx *c, const acct_row *a, const char *provider, char **id_out)
{
    *id_out = NULL;
    mf_server *sv = mf_report_add_server(c->r, c->src);
    if (!sv)
        return MF_ERR_NOMEM;
    const char *desc = a->description;
    if (!desc && a->parent >= 0)
        desc = c->rows[a->parent].description;
    sv->auth = row_auth(NULL, provider);
    if (set_str(&sv->username, a->username))
        return MF_ERR_NOMEM;
    bool used = false;
    mf_code rc;
    if (mf_streq(provider, "icloud") && (rc = fill_from_parent(sv, apple_of(c, a), desc, &used)))
        return rc;
    if (!used && (rc = fill_provider_managed(sv, provider, desc)))
        return rc;
    *id_out = mf_strdup(sv->id);
    return *id_out ? MF_OK : MF_ERR_NOMEM;
}

/* Email addresses from a decoded value: a string, an array of strings, or an array of
 * dictionaries with an EmailAddress/address member. */
static mf_code add_emails_from(mf_strv *emails, plist_t v)
{
    if (!v || emails->n >= MAX_EMAILS)
        return MF_OK;
    plist_type t = plist_get_node_type(v);
    if (t == PLIST_STRING) {
        char *s = node_trimmed(v);
        mf_code rc = MF_OK;
        if (s && looks_like_address(s) && !mf_strv_contains(emails, s))
            rc = mf_strv_push(emails, s);
        free(s);
        return rc;
    }
    if (t == PLIST_DICT) {
        plist_t m = plist_dict_get_item(v, "EmailAddress");
        if (!m)
            m = plist_dict_get_item(v, "address");
        return node_str(m) ? add_emails_from(emails, m) : MF_OK;
    }
    if (t != PLIST_ARRAY)
        return MF_OK;
    uint32_t n = plist_array_get_size(v);
    for (uint32_t i = 0; i < n; i++) {
        plist_t item = plist_array_get_item(v, i);
        if (item && plist_get_node_type(item) == PLIST_ARRAY)
            continue; /* no nesting beyond one level */
        mf_code rc = add_emails_from(emails, item);
        if (rc)
            return rc;
    }
    return MF_OK;
}

static mf_code account_emails(const ctx *c, const acct_row *a, mf_strv *emails)
{
    static const pkey keys[] = {P_EMAIL_ADDRESSES, P_EMAIL_ADDRESS, P_IDENTITY_EMAIL};
    mf_code rc;
    for (size_t i = 0; i < MF_ARRAY_LEN(keys); i++)
        if ((rc = add_emails_from(emails, a->val[keys[i]])))
            return rc;
    if (emails->n == 0 && looks_like_address(a->username))
        return mf_strv_push(emails, a->username);
    /* An Apple account's Mail dataclass may list the addresses (tolerance). */
    const acct_row *apple = emails->n == 0 ? apple_of(c, a) : NULL;
    if (apple && apple->mail_dc) {
        static const char *const dkeys[] = {"EmailAddresses", "EmailAddress",
                                            "IdentityEmailAddress"};
        for (size_t i = 0; i < MF_ARRAY_LEN(dkeys); i++)
            if ((rc = add_emails_from(emails, plist_dict_get_item(apple->mail_dc, dkeys[i]))))
                return rc;
    }
    return MF_OK;
}

static mf_code add_account(ctx *c, int ai)
{
    acct_row *a = &c->rows[ai];
    const char *provider = account_provider(c, a);
    char *sid = NULL;
    mf_code rc = MF_OK;
    if (a->link >= 0) {
        sid = mf_strdup(c->rows[a->link].server_id);
        if (!sid)
            return MF_ERR_NOMEM;
    } else if (!a->link_ref && provider) {
        if ((rc = add_provider_server(c, a, provider, &sid)))
            return rc;
    }
    mf_account *ac = mf_report_add_account(c->r, c->src);
    if (!ac) {
        free(sid);
        return MF_ERR_NOMEM;
    }
    ac->smtp = sid;
    const char *desc = a->description;
    if (!desc && a->parent >= 0)
        desc = c->rows[a->parent].description;
    if (set_str(&ac->type, account_type(c, a)) || set_str(&ac->description, desc) ||
        set_str(&ac->smtp_ref, a->link_ref))
        return MF_ERR_NOMEM;
    return account_emails(c, a, &ac->emails);
}

static mf_code build_report(ctx *c, mf_error *err)
{
    mf_code rc;
    choose_accounts(c);
    for (size_t i = 0; i < c->nrows; i++)
        if (c->rows[i].is_account && (rc = link_account(c, (int)i, err)))
            return rc;
    for (size_t i = 0; i < c->nrows; i++) {
        if (c->rows[i].k != K_SMTP)
            continue;
        if ((rc = add_smtp_server(c, (int)i)))
            return rc;
        c->rows[i].server_id = mf_strdup(c->r->servers[c->r->nservers - 1].id);
        if (!c->rows[i].server_id)
            return MF_ERR_NOMEM;
    }
    for (size_t i = 0; i < c->nrows; i++)
        if (c->rows[i].is_account && (rc = add_account(c, (int)i)))
            return rc;
    return MF_OK;
}

/* ------------------------------------------------------------------------------------ */
/* A private copy of the database */

typedef struct file_id {
    bool present;
    dev_t dev;
    ino_t ino;
    off_t size;
    time_t mtime;
    long mtime_ns;
} file_id;

static long mtime_nsec(const struct stat *st)
{
#ifdef __APPLE__
    return st->st_mtimespec.tv_nsec;
#else
    return st->st_mtim.tv_nsec;
#endif
}

static void file_id_set(file_id *f, const struct stat *st)
{
    f->present = true;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->size = st->st_size;
    f->mtime = st->st_mtime;
    f->mtime_ns = mtime_nsec(st);
}

static bool file_id_same(const file_id *a, const file_id *b)
{
    if (a->present != b->present)
        return false;
    return !a->present || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                           a->mtime == b->mtime && a->mtime_ns == b->mtime_ns);
}

static mf_code errno_code(int e)
{
    if (e == ENOENT || e == ENOTDIR)
        return MF_ERR_NOTFOUND;
    if (e == EACCES || e == EPERM)
        return MF_ERR_PERM;
    if (e == ENOMEM)
        return MF_ERR_NOMEM;
    return MF_ERR_IO;
}

/* Is another process holding, or about to take, SQLite's exclusive lock on fd's file?
 * F_GETLK reports a conflicting lock without taking any. *pid is its owner. */
static bool write_locked(int fd, long *pid)
{
    struct flock fl;
    const long ranges[2][2] = {{SQLITE_PENDING_BYTE, 1}, {SQLITE_SHARED_FIRST, SQLITE_SHARED_SIZE}};
    for (int i = 0; i < 2; i++) {
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_RDLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = (off_t)ranges[i][0];
        fl.l_len = (off_t)ranges[i][1];
        if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
            *pid = (long)fl.l_pid;
            return true;
        }
    }
    return false;
}

/* Copy src to dst (created, mode 0600), at most cap bytes. A missing src is fine when
 * optional (id->present false). For the main file (check_lock) a write lock held by
 * another process is MF_ERR_IO "database is locked". */
static mf_code copy_file(const char *src, const char *dst, size_t cap, bool optional,
                         bool check_lock, file_id *id, mf_error *err)
{
    memset(id, 0, sizeof(*id));
    int in = open(src, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) {
        int e = errno;
        if (optional && e == ENOENT)
            return MF_OK;
        return mf_error_set(err, errno_code(e), "%s", strerror(e));
    }
    int out = -1;
    mf_code rc = MF_OK;
    struct stat st;
    rc = mf_fd_check_regular(in, cap, &st, err);
    if (rc != MF_OK)
        goto out;
    long pid;
    if (check_lock && write_locked(in, &pid)) {
        rc = mf_error_set(err, MF_ERR_IO,
                          "database is locked: another process (pid %ld) holds a write lock "
                          "on it; not read, to avoid a half-written state",
                          pid);
        goto out;
    }
    file_id_set(id, &st);
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        rc =
            mf_error_set(err, errno_code(errno), "cannot make a private copy: %s", strerror(errno));
        goto out;
    }
    char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = mf_error_set(err, errno_code(errno), "%s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        total += (size_t)n;
        if (total > cap) {
            rc = mf_error_set(err, MF_ERR_TOOBIG, "file grew past the limit of %zu bytes", cap);
            goto out;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = mf_error_set(err, errno_code(errno), "cannot make a private copy: %s",
                                  strerror(errno));
                goto out;
            }
            off += w;
        }
    }
out:
    if (out >= 0 && close(out) != 0 && rc == MF_OK)
        rc =
            mf_error_set(err, errno_code(errno), "cannot make a private copy: %s", strerror(errno));
    close(in);
    return rc;
}

/* The original's identity now (for the changed-while-copying check). */
static void file_id_now(const char *path, file_id *id)
{
    struct stat st;
    memset(id, 0, sizeof(*id));
    if (stat(path, &st) == 0)
        file_id_set(id, &st);
}

/* Remove everything in our private folder, then the folder. */
static void remove_private_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *p = mf_path_join(dir, e->d_name);
            if (p)
                unlink(p);
            free(p);
        }
        closedir(d);
    }
    if (rmdir(dir) != 0)
        mf_log_warn("cannot remove the temporary folder %s: %s", dir, strerror(errno));
}

static const char *const companions[] = {"-wal", "-journal"};

/* Copy the database and its companions into dir as Accounts.sqlite[-wal|-journal],
 * retrying when the originals change while we copy. */
static mf_code snapshot(const char *path, const char *dir, size_t cap, mf_error *err)
{
    mf_code rc = MF_OK;
    char src[PATH_MAX], dst[PATH_MAX];
    for (int attempt = 1; attempt <= COPY_ATTEMPTS; attempt++) {
        file_id before[3], after[3];
        for (size_t i = 0; i < 3; i++) {
            const char *suffix = i == 0 ? "" : companions[i - 1];
            snprintf(dst, sizeof(dst), "%s/Accounts.sqlite%s", dir, suffix);
            unlink(dst); /* from an earlier attempt */
        }
        /* Companions first: whatever a checkpoint moves from the -wal into the main
         * file after we copied the -wal is then in our copy of the main file too. */
        for (size_t i = 3; i-- > 0;) {
            const char *suffix = i == 0 ? "" : companions[i - 1];
            if ((size_t)snprintf(src, sizeof(src), "%s%s", path, suffix) >= sizeof(src))
                return mf_error_set(err, MF_ERR_IO, "path too long");
            snprintf(dst, sizeof(dst), "%s/Accounts.sqlite%s", dir, suffix);
            if ((rc = copy_file(src, dst, cap, i != 0, i == 0, &before[i], err))) {
                if (i != 0 && err) { /* say which file it was */
                    char text[MF_ERROR_TEXT_MAX];
                    mf_strlcpy(text, err->text, sizeof(text));
                    mf_error_set(err, rc, "its %s file: %s", suffix, text);
                }
                return rc;
            }
        }
        /* Still unlocked, and nothing changed while we copied? */
        int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        long pid = 0;
        bool locked = fd >= 0 && write_locked(fd, &pid);
        if (fd >= 0)
            close(fd);
        bool same = !locked;
        for (size_t i = 0; same && i < 3; i++) {
            snprintf(src, sizeof(src), "%s%s", path, i == 0 ? "" : companions[i - 1]);
            file_id_now(src, &after[i]);
            same = file_id_same(&before[i], &after[i]);
        }
        if (same)
            return MF_OK;
        mf_log_debug("%s: changed while being copied (attempt %d)", path, attempt);
    }
    return mf_error_set(err, MF_ERR_IO,
                        "the database kept changing while it was being copied (%d attempts)",
                        COPY_ATTEMPTS);
}

/* A new private folder under $TMPDIR (or /tmp). */
static mf_code make_private_dir(char *out, size_t outsz, mf_error *err)
{
    const char *base = getenv("TMPDIR");
    if (!base || base[0] != '/' || strlen(base) > 256)
        base = "/tmp";
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/')
        n--;
    snprintf(out, outsz, "%.*s/mailfleet-accounts.XXXXXX", (int)n, base);
    if (!mkdtemp(out))
        return mf_error_set(err, errno_code(errno), "cannot make a temporary folder in %.*s: %s",
                            (int)n, base, strerror(errno));
    return MF_OK;
}

static mf_source_status status_for(mf_code rc)
{
    switch (rc) {
    case MF_ERR_NOTFOUND:
        return MF_SRC_MISSING;
    case MF_ERR_TOOBIG:
        return MF_SRC_TOO_LARGE;
    case MF_ERR_PARSE:
    case MF_ERR_INVALID:
        return MF_SRC_MALFORMED;
    default:
        return MF_SRC_UNREADABLE;
    }
}

/* One database file: its source record is r->sources[src]. */
static mf_code scan_db(mf_report *r, int src, const char *path, size_t cap)
{
    ctx c = {0};
    c.r = r;
    c.src = src;
    c.path = path;
    mf_error err;
    mf_error_clear(&err);
    char dir[PATH_MAX], copy[PATH_MAX];
    bool made = false;
    mf_code rc = make_private_dir(dir, sizeof(dir), &err);
    if (rc)
        goto out;
    made = true;
    snprintf(copy, sizeof(copy), "%s/Accounts.sqlite", dir);
    if ((rc = snapshot(path, dir, cap, &err)) || (rc = read_db(&c, copy, &err)))
        goto out;
    rc = build_report(&c, &err);
out:
    if (c.db)
        sqlite3_close(c.db);
    if (made)
        remove_private_dir(dir);
    ctx_free(&c);
    if (rc == MF_OK || rc == MF_ERR_NOMEM)
        return rc;
    char msg[MF_ERROR_TEXT_MAX + PATH_MAX + 8];
    snprintf(msg, sizeof(msg), "%s: %s", path, err.text);
    mf_report_source_fail(r, src, status_for(rc), msg);
    return MF_OK;
}

static mf_code scan(mf_report *r, const mf_home *home, const mf_scan_opts *opts)
{
    static const char *const names[] = {"Library/Accounts/Accounts4.sqlite",
                                        "Library/Accounts/Accounts3.sqlite"};
    size_t cap = opts && opts->file_cap ? opts->file_cap : MF_SOURCE_FILE_CAP;
    for (size_t i = 0; i < MF_ARRAY_LEN(names); i++) {
        char *path = mf_path_join(home->path, names[i]);
        if (!path)
            return MF_ERR_NOMEM;
        mf_code rc = MF_OK;
        int idx;
        if (mf_path_exists(path)) {
            rc = mf_report_add_source(r, home->user, mf_source_accounts_sqlite.client,
                                      mf_source_accounts_sqlite.format, path, &idx);
            if (rc == MF_OK)
                rc = scan_db(r, idx, path, cap);
        }
        free(path);
        if (rc)
            return rc;
    }
    return MF_OK;
}

const mf_source_ops mf_source_accounts_sqlite = {"accounts-sqlite", "apple-mail", scan};
