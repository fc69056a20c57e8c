/* send and flush: queue a fresh report (send only) and ship the outbox to the collector.
 *
 * Exit status: 0 when every queued report was acknowledged (or nothing was queued) and,
 * for send, every source was read; 1 when some reports stay queued or were refused, or
 * a source failed (the reasons are printed); 2 for a usage or configuration error. A run started
 * with --respect-backoff (the LaunchDaemon's) does not connect while the outbox's back-off runs; a
 * person's run always tries. */
#include "commands.h"
#include "config.h"
#include "log.h"
#include "outbox.h"
#include "privacy.h"
#include "ship_ssh.h"

#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a run waits for another agent process to release the outbox. */
#define LOCK_WAIT_S 300

typedef struct send_ctx {
    mf_outbox *ob;
    mf_outbox_entry *v;
    size_t stored, duplicates, refused, retry;
    char last_nack[300];
} send_ctx;

static mf_code load_cb(void *ctx, size_t i, size_t max, char **data, size_t *len, char id[37],
                       mf_error *err)
{
    send_ctx *c = ctx;
    memcpy(id, c->v[i].report_id, 37);
    return mf_outbox_read(data, len, c->ob, &c->v[i], max, err);
}

static void answer_cb(void *ctx, size_t i, const mf_ship_answer *a)
{
    send_ctx *c = ctx;
    const mf_outbox_entry *e = &c->v[i];
    mf_error err;
    mf_error_clear(&err);
    char msg[1024];
    switch (a->verdict) {
    case MF_SHIP_STORED:
    case MF_SHIP_DUPLICATE:
        if (a->verdict == MF_SHIP_STORED)
            c->stored++;
        else
            c->duplicates++;
        mf_log_info("report %s acknowledged%s", e->report_id,
                    a->verdict == MF_SHIP_DUPLICATE ? " (already stored)" : "");
        if (mf_outbox_remove(c->ob, e, &err) != MF_OK)
            mf_log_warn("%s (it will be sent again and counted once)",
                        mf_error_format(&err, msg, sizeof(msg)));
        break;
    case MF_SHIP_REFUSED: {
        c->refused++;
        char reason[MF_SHIP_LINE_MAX + 64];
        snprintf(reason, sizeof(reason), "%s %s", a->reason, a->text);
        mf_log_error("the collector refused report %s for good (%s); moved to %s/rejected/",
                     e->report_id, reason, mf_outbox_dir(c->ob));
        if (mf_outbox_reject(c->ob, e, reason, &err) != MF_OK)
            mf_log_warn("%s", mf_error_format(&err, msg, sizeof(msg)));
        break;
    }
    case MF_SHIP_RETRY:
        c->retry++;
        snprintf(c->last_nack, sizeof(c->last_nack),
                 "the collector cannot store reports now: %s %s", a->reason, a->text);
        mf_log_warn("report %s not stored by the collector (%s %s); it stays queued", e->report_id,
                    a->reason, a->text);
        break;
    default:
        break;
    }
}

