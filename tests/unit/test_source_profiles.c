/* Unit tests for agent/source_profiles.c: configuration profiles with Mail payloads,
 * plain and CMS-signed (signed here with a throwaway key and certificate). */
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
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const SECRETS[] = {"profile-outgoing-secret", "profile-incoming-secret",
                                      "cred-ref-secret"};

/* ---------------------------------------------------------------- fixture helpers */

static void set_str(plist_t d, const char *k, const char *v)
{
    plist_dict_set_item(d, k, plist_new_string(v));
}

static char *to_bytes(plist_t p, bool binary, size_t *len)
{
    char *b = mft_plist_bytes(p, binary, len);
    assert_non_null(b);
    return b;
}

static void assert_no_secrets(mf_report *r)
{
    mft_must_be_clean(r, SECRETS, sizeof(SECRETS) / sizeof(SECRETS[0]));
}

static char *find_bytes(char *hay, size_t hlen, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= hlen; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            return hay + i;
    return NULL;
}

/* ---------------------------------------------------------------- profiles */

static plist_t managed(const char *uuid, const char *type, const char *host, long port, int use_ssl,
                       const char *auth, const char *user)
{
    plist_t d = plist_new_dict();
    set_str(d, "PayloadType", "com.apple.mail.managed");
    set_str(d, "PayloadUUID", uuid);
    set_str(d, "PayloadIdentifier", "com.example.mail.payload");
    if (type)
        set_str(d, "EmailAccountType", type);
    if (host)
        set_str(d, "OutgoingMailServerHostName", host);
    if (port >= 0)
        plist_dict_set_item(d, "OutgoingMailServerPortNumber", plist_new_uint((uint64_t)port));
    if (use_ssl >= 0)
        plist_dict_set_item(d, "OutgoingMailServerUseSSL", plist_new_bool((uint8_t)use_ssl));
    if (auth)
        set_str(d, "OutgoingMailServerAuthentication", auth);
    if (user)
        set_str(d, "OutgoingMailServerUsername", user);
    set_str(d, "IncomingMailServerHostName", "imap.example.com");
    set_str(d, "OutgoingPassword", "profile-outgoing-secret");
    set_str(d, "IncomingPassword", "profile-incoming-secret");
    plist_dict_set_item(d, "OutgoingPasswordSameAsIncomingPassword", plist_new_bool(1));
    return d;
}

static plist_t declarative_payload(void)
{
    plist_t out = plist_new_dict();
    set_str(out, "HostName", "smtp.declared.example.com");
    plist_dict_set_item(out, "Port", plist_new_uint(2525));
    set_str(out, "AuthenticationMethod", "CRAMMD5");
    set_str(out, "AuthenticationCredentialsAssetReference", "cred-ref-secret");
    plist_t in = plist_new_dict();
    set_str(in, "ServerType", "POP");
    set_str(in, "HostName", "pop.declared.example.com");
    plist_t p = plist_new_dict();
    set_str(p, "VisibleName", "Declared Mail");
    plist_dict_set_item(p, "IncomingServer", in);
    plist_dict_set_item(p, "OutgoingServer", out);
    return p;
}

/* Payloads covering every mapping; docs/sources.md has the table. */
static plist_t sample_profile(void)
{
    plist_t content = plist_new_array();
    plist_t p = managed("UUID-A", "EmailTypeIMAP", "smtp.corp.example.com", 587, 1,
                        "EmailAuthPassword", "alice@corp.example.com");
    set_str(p, "EmailAccountDescription", "Corp Mail");
    set_str(p, "EmailAddress", "alice@corp.example.com");
    plist_array_append_item(content, p);
    plist_t wifi = plist_new_dict();
    set_str(wifi, "PayloadType", "com.apple.wifi.managed");
    set_str(wifi, "Password", "profile-outgoing-secret");
    plist_array_append_item(content, wifi);
    /* EmailAuthNone and no SSL, no port. */
    plist_array_append_item(content, managed("UUID-B", "EmailTypePOP", "Relay.Example.com ", -1, 0,
                                             "EmailAuthNone", NULL));
    plist_array_append_item(content, managed("UUID-C", "EmailTypeIMAP", "tls.example.com", 465, 1,
                                             "EmailAuthCRAMMD5", "c"));
    plist_array_append_item(
        content, managed("UUID-D", NULL, "md5.example.com", 587, -1, "EmailAuthHTTPMD5", "d"));
    plist_array_append_item(content, managed("UUID-E", "EmailTypeIMAP", "ntlm.example.com", -1, 1,
                                             "EmailAuthNTLM", "e"));
    plist_array_append_item(content, managed("UUID-F", "EmailTypeIMAP", NULL, 25, 0, NULL, "f"));
    plist_t decl = plist_new_dict();
    set_str(decl, "PayloadType", "com.apple.configuration.account.mail");
    set_str(decl, "PayloadUUID", "UUID-G");
    plist_dict_set_item(decl, "Payload", declarative_payload());
    plist_array_append_item(content, decl);
    plist_array_append_item(content, plist_new_string("stray"));

    plist_t root = plist_new_dict();
    set_str(root, "PayloadType", "Configuration");
    set_str(root, "PayloadIdentifier", "com.example.profile");
    plist_dict_set_item(root, "PayloadContent", content);
    return root;
}

