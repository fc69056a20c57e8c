/* source_thunderbird.c: SMTP servers and identities of Thunderbird, Betterbird and
 * Postbox, read from each profile's prefs.js (with user.js on top).
 *
 * Where (per home, all checked on every platform so Linux and macOS fixtures both work):
 *   Library/Thunderbird                     Thunderbird and Betterbird on macOS
 *   .thunderbird                            Thunderbird and Betterbird on Linux
 *   Library/Application Support/PostboxApp  Postbox (client "postbox")
 * Each folder's profiles.ini names the profiles; without a profiles.ini, every
 * Profiles/<x>/prefs.js is read (old installs). docs/sources.md has the mapping tables.
 *
 * Records: profiles.ini gets a source of format "profiles-ini"; each profile's prefs.js
 * one of format "prefs-js" (servers and accounts point at it), and a user.js, when there
 * is one, its own "prefs-js" record so its errors are visible apart.
 *
 * Secrets: logins.json and key4.db are never opened, and every pref whose name contains
 * "password" is dropped (and wiped) right after parsing, before anything reads the set.
 */
#include "source.h"

#include "fileio.h"
#include "ini.h"
#include "log.h"
#include "prefs_js.h"
#include "util.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_PREFS        "prefs-js"
#define FORMAT_INI          "profiles-ini"
#define INI_CAP             (1024u * 1024u) /* profiles.ini is a few hundred bytes */
#define MAX_LEGACY_PROFILES 256             /* Profiles/<x> folders read without a profiles.ini */
#define DEFAULT_MARK        "(default)" /* smtp_ref prefix: the identity uses the default server */
/* Per-profile bounds on what goes into the report, so one hostile prefs.js cannot make the
 * report too big to deliver: real profiles have a handful of servers and identities, and
 * no real host name, user name or address comes near 1 KiB. */
#define MAX_SERVERS  200
#define MAX_ACCOUNTS 200
/* Every list read from the prefs (server keys, accounts, an account's identities) is cut
 * at this length; it also keeps the duplicate checks (linear) cheap. */
#define MAX_LIST  256
#define FIELD_MAX 1024 /* bytes; longer values are cut at a character boundary */

/* The Mozilla enums as stored in prefs.js (nsMsgSocketType, nsMsgAuthMethod). */
enum { TRY_SSL_PLAIN = 0, TRY_SSL_TRY_STARTTLS = 1, TRY_SSL_STARTTLS = 2, TRY_SSL_SSL = 3 };
enum {
    AUTH_M_NONE = 1,
    AUTH_M_OLD = 2,
    AUTH_M_CLEARTEXT = 3,
    AUTH_M_ENCRYPTED = 4,
    AUTH_M_GSSAPI = 5,
    AUTH_M_NTLM = 6,
    AUTH_M_EXTERNAL = 7,
    AUTH_M_SECURE = 8,
    AUTH_M_ANY = 9,
    AUTH_M_OAUTH2 = 10,
};
/* Mozilla's fallback when neither the server nor mail.smtpserver.default has one. */
#define AUTH_M_FALLBACK AUTH_M_CLEARTEXT

typedef struct root {
    const char *rel;    /* below the home folder */
    const char *client; /* the report's client word */
} root;

static const root roots[] = {
    {"Library/Thunderbird", "thunderbird"},
    {".thunderbird", "thunderbird"},
    {"Library/Application Support/PostboxApp", "postbox"},
};

typedef struct scan_ctx {
    mf_report *r;
    const mf_home *home;
    size_t cap;   /* file size cap */
    mf_strv seen; /* resolved profile folders already read (two roots may share one) */
} scan_ctx;

/* ------------------------------------------------------------------ small helpers */

/* A copy of s that is valid UTF-8 (each bad byte becomes '?'), for paths and messages
 * that go into the report: JSON cannot carry anything else. */
