/* ship_ssh.c: the SSH shipper (see ship_ssh.h and docs/transport.md).
 *
 * libssh2 runs in non-blocking mode over a non-blocking socket; every call that says
 * EAGAIN waits in poll() for the direction libssh2 is blocked on, until the step's
 * deadline. That gives each step a timeout, and lets the transfer write reports and
 * read answers in one loop (pipelining) without threads.
 *
 * The session moves through the states below, in order, and only set_state() changes
 * the state (so -vv shows the whole path of a session). */
#include "ship_ssh.h"

#include "fileio.h"
#include "log.h"
#include "report_json.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KNOWN_HOSTS_MAX (1024 * 1024)
#define STDERR_KEEP     512
#define BANNER          "SSH-2.0-mailfleet-agent_" MAILFLEET_VERSION

/* ------------------------------------------------------------------ parsers */

bool mf_ship_reason_is_permanent(const char *reason)
{
    static const char *const permanent[] = {"too-large", "invalid", "id-mismatch", "bad-id"};
    for (size_t i = 0; i < MF_ARRAY_LEN(permanent); i++)
        if (strcmp(reason, permanent[i]) == 0)
            return true;
    return false;
}

/* Copy at most outsz-1 bytes of s, replacing anything but printable ASCII with '?',
 * so that text from the peer cannot drive the terminal that shows our messages. */
static void printable_copy(char *out, size_t outsz, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < outsz; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    out[j] = '\0';
}

mf_code mf_ship_parse_greeting(size_t *max_out, const char *line, mf_error *err)
{
    *max_out = MF_REPORT_MAX_BYTES;
    char shown[80];
    printable_copy(shown, sizeof(shown), line, strlen(line));
    if (strncmp(line, "MFRECV 1", 8) != 0 || (line[8] != '\0' && line[8] != ' '))
        return mf_error_set(err, MF_ERR_SSH,
                            "the peer is not a mailfleet collector (its first line is \"%s\", "
                            "expected \"MFRECV 1 …\")",
                            shown);
    const char *p = line + 8;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 4 && strncmp(p, "max=", 4) == 0) {
            char num[24];
            long long v = 0;
            bool ok = n - 4 < sizeof(num);
            if (ok) {
                memcpy(num, p + 4, n - 4);
                num[n - 4] = '\0';
                ok = mf_parse_long(num, 1, 1LL << 40, &v) == MF_OK;
            }
            if (!ok)
                return mf_error_set(err, MF_ERR_SSH,
                                    "the collector's greeting has a bad max: \"%s\"", shown);
            *max_out = (size_t)v;
        }
        p += n;
    }
    return MF_OK;
}

/* Split the next space-separated word of *p into out (at most outsz-1 bytes). Returns
 * false when there is none or it is too long. */
static bool next_word(const char **p, char *out, size_t outsz)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    const char *e = s;
    while (*e && *e != ' ')
        e++;
    size_t n = (size_t)(e - s);
    if (n == 0 || n >= outsz)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = e;
    return true;
}

mf_code mf_ship_parse_answer(mf_ship_answer *out, const char *line, mf_error *err)
{
    memset(out, 0, sizeof(*out));
    char shown[80];
    printable_copy(shown, sizeof(shown), line, strlen(line));
    const char *p = line;
    char word[64];
    if (!next_word(&p, word, sizeof(word)))
        goto bad;
    if (strcmp(word, "ACK") == 0) {
        if (!next_word(&p, out->id, sizeof(out->id)) || !mf_uuid_valid(out->id))
            goto bad;
        out->verdict = MF_SHIP_STORED;
        if (next_word(&p, word, sizeof(word))) {
            if (strcmp(word, "duplicate") != 0)
                goto bad;
            out->verdict = MF_SHIP_DUPLICATE;
        }
        while (*p == ' ')
            p++;
        if (*p)
            goto bad;
        return MF_OK;
    }
    if (strcmp(word, "NACK") == 0) {
        char id[40];
        if (!next_word(&p, id, sizeof(id)) || !next_word(&p, out->reason, sizeof(out->reason)))
            goto bad;
        while (*p == ' ')
            p++;
        printable_copy(out->text, sizeof(out->text), p, strlen(p));
        if (strcmp(id, "-") == 0) {
            out->verdict = MF_SHIP_PROTOCOL;
            return MF_OK;
        }
        if (!mf_uuid_valid(id))
            goto bad;
        memcpy(out->id, id, sizeof(out->id));
        out->verdict = mf_ship_reason_is_permanent(out->reason) ? MF_SHIP_REFUSED : MF_SHIP_RETRY;
        return MF_OK;
    }
    if (strcmp(word, "BYE") == 0) {
        for (int i = 0; i < 3; i++) {
            char num[24];
            if (!next_word(&p, num, sizeof(num)) ||
                mf_parse_long(num, 0, 1LL << 50, &out->bye[i]) != MF_OK)
                goto bad;
        }
        out->verdict = MF_SHIP_BYE;
        return MF_OK;
    }
bad:
    memset(out, 0, sizeof(*out));
    return mf_error_set(err, MF_ERR_SSH,
                        "the collector sent an answer that is not in the "
                        "framing: \"%s\"",
                        shown);
}

void mf_ship_hostkey_clear(mf_ship_hostkey *hk)
{
    if (!hk)
        return;
    free(hk->line);
    memset(hk, 0, sizeof(*hk));
}

/* ------------------------------------------------------------------ session */