static void check_sample(const mf_report *r, int src)
{
    assert_int_equal(r->nservers, 7);
    assert_int_equal(r->naccounts, 7);
    const mf_server *s = r->servers;
    const mf_account *a = r->accounts;
    for (size_t i = 0; i < r->nservers; i++) {
        assert_int_equal(s[i].source, src);
        assert_string_equal(s[i].client, "profile");
        assert_string_equal(a[i].smtp, s[i].id);
        assert_false(s[i].flags & MF_FLAG_UNUSED);
        assert_false(a[i].flags & MF_FLAG_DANGLING);
    }
    assert_string_equal(s[0].hostname, "smtp.corp.example.com");
    assert_int_equal(s[0].port, 587);
    assert_int_equal(s[0].security, MF_SEC_STARTTLS);
    assert_int_equal(s[0].auth, MF_AUTH_PASSWORD);
    assert_string_equal(s[0].username, "alice@corp.example.com");
    assert_string_equal(s[0].description, "Corp Mail");
    assert_string_equal(s[0].identifier, "UUID-A");
    assert_string_equal(a[0].type, "imap");
    assert_string_equal(a[0].description, "Corp Mail");
    assert_string_equal(a[0].smtp_ref, "smtp.corp.example.com");
    assert_int_equal(a[0].emails.n, 1);
    assert_string_equal(a[0].emails.v[0], "alice@corp.example.com");

    assert_string_equal(s[1].hostname, "relay.example.com");
    assert_string_equal(s[1].hostname_raw, "Relay.Example.com ");
    assert_int_equal(s[1].security, MF_SEC_NONE);
    assert_int_equal(s[1].auth, MF_AUTH_NONE);
    assert_int_equal(s[1].port, 587);
    assert_true(s[1].flags & MF_FLAG_DEFAULT_PORT);
    assert_true(s[1].flags & MF_FLAG_PLAINTEXT);
    assert_string_equal(a[1].type, "pop");
    assert_string_equal(a[1].smtp_ref, "Relay.Example.com ");

    assert_int_equal(s[2].security, MF_SEC_TLS);
    assert_int_equal(s[2].port, 465);
    assert_int_equal(s[2].auth, MF_AUTH_PASSWORD_ENCRYPTED);

    /* No UseSSL key: false. */
    assert_int_equal(s[3].security, MF_SEC_NONE);
    assert_int_equal(s[3].auth, MF_AUTH_PASSWORD_ENCRYPTED);
    assert_string_equal(a[3].type, "other");

    assert_int_equal(s[4].security, MF_SEC_STARTTLS);
    assert_int_equal(s[4].port, 587);
    assert_true(s[4].flags & MF_FLAG_DEFAULT_PORT);
    assert_int_equal(s[4].auth, MF_AUTH_NTLM);

    assert_null(s[5].hostname);
    assert_true(s[5].flags & MF_FLAG_NO_HOSTNAME);
    assert_int_equal(s[5].auth, MF_AUTH_UNKNOWN);
    assert_int_equal(s[5].port, 25);
    assert_true(s[5].flags & MF_FLAG_PORT_25);
    assert_null(a[5].smtp_ref);

    assert_string_equal(s[6].hostname, "smtp.declared.example.com");
    assert_int_equal(s[6].port, 2525);
    assert_int_equal(s[6].security, MF_SEC_UNKNOWN);
    assert_int_equal(s[6].auth, MF_AUTH_PASSWORD_ENCRYPTED);
    assert_null(s[6].username);
    assert_string_equal(s[6].description, "Declared Mail");
    assert_string_equal(s[6].identifier, "UUID-G");
    assert_string_equal(a[6].type, "pop");
}

