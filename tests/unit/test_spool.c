/* test_spool.c: collector/spool.c — ids as file names, durable store with duplicate
 * detection, the scan, done/, quarantine/ with reasons, the ingest lock, tmp/ cleanup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fileio.h"
#include "spool.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID1 "0f8fad5b-d9cb-469f-a165-70867728950e"
#define ID2 "7c9e6679-7425-40de-944b-e07fc1f90ae7"

typedef struct fx {
    char dir[256];
    char spool[300];
} fx;

static void rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_spool.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->spool, sizeof(f->spool), "%s/spool", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    rm_rf(f->dir);
    free(f);
    return 0;
}

static char *path_in(const fx *f, const char *rel)
{
    return mf_path_join(f->spool, rel);
}

static bool exists(const fx *f, const char *rel)
{
    char *p = path_in(f, rel);
    bool r = mf_path_exists(p);
    free(p);
    return r;
}

static char *slurp(const fx *f, const char *rel)
{
    char *p = path_in(f, rel), *data = NULL;
    size_t len;
    mf_code rc = mf_file_read(p, 1 << 20, &data, &len, NULL);
    free(p);
    return rc == MF_OK ? data : NULL;
}

static void put(const fx *f, const char *rel, const char *text)
{
    char *p = path_in(f, rel);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    free(p);
}

static size_t count_dir(const fx *f, const char *rel)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "ls -A '%s/%s' | wc -l", f->spool, rel);
    FILE *p = popen(cmd, "r");
    unsigned long n = 0;
    assert_int_equal(fscanf(p, "%lu", &n), 1);
    pclose(p);
    return n;
}

static void test_id_normalise(void **state)
{
    (void)state;
    char out[37];
    assert_true(mf_spool_id_normalise(out, ID1));
    assert_string_equal(out, ID1);
    assert_true(mf_spool_id_normalise(out, "0F8FAD5B-D9CB-469F-A165-70867728950E"));
    assert_string_equal(out, ID1);
    static const char *const bad[] = {
        "", "../../../etc/passwd", "0f8fad5b-d9cb-469f-a165-70867728950", /* 35 */
        "0f8fad5b-d9cb-469f-a165-70867728950e0", "0f8fad5b/d9cb-469f-a165-70867728950e",
        "0f8fad5bxd9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950g",
        " f8fad5b-d9cb-469f-a165-70867728950e",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(mf_spool_id_normalise(out, bad[i]));
        assert_string_equal(out, "");
    }
    assert_false(mf_spool_id_normalise(out, NULL));
}

static void test_name_is_report(void **state)
{
    (void)state;
    char id[37];
    assert_true(mf_spool_name_is_report(ID1 ".json", id));
    assert_string_equal(id, ID1);
    assert_true(mf_spool_name_is_report(ID1 ".json", NULL));
    assert_false(mf_spool_name_is_report("0F8FAD5B-D9CB-469F-A165-70867728950E.json", id));
    assert_false(mf_spool_name_is_report(ID1 ".JSON", id));
    assert_false(mf_spool_name_is_report(ID1, id));
    assert_false(mf_spool_name_is_report(ID1 ".json.tmp", id));
    assert_false(mf_spool_name_is_report("notes.json", id));
    assert_false(mf_spool_name_is_report(NULL, id));
    assert_string_equal(id, "");
}

static void test_open_layout(void **state)
{
    fx *f = *state;
    mf_spool *sp = NULL;
    mf_error err;
    mf_error_clear(&err);
    /* Without create, a missing spool is an error naming it. */
    assert_int_equal(mf_spool_open(&sp, f->spool, false, &err), MF_ERR_NOTFOUND);
    assert_null(sp);
    assert_string_equal(err.file, f->spool);
    assert_int_equal(mf_spool_open(&sp, f->spool, true, &err), MF_OK);
    assert_non_null(sp);
    assert_string_equal(mf_spool_dir(sp), f->spool);
    assert_true(exists(f, "tmp") && exists(f, "done") && exists(f, "quarantine"));
    mf_spool_close(sp);
    /* Opening again (and without create) works on an existing spool. */
    assert_int_equal(mf_spool_open(&sp, f->spool, false, &err), MF_OK);
    mf_spool_close(sp);
    mf_spool_close(NULL);
}

