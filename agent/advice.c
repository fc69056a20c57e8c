/* advice.c: plain-words advice about SMTP server entries (see advice.h). */
#include "advice.h"
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADVICE_MAX 4096
#define EXPIRY_WARN_DAYS 21

const char *mf_advice_level_name(mf_advice_level l)
{
    switch (l) {
    case MF_ADVICE_PROBLEM:
        return "problem";
    case MF_ADVICE_WARNING:
        return "warning";
    default:
        return "info";
    }
}

const char *mf_advice_client_name(const char *client)
{
    if (mf_streq(client, "apple-mail"))
        return "Apple Mail";
    if (mf_streq(client, "thunderbird"))
        return "Thunderbird";
    if (mf_streq(client, "mailmate"))
        return "MailMate";
    if (mf_streq(client, "postbox"))
        return "Postbox";
    if (mf_streq(client, "profile"))
        return "a configuration profile";
    return client ? client : "the mail client";
}

const char *mf_advice_place(const char *client, bool remove)
{
    if (mf_streq(client, "apple-mail"))
        return remove ? "Mail → Settings → Accounts → Server Settings → Outgoing Mail Account → "
                        "Edit SMTP Server List"
                      : "Mail → Settings → Accounts → (the account) → Server Settings → "
                        "Outgoing Mail Account";
    if (mf_streq(client, "postbox"))
        return remove ? "Postbox → Settings → Account Settings → Outgoing Server (SMTP) (select "
                        "it, then Remove)"
                      : "Postbox → Settings → Account Settings → Outgoing Server (SMTP) (select "
                        "it, then Edit)";
    if (mf_streq(client, "thunderbird"))
        return remove ? "Thunderbird → Settings → Account Settings → Outgoing Server (SMTP) "
                        "(select it, then Remove)"
                      : "Thunderbird → Settings → Account Settings → Outgoing Server (SMTP) "
                        "(select it, then Edit)";
    if (mf_streq(client, "mailmate"))
        return remove ? "MailMate → Settings → Accounts (the SMTP server list: select it, then "
                        "remove it)"
                      : "MailMate → Settings → Accounts (the SMTP server list: select it and "
                        "edit it)";
    if (mf_streq(client, "profile"))
        return "the configuration profile that installed it: it is managed, so ask your IT "
               "department to change it";
    return "the mail client's outgoing (SMTP) server settings";
}

static const char *phase_words(mf_phase ph)
{
    switch (ph) {
    case MF_PHASE_DNS:
        return "name lookup";
    case MF_PHASE_CONNECT:
        return "connection";
    case MF_PHASE_BANNER:
        return "greeting";
    case MF_PHASE_EHLO:
        return "EHLO";
    case MF_PHASE_STARTTLS:
        return "STARTTLS";
    case MF_PHASE_TLS:
        return "TLS handshake";
    case MF_PHASE_EHLO_TLS:
        return "EHLO after TLS";
    default:
        return "QUIT";
    }
}

static const char *reply_meaning(int code)
{
    switch (code) {
    case 421:
        return " (421: the service is not available now; it may be overloaded or shutting "
               "down)";
    case 554:
        return " (554: it does not accept mail from this client or this network)";
    case 550:
        return " (550: refused by policy)";
    default:
        return code >= 500 ? " (a permanent refusal)" : code >= 400 ? " (a temporary refusal)" : "";
    }
}

