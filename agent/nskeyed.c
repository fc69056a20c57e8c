/* nskeyed.c: NSKeyedArchiver archives and ZVALUE blobs to plain libplist trees.
 * See nskeyed.h for the mapping. */
#include "nskeyed.h"
#include "plist_util.h"
#include "util.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct decoder {
    plist_t objects; /* the $objects array (borrowed) */
    uint32_t nobjects;
    unsigned char *busy; /* busy[i]: $objects[i] is being decoded (cycle detection) */
    size_t nodes;        /* output nodes made so far */
    mf_error *err;
} decoder;

static mf_code decode_node(decoder *d, plist_t node, int depth, plist_t *out);

const char *mf_nskeyed_kind_name(mf_nskeyed_kind k)
{
    switch (k) {
    case MF_NSKEYED_ARCHIVE:
        return "archive";
    case MF_NSKEYED_PLIST:
        return "plist";
    case MF_NSKEYED_TEXT:
        return "text";
    case MF_NSKEYED_NONE:
        break;
    }
    return "none";
}

static plist_type node_type(plist_t node)
{
    return node ? plist_get_node_type(node) : PLIST_NONE;
}

/* A UID: a PLIST_UID node (binary plists) or the XML spelling {"CF$UID": <integer>},
 * which libplist 2.2 leaves as a one-entry dictionary. */
static bool get_uid(plist_t node, uint64_t *out)
{
    plist_type t = node_type(node);
    if (t == PLIST_UID) {
        plist_get_uid_val(node, out);
        return true;
    }
    if (t == PLIST_DICT && plist_dict_get_size(node) == 1) {
        plist_t v = plist_dict_get_item(node, "CF$UID");
        if (node_type(v) == PLIST_UINT) {
            plist_get_uint_val(v, out);
            return true;
        }
    }
    return false;
}

static mf_code count_node(decoder *d)
{
    if (++d->nodes > MF_NSKEYED_MAX_NODES)
        return mf_error_set(d->err, MF_ERR_INVALID,
                            "NSKeyedArchiver archive expands to more than %u values",
                            MF_NSKEYED_MAX_NODES);
    return MF_OK;
}

static mf_code check_depth(decoder *d, int depth)
{
    if (depth > MF_NSKEYED_MAX_DEPTH)
        return mf_error_set(d->err, MF_ERR_INVALID,
                            "NSKeyedArchiver archive is nested deeper than %d levels",
                            MF_NSKEYED_MAX_DEPTH);
    return MF_OK;
}

static mf_code check_uid(decoder *d, uint64_t uid)
{
    if (uid >= d->nobjects)
        return mf_error_set(d->err, MF_ERR_INVALID,
                            "NSKeyedArchiver archive: UID %" PRIu64
                            " is out of range ($objects has %" PRIu32 " entries)",
                            uid, d->nobjects);
    return MF_OK;
}

/* The object $objects[uid], decoded. */
static mf_code resolve(decoder *d, uint64_t uid, int depth, plist_t *out);

/* An inline array, or an array one UID hop away (raw, not decoded). NULL otherwise. */
static plist_t raw_array(decoder *d, plist_t node)
{
    uint64_t uid;
    if (get_uid(node, &uid)) {
        if (uid >= d->nobjects)
            return NULL;
        node = plist_array_get_item(d->objects, (uint32_t)uid);
    }
    return node_type(node) == PLIST_ARRAY ? node : NULL;
}

static mf_code new_node(decoder *d, plist_t made, plist_t *out)
{
    if (!made)
        return mf_error_set(d->err, MF_ERR_NOMEM, "out of memory");
    *out = made;
    return MF_OK;
}

/* Items of arr decoded into a new array; nil items are left out (NSArray cannot hold
 * nil, so a "$null" item is damage we skip rather than invent a value for). */
