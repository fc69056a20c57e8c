/* PLACEHOLDER until shipping lands: send and flush are not implemented yet. */
#include "commands.h"
#include "log.h"

int mf_cmd_send(mf_agent_opts *o)
{
    mf_log_error("%s is not implemented yet", o->command);
    return MF_EXIT_FAILURE;
}
