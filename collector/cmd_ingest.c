/* cmd_ingest.c: `mailfleet-collector ingest --db FILE (--spool DIR | REPORT.json...)`.
 *
 * Reports go into the store in batches, one transaction each. A spool entry leaves the
 * spool (to done/, or removed) only after the commit that stored it returned, so a
 * crash at any point leaves every report either still in the spool or in the store,
 * and often both: the next run then finds its report_id already stored and just
 * finishes the move. That is what makes `kill -9` harmless. An entry that cannot be
 * stored (unreadable, not strictly valid, misnamed) goes to quarantine/ with a .reason
 * file, and the ingest carries on. */
#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "progress.h"
#include "report_json.h"
#include "spool.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_BATCH 1000
/* Leftovers in tmp/ older than this are from receivers that died mid-write. */
#define TMP_MAX_AGE_S (24 * 3600)

typedef struct ingest {
    mf_store *store;
    mf_spool *spool;
    bool remove; /* --remove-ingested */
    size_t batch_max;
    mf_strv pending; /* spool entries stored (or found stored) in the open batch */
    size_t in_batch;    /* reports added in the open batch */
    size_t batch_items; /* reports added or found stored in the open batch */
    bool batch_open;
    /* read buffer reused from report to report (a fresh 4 KiB malloc after freeing a
     * report's small blocks made malloc consolidate its free lists every time) */
    char *rbuf;
    size_t rcap;
    /* counters */
    size_t seen, added, duplicates, quarantined, failed;
    size_t moved; /* spool entries finished (moved to done/ or removed) */
    mf_progress progress; /* the line on a terminal */
    int64_t start_ms;
} ingest;

/* ------------------------------------------------------------- decode arena
 *
 * Parsing a report with Jansson makes a few thousand small allocations that all die
 * together when the document is freed, and malloc/free were a sixth of the ingest's
 * instructions. While ingest_one decodes a report, Jansson allocates from this bump
 * arena instead (json_set_alloc_funcs, which is process-wide: ingest is
 * single-threaded, and no Jansson value lives across the switch, because
 * mf_report_decode frees its document before returning). Blocks over ARENA_BIG go to
 * malloc and are freed at once, so growing buffers leave no large garbage behind; the
 * small garbage (at most a few times the document's size) is dropped in one go by
 * arena_reset after each report, which keeps the first chunk for the next one. */
#define ARENA_CHUNK ((size_t)256 * 1024)
#define ARENA_BIG ((size_t)4096)

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
} arena_chunk;

/* Every block starts with this header, so arena_free knows where a block came from. */
typedef union arena_hdr {
    size_t from_malloc; /* 1: malloc'd block, 0: arena block */
    max_align_t align_;
} arena_hdr;

static arena_chunk *arena_head;

static void *arena_malloc(size_t size)
{
    if (size > SIZE_MAX - sizeof(arena_hdr) - ARENA_CHUNK)
        return NULL;
    size_t need = sizeof(arena_hdr) + ((size + alignof(max_align_t) - 1) &
                                       ~(alignof(max_align_t) - 1));
    arena_hdr *h;
    if (size > ARENA_BIG) {
        h = malloc(need);
        if (!h)
            return NULL;
        h->from_malloc = 1;
        return h + 1;
    }
    if (!arena_head || arena_head->size - arena_head->used < need) {
        arena_chunk *c = malloc(sizeof(*c) + ARENA_CHUNK);
        if (!c)
            return NULL;
        c->size = ARENA_CHUNK;
        c->used = 0;
        c->next = arena_head;
        arena_head = c;
    }
    h = (arena_hdr *)(arena_head->data + arena_head->used);
    arena_head->used += need;
    h->from_malloc = 0;
    return h + 1;
}

static void arena_free(void *p)
{
    if (!p)
        return;
    arena_hdr *h = (arena_hdr *)p - 1;
    if (h->from_malloc)
        free(h);
    /* arena blocks go when the arena is reset */
}

/* Drop every arena block; keep one chunk for the next report unless all is true. */
static void arena_reset(bool all)
{
    while (arena_head && (all || arena_head->next)) {
        arena_chunk *next = arena_head->next;
        free(arena_head);
        arena_head = next;
    }
    if (arena_head)
        arena_head->used = 0;
}