static mf_code decode_array(decoder *d, plist_t arr, int depth, plist_t *out)
{
    *out = NULL;
    mf_code rc = count_node(d);
    if (rc)
        return rc;
    plist_t res = plist_new_array();
    if (!res)
        return mf_error_set(d->err, MF_ERR_NOMEM, "out of memory");
    uint32_t n = plist_array_get_size(arr);
    for (uint32_t i = 0; i < n; i++) {
        plist_t item = NULL;
        if ((rc = decode_node(d, plist_array_get_item(arr, i), depth, &item)))
            goto out;
        if (item)
            plist_array_append_item(res, item);
    }
out:
    if (rc)
        plist_free(res);
    else
        *out = res;
    return rc;
}

/* A dictionary key from a decoded value: a string, or an integer as decimal text. */
static mf_code key_text(decoder *d, plist_t key, char *buf, size_t bufsz, const char **out)
{
    *out = NULL;
    plist_type t = node_type(key);
    if (t == PLIST_STRING) {
        *out = plist_get_string_ptr(key, NULL);
        return MF_OK;
    }
    if (t == PLIST_UINT) {
        uint64_t v = 0;
        plist_get_uint_val(key, &v);
        snprintf(buf, bufsz, "%" PRIu64, v);
        *out = buf;
        return MF_OK;
    }
    return mf_error_set(d->err, MF_ERR_INVALID,
                        "NSKeyedArchiver archive: a dictionary key is not a string");
}

/* NSDictionary: NS.keys[i] -> NS.objects[i]. */
static mf_code decode_ns_dict(decoder *d, plist_t keys, plist_t objs, int depth, plist_t *out)
{
    *out = NULL;
    mf_code rc = count_node(d);
    if (rc)
        return rc;
    uint32_t n = plist_array_get_size(keys);
    if (n > MF_NSKEYED_MAX_DICT_KEYS)
        return mf_error_set(d->err, MF_ERR_INVALID,
                            "NSKeyedArchiver archive: a dictionary has %" PRIu32
                            " keys, the limit is %u",
                            n, MF_NSKEYED_MAX_DICT_KEYS);
    if (n != plist_array_get_size(objs))
        return mf_error_set(d->err, MF_ERR_INVALID,
                            "NSKeyedArchiver archive: NS.keys has %" PRIu32
                            " entries but NS.objects has %" PRIu32,
                            n, plist_array_get_size(objs));
    plist_t res = plist_new_dict();
    if (!res)
        return mf_error_set(d->err, MF_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        plist_t k = NULL, v = NULL;
        const char *name;
        char num[32];
        if ((rc = decode_node(d, plist_array_get_item(keys, i), depth, &k)))
            goto out;
        if (!k) { /* a nil key: nothing can be looked up under it */
            rc = mf_error_set(d->err, MF_ERR_INVALID,
                              "NSKeyedArchiver archive: a dictionary key is nil");
            goto out;
        }
        if ((rc = key_text(d, k, num, sizeof(num), &name)) ||
            (rc = decode_node(d, plist_array_get_item(objs, i), depth, &v))) {
            plist_free(k);
            goto out;
        }
        if (v)
            plist_dict_set_item(res, name, v);
        plist_free(k);
    }
out:
    if (rc)
        plist_free(res);
    else
        *out = res;
    return rc;
}

/* A dictionary in $objects without $class (or any dictionary found inline): its values
 * decoded, keys kept. */
static mf_code decode_plain_dict(decoder *d, plist_t dict, int depth, bool drop_class, plist_t *out)
{
    *out = NULL;
    mf_code rc = count_node(d);
    if (rc)
        return rc;
    if (plist_dict_get_size(dict) > MF_NSKEYED_MAX_DICT_KEYS)
        return mf_error_set(d->err, MF_ERR_INVALID,
                            "NSKeyedArchiver archive: an object has more than %u members",
                            MF_NSKEYED_MAX_DICT_KEYS);
    plist_t res = plist_new_dict();
    if (!res)
        return mf_error_set(d->err, MF_ERR_NOMEM, "out of memory");
    plist_dict_iter it = NULL;
    plist_dict_new_iter(dict, &it);
    if (!it) {
        plist_free(res);
        return mf_error_set(d->err, MF_ERR_NOMEM, "out of memory");
    }
    for (;;) {
        char *key = NULL;
        plist_t val = NULL, dec = NULL;
        plist_dict_next_item(dict, it, &key, &val);
        if (!val) {
            free(key);
            break;
        }
        if (!key || (drop_class && strcmp(key, "$class") == 0)) {
            free(key);
            continue;
        }
        rc = decode_node(d, val, depth, &dec);
        if (rc == MF_OK && dec)
            plist_dict_set_item(res, key, dec);
        free(key);
        if (rc)
            break;
    }
    free(it);
    if (rc)
        plist_free(res);
    else
        *out = res;
    return rc;
}