char *mf_advice_problem(const mf_probe *p)
{
    const char *h = p->hostname ? p->hostname : "(no name)";
    const char *d = p->detail ? p->detail : "";
    const mf_cert *c = p->has_tls && p->tls.has_cert ? &p->tls.cert : NULL;
    switch (p->outcome) {
    case MF_OUT_OK:
    case MF_OUT_SKIPPED:
    case MF_OUT__COUNT:
        return NULL;
    case MF_OUT_DNS_NXDOMAIN:
        return mf_asprintf("%s no longer exists (NXDOMAIN).", h);
    case MF_OUT_DNS_ERROR:
        return mf_asprintf("%s could not be looked up (%s). This may be a problem of this "
                           "network rather than of the server.", h, d);
    case MF_OUT_CONNECT_REFUSED:
        return mf_asprintf("%s refuses connections on port %d: no mail service listens there "
                           "any more.", h, p->port);
    case MF_OUT_CONNECT_TIMEOUT:
        return mf_asprintf("%s did not answer on port %d in time: the server is down, or a "
                           "firewall drops the connection (many networks block port 25).",
                           h, p->port);
    case MF_OUT_NETWORK_UNREACHABLE:
        return mf_asprintf("%s cannot be reached from this network (%s).", h, d);
    case MF_OUT_TIMEOUT:
        return mf_asprintf("%s stopped answering during the %s (%s).", h,
                           phase_words(p->fail_phase), d);
    case MF_OUT_SMTP_REJECTED:
        return mf_asprintf("%s refused the session in the %s step%s; it answered \"%s\".", h,
                           phase_words(p->fail_phase), reply_meaning(p->reply_code), d);
    case MF_OUT_PROTOCOL_ERROR:
        return mf_asprintf("%s does not speak SMTP correctly on port %d (%s): it may not be a "
                           "mail server, or something on the network interferes.", h, p->port, d);
    case MF_OUT_STARTTLS_NOT_OFFERED:
        return mf_asprintf("%s does not offer encryption (STARTTLS) on port %d: a client set to "
                           "require it cannot send mail, and one set to use it \"if available\" "
                           "sends the password unencrypted.", h, p->port);
    case MF_OUT_STARTTLS_REJECTED:
        return mf_asprintf("%s offers STARTTLS but refused to start it; it answered \"%s\".",
                           h, d);
    case MF_OUT_TLS_HANDSHAKE_FAILED:
        return mf_asprintf("Encryption with %s could not be set up: %s.", h, d);
    case MF_OUT_CERT_UNTRUSTED:
        return mf_asprintf("The certificate of %s is not trusted (%s): mail clients warn about "
                           "it or refuse to send.", h, p->tls.verify_error ? p->tls.verify_error : d);
    case MF_OUT_CERT_SELF_SIGNED:
        return mf_asprintf("%s presents a self-signed certificate: nothing vouches that the "
                           "server is really %s.", h, h);
    case MF_OUT_CERT_EXPIRED:
        return mf_asprintf("The certificate of %s expired on %s.", h,
                           c && c->not_after ? c->not_after : "?");
    case MF_OUT_CERT_NOT_YET_VALID:
        return mf_asprintf("The certificate of %s is not valid before %s: the server's clock or "
                           "this Mac's clock is wrong.", h, c && c->not_before ? c->not_before : "?");
    case MF_OUT_CERT_HOSTNAME_MISMATCH:
        return mf_asprintf("The certificate of %s was made for other names (%s).", h, d);
    case MF_OUT_CONNECTION_CLOSED:
        return mf_asprintf("%s closed the connection during the %s (%s).", h,
                           phase_words(p->fail_phase), d);
    case MF_OUT_PROBE_ERROR:
        return mf_asprintf("The probe itself failed for %s (%s); this says nothing about the "
                           "server.", h, d);
    }
    return NULL;
}

/* Who uses the entry: "used by Work (alice@example.com), Home". */
char *mf_advice_users_text(const mf_report *r, const mf_server *s)
{
    mf_buf b;
    mf_buf_init(&b, 1024);
    for (size_t i = 0; i < s->used_by.n; i++) {
        const mf_account *a = NULL;
        for (size_t k = 0; k < r->naccounts; k++)
            if (mf_streq(r->accounts[k].id, s->used_by.v[i]))
                a = &r->accounts[k];
        const char *name = a && a->description ? a->description
                           : a && a->emails.n  ? a->emails.v[0]
                                               : s->used_by.v[i];
        if (mf_buf_appendf(&b, "%s%s", i ? ", " : "", name) != MF_OK)
            break;
    }
    return mf_buf_detach(&b, NULL);
}

