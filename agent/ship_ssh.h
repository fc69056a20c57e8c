/* ship_ssh.h: shipping queued reports to the collector over SSH (libssh2), speaking the
 * framing of docs/transport.md.
 *
 * One call = one connection: resolve, connect, SSH handshake, host key check against a
 * pinned known_hosts file, public-key authentication, one exec channel, the collector's
 * greeting, then every queued report pipelined (at most MF_SHIP_WINDOW unanswered),
 * each answered ACK or NACK, then END / BYE. Every step has a deadline (the target's
 * timeout): a step that makes no progress for that long fails with MF_ERR_TIMEOUT.
 * libssh2's errors are translated to mf_error here and nowhere else.
 *
 * Nothing is sent before the host key has been checked, and nothing is written to the
 * channel before the greeting has been read.
 */
#ifndef MF_SHIP_SSH_H
#define MF_SHIP_SSH_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

/* Largest number of reports sent and not yet answered (docs/transport.md). */
#define MF_SHIP_WINDOW 8
/* Longest control line in either direction. */
#define MF_SHIP_LINE_MAX 512
/* What the agent asks sshd to run; the collector's forced command replaces it anyway. */
#define MF_SHIP_COMMAND "mailfleet-collector receive"

typedef struct mf_ship_target {
    const char *host;
    int port;
    const char *user;
    const char *identity;    /* private key file (Ed25519 or RSA; OpenSSH or PEM format) */
    const char *known_hosts; /* pinned host keys, OpenSSH format */
    int timeout_s;           /* deadline of each step */
} mf_ship_target;

typedef enum mf_ship_verdict {
    MF_SHIP_UNANSWERED = 0, /* not sent, or the connection ended before its answer: keep */
    MF_SHIP_STORED,         /* ACK: stored durably, delete it */
    MF_SHIP_DUPLICATE,      /* ACK duplicate: stored earlier, delete it */
    MF_SHIP_RETRY,          /* NACK the collector may accept later (no-space, io): keep */
    MF_SHIP_REFUSED,        /* NACK it can never accept (too-large, invalid, id-mismatch,
                             * bad-id): move it aside */
    MF_SHIP_PROTOCOL,       /* "NACK - protocol …": the stream is broken, stop */
    MF_SHIP_BYE,            /* "BYE stored duplicates refused" */
} mf_ship_verdict;

typedef struct mf_ship_answer {
    mf_ship_verdict verdict;
    char id[37];                 /* report id the answer is about ("" for protocol, BYE) */
    char reason[32];             /* NACK reason word ("" for ACK) */
    char text[MF_SHIP_LINE_MAX]; /* NACK text, printable ASCII only */
    long long bye[3];            /* BYE: stored, duplicates, refused */
} mf_ship_answer;

/* The reports to ship, given through callbacks so that at most a window of them is in
 * memory at once. */
typedef struct mf_ship_queue {
    size_t n;
    /* Load report i: its bytes (*data, malloc'd, the shipper frees) and id. max is the
     * largest report the collector accepts: return MF_ERR_TOOBIG for a larger one (the
     * shipper then answers it MF_SHIP_REFUSED "too-large" without sending it). Any other
     * error leaves report i unanswered and goes on with the next. */
    mf_code (*load)(void *ctx, size_t i, size_t max, char **data, size_t *len, char id[37],
                    mf_error *err);
    /* Called once for each report that got a verdict (not for unanswered ones), in
     * queue order, as soon as the answer arrives. */
    void (*answer)(void *ctx, size_t i, const mf_ship_answer *a);
    void *ctx;
} mf_ship_queue;

/* Filled when the host key could not be trusted (MF_ERR_HOSTKEY): what the collector
 * presented and how to pin it. */
typedef struct mf_ship_hostkey {
    bool changed;           /* true: a different key is pinned for this host */
    bool file_missing;      /* the known_hosts file does not exist */
    char type[32];          /* "ssh-ed25519" */
    char keyscan_type[16];  /* the same for ssh-keyscan -t: "ed25519", "ecdsa", "rsa" */
    char fingerprint[64];   /* "SHA256:…" as OpenSSH prints it */
    char host_pattern[300]; /* "host" or "[host]:port" as known_hosts writes it */
    char *line;             /* the known_hosts line to add (malloc'd; mf_ship_hostkey_clear) */
} mf_ship_hostkey;

void mf_ship_hostkey_clear(mf_ship_hostkey *hk);

/* Counters of one run. */
typedef struct mf_ship_stats {
    size_t sent;     /* reports written to the channel */
    size_t answered; /* reports that got a verdict */
} mf_ship_stats;

/* Ship the queue to t. Returns MF_OK when the session ran to its end (every report got
 * a verdict, whatever it was); otherwise the error that stopped it, after the answers
 * that did arrive were passed to q->answer:
 *   MF_ERR_NET      cannot resolve or connect (collector down, no route)
 *   MF_ERR_TIMEOUT  a step made no progress within t->timeout_s
 *   MF_ERR_HOSTKEY  unknown or changed host key (hk says which, and how to pin it)
 *   MF_ERR_NOTFOUND / MF_ERR_PERM  the identity file is missing / readable by others
 *   MF_ERR_SSH      handshake, authentication or channel failure, or a peer that does
 *                   not speak the framing
 * hk and stats may be NULL. */
mf_code mf_ship_ssh_run(const mf_ship_target *t, const mf_ship_queue *q, mf_ship_hostkey *hk,
                        mf_ship_stats *stats, mf_error *err);

/* Parse the collector's greeting line (no newline): "MFRECV 1 max=<bytes>"; other
 * space-separated tokens are ignored (later versions may add some). *max_out is the
 * announced limit, or MF_REPORT_MAX_BYTES when max= is absent. MF_ERR_SSH when the line
 * is not a mailfleet greeting. */
mf_code mf_ship_parse_greeting(size_t *max_out, const char *line, mf_error *err);

/* Parse one answer line (no newline): ACK, NACK or BYE. MF_ERR_SSH when it is none of
 * them or malformed. */
mf_code mf_ship_parse_answer(mf_ship_answer *out, const char *line, mf_error *err);

/* True for the NACK reasons that mean "never": too-large, invalid, id-mismatch, bad-id. */
bool mf_ship_reason_is_permanent(const char *reason);

#endif