/* ---------------------------------------------------------------- CMS signing */

typedef struct signer {
    EVP_PKEY *key;
    X509 *cert;
} signer;

static signer make_signer(void)
{
    signer s = {0};
    s.key = EVP_RSA_gen(2048);
    assert_non_null(s.key);
    s.cert = X509_new();
    assert_non_null(s.cert);
    X509_set_version(s.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(s.cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(s.cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(s.cert), 3600);
    X509_set_pubkey(s.cert, s.key);
    X509_NAME *n = X509_get_subject_name(s.cert);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"mailfleet test MDM",
                               -1, -1, 0);
    X509_set_issuer_name(s.cert, n);
    assert_true(X509_sign(s.cert, s.key, EVP_sha256()) > 0);
    return s;
}

static void free_signer(signer *s)
{
    EVP_PKEY_free(s->key);
    X509_free(s->cert);
}

enum { OUT_DER, OUT_PEM };

static char *bio_bytes(BIO *b, size_t *len)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    assert_true(n > 0);
    char *copy = malloc((size_t)n);
    memcpy(copy, p, (size_t)n);
    *len = (size_t)n;
    return copy;
}

/* Sign content (embedded, or detached when detached is set). */
static char *cms_sign(const signer *s, const char *content, size_t clen, int form, bool detached,
                      size_t *len)
{
    BIO *in = BIO_new_mem_buf(content, (int)clen);
    unsigned flags = CMS_BINARY | (detached ? CMS_DETACHED : 0);
    CMS_ContentInfo *cms = CMS_sign(s->cert, s->key, NULL, in, flags);
    assert_non_null(cms);
    BIO *out = BIO_new(BIO_s_mem());
    if (form == OUT_DER)
        assert_true(i2d_CMS_bio(out, cms) > 0);
    else
        assert_true(PEM_write_bio_CMS(out, cms) > 0);
    char *bytes = bio_bytes(out, len);
    BIO_free(out);
    BIO_free(in);
    CMS_ContentInfo_free(cms);
    return bytes;
}

static char *cms_encrypt(const signer *s, const char *content, size_t clen, size_t *len)
{
    BIO *in = BIO_new_mem_buf(content, (int)clen);
    STACK_OF(X509) *certs = sk_X509_new_null();
    sk_X509_push(certs, s->cert);
    CMS_ContentInfo *cms = CMS_encrypt(certs, in, EVP_aes_128_cbc(), CMS_BINARY);
    assert_non_null(cms);
    BIO *out = BIO_new(BIO_s_mem());
    assert_true(i2d_CMS_bio(out, cms) > 0);
    char *bytes = bio_bytes(out, len);
    BIO_free(out);
    BIO_free(in);
    sk_X509_free(certs);
    CMS_ContentInfo_free(cms);
    return bytes;
}

/* Parse bytes as a profile into a fresh report with one source "mem". */
static mf_report *parse_profile(const char *data, size_t len, mf_code expect)
{
    mf_report *r = mf_report_new();
    int idx;
    assert_int_equal(mf_report_add_source(r, "", "profile", "mobileconfig", "mem", &idx), MF_OK);
    mf_error err;
    assert_int_equal(mf_profile_parse(r, idx, data, len, &err), expect);
    mf_report_compute_findings(r);
    return r;
}

/* ---------------------------------------------------------------- tests */

static void test_plain_profiles(void **state)
{
    (void)state;
    plist_t p = sample_profile();
    for (int binary = 0; binary <= 1; binary++) {
        size_t len;
        char *bytes = to_bytes(p, binary, &len);
        /* One stray non-dict entry: malformed, everything else read. */
        mf_report *r = parse_profile(bytes, len, MF_ERR_PARSE);
        assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED);
        assert_non_null(strstr(r->sources[0].error, "PayloadContent[8] is a string"));
        check_sample(r, 0);
        assert_no_secrets(r);
        mf_report_free(r);
        free(bytes);
    }
    plist_free(p);
}

