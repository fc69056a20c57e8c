/* report_outputs.c: the reports library's writers as one sink of the result model
 * (report_outputs.h).
 *
 * The writers run in a thread of their own. The sink copies each result (and each
 * host's facts, each inventory row) into a batch; full batches go through a bounded
 * queue to the writer thread, which looks up first-failure dates in the history and
 * feeds every writer. The policy engine and the JSON writer keep the calling thread, so
 * on two cores a large run takes about as long as the slower of the two halves instead
 * of their sum (docs/benchmarks.md). Memory stays bounded: at most QUEUE_MAX batches of
 * BATCH_ITEMS items are in flight. Without threads (pthread_create failing) the batches
 * are written in the calling thread, with the same results.
 */
#include "report_outputs.h"
#include "report_history.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_ITEMS 1024
#define QUEUE_MAX   16
#define CHUNK_BYTES (256 * 1024)

typedef enum item_kind { IT_HOST, IT_RESULT, IT_SERVER } item_kind;

typedef struct item {
    item_kind kind;
    mf_rpt_host host;
    mf_rpt_result res;
    mf_rpt_server srv;
} item;

/* Strings of a batch: chunks that never move, freed or reused with the batch. */
typedef struct chunk {
    struct chunk *next;
    size_t used, size;
    char data[];
} chunk;

/* One server of the inventory `check` builds from the reports it is given (`report`
 * takes the store's instead): the store's semantics over the latest reports. */
typedef struct inv_server {
    char *hostname, *provider; /* "" when none */
    int port;
    long long hosts, entries, accounts, unused, probes_ok, probes_failed;
    long long outcomes[MF_OUT__COUNT];
    int64_t first_seen, last_seen;
    size_t last_report; /* the report that last counted it as a host */
} inv_server;

typedef struct batch {
    item *items;
    size_t n;
    chunk *chunks;
    bool end; /* the last one: no items follow */
    struct batch *next;
} batch;

struct mf_report_outputs {
    mf_rpt_writer *w[MF_RPT__FORMATS];
    mf_report_paths paths;
    mf_history *hist;
    mf_rpt_rule *rules;
    size_t nrules;
    mf_rpt_run run;
    /* the batch being filled by the calling thread */
    batch *cur;
    bool oom;
    /* the queue to the writer thread */
    pthread_mutex_t mu;
    pthread_cond_t ready, room;
    batch *head, *tail, *spare;
    size_t queued;
    pthread_t thread;
    bool threaded, started, locks;
    /* the writer thread's state: werr is written before failed is set, and read by the
     * caller only after it saw failed or joined the thread */
    atomic_bool failed;
    mf_error werr;
    char *cur_host; /* the host whose results are being written, for the history */
    bool cur_bad;
    /* the inventory built from reports (check), unless the store's rows come */
    bool store_rows;
    inv_server *inv; /* open addressing, capinv a power of two */
    size_t ninv, capinv, inv_dropped, reports_seen;
};

static mf_rpt_severity severity_of(mf_severity s)
{
    switch (s) {
    case MF_SEV_LOW:
        return MF_RPT_LOW;
    case MF_SEV_MEDIUM:
        return MF_RPT_MEDIUM;
    case MF_SEV_HIGH:
        return MF_RPT_HIGH;
    case MF_SEV_CRITICAL:
        return MF_RPT_CRITICAL;
    default:
        return MF_RPT_INFO;
    }
}

static mf_rpt_state state_of(mf_state s)
{
    switch (s) {
    case MF_STATE_FAIL:
        return MF_RPT_FAIL;
    case MF_STATE_ERROR:
        return MF_RPT_ERROR;
    case MF_STATE_NOTAPPLICABLE:
        return MF_RPT_NOTAPPLICABLE;
    case MF_STATE_WAIVED:
        return MF_RPT_WAIVED;
    default:
        return MF_RPT_PASS;
    }
}

