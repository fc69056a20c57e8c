/* fuzz_report_writers.c: the report writers (reports/) on arbitrary strings.
 *
 * The input is cut at NUL bytes into strings, which become every string the writers take
 * (policy, rule texts, host ids and names, entities, messages, waiver texts, server
 * names); a few bytes pick states, severities, the grouping and how many results each
 * host has. Whatever the bytes, the JUnit (both groupings) and the HTML must be
 * well-formed XML by libxml2's own parser, and the CSV valid UTF-8 without control
 * characters but tab and newlines. Anything else aborts. */
#include "reports.h"
#include "util.h"
#include "xmlw.h"

#include <libxml/parser.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSTR 24

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        abort();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    if (!d || fread(d, 1, (size_t)n, f) != (size_t)n)
        abort();
    d[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return d;
}

static void silent(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static void must_be_xml(const char *path)
{
    size_t len;
    char *d = slurp(path, &len);
    xmlDocPtr doc =
        xmlReadMemory(d, (int)len, path, NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_HUGE);
    if (!doc) {
        fprintf(stderr, "fuzz_report_writers: %s is not well-formed\n", path);
        abort();
    }
    xmlFreeDoc(doc);
    free(d);
}

static char dir[64];
static const char *const paths[] = {"j.xml", "r.html", "r.csv", "jr.xml"};

static void cleanup(void)
{
    char path[128];
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, paths[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/mf-fuzz-writers-%d", (int)getpid());
        if (mkdir(dir, 0700) != 0 && access(dir, F_OK) != 0)
            abort();
        xmlSetGenericErrorFunc(NULL, silent);
        atexit(cleanup);
    }
    if (size < 4 || size > 65536)
        return 0;
    /* control bytes first, then NUL-separated strings */
    uint8_t ctl[4];
    memcpy(ctl, data, 4);
    data += 4;
    size -= 4;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *s[NSTR];
    size_t k = 0;
    const char *p = buf;
    while (k < NSTR) {
        s[k++] = p;
        size_t l = strlen(p);
        if (p + l >= buf + size)
            break;
        p += l + 1;
    }
    for (size_t i = k; i < NSTR; i++)
        s[i] = s[i % k];

    mf_rpt_rule rules[3] = {
        {.id = s[0],
         .title = s[1],
         .severity = (mf_rpt_severity)(ctl[0] % 5),
         .scope = s[2],
         .description = s[3],
         .rationale = s[4],
         .remediation = s[5],
         .remediation_admin = s[6],
         .references = &s[7],
         .nreferences = 2},
        {.id = s[8], .title = NULL, .severity = (mf_rpt_severity)(ctl[1] % 5), .scope = "host"},
        {.id = "", .title = s[9], .severity = MF_RPT_CRITICAL, .scope = "fleet-server"},
    };
    mf_rpt_run run = {.policy_id = s[10],
                      .policy_title = s[11],
                      .policy_version = s[12],
                      .command = "report",
                      .source = s[13],
                      .generated_at = 1796032800};
    mf_rpt_writer *w[4] = {NULL, NULL, NULL, NULL};
    mf_error err;
    for (int f = 0; f < 4; f++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, paths[f]);
        mf_rpt_opts opts = {.junit_group = f == 3 ? MF_RPT_GROUP_RULE : MF_RPT_GROUP_HOST,
                            .html_detail_hosts = 2,
                            .html_page_hosts = 2};
        mf_rpt_format fmt = f == 3 ? MF_RPT_JUNIT : (mf_rpt_format)f;
        if (mf_rpt_open(&w[f], fmt, path, &opts, &err) != MF_OK ||
            mf_rpt_begin(w[f], &run, rules, 3, &err) != MF_OK)
            abort();
    }
    unsigned nres = 1 + ctl[2] % 12;
    for (unsigned i = 0; i < nres; i++) {
        const char *host = (ctl[3] >> (i % 8)) & 1 ? s[14 + i % 3] : NULL;
        mf_rpt_host h = {.id = host ? host : "x",
                         .hostname = s[17],
                         .collected_at =
                             (int64_t)(ctl[i % 4]) * 86400 * 400 - (int64_t)86400 * 30000,
                         .os_version = s[18],
                         .agent_version = s[19],
                         .report_id = s[20]};
        mf_rpt_result r = {.rule = i % 3,
                           .host_id = host,
                           .hostname = s[17 + i % 2],
                           .entity = s[21],
                           .server = s[22],
                           .state = (mf_rpt_state)((i + ctl[0]) % 5),
                           .message = s[23],
                           .waiver_justification = s[5],
                           .waiver_approved_by = s[6],
                           .waiver_expires = s[7],
                           .expired_waiver_expires = i % 2 ? s[8] : NULL,
                           .first_failed = (int64_t)ctl[1] * 1000000};
        mf_rpt_server sv = {.hostname = i % 2 ? s[22] : NULL,
                            .provider = s[12],
                            .port = ctl[2],
                            .hosts = ctl[0] % 3,
                            .accounts = ctl[1] % 2,
                            .probes_failed = i,
                            .top_failure = s[4],
                            .first_seen = 1,
                            .last_seen = ctl[3]};
        mf_rpt_day d = {
            .day = 1700000000 + (int64_t)i * 86400, .hosts = ctl[0], .compliant = ctl[1]};
        mf_rpt_waiver wv = {.rule = s[0],
                            .host = s[14],
                            .server = s[22],
                            .justification = s[5],
                            .approved_by = s[6],
                            .expires = s[7],
                            .status = s[9],
                            .matched = i};
        for (int f = 0; f < 4; f++) {
            if (host && mf_rpt_add_host(w[f], &h, &err) != MF_OK && host[0])
                abort();
            if (mf_rpt_add_result(w[f], &r, &err) != MF_OK ||
                mf_rpt_add_server(w[f], &sv, &err) != MF_OK ||
                mf_rpt_add_day(w[f], &d, &err) != MF_OK ||
                mf_rpt_add_waiver(w[f], &wv, &err) != MF_OK)
                abort();
        }
    }
    for (int f = 0; f < 4; f++) {
        if (mf_rpt_end(w[f], &err) != MF_OK)
            abort();
        mf_rpt_free(w[f]);
    }
    char path[128];
    for (int f = 0; f < 4; f++) {
        snprintf(path, sizeof(path), "%s/%s", dir, paths[f]);
        if (f == 2) {
            size_t len;
            char *csv = slurp(path, &len);
            if (strlen(csv) != len || !mf_xml_is_clean(csv, len + 1))
                abort();
            free(csv);
        } else {
            must_be_xml(path);
        }
    }
    free(buf);
    return 0;
}
