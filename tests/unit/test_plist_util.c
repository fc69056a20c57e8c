/* Unit tests for agent/plist_util.c: parsing guards and tolerant readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fileio.h"
#include "plist_util.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static char *to_xml(plist_t p, size_t *len)
{
    char *x = NULL;
    uint32_t n = 0;
    plist_to_xml(p, &x, &n);
    assert_non_null(x);
    *len = n;
    return x;
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

/* A dict with one value of each shape the readers must accept. */
static plist_t sample(void)
{
    plist_t d = plist_new_dict();
    plist_dict_set_item(d, "int", plist_new_uint(587));
    plist_dict_set_item(d, "intstr", plist_new_string("587"));
    plist_dict_set_item(d, "intspace", plist_new_string(" 25 "));
    plist_dict_set_item(d, "notint", plist_new_string("abc"));
    plist_dict_set_item(d, "real", plist_new_real(465.0));
    plist_dict_set_item(d, "frac", plist_new_real(2.5));
    plist_dict_set_item(d, "t", plist_new_bool(1));
    plist_dict_set_item(d, "f", plist_new_bool(0));
    plist_dict_set_item(d, "yes", plist_new_string("YES"));
    plist_dict_set_item(d, "no", plist_new_string("no"));
    plist_dict_set_item(d, "True", plist_new_string(" True "));
    plist_dict_set_item(d, "zero", plist_new_string("0"));
    plist_dict_set_item(d, "one", plist_new_uint(1));
    plist_dict_set_item(d, "two", plist_new_uint(2));
    plist_dict_set_item(d, "maybe", plist_new_string("maybe"));
    plist_dict_set_item(d, "str", plist_new_string("smtp.example.com"));
    plist_t a = plist_new_array();
    plist_array_append_item(a, plist_new_string("a@example.com"));
    plist_array_append_item(a, plist_new_uint(5));
    plist_array_append_item(a, plist_new_string("b@example.com"));
    plist_array_append_item(a, plist_new_string("a@example.com"));
    plist_array_append_item(a, plist_new_string(""));
    plist_dict_set_item(d, "arr", a);
    plist_dict_set_item(d, "dict", plist_new_dict());
    plist_dict_set_item(d, "Password", plist_new_string("hunter2"));
    return d;
}

static void check_readers(plist_t d)
{
    long long v = -1;
    assert_true(mf_plist_int(d, "int", &v));
    assert_int_equal(v, 587);
    assert_true(mf_plist_int(d, "intstr", &v));
    assert_int_equal(v, 587);
    assert_true(mf_plist_int(d, "intspace", &v));
    assert_int_equal(v, 25);
    assert_true(mf_plist_int(d, "real", &v));
    assert_int_equal(v, 465);
    v = 7;
    assert_false(mf_plist_int(d, "notint", &v));
    assert_false(mf_plist_int(d, "frac", &v));
    assert_false(mf_plist_int(d, "absent", &v));
    assert_false(mf_plist_int(d, "t", &v));
    assert_int_equal(v, 7); /* untouched */

    bool b = false;
    assert_true(mf_plist_bool(d, "t", &b));
    assert_true(b);
    assert_true(mf_plist_bool(d, "f", &b));
    assert_false(b);
    assert_true(mf_plist_bool(d, "yes", &b));
    assert_true(b);
    assert_true(mf_plist_bool(d, "no", &b));
    assert_false(b);
    assert_true(mf_plist_bool(d, "True", &b));
    assert_true(b);
    assert_true(mf_plist_bool(d, "zero", &b));
    assert_false(b);
    assert_true(mf_plist_bool(d, "one", &b));
    assert_true(b);
    b = true;
    assert_false(mf_plist_bool(d, "two", &b));
    assert_false(mf_plist_bool(d, "maybe", &b));
    assert_false(mf_plist_bool(d, "absent", &b));
    assert_false(mf_plist_bool(d, "str", &b));
    assert_true(b);

    assert_string_equal(mf_plist_str(d, "str"), "smtp.example.com");
    assert_null(mf_plist_str(d, "int"));
    assert_null(mf_plist_str(d, "absent"));
    assert_null(mf_plist_str(NULL, "str"));
    assert_non_null(mf_plist_array(d, "arr"));
    assert_null(mf_plist_array(d, "dict"));
    assert_non_null(mf_plist_dict(d, "dict"));
    assert_null(mf_plist_dict(d, "arr"));
    assert_true(mf_plist_has(d, "maybe"));
    assert_false(mf_plist_has(d, "absent"));
    assert_string_equal(mf_plist_type_name(mf_plist_array(d, "arr")), "an array");
    assert_string_equal(mf_plist_type_name(NULL), "nothing");
    /* The readers accept only a dict as the container. */
    assert_null(mf_plist_str(mf_plist_array(d, "arr"), "str"));
}

