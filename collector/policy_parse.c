/* policy_parse.c: loading policy files with strict validation (policy.h,
 * docs/policy-language.md).
 *
 * A file is parsed in this order: the JSON (duplicate keys refused), its top-level
 * members, its parameters (defaults, then the overrides the including file gave), its
 * includes (each a recursive load, parameters resolved first so an override may be
 * "$name" of the includer), then its rules. Rules resolve `$name` against the
 * parameters of the file that defines them: an included file keeps its own names.
 *
 * Everything an attacker controls is bounded (policy.h MF_POLICY_*): the file size,
 * include depth and count, rules, condition depth and nodes, list lengths, and the
 * patterns (length, count, and no regular expression that could backtrack or expand).
 */
#include "fileio.h"
#include "log.h"
#include "policy.h"
#include "util.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Patterns compiled in one policy, all files together (each costs memory). */
#define MAX_TOTAL_PATTERNS 2000
/* List items created by splicing list parameters into value lists, all files together:
 * a 1,000-item parameter referenced by every leaf must not become millions of items. */
#define MAX_SPLICED_ITEMS 200000
/* Entries of one "include" array and of one "exclude" list. */
#define MAX_INCLUDES 16
#define MAX_EXCLUDES 256
#define MAX_REFS     64
#define TITLE_MAX    200
#define VERSION_MAX  64

/* ------------------------------------------------------------------ names */

static const char *const severity_names[MF_SEV__COUNT] = {"info", "low", "medium", "high",
                                                          "critical"};
static const char *const scope_names[MF_SCOPE__COUNT] = {"server", "account", "probe", "host",
                                                         "fleet-server"};
static const char *const op_names[MF_OP__COUNT] = {
    "eq", "ne",   "in",    "not_in", "lt",      "le",      "gt",
    "ge", "glob", "regex", "exists", "missing", "contains"};

const char *mf_severity_name(mf_severity s)
{
    return (unsigned)s < MF_SEV__COUNT ? severity_names[s] : "unknown";
}

bool mf_severity_parse(const char *s, mf_severity *out)
{
    for (int i = 0; s && i < MF_SEV__COUNT; i++)
        if (strcmp(s, severity_names[i]) == 0) {
            *out = (mf_severity)i;
            return true;
        }
    return false;
}

const char *mf_scope_name(mf_scope s)
{
    return (unsigned)s < MF_SCOPE__COUNT ? scope_names[s] : "unknown";
}

bool mf_scope_parse(const char *s, mf_scope *out)
{
    for (int i = 0; s && i < MF_SCOPE__COUNT; i++)
        if (strcmp(s, scope_names[i]) == 0) {
            *out = (mf_scope)i;
            return true;
        }
    return false;
}

const char *mf_op_name(mf_op op)
{
    return (unsigned)op < MF_OP__COUNT ? op_names[op] : "unknown";
}

bool mf_op_parse(const char *s, mf_op *out)
{
    for (int i = 0; s && i < MF_OP__COUNT; i++)
        if (strcmp(s, op_names[i]) == 0) {
            *out = (mf_op)i;
            return true;
        }
    return false;
}

/* ------------------------------------------------------------------ freeing */

static void cond_clear(mf_cond *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nkids; i++)
        cond_clear(&c->kids[i]);
    free(c->kids);
    free(c->path);
    for (size_t i = 0; i < c->nsegs; i++)
        free(c->segs[i]);
    free(c->segs);
    json_decref(c->value);
    free(c->param);
    free(c->text);
    for (size_t i = 0; i < c->nre; i++)
        regfree(&c->re[i]);
    free(c->re);
    memset(c, 0, sizeof(*c));
}

static void cond_free(mf_cond *c)
{
    cond_clear(c);
    free(c);
}

static void rule_clear(mf_rule *r)
{
    free(r->id);
    free(r->title);
    cond_free(r->when);
    cond_free(r->expect);
    free(r->description);
    free(r->rationale);
    free(r->remediation_user);
    free(r->remediation_admin);
    mf_strv_free(&r->references);
    mf_strv_free(&r->tags);
    memset(r, 0, sizeof(*r));
}

void mf_policy_free(mf_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nrules; i++)
        rule_clear(&p->rules[i]);
    free(p->rules);
    for (size_t i = 0; i < p->nfiles; i++) {
        free(p->files[i].path);
        free(p->files[i].id);
        free(p->files[i].title);
        free(p->files[i].version);
        json_decref(p->files[i].parameters);
    }
    free(p->files);
    free(p->id);
    free(p->title);
    free(p->version);
    free(p->path);
    free(p);
}

const mf_rule *mf_policy_find_rule(const mf_policy *p, const char *id)
{
    for (size_t i = 0; p && id && i < p->nrules; i++)
        if (strcmp(p->rules[i].id, id) == 0)
            return &p->rules[i];
    return NULL;
}

/* ------------------------------------------------------------------ context */

typedef struct exclusion {
    const json_t *ids; /* array of strings, borrowed */
    bool *used;
    const char *file; /* where the exclude list is written, for messages */
    char field[MF_ERROR_FIELD_MAX];
} exclusion;

typedef struct pctx {
    mf_policy *p;
    const mf_policy_loader *loader;
    mf_error *err;
    char *stack[MF_POLICY_MAX_INCLUDE_DEPTH + 1]; /* canonical keys of the open files */
    size_t depth;
    exclusion excl[MF_POLICY_MAX_INCLUDE_DEPTH + 1];
    size_t nexcl;
    size_t patterns; /* compiled so far, all files */
    size_t spliced;  /* list items made by splicing */
    size_t rules_cap;
    size_t files_cap;
} pctx;

/* The file being parsed, for messages. */
typedef struct fctx {
    pctx *pc;
    const char *path;
    size_t file_index;
    json_t *params; /* {name: value}, owned */
    mf_scope scope; /* of the rule being parsed */
    size_t nodes;   /* condition nodes of the rule being parsed */
} fctx;

#define FAIL(fc, ...) mf_error_at((fc)->pc->err, (fc)->path, __VA_ARGS__)
#define OOM(fc)       mf_error_at((fc)->pc->err, (fc)->path, "", MF_ERR_NOMEM, "out of memory")

/* field = prefix + suffix, bounded. */
static void sub(char *out, size_t outsz, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void sub(char *out, size_t outsz, const char *prefix, const char *fmt, ...)
{
    char tail[MF_ERROR_FIELD_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof(tail), fmt, ap);
    va_end(ap);
    if (prefix[0] && tail[0] != '[')
        snprintf(out, outsz, "%s.%s", prefix, tail);
    else
        snprintf(out, outsz, "%s%s", prefix, tail);
}

/* ------------------------------------------------------------------ small checks */

static bool ident_ok(const char *s, bool allow_upper_dash)
{
    size_t n = strlen(s);
    if (n == 0 || n > MF_POLICY_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = islower(c) || isdigit(c) || c == '_' ||
                  (allow_upper_dash && (isupper(c) || c == '-' || c == '.'));
        if (!ok)
            return false;
    }
    return isalnum((unsigned char)s[0]) || s[0] == '_';
}

/* Rule and policy ids: letters, digits, '-', '_', '.', starting with a letter or digit. */
static bool id_ok(const char *s)
{
    return ident_ok(s, true) && isalnum((unsigned char)s[0]);
}

/* Parameter names: lower-case letters, digits and '_', not starting with a digit. */
static bool param_name_ok(const char *s)
{
    return ident_ok(s, false) && !isdigit((unsigned char)s[0]);
}

static bool has_control(const char *s, bool allow_newline)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 && !(allow_newline && (c == '\n' || c == '\t')))
            return true;
        if (c == 0x7f)
            return true;
    }
    return false;
}

