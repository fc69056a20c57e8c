/* report_html.c: the fleet report as one self-contained HTML file.
 *
 * Sections, in order (docs/reports.md shows them): run header, summary, the
 * organisation-wide SMTP server inventory with stale verdicts (the headline view),
 * rules with counts per state, hosts (collapsed details, worst first, paged), history
 * (compliance per day as inline SVG and when each failure first appeared), waivers.
 *
 * Everything is written through mf_xw (libxml2's xmlTextWriter), so every value is
 * escaped by construction. The page is polyglot: well-formed XML as well as HTML, with
 * every non-void element closed explicitly. A Content-Security-Policy allows nothing
 * but the page's own style sheet and script (by their SHA-256), so the file makes no
 * request of any kind.
 *
 * Scale: the summary comes first but is only known at the end, so each host's markup
 * goes to an unlinked temporary file as the host completes, with a record of a few
 * dozen bytes (offset, length, failure counts); at the end the page is written and the
 * host markup copied back in order, worst hosts first, in pages of opts.html_page_hosts
 * inside closed <details> (a browser parses closed pages but does not lay them out).
 */
#include "report_html_assets.h"
#include "reports_int.h"
#include "util.h"
#include "xmlw.h"

#include <openssl/evp.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STOPPED_LIST_MAX  1000
#define FLEET_NOTES_MAX   100000
#define SERVER_ROWS_SHOWN 5000
#define NOTES_PER_SERVER  4

typedef struct host_rec {
    long long off, len;   /* the markup: details (findings) or a table row (compliant) */
    long long coff, clen; /* hosts with findings: their one-row summary as well */
    uint32_t fail_sev[MF_RPT__SEVERITIES];
    uint32_t errors;
    size_t index;
} host_rec;

typedef struct fleet_note {
    char *key; /* server key */
    size_t rule;
    mf_rpt_state state;
    char *message;
} fleet_note;

typedef struct html {
    FILE *ffail, *fok; /* markup of hosts with findings / compliant hosts */
    mf_xw *xfail, *xok;
    FILE *frow; /* one-row summaries of the hosts with findings */
    mf_xw *xrow;
    host_rec *fail, *ok;
    size_t nfail, capfail, nok, capok;
    char **stopped; /* labels of hosts that stopped reporting (first 1000) */
    size_t *stopped_idx;
    size_t nstopped, capstopped, capstopped_idx;
    fleet_note *notes;
    size_t nnotes, capnotes, notes_dropped;
    size_t hosts_failing;
    size_t *heap; /* the worst hosts so far (html_detail_hosts of them) */
    size_t nheap;
    char csp[256];
} html;

/* ------------------------------------------------------------------ small helpers */

/* n with thousands separators: 100,000. */
static const char *count_str(size_t n, char *buf, size_t bufsz)
{
    char raw[32];
    int len = snprintf(raw, sizeof(raw), "%zu", n);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < bufsz; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

/* printf into buf, returning buf (for one-off labels). */
static const char *bfmt(char *buf, size_t bufsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *bfmt(char *buf, size_t bufsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, bufsz, fmt, ap);
    va_end(ap);
    return buf;
}

static void percent_str(size_t part, size_t whole, char *buf, size_t bufsz)
{
    if (whole == 0)
        snprintf(buf, bufsz, "-");
    else if (part == whole)
        snprintf(buf, bufsz, "100%%");
    else
        snprintf(buf, bufsz, "%.1f%%", 100.0 * (double)part / (double)whole);
}

static void human_time(int64_t t, char *out, size_t outsz)
{
    char full[32];
    mf_rpt_time_rfc3339(t, full, sizeof(full));
    if (!full[0]) {
        snprintf(out, outsz, "unknown");
        return;
    }
    /* "2026-11-29T10:00:00Z" -> "2026-11-29 10:00 UTC" */
    snprintf(out, outsz, "%.10s %.5s UTC", full, full + 11);
}

static void th(mf_xw *x, const char *text, const char *cls)
{
    mf_xw_start(x, "th");
    mf_xw_attr(x, "scope", "col");
    if (cls)
        mf_xw_attr(x, "class", cls);
    mf_xw_text(x, text);
    mf_xw_end(x);
}

static void td(mf_xw *x, const char *text)
{
    mf_xw_elem(x, "td", text);
}

static void td_date(mf_xw *x, const char *text)
{
    mf_xw_elem_class(x, "td", "date", text);
}

static void td_num(mf_xw *x, size_t n)
{
    char buf[40];
    mf_xw_start(x, "td");
    mf_xw_attr(x, "class", "num");
    mf_xw_text(x, count_str(n, buf, sizeof(buf)));
    mf_xw_end(x);
}

static void badge(mf_xw *x, const char *kind, const char *value, const char *text)
{
    char cls[64];
    snprintf(cls, sizeof(cls), "%s %s-%s", kind, kind, value);
    mf_xw_elem_class(x, "span", cls, text);
}

static void state_badge(mf_xw *x, mf_rpt_state s)
{
    badge(x, "st", mf_rpt_state_name(s), s == MF_RPT_NOTAPPLICABLE ? "n/a" : mf_rpt_state_name(s));
}

static void sev_badge(mf_xw *x, mf_rpt_severity s)
{
    badge(x, "sev", mf_rpt_severity_name(s), mf_rpt_severity_name(s));
}

static void section_start(mf_xw *x, const char *id, const char *title)
{
    char hid[64];
    snprintf(hid, sizeof(hid), "h-%s", id);
    mf_xw_start(x, "section");
    mf_xw_attr(x, "id", id);
    mf_xw_attr(x, "aria-labelledby", hid);
    mf_xw_start(x, "h2");
    mf_xw_attr(x, "id", hid);
    mf_xw_text(x, title);
    mf_xw_end(x);
}

static void para(mf_xw *x, const char *cls, const char *text)
{
    mf_xw_start(x, "p");
    if (cls)
        mf_xw_attr(x, "class", cls);
    mf_xw_text(x, text);
    mf_xw_end(x);
}

/* 'sha256-BASE64' of data, for the Content-Security-Policy. */
static bool csp_hash(const char *data, char *out, size_t outsz)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char b64[EVP_MAX_MD_SIZE * 2];
    if (!EVP_Digest(data, strlen(data), md, &mdlen, EVP_sha256(), NULL))
        return false;
    EVP_EncodeBlock(b64, md, (int)mdlen);
    snprintf(out, outsz, "'sha256-%s'", (const char *)b64);
    return true;
}

/* ------------------------------------------------------------------ begin / free */

static void html_free(void *impl)
{
    html *h = impl;
    if (!h)
        return;
    mf_xw_close(h->xfail, NULL);
    mf_xw_close(h->xok, NULL);
    mf_xw_close(h->xrow, NULL);
    if (h->frow)
        fclose(h->frow);
    if (h->ffail)
        fclose(h->ffail);
    if (h->fok)
        fclose(h->fok);
    free(h->fail);
    free(h->ok);
    free(h->heap);
    for (size_t i = 0; i < h->nstopped; i++)
        free(h->stopped[i]);
    free(h->stopped);
    free(h->stopped_idx);
    for (size_t i = 0; i < h->nnotes; i++) {
        free(h->notes[i].key);
        free(h->notes[i].message);
    }
    free(h->notes);
    free(h);
}

static mf_code html_begin(mf_rpt_writer *w, mf_error *err)
{
    mf_code rc;
    if (strpbrk(mf_rpt_html_css, "<>&\"\r") || strpbrk(mf_rpt_html_js, "<>&\"\r"))
        return mf_error_set(err, MF_ERR_INTERNAL,
                            "the report's style or script has markup "
                            "characters");
    html *h = calloc(1, sizeof(*h));
    if (!h)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    w->impl = h;
    if ((rc = mf_rpt_tmpfile(&h->ffail, w, err)) != MF_OK ||
        (rc = mf_rpt_tmpfile(&h->fok, w, err)) != MF_OK ||
        (rc = mf_rpt_tmpfile(&h->frow, w, err)) != MF_OK ||
        (rc = mf_xw_open(&h->xrow, h->frow, false, err)) != MF_OK ||
        (rc = mf_xw_open(&h->xfail, h->ffail, false, err)) != MF_OK ||
        (rc = mf_xw_open(&h->xok, h->fok, false, err)) != MF_OK)
        return rc;
    char css[128], js[128];
    if (!csp_hash(mf_rpt_html_css, css, sizeof(css)) || !csp_hash(mf_rpt_html_js, js, sizeof(js)))
        return mf_error_set(err, MF_ERR_INTERNAL, "cannot hash the report's style and script");
    snprintf(h->csp, sizeof(h->csp),
             "default-src 'none'; style-src %s; script-src %s; img-src data:; "
             "form-action 'none'; base-uri 'none'",
             css, js);
    return MF_OK;
}

/* ------------------------------------------------------------------ hosts */

/* The (state, severity) pairs a host has, for the filters, two characters each: the
 * state's initial (p f e n w) and the severity's rank (0 info … 4 critical): "f4 e3 p1". */
