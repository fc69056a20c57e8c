/* test_report_json.c: the report model (report.c) and its JSON codec (report_json.c).
 *
 * - a report that uses every member survives encode -> decode unchanged;
 * - strict decoding refuses bad documents with the field path of the problem
 *   (table-driven: each case changes one member of a valid document);
 * - unknown members are ignored;
 * - the direct decoder accepts plain documents as the tree decoder reads them, and
 *   declines the rest;
 * - the derived findings (mf_report_compute_findings) and the host name normalisation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "report.h"
#include "report_direct.h"
#include "report_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RID "3f2b8c1e-6a4d-4c2b-9e8f-0123456789ab"

/* ------------------------------------------------------------ the full report */

static char *S(const char *s)
{
    char *p = mf_strdup(s);
    assert_non_null(p);
    return p;
}

static void push(mf_strv *sv, const char *s)
{
    assert_int_equal(mf_strv_push(sv, s), MF_OK);
}

/* A report that sets every member of the model at least once, with nulls where the
 * format allows them, so that a round trip has something to lose. */
static mf_report *full_report(void)
{
    mf_report *r = mf_report_new();
    assert_non_null(r);
    mf_strlcpy(r->report_id, RID, sizeof(r->report_id));
    mf_strlcpy(r->collected_at, "2026-11-29T10:00:00Z", sizeof(r->collected_at));
    free(r->agent_version);
    r->agent_version = S("0.1.0-test");
    r->dropped_reports = 3;
    r->host.id = S("C02XK0AAJG5H");
    r->host.hostname = S("alice-mbp");
    r->host.os_name = S("macOS");
    r->host.os_version = S("14.5");

    int src0, src1, src2;
    assert_int_equal(mf_report_add_source(r, "alice", "apple-mail", "accounts-plist",
                                          "/Users/alice/Library/Mail/V10/MailData/Accounts.plist",
                                          &src0),
                     MF_OK);
    assert_int_equal(
        mf_report_add_source(r, "alice", "thunderbird", "prefs-js",
                             "/Users/alice/Library/Thunderbird/Profiles/x.default/prefs.js", &src1),
        MF_OK);
    assert_int_equal(mf_report_add_source(
                         r, "bob", "mailmate", "mailmate-plist",
                         "/Users/bob/Library/Application Support/MailMate/Sources.plist", &src2),
                     MF_OK);
    mf_report_source_fail(r, src2, MF_SRC_MALFORMED, "line 3: unexpected '}'");

    mf_server *s = mf_report_add_server(r, src0); /* s1 */
    assert_non_null(s);
    assert_int_equal(mf_server_set_hostname(s, " SMTP.Example.com "), MF_OK);
    s->port = 587;
    s->security = MF_SEC_STARTTLS;
    s->auth = MF_AUTH_PASSWORD;
    s->username = S("alice@example.com");
    s->description = S("Work \"SMTP\" \xc3\xa9t\xc3\xa9");
    s->identifier = S("7F1C6C2A-1111-2222-3333-444455556666");

    s = mf_report_add_server(r, src0); /* s2: provider-managed */
    assert_non_null(s);
    s->provider = S("icloud");
    s->security = MF_SEC_TLS;
    s->auth = MF_AUTH_APPLE_TOKEN;
    s->flags |= MF_FLAG_PROVIDER_MANAGED | MF_FLAG_DEFAULT_PORT;

    s = mf_report_add_server(r, src1); /* s3: old plain text server */
    assert_non_null(s);
    assert_int_equal(mf_server_set_hostname(s, "mail.old.example"), MF_OK);
    s->port = 25;
    s->security = MF_SEC_NONE;
    s->auth = MF_AUTH_PASSWORD;
    s->username = S("alice");

    s = mf_report_add_server(r, -1); /* s4: no source, no user, no client */
    assert_non_null(s);
    s->security = MF_SEC_UNKNOWN;
    s->auth = MF_AUTH_UNKNOWN;
    s->flags |= MF_FLAG_NO_HOSTNAME;

    mf_account *a = mf_report_add_account(r, src0); /* a1 */
    assert_non_null(a);
    a->type = S("imap");
    a->description = S("Work");
    push(&a->emails, "alice@example.com");
    push(&a->emails, "a.smith@example.com");
    a->smtp = S("s1");
    a->smtp_ref = S("7F1C6C2A-1111-2222-3333-444455556666");

    a = mf_report_add_account(r, src0); /* a2 */
    assert_non_null(a);
    a->type = S("icloud");
    push(&a->emails, "alice@icloud.com");
    a->smtp = S("s2");

    a = mf_report_add_account(r, src1); /* a3: dangling */
    assert_non_null(a);
    a->type = S("pop");
    a->smtp_ref = S("smtp9");

    mf_report_compute_findings(r);

    mf_probe *p = mf_report_add_probe(r); /* probes[0]: everything fine */
    assert_non_null(p);
    p->hostname = S("smtp.example.com");
    p->port = 587;
    p->security = MF_SEC_STARTTLS;
    push(&p->servers, "s1");
    p->outcome = MF_OUT_OK;
    p->address = S("192.0.2.25");
    p->duration_ms = 41;
    for (int i = 0; i < MF_PHASE__COUNT; i++)
        p->phase_ms[i] = i + 1;
    p->banner = S("220 smtp.example.com ESMTP ready");
    push(&p->ehlo, "PIPELINING");
    push(&p->ehlo, "STARTTLS");
    push(&p->ehlo, "AUTH PLAIN LOGIN");
    push(&p->ehlo_tls, "PIPELINING");
    push(&p->ehlo_tls, "AUTH PLAIN LOGIN XOAUTH2");
    p->starttls_offered = true;
    push(&p->auth_before_tls, "PLAIN");
    push(&p->auth_before_tls, "LOGIN");
    push(&p->auth, "PLAIN");
    push(&p->auth, "LOGIN");
    push(&p->auth, "XOAUTH2");
    p->has_tls = true;
    p->tls.version = S("TLSv1.3");
    p->tls.cipher = S("TLS_AES_256_GCM_SHA384");
    p->tls.verified = true;
    p->tls.hostname_match = true;
    p->tls.has_cert = true;
    p->tls.cert.subject = S("CN=smtp.example.com");
    p->tls.cert.issuer = S("CN=Example CA,O=Example");
    push(&p->tls.cert.san, "smtp.example.com");
    push(&p->tls.cert.san, "*.example.com");
    p->tls.cert.not_before = S("2026-09-01T00:00:00Z");
    p->tls.cert.not_after = S("2027-02-17T23:59:59Z");
    p->tls.cert.days_left = 80;
    p->tls.cert.self_signed = false;
    p->tls.cert.sha256 = S("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");

    p = mf_report_add_probe(r); /* probes[1]: timeout in the banner phase */
    assert_non_null(p);
    p->hostname = S("mail.old.example");
    p->port = 25;
    p->security = MF_SEC_NONE;
    push(&p->servers, "s3");
    p->outcome = MF_OUT_TIMEOUT;
    p->fail_phase = MF_PHASE_BANNER;
    p->detail = S("no greeting within 20 s");
    p->address = S("198.51.100.7");
    p->duration_ms = 20001;
    p->phase_ms[MF_PHASE_DNS] = 3;
    p->phase_ms[MF_PHASE_CONNECT] = 12;

    p = mf_report_add_probe(r); /* probes[2]: TLS handshake failed, TLS without cert */
    assert_non_null(p);
    p->hostname = S("smtp.example.com");
    p->port = 465;
    p->security = MF_SEC_TLS;
    push(&p->servers, "s1");
    push(&p->servers, "s3");
    p->outcome = MF_OUT_TLS_HANDSHAKE_FAILED;
    p->fail_phase = MF_PHASE_TLS;
    p->reply_code = 0;
    p->duration_ms = 7;
    p->phase_ms[MF_PHASE_DNS] = 0;
    p->has_tls = true;
    p->tls.verified = false;
    p->tls.verify_error = S("unable to get local issuer certificate");
    p->tls.alert = S("handshake failure");

    p = mf_report_add_probe(r); /* probes[3]: rejected at the banner */
    assert_non_null(p);
    p->hostname = S("mail.old.example");
    p->port = 587;
    p->security = MF_SEC_STARTTLS;
    p->outcome = MF_OUT_SMTP_REJECTED;
    p->fail_phase = MF_PHASE_BANNER;
    p->reply_code = 554;
    p->banner = S("554 go away");

    p = mf_report_add_probe(r); /* probes[4]: skipped, no host name */
    assert_non_null(p);
    p->port = 0;
    p->security = MF_SEC_TLS;
    push(&p->servers, "s2");
    p->outcome = MF_OUT_SKIPPED;
    p->detail = S("host chosen by macOS (icloud)");
    return r;
}