/* Check that obj has only members from allowed (NULL-terminated); "$comment" is always
 * allowed and must be a string. */
static mf_code check_members(fctx *fc, const json_t *obj, const char *field,
                             const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        char f[MF_ERROR_FIELD_MAX];
        sub(f, sizeof(f), field, "%s", key[0] ? key : "\"\"");
        if (strcmp(key, "$comment") == 0) {
            if (!json_is_string(v))
                return FAIL(fc, f, MF_ERR_INVALID, "must be a string");
            continue;
        }
        if (!ok) {
            char list[512] = "";
            size_t used = 0;
            for (size_t i = 0; allowed[i]; i++) {
                int w =
                    snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", allowed[i]);
                if (w < 0 || (size_t)w >= sizeof(list) - used)
                    break;
                used += (size_t)w;
            }
            return FAIL(fc, f, MF_ERR_INVALID, "unknown member \"%s\" (expected: %s)", key, list);
        }
    }
    return MF_OK;
}

/* A required or optional string member with a length cap; *out is a new copy (NULL when
 * optional and absent). */
static mf_code get_text(fctx *fc, const json_t *obj, const char *field, const char *name,
                        bool required, size_t max, bool multiline, char **out)
{
    *out = NULL;
    char f[MF_ERROR_FIELD_MAX];
    sub(f, sizeof(f), field, "%s", name);
    json_t *v = json_object_get(obj, name);
    if (!v) {
        if (required)
            return FAIL(fc, f, MF_ERR_INVALID, "is required");
        return MF_OK;
    }
    if (!json_is_string(v))
        return FAIL(fc, f, MF_ERR_INVALID, "must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || strspn(s, " \t\r\n") == n)
        return FAIL(fc, f, MF_ERR_INVALID, "must not be empty");
    if (n > max)
        return FAIL(fc, f, MF_ERR_TOOBIG, "is %zu bytes long, the limit is %zu", n, max);
    if (has_control(s, multiline))
        return FAIL(fc, f, MF_ERR_INVALID, "must not contain control characters");
    *out = mf_strdup(s);
    return *out ? MF_OK : OOM(fc);
}

static mf_code get_string_list(fctx *fc, const json_t *obj, const char *field, const char *name,
                               size_t max_items, size_t max_len, mf_strv *out)
{
    char f[MF_ERROR_FIELD_MAX];
    sub(f, sizeof(f), field, "%s", name);
    json_t *v = json_object_get(obj, name);
    if (!v)
        return MF_OK;
    if (!json_is_array(v))
        return FAIL(fc, f, MF_ERR_INVALID, "must be an array of strings");
    if (json_array_size(v) > max_items)
        return FAIL(fc, f, MF_ERR_TOOBIG, "has %zu items, the limit is %zu", json_array_size(v),
                    max_items);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char fi[MF_ERROR_FIELD_MAX];
        sub(fi, sizeof(fi), f, "[%zu]", i);
        if (!json_is_string(e) || json_string_length(e) == 0)
            return FAIL(fc, fi, MF_ERR_INVALID, "must be a non-empty string");
        if (json_string_length(e) > max_len)
            return FAIL(fc, fi, MF_ERR_TOOBIG, "is longer than %zu bytes", max_len);
        if (has_control(json_string_value(e), false))
            return FAIL(fc, fi, MF_ERR_INVALID, "must not contain control characters");
        if (mf_strv_push(out, json_string_value(e)) != MF_OK)
            return OOM(fc);
    }
    return MF_OK;
}

/* ------------------------------------------------------------------ parameters */

/* A parameter value: a string, number or boolean, or an array of those (all of one
 * kind) of at most MF_POLICY_MAX_LIST items. */
static bool scalar_ok(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

static const char *kind_of(const json_t *v)
{
    if (json_is_string(v))
        return "a string";
    if (json_is_number(v))
        return "a number";
    if (json_is_boolean(v))
        return "a boolean";
    if (json_is_array(v))
        return "a list";
    if (json_is_null(v))
        return "null";
    return "an object";
}

static bool same_kind(const json_t *a, const json_t *b)
{
    if (json_is_number(a) || json_is_number(b))
        return json_is_number(a) && json_is_number(b);
    if (json_is_boolean(a) || json_is_boolean(b))
        return json_is_boolean(a) && json_is_boolean(b);
    return json_typeof(a) == json_typeof(b);
}

static mf_code check_param_value(fctx *fc, const char *field, const json_t *v)
{
    if (scalar_ok(v))
        return MF_OK;
    if (!json_is_array(v))
        return FAIL(fc, field, MF_ERR_INVALID,
                    "a parameter value must be a string, number, boolean or a list of them, "
                    "not %s",
                    kind_of(v));
    if (json_array_size(v) > MF_POLICY_MAX_LIST)
        return FAIL(fc, field, MF_ERR_TOOBIG, "has %zu items, the limit is %d", json_array_size(v),
                    MF_POLICY_MAX_LIST);
    size_t i;
    json_t *e;
    json_array_foreach((json_t *)v, i, e)
    {
        if (!scalar_ok(e)) {
            char f[MF_ERROR_FIELD_MAX];
            sub(f, sizeof(f), field, "[%zu]", i);
            return FAIL(fc, f, MF_ERR_INVALID,
                        "list items must be strings, numbers or booleans, not %s", kind_of(e));
        }
        if (i > 0 && !same_kind(e, json_array_get(v, 0))) {
            char f[MF_ERROR_FIELD_MAX];
            sub(f, sizeof(f), field, "[%zu]", i);
            return FAIL(fc, f, MF_ERR_INVALID,
                        "all items of a list must be of one kind (item 0 is %s, this is %s)",
                        kind_of(json_array_get(v, 0)), kind_of(e));
        }
    }
    return MF_OK;
}

/* If s is a parameter reference "$name", return the name (pointer into s); "$$..." is
 * an escaped literal and returns NULL. */
static const char *param_ref(const char *s)
{
    if (s[0] != '$' || s[1] == '$')
        return NULL;
    return s + 1;
}

/* Resolve a string that may be "$name" against params. *out is a new reference (the
 * parameter's value, the unescaped literal, or v itself); *param receives the name
 * when it was a reference. */
static mf_code resolve_ref(fctx *fc, const char *field, json_t *v, json_t **out, const char **param)
{
    *out = NULL;
    if (param)
        *param = NULL;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        const char *name = param_ref(s);
        if (name) {
            json_t *pv = json_object_get(fc->params, name);
            if (!pv) {
                char names[300] = "";
                size_t used = 0;
                const char *k;
                json_t *x;
                json_object_foreach(fc->params, k, x)
                {
                    int w =
                        snprintf(names + used, sizeof(names) - used, "%s$%s", used ? ", " : "", k);
                    if (w < 0 || (size_t)w >= sizeof(names) - used)
                        break;
                    used += (size_t)w;
                }
                return FAIL(fc, field, MF_ERR_INVALID,
                            "unknown parameter \"%s\" (this file defines: %s)", s,
                            used ? names : "no parameters");
            }
            if (param)
                *param = name;
            *out = json_incref(pv);
            return MF_OK;
        }
        if (s[0] == '$' && s[1] == '$') {
            *out = json_string(s + 1);
            return *out ? MF_OK : OOM(fc);
        }
    }
    *out = json_incref(v);
    return MF_OK;
}

