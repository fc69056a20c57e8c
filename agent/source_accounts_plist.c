/* source_accounts_plist.c: Apple Mail's Accounts.plist (Mail up to macOS 10.10, left
 * behind in later V* folders) and the same arrays in an old com.apple.mail.plist
 * (Mac OS X 10.6 and earlier).
 *
 * DeliveryAccounts are the SMTP servers of "Edit SMTP Server List"; MailAccounts are
 * the IMAP/POP/local accounts, each naming its server by SMTPIdentifier
 * ("host:user", or "host" when the server has no user name). docs/sources.md has the
 * value mappings; this file implements them. */
#include "fileio.h"
#include "log.h"
#include "source.h"
#include "source_plist.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define FORMAT_ACCOUNTS "accounts-plist"
#define FORMAT_PREFS    "mail-prefs-plist"
#define CLIENT          "apple-mail"
/* Mail folders V2, V3, ... V10: more than this many is not a real home. */
#define MAX_VERSION_DIRS 64

/* ---------------------------------------------------------------- mappings */

/* s trimmed, into buf (false when it does not fit). */
static bool trim_copy(const char *s, char *buf, size_t bufsz)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= bufsz)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

mf_auth mf_accounts_plist_auth(const char *scheme)
{
    static const struct {
        const char *raw;
        mf_auth auth;
    } map[] = {
        {"", MF_AUTH_PASSWORD},
        {"PASSWORD", MF_AUTH_PASSWORD},
        {"PLAIN", MF_AUTH_PASSWORD},
        {"LOGIN", MF_AUTH_PASSWORD},
        {"CRAM-MD5", MF_AUTH_PASSWORD_ENCRYPTED},
        {"DIGEST-MD5", MF_AUTH_PASSWORD_ENCRYPTED},
        {"NTLM", MF_AUTH_NTLM},
        {"GSSAPI", MF_AUTH_GSSAPI},
        {"KERBEROS", MF_AUTH_GSSAPI},
        {"KERBEROS_V5", MF_AUTH_GSSAPI},
        {"XOAUTH2", MF_AUTH_OAUTH2},
        {"OAUTHBEARER", MF_AUTH_OAUTH2},
    };
    char buf[32];
    if (!scheme)
        return MF_AUTH_PASSWORD;
    if (!trim_copy(scheme, buf, sizeof(buf)))
        return MF_AUTH_UNKNOWN;
    for (size_t i = 0; i < MF_ARRAY_LEN(map); i++)
        if (strcasecmp(buf, map[i].raw) == 0)
            return map[i].auth;
    return MF_AUTH_UNKNOWN;
}

/* The account type word for Mail's AccountType class name. */
static const char *account_type(const char *raw, bool has_host)
{
    static const struct {
        const char *raw, *type;
    } map[] = {
        {"IMAPAccount", "imap"},    {"POPAccount", "pop"},       {"LocalAccount", "local"},
        {"EWSAccount", "exchange"}, {"iToolsAccount", "icloud"},
    };
    char buf[64];
    if (raw && trim_copy(raw, buf, sizeof(buf)))
        for (size_t i = 0; i < MF_ARRAY_LEN(map); i++)
            if (strcasecmp(buf, map[i].raw) == 0)
                return map[i].type;
    /* An account without a server is Mail's "On My Mac" mailbox store. */
    return has_host ? "other" : "local";
}

/* ---------------------------------------------------------------- servers */

typedef struct ctx {
    mf_report *r;
    int src;
    mf_plist_issues is;
    size_t first_server; /* servers of this file are r->servers[first_server..] */
} ctx;

static mf_code set_text(plist_t d, const char *key, char **dst)
{
    free(*dst);
    return mf_plist_text_at(dst, d, key, true);
}

static bool read_port(ctx *c, plist_t d, const char *where, const char *key, int *port)
{
    return mf_plist_port(d, key, c->is.path, where, port);
}