static void host_pairs(const mf_rpt_writer *w, const mf_rpt_hostgroup *g, char *out, size_t outsz)
{
    static const char initial[MF_RPT__STATES] = {'p', 'f', 'e', 'n', 'w'};
    bool seen[MF_RPT__STATES][MF_RPT__SEVERITIES] = {{false}};
    for (size_t i = 0; i < g->n; i++)
        seen[g->results[i].state][w->rules[g->results[i].rule].severity] = true;
    size_t o = 0;
    out[0] = '\0';
    for (int s = 0; s < MF_RPT__STATES; s++)
        for (int v = 0; v < MF_RPT__SEVERITIES; v++)
            if (seen[s][v] && o + 4 < outsz) {
                if (o)
                    out[o++] = ' ';
                out[o++] = initial[s];
                out[o++] = (char)('0' + v);
                out[o] = '\0';
            }
}

static void host_meta(mf_xw *x, const mf_rpt_hostgroup *g)
{
    char when[48];
    human_time(g->collected_at, when, sizeof(when));
    mf_xw_start(x, "span");
    mf_xw_attr(x, "class", "muted");
    mf_xw_textf(x, " · id %s · report %s", g->id, when);
    if (g->stopped)
        mf_xw_text(x, " · stopped reporting");
    mf_xw_end(x);
}

/* One line naming the rules that gave state st on this host (pass, not applicable),
 * each with the number of its entities: such results are many and say little one by one.
 * The OS and agent versions follow the passes. */
static void state_line(mf_xw *x, const mf_rpt_writer *w, const mf_rpt_hostgroup *g, mf_rpt_state st,
                       const char *what)
{
    size_t total = 0;
    for (size_t i = 0; i < g->n; i++)
        total += g->results[i].state == st;
    if (!total && st != MF_RPT_PASS)
        return;
    mf_xw_start(x, "p");
    mf_xw_attr(x, "class", "muted");
    if (total)
        mf_xw_textf(x, "%s (%zu): ", what, total);
    size_t listed = 0;
    for (size_t i = 0; i < g->n; i++) {
        const mf_rpt_result *r = &g->results[i];
        if (r->state != st)
            continue;
        bool before = false;
        for (size_t k = 0; k < i && !before; k++)
            before = g->results[k].state == st && g->results[k].rule == r->rule;
        if (before)
            continue;
        size_t n = 0;
        for (size_t k = i; k < g->n; k++)
            n += g->results[k].state == st && g->results[k].rule == r->rule;
        if (listed++ > 0)
            mf_xw_text(x, ", ");
        if (n > 1)
            mf_xw_textf(x, "%s ×%zu", w->rules[r->rule].id, n);
        else
            mf_xw_text_clean(x, w->rules[r->rule].id);
    }
    if (total)
        mf_xw_text(x, ".");
    if (st == MF_RPT_PASS && (g->os_version || g->agent_version))
        mf_xw_textf(x, " macOS %s, agent %s.", g->os_version ? g->os_version : "?",
                    g->agent_version ? g->agent_version : "?");
    mf_xw_end(x);
}

static void result_row(mf_xw *x, const mf_rpt_writer *w, const mf_rpt_result *r)
{
    const mf_rpt_rule *rule = &w->rules[r->rule];
    char date[16];
    mf_xw_start(x, "tr");
    mf_xw_attr(x, "data-state", mf_rpt_state_name(r->state));
    mf_xw_attr(x, "data-sev", mf_rpt_severity_name(rule->severity));
    /* State and severity colour their cells (no badge elements: a detailed host has
     * dozens of rows, and the element count is what a browser pays for). */
    char cls[48];
    snprintf(cls, sizeof(cls), "st-%s", mf_rpt_state_name(r->state));
    mf_xw_elem_class(x, "td", cls,
                     r->state == MF_RPT_NOTAPPLICABLE ? "n/a" : mf_rpt_state_name(r->state));
    snprintf(cls, sizeof(cls), "sev-%s", mf_rpt_severity_name(rule->severity));
    mf_xw_elem_class(x, "td", cls, mf_rpt_severity_name(rule->severity));
    mf_xw_start(x, "td");
    mf_xw_start(x, "a");
    mf_xw_attrf(x, "href", "#rule-%zu", r->rule);
    mf_xw_text_clean(x, rule->id);
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_start(x, "td");
    mf_xw_text_clean(x, r->entity);
    mf_xw_end(x);
    mf_xw_start(x, "td");
    mf_xw_text(x, r->message);
    if (r->state == MF_RPT_WAIVED) {
        mf_xw_start(x, "br");
        mf_xw_end_empty(x);
        mf_xw_textf(x, "Waived: %s (expires %s%s%s)",
                    r->waiver_justification ? r->waiver_justification : "no justification",
                    r->waiver_expires ? r->waiver_expires : "never",
                    r->waiver_approved_by ? "; approved by " : "",
                    r->waiver_approved_by ? r->waiver_approved_by : "");
    }
    if (r->expired_waiver_expires) {
        mf_xw_start(x, "br");
        mf_xw_end_empty(x);
        mf_xw_textf(x, "A waiver expired on %s.", r->expired_waiver_expires);
    }
    mf_xw_end(x);
    mf_rpt_time_date(r->state == MF_RPT_FAIL ? r->first_failed : 0, date, sizeof(date));
    td(x, date);
    mf_xw_end(x);
}

static mf_code add_rec(host_rec **v, size_t *n, size_t *cap, const mf_rpt_hostgroup *g,
                       long long off, long long len)
{
    if (mf_grow((void **)v, cap, *n + 1, sizeof(**v)) != MF_OK)
        return MF_ERR_NOMEM;
    host_rec *r = &(*v)[(*n)++];
    memset(r, 0, sizeof(*r));
    r->off = off;
    r->len = len;
    for (int s = 0; s < MF_RPT__SEVERITIES; s++)
        r->fail_sev[s] = (uint32_t)g->fail_sev[s];
    r->errors = (uint32_t)g->counts[MF_RPT_ERROR];
    r->index = g->index;
    return MF_OK;
}

static mf_code keep_fleet_notes(html *h, const mf_rpt_hostgroup *g, mf_error *err)
{
    for (size_t i = 0; i < g->n; i++) {
        const mf_rpt_result *r = &g->results[i];
        if (r->state == MF_RPT_PASS || r->state == MF_RPT_NOTAPPLICABLE || !r->server)
            continue;
        if (h->nnotes >= FLEET_NOTES_MAX) {
            h->notes_dropped++;
            continue;
        }
        if (mf_grow((void **)&h->notes, &h->capnotes, h->nnotes + 1, sizeof(*h->notes)) != MF_OK)
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        fleet_note *n = &h->notes[h->nnotes];
        n->key = mf_strdup(r->server);
        n->message = mf_strdup(r->message ? r->message : "");
        n->rule = r->rule;
        n->state = r->state;
        if (!n->key || !n->message) {
            free(n->key);
            free(n->message);
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        }
        h->nnotes++;
    }
    return MF_OK;
}

/* One line for a host: compliant hosts always, hosts with findings beyond the detailed
 * ones. A list item of text with at most one span (not a table row of cells) keeps the
 * page at one or two elements per host, which is what lets 100,000 hosts load in a
 * browser in seconds. The
 * failing rules are named by id (at most eight). */
static void summary_row(mf_xw *x, const mf_rpt_writer *w, const mf_rpt_hostgroup *g,
                        const char *idbuf, const char *pairs)
{
    char when[48], buf[96];
    human_time(g->collected_at, when, sizeof(when));
    mf_xw_start(x, "li");
    mf_xw_attr(x, "id", idbuf);
    mf_xw_attr(x, "data-pairs", pairs);
    mf_xw_text(x, g->label);
    mf_xw_textf(x, " · id %s · report %s%s · ", g->id, when,
                g->stopped ? " (stopped reporting)" : "");
    if (g->counts[MF_RPT_FAIL]) {
        mf_xw_elem_class(
            x, "span", "st st-fail",
            bfmt(buf, sizeof(buf), "%zu failed, worst %s", g->counts[MF_RPT_FAIL],
                 mf_rpt_severity_name((mf_rpt_severity)(g->worst < 0 ? 0 : g->worst))));
    } else {
        mf_xw_text(x, "no failures");
    }
    if (g->counts[MF_RPT_ERROR])
        mf_xw_textf(x, " · %zu %s", g->counts[MF_RPT_ERROR],
                    g->counts[MF_RPT_ERROR] == 1 ? "error" : "errors");
    mf_xw_textf(x, " · %zu passed, %zu waived, %zu n/a", g->counts[MF_RPT_PASS],
                g->counts[MF_RPT_WAIVED], g->counts[MF_RPT_NOTAPPLICABLE]);
    size_t listed = 0;
    for (size_t i = 0; i < g->n && listed < 8; i++) {
        const mf_rpt_result *r = &g->results[i];
        if (r->state != MF_RPT_FAIL && r->state != MF_RPT_ERROR)
            continue;
        bool before = false;
        for (size_t k = 0; k < i && !before; k++)
            before = g->results[k].rule == r->rule &&
                     (g->results[k].state == MF_RPT_FAIL || g->results[k].state == MF_RPT_ERROR);
        if (before)
            continue;
        mf_xw_text(x, listed++ ? ", " : " · rules: ");
        mf_xw_text(x, w->rules[r->rule].id);
        if (r->state == MF_RPT_ERROR)
            mf_xw_text(x, " (error)");
    }
    mf_xw_end(x);
}

