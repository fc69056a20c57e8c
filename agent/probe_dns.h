/* probe_dns.h: name resolution that never blocks the probe's event loop.
 *
 * Each lookup runs getaddrinfo() in its own short-lived detached thread and signals
 * completion by writing one byte to a pipe whose read end the event loop polls. A
 * lookup that outlives its probe's budget is abandoned: the probe goes on (with a
 * timeout in the dns phase) and the thread frees the query when getaddrinfo finally
 * returns. docs/probe.md explains why threads rather than c-ares.
 */
#ifndef MF_PROBE_DNS_H
#define MF_PROBE_DNS_H

#include "error.h"
#include "report.h"

#include <netdb.h>
#include <stdbool.h>

typedef struct mf_dns_query mf_dns_query;

/* Start resolving host (A and AAAA) for TCP port. *out is released with
 * mf_dns_release(). MF_ERR_NOMEM, or MF_ERR_INTERNAL when no thread or pipe could be
 * made (the tool's failure, not the server's). */
mf_code mf_dns_start(mf_dns_query **out, const char *host, int port);

/* The descriptor that becomes readable when the lookup has finished. */
int mf_dns_fd(const mf_dns_query *q);

/* After mf_dns_fd() became readable: true when finished, with *ai_out the addresses
 * (owned by the caller: freeaddrinfo) or NULL and *gai_err_out the getaddrinfo error. */
bool mf_dns_result(mf_dns_query *q, struct addrinfo **ai_out, int *gai_err_out);

/* Drop the caller's reference: safe while the thread still runs (the query is then
 * freed by the thread). NULL is allowed. */
void mf_dns_release(mf_dns_query *q);

/* Resolve a numeric address (no lookup, never blocks): for --resolve and for host
 * names that are address literals. Returns the getaddrinfo error (0 on success). */
int mf_dns_numeric(const char *addr, int port, struct addrinfo **ai_out);

/* The outcome for a getaddrinfo error: dns-nxdomain for "no such name" (EAI_NONAME),
 * dns-error for everything else (server failure, no network, ...). */
mf_outcome mf_dns_outcome(int gai_err);

#endif
