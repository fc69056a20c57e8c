/* advice.h: what a person should do about an SMTP server entry, in plain words.
 *
 * Used by `mailfleet-agent doctor`; written against the report model only, so the
 * collector can give the same advice from a report it received. Every text names the
 * place in the mail client where the entry is fixed (Apple Mail, Thunderbird,
 * MailMate), or says to ask IT when a configuration profile owns it.
 */
#ifndef MF_ADVICE_H
#define MF_ADVICE_H

#include "report.h"

typedef enum mf_advice_level {
    MF_ADVICE_INFO = 0, /* worth knowing, nothing is broken */
    MF_ADVICE_WARNING,  /* works, but weak or about to break */
    MF_ADVICE_PROBLEM,  /* does not work */
} mf_advice_level;

typedef struct mf_advice {
    mf_advice_level level;
    char *server; /* the server id it is about */
    char *text;   /* one paragraph */
} mf_advice;

typedef struct mf_advice_list {
    mf_advice *v;
    size_t n, cap;
} mf_advice_list;

/* "problem", "warning", "info". */
const char *mf_advice_level_name(mf_advice_level l);

/* The client's name for people ("Apple Mail", "Thunderbird", "MailMate",
 * "a configuration profile"); the raw word for an unknown client. Never NULL. */
const char *mf_advice_client_name(const char *client);

/* Where in the client an outgoing server entry is changed (remove false) or removed
 * (remove true), e.g. "Mail → Settings → Accounts → Server Settings → Outgoing Mail
 * Account → Edit SMTP Server List". For a configuration profile, the advice to ask IT.
 * Never NULL. */
const char *mf_advice_place(const char *client, bool remove);

/* Who uses entry s, for people: "Work (alice@example.com), Home" (an account's
 * description, else its first address, else its id), "" when nobody does. Caller frees;
 * NULL when out of memory. */
char *mf_advice_users_text(const mf_report *r, const mf_server *s);

/* One sentence on what the probe found, naming the server: "mail.old.example no
 * longer exists (NXDOMAIN)." NULL for ok and skipped. Caller frees. */
char *mf_advice_problem(const mf_probe *p);

/* Append to out every piece of advice for server s of report r, given its probe p
 * (NULL when it was not probed): the problem and how to fix it in s's client, an
 * unused entry to remove, weak security, AUTH offered before TLS, a certificate about
 * to expire, the iCloud app-specific password for third-party clients. Strings are
 * owned by out (mf_advice_list_free). MF_ERR_NOMEM on OOM. */
mf_code mf_advice_for_server(mf_advice_list *out, const mf_report *r, const mf_server *s,
                             const mf_probe *p);

void mf_advice_list_free(mf_advice_list *l);

#endif
