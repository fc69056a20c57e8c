/* reports.c: the front of the report writers (reports.h): order of calls, cleaning and
 * copying of values, grouping by host, counting, the temporary output file and its
 * rename into place. The formats themselves live in report_<format>.c. */
#include "reports_int.h"
#include "util.h"
#include "xmlw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { STAGE_OPEN = 0, STAGE_BEGUN, STAGE_ENDED, STAGE_FAILED };

/* ------------------------------------------------------------------ names */

static const char *const STATE_NAMES[MF_RPT__STATES] = {"pass", "fail", "error", "notapplicable",
                                                        "waived"};
static const char *const SEVERITY_NAMES[MF_RPT__SEVERITIES] = {"info", "low", "medium", "high",
                                                               "critical"};
static const char *const FORMAT_NAMES[MF_RPT__FORMATS] = {"junit", "html", "csv"};

const char *mf_rpt_state_name(mf_rpt_state s)
{
    return (unsigned)s < MF_RPT__STATES ? STATE_NAMES[s] : "?";
}

const char *mf_rpt_severity_name(mf_rpt_severity s)
{
    return (unsigned)s < MF_RPT__SEVERITIES ? SEVERITY_NAMES[s] : "?";
}

const char *mf_rpt_format_name(mf_rpt_format f)
{
    return (unsigned)f < MF_RPT__FORMATS ? FORMAT_NAMES[f] : "?";
}

bool mf_rpt_format_parse(const char *s, mf_rpt_format *out)
{
    for (int i = 0; i < MF_RPT__FORMATS; i++)
        if (mf_streq(s, FORMAT_NAMES[i])) {
            *out = (mf_rpt_format)i;
            return true;
        }
    return false;
}

