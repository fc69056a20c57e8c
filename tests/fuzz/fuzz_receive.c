/* fuzz_receive.c: the receive framing (collector/receive.c) fed arbitrary bytes.
 *
 * The input is the agent's side of a session. Reports that pass validation go to a
 * memory sink that remembers ids (so duplicates happen) and fails some on purpose
 * (ids starting with 0000 as "disk full", eeee as an I/O error). Every line receive
 * writes is checked: printable ASCII, at most 512 bytes with its newline, and one of
 * the answers docs/transport.md allows. A violation aborts, so the fuzzer reports it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "receive.h"

#define MAX_IDS 32

typedef struct mem_in {
    const uint8_t *p;
    size_t left;
} mem_in;

typedef struct mem_out {
    char line[MF_RECEIVE_LINE_MAX + 1];
    size_t len;
    size_t lines;
} mem_out;

typedef struct mem_sink {
    char ids[MAX_IDS][37];
    size_t n;
} mem_sink;

typedef struct ctx {
    mem_in in;
    mem_out out;
} ctx;

static ssize_t mem_read(void *c, void *buf, size_t n)
{
    mem_in *m = &((ctx *)c)->in;
    /* Hand out small, uneven pieces so line and body reassembly are exercised. */
    size_t take = m->left < n ? m->left : n;
    if (take > 1 + (m->left % 97))
        take = 1 + (m->left % 97);
    memcpy(buf, m->p, take);
    m->p += take;
    m->left -= take;
    return (ssize_t)take;
}

static void check_line(const char *line, size_t len)
{
    if (len == 0 || len > MF_RECEIVE_LINE_MAX - 1)
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
            abort();
    static const char *const starts[] = {"MFRECV 1 max=", "ACK ", "NACK ", "BYE "};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
        if (strncmp(line, starts[i], strlen(starts[i])) == 0)
            return;
    abort();
}

static int mem_write(void *c, const void *buf, size_t n)
{
    mem_out *o = &((ctx *)c)->out;
    const char *p = buf;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            check_line(o->line, o->len);
            o->len = 0;
            o->lines++;
            continue;
        }
        if (o->len >= MF_RECEIVE_LINE_MAX)
            abort(); /* a line longer than the framing allows */
        o->line[o->len++] = p[i];
    }
    return 0;
}

static mf_code mem_store(void *c, mf_spool_result *out, const char *id, const char *data,
                         size_t len, mf_error *err)
{
    mem_sink *s = c;
    (void)data;
    (void)len;
    *out = MF_SPOOL_STORED;
    if (strlen(id) != 36)
        abort(); /* receive must only store validated, normalised ids */
    if (strncmp(id, "0000", 4) == 0)
        return mf_error_set(err, MF_ERR_NOSPACE, "disk full (simulated)");
    if (strncmp(id, "eeee", 4) == 0)
        return mf_error_set(err, MF_ERR_IO, "I/O error (simulated)");
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0) {
            *out = MF_SPOOL_DUPLICATE;
            return MF_OK;
        }
    if (s->n < MAX_IDS)
        memcpy(s->ids[s->n++], id, 37);
    return MF_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf_log_init("fuzz_receive", MF_LOG_ERROR);
    ctx c = {.in = {.p = data, .left = size}};
    mem_sink sink_state = {.n = 0};
    mf_receive_io io = {.read = mem_read, .write = mem_write, .ctx = &c};
    mf_receive_sink sink = {.store = mem_store, .ctx = &sink_state};
    mf_receive_stats stats;
    mf_error err;
    mf_error_clear(&err);
    mf_code rc = mf_receive_run(&stats, &io, &sink, 16384, &err);
    /* Every report got exactly one answer: greeting + answers (+ BYE after END). */
    size_t answers = stats.stored + stats.duplicates + stats.refused;
    if (c.out.len != 0)
        abort(); /* a partial line was left unterminated */
    if (rc == MF_OK && c.out.lines != answers + 2)
        abort();
    if (c.out.lines < answers + 1)
        abort();
    return 0;
}
