/* test_policy_facts.c: collector/facts.c — what a probe's outcome leaves known, unknown
 * or null; facts made unknown by a failed sibling source; host counts; the fact mask;
 * entities; the fleet aggregator; and the catalogue against docs/policy-language.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fileio.h"
#include "policy.h"
#include "report_json.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0    "2026-11-29T10:00:00Z"
#define AS_OF 1796083200 /* 2026-12-01T00:00:00Z */

static const char *source_dir(void)
{
    const char *d = getenv("MF_SOURCE_DIR");
    return d ? d : MF_TEST_DATA_DIR "/../..";
}

/* ------------------------------------------------------------------ reports */

#define SRC_OK                                                                                     \
    "{\"user\": \"alice\", \"client\": \"apple-mail\", \"format\": \"accounts-plist\", "           \
    "\"path\": \"/A.plist\", \"status\": \"ok\", \"error\": null}"
#define SRC_BAD                                                                                    \
    "{\"user\": \"alice\", \"client\": \"apple-mail\", \"format\": \"accounts-sqlite\", "          \
    "\"path\": \"/Accounts4.sqlite\", \"status\": \"malformed\", \"error\": \"corrupt\"}"

static mf_report *report(const char *host, const char *at, const char *sources, const char *servers,
                         const char *accounts, const char *probes)
{
    static int n;
    char id[37];
    snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", ++n);
    char *text = mf_asprintf("{\"schema\": \"mailfleet.report.v1\", \"report_id\": \"%s\", "
                             "\"collected_at\": \"%s\", \"agent\": {\"version\": \"0.1.0\"}, "
                             "\"host\": {\"id\": \"%s\", \"hostname\": \"%s-mbp\", \"os\": "
                             "{\"name\": \"macOS\", \"version\": \"14.5\"}}, \"sources\": [%s], "
                             "\"servers\": [%s], \"accounts\": [%s], \"probes\": [%s]}",
                             id, at, host, host, sources, servers, accounts, probes);
    mf_report *r = NULL;
    mf_error err;
    if (mf_report_decode(&r, text, strlen(text), &err) != MF_OK) {
        char msg[1024];
        print_error("report refused: %s\n%s\n", mf_error_format(&err, msg, sizeof(msg)), text);
        free(text);
        fail();
    }
    free(text);
    return r;
}

static char *server(int i, const char *host, int port, const char *sec, const char *auth, bool used,
                    const char *flags)
{
    return mf_asprintf("{\"id\": \"s%d\", \"user\": \"alice\", \"client\": \"apple-mail\", "
                       "\"source\": 0, \"hostname\": %s%s%s, \"port\": %d, \"security\": \"%s\", "
                       "\"auth\": \"%s\", \"username\": \"alice@example.com\", \"used_by\": "
                       "[%s], \"flags\": [%s]}",
                       i, host ? "\"" : "", host ? host : "null", host ? "\"" : "", port, sec, auth,
                       used ? "\"a1\"" : "", flags);
}

#define ACCOUNT_A1                                                                                 \
    "{\"id\": \"a1\", \"user\": \"alice\", \"client\": \"apple-mail\", \"source\": 0, "            \
    "\"type\": \"imap\", \"emails\": [\"alice@example.com\"], \"smtp\": \"s1\", "                  \
    "\"smtp_ref\": \"S1\", \"flags\": []}"

static const char TLS_OK[] =
    "\"tls\": {\"version\": \"TLSv1.3\", \"cipher\": \"X\", \"verified\": true, "
    "\"verify_error\": null, \"hostname_match\": true, \"cert\": {\"subject\": \"CN=a\", "
    "\"issuer\": \"CN=ca\", \"san\": [\"a\"], \"not_before\": \"2026-01-01T00:00:00Z\", "
    "\"not_after\": \"2027-01-01T00:00:00Z\", \"days_left\": 33, \"self_signed\": false}}";

