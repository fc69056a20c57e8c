#include "options.h"
#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    OPT_HOME = 256,
    OPT_USERS_ROOT,
    OPT_PROFILES,
    OPT_NO_PROBE,
    OPT_RESOLVE,
    OPT_CA_FILE,
    OPT_TIMEOUT,
    OPT_CONCURRENCY,
    OPT_JSON,
    OPT_PRETTY,
    OPT_COLOR,
    OPT_CONFIG,
    OPT_COLLECTOR,
    OPT_IDENTITY,
    OPT_KNOWN_HOSTS,
    OPT_OUTBOX,
    OPT_RESPECT_BACKOFF,
};

static const struct option long_opts[] = {
    {"home", required_argument, NULL, OPT_HOME},
    {"users-root", required_argument, NULL, OPT_USERS_ROOT},
    {"profiles", required_argument, NULL, OPT_PROFILES},
    {"no-probe", no_argument, NULL, OPT_NO_PROBE},
    {"resolve", required_argument, NULL, OPT_RESOLVE},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"output", required_argument, NULL, 'o'},
    {"json", no_argument, NULL, OPT_JSON},
    {"pretty", no_argument, NULL, OPT_PRETTY},
    {"color", optional_argument, NULL, OPT_COLOR},
    {"colour", optional_argument, NULL, OPT_COLOR},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"collector", required_argument, NULL, OPT_COLLECTOR},
    {"identity", required_argument, NULL, OPT_IDENTITY},
    {"known-hosts", required_argument, NULL, OPT_KNOWN_HOSTS},
    {"outbox", required_argument, NULL, OPT_OUTBOX},
    {"respect-backoff", no_argument, NULL, OPT_RESPECT_BACKOFF},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Which options each command accepts, by long name (common ones are implied). */
typedef struct cmd_info {
    const char *name;
    const char *summary;
    const char *own; /* space-separated long option names beyond the discovery/probe set */
    bool probes;     /* accepts the probe options */
    const char *exit1; /* what exit status 1 means for this command */
} cmd_info;

static const cmd_info commands[] = {
    {"collect", "discover (and probe) and print the report document", "output pretty no-probe",
     true, "a source could not be read (the report is still written and says which)"},
    {"list", "a table of every SMTP server found, like Mail's Edit SMTP Server List",
     "json", false, "a source could not be read (the table is still printed)"},
    {"doctor", "Connection Doctor for every SMTP server, with advice", "json color colour", true,
     "a probe found a problem or a source failed (the output is still complete)"},
    {"send", "collect, probe, queue the report and ship everything queued",
     "no-probe config collector identity known-hosts outbox respect-backoff", true,
     "a report stays queued, or a source failed"},
    {"flush", "ship what is queued",
     "config collector identity known-hosts outbox respect-backoff", false,
     "a report stays queued"},
};

