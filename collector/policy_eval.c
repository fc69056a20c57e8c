/* policy_eval.c: evaluating conditions and rules (policy.h), and driving a run over
 * one report or over the fleet (results.h).
 *
 * Conditions use Kleene's three-valued logic: all is false when any part is false,
 * else unknown when any part is unknown; any is true when any part is true, else
 * unknown when any part is unknown; not keeps unknown. A leaf is unknown when its fact
 * is unknown; a fact that is null (known to be absent) makes eq/in/exists... plainly
 * true or false (docs/policy-language.md has the table).
 *
 * Pattern matching is bounded whatever the policy says: globs run in
 * O(pattern x input) (our own matcher, not glibc's backtracking fnmatch), regular
 * expressions are checked before regcomp (no back-references, length and repetition
 * caps: glibc's matcher backtracks only for back-references), and no input longer than
 * MF_POLICY_MATCH_INPUT_MAX is handed to either (the leaf is then unknown).
 */
#include "buf.h"
#include "log.h"
#include "policy.h"
#include "report_json.h"
#include "results.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ glob */

/* Match one bracket expression at p (p[0] == '[') against c. *next receives the
 * pattern after the bracket. Returns -1 when the bracket is not closed. */
static int match_bracket(const char *p, unsigned char c, const char **next)
{
    const char *q = p + 1;
    bool neg = false, hit = false;
    if (*q == '!' || *q == '^') {
        neg = true;
        q++;
    }
    bool first = true;
    while (*q && (first || *q != ']')) {
        first = false;
        if (q[0] == '[' && q[1] == ':') {
            const char *end = strstr(q + 2, ":]");
            if (!end)
                return -1;
            size_t n = (size_t)(end - (q + 2));
            static const struct {
                const char *name;
                int (*fn)(int);
            } classes[] = {{"alpha", isalpha}, {"digit", isdigit},   {"alnum", isalnum},
                           {"lower", islower}, {"upper", isupper},   {"space", isspace},
                           {"punct", ispunct}, {"xdigit", isxdigit}, {"blank", isblank},
                           {"cntrl", iscntrl}, {"graph", isgraph},   {"print", isprint}};
            bool known = false;
            for (size_t k = 0; k < MF_ARRAY_LEN(classes); k++)
                if (strlen(classes[k].name) == n && strncmp(classes[k].name, q + 2, n) == 0) {
                    known = true;
                    if (classes[k].fn(c))
                        hit = true;
                }
            if (!known)
                return -1;
            q = end + 2;
            continue;
        }
        unsigned char lo = (unsigned char)*q;
        if (lo == '\\' && q[1]) {
            q++;
            lo = (unsigned char)*q;
        }
        q++;
        unsigned char hi = lo;
        if (q[0] == '-' && q[1] && q[1] != ']') {
            q++;
            if (*q == '\\' && q[1])
                q++;
            hi = (unsigned char)*q;
            q++;
        }
        if (c >= lo && c <= hi)
            hit = true;
    }
    if (*q != ']')
        return -1;
    *next = q + 1;
    return hit != neg;
}

/* Whether the single pattern element at p matches c; *next is the pattern after it.
 * An unclosed '[' is a literal '[' (as in fnmatch). */
static bool match_elem(const char *p, unsigned char c, const char **next)
{
    if (*p == '?') {
        *next = p + 1;
        return true;
    }
    if (*p == '[') {
        int m = match_bracket(p, c, next);
        if (m >= 0)
            return m == 1;
    }
    if (*p == '\\' && p[1]) {
        *next = p + 2;
        return (unsigned char)p[1] == c;
    }
    *next = p + 1;
    return (unsigned char)*p == c;
}