static char *utf8_clean(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (k <= n - i && mf_prefs_utf8_valid(s + i, k)) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            out[o++] = '?';
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

static mf_code add_source(scan_ctx *c, const char *client, const char *format, const char *path,
                          int *idx)
{
    char *clean = utf8_clean(path);
    if (!clean)
        return MF_ERR_NOMEM;
    mf_code rc = mf_report_add_source(c->r, c->home->user, client, format, clean, idx);
    free(clean);
    return rc;
}

/* Mark a source failed; the message is cleaned for the report. */
static mf_code fail_source(scan_ctx *c, int idx, mf_source_status st, const char *msg)
{
    char *clean = utf8_clean(msg);
    if (!clean)
        return MF_ERR_NOMEM;
    mf_report_source_fail(c->r, idx, st, clean);
    free(clean);
    if (idx >= 0 && (size_t)idx < c->r->nsources && !c->r->sources[idx].error)
        return MF_ERR_NOMEM;
    mf_log_debug("thunderbird: %s: %s", mf_source_status_name(st), msg);
    return MF_OK;
}

static mf_code fail_source_err(scan_ctx *c, int idx, mf_source_status st, const mf_error *err)
{
    char msg[MF_ERROR_FILE_MAX + MF_ERROR_TEXT_MAX + 64];
    mf_error_format(err, msg, sizeof(msg));
    return fail_source(c, idx, st, msg);
}

/* "prefix.key.attr" lookups. A name that would be longer than any stored name cannot
 * exist, so truncation means "absent". */
static const mf_pref *find3(const mf_prefs *p, const char *prefix, const char *key,
                            const char *attr)
{
    char name[MF_PREFS_MAX_NAME + 64];
    int n =
        snprintf(name, sizeof(name), "%s%s%s%s", prefix, key, attr ? "." : "", attr ? attr : "");
    if (n < 0 || (size_t)n >= sizeof(name))
        return NULL;
    return mf_prefs_find(p, name);
}

/* Typed reads of the effective value. As in Thunderbird (whose getIntPref throws on a
 * string pref), a value of the wrong type counts as absent. */
static const char *get_str3(const mf_prefs *p, const char *prefix, const char *key,
                            const char *attr)
{
    const mf_pref_value *v = mf_pref_effective(find3(p, prefix, key, attr));
    return v && v->type == MF_PREF_STRING ? v->str : NULL;
}

static bool get_int3(const mf_prefs *p, const char *prefix, const char *key, const char *attr,
                     long long *out)
{
    const mf_pref_value *v = mf_pref_effective(find3(p, prefix, key, attr));
    if (!v || v->type != MF_PREF_INT)
        return false;
    *out = v->num;
    return true;
}

static bool get_bool3(const mf_prefs *p, const char *prefix, const char *key, const char *attr,
                      bool *out)
{
    const mf_pref_value *v = mf_pref_effective(find3(p, prefix, key, attr));
    if (!v || v->type != MF_PREF_BOOL)
        return false;
    *out = v->b;
    return true;
}

/* A non-empty string or NULL. */
static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

/* A copy of s cut to at most FIELD_MAX bytes without splitting a UTF-8 character (the
 * parser guarantees s is valid UTF-8). NULL in, NULL out; *oom set on failure. */
static char *clip(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n > FIELD_MAX) {
        n = FIELD_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* s[n] continues a character: cut before that character */
    }
    char *c = mf_strndup(s, n);
    if (!c)
        *oom = true;
    return c;
}

/* Split a comma-separated list into sv: items trimmed of blanks, empty ones skipped,
 * repeats dropped, at most MAX_LIST items in sv (*capped set when items were left out). */
static mf_code split_csv(const char *csv, mf_strv *sv, bool *capped)
{
    if (!csv)
        return MF_OK;
    const char *p = csv;
    while (*p) {
        if (sv->n >= MAX_LIST) {
            *capped = true;
            break;
        }
        const char *e = strchr(p, ',');
        if (!e)
            e = p + strlen(p);
        const char *b = p;
        const char *t = e;
        while (b < t && (*b == ' ' || *b == '\t'))
            b++;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > b) {
            char *item = mf_strndup(b, (size_t)(t - b));
            if (!item)
                return MF_ERR_NOMEM;
            if (mf_strv_contains(sv, item))
                free(item);
            else if (mf_strv_push_owned(sv, item) != MF_OK)
                return MF_ERR_NOMEM;
        }
        p = *e ? e + 1 : e;
    }
    return MF_OK;
}

/* When name is "<prefix><middle><suffix>" with a non-empty middle, a copy of the middle
 * (*out), else *out stays NULL. */
static mf_code middle_of(const char *name, const char *prefix, const char *suffix, char **out)
{
    *out = NULL;
    size_t n = strlen(name), pl = strlen(prefix), sl = strlen(suffix);
    if (n <= pl + sl || strncmp(name, prefix, pl) != 0 || strcmp(name + n - sl, suffix) != 0)
        return MF_OK;
    *out = mf_strndup(name + pl, n - pl - sl);
    return *out ? MF_OK : MF_ERR_NOMEM;
}

