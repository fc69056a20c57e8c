/* test_reports.c: reports/ — the cleaning of untrusted text, the constant style and
 * script of the HTML report, the CSV quoting and formula guard, the order of calls, the
 * temporary file and its rename, host labels, and JUnit grouped by rule. The formats as
 * a whole are tested by tests/reports/ against real consumers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "report_html_assets.h"
#include "reports.h"
#include "util.h"
#include "xmlw.h"

#include <libxml/parser.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ cleaning */

static void test_clean_keeps_good_text(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(mf_xml_clean(out, 60, "plain ASCII, tab\there\nand CR\r"), 29);
    assert_string_equal(out, "plain ASCII, tab\there\nand CR\r");
    mf_xml_clean(out, 60, "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x93\xa7"); /* é — 📧 */
    assert_string_equal(out, "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x93\xa7");
    mf_xml_clean(out, 60, NULL);
    assert_string_equal(out, "");
    /* Markup characters are not this layer's business: libxml2 escapes them. */
    mf_xml_clean(out, 60, "<a href=\"x\">&]]>");
    assert_string_equal(out, "<a href=\"x\">&]]>");
}

static void test_clean_replaces_what_xml_cannot_carry(void **state)
{
    (void)state;
    char out[128];
    static const char *const bad[] = {
        "\x01",
        "\x08",
        "\x0b",
        "\x0c",
        "\x1b",
        "\x7f", /* C0 controls, DEL */
        "\xc2\x85",
        "\xc2\x9f", /* C1 controls */
        "\xff",
        "\xfe",
        "\x80", /* not UTF-8 at all */
        "\xc0\xaf",
        "\xe0\x80\xaf", /* overlong "/" */
        "\xed\xa0\x80",
        "\xed\xbf\xbf", /* surrogates */
        "\xef\xbf\xbe",
        "\xef\xbf\xbf",     /* U+FFFE, U+FFFF */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xef\xb7\x90",     /* U+FDD0 non-character */
        "\xe2\x82",         /* truncated sequence */
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        char in[32];
        snprintf(in, sizeof(in), "a%sb", bad[i]);
        mf_xml_clean(out, 120, in);
        /* every bad byte sequence becomes one or more U+FFFD, a and b survive */
        assert_true(out[0] == 'a');
        assert_true(out[strlen(out) - 1] == 'b');
        assert_non_null(strstr(out, "\xef\xbf\xbd"));
        assert_true(mf_xml_is_clean(out, 120));
        assert_false(mf_xml_is_clean(in, 120));
    }
}

