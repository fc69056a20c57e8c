/* cmd_receive.c: `mailfleet-collector receive --spool DIR`, the SSH forced command.
 *
 * sshd runs it with the agent's channel as stdin/stdout. The framing and every answer
 * are in receive.c (docs/transport.md); this file is the command line around it. It
 * ignores SSH_ORIGINAL_COMMAND (whatever the agent asked to run) on purpose. */
#include "collector.h"
#include "log.h"
#include "receive.h"
#include "report_json.h"
#include "spool.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: mailfleet-collector receive --spool DIR [--max-bytes N] [--timeout S]\n"
            "\n"
            "Reads framed reports from stdin (docs/transport.md), validates each strictly,\n"
            "stores it durably as DIR/<report_id>.json and answers ACK or NACK on stdout.\n"
            "Meant to be the forced command of an authorized_keys line:\n"
            "  restrict,command=\"mailfleet-collector receive --spool DIR\" ssh-ed25519 ...\n"
            "\n"
            "  --spool DIR      spool folder (created if missing, with tmp/ done/ quarantine/)\n"
            "  --max-bytes N    largest report accepted (default and maximum %d)\n"
            "  --timeout S      give up after S seconds without data (default %d)\n"
            "  -v, -q           more / less logging on stderr\n"
            "  -h, --help       this help\n"
            "\n"
            "Exit status: 0 after the agent's END, 1 after a framing error, a timeout or a\n"
            "dropped connection, 2 on a usage error.\n",
            MF_REPORT_MAX_BYTES, MF_RECEIVE_IDLE_MS / 1000);
}

int mf_cmd_receive(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"spool", required_argument, NULL, 's'},   {"max-bytes", required_argument, NULL, 'm'},
        {"timeout", required_argument, NULL, 't'}, {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *spool_dir = NULL;
    long long max_bytes = MF_REPORT_MAX_BYTES, timeout_s = MF_RECEIVE_IDLE_MS / 1000;
    int verbosity = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:m:t:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            spool_dir = optarg;
            break;
        case 'm':
            if (!mf_cli_number("receive", "--max-bytes", optarg, 1, MF_REPORT_MAX_BYTES,
                               &max_bytes))
                return MF_COLLECTOR_EXIT_USAGE;
            break;
        case 't':
            if (!mf_cli_number("receive", "--timeout", optarg, 1, 86400, &timeout_s))
                return MF_COLLECTOR_EXIT_USAGE;
            break;
        case 'v':
            verbosity = verbosity < 0 ? 1 : verbosity + 1;
            break;
        case 'q':
            verbosity = -1;
            break;
        case 'h':
            help(stdout);
            return MF_COLLECTOR_EXIT_OK;
        default:
            help(stderr);
            return MF_COLLECTOR_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mailfleet-collector receive: unexpected argument \"%s\"\n", argv[optind]);
        return MF_COLLECTOR_EXIT_USAGE;
    }
    if (!spool_dir) {
        fprintf(stderr, "mailfleet-collector receive: --spool DIR is required\n");
        return MF_COLLECTOR_EXIT_USAGE;
    }
    mf_cli_set_verbosity(verbosity);
    /* A vanished agent must show up as a failed write, not kill us mid-fsync. */
    signal(SIGPIPE, SIG_IGN);
    umask(027);

    mf_error err;
    mf_error_clear(&err);
    mf_spool *sp = NULL;
    if (mf_spool_open(&sp, spool_dir, true, &err) != MF_OK) {
        char msg[1024];
        mf_log_error("%s", mf_error_format(&err, msg, sizeof(msg)));
        /* Say so on the channel too: the agent keeps its reports and retries. */
        static const char line[] = "NACK - io the collector cannot open its spool\n";
        (void)!write(STDOUT_FILENO, line, sizeof(line) - 1);
        return MF_COLLECTOR_EXIT_FAILURE;
    }
    mf_receive_io io;
    mf_receive_fd fds;
    mf_receive_sink sink;
    mf_receive_fd_io_init(&io, &fds, STDIN_FILENO, STDOUT_FILENO, (int)timeout_s * 1000);
    mf_receive_spool_sink_init(&sink, sp);
    mf_receive_stats stats;
    mf_code rc = mf_receive_run(&stats, &io, &sink, (size_t)max_bytes, &err);
    mf_spool_close(sp);
    /* stderr goes back to the agent over SSH; the collector's own record of the
     * session is one syslog line, with the address sshd saw. */
    const char *client = getenv("SSH_CLIENT");
    char from[64] = "local";
    if (client && client[0])
        snprintf(from, sizeof(from), "%.*s", (int)strcspn(client, " "), client);
    openlog("mailfleet-collector", LOG_PID, LOG_DAEMON);
    syslog(rc == MF_OK && stats.refused == 0 ? LOG_INFO : LOG_WARNING,
           "receive from %s: stored %zu, duplicates %zu, refused %zu%s%s", from, stats.stored,
           stats.duplicates, stats.refused, rc == MF_OK ? "" : "; ended: ",
           rc == MF_OK ? "" : err.text);
    closelog();
    if (rc != MF_OK) {
        mf_log_warn("receive: %s (stored %zu, duplicates %zu, refused %zu)", err.text,
                    stats.stored, stats.duplicates, stats.refused);
        return MF_COLLECTOR_EXIT_FAILURE;
    }
    mf_log_info("receive: done: stored %zu, duplicates %zu, refused %zu", stats.stored,
                stats.duplicates, stats.refused);
    return MF_COLLECTOR_EXIT_OK;
}
