/* probe_tls.c: OpenSSL for the probe. OpenSSL's errors are translated here and nowhere
 * else. See probe_tls.h. */
#include "probe_tls.h"
#include "probe_smtp.h"
#include "buf.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define SAN_MAX 100
#define NAME_MAX_LEN 1024

struct mf_tls_ctx {
    SSL_CTX *ssl_ctx;
};

/* What the chain verification found, by kind. */
enum {
    VF_SELF_SIGNED = 1u << 0,
    VF_EXPIRED = 1u << 1,
    VF_NOT_YET_VALID = 1u << 2,
    VF_UNTRUSTED = 1u << 3,
};

struct mf_tls_conn {
    SSL *ssl;
    char *host;        /* without a trailing dot */
    bool host_is_ip;
    bool established;
    unsigned vflags;   /* VF_* */
    long first_verify; /* first verification error, X509_V_OK if none */
    const char *alert; /* OpenSSL's static text of an alert the server sent */
    char err[256];     /* the OpenSSL reason of the last failure */
    int sys_errno;
};

static void set_ssl_error(mf_tls_conn *c)
{
    unsigned long e = ERR_peek_last_error();
    if (e) {
        const char *reason = ERR_reason_error_string(e);
        if (reason)
            mf_strlcpy(c->err, reason, sizeof(c->err));
        else
            ERR_error_string_n(e, c->err, sizeof(c->err));
    }
    ERR_clear_error();
}

/* Called for each certificate of the chain; records every error and carries on, so
 * that the handshake completes and the whole certificate can be inspected. */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    if (ok)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    mf_tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!c)
        return 1;
    int e = X509_STORE_CTX_get_error(x);
    if (c->first_verify == X509_V_OK)
        c->first_verify = e;
    switch (e) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        c->vflags |= VF_SELF_SIGNED;
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        c->vflags |= VF_EXPIRED;
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        c->vflags |= VF_NOT_YET_VALID;
        break;
    default:
        c->vflags |= VF_UNTRUSTED;
        break;
    }
    mf_log_debug("tls %s: verify error at depth %d: %s", c->host,
                 X509_STORE_CTX_get_error_depth(x), X509_verify_cert_error_string(e));
    return 1;
}

static void info_cb(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_ALERT) && (where & SSL_CB_READ)) {
        mf_tls_conn *c = SSL_get_app_data(ssl);
        if (c && !c->alert)
            c->alert = SSL_alert_desc_string_long(ret);
    }
}

mf_code mf_tls_ctx_new(mf_tls_ctx **out, const char *ca_file, mf_error *err)
{
    *out = NULL;
    mf_code rc = MF_OK;
    mf_tls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return MF_ERR_NOMEM;
    ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx->ssl_ctx) {
        rc = mf_error_set(err, MF_ERR_TLS, "cannot create a TLS context");
        goto out;
    }
    /* Speak whatever the server speaks so the report can say what it was. */
    SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_VERSION);
    SSL_CTX_set_cipher_list(ctx->ssl_ctx, "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, verify_cb);
    /* Non-blocking writes are retried from a buffer that may have moved. */
    SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(ctx->ssl_ctx, ca_file, NULL) != 1) {
            char reason[256] = "";
            unsigned long e = ERR_peek_last_error();
            if (e)
                ERR_error_string_n(e, reason, sizeof(reason));
            ERR_clear_error();
            mf_error_set_file(err, ca_file);
            rc = mf_error_set(err, MF_ERR_CONFIG, "cannot load CA certificates from %s: %s",
                              ca_file, reason[0] ? reason : "no certificate found");
            goto out;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx->ssl_ctx) != 1) {
        ERR_clear_error();
        mf_log_warn("cannot load the system's trust store: every certificate will look "
                    "untrusted");
    }
out:
    if (rc != MF_OK) {
        mf_tls_ctx_free(ctx);
        return rc;
    }
    *out = ctx;
    return MF_OK;
}

