/* report_json.h: encoding and strict decoding of mailfleet.report.v1 (Jansson). */
#ifndef MF_REPORT_JSON_H
#define MF_REPORT_JSON_H

#include "report.h"

#include <jansson.h>
#include <stddef.h>

/* The largest report document the decoder accepts by default (1 MiB). */
#define MF_REPORT_MAX_BYTES (1024 * 1024)

/* Encode r as a JSON object (new reference; NULL on OOM). */
json_t *mf_report_to_json(const mf_report *r);

/* Encode r as compact (pretty = 0) or indented text. Returns a malloc'd string. */
char *mf_report_encode(const mf_report *r, int pretty);

/* Decode a report from len bytes of JSON. Strict: the schema must be
 * mailfleet.report.v1, required fields must be present with the right types, enum
 * words must be known, ids must be unique and references must resolve. Unknown
 * members are ignored (later versions may add fields). On error *out is NULL and err
 * names the field path (servers[2].port) or the line and column of a syntax error. */
mf_code mf_report_decode(mf_report **out, const char *data, size_t len, mf_error *err);

/* What a JSON value is, for messages: "an object", "an array", "a string", "an
 * integer", "a real number", "a boolean" or "null". */
const char *mf_json_kind(const json_t *v);

/* The decoder's fast reader on its own, for the differential fuzz target: a Jansson tree
 * for documents in the plain subset of JSON it handles, NULL for anything else (the
 * decoder then asks json_loadb). Its contract is that whatever it accepts, json_loadb
 * with JSON_REJECT_DUPLICATES accepts too and reads as an equal tree
 * (tests/fuzz/fuzz_json_fast.c checks exactly that). New reference; NULL when declined. */
json_t *mf_json_fast_load(const char *data, size_t len);

/* Decode from an already parsed JSON object. */
mf_code mf_report_from_json(mf_report **out, json_t *root, mf_error *err);

#endif
