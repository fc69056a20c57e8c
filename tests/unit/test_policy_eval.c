/* test_policy_eval.c: collector/policy_eval.c — three-valued conditions, every operator
 * on values, null and unknown facts, rule states and their messages, and the pattern
 * matchers (our glob against fnmatch(3), bounded time on hostile patterns). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "policy.h"
#include "util.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ helpers */

/* A policy with one rule of scope with the given when (may be NULL) and expect. */
static mf_policy *one_rule(const char *scope, const char *when, const char *expect)
{
    char *text = mf_asprintf(
        "{\"schema\": \"mailfleet.policy.v1\", \"id\": \"p\", \"title\": \"T\", \"version\": "
        "\"1\", \"parameters\": {\"min\": {\"default\": 21, \"description\": \"d\"}}, "
        "\"rules\": [{\"id\": \"r\", \"title\": \"t\", \"severity\": \"high\", \"scope\": "
        "\"%s\", %s%s%s \"expect\": %s, \"description\": \"d\", \"rationale\": \"r\", "
        "\"remediation\": {\"user\": \"u\", \"admin\": \"a\"}}]}",
        scope, when ? "\"when\": " : "", when ? when : "", when ? "," : "", expect);
    mf_policy *p = NULL;
    mf_error err;
    if (mf_policy_parse(&p, text, strlen(text), "t.json", NULL, &err) != MF_OK) {
        char msg[1024];
        print_error("policy refused: %s\n%s\n", mf_error_format(&err, msg, sizeof(msg)), text);
        free(text);
        fail();
    }
    free(text);
    return p;
}

/* Facts from JSON text {"server": {...}, "probe": ...}: a root left out is unknown. */
typedef struct fx {
    json_t *doc;
    mf_facts facts;
} fx;

static void facts_from(fx *f, const char *text)
{
    json_error_t je;
    f->doc = json_loads(text, 0, &je);
    if (!f->doc) {
        print_error("bad facts JSON: %s\n", je.text);
        fail();
    }
    memset(&f->facts, 0, sizeof(f->facts));
    for (int r = 0; r < MF_ROOT__COUNT; r++) {
        f->facts.root[r] = json_object_get(f->doc, mf_fact_root_name((mf_fact_root)r));
        f->facts.why[r] = "the test left it out";
    }
}

/* Evaluate one expect condition against facts. */
static mf_tri ev(const char *scope, const char *expect, const char *facts)
{
    mf_policy *p = one_rule(scope, NULL, expect);
    fx f;
    facts_from(&f, facts);
    mf_tri r = mf_cond_eval(p->rules[0].expect, &f.facts, NULL);
    json_decref(f.doc);
    mf_policy_free(p);
    return r;
}

#define T MF_TRI_TRUE
#define F MF_TRI_FALSE
#define U MF_TRI_UNKNOWN

/* ------------------------------------------------------------------ operators */