/* A probe of smtp.example.com covering s1. */
static char *probe(const char *sec, const char *outcome, const char *phase, const char *phases,
                   const char *rest)
{
    return mf_asprintf("{\"hostname\": \"smtp.example.com\", \"port\": 587, \"security\": "
                       "\"%s\", \"servers\": [\"s1\"], \"outcome\": \"%s\"%s%s%s, \"detail\": "
                       "\"why\", \"phases\": {%s}, \"banner\": \"220 hi\", \"ehlo\": "
                       "[\"STARTTLS\"], \"ehlo_tls\": [\"AUTH PLAIN\"], \"starttls_offered\": "
                       "true, \"auth_before_tls\": [], \"auth\": [\"PLAIN\"]%s%s}",
                       sec, outcome, phase ? ", \"phase\": \"" : "", phase ? phase : "",
                       phase ? "\"" : "", phases, rest ? ", " : "", rest ? rest : "");
}

/* ------------------------------------------------------------------ lookups */

enum { KNOWN, ISNULL, UNKNOWN };

/* State of member key of object o. */
static int state_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return !v ? UNKNOWN : json_is_null(v) ? ISNULL : KNOWN;
}

static json_t *probe_facts(mf_host_facts *hf)
{
    mf_facts f;
    mf_entity e;
    mf_host_facts_get(hf, MF_SCOPE_PROBE, 0, &f, &e);
    return f.root[MF_ROOT_PROBE];
}

/* ------------------------------------------------------------------ probes */

static void test_probe_knowledge(void **state)
{
    (void)state;
    static const char all[] = "\"dns_ms\": 1, \"connect_ms\": 1, \"banner_ms\": 1, \"ehlo_ms\": "
                              "1, \"starttls_ms\": 1, \"tls_ms\": 1, \"ehlo_tls_ms\": 1, "
                              "\"quit_ms\": 1";
    static const struct {
        const char *name, *sec, *outcome, *phase, *phases;
        bool tls;
        int banner, ehlo, auth_before, tlsst, ehlo_tls, auth;
        bool why;
    } cases[] = {
        {"ok starttls", "starttls", "ok", NULL, all, true, KNOWN, KNOWN, KNOWN, KNOWN, KNOWN, KNOWN,
         false},
        {"ok plain", "none", "ok", NULL, all, false, KNOWN, KNOWN, KNOWN, ISNULL, ISNULL, KNOWN,
         false},
        {"connect timeout", "starttls", "connect-timeout", "connect", "\"dns_ms\": 1", false,
         UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, true},
        {"dns", "starttls", "dns-nxdomain", "dns", "", false, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN,
         UNKNOWN, UNKNOWN, true},
        {"plain timeout", "none", "connect-timeout", "connect", "\"dns_ms\": 1", false, UNKNOWN,
         UNKNOWN, UNKNOWN, ISNULL, ISNULL, UNKNOWN, true},
        {"no starttls", "starttls-optional", "starttls-not-offered", "ehlo", all, false, KNOWN,
         KNOWN, KNOWN, ISNULL, ISNULL, KNOWN, false},
        {"starttls refused", "starttls", "starttls-rejected", "starttls", all, false, KNOWN, KNOWN,
         KNOWN, ISNULL, ISNULL, KNOWN, false},
        {"cert expired, went on to QUIT", "starttls", "cert-expired", "tls", all, true, KNOWN,
         KNOWN, KNOWN, KNOWN, KNOWN, KNOWN, false},
        {"cert expired, stopped", "starttls", "cert-expired", "tls", "\"dns_ms\": 1, \"tls_ms\": 1",
         true, KNOWN, KNOWN, KNOWN, KNOWN, UNKNOWN, UNKNOWN, true},
        {"handshake failed", "starttls", "tls-handshake-failed", "tls", "\"tls_ms\": 1", false,
         KNOWN, KNOWN, KNOWN, ISNULL, ISNULL, UNKNOWN, true},
        {"implicit ok", "tls", "ok", NULL, all, true, KNOWN, ISNULL, KNOWN, KNOWN, KNOWN, KNOWN,
         false},
        {"implicit, banner timeout after TLS", "tls", "timeout", "banner", "\"tls_ms\": 1", true,
         UNKNOWN, ISNULL, KNOWN, KNOWN, UNKNOWN, UNKNOWN, true},
        {"timeout in ehlo", "starttls", "timeout", "ehlo", "\"banner_ms\": 1", false, KNOWN,
         UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, true},
        {"agent failed", "starttls", "probe-error", "dns", "", false, UNKNOWN, UNKNOWN, UNKNOWN,
         UNKNOWN, UNKNOWN, UNKNOWN, true},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(cases); i++) {
        char *s = server(1, "smtp.example.com", 587, cases[i].sec, "password", true, "");
        char *p = probe(cases[i].sec, cases[i].outcome, cases[i].phase, cases[i].phases,
                        cases[i].tls ? TLS_OK : "\"tls\": null");
        mf_report *r = report("C1", T0, SRC_OK, s, ACCOUNT_A1, p);
        mf_host_facts *hf = NULL;
        assert_int_equal(mf_host_facts_build(&hf, r, NULL, AS_OF, NULL), MF_OK);
        json_t *o = probe_facts(hf);
        int got[6] = {state_of(o, "banner"),          state_of(o, "ehlo"),
                      state_of(o, "auth_before_tls"), state_of(o, "tls"),
                      state_of(o, "ehlo_tls"),        state_of(o, "auth")};
        int want[6] = {cases[i].banner, cases[i].ehlo,     cases[i].auth_before,
                       cases[i].tlsst,  cases[i].ehlo_tls, cases[i].auth};
        for (int k = 0; k < 6; k++)
            if (got[k] != want[k]) {
                print_error("%s: member %d is %d, want %d\n", cases[i].name, k, got[k], want[k]);
                fail();
            }
        assert_int_equal(json_object_get(o, "_why") != NULL, cases[i].why);
        /* outcome is always known */
        assert_string_equal(json_string_value(json_object_get(o, "outcome")), cases[i].outcome);
        mf_host_facts_free(hf);
        mf_report_free(r);
        free(s);
        free(p);
    }
}