/* ---------------------------------------------------------------- tests */

static void test_parse_xml_and_binary(void **state)
{
    (void)state;
    plist_t d = sample();
    size_t xl, bl;
    char *x = to_xml(d, &xl);
    char *bin = to_bin(d, &bl);
    mf_error err;
    plist_t p = NULL;

    assert_int_equal(mf_plist_parse(x, xl, &p, &err), MF_OK);
    check_readers(p);
    plist_free(p);

    assert_int_equal(mf_plist_parse(bin, bl, &p, &err), MF_OK);
    check_readers(p);
    plist_free(p);

    /* A byte order mark and leading white space are fine. */
    char *bom = malloc(xl + 5);
    memcpy(bom, "\xEF\xBB\xBF\n ", 5);
    memcpy(bom + 5, x, xl);
    assert_int_equal(mf_plist_parse(bom, xl + 5, &p, &err), MF_OK);
    plist_free(p);
    free(bom);

    /* Truncated: half of each. */
    assert_int_equal(mf_plist_parse(x, xl / 2, &p, &err), MF_ERR_PARSE);
    assert_null(p);
    assert_int_equal(mf_plist_parse(bin, bl / 2, &p, &err), MF_ERR_PARSE);
    assert_null(p);
    assert_non_null(strstr(err.text, "binary"));
    /* The trailer intact, objects garbled. */
    char *bad = malloc(bl);
    memcpy(bad, bin, bl);
    memset(bad + 8, 0xFF, bl > 48 ? bl - 48 : 0);
    assert_int_equal(mf_plist_parse(bad, bl, &p, &err), MF_ERR_PARSE);
    assert_null(p);
    free(bad);

    plist_to_xml_free(x);
    plist_to_bin_free(bin);
    plist_free(d);
}

static void test_parse_refuses(void **state)
{
    (void)state;
    mf_error err;
    plist_t p = (plist_t)1;
    assert_int_equal(mf_plist_parse("", 0, &p, &err), MF_ERR_PARSE);
    assert_null(p);
    assert_non_null(strstr(err.text, "empty"));
    assert_int_equal(mf_plist_parse("hello", 5, &p, &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "neither"));
    assert_int_equal(mf_plist_parse("bplist01xxxxxxxxxxxx", 20, &p, &err), MF_ERR_PARSE);
    assert_non_null(strstr(err.text, "bplist00"));
    const char *notplist = "<html><body>x</body></html>";
    assert_int_equal(mf_plist_parse(notplist, strlen(notplist), &p, &err), MF_ERR_PARSE);
    assert_null(p);
    /* No NUL terminator needed: parse a prefix of a longer buffer. */
    const char *xml = "<plist version=\"1.0\"><dict><key>a</key><string>b</string></dict></plist>"
                      "GARBAGE";
    size_t n = strlen(xml) - strlen("GARBAGE");
    assert_int_equal(mf_plist_parse(xml, n, &p, &err), MF_OK);
    assert_string_equal(mf_plist_str(p, "a"), "b");
    plist_free(p);
}

static char *nested_xml(int depth, size_t *len)
{
    size_t cap = (size_t)depth * 16 + 128, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "<plist version=\"1.0\">");
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(s + n, cap - n, i % 2 ? "<array>" : "<array >");
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(s + n, cap - n, "</array>");
    n += (size_t)snprintf(s + n, cap - n, "</plist>");
    *len = n;
    return s;
}

/* A bplist00 of nobj objects: object i is an array holding `fan` references to object
 * i + 1; the last is an empty array. 2-byte references, 4-byte offsets. */
