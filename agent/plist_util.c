/* plist_util.c: loading plists through libplist, with the guards libplist 2.2 lacks,
 * and tolerant readers for the value shapes Mail really writes. */
#include "plist_util.h"

#include "fileio.h"
#include "log.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libplist 2.2's binary reader parses a shared object once per reference, so a file of
 * a few hundred bytes whose arrays point twice at the next one expands into billions
 * of nodes (measured: 24 levels take 3.6 GB and 20 s). Its readers also recurse once
 * per nesting level, so a deep enough file exhausts the stack, and they cut a string
 * at a NUL without a word. Before handing bytes to libplist we therefore measure the
 * tree they would become (nesting depth and the number of values after expansion, both
 * capped) and look inside every string it reaches. */

/* The limits in force: the caller's, never looser than the defaults. */
typedef struct limits {
    unsigned depth;
    uint32_t values;
} limits;

static limits limits_of(const mf_plist_limits *lim)
{
    limits l = {MF_PLIST_MAX_DEPTH, MF_PLIST_MAX_VALUES};
    if (lim && lim->max_depth > 0 && lim->max_depth < l.depth)
        l.depth = lim->max_depth;
    if (lim && lim->max_values > 0 && lim->max_values < l.values)
        l.values = lim->max_values;
    return l;
}

/* ---------------------------------------------------------------- binary guard */

typedef struct bp {
    const unsigned char *d;
    size_t len;    /* whole file */
    size_t objend; /* end of the object area (start of the offset table) */
    unsigned offsize, refsize;
    uint64_t nobj, top, offtab;
} bp;

