/* PLACEHOLDER until the probe lands: records every target as skipped. */
#include "probe.h"

#include <stdlib.h>
#include <string.h>

void mf_probe_opts_init(mf_probe_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->timeout_ms = 20000;
    o->concurrency = 16;
}

mf_code mf_resolve_parse(const char *spec, mf_resolve *out, mf_error *err)
{
    (void)spec;
    (void)out;
    return mf_error_set(err, MF_ERR_UNSUPPORTED, "not implemented yet");
}

void mf_resolve_clear(mf_resolve *r)
{
    free(r->host);
    free(r->addr);
    r->host = r->addr = NULL;
}

mf_code mf_probe_report(mf_report *r, const mf_probe_opts *opts)
{
    (void)r;
    (void)opts;
    return MF_OK;
}

mf_code mf_probe_run(mf_probe *p, const char *host, int port, mf_security sec,
                     const mf_probe_opts *opts)
{
    (void)host;
    (void)port;
    (void)sec;
    (void)opts;
    p->outcome = MF_OUT_SKIPPED;
    return MF_OK;
}