static void test_operators_on_values(void **state)
{
    (void)state;
    static const struct {
        const char *expect;
        mf_tri want;
    } cases[] = {
        {"{\"path\": \"server.port\", \"op\": \"eq\", \"value\": 587}", T},
        {"{\"path\": \"server.port\", \"op\": \"eq\", \"value\": 587.0}", T},
        {"{\"path\": \"server.port\", \"op\": \"ne\", \"value\": 587}", F},
        {"{\"path\": \"server.port\", \"op\": \"in\", \"value\": [465, 587]}", T},
        {"{\"path\": \"server.port\", \"op\": \"in\", \"value\": []}", F},
        {"{\"path\": \"server.port\", \"op\": \"not_in\", \"value\": [25]}", T},
        {"{\"path\": \"server.port\", \"op\": \"lt\", \"value\": 587}", F},
        {"{\"path\": \"server.port\", \"op\": \"le\", \"value\": 587}", T},
        {"{\"path\": \"server.port\", \"op\": \"gt\", \"value\": 586.5}", T},
        {"{\"path\": \"server.port\", \"op\": \"ge\", \"value\": 588}", F},
        {"{\"path\": \"server.hostname\", \"op\": \"glob\", \"value\": \"*.example.com\"}", T},
        {"{\"path\": \"server.hostname\", \"op\": \"glob\", \"value\": [\"x\", \"smtp.*\"]}", T},
        {"{\"path\": \"server.hostname\", \"op\": \"glob\", \"value\": []}", F},
        {"{\"path\": \"server.hostname\", \"op\": \"glob\", \"value\": \"*.EXAMPLE.com\"}", F},
        {"{\"path\": \"server.hostname\", \"op\": \"regex\", \"value\": \"example\"}", T},
        {"{\"path\": \"server.hostname\", \"op\": \"regex\", \"value\": \"^example\"}", F},
        {"{\"path\": \"server.hostname\", \"op\": \"regex\", \"value\": [\"^x\", \"com$\"]}", T},
        {"{\"path\": \"server.hostname\", \"op\": \"contains\", \"value\": \"mple.c\"}", T},
        {"{\"path\": \"server.flags\", \"op\": \"contains\", \"value\": \"unused\"}", T},
        {"{\"path\": \"server.flags\", \"op\": \"contains\", \"value\": \"dup\"}", F},
        {"{\"path\": \"server.flags\", \"op\": \"glob\", \"value\": \"dup*\"}", T},
        {"{\"path\": \"server.flags\", \"op\": \"eq\", \"value\": [\"unused\", \"duplicate\"]}", T},
        {"{\"path\": \"server.flags\", \"op\": \"eq\", \"value\": [\"duplicate\", \"unused\"]}", F},
        {"{\"path\": \"server.used_by\", \"op\": \"eq\", \"value\": []}", T},
        {"{\"path\": \"server.unused\", \"op\": \"eq\", \"value\": true}", T},
        {"{\"path\": \"server.unused\", \"op\": \"in\", \"value\": [false]}", F},
        {"{\"path\": \"server.port\", \"op\": \"exists\"}", T},
        {"{\"path\": \"server.port\", \"op\": \"missing\"}", F},
        {"{\"path\": \"server.security\", \"op\": \"eq\", \"value\": \"$$starttls\"}", F},
        {"{\"path\": \"server.port\", \"op\": \"lt\", \"value\": \"$min\"}", F},
        /* the other outcome of every comparison, so that no operator passes by always
         * giving the same answer */
        {"{\"path\": \"server.port\", \"op\": \"ne\", \"value\": 25}", T},
        {"{\"path\": \"server.port\", \"op\": \"eq\", \"value\": 25}", F},
        {"{\"path\": \"server.port\", \"op\": \"in\", \"value\": [25, 465]}", F},
        {"{\"path\": \"server.port\", \"op\": \"not_in\", \"value\": [465, 587]}", F},
        {"{\"path\": \"server.port\", \"op\": \"lt\", \"value\": 588}", T},
        {"{\"path\": \"server.port\", \"op\": \"le\", \"value\": 586}", F},
        {"{\"path\": \"server.port\", \"op\": \"gt\", \"value\": 587}", F},
        {"{\"path\": \"server.port\", \"op\": \"ge\", \"value\": 587}", T},
        {"{\"path\": \"server.hostname\", \"op\": \"regex\", \"value\": [\"^x\", \"^y\"]}", F},
        {"{\"path\": \"server.hostname\", \"op\": \"contains\", \"value\": \"EXAMPLE\"}", F},
        {"{\"path\": \"server.hostname\", \"op\": \"in\", \"value\": [\"smtp.example.com\"]}", T},
        {"{\"path\": \"server.unused\", \"op\": \"ne\", \"value\": true}", F},
    };
    const char *facts = "{\"server\": {\"port\": 587, \"hostname\": \"smtp.example.com\", "
                        "\"flags\": [\"unused\", \"duplicate\"], \"used_by\": [], "
                        "\"unused\": true, \"security\": \"starttls\"}}";
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        mf_tri got = ev("server", cases[i].expect, facts);
        if (got != cases[i].want) {
            print_error("case %zu %s: got %d, want %d\n", i, cases[i].expect, got, cases[i].want);
            fail();
        }
    }
}