void mf_tls_ctx_free(mf_tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

static bool is_ip_literal(const char *h)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

mf_code mf_tls_conn_new(mf_tls_conn **out, mf_tls_ctx *ctx, int fd, const char *host)
{
    *out = NULL;
    mf_code rc = MF_OK;
    mf_tls_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return MF_ERR_NOMEM;
    c->first_verify = X509_V_OK;
    c->host = mf_strdup(host);
    if (!c->host) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    size_t hl = strlen(c->host);
    if (hl > 1 && c->host[hl - 1] == '.')
        c->host[hl - 1] = '\0';
    c->host_is_ip = is_ip_literal(c->host);
    c->ssl = SSL_new(ctx->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
        ERR_clear_error();
        rc = MF_ERR_TLS;
        goto out;
    }
    SSL_set_app_data(c->ssl, c);
    SSL_set_info_callback(c->ssl, info_cb);
    SSL_set_connect_state(c->ssl);
    /* RFC 6066: SNI carries host names only, never address literals. */
    if (!c->host_is_ip && SSL_set_tlsext_host_name(c->ssl, c->host) != 1) {
        ERR_clear_error();
        rc = MF_ERR_TLS;
        goto out;
    }
out:
    if (rc != MF_OK) {
        mf_tls_conn_free(c);
        return rc;
    }
    *out = c;
    return MF_OK;
}

void mf_tls_conn_free(mf_tls_conn *c)
{
    if (!c)
        return;
    if (c->ssl) {
        if (c->established) {
            ERR_clear_error();
            SSL_shutdown(c->ssl); /* one non-blocking attempt: close_notify if it fits */
        }
        ERR_clear_error();
        SSL_free(c->ssl);
    }
    free(c->host);
    free(c);
}

/* Map an OpenSSL result to mf_tls_io. */
static mf_tls_io map_result(mf_tls_conn *c, int r)
{
    int e = SSL_get_error(c->ssl, r);
    int saved = errno;
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return MF_TLS_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return MF_TLS_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return MF_TLS_IO_CLOSED;
    case SSL_ERROR_SYSCALL:
        c->sys_errno = saved;
        set_ssl_error(c);
        if (saved == ECONNRESET || saved == EPIPE)
            return MF_TLS_IO_RESET;
        return MF_TLS_IO_CLOSED;
    default: {
        unsigned long le = ERR_peek_last_error();
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
        if (ERR_GET_LIB(le) == ERR_LIB_SSL &&
            ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            set_ssl_error(c);
            return MF_TLS_IO_CLOSED;
        }
#endif
        (void)le;
        set_ssl_error(c);
        return MF_TLS_IO_ERROR;
    }
    }
}

mf_tls_io mf_tls_handshake(mf_tls_conn *c)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        c->established = true;
        return MF_TLS_IO_DONE;
    }
    return map_result(c, r);
}

char *mf_tls_failure(mf_tls_conn *c, mf_tls_io how, mf_tls *t)
{
    free(t->alert);
    t->alert = c->alert ? mf_strdup(c->alert) : NULL;
    if (c->alert)
        return mf_asprintf("the server sent the TLS alert \"%s\"%s%s%s", c->alert,
                           c->err[0] ? " (" : "", c->err, c->err[0] ? ")" : "");
    switch (how) {
    case MF_TLS_IO_RESET:
        return mf_strdup("the server reset the connection during the TLS handshake");
    case MF_TLS_IO_CLOSED:
        return mf_strdup("the server closed the connection during the TLS handshake");
    default:
        return mf_asprintf("the TLS handshake failed: %s", c->err[0] ? c->err : "unknown error");
    }
}

static char *name_text(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return NULL;
    /* RFC 2253 form; ESC_MSB keeps the text ASCII for the JSON report. */
    X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n < 0)
        n = 0;
    if (n > NAME_MAX_LEN)
        n = NAME_MAX_LEN;
    char *s = mf_smtp_printable(data ? data : "", (size_t)n);
    BIO_free(b);
    return s;
}

static char *time_text(const ASN1_TIME *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return NULL;
    char buf[32];
    mf_time_format_rfc3339((int64_t)timegm(&tm), buf, sizeof(buf));
    return mf_strdup(buf);
}

static void read_sans(X509 *cert, mf_strv *out)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (!names)
        return;
    int n = sk_GENERAL_NAME_num(names);
    for (int i = 0; i < n && out->n < SAN_MAX; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            int len = ASN1_STRING_length(g->d.dNSName);
            if (len > 0 && len <= 255)
                mf_strv_push_owned(out, mf_smtp_printable((const char *)d, (size_t)len));
        } else if (g->type == GEN_IPADD) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
            int len = ASN1_STRING_length(g->d.iPAddress);
            char txt[INET6_ADDRSTRLEN];
            if ((len == 4 && inet_ntop(AF_INET, d, txt, sizeof(txt))) ||
                (len == 16 && inet_ntop(AF_INET6, d, txt, sizeof(txt))))
                mf_strv_push(out, txt);
        }
    }
    GENERAL_NAMES_free(names);
}

static void fingerprint(X509 *cert, mf_cert *mc)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1) {
        ERR_clear_error();
        return;
    }
    char hex[EVP_MAX_MD_SIZE * 2 + 1];
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    mc->sha256 = mf_strdup(hex);
}

