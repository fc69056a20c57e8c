/* waivers.c: the waivers file (policy.h, docs/waivers.md).
 *
 *   {"waivers": [{"rule": "RULE-ID", "host": "glob", "server": "glob",
 *                 "justification": "...", "approved_by": "...", "expires": "YYYY-MM-DD"}]}
 *
 * Strict on purpose: a waiver silences a finding, so a typo ("expire", a date that does
 * not exist, a missing reason) must stop the run before anything is evaluated rather
 * than quietly waive too much or too little. A waiver stays in force through the whole
 * of its expiry day (UTC) and is expired from the next day on; expired waivers are
 * reported, and the results they would have waived count as fails again.
 */
#include "fileio.h"
#include "policy.h"
#include "report_json.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 4096

mf_code mf_date_parse(const char *s, int64_t *out)
{
    *out = 0;
    if (!s || strlen(s) != 10)
        return MF_ERR_PARSE;
    for (int i = 0; i < 10; i++) {
        bool digit = isdigit((unsigned char)s[i]);
        if ((i == 4 || i == 7) ? s[i] != '-' : !digit)
            return MF_ERR_PARSE;
    }
    char full[32];
    snprintf(full, sizeof(full), "%sT00:00:00Z", s);
    return mf_time_parse_rfc3339(full, out);
}

const char *mf_waiver_status_name(mf_waiver_status s)
{
    switch (s) {
    case MF_WAIVER_ACTIVE:
        return "active";
    case MF_WAIVER_EXPIRED:
        return "expired";
    case MF_WAIVER_UNKNOWN_RULE:
        return "unknown-rule";
    }
    return "?";
}

void mf_waivers_free(mf_waivers *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->v[i].rule);
        free(w->v[i].host);
        free(w->v[i].server);
        free(w->v[i].justification);
        free(w->v[i].approved_by);
    }
    for (size_t i = 0; w->by_rule && i < w->nrules; i++)
        free(w->by_rule[i]);
    free(w->by_rule);
    free(w->by_rule_n);
    free(w->v);
    free(w->path);
    free(w);
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
            return true;
    return false;
}

/* A string member: required (or optional), non-empty, bounded. */
static mf_code text_member(const json_t *o, const char *file, const char *field, const char *name,
                           bool required, size_t max, char **out, mf_error *err)
{
    *out = NULL;
    char f[MF_ERROR_FIELD_MAX];
    snprintf(f, sizeof(f), "%s.%s", field, name);
    json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v)) {
        if (!required)
            return MF_OK;
        return mf_error_at(err, file, f, MF_ERR_INVALID, "is required");
    }
    if (!json_is_string(v))
        return mf_error_at(err, file, f, MF_ERR_INVALID, "must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || strspn(s, " \t\r\n") == n)
        return mf_error_at(err, file, f, MF_ERR_INVALID, "must not be empty");
    if (n > max)
        return mf_error_at(err, file, f, MF_ERR_TOOBIG, "is longer than %zu bytes", max);
    if (strlen(s) != n || has_control(s))
        return mf_error_at(err, file, f, MF_ERR_INVALID, "must not contain control characters");
    *out = mf_strdup(s);
    return *out ? MF_OK : mf_error_at(err, file, f, MF_ERR_NOMEM, "out of memory");
}

