/* Unit tests for agent/source_mailmate.c: MailMate's Submission.plist and its
 * smtp:// URLs. */
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

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REL "Library/Application Support/MailMate/Submission.plist"

/* ---------------------------------------------------------------- fixture helpers */

static char *sub_path(const char *home)
{
    size_t n = strlen(home) + sizeof(REL) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", home, REL);
    return p;
}

static mf_report *scan_home(const char *home, size_t cap)
{
    mf_report *r = mf_report_new();
    assert_non_null(r);
    mf_home h = {.user = "bob", .path = (char *)home};
    mf_scan_opts o = {.file_cap = cap};
    assert_int_equal(mf_source_mailmate.scan(r, &h, &o), MF_OK);
    mf_report_compute_findings(r);
    return r;
}

static const char *const SECRETS[] = {"pw-in-url-secret", "sekrit-value", "pass%3Aword"};

static void assert_no_secrets(mf_report *r)
{
    mft_must_be_clean(r, SECRETS, sizeof(SECRETS) / sizeof(SECRETS[0]));
}

static plist_t entry(const char *url, plist_t port)
{
    plist_t d = plist_new_dict();
    if (url)
        plist_dict_set_item(d, "serverURL", plist_new_string(url));
    if (port)
        plist_dict_set_item(d, "port", port);
    plist_dict_set_item(d, "password", plist_new_string("sekrit-value"));
    return d;
}

static plist_t submission(plist_t servers)
{
    plist_t root = plist_new_dict();
    plist_dict_set_item(root, "smtpServers", servers);
    return root;
}

/* ---------------------------------------------------------------- URLs */

static void test_url_parse(void **state)
{
    (void)state;
    mf_smtp_url u;
    mf_error err;

    assert_int_equal(mf_smtp_url_parse(&u, "smtp://alice@example.com@smtp.example.com", &err),
                     MF_OK);
    assert_string_equal(u.scheme, "smtp");
    assert_string_equal(u.user, "alice@example.com");
    assert_string_equal(u.host, "smtp.example.com");
    assert_int_equal(u.port, 0);
    assert_false(u.had_password);
    assert_string_equal(u.safe, "smtp://alice@example.com@smtp.example.com");
    mf_smtp_url_clear(&u);

    assert_int_equal(
        mf_smtp_url_parse(&u, "smtps://alice%40example.com@smtp.example.com:465", &err), MF_OK);
    assert_string_equal(u.scheme, "smtps");
    assert_string_equal(u.user, "alice@example.com");
    assert_int_equal(u.port, 465);
    assert_string_equal(u.safe, "smtps://alice%40example.com@smtp.example.com:465");
    mf_smtp_url_clear(&u);

    assert_int_equal(
        mf_smtp_url_parse(&u, "smtp://bob:pass%3Aword@mail.example.com:587/p?password=x#f", &err),
        MF_OK);
    assert_string_equal(u.user, "bob");
    assert_true(u.had_password);
    assert_string_equal(u.host, "mail.example.com");
    assert_int_equal(u.port, 587);
    assert_string_equal(u.safe, "smtp://bob@mail.example.com:587");
    mf_smtp_url_clear(&u);

    assert_int_equal(mf_smtp_url_parse(&u, "SMTP://[2001:db8::1]:2525", &err), MF_OK);
    assert_string_equal(u.scheme, "smtp");
    assert_null(u.user);
    assert_string_equal(u.host, "2001:db8::1");
    assert_int_equal(u.port, 2525);
    mf_smtp_url_clear(&u);

    /* Bad escapes are kept as written; bad UTF-8 is replaced. */
    assert_int_equal(mf_smtp_url_parse(&u, "smtp://a%zz%4@h", &err), MF_OK);
    assert_string_equal(u.user, "a%zz%4");
    mf_smtp_url_clear(&u);
    assert_int_equal(mf_smtp_url_parse(&u, "smtp://%FF@h", &err), MF_OK);
    assert_string_equal(u.user, "\xEF\xBF\xBD");
    mf_smtp_url_clear(&u);
    /* An empty port is no port. */
    assert_int_equal(mf_smtp_url_parse(&u, "smtp://h:", &err), MF_OK);
    assert_int_equal(u.port, 0);
    mf_smtp_url_clear(&u);

    static const char *const bad[] = {
        "imap://x@y",    "smtp://",      "smtp://u@:25", "smtp://h:99999",
        "smtp://h:abc",  "smtp://h:+25", "smtp://%00@h", "smtp://[::1",
        "smtp://[::1]x", "no-scheme",    "smtp:/h",      "smtp://u:pw@/path",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mf_smtp_url_parse(&u, bad[i], &err) != MF_ERR_PARSE)
            fail_msg("\"%s\" should not parse", bad[i]);
        mf_smtp_url_clear(&u);
    }
    char *longurl = malloc(5000);
    memset(longurl, 'a', 4999);
    memcpy(longurl, "smtp://", 7);
    longurl[4999] = '\0';
    assert_int_equal(mf_smtp_url_parse(&u, longurl, &err), MF_ERR_PARSE);
    mf_smtp_url_clear(&u);
    free(longurl);
}

