/* test_util.c: common/util.c — bounded strings, number parsing, vectors, RFC 3339
 * times and UUIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A heap copy of exactly strlen(s) + 1 bytes, so that ASan sees any read past the
 * terminator. */
static char *exact(const char *s)
{
    char *p = mf_strdup(s);
    assert_non_null(p);
    return p;
}

static void test_strlcpy(void **state)
{
    (void)state;
    char buf[8];
    assert_int_equal(mf_strlcpy(buf, "abc", sizeof(buf)), 3);
    assert_string_equal(buf, "abc");
    assert_int_equal(mf_strlcpy(buf, "1234567", sizeof(buf)), 7); /* exact fit */
    assert_string_equal(buf, "1234567");
    assert_int_equal(mf_strlcpy(buf, "123456789abc", sizeof(buf)), 12); /* truncated */
    assert_string_equal(buf, "1234567");
    assert_int_equal(mf_strlcpy(buf, "", sizeof(buf)), 0);
    assert_string_equal(buf, "");
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(mf_strlcpy(buf, "abc", 1), 3);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(buf[1], 'Z');
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(mf_strlcpy(buf, "abc", 0), 3); /* nothing written */
    assert_int_equal(buf[0], 'Z');
}

static void test_strdup_asprintf(void **state)
{
    (void)state;
    assert_null(mf_strdup(NULL));
    assert_null(mf_strndup(NULL, 3));
    char *p = mf_strdup("hello");
    assert_string_equal(p, "hello");
    free(p);
    p = mf_strndup("hello", 3);
    assert_string_equal(p, "hel");
    free(p);
    p = mf_strndup("a\0b", 3); /* copies n bytes, NULs included, and terminates */
    assert_int_equal(p[1], '\0');
    assert_int_equal(p[2], 'b');
    assert_int_equal(p[3], '\0');
    free(p);
    p = mf_asprintf("%s-%d-%05.1f", "x", 42, 3.14159);
    assert_string_equal(p, "x-42-003.1");
    free(p);
    p = mf_asprintf("%s", "");
    assert_string_equal(p, "");
    free(p);
    /* Longer than any internal first guess. */
    char big[5000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    p = mf_asprintf("<%s>", big);
    assert_int_equal(strlen(p), sizeof(big) + 1);
    assert_int_equal(p[0], '<');
    assert_int_equal(p[sizeof(big)], '>');
    free(p);
}

static void test_parse_long(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        long long min, max;
        mf_code rc;
        long long v;
    } cases[] = {
        {"0", 0, 10, MF_OK, 0},
        {"10", 0, 10, MF_OK, 10},
        {"-5", -10, 10, MF_OK, -5},
        {"+7", 0, 10, MF_OK, 7},
        {"007", 0, 10, MF_OK, 7},
        {"65535", 1, 65535, MF_OK, 65535},
        {"9223372036854775807", LLONG_MIN, LLONG_MAX, MF_OK, LLONG_MAX},
        {"-9223372036854775808", LLONG_MIN, LLONG_MAX, MF_OK, LLONG_MIN},
        {"11", 0, 10, MF_ERR_RANGE, 0},
        {"-1", 0, 10, MF_ERR_RANGE, 0},
        {"0", 1, 65535, MF_ERR_RANGE, 0},
        {"65536", 1, 65535, MF_ERR_RANGE, 0},
        {"9223372036854775808", LLONG_MIN, LLONG_MAX, MF_ERR_RANGE, 0},
        {"-9223372036854775809", LLONG_MIN, LLONG_MAX, MF_ERR_RANGE, 0},
        {"99999999999999999999999", 0, 10, MF_ERR_RANGE, 0},
        {"", 0, 10, MF_ERR_PARSE, 0},
        {" 1", 0, 10, MF_ERR_PARSE, 0},
        {"1 ", 0, 10, MF_ERR_PARSE, 0},
        {"\t1", 0, 10, MF_ERR_PARSE, 0},
        {"1\n", 0, 10, MF_ERR_PARSE, 0},
        {"1a", 0, 10, MF_ERR_PARSE, 0},
        {"a1", 0, 10, MF_ERR_PARSE, 0},
        {"0x10", 0, 100, MF_ERR_PARSE, 0},
        {"1.5", 0, 10, MF_ERR_PARSE, 0},
        {"1e3", 0, 10000, MF_ERR_PARSE, 0},
        {"-", 0, 10, MF_ERR_PARSE, 0},
        {"+", 0, 10, MF_ERR_PARSE, 0},
        {"--1", -10, 10, MF_ERR_PARSE, 0},
        {"+-1", -10, 10, MF_ERR_PARSE, 0},
        {"- 1", -10, 10, MF_ERR_PARSE, 0},
        {"5,000", 0, 10000, MF_ERR_PARSE, 0},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        long long v = 12345;
        char *s = exact(cases[i].s);
        mf_code rc = mf_parse_long(s, cases[i].min, cases[i].max, &v);
        free(s);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": code %d, expected %d", cases[i].s, rc, cases[i].rc);
        if (rc == MF_OK && v != cases[i].v)
            fail_msg("\"%s\": %lld, expected %lld", cases[i].s, v, cases[i].v);
        if (rc != MF_OK && v != 12345)
            fail_msg("\"%s\": *out changed on error", cases[i].s);
    }
    long long v;
    assert_int_equal(mf_parse_long(NULL, 0, 1, &v), MF_ERR_PARSE);
}