/* Collect, in first-seen order, the <k> of every pref named prefix<k>suffix, except the
 * "default" branch and keys already in skip or out; at most MAX_LIST keys in out
 * (*capped set when some were left out). */
static mf_code collect_keys(const mf_prefs *p, const char *prefix, const char *suffix,
                            const mf_strv *skip, mf_strv *out, bool *capped)
{
    for (size_t i = 0; i < mf_prefs_count(p); i++) {
        if (out->n >= MAX_LIST) {
            *capped = true;
            break;
        }
        char *k = NULL;
        if (middle_of(mf_prefs_at(p, i)->name, prefix, suffix, &k) != MF_OK)
            return MF_ERR_NOMEM;
        if (!k)
            continue;
        if (strcmp(k, "default") == 0 || (skip && mf_strv_contains(skip, k)) ||
            mf_strv_contains(out, k)) {
            free(k);
            continue;
        }
        if (mf_strv_push_owned(out, k) != MF_OK)
            return MF_ERR_NOMEM;
    }
    return MF_OK;
}

/* ------------------------------------------------------------------ value mappings */

static mf_security map_try_ssl(long long v)
{
    switch (v) {
    case TRY_SSL_PLAIN:
        return MF_SEC_NONE;
    case TRY_SSL_TRY_STARTTLS:
        return MF_SEC_STARTTLS_OPTIONAL;
    case TRY_SSL_STARTTLS:
        return MF_SEC_STARTTLS;
    case TRY_SSL_SSL:
        return MF_SEC_TLS;
    default:
        return MF_SEC_UNKNOWN;
    }
}

static mf_auth map_auth_method(long long v)
{
    switch (v) {
    case AUTH_M_NONE:
        return MF_AUTH_NONE;
    case AUTH_M_OLD: /* "original login commands": for SMTP that is a cleartext password */
    case AUTH_M_CLEARTEXT:
        return MF_AUTH_PASSWORD;
    case AUTH_M_ENCRYPTED:
    case AUTH_M_SECURE: /* deprecated "any secure method": never a cleartext password */
        return MF_AUTH_PASSWORD_ENCRYPTED;
    case AUTH_M_GSSAPI:
        return MF_AUTH_GSSAPI;
    case AUTH_M_NTLM:
        return MF_AUTH_NTLM;
    case AUTH_M_EXTERNAL:
        return MF_AUTH_CLIENT_CERT;
    case AUTH_M_ANY:
        return MF_AUTH_ANY;
    case AUTH_M_OAUTH2:
        return MF_AUTH_OAUTH2;
    default:
        return MF_AUTH_UNKNOWN;
    }
}

/* The server's auth as Thunderbird would use it: authMethod; else the pre-3.0 prefs the
 * way Thunderbird's migration reads them (auth_method 0 = none; otherwise useSecAuth
 * true = secure auth, false = cleartext password); else mail.smtpserver.default's
 * authMethod; else cleartext password. */
static mf_auth server_auth(const mf_prefs *p, const char *key)
{
    long long v;
    if (get_int3(p, "mail.smtpserver.", key, "authMethod", &v))
        return map_auth_method(v);
    bool have_legacy = find3(p, "mail.smtpserver.", key, "auth_method") ||
                       find3(p, "mail.smtpserver.", key, "useSecAuth");
    if (have_legacy) {
        long long am = 1;
        bool sec = false;
        (void)get_int3(p, "mail.smtpserver.", key, "auth_method", &am);
        (void)get_bool3(p, "mail.smtpserver.", key, "useSecAuth", &sec);
        if (am == 0)
            return MF_AUTH_NONE;
        return sec ? MF_AUTH_PASSWORD_ENCRYPTED : MF_AUTH_PASSWORD;
    }
    if (get_int3(p, "mail.smtpserver.", "default", "authMethod", &v))
        return map_auth_method(v);
    return map_auth_method(AUTH_M_FALLBACK);
}

/* Incoming server type -> account type; NULL *skip means "not a mail account". */
static const char *map_account_type(const char *t, bool *skip)
{
    *skip = false;
    if (!t)
        return NULL;
    if (strcmp(t, "imap") == 0)
        return "imap";
    if (strcmp(t, "pop3") == 0)
        return "pop";
    if (strcmp(t, "nntp") == 0)
        return "news";
    if (strcmp(t, "ews") == 0 || strcmp(t, "owl") == 0 || strcmp(t, "exquilla") == 0)
        return "exchange";
    if (strcmp(t, "none") == 0 || strcmp(t, "rss") == 0 || strcmp(t, "im") == 0) {
        *skip = true;
        return NULL;
    }
    return "other";
}