/* Security of a DeliveryAccount (also used for the shape of MailAccounts). */
static mf_security delivery_security(ctx *c, plist_t d, const char *where, bool has_port, int port)
{
    long long layer = -1;
    bool ssl = false;
    bool has_layer = mf_plist_int(d, "SecurityLayerType", &layer);
    bool has_ssl = mf_plist_bool(d, "SSLEnabled", &ssl);
    if (!has_ssl && mf_plist_has(d, "SSLEnabled")) {
        mf_log_warn("%s: %s.SSLEnabled: not a boolean; security unknown", c->is.path, where);
        return MF_SEC_UNKNOWN;
    }
    if (has_ssl && !ssl)
        return MF_SEC_NONE;
    if (has_ssl) {
        /* Mail's one "Use SSL" box means TLS from the first byte on 465 and STARTTLS
         * (required) on any other port. */
        if ((has_layer && layer == 3) || (has_port && port == 465))
            return MF_SEC_TLS;
        return MF_SEC_STARTTLS;
    }
    if (has_layer && layer == 3)
        return MF_SEC_TLS;
    if (has_layer && layer == 2)
        return MF_SEC_STARTTLS;
    return MF_SEC_NONE;
}

static mf_auth delivery_auth(plist_t d, const char *username)
{
    bool use = true;
    bool has_use = mf_plist_bool(d, "ShouldUseAuthentication", &use);
    if (has_use && !use)
        return MF_AUTH_NONE;
    const char *scheme = mf_plist_str(d, "AuthenticationScheme");
    mf_auth a = mf_accounts_plist_auth(scheme);
    /* Kerberos needs no stored user name; every other scheme does. */
    if (a != MF_AUTH_GSSAPI && mf_str_empty(username))
        return MF_AUTH_NONE;
    return a;
}

static mf_code add_server(ctx *c, plist_t d, uint32_t i)
{
    char where[64];
    snprintf(where, sizeof(where), "DeliveryAccounts[%u]", (unsigned)i);
    mf_server *s = mf_report_add_server(c->r, c->src);
    if (!s)
        return MF_ERR_NOMEM;
    mf_code rc;
    char *host = NULL;
    if ((rc = mf_plist_text_at(&host, d, "Hostname", false)))
        return rc;
    rc = mf_server_set_hostname(s, host);
    free(host);
    if (rc)
        return rc;
    if (!s->hostname)
        s->flags |= MF_FLAG_NO_HOSTNAME;
    if ((rc = set_text(d, "Username", &s->username)) ||
        (rc = set_text(d, "AccountName", &s->description)) ||
        (rc = set_text(d, "uniqueId", &s->identifier)))
        return rc;
    int port = 0;
    bool has_port = read_port(c, d, where, "PortNumber", &port);
    s->security = delivery_security(c, d, where, has_port, port);
    if (has_port) {
        s->port = port;
    } else {
        s->port = mf_default_port(s->security);
        s->flags |= MF_FLAG_DEFAULT_PORT;
    }
    s->auth = delivery_auth(d, s->username);
    return MF_OK;
}

/* ---------------------------------------------------------------- linking */

/* p[0..n) trimmed equals the normalised (trimmed, lower-case) host, ignoring case. */
static bool host_eq(const char *p, size_t n, const char *norm)
{
    while (n && isspace((unsigned char)*p))
        p++, n--;
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    return strlen(norm) == n && strncasecmp(p, norm, n) == 0;
}

/* Does SMTPIdentifier ident name server s? "host:user" when s has a user name; "host"
 * (or "host:") when it has none. Matching from the end keeps IPv6 hosts intact. */
static bool ident_matches(const char *ident, const mf_server *s)
{
    if (!s->hostname)
        return false;
    size_t il = strlen(ident);
    if (!mf_str_empty(s->username)) {
        size_t ul = strlen(s->username);
        if (il < ul + 1 || ident[il - ul - 1] != ':' || strcmp(ident + il - ul, s->username) != 0)
            return false;
        return host_eq(ident, il - ul - 1, s->hostname);
    }
    if (host_eq(ident, il, s->hostname))
        return true;
    return il > 0 && ident[il - 1] == ':' && host_eq(ident, il - 1, s->hostname);
}

/* ---------------------------------------------------------------- accounts */

