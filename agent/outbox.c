/* outbox.c: the on-disk queue of reports (see outbox.h for the layout). */
#include "outbox.h"

#include "fileio.h"
#include "log.h"
#include "report_json.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_FILE   "state.json"
#define LOCK_FILE    ".lock"
#define REJECTED_DIR "rejected"
#define STALE_TMP_S  3600

struct mf_outbox {
    char *dir;
    char *rejected;
    int lock_fd;
    long long max_reports;
    long long max_bytes;
};

const char *mf_outbox_dir(const mf_outbox *ob)
{
    return ob->dir;
}

static mf_code errno_code(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return MF_ERR_NOTFOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return MF_ERR_PERM;
    case ENOSPC:
    case EDQUOT:
        return MF_ERR_NOSPACE;
    case ENOMEM:
        return MF_ERR_NOMEM;
    default:
        return MF_ERR_IO;
    }
}

/* mkdir -p: parents 0755, the last component with mode. */
static mf_code make_dirs(const char *path, mode_t mode, mf_error *err)
{
    char *p = mf_strdup(path);
    if (!p)
        return MF_ERR_NOMEM;
    mf_code rc = MF_OK;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        bool last = saved == '\0';
        if (mkdir(p, last ? mode : 0755) != 0 && errno != EEXIST) {
            rc = mf_error_set(err, errno_code(errno), "cannot create the folder %s: %s", p,
                              strerror(errno));
            break;
        }
        *s = saved;
        if (last)
            break;
    }
    free(p);
    if (rc == MF_OK && !mf_path_is_dir(path))
        rc = mf_error_set(err, MF_ERR_IO, "%s exists but is not a folder", path);
    return rc;
}

static bool queued_name(const char *name, char id_out[37])
{
    if (strlen(name) != MF_OUTBOX_NAME_LEN)
        return false;
    for (int i = 0; i < 16; i++)
        if (!isdigit((unsigned char)name[i]))
            return false;
    if (name[16] != '-' || strcmp(name + 16 + 1 + 36, ".json") != 0)
        return false;
    char id[37];
    memcpy(id, name + 17, 36);
    id[36] = '\0';
    if (!mf_uuid_valid(id))
        return false;
    if (id_out)
        memcpy(id_out, id, 37);
    return true;
}

/* Remove temporary files a crashed writer left behind (mf_file_write_atomic names them
 * "<name>.tmp.<pid>"); young ones may belong to a writer that is still running. */
static void clean_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strstr(de->d_name, ".tmp."))
            continue;
        char *p = mf_path_join(dir, de->d_name);
        struct stat st;
        if (p && lstat(p, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime > STALE_TMP_S) {
            mf_log_info("outbox: removing stale temporary file %s", p);
            (void)unlink(p);
        }
        free(p);
    }
    closedir(d);
}

mf_code mf_outbox_open(mf_outbox **out, const char *dir, long long max_reports, long long max_bytes,
                       int lock_wait_s, mf_error *err)
{
    *out = NULL;
    mf_error_set_file(err, dir);
    mf_outbox *ob = calloc(1, sizeof(*ob));
    if (!ob)
        return MF_ERR_NOMEM;
    ob->lock_fd = -1;
    ob->max_reports = max_reports > 0 ? max_reports : 1;
    ob->max_bytes = max_bytes > 0 ? max_bytes : 1;
    mf_code rc = MF_OK;
    char *lockpath = NULL;
    ob->dir = mf_strdup(dir);
    ob->rejected = mf_path_join(dir, REJECTED_DIR);
    lockpath = mf_path_join(dir, LOCK_FILE);
    if (!ob->dir || !ob->rejected || !lockpath) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    if ((rc = make_dirs(dir, 0700, err)) != MF_OK || (rc = make_dirs(ob->rejected, 0700, err)))
        goto out;
    ob->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (ob->lock_fd < 0) {
        rc = mf_error_set(err, errno_code(errno), "cannot open the lock file %s: %s", lockpath,
                          strerror(errno));
        goto out;
    }
    int64_t until = mf_now_ms() + (int64_t)lock_wait_s * 1000;
    bool told = false;
    while (flock(ob->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            rc = mf_error_set(err, MF_ERR_IO, "cannot lock %s: %s", lockpath, strerror(errno));
            goto out;
        }
        if (mf_now_ms() >= until) {
            rc = mf_error_set(err, MF_ERR_TIMEOUT,
                              "another mailfleet-agent is using this outbox (lock %s held for "
                              "%d s); try again later",
                              lockpath, lock_wait_s);
            goto out;
        }
        if (!told) {
            mf_log_info("outbox %s is in use by another agent process; waiting", dir);
            told = true;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    clean_stale_temps(ob->dir);
    clean_stale_temps(ob->rejected);
out:
    free(lockpath);
    if (rc != MF_OK) {
        mf_outbox_close(ob);
        return rc;
    }
    *out = ob;
    return MF_OK;
}

void mf_outbox_close(mf_outbox *ob)
{
    if (!ob)
        return;
    if (ob->lock_fd >= 0)
        close(ob->lock_fd); /* releases the flock */
    free(ob->dir);
    free(ob->rejected);
    free(ob);
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const mf_outbox_entry *)a)->name, ((const mf_outbox_entry *)b)->name);
}