/* ------------------------------------------------------------------ prefs -> report */

typedef struct model {
    scan_ctx *c;
    const mf_prefs *p;
    int src;
    mf_strv listed;             /* mail.smtpservers */
    mf_strv keys;               /* server keys reported, parallel to ids */
    mf_strv ids;                /* report server ids */
    mf_strv foreign;            /* outgoing servers of another type (ews, ...): not SMTP */
    mf_strv done;               /* identities already reported */
    size_t nservers, naccounts; /* reported so far, against MAX_SERVERS / MAX_ACCOUNTS */
    bool capped;                /* a cap was hit (the source record says so) */
} model;

static void model_free(model *m)
{
    mf_strv_free(&m->listed);
    mf_strv_free(&m->keys);
    mf_strv_free(&m->ids);
    mf_strv_free(&m->foreign);
    mf_strv_free(&m->done);
}

static const char *id_for_key(const model *m, const char *key)
{
    for (size_t i = 0; i < m->keys.n; i++)
        if (strcmp(m->keys.v[i], key) == 0)
            return m->ids.v[i];
    return NULL;
}

static mf_code add_server(model *m, const char *key)
{
    const mf_prefs *p = m->p;
    const char *type = get_str3(p, "mail.smtpserver.", key, "type");
    if (nonempty(type) && strcmp(type, "smtp") != 0) {
        mf_log_debug("thunderbird: outgoing server %s is of type %s, not SMTP: skipped", key, type);
        return mf_strv_push(&m->foreign, key);
    }
    if (m->nservers >= MAX_SERVERS) {
        m->capped = true;
        return MF_OK;
    }
    bool oom = false;
    char *host = clip(get_str3(p, "mail.smtpserver.", key, "hostname"), &oom);
    mf_server *s = oom ? NULL : mf_report_add_server(m->c->r, m->src);
    mf_code hrc = s ? mf_server_set_hostname(s, host) : MF_ERR_NOMEM;
    free(host);
    if (hrc != MF_OK)
        return MF_ERR_NOMEM;
    m->nservers++;
    if (!s->hostname)
        s->flags |= MF_FLAG_NO_HOSTNAME;

    long long v;
    if (get_int3(p, "mail.smtpserver.", key, "try_ssl", &v) ||
        get_int3(p, "mail.smtpserver.", "default", "try_ssl", &v))
        s->security = map_try_ssl(v);
    else
        s->security = map_try_ssl(TRY_SSL_PLAIN);

    if (get_int3(p, "mail.smtpserver.", key, "port", &v) && v >= 1 && v <= 65535) {
        s->port = (int)v;
    } else {
        /* 0, absent, of another type or out of range: Thunderbird's SMTP client falls
         * back to 465 for SSL/TLS and 587 (submission) otherwise. */
        s->port = s->security == MF_SEC_TLS ? 465 : 587;
        s->flags |= MF_FLAG_DEFAULT_PORT;
    }
    s->auth = server_auth(p, key);

    s->username = clip(nonempty(get_str3(p, "mail.smtpserver.", key, "username")), &oom);
    s->description = clip(nonempty(get_str3(p, "mail.smtpserver.", key, "description")), &oom);
    s->identifier = clip(key, &oom);
    if (oom)
        return MF_ERR_NOMEM;
    if (mf_strv_push(&m->keys, key) != MF_OK || mf_strv_push(&m->ids, s->id) != MF_OK)
        return MF_ERR_NOMEM;
    return MF_OK;
}

static mf_code add_servers(model *m)
{
    mf_code rc;
    mf_strv leftovers = {0};
    if ((rc = split_csv(mf_prefs_get_str(m->p, "mail.smtpservers"), &m->listed, &m->capped)) !=
        MF_OK)
        goto out;
    /* A server whose key fell out of mail.smtpservers but whose prefs remain (an old
     * delete, a hand edit) is still reported: Thunderbird re-creates it from its prefs
     * when an identity names it, and it is exactly the kind of stale entry we look for. */
    if ((rc = collect_keys(m->p, "mail.smtpserver.", ".hostname", &m->listed, &leftovers,
                           &m->capped)))
        goto out;
    for (size_t i = 0; i < m->listed.n; i++)
        if (strcmp(m->listed.v[i], "default") != 0 && (rc = add_server(m, m->listed.v[i])))
            goto out;
    for (size_t i = 0; i < leftovers.n; i++)
        if ((rc = add_server(m, leftovers.v[i])))
            goto out;
out:
    mf_strv_free(&leftovers);
    return rc;
}

