/* source_mailmate.c: MailMate's outgoing servers,
 * ~/Library/Application Support/MailMate/Submission.plist: an smtpServers array of
 * dicts with serverURL (smtp://user@host or smtps://user@host[:port]) and port (a
 * string or a number).
 *
 * MailMate keeps its IMAP accounts in another file and the link between an account
 * and its SMTP server is not in Submission.plist. Rather than report every MailMate
 * server as unused (a finding we cannot back), each server gets one implied account
 * of type "other" (see docs/sources.md). */
#include "fileio.h"
#include "log.h"
#include "source.h"
#include "source_plist.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define FORMAT  "submission-plist"
#define CLIENT  "mailmate"
#define URL_MAX 2048

/* ---------------------------------------------------------------- URLs */

void mf_smtp_url_clear(mf_smtp_url *u)
{
    if (!u)
        return;
    free(u->scheme);
    free(u->user);
    free(u->host);
    free(u->safe);
    memset(u, 0, sizeof(*u));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode p[0..n) into a new string. A '%' not followed by two hex digits is
 * kept as it is. MF_ERR_PARSE when the result would hold a NUL byte. */
static mf_code pct_decode(const char *p, size_t n, char **out)
{
    *out = NULL;
    char *s = malloc(n + 1);
    if (!s)
        return MF_ERR_NOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)p[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)p[i + 2])) >= 0) {
            char c = (char)(hi * 16 + lo);
            if (c == '\0') {
                free(s);
                return MF_ERR_PARSE;
            }
            s[o++] = c;
            i += 2;
        } else {
            s[o++] = p[i];
        }
    }
    s[o] = '\0';
    *out = s;
    return MF_OK;
}

mf_code mf_smtp_url_parse(mf_smtp_url *out, const char *url, mf_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!url)
        return mf_error_set(err, MF_ERR_PARSE, "no URL");
    size_t len = strnlen(url, URL_MAX + 1);
    if (len > URL_MAX)
        return mf_error_set(err, MF_ERR_PARSE, "URL longer than %d bytes", URL_MAX);
    const char *sep = strstr(url, "://");
    if (!sep)
        return mf_error_set(err, MF_ERR_PARSE, "not a URL (no \"://\")");
    size_t sl = (size_t)(sep - url);
    if (sl == 4 && strncasecmp(url, "smtp", 4) == 0)
        out->scheme = mf_strdup("smtp");
    else if (sl == 5 && strncasecmp(url, "smtps", 5) == 0)
        out->scheme = mf_strdup("smtps");
    else
        return mf_error_set(err, MF_ERR_PARSE, "unsupported URL scheme \"%.*s\"",
                            (int)(sl > 16 ? 16 : sl), url);
    if (!out->scheme)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");

    /* The authority ends at the path, query or fragment. */
    const char *auth = sep + 3;
    size_t al = strcspn(auth, "/?#");
    /* The user part ends at the last '@', so an unencoded '@' in it survives. */
    const char *at = NULL;
    for (size_t i = 0; i < al; i++)
        if (auth[i] == '@')
            at = auth + i;
    const char *hp = auth;
    size_t userlen = 0; /* raw user name, without ":password" */
    if (at) {
        size_t uil = (size_t)(at - auth);
        const char *colon = memchr(auth, ':', uil);
        userlen = colon ? (size_t)(colon - auth) : uil;
        out->had_password = colon != NULL;
        hp = at + 1;
        if (userlen) {
            char *dec = NULL;
            mf_code rc = pct_decode(auth, userlen, &dec);
            if (rc == MF_ERR_NOMEM)
                return mf_error_set(err, rc, "out of memory");
            if (rc)
                return mf_error_set(err, MF_ERR_PARSE, "the user name holds a NUL byte (%%00)");
            out->user = mf_plist_text(dec, MF_PLIST_TEXT_MAX);
            free(dec);
            if (!out->user)
                return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        }
    }
    size_t hpl = (size_t)(auth + al - hp);
    const char *host = hp, *portp = NULL;
    size_t hl;
    if (hpl && hp[0] == '[') {
        const char *close = memchr(hp, ']', hpl);
        if (!close)
            return mf_error_set(err, MF_ERR_PARSE, "unterminated IPv6 address in the URL");
        host = hp + 1;
        hl = (size_t)(close - host);
        const char *rest = close + 1;
        if (rest < hp + hpl) {
            if (*rest != ':')
                return mf_error_set(err, MF_ERR_PARSE, "unexpected text after the IPv6 address");
            portp = rest + 1;
        }
    } else {
        const char *colon = memchr(hp, ':', hpl);
        hl = colon ? (size_t)(colon - hp) : hpl;
        if (colon)
            portp = colon + 1;
    }
    if (hl == 0)
        return mf_error_set(err, MF_ERR_PARSE, "the URL has no host name");
    if (portp && portp < hp + hpl) {
        char buf[8];
        size_t pl = (size_t)(hp + hpl - portp);
        long long v;
        if (pl >= sizeof(buf))
            return mf_error_set(err, MF_ERR_PARSE, "bad port in the URL");
        memcpy(buf, portp, pl);
        buf[pl] = '\0';
        if (mf_parse_long(buf, 1, 65535, &v) != MF_OK || buf[0] == '+' || buf[0] == '-')
            return mf_error_set(err, MF_ERR_PARSE, "bad port \"%s\" in the URL", buf);
        out->port = (int)v;
    }
    char *h = mf_strndup(host, hl);
    if (!h)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    out->host = mf_plist_text(h, MF_PLIST_TEXT_MAX);
    free(h);
    /* The safe form: scheme://user@hostport as written, nothing after the authority. */
    char *safe = mf_asprintf("%s://%.*s%s%.*s", out->scheme, (int)userlen, auth, userlen ? "@" : "",
                             (int)hpl, hp);
    out->safe = safe ? mf_plist_text(safe, MF_PLIST_TEXT_MAX) : NULL;
    free(safe);
    if (!out->host || !out->safe)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    return MF_OK;
}

