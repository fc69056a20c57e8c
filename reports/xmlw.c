/* xmlw.c: cleaning of untrusted text for XML and HTML, and a thin sticky-error layer
 * over libxml2's xmlTextWriter (see xmlw.h). */
#include "xmlw.h"
#include "reports.h"

#include <libxml/xmlwriter.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* U+FFFD REPLACEMENT CHARACTER and U+2026 HORIZONTAL ELLIPSIS in UTF-8. */
static const char REPLACEMENT[] = "\xEF\xBF\xBD";
static const char ELLIPSIS[] = "\xE2\x80\xA6";

/* Decode one UTF-8 character at s (n bytes available). Returns its length (1-4) and
 * the code point in *cp, or 0 when the bytes are not a valid, shortest encoding. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Characters a report may carry: XML 1.0's Char production minus the control
 * characters and non-characters that only make trouble in HTML and terminals. */
static bool char_allowed(uint32_t cp)
{
    if (cp == 0x9 || cp == 0xA || cp == 0xD)
        return true;
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
        return false;
    if (cp >= 0xFDD0 && cp <= 0xFDEF)
        return false;
    if ((cp & 0xFFFE) == 0xFFFE) /* U+xFFFE, U+xFFFF in every plane */
        return false;
    return true;
}

size_t mf_xml_clean(char *dst, size_t max, const char *src)
{
    size_t o = 0;
    if (!src) {
        dst[0] = '\0';
        return 0;
    }
    const unsigned char *s = (const unsigned char *)src;
    size_t n = strlen(src);
    size_t i = 0;
    while (i < n) {
        /* The common case first: printable ASCII, tab and newlines are copied as is. */
        unsigned char c = s[i];
        if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r') {
            if (o + 1 > max) {
                memcpy(dst + o, ELLIPSIS, 3);
                o += 3;
                break;
            }
            dst[o++] = (char)c;
            i++;
            continue;
        }
        uint32_t cp = 0;
        size_t len = utf8_decode(s + i, n - i, &cp);
        const char *piece;
        size_t plen;
        if (len == 0 || !char_allowed(cp)) {
            piece = REPLACEMENT;
            plen = 3;
            len = len ? len : 1;
        } else {
            piece = (const char *)s + i;
            plen = len;
        }
        if (o + plen > max) {
            memcpy(dst + o, ELLIPSIS, 3);
            o += 3;
            break;
        }
        memcpy(dst + o, piece, plen);
        o += plen;
        i += len;
    }
    dst[o] = '\0';
    return o;
}

char *mf_xml_clean_dup(const char *src, size_t max)
{
    if (!src)
        return NULL;
    size_t n = strlen(src);
    /* Each input byte gives at most 3 output bytes. */
    size_t need = n <= max / 3 ? n * 3 : max;
    char *d = malloc(need + 4);
    if (!d)
        return NULL;
    mf_xml_clean(d, need < max ? need : max, src);
    return d;
}

bool mf_xml_is_clean(const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    if (n > max)
        return false;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_decode(u + i, n - i, &cp);
        if (len == 0 || !char_allowed(cp))
            return false;
        i += len;
    }
    return true;
}

struct mf_xw {
    xmlTextWriterPtr w;
    bool failed;
    char *scratch; /* MF_RPT_BODY_MAX + 4 bytes for cleaned values */
    char err[160];
};

static void fail(mf_xw *x, const char *what)
{
    if (!x->failed) {
        x->failed = true;
        snprintf(x->err, sizeof(x->err), "%s: %s", what,
                 errno ? strerror(errno) : "libxml2 writer error");
    }
}

#define XW_CALL(x, call, what)                                                                     \
    do {                                                                                           \
        if (!(x)->failed && (call) < 0)                                                            \
            fail((x), (what));                                                                     \
    } while (0)

mf_code mf_xw_open(mf_xw **out, FILE *f, bool indent, mf_error *err)
{
    *out = NULL;
    mf_code rc = MF_OK;
    mf_xw *x = calloc(1, sizeof(*x));
    xmlOutputBufferPtr ob = NULL;
    if (!x || !(x->scratch = malloc(MF_RPT_BODY_MAX + 4))) {
        rc = mf_error_set(err, MF_ERR_NOMEM, "out of memory");
        goto out;
    }
    ob = xmlOutputBufferCreateFile(f, NULL);
    if (!ob || !(x->w = xmlNewTextWriter(ob))) {
        if (ob)
            xmlOutputBufferClose(ob);
        rc = mf_error_set(err, MF_ERR_NOMEM, "cannot create the XML writer");
        goto out;
    }
    if (indent) {
        xmlTextWriterSetIndent(x->w, 1);
        xmlTextWriterSetIndentString(x->w, BAD_CAST "  ");
    }
    *out = x;
    x = NULL;
out:
    if (x) {
        free(x->scratch);
        free(x);
    }
    return rc;
}

mf_code mf_xw_close(mf_xw *x, mf_error *err)
{
    if (!x)
        return MF_OK;
    mf_code rc = MF_OK;
    if (!x->failed && xmlTextWriterFlush(x->w) < 0)
        fail(x, "flush");
    if (x->failed)
        rc = mf_error_set(err, MF_ERR_IO, "writing the report failed (%s)", x->err);
    xmlFreeTextWriter(x->w); /* also closes the output buffer, not the FILE */
    free(x->scratch);
    free(x);
    return rc;
}

