/* Unit tests for agent/source_accounts_plist.c: Apple Mail's Accounts.plist and the
 * old com.apple.mail.plist, from fixture homes built in a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "report.h"
#include "testsupport.h"
#include "report_json.h"
#include "source.h"
#include "source_plist.h"

#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- fixture helpers */

static void set_str(plist_t d, const char *k, const char *v)
{
    plist_dict_set_item(d, k, plist_new_string(v));
}

static plist_t smtp(const char *host, const char *user)
{
    plist_t d = plist_new_dict();
    set_str(d, "AccountType", "SMTPAccount");
    if (host)
        set_str(d, "Hostname", host);
    if (user)
        set_str(d, "Username", user);
    /* Secrets a careless reader could copy. */
    set_str(d, "Password", "hunter2-delivery-secret");
    set_str(d, "SMTPPassword", "smtp-password-value");
    return d;
}

static plist_t account(const char *type, const char *host, const char *ident)
{
    plist_t d = plist_new_dict();
    if (type)
        set_str(d, "AccountType", type);
    if (host)
        set_str(d, "Hostname", host);
    if (ident)
        set_str(d, "SMTPIdentifier", ident);
    set_str(d, "Password", "imap-password-value");
    set_str(d, "OAuthToken", "token-value-xyz");
    return d;
}

static plist_t accounts_file(plist_t servers, plist_t accounts)
{
    plist_t root = plist_new_dict();
    if (servers)
        plist_dict_set_item(root, "DeliveryAccounts", servers);
    if (accounts)
        plist_dict_set_item(root, "MailAccounts", accounts);
    return root;
}

static mf_report *scan_home(const char *home, size_t cap)
{
    mf_report *r = mf_report_new();
    assert_non_null(r);
    mf_home h = {.user = "alice", .path = (char *)home};
    mf_scan_opts o = {.file_cap = cap};
    assert_int_equal(mf_source_accounts_plist.scan(r, &h, &o), MF_OK);
    mf_report_compute_findings(r);
    return r;
}

static const char *const SECRETS[] = {"hunter2", "smtp-password-value", "imap-password-value",
                                      "token-value-xyz"};

static void assert_no_secrets(mf_report *r)
{
    mft_must_be_clean(r, SECRETS, sizeof(SECRETS) / sizeof(SECRETS[0]));
}

static bool has_flag(unsigned flags, unsigned bit)
{
    return (flags & bit) != 0;
}

/* ---------------------------------------------------------------- the mapping file */

