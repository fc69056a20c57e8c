/* test_fileio.c: common/fileio.c — reading untrusted files with a cap, and how each
 * way of failing maps to a report source status; atomic writes. Every test works in
 * its own temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fileio.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fixture {
    char dir[256];
} fixture;

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        (void)chmod(path, 0700);
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *child = mf_path_join(path, e->d_name);
            rm_rf(child);
            free(child);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/mf_fileio_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* dir/name, owned by the caller. */
static char *at(void **state, const char *name)
{
    fixture *f = *state;
    char *p = mf_path_join(f->dir, name);
    assert_non_null(p);
    return p;
}

static void put(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static size_t count_entries(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Expect mf_file_read(path, cap) to fail with code, naming the file, with text
 * containing want (if not NULL). */
static void expect_fail(const char *path, size_t cap, mf_code code, const char *want)
{
    char *out = (char *)1;
    size_t len = 99;
    mf_error err;
    mf_error_clear(&err);
    mf_code rc = mf_file_read(path, cap, &out, &len, &err);
    if (rc != code)
        fail_msg("%s: code %d, expected %d (%s)", path, rc, code, err.text);
    assert_int_equal(err.code, code);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_string_equal(err.file, path);
    if (want && !strstr(err.text, want))
        fail_msg("%s: \"%s\" lacks \"%s\"", path, err.text, want);
    /* Without an mf_error, the same code. */
    out = (char *)1;
    assert_int_equal(mf_file_read(path, cap, &out, NULL, NULL), code);
    assert_null(out);
}

static void test_read_regular(void **state)
{
    char *p = at(state, "prefs.js");
    put(p, "hello\0world", 11);
    char *out = NULL;
    size_t len = 0;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_file_read(p, 1024, &out, &len, &err), MF_OK);
    assert_int_equal(len, 11);
    assert_memory_equal(out, "hello\0world", 11);
    assert_int_equal(out[11], '\0'); /* always terminated */
    free(out);
    /* len may be NULL. */
    assert_int_equal(mf_file_read(p, 1024, &out, NULL, NULL), MF_OK);
    free(out);
    /* Through a symlink. */
    char *link = at(state, "link");
    assert_int_equal(symlink(p, link), 0);
    assert_int_equal(mf_file_read(link, 1024, &out, &len, NULL), MF_OK);
    assert_int_equal(len, 11);
    free(out);
    free(link);
    free(p);

    p = at(state, "empty");
    put(p, "", 0);
    assert_int_equal(mf_file_read(p, 1024, &out, &len, NULL), MF_OK);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(mf_file_read(p, 0, &out, &len, NULL), MF_OK); /* 0 bytes fit a 0 cap */
    free(out);
    free(p);
}

static void test_read_cap(void **state)
{
    char *p = at(state, "big.plist");
    char data[1000];
    memset(data, 'a', sizeof(data));
    put(p, data, sizeof(data));
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(mf_file_read(p, 1000, &out, &len, NULL), MF_OK); /* exactly the cap */
    assert_int_equal(len, 1000);
    free(out);
    expect_fail(p, 999, MF_ERR_TOOBIG, "limit");
    expect_fail(p, 0, MF_ERR_TOOBIG, NULL);
    assert_string_equal(mf_file_status_for(MF_ERR_TOOBIG), "too-large");
    free(p);
}

static void test_read_missing(void **state)
{
    char *p = at(state, "no-such-file");
    expect_fail(p, 100, MF_ERR_NOTFOUND, NULL);
    assert_string_equal(mf_file_status_for(MF_ERR_NOTFOUND), "missing");
    free(p);
    /* A path through a regular file (ENOTDIR) is missing too. */
    char *f = at(state, "plain");
    put(f, "x", 1);
    p = at(state, "plain/child");
    expect_fail(p, 100, MF_ERR_NOTFOUND, NULL);
    free(p);
    free(f);
    /* A dangling symlink. */
    char *link = at(state, "dangling");
    char *target = at(state, "nowhere");
    assert_int_equal(symlink(target, link), 0);
    expect_fail(link, 100, MF_ERR_NOTFOUND, NULL);
    assert_true(mf_path_exists(link));
    assert_false(mf_path_is_file(link));
    free(target);
    free(link);
}

static void test_read_not_a_file(void **state)
{
    fixture *f = *state;
    expect_fail(f->dir, 100, MF_ERR_IO, "directory");
    assert_string_equal(mf_file_status_for(MF_ERR_IO), "unreadable");

    char *a = at(state, "loop-a"), *b = at(state, "loop-b");
    assert_int_equal(symlink(b, a), 0);
    assert_int_equal(symlink(a, b), 0);
    expect_fail(a, 100, MF_ERR_IO, "symlink loop");
    free(a);
    free(b);

    /* A FIFO with no writer: refused at once, never a blocked read. */
    char *fifo = at(state, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect_fail(fifo, 100, MF_ERR_IO, "not a regular file");
    free(fifo);

    if (access("/dev/null", F_OK) == 0)
        expect_fail("/dev/null", 100, MF_ERR_IO, "not a regular file");
}

static void test_read_permission(void **state)
{
    fixture *f = *state;
    char *p = at(state, "secret.plist");
    put(p, "data", 4);
    assert_int_equal(chmod(p, 0), 0);
    assert_string_equal(mf_file_status_for(MF_ERR_PERM), "unreadable");
    if (geteuid() != 0) {
        expect_fail(p, 100, MF_ERR_PERM, NULL);
        free(p);
        return;
    }
    /* root reads anything: check as "nobody" in a child process instead. */
    assert_int_equal(chmod(f->dir, 0711), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(77);
        char *out = NULL;
        mf_error err;
        mf_error_clear(&err);
        mf_code rc = mf_file_read(p, 100, &out, NULL, &err);
        _exit(rc == MF_ERR_PERM && out == NULL && strcmp(err.file, p) == 0 ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    free(p);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip(); /* could not drop privileges here */
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_status_for(void **state)
{
    (void)state;
    assert_string_equal(mf_file_status_for(MF_ERR_NOTFOUND), "missing");
    assert_string_equal(mf_file_status_for(MF_ERR_TOOBIG), "too-large");
    assert_string_equal(mf_file_status_for(MF_ERR_PERM), "unreadable");
    assert_string_equal(mf_file_status_for(MF_ERR_IO), "unreadable");
    assert_string_equal(mf_file_status_for(MF_ERR_NOMEM), "unreadable");
    assert_string_equal(mf_file_status_for(MF_ERR_PARSE), "malformed");
    assert_string_equal(mf_file_status_for(MF_ERR_INVALID), "malformed");
}

static void test_paths(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *a, *b, *want;
    } joins[] = {
        {"/Users/alice", "Library", "/Users/alice/Library"},
        {"/Users/alice/", "Library", "/Users/alice/Library"},
        {"/Users/alice//", "/Library", "/Users/alice/Library"},
        {"/", "Users", "/Users"},
        {"rel", "x/y", "rel/x/y"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(joins); i++) {
        char *p = mf_path_join(joins[i].a, joins[i].b);
        assert_string_equal(p, joins[i].want);
        free(p);
    }
    assert_true(mf_path_is_dir(f->dir));
    assert_false(mf_path_is_file(f->dir));
    assert_true(mf_path_exists(f->dir));
    char *p = at(state, "file");
    assert_false(mf_path_exists(p));
    put(p, "1", 1);
    assert_true(mf_path_is_file(p));
    assert_false(mf_path_is_dir(p));
    free(p);
}

static void test_write_atomic(void **state)
{
    fixture *f = *state;
    char *p = at(state, "report.json");
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_file_write_atomic(p, "{\"a\": 1}\n", 9, &err), MF_OK);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(mf_file_read(p, 100, &out, &len, NULL), MF_OK);
    assert_int_equal(len, 9);
    assert_string_equal(out, "{\"a\": 1}\n");
    free(out);
    /* Replacing a longer file leaves exactly the new bytes. */
    char big[4096];
    memset(big, 'b', sizeof(big));
    assert_int_equal(mf_file_write_atomic(p, big, sizeof(big), NULL), MF_OK);
    assert_int_equal(mf_file_write_atomic(p, "xy", 2, NULL), MF_OK);
    assert_int_equal(mf_file_read(p, 100, &out, &len, NULL), MF_OK);
    assert_int_equal(len, 2);
    assert_string_equal(out, "xy");
    free(out);
    assert_int_equal(mf_file_write_atomic(p, "", 0, NULL), MF_OK);
    assert_int_equal(mf_file_read(p, 100, &out, &len, NULL), MF_OK);
    assert_int_equal(len, 0);
    free(out);
    /* No temporary file is left behind. */
    assert_int_equal(count_entries(f->dir), 1);
    free(p);

    /* The folder does not exist: an error naming the file, nothing created. */
    p = at(state, "no-dir/report.json");
    mf_error_clear(&err);
    assert_int_equal(mf_file_write_atomic(p, "x", 1, &err), MF_ERR_NOTFOUND);
    assert_string_equal(err.file, p);
    assert_true(err.text[0] != '\0');
    free(p);

    /* The target is a folder: rename fails, and the temporary file is removed. */
    char *d = at(state, "a-dir");
    assert_int_equal(mkdir(d, 0700), 0);
    char *inside = at(state, "a-dir/keep");
    put(inside, "k", 1);
    mf_error_clear(&err);
    assert_int_not_equal(mf_file_write_atomic(d, "x", 1, &err), MF_OK);
    assert_non_null(strstr(err.text, "rename"));
    assert_int_equal(count_entries(f->dir), 2); /* report.json and a-dir only */
    assert_true(mf_path_is_dir(d));
    free(inside);
    free(d);

    /* A bare file name is written in the current folder. */
    int cwd = open(".", O_RDONLY | O_DIRECTORY);
    assert_true(cwd >= 0);
    assert_int_equal(chdir(f->dir), 0);
    assert_int_equal(mf_file_write_atomic("bare.json", "{}", 2, NULL), MF_OK);
    assert_int_equal(fchdir(cwd), 0);
    close(cwd);
    p = at(state, "bare.json");
    assert_int_equal(mf_file_read(p, 100, &out, &len, NULL), MF_OK);
    assert_string_equal(out, "{}");
    free(out);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_regular, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_not_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_permission, setup, teardown),
        cmocka_unit_test(test_status_for),
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
