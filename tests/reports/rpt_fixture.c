/* rpt_fixture: write the report formats from a built-in, deterministic fleet, for the
 * tests in tests/reports/ and the writer benchmark in bench/reports/.
 *
 *   rpt_fixture [--kind plain|xss|control] [--hosts N] [--junit F] [--junit-group-by host|rule]
 *               [--html F] [--csv F] [--days D]
 *
 * plain    a small company: Macs with migrated (stale) servers, failures of every
 *          severity, errors, waivers (one expired), not-applicable results, Macs that
 *          stopped reporting, a server inventory and D days of history.
 * xss      the same, with an HTML/JS injection payload in every string the writers
 *          take: host names and ids, rule texts, entity labels (user names, server
 *          descriptions), messages (banners, certificate subjects), waiver texts,
 *          server names, the policy's names. Each payload would set document.title to
 *          "XSS-<n>" or add an element with class "xss-marker" if it ever ran.
 * control  the same, with control characters, invalid UTF-8, U+FFFE and "]]>" in
 *          every string, and every other string starting with = + - or @ (a spreadsheet
 *          formula).
 *
 * Prints the expected counts as JSON on standard output:
 *   {"hosts": H, "suites": S, "tests": T, "failures": F, "errors": E, "skipped": K,
 *    "waived": W, "notapplicable": N, "passed": P, "payloads": X, "stopped": S,
 *    "hosts_failing_or_error": B}
 *  (S: Macs whose last report is older than the stopped-reporting threshold; B: Macs with
 *  at least one failed or errored result, i.e. not compliant.)
 */
#include "reports.h"
#include "util.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum kind { KIND_PLAIN, KIND_XSS, KIND_CONTROL } kind;

static kind g_kind = KIND_PLAIN;
static unsigned long long g_rng = 0x9E3779B97F4A7C15ULL;
static size_t g_payloads = 0;

static unsigned rnd(unsigned n)
{
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((g_rng >> 33) % n);
}

/* A string of the fixture: in xss and control fleets every string gets a hostile tail.
 * Returns a pointer into a ring of static buffers (valid for 64 further calls). */
