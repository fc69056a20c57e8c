/* fuzz_prefs_js.c: the Mozilla prefs reader, alone and end to end.
 *
 * 1. The input is parsed with default and with tiny caps; the set's invariants are
 *    checked (strings are NUL-free UTF-8 of the recorded length, counts within caps,
 *    lookups find every listed name).
 * 2. The input becomes a profile's prefs.js (and, after a line "//@user.js", its user.js)
 *    in a scratch home that the Thunderbird source scans; the report must encode and
 *    pass the strict decoder, so nothing the source copied can break the collector.
 */
#include "prefs_js.h"
#include "report.h"
#include "testsupport.h"
#include "report_json.h"
#include "source.h"
#include "util.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[64];


static void cleanup(void)
{
    if (scratch[0])
        mft_rm_tree(scratch);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (n && fwrite(p, 1, n, f) != n)
        abort();
    fclose(f);
}

static void check_set(const mf_prefs *p, size_t max)
{
    if (mf_prefs_count(p) > max)
        abort();
    for (size_t i = 0; i < mf_prefs_count(p); i++) {
        const mf_pref *e = mf_prefs_at(p, i);
        if (!e || !e->name || !e->name[0] || mf_prefs_find(p, e->name) != e)
            abort();
        if (!mf_prefs_utf8_valid(e->name, strlen(e->name)))
            abort();
        const mf_pref_value *vals[2] = {&e->user, &e->def};
        for (int k = 0; k < 2; k++)
            if (vals[k]->type == MF_PREF_STRING &&
                (strlen(vals[k]->str) != vals[k]->str_len ||
                 !mf_prefs_utf8_valid(vals[k]->str, vals[k]->str_len)))
                abort();
        if (!mf_pref_effective(e))
            abort();
    }
}

static void parse_alone(const uint8_t *data, size_t size)
{
    mf_prefs *p = NULL;
    mf_error err;
    if (mf_prefs_new(&p, NULL) != MF_OK)
        return;
    mf_code rc = mf_prefs_parse(p, (const char *)data, size, "prefs.js", &err);
    if (rc == MF_ERR_PARSE && (err.line < 1 || err.column < 1 || mf_prefs_errors(p) == 0))
        abort();
    if (rc == MF_OK && mf_prefs_errors(p) != 0)
        abort();
    check_set(p, MF_PREFS_MAX_PREFS);
    mf_prefs_drop_matching(p, "password");
    for (size_t i = 0; i < mf_prefs_count(p); i++)
        if (strstr(mf_prefs_at(p, i)->name, "password"))
            abort();
    check_set(p, MF_PREFS_MAX_PREFS);
    mf_prefs_free(p);

    mf_prefs_limits tiny = {.max_prefs = 4, .max_string = 8, .max_name = 8};
    if (mf_prefs_new(&p, &tiny) != MF_OK)
        return;
    (void)mf_prefs_parse(p, (const char *)data, size, NULL, NULL);
    check_set(p, 4);
    for (size_t i = 0; i < mf_prefs_count(p); i++) {
        const mf_pref *e = mf_prefs_at(p, i);
        if (strlen(e->name) > 8 || (e->user.type == MF_PREF_STRING && e->user.str_len > 8))
            abort();
    }
    mf_prefs_free(p);
}

static void scan_end_to_end(const uint8_t *data, size_t size)
{
    if (!scratch[0]) {
        /* A memory file system when there is one: every run writes files. */
        snprintf(scratch, sizeof(scratch), "%s/mf-fuzz-prefs-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(scratch))
            abort();
        atexit(cleanup);
        char d[256];
        snprintf(d, sizeof(d), "%s/.thunderbird", scratch);
        mkdir(d, 0755);
        snprintf(d, sizeof(d), "%s/.thunderbird/Profiles", scratch);
        mkdir(d, 0755);
        snprintf(d, sizeof(d), "%s/.thunderbird/Profiles/f", scratch);
        mkdir(d, 0755);
    }
    static const char sep[] = "\n//@user.js\n";
    const uint8_t *user = NULL;
    size_t prefs_len = size, user_len = 0;
    for (size_t i = 0; i + sizeof(sep) - 1 <= size; i++)
        if (memcmp(data + i, sep, sizeof(sep) - 1) == 0) {
            prefs_len = i;
            user = data + i + sizeof(sep) - 1;
            user_len = size - prefs_len - (sizeof(sep) - 1);
            break;
        }
    char path[256];
    snprintf(path, sizeof(path), "%s/.thunderbird/Profiles/f/prefs.js", scratch);
    write_file(path, data, prefs_len);
    snprintf(path, sizeof(path), "%s/.thunderbird/Profiles/f/user.js", scratch);
    if (user)
        write_file(path, user, user_len);
    else
        unlink(path);

    mf_report *r = mf_report_new();
    if (!r)
        return;
    mf_home h = {.user = "fuzz", .path = scratch};
    mf_scan_opts o = {.file_cap = MF_SOURCE_FILE_CAP};
    if (mf_source_thunderbird.scan(r, &h, &o) != MF_OK)
        abort();
    mf_report_compute_findings(r);
    if (r->nsources < 1 || r->nsources > 2)
        abort();
    for (size_t i = 0; i < r->nservers; i++) {
        const mf_server *s = &r->servers[i];
        if (s->port < 1 || s->port > 65535 || !s->identifier)
            abort();
    }
    /* The report encodes and passes the strict decoder. */
    char why[512];
    if (mft_report_clean(r, NULL, 0, why, sizeof(why)) != 0) {
        fprintf(stderr, "%s\n", why);
        abort();
    }
    mf_report_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_alone(data, size);
    scan_end_to_end(data, size);
    return 0;
}
