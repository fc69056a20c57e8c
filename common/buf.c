#include "buf.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mf_buf_init(mf_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static mf_code ensure(mf_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return MF_ERR_TOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return MF_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    char *p = realloc(b->data, ncap);
    if (!p)
        return MF_ERR_NOMEM;
    b->data = p;
    b->cap = ncap;
    return MF_OK;
}

mf_code mf_buf_append(mf_buf *b, const void *p, size_t n)
{
    mf_code rc = ensure(b, n);
    if (rc != MF_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return MF_OK;
}

mf_code mf_buf_append_str(mf_buf *b, const char *s)
{
    return mf_buf_append(b, s, strlen(s));
}

mf_code mf_buf_appendf(mf_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MF_ERR_INTERNAL;
    mf_code rc = ensure(b, (size_t)n);
    if (rc != MF_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return MF_OK;
}

void mf_buf_reset(mf_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void mf_buf_consume(mf_buf *b, size_t n)
{
    if (n >= b->len) {
        mf_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *mf_buf_detach(mf_buf *b, size_t *len_out)
{
    char *p = b->data;
    size_t len = b->len;
    if (!p)
        p = mf_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    if (len_out)
        *len_out = len;
    return p;
}

void mf_buf_free(mf_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