bool mf_report_outputs_any(const mf_report_outputs *o)
{
    if (!o)
        return false;
    for (int f = 0; f < MF_RPT__FORMATS; f++)
        if (o->w[f])
            return true;
    return false;
}

/* ------------------------------------------------------------------ batches */

static void batch_free(batch *b)
{
    if (!b)
        return;
    for (chunk *c = b->chunks; c;) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(b->items);
    free(b);
}

static batch *batch_new(void)
{
    batch *b = calloc(1, sizeof(*b));
    if (b && !(b->items = malloc(BATCH_ITEMS * sizeof(item)))) {
        free(b);
        return NULL;
    }
    return b;
}

static void batch_reset(batch *b)
{
    /* Keep the first chunk for the next use. */
    chunk *c = b->chunks;
    while (c && c->next) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    if (c)
        c->used = 0;
    b->chunks = c;
    b->n = 0;
    b->end = false;
    b->next = NULL;
}

/* A copy of s in batch b (NULL stays NULL). */
static const char *keep(mf_report_outputs *o, batch *b, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    chunk *c = b->chunks;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_BYTES ? n : CHUNK_BYTES;
        chunk *nc = malloc(sizeof(*nc) + size);
        if (!nc) {
            o->oom = true;
            return NULL;
        }
        nc->used = 0;
        nc->size = size;
        nc->next = c;
        b->chunks = c = nc;
    }
    char *d = c->data + c->used;
    memcpy(d, s, n);
    c->used += n;
    return d;
}

/* ------------------------------------------------------------------ the writer side */

static mf_code history_close_host(mf_report_outputs *o, mf_error *err)
{
    mf_code rc = MF_OK;
    if (o->cur_host && o->hist)
        rc = mf_history_host(o->hist, o->cur_host, !o->cur_bad, err);
    free(o->cur_host);
    o->cur_host = NULL;
    o->cur_bad = false;
    return rc;
}

static mf_code write_item(mf_report_outputs *o, item *it, mf_error *err)
{
    mf_code rc = MF_OK;
    switch (it->kind) {
    case IT_HOST:
        for (int f = 0; f < MF_RPT__FORMATS && rc == MF_OK; f++)
            if (o->w[f])
                rc = mf_rpt_add_host(o->w[f], &it->host, err);
        return rc;
    case IT_SERVER:
        return o->w[MF_RPT_HTML] ? mf_rpt_add_server(o->w[MF_RPT_HTML], &it->srv, err) : MF_OK;
    case IT_RESULT:
        break;
    }
    mf_rpt_result *r = &it->res;
    if (o->hist) {
        if (r->host_id && !mf_streq(r->host_id, o->cur_host)) {
            if ((rc = history_close_host(o, err)) != MF_OK)
                return rc;
            if (!(o->cur_host = mf_strdup(r->host_id)))
                return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        }
        if (r->host_id && (r->state == MF_RPT_FAIL || r->state == MF_RPT_ERROR))
            o->cur_bad = true;
        if (r->state == MF_RPT_FAIL &&
            (rc = mf_history_failure(o->hist, r->host_id ? r->host_id : "", o->rules[r->rule].id,
                                     r->entity, &r->first_failed, err)) != MF_OK)
            return rc;
    }
    for (int f = 0; f < MF_RPT__FORMATS && rc == MF_OK; f++)
        if (o->w[f])
            rc = mf_rpt_add_result(o->w[f], r, err);
    return rc;
}

/* Write a batch's items; after the first failure the rest are dropped. */
static void write_batch(mf_report_outputs *o, batch *b)
{
    for (size_t i = 0; i < b->n && !atomic_load(&o->failed); i++) {
        mf_error err;
        mf_error_clear(&err);
        if (write_item(o, &b->items[i], &err) != MF_OK) {
            o->werr = err;
            atomic_store(&o->failed, true);
            if (o->locks) {
                /* wake a caller waiting for room: it will see the failure */
                pthread_mutex_lock(&o->mu);
                pthread_cond_signal(&o->room);
                pthread_mutex_unlock(&o->mu);
            }
        }
    }
}

