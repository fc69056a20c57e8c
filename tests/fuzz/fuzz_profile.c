/* fuzz_profile.c: arbitrary bytes through the configuration profile reader (plain XML
 * or binary plists, and CMS SignedData in DER or PEM) into a report, then findings,
 * encoding and the strict decoder. The same invariants as fuzz_plist_model. */
#include "log.h"
#include "report.h"
#include "report_json.h"
#include "source_plist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const mf_error *err)
{
    char msg[1024];
    fprintf(stderr, "fuzz_profile: %s: %s\n", what,
            err ? mf_error_format(err, msg, sizeof(msg)) : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        mf_log_set_level(MF_LOG_ERROR);
        quiet = 1;
    }
    mf_report *r = mf_report_new();
    if (!r)
        die("out of memory", NULL);
    r->host.id = strdup("fuzz-host");
    r->host.hostname = strdup("fuzz-host");
    int idx;
    if (mf_report_add_source(r, "", "profile", "mobileconfig", "fuzz.mobileconfig", &idx))
        die("out of memory", NULL);
    mf_error err;
    mf_error_clear(&err);
    mf_code rc = mf_profile_parse(r, idx, (const char *)data, size, &err);
    if (rc == MF_ERR_NOMEM)
        die("out of memory", NULL);
    if (rc != MF_OK && (err.text[0] == '\0' || r->sources[idx].status == MF_SRC_OK))
        die("a refused input has no error or left its source ok", &err);
    if (rc == MF_OK && r->sources[idx].status != MF_SRC_OK)
        die("an accepted input marked its source failed", &err);
    if (r->nservers != r->naccounts)
        die("every payload gives one server and one account", NULL);
    mf_report_compute_findings(r);
    for (size_t i = 0; i < r->naccounts; i++)
        if (!r->accounts[i].smtp || !mf_report_find_server(r, r->accounts[i].smtp))
            die("a profile account is not linked to its server", NULL);

    char *text = mf_report_encode(r, 0);
    if (!text)
        die("encode failed", NULL);
    size_t len = strlen(text);
    if (len <= MF_REPORT_MAX_BYTES) {
        mf_report *back = NULL;
        mf_error_clear(&err);
        if (mf_report_decode(&back, text, len, &err) != MF_OK)
            die("the encoded report does not decode", &err);
        mf_report_free(back);
    }
    free(text);
    mf_report_free(r);
    return 0;
}
