/* test_privacy.c: agent/privacy.c — pseudonymised reports. The expected pseudonyms were
 * computed outside mailfleet, with
 *   printf '%s' alice | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102…0f
 * (first 16 hex digits), the command docs/configuration.md gives administrators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "privacy.h"
#include "report_json.h"

#include <stdlib.h>
#include <string.h>

static const unsigned char key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

#define ALICE      "u-6457555a292cb5d3"
#define BOB        "u-70578d7366ae542c"
#define ALICE_ADDR "u-5d1fc068857810a7@example.com"
#define CAROL_ADDR "u-c7dc708d35a470b8@example.com"

static void test_pseudonym_values(void **state)
{
    (void)state;
    char *p = mf_privacy_pseudonym(key, sizeof(key), "alice");
    assert_string_equal(p, ALICE);
    free(p);
    /* an address: hashed lower-cased, the domain kept (lower-cased) */
    p = mf_privacy_pseudonym(key, sizeof(key), "Alice@Example.COM");
    assert_string_equal(p, ALICE_ADDR);
    free(p);
    p = mf_privacy_pseudonym(key, sizeof(key), "alice@example.com");
    assert_string_equal(p, ALICE_ADDR);
    free(p);
    /* user names are compared as stored: another case is another name */
    p = mf_privacy_pseudonym(key, sizeof(key), "Alice");
    assert_string_not_equal(p, ALICE);
    free(p);
    /* another key, another pseudonym */
    unsigned char other[16] = {1};
    p = mf_privacy_pseudonym(other, sizeof(other), "alice");
    assert_string_not_equal(p, ALICE);
    assert_int_equal(strlen(p), 2 + MF_PSEUDONYM_HEX);
    free(p);
    /* '@' at an edge is not an address */
    p = mf_privacy_pseudonym(key, sizeof(key), "@alice");
    assert_int_equal(strlen(p), 2 + MF_PSEUDONYM_HEX);
    free(p);
    assert_null(mf_privacy_pseudonym(key, sizeof(key), NULL));
}

static mf_report *sample(void)
{
    mf_report *r = mf_report_new();
    assert_non_null(r);
    r->host.hostname = strdup("Alices-MacBook-Pro");
    r->host.id = strdup("C02XXXXXXXXX");
    int src;
    assert_int_equal(mf_report_add_source(r, "alice", "apple-mail", "accounts-plist",
                                          "/Users/alice/Library/Mail/V10/MailData/Accounts.plist",
                                          &src),
                     MF_OK);
    mf_report_source_fail(r, src, MF_SRC_MALFORMED,
                          "/Users/alice/Library/Mail/x: cannot read (bob too)");
    mf_server *s = mf_report_add_server(r, src); /* user and client come from the source */
    assert_string_equal(s->user, "alice");
    assert_int_equal(mf_server_set_hostname(s, "smtp.example.com"), MF_OK);
    s->port = 587;
    s->username = strdup("Alice@Example.com");
    s->description = strdup("Work (alice@example.com), used by bob");
    s->identifier = strdup("smtp.example.com:alice");
    mf_server *s2 = mf_report_add_server(r, src);
    assert_int_equal(mf_server_set_hostname(s2, "smtp.al.example"), MF_OK);
    s2->username = strdup("bob");
    s2->description = strdup("al, also alice.old and alice-mbp, not alice_x");
    mf_account *a = mf_report_add_account(r, src);
    a->type = strdup("imap");
    a->description = strdup("carol.secret@example.com.");
    assert_int_equal(mf_strv_push(&a->emails, "alice@example.com"), MF_OK);
    assert_int_equal(mf_strv_push(&a->emails, "Carol.Secret@example.com"), MF_OK);
    a->smtp = strdup("s1");
    a->smtp_ref = strdup("smtp.example.com:alice");
    mf_report_compute_findings(r);
    return r;
}