/* ------------------------------------------------------------ deep comparison */

static void str_same(const char *what, const char *a, const char *b)
{
    if (a == NULL && b == NULL)
        return;
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        fail_msg("%s: \"%s\" != \"%s\"", what, a ? a : "(null)", b ? b : "(null)");
}

static void strv_same(const char *what, const mf_strv *a, const mf_strv *b)
{
    if (a->n != b->n)
        fail_msg("%s: %zu != %zu elements", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        str_same(what, a->v[i], b->v[i]);
}

#define SAME_INT(what, a, b)                                                                       \
    do {                                                                                           \
        if ((long long)(a) != (long long)(b))                                                      \
            fail_msg("%s: %lld != %lld", what, (long long)(a), (long long)(b));                    \
    } while (0)

static void reports_same(const mf_report *a, const mf_report *b)
{
    str_same("report_id", a->report_id, b->report_id);
    str_same("collected_at", a->collected_at, b->collected_at);
    str_same("agent.version", a->agent_version, b->agent_version);
    SAME_INT("agent.dropped_reports", a->dropped_reports, b->dropped_reports);
    str_same("host.id", a->host.id, b->host.id);
    str_same("host.hostname", a->host.hostname, b->host.hostname);
    str_same("host.os.name", a->host.os_name, b->host.os_name);
    str_same("host.os.version", a->host.os_version, b->host.os_version);
    SAME_INT("nsources", a->nsources, b->nsources);
    for (size_t i = 0; i < a->nsources; i++) {
        const mf_source *x = &a->sources[i], *y = &b->sources[i];
        str_same("source.user", x->user, y->user);
        str_same("source.client", x->client, y->client);
        str_same("source.format", x->format, y->format);
        str_same("source.path", x->path, y->path);
        SAME_INT("source.status", x->status, y->status);
        str_same("source.error", x->error, y->error);
    }
    SAME_INT("nservers", a->nservers, b->nservers);
    for (size_t i = 0; i < a->nservers; i++) {
        const mf_server *x = &a->servers[i], *y = &b->servers[i];
        str_same("server.id", x->id, y->id);
        str_same("server.user", x->user, y->user);
        str_same("server.client", x->client, y->client);
        SAME_INT("server.source", x->source, y->source);
        str_same("server.hostname", x->hostname, y->hostname);
        str_same("server.hostname_raw", x->hostname_raw, y->hostname_raw);
        str_same("server.provider", x->provider, y->provider);
        SAME_INT("server.port", x->port, y->port);
        SAME_INT("server.security", x->security, y->security);
        SAME_INT("server.auth", x->auth, y->auth);
        str_same("server.username", x->username, y->username);
        str_same("server.description", x->description, y->description);
        str_same("server.identifier", x->identifier, y->identifier);
        strv_same("server.used_by", &x->used_by, &y->used_by);
        SAME_INT("server.flags", x->flags, y->flags);
    }
    SAME_INT("naccounts", a->naccounts, b->naccounts);
    for (size_t i = 0; i < a->naccounts; i++) {
        const mf_account *x = &a->accounts[i], *y = &b->accounts[i];
        str_same("account.id", x->id, y->id);
        str_same("account.user", x->user, y->user);
        str_same("account.client", x->client, y->client);
        SAME_INT("account.source", x->source, y->source);
        str_same("account.type", x->type, y->type);
        str_same("account.description", x->description, y->description);
        strv_same("account.emails", &x->emails, &y->emails);
        str_same("account.smtp", x->smtp, y->smtp);
        str_same("account.smtp_ref", x->smtp_ref, y->smtp_ref);
        SAME_INT("account.flags", x->flags, y->flags);
    }
    SAME_INT("nprobes", a->nprobes, b->nprobes);
    for (size_t i = 0; i < a->nprobes; i++) {
        const mf_probe *x = &a->probes[i], *y = &b->probes[i];
        str_same("probe.hostname", x->hostname, y->hostname);
        SAME_INT("probe.port", x->port, y->port);
        SAME_INT("probe.security", x->security, y->security);
        strv_same("probe.servers", &x->servers, &y->servers);
        SAME_INT("probe.outcome", x->outcome, y->outcome);
        str_same("probe.detail", x->detail, y->detail);
        if (x->outcome != MF_OUT_OK && x->outcome != MF_OUT_SKIPPED)
            SAME_INT("probe.phase", x->fail_phase, y->fail_phase);
        SAME_INT("probe.reply_code", x->reply_code, y->reply_code);
        str_same("probe.address", x->address, y->address);
        SAME_INT("probe.duration_ms", x->duration_ms, y->duration_ms);
        for (int k = 0; k < MF_PHASE__COUNT; k++)
            SAME_INT(mf_phase_name((mf_phase)k), x->phase_ms[k], y->phase_ms[k]);
        str_same("probe.banner", x->banner, y->banner);
        strv_same("probe.ehlo", &x->ehlo, &y->ehlo);
        strv_same("probe.ehlo_tls", &x->ehlo_tls, &y->ehlo_tls);
        SAME_INT("probe.starttls_offered", x->starttls_offered, y->starttls_offered);
        strv_same("probe.auth_before_tls", &x->auth_before_tls, &y->auth_before_tls);
        strv_same("probe.auth", &x->auth, &y->auth);
        SAME_INT("probe.has_tls", x->has_tls, y->has_tls);
        if (!x->has_tls)
            continue;
        const mf_tls *t = &x->tls, *u = &y->tls;
        str_same("tls.version", t->version, u->version);
        str_same("tls.cipher", t->cipher, u->cipher);
        SAME_INT("tls.verified", t->verified, u->verified);
        str_same("tls.verify_error", t->verify_error, u->verify_error);
        SAME_INT("tls.hostname_match", t->hostname_match, u->hostname_match);
        str_same("tls.alert", t->alert, u->alert);
        SAME_INT("tls.has_cert", t->has_cert, u->has_cert);
        if (!t->has_cert)
            continue;
        str_same("cert.subject", t->cert.subject, u->cert.subject);
        str_same("cert.issuer", t->cert.issuer, u->cert.issuer);
        strv_same("cert.san", &t->cert.san, &u->cert.san);
        str_same("cert.not_before", t->cert.not_before, u->cert.not_before);
        str_same("cert.not_after", t->cert.not_after, u->cert.not_after);
        SAME_INT("cert.days_left", t->cert.days_left, u->cert.days_left);
        SAME_INT("cert.self_signed", t->cert.self_signed, u->cert.self_signed);
        str_same("cert.sha256", t->cert.sha256, u->cert.sha256);
    }
}

/* ------------------------------------------------------------ round trip */

static mf_report *decode_text(const char *text, mf_code want)
{
    mf_report *r = (mf_report *)1;
    mf_error err;
    mf_error_clear(&err);
    mf_code rc = mf_report_decode(&r, text, strlen(text), &err);
    if (rc != want)
        fail_msg("decode gave %d (%s: %s), expected %d", rc, err.field, err.text, want);
    if (rc != MF_OK)
        assert_null(r);
    return r;
}

static void test_round_trip_every_field(void **state)
{
    (void)state;
    mf_report *r = full_report();
    for (int pretty = 0; pretty <= 1; pretty++) {
        char *text = mf_report_encode(r, pretty);
        assert_non_null(text);
        mf_report *back = decode_text(text, MF_OK);
        reports_same(r, back);
        /* Encoding the decoded report gives the same bytes: nothing is reordered,
         * added or lost on the second pass either. */
        char *again = mf_report_encode(back, pretty);
        assert_string_equal(text, again);
        free(again);
        mf_report_free(back);
        free(text);
    }
    mf_report_free(r);
}

static void test_round_trip_empty_report(void **state)
{
    (void)state;
    mf_report *r = mf_report_new();
    assert_non_null(r);
    assert_true(mf_uuid_valid(r->report_id));
    r->host.id = S("host-1");
    char *text = mf_report_encode(r, 0);
    assert_non_null(text);
    mf_report *back = decode_text(text, MF_OK);
    reports_same(r, back);
    mf_report_free(back);
    free(text);
    mf_report_free(r);
}

static json_t *get2(json_t *o, const char *a, const char *b)
{
    return json_object_get(json_object_get(o, a), b);
}

/* The encoder's spelling of members: what other programs rely on. */
static void test_encoding_shape(void **state)
{
    (void)state;
    mf_report *r = full_report();
    json_t *j = mf_report_to_json(r);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "schema")), "mailfleet.report.v1");
    assert_int_equal(json_integer_value(get2(j, "agent", "dropped_reports")), 3);
    json_t *servers = json_object_get(j, "servers");
    json_t *s1 = json_array_get(servers, 0), *s2 = json_array_get(servers, 1);
    json_t *s4 = json_array_get(servers, 3);
    assert_string_equal(json_string_value(json_object_get(s1, "hostname")), "smtp.example.com");
    assert_string_equal(json_string_value(json_object_get(s1, "hostname_raw")),
                        " SMTP.Example.com ");
    assert_string_equal(json_string_value(json_object_get(s1, "security")), "starttls");
    assert_true(json_is_null(json_object_get(s2, "hostname")));
    assert_true(json_is_null(json_object_get(s2, "port")));
    assert_string_equal(json_string_value(json_object_get(s2, "provider")), "icloud");
    assert_null(json_object_get(s1, "provider"));
    assert_true(json_is_null(json_object_get(s4, "source")));
    assert_true(json_is_null(json_object_get(s4, "client")));
    /* Flags come out in bit order as words. */
    json_t *flags = json_object_get(s1, "flags");
    assert_string_equal(json_string_value(json_array_get(flags, 0)), "hostname-whitespace");
    assert_string_equal(json_string_value(json_array_get(flags, 1)), "hostname-case");
    json_t *p0 = json_array_get(json_object_get(j, "probes"), 0);
    json_t *p1 = json_array_get(json_object_get(j, "probes"), 1);
    json_t *p4 = json_array_get(json_object_get(j, "probes"), 4);
    assert_null(json_object_get(p0, "phase"));
    assert_string_equal(json_string_value(json_object_get(p1, "phase")), "banner");
    assert_null(json_object_get(p4, "phase"));
    assert_int_equal(json_object_size(json_object_get(p0, "phases")), MF_PHASE__COUNT);
    assert_int_equal(json_integer_value(get2(p0, "phases", "ehlo_tls_ms")), 7);
    assert_int_equal(json_object_size(json_object_get(p1, "phases")), 2);
    assert_true(json_is_null(json_object_get(p1, "tls")));
    assert_null(json_object_get(p0, "reply_code"));
    json_t *tls = json_object_get(p0, "tls");
    assert_null(json_object_get(tls, "alert"));
    assert_int_equal(json_integer_value(get2(tls, "cert", "days_left")), 80);
    json_t *p2 = json_array_get(json_object_get(j, "probes"), 2);
    assert_true(json_is_null(get2(p2, "tls", "cert")));
    json_decref(j);
    mf_report_free(r);
}

