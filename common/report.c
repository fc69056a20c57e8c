#include "report.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const security_names[MF_SEC__COUNT] = {
    "unknown", "none", "starttls-optional", "starttls", "tls",
};
static const char *const auth_names[MF_AUTH__COUNT] = {
    "unknown", "none",   "password",    "password-encrypted", "ntlm",
    "gssapi",  "oauth2", "client-cert", "apple-token",        "any",
};
static const char *const status_names[MF_SRC__COUNT] = {
    "ok", "missing", "unreadable", "malformed", "too-large",
};
static const char *const outcome_names[MF_OUT__COUNT] = {
    "ok",
    "dns-nxdomain",
    "dns-error",
    "connect-refused",
    "connect-timeout",
    "network-unreachable",
    "timeout",
    "smtp-rejected",
    "protocol-error",
    "starttls-not-offered",
    "starttls-rejected",
    "tls-handshake-failed",
    "cert-untrusted",
    "cert-self-signed",
    "cert-expired",
    "cert-not-yet-valid",
    "cert-hostname-mismatch",
    "connection-closed",
    "probe-error",
    "skipped",
};
static const char *const phase_names[MF_PHASE__COUNT] = {
    "dns", "connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "quit",
};
static const char *const flag_names[] = {
    "unused",          "duplicate",        "hostname-whitespace", "plaintext",
    "cleartext-auth",  "port-25",          "dangling",            "hostname-case",
    "provider-managed", "starttls-optional", "no-hostname",        "default-port",
};

#define NAME_FN(fn, type, table, count)                                                           \
    const char *fn##_name(type v)                                                                 \
    {                                                                                             \
        if ((int)v < 0 || (int)v >= (int)(count))                                                \
            return table[0];                                                                      \
        return table[v];                                                                          \
    }                                                                                             \
    bool fn##_parse(const char *s, type *out)                                                     \
    {                                                                                             \
        if (!s)                                                                                   \
            return false;                                                                         \
        for (int i = 0; i < (int)(count); i++)                                                    \
            if (strcmp(table[i], s) == 0) {                                                       \
                *out = (type)i;                                                                   \
                return true;                                                                      \
            }                                                                                     \
        return false;                                                                             \
    }

NAME_FN(mf_security, mf_security, security_names, MF_SEC__COUNT)
NAME_FN(mf_auth, mf_auth, auth_names, MF_AUTH__COUNT)
NAME_FN(mf_source_status, mf_source_status, status_names, MF_SRC__COUNT)
NAME_FN(mf_outcome, mf_outcome, outcome_names, MF_OUT__COUNT)
NAME_FN(mf_phase, mf_phase, phase_names, MF_PHASE__COUNT)

const char *mf_flag_name(unsigned bit)
{
    for (unsigned i = 0; i < MF_ARRAY_LEN(flag_names); i++)
        if (bit == (1u << i))
            return flag_names[i];
    return NULL;
}

bool mf_flag_parse(const char *s, unsigned *bit_out)
{
    for (unsigned i = 0; s && i < MF_ARRAY_LEN(flag_names); i++)
        if (strcmp(flag_names[i], s) == 0) {
            *bit_out = 1u << i;
            return true;
        }
    return false;
}

int mf_default_port(mf_security sec)
{
    return sec == MF_SEC_TLS ? 465 : 587;
}

bool mf_outcome_is_cert(mf_outcome o)
{
    return o >= MF_OUT_CERT_UNTRUSTED && o <= MF_OUT_CERT_HOSTNAME_MISMATCH;
}

mf_report *mf_report_new(void)
{
    mf_report *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (mf_uuid_v4(r->report_id) != MF_OK) {
        free(r);
        return NULL;
    }
    mf_time_now_rfc3339(r->collected_at, sizeof(r->collected_at));
    r->agent_version = mf_strdup(MAILFLEET_VERSION);
    if (!r->agent_version) {
        free(r);
        return NULL;
    }
    return r;
}

static void cert_free(mf_cert *c)
{
    free(c->subject);
    free(c->issuer);
    mf_strv_free(&c->san);
    free(c->not_before);
    free(c->not_after);
    free(c->sha256);
}

static void probe_free(mf_probe *p)
{
    free(p->hostname);
    mf_strv_free(&p->servers);
    free(p->detail);
    free(p->address);
    free(p->banner);
    mf_strv_free(&p->ehlo);
    mf_strv_free(&p->ehlo_tls);
    mf_strv_free(&p->auth_before_tls);
    mf_strv_free(&p->auth);
    free(p->tls.version);
    free(p->tls.cipher);
    free(p->tls.verify_error);
    free(p->tls.alert);
    cert_free(&p->tls.cert);
}

