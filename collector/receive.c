/* receive.c: the receiving end of the transport (docs/transport.md), as an explicit
 * state machine: one handler per state, and set_state() is the only way to change
 * state (it logs each transition at trace level).
 *
 *   GREET -> HEADER -> BODY ---> VERDICT -> HEADER ...
 *                   \-> SKIP -/           (announced length over the cap)
 *            HEADER -> END                 ("END": BYE sent)
 *   any    -> FAILED                       (framing error, timeout, peer gone)
 */
#include "receive.h"
#include "log.h"
#include "report_json.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum rstate {
    RS_GREET = 0,
    RS_HEADER,
    RS_BODY,
    RS_SKIP,
    RS_VERDICT,
    RS_END,
    RS_FAILED,
    RS__COUNT
} rstate;

static const char *const state_names[RS__COUNT] = {"greet",   "header", "body",  "skip",
                                                   "verdict", "end",    "failed"};

/* Longest id token echoed back in answers (a UUID is 36; anything up to this is
 * answered "bad-id" rather than treated as a framing error). */
#define TOKEN_MAX 64

typedef struct session {
    const mf_receive_io *io;
    const mf_receive_sink *sink;
    mf_receive_stats *stats;
    mf_error *err;
    size_t max;
    rstate state;
    mf_code rc; /* the result once FAILED */

    /* buffered input */
    char in[16384];
    size_t ipos, ilen;

    /* the report being received */
    char token[TOKEN_MAX + 1];
    unsigned long long length;
    char *body;
    bool too_large_fatal; /* NACK too-large, then stop */
} session;

static void set_state(session *s, rstate next)
{
    mf_log_trace("receive: %s -> %s", state_names[s->state], state_names[next]);
    s->state = next;
}

