/* prefs_js.h: a strict, bounded reader for Mozilla preference files (prefs.js, user.js).
 *
 * The grammar is the subset of JavaScript that Firefox and Thunderbird read and write:
 *
 *   statement := ("user_pref" | "pref" | "sticky_pref") "(" string "," value
 *                [ "," attribute { "," attribute } ] ")" ";"
 *   value     := string | ["+" | "-"] digits | "true" | "false"
 *   attribute := "locked" | "sticky"            (only after pref / sticky_pref)
 *   string    := '"' ... '"' | "'" ... "'"      with the escapes \\ \" \' \n \t \r
 *                                                \xHH \uHHHH (surrogate pairs joined)
 *
 * White space and comments (// and # to the end of the line, and block comments) may
 * appear between any two tokens. Integers must fit in 32 bits, as in Firefox. Strings
 * come out as UTF-8: escapes are encoded, raw bytes must already be valid UTF-8, and a
 * NUL (raw, \x00 or \u0000) is an error because C strings cannot carry it. A raw line
 * break inside a string is an error ("unterminated string"), as in JavaScript; that
 * keeps one broken string from swallowing the rest of the file.
 *
 * Errors and recovery (a deliberate difference from Firefox, which stops reading
 * prefs.js at its first syntax error): after an error the parser skips to the next ';'
 * and goes on, so every well-formed statement of the file is kept. The first error (with
 * file, 1-based line and column, and a reason such as "expected ')'") and the number of
 * errors are reported; the caller decides what a partial read means (the Thunderbird
 * source marks the file "malformed" and still reports the servers it read).
 *
 * Values: each name has at most one user value (user_pref) and one default value (pref,
 * sticky_pref). Within each kind the last definition wins, across every file parsed
 * into the same set; the effective value is the user value when there is one, else the
 * default, except that a locked default beats any user value (Firefox's rules). So
 * "user.js overrides prefs.js" is: parse prefs.js, then user.js, into one mf_prefs.
 *
 * Bounds: the number of distinct names, the length of a name and of a string value are
 * capped (mf_prefs_limits); the caller caps the file size.
 */
#ifndef MF_PREFS_JS_H
#define MF_PREFS_JS_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

#define MF_PREFS_MAX_PREFS  100000u       /* distinct names per set */
#define MF_PREFS_MAX_STRING (64u * 1024u) /* bytes of one string value, after unescaping */
#define MF_PREFS_MAX_NAME   4096u         /* bytes of one pref name */

typedef enum mf_pref_type {
    MF_PREF_NONE = 0, /* no value of this kind */
    MF_PREF_STRING,
    MF_PREF_INT,
    MF_PREF_BOOL,
} mf_pref_type;

/* One value as written in a file. */
typedef struct mf_pref_value {
    mf_pref_type type;
    char *str;      /* MF_PREF_STRING: NUL-terminated UTF-8 without inner NULs */
    size_t str_len; /* strlen(str) */
    long long num;  /* MF_PREF_INT: -2147483648 .. 2147483647 */
    bool b;         /* MF_PREF_BOOL */
    int line;       /* 1-based line of the definition that won */
    int file;       /* index of the mf_prefs_parse() call it came from: 0, 1, ... */
} mf_pref_value;

/* One preference. Read-only for callers. */
typedef struct mf_pref {
    char *name;
    mf_pref_value user; /* from user_pref(); type MF_PREF_NONE when absent */
    mf_pref_value def;  /* from pref()/sticky_pref(); MF_PREF_NONE when absent */
    bool locked;        /* a pref(..., locked) was seen */
} mf_pref;

typedef struct mf_prefs_limits {
    size_t max_prefs;  /* 0: MF_PREFS_MAX_PREFS */
    size_t max_string; /* 0: MF_PREFS_MAX_STRING */
    size_t max_name;   /* 0: MF_PREFS_MAX_NAME */
} mf_prefs_limits;

typedef struct mf_prefs mf_prefs;

/* A new empty set. lim may be NULL (all defaults). *out is NULL on entry and on
 * failure (MF_ERR_NOMEM). Free with mf_prefs_free(). */
mf_code mf_prefs_new(mf_prefs **out, const mf_prefs_limits *lim);

/* Free the set and every string in it (string values are wiped first). NULL is
 * allowed. */
void mf_prefs_free(mf_prefs *p);

/* Parse len bytes of a prefs file into p; file is the name used in errors (may be NULL).
 * data need not be NUL-terminated.
 *
 * Returns MF_OK when the whole input was well-formed; MF_ERR_PARSE when some statements
 * were malformed (they are skipped up to the next ';', everything else is kept, err holds
 * the first error's file, line, column and reason); MF_ERR_TOOBIG when the cap on
 * distinct names was reached (parsing stops there, what came before is kept);
 * MF_ERR_NOMEM when out of memory (p stays valid but may hold only part of the input).
 * mf_prefs_errors() gives the number of syntax errors of this call. err may be NULL. */
mf_code mf_prefs_parse(mf_prefs *p, const char *data, size_t len, const char *file, mf_error *err);

/* The number of syntax errors found by the last mf_prefs_parse() call on p. */
size_t mf_prefs_errors(const mf_prefs *p);

/* The number of distinct names in the set, and the i-th one in the order the names were
 * first seen (prefs.js is written sorted, so this is normally sorted too). mf_prefs_at
 * returns NULL when i is out of range. Pointers stay valid until the next parse or drop. */
size_t mf_prefs_count(const mf_prefs *p);
const mf_pref *mf_prefs_at(const mf_prefs *p, size_t i);

/* The preference called name, or NULL. Average O(1). */
const mf_pref *mf_prefs_find(const mf_prefs *p, const char *name);

/* The effective value of a pref (see the rules above): NULL when pref is NULL or has
 * no value. */
const mf_pref_value *mf_pref_effective(const mf_pref *pref);

/* Typed lookups of the effective value. They return NULL / false when the name is
 * absent or its effective value has another type; out is untouched then. The string
 * belongs to p. */
const char *mf_prefs_get_str(const mf_prefs *p, const char *name);
bool mf_prefs_get_int(const mf_prefs *p, const char *name, long long *out);
bool mf_prefs_get_bool(const mf_prefs *p, const char *name, bool *out);

/* Remove every pref whose name contains needle (ASCII case-insensitive; an empty needle
 * matches every name), wiping its string values before freeing them. Used to keep secrets (passwords) out of reach of
 * everything that reads the set afterwards. Returns how many were removed. */
size_t mf_prefs_drop_matching(mf_prefs *p, const char *needle);

/* True when the len bytes at s are well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF). NUL bytes count as valid here; callers that cannot carry
 * them check separately. This is the rule the parser applies to every string; the
 * Thunderbird source uses it on paths before they go into a report. */
bool mf_prefs_utf8_valid(const char *s, size_t len);

#endif