static unsigned char *chain_bplist(unsigned nobj, unsigned fan, size_t *len)
{
    size_t cap = 8 + (size_t)nobj * (1 + 2 * fan + 4) + 32 + 16, n = 0;
    unsigned char *b = calloc(1, cap);
    uint32_t *off = calloc(nobj, sizeof(uint32_t));
    memcpy(b, "bplist00", 8);
    n = 8;
    for (unsigned i = 0; i < nobj; i++) {
        off[i] = (uint32_t)n;
        if (i + 1 == nobj) {
            b[n++] = 0xA0;
            continue;
        }
        b[n++] = (unsigned char)(0xA0 | fan);
        for (unsigned k = 0; k < fan; k++) {
            b[n++] = (unsigned char)((i + 1) >> 8);
            b[n++] = (unsigned char)((i + 1) & 0xFF);
        }
    }
    size_t table = n;
    for (unsigned i = 0; i < nobj; i++) {
        b[n++] = (unsigned char)(off[i] >> 24);
        b[n++] = (unsigned char)(off[i] >> 16);
        b[n++] = (unsigned char)(off[i] >> 8);
        b[n++] = (unsigned char)off[i];
    }
    unsigned char *t = b + n;
    t[6] = 4; /* offset size */
    t[7] = 2; /* reference size */
    for (int k = 0; k < 8; k++) {
        t[8 + k] = (unsigned char)((uint64_t)nobj >> (8 * (7 - k)));
        t[24 + k] = (unsigned char)((uint64_t)table >> (8 * (7 - k)));
    }
    n += 32;
    free(off);
    *len = n;
    return b;
}

static void test_depth_and_expansion_limits(void **state)
{
    (void)state;
    mf_error err;
    plist_t p = NULL;
    size_t len;

    char *ok = nested_xml(MF_PLIST_MAX_DEPTH - 2, &len);
    assert_int_equal(mf_plist_parse(ok, len, &p, &err), MF_OK);
    plist_free(p);
    free(ok);
    char *deep = nested_xml(100000, &len);
    assert_int_equal(mf_plist_parse(deep, len, &p, &err), MF_ERR_PARSE);
    assert_null(p);
    assert_non_null(strstr(err.text, "deeper"));
    free(deep);

    unsigned char *b = chain_bplist(50, 1, &len);
    assert_int_equal(mf_plist_parse((char *)b, len, &p, &err), MF_OK);
    assert_int_equal(plist_get_node_type(p), PLIST_ARRAY);
    plist_free(p);
    free(b);
    /* Deep enough to crash libplist 2.2's recursive reader. */
    b = chain_bplist(60000, 1, &len);
    assert_int_equal(mf_plist_parse((char *)b, len, &p, &err), MF_ERR_PARSE);
    assert_null(p);
    assert_non_null(strstr(err.text, "deeper"));
    free(b);
    /* 40 objects, each referencing the next twice: 2^40 nodes once expanded. */
    b = chain_bplist(40, 2, &len);
    assert_int_equal(mf_plist_parse((char *)b, len, &p, &err), MF_ERR_PARSE);
    assert_null(p);
    assert_non_null(strstr(err.text, "expands"));
    free(b);
    /* A small shared tree is fine (2^10 nodes). */
    b = chain_bplist(10, 2, &len);
    assert_int_equal(mf_plist_parse((char *)b, len, &p, &err), MF_OK);
    plist_free(p);
    /* A reference loop: make the last object point back at the first. */
    free(b);
    b = chain_bplist(3, 1, &len);
    /* objects: 8: A1 00 01 | 11: A1 00 02 | 14: A0 -> turn it into A1 00 00 is not
     * possible in place (size changes), so point object 1 at object 0 instead. */
    b[12] = 0x00;
    b[13] = 0x00;
    assert_int_equal(mf_plist_parse((char *)b, len, &p, &err), MF_ERR_PARSE);
    assert_null(p);
    free(b);
}

/* ---------------------------------------------------------------- shared guard */

/* Replace the first occurrence of `find` in b (len bytes) with `repl` (same length). */
static void patch(char *b, size_t len, const char *find, const char *repl, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(b + i, find, n) == 0) {
            memcpy(b + i, repl, n);
            return;
        }
    fail_msg("\"%s\" not found", find);
}

static void expect_refused(const char *data, size_t len, const mf_plist_limits *lim,
                           const char *want)
{
    mf_error err;
    mf_error_clear(&err);
    plist_t p = (plist_t)1;
    mf_code rc = mf_plist_parse_limited(data, len, lim, &p, &err);
    if (rc != MF_ERR_PARSE || !strstr(err.text, want))
        fail_msg("returned %d (%s), expected MF_ERR_PARSE with \"%s\"", rc, err.text, want);
    assert_null(p);
}