static void test_store_and_duplicates(void **state)
{
    fx *f = *state;
    mf_spool *sp = NULL;
    mf_spool_result res;
    assert_int_equal(mf_spool_open(&sp, f->spool, true, NULL), MF_OK);
    assert_false(mf_spool_has(sp, ID1));
    assert_int_equal(mf_spool_store(&res, sp, ID1, "{\"a\":1}", 7, NULL), MF_OK);
    assert_int_equal(res, MF_SPOOL_STORED);
    assert_true(mf_spool_has(sp, ID1));
    char *data = slurp(f, ID1 ".json");
    assert_non_null(data);
    assert_string_equal(data, "{\"a\":1}");
    free(data);
    /* Same id again, in another case: a duplicate; the first copy is untouched. */
    assert_int_equal(mf_spool_store(&res, sp, "0F8FAD5B-D9CB-469F-A165-70867728950E", "other", 5,
                                    NULL),
                     MF_OK);
    assert_int_equal(res, MF_SPOOL_DUPLICATE);
    data = slurp(f, ID1 ".json");
    assert_string_equal(data, "{\"a\":1}");
    free(data);
    /* Nothing left behind in tmp/. */
    assert_int_equal(count_dir(f, "tmp"), 0);
    /* Already ingested (done/) or quarantined: still a duplicate, nothing written. */
    assert_int_equal(mf_spool_finish(sp, ID1 ".json", false, NULL), MF_OK);
    assert_false(exists(f, ID1 ".json"));
    assert_true(exists(f, "done/" ID1 ".json"));
    assert_int_equal(mf_spool_store(&res, sp, ID1, "x", 1, NULL), MF_OK);
    assert_int_equal(res, MF_SPOOL_DUPLICATE);
    assert_false(exists(f, ID1 ".json"));
    put(f, "quarantine/" ID2 ".json", "bad");
    assert_true(mf_spool_has(sp, ID2));
    assert_int_equal(mf_spool_store(&res, sp, ID2, "x", 1, NULL), MF_OK);
    assert_int_equal(res, MF_SPOOL_DUPLICATE);
    /* An empty report is stored as an empty file (validation is the caller's). */
    assert_int_equal(mf_spool_store(&res, sp, "11111111-2222-4333-8444-555555555555", "", 0,
                                    NULL),
                     MF_OK);
    assert_int_equal(res, MF_SPOOL_STORED);
    mf_spool_close(sp);
}

static void test_store_refuses_bad_ids(void **state)
{
    fx *f = *state;
    mf_spool *sp = NULL;
    mf_spool_result res;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_spool_open(&sp, f->spool, true, NULL), MF_OK);
    assert_int_equal(mf_spool_store(&res, sp, "../escape", "x", 1, &err), MF_ERR_INVALID);
    assert_int_equal(mf_spool_store(&res, sp, "", "x", 1, &err), MF_ERR_INVALID);
    assert_false(mf_spool_has(sp, "../escape"));
    assert_int_equal(count_dir(f, ""), 3); /* tmp done quarantine */
    assert_int_equal(count_dir(f, "tmp"), 0);
    char *esc = mf_path_join(f->dir, "escape");
    assert_false(mf_path_exists(esc));
    free(esc);
    mf_spool_close(sp);
}

static void test_store_unwritable(void **state)
{
    fx *f = *state;
    mf_spool *sp = NULL;
    mf_spool_result res;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_spool_open(&sp, f->spool, true, NULL), MF_OK);
    /* tmp/ deleted under a running receiver: the write fails with an error naming the
     * file, and the report is not claimed to be stored. (Works as root too: no
     * permissions involved.) */
    char *tmp = path_in(f, "tmp");
    assert_int_equal(rmdir(tmp), 0);
    assert_int_not_equal(mf_spool_store(&res, sp, ID1, "x", 1, &err), MF_OK);
    assert_true(strstr(err.text, "tmp/") != NULL);
    assert_false(exists(f, ID1 ".json"));
    mf_spool_close(sp);
    /* tmp replaced by a file: the spool cannot be opened, and the error says why. */
    put(f, "tmp", "not a folder");
    mf_error_clear(&err);
    assert_int_not_equal(mf_spool_open(&sp, f->spool, true, &err), MF_OK);
    assert_null(sp);
    assert_true(strstr(err.text, "tmp") != NULL);
    free(tmp);
}