/* A secret-looking member added to the model cannot appear: the model has no place for
 * it. What we can check is that no member name of the output speaks of one. */
static int has_secret_key(json_t *v)
{
    const char *k;
    json_t *e;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, k, e)
        {
            if (strstr(k, "password") || strstr(k, "secret") || strstr(k, "token"))
                return 1;
            if (has_secret_key(e))
                return 1;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e) if (has_secret_key(e)) return 1;
    }
    return 0;
}

static void test_no_secret_members(void **state)
{
    (void)state;
    mf_report *r = full_report();
    json_t *j = mf_report_to_json(r);
    assert_false(has_secret_key(j));
    json_decref(j);
    mf_report_free(r);
}

/* ------------------------------------------------------------ strict decoding */

/* The object at a path like "probes[0].tls.cert" ("" is the root). */
static json_t *jpath(json_t *root, const char *path)
{
    json_t *cur = root;
    char buf[256];
    mf_strlcpy(buf, path, sizeof(buf));
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
        char *br = strchr(tok, '[');
        if (br)
            *br = '\0';
        cur = json_object_get(cur, tok);
        if (br) {
            long long idx = 0;
            char *end = strchr(br + 1, ']');
            assert_non_null(end);
            *end = '\0';
            assert_int_equal(mf_parse_long(br + 1, 0, 1000, &idx), MF_OK);
            cur = json_array_get(cur, (size_t)idx);
        }
    }
    if (!cur)
        fail_msg("no such path in the test document: %s", path);
    return cur;
}

typedef struct bad_case {
    const char *parent; /* object to change ("" = root) */
    const char *key;    /* member to set or delete */
    const char *value;  /* JSON text of the new value; NULL deletes the member */
    mf_code code;       /* expected code */
    const char *field;  /* expected err.field */
    const char *text;   /* expected substring of err.text, or NULL */
} bad_case;

