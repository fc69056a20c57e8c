/* fuzz_report_decode.c: the strict report decoder on arbitrary bytes.
 *
 * Every input either decodes or is refused with an error that says something. A
 * document that decodes must survive the round trip: its encoding decodes again (from
 * text when it fits the size limit, else from the JSON tree, since filling in absent
 * members can make the encoding larger than the input), and encoding that second
 * report gives the same bytes (the encoder's output is a fixed point). */
#include "report.h"
#include "report_json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const mf_error *err)
{
    char msg[1024];
    fprintf(stderr, "fuzz_report_decode: %s: %s\n", what,
            err ? mf_error_format(err, msg, sizeof(msg)) : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf_report *r = NULL;
    mf_error err;
    mf_error_clear(&err);
    mf_code rc = mf_report_decode(&r, (const char *)data, size, &err);
    if (rc != MF_OK) {
        if (r != NULL)
            die("a refused document left *out set", NULL);
        if (err.code != rc || err.text[0] == '\0')
            die("a refused document has no error text", &err);
        return 0;
    }
    char *text = mf_report_encode(r, 0);
    if (!text)
        die("encode failed", NULL);
    size_t len = strlen(text);

    mf_report *r2 = NULL;
    mf_error_clear(&err);
    if (len <= MF_REPORT_MAX_BYTES) {
        if (mf_report_decode(&r2, text, len, &err) != MF_OK)
            die("the encoding of a decoded report does not decode", &err);
    } else {
        json_error_t je;
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
            die(je.text, NULL);
        if (mf_report_from_json(&r2, root, &err) != MF_OK)
            die("the encoding of a decoded report does not decode (tree)", &err);
        json_decref(root);
    }
    char *text2 = mf_report_encode(r2, 0);
    if (!text2 || strcmp(text, text2) != 0)
        die("encode(decode(encode(x))) differs from encode(x)", NULL);
    free(text2);
    free(text);
    mf_report_free(r2);
    mf_report_free(r);
    return 0;
}