/* ------------------------------------------------------------------ servers, accounts */

static void test_server_and_account_facts(void **state)
{
    (void)state;
    char *s1 = server(1, "smtp.example.com", 587, "starttls", "password", true, "");
    char *s2 =
        server(2, "old.example.com", 25, "unknown", "unknown", false, "\"unused\", \"port-25\"");
    char *s3 = server(3, NULL, 0, "tls", "apple-token", true, "\"provider-managed\"");
    /* s3: provider-managed, no port */
    char *s3p = mf_asprintf("{\"id\": \"s3\", \"user\": \"alice\", \"client\": \"apple-mail\", "
                            "\"source\": 0, \"hostname\": null, \"provider\": \"icloud\", "
                            "\"port\": null, \"security\": \"tls\", \"auth\": \"apple-token\", "
                            "\"used_by\": [\"a2\"], \"flags\": [\"provider-managed\"]}");
    char *servers = mf_asprintf("%s, %s, %s", s1, s2, s3p);
    const char *accounts =
        ACCOUNT_A1 ", {\"id\": \"a2\", \"user\": \"alice\", \"client\": \"apple-mail\", "
                   "\"source\": 0, \"type\": \"icloud\", \"emails\": [], \"smtp\": \"s3\", "
                   "\"flags\": []}, {\"id\": \"a3\", \"user\": \"alice\", \"client\": "
                   "\"apple-mail\", \"source\": 0, \"type\": \"imap\", \"emails\": "
                   "[\"old@example.com\"], \"smtp\": null, \"smtp_ref\": \"GONE\", \"flags\": "
                   "[\"dangling\"]}";
    char *p = probe("starttls", "ok", NULL, "\"dns_ms\": 1", TLS_OK);

    /* 1: every source fine */
    mf_report *r = report("C1", T0, SRC_OK, servers, accounts, p);
    mf_host_facts *hf = NULL;
    assert_int_equal(mf_host_facts_build(&hf, r, NULL, AS_OF, NULL), MF_OK);
    assert_int_equal(mf_host_facts_count(hf, MF_SCOPE_SERVER), 3);
    assert_int_equal(mf_host_facts_count(hf, MF_SCOPE_ACCOUNT), 3);
    assert_int_equal(mf_host_facts_count(hf, MF_SCOPE_HOST), 1);
    assert_int_equal(mf_host_facts_count(hf, MF_SCOPE_FLEET_SERVER), 0);
    mf_facts f;
    mf_entity e;
    mf_host_facts_get(hf, MF_SCOPE_SERVER, 0, &f, &e);
    assert_string_equal(e.label, "s1 smtp.example.com:587 (alice, apple-mail)");
    assert_string_equal(e.server, "smtp.example.com:587");
    assert_string_equal(e.server_host, "smtp.example.com");
    assert_non_null(f.root[MF_ROOT_PROBE]);
    assert_ptr_equal(f.root[MF_ROOT_PROBE], probe_facts(hf)); /* shared, not copied */
    assert_false(json_is_true(json_object_get(f.root[MF_ROOT_SERVER], "unused")));
    assert_string_equal(json_string_value(json_object_get(f.root[MF_ROOT_SOURCE], "status")), "ok");

    mf_host_facts_get(hf, MF_SCOPE_SERVER, 1, &f, &e);
    json_t *so = f.root[MF_ROOT_SERVER];
    assert_int_equal(state_of(so, "security"), UNKNOWN);
    assert_int_equal(state_of(so, "auth"), UNKNOWN);
    assert_non_null(strstr(json_string_value(json_object_get(so, "_why")), "security setting"));
    assert_true(json_is_true(json_object_get(so, "unused")));
    assert_null(f.root[MF_ROOT_PROBE]); /* no probe covers s2 */
    assert_non_null(strstr(f.why[MF_ROOT_PROBE], "no probe covers"));

    mf_host_facts_get(hf, MF_SCOPE_SERVER, 2, &f, &e);
    assert_string_equal(e.server, "provider:icloud");
    assert_string_equal(e.server_host, "provider:icloud");
    assert_true(json_is_true(json_object_get(f.root[MF_ROOT_SERVER], "provider_managed")));
    assert_true(json_is_null(json_object_get(f.root[MF_ROOT_SERVER], "port")));

    mf_host_facts_get(hf, MF_SCOPE_ACCOUNT, 2, &f, &e); /* the dangling account */
    assert_true(json_is_null(f.root[MF_ROOT_SERVER]));
    assert_true(json_is_null(f.root[MF_ROOT_PROBE]));
    assert_null(e.server);
    assert_true(json_is_true(json_object_get(f.root[MF_ROOT_ACCOUNT], "dangling")));
    assert_string_equal(e.label, "a3 old@example.com (alice, apple-mail)");

    mf_host_facts_get(hf, MF_SCOPE_HOST, 0, &f, &e);
    json_t *h = f.root[MF_ROOT_HOST];
    assert_int_equal(json_integer_value(json_object_get(h, "max_servers_per_user")), 3);
    assert_int_equal(json_integer_value(json_object_get(h, "report_age_days")), 1);
    assert_int_equal(json_integer_value(json_object_get(h, "sources_failed")), 0);
    assert_string_equal(e.label, "C1 (C1-mbp)");
    mf_host_facts_free(hf);
    mf_report_free(r);

    /* 2: a sibling source of the same user and client failed */
    r = report("C2", T0, SRC_OK ", " SRC_BAD, servers, accounts, p);
    assert_int_equal(mf_host_facts_build(&hf, r, NULL, AS_OF, NULL), MF_OK);
    mf_host_facts_get(hf, MF_SCOPE_SERVER, 1, &f, &e);
    so = f.root[MF_ROOT_SERVER];
    assert_int_equal(state_of(so, "unused"), UNKNOWN);
    assert_int_equal(state_of(so, "duplicate"), UNKNOWN);
    assert_non_null(strstr(json_string_value(json_object_get(so, "_why")), "/Accounts4.sqlite"));
    mf_host_facts_get(hf, MF_SCOPE_SERVER, 0, &f, &e); /* used: known false */
    assert_true(json_is_false(json_object_get(f.root[MF_ROOT_SERVER], "unused")));
    mf_host_facts_get(hf, MF_SCOPE_ACCOUNT, 2, &f, &e);
    assert_int_equal(state_of(f.root[MF_ROOT_ACCOUNT], "dangling"), UNKNOWN);
    mf_host_facts_get(hf, MF_SCOPE_HOST, 0, &f, &e);
    assert_int_equal(state_of(f.root[MF_ROOT_HOST], "max_servers_per_user"), UNKNOWN);
    assert_int_equal(json_integer_value(json_object_get(f.root[MF_ROOT_HOST], "sources_failed")),
                     1);
    mf_host_facts_free(hf);
    mf_report_free(r);

    /* 3: the mask builds only what is asked for */
    r = report("C3", T0, SRC_OK, servers, accounts, p);
    mf_fact_mask m;
    memset(&m, 0, sizeof(m));
    mf_fact_mask_set(&m, mf_facts_lookup("server.port"));
    mf_fact_mask_set(&m, mf_facts_lookup("probe.tls.cert.days_left"));
    assert_int_equal(mf_host_facts_build(&hf, r, &m, AS_OF, NULL), MF_OK);
    mf_host_facts_get(hf, MF_SCOPE_SERVER, 0, &f, &e);
    assert_int_equal(json_object_size(f.root[MF_ROOT_SERVER]), 1);
    assert_int_equal(json_integer_value(json_object_get(f.root[MF_ROOT_SERVER], "port")), 587);
    json_t *po = f.root[MF_ROOT_PROBE];
    assert_int_equal(json_object_size(po), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(po, "tls"), "cert"), "days_left")),
                     33);
    mf_host_facts_free(hf);
    mf_report_free(r);

    free(p);
    free(servers);
    free(s1);
    free(s2);
    free(s3);
    free(s3p);
}

