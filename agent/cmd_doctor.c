/* doctor: Connection Doctor for every SMTP server entry: each probe step marked ✓ or ✗
 * with its time, then advice in plain words (advice.c). --json gives the same result
 * as one JSON object. Exit code 0 when every probe is ok and every source was read,
 * 1 otherwise. */
#include "advice.h"
#include "buf.h"
#include "commands.h"
#include "log.h"
#include "report_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRAP_COLS 92
#define INFO_MAX 72

typedef struct style {
    const char *ok, *bad, *warn, *dim, *bold, *off;
} style;

static const style plain = {"", "", "", "", "", ""};
static const style ansi = {"\033[32m", "\033[31m", "\033[33m", "\033[2m", "\033[1m", "\033[0m"};

static const char *security_words(mf_security s)
{
    switch (s) {
    case MF_SEC_NONE:
        return "no encryption";
    case MF_SEC_STARTTLS_OPTIONAL:
        return "STARTTLS if available";
    case MF_SEC_STARTTLS:
        return "STARTTLS required";
    case MF_SEC_TLS:
        return "SSL/TLS";
    default:
        return "security unknown";
    }
}

static bool probe_ok(const mf_probe *p)
{
    return p->outcome == MF_OUT_OK || p->outcome == MF_OUT_SKIPPED;
}

/* Print text wrapped at WRAP_COLS, every line indented; the first line starts with
 * lead (already accounted in the indent). Counts code points for the width. */
static void print_wrapped(const char *indent, const char *lead, const char *text)
{
    size_t ind = strlen(indent);
    fputs(indent, stdout);
    fputs(lead, stdout);
    size_t col = ind + 2;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = p;
        size_t wl = 0, cps = 0;
        while (w[wl] && w[wl] != ' ') {
            if (((unsigned char)w[wl] & 0xC0) != 0x80)
                cps++;
            wl++;
        }
        if (wl == 0)
            break;
        if (col > ind + 2 && col + 1 + cps > WRAP_COLS) {
            fputc('\n', stdout);
            fputs(indent, stdout);
            fputs("  ", stdout);
            col = ind + 2;
        } else if (col > ind + 2) {
            fputc(' ', stdout);
            col++;
        }
        fwrite(w, 1, wl, stdout);
        col += cps;
        p = w + wl;
    }
    fputc('\n', stdout);
}

/* Shorten s to at most max bytes for a table cell (ASCII: report strings are). */
static void cut(char *out, size_t outsz, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (max + 1 > outsz)
        max = outsz - 1;
    if (n <= max) {
        memcpy(out, s, n + 1);
        return;
    }
    memcpy(out, s, max - 3);
    memcpy(out + max - 3, "...", 4);
}

static char *ehlo_summary(const mf_strv *lines)
{
    mf_buf b;
    mf_buf_init(&b, 512);
    for (size_t i = 0; i < lines->n; i++) {
        const char *l = lines->v[i];
        size_t n = strcspn(l, " =");
        if (mf_str_has_prefix(l, "AUTH") || mf_str_has_prefix(l, "auth"))
            n = strlen(l);
        if (mf_buf_appendf(&b, "%s%.*s", i ? ", " : "", (int)n, l) != MF_OK)
            break;
    }
    return mf_buf_detach(&b, NULL);
}

typedef enum step {
    ST_DNS, ST_CONNECT, ST_BANNER, ST_EHLO, ST_STARTTLS, ST_TLS, ST_CERT, ST_EHLO_TLS, ST_QUIT,
    ST__COUNT
} step;
static const char *const step_names[ST__COUNT] = {
    "DNS", "Connect", "Greeting", "EHLO", "STARTTLS", "TLS", "Certificate", "EHLO after TLS",
    "QUIT",
};
static const int step_phase[ST__COUNT] = {
    MF_PHASE_DNS, MF_PHASE_CONNECT, MF_PHASE_BANNER, MF_PHASE_EHLO, MF_PHASE_STARTTLS,
    MF_PHASE_TLS, -1, MF_PHASE_EHLO_TLS, MF_PHASE_QUIT,
};

