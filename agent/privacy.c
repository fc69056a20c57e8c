/* privacy.c: keyed pseudonyms for user names and e-mail addresses (see privacy.h). */
#include "privacy.h"

#include "buf.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

/* Free text longer than this is not worth keeping: it is cut rather than grown. */
#define TEXT_CAP (4 * 1024 * 1024)

typedef struct pctx {
    const unsigned char *key;
    size_t keylen;
    mf_strv names; /* user names found in the report, longest first */
} pctx;

static bool hmac_hex(const pctx *c, const char *data, size_t len, char out[MF_PSEUDONYM_HEX + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), c->key, (int)c->keylen, (const unsigned char *)data, len, mac,
              &maclen) ||
        maclen * 2 < MF_PSEUDONYM_HEX)
        return false;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < MF_PSEUDONYM_HEX / 2; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[MF_PSEUDONYM_HEX] = '\0';
    return true;
}

/* Characters of an address's local part as they appear in real data (a subset of
 * RFC 5322 atext: '/' and '=' are left out so that a path is not swallowed whole). */
static bool local_char(int ch)
{
    return isalnum(ch) || ch == '.' || ch == '_' || ch == '%' || ch == '+' || ch == '-' ||
           ch == '\'' || ch >= 0x80;
}

static bool domain_char(int ch)
{
    return isalnum(ch) || ch == '.' || ch == '-' || ch >= 0x80;
}

/* User names are matched in free text only as whole words, so "al" never matches
 * inside "also" or "al_x". Dots and hyphens separate words: "alice.old" and "alice-mbp"
 * do contain the name, and leaking it matters more than keeping such text intact. */
static bool word_char(int ch)
{
    return isalnum(ch) || ch == '_' || ch >= 0x80;
}

/* The pseudonym of an address given as local@domain (len bytes): HMAC of the whole
 * address lower-cased, domain kept lower-cased. */
static mf_code address_pseudonym(const pctx *c, const char *s, size_t len, size_t at, mf_buf *out)
{
    char *lower = mf_strndup(s, len);
    if (!lower)
        return MF_ERR_NOMEM;
    for (size_t i = 0; i < len; i++)
        lower[i] = (char)tolower((unsigned char)lower[i]);
    char hex[MF_PSEUDONYM_HEX + 1];
    mf_code rc = MF_ERR_INTERNAL;
    if (hmac_hex(c, lower, len, hex))
        rc = mf_buf_appendf(out, "u-%s@%s", hex, lower + at + 1);
    free(lower);
    return rc;
}

static mf_code name_pseudonym(const pctx *c, const char *s, size_t len, mf_buf *out)
{
    char hex[MF_PSEUDONYM_HEX + 1];
    if (!hmac_hex(c, s, len, hex))
        return MF_ERR_INTERNAL;
    return mf_buf_appendf(out, "u-%s", hex);
}

/* The index of the '@' when s is address-shaped (text on both sides of the last '@'),
 * else (size_t)-1. */
static size_t address_at(const char *s)
{
    const char *at = strrchr(s, '@');
    if (!at || at == s || at[1] == '\0')
        return (size_t)-1;
    return (size_t)(at - s);
}

static mf_code pseudonym_into(const pctx *c, const char *value, mf_buf *out)
{
    size_t at = address_at(value);
    if (at != (size_t)-1)
        return address_pseudonym(c, value, strlen(value), at, out);
    return name_pseudonym(c, value, strlen(value), out);
}

char *mf_privacy_pseudonym(const unsigned char *key, size_t keylen, const char *value)
{
    if (!value)
        return NULL;
    pctx c = {.key = key, .keylen = keylen};
    mf_buf b;
    mf_buf_init(&b, TEXT_CAP);
    if (pseudonym_into(&c, value, &b) != MF_OK) {
        mf_buf_free(&b);
        return NULL;
    }
    return mf_buf_detach(&b, NULL);
}

/* Replace a whole field by its pseudonym. */
static mf_code replace_value(const pctx *c, char **field)
{
    if (!*field || !**field)
        return MF_OK;
    mf_buf b;
    mf_buf_init(&b, TEXT_CAP);
    mf_code rc = pseudonym_into(c, *field, &b);
    if (rc != MF_OK) {
        mf_buf_free(&b);
        return rc;
    }
    char *n = mf_buf_detach(&b, NULL);
    if (!n)
        return MF_ERR_NOMEM;
    free(*field);
    *field = n;
    return MF_OK;
}

/* Pass 1 over free text: every address-shaped run (local@domain.with.dot or
 * local@host) becomes its pseudonym. */
static mf_code scrub_addresses(const pctx *c, const char *s, mf_buf *out)
{
    size_t n = strlen(s), done = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '@')
            continue;
        size_t l = i, r = i + 1;
        while (l > done && local_char((unsigned char)s[l - 1]))
            l--;
        while (r < n && domain_char((unsigned char)s[r]))
            r++;
        while (r > i + 1 && (s[r - 1] == '.' || s[r - 1] == '-'))
            r--; /* "write to alice@example.com." ends the sentence, not the domain */
        if (l == i || r == i + 1)
            continue;
        mf_code rc;
        if ((rc = mf_buf_append(out, s + done, l - done)) != MF_OK ||
            (rc = address_pseudonym(c, s + l, r - l, i - l, out)) != MF_OK)
            return rc;
        done = r;
        i = r - 1;
    }
    return mf_buf_append(out, s + done, n - done);
}

