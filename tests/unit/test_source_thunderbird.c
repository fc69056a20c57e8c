/* test_source_thunderbird.c: agent/source_thunderbird.c — Thunderbird/Betterbird/Postbox
 * discovery over fixture homes written into a mkdtemp folder: profiles.ini handling,
 * prefs.js + user.js, Mozilla defaults and legacy prefs, identity links, broken input,
 * and that no password reaches the report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fileio.h"
#include "report.h"
#include "testsupport.h"
#include "report_json.h"
#include "source.h"
#include "util.h"

#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ fixture helpers */

typedef struct fixture {
    char root[64]; /* the mkdtemp folder */
    char *home;    /* root/home/alice */
    mf_report *r;
} fixture;

static void mkdirs(const char *path)
{
    if (mft_mkdirs(path) != 0)
        fail_msg("mkdir %s: %s", path, strerror(errno));
}

/* Write text to home/rel, creating folders. */
static void put(fixture *f, const char *rel, const char *text)
{
    char *path = mf_path_join(f->home, rel);
    assert_non_null(path);
    char *dir = mf_strdup(path);
    *strrchr(dir, '/') = '\0';
    mkdirs(dir);
    free(dir);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        fail_msg("fopen %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
    free(path);
}

/* A fresh report with the host fields the strict decoder requires. */
static mf_report *new_report(void)
{
    mf_report *r = mf_report_new();
    assert_non_null(r);
    r->host.id = mf_strdup("TESTSERIAL");
    r->host.hostname = mf_strdup("test-mac");
    r->host.os_name = mf_strdup("macOS");
    r->host.os_version = mf_strdup("14.5");
    return r;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    mf_strlcpy(f->root, "/tmp/mf-tb-XXXXXX", sizeof(f->root));
    assert_non_null(mkdtemp(f->root));
    f->home = mf_path_join(f->root, "home/alice");
    mkdirs(f->home);
    f->r = new_report();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    mft_rm_tree(f->root);
    free(f->home);
    mf_report_free(f->r);
    free(f);
    return 0;
}

static void scan_home(fixture *f, size_t cap)
{
    mf_home h = {.user = "alice", .path = f->home};
    mf_scan_opts o = {.file_cap = cap};
    assert_int_equal(mf_source_thunderbird.scan(f->r, &h, &o), MF_OK);
    mf_report_compute_findings(f->r);
}

/* The source whose path ends with suffix (exactly one must). */
static const mf_source *source_at(const fixture *f, const char *suffix, int *idx)
{
    const mf_source *hit = NULL;
    for (size_t i = 0; i < f->r->nsources; i++)
        if (mf_str_has_suffix(f->r->sources[i].path, suffix)) {
            if (hit)
                fail_msg("two sources end with %s", suffix);
            hit = &f->r->sources[i];
            if (idx)
                *idx = (int)i;
        }
    if (!hit)
        fail_msg("no source ends with %s", suffix);
    return hit;
}

static const mf_server *server_by_ident(const fixture *f, int src, const char *key)
{
    for (size_t i = 0; i < f->r->nservers; i++)
        if (f->r->servers[i].source == src && mf_streq(f->r->servers[i].identifier, key))
            return &f->r->servers[i];
    fail_msg("no server %s in source %d", key, src);
    return NULL;
}

static const mf_account *account_by_email(const fixture *f, const char *email)
{
    for (size_t i = 0; i < f->r->naccounts; i++)
        if (mf_strv_contains(&f->r->accounts[i].emails, email))
            return &f->r->accounts[i];
    fail_msg("no account for %s", email);
    return NULL;
}

/* Encode the report and decode it strictly: everything the source wrote must be valid
 * for the collector. Returns the JSON (caller frees). */
static char *roundtrip(const fixture *f)
{
    char *json = mf_report_encode(f->r, 0);
    assert_non_null(json);
    mf_report *back = NULL;
    mf_error err;
    mf_error_clear(&err);
    if (mf_report_decode(&back, json, strlen(json), &err) != MF_OK) {
        char msg[1024];
        fail_msg("decode: %s", mf_error_format(&err, msg, sizeof(msg)));
    }
    assert_int_equal(back->nsources, f->r->nsources);
    assert_int_equal(back->nservers, f->r->nservers);
    assert_int_equal(back->naccounts, f->r->naccounts);
    mf_report_free(back);
    return json;
}

/* ------------------------------------------------------------------ fixtures */

#define PROFILE_A                                                                                  \
    "// Mozilla User Preferences\n"                                                                \
    "user_pref(\"mail.account.account1.identities\", \"id1\");\n"                                  \
    "user_pref(\"mail.account.account1.server\", \"server1\");\n"                                  \
    "user_pref(\"mail.account.account2.identities\", \"id2,id3\");\n"                              \
    "user_pref(\"mail.account.account2.server\", \"server2\");\n"                                  \
    "user_pref(\"mail.account.account3.server\", \"server3\");\n"                                  \
    "user_pref(\"mail.accountmanager.accounts\", \"account1,account2,account3\");\n"               \
    "user_pref(\"mail.identity.id1.fullName\", \"Alice Example\");\n"                              \
    "user_pref(\"mail.identity.id1.smtpServer\", \"smtp1\");\n"                                    \
    "user_pref(\"mail.identity.id1.useremail\", \"alice@example.com\");\n"                         \
    "user_pref(\"mail.identity.id2.smtpServer\", \"\");\n"                                         \
    "user_pref(\"mail.identity.id2.useremail\", \"alice@pop.example\");\n"                         \
    "user_pref(\"mail.identity.id3.smtpServer\", \"smtp9\");\n"                                    \
    "user_pref(\"mail.identity.id3.useremail\", \"dangling@example.com\");\n"                      \
    "user_pref(\"mail.identity.id9.smtpServer\", \"smtp1\");\n"                                    \
    "user_pref(\"mail.identity.id9.useremail\", \"orphan@example.com\");\n"                        \
    "user_pref(\"mail.server.server1.hostname\", \"imap.example.com\");\n"                         \
    "user_pref(\"mail.server.server1.type\", \"imap\");\n"                                         \
    "user_pref(\"mail.server.server2.type\", \"pop3\");\n"                                         \
    "user_pref(\"mail.server.server3.type\", \"none\");\n"                                         \
    "user_pref(\"mail.smtp.defaultserver\", \"smtp2\");\n"                                         \
    "user_pref(\"mail.smtpserver.smtp1.authMethod\", 3);\n"                                        \
    "user_pref(\"mail.smtpserver.smtp1.description\", \"Work\");\n"                                \
    "user_pref(\"mail.smtpserver.smtp1.hostname\", \"SMTP.Example.com \");\n"                      \
    "user_pref(\"mail.smtpserver.smtp1.port\", 587);\n"                                            \
    "user_pref(\"mail.smtpserver.smtp1.try_ssl\", 2);\n"                                           \
    "user_pref(\"mail.smtpserver.smtp1.username\", \"alice@example.com\");\n"                      \
    "user_pref(\"mail.smtpserver.smtp2.hostname\", \"smtp.mail.me.com\");\n"                       \
    "user_pref(\"mail.smtpserver.smtp2.try_ssl\", 1);\n"                                           \
    "user_pref(\"mail.smtpservers\", \"smtp1,smtp2\");\n"

static const char profiles_ini_two[] = "[Profile1]\n"
                                       "Name=work\n"
                                       "IsRelative=0\n"
                                       "Path=%s\n"
                                       "\n"
                                       "[Profile0]\n"
                                       "Name=default\n"
                                       "IsRelative=1\n"
                                       "Path=Profiles/a.default\n"
                                       "Default=1\n"
                                       "\n"
                                       "[General]\n"
                                       "StartWithLastProfile=1\n";

/* ------------------------------------------------------------------ tests */

static void test_two_profiles(void **state)
{
    fixture *f = *state;
    put(f, "Library/Thunderbird/Profiles/a.default/prefs.js", PROFILE_A);
    /* The second profile lives outside the home, named by an absolute path. */
    char *work = mf_path_join(f->root, "volume/Work Profile");
    mkdirs(work);
    char ini[1024];
    snprintf(ini, sizeof(ini), profiles_ini_two, work);
    put(f, "Library/Thunderbird/profiles.ini", ini);
    char *wprefs = mf_path_join(work, "prefs.js");
    FILE *fp = fopen(wprefs, "w");
    assert_non_null(fp);
    fputs("user_pref(\"mail.smtpserver.smtp1.hostname\", \"mail.work.example\");\n"
          "user_pref(\"mail.smtpserver.smtp1.port\", 465);\n"
          "user_pref(\"mail.smtpserver.smtp1.try_ssl\", 3);\n"
          "user_pref(\"mail.smtpserver.smtp1.authMethod\", 10);\n"
          "user_pref(\"mail.smtpservers\", \"smtp1\");\n",
          fp);
    fclose(fp);
    scan_home(f, 0);

    /* profiles.ini, then each profile's prefs.js in the ini's order. */
    assert_int_equal(f->r->nsources, 3);
    int ini_idx = -1, a_idx = -1, w_idx = -1;
    const mf_source *s = source_at(f, "Library/Thunderbird/profiles.ini", &ini_idx);
    assert_string_equal(s->format, "profiles-ini");
    assert_string_equal(s->client, "thunderbird");
    assert_string_equal(s->user, "alice");
    assert_int_equal(s->status, MF_SRC_OK);
    s = source_at(f, "Profiles/a.default/prefs.js", &a_idx);
    assert_string_equal(s->format, "prefs-js");
    assert_int_equal(s->status, MF_SRC_OK);
    assert_null(s->error);
    s = source_at(f, "volume/Work Profile/prefs.js", &w_idx);
    assert_int_equal(s->status, MF_SRC_OK);
    assert_true(ini_idx == 0 && w_idx == 1 && a_idx == 2);

    /* Profile A: smtp1 as written (host cleaned), smtp2 with defaults. */
    assert_int_equal(f->r->nservers, 3);
    const mf_server *s1 = server_by_ident(f, a_idx, "smtp1");
    assert_string_equal(s1->hostname, "smtp.example.com");
    assert_string_equal(s1->hostname_raw, "SMTP.Example.com ");
    assert_true(s1->flags & MF_FLAG_HOSTNAME_WHITESPACE);
    assert_true(s1->flags & MF_FLAG_HOSTNAME_CASE);
    assert_int_equal(s1->port, 587);
    assert_false(s1->flags & MF_FLAG_DEFAULT_PORT);
    assert_int_equal(s1->security, MF_SEC_STARTTLS);
    assert_int_equal(s1->auth, MF_AUTH_PASSWORD);
    assert_string_equal(s1->username, "alice@example.com");
    assert_string_equal(s1->description, "Work");
    assert_string_equal(s1->client, "thunderbird");
    const mf_server *s2 = server_by_ident(f, a_idx, "smtp2");
    assert_string_equal(s2->hostname, "smtp.mail.me.com");
    assert_int_equal(s2->port, 587); /* no port: Thunderbird's default without SSL/TLS */
    assert_true(s2->flags & MF_FLAG_DEFAULT_PORT);
    assert_int_equal(s2->security, MF_SEC_STARTTLS_OPTIONAL); /* legacy try_ssl = 1 */
    assert_true(s2->flags & MF_FLAG_STARTTLS_OPTIONAL);
    assert_int_equal(s2->auth, MF_AUTH_PASSWORD); /* no authMethod: 3 */
    assert_null(s2->username);
    assert_false(s2->flags & MF_FLAG_PORT_25);

    /* Work profile. */
    const mf_server *w1 = server_by_ident(f, w_idx, "smtp1");
    assert_string_equal(w1->hostname, "mail.work.example");
    assert_int_equal(w1->port, 465);
    assert_int_equal(w1->security, MF_SEC_TLS);
    assert_int_equal(w1->auth, MF_AUTH_OAUTH2);
    assert_true(w1->flags & MF_FLAG_UNUSED);

    /* Accounts: id1 (imap), id2 and id3 (pop); the Local Folders account (none) and
     * the orphan identity id9 (no account lists it) are not accounts. */
    assert_int_equal(f->r->naccounts, 3);
    const mf_account *a1 = account_by_email(f, "alice@example.com");
    assert_string_equal(a1->type, "imap");
    assert_string_equal(a1->description, "Alice Example");
    assert_string_equal(a1->smtp, s1->id);
    assert_string_equal(a1->smtp_ref, "smtp1");
    assert_int_equal(a1->source, a_idx);
    assert_false(a1->flags & MF_FLAG_DANGLING);
    const mf_account *a2 = account_by_email(f, "alice@pop.example");
    assert_string_equal(a2->type, "pop");
    assert_string_equal(a2->description, "alice@pop.example");
    assert_string_equal(a2->smtp, s2->id); /* empty smtpServer: the default server */
    assert_string_equal(a2->smtp_ref, "(default) smtp2");
    assert_false(a2->flags & MF_FLAG_DANGLING);
    const mf_account *a3 = account_by_email(f, "dangling@example.com");
    assert_null(a3->smtp);
    assert_string_equal(a3->smtp_ref, "smtp9");
    assert_true(a3->flags & MF_FLAG_DANGLING);
    assert_false(s1->flags & MF_FLAG_UNUSED);
    assert_false(s2->flags & MF_FLAG_UNUSED);

    free(roundtrip(f));
    free(work);
    free(wprefs);
}

static void test_defaults_and_legacy(void **state)
{
    fixture *f = *state;
    put(f, ".thunderbird/profiles.ini", "[Profile0]\nIsRelative=1\nPath=p\n");
    put(f, ".thunderbird/p/prefs.js",
        "user_pref(\"mail.smtpserver.default.try_ssl\", 2);\n"
        "user_pref(\"mail.smtpserver.default.authMethod\", 4);\n"
        "user_pref(\"mail.smtpserver.bare.hostname\", \"bare.example\");\n"
        "user_pref(\"mail.smtpserver.ssl.hostname\", \"ssl.example\");\n"
        "user_pref(\"mail.smtpserver.ssl.try_ssl\", 3);\n"
        "user_pref(\"mail.smtpserver.ssl.port\", 0);\n"
        "user_pref(\"mail.smtpserver.old0.hostname\", \"old0.example\");\n"
        "user_pref(\"mail.smtpserver.old0.auth_method\", 0);\n"
        "user_pref(\"mail.smtpserver.old1.hostname\", \"old1.example\");\n"
        "user_pref(\"mail.smtpserver.old1.auth_method\", 1);\n"
        "user_pref(\"mail.smtpserver.oldsec.hostname\", \"oldsec.example\");\n"
        "user_pref(\"mail.smtpserver.oldsec.useSecAuth\", true);\n"
        "user_pref(\"mail.smtpserver.both.hostname\", \"both.example\");\n"
        "user_pref(\"mail.smtpserver.both.auth_method\", 0);\n"
        "user_pref(\"mail.smtpserver.both.authMethod\", 6);\n"
        "user_pref(\"mail.smtpserver.strs.hostname\", \"strs.example\");\n"
        "user_pref(\"mail.smtpserver.strs.port\", \"587\");\n" /* wrong type: ignored */
        "user_pref(\"mail.smtpserver.strs.try_ssl\", \"3\");\n"
        "user_pref(\"mail.smtpserver.odd.hostname\", \"odd.example\");\n"
        "user_pref(\"mail.smtpserver.odd.port\", 70000);\n"
        "user_pref(\"mail.smtpserver.odd.try_ssl\", 7);\n"
        "user_pref(\"mail.smtpserver.odd.authMethod\", 42);\n"
        "user_pref(\"mail.smtpserver.nohost.port\", 587);\n"
        "user_pref(\"mail.smtpservers\", "
        "\"bare,ssl,old0,old1,oldsec,both,strs,odd,nohost,default\");\n");
    scan_home(f, 0);
    int idx;
    assert_int_equal(source_at(f, ".thunderbird/p/prefs.js", &idx)->status, MF_SRC_OK);
    assert_int_equal(f->r->nservers, 9); /* "default" in the list is not a server */

    const mf_server *s = server_by_ident(f, idx, "bare");
    assert_int_equal(s->security, MF_SEC_STARTTLS);        /* mail.smtpserver.default.try_ssl */
    assert_int_equal(s->auth, MF_AUTH_PASSWORD_ENCRYPTED); /* ....default.authMethod */
    assert_int_equal(s->port, 587);
    assert_true(s->flags & MF_FLAG_DEFAULT_PORT);
    s = server_by_ident(f, idx, "ssl");
    assert_int_equal(s->security, MF_SEC_TLS);
    assert_int_equal(s->port, 465);
    assert_true(s->flags & MF_FLAG_DEFAULT_PORT);
    s = server_by_ident(f, idx, "old0");
    assert_int_equal(s->auth, MF_AUTH_NONE);
    s = server_by_ident(f, idx, "old1");
    assert_int_equal(s->auth, MF_AUTH_PASSWORD);
    s = server_by_ident(f, idx, "oldsec");
    assert_int_equal(s->auth, MF_AUTH_PASSWORD_ENCRYPTED);
    s = server_by_ident(f, idx, "both");
    assert_int_equal(s->auth, MF_AUTH_NTLM); /* authMethod wins over the legacy prefs */
    s = server_by_ident(f, idx, "strs");
    assert_int_equal(s->port, 587);
    assert_true(s->flags & MF_FLAG_DEFAULT_PORT);
    assert_int_equal(s->security, MF_SEC_STARTTLS); /* the string "3" is not an int */
    s = server_by_ident(f, idx, "odd");
    assert_int_equal(s->security, MF_SEC_UNKNOWN);
    assert_int_equal(s->auth, MF_AUTH_UNKNOWN);
    assert_int_equal(s->port, 587);
    assert_true(s->flags & MF_FLAG_DEFAULT_PORT);
    s = server_by_ident(f, idx, "nohost");
    assert_null(s->hostname);
    assert_true(s->flags & MF_FLAG_NO_HOSTNAME);
    assert_int_equal(s->port, 587);
    free(roundtrip(f));
}

static void test_auth_table(void **state)
{
    fixture *f = *state;
    static const struct {
        int method;
        mf_auth want;
    } table[] = {
        {1, MF_AUTH_NONE},        {2, MF_AUTH_PASSWORD},
        {3, MF_AUTH_PASSWORD},    {4, MF_AUTH_PASSWORD_ENCRYPTED},
        {5, MF_AUTH_GSSAPI},      {6, MF_AUTH_NTLM},
        {7, MF_AUTH_CLIENT_CERT}, {8, MF_AUTH_PASSWORD_ENCRYPTED},
        {9, MF_AUTH_ANY},         {10, MF_AUTH_OAUTH2},
        {0, MF_AUTH_UNKNOWN},     {11, MF_AUTH_UNKNOWN},
        {-1, MF_AUTH_UNKNOWN},
    };
    char prefs[4096];
    size_t n = 0;
    for (size_t i = 0; i < MF_ARRAY_LEN(table); i++)
        n += (size_t)snprintf(prefs + n, sizeof(prefs) - n,
                              "user_pref(\"mail.smtpserver.k%zu.hostname\", \"h%zu\");\n"
                              "user_pref(\"mail.smtpserver.k%zu.authMethod\", %d);\n",
                              i, i, i, table[i].method);
    put(f, ".thunderbird/Profiles/x/prefs.js", prefs); /* no profiles.ini: old layout */
    scan_home(f, 0);
    int idx;
    source_at(f, ".thunderbird/Profiles/x/prefs.js", &idx);
    assert_int_equal(f->r->nservers, MF_ARRAY_LEN(table)); /* all leftovers: none listed */
    for (size_t i = 0; i < MF_ARRAY_LEN(table); i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%zu", i);
        const mf_server *s = server_by_ident(f, idx, key);
        if (s->auth != table[i].want)
            fail_msg("authMethod %d: got %s", table[i].method, mf_auth_name(s->auth));
    }
}

static void test_user_js_overrides(void **state)
{
    fixture *f = *state;
    put(f, "Library/Thunderbird/profiles.ini", "[Profile0]\r\nIsRelative=1\r\nPath=Profiles/u\r\n");
    put(f, "Library/Thunderbird/Profiles/u/prefs.js",
        "user_pref(\"mail.smtpserver.smtp1.hostname\", \"prefs.example\");\n"
        "user_pref(\"mail.smtpserver.smtp1.port\", 25);\n"
        "user_pref(\"mail.smtpservers\", \"smtp1\");\n"
        "user_pref(\"mail.identity.id1.useremail\", \"u@example.com\");\n");
    put(f, "Library/Thunderbird/Profiles/u/user.js",
        "user_pref(\"mail.smtpserver.smtp1.hostname\", \"user.example\");\n"
        "user_pref(\"mail.smtpserver.smtp2.hostname\", \"second.example\");\n"
        "user_pref(\"mail.smtpservers\", \"smtp1,smtp2\");\n"
        "user_pref(\"mail.smtp.defaultserver\", \"smtp2\");\n");
    scan_home(f, 0);
    assert_int_equal(f->r->nsources, 3);
    int pidx, uidx;
    assert_int_equal(source_at(f, "Profiles/u/prefs.js", &pidx)->status, MF_SRC_OK);
    const mf_source *u = source_at(f, "Profiles/u/user.js", &uidx);
    assert_int_equal(u->status, MF_SRC_OK);
    assert_string_equal(u->format, "prefs-js");
    assert_int_equal(uidx, pidx + 1);
    assert_int_equal(f->r->nservers, 2);
    const mf_server *s1 = server_by_ident(f, pidx, "smtp1");
    assert_string_equal(s1->hostname, "user.example");
    assert_int_equal(s1->port, 25); /* still from prefs.js */
    const mf_server *s2 = server_by_ident(f, pidx, "smtp2");
    /* No account prefs at all: the identity counts, of unknown type, and uses the
     * default server that user.js chose. */
    assert_int_equal(f->r->naccounts, 1);
    const mf_account *a = account_by_email(f, "u@example.com");
    assert_null(a->type);
    assert_string_equal(a->smtp, s2->id);
    assert_string_equal(a->smtp_ref, "(default) smtp2");
    free(roundtrip(f));
}

static void test_default_is_first_listed(void **state)
{
    fixture *f = *state;
    put(f, ".thunderbird/Profiles/d/prefs.js",
        "user_pref(\"mail.smtpserver.smtp3.hostname\", \"third.example\");\n"
        "user_pref(\"mail.smtpserver.smtp4.hostname\", \"fourth.example\");\n"
        "user_pref(\"mail.smtpservers\", \"smtp4, smtp3 ,,smtp4\");\n"
        "user_pref(\"mail.identity.id1.useremail\", \"d@example.com\");\n"
        "user_pref(\"mail.identity.id2.useremail\", \"e@example.com\");\n"
        "user_pref(\"mail.identity.id2.smtpServer\", \"smtp3\");\n");
    scan_home(f, 0);
    int idx;
    source_at(f, "Profiles/d/prefs.js", &idx);
    assert_int_equal(f->r->nservers, 2);
    assert_string_equal(f->r->servers[0].identifier, "smtp4"); /* list order */
    const mf_account *a = account_by_email(f, "d@example.com");
    assert_string_equal(a->smtp, server_by_ident(f, idx, "smtp4")->id);
    assert_string_equal(a->smtp_ref, "(default) smtp4");
    a = account_by_email(f, "e@example.com");
    assert_string_equal(a->smtp, server_by_ident(f, idx, "smtp3")->id);

    /* A default that names a missing server is dangling. */
    mf_report_free(f->r);
    f->r = new_report();
    put(f, ".thunderbird/Profiles/d/prefs.js",
        "user_pref(\"mail.smtp.defaultserver\", \"gone\");\n"
        "user_pref(\"mail.smtpserver.smtp1.hostname\", \"h.example\");\n"
        "user_pref(\"mail.identity.id1.useremail\", \"d@example.com\");\n");
    scan_home(f, 0);
    a = account_by_email(f, "d@example.com");
    assert_null(a->smtp);
    assert_string_equal(a->smtp_ref, "(default) gone");
    assert_true(a->flags & MF_FLAG_DANGLING);
    assert_true(f->r->servers[0].flags & MF_FLAG_UNUSED); /* a leftover no one uses */

    /* No server at all: nothing to link, not dangling. */
    mf_report_free(f->r);
    f->r = new_report();
    put(f, ".thunderbird/Profiles/d/prefs.js",
        "user_pref(\"mail.identity.id1.useremail\", \"d@example.com\");\n");
    scan_home(f, 0);
    a = account_by_email(f, "d@example.com");
    assert_null(a->smtp);
    assert_null(a->smtp_ref);
    assert_false(a->flags & MF_FLAG_DANGLING);
}

static void test_syntax_error_keeps_servers(void **state)
{
    fixture *f = *state;
    put(f, "Library/Thunderbird/profiles.ini", "[Profile0]\nIsRelative=1\nPath=Profiles/m\n");
    put(f, "Library/Thunderbird/Profiles/m/prefs.js",
        "user_pref(\"mail.smtpserver.smtp1.hostname\", \"before.example\");\n"
        "user_pref(\"mail.smtpserver.smtp1.port\", 587;\n"
        "user_pref(\"mail.smtpserver.smtp2.hostname\", \"after.example\");\n"
        "user_pref(\"mail.smtpserver.smtp2.port\", \"unterminated);\n"
        "user_pref(\"mail.smtpservers\", \"smtp1,smtp2\");\n");
    scan_home(f, 0);
    int idx;
    const mf_source *s = source_at(f, "Profiles/m/prefs.js", &idx);
    assert_int_equal(s->status, MF_SRC_MALFORMED);
    assert_non_null(s->error);
    assert_non_null(strstr(s->error, "Profiles/m/prefs.js:2:"));
    assert_non_null(strstr(s->error, "expected ')'"));
    assert_non_null(strstr(s->error, "(and 1 more error)"));
    assert_int_equal(f->r->nservers, 2);
    const mf_server *s1 = server_by_ident(f, idx, "smtp1");
    assert_string_equal(s1->hostname, "before.example");
    assert_true(s1->flags & MF_FLAG_DEFAULT_PORT); /* its port line was the bad one */
    assert_string_equal(server_by_ident(f, idx, "smtp2")->hostname, "after.example");
    free(roundtrip(f));
}

static void test_missing_profile_and_bad_ini(void **state)
{
    fixture *f = *state;
    put(f, "Library/Thunderbird/profiles.ini",
        "[Profile0]\nIsRelative=1\nPath=Profiles/gone\n\n"
        "this line is junk\n"
        "[Profile1]\nIsRelative=1\nPath=Profiles/ok\n\n"
        "[Profile2]\nIsRelative=1\nPath=Profiles/noprefs\n\n"
        "[Profile3]\nName=no path here\n\n"
        "[Profile4]\nIsRelative=1\nPath=../../../../etc\n\n"
        "[Profile5]\nIsRelative=0\nPath=Ym9va21hcms=\n\n"
        "[Profile6]\nIsRelative=1\nPath=Profiles/ok/../ok\n");
    put(f, "Library/Thunderbird/Profiles/ok/prefs.js",
        "user_pref(\"mail.smtpserver.smtp1.hostname\", \"ok.example\");\n");
    mkdirs(f->home);
    char *np = mf_path_join(f->home, "Library/Thunderbird/Profiles/noprefs");
    mkdirs(np);
    free(np);
    scan_home(f, 0);

    const mf_source *s = source_at(f, "profiles.ini", NULL);
    assert_int_equal(s->status, MF_SRC_MALFORMED);
    assert_non_null(strstr(s->error, "profiles.ini:5:1: expected key=value"));
    s = source_at(f, "Profiles/gone/prefs.js", NULL);
    assert_int_equal(s->status, MF_SRC_MISSING);
    assert_non_null(strstr(s->error, "does not exist"));
    s = source_at(f, "Profiles/noprefs/prefs.js", NULL);
    assert_int_equal(s->status, MF_SRC_MISSING);
    int idx;
    s = source_at(f, "Profiles/ok/prefs.js", &idx);
    assert_int_equal(s->status, MF_SRC_OK);
    s = source_at(f, "etc/prefs.js", NULL);
    assert_int_equal(s->status, MF_SRC_UNREADABLE);
    assert_non_null(strstr(s->error, "climbs out"));
    s = source_at(f, "Ym9va21hcms=/prefs.js", NULL);
    assert_int_equal(s->status, MF_SRC_UNREADABLE);
    assert_non_null(strstr(s->error, "not an absolute path"));
    /* Profile6 is the same folder as Profile1: read once. Profile3 has no Path. */
    assert_int_equal(f->r->nsources, 6);
    assert_int_equal(f->r->nservers, 1);
    assert_string_equal(server_by_ident(f, idx, "smtp1")->hostname, "ok.example");
    free(roundtrip(f));
}

static void test_ini_no_path_only(void **state)
{
    fixture *f = *state;
    put(f, ".thunderbird/profiles.ini", "[Profile0]\nName=x\n");
    scan_home(f, 0);
    assert_int_equal(f->r->nsources, 1);
    const mf_source *s = source_at(f, "profiles.ini", NULL);
    assert_int_equal(s->status, MF_SRC_MALFORMED);
    assert_non_null(strstr(s->error, "[Profile0] has no Path"));
}

static void test_password_never_reported(void **state)
{
    fixture *f = *state;
    put(f, ".thunderbird/profiles.ini", "[Profile0]\nIsRelative=1\nPath=pw\n");
    put(f, ".thunderbird/pw/prefs.js",
        "user_pref(\"mail.smtpserver.smtp1.hostname\", \"pw.example\");\n"
        "user_pref(\"mail.smtpserver.smtp1.password\", \"Hunter2-SMTP-secret\");\n"
        "user_pref(\"mail.smtpserver.smtp1.username\", \"bob\");\n"
        "user_pref(\"mail.server.server1.password\", \"Hunter2-IMAP-secret\");\n"
        "user_pref(\"mail.smtpserver.smtp2.Password\", \"Hunter2-case-secret\");\n"
        "user_pref(\"mail.smtpserver.smtp2.hostname\", \"h2.example\");\n"
        /* Any pref whose name says "password" is dropped before anything reads the
         * set, even one the mapping would otherwise use. */
        "user_pref(\"mail.smtpserver.password.hostname\", \"Hunter2-key-secret\");\n"
        "user_pref(\"mail.smtpservers\", \"smtp1,smtp2\");\n");
    put(f, ".thunderbird/pw/user.js",
        "user_pref(\"mail.smtpserver.smtp2.password\", \"Hunter2-userjs-secret\");\n");
    put(f, ".thunderbird/pw/logins.json", "{\"logins\":[{\"encryptedPassword\":\"Hunter2\"}]}");
    scan_home(f, 0);
    assert_int_equal(f->r->nservers, 2);
    char *json = roundtrip(f);
    assert_null(strstr(json, "Hunter2"));
    assert_non_null(strstr(json, "pw.example"));
    assert_non_null(strstr(json, "\"bob\""));
    free(json);
}

static void test_postbox_and_legacy_layout(void **state)
{
    fixture *f = *state;
    put(f, "Library/Application Support/PostboxApp/Profiles/b2.default/prefs.js",
        "user_pref(\"mail.smtpserver.smtp1.hostname\", \"pb.example\");\n"
        "user_pref(\"mail.smtpservers\", \"smtp1\");\n");
    put(f, "Library/Application Support/PostboxApp/Profiles/a1.default/prefs.js",
        "user_pref(\"mail.smtpserver.smtp1.hostname\", \"pa.example\");\n");
    /* A folder without prefs.js is not a profile: nothing named it. */
    char *empty = mf_path_join(f->home, "Library/Application Support/PostboxApp/Profiles/junk");
    mkdirs(empty);
    free(empty);
    scan_home(f, 0);
    assert_int_equal(f->r->nsources, 2);
    assert_true(mf_str_has_suffix(f->r->sources[0].path, "a1.default/prefs.js")); /* sorted */
    assert_string_equal(f->r->sources[0].client, "postbox");
    assert_string_equal(f->r->servers[0].client, "postbox");
    assert_string_equal(f->r->servers[0].hostname, "pa.example");
    assert_string_equal(f->r->servers[1].hostname, "pb.example");
}

static void test_shared_profile_read_once(void **state)
{
    fixture *f = *state;
    /* ~/.thunderbird and ~/Library/Thunderbird both name one absolute folder. */
    char *shared = mf_path_join(f->home, "shared");
    mkdirs(shared);
    char ini[512];
    snprintf(ini, sizeof(ini), "[Profile0]\nIsRelative=0\nPath=%s\n", shared);
    put(f, "Library/Thunderbird/profiles.ini", ini);
    put(f, ".thunderbird/profiles.ini", ini);
    put(f, "shared/prefs.js", "user_pref(\"mail.smtpserver.s.hostname\", \"s.example\");\n");
    scan_home(f, 0);
    assert_int_equal(f->r->nsources, 3); /* two profiles.ini, one prefs.js */
    assert_int_equal(f->r->nservers, 1);
    free(shared);
}

static void test_too_large_and_unreadable(void **state)
{
    fixture *f = *state;
    put(f, ".thunderbird/profiles.ini", "[Profile0]\nIsRelative=1\nPath=big\n");
    char text[2048];
    size_t n = 0;
    while (n < 1500)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "user_pref(\"mail.smtpserver.s.hostname\", \"x\");\n");
    put(f, ".thunderbird/big/prefs.js", text);
    scan_home(f, 1024);
    const mf_source *s = source_at(f, "big/prefs.js", NULL);
    assert_int_equal(s->status, MF_SRC_TOO_LARGE);
    assert_non_null(strstr(s->error, "big/prefs.js"));
    assert_int_equal(f->r->nservers, 0);

    /* A prefs.js that is a folder cannot be read. */
    mf_report_free(f->r);
    f->r = new_report();
    char *p = mf_path_join(f->home, ".thunderbird/big/prefs.js");
    assert_int_equal(unlink(p), 0);
    mkdirs(p);
    free(p);
    scan_home(f, 0);
    s = source_at(f, "big/prefs.js", NULL);
    assert_int_equal(s->status, MF_SRC_UNREADABLE);
}

