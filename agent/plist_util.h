/* plist_util.h: loading plists (XML or binary, through libplist) and reading values
 * tolerantly, the way Mail's files are really written: numbers as strings ("587"),
 * booleans as "YES"/"NO" strings. Used by every plist-based source. */
#ifndef MF_PLIST_UTIL_H
#define MF_PLIST_UTIL_H

#include "error.h"
#include "report.h"
#include "util.h"

#include <plist/plist.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting mf_plist_parse accepts, in levels: each array or dict on the way down
 * and the value at the bottom count one (a lone string is one level). An XML plist is
 * also held to it by its <array>/<dict> tags before libplist's recursive parser sees
 * it. Mail's files nest four or five levels; the limit keeps libplist's recursive
 * parser (and ours) away from stack exhaustion on hostile input. */
#define MF_PLIST_MAX_DEPTH 128
/* Most values mf_plist_parse accepts: objects in a binary plist, values once its shared
 * objects are expanded (libplist 2.2 copies a shared object once per reference), and
 * values in a parsed XML plist (dict keys count). */
#define MF_PLIST_MAX_VALUES 250000u

/* Longest text mf_plist_text keeps from a plist value (longer values are cut at a
 * character boundary). No host name, user name or description needs more. */
#define MF_PLIST_TEXT_MAX 1024

/* Tighter limits for mf_plist_parse_limited than the whole-file defaults. A field that
 * is 0 or above the default (MF_PLIST_MAX_DEPTH, MF_PLIST_MAX_VALUES) means the
 * default: limits can only be tightened. */
typedef struct mf_plist_limits {
    unsigned max_depth;  /* as MF_PLIST_MAX_DEPTH */
    uint32_t max_values; /* as MF_PLIST_MAX_VALUES */
} mf_plist_limits;

/* Parse len bytes as an XML or binary plist, measuring the input first so libplist 2.2
 * never sees what it handles badly. *out (caller frees with plist_free) is NULL on
 * failure, with MF_ERR_PARSE and a message ("not a valid binary property list",
 * "property list nests deeper than 128 levels", ...). data need not be NUL-terminated.
 * Refused: empty input; text that does not start with '<' (after a BOM and white
 * space); binary versions other than bplist00; a binary plist whose trailer, offsets or
 * references are out of range, with a reference loop, with more objects than
 * max_values or that would expand to more than max_values values; nesting deeper than
 * max_depth; an XML plist with more than max_values values; and a string containing a
 * NUL character, always (libplist would silently cut it there, so "evil.example\0.good"
 * would read as "evil.example"; XML may not contain NUL at all, so any NUL byte before
 * the trailing ones is refused). Inputs of 4 GiB or more give MF_ERR_TOOBIG.
 * lim may be NULL for the defaults. */
mf_code mf_plist_parse_limited(const char *data, size_t len, const mf_plist_limits *lim,
                               plist_t *out, mf_error *err);

/* mf_plist_parse_limited with the defaults, for whole files. */
mf_code mf_plist_parse(const char *data, size_t len, plist_t *out, mf_error *err);

/* Read a file (capped at cap bytes) and parse it. Errors name the file; the code tells
 * missing/unreadable/too-large (mf_file_status_for) from malformed (MF_ERR_PARSE). */
mf_code mf_plist_load(const char *path, size_t cap, plist_t *out, mf_error *err);

/* The value of key in dict when it is a string, else NULL (also when dict is NULL or
 * not a dict). The pointer is owned by the plist. */
const char *mf_plist_str(plist_t dict, const char *key);
/* An integer from an integer, a real with no fraction, or a decimal string (white space
 * around it is allowed). Returns false when absent or not a number (out untouched).
 * libplist 2.2 stores every integer unsigned; values above LLONG_MAX are read back as
 * the negative numbers they were written as. */
bool mf_plist_int(plist_t dict, const char *key, long long *out);
/* dict[key] as a TCP port (1-65535, numbers or numeric strings) into *port: true when
 * it holds one. A value that is present but no port is logged as "path: where.key: not
 * a port number; using the default port" (0 is how some writers say "default" and is
 * not logged). */
bool mf_plist_port(plist_t dict, const char *key, const char *path, const char *where,
                   int *port);

/* A boolean from a boolean, an integer (0/1), or a string YES/NO/true/false/1/0 (any
 * case, white space around it allowed). Returns false when absent or not boolean-like
 * (out untouched). */
bool mf_plist_bool(plist_t dict, const char *key, bool *out);
/* The array/dict under key, or NULL when absent or of another type. */
plist_t mf_plist_array(plist_t dict, const char *key);
plist_t mf_plist_dict(plist_t dict, const char *key);

/* True when key is present in dict (whatever its type). */
bool mf_plist_has(plist_t dict, const char *key);

/* A short English name of the node's type for error messages: "a dict", "an array",
 * "a string", "an integer", "a boolean", "a real", "a date", "data", "a UID",
 * "nothing" (NULL). Never NULL. */
const char *mf_plist_type_name(plist_t node);

/* A copy of s fit for the report: valid UTF-8 (each invalid byte becomes U+FFFD), at
 * most max bytes (cut at a character boundary). NULL for NULL input, and NULL when out
 * of memory (check the input to tell the two apart). Caller frees. */
char *mf_plist_text(const char *s, size_t max);

/* mf_plist_text of the string under key (max MF_PLIST_TEXT_MAX). *out is NULL when the
 * key is absent, not a string, or empty when skip_empty is set. Returns MF_ERR_NOMEM
 * only when out of memory. Refuses (MF_ERR_INTERNAL) a key that
 * mf_plist_key_is_secret() calls secret, so a typo can never copy a password into the
 * report. */
mf_code mf_plist_text_at(char **out, plist_t dict, const char *key, bool skip_empty);

/* Append to out the strings under key: a string, or an array of strings (other element
 * types are skipped). Each goes through mf_plist_text; empty strings and duplicates
 * are skipped; at most max strings are added. MF_ERR_NOMEM only when out of memory. */
mf_code mf_plist_strv_at(mf_strv *out, plist_t dict, const char *key, size_t max);

/* True when a key names a secret: it contains "password", "passwd", "token", "secret"
 * or "credential" in any case. Sources never copy such a key's value. */
bool mf_plist_key_is_secret(const char *key);

/* Problems found while reading one source file that do not stop the reading (an entry
 * of the wrong type, an array of the wrong type, too many entries). The sources note
 * each one (logged as a warning naming the file) and at the end mark the source record
 * with the first message and a count of the others. */
typedef struct mf_plist_issues {
    const char *path;        /* the file, for messages; borrowed */
    unsigned count;          /* problems noted */
    mf_source_status status; /* status of the first problem */
    char first[MF_ERROR_TEXT_MAX];
} mf_plist_issues;

/* Start with no problems; path is borrowed and must outlive is. */
void mf_plist_issues_init(mf_plist_issues *is, const char *path);
/* Note a problem with the status it deserves (malformed, unreadable, ...). */
void mf_plist_issue(mf_plist_issues *is, mf_source_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* When problems were noted: mark source idx of r with the first status and the message
 * "<path>: <first> (and N more problems)", fill err (file = path) and return
 * MF_ERR_PARSE for malformed, MF_ERR_UNSUPPORTED for unreadable, MF_ERR_TOOBIG for
 * too-large. MF_OK when nothing was noted. */
mf_code mf_plist_issues_apply(const mf_plist_issues *is, mf_report *r, int idx, mf_error *err);

#endif