static void test_strings_with_nul_refused(void **state)
{
    (void)state;
    mf_error err;
    plist_t p = NULL;
    /* A string value and a dict key in a binary plist, each hiding a NUL: libplist 2.2
     * would cut them ("evil.example" only). */
    plist_t d = plist_new_dict();
    plist_dict_set_item(d, "SMTPHost", plist_new_string("evil.exampleQ.good"));
    plist_dict_set_item(d, "keyQhidden", plist_new_string("v"));
    size_t bl;
    char *bin = to_bin(d, &bl);
    assert_int_equal(mf_plist_parse(bin, bl, &p, &err), MF_OK);
    plist_free(p);
    char *b1 = malloc(bl);
    memcpy(b1, bin, bl);
    patch(b1, bl, "exampleQ", "example\0", 8);
    expect_refused(b1, bl, NULL, "NUL");
    memcpy(b1, bin, bl);
    patch(b1, bl, "keyQ", "key\0", 4);
    expect_refused(b1, bl, NULL, "NUL");
    free(b1);
    plist_to_bin_free(bin);
    plist_free(d);

    /* The same as UTF-16 (type 6): "a", U+0000, "b". */
    static const unsigned char utf16[] = {
        'b', 'p', 'l', 'i', 's', 't', '0', '0', 0x63, 0, 'a', 0, 0, 0, 'b', 0x08,
        0,   0,   0,   0,   0,   0,   1,   1,   0,    0, 0,   0, 0, 0, 0,   1,
        0,   0,   0,   0,   0,   0,   0,   0,   0,    0, 0,   0, 0, 0, 0,   0x0F};
    expect_refused((const char *)utf16, sizeof(utf16), NULL, "NUL");
    /* A string whose length runs past the object area. */
    unsigned char longer[sizeof(utf16)];
    memcpy(longer, utf16, sizeof(longer));
    longer[8] = 0x6E; /* 14 UTF-16 units */
    expect_refused((const char *)longer, sizeof(longer), NULL, "corrupt");

    /* XML may not contain NUL; libplist 2.2 would keep it inside the string. */
    static const char xml[] = "<plist><dict><key>SMTPHost</key>"
                              "<string>evil.example\0.good</string></dict></plist>";
    expect_refused(xml, sizeof(xml) - 1, NULL, "NUL");
    /* Trailing NULs after the document are dropped, not refused. */
    static const char trailing[] = "<plist><string>ok</string></plist>\0\0";
    assert_int_equal(mf_plist_parse(trailing, sizeof(trailing) - 1, &p, &err), MF_OK);
    assert_string_equal(plist_get_string_ptr(p, NULL), "ok");
    plist_free(p);
}

static char *read_corpus(const char *target, const char *name, size_t *len)
{
    /* MF_TEST_DATA_DIR is tests/data (which need not exist): the corpus is beside it. */
    const char *dir = MF_TEST_DATA_DIR;
    size_t dl = strlen(dir);
    assert_true(dl > 5 && strcmp(dir + dl - 5, "/data") == 0);
    char path[1024];
    snprintf(path, sizeof(path), "%.*s/fuzz/corpus/%s/%s", (int)(dl - 5), dir, target, name);
    char *data = NULL;
    mf_error err;
    if (mf_file_read(path, 1 << 20, &data, len, &err) != MF_OK)
        fail_msg("cannot read %s: %s", path, err.text);
    return data;
}

static void test_expansion_bombs(void **state)
{
    (void)state;
    /* Real bombs from the fuzz corpora: 2^40 and 2^41 values once expanded. */
    size_t n;
    char *b = read_corpus("fuzz_plist_model", "expansion_bomb.bin", &n);
    expect_refused(b, n, NULL, "expands to more than 250000 values");
    free(b);
    b = read_corpus("fuzz_nskeyed", "shared_refs_bomb.bplist", &n);
    expect_refused(b, n, NULL, "expands to more than 250000 values");
    free(b);
    /* 131071 values: under the whole-file cap, over a 20000 cap (the ZVALUE one). */
    mf_plist_limits lim = {.max_values = 20000};
    b = read_corpus("fuzz_nskeyed", "regress-expansion-7bb5accd", &n);
    expect_refused(b, n, &lim, "expands to more than 20000 values");
    free(b);
}

