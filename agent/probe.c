/* probe.c: the probe engine. Every target is a job with its own small state machine
 * (queued → resolving → connecting → session → done); all jobs share one poll() loop
 * over non-blocking sockets, at most opts->concurrency at a time. Each job carries
 * absolute deadlines (its phase's and its total budget), so a server that never
 * answers, or answers a byte a second, costs only its own budget and never delays the
 * others. Name resolution runs in resolver threads (probe_dns.c), the SMTP dialogue in
 * probe_smtp.c, TLS in probe_tls.c. */
#include "probe.h"
#include "log.h"
#include "probe_dns.h"
#include "probe_smtp.h"
#include "probe_tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 4096
#define MAX_ADDR_LISTS 8 /* --resolve entries used for one host and port */

/* Default limit of each phase at the default 20 s budget; a larger budget scales them
 * up. A phase never runs past the probe's total budget. */
static const int phase_limit_ms[MF_PHASE__COUNT] = {
    [MF_PHASE_DNS] = 10000,      [MF_PHASE_CONNECT] = 10000, [MF_PHASE_BANNER] = 15000,
    [MF_PHASE_EHLO] = 10000,     [MF_PHASE_STARTTLS] = 10000, [MF_PHASE_TLS] = 10000,
    [MF_PHASE_EHLO_TLS] = 10000, [MF_PHASE_QUIT] = 3000,
};

void mf_probe_opts_init(mf_probe_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->timeout_ms = 20000;
    o->concurrency = 16;
}

/* ---------------------------------------------------------------------------------- */
/* --resolve                                                                           */

