/* facts.c: the facts rules are evaluated on (policy.h).
 *
 * The catalogue below is the one list of facts: the parser checks every path a rule
 * names against it (so a typo is an error, not a silent "unknown"), the builders fill
 * in the same paths, and docs/policy-language.md documents them (a unit test keeps the
 * two in step).
 *
 * Knowing versus not knowing. A member set to a value or to null is known; a member
 * left out is unknown, and the object's "_why" member says why. The builders are
 * careful about the difference: a probe that timed out while connecting says nothing
 * about the certificate (unknown), while a plain-text probe that finished is known to
 * have no TLS session (null). A server entry whose sibling source failed to parse may
 * have accounts in that file, so "unused" is unknown there, not true.
 *
 * Per host, each server, source, probe and account object is built once; an entity's
 * facts (mf_facts) point at the objects it needs, so a server and its probe share the
 * probe object with the probe scope. Only the facts the policy reads are built (the
 * mask), unless all are asked for (--dump-facts).
 *
 * The fleet aggregator keeps one small record per distinct server, fed one report at
 * a time, so memory does not grow with the number of hosts.
 */
#include "log.h"
#include "policy.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ catalogue */

enum {
    F_HOST_ID,
    F_HOST_HOSTNAME,
    F_HOST_OS_NAME,
    F_HOST_OS_VERSION,
    F_HOST_AGENT_VERSION,
    F_HOST_COLLECTED_AT,
    F_HOST_REPORT_AGE_DAYS,
    F_HOST_DROPPED_REPORTS,
    F_HOST_SERVERS,
    F_HOST_ACCOUNTS,
    F_HOST_PROBES,
    F_HOST_PROBES_FAILED,
    F_HOST_SOURCES,
    F_HOST_SOURCES_FAILED,
    F_HOST_USERS,
    F_HOST_MAX_SERVERS_PER_USER,

    F_SERVER,
    F_SERVER_ID,
    F_SERVER_NAME,
    F_SERVER_USER,
    F_SERVER_CLIENT,
    F_SERVER_HOSTNAME,
    F_SERVER_HOSTNAME_RAW,
    F_SERVER_PROVIDER,
    F_SERVER_PROVIDER_MANAGED,
    F_SERVER_PORT,
    F_SERVER_SECURITY,
    F_SERVER_AUTH,
    F_SERVER_USERNAME,
    F_SERVER_DESCRIPTION,
    F_SERVER_IDENTIFIER,
    F_SERVER_USED_BY,
    F_SERVER_USED_BY_COUNT,
    F_SERVER_FLAGS,
    F_SERVER_UNUSED,
    F_SERVER_DUPLICATE,

    F_SOURCE,
    F_SOURCE_USER,
    F_SOURCE_CLIENT,
    F_SOURCE_FORMAT,
    F_SOURCE_PATH,
    F_SOURCE_STATUS,
    F_SOURCE_ERROR,

    F_PROBE,
    F_PROBE_HOSTNAME,
    F_PROBE_PORT,
    F_PROBE_SECURITY,
    F_PROBE_OUTCOME,
    F_PROBE_OK,
    F_PROBE_PHASE,
    F_PROBE_DETAIL,
    F_PROBE_REPLY_CODE,
    F_PROBE_ADDRESS,
    F_PROBE_DURATION_MS,
    F_PROBE_BANNER,
    F_PROBE_EHLO,
    F_PROBE_STARTTLS_OFFERED,
    F_PROBE_AUTH_BEFORE_TLS,
    F_PROBE_EHLO_TLS,
    F_PROBE_AUTH,
    F_PROBE_TLS,
    F_PROBE_TLS_VERSION,
    F_PROBE_TLS_CIPHER,
    F_PROBE_TLS_VERIFIED,
    F_PROBE_TLS_VERIFY_ERROR,
    F_PROBE_TLS_HOSTNAME_MATCH,
    F_PROBE_TLS_ALERT,
    F_PROBE_TLS_CERT,
    F_PROBE_TLS_CERT_SUBJECT,
    F_PROBE_TLS_CERT_ISSUER,
    F_PROBE_TLS_CERT_SAN,
    F_PROBE_TLS_CERT_NOT_BEFORE,
    F_PROBE_TLS_CERT_NOT_AFTER,
    F_PROBE_TLS_CERT_DAYS_LEFT,
    F_PROBE_TLS_CERT_SELF_SIGNED,
    F_PROBE_TLS_CERT_SHA256,

    F_ACCOUNT_ID,
    F_ACCOUNT_USER,
    F_ACCOUNT_CLIENT,
    F_ACCOUNT_TYPE,
    F_ACCOUNT_DESCRIPTION,
    F_ACCOUNT_EMAILS,
    F_ACCOUNT_SMTP,
    F_ACCOUNT_SMTP_REF,
    F_ACCOUNT_FLAGS,
    F_ACCOUNT_DANGLING,

    F_FLEET_NAME,
    F_FLEET_HOSTNAME,
    F_FLEET_PORT,
    F_FLEET_PROVIDER,
    F_FLEET_HOSTS,
    F_FLEET_ENTRIES,
    F_FLEET_ACCOUNTS,
    F_FLEET_USED,
    F_FLEET_UNUSED_ENTRIES,
    F_FLEET_HOSTS_PROBED,
    F_FLEET_HOSTS_PROBE_OK,
    F_FLEET_PROBE_OK_SHARE,
    F_FLEET_DNS,
    F_FLEET_TOP_FAILURE,
    F_FLEET_FIRST_SEEN,
    F_FLEET_LAST_SEEN,
    F_FLEET_DAYS_SINCE_FIRST_SEEN,
    F_FLEET_DAYS_SINCE_LAST_SEEN,
    F_FLEET_FAILING_DAYS,
    F__COUNT
};

_Static_assert(F__COUNT <= MF_FACTS_MAX, "grow MF_FACTS_MAX");

#define S MF_FT_STRING
#define I MF_FT_INTEGER
#define N MF_FT_NUMBER
#define B MF_FT_BOOLEAN
#define L MF_FT_STRINGS
#define O MF_FT_OBJECT

