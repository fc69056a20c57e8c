/* report.h: the report document mailfleet.report.v1 as C data.
 *
 * One mf_report per Mac per run. The agent builds it (mf_report_add_*), the JSON codec
 * (report_json.h) encodes it and decodes it strictly. Every string member is owned by
 * the report and freed by mf_report_free(); NULL means "absent" (JSON null or the
 * member left out, as the format says for that field).
 *
 * Enumerations are C enums with a name table each: mf_security_name() gives the JSON
 * word, mf_security_parse() the reverse. A new value is only ever appended.
 */
#ifndef MF_REPORT_H
#define MF_REPORT_H

#include "error.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>

#define MF_REPORT_SCHEMA "mailfleet.report.v1"

typedef enum mf_security {
    MF_SEC_UNKNOWN = 0,
    MF_SEC_NONE,
    MF_SEC_STARTTLS_OPTIONAL,
    MF_SEC_STARTTLS,
    MF_SEC_TLS,
    MF_SEC__COUNT
} mf_security;

typedef enum mf_auth {
    MF_AUTH_UNKNOWN = 0,
    MF_AUTH_NONE,
    MF_AUTH_PASSWORD,
    MF_AUTH_PASSWORD_ENCRYPTED,
    MF_AUTH_NTLM,
    MF_AUTH_GSSAPI,
    MF_AUTH_OAUTH2,
    MF_AUTH_CLIENT_CERT,
    MF_AUTH_APPLE_TOKEN,
    MF_AUTH_ANY,
    MF_AUTH__COUNT
} mf_auth;

typedef enum mf_source_status {
    MF_SRC_OK = 0,
    MF_SRC_MISSING,
    MF_SRC_UNREADABLE,
    MF_SRC_MALFORMED,
    MF_SRC_TOO_LARGE,
    MF_SRC__COUNT
} mf_source_status;

/* Findings on a server entry (bit flags; the JSON form is an array of names). */
enum {
    MF_FLAG_UNUSED = 1u << 0,              /* no account uses it */
    MF_FLAG_DUPLICATE = 1u << 1,           /* same client, host, port, user as another */
    MF_FLAG_HOSTNAME_WHITESPACE = 1u << 2, /* raw host name had white space */
    MF_FLAG_PLAINTEXT = 1u << 3,           /* security none */
    MF_FLAG_CLEARTEXT_AUTH = 1u << 4,      /* password auth without TLS */
    MF_FLAG_PORT_25 = 1u << 5,             /* port 25 for submission */
    MF_FLAG_DANGLING = 1u << 6,            /* accounts only: names a server that does not exist */
    MF_FLAG_HOSTNAME_CASE = 1u << 7,       /* raw host name had upper-case letters */
    MF_FLAG_PROVIDER_MANAGED = 1u << 8,    /* host chosen by the OS from a provider list */
    MF_FLAG_STARTTLS_OPTIONAL = 1u << 9,   /* STARTTLS only if offered: downgradeable */
    MF_FLAG_NO_HOSTNAME = 1u << 10,        /* no host name stored and no provider either */
    MF_FLAG_DEFAULT_PORT = 1u << 11,       /* no port stored: protocol default applied */
    MF_FLAG__LAST = MF_FLAG_DEFAULT_PORT
};

typedef struct mf_source {
    char *user;
    char *client; /* apple-mail, thunderbird, mailmate, profile */
    char *format; /* accounts-plist, mail-prefs-plist, accounts-sqlite, prefs-js, ... */
    char *path;
    mf_source_status status;
    char *error; /* NULL when status is ok */
} mf_source;

typedef struct mf_server {
    char *id; /* "s1", "s2", ... unique in the report */
    char *user;
    char *client;
    int source;     /* index into sources, -1 if none */
    char *hostname; /* trimmed, lower-cased; NULL when provider-managed */
    char *hostname_raw; /* as stored, only when it differs from hostname */
    char *provider; /* icloud, google, yahoo, microsoft, exchange; NULL otherwise */
    int port;       /* 0 when unknown */
    mf_security security;
    mf_auth auth;
    char *username;
    char *description;
    char *identifier; /* the client's own id for the entry (uniqueId, server key, UUID) */
    mf_strv used_by;  /* account ids */
    unsigned flags;
} mf_server;

typedef struct mf_account {
    char *id; /* "a1", ... */
    char *user;
    char *client;
    int source;
    char *type; /* imap, pop, icloud, exchange, google, yahoo, microsoft, other */
    char *description;
    mf_strv emails;
    char *smtp;     /* server id, NULL when none/dangling */
    char *smtp_ref; /* the raw reference as stored */
    unsigned flags;
} mf_account;

typedef enum mf_outcome {
    MF_OUT_OK = 0,
    MF_OUT_DNS_NXDOMAIN,
    MF_OUT_DNS_ERROR,
    MF_OUT_CONNECT_REFUSED,
    MF_OUT_CONNECT_TIMEOUT,
    MF_OUT_NETWORK_UNREACHABLE,
    MF_OUT_TIMEOUT,
    MF_OUT_SMTP_REJECTED,
    MF_OUT_PROTOCOL_ERROR,
    MF_OUT_STARTTLS_NOT_OFFERED,
    MF_OUT_STARTTLS_REJECTED,
    MF_OUT_TLS_HANDSHAKE_FAILED,
    MF_OUT_CERT_UNTRUSTED,
    MF_OUT_CERT_SELF_SIGNED,
    MF_OUT_CERT_EXPIRED,
    MF_OUT_CERT_NOT_YET_VALID,
    MF_OUT_CERT_HOSTNAME_MISMATCH,
    MF_OUT_CONNECTION_CLOSED,
    MF_OUT_PROBE_ERROR, /* the tool failed (out of fds, ...), not the server */
    MF_OUT_SKIPPED,     /* nothing to probe (provider-managed, no host name) */
    MF_OUT__COUNT
} mf_outcome;

