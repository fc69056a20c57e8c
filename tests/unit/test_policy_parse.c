/* test_policy_parse.c: collector/policy_parse.c — strict validation with the file and
 * JSON path in every error, parameters and overrides, includes (relative, cycles,
 * depth, exclude), and the bounds on hostile policies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "policy.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The source tree: MF_SOURCE_DIR from CTest's environment. */
static const char *source_dir(void)
{
    const char *d = getenv("MF_SOURCE_DIR");
    return d ? d : MF_TEST_DATA_DIR "/../..";
}

/* ------------------------------------------------------------------ helpers */

/* A memory "file system" for includes: name -> text. */
typedef struct memfile {
    const char *name;
    const char *text;
} memfile;

typedef struct memfs {
    const memfile *files;
    size_t n;
    int reads;
} memfs;

static mf_code mem_read(void *ctx, const char *path, char **data, size_t *len, char **canon,
                        mf_error *err)
{
    memfs *fs = ctx;
    fs->reads++;
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->files[i].name, path) == 0) {
            *data = mf_strdup(fs->files[i].text);
            *len = strlen(fs->files[i].text);
            *canon = mf_strdup(path);
            return MF_OK;
        }
    return mf_error_set(err, MF_ERR_NOTFOUND, "no such file");
}

/* A rule with the given scope and expect (JSON text), the rest filled in. */
static char *rule_json(const char *id, const char *scope, const char *extra)
{
    return mf_asprintf("{\"id\": \"%s\", \"title\": \"t\", \"severity\": \"low\", \"scope\": "
                       "\"%s\", %s, \"description\": \"d\", \"rationale\": \"r\", "
                       "\"remediation\": {\"user\": \"u\", \"admin\": \"a\"}}",
                       id, scope, extra);
}

static char *policy_json(const char *params, const char *rules)
{
    return mf_asprintf("{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"T\", "
                       "\"version\": \"1\"%s%s, \"rules\": [%s]}",
                       params ? ", \"parameters\": " : "", params ? params : "", rules);
}

static mf_code parse(const char *text, mf_policy **out, mf_error *err)
{
    return mf_policy_parse(out, text, strlen(text), "test.json", NULL, err);
}

/* Parse a one-rule policy whose rule has scope and `extra` (e.g. an expect member). */
static mf_code parse_rule(const char *scope, const char *extra, const char *params, mf_policy **out,
                          mf_error *err)
{
    char *r = rule_json("r1", scope, extra);
    char *p = policy_json(params, r);
    mf_code rc = parse(p, out, err);
    free(r);
    free(p);
    return rc;
}

/* Expect the one-rule policy to fail with the field path and a text fragment. */
static void refused(const char *scope, const char *extra, const char *params, const char *field,
                    const char *fragment)
{
    mf_policy *p = NULL;
    mf_error err;
    mf_code rc = parse_rule(scope, extra, params, &p, &err);
    if (rc == MF_OK || !strstr(err.field, field) || !strstr(err.text, fragment)) {
        print_error("expected refusal at %s with \"%s\"; got rc %d field \"%s\" text \"%s\"\n",
                    field, fragment, rc, err.field, err.text);
        mf_policy_free(p);
        fail();
    }
    assert_null(p);
    assert_string_equal(err.file, "test.json");
}

static void accepted(const char *scope, const char *extra, const char *params)
{
    mf_policy *p = NULL;
    mf_error err;
    if (parse_rule(scope, extra, params, &p, &err) != MF_OK) {
        char msg[1024];
        print_error("refused: %s\n", mf_error_format(&err, msg, sizeof(msg)));
        fail();
    }
    mf_policy_free(p);
}

/* ------------------------------------------------------------------ tests */