void mf_xw_flush(mf_xw *x)
{
    XW_CALL(x, xmlTextWriterFlush(x->w), "flush");
}

bool mf_xw_failed(const mf_xw *x)
{
    return x->failed;
}

void mf_xw_decl(mf_xw *x)
{
    XW_CALL(x, xmlTextWriterStartDocument(x->w, "1.0", "UTF-8", NULL), "start document");
}

void mf_xw_doctype_html(mf_xw *x)
{
    XW_CALL(x, xmlTextWriterWriteDTD(x->w, BAD_CAST "html", NULL, NULL, NULL), "doctype");
    XW_CALL(x, xmlTextWriterWriteRaw(x->w, BAD_CAST "\n"), "doctype");
}

void mf_xw_start(mf_xw *x, const char *element)
{
    XW_CALL(x, xmlTextWriterStartElement(x->w, BAD_CAST element), "start element");
}

void mf_xw_end(mf_xw *x)
{
    XW_CALL(x, xmlTextWriterFullEndElement(x->w), "end element");
}

void mf_xw_end_empty(mf_xw *x)
{
    XW_CALL(x, xmlTextWriterEndElement(x->w), "end element");
}

void mf_xw_attr(mf_xw *x, const char *name, const char *value)
{
    if (x->failed)
        return;
    mf_xml_clean(x->scratch, MF_RPT_TEXT_MAX, value);
    XW_CALL(x, xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST x->scratch), "attribute");
}

void mf_xw_attr_clean(mf_xw *x, const char *name, const char *value)
{
    XW_CALL(x, xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST(value ? value : "")),
            "attribute");
}

/* Text that is clean already, escaped here rather than by xmlTextWriterWriteString: that
 * allocates a copy per call and also escapes '"', which text content does not need (the
 * JUnit bodies quote every value, and are most of a large file). '&', '<' and '>' become
 * entities (so "]]>" stays harmless) and CR a character reference, as libxml2 does; the
 * result goes through xmlTextWriterWriteRawLen, which closes a pending start tag first,
 * as WriteString would. */
void mf_xw_text_clean(mf_xw *x, const char *text)
{
    if (x->failed || !text || !*text)
        return;
    const char *p = text;
    for (;;) {
        /* A run of plain bytes is written as it is, straight from text. */
        size_t run = strcspn(p, "&<>\r");
        if (run > INT32_MAX)
            run = INT32_MAX; /* cannot happen: bodies are capped at MF_RPT_BODY_MAX */
        if (run)
            XW_CALL(x, xmlTextWriterWriteRawLen(x->w, BAD_CAST p, (int)run), "text");
        p += run;
        if (*p == '\0' || x->failed)
            return;
        const char *ent = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : "&#13;";
        XW_CALL(x, xmlTextWriterWriteRaw(x->w, BAD_CAST ent), "text");
        p++;
    }
}

void mf_xw_attrf(mf_xw *x, const char *name, const char *fmt, ...)
{
    char buf[MF_RPT_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    mf_xw_attr(x, name, buf);
}

void mf_xw_text_cap(mf_xw *x, const char *text, size_t cap)
{
    if (x->failed || !text || !*text)
        return;
    if (cap == 0 || cap > MF_RPT_BODY_MAX)
        cap = cap ? MF_RPT_BODY_MAX : MF_RPT_TEXT_MAX;
    mf_xml_clean(x->scratch, cap, text);
    XW_CALL(x, xmlTextWriterWriteString(x->w, BAD_CAST x->scratch), "text");
}

void mf_xw_text(mf_xw *x, const char *text)
{
    mf_xw_text_cap(x, text, MF_RPT_TEXT_MAX);
}

void mf_xw_textf(mf_xw *x, const char *fmt, ...)
{
    char buf[MF_RPT_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    mf_xw_text(x, buf);
}

void mf_xw_elem(mf_xw *x, const char *element, const char *text)
{
    mf_xw_start(x, element);
    mf_xw_text(x, text);
    mf_xw_end(x);
}

void mf_xw_elem_class(mf_xw *x, const char *element, const char *cls, const char *text)
{
    mf_xw_start(x, element);
    mf_xw_attr(x, "class", cls);
    mf_xw_text(x, text);
    mf_xw_end(x);
}

void mf_xw_raw(mf_xw *x, const char *data, size_t len)
{
    if (x->failed || len == 0)
        return;
    if (len > INT32_MAX) {
        fail(x, "raw copy too large");
        return;
    }
    XW_CALL(x, xmlTextWriterWriteRawLen(x->w, BAD_CAST data, (int)len), "copy");
}

void mf_xw_copy_fragment(mf_xw *x, FILE *frag, long long off, long long len)
{
    char buf[65536];
    if (x->failed || len <= 0)
        return;
    if (fseeko(frag, (off_t)off, SEEK_SET) != 0) {
        fail(x, "seek in the temporary file");
        return;
    }
    while (len > 0 && !x->failed) {
        size_t want = len > (long long)sizeof(buf) ? sizeof(buf) : (size_t)len;
        size_t got = fread(buf, 1, want, frag);
        if (got == 0) {
            fail(x, "read the temporary file");
            return;
        }
        mf_xw_raw(x, buf, got);
        len -= (long long)got;
    }
}