/* DeliveryAccounts covering every security/auth/port rule; see docs/sources.md. */
static plist_t mapping_plist(void)
{
    plist_t da = plist_new_array();
    plist_t s;
    /* s1: STARTTLS on 587, password, YES/NO strings. */
    s = smtp("smtp.example.com", "alice@example.com");
    plist_dict_set_item(s, "PortNumber", plist_new_uint(587));
    set_str(s, "SSLEnabled", "YES");
    set_str(s, "ShouldUseAuthentication", "YES");
    set_str(s, "AuthenticationScheme", "");
    set_str(s, "AccountName", "Work SMTP");
    set_str(s, "uniqueId", "12345678790");
    plist_array_append_item(da, s);
    /* s2: trailing space and capitals, port as a string, SSL off. */
    s = smtp("SMTP.Old.example.com ", NULL);
    set_str(s, "PortNumber", "25");
    set_str(s, "SSLEnabled", "NO");
    plist_array_append_item(da, s);
    /* s3: 465 with SSL: TLS; CRAM-MD5. */
    s = smtp("smtps.example.com", "carol");
    plist_dict_set_item(s, "PortNumber", plist_new_uint(465));
    plist_dict_set_item(s, "SSLEnabled", plist_new_bool(1));
    set_str(s, "AuthenticationScheme", "CRAM-MD5");
    plist_array_append_item(da, s);
    /* s4: nothing stored: plain, default port, authentication off. */
    s = smtp("plain.example.com", "dave");
    plist_dict_set_item(s, "ShouldUseAuthentication", plist_new_bool(0));
    plist_array_append_item(da, s);
    /* s5: SSL with SecurityLayerType 3 and no port: TLS on the default 465. */
    s = smtp("layer.example.com", "erin");
    set_str(s, "SSLEnabled", "YES");
    plist_dict_set_item(s, "SecurityLayerType", plist_new_uint(3));
    plist_array_append_item(da, s);
    /* s6: NTLM. */
    s = smtp("ntlm.example.com", "frank");
    set_str(s, "AuthenticationScheme", "NTLM");
    set_str(s, "PortNumber", "587");
    plist_array_append_item(da, s);
    /* s7: GSSAPI needs no user name. */
    s = smtp("kerberos.example.com", NULL);
    set_str(s, "AuthenticationScheme", "GSSAPI");
    plist_array_append_item(da, s);
    /* s8: an unknown scheme. */
    s = smtp("weird.example.com", "gina");
    set_str(s, "AuthenticationScheme", "X-FANCY");
    plist_array_append_item(da, s);
    /* s9: authentication on but no user name: none. */
    s = smtp("nouser.example.com", NULL);
    set_str(s, "ShouldUseAuthentication", "YES");
    plist_array_append_item(da, s);
    /* s10: a duplicate of s1. */
    s = smtp("smtp.example.com", "alice@example.com");
    set_str(s, "PortNumber", "587");
    set_str(s, "SSLEnabled", "YES");
    plist_array_append_item(da, s);
    /* s11: no host name at all; an unusable port. */
    s = smtp(NULL, "henry");
    set_str(s, "PortNumber", "lots");
    plist_array_append_item(da, s);
    /* s12: SSL on port 587: STARTTLS, not TLS. */
    s = smtp("submission.example.com", "ivan");
    plist_dict_set_item(s, "PortNumber", plist_new_uint(587));
    plist_dict_set_item(s, "SSLEnabled", plist_new_uint(1));
    plist_array_append_item(da, s);
    /* s13: SSLEnabled that is not a boolean: unknown. */
    s = smtp("odd.example.com", "judy");
    set_str(s, "SSLEnabled", "sometimes");
    plist_array_append_item(da, s);

    plist_t ma = plist_new_array();
    plist_t a;
    /* a1 -> s1 (the first of the two identical entries). */
    a = account("IMAPAccount", "imap.example.com", "smtp.example.com:alice@example.com");
    set_str(a, "AccountName", "Work");
    plist_t em = plist_new_array();
    plist_array_append_item(em, plist_new_string("alice@example.com"));
    plist_array_append_item(em, plist_new_string("a.l@example.com"));
    plist_dict_set_item(a, "EmailAddresses", em);
    plist_array_append_item(ma, a);
    /* a2 -> s2 by host only (s2 has no user name), compared trimmed and ignoring case. */
    a = account("POPAccount", "pop.old.example.com", "smtp.old.example.com");
    plist_array_append_item(ma, a);
    /* a3: dangling. */
    a = account("IMAPAccount", "imap.gone.example.com", "gone.example.com:bob");
    plist_array_append_item(ma, a);
    /* a4: local mailbox store with a stray identifier: no link. */
    a = account("LocalAccount", NULL, "smtp.example.com:alice@example.com");
    plist_array_append_item(ma, a);
    /* a5: host only, but the server has a user name: does not match. */
    a = account("IMAPAccount", "imap.example.com", "smtp.example.com");
    plist_array_append_item(ma, a);
    /* a6: no type and no host: local. */
    a = account(NULL, NULL, NULL);
    plist_array_append_item(ma, a);
    /* a7: an unknown type with a host: other, no identifier. */
    a = account("ExoticAccount", "x.example.com", NULL);
    plist_array_append_item(ma, a);
    return accounts_file(da, ma);
}

