/* test_prefs_js.c: agent/prefs_js.c — the Mozilla prefs.js / user.js reader: values,
 * escapes, comments, error positions and recovery, caps, overlay rules, dropping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "prefs_js.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse a NUL-terminated text into a fresh set; returns the parse code. */
static mf_code parse_text(mf_prefs **out, const char *text, mf_error *err)
{
    assert_int_equal(mf_prefs_new(out, NULL), MF_OK);
    return mf_prefs_parse(*out, text, strlen(text), "prefs.js", err);
}

/* A heap copy of exactly len bytes, so ASan sees a read past the end. */
static char *exact_bytes(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, s, len);
    return p;
}

static void test_basic_values(void **state)
{
    (void)state;
    mf_prefs *p;
    mf_error err;
    const char *text = "// Mozilla User Preferences\n"
                       "\n"
                       "user_pref(\"mail.smtpserver.smtp1.hostname\", \"smtp.example.com\");\n"
                       "user_pref(\"mail.smtpserver.smtp1.port\", 587);\n"
                       "user_pref(\"mail.smtpserver.smtp1.neg\", -12);\n"
                       "user_pref(\"mail.smtpserver.smtp1.plus\", +7);\n"
                       "user_pref(\"a.bool\", true);\n"
                       "user_pref(\"b.bool\", false);\n"
                       "user_pref(\"empty\", \"\");\n";
    assert_int_equal(parse_text(&p, text, &err), MF_OK);
    assert_int_equal(mf_prefs_errors(p), 0);
    assert_int_equal(mf_prefs_count(p), 7);
    assert_string_equal(mf_prefs_get_str(p, "mail.smtpserver.smtp1.hostname"), "smtp.example.com");
    long long n = 0;
    assert_true(mf_prefs_get_int(p, "mail.smtpserver.smtp1.port", &n));
    assert_int_equal(n, 587);
    assert_true(mf_prefs_get_int(p, "mail.smtpserver.smtp1.neg", &n));
    assert_int_equal(n, -12);
    assert_true(mf_prefs_get_int(p, "mail.smtpserver.smtp1.plus", &n));
    assert_int_equal(n, 7);
    bool b = false;
    assert_true(mf_prefs_get_bool(p, "a.bool", &b));
    assert_true(b);
    assert_true(mf_prefs_get_bool(p, "b.bool", &b));
    assert_false(b);
    assert_string_equal(mf_prefs_get_str(p, "empty"), "");
    /* Wrong type or absent: NULL / false, out untouched. */
    n = 99;
    assert_false(mf_prefs_get_int(p, "mail.smtpserver.smtp1.hostname", &n));
    assert_int_equal(n, 99);
    assert_null(mf_prefs_get_str(p, "mail.smtpserver.smtp1.port"));
    assert_null(mf_prefs_get_str(p, "nope"));
    assert_false(mf_prefs_get_bool(p, "nope", &b));
    /* First-seen order and line numbers. */
    assert_string_equal(mf_prefs_at(p, 0)->name, "mail.smtpserver.smtp1.hostname");
    assert_int_equal(mf_prefs_at(p, 0)->user.line, 3);
    assert_int_equal(mf_prefs_at(p, 6)->user.line, 9);
    assert_null(mf_prefs_at(p, 7));
    mf_prefs_free(p);
}

static void test_whitespace_and_comments(void **state)
{
    (void)state;
    mf_prefs *p;
    const char *text = "\xEF\xBB\xBF# hash comment\n"
                       "/* block\n comment */ user_pref /* in */ ( // line\n"
                       "  'x' /**/ , \n\t 5 # trailing\n ) \r\n ;\r\n"
                       "pref('y',1);sticky_pref(\"z\",2);user_pref(\"w\",3);";
    assert_int_equal(parse_text(&p, text, NULL), MF_OK);
    long long n;
    assert_true(mf_prefs_get_int(p, "x", &n));
    assert_int_equal(n, 5);
    assert_int_equal(mf_prefs_find(p, "x")->user.line, 3); /* where user_pref is */
    assert_true(mf_prefs_get_int(p, "y", &n) && n == 1);
    assert_true(mf_prefs_get_int(p, "z", &n) && n == 2);
    assert_true(mf_prefs_get_int(p, "w", &n) && n == 3);
    mf_prefs_free(p);

    /* Empty and blank input. */
    assert_int_equal(parse_text(&p, "", NULL), MF_OK);
    assert_int_equal(mf_prefs_count(p), 0);
    assert_int_equal(mf_prefs_parse(p, NULL, 0, NULL, NULL), MF_OK);
    mf_prefs_free(p);
    assert_int_equal(parse_text(&p, " \n\t\r\n// only a comment", NULL), MF_OK);
    assert_int_equal(mf_prefs_count(p), 0);
    mf_prefs_free(p);
}

