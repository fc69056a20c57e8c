/* test_receive.c: collector/receive.c over memory streams — the answer to each kind of
 * report, framing errors, an idle peer, a peer that stops reading, and a sink that
 * reports a full disk. (tests/integration/collector runs the same through pipes and
 * a real sshd; this runs without either.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "log.h"
#include "receive.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_A "0f8fad5b-d9cb-469f-a165-70867728950e"
#define ID_B "7c9e6679-7425-40de-944b-e07fc1f90ae7"

typedef struct io_ctx {
    const char *in;
    size_t left;
    bool timeout_at_end; /* instead of EOF */
    mf_buf out;
    int fail_writes_after; /* -1: never */
} io_ctx;

typedef struct sink_ctx {
    char ids[8][37];
    size_t n;
    mf_code fail_with; /* MF_OK: store */
} sink_ctx;

static ssize_t r_read(void *c, void *buf, size_t n)
{
    io_ctx *x = c;
    if (x->left == 0)
        return x->timeout_at_end ? MF_RECEIVE_TIMEOUT : MF_RECEIVE_EOF;
    size_t take = x->left < n ? x->left : n;
    if (take > 7) /* small pieces: reassembly across reads */
        take = 7;
    memcpy(buf, x->in, take);
    x->in += take;
    x->left -= take;
    return (ssize_t)take;
}

static int r_write(void *c, const void *buf, size_t n)
{
    io_ctx *x = c;
    if (x->fail_writes_after == 0)
        return -1;
    if (x->fail_writes_after > 0)
        x->fail_writes_after--;
    return mf_buf_append(&x->out, buf, n) == MF_OK ? 0 : -1;
}

static mf_code s_store(void *c, mf_spool_result *out, const char *id, const char *data,
                       size_t len, mf_error *err)
{
    sink_ctx *s = c;
    (void)data;
    (void)len;
    *out = MF_SPOOL_STORED;
    if (s->fail_with != MF_OK)
        return mf_error_set(err, s->fail_with, "simulated");
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0) {
            *out = MF_SPOOL_DUPLICATE;
            return MF_OK;
        }
    assert_true(s->n < 8);
    mf_strlcpy(s->ids[s->n++], id, 37);
    return MF_OK;
}

static char *doc(const char *id)
{
    return mf_asprintf("{\"schema\":\"mailfleet.report.v1\",\"report_id\":\"%s\","
                       "\"collected_at\":\"2026-01-01T10:00:00Z\",\"agent\":{\"version\":\"1\"},"
                       "\"host\":{\"id\":\"H1\"},\"sources\":[],\"servers\":[],"
                       "\"accounts\":[],\"probes\":[]}",
                       id);
}

/* Append "REPORT id len\nbody\n" to b. */
static void frame(mf_buf *b, const char *id, const char *body)
{
    mf_buf_appendf(b, "REPORT %s %zu\n%s\n", id, strlen(body), body);
}

typedef struct run_result {
    mf_code rc;
    mf_receive_stats stats;
    char *out;
    mf_error err;
} run_result;

static run_result run(const char *input, size_t len, size_t max, sink_ctx *sink, bool timeout,
                      int fail_writes_after)
{
    io_ctx x = {.in = input, .left = len, .timeout_at_end = timeout,
                .fail_writes_after = fail_writes_after};
    mf_buf_init(&x.out, 1 << 20);
    mf_receive_io io = {.read = r_read, .write = r_write, .ctx = &x};
    mf_receive_sink sk = {.store = s_store, .ctx = sink};
    run_result r;
    mf_error_clear(&r.err);
    r.rc = mf_receive_run(&r.stats, &io, &sk, max, &r.err);
    r.out = mf_buf_detach(&x.out, NULL);
    return r;
}

static void test_good_and_duplicates(void **state)
{
    (void)state;
    mf_buf b;
    mf_buf_init(&b, 1 << 20);
    char *a = doc(ID_A), *bb = doc(ID_B);
    frame(&b, ID_A, a);
    frame(&b, ID_B, bb);
    frame(&b, ID_A, a);
    frame(&b, "0F8FAD5B-D9CB-469F-A165-70867728950E", a);
    mf_buf_append_str(&b, "END\n");
    sink_ctx sink = {0};
    run_result r = run(b.data, b.len, 4096, &sink, false, -1);
    assert_int_equal(r.rc, MF_OK);
    assert_string_equal(r.out, "MFRECV 1 max=4096\n"
                               "ACK " ID_A "\n"
                               "ACK " ID_B "\n"
                               "ACK " ID_A " duplicate\n"
                               "ACK 0F8FAD5B-D9CB-469F-A165-70867728950E duplicate\n"
                               "BYE 2 2 0\n");
    assert_int_equal(r.stats.stored, 2);
    assert_int_equal(r.stats.duplicates, 2);
    /* The sink only ever sees lower-case, validated ids. */
    assert_string_equal(sink.ids[0], ID_A);
    free(r.out);
    free(a);
    free(bb);
    mf_buf_free(&b);
}