/* ---------------------------------------------------------------- the file */

static plist_t sample(void)
{
    plist_t a = plist_new_array();
    plist_array_append_item(
        a, entry("smtp://alice%40example.com@smtp.example.com", plist_new_string("587")));
    plist_array_append_item(
        a, entry("smtps://bob:pw-in-url-secret@smtp.example.org", plist_new_uint(465)));
    plist_array_append_item(a, entry("smtps://carol@SMTP.Example.net ", NULL));
    plist_array_append_item(a, entry("smtp://mail.example.com", plist_new_string("abc")));
    plist_array_append_item(a, entry(NULL, NULL)); /* no URL */
    plist_array_append_item(a, entry("ftp://files.example.com", NULL));
    plist_array_append_item(a, entry("smtp://alice%40example.com@smtp.example.com",
                                     plist_new_uint(587))); /* duplicate of the first */
    plist_array_append_item(a, entry("smtp://dan@relay.example.com:2525", plist_new_string("26")));
    plist_array_append_item(a, plist_new_string("not a dict"));
    return submission(a);
}

static void test_scan(void **state)
{
    (void)state;
    for (int binary = 0; binary <= 1; binary++) {
        char *home = mft_must_scratch("mf-mailmate");
        char *path = sub_path(home);
        plist_t p = sample();
        mft_must_write_plist(path, p, binary);
        plist_free(p);
        mf_report *r = scan_home(home, 0);
        assert_int_equal(r->nsources, 1);
        const mf_source *src = &r->sources[0];
        assert_string_equal(src->client, "mailmate");
        assert_string_equal(src->format, "submission-plist");
        assert_string_equal(src->user, "bob");
        /* Three bad entries, the others are read. */
        assert_int_equal(src->status, MF_SRC_MALFORMED);
        assert_non_null(strstr(src->error, path));
        assert_non_null(strstr(src->error, "smtpServers[4].serverURL"));
        assert_non_null(strstr(src->error, "2 more problems"));

        assert_int_equal(r->nservers, 6);
        assert_int_equal(r->naccounts, 6);
        const mf_server *s = r->servers;
        assert_string_equal(s[0].hostname, "smtp.example.com");
        assert_string_equal(s[0].username, "alice@example.com");
        assert_int_equal(s[0].port, 587);
        assert_int_equal(s[0].security, MF_SEC_UNKNOWN);
        assert_int_equal(s[0].auth, MF_AUTH_UNKNOWN);
        assert_string_equal(s[0].client, "mailmate");
        assert_string_equal(s[0].identifier, "smtp://alice%40example.com@smtp.example.com");
        assert_false(s[0].flags & MF_FLAG_DEFAULT_PORT);
        assert_true(s[0].flags & MF_FLAG_DUPLICATE);

        assert_string_equal(s[1].hostname, "smtp.example.org");
        assert_string_equal(s[1].username, "bob");
        assert_int_equal(s[1].security, MF_SEC_TLS);
        assert_int_equal(s[1].port, 465);
        assert_string_equal(s[1].identifier, "smtps://bob@smtp.example.org");

        assert_string_equal(s[2].hostname, "smtp.example.net");
        assert_true(s[2].flags & MF_FLAG_HOSTNAME_WHITESPACE);
        assert_true(s[2].flags & MF_FLAG_HOSTNAME_CASE);
        assert_int_equal(s[2].port, 465);
        assert_true(s[2].flags & MF_FLAG_DEFAULT_PORT);

        assert_null(s[3].username);
        assert_int_equal(s[3].auth, MF_AUTH_NONE);
        assert_int_equal(s[3].port, 587);
        assert_true(s[3].flags & MF_FLAG_DEFAULT_PORT);

        assert_true(s[4].flags & MF_FLAG_DUPLICATE);
        /* The port key wins over the URL's port. */
        assert_int_equal(s[5].port, 26);

        for (size_t i = 0; i < r->nservers; i++) {
            assert_false(s[i].flags & MF_FLAG_UNUSED);
            const mf_account *a = &r->accounts[i];
            assert_string_equal(a->smtp, s[i].id);
            assert_string_equal(a->type, "other");
            assert_string_equal(a->client, "mailmate");
            assert_string_equal(a->smtp_ref, s[i].identifier);
            assert_false(a->flags & MF_FLAG_DANGLING);
        }
        assert_int_equal(r->accounts[0].emails.n, 1);
        assert_string_equal(r->accounts[0].emails.v[0], "alice@example.com");
        assert_int_equal(r->accounts[1].emails.n, 0); /* "bob" is not an address */
        assert_no_secrets(r);
        mf_report_free(r);
        mft_rm_tree(home);
        free(path);
        free(home);
    }
}