static void test_minimal_policy(void **state)
{
    (void)state;
    mf_policy *p = NULL;
    mf_error err;
    assert_int_equal(parse_rule("server",
                                "\"expect\": {\"path\": \"server.port\", \"op\": \"eq\", "
                                "\"value\": 587}",
                                NULL, &p, &err),
                     MF_OK);
    assert_string_equal(p->id, "p");
    assert_string_equal(p->version, "1");
    assert_int_equal(p->nrules, 1);
    const mf_rule *r = &p->rules[0];
    assert_string_equal(r->id, "r1");
    assert_int_equal(r->scope, MF_SCOPE_SERVER);
    assert_int_equal(r->severity, MF_SEV_LOW);
    assert_null(r->when);
    assert_int_equal(r->expect->kind, MF_COND_LEAF);
    assert_int_equal(r->expect->op, MF_OP_EQ);
    assert_int_equal(r->expect->root, MF_ROOT_SERVER);
    assert_int_equal(r->expect->nsegs, 1);
    assert_string_equal(r->expect->segs[0], "port");
    assert_true(mf_fact_mask_has(&p->mask, mf_facts_lookup("server.port")));
    assert_false(mf_fact_mask_has(&p->mask, mf_facts_lookup("server.security")));
    assert_false(p->has_fleet_rules);
    assert_ptr_equal(mf_policy_find_rule(p, "r1"), r);
    assert_null(mf_policy_find_rule(p, "r2"));
    mf_policy_free(p);
}

static void test_top_level_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *field;
        const char *fragment;
    } cases[] = {
        {"[]", "", "a policy is a JSON object"},
        {"{\"id\": \"p\", \"title\": \"t\", \"version\": \"1\", \"rules\": []}", "schema",
         "is required"},
        {"{\"schema\": \"mailfleet.policy.v2\", \"id\": \"p\", \"title\": \"t\", \"version\": "
         "\"1\", \"rules\": []}",
         "schema", "mailfleet.policy.v1"},
        {"{\"schema\": \"mailfleet.policy.v1\", \"title\": \"t\", \"version\": \"1\", \"rules\": "
         "[]}",
         "id", "is required"},
        {"{\"schema\": \"mailfleet.policy.v1\", \"id\": \"bad id!\", \"title\": \"t\", "
         "\"version\": \"1\", \"rules\": []}",
         "id", "policy id"},
        {"{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"  \", \"version\": "
         "\"1\", \"rules\": []}",
         "title", "must not be empty"},
        {"{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"t\", \"version\": 1, "
         "\"rules\": []}",
         "version", "must be a string"},
        {"{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"t\", \"version\": "
         "\"1\"}",
         "rules", "is required"},
        {"{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"t\", \"version\": "
         "\"1\", \"rules\": [], \"rulez\": []}",
         "rulez", "unknown member \"rulez\""},
        {"{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"t\", \"version\": "
         "\"1\", \"rules\": {}}",
         "rules", "must be an array"},
        {"{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"t\", \"version\": "
         "\"1\", \"rules\": [], \"$comment\": 5}",
         "$comment", "must be a string"},
        {"{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"t\", \"version\": "
         "\"1\", \"rules\": [], \"include\": [\"x.json\"]}",
         "include[0]", "not loaded from a file"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        mf_policy *p = NULL;
        mf_error err;
        mf_code rc = parse(cases[i].text, &p, &err);
        if (rc == MF_OK || strcmp(err.field, cases[i].field) != 0 ||
            !strstr(err.text, cases[i].fragment)) {
            print_error("case %zu: rc %d field \"%s\" text \"%s\"\n", i, rc, err.field, err.text);
            fail();
        }
        assert_null(p);
    }
}

static void test_syntax_error_position(void **state)
{
    (void)state;
    mf_policy *p = NULL;
    mf_error err;
    const char *text = "{\"schema\": \"mailfleet.policy.v1\",\n  \"id\": \"p\",,\n}";
    assert_int_equal(parse(text, &p, &err), MF_ERR_PARSE);
    assert_int_equal(err.line, 2);
    assert_true(err.column > 0);
    assert_string_equal(err.file, "test.json");
    /* Duplicate keys are refused, not silently merged. */
    const char *dup = "{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"id\": \"q\", "
                      "\"title\": \"t\", \"version\": \"1\", \"rules\": []}";
    assert_int_equal(parse(dup, &p, &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "duplicate"));
}

