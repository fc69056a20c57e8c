/* results.c: counting results and writing them (results.h, docs/results.md).
 *
 * The JSON writer streams: the header (policy, options) goes out in begin, each result
 * is one line as it arrives, and the parts that need the final counts (rules with their
 * counts, waivers with their use, inputs, summary) come after the results array. JSON
 * readers do not care about member order, and this keeps memory flat for 100,000 hosts.
 * Strings are escaped here, and any invalid UTF-8 is replaced, so the output is always
 * valid JSON.
 */
#include "buf.h"
#include "log.h"
#include "results.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEPT_ERRORS   1000
#define MAX_KEPT_WARNINGS 100
#define MAX_LISTED        50

static const char *const state_names[MF_STATE__COUNT] = {"pass", "fail", "error", "notapplicable",
                                                         "waived"};

const char *mf_state_name(mf_state s)
{
    return (unsigned)s < MF_STATE__COUNT ? state_names[s] : "unknown";
}

/* A fail or error kept for the human summary. */
typedef struct listed {
    char *host;
    char *rule;
    char *severity;
    char *entity;
    char *message;
    mf_state state;
} listed;

struct mf_results {
    const mf_policy *policy;
    mf_waivers *waivers;
    mf_run_info info;
    size_t counts[MF_STATE__COUNT];
    size_t *rule_counts; /* nrules x MF_STATE__COUNT */
    size_t failed_above, errors_above;
    size_t inputs_ok, inputs_skipped, inputs_failed;
    mf_strv err_files, err_texts;
    mf_strv warnings;
    listed kept[MAX_LISTED];
    size_t nkept, nlistable;
    mf_results_sink *sinks;
    size_t nsinks, capsinks;
    bool begun;
};

mf_code mf_results_new(mf_results **out, const mf_policy *p, mf_waivers *w, const mf_run_info *info)
{
    *out = NULL;
    mf_results *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return MF_ERR_NOMEM;
    rs->policy = p;
    rs->waivers = w;
    rs->info = *info;
    rs->rule_counts = calloc((p->nrules ? p->nrules : 1) * MF_STATE__COUNT, sizeof(size_t));
    if (!rs->rule_counts) {
        free(rs);
        return MF_ERR_NOMEM;
    }
    *out = rs;
    return MF_OK;
}

void mf_results_free(mf_results *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->nsinks; i++)
        if (rs->sinks[i].free)
            rs->sinks[i].free(rs->sinks[i].ctx);
    free(rs->sinks);
    for (size_t i = 0; i < rs->nkept; i++) {
        free(rs->kept[i].host);
        free(rs->kept[i].rule);
        free(rs->kept[i].severity);
        free(rs->kept[i].entity);
        free(rs->kept[i].message);
    }
    mf_strv_free(&rs->err_files);
    mf_strv_free(&rs->err_texts);
    mf_strv_free(&rs->warnings);
    free(rs->rule_counts);
    free(rs);
}

mf_code mf_results_add_sink(mf_results *rs, const mf_results_sink *sink)
{
    if (mf_grow((void **)&rs->sinks, &rs->capsinks, rs->nsinks + 1, sizeof(*sink)) != MF_OK) {
        if (sink->free)
            sink->free(sink->ctx);
        return MF_ERR_NOMEM;
    }
    rs->sinks[rs->nsinks++] = *sink;
    return MF_OK;
}

