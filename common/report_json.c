#include "report_json.h"
#include "report_direct.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- encoding */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *strv_json(const mf_strv *sv)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < sv->n; i++)
        json_array_append_new(a, json_string(sv->v[i]));
    return a;
}

static json_t *flags_json(unsigned flags)
{
    json_t *a = json_array();
    for (unsigned bit = 1; a && bit && bit <= MF_FLAG__LAST; bit <<= 1)
        if ((flags & bit) && mf_flag_name(bit))
            json_array_append_new(a, json_string(mf_flag_name(bit)));
    return a;
}

/* json_object_set_new ignores a NULL value (and frees nothing), so a failed inner
 * allocation just drops that member; the final check on the root catches OOM. */
#define SET(o, k, v) json_object_set_new((o), (k), (v))

static json_t *source_json(const mf_source *s)
{
    json_t *o = json_object();
    SET(o, "user", json_string(s->user));
    SET(o, "client", json_string(s->client));
    SET(o, "format", json_string(s->format));
    SET(o, "path", json_string(s->path));
    SET(o, "status", json_string(mf_source_status_name(s->status)));
    SET(o, "error", str_or_null(s->error));
    return o;
}

static json_t *server_json(const mf_server *s)
{
    json_t *o = json_object();
    SET(o, "id", json_string(s->id));
    SET(o, "user", str_or_null(s->user));
    SET(o, "client", str_or_null(s->client));
    SET(o, "source", s->source >= 0 ? json_integer(s->source) : json_null());
    SET(o, "hostname", str_or_null(s->hostname));
    if (s->hostname_raw)
        SET(o, "hostname_raw", json_string(s->hostname_raw));
    if (s->provider)
        SET(o, "provider", json_string(s->provider));
    SET(o, "port", s->port > 0 ? json_integer(s->port) : json_null());
    SET(o, "security", json_string(mf_security_name(s->security)));
    SET(o, "auth", json_string(mf_auth_name(s->auth)));
    SET(o, "username", str_or_null(s->username));
    SET(o, "description", str_or_null(s->description));
    if (s->identifier)
        SET(o, "identifier", json_string(s->identifier));
    SET(o, "used_by", strv_json(&s->used_by));
    SET(o, "flags", flags_json(s->flags));
    return o;
}

static json_t *account_json(const mf_account *a)
{
    json_t *o = json_object();
    SET(o, "id", json_string(a->id));
    SET(o, "user", str_or_null(a->user));
    SET(o, "client", str_or_null(a->client));
    SET(o, "source", a->source >= 0 ? json_integer(a->source) : json_null());
    SET(o, "type", str_or_null(a->type));
    SET(o, "description", str_or_null(a->description));
    SET(o, "emails", strv_json(&a->emails));
    SET(o, "smtp", str_or_null(a->smtp));
    SET(o, "smtp_ref", str_or_null(a->smtp_ref));
    SET(o, "flags", flags_json(a->flags));
    return o;
}

static json_t *probe_json(const mf_probe *p)
{
    json_t *o = json_object();
    SET(o, "hostname", str_or_null(p->hostname));
    SET(o, "port", json_integer(p->port));
    SET(o, "security", json_string(mf_security_name(p->security)));
    SET(o, "servers", strv_json(&p->servers));
    SET(o, "outcome", json_string(mf_outcome_name(p->outcome)));
    if (p->outcome != MF_OUT_OK && p->outcome != MF_OUT_SKIPPED)
        SET(o, "phase", json_string(mf_phase_name(p->fail_phase)));
    SET(o, "detail", str_or_null(p->detail));
    if (p->reply_code)
        SET(o, "reply_code", json_integer(p->reply_code));
    SET(o, "address", str_or_null(p->address));
    SET(o, "duration_ms", json_integer(p->duration_ms));
    json_t *ph = json_object();
    for (int i = 0; i < MF_PHASE__COUNT; i++)
        if (p->phase_ms[i] >= 0) {
            char key[32];
            snprintf(key, sizeof(key), "%s_ms", mf_phase_name((mf_phase)i));
            SET(ph, key, json_integer(p->phase_ms[i]));
        }
    SET(o, "phases", ph);
    SET(o, "banner", str_or_null(p->banner));
    SET(o, "ehlo", strv_json(&p->ehlo));
    SET(o, "ehlo_tls", strv_json(&p->ehlo_tls));
    SET(o, "starttls_offered", json_boolean(p->starttls_offered));
    SET(o, "auth_before_tls", strv_json(&p->auth_before_tls));
    SET(o, "auth", strv_json(&p->auth));
    if (p->has_tls) {
        const mf_tls *t = &p->tls;
        json_t *tj = json_object();
        SET(tj, "version", str_or_null(t->version));
        SET(tj, "cipher", str_or_null(t->cipher));
        SET(tj, "verified", json_boolean(t->verified));
        SET(tj, "verify_error", str_or_null(t->verify_error));
        SET(tj, "hostname_match", json_boolean(t->hostname_match));
        if (t->alert)
            SET(tj, "alert", json_string(t->alert));
        if (t->has_cert) {
            const mf_cert *c = &t->cert;
            json_t *cj = json_object();
            SET(cj, "subject", str_or_null(c->subject));
            SET(cj, "issuer", str_or_null(c->issuer));
            SET(cj, "san", strv_json(&c->san));
            SET(cj, "not_before", str_or_null(c->not_before));
            SET(cj, "not_after", str_or_null(c->not_after));
            SET(cj, "days_left", json_integer(c->days_left));
            SET(cj, "self_signed", json_boolean(c->self_signed));
            SET(cj, "sha256", str_or_null(c->sha256));
            SET(tj, "cert", cj);
        } else {
            SET(tj, "cert", json_null());
        }
        SET(o, "tls", tj);
    } else {
        SET(o, "tls", json_null());
    }
    return o;
}

json_t *mf_report_to_json(const mf_report *r)
{
    json_t *root = json_object();
    if (!root)
        return NULL;
    SET(root, "schema", json_string(MF_REPORT_SCHEMA));
    SET(root, "report_id", json_string(r->report_id));
    SET(root, "collected_at", json_string(r->collected_at));
    json_t *agent = json_object();
    SET(agent, "version", json_string(r->agent_version ? r->agent_version : ""));
    if (r->dropped_reports > 0)
        SET(agent, "dropped_reports", json_integer(r->dropped_reports));
    SET(root, "agent", agent);
    json_t *host = json_object();
    SET(host, "id", str_or_null(r->host.id));
    SET(host, "hostname", str_or_null(r->host.hostname));
    json_t *os = json_object();
    SET(os, "name", str_or_null(r->host.os_name));
    SET(os, "version", str_or_null(r->host.os_version));
    SET(host, "os", os);
    SET(root, "host", host);
    json_t *a;
    a = json_array();
    for (size_t i = 0; a && i < r->nsources; i++)
        json_array_append_new(a, source_json(&r->sources[i]));
    SET(root, "sources", a);
    a = json_array();
    for (size_t i = 0; a && i < r->nservers; i++)
        json_array_append_new(a, server_json(&r->servers[i]));
    SET(root, "servers", a);
    a = json_array();
    for (size_t i = 0; a && i < r->naccounts; i++)
        json_array_append_new(a, account_json(&r->accounts[i]));
    SET(root, "accounts", a);
    a = json_array();
    for (size_t i = 0; a && i < r->nprobes; i++)
        json_array_append_new(a, probe_json(&r->probes[i]));
    SET(root, "probes", a);
    if (json_object_size(root) != 9) {
        json_decref(root);
        return NULL;
    }
    return root;
}