static void test_scan_finish_remove(void **state)
{
    fx *f = *state;
    mf_spool *sp = NULL;
    mf_spool_result res;
    assert_int_equal(mf_spool_open(&sp, f->spool, true, NULL), MF_OK);
    assert_int_equal(mf_spool_store(&res, sp, ID1, "1", 1, NULL), MF_OK);
    assert_int_equal(mf_spool_store(&res, sp, ID2, "2", 1, NULL), MF_OK);
    put(f, "stray.txt", "?");
    put(f, ".hidden", "?");
    assert_int_equal(mf_spool_lock(sp, NULL), MF_OK); /* ingest.lock is not an entry */
    assert_int_equal(mf_spool_count(sp), 3);
    mf_spool_scan *sc = NULL;
    assert_int_equal(mf_spool_scan_begin(&sc, sp, NULL), MF_OK);
    int seen1 = 0, seen2 = 0, stray = 0, other = 0;
    const char *name;
    while ((name = mf_spool_scan_next(sc))) {
        if (strcmp(name, ID1 ".json") == 0)
            seen1++;
        else if (strcmp(name, ID2 ".json") == 0)
            seen2++;
        else if (strcmp(name, "stray.txt") == 0)
            stray++;
        else
            other++;
        /* Moving entries away during the scan is allowed. */
        if (strcmp(name, ID2 ".json") == 0)
            assert_int_equal(mf_spool_finish(sp, name, true, NULL), MF_OK);
    }
    mf_spool_scan_end(sc);
    assert_int_equal(seen1, 1);
    assert_int_equal(seen2, 1);
    assert_int_equal(stray, 1);
    assert_int_equal(other, 0);
    assert_false(exists(f, ID2 ".json"));
    assert_false(exists(f, "done/" ID2 ".json")); /* removed, not moved */
    /* Finishing something already gone is fine (a previous run moved it). */
    assert_int_equal(mf_spool_finish(sp, ID2 ".json", false, NULL), MF_OK);
    /* Names with a path in them are refused. */
    assert_int_equal(mf_spool_finish(sp, "../x", false, NULL), MF_ERR_INVALID);
    assert_int_equal(mf_spool_finish(sp, "done/" ID1 ".json", true, NULL), MF_ERR_INVALID);
    assert_int_equal(mf_spool_sync(sp, NULL), MF_OK);
    mf_spool_close(sp);
}

static void test_quarantine(void **state)
{
    fx *f = *state;
    mf_spool *sp = NULL;
    assert_int_equal(mf_spool_open(&sp, f->spool, true, NULL), MF_OK);
    put(f, "junk.json", "not json");
    assert_int_equal(mf_spool_quarantine(sp, "junk.json", "invalid report: line 1", NULL), MF_OK);
    assert_false(exists(f, "junk.json"));
    char *data = slurp(f, "quarantine/junk.json");
    assert_string_equal(data, "not json");
    free(data);
    data = slurp(f, "quarantine/junk.json.reason");
    assert_string_equal(data, "invalid report: line 1\n");
    free(data);
    /* Quarantining again (a crash before the move, then a re-run) rewrites the reason. */
    put(f, "junk.json", "not json either");
    assert_int_equal(mf_spool_quarantine(sp, "junk.json", "second reason", NULL), MF_OK);
    data = slurp(f, "quarantine/junk.json.reason");
    assert_string_equal(data, "second reason\n");
    free(data);
    assert_int_equal(count_dir(f, "quarantine"), 2);
    assert_int_equal(mf_spool_quarantine(sp, "../junk.json", "x", NULL), MF_ERR_INVALID);
    mf_spool_close(sp);
}

static void test_lock(void **state)
{
    fx *f = *state;
    mf_spool *a = NULL, *b = NULL;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_spool_open(&a, f->spool, true, NULL), MF_OK);
    assert_int_equal(mf_spool_open(&b, f->spool, true, NULL), MF_OK);
    assert_int_equal(mf_spool_lock(a, NULL), MF_OK);
    assert_int_equal(mf_spool_lock(a, NULL), MF_OK); /* already ours */
    assert_int_equal(mf_spool_lock(b, &err), MF_ERR_REFUSED);
    assert_true(strstr(err.text, "another ingest") != NULL);
    mf_spool_close(a);
    assert_int_equal(mf_spool_lock(b, NULL), MF_OK);
    mf_spool_close(b);
}

static void test_clean_tmp(void **state)
{
    fx *f = *state;
    mf_spool *sp = NULL;
    assert_int_equal(mf_spool_open(&sp, f->spool, true, NULL), MF_OK);
    put(f, "tmp/old", "x");
    put(f, "tmp/new", "y");
    char *old = path_in(f, "tmp/old");
    struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    assert_int_equal(utimensat(AT_FDCWD, old, ts, 0), 0);
    size_t n = 99;
    assert_int_equal(mf_spool_clean_tmp(&n, sp, 1500000000, NULL), MF_OK);
    assert_int_equal(n, 1);
    assert_false(mf_path_exists(old));
    assert_true(exists(f, "tmp/new"));
    free(old);
    mf_spool_close(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_normalise),
        cmocka_unit_test(test_name_is_report),
        cmocka_unit_test_setup_teardown(test_open_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_bad_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_unwritable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_finish_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_tmp, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
