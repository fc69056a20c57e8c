/* source_plist.h: the plist-based sources' parsers, working on bytes in memory so that
 * tests and fuzz targets can drive them without files. The scan() functions of
 * source.h read the files and call these.
 *
 * Common contract of the *_parse functions: r already holds the source record
 * source_index (mf_report_add_source). Servers and accounts read from the bytes are
 * appended with that source. Problems with the bytes (not a plist, wrong types, too
 * many entries) are recorded on that source record (status and a message that starts
 * with the record's path) and also returned in err: MF_ERR_PARSE (malformed) or
 * MF_ERR_UNSUPPORTED (unreadable: an encrypted profile). Whatever could be read is
 * still added. MF_ERR_NOMEM means out of memory, and the report may then hold a
 * partly filled entry (free it; do not encode it). Secrets never enter the report.
 */
#ifndef MF_SOURCE_PLIST_H
#define MF_SOURCE_PLIST_H

#include "plist_util.h"
#include "report.h"

#include <stdbool.h>
#include <stddef.h>

/* Entries read from one array of one file; more are reported as a problem. */
#define MF_PLIST_MAX_ENTRIES 256
/* E-mail addresses kept per account. */
#define MF_PLIST_MAX_EMAILS 32

/* Apple Mail's Accounts.plist (or an old com.apple.mail.plist holding the same
 * arrays): DeliveryAccounts become servers, MailAccounts accounts, linked within the
 * file by SMTPIdentifier. See docs/sources.md for every mapping. */
mf_code mf_accounts_plist_parse(mf_report *r, int source_index, const char *data, size_t len,
                                mf_error *err);
/* The same from an already parsed plist (borrowed). */
mf_code mf_accounts_plist_build(mf_report *r, int source_index, plist_t root, mf_error *err);
/* True when root is a dict with a DeliveryAccounts or MailAccounts key (of any type):
 * whether com.apple.mail.plist is worth a source record. */
bool mf_accounts_plist_has_accounts(plist_t root);

/* Normalised values Mail's raw settings map to (exposed for the tests). scheme is
 * AuthenticationScheme (NULL when absent). */
mf_auth mf_accounts_plist_auth(const char *scheme);

/* MailMate's Submission.plist: smtpServers[] with serverURL and port. One server per
 * entry and one implied account per server (MailMate does not store the link). */
mf_code mf_mailmate_parse(mf_report *r, int source_index, const char *data, size_t len,
                          mf_error *err);

/* An smtp:// or smtps:// URL as MailMate stores it. */
typedef struct mf_smtp_url {
    char *scheme;      /* "smtp" or "smtps", lower-case */
    char *user;        /* percent-decoded, valid UTF-8; NULL when none */
    char *host;        /* as written (brackets of an IPv6 literal removed) */
    int port;          /* 0 when the URL has none */
    bool had_password; /* user:password@ was present; the password is dropped */
    char *safe;        /* scheme://user@host[:port] as written, without password, path or query */
} mf_smtp_url;

/* Parse url (at most 2048 bytes) into *out (cleared first; free with
 * mf_smtp_url_clear, also after a failure). MF_ERR_PARSE with a message for an
 * unsupported scheme, an empty host, a bad port or a NUL byte in the user name. */
mf_code mf_smtp_url_parse(mf_smtp_url *out, const char *url, mf_error *err);
void mf_smtp_url_clear(mf_smtp_url *u);

/* A configuration profile (.mobileconfig): plain XML or binary plist, or a CMS
 * SignedData (DER or PEM) that embeds one. Each com.apple.mail.managed payload, and
 * each com.apple.configuration.account.mail declaration, gives one server and one
 * account linked to it. */
mf_code mf_profile_parse(mf_report *r, int source_index, const char *data, size_t len,
                         mf_error *err);

/* The plist bytes inside a profile file. */
typedef struct mf_profile_body {
    const char *data; /* points into the input, or owned (see owned) */
    size_t len;
    bool owned;        /* data is a buffer of its own (a signed profile's content) */
    bool is_signed;    /* the input was CMS SignedData */
    bool signature_ok; /* the signature matches the content (signer not verified) */
} mf_profile_body;

/* Find the plist bytes of a profile: for a plain plist out->data points into data; for
 * a CMS-signed one (DER or PEM) it is a copy of the embedded content. The signature is
 * checked for integrity only (the signer's certificate is not verified against any
 * trust store); a bad signature does not stop the reading, it only clears
 * signature_ok. MF_ERR_PARSE for bytes that are neither, MF_ERR_UNSUPPORTED for CMS
 * that is not SignedData (an encrypted profile) or has detached content. Free with
 * mf_profile_body_free (also after a failure). */
mf_code mf_profile_unwrap(mf_profile_body *out, const char *data, size_t len, mf_error *err);
void mf_profile_body_free(mf_profile_body *b);

#endif