static void check_mapping(const mf_report *r, int src)
{
    assert_int_equal(r->nservers, 13);
    assert_int_equal(r->naccounts, 7);
    const mf_server *s = r->servers;
    for (size_t i = 0; i < r->nservers; i++) {
        assert_int_equal(s[i].source, src);
        assert_string_equal(s[i].client, "apple-mail");
        assert_string_equal(s[i].user, "alice");
    }

    assert_string_equal(s[0].hostname, "smtp.example.com");
    assert_int_equal(s[0].port, 587);
    assert_int_equal(s[0].security, MF_SEC_STARTTLS);
    assert_int_equal(s[0].auth, MF_AUTH_PASSWORD);
    assert_string_equal(s[0].username, "alice@example.com");
    assert_string_equal(s[0].description, "Work SMTP");
    assert_string_equal(s[0].identifier, "12345678790");
    assert_false(has_flag(s[0].flags, MF_FLAG_DEFAULT_PORT));
    assert_false(has_flag(s[0].flags, MF_FLAG_UNUSED));
    assert_true(has_flag(s[0].flags, MF_FLAG_DUPLICATE));

    assert_string_equal(s[1].hostname, "smtp.old.example.com");
    assert_string_equal(s[1].hostname_raw, "SMTP.Old.example.com ");
    assert_true(has_flag(s[1].flags, MF_FLAG_HOSTNAME_WHITESPACE));
    assert_true(has_flag(s[1].flags, MF_FLAG_HOSTNAME_CASE));
    assert_int_equal(s[1].port, 25);
    assert_int_equal(s[1].security, MF_SEC_NONE);
    assert_int_equal(s[1].auth, MF_AUTH_NONE); /* no user name */
    assert_true(has_flag(s[1].flags, MF_FLAG_PORT_25));
    assert_true(has_flag(s[1].flags, MF_FLAG_PLAINTEXT));
    assert_false(has_flag(s[1].flags, MF_FLAG_UNUSED));

    assert_int_equal(s[2].security, MF_SEC_TLS);
    assert_int_equal(s[2].port, 465);
    assert_int_equal(s[2].auth, MF_AUTH_PASSWORD_ENCRYPTED);
    assert_true(has_flag(s[2].flags, MF_FLAG_UNUSED));

    assert_int_equal(s[3].security, MF_SEC_NONE);
    assert_int_equal(s[3].port, 587);
    assert_true(has_flag(s[3].flags, MF_FLAG_DEFAULT_PORT));
    assert_int_equal(s[3].auth, MF_AUTH_NONE);
    assert_false(has_flag(s[3].flags, MF_FLAG_CLEARTEXT_AUTH));

    assert_int_equal(s[4].security, MF_SEC_TLS);
    assert_int_equal(s[4].port, 465);
    assert_true(has_flag(s[4].flags, MF_FLAG_DEFAULT_PORT));
    assert_int_equal(s[4].auth, MF_AUTH_PASSWORD);

    assert_int_equal(s[5].auth, MF_AUTH_NTLM);
    assert_int_equal(s[5].port, 587);
    assert_false(has_flag(s[5].flags, MF_FLAG_DEFAULT_PORT));

    assert_int_equal(s[6].auth, MF_AUTH_GSSAPI);
    assert_null(s[6].username);
    assert_int_equal(s[7].auth, MF_AUTH_UNKNOWN);
    assert_int_equal(s[8].auth, MF_AUTH_NONE);

    assert_true(has_flag(s[9].flags, MF_FLAG_DUPLICATE));
    assert_true(has_flag(s[9].flags, MF_FLAG_UNUSED));

    assert_null(s[10].hostname);
    assert_true(has_flag(s[10].flags, MF_FLAG_NO_HOSTNAME));
    assert_true(has_flag(s[10].flags, MF_FLAG_DEFAULT_PORT));
    assert_int_equal(s[10].port, 587);
    /* Password auth without TLS. */
    assert_true(has_flag(s[10].flags, MF_FLAG_CLEARTEXT_AUTH));

    assert_int_equal(s[11].security, MF_SEC_STARTTLS);
    assert_int_equal(s[11].port, 587);
    assert_int_equal(s[12].security, MF_SEC_UNKNOWN);

    const mf_account *a = r->accounts;
    assert_string_equal(a[0].type, "imap");
    assert_string_equal(a[0].smtp, s[0].id);
    assert_string_equal(a[0].smtp_ref, "smtp.example.com:alice@example.com");
    assert_string_equal(a[0].description, "Work");
    assert_int_equal(a[0].emails.n, 2);
    assert_string_equal(a[0].emails.v[1], "a.l@example.com");
    assert_false(has_flag(a[0].flags, MF_FLAG_DANGLING));

    assert_string_equal(a[1].type, "pop");
    assert_string_equal(a[1].smtp, s[1].id);

    assert_string_equal(a[2].type, "imap");
    assert_null(a[2].smtp);
    assert_string_equal(a[2].smtp_ref, "gone.example.com:bob");
    assert_true(has_flag(a[2].flags, MF_FLAG_DANGLING));

    assert_string_equal(a[3].type, "local");
    assert_null(a[3].smtp);
    assert_null(a[3].smtp_ref);
    assert_false(has_flag(a[3].flags, MF_FLAG_DANGLING));

    assert_null(a[4].smtp);
    assert_string_equal(a[4].smtp_ref, "smtp.example.com");
    assert_true(has_flag(a[4].flags, MF_FLAG_DANGLING));

    assert_string_equal(a[5].type, "local");
    assert_string_equal(a[6].type, "other");
    assert_null(a[6].smtp_ref);
}