static uint64_t be_uint(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Offset of object i, or SIZE_MAX when it is out of range. */
static size_t obj_offset(const bp *b, uint64_t i)
{
    size_t at = (size_t)b->offtab + (size_t)i * b->offsize;
    uint64_t off = be_uint(b->d + at, b->offsize);
    if (off < 8 || off >= b->objend)
        return SIZE_MAX;
    return (size_t)off;
}

typedef enum scan_result { SCAN_OK = 0, SCAN_CORRUPT, SCAN_NUL } scan_result;

/* Look at object obj: for a container, read its reference count and where its
 * references start; for a string, check that it lies inside the object area and holds
 * no NUL. Other leaves get *nrefs = 0 (their size does not matter for depth or
 * expansion; libplist checks their bounds). */
static scan_result scan_object(const bp *b, uint64_t obj, uint64_t *nrefs, size_t *refpos)
{
    *nrefs = 0;
    *refpos = 0;
    size_t off = obj_offset(b, obj);
    if (off == SIZE_MAX)
        return SCAN_CORRUPT;
    unsigned marker = b->d[off];
    unsigned type = marker >> 4, info = marker & 0xF;
    bool container = type == 0xA || type == 0xC || type == 0xD;
    bool string = type == 0x5 || type == 0x6; /* ASCII, UTF-16BE */
    if (!container && !string)
        return SCAN_OK;
    size_t pos = off + 1;
    uint64_t count = info;
    if (info == 0xF) { /* the count follows as an integer object */
        if (pos >= b->objend)
            return SCAN_CORRUPT;
        unsigned im = b->d[pos];
        if ((im >> 4) != 0x1 || (im & 0xF) > 3)
            return SCAN_CORRUPT;
        unsigned n = 1u << (im & 0xF);
        if (b->objend - pos - 1 < n)
            return SCAN_CORRUPT;
        count = be_uint(b->d + pos + 1, n);
        pos += 1 + n;
    }
    if (string) {
        size_t unit = type == 0x6 ? 2 : 1;
        if (count > (b->objend - pos) / unit)
            return SCAN_CORRUPT;
        for (size_t i = 0; i < (size_t)count; i++) {
            const unsigned char *c = b->d + pos + i * unit;
            if (c[0] == 0 && (unit == 1 || c[1] == 0))
                return SCAN_NUL;
        }
        return SCAN_OK;
    }
    if (type == 0xD && count > UINT64_MAX / 2)
        return SCAN_CORRUPT;
    uint64_t refs = type == 0xD ? count * 2 : count;
    /* All references must lie inside the object area. */
    if (refs > (b->objend - pos) / b->refsize)
        return SCAN_CORRUPT;
    *nrefs = refs;
    *refpos = pos;
    return SCAN_OK;
}

typedef struct frame {
    uint64_t obj;
    uint64_t nrefs, next;
    size_t refpos;
    uint64_t total;
    unsigned depth; /* depth of the subtree below and including obj, so far */
} frame;

enum { ST_NEW = 0, ST_OPEN = 1, ST_DONE = 2 };

/* Walk the object graph from the top object without recursion and without building
 * anything; each object is looked at once (its expanded size and depth are kept). */
static mf_code bplist_guard(const char *data, size_t len, limits lim, mf_error *err)
{
    bp b = {.d = (const unsigned char *)data, .len = len};
    if (len < 8 + 32)
        return mf_error_set(err, MF_ERR_PARSE, "binary property list is truncated (%zu bytes)",
                            len);
    const unsigned char *t = b.d + len - 32;
    b.offsize = t[6];
    b.refsize = t[7];
    b.nobj = be_uint(t + 8, 8);
    b.top = be_uint(t + 16, 8);
    b.offtab = be_uint(t + 24, 8);
    b.objend = len - 32;
    if (b.offsize < 1 || b.offsize > 8 || b.refsize < 1 || b.refsize > 8)
        return mf_error_set(err, MF_ERR_PARSE,
                            "binary property list has a bad trailer (offset size %u, "
                            "reference size %u)",
                            b.offsize, b.refsize);
    if (b.nobj == 0 || b.top >= b.nobj || b.offtab < 8 || b.offtab >= b.objend ||
        b.nobj > (b.objend - b.offtab) / b.offsize)
        return mf_error_set(err, MF_ERR_PARSE,
                            "binary property list is truncated or corrupt (bad object table)");
    if (b.nobj > lim.values)
        return mf_error_set(err, MF_ERR_PARSE,
                            "binary property list has %llu objects, more than the limit of %u",
                            (unsigned long long)b.nobj, (unsigned)lim.values);
    /* Offsets past the table start are object bytes only up to offtab. */
    b.objend = (size_t)b.offtab;

    mf_code rc = MF_OK;
    unsigned char *state = calloc((size_t)b.nobj, 1);
    uint32_t *total = calloc((size_t)b.nobj, sizeof(uint32_t));
    uint16_t *depth = calloc((size_t)b.nobj, sizeof(uint16_t));
    frame stack[MF_PLIST_MAX_DEPTH + 1];
    size_t sp = 0;
    scan_result sr;
    if (!state || !total || !depth) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    stack[0] = (frame){.obj = b.top, .total = 1, .depth = 1};
    if ((sr = scan_object(&b, b.top, &stack[0].nrefs, &stack[0].refpos)) != SCAN_OK)
        goto bad_object;
    state[b.top] = ST_OPEN;
    sp = 1;
    while (sp > 0) {
        frame *f = &stack[sp - 1];
        if (f->next < f->nrefs) {
            uint64_t child = be_uint(b.d + f->refpos + f->next * b.refsize, b.refsize);
            f->next++;
            if (child >= b.nobj) {
                sr = SCAN_CORRUPT;
                goto bad_object;
            }
            if (state[child] == ST_OPEN) {
                rc = mf_error_set(err, MF_ERR_PARSE,
                                  "binary property list is corrupt (object %llu contains itself)",
                                  (unsigned long long)child);
                goto out;
            }
            if (state[child] == ST_DONE) {
                f->total += total[child];
                if (depth[child] + 1u > f->depth)
                    f->depth = depth[child] + 1u;
                if (sp - 1 + f->depth > lim.depth)
                    goto too_deep;
                if (f->total > lim.values)
                    goto too_big;
                continue;
            }
            if (sp >= lim.depth)
                goto too_deep;
            frame *c = &stack[sp];
            *c = (frame){.obj = child, .total = 1, .depth = 1};
            if ((sr = scan_object(&b, child, &c->nrefs, &c->refpos)) != SCAN_OK)
                goto bad_object;
            state[child] = ST_OPEN;
            sp++;
            continue;
        }
        /* Done with f: record it and fold it into its parent. */
        state[f->obj] = ST_DONE;
        total[f->obj] = (uint32_t)f->total;
        depth[f->obj] = (uint16_t)f->depth;
        sp--;
        if (sp > 0) {
            frame *p = &stack[sp - 1];
            p->total += f->total;
            if (f->depth + 1u > p->depth)
                p->depth = f->depth + 1u;
            if (p->total > lim.values)
                goto too_big;
        }
    }
    goto out;
bad_object:
    if (sr == SCAN_NUL)
        rc = mf_error_set(err, MF_ERR_PARSE,
                          "property list has a string containing a NUL character");
    else
        rc = mf_error_set(err, MF_ERR_PARSE,
                          "binary property list is truncated or corrupt (bad object or "
                          "reference)");
    goto out;
too_deep:
    rc = mf_error_set(err, MF_ERR_PARSE, "property list nests deeper than %u levels", lim.depth);
    goto out;
too_big:
    rc = mf_error_set(err, MF_ERR_PARSE,
                      "binary property list expands to more than %u values (shared objects)",
                      (unsigned)lim.values);
out:
    free(state);
    free(total);
    free(depth);
    return rc;
}

/* ---------------------------------------------------------------- XML guard */

/* An upper bound of the <array>/<dict> nesting. Tags inside comments or CDATA are
 * counted too, which can only make the estimate larger. XML may not contain NUL, and
 * libplist would keep it inside a string (cutting it for every C reader), so a NUL
 * byte is refused; the caller has dropped trailing ones. */
static mf_code xml_guard(const char *s, size_t len, limits lim, mf_error *err)
{
    if (memchr(s, '\0', len))
        return mf_error_set(err, MF_ERR_PARSE,
                            "property list has a NUL character inside (not allowed in XML)");
    unsigned long depth = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '<')
            continue;
        const char *p = s + i + 1;
        size_t left = len - i - 1;
        bool closing = left > 0 && *p == '/';
        if (closing) {
            p++;
            left--;
        }
        size_t n = 0;
        if (left >= 5 && memcmp(p, "array", 5) == 0)
            n = 5;
        else if (left >= 4 && memcmp(p, "dict", 4) == 0)
            n = 4;
        if (!n)
            continue;
        /* Find the end of the tag to tell <dict> from <dict/>. */
        size_t j = n;
        while (j < left && p[j] != '>')
            j++;
        bool selfclose = j < left && j > n && p[j - 1] == '/';
        if (closing) {
            if (depth > 0)
                depth--;
        } else if (!selfclose &&
                   (n == left || p[n] == '>' || p[n] == '/' || isspace((unsigned char)p[n]))) {
            if (++depth > lim.depth)
                return mf_error_set(err, MF_ERR_PARSE, "property list nests deeper than %u levels",
                                    lim.depth);
        }
    }
    return MF_OK;
}

