/* report_outputs.c: the reports library's writers as one sink of the result model
 * (report_outputs.h). One sink forwards every result to every writer, so the history
 * lookup (first failure) happens once per result whatever the number of formats. */
#include "report_outputs.h"
#include "report_history.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct mf_report_outputs {
    mf_rpt_writer *w[MF_RPT__FORMATS];
    mf_report_paths paths;
    mf_history *hist;
    mf_rpt_rule *rules;
    size_t nrules;
    mf_rpt_run run;
    /* the host whose results are streaming, for the history's per-host verdict */
    char *cur_host;
    bool cur_bad;
};

static mf_rpt_severity severity_of(mf_severity s)
{
    switch (s) {
    case MF_SEV_LOW:
        return MF_RPT_LOW;
    case MF_SEV_MEDIUM:
        return MF_RPT_MEDIUM;
    case MF_SEV_HIGH:
        return MF_RPT_HIGH;
    case MF_SEV_CRITICAL:
        return MF_RPT_CRITICAL;
    default:
        return MF_RPT_INFO;
    }
}

static mf_rpt_state state_of(mf_state s)
{
    switch (s) {
    case MF_STATE_FAIL:
        return MF_RPT_FAIL;
    case MF_STATE_ERROR:
        return MF_RPT_ERROR;
    case MF_STATE_NOTAPPLICABLE:
        return MF_RPT_NOTAPPLICABLE;
    case MF_STATE_WAIVED:
        return MF_RPT_WAIVED;
    default:
        return MF_RPT_PASS;
    }
}

bool mf_report_outputs_any(const mf_report_outputs *o)
{
    if (!o)
        return false;
    for (int f = 0; f < MF_RPT__FORMATS; f++)
        if (o->w[f])
            return true;
    return false;
}

mf_code mf_report_outputs_open(mf_report_outputs **out, const mf_report_paths *paths,
                               mf_error *err)
{
    *out = NULL;
    mf_code rc = MF_OK;
    mf_report_outputs *o = calloc(1, sizeof(*o));
    if (!o)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    o->paths = *paths;
    const char *p[MF_RPT__FORMATS] = {[MF_RPT_JUNIT] = paths->junit,
                                      [MF_RPT_HTML] = paths->html,
                                      [MF_RPT_CSV] = paths->csv};
    mf_rpt_opts opts = {.junit_group = paths->junit_group, .stale_days = paths->stale_days};
    for (int f = 0; f < MF_RPT__FORMATS; f++)
        if (p[f] && (rc = mf_rpt_open(&o->w[f], (mf_rpt_format)f, p[f], &opts, err)) != MF_OK)
            goto out;
    *out = o;
    o = NULL;
out:
    mf_report_outputs_free(o);
    return rc;
}

void mf_report_outputs_free(mf_report_outputs *o)
{
    if (!o)
        return;
    for (int f = 0; f < MF_RPT__FORMATS; f++)
        mf_rpt_free(o->w[f]);
    mf_history_close(o->hist);
    if (o->rules)
        for (size_t i = 0; i < o->nrules; i++)
            free((void *)o->rules[i].references);
    free(o->rules);
    free(o->cur_host);
    free(o);
}

/* ------------------------------------------------------------------ the sink */

static mf_code sink_begin(void *ctx, const mf_results *rs, mf_error *err)
{
    mf_report_outputs *o = ctx;
    const mf_policy *p = mf_results_policy(rs);
    const mf_run_info *info = mf_results_info(rs);
    mf_code rc = MF_OK;
    o->nrules = p->nrules;
    o->rules = calloc(p->nrules ? p->nrules : 1, sizeof(*o->rules));
    if (!o->rules)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p->nrules; i++) {
        const mf_rule *r = &p->rules[i];
        mf_rpt_rule *d = &o->rules[i];
        d->id = r->id;
        d->title = r->title;
        d->severity = severity_of(r->severity);
        d->scope = mf_scope_name(r->scope);
        d->description = r->description;
        d->rationale = r->rationale;
        d->remediation = r->remediation_user;
        d->remediation_admin = r->remediation_admin;
        if (r->references.n) {
            const char **refs = calloc(r->references.n, sizeof(char *));
            if (!refs)
                return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            for (size_t k = 0; k < r->references.n; k++)
                refs[k] = r->references.v[k];
            d->references = refs;
            d->nreferences = r->references.n;
        }
    }
    o->run = (mf_rpt_run){
        .policy_id = p->id,
        .policy_title = p->title,
        .policy_version = p->version,
        .command = info->command,
        .source = info->source,
        .generated_at = info->as_of,
        .fail_on = severity_of(info->fail_on),
    };
    if (o->paths.history &&
        (rc = mf_history_open(&o->hist, o->paths.history, info->as_of, err)) != MF_OK)
        return rc;
    for (int f = 0; f < MF_RPT__FORMATS; f++)
        if (o->w[f] && (rc = mf_rpt_begin(o->w[f], &o->run, o->rules, o->nrules, err)) != MF_OK)
            return rc;
    return MF_OK;
}

/* The host whose results were streaming is complete: tell the history. */
static mf_code close_host(mf_report_outputs *o, mf_error *err)
{
    mf_code rc = MF_OK;
    if (o->cur_host && o->hist)
        rc = mf_history_host(o->hist, o->cur_host, !o->cur_bad, err);
    free(o->cur_host);
    o->cur_host = NULL;
    o->cur_bad = false;
    return rc;
}