static void test_escapes(void **state)
{
    (void)state;
    mf_prefs *p;
    const char *text = "user_pref(\"e1\", \"a\\\\b\\\"c\\'d\");\n"
                       "user_pref(\"e2\", 'q\\'s\"d');\n"
                       "user_pref(\"e3\", \"n\\nt\\tr\\r\");\n"
                       "user_pref(\"e4\", \"\\x41\\xe9\");\n"
                       "user_pref(\"e5\", \"\\u00e9\\u20AC\");\n"
                       "user_pref(\"e6\", \"\\uD83D\\uDE00\");\n"
                       "user_pref(\"e7\", \"raw \xC3\xA9 \xF0\x9F\x98\x80\");\n";
    assert_int_equal(parse_text(&p, text, NULL), MF_OK);
    assert_string_equal(mf_prefs_get_str(p, "e1"), "a\\b\"c'd");
    assert_string_equal(mf_prefs_get_str(p, "e2"), "q's\"d");
    assert_string_equal(mf_prefs_get_str(p, "e3"), "n\nt\tr\r");
    assert_string_equal(mf_prefs_get_str(p, "e4"), "A\xC3\xA9"); /* \xHH is a code point */
    assert_string_equal(mf_prefs_get_str(p, "e5"), "\xC3\xA9\xE2\x82\xAC");
    assert_string_equal(mf_prefs_get_str(p, "e6"), "\xF0\x9F\x98\x80");
    assert_string_equal(mf_prefs_get_str(p, "e7"), "raw \xC3\xA9 \xF0\x9F\x98\x80");
    assert_int_equal(mf_prefs_find(p, "e6")->user.str_len, 4);
    mf_prefs_free(p);
}

/* One bad statement between two good ones: the error's reason and position, and both
 * neighbours kept. */
static void check_bad(const char *bad, const char *reason, int line, int col)
{
    char text[512];
    snprintf(text, sizeof(text), "user_pref(\"before\", 1);\n%s\nuser_pref(\"after\", 2);\n", bad);
    mf_prefs *p;
    mf_error err;
    mf_code rc = parse_text(&p, text, &err);
    if (rc != MF_ERR_PARSE || !strstr(err.text, reason) || err.line != line ||
        (col && err.column != col))
        fail_msg("input %s: got rc %d, \"%s\" at %d:%d; want \"%s\" at %d:%d", bad, rc, err.text,
                 err.line, err.column, reason, line, col);
    assert_string_equal(err.file, "prefs.js");
    assert_int_equal(err.code, MF_ERR_PARSE);
    long long n;
    if (!mf_prefs_get_int(p, "before", &n) || !mf_prefs_get_int(p, "after", &n))
        fail_msg("input %s: neighbours lost", bad);
    assert_int_equal(n, 2);
    assert_true(mf_prefs_errors(p) >= 1);
    mf_prefs_free(p);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    check_bad("user_pref(\"a\", 1;", "expected ')'", 2, 17);
    check_bad("user_pref(\"a\" 1);", "expected ','", 2, 15);
    check_bad("user_pref \"a\", 1);", "expected '('", 2, 11);
    check_bad("user_pref(\"a\", 1)", "expected ';'", 3, 1); /* noticed on the next line */
    check_bad("userpref(\"a\", 1);", "expected user_pref, pref or sticky_pref", 2, 1);
    check_bad("user_pref(a, 1);", "expected a quoted pref name", 2, 11);
    check_bad("user_pref(\"\", 1);", "empty pref name", 2, 1);
    check_bad("user_pref(\"a\", yes);", "expected a value", 2, 16);
    check_bad("user_pref(\"a\", trueish);", "expected a value", 2, 16);
    check_bad("user_pref(\"a\", );", "expected a value", 2, 16);
    check_bad("user_pref(\"a\", 1.5);", "invalid number", 2, 17);
    check_bad("user_pref(\"a\", 12abc);", "invalid number", 2, 18);
    check_bad("user_pref(\"a\", -);", "expected digits after the sign", 2, 17);
    check_bad("user_pref(\"a\", 2147483648);", "integer out of range", 2, 16);
    check_bad("user_pref(\"a\", -2147483649);", "integer out of range", 2, 16);
    check_bad("user_pref(\"a\", 99999999999999999999999);", "integer out of range", 2, 16);
    check_bad("user_pref(\"a\", \"abc);", "unterminated string", 2, 16);
    check_bad("user_pref(\"a\", \"abc\\", "unterminated string", 2, 16);
    check_bad("user_pref(\"a\", \"x\\q\");", "unknown escape \\q", 2, 18);
    check_bad("user_pref(\"a\", \"\\x4\");", "\\x needs two hex digits", 2, 17);
    check_bad("user_pref(\"a\", \"\\u12G4\");", "\\u needs four hex digits", 2, 17);
    check_bad("user_pref(\"a\", \"\\u0000\");", "NUL character in string", 2, 17);
    check_bad("user_pref(\"a\", \"\\x00\");", "NUL character in string", 2, 17);
    check_bad("user_pref(\"a\", \"\\uD83D\");", "unpaired surrogate", 2, 17);
    check_bad("user_pref(\"a\", \"\\uD83Dx\");", "unpaired surrogate", 2, 17);
    check_bad("user_pref(\"a\", \"\\uD83D\\u0041\");", "unpaired surrogate", 2, 17);
    check_bad("user_pref(\"a\", \"\\uDE00\");", "unpaired surrogate", 2, 17);
    check_bad("user_pref(\"a\", \"\xC3\x28\");", "invalid UTF-8 in string", 2, 16);
    check_bad("user_pref(\"a\", \"\xED\xA0\x80\");", "invalid UTF-8", 2, 16); /* surrogate */
    check_bad("user_pref(\"a\", \"\xC0\xAF\");", "invalid UTF-8", 2, 16);     /* overlong */
    check_bad("user_pref(\"\xFF\", 1);", "invalid UTF-8 in pref name", 2, 11);
    check_bad("user_pref(\"a\", 1, locked);", "expected ')'", 2, 17); /* not for user_pref */
    check_bad("pref(\"a\", 1, frozen);", "expected locked or sticky", 2, 14);
    check_bad("user_pref(\"a\", 1); )", "expected user_pref", 2, 20);
}