/* mf_report_decode with Jansson allocating from the arena; the arena is empty again on
 * return. Same contract as mf_report_decode. */
static mf_code decode_in_arena(mf_report **out, const char *data, size_t len, mf_error *err)
{
    json_malloc_t old_malloc = NULL;
    json_free_t old_free = NULL;
    json_get_alloc_funcs(&old_malloc, &old_free);
    json_set_alloc_funcs(arena_malloc, arena_free);
    mf_code rc = mf_report_decode(out, data, len, err);
    json_set_alloc_funcs(old_malloc, old_free);
    arena_reset(false);
    return rc;
}

static void help(FILE *f)
{
    fprintf(f,
            "usage: mailfleet-collector ingest --db FILE (--spool DIR | REPORT.json...)\n"
            "                                  [--batch N] [--remove-ingested] [--keep-days N]\n"
            "\n"
            "Stores reports in the SQLite database FILE (created if missing), once each by\n"
            "report_id. With --spool, every DIR/<report_id>.json is ingested and then moved to\n"
            "DIR/done/ (or removed with --remove-ingested) after its batch is committed; a\n"
            "file that cannot be ingested moves to DIR/quarantine/ with a .reason file. Safe\n"
            "to interrupt at any point and to run again.\n"
            "\n"
            "  --db FILE           the store\n"
            "  --spool DIR         the spool folder `receive` writes\n"
            "  --batch N           reports per transaction (default %d)\n"
            "  --remove-ingested   delete spool files once stored instead of keeping them\n"
            "                      in done/\n"
            "  --keep-days N       afterwards, delete reports collected more than N days\n"
            "                      ago (and every row from them)\n"
            "  --no-progress       no progress line, even on a terminal\n"
            "  -v, -q              more / less logging on stderr\n"
            "  -h, --help          this help\n"
            "\n"
            "Prints one summary line: ingested, duplicates, quarantined. Exit status 0 when\n"
            "every report was stored or was already there, 1 when some were quarantined or\n"
            "could not be read, or on a runtime error, 2 on a usage error.\n",
            DEFAULT_BATCH);
}


/* Commit the open batch, then finish its spool entries. */
static mf_code flush_batch(ingest *in, mf_error *err)
{
    if (!in->batch_open)
        return MF_OK;
    in->batch_open = false;
    in->batch_items = 0;
    mf_code rc = mf_store_commit(in->store, err);
    if (rc != MF_OK) {
        /* Nothing of this batch is stored: its files stay in the spool for next time. */
        in->added -= in->in_batch;
        mf_strv_free(&in->pending);
        in->in_batch = 0;
        return rc;
    }
    in->in_batch = 0;
    for (size_t i = 0; in->spool && i < in->pending.n; i++) {
        mf_error ferr;
        mf_error_clear(&ferr);
        if (mf_spool_finish(in->spool, in->pending.v[i], in->remove, &ferr) != MF_OK)
            mf_log_warn("%s (it is stored; the next ingest moves it)", ferr.text);
    }
    /* The moves are not fsynced here: a move lost in a power cut only brings a stored
     * report back into the spool, where the next run finds it stored and moves it
     * again. One sync at the end of the run keeps the folders tidy. */
    in->moved += in->pending.n;
    mf_strv_free(&in->pending);
    return MF_OK;
}

static mf_code ensure_batch(ingest *in, mf_error *err)
{
    if (in->batch_open)
        return MF_OK;
    mf_code rc = mf_store_begin(in->store, err);
    in->batch_open = rc == MF_OK;
    return rc;
}

/* A report that cannot be stored: quarantined in spool mode, reported otherwise. */
static void refuse(ingest *in, const char *name, const char *path, const char *reason)
{
    if (in->spool) {
        mf_error qerr;
        mf_error_clear(&qerr);
        if (mf_spool_quarantine(in->spool, name, reason, &qerr) != MF_OK) {
            mf_log_error("%s: cannot quarantine: %s", path, qerr.text);
            in->failed++;
            return;
        }
        mf_log_warn("%s: quarantined: %s", path, reason);
        in->quarantined++;
    } else {
        mf_log_error("%s: %s", path, reason);
        in->failed++;
    }
}