/* A null fact is known to be absent; an unknown one poisons every operator. */
static void test_null_and_unknown(void **state)
{
    (void)state;
    static const struct {
        const char *expect;
        mf_tri on_null;
        mf_tri on_unknown;
    } cases[] = {
        {"{\"path\": \"probe.tls.version\", \"op\": \"eq\", \"value\": \"TLSv1.3\"}", F, U},
        {"{\"path\": \"probe.tls.version\", \"op\": \"eq\", \"value\": null}", T, U},
        {"{\"path\": \"probe.tls.version\", \"op\": \"ne\", \"value\": \"TLSv1.3\"}", T, U},
        {"{\"path\": \"probe.tls.version\", \"op\": \"in\", \"value\": [\"TLSv1.3\"]}", F, U},
        {"{\"path\": \"probe.tls.version\", \"op\": \"in\", \"value\": [null]}", T, U},
        {"{\"path\": \"probe.tls.version\", \"op\": \"not_in\", \"value\": [\"TLSv1\"]}", T, U},
        {"{\"path\": \"probe.tls.cert.days_left\", \"op\": \"ge\", \"value\": 21}", F, U},
        {"{\"path\": \"probe.tls.cert.days_left\", \"op\": \"lt\", \"value\": 21}", F, U},
        {"{\"path\": \"probe.tls.version\", \"op\": \"glob\", \"value\": \"*\"}", F, U},
        {"{\"path\": \"probe.tls.version\", \"op\": \"regex\", \"value\": \".*\"}", F, U},
        {"{\"path\": \"probe.tls.cert.san\", \"op\": \"contains\", \"value\": \"x\"}", F, U},
        {"{\"path\": \"probe.tls.version\", \"op\": \"exists\"}", F, U},
        {"{\"path\": \"probe.tls.version\", \"op\": \"missing\"}", T, U},
        {"{\"path\": \"probe.tls\", \"op\": \"missing\"}", T, U},
        {"{\"not\": {\"path\": \"probe.tls\", \"op\": \"missing\"}}", F, U},
    };
    /* null: a plain-text probe; unknown: a probe that timed out before TLS */
    const char *null_facts = "{\"probe\": {\"outcome\": \"ok\", \"tls\": null}}";
    const char *unknown_facts = "{\"probe\": {\"outcome\": \"connect-timeout\", \"_why\": "
                                "\"the probe ended with connect-timeout\"}}";
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        mf_tri a = ev("probe", cases[i].expect, null_facts);
        mf_tri b = ev("probe", cases[i].expect, unknown_facts);
        if (a != cases[i].on_null || b != cases[i].on_unknown) {
            print_error("case %zu %s: null %d (want %d), unknown %d (want %d)\n", i,
                        cases[i].expect, a, cases[i].on_null, b, cases[i].on_unknown);
            fail();
        }
    }
    /* A whole root unknown (no probe at all) is unknown, with its reason. */
    mf_policy *p =
        one_rule("server", NULL, "{\"path\": \"probe.ok\", \"op\": \"eq\", \"value\": true}");
    fx f;
    facts_from(&f, "{\"server\": {}}");
    f.facts.why[MF_ROOT_PROBE] = "no probe covers this server entry";
    mf_witness w;
    assert_int_equal(mf_cond_eval(p->rules[0].expect, &f.facts, &w), U);
    assert_string_equal(w.why, "no probe covers this server entry");
    assert_null(w.value);
    json_decref(f.doc);
    mf_policy_free(p);
}

/* Kleene logic: all / any / not over true, false and unknown. */
static void test_kleene(void **state)
{
    (void)state;
    const char *t = "{\"path\": \"server.port\", \"op\": \"eq\", \"value\": 587}";
    const char *f = "{\"path\": \"server.port\", \"op\": \"eq\", \"value\": 25}";
    const char *u = "{\"path\": \"server.security\", \"op\": \"eq\", \"value\": \"tls\"}";
    const char *facts = "{\"server\": {\"port\": 587, \"_why\": \"security not known\"}}";
    const char *parts[3] = {t, f, u};
    const mf_tri val[3] = {T, F, U};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            char *all = mf_asprintf("{\"all\": [%s, %s]}", parts[a], parts[b]);
            char *any = mf_asprintf("{\"any\": [%s, %s]}", parts[a], parts[b]);
            mf_tri wall = (val[a] == F || val[b] == F) ? F : (val[a] == U || val[b] == U) ? U : T;
            mf_tri wany = (val[a] == T || val[b] == T) ? T : (val[a] == U || val[b] == U) ? U : F;
            assert_int_equal(ev("server", all, facts), wall);
            assert_int_equal(ev("server", any, facts), wany);
            free(all);
            free(any);
        }
    for (int a = 0; a < 3; a++) {
        char *not = mf_asprintf("{\"not\": %s}", parts[a]);
        assert_int_equal(ev("server", not, facts), val[a] == U ? U : val[a] == T ? F : T);
        free(not );
    }
}