static void test_rule_errors(void **state)
{
    (void)state;
    const char *ok = "\"expect\": {\"path\": \"server.port\", \"op\": \"eq\", \"value\": 587}";
    char *bad;
    /* required members */
    refused("server", "\"when\": {\"path\": \"server.port\", \"op\": \"exists\"}", NULL,
            "rules[0].expect", "is required");
    bad = mf_asprintf("{\"id\": \"r1\", \"title\": \"t\", \"severity\": \"low\", \"scope\": "
                      "\"server\", %s, \"description\": \"d\", \"rationale\": \"r\", "
                      "\"remediation\": {\"user\": \"u\"}}",
                      ok);
    char *pol = policy_json(NULL, bad);
    mf_policy *p = NULL;
    mf_error err;
    assert_int_not_equal(parse(pol, &p, &err), MF_OK);
    assert_string_equal(err.field, "rules[0].remediation.admin");
    free(bad);
    free(pol);
    /* words */
    refused("fleet", ok, NULL, "rules[0].scope", "must be one of server");
    /* unknown member in a rule */
    char *extra = mf_asprintf("%s, \"severty\": \"high\"", ok);
    refused("server", extra, NULL, "rules[0].severty", "unknown member");
    free(extra);
}

static void test_condition_errors(void **state)
{
    (void)state;
    refused("server",
            "\"expect\": {\"all\": [{\"path\": \"server.port\", \"op\": \"eq\", \"value\": 1}, "
            "{\"path\": \"server.security\", \"op\": \"equals\", \"value\": \"tls\"}]}",
            NULL, "rules[0].expect.all[1].op", "unknown operator \"equals\"");
    refused("server", "\"expect\": {\"path\": \"server.prot\", \"op\": \"eq\", \"value\": 1}", NULL,
            "rules[0].expect.path", "did you mean \"server.port\"");
    refused("probe", "\"expect\": {\"path\": \"server.port\", \"op\": \"eq\", \"value\": 1}", NULL,
            "rules[0].expect.path", "a probe rule has no server facts");
    refused("server",
            "\"expect\": {\"path\": \"fleet_server.hosts\", \"op\": \"ge\", \"value\": 1}", NULL,
            "rules[0].expect.path", "has no fleet_server facts");
    refused("server", "\"expect\": {\"path\": \"mac.id\", \"op\": \"exists\"}", NULL,
            "rules[0].expect.path", "unknown fact");
    refused("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"eq\", \"value\": \"587\"}",
            NULL, "rules[0].expect.value", "server.port is an integer, but the value is a string");
    refused("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"exists\", \"value\": 1}",
            NULL, "rules[0].expect.value", "takes no value");
    refused("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"in\"}", NULL,
            "rules[0].expect.value", "is required");
    refused("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"in\", \"value\": 587}",
            NULL, "rules[0].expect.value", "needs a list");
    refused("server",
            "\"expect\": {\"path\": \"server.port\", \"op\": \"in\", \"value\": [465, \"x\"]}",
            NULL, "rules[0].expect.value[1]", "this item is a string");
    refused("server", "\"expect\": {\"path\": \"server.hostname\", \"op\": \"lt\", \"value\": 3}",
            NULL, "rules[0].expect.value", "only compares numbers");
    refused("server",
            "\"expect\": {\"path\": \"server.port\", \"op\": \"glob\", \"value\": \"5*\"}", NULL,
            "rules[0].expect.value", "matches strings");
    refused("server", "\"expect\": {\"path\": \"server.flags\", \"op\": \"in\", \"value\": []}",
            NULL, "rules[0].expect.value", "use contains");
    refused("server",
            "\"expect\": {\"path\": \"server.flags\", \"op\": \"contains\", \"value\": 1}", NULL,
            "rules[0].expect.value", "contains needs a string");
    refused("server", "\"expect\": {\"path\": \"probe.tls\", \"op\": \"eq\", \"value\": 1}", NULL,
            "rules[0].expect.value", "is an object");
    refused("server", "\"expect\": {\"all\": []}", NULL, "rules[0].expect.all", "non-empty array");
    refused("server", "\"expect\": {}", NULL, "rules[0].expect", "needs all, any, not, or path");
    refused("server",
            "\"expect\": {\"not\": {\"path\": \"server.port\", \"op\": \"exists\"}, \"path\": "
            "\"server.port\"}",
            NULL, "rules[0].expect", "exactly one of");
    refused("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"exists\", \"x\": 1}", NULL,
            "rules[0].expect.x", "unknown member");
    refused("server", "\"expect\": [1]", NULL, "rules[0].expect", "a condition is an object");
    /* the same conditions are fine where they fit */
    accepted("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"in\", \"value\": []}",
             NULL);
    accepted("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"eq\", \"value\": null}",
             NULL);
    accepted("server", "\"expect\": {\"path\": \"probe.tls\", \"op\": \"ne\", \"value\": null}",
             NULL);
    accepted("server", "\"expect\": {\"path\": \"server.flags\", \"op\": \"eq\", \"value\": []}",
             NULL);
    accepted("account", "\"expect\": {\"path\": \"server\", \"op\": \"exists\"}", NULL);
    accepted("fleet-server",
             "\"expect\": {\"path\": \"fleet_server.probe_ok_share\", \"op\": \"ge\", "
             "\"value\": 0.5}",
             NULL);
}