static void *writer_thread(void *arg)
{
    mf_report_outputs *o = arg;
    for (;;) {
        pthread_mutex_lock(&o->mu);
        while (!o->head)
            pthread_cond_wait(&o->ready, &o->mu);
        batch *b = o->head;
        o->head = b->next;
        if (!o->head)
            o->tail = NULL;
        o->queued--;
        pthread_cond_signal(&o->room);
        pthread_mutex_unlock(&o->mu);
        bool end = b->end;
        write_batch(o, b);
        batch_reset(b);
        pthread_mutex_lock(&o->mu);
        b->next = o->spare;
        o->spare = b;
        pthread_mutex_unlock(&o->mu);
        if (end)
            return NULL;
    }
}

/* Hand the current batch to the writer (waiting while the queue is full) and start a new
 * one. With end, this is the last. */
static mf_code push(mf_report_outputs *o, bool end, mf_error *err)
{
    batch *b = o->cur;
    o->cur = NULL;
    if (!b && !(b = batch_new()))
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    b->end = end;
    if (!o->threaded) {
        write_batch(o, b);
        batch_reset(b);
        o->cur = b;
    } else {
        pthread_mutex_lock(&o->mu);
        while (o->queued >= QUEUE_MAX && !atomic_load(&o->failed))
            pthread_cond_wait(&o->room, &o->mu);
        b->next = NULL;
        if (o->tail)
            o->tail->next = b;
        else
            o->head = b;
        o->tail = b;
        o->queued++;
        pthread_cond_signal(&o->ready);
        o->cur = o->spare;
        if (o->cur)
            o->spare = o->cur->next;
        pthread_mutex_unlock(&o->mu);
        if (o->cur)
            o->cur->next = NULL;
    }
    if (atomic_load(&o->failed)) {
        if (err)
            *err = o->werr;
        return o->werr.code ? o->werr.code : MF_ERR_IO;
    }
    return MF_OK;
}

/* The next free item of the current batch, pushing a full one first. */
static mf_code next_item(mf_report_outputs *o, item **out, mf_error *err)
{
    mf_code rc;
    *out = NULL;
    if (o->cur && o->cur->n == BATCH_ITEMS && (rc = push(o, false, err)) != MF_OK)
        return rc;
    if (!o->cur && !(o->cur = batch_new()))
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    *out = &o->cur->items[o->cur->n++];
    memset(*out, 0, sizeof(**out));
    return MF_OK;
}

/* ------------------------------------------------------------------ check's inventory */

static uint64_t inv_hash(const char *h, int port, const char *p)
{
    uint64_t x = 1469598103934665603ULL;
    for (const char *s = h; *s; s++)
        x = (x ^ (unsigned char)*s) * 1099511628211ULL;
    x = (x ^ (uint64_t)(unsigned)port) * 1099511628211ULL;
    for (const char *s = p; *s; s++)
        x = (x ^ (unsigned char)*s) * 1099511628211ULL;
    return x;
}

