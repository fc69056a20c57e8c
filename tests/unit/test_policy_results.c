/* test_policy_results.c: collector/results.c — counting every state apart, the exit
 * code for each --fail-on level, sinks called in order, the JSON writer (valid JSON even
 * from hostile strings, all sections), and the text summary; plus the evaluation
 * drivers feeding results (waivers applied, fleet results without a host). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "fileio.h"
#include "report_json.h"
#include "results.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rules: r-info, r-low, r-medium, r-high, r-critical, one of each severity. */
static mf_policy *five_rules(void)
{
    static const char *const sev[] = {"info", "low", "medium", "high", "critical"};
    mf_buf b;
    mf_buf_init(&b, 1 << 16);
    mf_buf_append_str(&b, "{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": "
                          "\"T\", \"version\": \"7\", \"rules\": [");
    for (int i = 0; i < 5; i++)
        mf_buf_appendf(&b,
                       "%s{\"id\": \"r-%s\", \"title\": \"t\", \"severity\": \"%s\", "
                       "\"scope\": \"server\", \"expect\": {\"path\": \"server.port\", "
                       "\"op\": \"eq\", \"value\": 587}, \"description\": \"d\", "
                       "\"rationale\": \"r\", \"remediation\": {\"user\": \"do U\", "
                       "\"admin\": \"do A\"}}",
                       i ? "," : "", sev[i], sev[i]);
    mf_buf_append_str(&b, "]}");
    mf_policy *p = NULL;
    assert_int_equal(mf_policy_parse(&p, b.data, b.len, "p.json", NULL, NULL), MF_OK);
    mf_buf_free(&b);
    return p;
}

static mf_results *new_results(const mf_policy *p, mf_severity fail_on)
{
    mf_run_info info = {
        .command = "check", .source = "test", .as_of = 1796083200, .fail_on = fail_on};
    mf_results *rs = NULL;
    assert_int_equal(mf_results_new(&rs, p, NULL, &info), MF_OK);
    return rs;
}

static void add(mf_results *rs, const mf_policy *p, size_t rule, mf_state st)
{
    mf_result r = {
        .rule = &p->rules[rule], .host_id = "C1", .entity = "s1", .state = st, .message = "m"};
    assert_int_equal(mf_results_add(rs, &r, NULL), MF_OK);
}

/* ------------------------------------------------------------------ exit codes */

static void test_exit_codes(void **state)
{
    (void)state;
    mf_policy *p = five_rules();
    /* a low fail and a high error */
    static const struct {
        mf_severity fail_on;
        int want;
    } table[] = {{MF_SEV_INFO, 100},
                 {MF_SEV_LOW, 100},
                 {MF_SEV_MEDIUM, 101},
                 {MF_SEV_HIGH, 101},
                 {MF_SEV_CRITICAL, 0}};
    for (size_t i = 0; i < MF_ARRAY_LEN(table); i++) {
        mf_results *rs = new_results(p, table[i].fail_on);
        add(rs, p, 1, MF_STATE_FAIL);
        add(rs, p, 3, MF_STATE_ERROR);
        add(rs, p, 4, MF_STATE_PASS);
        add(rs, p, 4, MF_STATE_WAIVED); /* waived never counts */
        add(rs, p, 4, MF_STATE_NOTAPPLICABLE);
        assert_int_equal(mf_results_exit_code(rs), table[i].want);
        mf_results_free(rs);
    }
    /* all five states counted apart, per rule too */
    mf_results *rs = new_results(p, MF_SEV_INFO);
    for (int s = 0; s < MF_STATE__COUNT; s++)
        for (int k = 0; k <= s; k++)
            add(rs, p, 2, (mf_state)s);
    for (int s = 0; s < MF_STATE__COUNT; s++) {
        assert_int_equal(mf_results_count(rs, (mf_state)s), (size_t)s + 1);
        assert_int_equal(mf_results_rule_count(rs, 2, (mf_state)s), (size_t)s + 1);
        assert_int_equal(mf_results_rule_count(rs, 1, (mf_state)s), 0);
    }
    assert_int_equal(mf_results_exit_code(rs), MF_EXIT_FAILED);
    /* an input that could not be evaluated makes it a runtime error */
    mf_results_input_error(rs, "bad.json", "invalid JSON");
    assert_int_equal(mf_results_exit_code(rs), MF_EXIT_RUNTIME);
    mf_results_free(rs);
    /* nothing at all: compliant */
    rs = new_results(p, MF_SEV_INFO);
    assert_int_equal(mf_results_exit_code(rs), MF_EXIT_COMPLIANT);
    mf_results_free(rs);
    mf_policy_free(p);
}

/* ------------------------------------------------------------------ sinks */