/* After libplist has read an XML plist: count its values (dict keys too) against the
 * limit, measure its depth in levels the way the binary guard does (the value at the
 * bottom counts, which xml_guard's container count cannot see), and check once more
 * that no string holds a NUL. Recursion is bounded by xml_guard's estimate. */
static mf_code xml_measure(plist_t n, unsigned level, limits lim, uint32_t *values, mf_error *err)
{
    if (level > lim.depth)
        return mf_error_set(err, MF_ERR_PARSE, "property list nests deeper than %u levels",
                            lim.depth);
    if (++*values > lim.values)
        return mf_error_set(err, MF_ERR_PARSE, "property list has more than %u values",
                            (unsigned)lim.values);
    mf_code rc = MF_OK;
    switch (plist_get_node_type(n)) {
    case PLIST_STRING: {
        uint64_t slen = 0;
        const char *s = plist_get_string_ptr(n, &slen);
        if (s && strlen(s) != slen)
            return mf_error_set(err, MF_ERR_PARSE,
                                "property list has a string containing a NUL character");
        return MF_OK;
    }
    case PLIST_ARRAY: {
        uint32_t cnt = plist_array_get_size(n);
        for (uint32_t i = 0; rc == MF_OK && i < cnt; i++)
            rc = xml_measure(plist_array_get_item(n, i), level + 1, lim, values, err);
        return rc;
    }
    case PLIST_DICT: {
        plist_dict_iter it = NULL;
        plist_dict_new_iter(n, &it);
        if (!it)
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        for (;;) {
            char *key = NULL;
            plist_t v = NULL;
            plist_dict_next_item(n, it, &key, &v);
            free(key);
            if (!v)
                break;
            if (++*values > lim.values) {
                rc = mf_error_set(err, MF_ERR_PARSE, "property list has more than %u values",
                                  (unsigned)lim.values);
                break;
            }
            if ((rc = xml_measure(v, level + 1, lim, values, err)) != MF_OK)
                break;
        }
        free(it);
        return rc;
    }
    default:
        return MF_OK;
    }
}