static void test_nul_bytes(void **state)
{
    (void)state;
    static const char raw_in_string[] = "user_pref(\"a\", \"x\0y\");\nuser_pref(\"b\", 2);\n";
    static const char raw_outside[] = "user_pref(\"a\", 1);\n\0;\nuser_pref(\"b\", 2);\n";
    mf_prefs *p;
    mf_error err;
    char *buf = exact_bytes(raw_in_string, sizeof(raw_in_string) - 1);
    assert_int_equal(mf_prefs_new(&p, NULL), MF_OK);
    assert_int_equal(mf_prefs_parse(p, buf, sizeof(raw_in_string) - 1, "f", &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "NUL byte in string"));
    assert_int_equal(err.line, 1);
    assert_int_equal(err.column, 18);
    assert_null(mf_prefs_find(p, "a"));
    long long n;
    assert_true(mf_prefs_get_int(p, "b", &n));
    mf_prefs_free(p);
    free(buf);

    buf = exact_bytes(raw_outside, sizeof(raw_outside) - 1);
    assert_int_equal(mf_prefs_new(&p, NULL), MF_OK);
    assert_int_equal(mf_prefs_parse(p, buf, sizeof(raw_outside) - 1, "f", &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "NUL"));
    assert_int_equal(err.line, 2);
    assert_true(mf_prefs_get_int(p, "a", &n));
    assert_true(mf_prefs_get_int(p, "b", &n));
    mf_prefs_free(p);
    free(buf);
}

/* The recovery rules: the rest of the file survives, the first error is the one kept,
 * every error is counted. */
