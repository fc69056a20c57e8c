/* report_junit.c: results as JUnit XML, the dialect docs/reports.md describes and
 * tests/reports/mailfleet-junit.xsd pins down. It is valid against both the strict
 * Ant schema (windyroad JUnit.xsd) and Jenkins' xUnit junit-10.xsd:
 *
 *   <testsuites>                          bare: the strict schema allows no attributes
 *     <testsuite name id package hostname timestamp tests failures errors skipped time>
 *       <properties>…</properties>         always present, timezone at least
 *       <testcase classname="HOST.RULE" name="ENTITY" time="0">
 *         <failure type="SEVERITY" message="short">evidence and remediation</failure>
 *         | <error type="error" message="…">…</error>
 *         | <skipped message="waived: … (expires …)">…</skipped>
 *       </testcase>
 *       <system-out/><system-err/>         always present, empty
 *     </testsuite>
 *   </testsuites>
 *
 * Size: at 100,000 Macs this file holds millions of testcases, so it carries each fact
 * once where a reader sees it. No indentation, one line per testcase (and per suite-level
 * element). A failure's body has the evidence (GitLab shows only the body; Jenkins also
 * the message attribute, so the evidence is in both), the rule, since when it fails and
 * what to do; not the entity (that is the testcase's name) and, grouped by host, not the
 * host (that is the suite, with its id among the properties).
 *
 * Every value the model hands over is clean already (reports.c), so it is escaped but
 * not cleaned again; texts built here from such values are never cut inside a character.
 *
 * Grouped by host (the default) each host's suite is written as soon as the host is
 * complete. Grouped by rule, every testcase is written to an unlinked temporary file as
 * it comes, with an index entry (rule, offset, length) of 24 bytes, and the suites are
 * assembled from it at the end: memory grows by the index only.
 */
#include "buf.h"
#include "reports_int.h"
#include "util.h"
#include "xmlw.h"

#include <stdlib.h>
#include <string.h>

#define SHORT_MESSAGE_MAX 256

typedef struct frag_ref {
    size_t rule;
    long long off, len;
} frag_ref;

typedef struct junit {
    mf_xw *x;
    size_t suites;
    /* grouped by rule */
    FILE *frag;
    mf_xw *fx;
    frag_ref *refs;
    size_t nrefs, caprefs;
    size_t *rule_state; /* nrules * MF_RPT__STATES, of the testcases written */
    mf_buf body;
} junit;

/* A line break between elements (the file has no other indentation). */
static void nl(mf_xw *x)
{
    mf_xw_raw(x, "\n", 1);
}

static void junit_free(void *impl)
{
    junit *j = impl;
    if (!j)
        return;
    mf_xw_close(j->x, NULL);
    mf_xw_close(j->fx, NULL);
    if (j->frag)
        fclose(j->frag);
    free(j->refs);
    free(j->rule_state);
    mf_buf_free(&j->body);
    free(j);
}