static const mf_fact_def catalogue[F__COUNT] = {
    [F_HOST_ID] = {"host.id", S,
                   "The Mac's stable id: serial number, else hardware UUID, else host name."},
    [F_HOST_HOSTNAME] = {"host.hostname", S,
                         "The Mac's host name (null when the report has none)."},
    [F_HOST_OS_NAME] = {"host.os_name", S, "Operating system name, e.g. \"macOS\" (may be null)."},
    [F_HOST_OS_VERSION] = {"host.os_version", S,
                           "Operating system version, e.g. \"14.5\" (may be null)."},
    [F_HOST_AGENT_VERSION] = {"host.agent_version", S,
                              "Version of the agent that wrote the report."},
    [F_HOST_COLLECTED_AT] = {"host.collected_at", S,
                             "When the report was collected (RFC 3339, UTC)."},
    [F_HOST_REPORT_AGE_DAYS] = {"host.report_age_days", I,
                                "Whole days from collected_at to the evaluation date."},
    [F_HOST_DROPPED_REPORTS] = {"host.dropped_reports", I,
                                "Reports the agent's outbox dropped before this one (0 normally)."},
    [F_HOST_SERVERS] = {"host.servers", I, "Server entries in the report."},
    [F_HOST_ACCOUNTS] = {"host.accounts", I, "Accounts in the report."},
    [F_HOST_PROBES] = {"host.probes", I, "Probes in the report."},
    [F_HOST_PROBES_FAILED] = {"host.probes_failed", I,
                              "Probes whose outcome is neither ok nor skipped."},
    [F_HOST_SOURCES] = {"host.sources", I, "Sources (settings files) the agent tried."},
    [F_HOST_SOURCES_FAILED] =
        {"host.sources_failed", I,
         "Sources that exist but could not be read: unreadable, malformed or too-large."},
    [F_HOST_USERS] = {"host.users", L, "Users that have server entries or accounts."},
    [F_HOST_MAX_SERVERS_PER_USER] = {"host.max_servers_per_user", I,
                                     "The most server entries any one user has. Unknown when a "
                                     "source failed (entries may be missing)."},

    [F_SERVER] =
        {"server", O,
         "The server entry (account scope: null when the account names no existing server)."},
    [F_SERVER_ID] = {"server.id", S, "The entry's id in the report, \"s1\"."},
    [F_SERVER_NAME] = {"server.name", S,
                       "\"hostname:port\", \"hostname\" when no port, \"provider:NAME\" for "
                       "provider-managed entries."},
    [F_SERVER_USER] = {"server.user", S,
                       "The home folder's user (\"\" for configuration profiles)."},
    [F_SERVER_CLIENT] = {"server.client", S, "apple-mail, thunderbird, mailmate or profile."},
    [F_SERVER_HOSTNAME] = {"server.hostname", S,
                           "Host name, trimmed and lower case; null when none is stored."},
    [F_SERVER_HOSTNAME_RAW] = {"server.hostname_raw", S,
                               "The host name as stored; null when it needed no cleaning."},
    [F_SERVER_PROVIDER] =
        {"server.provider", S,
         "icloud, google, yahoo, microsoft or exchange when the OS picks the host; else null."},
    [F_SERVER_PROVIDER_MANAGED] = {"server.provider_managed", B,
                                   "True when the OS picks the host from its provider list."},
    [F_SERVER_PORT] = {"server.port", I, "The port (null for provider-managed entries)."},
    [F_SERVER_SECURITY] = {"server.security", S,
                           "none, starttls-optional, starttls or tls. Unknown when the client's "
                           "setting is not understood."},
    [F_SERVER_AUTH] = {"server.auth", S,
                       "none, password, password-encrypted, ntlm, gssapi, oauth2, client-cert, "
                       "apple-token or any. Unknown when not understood."},
    [F_SERVER_USERNAME] = {"server.username", S, "The login name (null when none is stored)."},
    [F_SERVER_DESCRIPTION] = {"server.description", S, "The label the user sees (may be null)."},
    [F_SERVER_IDENTIFIER] = {"server.identifier", S,
                             "The client's own key for the entry (may be null)."},
    [F_SERVER_USED_BY] = {"server.used_by", L, "Ids of the accounts that send through the entry."},
    [F_SERVER_USED_BY_COUNT] = {"server.used_by_count", I,
                                "Number of accounts that send through the entry."},
    [F_SERVER_FLAGS] = {"server.flags", L,
                        "The report's findings on the entry: unused, duplicate, plaintext, "
                        "cleartext-auth, port-25, ..."},
    [F_SERVER_UNUSED] = {"server.unused", B,
                         "No account uses the entry. Unknown when a settings file of the same user "
                         "and client failed to read (its accounts may use it)."},
    [F_SERVER_DUPLICATE] = {"server.duplicate", B,
                            "Another entry has the same client, host, port and user. Unknown when "
                            "a settings file of the same user and client failed."},

    [F_SOURCE] = {"source", O,
                  "The settings file the entry (or account) came from; null when none."},
    [F_SOURCE_USER] = {"source.user", S, "The user whose file it is (\"\" for none)."},
    [F_SOURCE_CLIENT] = {"source.client", S, "The mail client."},
    [F_SOURCE_FORMAT] = {"source.format", S, "The file format, e.g. accounts-plist, prefs-js."},
    [F_SOURCE_PATH] = {"source.path", S, "The file's path on the Mac."},
    [F_SOURCE_STATUS] = {"source.status", S, "ok, missing, unreadable, malformed or too-large."},
    [F_SOURCE_ERROR] = {"source.error", S, "Why reading failed (null when ok)."},

    [F_PROBE] =
        {"probe", O,
         "The probe of the entry's host name, port and security. Unknown when no probe covers the "
         "entry (collected with --no-probe); null when the account has no server."},
    [F_PROBE_HOSTNAME] = {"probe.hostname", S, "The host probed."},
    [F_PROBE_PORT] = {"probe.port", I, "The port probed."},
    [F_PROBE_SECURITY] = {"probe.security", S, "The security the probe used."},
    [F_PROBE_OUTCOME] =
        {"probe.outcome", S,
         "ok, dns-nxdomain, connect-timeout, cert-expired, ... (docs/report-format.md)."},
    [F_PROBE_OK] = {"probe.ok", B, "True when the outcome is ok."},
    [F_PROBE_PHASE] = {"probe.phase", S,
                       "The phase the outcome happened in (null for ok and skipped)."},
    [F_PROBE_DETAIL] = {"probe.detail", S, "The outcome in plain words (may be null)."},
    [F_PROBE_REPLY_CODE] = {"probe.reply_code", I,
                            "The SMTP reply code behind a rejection (null when none)."},
    [F_PROBE_ADDRESS] = {"probe.address", S, "The IP address connected to (may be null)."},
    [F_PROBE_DURATION_MS] = {"probe.duration_ms", I, "How long the probe took."},
    [F_PROBE_BANNER] = {"probe.banner", S,
                        "The server's greeting. Unknown when the probe did not get that far."},
    [F_PROBE_EHLO] = {"probe.ehlo", L,
                      "EHLO extension lines before TLS (null with implicit TLS). Unknown when EHLO "
                      "was not reached."},
    [F_PROBE_STARTTLS_OFFERED] = {"probe.starttls_offered", B,
                                  "Whether the plain-text EHLO offered STARTTLS (null with "
                                  "implicit TLS). Unknown when EHLO was not reached."},
    [F_PROBE_AUTH_BEFORE_TLS] =
        {"probe.auth_before_tls", L,
         "AUTH mechanisms offered before TLS. Unknown when the probe did not get that far."},
    [F_PROBE_EHLO_TLS] =
        {"probe.ehlo_tls", L,
         "EHLO extension lines after TLS (null when no TLS session). Unknown when not reached."},
    [F_PROBE_AUTH] = {"probe.auth", L,
                      "AUTH mechanisms a client would use (after TLS, or of the only EHLO). "
                      "Unknown when not reached."},
    [F_PROBE_TLS] = {"probe.tls", O,
                     "The TLS session: null when there is none (plain text, STARTTLS not offered "
                     "or refused); unknown when the probe failed before TLS."},
    [F_PROBE_TLS_VERSION] = {"probe.tls.version", S,
                             "TLSv1.3, TLSv1.2, ... (null when the handshake failed)."},
    [F_PROBE_TLS_CIPHER] = {"probe.tls.cipher", S, "The cipher suite (OpenSSL name)."},
    [F_PROBE_TLS_VERIFIED] = {"probe.tls.verified", B,
                              "Whether the certificate chain verified against the trust store."},
    [F_PROBE_TLS_VERIFY_ERROR] = {"probe.tls.verify_error", S,
                                  "Why the chain did not verify (null when it did)."},
    [F_PROBE_TLS_HOSTNAME_MATCH] = {"probe.tls.hostname_match", B,
                                    "Whether the certificate is valid for the host name."},
    [F_PROBE_TLS_ALERT] = {"probe.tls.alert", S,
                           "The TLS alert of a failed handshake (null when none)."},
    [F_PROBE_TLS_CERT] = {"probe.tls.cert", O,
                          "The server's leaf certificate (null when none was received)."},
    [F_PROBE_TLS_CERT_SUBJECT] = {"probe.tls.cert.subject", S, "Subject DN."},
    [F_PROBE_TLS_CERT_ISSUER] = {"probe.tls.cert.issuer", S, "Issuer DN."},
    [F_PROBE_TLS_CERT_SAN] = {"probe.tls.cert.san", L, "Subject alternative names."},
    [F_PROBE_TLS_CERT_NOT_BEFORE] = {"probe.tls.cert.not_before", S,
                                     "Start of validity (RFC 3339)."},
    [F_PROBE_TLS_CERT_NOT_AFTER] = {"probe.tls.cert.not_after", S, "End of validity (RFC 3339)."},
    [F_PROBE_TLS_CERT_DAYS_LEFT] = {"probe.tls.cert.days_left", I,
                                    "Days from the probe to not_after (negative when expired)."},
    [F_PROBE_TLS_CERT_SELF_SIGNED] = {"probe.tls.cert.self_signed", B,
                                      "Whether the certificate is self-signed."},
    [F_PROBE_TLS_CERT_SHA256] = {"probe.tls.cert.sha256", S, "SHA-256 fingerprint, hex."},

    [F_ACCOUNT_ID] = {"account.id", S, "The account's id in the report, \"a1\"."},
    [F_ACCOUNT_USER] = {"account.user", S, "The home folder's user."},
    [F_ACCOUNT_CLIENT] = {"account.client", S, "The mail client."},
    [F_ACCOUNT_TYPE] =
        {"account.type", S,
         "imap, pop, icloud, exchange, google, yahoo, microsoft, other (may be null)."},
    [F_ACCOUNT_DESCRIPTION] = {"account.description", S, "The account's label (may be null)."},
    [F_ACCOUNT_EMAILS] = {"account.emails", L, "The account's addresses."},
    [F_ACCOUNT_SMTP] = {"account.smtp", S,
                        "Id of the server entry it sends through (null when none or dangling)."},
    [F_ACCOUNT_SMTP_REF] = {"account.smtp_ref", S,
                            "The reference as the client stores it (may be null)."},
    [F_ACCOUNT_FLAGS] = {"account.flags", L, "The report's findings on the account (dangling)."},
    [F_ACCOUNT_DANGLING] =
        {"account.dangling", B,
         "The account names a server entry that does not exist. Unknown when a settings file of "
         "the same user and client failed (the entry may be there)."},

    [F_FLEET_NAME] = {"fleet_server.name", S, "\"hostname:port\", or \"provider:NAME\"."},
    [F_FLEET_HOSTNAME] = {"fleet_server.hostname", S,
                          "Host name (null for provider-managed entries)."},
    [F_FLEET_PORT] = {"fleet_server.port", I, "Port (null when none)."},
    [F_FLEET_PROVIDER] = {"fleet_server.provider", S,
                          "Provider for provider-managed entries, else null."},
    [F_FLEET_HOSTS] = {"fleet_server.hosts", I, "Macs whose latest report has an entry for it."},
    [F_FLEET_ENTRIES] = {"fleet_server.entries", I,
                         "Entries for it in latest reports (a Mac may have several)."},
    [F_FLEET_ACCOUNTS] = {"fleet_server.accounts", I,
                          "Accounts that send through it, in latest reports."},
    [F_FLEET_USED] = {"fleet_server.used", B,
                      "Whether any account anywhere uses it. Unknown when none does but some Mac's "
                      "settings file failed to read."},
    [F_FLEET_UNUSED_ENTRIES] = {"fleet_server.unused_entries", I,
                                "Entries for it that no account uses."},
    [F_FLEET_HOSTS_PROBED] =
        {"fleet_server.hosts_probed", I,
         "Macs whose latest report probed it (skipped and probe-error not counted)."},
    [F_FLEET_HOSTS_PROBE_OK] = {"fleet_server.hosts_probe_ok", I,
                                "Macs whose latest probe of it succeeded."},
    [F_FLEET_PROBE_OK_SHARE] =
        {"fleet_server.probe_ok_share", N,
         "hosts_probe_ok / hosts_probed, 0 to 1. Unknown when no Mac probed it."},
    [F_FLEET_DNS] = {"fleet_server.dns", S,
                     "\"ok\" when any Mac resolved it, else \"nxdomain\" when a lookup said it "
                     "does not exist. Unknown otherwise (not probed, temporary DNS errors)."},
    [F_FLEET_TOP_FAILURE] = {"fleet_server.top_failure", S,
                             "The most frequent failing probe outcome (null when none failed)."},
    [F_FLEET_FIRST_SEEN] = {"fleet_server.first_seen", S,
                            "Earliest collected_at of a report naming it (RFC 3339)."},
    [F_FLEET_LAST_SEEN] = {"fleet_server.last_seen", S,
                           "Latest collected_at of a report naming it (RFC 3339)."},
    [F_FLEET_DAYS_SINCE_FIRST_SEEN] = {"fleet_server.days_since_first_seen", I,
                                       "Whole days from first_seen to the evaluation date."},
    [F_FLEET_DAYS_SINCE_LAST_SEEN] = {"fleet_server.days_since_last_seen", I,
                                      "Whole days from last_seen to the evaluation date."},
    [F_FLEET_FAILING_DAYS] =
        {"fleet_server.failing_days", I,
         "0 when some Mac's latest probe of it succeeded; else whole days since any probe of it "
         "last succeeded (or since it was first probed). Unknown when no Mac probed it."},
};