static void test_limits(void **state)
{
    (void)state;
    mf_error err;
    plist_t p = NULL;
    size_t len;
    /* Depth in levels: a chain of 10 objects is 10 levels. */
    mf_plist_limits lim = {.max_depth = 10};
    unsigned char *b = chain_bplist(10, 1, &len);
    assert_int_equal(mf_plist_parse_limited((char *)b, len, &lim, &p, &err), MF_OK);
    plist_free(p);
    free(b);
    b = chain_bplist(11, 1, &len);
    expect_refused((char *)b, len, &lim, "deeper than 10 levels");
    assert_int_equal(mf_plist_parse((char *)b, len, &p, &err), MF_OK);
    plist_free(p);
    free(b);
    /* Values: 2^10 - 1 nodes. */
    lim = (mf_plist_limits){.max_values = 1000};
    b = chain_bplist(10, 2, &len);
    expect_refused((char *)b, len, &lim, "expands to more than 1000 values");
    lim.max_values = 1023;
    assert_int_equal(mf_plist_parse_limited((char *)b, len, &lim, &p, &err), MF_OK);
    plist_free(p);
    free(b);
    /* More objects than values allowed, whether reachable or not. */
    lim.max_values = 5;
    b = chain_bplist(6, 1, &len);
    expect_refused((char *)b, len, &lim, "6 objects, more than the limit of 5");
    free(b);

    /* XML: values counted after parsing (dict keys count), depth in levels. */
    const char *x = "<plist><dict><key>a</key><true/><key>b</key><true/></dict></plist>";
    lim = (mf_plist_limits){.max_values = 4};
    expect_refused(x, strlen(x), &lim, "more than 4 values");
    lim.max_values = 5;
    assert_int_equal(mf_plist_parse_limited(x, strlen(x), &lim, &p, &err), MF_OK);
    plist_free(p);
    lim = (mf_plist_limits){.max_depth = 1};
    expect_refused(x, strlen(x), &lim, "deeper than 1 levels");
    lim.max_depth = 2;
    assert_int_equal(mf_plist_parse_limited(x, strlen(x), &lim, &p, &err), MF_OK);
    plist_free(p);

    /* Limits only tighten: asking for more than the defaults gets the defaults. */
    lim = (mf_plist_limits){.max_depth = 100000, .max_values = 4000000000u};
    b = chain_bplist(60000, 1, &len);
    expect_refused((char *)b, len, &lim, "deeper than 128 levels");
    free(b);
    b = chain_bplist(40, 2, &len);
    expect_refused((char *)b, len, &lim, "expands to more than 250000 values");
    free(b);
    /* NULL limits are the defaults. */
    b = chain_bplist(40, 2, &len);
    expect_refused((char *)b, len, NULL, "expands to more than 250000 values");
    free(b);
}