/* ---------------------------------------------------------------- parsing */

mf_code mf_plist_parse_limited(const char *data, size_t len, const mf_plist_limits *lim,
                               plist_t *out, mf_error *err)
{
    *out = NULL;
    limits l = limits_of(lim);
    if (!data || len == 0)
        return mf_error_set(err, MF_ERR_PARSE, "empty file, expected a property list");
    if (len >= UINT32_MAX)
        return mf_error_set(err, MF_ERR_TOOBIG, "property list of %zu bytes is too large", len);
    plist_t p = NULL;
    if (len >= 6 && memcmp(data, "bplist", 6) == 0) {
        if (len < 8 || memcmp(data + 6, "00", 2) != 0)
            return mf_error_set(err, MF_ERR_PARSE,
                                "binary property list version \"%.2s\" is not supported "
                                "(only bplist00)",
                                len >= 8 ? data + 6 : "?");
        mf_code rc = bplist_guard(data, len, l, err);
        if (rc != MF_OK)
            return rc;
        plist_from_bin(data, (uint32_t)len, &p);
        if (!p)
            return mf_error_set(err, MF_ERR_PARSE,
                                "not a valid binary property list (truncated or corrupt)");
        *out = p;
        return MF_OK;
    }
    /* XML: skip a UTF-8 byte order mark and leading white space; drop trailing NULs
     * (some writers terminate the file with one). */
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && isspace((unsigned char)data[i]))
        i++;
    while (len > i && data[len - 1] == '\0')
        len--;
    if (i == len || data[i] != '<')
        return mf_error_set(err, MF_ERR_PARSE,
                            "not a property list: neither binary (bplist00) nor XML");
    mf_code rc = xml_guard(data + i, len - i, l, err);
    if (rc != MF_OK)
        return rc;
    /* libplist reads XML as a C string in places: give it a terminated copy. */
    char *copy = malloc(len - i + 1);
    if (!copy)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    memcpy(copy, data + i, len - i);
    copy[len - i] = '\0';
    plist_from_xml(copy, (uint32_t)(len - i), &p);
    free(copy);
    if (!p)
        return mf_error_set(err, MF_ERR_PARSE,
                            "not a valid XML property list (syntax error, unknown element or "
                            "truncated)");
    uint32_t values = 0;
    if ((rc = xml_measure(p, 1, l, &values, err)) != MF_OK) {
        plist_free(p);
        return rc;
    }
    *out = p;
    return MF_OK;
}

mf_code mf_plist_parse(const char *data, size_t len, plist_t *out, mf_error *err)
{
    return mf_plist_parse_limited(data, len, NULL, out, err);
}

mf_code mf_plist_load(const char *path, size_t cap, plist_t *out, mf_error *err)
{
    *out = NULL;
    char *data = NULL;
    size_t len = 0;
    mf_code rc = mf_file_read(path, cap, &data, &len, err);
    if (rc != MF_OK)
        return rc;
    rc = mf_plist_parse(data, len, out, err);
    mf_error_set_file(err, path);
    free(data);
    return rc;
}

/* ---------------------------------------------------------------- readers */

static plist_t item(plist_t dict, const char *key)
{
    if (!dict || !key || plist_get_node_type(dict) != PLIST_DICT)
        return NULL;
    return plist_dict_get_item(dict, key);
}

const char *mf_plist_str(plist_t dict, const char *key)
{
    plist_t v = item(dict, key);
    if (!v || plist_get_node_type(v) != PLIST_STRING)
        return NULL;
    return plist_get_string_ptr(v, NULL);
}

/* s without the white space around it, as a bounded copy in buf; false if too long. */
static bool trimmed(const char *s, char *buf, size_t bufsz)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= bufsz)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