static mf_code add(mf_advice_list *l, mf_advice_level lvl, const mf_server *s, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
static mf_code add(mf_advice_list *l, mf_advice_level lvl, const mf_server *s, const char *fmt,
                   ...)
{
    if (mf_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)) != MF_OK)
        return MF_ERR_NOMEM;
    char *text = malloc(ADVICE_MAX);
    if (!text)
        return MF_ERR_NOMEM;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, ADVICE_MAX, fmt, ap);
    va_end(ap);
    mf_advice *a = &l->v[l->n];
    a->level = lvl;
    a->text = text;
    a->server = mf_strdup(s->id);
    if (!a->server) {
        free(text);
        return MF_ERR_NOMEM;
    }
    l->n++;
    return MF_OK;
}

/* What to do about a failed probe, for an entry that accounts use. */
static const char *fix_for(mf_outcome o)
{
    switch (o) {
    case MF_OUT_DNS_NXDOMAIN:
    case MF_OUT_CONNECT_REFUSED:
        return "ask your mail provider for its current outgoing server and port, and enter "
               "them in";
    case MF_OUT_CONNECT_TIMEOUT:
    case MF_OUT_NETWORK_UNREACHABLE:
    case MF_OUT_TIMEOUT:
    case MF_OUT_DNS_ERROR:
        return "if it still fails on another network, check the server name and port with your "
               "provider and correct them in";
    case MF_OUT_STARTTLS_NOT_OFFERED:
    case MF_OUT_STARTTLS_REJECTED:
        return "ask your provider whether to use port 465 (SSL/TLS) or 587 (STARTTLS) and set "
               "the port and security in";
    case MF_OUT_CERT_HOSTNAME_MISMATCH:
        return "if a name on the certificate belongs to the same provider, use that name as "
               "the server; otherwise ask the provider. Change it in";
    case MF_OUT_TLS_HANDSHAKE_FAILED:
        return "only the server's administrator can fix this: tell your provider or IT. The "
               "entry is in";
    case MF_OUT_CERT_EXPIRED:
    case MF_OUT_CERT_NOT_YET_VALID:
    case MF_OUT_CERT_SELF_SIGNED:
    case MF_OUT_CERT_UNTRUSTED:
        return "only the server's administrator can fix this: tell your provider or IT. Do not "
               "accept the certificate permanently; the entry is in";
    default:
        return "tell your provider what the server answered; the entry is in";
    }
}

static bool is_icloud(const mf_server *s)
{
    return mf_streq(s->provider, "icloud") ||
           (s->hostname && (mf_streq(s->hostname, "smtp.mail.me.com") ||
                            mf_str_has_suffix(s->hostname, ".mail.me.com")));
}

