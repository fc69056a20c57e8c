/* mailfleet-collector: thin entry point; each command lives in cmd_<name>.c. */
#include "collector.h"
#include "log.h"
#include "results.h" /* policy evaluation: check, report (issue 5) */

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"receive", mf_cmd_receive, "the SSH forced command: take reports from stdin into a spool"},
    {"ingest", mf_cmd_ingest, "move spooled (or given) reports into the SQLite store"},
    {"servers", mf_cmd_servers, "every SMTP server seen across the fleet, and how it fares"},
    /* policy evaluation (cmd_check.c, cmd_report.c; exit codes 0/100/101/1/2) */
    {"check", mf_cmd_check, "evaluate report files against a policy (CI mode, no store)"},
    {"report", mf_cmd_report, "evaluate every host's latest report in the store against a policy"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mailfleet-collector COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'mailfleet-collector COMMAND --help' describes a command's options.\n"
               "Exit codes: 0 ok, 1 runtime error, 2 usage error (docs/exit-codes.md).\n");
}

int main(int argc, char **argv)
{
    mf_log_init("mailfleet-collector", MF_LOG_WARN);
    if (argc < 2) {
        usage(stderr);
        return MF_COLLECTOR_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return MF_COLLECTOR_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("mailfleet-collector %s\n", MAILFLEET_VERSION);
        return MF_COLLECTOR_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0) {
            /* getopt words its complaints with argv[0]: "mailfleet-collector check:
             * unrecognized option '--bogus'" names the program and the command. */
            char prog[64];
            snprintf(prog, sizeof(prog), "mailfleet-collector %s", commands[i].name);
            argv[1] = prog;
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "mailfleet-collector: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return MF_COLLECTOR_EXIT_USAGE;
}
