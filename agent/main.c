/* mailfleet-agent: thin entry point; each command lives in cmd_<name>.c. */
#include "commands.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    mf_agent_opts o;
    mf_log_init("mailfleet-agent", MF_LOG_WARN);
    mf_code rc = mf_agent_opts_parse(&o, argc, argv);
    if (rc != MF_OK) {
        mf_agent_opts_free(&o);
        return rc == MF_ERR_NOTFOUND ? MF_EXIT_OK : MF_EXIT_USAGE;
    }
    if (o.verbosity < 0)
        mf_log_set_level(MF_LOG_ERROR);
    else if (o.verbosity > 0)
        mf_log_set_level((mf_log_level)(MF_LOG_WARN + (o.verbosity > 2 ? 2 : o.verbosity)));
    int status;
    if (strcmp(o.command, "collect") == 0)
        status = mf_cmd_collect(&o);
    else if (strcmp(o.command, "list") == 0)
        status = mf_cmd_list(&o);
    else if (strcmp(o.command, "doctor") == 0)
        status = mf_cmd_doctor(&o);
    else if (strcmp(o.command, "send") == 0 || strcmp(o.command, "flush") == 0)
        status = mf_cmd_send(&o);
    else
        status = MF_EXIT_USAGE;
    mf_agent_opts_free(&o);
    return status;
}
