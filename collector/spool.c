/* spool.c: the spool folder (layout and guarantees in spool.h).
 *
 * All file operations go through descriptors of the spool's folders (openat, linkat,
 * renameat) so that a name is always resolved inside the folder it belongs to. */
#include "spool.h"
#include "fileio.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_NAME "ingest.lock"

struct mf_spool {
    char *dir;
    int dirfd;   /* DIR */
    int tmpfd;   /* DIR/tmp */
    int donefd;  /* DIR/done */
    int quarfd;  /* DIR/quarantine */
    int lockfd;  /* DIR/ingest.lock while locked, else -1 */
    unsigned long seq; /* makes temporary names unique within the process */
};

struct mf_spool_scan {
    DIR *d;
};

static mf_code errno_code(int e)
{
    switch (e) {
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return MF_ERR_NOSPACE;
    case ENOENT:
    case ENOTDIR:
        return MF_ERR_NOTFOUND;
    case EACCES:
    case EPERM:
        return MF_ERR_PERM;
    case ENOMEM:
        return MF_ERR_NOMEM;
    default:
        return MF_ERR_IO;
    }
}

bool mf_spool_id_normalise(char out[37], const char *id)
{
    out[0] = '\0';
    if (!mf_uuid_valid(id))
        return false;
    for (int i = 0; i < 36; i++)
        out[i] = (char)tolower((unsigned char)id[i]);
    out[36] = '\0';
    return true;
}

bool mf_spool_name_is_report(const char *name, char *id_out)
{
    char id[37];
    if (id_out)
        id_out[0] = '\0';
    if (!name || strlen(name) != 41 || strcmp(name + 36, ".json") != 0)
        return false;
    memcpy(id, name, 36);
    id[36] = '\0';
    if (!mf_uuid_valid(id))
        return false;
    for (int i = 0; i < 36; i++)
        if (isupper((unsigned char)id[i]))
            return false;
    if (id_out)
        memcpy(id_out, id, 37);
    return true;
}

/* Open (and with create, make) the folder name inside parent fd. */
static int open_subdir(int parent, const char *name, mf_error *err, const char *dir)
{
    if (mkdirat(parent, name, 0750) != 0 && errno != EEXIST) {
        mf_error_set(err, errno_code(errno), "cannot create %s/%s: %s", dir, name,
                     strerror(errno));
        return -1;
    }
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        mf_error_set(err, errno_code(errno), "cannot open %s/%s: %s", dir, name,
                     strerror(errno));
    return fd;
}

mf_code mf_spool_open(mf_spool **out, const char *dir, bool create, mf_error *err)
{
    *out = NULL;
    mf_code rc = MF_OK;
    mf_error_set_file(err, dir);
    mf_spool *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    sp->dirfd = sp->tmpfd = sp->donefd = sp->quarfd = sp->lockfd = -1;
    sp->dir = mf_strdup(dir);
    if (!sp->dir) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (create && mkdir(dir, 0750) != 0 && errno != EEXIST) {
        rc = mf_error_set(err, errno_code(errno), "cannot create spool folder: %s",
                          strerror(errno));
        goto out;
    }
    sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->dirfd < 0) {
        rc = mf_error_set(err, errno_code(errno), "cannot open spool folder: %s",
                          strerror(errno));
        goto out;
    }
    if ((sp->tmpfd = open_subdir(sp->dirfd, "tmp", err, dir)) < 0 ||
        (sp->donefd = open_subdir(sp->dirfd, "done", err, dir)) < 0 ||
        (sp->quarfd = open_subdir(sp->dirfd, "quarantine", err, dir)) < 0) {
        rc = err ? err->code : MF_ERR_IO;
        if (rc == MF_OK)
            rc = MF_ERR_IO;
        goto out;
    }
out:
    if (rc != MF_OK) {
        mf_spool_close(sp);
        return rc;
    }
    *out = sp;
    return MF_OK;
}

void mf_spool_close(mf_spool *sp)
{
    if (!sp)
        return;
    int fds[] = {sp->dirfd, sp->tmpfd, sp->donefd, sp->quarfd, sp->lockfd};
    for (size_t i = 0; i < MF_ARRAY_LEN(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(sp->dir);
    free(sp);
}

const char *mf_spool_dir(const mf_spool *sp)
{
    return sp->dir;
}

static bool exists_at(int fd, const char *name)
{
    struct stat st;
    return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool mf_spool_has(const mf_spool *sp, const char *id)
{
    char lid[37], name[MF_SPOOL_NAME_MAX];
    if (!mf_spool_id_normalise(lid, id))
        return false;
    snprintf(name, sizeof(name), "%s.json", lid);
    return exists_at(sp->dirfd, name) || exists_at(sp->donefd, name) ||
           exists_at(sp->quarfd, name);
}

static mf_code write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno_code(errno);
        }
        p += w;
        len -= (size_t)w;
    }
    return MF_OK;
}