typedef struct calls {
    char log[256];
} calls;

static mf_code c_begin(void *ctx, const mf_results *rs, mf_error *err)
{
    (void)rs;
    (void)err;
    mf_strlcpy(((calls *)ctx)->log + strlen(((calls *)ctx)->log), "B", 2);
    return MF_OK;
}

static mf_code c_add(void *ctx, const mf_results *rs, const mf_result *r, mf_error *err)
{
    (void)rs;
    (void)err;
    calls *c = ctx;
    size_t n = strlen(c->log);
    c->log[n] = r->state == MF_STATE_FAIL ? 'F' : 'P';
    c->log[n + 1] = '\0';
    return MF_OK;
}

static mf_code c_end(void *ctx, const mf_results *rs, mf_error *err)
{
    (void)err;
    calls *c = ctx;
    /* counts are final when end is called */
    assert_int_equal(mf_results_count(rs, MF_STATE_FAIL), 1);
    mf_strlcpy(c->log + strlen(c->log), "E", 2);
    return MF_OK;
}

static void test_sink_order(void **state)
{
    (void)state;
    mf_policy *p = five_rules();
    mf_results *rs = new_results(p, MF_SEV_INFO);
    calls c = {.log = ""};
    mf_results_sink s = {.name = "test", .ctx = &c, .begin = c_begin, .add = c_add, .end = c_end};
    assert_int_equal(mf_results_add_sink(rs, &s), MF_OK);
    assert_int_equal(mf_results_begin(rs, NULL), MF_OK);
    add(rs, p, 0, MF_STATE_PASS);
    add(rs, p, 0, MF_STATE_FAIL);
    assert_int_equal(mf_results_end(rs, NULL), MF_OK);
    assert_string_equal(c.log, "BPFE");
    mf_results_free(rs);
    mf_policy_free(p);
}