static mf_code parse_entry(mf_waiver *w, const json_t *o, const char *file, size_t i, mf_error *err)
{
    char field[64];
    snprintf(field, sizeof(field), "waivers[%zu]", i);
    if (!json_is_object(o))
        return mf_error_at(err, file, field, MF_ERR_INVALID, "a waiver must be an object");
    static const char *const allowed[] = {"rule",        "host",    "server",  "justification",
                                          "approved_by", "expires", "$comment"};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool ok = false;
        for (size_t k = 0; k < MF_ARRAY_LEN(allowed) && !ok; k++)
            ok = strcmp(key, allowed[k]) == 0;
        if (!ok) {
            char f[MF_ERROR_FIELD_MAX];
            snprintf(f, sizeof(f), "%s.%s", field, key[0] ? key : "\"\"");
            return mf_error_at(
                err, file, f, MF_ERR_INVALID,
                "unknown member \"%s\" (expected: rule, host, server, justification, "
                "approved_by, expires)",
                key);
        }
    }
    mf_code rc;
    char *expires = NULL;
    if ((rc = text_member(o, file, field, "rule", true, MF_POLICY_ID_MAX, &w->rule, err)) !=
            MF_OK ||
        (rc = text_member(o, file, field, "host", true, MF_POLICY_PATTERN_MAX, &w->host, err)) !=
            MF_OK ||
        (rc = text_member(o, file, field, "server", true, MF_POLICY_PATTERN_MAX, &w->server,
                          err)) != MF_OK ||
        (rc = text_member(o, file, field, "justification", true, TEXT_MAX, &w->justification,
                          err)) != MF_OK ||
        (rc = text_member(o, file, field, "approved_by", false, 256, &w->approved_by, err)) !=
            MF_OK ||
        (rc = text_member(o, file, field, "expires", true, 32, &expires, err)) != MF_OK)
        return rc;
    char f[MF_ERROR_FIELD_MAX], why[200];
    snprintf(f, sizeof(f), "%s.host", field);
    if (!mf_glob_valid(w->host, why, sizeof(why))) {
        free(expires);
        return mf_error_at(err, file, f, MF_ERR_INVALID, "bad pattern: %s", why);
    }
    snprintf(f, sizeof(f), "%s.server", field);
    if (!mf_glob_valid(w->server, why, sizeof(why))) {
        free(expires);
        return mf_error_at(err, file, f, MF_ERR_INVALID, "bad pattern: %s", why);
    }
    snprintf(f, sizeof(f), "%s.expires", field);
    int64_t day;
    if (mf_date_parse(expires, &day) != MF_OK) {
        rc = mf_error_at(err, file, f, MF_ERR_INVALID,
                         "\"%s\" is not a date: write YYYY-MM-DD, a day that exists", expires);
        free(expires);
        return rc;
    }
    mf_strlcpy(w->expires, expires, sizeof(w->expires));
    free(expires);
    w->expires_end = day + 86400;
    return MF_OK;
}

mf_code mf_waivers_parse(mf_waivers **out, const char *data, size_t len, const char *name,
                         mf_error *err)
{
    *out = NULL;
    mf_error_clear(err);
    const char *file = name ? name : "(waivers)";
    if (len > MF_WAIVERS_MAX_BYTES)
        return mf_error_at(err, file, "", MF_ERR_TOOBIG, "the file is %zu bytes, the limit is %d",
                           len, MF_WAIVERS_MAX_BYTES);
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        mf_code rc = mf_error_at(err, file, "", MF_ERR_PARSE, "invalid JSON: %s", je.text);
        mf_error_set_pos(err, je.line > 0 ? je.line : 0, je.column > 0 ? je.column : 0);
        return rc;
    }
    mf_code rc = MF_OK;
    mf_waivers *w = calloc(1, sizeof(*w));
    if (!w || !(w->path = mf_strdup(file))) {
        rc = mf_error_at(err, file, "", MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!json_is_object(root)) {
        /* The whole document is the position: named, so that every refusal has one. */
        rc = mf_error_at(err, file, "top level", MF_ERR_INVALID,
                         "a waivers file is an object {\"waivers\": [...]}, not %s",
                         mf_json_kind(root));
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "waivers") != 0 && strcmp(key, "$comment") != 0) {
            /* An empty member name still gets a visible position. */
            rc = mf_error_at(err, file, key[0] ? key : "\"\"", MF_ERR_INVALID,
                             "unknown member \"%s\" (expected: waivers)", key);
            goto out;
        }
    }
    json_t *list = json_object_get(root, "waivers");
    if (!list) {
        rc = mf_error_at(err, file, "waivers", MF_ERR_INVALID, "is required");
        goto out;
    }
    if (!json_is_array(list)) {
        rc = mf_error_at(err, file, "waivers", MF_ERR_INVALID, "must be an array of waivers");
        goto out;
    }
    if (json_array_size(list) > MF_WAIVERS_MAX) {
        rc = mf_error_at(err, file, "waivers", MF_ERR_TOOBIG, "has %zu waivers, the limit is %d",
                         json_array_size(list), MF_WAIVERS_MAX);
        goto out;
    }
    w->v = calloc(json_array_size(list) + 1, sizeof(mf_waiver));
    if (!w->v) {
        rc = mf_error_at(err, file, "", MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        w->n = i + 1;
        if ((rc = parse_entry(&w->v[i], e, file, i, err)) != MF_OK)
            goto out;
    }
out:
    json_decref(root);
    if (rc != MF_OK) {
        mf_waivers_free(w);
        return rc;
    }
    *out = w;
    return MF_OK;
}