static void test_parameters(void **state)
{
    (void)state;
    const char *params = "{\"min\": {\"default\": 21, \"description\": \"d\"}, \"ports\": "
                         "{\"default\": [465, 587], \"description\": \"d\"}, \"hosts\": "
                         "{\"default\": [\"a.example\"], \"description\": \"d\"}}";
    mf_policy *p = NULL;
    mf_error err;
    assert_int_equal(parse_rule("server",
                                "\"when\": {\"path\": \"server.port\", \"op\": \"in\", \"value\": "
                                "\"$ports\"}, \"expect\": {\"path\": \"server.hostname\", \"op\": "
                                "\"in\", \"value\": [\"b.example\", \"$hosts\", \"$$literal\"]}",
                                params, &p, &err),
                     MF_OK);
    const mf_cond *w = p->rules[0].when, *e = p->rules[0].expect;
    assert_string_equal(w->param, "$ports");
    assert_int_equal(json_array_size(w->value), 2);
    assert_null(e->param); /* a list with references spliced in */
    assert_int_equal(json_array_size(e->value), 3);
    assert_string_equal(json_string_value(json_array_get(e->value, 0)), "b.example");
    assert_string_equal(json_string_value(json_array_get(e->value, 1)), "a.example");
    assert_string_equal(json_string_value(json_array_get(e->value, 2)), "$literal");
    assert_int_equal(json_integer_value(json_object_get(p->files[0].parameters, "min")), 21);
    mf_policy_free(p);

    refused("server",
            "\"expect\": {\"path\": \"server.port\", \"op\": \"ge\", \"value\": \"$nope\"}", params,
            "rules[0].expect.value", "unknown parameter \"$nope\"");
    /* "$comment" is allowed in the parameters object too, and is no parameter */
    accepted("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"ge\", \"value\": \"$x\"}",
             "{\"$comment\": \"tune these\", \"x\": {\"default\": 1, \"description\": \"d\"}}");
    refused("server",
            "\"expect\": {\"path\": \"server.port\", \"op\": \"ge\", \"value\": \"$comment\"}",
            "{\"$comment\": \"tune these\"}", "rules[0].expect.value", "unknown parameter");
    refused("server",
            "\"expect\": {\"path\": \"server.port\", \"op\": \"ge\", \"value\": \"$hosts\"}",
            params, "rules[0].expect.value", "needs a number");
    refused("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"exists\"}",
            "{\"Bad\": {\"default\": 1, \"description\": \"d\"}}", "parameters.Bad",
            "parameter name");
    refused("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"exists\"}",
            "{\"x\": {\"default\": 1}}", "parameters.x.description", "is required");
    refused("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"exists\"}",
            "{\"x\": {\"default\": {\"a\": 1}, \"description\": \"d\"}}", "parameters.x.default",
            "not an object");
    refused("server", "\"expect\": {\"path\": \"server.port\", \"op\": \"exists\"}",
            "{\"x\": {\"default\": [1, \"a\"], \"description\": \"d\"}}", "parameters.x.default[1]",
            "one kind");
}