static const bad_case bad_cases[] = {
    /* types */
    {"servers[1]", "port", "\"587\"", MF_ERR_INVALID, "servers[1].port", "integer"},
    {"servers[0]", "port", "587.0", MF_ERR_INVALID, "servers[0].port", "integer"},
    {"servers[0]", "port", "70000", MF_ERR_RANGE, "servers[0].port", "out of range"},
    {"servers[0]", "port", "0", MF_ERR_RANGE, "servers[0].port", NULL},
    {"servers[0]", "hostname", "42", MF_ERR_INVALID, "servers[0].hostname", "string"},
    {"probes[0].tls.cert", "days_left", "\"80\"", MF_ERR_INVALID, "probes[0].tls.cert.days_left",
     "integer"},
    {"probes[0].tls.cert", "days_left", "2000000", MF_ERR_RANGE, "probes[0].tls.cert.days_left",
     NULL},
    {"probes[0].tls.cert", "san", "\"smtp.example.com\"", MF_ERR_INVALID, "probes[0].tls.cert.san",
     "array"},
    {"probes[0].tls.cert", "self_signed", "1", MF_ERR_INVALID, "probes[0].tls.cert.self_signed",
     "true or false"},
    {"probes[0].tls", "verified", "\"yes\"", MF_ERR_INVALID, "probes[0].tls.verified",
     "true or false"},
    {"probes[0].tls", "cert", "[]", MF_ERR_INVALID, "probes[0].tls.cert", "object"},
    {"probes[0]", "tls", "\"TLSv1.3\"", MF_ERR_INVALID, "probes[0].tls", "object"},
    {"probes[0].phases", "connect_ms", "-1", MF_ERR_RANGE, "probes[0].phases.connect_ms", NULL},
    {"probes[0].phases", "ehlo_tls_ms", "\"5\"", MF_ERR_INVALID, "probes[0].phases.ehlo_tls_ms",
     "integer"},
    {"probes[0]", "phases", "[]", MF_ERR_INVALID, "probes[0].phases", "object"},
    {"probes[0]", "duration_ms", "\"41\"", MF_ERR_INVALID, "probes[0].duration_ms", "integer"},
    {"probes[0]", "starttls_offered", "\"yes\"", MF_ERR_INVALID, "probes[0].starttls_offered",
     NULL},
    {"probes[3]", "reply_code", "1000", MF_ERR_RANGE, "probes[3].reply_code", NULL},
    {"probes[0]", "ehlo", "[\"PIPELINING\", null]", MF_ERR_INVALID, "probes[0].ehlo[1]", "string"},
    {"accounts[0]", "emails", "[\"a@example.com\", 5]", MF_ERR_INVALID, "accounts[0].emails[1]",
     "string"},
    {"agent", "dropped_reports", "-1", MF_ERR_RANGE, "agent.dropped_reports", NULL},
    {"host.os", "version", "14.5", MF_ERR_INVALID, "host.os.version", "string"},
    {"host", "os", "\"macOS\"", MF_ERR_INVALID, "host.os", "object"},
    {"", "servers", "{}", MF_ERR_INVALID, "servers", "array"},
    {"", "servers", "[5]", MF_ERR_INVALID, "servers[0]", "object"},
    {"", "agent", "\"0.1.0\"", MF_ERR_INVALID, "agent", "object"},
    /* enum words */
    {"servers[0]", "security", "\"ssl\"", MF_ERR_INVALID, "servers[0].security", "\"ssl\""},
    {"servers[2]", "auth", "\"login\"", MF_ERR_INVALID, "servers[2].auth", "\"login\""},
    {"servers[0]", "security", "\"TLS\"", MF_ERR_INVALID, "servers[0].security", NULL},
    {"sources[2]", "status", "\"broken\"", MF_ERR_INVALID, "sources[2].status", "broken"},
    {"probes[1]", "outcome", "\"dns-fail\"", MF_ERR_INVALID, "probes[1].outcome", "dns-fail"},
    {"probes[1]", "phase", "\"handshake\"", MF_ERR_INVALID, "probes[1].phase", "handshake"},
    {"probes[1]", "security", "\"\"", MF_ERR_INVALID, "probes[1].security", NULL},
    {"servers[0]", "flags", "[\"hostname-case\", \"stale\"]", MF_ERR_INVALID, "servers[0].flags[1]",
     "stale"},
    {"accounts[2]", "flags", "[\"Dangling\"]", MF_ERR_INVALID, "accounts[2].flags[0]", NULL},
    /* required members */
    {"", "schema", NULL, MF_ERR_INVALID, "schema", "required"},
    {"", "report_id", NULL, MF_ERR_INVALID, "report_id", "required"},
    {"", "collected_at", NULL, MF_ERR_INVALID, "collected_at", "required"},
    {"", "agent", NULL, MF_ERR_INVALID, "agent", "required"},
    {"", "host", NULL, MF_ERR_INVALID, "host", "required"},
    {"", "sources", NULL, MF_ERR_INVALID, "sources", "required"},
    {"", "servers", NULL, MF_ERR_INVALID, "servers", "required"},
    {"", "accounts", NULL, MF_ERR_INVALID, "accounts", "required"},
    {"", "probes", NULL, MF_ERR_INVALID, "probes", "required"},
    {"agent", "version", NULL, MF_ERR_INVALID, "agent.version", "required"},
    {"host", "id", NULL, MF_ERR_INVALID, "host.id", "required"},
    {"host", "id", "\"\"", MF_ERR_INVALID, "host.id", "empty"},
    {"sources[1]", "client", NULL, MF_ERR_INVALID, "sources[1].client", "required"},
    {"sources[1]", "format", "null", MF_ERR_INVALID, "sources[1].format", "null"},
    {"sources[0]", "status", NULL, MF_ERR_INVALID, "sources[0].status", "required"},
    {"servers[0]", "id", NULL, MF_ERR_INVALID, "servers[0].id", "required"},
    {"servers[0]", "client", NULL, MF_ERR_INVALID, "servers[0].client", "required"},
    {"servers[2]", "hostname", NULL, MF_ERR_INVALID, "servers[2].hostname", "required"},
    {"servers[0]", "security", NULL, MF_ERR_INVALID, "servers[0].security", "required"},
    {"servers[0]", "security", "null", MF_ERR_INVALID, "servers[0].security", "null"},
    {"servers[1]", "auth", NULL, MF_ERR_INVALID, "servers[1].auth", "required"},
    {"accounts[1]", "id", NULL, MF_ERR_INVALID, "accounts[1].id", "required"},
    {"probes[2]", "port", NULL, MF_ERR_INVALID, "probes[2].port", "required"},
    {"probes[2]", "hostname", NULL, MF_ERR_INVALID, "probes[2].hostname", "required"},
    {"probes[2]", "outcome", NULL, MF_ERR_INVALID, "probes[2].outcome", "required"},
    /* identity and references */
    {"", "schema", "\"mailfleet.report.v2\"", MF_ERR_UNSUPPORTED, "schema", "mailfleet.report.v1"},
    {"", "schema", "1", MF_ERR_INVALID, "schema", "string"},
    {"", "report_id", "\"not-a-uuid\"", MF_ERR_INVALID, "report_id", "UUID"},
    {"", "report_id", "\"3f2b8c1e6a4d4c2b9e8f0123456789ab\"", MF_ERR_INVALID, "report_id", "UUID"},
    {"", "report_id", "\"3f2b8c1e-6a4d-4c2b-9e8f-0123456789ag\"", MF_ERR_INVALID, "report_id",
     NULL},
    {"", "collected_at", "\"yesterday\"", MF_ERR_INVALID, "collected_at", "RFC 3339"},
    {"", "collected_at", "\"2026-11-29 10:00:00Z\"", MF_ERR_INVALID, "collected_at", NULL},
    {"", "collected_at", "\"2026-02-30T10:00:00Z\"", MF_ERR_INVALID, "collected_at", NULL},
    {"", "collected_at", "\"2026-11-29T10:00:00\"", MF_ERR_INVALID, "collected_at", NULL},
    {"", "collected_at", "\"0000-01-01T00:00:00+01:00\"", MF_ERR_INVALID, "collected_at", NULL},
    {"servers[2]", "id", "\"s1\"", MF_ERR_INVALID, "servers[2].id", "duplicate"},
    {"accounts[2]", "id", "\"a2\"", MF_ERR_INVALID, "accounts[2].id", "duplicate"},
    {"accounts[0]", "smtp", "\"s99\"", MF_ERR_INVALID, "accounts[0].smtp", "s99"},
    {"servers[0]", "used_by", "[\"a1\", \"a9\"]", MF_ERR_INVALID, "servers[0].used_by[1]", "a9"},
    {"probes[2]", "servers", "[\"s1\", \"s9\"]", MF_ERR_INVALID, "probes[2].servers[1]", "s9"},
    {"servers[0]", "source", "3", MF_ERR_RANGE, "servers[0].source", NULL},
    {"accounts[0]", "source", "-1", MF_ERR_RANGE, "accounts[0].source", NULL},
    {"servers[0]", "source", "\"0\"", MF_ERR_INVALID, "servers[0].source", "integer"},
};

static void test_decode_errors_name_the_field(void **state)
{
    (void)state;
    mf_report *r = full_report();
    char *base = mf_report_encode(r, 1);
    assert_non_null(base);
    mf_report_free(r);
    for (size_t i = 0; i < MF_ARRAY_LEN(bad_cases); i++) {
        const bad_case *c = &bad_cases[i];
        json_t *root = json_loads(base, 0, NULL);
        assert_non_null(root);
        json_t *parent = c->parent[0] ? jpath(root, c->parent) : root;
        if (c->value) {
            json_t *v = json_loads(c->value, JSON_DECODE_ANY, NULL);
            if (!v)
                fail_msg("case %zu: bad JSON in the table: %s", i, c->value);
            assert_int_equal(json_object_set_new(parent, c->key, v), 0);
        } else {
            if (json_object_del(parent, c->key) != 0)
                fail_msg("case %zu: %s has no member %s", i, c->parent, c->key);
        }
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(root);
        mf_report *out = (mf_report *)1;
        mf_error err;
        mf_error_clear(&err);
        mf_code rc = mf_report_decode(&out, text, strlen(text), &err);
        /* Without an mf_error: the same code. */
        mf_report *out2 = NULL;
        mf_code rc2 = mf_report_decode(&out2, text, strlen(text), NULL);
        free(text);
        if (rc2 != rc || out2 != NULL)
            fail_msg("case %zu: %d without mf_error, %d with", i, rc2, rc);
        if (rc != c->code || err.code != c->code)
            fail_msg("case %zu (%s.%s): code %d/%d, expected %d (%s: %s)", i, c->parent, c->key, rc,
                     err.code, c->code, err.field, err.text);
        if (out != NULL)
            fail_msg("case %zu: *out not NULL on error", i);
        if (strcmp(err.field, c->field) != 0)
            fail_msg("case %zu: field \"%s\", expected \"%s\" (%s)", i, err.field, c->field,
                     err.text);
        if (c->text && !strstr(err.text, c->text))
            fail_msg("case %zu (%s): text \"%s\" lacks \"%s\"", i, c->field, err.text, c->text);
    }
    free(base);
}

/* Changes a valid document may carry: unknown members anywhere, and nulls in optional
 * members. */
