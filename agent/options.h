/* options.h: the agent's command line. Every subcommand shares one option table
 * (the design brief's common options plus each command's own); a command rejects
 * options that do not apply to it. */
#ifndef MF_OPTIONS_H
#define MF_OPTIONS_H

#include "discover.h"
#include "probe.h"

#include <stdbool.h>

typedef struct mf_agent_opts {
    const char *command;
    /* discovery */
    mf_strv homes;        /* --home DIR (repeatable) */
    const char *users_root; /* --users-root DIR */
    mf_strv profiles;     /* --profiles DIR (repeatable) */
    /* probing */
    bool no_probe;        /* --no-probe */
    mf_resolve *resolve;  /* --resolve HOST:PORT:ADDR (repeatable) */
    size_t nresolve, capresolve;
    const char *ca_file;  /* --ca-file FILE */
    int timeout_s;        /* --timeout SECONDS (default 20) */
    int concurrency;      /* --concurrency N (default 16) */
    bool timeout_set;     /* --timeout was given (it then wins over the configuration) */
    bool concurrency_set; /* --concurrency was given */
    /* output */
    const char *output;   /* -o FILE */
    bool json;            /* --json (doctor, list) */
    bool pretty;          /* --pretty (collect) */
    int color;            /* --color=auto|always|never: -1 auto, 0 never, 1 always */
    /* shipping */
    const char *config;   /* --config FILE */
    const char *collector; /* --collector USER@HOST[:PORT] */
    const char *identity; /* --identity KEYFILE */
    const char *known_hosts; /* --known-hosts FILE */
    const char *outbox;   /* --outbox DIR */
    bool respect_backoff; /* --respect-backoff (send, flush): skip shipping while the
                           * outbox's retry back-off runs (the LaunchDaemon's runs) */
    /* logging */
    int verbosity;        /* -v adds one, -q sets -1 */
} mf_agent_opts;

/* Parse argv (argv[0] is the program, argv[1] the command). On a usage error prints the
 * reason to stderr and returns MF_ERR_USAGE. --help prints the command's help and
 * returns MF_ERR_NOTFOUND (callers exit 0). */
mf_code mf_agent_opts_parse(mf_agent_opts *o, int argc, char **argv);
void mf_agent_opts_free(mf_agent_opts *o);

/* Build the discovery and probe options from the command line. The pointers refer into
 * o, which must outlive them. */
void mf_agent_opts_discover(const mf_agent_opts *o, mf_discover_opts *d);
void mf_agent_opts_probe(const mf_agent_opts *o, mf_probe_opts *p);

#endif