mf_code mf_results_begin(mf_results *rs, mf_error *err)
{
    rs->begun = true;
    for (size_t i = 0; i < rs->nsinks; i++) {
        if (!rs->sinks[i].begin)
            continue;
        mf_code rc = rs->sinks[i].begin(rs->sinks[i].ctx, rs, err);
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

static void keep(mf_results *rs, const mf_result *r)
{
    rs->nlistable++;
    if (rs->nkept >= MAX_LISTED)
        return;
    listed *k = &rs->kept[rs->nkept];
    k->host = mf_strdup(r->host_id ? r->host_id : "(fleet)");
    k->rule = mf_strdup(r->rule->id);
    k->severity = mf_strdup(mf_severity_name(r->rule->severity));
    k->entity = mf_strdup(r->entity ? r->entity : "");
    k->message = mf_strdup(r->message ? r->message : "");
    k->state = r->state;
    rs->nkept++;
}

mf_code mf_results_add(mf_results *rs, const mf_result *r, mf_error *err)
{
    rs->counts[r->state]++;
    rs->rule_counts[r->rule->index * MF_STATE__COUNT + r->state]++;
    if (r->rule->severity >= rs->info.fail_on) {
        if (r->state == MF_STATE_FAIL)
            rs->failed_above++;
        else if (r->state == MF_STATE_ERROR)
            rs->errors_above++;
    }
    if (r->state == MF_STATE_FAIL || r->state == MF_STATE_ERROR)
        keep(rs, r);
    for (size_t i = 0; i < rs->nsinks; i++) {
        mf_code rc = rs->sinks[i].add(rs->sinks[i].ctx, rs, r, err);
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

bool mf_results_writes_each(const mf_results *rs)
{
    return rs->nsinks > 0;
}

void mf_results_input_ok(mf_results *rs)
{
    rs->inputs_ok++;
}

void mf_results_input_skipped(mf_results *rs)
{
    rs->inputs_skipped++;
}

void mf_results_input_error(mf_results *rs, const char *file, const char *message)
{
    rs->inputs_failed++;
    if (rs->err_files.n >= MAX_KEPT_ERRORS)
        return;
    if (mf_strv_push(&rs->err_files, file ? file : "") == MF_OK &&
        mf_strv_push(&rs->err_texts, message ? message : "") != MF_OK) {
        free(rs->err_files.v[--rs->err_files.n]);
    }
}

void mf_results_warn(mf_results *rs, const char *message)
{
    if (rs->warnings.n < MAX_KEPT_WARNINGS)
        (void)mf_strv_push(&rs->warnings, message);
}

mf_code mf_results_end(mf_results *rs, mf_error *err)
{
    for (size_t i = 0; i < rs->nsinks; i++) {
        if (!rs->sinks[i].end)
            continue;
        mf_code rc = rs->sinks[i].end(rs->sinks[i].ctx, rs, err);
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

const mf_policy *mf_results_policy(const mf_results *rs)
{
    return rs->policy;
}

const mf_waivers *mf_results_waivers(const mf_results *rs)
{
    return rs->waivers;
}

const mf_run_info *mf_results_info(const mf_results *rs)
{
    return &rs->info;
}

size_t mf_results_count(const mf_results *rs, mf_state s)
{
    return (unsigned)s < MF_STATE__COUNT ? rs->counts[s] : 0;
}

size_t mf_results_rule_count(const mf_results *rs, size_t rule, mf_state s)
{
    if (rule >= rs->policy->nrules || (unsigned)s >= MF_STATE__COUNT)
        return 0;
    return rs->rule_counts[rule * MF_STATE__COUNT + s];
}

void mf_results_inputs(const mf_results *rs, size_t *ok, size_t *skipped, size_t *errors)
{
    *ok = rs->inputs_ok;
    *skipped = rs->inputs_skipped;
    *errors = rs->inputs_failed;
}

size_t mf_results_input_error_count(const mf_results *rs)
{
    return rs->err_files.n;
}

const char *mf_results_input_error_file(const mf_results *rs, size_t i)
{
    return i < rs->err_files.n ? rs->err_files.v[i] : NULL;
}

const char *mf_results_input_error_text(const mf_results *rs, size_t i)
{
    return i < rs->err_texts.n ? rs->err_texts.v[i] : NULL;
}

size_t mf_results_warning_count(const mf_results *rs)
{
    return rs->warnings.n;
}

const char *mf_results_warning(const mf_results *rs, size_t i)
{
    return i < rs->warnings.n ? rs->warnings.v[i] : NULL;
}

size_t mf_results_failed_at_or_above(const mf_results *rs)
{
    return rs->failed_above;
}

size_t mf_results_errors_at_or_above(const mf_results *rs)
{
    return rs->errors_above;
}

int mf_results_exit_code(const mf_results *rs)
{
    if (rs->inputs_failed > 0)
        return MF_EXIT_RUNTIME;
    if (rs->failed_above > 0)
        return MF_EXIT_FAILED;
    if (rs->errors_above > 0)
        return MF_EXIT_ERRORS;
    return MF_EXIT_COMPLIANT;
}

/* ------------------------------------------------------------------ text summary */

void mf_results_print_summary(const mf_results *rs, FILE *f)
{
    const mf_policy *p = rs->policy;
    fprintf(f, "policy %s %s (%s): %zu rule%s\n", p->id, p->version, p->title, p->nrules,
            p->nrules == 1 ? "" : "s");
    fprintf(f, "%-32s %-8s %8s %8s %8s %8s %8s\n", "RULE", "SEVERITY", "PASS", "FAIL", "ERROR",
            "N/A", "WAIVED");
    for (size_t i = 0; i < p->nrules; i++) {
        fprintf(f, "%-32s %-8s", p->rules[i].id, mf_severity_name(p->rules[i].severity));
        for (int s = 0; s < MF_STATE__COUNT; s++)
            fprintf(f, " %8zu", rs->rule_counts[i * MF_STATE__COUNT + (size_t)s]);
        fputc('\n', f);
    }
    if (rs->nkept) {
        fprintf(f, "\nfailures and errors%s:\n",
                rs->nlistable > rs->nkept ? " (the first ones; --json has them all)" : "");
        for (size_t i = 0; i < rs->nkept; i++) {
            const listed *k = &rs->kept[i];
            fprintf(f, "  %-5s %-8s %s  %s  %s\n    %s\n",
                    k->state == MF_STATE_FAIL ? "FAIL" : "ERROR", k->severity ? k->severity : "",
                    k->rule ? k->rule : "", k->host ? k->host : "", k->entity ? k->entity : "",
                    k->message ? k->message : "");
        }
        if (rs->nlistable > rs->nkept)
            fprintf(f, "  ... and %zu more\n", rs->nlistable - rs->nkept);
    }
    const mf_waivers *w = rs->waivers;
    if (w) {
        size_t expired = 0, unknown = 0;
        for (size_t i = 0; i < w->n; i++) {
            expired += w->v[i].status == MF_WAIVER_EXPIRED;
            unknown += w->v[i].status == MF_WAIVER_UNKNOWN_RULE;
        }
        fprintf(f, "\nwaivers (%s): %zu, %zu expired, %zu naming no rule of the policy\n", w->path,
                w->n, expired, unknown);
        for (size_t i = 0; i < w->n; i++)
            if (w->v[i].status == MF_WAIVER_EXPIRED)
                fprintf(f, "  expired on %s: waivers[%zu] %s host %s server %s%s\n",
                        w->v[i].expires, i, w->v[i].rule, w->v[i].host, w->v[i].server,
                        w->v[i].matched ? " (its results count again)" : "");
    }
    if (rs->inputs_failed) {
        fprintf(f, "\n%zu report%s could not be evaluated:\n", rs->inputs_failed,
                rs->inputs_failed == 1 ? "" : "s");
        for (size_t i = 0; i < rs->err_files.n && i < 20; i++)
            fprintf(f, "  %s: %s\n", rs->err_files.v[i], rs->err_texts.v[i]);
    }
    for (size_t i = 0; i < rs->warnings.n; i++)
        fprintf(f, "warning: %s\n", rs->warnings.v[i]);
    fprintf(f, "\n%zu report%s evaluated", rs->inputs_ok, rs->inputs_ok == 1 ? "" : "s");
    if (rs->inputs_skipped)
        fprintf(f, " (%zu older report%s of the same hosts skipped)", rs->inputs_skipped,
                rs->inputs_skipped == 1 ? "" : "s");
    fprintf(f, ": pass %zu, fail %zu, error %zu, notapplicable %zu, waived %zu\n",
            rs->counts[MF_STATE_PASS], rs->counts[MF_STATE_FAIL], rs->counts[MF_STATE_ERROR],
            rs->counts[MF_STATE_NOTAPPLICABLE], rs->counts[MF_STATE_WAIVED]);
    int code = mf_results_exit_code(rs);
    fprintf(f, "exit %d: %s (fail-on %s)\n", code,
            code == MF_EXIT_RUNTIME  ? "some reports could not be evaluated"
            : code == MF_EXIT_FAILED ? "rules failed"
            : code == MF_EXIT_ERRORS ? "nothing failed, but some rules could not be evaluated"
                                     : "compliant",
            mf_severity_name(rs->info.fail_on));
}

/* ------------------------------------------------------------------ JSON writer */

typedef struct jsink {
    FILE *f;
    bool own; /* close f at the end */
    char *path;
    size_t nresults;
    bool failed;
    mf_buf line; /* one result, written with one fwrite (stdio per piece was 30 % of a
                  * --json run: locking and bookkeeping for ~30 small writes a result) */
    bool nomem;  /* an append to line failed */
} jsink;

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Write s as a JSON string (NULL as null). Runs of bytes that need no escaping go out
 * in one fwrite; control characters are escaped and invalid UTF-8 becomes U+FFFD. */
/* mf_buf_append, with the common case (room enough) inline: the results writer appends
 * some 40 pieces per result. */
static inline bool bput(mf_buf *b, const void *p, size_t n)
{
    if (b->data && b->cap - b->len > n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return true;
    }
    return mf_buf_append(b, p, n) == MF_OK;
}

/* Append s to b as a JSON string (null for NULL): printable ASCII and valid UTF-8 as
 * they are, the quote, the backslash and control characters escaped, and a byte that
 * starts no valid UTF-8 sequence as U+FFFD. Returns false when b could not grow. */
static bool bstr(mf_buf *b, const char *s)
{
    if (!s)
        return bput(b, "null", 4);
    bool ok = bput(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s, *run = p;
    for (;;) {
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        unsigned char c = *p;
        if (!c)
            break;
        size_t n = c >= 0x80 ? utf8_len(p) : 0;
        if (n) {
            p += n;
            continue;
        }
        if (p > run)
            ok &= bput(b, run, (size_t)(p - run));
        switch (c) {
        case '"':
            ok &= bput(b, "\\\"", 2);
            break;
        case '\\':
            ok &= bput(b, "\\\\", 2);
            break;
        case '\n':
            ok &= bput(b, "\\n", 2);
            break;
        case '\t':
            ok &= bput(b, "\\t", 2);
            break;
        case '\r':
            ok &= bput(b, "\\r", 2);
            break;
        default:
            if (c < 0x20) {
                char u[8];
                snprintf(u, sizeof(u), "\\u%04x", c);
                ok &= bput(b, u, 6);
            } else {
                ok &= bput(b, "\\ufffd", 6);
            }
        }
        p++;
        run = p;
    }
    if (p > run)
        ok &= bput(b, run, (size_t)(p - run));
    return ok && bput(b, "\"", 1);
}

/* jstr for the parts written once (policy, rules, waivers): through a small buffer. */
static void jstr(FILE *f, const char *s)
{
    mf_buf b;
    mf_buf_init(&b, (size_t)1 << 24);
    if (bstr(&b, s))
        fwrite(b.data, 1, b.len, f);
    else
        fputs("null", f); /* out of memory: still valid JSON */
    mf_buf_free(&b);
}

/* Write ,"k": (or "k": first). Keys are our own constants: nothing to escape. */
static void jkey(FILE *f, const char *k, bool first)
{
    if (!first)
        putc(',', f);
    putc('"', f);
    fputs(k, f);
    fwrite("\":", 1, 2, f);
}

static void jdump(FILE *f, json_t *v)
{
    if (!v)
        fputs("null", f);
    else
        json_dumpf(v, f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

static void date_of(int64_t t, char *out, size_t outsz)
{
    mf_time_format_rfc3339(t, out, outsz);
}

static mf_code io_fail(jsink *j, mf_error *err)
{
    j->failed = true;
    mf_error_set_file(err, j->path);
    return mf_error_set(err, MF_ERR_IO, "cannot write: %s", strerror(errno));
}

static mf_code json_begin(void *ctx, const mf_results *rs, mf_error *err)
{
    jsink *j = ctx;
    FILE *f = j->f;
    const mf_policy *p = rs->policy;
    char now[32], asof[32];
    mf_time_now_rfc3339(now, sizeof(now));
    date_of(rs->info.as_of, asof, sizeof(asof));
    fputs("{\n", f);
    fputs("  \"schema\": \"mailfleet.results.v1\",\n  \"command\": ", f);
    jstr(f, rs->info.command);
    fputs(",\n  \"generated_at\": ", f);
    jstr(f, now);
    fputs(",\n  \"as_of\": ", f);
    jstr(f, asof);
    fputs(",\n  \"source\": ", f);
    jstr(f, rs->info.source);
    fputs(",\n  \"fail_on\": ", f);
    jstr(f, mf_severity_name(rs->info.fail_on));
    fputs(",\n  \"policy\": {", f);
    jkey(f, "id", true);
    jstr(f, p->id);
    jkey(f, "title", false);
    jstr(f, p->title);
    jkey(f, "version", false);
    jstr(f, p->version);
    jkey(f, "path", false);
    jstr(f, p->path);
    jkey(f, "files", false);
    fputc('[', f);
    for (size_t i = 0; i < p->nfiles; i++) {
        const mf_policy_file *pf = &p->files[i];
        fputs(i ? ",\n    {" : "\n    {", f);
        jkey(f, "path", true);
        jstr(f, pf->path);
        jkey(f, "id", false);
        jstr(f, pf->id);
        jkey(f, "title", false);
        jstr(f, pf->title);
        jkey(f, "version", false);
        jstr(f, pf->version);
        jkey(f, "parameters", false);
        jdump(f, pf->parameters);
        fputc('}', f);
    }
    fputs("]},\n  \"results\": [", f);
    return ferror(f) ? io_fail(j, err) : MF_OK;
}

/* ,"k": (or "k": first) into j->line. */
static void lkey(jsink *j, const char *k, bool first)
{
    const char *from = first ? "\"" : ",\"";
    j->nomem |= !bput(&j->line, from, strlen(from)) || !bput(&j->line, k, strlen(k)) ||
                !bput(&j->line, "\":", 2);
}

static void lstr(jsink *j, const char *s)
{
    j->nomem |= !bstr(&j->line, s);
}

static void lraw(jsink *j, const char *s)
{
    j->nomem |= !bput(&j->line, s, strlen(s));
}

static mf_code json_add(void *ctx, const mf_results *rs, const mf_result *r, mf_error *err)
{
    (void)rs;
    jsink *j = ctx;
    mf_buf_reset(&j->line);
    lraw(j, j->nresults++ ? ",\n    {" : "\n    {");
    lkey(j, "host", true);
    lstr(j, r->host_id);
    lkey(j, "hostname", false);
    lstr(j, r->hostname);
    lkey(j, "rule", false);
    lstr(j, r->rule->id);
    lkey(j, "severity", false);
    lstr(j, mf_severity_name(r->rule->severity));
    lkey(j, "scope", false);
    lstr(j, mf_scope_name(r->rule->scope));
    lkey(j, "entity", false);
    lstr(j, r->entity);
    lkey(j, "server", false);
    lstr(j, r->server);
    lkey(j, "state", false);
    lstr(j, mf_state_name(r->state));
    lkey(j, "message", false);
    lstr(j, r->message);
    if (r->state == MF_STATE_FAIL) {
        lkey(j, "remediation", false);
        lraw(j, "{");
        lkey(j, "user", true);
        lstr(j, r->rule->remediation_user);
        lkey(j, "admin", false);
        lstr(j, r->rule->remediation_admin);
        lraw(j, "}");
    }
    const mf_waiver *w = r->waiver ? r->waiver : r->expired;
    if (w) {
        char idx[48];
        snprintf(idx, sizeof(idx), "{\"index\":%zu", r->waiver_index);
        lkey(j, "waiver", false);
        lraw(j, idx);
        lkey(j, "justification", false);
        lstr(j, w->justification);
        lkey(j, "approved_by", false);
        lstr(j, w->approved_by);
        lkey(j, "expires", false);
        lstr(j, w->expires);
        lkey(j, "expired", false);
        lraw(j, r->expired ? "true}" : "false}");
    }
    lraw(j, "}");
    if (j->nomem) {
        j->failed = true;
        mf_error_set_file(err, j->path);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory writing a result");
    }
    fwrite(j->line.data, 1, j->line.len, j->f);
    return ferror(j->f) ? io_fail(j, err) : MF_OK;
}

static void jstrv(FILE *f, const mf_strv *sv)
{
    fputc('[', f);
    for (size_t i = 0; i < sv->n; i++) {
        if (i)
            fputc(',', f);
        jstr(f, sv->v[i]);
    }
    fputc(']', f);
}

static void jcounts(FILE *f, const size_t *c)
{
    fputc('{', f);
    for (int s = 0; s < MF_STATE__COUNT; s++) {
        jkey(f, state_names[s], s == 0);
        fprintf(f, "%zu", c[s]);
    }
    fputc('}', f);
}

static mf_code json_end(void *ctx, const mf_results *rs, mf_error *err)
{
    jsink *j = ctx;
    FILE *f = j->f;
    const mf_policy *p = rs->policy;
    fputs(j->nresults ? "\n  ],\n  \"rules\": [" : "],\n  \"rules\": [", f);
    for (size_t i = 0; i < p->nrules; i++) {
        const mf_rule *r = &p->rules[i];
        fputs(i ? ",\n    {" : "\n    {", f);
        jkey(f, "id", true);
        jstr(f, r->id);
        jkey(f, "title", false);
        jstr(f, r->title);
        jkey(f, "severity", false);
        jstr(f, mf_severity_name(r->severity));
        jkey(f, "scope", false);
        jstr(f, mf_scope_name(r->scope));
        jkey(f, "policy", false);
        jstr(f, p->files[r->file].id);
        jkey(f, "description", false);
        jstr(f, r->description);
        jkey(f, "rationale", false);
        jstr(f, r->rationale);
        jkey(f, "remediation", false);
        fputc('{', f);
        jkey(f, "user", true);
        jstr(f, r->remediation_user);
        jkey(f, "admin", false);
        jstr(f, r->remediation_admin);
        fputc('}', f);
        jkey(f, "references", false);
        jstrv(f, &r->references);
        jkey(f, "tags", false);
        jstrv(f, &r->tags);
        jkey(f, "counts", false);
        jcounts(f, &rs->rule_counts[i * MF_STATE__COUNT]);
        fputc('}', f);
    }
    fputs(p->nrules ? "\n  ],\n  \"waivers\": " : "],\n  \"waivers\": ", f);
    const mf_waivers *w = rs->waivers;
    if (!w) {
        fputs("null", f);
    } else {
        fputc('{', f);
        jkey(f, "file", true);
        jstr(f, w->path);
        jkey(f, "entries", false);
        fputc('[', f);
        for (size_t i = 0; i < w->n; i++) {
            const mf_waiver *x = &w->v[i];
            fputs(i ? ",\n    {" : "\n    {", f);
            fprintf(f, "\"index\":%zu", i);
            jkey(f, "rule", false);
            jstr(f, x->rule);
            jkey(f, "host", false);
            jstr(f, x->host);
            jkey(f, "server", false);
            jstr(f, x->server);
            jkey(f, "justification", false);
            jstr(f, x->justification);
            jkey(f, "approved_by", false);
            jstr(f, x->approved_by);
            jkey(f, "expires", false);
            jstr(f, x->expires);
            jkey(f, "status", false);
            jstr(f, mf_waiver_status_name(x->status));
            jkey(f, "waived", false);
            fprintf(f, "%zu", x->status == MF_WAIVER_ACTIVE ? x->matched : (size_t)0);
            jkey(f, "would_have_waived", false);
            fprintf(f, "%zu", x->status == MF_WAIVER_EXPIRED ? x->matched : (size_t)0);
            jkey(f, "matched_passing", false);
            fprintf(f, "%zu}", x->matched_pass);
        }
        fputs(w->n ? "\n  ]}" : "]}", f);
    }
    fprintf(f, ",\n  \"inputs\": {\"reports\":%zu,\"skipped_older\":%zu,\"failed\":%zu",
            rs->inputs_ok, rs->inputs_skipped, rs->inputs_failed);
    jkey(f, "errors", false);
    fputc('[', f);
    for (size_t i = 0; i < rs->err_files.n; i++) {
        fputs(i ? ",{" : "{", f);
        jkey(f, "file", true);
        jstr(f, rs->err_files.v[i]);
        jkey(f, "error", false);
        jstr(f, rs->err_texts.v[i]);
        fputc('}', f);
    }
    fputs("]},\n  \"warnings\": ", f);
    jstrv(f, &rs->warnings);
    size_t total = 0;
    for (int s = 0; s < MF_STATE__COUNT; s++)
        total += rs->counts[s];
    fputs(",\n  \"summary\": {", f);
    for (int s = 0; s < MF_STATE__COUNT; s++) {
        jkey(f, state_names[s], s == 0);
        fprintf(f, "%zu", rs->counts[s]);
    }
    fprintf(f,
            ",\"total\":%zu,\"failed_at_or_above\":%zu,\"errors_at_or_above\":%zu,"
            "\"exit_code\":%d}\n}\n",
            total, rs->failed_above, rs->errors_above, mf_results_exit_code(rs));
    if (fflush(f) != 0 || ferror(f))
        return io_fail(j, err);
    if (j->own) {
        FILE *tmp = j->f;
        j->f = NULL;
        if (fclose(tmp) != 0)
            return io_fail(j, err);
    }
    return MF_OK;
}

static void json_free(void *ctx)
{
    jsink *j = ctx;
    if (!j)
        return;
    if (j->own && j->f)
        fclose(j->f);
    free(j->path);
    mf_buf_free(&j->line);
    free(j);
}

mf_code mf_results_json_sink(mf_results_sink *out, const char *path, mf_error *err)
{
    memset(out, 0, sizeof(*out));
    jsink *j = calloc(1, sizeof(*j));
    if (!j || !(j->path = mf_strdup(path))) {
        free(j);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    mf_buf_init(&j->line, (size_t)1 << 24);
    if (strcmp(path, "-") == 0) {
        j->f = stdout;
    } else {
        j->f = fopen(path, "w");
        if (!j->f) {
            mf_error_set_file(err, path);
            mf_code rc = mf_error_set(err, errno == EACCES ? MF_ERR_PERM : MF_ERR_IO,
                                      "cannot create the results file: %s", strerror(errno));
            free(j->path);
            free(j);
            return rc;
        }
        j->own = true;
        /* Results are many small writes: a large buffer saves system calls. */
        setvbuf(j->f, NULL, _IOFBF, (size_t)1 << 16);
    }
    out->name = "json";
    out->ctx = j;
    out->begin = json_begin;
    out->add = json_add;
    out->end = json_end;
    out->free = json_free;
    return MF_OK;
}
