/* collector.h: the subcommands of mailfleet-collector, one per cmd_<name>.c, and the
 * little they share. Each takes the command's own argv (argv[0] is the command name)
 * and returns the process exit code (docs/exit-codes.md). */
#ifndef MF_COLLECTOR_H
#define MF_COLLECTOR_H

#include <stdbool.h>

enum {
    MF_COLLECTOR_EXIT_OK = 0,
    MF_COLLECTOR_EXIT_FAILURE = 1, /* runtime error (or, for ingest, a quarantined report) */
    MF_COLLECTOR_EXIT_USAGE = 2,
};

int mf_cmd_receive(int argc, char **argv); /* cmd_receive.c */
int mf_cmd_ingest(int argc, char **argv);  /* cmd_ingest.c */
int mf_cmd_servers(int argc, char **argv); /* cmd_servers.c */

/* Set the log level from a verbosity count: -q is -1 (errors only), 0 warnings, each
 * -v one level more (cli.c). */
void mf_cli_set_verbosity(int verbosity);

/* Parse a whole decimal option value in [min, max]; on failure print
 * "mailfleet-collector COMMAND: OPTION: reason" to stderr and return false. */
bool mf_cli_number(const char *command, const char *option, const char *value, long long min,
                   long long max, long long *out);

#endif