/* Stop the session with rc and a message (kept in s->err). */
static void fail(session *s, mf_code rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(session *s, mf_code rc, const char *fmt, ...)
{
    char msg[MF_ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mf_error_set(s->err, rc, "%s", msg);
    s->rc = rc;
    set_state(s, RS_FAILED);
}

/* Write one answer line: printable ASCII only, at most MF_RECEIVE_LINE_MAX bytes with
 * the newline. Text that came from a report (error messages quote values) is made
 * safe here, so no caller can break the framing. */
static bool answer(session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool answer(session *s, const char *fmt, ...)
{
    char line[MF_RECEIVE_LINE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, MF_RECEIVE_LINE_MAX, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > MF_RECEIVE_LINE_MAX - 1)
        len = MF_RECEIVE_LINE_MAX - 1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
            line[i] = '?';
    line[len++] = '\n';
    if (s->io->write(s->io->ctx, line, len) != 0) {
        if (s->state != RS_FAILED)
            fail(s, MF_ERR_IO, "cannot write to the agent (connection gone or stalled)");
        return false;
    }
    return true;
}

/* A framing error: tell the agent, then stop. */
static void protocol_error(session *s, const char *text)
{
    mf_log_warn("receive: protocol error: %s", text);
    fail(s, MF_ERR_PARSE, "protocol error: %s", text);
    answer(s, "NACK - protocol %s", text);
}

/* Refill the input buffer. Returns bytes now available, 0 at end of input, or -1 after
 * fail() (error or timeout). */
static ssize_t fill(session *s)
{
    if (s->ipos < s->ilen)
        return (ssize_t)(s->ilen - s->ipos);
    s->ipos = s->ilen = 0;
    ssize_t r = s->io->read(s->io->ctx, s->in, sizeof(s->in));
    if (r == MF_RECEIVE_TIMEOUT) {
        fail(s, MF_ERR_TIMEOUT, "no data from the agent for too long: giving up");
        return -1;
    }
    if (r < 0) {
        fail(s, MF_ERR_IO, "cannot read from the agent");
        return -1;
    }
    if ((size_t)r > sizeof(s->in))
        r = (ssize_t)sizeof(s->in); /* a broken reader must not make us overrun */
    s->ilen = (size_t)r;
    return r;
}

/* Read one line without its '\n' into line (MF_RECEIVE_LINE_MAX bytes). Returns 1 with
 * a line, 0 at end of input before any byte, -1 after fail(). */
static int read_line(session *s, char *line, size_t *len)
{
    size_t n = 0;
    for (;;) {
        ssize_t avail = fill(s);
        if (avail < 0)
            return -1;
        if (avail == 0) {
            if (n == 0)
                return 0;
            protocol_error(s, "input ended in the middle of a line");
            return -1;
        }
        char *start = s->in + s->ipos;
        char *nl = memchr(start, '\n', (size_t)avail);
        size_t take = nl ? (size_t)(nl - start) : (size_t)avail;
        if (n + take > MF_RECEIVE_LINE_MAX - 1) {
            protocol_error(s, "control line longer than 512 bytes");
            return -1;
        }
        memcpy(line + n, start, take);
        n += take;
        s->ipos += take + (nl ? 1 : 0);
        if (nl) {
            line[n] = '\0';
            *len = n;
            return 1;
        }
    }
}

/* Read exactly n bytes into dst (or throw them away when dst is NULL). Returns 0, or
 * -1 after fail() / protocol_error(). */
static int read_exact(session *s, char *dst, unsigned long long n)
{
    while (n) {
        ssize_t avail = fill(s);
        if (avail < 0)
            return -1;
        if (avail == 0) {
            protocol_error(s, "input ended in the middle of a report");
            return -1;
        }
        size_t take = (unsigned long long)avail < n ? (size_t)avail : (size_t)n;
        if (dst) {
            memcpy(dst, s->in + s->ipos, take);
            dst += take;
        }
        s->ipos += take;
        n -= take;
    }
    return 0;
}

/* After a body: exactly one '\n'. */
static int read_trailer(session *s)
{
    char c;
    if (read_exact(s, &c, 1) != 0)
        return -1;
    if (c != '\n') {
        protocol_error(s, "no newline after the report body (length does not match?)");
        return -1;
    }
    return 0;
}

static void on_greet(session *s)
{
    if (answer(s, "MFRECV 1 max=%zu", s->max))
        set_state(s, RS_HEADER);
}

static bool token_ok(const char *t, size_t n)
{
    if (n == 0 || n > TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] > 0x7e)
            return false;
    return true;
}

static void on_header(session *s)
{
    char line[MF_RECEIVE_LINE_MAX];
    size_t len = 0;
    int r = read_line(s, line, &len);
    if (r < 0)
        return;
    if (r == 0) {
        fail(s, MF_ERR_IO, "the agent closed the connection without END");
        return;
    }
    if (strcmp(line, "END") == 0) {
        if (answer(s, "BYE %zu %zu %zu", s->stats->stored, s->stats->duplicates,
                   s->stats->refused))
            set_state(s, RS_END);
        return;
    }
    if (strncmp(line, "REPORT ", 7) != 0) {
        protocol_error(s, "expected a REPORT or END line");
        return;
    }
    const char *tok = line + 7;
    const char *sp = strchr(tok, ' ');
    if (!sp || !token_ok(tok, (size_t)(sp - tok))) {
        protocol_error(s, "bad REPORT line: expected REPORT <report_id> <length>");
        return;
    }
    const char *num = sp + 1;
    long long length;
    if (strlen(num) > 20 || strspn(num, "0123456789") != strlen(num) ||
        mf_parse_long(num, 0, (long long)(~0ULL >> 1), &length) != MF_OK) {
        protocol_error(s, "bad REPORT line: the length is not a decimal byte count");
        return;
    }
    memcpy(s->token, tok, (size_t)(sp - tok));
    s->token[sp - tok] = '\0';
    s->length = (unsigned long long)length;
    if (s->length > s->max) {
        s->too_large_fatal = s->length > MF_RECEIVE_SKIP_MAX;
        set_state(s, s->too_large_fatal ? RS_VERDICT : RS_SKIP);
        return;
    }
    set_state(s, RS_BODY);
}

static void on_skip(session *s)
{
    if (read_exact(s, NULL, s->length) == 0 && read_trailer(s) == 0)
        set_state(s, RS_VERDICT);
}

static void on_body(session *s)
{
    if (read_exact(s, s->body, s->length) == 0 && read_trailer(s) == 0)
        set_state(s, RS_VERDICT);
}

/* NACK the current report. */
static void refuse(session *s, const char *reason, const char *text)
{
    s->stats->refused++;
    mf_log_warn("receive: refused report %s: %s: %s", s->token, reason, text);
    if (answer(s, "NACK %s %s %s", s->token, reason, text))
        set_state(s, RS_HEADER);
}

static void on_verdict(session *s)
{
    char text[MF_RECEIVE_LINE_MAX];
    char id[37];
    if (s->length > s->max) {
        snprintf(text, sizeof(text), "report of %llu bytes is over the limit of %zu bytes",
                 s->length, s->max);
        refuse(s, "too-large", text);
        if (s->too_large_fatal && s->state != RS_FAILED)
            fail(s, MF_ERR_TOOBIG, "a report of %llu bytes was announced: stopping", s->length);
        return;
    }
    if (!mf_spool_id_normalise(id, s->token)) {
        refuse(s, "bad-id", "the report id is not a UUID");
        return;
    }
    mf_error derr;
    mf_error_clear(&derr);
    mf_report *r = NULL;
    mf_code rc = mf_report_decode(&r, s->body, (size_t)s->length, &derr);
    if (rc != MF_OK) {
        char msg[MF_ERROR_TEXT_MAX + MF_ERROR_FIELD_MAX + 64];
        refuse(s, "invalid", mf_error_format(&derr, msg, sizeof(msg)));
        return;
    }
    char docid[37];
    bool same = mf_spool_id_normalise(docid, r->report_id) && strcmp(docid, id) == 0;
    mf_report_free(r);
    if (!same) {
        snprintf(text, sizeof(text), "the document's report_id is %s, the header said %s", docid,
                 id);
        refuse(s, "id-mismatch", text);
        return;
    }
    mf_spool_result res = MF_SPOOL_STORED;
    mf_error serr;
    mf_error_clear(&serr);
    rc = s->sink->store(s->sink->ctx, &res, id, s->body, (size_t)s->length, &serr);
    if (rc != MF_OK) {
        mf_log_error("receive: cannot store report %s: %s", id, serr.text);
        refuse(s, rc == MF_ERR_NOSPACE ? "no-space" : "io",
               rc == MF_ERR_NOSPACE ? "the collector's disk is full: try later"
                                    : "the collector could not store the report: try later");
        return;
    }
    if (res == MF_SPOOL_DUPLICATE) {
        s->stats->duplicates++;
        mf_log_info("receive: report %s is a duplicate", id);
        if (answer(s, "ACK %s duplicate", s->token))
            set_state(s, RS_HEADER);
        return;
    }
    s->stats->stored++;
    mf_log_info("receive: stored report %s (%llu bytes)", id, s->length);
    if (answer(s, "ACK %s", s->token))
        set_state(s, RS_HEADER);
}

mf_code mf_receive_run(mf_receive_stats *out, const mf_receive_io *io,
                       const mf_receive_sink *sink, size_t max_bytes, mf_error *err)
{
    memset(out, 0, sizeof(*out));
    if (max_bytes == 0 || max_bytes > MF_REPORT_MAX_BYTES)
        return mf_error_set(err, MF_ERR_USAGE, "the report size cap must be 1..%d bytes",
                            MF_REPORT_MAX_BYTES);
    session *s = calloc(1, sizeof(*s));
    if (!s)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    mf_code rc = MF_OK;
    s->io = io;
    s->sink = sink;
    s->stats = out;
    s->err = err;
    s->max = max_bytes;
    s->body = malloc(max_bytes + 1);
    if (!s->body) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    while (s->state != RS_END && s->state != RS_FAILED) {
        switch (s->state) {
        case RS_GREET:
            on_greet(s);
            break;
        case RS_HEADER:
            on_header(s);
            break;
        case RS_BODY:
            on_body(s);
            break;
        case RS_SKIP:
            on_skip(s);
            break;
        case RS_VERDICT:
            on_verdict(s);
            break;
        default:
            fail(s, MF_ERR_INTERNAL, "receive: bad state");
            break;
        }
    }
    rc = s->state == RS_END ? MF_OK : s->rc;
out:
    free(s->body);
    free(s);
    return rc;
}

/* ------------------------------------------------------------ file descriptors */

static ssize_t fd_read(void *ctx, void *buf, size_t n)
{
    mf_receive_fd *f = ctx;
    for (;;) {
        struct pollfd p = {.fd = f->in, .events = POLLIN};
        int pr = poll(&p, 1, f->idle_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return MF_RECEIVE_ERROR;
        if (pr == 0)
            return MF_RECEIVE_TIMEOUT;
        ssize_t r = read(f->in, buf, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return r < 0 ? MF_RECEIVE_ERROR : r;
    }
}

static int fd_write(void *ctx, const void *buf, size_t n)
{
    mf_receive_fd *f = ctx;
    const char *p = buf;
    while (n) {
        struct pollfd pf = {.fd = f->out, .events = POLLOUT};
        int pr = poll(&pf, 1, f->idle_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        ssize_t w = write(f->out, p, n);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void mf_receive_fd_io_init(mf_receive_io *io, mf_receive_fd *fds, int in, int out, int idle_ms)
{
    fds->in = in;
    fds->out = out;
    fds->idle_ms = idle_ms;
    io->read = fd_read;
    io->write = fd_write;
    io->ctx = fds;
}

static mf_code spool_store(void *ctx, mf_spool_result *out, const char *id, const char *data,
                           size_t len, mf_error *err)
{
    return mf_spool_store(out, ctx, id, data, len, err);
}

void mf_receive_spool_sink_init(mf_receive_sink *sink, mf_spool *sp)
{
    sink->store = spool_store;
    sink->ctx = sp;
}