static void test_json_writer(void **state)
{
    (void)state;
    mf_policy *p = five_rules();
    const char *wtext = "{\"waivers\": [{\"rule\": \"r-low\", \"host\": \"*\", \"server\": \"*\", "
                        "\"justification\": \"why \\\"not\\\"\", \"expires\": \"2000-01-01\"}]}";
    mf_waivers *w = NULL;
    assert_int_equal(mf_waivers_parse(&w, wtext, strlen(wtext), "w.json", NULL), MF_OK);
    assert_int_equal(mf_waivers_bind(w, p, 1796083200, NULL), MF_OK);
    mf_run_info info = {
        .command = "report", .source = "store x.db", .as_of = 1796083200, .fail_on = MF_SEV_MEDIUM};
    mf_results *rs = NULL;
    assert_int_equal(mf_results_new(&rs, p, w, &info), MF_OK);
    char path[] = "/tmp/test_policy_results.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    mf_results_sink s;
    assert_int_equal(mf_results_json_sink(&s, path, NULL), MF_OK);
    assert_int_equal(mf_results_add_sink(rs, &s), MF_OK);
    assert_int_equal(mf_results_begin(rs, NULL), MF_OK);
    /* hostile strings: invalid UTF-8, control characters, quotes */
    mf_result r = {.rule = &p->rules[1],
                   .host_id = "C1\"x",
                   .hostname = "bad\xff\xfe",
                   .entity = "s1 \x01\n",
                   .server = "a.example:25",
                   .state = MF_STATE_FAIL,
                   .message = "m\xc3",
                   .expired = &w->v[0],
                   .waiver_index = 0};
    assert_int_equal(mf_results_add(rs, &r, NULL), MF_OK);
    mf_result fleet = {.rule = &p->rules[4],
                       .entity = "a.example:25",
                       .server = "a.example:25",
                       .state = MF_STATE_PASS,
                       .message = "ok"};
    assert_int_equal(mf_results_add(rs, &fleet, NULL), MF_OK);
    mf_results_input_ok(rs);
    mf_results_input_skipped(rs);
    mf_results_input_error(rs, "broken.json", "invalid JSON at 1:2");
    mf_results_warn(rs, "a warning");
    assert_int_equal(mf_results_end(rs, NULL), MF_OK);

    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        print_error("not valid JSON: %s at %d:%d\n", je.text, je.line, je.column);
        fail();
    }
    assert_string_equal(json_string_value(json_object_get(doc, "schema")), "mailfleet.results.v1");
    assert_string_equal(json_string_value(json_object_get(doc, "command")), "report");
    assert_string_equal(json_string_value(json_object_get(doc, "as_of")), "2026-12-01T00:00:00Z");
    assert_string_equal(json_string_value(json_object_get(doc, "fail_on")), "medium");
    json_t *pol = json_object_get(doc, "policy");
    assert_string_equal(json_string_value(json_object_get(pol, "version")), "7");
    json_t *results = json_object_get(doc, "results");
    assert_int_equal(json_array_size(results), 2);
    json_t *r0 = json_array_get(results, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "host")), "C1\"x");
    assert_string_equal(json_string_value(json_object_get(r0, "hostname")),
                        "bad\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(r0, "entity")), "s1 \x01\n");
    assert_string_equal(json_string_value(json_object_get(r0, "state")), "fail");
    assert_string_equal(json_string_value(json_object_get(r0, "severity")), "low");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r0, "remediation"), "admin")), "do A");
    json_t *wv = json_object_get(r0, "waiver");
    assert_true(json_is_true(json_object_get(wv, "expired")));
    assert_string_equal(json_string_value(json_object_get(wv, "justification")), "why \"not\"");
    json_t *r1 = json_array_get(results, 1);
    assert_true(json_is_null(json_object_get(r1, "host")));
    assert_null(json_object_get(r1, "remediation")); /* only failed results carry it */
    json_t *sum = json_object_get(doc, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "fail")), 1);
    assert_int_equal(json_integer_value(json_object_get(sum, "pass")), 1);
    assert_int_equal(json_integer_value(json_object_get(sum, "error")), 0);
    assert_int_equal(json_integer_value(json_object_get(sum, "notapplicable")), 0);
    assert_int_equal(json_integer_value(json_object_get(sum, "waived")), 0);
    assert_int_equal(json_integer_value(json_object_get(sum, "failed_at_or_above")), 0);
    assert_int_equal(json_integer_value(json_object_get(sum, "exit_code")), 1);
    json_t *rules = json_object_get(doc, "rules");
    assert_int_equal(json_array_size(rules), 5);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(rules, 1), "counts"), "fail")),
                     1);
    json_t *we = json_array_get(json_object_get(json_object_get(doc, "waivers"), "entries"), 0);
    assert_string_equal(json_string_value(json_object_get(we, "status")), "expired");
    json_t *in = json_object_get(doc, "inputs");
    assert_int_equal(json_integer_value(json_object_get(in, "reports")), 1);
    assert_int_equal(json_integer_value(json_object_get(in, "skipped_older")), 1);
    assert_int_equal(json_integer_value(json_object_get(in, "failed")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(in, "errors"), 0), "file")),
                        "broken.json");
    assert_int_equal(json_array_size(json_object_get(doc, "warnings")), 1);
    json_decref(doc);

    /* the text summary names the rules and the totals */
    FILE *tf = tmpfile();
    mf_results_print_summary(rs, tf);
    rewind(tf);
    char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, tf);
    text[n] = '\0';
    fclose(tf);
    assert_non_null(strstr(text, "r-critical"));
    assert_non_null(strstr(text, "pass 1, fail 1, error 0, notapplicable 0, waived 0"));
    assert_non_null(strstr(text, "expired on 2000-01-01"));
    assert_non_null(strstr(text, "broken.json: invalid JSON at 1:2"));
    assert_non_null(strstr(text, "exit 1"));

    mf_results_free(rs);
    mf_waivers_free(w);
    mf_policy_free(p);
    unlink(path);

    /* an unwritable path fails when the sink is made, before any evaluation */
    mf_error err;
    assert_int_not_equal(mf_results_json_sink(&s, "/nonexistent/dir/out.json", &err), MF_OK);
    assert_string_equal(err.file, "/nonexistent/dir/out.json");
}

/* ------------------------------------------------------------------ drivers */

typedef struct collected {
    char lines[32][160];
    size_t n;
} collected;

static mf_code k_add(void *ctx, const mf_results *rs, const mf_result *r, mf_error *err)
{
    (void)rs;
    (void)err;
    collected *c = ctx;
    if (c->n < 32)
        snprintf(c->lines[c->n++], 160, "%s|%s|%s|%s", r->rule->id, r->host_id ? r->host_id : "-",
                 r->entity, mf_state_name(r->state));
    return MF_OK;
}