static void test_signed_profiles(void **state)
{
    (void)state;
    signer s = make_signer();
    plist_t p = sample_profile();
    size_t plen;
    char *plain = to_bytes(p, false, &plen);
    plist_free(p);

    for (int form = OUT_DER; form <= OUT_PEM; form++) {
        size_t len;
        char *signed_bytes = cms_sign(&s, plain, plen, form, false, &len);
        mf_profile_body body;
        mf_error err;
        assert_int_equal(mf_profile_unwrap(&body, signed_bytes, len, &err), MF_OK);
        assert_true(body.is_signed);
        assert_true(body.owned);
        assert_true(body.signature_ok);
        assert_int_equal(body.len, plen);
        assert_memory_equal(body.data, plain, plen);
        mf_profile_body_free(&body);
        /* A plain one points into the input. */
        assert_int_equal(mf_profile_unwrap(&body, plain, plen, &err), MF_OK);
        assert_false(body.is_signed);
        assert_false(body.owned);
        assert_ptr_equal(body.data, plain);
        mf_profile_body_free(&body);

        mf_report *r = parse_profile(signed_bytes, len, MF_ERR_PARSE);
        check_sample(r, 0);
        assert_no_secrets(r);
        mf_report_free(r);
        free(signed_bytes);
    }

    /* PEM with the older PKCS7 label. */
    {
        size_t dlen;
        char *der = cms_sign(&s, plain, plen, OUT_DER, false, &dlen);
        BIO *b = BIO_new(BIO_s_mem());
        assert_true(PEM_write_bio(b, "PKCS7", "", (const unsigned char *)der, (long)dlen) > 0);
        size_t pemlen;
        char *pem = bio_bytes(b, &pemlen);
        assert_non_null(find_bytes(pem, pemlen, "-----BEGIN PKCS7-----"));
        mf_report *r = parse_profile(pem, pemlen, MF_ERR_PARSE);
        check_sample(r, 0);
        mf_report_free(r);
        BIO_free(b);
        free(pem);
        free(der);
    }

    /* A signature that no longer matches (a byte of the content changed): still read. */
    size_t len;
    char *der = cms_sign(&s, plain, plen, OUT_DER, false, &len);
    char *hit = find_bytes(der, len, "smtp.corp.example.com");
    assert_non_null(hit);
    hit[0] = 'S';
    mf_profile_body body;
    mf_error err;
    assert_int_equal(mf_profile_unwrap(&body, der, len, &err), MF_OK);
    assert_true(body.is_signed);
    assert_false(body.signature_ok);
    mf_profile_body_free(&body);
    mf_report *r = parse_profile(der, len, MF_ERR_PARSE);
    assert_int_equal(r->nservers, 7);
    assert_string_equal(r->servers[0].hostname, "smtp.corp.example.com");
    assert_true(r->servers[0].flags & MF_FLAG_HOSTNAME_CASE);
    mf_report_free(r);
    free(der);

    /* Detached content cannot be read. */
    der = cms_sign(&s, plain, plen, OUT_DER, true, &len);
    r = parse_profile(der, len, MF_ERR_UNSUPPORTED);
    assert_int_equal(r->sources[0].status, MF_SRC_UNREADABLE);
    assert_non_null(strstr(r->sources[0].error, "detached"));
    assert_int_equal(r->nservers, 0);
    mf_report_free(r);
    free(der);

    /* Enveloped (encrypted) data is not SignedData. */
    der = cms_encrypt(&s, plain, plen, &len);
    r = parse_profile(der, len, MF_ERR_UNSUPPORTED);
    assert_int_equal(r->sources[0].status, MF_SRC_UNREADABLE);
    assert_non_null(strstr(r->sources[0].error, "not SignedData"));
    mf_report_free(r);

    /* Truncated DER. */
    r = parse_profile(der, len / 2, MF_ERR_PARSE);
    assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED);
    assert_non_null(strstr(r->sources[0].error, "CMS"));
    mf_report_free(r);
    free(der);

    /* Signed bytes that are not a plist. */
    der = cms_sign(&s, "hello", 5, OUT_DER, false, &len);
    r = parse_profile(der, len, MF_ERR_PARSE);
    assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED);
    assert_non_null(strstr(r->sources[0].error, "signed content"));
    mf_report_free(r);
    free(der);

    free(plain);
    free_signer(&s);
}