char *mf_report_encode(const mf_report *r, int pretty)
{
    json_t *root = mf_report_to_json(r);
    if (!root)
        return NULL;
    char *s = json_dumps(root, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}

/* ---------------------------------------------------------------- decoding */

/* Strings longer than this in a report are refused: no legitimate field needs it. */
#define FIELD_MAX 65536

/* collected_at must lie in 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define COLLECTED_AT_MIN (-62167219200LL)
#define COLLECTED_AT_MAX 253402300799LL

typedef struct dec {
    mf_error *err;
    char path[MF_ERROR_FIELD_MAX];
} dec;

static mf_code fail(dec *d, const char *key, mf_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static mf_code fail(dec *d, const char *key, mf_code code, const char *fmt, ...)
{
    if (!d->err)
        return code;
    char field[MF_ERROR_FIELD_MAX];
    if (key && d->path[0])
        snprintf(field, sizeof(field), "%s.%s", d->path, key);
    else
        snprintf(field, sizeof(field), "%s", key ? key : d->path);
    mf_error_set_field(d->err, field);
    d->err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err->text, sizeof(d->err->text), fmt, ap);
    va_end(ap);
    return code;
}

enum { REQ = 1, NULLABLE = 2 };

/* Fetch a string member without copying it: *out points into the JSON value (valid
 * while o is). Absent or null gives *out = NULL (an error if REQ without NULLABLE). */
static mf_code get_cstr(dec *d, json_t *o, const char *key, int mode, const char **out)
{
    *out = NULL;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if ((mode & REQ) && !(v && (mode & NULLABLE)))
            return fail(d, key, MF_ERR_INVALID, v ? "must not be null" : "is required");
        return MF_OK;
    }
    if (!json_is_string(v))
        return fail(d, key, MF_ERR_INVALID, "must be a string");
    size_t n = json_string_length(v);
    if (n > FIELD_MAX)
        return fail(d, key, MF_ERR_TOOBIG, "string of %zu bytes is over the limit", n);
    if (memchr(json_string_value(v), '\0', n))
        return fail(d, key, MF_ERR_INVALID, "must not contain NUL characters");
    *out = json_string_value(v);
    return MF_OK;
}

/* Fetch a string member as a copy the caller owns. Absent or null gives *out = NULL (an
 * error if REQ without NULLABLE). */
static mf_code get_str(dec *d, json_t *o, const char *key, int mode, char **out)
{
    *out = NULL;
    const char *v = NULL;
    mf_code rc = get_cstr(d, o, key, mode, &v);
    if (rc != MF_OK || !v)
        return rc;
    *out = mf_strdup(v); /* no NUL inside (checked), so strdup copies all of it */
    return *out ? MF_OK : fail(d, key, MF_ERR_NOMEM, "out of memory");
}

static mf_code get_int(dec *d, json_t *o, const char *key, int mode, long long min,
                       long long max, long long *out, bool *present)
{
    json_t *v = json_object_get(o, key);
    if (present)
        *present = false;
    if (!v || json_is_null(v)) {
        if ((mode & REQ) && !(v && (mode & NULLABLE)))
            return fail(d, key, MF_ERR_INVALID, v ? "must not be null" : "is required");
        return MF_OK;
    }
    if (!json_is_integer(v))
        return fail(d, key, MF_ERR_INVALID, "must be an integer");
    long long x = json_integer_value(v);
    if (x < min || x > max)
        return fail(d, key, MF_ERR_RANGE, "%lld is out of range %lld..%lld", x, min, max);
    *out = x;
    if (present)
        *present = true;
    return MF_OK;
}

static mf_code get_bool(dec *d, json_t *o, const char *key, int mode, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (mode & REQ)
            return fail(d, key, MF_ERR_INVALID, "is required");
        return MF_OK;
    }
    if (!json_is_boolean(v))
        return fail(d, key, MF_ERR_INVALID, "must be true or false");
    *out = json_is_true(v);
    return MF_OK;
}

static mf_code get_strv(dec *d, json_t *o, const char *key, int mode, mf_strv *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (mode & REQ)
            return fail(d, key, MF_ERR_INVALID, "is required");
        return MF_OK;
    }
    if (!json_is_array(v))
        return fail(d, key, MF_ERR_INVALID, "must be an array of strings");
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        const char *why = NULL;
        mf_code code = MF_ERR_INVALID;
        if (!json_is_string(e))
            why = "must be a string";
        else if (json_string_length(e) > FIELD_MAX ||
                 memchr(json_string_value(e), '\0', json_string_length(e)))
            why = "string too long or contains NUL";
        else if (mf_strv_push(out, json_string_value(e)) != MF_OK)
            why = "out of memory", code = MF_ERR_NOMEM;
        if (why) { /* the element's path is formatted only for the error */
            char k[96];
            snprintf(k, sizeof(k), "%s[%zu]", key, i);
            return fail(d, k, code, "%s", why);
        }
    }
    return MF_OK;
}

static mf_code get_obj(dec *d, json_t *o, const char *key, int mode, json_t **out)
{
    *out = NULL;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if ((mode & REQ) && !(v && (mode & NULLABLE)))
            return fail(d, key, MF_ERR_INVALID, v ? "must not be null" : "is required");
        return MF_OK;
    }
    if (!json_is_object(v))
        return fail(d, key, MF_ERR_INVALID, "must be an object");
    *out = v;
    return MF_OK;
}

/* Decode an enum word through a parse function (the word is not copied). */
#define GET_ENUM(d, o, key, type, parsefn, out)                                                   \
    do {                                                                                          \
        const char *w_ = NULL;                                                                    \
        mf_code rc_ = get_cstr((d), (o), (key), REQ, &w_);                                        \
        if (rc_ != MF_OK)                                                                         \
            return rc_;                                                                           \
        type v_;                                                                                  \
        if (!parsefn(w_, &v_))                                                                    \
            return fail((d), (key), MF_ERR_INVALID, "unknown value \"%.64s\"", w_);              \
        *(out) = v_;                                                                              \
    } while (0)

static mf_code get_flags(dec *d, json_t *o, unsigned *out)
{
    mf_strv sv = {0};
    mf_code rc = get_strv(d, o, "flags", 0, &sv);
    for (size_t i = 0; rc == MF_OK && i < sv.n; i++) {
        unsigned bit;
        if (!mf_flag_parse(sv.v[i], &bit)) {
            char k[64];
            snprintf(k, sizeof(k), "flags[%zu]", i);
            rc = fail(d, k, MF_ERR_INVALID, "unknown flag \"%.64s\"", sv.v[i]);
        } else {
            *out |= bit;
        }
    }
    mf_strv_free(&sv);
    return rc;
}

/* Append s to d->path at *len, truncating like snprintf would at the buffer's end. */
static void path_put(dec *d, size_t *len, const char *s)
{
    size_t room = sizeof(d->path) - 1 - *len;
    size_t n = strlen(s);
    if (n > room)
        n = room;
    memcpy(d->path + *len, s, n);
    *len += n;
    d->path[*len] = '\0';
}

/* Save d->path into saved and extend it with ".name" (or "name" at the top) and "[idx]"
 * unless idx is (size_t)-1. Built by hand: this runs for every array element. */
static void push_path(dec *d, const char *name, size_t idx, char *saved, size_t savedsz)
{
    size_t len = strlen(d->path);
    if (len < savedsz) {
        memcpy(saved, d->path, len + 1);
    } else {
        mf_strlcpy(saved, d->path, savedsz);
    }
    if (len)
        path_put(d, &len, ".");
    path_put(d, &len, name);
    if (idx != (size_t)-1) {
        char num[3 * sizeof(size_t) + 3];
        char *p = num + sizeof(num);
        *--p = '\0';
        *--p = ']';
        do {
            *--p = (char)('0' + idx % 10);
            idx /= 10;
        } while (idx);
        *--p = '[';
        path_put(d, &len, p);
    }
}

static mf_code dec_source(dec *d, json_t *o, mf_source *s)
{
    mf_code rc;
    if ((rc = get_str(d, o, "user", 0, &s->user)) || (rc = get_str(d, o, "client", REQ, &s->client)) ||
        (rc = get_str(d, o, "format", REQ, &s->format)) || (rc = get_str(d, o, "path", 0, &s->path)) ||
        (rc = get_str(d, o, "error", 0, &s->error)))
        return rc;
    GET_ENUM(d, o, "status", mf_source_status, mf_source_status_parse, &s->status);
    return MF_OK;
}