/* The decoded value of member `key` of a class object, which must have type want.
 * *out NULL when the member is nil. */
static mf_code member_of_type(decoder *d, plist_t member, const char *key, plist_type want,
                              const char *what, int depth, plist_t *out)
{
    mf_code rc = decode_node(d, member, depth, out);
    if (rc || !*out)
        return rc;
    if (node_type(*out) != want) {
        plist_free(*out);
        *out = NULL;
        return mf_error_set(d->err, MF_ERR_INVALID, "NSKeyedArchiver archive: %s is not %s", key,
                            what);
    }
    return MF_OK;
}

static mf_code decode_uuid(decoder *d, plist_t member, int depth, plist_t *out)
{
    plist_t data = NULL;
    mf_code rc = member_of_type(d, member, "NS.uuidbytes", PLIST_DATA, "data", depth, &data);
    if (rc || !data)
        return rc;
    uint64_t n = 0;
    const unsigned char *b = (const unsigned char *)plist_get_data_ptr(data, &n);
    if (n != 16 || !b) {
        plist_free(data);
        return mf_error_set(
            d->err, MF_ERR_INVALID,
            "NSKeyedArchiver archive: NS.uuidbytes is %" PRIu64 " bytes, expected 16", n);
    }
    char text[37];
    snprintf(text, sizeof(text),
             "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    plist_free(data);
    return new_node(d, plist_new_string(text), out);
}

static mf_code decode_time(decoder *d, plist_t member, int depth, plist_t *out)
{
    plist_t v = NULL;
    mf_code rc = decode_node(d, member, depth, &v);
    if (rc || !v)
        return rc;
    double t = 0;
    if (node_type(v) == PLIST_REAL) {
        plist_get_real_val(v, &t);
    } else if (node_type(v) == PLIST_UINT) {
        uint64_t u = 0;
        plist_get_uint_val(v, &u);
        t = (double)u;
    } else {
        plist_free(v);
        return mf_error_set(d->err, MF_ERR_INVALID,
                            "NSKeyedArchiver archive: NS.time is not a number");
    }
    plist_free(v);
    /* libplist 2.2 dates are 32-bit seconds since 2001-01-01, like NS.time. */
    if (!(t >= (double)INT32_MIN && t < (double)INT32_MAX)) /* also NaN */
        return mf_error_set(d->err, MF_ERR_INVALID,
                            "NSKeyedArchiver archive: NS.time is out of range");
    /* floor() without libm: t is in int32 range here, so the cast is defined. */
    double sec = (double)(int64_t)t;
    if (sec > t)
        sec -= 1.0;
    return new_node(d, plist_new_date((int32_t)sec, (int32_t)((t - sec) * 1e6)), out);
}

/* An object with a $class: unwrap the Foundation wrappers by their members. */
static mf_code decode_class_object(decoder *d, plist_t obj, int depth, plist_t *out)
{
    *out = NULL;
    uint64_t cuid;
    plist_t cls = NULL;
    if (get_uid(plist_dict_get_item(obj, "$class"), &cuid) && cuid < d->nobjects)
        cls = plist_array_get_item(d->objects, (uint32_t)cuid);
    plist_t cname = node_type(cls) == PLIST_DICT ? plist_dict_get_item(cls, "$classname") : NULL;
    if (node_type(cname) != PLIST_STRING)
        return mf_error_set(d->err, MF_ERR_INVALID,
                            "NSKeyedArchiver archive: $class does not name a class "
                            "dictionary with a $classname");

    plist_t m;
    plist_t keys = plist_dict_get_item(obj, "NS.keys");
    plist_t objs = plist_dict_get_item(obj, "NS.objects");
    if (keys || objs) {
        plist_t ka = keys ? raw_array(d, keys) : NULL;
        plist_t oa = raw_array(d, objs);
        if ((keys && !ka) || !oa)
            return mf_error_set(
                d->err, MF_ERR_INVALID, "NSKeyedArchiver archive: %s of %s is not an array",
                (keys && !ka) ? "NS.keys" : "NS.objects", plist_get_string_ptr(cname, NULL));
        return ka ? decode_ns_dict(d, ka, oa, depth, out) : decode_array(d, oa, depth, out);
    }
    if ((m = plist_dict_get_item(obj, "NS.string")))
        return member_of_type(d, m, "NS.string", PLIST_STRING, "a string", depth, out);
    if ((m = plist_dict_get_item(obj, "NS.bytes")))
        return member_of_type(d, m, "NS.bytes", PLIST_DATA, "data", depth, out);
    if ((m = plist_dict_get_item(obj, "NS.uuidbytes")))
        return decode_uuid(d, m, depth, out);
    if ((m = plist_dict_get_item(obj, "NS.time")))
        return decode_time(d, m, depth, out);
    if ((m = plist_dict_get_item(obj, "NS.intval")))
        return member_of_type(d, m, "NS.intval", PLIST_UINT, "an integer", depth, out);
    if ((m = plist_dict_get_item(obj, "NS.dblval")))
        return member_of_type(d, m, "NS.dblval", PLIST_REAL, "a real", depth, out);

    /* Some other class: keep its members so nothing is lost, and say what it was. */
    mf_code rc = decode_plain_dict(d, obj, depth, true, out);
    if (rc == MF_OK) {
        plist_t name = plist_new_string(plist_get_string_ptr(cname, NULL));
        if (!name) {
            plist_free(*out);
            *out = NULL;
            return mf_error_set(d->err, MF_ERR_NOMEM, "out of memory");
        }
        plist_dict_set_item(*out, "$classname", name);
    }
    return rc;
}

/* One value that is not a UID reference. */
static mf_code decode_object(decoder *d, plist_t obj, int depth, plist_t *out)
{
    *out = NULL;
    uint64_t uid;
    mf_code rc = check_depth(d, depth);
    if (rc)
        return rc;
    switch (node_type(obj)) {
    case PLIST_STRING: {
        uint64_t len = 0;
        const char *s = plist_get_string_ptr(obj, &len);
        if (!s || strlen(s) != len)
            return mf_error_set(d->err, MF_ERR_INVALID,
                                "NSKeyedArchiver archive: a string contains a NUL character");
        if (strcmp(s, "$null") == 0)
            return MF_OK; /* nil */
        if ((rc = count_node(d)))
            return rc;
        /* A new node rather than plist_copy(): libplist 2.2's copy of a string keeps a
         * length that can disagree with the copied bytes. */
        return new_node(d, plist_new_string(s), out);
    }
    case PLIST_BOOLEAN:
    case PLIST_UINT:
    case PLIST_REAL:
    case PLIST_DATA:
    case PLIST_DATE:
        if ((rc = count_node(d)))
            return rc;
        return new_node(d, plist_copy(obj), out);
    case PLIST_UID:
        if (get_uid(obj, &uid))
            return resolve(d, uid, depth + 1, out);
        break;
    case PLIST_ARRAY:
        return decode_array(d, obj, depth + 1, out);
    case PLIST_DICT:
        if (get_uid(obj, &uid)) /* {"CF$UID": n} */
            return resolve(d, uid, depth + 1, out);
        if (plist_dict_get_item(obj, "$class"))
            return decode_class_object(d, obj, depth + 1, out);
        return decode_plain_dict(d, obj, depth + 1, false, out);
    default:
        break;
    }
    return mf_error_set(d->err, MF_ERR_INVALID,
                        "NSKeyedArchiver archive: a value of unexpected type");
}

static mf_code resolve(decoder *d, uint64_t uid, int depth, plist_t *out)
{
    *out = NULL;
    mf_code rc = check_uid(d, uid);
    if (rc)
        return rc;
    if (d->busy[uid])
        return mf_error_set(d->err, MF_ERR_INVALID,
                            "NSKeyedArchiver archive: UID %" PRIu64
                            " refers back to an object that contains it (a cycle)",
                            uid);
    d->busy[uid] = 1;
    rc = decode_object(d, plist_array_get_item(d->objects, (uint32_t)uid), depth, out);
    d->busy[uid] = 0;
    return rc;
}

/* A member value: a UID to follow, or an inline value. */
static mf_code decode_node(decoder *d, plist_t node, int depth, plist_t *out)
{
    *out = NULL;
    mf_code rc = check_depth(d, depth);
    if (rc)
        return rc;
    uint64_t uid;
    if (get_uid(node, &uid))
        return resolve(d, uid, depth + 1, out);
    return decode_object(d, node, depth, out);
}

bool mf_nskeyed_is_archive(plist_t root)
{
    if (node_type(root) != PLIST_DICT)
        return false;
    plist_t archiver = plist_dict_get_item(root, "$archiver");
    if (archiver && node_type(archiver) != PLIST_STRING)
        return false;
    return node_type(plist_dict_get_item(root, "$top")) == PLIST_DICT &&
           node_type(plist_dict_get_item(root, "$objects")) == PLIST_ARRAY;
}

mf_code mf_nskeyed_decode(plist_t *out, plist_t archive, mf_error *err)
{
    *out = NULL;
    if (!mf_nskeyed_is_archive(archive))
        return mf_error_set(err, MF_ERR_INVALID,
                            "not an NSKeyedArchiver archive (no $top dictionary and "
                            "$objects array)");
    plist_t top = plist_dict_get_item(archive, "$top");
    plist_t root = plist_dict_get_item(top, "root");
    if (!root && plist_dict_get_size(top) == 1) {
        plist_dict_iter it = NULL;
        plist_dict_new_iter(top, &it);
        if (!it)
            return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        char *key = NULL;
        plist_dict_next_item(top, it, &key, &root);
        free(key);
        free(it);
    }
    uint64_t uid;
    if (!root)
        return mf_error_set(err, MF_ERR_INVALID, "NSKeyedArchiver archive: $top has no root");
    if (!get_uid(root, &uid))
        return mf_error_set(err, MF_ERR_INVALID, "NSKeyedArchiver archive: $top.root is not a UID");
    decoder d = {0};
    d.objects = plist_dict_get_item(archive, "$objects");
    d.nobjects = plist_array_get_size(d.objects);
    d.err = err;
    d.busy = calloc(d.nobjects ? d.nobjects : 1, 1);
    if (!d.busy)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    mf_code rc = resolve(&d, uid, 1, out);
    free(d.busy);
    return rc;
}

static bool has_prefix(const unsigned char *p, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(p, prefix, k) == 0;
}

/* Binary plists begin with "bplist"; XML plists (after an optional UTF-8 byte order
 * mark and white space) with an XML declaration, the plist DOCTYPE or <plist. */
static bool looks_binary(const unsigned char *p, size_t n)
{
    return has_prefix(p, n, "bplist");
}

static bool looks_xml(const unsigned char *p, size_t n)
{
    if (has_prefix(p, n, "\xEF\xBB\xBF")) {
        p += 3;
        n -= 3;
    }
    while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
        n--;
    }
    return has_prefix(p, n, "<?xml") || has_prefix(p, n, "<!DOCTYPE plist") ||
           has_prefix(p, n, "<plist");
}