/* The entry of (hostname, port, provider), created when new; NULL past the cap or OOM. */
static inv_server *inv_get(mf_report_outputs *o, const char *hostname, int port,
                           const char *provider)
{
    hostname = hostname ? hostname : "";
    provider = provider ? provider : "";
    if ((o->ninv + 1) * 2 > o->capinv) {
        if (o->ninv >= MF_RPT_SERVERS_MAX) {
            o->inv_dropped++;
            return NULL;
        }
        size_t ncap = o->capinv ? o->capinv * 2 : 256;
        inv_server *nv = calloc(ncap, sizeof(*nv));
        if (!nv)
            return NULL;
        for (size_t i = 0; i < o->capinv; i++) {
            if (!o->inv[i].hostname)
                continue;
            size_t j =
                inv_hash(o->inv[i].hostname, o->inv[i].port, o->inv[i].provider) & (ncap - 1);
            while (nv[j].hostname)
                j = (j + 1) & (ncap - 1);
            nv[j] = o->inv[i];
        }
        free(o->inv);
        o->inv = nv;
        o->capinv = ncap;
    }
    size_t j = inv_hash(hostname, port, provider) & (o->capinv - 1);
    while (o->inv[j].hostname) {
        inv_server *e = &o->inv[j];
        if (e->port == port && strcmp(e->hostname, hostname) == 0 &&
            strcmp(e->provider, provider) == 0)
            return e;
        j = (j + 1) & (o->capinv - 1);
    }
    inv_server *e = &o->inv[j];
    e->hostname = mf_strdup(hostname);
    e->provider = mf_strdup(provider);
    if (!e->hostname || !e->provider) {
        free(e->hostname);
        free(e->provider);
        e->hostname = e->provider = NULL;
        return NULL;
    }
    e->port = port;
    e->last_report = SIZE_MAX;
    o->ninv++;
    return e;
}

static void inv_seen(inv_server *e, int64_t t, size_t report)
{
    if (e->last_report != report) {
        e->last_report = report;
        e->hosts++;
    }
    if (t && (!e->first_seen || t < e->first_seen))
        e->first_seen = t;
    if (t > e->last_seen)
        e->last_seen = t;
}

/* Count report r (a host's latest) into the inventory. */
static void inv_add_report(mf_report_outputs *o, const mf_report *r, int64_t t)
{
    size_t seq = o->reports_seen++;
    for (size_t i = 0; i < r->nservers; i++) {
        const mf_server *s = &r->servers[i];
        inv_server *e = inv_get(o, s->hostname, s->port, s->hostname ? NULL : s->provider);
        if (!e)
            continue;
        inv_seen(e, t, seq);
        e->entries++;
        e->accounts += (long long)s->used_by.n;
        e->unused += (s->flags & MF_FLAG_UNUSED) != 0;
    }
    for (size_t i = 0; i < r->nprobes; i++) {
        const mf_probe *p = &r->probes[i];
        if (!p->hostname || p->outcome == MF_OUT_SKIPPED)
            continue;
        inv_server *e = inv_get(o, p->hostname, p->port, NULL);
        if (!e)
            continue;
        if (p->outcome == MF_OUT_OK)
            e->probes_ok++;
        else
            e->probes_failed++;
        if ((unsigned)p->outcome < MF_OUT__COUNT)
            e->outcomes[p->outcome]++;
    }
}