static mf_code list_dir(const char *dir, mf_outbox_entry **out, size_t *n, mf_error *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        mf_error_set_file(err, dir);
        return mf_error_set(err, errno_code(errno), "cannot list the outbox: %s", strerror(errno));
    }
    mf_outbox_entry *v = NULL;
    size_t cap = 0, cnt = 0;
    mf_code rc = MF_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char id[37];
        if (!queued_name(de->d_name, id))
            continue;
        char *p = mf_path_join(dir, de->d_name);
        if (!p) {
            rc = MF_ERR_NOMEM;
            break;
        }
        struct stat st;
        bool ok = lstat(p, &st) == 0 && S_ISREG(st.st_mode);
        free(p);
        if (!ok)
            continue;
        if (mf_grow((void **)&v, &cap, cnt + 1, sizeof(*v)) != MF_OK) {
            rc = MF_ERR_NOMEM;
            break;
        }
        mf_strlcpy(v[cnt].name, de->d_name, sizeof(v[cnt].name));
        memcpy(v[cnt].report_id, id, sizeof(id));
        v[cnt].size = (long long)st.st_size;
        cnt++;
    }
    closedir(d);
    if (rc != MF_OK) {
        free(v);
        return rc;
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof(*v), entry_cmp);
    *out = v;
    *n = cnt;
    return MF_OK;
}

mf_code mf_outbox_list(mf_outbox_entry **out, size_t *n, const mf_outbox *ob, mf_error *err)
{
    return list_dir(ob->dir, out, n, err);
}

