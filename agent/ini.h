/* ini.h: a bounded reader for INI files as Mozilla writes them (profiles.ini,
 * installs.ini).
 *
 * Accepted: an optional UTF-8 byte order mark; LF or CRLF line ends; blank lines;
 * comment lines whose first non-blank character is ';' or '#'; section headers
 * "[name]"; entries "key=value". Blanks around names, keys and values are trimmed. Keys
 * and section names are case-sensitive (as in Mozilla's nsINIParser). A section that
 * appears twice is one section; a key that appears twice in a section keeps its last
 * value.
 *
 * Errors carry the 1-based line and column: a line that is neither of the above, a
 * header without ']', an empty section name or key, an entry before the first section,
 * a NUL byte, an over-long line. The bad line is skipped and reading goes on, so the
 * caller gets every good entry and the first error.
 *
 * The bytes are not checked for UTF-8: callers that put values into a report check them.
 */
#ifndef MF_INI_H
#define MF_INI_H

#include "error.h"

#include <stddef.h>

/* Caps. Lookups and duplicate checks are linear, so the counts are kept small: a real
 * profiles.ini has a handful of sections of a handful of keys. */
#define MF_INI_MAX_LINE            (16u * 1024u) /* bytes per line, without the line end */
#define MF_INI_MAX_SECTIONS        256u          /* distinct sections */
#define MF_INI_MAX_ENTRIES         4096u         /* distinct keys in the whole file */
#define MF_INI_MAX_SECTION_ENTRIES 256u          /* distinct keys in one section (fixed) */

typedef struct mf_ini_limits {
    size_t max_line;     /* 0: MF_INI_MAX_LINE */
    size_t max_sections; /* 0: MF_INI_MAX_SECTIONS */
    size_t max_entries;  /* 0: MF_INI_MAX_ENTRIES */
} mf_ini_limits;

typedef struct mf_ini_entry {
    char *key;
    char *value;
    int line; /* line of the value that won */
} mf_ini_entry;

typedef struct mf_ini_section {
    char *name;
    int line; /* line of the first header */
    mf_ini_entry *entries;
    size_t n, cap;
} mf_ini_section;

/* The parsed file. Read-only for callers; sections are in first-seen order, entries in
 * first-seen order within their section. */
typedef struct mf_ini {
    mf_ini_section *sections;
    size_t n, cap;
    size_t errors;  /* syntax errors found (bad lines skipped) */
    size_t entries; /* entries stored in all sections */
} mf_ini;

/* Parse len bytes (need not be NUL-terminated). lim may be NULL (defaults).
 *
 * *out is NULL on entry. Returns MF_OK with *out set when the file was clean;
 * MF_ERR_PARSE with *out set (bad lines skipped) and err holding the first error's line,
 * column and reason; MF_ERR_TOOBIG with *out set to what was read before a cap on
 * sections or entries was reached; MF_ERR_NOMEM with *out NULL. file names the input in
 * err (may be NULL). The caller frees *out with mf_ini_free(). err may be NULL. */
mf_code mf_ini_parse(mf_ini **out, const char *data, size_t len, const char *file,
                     const mf_ini_limits *lim, mf_error *err);

/* Free everything; NULL is allowed. */
void mf_ini_free(mf_ini *ini);

/* The section called name, or NULL. */
const mf_ini_section *mf_ini_section_find(const mf_ini *ini, const char *name);

/* The value of key in section s (NULL s allowed), or NULL. The string belongs to the ini. */
const char *mf_ini_section_get(const mf_ini_section *s, const char *key);

/* Shorthand: the value of key in the section called section, or NULL. */
const char *mf_ini_get(const mf_ini *ini, const char *section, const char *key);

#endif
