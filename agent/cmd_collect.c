/* collect: discover (and probe) and print the report document. */
#include "commands.h"
#include "config.h"
#include "privacy.h"
#include "fileio.h"
#include "hostid.h"
#include "log.h"
#include "report_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mf_code mf_agent_build_report(mf_report **out, const mf_agent_opts *o, bool probe)
{
    *out = NULL;
    mf_report *r = mf_report_new();
    if (!r)
        return MF_ERR_NOMEM;
    mf_code rc = mf_hostid_get(&r->host);
    if (rc != MF_OK)
        goto out;
    mf_discover_opts d;
    mf_agent_opts_discover(o, &d);
    if ((rc = mf_discover(r, &d)) != MF_OK)
        goto out;
    mf_log_info("found %zu source file(s), %zu server(s), %zu account(s)", r->nsources,
                r->nservers, r->naccounts);
    if (probe && !o->no_probe) {
        mf_probe_opts p;
        mf_agent_opts_probe(o, &p);
        if ((rc = mf_probe_report(r, &p)) != MF_OK)
            goto out;
    }
out:
    if (rc != MF_OK) {
        mf_report_free(r);
        return rc;
    }
    *out = r;
    return MF_OK;
}

mf_code mf_agent_build_report_cfg(mf_report **out, mf_agent_opts *o,
                                  const struct mf_agent_config *cfg)
{
    *out = NULL;
    o->no_probe = cfg->no_probe;
    o->timeout_s = cfg->probe_timeout_s;
    o->concurrency = cfg->probe_concurrency;
    o->ca_file = cfg->ca_file;
    mf_report *r = NULL;
    mf_code rc = mf_agent_build_report(&r, o, true);
    if (rc != MF_OK)
        return rc;
    if (cfg->privacy == MF_PRIVACY_PSEUDONYMISE) {
        rc = mf_privacy_pseudonymise(r, cfg->fleet_key, cfg->fleet_key_len,
                                     cfg->pseudonymise_hostname ? MF_PRIVACY_HOSTNAME : 0);
        if (rc != MF_OK) {
            mf_log_error("cannot pseudonymise the report: %s", mf_strerror(rc));
            mf_report_free(r);
            return rc;
        }
    }
    *out = r;
    return MF_OK;
}

/* Log each failed source so the person running the agent sees why the exit code is 1. */
static void warn_failed_sources(const mf_report *r)
{
    for (size_t i = 0; i < r->nsources; i++) {
        const mf_source *s = &r->sources[i];
        if (s->status != MF_SRC_OK && s->status != MF_SRC_MISSING)
            mf_log_warn("%s source %s: %s: %s", s->client, s->path,
                        mf_source_status_name(s->status), s->error ? s->error : "");
    }
}

int mf_cmd_collect(mf_agent_opts *o)
{
    mf_report *r = NULL;
    mf_agent_config cfg;
    mf_error cerr;
    mf_error_clear(&cerr);
    /* The configuration matters to collect too: its probe settings, and its privacy
     * mode, since this report may leave the machine by other means than send. */
    mf_code rc = mf_agent_config_load(&cfg, o, &cerr);
    if (rc != MF_OK) {
        char msg[1024];
        mf_log_error("configuration refused: %s", mf_error_format(&cerr, msg, sizeof(msg)));
        mf_agent_config_free(&cfg);
        return rc == MF_ERR_NOMEM ? MF_EXIT_FAILURE : MF_EXIT_USAGE;
    }
    rc = mf_agent_build_report_cfg(&r, o, &cfg);
    mf_agent_config_free(&cfg);
    if (rc != MF_OK) {
        mf_log_error("collect failed: %s", mf_strerror(rc));
        return MF_EXIT_FAILURE;
    }
    int status = MF_EXIT_OK;
    char *text = mf_report_encode(r, o->pretty);
    if (!text) {
        mf_log_error("cannot encode the report: out of memory");
        mf_report_free(r);
        return MF_EXIT_FAILURE;
    }
    size_t len = strlen(text);
    if (o->output && strcmp(o->output, "-") != 0) {
        mf_error err;
        mf_error_clear(&err);
        /* The file ends with a newline like stdout does. */
        char *withnl = mf_asprintf("%s\n", text);
        if (!withnl || mf_file_write_atomic(o->output, withnl, len + 1, &err) != MF_OK) {
            char msg[1024];
            mf_log_error("%s", withnl ? mf_error_format(&err, msg, sizeof(msg)) : "out of memory");
            status = MF_EXIT_FAILURE;
        }
        free(withnl);
    } else {
        if (fwrite(text, 1, len, stdout) != len || fputc('\n', stdout) == EOF ||
            fflush(stdout) != 0) {
            mf_log_error("cannot write the report to standard output");
            status = MF_EXIT_FAILURE;
        }
    }
    warn_failed_sources(r);
    if (status == MF_EXIT_OK && mf_report_failed_sources(r) > 0)
        status = MF_EXIT_FAILURE;
    free(text);
    mf_report_free(r);
    return status;
}