static void test_report(void **state)
{
    (void)state;
    mf_report *r = sample();
    assert_int_equal(mf_privacy_pseudonymise(r, key, sizeof(key), 0), MF_OK);
    assert_string_equal(r->sources[0].user, ALICE);
    assert_string_equal(r->sources[0].path,
                        "/Users/" ALICE "/Library/Mail/V10/MailData/Accounts.plist");
    assert_string_equal(r->sources[0].error,
                        "/Users/" ALICE "/Library/Mail/x: cannot read (" BOB " too)");
    mf_server *s = &r->servers[0];
    assert_string_equal(s->user, ALICE);
    assert_string_equal(s->username, ALICE_ADDR);
    assert_string_equal(s->description, "Work (" ALICE_ADDR "), used by " BOB);
    assert_string_equal(s->identifier, "smtp.example.com:" ALICE);
    assert_string_equal(s->hostname, "smtp.example.com"); /* machines stay */
    assert_int_equal(s->port, 587);
    /* whole words only; '.' and '-' separate words, '_' does not */
    assert_string_equal(r->servers[1].hostname, "smtp.al.example");
    assert_string_equal(r->servers[1].username, BOB);
    assert_string_equal(r->servers[1].description,
                        "al, also " ALICE ".old and " ALICE "-mbp, not alice_x");
    mf_account *a = &r->accounts[0];
    assert_string_equal(a->user, ALICE);
    assert_string_equal(a->emails.v[0], ALICE_ADDR);
    assert_string_equal(a->emails.v[1], CAROL_ADDR);
    assert_string_equal(a->description, CAROL_ADDR "."); /* the sentence's dot stays out */
    assert_string_equal(a->smtp_ref, "smtp.example.com:" ALICE);
    assert_string_equal(a->smtp, "s1"); /* references survive */
    /* The host is left alone unless asked. */
    assert_string_equal(r->host.hostname, "Alices-MacBook-Pro");
    assert_string_equal(r->host.id, "C02XXXXXXXXX");

    /* The report still encodes and decodes strictly, and no clear name is left. */
    char *text = mf_report_encode(r, 0);
    assert_non_null(text);
    assert_null(strstr(text, "alice@"));
    assert_null(strstr(text, "alice\""));
    assert_null(strstr(text, "/alice"));
    assert_null(strstr(text, "Alice@"));
    assert_null(strstr(text, "carol"));
    assert_null(strstr(text, "\"bob\""));
    mf_report *back = NULL;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_report_decode(&back, text, strlen(text), &err), MF_OK);
    mf_report_free(back);
    free(text);
    mf_report_free(r);

    /* With MF_PRIVACY_HOSTNAME the computer name goes too. */
    r = sample();
    assert_int_equal(mf_privacy_pseudonymise(r, key, sizeof(key), MF_PRIVACY_HOSTNAME), MF_OK);
    assert_true(strncmp(r->host.hostname, "u-", 2) == 0);
    assert_string_equal(r->host.id, "C02XXXXXXXXX");
    mf_report_free(r);
}

/* Stable across the fleet: two Macs, same names, same pseudonyms. */
static void test_stable(void **state)
{
    (void)state;
    mf_report *a = sample(), *b = sample();
    assert_string_not_equal(a->report_id, b->report_id);
    assert_int_equal(mf_privacy_pseudonymise(a, key, sizeof(key), 0), MF_OK);
    assert_int_equal(mf_privacy_pseudonymise(b, key, sizeof(key), 0), MF_OK);
    assert_string_equal(a->servers[0].username, b->servers[0].username);
    assert_string_equal(a->accounts[0].emails.v[1], b->accounts[0].emails.v[1]);
    assert_string_equal(a->sources[0].path, b->sources[0].path);
    mf_report_free(a);
    mf_report_free(b);
}

/* An empty report and absent fields are fine. */
static void test_empty(void **state)
{
    (void)state;
    mf_report *r = mf_report_new();
    assert_int_equal(mf_privacy_pseudonymise(r, key, sizeof(key), MF_PRIVACY_HOSTNAME), MF_OK);
    assert_null(r->host.hostname);
    mf_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pseudonym_values),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_stable),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