/* ---------------------------------------------------------------- tests */

static void test_mapping_xml_and_binary(void **state)
{
    (void)state;
    for (int binary = 0; binary <= 1; binary++) {
        char *home = mft_must_scratch("mf-accounts-plist");
        char *path = mft_join(home, "Library/Mail/V2/MailData/Accounts.plist");
        plist_t p = mapping_plist();
        mft_must_write_plist(path, p, binary);
        plist_free(p);
        mf_report *r = scan_home(home, 0);
        assert_int_equal(r->nsources, 1);
        assert_string_equal(r->sources[0].format, "accounts-plist");
        assert_string_equal(r->sources[0].client, "apple-mail");
        assert_string_equal(r->sources[0].path, path);
        assert_int_equal(r->sources[0].status, MF_SRC_OK);
        assert_null(r->sources[0].error);
        check_mapping(r, 0);
        assert_no_secrets(r);
        mf_report_free(r);
        mft_rm_tree(home);
        free(path);
        free(home);
    }
}

static void test_version_folder_order(void **state)
{
    (void)state;
    char *home = mft_must_scratch("mf-accounts-plist");
    /* Created out of order; V10 binary, the others XML; non-numeric folders ignored. */
    static const char *const dirs[] = {"V10", "V2", "V9", "V3beta", "v4", "V", "VX1"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "Library/Mail/%s/MailData/Accounts.plist", dirs[i]);
        char *path = mft_join(home, rel);
        char host[64];
        snprintf(host, sizeof(host), "%s.example.com", dirs[i]);
        plist_t da = plist_new_array();
        plist_array_append_item(da, smtp(host, "u"));
        plist_t p = accounts_file(da, NULL);
        mft_must_write_plist(path, p, strcmp(dirs[i], "V10") == 0);
        plist_free(p);
        free(path);
    }
    /* A V folder without Accounts.plist (Mail 10.11+) adds nothing. */
    char *v5 = mft_join(home, "Library/Mail/V5/MailData");
    mft_must_mkdirs(v5);
    free(v5);

    mf_report *r = scan_home(home, 0);
    assert_int_equal(r->nsources, 3);
    assert_non_null(strstr(r->sources[0].path, "/Mail/V2/"));
    assert_non_null(strstr(r->sources[1].path, "/Mail/V9/"));
    assert_non_null(strstr(r->sources[2].path, "/Mail/V10/"));
    assert_int_equal(r->nservers, 3);
    assert_string_equal(r->servers[0].hostname, "v2.example.com");
    assert_string_equal(r->servers[2].hostname, "v10.example.com");
    assert_int_equal(r->servers[2].source, 2);
    for (size_t i = 0; i < r->nsources; i++)
        assert_int_equal(r->sources[i].status, MF_SRC_OK);
    mf_report_free(r);
    mft_rm_tree(home);
    free(home);
}

/* Links never cross files: an account in V3 cannot use a server in V2. */
static void test_link_within_file(void **state)
{
    (void)state;
    char *home = mft_must_scratch("mf-accounts-plist");
    char *p2 = mft_join(home, "Library/Mail/V2/MailData/Accounts.plist");
    char *p3 = mft_join(home, "Library/Mail/V3/MailData/Accounts.plist");
    plist_t da = plist_new_array();
    plist_array_append_item(da, smtp("smtp.example.com", "alice"));
    plist_t f2 = accounts_file(da, NULL);
    mft_must_write_plist(p2, f2, false);
    plist_t ma = plist_new_array();
    plist_array_append_item(ma,
                            account("IMAPAccount", "imap.example.com", "smtp.example.com:alice"));
    plist_t f3 = accounts_file(NULL, ma);
    mft_must_write_plist(p3, f3, true);
    plist_free(f2);
    plist_free(f3);
    mf_report *r = scan_home(home, 0);
    assert_int_equal(r->nsources, 2);
    assert_int_equal(r->naccounts, 1);
    assert_null(r->accounts[0].smtp);
    assert_true(has_flag(r->accounts[0].flags, MF_FLAG_DANGLING));
    assert_true(has_flag(r->servers[0].flags, MF_FLAG_UNUSED));
    mf_report_free(r);
    mft_rm_tree(home);
    free(p2);
    free(p3);
    free(home);
}

