/* test_probe_smtp.c: agent/probe_smtp.c — the strict reply parser and the SMTP client
 * state machine, driven with canned byte streams (no sockets), plus --resolve parsing
 * and the advice texts built on probe results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "advice.h"
#include "probe.h"
#include "probe_smtp.h"

#include <stdlib.h>
#include <string.h>

/* ---- reply parser ------------------------------------------------------------------ */

static mf_smtp_parse feed_all(mf_smtp_reply *rp, const char *s, size_t *used)
{
    return mf_smtp_reply_feed(rp, s, strlen(s), used);
}

static void test_reply_single_and_multi(void **state)
{
    (void)state;
    mf_smtp_reply rp;
    mf_smtp_reply_init(&rp);
    size_t used;
    assert_int_equal(feed_all(&rp, "220 mail.example.com ESMTP\r\n", &used), MF_SMTP_PARSE_REPLY);
    assert_int_equal(used, 28);
    assert_int_equal(rp.code, 220);
    assert_int_equal(rp.lines.n, 1);
    assert_string_equal(rp.lines.v[0], "mail.example.com ESMTP");
    mf_smtp_reply_reset(&rp);

    const char *m = "250-mail.example.com\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250 HELP\r\n";
    assert_int_equal(feed_all(&rp, m, &used), MF_SMTP_PARSE_REPLY);
    assert_int_equal(used, strlen(m));
    assert_int_equal(rp.code, 250);
    assert_int_equal(rp.lines.n, 4);
    assert_string_equal(rp.lines.v[2], "AUTH PLAIN LOGIN");
    mf_smtp_reply_reset(&rp);

    /* A bare code is a complete reply line (RFC 5321 4.2); a bare LF is tolerated. */
    assert_int_equal(feed_all(&rp, "250\n", &used), MF_SMTP_PARSE_REPLY);
    assert_int_equal(rp.lines.n, 1);
    assert_string_equal(rp.lines.v[0], "");
    mf_smtp_reply_free(&rp);
}

static void test_reply_byte_by_byte_and_rest(void **state)
{
    (void)state;
    mf_smtp_reply rp;
    mf_smtp_reply_init(&rp);
    const char *m = "250-a\r\n250 b\r\nNEXT";
    size_t used = 0, i = 0;
    mf_smtp_parse res = MF_SMTP_PARSE_MORE;
    for (; i < strlen(m) && res == MF_SMTP_PARSE_MORE; i++) {
        res = mf_smtp_reply_feed(&rp, m + i, 1, &used);
        assert_int_equal(used, 1);
    }
    assert_int_equal(res, MF_SMTP_PARSE_REPLY);
    assert_int_equal(i, 14); /* stopped right after the last CRLF */
    assert_int_equal(rp.lines.n, 2);
    mf_smtp_reply_reset(&rp);
    /* In one piece, the bytes after the reply are left for the caller. */
    assert_int_equal(mf_smtp_reply_feed(&rp, m, strlen(m), &used), MF_SMTP_PARSE_REPLY);
    assert_int_equal(used, 14);
    mf_smtp_reply_free(&rp);
}