/* Read the regular file open on fd, of size bytes by fstat, into in's read buffer
 * (*out, NUL-terminated, valid until the next call). One read() normally: a short read
 * of a regular file is its end, and spool entries are complete before `receive`
 * renames them into place. false when it does not go exactly so; the caller then reads
 * the file the general way. */
static bool read_whole(ingest *in, int fd, size_t size, char **out, size_t *len)
{
    if (in->rcap < size + 2) {
        size_t cap = size + 2 > 64 * (size_t)1024 ? size + 2 : 64 * (size_t)1024;
        char *p = malloc(cap);
        if (!p)
            return false;
        free(in->rbuf);
        in->rbuf = p;
        in->rcap = cap;
    }
    char *data = in->rbuf;
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fd, data + n, size + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return false;
        n += (size_t)got;
        if (got == 0 || n == size) {
            if (n != size) /* the file shrank meanwhile */
                return false;
            data[n] = '\0';
            *out = data;
            *len = n;
            return true;
        }
        if (n > size) /* it grew */
            return false;
    }
}

/* Ingest one file. Returns MF_OK unless the store itself failed (then the ingest must
 * stop); problems with the file are handled here. */
static mf_code ingest_one(ingest *in, const char *name, const char *path, mf_error *err)
{
    char want_id[37] = "";
    char *data = NULL;
    size_t len = 0;
    mf_report *r = NULL;
    mf_code rc = MF_OK;
    char reason[MF_ERROR_TEXT_MAX + MF_ERROR_FIELD_MAX + 128];
    int fd = -1;
    struct stat fst;
    bool borrowed = false; /* data is in->rbuf */
    in->seen++;
    if (in->spool) {
        if (!mf_spool_name_is_report(name, want_id)) {
            refuse(in, name, path, "the file name is not <report_id>.json (lower-case UUID)");
            goto out;
        }
        /* One open and one fstat, then (below) one read: the usual spool entry is a
         * regular file of a few kilobytes. Anything unusual (a symlink, a folder, an
         * error) takes the general path, which words the reason. */
        fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && mf_fd_check_regular(fd, MF_REPORT_MAX_BYTES, &fst, NULL) != MF_OK) {
            close(fd);
            fd = -1;
        }
        struct stat st;
        if (fd >= 0) {
            /* a regular file */
        } else if (lstat(path, &st) != 0) {
            if (errno == ENOENT) { /* moved by someone else meanwhile */
                in->seen--;
                goto out;
            }
        } else if (!S_ISREG(st.st_mode)) {
            refuse(in, name, path, "not a regular file");
            goto out;
        }
        /* Already stored (a crash between a commit and the moves, or a report sent
         * twice): nothing to parse, just finish the move after this batch. Looked up
         * inside the batch's transaction, so that mf_store_add need not look again. */
        bool have = false;
        if ((rc = ensure_batch(in, err)) != MF_OK ||
            (rc = mf_store_has(&have, in->store, want_id, err)) != MF_OK)
            goto out;
        if (have) {
            in->duplicates++;
            in->batch_items++;
            if (mf_strv_push(&in->pending, name) != MF_OK)
                rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if (fd >= 0 && read_whole(in, fd, (size_t)fst.st_size, &data, &len)) {
        borrowed = true;
    } else {
        mf_error ferr;
        mf_error_clear(&ferr);
        mf_code frc = mf_file_read(path, MF_REPORT_MAX_BYTES, &data, &len, &ferr);
        if (frc == MF_ERR_NOTFOUND && in->spool) {
            in->seen--;
            goto out;
        }
        if (frc != MF_OK) {
            snprintf(reason, sizeof(reason), "cannot read: %s", ferr.text);
            refuse(in, name, path, reason);
            goto out;
        }
    }
    mf_error derr;
    mf_error_clear(&derr);
    if (decode_in_arena(&r, data, len, &derr) != MF_OK) {
        char msg[sizeof(reason)];
        snprintf(reason, sizeof(reason), "invalid report: %s",
                 mf_error_format(&derr, msg, sizeof(msg)));
        refuse(in, name, path, reason);
        goto out;
    }
    char got_id[37];
    mf_spool_id_normalise(got_id, r->report_id);
    if (in->spool && strcmp(got_id, want_id) != 0) {
        snprintf(reason, sizeof(reason), "report_id %s does not match the file name", got_id);
        refuse(in, name, path, reason);
        goto out;
    }
    if ((rc = ensure_batch(in, err)) != MF_OK)
        goto out;
    mf_store_added added;
    mf_error serr;
    mf_error_clear(&serr);
    /* The report passed strict validation, so a failure here is the store's (disk
     * full, database locked or damaged): stop, and leave this batch's files in the
     * spool for the next run, rather than quarantine good reports. */
    rc = mf_store_add(&added, in->store, r, data, len, &serr);
    if (rc != MF_OK) {
        if (err)
            *err = serr;
        goto out;
    }
    in->batch_items++;
    if (added == MF_STORE_ADDED) {
        in->added++;
        in->in_batch++;
    } else {
        in->duplicates++;
    }
    if (in->spool && mf_strv_push(&in->pending, name) != MF_OK)
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
out:
    if (fd >= 0)
        close(fd);
    mf_report_free(r);
    if (!borrowed)
        free(data);
    if (rc == MF_OK && in->batch_open && in->batch_items >= in->batch_max)
        rc = flush_batch(in, err);
    mf_progress_update(&in->progress, in->seen);
    return rc;
}

static mf_code ingest_spool(ingest *in, mf_error *err)
{
    mf_code rc = mf_spool_lock(in->spool, err);
    if (rc != MF_OK)
        return rc;
    size_t cleaned = 0;
    mf_error terr;
    mf_error_clear(&terr);
    if (mf_spool_clean_tmp(&cleaned, in->spool, (int64_t)time(NULL) - TMP_MAX_AGE_S, &terr) !=
        MF_OK)
        mf_log_warn("%s", terr.text);
    else if (cleaned)
        mf_log_info("removed %zu stale files from %s/tmp", cleaned, mf_spool_dir(in->spool));
    if (in->progress.on)
        in->progress.total = mf_spool_count(in->spool);
    mf_spool_scan *sc = NULL;
    if ((rc = mf_spool_scan_begin(&sc, in->spool, err)) != MF_OK)
        return rc;
    const char *name;
    while (rc == MF_OK && (name = mf_spool_scan_next(sc))) {
        char *path = mf_spool_entry_path(in->spool, name);
        if (!path) {
            rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
            break;
        }
        rc = ingest_one(in, name, path, err);
        free(path);
    }
    mf_spool_scan_end(sc);
    return rc;
}

int mf_cmd_ingest(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"spool", required_argument, NULL, 's'},
        {"batch", required_argument, NULL, 'b'},
        {"remove-ingested", no_argument, NULL, 'r'},
        {"keep-days", required_argument, NULL, 'k'},
        {"no-progress", no_argument, NULL, 'P'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *spool_dir = NULL;
    long long batch = DEFAULT_BATCH, keep_days = -1;
    bool remove = false, no_progress = false;
    int verbosity = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:s:b:k:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 's':
            spool_dir = optarg;
            break;
        case 'b':
            if (!mf_cli_number("ingest", "--batch", optarg, 1, 100000, &batch))
                return MF_COLLECTOR_EXIT_USAGE;
            break;
        case 'r':
            remove = true;
            break;
        case 'k':
            if (!mf_cli_number("ingest", "--keep-days", optarg, 1, 100000, &keep_days))
                return MF_COLLECTOR_EXIT_USAGE;
            break;
        case 'P':
            no_progress = true;
            break;
        case 'v':
            verbosity = verbosity < 0 ? 1 : verbosity + 1;
            break;
        case 'q':
            verbosity = -1;
            break;
        case 'h':
            help(stdout);
            return MF_COLLECTOR_EXIT_OK;
        default:
            help(stderr);
            return MF_COLLECTOR_EXIT_USAGE;
        }
    }
    if (!db) {
        fprintf(stderr, "mailfleet-collector ingest: --db FILE is required\n");
        return MF_COLLECTOR_EXIT_USAGE;
    }
    if (spool_dir && optind < argc) {
        fprintf(stderr, "mailfleet-collector ingest: give --spool DIR or report files, not "
                        "both\n");
        return MF_COLLECTOR_EXIT_USAGE;
    }
    if (!spool_dir && optind >= argc && keep_days < 0) {
        fprintf(stderr, "mailfleet-collector ingest: nothing to do: give --spool DIR or report "
                        "files\n");
        return MF_COLLECTOR_EXIT_USAGE;
    }
    if (remove && !spool_dir) {
        fprintf(stderr, "mailfleet-collector ingest: --remove-ingested needs --spool\n");
        return MF_COLLECTOR_EXIT_USAGE;
    }
    mf_cli_set_verbosity(verbosity);
    umask(027);

    int status = MF_COLLECTOR_EXIT_OK;
    mf_error err;
    mf_error_clear(&err);
    char msg[1024];
    ingest in = {.remove = remove, .batch_max = (size_t)batch};
    mf_progress_start(&in.progress, mf_progress_wanted(no_progress, verbosity), "ingest",
                      "reports", 0);
    in.start_ms = mf_now_ms();
    mf_code rc = mf_store_open(&in.store, "sqlite", db, &err);
    if (rc == MF_OK && spool_dir)
        rc = mf_spool_open(&in.spool, spool_dir, false, &err);
    if (rc != MF_OK) {
        mf_log_error("%s", mf_error_format(&err, msg, sizeof(msg)));
        status = MF_COLLECTOR_EXIT_FAILURE;
        goto out;
    }
    if (spool_dir) {
        rc = ingest_spool(&in, &err);
    } else {
        in.progress.total = (size_t)(argc - optind);
        for (int i = optind; rc == MF_OK && i < argc; i++)
            rc = ingest_one(&in, argv[i], argv[i], &err);
    }
    if (rc == MF_OK)
        rc = flush_batch(&in, &err);
    else
        mf_store_rollback(in.store);
    if (in.spool && (in.moved || in.quarantined)) {
        mf_error serr;
        mf_error_clear(&serr);
        if (mf_spool_sync(in.spool, &serr) != MF_OK)
            mf_log_warn("%s", serr.text);
    }
    bool touched = spool_dir || optind < argc;
    if (touched)
        mf_progress_end(&in.progress, in.seen);
    if (rc != MF_OK) {
        mf_log_error("ingest stopped: %s", mf_error_format(&err, msg, sizeof(msg)));
        status = MF_COLLECTOR_EXIT_FAILURE;
    }
    if (rc == MF_OK && keep_days > 0) {
        long long pruned = 0;
        int64_t before = (int64_t)time(NULL) - (int64_t)keep_days * 86400;
        mf_error_clear(&err);
        if (mf_store_prune(&pruned, in.store, before, &err) != MF_OK) {
            mf_log_error("retention: %s", mf_error_format(&err, msg, sizeof(msg)));
            status = MF_COLLECTOR_EXIT_FAILURE;
        } else if (verbosity >= 0) {
            printf("retention: removed %lld reports collected more than %lld days ago\n", pruned,
                   keep_days);
        }
    }
    if (touched && verbosity >= 0) {
        double secs = (double)(mf_now_ms() - in.start_ms) / 1000.0;
        printf("ingest: %zu ingested, %zu duplicates, %zu quarantined", in.added,
               in.duplicates, in.quarantined);
        if (in.failed)
            printf(", %zu failed", in.failed);
        printf(" (%zu reports in %.1f s, %.0f reports/s)\n", in.seen, secs,
               secs > 0 ? (double)in.seen / secs : 0.0);
    }
    if (in.quarantined || in.failed)
        status = MF_COLLECTOR_EXIT_FAILURE;
out:
    mf_strv_free(&in.pending);
    free(in.rbuf);
    mf_spool_close(in.spool);
    mf_store_close(in.store);
    arena_reset(true);
    return status;
}
