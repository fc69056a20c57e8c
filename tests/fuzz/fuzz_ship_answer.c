/* fuzz_ship_answer.c: the agent's parsers of what the collector says (ship_ssh.c): the
 * greeting (first line) and the answer lines (the others).
 *
 * Invariants: an accepted greeting announces a limit >= 1; an accepted ACK/NACK names a
 * valid UUID (a protocol NACK names none); NACK text is printable ASCII only, so it
 * cannot drive the terminal that shows it; a refused line always says why. */
#include "ship_ssh.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_answer(const char *line)
{
    mf_ship_answer a;
    mf_error err;
    mf_error_clear(&err);
    if (mf_ship_parse_answer(&a, line, &err) != MF_OK) {
        if (err.text[0] == '\0')
            abort();
        return;
    }
    switch (a.verdict) {
    case MF_SHIP_STORED:
    case MF_SHIP_DUPLICATE:
    case MF_SHIP_RETRY:
    case MF_SHIP_REFUSED:
        if (!mf_uuid_valid(a.id))
            abort();
        break;
    case MF_SHIP_PROTOCOL:
    case MF_SHIP_BYE:
        if (a.id[0] != '\0')
            abort();
        break;
    default:
        abort();
    }
    for (const char *p = a.text; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            abort();
    /* a NACK is "never" exactly when its reason is one of the permanent ones */
    if ((a.verdict == MF_SHIP_REFUSED || a.verdict == MF_SHIP_RETRY) &&
        (a.verdict == MF_SHIP_REFUSED) != mf_ship_reason_is_permanent(a.reason))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *save = NULL;
    bool first = true;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (first) {
            size_t max = 0;
            mf_error err;
            mf_error_clear(&err);
            if (mf_ship_parse_greeting(&max, line, &err) == MF_OK && max < 1)
                abort();
            first = false;
        }
        check_answer(line);
    }
    free(text);
    return 0;
}
