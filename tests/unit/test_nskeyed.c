/* test_nskeyed.c: NSKeyedArchiver decoding and the ZVALUE blob decoder. Archives are
 * built object by object here, so each test states exactly what is in $objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nskeyed.h"
#include "plist_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building archives ---- */

static plist_t new_objects(void)
{
    plist_t o = plist_new_array();
    plist_array_append_item(o, plist_new_string("$null"));
    return o;
}

static uint64_t add(plist_t objects, plist_t obj)
{
    plist_array_append_item(objects, obj);
    return plist_array_get_size(objects) - 1;
}

static uint64_t add_class(plist_t objects, const char *name)
{
    plist_t c = plist_new_dict();
    plist_t classes = plist_new_array();
    plist_array_append_item(classes, plist_new_string(name));
    plist_array_append_item(classes, plist_new_string("NSObject"));
    plist_dict_set_item(c, "$classes", classes);
    plist_dict_set_item(c, "$classname", plist_new_string(name));
    return add(objects, c);
}

static plist_t uid_array(int n, const uint64_t *uids)
{
    plist_t a = plist_new_array();
    for (int i = 0; i < n; i++)
        plist_array_append_item(a, plist_new_uid(uids[i]));
    return a;
}

/* Wraps objects (taken) into an archive whose $top.root is root. */
static plist_t make_archive(plist_t objects, uint64_t root)
{
    plist_t a = plist_new_dict();
    plist_dict_set_item(a, "$archiver", plist_new_string("NSKeyedArchiver"));
    plist_dict_set_item(a, "$version", plist_new_uint(100000));
    plist_t top = plist_new_dict();
    plist_dict_set_item(top, "root", plist_new_uid(root));
    plist_dict_set_item(a, "$top", top);
    plist_dict_set_item(a, "$objects", objects);
    return a;
}

static char *to_bin(plist_t p, size_t *len)
{
    char *b = NULL;
    uint32_t n = 0;
    plist_to_bin(p, &b, &n);
    assert_non_null(b);
    *len = n;
    return b;
}

/* Decode an archive through the memory entry point (binary form). */
static mf_code decode_bin(plist_t archive, plist_t *out, mf_error *err)
{
    size_t n;
    char *b = to_bin(archive, &n);
    mf_code rc = mf_nskeyed_decode_mem(out, b, n, err);
    free(b);
    return rc;
}

static const char *str(plist_t n)
{
    assert_non_null(n);
    assert_int_equal(plist_get_node_type(n), PLIST_STRING);
    return plist_get_string_ptr(n, NULL);
}

static uint64_t uint_of(plist_t n)
{
    uint64_t v = 0;
    assert_non_null(n);
    assert_int_equal(plist_get_node_type(n), PLIST_UINT);
    plist_get_uint_val(n, &v);
    return v;
}

/* ---- tests ---- */

static void test_inline_string(void **state)
{
    (void)state;
    plist_t o = new_objects();
    uint64_t s = add(o, plist_new_string("smtp.example.com"));
    plist_t a = make_archive(o, s);
    plist_t out = NULL;
    mf_error err;
    assert_int_equal(decode_bin(a, &out, &err), MF_OK);
    assert_string_equal(str(out), "smtp.example.com");
    plist_free(out);
    plist_free(a);
}

static void test_mutable_string_root_not_index_1(void **state)
{
    (void)state;
    plist_t o = new_objects();
    add(o, plist_new_string("decoy")); /* index 1 is not the root */
    uint64_t cls = add_class(o, "NSMutableString");
    plist_t w = plist_new_dict();
    plist_dict_set_item(w, "NS.string", plist_new_string("587"));
    plist_dict_set_item(w, "$class", plist_new_uid(cls));
    uint64_t root = add(o, w);
    assert_int_not_equal(root, 1);
    plist_t a = make_archive(o, root);
    plist_t out = NULL;
    assert_int_equal(decode_bin(a, &out, NULL), MF_OK);
    assert_string_equal(str(out), "587");
    plist_free(out);
    plist_free(a);
}

static void test_number_and_bool_inline(void **state)
{
    (void)state;
    plist_t o = new_objects();
    uint64_t n = add(o, plist_new_uint(465));
    plist_t a = make_archive(o, n);
    plist_t out = NULL;
    assert_int_equal(decode_bin(a, &out, NULL), MF_OK);
    assert_int_equal(uint_of(out), 465);
    plist_free(out);
    plist_free(a);

    o = new_objects();
    uint64_t b = add(o, plist_new_bool(1));
    a = make_archive(o, b);
    assert_int_equal(decode_bin(a, &out, NULL), MF_OK);
    assert_int_equal(plist_get_node_type(out), PLIST_BOOLEAN);
    plist_free(out);
    plist_free(a);
}