static void test_text(void **state)
{
    (void)state;
    char *t = mf_plist_text("plain", 100);
    assert_string_equal(t, "plain");
    free(t);
    t = mf_plist_text("caf\xC3\xA9", 100);
    assert_string_equal(t, "caf\xC3\xA9");
    free(t);
    /* A lone continuation byte, a truncated sequence, a surrogate, an overlong. */
    t = mf_plist_text("a\x80"
                      "b\xE2\x82"
                      "c\xED\xA0\x80"
                      "d\xC0\xAF",
                      100);
    assert_string_equal(t, "a\xEF\xBF\xBD"
                           "b\xEF\xBF\xBD\xEF\xBF\xBD"
                           "c\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                           "d\xEF\xBF\xBD\xEF\xBF\xBD");
    free(t);
    /* Cut at a character boundary. */
    t = mf_plist_text("\xC3\xA9\xC3\xA9\xC3\xA9", 5);
    assert_string_equal(t, "\xC3\xA9\xC3\xA9");
    free(t);
    assert_null(mf_plist_text(NULL, 10));

    assert_true(mf_plist_key_is_secret("Password"));
    assert_true(mf_plist_key_is_secret("SMTPPassword"));
    assert_true(mf_plist_key_is_secret("OutgoingPasswordSameAsIncomingPassword"));
    assert_true(mf_plist_key_is_secret("oauthToken"));
    assert_true(mf_plist_key_is_secret("ClientSecret"));
    assert_true(mf_plist_key_is_secret("AuthenticationCredentialsAssetReference"));
    assert_false(mf_plist_key_is_secret("Hostname"));
    assert_false(mf_plist_key_is_secret("Username"));

    plist_t d = sample();
    char *out = (char *)1;
    assert_int_equal(mf_plist_text_at(&out, d, "Password", false), MF_ERR_INTERNAL);
    assert_null(out);
    assert_int_equal(mf_plist_text_at(&out, d, "str", true), MF_OK);
    assert_string_equal(out, "smtp.example.com");
    free(out);
    assert_int_equal(mf_plist_text_at(&out, d, "int", true), MF_OK);
    assert_null(out);
    mf_strv sv = {0};
    assert_int_equal(mf_plist_strv_at(&sv, d, "arr", 10), MF_OK);
    assert_int_equal(sv.n, 2);
    assert_string_equal(sv.v[0], "a@example.com");
    assert_string_equal(sv.v[1], "b@example.com");
    assert_int_equal(mf_plist_strv_at(&sv, d, "str", 10), MF_OK);
    assert_int_equal(sv.n, 3);
    assert_int_equal(mf_plist_strv_at(&sv, d, "str", 10), MF_OK); /* duplicate */
    assert_int_equal(sv.n, 3);
    mf_strv_free(&sv);
    assert_int_equal(mf_plist_strv_at(&sv, d, "arr", 1), MF_OK);
    assert_int_equal(sv.n, 1);
    mf_strv_free(&sv);
    plist_free(d);
}

static void test_load(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/mf-plist-util-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char path[512], sub[512];
    snprintf(path, sizeof(path), "%s/a.plist", dir);
    snprintf(sub, sizeof(sub), "%s/folder.plist", dir);
    plist_t d = sample();
    size_t bl;
    char *bin = to_bin(d, &bl);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(bin, 1, bl, f);
    fclose(f);
    assert_int_equal(mkdir(sub, 0700), 0);

    mf_error err;
    plist_t p = NULL;
    assert_int_equal(mf_plist_load(path, 1 << 20, &p, &err), MF_OK);
    check_readers(p);
    plist_free(p);
    assert_int_equal(mf_plist_load(path, 16, &p, &err), MF_ERR_TOOBIG);
    assert_string_equal(mf_file_status_for(MF_ERR_TOOBIG), "too-large");
    assert_null(p);
    assert_int_equal(mf_plist_load(sub, 1 << 20, &p, &err), MF_ERR_IO);
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/none.plist", dir);
    assert_int_equal(mf_plist_load(missing, 1 << 20, &p, &err), MF_ERR_NOTFOUND);
    assert_string_equal(err.file, missing);
    /* Corrupt: the error names the file. */
    f = fopen(path, "wb");
    fwrite(bin, 1, bl / 3, f);
    fclose(f);
    assert_int_equal(mf_plist_load(path, 1 << 20, &p, &err), MF_ERR_PARSE);
    assert_string_equal(err.file, path);

    plist_to_bin_free(bin);
    plist_free(d);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

static void test_issues(void **state)
{
    (void)state;
    mf_report *r = mf_report_new();
    assert_non_null(r);
    int idx;
    assert_int_equal(
        mf_report_add_source(r, "u", "apple-mail", "accounts-plist", "/x/A.plist", &idx), MF_OK);
    mf_plist_issues is;
    mf_plist_issues_init(&is, "/x/A.plist");
    mf_error err;
    mf_error_clear(&err);
    assert_int_equal(mf_plist_issues_apply(&is, r, idx, &err), MF_OK);
    assert_int_equal(r->sources[idx].status, MF_SRC_OK);
    mf_plist_issue(&is, MF_SRC_MALFORMED, "DeliveryAccounts[%d] is a string", 2);
    mf_plist_issue(&is, MF_SRC_UNREADABLE, "second");
    mf_plist_issue(&is, MF_SRC_MALFORMED, "third");
    assert_int_equal(mf_plist_issues_apply(&is, r, idx, &err), MF_ERR_PARSE);
    assert_int_equal(r->sources[idx].status, MF_SRC_MALFORMED);
    assert_string_equal(r->sources[idx].error,
                        "/x/A.plist: DeliveryAccounts[2] is a string (and 2 more problems)");
    assert_string_equal(err.file, "/x/A.plist");
    mf_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_xml_and_binary),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_depth_and_expansion_limits),
        cmocka_unit_test(test_strings_with_nul_refused),
        cmocka_unit_test(test_expansion_bombs),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_issues),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
