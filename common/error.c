#include "error.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[MF_ERR__COUNT] = {
    [MF_OK] = "no error",
    [MF_ERR_NOMEM] = "out of memory",
    [MF_ERR_IO] = "input/output error",
    [MF_ERR_NOTFOUND] = "not found",
    [MF_ERR_PERM] = "permission denied",
    [MF_ERR_TOOBIG] = "too large",
    [MF_ERR_PARSE] = "malformed input",
    [MF_ERR_INVALID] = "invalid value",
    [MF_ERR_UNSUPPORTED] = "unsupported",
    [MF_ERR_USAGE] = "usage error",
    [MF_ERR_RANGE] = "number out of range",
    [MF_ERR_TIMEOUT] = "timed out",
    [MF_ERR_NET] = "network error",
    [MF_ERR_TLS] = "TLS error",
    [MF_ERR_SSH] = "SSH error",
    [MF_ERR_DB] = "database error",
    [MF_ERR_INTERNAL] = "internal error",
    [MF_ERR_CONFIG] = "bad configuration",
    [MF_ERR_HOSTKEY] = "host key not trusted",
    [MF_ERR_REFUSED] = "refused by peer",
    [MF_ERR_NOSPACE] = "no space left",
};

const char *mf_strerror(mf_code code)
{
    if ((int)code < 0 || code >= MF_ERR__COUNT || !code_names[code])
        return "unknown error";
    return code_names[code];
}

void mf_error_clear(mf_error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
}

mf_code mf_error_set(mf_error *err, mf_code code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    return code;
}

mf_code mf_error_at(mf_error *err, const char *file, const char *field, mf_code code,
                    const char *fmt, ...)
{
    if (!err)
        return code;
    mf_error_clear(err);
    mf_error_set_file(err, file);
    mf_error_set_field(err, field);
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    return code;
}

void mf_error_set_file(mf_error *err, const char *file)
{
    if (err)
        mf_strlcpy(err->file, file ? file : "", sizeof(err->file));
}

void mf_error_set_field(mf_error *err, const char *field)
{
    if (err)
        mf_strlcpy(err->field, field ? field : "", sizeof(err->field));
}

void mf_error_set_pos(mf_error *err, int line, int column)
{
    if (!err)
        return;
    err->line = line;
    err->column = column;
}

void mf_error_prefix_field(mf_error *err, const char *prefix)
{
    if (!err || !prefix || !*prefix)
        return;
    char tmp[MF_ERROR_FIELD_MAX];
    if (err->field[0] == '\0')
        snprintf(tmp, sizeof(tmp), "%s", prefix);
    else if (err->field[0] == '[')
        snprintf(tmp, sizeof(tmp), "%s%s", prefix, err->field);
    else
        snprintf(tmp, sizeof(tmp), "%s.%s", prefix, err->field);
    mf_strlcpy(err->field, tmp, sizeof(err->field));
}

const char *mf_error_format(const mf_error *err, char *out, size_t outsz)
{
    if (!out || outsz == 0)
        return out;
    out[0] = '\0';
    if (!err)
        return out;
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (n < outsz) {                                                                           \
            int w_ = snprintf(out + n, outsz - n, __VA_ARGS__);                                    \
            if (w_ > 0)                                                                            \
                n += (size_t)w_;                                                                   \
        }                                                                                          \
    } while (0)
    if (err->file[0]) {
        PUT("%s", err->file);
        if (err->line > 0)
            PUT(":%d", err->line);
        if (err->line > 0 && err->column > 0)
            PUT(":%d", err->column);
        PUT(": ");
    } else if (err->line > 0) {
        PUT("line %d: ", err->line);
    }
    if (err->field[0])
        PUT("%s: ", err->field);
    PUT("%s", err->text[0] ? err->text : mf_strerror(err->code));
#undef PUT
    return out;
}