static void test_account_types(void **state)
{
    fixture *f = *state;
    put(f, ".thunderbird/Profiles/t/prefs.js",
        "user_pref(\"mail.accountmanager.accounts\", \"a1,a2,a3,a4,a5,a6,a7\");\n"
        "user_pref(\"mail.account.a1.identities\", \"i1\");\n"
        "user_pref(\"mail.account.a1.server\", \"s1\");\n"
        "user_pref(\"mail.server.s1.type\", \"nntp\");\n"
        "user_pref(\"mail.account.a2.identities\", \"i2\");\n"
        "user_pref(\"mail.account.a2.server\", \"s2\");\n"
        "user_pref(\"mail.server.s2.type\", \"rss\");\n"
        "user_pref(\"mail.account.a3.identities\", \"i3\");\n"
        "user_pref(\"mail.account.a3.server\", \"s3\");\n"
        "user_pref(\"mail.server.s3.type\", \"ews\");\n"
        "user_pref(\"mail.server.s3.name\", \"Exchange at work\");\n"
        "user_pref(\"mail.account.a4.identities\", \"i4\");\n"
        "user_pref(\"mail.account.a4.server\", \"s4\");\n"
        "user_pref(\"mail.server.s4.type\", \"something-new\");\n"
        "user_pref(\"mail.account.a5.identities\", \"i1,i5\");\n" /* i1 twice: once */
        "user_pref(\"mail.account.a5.server\", \"s5\");\n"
        "user_pref(\"mail.server.s5.type\", \"imap\");\n"
        "user_pref(\"mail.account.a6.server\", \"s6\");\n"
        "user_pref(\"mail.server.s6.type\", \"im\");\n"
        "user_pref(\"mail.identity.i1.useremail\", \"news@example.com\");\n"
        "user_pref(\"mail.identity.i2.useremail\", \"feeds@example.com\");\n"
        "user_pref(\"mail.identity.i3.smtpServer\", \"ewsout\");\n"
        "user_pref(\"mail.identity.i4.useremail\", \"new@example.com\");\n"
        "user_pref(\"mail.identity.i5.useremail\", \"five@example.com\");\n"
        "user_pref(\"mail.smtpserver.ewsout.type\", \"ews\");\n"
        "user_pref(\"mail.smtpserver.ewsout.hostname\", \"outlook.office365.com\");\n"
        "user_pref(\"mail.smtpserver.smtp1.hostname\", \"smtp.example\");\n"
        "user_pref(\"mail.smtpservers\", \"smtp1,ewsout\");\n");
    scan_home(f, 0);
    assert_int_equal(f->r->nservers, 1); /* the EWS outgoing server is not SMTP */
    assert_string_equal(f->r->servers[0].identifier, "smtp1");
    assert_int_equal(f->r->naccounts, 4); /* i1 news, i3 exchange, i4 other, i5 imap */
    assert_string_equal(account_by_email(f, "news@example.com")->type, "news");
    assert_string_equal(account_by_email(f, "new@example.com")->type, "other");
    assert_string_equal(account_by_email(f, "five@example.com")->type, "imap");
    const mf_account *ex = NULL;
    for (size_t i = 0; i < f->r->naccounts; i++)
        if (mf_streq(f->r->accounts[i].type, "exchange"))
            ex = &f->r->accounts[i];
    assert_non_null(ex);
    assert_string_equal(ex->description, "Exchange at work");
    assert_int_equal(ex->emails.n, 0);
    assert_null(ex->smtp);
    assert_null(ex->smtp_ref); /* sends through EWS: neither linked nor dangling */
    assert_false(ex->flags & MF_FLAG_DANGLING);
    free(roundtrip(f));
}