/* Includes through the memory loader: relative paths, overrides, exclude, cycles. */
static void test_includes(void **state)
{
    (void)state;
    char *base_rule = rule_json("base-port", "server",
                                "\"expect\": {\"path\": \"server.port\", \"op\": \"in\", "
                                "\"value\": \"$ports\"}");
    char *base_rule2 = rule_json("base-other", "server",
                                 "\"expect\": {\"path\": \"server.port\", \"op\": \"exists\"}");
    char *both = mf_asprintf("%s, %s", base_rule, base_rule2);
    char *base = policy_json("{\"ports\": {\"default\": [587], \"description\": \"d\"}}", both);
    const char *top =
        "{\"schema\": \"mailfleet.policy.v1\", \"id\": \"top\", \"title\": \"T\", \"version\": "
        "\"2\", \"parameters\": {\"mine\": {\"default\": [25, 2525], \"description\": \"d\"}}, "
        "\"include\": [{\"path\": \"base.json\", \"parameters\": {\"ports\": \"$mine\", "
        "\"$comment\": \"ours\"}, "
        "\"exclude\": [\"base-other\"]}], \"rules\": []}";
    memfile files[] = {{"/etc/mf/top.json", top}, {"/etc/mf/base.json", base}};
    memfs fs = {files, MF_ARRAY_LEN(files), 0};
    mf_policy_loader loader = {mem_read, &fs};
    mf_policy *p = NULL;
    mf_error err;
    if (mf_policy_load_with(&p, "/etc/mf/top.json", &loader, &err) != MF_OK) {
        char msg[1024];
        print_error("%s\n", mf_error_format(&err, msg, sizeof(msg)));
        fail();
    }
    assert_string_equal(p->id, "top");
    assert_string_equal(p->version, "2");
    assert_int_equal(p->nfiles, 2);
    assert_string_equal(p->files[1].path, "/etc/mf/base.json");
    assert_int_equal(p->nrules, 1); /* base-other excluded */
    assert_string_equal(p->rules[0].id, "base-port");
    assert_int_equal(p->rules[0].file, 1);
    const json_t *v = p->rules[0].expect->value;
    assert_int_equal(json_array_size(v), 2);
    assert_int_equal(json_integer_value(json_array_get(v, 0)), 25);
    mf_policy_free(p);

    /* An override of a parameter the included file lacks, of the wrong kind; an exclude
     * naming no rule; a missing file. */
    static const struct {
        const char *include;
        const char *field;
        const char *fragment;
    } bad[] = {
        {"{\"path\": \"base.json\", \"parameters\": {\"port\": [1]}}", "include[0].parameters.port",
         "has no parameter \"port\""},
        {"{\"path\": \"base.json\", \"parameters\": {\"ports\": 1}}", "include[0].parameters.ports",
         "is a number, but the parameter's default is a list"},
        {"{\"path\": \"base.json\", \"parameters\": {\"ports\": [\"a\"]}}",
         "include[0].parameters.ports", "list of a string items"},
        {"{\"path\": \"base.json\", \"exclude\": [\"base-none\"]}", "include[0].exclude[0]",
         "has no rule \"base-none\""},
        {"\"missing.json\"", "include[0]", "cannot read included policy \"/etc/mf/missing.json\""},
        {"{\"path\": \"base.json\", \"colour\": 1}", "include[0].colour", "unknown member"},
        {"[\"base.json\"]", "include[0]", "must be a file name"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        char *t = mf_asprintf("{\"schema\": \"mailfleet.policy.v1\", \"id\": \"top\", \"title\": "
                              "\"T\", \"version\": \"1\", \"include\": [%s], \"rules\": []}",
                              bad[i].include);
        memfile f2[] = {{"/etc/mf/top.json", t}, {"/etc/mf/base.json", base}};
        memfs fs2 = {f2, 2, 0};
        mf_policy_loader l2 = {mem_read, &fs2};
        mf_code rc = mf_policy_load_with(&p, "/etc/mf/top.json", &l2, &err);
        if (rc == MF_OK || strcmp(err.field, bad[i].field) != 0 ||
            !strstr(err.text, bad[i].fragment) || strcmp(err.file, "/etc/mf/top.json") != 0) {
            print_error("case %zu: rc %d file %s field \"%s\" text \"%s\"\n", i, rc, err.file,
                        err.field, err.text);
            fail();
        }
        free(t);
    }
    /* Rule ids are unique across files: including the base twice. */
    const char *twice = "{\"schema\": \"mailfleet.policy.v1\", \"id\": \"top\", \"title\": \"T\", "
                        "\"version\": \"1\", \"include\": [\"base.json\", \"sub/../base.json\"], "
                        "\"rules\": []}";
    memfile f3[] = {{"/etc/mf/top.json", twice},
                    {"/etc/mf/base.json", base},
                    {"/etc/mf/sub/../base.json", base}};
    memfs fs3 = {f3, 3, 0};
    mf_policy_loader l3 = {mem_read, &fs3};
    assert_int_not_equal(mf_policy_load_with(&p, "/etc/mf/top.json", &l3, &err), MF_OK);
    assert_non_null(strstr(err.text, "duplicate rule id \"base-port\""));
    free(base);
    free(both);
    free(base_rule);
    free(base_rule2);
}

static void test_include_cycle_and_depth(void **state)
{
    (void)state;
    const char *a = "{\"schema\": \"mailfleet.policy.v1\", \"id\": \"a\", \"title\": \"T\", "
                    "\"version\": \"1\", \"include\": [\"b.json\"], \"rules\": []}";
    const char *b = "{\"schema\": \"mailfleet.policy.v1\", \"id\": \"b\", \"title\": \"T\", "
                    "\"version\": \"1\", \"include\": [\"a.json\"], \"rules\": []}";
    memfile files[] = {{"a.json", a}, {"b.json", b}};
    memfs fs = {files, 2, 0};
    mf_policy_loader loader = {mem_read, &fs};
    mf_policy *p = NULL;
    mf_error err;
    assert_int_equal(mf_policy_load_with(&p, "a.json", &loader, &err), MF_ERR_INVALID);
    assert_non_null(strstr(err.text, "include cycle: a.json -> b.json -> a.json"));
    assert_string_equal(err.file, "b.json");
    assert_string_equal(err.field, "include[0]");

    /* A file that includes itself under ever new names: bounded by the depth cap. */
    memfile chain[MF_POLICY_MAX_INCLUDE_DEPTH + 4];
    char *texts[MF_POLICY_MAX_INCLUDE_DEPTH + 4];
    char names[MF_POLICY_MAX_INCLUDE_DEPTH + 4][16];
    for (int i = 0; i < MF_POLICY_MAX_INCLUDE_DEPTH + 4; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d.json", i);
        texts[i] = mf_asprintf("{\"schema\": \"mailfleet.policy.v1\", \"id\": \"f%d\", "
                               "\"title\": \"T\", \"version\": \"1\", \"include\": "
                               "[\"f%d.json\"], \"rules\": []}",
                               i, i + 1);
        chain[i].name = names[i];
        chain[i].text = texts[i];
    }
    memfs cfs = {chain, MF_ARRAY_LEN(chain), 0};
    mf_policy_loader cl = {mem_read, &cfs};
    assert_int_equal(mf_policy_load_with(&p, "f0.json", &cl, &err), MF_ERR_TOOBIG);
    assert_non_null(strstr(err.text, "nested more than"));
    assert_true(cfs.reads <= MF_POLICY_MAX_INCLUDE_DEPTH + 1);
    /* A chain within the cap loads (depth 8: f0 includes f1 ... f8). */
    char *last = mf_asprintf("{\"schema\": \"mailfleet.policy.v1\", \"id\": \"f%d\", "
                             "\"title\": \"T\", \"version\": \"1\", \"rules\": []}",
                             MF_POLICY_MAX_INCLUDE_DEPTH);
    chain[MF_POLICY_MAX_INCLUDE_DEPTH].text = last;
    assert_int_equal(mf_policy_load_with(&p, "f0.json", &cl, &err), MF_OK);
    assert_int_equal(p->nfiles, MF_POLICY_MAX_INCLUDE_DEPTH + 1);
    mf_policy_free(p);
    free(last);
    for (int i = 0; i < MF_POLICY_MAX_INCLUDE_DEPTH + 4; i++)
        free(texts[i]);
}

static void test_regex_guards(void **state)
{
    (void)state;
    regex_t re;
    char why[200];
    assert_true(mf_regex_compile(&re, "^smtp[0-9]*\\.example\\.com$", why, sizeof(why)));
    regfree(&re);
    assert_false(mf_regex_compile(&re, "^(a+)+\\1$", why, sizeof(why)));
    assert_non_null(strstr(why, "back-references"));
    assert_false(mf_regex_compile(&re, "", why, sizeof(why)));
    char longpat[MF_POLICY_PATTERN_MAX + 2];
    memset(longpat, 'a', sizeof(longpat) - 1);
    longpat[sizeof(longpat) - 1] = '\0';
    assert_false(mf_regex_compile(&re, longpat, why, sizeof(why)));
    assert_non_null(strstr(why, "longer than"));
    assert_false(mf_regex_compile(&re, "((a{50}){50}){50}", why, sizeof(why)));
    assert_non_null(strstr(why, "expand"));
    assert_false(mf_regex_compile(&re, "a{30000}", why, sizeof(why)));
    assert_true(mf_regex_compile(&re, "^[a-z]{1,63}$", why, sizeof(why)));
    regfree(&re);
    /* Inside brackets a backslash is literal, so [\\1] is not a back-reference. */
    assert_true(mf_regex_compile(&re, "[[:digit:]]{2}", why, sizeof(why)));
    regfree(&re);
    assert_false(mf_regex_compile(&re, "([a-z]", why, sizeof(why))); /* regcomp's own error */
    refused("server",
            "\"expect\": {\"path\": \"server.hostname\", \"op\": \"regex\", \"value\": "
            "[\"^ok$\", \"(x)\\\\1\"]}",
            NULL, "rules[0].expect.value[1]", "back-references");
    refused("server",
            "\"expect\": {\"path\": \"server.hostname\", \"op\": \"glob\", \"value\": \"smtp[.x\"}",
            NULL, "rules[0].expect.value", "not closed");
}

/* Hostile shapes stay bounded: depth, nodes, list lengths. */
static void test_hostile_bounds(void **state)
{
    (void)state;
    /* 40 nested nots */
    mf_buf b;
    mf_buf_init(&b, 1 << 20);
    mf_buf_append_str(&b, "\"expect\": ");
    for (int i = 0; i < 40; i++)
        mf_buf_append_str(&b, "{\"not\": ");
    mf_buf_append_str(&b, "{\"path\": \"server.port\", \"op\": \"exists\"}");
    for (int i = 0; i < 40; i++)
        mf_buf_append_str(&b, "}");
    refused("server", b.data, NULL, "rules[0].expect.not", "nested more than 16 deep");
    mf_buf_reset(&b);
    /* 300 leaves in one all */
    mf_buf_append_str(&b, "\"expect\": {\"all\": [");
    for (int i = 0; i < 300; i++)
        mf_buf_appendf(&b, "%s{\"path\": \"server.port\", \"op\": \"exists\"}", i ? "," : "");
    mf_buf_append_str(&b, "]}");
    refused("server", b.data, NULL, "rules[0].expect.all", "has 300 conditions");
    mf_buf_reset(&b);
    /* 200 + 200 leaves: over the node cap of the rule */
    mf_buf_append_str(&b, "\"when\": {\"any\": [");
    for (int i = 0; i < 200; i++)
        mf_buf_appendf(&b, "%s{\"path\": \"server.port\", \"op\": \"exists\"}", i ? "," : "");
    mf_buf_append_str(&b, "]}, \"expect\": {\"any\": [");
    for (int i = 0; i < 200; i++)
        mf_buf_appendf(&b, "%s{\"path\": \"server.port\", \"op\": \"exists\"}", i ? "," : "");
    mf_buf_append_str(&b, "]}");
    refused("server", b.data, NULL, "rules[0].expect.any", "more than 256 condition nodes");
    mf_buf_reset(&b);
    /* a value list over the cap */
    mf_buf_append_str(&b, "\"expect\": {\"path\": \"server.port\", \"op\": \"in\", \"value\": [");
    for (int i = 0; i < MF_POLICY_MAX_LIST + 1; i++)
        mf_buf_appendf(&b, "%s%d", i ? "," : "", i);
    mf_buf_append_str(&b, "]}");
    refused("server", b.data, NULL, "rules[0].expect.value", "the limit is 1000");
    mf_buf_free(&b);

    /* too many rules */
    mf_buf_init(&b, 4 << 20);
    for (int i = 0; i < MF_POLICY_MAX_RULES + 1; i++) {
        char id[16];
        snprintf(id, sizeof(id), "r%d", i);
        char *r = rule_json(id, "host", "\"expect\": {\"path\": \"host.id\", \"op\": \"exists\"}");
        mf_buf_appendf(&b, "%s%s", i ? "," : "", r);
        free(r);
    }
    char *pol = policy_json(NULL, b.data);
    mf_policy *p = NULL;
    mf_error err;
    assert_int_equal(parse(pol, &p, &err), MF_ERR_TOOBIG);
    free(pol);
    mf_buf_free(&b);
    /* An oversized document is refused before parsing. */
    assert_int_equal(mf_policy_parse(&p, "{}", MF_POLICY_MAX_BYTES + 1, "big.json", NULL, &err),
                     MF_ERR_TOOBIG);
}

/* The shipped policies load, with the rules and parameters the issue asks for. */
static void test_shipped_policies(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        size_t rules;
        bool fleet;
    } shipped[] = {
        {"baseline.json", 13, false},
        {"icloud.json", 5, false},
        {"stale-servers.json", 5, true},
        {"approved-servers.example.json", 23, true},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(shipped); i++) {
        char *path = mf_asprintf("%s/policies/%s", source_dir(), shipped[i].file);
        mf_policy *p = NULL;
        mf_error err;
        if (mf_policy_load(&p, path, &err) != MF_OK) {
            char msg[1024];
            print_error("%s\n", mf_error_format(&err, msg, sizeof(msg)));
            fail();
        }
        assert_int_equal(p->nrules, shipped[i].rules);
        assert_int_equal(p->has_fleet_rules, shipped[i].fleet);
        for (size_t k = 0; k < p->nrules; k++) {
            assert_true(p->rules[k].references.n > 0);
            assert_true(p->rules[k].tags.n > 0);
        }
        if (strcmp(shipped[i].file, "approved-servers.example.json") == 0) {
            assert_int_equal(p->nfiles, 4);
            const mf_rule *r = mf_policy_find_rule(p, "cert-days-left");
            assert_non_null(r);
            assert_int_equal(json_integer_value(r->expect->value), 30);
            r = mf_policy_find_rule(p, "stale-rare-unapproved");
            assert_non_null(r);
        }
        if (strcmp(shipped[i].file, "baseline.json") == 0) {
            json_t *params = p->files[0].parameters;
            assert_int_equal(json_integer_value(json_object_get(params, "min_cert_days")), 21);
            assert_non_null(json_object_get(params, "max_servers_per_user"));
        }
        mf_policy_free(p);
        free(path);
    }
    mf_policy *p = NULL;
    mf_error err;
    assert_int_equal(mf_policy_load(&p, "/nonexistent/policy.json", &err), MF_ERR_NOTFOUND);
    assert_string_equal(err.file, "/nonexistent/policy.json");
}