/* Link account a to the server identity id sends through. */
static mf_code link_smtp(model *m, mf_account *a, const char *identity)
{
    const char *ref = nonempty(get_str3(m->p, "mail.identity.", identity, "smtpServer"));
    if (ref) {
        if (mf_strv_contains(&m->foreign, ref))
            return MF_OK; /* sends through a non-SMTP outgoing server */
        const char *sid = id_for_key(m, ref);
        bool oom = false;
        a->smtp_ref = clip(ref, &oom);
        if (oom || (sid && !(a->smtp = mf_strdup(sid))))
            return MF_ERR_NOMEM;
        return MF_OK;
    }
    /* Empty or absent: the default server, which is mail.smtp.defaultserver, or the
     * first of mail.smtpservers when that is not set (as Thunderbird picks it). */
    const char *dkey = nonempty(mf_prefs_get_str(m->p, "mail.smtp.defaultserver"));
    if (!dkey && m->listed.n)
        dkey = m->listed.v[0];
    if (!dkey || mf_strv_contains(&m->foreign, dkey))
        return MF_OK; /* no outgoing server at all */
    const char *sid = id_for_key(m, dkey);
    bool oom = false;
    char *k = clip(dkey, &oom);
    if (k)
        a->smtp_ref = mf_asprintf("%s %s", DEFAULT_MARK, k);
    free(k);
    if (!a->smtp_ref || (sid && !(a->smtp = mf_strdup(sid))))
        return MF_ERR_NOMEM;
    return MF_OK;
}

static mf_code add_identity(model *m, const char *identity, const char *type, const char *srv)
{
    if (m->naccounts >= MAX_ACCOUNTS) {
        m->capped = true;
        return MF_OK;
    }
    if (mf_strv_contains(&m->done, identity))
        return MF_OK;
    if (mf_strv_push(&m->done, identity) != MF_OK)
        return MF_ERR_NOMEM;
    const mf_prefs *p = m->p;
    const char *email = nonempty(get_str3(p, "mail.identity.", identity, "useremail"));
    const char *full = nonempty(get_str3(p, "mail.identity.", identity, "fullName"));
    const char *sname = srv ? nonempty(get_str3(p, "mail.server.", srv, "name")) : NULL;
    const char *desc = full ? full : email ? email : sname;

    mf_account *a = mf_report_add_account(m->c->r, m->src);
    if (!a)
        return MF_ERR_NOMEM;
    m->naccounts++;
    bool oom = false;
    a->description = clip(desc, &oom);
    char *e = clip(email, &oom);
    if (oom || (type && !(a->type = mf_strdup(type)))) {
        free(e);
        return MF_ERR_NOMEM;
    }
    if (e && mf_strv_push_owned(&a->emails, e) != MF_OK) /* frees e on failure */
        return MF_ERR_NOMEM;
    return link_smtp(m, a, identity);
}

static mf_code add_accounts(model *m)
{
    mf_code rc = MF_OK;
    mf_strv accounts = {0}, ids = {0};
    const mf_prefs *p = m->p;
    /* mail.accountmanager.accounts is the list Thunderbird loads; an account left out of
     * it is a leftover and its identities send nothing. Without the list, every
     * mail.account.<a>.server counts. */
    if (mf_prefs_find(p, "mail.accountmanager.accounts")) {
        rc = split_csv(mf_prefs_get_str(p, "mail.accountmanager.accounts"), &accounts, &m->capped);
    } else {
        rc = collect_keys(p, "mail.account.", ".server", NULL, &accounts, &m->capped);
        if (rc == MF_OK)
            rc = collect_keys(p, "mail.account.", ".identities", NULL, &accounts, &m->capped);
    }
    if (rc != MF_OK)
        goto out;
    bool any_account = mf_prefs_find(p, "mail.accountmanager.accounts") || accounts.n > 0;
    for (size_t i = 0; i < accounts.n && m->naccounts < MAX_ACCOUNTS; i++) {
        const char *acct = accounts.v[i];
        const char *srv = nonempty(get_str3(p, "mail.account.", acct, "server"));
        bool skip;
        const char *type = map_account_type(
            srv ? nonempty(get_str3(p, "mail.server.", srv, "type")) : NULL, &skip);
        if (skip)
            continue;
        mf_strv_free(&ids);
        if ((rc = split_csv(get_str3(p, "mail.account.", acct, "identities"), &ids, &m->capped)) !=
            MF_OK)
            goto out;
        for (size_t k = 0; k < ids.n; k++)
            if ((rc = add_identity(m, ids.v[k], type, srv)) != MF_OK)
                goto out;
    }
    if (!any_account) {
        /* No account prefs at all (a trimmed or hand-written prefs.js): every identity
         * with an address or a server link counts, of unknown type. */
        mf_strv_free(&ids);
        if ((rc = collect_keys(p, "mail.identity.", ".useremail", NULL, &ids, &m->capped)) ||
            (rc = collect_keys(p, "mail.identity.", ".smtpServer", NULL, &ids, &m->capped)))
            goto out;
        for (size_t k = 0; k < ids.n; k++)
            if ((rc = add_identity(m, ids.v[k], NULL, NULL)) != MF_OK)
                goto out;
    }
out:
    mf_strv_free(&accounts);
    mf_strv_free(&ids);
    return rc;
}