static void expect_error(const char *input, size_t len, const char *needle)
{
    mf_smtp_reply rp;
    mf_smtp_reply_init(&rp);
    size_t used;
    mf_smtp_parse res = mf_smtp_reply_feed(&rp, input, len, &used);
    assert_int_equal(res, MF_SMTP_PARSE_ERROR);
    assert_true(used <= len);
    if (!strstr(rp.error, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", rp.error, needle);
    mf_smtp_reply_free(&rp);
}

static void test_reply_findings(void **state)
{
    (void)state;
    expect_error("abc hello\r\n", 11, "invalid reply code");
    expect_error("2x0 hello\r\n", 11, "invalid reply code");
    expect_error("600 too high\r\n", 14, "invalid reply code");
    expect_error("160 too low\r\n", 13, "invalid reply code");
    expect_error("27\r\n", 4, "invalid reply code");
    expect_error("\r\n", 2, "invalid reply code");
    expect_error("250_x\r\n", 7, "invalid separator");
    expect_error("250-a\r\n251 b\r\n", 14, "changes from 250 to 251");
    expect_error("220 a\x01z\r\n", 9, "non-printable");
    expect_error("220 a\rz\r\n", 9, "non-printable");
    expect_error("220 caf\xc3\xa9\r\n", 11, "non-printable");
    expect_error("220 a\0b\r\n", 9, "non-printable");
}

static void test_reply_caps(void **state)
{
    (void)state;
    /* A line longer than the cap fails as soon as the cap is passed, not at its end. */
    size_t big = 1024 * 1024;
    char *s = malloc(big);
    assert_non_null(s);
    memcpy(s, "220 ", 4);
    memset(s + 4, 'A', big - 4);
    mf_smtp_reply rp;
    mf_smtp_reply_init(&rp);
    size_t used;
    assert_int_equal(mf_smtp_reply_feed(&rp, s, big, &used), MF_SMTP_PARSE_ERROR);
    assert_true(used <= MF_SMTP_LINE_MAX);
    assert_non_null(strstr(rp.error, "longer than"));
    assert_true(rp.line.cap <= MF_SMTP_LINE_MAX + 1);
    mf_smtp_reply_free(&rp);
    free(s);

    /* A multi-line reply that never ends: capped by lines. */
    mf_smtp_reply_init(&rp);
    mf_smtp_parse res = MF_SMTP_PARSE_MORE;
    for (int i = 0; i < 1000 && res == MF_SMTP_PARSE_MORE; i++)
        res = feed_all(&rp, "220-more\r\n", &used);
    assert_int_equal(res, MF_SMTP_PARSE_ERROR);
    assert_non_null(strstr(rp.error, "100 lines"));
    mf_smtp_reply_free(&rp);

    /* ... and by bytes: 99 lines of 1000 bytes pass the 64 KiB cap first. */
    mf_smtp_reply_init(&rp);
    char line[1001];
    memcpy(line, "250-", 4);
    memset(line + 4, 'x', 994);
    memcpy(line + 998, "\r\n", 3);
    res = MF_SMTP_PARSE_MORE;
    for (int i = 0; i < 99 && res == MF_SMTP_PARSE_MORE; i++)
        res = feed_all(&rp, line, &used);
    assert_int_equal(res, MF_SMTP_PARSE_ERROR);
    assert_non_null(strstr(rp.error, "bytes"));
    mf_smtp_reply_free(&rp);
}

static void test_parse_auth(void **state)
{
    (void)state;
    mf_strv v = {0};
    assert_true(mf_smtp_parse_auth("AUTH PLAIN LOGIN", &v));
    assert_true(mf_smtp_parse_auth("auth=login cram-md5 plain", &v));
    assert_int_equal(v.n, 3);
    assert_string_equal(v.v[0], "PLAIN");
    assert_string_equal(v.v[1], "LOGIN");
    assert_string_equal(v.v[2], "CRAM-MD5");
    assert_false(mf_smtp_parse_auth("AUTHX PLAIN", &v));
    assert_false(mf_smtp_parse_auth("SIZE 100", &v));
    assert_true(mf_smtp_parse_auth("AUTH", &v));
    assert_int_equal(v.n, 3);
    mf_strv_free(&v);
}

/* ---- state machine ----------------------------------------------------------------- */

typedef struct fixture {
    mf_probe p;
    mf_smtp sm;
    int64_t now;
} fixture;

static void start(fixture *f, mf_security sec, bool implicit)
{
    memset(&f->p, 0, sizeof(f->p));
    for (int i = 0; i < MF_PHASE__COUNT; i++)
        f->p.phase_ms[i] = -1;
    f->now = 1000;
    mf_smtp_init(&f->sm, &f->p, sec, implicit, "client.example", "test:25", f->now);
}

static void finish(fixture *f)
{
    mf_smtp_free(&f->sm);
    free(f->p.detail);
    free(f->p.banner);
    mf_strv_free(&f->p.ehlo);
    mf_strv_free(&f->p.ehlo_tls);
    mf_strv_free(&f->p.auth);
    mf_strv_free(&f->p.auth_before_tls);
}

/* Feed the server's bytes 5 ms later; return what the client sent (and clear it). */
static char *server(fixture *f, const char *bytes)
{
    f->now += 5;
    mf_smtp_input(&f->sm, bytes, strlen(bytes), f->now);
    char *sent = mf_strndup(f->sm.out.data ? f->sm.out.data : "", f->sm.out.len);
    mf_buf_reset(&f->sm.out);
    return sent;
}

static void expect_sent(fixture *f, const char *bytes, const char *want)
{
    char *got = server(f, bytes);
    assert_string_equal(got, want);
    free(got);
}

static void test_sm_starttls_happy(void **state)
{
    (void)state;
    fixture f;
    start(&f, MF_SEC_STARTTLS, false);
    assert_int_equal(f.sm.state, MF_SMTP_BANNER);
    expect_sent(&f, "220 mx.example ESMTP\r\n", "EHLO client.example\r\n");
    assert_string_equal(f.p.banner, "220 mx.example ESMTP");
    expect_sent(&f, "250-mx.example\r\n250-SIZE 100\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
                "STARTTLS\r\n");
    assert_true(f.p.starttls_offered);
    assert_int_equal(f.p.auth_before_tls.n, 2);
    assert_int_equal(f.p.ehlo.n, 3);
    expect_sent(&f, "220 go ahead\r\n", "");
    assert_int_equal(f.sm.state, MF_SMTP_TLS);
    f.now += 20;
    mf_smtp_tls_done(&f.sm, true, MF_OUT_OK, NULL, f.now);
    assert_int_equal(f.sm.state, MF_SMTP_EHLO_TLS);
    assert_true(f.sm.tls_active);
    char *sent = mf_strndup(f.sm.out.data, f.sm.out.len);
    assert_string_equal(sent, "EHLO client.example\r\n");
    free(sent);
    mf_buf_reset(&f.sm.out);
    expect_sent(&f, "250-mx.example\r\n250 AUTH LOGIN\r\n", "QUIT\r\n");
    assert_int_equal(f.p.auth.n, 1);
    assert_string_equal(f.p.auth.v[0], "LOGIN");
    assert_int_equal(f.p.auth_before_tls.n, 2);
    expect_sent(&f, "221 bye\r\n", "");
    assert_int_equal(f.sm.state, MF_SMTP_DONE);
    assert_int_equal(f.p.outcome, MF_OUT_OK);
    assert_int_equal(f.p.phase_ms[MF_PHASE_BANNER], 5);
    assert_int_equal(f.p.phase_ms[MF_PHASE_TLS], 20);
    for (int i = MF_PHASE_BANNER; i < MF_PHASE__COUNT; i++)
        assert_true(f.p.phase_ms[i] >= 0);
    finish(&f);
}

static void test_sm_helo_fallback_no_starttls(void **state)
{
    (void)state;
    fixture f;
    start(&f, MF_SEC_STARTTLS, false);
    expect_sent(&f, "220 old.example\r\n", "EHLO client.example\r\n");
    expect_sent(&f, "502 what?\r\n", "HELO client.example\r\n");
    expect_sent(&f, "250 old.example\r\n", "QUIT\r\n");
    assert_int_equal(f.p.outcome, MF_OUT_STARTTLS_NOT_OFFERED);
    assert_int_equal(f.p.fail_phase, MF_PHASE_EHLO);
    expect_sent(&f, "221 bye\r\n", "");
    assert_int_equal(f.sm.state, MF_SMTP_DONE);
    finish(&f);
}

static void test_sm_plain_security_none(void **state)
{
    (void)state;
    fixture f;
    start(&f, MF_SEC_NONE, false);
    expect_sent(&f, "220 mx\r\n", "EHLO client.example\r\n");
    expect_sent(&f, "250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n", "QUIT\r\n");
    assert_true(f.p.starttls_offered);
    assert_int_equal(f.p.auth.n, 1); /* the only EHLO is the one that counts */
    assert_int_equal(f.p.auth_before_tls.n, 1);
    /* The server closes right after QUIT without answering: still fine. */
    mf_smtp_closed(&f.sm, false, f.now);
    assert_int_equal(f.sm.state, MF_SMTP_DONE);
    assert_int_equal(f.p.outcome, MF_OUT_OK);
    finish(&f);
}

static void test_sm_rejections(void **state)
{
    (void)state;
    fixture f;
    start(&f, MF_SEC_STARTTLS, false);
    expect_sent(&f, "421 busy\r\n", "QUIT\r\n");
    assert_int_equal(f.p.outcome, MF_OUT_SMTP_REJECTED);
    assert_int_equal(f.p.reply_code, 421);
    assert_int_equal(f.p.fail_phase, MF_PHASE_BANNER);
    assert_string_equal(f.p.detail, "421 busy");
    finish(&f);

    start(&f, MF_SEC_STARTTLS, false);
    expect_sent(&f, "220 mx\r\n", "EHLO client.example\r\n");
    expect_sent(&f, "250-mx\r\n250 STARTTLS\r\n", "STARTTLS\r\n");
    expect_sent(&f, "454 TLS not available\r\n", "QUIT\r\n");
    assert_int_equal(f.p.outcome, MF_OUT_STARTTLS_REJECTED);
    assert_int_equal(f.p.reply_code, 454);
    assert_int_equal(f.p.fail_phase, MF_PHASE_STARTTLS);
    finish(&f);

    start(&f, MF_SEC_STARTTLS, false);
    expect_sent(&f, "220 mx\r\n", "EHLO client.example\r\n");
    expect_sent(&f, "421 go away\r\n", "QUIT\r\n");
    assert_int_equal(f.p.outcome, MF_OUT_SMTP_REJECTED);
    assert_int_equal(f.p.fail_phase, MF_PHASE_EHLO);
    finish(&f);
}

static void test_sm_trailing_data(void **state)
{
    (void)state;
    fixture f;
    /* STARTTLS command injection: plain text after "220 go ahead". */
    start(&f, MF_SEC_STARTTLS, false);
    expect_sent(&f, "220 mx\r\n", "EHLO client.example\r\n");
    expect_sent(&f, "250-mx\r\n250 STARTTLS\r\n", "STARTTLS\r\n");
    char *s = server(&f, "220 go\r\n250 injected\r\n");
    free(s);
    assert_int_equal(f.p.outcome, MF_OUT_PROTOCOL_ERROR);
    assert_non_null(strstr(f.p.detail, "trailing data"));
    assert_int_equal(f.sm.state, MF_SMTP_DONE);
    finish(&f);

    /* Two replies where one was asked for. */
    start(&f, MF_SEC_STARTTLS, false);
    s = server(&f, "220 mx\r\n220 again\r\n");
    free(s);
    assert_int_equal(f.p.outcome, MF_OUT_PROTOCOL_ERROR);
    assert_int_equal(f.p.fail_phase, MF_PHASE_EHLO);
    finish(&f);

    /* A broken reply: QUIT without waiting. */
    start(&f, MF_SEC_STARTTLS, false);
    expect_sent(&f, "HTTP/1.1 400 Bad Request\r\n", "QUIT\r\n");
    assert_int_equal(f.p.outcome, MF_OUT_PROTOCOL_ERROR);
    assert_int_equal(f.sm.state, MF_SMTP_DONE);
    finish(&f);
}

static void test_sm_close_and_timeout(void **state)
{
    (void)state;
    fixture f;
    start(&f, MF_SEC_STARTTLS, false);
    expect_sent(&f, "220 mx\r\n", "EHLO client.example\r\n");
    mf_smtp_closed(&f.sm, true, f.now + 1);
    assert_int_equal(f.p.outcome, MF_OUT_CONNECTION_CLOSED);
    assert_int_equal(f.p.fail_phase, MF_PHASE_EHLO);
    assert_non_null(strstr(f.p.detail, "reset"));
    finish(&f);

    start(&f, MF_SEC_STARTTLS, false);
    char *s = server(&f, "220 partial");
    free(s);
    mf_smtp_timeout(&f.sm, f.now + 3000);
    assert_int_equal(f.p.outcome, MF_OUT_TIMEOUT);
    assert_int_equal(f.p.fail_phase, MF_PHASE_BANNER);
    assert_non_null(strstr(f.p.detail, "11 byte(s)"));
    assert_string_equal(f.sm.out.data, "QUIT\r\n");
    assert_int_equal(f.sm.state, MF_SMTP_DONE);
    finish(&f);

    /* No goodbye from the server is not a finding. */
    start(&f, MF_SEC_NONE, false);
    expect_sent(&f, "220 mx\r\n", "EHLO client.example\r\n");
    expect_sent(&f, "250 mx\r\n", "QUIT\r\n");
    mf_smtp_timeout(&f.sm, f.now + 3000);
    assert_int_equal(f.p.outcome, MF_OUT_OK);
    assert_int_equal(f.sm.state, MF_SMTP_DONE);
    finish(&f);
}

static void test_sm_implicit_tls_and_cert(void **state)
{
    (void)state;
    fixture f;
    start(&f, MF_SEC_TLS, true);
    assert_int_equal(f.sm.state, MF_SMTP_TLS);
    mf_smtp_tls_done(&f.sm, true, MF_OUT_CERT_EXPIRED, "expired", f.now + 10);
    assert_int_equal(f.sm.state, MF_SMTP_BANNER);
    assert_int_equal(f.p.outcome, MF_OUT_CERT_EXPIRED);
    assert_int_equal(f.p.fail_phase, MF_PHASE_TLS);
    expect_sent(&f, "220 mx\r\n", "EHLO client.example\r\n");
    assert_int_equal(f.sm.state, MF_SMTP_EHLO_TLS);
    /* A later problem does not replace the first finding. */
    mf_smtp_closed(&f.sm, false, f.now + 1);
    assert_int_equal(f.p.outcome, MF_OUT_CERT_EXPIRED);
    assert_int_equal(f.p.ehlo.n, 0);
    finish(&f);

    start(&f, MF_SEC_TLS, true);
    mf_smtp_tls_done(&f.sm, false, MF_OUT_TLS_HANDSHAKE_FAILED, "alert", f.now + 10);
    assert_int_equal(f.p.outcome, MF_OUT_TLS_HANDSHAKE_FAILED);
    assert_int_equal(f.sm.state, MF_SMTP_DONE);
    assert_int_equal(f.sm.out.len, 0); /* no plain-text QUIT into a broken TLS session */
    finish(&f);
}

static void test_state_names(void **state)
{
    (void)state;
    for (int s = 0; s < MF_SMTP__COUNT; s++)
        assert_string_not_equal(mf_smtp_state_name((mf_smtp_state)s), "?");
    assert_string_equal(mf_smtp_state_name(MF_SMTP__COUNT), "?");
    assert_int_equal(mf_smtp_state_phase(MF_SMTP_HELO_TLS), MF_PHASE_EHLO_TLS);
}

/* ---- --resolve ---------------------------------------------------------------------- */

static void test_resolve_parse(void **state)
{
    (void)state;
    mf_resolve r;
    mf_error err;
    assert_int_equal(mf_resolve_parse("Mail.Example.com:587:127.0.0.1", &r, &err), MF_OK);
    assert_string_equal(r.host, "mail.example.com");
    assert_int_equal(r.port, 587);
    assert_string_equal(r.addr, "127.0.0.1");
    mf_resolve_clear(&r);
    assert_int_equal(mf_resolve_parse("h:465:[::1]", &r, &err), MF_OK);
    assert_string_equal(r.addr, "::1");
    mf_resolve_clear(&r);
    assert_int_equal(mf_resolve_parse("h:465:fe80::1", &r, &err), MF_OK);
    assert_string_equal(r.addr, "fe80::1");
    mf_resolve_clear(&r);
    const char *bad[] = {"h", "h:25", ":25:127.0.0.1", "h:0:127.0.0.1", "h:70000:127.0.0.1",
                         "h:x:127.0.0.1", "h:25:", "h:25:not-an-address", "a b:25:127.0.0.1"};
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        mf_error_clear(&err);
        assert_int_equal(mf_resolve_parse(bad[i], &r, &err), MF_ERR_USAGE);
        assert_true(err.text[0] != '\0');
        assert_null(r.host);
    }
}

/* ---- advice --------------------------------------------------------------------------- */

static void test_advice_nxdomain_unused(void **state)
{
    (void)state;
    mf_report *r = mf_report_new();
    assert_non_null(r);
    int src;
    assert_int_equal(mf_report_add_source(r, "alice", "apple-mail", "accounts-plist", "/x", &src),
                     MF_OK);
    mf_server *s = mf_report_add_server(r, src);
    assert_int_equal(mf_server_set_hostname(s, "mail.oldserver.example"), MF_OK);
    s->port = 587;
    s->security = MF_SEC_STARTTLS;
    mf_report_compute_findings(r);
    mf_probe *p = mf_report_add_probe(r);
    p->hostname = mf_strdup("mail.oldserver.example");
    p->port = 587;
    p->outcome = MF_OUT_DNS_NXDOMAIN;
    p->fail_phase = MF_PHASE_DNS;
    mf_strv_push(&p->servers, r->servers[0].id);
    mf_advice_list adv = {0};
    assert_int_equal(mf_advice_for_server(&adv, r, &r->servers[0], p), MF_OK);
    assert_true(adv.n >= 1);
    assert_int_equal(adv.v[0].level, MF_ADVICE_PROBLEM);
    assert_string_equal(adv.v[0].text,
                        "mail.oldserver.example no longer exists (NXDOMAIN). No account uses "
                        "this entry: remove it in Mail → Settings → Accounts → Server Settings → "
                        "Outgoing Mail Account → Edit SMTP Server List.");
    mf_advice_list_free(&adv);

    /* Every outcome has words (or none for ok). */
    for (int o = 0; o < MF_OUT__COUNT; o++) {
        p->outcome = (mf_outcome)o;
        char *t = mf_advice_problem(p);
        if (o == MF_OUT_OK || o == MF_OUT_SKIPPED)
            assert_null(t);
        else
            assert_non_null(t);
        free(t);
    }
    mf_report_free(r);
}

static void test_advice_icloud_thunderbird(void **state)
{
    (void)state;
    mf_report *r = mf_report_new();
    int src;
    assert_int_equal(mf_report_add_source(r, "bob", "thunderbird", "prefs-js", "/p", &src), MF_OK);
    mf_server *s = mf_report_add_server(r, src);
    mf_server_set_hostname(s, "smtp.mail.me.com");
    s->port = 587;
    s->security = MF_SEC_STARTTLS;
    mf_advice_list adv = {0};
    assert_int_equal(mf_advice_for_server(&adv, r, s, NULL), MF_OK);
    bool found = false;
    for (size_t i = 0; i < adv.n; i++)
        if (strstr(adv.v[i].text, "app-specific password") &&
            strstr(adv.v[i].text, "Outgoing Server (SMTP)"))
            found = true;
    assert_true(found);
    mf_advice_list_free(&adv);
    mf_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_single_and_multi),
        cmocka_unit_test(test_reply_byte_by_byte_and_rest),
        cmocka_unit_test(test_reply_findings),
        cmocka_unit_test(test_reply_caps),
        cmocka_unit_test(test_parse_auth),
        cmocka_unit_test(test_sm_starttls_happy),
        cmocka_unit_test(test_sm_helo_fallback_no_starttls),
        cmocka_unit_test(test_sm_plain_security_none),
        cmocka_unit_test(test_sm_rejections),
        cmocka_unit_test(test_sm_trailing_data),
        cmocka_unit_test(test_sm_close_and_timeout),
        cmocka_unit_test(test_sm_implicit_tls_and_cert),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_resolve_parse),
        cmocka_unit_test(test_advice_nxdomain_unused),
        cmocka_unit_test(test_advice_icloud_thunderbird),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
