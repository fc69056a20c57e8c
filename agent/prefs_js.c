/* prefs_js.c: the Mozilla prefs file reader (see prefs_js.h for the grammar and rules).
 *
 * A hand-written recursive-descent parser over a byte range: no recursion is needed
 * (the grammar is flat), every loop advances, and every size is capped. The set keeps
 * its entries in first-seen order plus an open-addressing hash index over the names.
 */
#include "prefs_js.h"

#include "buf.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mf_prefs {
    mf_pref *v;
    size_t n, cap;
    size_t *tab;  /* slots hold entry index + 1; 0 is empty */
    size_t tabsz; /* power of two, or 0 before the first insert */
    mf_prefs_limits lim;
    int nfiles;         /* parse calls so far */
    size_t last_errors; /* syntax errors of the last parse */
};

/* ------------------------------------------------------------------ helpers */

static void wipe(char *s, size_t n)
{
    volatile char *p = s;
    while (s && n--)
        *p++ = 0;
}

static void value_clear(mf_pref_value *v)
{
    if (v->str) {
        wipe(v->str, v->str_len);
        free(v->str);
    }
    memset(v, 0, sizeof(*v));
}

static void pref_clear(mf_pref *p)
{
    free(p->name);
    value_clear(&p->user);
    value_clear(&p->def);
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* The slot of name in the index, or of the empty slot where it would go. */
static size_t slot_for(const mf_prefs *p, const char *name)
{
    size_t mask = p->tabsz - 1;
    size_t i = (size_t)hash_name(name) & mask;
    while (p->tab[i] && strcmp(p->v[p->tab[i] - 1].name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

static mf_code rebuild_index(mf_prefs *p, size_t want)
{
    size_t sz = 64;
    while (sz < want * 2)
        sz *= 2;
    size_t *tab = calloc(sz, sizeof(*tab));
    if (!tab)
        return MF_ERR_NOMEM;
    free(p->tab);
    p->tab = tab;
    p->tabsz = sz;
    for (size_t k = 0; k < p->n; k++)
        p->tab[slot_for(p, p->v[k].name)] = k + 1;
    return MF_OK;
}

/* ------------------------------------------------------------------ public set API */

mf_code mf_prefs_new(mf_prefs **out, const mf_prefs_limits *lim)
{
    *out = NULL;
    mf_prefs *p = calloc(1, sizeof(*p));
    if (!p)
        return MF_ERR_NOMEM;
    if (lim)
        p->lim = *lim;
    if (!p->lim.max_prefs)
        p->lim.max_prefs = MF_PREFS_MAX_PREFS;
    if (!p->lim.max_string)
        p->lim.max_string = MF_PREFS_MAX_STRING;
    if (!p->lim.max_name)
        p->lim.max_name = MF_PREFS_MAX_NAME;
    *out = p;
    return MF_OK;
}

void mf_prefs_free(mf_prefs *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        pref_clear(&p->v[i]);
    free(p->v);
    free(p->tab);
    free(p);
}

size_t mf_prefs_errors(const mf_prefs *p)
{
    return p->last_errors;
}

size_t mf_prefs_count(const mf_prefs *p)
{
    return p->n;
}

const mf_pref *mf_prefs_at(const mf_prefs *p, size_t i)
{
    return i < p->n ? &p->v[i] : NULL;
}

const mf_pref *mf_prefs_find(const mf_prefs *p, const char *name)
{
    if (!name || !p->tabsz)
        return NULL;
    size_t i = slot_for(p, name);
    return p->tab[i] ? &p->v[p->tab[i] - 1] : NULL;
}

const mf_pref_value *mf_pref_effective(const mf_pref *pref)
{
    if (!pref)
        return NULL;
    if (pref->locked && pref->def.type != MF_PREF_NONE)
        return &pref->def;
    if (pref->user.type != MF_PREF_NONE)
        return &pref->user;
    if (pref->def.type != MF_PREF_NONE)
        return &pref->def;
    return NULL;
}

const char *mf_prefs_get_str(const mf_prefs *p, const char *name)
{
    const mf_pref_value *v = mf_pref_effective(mf_prefs_find(p, name));
    return v && v->type == MF_PREF_STRING ? v->str : NULL;
}

bool mf_prefs_get_int(const mf_prefs *p, const char *name, long long *out)
{
    const mf_pref_value *v = mf_pref_effective(mf_prefs_find(p, name));
    if (!v || v->type != MF_PREF_INT)
        return false;
    *out = v->num;
    return true;
}

bool mf_prefs_get_bool(const mf_prefs *p, const char *name, bool *out)
{
    const mf_pref_value *v = mf_pref_effective(mf_prefs_find(p, name));
    if (!v || v->type != MF_PREF_BOOL)
        return false;
    *out = v->b;
    return true;
}

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0)
        return true;
    for (; *hay; hay++) {
        size_t k = 0;
        while (k < nl && hay[k] &&
               tolower((unsigned char)hay[k]) == tolower((unsigned char)needle[k]))
            k++;
        if (k == nl)
            return true;
    }
    return false;
}

size_t mf_prefs_drop_matching(mf_prefs *p, const char *needle)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (contains_nocase(p->v[i].name, needle)) {
            pref_clear(&p->v[i]);
            dropped++;
        } else {
            p->v[kept++] = p->v[i];
        }
    }
    p->n = kept;
    if (dropped && p->tabsz) {
        /* Rebuilding in place cannot fail: same size, no allocation. */
        memset(p->tab, 0, p->tabsz * sizeof(*p->tab));
        for (size_t k = 0; k < p->n; k++)
            p->tab[slot_for(p, p->v[k].name)] = k + 1;
    }
    return dropped;
}