typedef enum ship_state {
    ST_RESOLVE = 0,
    ST_CONNECT,
    ST_HANDSHAKE,
    ST_HOSTKEY,
    ST_AUTH,
    ST_CHANNEL,
    ST_GREETING,
    ST_TRANSFER,
    ST_END,
    ST_CLOSE,
    ST__COUNT
} ship_state;

static const char *const state_names[ST__COUNT] = {
    "resolve",  "connect",  "handshake", "host key check", "authentication", "channel",
    "greeting", "transfer", "end",       "close",
};

typedef struct inflight {
    size_t index;
    char id[37];
} inflight;

typedef struct ship {
    const mf_ship_target *t;
    const mf_ship_queue *q;
    mf_ship_hostkey *hk;
    mf_ship_stats *stats;
    mf_error *err;
    ship_state state;
    int64_t deadline; /* monotonic ms */
    int fd;
    LIBSSH2_SESSION *session;
    LIBSSH2_CHANNEL *channel;
    LIBSSH2_KNOWNHOSTS *kh;
    char hostpat[300]; /* "host" or "[host]:port" */
    /* stdout line assembly: room for a whole line plus the start of the next */
    char line[2 * MF_SHIP_LINE_MAX + 2];
    size_t linelen;
    size_t curlen; /* length of the line read_line() returned, without its newline */
    /* the tail of the collector's stderr, for error messages */
    char errtail[STDERR_KEEP + 1];
    size_t errlen;
    char errline[MF_SHIP_LINE_MAX + 1];
    size_t errlinelen;
    size_t max_report;
} ship;

static void set_state(ship *s, ship_state st)
{
    mf_log_debug("ssh %s: %s -> %s", s->hostpat, state_names[s->state], state_names[st]);
    s->state = st;
    s->deadline = mf_now_ms() + (int64_t)s->t->timeout_s * 1000;
}

/* The message of libssh2's last error, for our own messages. */
static const char *ssh_msg(ship *s)
{
    char *msg = NULL;
    int len = 0;
    if (!s->session)
        return "no session";
    libssh2_session_last_error(s->session, &msg, &len, 0);
    return msg && *msg ? msg : "unknown libssh2 error";
}

static mf_code timed_out(ship *s)
{
    return mf_error_set(s->err, MF_ERR_TIMEOUT, "%s: no progress in %s within %d s", s->hostpat,
                        state_names[s->state], s->t->timeout_s);
}

/* Wait until the socket is ready in the direction libssh2 needs (or for reading when it
 * does not say), at most until the deadline. MF_ERR_TIMEOUT when it passes. */
static mf_code wait_socket(ship *s)
{
    int64_t left = s->deadline - mf_now_ms();
    if (left <= 0)
        return timed_out(s);
    struct pollfd p = {.fd = s->fd, .events = 0};
    int dir = s->session ? libssh2_session_block_directions(s->session) : 0;
    if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
        p.events |= POLLIN;
    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        p.events |= POLLOUT;
    if (!p.events)
        p.events = POLLIN;
    int r = poll(&p, 1, left > 1000 ? 1000 : (int)left);
    if (r < 0 && errno != EINTR)
        return mf_error_set(s->err, MF_ERR_NET, "%s: poll: %s", s->hostpat, strerror(errno));
    return MF_OK;
}

/* ------------------------------------------------------------------ resolve */

/* getaddrinfo has no timeout, so it runs in a detached thread that we wait for with a
 * deadline; if we give up, the thread frees the result itself when it finishes. */
typedef struct resolve_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    int rc;
    struct addrinfo *res;
    char host[256];
    char port[8];
} resolve_job;

static void job_unref(resolve_job *j)
{
    pthread_mutex_lock(&j->mu);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (last) {
        if (j->res)
            freeaddrinfo(j->res);
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
        free(j);
    }
}

static void *resolve_thread(void *arg)
{
    resolve_job *j = arg;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(j->host, j->port, &hints, &res);
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->res = res;
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
    return NULL;
}

static mf_code resolve(ship *s, struct addrinfo **out)
{
    *out = NULL;
    resolve_job *j = calloc(1, sizeof(*j));
    if (!j)
        return MF_ERR_NOMEM;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 2;
    mf_strlcpy(j->host, s->t->host, sizeof(j->host));
    snprintf(j->port, sizeof(j->port), "%d", s->t->port);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, resolve_thread, j) != 0) {
        pthread_attr_destroy(&attr);
        j->refs = 1;
        job_unref(j);
        return mf_error_set(s->err, MF_ERR_NET, "cannot start the resolver thread");
    }
    pthread_attr_destroy(&attr);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->t->timeout_s;
    mf_code rc = MF_OK;
    pthread_mutex_lock(&j->mu);
    while (!j->done)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &until) == ETIMEDOUT)
            break;
    if (!j->done)
        rc = mf_error_set(s->err, MF_ERR_TIMEOUT, "cannot resolve %s: no answer within %d s",
                          s->t->host, s->t->timeout_s);
    else if (j->rc != 0)
        rc = mf_error_set(s->err, MF_ERR_NET, "cannot resolve %s: %s", s->t->host,
                          gai_strerror(j->rc));
    else {
        *out = j->res;
        j->res = NULL;
    }
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
    return rc;
}

/* ------------------------------------------------------------------ connect */

static int connect_one(const struct addrinfo *ai, int64_t deadline, int *err_out)
{
    *err_out = 0;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
        *err_out = errno;
        return -1;
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        *err_out = errno;
        close(fd);
        return -1;
    }
