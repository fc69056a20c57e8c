#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <sys/random.h>
#include <unistd.h>

size_t mf_strlcpy(char *dst, const char *src, size_t dstsz)
{
    size_t len = strlen(src);
    if (dstsz) {
        size_t n = len < dstsz - 1 ? len : dstsz - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

char *mf_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

char *mf_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *mf_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = malloc((size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

mf_code mf_parse_long(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s)
        return MF_ERR_PARSE;
    if (!(isdigit((unsigned char)s[0]) || ((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1]))))
        return MF_ERR_PARSE;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0')
        return MF_ERR_PARSE;
    if (errno == ERANGE || v < min || v > max)
        return MF_ERR_RANGE;
    *out = v;
    return MF_OK;
}

bool mf_str_empty(const char *s)
{
    return !s || !*s;
}

bool mf_streq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool mf_strcaseeq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

bool mf_str_has_prefix(const char *s, const char *prefix)
{
    return s && prefix && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool mf_str_has_suffix(const char *s, const char *suffix)
{
    if (!s || !suffix)
        return false;
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

char *mf_str_trim_lower(const char *s)
{
    if (!s)
        return NULL;
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    char *p = mf_strndup(s, n);
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = (char)tolower((unsigned char)p[i]);
    return p;
}

mf_code mf_grow(void **arr, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap)
        return MF_OK;
    size_t ncap = *cap ? *cap : 4;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return MF_ERR_NOMEM;
        ncap *= 2;
    }
    if (elsize && ncap > SIZE_MAX / elsize)
        return MF_ERR_NOMEM;
    void *p = realloc(*arr, ncap * elsize);
    if (!p)
        return MF_ERR_NOMEM;
    memset((char *)p + *cap * elsize, 0, (ncap - *cap) * elsize);
    *arr = p;
    *cap = ncap;
    return MF_OK;
}

mf_code mf_strv_push_owned(mf_strv *sv, char *s)
{
    if (!s)
        return MF_ERR_NOMEM;
    if (mf_grow((void **)&sv->v, &sv->cap, sv->n + 1, sizeof(char *)) != MF_OK) {
        free(s);
        return MF_ERR_NOMEM;
    }
    sv->v[sv->n++] = s;
    return MF_OK;
}

mf_code mf_strv_push(mf_strv *sv, const char *s)
{
    return mf_strv_push_owned(sv, mf_strdup(s ? s : ""));
}

bool mf_strv_contains(const mf_strv *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (mf_streq(sv->v[i], s))
            return true;
    return false;
}

void mf_strv_free(mf_strv *sv)
{
    if (!sv)
        return;
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

void mf_time_format_rfc3339(int64_t t, char *out, size_t outsz)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        mf_strlcpy(out, "1970-01-01T00:00:00Z", outsz);
        return;
    }
    /* Not strftime's %Y: glibc does not pad years below 1000 to four digits, which
     * would give text that is not RFC 3339 (and that mf_time_parse_rfc3339 refuses). */
    snprintf(out, outsz, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void mf_time_now_rfc3339(char *out, size_t outsz)
{
    mf_time_format_rfc3339((int64_t)time(NULL), out, outsz);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * well-known civil-from-days inverse), so no timegm() portability questions arise. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int two(const char *p)
{
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
        return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

mf_code mf_time_parse_rfc3339(const char *s, int64_t *out)
{
    if (!s || strlen(s) < 20)
        return MF_ERR_PARSE;
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)s[i]))
            return MF_ERR_PARSE;
    int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return MF_ERR_PARSE;
    int mon = two(s + 5), day = two(s + 8), hh = two(s + 11), mm = two(s + 14), ss = two(s + 17);
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 ||
        ss < 0 || ss > 60)
        return MF_ERR_PARSE;
    /* The day must exist in that month: 2023-02-30 is not a date. */
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > mdays[mon - 1] || (mon == 2 && day == 29 && !leap))
        return MF_ERR_PARSE;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return MF_ERR_PARSE;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        /* Look at p[3] only once p[1] and p[2] are known digits: the string may end
         * right after the sign. */
        int oh = two(p + 1), om = oh >= 0 && p[3] == ':' ? two(p + 4) : -1;
        if (oh < 0 || om < 0 || oh > 23 || om > 59)
            return MF_ERR_PARSE;
        offset = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return MF_ERR_PARSE;
    }
    if (*p != '\0')
        return MF_ERR_PARSE;
    int64_t days = days_from_civil(year, (unsigned)mon, (unsigned)day);
    *out = days * 86400 + hh * 3600 + mm * 60 + ss - offset;
    return MF_OK;
}

int64_t mf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

mf_code mf_uuid_v4(char out[37])
{
    unsigned char b[16];
    /* getentropy (Linux glibc >= 2.25, macOS) asks the kernel directly; it is much
     * cheaper for one UUID than seeding OpenSSL's generator, which was a third of the
     * agent's whole start-up cost (bench/discovery). OpenSSL remains the fallback. */
    if (getentropy(b, sizeof(b)) != 0 && RAND_bytes(b, sizeof(b)) != 1)
        return MF_ERR_INTERNAL;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    return MF_OK;
}

bool mf_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}