static void test_hostile_names_and_values(void **state)
{
    fixture *f = *state;
    /* A profile folder whose name is not UTF-8 (possible on Linux file systems), and a
     * prefs.js full of oddities: the report must still encode and decode. */
    put(f, ".thunderbird/Profiles/bad\xff\xfe/prefs.js",
        "user_pref(\"mail.smtpserver.\\u00e9t\\u00e9.hostname\", \"\\u00c9T\\u00c9.example\");\n"
        "user_pref(\"mail.smtpserver.x.hostname\", \"has\\ttab\");\n"
        "user_pref(\"mail.smtpserver.x.description\", \"nul \\u0000 here\");\n"
        "user_pref(\"mail.smtpserver.y.hostname\", \"   \");\n"
        "user_pref(\"mail.smtpserver..hostname\", \"emptykey.example\");\n"
        "user_pref(\"mail.smtpserver.a.b.hostname\", \"dotted.example\");\n"
        "user_pref(\"mail.identity.z.smtpServer\", 5);\n");
    scan_home(f, 0);
    const mf_source *s = source_at(f, "/prefs.js", NULL);
    assert_non_null(strstr(s->path, "bad??"));
    assert_int_equal(s->status, MF_SRC_MALFORMED);
    assert_non_null(strstr(s->error, ":3:"));
    assert_non_null(strstr(s->error, "NUL character"));
    char *json = roundtrip(f);
    free(json);
    bool seen_accent = false, seen_dotted = false, seen_blank = false;
    for (size_t i = 0; i < f->r->nservers; i++) {
        const mf_server *sv = &f->r->servers[i];
        if (mf_streq(sv->identifier, "\xC3\xA9t\xC3\xA9")) {
            seen_accent = true;
            assert_string_equal(sv->hostname,
                                "\xC3\x89t\xC3\x89.example"); /* ASCII-only lowering */
        }
        if (mf_streq(sv->identifier, "a.b"))
            seen_dotted = true;
        if (mf_streq(sv->identifier, "y")) {
            seen_blank = true;
            assert_null(sv->hostname);
            assert_true(sv->flags & MF_FLAG_NO_HOSTNAME);
        }
    }
    assert_true(seen_accent && seen_dotted && seen_blank);
    /* The identity's smtpServer is an int: treated as absent, so it uses the default
     * (none: nothing is listed) and is not dangling. */
    assert_int_equal(f->r->naccounts, 1);
    assert_null(f->r->accounts[0].smtp_ref);
}

