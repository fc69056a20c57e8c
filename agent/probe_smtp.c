/* probe_smtp.c: the strict SMTP reply parser and the client state machine of a probe.
 * No I/O here: probe.c moves the bytes (see probe_smtp.h). */
#include "probe_smtp.h"
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* Reply parser                                                                        */

void mf_smtp_reply_init(mf_smtp_reply *rp)
{
    memset(rp, 0, sizeof(*rp));
    mf_buf_init(&rp->line, MF_SMTP_LINE_MAX);
}

void mf_smtp_reply_reset(mf_smtp_reply *rp)
{
    mf_strv_free(&rp->lines);
    mf_buf_reset(&rp->line);
    rp->code = 0;
    rp->bytes = 0;
    rp->error[0] = '\0';
}

void mf_smtp_reply_free(mf_smtp_reply *rp)
{
    mf_strv_free(&rp->lines);
    mf_buf_free(&rp->line);
}

static mf_smtp_parse parse_error(mf_smtp_reply *rp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static mf_smtp_parse parse_error(mf_smtp_reply *rp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp->error, sizeof(rp->error), fmt, ap);
    va_end(ap);
    return MF_SMTP_PARSE_ERROR;
}

/* Check one complete line (without its line end) and add it to the reply. Returns
 * MORE for a continuation line, REPLY for the last line, ERROR otherwise. */
static mf_smtp_parse parse_line(mf_smtp_reply *rp, const char *s, size_t n)
{
    size_t lineno = rp->lines.n + 1;
    /* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39 */
    if (n < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '5' || s[2] < '0' ||
        s[2] > '9') {
        char *shown = mf_smtp_printable(s, n < 12 ? n : 12);
        mf_smtp_parse e = parse_error(rp, "invalid reply code in line %zu: \"%s\"", lineno,
                                      shown ? shown : "");
        free(shown);
        return e;
    }
    int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (rp->lines.n > 0 && code != rp->code)
        return parse_error(rp, "reply code changes from %d to %d in line %zu", rp->code,
                           code, lineno);
    rp->code = code;
    bool last;
    if (n == 3)
        last = true;
    else if (s[3] == ' ')
        last = true;
    else if (s[3] == '-')
        last = false;
    else
        return parse_error(rp, "invalid separator after reply code %d in line %zu", code,
                           lineno);
    for (size_t i = 4; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return parse_error(rp, "non-printable character 0x%02x in line %zu", c, lineno);
    }
    char *text = n > 4 ? mf_strndup(s + 4, n - 4) : mf_strdup("");
    if (!text || mf_strv_push_owned(&rp->lines, text) != MF_OK)
        return parse_error(rp, "out of memory");
    if (!last && rp->lines.n >= MF_SMTP_REPLY_LINES)
        return parse_error(rp, "reply longer than %u lines", MF_SMTP_REPLY_LINES);
    return last ? MF_SMTP_PARSE_REPLY : MF_SMTP_PARSE_MORE;
}

mf_smtp_parse mf_smtp_reply_feed(mf_smtp_reply *rp, const char *data, size_t len,
                                 size_t *consumed_out)
{
    size_t i = 0;
    mf_smtp_parse res = MF_SMTP_PARSE_MORE;
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t take = nl ? (size_t)(nl - (data + i)) + 1 : len - i;
        /* The caps are checked before copying, so a 1 MiB line costs 4 KiB. */
        if (rp->line.len + take > MF_SMTP_LINE_MAX) {
            i += MF_SMTP_LINE_MAX - rp->line.len;
            res = parse_error(rp, "reply line %zu longer than %u bytes", rp->lines.n + 1,
                              MF_SMTP_LINE_MAX);
            break;
        }
        if (rp->bytes + take > MF_SMTP_REPLY_BYTES) {
            res = parse_error(rp, "reply longer than %u bytes", MF_SMTP_REPLY_BYTES);
            break;
        }
        if (mf_buf_append(&rp->line, data + i, take) != MF_OK) {
            res = parse_error(rp, "out of memory");
            break;
        }
        rp->bytes += take;
        i += take;
        if (!nl)
            break;
        size_t n = rp->line.len - 1; /* without LF */
        if (n > 0 && rp->line.data[n - 1] == '\r')
            n--;
        res = parse_line(rp, rp->line.data, n);
        mf_buf_reset(&rp->line);
        if (res != MF_SMTP_PARSE_MORE)
            break;
    }
    *consumed_out = i;
    return res;
}

