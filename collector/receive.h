/* receive.h: the collector's side of the transport framing (docs/transport.md).
 *
 * The protocol loop is independent of where the bytes come from and where reports go:
 * it reads through an mf_receive_io (a file descriptor with an idle timeout in
 * production, a memory buffer in the fuzz target) and hands each validated report to
 * an mf_receive_sink (the spool in production). That keeps it testable and fuzzable
 * without sshd or a disk.
 */
#ifndef MF_RECEIVE_H
#define MF_RECEIVE_H

#include "error.h"
#include "spool.h"

#include <stddef.h>
#include <sys/types.h>

/* Longest control line, newline included (docs/transport.md). */
#define MF_RECEIVE_LINE_MAX 512
/* Default idle timeout on the input, in milliseconds. */
#define MF_RECEIVE_IDLE_MS 60000
/* A report announced larger than the cap is refused; its bytes are skipped to keep the
 * stream in step when it is at most this large, otherwise receive stops after the
 * NACK (nobody should make it read gigabytes it will throw away). */
#define MF_RECEIVE_SKIP_MAX (64u * 1024 * 1024)

/* Return values of mf_receive_io.read besides a byte count. */
#define MF_RECEIVE_EOF 0
#define MF_RECEIVE_ERROR (-1)
#define MF_RECEIVE_TIMEOUT (-2)

typedef struct mf_receive_io {
    /* Read at most n (> 0) bytes into buf: the count read, MF_RECEIVE_EOF at end of
     * input, MF_RECEIVE_ERROR or MF_RECEIVE_TIMEOUT. */
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    /* Write all n bytes. 0 on success, -1 when the peer is gone or too slow. */
    int (*write)(void *ctx, const void *buf, size_t n);
    void *ctx;
} mf_receive_io;

typedef struct mf_receive_sink {
    /* Store a validated report (id is its lower-case UUID). Sets *out. On failure the
     * code decides the NACK: MF_ERR_NOSPACE gives no-space, anything else io. */
    mf_code (*store)(void *ctx, mf_spool_result *out, const char *id, const char *data,
                     size_t len, mf_error *err);
    void *ctx;
} mf_receive_sink;

typedef struct mf_receive_stats {
    size_t stored;     /* ACK */
    size_t duplicates; /* ACK ... duplicate */
    size_t refused;    /* NACK, any reason */
} mf_receive_stats;

/* Run one session: greeting, then reports until END. max_bytes caps one report (1 ..
 * MF_REPORT_MAX_BYTES). *out is filled in whatever happens.
 * Returns MF_OK after END (BYE sent); MF_ERR_PARSE after a framing error (the
 * "NACK - protocol" line was sent); MF_ERR_TIMEOUT when the input was idle too long;
 * MF_ERR_IO when the input ended before END or an answer could not be written;
 * MF_ERR_NOMEM. err says what happened. Never runs or opens anything named by a
 * report. */
mf_code mf_receive_run(mf_receive_stats *out, const mf_receive_io *io,
                       const mf_receive_sink *sink, size_t max_bytes, mf_error *err);

/* An mf_receive_io over two file descriptors. Reads wait at most idle_ms for data;
 * writes wait at most idle_ms for room. Fill it with mf_receive_fd_io_init. */
typedef struct mf_receive_fd {
    int in, out;
    int idle_ms;
} mf_receive_fd;

void mf_receive_fd_io_init(mf_receive_io *io, mf_receive_fd *fds, int in, int out,
                           int idle_ms);

/* A sink that stores into a spool through mf_spool_store (ctx is the mf_spool *). */
void mf_receive_spool_sink_init(mf_receive_sink *sink, mf_spool *sp);

#endif