static const char *S(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *S(const char *fmt, ...)
{
    static char ring[64][1024];
    static unsigned next;
    char *b = ring[next++ % 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, 512, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if (n > 511)
        n = 511;
    size_t id = ++g_payloads;
    if (g_kind == KIND_XSS) {
        snprintf(b + n, 1024 - (size_t)n,
                 " <script>document.title='XSS-%zu'</script><img src=x onerror=\"document.title="
                 "'XSS-%zu'\"><b class=\"xss-marker\">x</b>\"'&amp;</td></tr></table>"
                 "<svg onload=\"document.title='XSS-%zu'\"></svg>]]>",
                 id, id, id);
    } else if (g_kind == KIND_CONTROL) {
        /* A leading formula character on some strings, for the CSV's injection guard. */
        static const char lead[] = "=+-@";
        if (id % 2 == 0) {
            memmove(b + 1, b, (size_t)n + 1);
            b[0] = lead[(id / 2) % 4];
            n++;
        }
        snprintf(b + n, 1024 - (size_t)n,
                 " \x01\x02\x08\x0b\x0c\x1b[31m\x7f ]]> \xff\xfe \xc0\xaf \xef\xbf\xbe "
                 "\xed\xa0\x80 \r\n\t=cmd|' /C calc'!A0 ]]>");
    }
    return b;
}

/* Copies that live until the end of main (freed there, so leak checkers stay quiet). */
static mf_strv g_owned;

static const char *dup_s(const char *s)
{
    if (mf_strv_push(&g_owned, s) != MF_OK)
        abort();
    return g_owned.v[g_owned.n - 1];
}

static void die(const char *what, const mf_error *err)
{
    char buf[1200];
    fprintf(stderr, "rpt_fixture: %s: %s\n", what,
            err ? mf_error_format(err, buf, sizeof(buf)) : "");
    exit(1);
}

typedef struct counts {
    size_t tests, fail, error, skipped, waived, na, pass, hosts, suites, stopped, bad;
} counts;

int main(int argc, char **argv)
{
    const char *paths[MF_RPT__FORMATS] = {NULL, NULL, NULL};
    mf_rpt_opts opts = {0};
    long long hosts = 40, days = 14;
    static const struct option lo[] = {
        {"kind", required_argument, NULL, 'k'},  {"hosts", required_argument, NULL, 'n'},
        {"junit", required_argument, NULL, 'j'}, {"junit-group-by", required_argument, NULL, 'g'},
        {"html", required_argument, NULL, 'h'},  {"csv", required_argument, NULL, 'c'},
        {"days", required_argument, NULL, 'd'},  {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (strcmp(optarg, "plain") == 0)
                g_kind = KIND_PLAIN;
            else if (strcmp(optarg, "xss") == 0)
                g_kind = KIND_XSS;
            else if (strcmp(optarg, "control") == 0)
                g_kind = KIND_CONTROL;
            else
                die("--kind plain|xss|control", NULL);
            break;
        case 'n':
            if (mf_parse_long(optarg, 0, 10000000, &hosts) != MF_OK)
                die("--hosts", NULL);
            break;
        case 'd':
            if (mf_parse_long(optarg, 0, 3000, &days) != MF_OK)
                die("--days", NULL);
            break;
        case 'j':
            paths[MF_RPT_JUNIT] = optarg;
            break;
        case 'g':
            if (!mf_rpt_group_parse(optarg, &opts.junit_group))
                die("--junit-group-by host|rule", NULL);
            break;
        case 'h':
            paths[MF_RPT_HTML] = optarg;
            break;
        case 'c':
            paths[MF_RPT_CSV] = optarg;
            break;
        default:
            die("usage: see the comment at the top of tests/reports/rpt_fixture.c", NULL);
        }
    }

    const int64_t now = 1796032800; /* 2026-11-30T10:00:00Z: fixed, so output is stable */
    static const char *refs[] = {"NIST SP 800-177r1 4.1", "RFC 8314"};
    const char *refs_x[2];
    refs_x[0] = dup_s(S("%s", refs[0]));
    refs_x[1] = dup_s(S("%s", refs[1]));
    mf_rpt_rule rules[] = {
        {dup_s(S("SMTP-TLS-001")), dup_s(S("Submission uses TLS")), MF_RPT_HIGH, "server",
         dup_s(S("Mail to the submission server must be encrypted.")),
         dup_s(S("Passwords and mail cross the network in clear text otherwise.")),
         dup_s(S("In Mail, open Settings > Accounts > Server Settings and turn on TLS.")),
         dup_s(S("Push a configuration profile with OutgoingMailServerUseSSL true.")), refs_x, 2},
        {dup_s(S("SMTP-UNUSED-002")), dup_s(S("No unused server entries")), MF_RPT_MEDIUM, "server",
         dup_s(S("Server entries that no account uses are left-overs of migrations.")), NULL,
         dup_s(S("Remove the entry in Edit SMTP Server List.")), NULL, NULL, 0},
        {dup_s(S("SMTP-CERT-003")), dup_s(S("Certificate is valid")), MF_RPT_CRITICAL, "probe",
         dup_s(S("The server's certificate must verify and match its name.")), NULL,
         dup_s(S("Ask the mail administrators to renew the certificate.")), NULL, NULL, 0},
        {dup_s(S("ACCT-AUTH-004")), dup_s(S("Account authenticates")), MF_RPT_LOW, "account", NULL,
         NULL, NULL, NULL, NULL, 0},
        {dup_s(S("HOST-INFO-005")), dup_s(S("Agent is current")), MF_RPT_INFO, "host", NULL, NULL,
         NULL, NULL, NULL, 0},
        {dup_s(S("FLEET-STALE-006")), dup_s(S("No fleet-wide stale server")), MF_RPT_MEDIUM,
         "fleet-server", dup_s(S("A server no Mac can reach should be removed everywhere.")), NULL,
         NULL, NULL, NULL, 0},
    };
    const size_t nrules = MF_ARRAY_LEN(rules);
    mf_rpt_run run = {
        .policy_id = dup_s(S("baseline")),
        .policy_title = dup_s(S("Example Corp SMTP baseline")),
        .policy_version = dup_s(S("2026.11")),
        .command = "report",
        .source = dup_s(S("store /var/lib/mailfleet/store.db")),
        .generated_at = now,
        .fail_on = MF_RPT_MEDIUM,
        .inputs_ok = (size_t)hosts,
    };

    mf_rpt_writer *w[MF_RPT__FORMATS] = {NULL, NULL, NULL};
    mf_error err;
    for (int f = 0; f < MF_RPT__FORMATS; f++) {
        if (!paths[f])
            continue;
        if (mf_rpt_open(&w[f], (mf_rpt_format)f, paths[f], &opts, &err) != MF_OK)
            die("open", &err);
        if (mf_rpt_begin(w[f], &run, rules, nrules, &err) != MF_OK)
            die("begin", &err);
    }
#define ALL(call)                                                                                  \
    do {                                                                                           \
        for (int f_ = 0; f_ < MF_RPT__FORMATS; f_++)                                               \
            if (w[f_] && (call(w[f_])) != MF_OK)                                                   \
                die(#call, &err);                                                                  \
    } while (0)

    static const char *servers[] = {"smtp.office365.com:587", "mail.example-corp.com:25",
                                    "smtp.example-corp.com:465", "mx1.old-example-corp.net:587",
                                    "smtp.gmail.com:465"};
    static const char *users[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
    counts k = {0};
    for (long long h = 0; h < hosts; h++) {
        char idb[64], hn[64];
        snprintf(idb, sizeof(idb), "C02%09lld", h * 7919 % 1000000000);
        /* Two Macs share a host name, as real fleets' "MacBook-Pro"s do. */
        snprintf(hn, sizeof(hn), "%s-mbp", users[h % 6]);
        if (h == 7)
            snprintf(hn, sizeof(hn), "%s-mbp", users[1]);
        const char *id = dup_s(S("%s", idb));
        const char *hostname = dup_s(S("%s%lld", hn, h / 6));
        if (h == 7)
            hostname = dup_s(S("%s%d", hn, 0)); /* same as host 1 */
        mf_rpt_host host = {
            .id = id,
            .hostname = hostname,
            .collected_at = now - 3600 - (h % 10 == 9 ? 20 * 86400 : (int64_t)rnd(86400)),
            .os_version = S("14.%u", rnd(8)),
            .agent_version = "0.1.0",
            .report_id = S("3f1c2a9e-0000-4000-8000-%012lld", h),
        };
#define ADD_HOST(x) mf_rpt_add_host((x), &host, &err)
        ALL(ADD_HOST);
        bool migrated = h % 3 != 0;
        int nserv = migrated ? 3 : 1;
        k.hosts++;
        k.suites++;
        k.stopped += h % 10 == 9;
        const size_t bad_before = k.fail + k.error;
        for (int s = 0; s < nserv; s++) {
            const char *srv = servers[s == 0 ? 0 : 1 + (h + s) % 4];
            const char *user = users[(h + s) % 6];
            const char *entity = S("s%d %s (%s, apple-mail)", s + 1, srv, user);
            for (size_t r = 0; r < 3; r++) {
                mf_rpt_result res = {.rule = r,
                                     .host_id = id,
                                     .hostname = hostname,
                                     .entity = entity,
                                     .server = srv};
                unsigned roll = rnd(100);
                if (s == 0) {
                    res.state = roll < 85 ? MF_RPT_PASS : roll < 95 ? MF_RPT_FAIL : MF_RPT_ERROR;
                } else if (r == 1) {
                    res.state = MF_RPT_FAIL;
                } else {
                    res.state = roll < 40   ? MF_RPT_FAIL
                                : roll < 60 ? MF_RPT_ERROR
                                : roll < 75 ? MF_RPT_NOTAPPLICABLE
                                : roll < 90 ? MF_RPT_WAIVED
                                            : MF_RPT_PASS;
                }
                switch (res.state) {
                case MF_RPT_PASS:
                    res.message = S("probe.tls.version is \"TLSv1.3\"; banner 220 %s ESMTP", srv);
                    break;
                case MF_RPT_FAIL:
                    res.message = S("probe.tls.cert.subject is \"CN=%s\": certificate has expired; "
                                    "banner was \"220 %s ESMTP\"",
                                    srv, srv);
                    res.first_failed = now - (int64_t)(1 + rnd(30)) * 86400;
                    if (h % 11 == 5)
                        res.expired_waiver_expires = "2026-10-31";
                    break;
                case MF_RPT_ERROR:
                    res.message = S("probe.tls is unknown: the probe failed (connect-timeout)");
                    break;
                case MF_RPT_NOTAPPLICABLE:
                    res.message =
                        S("server.security is \"tls\": the rule applies to STARTTLS only");
                    break;
                case MF_RPT_WAIVED:
                    res.message = S("server.flags contains \"unused\"");
                    res.waiver_justification = S("Kept for the archive mailbox until migration");
                    res.waiver_approved_by = S("it-security@example-corp.com");
                    res.waiver_expires = "2027-03-31";
                    break;
                default:
                    break;
                }
#define ADD_RESULT(x) mf_rpt_add_result((x), &res, &err)
                ALL(ADD_RESULT);
                k.tests++;
                k.fail += res.state == MF_RPT_FAIL;
                k.error += res.state == MF_RPT_ERROR;
                k.waived += res.state == MF_RPT_WAIVED;
                k.na += res.state == MF_RPT_NOTAPPLICABLE;
                k.pass += res.state == MF_RPT_PASS;
            }
        }
        /* one account result and one host result */
        mf_rpt_result acct = {
            .rule = 3,
            .host_id = id,
            .hostname = hostname,
            .entity = S("a1 %s@example-corp.com (imap, %s)", users[h % 6], users[h % 6]),
            .state = h % 5 == 0 ? MF_RPT_FAIL : MF_RPT_PASS,
            .message = S("account.auth is \"password\""),
            .first_failed = h % 5 == 0 ? now - 12 * 86400 : 0};
#define ADD_ACCT(x) mf_rpt_add_result((x), &acct, &err)
        ALL(ADD_ACCT);
        mf_rpt_result hostres = {.rule = 4,
                                 .host_id = id,
                                 .hostname = hostname,
                                 .entity = hostname,
                                 .state = MF_RPT_PASS,
                                 .message = S("agent.version is \"0.1.0\"")};
#define ADD_HOSTRES(x) mf_rpt_add_result((x), &hostres, &err)
        ALL(ADD_HOSTRES);
        k.tests += 2;
        k.fail += acct.state == MF_RPT_FAIL;
        k.pass += 1 + (acct.state == MF_RPT_PASS);
        k.bad += k.fail + k.error > bad_before;
    }
    /* Fleet-wide results: one per server. */
    if (hosts > 0)
        k.suites++;
    for (size_t s = 0; s < MF_ARRAY_LEN(servers); s++) {
        mf_rpt_result res = {.rule = 5,
                             .host_id = NULL,
                             .entity = S("%s", servers[s]),
                             .server = servers[s],
                             .state = s == 3 ? MF_RPT_FAIL : MF_RPT_PASS,
                             .message = s == 3 ? S("fleet_server.probes_ok is 0 of %d probes", 12)
                                               : S("fleet_server.probes_ok is 10")};
        if (hosts == 0)
            break;
#define ADD_FLEET(x) mf_rpt_add_result((x), &res, &err)
        ALL(ADD_FLEET);
        k.tests++;
        k.fail += res.state == MF_RPT_FAIL;
        k.pass += res.state == MF_RPT_PASS;
    }
    /* The inventory. */
    for (size_t s = 0; s < MF_ARRAY_LEN(servers); s++) {
        char name[128];
        mf_strlcpy(name, servers[s], sizeof(name));
        char *colon = strrchr(name, ':');
        int port = 0;
        if (colon) {
            *colon = '\0';
            port = (int)strtol(colon + 1, NULL, 10);
        }
        mf_rpt_server row = {
            .hostname = g_kind == KIND_PLAIN ? name : S("%s", name),
            .port = port,
            .hosts = s == 0 ? hosts : hosts / 3,
            .hosts_ever = s == 0 ? hosts : hosts / 2,
            .entries = s == 0 ? hosts : hosts / 3 + 1,
            .accounts = s == 0   ? hosts
                        : s == 4 ? 2
                                 : 0,
            .unused = s == 0 ? 0 : hosts / 3,
            .probes_ok = s == 0   ? hosts
                         : s == 2 ? 3
                                  : 0,
            .probes_failed = s == 0 ? 0 : hosts / 4 + 1,
            .top_failure = s == 0 ? NULL : S("%s", s == 1 ? "dns-nxdomain" : "connect-timeout"),
            .first_seen = now - 900 * 86400,
            .last_seen = now - 3600,
        };
#define ADD_SERVER(x) mf_rpt_add_server((x), &row, &err)
        ALL(ADD_SERVER);
    }
    mf_rpt_server icloud = {.provider = S("icloud"),
                            .hosts = hosts / 2,
                            .hosts_ever = hosts / 2,
                            .entries = hosts / 2,
                            .accounts = hosts / 2,
                            .first_seen = now - 400 * 86400,
                            .last_seen = now - 3600};
#define ADD_ICLOUD(x) mf_rpt_add_server((x), &icloud, &err)
    ALL(ADD_ICLOUD);
    for (long long d = days; d > 0; d--) {
        size_t total = (size_t)hosts;
        mf_rpt_day day = {.day = now - d * 86400,
                          .hosts = total,
                          .compliant = total * (size_t)(40 + (days - d) * 2 % 50) / 100};
#define ADD_DAY(x) mf_rpt_add_day((x), &day, &err)
        ALL(ADD_DAY);
    }
    mf_rpt_waiver waivers[] = {
        {S("SMTP-UNUSED-002"), S("*"), S("mail.example-corp.com"),
         S("Kept for the archive mailbox until migration"), S("it-security@example-corp.com"),
         "2027-03-31", "active", k.waived},
        {S("SMTP-TLS-001"), S("alice-*"), S("*"), S("Legacy scanner"), NULL, "2026-10-31",
         "expired", 3},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(waivers); i++) {
#define ADD_WAIVER(x) mf_rpt_add_waiver((x), &waivers[i], &err)
        ALL(ADD_WAIVER);
    }
#define END(x) mf_rpt_end((x), &err)
    ALL(END);
    for (int f = 0; f < MF_RPT__FORMATS; f++)
        mf_rpt_free(w[f]);
    mf_strv_free(&g_owned);
    size_t suites = opts.junit_group == MF_RPT_GROUP_RULE ? nrules : k.suites;
    printf("{\"hosts\": %zu, \"suites\": %zu, \"tests\": %zu, \"failures\": %zu, \"errors\": %zu, "
           "\"skipped\": %zu, \"waived\": %zu, \"notapplicable\": %zu, \"passed\": %zu, "
           "\"payloads\": %zu, \"stopped\": %zu, \"hosts_failing_or_error\": %zu}\n",
           k.hosts, suites, k.tests, k.fail, k.error, k.waived + k.na, k.waived, k.na, k.pass,
           g_kind == KIND_PLAIN ? (size_t)0 : g_payloads, k.stopped, k.bad);
    return 0;
}
