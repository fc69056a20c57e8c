/* list: a table of every SMTP server found, like Mail's "Edit SMTP Server List" with its
 * "In Use By Account" column, plus the findings. */
#include "commands.h"
#include "buf.h"
#include "log.h"
#include "report_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_MAX 40

enum { C_USER, C_CLIENT, C_DESC, C_SERVER, C_PORT, C_SEC, C_AUTH, C_USERNAME, C_INUSE, C_FIND, NCOL };
static const char *const headers[NCOL] = {
    "USER", "CLIENT", "DESCRIPTION", "SERVER", "PORT", "SECURITY", "AUTH", "USER NAME",
    "IN USE BY ACCOUNT", "FINDINGS",
};

/* Display width of a UTF-8 string, counting code points (good enough for a table). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Copy s into out for a cell: control characters become '?', and text longer than max
 * code points is cut with "...". */
static void cell(char *out, size_t outsz, const char *s, size_t max)
{
    size_t o = 0, w = 0;
    bool cut = width(s) > max;
    size_t keep = cut ? max - 3 : max;
    for (; *s && o + 5 < outsz; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c & 0xC0) != 0x80) {
            if (w == keep)
                break;
            w++;
        }
        out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (cut && o + 4 < outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static void print_padded(const char *s, size_t w, bool last)
{
    fputs(s, stdout);
    if (!last)
        for (size_t i = width(s); i < w + 2; i++)
            fputc(' ', stdout);
}

static char *server_name(const mf_server *s)
{
    if (s->hostname)
        return mf_strdup(s->hostname);
    if (s->provider)
        return mf_asprintf("(%s, chosen by macOS)", s->provider);
    return mf_strdup("(none stored)");
}

static char *in_use_by(const mf_report *r, const mf_server *s)
{
    mf_buf b;
    mf_buf_init(&b, 4096);
    for (size_t i = 0; i < s->used_by.n; i++) {
        const mf_account *a = NULL;
        for (size_t j = 0; j < r->naccounts; j++)
            if (strcmp(r->accounts[j].id, s->used_by.v[i]) == 0)
                a = &r->accounts[j];
        const char *name = a ? (a->description ? a->description
                                : a->emails.n   ? a->emails.v[0]
                                                : a->id)
                             : s->used_by.v[i];
        if (mf_buf_appendf(&b, "%s%s", i ? ", " : "", name) != MF_OK)
            break;
    }
    return mf_buf_detach(&b, NULL);
}

static char *findings(unsigned flags)
{
    mf_buf b;
    mf_buf_init(&b, 1024);
    for (unsigned bit = 1; bit && bit <= MF_FLAG__LAST; bit <<= 1) {
        /* hostname-case alone is cosmetic and provider-managed is shown in SERVER. */
        if (!(flags & bit) || bit == MF_FLAG_HOSTNAME_CASE || bit == MF_FLAG_PROVIDER_MANAGED ||
            bit == MF_FLAG_DEFAULT_PORT)
            continue;
        if (mf_buf_appendf(&b, "%s%s", b.len ? "," : "", mf_flag_name(bit)) != MF_OK)
            break;
    }
    return mf_buf_detach(&b, NULL);
}

static int list_json(const mf_report *r)
{
    json_t *root = mf_report_to_json(r);
    if (!root)
        return MF_EXIT_FAILURE;
    json_t *out = json_pack("{s:O, s:O, s:O}", "servers", json_object_get(root, "servers"),
                            "accounts", json_object_get(root, "accounts"), "sources",
                            json_object_get(root, "sources"));
    json_decref(root);
    if (!out)
        return MF_EXIT_FAILURE;
    int rc = json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(out);
    fputc('\n', stdout);
    return rc == 0 ? MF_EXIT_OK : MF_EXIT_FAILURE;
}

int mf_cmd_list(mf_agent_opts *o)
{
    mf_report *r = NULL;
    mf_code rc = mf_agent_build_report(&r, o, false);
    if (rc != MF_OK) {
        mf_log_error("list failed: %s", mf_strerror(rc));
        return MF_EXIT_FAILURE;
    }
    int status = MF_EXIT_OK;
    if (o->json) {
        status = list_json(r);
        goto done;
    }
    size_t nrows = r->nservers;
    char(*cells)[NCOL][COL_MAX * 4 + 8] = calloc(nrows ? nrows : 1, sizeof(*cells));
    if (!cells) {
        mf_report_free(r);
        return MF_EXIT_FAILURE;
    }
    size_t w[NCOL];
    for (int c = 0; c < NCOL; c++)
        w[c] = width(headers[c]);
    for (size_t i = 0; i < nrows; i++) {
        const mf_server *s = &r->servers[i];
        char port[16];
        snprintf(port, sizeof(port), s->port > 0 ? "%d" : "-", s->port);
        char *name = server_name(s), *inuse = in_use_by(r, s), *find = findings(s->flags);
        const char *vals[NCOL] = {
            s->user ? s->user : "",
            s->client ? s->client : "",
            s->description ? s->description : "",
            name ? name : "",
            port,
            mf_security_name(s->security),
            mf_auth_name(s->auth),
            s->username ? s->username : "",
            inuse && *inuse ? inuse : "(none)",
            find && *find ? find : "-",
        };
        for (int c = 0; c < NCOL; c++) {
            cell(cells[i][c], sizeof(cells[i][c]), vals[c], c == C_INUSE ? COL_MAX : 32);
            if (width(cells[i][c]) > w[c])
                w[c] = width(cells[i][c]);
        }
        free(name);
        free(inuse);
        free(find);
    }
    for (int c = 0; c < NCOL; c++)
        print_padded(headers[c], w[c], c == NCOL - 1);
    fputc('\n', stdout);
    for (size_t i = 0; i < nrows; i++) {
        for (int c = 0; c < NCOL; c++)
            print_padded(cells[i][c], w[c], c == NCOL - 1);
        fputc('\n', stdout);
    }
    free(cells);

    size_t unused = 0, flagged = 0, dangling = 0;
    for (size_t i = 0; i < r->nservers; i++) {
        unused += (r->servers[i].flags & MF_FLAG_UNUSED) != 0;
        flagged += (r->servers[i].flags & ~(unsigned)(MF_FLAG_HOSTNAME_CASE |
                                                       MF_FLAG_PROVIDER_MANAGED |
                                                       MF_FLAG_DEFAULT_PORT)) != 0;
    }
    for (size_t i = 0; i < r->naccounts; i++)
        if (r->accounts[i].flags & MF_FLAG_DANGLING) {
            const mf_account *a = &r->accounts[i];
            if (!dangling)
                printf("\nAccounts whose outgoing server does not exist:\n");
            dangling++;
            printf("  %s (%s, %s): names \"%s\"\n",
                   a->description ? a->description : (a->emails.n ? a->emails.v[0] : a->id),
                   a->user ? a->user : "", a->client ? a->client : "",
                   a->smtp_ref ? a->smtp_ref : "?");
        }
    printf("\n%zu server(s), %zu account(s); %zu unused, %zu with findings, %zu dangling "
           "account(s).\n",
           r->nservers, r->naccounts, unused, flagged, dangling);
    size_t failed = 0;
    for (size_t i = 0; i < r->nsources; i++) {
        const mf_source *s = &r->sources[i];
        if (s->status == MF_SRC_OK)
            continue;
        if (!failed)
            printf("\nSources that could not be read:\n");
        failed++;
        printf("  %s: %s (%s)\n", s->path, mf_source_status_name(s->status),
               s->error ? s->error : "");
    }
done:
    if (status == MF_EXIT_OK && mf_report_failed_sources(r) > 0)
        status = MF_EXIT_FAILURE;
    mf_report_free(r);
    return status;
}