static void test_bad_files(void **state)
{
    (void)state;
    char *home = mft_must_scratch("mf-mailmate");
    char *path = sub_path(home);

    /* Nothing there: no record. */
    mf_report *r = scan_home(home, 0);
    assert_int_equal(r->nsources, 0);
    mf_report_free(r);

    /* A folder where the file should be. */
    mft_must_mkdirs(path);
    r = scan_home(home, 0);
    assert_int_equal(r->nsources, 1);
    assert_int_equal(r->sources[0].status, MF_SRC_UNREADABLE);
    mf_report_free(r);
    mft_rm_tree(path);

    /* Truncated XML. */
    plist_t p = sample();
    char *x = NULL;
    uint32_t n = 0;
    plist_to_xml(p, &x, &n);
    mft_must_write(path, x, n / 2);
    r = scan_home(home, 0);
    assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED);
    assert_int_equal(r->nservers, 0);
    mf_report_free(r);

    /* Too large. */
    mft_must_write(path, x, n);
    r = scan_home(home, n - 1);
    assert_int_equal(r->sources[0].status, MF_SRC_TOO_LARGE);
    mf_report_free(r);
    plist_to_xml_free(x);
    plist_free(p);

    /* Root of the wrong type; smtpServers of the wrong type; no smtpServers. */
    p = plist_new_array();
    mft_must_write_plist(path, p, true);
    plist_free(p);
    r = scan_home(home, 0);
    assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED);
    assert_non_null(strstr(r->sources[0].error, "top level is an array"));
    mf_report_free(r);

    p = submission(plist_new_dict());
    mft_must_write_plist(path, p, false);
    plist_free(p);
    r = scan_home(home, 0);
    assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED);
    assert_non_null(strstr(r->sources[0].error, "smtpServers is a dict"));
    mf_report_free(r);

    p = plist_new_dict();
    mft_must_write_plist(path, p, false);
    plist_free(p);
    r = scan_home(home, 0);
    assert_int_equal(r->nsources, 1);
    assert_int_equal(r->sources[0].status, MF_SRC_OK);
    assert_int_equal(r->nservers, 0);
    mf_report_free(r);

    mft_rm_tree(home);
    free(path);
    free(home);
}

/* The memory entry point on its own, as the fuzz target drives it. */
static void test_parse_memory(void **state)
{
    (void)state;
    mf_report *r = mf_report_new();
    int idx;
    assert_int_equal(mf_report_add_source(r, "u", "mailmate", "submission-plist", "mem", &idx),
                     MF_OK);
    mf_error err;
    assert_int_equal(mf_mailmate_parse(r, idx, "garbage", 7, &err), MF_ERR_PARSE);
    assert_int_equal(r->sources[idx].status, MF_SRC_MALFORMED);
    assert_string_equal(r->sources[idx].error,
                        "mem: not a property list: neither binary (bplist00) nor XML");
    mf_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_parse_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