static mf_code junit_begin(mf_rpt_writer *w, mf_error *err)
{
    mf_code rc = MF_OK;
    junit *j = calloc(1, sizeof(*j));
    if (!j)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    w->impl = j;
    mf_buf_init(&j->body, MF_RPT_BODY_MAX);
    if ((rc = mf_xw_open(&j->x, w->f, false, err)) != MF_OK)
        return rc;
    if (w->opts.junit_group == MF_RPT_GROUP_RULE) {
        if ((rc = mf_rpt_tmpfile(&j->frag, w, err)) != MF_OK)
            return rc;
        if ((rc = mf_xw_open(&j->fx, j->frag, false, err)) != MF_OK)
            return rc;
        if (w->nrules && !(j->rule_state = calloc(w->nrules * MF_RPT__STATES, sizeof(size_t))))
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    mf_xw_decl(j->x);
    mf_xw_start(j->x, "testsuites");
    nl(j->x);
    return MF_OK;
}

/* value: clean (a model string, or text built here from clean parts). */
static void property(mf_xw *x, const char *name, const char *value)
{
    if (mf_str_empty(value))
        return;
    mf_xw_start(x, "property");
    mf_xw_attr_clean(x, "name", name);
    mf_xw_attr_clean(x, "value", value);
    mf_xw_end_empty(x);
    nl(x);
}

/* An attribute with a count, without printf (it runs several times per suite). */
static void attr_count(mf_xw *x, const char *name, size_t n)
{
    char buf[24];
    char *p = buf + sizeof(buf) - 1;
    *p = '\0';
    do {
        *--p = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    mf_xw_attr_clean(x, name, p);
}

/* Join clean parts into out (outsz must hold them all: nothing is cut, so the result is
 * clean too). */
static const char *join(char *out, size_t outsz, const char *const *parts, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(parts[i]);
        if (o + l >= outsz)
            l = 0; /* cannot happen: callers size out for capped values */
        memcpy(out + o, parts[i], l);
        o += l;
    }
    out[o] = '\0';
    return out;
}

/* Append "label: value\n", cutting value at the buffer's cap (at a character
 * boundary: value is clean UTF-8, and so is the body). */
static void put(mf_buf *b, const char *label, const char *value)
{
    size_t room = b->max - b->len;
    size_t need = strlen(label) + 3;
    if (room <= need)
        return;
    mf_buf_append_str(b, label);
    mf_buf_append_str(b, ": ");
    room = b->max - b->len - 1;
    size_t n = strlen(value);
    if (n > room) {
        /* cut at a character boundary, so the body stays clean UTF-8 */
        n = room;
        while (n > 0 && ((unsigned char)value[n] & 0xC0) == 0x80)
            n--;
    }
    mf_buf_append(b, value, n);
    mf_buf_append(b, "\n", 1);
}

/* The text GitLab and Jenkins show for a failure, error or waiver: the evidence first,
 * then what to do. */
static const char *body_text(junit *j, const mf_rpt_writer *w, const mf_rpt_hostgroup *g,
                             const mf_rpt_result *r)
{
    const mf_rpt_rule *rule = mf_rpt_rule_at(w, r->rule);
    mf_buf *b = &j->body;
    char date[16];
    mf_buf_reset(b);
    /* Appends stop quietly at the cap: a long body is cut, never an error. */
    put(b, r->state == MF_RPT_WAIVED ? "Waived" : "Evidence",
        r->message ? r->message : "(no message)");
    mf_buf_appendf(b, "Rule: %s (%s)%s%s\n", rule->id, mf_rpt_severity_name(rule->severity),
                   rule->title ? " " : "", rule->title ? rule->title : "");
    /* Grouped by rule the suite is the rule, so the body says which Mac (by host the
     * suite does, with the id among its properties). */
    if (g->id && w->opts.junit_group == MF_RPT_GROUP_RULE)
        mf_buf_appendf(b, "Host: %s (id %s)\n", g->hostname ? g->hostname : "-", g->id);
    if (r->state == MF_RPT_FAIL && r->first_failed > 0) {
        mf_rpt_time_date(r->first_failed, date, sizeof(date));
        mf_buf_appendf(b, "Failing since: %s\n", date);
    }
    if (r->state == MF_RPT_WAIVED) {
        put(b, "Waiver", r->waiver_justification ? r->waiver_justification : "-");
        if (r->waiver_approved_by)
            mf_buf_appendf(b, "Approved by: %s\n", r->waiver_approved_by);
        if (r->waiver_expires)
            mf_buf_appendf(b, "Expires: %s\n", r->waiver_expires);
    }
    if (r->expired_waiver_expires)
        mf_buf_appendf(b, "A waiver for this expired on %s, so it counts again.\n",
                       r->expired_waiver_expires);
    if (r->state == MF_RPT_FAIL || r->state == MF_RPT_WAIVED) {
        if (rule->remediation)
            put(b, "Remediation", rule->remediation);
        if (rule->remediation_admin)
            put(b, "For administrators", rule->remediation_admin);
    }
    for (size_t i = 0; i < rule->nreferences; i++)
        mf_buf_appendf(b, "Reference: %s\n", rule->references[i] ? rule->references[i] : "");
    return b->data ? b->data : "";
}

static void short_message(char *out, size_t outsz, const mf_rpt_rule *rule, const mf_rpt_result *r)
{
    const char *m = !mf_str_empty(r->message) ? r->message : rule->title ? rule->title : rule->id;
    mf_xml_clean(out, outsz - 4, m);
}

/* Room for a skipped message: a prefix, a clean value (at most MF_RPT_TEXT_MAX bytes plus
 * an ellipsis), " (expires ", a clean date (at most 35 bytes) and ")". */
#define SKIP_MESSAGE_MAX (2 * MF_RPT_TEXT_MAX + 128)

static void testcase(junit *j, mf_xw *x, const mf_rpt_writer *w, const mf_rpt_hostgroup *g,
                     const mf_rpt_result *r)
{
    const mf_rpt_rule *rule = mf_rpt_rule_at(w, r->rule);
    char msg[SHORT_MESSAGE_MAX + 4];
    /* "<label>.<rule id>": both clean, joined without formatting (this runs once per
     * result: millions of times for a large fleet). */
    char classname[2 * MF_RPT_TEXT_MAX + 64];
    size_t ll = strlen(g->label), rl = strlen(rule->id);
    if (ll + rl + 2 > sizeof(classname))
        ll = 0; /* cannot happen: both are capped */
    memcpy(classname, g->label, ll);
    classname[ll] = '.';
    memcpy(classname + ll + 1, rule->id, rl + 1);
    char skip[SKIP_MESSAGE_MAX];
    mf_xw_start(x, "testcase");
    mf_xw_attr_clean(x, "classname", classname);
    mf_xw_attr_clean(x, "name", r->entity);
    mf_xw_attr_clean(x, "time", "0");
    switch (r->state) {
    case MF_RPT_PASS:
        break;
    case MF_RPT_FAIL:
        short_message(msg, sizeof(msg), rule, r);
        mf_xw_start(x, "failure");
        mf_xw_attr_clean(x, "type", mf_rpt_severity_name(rule->severity));
        mf_xw_attr_clean(x, "message", msg);
        mf_xw_text_clean(x, body_text(j, w, g, r));
        mf_xw_end(x);
        break;
    case MF_RPT_ERROR:
        short_message(msg, sizeof(msg), rule, r);
        mf_xw_start(x, "error");
        mf_xw_attr_clean(x, "type", "error");
        mf_xw_attr_clean(x, "message", msg);
        mf_xw_text_clean(x, body_text(j, w, g, r));
        mf_xw_end(x);
        break;
    case MF_RPT_NOTAPPLICABLE:
        mf_xw_start(x, "skipped");
        /* The policy engine's messages may already say so. */
        if (r->message && mf_str_has_prefix(r->message, "not applicable: ")) {
            mf_xw_attr_clean(x, "message", r->message);
        } else {
            const char *parts[] = {"not applicable: ",
                                   r->message ? r->message : "the rule does not apply"};
            mf_xw_attr_clean(x, "message", join(skip, sizeof(skip), parts, 2));
        }
        mf_xw_end_empty(x);
        break;
    case MF_RPT_WAIVED: {
        const char *parts[] = {
            "waived: ",   r->waiver_justification ? r->waiver_justification : "no justification",
            " (expires ", r->waiver_expires ? r->waiver_expires : "never",
            ")",
        };
        mf_xw_start(x, "skipped");
        mf_xw_attr_clean(x, "message", join(skip, sizeof(skip), parts, 5));
        mf_xw_text_clean(x, body_text(j, w, g, r));
        mf_xw_end(x);
        break;
    }
    default:
        break;
    }
    mf_xw_end_empty(x);
}

static void suite_start(mf_xw *x, const char *name, size_t id, const char *package,
                        const char *hostname, int64_t when, const size_t counts[MF_RPT__STATES])
{
    char ts[32];
    size_t tests = 0;
    for (int s = 0; s < MF_RPT__STATES; s++)
        tests += counts[s];
    mf_rpt_time_local(when, ts, sizeof(ts));
    mf_xw_start(x, "testsuite");
    mf_xw_attr_clean(x, "name", name);
    attr_count(x, "id", id);
    mf_xw_attr_clean(x, "package", package);
    mf_xw_attr_clean(x, "hostname", hostname);
    mf_xw_attr_clean(x, "timestamp", ts[0] ? ts : "1970-01-01T00:00:00");
    attr_count(x, "tests", tests);
    attr_count(x, "failures", counts[MF_RPT_FAIL]);
    attr_count(x, "errors", counts[MF_RPT_ERROR]);
    attr_count(x, "skipped", counts[MF_RPT_WAIVED] + counts[MF_RPT_NOTAPPLICABLE]);
    mf_xw_attr_clean(x, "time", "0");
    nl(x);
    mf_xw_start(x, "properties");
    nl(x);
}

static void suite_end(mf_xw *x)
{
    mf_xw_start(x, "system-out");
    mf_xw_end_empty(x);
    nl(x);
    mf_xw_start(x, "system-err");
    mf_xw_end_empty(x);
    nl(x);
    mf_xw_end(x);
    nl(x);
}

static void package_name(const mf_rpt_writer *w, char *out, size_t outsz)
{
    if (!mf_str_empty(w->run.policy_id))
        snprintf(out, outsz, "mailfleet.%s", w->run.policy_id);
    else
        snprintf(out, outsz, "mailfleet");
}

static mf_code junit_host(mf_rpt_writer *w, const mf_rpt_hostgroup *g, mf_error *err)
{
    junit *j = w->impl;
    if (w->opts.junit_group == MF_RPT_GROUP_RULE) {
        for (size_t i = 0; i < g->n; i++) {
            const mf_rpt_result *r = &g->results[i];
            if (mf_grow((void **)&j->refs, &j->caprefs, j->nrefs + 1, sizeof(*j->refs)) != MF_OK)
                return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            mf_xw_flush(j->fx);
            long long off = ftello(j->frag);
            testcase(j, j->fx, w, g, r);
            mf_xw_raw(j->fx, "\n", 1);
            mf_xw_flush(j->fx);
            long long end = ftello(j->frag);
            if (mf_xw_failed(j->fx) || off < 0 || end < off)
                return mf_error_set(err, MF_ERR_IO, "cannot write the temporary file");
            j->refs[j->nrefs++] = (frag_ref){r->rule, off, end - off};
            j->rule_state[r->rule * MF_RPT__STATES + r->state]++;
        }
        return MF_OK;
    }
    size_t counts[MF_RPT__STATES] = {0};
    for (size_t i = 0; i < g->n; i++)
        counts[g->results[i].state]++;
    char package[MF_RPT_TEXT_MAX + 16];
    package_name(w, package, sizeof(package));
    mf_xw *x = j->x;
    suite_start(x, g->label, j->suites++, package, g->label,
                g->collected_at ? g->collected_at : w->run.generated_at, counts);
    char when[32];
    property(x, "host_id", g->id);
    property(x, "hostname", g->hostname);
    mf_rpt_time_rfc3339(g->collected_at, when, sizeof(when));
    property(x, "collected_at", when);
    property(x, "timezone", "UTC");
    property(x, "os_version", g->os_version);
    property(x, "agent_version", g->agent_version);
    property(x, "report_id", g->report_id);
    property(x, "policy", w->run.policy_id);
    property(x, "policy_version", w->run.policy_version);
    if (g->stopped)
        property(x, "stopped_reporting", "true");
    if (g->dropped) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", g->dropped);
        property(x, "results_not_written", n);
    }
    mf_xw_end(x); /* properties */
    nl(x);
    for (size_t i = 0; i < g->n; i++) {
        testcase(j, x, w, g, &g->results[i]);
        nl(x);
    }
    suite_end(x);
    return mf_xw_failed(x) ? mf_error_set(err, MF_ERR_IO, "cannot write %s", w->path) : MF_OK;
}