static void test_unknown_members_ignored(void **state)
{
    (void)state;
    mf_report *r = full_report();
    json_t *root = mf_report_to_json(r);
    json_object_set_new(root, "future", json_pack("{s:[i,i]}", "x", 1, 2));
    json_object_set_new(jpath(root, "agent"), "build", json_string("abc"));
    json_object_set_new(jpath(root, "host.os"), "arch", json_string("arm64"));
    json_object_set_new(jpath(root, "sources[0]"), "mtime", json_integer(5));
    json_object_set_new(jpath(root, "servers[0]"), "oauth_provider", json_null());
    json_object_set_new(jpath(root, "accounts[0]"), "aliases", json_array());
    json_object_set_new(jpath(root, "probes[0]"), "ipv6", json_true());
    json_object_set_new(jpath(root, "probes[0].phases"), "auth_ms", json_integer(3));
    json_object_set_new(jpath(root, "probes[0].tls"), "ocsp", json_string("good"));
    json_object_set_new(jpath(root, "probes[0].tls.cert"), "key_bits", json_integer(2048));
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    mf_report *back = decode_text(text, MF_OK);
    reports_same(r, back);
    mf_report_free(back);
    free(text);
    mf_report_free(r);
}

static void test_decode_lenient_where_documented(void **state)
{
    (void)state;
    mf_report *r = full_report();
    json_t *root = mf_report_to_json(r);
    /* A missing phases object and missing phases mean "not reached" (-1). */
    json_object_del(jpath(root, "probes[1]"), "phases");
    json_object_del(jpath(root, "probes[0].phases"), "quit_ms");
    /* Optional members may be left out or null. */
    json_object_del(jpath(root, "servers[0]"), "username");
    json_object_set_new(jpath(root, "servers[0]"), "description", json_null());
    json_object_del(root, "host");
    json_object_set_new(root, "host", json_pack("{s:s}", "id", "only-an-id"));
    /* Upper-case UUIDs and offsets are accepted; the time is normalised to UTC. */
    json_object_set_new(root, "report_id", json_string("3F2B8C1E-6A4D-4C2B-9E8F-0123456789AB"));
    json_object_set_new(root, "collected_at", json_string("2026-11-29T11:30:00.250+01:30"));
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    mf_report *back = decode_text(text, MF_OK);
    free(text);
    for (int i = 0; i < MF_PHASE__COUNT; i++)
        assert_int_equal(back->probes[1].phase_ms[i], -1);
    assert_int_equal(back->probes[0].phase_ms[MF_PHASE_QUIT], -1);
    assert_int_equal(back->probes[0].phase_ms[MF_PHASE_EHLO_TLS], 7);
    assert_null(back->servers[0].username);
    assert_null(back->servers[0].description);
    assert_null(back->host.os_name);
    assert_string_equal(back->host.id, "only-an-id");
    assert_string_equal(back->report_id, "3F2B8C1E-6A4D-4C2B-9E8F-0123456789AB");
    assert_string_equal(back->collected_at, "2026-11-29T10:00:00Z");
    /* ... and the re-encoding leaves the missing phases out again. */
    json_t *j = mf_report_to_json(back);
    assert_int_equal(json_object_size(jpath(j, "probes[1].phases")), 0);
    assert_null(json_object_get(jpath(j, "probes[0].phases"), "quit_ms"));
    json_decref(j);
    mf_report_free(back);
    mf_report_free(r);
}

static void test_decode_syntax_errors(void **state)
{
    (void)state;
    mf_report *out = (mf_report *)1;
    mf_error err;
    mf_error_clear(&err);
    const char *bad = "{\n  \"schema\": \"mailfleet.report.v1\",\n  \"report_id\": ,\n}";
    assert_int_equal(mf_report_decode(&out, bad, strlen(bad), &err), MF_ERR_PARSE);
    assert_null(out);
    assert_int_equal(err.code, MF_ERR_PARSE);
    assert_int_equal(err.line, 3);
    assert_true(err.column > 0);
    assert_non_null(strstr(err.text, "invalid JSON"));
    char line[1024];
    mf_error_format(&err, line, sizeof(line));
    assert_non_null(strstr(line, "line 3: "));

    /* Duplicate keys are refused, not silently last-one-wins. */
    const char *dup = "{\"schema\": \"mailfleet.report.v1\",\n\"schema\": \"mailfleet.report.v1\"}";
    mf_error_clear(&err);
    assert_int_equal(mf_report_decode(&out, dup, strlen(dup), &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "duplicate"));
    assert_int_equal(err.line, 2);

    /* Duplicate keys deep inside too. */
    mf_report *r = full_report();
    char *text = mf_report_encode(r, 1);
    mf_report_free(r);
    char *p = strstr(text, "\"port\": 587");
    assert_non_null(p);
    size_t n = strlen(text);
    char *twice = malloc(n + 32);
    size_t head = (size_t)(p - text);
    memcpy(twice, text, head);
    memcpy(twice + head, "\"port\": 25, ", 12);
    memcpy(twice + head + 12, p, n - head + 1);
    mf_error_clear(&err);
    assert_int_equal(mf_report_decode(&out, twice, strlen(twice), &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "duplicate"));
    assert_true(err.line > 1);
    free(twice);
    free(text);

    /* Not an object, empty, trailing garbage, NUL in a string. */
    static const struct {
        const char *text;
        size_t len;
        mf_code code;
    } cases[] = {
        {"[]", 0, MF_ERR_INVALID},
        {"{}", 0, MF_ERR_INVALID},
        {"\"mailfleet.report.v1\"", 0, MF_ERR_PARSE},
        {"", 0, MF_ERR_PARSE},
        {"{} {}", 0, MF_ERR_PARSE},
        {"{\"schema\": \"a\\u0000b\"}", 0, MF_ERR_PARSE},
        {"{\"schema\": \"a\xff\"}", 0, MF_ERR_PARSE},
        {"{\"schema\": \"mailfleet.report.v1\"\0}", 34, MF_ERR_PARSE},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        mf_error_clear(&err);
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        mf_code rc = mf_report_decode(&out, cases[i].text, len, &err);
        if (rc != cases[i].code)
            fail_msg("syntax case %zu: %d, expected %d (%s)", i, rc, cases[i].code, err.text);
        assert_null(out);
    }
    /* err may be NULL: only the code. */
    assert_int_equal(mf_report_decode(&out, bad, strlen(bad), NULL), MF_ERR_PARSE);
    assert_int_equal(mf_report_decode(&out, "[]", 2, NULL), MF_ERR_INVALID);
}