mf_code mf_resolve_parse(const char *spec, mf_resolve *out, mf_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *c1 = strchr(spec, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2)
        return mf_error_set(err, MF_ERR_USAGE, "expected HOST:PORT:ADDRESS");
    size_t hl = (size_t)(c1 - spec);
    if (hl == 0 || hl > 253)
        return mf_error_set(err, MF_ERR_USAGE, "the host name is empty or too long");
    for (size_t i = 0; i < hl; i++)
        if (isspace((unsigned char)spec[i]) || (unsigned char)spec[i] < 0x21)
            return mf_error_set(err, MF_ERR_USAGE, "the host name contains white space");
    char port[8];
    size_t pl = (size_t)(c2 - c1 - 1);
    long long pv;
    if (pl == 0 || pl >= sizeof(port))
        return mf_error_set(err, MF_ERR_USAGE, "the port must be a number from 1 to 65535");
    memcpy(port, c1 + 1, pl);
    port[pl] = '\0';
    if (mf_parse_long(port, 1, 65535, &pv) != MF_OK)
        return mf_error_set(err, MF_ERR_USAGE, "the port \"%s\" must be a number from 1 to 65535",
                            port);
    const char *a = c2 + 1;
    size_t al = strlen(a);
    if (al >= 2 && a[0] == '[' && a[al - 1] == ']') {
        a++;
        al -= 2;
    }
    char addr[INET6_ADDRSTRLEN + 1];
    unsigned char bin[16];
    if (al == 0 || al >= sizeof(addr))
        return mf_error_set(err, MF_ERR_USAGE, "the address is empty or too long");
    memcpy(addr, a, al);
    addr[al] = '\0';
    if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
        return mf_error_set(err, MF_ERR_USAGE, "\"%s\" is not an IPv4 or IPv6 address", addr);
    out->host = mf_str_trim_lower(spec);
    if (out->host)
        out->host[hl] = '\0';
    out->addr = mf_strdup(addr);
    out->port = (int)pv;
    if (!out->host || !out->addr) {
        mf_resolve_clear(out);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    return MF_OK;
}

void mf_resolve_clear(mf_resolve *r)
{
    free(r->host);
    free(r->addr);
    r->host = r->addr = NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Jobs                                                                                */

typedef enum job_state { J_QUEUED = 0, J_RESOLVING, J_CONNECTING, J_SESSION, J_DONE, J__COUNT } job_state;
static const char *const job_state_names[J__COUNT] = {
    "queued", "resolving", "connecting", "session", "done",
};

/* Connection failures, in the order of how much they tell: a refusal is an answer, a
 * timeout says something is there but silent, unreachable is often just "no IPv6". */
enum { CE_NONE = 0, CE_UNREACHABLE, CE_TIMEOUT, CE_REFUSED };

typedef struct job {
    job_state state;
    mf_probe *p;
    const char *host;
    int port;
    mf_security sec;
    char label[300];
    int64_t started, deadline;             /* the total budget */
    int64_t phase_started, phase_deadline; /* dns and connect (the session's are in sm) */
    int64_t addr_deadline;                 /* the current address's share of connect */
    mf_dns_query *dns;
    /* Address lists (one per --resolve entry, or the lookup's), each freed on its own;
     * the probe walks them in order. */
    struct addrinfo *ai_lists[MAX_ADDR_LISTS];
    int nlists, list_idx;
    struct addrinfo *next_ai, *cur_ai;
    int naddr_left;
    int fd;
    int conn_err;
    char conn_detail[400];
    mf_tls_conn *tls;
    bool want_write; /* TLS asked to wait for POLLOUT */
    bool sm_ready;
    bool finished; /* job_finish ran: resources released, duration recorded */
    mf_smtp sm;
} job;

typedef struct engine {
    const mf_probe_opts *opts;
    mf_tls_ctx *tls;
    char ehlo_name[256];
    int scale; /* phase limits multiplier */
} engine;

/* The ONLY way a job changes state. */
static void job_set_state(job *j, job_state next)
{
    mf_log_debug("probe %s: job %s -> %s", j->label, job_state_names[j->state],
                 job_state_names[next]);
    j->state = next;
}

static int64_t phase_deadline(const engine *e, const job *j, mf_phase ph, int64_t since)
{
    int64_t d = since + (int64_t)phase_limit_ms[ph] * e->scale;
    return d < j->deadline ? d : j->deadline;
}

static void close_fd(job *j)
{
    mf_tls_conn_free(j->tls);
    j->tls = NULL;
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
}

/* Record an outcome found before the SMTP session exists (dns, connect). */
static void job_fail(job *j, mf_outcome o, mf_phase ph, const char *detail, int64_t now)
{
    mf_probe *p = j->p;
    p->outcome = o;
    p->fail_phase = ph;
    free(p->detail);
    p->detail = mf_smtp_printable(detail, strlen(detail));
    if (p->phase_ms[ph] < 0)
        p->phase_ms[ph] = now - j->phase_started;
    mf_log_info("probe %s: %s in %s: %s", j->label, mf_outcome_name(o), mf_phase_name(ph),
                detail);
    job_set_state(j, J_DONE);
}

/* Release everything the job holds and record its duration. Runs once per job. */
static void job_finish(job *j, int64_t now)
{
    if (j->finished)
        return;
    j->finished = true;
    if (j->sm_ready) {
        /* A goodbye queued together with the end (after a protocol error or a timeout):
         * one non-blocking attempt, never a wait. */
        if (j->sm.out.len > 0 && j->fd >= 0) {
            size_t n = 0;
            if (j->tls)
                mf_tls_write(j->tls, j->sm.out.data, j->sm.out.len, &n);
            else
                (void)send(j->fd, j->sm.out.data, j->sm.out.len, 0);
        }
        mf_smtp_free(&j->sm);
        j->sm_ready = false;
    }
    close_fd(j);
    for (int i = 0; i < j->nlists; i++)
        freeaddrinfo(j->ai_lists[i]);
    j->nlists = 0;
    j->next_ai = j->cur_ai = NULL;
    mf_dns_release(j->dns);
    j->dns = NULL;
    j->p->duration_ms = now - j->started;
    if (j->state != J_DONE)
        job_set_state(j, J_DONE);
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    fl = fcntl(fd, F_GETFD);
    return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

static void addr_text(const struct sockaddr *sa, char *out, size_t outsz)
{
    out[0] = '\0';
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)outsz);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)outsz);
}

static void note_conn_error(job *j, int err, const struct addrinfo *ai)
{
    int cls = err == ECONNREFUSED                        ? CE_REFUSED
              : (err == ETIMEDOUT || err == EINPROGRESS) ? CE_TIMEOUT
                                                         : CE_UNREACHABLE;
    if (cls > j->conn_err)
        j->conn_err = cls;
    if (!ai)
        return;
    char a[INET6_ADDRSTRLEN];
    addr_text(ai->ai_addr, a, sizeof(a));
    size_t l = strlen(j->conn_detail);
    snprintf(j->conn_detail + l, sizeof(j->conn_detail) - l, "%s%s: %s", l ? "; " : "", a,
             err == EINPROGRESS ? "no answer in time" : strerror(err));
}