static void test_report_bounds(void **state)
{
    fixture *f = *state;
    /* 300 servers, 300 identities, 20,000 leftover-style prefs, and over-long values:
     * the report keeps the first 200 of each, cuts values to 1 KiB at a character
     * boundary, and says so in the source record. */
    size_t cap = 4u * 1024u * 1024u, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    n += (size_t)snprintf(text + n, cap - n, "user_pref(\"mail.smtpservers\", \"");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(text + n, cap - n, "%ss%d", i ? "," : "", i);
    n += (size_t)snprintf(text + n, cap - n, "\");\n");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "user_pref(\"mail.smtpserver.s%d.hostname\", \"h%d.example\");\n"
                              "user_pref(\"mail.identity.i%d.useremail\", \"u%d@example.com\");\n",
                              i, i, i, i);
    for (int i = 0; i < 20000; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "user_pref(\"mail.smtpserver.x%d.hostname\", \"x\");\n", i);
    /* s0's description: 1023 ASCII bytes then a 2-byte character across the cut. */
    n += (size_t)snprintf(text + n, cap - n, "user_pref(\"mail.smtpserver.s0.description\", \"");
    memset(text + n, 'd', 1023);
    n += 1023;
    n += (size_t)snprintf(text + n, cap - n, "\\u00e9tail\");\n");
    put(f, ".thunderbird/Profiles/big/prefs.js", text);
    free(text);
    scan_home(f, 0);
    const mf_source *s = source_at(f, "big/prefs.js", NULL);
    assert_int_equal(s->status, MF_SRC_TOO_LARGE);
    assert_non_null(strstr(s->error, "only the first are reported"));
    assert_int_equal(f->r->nservers, 200);
    assert_int_equal(f->r->naccounts, 200);
    assert_string_equal(f->r->servers[0].identifier, "s0");
    assert_string_equal(f->r->servers[199].identifier, "s199");
    assert_int_equal(strlen(f->r->servers[0].description), 1023);
    char *json = roundtrip(f);
    assert_true(strlen(json) < 1024 * 1024);
    free(json);
}

static void test_nothing_there(void **state)
{
    fixture *f = *state;
    scan_home(f, 0);
    assert_int_equal(f->r->nsources, 0);
    /* A Thunderbird folder with neither profiles.ini nor Profiles. */
    char *d = mf_path_join(f->home, "Library/Thunderbird");
    mkdirs(d);
    free(d);
    put(f, ".thunderbird", "not a folder");
    scan_home(f, 0);
    assert_int_equal(f->r->nsources, 0);
    assert_int_equal(f->r->nservers, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_two_profiles),
        T(test_defaults_and_legacy),
        T(test_auth_table),
        T(test_user_js_overrides),
        T(test_default_is_first_listed),
        T(test_syntax_error_keeps_servers),
        T(test_missing_profile_and_bad_ini),
        T(test_ini_no_path_only),
        T(test_password_never_reported),
        T(test_postbox_and_legacy_layout),
        T(test_shared_profile_read_once),
        T(test_too_large_and_unreadable),
        T(test_account_types),
        T(test_hostile_names_and_values),
        T(test_report_bounds),
        T(test_nothing_there),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