#ifdef SO_NOSIGPIPE
    int one = 1; /* where MSG_NOSIGNAL is missing, a closed peer must not kill us */
    (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        *err_out = errno;
        close(fd);
        return -1;
    }
    for (;;) {
        int64_t left = deadline - mf_now_ms();
        if (left <= 0) {
            *err_out = ETIMEDOUT;
            close(fd);
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno != EINTR) {
            *err_out = errno;
            close(fd);
            return -1;
        }
        if (r > 0)
            break;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr) {
        *err_out = soerr;
        close(fd);
        return -1;
    }
    return fd;
}

static mf_code do_connect(ship *s)
{
    set_state(s, ST_RESOLVE);
    struct addrinfo *res = NULL;
    mf_code rc = resolve(s, &res);
    if (rc != MF_OK)
        return rc;
    set_state(s, ST_CONNECT);
    int last = 0;
    for (struct addrinfo *ai = res; ai && s->fd < 0; ai = ai->ai_next)
        s->fd = connect_one(ai, s->deadline, &last);
    freeaddrinfo(res);
    if (s->fd < 0) {
        if (last == ETIMEDOUT)
            return mf_error_set(s->err, MF_ERR_TIMEOUT,
                                "cannot connect to the collector %s port %d: no answer within %d s",
                                s->t->host, s->t->port, s->t->timeout_s);
        return mf_error_set(s->err, MF_ERR_NET, "cannot connect to the collector %s port %d: %s",
                            s->t->host, s->t->port, strerror(last ? last : ECONNREFUSED));
    }
    return MF_OK;
}

/* ------------------------------------------------------------------ host keys */

typedef struct hk_type {
    int hk;              /* LIBSSH2_HOSTKEY_TYPE_* */
    int kh;              /* LIBSSH2_KNOWNHOST_KEY_* */
    const char *name;    /* as known_hosts writes it */
    const char *methods; /* host key algorithms that yield this key type */
    const char *keyscan;
} hk_type;

/* In the order we prefer them. An RSA key is asked for with the SHA-2 signatures first
 * (libssh2 1.11 and later know them; 1.10 drops the names it does not know), since
 * OpenSSH 8.8 and later refuse ssh-rsa (SHA-1) signatures by default. */
static const hk_type hk_types[] = {
    {LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519", "ssh-ed25519",
     "ed25519"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256",
     "ecdsa-sha2-nistp256", "ecdsa"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384",
     "ecdsa-sha2-nistp384", "ecdsa"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521",
     "ecdsa-sha2-nistp521", "ecdsa"},
    {LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa",
     "rsa-sha2-512,rsa-sha2-256,ssh-rsa", "rsa"},
    {LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_KNOWNHOST_KEY_SSHDSS, "ssh-dss", "ssh-dss", "dsa"},
};

static const hk_type *hk_by_hk(int t)
{
    for (size_t i = 0; i < MF_ARRAY_LEN(hk_types); i++)
        if (hk_types[i].hk == t)
            return &hk_types[i];
    return NULL;
}

/* Read the known_hosts file line by line, so that one line libssh2 cannot parse (a
 * marker such as @cert-authority, a key type it does not know) is skipped with a
 * warning instead of losing the whole file. A missing file is an empty one. */