static void start_session(engine *e, job *j, int64_t now);

/* Try the next address; ends the job when none is left. */
static void connect_next(engine *e, job *j, int64_t now)
{
    for (;;) {
        while (!j->next_ai && j->list_idx + 1 < j->nlists)
            j->next_ai = j->ai_lists[++j->list_idx];
        struct addrinfo *ai = j->next_ai;
        if (!ai)
            break;
        j->next_ai = ai->ai_next;
        j->cur_ai = ai;
        j->naddr_left--;
        int64_t left = j->phase_deadline - now;
        if (left <= 0) {
            note_conn_error(j, EINPROGRESS, ai);
            break;
        }
        /* Each remaining address gets a fair share, but never less than 3 s (or what is
         * left), so one black-holed address cannot eat the others' time entirely. */
        int64_t share = left / (j->naddr_left + 1);
        int64_t floor_ms = left < 3000 ? left : 3000;
        j->addr_deadline = now + (share > floor_ms ? share : floor_ms);
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            int err = errno;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                char msg[200];
                snprintf(msg, sizeof(msg), "the probe could not open a socket: %s",
                         strerror(err));
                job_fail(j, MF_OUT_PROBE_ERROR, MF_PHASE_CONNECT, msg, now);
                return;
            }
            note_conn_error(j, err, ai);
            continue;
        }
        if (set_nonblock(fd) != 0) {
            close(fd);
            job_fail(j, MF_OUT_PROBE_ERROR, MF_PHASE_CONNECT, "cannot make a socket non-blocking",
                     now);
            return;
        }
#ifdef SO_NOSIGPIPE
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
        j->fd = fd;
        free(j->p->address);
        char a[INET6_ADDRSTRLEN];
        addr_text(ai->ai_addr, a, sizeof(a));
        j->p->address = mf_strdup(a);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            start_session(e, j, now);
            return;
        }
        if (errno == EINPROGRESS || errno == EINTR) {
            if (j->state != J_CONNECTING)
                job_set_state(j, J_CONNECTING);
            return;
        }
        note_conn_error(j, errno, ai);
        close_fd(j);
    }
    mf_outcome o = j->conn_err == CE_REFUSED   ? MF_OUT_CONNECT_REFUSED
                   : j->conn_err == CE_TIMEOUT ? MF_OUT_CONNECT_TIMEOUT
                                               : MF_OUT_NETWORK_UNREACHABLE;
    job_fail(j, o, MF_PHASE_CONNECT, j->conn_detail[0] ? j->conn_detail : "no address to try",
             now);
}

/* DNS is done: j->ai_lists hold the addresses. */
static void begin_connect(engine *e, job *j, int64_t now)
{
    j->p->phase_ms[MF_PHASE_DNS] = now - j->phase_started;
    j->list_idx = 0;
    j->next_ai = j->nlists > 0 ? j->ai_lists[0] : NULL;
    j->naddr_left = 0;
    for (int i = 0; i < j->nlists; i++)
        for (struct addrinfo *a = j->ai_lists[i]; a; a = a->ai_next)
            j->naddr_left++;
    j->phase_started = now;
    j->phase_deadline = phase_deadline(e, j, MF_PHASE_CONNECT, now);
    job_set_state(j, J_CONNECTING);
    connect_next(e, j, now);
}

/* Start TLS when the SMTP client entered its TLS state. */
static void maybe_start_tls(engine *e, job *j, int64_t now)
{
    if (j->sm.state != MF_SMTP_TLS || j->tls)
        return;
    if (mf_tls_conn_new(&j->tls, e->tls, j->fd, j->host) != MF_OK) {
        mf_smtp_fail(&j->sm, MF_OUT_PROBE_ERROR, "the probe could not set up TLS", now);
        return;
    }
    j->p->has_tls = true;
}

static void drive_handshake(job *j, int64_t now)
{
    mf_tls_io r = mf_tls_handshake(j->tls);
    j->want_write = r == MF_TLS_IO_WANT_WRITE;
    if (r == MF_TLS_IO_WANT_READ || r == MF_TLS_IO_WANT_WRITE)
        return;
    if (r == MF_TLS_IO_DONE) {
        char *detail = NULL;
        mf_outcome o = mf_tls_inspect(j->tls, &j->p->tls, &detail);
        mf_smtp_tls_done(&j->sm, true, o, detail, now);
        free(detail);
        return;
    }
    char *detail = mf_tls_failure(j->tls, r, &j->p->tls);
    mf_smtp_tls_done(&j->sm, false, MF_OUT_TLS_HANDSHAKE_FAILED, detail, now);
    free(detail);
}