static void test_other_shapes(void **state)
{
    (void)state;
    size_t len;
    /* Encrypted payloads. */
    plist_t p = plist_new_dict();
    set_str(p, "PayloadType", "Configuration");
    plist_dict_set_item(p, "EncryptedPayloadContent", plist_new_data("\x30\x80", 2));
    char *b = to_bytes(p, false, &len);
    mf_report *r = parse_profile(b, len, MF_ERR_UNSUPPORTED);
    assert_int_equal(r->sources[0].status, MF_SRC_UNREADABLE);
    assert_non_null(strstr(r->sources[0].error, "encrypted"));
    mf_report_free(r);
    free(b);
    plist_free(p);

    /* A bare declaration. */
    p = plist_new_dict();
    set_str(p, "Type", "com.apple.configuration.account.mail");
    set_str(p, "Identifier", "EB13EE2B-5D63-4EBA-810F-5B81D07F5017");
    plist_dict_set_item(p, "Payload", declarative_payload());
    b = to_bytes(p, true, &len);
    r = parse_profile(b, len, MF_OK);
    assert_int_equal(r->nservers, 1);
    assert_string_equal(r->servers[0].identifier, "EB13EE2B-5D63-4EBA-810F-5B81D07F5017");
    assert_int_equal(r->servers[0].port, 2525);
    assert_no_secrets(r);
    mf_report_free(r);
    free(b);
    plist_free(p);

    /* A declaration without OutgoingServer. */
    p = plist_new_dict();
    set_str(p, "Type", "com.apple.configuration.account.mail");
    plist_dict_set_item(p, "Payload", plist_new_dict());
    b = to_bytes(p, false, &len);
    r = parse_profile(b, len, MF_ERR_PARSE);
    assert_non_null(strstr(r->sources[0].error, "OutgoingServer"));
    assert_int_equal(r->nservers, 0);
    mf_report_free(r);
    free(b);
    plist_free(p);

    /* A payload on its own. */
    p = managed("UUID-X", "EmailTypeIMAP", "solo.example.com", 587, 1, "EmailAuthPassword", "x");
    b = to_bytes(p, false, &len);
    r = parse_profile(b, len, MF_OK);
    assert_int_equal(r->nservers, 1);
    assert_string_equal(r->servers[0].hostname, "solo.example.com");
    mf_report_free(r);
    free(b);
    plist_free(p);

    /* A profile with no mail payloads: ok, nothing added. */
    p = plist_new_dict();
    plist_dict_set_item(p, "PayloadContent", plist_new_array());
    b = to_bytes(p, false, &len);
    r = parse_profile(b, len, MF_OK);
    assert_int_equal(r->sources[0].status, MF_SRC_OK);
    assert_int_equal(r->nservers, 0);
    mf_report_free(r);
    free(b);
    plist_free(p);

    /* Wrong types. */
    p = plist_new_array();
    b = to_bytes(p, false, &len);
    r = parse_profile(b, len, MF_ERR_PARSE);
    assert_non_null(strstr(r->sources[0].error, "top level is an array"));
    mf_report_free(r);
    free(b);
    plist_free(p);
    p = plist_new_dict();
    set_str(p, "PayloadContent", "x");
    b = to_bytes(p, false, &len);
    r = parse_profile(b, len, MF_ERR_PARSE);
    assert_non_null(strstr(r->sources[0].error, "PayloadContent is a string"));
    mf_report_free(r);
    free(b);
    plist_free(p);

    /* Neither plist nor CMS. */
    r = parse_profile("\x01\x02\x03", 3, MF_ERR_PARSE);
    assert_non_null(strstr(r->sources[0].error, "neither"));
    mf_report_free(r);
    r = parse_profile("\x30\x03\x01\x01\x00", 5, MF_ERR_PARSE);
    assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED);
    mf_report_free(r);
    r = parse_profile("-----BEGIN CMS-----\nAAAA\n-----END CMS-----\n", 42, MF_ERR_PARSE);
    assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED);
    mf_report_free(r);
}