static void test_clean_caps_without_cutting_characters(void **state)
{
    (void)state;
    char out[32];
    /* "ééééé" is 10 bytes; a cap of 5 keeps two characters and adds "…" */
    size_t n = mf_xml_clean(out, 5, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_string_equal(out, "\xc3\xa9\xc3\xa9\xe2\x80\xa6");
    assert_int_equal(n, 7);
    /* exactly at the cap: no ellipsis */
    mf_xml_clean(out, 4, "abcd");
    assert_string_equal(out, "abcd");
    char *d = mf_xml_clean_dup("x\x01y", 100);
    assert_string_equal(d, "x\xef\xbf\xbdy");
    free(d);
    assert_null(mf_xml_clean_dup(NULL, 10));
}

/* The style sheet and script are written as escaped text inside <style> and <script>,
 * which HTML does not unescape: they must hold nothing libxml2 would escape. */
static void test_assets_need_no_escaping(void **state)
{
    (void)state;
    assert_null(strpbrk(mf_rpt_html_css, "<>&\"\r"));
    assert_null(strpbrk(mf_rpt_html_js, "<>&\"\r"));
    assert_true(strlen(mf_rpt_html_css) < MF_RPT_BODY_MAX);
    assert_true(strlen(mf_rpt_html_js) < MF_RPT_BODY_MAX);
}

/* ------------------------------------------------------------------ writers */

static const mf_rpt_rule RULES[] = {
    {.id = "tls-required",
     .title = "Mail is sent over TLS",
     .severity = MF_RPT_HIGH,
     .scope = "server",
     .remediation = "Turn on TLS."},
    {.id = "no-unused-entries",
     .title = "No unused entries",
     .severity = MF_RPT_LOW,
     .scope = "server"},
};

static char *tmp_dir(void)
{
    char tmpl[] = "/tmp/mf-test-reports-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return mf_strdup(d);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
    d[n] = '\0';
    fclose(f);
    return d;
}

static void write_fleet(mf_rpt_writer *w, const char *hostname2)
{
    mf_error err;
    mf_rpt_run run = {
        .policy_id = "baseline", .policy_title = "Baseline", .generated_at = 1796032800};
    assert_int_equal(mf_rpt_begin(w, &run, RULES, MF_ARRAY_LEN(RULES), &err), MF_OK);
    mf_rpt_host h1 = {.id = "H1", .hostname = "alice-mbp", .collected_at = 1796000000};
    assert_int_equal(mf_rpt_add_host(w, &h1, &err), MF_OK);
    mf_rpt_result r = {.rule = 0,
                       .host_id = "H1",
                       .hostname = "alice-mbp",
                       .entity = "s1 smtp.example.com:587 (alice, apple-mail)",
                       .state = MF_RPT_FAIL,
                       .message = "server.security is \"none\""};
    assert_int_equal(mf_rpt_add_result(w, &r, &err), MF_OK);
    r.rule = 1;
    r.state = MF_RPT_WAIVED;
    r.waiver_justification = "archive";
    r.waiver_expires = "2027-01-31";
    assert_int_equal(mf_rpt_add_result(w, &r, &err), MF_OK);
    mf_rpt_result r2 = {.rule = 0,
                        .host_id = "H2",
                        .hostname = hostname2,
                        .entity = "=HYPERLINK(\"http://evil\")",
                        .state = MF_RPT_PASS,
                        .message = "+1, -2 and @3 \"quoted\"\nnext line"};
    assert_int_equal(mf_rpt_add_result(w, &r2, &err), MF_OK);
    r2.rule = 1;
    r2.state = MF_RPT_NOTAPPLICABLE;
    assert_int_equal(mf_rpt_add_result(w, &r2, &err), MF_OK);
}

static void test_csv_quoting_and_formulas(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    char *path = mf_asprintf("%s/r.csv", dir);
    mf_rpt_writer *w = NULL;
    mf_error err;
    assert_int_equal(mf_rpt_open(&w, MF_RPT_CSV, path, NULL, &err), MF_OK);
    write_fleet(w, "@bob");
    assert_int_equal(mf_rpt_end(w, &err), MF_OK);
    mf_rpt_free(w);
    char *csv = slurp(path);
    /* header, CRLF records */
    assert_true(mf_str_has_prefix(csv, "host_id,hostname,collected_at,rule,"));
    assert_non_null(strstr(csv, "\r\n"));
    /* a formula is quoted and neutralised; quotes doubled; newline kept inside quotes */
    assert_non_null(strstr(csv, ",\"'=HYPERLINK(\"\"http://evil\"\")\","));
    assert_non_null(strstr(csv, ",\"'@bob\","));
    assert_non_null(strstr(csv, "\"'+1, -2 and @3 \"\"quoted\"\"\nnext line\""));
    /* waiver columns */
    assert_non_null(
        strstr(csv, ",waived,\"server.security is \"\"none\"\"\",archive,,2027-01-31,"));
    free(csv);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

static void test_order_of_calls_and_bad_input(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    char *path = mf_asprintf("%s/j.xml", dir);
    mf_rpt_writer *w = NULL;
    mf_error err;
    assert_int_equal(mf_rpt_open(&w, MF_RPT_JUNIT, path, NULL, &err), MF_OK);
    /* a result before begin is a programming error, reported, not a crash */
    mf_rpt_result r = {.rule = 0, .host_id = "H", .state = MF_RPT_PASS};
    assert_int_equal(mf_rpt_add_result(w, &r, &err), MF_ERR_INTERNAL);
    mf_rpt_run run = {0};
    assert_int_equal(mf_rpt_begin(w, &run, RULES, 2, &err), MF_OK);
    r.rule = 7;
    assert_int_equal(mf_rpt_add_result(w, &r, &err), MF_ERR_INVALID);
    r.rule = 0;
    r.state = (mf_rpt_state)42;
    assert_int_equal(mf_rpt_add_result(w, &r, &err), MF_ERR_INVALID);
    mf_rpt_host nohost = {.id = ""};
    assert_int_equal(mf_rpt_add_host(w, &nohost, &err), MF_ERR_INVALID);
    /* nothing is at the path until mf_rpt_end; freeing without end leaves nothing */
    assert_int_not_equal(access(path, F_OK), 0);
    mf_rpt_free(w);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(rmdir(dir), 0); /* the temporary file is gone too */
    /* an unwritable place fails at open, naming the file */
    w = NULL;
    assert_int_equal(mf_rpt_open(&w, MF_RPT_HTML, "/nonexistent-dir/r.html", NULL, &err),
                     MF_ERR_IO);
    assert_null(w);
    assert_string_equal(err.file, "/nonexistent-dir/r.html");
    assert_int_equal(mf_rpt_open(&w, MF_RPT__FORMATS, "x", NULL, &err), MF_ERR_USAGE);
    free(path);
    free(dir);
}

static void test_names(void **state)
{
    (void)state;
    mf_rpt_format f;
    mf_rpt_group g;
    assert_true(mf_rpt_format_parse("html", &f) && f == MF_RPT_HTML);
    assert_false(mf_rpt_format_parse("pdf", &f));
    assert_true(mf_rpt_group_parse("rule", &g) && g == MF_RPT_GROUP_RULE);
    assert_false(mf_rpt_group_parse("Rule", &g));
    assert_string_equal(mf_rpt_state_name(MF_RPT_NOTAPPLICABLE), "notapplicable");
    assert_string_equal(mf_rpt_severity_name(MF_RPT_CRITICAL), "critical");
    assert_string_equal(mf_rpt_severity_name((mf_rpt_severity)9), "?");
}

/* JUnit by host: colliding host names get distinct suites; by rule: one suite per rule,
 * testcases from every host, counts right. Both well-formed. */
static void test_junit_groupings(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    char *path = mf_asprintf("%s/j.xml", dir);
    mf_error err;
    for (int g = 0; g < 2; g++) {
        mf_rpt_opts opts = {.junit_group = g ? MF_RPT_GROUP_RULE : MF_RPT_GROUP_HOST};
        mf_rpt_writer *w = NULL;
        assert_int_equal(mf_rpt_open(&w, MF_RPT_JUNIT, path, &opts, &err), MF_OK);
        write_fleet(w, "alice-mbp"); /* the same host name as H1 */
        assert_int_equal(mf_rpt_end(w, &err), MF_OK);
        mf_rpt_free(w);
        char *x = slurp(path);
        xmlDocPtr doc = xmlReadMemory(x, (int)strlen(x), "j.xml", NULL, XML_PARSE_NONET);
        assert_non_null(doc);
        xmlFreeDoc(doc);
        if (g == 0) {
            assert_non_null(strstr(x, "<testsuite name=\"alice-mbp\""));
            assert_non_null(strstr(x, "<testsuite name=\"alice-mbp (H2)\""));
            assert_non_null(strstr(x, "classname=\"alice-mbp (H2).tls-required\""));
            assert_non_null(strstr(x, "<failure type=\"high\""));
            assert_non_null(strstr(x, "<skipped message=\"waived: archive (expires 2027-01-31)\""));
            assert_non_null(strstr(x, "<skipped message=\"not applicable: "));
        } else {
            assert_non_null(strstr(x, "<testsuite name=\"tls-required\" id=\"0\""));
            assert_non_null(strstr(x, "tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\""));
            assert_non_null(strstr(x, "<testsuite name=\"no-unused-entries\" id=\"1\""));
            assert_non_null(strstr(x, "tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"2\""));
            /* tls-required's testcases come before no-unused-entries' suite */
            assert_true(strstr(x, "alice-mbp (H2).tls-required") <
                        strstr(x, "<testsuite name=\"no-unused-entries\""));
        }
        free(x);
    }
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* Hostile values in every string of the HTML report still give one well-formed document
 * with a single script element. */
static void test_html_hostile_values(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    char *path = mf_asprintf("%s/r.html", dir);
    mf_error err;
    mf_rpt_writer *w = NULL;
    assert_int_equal(mf_rpt_open(&w, MF_RPT_HTML, path, NULL, &err), MF_OK);
    const char *evil = "</script><script>alert(1)</script>]]>\x01\xff<!--";
    mf_rpt_rule rules[] = {{.id = evil,
                            .title = evil,
                            .severity = MF_RPT_CRITICAL,
                            .scope = evil,
                            .description = evil,
                            .remediation = evil}};
    mf_rpt_run run = {.policy_id = evil, .policy_title = evil, .source = evil};
    assert_int_equal(mf_rpt_begin(w, &run, rules, 1, &err), MF_OK);
    mf_rpt_result r = {.rule = 0,
                       .host_id = evil,
                       .hostname = evil,
                       .entity = evil,
                       .server = evil,
                       .state = MF_RPT_FAIL,
                       .message = evil};
    assert_int_equal(mf_rpt_add_result(w, &r, &err), MF_OK);
    r.host_id = NULL;
    assert_int_equal(mf_rpt_add_result(w, &r, &err), MF_OK);
    mf_rpt_server s = {.hostname = evil, .port = 25, .hosts = 1, .entries = 1, .top_failure = evil};
    assert_int_equal(mf_rpt_add_server(w, &s, &err), MF_OK);
    mf_rpt_waiver wv = {.rule = evil, .justification = evil, .status = evil};
    assert_int_equal(mf_rpt_add_waiver(w, &wv, &err), MF_OK);
    assert_int_equal(mf_rpt_end(w, &err), MF_OK);
    mf_rpt_free(w);
    char *html = slurp(path);
    xmlDocPtr doc = xmlReadMemory(html, (int)strlen(html), "r.html", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlFreeDoc(doc);
    /* one opening script tag: ours; the payload only as escaped text */
    char *first = strstr(html, "<script");
    assert_non_null(first);
    assert_null(strstr(first + 1, "<script"));
    assert_non_null(strstr(html, "&lt;/script&gt;&lt;script&gt;alert(1)"));
    assert_null(strstr(html, "\x01"));
    free(html);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_keeps_good_text),
        cmocka_unit_test(test_clean_replaces_what_xml_cannot_carry),
        cmocka_unit_test(test_clean_caps_without_cutting_characters),
        cmocka_unit_test(test_assets_need_no_escaping),
        cmocka_unit_test(test_csv_quoting_and_formulas),
        cmocka_unit_test(test_order_of_calls_and_bad_input),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_junit_groupings),
        cmocka_unit_test(test_html_hostile_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