/* ---------------------------------------------------------------- the file */

/* local@domain.tld with no white space: worth listing as the account's address. */
static bool looks_like_address(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return false;
    const char *dot = strchr(at + 1, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return false;
    return true;
}

static mf_code add_entry(mf_report *r, int src, mf_plist_issues *is, plist_t d, uint32_t i)
{
    const char *url = mf_plist_str(d, "serverURL");
    if (!url) {
        mf_plist_issue(is, MF_SRC_MALFORMED, "smtpServers[%u].serverURL is %s, expected a string",
                       (unsigned)i, mf_plist_type_name(plist_dict_get_item(d, "serverURL")));
        return MF_OK;
    }
    mf_smtp_url u;
    mf_error e;
    mf_error_clear(&e);
    mf_code rc = mf_smtp_url_parse(&u, url, &e);
    if (rc == MF_ERR_NOMEM) {
        mf_smtp_url_clear(&u);
        return rc;
    }
    if (rc != MF_OK) {
        mf_plist_issue(is, MF_SRC_MALFORMED, "smtpServers[%u].serverURL: %s", (unsigned)i, e.text);
        mf_smtp_url_clear(&u);
        return MF_OK;
    }
    if (u.had_password)
        mf_log_warn("%s: smtpServers[%u].serverURL holds a password; it is not reported", is->path,
                    (unsigned)i);
    rc = MF_ERR_NOMEM;
    mf_server *s = mf_report_add_server(r, src);
    if (!s || mf_server_set_hostname(s, u.host))
        goto out;
    if (!s->hostname)
        s->flags |= MF_FLAG_NO_HOSTNAME;
    if (u.user && !(s->username = mf_strdup(u.user)))
        goto out;
    if (!(s->identifier = mf_strdup(u.safe)))
        goto out;
    s->security = strcmp(u.scheme, "smtps") == 0 ? MF_SEC_TLS : MF_SEC_UNKNOWN;
    /* The mechanism is not stored: MailMate picks one from what the server offers. */
    s->auth = u.user ? MF_AUTH_UNKNOWN : MF_AUTH_NONE;
    long long port = 0;
    if (mf_plist_has(d, "port") &&
        !(mf_plist_int(d, "port", &port) && port >= 1 && port <= 65535)) {
        mf_log_warn("%s: smtpServers[%u].port: not a port number; ignored", is->path, (unsigned)i);
        port = 0;
    }
    if (port && u.port && port != u.port)
        mf_log_warn("%s: smtpServers[%u]: port %lld differs from the URL's %d; using %lld",
                    is->path, (unsigned)i, port, u.port, port);
    if (!port)
        port = u.port;
    if (port) {
        s->port = (int)port;
    } else {
        s->port = mf_default_port(s->security);
        s->flags |= MF_FLAG_DEFAULT_PORT;
    }
    char *sid = mf_strdup(s->id);
    if (!sid)
        goto out;
    mf_account *a = mf_report_add_account(r, src);
    if (!a) {
        free(sid);
        goto out;
    }
    a->smtp = sid;
    if (!(a->type = mf_strdup("other")) ||
        !(a->description = mf_strdup("implied: MailMate does not store which account uses "
                                     "this server")) ||
        !(a->smtp_ref = mf_strdup(u.safe)))
        goto out;
    if (u.user && looks_like_address(u.user) && mf_strv_push(&a->emails, u.user))
        goto out;
    rc = MF_OK;
out:
    mf_smtp_url_clear(&u);
    return rc;
}

mf_code mf_mailmate_parse(mf_report *r, int source_index, const char *data, size_t len,
                          mf_error *err)
{
    mf_error local;
    if (!err)
        err = &local;
    mf_error_clear(err);
    mf_plist_issues is;
    mf_plist_issues_init(&is, source_index >= 0 && (size_t)source_index < r->nsources
                                  ? r->sources[source_index].path
                                  : "");
    plist_t root = NULL;
    mf_code rc = mf_plist_parse(data, len, &root, err);
    if (rc == MF_ERR_NOMEM)
        return rc;
    if (rc != MF_OK) {
        mf_plist_issue(&is, MF_SRC_MALFORMED, "%s", err->text);
        goto out;
    }
    if (plist_get_node_type(root) != PLIST_DICT) {
        mf_plist_issue(&is, MF_SRC_MALFORMED, "the top level is %s, expected a dict",
                       mf_plist_type_name(root));
        goto out;
    }
    plist_t arr = plist_dict_get_item(root, "smtpServers");
    if (!arr)
        goto out;
    if (plist_get_node_type(arr) != PLIST_ARRAY) {
        mf_plist_issue(&is, MF_SRC_MALFORMED, "smtpServers is %s, expected an array",
                       mf_plist_type_name(arr));
        goto out;
    }
    uint32_t n = plist_array_get_size(arr);
    if (n > MF_PLIST_MAX_ENTRIES) {
        mf_plist_issue(&is, MF_SRC_MALFORMED,
                       "smtpServers has %u entries; only the first %d were read", (unsigned)n,
                       MF_PLIST_MAX_ENTRIES);
        n = MF_PLIST_MAX_ENTRIES;
    }
    for (uint32_t i = 0; i < n; i++) {
        plist_t d = plist_array_get_item(arr, i);
        if (!d || plist_get_node_type(d) != PLIST_DICT) {
            mf_plist_issue(&is, MF_SRC_MALFORMED, "smtpServers[%u] is %s, expected a dict",
                           (unsigned)i, mf_plist_type_name(d));
            continue;
        }
        if ((rc = add_entry(r, source_index, &is, d, i))) {
            plist_free(root);
            return mf_error_set(err, rc, "out of memory");
        }
    }
out:
    plist_free(root);
    mf_error_clear(err);
    return mf_plist_issues_apply(&is, r, source_index, err);
}

/* ---------------------------------------------------------------- scanning */

static mf_code scan(mf_report *r, const mf_home *home, const mf_scan_opts *opts)
{
    size_t cap = opts && opts->file_cap ? opts->file_cap : MF_SOURCE_FILE_CAP;
    char *path = mf_path_join(home->path, "Library/Application Support/MailMate/Submission.plist");
    if (!path)
        return MF_ERR_NOMEM;
    mf_code rc = MF_OK;
    struct stat st;
    if (lstat(path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR))
        goto out; /* no MailMate here */
    int idx;
    if ((rc = mf_report_add_source(r, home->user, CLIENT, FORMAT, path, &idx)))
        goto out;
    mf_error e;
    mf_error_clear(&e);
    char *data = NULL;
    size_t len = 0;
    mf_code frc = mf_file_read(path, cap, &data, &len, &e);
    if (frc == MF_ERR_NOMEM) {
        rc = frc;
        goto out;
    }
    if (frc != MF_OK) {
        mf_source_status status = MF_SRC_UNREADABLE;
        (void)mf_source_status_parse(mf_file_status_for(frc), &status);
        char msg[MF_ERROR_FILE_MAX + MF_ERROR_TEXT_MAX + 64];
        mf_error_format(&e, msg, sizeof(msg));
        mf_report_source_fail(r, idx, status, msg);
        mf_log_warn("%s", msg);
        goto out;
    }
    frc = mf_mailmate_parse(r, idx, data, len, &e);
    free(data);
    if (frc == MF_ERR_NOMEM)
        rc = frc;
out:
    free(path);
    return rc;
}

const mf_source_ops mf_source_mailmate = {FORMAT, CLIENT, scan};
