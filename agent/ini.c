/* ini.c: the INI reader (see ini.h). Line by line over a byte range; every line, section
 * and entry count is capped. Lookups are linear: profiles.ini has a handful of sections. */
#include "ini.h"

#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    mf_ini *ini;
    mf_ini_limits lim;
    const char *file;
    mf_error *err;
    size_t cur_idx; /* the current section (an index: the array may move) */
    bool have_cur;
} reader;

static void bad_line(reader *rd, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void bad_line(reader *rd, int line, int col, const char *fmt, ...)
{
    if (rd->ini->errors++ == 0 && rd->err) {
        char text[MF_ERROR_TEXT_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        mf_error_set(rd->err, MF_ERR_PARSE, "%s", text);
        mf_error_set_file(rd->err, rd->file ? rd->file : "");
        mf_error_set_pos(rd->err, line, col);
    }
}

static void too_big(reader *rd, int line, const char *what, size_t cap)
{
    if (rd->err) {
        mf_error_set(rd->err, MF_ERR_TOOBIG, "more than %zu %s", cap, what);
        mf_error_set_file(rd->err, rd->file ? rd->file : "");
        mf_error_set_pos(rd->err, line, 1);
    }
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trim blanks from [*b, *e). */
static void trim(const char **b, const char **e)
{
    while (*b < *e && is_blank(**b))
        (*b)++;
    while (*e > *b && is_blank((*e)[-1]))
        (*e)--;
}

static void section_free(mf_ini_section *s)
{
    free(s->name);
    for (size_t i = 0; i < s->n; i++) {
        free(s->entries[i].key);
        free(s->entries[i].value);
    }
    free(s->entries);
}

void mf_ini_free(mf_ini *ini)
{
    if (!ini)
        return;
    for (size_t i = 0; i < ini->n; i++)
        section_free(&ini->sections[i]);
    free(ini->sections);
    free(ini);
}

static mf_ini_section *find_section(const mf_ini *ini, const char *name, size_t n, size_t *idx)
{
    for (size_t i = 0; i < ini->n; i++) {
        const char *sn = ini->sections[i].name;
        if (strlen(sn) == n && memcmp(sn, name, n) == 0) {
            if (idx)
                *idx = i;
            return &ini->sections[i];
        }
    }
    return NULL;
}

/* A header line; [b, e) is the trimmed line, starting with '['. */
static mf_code header(reader *rd, const char *b, const char *e, const char *line_start, int line)
{
    if (e[-1] != ']') {
        bad_line(rd, line, (int)(e - line_start) + 1, "expected ']' at the end of the header");
        return MF_OK;
    }
    const char *nb = b + 1, *ne = e - 1;
    trim(&nb, &ne);
    if (nb == ne) {
        bad_line(rd, line, (int)(b - line_start) + 1, "empty section name");
        return MF_OK;
    }
    if (memchr(nb, ']', (size_t)(ne - nb)) || memchr(nb, '[', (size_t)(ne - nb))) {
        bad_line(rd, line, (int)(b - line_start) + 1, "bracket inside a section name");
        return MF_OK;
    }
    size_t idx;
    if (find_section(rd->ini, nb, (size_t)(ne - nb), &idx)) {
        rd->cur_idx = idx;
        rd->have_cur = true;
        return MF_OK;
    }
    if (rd->ini->n >= rd->lim.max_sections) {
        too_big(rd, line, "sections", rd->lim.max_sections);
        return MF_ERR_TOOBIG;
    }
    mf_ini *ini = rd->ini;
    if (mf_grow((void **)&ini->sections, &ini->cap, ini->n + 1, sizeof(mf_ini_section)))
        return MF_ERR_NOMEM;
    mf_ini_section *s = &ini->sections[ini->n];
    memset(s, 0, sizeof(*s));
    s->name = mf_strndup(nb, (size_t)(ne - nb));
    if (!s->name)
        return MF_ERR_NOMEM;
    s->line = line;
    rd->cur_idx = ini->n++;
    rd->have_cur = true;
    return MF_OK;
}

/* A key=value line; [b, e) is the trimmed line and eq points at the first '='. */
static mf_code entry(reader *rd, const char *b, const char *e, const char *eq,
                     const char *line_start, int line)
{
    const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
    trim(&kb, &ke);
    trim(&vb, &ve);
    if (kb == ke) {
        bad_line(rd, line, (int)(b - line_start) + 1, "empty key");
        return MF_OK;
    }
    if (!rd->have_cur) {
        bad_line(rd, line, (int)(b - line_start) + 1, "key=value before the first [section]");
        return MF_OK;
    }
    mf_ini_section *s = &rd->ini->sections[rd->cur_idx];
    size_t kn = (size_t)(ke - kb);
    for (size_t i = 0; i < s->n; i++) {
        if (strlen(s->entries[i].key) == kn && memcmp(s->entries[i].key, kb, kn) == 0) {
            char *v = mf_strndup(vb, (size_t)(ve - vb));
            if (!v)
                return MF_ERR_NOMEM;
            free(s->entries[i].value);
            s->entries[i].value = v;
            s->entries[i].line = line;
            return MF_OK;
        }
    }
    if (rd->ini->entries >= rd->lim.max_entries) {
        too_big(rd, line, "entries", rd->lim.max_entries);
        return MF_ERR_TOOBIG;
    }
    if (s->n >= MF_INI_MAX_SECTION_ENTRIES) {
        too_big(rd, line, "entries in one section", (size_t)MF_INI_MAX_SECTION_ENTRIES);
        return MF_ERR_TOOBIG;
    }
    if (mf_grow((void **)&s->entries, &s->cap, s->n + 1, sizeof(mf_ini_entry)))
        return MF_ERR_NOMEM;
    mf_ini_entry *en = &s->entries[s->n];
    en->key = mf_strndup(kb, kn);
    en->value = mf_strndup(vb, (size_t)(ve - vb));
    en->line = line;
    if (!en->key || !en->value) {
        free(en->key);
        free(en->value);
        return MF_ERR_NOMEM;
    }
    s->n++;
    rd->ini->entries++;
    return MF_OK;
}

mf_code mf_ini_parse(mf_ini **out, const char *data, size_t len, const char *file,
                     const mf_ini_limits *lim, mf_error *err)
{
    *out = NULL;
    mf_error_clear(err);
    mf_code rc = MF_OK;
    reader rd = {.file = file, .err = err};
    if (lim)
        rd.lim = *lim;
    if (!rd.lim.max_line)
        rd.lim.max_line = MF_INI_MAX_LINE;
    if (!rd.lim.max_sections)
        rd.lim.max_sections = MF_INI_MAX_SECTIONS;
    if (!rd.lim.max_entries)
        rd.lim.max_entries = MF_INI_MAX_ENTRIES;
    rd.ini = calloc(1, sizeof(mf_ini));
    if (!rd.ini)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    if (!data)
        len = 0;

    size_t pos = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    int line = 0;
    while (pos < len && rc == MF_OK) {
        const char *ls = data + pos;
        const char *nl = memchr(ls, '\n', len - pos);
        const char *le = nl ? nl : data + len;
        pos = nl ? (size_t)(nl - data) + 1 : len;
        if (line < 1000000000)
            line++;
        if (le > ls && le[-1] == '\r')
            le--;
        const char *nul = memchr(ls, '\0', (size_t)(le - ls));
        if (nul) {
            bad_line(&rd, line, (int)(nul - ls) + 1, "NUL byte");
            continue;
        }
        if ((size_t)(le - ls) > rd.lim.max_line) {
            bad_line(&rd, line, 1, "line longer than %zu bytes", rd.lim.max_line);
            continue;
        }
        const char *b = ls, *e = le;
        trim(&b, &e);
        if (b == e || *b == ';' || *b == '#')
            continue;
        if (*b == '[') {
            rc = header(&rd, b, e, ls, line);
            continue;
        }
        const char *eq = memchr(b, '=', (size_t)(e - b));
        if (!eq) {
            bad_line(&rd, line, (int)(b - ls) + 1, "expected key=value, [section] or a comment");
            continue;
        }
        rc = entry(&rd, b, e, eq, ls, line);
    }
    if (rc == MF_ERR_NOMEM) {
        mf_ini_free(rd.ini);
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    }
    *out = rd.ini;
    if (rc != MF_OK)
        return rc;
    return rd.ini->errors ? MF_ERR_PARSE : MF_OK;
}

const mf_ini_section *mf_ini_section_find(const mf_ini *ini, const char *name)
{
    if (!ini || !name)
        return NULL;
    return find_section(ini, name, strlen(name), NULL);
}

const char *mf_ini_section_get(const mf_ini_section *s, const char *key)
{
    if (!s || !key)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->entries[i].key, key) == 0)
            return s->entries[i].value;
    return NULL;
}

const char *mf_ini_get(const mf_ini *ini, const char *section, const char *key)
{
    return mf_ini_section_get(mf_ini_section_find(ini, section), key);
}