/* Limits for the plist a ZVALUE is, checked by mf_plist_parse_limited before libplist
 * builds anything (libplist 2.2 copies a shared object once per reference, recurses
 * per nesting level and cuts strings at a NUL): at most MF_NSKEYED_MAX_PLIST_NODES
 * values after expansion, and the nesting of a decoded value (MF_NSKEYED_MAX_DEPTH
 * below the root, so one more level counting the root). */
static const mf_plist_limits zvalue_limits = {
    .max_depth = MF_NSKEYED_MAX_DEPTH + 1,
    .max_values = MF_NSKEYED_MAX_PLIST_NODES,
};

/* Parse as a binary or XML plist; *out NULL and MF_ERR_PARSE when it is neither or
 * when the shared guard refuses it ("undecodable value: <why>"). */
static mf_code parse_plist(const unsigned char *p, size_t len, plist_t *out, mf_error *err)
{
    *out = NULL;
    if (len > MF_NSKEYED_MAX_BYTES)
        return mf_error_set(err, MF_ERR_TOOBIG, "value is %zu bytes, the limit is %u", len,
                            MF_NSKEYED_MAX_BYTES);
    if (!looks_binary(p, len) && !looks_xml(p, len))
        return mf_error_set(err, MF_ERR_PARSE, "not a plist (neither binary nor XML)");
    mf_error e;
    mf_error_clear(&e);
    mf_code rc = mf_plist_parse_limited((const char *)p, len, &zvalue_limits, out, &e);
    if (rc == MF_ERR_NOMEM)
        return mf_error_set(err, rc, "out of memory");
    if (rc != MF_OK)
        return mf_error_set(err, rc, "undecodable value: %s", e.text);
    return MF_OK;
}

