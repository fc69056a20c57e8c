/* Differential target for the report decoder's fast JSON reader: whatever
 * mf_json_fast_load accepts, Jansson's json_loadb (with JSON_REJECT_DUPLICATES, as the
 * decoder uses it) must accept as well and read as an equal tree. A difference aborts,
 * which libFuzzer and the corpus replay both report as a failure. */
#include "report_json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MF_REPORT_MAX_BYTES)
        return 0;
    json_t *fast = mf_json_fast_load((const char *)data, size);
    if (!fast)
        return 0;
    json_error_t je;
    json_t *ref = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!ref) {
        fprintf(stderr, "fast reader accepted what json_loadb refuses: %s (line %d)\n", je.text,
                je.line);
        abort();
    }
    if (!json_equal(fast, ref)) {
        fprintf(stderr, "fast reader and json_loadb read different trees\n");
        abort();
    }
    json_decref(fast);
    json_decref(ref);
    return 0;
}