static void test_decode_size_limits(void **state)
{
    (void)state;
    mf_report *r = full_report();
    char *text = mf_report_encode(r, 0);
    size_t n = strlen(text);

    /* Exactly the limit (padded with white space) is fine; one byte more is not. */
    char *big = malloc(MF_REPORT_MAX_BYTES + 2);
    assert_non_null(big);
    memcpy(big, text, n);
    memset(big + n, ' ', MF_REPORT_MAX_BYTES + 1 - n);
    mf_report *out = NULL;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_report_decode(&out, big, MF_REPORT_MAX_BYTES, &err), MF_OK);
    mf_report_free(out);
    mf_error_clear(&err);
    assert_int_equal(mf_report_decode(&out, big, MF_REPORT_MAX_BYTES + 1, &err), MF_ERR_TOOBIG);
    assert_null(out);
    assert_non_null(strstr(err.text, "limit"));
    free(big);
    free(text);

    /* One string member longer than 64 KiB. */
    char *longstr = malloc(65537 + 1);
    memset(longstr, 'x', 65537);
    longstr[65537] = '\0';
    json_t *root = mf_report_to_json(r);
    json_object_set_new(jpath(root, "servers[0]"), "description", json_string(longstr));
    char *t2 = json_dumps(root, JSON_COMPACT);
    mf_error_clear(&err);
    assert_int_equal(mf_report_decode(&out, t2, strlen(t2), &err), MF_ERR_TOOBIG);
    assert_string_equal(err.field, "servers[0].description");
    free(t2);
    /* 64 KiB exactly is accepted. */
    longstr[65536] = '\0';
    json_object_set_new(jpath(root, "servers[0]"), "description", json_string(longstr));
    t2 = json_dumps(root, JSON_COMPACT);
    assert_int_equal(mf_report_decode(&out, t2, strlen(t2), NULL), MF_OK);
    assert_int_equal(strlen(out->servers[0].description), 65536);
    mf_report_free(out);
    free(t2);
    /* Too long in an array of strings. */
    longstr[65536] = 'x';
    json_array_append_new(json_object_get(jpath(root, "accounts[0]"), "emails"),
                          json_string(longstr));
    t2 = json_dumps(root, JSON_COMPACT);
    mf_error_clear(&err);
    assert_int_not_equal(mf_report_decode(&out, t2, strlen(t2), &err), MF_OK);
    assert_string_equal(err.field, "accounts[0].emails[2]");
    free(t2);
    json_decref(root);
    free(longstr);

    /* Deep nesting is refused by the parser, not by the stack. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    assert_int_equal(mf_report_decode(&out, deep, 2 * depth, NULL), MF_ERR_PARSE);
    free(deep);
    mf_report_free(r);
}

/* Many ids: references still resolve (and quickly; the check is not pairwise). */
static void test_decode_many_ids(void **state)
{
    (void)state;
    mf_report *r = mf_report_new();
    r->host.id = S("h");
    int src;
    assert_int_equal(mf_report_add_source(r, "u", "apple-mail", "accounts-plist", "/p", &src),
                     MF_OK);
    for (int i = 0; i < 3000; i++) {
        mf_server *s = mf_report_add_server(r, src);
        assert_non_null(s);
        s->security = MF_SEC_TLS;
        mf_account *a = mf_report_add_account(r, src);
        assert_non_null(a);
        a->smtp = mf_asprintf("s%d", 3000 - i);
    }
    mf_report_compute_findings(r);
    char *text = mf_report_encode(r, 0);
    mf_report *back = decode_text(text, MF_OK);
    assert_int_equal(back->nservers, 3000);
    assert_string_equal(back->servers[0].used_by.v[0], "a3000");
    mf_report_free(back);
    /* The last server repeats the first one's id. */
    char *p = strstr(text, "\"id\":\"s3000\"");
    assert_non_null(p);
    memcpy(p, "\"id\":\"s1\"   ", 12);
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_report_decode(&back, text, strlen(text), &err), MF_ERR_INVALID);
    assert_string_equal(err.field, "servers[2999].id");
    free(text);
    mf_report_free(r);
}

/* ------------------------------------------------------------ model */

static void test_name_tables(void **state)
{
    (void)state;
#define TABLE(count, type, namefn, parsefn)                                                        \
    for (int i = 0; i < (int)(count); i++) {                                                       \
        type v;                                                                                    \
        const char *n = namefn((type)i);                                                           \
        assert_non_null(n);                                                                        \
        assert_true(parsefn(n, &v));                                                               \
        assert_int_equal(v, i);                                                                    \
    }                                                                                              \
    assert_non_null(namefn((type)(count)));                                                        \
    assert_non_null(namefn((type)-1));                                                             \
    {                                                                                              \
        type v;                                                                                    \
        assert_false(parsefn("no-such-word", &v));                                                 \
        assert_false(parsefn(NULL, &v));                                                           \
        assert_false(parsefn("", &v));                                                             \
    }
    TABLE(MF_SEC__COUNT, mf_security, mf_security_name, mf_security_parse)
    TABLE(MF_AUTH__COUNT, mf_auth, mf_auth_name, mf_auth_parse)
    TABLE(MF_SRC__COUNT, mf_source_status, mf_source_status_name, mf_source_status_parse)
    TABLE(MF_OUT__COUNT, mf_outcome, mf_outcome_name, mf_outcome_parse)
    TABLE(MF_PHASE__COUNT, mf_phase, mf_phase_name, mf_phase_parse)
#undef TABLE
    /* The words the format documents (spot checks; the order is the ABI). */
    assert_string_equal(mf_security_name(MF_SEC_STARTTLS_OPTIONAL), "starttls-optional");
    assert_string_equal(mf_auth_name(MF_AUTH_PASSWORD_ENCRYPTED), "password-encrypted");
    assert_string_equal(mf_source_status_name(MF_SRC_TOO_LARGE), "too-large");
    assert_string_equal(mf_outcome_name(MF_OUT_CERT_HOSTNAME_MISMATCH), "cert-hostname-mismatch");
    assert_string_equal(mf_outcome_name(MF_OUT_SKIPPED), "skipped");
    assert_string_equal(mf_phase_name(MF_PHASE_EHLO_TLS), "ehlo_tls");

    unsigned count = 0;
    for (unsigned bit = 1; bit <= MF_FLAG__LAST; bit <<= 1) {
        const char *n = mf_flag_name(bit);
        assert_non_null(n);
        unsigned back = 0;
        assert_true(mf_flag_parse(n, &back));
        assert_int_equal(back, bit);
        count++;
    }
    assert_int_equal(count, 12);
    assert_null(mf_flag_name(MF_FLAG__LAST << 1));
    assert_null(mf_flag_name(MF_FLAG_UNUSED | MF_FLAG_DUPLICATE));
    assert_null(mf_flag_name(0));
    unsigned b;
    assert_false(mf_flag_parse("stale", &b));
    assert_false(mf_flag_parse(NULL, &b));
    assert_string_equal(mf_flag_name(MF_FLAG_CLEARTEXT_AUTH), "cleartext-auth");
    assert_string_equal(mf_flag_name(MF_FLAG_PORT_25), "port-25");

    assert_int_equal(mf_default_port(MF_SEC_TLS), 465);
    assert_int_equal(mf_default_port(MF_SEC_STARTTLS), 587);
    assert_int_equal(mf_default_port(MF_SEC_NONE), 587);
    for (int o = 0; o < MF_OUT__COUNT; o++)
        assert_int_equal(mf_outcome_is_cert((mf_outcome)o),
                         strncmp(mf_outcome_name((mf_outcome)o), "cert-", 5) == 0);
}

static mf_server *server(mf_report *r, int src, const char *host, int port, mf_security sec,
                         mf_auth auth, const char *username)
{
    mf_server *s = mf_report_add_server(r, src);
    assert_non_null(s);
    if (host)
        assert_int_equal(mf_server_set_hostname(s, host), MF_OK);
    s->port = port;
    s->security = sec;
    s->auth = auth;
    s->username = mf_strdup(username);
    return s;
}

static mf_account *account(mf_report *r, int src, const char *smtp, const char *ref)
{
    mf_account *a = mf_report_add_account(r, src);
    assert_non_null(a);
    a->smtp = mf_strdup(smtp);
    a->smtp_ref = mf_strdup(ref);
    return a;
}

#define HAS(flags, bit) (((flags) & (bit)) != 0)