static mf_code junit_end(mf_rpt_writer *w, mf_error *err)
{
    junit *j = w->impl;
    mf_xw *x = j->x;
    if (w->opts.junit_group == MF_RPT_GROUP_RULE) {
        mf_xw_flush(j->fx);
        if (mf_xw_failed(j->fx))
            return mf_error_set(err, MF_ERR_IO, "cannot write the temporary file");
        /* Index entries per rule, in the order results arrived. A counting sort keeps
         * it O(results + rules). */
        size_t *start = calloc(w->nrules + 1, sizeof(size_t));
        size_t *order = j->nrefs ? malloc(j->nrefs * sizeof(size_t)) : NULL;
        if (!start || (j->nrefs && !order)) {
            free(start);
            free(order);
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < j->nrefs; i++)
            start[j->refs[i].rule + 1]++;
        for (size_t r = 0; r < w->nrules; r++)
            start[r + 1] += start[r];
        for (size_t i = 0; i < j->nrefs; i++)
            order[start[j->refs[i].rule]++] = i;
        char package[MF_RPT_TEXT_MAX + 16];
        package_name(w, package, sizeof(package));
        size_t k = 0;
        for (size_t r = 0; r < w->nrules; r++) {
            const mf_rpt_rule *rule = &w->rules[r];
            suite_start(x, rule->id, j->suites++, package, "fleet", w->run.generated_at,
                        &j->rule_state[r * MF_RPT__STATES]);
            property(x, "rule", rule->id);
            property(x, "title", rule->title);
            property(x, "severity", mf_rpt_severity_name(rule->severity));
            property(x, "scope", rule->scope);
            property(x, "timezone", "UTC");
            property(x, "policy", w->run.policy_id);
            property(x, "policy_version", w->run.policy_version);
            mf_xw_end(x); /* properties */
            nl(x);
            /* Entries of rule r are order[k .. start[r]) after the shifting above. */
            for (; k < start[r]; k++) {
                const frag_ref *f = &j->refs[order[k]];
                mf_xw_copy_fragment(x, j->frag, f->off, f->len);
            }
            suite_end(x);
        }
        free(start);
        free(order);
    }
    mf_xw_end(x); /* testsuites */
    mf_code rc = mf_xw_close(j->x, err);
    j->x = NULL;
    if (rc == MF_OK && fputc('\n', w->f) == EOF)
        rc = mf_error_set(err, MF_ERR_IO, "cannot write %s", w->path);
    return rc;
}

const mf_rpt_backend mf_rpt_junit_backend = {
    .name = "junit",
    .begin = junit_begin,
    .host = junit_host,
    .end = junit_end,
    .free = junit_free,
};
