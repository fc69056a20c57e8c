/* util.h: small string, number and vector helpers with explicit bounds.
 *
 * mailfleet bans the unbounded C string and number functions (see
 * tests/tools/check_banned.sh);
 * these are the replacements.
 */
#ifndef MF_UTIL_H
#define MF_UTIL_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Copy src into dst (size dstsz), always NUL-terminating. Returns strlen(src), so
 * truncation is `ret >= dstsz` (OpenBSD strlcpy semantics). */
size_t mf_strlcpy(char *dst, const char *src, size_t dstsz);

/* strdup that accepts NULL (returns NULL). Aborts are never used: NULL on OOM too, so
 * callers that must tell the two apart check the input first. */
char *mf_strdup(const char *s);
char *mf_strndup(const char *s, size_t n);

/* Allocating printf. Returns NULL on OOM. Caller frees. */
char *mf_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse a whole decimal integer in [min, max] (strtonum-like). Leading/trailing spaces
 * are not allowed. Returns MF_OK, MF_ERR_PARSE or MF_ERR_RANGE. */
mf_code mf_parse_long(const char *s, long long min, long long max, long long *out);

/* True when s is NULL or "". */
bool mf_str_empty(const char *s);
/* NULL-safe equality. */
bool mf_streq(const char *a, const char *b);
/* ASCII case-insensitive equality, NULL-safe. */
bool mf_strcaseeq(const char *a, const char *b);
bool mf_str_has_prefix(const char *s, const char *prefix);
bool mf_str_has_suffix(const char *s, const char *suffix);

/* A new string with ASCII white space trimmed at both ends and ASCII letters
 * lower-cased. NULL on OOM or NULL input. */
char *mf_str_trim_lower(const char *s);

/* A growable vector of owned strings. Zero-initialise to start. */
typedef struct mf_strv {
    char **v;
    size_t n;
    size_t cap;
} mf_strv;

/* Append a copy of s. */
mf_code mf_strv_push(mf_strv *sv, const char *s);
/* Append s, taking ownership (freed on failure too). */
mf_code mf_strv_push_owned(mf_strv *sv, char *s);
bool mf_strv_contains(const mf_strv *sv, const char *s);
void mf_strv_free(mf_strv *sv);

/* Grow an array so that it holds at least `need` elements of `elsize`. *cap is updated.
 * Returns MF_ERR_NOMEM on failure, leaving the array untouched. */
mf_code mf_grow(void **arr, size_t *cap, size_t need, size_t elsize);

/* Current UTC time formatted as RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" into out (>= 21 bytes). */
void mf_time_now_rfc3339(char *out, size_t outsz);
/* Format t (seconds since the epoch, UTC) the same way. */
void mf_time_format_rfc3339(int64_t t, char *out, size_t outsz);
/* Parse "YYYY-MM-DDTHH:MM:SSZ" (also accepts a fractional part and +00:00). */
mf_code mf_time_parse_rfc3339(const char *s, int64_t *out);
/* Monotonic milliseconds. */
int64_t mf_now_ms(void);

/* A random UUID v4 (lower-case, 36 chars + NUL) from the kernel (getentropy), else OpenSSL. */
mf_code mf_uuid_v4(char out[37]);
/* True when s is a canonical lower- or upper-case UUID "8-4-4-4-12". */
bool mf_uuid_valid(const char *s);

#endif