static void test_string_predicates(void **state)
{
    (void)state;
    assert_true(mf_str_empty(NULL));
    assert_true(mf_str_empty(""));
    assert_false(mf_str_empty(" "));
    assert_true(mf_streq(NULL, NULL));
    assert_false(mf_streq("a", NULL));
    assert_false(mf_streq(NULL, "a"));
    assert_true(mf_streq("a", "a"));
    assert_false(mf_streq("a", "A"));
    assert_true(mf_strcaseeq("SMTP.Example.COM", "smtp.example.com"));
    assert_false(mf_strcaseeq("smtp", "smtp2"));
    assert_false(mf_strcaseeq("smtp2", "smtp"));
    assert_true(mf_strcaseeq(NULL, NULL));
    assert_false(mf_strcaseeq("", NULL));
    assert_true(mf_strcaseeq("", ""));
    assert_true(mf_str_has_prefix("mail.smtpserver.smtp1.hostname", "mail.smtpserver."));
    assert_true(mf_str_has_prefix("abc", ""));
    assert_false(mf_str_has_prefix("ab", "abc"));
    assert_false(mf_str_has_prefix(NULL, "a"));
    assert_false(mf_str_has_prefix("a", NULL));
    assert_true(mf_str_has_suffix("prefs.js", ".js"));
    assert_true(mf_str_has_suffix("x", ""));
    assert_false(mf_str_has_suffix("js", "prefs.js"));
    assert_false(mf_str_has_suffix(NULL, "a"));

    static const struct {
        const char *in, *out;
    } trims[] = {
        {"  SMTP.Example.COM \t\r\n", "smtp.example.com"},
        {"plain", "plain"},
        {"", ""},
        {" \t\n", ""},
        {"In Side", "in side"},
        {"\xc3\x89T\xc3\x89", "\xc3\x89t\xc3\x89"}, /* non-ASCII bytes are left alone */
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(trims); i++) {
        char *in = exact(trims[i].in);
        char *p = mf_str_trim_lower(in);
        assert_non_null(p);
        assert_string_equal(p, trims[i].out);
        free(p);
        free(in);
    }
    assert_null(mf_str_trim_lower(NULL));
}

