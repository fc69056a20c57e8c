/* probe_dns.c: getaddrinfo in resolver threads (see probe_dns.h). */
#include "probe_dns.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* getaddrinfo with NSS modules can want a fair amount of stack; only touched pages
 * count towards the resident size. */
#define RESOLVER_STACK (512u * 1024u)

struct mf_dns_query {
    pthread_mutex_t mu;
    int refs; /* the caller's and the thread's */
    bool done;
    int rfd, wfd;
    char *host;
    char port[8];
    struct addrinfo *ai;
    int gai_err;
};

static void query_free(mf_dns_query *q)
{
    if (q->ai)
        freeaddrinfo(q->ai);
    if (q->rfd >= 0)
        close(q->rfd);
    if (q->wfd >= 0)
        close(q->wfd);
    pthread_mutex_destroy(&q->mu);
    free(q->host);
    free(q);
}

/* Drop one reference under the lock; the last one frees. */
static void unref_locked(mf_dns_query *q)
{
    bool last = --q->refs == 0;
    pthread_mutex_unlock(&q->mu);
    if (last)
        query_free(q);
}

static void *resolver(void *arg)
{
    mf_dns_query *q = arg;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    int rc = getaddrinfo(q->host, q->port, &hints, &ai);
    pthread_mutex_lock(&q->mu);
    q->ai = rc == 0 ? ai : NULL;
    q->gai_err = rc;
    q->done = true;
    /* The read end is open only while the caller still waits (release closes it under
     * this lock), so this write can never raise SIGPIPE. */
    if (q->rfd >= 0) {
        ssize_t w;
        do
            w = write(q->wfd, "x", 1);
        while (w < 0 && errno == EINTR);
    }
    close(q->wfd);
    q->wfd = -1;
    unref_locked(q);
    return NULL;
}

static int set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

mf_code mf_dns_start(mf_dns_query **out, const char *host, int port)
{
    *out = NULL;
    mf_code rc = MF_OK;
    mf_dns_query *q = calloc(1, sizeof(*q));
    if (!q)
        return MF_ERR_NOMEM;
    q->rfd = q->wfd = -1;
    pthread_mutex_init(&q->mu, NULL);
    q->host = mf_strdup(host);
    snprintf(q->port, sizeof(q->port), "%d", port);
    int fds[2];
    if (!q->host) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    if (pipe(fds) != 0) {
        mf_log_warn("resolver pipe: %s", strerror(errno));
        rc = MF_ERR_INTERNAL;
        goto out;
    }
    q->rfd = fds[0];
    q->wfd = fds[1];
    set_cloexec(q->rfd);
    set_cloexec(q->wfd);
    q->refs = 2;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, RESOLVER_STACK);
    pthread_t t;
    int e = pthread_create(&t, &attr, resolver, q);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        mf_log_warn("cannot start a resolver thread: %s", strerror(e));
        q->refs = 1;
        rc = MF_ERR_INTERNAL;
        goto out;
    }
out:
    if (rc != MF_OK) {
        query_free(q);
        return rc;
    }
    *out = q;
    return MF_OK;
}

int mf_dns_fd(const mf_dns_query *q)
{
    return q->rfd;
}

bool mf_dns_result(mf_dns_query *q, struct addrinfo **ai_out, int *gai_err_out)
{
    *ai_out = NULL;
    *gai_err_out = 0;
    pthread_mutex_lock(&q->mu);
    bool done = q->done;
    if (done) {
        *ai_out = q->ai;
        q->ai = NULL;
        *gai_err_out = q->gai_err;
    }
    pthread_mutex_unlock(&q->mu);
    return done;
}

void mf_dns_release(mf_dns_query *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    if (q->rfd >= 0) {
        close(q->rfd);
        q->rfd = -1;
    }
    unref_locked(q);
}

int mf_dns_numeric(const char *addr, int port, struct addrinfo **ai_out)
{
    *ai_out = NULL;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    char ps[8];
    snprintf(ps, sizeof(ps), "%d", port);
    return getaddrinfo(addr, ps, &hints, ai_out);
}

mf_outcome mf_dns_outcome(int gai_err)
{
    if (gai_err == EAI_NONAME)
        return MF_OUT_DNS_NXDOMAIN;
    return MF_OUT_DNS_ERROR;
}