/* ------------------------------------------------------------------ fleet */

static json_t *fleet_get(mf_fleet *f, const char *name, mf_entity *ent)
{
    for (size_t i = 0; i < mf_fleet_count(f); i++) {
        json_t *o = NULL;
        assert_int_equal(mf_fleet_facts(f, i, NULL, AS_OF, &o, ent, NULL), MF_OK);
        if (strcmp(ent->label, name) == 0)
            return o;
        json_decref(o);
    }
    print_error("no fleet server %s\n", name);
    fail();
    return NULL;
}

static void test_fleet(void **state)
{
    (void)state;
    mf_fleet *f = NULL;
    assert_int_equal(mf_fleet_new(&f, 0), MF_OK);
    char *s1 = server(1, "smtp.example.com", 587, "starttls", "password", true, "");
    char *s2u = server(2, "old.example.com", 587, "starttls", "password", false, "\"unused\"");
    char *two = mf_asprintf("%s, %s", s1, s2u);
    char *ok = probe("starttls", "ok", NULL, "\"dns_ms\": 1", TLS_OK);
    char *nx = mf_asprintf("{\"hostname\": \"old.example.com\", \"port\": 587, \"security\": "
                           "\"starttls\", \"servers\": [\"s2\"], \"outcome\": \"dns-nxdomain\", "
                           "\"phase\": \"dns\"}");
    char *to = mf_asprintf("{\"hostname\": \"smtp.example.com\", \"port\": 587, \"security\": "
                           "\"starttls\", \"servers\": [\"s1\"], \"outcome\": \"connect-timeout\", "
                           "\"phase\": \"connect\"}");
    char *probes_a = mf_asprintf("%s, %s", ok, nx);
    char *probes_b = mf_asprintf("%s, %s", to, nx);

    /* history: an older report where smtp.example.com answered, 20 days earlier */
    mf_report *old = report("H1", "2026-11-09T10:00:00Z", SRC_OK, two, ACCOUNT_A1, probes_a);
    mf_report *a = report("H1", T0, SRC_OK, two, ACCOUNT_A1, probes_b);
    mf_report *b =
        report("H2", "2026-11-28T10:00:00Z", SRC_OK ", " SRC_BAD, two, ACCOUNT_A1, probes_b);
    assert_int_equal(mf_fleet_add_history(f, old, NULL), MF_OK);
    assert_int_equal(mf_fleet_add_history(f, a, NULL), MF_OK);
    assert_int_equal(mf_fleet_add_history(f, b, NULL), MF_OK);
    assert_int_equal(mf_fleet_count(f), 0); /* nothing current yet */
    assert_int_equal(mf_fleet_add_latest(f, a, NULL), MF_OK);
    assert_int_equal(mf_fleet_add_latest(f, b, NULL), MF_OK);
    assert_int_equal(mf_fleet_count(f), 2);

    mf_entity ent;
    json_t *o = fleet_get(f, "smtp.example.com:587", &ent);
    assert_int_equal(json_integer_value(json_object_get(o, "hosts")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "accounts")), 2);
    assert_true(json_is_true(json_object_get(o, "used")));
    assert_int_equal(json_integer_value(json_object_get(o, "hosts_probed")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "hosts_probe_ok")), 0);
    assert_true(json_real_value(json_object_get(o, "probe_ok_share")) == 0.0);
    assert_string_equal(json_string_value(json_object_get(o, "dns")), "ok");
    /* last answered 2026-11-09T10:00Z; as of 2026-12-01: 21 days */
    assert_int_equal(json_integer_value(json_object_get(o, "failing_days")), 21);
    assert_string_equal(json_string_value(json_object_get(o, "first_seen")),
                        "2026-11-09T10:00:00Z");
    assert_string_equal(json_string_value(json_object_get(o, "last_seen")), T0);
    assert_string_equal(json_string_value(json_object_get(o, "top_failure")), "connect-timeout");
    json_decref(o);

    o = fleet_get(f, "old.example.com:587", &ent);
    assert_string_equal(ent.server_host, "old.example.com");
    assert_string_equal(json_string_value(json_object_get(o, "dns")), "nxdomain");
    assert_int_equal(json_integer_value(json_object_get(o, "unused_entries")), 2);
    /* no account uses it, but H2's Accounts4.sqlite is malformed: unknown */
    assert_int_equal(state_of(o, "used"), UNKNOWN);
    assert_non_null(strstr(json_string_value(json_object_get(o, "_why")), "could not be read"));
    /* never probed successfully, first probed 2026-11-09: unknown share */
    assert_int_equal(json_integer_value(json_object_get(o, "hosts_probed")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "failing_days")), 21);
    json_decref(o);

    /* A longer history from the store widens first_seen; unknown servers are ignored. */
    assert_int_equal(
        mf_fleet_add_seen(f, "smtp.example.com", 587, NULL, 1700000000, 1700000001, 0, NULL),
        MF_OK);
    assert_int_equal(mf_fleet_add_seen(f, "nowhere.example", 25, NULL, 1, 2, 0, NULL), MF_OK);
    assert_int_equal(mf_fleet_count(f), 2);
    o = fleet_get(f, "smtp.example.com:587", &ent);
    assert_string_equal(json_string_value(json_object_get(o, "first_seen")),
                        "2023-11-14T22:13:20Z");
    assert_string_equal(json_string_value(json_object_get(o, "last_seen")), T0);
    json_decref(o);
    mf_fleet_free(f);

    /* The cap: a third server is counted as dropped, not stored. */
    assert_int_equal(mf_fleet_new(&f, 1), MF_OK);
    assert_int_equal(mf_fleet_add_latest(f, a, NULL), MF_OK);
    assert_int_equal(mf_fleet_count(f), 1);
    assert_int_equal(mf_fleet_dropped(f), 1);
    /* never probed: share, dns and failing_days are unknown */
    mf_fleet_free(f);
    assert_int_equal(mf_fleet_new(&f, 0), MF_OK);
    mf_report *np = report("H3", T0, SRC_OK, s1, ACCOUNT_A1, "");
    assert_int_equal(mf_fleet_add_latest(f, np, NULL), MF_OK);
    o = fleet_get(f, "smtp.example.com:587", &ent);
    assert_int_equal(state_of(o, "probe_ok_share"), UNKNOWN);
    assert_int_equal(state_of(o, "dns"), UNKNOWN);
    assert_int_equal(state_of(o, "failing_days"), UNKNOWN);
    assert_true(json_is_true(json_object_get(o, "used")));
    json_decref(o);
    mf_fleet_free(f);

    mf_report_free(np);
    mf_report_free(old);
    mf_report_free(a);
    mf_report_free(b);
    free(s1);
    free(s2u);
    free(two);
    free(ok);
    free(nx);
    free(to);
    free(probes_a);
    free(probes_b);
}