static mf_code dec_server(dec *d, json_t *o, mf_server *s, size_t nsources)
{
    mf_code rc;
    long long v = -1;
    bool present;
    s->source = -1;
    if ((rc = get_str(d, o, "id", REQ, &s->id)) || (rc = get_str(d, o, "user", 0, &s->user)) ||
        (rc = get_str(d, o, "client", REQ | NULLABLE, &s->client)) ||
        (rc = get_str(d, o, "hostname", REQ | NULLABLE, &s->hostname)) ||
        (rc = get_str(d, o, "hostname_raw", 0, &s->hostname_raw)) ||
        (rc = get_str(d, o, "provider", 0, &s->provider)) ||
        (rc = get_str(d, o, "username", 0, &s->username)) ||
        (rc = get_str(d, o, "description", 0, &s->description)) ||
        (rc = get_str(d, o, "identifier", 0, &s->identifier)))
        return rc;
    if ((rc = get_int(d, o, "source", 0, 0, (long long)nsources - 1, &v, &present)))
        return rc;
    if (present)
        s->source = (int)v;
    v = 0;
    if ((rc = get_int(d, o, "port", 0, 1, 65535, &v, NULL)))
        return rc;
    s->port = (int)v;
    GET_ENUM(d, o, "security", mf_security, mf_security_parse, &s->security);
    GET_ENUM(d, o, "auth", mf_auth, mf_auth_parse, &s->auth);
    if ((rc = get_strv(d, o, "used_by", 0, &s->used_by)) || (rc = get_flags(d, o, &s->flags)))
        return rc;
    return MF_OK;
}

static mf_code dec_account(dec *d, json_t *o, mf_account *a, size_t nsources)
{
    mf_code rc;
    long long v = -1;
    bool present;
    a->source = -1;
    if ((rc = get_str(d, o, "id", REQ, &a->id)) || (rc = get_str(d, o, "user", 0, &a->user)) ||
        (rc = get_str(d, o, "client", REQ | NULLABLE, &a->client)) ||
        (rc = get_str(d, o, "type", 0, &a->type)) ||
        (rc = get_str(d, o, "description", 0, &a->description)) ||
        (rc = get_str(d, o, "smtp", 0, &a->smtp)) || (rc = get_str(d, o, "smtp_ref", 0, &a->smtp_ref)) ||
        (rc = get_strv(d, o, "emails", 0, &a->emails)) || (rc = get_flags(d, o, &a->flags)))
        return rc;
    if ((rc = get_int(d, o, "source", 0, 0, (long long)nsources - 1, &v, &present)))
        return rc;
    if (present)
        a->source = (int)v;
    return MF_OK;
}

static mf_code dec_cert(dec *d, json_t *o, mf_cert *c)
{
    mf_code rc;
    if ((rc = get_str(d, o, "subject", 0, &c->subject)) || (rc = get_str(d, o, "issuer", 0, &c->issuer)) ||
        (rc = get_strv(d, o, "san", 0, &c->san)) ||
        (rc = get_str(d, o, "not_before", 0, &c->not_before)) ||
        (rc = get_str(d, o, "not_after", 0, &c->not_after)) ||
        (rc = get_str(d, o, "sha256", 0, &c->sha256)) ||
        (rc = get_bool(d, o, "self_signed", 0, &c->self_signed)) ||
        (rc = get_int(d, o, "days_left", 0, -1000000, 1000000, &c->days_left, NULL)))
        return rc;
    return MF_OK;
}

static mf_code dec_probe(dec *d, json_t *o, mf_probe *p)
{
    mf_code rc;
    long long v = 0;
    /* A phase missing from "phases" was not reached (-1), as mf_report_add_probe sets. */
    for (int i = 0; i < MF_PHASE__COUNT; i++)
        p->phase_ms[i] = -1;
    if ((rc = get_str(d, o, "hostname", REQ | NULLABLE, &p->hostname)) ||
        (rc = get_int(d, o, "port", REQ, 0, 65535, &v, NULL)))
        return rc;
    p->port = (int)v;
    GET_ENUM(d, o, "security", mf_security, mf_security_parse, &p->security);
    GET_ENUM(d, o, "outcome", mf_outcome, mf_outcome_parse, &p->outcome);
    if (json_object_get(o, "phase") && !json_is_null(json_object_get(o, "phase")))
        GET_ENUM(d, o, "phase", mf_phase, mf_phase_parse, &p->fail_phase);
    v = 0;
    if ((rc = get_strv(d, o, "servers", 0, &p->servers)) || (rc = get_str(d, o, "detail", 0, &p->detail)) ||
        (rc = get_int(d, o, "reply_code", 0, 0, 999, &v, NULL)))
        return rc;
    p->reply_code = (int)v;
    if ((rc = get_str(d, o, "address", 0, &p->address)) ||
        (rc = get_int(d, o, "duration_ms", 0, 0, 86400000LL, &p->duration_ms, NULL)) ||
        (rc = get_str(d, o, "banner", 0, &p->banner)) || (rc = get_strv(d, o, "ehlo", 0, &p->ehlo)) ||
        (rc = get_strv(d, o, "ehlo_tls", 0, &p->ehlo_tls)) ||
        (rc = get_bool(d, o, "starttls_offered", 0, &p->starttls_offered)) ||
        (rc = get_strv(d, o, "auth_before_tls", 0, &p->auth_before_tls)) ||
        (rc = get_strv(d, o, "auth", 0, &p->auth)))
        return rc;
    json_t *ph;
    if ((rc = get_obj(d, o, "phases", 0, &ph)))
        return rc;
    if (ph) {
        char saved[MF_ERROR_FIELD_MAX];
        push_path(d, "phases", (size_t)-1, saved, sizeof(saved));
        for (int i = 0; i < MF_PHASE__COUNT; i++) {
            /* "<phase>_ms", built by hand: this runs for every phase of every probe */
            char key[32];
            const char *name = mf_phase_name((mf_phase)i);
            size_t n = strlen(name);
            if (n > sizeof(key) - 4)
                n = sizeof(key) - 4;
            memcpy(key, name, n);
            memcpy(key + n, "_ms", 4);
            if ((rc = get_int(d, ph, key, 0, 0, 86400000LL, &p->phase_ms[i], NULL)))
                return rc;
        }
        mf_strlcpy(d->path, saved, sizeof(d->path));
    }
    json_t *tls;
    if ((rc = get_obj(d, o, "tls", 0, &tls)))
        return rc;
    if (tls) {
        char saved[MF_ERROR_FIELD_MAX];
        push_path(d, "tls", (size_t)-1, saved, sizeof(saved));
        mf_tls *t = &p->tls;
        p->has_tls = true;
        if ((rc = get_str(d, tls, "version", 0, &t->version)) ||
            (rc = get_str(d, tls, "cipher", 0, &t->cipher)) ||
            (rc = get_bool(d, tls, "verified", 0, &t->verified)) ||
            (rc = get_str(d, tls, "verify_error", 0, &t->verify_error)) ||
            (rc = get_bool(d, tls, "hostname_match", 0, &t->hostname_match)) ||
            (rc = get_str(d, tls, "alert", 0, &t->alert)))
            return rc;
        json_t *cert;
        if ((rc = get_obj(d, tls, "cert", 0, &cert)))
            return rc;
        if (cert) {
            char saved2[MF_ERROR_FIELD_MAX];
            push_path(d, "cert", (size_t)-1, saved2, sizeof(saved2));
            t->has_cert = true;
            if ((rc = dec_cert(d, cert, &t->cert)))
                return rc;
            mf_strlcpy(d->path, saved2, sizeof(d->path));
        }
        mf_strlcpy(d->path, saved, sizeof(d->path));
    }
    return MF_OK;
}

/* Decode the array `key` of objects with fn; elements are appended through add. */
#define DEC_ARRAY(key, arr, n, cap, type, call)                                                   \
    do {                                                                                          \
        json_t *a_ = json_object_get(root, key);                                                  \
        if (!a_ || !json_is_array(a_)) {                                                          \
            rc = fail(&d, key, MF_ERR_INVALID, a_ ? "must be an array" : "is required");          \
            goto out;                                                                             \
        }                                                                                         \
        if (json_array_size(a_) &&                                                                \
            mf_grow((void **)&r->arr, &r->cap, json_array_size(a_), sizeof(type))) {              \
            rc = fail(&d, key, MF_ERR_NOMEM, "out of memory");                                    \
            goto out;                                                                             \
        }                                                                                         \
        size_t i_;                                                                                \
        json_t *e_;                                                                               \
        json_array_foreach(a_, i_, e_)                                                            \
        {                                                                                         \
            char saved_[MF_ERROR_FIELD_MAX];                                                      \
            push_path(&d, key, i_, saved_, sizeof(saved_));                                       \
            if (!json_is_object(e_)) {                                                            \
                rc = fail(&d, NULL, MF_ERR_INVALID, "must be an object");                         \
                goto out;                                                                         \
            }                                                                                     \
            type *el_ = &r->arr[r->n];                                                            \
            memset(el_, 0, sizeof(*el_));                                                         \
            r->n++;                                                                               \
            if ((rc = call))                                                                      \
                goto out;                                                                         \
            mf_strlcpy(d.path, saved_, sizeof(d.path));                                           \
        }                                                                                         \
    } while (0)

