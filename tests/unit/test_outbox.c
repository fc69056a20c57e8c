/* test_outbox.c: agent/outbox.c — the queue that must not lose a report: order, caps
 * (oldest dropped first, the next report says how many), rejected/, the retry state and
 * its back-off, the lock, and leftovers of crashed writers. No test depends on timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fileio.h"
#include "outbox.h"
#include "report_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char root[64];

static int setup(void **state)
{
    (void)state;
    mf_strlcpy(root, "/tmp/mf-test-outbox-XXXXXX", sizeof(root));
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = mf_asprintf("rm -rf '%s'", root);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static char *fresh_dir(const char *name)
{
    char *p = mf_path_join(root, name);
    assert_non_null(p);
    return p;
}

static mf_outbox *open_ok(const char *dir, long long maxr, long long maxb)
{
    mf_outbox *ob = NULL;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_outbox_open(&ob, dir, maxr, maxb, 0, &err), MF_OK);
    assert_non_null(ob);
    return ob;
}

/* Queue a new small report; returns its id (static buffer per call site is fine). */
static void enqueue(mf_outbox *ob, char id[37], long long *dropped)
{
    mf_report *r = mf_report_new();
    assert_non_null(r);
    r->host.id = strdup("TESTHOST");
    r->host.hostname = strdup("test");
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_outbox_enqueue(ob, r, dropped, &err), MF_OK);
    memcpy(id, r->report_id, 37);
    mf_report_free(r);
    /* Queue names carry milliseconds: make sure the next one sorts after this one. */
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static mf_report *read_back(mf_outbox *ob, const mf_outbox_entry *e)
{
    char *data = NULL;
    size_t len = 0;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_outbox_read(&data, &len, ob, e, MF_REPORT_MAX_BYTES, &err), MF_OK);
    mf_report *r = NULL;
    assert_int_equal(mf_report_decode(&r, data, len, &err), MF_OK);
    free(data);
    return r;
}

static void test_queue_order_and_files(void **state)
{
    (void)state;
    char *dir = fresh_dir("a/b/outbox"); /* parents are created too */
    mf_outbox *ob = open_ok(dir, 100, 1 << 20);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char *rej = mf_path_join(dir, "rejected");
    assert_true(mf_path_is_dir(rej));
    char ids[3][37];
    for (int i = 0; i < 3; i++)
        enqueue(ob, ids[i], NULL);
    /* Files that are not queued reports are ignored. */
    const char *junk[] = {"notes.txt", "0000000000000001-not-a-uuid.json",
                          "0000000000000001-00000000-0000-4000-8000-000000000000.json.tmp.1"};
    for (size_t i = 0; i < MF_ARRAY_LEN(junk); i++) {
        char *p = mf_path_join(dir, junk[i]);
        FILE *f = fopen(p, "w");
        fputs("{}", f);
        fclose(f);
        free(p);
    }
    mf_outbox_entry *v = NULL;
    size_t n = 0;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_outbox_list(&v, &n, ob, &err), MF_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(v[i].report_id, ids[i]); /* oldest first */
        assert_int_equal(strlen(v[i].name), MF_OUTBOX_NAME_LEN);
        assert_true(v[i].size > 0);
        mf_report *r = read_back(ob, &v[i]);
        assert_string_equal(r->report_id, ids[i]);
        assert_int_equal(r->dropped_reports, 0);
        mf_report_free(r);
    }
    /* A cap smaller than the report refuses to read it. */
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(mf_outbox_read(&data, &len, ob, &v[0], 10, &err), MF_ERR_TOOBIG);
    assert_null(data);
    /* Remove after the ACK; removing twice is fine (another run shipped it). */
    assert_int_equal(mf_outbox_remove(ob, &v[0], &err), MF_OK);
    assert_int_equal(mf_outbox_remove(ob, &v[0], &err), MF_OK);
    assert_int_equal(mf_outbox_read(&data, &len, ob, &v[0], 1 << 20, &err), MF_ERR_NOTFOUND);
    free(v);
    assert_int_equal(mf_outbox_list(&v, &n, ob, &err), MF_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].report_id, ids[1]);
    free(v);
    mf_outbox_close(ob);
    mf_outbox_close(NULL);
    free(rej);
    free(dir);
}