/* Phases of a probe, in order; timings are in milliseconds, -1 when not reached. */
typedef enum mf_phase {
    MF_PHASE_DNS = 0,
    MF_PHASE_CONNECT,
    MF_PHASE_BANNER,
    MF_PHASE_EHLO,
    MF_PHASE_STARTTLS,
    MF_PHASE_TLS,
    MF_PHASE_EHLO_TLS,
    MF_PHASE_QUIT,
    MF_PHASE__COUNT
} mf_phase;

typedef struct mf_cert {
    char *subject;
    char *issuer;
    mf_strv san;
    char *not_before; /* RFC 3339 */
    char *not_after;
    long long days_left;
    bool self_signed;
    char *sha256; /* fingerprint, hex */
} mf_cert;

typedef struct mf_tls {
    char *version;
    char *cipher;
    bool verified;
    char *verify_error; /* NULL when verified */
    bool hostname_match;
    char *alert; /* handshake alert text, if any */
    bool has_cert;
    mf_cert cert;
} mf_tls;

typedef struct mf_probe {
    char *hostname;
    int port;
    mf_security security;
    mf_strv servers; /* server ids */
    mf_outcome outcome;
    char *detail;        /* human text about the outcome */
    mf_phase fail_phase; /* phase the outcome happened in (timeouts name it) */
    int reply_code;      /* for smtp-rejected / starttls-rejected, else 0 */
    char *address;       /* address that answered, if any */
    long long duration_ms;
    long long phase_ms[MF_PHASE__COUNT];
    char *banner;
    mf_strv ehlo;     /* extension lines before TLS */
    mf_strv ehlo_tls; /* after TLS */
    bool starttls_offered;
    mf_strv auth_before_tls;
    mf_strv auth; /* mechanisms after TLS (or the only EHLO when no TLS) */
    bool has_tls;
    mf_tls tls;
} mf_probe;

typedef struct mf_host {
    char *id;
    char *hostname;
    char *os_name;
    char *os_version;
} mf_host;

typedef struct mf_report {
    char report_id[37];
    char collected_at[32];
    char *agent_version;
    mf_host host;
    long long dropped_reports; /* outbox: reports dropped before this one; 0 normally */
    mf_source *sources;
    size_t nsources, capsources;
    mf_server *servers;
    size_t nservers, capservers;
    mf_account *accounts;
    size_t naccounts, capaccounts;
    mf_probe *probes;
    size_t nprobes, capprobes;
} mf_report;

/* A new empty report with a fresh report_id and collected_at = now. NULL on OOM. */
mf_report *mf_report_new(void);
/* Free everything; NULL is allowed. */
void mf_report_free(mf_report *r);

/* Append a source and return its index in *index_out. Strings are copied. The status is
 * ok until mf_report_source_fail() says otherwise. */
mf_code mf_report_add_source(mf_report *r, const char *user, const char *client,
                             const char *format, const char *path, int *index_out);
/* Mark source idx as failed with status and message (copied). */
void mf_report_source_fail(mf_report *r, int idx, mf_source_status status, const char *msg);

/* Append a server, zero-initialised except id ("sN"), source and port 0; returns a
 * pointer that stays valid until the next add (the array may move). */
mf_server *mf_report_add_server(mf_report *r, int source);
/* Append an account, zero-initialised except id ("aN") and source. */
mf_account *mf_report_add_account(mf_report *r, int source);
mf_probe *mf_report_add_probe(mf_report *r);

/* Set a server's host name from the raw stored value: trims and lower-cases it, keeps
 * the raw value and sets hostname-whitespace / hostname-case flags when it differs.
 * An empty (or all-space) raw value leaves hostname NULL. */
mf_code mf_server_set_hostname(mf_server *s, const char *raw);

mf_server *mf_report_find_server(const mf_report *r, const char *id);
int mf_report_server_index(const mf_report *r, const char *id);

/* Derive the findings: used_by lists, and the flags unused, duplicate, plaintext,
 * cleartext-auth, port-25, starttls-optional, dangling (on accounts). Idempotent: it
 * clears the derived flags first. */
void mf_report_compute_findings(mf_report *r);

/* Name tables. *_name never returns NULL; *_parse returns false for unknown words. */
const char *mf_security_name(mf_security s);
bool mf_security_parse(const char *s, mf_security *out);
const char *mf_auth_name(mf_auth a);
bool mf_auth_parse(const char *s, mf_auth *out);
const char *mf_source_status_name(mf_source_status s);
bool mf_source_status_parse(const char *s, mf_source_status *out);
const char *mf_outcome_name(mf_outcome o);
bool mf_outcome_parse(const char *s, mf_outcome *out);
const char *mf_phase_name(mf_phase p);
bool mf_phase_parse(const char *s, mf_phase *out);
/* Flag bit <-> name ("hostname-whitespace"). mf_flag_name returns NULL for a bit that
 * is not a known flag. */
const char *mf_flag_name(unsigned bit);
bool mf_flag_parse(const char *s, unsigned *bit_out);

/* The protocol default port for a security mode: 465 for tls, 587 otherwise. */
int mf_default_port(mf_security sec);

/* True when the probe outcome is a certificate problem, a TLS problem, etc. */
bool mf_outcome_is_cert(mf_outcome o);

#endif