/* Ids sorted for lookups: check_refs runs on untrusted input, and a document of 1 MiB
 * can hold tens of thousands of ids, so pairwise comparisons would be quadratic. */
typedef struct idref {
    const char *id;
    size_t idx;
} idref;

static int idref_cmp(const void *a, const void *b)
{
    const idref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int idref_key_cmp(const void *key, const void *el)
{
    return strcmp((const char *)key, ((const idref *)el)->id);
}

/* Sort the ids of n elements of an array (base, stride), whose id is the char * at
 * offset off, into a new array (*out, caller frees). */
static mf_code sort_ids(idref **out, const void *base, size_t n, size_t stride, size_t off)
{
    *out = malloc((n ? n : 1) * sizeof(idref));
    if (!*out)
        return MF_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        (*out)[i].id = *(char *const *)((const char *)base + i * stride + off);
        (*out)[i].idx = i;
    }
    qsort(*out, n, sizeof(idref), idref_cmp);
    return MF_OK;
}

/* The lowest index that repeats an earlier element's id, or (size_t)-1. */
static size_t first_duplicate(const idref *ids, size_t n)
{
    size_t best = (size_t)-1;
    for (size_t k = 1; k < n; k++)
        if (strcmp(ids[k].id, ids[k - 1].id) == 0 && ids[k].idx < best)
            best = ids[k].idx;
    return best;
}

static bool has_id(const idref *ids, size_t n, const char *id)
{
    return bsearch(id, ids, n, sizeof(idref), idref_key_cmp) != NULL;
}

static mf_code check_refs(dec *d, mf_report *r)
{
    idref *sids = NULL, *aids = NULL;
    mf_code rc = MF_OK;
    size_t dup;
    if (sort_ids(&sids, r->servers, r->nservers, sizeof(mf_server), offsetof(mf_server, id)) ||
        sort_ids(&aids, r->accounts, r->naccounts, sizeof(mf_account),
                 offsetof(mf_account, id))) {
        rc = fail(d, NULL, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((dup = first_duplicate(sids, r->nservers)) != (size_t)-1) {
        snprintf(d->path, sizeof(d->path), "servers[%zu]", dup);
        rc = fail(d, "id", MF_ERR_INVALID, "duplicate server id \"%.64s\"", r->servers[dup].id);
        goto out;
    }
    if ((dup = first_duplicate(aids, r->naccounts)) != (size_t)-1) {
        snprintf(d->path, sizeof(d->path), "accounts[%zu]", dup);
        rc = fail(d, "id", MF_ERR_INVALID, "duplicate account id \"%.64s\"", r->accounts[dup].id);
        goto out;
    }
    for (size_t i = 0; i < r->naccounts; i++) {
        mf_account *a = &r->accounts[i];
        if (a->smtp && !has_id(sids, r->nservers, a->smtp)) {
            snprintf(d->path, sizeof(d->path), "accounts[%zu]", i);
            rc = fail(d, "smtp", MF_ERR_INVALID, "names server \"%.64s\", which is not in servers",
                      a->smtp);
            goto out;
        }
    }
    for (size_t i = 0; i < r->nservers; i++) {
        mf_server *s = &r->servers[i];
        for (size_t k = 0; k < s->used_by.n; k++)
            if (!has_id(aids, r->naccounts, s->used_by.v[k])) {
                snprintf(d->path, sizeof(d->path), "servers[%zu]", i);
                char key[48];
                snprintf(key, sizeof(key), "used_by[%zu]", k);
                rc = fail(d, key, MF_ERR_INVALID,
                          "names account \"%.64s\", which is not in accounts", s->used_by.v[k]);
                goto out;
            }
    }
    for (size_t i = 0; i < r->nprobes; i++) {
        mf_probe *p = &r->probes[i];
        for (size_t k = 0; k < p->servers.n; k++)
            if (!has_id(sids, r->nservers, p->servers.v[k])) {
                snprintf(d->path, sizeof(d->path), "probes[%zu]", i);
                char key[48];
                snprintf(key, sizeof(key), "servers[%zu]", k);
                rc = fail(d, key, MF_ERR_INVALID,
                          "names server \"%.64s\", which is not in servers", p->servers.v[k]);
                goto out;
            }
    }
    d->path[0] = '\0';
out:
    free(sids);
    free(aids);
    return rc;
}

mf_code mf_report_from_json(mf_report **out, json_t *root, mf_error *err)
{
    *out = NULL;
    dec d = {.err = err};
    mf_code rc = MF_OK;
    if (!json_is_object(root))
        return fail(&d, NULL, MF_ERR_INVALID, "a report must be a JSON object");
    mf_report *r = calloc(1, sizeof(*r));
    if (!r)
        return fail(&d, NULL, MF_ERR_NOMEM, "out of memory");

    char *w = NULL;
    if ((rc = get_str(&d, root, "schema", REQ, &w)))
        goto out;
    if (strcmp(w, MF_REPORT_SCHEMA) != 0) {
        rc = fail(&d, "schema", MF_ERR_UNSUPPORTED, "is \"%.64s\", expected \"%s\"", w,
                  MF_REPORT_SCHEMA);
        free(w);
        goto out;
    }
    free(w);
    if ((rc = get_str(&d, root, "report_id", REQ, &w)))
        goto out;
    if (!mf_uuid_valid(w)) {
        rc = fail(&d, "report_id", MF_ERR_INVALID, "is not a UUID");
        free(w);
        goto out;
    }
    mf_strlcpy(r->report_id, w, sizeof(r->report_id));
    free(w);
    if ((rc = get_str(&d, root, "collected_at", REQ, &w)))
        goto out;
    int64_t t;
    /* The range check keeps the normalised form a four-digit year after the offset is
     * applied ("0000-01-01T00:00:00+01:00" is in year -1), so it decodes again. */
    if (mf_time_parse_rfc3339(w, &t) != MF_OK || strlen(w) >= sizeof(r->collected_at) ||
        t < COLLECTED_AT_MIN || t > COLLECTED_AT_MAX) {
        rc = fail(&d, "collected_at", MF_ERR_INVALID, "is not an RFC 3339 UTC time");
        free(w);
        goto out;
    }
    /* Store it normalised to whole seconds in UTC. */
    mf_time_format_rfc3339(t, r->collected_at, sizeof(r->collected_at));
    free(w);

    json_t *o;
    if ((rc = get_obj(&d, root, "agent", REQ, &o)))
        goto out;
    mf_strlcpy(d.path, "agent", sizeof(d.path));
    if ((rc = get_str(&d, o, "version", REQ, &r->agent_version)) ||
        (rc = get_int(&d, o, "dropped_reports", 0, 0, 1LL << 40, &r->dropped_reports, NULL)))
        goto out;
    d.path[0] = '\0';
    if ((rc = get_obj(&d, root, "host", REQ, &o)))
        goto out;
    mf_strlcpy(d.path, "host", sizeof(d.path));
    if ((rc = get_str(&d, o, "id", REQ, &r->host.id)) ||
        (rc = get_str(&d, o, "hostname", 0, &r->host.hostname)))
        goto out;
    json_t *os;
    if ((rc = get_obj(&d, o, "os", 0, &os)))
        goto out;
    if (os) {
        mf_strlcpy(d.path, "host.os", sizeof(d.path));
        if ((rc = get_str(&d, os, "name", 0, &r->host.os_name)) ||
            (rc = get_str(&d, os, "version", 0, &r->host.os_version)))
            goto out;
    }
    if (mf_str_empty(r->host.id)) {
        mf_strlcpy(d.path, "host", sizeof(d.path));
        rc = fail(&d, "id", MF_ERR_INVALID, "must not be empty");
        goto out;
    }
    d.path[0] = '\0';

    DEC_ARRAY("sources", sources, nsources, capsources, mf_source, dec_source(&d, e_, el_));
    DEC_ARRAY("servers", servers, nservers, capservers, mf_server,
              dec_server(&d, e_, el_, r->nsources));
    DEC_ARRAY("accounts", accounts, naccounts, capaccounts, mf_account,
              dec_account(&d, e_, el_, r->nsources));
    DEC_ARRAY("probes", probes, nprobes, capprobes, mf_probe, dec_probe(&d, e_, el_));
    if ((rc = check_refs(&d, r)))
        goto out;
out:
    if (rc != MF_OK) {
        mf_report_free(r);
        return rc;
    }
    *out = r;
    return MF_OK;
}

/* ------------------------------------------------------------ fast parse
 *
 * Jansson's reader goes one byte at a time through several function calls, and was half
 * of the ingest's instructions. fast_parse reads the common, plain subset of JSON in one
 * pass and builds the same Jansson tree json_loadb(JSON_REJECT_DUPLICATES) would build.
 * It gives up (returns NULL) on anything outside that subset, and the caller then asks
 * json_loadb, which decides and words every error: so fast_parse never has to reject
 * a document itself, only to accept nothing json_loadb would refuse or read
 * differently. The subset: a top-level object; objects, arrays, true, false, null;
 * strings of printable ASCII with the escapes \" \\ \/ \b \f \n \r \t (no \u, no byte
 * over 0x7f, no control character); integers of at most 18 digits (no fraction or
 * exponent: reals go to Jansson); no repeated key in an object; nesting up to
 * FAST_MAX_DEPTH. */
#if defined(JANSSON_VERSION_HEX) && JANSSON_VERSION_HEX >= 0x020e00
#define FAST_MAX_DEPTH 64

typedef struct fastp {
    const unsigned char *p, *end;
    char *tmp; /* unescaped strings */
    size_t tmpcap;
} fastp;

static void fast_ws(fastp *f)
{
    while (f->p < f->end && (*f->p == ' ' || *f->p == '\n' || *f->p == '\r' || *f->p == '\t'))
        f->p++;
}

/* A string at f->p (after its opening quote). *out, *outlen: its bytes, pointing into the
 * input when it has no escape, else into f->tmp. false: outside the subset. */
static bool fast_str(fastp *f, const char **out, size_t *outlen)
{
    const unsigned char *s = f->p;
    /* Eight bytes at a time while none of them is special (a quote, a backslash, a
     * control character, a byte over 0x7f); the loop below finds which one is. Per
     * byte, with its top bit cleared: x + 0x7f reaches the top bit unless x is zero,
     * x + 0x60 unless x is below 0x20. No carry crosses a byte, so the lowest top bit
     * set marks the first special byte. */
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7fu, top = 0x8080808080808080u;
    const uint64_t ones = 0x0101010101010101u;
    while (f->end - s >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
        uint64_t ctl = ~((v & low7) + ones * 0x60);
        uint64_t isq = ~(((q & low7) + low7) | q);
        uint64_t isb = ~(((b & low7) + low7) | b);
        uint64_t hit = (ctl | isq | isb | v) & top;
        if (hit) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            s += __builtin_ctzll(hit) / 8; /* exact per byte: the first special one */
#endif
            break;
        }
        s += 8;
    }
    while (s < f->end && *s != '"' && *s != '\\' && *s >= 0x20 && *s < 0x80)
        s++;
    if (s >= f->end || (*s != '"' && *s != '\\'))
        return false;
    if (*s == '"') {
        *out = (const char *)f->p;
        *outlen = (size_t)(s - f->p);
        f->p = s + 1;
        return true;
    }
    /* With escapes: copy into tmp, which is never longer than the input. */
    size_t most = (size_t)(f->end - f->p);
    if (f->tmpcap < most + 1) {
        char *t = realloc(f->tmp, most + 1);
        if (!t)
            return false;
        f->tmp = t;
        f->tmpcap = most + 1;
    }
    size_t n = 0;
    s = f->p;
    while (s < f->end && *s != '"') {
        unsigned char c = *s++;
        if (c < 0x20 || c >= 0x80)
            return false;
        if (c == '\\') {
            if (s >= f->end)
                return false;
            switch (*s++) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: return false; /* \u and invalid escapes: Jansson's call */
            }
        }
        f->tmp[n++] = (char)c;
    }
    if (s >= f->end)
        return false;
    *out = f->tmp;
    *outlen = n;
    f->p = s + 1;
    return true;
}