/* ---------------------------------------------------------------------------------- */
/* Helpers                                                                             */

char *mf_smtp_printable(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        o[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    o[n] = '\0';
    return o;
}

static bool keyword_is(const char *line, const char *kw)
{
    size_t n = strlen(kw);
    for (size_t i = 0; i < n; i++)
        if (toupper((unsigned char)line[i]) != kw[i])
            return false;
    return line[n] == '\0' || line[n] == ' ' || line[n] == '=';
}

bool mf_smtp_parse_auth(const char *line, mf_strv *out)
{
    if (!keyword_is(line, "AUTH"))
        return false;
    const char *p = line + 4;
    while (*p) {
        while (*p == ' ' || *p == '=' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        size_t n = (size_t)(p - start);
        if (n == 0 || n > 64)
            continue;
        char mech[65];
        for (size_t i = 0; i < n; i++)
            mech[i] = (char)toupper((unsigned char)start[i]);
        mech[n] = '\0';
        if (!mf_strv_contains(out, mech) && mf_strv_push(out, mech) != MF_OK)
            return true;
    }
    return true;
}

/* ---------------------------------------------------------------------------------- */
/* State machine                                                                       */

static const char *const state_names[MF_SMTP__COUNT] = {
    "banner", "ehlo", "helo", "starttls", "tls", "ehlo-tls", "helo-tls", "quit", "done",
};

static const mf_phase state_phases[MF_SMTP__COUNT] = {
    MF_PHASE_BANNER,   MF_PHASE_EHLO,     MF_PHASE_EHLO, MF_PHASE_STARTTLS, MF_PHASE_TLS,
    MF_PHASE_EHLO_TLS, MF_PHASE_EHLO_TLS, MF_PHASE_QUIT, MF_PHASE_QUIT,
};

const char *mf_smtp_state_name(mf_smtp_state s)
{
    return (unsigned)s < MF_SMTP__COUNT ? state_names[s] : "?";
}

mf_phase mf_smtp_state_phase(mf_smtp_state s)
{
    return (unsigned)s < MF_SMTP__COUNT ? state_phases[s] : MF_PHASE_QUIT;
}

/* The ONLY way to change state: closes the time of the old state's phase and logs. */
static void set_state(mf_smtp *sm, mf_smtp_state next, int64_t now)
{
    if (sm->state != MF_SMTP_DONE) {
        mf_phase ph = state_phases[sm->state];
        if (sm->p->phase_ms[ph] < 0)
            sm->p->phase_ms[ph] = 0;
        sm->p->phase_ms[ph] += now - sm->state_since;
    }
    mf_log_debug("probe %s: %s -> %s", sm->label, state_names[sm->state], state_names[next]);
    sm->state = next;
    sm->state_since = now;
}

/* Record the first finding of the session; later ones are only logged. */
static void finding(mf_smtp *sm, mf_outcome o, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void finding(mf_smtp *sm, mf_outcome o, int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (sm->finding) {
        mf_log_debug("probe %s: also %s: %s", sm->label, mf_outcome_name(o), text);
        return;
    }
    sm->finding = true;
    mf_probe *p = sm->p;
    p->outcome = o;
    p->fail_phase = state_phases[sm->state];
    p->reply_code = code;
    free(p->detail);
    p->detail = mf_smtp_printable(text, strlen(text));
    mf_log_info("probe %s: %s in %s: %s", sm->label, mf_outcome_name(o),
                mf_phase_name(p->fail_phase), text);
}

static void send_cmd(mf_smtp *sm, const char *cmd, const char *arg)
{
    mf_code rc = arg ? mf_buf_appendf(&sm->out, "%s %s\r\n", cmd, arg)
                     : mf_buf_appendf(&sm->out, "%s\r\n", cmd);
    if (rc != MF_OK)
        finding(sm, MF_OUT_PROBE_ERROR, 0, "cannot queue %s: %s", cmd, mf_strerror(rc));
}

static void quit(mf_smtp *sm, int64_t now)
{
    send_cmd(sm, "QUIT", NULL);
    set_state(sm, MF_SMTP_QUIT, now);
}

/* The reply as one printable line: "421 too busy / try later". */
static char *reply_text(const mf_smtp_reply *rp)
{
    mf_buf b;
    mf_buf_init(&b, 600);
    if (mf_buf_appendf(&b, "%d", rp->code) != MF_OK)
        return mf_buf_detach(&b, NULL);
    for (size_t i = 0; i < rp->lines.n; i++) {
        const char *t = rp->lines.v[i];
        size_t room = b.max - b.len;
        if (room < 8)
            break;
        size_t n = strlen(t);
        if (n + 3 > room)
            n = room - 3;
        if (mf_buf_append_str(&b, i ? " / " : " ") != MF_OK || mf_buf_append(&b, t, n) != MF_OK)
            break;
    }
    return mf_buf_detach(&b, NULL);
}

static void rejected(mf_smtp *sm, mf_outcome o, const char *what, int64_t now)
{
    char *t = reply_text(&sm->reply);
    /* The detail is the server's answer itself; outcome and phase say where. */
    finding(sm, o, sm->reply.code, "%s", t ? t : what);
    free(t);
    /* 421 means the server is closing the channel; QUIT anyway, the close ends it. */
    quit(sm, now);
}

/* Store the extension lines of an EHLO reply (the first line is the greeting). */
static void take_ehlo(mf_smtp *sm, bool in_tls)
{
    mf_probe *p = sm->p;
    mf_strv *lines = in_tls ? &p->ehlo_tls : &p->ehlo;
    mf_strv *auth = in_tls ? &p->auth : &p->auth_before_tls;
    mf_strv_free(lines);
    mf_strv_free(&p->auth);
    for (size_t i = 1; i < sm->reply.lines.n; i++) {
        const char *l = sm->reply.lines.v[i];
        mf_strv_push(lines, l);
        if (keyword_is(l, "STARTTLS"))
            p->starttls_offered = p->starttls_offered || !in_tls;
        mf_smtp_parse_auth(l, auth);
    }
    /* Without TLS the only EHLO is also the one whose AUTH a client would use. */
    if (!in_tls)
        for (size_t i = 0; i < p->auth_before_tls.n; i++)
            mf_strv_push(&p->auth, p->auth_before_tls.v[i]);
}

static void send_ehlo(mf_smtp *sm, bool helo, int64_t now)
{
    send_cmd(sm, helo ? "HELO" : "EHLO", sm->ehlo_name);
    if (sm->tls_active)
        set_state(sm, helo ? MF_SMTP_HELO_TLS : MF_SMTP_EHLO_TLS, now);
    else
        set_state(sm, helo ? MF_SMTP_HELO : MF_SMTP_EHLO, now);
}

/* After the plain-text EHLO/HELO: STARTTLS as configured. */
static void after_plain_hello(mf_smtp *sm, int64_t now)
{
    bool want = sm->sec == MF_SEC_STARTTLS || sm->sec == MF_SEC_STARTTLS_OPTIONAL ||
                sm->sec == MF_SEC_UNKNOWN;
    if (!want) {
        quit(sm, now);
        return;
    }
    if (!sm->p->starttls_offered) {
        finding(sm, MF_OUT_STARTTLS_NOT_OFFERED, 0,
                "the server does not offer STARTTLS%s",
                sm->state == MF_SMTP_HELO ? " (it refused EHLO, so no extensions at all)" : "");
        quit(sm, now);
        return;
    }
    send_cmd(sm, "STARTTLS", NULL);
    set_state(sm, MF_SMTP_STARTTLS, now);
}

/* One handler per state: each gets the complete reply in sm->reply. */

static void on_banner(mf_smtp *sm, int64_t now)
{
    char *t = reply_text(&sm->reply);
    free(sm->p->banner);
    sm->p->banner = t;
    if (sm->reply.code != 220) {
        rejected(sm, MF_OUT_SMTP_REJECTED, "greeting refused", now);
        return;
    }
    send_ehlo(sm, false, now);
}

static void on_ehlo(mf_smtp *sm, int64_t now)
{
    int c = sm->reply.code;
    if (c == 250) {
        take_ehlo(sm, sm->tls_active);
        if (sm->tls_active)
            quit(sm, now);
        else
            after_plain_hello(sm, now);
    } else if (c >= 500 && c != 554) {
        /* RFC 5321 3.2: a server that does not know EHLO answers 5xx; fall back. */
        send_ehlo(sm, true, now);
    } else {
        rejected(sm, MF_OUT_SMTP_REJECTED, "EHLO refused", now);
    }
}

static void on_helo(mf_smtp *sm, int64_t now)
{
    if (sm->reply.code != 250) {
        rejected(sm, MF_OUT_SMTP_REJECTED, "EHLO and HELO refused", now);
        return;
    }
    if (sm->tls_active)
        quit(sm, now);
    else
        after_plain_hello(sm, now);
}

static void on_starttls(mf_smtp *sm, int64_t now)
{
    if (sm->reply.code != 220) {
        rejected(sm, MF_OUT_STARTTLS_REJECTED, "STARTTLS refused", now);
        return;
    }
    set_state(sm, MF_SMTP_TLS, now);
}

static void on_quit(mf_smtp *sm, int64_t now)
{
    set_state(sm, MF_SMTP_DONE, now);
}

static void on_unexpected(mf_smtp *sm, int64_t now)
{
    finding(sm, MF_OUT_PROTOCOL_ERROR, sm->reply.code, "unexpected reply %d in state %s",
            sm->reply.code, state_names[sm->state]);
    set_state(sm, MF_SMTP_DONE, now);
}

typedef void (*handler_fn)(mf_smtp *sm, int64_t now);
static const handler_fn handlers[MF_SMTP__COUNT] = {
    [MF_SMTP_BANNER] = on_banner,     [MF_SMTP_EHLO] = on_ehlo,
    [MF_SMTP_HELO] = on_helo,         [MF_SMTP_STARTTLS] = on_starttls,
    [MF_SMTP_TLS] = on_unexpected,    [MF_SMTP_EHLO_TLS] = on_ehlo,
    [MF_SMTP_HELO_TLS] = on_helo,     [MF_SMTP_QUIT] = on_quit,
    [MF_SMTP_DONE] = on_unexpected,
};

void mf_smtp_init(mf_smtp *sm, mf_probe *p, mf_security sec, bool implicit_tls,
                  const char *ehlo_name, const char *label, int64_t now)
{
    memset(sm, 0, sizeof(*sm));
    sm->p = p;
    sm->sec = sec;
    sm->implicit_tls = implicit_tls;
    sm->ehlo_name = ehlo_name;
    sm->label = label;
    sm->state = implicit_tls ? MF_SMTP_TLS : MF_SMTP_BANNER;
    sm->state_since = now;
    mf_smtp_reply_init(&sm->reply);
    mf_buf_init(&sm->out, 1024);
    mf_log_debug("probe %s: start in %s", label, state_names[sm->state]);
}

void mf_smtp_free(mf_smtp *sm)
{
    mf_smtp_reply_free(&sm->reply);
    mf_buf_free(&sm->out);
}

void mf_smtp_input(mf_smtp *sm, const char *data, size_t len, int64_t now)
{
    while (len > 0) {
        if (sm->state == MF_SMTP_DONE)
            return;
        if (sm->state == MF_SMTP_TLS) {
            /* Bytes after "220 go ahead" and before the handshake: a server (or a
             * man in the middle) injecting plain text into the TLS session. */
            finding(sm, MF_OUT_PROTOCOL_ERROR, 0,
                    "trailing data: %zu byte(s) before the TLS handshake", len);
            set_state(sm, MF_SMTP_DONE, now);
            return;
        }
        size_t used = 0;
        mf_smtp_parse res = mf_smtp_reply_feed(&sm->reply, data, len, &used);
        data += used;
        len -= used;
        if (res == MF_SMTP_PARSE_MORE)
            return;
        if (res == MF_SMTP_PARSE_ERROR) {
            if (sm->state != MF_SMTP_QUIT)
                finding(sm, MF_OUT_PROTOCOL_ERROR, 0, "%s", sm->reply.error);
            mf_smtp_reply_reset(&sm->reply);
            /* The stream is out of step: say goodbye without waiting for an answer. */
            if (sm->state != MF_SMTP_QUIT && sm->state != MF_SMTP_STARTTLS)
                send_cmd(sm, "QUIT", NULL);
            set_state(sm, MF_SMTP_DONE, now);
            return;
        }
        mf_smtp_state before = sm->state;
        handlers[sm->state](sm, now);
        mf_smtp_reply_reset(&sm->reply);
        if (len > 0 && before != MF_SMTP_QUIT && sm->state != MF_SMTP_DONE &&
            sm->state != MF_SMTP_TLS) {
            /* The probe never pipelines: nothing may follow a reply. */
            finding(sm, MF_OUT_PROTOCOL_ERROR, 0,
                    "trailing data: %zu byte(s) after the %s reply", len, state_names[before]);
            set_state(sm, MF_SMTP_DONE, now);
            return;
        }
    }
}

void mf_smtp_tls_done(mf_smtp *sm, bool ok, mf_outcome cert_outcome, const char *detail,
                      int64_t now)
{
    if (sm->state != MF_SMTP_TLS)
        return;
    if (!ok) {
        finding(sm, MF_OUT_TLS_HANDSHAKE_FAILED, 0, "%s",
                detail ? detail : "the TLS handshake failed");
        set_state(sm, MF_SMTP_DONE, now);
        return;
    }
    sm->tls_active = true;
    /* From here on only what the server offers inside TLS counts as `auth`. */
    mf_strv_free(&sm->p->auth);
    if (cert_outcome != MF_OUT_OK)
        finding(sm, cert_outcome, 0, "%s", detail ? detail : mf_outcome_name(cert_outcome));
    if (sm->implicit_tls && !sm->p->banner)
        set_state(sm, MF_SMTP_BANNER, now);
    else
        send_ehlo(sm, false, now);
}

void mf_smtp_closed(mf_smtp *sm, bool reset, int64_t now)
{
    if (sm->state == MF_SMTP_DONE)
        return;
    if (sm->state != MF_SMTP_QUIT) {
        const char *how = reset ? "reset the connection" : "closed the connection";
        if (sm->reply.bytes > 0)
            finding(sm, MF_OUT_CONNECTION_CLOSED, 0, "the server %s in the middle of a reply",
                    how);
        else
            finding(sm, MF_OUT_CONNECTION_CLOSED, 0, "the server %s while the probe waited "
                    "for its %s reply", how, state_names[sm->state]);
    }
    set_state(sm, MF_SMTP_DONE, now);
}

void mf_smtp_timeout(mf_smtp *sm, int64_t now)
{
    if (sm->state == MF_SMTP_DONE)
        return;
    if (sm->state != MF_SMTP_QUIT) {
        size_t got = sm->reply.bytes; /* the current line included */
        finding(sm, MF_OUT_TIMEOUT, 0, "no complete %s reply in time (%zu byte(s) received)",
                state_names[sm->state], got);
        /* Inside TLS or in the middle of the handshake there is no clean QUIT. */
        if (sm->state != MF_SMTP_TLS)
            send_cmd(sm, "QUIT", NULL);
    }
    set_state(sm, MF_SMTP_DONE, now);
}

void mf_smtp_fail(mf_smtp *sm, mf_outcome o, const char *detail, int64_t now)
{
    if (sm->state == MF_SMTP_DONE)
        return;
    finding(sm, o, 0, "%s", detail ? detail : mf_outcome_name(o));
    set_state(sm, MF_SMTP_DONE, now);
}
