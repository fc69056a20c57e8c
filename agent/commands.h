/* commands.h: one function per subcommand, each in its own cmd_<name>.c. They return
 * the process exit code. */
#ifndef MF_COMMANDS_H
#define MF_COMMANDS_H

#include "options.h"

/* Exit codes of the agent (docs/exit-codes.md). */
enum {
    MF_EXIT_OK = 0,
    MF_EXIT_FAILURE = 1, /* some source failed / runtime error; report still written */
    MF_EXIT_USAGE = 2,
};

int mf_cmd_collect(mf_agent_opts *o); /* cmd_collect.c */
int mf_cmd_list(mf_agent_opts *o);    /* cmd_list.c */
int mf_cmd_doctor(mf_agent_opts *o);  /* cmd_doctor.c */
int mf_cmd_send(mf_agent_opts *o);    /* cmd_send.c: send and flush */

/* Shared by collect, list, doctor: build a report with host identity and discovery
 * (and probing unless o->no_probe or probe is false). *out is the caller's. */
mf_code mf_agent_build_report(mf_report **out, const mf_agent_opts *o, bool probe);

struct mf_agent_config;
/* The same for reports that leave the machine (collect, send): the configuration's
 * probe settings replace o's (command-line flags already won inside cfg), and the
 * configuration's privacy mode is applied (pseudonymise). */
mf_code mf_agent_build_report_cfg(mf_report **out, mf_agent_opts *o,
                                  const struct mf_agent_config *cfg);

#endif