/* The markup of a host with findings: collapsed details with every result but the
 * passes (those are listed in one line). */
static void host_details(mf_xw *x, const mf_rpt_writer *w, const mf_rpt_hostgroup *g,
                         const char *idbuf, const char *pairs)
{
    char num[96];
    mf_xw_start(x, "details");
    mf_xw_attr(x, "class", "host");
    mf_xw_attr(x, "id", idbuf);
    mf_xw_attr(x, "data-pairs", pairs);
    mf_xw_start(x, "summary");
    mf_xw_elem_class(x, "span", "hn", g->label);
    mf_xw_text(x, " ");
    if (g->counts[MF_RPT_FAIL]) {
        mf_xw_elem_class(x, "span", "st st-fail",
                         bfmt(num, sizeof(num), "%zu failed", g->counts[MF_RPT_FAIL]));
        mf_xw_text(x, " ");
        sev_badge(x, (mf_rpt_severity)g->worst);
        mf_xw_text(x, " ");
    }
    if (g->counts[MF_RPT_ERROR]) {
        mf_xw_elem_class(x, "span", "st st-error",
                         bfmt(num, sizeof(num), "%zu %s", g->counts[MF_RPT_ERROR],
                              g->counts[MF_RPT_ERROR] == 1 ? "error" : "errors"));
    }
    host_meta(x, g);
    mf_xw_end(x); /* summary */
    mf_xw_start(x, "table");
    mf_xw_start(x, "thead");
    mf_xw_start(x, "tr");
    th(x, "State", NULL);
    th(x, "Severity", NULL);
    th(x, "Rule", NULL);
    th(x, "Server or account", NULL);
    th(x, "Evidence", NULL);
    th(x, "Failing since", NULL);
    mf_xw_end(x);
    mf_xw_end(x); /* thead */
    mf_xw_start(x, "tbody");
    /* Failures first, by severity, then errors, waived, not applicable. */
    static const mf_rpt_state order[] = {MF_RPT_FAIL, MF_RPT_ERROR, MF_RPT_WAIVED};
    for (size_t o = 0; o < MF_ARRAY_LEN(order); o++)
        for (int sev = MF_RPT__SEVERITIES - 1; sev >= 0; sev--)
            for (size_t i = 0; i < g->n; i++) {
                const mf_rpt_result *r = &g->results[i];
                if (r->state == order[o] && (int)w->rules[r->rule].severity == sev)
                    result_row(x, w, r);
            }
    mf_xw_end(x); /* tbody */
    mf_xw_end(x); /* table */
    state_line(x, w, g, MF_RPT_NOTAPPLICABLE, "Not applicable");
    state_line(x, w, g, MF_RPT_PASS, "Passed");
    if (g->dropped)
        para(x, "muted", bfmt(num, sizeof(num), "%zu more results not shown.", g->dropped));
    mf_xw_end(x); /* details */
}

/* Worst-first order of host records (most critical failures, then high, …, then errors,
 * then arrival). */
static int cmp_worst_first(const void *a, const void *b)
{
    const host_rec *x = a, *y = b;
    for (int s = MF_RPT__SEVERITIES - 1; s >= 0; s--)
        if (x->fail_sev[s] != y->fail_sev[s])
            return x->fail_sev[s] > y->fail_sev[s] ? -1 : 1;
    if (x->errors != y->errors)
        return x->errors > y->errors ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The heap of the html_detail_hosts worst hosts so far (indexes into h->fail), its root
 * the least bad of them. A host that is not worse than the root when the heap is full
 * can never be among the detailed ones, so its details are not written at all. */
static bool heap_less(const html *h, size_t a, size_t b)
{
    /* "less" = less bad: it sits nearer the root */
    return cmp_worst_first(&h->fail[a], &h->fail[b]) > 0;
}

static void heap_sift_down(html *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->nheap && heap_less(h, h->heap[l], h->heap[m]))
            m = l;
        if (r < h->nheap && heap_less(h, h->heap[r], h->heap[m]))
            m = r;
        if (m == i)
            return;
        size_t t = h->heap[i];
        h->heap[i] = h->heap[m];
        h->heap[m] = t;
        i = m;
    }
}

/* Offer record idx; true when it is among the cap worst so far. */
static bool heap_offer(html *h, size_t cap, size_t idx)
{
    if (h->nheap < cap) {
        size_t i = h->nheap++;
        h->heap[i] = idx;
        while (i > 0 && heap_less(h, h->heap[i], h->heap[(i - 1) / 2])) {
            size_t p = (i - 1) / 2, t = h->heap[i];
            h->heap[i] = h->heap[p];
            h->heap[p] = t;
            i = p;
        }
        return true;
    }
    if (cap == 0 || !heap_less(h, h->heap[0], idx))
        return false;
    h->heap[0] = idx;
    heap_sift_down(h, 0);
    return true;
}

typedef void (*fragment_fn)(mf_xw *x, const mf_rpt_writer *w, const mf_rpt_hostgroup *g,
                            const char *idbuf, const char *pairs);

/* Write one host's fragment (a summary row or its details) and a newline to a spill file,
 * giving where it starts and how long it is, for the page to copy it from later. */
static mf_code spill(mf_xw *x, FILE *f, fragment_fn fragment, const mf_rpt_writer *w,
                     const mf_rpt_hostgroup *g, const char *idbuf, const char *pairs,
                     long long *off, long long *len, mf_error *err)
{
    mf_xw_flush(x);
    long long start = ftello(f);
    fragment(x, w, g, idbuf, pairs);
    mf_xw_raw(x, "\n", 1);
    mf_xw_flush(x);
    long long end = ftello(f);
    if (mf_xw_failed(x) || start < 0 || end < start)
        return mf_error_set(err, MF_ERR_IO, "cannot write a temporary file");
    *off = start;
    *len = end - start;
    return MF_OK;
}

