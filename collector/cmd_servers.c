/* cmd_servers.c: `mailfleet-collector servers --db FILE [--format table|csv|json]`,
 * the fleet-wide SMTP server inventory: every server any Mac has had configured (within
 * the retention), how many Macs and accounts use it now, and how its probes went. */
#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum fmt { FMT_TABLE, FMT_CSV, FMT_JSON } fmt;

typedef struct out_ctx {
    fmt format;
    FILE *f;
    json_t *list; /* FMT_JSON */
    size_t rows;
    bool failed;
} out_ctx;

static void help(FILE *f)
{
    fprintf(f,
            "usage: mailfleet-collector servers --db FILE [--format table|csv|json]\n"
            "\n"
            "Lists every SMTP server seen across the fleet (within the store's retention):\n"
            "  SERVER     host name and port (or the provider, for entries the OS manages)\n"
            "  HOSTS      Macs that have it in their latest report (EVER: in any report)\n"
            "  ACCOUNTS   accounts using it, in latest reports; UNUSED: entries no account uses\n"
            "  PROBES     probes of it in latest reports: ok / failed, and the most frequent\n"
            "             failure\n"
            "  FIRST/LAST SEEN  collected_at of the earliest and latest report naming it\n"
            "  STALE      \"yes\" when no account uses it, or no probe of it succeeds\n"
            "\n"
            "  --db FILE        the store written by ingest\n"
            "  --format F       table (default), csv or json\n"
            "  -v, -q           more / less logging on stderr\n"
            "  -h, --help       this help\n");
}

/* A server looks stale when Macs still carry it but nothing depends on it any more,
 * or it no longer answers. */
static bool is_stale(const mf_store_server_row *r)
{
    if (r->hosts == 0)
        return false;
    return r->accounts == 0 || (r->probes_ok == 0 && r->probes_failed > 0);
}

static void server_name(const mf_store_server_row *r, char *out, size_t outsz)
{
    if (r->hostname && r->port > 0)
        snprintf(out, outsz, "%s:%d", r->hostname, r->port);
    else if (r->hostname)
        snprintf(out, outsz, "%s", r->hostname);
    else if (r->provider)
        snprintf(out, outsz, "(%s)", r->provider);
    else
        snprintf(out, outsz, "(no host name)");
}

static void date_of(int64_t t, char *out, size_t outsz)
{
    char full[32];
    mf_time_format_rfc3339(t, full, sizeof(full));
    snprintf(out, outsz, "%.10s", full);
}