mf_code mf_nskeyed_decode_mem(plist_t *out, const void *data, size_t len, mf_error *err)
{
    *out = NULL;
    plist_t p = NULL;
    mf_code rc = parse_plist(data, len, &p, err);
    if (rc == MF_OK)
        rc = mf_nskeyed_decode(out, p, err);
    plist_free(p);
    return rc;
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF) without
 * NUL or C0 control characters other than tab, CR and LF. */
static bool is_text(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return false;
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            unsigned b = s[i + k];
            if ((b & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (b & 0x3F);
        }
        if (need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
            return false;
        if (need == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            return false;
        i += need + 1;
    }
    return true;
}

mf_code mf_nskeyed_decode_blob(plist_t *out, mf_nskeyed_kind *kind_out, const void *data,
                               size_t len, mf_error *err)
{
    *out = NULL;
    if (kind_out)
        *kind_out = MF_NSKEYED_NONE;
    const unsigned char *p = data ? data : (const unsigned char *)"";
    if (!data)
        len = 0;
    if (len > MF_NSKEYED_MAX_BYTES)
        return mf_error_set(err, MF_ERR_TOOBIG, "value is %zu bytes, the limit is %u", len,
                            MF_NSKEYED_MAX_BYTES);
    mf_code rc;
    if (looks_binary(p, len) || looks_xml(p, len)) {
        plist_t pl = NULL;
        if ((rc = parse_plist(p, len, &pl, err)))
            return rc;
        if (mf_nskeyed_is_archive(pl)) {
            rc = mf_nskeyed_decode(out, pl, err);
            plist_free(pl);
            if (rc == MF_OK && kind_out)
                *kind_out = MF_NSKEYED_ARCHIVE;
            return rc;
        }
        /* A plain plist: parse_plist has bounded its depth and size and refused NUL
         * inside its strings already. */
        *out = pl;
        if (kind_out)
            *kind_out = MF_NSKEYED_PLIST;
        return MF_OK;
    }
    if (!is_text(p, len))
        return mf_error_set(err, MF_ERR_PARSE,
                            "undecodable value (%zu bytes): not an NSKeyedArchiver archive, "
                            "a plist or UTF-8 text",
                            len);
    char *s = mf_strndup((const char *)p, len);
    plist_t str = s ? plist_new_string(s) : NULL;
    free(s);
    if (!str)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    *out = str;
    if (kind_out)
        *kind_out = MF_NSKEYED_TEXT;
    return MF_OK;
}