/* Send what the SMTP client queued. */
static void flush_out(job *j, int64_t now)
{
    mf_buf *o = &j->sm.out;
    while (o->len > 0 && j->sm.state != MF_SMTP_DONE) {
        size_t n = 0;
        if (j->tls) {
            mf_tls_io r = mf_tls_write(j->tls, o->data, o->len, &n);
            j->want_write = r == MF_TLS_IO_WANT_WRITE;
            if (r == MF_TLS_IO_WANT_READ || r == MF_TLS_IO_WANT_WRITE)
                return;
            if (r != MF_TLS_IO_DONE) {
                mf_smtp_closed(&j->sm, r == MF_TLS_IO_RESET, now);
                return;
            }
        } else {
#ifdef MSG_NOSIGNAL
            ssize_t w = send(j->fd, o->data, o->len, MSG_NOSIGNAL);
#else
            ssize_t w = send(j->fd, o->data, o->len, 0);
#endif
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    j->want_write = true;
                    return;
                }
                mf_smtp_closed(&j->sm, true, now);
                return;
            }
            n = (size_t)w;
            j->want_write = false;
        }
        mf_buf_consume(o, n);
    }
}

/* Read what the server sent and feed it to the SMTP client. */
static void read_input(job *j, int64_t now)
{
    char buf[READ_CHUNK];
    for (;;) {
        mf_smtp_state st = j->sm.state;
        if (st == MF_SMTP_DONE || st == MF_SMTP_TLS)
            return;
        size_t n = 0;
        if (j->tls) {
            mf_tls_io r = mf_tls_read(j->tls, buf, sizeof(buf), &n);
            if (r == MF_TLS_IO_WANT_READ)
                return;
            if (r == MF_TLS_IO_WANT_WRITE) {
                j->want_write = true;
                return;
            }
            if (r == MF_TLS_IO_CLOSED || r == MF_TLS_IO_RESET) {
                mf_smtp_closed(&j->sm, r == MF_TLS_IO_RESET, now);
                return;
            }
            if (r == MF_TLS_IO_ERROR) {
                mf_smtp_fail(&j->sm, MF_OUT_PROTOCOL_ERROR,
                             "a TLS error after the handshake broke the session", now);
                return;
            }
        } else {
            ssize_t r = recv(j->fd, buf, sizeof(buf), 0);
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    return;
                mf_smtp_closed(&j->sm, errno == ECONNRESET, now);
                return;
            }
            if (r == 0) {
                mf_smtp_closed(&j->sm, false, now);
                return;
            }
            n = (size_t)r;
        }
        mf_smtp_input(&j->sm, buf, n, now);
    }
}

/* Many servers (aiosmtpd among them) write a multi-line reply line by line; with Nagle
 * on their side and delayed ACKs on ours, every such reply waits ~40 ms for our ACK.
 * Linux lets a client ACK at once; the mode wears off, so it is re-armed before each
 * wait. Elsewhere this is a no-op. */
static void quick_ack(int fd)
{
#ifdef TCP_QUICKACK
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#else
    (void)fd;
#endif
}

/* After any event: move the session on as far as it goes without waiting. */
static void pump_session(engine *e, job *j, int64_t now)
{
    for (int guard = 0; guard < 16; guard++) {
        mf_smtp_state before = j->sm.state;
        maybe_start_tls(e, j, now);
        if (j->sm.state == MF_SMTP_TLS && j->tls)
            drive_handshake(j, now);
        if (j->sm.state != MF_SMTP_DONE && j->sm.state != MF_SMTP_TLS)
            flush_out(j, now);
        /* Bytes already decrypted produce no poll event: read them now. */
        if (j->tls && j->sm.state != MF_SMTP_TLS && mf_tls_pending(j->tls))
            read_input(j, now);
        if (j->sm.state == MF_SMTP_DONE || j->sm.state == before)
            break;
    }
    if (j->sm.state == MF_SMTP_DONE)
        job_finish(j, now);
    else
        quick_ack(j->fd);
}