#undef S
#undef I
#undef N
#undef B
#undef L
#undef O

static const char *const root_names[MF_ROOT__COUNT] = {"host",  "server",  "source",
                                                       "probe", "account", "fleet_server"};

const mf_fact_def *mf_facts_catalogue(size_t *n)
{
    *n = F__COUNT;
    return catalogue;
}

int mf_facts_lookup(const char *path)
{
    for (int i = 0; path && i < F__COUNT; i++)
        if (strcmp(catalogue[i].path, path) == 0)
            return i;
    return -1;
}

bool mf_fact_root_parse(const char *word, size_t len, mf_fact_root *out)
{
    for (int i = 0; i < MF_ROOT__COUNT; i++)
        if (strlen(root_names[i]) == len && strncmp(root_names[i], word, len) == 0) {
            *out = (mf_fact_root)i;
            return true;
        }
    return false;
}

const char *mf_fact_root_name(mf_fact_root r)
{
    return (unsigned)r < MF_ROOT__COUNT ? root_names[r] : "?";
}

bool mf_facts_scope_has_root(mf_scope scope, mf_fact_root r)
{
    switch (scope) {
    case MF_SCOPE_SERVER:
        return r == MF_ROOT_HOST || r == MF_ROOT_SERVER || r == MF_ROOT_SOURCE ||
               r == MF_ROOT_PROBE;
    case MF_SCOPE_ACCOUNT:
        return r == MF_ROOT_HOST || r == MF_ROOT_ACCOUNT || r == MF_ROOT_SERVER ||
               r == MF_ROOT_SOURCE || r == MF_ROOT_PROBE;
    case MF_SCOPE_PROBE:
        return r == MF_ROOT_HOST || r == MF_ROOT_PROBE;
    case MF_SCOPE_HOST:
        return r == MF_ROOT_HOST;
    case MF_SCOPE_FLEET_SERVER:
        return r == MF_ROOT_FLEET_SERVER;
    default:
        return false;
    }
}

const char *mf_fact_type_name(mf_fact_type t)
{
    switch (t) {
    case MF_FT_STRING:
        return "a string";
    case MF_FT_INTEGER:
        return "an integer";
    case MF_FT_NUMBER:
        return "a number";
    case MF_FT_BOOLEAN:
        return "a boolean";
    case MF_FT_STRINGS:
        return "a list of strings";
    case MF_FT_OBJECT:
        return "an object";
    }
    return "?";
}

void mf_fact_mask_set(mf_fact_mask *m, int idx)
{
    if (idx >= 0 && idx < MF_FACTS_MAX)
        m->w[idx / 64] |= (uint64_t)1 << (idx % 64);
}

void mf_fact_mask_all(mf_fact_mask *m)
{
    memset(m, 0xff, sizeof(*m));
}

bool mf_fact_mask_has(const mf_fact_mask *m, int idx)
{
    return idx >= 0 && idx < MF_FACTS_MAX && (m->w[idx / 64] >> (idx % 64)) & 1;
}

/* ------------------------------------------------------------------ building helpers */

typedef struct bctx {
    const mf_fact_mask *mask; /* NULL: everything */
    int64_t as_of;
    bool failed; /* out of memory somewhere */
} bctx;

static bool want(const bctx *b, int f)
{
    return !b->mask || mf_fact_mask_has(b->mask, f);
}

/* Any fact in [lo, hi] wanted? (for building an intermediate object) */
static bool want_range(const bctx *b, int lo, int hi)
{
    for (int f = lo; f <= hi; f++)
        if (want(b, f))
            return true;
    return false;
}

/* The member name of fact f: the last segment of its path. */
static const char *key_of(int f)
{
    const char *dot = strrchr(catalogue[f].path, '.');
    return dot ? dot + 1 : catalogue[f].path;
}

static void put(bctx *b, json_t *o, int f, json_t *v)
{
    if (!v || json_object_set_new_nocheck(o, key_of(f), v) != 0)
        b->failed = true;
}

static void put_str(bctx *b, json_t *o, int f, const char *s)
{
    if (want(b, f))
        put(b, o, f, s ? json_string(s) : json_null());
}

static void put_int(bctx *b, json_t *o, int f, long long v)
{
    if (want(b, f))
        put(b, o, f, json_integer((json_int_t)v));
}

static void put_bool(bctx *b, json_t *o, int f, bool v)
{
    if (want(b, f))
        put(b, o, f, json_boolean(v));
}