static mf_code load_known_hosts(ship *s)
{
    s->kh = libssh2_knownhost_init(s->session);
    if (!s->kh)
        return mf_error_set(s->err, MF_ERR_NOMEM, "out of memory");
    char *data = NULL;
    size_t len = 0;
    mf_error ferr;
    mf_error_clear(&ferr);
    mf_code rc = mf_file_read(s->t->known_hosts, KNOWN_HOSTS_MAX, &data, &len, &ferr);
    if (rc == MF_ERR_NOTFOUND) {
        if (s->hk)
            s->hk->file_missing = true;
        return MF_OK;
    }
    if (rc != MF_OK) {
        mf_error_set_file(s->err, s->t->known_hosts);
        return mf_error_set(s->err, rc, "cannot read the pinned host keys: %s", ferr.text);
    }
    int lineno = 0;
    char *save = NULL;
    for (char *ln = strtok_r(data, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t n = strlen(ln);
        while (n && (ln[n - 1] == '\r' || ln[n - 1] == ' ' || ln[n - 1] == '\t'))
            ln[--n] = '\0';
        const char *p = ln;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        if (*p == '@') {
            mf_log_warn("%s:%d: markers such as @cert-authority and @revoked are not supported; "
                        "line skipped",
                        s->t->known_hosts, lineno);
            continue;
        }
        if (libssh2_knownhost_readline(s->kh, p, strlen(p), LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0)
            mf_log_warn("%s:%d: cannot read this line (unknown key type or malformed); skipped",
                        s->t->known_hosts, lineno);
    }
    free(data);
    return MF_OK;
}

/* Ask for the host key types pinned for this host first, so that a server with several
 * keys presents the one we know; then the others, so that an unknown host still shows a
 * fingerprint (Ed25519 first: it is what we tell people to pin). */
static void prefer_pinned_types(ship *s)
{
    bool pinned[MF_ARRAY_LEN(hk_types)] = {false};
    struct libssh2_knownhost *prev = NULL, *cur = NULL;
    while (libssh2_knownhost_get(s->kh, &cur, prev) == 0) {
        prev = cur;
        if ((cur->typemask & LIBSSH2_KNOWNHOST_TYPE_MASK) != LIBSSH2_KNOWNHOST_TYPE_PLAIN ||
            !cur->name)
            continue;
        /* A plain entry may list several names separated by commas. */
        bool match = false;
        const char *n = cur->name;
        size_t hl = strlen(s->hostpat);
        while (*n && !match) {
            const char *comma = strchr(n, ',');
            size_t len = comma ? (size_t)(comma - n) : strlen(n);
            match = len == hl && strncmp(n, s->hostpat, len) == 0;
            n += len + (comma ? 1 : 0);
        }
        if (!match)
            continue;
        for (size_t i = 0; i < MF_ARRAY_LEN(hk_types); i++)
            if ((cur->typemask & LIBSSH2_KNOWNHOST_KEY_MASK) == hk_types[i].kh)
                pinned[i] = true;
    }
    /* Only names this libssh2 supports: 1.10 mishandles unknown ones (an overlapping
     * memcpy while it removes them from the list). */
    const char **algs = NULL;
    int nalgs = libssh2_session_supported_algs(s->session, LIBSSH2_METHOD_HOSTKEY, &algs);
    if (nalgs <= 0) {
        mf_log_debug("ssh: cannot list the host key algorithms: %s", ssh_msg(s));
        return;
    }
    char pref[512] = "";
    size_t used = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < MF_ARRAY_LEN(hk_types); i++) {
            if (pinned[i] != (pass == 0) || hk_types[i].hk == LIBSSH2_HOSTKEY_TYPE_DSS)
                continue;
            const char *m = hk_types[i].methods;
            while (*m) {
                size_t len = strcspn(m, ",");
                bool known = false;
                for (int k = 0; k < nalgs && !known; k++)
                    known = strlen(algs[k]) == len && strncmp(algs[k], m, len) == 0;
                if (known) {
                    int w = snprintf(pref + used, sizeof(pref) - used, "%s%.*s", used ? "," : "",
                                     (int)len, m);
                    if (w > 0 && (size_t)w < sizeof(pref) - used)
                        used += (size_t)w;
                }
                m += len + (m[len] == ',' ? 1 : 0);
            }
        }
    libssh2_free(s->session, algs);
    if (used == 0)
        return;
    if (libssh2_session_method_pref(s->session, LIBSSH2_METHOD_HOSTKEY, pref) != 0)
        mf_log_debug("ssh: host key preference \"%s\" not accepted: %s", pref, ssh_msg(s));
    else
        mf_log_debug("ssh: host key algorithms %s", pref);
}

static char *base64(const unsigned char *data, size_t len)
{
    if (len > (1u << 20))
        return NULL;
    size_t outlen = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(outlen);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

static mf_code check_host_key(ship *s)
{
    set_state(s, ST_HOSTKEY);
    size_t keylen = 0;
    int type = 0;
    const char *key = libssh2_session_hostkey(s->session, &keylen, &type);
    if (!key || keylen == 0)
        return mf_error_set(s->err, MF_ERR_SSH, "%s: the server presented no host key", s->hostpat);
    const hk_type *ht = hk_by_hk(type);
    const char *hash = libssh2_hostkey_hash(s->session, LIBSSH2_HOSTKEY_HASH_SHA256);
    char fp[64] = "SHA256:?";
    if (hash) {
        char *b = base64((const unsigned char *)hash, 32);
        if (b) {
            size_t bl = strlen(b);
            while (bl && b[bl - 1] == '=')
                b[--bl] = '\0';
            snprintf(fp, sizeof(fp), "SHA256:%s", b);
            free(b);
        }
    }
    struct libssh2_knownhost *found = NULL;
    int check = LIBSSH2_KNOWNHOST_CHECK_NOTFOUND;
    if (ht)
        check = libssh2_knownhost_checkp(
            s->kh, s->hostpat, -1, key, keylen,
            LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | ht->kh, &found);
    if (check == LIBSSH2_KNOWNHOST_CHECK_MATCH) {
        mf_log_debug("ssh %s: host key %s %s matches %s", s->hostpat, ht->name, fp,
                     s->t->known_hosts);
        return MF_OK;
    }
    if (check == LIBSSH2_KNOWNHOST_CHECK_FAILURE)
        return mf_error_set(s->err, MF_ERR_SSH, "%s: cannot check the host key: %s", s->hostpat,
                            ssh_msg(s));
    if (s->hk) {
        s->hk->changed = check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
        mf_strlcpy(s->hk->type, ht ? ht->name : "unknown", sizeof(s->hk->type));
        mf_strlcpy(s->hk->keyscan_type, ht ? ht->keyscan : "", sizeof(s->hk->keyscan_type));
        mf_strlcpy(s->hk->fingerprint, fp, sizeof(s->hk->fingerprint));
        mf_strlcpy(s->hk->host_pattern, s->hostpat, sizeof(s->hk->host_pattern));
        char *b = base64((const unsigned char *)key, keylen);
        if (b && ht)
            s->hk->line = mf_asprintf("%s %s %s", s->hostpat, ht->name, b);
        free(b);
    }
    mf_error_set_file(s->err, s->t->known_hosts);
    if (check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
        return mf_error_set(s->err, MF_ERR_HOSTKEY,
                            "HOST KEY CHANGED: %s now presents %s key %s, which is not the key "
                            "pinned for it; nothing was sent (this may be an attack)",
                            s->hostpat, ht ? ht->name : "a", fp);
    return mf_error_set(s->err, MF_ERR_HOSTKEY,
                        "the collector's host key is not pinned: %s presents %s key %s; nothing "
                        "was sent",
                        s->hostpat, ht ? ht->name : "an unsupported", fp);
}

/* ------------------------------------------------------------------ authentication */

static mf_code check_identity_file(ship *s)
{
    struct stat st;
    mf_error_set_file(s->err, s->t->identity);
    if (stat(s->t->identity, &st) != 0) {
        if (errno == ENOENT)
            return mf_error_set(s->err, MF_ERR_NOTFOUND,
                                "the SSH key does not exist (create one with: ssh-keygen -t "
                                "ed25519 -N '' -f %s)",
                                s->t->identity);
        return mf_error_set(s->err, MF_ERR_PERM, "cannot read the SSH key: %s", strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return mf_error_set(s->err, MF_ERR_IO, "the SSH key is not a regular file");
    if (st.st_mode & 077)
        return mf_error_set(s->err, MF_ERR_PERM,
                            "the SSH key is accessible by others (mode %04o); run: chmod 600 %s",
                            (unsigned)(st.st_mode & 07777), s->t->identity);
    mf_error_set_file(s->err, "");
    return MF_OK;
}

static mf_code authenticate(ship *s)
{
    set_state(s, ST_AUTH);
    const char *user = s->t->user;
    unsigned ulen = (unsigned)strlen(user);
    char *methods = NULL;
    for (;;) {
        methods = libssh2_userauth_list(s->session, user, ulen);
        if (methods || libssh2_userauth_authenticated(s->session))
            break;
        if (libssh2_session_last_errno(s->session) != LIBSSH2_ERROR_EAGAIN)
            return mf_error_set(s->err, MF_ERR_SSH, "%s: cannot list authentication methods: %s",
                                s->hostpat, ssh_msg(s));
        mf_code rc = wait_socket(s);
        if (rc != MF_OK)
            return rc;
    }
    if (libssh2_userauth_authenticated(s->session))
        return MF_OK; /* the server needs no authentication at all */
    if (!strstr(methods, "publickey"))
        return mf_error_set(s->err, MF_ERR_SSH,
                            "%s: the collector does not accept public keys for user %s (it "
                            "offers: %s)",
                            s->hostpat, user, methods);
    int r;
    while ((r = libssh2_userauth_publickey_fromfile_ex(s->session, user, ulen, NULL, s->t->identity,
                                                       NULL)) == LIBSSH2_ERROR_EAGAIN) {
        mf_code rc = wait_socket(s);
        if (rc != MF_OK)
            return rc;
    }
    if (r == 0)
        return MF_OK;
    if (r == LIBSSH2_ERROR_FILE) {
        mf_error_set_file(s->err, s->t->identity);
        return mf_error_set(s->err, MF_ERR_SSH,
                            "cannot use this private key (%s); it must be an Ed25519 or RSA key "
                            "without a passphrase",
                            ssh_msg(s));
    }
    if (r == LIBSSH2_ERROR_AUTHENTICATION_FAILED || r == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED)
        return mf_error_set(s->err, MF_ERR_SSH,
                            "%s: the collector refused the key %s for user %s; add its public key "
                            "to that user's authorized_keys on the collector (an RSA key also "
                            "needs \"PubkeyAcceptedAlgorithms +ssh-rsa\" there: this libssh2 "
                            "signs with SHA-1; Ed25519 keys need nothing)",
                            s->hostpat, s->t->identity, user);
    return mf_error_set(s->err, MF_ERR_SSH, "%s: authentication failed: %s", s->hostpat,
                        ssh_msg(s));
}

/* ------------------------------------------------------------------ channel I/O */

/* Read whatever stderr holds now and log it line by line ("collector: ..."). */
static void drain_stderr(ship *s)
{
    char buf[1024];
    for (;;) {
        ssize_t n = libssh2_channel_read_stderr(s->channel, buf, sizeof(buf));
        if (n <= 0)
            return;
        for (ssize_t i = 0; i < n; i++) {
            char ch = buf[i];
            if (s->errlen == STDERR_KEEP) {
                memmove(s->errtail, s->errtail + 1, STDERR_KEEP - 1);
                s->errlen--;
            }
            s->errtail[s->errlen++] = ch;
            s->errtail[s->errlen] = '\0';
            if (ch == '\n' || s->errlinelen == MF_SHIP_LINE_MAX) {
                char shown[MF_SHIP_LINE_MAX + 1];
                printable_copy(shown, sizeof(shown), s->errline, s->errlinelen);
                if (s->errlinelen)
                    mf_log_warn("collector: %s", shown);
                s->errlinelen = 0;
            }
            if (ch != '\n')
                s->errline[s->errlinelen++] = ch;
        }
    }
}

/* The tail of the collector's stderr as one printable line, for error messages. */
static const char *stderr_tail(ship *s, char *out, size_t outsz)
{
    size_t j = 0;
    for (size_t i = 0; i < s->errlen && j + 1 < outsz; i++) {
        unsigned char ch = (unsigned char)s->errtail[i];
        if (ch == '\n' || ch == '\r' || ch == '\t')
            ch = ' ';
        out[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    out[j] = '\0';
    while (j && out[j - 1] == ' ')
        out[--j] = '\0';
    return out;
}

/* Get the next line from the collector's stdout into s->line (newline replaced by
 * NUL; consume_line() drops it afterwards). *got says whether a line is ready. With
 * wait, it waits until the step's deadline (MF_ERR_TIMEOUT); without, it returns MF_OK
 * as soon as no more bytes are available. MF_ERR_NOTFOUND at end of stream. */
static mf_code read_line(ship *s, bool wait, bool *got)
{
    *got = false;
    for (;;) {
        /* A complete line may already be buffered. */
        char *nl = memchr(s->line, '\n', s->linelen);
        if (nl) {
            s->curlen = (size_t)(nl - s->line);
            if (memchr(s->line, '\0', s->curlen))
                return mf_error_set(s->err, MF_ERR_SSH, "%s: the collector sent a NUL byte",
                                    s->hostpat);
            *nl = '\0';
            *got = true;
            return MF_OK;
        }
        if (s->linelen > MF_SHIP_LINE_MAX)
            return mf_error_set(s->err, MF_ERR_SSH,
                                "%s: the collector sent a line longer than %d bytes", s->hostpat,
                                MF_SHIP_LINE_MAX);
        drain_stderr(s);
        ssize_t n = libssh2_channel_read(s->channel, s->line + s->linelen,
                                         sizeof(s->line) - 1 - s->linelen);
        if (n > 0) {
            /* No new deadline for a part of a line: a peer dripping bytes must still
             * finish its line within the step's time. */
            s->linelen += (size_t)n;
            s->line[s->linelen] = '\0';
            continue;
        }
        if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
            return mf_error_set(s->err, MF_ERR_SSH, "%s: connection lost during %s: %s", s->hostpat,
                                state_names[s->state], ssh_msg(s));
        if (n == 0 && libssh2_channel_eof(s->channel)) {
            drain_stderr(s);
            return MF_ERR_NOTFOUND;
        }
        if (!wait)
            return MF_OK;
        mf_code rc = wait_socket(s);
        if (rc != MF_OK)
            return rc;
    }
}

/* Remove the line just returned by read_line from the buffer. */
static void consume_line(ship *s)
{
    size_t used = s->curlen + 1;
    memmove(s->line, s->line + used, s->linelen - used);
    s->linelen -= used;
    s->line[s->linelen] = '\0';
}

static mf_code open_channel(ship *s)
{
    set_state(s, ST_CHANNEL);
    while (!(s->channel = libssh2_channel_open_session(s->session))) {
        if (libssh2_session_last_errno(s->session) != LIBSSH2_ERROR_EAGAIN)
            return mf_error_set(s->err, MF_ERR_SSH, "%s: cannot open a channel: %s", s->hostpat,
                                ssh_msg(s));
        mf_code rc = wait_socket(s);
        if (rc != MF_OK)
            return rc;
    }
    int r;
    while ((r = libssh2_channel_exec(s->channel, MF_SHIP_COMMAND)) == LIBSSH2_ERROR_EAGAIN) {
        mf_code rc = wait_socket(s);
        if (rc != MF_OK)
            return rc;
    }
    if (r != 0)
        return mf_error_set(s->err, MF_ERR_SSH, "%s: the collector refused to run its command: %s",
                            s->hostpat, ssh_msg(s));
    return MF_OK;
}

static mf_code read_greeting(ship *s)
{
    set_state(s, ST_GREETING);
    bool got;
    mf_code rc = read_line(s, true, &got);
    if (rc == MF_ERR_NOTFOUND) {
        char tail[STDERR_KEEP + 1];
        int status = libssh2_channel_get_exit_status(s->channel);
        stderr_tail(s, tail, sizeof(tail));
        return mf_error_set(s->err, MF_ERR_SSH,
                            "%s: the collector's command ended before its greeting (exit status "
                            "%d)%s%s",
                            s->hostpat, status, *tail ? ": " : "", tail);
    }
    if (rc != MF_OK)
        return rc;
    if (strncmp(s->line, "NACK - ", 7) == 0) {
        /* A collector that cannot take reports at all (its spool is unusable) says so
         * instead of greeting: a problem of the collector host, worth a retry later. */
        char shown[MF_SHIP_LINE_MAX + 1];
        printable_copy(shown, sizeof(shown), s->line + 7, strlen(s->line + 7));
        return mf_error_set(s->err, MF_ERR_SSH, "%s: the collector cannot take reports now: %s",
                            s->hostpat, shown);
    }
    rc = mf_ship_parse_greeting(&s->max_report, s->line, s->err);
    consume_line(s);
    if (rc == MF_OK)
        mf_log_debug("ssh %s: collector greeting, reports up to %zu bytes", s->hostpat,
                     s->max_report);
    return rc;
}

/* ------------------------------------------------------------------ transfer */

typedef struct sendbuf {
    char *data; /* header + report + "\n" */
    size_t len, off;
    size_t index;
    char id[37];
} sendbuf;

static void answer(ship *s, size_t index, const mf_ship_answer *a)
{
    if (s->stats)
        s->stats->answered++;
    if (s->q->answer)
        s->q->answer(s->q->ctx, index, a);
}

/* Load the next report to send into sb (skipping, with a verdict or a warning, the ones
 * that cannot be sent). Returns MF_OK with sb->data NULL when the queue is exhausted. */
static mf_code load_next(ship *s, size_t *next, sendbuf *sb)
{
    while (*next < s->q->n) {
        size_t i = (*next)++;
        char *data = NULL;
        size_t len = 0;
        char id[37] = "";
        mf_error lerr;
        mf_error_clear(&lerr);
        mf_code rc = s->q->load(s->q->ctx, i, s->max_report, &data, &len, id, &lerr);
        if (rc == MF_ERR_TOOBIG) {
            mf_ship_answer a;
            memset(&a, 0, sizeof(a));
            a.verdict = MF_SHIP_REFUSED;
            mf_strlcpy(a.id, id, sizeof(a.id));
            mf_strlcpy(a.reason, "too-large", sizeof(a.reason));
            snprintf(a.text, sizeof(a.text), "larger than the %zu bytes the collector accepts",
                     s->max_report);
            answer(s, i, &a);
            continue;
        }
        if (rc == MF_ERR_NOMEM)
            return mf_error_set(s->err, rc, "out of memory");
        if (rc != MF_OK || !mf_uuid_valid(id)) {
            char msg[1024];
            mf_log_warn("cannot send queued report %zu: %s", i + 1,
                        rc != MF_OK ? mf_error_format(&lerr, msg, sizeof(msg)) : "bad report id");
            free(data);
            continue;
        }
        char hdr[96];
        int hl = snprintf(hdr, sizeof(hdr), "REPORT %s %zu\n", id, len);
        sb->data = malloc((size_t)hl + len + 1);
        if (!sb->data) {
            free(data);
            return mf_error_set(s->err, MF_ERR_NOMEM, "out of memory");
        }
        memcpy(sb->data, hdr, (size_t)hl);
        memcpy(sb->data + hl, data, len);
        sb->data[(size_t)hl + len] = '\n';
        sb->len = (size_t)hl + len + 1;
        sb->off = 0;
        sb->index = i;
        memcpy(sb->id, id, sizeof(sb->id));
        free(data);
        return MF_OK;
    }
    sb->data = NULL;
    return MF_OK;
}

/* Handle one answer line against the oldest report in flight. */
static mf_code handle_answer(ship *s, inflight *fl, size_t *nfl)
{
    mf_ship_answer a;
    mf_code rc = mf_ship_parse_answer(&a, s->line, s->err);
    consume_line(s);
    if (rc != MF_OK)
        return rc;
    if (a.verdict == MF_SHIP_PROTOCOL)
        return mf_error_set(s->err, MF_ERR_SSH, "%s: the collector reported a framing error: %s %s",
                            s->hostpat, a.reason, a.text);
    if (a.verdict == MF_SHIP_BYE || *nfl == 0)
        return mf_error_set(s->err, MF_ERR_SSH, "%s: the collector answered a report not sent",
                            s->hostpat);
    if (strcasecmp(a.id, fl[0].id) != 0)
        return mf_error_set(s->err, MF_ERR_SSH,
                            "%s: the collector answered %s while %s was expected", s->hostpat, a.id,
                            fl[0].id);
    size_t index = fl[0].index;
    memmove(fl, fl + 1, (*nfl - 1) * sizeof(*fl));
    (*nfl)--;
    answer(s, index, &a);
    return MF_OK;
}

static mf_code transfer(ship *s)
{
    set_state(s, ST_TRANSFER);
    inflight fl[MF_SHIP_WINDOW];
    size_t nfl = 0, next = 0;
    sendbuf sb = {0};
    mf_code rc = MF_OK;
    for (;;) {
        bool progress = false;
        if (!sb.data && nfl < MF_SHIP_WINDOW && next < s->q->n) {
            if ((rc = load_next(s, &next, &sb)) != MF_OK)
                break;
        }
        if (sb.data) {
            ssize_t w = libssh2_channel_write(s->channel, sb.data + sb.off, sb.len - sb.off);
            if (w > 0) {
                sb.off += (size_t)w;
                progress = true;
                if (sb.off == sb.len) {
                    fl[nfl].index = sb.index;
                    memcpy(fl[nfl].id, sb.id, sizeof(fl[nfl].id));
                    nfl++;
                    if (s->stats)
                        s->stats->sent++;
                    mf_log_debug("ssh %s: sent report %s (%zu bytes), %zu unanswered", s->hostpat,
                                 sb.id, sb.len, nfl);
                    free(sb.data);
                    sb.data = NULL;
                }
            } else if (w < 0 && w != LIBSSH2_ERROR_EAGAIN) {
                rc = mf_error_set(s->err, MF_ERR_SSH, "%s: connection lost while sending: %s",
                                  s->hostpat, ssh_msg(s));
                break;
            }
        }
        bool got = false;
        size_t before = s->linelen;
        rc = read_line(s, false, &got);
        if (rc == MF_ERR_NOTFOUND) {
            char tail[STDERR_KEEP + 1];
            stderr_tail(s, tail, sizeof(tail));
            rc = mf_error_set(s->err, MF_ERR_SSH,
                              "%s: the collector closed the stream with %zu report(s) "
                              "unanswered%s%s",
                              s->hostpat, nfl + (sb.data ? 1 : 0), *tail ? ": " : "", tail);
            break;
        }
        if (rc != MF_OK)
            break;
        if (got) {
            progress = true;
            if ((rc = handle_answer(s, fl, &nfl)) != MF_OK)
                break;
        } else if (s->linelen != before && !progress) {
            /* bytes of a line arrived: read on, but they do not move the deadline */
            continue;
        }
        if (!sb.data && nfl == 0 && next >= s->q->n)
            break; /* everything answered */
        if (progress)
            s->deadline = mf_now_ms() + (int64_t)s->t->timeout_s * 1000;
        else if ((rc = wait_socket(s)) != MF_OK)
            break;
    }
    free(sb.data);
    return rc;
}

/* Say END and wait for BYE. Failures here lose nothing (every report has its verdict),
 * so finish() only logs them, at debug level. */
static void finish_exchange(ship *s)
{
    set_state(s, ST_END);
    static const char end[] = "END\n";
    size_t off = 0;
    while (off < sizeof(end) - 1) {
        ssize_t w = libssh2_channel_write(s->channel, end + off, sizeof(end) - 1 - off);
        if (w > 0)
            off += (size_t)w;
        else if (w != LIBSSH2_ERROR_EAGAIN || wait_socket(s) != MF_OK)
            return;
    }
    while (libssh2_channel_send_eof(s->channel) == LIBSSH2_ERROR_EAGAIN)
        if (wait_socket(s) != MF_OK)
            return;
    bool got;
    while (read_line(s, true, &got) == MF_OK && got) {
        mf_ship_answer a;
        mf_error e;
        mf_error_clear(&e);
        if (mf_ship_parse_answer(&a, s->line, &e) == MF_OK && a.verdict == MF_SHIP_BYE) {
            mf_log_debug("ssh %s: collector says BYE: %lld stored, %lld duplicate(s), %lld refused",
                         s->hostpat, a.bye[0], a.bye[1], a.bye[2]);
            consume_line(s);
            return;
        }
        consume_line(s);
    }
}

static void finish(ship *s)
{
    mf_error *saved = s->err, scratch;
    mf_error_clear(&scratch);
    s->err = &scratch;
    finish_exchange(s);
    s->err = saved;
    if (scratch.text[0])
        mf_log_debug("ssh %s: after the last answer: %s", s->hostpat, scratch.text);
}

/* Close politely within a short deadline; nothing here can lose a report, and nothing
 * here may replace the error that ended the session. */
static void teardown(ship *s)
{
    mf_error scratch;
    mf_error_clear(&scratch);
    s->err = &scratch;
    if (s->session && s->fd >= 0) {
        int64_t t = (int64_t)(s->t->timeout_s < 5 ? s->t->timeout_s : 5) * 1000;
        s->state = ST_CLOSE;
        s->deadline = mf_now_ms() + t;
        if (s->channel) {
            while (libssh2_channel_close(s->channel) == LIBSSH2_ERROR_EAGAIN)
                if (wait_socket(s) != MF_OK)
                    break;
            mf_log_debug("ssh %s: collector command exit status %d", s->hostpat,
                         libssh2_channel_get_exit_status(s->channel));
        }
    }
    if (s->channel)
        libssh2_channel_free(s->channel);
    s->channel = NULL;
    if (s->kh)
        libssh2_knownhost_free(s->kh);
    s->kh = NULL;
    if (s->session) {
        if (s->fd >= 0)
            while (libssh2_session_disconnect(s->session, "done") == LIBSSH2_ERROR_EAGAIN)
                if (wait_socket(s) != MF_OK)
                    break;
        libssh2_session_free(s->session);
    }
    s->session = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

mf_code mf_ship_ssh_run(const mf_ship_target *t, const mf_ship_queue *q, mf_ship_hostkey *hk,
                        mf_ship_stats *stats, mf_error *err)
{
    if (hk)
        memset(hk, 0, sizeof(*hk));
    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (q->n == 0)
        return MF_OK;
    ship s;
    memset(&s, 0, sizeof(s));
    s.t = t;
    s.q = q;
    s.hk = hk;
    s.stats = stats;
    s.err = err;
    s.fd = -1;
    s.max_report = MF_REPORT_MAX_BYTES;
    if (t->port == 22)
        snprintf(s.hostpat, sizeof(s.hostpat), "%s", t->host);
    else
        snprintf(s.hostpat, sizeof(s.hostpat), "[%s]:%d", t->host, t->port);
    mf_code rc = check_identity_file(&s);
    if (rc != MF_OK)
        return rc;
    if (libssh2_init(0) != 0)
        return mf_error_set(err, MF_ERR_SSH, "cannot initialise libssh2");
    if ((rc = do_connect(&s)) != MF_OK)
        goto out;
    s.session = libssh2_session_init();
    if (!s.session) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "cannot create an SSH session");
        goto out;
    }
    libssh2_session_set_blocking(s.session, 0);
    /* Only used by calls libssh2 makes in blocking mode; our own waits carry the
     * deadlines in non-blocking mode. */
    libssh2_session_set_timeout(s.session, (long)t->timeout_s * 1000);
    (void)libssh2_session_banner_set(s.session, BANNER);
    if ((rc = load_known_hosts(&s)) != MF_OK)
        goto out;
    prefer_pinned_types(&s);
    set_state(&s, ST_HANDSHAKE);
    int r;
    while ((r = libssh2_session_handshake(s.session, s.fd)) == LIBSSH2_ERROR_EAGAIN)
        if ((rc = wait_socket(&s)) != MF_OK)
            goto out;
    if (r != 0) {
        rc = mf_error_set(err, MF_ERR_SSH, "%s: SSH handshake failed: %s", s.hostpat, ssh_msg(&s));
        goto out;
    }
    if ((rc = check_host_key(&s)) != MF_OK || (rc = authenticate(&s)) != MF_OK ||
        (rc = open_channel(&s)) != MF_OK || (rc = read_greeting(&s)) != MF_OK ||
        (rc = transfer(&s)) != MF_OK)
        goto out;
    finish(&s);
out:
    teardown(&s);
    libssh2_exit();
    return rc;
}