static void test_recovery(void **state)
{
    (void)state;
    mf_prefs *p;
    mf_error err;
    const char *text = "user_pref(\"a\", 1);\n"
                       "user_pref(\"b\", \"unterminated);\n" /* its ';' is inside the string */
                       "user_pref(\"c\", 3);\n"
                       "user_pref(\"d\" 4);\n"
                       "user_pref(\"e\", 5)\n" /* missing ';' */
                       "user_pref(\"f\", 6);\n"
                       "garbage garbage; user_pref(\"g\", 7);\n";
    assert_int_equal(parse_text(&p, text, &err), MF_ERR_PARSE);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.text, "unterminated string"));
    assert_int_equal(mf_prefs_errors(p), 4);
    long long n;
    assert_true(mf_prefs_get_int(p, "a", &n));
    assert_null(mf_prefs_find(p, "b"));
    assert_true(mf_prefs_get_int(p, "c", &n) && n == 3);
    assert_null(mf_prefs_find(p, "d"));
    assert_null(mf_prefs_find(p, "e"));
    assert_true(mf_prefs_get_int(p, "f", &n) && n == 6);
    assert_true(mf_prefs_get_int(p, "g", &n) && n == 7);
    /* A clean second parse resets the error count. */
    assert_int_equal(mf_prefs_parse(p, "user_pref(\"h\", 8);", 18, "user.js", &err), MF_OK);
    assert_int_equal(mf_prefs_errors(p), 0);
    mf_prefs_free(p);

    /* An unterminated block comment eats the rest. */
    assert_int_equal(parse_text(&p, "user_pref(\"a\", 1);\n/* open\nuser_pref(\"b\", 2);", &err),
                     MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "unterminated comment"));
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 1);
    assert_non_null(mf_prefs_find(p, "a"));
    assert_null(mf_prefs_find(p, "b"));
    mf_prefs_free(p);
}

static void test_int_range(void **state)
{
    (void)state;
    mf_prefs *p;
    assert_int_equal(parse_text(&p,
                                "user_pref(\"max\", 2147483647);user_pref(\"min\", -2147483648);"
                                "user_pref(\"zero\", -0);user_pref(\"lead\", 0007);",
                                NULL),
                     MF_OK);
    long long n;
    assert_true(mf_prefs_get_int(p, "max", &n) && n == 2147483647LL);
    assert_true(mf_prefs_get_int(p, "min", &n) && n == -2147483648LL);
    assert_true(mf_prefs_get_int(p, "zero", &n) && n == 0);
    assert_true(mf_prefs_get_int(p, "lead", &n) && n == 7);
    mf_prefs_free(p);
}

static void test_overlay_rules(void **state)
{
    (void)state;
    mf_prefs *p;
    mf_error err;
    const char *prefs_js = "user_pref(\"host\", \"old.example.com\");\n"
                           "user_pref(\"host\", \"newer.example.com\");\n" /* last wins */
                           "user_pref(\"port\", 25);\n"
                           "pref(\"dflt\", 1);\n"
                           "pref(\"lockme\", 10, locked);\n"
                           "sticky_pref(\"sticky\", 5, sticky);\n";
    const char *user_js = "user_pref(\"host\", \"user.example.com\");\n"
                          "user_pref(\"port\", \"587\");\n" /* type changes too */
                          "user_pref(\"dflt\", 2);\n"
                          "user_pref(\"lockme\", 20);\n"
                          "pref(\"port\", 465);\n" /* a default never beats a user value */
                          "user_pref(\"new\", true);\n";
    assert_int_equal(parse_text(&p, prefs_js, &err), MF_OK);
    assert_string_equal(mf_prefs_get_str(p, "host"), "newer.example.com");
    assert_int_equal(mf_prefs_find(p, "host")->user.line, 2);
    assert_int_equal(mf_prefs_parse(p, user_js, strlen(user_js), "user.js", &err), MF_OK);
    assert_int_equal(mf_prefs_count(p), 6);
    assert_string_equal(mf_prefs_get_str(p, "host"), "user.example.com");
    assert_int_equal(mf_prefs_find(p, "host")->user.file, 1);
    assert_int_equal(mf_prefs_find(p, "host")->user.line, 1);
    assert_string_equal(mf_prefs_get_str(p, "port"), "587");
    long long n;
    assert_false(mf_prefs_get_int(p, "port", &n));
    assert_int_equal(mf_prefs_find(p, "port")->def.num, 465);
    assert_true(mf_prefs_get_int(p, "dflt", &n) && n == 2);
    assert_true(mf_prefs_get_int(p, "lockme", &n) && n == 10); /* locked default wins */
    assert_true(mf_prefs_find(p, "lockme")->locked);
    assert_true(mf_prefs_get_int(p, "sticky", &n) && n == 5);
    bool b;
    assert_true(mf_prefs_get_bool(p, "new", &b) && b);
    assert_null(mf_pref_effective(NULL));
    mf_prefs_free(p);
}