static json_t *strv_json(const mf_strv *sv)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < sv->n; i++)
        if (json_array_append_new(a, json_string(sv->v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static void put_strv(bctx *b, json_t *o, int f, const mf_strv *sv)
{
    if (want(b, f))
        put(b, o, f, strv_json(sv));
}

static json_t *flags_json(unsigned flags)
{
    json_t *a = json_array();
    for (unsigned bit = 1; a && bit && bit <= MF_FLAG__LAST; bit <<= 1) {
        const char *name = (flags & bit) ? mf_flag_name(bit) : NULL;
        if (name && json_array_append_new(a, json_string(name)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Collect "why unknown" reasons of one object into its _why member. */
typedef struct why {
    char text[600];
    size_t len;
} why;

static void why_add(why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why_add(why *w, const char *fmt, ...)
{
    if (w->len >= sizeof(w->text) - 1)
        return;
    if (w->len) {
        int n = snprintf(w->text + w->len, sizeof(w->text) - w->len, "; ");
        if (n > 0)
            w->len += (size_t)n;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->text + w->len, sizeof(w->text) - w->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->len += (size_t)n;
    if (w->len >= sizeof(w->text))
        w->len = sizeof(w->text) - 1;
}

static void why_put(bctx *b, json_t *o, const why *w)
{
    if (w->len && json_object_set_new_nocheck(o, "_why", json_string(w->text)) != 0)
        b->failed = true;
}

static long long days_between(int64_t from, int64_t to)
{
    int64_t d = to - from;
    /* floor division, so a report from one second in the future is -1 days old */
    return (long long)(d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
}

static bool source_failed(const mf_source *s)
{
    return s->status == MF_SRC_UNREADABLE || s->status == MF_SRC_MALFORMED ||
           s->status == MF_SRC_TOO_LARGE;
}

/* A source of the same user and client that failed, or NULL: entries and accounts of
 * that file may be missing from the report. The entry's own file counts too: a file the
 * agent could only partly parse may have lost the account that uses the entry. */
static const mf_source *sibling_failed(const mf_report *r, int idx, const char *user,
                                       const char *client)
{
    (void)idx;
    for (size_t i = 0; i < r->nsources; i++) {
        const mf_source *s = &r->sources[i];
        if (!source_failed(s))
            continue;
        if (mf_streq(s->client, client) && mf_streq(s->user ? s->user : "", user ? user : ""))
            return s;
    }
    return NULL;
}

/* ------------------------------------------------------------------ probes */

/* The position of a phase in the session: with implicit TLS the handshake comes right
 * after connecting, before the greeting. */
static int phase_order(mf_security sec, mf_phase ph)
{
    if (sec != MF_SEC_TLS)
        return (int)ph;
    switch (ph) {
    case MF_PHASE_DNS:
        return 0;
    case MF_PHASE_CONNECT:
        return 1;
    case MF_PHASE_TLS:
        return 2;
    case MF_PHASE_BANNER:
        return 3;
    case MF_PHASE_EHLO:
    case MF_PHASE_STARTTLS:
    case MF_PHASE_EHLO_TLS:
        return 4;
    default:
        return 5;
    }
}

static bool is_cert_outcome(mf_outcome o)
{
    return o == MF_OUT_CERT_UNTRUSTED || o == MF_OUT_CERT_SELF_SIGNED || o == MF_OUT_CERT_EXPIRED ||
           o == MF_OUT_CERT_NOT_YET_VALID || o == MF_OUT_CERT_HOSTNAME_MISMATCH;
}

/* Whether phase ph of probe p completed, so that what it learns is known. */
static bool phase_done(const mf_probe *p, mf_phase ph)
{
    if (p->outcome == MF_OUT_OK)
        return true;
    if (p->outcome == MF_OUT_SKIPPED || p->outcome == MF_OUT_PROBE_ERROR)
        return false;
    int at = phase_order(p->security, p->fail_phase), want_at = phase_order(p->security, ph);
    if (want_at < at)
        return true;
    if (want_at == at) {
        /* Findings that complete the phase they are found in. */
        if (p->outcome == MF_OUT_STARTTLS_NOT_OFFERED && ph == MF_PHASE_EHLO)
            return true;
        if (is_cert_outcome(p->outcome) && ph == MF_PHASE_TLS)
            return true;
        return false;
    }
    /* After a certificate finding the probe carries on; the later phases completed when
     * the probe reached QUIT. */
    return is_cert_outcome(p->outcome) && p->phase_ms[MF_PHASE_QUIT] >= 0;
}

static json_t *tls_json(bctx *b, const mf_tls *t)
{
    json_t *o = json_object();
    if (!o) {
        b->failed = true;
        return NULL;
    }
    put_str(b, o, F_PROBE_TLS_VERSION, t->version);
    put_str(b, o, F_PROBE_TLS_CIPHER, t->cipher);
    put_bool(b, o, F_PROBE_TLS_VERIFIED, t->verified);
    put_str(b, o, F_PROBE_TLS_VERIFY_ERROR, t->verify_error);
    put_bool(b, o, F_PROBE_TLS_HOSTNAME_MATCH, t->hostname_match);
    put_str(b, o, F_PROBE_TLS_ALERT, t->alert);
    if (want_range(b, F_PROBE_TLS_CERT, F_PROBE_TLS_CERT_SHA256)) {
        if (!t->has_cert) {
            put(b, o, F_PROBE_TLS_CERT, json_null());
        } else {
            json_t *c = json_object();
            if (!c) {
                b->failed = true;
                return o;
            }
            put_str(b, c, F_PROBE_TLS_CERT_SUBJECT, t->cert.subject);
            put_str(b, c, F_PROBE_TLS_CERT_ISSUER, t->cert.issuer);
            put_strv(b, c, F_PROBE_TLS_CERT_SAN, &t->cert.san);
            put_str(b, c, F_PROBE_TLS_CERT_NOT_BEFORE, t->cert.not_before);
            put_str(b, c, F_PROBE_TLS_CERT_NOT_AFTER, t->cert.not_after);
            put_int(b, c, F_PROBE_TLS_CERT_DAYS_LEFT, t->cert.days_left);
            put_bool(b, c, F_PROBE_TLS_CERT_SELF_SIGNED, t->cert.self_signed);
            put_str(b, c, F_PROBE_TLS_CERT_SHA256, t->cert.sha256);
            put(b, o, F_PROBE_TLS_CERT, c);
        }
    }
    return o;
}

static void probe_endpoint(const mf_probe *p, char *out, size_t outsz)
{
    if (p->hostname)
        snprintf(out, outsz, "%s:%d", p->hostname, p->port);
    else
        snprintf(out, outsz, "(no host name)");
}

static json_t *probe_json(bctx *b, const mf_probe *p)
{
    json_t *o = json_object();
    if (!o) {
        b->failed = true;
        return NULL;
    }
    why w = {.len = 0};
    char ep[300];
    probe_endpoint(p, ep, sizeof(ep));
    bool failed = p->outcome != MF_OUT_OK && p->outcome != MF_OUT_SKIPPED;
    put_str(b, o, F_PROBE_HOSTNAME, p->hostname);
    put_int(b, o, F_PROBE_PORT, p->port);
    put_str(b, o, F_PROBE_SECURITY, mf_security_name(p->security));
    put_str(b, o, F_PROBE_OUTCOME, mf_outcome_name(p->outcome));
    put_bool(b, o, F_PROBE_OK, p->outcome == MF_OUT_OK);
    put_str(b, o, F_PROBE_PHASE, failed ? mf_phase_name(p->fail_phase) : NULL);
    put_str(b, o, F_PROBE_DETAIL, p->detail);
    if (want(b, F_PROBE_REPLY_CODE))
        put(b, o, F_PROBE_REPLY_CODE,
            p->reply_code > 0 ? json_integer(p->reply_code) : json_null());
    put_str(b, o, F_PROBE_ADDRESS, p->address);
    put_int(b, o, F_PROBE_DURATION_MS, p->duration_ms);

    if (p->outcome == MF_OUT_SKIPPED) {
        why_add(&w, "the probe of %s was skipped: %s", ep,
                p->detail ? p->detail : "nothing to probe");
        why_put(b, o, &w);
        return o;
    }
    if (p->outcome == MF_OUT_PROBE_ERROR) {
        why_add(&w, "the agent could not probe %s (probe-error): %s", ep,
                p->detail ? p->detail : "no detail");
        why_put(b, o, &w);
        return o;
    }
    bool implicit = p->security == MF_SEC_TLS;
    bool plain = p->security == MF_SEC_NONE;
    bool no_tls_finding =
        p->outcome == MF_OUT_STARTTLS_NOT_OFFERED || p->outcome == MF_OUT_STARTTLS_REJECTED;
    bool partial = false;

    if (phase_done(p, MF_PHASE_BANNER))
        put_str(b, o, F_PROBE_BANNER, p->banner);
    else
        partial = true;

    if (implicit) {
        put_str(b, o, F_PROBE_EHLO, NULL); /* null: no plain-text EHLO exists */
        if (want(b, F_PROBE_STARTTLS_OFFERED))
            put(b, o, F_PROBE_STARTTLS_OFFERED, json_null());
        if (phase_done(p, MF_PHASE_TLS))
            put_strv(b, o, F_PROBE_AUTH_BEFORE_TLS, &p->auth_before_tls);
        else
            partial = true;
    } else if (phase_done(p, MF_PHASE_EHLO)) {
        put_strv(b, o, F_PROBE_EHLO, &p->ehlo);
        put_bool(b, o, F_PROBE_STARTTLS_OFFERED, p->starttls_offered);
        put_strv(b, o, F_PROBE_AUTH_BEFORE_TLS, &p->auth_before_tls);
    } else {
        partial = true;
    }

    /* The TLS session. */
    bool tls_known = false, tls_null = false;
    if (plain) {
        tls_known = tls_null = true;
    } else if (no_tls_finding && phase_done(p, MF_PHASE_EHLO)) {
        tls_known = tls_null = true;
    } else if (phase_done(p, MF_PHASE_TLS) || p->outcome == MF_OUT_TLS_HANDSHAKE_FAILED) {
        tls_known = true;
        tls_null = !p->has_tls;
    }
    if (tls_known) {
        if (want_range(b, F_PROBE_TLS, F_PROBE_TLS_CERT_SHA256))
            put(b, o, F_PROBE_TLS, tls_null ? json_null() : tls_json(b, &p->tls));
    } else {
        partial = true;
    }

    /* After TLS: the EHLO there and the AUTH mechanisms a client would use. */
    if (tls_known && tls_null) {
        if (want(b, F_PROBE_EHLO_TLS))
            put(b, o, F_PROBE_EHLO_TLS, json_null());
        if ((plain || no_tls_finding) && phase_done(p, MF_PHASE_EHLO))
            put_strv(b, o, F_PROBE_AUTH, &p->auth);
        else
            partial = true;
    } else if (phase_done(p, MF_PHASE_EHLO_TLS)) {
        put_strv(b, o, F_PROBE_EHLO_TLS, &p->ehlo_tls);
        put_strv(b, o, F_PROBE_AUTH, &p->auth);
    } else {
        partial = true;
    }
    if (partial)
        why_add(&w, "the probe of %s ended with %s in the %s phase%s%s", ep,
                mf_outcome_name(p->outcome), mf_phase_name(p->fail_phase), p->detail ? ": " : "",
                p->detail ? p->detail : "");
    why_put(b, o, &w);
    return o;
}

/* ------------------------------------------------------------------ other objects */

static json_t *source_json(bctx *b, const mf_source *s)
{
    json_t *o = json_object();
    if (!o) {
        b->failed = true;
        return NULL;
    }
    put_str(b, o, F_SOURCE_USER, s->user ? s->user : "");
    put_str(b, o, F_SOURCE_CLIENT, s->client);
    put_str(b, o, F_SOURCE_FORMAT, s->format);
    put_str(b, o, F_SOURCE_PATH, s->path);
    put_str(b, o, F_SOURCE_STATUS, mf_source_status_name(s->status));
    put_str(b, o, F_SOURCE_ERROR, s->error);
    return o;
}

static void server_name(const mf_server *s, char *out, size_t outsz)
{
    if (s->hostname && s->port > 0)
        snprintf(out, outsz, "%s:%d", s->hostname, s->port);
    else if (s->hostname)
        snprintf(out, outsz, "%s", s->hostname);
    else if (s->provider)
        snprintf(out, outsz, "provider:%s", s->provider);
    else
        out[0] = '\0';
}

static json_t *server_json(bctx *b, const mf_report *r, const mf_server *s)
{
    json_t *o = json_object();
    if (!o) {
        b->failed = true;
        return NULL;
    }
    why w = {.len = 0};
    char name[300];
    server_name(s, name, sizeof(name));
    put_str(b, o, F_SERVER_ID, s->id);
    put_str(b, o, F_SERVER_NAME, name[0] ? name : NULL);
    put_str(b, o, F_SERVER_USER, s->user ? s->user : "");
    put_str(b, o, F_SERVER_CLIENT, s->client);
    put_str(b, o, F_SERVER_HOSTNAME, s->hostname);
    put_str(b, o, F_SERVER_HOSTNAME_RAW, s->hostname_raw);
    put_str(b, o, F_SERVER_PROVIDER, s->provider);
    put_bool(b, o, F_SERVER_PROVIDER_MANAGED, s->provider != NULL);
    if (want(b, F_SERVER_PORT))
        put(b, o, F_SERVER_PORT, s->port > 0 ? json_integer(s->port) : json_null());
    if (s->security != MF_SEC_UNKNOWN)
        put_str(b, o, F_SERVER_SECURITY, mf_security_name(s->security));
    else
        why_add(&w, "the client's security setting is not known");
    if (s->auth != MF_AUTH_UNKNOWN)
        put_str(b, o, F_SERVER_AUTH, mf_auth_name(s->auth));
    else
        why_add(&w, "the client's authentication setting is not known");
    put_str(b, o, F_SERVER_USERNAME, s->username);
    put_str(b, o, F_SERVER_DESCRIPTION, s->description);
    put_str(b, o, F_SERVER_IDENTIFIER, s->identifier);
    put_strv(b, o, F_SERVER_USED_BY, &s->used_by);
    put_int(b, o, F_SERVER_USED_BY_COUNT, (long long)s->used_by.n);
    if (want(b, F_SERVER_FLAGS))
        put(b, o, F_SERVER_FLAGS, flags_json(s->flags));
    const mf_source *sib = sibling_failed(r, s->source, s->user, s->client);
    bool unused = s->flags & MF_FLAG_UNUSED, dup = s->flags & MF_FLAG_DUPLICATE;
    if (unused && sib)
        why_add(&w, "whether an account uses it is unknown: %s is %s", sib->path,
                mf_source_status_name(sib->status));
    else
        put_bool(b, o, F_SERVER_UNUSED, unused);
    if (!dup && sib)
        why_add(&w, "whether it is a duplicate is unknown: %s is %s", sib->path,
                mf_source_status_name(sib->status));
    else
        put_bool(b, o, F_SERVER_DUPLICATE, dup);
    why_put(b, o, &w);
    return o;
}

static json_t *account_json(bctx *b, const mf_report *r, const mf_account *a)
{
    json_t *o = json_object();
    if (!o) {
        b->failed = true;
        return NULL;
    }
    why w = {.len = 0};
    put_str(b, o, F_ACCOUNT_ID, a->id);
    put_str(b, o, F_ACCOUNT_USER, a->user ? a->user : "");
    put_str(b, o, F_ACCOUNT_CLIENT, a->client);
    put_str(b, o, F_ACCOUNT_TYPE, a->type);
    put_str(b, o, F_ACCOUNT_DESCRIPTION, a->description);
    put_strv(b, o, F_ACCOUNT_EMAILS, &a->emails);
    put_str(b, o, F_ACCOUNT_SMTP, a->smtp);
    put_str(b, o, F_ACCOUNT_SMTP_REF, a->smtp_ref);
    if (want(b, F_ACCOUNT_FLAGS))
        put(b, o, F_ACCOUNT_FLAGS, flags_json(a->flags & MF_FLAG_DANGLING));
    bool dangling = a->flags & MF_FLAG_DANGLING;
    const mf_source *sib = dangling ? sibling_failed(r, a->source, a->user, a->client) : NULL;
    if (sib)
        why_add(&w, "whether its server exists is unknown: %s is %s", sib->path,
                mf_source_status_name(sib->status));
    else
        put_bool(b, o, F_ACCOUNT_DANGLING, dangling);
    why_put(b, o, &w);
    return o;
}

static json_t *host_json(bctx *b, const mf_report *r)
{
    json_t *o = json_object();
    if (!o) {
        b->failed = true;
        return NULL;
    }
    why w = {.len = 0};
    put_str(b, o, F_HOST_ID, r->host.id);
    put_str(b, o, F_HOST_HOSTNAME, r->host.hostname);
    put_str(b, o, F_HOST_OS_NAME, r->host.os_name);
    put_str(b, o, F_HOST_OS_VERSION, r->host.os_version);
    put_str(b, o, F_HOST_AGENT_VERSION, r->agent_version);
    put_str(b, o, F_HOST_COLLECTED_AT, r->collected_at);
    int64_t t = 0;
    if (want(b, F_HOST_REPORT_AGE_DAYS) && mf_time_parse_rfc3339(r->collected_at, &t) == MF_OK)
        put_int(b, o, F_HOST_REPORT_AGE_DAYS, days_between(t, b->as_of));
    put_int(b, o, F_HOST_DROPPED_REPORTS, r->dropped_reports);
    put_int(b, o, F_HOST_SERVERS, (long long)r->nservers);
    put_int(b, o, F_HOST_ACCOUNTS, (long long)r->naccounts);
    put_int(b, o, F_HOST_PROBES, (long long)r->nprobes);
    long long pf = 0, sf = 0;
    for (size_t i = 0; i < r->nprobes; i++)
        pf += r->probes[i].outcome != MF_OUT_OK && r->probes[i].outcome != MF_OUT_SKIPPED;
    const mf_source *bad = NULL;
    for (size_t i = 0; i < r->nsources; i++)
        if (source_failed(&r->sources[i])) {
            sf++;
            bad = bad ? bad : &r->sources[i];
        }
    put_int(b, o, F_HOST_PROBES_FAILED, pf);
    put_int(b, o, F_HOST_SOURCES, (long long)r->nsources);
    put_int(b, o, F_HOST_SOURCES_FAILED, sf);
    if (want(b, F_HOST_USERS) || want(b, F_HOST_MAX_SERVERS_PER_USER)) {
        mf_strv users = {0};
        size_t *count = calloc(r->nservers + r->naccounts + 1, sizeof(size_t));
        size_t most = 0;
        if (!count) {
            b->failed = true;
            return o;
        }
        for (size_t i = 0; i < r->nservers + r->naccounts; i++) {
            const char *u =
                i < r->nservers ? r->servers[i].user : r->accounts[i - r->nservers].user;
            u = u ? u : "";
            size_t k = 0;
            while (k < users.n && strcmp(users.v[k], u) != 0)
                k++;
            if (k == users.n && mf_strv_push(&users, u) != MF_OK) {
                b->failed = true;
                break;
            }
            if (i < r->nservers && ++count[k] > most)
                most = count[k];
        }
        put_strv(b, o, F_HOST_USERS, &users);
        if (bad)
            why_add(&w, "server entries may be missing: %s is %s", bad->path,
                    mf_source_status_name(bad->status));
        else
            put_int(b, o, F_HOST_MAX_SERVERS_PER_USER, (long long)most);
        mf_strv_free(&users);
        free(count);
    }
    why_put(b, o, &w);
    return o;
}

/* ------------------------------------------------------------------ host facts */

struct mf_host_facts {
    const mf_report *r;
    json_t *host;
    json_t **servers, **sources, **probes, **accounts;
    int *server_probe; /* probe index per server, -1 when none */
    char **server_label, **server_name, **server_host;
    char **account_label;
    char **probe_label, **probe_name;
    char *host_label;
};

void mf_host_facts_free(mf_host_facts *hf)
{
    if (!hf)
        return;
    const mf_report *r = hf->r;
    json_decref(hf->host);
    for (size_t i = 0; i < r->nservers; i++) {
        if (hf->servers)
            json_decref(hf->servers[i]);
        if (hf->server_label)
            free(hf->server_label[i]);
        if (hf->server_name)
            free(hf->server_name[i]);
        if (hf->server_host)
            free(hf->server_host[i]);
    }
    for (size_t i = 0; hf->sources && i < r->nsources; i++)
        json_decref(hf->sources[i]);
    for (size_t i = 0; i < r->nprobes; i++) {
        if (hf->probes)
            json_decref(hf->probes[i]);
        if (hf->probe_label)
            free(hf->probe_label[i]);
        if (hf->probe_name)
            free(hf->probe_name[i]);
    }
    for (size_t i = 0; i < r->naccounts; i++) {
        if (hf->accounts)
            json_decref(hf->accounts[i]);
        if (hf->account_label)
            free(hf->account_label[i]);
    }
    free(hf->servers);
    free(hf->sources);
    free(hf->probes);
    free(hf->accounts);
    free(hf->server_probe);
    free(hf->server_label);
    free(hf->server_name);
    free(hf->server_host);
    free(hf->account_label);
    free(hf->probe_label);
    free(hf->probe_name);
    free(hf->host_label);
    free(hf);
}

static void *zalloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

/* The n strings (NULL counts as "") one after the other, in one new allocation. Labels
 * are made for every entity of every report: mf_asprintf's two formatting passes were
 * 3 % of a fleet run's instructions. NULL on OOM. */
static char *concat(size_t n, const char *const *parts)
{
    size_t len[8], total = 1;
    if (n > 8)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        len[i] = parts[i] ? strlen(parts[i]) : 0;
        total += len[i];
    }
    char *out = malloc(total), *p = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, parts[i] ? parts[i] : "", len[i]);
        p += len[i];
    }
    *p = '\0';
    return out;
}

#define CONCAT(...)                                                                                \
    concat(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *),                           \
           (const char *const[]){__VA_ARGS__})

mf_code mf_host_facts_build(mf_host_facts **out, const mf_report *r, const mf_fact_mask *mask,
                            int64_t as_of, mf_error *err)
{
    *out = NULL;
    bctx b = {.mask = mask, .as_of = as_of};
    mf_host_facts *hf = calloc(1, sizeof(*hf));
    if (!hf)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    hf->r = r;
    hf->servers = zalloc(r->nservers, sizeof(json_t *));
    hf->server_probe = zalloc(r->nservers, sizeof(int));
    hf->server_label = zalloc(r->nservers, sizeof(char *));
    hf->server_name = zalloc(r->nservers, sizeof(char *));
    hf->server_host = zalloc(r->nservers, sizeof(char *));
    hf->sources = zalloc(r->nsources, sizeof(json_t *));
    hf->probes = zalloc(r->nprobes, sizeof(json_t *));
    hf->probe_label = zalloc(r->nprobes, sizeof(char *));
    hf->probe_name = zalloc(r->nprobes, sizeof(char *));
    hf->accounts = zalloc(r->naccounts, sizeof(json_t *));
    hf->account_label = zalloc(r->naccounts, sizeof(char *));
    if (!hf->servers || !hf->server_probe || !hf->server_label || !hf->server_name ||
        !hf->server_host || !hf->sources || !hf->probes || !hf->probe_label || !hf->probe_name ||
        !hf->accounts || !hf->account_label) {
        mf_host_facts_free(hf);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    hf->host = host_json(&b, r);
    hf->host_label =
        r->host.hostname ? CONCAT(r->host.id, " (", r->host.hostname, ")") : mf_strdup(r->host.id);
    b.failed |= !hf->host_label;
    for (size_t i = 0; i < r->nsources; i++)
        hf->sources[i] = source_json(&b, &r->sources[i]);
    for (size_t i = 0; i < r->nprobes; i++) {
        const mf_probe *p = &r->probes[i];
        hf->probes[i] = probe_json(&b, p);
        char ep[300];
        probe_endpoint(p, ep, sizeof(ep));
        hf->probe_name[i] = mf_strdup(ep);
        hf->probe_label[i] = CONCAT(ep, " ", mf_security_name(p->security));
        b.failed |= !hf->probe_name[i] || !hf->probe_label[i];
    }
    for (size_t i = 0; i < r->nservers; i++) {
        const mf_server *s = &r->servers[i];
        hf->servers[i] = server_json(&b, r, s);
        char name[300];
        server_name(s, name, sizeof(name));
        hf->server_name[i] = name[0] ? mf_strdup(name) : NULL;
        hf->server_host[i] = s->hostname   ? mf_strdup(s->hostname)
                             : s->provider ? CONCAT("provider:", s->provider)
                                           : NULL;
        hf->server_label[i] =
            CONCAT(s->id, " ", name[0] ? name : "(no host name)", " (",
                   s->user && s->user[0] ? s->user : "-", ", ", s->client ? s->client : "-", ")");
        b.failed |= !hf->server_label[i] || (name[0] && !hf->server_name[i]);
        hf->server_probe[i] = -1;
        for (size_t k = 0; k < r->nprobes && hf->server_probe[i] < 0; k++)
            if (mf_strv_contains(&r->probes[k].servers, s->id))
                hf->server_probe[i] = (int)k;
    }
    for (size_t i = 0; i < r->naccounts; i++) {
        const mf_account *a = &r->accounts[i];
        hf->accounts[i] = account_json(&b, r, a);
        const char *what = a->emails.n ? a->emails.v[0] : a->description;
        hf->account_label[i] =
            CONCAT(a->id, " ", what ? what : "", " (", a->user && a->user[0] ? a->user : "-", ", ",
                   a->client ? a->client : "-", ")");
        b.failed |= !hf->account_label[i];
    }
    if (b.failed) {
        mf_host_facts_free(hf);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory building facts");
    }
    *out = hf;
    return MF_OK;
}

size_t mf_host_facts_count(const mf_host_facts *hf, mf_scope scope)
{
    switch (scope) {
    case MF_SCOPE_SERVER:
        return hf->r->nservers;
    case MF_SCOPE_ACCOUNT:
        return hf->r->naccounts;
    case MF_SCOPE_PROBE:
        return hf->r->nprobes;
    case MF_SCOPE_HOST:
        return 1;
    default:
        return 0;
    }
}

const char *mf_host_facts_host_id(const mf_host_facts *hf)
{
    return hf->r->host.id;
}

const char *mf_host_facts_hostname(const mf_host_facts *hf)
{
    return hf->r->host.hostname;
}

static const char NO_PROBE_WHY[] =
    "no probe covers this server entry (the report was collected without probing)";

/* Fill the server, source and probe roots of a server entry. */
static void server_roots(const mf_host_facts *hf, int si, mf_facts *out)
{
    const mf_report *r = hf->r;
    const mf_server *s = &r->servers[si];
    out->root[MF_ROOT_SERVER] = hf->servers[si];
    out->root[MF_ROOT_SOURCE] =
        s->source >= 0 && (size_t)s->source < r->nsources ? hf->sources[s->source] : json_null();
    int pi = hf->server_probe[si];
    if (pi >= 0) {
        out->root[MF_ROOT_PROBE] = hf->probes[pi];
    } else {
        out->root[MF_ROOT_PROBE] = NULL;
        out->why[MF_ROOT_PROBE] = NO_PROBE_WHY;
    }
}

void mf_host_facts_get(const mf_host_facts *hf, mf_scope scope, size_t i, mf_facts *out,
                       mf_entity *ent)
{
    const mf_report *r = hf->r;
    memset(out, 0, sizeof(*out));
    memset(ent, 0, sizeof(*ent));
    out->root[MF_ROOT_HOST] = hf->host;
    switch (scope) {
    case MF_SCOPE_SERVER:
        server_roots(hf, (int)i, out);
        ent->label = hf->server_label[i];
        ent->server = hf->server_name[i];
        ent->server_host = hf->server_host[i];
        break;
    case MF_SCOPE_ACCOUNT: {
        const mf_account *a = &r->accounts[i];
        out->root[MF_ROOT_ACCOUNT] = hf->accounts[i];
        int si = a->smtp ? mf_report_server_index(r, a->smtp) : -1;
        if (si >= 0) {
            server_roots(hf, si, out);
            ent->server = hf->server_name[si];
            ent->server_host = hf->server_host[si];
        } else {
            out->root[MF_ROOT_SERVER] = json_null();
            out->root[MF_ROOT_PROBE] = json_null();
        }
        /* The account's own source, not its server's. */
        out->root[MF_ROOT_SOURCE] = a->source >= 0 && (size_t)a->source < r->nsources
                                        ? hf->sources[a->source]
                                        : json_null();
        ent->label = hf->account_label[i];
        break;
    }
    case MF_SCOPE_PROBE:
        out->root[MF_ROOT_PROBE] = hf->probes[i];
        ent->label = hf->probe_label[i];
        ent->server = r->probes[i].hostname ? hf->probe_name[i] : NULL;
        ent->server_host = r->probes[i].hostname;
        break;
    case MF_SCOPE_HOST:
    default:
        ent->label = hf->host_label;
        break;
    }
}

/* ------------------------------------------------------------------ fleet */

typedef struct fserver {
    char *hostname; /* NULL for provider-managed */
    int port;       /* 0 when none */
    char *provider;
    char *name;
    char *host_part; /* hostname or provider:NAME, for waiver matching */
    uint64_t hash;
    /* current state, from latest reports */
    bool in_latest;
    long long hosts, entries, accounts, unused_entries;
    bool used_unknown;
    long long hosts_probed, hosts_probe_ok, dns_ok, dns_nx;
    long long fails[MF_OUT__COUNT];
    /* per report being added (serial says which) */
    uint64_t serial;
    bool cur_probed, cur_ok, cur_dns_ok, cur_dns_nx;
    /* history */
    int64_t first_seen, last_seen, last_ok, first_probed;
    bool seen, has_ok, probed;
} fserver;

struct mf_fleet {
    fserver **slots; /* open addressing */
    size_t cap, n, max;
    size_t dropped;
    uint64_t serial;
    fserver **sorted; /* in_latest servers, sorted; rebuilt when dirty */
    size_t nsorted;
    bool dirty;
};

mf_code mf_fleet_new(mf_fleet **out, size_t max_servers)
{
    *out = NULL;
    mf_fleet *f = calloc(1, sizeof(*f));
    if (!f)
        return MF_ERR_NOMEM;
    f->cap = 1024;
    f->slots = calloc(f->cap, sizeof(fserver *));
    if (!f->slots) {
        free(f);
        return MF_ERR_NOMEM;
    }
    f->max = max_servers ? max_servers : 1000000;
    *out = f;
    return MF_OK;
}

void mf_fleet_free(mf_fleet *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->cap; i++) {
        fserver *s = f->slots[i];
        if (!s)
            continue;
        free(s->hostname);
        free(s->provider);
        free(s->name);
        free(s->host_part);
        free(s);
    }
    free(f->slots);
    free(f->sorted);
    free(f);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t key_hash(const char *hostname, int port, const char *provider)
{
    uint64_t h = 1469598103934665603ULL;
    h = fnv(h, hostname ? hostname : "", hostname ? strlen(hostname) + 1 : 1);
    h = fnv(h, &port, sizeof(port));
    h = fnv(h, provider ? provider : "", provider ? strlen(provider) + 1 : 1);
    return h;
}

static bool key_eq(const fserver *s, const char *hostname, int port, const char *provider)
{
    return s->port == port && mf_streq(s->hostname, hostname) && mf_streq(s->provider, provider);
}

static mf_code fleet_grow(mf_fleet *f)
{
    size_t ncap = f->cap * 2;
    fserver **ns = calloc(ncap, sizeof(fserver *));
    if (!ns)
        return MF_ERR_NOMEM;
    for (size_t i = 0; i < f->cap; i++) {
        fserver *s = f->slots[i];
        if (!s)
            continue;
        size_t j = (size_t)(s->hash & (ncap - 1));
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = s;
    }
    free(f->slots);
    f->slots = ns;
    f->cap = ncap;
    return MF_OK;
}

/* Find (or, with create, add) the record of a server. *out is NULL when the cap was
 * reached (and counted) or, without create, when it is not there. */
static mf_code fleet_get(mf_fleet *f, const char *hostname, int port, const char *provider,
                         bool create, fserver **out)
{
    *out = NULL;
    if (port < 0)
        port = 0;
    uint64_t h = key_hash(hostname, port, provider);
    size_t j = (size_t)(h & (f->cap - 1));
    while (f->slots[j]) {
        fserver *s = f->slots[j];
        if (s->hash == h && key_eq(s, hostname, port, provider)) {
            *out = s;
            return MF_OK;
        }
        j = (j + 1) & (f->cap - 1);
    }
    if (!create)
        return MF_OK;
    if (f->n >= f->max) {
        f->dropped++;
        return MF_OK;
    }
    if ((f->n + 1) * 2 > f->cap) {
        if (fleet_grow(f) != MF_OK)
            return MF_ERR_NOMEM;
        return fleet_get(f, hostname, port, provider, create, out);
    }
    fserver *s = calloc(1, sizeof(*s));
    if (!s)
        return MF_ERR_NOMEM;
    s->hash = h;
    s->port = port;
    s->hostname = hostname ? mf_strdup(hostname) : NULL;
    s->provider = provider ? mf_strdup(provider) : NULL;
    if (hostname && port > 0)
        s->name = mf_asprintf("%s:%d", hostname, port);
    else if (hostname)
        s->name = mf_strdup(hostname);
    else if (provider)
        s->name = mf_asprintf("provider:%s", provider);
    else
        s->name = mf_strdup("(no host name)");
    s->host_part = hostname   ? mf_strdup(hostname)
                   : provider ? mf_asprintf("provider:%s", provider)
                              : mf_strdup("");
    if ((hostname && !s->hostname) || (provider && !s->provider) || !s->name || !s->host_part) {
        free(s->hostname);
        free(s->provider);
        free(s->name);
        free(s->host_part);
        free(s);
        return MF_ERR_NOMEM;
    }
    f->slots[j] = s;
    f->n++;
    f->dirty = true;
    *out = s;
    return MF_OK;
}

static void seen_at(fserver *s, int64_t first, int64_t last)
{
    if (!s->seen || first < s->first_seen)
        s->first_seen = first;
    if (!s->seen || last > s->last_seen)
        s->last_seen = last;
    s->seen = true;
}

/* Probe outcomes that say nothing about the server (the tool failed, or there was
 * nothing to probe). */
static bool probe_counts(const mf_probe *p)
{
    return p->outcome != MF_OUT_SKIPPED && p->outcome != MF_OUT_PROBE_ERROR;
}

mf_code mf_fleet_add_history(mf_fleet *f, const mf_report *r, mf_error *err)
{
    int64_t t;
    if (mf_time_parse_rfc3339(r->collected_at, &t) != MF_OK)
        return mf_error_set(err, MF_ERR_INVALID, "collected_at is not a time");
    for (size_t i = 0; i < r->nservers; i++) {
        const mf_server *x = &r->servers[i];
        fserver *s;
        if (fleet_get(f, x->hostname, x->port, x->provider, true, &s) != MF_OK)
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        if (s)
            seen_at(s, t, t);
    }
    for (size_t i = 0; i < r->nprobes; i++) {
        const mf_probe *p = &r->probes[i];
        if (!p->hostname || !probe_counts(p))
            continue;
        fserver *s;
        if (fleet_get(f, p->hostname, p->port, NULL, false, &s) != MF_OK)
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        if (!s)
            continue;
        if (!s->probed || t < s->first_probed)
            s->first_probed = t;
        s->probed = true;
        if (p->outcome == MF_OUT_OK && (!s->has_ok || t > s->last_ok)) {
            s->last_ok = t;
            s->has_ok = true;
        }
    }
    return MF_OK;
}

mf_code mf_fleet_add_latest(mf_fleet *f, const mf_report *r, mf_error *err)
{
    uint64_t serial = ++f->serial;
    for (size_t i = 0; i < r->nservers; i++) {
        const mf_server *x = &r->servers[i];
        fserver *s;
        if (fleet_get(f, x->hostname, x->port, x->provider, true, &s) != MF_OK)
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        if (!s)
            continue;
        if (!s->in_latest)
            f->dirty = true;
        s->in_latest = true;
        if (s->serial != serial) {
            s->serial = serial;
            s->hosts++;
            s->cur_probed = s->cur_ok = s->cur_dns_ok = s->cur_dns_nx = false;
        }
        s->entries++;
        s->accounts += (long long)x->used_by.n;
        if (x->used_by.n == 0) {
            s->unused_entries++;
            if (sibling_failed(r, x->source, x->user, x->client))
                s->used_unknown = true;
        }
    }
    for (size_t i = 0; i < r->nprobes; i++) {
        const mf_probe *p = &r->probes[i];
        if (!p->hostname || !probe_counts(p))
            continue;
        fserver *s;
        if (fleet_get(f, p->hostname, p->port, NULL, false, &s) != MF_OK)
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        if (!s || s->serial != serial)
            continue; /* a probe of a server this report has no entry for */
        if (!s->cur_probed) {
            s->cur_probed = true;
            s->hosts_probed++;
        }
        if (p->outcome == MF_OUT_OK) {
            if (!s->cur_ok) {
                s->cur_ok = true;
                s->hosts_probe_ok++;
            }
        } else {
            s->fails[p->outcome]++;
        }
        bool nx = p->outcome == MF_OUT_DNS_NXDOMAIN;
        bool resolved = !nx && p->outcome != MF_OUT_DNS_ERROR;
        if (resolved && !s->cur_dns_ok) {
            s->cur_dns_ok = true;
            s->dns_ok++;
        }
        if (nx && !s->cur_dns_nx) {
            s->cur_dns_nx = true;
            s->dns_nx++;
        }
    }
    return MF_OK;
}

mf_code mf_fleet_add_seen(mf_fleet *f, const char *hostname, int port, const char *provider,
                          int64_t first_seen, int64_t last_seen, int64_t last_ok, mf_error *err)
{
    fserver *s;
    if (fleet_get(f, hostname, port, provider, false, &s) != MF_OK)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    if (!s || !s->in_latest)
        return MF_OK;
    seen_at(s, first_seen, last_seen);
    if (last_ok > 0 && (!s->has_ok || last_ok > s->last_ok)) {
        s->last_ok = last_ok;
        s->has_ok = true;
    }
    return MF_OK;
}

mf_code mf_fleet_add_probes(mf_fleet *f, const char *hostname, int port, int64_t first_probed,
                            int64_t last_ok, mf_error *err)
{
    fserver *s;
    if (fleet_get(f, hostname, port, NULL, false, &s) != MF_OK)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    if (!s || !s->in_latest)
        return MF_OK;
    if (first_probed > 0 && (!s->probed || first_probed < s->first_probed)) {
        s->first_probed = first_probed;
        s->probed = true;
    }
    if (last_ok > 0 && (!s->has_ok || last_ok > s->last_ok)) {
        s->last_ok = last_ok;
        s->has_ok = true;
    }
    return MF_OK;
}

void mf_fleet_history_needs(const mf_fact_mask *mask, bool *seen, bool *probes)
{
    bctx b = {.mask = mask};
    /* The inventory (mf_fleet_add_seen) feeds first_seen / last_seen only; its last_ok
     * argument is 0 from the store. The probe history feeds first_probed and last_ok,
     * which only failing_days reads. */
    *seen = want_range(&b, F_FLEET_FIRST_SEEN, F_FLEET_DAYS_SINCE_LAST_SEEN);
    *probes = want(&b, F_FLEET_FAILING_DAYS);
}

mf_code mf_fleet_merge(mf_fleet *dst, const mf_fleet *src, mf_error *err)
{
    dst->dropped += src->dropped;
    for (size_t i = 0; i < src->cap; i++) {
        const fserver *s = src->slots[i];
        if (!s)
            continue;
        fserver *d;
        if (fleet_get(dst, s->hostname, s->port, s->provider, true, &d) != MF_OK)
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        if (!d)
            continue; /* over the cap: counted in dropped */
        if (s->in_latest && !d->in_latest)
            dst->dirty = true;
        d->in_latest |= s->in_latest;
        d->hosts += s->hosts;
        d->entries += s->entries;
        d->accounts += s->accounts;
        d->unused_entries += s->unused_entries;
        d->used_unknown |= s->used_unknown;
        d->hosts_probed += s->hosts_probed;
        d->hosts_probe_ok += s->hosts_probe_ok;
        d->dns_ok += s->dns_ok;
        d->dns_nx += s->dns_nx;
        for (int k = 0; k < MF_OUT__COUNT; k++)
            d->fails[k] += s->fails[k];
        if (s->seen)
            seen_at(d, s->first_seen, s->last_seen);
        if (s->probed && (!d->probed || s->first_probed < d->first_probed)) {
            d->first_probed = s->first_probed;
            d->probed = true;
        }
        if (s->has_ok && (!d->has_ok || s->last_ok > d->last_ok)) {
            d->last_ok = s->last_ok;
            d->has_ok = true;
        }
    }
    return MF_OK;
}

static int cmp_fserver(const void *a, const void *b)
{
    const fserver *x = *(fserver *const *)a, *y = *(fserver *const *)b;
    /* Host names first (alphabetically), then provider-managed entries. */
    if (!x->hostname != !y->hostname)
        return x->hostname ? -1 : 1;
    int c = strcmp(x->hostname ? x->hostname : "", y->hostname ? y->hostname : "");
    if (c)
        return c;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    return strcmp(x->provider ? x->provider : "", y->provider ? y->provider : "");
}

size_t mf_fleet_count(mf_fleet *f)
{
    if (!f->dirty)
        return f->nsorted;
    free(f->sorted);
    f->sorted = calloc(f->n ? f->n : 1, sizeof(fserver *));
    f->nsorted = 0;
    if (!f->sorted)
        return 0;
    for (size_t i = 0; i < f->cap; i++)
        if (f->slots[i] && f->slots[i]->in_latest)
            f->sorted[f->nsorted++] = f->slots[i];
    qsort(f->sorted, f->nsorted, sizeof(fserver *), cmp_fserver);
    f->dirty = false;
    return f->nsorted;
}

size_t mf_fleet_dropped(const mf_fleet *f)
{
    return f->dropped;
}

static void put_time(bctx *b, json_t *o, int f, bool have, int64_t t)
{
    if (!want(b, f))
        return;
    if (!have) {
        put(b, o, f, json_null());
        return;
    }
    char buf[32];
    mf_time_format_rfc3339(t, buf, sizeof(buf));
    put(b, o, f, json_string(buf));
}

mf_code mf_fleet_facts(mf_fleet *f, size_t i, const mf_fact_mask *mask, int64_t as_of, json_t **out,
                       mf_entity *ent, mf_error *err)
{
    *out = NULL;
    memset(ent, 0, sizeof(*ent));
    if (i >= mf_fleet_count(f))
        return mf_error_set(err, MF_ERR_INTERNAL, "fleet server %zu out of range", i);
    const fserver *s = f->sorted[i];
    bctx b = {.mask = mask, .as_of = as_of};
    json_t *o = json_object();
    if (!o)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    why w = {.len = 0};
    put_str(&b, o, F_FLEET_NAME, s->name);
    put_str(&b, o, F_FLEET_HOSTNAME, s->hostname);
    if (want(&b, F_FLEET_PORT))
        put(&b, o, F_FLEET_PORT, s->port > 0 ? json_integer(s->port) : json_null());
    put_str(&b, o, F_FLEET_PROVIDER, s->provider);
    put_int(&b, o, F_FLEET_HOSTS, s->hosts);
    put_int(&b, o, F_FLEET_ENTRIES, s->entries);
    put_int(&b, o, F_FLEET_ACCOUNTS, s->accounts);
    if (s->accounts > 0 || !s->used_unknown)
        put_bool(&b, o, F_FLEET_USED, s->accounts > 0);
    else
        why_add(&w, "no account uses it, but on some Mac a settings file that may hold "
                    "accounts could not be read");
    put_int(&b, o, F_FLEET_UNUSED_ENTRIES, s->unused_entries);
    put_int(&b, o, F_FLEET_HOSTS_PROBED, s->hosts_probed);
    put_int(&b, o, F_FLEET_HOSTS_PROBE_OK, s->hosts_probe_ok);
    bool provider = s->hostname == NULL;
    if (s->hosts_probed > 0) {
        if (want(&b, F_FLEET_PROBE_OK_SHARE))
            put(&b, o, F_FLEET_PROBE_OK_SHARE,
                json_real((double)s->hosts_probe_ok / (double)s->hosts_probed));
    } else {
        why_add(&w, provider ? "the OS picks this server, so it is never probed"
                             : "no Mac probed it (reports collected without probing, or "
                               "every probe was skipped or failed in the agent)");
    }
    if (s->dns_ok > 0)
        put_str(&b, o, F_FLEET_DNS, "ok");
    else if (s->dns_nx > 0)
        put_str(&b, o, F_FLEET_DNS, "nxdomain");
    else if (s->hosts_probed > 0)
        why_add(&w, "DNS lookups of it failed with temporary errors only");
    long long most = 0;
    int top = -1;
    for (int k = 0; k < MF_OUT__COUNT; k++)
        if (s->fails[k] > most) {
            most = s->fails[k];
            top = k;
        }
    put_str(&b, o, F_FLEET_TOP_FAILURE, top >= 0 ? mf_outcome_name((mf_outcome)top) : NULL);
    put_time(&b, o, F_FLEET_FIRST_SEEN, s->seen, s->first_seen);
    put_time(&b, o, F_FLEET_LAST_SEEN, s->seen, s->last_seen);
    if (s->seen) {
        put_int(&b, o, F_FLEET_DAYS_SINCE_FIRST_SEEN, days_between(s->first_seen, as_of));
        put_int(&b, o, F_FLEET_DAYS_SINCE_LAST_SEEN, days_between(s->last_seen, as_of));
    }
    if (s->hosts_probed > 0) {
        long long days = 0;
        if (s->hosts_probe_ok == 0) {
            int64_t since = s->has_ok ? s->last_ok : s->probed ? s->first_probed : as_of;
            days = days_between(since, as_of);
            if (days < 0)
                days = 0;
        }
        put_int(&b, o, F_FLEET_FAILING_DAYS, days);
    }
    why_put(&b, o, &w);
    if (b.failed) {
        json_decref(o);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    ent->label = s->name;
    ent->server = s->name;
    ent->server_host = s->host_part;
    *out = o;
    return MF_OK;
}