/* Hand the built inventory to the HTML writer (the writer thread has ended). */
static mf_code inv_feed(mf_report_outputs *o, mf_error *err)
{
    if (o->store_rows || !o->w[MF_RPT_HTML])
        return MF_OK;
    for (size_t i = 0; i < o->capinv; i++) {
        const inv_server *e = &o->inv[i];
        if (!e->hostname)
            continue;
        int top = -1;
        for (int k = 0; k < MF_OUT__COUNT; k++)
            if (k != MF_OUT_OK && k != MF_OUT_SKIPPED && e->outcomes[k] &&
                (top < 0 || e->outcomes[k] > e->outcomes[top]))
                top = k;
        mf_rpt_server s = {.hostname = e->hostname[0] ? e->hostname : NULL,
                           .provider = e->provider[0] ? e->provider : NULL,
                           .port = e->port,
                           .hosts = e->hosts,
                           .hosts_ever = e->hosts,
                           .entries = e->entries,
                           .accounts = e->accounts,
                           .unused = e->unused,
                           .probes_ok = e->probes_ok,
                           .probes_failed = e->probes_failed,
                           .top_failure = top >= 0 ? mf_outcome_name((mf_outcome)top) : NULL,
                           .first_seen = e->first_seen,
                           .last_seen = e->last_seen};
        mf_code rc = mf_rpt_add_server(o->w[MF_RPT_HTML], &s, err);
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

/* ------------------------------------------------------------------ open / free */

mf_code mf_report_outputs_open(mf_report_outputs **out, const mf_report_paths *paths, mf_error *err)
{
    *out = NULL;
    mf_code rc = MF_OK;
    mf_report_outputs *o = calloc(1, sizeof(*o));
    if (!o)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    o->paths = *paths;
    if (pthread_mutex_init(&o->mu, NULL) != 0) {
        free(o);
        return mf_error_set(err, MF_ERR_NOMEM, "cannot create a mutex");
    }
    if (pthread_cond_init(&o->ready, NULL) != 0 || pthread_cond_init(&o->room, NULL) != 0) {
        pthread_mutex_destroy(&o->mu);
        free(o);
        return mf_error_set(err, MF_ERR_NOMEM, "cannot create a condition variable");
    }
    o->locks = true;
    atomic_init(&o->failed, false);
    const char *p[MF_RPT__FORMATS] = {
        [MF_RPT_JUNIT] = paths->junit, [MF_RPT_HTML] = paths->html, [MF_RPT_CSV] = paths->csv};
    mf_rpt_opts opts = {.junit_group = paths->junit_group, .stale_days = paths->stale_days};
    for (int f = 0; f < MF_RPT__FORMATS; f++)
        if (p[f] && (rc = mf_rpt_open(&o->w[f], (mf_rpt_format)f, p[f], &opts, err)) != MF_OK)
            goto out;
    *out = o;
    o = NULL;
out:
    mf_report_outputs_free(o);
    return rc;
}

/* Stop the writer thread (after an error of the caller: the batches left are dropped). */
static void stop_thread(mf_report_outputs *o)
{
    if (!o->started)
        return;
    atomic_store(&o->failed, true); /* drop what is still queued */
    batch *b = batch_new();
    if (b) {
        b->end = true;
        pthread_mutex_lock(&o->mu);
        if (o->tail)
            o->tail->next = b;
        else
            o->head = b;
        o->tail = b;
        o->queued++;
        pthread_cond_signal(&o->ready);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->thread, NULL);
    } else {
        pthread_cancel(o->thread); /* no memory even for the last batch */
        pthread_join(o->thread, NULL);
    }
    o->started = false;
}

void mf_report_outputs_free(mf_report_outputs *o)
{
    if (!o)
        return;
    stop_thread(o);
    for (int f = 0; f < MF_RPT__FORMATS; f++)
        mf_rpt_free(o->w[f]);
    mf_history_close(o->hist);
    if (o->rules)
        for (size_t i = 0; i < o->nrules; i++)
            free((void *)o->rules[i].references);
    free(o->rules);
    free(o->cur_host);
    for (size_t i = 0; i < o->capinv; i++) {
        free(o->inv[i].hostname);
        free(o->inv[i].provider);
    }
    free(o->inv);
    batch_free(o->cur);
    for (batch *b = o->head; b;) {
        batch *next = b->next;
        batch_free(b);
        b = next;
    }
    for (batch *b = o->spare; b;) {
        batch *next = b->next;
        batch_free(b);
        b = next;
    }
    if (o->locks) {
        pthread_cond_destroy(&o->ready);
        pthread_cond_destroy(&o->room);
        pthread_mutex_destroy(&o->mu);
    }
    free(o);
}

/* ------------------------------------------------------------------ the sink */

static mf_code sink_begin(void *ctx, const mf_results *rs, mf_error *err)
{
    mf_report_outputs *o = ctx;
    const mf_policy *p = mf_results_policy(rs);
    const mf_run_info *info = mf_results_info(rs);
    mf_code rc = MF_OK;
    o->nrules = p->nrules;
    o->rules = calloc(p->nrules ? p->nrules : 1, sizeof(*o->rules));
    if (!o->rules)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p->nrules; i++) {
        const mf_rule *r = &p->rules[i];
        mf_rpt_rule *d = &o->rules[i];
        d->id = r->id;
        d->title = r->title;
        d->severity = severity_of(r->severity);
        d->scope = mf_scope_name(r->scope);
        d->description = r->description;
        d->rationale = r->rationale;
        d->remediation = r->remediation_user;
        d->remediation_admin = r->remediation_admin;
        if (r->references.n) {
            const char **refs = calloc(r->references.n, sizeof(char *));
            if (!refs)
                return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            for (size_t k = 0; k < r->references.n; k++)
                refs[k] = r->references.v[k];
            d->references = refs;
            d->nreferences = r->references.n;
        }
    }
    o->run = (mf_rpt_run){
        .policy_id = p->id,
        .policy_title = p->title,
        .policy_version = p->version,
        .command = info->command,
        .source = info->source,
        .generated_at = info->as_of,
        .fail_on = severity_of(info->fail_on),
    };
    /* `report` gives the store's inventory; only `check` builds one from its reports. */
    o->store_rows = mf_streq(info->command, "report");
    if (o->paths.history &&
        (rc = mf_history_open(&o->hist, o->paths.history, info->as_of, err)) != MF_OK)
        return rc;
    for (int f = 0; f < MF_RPT__FORMATS; f++)
        if (o->w[f] && (rc = mf_rpt_begin(o->w[f], &o->run, o->rules, o->nrules, err)) != MF_OK)
            return rc;
    /* From here the writer thread owns the writers and the history until the end. */
    o->threaded = pthread_create(&o->thread, NULL, writer_thread, o) == 0;
    o->started = o->threaded;
    return MF_OK;
}

