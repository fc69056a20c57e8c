/* source_profiles.c: configuration profiles (.mobileconfig) with Mail payloads.
 *
 * A profile is a plist (XML or binary) whose PayloadContent array holds payloads; it
 * may be wrapped in a CMS SignedData (DER, or PEM) when an MDM or Apple Configurator
 * signed it. We read two payload shapes:
 *  - com.apple.mail.managed (macOS 10.7+): OutgoingMailServer* keys;
 *  - com.apple.configuration.account.mail (the declarative form, macOS 13+): an
 *    OutgoingServer dict, here when it shows up inside a profile or as a bare
 *    declaration ({Type, Identifier, Payload}) converted to a plist.
 * Each payload gives one server and one account linked to it. Passwords
 * (OutgoingPassword, IncomingPassword) and credential asset references are never read.
 * OpenSSL is used here only to unwrap the signature; its errors stay in this file. */
#include "fileio.h"
#include "log.h"
#include "source.h"
#include "source_plist.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/pem.h> /* before cms.h: it declares PEM_read_bio_CMS only then */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CLIENT           "profile"
#define FORMAT_FILE      "mobileconfig"
#define FORMAT_DIR       "profiles-dir"
#define TYPE_MANAGED     "com.apple.mail.managed"
#define TYPE_DECLARATIVE "com.apple.configuration.account.mail"
/* Profiles read from one folder; more is not a real profiles folder. */
#define MAX_PROFILES 4096

/* ---------------------------------------------------------------- CMS */

/* The first OpenSSL error as text (or "no detail"), and the queue cleared so that
 * nothing leaks into the TLS code's error reporting. */
static const char *ssl_reason(char *buf, size_t bufsz)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, bufsz);
    else
        mf_strlcpy(buf, "no detail", bufsz);
    ERR_clear_error();
    return buf;
}

/* A plist starts with "bplist" or, after a BOM and white space, '<'. */
static bool looks_like_plist(const char *d, size_t len)
{
    if (len >= 6 && memcmp(d, "bplist", 6) == 0)
        return true;
    size_t i = 0;
    if (len >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && isspace((unsigned char)d[i]))
        i++;
    return i < len && d[i] == '<';
}

void mf_profile_body_free(mf_profile_body *b)
{
    if (!b)
        return;
    if (b->owned)
        free((char *)b->data);
    memset(b, 0, sizeof(*b));
}