/* CSV field, quoted when needed (RFC 4180). */
static void csv_field(FILE *f, const char *s, bool last)
{
    s = s ? s : "";
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

static int on_row(void *ctx, const mf_store_server_row *r)
{
    out_ctx *o = ctx;
    char first[32], last[32];
    mf_time_format_rfc3339(r->first_seen, first, sizeof(first));
    mf_time_format_rfc3339(r->last_seen, last, sizeof(last));
    o->rows++;
    if (o->format == FMT_JSON) {
        json_t *j = json_pack("{s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:s, "
                              "s:b}",
                              "hostname", r->hostname ? json_string(r->hostname) : json_null(),
                              "provider", r->provider ? json_string(r->provider) : json_null(),
                              "port", r->port > 0 ? json_integer(r->port) : json_null(),
                              "hosts", (json_int_t)r->hosts, "hosts_ever",
                              (json_int_t)r->hosts_ever, "entries", (json_int_t)r->entries,
                              "accounts", (json_int_t)r->accounts, "unused",
                              (json_int_t)r->unused, "probes_ok", (json_int_t)r->probes_ok,
                              "probes_failed", (json_int_t)r->probes_failed, "top_failure",
                              r->top_failure ? json_string(r->top_failure) : json_null(),
                              "first_seen", first, "last_seen", last, "stale", is_stale(r));
        if (!j || json_array_append_new(o->list, j) != 0) {
            o->failed = true;
            return 1;
        }
        return 0;
    }
    if (o->format == FMT_CSV) {
        char num[16][32];
        int k = 0;
        snprintf(num[k++], 32, "%d", r->port);
        snprintf(num[k++], 32, "%lld", r->hosts);
        snprintf(num[k++], 32, "%lld", r->hosts_ever);
        snprintf(num[k++], 32, "%lld", r->entries);
        snprintf(num[k++], 32, "%lld", r->accounts);
        snprintf(num[k++], 32, "%lld", r->unused);
        snprintf(num[k++], 32, "%lld", r->probes_ok);
        snprintf(num[k++], 32, "%lld", r->probes_failed);
        csv_field(o->f, r->hostname, false);
        csv_field(o->f, r->provider, false);
        for (int i = 0; i < k; i++)
            csv_field(o->f, num[i], false);
        csv_field(o->f, r->top_failure, false);
        csv_field(o->f, first, false);
        csv_field(o->f, last, false);
        csv_field(o->f, is_stale(r) ? "yes" : "no", true);
        return 0;
    }
    char name[300], probes[48], d1[16], d2[16];
    server_name(r, name, sizeof(name));
    snprintf(probes, sizeof(probes), "%lld/%lld", r->probes_ok, r->probes_failed);
    date_of(r->first_seen, d1, sizeof(d1));
    date_of(r->last_seen, d2, sizeof(d2));
    fprintf(o->f, "%-40s %6lld %6lld %8lld %6lld %9s  %-22s %-10s %-10s %s\n", name, r->hosts,
            r->hosts_ever, r->accounts, r->unused, probes,
            r->top_failure ? r->top_failure : "-", d1, d2, is_stale(r) ? "yes" : "");
    return 0;
}

int mf_cmd_servers(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},    {"format", required_argument, NULL, 'f'},
        {"verbose", no_argument, NULL, 'v'},     {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    out_ctx o = {.format = FMT_TABLE, .f = stdout};
    int verbosity = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:f:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "table") == 0)
                o.format = FMT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                o.format = FMT_CSV;
            else if (strcmp(optarg, "json") == 0)
                o.format = FMT_JSON;
            else {
                fprintf(stderr, "mailfleet-collector servers: --format: expected table, csv "
                                "or json, not \"%s\"\n", optarg);
                return MF_COLLECTOR_EXIT_USAGE;
            }
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
    if (!db || optind < argc) {
        fprintf(stderr, "mailfleet-collector servers: %s\n",
                db ? "unexpected argument" : "--db FILE is required");
        return MF_COLLECTOR_EXIT_USAGE;
    }
    mf_cli_set_verbosity(verbosity);
    if (!mf_path_is_file(db)) {
        mf_log_error("%s: no such store (run ingest first)", db);
        return MF_COLLECTOR_EXIT_FAILURE;
    }
    int status = MF_COLLECTOR_EXIT_OK;
    mf_error err;
    mf_error_clear(&err);
    char msg[1024];
    mf_store *st = NULL;
    if (mf_store_open(&st, "sqlite", db, &err) != MF_OK) {
        mf_log_error("%s", mf_error_format(&err, msg, sizeof(msg)));
        return MF_COLLECTOR_EXIT_FAILURE;
    }
    if (o.format == FMT_JSON)
        o.list = json_array();
    else if (o.format == FMT_CSV)
        fprintf(o.f, "hostname,provider,port,hosts,hosts_ever,entries,accounts,unused,probes_ok,"
                     "probes_failed,top_failure,first_seen,last_seen,stale\n");
    else
        fprintf(o.f, "%-40s %6s %6s %8s %6s %9s  %-22s %-10s %-10s %s\n", "SERVER", "HOSTS",
                "EVER", "ACCOUNTS", "UNUSED", "PROBES", "TOP FAILURE", "FIRST SEEN",
                "LAST SEEN", "STALE");
    if (mf_store_servers(st, on_row, &o, &err) != MF_OK || o.failed) {
        mf_log_error("%s", o.failed ? "out of memory" : mf_error_format(&err, msg, sizeof(msg)));
        status = MF_COLLECTOR_EXIT_FAILURE;
    } else if (o.format == FMT_JSON) {
        json_t *root = json_pack("{s:O}", "servers", o.list);
        if (!root || json_dumpf(root, o.f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
            mf_log_error("cannot write JSON");
            status = MF_COLLECTOR_EXIT_FAILURE;
        }
        fputc('\n', o.f);
        json_decref(root);
    }
    if (fflush(o.f) != 0)
        status = MF_COLLECTOR_EXIT_FAILURE;
    json_decref(o.list);
    mf_store_close(st);
    return status;
}