mf_code mf_waivers_load(mf_waivers **out, const char *path, mf_error *err)
{
    *out = NULL;
    char *data = NULL;
    size_t len = 0;
    mf_code rc = mf_file_read(path, MF_WAIVERS_MAX_BYTES, &data, &len, err);
    if (rc != MF_OK) {
        mf_error_set_file(err, path);
        return rc;
    }
    rc = mf_waivers_parse(out, data, len, path, err);
    free(data);
    return rc;
}

mf_code mf_waivers_bind(mf_waivers *w, const mf_policy *p, int64_t as_of, mf_error *err)
{
    for (size_t i = 0; w->by_rule && i < w->nrules; i++)
        free(w->by_rule[i]);
    free(w->by_rule);
    free(w->by_rule_n);
    w->nrules = p->nrules;
    w->by_rule = calloc(p->nrules + 1, sizeof(size_t *));
    w->by_rule_n = calloc(p->nrules + 1, sizeof(size_t));
    if (!w->by_rule || !w->by_rule_n)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < w->n; i++) {
        mf_waiver *x = &w->v[i];
        x->matched = x->matched_pass = 0;
        const mf_rule *r = mf_policy_find_rule(p, x->rule);
        if (!r) {
            x->status = MF_WAIVER_UNKNOWN_RULE;
            continue;
        }
        x->status = as_of >= x->expires_end ? MF_WAIVER_EXPIRED : MF_WAIVER_ACTIVE;
        size_t *list = realloc(w->by_rule[r->index], (w->by_rule_n[r->index] + 1) * sizeof(size_t));
        if (!list)
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        w->by_rule[r->index] = list;
        list[w->by_rule_n[r->index]++] = i;
    }
    return MF_OK;
}

static bool host_matches(const mf_waiver *x, const char *host_id, const char *hostname)
{
    if (!host_id && !hostname)
        return mf_glob_match(x->host, "");
    return (host_id && mf_glob_match(x->host, host_id)) ||
           (hostname && mf_glob_match(x->host, hostname));
}

static bool server_matches(const mf_waiver *x, const mf_entity *ent)
{
    if (!ent || (!ent->server && !ent->server_host))
        return mf_glob_match(x->server, "");
    return (ent->server && mf_glob_match(x->server, ent->server)) ||
           (ent->server_host && mf_glob_match(x->server, ent->server_host));
}

mf_waiver *mf_waivers_match(mf_waivers *w, size_t rule_index, const char *host_id,
                            const char *hostname, const mf_entity *ent, mf_waiver **expired)
{
    *expired = NULL;
    if (!w || !w->by_rule || rule_index >= w->nrules)
        return NULL;
    for (size_t k = 0; k < w->by_rule_n[rule_index]; k++) {
        mf_waiver *x = &w->v[w->by_rule[rule_index][k]];
        if (!host_matches(x, host_id, hostname) || !server_matches(x, ent))
            continue;
        if (x->status == MF_WAIVER_ACTIVE)
            return x;
        if (x->status == MF_WAIVER_EXPIRED && !*expired)
            *expired = x;
    }
    return NULL;
}