/* Pass 2: whole-word occurrences of the report's user names. */
static mf_code scrub_names(const pctx *c, const char *s, mf_buf *out)
{
    size_t n = strlen(s), done = 0, i = 0;
    while (i < n) {
        bool at_word_start = i == 0 || !word_char((unsigned char)s[i - 1]);
        const char *hit = NULL;
        size_t hitlen = 0;
        if (at_word_start)
            for (size_t k = 0; k < c->names.n && !hit; k++) {
                const char *name = c->names.v[k];
                size_t nl = strlen(name);
                if (nl <= n - i && memcmp(s + i, name, nl) == 0 &&
                    (i + nl == n || !word_char((unsigned char)s[i + nl]))) {
                    hit = name;
                    hitlen = nl;
                }
            }
        if (!hit) {
            i++;
            continue;
        }
        mf_code rc;
        if ((rc = mf_buf_append(out, s + done, i - done)) != MF_OK ||
            (rc = name_pseudonym(c, hit, hitlen, out)) != MF_OK)
            return rc;
        i += hitlen;
        done = i;
    }
    return mf_buf_append(out, s + done, n - done);
}

static mf_code scrub_text(const pctx *c, char **field)
{
    if (!*field || !**field)
        return MF_OK;
    mf_buf a, b;
    mf_buf_init(&a, TEXT_CAP);
    mf_buf_init(&b, TEXT_CAP);
    mf_code rc = scrub_addresses(c, *field, &a);
    if (rc == MF_OK)
        rc = scrub_names(c, a.data ? a.data : "", &b);
    if (rc == MF_ERR_TOOBIG)
        rc = MF_OK; /* cannot happen for report-sized fields; keep the partial text */
    char *n = rc == MF_OK ? mf_buf_detach(&b, NULL) : NULL;
    mf_buf_free(&a);
    mf_buf_free(&b);
    if (rc != MF_OK)
        return rc;
    if (!n)
        return MF_ERR_NOMEM;
    free(*field);
    *field = n;
    return MF_OK;
}

static mf_code add_name(pctx *c, const char *name)
{
    if (!name || !*name || address_at(name) != (size_t)-1 || mf_strv_contains(&c->names, name))
        return MF_OK;
    return mf_strv_push(&c->names, name);
}

static int longer_first(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : strcmp(*(char *const *)a, *(char *const *)b);
}

mf_code mf_privacy_pseudonymise(mf_report *r, const unsigned char *key, size_t keylen,
                                unsigned flags)
{
    pctx c = {.key = key, .keylen = keylen};
    mf_code rc = MF_OK;
    /* Collect the names first, from the values as found, so free text can be scrubbed
     * of them before the fields themselves change. */
    for (size_t i = 0; i < r->nsources && rc == MF_OK; i++)
        rc = add_name(&c, r->sources[i].user);
    for (size_t i = 0; i < r->nservers && rc == MF_OK; i++)
        if ((rc = add_name(&c, r->servers[i].user)) == MF_OK)
            rc = add_name(&c, r->servers[i].username);
    for (size_t i = 0; i < r->naccounts && rc == MF_OK; i++)
        rc = add_name(&c, r->accounts[i].user);
    if (rc != MF_OK)
        goto out;
    if (c.names.n > 1)
        qsort(c.names.v, c.names.n, sizeof(char *), longer_first);

    for (size_t i = 0; i < r->nsources; i++) {
        mf_source *s = &r->sources[i];
        if ((rc = scrub_text(&c, &s->path)) || (rc = scrub_text(&c, &s->error)) ||
            (rc = replace_value(&c, &s->user)))
            goto out;
    }
    for (size_t i = 0; i < r->nservers; i++) {
        mf_server *s = &r->servers[i];
        if ((rc = scrub_text(&c, &s->description)) || (rc = scrub_text(&c, &s->identifier)) ||
            (rc = replace_value(&c, &s->user)) || (rc = replace_value(&c, &s->username)))
            goto out;
    }
    for (size_t i = 0; i < r->naccounts; i++) {
        mf_account *a = &r->accounts[i];
        if ((rc = scrub_text(&c, &a->description)) || (rc = scrub_text(&c, &a->smtp_ref)) ||
            (rc = replace_value(&c, &a->user)))
            goto out;
        for (size_t k = 0; k < a->emails.n; k++)
            if ((rc = replace_value(&c, &a->emails.v[k])))
                goto out;
    }
    if (flags & MF_PRIVACY_HOSTNAME)
        rc = replace_value(&c, &r->host.hostname);
out:
    mf_strv_free(&c.names);
    return rc;
}
