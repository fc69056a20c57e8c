/* test_policy_waivers.c: collector/waivers.c — the strict waivers reader (file, position
 * and reason for every malformed file), dates, expiry at the end of the expiry day,
 * unknown rules, and matching on rule, host and server patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "policy.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mf_policy *two_rules(void)
{
    const char *text =
        "{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"T\", \"version\": "
        "\"1\", \"rules\": [{\"id\": \"tls-required\", \"title\": \"t\", \"severity\": "
        "\"high\", \"scope\": \"server\", \"expect\": {\"path\": \"server.port\", \"op\": "
        "\"exists\"}, \"description\": \"d\", \"rationale\": \"r\", \"remediation\": {\"user\": "
        "\"u\", \"admin\": \"a\"}}, {\"id\": \"stale-unused\", \"title\": \"t\", \"severity\": "
        "\"low\", \"scope\": \"fleet-server\", \"expect\": {\"path\": \"fleet_server.used\", "
        "\"op\": \"eq\", \"value\": true}, \"description\": \"d\", \"rationale\": \"r\", "
        "\"remediation\": {\"user\": \"u\", \"admin\": \"a\"}}]}";
    mf_policy *p = NULL;
    assert_int_equal(mf_policy_parse(&p, text, strlen(text), "p.json", NULL, NULL), MF_OK);
    return p;
}

static mf_waivers *parse_ok(const char *text)
{
    mf_waivers *w = NULL;
    mf_error err;
    if (mf_waivers_parse(&w, text, strlen(text), "w.json", &err) != MF_OK) {
        char msg[1024];
        print_error("refused: %s\n", mf_error_format(&err, msg, sizeof(msg)));
        fail();
    }
    return w;
}

static void test_parse_valid(void **state)
{
    (void)state;
    mf_waivers *w = parse_ok(
        "{\"$comment\": \"reviewed quarterly\", \"waivers\": [{\"rule\": \"tls-required\", "
        "\"host\": \"C02*\", \"server\": \"smtp.old.example\", \"justification\": \"scanner\", "
        "\"approved_by\": \"ciso@example.com\", \"expires\": \"2027-03-31\"}, {\"rule\": "
        "\"stale-unused\", \"host\": \"*\", \"server\": \"*\", \"justification\": \"x\", "
        "\"expires\": \"2026-12-01\", \"$comment\": \"ticket 42\"}]}");
    assert_int_equal(w->n, 2);
    assert_string_equal(w->path, "w.json");
    assert_string_equal(w->v[0].rule, "tls-required");
    assert_string_equal(w->v[0].host, "C02*");
    assert_string_equal(w->v[0].approved_by, "ciso@example.com");
    assert_string_equal(w->v[0].expires, "2027-03-31");
    assert_null(w->v[1].approved_by);
    mf_waivers_free(w);
    w = parse_ok("{\"waivers\": []}");
    assert_int_equal(w->n, 0);
    mf_waivers_free(w);
}

static void test_parse_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *field;
        const char *fragment;
    } cases[] = {
        {"[]", "top level", "is an object {\"waivers\": [...]}, not an array"},
        {"{}", "waivers", "is required"},
        {"{\"waivers\": {}}", "waivers", "must be an array"},
        {"{\"waivers\": [], \"extra\": 1}", "extra", "unknown member"},
        {"{\"waivers\": [5]}", "waivers[0]", "must be an object"},
        {"{\"waivers\": [{\"host\": \"*\", \"server\": \"*\", \"justification\": \"j\", "
         "\"expires\": \"2027-01-01\"}]}",
         "waivers[0].rule", "is required"},
        {"{\"waivers\": [{\"rule\": \"r\", \"server\": \"*\", \"justification\": \"j\", "
         "\"expires\": \"2027-01-01\"}]}",
         "waivers[0].host", "is required"},
        {"{\"waivers\": [{\"rule\": \"r\", \"host\": \"*\", \"justification\": \"j\", "
         "\"expires\": \"2027-01-01\"}]}",
         "waivers[0].server", "is required"},
        {"{\"waivers\": [{\"rule\": \"r\", \"host\": \"*\", \"server\": \"*\", \"expires\": "
         "\"2027-01-01\"}]}",
         "waivers[0].justification", "is required"},
        {"{\"waivers\": [{\"rule\": \"r\", \"host\": \"*\", \"server\": \"*\", "
         "\"justification\": \"  \", \"expires\": \"2027-01-01\"}]}",
         "waivers[0].justification", "must not be empty"},
        {"{\"waivers\": [{\"rule\": \"r\", \"host\": \"*\", \"server\": \"*\", "
         "\"justification\": \"j\"}]}",
         "waivers[0].expires", "is required"},
        {"{\"waivers\": [{\"rule\": \"r\", \"host\": \"*\", \"server\": \"*\", "
         "\"justification\": \"j\", \"expires\": \"2027-02-29\"}]}",
         "waivers[0].expires", "not a date"},
        {"{\"waivers\": [{\"rule\": \"r\", \"host\": \"*\", \"server\": \"*\", "
         "\"justification\": \"j\", \"expires\": \"31/12/2027\"}]}",
         "waivers[0].expires", "YYYY-MM-DD"},
        {"{\"waivers\": [{\"rule\": \"r\", \"host\": \"*\", \"server\": \"*\", "
         "\"justification\": \"j\", \"expires\": 20270101}]}",
         "waivers[0].expires", "must be a string"},
        {"{\"waivers\": [{\"rule\": \"r\", \"host\": \"*\", \"server\": \"*\", "
         "\"justification\": \"j\", \"expires\": \"2027-01-01\", \"expire\": \"x\"}]}",
         "waivers[0].expire", "unknown member"},
        {"{\"waivers\": [{\"rule\": \"r\", \"host\": \"[a\", \"server\": \"*\", "
         "\"justification\": \"j\", \"expires\": \"2027-01-01\"}]}",
         "waivers[0].host", "not closed"},
        {"{\"waivers\": [{\"rule\": \"r\", \"host\": \"*\", \"server\": \"*\", "
         "\"justification\": \"j\\u0001\", \"expires\": \"2027-01-01\"}]}",
         "waivers[0].justification", "control characters"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        mf_waivers *w = NULL;
        mf_error err;
        mf_code rc = mf_waivers_parse(&w, cases[i].text, strlen(cases[i].text), "w.json", &err);
        if (rc == MF_OK || strcmp(err.field, cases[i].field) != 0 ||
            !strstr(err.text, cases[i].fragment) || strcmp(err.file, "w.json") != 0) {
            print_error("case %zu: rc %d field \"%s\" text \"%s\"\n", i, rc, err.field, err.text);
            mf_waivers_free(w);
            fail();
        }
        assert_null(w);
    }
    /* JSON syntax errors give the line and column; duplicate keys are refused. */
    mf_waivers *w = NULL;
    mf_error err;
    const char *syntax = "{\"waivers\": [\n  {\"rule\": \"r\",,\n]}";
    assert_int_equal(mf_waivers_parse(&w, syntax, strlen(syntax), "w.json", &err), MF_ERR_PARSE);
    assert_int_equal(err.line, 2);
    assert_true(err.column > 0);
    const char *dup = "{\"waivers\": [], \"waivers\": []}";
    assert_int_equal(mf_waivers_parse(&w, dup, strlen(dup), "w.json", &err), MF_ERR_PARSE);
    /* a missing file names it */
    assert_int_equal(mf_waivers_load(&w, "/nonexistent/waivers.json", &err), MF_ERR_NOTFOUND);
    assert_string_equal(err.file, "/nonexistent/waivers.json");
    /* too large */
    assert_int_equal(mf_waivers_parse(&w, "{}", MF_WAIVERS_MAX_BYTES + 1, "w.json", &err),
                     MF_ERR_TOOBIG);
}