/* Every fleet_server fact whose value changes when the store's longer history is fed
 * (mf_fleet_add_seen: the inventory; mf_fleet_add_probes: the probe history) must be
 * listed by mf_fleet_history_needs, or `report` would skip the query that fills it. Runs
 * over the whole catalogue, so a new fact reading the history is caught here. */
static json_t *only_fleet_server(mf_fleet *f, const mf_fact_mask *mask)
{
    assert_int_equal(mf_fleet_count(f), 1);
    json_t *o = NULL;
    mf_entity ent;
    assert_int_equal(mf_fleet_facts(f, 0, mask, AS_OF, &o, &ent, NULL), MF_OK);
    return o;
}

static mf_fleet *history_fleet(const mf_report *a, bool seen, bool probes)
{
    mf_fleet *f = NULL;
    assert_int_equal(mf_fleet_new(&f, 0), MF_OK);
    assert_int_equal(mf_fleet_add_history(f, a, NULL), MF_OK);
    assert_int_equal(mf_fleet_add_latest(f, a, NULL), MF_OK);
    /* older history, as the store's queries give it: seen since 2026-01-01, probed since
     * 2026-02-01 and last answered on 2026-03-01 */
    if (seen)
        assert_int_equal(
            mf_fleet_add_seen(f, "smtp.example.com", 587, NULL, 1767225600, 1796036400, 0, NULL),
            MF_OK);
    if (probes)
        assert_int_equal(
            mf_fleet_add_probes(f, "smtp.example.com", 587, 1769904000, 1772323200, NULL), MF_OK);
    return f;
}

