/* fuzz_report_direct.c: the direct report decoder against the tree decoder.
 *
 * The direct decoder (report_direct.h) may decline anything, but whatever it accepts the
 * tree decoder must accept too, with an identical report: the same encoding byte for
 * byte, and the same value in every field, including those the encoding leaves out
 * (a probe's phase when its outcome is ok, ...). mf_report_decode, which tries the
 * direct decoder first, must agree with the tree decoder on every input. Any
 * disagreement aborts. */
#include "report.h"
#include "report_direct.h"
#include "report_json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_report_direct: %s\n", what);
    abort();
}

static void same_str(const char *a, const char *b, const char *what)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        die(what);
}

static void same_strv(const mf_strv *a, const mf_strv *b, const char *what)
{
    if (a->n != b->n)
        die(what);
    for (size_t i = 0; i < a->n; i++)
        same_str(a->v[i], b->v[i], what);
}

/* Every field of two reports, the array capacities aside. */
static void same_report(const mf_report *a, const mf_report *b)
{
    if (strcmp(a->report_id, b->report_id) || strcmp(a->collected_at, b->collected_at))
        die("report_id or collected_at differs");
    same_str(a->agent_version, b->agent_version, "agent.version differs");
    same_str(a->host.id, b->host.id, "host.id differs");
    same_str(a->host.hostname, b->host.hostname, "host.hostname differs");
    same_str(a->host.os_name, b->host.os_name, "host.os.name differs");
    same_str(a->host.os_version, b->host.os_version, "host.os.version differs");
    if (a->dropped_reports != b->dropped_reports || a->nsources != b->nsources ||
        a->nservers != b->nservers || a->naccounts != b->naccounts || a->nprobes != b->nprobes)
        die("counts differ");
    for (size_t i = 0; i < a->nsources; i++) {
        const mf_source *x = &a->sources[i], *y = &b->sources[i];
        same_str(x->user, y->user, "source.user");
        same_str(x->client, y->client, "source.client");
        same_str(x->format, y->format, "source.format");
        same_str(x->path, y->path, "source.path");
        same_str(x->error, y->error, "source.error");
        if (x->status != y->status)
            die("source.status");
    }
    for (size_t i = 0; i < a->nservers; i++) {
        const mf_server *x = &a->servers[i], *y = &b->servers[i];
        same_str(x->id, y->id, "server.id");
        same_str(x->user, y->user, "server.user");
        same_str(x->client, y->client, "server.client");
        same_str(x->hostname, y->hostname, "server.hostname");
        same_str(x->hostname_raw, y->hostname_raw, "server.hostname_raw");
        same_str(x->provider, y->provider, "server.provider");
        same_str(x->username, y->username, "server.username");
        same_str(x->description, y->description, "server.description");
        same_str(x->identifier, y->identifier, "server.identifier");
        same_strv(&x->used_by, &y->used_by, "server.used_by");
        if (x->source != y->source || x->port != y->port || x->security != y->security ||
            x->auth != y->auth || x->flags != y->flags)
            die("server scalar differs");
    }
    for (size_t i = 0; i < a->naccounts; i++) {
        const mf_account *x = &a->accounts[i], *y = &b->accounts[i];
        same_str(x->id, y->id, "account.id");
        same_str(x->user, y->user, "account.user");
        same_str(x->client, y->client, "account.client");
        same_str(x->type, y->type, "account.type");
        same_str(x->description, y->description, "account.description");
        same_strv(&x->emails, &y->emails, "account.emails");
        same_str(x->smtp, y->smtp, "account.smtp");
        same_str(x->smtp_ref, y->smtp_ref, "account.smtp_ref");
        if (x->source != y->source || x->flags != y->flags)
            die("account scalar differs");
    }
    for (size_t i = 0; i < a->nprobes; i++) {
        const mf_probe *x = &a->probes[i], *y = &b->probes[i];
        same_str(x->hostname, y->hostname, "probe.hostname");
        same_strv(&x->servers, &y->servers, "probe.servers");
        same_str(x->detail, y->detail, "probe.detail");
        same_str(x->address, y->address, "probe.address");
        same_str(x->banner, y->banner, "probe.banner");
        same_strv(&x->ehlo, &y->ehlo, "probe.ehlo");
        same_strv(&x->ehlo_tls, &y->ehlo_tls, "probe.ehlo_tls");
        same_strv(&x->auth_before_tls, &y->auth_before_tls, "probe.auth_before_tls");
        same_strv(&x->auth, &y->auth, "probe.auth");
        if (x->port != y->port || x->security != y->security || x->outcome != y->outcome ||
            x->fail_phase != y->fail_phase || x->reply_code != y->reply_code ||
            x->duration_ms != y->duration_ms || x->starttls_offered != y->starttls_offered ||
            x->has_tls != y->has_tls)
            die("probe scalar differs");
        for (int k = 0; k < MF_PHASE__COUNT; k++)
            if (x->phase_ms[k] != y->phase_ms[k])
                die("probe.phases differ");
        const mf_tls *s = &x->tls, *t = &y->tls;
        same_str(s->version, t->version, "tls.version");
        same_str(s->cipher, t->cipher, "tls.cipher");
        same_str(s->verify_error, t->verify_error, "tls.verify_error");
        same_str(s->alert, t->alert, "tls.alert");
        if (s->verified != t->verified || s->hostname_match != t->hostname_match ||
            s->has_cert != t->has_cert)
            die("tls scalar differs");
        const mf_cert *c = &s->cert, *e = &t->cert;
        same_str(c->subject, e->subject, "cert.subject");
        same_str(c->issuer, e->issuer, "cert.issuer");
        same_strv(&c->san, &e->san, "cert.san");
        same_str(c->not_before, e->not_before, "cert.not_before");
        same_str(c->not_after, e->not_after, "cert.not_after");
        same_str(c->sha256, e->sha256, "cert.sha256");
        if (c->days_left != e->days_left || c->self_signed != e->self_signed)
            die("cert scalar differs");
    }
}

static void same_encoding(const mf_report *a, const mf_report *b)
{
    char *ta = mf_report_encode(a, 0), *tb = mf_report_encode(b, 0);
    if (!ta || !tb)
        die("encode failed");
    if (strcmp(ta, tb) != 0)
        die("the direct and tree decoders encode differently");
    free(ta);
    free(tb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    mf_report *direct = mf_report_decode_direct(text, size);
    mf_report *tree = NULL, *dflt = NULL;
    mf_error err, err2;
    mf_error_clear(&err);
    mf_error_clear(&err2);
    mf_code rc = mf_report_decode_tree(&tree, text, size, &err);
    mf_code rc2 = mf_report_decode(&dflt, text, size, &err2);
    if (direct) {
        if (rc != MF_OK)
            die("the direct decoder accepted a document the tree decoder refuses");
        same_report(direct, tree);
        same_encoding(direct, tree);
    }
    /* The public entry point: the same verdict, and the same error when it refuses. */
    if (rc != rc2)
        die("mf_report_decode and the tree decoder disagree");
    if (rc == MF_OK) {
        same_report(dflt, tree);
        same_encoding(dflt, tree);
    } else {
        char m1[1024], m2[1024];
        if (dflt || strcmp(mf_error_format(&err, m1, sizeof(m1)),
                           mf_error_format(&err2, m2, sizeof(m2))) != 0)
            die("mf_report_decode words an error differently");
    }
    mf_report_free(direct);
    mf_report_free(tree);
    mf_report_free(dflt);
    return 0;
}
