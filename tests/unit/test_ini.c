/* test_ini.c: agent/ini.c — the profiles.ini reader: sections, entries, comments, CRLF,
 * byte order mark, line-numbered errors with recovery, and caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ini.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mf_code parse_text(mf_ini **out, const char *text, mf_error *err)
{
    return mf_ini_parse(out, text, strlen(text), "profiles.ini", NULL, err);
}

static void test_profiles_ini(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF[Install4F96D1932A9F858E]\r\n"
                       "Default=Profiles/abcd1234.default-release\r\n"
                       "Locked=1\r\n"
                       "\r\n"
                       "[Profile1]\r\n"
                       "Name=work\r\n"
                       "IsRelative=0\r\n"
                       "Path=/Volumes/Data/Thunderbird Work\r\n"
                       "\r\n"
                       "[Profile0]\r\n"
                       "Name=default-release\r\n"
                       "IsRelative=1\r\n"
                       "Path=Profiles/abcd1234.default-release\r\n"
                       "Default=1\r\n"
                       "\r\n"
                       "[General]\r\n"
                       "StartWithLastProfile=1\r\n"
                       "Version=2";
    mf_ini *ini;
    mf_error err;
    assert_int_equal(parse_text(&ini, text, &err), MF_OK);
    assert_non_null(ini);
    assert_int_equal(ini->n, 4);
    assert_int_equal(ini->errors, 0);
    assert_string_equal(ini->sections[0].name, "Install4F96D1932A9F858E");
    assert_string_equal(ini->sections[1].name, "Profile1");
    assert_int_equal(ini->sections[1].line, 5);
    assert_string_equal(mf_ini_get(ini, "Profile1", "Path"), "/Volumes/Data/Thunderbird Work");
    assert_string_equal(mf_ini_get(ini, "Profile0", "Path"), "Profiles/abcd1234.default-release");
    assert_string_equal(mf_ini_get(ini, "Profile0", "IsRelative"), "1");
    assert_string_equal(mf_ini_get(ini, "General", "Version"), "2"); /* no final newline */
    assert_null(mf_ini_get(ini, "General", "version"));              /* case-sensitive */
    assert_null(mf_ini_get(ini, "Profile9", "Path"));
    assert_null(mf_ini_section_get(NULL, "Path"));
    const mf_ini_section *s = mf_ini_section_find(ini, "Profile0");
    assert_non_null(s);
    assert_int_equal(s->n, 4);
    assert_int_equal(s->entries[1].line, 12);
    mf_ini_free(ini);
}

static void test_comments_trim_duplicates(void **state)
{
    (void)state;
    const char *text = "; a comment\n"
                       "  # another\n"
                       "[ Profile0 ]\n"
                       "  Path =  Profiles/x  \n"
                       "Name=a=b\n" /* the first '=' splits */
                       "Empty=\n"
                       "[Other]\n"
                       "k=1\n"
                       "[Profile0]\n" /* the same section again */
                       "Path=Profiles/y\n"
                       "\tIsRelative\t=\t1\n";
    mf_ini *ini;
    assert_int_equal(parse_text(&ini, text, NULL), MF_OK);
    assert_int_equal(ini->n, 2);
    const mf_ini_section *s = mf_ini_section_find(ini, "Profile0");
    assert_non_null(s);
    assert_int_equal(s->n, 4);
    assert_string_equal(mf_ini_section_get(s, "Path"), "Profiles/y"); /* last wins */
    assert_int_equal(s->entries[0].line, 10);
    assert_string_equal(mf_ini_section_get(s, "Name"), "a=b");
    assert_string_equal(mf_ini_section_get(s, "Empty"), "");
    assert_string_equal(mf_ini_section_get(s, "IsRelative"), "1");
    assert_int_equal(ini->entries, 5);
    mf_ini_free(ini);

    assert_int_equal(parse_text(&ini, "", NULL), MF_OK);
    assert_int_equal(ini->n, 0);
    mf_ini_free(ini);
    assert_int_equal(mf_ini_parse(&ini, NULL, 0, NULL, NULL, NULL), MF_OK);
    mf_ini_free(ini);
}

static void check_bad(const char *bad, const char *reason, int col)
{
    char text[256];
    snprintf(text, sizeof(text), "[Profile0]\nPath=a\n%s\n[Profile1]\nPath=b\n", bad);
    mf_ini *ini = NULL;
    mf_error err;
    mf_code rc = parse_text(&ini, text, &err);
    if (rc != MF_ERR_PARSE || !strstr(err.text, reason) || err.line != 3 || err.column != col)
        fail_msg("input %s: rc %d, \"%s\" at %d:%d; want \"%s\" at 3:%d", bad, rc, err.text,
                 err.line, err.column, reason, col);
    assert_string_equal(err.file, "profiles.ini");
    assert_non_null(ini);
    assert_int_equal(ini->errors, 1);
    assert_string_equal(mf_ini_get(ini, "Profile0", "Path"), "a");
    assert_string_equal(mf_ini_get(ini, "Profile1", "Path"), "b");
    mf_ini_free(ini);
}

