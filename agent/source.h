/* source.h: the interface every mail-client source implements.
 *
 * A source knows one file format of one client (OpenSMTPD's queue backends are the
 * model: a small table of function pointers chosen by name). Discovery calls each
 * source's scan() once per home folder. The source looks for its files there; for
 * every file it finds (or that another file names) it adds one mf_source record with
 * mf_report_add_source(), then the servers and accounts it read from that file.
 *
 * Contract for scan():
 *  - Finding nothing is not an error: add no source record, return MF_OK.
 *  - A file that cannot be read or parsed is recorded in its source record
 *    (mf_report_source_fail with missing/unreadable/malformed/too-large and a message
 *    naming the file and, where known, the line or key) and scan() goes on with the
 *    other files. It returns MF_OK.
 *  - Only out-of-memory (or a bug) returns an error; discovery then stops.
 *  - Never copy a secret (password, token, keychain reference) into the report.
 *  - Fill servers: hostname via mf_server_set_hostname(), port (0 = not stored: apply
 *    the client's protocol default and set MF_FLAG_DEFAULT_PORT), security, auth,
 *    username, description, identifier, provider (when the OS picks the host).
 *  - Fill accounts: type, description, emails, smtp (the linked server's id, or NULL),
 *    smtp_ref (the raw reference as stored, so a dangling link can be reported).
 *  - Do not compute unused/duplicate/dangling etc.: mf_report_compute_findings() does
 *    that once for the whole report.
 */
#ifndef MF_SOURCE_H
#define MF_SOURCE_H

#include "report.h"

#include <stddef.h>

/* Largest file any source reads (plists, databases, prefs.js); bigger is "too-large". */
#define MF_SOURCE_FILE_CAP (16u * 1024u * 1024u)

typedef struct mf_home {
    char *user; /* account name, normally the folder's base name */
    char *path; /* the home folder */
} mf_home;

typedef struct mf_scan_opts {
    size_t file_cap; /* size cap for any single file; MF_SOURCE_FILE_CAP by default */
} mf_scan_opts;

typedef struct mf_source_ops {
    const char *format; /* the report's sources[].format, e.g. "accounts-plist" */
    const char *client; /* apple-mail, thunderbird, mailmate */
    mf_code (*scan)(mf_report *r, const mf_home *home, const mf_scan_opts *opts);
} mf_source_ops;

/* The per-home sources, in the order discovery runs them. */
extern const mf_source_ops mf_source_accounts_plist; /* source_accounts_plist.c */
extern const mf_source_ops mf_source_accounts_sqlite; /* source_accounts_sqlite.c */
extern const mf_source_ops mf_source_thunderbird;     /* source_thunderbird.c */
extern const mf_source_ops mf_source_mailmate;        /* source_mailmate.c */

/* Configuration profiles are not per home: they come from --profiles DIR (and on
 * macOS from the installed profiles). source_profiles.c. Reads every *.mobileconfig
 * (plain or CMS-signed) in dir; each file is one source record (client "profile"). */
mf_code mf_profiles_scan_dir(mf_report *r, const char *dir, const mf_scan_opts *opts);
/* Reads one profile file (plain or signed). */
mf_code mf_profiles_scan_file(mf_report *r, const char *path, const mf_scan_opts *opts);

#endif