bool mf_plist_int(plist_t dict, const char *key, long long *out)
{
    plist_t v = item(dict, key);
    if (!v)
        return false;
    switch (plist_get_node_type(v)) {
    case PLIST_UINT: {
        uint64_t u = 0;
        plist_get_uint_val(v, &u);
        /* libplist 2.2 keeps negative integers as their two's complement. */
        *out = (long long)u;
        return true;
    }
    case PLIST_REAL: {
        double d = 0;
        plist_get_real_val(v, &d);
        /* In range first, so the cast is defined; no libm needed. */
        if (!isfinite(d) || d < -9.0e18 || d > 9.0e18 || (double)(long long)d != d)
            return false;
        *out = (long long)d;
        return true;
    }
    case PLIST_STRING: {
        const char *s = plist_get_string_ptr(v, NULL);
        char buf[32];
        long long x;
        if (!s || !trimmed(s, buf, sizeof(buf)) || mf_parse_long(buf, LLONG_MIN, LLONG_MAX, &x))
            return false;
        *out = x;
        return true;
    }
    default:
        return false;
    }
}

bool mf_plist_port(plist_t dict, const char *key, const char *path, const char *where, int *port)
{
    long long v;
    if (!mf_plist_has(dict, key))
        return false;
    bool number = mf_plist_int(dict, key, &v);
    if (number && v >= 1 && v <= 65535) {
        *port = (int)v;
        return true;
    }
    if (!(number && v == 0))
        mf_log_warn("%s: %s.%s: not a port number; using the default port", path, where, key);
    return false;
}

bool mf_plist_bool(plist_t dict, const char *key, bool *out)
{
    plist_t v = item(dict, key);
    if (!v)
        return false;
    switch (plist_get_node_type(v)) {
    case PLIST_BOOLEAN: {
        uint8_t b = 0;
        plist_get_bool_val(v, &b);
        *out = b != 0;
        return true;
    }
    case PLIST_UINT: {
        uint64_t u = 0;
        plist_get_uint_val(v, &u);
        if (u > 1)
            return false;
        *out = u == 1;
        return true;
    }
    case PLIST_STRING: {
        const char *s = plist_get_string_ptr(v, NULL);
        char buf[8];
        if (!s || !trimmed(s, buf, sizeof(buf)))
            return false;
        if (!strcasecmp(buf, "yes") || !strcasecmp(buf, "true") || !strcmp(buf, "1")) {
            *out = true;
            return true;
        }
        if (!strcasecmp(buf, "no") || !strcasecmp(buf, "false") || !strcmp(buf, "0")) {
            *out = false;
            return true;
        }
        return false;
    }
    default:
        return false;
    }
}

plist_t mf_plist_array(plist_t dict, const char *key)
{
    plist_t v = item(dict, key);
    return v && plist_get_node_type(v) == PLIST_ARRAY ? v : NULL;
}

plist_t mf_plist_dict(plist_t dict, const char *key)
{
    plist_t v = item(dict, key);
    return v && plist_get_node_type(v) == PLIST_DICT ? v : NULL;
}

bool mf_plist_has(plist_t dict, const char *key)
{
    return item(dict, key) != NULL;
}