mf_code mf_profile_unwrap(mf_profile_body *out, const char *data, size_t len, mf_error *err)
{
    memset(out, 0, sizeof(*out));
    if (looks_like_plist(data, len)) {
        out->data = data;
        out->len = len;
        return MF_OK;
    }
    bool pem = len >= 11 && memcmp(data, "-----BEGIN ", 11) == 0;
    if (!pem && (len < 2 || (unsigned char)data[0] != 0x30))
        return mf_error_set(err, MF_ERR_PARSE,
                            "neither a property list nor a signed (CMS) profile");
    if (len > INT_MAX)
        return mf_error_set(err, MF_ERR_TOOBIG, "signed profile of %zu bytes is too large", len);
    mf_code rc = MF_OK;
    char reason[256];
    CMS_ContentInfo *cms = NULL;
    char *copy = NULL;
    ERR_clear_error();
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (!bio) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    cms = pem ? PEM_read_bio_CMS(bio, NULL, NULL, NULL) : d2i_CMS_bio(bio, NULL);
    if (!cms) {
        rc = mf_error_set(err, MF_ERR_PARSE, "not a valid signed (CMS) profile: %s",
                          ssl_reason(reason, sizeof(reason)));
        goto out;
    }
    int nid = OBJ_obj2nid(CMS_get0_type(cms));
    if (nid != NID_pkcs7_signed) {
        rc = mf_error_set(err, MF_ERR_UNSUPPORTED,
                          "the profile is CMS %s, not SignedData: an encrypted profile "
                          "cannot be read",
                          nid == NID_undef ? "of an unknown type" : OBJ_nid2sn(nid));
        goto out;
    }
    ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
    if (!pos || !*pos) {
        rc = mf_error_set(err, MF_ERR_UNSUPPORTED,
                          "the signed profile does not embed its content (detached signature)");
        goto out;
    }
    int n = ASN1_STRING_length(*pos);
    const unsigned char *p = ASN1_STRING_get0_data(*pos);
    if (n <= 0 || !p) {
        rc = mf_error_set(err, MF_ERR_PARSE, "the signed profile's content is empty");
        goto out;
    }
    copy = malloc((size_t)n);
    if (!copy) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(copy, p, (size_t)n);
    /* Integrity only: the signer is not checked against a trust store (profiles are
     * audited for their settings, whoever signed them). */
    out->signature_ok =
        CMS_verify(cms, NULL, NULL, NULL, NULL, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) == 1;
    if (!out->signature_ok)
        mf_log_debug("CMS_verify: %s", ssl_reason(reason, sizeof(reason)));
    out->data = copy;
    out->len = (size_t)n;
    out->owned = true;
    out->is_signed = true;
    copy = NULL;
out:
    free(copy);
    CMS_ContentInfo_free(cms);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* ---------------------------------------------------------------- payloads */

typedef struct ctx {
    mf_report *r;
    int src;
    mf_plist_issues is;
} ctx;

static bool read_port(ctx *c, plist_t d, const char *where, const char *key, int *port)
{
    return mf_plist_port(d, key, c->is.path, where, port);
}

static mf_auth managed_auth(const char *raw)
{
    static const struct {
        const char *raw;
        mf_auth auth;
    } map[] = {
        {"EmailAuthNone", MF_AUTH_NONE},
        {"EmailAuthPassword", MF_AUTH_PASSWORD},
        {"EmailAuthCRAMMD5", MF_AUTH_PASSWORD_ENCRYPTED},
        {"EmailAuthHTTPMD5", MF_AUTH_PASSWORD_ENCRYPTED},
        {"EmailAuthNTLM", MF_AUTH_NTLM},
        /* The declarative form's words. */
        {"None", MF_AUTH_NONE},
        {"Password", MF_AUTH_PASSWORD},
        {"CRAMMD5", MF_AUTH_PASSWORD_ENCRYPTED},
        {"HTTPMD5", MF_AUTH_PASSWORD_ENCRYPTED},
        {"NTLM", MF_AUTH_NTLM},
    };
    for (size_t i = 0; raw && i < MF_ARRAY_LEN(map); i++)
        if (strcmp(raw, map[i].raw) == 0)
            return map[i].auth;
    return MF_AUTH_UNKNOWN;
}

static const char *account_type(const char *raw)
{
    if (raw && (strcmp(raw, "EmailTypeIMAP") == 0 || strcmp(raw, "IMAP") == 0))
        return "imap";
    if (raw && (strcmp(raw, "EmailTypePOP") == 0 || strcmp(raw, "POP") == 0))
        return "pop";
    return "other";
}

/* The server and the account of one payload, from values already picked out. */
typedef struct payload {
    plist_t host_dict;    /* dict holding the host name key */
    const char *host_key; /* OutgoingMailServerHostName or HostName */
    plist_t user_dict;    /* dict holding the user name key, or NULL */
    const char *user_key;
    plist_t desc_dict; /* dict holding the description key */
    const char *desc_key;
    plist_t email_dict; /* dict holding the address key, or NULL */
    const char *email_key;
    const char *identifier;  /* PayloadUUID / Identifier, raw */
    const char *type;        /* account type word */
    int port;                /* 0: not stored */
    bool use_ssl, ssl_known; /* ssl_known false: no SSL setting exists (declarative) */
    mf_auth auth;
} payload;

static mf_code add_payload(ctx *c, const payload *p)
{
    mf_code rc;
    char *host = NULL;
    mf_server *s = mf_report_add_server(c->r, c->src);
    if (!s)
        return MF_ERR_NOMEM;
    if ((rc = mf_plist_text_at(&host, p->host_dict, p->host_key, false)))
        return rc;
    rc = mf_server_set_hostname(s, host);
    if (rc) {
        free(host);
        return rc;
    }
    if (!s->hostname)
        s->flags |= MF_FLAG_NO_HOSTNAME;
    if (p->user_dict && (rc = mf_plist_text_at(&s->username, p->user_dict, p->user_key, true)))
        goto out;
    if ((rc = mf_plist_text_at(&s->description, p->desc_dict, p->desc_key, true)))
        goto out;
    if (p->identifier && !(s->identifier = mf_plist_text(p->identifier, MF_PLIST_TEXT_MAX))) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    if (!p->ssl_known)
        s->security = MF_SEC_UNKNOWN;
    else if (!p->use_ssl)
        s->security = MF_SEC_NONE;
    else
        s->security = p->port == 465 ? MF_SEC_TLS : MF_SEC_STARTTLS;
    if (p->port) {
        s->port = p->port;
    } else {
        s->port = mf_default_port(s->security);
        s->flags |= MF_FLAG_DEFAULT_PORT;
    }
    s->auth = p->auth;
    char *sid = mf_strdup(s->id);
    if (!sid) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    mf_account *a = mf_report_add_account(c->r, c->src);
    if (!a) {
        free(sid);
        rc = MF_ERR_NOMEM;
        goto out;
    }
    a->smtp = sid;
    a->smtp_ref = host; /* the host name as the payload states it */
    host = NULL;
    if (!(a->type = mf_strdup(p->type))) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    if ((rc = mf_plist_text_at(&a->description, p->desc_dict, p->desc_key, true)))
        goto out;
    if (p->email_dict &&
        (rc = mf_plist_strv_at(&a->emails, p->email_dict, p->email_key, MF_PLIST_MAX_EMAILS)))
        goto out;
out:
    free(host);
    return rc;
}

static mf_code managed_payload(ctx *c, plist_t d, const char *where)
{
    payload p = {
        .host_dict = d,
        .host_key = "OutgoingMailServerHostName",
        .user_dict = d,
        .user_key = "OutgoingMailServerUsername",
        .desc_dict = d,
        .desc_key = "EmailAccountDescription",
        .email_dict = d,
        .email_key = "EmailAddress",
        .identifier = mf_plist_str(d, "PayloadUUID"),
        .type = account_type(mf_plist_str(d, "EmailAccountType")),
        .ssl_known = true,
        .auth = managed_auth(mf_plist_str(d, "OutgoingMailServerAuthentication")),
    };
    if (!p.identifier)
        p.identifier = mf_plist_str(d, "PayloadIdentifier");
    (void)read_port(c, d, where, "OutgoingMailServerPortNumber", &p.port);
    /* Absent means false (Apple's documented default). */
    if (mf_plist_has(d, "OutgoingMailServerUseSSL") &&
        !mf_plist_bool(d, "OutgoingMailServerUseSSL", &p.use_ssl)) {
        mf_log_warn("%s: %s.OutgoingMailServerUseSSL: not a boolean; security unknown", c->is.path,
                    where);
        p.ssl_known = false;
    }
    if (!mf_plist_str(d, "OutgoingMailServerHostName"))
        mf_log_warn("%s: %s: no OutgoingMailServerHostName", c->is.path, where);
    return add_payload(c, &p);
}

/* decl is the declaration's payload dict (VisibleName, IncomingServer, OutgoingServer);
 * ident its Identifier, if known. */
static mf_code declarative_payload(ctx *c, plist_t decl, const char *ident, const char *where)
{
    plist_t out = mf_plist_dict(decl, "OutgoingServer");
    if (!out) {
        mf_plist_issue(&c->is, MF_SRC_MALFORMED, "%s.OutgoingServer is %s, expected a dict", where,
                       mf_plist_type_name(plist_dict_get_item(decl, "OutgoingServer")));
        return MF_OK;
    }
    plist_t in = mf_plist_dict(decl, "IncomingServer");
    char owhere[128];
    snprintf(owhere, sizeof(owhere), "%s.OutgoingServer", where);
    payload p = {
        .host_dict = out,
        .host_key = "HostName",
        .desc_dict = decl,
        .desc_key = "VisibleName",
        .identifier = ident,
        .type = account_type(mf_plist_str(in, "ServerType")),
        .ssl_known = false, /* the declaration has no TLS setting */
        .auth = managed_auth(mf_plist_str(out, "AuthenticationMethod")),
    };
    (void)read_port(c, out, owhere, "Port", &p.port);
    return add_payload(c, &p);
}

static mf_code one_payload(ctx *c, plist_t d, const char *where)
{
    const char *type = mf_plist_str(d, "PayloadType");
    if (type && strcmp(type, TYPE_MANAGED) == 0)
        return managed_payload(c, d, where);
    if (type && strcmp(type, TYPE_DECLARATIVE) == 0) {
        /* Either the keys sit in the payload itself or under Payload. */
        plist_t inner = mf_plist_dict(d, "Payload");
        const char *ident = mf_plist_str(d, "PayloadUUID");
        return declarative_payload(c, inner ? inner : d, ident, where);
    }
    return MF_OK; /* some other payload: not ours */
}

static mf_code profile_build(ctx *c, plist_t root)
{
    if (plist_get_node_type(root) != PLIST_DICT) {
        mf_plist_issue(&c->is, MF_SRC_MALFORMED, "the top level is %s, expected a dict",
                       mf_plist_type_name(root));
        return MF_OK;
    }
    /* A bare declaration: {Type, Identifier, Payload}. */
    const char *dtype = mf_plist_str(root, "Type");
    if (dtype && strcmp(dtype, TYPE_DECLARATIVE) == 0) {
        plist_t inner = mf_plist_dict(root, "Payload");
        if (!inner) {
            mf_plist_issue(&c->is, MF_SRC_MALFORMED, "Payload is %s, expected a dict",
                           mf_plist_type_name(plist_dict_get_item(root, "Payload")));
            return MF_OK;
        }
        return declarative_payload(c, inner, mf_plist_str(root, "Identifier"), "Payload");
    }
    plist_t content = plist_dict_get_item(root, "PayloadContent");
    if (!content) {
        if (plist_dict_get_item(root, "EncryptedPayloadContent")) {
            mf_plist_issue(&c->is, MF_SRC_UNREADABLE,
                           "the payloads are encrypted (EncryptedPayloadContent) and can "
                           "only be read by the device they were made for");
            return MF_OK;
        }
        /* A payload on its own, outside a profile. */
        return one_payload(c, root, "(top level)");
    }
    if (plist_get_node_type(content) != PLIST_ARRAY) {
        mf_plist_issue(&c->is, MF_SRC_MALFORMED, "PayloadContent is %s, expected an array",
                       mf_plist_type_name(content));
        return MF_OK;
    }
    uint32_t n = plist_array_get_size(content);
    if (n > MF_PLIST_MAX_ENTRIES) {
        mf_plist_issue(&c->is, MF_SRC_MALFORMED,
                       "PayloadContent has %u entries; only the first %d were read", (unsigned)n,
                       MF_PLIST_MAX_ENTRIES);
        n = MF_PLIST_MAX_ENTRIES;
    }
    for (uint32_t i = 0; i < n; i++) {
        char where[64];
        snprintf(where, sizeof(where), "PayloadContent[%u]", (unsigned)i);
        plist_t d = plist_array_get_item(content, i);
        if (!d || plist_get_node_type(d) != PLIST_DICT) {
            mf_plist_issue(&c->is, MF_SRC_MALFORMED, "%s is %s, expected a dict", where,
                           mf_plist_type_name(d));
            continue;
        }
        mf_code rc = one_payload(c, d, where);
        if (rc)
            return rc;
    }
    return MF_OK;
}

mf_code mf_profile_parse(mf_report *r, int source_index, const char *data, size_t len,
                         mf_error *err)
{
    mf_error local;
    if (!err)
        err = &local;
    mf_error_clear(err);
    ctx c = {.r = r, .src = source_index};
    mf_plist_issues_init(&c.is, source_index >= 0 && (size_t)source_index < r->nsources
                                    ? r->sources[source_index].path
                                    : "");
    mf_profile_body body;
    plist_t root = NULL;
    mf_code rc = mf_profile_unwrap(&body, data, len, err);
    if (rc == MF_ERR_NOMEM)
        goto out;
    if (rc != MF_OK) {
        mf_plist_issue(&c.is, rc == MF_ERR_UNSUPPORTED ? MF_SRC_UNREADABLE : MF_SRC_MALFORMED, "%s",
                       err->text);
        rc = MF_OK;
        goto out;
    }
    if (body.is_signed && body.signature_ok)
        mf_log_info("%s: signed profile: the signature matches the content; the signer's "
                    "certificate was not verified",
                    c.is.path);
    else if (body.is_signed)
        mf_log_warn("%s: signed profile: the signature does not match the content; reading "
                    "it anyway",
                    c.is.path);
    rc = mf_plist_parse(body.data, body.len, &root, err);
    if (rc == MF_ERR_NOMEM)
        goto out;
    if (rc != MF_OK) {
        mf_plist_issue(&c.is, MF_SRC_MALFORMED, "%s%s", body.is_signed ? "signed content: " : "",
                       err->text);
        rc = MF_OK;
        goto out;
    }
    rc = profile_build(&c, root);
out:
    plist_free(root);
    mf_profile_body_free(&body);
    if (rc == MF_ERR_NOMEM)
        return mf_error_set(err, rc, "out of memory");
    mf_error_clear(err);
    return mf_plist_issues_apply(&c.is, r, source_index, err);
}

/* ---------------------------------------------------------------- scanning */

mf_code mf_profiles_scan_file(mf_report *r, const char *path, const mf_scan_opts *opts)
{
    size_t cap = opts && opts->file_cap ? opts->file_cap : MF_SOURCE_FILE_CAP;
    int idx;
    if (mf_report_add_source(r, "", CLIENT, FORMAT_FILE, path, &idx))
        return MF_ERR_NOMEM;
    mf_error e;
    mf_error_clear(&e);
    char *data = NULL;
    size_t len = 0;
    mf_code rc = mf_file_read(path, cap, &data, &len, &e);
    if (rc == MF_ERR_NOMEM)
        return rc;
    if (rc != MF_OK) {
        mf_source_status st = MF_SRC_UNREADABLE;
        (void)mf_source_status_parse(mf_file_status_for(rc), &st);
        char msg[MF_ERROR_FILE_MAX + MF_ERROR_TEXT_MAX + 64];
        mf_error_format(&e, msg, sizeof(msg));
        mf_report_source_fail(r, idx, st, msg);
        mf_log_warn("%s", msg);
        return MF_OK;
    }
    rc = mf_profile_parse(r, idx, data, len, &e);
    free(data);
    return rc == MF_ERR_NOMEM ? rc : MF_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

mf_code mf_profiles_scan_dir(mf_report *r, const char *dir, const mf_scan_opts *opts)
{
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        int idx;
        if (mf_report_add_source(r, "", CLIENT, FORMAT_DIR, dir, &idx))
            return MF_ERR_NOMEM;
        char msg[MF_ERROR_FILE_MAX + 128];
        snprintf(msg, sizeof(msg), "%s: cannot list the profiles folder: %s", dir,
                 e == ENOTDIR ? "not a folder" : strerror(e));
        mf_report_source_fail(r, idx, e == ENOENT ? MF_SRC_MISSING : MF_SRC_UNREADABLE, msg);
        mf_log_warn("%s", msg);
        return MF_OK;
    }
    mf_strv names = {0};
    mf_code rc = MF_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        size_t n = strlen(de->d_name);
        if (n < 13 || strcasecmp(de->d_name + n - 13, ".mobileconfig") != 0)
            continue;
        if (names.n == MAX_PROFILES) {
            mf_log_warn("%s: more than %d profiles; the rest are ignored", dir, MAX_PROFILES);
            break;
        }
        if ((rc = mf_strv_push(&names, de->d_name)))
            break;
    }
    closedir(d);
    if (rc == MF_OK && names.n)
        qsort(names.v, names.n, sizeof(char *), cmp_str);
    for (size_t i = 0; rc == MF_OK && i < names.n; i++) {
        char *path = mf_path_join(dir, names.v[i]);
        if (!path) {
            rc = MF_ERR_NOMEM;
            break;
        }
        rc = mf_profiles_scan_file(r, path, opts);
        free(path);
    }
    mf_strv_free(&names);
    return rc;
}