static void test_fleet_history_needs(void **state)
{
    (void)state;
    char *s1 = server(1, "smtp.example.com", 587, "starttls", "password", true, "");
    char *to = mf_asprintf("{\"hostname\": \"smtp.example.com\", \"port\": 587, \"security\": "
                           "\"starttls\", \"servers\": [\"s1\"], \"outcome\": \"connect-timeout\", "
                           "\"phase\": \"connect\"}");
    mf_report *a = report("H1", T0, SRC_OK, s1, ACCOUNT_A1, to);
    mf_fleet *base = history_fleet(a, false, false);
    mf_fleet *seen = history_fleet(a, true, false);
    mf_fleet *probes = history_fleet(a, false, true);
    json_t *ob = only_fleet_server(base, NULL), *os = only_fleet_server(seen, NULL),
           *op = only_fleet_server(probes, NULL);

    size_t n;
    const mf_fact_def *cat = mf_facts_catalogue(&n);
    size_t checked = 0, by_seen = 0, by_probes = 0;
    bool need_seen, need_probes;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(cat[i].path, "fleet_server.", 13) != 0)
            continue;
        const char *key = cat[i].path + 13;
        mf_fact_mask m;
        memset(&m, 0, sizeof(m));
        mf_fact_mask_set(&m, (int)i);
        mf_fleet_history_needs(&m, &need_seen, &need_probes);
        bool differs_seen = !json_equal(json_object_get(ob, key), json_object_get(os, key)) &&
                            (json_object_get(ob, key) || json_object_get(os, key));
        bool differs_probes = !json_equal(json_object_get(ob, key), json_object_get(op, key)) &&
                              (json_object_get(ob, key) || json_object_get(op, key));
        if (differs_seen && !need_seen) {
            print_error("%s depends on the store inventory, but mf_fleet_history_needs "
                        "does not say so\n",
                        cat[i].path);
            fail();
        }
        if (differs_probes && !need_probes) {
            print_error("%s depends on the probe history, but mf_fleet_history_needs "
                        "does not say so\n",
                        cat[i].path);
            fail();
        }
        /* and no query is run for a fact that does not need it */
        if (need_seen != differs_seen || need_probes != differs_probes) {
            print_error("%s: needs inventory %d / probe history %d, but its value moves "
                        "with them %d / %d\n",
                        cat[i].path, need_seen, need_probes, differs_seen, differs_probes);
            fail();
        }
        by_seen += differs_seen;
        by_probes += differs_probes;
        checked++;
    }
    assert_true(checked >= 19);
    /* the test has teeth: first/last seen and the days since move with the inventory,
     * failing_days with the probe history */
    assert_int_equal(by_seen, 4);
    assert_int_equal(by_probes, 1);
    /* no mask: --dump-facts reads everything */
    mf_fleet_history_needs(NULL, &need_seen, &need_probes);
    assert_true(need_seen && need_probes);
    /* a mask of host facts only needs neither */
    mf_fact_mask m;
    memset(&m, 0, sizeof(m));
    mf_fact_mask_set(&m, mf_facts_lookup("fleet_server.hosts"));
    mf_fact_mask_set(&m, mf_facts_lookup("fleet_server.dns"));
    mf_fleet_history_needs(&m, &need_seen, &need_probes);
    assert_false(need_seen || need_probes);

    json_decref(ob);
    json_decref(os);
    json_decref(op);
    mf_fleet_free(base);
    mf_fleet_free(seen);
    mf_fleet_free(probes);
    mf_report_free(a);
    free(s1);
    free(to);
}

