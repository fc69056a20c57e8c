/* plist_util.h: loading plists (XML or binary, through libplist) and reading values
 * tolerantly, the way Mail's files are really written: numbers as strings ("587"),
 * booleans as "YES"/"NO" strings. Used by every plist-based source. */
#ifndef MF_PLIST_UTIL_H
#define MF_PLIST_UTIL_H

#include "error.h"

#include <plist/plist.h>
#include <stdbool.h>
#include <stddef.h>

/* Parse len bytes as an XML or binary plist. *out (caller frees with plist_free) is NULL
 * on failure, with MF_ERR_PARSE and a message. */
mf_code mf_plist_parse(const char *data, size_t len, plist_t *out, mf_error *err);

/* Read a file (capped at cap bytes) and parse it. Errors name the file; the code tells
 * missing/unreadable/too-large (mf_file_status_for) from malformed (MF_ERR_PARSE). */
mf_code mf_plist_load(const char *path, size_t cap, plist_t *out, mf_error *err);

/* The value of key in dict when it is a string, else NULL. The pointer is owned by
 * the plist. */
const char *mf_plist_str(plist_t dict, const char *key);
/* An integer from an integer, a real with no fraction, or a decimal string. Returns
 * false when absent or not a number (out untouched). */
bool mf_plist_int(plist_t dict, const char *key, long long *out);
/* A boolean from a boolean, an integer (0/1), or a string YES/NO/true/false/1/0 (any
 * case). Returns false when absent or not boolean-like. */
bool mf_plist_bool(plist_t dict, const char *key, bool *out);
/* The array/dict under key, or NULL when absent or of another type. */
plist_t mf_plist_array(plist_t dict, const char *key);
plist_t mf_plist_dict(plist_t dict, const char *key);

#endif
