/* fileio.h: reading files whose bytes are untrusted, with a size cap, and mapping the
 * ways that can fail to the source statuses of the report (missing, unreadable,
 * too-large). */
#ifndef MF_FILEIO_H
#define MF_FILEIO_H

#include "error.h"

#include <stddef.h>
#include <stdbool.h>
#include <sys/stat.h>

/* fstat fd into st and refuse anything but a regular file of at most cap bytes, with the
 * same wording everywhere ("is a directory, expected a file", "file is N bytes, the limit
 * is CAP"). */
mf_code mf_fd_check_regular(int fd, size_t cap, struct stat *st, mf_error *err);

/* Read the whole regular file at path into a new NUL-terminated buffer (*out, caller
 * frees) of *len bytes. Refuses anything larger than cap bytes (MF_ERR_TOOBIG), a
 * directory or other non-regular file (MF_ERR_IO), a missing file (MF_ERR_NOTFOUND),
 * permission problems (MF_ERR_PERM) and symlink loops (MF_ERR_IO, "symlink loop").
 * *out is NULL on failure; err names the file. */
mf_code mf_file_read(const char *path, size_t cap, char **out, size_t *len, mf_error *err);

/* True when path exists (following symlinks) and is a regular file / directory. */
bool mf_path_is_file(const char *path);
bool mf_path_is_dir(const char *path);
/* True when anything (even a dangling symlink) exists at path. */
bool mf_path_exists(const char *path);

/* Join a and b with one '/'. Returns a new string or NULL. */
char *mf_path_join(const char *a, const char *b);

/* Write data to path atomically: a temporary file beside it, fsync, rename, and an
 * fsync of the folder. */
mf_code mf_file_write_atomic(const char *path, const void *data, size_t len, mf_error *err);

/* The report source status for a code from mf_file_read: "missing", "unreadable",
 * "too-large" or "malformed". */
const char *mf_file_status_for(mf_code code);

#endif
