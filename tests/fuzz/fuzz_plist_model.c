/* fuzz_plist_model.c: arbitrary bytes through the Accounts.plist parser and the
 * MailMate Submission.plist parser into a report, then findings, encoding and the
 * strict decoder.
 *
 * Invariants: a parser returns MF_OK or says why (the source record then has a status
 * other than ok and a message); every string it put into the report is valid UTF-8, so
 * the encoding keeps every member and decodes again (when it fits the decoder's size
 * limit); account links point at servers that exist. */
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
    fprintf(stderr, "fuzz_plist_model: %s: %s\n", what,
            err ? mf_error_format(err, msg, sizeof(msg)) : "");
    abort();
}

typedef mf_code (*parse_fn)(mf_report *, int, const char *, size_t, mf_error *);

static void run(mf_report *r, parse_fn fn, const char *client, const char *format,
                const uint8_t *data, size_t size)
{
    int idx;
    if (mf_report_add_source(r, "fuzz", client, format, "fuzz.plist", &idx) != MF_OK)
        die("out of memory", NULL);
    mf_error err;
    mf_error_clear(&err);
    mf_code rc = fn(r, idx, (const char *)data, size, &err);
    if (rc == MF_ERR_NOMEM)
        die("out of memory", NULL);
    if (rc != MF_OK) {
        if (err.text[0] == '\0')
            die("a refused input has no error text", &err);
        if (r->sources[idx].status == MF_SRC_OK || !r->sources[idx].error)
            die("a refused input left its source record ok", &err);
    } else if (r->sources[idx].status != MF_SRC_OK) {
        die("an accepted input marked its source failed", &err);
    }
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
    run(r, mf_accounts_plist_parse, "apple-mail", "accounts-plist", data, size);
    run(r, mf_mailmate_parse, "mailmate", "submission-plist", data, size);
    mf_report_compute_findings(r);
    for (size_t i = 0; i < r->naccounts; i++)
        if (r->accounts[i].smtp && !mf_report_find_server(r, r->accounts[i].smtp))
            die("an account links to a server that does not exist", NULL);

    char *text = mf_report_encode(r, 0);
    if (!text)
        die("encode failed", NULL);
    size_t len = strlen(text);
    if (len <= MF_REPORT_MAX_BYTES) {
        mf_report *back = NULL;
        mf_error err;
        mf_error_clear(&err);
        if (mf_report_decode(&back, text, len, &err) != MF_OK)
            die("the encoded report does not decode", &err);
        if (back->nservers != r->nservers || back->naccounts != r->naccounts)
            die("the round trip lost entries", NULL);
        mf_report_free(back);
    }
    free(text);
    mf_report_free(r);
    return 0;
}
