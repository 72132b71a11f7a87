/* CPU activations (tanh and sigmoid through cpu_math.h's vectorisable exp) and dropout.
 * Dropout's mask comes from the keyed RNG, element i from rng_uniform(key, i), so the CUDA
 * kernel (and tools/fixtures/philox.py) draw the same mask. */
#include "cpu_impl.h"
#include "cpu_math.h"

static void cpu_act_fwd(backend *be, act_kind k, float alpha, const tensor *x, tensor *y)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    CPU_EXPECT(y, DTYPE_F32);
    CPU_SAME_LAYOUT(x, y);
    int64_t n = tensor_numel(x);
    CNN_ASSERT(tensor_numel(y) == n);
    const float *xp = x->data;
    float *yp = y->data;
    switch (k) {
    case ACT_RELU: /* NaN passes, as in PyTorch: a diverged net must not look healthy */
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            yp[i] = xp[i] <= 0.0f ? 0.0f : xp[i];
        break;
    case ACT_LEAKY_RELU:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            yp[i] = xp[i] > 0.0f ? xp[i] : alpha * xp[i];
        break;
    case ACT_TANH:
#pragma omp parallel for schedule(static) if (n > 16384)
        for (int64_t i = 0; i < n; i++)
            yp[i] = cpu_tanhf(xp[i]);
        break;
    case ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (n > 16384)
        for (int64_t i = 0; i < n; i++)
            yp[i] = 1.0f / (1.0f + cpu_expf(-xp[i]));
        break;
    }
}

static void cpu_act_bwd(backend *be, act_kind k, float alpha, const tensor *x, const tensor *y,
                        const tensor *dy, tensor *dx)
{
    (void)be;
    CPU_EXPECT(dy, DTYPE_F32);
    CPU_EXPECT(dx, DTYPE_F32);
    CPU_SAME_LAYOUT(dy, dx);
    CPU_SAME_LAYOUT(x, dx);
    CPU_SAME_LAYOUT(y, dx);
    int64_t n = tensor_numel(dy);
    const float *g = dy->data;
    float *d = dx->data;
    if (k == ACT_RELU || k == ACT_LEAKY_RELU) {
        CPU_EXPECT(x, DTYPE_F32);
        const float *xp = x->data;
        float neg = k == ACT_RELU ? 0.0f : alpha;
        /* a select of the factor, not of the result, vectorises; x NaN passes dy (PyTorch's
         * threshold_backward) */
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            d[i] = (xp[i] <= 0.0f ? neg : 1.0f) * g[i];
        return;
    }
    CPU_EXPECT(y, DTYPE_F32);
    const float *yp = y->data;
    if (k == ACT_TANH) {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            d[i] = g[i] * (1.0f - yp[i] * yp[i]);
    } else {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            d[i] = g[i] * yp[i] * (1.0f - yp[i]);
    }
}

static void cpu_dropout_fwd(backend *be, rng_key key, float p, const tensor *x, tensor *y,
                            tensor *mask)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    CPU_EXPECT(y, DTYPE_F32);
    CPU_EXPECT(mask, DTYPE_U8);
    int64_t n = tensor_numel(x);
    const float *xp = x->data;
    float *yp = y->data;
    uint8_t *m = mask->data;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t blk = 0; blk < (n + 3) / 4; blk++) {
        uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)((uint64_t)blk >> 32), 0, 0}, w[4];
        rng_philox(key, ctr, w);
        for (int j = 0; j < 4 && blk * 4 + j < n; j++) {
            int64_t i = blk * 4 + j;
            float u = (float)(w[j] >> 8) * (1.0f / 16777216.0f);
            m[i] = u >= p;
            yp[i] = m[i] ? xp[i] * scale : 0.0f;
        }
    }
}

static void cpu_dropout_bwd(backend *be, float p, const tensor *mask, const tensor *dy,
                            tensor *dx)
{
    (void)be;
    CPU_EXPECT(mask, DTYPE_U8);
    CPU_EXPECT(dy, DTYPE_F32);
    CPU_EXPECT(dx, DTYPE_F32);
    int64_t n = tensor_numel(dy);
    const uint8_t *m = mask->data;
    const float *g = dy->data;
    float *d = dx->data;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        d[i] = m[i] ? g[i] * scale : 0.0f;
}

void cpu_install_act(backend_ops *ops)
{
    ops->act_fwd = cpu_act_fwd;
    ops->act_bwd = cpu_act_bwd;
    ops->dropout_fwd = cpu_dropout_fwd;
    ops->dropout_bwd = cpu_dropout_bwd;
}
