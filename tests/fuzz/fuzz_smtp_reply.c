/* fuzz_smtp_reply.c: the SMTP reply parser and the client state machine on arbitrary
 * server bytes. Byte 0 picks the configured security (and implicit TLS), byte 1 the
 * chunk size the bytes arrive in; when the client reaches its TLS state the handshake
 * "succeeds" with an outcome picked by the chunk's first byte, so every state is
 * reachable. Nothing may crash, leak, read out of bounds or grow past the caps. */
#include "probe_smtp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_only(const uint8_t *data, size_t size)
{
    mf_smtp_reply rp;
    mf_smtp_reply_init(&rp);
    size_t off = 0;
    while (off < size) {
        size_t used = 0;
        mf_smtp_parse r = mf_smtp_reply_feed(&rp, (const char *)data + off, size - off, &used);
        if (used > size - off || rp.line.len > MF_SMTP_LINE_MAX ||
            rp.lines.n > MF_SMTP_REPLY_LINES || rp.bytes > MF_SMTP_REPLY_BYTES)
            abort();
        off += used;
        if (r == MF_SMTP_PARSE_MORE)
            break;
        mf_smtp_reply_reset(&rp);
        if (used == 0)
            off++;
    }
    mf_smtp_reply_free(&rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    parse_only(data + 2, size - 2);

    mf_security sec = (mf_security)(data[0] % MF_SEC__COUNT);
    bool implicit = (data[0] & 0x80) != 0;
    size_t chunk = (size_t)(data[1] % 64) + 1;
    mf_probe p;
    memset(&p, 0, sizeof(p));
    for (int i = 0; i < MF_PHASE__COUNT; i++)
        p.phase_ms[i] = -1;
    mf_smtp sm;
    int64_t now = 0;
    mf_smtp_init(&sm, &p, sec, implicit, "fuzz.example", "fuzz", now);
    const char *d = (const char *)data + 2;
    size_t n = size - 2;
    while (sm.state != MF_SMTP_DONE) {
        now += 3;
        if (sm.state == MF_SMTP_TLS) {
            unsigned char pick = n ? (unsigned char)d[0] : 0;
            mf_outcome o = (pick & 1) ? MF_OUT_OK : (mf_outcome)(MF_OUT_CERT_UNTRUSTED + pick % 5);
            mf_smtp_tls_done(&sm, pick != 0xff, o, "fuzz", now);
            continue;
        }
        if (n == 0) {
            if (size & 1)
                mf_smtp_timeout(&sm, now);
            else
                mf_smtp_closed(&sm, (size & 2) != 0, now);
            break;
        }
        size_t take = n < chunk ? n : chunk;
        mf_smtp_input(&sm, d, take, now);
        d += take;
        n -= take;
        mf_buf_reset(&sm.out);
    }
    if (sm.state != MF_SMTP_DONE)
        abort();
    mf_smtp_free(&sm);
    free(p.detail);
    free(p.banner);
    mf_strv_free(&p.ehlo);
    mf_strv_free(&p.ehlo_tls);
    mf_strv_free(&p.auth);
    mf_strv_free(&p.auth_before_tls);
    return 0;
}
