/* For bad-input tests: build a chain of layers from YAML (a map or a list of maps), infer it
 * on the given input shapes and allocate it, then free everything. Returns the first error
 * (with its message in e) or CNN_OK. */
#ifndef CNN_TESTS_LAYER_UTIL_H
#define CNN_TESTS_LAYER_UTIL_H

#include "../../src/core/core.h"

int try_chain(const char *yaml, const shape *in, const dtype *in_dt, int n_in, cnn_err *e);

/* Asserts that try_chain fails with CNN_EINVAL and a message containing every one of the
 * NULL-terminated fragments; prints the message so the log shows what users see. */
void expect_chain_error(const char *yaml, const shape *in, const dtype *in_dt, int n_in,
                        const char *const *fragments);
#define EXPECT_ERROR(yaml, in, in_dt, n_in, ...)                                          \
    expect_chain_error((yaml), (in), (in_dt), (n_in), (const char *const[]){__VA_ARGS__, NULL})

#endif