static void test_compute_findings(void **state)
{
    (void)state;
    mf_report *r = mf_report_new();
    int alice, bob;
    assert_int_equal(mf_report_add_source(r, "alice", "apple-mail", "accounts-plist", "/a", &alice),
                     MF_OK);
    assert_int_equal(mf_report_add_source(r, "bob", "apple-mail", "accounts-plist", "/b", &bob),
                     MF_OK);
    /* s1 used, starttls, password: clean. */
    server(r, alice, "smtp.example.com", 587, MF_SEC_STARTTLS, MF_AUTH_PASSWORD, "alice");
    /* s2 and s3: the same entry twice (user name differs only in case); s4 another port;
     * s5 the same but bob's; s13 the same but another client. */
    server(r, alice, "old.example.com", 587, MF_SEC_TLS, MF_AUTH_PASSWORD, "Alice");
    server(r, alice, "OLD.example.com ", 587, MF_SEC_TLS, MF_AUTH_PASSWORD, "alice");
    server(r, alice, "old.example.com", 465, MF_SEC_TLS, MF_AUTH_PASSWORD, "alice");
    server(r, bob, "old.example.com", 587, MF_SEC_TLS, MF_AUTH_PASSWORD, "alice");
    /* s6..s9: plain text with various auth. */
    server(r, alice, "p1.example.com", 587, MF_SEC_NONE, MF_AUTH_PASSWORD, NULL);
    server(r, alice, "p2.example.com", 587, MF_SEC_NONE, MF_AUTH_NONE, NULL);
    server(r, alice, "p3.example.com", 587, MF_SEC_NONE, MF_AUTH_ANY, NULL);
    server(r, alice, "p4.example.com", 587, MF_SEC_NONE, MF_AUTH_PASSWORD_ENCRYPTED, NULL);
    /* s10: port 25 with TLS; s11: STARTTLS if offered with a password. */
    server(r, alice, "relay.example.com", 25, MF_SEC_STARTTLS, MF_AUTH_NONE, NULL);
    server(r, alice, "opt.example.com", 587, MF_SEC_STARTTLS_OPTIONAL, MF_AUTH_PASSWORD, NULL);
    /* s12: provider-managed twice is not a duplicate (no host name to compare). */
    mf_server *p = server(r, alice, NULL, 0, MF_SEC_TLS, MF_AUTH_OAUTH2, NULL);
    p->provider = mf_strdup("google");
    p->flags |= MF_FLAG_PROVIDER_MANAGED;
    p = server(r, alice, NULL, 0, MF_SEC_TLS, MF_AUTH_OAUTH2, NULL);
    p->provider = mf_strdup("google");
    p->flags |= MF_FLAG_PROVIDER_MANAGED;
    /* s14: like s2 but in another client. */
    p = server(r, alice, "old.example.com", 587, MF_SEC_TLS, MF_AUTH_PASSWORD, "alice");
    free(p->client);
    p->client = mf_strdup("thunderbird");

    account(r, alice, "s1", "ID-1");    /* a1 */
    account(r, alice, "s1", "ID-1");    /* a2: s1 again */
    account(r, alice, "s2", NULL);      /* a3 */
    account(r, alice, NULL, "gone-id"); /* a4: dangling by raw reference */
    account(r, alice, NULL, NULL);      /* a5: no SMTP server at all */
    account(r, alice, NULL, "");        /* a6: empty reference is no reference */
    account(r, alice, "s99", "s99");    /* a7: names a server id that does not exist */

    for (int pass = 0; pass < 2; pass++) {
        mf_report_compute_findings(r);
        mf_server *s = r->servers;
        assert_int_equal(s[0].used_by.n, 2);
        assert_string_equal(s[0].used_by.v[0], "a1");
        assert_string_equal(s[0].used_by.v[1], "a2");
        assert_int_equal(s[0].flags, 0);
        assert_int_equal(s[1].used_by.n, 1);
        assert_false(HAS(s[1].flags, MF_FLAG_UNUSED));
        assert_true(HAS(s[1].flags, MF_FLAG_DUPLICATE));
        assert_true(HAS(s[2].flags, MF_FLAG_DUPLICATE));
        assert_true(HAS(s[2].flags, MF_FLAG_UNUSED));
        assert_true(HAS(s[2].flags, MF_FLAG_HOSTNAME_WHITESPACE));
        assert_true(HAS(s[2].flags, MF_FLAG_HOSTNAME_CASE));
        assert_false(HAS(s[3].flags, MF_FLAG_DUPLICATE));
        assert_false(HAS(s[4].flags, MF_FLAG_DUPLICATE));
        assert_false(HAS(s[13].flags, MF_FLAG_DUPLICATE));
        assert_int_equal(s[5].flags, MF_FLAG_UNUSED | MF_FLAG_PLAINTEXT | MF_FLAG_CLEARTEXT_AUTH);
        assert_int_equal(s[6].flags, MF_FLAG_UNUSED | MF_FLAG_PLAINTEXT);
        assert_int_equal(s[7].flags, MF_FLAG_UNUSED | MF_FLAG_PLAINTEXT | MF_FLAG_CLEARTEXT_AUTH);
        assert_int_equal(s[8].flags, MF_FLAG_UNUSED | MF_FLAG_PLAINTEXT);
        assert_int_equal(s[9].flags, MF_FLAG_UNUSED | MF_FLAG_PORT_25);
        assert_int_equal(s[10].flags, MF_FLAG_UNUSED | MF_FLAG_STARTTLS_OPTIONAL);
        assert_int_equal(s[11].flags, MF_FLAG_UNUSED | MF_FLAG_PROVIDER_MANAGED);
        assert_int_equal(s[12].flags, MF_FLAG_UNUSED | MF_FLAG_PROVIDER_MANAGED);
        assert_int_equal(s[13].flags, MF_FLAG_UNUSED);
        mf_account *a = r->accounts;
        assert_int_equal(a[0].flags, 0);
        assert_int_equal(a[2].flags, 0);
        assert_int_equal(a[3].flags, MF_FLAG_DANGLING);
        assert_int_equal(a[4].flags, 0);
        assert_int_equal(a[5].flags, 0);
        assert_int_equal(a[6].flags, MF_FLAG_DANGLING);
    }
    /* Changing the inputs and recomputing clears what no longer holds, and keeps the
     * flags that the derivation does not own. */
    r->servers[5].security = MF_SEC_TLS;
    r->servers[9].port = 587;
    free(r->accounts[3].smtp_ref);
    r->accounts[3].smtp_ref = NULL;
    mf_report_compute_findings(r);
    assert_int_equal(r->servers[5].flags, MF_FLAG_UNUSED);
    assert_int_equal(r->servers[9].flags, MF_FLAG_UNUSED);
    assert_int_equal(r->accounts[3].flags, 0);
    assert_true(HAS(r->servers[2].flags, MF_FLAG_HOSTNAME_WHITESPACE));
    assert_true(HAS(r->servers[11].flags, MF_FLAG_PROVIDER_MANAGED));
    mf_report_free(r);
}

static void test_set_hostname(void **state)
{
    (void)state;
    mf_report *r = mf_report_new();
    mf_server *s = mf_report_add_server(r, -1);
    assert_non_null(s);
    assert_string_equal(s->id, "s1");
    assert_int_equal(s->source, -1);
    assert_null(s->client);

    static const struct {
        const char *raw, *host;
        bool keep_raw;
        unsigned flags;
    } cases[] = {
        {"smtp.example.com", "smtp.example.com", false, 0},
        {" smtp.example.com", "smtp.example.com", true, MF_FLAG_HOSTNAME_WHITESPACE},
        {"smtp.example.com\t", "smtp.example.com", true, MF_FLAG_HOSTNAME_WHITESPACE},
        {"smtp.example.com\n", "smtp.example.com", true, MF_FLAG_HOSTNAME_WHITESPACE},
        {"SMTP.Example.COM", "smtp.example.com", true, MF_FLAG_HOSTNAME_CASE},
        {"  Mail.Example.com ", "mail.example.com", true,
         MF_FLAG_HOSTNAME_WHITESPACE | MF_FLAG_HOSTNAME_CASE},
        {"192.0.2.1", "192.0.2.1", false, 0},
        {"", NULL, false, 0},
        {"   ", NULL, false, 0},
        {NULL, NULL, false, 0},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        /* Start from a state with both flags and an unrelated flag set. */
        s->flags = MF_FLAG_HOSTNAME_CASE | MF_FLAG_HOSTNAME_WHITESPACE | MF_FLAG_DEFAULT_PORT;
        assert_int_equal(mf_server_set_hostname(s, cases[i].raw), MF_OK);
        if (cases[i].host)
            assert_string_equal(s->hostname, cases[i].host);
        else
            assert_null(s->hostname);
        if (cases[i].keep_raw)
            assert_string_equal(s->hostname_raw, cases[i].raw);
        else
            assert_null(s->hostname_raw);
        if (s->flags != (cases[i].flags | MF_FLAG_DEFAULT_PORT))
            fail_msg("case %zu: flags %#x", i, s->flags);
    }
    mf_report_free(r);
}

