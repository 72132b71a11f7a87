/* The argmax convention of pool_fwd (POOL_MAX), which max_unpool2d and the CUDA backend
 * rely on and the fixture tests cannot see (a consistent but different encoding would pass
 * them): h*W + w within the (n, c) plane as PyTorch's return_indices, padding never wins,
 * NaN propagates. Expected values are worked out by hand from the inputs below. */
#include <math.h>

#include "../../src/core/core.h"
#include "../check.h"

static backend *be;

/* Runs pool_fwd on host data x (N, C, H, W); fills y and idx (host). */
static void run_pool(const pool_desc *d, const float *x, shape xs, shape ys, float *y,
                     int32_t *idx)
{
    cnn_err e = {0};
    tensor tx = tensor_view(NULL, xs, DTYPE_F32, DEVICE_CPU);
    tensor ty = tensor_view(NULL, ys, DTYPE_F32, DEVICE_CPU);
    tensor ti = tensor_view(NULL, ys, DTYPE_I32, DEVICE_CPU);
    CHECK(backend_alloc_tensor(be, &tx, &e) == CNN_OK);
    CHECK(backend_alloc_tensor(be, &ty, &e) == CNN_OK);
    CHECK(backend_alloc_tensor(be, &ti, &e) == CNN_OK);
    backend_upload(be, &tx, x);
    be->ops->pool_fwd(be, d, &tx, &ty, &ti);
    backend_download(be, &ty, y);
    backend_download(be, &ti, idx);
    backend_free_tensor(be, &tx);
    backend_free_tensor(be, &ty);
    backend_free_tensor(be, &ti);
}

static const float plane[16] = {1, 5, 2, 0, 3, 4, 9, 8, 7, 6, 10, 11, 15, 12, 13, 14};

static void two_planes(void)
{
    /* plane 1 is -plane 0: its indices restart at 0, they are not offset by H*W */
    float x[32], y[8];
    int32_t idx[8];
    for (int i = 0; i < 16; i++)
        x[i] = plane[i], x[16 + i] = -plane[i];
    pool_desc k2 = {.kind = POOL_MAX, .kh = 2, .kw = 2, .sh = 2, .sw = 2};
    run_pool(&k2, x, SHAPE(1, 2, 4, 4), SHAPE(1, 2, 2, 2), y, idx);
    static const int32_t want_k2[8] = {1, 6, 12, 15, 0, 3, 9, 10};
    static const float want_y2[8] = {5, 9, 15, 14, -1, 0, -6, -10};
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(idx[i], want_k2[i]);
        CHECK_EQ(y[i], want_y2[i]);
    }
    /* k3 s2 p1: every window is clipped by the padding; on the all-negative plane a zero
     * pad would win if padding took part */
    pool_desc k3 = {.kind = POOL_MAX, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1};
    run_pool(&k3, x, SHAPE(2, 1, 4, 4), SHAPE(2, 1, 2, 2), y, idx);
    static const int32_t want_k3[8] = {1, 6, 12, 15, 0, 3, 4, 5};
    static const float want_y3[8] = {5, 9, 15, 14, -1, 0, -3, -4};
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(idx[i], want_k3[i]);
        CHECK_EQ(y[i], want_y3[i]);
    }
}

static void first_max_and_nan(void)
{
    /* ties: the first maximum in row-major window order wins, as in PyTorch */
    float x[16];
    for (int i = 0; i < 16; i++)
        x[i] = 1.0f;
    float y[4];
    int32_t idx[4];
    pool_desc k2 = {.kind = POOL_MAX, .kh = 2, .kw = 2, .sh = 2, .sw = 2};
    run_pool(&k2, x, SHAPE(1, 1, 4, 4), SHAPE(1, 1, 2, 2), y, idx);
    static const int32_t want_tie[4] = {0, 2, 8, 10};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(idx[i], want_tie[i]);
    /* NaN propagates, through the interior path (k2) and the clipped border path (k3 p1) */
    for (int i = 0; i < 16; i++)
        x[i] = plane[i];
    x[1] = NAN;
    run_pool(&k2, x, SHAPE(1, 1, 4, 4), SHAPE(1, 1, 2, 2), y, idx);
    CHECK(isnan(y[0]));
    CHECK_EQ(idx[0], 1);
    CHECK_EQ(y[1], 9);
    pool_desc k3 = {.kind = POOL_MAX, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .ph = 1, .pw = 1};
    run_pool(&k3, x, SHAPE(1, 1, 4, 4), SHAPE(1, 1, 2, 2), y, idx);
    CHECK(isnan(y[0]) && isnan(y[1]));
    CHECK_EQ(idx[0], 1);
    CHECK_EQ(idx[1], 1);
    CHECK_EQ(y[3], 14);
}

int main(void)
{
    cnn_err e = {0};
    if (backend_create("cpu", 1, &be, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    two_planes();
    first_max_and_nan();
    backend_destroy(be);
    printf("pool_indices: ok\n");
    return 0;
}