static mf_code add_account(ctx *c, plist_t m)
{
    mf_code rc;
    const char *raw_type = mf_plist_str(m, "AccountType");
    const char *host = mf_plist_str(m, "Hostname");
    bool has_host = false;
    for (const char *p = host; p && *p; p++)
        if (!isspace((unsigned char)*p))
            has_host = true;
    const char *type = account_type(raw_type, has_host);
    mf_account *a = mf_report_add_account(c->r, c->src);
    if (!a)
        return MF_ERR_NOMEM;
    if (!(a->type = mf_strdup(type)))
        return MF_ERR_NOMEM;
    if ((rc = mf_plist_text_at(&a->description, m, "AccountName", true)) ||
        (rc = mf_plist_strv_at(&a->emails, m, "EmailAddresses", MF_PLIST_MAX_EMAILS)))
        return rc;
    /* A local mailbox store sends nothing: no link, even if a stray identifier exists. */
    if (strcmp(type, "local") == 0)
        return MF_OK;
    if ((rc = mf_plist_text_at(&a->smtp_ref, m, "SMTPIdentifier", true)) || !a->smtp_ref)
        return rc;
    for (size_t i = c->first_server; i < c->r->nservers; i++) {
        const mf_server *s = &c->r->servers[i];
        if (ident_matches(a->smtp_ref, s)) {
            a->smtp = mf_strdup(s->id);
            return a->smtp ? MF_OK : MF_ERR_NOMEM;
        }
    }
    return MF_OK; /* dangling: compute_findings flags it from smtp_ref */
}

/* ---------------------------------------------------------------- the file */

/* The array under key, noting a problem when it is there with another type. */
static plist_t entries(ctx *c, plist_t root, const char *key, uint32_t *n)
{
    *n = 0;
    plist_t v = plist_dict_get_item(root, key);
    if (!v)
        return NULL;
    if (plist_get_node_type(v) != PLIST_ARRAY) {
        mf_plist_issue(&c->is, MF_SRC_MALFORMED, "%s is %s, expected an array", key,
                       mf_plist_type_name(v));
        return NULL;
    }
    *n = plist_array_get_size(v);
    if (*n > MF_PLIST_MAX_ENTRIES) {
        mf_plist_issue(&c->is, MF_SRC_MALFORMED, "%s has %u entries; only the first %d were read",
                       key, (unsigned)*n, MF_PLIST_MAX_ENTRIES);
        *n = MF_PLIST_MAX_ENTRIES;
    }
    return v;
}

bool mf_accounts_plist_has_accounts(plist_t root)
{
    return root && plist_get_node_type(root) == PLIST_DICT &&
           (plist_dict_get_item(root, "DeliveryAccounts") ||
            plist_dict_get_item(root, "MailAccounts"));
}

mf_code mf_accounts_plist_build(mf_report *r, int source_index, plist_t root, mf_error *err)
{
    ctx c = {.r = r, .src = source_index, .first_server = r->nservers};
    const char *path = source_index >= 0 && (size_t)source_index < r->nsources
                           ? r->sources[source_index].path
                           : "";
    mf_plist_issues_init(&c.is, path);
    mf_code rc = MF_OK;
    if (!root || plist_get_node_type(root) != PLIST_DICT) {
        mf_plist_issue(&c.is, MF_SRC_MALFORMED, "the top level is %s, expected a dict",
                       mf_plist_type_name(root));
        goto out;
    }
    uint32_t n;
    plist_t da = entries(&c, root, "DeliveryAccounts", &n);
    for (uint32_t i = 0; da && i < n; i++) {
        plist_t d = plist_array_get_item(da, i);
        if (!d || plist_get_node_type(d) != PLIST_DICT) {
            mf_plist_issue(&c.is, MF_SRC_MALFORMED, "DeliveryAccounts[%u] is %s, expected a dict",
                           (unsigned)i, mf_plist_type_name(d));
            continue;
        }
        if ((rc = add_server(&c, d, i)))
            return mf_error_set(err, rc, "out of memory");
    }
    plist_t ma = entries(&c, root, "MailAccounts", &n);
    for (uint32_t i = 0; ma && i < n; i++) {
        plist_t m = plist_array_get_item(ma, i);
        if (!m || plist_get_node_type(m) != PLIST_DICT) {
            mf_plist_issue(&c.is, MF_SRC_MALFORMED, "MailAccounts[%u] is %s, expected a dict",
                           (unsigned)i, mf_plist_type_name(m));
            continue;
        }
        if ((rc = add_account(&c, m)))
            return mf_error_set(err, rc, "out of memory");
    }
out:
    return mf_plist_issues_apply(&c.is, r, source_index, err);
}