static mf_code build_from_prefs(scan_ctx *c, const mf_prefs *p, int src)
{
    model m = {.c = c, .p = p, .src = src};
    mf_code rc = add_servers(&m);
    if (rc == MF_OK)
        rc = add_accounts(&m);
    if (rc == MF_OK && m.capped && c->r->sources[src].status == MF_SRC_OK) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "more than %d SMTP servers or %d identities: only the first are reported",
                 MAX_SERVERS, MAX_ACCOUNTS);
        rc = fail_source(c, src, MF_SRC_TOO_LARGE, msg);
    }
    model_free(&m);
    return rc;
}

/* ------------------------------------------------------------------ files */

/* Read one prefs file into p, recording problems in source idx. */
static mf_code read_prefs_file(scan_ctx *c, mf_prefs *p, const char *path, int idx)
{
    mf_error err;
    mf_error_clear(&err);
    char *data = NULL;
    size_t len = 0;
    mf_code rc = mf_file_read(path, c->cap, &data, &len, &err);
    if (rc == MF_ERR_NOMEM)
        return rc;
    if (rc != MF_OK) {
        mf_source_status st = MF_SRC_UNREADABLE;
        (void)mf_source_status_parse(mf_file_status_for(rc), &st);
        return fail_source_err(c, idx, st, &err);
    }
    char *clean_path = utf8_clean(path);
    if (!clean_path) {
        free(data);
        return MF_ERR_NOMEM;
    }
    rc = mf_prefs_parse(p, data, len, clean_path, &err);
    /* The file may hold passwords (mail.smtpserver.*.password): do not leave them
     * lying in freed memory. */
    for (volatile char *q = data; q < data + len; q++)
        *q = 0;
    free(data);
    free(clean_path);
    if (rc == MF_ERR_NOMEM)
        return rc;
    if (rc == MF_ERR_PARSE) {
        char msg[MF_ERROR_FILE_MAX + MF_ERROR_TEXT_MAX + 96];
        char first[MF_ERROR_FILE_MAX + MF_ERROR_TEXT_MAX + 32];
        mf_error_format(&err, first, sizeof(first));
        size_t more = mf_prefs_errors(p) - 1;
        if (more)
            snprintf(msg, sizeof(msg), "%s (and %zu more error%s)", first, more,
                     more == 1 ? "" : "s");
        else
            snprintf(msg, sizeof(msg), "%s", first);
        return fail_source(c, idx, MF_SRC_MALFORMED, msg);
    }
    if (rc == MF_ERR_TOOBIG)
        return fail_source_err(c, idx, MF_SRC_TOO_LARGE, &err);
    return MF_OK;
}

/* Read a profile folder: prefs.js, then user.js over it, then report. why names who
 * pointed at the folder, for the "missing" message. */