static void start_session(engine *e, job *j, int64_t now)
{
    j->p->phase_ms[MF_PHASE_CONNECT] = now - j->phase_started;
    bool implicit = j->sec == MF_SEC_TLS || (j->sec == MF_SEC_UNKNOWN && j->port == 465);
    mf_smtp_init(&j->sm, j->p, j->sec, implicit, e->ehlo_name, j->label, now);
    j->sm_ready = true;
    job_set_state(j, J_SESSION);
    pump_session(e, j, now);
}

static void start_job(engine *e, job *j, int64_t now)
{
    j->started = j->phase_started = now;
    j->deadline = now + e->opts->timeout_ms;
    j->phase_deadline = phase_deadline(e, j, MF_PHASE_DNS, now);
    const mf_probe_opts *o = e->opts;
    /* --resolve: every matching entry adds its address, in order. */
    for (size_t i = 0; i < o->nresolve && j->nlists < MAX_ADDR_LISTS; i++) {
        if (o->resolve[i].port != j->port || !mf_strcaseeq(o->resolve[i].host, j->host))
            continue;
        struct addrinfo *ai = NULL;
        if (mf_dns_numeric(o->resolve[i].addr, j->port, &ai) == 0 && ai)
            j->ai_lists[j->nlists++] = ai;
    }
    /* An address literal needs no lookup either. */
    if (j->nlists == 0) {
        struct addrinfo *ai = NULL;
        if (mf_dns_numeric(j->host, j->port, &ai) == 0 && ai)
            j->ai_lists[j->nlists++] = ai;
    }
    if (j->nlists > 0) {
        begin_connect(e, j, now);
        return;
    }
    mf_code rc = mf_dns_start(&j->dns, j->host, j->port);
    if (rc != MF_OK) {
        job_fail(j, MF_OUT_PROBE_ERROR, MF_PHASE_DNS, "the probe could not start a name lookup",
                 now);
        return;
    }
    job_set_state(j, J_RESOLVING);
}

static void on_dns(engine *e, job *j, int64_t now)
{
    struct addrinfo *ai = NULL;
    int gerr = 0;
    if (!mf_dns_result(j->dns, &ai, &gerr))
        return;
    mf_dns_release(j->dns);
    j->dns = NULL;
    if (gerr != 0 || !ai) {
        char msg[300];
        mf_outcome o = mf_dns_outcome(gerr);
        snprintf(msg, sizeof(msg), "%s: %s", j->host,
                 o == MF_OUT_DNS_NXDOMAIN ? "no such host name (NXDOMAIN)" : gai_strerror(gerr));
        if (ai)
            freeaddrinfo(ai);
        job_fail(j, o, MF_PHASE_DNS, msg, now);
        return;
    }
    j->ai_lists[j->nlists++] = ai;
    begin_connect(e, j, now);
}

static void on_connect_ready(engine *e, job *j, int64_t now)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(j->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        start_session(e, j, now);
        return;
    }
    note_conn_error(j, err, j->cur_ai);
    close_fd(j);
    connect_next(e, j, now);
}

static int64_t job_deadline(const engine *e, const job *j)
{
    switch (j->state) {
    case J_RESOLVING:
        return j->phase_deadline;
    case J_CONNECTING:
        return j->addr_deadline < j->phase_deadline ? j->addr_deadline : j->phase_deadline;
    case J_SESSION:
        return phase_deadline(e, j, mf_smtp_state_phase(j->sm.state), j->sm.state_since);
    default:
        return j->deadline;
    }
}

static void on_deadline(engine *e, job *j, int64_t now)
{
    switch (j->state) {
    case J_RESOLVING: {
        char msg[300];
        snprintf(msg, sizeof(msg), "the name lookup of %s did not finish in time", j->host);
        job_fail(j, MF_OUT_TIMEOUT, MF_PHASE_DNS, msg, now);
        break;
    }
    case J_CONNECTING: {
        note_conn_error(j, EINPROGRESS, j->cur_ai);
        close_fd(j);
        connect_next(e, j, now);
        break;
    }
    case J_SESSION:
        mf_smtp_timeout(&j->sm, now);
        pump_session(e, j, now);
        break;
    default:
        break;
    }
}