void mf_report_free(mf_report *r)
{
    if (!r)
        return;
    free(r->agent_version);
    free(r->host.id);
    free(r->host.hostname);
    free(r->host.os_name);
    free(r->host.os_version);
    for (size_t i = 0; i < r->nsources; i++) {
        mf_source *s = &r->sources[i];
        free(s->user);
        free(s->client);
        free(s->format);
        free(s->path);
        free(s->error);
    }
    free(r->sources);
    for (size_t i = 0; i < r->nservers; i++) {
        mf_server *s = &r->servers[i];
        free(s->id);
        free(s->user);
        free(s->client);
        free(s->hostname);
        free(s->hostname_raw);
        free(s->provider);
        free(s->username);
        free(s->description);
        free(s->identifier);
        mf_strv_free(&s->used_by);
    }
    free(r->servers);
    for (size_t i = 0; i < r->naccounts; i++) {
        mf_account *a = &r->accounts[i];
        free(a->id);
        free(a->user);
        free(a->client);
        free(a->type);
        free(a->description);
        mf_strv_free(&a->emails);
        free(a->smtp);
        free(a->smtp_ref);
    }
    free(r->accounts);
    for (size_t i = 0; i < r->nprobes; i++)
        probe_free(&r->probes[i]);
    free(r->probes);
    free(r);
}

mf_code mf_report_add_source(mf_report *r, const char *user, const char *client,
                             const char *format, const char *path, int *index_out)
{
    if (mf_grow((void **)&r->sources, &r->capsources, r->nsources + 1, sizeof(mf_source)))
        return MF_ERR_NOMEM;
    mf_source *s = &r->sources[r->nsources];
    memset(s, 0, sizeof(*s));
    s->user = mf_strdup(user ? user : "");
    s->client = mf_strdup(client ? client : "");
    s->format = mf_strdup(format ? format : "");
    s->path = mf_strdup(path ? path : "");
    if (!s->user || !s->client || !s->format || !s->path) {
        free(s->user);
        free(s->client);
        free(s->format);
        free(s->path);
        return MF_ERR_NOMEM;
    }
    s->status = MF_SRC_OK;
    if (index_out)
        *index_out = (int)r->nsources;
    r->nsources++;
    return MF_OK;
}

void mf_report_source_fail(mf_report *r, int idx, mf_source_status status, const char *msg)
{
    if (idx < 0 || (size_t)idx >= r->nsources)
        return;
    mf_source *s = &r->sources[idx];
    s->status = status;
    free(s->error);
    s->error = mf_strdup(msg ? msg : mf_source_status_name(status));
}

mf_server *mf_report_add_server(mf_report *r, int source)
{
    if (mf_grow((void **)&r->servers, &r->capservers, r->nservers + 1, sizeof(mf_server)))
        return NULL;
    mf_server *s = &r->servers[r->nservers];
    memset(s, 0, sizeof(*s));
    s->id = mf_asprintf("s%zu", r->nservers + 1);
    if (!s->id)
        return NULL;
    s->source = source;
    if (source >= 0 && (size_t)source < r->nsources) {
        s->user = mf_strdup(r->sources[source].user);
        s->client = mf_strdup(r->sources[source].client);
    }
    r->nservers++;
    return s;
}

mf_account *mf_report_add_account(mf_report *r, int source)
{
    if (mf_grow((void **)&r->accounts, &r->capaccounts, r->naccounts + 1, sizeof(mf_account)))
        return NULL;
    mf_account *a = &r->accounts[r->naccounts];
    memset(a, 0, sizeof(*a));
    a->id = mf_asprintf("a%zu", r->naccounts + 1);
    if (!a->id)
        return NULL;
    a->source = source;
    if (source >= 0 && (size_t)source < r->nsources) {
        a->user = mf_strdup(r->sources[source].user);
        a->client = mf_strdup(r->sources[source].client);
    }
    r->naccounts++;
    return a;
}

mf_probe *mf_report_add_probe(mf_report *r)
{
    if (mf_grow((void **)&r->probes, &r->capprobes, r->nprobes + 1, sizeof(mf_probe)))
        return NULL;
    mf_probe *p = &r->probes[r->nprobes];
    memset(p, 0, sizeof(*p));
    for (int i = 0; i < MF_PHASE__COUNT; i++)
        p->phase_ms[i] = -1;
    r->nprobes++;
    return p;
}