bool mf_prefs_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = u[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

/* ------------------------------------------------------------------ the parser */

typedef enum step {
    STEP_OK = 0,
    STEP_SYNTAX, /* recorded; skip to the next ';' */
    STEP_FATAL,  /* out of memory or the name cap: stop */
} step;

typedef enum kind { KIND_USER, KIND_DEFAULT, KIND_STICKY } kind;

typedef struct parser {
    const char *s;
    size_t len, pos;
    int line;
    size_t line_start;
    mf_prefs *p;
    int file_idx;
    const char *file;
    mf_error *err;
    size_t errors;
    mf_code fatal;    /* set with STEP_FATAL */
    mf_buf sb;        /* the string being read */
    bool sb_full;     /* sb reached its cap: the string is too long */
    int stmt_line;    /* line where the current statement started */
    bool resync_line; /* recover at the end of this line, not at the next ';' */
} parser;

static int col_at(const parser *ps, size_t pos)
{
    size_t c = pos - ps->line_start + 1;
    return c > 1000000000 ? 1000000000 : (int)c;
}

static step syntax_at(parser *ps, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record a syntax error (only the first is kept in err; all are counted). */
static step syntax_at(parser *ps, int line, int col, const char *fmt, ...)
{
    if (ps->errors++ == 0 && ps->err) {
        char text[MF_ERROR_TEXT_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        mf_error_set(ps->err, MF_ERR_PARSE, "%s", text);
        mf_error_set_file(ps->err, ps->file ? ps->file : "");
        mf_error_set_pos(ps->err, line, col);
    }
    return STEP_SYNTAX;
}

#define SYNTAX_HERE(ps, ...) syntax_at((ps), (ps)->line, col_at((ps), (ps)->pos), __VA_ARGS__)

static bool at_end(const parser *ps)
{
    return ps->pos >= ps->len;
}

static int peek(const parser *ps)
{
    return at_end(ps) ? -1 : (unsigned char)ps->s[ps->pos];
}

static int peek_at(const parser *ps, size_t off)
{
    return ps->pos + off >= ps->len ? -1 : (unsigned char)ps->s[ps->pos + off];
}

static void adv(parser *ps)
{
    if (at_end(ps))
        return;
    if (ps->s[ps->pos] == '\n') {
        if (ps->line < 1000000000)
            ps->line++;
        ps->line_start = ps->pos + 1;
    }
    ps->pos++;
}

/* Skip white space and comments. An unterminated block comment is a syntax error that
 * consumes the rest of the input. */
static step skip_space(parser *ps)
{
    for (;;) {
        int c = peek(ps);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            adv(ps);
        } else if (c == '#' || (c == '/' && peek_at(ps, 1) == '/')) {
            while (!at_end(ps) && peek(ps) != '\n')
                adv(ps);
        } else if (c == '/' && peek_at(ps, 1) == '*') {
            int line = ps->line, col = col_at(ps, ps->pos);
            adv(ps);
            adv(ps);
            for (;;) {
                if (at_end(ps))
                    return syntax_at(ps, line, col, "unterminated comment");
                if (peek(ps) == '*' && peek_at(ps, 1) == '/') {
                    adv(ps);
                    adv(ps);
                    break;
                }
                adv(ps);
            }
        } else {
            return STEP_OK;
        }
    }
}

static bool is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(int c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Read an identifier into word (truncated copy; *n is its full length). */
static void read_ident(parser *ps, char *word, size_t wordsz, size_t *n)
{
    size_t k = 0;
    while (is_ident_char(peek(ps))) {
        if (k + 1 < wordsz)
            word[k] = (char)peek(ps);
        k++;
        adv(ps);
    }
    word[k + 1 < wordsz ? k : wordsz - 1] = '\0';
    *n = k;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read exactly n hex digits (n <= 4). -1 when they are not there. */
static long read_hex(parser *ps, int n)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        int h = hexval(peek(ps));
        if (h < 0)
            return -1;
        v = v * 16 + h;
        adv(ps);
    }
    return v;
}

static step put_codepoint(parser *ps, unsigned long cp)
{
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (ps->sb_full)
        return STEP_OK;
    mf_code rc = mf_buf_append(&ps->sb, b, n);
    if (rc == MF_ERR_TOOBIG) {
        ps->sb_full = true; /* read_string reports the length */
        return STEP_OK;
    }
    if (rc != MF_OK) {
        ps->fatal = rc;
        return STEP_FATAL;
    }
    return STEP_OK;
}

/* One escape after the backslash (already consumed). Errors are reported at (line,
 * col), the backslash. */
static step read_escape(parser *ps, int line, int col)
{
    int e = peek(ps);
    if (e < 0 || e == '\n' || e == '\r')
        return STEP_SYNTAX; /* the caller reports "unterminated string" */
    adv(ps);
    unsigned long cp;
    switch (e) {
    case 'n':
        cp = '\n';
        break;
    case 't':
        cp = '\t';
        break;
    case 'r':
        cp = '\r';
        break;
    case '\\':
    case '"':
    case '\'':
        cp = (unsigned long)e;
        break;
    case 'x': {
        long h = read_hex(ps, 2);
        if (h < 0)
            return syntax_at(ps, line, col, "\\x needs two hex digits");
        cp = (unsigned long)h;
        break;
    }
    case 'u': {
        long h = read_hex(ps, 4);
        if (h < 0)
            return syntax_at(ps, line, col, "\\u needs four hex digits");
        if (h >= 0xDC00 && h <= 0xDFFF)
            return syntax_at(ps, line, col, "unpaired surrogate \\u%04lX", h);
        if (h >= 0xD800 && h <= 0xDBFF) {
            if (peek(ps) != '\\' || peek_at(ps, 1) != 'u')
                return syntax_at(ps, line, col, "unpaired surrogate \\u%04lX", h);
            adv(ps);
            adv(ps);
            long lo = read_hex(ps, 4);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return syntax_at(ps, line, col, "unpaired surrogate \\u%04lX", h);
            cp = 0x10000 + (((unsigned long)h - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
        } else {
            cp = (unsigned long)h;
        }
        break;
    }
    default:
        if (e >= 0x20 && e < 0x7F)
            return syntax_at(ps, line, col, "unknown escape \\%c", e);
        return syntax_at(ps, line, col, "unknown escape");
    }
    if (cp == 0)
        return syntax_at(ps, line, col, "NUL character in string");
    return put_codepoint(ps, cp);
}

/* Read a quoted string at the current position into ps->sb (NUL-terminated). cap is
 * the longest allowed result; what names the string in messages ("pref name"). */
static step read_string(parser *ps, size_t cap, const char *what)
{
    int line = ps->line, col = col_at(ps, ps->pos);
    int q = peek(ps);
    if (q != '"' && q != '\'')
        return SYNTAX_HERE(ps, "expected a quoted %s", what);
    adv(ps);
    mf_buf_reset(&ps->sb);
    ps->sb.max = cap + 1; /* full <=> longer than cap */
    ps->sb_full = false;
    for (;;) {
        int c = peek(ps);
        if (c < 0 || c == '\n' || c == '\r') {
            ps->resync_line = true;
            return syntax_at(ps, line, col, "unterminated string");
        }
        if (c == q) {
            adv(ps);
            break;
        }
        if (c == 0)
            return SYNTAX_HERE(ps, "NUL byte in string");
        if (c == '\\') {
            int bl = ps->line, bc = col_at(ps, ps->pos);
            adv(ps);
            int e = peek(ps);
            if (e < 0 || e == '\n' || e == '\r') {
                ps->resync_line = true;
                return syntax_at(ps, line, col, "unterminated string");
            }
            step st = read_escape(ps, bl, bc);
            if (st != STEP_OK)
                return st;
        } else {
            /* A run of ordinary bytes. */
            size_t start = ps->pos;
            while (!at_end(ps)) {
                int d = peek(ps);
                if (d == q || d == '\\' || d == '\n' || d == '\r' || d == 0)
                    break;
                ps->pos++; /* no '\n' in the run, so no line bookkeeping */
            }
            if (!ps->sb_full) {
                mf_code rc = mf_buf_append(&ps->sb, ps->s + start, ps->pos - start);
                if (rc == MF_ERR_TOOBIG) {
                    ps->sb_full = true;
                } else if (rc != MF_OK) {
                    ps->fatal = rc;
                    return STEP_FATAL;
                }
            }
        }
    }
    if (ps->sb_full || ps->sb.len > cap)
        return syntax_at(ps, line, col, "%s longer than %zu bytes", what, cap);
    if (!mf_prefs_utf8_valid(ps->sb.data ? ps->sb.data : "", ps->sb.len))
        return syntax_at(ps, line, col, "invalid UTF-8 in %s", what);
    if (!ps->sb.data) {
        /* Empty string: make sure there is a buffer to hand out. */
        mf_code rc = mf_buf_append(&ps->sb, "", 0);
        if (rc != MF_OK || !ps->sb.data) {
            ps->fatal = MF_ERR_NOMEM;
            return STEP_FATAL;
        }
    }
    return STEP_OK;
}

static step take_string(parser *ps, char **out, size_t *len)
{
    *out = mf_strndup(ps->sb.data, ps->sb.len);
    if (!*out) {
        ps->fatal = MF_ERR_NOMEM;
        return STEP_FATAL;
    }
    if (len)
        *len = ps->sb.len;
    return STEP_OK;
}

static step read_number(parser *ps, mf_pref_value *v)
{
    int line = ps->line, col = col_at(ps, ps->pos);
    bool neg = false;
    if (peek(ps) == '+' || peek(ps) == '-') {
        neg = peek(ps) == '-';
        adv(ps);
        if (peek(ps) < '0' || peek(ps) > '9')
            return SYNTAX_HERE(ps, "expected digits after the sign");
    }
    long long n = 0;
    bool over = false;
    while (peek(ps) >= '0' && peek(ps) <= '9') {
        if (!over) {
            n = n * 10 + (peek(ps) - '0');
            if (n > 2147483648LL)
                over = true;
        }
        adv(ps);
    }
    if (is_ident_char(peek(ps)) || peek(ps) == '.')
        return SYNTAX_HERE(ps, "invalid number");
    if (over || (!neg && n > 2147483647LL))
        return syntax_at(ps, line, col, "integer out of range (32 bits)");
    v->type = MF_PREF_INT;
    v->num = neg ? -n : n;
    return STEP_OK;
}

static step read_value(parser *ps, mf_pref_value *v)
{
    int c = peek(ps);
    if (c == '"' || c == '\'') {
        step st = read_string(ps, ps->p->lim.max_string, "string");
        if (st != STEP_OK)
            return st;
        v->type = MF_PREF_STRING;
        return take_string(ps, &v->str, &v->str_len);
    }
    if (c == '+' || c == '-' || (c >= '0' && c <= '9'))
        return read_number(ps, v);
    if (is_ident_start(c)) {
        int col = col_at(ps, ps->pos);
        char word[16];
        size_t n;
        read_ident(ps, word, sizeof(word), &n);
        if (n == 4 && strcmp(word, "true") == 0) {
            v->type = MF_PREF_BOOL;
            v->b = true;
            return STEP_OK;
        }
        if (n == 5 && strcmp(word, "false") == 0) {
            v->type = MF_PREF_BOOL;
            v->b = false;
            return STEP_OK;
        }
        return syntax_at(ps, ps->line, col, "expected a value (string, integer, true or false)");
    }
    if (c < 0)
        return SYNTAX_HERE(ps, "unexpected end of file, expected a value");
    return SYNTAX_HERE(ps, "expected a value (string, integer, true or false)");
}

static step expect_char(parser *ps, char want)
{
    step st = skip_space(ps);
    if (st != STEP_OK)
        return st;
    if (peek(ps) != (unsigned char)want) {
        if (at_end(ps))
            return SYNTAX_HERE(ps, "unexpected end of file, expected '%c'", want);
        return SYNTAX_HERE(ps, "expected '%c'", want);
    }
    adv(ps);
    return STEP_OK;
}

/* Store a parsed definition; takes ownership of name and the value's string. */
static step store(parser *ps, kind k, char *name, mf_pref_value *v, bool locked, int line)
{
    mf_prefs *p = ps->p;
    mf_pref *e = (mf_pref *)mf_prefs_find(p, name);
    if (!e) {
        if (p->n >= p->lim.max_prefs) {
            free(name);
            value_clear(v);
            ps->fatal = MF_ERR_TOOBIG;
            if (ps->err) {
                mf_error_set(ps->err, MF_ERR_TOOBIG, "more than %zu prefs", p->lim.max_prefs);
                mf_error_set_file(ps->err, ps->file ? ps->file : "");
                mf_error_set_pos(ps->err, line, 1);
            }
            return STEP_FATAL;
        }
        if (mf_grow((void **)&p->v, &p->cap, p->n + 1, sizeof(mf_pref)) != MF_OK ||
            ((p->n + 1) * 2 > p->tabsz && rebuild_index(p, p->n + 1) != MF_OK)) {
            free(name);
            value_clear(v);
            ps->fatal = MF_ERR_NOMEM;
            return STEP_FATAL;
        }
        e = &p->v[p->n];
        memset(e, 0, sizeof(*e));
        e->name = name;
        p->tab[slot_for(p, name)] = p->n + 1;
        p->n++;
    } else {
        free(name);
    }
    v->line = line;
    v->file = ps->file_idx;
    mf_pref_value *dst = k == KIND_USER ? &e->user : &e->def;
    value_clear(dst);
    *dst = *v;
    memset(v, 0, sizeof(*v));
    if (locked)
        e->locked = true;
    return STEP_OK;
}

/* One statement, starting at a non-space character. */
static step statement(parser *ps)
{
    int line = ps->line, col = col_at(ps, ps->pos);
    char word[16];
    size_t n;
    if (!is_ident_start(peek(ps))) {
        if (peek(ps) == 0)
            return SYNTAX_HERE(ps, "unexpected NUL byte");
        return SYNTAX_HERE(ps, "expected user_pref, pref or sticky_pref");
    }
    read_ident(ps, word, sizeof(word), &n);
    kind k;
    if (n == 9 && strcmp(word, "user_pref") == 0)
        k = KIND_USER;
    else if (n == 4 && strcmp(word, "pref") == 0)
        k = KIND_DEFAULT;
    else if (n == 11 && strcmp(word, "sticky_pref") == 0)
        k = KIND_STICKY;
    else
        return syntax_at(ps, line, col, "expected user_pref, pref or sticky_pref");

    step st;
    if ((st = expect_char(ps, '(')) != STEP_OK || (st = skip_space(ps)) != STEP_OK)
        return st;
    if ((st = read_string(ps, ps->p->lim.max_name, "pref name")) != STEP_OK)
        return st;
    if (ps->sb.len == 0)
        return syntax_at(ps, line, col, "empty pref name");
    char *name = NULL;
    if ((st = take_string(ps, &name, NULL)) != STEP_OK)
        return st;
    mf_pref_value v = {0};
    bool locked = false;
    if ((st = expect_char(ps, ',')) != STEP_OK || (st = skip_space(ps)) != STEP_OK ||
        (st = read_value(ps, &v)) != STEP_OK)
        goto fail;
    for (;;) {
        if ((st = skip_space(ps)) != STEP_OK)
            goto fail;
        if (peek(ps) != ',' || k == KIND_USER)
            break;
        adv(ps);
        if ((st = skip_space(ps)) != STEP_OK)
            goto fail;
        int acol = col_at(ps, ps->pos);
        char attr[16];
        read_ident(ps, attr, sizeof(attr), &n);
        if (n == 6 && strcmp(attr, "locked") == 0) {
            locked = true;
        } else if (!(n == 6 && strcmp(attr, "sticky") == 0)) {
            st = syntax_at(ps, ps->line, acol, "expected locked or sticky");
            goto fail;
        }
    }
    if ((st = expect_char(ps, ')')) != STEP_OK || (st = expect_char(ps, ';')) != STEP_OK)
        goto fail;
    return store(ps, k, name, &v, locked, line);
fail:
    free(name);
    value_clear(&v);
    return st;
}

/* True when a statement keyword followed by '(' starts at pos. */
static bool statement_starts_at(const parser *ps, size_t pos)
{
    static const char *const words[] = {"user_pref", "pref", "sticky_pref"};
    for (size_t w = 0; w < MF_ARRAY_LEN(words); w++) {
        size_t n = strlen(words[w]);
        if (ps->len - pos < n || memcmp(ps->s + pos, words[w], n) != 0)
            continue;
        size_t k = pos + n;
        while (k < ps->len && (ps->s[k] == ' ' || ps->s[k] == '\t'))
            k++;
        if (k < ps->len && ps->s[k] == '(')
            return true;
    }
    return false;
}

/* True when only blanks precede pos on its line. */
static bool first_on_line(const parser *ps, size_t pos)
{
    for (size_t k = ps->line_start; k < pos; k++)
        if (ps->s[k] != ' ' && ps->s[k] != '\t')
            return false;
    return true;
}

/* After a syntax error, find where to go on. Normally just after the next ';'. Since
 * prefs files have one statement per line, recovery also stops at a line that starts
 * with a statement (so a missing ';' or ')' costs one statement, not two), and an
 * unterminated string resumes on the next line (its ';' was swallowed by the string). */
static void recover(parser *ps)
{
    if (ps->line > ps->stmt_line && first_on_line(ps, ps->pos) && statement_starts_at(ps, ps->pos))
        return; /* the error was noticed at the start of the next statement */
    while (!at_end(ps) && peek(ps) != ';') {
        if (peek(ps) == '\n') {
            adv(ps);
            if (ps->resync_line)
                return;
            size_t k = ps->pos;
            while (k < ps->len && (ps->s[k] == ' ' || ps->s[k] == '\t'))
                k++;
            if (statement_starts_at(ps, k))
                return;
        } else {
            /* Fast path over ordinary bytes. */
            const char *semi = memchr(ps->s + ps->pos, ';', ps->len - ps->pos);
            const char *nl = memchr(ps->s + ps->pos, '\n', ps->len - ps->pos);
            const char *stop = semi && (!nl || semi < nl) ? semi : nl;
            ps->pos = stop ? (size_t)(stop - ps->s) : ps->len;
        }
    }
    adv(ps);
}

mf_code mf_prefs_parse(mf_prefs *p, const char *data, size_t len, const char *file, mf_error *err)
{
    parser ps = {
        .s = data ? data : "",
        .len = data ? len : 0,
        .line = 1,
        .p = p,
        .file_idx = p->nfiles,
        .file = file,
        .err = err,
    };
    mf_error_clear(err);
    p->nfiles++;
    /* Room for the longest string plus the biggest escape, so the length check is done
     * by read_string, not by a failed append. */
    size_t bufmax = p->lim.max_string > p->lim.max_name ? p->lim.max_string : p->lim.max_name;
    mf_buf_init(&ps.sb, bufmax + 8);
    /* A UTF-8 byte order mark is allowed at the very start. */
    if (ps.len >= 3 && memcmp(ps.s, "\xEF\xBB\xBF", 3) == 0)
        ps.pos = ps.line_start = 3;
    for (;;) {
        step st = skip_space(&ps);
        if (st == STEP_OK && at_end(&ps))
            break;
        if (st == STEP_OK) {
            ps.stmt_line = ps.line;
            ps.resync_line = false;
            st = statement(&ps);
        }
        if (st == STEP_FATAL)
            break;
        if (st == STEP_SYNTAX)
            recover(&ps);
    }
    if (ps.sb.data)
        wipe(ps.sb.data, ps.sb.cap);
    mf_buf_free(&ps.sb);
    p->last_errors = ps.errors;
    if (ps.fatal == MF_ERR_NOMEM)
        return mf_error_set(err, MF_ERR_NOMEM, "out of memory");
    if (ps.fatal)
        return ps.fatal;
    return ps.errors ? MF_ERR_PARSE : MF_OK;
}
