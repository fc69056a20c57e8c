/* xmlw.h: the markup layer of the report writers, over libxml2's xmlTextWriter.
 *
 * Every value goes through mf_xml_clean first and then through libxml2's escaping, so
 * a value can never become markup: there is no way to write a string unescaped except
 * mf_xw_raw, which only copies back bytes an mf_xw wrote itself (the temporary
 * fragments of the JUnit and HTML writers).
 *
 * Errors are sticky: after the first failed call every further call does nothing and
 * mf_xw_close reports MF_ERR_IO, so writers need not check each element.
 */
#ifndef MF_XMLW_H
#define MF_XMLW_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Clean src for XML 1.0 and HTML: invalid UTF-8, C0 controls other than tab, LF and
 * CR, DEL, C1 controls, surrogates and non-characters become U+FFFD. At most max
 * bytes of output are produced (never cutting a character); when src is longer, an
 * ellipsis "…" follows. dst must hold max + 4 bytes; it is always NUL-terminated.
 * src NULL gives "". Returns the length written. */
size_t mf_xml_clean(char *dst, size_t max, const char *src);
/* The same, allocated with malloc (NULL on OOM; src NULL gives NULL). */
char *mf_xml_clean_dup(const char *src, size_t max);
/* True when s is already what mf_xml_clean would make of it (below max bytes). */
bool mf_xml_is_clean(const char *s, size_t max);

typedef struct mf_xw mf_xw;

/* A writer appending to f (not closed by mf_xw_close). indent: pretty-print elements
 * (only for element-only content; text is never re-indented). */
mf_code mf_xw_open(mf_xw **out, FILE *f, bool indent, mf_error *err);
/* Flush and free. MF_ERR_IO (with a message) when any write failed. NULL allowed. */
mf_code mf_xw_close(mf_xw *x, mf_error *err);
/* Flush buffered output to the FILE (the caller may then ftell it). */
void mf_xw_flush(mf_xw *x);
bool mf_xw_failed(const mf_xw *x);

void mf_xw_decl(mf_xw *x);         /* <?xml version="1.0" encoding="UTF-8"?> */
void mf_xw_doctype_html(mf_xw *x); /* <!DOCTYPE html> */
void mf_xw_start(mf_xw *x, const char *element);
/* Close the innermost element as </name>, even when empty (HTML needs this for every
 * element but the void ones). */
void mf_xw_end(mf_xw *x);
/* Close the innermost element as <name/> when it is empty (XML; HTML void elements). */
void mf_xw_end_empty(mf_xw *x);
/* Attribute of the element just started; value cleaned (cap MF_RPT_TEXT_MAX), escaped.
 * NULL value writes an empty attribute. */
void mf_xw_attr(mf_xw *x, const char *name, const char *value);
void mf_xw_attrf(mf_xw *x, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same for values that are clean already (mf_xml_is_clean): the strings of the
 * neutral model after reports.c copied them, and text built from such strings without
 * cutting a character. Escaped, not cleaned again (cleaning twice was a seventh of the
 * JUnit writer's time). */
void mf_xw_attr_clean(mf_xw *x, const char *name, const char *value);
void mf_xw_text_clean(mf_xw *x, const char *text);
/* Text content, cleaned and escaped; cap is the byte cap (0: MF_RPT_TEXT_MAX). */
void mf_xw_text_cap(mf_xw *x, const char *text, size_t cap);
void mf_xw_text(mf_xw *x, const char *text);
void mf_xw_textf(mf_xw *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* <element>text</element> */
void mf_xw_elem(mf_xw *x, const char *element, const char *text);
/* <element class="cls">text</element> */
void mf_xw_elem_class(mf_xw *x, const char *element, const char *cls, const char *text);
/* Copy bytes that an mf_xw produced earlier (a fragment file) into the output as they
 * are. Never pass anything else. */
void mf_xw_raw(mf_xw *x, const char *data, size_t len);
/* Copy len bytes at offset off of the fragment file frag (written by another mf_xw,
 * flushed) into the output. */
void mf_xw_copy_fragment(mf_xw *x, FILE *frag, long long off, long long len);

#endif