static mf_code html_host(mf_rpt_writer *w, const mf_rpt_hostgroup *g, mf_error *err)
{
    html *h = w->impl;
    if (!g->id)
        return keep_fleet_notes(h, g, err);
    char pairs[1024], idbuf[48];
    host_pairs(w, g, pairs, sizeof(pairs));
    snprintf(idbuf, sizeof(idbuf), "host-%zu", g->index);
    if (g->stopped && h->nstopped < STOPPED_LIST_MAX) {
        if (mf_grow((void **)&h->stopped, &h->capstopped, h->nstopped + 1, sizeof(char *)) !=
                MF_OK ||
            mf_grow((void **)&h->stopped_idx, &h->capstopped_idx, h->nstopped + 1,
                    sizeof(size_t)) != MF_OK ||
            !(h->stopped[h->nstopped] = mf_strdup(g->label)))
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        h->stopped_idx[h->nstopped++] = g->index;
    }
    bool findings = g->counts[MF_RPT_FAIL] || g->counts[MF_RPT_ERROR];
    if (!findings) {
        long long off = 0, len = 0;
        mf_code rc = spill(h->xok, h->fok, summary_row, w, g, idbuf, pairs, &off, &len, err);
        if (rc != MF_OK)
            return rc;
        return add_rec(&h->ok, &h->nok, &h->capok, g, off, len) == MF_OK
                   ? MF_OK
                   : mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    h->hosts_failing += g->counts[MF_RPT_FAIL] > 0;
    if (add_rec(&h->fail, &h->nfail, &h->capfail, g, -1, 0) != MF_OK)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    size_t idx = h->nfail - 1;
    if (!h->heap && !(h->heap = calloc(w->opts.html_detail_hosts + 1, sizeof(size_t))))
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    if (heap_offer(h, w->opts.html_detail_hosts, idx)) {
        mf_code rc = spill(h->xfail, h->ffail, host_details, w, g, idbuf, pairs, &h->fail[idx].off,
                           &h->fail[idx].len, err);
        if (rc != MF_OK)
            return rc;
    }
    /* The one-row form too, for when this host falls beyond the detailed ones. */
    return spill(h->xrow, h->frow, summary_row, w, g, idbuf, pairs, &h->fail[idx].coff,
                 &h->fail[idx].clen, err);
}

/* ------------------------------------------------------------------ the page */

static void write_head(mf_xw *x, const mf_rpt_writer *w, const html *h)
{
    char title[MF_RPT_TEXT_MAX + 64], when[48];
    human_time(w->run.generated_at, when, sizeof(when));
    mf_xw_start(x, "head");
    mf_xw_start(x, "meta");
    mf_xw_attr(x, "charset", "utf-8");
    mf_xw_end_empty(x);
    mf_xw_start(x, "meta");
    mf_xw_attr(x, "http-equiv", "Content-Security-Policy");
    mf_xw_attr(x, "content", h->csp);
    mf_xw_end_empty(x);
    mf_xw_start(x, "meta");
    mf_xw_attr(x, "name", "viewport");
    mf_xw_attr(x, "content", "width=device-width, initial-scale=1");
    mf_xw_end_empty(x);
    mf_xw_start(x, "meta");
    mf_xw_attr(x, "name", "generator");
    mf_xw_attr(x, "content", "mailfleet " MAILFLEET_VERSION);
    mf_xw_end_empty(x);
    mf_xw_elem(x, "title",
               bfmt(title, sizeof(title), "mailfleet report: %s, %s",
                    w->run.policy_title ? w->run.policy_title
                    : w->run.policy_id  ? w->run.policy_id
                                        : "SMTP settings",
                    when));
    mf_xw_start(x, "style");
    mf_xw_text_cap(x, mf_rpt_html_css, MF_RPT_BODY_MAX);
    mf_xw_end(x);
    mf_xw_end(x);
}

static void meta_row(mf_xw *x, const char *term, const char *value)
{
    mf_xw_elem(x, "dt", term);
    mf_xw_elem(x, "dd", value);
}

static void write_header(mf_xw *x, const mf_rpt_writer *w)
{
    const mf_rpt_run *r = &w->run;
    const mf_rpt_totals *t = &w->totals;
    char buf[MF_RPT_TEXT_MAX * 2], a[48], b[48];
    mf_xw_start(x, "header");
    para(x, "muted", "mailfleet · outgoing mail (SMTP) settings of the organisation's Macs");
    mf_xw_elem(x, "h1",
               bfmt(buf, sizeof(buf), "SMTP compliance report: %s",
                    r->policy_title ? r->policy_title
                    : r->policy_id  ? r->policy_id
                                    : "no policy named"));
    mf_xw_start(x, "dl");
    mf_xw_attr(x, "class", "meta");
    meta_row(x, "Policy",
             bfmt(buf, sizeof(buf), "%s%s%s%s%s", r->policy_id ? r->policy_id : "-",
                  r->policy_version ? ", version " : "", r->policy_version ? r->policy_version : "",
                  r->policy_title ? " · " : "", r->policy_title ? r->policy_title : ""));
    human_time(r->generated_at, a, sizeof(a));
    meta_row(x, "Generated at", a);
    if (t->window_from) {
        human_time(t->window_from, a, sizeof(a));
        human_time(t->window_to, b, sizeof(b));
        meta_row(x, "Window of reports",
                 bfmt(buf, sizeof(buf),
                      "%s to %s (collected_at of the "
                      "oldest and newest report evaluated)",
                      a, b));
    } else {
        meta_row(x, "Window of reports", "unknown (the reports carried no collection time)");
    }
    if (r->source || r->command)
        meta_row(x, "Source",
                 bfmt(buf, sizeof(buf), "%s%s%s", r->command ? r->command : "",
                      r->command && r->source ? " of " : "", r->source ? r->source : ""));
    if (r->inputs_ok || r->inputs_skipped || r->inputs_failed)
        meta_row(x, "Inputs",
                 bfmt(buf, sizeof(buf),
                      "%zu reports evaluated, %zu older reports of the same Macs "
                      "skipped, %zu could not be read",
                      r->inputs_ok, r->inputs_skipped, r->inputs_failed));
    meta_row(x, "Failing severity",
             bfmt(buf, sizeof(buf), "%s and above fail the run (exit code 100)",
                  mf_rpt_severity_name(r->fail_on)));
    mf_xw_end(x); /* dl */
    mf_xw_end(x); /* header */
}

static void write_nav(mf_xw *x)
{
    static const char *const links[][2] = {
        {"#summary", "Summary"}, {"#servers", "SMTP servers"}, {"#rules", "Rules"},
        {"#hosts", "Hosts"},     {"#history", "History"},      {"#waivers", "Waivers"},
    };
    mf_xw_start(x, "nav");
    mf_xw_attr(x, "aria-label", "Sections");
    mf_xw_start(x, "ul");
    for (size_t i = 0; i < MF_ARRAY_LEN(links); i++) {
        mf_xw_start(x, "li");
        mf_xw_start(x, "a");
        mf_xw_attr(x, "href", links[i][0]);
        mf_xw_text(x, links[i][1]);
        mf_xw_end(x);
        mf_xw_end(x);
    }
    mf_xw_end(x);
    mf_xw_end(x);
}

static void card(mf_xw *x, const char *number, const char *label, const char *cls)
{
    mf_xw_start(x, "div");
    mf_xw_attr(x, "class", cls ? cls : "card");
    mf_xw_elem_class(x, "span", "n", number);
    mf_xw_elem_class(x, "span", "l", label);
    mf_xw_end(x);
}

/* ---- server inventory verdicts */

typedef struct verdict {
    const char *cls; /* verdict-stale, verdict-partial, verdict-ok, verdict-other */
    const char *label;
    bool stale;
} verdict;

static int cmp_note_key(const void *a, const void *b)
{
    const fleet_note *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* The first note of key in the sorted notes, or NULL. */
static const fleet_note *notes_for(const html *h, const char *key, size_t *count)
{
    size_t lo = 0, hi = h->nnotes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(h->notes[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < h->nnotes && strcmp(h->notes[lo + n].key, key) == 0)
        n++;
    *count = n;
    return n ? &h->notes[lo] : NULL;
}

static verdict judge(const mf_rpt_server *s, size_t failing_notes)
{
    if (s->hosts == 0)
        return (verdict){"verdict-other", "gone", false};
    bool unused = s->accounts == 0;
    bool dead = s->probes_ok == 0 && s->probes_failed > 0;
    if (unused || dead || failing_notes)
        return (verdict){"verdict-stale", "stale", true};
    if (!s->hostname)
        return (verdict){"verdict-other", "managed by provider", false};
    if (s->probes_failed > 0)
        return (verdict){"verdict-partial", "failing on some Macs", false};
    if (s->probes_ok == 0)
        return (verdict){"verdict-other", "not probed", false};
    return (verdict){"verdict-ok", "in use", false};
}

typedef struct server_view {
    const mf_rpt_server_row *row;
    verdict v;
    const fleet_note *notes;
    size_t nnotes;
    size_t failing;
} server_view;

static int cmp_server_view(const void *a, const void *b)
{
    const server_view *x = a, *y = b;
    if (x->v.stale != y->v.stale)
        return x->v.stale ? -1 : 1;
    if (x->row->s.hosts != y->row->s.hosts)
        return x->row->s.hosts > y->row->s.hosts ? -1 : 1;
    return strcmp(x->row->key, y->row->key);
}

static server_view *server_views(const mf_rpt_writer *w, const html *h, size_t *nstale)
{
    *nstale = 0;
    server_view *v = calloc(w->nservers ? w->nservers : 1, sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < w->nservers; i++) {
        v[i].row = &w->servers[i];
        v[i].notes = notes_for(h, w->servers[i].key, &v[i].nnotes);
        for (size_t k = 0; k < v[i].nnotes; k++)
            v[i].failing += v[i].notes[k].state == MF_RPT_FAIL;
        v[i].v = judge(&w->servers[i].s, v[i].failing);
        *nstale += v[i].v.stale;
    }
    qsort(v, w->nservers, sizeof(*v), cmp_server_view);
    return v;
}

static void why_text(mf_xw *x, const mf_rpt_writer *w, const server_view *sv)
{
    const mf_rpt_server *s = &sv->row->s;
    char buf[MF_RPT_TEXT_MAX + 128];
    bool any = false;
    mf_xw_start(x, "td");
    mf_xw_attr(x, "class", "why");
    if (s->hosts == 0) {
        mf_xw_text(x, "No Mac has it in its latest report any more.");
        any = true;
    }
    if (s->hosts > 0 && s->accounts == 0) {
        mf_xw_text(x, bfmt(buf, sizeof(buf),
                           "No account uses it: %lld server %s on %lld %s, "
                           "left over from an earlier setup.",
                           s->entries, s->entries == 1 ? "entry" : "entries", s->hosts,
                           s->hosts == 1 ? "Mac" : "Macs"));
        any = true;
    }
    if (s->hosts > 0 && s->probes_ok == 0 && s->probes_failed > 0) {
        if (any)
            mf_xw_text(x, " ");
        mf_xw_text(x,
                   bfmt(buf, sizeof(buf), "No probe succeeded (%lld failed%s%s).", s->probes_failed,
                        s->top_failure ? ", mostly " : "", s->top_failure ? s->top_failure : ""));
        any = true;
    } else if (s->probes_failed > 0) {
        if (any)
            mf_xw_text(x, " ");
        mf_xw_text(x, bfmt(buf, sizeof(buf), "%lld of %lld probes failed%s%s.", s->probes_failed,
                           s->probes_failed + s->probes_ok, s->top_failure ? ", mostly " : "",
                           s->top_failure ? s->top_failure : ""));
        any = true;
    }
    if (s->unused > 0 && s->accounts > 0) {
        if (any)
            mf_xw_text(x, " ");
        mf_xw_text(x, bfmt(buf, sizeof(buf), "%lld unused %s besides the ones in use.", s->unused,
                           s->unused == 1 ? "entry" : "entries"));
        any = true;
    }
    for (size_t k = 0; k < sv->nnotes && k < NOTES_PER_SERVER; k++) {
        const fleet_note *n = &sv->notes[k];
        mf_xw_start(x, "br");
        mf_xw_end_empty(x);
        /* The rule's title says what should hold; its evidence is one hover away. */
        const mf_rpt_rule *rule = &w->rules[n->rule];
        mf_xw_start(x, "a");
        mf_xw_attrf(x, "href", "#rule-%zu", n->rule);
        mf_xw_text_clean(x, rule->id);
        mf_xw_end(x);
        mf_xw_text(x, n->state == MF_RPT_FAIL    ? " failed"
                      : n->state == MF_RPT_ERROR ? " could not be evaluated"
                                                 : " waived");
        if (rule->title) {
            mf_xw_text(x, ": ");
            mf_xw_start(x, "span");
            mf_xw_attr(x, "title", n->message);
            mf_xw_text_clean(x, rule->title);
            mf_xw_end(x);
        }
        any = true;
    }
    if (sv->nnotes > NOTES_PER_SERVER)
        mf_xw_text(
            x, bfmt(buf, sizeof(buf), " … and %zu more findings.", sv->nnotes - NOTES_PER_SERVER));
    if (!any)
        mf_xw_text(x, s->hostname ? "Used by accounts, and its probes succeed."
                                  : "The operating system picks the server for this provider.");
    mf_xw_end(x);
}

static void write_servers(mf_xw *x, const mf_rpt_writer *w, const html *h, server_view *views,
                          size_t nstale)
{
    char buf[MF_RPT_TEXT_MAX + 128], a[40], b[40];
    section_start(x, "servers", "SMTP servers across the organisation");
    para(x, NULL,
         "Every SMTP server the Macs' mail clients are configured with. A server is "
         "stale when Macs still carry it but no account uses it, or when none of its "
         "probes succeeded; fleet-wide rules of the policy can add further reasons. "
         "Stale entries are what years of migrations leave behind: remove them from "
         "the Macs (Mail › Settings › Accounts › Server Settings › Edit SMTP Server List).");
    if (w->nservers == 0 && h->nnotes == 0) {
        para(x, "muted", "No SMTP server was found in the reports evaluated.");
        mf_xw_end(x);
        return;
    }
    if (w->nservers) {
        para(x, NULL,
             bfmt(buf, sizeof(buf), "%zu servers, %zu of them stale%s.", w->nservers, nstale,
                  w->nservers > SERVER_ROWS_SHOWN ? "; the first 5,000 are listed, stale "
                                                    "and most used first"
                                                  : ", stale and most used first"));
        mf_xw_start(x, "table");
        mf_xw_attr(x, "id", "server-table");
        mf_xw_start(x, "thead");
        mf_xw_start(x, "tr");
        th(x, "Server", NULL);
        th(x, "Verdict", NULL);
        th(x, "Why", NULL);
        th(x, "Macs", "num");
        th(x, "Accounts", "num");
        th(x, "Entries (unused)", "num");
        th(x, "Probes ok / failed", "num");
        th(x, "First seen", NULL);
        th(x, "Last seen", NULL);
        mf_xw_end(x);
        mf_xw_end(x);
        mf_xw_start(x, "tbody");
        for (size_t i = 0; i < w->nservers && i < SERVER_ROWS_SHOWN; i++) {
            const server_view *sv = &views[i];
            const mf_rpt_server *s = &sv->row->s;
            mf_xw_start(x, "tr");
            mf_xw_attr(x, "data-server", sv->v.label);
            mf_xw_start(x, "th");
            mf_xw_attr(x, "scope", "row");
            if (s->hostname)
                mf_xw_text(x, sv->row->key);
            else
                mf_xw_textf(x, "%s (provider-managed)", s->provider ? s->provider : "unknown");
            mf_xw_end(x);
            mf_xw_start(x, "td");
            mf_xw_attr(x, "class", "vcell");
            badge(x, "verdict", sv->v.cls + 8, sv->v.label);
            mf_xw_end(x);
            why_text(x, w, sv);
            mf_xw_start(x, "td");
            mf_xw_attr(x, "class", "num");
            mf_xw_text(x, count_str((size_t)s->hosts, a, sizeof(a)));
            if (s->hosts_ever > s->hosts)
                mf_xw_textf(x, " (%s ever)", count_str((size_t)s->hosts_ever, b, sizeof(b)));
            mf_xw_end(x);
            td_num(x, (size_t)s->accounts);
            mf_xw_start(x, "td");
            mf_xw_attr(x, "class", "num");
            mf_xw_textf(x, "%lld (%lld)", s->entries, s->unused);
            mf_xw_end(x);
            mf_xw_start(x, "td");
            mf_xw_attr(x, "class", "num");
            mf_xw_textf(x, "%lld / %lld", s->probes_ok, s->probes_failed);
            mf_xw_end(x);
            mf_rpt_time_date(s->first_seen, a, sizeof(a));
            mf_rpt_time_date(s->last_seen, b, sizeof(b));
            td_date(x, a);
            td_date(x, b);
            mf_xw_end(x);
        }
        mf_xw_end(x);
        mf_xw_end(x);
        if (w->servers_dropped)
            para(x, "muted",
                 bfmt(buf, sizeof(buf), "%zu further servers were not kept.", w->servers_dropped));
    } else {
        /* No inventory (check mode): the fleet-wide findings alone. */
        para(x, NULL, "Findings of the policy's fleet-wide server rules:");
        mf_xw_start(x, "table");
        mf_xw_start(x, "thead");
        mf_xw_start(x, "tr");
        th(x, "Server", NULL);
        th(x, "Rule", NULL);
        th(x, "State", NULL);
        th(x, "Evidence", NULL);
        mf_xw_end(x);
        mf_xw_end(x);
        mf_xw_start(x, "tbody");
        for (size_t i = 0; i < h->nnotes && i < SERVER_ROWS_SHOWN; i++) {
            const fleet_note *n = &h->notes[i];
            mf_xw_start(x, "tr");
            mf_xw_attr(x, "data-server", mf_rpt_state_name(n->state));
            mf_xw_start(x, "th");
            mf_xw_attr(x, "scope", "row");
            mf_xw_text(x, n->key);
            mf_xw_end(x);
            td(x, w->rules[n->rule].id);
            mf_xw_start(x, "td");
            state_badge(x, n->state);
            mf_xw_end(x);
            td(x, n->message);
            mf_xw_end(x);
        }
        mf_xw_end(x);
        mf_xw_end(x);
    }
    if (h->notes_dropped)
        para(x, "muted",
             bfmt(buf, sizeof(buf), "%zu further fleet-wide findings were not kept.",
                  h->notes_dropped));
    mf_xw_end(x); /* section */
}

static void write_summary(mf_xw *x, const mf_rpt_writer *w, const html *h, size_t nstale)
{
    const mf_rpt_totals *t = &w->totals;
    char a[64], b[64], buf[1024];
    size_t high_hosts = 0;
    for (size_t i = 0; i < h->nfail; i++)
        high_hosts += (h->fail[i].fail_sev[MF_RPT_HIGH] + h->fail[i].fail_sev[MF_RPT_CRITICAL]) > 0;
    long long stale_entries = 0;
    for (size_t i = 0; i < w->nservers; i++) {
        size_t nn;
        const fleet_note *n = notes_for(h, w->servers[i].key, &nn);
        size_t failing = 0;
        for (size_t k = 0; k < nn; k++)
            failing += n[k].state == MF_RPT_FAIL;
        if (judge(&w->servers[i].s, failing).stale)
            stale_entries += w->servers[i].s.entries;
    }
    section_start(x, "summary", "Summary");
    mf_xw_start(x, "p");
    mf_xw_attr(x, "class", "answer");
    percent_str(h->hosts_failing, t->hosts, a, sizeof(a));
    mf_xw_text(x, bfmt(buf, sizeof(buf), "%zu of %zu Macs (%s) fail at least one rule",
                       h->hosts_failing, t->hosts, a));
    mf_xw_text(x,
               bfmt(buf, sizeof(buf), "; %zu of them at high or critical severity. ", high_hosts));
    if (w->nservers)
        mf_xw_text(x, bfmt(buf, sizeof(buf),
                           "%zu of %zu SMTP servers across the organisation look stale "
                           "(%lld server entries on Macs point at them). ",
                           nstale, w->nservers, stale_entries));
    if (t->hosts_with_errors)
        mf_xw_text(x, bfmt(buf, sizeof(buf), "%zu Macs have results that could not be evaluated.",
                           t->hosts_with_errors));
    mf_xw_end(x);

    mf_xw_start(x, "div");
    mf_xw_attr(x, "class", "cards");
    card(x, count_str(t->hosts, a, sizeof(a)), "Macs evaluated", NULL);
    percent_str(t->hosts_compliant, t->hosts, b, sizeof(b));
    card(x, b,
         bfmt(buf, sizeof(buf), "compliant (%zu Macs without failures or errors)",
              t->hosts_compliant),
         NULL);
    card(x, count_str(h->hosts_failing, a, sizeof(a)), "Macs failing a rule", NULL);
    card(x, count_str(t->hosts_with_errors, a, sizeof(a)), "Macs with errors (not evaluated)",
         NULL);
    card(x, count_str(t->hosts_stopped, a, sizeof(a)),
         bfmt(buf, sizeof(buf), "Macs that stopped reporting (no report for %d days)",
              w->opts.stale_days),
         NULL);
    if (w->nservers)
        card(x, count_str(nstale, a, sizeof(a)), "stale SMTP servers", NULL);
    size_t active = 0, expired = 0;
    for (size_t i = 0; i < w->nwaivers; i++) {
        active += mf_streq(w->waivers[i].status, "active");
        expired += mf_streq(w->waivers[i].status, "expired");
    }
    card(
        x, count_str(t->counts[MF_RPT_WAIVED], a, sizeof(a)),
        bfmt(buf, sizeof(buf), "waived results (%zu active waivers, %zu expired)", active, expired),
        NULL);
    mf_xw_end(x);

    mf_xw_start(x, "div");
    mf_xw_attr(x, "class", "pair");
    mf_xw_start(x, "div");
    mf_xw_elem(x, "h3", "Failing rules by severity");
    mf_xw_start(x, "table");
    mf_xw_attr(x, "class", "compact");
    mf_xw_start(x, "thead");
    mf_xw_start(x, "tr");
    th(x, "Severity", NULL);
    th(x, "Rules failing", "num");
    th(x, "Failed results", "num");
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_start(x, "tbody");
    for (int s = MF_RPT__SEVERITIES - 1; s >= 0; s--) {
        mf_xw_start(x, "tr");
        mf_xw_attr(x, "data-rule-sev", mf_rpt_severity_name((mf_rpt_severity)s));
        mf_xw_start(x, "th");
        mf_xw_attr(x, "scope", "row");
        sev_badge(x, (mf_rpt_severity)s);
        mf_xw_end(x);
        td_num(x, t->rules_failing_sev[s]);
        td_num(x, t->fail_sev[s]);
        mf_xw_end(x);
    }
    mf_xw_end(x);
    mf_xw_end(x);

    mf_xw_end(x); /* div */
    mf_xw_start(x, "div");
    mf_xw_elem(x, "h3", "All results");
    mf_xw_start(x, "table");
    mf_xw_attr(x, "class", "compact");
    mf_xw_start(x, "thead");
    mf_xw_start(x, "tr");
    for (int s = 0; s < MF_RPT__STATES; s++) {
        static const char *const names[] = {"Passed", "Failed", "Errors", "Not applicable",
                                            "Waived"};
        th(x, names[s], "num");
    }
    th(x, "Total", "num");
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_start(x, "tbody");
    mf_xw_start(x, "tr");
    for (int s = 0; s < MF_RPT__STATES; s++)
        td_num(x, t->counts[s]);
    td_num(x, t->results);
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_end(x); /* div */
    mf_xw_end(x); /* div.pair */
    if (t->dropped)
        para(x, "muted",
             bfmt(buf, sizeof(buf), "%zu results of very large hosts are counted but not listed.",
                  t->dropped));

    if (h->nstopped) {
        mf_xw_start(x, "details");
        mf_xw_elem(x, "summary",
                   bfmt(buf, sizeof(buf), "Macs that stopped reporting (%zu%s)", t->hosts_stopped,
                        t->hosts_stopped > h->nstopped ? ", the first 1,000 listed" : ""));
        mf_xw_start(x, "ul");
        for (size_t i = 0; i < h->nstopped; i++) {
            mf_xw_start(x, "li");
            mf_xw_start(x, "a");
            mf_xw_attrf(x, "href", "#host-%zu", h->stopped_idx[i]);
            mf_xw_text(x, h->stopped[i]);
            mf_xw_end(x);
            mf_xw_end(x);
        }
        mf_xw_end(x);
        mf_xw_end(x);
    }
    mf_xw_end(x); /* section */
}

static void write_rules(mf_xw *x, const mf_rpt_writer *w)
{
    const mf_rpt_totals *t = &w->totals;
    char a[32], buf[128];
    section_start(x, "rules", "Rules");
    para(x, NULL,
         "Each rule of the policy with the number of results in each state. A result is "
         "one rule on one server entry, account, probe or Mac.");
    mf_xw_start(x, "table");
    mf_xw_start(x, "thead");
    mf_xw_start(x, "tr");
    th(x, "Rule", NULL);
    th(x, "Severity", NULL);
    th(x, "Scope", NULL);
    th(x, "Failed", "num");
    th(x, "Errors", "num");
    th(x, "Waived", "num");
    th(x, "N/A", "num");
    th(x, "Passed", "num");
    th(x, "Macs failing", "num");
    th(x, "First failure", NULL);
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_start(x, "tbody");
    for (size_t i = 0; i < w->nrules; i++) {
        const mf_rpt_rule *r = &w->rules[i];
        const size_t *c = &t->rule_counts[i * MF_RPT__STATES];
        mf_xw_start(x, "tr");
        mf_xw_attr(x, "id", bfmt(buf, sizeof(buf), "rule-%zu", i));
        mf_xw_attr(x, "data-rule-sev", mf_rpt_severity_name(r->severity));
        mf_xw_start(x, "th");
        mf_xw_attr(x, "scope", "row");
        mf_xw_elem(x, "strong", r->id);
        if (r->title) {
            mf_xw_start(x, "br");
            mf_xw_end_empty(x);
            mf_xw_text(x, r->title);
        }
        if (r->description || r->rationale || r->remediation || r->remediation_admin ||
            r->nreferences) {
            mf_xw_start(x, "details");
            mf_xw_elem(x, "summary", "About this rule");
            if (r->description)
                para(x, NULL, r->description);
            if (r->rationale) {
                mf_xw_start(x, "p");
                mf_xw_elem(x, "strong", "Why: ");
                mf_xw_text_cap(x, r->rationale, MF_RPT_BODY_MAX);
                mf_xw_end(x);
            }
            if (r->remediation) {
                mf_xw_start(x, "p");
                mf_xw_elem(x, "strong", "What to do: ");
                mf_xw_text_cap(x, r->remediation, MF_RPT_BODY_MAX);
                mf_xw_end(x);
            }
            if (r->remediation_admin) {
                mf_xw_start(x, "p");
                mf_xw_elem(x, "strong", "For administrators: ");
                mf_xw_text_cap(x, r->remediation_admin, MF_RPT_BODY_MAX);
                mf_xw_end(x);
            }
            if (r->nreferences) {
                mf_xw_start(x, "ul");
                for (size_t k = 0; k < r->nreferences; k++)
                    mf_xw_elem(x, "li", r->references[k]);
                mf_xw_end(x);
            }
            mf_xw_end(x);
        }
        mf_xw_end(x); /* th */
        mf_xw_start(x, "td");
        sev_badge(x, r->severity);
        mf_xw_end(x);
        td(x, r->scope);
        td_num(x, c[MF_RPT_FAIL]);
        td_num(x, c[MF_RPT_ERROR]);
        td_num(x, c[MF_RPT_WAIVED]);
        td_num(x, c[MF_RPT_NOTAPPLICABLE]);
        td_num(x, c[MF_RPT_PASS]);
        td_num(x, t->rule_hosts_failing[i]);
        mf_rpt_time_date(t->rule_first_failed[i], a, sizeof(a));
        td_date(x, c[MF_RPT_FAIL] ? (a[0] ? a : "unknown") : "");
        mf_xw_end(x);
    }
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_end(x); /* section */
}

static void checkbox(mf_xw *x, const char *name, const char *value, const char *label)
{
    mf_xw_start(x, "label");
    mf_xw_start(x, "input");
    mf_xw_attr(x, "type", "checkbox");
    mf_xw_attr(x, "name", name);
    mf_xw_attr(x, "value", value);
    mf_xw_attr(x, "checked", "");
    mf_xw_end_empty(x);
    mf_xw_text(x, " ");
    mf_xw_text(x, label);
    mf_xw_end(x);
}

static void write_filters(mf_xw *x)
{
    mf_xw_start(x, "form");
    mf_xw_attr(x, "id", "filters");
    mf_xw_attr(x, "role", "search");
    mf_xw_attr(x, "aria-label", "Filter results and hosts");
    mf_xw_attr(x, "hidden", "");
    mf_xw_start(x, "fieldset");
    mf_xw_elem(x, "legend", "State");
    checkbox(x, "state", "fail", "failed");
    checkbox(x, "state", "error", "error");
    checkbox(x, "state", "waived", "waived");
    checkbox(x, "state", "notapplicable", "not applicable");
    checkbox(x, "state", "pass", "passed");
    mf_xw_end(x);
    mf_xw_start(x, "fieldset");
    mf_xw_elem(x, "legend", "Severity");
    for (int s = MF_RPT__SEVERITIES - 1; s >= 0; s--)
        checkbox(x, "sev", mf_rpt_severity_name((mf_rpt_severity)s),
                 mf_rpt_severity_name((mf_rpt_severity)s));
    mf_xw_end(x);
    mf_xw_start(x, "label");
    mf_xw_attr(x, "for", "q");
    mf_xw_text(x, "Search");
    mf_xw_end(x);
    mf_xw_start(x, "input");
    mf_xw_attr(x, "id", "q");
    mf_xw_attr(x, "type", "search");
    mf_xw_attr(x, "placeholder", "host, server, rule, text");
    mf_xw_end_empty(x);
    mf_xw_start(x, "span");
    mf_xw_attr(x, "id", "shown");
    mf_xw_attr(x, "aria-live", "polite");
    mf_xw_end(x);
    mf_xw_end(x);
}

static void summary_list_start(mf_xw *x, size_t first)
{
    mf_xw_start(x, "ol");
    mf_xw_attr(x, "class", "hosts");
    mf_xw_attrf(x, "start", "%zu", first);
}

/* Pages of hosts recs[0..n): each host's markup at (off, len), or its summary row at
 * (coff, len) when compact; numbering starts at first + 1. */
static void write_pages(mf_xw *x, const mf_rpt_writer *w, FILE *frag, const host_rec *recs,
                        size_t n, size_t first, size_t total, bool table, bool compact,
                        bool open_first, const char *what)
{
    size_t per = w->opts.html_page_hosts;
    bool open_all = w->totals.hosts <= w->opts.html_open_hosts;
    char buf[256], a[40], b[40], c[40];
    for (size_t start = 0; start < n; start += per) {
        size_t end = start + per < n ? start + per : n;
        mf_xw_start(x, "details");
        mf_xw_attr(x, "class", "page");
        if (open_all || (start == 0 && open_first))
            mf_xw_attr(x, "open", "");
        mf_xw_elem(x, "summary",
                   total <= per
                       ? bfmt(buf, sizeof(buf), "%s (%s)", what, count_str(total, a, sizeof(a)))
                       : bfmt(buf, sizeof(buf), "%s %s to %s of %s", what,
                              count_str(first + start + 1, a, sizeof(a)),
                              count_str(first + end, b, sizeof(b)),
                              count_str(total, c, sizeof(c))));
        if (table)
            summary_list_start(x, first + start + 1);
        for (size_t i = start; i < end; i++) {
            if (compact)
                mf_xw_copy_fragment(x, frag, recs[i].coff, recs[i].clen);
            else
                mf_xw_copy_fragment(x, frag, recs[i].off, recs[i].len);
        }
        if (table)
            mf_xw_end(x); /* ol */
        mf_xw_end(x);
    }
}

static void write_hosts(mf_xw *x, const mf_rpt_writer *w, html *h)
{
    char buf[256], a[40], a2[40];
    section_start(x, "hosts", "Hosts");
    para(x, NULL,
         "Macs with failures or errors come first, worst first (most critical, then "
         "high, … failures). Open a Mac for its results: the evidence for each failure "
         "and since when it fails. Rules that passed are listed in one line.");
    write_filters(x);
    mf_xw_start(x, "h3");
    mf_xw_attr(x, "id", "failing-hosts");
    mf_xw_text(
        x, bfmt(buf, sizeof(buf), "Macs with findings (%s)", count_str(h->nfail, a, sizeof(a))));
    mf_xw_end(x);
    size_t detailed = h->nfail < w->opts.html_detail_hosts ? h->nfail : w->opts.html_detail_hosts;
    if (h->nfail) {
        write_pages(x, w, h->ffail, h->fail, detailed, 0, h->nfail, false, false, true,
                    "Macs with findings");
        if (detailed < h->nfail) {
            para(x, "muted",
                 bfmt(buf, sizeof(buf),
                      "The %s Macs with findings below the %s worst are listed one "
                      "row each; the JSON, CSV and JUnit reports have every result.",
                      count_str(h->nfail - detailed, a, sizeof(a)),
                      count_str(detailed, a2, sizeof(a2))));
            write_pages(x, w, h->frow, h->fail + detailed, h->nfail - detailed, detailed, h->nfail,
                        true, true, false, "Macs with findings");
        }
    } else
        para(x, "muted", "None: every Mac passed every rule that applies to it.");
    mf_xw_start(x, "h3");
    mf_xw_attr(x, "id", "compliant-hosts");
    mf_xw_text(x, bfmt(buf, sizeof(buf), "Compliant Macs (%s)", count_str(h->nok, a, sizeof(a))));
    mf_xw_end(x);
    if (h->nok)
        write_pages(x, w, h->fok, h->ok, h->nok, 0, h->nok, true, false, true, "Compliant Macs");
    else
        para(x, "muted", "None.");
    mf_xw_end(x);
}

static int cmp_day(const void *a, const void *b)
{
    const mf_rpt_day *x = a, *y = b;
    return x->day < y->day ? -1 : x->day > y->day;
}

static void write_trend_svg(mf_xw *x, mf_rpt_day *days, size_t n)
{
    const double W = 760, H = 240, L = 44, R = 16, T = 14, B = 34;
    const double pw = W - L - R, ph = H - T - B;
    char buf[256], d1[16];
    mf_xw_start(x, "svg");
    mf_xw_attr(x, "xmlns", "http://www.w3.org/2000/svg");
    mf_xw_attr(x, "class", "trend");
    mf_xw_attr(x, "viewBox", "0 0 760 240");
    mf_xw_attr(x, "role", "img");
    mf_xw_attr(x, "aria-labelledby", "trend-title");
    mf_xw_start(x, "title");
    mf_xw_attr(x, "id", "trend-title");
    mf_xw_text(x, "Share of compliant Macs per day");
    mf_xw_end(x);
    for (int p = 0; p <= 100; p += 25) {
        double y = T + ph * (1.0 - p / 100.0);
        mf_xw_start(x, "line");
        mf_xw_attr(x, "class", "grid");
        mf_xw_attrf(x, "x1", "%.1f", L);
        mf_xw_attrf(x, "x2", "%.1f", W - R);
        mf_xw_attrf(x, "y1", "%.1f", y);
        mf_xw_attrf(x, "y2", "%.1f", y);
        mf_xw_end(x);
        mf_xw_start(x, "text");
        mf_xw_attrf(x, "x", "%.1f", L - 6);
        mf_xw_attrf(x, "y", "%.1f", y + 4);
        mf_xw_attr(x, "text-anchor", "end");
        mf_xw_textf(x, "%d%%", p);
        mf_xw_end(x);
    }
    /* The polyline: points as "x,y" pairs. Built in a growing buffer (numbers only). */
    size_t cap = n * 24 + 16, o = 0;
    char *pts = malloc(cap);
    if (pts) {
        pts[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            double share = days[i].hosts ? (double)days[i].compliant / (double)days[i].hosts : 0;
            double px = n == 1 ? L + pw / 2 : L + pw * (double)i / (double)(n - 1);
            double py = T + ph * (1.0 - share);
            o += (size_t)snprintf(pts + o, cap - o, "%s%.1f,%.1f", i ? " " : "", px, py);
        }
        mf_xw_start(x, "polyline");
        mf_xw_attr(x, "class", "line");
        /* mf_xw_attr caps values at MF_RPT_TEXT_MAX; write long lists through a
           segmented path instead. */
        if (o < MF_RPT_TEXT_MAX)
            mf_xw_attr(x, "points", pts);
        mf_xw_end(x);
        free(pts);
    }
    if (o >= MF_RPT_TEXT_MAX) {
        /* Many days: one short line per step keeps each attribute small. */
        for (size_t i = 1; i < n; i++) {
            double s0 =
                days[i - 1].hosts ? (double)days[i - 1].compliant / (double)days[i - 1].hosts : 0;
            double s1 = days[i].hosts ? (double)days[i].compliant / (double)days[i].hosts : 0;
            mf_xw_start(x, "line");
            mf_xw_attr(x, "class", "line");
            mf_xw_attrf(x, "x1", "%.1f", L + pw * (double)(i - 1) / (double)(n - 1));
            mf_xw_attrf(x, "x2", "%.1f", L + pw * (double)i / (double)(n - 1));
            mf_xw_attrf(x, "y1", "%.1f", T + ph * (1.0 - s0));
            mf_xw_attrf(x, "y2", "%.1f", T + ph * (1.0 - s1));
            mf_xw_end(x);
        }
    }
    size_t label_every = n / 6 + 1;
    for (size_t i = 0; i < n; i++) {
        double share = days[i].hosts ? (double)days[i].compliant / (double)days[i].hosts : 0;
        double px = n == 1 ? L + pw / 2 : L + pw * (double)i / (double)(n - 1);
        double py = T + ph * (1.0 - share);
        mf_rpt_time_date(days[i].day, d1, sizeof(d1));
        mf_xw_start(x, "circle");
        mf_xw_attr(x, "class", "pt");
        mf_xw_attrf(x, "cx", "%.1f", px);
        mf_xw_attrf(x, "cy", "%.1f", py);
        mf_xw_attr(x, "r", n > 60 ? "1.5" : "3");
        mf_xw_start(x, "title");
        mf_xw_text(x, bfmt(buf, sizeof(buf), "%s: %.1f%% compliant (%zu of %zu Macs)", d1,
                           share * 100, days[i].compliant, days[i].hosts));
        mf_xw_end(x);
        mf_xw_end(x);
        if ((i % label_every == 0 && (i + label_every / 2 < n - 1 || n == 1)) || i + 1 == n) {
            mf_xw_start(x, "text");
            mf_xw_attrf(x, "x", "%.1f", px);
            mf_xw_attrf(x, "y", "%.1f", H - 12);
            mf_xw_attr(x, "text-anchor", "middle");
            mf_xw_text(x, d1);
            mf_xw_end(x);
        }
    }
    mf_xw_end(x); /* svg */
}

static void write_history(mf_xw *x, mf_rpt_writer *w)
{
    const mf_rpt_totals *t = &w->totals;
    char buf[256], a[32];
    section_start(x, "history", "History");
    if (w->ndays) {
        qsort(w->days, w->ndays, sizeof(*w->days), cmp_day);
        mf_xw_elem(x, "h3", "Compliant Macs per day");
        write_trend_svg(x, w->days, w->ndays);
        mf_xw_start(x, "details");
        mf_xw_elem(x, "summary", "The same as a table");
        mf_xw_start(x, "table");
        mf_xw_start(x, "thead");
        mf_xw_start(x, "tr");
        th(x, "Day", NULL);
        th(x, "Macs reporting", "num");
        th(x, "Compliant", "num");
        th(x, "Share", "num");
        mf_xw_end(x);
        mf_xw_end(x);
        mf_xw_start(x, "tbody");
        for (size_t i = 0; i < w->ndays; i++) {
            mf_xw_start(x, "tr");
            mf_rpt_time_date(w->days[i].day, a, sizeof(a));
            mf_xw_start(x, "th");
            mf_xw_attr(x, "scope", "row");
            mf_xw_text(x, a);
            mf_xw_end(x);
            td_num(x, w->days[i].hosts);
            td_num(x, w->days[i].compliant);
            percent_str(w->days[i].compliant, w->days[i].hosts, buf, sizeof(buf));
            mf_xw_start(x, "td");
            mf_xw_attr(x, "class", "num");
            mf_xw_text(x, buf);
            mf_xw_end(x);
            mf_xw_end(x);
        }
        mf_xw_end(x);
        mf_xw_end(x);
        mf_xw_end(x);
    } else {
        para(x, "muted",
             "No history was given to this report: the trend per day comes from the "
             "store (`mailfleet-collector report`) once reports of several days are in it.");
    }
    mf_xw_elem(x, "h3", "When current failures first appeared");
    bool any = false;
    for (size_t i = 0; i < w->nrules; i++)
        any = any || t->rule_counts[i * MF_RPT__STATES + MF_RPT_FAIL] > 0;
    if (!any) {
        para(x, "muted", "Nothing fails.");
        mf_xw_end(x);
        return;
    }
    mf_xw_start(x, "table");
    mf_xw_start(x, "thead");
    mf_xw_start(x, "tr");
    th(x, "Rule", NULL);
    th(x, "Severity", NULL);
    th(x, "Macs failing now", "num");
    th(x, "Failed results", "num");
    th(x, "First appeared", NULL);
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_start(x, "tbody");
    for (size_t i = 0; i < w->nrules; i++) {
        size_t fails = t->rule_counts[i * MF_RPT__STATES + MF_RPT_FAIL];
        if (!fails)
            continue;
        mf_xw_start(x, "tr");
        mf_xw_attr(x, "data-rule-sev", mf_rpt_severity_name(w->rules[i].severity));
        mf_xw_start(x, "th");
        mf_xw_attr(x, "scope", "row");
        mf_xw_start(x, "a");
        mf_xw_attrf(x, "href", "#rule-%zu", i);
        mf_xw_text(x, w->rules[i].id);
        mf_xw_end(x);
        mf_xw_end(x);
        mf_xw_start(x, "td");
        sev_badge(x, w->rules[i].severity);
        mf_xw_end(x);
        td_num(x, t->rule_hosts_failing[i]);
        td_num(x, fails);
        mf_rpt_time_date(t->rule_first_failed[i], a, sizeof(a));
        td(x, a[0] ? a : "unknown (no history)");
        mf_xw_end(x);
    }
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_end(x); /* section */
}

static void write_waivers(mf_xw *x, const mf_rpt_writer *w)
{
    char a[40];
    section_start(x, "waivers", "Waivers");
    if (!w->nwaivers) {
        para(x, "muted", "No waivers file was used.");
        mf_xw_end(x);
        return;
    }
    para(x, NULL,
         "Waived results are listed with the Mac they belong to and counted apart; an "
         "expired waiver no longer applies, so the results it covered count again.");
    mf_xw_start(x, "table");
    mf_xw_start(x, "thead");
    mf_xw_start(x, "tr");
    th(x, "Rule", NULL);
    th(x, "Macs", NULL);
    th(x, "Servers", NULL);
    th(x, "Justification", NULL);
    th(x, "Approved by", NULL);
    th(x, "Expires", NULL);
    th(x, "Status", NULL);
    th(x, "Results matched", "num");
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_start(x, "tbody");
    for (size_t i = 0; i < w->nwaivers; i++) {
        const mf_rpt_waiver *v = &w->waivers[i];
        mf_xw_start(x, "tr");
        mf_xw_start(x, "th");
        mf_xw_attr(x, "scope", "row");
        mf_xw_text(x, v->rule);
        mf_xw_end(x);
        td(x, v->host ? v->host : "*");
        td(x, v->server ? v->server : "*");
        td(x, v->justification);
        td(x, v->approved_by);
        td(x, v->expires);
        mf_xw_start(x, "td");
        badge(x, "st", mf_streq(v->status, "active") ? "waived" : "error",
              v->status ? v->status : "?");
        mf_xw_end(x);
        mf_xw_start(x, "td");
        mf_xw_attr(x, "class", "num");
        mf_xw_text(x, count_str(v->matched, a, sizeof(a)));
        mf_xw_end(x);
        mf_xw_end(x);
    }
    mf_xw_end(x);
    mf_xw_end(x);
    mf_xw_end(x);
}

static mf_code html_end(mf_rpt_writer *w, mf_error *err)
{
    html *h = w->impl;
    mf_code rc = MF_OK;
    server_view *views = NULL;
    mf_xw *x = NULL;
    mf_xw_flush(h->xfail);
    mf_xw_flush(h->xok);
    mf_xw_flush(h->xrow);
    if (mf_xw_failed(h->xfail) || mf_xw_failed(h->xok) || mf_xw_failed(h->xrow))
        return mf_error_set(err, MF_ERR_IO, "cannot write a temporary file");
    if (h->nfail)
        qsort(h->fail, h->nfail, sizeof(*h->fail), cmp_worst_first);
    if (h->nnotes)
        qsort(h->notes, h->nnotes, sizeof(*h->notes), cmp_note_key);
    size_t nstale = 0;
    if (!(views = server_views(w, h, &nstale)))
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    if ((rc = mf_xw_open(&x, w->f, false, err)) != MF_OK)
        goto out;
    mf_xw_doctype_html(x);
    mf_xw_start(x, "html");
    mf_xw_attr(x, "xmlns", "http://www.w3.org/1999/xhtml");
    mf_xw_attr(x, "lang", "en");
    write_head(x, w, h);
    mf_xw_start(x, "body");
    mf_xw_attr(x, "data-print-open", w->totals.hosts <= w->opts.html_open_hosts ? "yes" : "no");
    mf_xw_start(x, "a");
    mf_xw_attr(x, "class", "skip");
    mf_xw_attr(x, "href", "#main");
    mf_xw_text(x, "Skip to the report");
    mf_xw_end(x);
    write_header(x, w);
    write_nav(x);
    mf_xw_start(x, "main");
    mf_xw_attr(x, "id", "main");
    write_summary(x, w, h, nstale);
    write_servers(x, w, h, views, nstale);
    write_rules(x, w);
    write_hosts(x, w, h);
    write_history(x, w);
    write_waivers(x, w);
    mf_xw_end(x); /* main */
    mf_xw_start(x, "footer");
    char when[48], buf[256];
    human_time(w->run.generated_at, when, sizeof(when));
    para(x, NULL,
         bfmt(buf, sizeof(buf),
              "Written by mailfleet %s at %s. The same run can write JUnit XML, JSON and "
              "CSV; docs/reports.md describes every format.",
              MAILFLEET_VERSION, when));
    mf_xw_end(x);
    mf_xw_start(x, "script");
    mf_xw_text_cap(x, mf_rpt_html_js, MF_RPT_BODY_MAX);
    mf_xw_end(x);
    mf_xw_end(x); /* body */
    mf_xw_end(x); /* html */
    mf_xw_raw(x, "\n", 1);
    rc = mf_xw_close(x, err);
    x = NULL;
out:
    mf_xw_close(x, NULL);
    free(views);
    return rc;
}

const mf_rpt_backend mf_rpt_html_backend = {
    .name = "html",
    .begin = html_begin,
    .host = html_host,
    .end = html_end,
    .free = html_free,
};