static void test_strv_and_grow(void **state)
{
    (void)state;
    mf_strv sv = {0};
    assert_false(mf_strv_contains(&sv, "a"));
    for (int i = 0; i < 100; i++) {
        char tmp[16];
        snprintf(tmp, sizeof(tmp), "item%d", i);
        assert_int_equal(mf_strv_push(&sv, tmp), MF_OK);
    }
    assert_int_equal(sv.n, 100);
    assert_true(sv.cap >= 100);
    assert_string_equal(sv.v[0], "item0");
    assert_string_equal(sv.v[99], "item99");
    assert_true(mf_strv_contains(&sv, "item42"));
    assert_false(mf_strv_contains(&sv, "item100"));
    assert_int_equal(mf_strv_push(&sv, NULL), MF_OK); /* NULL becomes "" */
    assert_string_equal(sv.v[100], "");
    assert_int_equal(mf_strv_push_owned(&sv, mf_strdup("owned")), MF_OK);
    assert_string_equal(sv.v[101], "owned");
    assert_int_equal(mf_strv_push_owned(&sv, NULL), MF_ERR_NOMEM);
    assert_int_equal(sv.n, 102);
    mf_strv_free(&sv);
    assert_null(sv.v);
    assert_int_equal(sv.n, 0);
    assert_int_equal(sv.cap, 0);
    mf_strv_free(&sv); /* twice is fine */
    mf_strv_free(NULL);

    int *arr = NULL;
    size_t cap = 0;
    assert_int_equal(mf_grow((void **)&arr, &cap, 3, sizeof(int)), MF_OK);
    assert_true(cap >= 3);
    for (size_t i = 0; i < cap; i++)
        assert_int_equal(arr[i], 0); /* new elements are zeroed */
    arr[0] = 7;
    size_t old = cap;
    assert_int_equal(mf_grow((void **)&arr, &cap, 2, sizeof(int)), MF_OK); /* no shrink */
    assert_int_equal(cap, old);
    assert_int_equal(mf_grow((void **)&arr, &cap, 1000, sizeof(int)), MF_OK);
    assert_true(cap >= 1000);
    assert_int_equal(arr[0], 7);
    for (size_t i = old; i < cap; i++)
        assert_int_equal(arr[i], 0);
    /* Overflowing sizes fail cleanly and leave the array as it was. */
    int *before = arr;
    size_t capb = cap;
    assert_int_equal(mf_grow((void **)&arr, &cap, SIZE_MAX, sizeof(int)), MF_ERR_NOMEM);
    assert_int_equal(mf_grow((void **)&arr, &cap, SIZE_MAX / 4, 64), MF_ERR_NOMEM);
    assert_ptr_equal(arr, before);
    assert_int_equal(cap, capb);
    free(arr);
}

static void test_time_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t t;
    } good[] = {
        {"2026-11-29T10:00:00Z", 1795946400},
        {"2026-11-29t10:00:00z", 1795946400},
        {"2026-11-29T11:00:00+01:00", 1795946400},
        {"2026-11-29T04:30:00-05:30", 1795946400},
        {"2026-11-29T10:00:00.123456Z", 1795946400},
        {"2026-11-29T10:00:00.5+00:00", 1795946400},
        {"2026-11-29T10:00:00-00:00", 1795946400},
        {"2024-02-29T12:34:56Z", 1709210096},
        {"2000-02-29T00:00:00Z", 951782400},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59Z", -1},
        {"0999-01-02T03:04:05Z", -30641662555LL},
        {"9999-12-31T23:59:59Z", 253402300799LL},
        {"2016-12-31T23:59:60Z", 1483228800}, /* leap second: the next second */
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(good); i++) {
        int64_t t = 0;
        char *s = exact(good[i].s);
        mf_code rc = mf_time_parse_rfc3339(s, &t);
        free(s);
        if (rc != MF_OK)
            fail_msg("\"%s\" refused", good[i].s);
        if (t != good[i].t)
            fail_msg("\"%s\": %lld, expected %lld", good[i].s, (long long)t, (long long)good[i].t);
    }
    static const char *const bad[] = {
        "",
        "2026-11-29",
        "2026-11-29T10:00:00",  /* no offset */
        "2026-11-29 10:00:00Z", /* space instead of T */
        "2026-11-29T10:00Z",    /* no seconds */
        "2026/11/29T10:00:00Z",
        "26-11-29T10:00:00Z",
        "2026-13-01T10:00:00Z",
        "2026-00-01T10:00:00Z",
        "2026-11-00T10:00:00Z",
        "2026-11-31T10:00:00Z", /* November has 30 days */
        "2026-02-29T10:00:00Z", /* not a leap year */
        "1900-02-29T10:00:00Z", /* not a leap year either */
        "2026-02-30T10:00:00Z",
        "2026-11-29T24:00:00Z",
        "2026-11-29T10:60:00Z",
        "2026-11-29T10:00:61Z",
        "2026-11-29T1a:00:00Z",
        "2026-11-29T10:00:00.Z",  /* a dot needs digits */
        "2026-11-29T10:00:00+01", /* offset needs minutes */
        "2026-11-29T10:00:00+0100",
        "2026-11-29T10:00:00+01:0",
        "2026-11-29T10:00:00+24:00",
        "2026-11-29T10:00:00+01:60",
        "2026-11-29T10:00:00+", /* the string ends after the sign */
        "2026-11-29T10:00:00-1",
        "2026-11-29T10:00:00ZZ",
        "2026-11-29T10:00:00Z ",
        "2026-11-29T10:00:00+01:00x",
        " 2026-11-29T10:00:00Z",
        "-026-11-29T10:00:00Z",
        "+2026-11-29T10:00:00Z",
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        int64_t t = 42;
        char *s = exact(bad[i]);
        mf_code rc = mf_time_parse_rfc3339(s, &t);
        free(s);
        if (rc != MF_ERR_PARSE)
            fail_msg("\"%s\" accepted (%lld)", bad[i], (long long)t);
    }
    int64_t t;
    assert_int_equal(mf_time_parse_rfc3339(NULL, &t), MF_ERR_PARSE);
}