static void step_info(const mf_probe *p, step s, bool failed, char *out, size_t outsz)
{
    out[0] = '\0';
    char *tmp = NULL;
    if (failed && p->detail) {
        cut(out, outsz, p->detail, 200);
        return;
    }
    switch (s) {
    case ST_DNS:
        snprintf(out, outsz, "%s", p->address ? p->address : "");
        break;
    case ST_CONNECT:
        if (p->address)
            snprintf(out, outsz, "port %d", p->port);
        break;
    case ST_BANNER:
        if (p->banner)
            cut(out, outsz, p->banner, INFO_MAX);
        break;
    case ST_EHLO:
    case ST_EHLO_TLS:
        tmp = ehlo_summary(s == ST_EHLO ? &p->ehlo : &p->ehlo_tls);
        if (tmp)
            cut(out, outsz, *tmp ? tmp : "(no extensions: HELO)", INFO_MAX);
        break;
    case ST_TLS:
        if (p->tls.version)
            snprintf(out, outsz, "%s, %s", p->tls.version, p->tls.cipher ? p->tls.cipher : "?");
        break;
    case ST_CERT:
        if (p->tls.has_cert) {
            const mf_cert *c = &p->tls.cert;
            tmp = mf_asprintf("%s, issued by %s, %lld days left%s", c->subject ? c->subject : "?",
                              c->issuer ? c->issuer : "?", c->days_left,
                              c->self_signed ? ", self-signed" : "");
            if (tmp)
                cut(out, outsz, tmp, 120);
        }
        break;
    default:
        break;
    }
    free(tmp);
}

static void print_steps(const mf_probe *p, const style *st)
{
    bool implicit = p->security == MF_SEC_TLS || (p->security == MF_SEC_UNKNOWN && p->port == 465);
    static const step order_starttls[] = {ST_DNS, ST_CONNECT, ST_BANNER, ST_EHLO, ST_STARTTLS,
                                          ST_TLS, ST_CERT, ST_EHLO_TLS, ST_QUIT};
    static const step order_tls[] = {ST_DNS, ST_CONNECT, ST_TLS, ST_CERT, ST_BANNER,
                                     ST_EHLO_TLS, ST_QUIT};
    const step *order = implicit ? order_tls : order_starttls;
    size_t n = implicit ? MF_ARRAY_LEN(order_tls) : MF_ARRAY_LEN(order_starttls);
    bool cert_fail = mf_outcome_is_cert(p->outcome);
    for (size_t i = 0; i < n; i++) {
        step s = order[i];
        int ph = step_phase[s];
        bool failed, reached;
        long long ms = -1;
        if (s == ST_CERT) {
            reached = p->has_tls && (p->tls.has_cert || cert_fail);
            failed = cert_fail;
        } else {
            ms = p->phase_ms[ph];
            failed = !probe_ok(p) && !cert_fail && p->fail_phase == (mf_phase)ph;
            reached = ms >= 0 || failed;
        }
        if (!reached)
            continue;
        char info[256];
        step_info(p, s, failed, info, sizeof(info));
        char t[24] = "";
        if (ms >= 0)
            snprintf(t, sizeof(t), "%lld ms", ms);
        printf("  %s%s%s %-15s %8s  %s\n", failed ? st->bad : st->ok, failed ? "✗" : "✓", st->off,
               step_names[s], t, info);
    }
}

static void print_entry_line(const mf_report *r, const mf_server *s, const style *st)
{
    char *users = mf_advice_users_text(r, s);
    printf("  %s%s, user %s%s%s%s: %s%s [%s]%s\n", st->dim, mf_advice_client_name(s->client),
           s->user ? s->user : "?", s->description ? ", \"" : "",
           s->description ? s->description : "", s->description ? "\"" : "",
           users && *users ? "used by " : "used by no account ", users ? users : "", s->id,
           st->off);
    free(users);
}

static void print_advice(const mf_advice_list *adv, const mf_server *s, const style *st)
{
    for (size_t i = 0; i < adv->n; i++) {
        const mf_advice *a = &adv->v[i];
        if (!mf_streq(a->server, s->id))
            continue;
        const char *col = a->level == MF_ADVICE_PROBLEM   ? st->bad
                          : a->level == MF_ADVICE_WARNING ? st->warn
                                                          : st->dim;
        const char *mark = a->level == MF_ADVICE_PROBLEM   ? "✗ "
                           : a->level == MF_ADVICE_WARNING ? "! "
                                                           : "i ";
        char lead[32];
        snprintf(lead, sizeof(lead), "%s%s%s", col, mark, st->off);
        print_wrapped("  ", lead, a->text);
    }
}

static int doctor_json(const mf_report *r, const mf_advice_list *adv, size_t nok, size_t nbad,
                       size_t nskip)
{
    json_t *root = mf_report_to_json(r);
    json_t *arr = json_array();
    if (!root || !arr) {
        json_decref(root);
        json_decref(arr);
        return MF_EXIT_FAILURE;
    }
    for (size_t i = 0; i < adv->n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "server", adv->v[i].server,
                                             "level", mf_advice_level_name(adv->v[i].level),
                                             "text", adv->v[i].text));
    json_t *out = json_pack(
        "{s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:O, s:O, s:O, s:O, s:o}", "summary", "servers",
        (json_int_t)r->nservers, "probes", (json_int_t)(nok + nbad), "ok", (json_int_t)nok,
        "skipped", (json_int_t)nskip,
        "problems", (json_int_t)nbad, "failed_sources", (json_int_t)mf_report_failed_sources(r),
        "servers", json_object_get(root, "servers"), "accounts", json_object_get(root, "accounts"),
        "sources", json_object_get(root, "sources"), "probes", json_object_get(root, "probes"),
        "advice", arr);
    json_decref(root);
    if (!out)
        return MF_EXIT_FAILURE;
    int rc = json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(out);
    fputc('\n', stdout);
    return rc == 0 && fflush(stdout) == 0 ? MF_EXIT_OK : MF_EXIT_FAILURE;
}

