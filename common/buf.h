/* buf.h: a growable byte buffer with a mandatory size cap (like curl's dynbuf, whose
 * "toobig must be set" rule we keep: every buffer that holds untrusted bytes says how
 * large it may become). The data is always NUL-terminated so text users can read it
 * as a C string; len does not count the NUL.
 */
#ifndef MF_BUF_H
#define MF_BUF_H

#include "error.h"

#include <stddef.h>

typedef struct mf_buf {
    char *data;  /* NULL until the first append */
    size_t len;  /* bytes used, excluding the terminating NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* the cap: len may never exceed it */
} mf_buf;

/* Initialise an empty buffer that may hold at most max bytes (max > 0). */
void mf_buf_init(mf_buf *b, size_t max);
/* Append n bytes. MF_ERR_TOOBIG (buffer unchanged) if len + n would exceed max. */
mf_code mf_buf_append(mf_buf *b, const void *p, size_t n);
mf_code mf_buf_append_str(mf_buf *b, const char *s);
mf_code mf_buf_appendf(mf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget the contents, keep the allocation. */
void mf_buf_reset(mf_buf *b);
/* Drop the first n bytes (n <= len). */
void mf_buf_consume(mf_buf *b, size_t n);
/* Hand the data to the caller (who frees it) and reset the buffer to empty. Never NULL
 * unless out of memory: an empty buffer gives "". */
char *mf_buf_detach(mf_buf *b, size_t *len_out);
void mf_buf_free(mf_buf *b);

#endif