static void test_errors(void **state)
{
    (void)state;
    check_bad("just words", "expected key=value", 1);
    check_bad("  [Profile2", "expected ']'", 12);
    check_bad("[]", "empty section name", 1);
    check_bad("[ ]", "empty section name", 1);
    check_bad("[a]b]", "bracket inside a section name", 1);
    check_bad(" =value", "empty key", 2);

    /* An entry before any section. */
    mf_ini *ini;
    mf_error err;
    assert_int_equal(parse_text(&ini, "Path=x\n[P]\nk=v\n", &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "before the first [section]"));
    assert_int_equal(err.line, 1);
    assert_string_equal(mf_ini_get(ini, "P", "k"), "v");
    mf_ini_free(ini);

    /* A NUL byte spoils its line only. */
    static const char nul[] = "[P]\nPath=a\0b\nName=n\n";
    char *buf = malloc(sizeof(nul) - 1);
    assert_non_null(buf);
    memcpy(buf, nul, sizeof(nul) - 1);
    assert_int_equal(mf_ini_parse(&ini, buf, sizeof(nul) - 1, "p.ini", NULL, &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "NUL byte"));
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 7);
    assert_null(mf_ini_get(ini, "P", "Path"));
    assert_string_equal(mf_ini_get(ini, "P", "Name"), "n");
    mf_ini_free(ini);
    free(buf);

    /* Several errors: the first is reported, all are counted. */
    assert_int_equal(parse_text(&ini, "[P]\nbad1\nbad2\n[\n", &err), MF_ERR_PARSE);
    assert_int_equal(err.line, 2);
    assert_int_equal(ini->errors, 3);
    mf_ini_free(ini);
}

static void test_caps(void **state)
{
    (void)state;
    mf_ini *ini;
    mf_error err;
    mf_ini_limits lim = {.max_line = 10, .max_sections = 2, .max_entries = 3};
    const char *text = "[A]\n"
                       "k=0123456789\n" /* 12 bytes: too long */
                       "k=01234567\n"   /* exactly 10 */
                       "[B]\n"
                       "x=1\ny=2\n"
                       "[A]\n" /* an existing section is no new one */
                       "z=3\n" /* the fourth entry */
                       "w=4\n";
    assert_int_equal(mf_ini_parse(&ini, text, strlen(text), "p.ini", &lim, &err), MF_ERR_TOOBIG);
    assert_non_null(ini);
    assert_int_equal(err.code, MF_ERR_TOOBIG);
    assert_int_equal(err.line, 8);
    assert_non_null(strstr(err.text, "more than 3 entries"));
    assert_int_equal(ini->errors, 1);
    assert_string_equal(mf_ini_get(ini, "A", "k"), "01234567");
    assert_string_equal(mf_ini_get(ini, "B", "y"), "2");
    assert_null(mf_ini_get(ini, "A", "z"));
    assert_null(mf_ini_get(ini, "A", "w")); /* reading stopped */
    mf_ini_free(ini);

    assert_int_equal(mf_ini_parse(&ini, "[A]\n[B]\n[C]\nk=v\n", 16, "p.ini", &lim, &err),
                     MF_ERR_TOOBIG);
    assert_non_null(strstr(err.text, "more than 2 sections"));
    assert_int_equal(err.line, 3);
    assert_int_equal(ini->n, 2);
    mf_ini_free(ini);

    /* The fixed per-section cap. */
    size_t keys = MF_INI_MAX_SECTION_ENTRIES + 1;
    char *big = malloc(keys * 16 + 8);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, 8, "[S]\n");
    for (size_t i = 0; i < keys; i++)
        n += (size_t)snprintf(big + n, 16, "k%zu=v\n", i);
    assert_int_equal(mf_ini_parse(&ini, big, n, "p.ini", NULL, &err), MF_ERR_TOOBIG);
    assert_int_equal(ini->sections[0].n, MF_INI_MAX_SECTION_ENTRIES);
    mf_ini_free(ini);
    free(big);

    /* A default-capped over-long line. */
    size_t ll = MF_INI_MAX_LINE + 1;
    big = malloc(ll + 32);
    assert_non_null(big);
    n = (size_t)snprintf(big, 32, "[S]\nk=");
    memset(big + n, 'v', ll);
    n += ll;
    n += (size_t)snprintf(big + n, 32, "\nok=1\n");
    assert_int_equal(mf_ini_parse(&ini, big, n, "p.ini", NULL, &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "line longer than"));
    assert_int_equal(err.line, 2);
    assert_null(mf_ini_get(ini, "S", "k"));
    assert_string_equal(mf_ini_get(ini, "S", "ok"), "1");
    mf_ini_free(ini);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profiles_ini),
        cmocka_unit_test(test_comments_trim_duplicates),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
