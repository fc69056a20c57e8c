/* error.h: the one error model of mailfleet.
 *
 * Every fallible function returns an mf_code. MF_OK is 0; the numbers are stable
 * and new codes are only ever appended (like curl's CURLcode), because they appear
 * in logs and in the nack reasons the collector sends back.
 *
 * Details travel in a caller-owned mf_error (like Jansson's json_error_t): the code,
 * the file, a line/column or a field path, and a message. Every function that takes
 * an mf_error * accepts NULL, meaning "I only want the code".
 */
#ifndef MF_ERROR_H
#define MF_ERROR_H

#include <stddef.h>

typedef enum mf_code {
    MF_OK = 0,
    MF_ERR_NOMEM = 1,       /* out of memory */
    MF_ERR_IO = 2,          /* read/write/open failed */
    MF_ERR_NOTFOUND = 3,    /* file or item does not exist */
    MF_ERR_PERM = 4,        /* permission denied */
    MF_ERR_TOOBIG = 5,      /* input larger than its cap */
    MF_ERR_PARSE = 6,       /* malformed input (syntax) */
    MF_ERR_INVALID = 7,     /* well-formed but invalid (types, values, missing field) */
    MF_ERR_UNSUPPORTED = 8, /* a format or feature we do not handle */
    MF_ERR_USAGE = 9,       /* bad command line */
    MF_ERR_RANGE = 10,      /* number out of range */
    MF_ERR_TIMEOUT = 11,    /* a deadline passed */
    MF_ERR_NET = 12,        /* network failure (the tool's, not a finding) */
    MF_ERR_TLS = 13,        /* TLS library failure */
    MF_ERR_SSH = 14,        /* SSH transport failure */
    MF_ERR_DB = 15,         /* database failure */
    MF_ERR_INTERNAL = 16,   /* a bug */
    MF_ERR_CONFIG = 17,     /* bad configuration */
    MF_ERR_HOSTKEY = 18,    /* SSH host key unknown or changed */
    MF_ERR_REFUSED = 19,    /* the peer refused (nack) */
    MF_ERR_NOSPACE = 20,    /* disk full */
    MF_ERR__COUNT
} mf_code;

#define MF_ERROR_FILE_MAX 512
#define MF_ERROR_FIELD_MAX 256
#define MF_ERROR_TEXT_MAX 512

typedef struct mf_error {
    mf_code code;
    char file[MF_ERROR_FILE_MAX];   /* file the error is about, "" if none */
    int line;                       /* 1-based line, 0 if unknown */
    int column;                     /* 1-based column, 0 if unknown */
    char field[MF_ERROR_FIELD_MAX]; /* field path such as servers[2].port, "" if none */
    char text[MF_ERROR_TEXT_MAX];   /* human-readable message */
} mf_error;

/* A short stable description of a code ("out of memory"); never NULL. */
const char *mf_strerror(mf_code code);

/* Reset *err to "no error". NULL is allowed. */
void mf_error_clear(mf_error *err);

/* Record an error and return code, so callers can write
 * `return mf_error_set(err, MF_ERR_PARSE, "bad %s", x);`. NULL err is allowed.
 * The file/line/field members are left as they are (set them with the setters). */
mf_code mf_error_set(mf_error *err, mf_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Start a fresh error about file (NULL: none) at field path (NULL: none): clears err,
 * sets both and the text, and returns code. NULL err is allowed. */
mf_code mf_error_at(mf_error *err, const char *file, const char *field, mf_code code,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Set the file the error is about (copied, truncated to fit). */
void mf_error_set_file(mf_error *err, const char *file);
/* Set the field path (copied, truncated to fit). */
void mf_error_set_field(mf_error *err, const char *field);
void mf_error_set_pos(mf_error *err, int line, int column);

/* Prefix the field path with `prefix` (used when an error bubbles up through a nested
 * decoder: "port" becomes "servers[2].port"). */
void mf_error_prefix_field(mf_error *err, const char *prefix);

/* Format as "file:line:column: field: text" omitting empty parts, into out (always
 * NUL-terminated). Returns out. */
const char *mf_error_format(const mf_error *err, char *out, size_t outsz);

#endif
