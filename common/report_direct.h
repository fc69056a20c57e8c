/* report_direct.h: private to the report codec and its tests.
 *
 * mf_report_decode tries a direct decoder first: it reads the JSON text straight into an
 * mf_report, with no Jansson tree, for the plain documents the agent writes. It never
 * refuses a document: on anything it does not handle, or any doubt about validity, it
 * declines and mf_report_decode runs the tree decoder, which decides and words every
 * error. Contract (tests/fuzz/fuzz_report_direct.c checks it): whatever the direct
 * decoder accepts, the tree decoder accepts too and yields an identical report. */
#ifndef MF_REPORT_DIRECT_H
#define MF_REPORT_DIRECT_H

#include "report.h"

#include <stddef.h>

/* The report read directly from len bytes of JSON, or NULL when declined. */
mf_report *mf_report_decode_direct(const char *data, size_t len);

/* mf_report_decode without the direct decoder: the tree path alone. */
mf_code mf_report_decode_tree(mf_report **out, const char *data, size_t len, mf_error *err);

#endif