static mf_code sink_add(void *ctx, const mf_results *rs, const mf_result *r, mf_error *err)
{
    (void)rs;
    mf_report_outputs *o = ctx;
    item *it;
    mf_code rc = next_item(o, &it, err);
    if (rc != MF_OK)
        return rc;
    batch *b = o->cur;
    it->kind = IT_RESULT;
    mf_rpt_result *d = &it->res;
    d->rule = r->rule->index;
    d->host_id = keep(o, b, r->host_id);
    d->hostname = keep(o, b, r->hostname);
    d->entity = keep(o, b, r->entity);
    d->server = keep(o, b, r->server);
    d->state = state_of(r->state);
    d->message = keep(o, b, r->message);
    if (r->state == MF_STATE_WAIVED && r->waiver) {
        d->waiver_justification = keep(o, b, r->waiver->justification);
        d->waiver_approved_by = keep(o, b, r->waiver->approved_by);
        d->waiver_expires = keep(o, b, r->waiver->expires);
    }
    if (r->expired)
        d->expired_waiver_expires = keep(o, b, r->expired->expires);
    if (o->oom)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    return MF_OK;
}

static mf_code feed_day(void *ctx, const mf_rpt_day *d, mf_error *err)
{
    mf_report_outputs *o = ctx;
    for (int f = 0; f < MF_RPT__FORMATS; f++) {
        mf_code rc;
        if (o->w[f] && (rc = mf_rpt_add_day(o->w[f], d, err)) != MF_OK)
            return rc;
    }
    return MF_OK;
}