static const cmd_info *find_cmd(const char *name)
{
    for (size_t i = 0; i < MF_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static bool accepts(const cmd_info *c, const char *opt)
{
    static const char *const discovery = " home users-root profiles config verbose quiet help ";
    static const char *const probing = " resolve ca-file timeout concurrency ";
    char key[64];
    snprintf(key, sizeof(key), " %s ", opt);
    if (strstr(discovery, key))
        return true;
    if (c->probes && strstr(probing, key))
        return true;
    char own[256];
    snprintf(own, sizeof(own), " %s ", c->own);
    return strstr(own, key) != NULL;
}

static void usage_main(FILE *f)
{
    fprintf(f, "usage: mailfleet-agent COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < MF_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'mailfleet-agent COMMAND --help' for a command's options; "
               "'man mailfleet-agent' for everything.\n"
               "Exit codes: 0 ok, 1 some source or step failed (output still written), 2 usage.\n");
}

static void usage_cmd(FILE *f, const cmd_info *c)
{
    fprintf(f, "usage: mailfleet-agent %s [OPTIONS]\n%s.\n\n", c->name, c->summary);
    fprintf(f, "Where to look:\n"
               "  --home DIR           scan this home folder (repeatable)\n"
               "  --users-root DIR     scan every home under DIR (default %s when no --home)\n"
               "  --profiles DIR       read configuration profiles (*.mobileconfig) in DIR\n"
               "  --config FILE        agent configuration (plist or JSON)\n",
            mf_default_users_root());
    if (c->probes)
        fprintf(f, "Probing:\n"
                   "  --no-probe           discovery only\n"
                   "  --resolve H:P:ADDR   connect to ADDR for host H port P (keeps H for TLS)\n"
                   "  --ca-file FILE       trust anchors instead of the system store\n"
                   "  --timeout SECONDS    budget for each server's probe (default 20)\n"
                   "  --concurrency N      servers probed at once (default 16)\n");
    if (accepts(c, "output"))
        fprintf(f, "Output:\n  -o, --output FILE    write the report here instead of stdout\n"
                   "  --pretty             indent the JSON\n");
    if (accepts(c, "json"))
        fprintf(f, "  --json               JSON instead of the table\n");
    if (accepts(c, "color"))
        fprintf(f, "  --color[=WHEN]       auto (default: only on a terminal), always, never\n");
    if (accepts(c, "collector"))
        fprintf(f, "Shipping:\n"
                   "  --collector USER@HOST[:PORT]\n"
                   "  --identity KEYFILE   SSH private key (Ed25519 or RSA)\n"
                   "  --known-hosts FILE   pinned host keys of the collector\n"
                   "  --outbox DIR         queue folder\n"
                   "  --respect-backoff    do not ship while the retry back-off runs (for\n"
                   "                       scheduled runs; a person's run always tries)\n");
    fprintf(f, "Logging:\n  -v, --verbose        more detail (repeat for more)\n"
               "  -q, --quiet          errors only\n"
               "  -h, --help           this help\n");
    fprintf(f, "\nExit status: 0 ok; 1 %s; 2 usage error or refused configuration\n"
               "(docs/exit-codes.md).\n",
            c->exit1);
}

static mf_code parse_int_opt(const char *name, const char *val, int min, int max, int *out)
{
    long long v;
    if (mf_parse_long(val, min, max, &v) != MF_OK) {
        fprintf(stderr, "mailfleet-agent: --%s: \"%s\" is not a whole number from %d to %d\n",
                name, val, min, max);
        return MF_ERR_USAGE;
    }
    *out = (int)v;
    return MF_OK;
}

mf_code mf_agent_opts_parse(mf_agent_opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    o->timeout_s = 20;
    o->concurrency = 16;
    o->color = -1;
    if (argc < 2) {
        usage_main(stderr);
        return MF_ERR_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage_main(stdout);
        return MF_ERR_NOTFOUND;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("mailfleet-agent %s\n", MAILFLEET_VERSION);
        return MF_ERR_NOTFOUND;
    }
    const cmd_info *c = find_cmd(argv[1]);
    if (!c) {
        fprintf(stderr, "mailfleet-agent: unknown command \"%s\"\n\n", argv[1]);
        usage_main(stderr);
        return MF_ERR_USAGE;
    }
    o->command = c->name;
    optind = 1;
    opterr = 0;
    int ch, idx;
    char **args = argv + 1;
    int nargs = argc - 1;
    while ((ch = getopt_long(nargs, args, ":o:vqh", long_opts, &idx)) != -1) {
        const char *lname = NULL;
        if (ch >= 256 || ch == 'o' || ch == 'v' || ch == 'q' || ch == 'h') {
            for (const struct option *lo = long_opts; lo->name; lo++)
                if (lo->val == ch) {
                    lname = lo->name;
                    break;
                }
        }
        if (ch == '?') {
            fprintf(stderr, "mailfleet-agent %s: unknown option \"%s\"\n", c->name,
                    args[optind - 1]);
            return MF_ERR_USAGE;
        }
        if (ch == ':') {
            fprintf(stderr, "mailfleet-agent %s: option \"%s\" needs a value\n", c->name,
                    args[optind - 1]);
            return MF_ERR_USAGE;
        }
        if (lname && !accepts(c, lname)) {
            fprintf(stderr, "mailfleet-agent %s: --%s does not apply to this command\n", c->name,
                    lname);
            return MF_ERR_USAGE;
        }
        switch (ch) {
        case 'h':
            usage_cmd(stdout, c);
            return MF_ERR_NOTFOUND;
        case 'v':
            o->verbosity = o->verbosity < 0 ? 1 : o->verbosity + 1;
            break;
        case 'q':
            o->verbosity = -1;
            break;
        case 'o':
            o->output = optarg;
            break;
        case OPT_HOME:
            if (mf_strv_push(&o->homes, optarg))
                return MF_ERR_NOMEM;
            break;
        case OPT_USERS_ROOT:
            o->users_root = optarg;
            break;
        case OPT_PROFILES:
            if (mf_strv_push(&o->profiles, optarg))
                return MF_ERR_NOMEM;
            break;
        case OPT_NO_PROBE:
            o->no_probe = true;
            break;
        case OPT_RESOLVE: {
            mf_error err;
            mf_error_clear(&err);
            if (mf_grow((void **)&o->resolve, &o->capresolve, o->nresolve + 1,
                        sizeof(mf_resolve)))
                return MF_ERR_NOMEM;
            mf_resolve *rv = &o->resolve[o->nresolve];
            memset(rv, 0, sizeof(*rv));
            if (mf_resolve_parse(optarg, rv, &err) != MF_OK) {
                fprintf(stderr, "mailfleet-agent %s: --resolve \"%s\": %s\n", c->name, optarg,
                        err.text);
                return MF_ERR_USAGE;
            }
            o->nresolve++;
            break;
        }
        case OPT_CA_FILE:
            o->ca_file = optarg;
            break;
        case OPT_TIMEOUT:
            if (parse_int_opt("timeout", optarg, 1, 3600, &o->timeout_s))
                return MF_ERR_USAGE;
            o->timeout_set = true;
            break;
        case OPT_CONCURRENCY:
            if (parse_int_opt("concurrency", optarg, 1, 1024, &o->concurrency))
                return MF_ERR_USAGE;
            o->concurrency_set = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_PRETTY:
            o->pretty = true;
            break;
        case OPT_COLOR:
            if (!optarg || strcmp(optarg, "always") == 0)
                o->color = 1;
            else if (strcmp(optarg, "never") == 0)
                o->color = 0;
            else if (strcmp(optarg, "auto") == 0)
                o->color = -1;
            else {
                fprintf(stderr, "mailfleet-agent %s: --color takes auto, always or never\n",
                        c->name);
                return MF_ERR_USAGE;
            }
            break;
        case OPT_CONFIG:
            o->config = optarg;
            break;
        case OPT_COLLECTOR:
            o->collector = optarg;
            break;
        case OPT_IDENTITY:
            o->identity = optarg;
            break;
        case OPT_KNOWN_HOSTS:
            o->known_hosts = optarg;
            break;
        case OPT_OUTBOX:
            o->outbox = optarg;
            break;
        case OPT_RESPECT_BACKOFF:
            o->respect_backoff = true;
            break;
        default:
            fprintf(stderr, "mailfleet-agent %s: unexpected option\n", c->name);
            return MF_ERR_USAGE;
        }
    }
    if (optind < nargs) {
        fprintf(stderr, "mailfleet-agent %s: unexpected argument \"%s\"\n", c->name,
                args[optind]);
        return MF_ERR_USAGE;
    }
    return MF_OK;
}

void mf_agent_opts_free(mf_agent_opts *o)
{
    mf_strv_free(&o->homes);
    mf_strv_free(&o->profiles);
    for (size_t i = 0; i < o->nresolve; i++)
        mf_resolve_clear(&o->resolve[i]);
    free(o->resolve);
    o->resolve = NULL;
    o->nresolve = 0;
}

void mf_agent_opts_discover(const mf_agent_opts *o, mf_discover_opts *d)
{
    memset(d, 0, sizeof(*d));
    d->homes = (const char *const *)o->homes.v;
    d->nhomes = o->homes.n;
    d->profile_dirs = (const char *const *)o->profiles.v;
    d->nprofile_dirs = o->profiles.n;
    d->users_root = o->users_root;
    /* The installed profiles belong to this machine: read them only on a real run, not
     * when pointed at other homes (fixtures, a mounted disk). */
    d->installed_profiles = o->homes.n == 0 && !o->users_root;
    d->scan.file_cap = MF_SOURCE_FILE_CAP;
}

void mf_agent_opts_probe(const mf_agent_opts *o, mf_probe_opts *p)
{
    mf_probe_opts_init(p);
    p->timeout_ms = o->timeout_s * 1000;
    p->concurrency = o->concurrency;
    p->ca_file = o->ca_file;
    p->resolve = o->resolve;
    p->nresolve = o->nresolve;
}