static mf_code unlink_in(const char *dir, const char *name, const char *suffix)
{
    char *p = mf_asprintf("%s/%s%s", dir, name, suffix);
    if (!p)
        return MF_ERR_NOMEM;
    mf_code rc = MF_OK;
    if (unlink(p) != 0 && errno != ENOENT)
        rc = errno_code(errno);
    free(p);
    return rc;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Drop the oldest reports until the queue fits its caps; keep is never dropped. */
static mf_code apply_caps(mf_outbox *ob, const char *keep, long long *dropped, mf_error *err)
{
    *dropped = 0;
    mf_outbox_entry *v = NULL;
    size_t n = 0;
    mf_code rc = list_dir(ob->dir, &v, &n, err);
    if (rc != MF_OK)
        return rc;
    long long bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += v[i].size;
    long long count = (long long)n;
    for (size_t i = 0; i < n && (count > ob->max_reports || bytes > ob->max_bytes); i++) {
        if (strcmp(v[i].name, keep) == 0)
            continue;
        if (unlink_in(ob->dir, v[i].name, "") != MF_OK) {
            mf_log_warn("outbox: cannot drop %s/%s: %s", ob->dir, v[i].name, strerror(errno));
            continue;
        }
        mf_log_warn("outbox: full (%lld reports, %lld bytes; caps %lld, %lld): dropped the "
                    "oldest report %s",
                    count, bytes, ob->max_reports, ob->max_bytes, v[i].report_id);
        count--;
        bytes -= v[i].size;
        (*dropped)++;
    }
    if (*dropped)
        sync_dir(ob->dir);
    free(v);
    return MF_OK;
}

mf_code mf_outbox_enqueue(mf_outbox *ob, mf_report *r, long long *dropped_out, mf_error *err)
{
    if (dropped_out)
        *dropped_out = 0;
    mf_outbox_state st;
    mf_code rc = mf_outbox_state_load(&st, ob, err);
    if (rc != MF_OK)
        return rc;
    r->dropped_reports = st.dropped_pending;
    char *text = mf_report_encode(r, 0);
    char *withnl = text ? mf_asprintf("%s\n", text) : NULL;
    free(text);
    if (!withnl)
        return MF_ERR_NOMEM;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (ms < 0)
        ms = 0;
    char name[MF_OUTBOX_NAME_LEN + 1];
    snprintf(name, sizeof(name), "%016lld-%s.json", ms % 10000000000000000LL, r->report_id);
    char *path = mf_path_join(ob->dir, name);
    if (!path) {
        free(withnl);
        return MF_ERR_NOMEM;
    }
    rc = mf_file_write_atomic(path, withnl, strlen(withnl), err);
    free(withnl);
    free(path);
    if (rc != MF_OK)
        return rc; /* the pending count stays for the next report */
    st.dropped_pending = 0;
    long long dropped = 0;
    mf_error cerr;
    mf_error_clear(&cerr);
    if (apply_caps(ob, name, &dropped, &cerr) != MF_OK)
        mf_log_warn("outbox: cannot apply the caps: %s", cerr.text);
    st.dropped_pending += dropped;
    st.dropped_total += dropped;
    if (dropped_out)
        *dropped_out = dropped;
    mf_error serr;
    mf_error_clear(&serr);
    if (mf_outbox_state_save(ob, &st, &serr) != MF_OK) {
        char msg[1024];
        mf_log_warn("outbox: cannot save the retry state: %s",
                    mf_error_format(&serr, msg, sizeof(msg)));
    }
    return MF_OK;
}

mf_code mf_outbox_read(char **out, size_t *len, const mf_outbox *ob, const mf_outbox_entry *e,
                       size_t cap, mf_error *err)
{
    *out = NULL;
    char *p = mf_path_join(ob->dir, e->name);
    if (!p)
        return MF_ERR_NOMEM;
    mf_code rc = mf_file_read(p, cap, out, len, err);
    free(p);
    return rc;
}

mf_code mf_outbox_remove(mf_outbox *ob, const mf_outbox_entry *e, mf_error *err)
{
    mf_code rc = unlink_in(ob->dir, e->name, "");
    if (rc != MF_OK) {
        mf_error_set_file(err, ob->dir);
        return mf_error_set(err, rc, "cannot delete the acknowledged report %s: %s", e->name,
                            strerror(errno));
    }
    sync_dir(ob->dir);
    return MF_OK;
}

static void cap_rejected(mf_outbox *ob)
{
    mf_outbox_entry *v = NULL;
    size_t n = 0;
    mf_error e;
    mf_error_clear(&e);
    if (list_dir(ob->rejected, &v, &n, &e) != MF_OK)
        return;
    for (size_t i = 0; i + (size_t)ob->max_reports < n; i++) {
        (void)unlink_in(ob->rejected, v[i].name, "");
        (void)unlink_in(ob->rejected, v[i].name, ".reason");
    }
    free(v);
}

mf_code mf_outbox_reject(mf_outbox *ob, const mf_outbox_entry *e, const char *reason, mf_error *err)
{
    char *from = mf_path_join(ob->dir, e->name);
    char *to = mf_path_join(ob->rejected, e->name);
    char *why = mf_asprintf("%s/%s.reason", ob->rejected, e->name);
    char *line = mf_asprintf("%s\n", reason ? reason : "refused");
    mf_code rc = MF_OK;
    if (!from || !to || !why || !line) {
        rc = MF_ERR_NOMEM;
        goto out;
    }
    /* The reason first: a crash between the two leaves a stray .reason, never a
     * rejected report without one. */
    if ((rc = mf_file_write_atomic(why, line, strlen(line), err)) != MF_OK)
        goto out;
    if (rename(from, to) != 0) {
        mf_error_set_file(err, from);
        rc = mf_error_set(err, errno_code(errno), "cannot move the refused report to %s: %s",
                          ob->rejected, strerror(errno));
        goto out;
    }
    sync_dir(ob->rejected);
    sync_dir(ob->dir);
    cap_rejected(ob);
out:
    free(from);
    free(to);
    free(why);
    free(line);
    return rc;
}

/* ------------------------------------------------------------------ retry state */

static bool get_ll(json_t *root, const char *key, long long *out)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = json_integer_value(v);
    return true;
}

