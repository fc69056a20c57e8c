/* report_csv.c: one row per host × rule × entity, for spreadsheets and scripts.
 *
 * RFC 4180: a header row, CRLF after every record, fields holding a comma, a quote, CR
 * or LF are quoted and quotes doubled. A cell that a spreadsheet would read as a formula
 * (starting with = + - @, tab or CR) gets a leading apostrophe (OWASP's advice against
 * CSV injection), so a host name like "=HYPERLINK(…)" stays text. Values are cleaned
 * (valid UTF-8, no control characters but tab and newlines) before they are written.
 */
#include "reports_int.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const COLUMNS[] = {
    "host_id",
    "hostname",
    "collected_at",
    "rule",
    "severity",
    "scope",
    "title",
    "entity",
    "server",
    "state",
    "message",
    "waiver_justification",
    "waiver_approved_by",
    "waiver_expires",
    "first_failed",
};

typedef struct csv {
    bool failed;
} csv;

static void field(FILE *f, const char *s, bool last)
{
    s = s ? s : "";
    bool formula =
        s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r';
    if (formula || strpbrk(s, ",\"\r\n")) {
        putc('"', f);
        if (formula)
            putc('\'', f);
        for (; *s; s++) {
            if (*s == '"')
                putc('"', f);
            putc(*s, f);
        }
        putc('"', f);
    } else {
        fputs(s, f);
    }
    if (last)
        fputs("\r\n", f);
    else
        putc(',', f);
}

static mf_code csv_begin(mf_rpt_writer *w, mf_error *err)
{
    csv *c = calloc(1, sizeof(*c));
    if (!c)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    w->impl = c;
    size_t n = MF_ARRAY_LEN(COLUMNS);
    for (size_t i = 0; i < n; i++)
        field(w->f, COLUMNS[i], i + 1 == n);
    return ferror(w->f) ? mf_error_set(err, MF_ERR_IO, "cannot write %s", w->path) : MF_OK;
}

static mf_code csv_host(mf_rpt_writer *w, const mf_rpt_hostgroup *g, mf_error *err)
{
    char when[32], first[32];
    mf_rpt_time_rfc3339(g->collected_at, when, sizeof(when));
    for (size_t i = 0; i < g->n; i++) {
        const mf_rpt_result *r = &g->results[i];
        const mf_rpt_rule *rule = mf_rpt_rule_at(w, r->rule);
        mf_rpt_time_date(r->first_failed, first, sizeof(first));
        FILE *f = w->f;
        field(f, g->id, false);
        field(f, g->hostname, false);
        field(f, when, false);
        field(f, rule->id, false);
        field(f, mf_rpt_severity_name(rule->severity), false);
        field(f, rule->scope, false);
        field(f, rule->title, false);
        field(f, r->entity, false);
        field(f, r->server, false);
        field(f, mf_rpt_state_name(r->state), false);
        field(f, r->message, false);
        field(f, r->waiver_justification, false);
        field(f, r->waiver_approved_by, false);
        field(f, r->waiver_expires, false);
        field(f, first, true);
    }
    if (ferror(w->f))
        return mf_error_set(err, errno == ENOSPC ? MF_ERR_NOSPACE : MF_ERR_IO,
                            "cannot write %s: %s", w->path, strerror(errno));
    return MF_OK;
}

static void csv_free(void *impl)
{
    free(impl);
}

const mf_rpt_backend mf_rpt_csv_backend = {
    .name = "csv",
    .begin = csv_begin,
    .host = csv_host,
    .end = NULL,
    .free = csv_free,
};