mf_code mf_server_set_hostname(mf_server *s, const char *raw)
{
    free(s->hostname);
    free(s->hostname_raw);
    s->hostname = s->hostname_raw = NULL;
    s->flags &= ~(unsigned)(MF_FLAG_HOSTNAME_WHITESPACE | MF_FLAG_HOSTNAME_CASE);
    if (!raw)
        return MF_OK;
    char *norm = mf_str_trim_lower(raw);
    if (!norm)
        return MF_ERR_NOMEM;
    if (!*norm) {
        free(norm);
        return MF_OK;
    }
    bool ws = false; /* leading, trailing or inner white space: all are wrong in a host name */
    for (const char *p = raw; *p; p++)
        if (isspace((unsigned char)*p))
            ws = true;
    bool uc = false;
    for (const char *p = raw; *p; p++)
        if (isupper((unsigned char)*p))
            uc = true;
    if (ws)
        s->flags |= MF_FLAG_HOSTNAME_WHITESPACE;
    if (uc)
        s->flags |= MF_FLAG_HOSTNAME_CASE;
    if (ws || uc) {
        s->hostname_raw = mf_strdup(raw);
        if (!s->hostname_raw) {
            free(norm);
            return MF_ERR_NOMEM;
        }
    }
    s->hostname = norm;
    return MF_OK;
}

int mf_report_server_index(const mf_report *r, const char *id)
{
    for (size_t i = 0; id && i < r->nservers; i++)
        if (strcmp(r->servers[i].id, id) == 0)
            return (int)i;
    return -1;
}

mf_server *mf_report_find_server(const mf_report *r, const char *id)
{
    int i = mf_report_server_index(r, id);
    return i < 0 ? NULL : &r->servers[i];
}

static bool is_password_auth(mf_auth a)
{
    return a == MF_AUTH_PASSWORD || a == MF_AUTH_ANY;
}

static bool same_entry(const mf_server *a, const mf_server *b)
{
    if (a->hostname == NULL || b->hostname == NULL)
        return false;
    return mf_streq(a->client, b->client) && mf_streq(a->user, b->user) &&
           strcmp(a->hostname, b->hostname) == 0 && a->port == b->port &&
           mf_strcaseeq(a->username ? a->username : "", b->username ? b->username : "");
}

void mf_report_compute_findings(mf_report *r)
{
    const unsigned derived = MF_FLAG_UNUSED | MF_FLAG_DUPLICATE | MF_FLAG_PLAINTEXT |
                             MF_FLAG_CLEARTEXT_AUTH | MF_FLAG_PORT_25 |
                             MF_FLAG_STARTTLS_OPTIONAL;
    for (size_t i = 0; i < r->nservers; i++) {
        mf_server *s = &r->servers[i];
        s->flags &= ~derived;
        mf_strv_free(&s->used_by);
    }
    for (size_t i = 0; i < r->naccounts; i++) {
        mf_account *a = &r->accounts[i];
        a->flags &= ~(unsigned)MF_FLAG_DANGLING;
        mf_server *s = a->smtp ? mf_report_find_server(r, a->smtp) : NULL;
        if (s) {
            if (!mf_strv_contains(&s->used_by, a->id))
                (void)mf_strv_push(&s->used_by, a->id);
        } else if (a->smtp || !mf_str_empty(a->smtp_ref)) {
            /* It names a server, and no such server exists. */
            a->flags |= MF_FLAG_DANGLING;
        }
    }
    for (size_t i = 0; i < r->nservers; i++) {
        mf_server *s = &r->servers[i];
        if (s->used_by.n == 0)
            s->flags |= MF_FLAG_UNUSED;
        if (s->security == MF_SEC_NONE)
            s->flags |= MF_FLAG_PLAINTEXT;
        if (s->security == MF_SEC_STARTTLS_OPTIONAL)
            s->flags |= MF_FLAG_STARTTLS_OPTIONAL;
        if (s->security == MF_SEC_NONE && is_password_auth(s->auth))
            s->flags |= MF_FLAG_CLEARTEXT_AUTH;
        if (s->port == 25)
            s->flags |= MF_FLAG_PORT_25;
        for (size_t j = 0; j < r->nservers; j++)
            if (j != i && same_entry(s, &r->servers[j])) {
                s->flags |= MF_FLAG_DUPLICATE;
                break;
            }
    }
}