/* Resolve a condition value: a whole-value reference, or a list whose items may be
 * references (list parameters are spliced in). *out is a new reference. */
static mf_code resolve_value(fctx *fc, const char *field, json_t *v, json_t **out,
                             const char **param)
{
    *out = NULL;
    *param = NULL;
    if (!json_is_array(v))
        return resolve_ref(fc, field, v, out, param);
    if (json_array_size(v) > MF_POLICY_MAX_LIST)
        return FAIL(fc, field, MF_ERR_TOOBIG, "has %zu items, the limit is %d", json_array_size(v),
                    MF_POLICY_MAX_LIST);
    bool any_ref = false;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) any_ref |= json_is_string(e) && json_string_value(e)[0] == '$';
    if (!any_ref) {
        *out = json_incref(v);
        return MF_OK;
    }
    json_t *list = json_array();
    if (!list)
        return OOM(fc);
    mf_code rc = MF_OK;
    json_array_foreach(v, i, e)
    {
        char f[MF_ERROR_FIELD_MAX];
        sub(f, sizeof(f), field, "[%zu]", i);
        json_t *r = NULL;
        const char *pn = NULL;
        if ((rc = resolve_ref(fc, f, e, &r, &pn)) != MF_OK)
            break;
        size_t add = json_is_array(r) ? json_array_size(r) : 1;
        fc->pc->spliced += add;
        if (fc->pc->spliced > MAX_SPLICED_ITEMS ||
            json_array_size(list) + add > MF_POLICY_MAX_LIST) {
            json_decref(r);
            rc = FAIL(fc, f, MF_ERR_TOOBIG,
                      "the list grows too long once parameters are put in (limit %d items)",
                      MF_POLICY_MAX_LIST);
            break;
        }
        int jrc = json_is_array(r) ? json_array_extend(list, r) : json_array_append(list, r);
        json_decref(r);
        if (jrc != 0) {
            rc = OOM(fc);
            break;
        }
    }
    if (rc != MF_OK) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return MF_OK;
}

static mf_code parse_parameters(fctx *fc, const json_t *root, json_t *overrides,
                                const char *ov_file, const char *ov_field)
{
    fc->params = json_object();
    if (!fc->params)
        return OOM(fc);
    json_t *defs = json_object_get(root, "parameters");
    if (defs) {
        if (!json_is_object(defs))
            return FAIL(fc, "parameters", MF_ERR_INVALID,
                        "must be an object of {\"name\": {\"default\": ..., "
                        "\"description\": ...}}");
        if (json_object_size(defs) > MF_POLICY_MAX_PARAMS)
            return FAIL(fc, "parameters", MF_ERR_TOOBIG, "has %zu parameters, the limit is %d",
                        json_object_size(defs), MF_POLICY_MAX_PARAMS);
        const char *name;
        json_t *d;
        json_object_foreach(defs, name, d)
        {
            char f[MF_ERROR_FIELD_MAX];
            sub(f, sizeof(f), "parameters", "%s", name[0] ? name : "\"\"");
            if (strcmp(name, "$comment") == 0) {
                if (!json_is_string(d))
                    return FAIL(fc, f, MF_ERR_INVALID, "must be a string");
                continue;
            }
            if (!param_name_ok(name))
                return FAIL(fc, f, MF_ERR_INVALID,
                            "a parameter name is 1-%d lower-case letters, digits and '_', "
                            "not starting with a digit",
                            MF_POLICY_ID_MAX);
            if (!json_is_object(d))
                return FAIL(fc, f, MF_ERR_INVALID,
                            "must be an object with \"default\" and \"description\"");
            static const char *const allowed[] = {"default", "description", NULL};
            mf_code rc = check_members(fc, d, f, allowed);
            if (rc != MF_OK)
                return rc;
            char *desc = NULL;
            if ((rc = get_text(fc, d, f, "description", true, MF_POLICY_TEXT_MAX, true, &desc)) !=
                MF_OK)
                return rc;
            free(desc);
            json_t *def = json_object_get(d, "default");
            char fd[MF_ERROR_FIELD_MAX];
            sub(fd, sizeof(fd), f, "default");
            if (!def)
                return FAIL(fc, fd, MF_ERR_INVALID, "is required");
            if ((rc = check_param_value(fc, fd, def)) != MF_OK)
                return rc;
            if (json_object_set(fc->params, name, def) != 0)
                return OOM(fc);
        }
    }
    if (!overrides)
        return MF_OK;
    const char *name;
    json_t *v;
    json_object_foreach(overrides, name, v)
    {
        char f[MF_ERROR_FIELD_MAX];
        sub(f, sizeof(f), ov_field, "%s", name[0] ? name : "\"\"");
        json_t *def = json_object_get(fc->params, name);
        if (!def)
            return mf_error_at(fc->pc->err, ov_file, f, MF_ERR_INVALID,
                               "the included policy (%s) has no parameter \"%s\"", fc->path, name);
        if (!same_kind(def, v))
            return mf_error_at(fc->pc->err, ov_file, f, MF_ERR_INVALID,
                               "is %s, but the parameter's default is %s", kind_of(v),
                               kind_of(def));
        if (json_is_array(v) && json_array_size(v) > 0 && json_array_size(def) > 0 &&
            !same_kind(json_array_get(v, 0), json_array_get(def, 0)))
            return mf_error_at(fc->pc->err, ov_file, f, MF_ERR_INVALID,
                               "is a list of %s items, but the default lists %s items",
                               kind_of(json_array_get(v, 0)), kind_of(json_array_get(def, 0)));
        if (json_object_set(fc->params, name, v) != 0)
            return OOM(fc);
    }
    return MF_OK;
}

/* ------------------------------------------------------------------ conditions */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

/* The closest catalogue path a rule of this scope may use, or NULL. */
static const char *suggest_path(const char *path, mf_scope scope)
{
    size_t n, best = 4;
    const char *hit = NULL;
    const mf_fact_def *cat = mf_facts_catalogue(&n);
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(cat[i].path, '.');
        size_t rl = dot ? (size_t)(dot - cat[i].path) : strlen(cat[i].path);
        mf_fact_root r;
        if (!mf_fact_root_parse(cat[i].path, rl, &r) || !mf_facts_scope_has_root(scope, r))
            continue;
        size_t d = edit_distance(path, cat[i].path);
        if (d < best) {
            best = d;
            hit = cat[i].path;
        }
    }
    return hit;
}

static mf_code roots_of_scope(mf_scope scope, char *out, size_t outsz)
{
    size_t used = 0;
    out[0] = '\0';
    for (int r = 0; r < MF_ROOT__COUNT; r++) {
        if (!mf_facts_scope_has_root(scope, (mf_fact_root)r))
            continue;
        int w = snprintf(out + used, outsz - used, "%s%s.*", used ? ", " : "",
                         mf_fact_root_name((mf_fact_root)r));
        if (w < 0 || (size_t)w >= outsz - used)
            break;
        used += (size_t)w;
    }
    return MF_OK;
}

