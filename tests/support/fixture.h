/* Reader for the binary fixtures written by tools/fixtures/make_fixtures.py.
 * Format (little-endian): "CNNFIX01", u32 version (1), u32 record count, then per record:
 * u16 name length, name, u8 dtype (0 f32, 1 i32, 2 u8, 3 text), u8 ndim, i64 dims[ndim],
 * raw data. Text records have ndim 1 and their length as the dim. */
#ifndef CNN_TESTS_FIXTURE_H
#define CNN_TESTS_FIXTURE_H

#include "../../src/core/core.h"

typedef struct fixture_rec {
    char name[128];
    dtype dt; /* DTYPE_F32, DTYPE_I32, DTYPE_U8; text records are DTYPE_U8 with is_text */
    int is_text;
    shape s;
    void *data; /* owned; text is NUL-terminated */
} fixture_rec;

typedef struct fixture {
    int n;
    fixture_rec *recs;
} fixture;

int fixture_load(const char *path, fixture *f, cnn_err *e);
void fixture_free(fixture *f);
const fixture_rec *fixture_find(const fixture *f, const char *name);

#endif