static void on_event(engine *e, job *j, short revents, int64_t now)
{
    switch (j->state) {
    case J_RESOLVING:
        on_dns(e, j, now);
        break;
    case J_CONNECTING:
        on_connect_ready(e, j, now);
        break;
    case J_SESSION:
        if (j->sm.state == MF_SMTP_TLS) {
            pump_session(e, j, now);
            break;
        }
        if (revents & (POLLIN | POLLHUP | POLLERR))
            read_input(j, now);
        pump_session(e, j, now);
        break;
    default:
        break;
    }
    if (j->state != J_DONE && j->sm_ready && j->sm.state == MF_SMTP_DONE)
        job_finish(j, now);
}

/* The name sent with EHLO: this host's name when it is a plausible domain name. */
static void pick_ehlo_name(engine *e)
{
    if (e->opts->ehlo_name) {
        mf_strlcpy(e->ehlo_name, e->opts->ehlo_name, sizeof(e->ehlo_name));
        return;
    }
    char h[256] = "";
    bool ok = gethostname(h, sizeof(h) - 1) == 0 && h[0] != '\0';
    for (const char *c = h; ok && *c; c++)
        ok = isalnum((unsigned char)*c) || *c == '-' || *c == '.';
    mf_strlcpy(e->ehlo_name, ok ? h : "localhost", sizeof(e->ehlo_name));
}

/* Process-wide settings the probe needs: a peer that resets while we write must not
 * kill the program with SIGPIPE, and many probes at once need file descriptors. */
static void prepare_process(size_t concurrency)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        sigaction(SIGPIPE, &sa, NULL);
    }
    struct rlimit rl;
    rlim_t want = (rlim_t)concurrency * 2 + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want) ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static mf_code run_jobs(job *jobs, size_t n, const mf_probe_opts *opts)
{
    engine e;
    memset(&e, 0, sizeof(e));
    e.opts = opts;
    e.scale = opts->timeout_ms > 20000 ? (opts->timeout_ms + 19999) / 20000 : 1;
    size_t conc = opts->concurrency > 0 ? (size_t)opts->concurrency : 1;
    mf_error err;
    mf_error_clear(&err);
    mf_code rc = mf_tls_ctx_new(&e.tls, opts->ca_file, &err);
    if (rc != MF_OK) {
        mf_log_error("probe: %s", err.text[0] ? err.text : mf_strerror(rc));
        return rc;
    }
    pick_ehlo_name(&e);
    prepare_process(conc);
    struct pollfd *pfd = calloc(conc, sizeof(*pfd));
    job **pjob = calloc(conc, sizeof(*pjob));
    job **active = calloc(conc, sizeof(*active));
    if (!pfd || !pjob || !active) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    size_t next = 0, nactive = 0;
    for (;;) {
        int64_t now = mf_now_ms();
        /* Fill free slots; a job can end right away (bad --resolve, refused at once). */
        while (nactive < conc && next < n) {
            job *j = &jobs[next++];
            start_job(&e, j, now);
            if (j->state == J_DONE)
                job_finish(j, now);
            else
                active[nactive++] = j;
        }
        if (nactive == 0)
            break;
        int64_t soonest = INT64_MAX;
        nfds_t np = 0;
        for (size_t i = 0; i < nactive; i++) {
            job *j = active[i];
            int64_t d = job_deadline(&e, j);
            if (d < soonest)
                soonest = d;
            short ev = 0;
            int fd = -1;
            if (j->state == J_RESOLVING) {
                fd = mf_dns_fd(j->dns);
                ev = POLLIN;
            } else if (j->state == J_CONNECTING) {
                fd = j->fd;
                ev = POLLOUT;
            } else if (j->state == J_SESSION) {
                fd = j->fd;
                ev = POLLIN;
                if (j->want_write || (j->sm.out.len > 0 && j->sm.state != MF_SMTP_TLS))
                    ev |= POLLOUT;
            }
            if (fd < 0)
                continue;
            pfd[np].fd = fd;
            pfd[np].events = ev;
            pfd[np].revents = 0;
            pjob[np] = j;
            np++;
        }
        int64_t wait = soonest - now;
        if (wait < 0)
            wait = 0;
        if (wait > 60000)
            wait = 60000;
        int pr = poll(pfd, np, (int)wait);
        if (pr < 0 && errno != EINTR) {
            mf_log_error("probe: poll failed: %s", strerror(errno));
            rc = MF_ERR_INTERNAL;
            goto out;
        }
        now = mf_now_ms();
        for (nfds_t i = 0; pr > 0 && i < np; i++)
            if (pfd[i].revents && pjob[i]->state != J_DONE)
                on_event(&e, pjob[i], pfd[i].revents, now);
        now = mf_now_ms();
        for (size_t i = 0; i < nactive; i++) {
            job *j = active[i];
            if (j->state != J_DONE && now >= job_deadline(&e, j))
                on_deadline(&e, j, now);
            if (j->state == J_DONE)
                job_finish(j, now);
        }
        size_t k = 0;
        for (size_t i = 0; i < nactive; i++)
            if (active[i]->state != J_DONE)
                active[k++] = active[i];
        nactive = k;
    }
out:
    /* Only reached early on a tool failure: release what is still open. */
    for (size_t i = 0; i < n; i++)
        if (jobs[i].state != J_QUEUED)
            job_finish(&jobs[i], mf_now_ms());
    free(pfd);
    free(pjob);
    free(active);
    mf_tls_ctx_free(e.tls);
    return rc;
}

