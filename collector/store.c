/* store.c: choosing a store backend by name and forwarding to it (store.h). */
#include "store.h"
#include "util.h"

#include <stdlib.h>

struct mf_store {
    const mf_store_backend *be;
    void *impl;
    bool in_batch;
};

static const mf_store_backend *const backends[] = {&mf_store_sqlite};

const mf_store_backend *mf_store_backend_find(const char *name)
{
    for (size_t i = 0; i < MF_ARRAY_LEN(backends); i++)
        if (mf_streq(backends[i]->name, name))
            return backends[i];
    return NULL;
}

mf_code mf_store_open(mf_store **out, const char *backend, const char *location,
                      mf_error *err)
{
    *out = NULL;
    const mf_store_backend *be = mf_store_backend_find(backend ? backend : "sqlite");
    if (!be)
        return mf_error_set(err, MF_ERR_UNSUPPORTED, "no store backend called \"%s\"",
                            backend);
    mf_store *st = calloc(1, sizeof(*st));
    if (!st)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    st->be = be;
    mf_code rc = be->open(&st->impl, location, err);
    if (rc != MF_OK) {
        free(st);
        return rc;
    }
    *out = st;
    return MF_OK;
}

void mf_store_close(mf_store *st)
{
    if (!st)
        return;
    if (st->in_batch)
        st->be->rollback(st->impl);
    st->be->close(st->impl);
    free(st);
}

mf_code mf_store_begin(mf_store *st, mf_error *err)
{
    if (st->in_batch)
        return mf_error_set(err, MF_ERR_INTERNAL, "a batch is already open");
    mf_code rc = st->be->begin(st->impl, err);
    st->in_batch = rc == MF_OK;
    return rc;
}

mf_code mf_store_add(mf_store_added *out, mf_store *st, const mf_report *r, const char *json,
                     size_t len, mf_error *err)
{
    *out = MF_STORE_DUPLICATE;
    if (!st->in_batch)
        return mf_error_set(err, MF_ERR_INTERNAL, "mf_store_add outside a batch");
    return st->be->add(out, st->impl, r, json, len, err);
}

mf_code mf_store_commit(mf_store *st, mf_error *err)
{
    if (!st->in_batch)
        return mf_error_set(err, MF_ERR_INTERNAL, "no batch to commit");
    mf_code rc = st->be->commit(st->impl, err);
    if (rc != MF_OK)
        st->be->rollback(st->impl);
    st->in_batch = false;
    return rc;
}

void mf_store_rollback(mf_store *st)
{
    if (st && st->in_batch) {
        st->be->rollback(st->impl);
        st->in_batch = false;
    }
}

mf_code mf_store_has(bool *out, mf_store *st, const char *report_id, mf_error *err)
{
    *out = false;
    return st->be->has(out, st->impl, report_id, err);
}

mf_code mf_store_prune(long long *out, mf_store *st, int64_t before, mf_error *err)
{
    *out = 0;
    if (st->in_batch)
        return mf_error_set(err, MF_ERR_INTERNAL, "prune inside a batch");
    return st->be->prune(out, st->impl, before, err);
}

mf_code mf_store_servers(mf_store *st, mf_store_server_fn fn, void *ctx, mf_error *err)
{
    return st->be->servers(st->impl, fn, ctx, err);
}

mf_code mf_store_latest(mf_store *st, mf_store_report_fn fn, void *ctx, mf_error *err)
{
    return st->be->latest(st->impl, fn, ctx, err);
}

mf_code mf_store_count(long long *out_reports, long long *out_hosts, mf_store *st,
                       mf_error *err)
{
    *out_reports = *out_hosts = 0;
    return st->be->count(out_reports, out_hosts, st->impl, err);
}

int mf_store_schema_version(mf_store *st)
{
    return st->be->schema_version(st->impl);
}

mf_code mf_store_probe_history(mf_store *st, mf_store_probe_fn fn, void *ctx, mf_error *err)
{
    if (!st->be->probe_history)
        return mf_error_set(err, MF_ERR_UNSUPPORTED, "the %s store has no probe history",
                            st->be->name);
    return st->be->probe_history(st->impl, fn, ctx, err);
}