/* ------------------------------------------------------------------ rules */

static mf_rule_state rule_on(const char *scope, const char *when, const char *expect,
                             const char *facts, char *msg, size_t msgsz)
{
    mf_policy *p = one_rule(scope, when, expect);
    fx f;
    facts_from(&f, facts);
    mf_rule_state s = mf_rule_eval(&p->rules[0], &f.facts, msg, msgsz);
    json_decref(f.doc);
    mf_policy_free(p);
    return s;
}

static void test_rule_states_and_messages(void **state)
{
    (void)state;
    char msg[768];
    const char *when = "{\"path\": \"server.provider_managed\", \"op\": \"eq\", \"value\": false}";
    const char *expect = "{\"path\": \"server.port\", \"op\": \"in\", \"value\": [465, 587]}";
    assert_int_equal(rule_on("server", when, expect,
                             "{\"server\": {\"provider_managed\": false, \"port\": 587}}", msg,
                             sizeof(msg)),
                     MF_RULE_PASS);
    assert_string_equal(msg, "server.port is 587");
    assert_int_equal(rule_on("server", when, expect,
                             "{\"server\": {\"provider_managed\": false, \"port\": 25}}", msg,
                             sizeof(msg)),
                     MF_RULE_FAIL);
    assert_string_equal(msg, "server.port is 25; expected server.port in [465, 587]");
    assert_int_equal(rule_on("server", when, expect,
                             "{\"server\": {\"provider_managed\": true, \"port\": null}}", msg,
                             sizeof(msg)),
                     MF_RULE_NOTAPPLICABLE);
    assert_non_null(strstr(msg, "not applicable: server.provider_managed is true"));
    /* unknown in when: error, saying why */
    assert_int_equal(rule_on("server", when, expect,
                             "{\"server\": {\"_why\": \"the report is odd\"}}", msg, sizeof(msg)),
                     MF_RULE_ERROR);
    assert_non_null(strstr(msg, "cannot tell whether the rule applies"));
    assert_non_null(strstr(msg, "the report is odd"));
    /* unknown in expect: error, never pass or fail */
    assert_int_equal(rule_on("server", when, expect,
                             "{\"server\": {\"provider_managed\": false, \"_why\": \"gone\"}}", msg,
                             sizeof(msg)),
                     MF_RULE_ERROR);
    assert_non_null(strstr(msg, "server.port is unknown (gone)"));
    /* a parameter is named in the message */
    assert_int_equal(rule_on("probe", NULL,
                             "{\"path\": \"probe.tls.cert.days_left\", \"op\": \"ge\", \"value\": "
                             "\"$min\"}",
                             "{\"probe\": {\"tls\": {\"cert\": {\"days_left\": 3}}}}", msg,
                             sizeof(msg)),
                     MF_RULE_FAIL);
    assert_string_equal(msg, "probe.tls.cert.days_left is 3; expected probe.tls.cert.days_left "
                             "ge 21 ($min)");
    /* a failed any names every alternative */
    assert_int_equal(rule_on("server", NULL,
                             "{\"any\": [{\"path\": \"server.security\", \"op\": \"eq\", "
                             "\"value\": \"tls\"}, {\"path\": \"server.auth\", \"op\": \"ne\", "
                             "\"value\": \"password\"}]}",
                             "{\"server\": {\"security\": \"none\", \"auth\": \"password\"}}", msg,
                             sizeof(msg)),
                     MF_RULE_FAIL);
    assert_non_null(strstr(msg, "server.security is \"none\", server.auth is \"password\""));
    assert_non_null(strstr(msg, "or server.auth ne \"password\""));
    /* not: the message says what must not hold */
    assert_int_equal(rule_on("server", NULL,
                             "{\"not\": {\"path\": \"server.hostname\", \"op\": \"glob\", "
                             "\"value\": \"*.old\"}}",
                             "{\"server\": {\"hostname\": \"mail.old\"}}", msg, sizeof(msg)),
                     MF_RULE_FAIL);
    assert_non_null(strstr(msg, "expected not server.hostname glob \"*.old\""));
    /* a long UTF-8 value is cut at a character boundary */
    char facts[512] = "{\"server\": {\"hostname\": \"";
    for (int i = 0; i < 60; i++)
        mf_strlcpy(facts + strlen(facts), "\xc3\xa9", sizeof(facts) - strlen(facts));
    mf_strlcpy(facts + strlen(facts), "\"}}", sizeof(facts) - strlen(facts));
    assert_int_equal(rule_on("server", NULL,
                             "{\"path\": \"server.hostname\", \"op\": \"eq\", \"value\": \"x\"}",
                             facts, msg, sizeof(msg)),
                     MF_RULE_FAIL);
    const char *dots = strstr(msg, "...\"");
    assert_non_null(dots);
    assert_true(((unsigned char)dots[-1] & 0xc0) == 0x80); /* ends on the tail of é */
    assert_true(((unsigned char)dots[-2]) == 0xc3);
}

