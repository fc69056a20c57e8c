/* testsupport.h: scratch folders and files for the unit tests and fuzz targets.
 *
 * Plain C with no test framework, so the libFuzzer targets can use it too: every
 * function reports failure by its return value and the caller asserts. */
#ifndef MF_TESTSUPPORT_H
#define MF_TESTSUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <plist/plist.h>

#include "report.h"

/* Create path and its missing parents (mode 0700). 0 on success, -1 with errno. */
int mft_mkdirs(const char *path);

/* Write len bytes to path, creating its parent folders. 0 on success, -1 with errno. */
int mft_write_file(const char *path, const void *data, size_t len);

/* Remove path and everything below it; symbolic links are removed, never followed. */
void mft_rm_tree(const char *path);

/* A new private folder /tmp/<prefix>-XXXXXX, or NULL. The caller frees the name. */
char *mft_scratch_dir(const char *prefix);

/* dir + "/" + rel, freshly allocated (NULL only when out of memory). */
char *mft_join(const char *dir, const char *rel);

/* p serialised as a binary or XML plist, in a malloc'd copy; *len gets its size. */
char *mft_plist_bytes(plist_t p, bool binary, size_t *len);

/* Serialise p to path (binary or XML). Returns the size written, 0 on failure. */
size_t mft_write_plist(const char *path, plist_t p, bool binary);

/* Encode r (after filling the host fields the strict decoder requires, when absent),
 * check that none of the n strings in secrets appears in the JSON, and that the JSON
 * decodes strictly. 0 when all holds; otherwise -1 with the reason in why. */
int mft_report_clean(mf_report *r, const char *const *secrets, size_t n, char *why, size_t whylen);

/* The same as cmocka assertions, for test files that include cmocka.h first. */
#ifdef CMOCKA_H_
static inline void mft_must_mkdirs(const char *path)
{
    assert_int_equal(mft_mkdirs(path), 0);
}

static inline void mft_must_write(const char *path, const void *data, size_t len)
{
    assert_int_equal(mft_write_file(path, data, len), 0);
}

static inline size_t mft_must_write_plist(const char *path, plist_t p, bool binary)
{
    size_t n = mft_write_plist(path, p, binary);
    assert_true(n > 0);
    return n;
}

static inline char *mft_must_scratch(const char *prefix)
{
    char *d = mft_scratch_dir(prefix);
    assert_non_null(d);
    return d;
}

static inline void mft_must_be_clean(mf_report *r, const char *const *secrets, size_t n)
{
    char why[512];
    if (mft_report_clean(r, secrets, n, why, sizeof(why)) != 0)
        fail_msg("%s", why);
}
#endif

#endif