static void test_dates(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(mf_date_parse("2026-11-30", &t), MF_OK);
    assert_int_equal(t, 1795996800);
    assert_int_equal(mf_date_parse("2024-02-29", &t), MF_OK);
    assert_int_not_equal(mf_date_parse("2026-02-29", &t), MF_OK);
    assert_int_not_equal(mf_date_parse("2026-13-01", &t), MF_OK);
    assert_int_not_equal(mf_date_parse("2026-1-01", &t), MF_OK);
    assert_int_not_equal(mf_date_parse("2026-11-30T00:00:00Z", &t), MF_OK);
    assert_int_not_equal(mf_date_parse("", &t), MF_OK);
    assert_int_not_equal(mf_date_parse(NULL, &t), MF_OK);
}

/* A waiver holds through its expiry day (UTC) and has expired the next day. */
static void test_expiry(void **state)
{
    (void)state;
    mf_policy *p = two_rules();
    mf_waivers *w = parse_ok("{\"waivers\": [{\"rule\": \"tls-required\", \"host\": \"*\", "
                             "\"server\": \"*\", \"justification\": \"j\", \"expires\": "
                             "\"2026-11-30\"}, {\"rule\": \"nope\", \"host\": \"*\", "
                             "\"server\": \"*\", \"justification\": \"j\", \"expires\": "
                             "\"2030-01-01\"}]}");
    int64_t day;
    assert_int_equal(mf_date_parse("2026-11-30", &day), MF_OK);
    mf_entity ent = {.label = "s1", .server = "a.example:587", .server_host = "a.example"};
    mf_waiver *expired;

    assert_int_equal(mf_waivers_bind(w, p, day + 86399, NULL), MF_OK);
    assert_int_equal(w->v[0].status, MF_WAIVER_ACTIVE);
    assert_int_equal(w->v[1].status, MF_WAIVER_UNKNOWN_RULE);
    assert_ptr_equal(mf_waivers_match(w, 0, "C1", "mac", &ent, &expired), &w->v[0]);
    assert_null(expired);

    assert_int_equal(mf_waivers_bind(w, p, day + 86400, NULL), MF_OK);
    assert_int_equal(w->v[0].status, MF_WAIVER_EXPIRED);
    assert_null(mf_waivers_match(w, 0, "C1", "mac", &ent, &expired));
    assert_ptr_equal(expired, &w->v[0]);
    assert_string_equal(mf_waiver_status_name(MF_WAIVER_EXPIRED), "expired");
    assert_string_equal(mf_waiver_status_name(MF_WAIVER_UNKNOWN_RULE), "unknown-rule");
    mf_waivers_free(w);
    mf_policy_free(p);
}