static void test_report_new_and_add(void **state)
{
    (void)state;
    mf_report *a = mf_report_new(), *b = mf_report_new();
    assert_non_null(a);
    assert_non_null(b);
    assert_true(mf_uuid_valid(a->report_id));
    assert_string_not_equal(a->report_id, b->report_id);
    int64_t t;
    assert_int_equal(mf_time_parse_rfc3339(a->collected_at, &t), MF_OK);
    assert_string_equal(a->agent_version, MAILFLEET_VERSION);
    int idx = -5;
    assert_int_equal(mf_report_add_source(a, NULL, "thunderbird", "prefs-js", NULL, &idx), MF_OK);
    assert_int_equal(idx, 0);
    assert_string_equal(a->sources[0].user, "");
    assert_string_equal(a->sources[0].path, "");
    assert_int_equal(a->sources[0].status, MF_SRC_OK);
    assert_null(a->sources[0].error);
    mf_report_source_fail(a, 0, MF_SRC_UNREADABLE, NULL);
    assert_int_equal(a->sources[0].status, MF_SRC_UNREADABLE);
    assert_string_equal(a->sources[0].error, "unreadable");
    mf_report_source_fail(a, 0, MF_SRC_TOO_LARGE, "file is 9 MB");
    assert_string_equal(a->sources[0].error, "file is 9 MB");
    mf_report_source_fail(a, 7, MF_SRC_MISSING, "ignored"); /* out of range: no effect */
    mf_report_source_fail(a, -1, MF_SRC_MISSING, "ignored");
    for (int i = 0; i < 20; i++) {
        mf_server *s = mf_report_add_server(a, 0);
        assert_non_null(s);
        assert_string_equal(s->user, "");
        assert_string_equal(s->client, "thunderbird");
        mf_account *ac = mf_report_add_account(a, 0);
        assert_non_null(ac);
        mf_probe *p = mf_report_add_probe(a);
        assert_non_null(p);
        for (int k = 0; k < MF_PHASE__COUNT; k++)
            assert_int_equal(p->phase_ms[k], -1);
    }
    assert_string_equal(a->servers[19].id, "s20");
    assert_string_equal(a->accounts[19].id, "a20");
    assert_int_equal(mf_report_server_index(a, "s7"), 6);
    assert_int_equal(mf_report_server_index(a, "s21"), -1);
    assert_int_equal(mf_report_server_index(a, NULL), -1);
    assert_ptr_equal(mf_report_find_server(a, "s20"), &a->servers[19]);
    assert_null(mf_report_find_server(a, "a1"));
    mf_report_free(a);
    mf_report_free(b);
    mf_report_free(NULL);
}

/* ------------------------------------------------------------ the direct decoder */

/* The direct decoder on text: accepted (and then equal to the tree decoder's report),
 * or declined; either way mf_report_decode gives what the tree decoder gives. */
static void direct_case(const char *what, const char *text, bool want_accept)
{
    size_t len = strlen(text);
    mf_report *direct = mf_report_decode_direct(text, len);
    mf_report *tree = NULL, *dflt = NULL;
    mf_error e1, e2;
    mf_error_clear(&e1);
    mf_error_clear(&e2);
    mf_code rc = mf_report_decode_tree(&tree, text, len, &e1);
    mf_code rc2 = mf_report_decode(&dflt, text, len, &e2);
    if ((direct != NULL) != want_accept)
        fail_msg("%s: the direct decoder %s", what, direct ? "accepted" : "declined");
    assert_int_equal(rc, rc2);
    if (direct) {
        assert_int_equal(rc, MF_OK);
        reports_same(tree, direct);
        char *a = mf_report_encode(tree, 0), *b = mf_report_encode(direct, 0);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    if (rc == MF_OK) {
        reports_same(tree, dflt);
    } else {
        assert_null(dflt);
        assert_string_equal(e1.field, e2.field);
        assert_string_equal(e1.text, e2.text);
    }
    mf_report_free(direct);
    mf_report_free(tree);
    mf_report_free(dflt);
}

static char *dump_free(json_t *root)
{
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    assert_non_null(text);
    return text;
}

static void test_direct_decoder(void **state)
{
    (void)state;
    mf_report *r = full_report();
    /* Its description has non-ASCII letters, outside the subset the reader takes. */
    char *text = mf_report_encode(r, 0);
    direct_case("non-ASCII", text, false);
    free(text);
    free(r->servers[0].description);
    r->servers[0].description = S("Work \"SMTP\" ete");
    for (int pretty = 0; pretty <= 1; pretty++) {
        text = mf_report_encode(r, pretty);
        direct_case(pretty ? "pretty" : "compact", text, true);
        mf_report *back = mf_report_decode_direct(text, strlen(text));
        assert_non_null(back);
        reports_same(r, back);
        mf_report_free(back);
        free(text);
    }

    /* Accepted: members in another order, nulls and absences the format allows,
     * escapes, upper-case UUIDs and time offsets. */
    json_t *root = mf_report_to_json(r);
    json_t *servers = json_incref(json_object_get(root, "servers"));
    json_object_del(root, "servers");
    json_object_set_new(json_object_get(root, "host"), "os", json_null());
    json_t *root2 = json_pack("{s:o}", "servers", servers);
    json_object_update(root2, root);
    json_decref(root);
    json_object_del(jpath(root2, "probes[1]"), "phases");
    json_object_set_new(jpath(root2, "probes[0]"), "phase", json_null());
    json_object_set_new(jpath(root2, "servers[0]"), "description",
                        json_string("tab\there \"q\" back\\slash /"));
    json_object_set_new(root2, "report_id", json_string("3F2B8C1E-6A4D-4C2B-9E8F-0123456789AB"));
    json_object_set_new(root2, "collected_at", json_string("2026-11-29T11:30:00.250+01:30"));
    char *ok = dump_free(root2);
    direct_case("lenient", ok, true);

    /* Declined, whatever the tree decoder then says. */
    static const struct {
        const char *what, *path, *member, *value; /* value: JSON text, NULL deletes */
    } declines[] = {
        {"unknown member", "", "future", "1"},
        {"unknown nested member", "probes[0].tls.cert", "key_bits", "2048"},
        {"non-ASCII string", "servers[0]", "description", "\"caf\\u00e9\""},
        {"real number", "servers[0]", "port", "587.0"},
        {"port out of range", "servers[0]", "port", "70000"},
        {"wrong type", "servers[0]", "port", "\"587\""},
        {"unknown enum word", "servers[0]", "security", "\"ssl\""},
        {"unknown flag", "servers[0]", "flags", "[\"nope\"]"},
        {"dangling reference", "accounts[0]", "smtp", "\"s99\""},
        {"source out of range", "servers[0]", "source", "99"},
        {"missing required", "servers[0]", "client", NULL},
        {"null required", "agent", "version", "null"},
        {"empty host id", "host", "id", "\"\""},
        {"bad schema", "", "schema", "\"mailfleet.report.v2\""},
        {"bad time", "", "collected_at", "\"yesterday\""},
    };
    for (size_t i = 0; i < sizeof(declines) / sizeof(declines[0]); i++) {
        json_t *j = mf_report_to_json(r);
        json_t *o = declines[i].path[0] ? jpath(j, declines[i].path) : j;
        assert_non_null(o);
        if (declines[i].value) {
            json_error_t je;
            json_t *v = json_loads(declines[i].value, JSON_DECODE_ANY, &je);
            assert_non_null(v);
            json_object_set_new(o, declines[i].member, v);
        } else {
            json_object_del(o, declines[i].member);
        }
        char *bad = dump_free(j);
        direct_case(declines[i].what, bad, false);
        free(bad);
    }
    /* Text-level cases: a repeated key, trailing bytes, not an object. */
    size_t n = strlen(ok);
    char *dup = malloc(n + 64);
    assert_non_null(dup);
    snprintf(dup, n + 64, "%.*s,\"schema\":\"mailfleet.report.v1\"}", (int)(n - 1), ok);
    direct_case("repeated key", dup, false);
    snprintf(dup, n + 64, "%s x", ok);
    direct_case("trailing bytes", dup, false);
    free(dup);
    direct_case("array", "[1,2]", false);
    direct_case("empty", "", false);
    free(ok);
    mf_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_field),
        cmocka_unit_test(test_round_trip_empty_report),
        cmocka_unit_test(test_encoding_shape),
        cmocka_unit_test(test_no_secret_members),
        cmocka_unit_test(test_decode_errors_name_the_field),
        cmocka_unit_test(test_unknown_members_ignored),
        cmocka_unit_test(test_decode_lenient_where_documented),
        cmocka_unit_test(test_decode_syntax_errors),
        cmocka_unit_test(test_decode_size_limits),
        cmocka_unit_test(test_decode_many_ids),
        cmocka_unit_test(test_name_tables),
        cmocka_unit_test(test_compute_findings),
        cmocka_unit_test(test_set_hostname),
        cmocka_unit_test(test_report_new_and_add),
        cmocka_unit_test(test_direct_decoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