mf_code mf_advice_for_server(mf_advice_list *out, const mf_report *r, const mf_server *s,
                             const mf_probe *p)
{
    mf_code rc = MF_OK;
    const char *client = mf_advice_client_name(s->client);
    bool managed = mf_streq(s->client, "profile");
    bool unused = (s->flags & MF_FLAG_UNUSED) != 0;
    char *users = mf_advice_users_text(r, s);
    char *problem = p ? mf_advice_problem(p) : NULL;
    if (!users) {
        rc = MF_ERR_NOMEM;
        goto out;
    }

    if (!s->hostname) {
        if (s->provider)
            rc = add(out, MF_ADVICE_INFO, s,
                     "%s chooses this %s server itself (Internet Accounts), so there is nothing "
                     "to probe or to fix here; it is managed in System Settings → Internet "
                     "Accounts.", client, s->provider);
        else
            rc = add(out, MF_ADVICE_PROBLEM, s,
                     "This %s entry has no server name at all, so it cannot work. %s: %s.",
                     client, unused ? "No account uses it: remove it in" : "Fix or remove it in",
                     mf_advice_place(s->client, unused));
        goto out;
    }

    if (problem) {
        if (managed)
            rc = add(out, MF_ADVICE_PROBLEM, s, "%s This entry comes from %s: ask your IT "
                     "department to fix or remove it; it cannot be changed on this Mac.",
                     problem, client);
        else if (unused)
            rc = add(out, MF_ADVICE_PROBLEM, s, "%s No account uses this entry: remove it in %s.",
                     problem, mf_advice_place(s->client, true));
        else
            rc = add(out, MF_ADVICE_PROBLEM, s, "%s It is used by %s in %s: %s %s.", problem,
                     users, client, fix_for(p->outcome), mf_advice_place(s->client, false));
    } else if (unused && p && p->outcome == MF_OUT_OK) {
        rc = add(out, MF_ADVICE_INFO, s, "%s works, but no account uses this %s entry: you can "
                 "remove it in %s.", s->hostname, client, mf_advice_place(s->client, true));
    }
    if (rc != MF_OK)
        goto out;

    /* Weak but working settings. */
    if (s->security == MF_SEC_NONE && !unused) {
        rc = add(out, MF_ADVICE_WARNING, s,
                 "This %s entry sends mail (and any password) unencrypted%s. Turn on SSL/TLS "
                 "(port 465) or STARTTLS (port 587) in %s.", client,
                 p && p->starttls_offered ? ", although the server offers STARTTLS" : "",
                 mf_advice_place(s->client, false));
    } else if (s->security == MF_SEC_STARTTLS_OPTIONAL && !unused && p &&
               p->outcome == MF_OUT_OK) {
        rc = add(out, MF_ADVICE_WARNING, s,
                 "This %s entry uses STARTTLS only \"if available\", so anyone on the network "
                 "can silently turn encryption off. Require it (STARTTLS or SSL/TLS) in %s.",
                 client, mf_advice_place(s->client, false));
    }
    if (rc != MF_OK)
        goto out;
    if (p && (mf_strv_contains(&p->auth_before_tls, "PLAIN") ||
              mf_strv_contains(&p->auth_before_tls, "LOGIN"))) {
        rc = add(out, MF_ADVICE_WARNING, s,
                 "%s offers to take passwords (AUTH PLAIN/LOGIN) before encryption has started; "
                 "a client that does not insist on TLS may send the password in clear text.%s",
                 s->hostname, s->security == MF_SEC_NONE ? " This entry does not insist." : "");
        if (rc != MF_OK)
            goto out;
    }
    if (p && p->outcome == MF_OUT_OK && p->has_tls && p->tls.has_cert &&
        p->tls.cert.days_left < EXPIRY_WARN_DAYS) {
        rc = add(out, MF_ADVICE_WARNING, s,
                 "The certificate of %s expires in %lld day(s) (%s): tell the server's "
                 "administrator.", s->hostname, p->tls.cert.days_left,
                 p->tls.cert.not_after ? p->tls.cert.not_after : "?");
        if (rc != MF_OK)
            goto out;
    }
    if (s->flags & MF_FLAG_DUPLICATE) {
        rc = add(out, MF_ADVICE_INFO, s,
                 "%s holds this server more than once; keep one entry and remove the others in %s.",
                 client, mf_advice_place(s->client, true));
        if (rc != MF_OK)
            goto out;
    }
    if (is_icloud(s) && (mf_streq(s->client, "thunderbird") || mf_streq(s->client, "mailmate"))) {
        rc = add(out, MF_ADVICE_INFO, s,
                 "iCloud Mail in %s needs an app-specific password, not your Apple Account "
                 "password (Apple Mail does not need one). If sending fails with an "
                 "authentication error, make a new one at account.apple.com → Sign-In and "
                 "Security → App-Specific Passwords (two-factor authentication must be on) and "
                 "enter it as this server's password in %s. The server is smtp.mail.me.com, "
                 "port 587, STARTTLS, your full iCloud address as user name.",
                 client, mf_advice_place(s->client, false));
    }
out:
    free(users);
    free(problem);
    return rc;
}

void mf_advice_list_free(mf_advice_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].server);
        free(l->v[i].text);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
