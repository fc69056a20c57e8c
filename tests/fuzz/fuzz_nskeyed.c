/* fuzz_nskeyed.c: the ZVALUE blob decoder (NSKeyedArchiver archives, plain plists,
 * UTF-8 text) on arbitrary bytes. A decoded tree is also serialised, so every node the
 * decoder builds is walked once. */
#include "nskeyed.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plist_t out = NULL;
    mf_nskeyed_kind kind = MF_NSKEYED_NONE;
    mf_error err;
    if (mf_nskeyed_decode_blob(&out, &kind, data, size, &err) == MF_OK && out) {
        char *xml = NULL;
        uint32_t len = 0;
        plist_to_xml(out, &xml, &len);
        plist_to_xml_free(xml);
    }
    plist_free(out);
    /* The archive-only entry point as well (it refuses non-archives). */
    if (mf_nskeyed_decode_mem(&out, data, size, &err) == MF_OK)
        plist_free(out);
    return 0;
}