static mf_code read_profile(scan_ctx *c, const char *dir, const char *client, const char *why)
{
    mf_code rc = MF_OK;
    mf_prefs *p = NULL;
    char *prefs_path = mf_path_join(dir, "prefs.js");
    char *user_path = mf_path_join(dir, "user.js");
    int pidx = -1, uidx = -1;
    if (!prefs_path || !user_path) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    if ((rc = add_source(c, client, FORMAT_PREFS, prefs_path, &pidx)) != MF_OK)
        goto out;
    if (!mf_path_is_dir(dir)) {
        bool there = mf_path_exists(dir);
        char *msg = mf_asprintf("%s: profile folder named in %s %s", dir, why,
                                there ? "is not a folder" : "does not exist");
        rc = msg ? fail_source(c, pidx, there ? MF_SRC_UNREADABLE : MF_SRC_MISSING, msg)
                 : MF_ERR_NOMEM;
        free(msg);
        goto out;
    }
    if ((rc = mf_prefs_new(&p, NULL)) != MF_OK)
        goto out;
    if ((rc = read_prefs_file(c, p, prefs_path, pidx)) != MF_OK)
        goto out;
    if (mf_path_exists(user_path)) {
        if ((rc = add_source(c, client, FORMAT_PREFS, user_path, &uidx)) != MF_OK ||
            (rc = read_prefs_file(c, p, user_path, uidx)) != MF_OK)
            goto out;
    }
    size_t dropped = mf_prefs_drop_matching(p, "password");
    if (dropped)
        mf_log_debug("thunderbird: %s: ignored %zu password pref(s)", prefs_path, dropped);
    rc = build_from_prefs(c, p, pidx);
out:
    mf_prefs_free(p);
    free(prefs_path);
    free(user_path);
    return rc;
}

/* True when a relative profile path climbs above its base folder with "..". */
static bool climbs_out(const char *rel)
{
    long depth = 0;
    const char *s = rel;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (--depth < 0)
                return true;
        } else if (!(n == 1 && s[0] == '.')) {
            depth++;
        }
        s += n;
    }
    return false;
}

/* Read the profile in dir unless the same folder was read already. */
static mf_code read_profile_once(scan_ctx *c, const char *dir, const char *client, const char *why)
{
    char *real = realpath(dir, NULL);
    const char *key = real ? real : dir;
    if (mf_strv_contains(&c->seen, key)) {
        mf_log_debug("thunderbird: %s was read already", dir);
        free(real);
        return MF_OK;
    }
    mf_code rc = mf_strv_push(&c->seen, key);
    free(real);
    if (rc != MF_OK)
        return rc;
    return read_profile(c, dir, client, why);
}

/* One [ProfileN] section. */
static mf_code scan_ini_profile(scan_ctx *c, const char *base, const char *ini_path,
                                const mf_ini_section *sec, const char *client, int ini_idx)
{
    const char *path = mf_ini_section_get(sec, "Path");
    const char *isrel = mf_ini_section_get(sec, "IsRelative");
    if (mf_str_empty(path)) {
        if (ini_idx >= 0 && c->r->sources[ini_idx].status == MF_SRC_OK) {
            char *msg = mf_asprintf("%s:%d: [%s] has no Path", ini_path, sec->line, sec->name);
            mf_code rc = msg ? fail_source(c, ini_idx, MF_SRC_MALFORMED, msg) : MF_ERR_NOMEM;
            free(msg);
            return rc;
        }
        return MF_OK;
    }
    /* Mozilla writes IsRelative=1 or 0; when it is missing, the path's form decides. */
    bool rel = isrel ? strcmp(isrel, "1") == 0 : path[0] != '/';
    mf_code rc = MF_OK;
    char *dir = NULL, *msg = NULL;
    int idx = -1;
    if (rel && climbs_out(path)) {
        /* Thunderbird never writes such a path; refuse to wander out of the home. */
        dir = mf_path_join(base, path);
        char *pj = dir ? mf_path_join(dir, "prefs.js") : NULL;
        msg = mf_asprintf("%s: [%s] relative Path climbs out of %s with \"..\": not read", ini_path,
                          sec->name, base);
        if (!pj || !msg || (rc = add_source(c, client, FORMAT_PREFS, pj, &idx)) != MF_OK) {
            free(pj);
            rc = rc ? rc : MF_ERR_NOMEM;
            goto out;
        }
        free(pj);
        rc = fail_source(c, idx, MF_SRC_UNREADABLE, msg);
        goto out;
    }
    if (!rel && path[0] != '/') {
        /* IsRelative=0 with a non-absolute path: an old macOS alias record, or junk. */
        char *pj = mf_path_join(path, "prefs.js");
        msg = mf_asprintf("%s: [%s] Path is marked absolute but is not an absolute path", ini_path,
                          sec->name);
        if (!pj || !msg || (rc = add_source(c, client, FORMAT_PREFS, pj, &idx)) != MF_OK) {
            free(pj);
            rc = rc ? rc : MF_ERR_NOMEM;
            goto out;
        }
        free(pj);
        rc = fail_source(c, idx, MF_SRC_UNREADABLE, msg);
        goto out;
    }
    dir = rel ? mf_path_join(base, path) : mf_strdup(path);
    if (!dir) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    rc = read_profile_once(c, dir, client, ini_path);
out:
    free(dir);
    free(msg);
    return rc;
}