static void test_drop_matching(void **state)
{
    (void)state;
    mf_prefs *p;
    const char *text = "user_pref(\"mail.smtpserver.smtp1.password\", \"hunter2\");\n"
                       "user_pref(\"mail.smtpserver.smtp1.hostname\", \"h\");\n"
                       "user_pref(\"mail.server.server1.Password\", \"x\");\n"
                       "user_pref(\"signon.rememberSignons.PASSWORDless\", true);\n"
                       "user_pref(\"z\", 1);\n";
    assert_int_equal(parse_text(&p, text, NULL), MF_OK);
    assert_int_equal(mf_prefs_drop_matching(p, "password"), 3);
    assert_int_equal(mf_prefs_count(p), 2);
    assert_null(mf_prefs_find(p, "mail.smtpserver.smtp1.password"));
    assert_null(mf_prefs_find(p, "mail.server.server1.Password"));
    assert_string_equal(mf_prefs_get_str(p, "mail.smtpserver.smtp1.hostname"), "h");
    assert_non_null(mf_prefs_find(p, "z"));
    assert_int_equal(mf_prefs_drop_matching(p, "password"), 0);
    /* The index still works for inserts after a drop. */
    assert_int_equal(mf_prefs_parse(p, "user_pref(\"z\", 2);user_pref(\"y\", 3);", 36, NULL, NULL),
                     MF_OK);
    long long n;
    assert_true(mf_prefs_get_int(p, "z", &n) && n == 2);
    assert_true(mf_prefs_get_int(p, "y", &n) && n == 3);
    assert_int_equal(mf_prefs_count(p), 3);
    mf_prefs_free(p);
}

static void test_caps(void **state)
{
    (void)state;
    mf_prefs *p;
    mf_error err;
    mf_prefs_limits lim = {.max_prefs = 3, .max_string = 8, .max_name = 4};
    assert_int_equal(mf_prefs_new(&p, &lim), MF_OK);
    const char *text = "user_pref(\"a\", \"12345678\");\n"              /* exactly the cap */
                       "user_pref(\"b\", \"123456789\");\n"             /* one over */
                       "user_pref(\"c\", \"\\u20AC\\u20AC\\u20AC\");\n" /* 9 bytes */
                       "user_pref(\"toolong\", 1);\n"
                       "user_pref(\"abcd\", 1);\n"
                       "user_pref(\"a\", \"again\");\n" /* redefinitions do not count */
                       "user_pref(\"d\", 1);\n"
                       "user_pref(\"e\", 1);\n";
    assert_int_equal(mf_prefs_parse(p, text, strlen(text), "prefs.js", &err), MF_ERR_TOOBIG);
    assert_int_equal(err.code, MF_ERR_TOOBIG);
    assert_int_equal(err.line, 8);
    assert_non_null(strstr(err.text, "more than 3 prefs"));
    assert_int_equal(mf_prefs_errors(p), 3);
    assert_string_equal(mf_prefs_get_str(p, "a"), "again");
    assert_null(mf_prefs_find(p, "b"));
    assert_null(mf_prefs_find(p, "c"));
    assert_null(mf_prefs_find(p, "toolong"));
    assert_non_null(mf_prefs_find(p, "abcd"));
    assert_non_null(mf_prefs_find(p, "d"));
    assert_null(mf_prefs_find(p, "e"));
    assert_int_equal(mf_prefs_count(p), 3);
    mf_prefs_free(p);

    /* The first error message for a long string names the cap. */
    assert_int_equal(mf_prefs_new(&p, &lim), MF_OK);
    assert_int_equal(mf_prefs_parse(p, "user_pref(\"b\", \"123456789\");", 28, "f", &err),
                     MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "string longer than 8 bytes"));
    assert_int_equal(err.column, 16);
    mf_prefs_free(p);
}

