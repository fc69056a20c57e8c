#include "fileio.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static mf_code errno_code(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return MF_ERR_NOTFOUND;
    case EACCES:
    case EPERM:
        return MF_ERR_PERM;
    case ENOSPC:
        return MF_ERR_NOSPACE;
    case ENOMEM:
        return MF_ERR_NOMEM;
    default:
        return MF_ERR_IO;
    }
}

mf_code mf_fd_check_regular(int fd, size_t cap, struct stat *st, mf_error *err)
{
    if (fstat(fd, st) != 0)
        return mf_error_set(err, errno_code(errno), "%s", strerror(errno));
    if (S_ISDIR(st->st_mode))
        return mf_error_set(err, MF_ERR_IO, "is a directory, expected a file");
    if (!S_ISREG(st->st_mode))
        return mf_error_set(err, MF_ERR_IO, "not a regular file");
    if ((unsigned long long)st->st_size > cap)
        return mf_error_set(err, MF_ERR_TOOBIG, "file is %lld bytes, the limit is %zu",
                            (long long)st->st_size, cap);
    return MF_OK;
}

mf_code mf_file_read(const char *path, size_t cap, char **out, size_t *len, mf_error *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    mf_error_set_file(err, path);
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return mf_error_set(err, MF_ERR_IO, "symlink loop");
        return mf_error_set(err, errno_code(e), "%s", strerror(e));
    }
    char *data = NULL;
    struct stat st;
    mf_code rc = mf_fd_check_regular(fd, cap, &st, err);
    if (rc != MF_OK)
        goto out;
    /* Read until EOF rather than trusting st_size: the file may grow while we read. */
    size_t alloc = (size_t)st.st_size + 1, n = 0;
    data = malloc(alloc + 1);
    if (!data) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        if (n == alloc) {
            if (alloc > cap) {
                rc = mf_error_set(err, MF_ERR_TOOBIG, "file grew past the limit of %zu bytes",
                                  cap);
                goto out;
            }
            size_t na = alloc * 2 > cap + 1 ? cap + 1 : alloc * 2;
            char *p = realloc(data, na + 1);
            if (!p) {
                rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
                goto out;
            }
            data = p;
            alloc = na;
        }
        ssize_t r = read(fd, data + n, alloc - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = mf_error_set(err, errno_code(errno), "%s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > cap) {
        rc = mf_error_set(err, MF_ERR_TOOBIG, "file grew past the limit of %zu bytes", cap);
        goto out;
    }
    data[n] = '\0';
    *out = data;
    data = NULL;
    if (len)
        *len = n;
out:
    free(data);
    close(fd);
    return rc;
}

bool mf_path_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool mf_path_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool mf_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

char *mf_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    /* "/" keeps its one slash: "/" + "Users" is "/Users", not "//Users" (POSIX leaves a
     * leading "//" implementation-defined). */
    const char *sep = la > 0 && a[la - 1] == '/' ? "" : "/";
    return mf_asprintf("%.*s%s%s", (int)la, a, sep, b);
}

mf_code mf_file_write_atomic(const char *path, const void *data, size_t len, mf_error *err)
{
    mf_error_set_file(err, path);
    mf_code rc = MF_OK;
    char *tmp = mf_asprintf("%s.tmp.%ld", path, (long)getpid());
    char *dir = mf_strdup(path);
    int fd = -1;
    if (!tmp || !dir) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = mf_error_set(err, errno_code(errno), "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = mf_error_set(err, errno_code(errno), "write: %s", strerror(errno));
            goto out;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = mf_error_set(err, errno_code(errno), "fsync: %s", strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = mf_error_set(err, errno_code(errno), "close: %s", strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = mf_error_set(err, errno_code(errno), "rename: %s", strerror(errno));
        goto out;
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        dir[0] = '.', dir[1] = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc != MF_OK && tmp)
        unlink(tmp);
    free(tmp);
    free(dir);
    return rc;
}

const char *mf_file_status_for(mf_code code)
{
    switch (code) {
    case MF_ERR_NOTFOUND:
        return "missing";
    case MF_ERR_TOOBIG:
        return "too-large";
    case MF_ERR_PERM:
    case MF_ERR_IO:
    case MF_ERR_NOMEM:
        return "unreadable";
    default:
        return "malformed";
    }
}