static void test_caps_by_count(void **state)
{
    (void)state;
    char *dir = fresh_dir("count");
    mf_outbox *ob = open_ok(dir, 2, 1 << 20);
    char ids[5][37];
    long long dropped = -1;
    enqueue(ob, ids[0], &dropped);
    assert_int_equal(dropped, 0);
    enqueue(ob, ids[1], &dropped);
    assert_int_equal(dropped, 0);
    enqueue(ob, ids[2], &dropped); /* drops ids[0] */
    assert_int_equal(dropped, 1);
    mf_outbox_state st;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_outbox_state_load(&st, ob, &err), MF_OK);
    assert_int_equal(st.dropped_pending, 1);
    assert_int_equal(st.dropped_total, 1);
    enqueue(ob, ids[3], &dropped); /* carries 1, drops ids[1] */
    enqueue(ob, ids[4], &dropped); /* carries 1, drops ids[2] */
    mf_outbox_entry *v = NULL;
    size_t n = 0;
    assert_int_equal(mf_outbox_list(&v, &n, ob, &err), MF_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].report_id, ids[3]);
    assert_string_equal(v[1].report_id, ids[4]);
    mf_report *r = read_back(ob, &v[0]);
    assert_int_equal(r->dropped_reports, 1);
    mf_report_free(r);
    r = read_back(ob, &v[1]);
    assert_int_equal(r->dropped_reports, 1);
    /* and the encoding is agent.dropped_reports */
    json_t *j = mf_report_to_json(r);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "agent"), "dropped_reports")), 1);
    json_decref(j);
    mf_report_free(r);
    assert_int_equal(mf_outbox_state_load(&st, ob, &err), MF_OK);
    assert_int_equal(st.dropped_pending, 1);
    assert_int_equal(st.dropped_total, 3);
    free(v);
    mf_outbox_close(ob);
    free(dir);
}

static void test_caps_by_bytes(void **state)
{
    (void)state;
    char *dir = fresh_dir("bytes");
    /* 1 byte: every older report goes, the newest is always kept. */
    mf_outbox *ob = open_ok(dir, 100, 1);
    char a[37], b[37];
    long long dropped = 0;
    enqueue(ob, a, &dropped);
    assert_int_equal(dropped, 0);
    enqueue(ob, b, &dropped);
    assert_int_equal(dropped, 1);
    mf_outbox_entry *v = NULL;
    size_t n = 0;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_outbox_list(&v, &n, ob, &err), MF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].report_id, b);
    long long one = v[0].size;
    free(v);
    mf_outbox_close(ob);
    /* Room for two reports but not three (the next one also carries
     * "dropped_reports": 1, a few bytes more). */
    ob = open_ok(dir, 100, 2 * one + 64);
    char c[37];
    enqueue(ob, c, &dropped);
    assert_int_equal(dropped, 0);
    enqueue(ob, c, &dropped);
    assert_int_equal(dropped, 1);
    assert_int_equal(mf_outbox_list(&v, &n, ob, &err), MF_OK);
    assert_int_equal(n, 2);
    free(v);
    mf_outbox_close(ob);
    free(dir);
}

static void test_reject(void **state)
{
    (void)state;
    char *dir = fresh_dir("reject");
    mf_outbox *ob = open_ok(dir, 2, 1 << 20);
    char ids[4][37];
    for (int i = 0; i < 2; i++)
        enqueue(ob, ids[i], NULL);
    mf_outbox_entry *v = NULL;
    size_t n = 0;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_outbox_list(&v, &n, ob, &err), MF_OK);
    assert_int_equal(mf_outbox_reject(ob, &v[0], "invalid servers[0].port: out of range", &err),
                     MF_OK);
    char *moved = mf_asprintf("%s/rejected/%s", dir, v[0].name);
    char *why = mf_asprintf("%s/rejected/%s.reason", dir, v[0].name);
    assert_true(mf_path_is_file(moved));
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(mf_file_read(why, 4096, &text, &len, &err), MF_OK);
    assert_string_equal(text, "invalid servers[0].port: out of range\n");
    free(text);
    free(v);
    assert_int_equal(mf_outbox_list(&v, &n, ob, &err), MF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].report_id, ids[1]);
    /* rejected/ is capped like the queue (2 here): the oldest rejected goes. */
    assert_int_equal(mf_outbox_reject(ob, &v[0], "bad-id", &err), MF_OK);
    free(v);
    enqueue(ob, ids[2], NULL);
    assert_int_equal(mf_outbox_list(&v, &n, ob, &err), MF_OK);
    assert_int_equal(mf_outbox_reject(ob, &v[0], "too-large", &err), MF_OK);
    free(v);
    assert_false(mf_path_exists(moved));
    assert_false(mf_path_exists(why));
    free(moved);
    free(why);
    mf_outbox_close(ob);
    free(dir);
}

