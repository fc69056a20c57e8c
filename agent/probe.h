/* probe.h: Connection Doctor for SMTP servers. Usable by the agent (collect, doctor)
 * and later by the collector (central probing).
 *
 * A probe walks DNS → connect → banner → EHLO/HELO → STARTTLS or TLS → certificate →
 * EHLO again → QUIT for one (host, port, security) and records everything in an
 * mf_probe (report.h). A bad server is data (the outcome), never a failure of the
 * tool: mf_probe_run returns an error only when the tool itself could not work (out of
 * memory, no threads). The probe never authenticates, never sends MAIL FROM and never
 * sends a credential.
 */
#ifndef MF_PROBE_H
#define MF_PROBE_H

#include "report.h"

#include <stddef.h>

/* --resolve HOST:PORT:ADDR, like curl's: connect to ADDR for HOST:PORT but keep HOST
 * for SNI and the certificate check. */
typedef struct mf_resolve {
    char *host;
    int port;
    char *addr;
} mf_resolve;

typedef struct mf_probe_opts {
    int timeout_ms;        /* total budget for one probe; default 20000 */
    int concurrency;       /* probes at once; default 16 */
    const char *ca_file;   /* trust anchors; NULL: the system store */
    const mf_resolve *resolve;
    size_t nresolve;
    const char *ehlo_name; /* name sent in EHLO; NULL: the local host name */
} mf_probe_opts;

/* Defaults as above. */
void mf_probe_opts_init(mf_probe_opts *o);

/* Parse "HOST:PORT:ADDR" (ADDR may be [v6] or bare v6). Returns MF_ERR_USAGE with a
 * message naming the problem. out's strings are owned by the caller
 * (mf_resolve_clear). */
mf_code mf_resolve_parse(const char *spec, mf_resolve *out, mf_error *err);
void mf_resolve_clear(mf_resolve *r);

/* Probe every distinct (hostname, port, security) among r's servers at once (bounded
 * by concurrency) and append one probe per target to r->probes, its servers[] naming
 * every server entry it covers. A server without a host name (provider-managed, or
 * none stored) is not contacted: it gets a probe with outcome skipped, hostname NULL
 * and a detail saying why, so that every server is covered by exactly one probe.
 * Returns MF_OK unless the tool failed. */
mf_code mf_probe_report(mf_report *r, const mf_probe_opts *opts);

/* Probe one target into *p (which must come from mf_report_add_probe or be
 * zero-initialised with phase_ms set to -1). */
mf_code mf_probe_run(mf_probe *p, const char *host, int port, mf_security sec,
                     const mf_probe_opts *opts);

#endif