/* The names the certificate is for, for a mismatch message. */
static char *cert_names(const mf_cert *mc)
{
    mf_buf b;
    mf_buf_init(&b, 300);
    for (size_t i = 0; i < mc->san.n && i < 5; i++)
        if (mf_buf_appendf(&b, "%s%s", i ? ", " : "", mc->san.v[i]) != MF_OK)
            break;
    if (b.len == 0 && mc->subject)
        mf_buf_append_str(&b, mc->subject);
    return mf_buf_detach(&b, NULL);
}

mf_outcome mf_tls_inspect(mf_tls_conn *c, mf_tls *t, char **detail_out)
{
    *detail_out = NULL;
    mf_outcome o = MF_OUT_OK;
    X509 *cert = NULL;
    t->version = mf_strdup(SSL_get_version(c->ssl));
    const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);
    t->cipher = ci ? mf_strdup(SSL_CIPHER_get_name(ci)) : NULL;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    cert = SSL_get1_peer_certificate(c->ssl);
#else
    cert = SSL_get_peer_certificate(c->ssl);
#endif
    if (!cert) {
        t->verified = false;
        t->verify_error = mf_strdup("the server sent no certificate");
        *detail_out = mf_strdup("the server sent no certificate");
        o = MF_OUT_CERT_UNTRUSTED;
        goto out;
    }
    long vr = SSL_get_verify_result(c->ssl);
    if (vr != X509_V_OK && c->first_verify == X509_V_OK) {
        c->first_verify = vr;
        c->vflags |= VF_UNTRUSTED;
    }
    t->verified = c->vflags == 0;
    t->verify_error =
        t->verified ? NULL : mf_strdup(X509_verify_cert_error_string(c->first_verify));
    if (c->host_is_ip)
        t->hostname_match = X509_check_ip_asc(cert, c->host, 0) == 1;
    else
        t->hostname_match = X509_check_host(cert, c->host, strlen(c->host),
                                            X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
    ERR_clear_error();

    mf_cert *mc = &t->cert;
    t->has_cert = true;
    mc->subject = name_text(X509_get_subject_name(cert));
    mc->issuer = name_text(X509_get_issuer_name(cert));
    read_sans(cert, &mc->san);
    mc->not_before = time_text(X509_get0_notBefore(cert));
    mc->not_after = time_text(X509_get0_notAfter(cert));
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) == 1)
        mc->days_left = days;
    mc->self_signed = X509_check_issued(cert, cert) == X509_V_OK;
    fingerprint(cert, mc);
    ERR_clear_error();

    if (c->vflags & VF_SELF_SIGNED) {
        o = MF_OUT_CERT_SELF_SIGNED;
        *detail_out = mf_asprintf("the certificate is self-signed (%s), so nothing vouches "
                                  "for it", mc->subject ? mc->subject : "no subject");
    } else if (c->vflags & VF_UNTRUSTED) {
        o = MF_OUT_CERT_UNTRUSTED;
        *detail_out = mf_asprintf("the certificate is not trusted: %s (issuer %s)",
                                  t->verify_error, mc->issuer ? mc->issuer : "unknown");
    } else if (c->vflags & VF_EXPIRED) {
        o = MF_OUT_CERT_EXPIRED;
        *detail_out = mf_asprintf("the certificate expired on %s (%lld day(s) ago)",
                                  mc->not_after ? mc->not_after : "?", -mc->days_left);
    } else if (c->vflags & VF_NOT_YET_VALID) {
        o = MF_OUT_CERT_NOT_YET_VALID;
        *detail_out = mf_asprintf("the certificate is not valid before %s",
                                  mc->not_before ? mc->not_before : "?");
    } else if (!t->hostname_match) {
        o = MF_OUT_CERT_HOSTNAME_MISMATCH;
        char *names = cert_names(mc);
        *detail_out = mf_asprintf("the certificate is for %s, not for %s",
                                  names && *names ? names : "other names", c->host);
        free(names);
    }
out:
    X509_free(cert);
    return o;
}

mf_tls_io mf_tls_read(mf_tls_conn *c, char *buf, size_t cap, size_t *n_out)
{
    *n_out = 0;
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    int r = SSL_read_ex(c->ssl, buf, cap, &n);
    if (r == 1) {
        *n_out = n;
        return MF_TLS_IO_DONE;
    }
    return map_result(c, r);
}

mf_tls_io mf_tls_write(mf_tls_conn *c, const char *buf, size_t len, size_t *n_out)
{
    *n_out = 0;
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    int r = SSL_write_ex(c->ssl, buf, len, &n);
    if (r == 1) {
        *n_out = n;
        return MF_TLS_IO_DONE;
    }
    return map_result(c, r);
}

bool mf_tls_pending(mf_tls_conn *c)
{
    return SSL_pending(c->ssl) > 0;
}