static void job_init(job *j, mf_probe *p)
{
    memset(j, 0, sizeof(*j));
    j->p = p;
    j->host = p->hostname;
    j->port = p->port;
    j->sec = p->security;
    j->fd = -1;
    snprintf(j->label, sizeof(j->label), "%s:%d", p->hostname, p->port);
}

/* ---------------------------------------------------------------------------------- */
/* Public entry points                                                                 */

mf_code mf_probe_run(mf_probe *p, const char *host, int port, mf_security sec,
                     const mf_probe_opts *opts)
{
    if (!p->hostname) {
        p->hostname = mf_strdup(host);
        if (!p->hostname)
            return MF_ERR_NOMEM;
    }
    p->port = port > 0 ? port : mf_default_port(sec);
    p->security = sec;
    job j;
    job_init(&j, p);
    return run_jobs(&j, 1, opts);
}

mf_code mf_probe_report(mf_report *r, const mf_probe_opts *opts)
{
    size_t first = r->nprobes;
    mf_code rc = MF_OK;
    for (size_t i = 0; i < r->nservers; i++) {
        const mf_server *s = &r->servers[i];
        if (mf_str_empty(s->hostname)) {
            /* Nothing to connect to; a skipped probe keeps every server covered. */
            mf_probe *sp = mf_report_add_probe(r);
            if (!sp)
                return MF_ERR_NOMEM;
            sp->port = s->port;
            sp->security = s->security;
            sp->outcome = MF_OUT_SKIPPED;
            sp->detail = s->provider ? mf_asprintf("provider-managed: macOS picks the %s server "
                                                   "itself", s->provider)
                                     : mf_strdup("no host name stored");
            if (!sp->detail || (rc = mf_strv_push(&sp->servers, s->id)) != MF_OK)
                return MF_ERR_NOMEM;
            continue;
        }
        int port = s->port > 0 ? s->port : mf_default_port(s->security);
        mf_probe *p = NULL;
        for (size_t k = first; k < r->nprobes; k++)
            if (r->probes[k].hostname && r->probes[k].port == port && r->probes[k].security == s->security &&
                strcmp(r->probes[k].hostname, s->hostname) == 0)
                p = &r->probes[k];
        if (!p) {
            p = mf_report_add_probe(r);
            if (!p)
                return MF_ERR_NOMEM;
            p->hostname = mf_strdup(s->hostname);
            if (!p->hostname)
                return MF_ERR_NOMEM;
            p->port = port;
            p->security = s->security;
        }
        if ((rc = mf_strv_push(&p->servers, s->id)) != MF_OK)
            return rc;
    }
    size_t n = 0;
    for (size_t k = first; k < r->nprobes; k++)
        n += r->probes[k].outcome != MF_OUT_SKIPPED;
    if (n == 0)
        return MF_OK;
    job *jobs = calloc(n, sizeof(*jobs));
    if (!jobs)
        return MF_ERR_NOMEM;
    n = 0;
    for (size_t k = first; k < r->nprobes; k++)
        if (r->probes[k].outcome != MF_OUT_SKIPPED)
            job_init(&jobs[n++], &r->probes[k]);
    mf_log_info("probing %zu target(s), %d at a time, %d ms each at most", n,
                opts->concurrency, opts->timeout_ms);
    rc = run_jobs(jobs, n, opts);
    free(jobs);
    return rc;
}