static mf_code parse_path(fctx *fc, const char *field, const char *path, mf_cond *c)
{
    size_t len = strlen(path);
    if (len == 0 || len > 128)
        return FAIL(fc, field, MF_ERR_INVALID, "a fact path is 1-128 characters");
    const char *dot = strchr(path, '.');
    size_t rl = dot ? (size_t)(dot - path) : len;
    mf_fact_root root;
    char roots[200];
    roots_of_scope(fc->scope, roots, sizeof(roots));
    if (!mf_fact_root_parse(path, rl, &root))
        return FAIL(fc, field, MF_ERR_INVALID,
                    "unknown fact \"%s\": a %s rule's facts start with %s", path,
                    mf_scope_name(fc->scope), roots);
    if (!mf_facts_scope_has_root(fc->scope, root))
        return FAIL(fc, field, MF_ERR_INVALID, "a %s rule has no %s facts (it has %s)",
                    mf_scope_name(fc->scope), mf_fact_root_name(root), roots);
    int idx = mf_facts_lookup(path);
    if (idx < 0) {
        const char *hint = suggest_path(path, fc->scope);
        return FAIL(fc, field, MF_ERR_INVALID,
                    "unknown fact \"%s\"%s%s%s (docs/policy-language.md lists the facts)", path,
                    hint ? ", did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
    }
    c->fact = idx;
    c->root = root;
    c->path = mf_strdup(path);
    if (!c->path)
        return OOM(fc);
    /* Split the rest at dots. The catalogue only has well-formed paths, so no empty
     * segment can get here. */
    const char *p = dot ? dot + 1 : NULL;
    size_t nseg = 0;
    for (const char *q = p; q; q = strchr(q, '.'), q = q ? q + 1 : NULL)
        nseg++;
    if (nseg) {
        c->segs = calloc(nseg, sizeof(char *));
        if (!c->segs)
            return OOM(fc);
        for (size_t i = 0; i < nseg; i++) {
            const char *e = strchr(p, '.');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            c->segs[i] = mf_strndup(p, n);
            if (!c->segs[i])
                return OOM(fc);
            c->nsegs = i + 1;
            p = e ? e + 1 : p + n;
        }
    }
    return MF_OK;
}

static const char *type_word(mf_fact_type t)
{
    return mf_fact_type_name(t);
}

/* Does a scalar JSON value fit a fact of type t (for eq/ne/in/not_in)? */
static bool scalar_fits(mf_fact_type t, const json_t *v)
{
    if (json_is_null(v))
        return true;
    switch (t) {
    case MF_FT_STRING:
        return json_is_string(v);
    case MF_FT_INTEGER:
    case MF_FT_NUMBER:
        return json_is_number(v);
    case MF_FT_BOOLEAN:
        return json_is_boolean(v);
    default:
        return false;
    }
}

static mf_code check_patterns(fctx *fc, const char *field, mf_cond *c)
{
    const json_t *v = c->value;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !json_is_array(v))
        return FAIL(fc, field, MF_ERR_INVALID,
                    "%s needs a pattern string or a list of them, not %s", mf_op_name(c->op),
                    kind_of(v));
    if (n > MF_POLICY_MAX_PATTERNS)
        return FAIL(fc, field, MF_ERR_TOOBIG, "has %zu patterns, the limit is %d", n,
                    MF_POLICY_MAX_PATTERNS);
    if (c->op == MF_OP_REGEX) {
        if (fc->pc->patterns + n > MAX_TOTAL_PATTERNS)
            return FAIL(fc, field, MF_ERR_TOOBIG, "the policy has more than %d regular expressions",
                        MAX_TOTAL_PATTERNS);
        c->re = calloc(n ? n : 1, sizeof(regex_t));
        if (!c->re)
            return OOM(fc);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        char f[MF_ERROR_FIELD_MAX];
        if (json_is_array(v))
            sub(f, sizeof(f), field, "[%zu]", i);
        else
            mf_strlcpy(f, field, sizeof(f));
        if (!json_is_string(e))
            return FAIL(fc, f, MF_ERR_INVALID, "a pattern must be a string, not %s", kind_of(e));
        char why[200];
        const char *pat = json_string_value(e);
        if (strlen(pat) != json_string_length(e))
            return FAIL(fc, f, MF_ERR_INVALID, "a pattern must not contain NUL");
        if (c->op == MF_OP_GLOB) {
            if (!mf_glob_valid(pat, why, sizeof(why)))
                return FAIL(fc, f, MF_ERR_INVALID, "bad glob \"%.80s\": %s", pat, why);
        } else {
            if (!mf_regex_compile(&c->re[i], pat, why, sizeof(why)))
                return FAIL(fc, f, MF_ERR_INVALID, "bad regular expression \"%.80s\": %s", pat,
                            why);
            c->nre = i + 1;
            fc->pc->patterns++;
        }
    }
    return MF_OK;
}

/* Type-check the (resolved) value of leaf c against its fact and operator. */
static mf_code check_value(fctx *fc, const char *field, mf_cond *c)
{
    size_t ncat;
    const mf_fact_def *def = &mf_facts_catalogue(&ncat)[c->fact];
    mf_fact_type t = def->type;
    const json_t *v = c->value;
    char via[MF_POLICY_ID_MAX + 32] = "";
    if (c->param)
        snprintf(via, sizeof(via), " (from %s)", c->param);
    switch (c->op) {
    case MF_OP_EXISTS:
    case MF_OP_MISSING:
        return MF_OK;
    case MF_OP_EQ:
    case MF_OP_NE:
        if (t == MF_FT_STRINGS) {
            bool ok = json_is_array(v);
            size_t i;
            json_t *e;
            json_array_foreach((json_t *)v, i, e) ok &= json_is_string(e);
            if (ok || json_is_null(v))
                return MF_OK;
            return FAIL(fc, field, MF_ERR_INVALID,
                        "%s is a list of strings: compare it with a list of strings (or use "
                        "contains), not %s%s",
                        def->path, kind_of(v), via);
        }
        if (t == MF_FT_OBJECT) {
            if (json_is_null(v))
                return MF_OK;
            return FAIL(fc, field, MF_ERR_INVALID,
                        "%s is an object: only exists, missing, or eq/ne null apply", def->path);
        }
        if (!scalar_fits(t, v))
            return FAIL(fc, field, MF_ERR_INVALID, "%s is %s, but the value is %s%s", def->path,
                        type_word(t), kind_of(v), via);
        return MF_OK;
    case MF_OP_IN:
    case MF_OP_NOT_IN: {
        if (t == MF_FT_STRINGS || t == MF_FT_OBJECT)
            return FAIL(fc, field, MF_ERR_INVALID,
                        "%s is %s: in/not_in need a single value (use contains for lists)",
                        def->path, type_word(t));
        if (!json_is_array(v))
            return FAIL(fc, field, MF_ERR_INVALID, "%s needs a list, not %s%s", mf_op_name(c->op),
                        kind_of(v), via);
        size_t i;
        json_t *e;
        json_array_foreach((json_t *)v, i, e)
        {
            if (!scalar_fits(t, e)) {
                char f[MF_ERROR_FIELD_MAX];
                sub(f, sizeof(f), field, "[%zu]", i);
                return FAIL(fc, f, MF_ERR_INVALID, "%s is %s, but this item is %s%s", def->path,
                            type_word(t), kind_of(e), via);
            }
        }
        return MF_OK;
    }
    case MF_OP_LT:
    case MF_OP_LE:
    case MF_OP_GT:
    case MF_OP_GE:
        if (t != MF_FT_INTEGER && t != MF_FT_NUMBER)
            return FAIL(fc, field, MF_ERR_INVALID, "%s only compares numbers, and %s is %s",
                        mf_op_name(c->op), def->path, type_word(t));
        if (!json_is_number(v))
            return FAIL(fc, field, MF_ERR_INVALID, "%s needs a number, not %s%s", mf_op_name(c->op),
                        kind_of(v), via);
        return MF_OK;
    case MF_OP_GLOB:
    case MF_OP_REGEX:
        if (t != MF_FT_STRING && t != MF_FT_STRINGS)
            return FAIL(fc, field, MF_ERR_INVALID, "%s matches strings, and %s is %s",
                        mf_op_name(c->op), def->path, type_word(t));
        return check_patterns(fc, field, c);
    case MF_OP_CONTAINS:
        if (t != MF_FT_STRING && t != MF_FT_STRINGS)
            return FAIL(fc, field, MF_ERR_INVALID,
                        "contains needs a list of strings or a string, and %s is %s", def->path,
                        type_word(t));
        if (!json_is_string(v))
            return FAIL(fc, field, MF_ERR_INVALID, "contains needs a string, not %s%s", kind_of(v),
                        via);
        return MF_OK;
    default:
        return FAIL(fc, field, MF_ERR_INTERNAL, "unhandled operator");
    }
}

