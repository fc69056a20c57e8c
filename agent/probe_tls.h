/* probe_tls.h: the TLS side of a probe (OpenSSL stays inside probe_tls.c).
 *
 * A non-blocking TLS client over a connected socket: SNI, the handshake, then an
 * inspection that records the protocol version, cipher, the chain verification
 * (system trust store or a CA file), OpenSSL's host name check and the certificate's
 * subject, issuer, SANs, dates, days left, self-signedness and SHA-256 fingerprint,
 * and classifies the result as ok or one cert-* outcome.
 */
#ifndef MF_PROBE_TLS_H
#define MF_PROBE_TLS_H

#include "error.h"
#include "report.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct mf_tls_ctx mf_tls_ctx;
typedef struct mf_tls_conn mf_tls_conn;

typedef enum mf_tls_io {
    MF_TLS_IO_DONE = 0,   /* the operation completed (n bytes for read/write) */
    MF_TLS_IO_WANT_READ,  /* poll for reading, then call again */
    MF_TLS_IO_WANT_WRITE, /* poll for writing, then call again */
    MF_TLS_IO_CLOSED,     /* the peer closed (cleanly or not) */
    MF_TLS_IO_RESET,      /* the peer reset the connection */
    MF_TLS_IO_ERROR,      /* a TLS failure; mf_tls_failure() tells what */
} mf_tls_io;

/* One context per run, shared by all connections. ca_file NULL: the system store
 * (OpenSSL's default paths). A CA file that cannot be loaded is MF_ERR_CONFIG with a
 * message naming it. The probe accepts every protocol version OpenSSL can speak (it
 * reports what the server does; judging the version is the policies' job). */
mf_code mf_tls_ctx_new(mf_tls_ctx **out, const char *ca_file, mf_error *err);
void mf_tls_ctx_free(mf_tls_ctx *ctx);

/* A client over connected socket fd (not owned: the caller closes it) for host (SNI
 * and the host name check; no SNI when host is an IP address). */
mf_code mf_tls_conn_new(mf_tls_conn **out, mf_tls_ctx *ctx, int fd, const char *host);
/* Free the connection; sends a close_notify first if the session is up (best effort,
 * never blocks). NULL is allowed. */
void mf_tls_conn_free(mf_tls_conn *c);

/* Drive the handshake. */
mf_tls_io mf_tls_handshake(mf_tls_conn *c);

/* After a failed handshake (ERROR, CLOSED or RESET from mf_tls_handshake): fill t with
 * the alert the server sent, if any, and return a description (caller frees). */
char *mf_tls_failure(mf_tls_conn *c, mf_tls_io how, mf_tls *t);

/* After a successful handshake: fill t (version, cipher, verification, host name
 * match, certificate) and return the outcome: MF_OUT_OK or one of cert-self-signed,
 * cert-untrusted, cert-expired, cert-not-yet-valid, cert-hostname-mismatch (in that
 * order of precedence). *detail_out (caller frees) explains a cert-* outcome, NULL
 * for ok. */
mf_outcome mf_tls_inspect(mf_tls_conn *c, mf_tls *t, char **detail_out);

/* Application data. *n_out is the number of bytes moved when DONE. */
mf_tls_io mf_tls_read(mf_tls_conn *c, char *buf, size_t cap, size_t *n_out);
mf_tls_io mf_tls_write(mf_tls_conn *c, const char *buf, size_t len, size_t *n_out);
/* Bytes already decrypted and waiting in the TLS layer (no poll event will come). */
bool mf_tls_pending(mf_tls_conn *c);

#endif
