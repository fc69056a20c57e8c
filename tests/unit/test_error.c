/* test_error.c: common/error.c — codes, the caller-owned mf_error, field prefixes and
 * the one-line format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"

#include <string.h>

static void test_strerror(void **state)
{
    (void)state;
    for (int i = 0; i < MF_ERR__COUNT; i++) {
        const char *s = mf_strerror((mf_code)i);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        if (strcmp(s, "unknown error") == 0)
            fail_msg("code %d has no description", i);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(s, mf_strerror((mf_code)j));
    }
    assert_string_equal(mf_strerror(MF_OK), "no error");
    assert_string_equal(mf_strerror(MF_ERR_TOOBIG), "too large");
    assert_string_equal(mf_strerror(MF_ERR__COUNT), "unknown error");
    assert_string_equal(mf_strerror((mf_code)-1), "unknown error");
    assert_string_equal(mf_strerror((mf_code)1000), "unknown error");
    /* The numbers are stable: they appear in logs and nack reasons. */
    assert_int_equal(MF_ERR_NOMEM, 1);
    assert_int_equal(MF_ERR_TOOBIG, 5);
    assert_int_equal(MF_ERR_INVALID, 7);
    assert_int_equal(MF_ERR_NOSPACE, 20);
}

static void test_set_and_clear(void **state)
{
    (void)state;
    mf_error err;
    memset(&err, 0x5a, sizeof(err));
    mf_error_clear(&err);
    assert_int_equal(err.code, MF_OK);
    assert_string_equal(err.file, "");
    assert_string_equal(err.field, "");
    assert_string_equal(err.text, "");
    assert_int_equal(err.line, 0);
    assert_int_equal(err.column, 0);
    mf_error_clear(NULL);

    assert_int_equal(mf_error_set(&err, MF_ERR_PARSE, "bad %s at %d", "token", 7), MF_ERR_PARSE);
    assert_int_equal(err.code, MF_ERR_PARSE);
    assert_string_equal(err.text, "bad token at 7");
    assert_int_equal(mf_error_set(NULL, MF_ERR_IO, "ignored %d", 1), MF_ERR_IO);

    /* set leaves file/line/field alone; the setters set them. */
    mf_error_set_file(&err, "/Users/alice/prefs.js");
    mf_error_set_pos(&err, 12, 5);
    mf_error_set_field(&err, "servers[2].port");
    mf_error_set(&err, MF_ERR_RANGE, "out of range");
    assert_string_equal(err.file, "/Users/alice/prefs.js");
    assert_int_equal(err.line, 12);
    assert_int_equal(err.column, 5);
    assert_string_equal(err.field, "servers[2].port");
    mf_error_set_file(&err, NULL);
    mf_error_set_field(&err, NULL);
    assert_string_equal(err.file, "");
    assert_string_equal(err.field, "");
    mf_error_set_file(NULL, "x");
    mf_error_set_field(NULL, "x");
    mf_error_set_pos(NULL, 1, 1);

    /* Long values are truncated to fit and stay terminated. */
    char longs[2000];
    memset(longs, 'f', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    mf_error_set_file(&err, longs);
    assert_int_equal(strlen(err.file), MF_ERROR_FILE_MAX - 1);
    mf_error_set_field(&err, longs);
    assert_int_equal(strlen(err.field), MF_ERROR_FIELD_MAX - 1);
    mf_error_set(&err, MF_ERR_INVALID, "%s", longs);
    assert_int_equal(strlen(err.text), MF_ERROR_TEXT_MAX - 1);
}

static void test_prefix_field(void **state)
{
    (void)state;
    mf_error err;
    mf_error_clear(&err);
    mf_error_prefix_field(&err, "servers[2]");
    assert_string_equal(err.field, "servers[2]"); /* empty field: the prefix alone */
    mf_error_set_field(&err, "port");
    mf_error_prefix_field(&err, "servers[2]");
    assert_string_equal(err.field, "servers[2].port");
    mf_error_prefix_field(&err, "report");
    assert_string_equal(err.field, "report.servers[2].port");
    mf_error_set_field(&err, "[3].cert");
    mf_error_prefix_field(&err, "probes");
    assert_string_equal(err.field, "probes[3].cert"); /* no dot before an index */
    mf_error_prefix_field(&err, "");
    mf_error_prefix_field(&err, NULL);
    assert_string_equal(err.field, "probes[3].cert");
    mf_error_prefix_field(NULL, "x");
    /* A prefix that would overflow is truncated, not overrun. */
    char longp[400];
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    mf_error_prefix_field(&err, longp);
    assert_int_equal(strlen(err.field), MF_ERROR_FIELD_MAX - 1);
    assert_int_equal(err.field[0], 'p');
}

static void test_format(void **state)
{
    (void)state;
    char out[256];
    mf_error err;
    mf_error_clear(&err);
    /* No text: the code's description. */
    err.code = MF_ERR_NOMEM;
    assert_string_equal(mf_error_format(&err, out, sizeof(out)), "out of memory");

    static const struct {
        const char *file;
        int line, column;
        const char *field, *text, *want;
    } cases[] = {
        {"a.json", 3, 14, "servers[1].port", "must be an integer",
         "a.json:3:14: servers[1].port: must be an integer"},
        {"a.json", 3, 0, "", "unexpected token", "a.json:3: unexpected token"},
        {"a.json", 0, 9, "", "file is 9 bytes", "a.json: file is 9 bytes"},
        {"", 7, 2, "", "invalid JSON", "line 7: invalid JSON"},
        {"", 0, 0, "host.id", "is required", "host.id: is required"},
        {"", 0, 0, "", "plain", "plain"},
        {"prefs.js", 0, 0, "mail.smtpserver.smtp1.port", "not a number",
         "prefs.js: mail.smtpserver.smtp1.port: not a number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mf_error_clear(&err);
        mf_error_set_file(&err, cases[i].file);
        mf_error_set_pos(&err, cases[i].line, cases[i].column);
        mf_error_set_field(&err, cases[i].field);
        mf_error_set(&err, MF_ERR_INVALID, "%s", cases[i].text);
        assert_ptr_equal(mf_error_format(&err, out, sizeof(out)), out);
        assert_string_equal(out, cases[i].want);
    }

    /* Small buffers truncate and stay terminated. */
    mf_error_clear(&err);
    mf_error_set_file(&err, "/a/long/path/to/the/file.json");
    mf_error_set_pos(&err, 1234, 56);
    mf_error_set_field(&err, "servers[1].port");
    mf_error_set(&err, MF_ERR_INVALID, "must be an integer");
    char small[10];
    memset(small, 'Z', sizeof(small));
    mf_error_format(&err, small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, "/a/long/p", 9);
    for (size_t n = 1; n < 80; n++) {
        char buf[80];
        memset(buf, 'Z', sizeof(buf));
        mf_error_format(&err, buf, n);
        assert_true(strlen(buf) < n); /* terminated inside the n bytes */
        if (n < sizeof(buf))
            assert_int_equal(buf[n], 'Z'); /* nothing written past outsz */
    }
    memset(small, 'Z', sizeof(small));
    mf_error_format(&err, small, 0); /* no room at all: untouched */
    assert_int_equal(small[0], 'Z');
    assert_null(mf_error_format(&err, NULL, 10));
    assert_string_equal(mf_error_format(NULL, out, sizeof(out)), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_set_and_clear),
        cmocka_unit_test(test_prefix_field),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