const char *mf_plist_type_name(plist_t node)
{
    if (!node)
        return "nothing";
    switch (plist_get_node_type(node)) {
    case PLIST_BOOLEAN:
        return "a boolean";
    case PLIST_UINT:
        return "an integer";
    case PLIST_REAL:
        return "a real";
    case PLIST_STRING:
        return "a string";
    case PLIST_ARRAY:
        return "an array";
    case PLIST_DICT:
        return "a dict";
    case PLIST_DATE:
        return "a date";
    case PLIST_DATA:
        return "data";
    case PLIST_KEY:
        return "a key";
    case PLIST_UID:
        return "a UID";
    default:
        return "an unknown value";
    }
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

char *mf_plist_text(const char *s, size_t max)
{
    if (!s)
        return NULL;
    size_t len = strlen(s);
    /* Each input byte yields at most 3 output bytes (U+FFFD). */
    size_t alloc = len > max / 3 ? max : len * 3;
    char *out = malloc(alloc + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        /* utf8_seq reads at most 4 bytes but stops at a NUL, which fails every
         * continuation test, so it never reads past the terminator. */
        size_t n = utf8_seq(p);
        const unsigned char *src = p;
        size_t take = n;
        if (n == 0) {
            src = (const unsigned char *)"\xEF\xBF\xBD";
            take = 3;
            n = 1;
        }
        if (o + take > alloc)
            break;
        memcpy(out + o, src, take);
        o += take;
        p += n;
    }
    out[o] = '\0';
    return out;
}

/* True when word (lower-case) occurs in s, ignoring ASCII case. */
static bool contains_nocase(const char *s, const char *word)
{
    size_t wl = strlen(word);
    for (; *s; s++)
        if (strncasecmp(s, word, wl) == 0)
            return true;
    return false;
}

bool mf_plist_key_is_secret(const char *key)
{
    static const char *const words[] = {"password", "passwd", "token", "secret", "credential"};
    if (!key)
        return false;
    for (size_t i = 0; i < MF_ARRAY_LEN(words); i++)
        if (contains_nocase(key, words[i]))
            return true;
    return false;
}

mf_code mf_plist_text_at(char **out, plist_t dict, const char *key, bool skip_empty)
{
    *out = NULL;
    if (mf_plist_key_is_secret(key))
        return MF_ERR_INTERNAL;
    const char *s = mf_plist_str(dict, key);
    if (!s || (skip_empty && !*s))
        return MF_OK;
    *out = mf_plist_text(s, MF_PLIST_TEXT_MAX);
    return *out ? MF_OK : MF_ERR_NOMEM;
}

static mf_code push_text(mf_strv *sv, const char *s, size_t max)
{
    if (!s || !*s || sv->n >= max)
        return MF_OK;
    char *t = mf_plist_text(s, MF_PLIST_TEXT_MAX);
    if (!t)
        return MF_ERR_NOMEM;
    if (mf_strv_contains(sv, t)) {
        free(t);
        return MF_OK;
    }
    return mf_strv_push_owned(sv, t);
}

mf_code mf_plist_strv_at(mf_strv *out, plist_t dict, const char *key, size_t max)
{
    if (mf_plist_key_is_secret(key))
        return MF_ERR_INTERNAL;
    plist_t v = item(dict, key);
    if (!v)
        return MF_OK;
    if (plist_get_node_type(v) == PLIST_STRING)
        return push_text(out, plist_get_string_ptr(v, NULL), max);
    if (plist_get_node_type(v) != PLIST_ARRAY)
        return MF_OK;
    uint32_t n = plist_array_get_size(v);
    for (uint32_t i = 0; i < n && out->n < max; i++) {
        plist_t e = plist_array_get_item(v, i);
        if (e && plist_get_node_type(e) == PLIST_STRING) {
            mf_code rc = push_text(out, plist_get_string_ptr(e, NULL), max);
            if (rc != MF_OK)
                return rc;
        }
    }
    return MF_OK;
}

/* ---------------------------------------------------------------- problems */

void mf_plist_issues_init(mf_plist_issues *is, const char *path)
{
    memset(is, 0, sizeof(*is));
    is->path = path ? path : "";
    is->status = MF_SRC_OK;
}

void mf_plist_issue(mf_plist_issues *is, mf_source_status status, const char *fmt, ...)
{
    char msg[MF_ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mf_log_warn("%s: %s", is->path, msg);
    if (is->count++ == 0) {
        is->status = status;
        mf_strlcpy(is->first, msg, sizeof(is->first));
    }
}

mf_code mf_plist_issues_apply(const mf_plist_issues *is, mf_report *r, int idx, mf_error *err)
{
    if (is->count == 0)
        return MF_OK;
    char msg[MF_ERROR_FILE_MAX + MF_ERROR_TEXT_MAX + 64];
    if (is->count > 1)
        snprintf(msg, sizeof(msg), "%s: %s (and %u more problem%s)", is->path, is->first,
                 is->count - 1, is->count > 2 ? "s" : "");
    else
        snprintf(msg, sizeof(msg), "%s: %s", is->path, is->first);
    mf_report_source_fail(r, idx, is->status, msg);
    mf_code code = is->status == MF_SRC_UNREADABLE  ? MF_ERR_UNSUPPORTED
                   : is->status == MF_SRC_TOO_LARGE ? MF_ERR_TOOBIG
                                                    : MF_ERR_PARSE;
    mf_error_set_file(err, is->path);
    return mf_error_set(err, code, "%s", is->first);
}