/* Keep the leaf's words for messages (formatted once, not per result). */
static mf_code describe(fctx *fc, mf_cond *c)
{
    char text[512];
    mf_cond_describe(c, text, sizeof(text));
    c->text = mf_strdup(text);
    return c->text ? MF_OK : OOM(fc);
}

static mf_code parse_cond(fctx *fc, json_t *j, const char *field, int depth, mf_cond *c);

static mf_code parse_list(fctx *fc, json_t *arr, const char *field, int depth, mf_cond *c)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return FAIL(fc, field, MF_ERR_INVALID, "must be a non-empty array of conditions");
    size_t n = json_array_size(arr);
    if (n > MF_POLICY_MAX_NODES)
        return FAIL(fc, field, MF_ERR_TOOBIG, "has %zu conditions, the limit is %d", n,
                    MF_POLICY_MAX_NODES);
    c->kids = calloc(n, sizeof(mf_cond));
    if (!c->kids)
        return OOM(fc);
    for (size_t i = 0; i < n; i++) {
        char f[MF_ERROR_FIELD_MAX];
        sub(f, sizeof(f), field, "[%zu]", i);
        c->nkids = i + 1;
        mf_code rc = parse_cond(fc, json_array_get(arr, i), f, depth + 1, &c->kids[i]);
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

static mf_code parse_cond(fctx *fc, json_t *j, const char *field, int depth, mf_cond *c)
{
    if (depth > MF_POLICY_MAX_DEPTH)
        return FAIL(fc, field, MF_ERR_TOOBIG, "conditions are nested more than %d deep",
                    MF_POLICY_MAX_DEPTH);
    if (++fc->nodes > MF_POLICY_MAX_NODES)
        return FAIL(fc, field, MF_ERR_TOOBIG, "the rule has more than %d condition nodes",
                    MF_POLICY_MAX_NODES);
    if (!json_is_object(j))
        return FAIL(fc, field, MF_ERR_INVALID,
                    "a condition is an object: {\"all\": [...]}, {\"any\": [...]}, "
                    "{\"not\": {...}} or {\"path\": ..., \"op\": ..., \"value\": ...}");
    json_t *all = json_object_get(j, "all"), *any = json_object_get(j, "any"),
           *not = json_object_get(j, "not"), *path = json_object_get(j, "path");
    int kinds = !!all + !!any + !!not +!!path;
    if (kinds != 1)
        return FAIL(fc, field, MF_ERR_INVALID,
                    kinds ? "a condition has exactly one of all, any, not, or path"
                          : "a condition needs all, any, not, or path");
    char f[MF_ERROR_FIELD_MAX];
    if (all || any) {
        static const char *const a_allowed[] = {"all", NULL};
        static const char *const o_allowed[] = {"any", NULL};
        mf_code rc = check_members(fc, j, field, all ? a_allowed : o_allowed);
        if (rc != MF_OK)
            return rc;
        c->kind = all ? MF_COND_ALL : MF_COND_ANY;
        sub(f, sizeof(f), field, all ? "all" : "any");
        return parse_list(fc, all ? all : any, f, depth, c);
    }
    if (not ) {
        static const char *const allowed[] = {"not", NULL};
        mf_code rc = check_members(fc, j, field, allowed);
        if (rc != MF_OK)
            return rc;
        c->kind = MF_COND_NOT;
        c->kids = calloc(1, sizeof(mf_cond));
        if (!c->kids)
            return OOM(fc);
        c->nkids = 1;
        sub(f, sizeof(f), field, "not");
        return parse_cond(fc, not, f, depth + 1, &c->kids[0]);
    }
    static const char *const allowed[] = {"path", "op", "value", NULL};
    mf_code rc = check_members(fc, j, field, allowed);
    if (rc != MF_OK)
        return rc;
    c->kind = MF_COND_LEAF;
    sub(f, sizeof(f), field, "path");
    if (!json_is_string(path))
        return FAIL(fc, f, MF_ERR_INVALID, "must be a string such as \"server.port\"");
    if ((rc = parse_path(fc, f, json_string_value(path), c)) != MF_OK)
        return rc;
    json_t *op = json_object_get(j, "op");
    sub(f, sizeof(f), field, "op");
    if (!op)
        return FAIL(fc, f, MF_ERR_INVALID, "is required");
    if (!json_is_string(op) || !mf_op_parse(json_string_value(op), &c->op))
        return FAIL(fc, f, MF_ERR_INVALID,
                    "unknown operator%s%s%s (expected eq, ne, in, not_in, lt, le, gt, ge, "
                    "glob, regex, exists, missing or contains)",
                    json_is_string(op) ? " \"" : "",
                    json_is_string(op) ? json_string_value(op) : "",
                    json_is_string(op) ? "\"" : "");
    json_t *value = json_object_get(j, "value");
    sub(f, sizeof(f), field, "value");
    if (c->op == MF_OP_EXISTS || c->op == MF_OP_MISSING) {
        if (value)
            return FAIL(fc, f, MF_ERR_INVALID, "%s takes no value", mf_op_name(c->op));
        return describe(fc, c);
    }
    if (!value)
        return FAIL(fc, f, MF_ERR_INVALID, "is required for %s", mf_op_name(c->op));
    const char *pname = NULL;
    if ((rc = resolve_value(fc, f, value, &c->value, &pname)) != MF_OK)
        return rc;
    if (pname && !(c->param = mf_asprintf("$%s", pname)))
        return OOM(fc);
    if ((rc = check_value(fc, f, c)) != MF_OK)
        return rc;
    return describe(fc, c);
}

/* Parse a condition member of a rule into a new mf_cond. */
static mf_code parse_cond_member(fctx *fc, json_t *j, const char *field, mf_cond **out)
{
    *out = calloc(1, sizeof(mf_cond));
    if (!*out)
        return OOM(fc);
    return parse_cond(fc, j, field, 1, *out);
}

/* Mark the facts c reads in the policy's mask. */
static void mask_cond(mf_policy *p, const mf_cond *c)
{
    if (!c)
        return;
    if (c->kind == MF_COND_LEAF)
        mf_fact_mask_set(&p->mask, c->fact);
    for (size_t i = 0; i < c->nkids; i++)
        mask_cond(p, &c->kids[i]);
}

/* ------------------------------------------------------------------ rules */

static bool excluded(pctx *pc, const char *id)
{
    bool hit = false;
    for (size_t k = 0; k < pc->nexcl; k++) {
        size_t i;
        json_t *e;
        json_array_foreach(pc->excl[k].ids, i, e) if (strcmp(json_string_value(e), id) == 0)
        {
            pc->excl[k].used[i] = true;
            hit = true;
        }
    }
    return hit;
}

static mf_code parse_rule(fctx *fc, json_t *j, const char *field)
{
    pctx *pc = fc->pc;
    mf_rule r;
    memset(&r, 0, sizeof(r));
    mf_code rc = MF_OK;
    char f[MF_ERROR_FIELD_MAX];
    if (!json_is_object(j)) {
        rc = FAIL(fc, field, MF_ERR_INVALID, "a rule must be an object");
        goto out;
    }
    static const char *const allowed[] = {"id",          "title",      "severity",    "scope",
                                          "when",        "expect",     "description", "rationale",
                                          "remediation", "references", "tags",        NULL};
    if ((rc = check_members(fc, j, field, allowed)) != MF_OK)
        goto out;
    if ((rc = get_text(fc, j, field, "id", true, MF_POLICY_ID_MAX, false, &r.id)) != MF_OK)
        goto out;
    sub(f, sizeof(f), field, "id");
    if (!id_ok(r.id)) {
        rc = FAIL(fc, f, MF_ERR_INVALID,
                  "a rule id is 1-%d letters, digits, '-', '_' and '.', starting with a "
                  "letter or digit",
                  MF_POLICY_ID_MAX);
        goto out;
    }
    if ((rc = get_text(fc, j, field, "title", true, TITLE_MAX, false, &r.title)) != MF_OK)
        goto out;
    json_t *v = json_object_get(j, "severity");
    sub(f, sizeof(f), field, "severity");
    if (!v) {
        rc = FAIL(fc, f, MF_ERR_INVALID, "is required");
        goto out;
    }
    if (!json_is_string(v) || !mf_severity_parse(json_string_value(v), &r.severity)) {
        rc = FAIL(fc, f, MF_ERR_INVALID, "must be one of info, low, medium, high, critical");
        goto out;
    }
    v = json_object_get(j, "scope");
    sub(f, sizeof(f), field, "scope");
    if (!v) {
        rc = FAIL(fc, f, MF_ERR_INVALID, "is required");
        goto out;
    }
    if (!json_is_string(v) || !mf_scope_parse(json_string_value(v), &r.scope)) {
        rc = FAIL(fc, f, MF_ERR_INVALID,
                  "must be one of server, account, probe, host, fleet-server");
        goto out;
    }
    fc->scope = r.scope;
    fc->nodes = 0;
    v = json_object_get(j, "when");
    if (v) {
        sub(f, sizeof(f), field, "when");
        if ((rc = parse_cond_member(fc, v, f, &r.when)) != MF_OK)
            goto out;
    }
    v = json_object_get(j, "expect");
    sub(f, sizeof(f), field, "expect");
    if (!v) {
        rc = FAIL(fc, f, MF_ERR_INVALID, "is required");
        goto out;
    }
    if ((rc = parse_cond_member(fc, v, f, &r.expect)) != MF_OK)
        goto out;
    if ((rc = get_text(fc, j, field, "description", true, MF_POLICY_TEXT_MAX, true,
                       &r.description)) != MF_OK ||
        (rc = get_text(fc, j, field, "rationale", true, MF_POLICY_TEXT_MAX, true, &r.rationale)) !=
            MF_OK)
        goto out;
    v = json_object_get(j, "remediation");
    sub(f, sizeof(f), field, "remediation");
    if (!v) {
        rc = FAIL(fc, f, MF_ERR_INVALID, "is required: {\"user\": \"...\", \"admin\": \"...\"}");
        goto out;
    }
    if (!json_is_object(v)) {
        rc = FAIL(fc, f, MF_ERR_INVALID,
                  "must be an object: {\"user\": \"...\", \"admin\": \"...\"}");
        goto out;
    }
    static const char *const rem_allowed[] = {"user", "admin", NULL};
    if ((rc = check_members(fc, v, f, rem_allowed)) != MF_OK ||
        (rc = get_text(fc, v, f, "user", true, MF_POLICY_TEXT_MAX, true, &r.remediation_user)) !=
            MF_OK ||
        (rc = get_text(fc, v, f, "admin", true, MF_POLICY_TEXT_MAX, true, &r.remediation_admin)) !=
            MF_OK)
        goto out;
    if ((rc = get_string_list(fc, j, field, "references", MAX_REFS, 1024, &r.references)) !=
            MF_OK ||
        (rc = get_string_list(fc, j, field, "tags", MAX_REFS, MF_POLICY_ID_MAX, &r.tags)) != MF_OK)
        goto out;

    /* Duplicate ids across every file. */
    const mf_rule *dup = mf_policy_find_rule(pc->p, r.id);
    if (dup) {
        sub(f, sizeof(f), field, "id");
        rc = FAIL(fc, f, MF_ERR_INVALID, "duplicate rule id \"%s\" (also in %s)", r.id,
                  pc->p->files[dup->file].path);
        goto out;
    }
    if (excluded(pc, r.id))
        goto out; /* validated, then left out as the including file asked */
    if (pc->p->nrules >= MF_POLICY_MAX_RULES) {
        rc = FAIL(fc, field, MF_ERR_TOOBIG, "more than %d rules", MF_POLICY_MAX_RULES);
        goto out;
    }
    if (mf_grow((void **)&pc->p->rules, &pc->rules_cap, pc->p->nrules + 1, sizeof(mf_rule)) !=
        MF_OK) {
        rc = OOM(fc);
        goto out;
    }
    r.file = fc->file_index;
    r.index = pc->p->nrules;
    mask_cond(pc->p, r.when);
    mask_cond(pc->p, r.expect);
    pc->p->scopes[r.scope] = true;
    if (r.scope == MF_SCOPE_FLEET_SERVER)
        pc->p->has_fleet_rules = true;
    pc->p->rules[pc->p->nrules++] = r;
    return MF_OK;
out:
    rule_clear(&r);
    return rc;
}

/* ------------------------------------------------------------------ files */

static mf_code load_file(pctx *pc, const char *path, json_t *overrides, const char *from_file,
                         const char *from_field, const char *ov_field);

/* The path of an include, relative to the folder of the including file. */
static char *include_path(const char *from, const char *rel)
{
    if (rel[0] == '/')
        return mf_strdup(rel);
    const char *slash = strrchr(from, '/');
    if (!slash)
        return mf_strdup(rel);
    char *dir = mf_strndup(from, (size_t)(slash - from) + (slash == from));
    char *p = dir ? mf_path_join(dir, rel) : NULL;
    free(dir);
    return p;
}

static mf_code parse_includes(fctx *fc, json_t *inc)
{
    pctx *pc = fc->pc;
    if (!json_is_array(inc))
        return FAIL(fc, "include", MF_ERR_INVALID,
                    "must be an array of file names or {\"path\": ..., \"parameters\": "
                    "{...}, \"exclude\": [...]} objects");
    if (json_array_size(inc) > MAX_INCLUDES)
        return FAIL(fc, "include", MF_ERR_TOOBIG, "has %zu entries, the limit is %d",
                    json_array_size(inc), MAX_INCLUDES);
    size_t i;
    json_t *e;
    json_array_foreach(inc, i, e)
    {
        char f[MF_ERROR_FIELD_MAX];
        snprintf(f, sizeof(f), "include[%zu]", i);
        json_t *pathv = e, *params = NULL, *excl = NULL;
        if (json_is_object(e)) {
            static const char *const allowed[] = {"path", "parameters", "exclude", NULL};
            mf_code rc = check_members(fc, e, f, allowed);
            if (rc != MF_OK)
                return rc;
            pathv = json_object_get(e, "path");
            params = json_object_get(e, "parameters");
            excl = json_object_get(e, "exclude");
            char fp[MF_ERROR_FIELD_MAX];
            sub(fp, sizeof(fp), f, "path");
            if (!pathv)
                return FAIL(fc, fp, MF_ERR_INVALID, "is required");
            if (!json_is_string(pathv))
                return FAIL(fc, fp, MF_ERR_INVALID, "must be a file name");
            mf_strlcpy(f, fp, sizeof(f));
        } else if (!json_is_string(e)) {
            return FAIL(fc, f, MF_ERR_INVALID, "must be a file name or an object with \"path\"");
        }
        const char *rel = json_string_value(pathv);
        if (rel[0] == '\0' || strlen(rel) > 1024 || has_control(rel, false))
            return FAIL(fc, f, MF_ERR_INVALID, "is not a usable file name");
        char base[MF_ERROR_FIELD_MAX];
        snprintf(base, sizeof(base), "include[%zu]", i);
        /* Overrides, resolved against this file's parameters. */
        json_t *ov = NULL;
        if (params) {
            char fp[MF_ERROR_FIELD_MAX];
            sub(fp, sizeof(fp), base, "parameters");
            if (!json_is_object(params))
                return FAIL(fc, fp, MF_ERR_INVALID, "must be an object of parameter values");
            if (json_object_size(params) > MF_POLICY_MAX_PARAMS)
                return FAIL(fc, fp, MF_ERR_TOOBIG, "has more than %d parameters",
                            MF_POLICY_MAX_PARAMS);
            ov = json_object();
            if (!ov)
                return OOM(fc);
            const char *name;
            json_t *v;
            json_object_foreach(params, name, v)
            {
                char fv[MF_ERROR_FIELD_MAX];
                sub(fv, sizeof(fv), fp, "%s", name[0] ? name : "\"\"");
                if (strcmp(name, "$comment") == 0) {
                    if (!json_is_string(v)) {
                        json_decref(ov);
                        return FAIL(fc, fv, MF_ERR_INVALID, "must be a string");
                    }
                    continue;
                }
                json_t *r = NULL;
                const char *pn = NULL;
                mf_code rc = resolve_value(fc, fv, v, &r, &pn);
                if (rc == MF_OK)
                    rc = check_param_value(fc, fv, r);
                if (rc == MF_OK && json_object_set_new(ov, name, r) != 0)
                    rc = OOM(fc);
                else if (rc != MF_OK)
                    json_decref(r);
                if (rc != MF_OK) {
                    json_decref(ov);
                    return rc;
                }
            }
        }
        /* Rules to leave out of the included file (and of what it includes). */
        exclusion *x = NULL;
        if (excl) {
            char fx[MF_ERROR_FIELD_MAX];
            sub(fx, sizeof(fx), base, "exclude");
            bool ok = json_is_array(excl) && json_array_size(excl) <= MAX_EXCLUDES;
            size_t k;
            json_t *id;
            json_array_foreach(excl, k, id) ok &= json_is_string(id);
            if (!ok) {
                json_decref(ov);
                return FAIL(fc, fx, MF_ERR_INVALID, "must be an array of at most %d rule ids",
                            MAX_EXCLUDES);
            }
            x = &pc->excl[pc->nexcl];
            x->ids = excl;
            x->used = calloc(json_array_size(excl) + 1, sizeof(bool));
            x->file = fc->path;
            mf_strlcpy(x->field, fx, sizeof(x->field));
            if (!x->used) {
                json_decref(ov);
                return OOM(fc);
            }
            pc->nexcl++;
        }
        char *p = include_path(fc->path, rel);
        char fov[MF_ERROR_FIELD_MAX];
        sub(fov, sizeof(fov), base, "parameters");
        mf_code rc = p ? load_file(pc, p, ov, fc->path, f, fov) : OOM(fc);
        free(p);
        json_decref(ov);
        if (x) {
            size_t k;
            json_t *id;
            json_array_foreach(excl, k, id) if (rc == MF_OK && !x->used[k])
            {
                char fk[MF_ERROR_FIELD_MAX];
                sub(fk, sizeof(fk), x->field, "[%zu]", k);
                rc = FAIL(fc, fk, MF_ERR_INVALID, "the included policy has no rule \"%s\"",
                          json_string_value(id));
            }
            free(x->used);
            pc->nexcl--;
        }
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

static mf_code parse_doc(pctx *pc, const char *path, const char *data, size_t len,
                         json_t *overrides, const char *from_file, const char *from_field,
                         const char *ov_field)
{
    mf_code rc = MF_OK;
    fctx fc = {.pc = pc, .path = path};
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        rc = mf_error_at(pc->err, path, "", MF_ERR_PARSE, "invalid JSON: %s", je.text);
        mf_error_set_pos(pc->err, je.line > 0 ? je.line : 0, je.column > 0 ? je.column : 0);
        return rc;
    }
    if (!json_is_object(root)) {
        rc = mf_error_at(pc->err, path, "", MF_ERR_INVALID, "a policy is a JSON object");
        goto out;
    }
    static const char *const allowed[] = {
        "schema", "id", "title", "version", "description", "parameters", "include", "rules", NULL};
    if ((rc = check_members(&fc, root, "", allowed)) != MF_OK)
        goto out;
    json_t *schema = json_object_get(root, "schema");
    if (!schema) {
        rc = mf_error_at(pc->err, path, "schema", MF_ERR_INVALID, "is required: \"%s\"",
                         MF_POLICY_SCHEMA);
        goto out;
    }
    if (!json_is_string(schema) || strcmp(json_string_value(schema), MF_POLICY_SCHEMA) != 0) {
        rc = mf_error_at(pc->err, path, "schema", MF_ERR_UNSUPPORTED,
                         "must be \"%s\" (this mailfleet reads "
                         "version 1 policies)",
                         MF_POLICY_SCHEMA);
        goto out;
    }
    if (pc->p->nfiles >= MF_POLICY_MAX_FILES) {
        rc = mf_error_at(pc->err, from_file ? from_file : path, from_field ? from_field : "",
                         MF_ERR_TOOBIG, "more than %d policy files", MF_POLICY_MAX_FILES);
        goto out;
    }
    if (mf_grow((void **)&pc->p->files, &pc->files_cap, pc->p->nfiles + 1,
                sizeof(mf_policy_file)) != MF_OK) {
        rc = mf_error_at(pc->err, path, "", MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    fc.file_index = pc->p->nfiles++;
    mf_policy_file *pf = &pc->p->files[fc.file_index];
    memset(pf, 0, sizeof(*pf));
    if (!(pf->path = mf_strdup(path))) {
        rc = mf_error_at(pc->err, path, "", MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    fc.path = pf->path;
    if ((rc = get_text(&fc, root, "", "id", true, MF_POLICY_ID_MAX, false, &pf->id)) != MF_OK)
        goto out;
    if (!id_ok(pf->id)) {
        rc = mf_error_at(pc->err, path, "id", MF_ERR_INVALID,
                         "a policy id is 1-%d letters, digits, '-', '_' and '.'", MF_POLICY_ID_MAX);
        goto out;
    }
    char *desc = NULL;
    if ((rc = get_text(&fc, root, "", "title", true, TITLE_MAX, false, &pf->title)) != MF_OK ||
        (rc = get_text(&fc, root, "", "version", true, VERSION_MAX, false, &pf->version)) !=
            MF_OK ||
        (rc = get_text(&fc, root, "", "description", false, MF_POLICY_TEXT_MAX, true, &desc)) !=
            MF_OK)
        goto out;
    free(desc);
    if ((rc = parse_parameters(&fc, root, overrides, from_file, ov_field)) != MF_OK)
        goto out;
    pf->parameters = json_incref(fc.params);
    json_t *inc = json_object_get(root, "include");
    if (inc && (rc = parse_includes(&fc, inc)) != MF_OK)
        goto out;
    json_t *rules = json_object_get(root, "rules");
    if (!rules) {
        rc = mf_error_at(pc->err, path, "rules", MF_ERR_INVALID,
                         "is required (it may be [] when the "
                         "policy only includes others)");
        goto out;
    }
    if (!json_is_array(rules)) {
        rc = mf_error_at(pc->err, path, "rules", MF_ERR_INVALID, "must be an array of rules");
        goto out;
    }
    if (json_array_size(rules) > MF_POLICY_MAX_RULES) {
        rc = mf_error_at(pc->err, path, "rules", MF_ERR_TOOBIG, "has %zu rules, the limit is %d",
                         json_array_size(rules), MF_POLICY_MAX_RULES);
        goto out;
    }
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r)
    {
        char f[MF_ERROR_FIELD_MAX];
        snprintf(f, sizeof(f), "rules[%zu]", i);
        if ((rc = parse_rule(&fc, r, f)) != MF_OK)
            goto out;
    }
out:
    json_decref(fc.params);
    json_decref(root);
    return rc;
}

static mf_code load_file(pctx *pc, const char *path, json_t *overrides, const char *from_file,
                         const char *from_field, const char *ov_field)
{
    if (pc->depth > MF_POLICY_MAX_INCLUDE_DEPTH)
        return mf_error_at(pc->err, from_file, from_field, MF_ERR_TOOBIG,
                           "includes are nested more than %d deep", MF_POLICY_MAX_INCLUDE_DEPTH);
    if (pc->p->nfiles >= MF_POLICY_MAX_FILES)
        return mf_error_at(pc->err, from_file ? from_file : path, from_field ? from_field : "",
                           MF_ERR_TOOBIG, "more than %d policy files", MF_POLICY_MAX_FILES);
    if (!pc->loader)
        return mf_error_at(pc->err, from_file, from_field, MF_ERR_UNSUPPORTED,
                           "cannot include \"%s\": this policy was not loaded from a file", path);
    char *data = NULL, *canon = NULL;
    size_t len = 0;
    mf_error lerr;
    mf_error_clear(&lerr);
    mf_code rc = pc->loader->read(pc->loader->ctx, path, &data, &len, &canon, &lerr);
    if (rc != MF_OK) {
        if (from_file)
            return mf_error_at(pc->err, from_file, from_field, rc,
                               "cannot read included policy \"%s\": %s", path, lerr.text);
        return mf_error_at(pc->err, path, "", rc, "%s", lerr.text[0] ? lerr.text : mf_strerror(rc));
    }
    for (size_t i = 0; i < pc->depth; i++) {
        if (strcmp(pc->stack[i], canon) == 0) {
            char chain[400] = "";
            size_t used = 0;
            for (size_t k = i; k < pc->depth; k++) {
                int w = snprintf(chain + used, sizeof(chain) - used, "%s -> ", pc->stack[k]);
                if (w < 0 || (size_t)w >= sizeof(chain) - used)
                    break;
                used += (size_t)w;
            }
            rc = mf_error_at(pc->err, from_file, from_field, MF_ERR_INVALID, "include cycle: %s%s",
                             chain, canon);
            free(data);
            free(canon);
            return rc;
        }
    }
    pc->stack[pc->depth++] = canon;
    rc = parse_doc(pc, path, data, len, overrides, from_file, from_field, ov_field);
    pc->depth--;
    free(canon);
    free(data);
    return rc;
}

/* ------------------------------------------------------------------ entry points */

static mf_code file_read(void *ctx, const char *path, char **data, size_t *len, char **canon,
                         mf_error *err)
{
    (void)ctx;
    *data = NULL;
    *canon = NULL;
    mf_code rc = mf_file_read(path, MF_POLICY_MAX_BYTES, data, len, err);
    if (rc != MF_OK)
        return rc;
    char *real = realpath(path, NULL);
    *canon = real ? real : mf_strdup(path);
    if (!*canon) {
        free(*data);
        *data = NULL;
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    return MF_OK;
}

static const mf_policy_loader file_loader = {.read = file_read, .ctx = NULL};

static mf_code finish(pctx *pc, mf_policy **out, mf_code rc)
{
    if (rc == MF_OK && pc->p->nfiles > 0) {
        mf_policy_file *top = &pc->p->files[0];
        pc->p->id = mf_strdup(top->id);
        pc->p->title = mf_strdup(top->title);
        pc->p->version = mf_strdup(top->version);
        pc->p->path = mf_strdup(top->path);
        if (!pc->p->id || !pc->p->title || !pc->p->version || !pc->p->path)
            rc = mf_error_at(pc->err, top->path, "", MF_ERR_NOMEM, "out of memory");
    }
    if (rc != MF_OK) {
        mf_policy_free(pc->p);
        return rc;
    }
    *out = pc->p;
    return MF_OK;
}

mf_code mf_policy_load_with(mf_policy **out, const char *path, const mf_policy_loader *loader,
                            mf_error *err)
{
    *out = NULL;
    mf_error_clear(err);
    pctx pc = {.loader = loader ? loader : &file_loader, .err = err};
    pc.p = calloc(1, sizeof(mf_policy));
    if (!pc.p)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    mf_code rc = load_file(&pc, path, NULL, NULL, NULL, NULL);
    return finish(&pc, out, rc);
}

mf_code mf_policy_load(mf_policy **out, const char *path, mf_error *err)
{
    return mf_policy_load_with(out, path, NULL, err);
}

mf_code mf_policy_parse(mf_policy **out, const char *data, size_t len, const char *name,
                        const mf_policy_loader *loader, mf_error *err)
{
    *out = NULL;
    mf_error_clear(err);
    pctx pc = {.loader = loader, .err = err};
    pc.p = calloc(1, sizeof(mf_policy));
    if (!pc.p)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    if (len > MF_POLICY_MAX_BYTES) {
        mf_code rc =
            mf_error_at(pc.err, name, "", MF_ERR_TOOBIG, "the policy is %zu bytes, the limit is %d",
                        len, MF_POLICY_MAX_BYTES);
        return finish(&pc, out, rc);
    }
    char *canon = mf_strdup(name ? name : "(policy)");
    if (!canon)
        return finish(&pc, out, mf_error_set(err, MF_ERR_NOMEM, "out of memory"));
    pc.stack[pc.depth++] = canon;
    mf_code rc = parse_doc(&pc, canon, data, len, NULL, NULL, NULL, NULL);
    pc.depth--;
    rc = finish(&pc, out, rc);
    free(canon);
    return rc;
}