mf_code mf_outbox_state_load(mf_outbox_state *out, const mf_outbox *ob, mf_error *err)
{
    memset(out, 0, sizeof(*out));
    char *path = mf_path_join(ob->dir, STATE_FILE);
    if (!path)
        return MF_ERR_NOMEM;
    char *data = NULL;
    size_t len = 0;
    mf_error ferr;
    mf_error_clear(&ferr);
    mf_code rc = mf_file_read(path, MF_OUTBOX_STATE_MAX, &data, &len, &ferr);
    if (rc == MF_ERR_NOMEM) {
        free(path);
        return mf_error_set(err, rc, "out of memory");
    }
    if (rc == MF_ERR_NOTFOUND) {
        free(path);
        return MF_OK;
    }
    const char *problem = rc != MF_OK ? ferr.text : NULL;
    json_t *root = NULL;
    if (!problem) {
        json_error_t jerr;
        root = json_loadb(data, len, 0, &jerr);
        long long a = 0, na = 0, la = 0, ls = 0, dp = 0, dt = 0;
        if (!root || !json_is_object(root))
            problem = "not a JSON object";
        else if (!get_ll(root, "attempts", &a) || !get_ll(root, "next_attempt", &na) ||
                 !get_ll(root, "last_attempt", &la) || !get_ll(root, "last_success", &ls) ||
                 !get_ll(root, "dropped_pending", &dp) || !get_ll(root, "dropped_total", &dt))
            problem = "a member has the wrong type";
        else {
            out->attempts = a;
            out->next_attempt = na;
            out->last_attempt = la;
            out->last_success = ls;
            out->dropped_pending = dp;
            out->dropped_total = dt;
            json_t *le = json_object_get(root, "last_error");
            if (json_is_string(le))
                mf_strlcpy(out->last_error, json_string_value(le), sizeof(out->last_error));
        }
    }
    if (problem) {
        mf_log_warn("outbox: ignoring the unreadable retry state %s (%s)", path, problem);
        memset(out, 0, sizeof(*out));
    }
    json_decref(root);
    free(data);
    free(path);
    return MF_OK;
}

mf_code mf_outbox_state_save(const mf_outbox *ob, const mf_outbox_state *st, mf_error *err)
{
    char next[32] = "";
    if (st->next_attempt > 0)
        mf_time_format_rfc3339(st->next_attempt, next, sizeof(next));
    json_t *root = json_pack(
        "{s:i, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:s}", "version", 1, "attempts",
        (json_int_t)st->attempts, "next_attempt", (json_int_t)st->next_attempt, "next_attempt_utc",
        next, "last_attempt", (json_int_t)st->last_attempt, "last_success",
        (json_int_t)st->last_success, "dropped_pending", (json_int_t)st->dropped_pending,
        "dropped_total", (json_int_t)st->dropped_total, "last_error", st->last_error);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    char *path = mf_path_join(ob->dir, STATE_FILE);
    mf_code rc = MF_ERR_NOMEM;
    if (text && path) {
        char *withnl = mf_asprintf("%s\n", text);
        if (withnl)
            rc = mf_file_write_atomic(path, withnl, strlen(withnl), err);
        free(withnl);
    }
    free(text);
    free(path);
    return rc;
}

int64_t mf_outbox_backoff(long long attempts, int min_s, int max_s, uint32_t rnd)
{
    if (attempts <= 0)
        return 0;
    if (min_s < 1)
        min_s = 1;
    if (max_s < min_s)
        max_s = min_s;
    int64_t d = min_s;
    for (long long i = 1; i < attempts && d < max_s; i++)
        d *= 2;
    if (d > max_s)
        d = max_s;
    int64_t half = d / 2;
    return half + (int64_t)(rnd % (uint32_t)(d - half + 1));
}

void mf_outbox_note_failure(mf_outbox_state *st, int64_t now, bool progress, const char *error,
                            int min_s, int max_s, uint32_t rnd)
{
    st->attempts = progress ? 1 : st->attempts + 1;
    st->last_attempt = now;
    st->next_attempt = now + mf_outbox_backoff(st->attempts, min_s, max_s, rnd);
    mf_strlcpy(st->last_error, error ? error : "", sizeof(st->last_error));
}

void mf_outbox_note_success(mf_outbox_state *st, int64_t now)
{
    st->attempts = 0;
    st->next_attempt = 0;
    st->last_attempt = now;
    st->last_success = now;
    st->last_error[0] = '\0';
}
