/* fuzz_profiles_ini.c: the INI reader, alone and as a profiles.ini.
 *
 * 1. The input is parsed with default and tiny caps; the result's invariants are
 *    checked (NUL-free strings, counts within caps, lookups agree with the arrays).
 * 2. The input becomes ~/Library/Thunderbird/profiles.ini of a scratch home that has
 *    one real profile (Profiles/p); the Thunderbird source scans it, and the report must
 *    encode and pass the strict decoder whatever paths the file names.
 */
#include "ini.h"
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

static void check_ini(const mf_ini *ini, const mf_ini_limits *lim)
{
    size_t total = 0;
    if (ini->n > lim->max_sections)
        abort();
    for (size_t i = 0; i < ini->n; i++) {
        const mf_ini_section *s = &ini->sections[i];
        if (!s->name[0] || mf_ini_section_find(ini, s->name) != s || s->line < 1)
            abort();
        if (s->n > MF_INI_MAX_SECTION_ENTRIES)
            abort();
        for (size_t k = 0; k < s->n; k++) {
            const mf_ini_entry *e = &s->entries[k];
            if (!e->key[0] || mf_ini_section_get(s, e->key) != e->value || e->line < 1)
                abort();
            if (strlen(e->key) > lim->max_line || strlen(e->value) > lim->max_line)
                abort();
        }
        total += s->n;
    }
    if (total != ini->entries || total > lim->max_entries)
        abort();
}

static void parse_alone(const uint8_t *data, size_t size)
{
    mf_ini_limits dflt = {MF_INI_MAX_LINE, MF_INI_MAX_SECTIONS, MF_INI_MAX_ENTRIES};
    mf_ini_limits tiny = {.max_line = 16, .max_sections = 3, .max_entries = 5};
    const mf_ini_limits *lims[2] = {&dflt, &tiny};
    for (int i = 0; i < 2; i++) {
        mf_ini *ini = NULL;
        mf_error err;
        mf_code rc = mf_ini_parse(&ini, (const char *)data, size, "profiles.ini", lims[i], &err);
        if (rc == MF_ERR_NOMEM)
            continue;
        if (!ini)
            abort();
        if (rc == MF_ERR_PARSE && (err.line < 1 || err.column < 1 || ini->errors == 0))
            abort();
        if (rc == MF_OK && ini->errors)
            abort();
        check_ini(ini, lims[i]);
        mf_ini_free(ini);
    }
}

static void scan_end_to_end(const uint8_t *data, size_t size)
{
    char path[256];
    if (!scratch[0]) {
        /* A memory file system when there is one: every run writes files. */
        snprintf(scratch, sizeof(scratch), "%s/mf-fuzz-ini-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(scratch))
            abort();
        atexit(cleanup);
        static const char *const dirs[] = {"/Library", "/Library/Thunderbird",
                                           "/Library/Thunderbird/Profiles",
                                           "/Library/Thunderbird/Profiles/p"};
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
            snprintf(path, sizeof(path), "%s%s", scratch, dirs[i]);
            mkdir(path, 0755);
        }
        snprintf(path, sizeof(path), "%s/Library/Thunderbird/Profiles/p/prefs.js", scratch);
        FILE *f = fopen(path, "w");
        if (!f)
            abort();
        fputs("user_pref(\"mail.smtpserver.smtp1.hostname\", \"smtp.example.com\");\n"
              "user_pref(\"mail.smtpservers\", \"smtp1\");\n"
              "user_pref(\"mail.identity.id1.useremail\", \"a@example.com\");\n",
              f);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/Library/Thunderbird/profiles.ini", scratch);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);

    mf_report *r = mf_report_new();
    if (!r)
        return;
    mf_home h = {.user = "fuzz", .path = scratch};
    mf_scan_opts o = {.file_cap = MF_SOURCE_FILE_CAP};
    if (mf_source_thunderbird.scan(r, &h, &o) != MF_OK)
        abort();
    mf_report_compute_findings(r);
    if (r->nsources < 1 || strcmp(r->sources[0].format, "profiles-ini") != 0)
        abort();
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