static mf_code sink_add(void *ctx, const mf_results *rs, const mf_result *r, mf_error *err)
{
    (void)rs;
    mf_report_outputs *o = ctx;
    mf_code rc;
    if (r->host_id && !mf_streq(r->host_id, o->cur_host)) {
        if ((rc = close_host(o, err)) != MF_OK)
            return rc;
        if (!(o->cur_host = mf_strdup(r->host_id)))
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    mf_rpt_result d = {
        .rule = r->rule->index,
        .host_id = r->host_id,
        .hostname = r->hostname,
        .entity = r->entity,
        .server = r->server,
        .state = state_of(r->state),
        .message = r->message,
    };
    if (r->host_id && (r->state == MF_STATE_FAIL || r->state == MF_STATE_ERROR))
        o->cur_bad = true;
    if (r->state == MF_STATE_WAIVED && r->waiver) {
        d.waiver_justification = r->waiver->justification;
        d.waiver_approved_by = r->waiver->approved_by;
        d.waiver_expires = r->waiver->expires;
    }
    if (r->expired)
        d.expired_waiver_expires = r->expired->expires;
    if (r->state == MF_STATE_FAIL && o->hist &&
        (rc = mf_history_failure(o->hist, r->host_id ? r->host_id : "", r->rule->id, r->entity,
                                 &d.first_failed, err)) != MF_OK)
        return rc;
    for (int f = 0; f < MF_RPT__FORMATS; f++)
        if (o->w[f] && (rc = mf_rpt_add_result(o->w[f], &d, err)) != MF_OK)
            return rc;
    return MF_OK;
}

static mf_code feed_day(void *ctx, const mf_rpt_day *d, mf_error *err)
{
    mf_report_outputs *o = ctx;
    for (int f = 0; f < MF_RPT__FORMATS; f++) {
        mf_code rc;
        if (o->w[f] && (rc = mf_rpt_add_day(o->w[f], d, err)) != MF_OK)
            return rc;
    }
    return MF_OK;
}

static mf_code sink_end(void *ctx, const mf_results *rs, mf_error *err)
{
    mf_report_outputs *o = ctx;
    mf_code rc;
    if ((rc = close_host(o, err)) != MF_OK)
        return rc;
    if (o->hist && (rc = mf_history_finish(o->hist, feed_day, o, err)) != MF_OK)
        return rc;
    size_t ok = 0, skipped = 0, failed = 0;
    mf_results_inputs(rs, &ok, &skipped, &failed);
    const mf_waivers *wv = mf_results_waivers(rs);
    for (int f = 0; f < MF_RPT__FORMATS; f++) {
        if (!o->w[f])
            continue;
        mf_rpt_set_inputs(o->w[f], ok, skipped, failed);
        for (size_t i = 0; wv && i < wv->n; i++) {
            const mf_waiver *v = &wv->v[i];
            mf_rpt_waiver d = {.rule = v->rule,
                               .host = v->host,
                               .server = v->server,
                               .justification = v->justification,
                               .approved_by = v->approved_by,
                               .expires = v->expires,
                               .status = mf_waiver_status_name(v->status),
                               .matched = v->matched};
            if ((rc = mf_rpt_add_waiver(o->w[f], &d, err)) != MF_OK)
                return rc;
        }
        if ((rc = mf_rpt_end(o->w[f], err)) != MF_OK)
            return rc;
    }
    return MF_OK;
}

mf_code mf_report_outputs_attach(mf_report_outputs *o, mf_results *rs, mf_error *err)
{
    if (!mf_report_outputs_any(o) && !(o && o->paths.history))
        return MF_OK;
    mf_results_sink s = {.name = "reports", .ctx = o, .begin = sink_begin, .add = sink_add,
                         .end = sink_end, .free = NULL};
    if (mf_results_add_sink(rs, &s) != MF_OK)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    return MF_OK;
}

mf_code mf_report_outputs_host(mf_report_outputs *o, const mf_report *r, mf_error *err)
{
    if (!mf_report_outputs_any(o))
        return MF_OK;
    int64_t t = 0;
    if (mf_time_parse_rfc3339(r->collected_at, &t) != MF_OK)
        t = 0;
    mf_rpt_host h = {.id = r->host.id,
                     .hostname = r->host.hostname,
                     .collected_at = t,
                     .os_version = r->host.os_version,
                     .agent_version = r->agent_version,
                     .report_id = r->report_id};
    for (int f = 0; f < MF_RPT__FORMATS; f++) {
        mf_code rc;
        if (o->w[f] && (rc = mf_rpt_add_host(o->w[f], &h, err)) != MF_OK)
            return rc;
    }
    return MF_OK;
}

mf_code mf_report_outputs_server(mf_report_outputs *o, const mf_store_server_row *row,
                                 mf_error *err)
{
    if (!o || !o->w[MF_RPT_HTML])
        return MF_OK;
    mf_rpt_server s = {.hostname = row->hostname,
                       .provider = row->provider,
                       .port = row->port,
                       .hosts = row->hosts,
                       .hosts_ever = row->hosts_ever,
                       .entries = row->entries,
                       .accounts = row->accounts,
                       .unused = row->unused,
                       .probes_ok = row->probes_ok,
                       .probes_failed = row->probes_failed,
                       .top_failure = row->top_failure,
                       .first_seen = row->first_seen,
                       .last_seen = row->last_seen};
    return mf_rpt_add_server(o->w[MF_RPT_HTML], &s, err);
}
