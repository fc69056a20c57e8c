/* probe_smtp.h: the SMTP side of a probe, without any I/O.
 *
 * Two pieces, both fed with bytes by the probe engine (probe.c), so that the unit tests
 * and the fuzz target can drive them with canned byte streams:
 *
 *  - mf_smtp_reply: a strict reply parser (RFC 5321 4.2). It accepts "NNN text",
 *    "NNN-text" continuation lines and a bare "NNN"; anything else is a finding:
 *    invalid reply code, non-printable characters, a line longer than
 *    MF_SMTP_LINE_MAX, a reply of more than MF_SMTP_REPLY_LINES lines or
 *    MF_SMTP_REPLY_BYTES bytes, a continuation line whose code differs.
 *
 *  - mf_smtp: the client state machine. One enum, one name table, one function that
 *    changes state (and logs the transition), one handler per state. It writes the
 *    commands to send into `out` and every finding into the mf_probe it was given.
 *    It sends EHLO (HELO when EHLO is refused), STARTTLS when the configured
 *    security asks for it, EHLO again after TLS, and QUIT. It never authenticates and
 *    never sends MAIL FROM.
 */
#ifndef MF_PROBE_SMTP_H
#define MF_PROBE_SMTP_H

#include "buf.h"
#include "report.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MF_SMTP_LINE_MAX 4096u          /* one reply line, CRLF included */
#define MF_SMTP_REPLY_LINES 100u        /* lines in one reply */
#define MF_SMTP_REPLY_BYTES (64u * 1024u) /* bytes in one reply */

typedef enum mf_smtp_parse {
    MF_SMTP_PARSE_MORE = 0, /* the reply is not complete yet: feed more bytes */
    MF_SMTP_PARSE_REPLY,    /* a whole reply is in code/lines */
    MF_SMTP_PARSE_ERROR,    /* a protocol finding; error names it */
} mf_smtp_parse;

typedef struct mf_smtp_reply {
    int code;       /* the reply code (valid once a line has been parsed) */
    mf_strv lines;  /* the text of each line, without code, separator and CRLF */
    size_t bytes;   /* bytes of the reply so far */
    mf_buf line;    /* the line being read (capped at MF_SMTP_LINE_MAX) */
    char error[160];
} mf_smtp_reply;

/* Ready an empty parser. */
void mf_smtp_reply_init(mf_smtp_reply *rp);
/* Forget the parsed reply (after the caller used it); keeps allocations small. */
void mf_smtp_reply_reset(mf_smtp_reply *rp);
void mf_smtp_reply_free(mf_smtp_reply *rp);

/* Consume bytes from data until a reply is complete, an error is found, or the bytes
 * run out. *consumed_out says how many bytes were used: after MF_SMTP_PARSE_REPLY the
 * rest (len - *consumed_out) belongs to whatever follows the reply. After
 * MF_SMTP_PARSE_ERROR the parser must be reset before further use. A line ends at LF;
 * a CR right before it is dropped (a bare LF is tolerated, a CR anywhere else is a
 * non-printable character). Out of memory is reported as an error ("out of memory"). */
mf_smtp_parse mf_smtp_reply_feed(mf_smtp_reply *rp, const char *data, size_t len,
                                 size_t *consumed_out);

/* States of the client. The engine uses MF_SMTP_TLS to know when to run the TLS
 * handshake, and MF_SMTP_DONE to know when to close. */
typedef enum mf_smtp_state {
    MF_SMTP_BANNER = 0, /* connected, waiting for the greeting */
    MF_SMTP_EHLO,       /* EHLO sent */
    MF_SMTP_HELO,       /* EHLO refused, HELO sent */
    MF_SMTP_STARTTLS,   /* STARTTLS sent */
    MF_SMTP_TLS,        /* the engine runs the TLS handshake (STARTTLS or implicit) */
    MF_SMTP_EHLO_TLS,   /* EHLO sent inside TLS */
    MF_SMTP_HELO_TLS,   /* EHLO refused inside TLS, HELO sent */
    MF_SMTP_QUIT,       /* QUIT sent, waiting for 221 or the close */
    MF_SMTP_DONE,       /* finished: the engine closes the connection */
    MF_SMTP__COUNT
} mf_smtp_state;

typedef struct mf_smtp {
    mf_smtp_state state;
    mf_probe *p;           /* findings go here (not owned) */
    mf_security sec;       /* as configured: decides STARTTLS */
    bool implicit_tls;     /* TLS from the first byte */
    bool tls_active;       /* the session is inside TLS */
    bool finding;          /* p->outcome holds a finding: the first one wins */
    const char *ehlo_name; /* not owned */
    const char *label;     /* "host:port" for logs, not owned */
    int64_t state_since;   /* when the current state began (ms, monotonic) */
    mf_smtp_reply reply;
    mf_buf out;            /* bytes the engine must send */
} mf_smtp;

/* Name of a state ("banner", "ehlo", ...); never NULL. */
const char *mf_smtp_state_name(mf_smtp_state s);
/* The report phase a state's time counts towards. */
mf_phase mf_smtp_state_phase(mf_smtp_state s);

/* Ready a client for probe p. implicit_tls starts in MF_SMTP_TLS (the engine then runs
 * the handshake before the greeting), else in MF_SMTP_BANNER. ehlo_name and label must
 * outlive the client. now is the monotonic time in ms. */
void mf_smtp_init(mf_smtp *sm, mf_probe *p, mf_security sec, bool implicit_tls,
                  const char *ehlo_name, const char *label, int64_t now);
void mf_smtp_free(mf_smtp *sm);

/* Bytes from the server. Parses replies and runs the state handlers; may queue
 * commands in sm->out and move to any state. Bytes left over after a reply (the
 * probe never pipelines) are "trailing data", a protocol finding. */
void mf_smtp_input(mf_smtp *sm, const char *data, size_t len, int64_t now);

/* The engine finished the TLS handshake (state MF_SMTP_TLS). ok false: the handshake
 * failed; outcome (tls-handshake-failed) and detail are recorded and the client is
 * done. ok true: cert_outcome is MF_OUT_OK or a cert-* finding (recorded if it is the
 * first finding), and the session goes on: the greeting for implicit TLS, EHLO after
 * STARTTLS. detail may be NULL. */
void mf_smtp_tls_done(mf_smtp *sm, bool ok, mf_outcome cert_outcome, const char *detail,
                      int64_t now);

/* The server closed the connection (reset true: it reset it). Outside QUIT this is a
 * finding (connection-closed in the current phase). */
void mf_smtp_closed(mf_smtp *sm, bool reset, int64_t now);

/* The current phase's deadline passed: a timeout finding in that phase (in QUIT it is
 * not a finding: the server simply did not say goodbye). */
void mf_smtp_timeout(mf_smtp *sm, int64_t now);

/* Record a finding from outside the state machine (e.g. the tool failed) and finish. */
void mf_smtp_fail(mf_smtp *sm, mf_outcome o, const char *detail, int64_t now);

/* Parse an EHLO keyword line for AUTH mechanisms ("AUTH PLAIN LOGIN" or the old
 * "AUTH=PLAIN LOGIN"), appending each mechanism (upper-cased, without duplicates) to
 * out. Returns false when the line is not an AUTH line. */
bool mf_smtp_parse_auth(const char *line, mf_strv *out);

/* Replace every byte outside printable ASCII with '?' in a copy of s (n bytes). The
 * report's strings come from servers, and JSON needs valid UTF-8. NULL on OOM. */
char *mf_smtp_printable(const char *s, size_t n);

#endif