static void test_broken_files_do_not_stop_others(void **state)
{
    (void)state;
    char *home = mft_must_scratch("mf-accounts-plist");
    /* V2: truncated binary. V3: wrong root type. V4: a folder. V5: good. V6: too large. */
    plist_t p = mapping_plist();
    char *d = NULL;
    uint32_t n = 0;
    plist_to_bin(p, &d, &n);
    char *v2 = mft_join(home, "Library/Mail/V2/MailData/Accounts.plist");
    mft_must_write(v2, d, 200); /* the start of a binary plist: no trailer */
    plist_to_bin_free(d);
    char *v3 = mft_join(home, "Library/Mail/V3/MailData/Accounts.plist");
    plist_t arr = plist_new_array();
    plist_array_append_item(arr, smtp("x.example.com", "x"));
    mft_must_write_plist(v3, arr, false);
    plist_free(arr);
    char *v4 = mft_join(home, "Library/Mail/V4/MailData/Accounts.plist");
    mft_must_mkdirs(v4);
    char *v5 = mft_join(home, "Library/Mail/V5/MailData/Accounts.plist");
    plist_t da = plist_new_array();
    plist_array_append_item(da, smtp("good.example.com", "g"));
    plist_t small = accounts_file(da, NULL);
    size_t small_len = mft_must_write_plist(v5, small, false);
    plist_free(small);
    char *v6 = mft_join(home, "Library/Mail/V6/MailData/Accounts.plist");
    size_t big_len = mft_must_write_plist(v6, p, false);
    plist_free(p);
    assert_true(big_len > small_len);

    mf_report *r = scan_home(home, small_len + 1);
    assert_int_equal(r->nsources, 5);
    assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED);
    assert_non_null(strstr(r->sources[0].error, v2));
    assert_non_null(strstr(r->sources[0].error, "binary"));
    assert_int_equal(r->sources[1].status, MF_SRC_MALFORMED);
    assert_non_null(strstr(r->sources[1].error, "top level is an array"));
    assert_int_equal(r->sources[2].status, MF_SRC_UNREADABLE);
    assert_non_null(strstr(r->sources[2].error, "directory"));
    assert_int_equal(r->sources[3].status, MF_SRC_OK);
    assert_int_equal(r->sources[4].status, MF_SRC_TOO_LARGE);
    assert_non_null(strstr(r->sources[4].error, v6));
    assert_int_equal(r->nservers, 1);
    assert_string_equal(r->servers[0].hostname, "good.example.com");
    assert_int_equal(r->servers[0].source, 3);
    assert_no_secrets(r);
    mf_report_free(r);
    mft_rm_tree(home);
    free(v2);
    free(v3);
    free(v4);
    free(v5);
    free(v6);
    free(home);
}

static void test_wrong_types_inside(void **state)
{
    (void)state;
    mf_report *r = mf_report_new();
    int idx;
    assert_int_equal(
        mf_report_add_source(r, "alice", "apple-mail", "accounts-plist", "/h/A.plist", &idx),
        MF_OK);
    /* DeliveryAccounts is a string; MailAccounts has a non-dict entry. */
    plist_t root = plist_new_dict();
    set_str(root, "DeliveryAccounts", "oops");
    plist_t ma = plist_new_array();
    plist_array_append_item(ma, plist_new_uint(3));
    plist_array_append_item(ma, account("IMAPAccount", "imap.example.com", "smtp.example.com:a"));
    plist_dict_set_item(root, "MailAccounts", ma);
    char *x = NULL;
    uint32_t n = 0;
    plist_to_xml(root, &x, &n);
    mf_error err;
    assert_int_equal(mf_accounts_plist_parse(r, idx, x, n, &err), MF_ERR_PARSE);
    assert_int_equal(r->sources[idx].status, MF_SRC_MALFORMED);
    assert_string_equal(r->sources[idx].error,
                        "/h/A.plist: DeliveryAccounts is a string, expected an array (and 1 more "
                        "problem)");
    assert_int_equal(r->naccounts, 1); /* the good entry is still read */
    plist_to_xml_free(x);
    plist_free(root);

    /* Too many entries: the first MF_PLIST_MAX_ENTRIES are read. */
    assert_int_equal(
        mf_report_add_source(r, "alice", "apple-mail", "accounts-plist", "/h/B.plist", &idx),
        MF_OK);
    plist_t da = plist_new_array();
    for (int i = 0; i < MF_PLIST_MAX_ENTRIES + 10; i++)
        plist_array_append_item(da, smtp("many.example.com", "m"));
    root = accounts_file(da, NULL);
    x = NULL; /* libplist 2.2 writes nothing unless *x is NULL */
    plist_to_bin(root, &x, &n);
    size_t before = r->nservers;
    assert_int_equal(mf_accounts_plist_parse(r, idx, x, n, &err), MF_ERR_PARSE);
    assert_int_equal(r->nservers - before, MF_PLIST_MAX_ENTRIES);
    assert_non_null(strstr(r->sources[idx].error, "only the first"));
    plist_to_bin_free(x);
    plist_free(root);
    mf_report_free(r);
}