/* A value longer than the match cap is unknown, not silently unmatched. */
static void test_match_input_cap(void **state)
{
    (void)state;
    size_t n = MF_POLICY_MATCH_INPUT_MAX + 10;
    char *big = malloc(n + 64);
    memcpy(big, "{\"server\": {\"hostname\": \"", 25);
    memset(big + 25, 'a', n);
    memcpy(big + 25 + n, "\"}}", 4);
    assert_int_equal(
        ev("server", "{\"path\": \"server.hostname\", \"op\": \"regex\", \"value\": \"b\"}", big),
        U);
    assert_int_equal(
        ev("server", "{\"path\": \"server.hostname\", \"op\": \"glob\", \"value\": \"*\"}", big),
        U);
    /* other operators still work on it */
    assert_int_equal(ev("server", "{\"path\": \"server.hostname\", \"op\": \"exists\"}", big), T);
    free(big);
}

/* ------------------------------------------------------------------ glob */

static void test_glob_basics(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *s;
        bool want;
    } cases[] = {
        {"*", "", true},
        {"*", "anything.at/all", true},
        {"?", "", false},
        {"a?c", "abc", true},
        {"*.example.com", "smtp.example.com", true},
        {"*.example.com", "example.com", false},
        {"smtp[0-9].x", "smtp7.x", true},
        {"smtp[!0-9].x", "smtp7.x", false},
        {"smtp[^0-9].x", "smtpa.x", true},
        {"[]]", "]", true},
        {"[!]]", "a", true},
        {"[a-]", "-", true},
        {"\\*", "*", true},
        {"\\*", "a", false},
        {"[[:digit:]][[:alpha:]]", "1a", true},
        {"a*b*c", "aXbYbZc", true},
        {"a*b*c", "aXbYbZ", false},
        {"**a", "bba", true},
        {"[", "[", true}, /* unclosed: literal, as fnmatch */
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        bool got = mf_glob_match(cases[i].pat, cases[i].s);
        if (got != cases[i].want || got != (fnmatch(cases[i].pat, cases[i].s, 0) == 0)) {
            print_error("case %zu: glob(%s, %s) = %d, fnmatch %d, want %d\n", i, cases[i].pat,
                        cases[i].s, got, fnmatch(cases[i].pat, cases[i].s, 0) == 0, cases[i].want);
            fail();
        }
    }
    char why[200];
    assert_false(mf_glob_valid("", why, sizeof(why)));
    assert_false(mf_glob_valid("a[bc", why, sizeof(why)));
    assert_false(mf_glob_valid("ab\\", why, sizeof(why)));
    assert_false(mf_glob_valid("[[:nope:]]", why, sizeof(why)));
    assert_true(mf_glob_valid("\\[literal", why, sizeof(why)));
    assert_true(mf_glob_valid("*.example.com", why, sizeof(why)));
}