/* Place tmp/<tmpname> at DIR/<name> unless something is already there. Sets *dup.
 * link() is atomic about "already there"; file systems without hard links get a
 * check-then-rename, which can only lose that race to another receiver of the very
 * same report (ingest still stores it once). */
static mf_code place(mf_spool *sp, const char *tmpname, const char *name, bool *dup)
{
    *dup = false;
    if (linkat(sp->tmpfd, tmpname, sp->dirfd, name, 0) == 0)
        return MF_OK;
    int e = errno;
    if (e == EEXIST) {
        *dup = true;
        return MF_OK;
    }
    if (e != EPERM && e != ENOTSUP && e != EOPNOTSUPP && e != EMLINK)
        return errno_code(e);
    if (exists_at(sp->dirfd, name)) {
        *dup = true;
        return MF_OK;
    }
    if (renameat(sp->tmpfd, tmpname, sp->dirfd, name) != 0)
        return errno_code(errno);
    return MF_OK;
}

mf_code mf_spool_store(mf_spool_result *out, mf_spool *sp, const char *id, const void *data,
                       size_t len, mf_error *err)
{
    *out = MF_SPOOL_STORED;
    char lid[37], name[MF_SPOOL_NAME_MAX], tmpname[128];
    mf_code rc = MF_OK;
    int fd = -1;
    bool have_tmp = false;
    if (!mf_spool_id_normalise(lid, id))
        return mf_error_set(err, MF_ERR_INVALID, "report id is not a UUID");
    snprintf(name, sizeof(name), "%s.json", lid);
    mf_error_set_file(err, sp->dir);
    /* Already ingested (or refused by ingest): do not bring it back. A copy waiting in
     * DIR is caught by the link below. */
    if (exists_at(sp->donefd, name) || exists_at(sp->quarfd, name)) {
        *out = MF_SPOOL_DUPLICATE;
        return MF_OK;
    }
    snprintf(tmpname, sizeof(tmpname), "%s.%ld.%lu", lid, (long)getpid(), ++sp->seq);
    fd = openat(sp->tmpfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        rc = mf_error_set(err, errno_code(errno), "cannot create tmp/%s: %s", tmpname,
                          strerror(errno));
        goto out;
    }
    have_tmp = true;
    if ((rc = write_all(fd, data, len)) != MF_OK) {
        mf_error_set(err, rc, "cannot write tmp/%s: %s", tmpname, strerror(errno));
        goto out;
    }
    if (fsync(fd) != 0) {
        rc = mf_error_set(err, errno_code(errno), "fsync tmp/%s: %s", tmpname, strerror(errno));
        goto out;
    }
    int cr = close(fd);
    fd = -1;
    if (cr != 0) {
        rc = mf_error_set(err, errno_code(errno), "close tmp/%s: %s", tmpname, strerror(errno));
        goto out;
    }
    bool dup;
    if ((rc = place(sp, tmpname, name, &dup)) != MF_OK) {
        mf_error_set(err, rc, "cannot store %s: %s", name, strerror(errno));
        goto out;
    }
    if (dup) {
        *out = MF_SPOOL_DUPLICATE;
        goto out;
    }
    if (fsync(sp->dirfd) != 0) {
        rc = mf_error_set(err, errno_code(errno), "fsync of the spool folder: %s",
                          strerror(errno));
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (have_tmp)
        (void)unlinkat(sp->tmpfd, tmpname, 0);
    return rc;
}

mf_code mf_spool_lock(mf_spool *sp, mf_error *err)
{
    if (sp->lockfd >= 0)
        return MF_OK;
    int fd = openat(sp->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return mf_error_set(err, errno_code(errno), "cannot open %s/%s: %s", sp->dir,
                            LOCK_NAME, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return mf_error_set(err, MF_ERR_REFUSED,
                                "another ingest is already working on %s", sp->dir);
        return mf_error_set(err, errno_code(e), "cannot lock %s/%s: %s", sp->dir, LOCK_NAME,
                            strerror(e));
    }
    sp->lockfd = fd;
    return MF_OK;
}

mf_code mf_spool_scan_begin(mf_spool_scan **out, mf_spool *sp, mf_error *err)
{
    *out = NULL;
    int fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mf_error_set(err, errno_code(errno), "cannot read %s: %s", sp->dir,
                            strerror(errno));
    mf_spool_scan *sc = calloc(1, sizeof(*sc));
    if (!sc) {
        close(fd);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    sc->d = fdopendir(fd);
    if (!sc->d) {
        close(fd);
        free(sc);
        return mf_error_set(err, errno_code(errno), "cannot read %s: %s", sp->dir,
                            strerror(errno));
    }
    *out = sc;
    return MF_OK;
}

const char *mf_spool_scan_next(mf_spool_scan *sc)
{
    struct dirent *e;
    while ((e = readdir(sc->d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, LOCK_NAME) == 0)
            continue;
        if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
            struct stat st;
            if (fstatat(dirfd(sc->d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
                continue;
            /* A symlink is an entry too: ingest quarantines it (it reads no links). */
            if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
                continue;
        } else if (e->d_type != DT_REG) {
            continue; /* tmp/, done/, quarantine/ and anything else that is not a file */
        }
        return e->d_name;
    }
    return NULL;
}

void mf_spool_scan_end(mf_spool_scan *sc)
{
    if (!sc)
        return;
    if (sc->d)
        closedir(sc->d);
    free(sc);
}

size_t mf_spool_count(mf_spool *sp)
{
    mf_spool_scan *sc;
    size_t n = 0;
    if (mf_spool_scan_begin(&sc, sp, NULL) != MF_OK)
        return 0;
    while (mf_spool_scan_next(sc))
        n++;
    mf_spool_scan_end(sc);
    return n;
}

char *mf_spool_entry_path(const mf_spool *sp, const char *name)
{
    return mf_path_join(sp->dir, name);
}

/* A name from a scan: one path component, nothing else. */
static bool plain_name(const char *name)
{
    return name && name[0] && name[0] != '.' && !strchr(name, '/');
}

mf_code mf_spool_finish(mf_spool *sp, const char *name, bool remove, mf_error *err)
{
    if (!plain_name(name))
        return mf_error_set(err, MF_ERR_INVALID, "bad spool entry name");
    int r = remove ? unlinkat(sp->dirfd, name, 0) : renameat(sp->dirfd, name, sp->donefd, name);
    if (r != 0 && errno != ENOENT)
        return mf_error_set(err, errno_code(errno), "cannot %s %s/%s: %s",
                            remove ? "remove" : "move to done/", sp->dir, name, strerror(errno));
    return MF_OK;
}

mf_code mf_spool_quarantine(mf_spool *sp, const char *name, const char *reason, mf_error *err)
{
    if (!plain_name(name))
        return mf_error_set(err, MF_ERR_INVALID, "bad spool entry name");
    mf_code rc = MF_OK;
    char *rname = mf_asprintf("%s.reason", name);
    char *tname = mf_asprintf("%s.reason.%ld", name, (long)getpid());
    int fd = -1;
    if (!rname || !tname) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* The reason first, atomically, then the move: a crash in between leaves the entry
     * where it was, and the next run writes the same reason again. */
    fd = openat(sp->quarfd, tname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        rc = mf_error_set(err, errno_code(errno), "cannot write quarantine/%s: %s", rname,
                          strerror(errno));
        goto out;
    }
    size_t rl = strlen(reason);
    if ((rc = write_all(fd, reason, rl)) != MF_OK || (rc = write_all(fd, "\n", 1)) != MF_OK) {
        mf_error_set(err, rc, "cannot write quarantine/%s: %s", rname, strerror(errno));
        goto out;
    }
    if (fsync(fd) != 0) {
        rc = mf_error_set(err, errno_code(errno), "fsync quarantine/%s: %s", rname,
                          strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (renameat(sp->quarfd, tname, sp->quarfd, rname) != 0) {
        rc = mf_error_set(err, errno_code(errno), "cannot write quarantine/%s: %s", rname,
                          strerror(errno));
        goto out;
    }
    if (renameat(sp->dirfd, name, sp->quarfd, name) != 0 && errno != ENOENT) {
        rc = mf_error_set(err, errno_code(errno), "cannot move %s to quarantine/: %s", name,
                          strerror(errno));
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc != MF_OK && tname)
        (void)unlinkat(sp->quarfd, tname, 0);
    free(rname);
    free(tname);
    return rc;
}

mf_code mf_spool_sync(mf_spool *sp, mf_error *err)
{
    int fds[] = {sp->dirfd, sp->donefd, sp->quarfd};
    for (size_t i = 0; i < MF_ARRAY_LEN(fds); i++)
        if (fsync(fds[i]) != 0)
            return mf_error_set(err, errno_code(errno), "fsync of %s: %s", sp->dir,
                                strerror(errno));
    return MF_OK;
}

mf_code mf_spool_clean_tmp(size_t *out, mf_spool *sp, int64_t before, mf_error *err)
{
    *out = 0;
    int fd = openat(sp->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mf_error_set(err, errno_code(errno), "cannot read %s/tmp: %s", sp->dir,
                            strerror(errno));
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return mf_error_set(err, errno_code(errno), "cannot read %s/tmp: %s", sp->dir,
                            strerror(errno));
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(sp->tmpfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (!S_ISDIR(st.st_mode) && (int64_t)st.st_mtime < before &&
            unlinkat(sp->tmpfd, e->d_name, 0) == 0)
            (*out)++;
    }
    closedir(d);
    return MF_OK;
}