mf_code mf_accounts_plist_parse(mf_report *r, int source_index, const char *data, size_t len,
                                mf_error *err)
{
    mf_error local;
    if (!err)
        err = &local;
    mf_error_clear(err);
    plist_t root = NULL;
    mf_code rc = mf_plist_parse(data, len, &root, err);
    if (rc == MF_ERR_NOMEM)
        return rc;
    if (rc != MF_OK) {
        mf_plist_issues is;
        const char *path = source_index >= 0 && (size_t)source_index < r->nsources
                               ? r->sources[source_index].path
                               : "";
        mf_plist_issues_init(&is, path);
        mf_plist_issue(&is, MF_SRC_MALFORMED, "%s", err->text);
        return mf_plist_issues_apply(&is, r, source_index, err);
    }
    rc = mf_accounts_plist_build(r, source_index, root, err);
    plist_free(root);
    return rc;
}

/* ---------------------------------------------------------------- scanning */

/* Record a file that could not be read: status from the read error. */
static mf_code record_failure(mf_report *r, const mf_home *home, const char *format,
                              const char *path, mf_code code, const mf_error *e)
{
    int idx;
    if (mf_report_add_source(r, home->user, CLIENT, format, path, &idx))
        return MF_ERR_NOMEM;
    mf_source_status st = MF_SRC_UNREADABLE;
    (void)mf_source_status_parse(mf_file_status_for(code), &st);
    char msg[MF_ERROR_FILE_MAX + MF_ERROR_TEXT_MAX + 64];
    mf_error_format(e, msg, sizeof(msg));
    mf_report_source_fail(r, idx, st, msg);
    return MF_OK;
}

/* Read one plist file into a source record. With only_if_accounts (the preferences
 * file), a readable plist without the account arrays gets no record at all: it is
 * ordinary Mail preferences, not a source of servers. */
static mf_code read_file(mf_report *r, const mf_home *home, const char *format, const char *path,
                         size_t cap, bool only_if_accounts)
{
    mf_error e;
    mf_error_clear(&e);
    char *data = NULL;
    size_t len = 0;
    mf_code rc = mf_file_read(path, cap, &data, &len, &e);
    if (rc == MF_ERR_NOMEM)
        return rc;
    if (rc != MF_OK)
        return record_failure(r, home, format, path, rc, &e);
    plist_t root = NULL;
    rc = mf_plist_parse(data, len, &root, &e);
    free(data);
    if (rc == MF_ERR_NOMEM)
        return rc;
    if (rc == MF_OK && only_if_accounts && !mf_accounts_plist_has_accounts(root)) {
        plist_free(root);
        return MF_OK;
    }
    int idx;
    if (mf_report_add_source(r, home->user, CLIENT, format, path, &idx)) {
        plist_free(root);
        return MF_ERR_NOMEM;
    }
    if (rc != MF_OK) {
        mf_error_set_file(&e, path);
        char msg[MF_ERROR_FILE_MAX + MF_ERROR_TEXT_MAX + 64];
        mf_error_format(&e, msg, sizeof(msg));
        mf_report_source_fail(r, idx, MF_SRC_MALFORMED, msg);
        mf_log_warn("%s", msg);
        return MF_OK;
    }
    mf_error_clear(&e);
    rc = mf_accounts_plist_build(r, idx, root, &e);
    plist_free(root);
    return rc == MF_ERR_NOMEM ? rc : MF_OK;
}

typedef struct vdir {
    long long num;
    char *name;
} vdir;