int mf_cmd_doctor(mf_agent_opts *o)
{
    mf_report *r = NULL;
    mf_advice_list adv = {0};
    int status = MF_EXIT_OK;
    mf_code rc = mf_agent_build_report(&r, o, true);
    if (rc != MF_OK) {
        mf_log_error("doctor failed: %s", mf_strerror(rc));
        return MF_EXIT_FAILURE;
    }
    bool color = o->color == 1 || (o->color == -1 && isatty(STDOUT_FILENO) && !getenv("NO_COLOR"));
    const style *st = color ? &ansi : &plain;

    size_t nok = 0, nbad = 0, nskip = 0;
    for (size_t i = 0; i < r->nprobes; i++) {
        if (r->probes[i].outcome == MF_OUT_SKIPPED)
            nskip++;
        else if (probe_ok(&r->probes[i]))
            nok++;
        else
            nbad++;
    }
    for (size_t i = 0; i < r->nservers; i++) {
        const mf_server *s = &r->servers[i];
        const mf_probe *p = NULL;
        for (size_t k = 0; k < r->nprobes && !p; k++)
            if (mf_strv_contains(&r->probes[k].servers, s->id))
                p = &r->probes[k];
        if (mf_advice_for_server(&adv, r, s, p) != MF_OK) {
            mf_log_error("doctor: out of memory");
            status = MF_EXIT_FAILURE;
            goto out;
        }
    }
    if (o->json) {
        status = doctor_json(r, &adv, nok, nbad, nskip);
        goto out;
    }

    printf("%sConnection Doctor%s: %zu SMTP server entr%s, %zu probe%s: %zu ok, %zu with "
           "problems\n",
           st->bold, st->off, r->nservers, r->nservers == 1 ? "y" : "ies", nok + nbad,
           nok + nbad == 1 ? "" : "s", nok, nbad);
    for (size_t i = 0; i < r->nprobes; i++) {
        const mf_probe *p = &r->probes[i];
        if (p->outcome == MF_OUT_SKIPPED || !p->hostname)
            continue; /* shown under "Not probed" */
        bool ok = probe_ok(p);
        printf("\n%s%s%s:%d%s  (%s)\n", st->bold, ok ? "" : st->bad, p->hostname, p->port, st->off,
               security_words(p->security));
        for (size_t k = 0; k < p->servers.n; k++) {
            const mf_server *s = mf_report_find_server(r, p->servers.v[k]);
            if (s)
                print_entry_line(r, s, st);
        }
        print_steps(p, st);
        printf("  %s%s%s in %lld ms\n", ok ? st->ok : st->bad,
               ok ? "ok" : mf_outcome_name(p->outcome), st->off, p->duration_ms);
        for (size_t k = 0; k < p->servers.n; k++) {
            const mf_server *s = mf_report_find_server(r, p->servers.v[k]);
            if (s)
                print_advice(&adv, s, st);
        }
    }
    bool header = false;
    for (size_t i = 0; i < r->nservers; i++) {
        const mf_server *s = &r->servers[i];
        if (s->hostname)
            continue;
        if (!header)
            printf("\n%sNot probed%s\n", st->bold, st->off);
        header = true;
        print_entry_line(r, s, st);
        print_advice(&adv, s, st);
    }
    size_t failed = 0;
    for (size_t i = 0; i < r->nsources; i++) {
        const mf_source *s = &r->sources[i];
        if (s->status == MF_SRC_OK || s->status == MF_SRC_MISSING)
            continue;
        if (!failed)
            printf("\n%sSources that could not be read%s\n", st->bold, st->off);
        failed++;
        printf("  %s✗%s %s: %s (%s)\n", st->bad, st->off, s->path ? s->path : "?",
               mf_source_status_name(s->status), s->error ? s->error : "");
    }
    if (r->nservers == 0)
        printf("\nNo SMTP server entries found.\n");
    if (fflush(stdout) != 0)
        status = MF_EXIT_FAILURE;
out:
    if (nbad > 0 || mf_report_failed_sources(r) > 0)
        status = MF_EXIT_FAILURE;
    mf_advice_list_free(&adv);
    mf_report_free(r);
    return status;
}