static void test_scan_dir(void **state)
{
    (void)state;
    char *dir = mft_must_scratch("mf-profiles");
    signer s = make_signer();
    plist_t p = sample_profile();
    size_t plen, slen;
    char *plain = to_bytes(p, false, &plen);
    char *signed_der = cms_sign(&s, plain, plen, OUT_DER, false, &slen);
    plist_free(p);

    char *b = mft_join(dir, "b.mobileconfig");
    char *a = mft_join(dir, "a.mobileconfig");
    char *c = mft_join(dir, "c.txt");
    char *d = mft_join(dir, "d.MOBILECONFIG");
    char *e = mft_join(dir, "e.mobileconfig");
    char *h = mft_join(dir, ".hidden.mobileconfig");
    char *z = mft_join(dir, "z.mobileconfig");
    mft_must_write(b, signed_der, slen);
    mft_must_write(a, plain, plen);
    mft_must_write(c, plain, plen);
    mft_must_write(d, "garbage!", 8);
    assert_int_equal(mkdir(e, 0700), 0);
    mft_must_write(h, plain, plen);
    mft_must_write(z, plain, plen);

    mf_report *r = mf_report_new();
    mf_scan_opts o = {.file_cap = plen + 1}; /* the signed one is larger: too-large */
    assert_true(slen > plen + 1);
    assert_int_equal(mf_profiles_scan_dir(r, dir, &o), MF_OK);
    mf_report_compute_findings(r);
    assert_int_equal(r->nsources, 5);
    assert_string_equal(r->sources[0].path, a);
    assert_string_equal(r->sources[1].path, b);
    assert_string_equal(r->sources[2].path, d);
    assert_string_equal(r->sources[3].path, e);
    assert_string_equal(r->sources[4].path, z);
    for (size_t i = 0; i < r->nsources; i++) {
        assert_string_equal(r->sources[i].client, "profile");
        assert_string_equal(r->sources[i].format, "mobileconfig");
        assert_string_equal(r->sources[i].user, "");
    }
    assert_int_equal(r->sources[0].status, MF_SRC_MALFORMED); /* the stray entry */
    assert_int_equal(r->sources[1].status, MF_SRC_TOO_LARGE);
    assert_int_equal(r->sources[2].status, MF_SRC_MALFORMED);
    assert_non_null(strstr(r->sources[2].error, d));
    assert_int_equal(r->sources[3].status, MF_SRC_UNREADABLE);
    assert_int_equal(r->sources[4].status, MF_SRC_MALFORMED);
    assert_int_equal(r->nservers, 14);
    assert_int_equal(r->servers[7].source, 4);
    /* The same payloads in two profiles are duplicates of each other. */
    assert_true(r->servers[0].flags & MF_FLAG_DUPLICATE);
    assert_no_secrets(r);
    mf_report_free(r);

    /* Signed profiles read from a folder too. */
    r = mf_report_new();
    o.file_cap = 0;
    assert_int_equal(mf_profiles_scan_file(r, b, &o), MF_OK);
    assert_int_equal(r->nservers, 7);
    mf_report_free(r);

    /* A folder that does not exist, and a file where the folder should be. */
    char *missing = mft_join(dir, "nope");
    r = mf_report_new();
    assert_int_equal(mf_profiles_scan_dir(r, missing, NULL), MF_OK);
    assert_int_equal(mf_profiles_scan_dir(r, a, NULL), MF_OK);
    assert_int_equal(r->nsources, 2);
    assert_string_equal(r->sources[0].format, "profiles-dir");
    assert_int_equal(r->sources[0].status, MF_SRC_MISSING);
    assert_non_null(strstr(r->sources[0].error, missing));
    assert_int_equal(r->sources[1].status, MF_SRC_UNREADABLE);
    assert_non_null(strstr(r->sources[1].error, "not a folder"));
    mf_report_free(r);

    /* An empty folder adds nothing. */
    char *empty = mft_join(dir, "empty");
    assert_int_equal(mkdir(empty, 0700), 0);
    r = mf_report_new();
    assert_int_equal(mf_profiles_scan_dir(r, empty, NULL), MF_OK);
    assert_int_equal(r->nsources, 0);
    mf_report_free(r);

    mft_rm_tree(dir);
    free(empty);
    free(missing);
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
    free(h);
    free(z);
    free(dir);
    free(plain);
    free(signed_der);
    free_signer(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_profiles),
        cmocka_unit_test(test_signed_profiles),
        cmocka_unit_test(test_other_shapes),
        cmocka_unit_test(test_scan_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