static void test_matching(void **state)
{
    (void)state;
    mf_policy *p = two_rules();
    mf_waivers *w = parse_ok(
        "{\"waivers\": ["
        "{\"rule\": \"tls-required\", \"host\": \"old-*\", \"server\": \"*.legacy.example\", "
        "\"justification\": \"j\", \"expires\": \"2000-01-01\"},"
        "{\"rule\": \"tls-required\", \"host\": \"C02AB*\", \"server\": "
        "\"smtp.legacy.example:25\", "
        "\"justification\": \"j\", \"expires\": \"2999-01-01\"},"
        "{\"rule\": \"tls-required\", \"host\": \"old-mac\", \"server\": \"*.legacy.example\", "
        "\"justification\": \"j\", \"expires\": \"2999-01-01\"},"
        "{\"rule\": \"stale-unused\", \"host\": \"*\", \"server\": \"provider:icloud\", "
        "\"justification\": \"j\", \"expires\": \"2999-01-01\"},"
        "{\"rule\": \"stale-unused\", \"host\": \"C02*\", \"server\": \"*\", "
        "\"justification\": \"j\", \"expires\": \"2999-01-01\"}]}");
    assert_int_equal(mf_waivers_bind(w, p, 1796083200, NULL), MF_OK);
    mf_waiver *expired;
    mf_entity legacy = {
        .label = "s1", .server = "smtp.legacy.example:25", .server_host = "smtp.legacy.example"};
    mf_entity other = {
        .label = "s2", .server = "smtp.example.com:587", .server_host = "smtp.example.com"};
    /* host by id, server by host:port */
    assert_ptr_equal(mf_waivers_match(w, 0, "C02AB1", "alice-mbp", &legacy, &expired), &w->v[1]);
    /* host by host name, server by host name; the expired first entry is passed over */
    assert_ptr_equal(mf_waivers_match(w, 0, "C03ZZ", "old-mac", &legacy, &expired), &w->v[2]);
    /* only the expired one matches */
    assert_null(mf_waivers_match(w, 0, "C03ZZ", "old-laptop", &legacy, &expired));
    assert_ptr_equal(expired, &w->v[0]);
    /* wrong server */
    assert_null(mf_waivers_match(w, 0, "C02AB1", "alice-mbp", &other, &expired));
    assert_null(expired);
    /* a waiver of another rule never applies */
    assert_ptr_equal(mf_waivers_match(w, 1, "C02AB1", "alice-mbp", &legacy, &expired), &w->v[4]);
    /* fleet-server results have no host: only a host pattern matching "" applies */
    mf_entity icloud = {
        .label = "provider:icloud", .server = "provider:icloud", .server_host = "provider:icloud"};
    assert_ptr_equal(mf_waivers_match(w, 1, NULL, NULL, &icloud, &expired), &w->v[3]);
    assert_null(mf_waivers_match(w, 1, NULL, NULL, &other, &expired));
    /* host-scope results have no server: only a server pattern matching "" applies */
    mf_entity host_only = {.label = "C02X"};
    assert_ptr_equal(mf_waivers_match(w, 1, "C02X", NULL, &host_only, &expired), &w->v[4]);
    assert_null(mf_waivers_match(w, 0, "C02AB1", NULL, &host_only, &expired));
    /* out of range rule index, NULL waivers */
    assert_null(mf_waivers_match(w, 99, "C02AB1", NULL, &legacy, &expired));
    assert_null(mf_waivers_match(NULL, 0, "C02AB1", NULL, &legacy, &expired));
    mf_waivers_free(w);
    mf_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid), cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_dates),       cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_matching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