static int cmp_vdir(const void *a, const void *b)
{
    const vdir *x = a, *y = b;
    if (x->num != y->num)
        return x->num < y->num ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* "V" followed by 1 to 9 digits: Mail's data version folders. */
static bool version_dir_name(const char *name, long long *num)
{
    if (name[0] != 'V')
        return false;
    size_t n = strlen(name + 1);
    if (n < 1 || n > 9)
        return false;
    for (size_t i = 1; name[i]; i++)
        if (!isdigit((unsigned char)name[i]))
            return false;
    return mf_parse_long(name + 1, 0, 999999999, num) == MF_OK;
}

/* 1 when something is at path, 0 when nothing is, -1 (errno kept) when we cannot tell. */
static int path_state(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return 1;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

static mf_code record_errno(mf_report *r, const mf_home *home, const char *path, int e,
                            const char *what)
{
    int idx;
    if (mf_report_add_source(r, home->user, CLIENT, FORMAT_ACCOUNTS, path, &idx))
        return MF_ERR_NOMEM;
    char msg[MF_ERROR_FILE_MAX + 256];
    snprintf(msg, sizeof(msg), "%s: %s: %s%s", path, what, strerror(e),
             e == EPERM || e == EACCES ? " (on macOS the agent needs Full Disk Access)" : "");
    mf_report_source_fail(r, idx, MF_SRC_UNREADABLE, msg);
    mf_log_warn("%s", msg);
    return MF_OK;
}

static mf_code scan_mail_dir(mf_report *r, const mf_home *home, size_t cap)
{
    mf_code rc = MF_OK;
    char *mail = mf_path_join(home->path, "Library/Mail");
    if (!mail)
        return MF_ERR_NOMEM;
    vdir dirs[MAX_VERSION_DIRS];
    size_t nd = 0;
    DIR *d = opendir(mail);
    if (!d) {
        int e = errno;
        if (e != ENOENT && e != ENOTDIR)
            rc = record_errno(r, home, mail, e, "cannot list the Mail folder");
        free(mail);
        return rc;
    }
    struct dirent *de;
    long long num;
    while ((de = readdir(d))) {
        if (!version_dir_name(de->d_name, &num))
            continue;
        if (nd == MAX_VERSION_DIRS) {
            mf_log_warn("%s: more than %d V* folders; the rest are ignored", mail,
                        MAX_VERSION_DIRS);
            break;
        }
        dirs[nd].num = num;
        if (!(dirs[nd].name = mf_strdup(de->d_name))) {
            rc = MF_ERR_NOMEM;
            break;
        }
        nd++;
    }
    closedir(d);
    if (rc == MF_OK && nd)
        qsort(dirs, nd, sizeof(dirs[0]), cmp_vdir);
    for (size_t i = 0; rc == MF_OK && i < nd; i++) {
        char *rel = mf_asprintf("%s/MailData/Accounts.plist", dirs[i].name);
        char *path = rel ? mf_path_join(mail, rel) : NULL;
        free(rel);
        if (!path) {
            rc = MF_ERR_NOMEM;
            break;
        }
        int st = path_state(path);
        if (st > 0)
            rc = read_file(r, home, FORMAT_ACCOUNTS, path, cap, false);
        else if (st < 0)
            rc = record_errno(r, home, path, errno, "cannot look for the file");
        free(path);
    }
    for (size_t i = 0; i < nd; i++)
        free(dirs[i].name);
    free(mail);
    return rc;
}

static mf_code scan(mf_report *r, const mf_home *home, const mf_scan_opts *opts)
{
    size_t cap = opts && opts->file_cap ? opts->file_cap : MF_SOURCE_FILE_CAP;
    mf_code rc = scan_mail_dir(r, home, cap);
    if (rc != MF_OK)
        return rc;
    char *prefs = mf_path_join(home->path, "Library/Preferences/com.apple.mail.plist");
    if (!prefs)
        return MF_ERR_NOMEM;
    /* Unlike the Mail folder, an unreadable Preferences folder says nothing about mail:
     * only a file that is there is read. */
    if (path_state(prefs) > 0)
        rc = read_file(r, home, FORMAT_PREFS, prefs, cap, true);
    free(prefs);
    return rc;
}

const mf_source_ops mf_source_accounts_plist = {FORMAT_ACCOUNTS, CLIENT, scan};