static void test_dictionary_array_set_data(void **state)
{
    (void)state;
    plist_t o = new_objects();
    uint64_t kh = add(o, plist_new_string("smtpHostname"));
    uint64_t vh = add(o, plist_new_string("smtp.mail.me.com"));
    uint64_t kp = add(o, plist_new_string("smtpPort"));
    uint64_t vp = add(o, plist_new_uint(587));
    uint64_t kn = add(o, plist_new_string("gone"));
    uint64_t ke = add(o, plist_new_string("emails"));
    uint64_t e1 = add(o, plist_new_string("a@example.com"));
    uint64_t e2 = add(o, plist_new_string("b@example.com"));
    uint64_t arr_cls = add_class(o, "NSArray");
    plist_t arr = plist_new_dict();
    plist_dict_set_item(arr, "NS.objects", uid_array(2, (uint64_t[]){e1, e2}));
    plist_dict_set_item(arr, "$class", plist_new_uid(arr_cls));
    uint64_t varr = add(o, arr);
    uint64_t kset = add(o, plist_new_string("set"));
    uint64_t set_cls = add_class(o, "NSSet");
    plist_t set = plist_new_dict();
    plist_dict_set_item(set, "NS.objects", uid_array(1, (uint64_t[]){e1}));
    plist_dict_set_item(set, "$class", plist_new_uid(set_cls));
    uint64_t vset = add(o, set);
    uint64_t kd = add(o, plist_new_string("blob"));
    uint64_t data_cls = add_class(o, "NSMutableData");
    plist_t data = plist_new_dict();
    plist_dict_set_item(data, "NS.bytes", plist_new_data("\x01\x02\x03", 3));
    plist_dict_set_item(data, "$class", plist_new_uid(data_cls));
    uint64_t vd = add(o, data);
    uint64_t dict_cls = add_class(o, "NSMutableDictionary");
    plist_t d = plist_new_dict();
    plist_dict_set_item(d, "NS.keys", uid_array(6, (uint64_t[]){kh, kp, kn, ke, kset, kd}));
    plist_dict_set_item(d, "NS.objects", uid_array(6, (uint64_t[]){vh, vp, 0, varr, vset, vd}));
    plist_dict_set_item(d, "$class", plist_new_uid(dict_cls));
    uint64_t root = add(o, d);
    plist_t a = make_archive(o, root);

    plist_t out = NULL;
    mf_error err;
    assert_int_equal(decode_bin(a, &out, &err), MF_OK);
    assert_int_equal(plist_get_node_type(out), PLIST_DICT);
    assert_string_equal(str(plist_dict_get_item(out, "smtpHostname")), "smtp.mail.me.com");
    assert_int_equal(uint_of(plist_dict_get_item(out, "smtpPort")), 587);
    assert_null(plist_dict_get_item(out, "gone")); /* $null value: absent */
    plist_t em = plist_dict_get_item(out, "emails");
    assert_int_equal(plist_get_node_type(em), PLIST_ARRAY);
    assert_int_equal(plist_array_get_size(em), 2);
    assert_string_equal(str(plist_array_get_item(em, 1)), "b@example.com");
    plist_t st = plist_dict_get_item(out, "set");
    assert_int_equal(plist_get_node_type(st), PLIST_ARRAY);
    assert_int_equal(plist_array_get_size(st), 1);
    plist_t bl = plist_dict_get_item(out, "blob");
    assert_int_equal(plist_get_node_type(bl), PLIST_DATA);
    uint64_t n = 0;
    const char *bytes = plist_get_data_ptr(bl, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(bytes, "\x01\x02\x03", 3);
    assert_int_equal(plist_dict_get_size(out), 5);
    plist_free(out);
    plist_free(a);
}

static void test_uuid_date_unknown_class(void **state)
{
    (void)state;
    plist_t o = new_objects();
    uint64_t ucls = add_class(o, "NSUUID");
    plist_t u = plist_new_dict();
    plist_dict_set_item(u, "NS.uuidbytes",
                        plist_new_data("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x23\x45\x67\x89"
                                       "\xab\xcd\xef",
                                       16));
    plist_dict_set_item(u, "$class", plist_new_uid(ucls));
    uint64_t vu = add(o, u);
    uint64_t dcls = add_class(o, "NSDate");
    plist_t dt = plist_new_dict();
    plist_dict_set_item(dt, "NS.time", plist_new_real(86400.5));
    plist_dict_set_item(dt, "$class", plist_new_uid(dcls));
    uint64_t vdt = add(o, dt);
    uint64_t ocls = add_class(o, "ACAccountCredential");
    uint64_t inner = add(o, plist_new_string("kept"));
    plist_t other = plist_new_dict();
    plist_dict_set_item(other, "member", plist_new_uid(inner));
    plist_dict_set_item(other, "$class", plist_new_uid(ocls));
    uint64_t vo = add(o, other);
    uint64_t acls = add_class(o, "NSArray");
    plist_t arr = plist_new_dict();
    plist_dict_set_item(arr, "NS.objects", uid_array(3, (uint64_t[]){vu, vdt, vo}));
    plist_dict_set_item(arr, "$class", plist_new_uid(acls));
    plist_t a = make_archive(o, add(o, arr));

    plist_t out = NULL;
    assert_int_equal(decode_bin(a, &out, NULL), MF_OK);
    assert_int_equal(plist_array_get_size(out), 3);
    assert_string_equal(str(plist_array_get_item(out, 0)), "12345678-9ABC-DEF0-0123-456789ABCDEF");
    plist_t date = plist_array_get_item(out, 1);
    assert_int_equal(plist_get_node_type(date), PLIST_DATE);
    int32_t sec = 0, usec = 0;
    plist_get_date_val(date, &sec, &usec);
    assert_int_equal(sec, 86400);
    assert_int_equal(usec, 500000);
    plist_t oth = plist_array_get_item(out, 2);
    assert_int_equal(plist_get_node_type(oth), PLIST_DICT);
    assert_string_equal(str(plist_dict_get_item(oth, "$classname")), "ACAccountCredential");
    assert_string_equal(str(plist_dict_get_item(oth, "member")), "kept");
    assert_null(plist_dict_get_item(oth, "$class"));
    plist_free(out);
    plist_free(a);
}

static void test_null_root(void **state)
{
    (void)state;
    plist_t a = make_archive(new_objects(), 0);
    plist_t out = (plist_t)1;
    assert_int_equal(decode_bin(a, &out, NULL), MF_OK);
    assert_null(out);
    plist_free(a);
}

static void test_xml_archive_with_cf_uid(void **state)
{
    (void)state;
    /* XML archives spell UIDs as {"CF$UID": n}; libplist 2.2 leaves them dictionaries. */
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<plist version=\"1.0\"><dict>"
        "<key>$archiver</key><string>NSKeyedArchiver</string>"
        "<key>$objects</key><array>"
        "<string>$null</string>"
        "<dict><key>NS.string</key><string>smtp.example.org</string>"
        "<key>$class</key><dict><key>CF$UID</key><integer>2</integer></dict></dict>"
        "<dict><key>$classname</key><string>NSMutableString</string>"
        "<key>$classes</key><array><string>NSMutableString</string></array></dict>"
        "</array>"
        "<key>$top</key><dict><key>root</key><dict><key>CF$UID</key><integer>1</integer>"
        "</dict></dict>"
        "<key>$version</key><integer>100000</integer>"
        "</dict></plist>\n";
    plist_t out = NULL;
    mf_nskeyed_kind kind;
    mf_error err;
    assert_int_equal(mf_nskeyed_decode_blob(&out, &kind, xml, strlen(xml), &err), MF_OK);
    assert_int_equal(kind, MF_NSKEYED_ARCHIVE);
    assert_string_equal(str(out), "smtp.example.org");
    plist_free(out);
}

static void test_top_without_root_key(void **state)
{
    (void)state;
    plist_t o = new_objects();
    uint64_t s = add(o, plist_new_string("only"));
    plist_t a = plist_new_dict();
    plist_t top = plist_new_dict();
    plist_dict_set_item(top, "$0", plist_new_uid(s));
    plist_dict_set_item(a, "$top", top);
    plist_dict_set_item(a, "$objects", o);
    plist_dict_set_item(a, "$archiver", plist_new_string("NSKeyedArchiver"));
    plist_t out = NULL;
    assert_int_equal(decode_bin(a, &out, NULL), MF_OK);
    assert_string_equal(str(out), "only");
    plist_free(out);
    plist_free(a);
}

static void expect_error(plist_t archive, mf_code want, const char *text)
{
    plist_t out = (plist_t)1;
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(decode_bin(archive, &out, &err), want);
    assert_null(out);
    if (!strstr(err.text, text))
        fail_msg("error \"%s\" does not mention \"%s\"", err.text, text);
    plist_free(archive);
}

static void test_cycle(void **state)
{
    (void)state;
    plist_t o = new_objects();
    uint64_t cls = add_class(o, "NSMutableArray");
    plist_t arr = plist_new_dict();
    plist_dict_set_item(arr, "NS.objects", uid_array(1, (uint64_t[]){2})); /* itself */
    plist_dict_set_item(arr, "$class", plist_new_uid(cls));
    uint64_t root = add(o, arr);
    assert_int_equal(root, 2);
    expect_error(make_archive(o, root), MF_ERR_INVALID, "cycle");

    /* A cycle through a wrapper: NS.string pointing at its own object. */
    o = new_objects();
    cls = add_class(o, "NSMutableString");
    plist_t w = plist_new_dict();
    plist_dict_set_item(w, "NS.string", plist_new_uid(2));
    plist_dict_set_item(w, "$class", plist_new_uid(cls));
    root = add(o, w);
    expect_error(make_archive(o, root), MF_ERR_INVALID, "cycle");
}

static void test_shared_reference_is_not_a_cycle(void **state)
{
    (void)state;
    plist_t o = new_objects();
    uint64_t s = add(o, plist_new_string("same"));
    uint64_t cls = add_class(o, "NSArray");
    plist_t arr = plist_new_dict();
    plist_dict_set_item(arr, "NS.objects", uid_array(3, (uint64_t[]){s, s, s}));
    plist_dict_set_item(arr, "$class", plist_new_uid(cls));
    plist_t a = make_archive(o, add(o, arr));
    plist_t out = NULL;
    assert_int_equal(decode_bin(a, &out, NULL), MF_OK);
    assert_int_equal(plist_array_get_size(out), 3);
    plist_free(out);
    plist_free(a);
}

static void test_uid_out_of_range(void **state)
{
    (void)state;
    plist_t o = new_objects();
    add(o, plist_new_string("x"));
    expect_error(make_archive(o, 99), MF_ERR_INVALID, "out of range");

    o = new_objects();
    uint64_t cls = add_class(o, "NSArray");
    plist_t arr = plist_new_dict();
    plist_dict_set_item(arr, "NS.objects", uid_array(1, (uint64_t[]){1000}));
    plist_dict_set_item(arr, "$class", plist_new_uid(cls));
    expect_error(make_archive(o, add(o, arr)), MF_ERR_INVALID, "out of range");
}

static void test_too_deep(void **state)
{
    (void)state;
    plist_t o = new_objects();
    uint64_t cls = add_class(o, "NSArray");
    uint64_t prev = add(o, plist_new_string("bottom"));
    for (int i = 0; i < 200; i++) {
        plist_t arr = plist_new_dict();
        plist_dict_set_item(arr, "NS.objects", uid_array(1, &prev));
        plist_dict_set_item(arr, "$class", plist_new_uid(cls));
        prev = add(o, arr);
    }
    expect_error(make_archive(o, prev), MF_ERR_INVALID, "deeper");
}

static void test_exponential_expansion_is_bounded(void **state)
{
    (void)state;
    /* Each level refers ten times to the one below: 10^7 values from 8 objects. */
    plist_t o = new_objects();
    uint64_t cls = add_class(o, "NSArray");
    uint64_t prev = add(o, plist_new_string("leaf"));
    for (int i = 0; i < 7; i++) {
        uint64_t ten[10];
        for (int k = 0; k < 10; k++)
            ten[k] = prev;
        plist_t arr = plist_new_dict();
        plist_dict_set_item(arr, "NS.objects", uid_array(10, ten));
        plist_dict_set_item(arr, "$class", plist_new_uid(cls));
        prev = add(o, arr);
    }
    expect_error(make_archive(o, prev), MF_ERR_INVALID, "more than");
}

static void test_bad_structures(void **state)
{
    (void)state;
    /* NS.keys and NS.objects of different lengths. */
    plist_t o = new_objects();
    uint64_t k = add(o, plist_new_string("k"));
    uint64_t cls = add_class(o, "NSDictionary");
    plist_t d = plist_new_dict();
    plist_dict_set_item(d, "NS.keys", uid_array(1, &k));
    plist_dict_set_item(d, "NS.objects", uid_array(2, (uint64_t[]){k, k}));
    plist_dict_set_item(d, "$class", plist_new_uid(cls));
    expect_error(make_archive(o, add(o, d)), MF_ERR_INVALID, "NS.keys has 1");

    /* More keys than a dictionary may have (libplist inserts in linear time). */
    o = new_objects();
    k = add(o, plist_new_string("k"));
    uint64_t *many = malloc(sizeof(uint64_t) * (MF_NSKEYED_MAX_DICT_KEYS + 1));
    assert_non_null(many);
    for (unsigned i = 0; i <= MF_NSKEYED_MAX_DICT_KEYS; i++)
        many[i] = k;
    cls = add_class(o, "NSDictionary");
    d = plist_new_dict();
    plist_dict_set_item(d, "NS.keys", uid_array(MF_NSKEYED_MAX_DICT_KEYS + 1, many));
    plist_dict_set_item(d, "NS.objects", uid_array(MF_NSKEYED_MAX_DICT_KEYS + 1, many));
    plist_dict_set_item(d, "$class", plist_new_uid(cls));
    free(many);
    expect_error(make_archive(o, add(o, d)), MF_ERR_INVALID, "the limit is");

    /* A dictionary key that is not a string. */
    o = new_objects();
    uint64_t dk = add(o, plist_new_data("zz", 2));
    uint64_t v = add(o, plist_new_string("v"));
    cls = add_class(o, "NSDictionary");
    d = plist_new_dict();
    plist_dict_set_item(d, "NS.keys", uid_array(1, &dk));
    plist_dict_set_item(d, "NS.objects", uid_array(1, &v));
    plist_dict_set_item(d, "$class", plist_new_uid(cls));
    expect_error(make_archive(o, add(o, d)), MF_ERR_INVALID, "not a string");

    /* $class pointing at a string. */
    o = new_objects();
    uint64_t bogus = add(o, plist_new_string("NSString"));
    plist_t w = plist_new_dict();
    plist_dict_set_item(w, "NS.string", plist_new_string("x"));
    plist_dict_set_item(w, "$class", plist_new_uid(bogus));
    expect_error(make_archive(o, add(o, w)), MF_ERR_INVALID, "$classname");

    /* NS.string that is a number. */
    o = new_objects();
    cls = add_class(o, "NSString");
    w = plist_new_dict();
    plist_dict_set_item(w, "NS.string", plist_new_uint(5));
    plist_dict_set_item(w, "$class", plist_new_uid(cls));
    expect_error(make_archive(o, add(o, w)), MF_ERR_INVALID, "NS.string is not a string");

    /* $top.root that is not a UID. */
    o = new_objects();
    plist_t a = plist_new_dict();
    plist_t top = plist_new_dict();
    plist_dict_set_item(top, "root", plist_new_string("1"));
    plist_dict_set_item(a, "$top", top);
    plist_dict_set_item(a, "$objects", o);
    expect_error(a, MF_ERR_INVALID, "not a UID");

    /* No root at all. */
    a = plist_new_dict();
    top = plist_new_dict();
    plist_dict_set_item(top, "a", plist_new_uid(0));
    plist_dict_set_item(top, "b", plist_new_uid(0));
    plist_dict_set_item(a, "$top", top);
    plist_dict_set_item(a, "$objects", new_objects());
    expect_error(a, MF_ERR_INVALID, "no root");
}

static void test_not_an_archive(void **state)
{
    (void)state;
    plist_t d = plist_new_dict();
    plist_dict_set_item(d, "Hostname", plist_new_string("smtp.example.com"));
    expect_error(d, MF_ERR_INVALID, "not an NSKeyedArchiver archive");

    plist_t out = (plist_t)1;
    mf_error err;
    assert_int_equal(mf_nskeyed_decode_mem(&out, "hello", 5, &err), MF_ERR_PARSE);
    assert_null(out);
    assert_false(mf_nskeyed_is_archive(NULL));
}

/* ---- the blob decoder ---- */

static void expect_blob(const void *data, size_t len, mf_code want, mf_nskeyed_kind want_kind,
                        plist_t *out)
{
    mf_nskeyed_kind kind = (mf_nskeyed_kind)99;
    mf_error err;
    mf_error_clear(&err);
    *out = (plist_t)1;
    mf_code rc = mf_nskeyed_decode_blob(out, &kind, data, len, &err);
    if (rc != want)
        fail_msg("decode_blob returned %d (%s), expected %d", rc, err.text, want);
    assert_int_equal(kind, want_kind);
    if (rc != MF_OK) {
        assert_null(*out);
        assert_true(err.text[0] != '\0');
    }
}

/* A blob the decoder must refuse as undecodable (MF_ERR_PARSE), with a message that
 * starts "undecodable value: " and contains want. Also through the archive entry
 * point, which shares the parsing. */
static void expect_blob_msg(const void *data, size_t len, const char *want)
{
    mf_nskeyed_kind kind = (mf_nskeyed_kind)99;
    mf_error err;
    mf_error_clear(&err);
    plist_t out = (plist_t)1;
    mf_code rc = mf_nskeyed_decode_blob(&out, &kind, data, len, &err);
    if (rc != MF_ERR_PARSE || strncmp(err.text, "undecodable value: ", 19) != 0 ||
        !strstr(err.text, want))
        fail_msg("decode_blob returned %d (%s), expected %d with \"%s\"", rc, err.text,
                 MF_ERR_PARSE, want);
    assert_null(out);
    assert_int_equal(kind, MF_NSKEYED_NONE);
    mf_error_clear(&err);
    out = (plist_t)1;
    assert_int_equal(mf_nskeyed_decode_mem(&out, data, len, &err), MF_ERR_PARSE);
    assert_null(out);
    assert_non_null(strstr(err.text, want));
}

static void test_blob_archive_plain_plist_text(void **state)
{
    (void)state;
    plist_t out;
    /* archive */
    plist_t o = new_objects();
    plist_t a = make_archive(o, add(o, plist_new_string("archived")));
    size_t n;
    char *b = to_bin(a, &n);
    expect_blob(b, n, MF_OK, MF_NSKEYED_ARCHIVE, &out);
    assert_string_equal(str(out), "archived");
    plist_free(out);
    free(b);
    plist_free(a);

    /* plain binary plist */
    plist_t d = plist_new_dict();
    plist_dict_set_item(d, "smtpPort", plist_new_uint(587));
    b = to_bin(d, &n);
    expect_blob(b, n, MF_OK, MF_NSKEYED_PLIST, &out);
    assert_int_equal(uint_of(plist_dict_get_item(out, "smtpPort")), 587);
    plist_free(out);
    free(b);

    /* plain XML plist */
    char *x = NULL;
    uint32_t xn = 0;
    plist_to_xml(d, &x, &xn);
    expect_blob(x, xn, MF_OK, MF_NSKEYED_PLIST, &out);
    assert_int_equal(plist_get_node_type(out), PLIST_DICT);
    plist_free(out);
    free(x);
    plist_free(d);

    /* plain text, ASCII and UTF-8 */
    expect_blob("smtp.example.com", 16, MF_OK, MF_NSKEYED_TEXT, &out);
    assert_string_equal(str(out), "smtp.example.com");
    plist_free(out);
    expect_blob("caf\xc3\xa9 \xe2\x82\xac\n", 10, MF_OK, MF_NSKEYED_TEXT, &out);
    assert_string_equal(str(out), "caf\xc3\xa9 \xe2\x82\xac\n");
    plist_free(out);
    expect_blob("", 0, MF_OK, MF_NSKEYED_TEXT, &out);
    assert_string_equal(str(out), "");
    plist_free(out);
    /* A text value that merely starts with '<' is still text. */
    expect_blob("<b>", 3, MF_OK, MF_NSKEYED_TEXT, &out);
    plist_free(out);
    assert_string_equal(mf_nskeyed_kind_name(MF_NSKEYED_ARCHIVE), "archive");
    assert_string_equal(mf_nskeyed_kind_name(MF_NSKEYED_NONE), "none");
}

static void test_blob_undecodable(void **state)
{
    (void)state;
    plist_t out;
    expect_blob("\x00\x01\x02\xff", 4, MF_ERR_PARSE, MF_NSKEYED_NONE, &out);
    expect_blob("abc\x00"
                "def",
                7, MF_ERR_PARSE, MF_NSKEYED_NONE, &out);                     /* NUL */
    expect_blob("\xc0\xaf", 2, MF_ERR_PARSE, MF_NSKEYED_NONE, &out);         /* overlong */
    expect_blob("\xed\xa0\x80", 3, MF_ERR_PARSE, MF_NSKEYED_NONE, &out);     /* surrogate */
    expect_blob("\xf4\x90\x80\x80", 4, MF_ERR_PARSE, MF_NSKEYED_NONE, &out); /* > U+10FFFF */
    expect_blob("caf\xc3", 4, MF_ERR_PARSE, MF_NSKEYED_NONE, &out);          /* truncated */
    expect_blob("a\x1b[0m", 5, MF_ERR_PARSE, MF_NSKEYED_NONE, &out);         /* control */
    expect_blob("bplist00garbage-garbage-garbage-garbage", 39, MF_ERR_PARSE, MF_NSKEYED_NONE, &out);
    expect_blob("<?xml version=\"1.0\"?><plist><dict><key>a</key>", 47, MF_ERR_PARSE,
                MF_NSKEYED_NONE, &out);

    /* Too large: refused before anything is parsed. */
    size_t big = MF_NSKEYED_MAX_BYTES + 1;
    char *p = malloc(big);
    assert_non_null(p);
    memset(p, 'a', big);
    expect_blob(p, big, MF_ERR_TOOBIG, MF_NSKEYED_NONE, &out);
    free(p);

    /* An archive that is broken is an error, not "some plist". */
    plist_t o = new_objects();
    plist_t a = make_archive(o, 42);
    size_t n;
    char *b = to_bin(a, &n);
    expect_blob(b, n, MF_ERR_INVALID, MF_NSKEYED_NONE, &out);
    free(b);
    plist_free(a);
}

/* A hand-made binary plist: object 0 is the string "x"; object k (1..levels) is an
 * array that refers `refs` times to object k - 1 (or to itself when self_ref). The top
 * object is the last. 2-byte references, 4-byte offsets. */
static unsigned char *nested_bplist(int levels, int refs, bool self_ref, size_t *len)
{
    size_t cap = 64 + (size_t)levels * (1 + 2 * (size_t)refs + 4 + 2) + 64;
    unsigned char *b = calloc(1, cap);
    assert_non_null(b);
    size_t n = 0;
    uint32_t *offs = calloc((size_t)levels + 1, sizeof(uint32_t));
    assert_non_null(offs);
    memcpy(b, "bplist00", 8);
    n = 8;
    offs[0] = (uint32_t)n;
    b[n++] = 0x51;
    b[n++] = 'x';
    for (int k = 1; k <= levels; k++) {
        offs[k] = (uint32_t)n;
        b[n++] = (unsigned char)(0xA0 | refs);
        for (int r = 0; r < refs; r++) {
            int target = self_ref ? k : k - 1;
            b[n++] = (unsigned char)(target >> 8);
            b[n++] = (unsigned char)target;
        }
    }
    size_t table = n;
    for (int k = 0; k <= levels; k++) {
        b[n++] = (unsigned char)(offs[k] >> 24);
        b[n++] = (unsigned char)(offs[k] >> 16);
        b[n++] = (unsigned char)(offs[k] >> 8);
        b[n++] = (unsigned char)offs[k];
    }
    unsigned char *t = b + n;
    memset(t, 0, 32);
    t[6] = 4;
    t[7] = 2;
    uint64_t vals[3] = {(uint64_t)levels + 1, (uint64_t)levels, table};
    for (int v = 0; v < 3; v++)
        for (int i = 0; i < 8; i++)
            t[8 + v * 8 + i] = (unsigned char)(vals[v] >> (56 - 8 * i));
    n += 32;
    free(offs);
    *len = n;
    return b;
}

static void test_blob_binary_plist_guard(void **state)
{
    (void)state;
    plist_t out;
    size_t n;
    /* Sanity: a small, honest nesting parses as a plain plist. */
    unsigned char *b = nested_bplist(3, 2, false, &n);
    expect_blob(b, n, MF_OK, MF_NSKEYED_PLIST, &out);
    assert_int_equal(plist_get_node_type(out), PLIST_ARRAY);
    assert_int_equal(plist_array_get_size(out), 2);
    plist_free(out);
    free(b);
    /* 40 levels of two references each: 2^40 values if expanded. Refused quickly (by
     * the guard shared with plist_util, which reports every refusal as MF_ERR_PARSE). */
    b = nested_bplist(40, 2, false, &n);
    expect_blob_msg(b, n, "expands to more than 20000 values");
    free(b);
    /* An array that contains itself. */
    b = nested_bplist(1, 1, true, &n);
    expect_blob(b, n, MF_ERR_PARSE, MF_NSKEYED_NONE, &out);
    free(b);
    /* Nesting deeper than the guard allows. */
    b = nested_bplist(1000, 1, false, &n);
    expect_blob(b, n, MF_ERR_PARSE, MF_NSKEYED_NONE, &out);
    free(b);
    /* A damaged trailer. */
    b = nested_bplist(2, 1, false, &n);
    b[n - 32 + 7] = 0; /* reference size 0 */
    expect_blob(b, n, MF_ERR_PARSE, MF_NSKEYED_NONE, &out);
    free(b);
}

static void test_strings_with_nul(void **state)
{
    (void)state;
    plist_t out;
    /* Plain binary plists whose only string hides a second part behind a NUL, as ASCII
     * ("evil.com\0ok") and as UTF-16. libplist would silently cut them. */
    static const unsigned char ascii[] = {
        'b', 'p', 'l',  'i', 's', 't', '0', '0', 0x5B, 'e', 'v', 'i', 'l', '.', 'c', 'o', 'm', 0,
        'o', 'k', 0x08, 0,   0,   0,   0,   0,   0,    1,   1,   0,   0,   0,   0,   0,   0,   0,
        1,   0,   0,    0,   0,   0,   0,   0,   0,    0,   0,   0,   0,   0,   0,   0,   0x14};
    expect_blob_msg(ascii, sizeof(ascii), "NUL");
    static const unsigned char utf16[] = {
        'b', 'p', 'l', 'i', 's', 't', '0', '0', 0x63, 0, 'a', 0, 0, 0, 'b', 0x08,
        0,   0,   0,   0,   0,   0,   1,   1,   0,    0, 0,   0, 0, 0, 0,   1,
        0,   0,   0,   0,   0,   0,   0,   0,   0,    0, 0,   0, 0, 0, 0,   0x0F};
    expect_blob_msg(utf16, sizeof(utf16), "NUL");
    /* Without the NUL the same layout is fine: the check is not over-eager. */
    unsigned char ok[sizeof(ascii)];
    memcpy(ok, ascii, sizeof(ok));
    ok[17] = '.';
    expect_blob(ok, sizeof(ok), MF_OK, MF_NSKEYED_PLIST, &out);
    assert_string_equal(str(out), "evil.com.ok");
    plist_free(out);
}

/* ---- the shared plist guard, as ZVALUEs see it ---- */

static unsigned char *read_corpus(const char *name, size_t *len)
{
    /* MF_TEST_DATA_DIR is tests/data (which need not exist): the corpus is beside it. */
    char path[1024];
    const char *dir = MF_TEST_DATA_DIR;
    size_t dl = strlen(dir);
    assert_true(dl > 5 && strcmp(dir + dl - 5, "/data") == 0);
    snprintf(path, sizeof(path), "%.*s/fuzz/corpus/fuzz_nskeyed/%s", (int)(dl - 5), dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    unsigned char *b = malloc(4096);
    assert_non_null(b);
    *len = fread(b, 1, 4096, f);
    fclose(f);
    assert_true(*len > 0 && *len < 4096);
    return b;
}

static void test_zvalue_cap_is_tighter_than_whole_files(void **state)
{
    (void)state;
    plist_t out;
    size_t n;
    /* 13 levels of two references: 2^14 - 1 = 16383 values, under the ZVALUE cap. */
    unsigned char *b = nested_bplist(13, 2, false, &n);
    expect_blob(b, n, MF_OK, MF_NSKEYED_PLIST, &out);
    plist_free(out);
    free(b);
    /* 14 levels: 32767 values. Too many for a ZVALUE, fine for a whole file. */
    b = nested_bplist(14, 2, false, &n);
    expect_blob_msg(b, n, "expands to more than 20000 values");
    mf_error err;
    assert_int_equal(mf_plist_parse((const char *)b, n, &out, &err), MF_OK);
    plist_free(out);
    free(b);
}

static void test_regress_expansion_corpus(void **state)
{
    (void)state;
    /* Fuzzer finds that expand to 131071 values (once seconds and hundreds of MB under
     * ASan): refused by the ZVALUE limits before libplist sees them. */
    static const char *const names[] = {"regress-expansion-7bb5accd",
                                        "regress-expansion-a2bb8a99"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n;
        unsigned char *b = read_corpus(names[i], &n);
        expect_blob_msg(b, n, "expands to more than 20000 values");
        free(b);
    }
    /* And the 2^41 bomb the corpus started with. */
    size_t n;
    unsigned char *b = read_corpus("shared_refs_bomb.bplist", &n);
    expect_blob_msg(b, n, "expands to more than");
    free(b);
}

/* An XML plist of `arrays` nested arrays around one string. */
static char *nested_xml(int arrays, const char *leaf, size_t *len)
{
    size_t cap = (size_t)arrays * 16 + strlen(leaf) + 128, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    n += (size_t)snprintf(s + n, cap - n, "<?xml version=\"1.0\"?><plist version=\"1.0\">");
    for (int i = 0; i < arrays; i++)
        n += (size_t)snprintf(s + n, cap - n, "<array>");
    n += (size_t)snprintf(s + n, cap - n, "<string>%s</string>", leaf);
    for (int i = 0; i < arrays; i++)
        n += (size_t)snprintf(s + n, cap - n, "</array>");
    n += (size_t)snprintf(s + n, cap - n, "</plist>");
    *len = n;
    return s;
}

static void test_zvalue_depth_binary_and_xml(void **state)
{
    (void)state;
    plist_t out;
    size_t n;
    /* MF_NSKEYED_MAX_DEPTH levels below the root are fine, one more is not, whether the
     * plist is binary or XML (XML used to reach libplist with no depth check). */
    unsigned char *b = nested_bplist(MF_NSKEYED_MAX_DEPTH, 1, false, &n);
    expect_blob(b, n, MF_OK, MF_NSKEYED_PLIST, &out);
    plist_free(out);
    free(b);
    b = nested_bplist(MF_NSKEYED_MAX_DEPTH + 1, 1, false, &n);
    expect_blob_msg(b, n, "deeper than");
    free(b);

    char *x = nested_xml(MF_NSKEYED_MAX_DEPTH, "x", &n);
    expect_blob(x, n, MF_OK, MF_NSKEYED_PLIST, &out);
    plist_free(out);
    free(x);
    x = nested_xml(MF_NSKEYED_MAX_DEPTH + 1, "x", &n);
    expect_blob_msg(x, n, "deeper than");
    free(x);
    x = nested_xml(10000, "x", &n);
    expect_blob_msg(x, n, "deeper than");
    free(x);
}

static void test_zvalue_xml_values_and_nul(void **state)
{
    (void)state;
    plist_t out;
    /* More values than the cap in an XML plist. */
    size_t cap = 64 + (MF_NSKEYED_MAX_PLIST_NODES + 1) * 7 + 64, n = 0;
    char *x = malloc(cap);
    assert_non_null(x);
    n += (size_t)snprintf(x + n, cap - n, "<plist><array>");
    for (unsigned i = 0; i < MF_NSKEYED_MAX_PLIST_NODES; i++)
        n += (size_t)snprintf(x + n, cap - n, "<true/>");
    n += (size_t)snprintf(x + n, cap - n, "</array></plist>");
    expect_blob_msg(x, n, "more than 20000 values");
    /* One fewer value (the array itself counts) is fine. */
    n = 0;
    n += (size_t)snprintf(x + n, cap - n, "<plist><array>");
    for (unsigned i = 0; i + 1 < MF_NSKEYED_MAX_PLIST_NODES; i++)
        n += (size_t)snprintf(x + n, cap - n, "<true/>");
    n += (size_t)snprintf(x + n, cap - n, "</array></plist>");
    expect_blob(x, n, MF_OK, MF_NSKEYED_PLIST, &out);
    assert_int_equal(plist_array_get_size(out), MF_NSKEYED_MAX_PLIST_NODES - 1);
    plist_free(out);
    free(x);

    /* A raw NUL inside an XML string: libplist 2.2 keeps it, so every C reader would
     * see "evil.example" only. */
    static const char nul_xml[] = "<plist><string>evil.example\0.good</string></plist>";
    expect_blob_msg(nul_xml, sizeof(nul_xml) - 1, "NUL");
}

static void test_nul_inside_archive(void **state)
{
    (void)state;
    /* The NUL hides in an NS.string of a binary archive, not at the top. */
    plist_t o = new_objects();
    uint64_t cls = add_class(o, "NSString");
    plist_t w = plist_new_dict();
    plist_dict_set_item(w, "NS.string", plist_new_string("smtp.example.comXgood"));
    plist_dict_set_item(w, "$class", plist_new_uid(cls));
    plist_t a = make_archive(o, add(o, w));
    size_t n;
    char *b = to_bin(a, &n);
    plist_t out;
    expect_blob(b, n, MF_OK, MF_NSKEYED_ARCHIVE, &out);
    assert_string_equal(str(out), "smtp.example.comXgood");
    plist_free(out);
    size_t at = 0;
    while (at + 4 <= n && memcmp(b + at, "comX", 4) != 0)
        at++;
    assert_true(at + 4 <= n);
    b[at + 3] = '\0';
    expect_blob_msg(b, n, "NUL");
    free(b);
    plist_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline_string),
        cmocka_unit_test(test_mutable_string_root_not_index_1),
        cmocka_unit_test(test_number_and_bool_inline),
        cmocka_unit_test(test_dictionary_array_set_data),
        cmocka_unit_test(test_uuid_date_unknown_class),
        cmocka_unit_test(test_null_root),
        cmocka_unit_test(test_xml_archive_with_cf_uid),
        cmocka_unit_test(test_top_without_root_key),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_shared_reference_is_not_a_cycle),
        cmocka_unit_test(test_uid_out_of_range),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_exponential_expansion_is_bounded),
        cmocka_unit_test(test_bad_structures),
        cmocka_unit_test(test_not_an_archive),
        cmocka_unit_test(test_blob_archive_plain_plist_text),
        cmocka_unit_test(test_blob_undecodable),
        cmocka_unit_test(test_blob_binary_plist_guard),
        cmocka_unit_test(test_strings_with_nul),
        cmocka_unit_test(test_zvalue_cap_is_tighter_than_whole_files),
        cmocka_unit_test(test_regress_expansion_corpus),
        cmocka_unit_test(test_zvalue_depth_binary_and_xml),
        cmocka_unit_test(test_zvalue_xml_values_and_nul),
        cmocka_unit_test(test_nul_inside_archive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
