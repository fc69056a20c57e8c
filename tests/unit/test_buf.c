/* test_buf.c: common/buf.c — the capped buffer. The cap is the point: nothing may
 * grow a buffer past max, and a refused append leaves the buffer as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void test_append_within_cap(void **state)
{
    (void)state;
    mf_buf b;
    mf_buf_init(&b, 16);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 16);
    assert_int_equal(mf_buf_append(&b, "hello", 5), MF_OK);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    assert_int_equal(mf_buf_append_str(&b, ", "), MF_OK);
    assert_int_equal(mf_buf_appendf(&b, "%s%d", "w", 42), MF_OK);
    assert_string_equal(b.data, "hello, w42");
    assert_int_equal(b.len, 10);
    assert_true(b.cap > b.len); /* room for the NUL */
    /* Zero bytes is a no-op that still succeeds. */
    assert_int_equal(mf_buf_append(&b, NULL, 0), MF_OK);
    assert_int_equal(b.len, 10);
    /* Binary data with NULs: len counts them, the data stays terminated. */
    assert_int_equal(mf_buf_append(&b, "a\0b", 3), MF_OK);
    assert_int_equal(b.len, 13);
    assert_memory_equal(b.data + 10, "a\0b", 3);
    assert_int_equal(b.data[13], '\0');
    mf_buf_free(&b);
    assert_null(b.data);
    mf_buf_free(&b);
    mf_buf_free(NULL);
}

static void test_cap_enforced(void **state)
{
    (void)state;
    mf_buf b;
    mf_buf_init(&b, 8);
    /* Exactly the cap is allowed. */
    assert_int_equal(mf_buf_append(&b, "12345678", 8), MF_OK);
    assert_int_equal(b.len, 8);
    /* One byte more is refused and changes nothing. */
    assert_int_equal(mf_buf_append(&b, "9", 1), MF_ERR_TOOBIG);
    assert_int_equal(mf_buf_append_str(&b, "9"), MF_ERR_TOOBIG);
    assert_int_equal(mf_buf_appendf(&b, "%d", 9), MF_ERR_TOOBIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    /* Appending nothing at the cap is fine. */
    assert_int_equal(mf_buf_append(&b, "", 0), MF_OK);
    assert_int_equal(mf_buf_appendf(&b, "%s", ""), MF_OK);
    mf_buf_reset(&b);

    /* A refused append in the middle leaves the earlier content intact. */
    assert_int_equal(mf_buf_append(&b, "abc", 3), MF_OK);
    assert_int_equal(mf_buf_append(&b, "defghi", 6), MF_ERR_TOOBIG);
    assert_int_equal(mf_buf_appendf(&b, "%s", "defghi"), MF_ERR_TOOBIG);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    assert_int_equal(mf_buf_append(&b, "defgh", 5), MF_OK);
    assert_string_equal(b.data, "abcdefgh");

    /* Sizes that would overflow len + n are refused, not wrapped. */
    assert_int_equal(mf_buf_append(&b, "x", SIZE_MAX), MF_ERR_TOOBIG);
    assert_int_equal(mf_buf_append(&b, "x", SIZE_MAX - 2), MF_ERR_TOOBIG);
    assert_int_equal(b.len, 8);
    mf_buf_free(&b);

    /* A buffer of cap 0 takes nothing. */
    mf_buf_init(&b, 0);
    assert_int_equal(mf_buf_append(&b, "x", 1), MF_ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    mf_buf_free(&b);

    /* A large cap grows through many reallocations and keeps every byte. */
    mf_buf_init(&b, 100000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(mf_buf_appendf(&b, "%09d\n", i), MF_OK);
    assert_int_equal(b.len, 100000);
    assert_int_equal(mf_buf_append(&b, "x", 1), MF_ERR_TOOBIG);
    assert_memory_equal(b.data + 99990, "000009999\n", 10);
    mf_buf_free(&b);
}

static void test_reset_consume_detach(void **state)
{
    (void)state;
    mf_buf b;
    mf_buf_init(&b, 64);
    mf_buf_reset(&b); /* on an empty buffer: no crash */
    assert_int_equal(mf_buf_append_str(&b, "250-PIPELINING\r\n250 OK\r\n"), MF_OK);
    char *data = b.data;
    size_t cap = b.cap;
    mf_buf_consume(&b, 16);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "250 OK\r\n");
    mf_buf_consume(&b, 0);
    assert_string_equal(b.data, "250 OK\r\n");
    mf_buf_consume(&b, 100); /* more than there is: empty */
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(mf_buf_append_str(&b, "again"), MF_OK);
    mf_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_ptr_equal(b.data, data); /* reset keeps the allocation */
    assert_int_equal(b.cap, cap);

    assert_int_equal(mf_buf_append_str(&b, "report"), MF_OK);
    size_t len = 0;
    char *p = mf_buf_detach(&b, &len);
    assert_string_equal(p, "report");
    assert_int_equal(len, 6);
    free(p);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 64); /* the cap stays */
    /* Detaching an empty buffer gives "", not NULL. */
    len = 99;
    p = mf_buf_detach(&b, &len);
    assert_non_null(p);
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    free(p);
    p = mf_buf_detach(&b, NULL);
    assert_non_null(p);
    free(p);
    /* The buffer is usable after detach, with the same cap. */
    char big[65];
    memset(big, 'x', sizeof(big));
    assert_int_equal(mf_buf_append(&b, big, 65), MF_ERR_TOOBIG);
    assert_int_equal(mf_buf_append(&b, big, 64), MF_OK);
    mf_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_within_cap),
        cmocka_unit_test(test_cap_enforced),
        cmocka_unit_test(test_reset_consume_detach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