static void test_time_format(void **state)
{
    (void)state;
    char buf[32];
    mf_time_format_rfc3339(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    mf_time_format_rfc3339(1795946400, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-29T10:00:00Z");
    mf_time_format_rfc3339(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
    /* Years below 1000 keep four digits, or the text would not be RFC 3339. */
    mf_time_format_rfc3339(-30641662555LL, buf, sizeof(buf));
    assert_string_equal(buf, "0999-01-02T03:04:05Z");
    mf_time_format_rfc3339(-62135596800LL, buf, sizeof(buf));
    assert_string_equal(buf, "0001-01-01T00:00:00Z");
    mf_time_format_rfc3339(253402300799LL, buf, sizeof(buf));
    assert_string_equal(buf, "9999-12-31T23:59:59Z");
    /* A small buffer is truncated, never overrun. */
    char small[11];
    memset(small, 'Z', sizeof(small));
    mf_time_format_rfc3339(1795946400, small, sizeof(small));
    assert_int_equal(small[10], '\0');
    assert_string_equal(small, "2026-11-29");

    /* parse(format(t)) == t over a spread of times. */
    for (int64_t t = -62135596800LL; t < 253402300799LL; t += 987654321LL) {
        int64_t back = 0;
        mf_time_format_rfc3339(t, buf, sizeof(buf));
        assert_int_equal(mf_time_parse_rfc3339(buf, &back), MF_OK);
        assert_int_equal(back, t);
    }
    /* Now: only its shape, tests never assert on the clock. */
    mf_time_now_rfc3339(buf, sizeof(buf));
    assert_int_equal(strlen(buf), 20);
    assert_int_equal(mf_time_parse_rfc3339(buf, &(int64_t){0}), MF_OK);
}

static void test_uuid(void **state)
{
    (void)state;
    enum { N = 200 };
    static char ids[N][37];
    for (int i = 0; i < N; i++) {
        assert_int_equal(mf_uuid_v4(ids[i]), MF_OK);
        const char *u = ids[i];
        assert_int_equal(strlen(u), 36);
        assert_true(mf_uuid_valid(u));
        assert_int_equal(u[14], '4');           /* version 4 */
        assert_non_null(strchr("89ab", u[19])); /* RFC 4122 variant */
        for (int k = 0; k < 36; k++)
            assert_false(isupper((unsigned char)u[k]));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(u, ids[j]);
    }
    static const char *const good[] = {
        "3f2b8c1e-6a4d-4c2b-9e8f-0123456789ab",
        "3F2B8C1E-6A4D-4C2B-9E8F-0123456789AB",
        "00000000-0000-0000-0000-000000000000",
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(good); i++)
        assert_true(mf_uuid_valid(good[i]));
    static const char *const bad[] = {
        "",
        "3f2b8c1e-6a4d-4c2b-9e8f-0123456789a",   /* short */
        "3f2b8c1e-6a4d-4c2b-9e8f-0123456789abc", /* long */
        "3f2b8c1e6a4d-4c2b-9e8f-0123456789abc",  /* dash moved */
        "3f2b8c1e-6a4d-4c2b-9e8f_0123456789ab",
        "3f2b8c1e-6a4d-4c2b-9e8f-0123456789ag",
        "{3f2b8c1e-6a4d-4c2b-9e8f-0123456789a}",
        "3f2b8c1e-6a4d-4c2b-9e8f-0123456789a ",
        "3f2b8c1e-6a4d-4c2b-9e8f-01234567-9ab",
        "3f2b8c1e36a4d-4c2b-9e8f-0123456789ab",
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++)
        if (mf_uuid_valid(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
    assert_false(mf_uuid_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strlcpy),       cmocka_unit_test(test_strdup_asprintf),
        cmocka_unit_test(test_parse_long),    cmocka_unit_test(test_string_predicates),
        cmocka_unit_test(test_strv_and_grow), cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_format),   cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