/* ------------------------------------------------------------------ catalogue */

/* Every fact is documented with its type in docs/policy-language.md, and every
 * documented fact exists. */
static void test_catalogue_matches_docs(void **state)
{
    (void)state;
    char *path = mf_path_join(source_dir(), "docs/policy-language.md");
    char *doc = NULL;
    size_t len;
    mf_error err;
    assert_int_equal(mf_file_read(path, 1 << 20, &doc, &len, &err), MF_OK);
    size_t n;
    const mf_fact_def *cat = mf_facts_catalogue(&n);
    for (size_t i = 0; i < n; i++) {
        static const char *const words[] = {"string",  "integer",         "number",
                                            "boolean", "list of strings", "object"};
        char row[200];
        snprintf(row, sizeof(row), "| `%s` | %s |", cat[i].path, words[cat[i].type]);
        if (!strstr(doc, row)) {
            print_error("docs/policy-language.md lacks the row \"%s\"\n", row);
            fail();
        }
        assert_int_equal(mf_facts_lookup(cat[i].path), (int)i);
        /* the root of each path is a root, and some scope has it */
        const char *dot = strchr(cat[i].path, '.');
        mf_fact_root r;
        assert_true(mf_fact_root_parse(
            cat[i].path, dot ? (size_t)(dot - cat[i].path) : strlen(cat[i].path), &r));
    }
    /* and the other way round: each documented fact row names a catalogue fact */
    size_t rows = 0;
    for (const char *p = strstr(doc, "\n| `"); p; p = strstr(p + 1, "\n| `")) {
        const char *s = p + 4, *e = strchr(s, '`');
        if (!e || e - s > 60)
            continue;
        char fact[64];
        snprintf(fact, sizeof(fact), "%.*s", (int)(e - s), s);
        /* Only the fact tables: "| `path` | <type> |" (other tables list members and
         * operators). */
        static const char *const types[] = {"` | string |",          "` | integer |",
                                            "` | number |",          "` | boolean |",
                                            "` | list of strings |", "` | object |"};
        bool fact_row = false;
        for (size_t k = 0; k < MF_ARRAY_LEN(types); k++)
            fact_row |= strncmp(e, types[k], strlen(types[k])) == 0;
        if (!fact_row)
            continue;
        if (mf_facts_lookup(fact) < 0) {
            print_error("docs/policy-language.md documents unknown fact %s\n", fact);
            fail();
        }
        rows++;
    }
    assert_true(rows >= n);
    free(doc);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_knowledge),
        cmocka_unit_test(test_server_and_account_facts),
        cmocka_unit_test(test_fleet),
        cmocka_unit_test(test_fleet_history_needs),
        cmocka_unit_test(test_catalogue_matches_docs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