bool mf_rpt_group_parse(const char *s, mf_rpt_group *out)
{
    if (mf_streq(s, "host")) {
        *out = MF_RPT_GROUP_HOST;
        return true;
    }
    if (mf_streq(s, "rule")) {
        *out = MF_RPT_GROUP_RULE;
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ arena */

struct mf_rpt_chunk {
    mf_rpt_chunk *next;
    size_t used, size;
    max_align_t data[];
};

#define ARENA_CHUNK (64 * 1024)

void *mf_rpt_arena_alloc(mf_rpt_arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    mf_rpt_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof(*c) + size);
        if (!c)
            return NULL;
        c->used = 0;
        c->size = size;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

char *mf_rpt_arena_clean(mf_rpt_arena *a, const char *s, size_t max)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    size_t cap = n <= max / 3 ? n * 3 : max;
    char *d = mf_rpt_arena_alloc(a, cap + 4);
    if (d)
        mf_xml_clean(d, cap, s);
    return d;
}

void mf_rpt_arena_reset(mf_rpt_arena *a)
{
    /* Keep one chunk (the oldest, usually the only one) for the next host. */
    mf_rpt_chunk *c = a->head;
    while (c && c->next) {
        mf_rpt_chunk *next = c->next;
        free(c);
        c = next;
    }
    if (c)
        c->used = 0;
    a->head = c;
}

void mf_rpt_arena_free(mf_rpt_arena *a)
{
    mf_rpt_chunk *c = a->head;
    while (c) {
        mf_rpt_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ------------------------------------------------------------------ host labels */

typedef struct label_entry {
    char *name;
    char *id;
} label_entry;

struct label_set {
    label_entry *v;
    size_t n, cap; /* cap is a power of two */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void label_set_free(struct label_set *ls)
{
    if (!ls)
        return;
    for (size_t i = 0; i < ls->cap; i++) {
        free(ls->v[i].name);
        free(ls->v[i].id);
    }
    free(ls->v);
    free(ls);
}

static mf_code label_set_grow(struct label_set *ls)
{
    size_t ncap = ls->cap ? ls->cap * 2 : 1024;
    label_entry *nv = calloc(ncap, sizeof(*nv));
    if (!nv)
        return MF_ERR_NOMEM;
    for (size_t i = 0; i < ls->cap; i++) {
        if (!ls->v[i].name)
            continue;
        size_t j = fnv1a(ls->v[i].name) & (ncap - 1);
        while (nv[j].name)
            j = (j + 1) & (ncap - 1);
        nv[j] = ls->v[i];
    }
    free(ls->v);
    ls->v = nv;
    ls->cap = ncap;
    return MF_OK;
}

/* The id first seen with host name `name`, recording id when the name is new. NULL
 * only on OOM. */
static const char *label_set_claim(struct label_set *ls, const char *name, const char *id)
{
    if ((ls->n + 1) * 2 > ls->cap && label_set_grow(ls) != MF_OK)
        return NULL;
    size_t j = fnv1a(name) & (ls->cap - 1);
    while (ls->v[j].name) {
        if (strcmp(ls->v[j].name, name) == 0)
            return ls->v[j].id;
        j = (j + 1) & (ls->cap - 1);
    }
    char *n = mf_strdup(name), *i = mf_strdup(id);
    if (!n || !i) {
        free(n);
        free(i);
        return NULL;
    }
    ls->v[j].name = n;
    ls->v[j].id = i;
    ls->n++;
    return i;
}

/* ------------------------------------------------------------------ time */

static bool to_tm(int64_t t, struct tm *tm)
{
    /* Years 1000..9999 only: the formats want four digits. */
    if (t < -30610224000LL || t > 253402300799LL)
        return false;
    time_t tt = (time_t)t;
    return gmtime_r(&tt, tm) != NULL;
}

void mf_rpt_time_rfc3339(int64_t t, char *out, size_t outsz)
{
    struct tm tm;
    if (t == 0 || !to_tm(t, &tm) || strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

void mf_rpt_time_date(int64_t t, char *out, size_t outsz)
{
    struct tm tm;
    if (t == 0 || !to_tm(t, &tm) || strftime(out, outsz, "%Y-%m-%d", &tm) == 0)
        out[0] = '\0';
}

void mf_rpt_time_local(int64_t t, char *out, size_t outsz)
{
    struct tm tm;
    if (t == 0 || !to_tm(t, &tm) || strftime(out, outsz, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        out[0] = '\0';
}

/* ------------------------------------------------------------------ files */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return mf_strdup(".");
    if (slash == path)
        return mf_strdup("/");
    return mf_strndup(path, (size_t)(slash - path));
}

mf_code mf_rpt_tmpfile(FILE **out, const mf_rpt_writer *w, mf_error *err)
{
    *out = NULL;
    mf_code rc = MF_OK;
    char *dir = NULL, *tmpl = NULL;
    int fd = -1;
    if (w->tmp_path) {
        dir = dir_of(w->path);
    } else {
        const char *t = getenv("TMPDIR");
        dir = mf_strdup(t && *t ? t : "/tmp");
    }
    if (!dir || !(tmpl = mf_asprintf("%s/.mailfleet-report-XXXXXX", dir))) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    fd = mkstemp(tmpl);
    if (fd < 0) {
        rc = mf_error_set(err, MF_ERR_IO, "cannot create a temporary file in %s: %s", dir,
                          strerror(errno));
        goto out;
    }
    unlink(tmpl); /* gone when closed, whatever happens */
    *out = fdopen(fd, "w+");
    if (!*out) {
        rc = mf_error_set(err, MF_ERR_IO, "cannot open a temporary file: %s", strerror(errno));
        close(fd);
        goto out;
    }
out:
    free(dir);
    free(tmpl);
    return rc;
}

void mf_rpt_server_key(const mf_rpt_server *s, char *out, size_t outsz)
{
    if (s->hostname && s->port > 0)
        snprintf(out, outsz, "%s:%d", s->hostname, s->port);
    else if (s->hostname)
        snprintf(out, outsz, "%s", s->hostname);
    else if (s->provider)
        snprintf(out, outsz, "provider:%s", s->provider);
    else
        out[0] = '\0';
}

const mf_rpt_rule *mf_rpt_rule_at(const mf_rpt_writer *w, size_t i)
{
    return i < w->nrules ? &w->rules[i] : NULL;
}

/* ------------------------------------------------------------------ open / begin */

static const mf_rpt_backend *backend_for(mf_rpt_format fmt)
{
    switch (fmt) {
    case MF_RPT_JUNIT:
        return &mf_rpt_junit_backend;
    case MF_RPT_HTML:
        return &mf_rpt_html_backend;
    case MF_RPT_CSV:
        return &mf_rpt_csv_backend;
    default:
        return NULL;
    }
}

mf_code mf_rpt_open(mf_rpt_writer **out, mf_rpt_format fmt, const char *path,
                    const mf_rpt_opts *opts, mf_error *err)
{
    *out = NULL;
    mf_code rc = MF_OK;
    mf_rpt_writer *w = NULL;
    const mf_rpt_backend *be = backend_for(fmt);
    if (!be || mf_str_empty(path)) {
        rc = mf_error_set(err, MF_ERR_USAGE, be ? "no output file given" : "unknown report format");
        goto out;
    }
    w = calloc(1, sizeof(*w));
    if (!w || !(w->path = mf_strdup(path)) || !(w->labels = calloc(1, sizeof(*w->labels)))) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    w->fmt = fmt;
    w->be = be;
    if (opts)
        w->opts = *opts;
    if (w->opts.stale_days <= 0)
        w->opts.stale_days = 7;
    if (w->opts.html_page_hosts == 0)
        w->opts.html_page_hosts = 250;
    if (w->opts.html_open_hosts == 0)
        w->opts.html_open_hosts = 1000;
    if (w->opts.html_detail_hosts == 0)
        w->opts.html_detail_hosts = 1000;
    if (strcmp(path, "-") == 0) {
        w->f = stdout;
    } else {
        if (!(w->tmp_path = mf_asprintf("%s.tmp-XXXXXX", path))) {
            rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            goto out;
        }
        int fd = mkstemp(w->tmp_path);
        if (fd < 0) {
            rc = mf_error_set(err, errno == EACCES ? MF_ERR_PERM : MF_ERR_IO,
                              "cannot create %s: %s", path, strerror(errno));
            mf_error_set_file(err, path);
            free(w->tmp_path);
            w->tmp_path = NULL;
            goto out;
        }
        /* mkstemp makes 0600; a report is meant to be read like any other output. */
        mode_t um = umask(0);
        umask(um);
        if (fchmod(fd, 0666 & ~um) != 0) {
            /* Not fatal: the report is still written, only more private. */
        }
        w->f = fdopen(fd, "w");
        if (!w->f) {
            rc = mf_error_set(err, MF_ERR_IO, "cannot open %s: %s", path, strerror(errno));
            close(fd);
            goto out;
        }
    }
    *out = w;
    w = NULL;
out:
    mf_rpt_free(w);
    return rc;
}

static char *keep(mf_rpt_writer *w, const char *s, size_t max, bool *oom)
{
    if (!s)
        return NULL;
    char *c = mf_xml_clean_dup(s, max);
    if (!c || mf_grow((void **)&w->rule_strings, &w->caprule_strings, w->nrule_strings + 1,
                      sizeof(char *)) != MF_OK) {
        free(c);
        *oom = true;
        return NULL;
    }
    w->rule_strings[w->nrule_strings++] = c;
    return c;
}

static mf_code fail_stage(mf_rpt_writer *w, mf_error *err, const char *what)
{
    if (w->stage == STAGE_FAILED)
        return mf_error_set(err, MF_ERR_IO, "%s: the report writer failed earlier", what);
    return mf_error_set(err, MF_ERR_INTERNAL, "%s called out of order", what);
}

mf_code mf_rpt_begin(mf_rpt_writer *w, const mf_rpt_run *run, const mf_rpt_rule *rules,
                     size_t nrules, mf_error *err)
{
    if (w->stage != STAGE_OPEN)
        return fail_stage(w, err, "mf_rpt_begin");
    bool oom = false;
    mf_rpt_run r = run ? *run : (mf_rpt_run){0};
    const char *src[6] = {r.policy_id, r.policy_title, r.policy_version, r.command, r.source, NULL};
    for (int i = 0; i < 5; i++) {
        w->run_strings[i] = src[i] ? mf_xml_clean_dup(src[i], MF_RPT_TEXT_MAX) : NULL;
        if (src[i] && !w->run_strings[i])
            oom = true;
    }
    r.policy_id = w->run_strings[0];
    r.policy_title = w->run_strings[1];
    r.policy_version = w->run_strings[2];
    r.command = w->run_strings[3];
    r.source = w->run_strings[4];
    if (r.generated_at == 0)
        r.generated_at = (int64_t)time(NULL);
    w->run = r;

    w->nrules = nrules;
    if (nrules) {
        w->rules = calloc(nrules, sizeof(*w->rules));
        w->totals.rule_counts = calloc(nrules * MF_RPT__STATES, sizeof(size_t));
        w->totals.rule_first_failed = calloc(nrules, sizeof(int64_t));
        w->totals.rule_hosts_failing = calloc(nrules, sizeof(size_t));
        if (!w->rules || !w->totals.rule_counts || !w->totals.rule_first_failed ||
            !w->totals.rule_hosts_failing)
            oom = true;
    }
    for (size_t i = 0; !oom && i < nrules; i++) {
        const mf_rpt_rule *in = &rules[i];
        mf_rpt_rule *o = &w->rules[i];
        o->id = keep(w, mf_str_empty(in->id) ? "(no id)" : in->id, MF_RPT_TEXT_MAX, &oom);
        o->title = keep(w, in->title, MF_RPT_TEXT_MAX, &oom);
        o->severity = (unsigned)in->severity < MF_RPT__SEVERITIES ? in->severity : MF_RPT_INFO;
        o->scope = keep(w, in->scope, MF_RPT_TEXT_MAX, &oom);
        o->description = keep(w, in->description, MF_RPT_BODY_MAX, &oom);
        o->rationale = keep(w, in->rationale, MF_RPT_BODY_MAX, &oom);
        o->remediation = keep(w, in->remediation, MF_RPT_BODY_MAX, &oom);
        o->remediation_admin = keep(w, in->remediation_admin, MF_RPT_BODY_MAX, &oom);
        if (in->nreferences && !oom) {
            const char **refs = calloc(in->nreferences, sizeof(char *));
            if (!refs || mf_grow((void **)&w->rule_strings, &w->caprule_strings,
                                 w->nrule_strings + 1, sizeof(char *)) != MF_OK) {
                free(refs);
                oom = true;
                break;
            }
            w->rule_strings[w->nrule_strings++] = (char *)refs;
            for (size_t k = 0; k < in->nreferences && !oom; k++)
                refs[k] = keep(w, in->references[k], MF_RPT_TEXT_MAX, &oom);
            o->references = refs;
            o->nreferences = in->nreferences;
        }
    }
    if (oom) {
        w->stage = STAGE_FAILED;
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    mf_code rc = w->be->begin ? w->be->begin(w, err) : MF_OK;
    w->stage = rc == MF_OK ? STAGE_BEGUN : STAGE_FAILED;
    return rc;
}

/* ------------------------------------------------------------------ hosts and results */

mf_code mf_rpt_add_host(mf_rpt_writer *w, const mf_rpt_host *host, mf_error *err)
{
    if (w->stage != STAGE_BEGUN)
        return fail_stage(w, err, "mf_rpt_add_host");
    if (!host || mf_str_empty(host->id))
        return mf_error_set(err, MF_ERR_INVALID, "a host needs an id");
    mf_rpt_arena_reset(&w->pending_arena);
    mf_rpt_arena *a = &w->pending_arena;
    mf_rpt_host *p = &w->pending;
    p->id = mf_rpt_arena_clean(a, host->id, MF_RPT_TEXT_MAX);
    p->hostname = mf_rpt_arena_clean(a, host->hostname, MF_RPT_TEXT_MAX);
    p->os_version = mf_rpt_arena_clean(a, host->os_version, MF_RPT_TEXT_MAX);
    p->agent_version = mf_rpt_arena_clean(a, host->agent_version, MF_RPT_TEXT_MAX);
    p->report_id = mf_rpt_arena_clean(a, host->report_id, MF_RPT_TEXT_MAX);
    p->collected_at = host->collected_at;
    if (!p->id || (host->hostname && !p->hostname) || (host->os_version && !p->os_version) ||
        (host->agent_version && !p->agent_version) || (host->report_id && !p->report_id)) {
        w->has_pending = false;
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    w->has_pending = true;
    return MF_OK;
}

static bool blank(const char *s)
{
    if (!s)
        return true;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

/* Open a new host group for result r (its host_id may be NULL: fleet-wide). */
static mf_code open_host(mf_rpt_writer *w, const mf_rpt_result *r, mf_error *err)
{
    mf_rpt_hostgroup *g = &w->cur;
    mf_rpt_arena *a = &w->arena;
    mf_rpt_result *keep_results = g->results; /* the array outlives hosts */
    memset(g, 0, sizeof(*g));
    g->results = keep_results;
    g->worst = -1;
    g->index = w->next_index++;
    bool oom = false;
    if (r->host_id) {
        const mf_rpt_host *p = NULL;
        char *cid = mf_rpt_arena_clean(a, r->host_id, MF_RPT_TEXT_MAX);
        if (!cid)
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        if (w->has_pending && strcmp(w->pending.id, cid) == 0)
            p = &w->pending;
        g->id = cid;
        const char *hn = p && p->hostname ? p->hostname : r->hostname;
        g->hostname = hn ? mf_rpt_arena_clean(a, hn, MF_RPT_TEXT_MAX) : NULL;
        if (hn && !g->hostname)
            oom = true;
        if (p) {
            g->collected_at = p->collected_at;
            g->os_version =
                p->os_version ? mf_rpt_arena_clean(a, p->os_version, MF_RPT_TEXT_MAX) : NULL;
            g->agent_version =
                p->agent_version ? mf_rpt_arena_clean(a, p->agent_version, MF_RPT_TEXT_MAX) : NULL;
            g->report_id =
                p->report_id ? mf_rpt_arena_clean(a, p->report_id, MF_RPT_TEXT_MAX) : NULL;
        }
        /* The label: the host name unless blank or taken by another host. */
        if (!blank(g->hostname)) {
            const char *owner = label_set_claim(w->labels, g->hostname, g->id);
            if (!owner)
                oom = true;
            else if (strcmp(owner, g->id) == 0)
                g->label = g->hostname;
            else {
                char *l = mf_asprintf("%s (%s)", g->hostname, g->id);
                g->label = l ? mf_rpt_arena_clean(a, l, MF_RPT_TEXT_MAX + 8) : NULL;
                free(l);
                if (!g->label)
                    oom = true;
            }
        } else {
            g->label = blank(g->id) ? "(unnamed host)" : g->id;
        }
        if (g->collected_at > 0) {
            int64_t age = w->run.generated_at - g->collected_at;
            g->stopped = age > (int64_t)w->opts.stale_days * 86400;
        }
    } else {
        g->label = "fleet";
    }
    w->has_pending = false;
    w->open = true;
    if (oom)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    return MF_OK;
}

static mf_code close_host(mf_rpt_writer *w, mf_error *err)
{
    if (!w->open)
        return MF_OK;
    mf_rpt_hostgroup *g = &w->cur;
    mf_rpt_totals *t = &w->totals;
    for (int s = MF_RPT__SEVERITIES - 1; s >= 0; s--)
        if (g->fail_sev[s]) {
            g->worst = s;
            break;
        }
    if (g->id) {
        t->hosts++;
        if (g->counts[MF_RPT_FAIL] == 0 && g->counts[MF_RPT_ERROR] == 0)
            t->hosts_compliant++;
        if (g->counts[MF_RPT_ERROR])
            t->hosts_with_errors++;
        if (g->stopped)
            t->hosts_stopped++;
        if (g->collected_at > 0) {
            if (t->window_from == 0 || g->collected_at < t->window_from)
                t->window_from = g->collected_at;
            if (g->collected_at > t->window_to)
                t->window_to = g->collected_at;
        }
    }
    t->dropped += g->dropped;
    mf_code rc = w->be->host ? w->be->host(w, g, err) : MF_OK;
    w->open = false;
    mf_rpt_arena_reset(&w->arena);
    return rc;
}

mf_code mf_rpt_add_result(mf_rpt_writer *w, const mf_rpt_result *r, mf_error *err)
{
    if (w->stage != STAGE_BEGUN)
        return fail_stage(w, err, "mf_rpt_add_result");
    if (r->rule >= w->nrules)
        return mf_error_set(err, MF_ERR_INVALID, "result for rule #%zu, but there are %zu rules",
                            r->rule, w->nrules);
    if ((unsigned)r->state >= MF_RPT__STATES)
        return mf_error_set(err, MF_ERR_INVALID, "result with unknown state %d", (int)r->state);
    mf_code rc = MF_OK;
    if (w->open) {
        char tmp[MF_RPT_TEXT_MAX + 4];
        const char *hid = r->host_id;
        if (hid && !mf_xml_is_clean(hid, MF_RPT_TEXT_MAX)) {
            mf_xml_clean(tmp, MF_RPT_TEXT_MAX, hid);
            hid = tmp;
        }
        bool same = (!w->cur.id && !hid) || (w->cur.id && hid && strcmp(w->cur.id, hid) == 0);
        if (!same && (rc = close_host(w, err)) != MF_OK)
            goto fail;
    }
    if (!w->open && (rc = open_host(w, r, err)) != MF_OK)
        goto fail;

    mf_rpt_hostgroup *g = &w->cur;
    const mf_rpt_rule *rule = &w->rules[r->rule];
    mf_rpt_totals *t = &w->totals;
    g->counts[r->state]++;
    t->counts[r->state]++;
    t->results++;
    t->rule_counts[r->rule * MF_RPT__STATES + r->state]++;
    if (r->state == MF_RPT_FAIL) {
        g->fail_sev[rule->severity]++;
        t->fail_sev[rule->severity]++;
        if (r->first_failed > 0 &&
            (t->rule_first_failed[r->rule] == 0 || r->first_failed < t->rule_first_failed[r->rule]))
            t->rule_first_failed[r->rule] = r->first_failed;
        /* Count the host once per rule: was this rule already failing in this host? */
        bool seen = false;
        for (size_t i = 0; i < g->n && !seen; i++)
            seen = g->results[i].rule == r->rule && g->results[i].state == MF_RPT_FAIL;
        if (!seen && g->id)
            t->rule_hosts_failing[r->rule]++;
    }
    if (g->n >= MF_RPT_HOST_RESULTS_MAX) {
        g->dropped++;
        return MF_OK;
    }
    if (g->n == w->capresults) {
        size_t ncap = w->capresults ? w->capresults * 2 : 64;
        mf_rpt_result *nv = realloc(g->results, ncap * sizeof(*nv));
        if (!nv) {
            rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            goto fail;
        }
        g->results = nv;
        w->capresults = ncap;
    }
    mf_rpt_arena *a = &w->arena;
    mf_rpt_result *c = &g->results[g->n];
    *c = *r;
    c->host_id = g->id;
    c->hostname = g->hostname;
    c->entity = mf_rpt_arena_clean(a, blank(r->entity) ? "(unnamed)" : r->entity, MF_RPT_TEXT_MAX);
    c->server = mf_rpt_arena_clean(a, r->server, MF_RPT_TEXT_MAX);
    c->message = mf_rpt_arena_clean(a, r->message, MF_RPT_TEXT_MAX);
    c->waiver_justification = mf_rpt_arena_clean(a, r->waiver_justification, MF_RPT_TEXT_MAX);
    c->waiver_approved_by = mf_rpt_arena_clean(a, r->waiver_approved_by, MF_RPT_TEXT_MAX);
    c->waiver_expires = mf_rpt_arena_clean(a, r->waiver_expires, 32);
    c->expired_waiver_expires = mf_rpt_arena_clean(a, r->expired_waiver_expires, 32);
    if (!c->entity || (r->server && !c->server) || (r->message && !c->message) ||
        (r->waiver_justification && !c->waiver_justification) ||
        (r->waiver_approved_by && !c->waiver_approved_by) ||
        (r->waiver_expires && !c->waiver_expires) ||
        (r->expired_waiver_expires && !c->expired_waiver_expires)) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    g->n++;
    return MF_OK;
fail:
    w->stage = STAGE_FAILED;
    return rc;
}

/* ------------------------------------------------------------------ inventory, history */

mf_code mf_rpt_add_server(mf_rpt_writer *w, const mf_rpt_server *s, mf_error *err)
{
    if (w->stage != STAGE_BEGUN && w->stage != STAGE_OPEN)
        return fail_stage(w, err, "mf_rpt_add_server");
    if (w->fmt != MF_RPT_HTML)
        return MF_OK;
    if (w->nservers >= MF_RPT_SERVERS_MAX) {
        w->servers_dropped++;
        return MF_OK;
    }
    if (mf_grow((void **)&w->servers, &w->capservers, w->nservers + 1, sizeof(*w->servers)) !=
        MF_OK)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    mf_rpt_server_row *row = &w->servers[w->nservers];
    memset(row, 0, sizeof(*row));
    row->s = *s;
    row->s.hostname = mf_xml_clean_dup(s->hostname, MF_RPT_TEXT_MAX);
    row->s.provider = mf_xml_clean_dup(s->provider, MF_RPT_TEXT_MAX);
    row->s.top_failure = mf_xml_clean_dup(s->top_failure, MF_RPT_TEXT_MAX);
    char key[MF_RPT_TEXT_MAX + 64];
    mf_rpt_server_key(&row->s, key, sizeof(key));
    row->key = mf_strdup(key);
    if ((s->hostname && !row->s.hostname) || (s->provider && !row->s.provider) ||
        (s->top_failure && !row->s.top_failure) || !row->key) {
        free((char *)row->s.hostname);
        free((char *)row->s.provider);
        free((char *)row->s.top_failure);
        free(row->key);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    w->nservers++;
    return MF_OK;
}

mf_code mf_rpt_add_day(mf_rpt_writer *w, const mf_rpt_day *d, mf_error *err)
{
    if (w->stage != STAGE_BEGUN && w->stage != STAGE_OPEN)
        return fail_stage(w, err, "mf_rpt_add_day");
    if (w->fmt != MF_RPT_HTML || w->ndays >= MF_RPT_DAYS_MAX)
        return MF_OK;
    if (mf_grow((void **)&w->days, &w->capdays, w->ndays + 1, sizeof(*w->days)) != MF_OK)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    w->days[w->ndays++] = *d;
    return MF_OK;
}

static void waiver_strings_free(mf_rpt_waiver *v)
{
    free((char *)v->rule);
    free((char *)v->host);
    free((char *)v->server);
    free((char *)v->justification);
    free((char *)v->approved_by);
    free((char *)v->expires);
    free((char *)v->status);
}

mf_code mf_rpt_add_waiver(mf_rpt_writer *w, const mf_rpt_waiver *wv, mf_error *err)
{
    if (w->stage != STAGE_BEGUN && w->stage != STAGE_OPEN)
        return fail_stage(w, err, "mf_rpt_add_waiver");
    if (w->fmt != MF_RPT_HTML || w->nwaivers >= MF_RPT_WAIVERS_MAX)
        return MF_OK;
    if (mf_grow((void **)&w->waivers, &w->capwaivers, w->nwaivers + 1, sizeof(*w->waivers)) !=
        MF_OK)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    mf_rpt_waiver c = *wv;
    c.rule = mf_xml_clean_dup(wv->rule, MF_RPT_TEXT_MAX);
    c.host = mf_xml_clean_dup(wv->host, MF_RPT_TEXT_MAX);
    c.server = mf_xml_clean_dup(wv->server, MF_RPT_TEXT_MAX);
    c.justification = mf_xml_clean_dup(wv->justification, MF_RPT_TEXT_MAX);
    c.approved_by = mf_xml_clean_dup(wv->approved_by, MF_RPT_TEXT_MAX);
    c.expires = mf_xml_clean_dup(wv->expires, 32);
    c.status = mf_xml_clean_dup(wv->status, 32);
    if ((wv->rule && !c.rule) || (wv->host && !c.host) || (wv->server && !c.server) ||
        (wv->justification && !c.justification) || (wv->approved_by && !c.approved_by) ||
        (wv->expires && !c.expires) || (wv->status && !c.status)) {
        waiver_strings_free(&c);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    w->waivers[w->nwaivers++] = c;
    return MF_OK;
}

void mf_rpt_set_inputs(mf_rpt_writer *w, size_t ok, size_t skipped, size_t failed)
{
    w->run.inputs_ok = ok;
    w->run.inputs_skipped = skipped;
    w->run.inputs_failed = failed;
}

/* ------------------------------------------------------------------ end / free */

mf_code mf_rpt_end(mf_rpt_writer *w, mf_error *err)
{
    if (w->stage != STAGE_BEGUN)
        return fail_stage(w, err, "mf_rpt_end");
    mf_code rc = close_host(w, err);
    if (rc != MF_OK)
        goto fail;
    for (size_t i = 0; i < w->nrules; i++)
        if (w->totals.rule_counts[i * MF_RPT__STATES + MF_RPT_FAIL])
            w->totals.rules_failing_sev[w->rules[i].severity]++;
    if (w->be->end && (rc = w->be->end(w, err)) != MF_OK)
        goto fail;
    if (fflush(w->f) != 0 || ferror(w->f)) {
        rc = mf_error_set(err, errno == ENOSPC ? MF_ERR_NOSPACE : MF_ERR_IO, "cannot write %s: %s",
                          w->path, strerror(errno));
        goto fail;
    }
    if (w->tmp_path) {
        int frc = fclose(w->f);
        w->f = NULL;
        if (frc != 0) {
            rc = mf_error_set(err, MF_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
            goto fail;
        }
        if (rename(w->tmp_path, w->path) != 0) {
            rc = mf_error_set(err, MF_ERR_IO, "cannot rename %s to %s: %s", w->tmp_path, w->path,
                              strerror(errno));
            goto fail;
        }
        free(w->tmp_path);
        w->tmp_path = NULL;
    }
    w->stage = STAGE_ENDED;
    return MF_OK;
fail:
    mf_error_set_file(err, w->path);
    w->stage = STAGE_FAILED;
    return rc;
}

void mf_rpt_free(mf_rpt_writer *w)
{
    if (!w)
        return;
    if (w->be && w->be->free)
        w->be->free(w->impl);
    if (w->f && w->f != stdout)
        fclose(w->f);
    if (w->tmp_path) {
        unlink(w->tmp_path);
        free(w->tmp_path);
    }
    free(w->path);
    for (int i = 0; i < 6; i++)
        free(w->run_strings[i]);
    for (size_t i = 0; i < w->nrule_strings; i++)
        free(w->rule_strings[i]);
    free(w->rule_strings);
    free(w->rules);
    free(w->totals.rule_counts);
    free(w->totals.rule_first_failed);
    free(w->totals.rule_hosts_failing);
    free(w->cur.results);
    mf_rpt_arena_free(&w->arena);
    mf_rpt_arena_free(&w->pending_arena);
    label_set_free(w->labels);
    for (size_t i = 0; i < w->nservers; i++) {
        free((char *)w->servers[i].s.hostname);
        free((char *)w->servers[i].s.provider);
        free((char *)w->servers[i].s.top_failure);
        free(w->servers[i].key);
    }
    free(w->servers);
    free(w->days);
    for (size_t i = 0; i < w->nwaivers; i++)
        waiver_strings_free(&w->waivers[i]);
    free(w->waivers);
    free(w);
}

const char *mf_rpt_path(const mf_rpt_writer *w)
{
    return w->path;
}