static void test_refusals(void **state)
{
    (void)state;
    mf_buf b;
    mf_buf_init(&b, 1 << 20);
    char *a = doc(ID_A);
    frame(&b, "../../x", a);
    frame(&b, ID_A, "{\"schema\":\"mailfleet.report.v1\",\"report_id\":\"" ID_A "\"}");
    frame(&b, ID_A, "{not json");
    frame(&b, ID_B, a);
    char big[300];
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    frame(&b, ID_A, big);
    frame(&b, ID_A, a);
    mf_buf_append_str(&b, "END\n");
    sink_ctx sink = {0};
    run_result r = run(b.data, b.len, 250, &sink, false, -1);
    assert_int_equal(r.rc, MF_OK);
    char *lines[16] = {0};
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r(r.out, "\n", &save); l && n < 16; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    assert_int_equal(n, 8);
    assert_string_equal(lines[1], "NACK ../../x bad-id the report id is not a UUID");
    assert_string_equal(lines[2], "NACK " ID_A " invalid collected_at: is required");
    assert_true(mf_str_has_prefix(lines[3], "NACK " ID_A " invalid "));
    assert_non_null(strstr(lines[3], "JSON"));
    assert_true(mf_str_has_prefix(lines[4], "NACK " ID_B " id-mismatch "));
    assert_non_null(strstr(lines[4], ID_A));
    assert_string_equal(lines[5], "NACK " ID_A " too-large report of 299 bytes is over the "
                                  "limit of 250 bytes");
    assert_string_equal(lines[6], "ACK " ID_A);
    assert_string_equal(lines[7], "BYE 1 0 5");
    free(r.out);
    free(a);
    mf_buf_free(&b);
}

static void test_sink_failures(void **state)
{
    (void)state;
    mf_buf b;
    mf_buf_init(&b, 1 << 20);
    char *a = doc(ID_A);
    frame(&b, ID_A, a);
    mf_buf_append_str(&b, "END\n");
    sink_ctx full = {.fail_with = MF_ERR_NOSPACE};
    run_result r = run(b.data, b.len, 4096, &full, false, -1);
    assert_int_equal(r.rc, MF_OK);
    assert_non_null(strstr(r.out, "NACK " ID_A " no-space "));
    free(r.out);
    sink_ctx broken = {.fail_with = MF_ERR_IO};
    r = run(b.data, b.len, 4096, &broken, false, -1);
    assert_non_null(strstr(r.out, "NACK " ID_A " io "));
    free(r.out);
    free(a);
    mf_buf_free(&b);
}

static void test_framing_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HELLO\n",
        "REPORT\n",
        "REPORT " ID_A "\n",
        "REPORT " ID_A " 12x\n",
        "REPORT " ID_A "  2\n{}\n",
        "REPORT " ID_A " 2\n{}X",
        "REPORT " ID_A " 5\n{}",
        "END",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sink_ctx sink = {0};
        run_result r = run(bad[i], strlen(bad[i]), 4096, &sink, false, -1);
        assert_int_equal(r.rc, MF_ERR_PARSE);
        assert_non_null(strstr(r.out, "\nNACK - protocol "));
        assert_int_equal(sink.n, 0);
        free(r.out);
    }
    /* A control line over 512 bytes. */
    char line[700];
    memset(line, 'a', sizeof(line));
    sink_ctx sink = {0};
    run_result r = run(line, sizeof(line), 4096, &sink, false, -1);
    assert_int_equal(r.rc, MF_ERR_PARSE);
    assert_non_null(strstr(r.out, "longer than 512"));
    free(r.out);
}

static void test_end_of_input_and_idle(void **state)
{
    (void)state;
    char *a = doc(ID_A);
    mf_buf b;
    mf_buf_init(&b, 1 << 20);
    frame(&b, ID_A, a);
    /* No END: what was acknowledged stays acknowledged; the session is not clean. */
    sink_ctx sink = {0};
    run_result r = run(b.data, b.len, 4096, &sink, false, -1);
    assert_int_equal(r.rc, MF_ERR_IO);
    assert_int_equal(r.stats.stored, 1);
    assert_non_null(strstr(r.err.text, "without END"));
    free(r.out);
    /* An idle agent: the reader times out. */
    sink_ctx sink2 = {0};
    r = run(b.data, b.len - 10, 4096, &sink2, true, -1);
    assert_int_equal(r.rc, MF_ERR_TIMEOUT);
    assert_int_equal(sink2.n, 0);
    free(r.out);
    /* An agent that stops reading answers. */
    sink_ctx sink3 = {0};
    r = run(b.data, b.len, 4096, &sink3, false, 1);
    assert_int_equal(r.rc, MF_ERR_IO);
    assert_string_equal(r.out, "MFRECV 1 max=4096\n");
    free(r.out);
    /* Bad caps are refused before anything is written. */
    sink_ctx sink4 = {0};
    r = run(b.data, b.len, 0, &sink4, false, -1);
    assert_int_equal(r.rc, MF_ERR_USAGE);
    assert_string_equal(r.out, "");
    free(r.out);
    mf_buf_free(&b);
    free(a);
}

static void test_huge_announcement(void **state)
{
    (void)state;
    static const char in[] = "REPORT " ID_A " 99999999999\n";
    sink_ctx sink = {0};
    run_result r = run(in, strlen(in), 4096, &sink, false, -1);
    assert_int_equal(r.rc, MF_ERR_TOOBIG);
    assert_string_equal(r.out, "MFRECV 1 max=4096\n"
                               "NACK " ID_A " too-large report of 99999999999 bytes is over "
                               "the limit of 4096 bytes\n");
    free(r.out);
}

int main(void)
{
    mf_log_init("test_receive", MF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_and_duplicates),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_sink_failures),
        cmocka_unit_test(test_framing_errors),
        cmocka_unit_test(test_end_of_input_and_idle),
        cmocka_unit_test(test_huge_announcement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