static uint32_t random_u32(void)
{
    unsigned char b[4] = {0};
    if (RAND_bytes(b, sizeof(b)) != 1)
        return (uint32_t)time(NULL);
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void print_hostkey_help(const mf_agent_config *cfg, const mf_ship_hostkey *hk)
{
    if (hk->changed) {
        fprintf(stderr,
                "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                "@  WARNING: THE COLLECTOR'S HOST KEY HAS CHANGED!          @\n"
                "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                "Someone may be intercepting the connection, or the collector's key was\n"
                "replaced. Nothing was sent. The collector now presents:\n"
                "  %s %s\n"
                "Only if you know the key was replaced on purpose, and after comparing that\n"
                "fingerprint on the collector host itself (ssh-keygen -lf "
                "/etc/ssh/ssh_host_%s_key.pub),\n"
                "replace the line for %s in %s with:\n  %s\n",
                hk->type, hk->fingerprint, hk->keyscan_type, hk->host_pattern, cfg->known_hosts,
                hk->line ? hk->line : "(unavailable)");
        return;
    }
    fprintf(stderr,
            "The collector %s presents this host key:\n"
            "  %s %s\n"
            "%s"
            "Compare it with the key on the collector host itself\n"
            "(ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub). If it matches, pin it by adding\n"
            "this line to %s:\n"
            "  %s\n"
            "or, from a trusted network: ssh-keyscan -p %d -t %s %s >> %s\n",
            hk->host_pattern, hk->type, hk->fingerprint,
            hk->file_missing ? "(the known_hosts file does not exist yet)\n" : "", hk->keyscan_type,
            cfg->known_hosts, hk->line ? hk->line : "(unavailable)", cfg->collector_port,
            hk->keyscan_type, cfg->collector_host, cfg->known_hosts);
}

/* Collect a report and queue it. Returns false when no report could be queued;
 * *sources_ok says whether every source was read (as for collect, a failed source makes
 * the exit status 1, but the report records it and is shipped all the same). */
static bool collect_and_queue(mf_agent_opts *o, const mf_agent_config *cfg, mf_outbox *ob,
                              bool *sources_ok)
{
    *sources_ok = true;
    mf_report *r = NULL;
    mf_code rc = mf_agent_build_report_cfg(&r, o, cfg);
    if (rc != MF_OK) {
        mf_log_error("cannot collect a report: %s", mf_strerror(rc));
        return false;
    }
    for (size_t i = 0; i < r->nsources; i++) {
        const mf_source *src = &r->sources[i];
        if (src->status != MF_SRC_OK && src->status != MF_SRC_MISSING)
            mf_log_warn("%s source %s: %s: %s", src->client ? src->client : "?",
                        src->path ? src->path : "?", mf_source_status_name(src->status),
                        src->error ? src->error : "");
    }
    *sources_ok = mf_report_failed_sources(r) == 0;
    bool ok = true;
    {
        mf_error err;
        mf_error_clear(&err);
        long long dropped = 0;
        rc = mf_outbox_enqueue(ob, r, &dropped, &err);
        if (rc != MF_OK) {
            char msg[1024];
            mf_log_error("cannot queue the report: %s", mf_error_format(&err, msg, sizeof(msg)));
            ok = false;
        } else {
            mf_log_info("queued report %s in %s%s", r->report_id, mf_outbox_dir(ob),
                        r->dropped_reports ? " (it reports earlier drops)" : "");
            if (dropped)
                mf_log_warn("the outbox is full: dropped the %lld oldest report(s); the next "
                            "report will say so",
                            dropped);
        }
    }
    mf_report_free(r);
    return ok;
}

int mf_cmd_send(mf_agent_opts *o)
{
    bool is_send = strcmp(o->command, "send") == 0;
    /* A collector that disappears mid-write must give an error, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    int status = MF_EXIT_FAILURE;
    char msg[1024];
    mf_error err;
    mf_error_clear(&err);
    mf_agent_config cfg;
    mf_outbox *ob = NULL;
    mf_outbox_entry *v = NULL;
    size_t n = 0;
    mf_ship_hostkey hk;
    memset(&hk, 0, sizeof(hk));
    mf_code rc = mf_agent_config_load(&cfg, o, &err);
    if (rc != MF_OK) {
        mf_log_error("configuration refused: %s", mf_error_format(&err, msg, sizeof(msg)));
        status = rc == MF_ERR_NOMEM ? MF_EXIT_FAILURE : MF_EXIT_USAGE;
        goto out;
    }
    if (!cfg.collector_host) {
        mf_log_error("no collector configured: set \"collector\" in the configuration "
                     "(docs/configuration.md) or pass --collector USER@HOST[:PORT]");
        status = MF_EXIT_USAGE;
        goto out;
    }
    rc = mf_outbox_open(&ob, cfg.outbox, cfg.outbox_max_reports, cfg.outbox_max_bytes, LOCK_WAIT_S,
                        &err);
    if (rc != MF_OK) {
        mf_log_error("outbox: %s", mf_error_format(&err, msg, sizeof(msg)));
        goto out;
    }
    bool queued_ok = true, sources_ok = true;
    if (is_send)
        queued_ok = collect_and_queue(o, &cfg, ob, &sources_ok);

    mf_error_clear(&err);
    if ((rc = mf_outbox_list(&v, &n, ob, &err)) != MF_OK) {
        mf_log_error("outbox: %s", mf_error_format(&err, msg, sizeof(msg)));
        goto out;
    }
    if (n == 0) {
        if (o->verbosity >= 0)
            printf("nothing queued in %s\n", cfg.outbox);
        status = queued_ok && sources_ok ? MF_EXIT_OK : MF_EXIT_FAILURE;
        goto out;
    }
    mf_outbox_state st;
    if (mf_outbox_state_load(&st, ob, &err) != MF_OK)
        goto out;
    int64_t now = (int64_t)time(NULL);
    if (o->respect_backoff && st.next_attempt > now) {
        char when[32];
        mf_time_format_rfc3339(st.next_attempt, when, sizeof(when));
        if (o->verbosity >= 0)
            printf("%zu report(s) queued in %s; not shipping before %s (back-off after %lld "
                   "failed attempt(s): %s)\n",
                   n, cfg.outbox, when, st.attempts, st.last_error[0] ? st.last_error : "?");
        goto out;
    }

    char where[400];
    if (cfg.collector_port == 22)
        snprintf(where, sizeof(where), "%s@%s", cfg.collector_user, cfg.collector_host);
    else
        snprintf(where, sizeof(where), "%s@%s port %d", cfg.collector_user, cfg.collector_host,
                 cfg.collector_port);
    mf_log_info("shipping %zu report(s) to %s", n, where);
    send_ctx ctx = {.ob = ob, .v = v};
    mf_ship_target t = {.host = cfg.collector_host,
                        .port = cfg.collector_port,
                        .user = cfg.collector_user,
                        .identity = cfg.identity,
                        .known_hosts = cfg.known_hosts,
                        .timeout_s = cfg.ssh_timeout_s};
    mf_ship_queue q = {.n = n, .load = load_cb, .answer = answer_cb, .ctx = &ctx};
    mf_ship_stats stats;
    mf_error_clear(&err);
    rc = mf_ship_ssh_run(&t, &q, &hk, &stats, &err);
    size_t acked = ctx.stored + ctx.duplicates;
    size_t left = n - acked - ctx.refused;
    now = (int64_t)time(NULL);
    if (rc == MF_OK && ctx.retry == 0)
        mf_outbox_note_success(&st, now);
    else {
        const char *why = rc != MF_OK ? mf_error_format(&err, msg, sizeof(msg)) : ctx.last_nack;
        mf_outbox_note_failure(&st, now, acked > 0, why, cfg.retry_min_s, cfg.retry_max_s,
                               random_u32());
    }
    mf_error serr;
    mf_error_clear(&serr);
    if (mf_outbox_state_save(ob, &st, &serr) != MF_OK) {
        char smsg[1024];
        mf_log_warn("outbox: cannot save the retry state: %s",
                    mf_error_format(&serr, smsg, sizeof(smsg)));
    }

    if (rc != MF_OK) {
        mf_log_error("cannot ship to %s: %s", where, mf_error_format(&err, msg, sizeof(msg)));
        if (rc == MF_ERR_HOSTKEY)
            print_hostkey_help(&cfg, &hk);
    }
    if (acked && o->verbosity >= 0) {
        if (ctx.duplicates)
            printf("shipped %zu report(s) to %s (%zu of them already stored earlier)\n", acked,
                   where, ctx.duplicates);
        else
            printf("shipped %zu report(s) to %s\n", acked, where);
    }
    if (left && st.next_attempt > 0) {
        char when[32];
        mf_time_format_rfc3339(st.next_attempt, when, sizeof(when));
        mf_log_error("%zu report(s) stay queued in %s; scheduled runs retry after %s, "
                     "'mailfleet-agent flush' retries now",
                     left, cfg.outbox, when);
    } else if (left)
        mf_log_error("%zu report(s) stay queued in %s; the next run retries", left, cfg.outbox);
    if (ctx.refused)
        mf_log_error("%zu report(s) refused by the collector, kept in %s/rejected/", ctx.refused,
                     cfg.outbox);
    status = (rc == MF_OK && acked == n && queued_ok && sources_ok) ? MF_EXIT_OK : MF_EXIT_FAILURE;
out:
    mf_ship_hostkey_clear(&hk);
    free(v);
    mf_outbox_close(ob);
    mf_agent_config_free(&cfg);
    return status;
}
