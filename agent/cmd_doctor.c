/* PLACEHOLDER until the probe lands: doctor is not implemented yet. */
#include "commands.h"
#include "log.h"

int mf_cmd_doctor(mf_agent_opts *o)
{
    (void)o;
    mf_log_error("doctor is not implemented yet");
    return MF_EXIT_FAILURE;
}