static json_t *fast_value(fastp *f, int depth);

/* Keys of the object being read, for the repeated-key check: comparing a new key with
 * the few before it is cheaper than a hash lookup in the object. Keys that had escapes
 * (copied, not in the input) or objects past FAST_KEYS keys use json_object_getn. */
#define FAST_KEYS 24

static json_t *fast_object(fastp *f, int depth)
{
    const char *keys[FAST_KEYS];
    size_t keylens[FAST_KEYS];
    size_t nkeys = 0;
    bool linear = true; /* every key so far is in keys[] */
    json_t *o = json_object();
    if (!o)
        return NULL;
    fast_ws(f);
    if (f->p < f->end && *f->p == '}') {
        f->p++;
        return o;
    }
    for (;;) {
        const char *k;
        size_t klen;
        if (f->p >= f->end || *f->p != '"')
            break;
        f->p++;
        if (!fast_str(f, &k, &klen))
            break;
        /* The key may live in f->tmp, which the value may reuse: copy it first when so. */
        char kbuf[128];
        char *kheap = NULL;
        if (k == f->tmp) {
            if (klen < sizeof(kbuf)) {
                memcpy(kbuf, k, klen);
                k = kbuf;
            } else {
                kheap = malloc(klen);
                if (!kheap)
                    break;
                memcpy(kheap, k, klen);
                k = kheap;
            }
        }
        /* A repeated key: Jansson's call. */
        bool in_input = !kheap && k != kbuf;
        bool ok = true;
        if (linear && in_input && nkeys < FAST_KEYS) {
            for (size_t i = 0; ok && i < nkeys; i++)
                ok = keylens[i] != klen || memcmp(keys[i], k, klen) != 0;
            keys[nkeys] = k;
            keylens[nkeys++] = klen;
        } else {
            linear = false;
            ok = json_object_getn(o, k, klen) == NULL;
        }
        if (ok) {
            fast_ws(f);
            ok = f->p < f->end && *f->p == ':';
        }
        json_t *v = NULL;
        if (ok) {
            f->p++;
            v = fast_value(f, depth);
            ok = v && json_object_setn_new_nocheck(o, k, klen, v) == 0;
        }
        free(kheap);
        if (!ok)
            break;
        fast_ws(f);
        if (f->p < f->end && *f->p == '}') {
            f->p++;
            return o;
        }
        if (f->p >= f->end || *f->p != ',')
            break;
        f->p++;
        fast_ws(f);
    }
    json_decref(o);
    return NULL;
}

static json_t *fast_array(fastp *f, int depth)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    fast_ws(f);
    if (f->p < f->end && *f->p == ']') {
        f->p++;
        return a;
    }
    for (;;) {
        json_t *v = fast_value(f, depth);
        if (!v || json_array_append_new(a, v) != 0)
            break;
        fast_ws(f);
        if (f->p < f->end && *f->p == ']') {
            f->p++;
            return a;
        }
        if (f->p >= f->end || *f->p != ',')
            break;
        f->p++;
    }
    json_decref(a);
    return NULL;
}