static void test_mail_prefs(void **state)
{
    (void)state;
    char *home = mft_must_scratch("mf-accounts-plist");
    char *prefs = mft_join(home, "Library/Preferences/com.apple.mail.plist");
    /* Ordinary preferences: no record. */
    plist_t p = plist_new_dict();
    set_str(p, "NSUserKeyEquivalents", "x");
    mft_must_write_plist(prefs, p, true);
    plist_free(p);
    mf_report *r = scan_home(home, 0);
    assert_int_equal(r->nsources, 0);
    mf_report_free(r);

    /* Old Mail: the arrays live here. */
    p = mapping_plist();
    set_str(p, "SomeOtherPreference", "x");
    mft_must_write_plist(prefs, p, true);
    plist_free(p);
    r = scan_home(home, 0);
    assert_int_equal(r->nsources, 1);
    assert_string_equal(r->sources[0].format, "mail-prefs-plist");
    assert_string_equal(r->sources[0].client, "apple-mail");
    check_mapping(r, 0);
    assert_no_secrets(r);
    mf_report_free(r);

    /* Corrupt: recorded, since we cannot tell whether it held accounts. */
    mft_must_write(prefs, "bplist00garbage", 15);
    r = scan_home(home, 0);
    assert_int_equal(r->nsources, 1);
    assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED);
    mf_report_free(r);

    mft_rm_tree(home);
    free(prefs);
    free(home);
}

static void test_nothing_found(void **state)
{
    (void)state;
    char *home = mft_must_scratch("mf-accounts-plist");
    mf_report *r = scan_home(home, 0);
    assert_int_equal(r->nsources, 0);
    mf_report_free(r);
    /* A Mail folder with only non-version folders. */
    char *m = mft_join(home, "Library/Mail/Bundles");
    mft_must_mkdirs(m);
    r = scan_home(home, 0);
    assert_int_equal(r->nsources, 0);
    mf_report_free(r);
    mft_rm_tree(home);
    free(m);
    free(home);
}

static void test_auth_table(void **state)
{
    (void)state;
    assert_int_equal(mf_accounts_plist_auth(NULL), MF_AUTH_PASSWORD);
    assert_int_equal(mf_accounts_plist_auth(""), MF_AUTH_PASSWORD);
    assert_int_equal(mf_accounts_plist_auth("PASSWORD"), MF_AUTH_PASSWORD);
    assert_int_equal(mf_accounts_plist_auth(" plain "), MF_AUTH_PASSWORD);
    assert_int_equal(mf_accounts_plist_auth("CRAM-MD5"), MF_AUTH_PASSWORD_ENCRYPTED);
    assert_int_equal(mf_accounts_plist_auth("DIGEST-MD5"), MF_AUTH_PASSWORD_ENCRYPTED);
    assert_int_equal(mf_accounts_plist_auth("ntlm"), MF_AUTH_NTLM);
    assert_int_equal(mf_accounts_plist_auth("GSSAPI"), MF_AUTH_GSSAPI);
    assert_int_equal(mf_accounts_plist_auth("KERBEROS_V5"), MF_AUTH_GSSAPI);
    assert_int_equal(mf_accounts_plist_auth("XOAUTH2"), MF_AUTH_OAUTH2);
    assert_int_equal(mf_accounts_plist_auth("APOP"), MF_AUTH_UNKNOWN);
    assert_int_equal(mf_accounts_plist_auth("a-very-long-scheme-name-that-does-not-fit"),
                     MF_AUTH_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapping_xml_and_binary),
        cmocka_unit_test(test_version_folder_order),
        cmocka_unit_test(test_link_within_file),
        cmocka_unit_test(test_broken_files_do_not_stop_others),
        cmocka_unit_test(test_wrong_types_inside),
        cmocka_unit_test(test_mail_prefs),
        cmocka_unit_test(test_nothing_found),
        cmocka_unit_test(test_auth_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