static void test_state_roundtrip(void **state)
{
    (void)state;
    char *dir = fresh_dir("state");
    mf_outbox *ob = open_ok(dir, 10, 1 << 20);
    mf_outbox_state st;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_outbox_state_load(&st, ob, &err), MF_OK); /* missing: zero */
    assert_int_equal(st.attempts, 0);
    assert_int_equal(st.next_attempt, 0);
    mf_outbox_note_failure(&st, 1000000, false, "cannot connect: refused", 60, 3600, 0);
    mf_outbox_note_failure(&st, 1000100, false, "again", 60, 3600, 0);
    st.dropped_pending = 4;
    st.dropped_total = 9;
    assert_int_equal(mf_outbox_state_save(ob, &st, &err), MF_OK);
    mf_outbox_state back;
    assert_int_equal(mf_outbox_state_load(&back, ob, &err), MF_OK);
    assert_int_equal(back.attempts, 2);
    assert_int_equal(back.last_attempt, 1000100);
    assert_int_equal(back.next_attempt, st.next_attempt);
    assert_int_equal(back.dropped_pending, 4);
    assert_int_equal(back.dropped_total, 9);
    assert_string_equal(back.last_error, "again");
    /* A corrupt state never blocks shipping: it reads as zero. */
    const char *bad[] = {"not json", "[]", "{\"attempts\": \"x\"}", "{\"next_attempt\": -5}"};
    char *path = mf_path_join(dir, "state.json");
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        assert_int_equal(mf_outbox_state_load(&back, ob, &err), MF_OK);
        assert_int_equal(back.attempts, 0);
        assert_int_equal(back.dropped_pending, 0);
    }
    free(path);
    mf_outbox_close(ob);
    free(dir);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(mf_outbox_backoff(0, 60, 3600, 12345), 0);
    /* attempt 1: [30, 60]; the jitter covers both ends */
    assert_int_equal(mf_outbox_backoff(1, 60, 3600, 0), 30);
    assert_int_equal(mf_outbox_backoff(1, 60, 3600, 30), 60);
    assert_int_equal(mf_outbox_backoff(1, 60, 3600, 31), 30);
    /* doubling: 60, 120, 240, ... */
    assert_int_equal(mf_outbox_backoff(2, 60, 3600, 60), 120);
    assert_int_equal(mf_outbox_backoff(3, 60, 3600, 120), 240);
    /* capped at max, however many attempts (no overflow) */
    assert_int_equal(mf_outbox_backoff(7, 60, 3600, 1800), 3600);
    assert_int_equal(mf_outbox_backoff(1000000, 60, 3600, 1800), 3600);
    assert_int_equal(mf_outbox_backoff(1000000, 60, 3600, 0), 1800);
    for (uint32_t rnd = 0; rnd < 5000; rnd += 7) {
        int64_t d = mf_outbox_backoff(40, 60, 3600, rnd);
        assert_true(d >= 1800 && d <= 3600);
    }
    /* progress (some ACKs) restarts the back-off */
    mf_outbox_state st;
    memset(&st, 0, sizeof(st));
    for (int i = 0; i < 5; i++)
        mf_outbox_note_failure(&st, 100, false, "x", 60, 3600, 0);
    assert_int_equal(st.attempts, 5);
    mf_outbox_note_failure(&st, 200, true, "nack no-space", 60, 3600, 30);
    assert_int_equal(st.attempts, 1);
    assert_int_equal(st.next_attempt, 260);
    mf_outbox_note_success(&st, 300);
    assert_int_equal(st.attempts, 0);
    assert_int_equal(st.next_attempt, 0);
    assert_int_equal(st.last_success, 300);
    assert_string_equal(st.last_error, "");
}

static void test_lock(void **state)
{
    (void)state;
    char *dir = fresh_dir("lock");
    mf_outbox *a = open_ok(dir, 10, 1 << 20);
    mf_outbox *b = NULL;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_outbox_open(&b, dir, 10, 1 << 20, 0, &err), MF_ERR_TIMEOUT);
    assert_null(b);
    assert_non_null(strstr(err.text, "another mailfleet-agent"));
    mf_outbox_close(a);
    b = open_ok(dir, 10, 1 << 20);
    mf_outbox_close(b);
    /* A folder that cannot be created is named in the error. */
    mf_code rc = mf_outbox_open(&b, "/proc/mailfleet-cannot-exist/outbox", 1, 1, 0, &err);
    assert_int_not_equal(rc, MF_OK);
    assert_null(b);
    assert_non_null(strstr(err.text, "/proc/mailfleet-cannot-exist"));
    free(dir);
}

static void test_stale_temps(void **state)
{
    (void)state;
    char *dir = fresh_dir("temps");
    mf_outbox *ob = open_ok(dir, 10, 1 << 20);
    mf_outbox_close(ob);
    char *old =
        mf_path_join(dir, "0000000000000001-00000000-0000-4000-8000-000000000000.json.tmp.42");
    char *young = mf_path_join(dir, "state.json.tmp.43");
    FILE *f = fopen(old, "w");
    fclose(f);
    f = fopen(young, "w");
    fclose(f);
    struct timeval tv[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    assert_int_equal(utimes(old, tv), 0);
    ob = open_ok(dir, 10, 1 << 20);
    assert_false(mf_path_exists(old));
    assert_true(mf_path_exists(young)); /* may belong to a writer still running */
    mf_outbox_close(ob);
    free(old);
    free(young);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_order_and_files),
        cmocka_unit_test(test_caps_by_count),
        cmocka_unit_test(test_caps_by_bytes),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_stale_temps),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