/* Random valid patterns and strings: our matcher agrees with glibc's fnmatch. */
static void test_glob_agrees_with_fnmatch(void **state)
{
    (void)state;
    static const char *const atoms[] = {"a",    "b",     ".",   "*",  "?",           "[ab]",
                                        "[!a]", "[a-c]", "\\*", "*b", "[[:digit:]]", "1"};
    static const char alphabet[] = "ab.c1*";
    uint32_t seed = 12345;
    size_t checked = 0;
    for (int round = 0; round < 20000; round++) {
        char pat[64] = "", s[32];
        int n = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 6;
        for (int k = 0; k < n; k++) {
            seed = seed * 1103515245 + 12345;
            mf_strlcpy(pat + strlen(pat), atoms[(seed >> 16) % MF_ARRAY_LEN(atoms)],
                       sizeof(pat) - strlen(pat));
        }
        seed = seed * 1103515245 + 12345;
        int len = (int)((seed >> 16) % 8);
        for (int k = 0; k < len; k++) {
            seed = seed * 1103515245 + 12345;
            s[k] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        s[len] = '\0';
        char why[100];
        if (!mf_glob_valid(pat, why, sizeof(why)))
            continue;
        bool ours = mf_glob_match(pat, s), theirs = fnmatch(pat, s, 0) == 0;
        if (ours != theirs) {
            print_error("glob(\"%s\", \"%s\"): ours %d, fnmatch %d\n", pat, s, ours, theirs);
            fail();
        }
        checked++;
    }
    assert_true(checked > 10000);
}

/* Patterns that make a backtracking matcher exponential finish at once here (the test
 * would hit CTest's timeout otherwise). */
static void test_glob_hostile(void **state)
{
    (void)state;
    size_t n = MF_POLICY_MATCH_INPUT_MAX;
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    s[n] = '\0';
    for (int i = 0; i < 200; i++)
        assert_false(mf_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", s));
    assert_true(mf_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*", s));
    free(s);
}

/* Patterns that make backtracking matchers take exponential time are accepted (they are
 * valid POSIX EREs without back-references) and still finish on the longest value the
 * matcher takes: glibc's regexec does not backtrack. A regression would hang here until
 * CTest's timeout; nothing is timed. */
static void test_regex_catastrophic(void **state)
{
    (void)state;
    static const char *const pats[] = {
        "(a+)+b",       "(a|aa)*c", "(.*a){12}b",       "((a*)*)*b",
        "(a?){8}a{8}b", "(x+x+)+y", "(a{1,16}){1,16}b", "^(([a-z])+.)+[A-Z]([a-z])+$",
    };
    size_t n = MF_POLICY_MATCH_INPUT_MAX;
    char *facts = malloc(n + 64);
    assert_non_null(facts);
    memcpy(facts, "{\"server\": {\"hostname\": \"", 25);
    memset(facts + 25, 'a', n);
    memcpy(facts + 25 + n, "\"}}", 4);
    char msg[768];
    for (size_t i = 0; i < MF_ARRAY_LEN(pats); i++) {
        char *expect = mf_asprintf(
            "{\"path\": \"server.hostname\", \"op\": \"regex\", \"value\": \"%s\"}", pats[i]);
        for (int k = 0; k < 3; k++)
            if (rule_on("server", NULL, expect, facts, msg, sizeof(msg)) != MF_RULE_FAIL) {
                print_error("%s on %zu bytes: expected a fail\n", pats[i], n);
                fail();
            }
        free(expect);
    }
    free(facts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators_on_values),
        cmocka_unit_test(test_null_and_unknown),
        cmocka_unit_test(test_kleene),
        cmocka_unit_test(test_rule_states_and_messages),
        cmocka_unit_test(test_match_input_cap),
        cmocka_unit_test(test_glob_basics),
        cmocka_unit_test(test_glob_agrees_with_fnmatch),
        cmocka_unit_test(test_glob_hostile),
        cmocka_unit_test(test_regex_catastrophic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