static void test_names(void **state)
{
    (void)state;
    mf_severity s;
    assert_true(mf_severity_parse("critical", &s));
    assert_int_equal(s, MF_SEV_CRITICAL);
    assert_false(mf_severity_parse("CRITICAL", &s));
    assert_false(mf_severity_parse(NULL, &s));
    mf_scope sc;
    assert_true(mf_scope_parse("fleet-server", &sc));
    assert_int_equal(sc, MF_SCOPE_FLEET_SERVER);
    assert_string_equal(mf_scope_name(MF_SCOPE_ACCOUNT), "account");
    mf_op op;
    for (int i = 0; i < MF_OP__COUNT; i++) {
        assert_true(mf_op_parse(mf_op_name((mf_op)i), &op));
        assert_int_equal(op, i);
    }
    assert_string_equal(mf_op_name(MF_OP__COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_policy),
        cmocka_unit_test(test_top_level_errors),
        cmocka_unit_test(test_syntax_error_position),
        cmocka_unit_test(test_rule_errors),
        cmocka_unit_test(test_condition_errors),
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_includes),
        cmocka_unit_test(test_include_cycle_and_depth),
        cmocka_unit_test(test_regex_guards),
        cmocka_unit_test(test_hostile_bounds),
        cmocka_unit_test(test_shipped_policies),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