static void test_hostile_sizes(void **state)
{
    (void)state;
    /* A string over the default 64 KiB cap, then a good statement. */
    size_t big = MF_PREFS_MAX_STRING + 100;
    char *text = malloc(big + 128);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, 64, "user_pref(\"huge\", \"");
    memset(text + n, 'x', big);
    n += big;
    n += (size_t)snprintf(text + n, 64, "\");\nuser_pref(\"ok\", 1);\n");
    mf_prefs *p;
    mf_error err;
    assert_int_equal(mf_prefs_new(&p, NULL), MF_OK);
    assert_int_equal(mf_prefs_parse(p, text, n, "prefs.js", &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "string longer than 65536 bytes"));
    assert_null(mf_prefs_find(p, "huge"));
    assert_non_null(mf_prefs_find(p, "ok"));
    mf_prefs_free(p);

    /* Exactly the cap is fine, with escapes too. */
    n = (size_t)snprintf(text, 64, "user_pref(\"full\", \"");
    memset(text + n, 'y', MF_PREFS_MAX_STRING - 1);
    n += MF_PREFS_MAX_STRING - 1;
    n += (size_t)snprintf(text + n, 64, "\\x41\");");
    assert_int_equal(mf_prefs_new(&p, NULL), MF_OK);
    assert_int_equal(mf_prefs_parse(p, text, n, "prefs.js", &err), MF_OK);
    assert_int_equal(mf_prefs_find(p, "full")->user.str_len, MF_PREFS_MAX_STRING);
    mf_prefs_free(p);
    free(text);

    /* Many repeated comments and blank statements' worth of junk, then a pref. */
    size_t reps = 200000;
    text = malloc(reps * 6 + 64);
    assert_non_null(text);
    n = 0;
    for (size_t i = 0; i < reps; i++) {
        memcpy(text + n, i % 2 ? "/**/" : "//\n#\n", i % 2 ? 4 : 5);
        n += i % 2 ? 4 : 5;
    }
    n += (size_t)snprintf(text + n, 64, "user_pref(\"end\", 1);");
    assert_int_equal(mf_prefs_new(&p, NULL), MF_OK);
    assert_int_equal(mf_prefs_parse(p, text, n, "prefs.js", &err), MF_OK);
    assert_non_null(mf_prefs_find(p, "end"));
    assert_int_equal(mf_prefs_find(p, "end")->user.line, (int)reps + 1);
    mf_prefs_free(p);

    /* Many errors: one per statement, all counted, parsing stays linear. */
    n = 0;
    for (size_t i = 0; i < reps; i++) {
        memcpy(text + n, "x(;\n", 4);
        n += 4;
    }
    assert_int_equal(mf_prefs_new(&p, NULL), MF_OK);
    assert_int_equal(mf_prefs_parse(p, text, n, "prefs.js", &err), MF_ERR_PARSE);
    assert_int_equal(mf_prefs_errors(p), reps);
    assert_int_equal(err.line, 1);
    mf_prefs_free(p);
    free(text);
}

static void test_many_prefs(void **state)
{
    (void)state;
    /* Enough names to make the index grow several times. */
    mf_prefs *p;
    assert_int_equal(mf_prefs_new(&p, NULL), MF_OK);
    size_t count = 5000;
    char *text = malloc(count * 48);
    assert_non_null(text);
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        n += (size_t)snprintf(text + n, 48, "user_pref(\"k.%zu\", %zu);\n", i, i);
    assert_int_equal(mf_prefs_parse(p, text, n, NULL, NULL), MF_OK);
    assert_int_equal(mf_prefs_count(p), count);
    for (size_t i = 0; i < count; i += 97) {
        char name[32];
        snprintf(name, sizeof(name), "k.%zu", i);
        long long v;
        assert_true(mf_prefs_get_int(p, name, &v));
        assert_int_equal(v, (long long)i);
    }
    mf_prefs_free(p);
    free(text);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(mf_prefs_utf8_valid("", 0));
    assert_true(mf_prefs_utf8_valid("plain", 5));
    assert_true(mf_prefs_utf8_valid("\xC3\xA9", 2));
    assert_true(mf_prefs_utf8_valid("\xE2\x82\xAC", 3));
    assert_true(mf_prefs_utf8_valid("\xF0\x9F\x98\x80", 4));
    assert_true(mf_prefs_utf8_valid("\xF4\x8F\xBF\xBF", 4));  /* U+10FFFF */
    assert_false(mf_prefs_utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(mf_prefs_utf8_valid("\xC0\x80", 2));         /* overlong NUL */
    assert_false(mf_prefs_utf8_valid("\xE0\x80\xAF", 3));     /* overlong */
    assert_false(mf_prefs_utf8_valid("\xED\xB0\x80", 3));     /* surrogate */
    assert_false(mf_prefs_utf8_valid("\xC3", 1));             /* truncated */
    assert_false(mf_prefs_utf8_valid("\xE2\x82", 2));
    assert_false(mf_prefs_utf8_valid("\x80", 1));
    assert_false(mf_prefs_utf8_valid("\xFF", 1));
    assert_false(mf_prefs_utf8_valid("a\xC3(", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_values),  cmocka_unit_test(test_whitespace_and_comments),
        cmocka_unit_test(test_escapes),       cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_nul_bytes),     cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_int_range),     cmocka_unit_test(test_overlay_rules),
        cmocka_unit_test(test_drop_matching), cmocka_unit_test(test_caps),
        cmocka_unit_test(test_hostile_sizes), cmocka_unit_test(test_many_prefs),
        cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