bool mf_glob_match(const char *pattern, const char *s)
{
    const char *p = pattern, *star_p = NULL, *star_s = NULL;
    while (*s) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (!*p)
                return true;
            star_p = p;
            star_s = s;
            continue;
        }
        const char *next;
        if (*p && match_elem(p, (unsigned char)*s, &next)) {
            p = next;
            s++;
            continue;
        }
        /* Backtrack: let the last star swallow one more character. Only the last star
         * matters, which is why this is O(pattern x input). */
        if (!star_p)
            return false;
        p = star_p;
        s = ++star_s;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool mf_glob_valid(const char *pattern, char *why, size_t whysz)
{
    size_t n = strlen(pattern);
    if (n == 0) {
        snprintf(why, whysz, "empty pattern");
        return false;
    }
    if (n > MF_POLICY_PATTERN_MAX) {
        snprintf(why, whysz, "longer than %d bytes", MF_POLICY_PATTERN_MAX);
        return false;
    }
    for (const char *p = pattern; *p; p++) {
        if (*p == '\\') {
            if (!p[1]) {
                snprintf(why, whysz, "ends with a lone backslash");
                return false;
            }
            p++;
        } else if (*p == '[') {
            const char *next;
            if (match_bracket(p, 'a', &next) < 0) {
                snprintf(why, whysz,
                         "'[' at offset %zu is not closed by ']' (write \\[ for a "
                         "literal bracket)",
                         (size_t)(p - pattern));
                return false;
            }
            p = next - 1;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ regex */

/* Refuse back-references and estimate how much bounded repetitions expand the
 * pattern: glibc compiles a{m,n} by copying the repeated part n times, so nested
 * bounds multiply. */
static bool regex_safe(const char *pat, char *why, size_t whysz)
{
    size_t n = strlen(pat);
    if (n == 0) {
        snprintf(why, whysz, "empty pattern");
        return false;
    }
    if (n > MF_POLICY_PATTERN_MAX) {
        snprintf(why, whysz, "longer than %d bytes", MF_POLICY_PATTERN_MAX);
        return false;
    }
    double product = 1;
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\') {
            if (i + 1 < n && isdigit((unsigned char)pat[i + 1])) {
                snprintf(why, whysz,
                         "back-references (\\%c) are not allowed: they make "
                         "matching exponential",
                         pat[i + 1]);
                return false;
            }
            i++;
            continue;
        }
        if (c == '[') {
            /* Skip a bracket expression: ']' first is literal, [:class:] inside. */
            size_t j = i + 1;
            if (j < n && (pat[j] == '^'))
                j++;
            if (j < n && pat[j] == ']')
                j++;
            while (j < n && pat[j] != ']') {
                if (pat[j] == '[' && j + 1 < n &&
                    (pat[j + 1] == ':' || pat[j + 1] == '.' || pat[j + 1] == '=')) {
                    char close = pat[j + 1];
                    j += 2;
                    while (j + 1 < n && !(pat[j] == close && pat[j + 1] == ']'))
                        j++;
                    j += 2;
                    continue;
                }
                j++;
            }
            i = j; /* regcomp reports an unclosed bracket */
            continue;
        }
        if (c == '{') {
            size_t j = i + 1;
            long long lo = 0, hi = -1;
            while (j < n && isdigit((unsigned char)pat[j]) && lo < 100000)
                lo = lo * 10 + (pat[j++] - '0');
            hi = lo;
            if (j < n && pat[j] == ',') {
                j++;
                if (j < n && isdigit((unsigned char)pat[j])) {
                    hi = 0;
                    while (j < n && isdigit((unsigned char)pat[j]) && hi < 100000)
                        hi = hi * 10 + (pat[j++] - '0');
                } else {
                    hi = lo + 1; /* {m,}: m copies and a star */
                }
            }
            if (hi < 1)
                hi = 1;
            product *= (double)hi;
            if (product * (double)n > MF_POLICY_REGEX_EXPANSION_MAX) {
                snprintf(why, whysz,
                         "bounded repetitions expand the pattern too much (at most "
                         "%d pattern bytes times the product of the {m,n} bounds)",
                         MF_POLICY_REGEX_EXPANSION_MAX);
                return false;
            }
        }
    }
    return true;
}

bool mf_regex_compile(regex_t *re, const char *pattern, char *why, size_t whysz)
{
    if (!regex_safe(pattern, why, whysz))
        return false;
    int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[160];
        regerror(rc, re, msg, sizeof(msg));
        snprintf(why, whysz, "%s", msg);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ conditions */

static bool num_eq(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    return json_number_value(a) == json_number_value(b);
}

static bool val_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return num_eq(a, b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!val_eq(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static bool list_has(const json_t *list, const json_t *v)
{
    for (size_t i = 0; i < json_array_size(list); i++)
        if (val_eq(json_array_get(list, i), v))
            return true;
    return false;
}

typedef enum match_res { M_NO = 0, M_YES = 1, M_TOO_LONG = 2 } match_res;

static match_res match_one(const mf_cond *c, const char *s, size_t len)
{
    if (len > MF_POLICY_MATCH_INPUT_MAX)
        return M_TOO_LONG;
    size_t n = json_is_array(c->value) ? json_array_size(c->value) : 1;
    for (size_t i = 0; i < n; i++) {
        if (c->op == MF_OP_GLOB) {
            const json_t *pat = json_is_array(c->value) ? json_array_get(c->value, i) : c->value;
            if (mf_glob_match(json_string_value(pat), s))
                return M_YES;
        } else if (i < c->nre && regexec(&c->re[i], s, 0, NULL, 0) == 0) {
            return M_YES;
        }
    }
    return M_NO;
}

static const char TOO_LONG_WHY[] = "the value is too long to match a pattern against";

/* A leaf on a value (not unknown). */
static mf_tri leaf_on(const mf_cond *c, const json_t *v, const char **why)
{
    bool isnull = json_is_null(v);
    switch (c->op) {
    case MF_OP_EXISTS:
        return isnull ? MF_TRI_FALSE : MF_TRI_TRUE;
    case MF_OP_MISSING:
        return isnull ? MF_TRI_TRUE : MF_TRI_FALSE;
    case MF_OP_EQ:
        return val_eq(v, c->value) ? MF_TRI_TRUE : MF_TRI_FALSE;
    case MF_OP_NE:
        return val_eq(v, c->value) ? MF_TRI_FALSE : MF_TRI_TRUE;
    case MF_OP_IN:
        return list_has(c->value, v) ? MF_TRI_TRUE : MF_TRI_FALSE;
    case MF_OP_NOT_IN:
        return list_has(c->value, v) ? MF_TRI_FALSE : MF_TRI_TRUE;
    case MF_OP_LT:
    case MF_OP_LE:
    case MF_OP_GT:
    case MF_OP_GE: {
        if (!json_is_number(v))
            return MF_TRI_FALSE;
        double a = json_number_value(v), b = json_number_value(c->value);
        bool r = c->op == MF_OP_LT   ? a < b
                 : c->op == MF_OP_LE ? a <= b
                 : c->op == MF_OP_GT ? a > b
                                     : a >= b;
        return r ? MF_TRI_TRUE : MF_TRI_FALSE;
    }
    case MF_OP_GLOB:
    case MF_OP_REGEX: {
        if (json_is_string(v)) {
            match_res m = match_one(c, json_string_value(v), json_string_length(v));
            if (m == M_TOO_LONG) {
                *why = TOO_LONG_WHY;
                return MF_TRI_UNKNOWN;
            }
            return m == M_YES ? MF_TRI_TRUE : MF_TRI_FALSE;
        }
        if (json_is_array(v)) {
            bool too_long = false;
            for (size_t i = 0; i < json_array_size(v); i++) {
                const json_t *e = json_array_get(v, i);
                if (!json_is_string(e))
                    continue;
                match_res m = match_one(c, json_string_value(e), json_string_length(e));
                if (m == M_YES)
                    return MF_TRI_TRUE;
                too_long |= m == M_TOO_LONG;
            }
            if (too_long) {
                *why = TOO_LONG_WHY;
                return MF_TRI_UNKNOWN;
            }
        }
        return MF_TRI_FALSE;
    }
    case MF_OP_CONTAINS:
        if (json_is_array(v))
            return list_has(v, c->value) ? MF_TRI_TRUE : MF_TRI_FALSE;
        if (json_is_string(v))
            return strstr(json_string_value(v), json_string_value(c->value)) ? MF_TRI_TRUE
                                                                             : MF_TRI_FALSE;
        return MF_TRI_FALSE;
    default:
        return MF_TRI_UNKNOWN;
    }
}

static const char NOT_REPORTED[] = "the report does not say";

/* Resolve the leaf's path: *v is the value (possibly JSON null), or NULL when unknown
 * with *why saying why. */
static void resolve(const mf_cond *c, const mf_facts *f, const json_t **v, const char **why)
{
    const json_t *o = f->root[c->root];
    *why = NULL;
    if (!o) {
        *v = NULL;
        *why = f->why[c->root] ? f->why[c->root] : NOT_REPORTED;
        return;
    }
    for (size_t i = 0; i < c->nsegs; i++) {
        if (json_is_null(o))
            break; /* null all the way down: known to be absent */
        const json_t *child = json_is_object(o) ? json_object_get(o, c->segs[i]) : NULL;
        if (!child) {
            const json_t *w = json_is_object(o) ? json_object_get(o, "_why") : NULL;
            *v = NULL;
            *why = w ? json_string_value(w) : NOT_REPORTED;
            return;
        }
        o = child;
    }
    *v = o;
}

static mf_tri eval(const mf_cond *c, const mf_facts *f, mf_witness *w, bool neg)
{
    switch (c->kind) {
    case MF_COND_LEAF: {
        const json_t *v;
        const char *why;
        resolve(c, f, &v, &why);
        mf_tri r = v ? leaf_on(c, v, &why) : MF_TRI_UNKNOWN;
        if (w) {
            w->leaf = c;
            w->value = v;
            w->why = r == MF_TRI_UNKNOWN ? why : NULL;
            w->negated = neg;
        }
        return r;
    }
    case MF_COND_NOT: {
        mf_tri r = eval(&c->kids[0], f, w, !neg);
        return r == MF_TRI_UNKNOWN ? r : r == MF_TRI_TRUE ? MF_TRI_FALSE : MF_TRI_TRUE;
    }
    case MF_COND_ALL:
    case MF_COND_ANY: {
        /* decisive: false for all, true for any. The witness is the first decisive
         * part, else the first unknown part, else the first part. */
        mf_tri decisive = c->kind == MF_COND_ALL ? MF_TRI_FALSE : MF_TRI_TRUE;
        bool unknown = false;
        mf_witness first = {0}, first_unknown = {0};
        for (size_t i = 0; i < c->nkids; i++) {
            mf_witness kw = {0};
            mf_tri r = eval(&c->kids[i], f, &kw, neg);
            if (i == 0)
                first = kw;
            if (r == decisive) {
                if (w)
                    *w = kw;
                return decisive;
            }
            if (r == MF_TRI_UNKNOWN && !unknown) {
                unknown = true;
                first_unknown = kw;
            }
        }
        if (w)
            *w = unknown ? first_unknown : first;
        if (unknown)
            return MF_TRI_UNKNOWN;
        return decisive == MF_TRI_FALSE ? MF_TRI_TRUE : MF_TRI_FALSE;
    }
    }
    return MF_TRI_UNKNOWN;
}

mf_tri mf_cond_eval(const mf_cond *c, const mf_facts *facts, mf_witness *w)
{
    if (w)
        memset(w, 0, sizeof(*w));
    if (!c)
        return MF_TRI_TRUE;
    return eval(c, facts, w, false);
}

/* ------------------------------------------------------------------ messages */

/* A JSON value in short form, for messages: strings quoted, lists shortened. */
static size_t fmt_value(char *out, size_t outsz, const json_t *v)
{
    if (outsz == 0)
        return 0;
    int n = 0;
    if (!v) {
        n = snprintf(out, outsz, "unknown");
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), cut = len;
        if (len > 80) {
            /* Cut at a character boundary, never inside a UTF-8 sequence. */
            cut = 77;
            while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
                cut--;
        }
        n = snprintf(out, outsz, "\"%.*s%s\"", (int)cut, s, len > 80 ? "..." : "");
    } else if (json_is_integer(v)) {
        n = snprintf(out, outsz, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        n = snprintf(out, outsz, "%g", json_real_value(v));
    } else if (json_is_true(v)) {
        n = snprintf(out, outsz, "true");
    } else if (json_is_false(v)) {
        n = snprintf(out, outsz, "false");
    } else if (json_is_null(v)) {
        n = snprintf(out, outsz, "null");
    } else if (json_is_array(v)) {
        size_t used = (size_t)snprintf(out, outsz, "[");
        size_t k = json_array_size(v);
        for (size_t i = 0; i < k && used < outsz; i++) {
            if (i == 4) {
                used += (size_t)snprintf(out + used, outsz - used, ", ... %zu more", k - 4);
                break;
            }
            if (i)
                used += (size_t)snprintf(out + used, outsz - used, ", ");
            if (used < outsz)
                used += fmt_value(out + used, outsz - used, json_array_get(v, i));
        }
        if (used < outsz)
            used += (size_t)snprintf(out + used, outsz - used, "]");
        n = (int)used;
    } else {
        n = snprintf(out, outsz, "{...}");
    }
    if (n < 0)
        return 0;
    return (size_t)n < outsz ? (size_t)n : outsz - 1;
}

/* "server.port in [465, 587]" */
void mf_cond_describe(const mf_cond *c, char *out, size_t outsz)
{
    if (c->op == MF_OP_EXISTS || c->op == MF_OP_MISSING) {
        snprintf(out, outsz, "%s %s", c->path,
                 c->op == MF_OP_EXISTS ? "exists" : "is missing (null)");
        return;
    }
    char val[200];
    fmt_value(val, sizeof(val), c->value);
    snprintf(out, outsz, "%s %s %s%s%s%s", c->path, mf_op_name(c->op), val, c->param ? " (" : "",
             c->param ? c->param : "", c->param ? ")" : "");
}

/* The leaf's words: made when the policy loaded, or now for a hand-built condition. */
static void fmt_leaf(char *out, size_t outsz, const mf_cond *c)
{
    if (c->text)
        mf_strlcpy(out, c->text, outsz);
    else
        mf_cond_describe(c, out, outsz);
}

/* mf_rule_eval; with quiet, pass and notapplicable results get an empty message (nothing
 * will write it: see mf_eval_opts.quiet_passes). */
static mf_rule_state rule_eval(const mf_rule *rule, const mf_facts *facts, char *msg, size_t msgsz,
                               bool quiet)
{
    mf_witness w;
    char leaf[400], val[200];
    mf_tri when = mf_cond_eval(rule->when, facts, &w);
    if (when != MF_TRI_TRUE) {
        if (when == MF_TRI_UNKNOWN) {
            snprintf(msg, msgsz, "cannot tell whether the rule applies: %s is unknown (%s)",
                     w.leaf ? w.leaf->path : "a fact", w.why ? w.why : NOT_REPORTED);
            return MF_RULE_ERROR;
        }
        if (quiet) {
            if (msgsz)
                msg[0] = '\0';
            return MF_RULE_NOTAPPLICABLE;
        }
        if (w.leaf)
            fmt_leaf(leaf, sizeof(leaf), w.leaf);
        else
            mf_strlcpy(leaf, "when", sizeof(leaf));
        fmt_value(val, sizeof(val), w.value);
        snprintf(msg, msgsz, "not applicable: %s is %s (when: %s%s)",
                 w.leaf ? w.leaf->path : "a fact", val, w.negated ? "not " : "", leaf);
        return MF_RULE_NOTAPPLICABLE;
    }
    mf_tri r = mf_cond_eval(rule->expect, facts, &w);
    if (!w.leaf) {
        snprintf(msg, msgsz, "%s", r == MF_TRI_TRUE ? "ok" : "failed");
        return r == MF_TRI_TRUE ? MF_RULE_PASS : r == MF_TRI_FALSE ? MF_RULE_FAIL : MF_RULE_ERROR;
    }
    switch (r) {
    case MF_TRI_TRUE:
        if (quiet) {
            if (msgsz)
                msg[0] = '\0';
            return MF_RULE_PASS;
        }
        /* Most results pass: only the value is formatted, not the expectation. */
        fmt_value(val, sizeof(val), w.value);
        snprintf(msg, msgsz, "%s is %s", w.leaf->path, val);
        return MF_RULE_PASS;
    case MF_TRI_FALSE:
        fmt_leaf(leaf, sizeof(leaf), w.leaf);
        fmt_value(val, sizeof(val), w.value);
        if (rule->expect->kind == MF_COND_ANY && rule->expect->nkids > 1) {
            /* No alternative held: name what each one saw and wanted. */
            size_t used = 0;
            char want[1024] = "";
            size_t wused = 0;
            for (size_t i = 0; i < rule->expect->nkids && used < msgsz; i++) {
                const mf_cond *k = &rule->expect->kids[i];
                mf_witness kw;
                (void)mf_cond_eval(k, facts, &kw);
                if (!kw.leaf)
                    continue;
                fmt_value(val, sizeof(val), kw.value);
                int n = snprintf(msg + used, msgsz - used, "%s%s is %s", used ? ", " : "",
                                 kw.leaf->path, val);
                if (n > 0)
                    used += (size_t)n;
                fmt_leaf(leaf, sizeof(leaf), kw.leaf);
                n = snprintf(want + wused, sizeof(want) - wused, "%s%s%s", wused ? " or " : "",
                             kw.negated ? "not " : "", leaf);
                if (n > 0)
                    wused += (size_t)n;
                if (wused >= sizeof(want))
                    wused = sizeof(want) - 1;
            }
            if (used < msgsz)
                snprintf(msg + used, msgsz - used, "; expected %s", want);
            return MF_RULE_FAIL;
        }
        snprintf(msg, msgsz, "%s is %s; expected %s%s", w.leaf->path, val, w.negated ? "not " : "",
                 leaf);
        return MF_RULE_FAIL;
    default:
        snprintf(msg, msgsz, "cannot evaluate: %s is unknown (%s)", w.leaf->path,
                 w.why ? w.why : NOT_REPORTED);
        return MF_RULE_ERROR;
    }
}

mf_rule_state mf_rule_eval(const mf_rule *rule, const mf_facts *facts, char *msg, size_t msgsz)
{
    return rule_eval(rule, facts, msg, msgsz, false);
}

/* ------------------------------------------------------------------ driving */

static mf_state state_of(mf_rule_state s)
{
    switch (s) {
    case MF_RULE_PASS:
        return MF_STATE_PASS;
    case MF_RULE_FAIL:
        return MF_STATE_FAIL;
    case MF_RULE_ERROR:
        return MF_STATE_ERROR;
    default:
        return MF_STATE_NOTAPPLICABLE;
    }
}

/* Write one entity's facts as a JSON line: {"scope", "host", "entity", "facts"}. */
static void dump_facts(FILE *f, mf_scope scope, const char *host, const mf_entity *ent,
                       const mf_facts *facts)
{
    json_t *o = json_object(), *fo = json_object(), *unknown = json_object();
    if (!o || !fo || !unknown)
        goto out;
    for (int r = 0; r < MF_ROOT__COUNT; r++) {
        if (!mf_facts_scope_has_root(scope, (mf_fact_root)r))
            continue;
        const char *name = mf_fact_root_name((mf_fact_root)r);
        if (facts->root[r])
            json_object_set(fo, name, facts->root[r]);
        else
            json_object_set_new(unknown, name,
                                json_string(facts->why[r] ? facts->why[r] : NOT_REPORTED));
    }
    if (json_object_size(unknown))
        json_object_set(fo, "_unknown", unknown);
    json_object_set_new(o, "scope", json_string(mf_scope_name(scope)));
    json_object_set_new(o, "host", host ? json_string(host) : json_null());
    json_object_set_new(o, "entity", json_string(ent->label ? ent->label : ""));
    json_object_set(o, "facts", fo);
    json_dumpf(o, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fputc('\n', f);
out:
    json_decref(unknown);
    json_decref(fo);
    json_decref(o);
}

/* A result held until it is handed on in order. Its strings are copied into the job's
 * text arena, so the worker can free the report and its facts itself (freeing them on the
 * caller's thread would make it the bottleneck: glibc frees across threads slowly). */
#define NO_TEXT ((size_t)-1)

typedef struct held {
    const mf_rule *rule;
    mf_state state;
    size_t msg; /* offsets in the job's text arena (NO_TEXT: none) */
    size_t entity;
    size_t server;
    mf_waiver *waiver;     /* applied: state is waived */
    mf_waiver *expired;    /* an expired waiver that matched a fail or error */
    mf_waiver *pass_match; /* an active waiver that matched a passing result */
} held;

/* One report on its way through the pool. */
typedef struct job {
    size_t seq;
    char *doc;
    size_t len;
    char *label;
    bool done;
    mf_report *report;        /* decoded (or its head only), NULL when it did not decode */
    bool borrowed;            /* report belongs to the caller (mf_policy_eval_report) */
    bool whole;               /* kept whole for take_whole (keep_whole said so) */
    char *why;                /* why it did not decode */
    mf_host_facts *hf;        /* while evaluating */
    size_t host_id, hostname; /* offsets in msgs */
    held *res;
    size_t nres, capres;
    mf_buf msgs; /* NUL-separated texts of the held results */
    mf_code rc;  /* a failure of the tool (out of memory) */
    mf_error err;
} job;

struct mf_eval_pool {
    const mf_policy *policy;
    mf_waivers *waivers;
    mf_results *results;
    mf_eval_opts eopts;
    mf_eval_pool_opts popts;
    mf_fleet *fleet; /* the caller's */
    size_t nthreads; /* 0: inline */
    pthread_t *threads;
    mf_fleet **wfleet; /* one per worker (inline: the caller's) */
    /* the ring of jobs in flight: seq in [next_emit, next_submit) */
    job **ring;
    size_t cap;
    size_t next_submit, next_claim, next_emit;
    bool stop;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
};

size_t mf_eval_threads_default(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > 8 ? 8 : (size_t)n;
}

static void job_free(job *j)
{
    if (!j)
        return;
    free(j->doc);
    free(j->label);
    free(j->why);
    mf_host_facts_free(j->hf);
    if (!j->borrowed)
        mf_report_free(j->report);
    free(j->res);
    mf_buf_free(&j->msgs);
    free(j);
}

/* Copy s (NULL allowed) into the job's arena; *off receives its offset or NO_TEXT. */
static mf_code keep_text(job *j, const char *s, size_t *off)
{
    *off = NO_TEXT;
    if (!s)
        return MF_OK;
    size_t at = j->msgs.len;
    if (mf_buf_append(&j->msgs, s, strlen(s) + 1) != MF_OK)
        return MF_ERR_NOMEM;
    *off = at;
    return MF_OK;
}

static const char *text_at(const job *j, size_t off)
{
    return off == NO_TEXT ? NULL : j->msgs.data + off;
}

static mf_code hold(job *j, const mf_rule *rule, mf_state st, const char *msg, const mf_entity *ent,
                    mf_waiver *waiver, mf_waiver *expired, mf_waiver *pass_match)
{
    if (mf_grow((void **)&j->res, &j->capres, j->nres + 1, sizeof(held)) != MF_OK)
        return MF_ERR_NOMEM;
    held h = {
        .rule = rule, .state = st, .waiver = waiver, .expired = expired, .pass_match = pass_match};
    if (keep_text(j, msg, &h.msg) != MF_OK || keep_text(j, ent->label, &h.entity) != MF_OK ||
        keep_text(j, ent->server, &h.server) != MF_OK)
        return MF_ERR_NOMEM;
    j->res[j->nres++] = h;
    return MF_OK;
}

/* Evaluate one rule on one entity and hold the result, with its waiver. Waivers are only
 * looked up here (reads); their counters change when the result is handed on. */
static mf_code eval_entity(job *j, mf_waivers *w, const mf_rule *rule, const mf_facts *facts,
                           const mf_entity *ent, const char *host_id, const char *hostname,
                           bool quiet)
{
    char msg[768];
    mf_state st = state_of(rule_eval(rule, facts, msg, sizeof(msg), quiet));
    mf_waiver *waiver = NULL, *expired = NULL, *pass_match = NULL;
    if (w) {
        mf_waiver *exp = NULL;
        mf_waiver *hit = mf_waivers_match(w, rule->index, host_id, hostname, ent, &exp);
        bool bad = st == MF_STATE_FAIL || st == MF_STATE_ERROR;
        if (hit && bad) {
            waiver = hit;
            st = MF_STATE_WAIVED;
        } else if (hit) {
            pass_match = hit;
        } else if (exp && bad) {
            expired = exp;
        }
    }
    if (quiet && (st == MF_STATE_PASS || st == MF_STATE_NOTAPPLICABLE)) {
        /* Counted, never written: no texts to keep. */
        static const mf_entity none = {NULL, NULL, NULL};
        return hold(j, rule, st, NULL, &none, waiver, expired, pass_match);
    }
    return hold(j, rule, st, msg, ent, waiver, expired, pass_match);
}

/* Evaluate every host-level rule of p on the job's report. */
/* Room for the texts of a typical report's results at once, when every result keeps
 * its texts (growing the arena from empty cost 5 % of all instructions in realloc). With
 * quiet passes only failures and errors keep texts, a few hundred bytes: the arena then
 * grows from small, which is cheaper than a large block (glibc consolidates its free
 * lists on every large request). */
#define JOB_ARENA 8192

static mf_code eval_job(const mf_policy *p, mf_waivers *w, const mf_eval_opts *opts, job *j)
{
    const mf_fact_mask *mask = opts->dump_facts ? NULL : &p->mask;
    if (!opts->quiet_passes && j->msgs.cap < JOB_ARENA && j->msgs.len == 0) {
        char *a = realloc(j->msgs.data, JOB_ARENA);
        if (!a)
            return mf_error_set(&j->err, MF_ERR_NOMEM, "out of memory");
        j->msgs.data = a;
        j->msgs.cap = JOB_ARENA;
    }
    mf_code rc = mf_host_facts_build(&j->hf, j->report, mask, opts->as_of, &j->err);
    if (rc != MF_OK)
        return rc;
    const char *host_id = mf_host_facts_host_id(j->hf);
    const char *hostname = mf_host_facts_hostname(j->hf);
    if (keep_text(j, host_id, &j->host_id) != MF_OK ||
        keep_text(j, hostname, &j->hostname) != MF_OK)
        return mf_error_set(&j->err, MF_ERR_NOMEM, "out of memory");
    if (opts->dump_facts) {
        static const mf_scope scopes[] = {MF_SCOPE_HOST, MF_SCOPE_SERVER, MF_SCOPE_ACCOUNT,
                                          MF_SCOPE_PROBE};
        for (size_t k = 0; k < MF_ARRAY_LEN(scopes); k++)
            for (size_t i = 0; i < mf_host_facts_count(j->hf, scopes[k]); i++) {
                mf_facts facts;
                mf_entity ent;
                mf_host_facts_get(j->hf, scopes[k], i, &facts, &ent);
                dump_facts(opts->dump_facts, scopes[k], host_id, &ent, &facts);
            }
    }
    for (size_t k = 0; rc == MF_OK && k < p->nrules; k++) {
        const mf_rule *rule = &p->rules[k];
        if (rule->scope == MF_SCOPE_FLEET_SERVER)
            continue;
        size_t n = mf_host_facts_count(j->hf, rule->scope);
        for (size_t i = 0; rc == MF_OK && i < n; i++) {
            mf_facts facts;
            mf_entity ent;
            mf_host_facts_get(j->hf, rule->scope, i, &facts, &ent);
            rc = eval_entity(j, w, rule, &facts, &ent, host_id, hostname, opts->quiet_passes);
        }
    }
    if (rc != MF_OK && j->err.text[0] == '\0')
        mf_error_set(&j->err, rc, "out of memory evaluating a report");
    mf_host_facts_free(j->hf);
    j->hf = NULL;
    return rc;
}

/* Hand the held results of a job on, in order, counting waiver use. */
static mf_code emit_held(mf_results *rs, job *j, mf_waivers *w, mf_error *err)
{
    const char *host_id = text_at(j, j->host_id), *hostname = text_at(j, j->hostname);
    for (size_t i = 0; i < j->nres; i++) {
        held *h = &j->res[i];
        mf_result r = {.rule = h->rule,
                       .host_id = host_id,
                       .hostname = hostname,
                       .entity = text_at(j, h->entity),
                       .server = text_at(j, h->server),
                       .state = h->state,
                       .message = text_at(j, h->msg),
                       .waiver = h->waiver,
                       .expired = h->expired};
        if (h->waiver) {
            h->waiver->matched++;
            r.waiver_index = (size_t)(h->waiver - w->v);
        } else if (h->expired) {
            h->expired->matched++;
            r.waiver_index = (size_t)(h->expired - w->v);
        }
        if (h->pass_match)
            h->pass_match->matched_pass++;
        mf_code rc = mf_results_add(rs, &r, err);
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

mf_code mf_policy_eval_report(const mf_policy *p, const mf_report *r, mf_waivers *w, mf_results *rs,
                              const mf_eval_opts *opts, mf_error *err)
{
    job j;
    memset(&j, 0, sizeof(j));
    mf_buf_init(&j.msgs, (size_t)1 << 30);
    j.host_id = j.hostname = NO_TEXT;
    j.report = (mf_report *)r; /* borrowed: not freed below */
    j.borrowed = true;
    mf_code rc = eval_job(p, w, opts, &j);
    if (rc != MF_OK) {
        if (err)
            *err = j.err;
    } else {
        rc = emit_held(rs, &j, w, err);
    }
    mf_host_facts_free(j.hf);
    free(j.res);
    mf_buf_free(&j.msgs);
    return rc;
}

/* ------------------------------------------------------------------ the pool */

/* A report holding only r's identity: report id, time, agent and host (no sources,
 * servers, accounts or probes). NULL on OOM. */
static mf_report *report_head(const mf_report *r)
{
    mf_report *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    memcpy(h->report_id, r->report_id, sizeof(h->report_id));
    memcpy(h->collected_at, r->collected_at, sizeof(h->collected_at));
    h->dropped_reports = r->dropped_reports;
    h->agent_version = mf_strdup(r->agent_version);
    h->host.id = mf_strdup(r->host.id);
    h->host.hostname = mf_strdup(r->host.hostname);
    h->host.os_name = mf_strdup(r->host.os_name);
    h->host.os_version = mf_strdup(r->host.os_version);
    if ((r->agent_version && !h->agent_version) || (r->host.id && !h->host.id) ||
        (r->host.hostname && !h->host.hostname) || (r->host.os_name && !h->host.os_name) ||
        (r->host.os_version && !h->host.os_version)) {
        mf_report_free(h);
        return NULL;
    }
    return h;
}

/* Decode and evaluate one job (on a worker, or inline); fleet is the worker's. */
static void process(mf_eval_pool *pool, job *j, mf_fleet *fleet)
{
    mf_error err;
    mf_error_clear(&err);
    if (!j->report && mf_report_decode(&j->report, j->doc, j->len, &err) != MF_OK) {
        char msg[1024];
        mf_error_set_file(&err, "");
        j->why = mf_strdup(mf_error_format(&err, msg, sizeof(msg)));
        if (!j->why) {
            j->rc = MF_ERR_NOMEM;
            mf_error_set(&j->err, MF_ERR_NOMEM, "out of memory");
        }
        goto out;
    }
    if (fleet && pool->popts.fleet_history &&
        (j->rc = mf_fleet_add_history(fleet, j->report, &j->err)) != MF_OK)
        goto out;
    if (fleet && pool->popts.fleet_latest &&
        (j->rc = mf_fleet_add_latest(fleet, j->report, &j->err)) != MF_OK)
        goto out;
    if (pool->popts.evaluate)
        j->rc = eval_job(pool->policy, pool->waivers, &pool->eopts, j);
    if (j->rc == MF_OK && !pool->popts.keep_report && pool->popts.keep_whole &&
        pool->popts.take_whole && pool->popts.keep_whole(pool->popts.ctx))
        j->whole = true;
    if (j->rc == MF_OK && !pool->popts.keep_report && !j->whole) {
        /* The hook gets the report's head; the bulk is freed here, on the worker. */
        mf_report *head = report_head(j->report);
        if (!head) {
            j->rc = MF_ERR_NOMEM;
            mf_error_set(&j->err, MF_ERR_NOMEM, "out of memory");
        } else {
            mf_report_free(j->report);
            j->report = head;
        }
    }
out:
    /* The text is no longer needed; free it now so memory is only what is in flight. */
    free(j->doc);
    j->doc = NULL;
}

static void *worker(void *arg)
{
    void **a = arg;
    mf_eval_pool *pool = a[0];
    mf_fleet *fleet = a[1];
    free(arg);
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        while (!pool->stop && pool->next_claim == pool->next_submit)
            pthread_cond_wait(&pool->work, &pool->mu);
        if (pool->next_claim == pool->next_submit) {
            pthread_mutex_unlock(&pool->mu);
            return NULL; /* stopping and nothing left */
        }
        job *j = pool->ring[pool->next_claim % pool->cap];
        pool->next_claim++;
        pthread_mutex_unlock(&pool->mu);
        process(pool, j, fleet);
        pthread_mutex_lock(&pool->mu);
        j->done = true;
        pthread_cond_broadcast(&pool->done);
        pthread_mutex_unlock(&pool->mu);
    }
}

/* Hand on the finished job at the head of the ring (caller's thread). */
static mf_code emit(mf_eval_pool *pool, job *j, mf_error *err)
{
    mf_code rc = j->rc;
    if (rc != MF_OK) {
        if (err)
            *err = j->err;
        return rc;
    }
    if (pool->popts.on_report) {
        rc = pool->popts.on_report(pool->popts.ctx, j->seq, j->label, j->report, j->why, err);
        if (rc == MF_OK && j->whole && pool->popts.take_whole) {
            pool->popts.take_whole(pool->popts.ctx, j->seq, j->report);
            j->report = NULL; /* the callback's now */
        }
        if (rc != MF_OK)
            return rc;
    }
    return emit_held(pool->results, j, pool->waivers, err);
}

/* Emit every finished job at the head; with wait, wait until the head is finished
 * first (and until nothing is in flight when all is set). */
static mf_code drain(mf_eval_pool *pool, bool wait, bool all, mf_error *err)
{
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        if (pool->next_emit == pool->next_submit) {
            pthread_mutex_unlock(&pool->mu);
            return MF_OK;
        }
        job *j = pool->ring[pool->next_emit % pool->cap];
        while (wait && !j->done)
            pthread_cond_wait(&pool->done, &pool->mu);
        bool ready = j->done;
        pthread_mutex_unlock(&pool->mu);
        if (!ready)
            return MF_OK;
        mf_code rc = emit(pool, j, err);
        pthread_mutex_lock(&pool->mu);
        pool->ring[pool->next_emit % pool->cap] = NULL;
        pool->next_emit++;
        pthread_mutex_unlock(&pool->mu);
        job_free(j);
        if (rc != MF_OK)
            return rc;
        if (!all)
            wait = false;
    }
}

mf_code mf_eval_pool_new(mf_eval_pool **out, const mf_policy *p, mf_waivers *w, mf_results *rs,
                         const mf_eval_opts *eo, mf_fleet *fleet, const mf_eval_pool_opts *po,
                         mf_error *err)
{
    *out = NULL;
    mf_eval_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    pool->policy = p;
    pool->waivers = w;
    pool->results = rs;
    pool->eopts = *eo;
    /* Results nothing writes one by one (no --json, JUnit, HTML or CSV) are only counted:
     * passing ones need no message or entity texts. */
    if (!mf_results_writes_each(rs))
        pool->eopts.quiet_passes = true;
    pool->popts = *po;
    pool->fleet = fleet;
    /* Facts are dumped to one file in order: that needs one thread. */
    pool->nthreads = (po->threads > 1 && !eo->dump_facts) ? po->threads : 0;
    pool->cap = pool->nthreads ? pool->nthreads * 8 : 1;
    pool->ring = calloc(pool->cap, sizeof(job *));
    if (!pool->ring) {
        free(pool);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->done, NULL);
    if (!pool->nthreads) {
        *out = pool;
        return MF_OK;
    }
    /* Jansson's hash seed is set once, before any thread can race to set it. */
    json_object_seed(0);
    pool->threads = calloc(pool->nthreads, sizeof(pthread_t));
    pool->wfleet = calloc(pool->nthreads, sizeof(mf_fleet *));
    if (!pool->threads || !pool->wfleet) {
        mf_eval_pool_free(pool);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; fleet && i < pool->nthreads; i++)
        if (mf_fleet_new(&pool->wfleet[i], 0) != MF_OK) {
            mf_eval_pool_free(pool);
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        }
    for (size_t i = 0; i < pool->nthreads; i++) {
        void **arg = malloc(2 * sizeof(void *));
        if (arg) {
            arg[0] = pool;
            arg[1] = pool->wfleet[i];
        }
        if (!arg || pthread_create(&pool->threads[i], NULL, worker, arg) != 0) {
            free(arg);
            pool->nthreads = i; /* join what started */
            mf_eval_pool_free(pool);
            return mf_error_set(err, MF_ERR_INTERNAL, "cannot start worker threads");
        }
    }
    *out = pool;
    return MF_OK;
}

static mf_code submit_job(mf_eval_pool *pool, job *j, mf_error *err);

mf_code mf_eval_pool_submit_owned(mf_eval_pool *pool, char *data, size_t len, const char *label,
                                  mf_error *err)
{
    job *j = calloc(1, sizeof(*j));
    if (!j || (label && !(j->label = mf_strdup(label)))) {
        free(data);
        free(j);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    j->doc = data;
    j->len = len;
    return submit_job(pool, j, err);
}

mf_code mf_eval_pool_submit_report(mf_eval_pool *pool, mf_report *r, const char *label,
                                   mf_error *err)
{
    job *j = calloc(1, sizeof(*j));
    if (!j || (label && !(j->label = mf_strdup(label)))) {
        mf_report_free(r);
        free(j);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    j->report = r;
    return submit_job(pool, j, err);
}

/* Run j inline, or queue it for the workers (j is taken). */
static mf_code submit_job(mf_eval_pool *pool, job *j, mf_error *err)
{
    j->host_id = j->hostname = NO_TEXT;
    mf_buf_init(&j->msgs, (size_t)1 << 30);
    if (!pool->nthreads) {
        j->seq = pool->next_submit++;
        process(pool, j, pool->fleet);
        mf_code rc = emit(pool, j, err);
        pool->next_emit++;
        job_free(j);
        return rc;
    }
    /* Room in the ring: hand on what is finished, waiting for the oldest if full. */
    mf_code rc;
    pthread_mutex_lock(&pool->mu);
    bool full = pool->next_submit - pool->next_emit >= pool->cap;
    pthread_mutex_unlock(&pool->mu);
    if ((rc = drain(pool, full, false, err)) != MF_OK) {
        job_free(j);
        return rc;
    }
    pthread_mutex_lock(&pool->mu);
    j->seq = pool->next_submit;
    pool->ring[pool->next_submit % pool->cap] = j;
    pool->next_submit++;
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->mu);
    return MF_OK;
}

mf_code mf_eval_pool_submit(mf_eval_pool *pool, const char *json, size_t len, const char *label,
                            mf_error *err)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    memcpy(copy, json, len);
    copy[len] = '\0';
    return mf_eval_pool_submit_owned(pool, copy, len, label, err);
}

/* Stop the workers and wait for them. */
static void stop_workers(mf_eval_pool *pool)
{
    if (!pool->threads)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = true;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mu);
    for (size_t i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    pool->threads = NULL;
}

mf_code mf_eval_pool_finish(mf_eval_pool *pool, mf_error *err)
{
    if (!pool->nthreads)
        return MF_OK;
    mf_code rc = drain(pool, true, true, err);
    stop_workers(pool);
    for (size_t i = 0; rc == MF_OK && pool->fleet && i < pool->nthreads; i++)
        if (pool->wfleet[i])
            rc = mf_fleet_merge(pool->fleet, pool->wfleet[i], err);
    return rc;
}

void mf_eval_pool_free(mf_eval_pool *pool)
{
    if (!pool)
        return;
    stop_workers(pool);
    for (size_t i = 0; i < pool->cap; i++)
        job_free(pool->ring[i]);
    for (size_t i = 0; pool->wfleet && i < pool->nthreads; i++)
        mf_fleet_free(pool->wfleet[i]);
    free(pool->wfleet);
    free(pool->ring);
    pthread_cond_destroy(&pool->work);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}

mf_code mf_policy_eval_fleet(const mf_policy *p, mf_fleet *fleet, mf_waivers *w, mf_results *rs,
                             const mf_eval_opts *opts, mf_error *err)
{
    if (!p->has_fleet_rules && !opts->dump_facts)
        return MF_OK;
    const mf_fact_mask *mask = opts->dump_facts ? NULL : &p->mask;
    size_t n = mf_fleet_count(fleet);
    mf_code rc = MF_OK;
    job j;
    memset(&j, 0, sizeof(j));
    mf_buf_init(&j.msgs, (size_t)1 << 30);
    j.host_id = j.hostname = NO_TEXT;
    for (size_t i = 0; rc == MF_OK && i < n; i++) {
        json_t *o = NULL;
        mf_entity ent;
        if ((rc = mf_fleet_facts(fleet, i, mask, opts->as_of, &o, &ent, err)) != MF_OK)
            break;
        mf_facts facts;
        memset(&facts, 0, sizeof(facts));
        facts.root[MF_ROOT_FLEET_SERVER] = o;
        if (opts->dump_facts)
            dump_facts(opts->dump_facts, MF_SCOPE_FLEET_SERVER, NULL, &ent, &facts);
        for (size_t k = 0; rc == MF_OK && k < p->nrules; k++)
            if (p->rules[k].scope == MF_SCOPE_FLEET_SERVER)
                rc = eval_entity(&j, w, &p->rules[k], &facts, &ent, NULL, NULL, false);
        json_decref(o);
        if (rc == MF_OK)
            rc = emit_held(rs, &j, w, err);
        else
            mf_error_set(err, rc, "out of memory");
        j.nres = 0;
        mf_buf_reset(&j.msgs);
    }
    free(j.res);
    mf_buf_free(&j.msgs);
    return rc;
}