static void test_drivers(void **state)
{
    (void)state;
    const char *ptext =
        "{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"T\", \"version\": "
        "\"1\", \"rules\": [{\"id\": \"port\", \"title\": \"t\", \"severity\": \"high\", "
        "\"scope\": \"server\", \"expect\": {\"path\": \"server.port\", \"op\": \"eq\", "
        "\"value\": 587}, \"description\": \"d\", \"rationale\": \"r\", \"remediation\": "
        "{\"user\": \"u\", \"admin\": \"a\"}}, {\"id\": \"used\", \"title\": \"t\", "
        "\"severity\": \"low\", \"scope\": \"fleet-server\", \"expect\": {\"path\": "
        "\"fleet_server.used\", \"op\": \"eq\", \"value\": true}, \"description\": \"d\", "
        "\"rationale\": \"r\", \"remediation\": {\"user\": \"u\", \"admin\": \"a\"}}]}";
    mf_policy *p = NULL;
    assert_int_equal(mf_policy_parse(&p, ptext, strlen(ptext), "p.json", NULL, NULL), MF_OK);
    const char *wtext = "{\"waivers\": [{\"rule\": \"port\", \"host\": \"*\", \"server\": "
                        "\"old.example:*\", \"justification\": \"j\", \"expires\": "
                        "\"2999-01-01\"}]}";
    mf_waivers *w = NULL;
    assert_int_equal(mf_waivers_parse(&w, wtext, strlen(wtext), "w.json", NULL), MF_OK);
    assert_int_equal(mf_waivers_bind(w, p, 1796083200, NULL), MF_OK);
    const char *rtext =
        "{\"schema\": \"mailfleet.report.v1\", \"report_id\": "
        "\"00000000-0000-4000-8000-000000000001\", \"collected_at\": \"2026-11-29T10:00:00Z\", "
        "\"agent\": {\"version\": \"0.1.0\"}, \"host\": {\"id\": \"C1\", \"hostname\": null, "
        "\"os\": {\"name\": null, \"version\": null}}, \"sources\": [], \"servers\": ["
        "{\"id\": \"s1\", \"client\": \"apple-mail\", \"hostname\": \"a.example\", \"port\": 587, "
        "\"security\": \"tls\", \"auth\": \"password\", \"flags\": [\"unused\"]},"
        "{\"id\": \"s2\", \"client\": \"apple-mail\", \"hostname\": \"old.example\", \"port\": 25, "
        "\"security\": \"tls\", \"auth\": \"password\", \"flags\": [\"unused\", \"port-25\"]}], "
        "\"accounts\": [], \"probes\": []}";
    mf_report *r = NULL;
    assert_int_equal(mf_report_decode(&r, rtext, strlen(rtext), NULL), MF_OK);
    mf_results *rs = new_results(p, MF_SEV_INFO);
    collected c = {.n = 0};
    mf_results_sink s = {.name = "k", .ctx = &c, .add = k_add};
    assert_int_equal(mf_results_add_sink(rs, &s), MF_OK);
    mf_fleet *f = NULL;
    assert_int_equal(mf_fleet_new(&f, 0), MF_OK);
    mf_eval_opts opts = {.as_of = 1796083200};
    assert_int_equal(mf_results_begin(rs, NULL), MF_OK);
    assert_int_equal(mf_policy_eval_report(p, r, w, rs, &opts, NULL), MF_OK);
    assert_int_equal(mf_fleet_add_history(f, r, NULL), MF_OK);
    assert_int_equal(mf_fleet_add_latest(f, r, NULL), MF_OK);
    assert_int_equal(mf_policy_eval_fleet(p, f, w, rs, &opts, NULL), MF_OK);
    assert_int_equal(mf_results_end(rs, NULL), MF_OK);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.lines[0], "port|C1|s1 a.example:587 (-, apple-mail)|pass");
    assert_string_equal(c.lines[1], "port|C1|s2 old.example:25 (-, apple-mail)|waived");
    assert_string_equal(c.lines[2], "used|-|a.example:587|fail");
    assert_string_equal(c.lines[3], "used|-|old.example:25|fail");
    assert_int_equal(w->v[0].matched, 1);

    /* --dump-facts: one JSON line per entity, with the facts */
    FILE *tf = tmpfile();
    opts.dump_facts = tf;
    assert_int_equal(mf_policy_eval_report(p, r, NULL, rs, &opts, NULL), MF_OK);
    rewind(tf);
    char line[16384];
    size_t lines = 0;
    bool saw_server = false;
    while (fgets(line, sizeof(line), tf)) {
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        if (strcmp(json_string_value(json_object_get(o, "scope")), "server") == 0) {
            json_t *facts = json_object_get(o, "facts");
            /* all facts, not just the policy's: security is there too */
            assert_non_null(json_object_get(json_object_get(facts, "server"), "security"));
            assert_non_null(json_object_get(json_object_get(facts, "_unknown"), "probe"));
            saw_server = true;
        }
        json_decref(o);
        lines++;
    }
    fclose(tf);
    assert_int_equal(lines, 3); /* host + two servers */
    assert_true(saw_server);

    mf_fleet_free(f);
    mf_results_free(rs);
    mf_report_free(r);
    mf_waivers_free(w);
    mf_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_sink_order),
        cmocka_unit_test(test_json_writer),
        cmocka_unit_test(test_drivers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