static mf_code sink_end(void *ctx, const mf_results *rs, mf_error *err)
{
    mf_report_outputs *o = ctx;
    mf_code rc = push(o, true, err);
    if (o->started) {
        pthread_join(o->thread, NULL);
        o->started = false;
    }
    if (rc == MF_OK && atomic_load(&o->failed)) {
        if (err)
            *err = o->werr;
        rc = o->werr.code ? o->werr.code : MF_ERR_IO;
    }
    if (rc != MF_OK)
        return rc;
    /* The writer thread has ended: the rest happens here. */
    if ((rc = history_close_host(o, err)) != MF_OK)
        return rc;
    if (o->hist && (rc = mf_history_finish(o->hist, feed_day, o, err)) != MF_OK)
        return rc;
    if ((rc = inv_feed(o, err)) != MF_OK)
        return rc;
    size_t ok = 0, skipped = 0, failed = 0;
    mf_results_inputs(rs, &ok, &skipped, &failed);
    const mf_waivers *wv = mf_results_waivers(rs);
    for (int f = 0; f < MF_RPT__FORMATS; f++) {
        if (!o->w[f])
            continue;
        mf_rpt_set_inputs(o->w[f], ok, skipped, failed);
        for (size_t i = 0; wv && i < wv->n; i++) {
            const mf_waiver *v = &wv->v[i];
            mf_rpt_waiver d = {.rule = v->rule,
                               .host = v->host,
                               .server = v->server,
                               .justification = v->justification,
                               .approved_by = v->approved_by,
                               .expires = v->expires,
                               .status = mf_waiver_status_name(v->status),
                               .matched = v->matched};
            if ((rc = mf_rpt_add_waiver(o->w[f], &d, err)) != MF_OK)
                return rc;
        }
        if ((rc = mf_rpt_end(o->w[f], err)) != MF_OK)
            return rc;
    }
    return MF_OK;
}

mf_code mf_report_outputs_attach(mf_report_outputs *o, mf_results *rs, mf_error *err)
{
    if (!mf_report_outputs_any(o) && !(o && o->paths.history))
        return MF_OK;
    mf_results_sink s = {.name = "reports",
                         .ctx = o,
                         .begin = sink_begin,
                         .add = sink_add,
                         .end = sink_end,
                         .free = NULL};
    if (mf_results_add_sink(rs, &s) != MF_OK)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    return MF_OK;
}

mf_code mf_report_outputs_host(mf_report_outputs *o, const mf_report *r, mf_error *err)
{
    if (!mf_report_outputs_any(o) || !o->rules)
        return MF_OK; /* no writer, or the run has not begun */
    item *it;
    mf_code rc = next_item(o, &it, err);
    if (rc != MF_OK)
        return rc;
    batch *b = o->cur;
    int64_t t = 0;
    if (mf_time_parse_rfc3339(r->collected_at, &t) != MF_OK)
        t = 0;
    if (o->w[MF_RPT_HTML] && !o->store_rows)
        inv_add_report(o, r, t);
    it->kind = IT_HOST;
    it->host = (mf_rpt_host){.id = keep(o, b, r->host.id),
                             .hostname = keep(o, b, r->host.hostname),
                             .collected_at = t,
                             .os_version = keep(o, b, r->host.os_version),
                             .agent_version = keep(o, b, r->agent_version),
                             .report_id = keep(o, b, r->report_id)};
    if (o->oom || !it->host.id)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    return MF_OK;
}

mf_code mf_report_outputs_server(mf_report_outputs *o, const mf_store_server_row *row,
                                 mf_error *err)
{
    if (!o || !o->w[MF_RPT_HTML] || !o->rules)
        return MF_OK;
    o->store_rows = true; /* the store's inventory replaces the one built from reports */
    item *it;
    mf_code rc = next_item(o, &it, err);
    if (rc != MF_OK)
        return rc;
    batch *b = o->cur;
    it->kind = IT_SERVER;
    it->srv = (mf_rpt_server){.hostname = keep(o, b, row->hostname),
                              .provider = keep(o, b, row->provider),
                              .port = row->port,
                              .hosts = row->hosts,
                              .hosts_ever = row->hosts_ever,
                              .entries = row->entries,
                              .accounts = row->accounts,
                              .unused = row->unused,
                              .probes_ok = row->probes_ok,
                              .probes_failed = row->probes_failed,
                              .top_failure = keep(o, b, row->top_failure),
                              .first_seen = row->first_seen,
                              .last_seen = row->last_seen};
    return o->oom ? mf_error_set(err, MF_ERR_NOMEM, "out of memory") : MF_OK;
}