static bool is_profile_section(const char *name)
{
    if (strncmp(name, "Profile", 7) != 0 || !name[7])
        return false;
    for (const char *p = name + 7; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static mf_code scan_ini(scan_ctx *c, const char *base, const char *ini_path, const char *client)
{
    int idx = -1;
    mf_error err;
    mf_error_clear(&err);
    char *data = NULL;
    size_t len = 0;
    mf_ini *ini = NULL;
    mf_code rc = add_source(c, client, FORMAT_INI, ini_path, &idx);
    if (rc != MF_OK)
        return rc;
    size_t cap = c->cap < INI_CAP ? c->cap : INI_CAP;
    rc = mf_file_read(ini_path, cap, &data, &len, &err);
    if (rc == MF_ERR_NOMEM)
        return rc;
    if (rc != MF_OK) {
        mf_source_status st = MF_SRC_UNREADABLE;
        (void)mf_source_status_parse(mf_file_status_for(rc), &st);
        return fail_source_err(c, idx, st, &err);
    }
    rc = mf_ini_parse(&ini, data, len, ini_path, NULL, &err);
    free(data);
    if (rc == MF_ERR_NOMEM)
        return rc;
    if (rc == MF_ERR_PARSE || rc == MF_ERR_TOOBIG) {
        rc =
            fail_source_err(c, idx, rc == MF_ERR_PARSE ? MF_SRC_MALFORMED : MF_SRC_TOO_LARGE, &err);
        if (rc != MF_OK)
            goto out;
    }
    for (size_t i = 0; ini && i < ini->n; i++) {
        if (!is_profile_section(ini->sections[i].name))
            continue;
        if ((rc = scan_ini_profile(c, base, ini_path, &ini->sections[i], client, idx)) != MF_OK)
            goto out;
    }
out:
    mf_ini_free(ini);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* No profiles.ini: read every Profiles/<x>/ that holds a prefs.js, in name order. */
static mf_code scan_legacy(scan_ctx *c, const char *base, const char *client)
{
    mf_code rc = MF_OK;
    mf_strv names = {0};
    char *pdir = mf_path_join(base, "Profiles");
    if (!pdir)
        return MF_ERR_NOMEM;
    DIR *d = opendir(pdir);
    if (!d)
        goto out; /* nothing there: not an error */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        char *dir = mf_path_join(pdir, e->d_name);
        char *pj = dir ? mf_path_join(dir, "prefs.js") : NULL;
        bool has = pj && mf_path_exists(pj);
        free(dir);
        free(pj);
        if (!has)
            continue;
        if (names.n >= MAX_LEGACY_PROFILES) {
            mf_log_warn("thunderbird: %s: more than %d profile folders, the rest skipped", pdir,
                        MAX_LEGACY_PROFILES);
            break;
        }
        if ((rc = mf_strv_push(&names, e->d_name)) != MF_OK)
            break;
    }
    closedir(d);
    if (rc != MF_OK)
        goto out;
    if (names.n > 1)
        qsort(names.v, names.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < names.n; i++) {
        char *dir = mf_path_join(pdir, names.v[i]);
        if (!dir) {
            rc = MF_ERR_NOMEM;
            goto out;
        }
        rc = read_profile_once(c, dir, client, "the Profiles folder");
        free(dir);
        if (rc != MF_OK)
            goto out;
    }
out:
    mf_strv_free(&names);
    free(pdir);
    return rc;
}

static mf_code scan(mf_report *r, const mf_home *home, const mf_scan_opts *opts)
{
    scan_ctx c = {
        .r = r,
        .home = home,
        .cap = opts && opts->file_cap ? opts->file_cap : MF_SOURCE_FILE_CAP,
    };
    mf_code rc = MF_OK;
    for (size_t i = 0; i < MF_ARRAY_LEN(roots) && rc == MF_OK; i++) {
        char *base = mf_path_join(home->path, roots[i].rel);
        char *ini = base ? mf_path_join(base, "profiles.ini") : NULL;
        if (!base || !ini) {
            rc = MF_ERR_NOMEM;
        } else if (mf_path_is_dir(base)) {
            if (mf_path_exists(ini))
                rc = scan_ini(&c, base, ini, roots[i].client);
            else
                rc = scan_legacy(&c, base, roots[i].client);
        }
        free(base);
        free(ini);
    }
    mf_strv_free(&c.seen);
    return rc;
}

const mf_source_ops mf_source_thunderbird = {FORMAT_PREFS, "thunderbird", scan};