/* The literal word at f->p, not followed by another letter (Jansson reads words whole). */
static bool fast_word(fastp *f, const char *w, size_t n)
{
    if ((size_t)(f->end - f->p) < n || memcmp(f->p, w, n) != 0)
        return false;
    const unsigned char *q = f->p + n;
    if (q < f->end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
        return false;
    f->p = q;
    return true;
}

static json_t *fast_value(fastp *f, int depth)
{
    fast_ws(f);
    if (f->p >= f->end)
        return NULL;
    unsigned char c = *f->p;
    if (c == '{' || c == '[') {
        if (depth >= FAST_MAX_DEPTH)
            return NULL;
        f->p++;
        return c == '{' ? fast_object(f, depth + 1) : fast_array(f, depth + 1);
    }
    if (c == '"') {
        const char *s;
        size_t n;
        f->p++;
        return fast_str(f, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        const unsigned char *q = f->p;
        bool neg = *q == '-';
        if (neg)
            q++;
        const unsigned char *digits = q;
        long long x = 0;
        while (q < f->end && *q >= '0' && *q <= '9' && q - digits < 18)
            x = x * 10 + (*q++ - '0');
        size_t nd = (size_t)(q - digits);
        /* Not an 18-digit-or-shorter integer without a leading zero: Jansson's call. */
        if (nd == 0 || (digits[0] == '0' && nd > 1) ||
            (q < f->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E')))
            return NULL;
        f->p = q;
        return json_integer(neg ? -x : x);
    }
    if (fast_word(f, "true", 4))
        return json_true();
    if (fast_word(f, "false", 5))
        return json_false();
    if (fast_word(f, "null", 4))
        return json_null();
    return NULL;
}

/* The document, or NULL when it is not in the subset (or memory ran out). */
static json_t *fast_parse(const char *data, size_t len)
{
    fastp f = {.p = (const unsigned char *)data, .end = (const unsigned char *)data + len};
    fast_ws(&f);
    json_t *root = NULL;
    if (f.p < f.end && *f.p == '{') {
        root = fast_value(&f, 0);
        fast_ws(&f);
        if (root && f.p != f.end) { /* trailing bytes: Jansson's call */
            json_decref(root);
            root = NULL;
        }
    }
    free(f.tmp);
    return root;
}

/* ------------------------------------------------------------ direct decoder
 *
 * Reads the text straight into an mf_report, with no Jansson tree (building the tree and
 * walking it was most of the decode's cost). It reads exactly the subset fast_parse does
 * (same scanner, same number and word rules) and only the members the format defines,
 * with their types, ranges and enum words. Anything else, valid or not, makes it decline
 * (free what it built and return NULL): an unknown or repeated member, a wrong type, a
 * value out of range, a missing required member, a bad reference (check_refs on the
 * finished report). The tree decoder then runs and decides, so every refusal and every
 * error message stays its own. */

/* Member names of one object kind; `hint` tries the member after the previous one first,
 * since documents usually come in the encoder's order. -1: not a member of this kind. */
static int dd_field(const char *const *names, int n, const char *k, size_t kl, int *hint)
{
    int h = *hint < n ? *hint : 0;
    for (int j = 0; j < n; j++) {
        int i = h + j < n ? h + j : h + j - n;
        const char *nm = names[i];
        /* keys never hold a NUL (fast_str), so a match of kl bytes lies within nm */
        if (nm[0] == k[0] && strncmp(nm, k, kl) == 0 && nm[kl] == '\0') {
            *hint = i + 1;
            return i;
        }
    }
    return -1;
}

/* The next member of an object whose '{' was read: 1 with its key in *k, *kl and the
 * reader at its value; 0 at the closing '}'; -1 when outside the subset. *state is 0
 * before the first member. */
static int dd_next(fastp *f, int *state, const char **k, size_t *kl)
{
    fast_ws(f);
    if (f->p < f->end && *f->p == '}') {
        f->p++;
        return 0;
    }
    if (*state) {
        if (f->p >= f->end || *f->p != ',')
            return -1;
        f->p++;
        fast_ws(f);
    }
    *state = 1;
    if (f->p >= f->end || *f->p != '"')
        return -1;
    f->p++;
    if (!fast_str(f, k, kl))
        return -1;
    fast_ws(f);
    if (f->p >= f->end || *f->p != ':')
        return -1;
    f->p++;
    fast_ws(f);
    return 1;
}

static bool dd_null(fastp *f)
{
    fast_ws(f);
    return fast_word(f, "null", 4);
}

static bool dd_open(fastp *f, unsigned char c)
{
    fast_ws(f);
    if (f->p >= f->end || *f->p != c)
        return false;
    f->p++;
    return true;
}

/* A string value's bytes (into the input or f->tmp, valid until the next string). */
static bool dd_rawstr(fastp *f, const char **s, size_t *n)
{
    if (!dd_open(f, '"'))
        return false;
    return fast_str(f, s, n) && *n <= FIELD_MAX;
}

static char *dd_copy(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

/* A string member, copied into *out; null gives NULL when nullable, else declines. */
static bool dd_str(fastp *f, bool nullable, char **out)
{
    if (dd_null(f))
        return nullable;
    const char *s;
    size_t n;
    if (!dd_rawstr(f, &s, &n))
        return false;
    *out = dd_copy(s, n);
    return *out != NULL;
}

/* A short string (an enum word, a UUID, a time) NUL-terminated into buf; null declines. */
static bool dd_word(fastp *f, char *buf, size_t bufsz)
{
    const char *s;
    size_t n;
    if (!dd_rawstr(f, &s, &n) || n >= bufsz)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

/* An integer in min..max, by fast_value's rules; null leaves *out and *present alone. */
static bool dd_int(fastp *f, long long min, long long max, long long *out, bool *present)
{
    if (dd_null(f))
        return true;
    const unsigned char *q = f->p;
    bool neg = q < f->end && *q == '-';
    if (neg)
        q++;
    const unsigned char *digits = q;
    long long x = 0;
    while (q < f->end && *q >= '0' && *q <= '9' && q - digits < 18)
        x = x * 10 + (*q++ - '0');
    size_t nd = (size_t)(q - digits);
    if (nd == 0 || (digits[0] == '0' && nd > 1) ||
        (q < f->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E')))
        return false;
    f->p = q;
    if (neg)
        x = -x;
    if (x < min || x > max)
        return false;
    *out = x;
    if (present)
        *present = true;
    return true;
}

/* true or false; null leaves *out alone. */
static bool dd_bool(fastp *f, bool *out)
{
    if (dd_null(f))
        return true;
    if (fast_word(f, "true", 4))
        *out = true;
    else if (fast_word(f, "false", 5))
        *out = false;
    else
        return false;
    return true;
}

/* An array of strings appended to *out, or null. With flags set, the strings are flag
 * names ORed into *flags instead. */
static bool dd_strv(fastp *f, mf_strv *out, unsigned *flags)
{
    if (dd_null(f))
        return true;
    if (!dd_open(f, '['))
        return false;
    fast_ws(f);
    if (f->p < f->end && *f->p == ']') {
        f->p++;
        return true;
    }
    for (;;) {
        if (flags) {
            char w[64];
            unsigned bit;
            if (!dd_word(f, w, sizeof(w)) || !mf_flag_parse(w, &bit))
                return false;
            *flags |= bit;
        } else {
            const char *s;
            size_t n;
            if (!dd_rawstr(f, &s, &n) || mf_strv_push_owned(out, dd_copy(s, n)) != MF_OK)
                return false;
        }
        fast_ws(f);
        if (f->p < f->end && *f->p == ']') {
            f->p++;
            return true;
        }
        if (f->p >= f->end || *f->p != ',')
            return false;
        f->p++;
    }
}

#define DD_ENUM(f, type, parsefn, out)                                                            \
    do {                                                                                          \
        char w_[64];                                                                              \
        type v_;                                                                                  \
        ok = dd_word((f), w_, sizeof(w_)) && parsefn(w_, &v_);                                    \
        if (ok)                                                                                   \
            *(out) = v_;                                                                          \
    } while (0)

/* Loop over the members of the object at f->p: `names` its member kinds, `required` the
 * mask of members that must be present; the body switches on `i` and sets ok. */
#define DD_OBJECT(f, names, required, ...)                                                       \
    do {                                                                                          \
        if (!dd_open((f), '{'))                                                                   \
            return false;                                                                         \
        unsigned seen_ = 0;                                                                       \
        int state_ = 0, hint_ = 0, m_;                                                            \
        const char *k_;                                                                           \
        size_t kl_;                                                                               \
        while ((m_ = dd_next((f), &state_, &k_, &kl_)) > 0) {                                     \
            int i = dd_field((names), (int)(sizeof(names) / sizeof(names[0])), k_, kl_, &hint_); \
            if (i < 0 || (seen_ >> i & 1u))                                                       \
                return false;                                                                     \
            seen_ |= 1u << i;                                                                     \
            bool ok = false;                                                                      \
            __VA_ARGS__ if (!ok) return false;                                                    \
        }                                                                                         \
        if (m_ < 0 || (seen_ & (required)) != (required))                                         \
            return false;                                                                         \
    } while (0)

static const char *const DD_SOURCE[] = {"user", "client", "format", "path", "status", "error"};

static bool dd_source(fastp *f, mf_source *s)
{
    DD_OBJECT(f, DD_SOURCE, 0x2u | 0x4u | 0x10u, switch (i) {
        case 0: ok = dd_str(f, true, &s->user); break;
        case 1: ok = dd_str(f, false, &s->client); break;
        case 2: ok = dd_str(f, false, &s->format); break;
        case 3: ok = dd_str(f, true, &s->path); break;
        case 4: DD_ENUM(f, mf_source_status, mf_source_status_parse, &s->status); break;
        default: ok = dd_str(f, true, &s->error); break;
    });
    return true;
}

/* A "source" member: an index checked against nsources once the whole report is read. */
static bool dd_source_ref(fastp *f, int *out)
{
    long long v = -1;
    if (!dd_int(f, 0, INT32_MAX, &v, NULL))
        return false;
    *out = (int)v;
    return true;
}

static const char *const DD_SERVER[] = {
    "id",       "user",     "client",      "source",     "hostname", "hostname_raw", "provider",
    "port",     "security", "auth",        "username",   "description", "identifier", "used_by",
    "flags"};

static bool dd_server(fastp *f, mf_server *s)
{
    s->source = -1;
    long long port = 0;
    DD_OBJECT(f, DD_SERVER, 0x1u | 0x4u | 0x10u | 0x100u | 0x200u, switch (i) {
        case 0: ok = dd_str(f, false, &s->id); break;
        case 1: ok = dd_str(f, true, &s->user); break;
        case 2: ok = dd_str(f, true, &s->client); break;
        case 3: ok = dd_source_ref(f, &s->source); break;
        case 4: ok = dd_str(f, true, &s->hostname); break;
        case 5: ok = dd_str(f, true, &s->hostname_raw); break;
        case 6: ok = dd_str(f, true, &s->provider); break;
        case 7: ok = dd_int(f, 1, 65535, &port, NULL); break;
        case 8: DD_ENUM(f, mf_security, mf_security_parse, &s->security); break;
        case 9: DD_ENUM(f, mf_auth, mf_auth_parse, &s->auth); break;
        case 10: ok = dd_str(f, true, &s->username); break;
        case 11: ok = dd_str(f, true, &s->description); break;
        case 12: ok = dd_str(f, true, &s->identifier); break;
        case 13: ok = dd_strv(f, &s->used_by, NULL); break;
        default: ok = dd_strv(f, NULL, &s->flags); break;
    });
    s->port = (int)port;
    return true;
}

static const char *const DD_ACCOUNT[] = {"id",    "user",  "client",   "source", "type",
                                         "description", "emails", "smtp", "smtp_ref", "flags"};

static bool dd_account(fastp *f, mf_account *a)
{
    a->source = -1;
    DD_OBJECT(f, DD_ACCOUNT, 0x1u | 0x4u, switch (i) {
        case 0: ok = dd_str(f, false, &a->id); break;
        case 1: ok = dd_str(f, true, &a->user); break;
        case 2: ok = dd_str(f, true, &a->client); break;
        case 3: ok = dd_source_ref(f, &a->source); break;
        case 4: ok = dd_str(f, true, &a->type); break;
        case 5: ok = dd_str(f, true, &a->description); break;
        case 6: ok = dd_strv(f, &a->emails, NULL); break;
        case 7: ok = dd_str(f, true, &a->smtp); break;
        case 8: ok = dd_str(f, true, &a->smtp_ref); break;
        default: ok = dd_strv(f, NULL, &a->flags); break;
    });
    return true;
}

static const char *const DD_CERT[] = {"subject",  "issuer",    "san",         "not_before",
                                      "not_after", "days_left", "self_signed", "sha256"};

static bool dd_cert(fastp *f, mf_cert *c)
{
    DD_OBJECT(f, DD_CERT, 0u, switch (i) {
        case 0: ok = dd_str(f, true, &c->subject); break;
        case 1: ok = dd_str(f, true, &c->issuer); break;
        case 2: ok = dd_strv(f, &c->san, NULL); break;
        case 3: ok = dd_str(f, true, &c->not_before); break;
        case 4: ok = dd_str(f, true, &c->not_after); break;
        case 5: ok = dd_int(f, -1000000, 1000000, &c->days_left, NULL); break;
        case 6: ok = dd_bool(f, &c->self_signed); break;
        default: ok = dd_str(f, true, &c->sha256); break;
    });
    return true;
}

static const char *const DD_TLS[] = {"version",        "cipher", "verified", "verify_error",
                                     "hostname_match", "alert",  "cert"};

static bool dd_tls(fastp *f, mf_tls *t)
{
    DD_OBJECT(f, DD_TLS, 0u, switch (i) {
        case 0: ok = dd_str(f, true, &t->version); break;
        case 1: ok = dd_str(f, true, &t->cipher); break;
        case 2: ok = dd_bool(f, &t->verified); break;
        case 3: ok = dd_str(f, true, &t->verify_error); break;
        case 4: ok = dd_bool(f, &t->hostname_match); break;
        case 5: ok = dd_str(f, true, &t->alert); break;
        default:
            ok = dd_null(f) || (t->has_cert = true, dd_cert(f, &t->cert));
            break;
    });
    return true;
}

/* "phases": members "<phase>_ms" for the phases mf_phase_name knows. */
static bool dd_phases(fastp *f, long long *ms)
{
    if (!dd_open(f, '{'))
        return false;
    unsigned seen = 0;
    int state = 0, m;
    const char *k;
    size_t kl;
    while ((m = dd_next(f, &state, &k, &kl)) > 0) {
        int i;
        for (i = 0; i < MF_PHASE__COUNT; i++) {
            const char *name = mf_phase_name((mf_phase)i);
            size_t n = strlen(name);
            if (kl == n + 3 && memcmp(k, name, n) == 0 && memcmp(k + n, "_ms", 3) == 0)
                break;
        }
        if (i == MF_PHASE__COUNT || (seen >> i & 1u))
            return false;
        seen |= 1u << i;
        if (!dd_int(f, 0, 86400000LL, &ms[i], NULL))
            return false;
    }
    return m == 0;
}

static const char *const DD_PROBE[] = {
    "hostname", "port",    "security", "servers",  "outcome",         "phase",
    "detail",   "reply_code", "address", "duration_ms", "phases",      "banner",
    "ehlo",     "ehlo_tls", "starttls_offered", "auth_before_tls", "auth", "tls"};

static bool dd_probe(fastp *f, mf_probe *p)
{
    for (int i = 0; i < MF_PHASE__COUNT; i++)
        p->phase_ms[i] = -1;
    long long port = 0, reply = 0;
    bool has_port = false;
    DD_OBJECT(f, DD_PROBE, 0x1u | 0x2u | 0x4u | 0x10u, switch (i) {
        case 0: ok = dd_str(f, true, &p->hostname); break;
        case 1: ok = dd_int(f, 0, 65535, &port, &has_port) && has_port; break;
        case 2: DD_ENUM(f, mf_security, mf_security_parse, &p->security); break;
        case 3: ok = dd_strv(f, &p->servers, NULL); break;
        case 4: DD_ENUM(f, mf_outcome, mf_outcome_parse, &p->outcome); break;
        case 5:
            ok = dd_null(f);
            if (!ok)
                DD_ENUM(f, mf_phase, mf_phase_parse, &p->fail_phase);
            break;
        case 6: ok = dd_str(f, true, &p->detail); break;
        case 7: ok = dd_int(f, 0, 999, &reply, NULL); break;
        case 8: ok = dd_str(f, true, &p->address); break;
        case 9: ok = dd_int(f, 0, 86400000LL, &p->duration_ms, NULL); break;
        case 10: ok = dd_null(f) || dd_phases(f, p->phase_ms); break;
        case 11: ok = dd_str(f, true, &p->banner); break;
        case 12: ok = dd_strv(f, &p->ehlo, NULL); break;
        case 13: ok = dd_strv(f, &p->ehlo_tls, NULL); break;
        case 14: ok = dd_bool(f, &p->starttls_offered); break;
        case 15: ok = dd_strv(f, &p->auth_before_tls, NULL); break;
        case 16: ok = dd_strv(f, &p->auth, NULL); break;
        default: ok = dd_null(f) || (p->has_tls = true, dd_tls(f, &p->tls)); break;
    });
    p->port = (int)port;
    p->reply_code = (int)reply;
    return true;
}

static const char *const DD_AGENT[] = {"version", "dropped_reports"};

static bool dd_agent(fastp *f, mf_report *r)
{
    DD_OBJECT(f, DD_AGENT, 0x1u, switch (i) {
        case 0: ok = dd_str(f, false, &r->agent_version); break;
        default: ok = dd_int(f, 0, 1LL << 40, &r->dropped_reports, NULL); break;
    });
    return true;
}

static const char *const DD_OS[] = {"name", "version"};

static bool dd_os(fastp *f, mf_host *h)
{
    DD_OBJECT(f, DD_OS, 0u, switch (i) {
        case 0: ok = dd_str(f, true, &h->os_name); break;
        default: ok = dd_str(f, true, &h->os_version); break;
    });
    return true;
}

static const char *const DD_HOST[] = {"id", "hostname", "os"};

static bool dd_host(fastp *f, mf_host *h)
{
    DD_OBJECT(f, DD_HOST, 0x1u, switch (i) {
        case 0: ok = dd_str(f, false, &h->id); break;
        case 1: ok = dd_str(f, true, &h->hostname); break;
        default: ok = dd_null(f) || dd_os(f, h); break;
    });
    return !mf_str_empty(h->id);
}

/* An array of objects: each element is appended (zeroed) before it is read, so
 * mf_report_free frees whatever a declined element holds. */
#define DD_ARRAY(f, arr, n, cap, type, call)                                                      \
    do {                                                                                          \
        if (!dd_open((f), '['))                                                                   \
            return false;                                                                         \
        fast_ws(f);                                                                               \
        if ((f)->p < (f)->end && *(f)->p == ']') {                                                \
            (f)->p++;                                                                             \
            break;                                                                                \
        }                                                                                         \
        for (;;) {                                                                                \
            if (mf_grow((void **)&r->arr, &r->cap, r->n + 1, sizeof(type)) != MF_OK)              \
                return false;                                                                     \
            type *el_ = &r->arr[r->n];                                                            \
            memset(el_, 0, sizeof(*el_));                                                         \
            r->n++;                                                                               \
            if (!(call))                                                                          \
                return false;                                                                     \
            fast_ws(f);                                                                           \
            if ((f)->p < (f)->end && *(f)->p == ']') {                                            \
                (f)->p++;                                                                         \
                break;                                                                            \
            }                                                                                     \
            if ((f)->p >= (f)->end || *(f)->p != ',')                                             \
                return false;                                                                     \
            (f)->p++;                                                                             \
        }                                                                                         \
    } while (0)

static bool dd_sources(fastp *f, mf_report *r)
{
    DD_ARRAY(f, sources, nsources, capsources, mf_source, dd_source(f, el_));
    return true;
}

static bool dd_servers(fastp *f, mf_report *r)
{
    DD_ARRAY(f, servers, nservers, capservers, mf_server, dd_server(f, el_));
    return true;
}

static bool dd_accounts(fastp *f, mf_report *r)
{
    DD_ARRAY(f, accounts, naccounts, capaccounts, mf_account, dd_account(f, el_));
    return true;
}

static bool dd_probes(fastp *f, mf_report *r)
{
    DD_ARRAY(f, probes, nprobes, capprobes, mf_probe, dd_probe(f, el_));
    return true;
}

static bool dd_report_id(fastp *f, mf_report *r)
{
    char w[64];
    if (!dd_word(f, w, sizeof(w)) || !mf_uuid_valid(w))
        return false;
    mf_strlcpy(r->report_id, w, sizeof(r->report_id));
    return true;
}

static bool dd_collected_at(fastp *f, mf_report *r)
{
    char w[sizeof(r->collected_at)];
    int64_t t;
    if (!dd_word(f, w, sizeof(w)) || mf_time_parse_rfc3339(w, &t) != MF_OK ||
        t < COLLECTED_AT_MIN || t > COLLECTED_AT_MAX)
        return false;
    mf_time_format_rfc3339(t, r->collected_at, sizeof(r->collected_at));
    return true;
}

static bool dd_schema(fastp *f)
{
    const char *s;
    size_t n;
    return dd_rawstr(f, &s, &n) && n == sizeof(MF_REPORT_SCHEMA) - 1 &&
           memcmp(s, MF_REPORT_SCHEMA, n) == 0;
}

static const char *const DD_ROOT[] = {"schema",  "report_id", "collected_at",
                                      "agent",   "host",      "sources",
                                      "servers", "accounts",  "probes"};

static bool dd_root(fastp *f, mf_report *r)
{
    DD_OBJECT(f, DD_ROOT, 0x1ffu, switch (i) {
        case 0: ok = dd_schema(f); break;
        case 1: ok = dd_report_id(f, r); break;
        case 2: ok = dd_collected_at(f, r); break;
        case 3: ok = dd_agent(f, r); break;
        case 4: ok = dd_host(f, &r->host); break;
        case 5: ok = dd_sources(f, r); break;
        case 6: ok = dd_servers(f, r); break;
        case 7: ok = dd_accounts(f, r); break;
        default: ok = dd_probes(f, r); break;
    });
    fast_ws(f);
    if (f->p != f->end) /* trailing bytes */
        return false;
    /* The checks the tree decoder makes with the whole report at hand. */
    for (size_t i = 0; i < r->nservers; i++)
        if (r->servers[i].source >= 0 && (size_t)r->servers[i].source >= r->nsources)
            return false;
    for (size_t i = 0; i < r->naccounts; i++)
        if (r->accounts[i].source >= 0 && (size_t)r->accounts[i].source >= r->nsources)
            return false;
    dec d = {.err = NULL};
    return check_refs(&d, r) == MF_OK;
}

static mf_report *direct_decode(const char *data, size_t len)
{
    if (len > MF_REPORT_MAX_BYTES)
        return NULL;
    mf_report *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    fastp f = {.p = (const unsigned char *)data, .end = (const unsigned char *)data + len};
    bool ok = dd_root(&f, r);
    free(f.tmp);
    if (!ok) {
        mf_report_free(r);
        return NULL;
    }
    return r;
}
#else
static json_t *fast_parse(const char *data, size_t len)
{
    (void)data;
    (void)len;
    return NULL;
}

static mf_report *direct_decode(const char *data, size_t len)
{
    (void)data;
    (void)len;
    return NULL;
}
#endif

json_t *mf_json_fast_load(const char *data, size_t len)
{
    return fast_parse(data, len);
}

mf_report *mf_report_decode_direct(const char *data, size_t len)
{
    return direct_decode(data, len);
}

mf_code mf_report_decode(mf_report **out, const char *data, size_t len, mf_error *err)
{
    /* The direct decoder takes the plain documents; whatever it declines, the tree
     * decoder below decides (report_direct.h). */
    *out = direct_decode(data, len);
    if (*out)
        return MF_OK;
    return mf_report_decode_tree(out, data, len, err);
}

mf_code mf_report_decode_tree(mf_report **out, const char *data, size_t len, mf_error *err)
{
    *out = NULL;
    if (len > MF_REPORT_MAX_BYTES)
        return mf_error_set(err, MF_ERR_TOOBIG, "report of %zu bytes is over the limit of %d",
                            len, MF_REPORT_MAX_BYTES);
    json_error_t je;
    /* JSON_REJECT_DUPLICATES: two "port" members in one object is an attack or a bug.
     * fast_parse reads the usual documents; whatever it leaves goes to Jansson. */
    json_t *root = fast_parse(data, len);
    if (!root)
        root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (err) {
            mf_error_set(err, MF_ERR_PARSE, "invalid JSON: %s", je.text);
            mf_error_set_pos(err, je.line, je.column);
        }
        return MF_ERR_PARSE;
    }
    mf_code rc = mf_report_from_json(out, root, err);
    json_decref(root);
    return rc;
}

const char *mf_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}
