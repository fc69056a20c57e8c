/* cli.c: small helpers shared by the collector's subcommands. */
#include "log.h"
#include "util.h"

#include <stdbool.h>
#include <stdio.h>

#include "collector.h"

void mf_cli_set_verbosity(int verbosity)
{
    if (verbosity < 0)
        mf_log_set_level(MF_LOG_ERROR);
    else
        mf_log_set_level((mf_log_level)(MF_LOG_WARN + (verbosity > 2 ? 2 : verbosity)));
}

bool mf_cli_number(const char *command, const char *option, const char *value, long long min,
                   long long max, long long *out)
{
    mf_code rc = mf_parse_long(value, min, max, out);
    if (rc == MF_OK)
        return true;
    fprintf(stderr, "mailfleet-collector %s: %s: %s \"%s\" (expected %lld..%lld)\n", command,
            option, rc == MF_ERR_RANGE ? "out of range:" : "not a number:", value, min, max);
    return false;
}
