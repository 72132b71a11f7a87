/* Elementwise CPU ops: fill, axpby, add, channel copies (concat and its gradient, in either
 * layout). fill and channel_copy take f16/bf16 themselves (a copy with beta 0 moves the 16-bit values as they
 * are, and only the copied channels may be touched); axpby and add get theirs through
 * cpu_lowp.c. */
#include <string.h>

#include "cpu_impl.h"

static void cpu_fill(backend *be, tensor *y, double v)
{
    (void)be;
    int64_t n = tensor_numel(y);
    if (y->dev != DEVICE_CPU || !y->data)
        cnn_fatal("cpu backend: fill of a %s tensor", y->data ? device_name(y->dev) : "unbound");
    switch (y->dt) {
    case DTYPE_F32: {
        float *p = y->data, f = (float)v;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            p[i] = f;
        break;
    }
    case DTYPE_F16:
    case DTYPE_BF16: {
        uint16_t *p = y->data, h;
        cpu_store(y->dt, &h, 0, (float)v); /* NaN gives the dtype's NaN: poisoning works */
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            p[i] = h;
        break;
    }
    case DTYPE_I32: {
        int32_t *p = y->data, x = (int32_t)v;
        for (int64_t i = 0; i < n; i++)
            p[i] = x;
        break;
    }
    case DTYPE_I64: {
        int64_t *p = y->data, x = (int64_t)v;
        for (int64_t i = 0; i < n; i++)
            p[i] = x;
        break;
    }
    case DTYPE_U8:
        memset(y->data, (int)v, (size_t)n);
        break;
    default:
        cnn_fatal("cpu backend: fill of dtype %s is not supported", dtype_name(y->dt));
    }
}

static void cpu_axpby(backend *be, float a, const tensor *x, float b, tensor *y)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    CPU_EXPECT(y, DTYPE_F32);
    CPU_SAME_LAYOUT(x, y);
    CNN_ASSERT(tensor_numel(x) == tensor_numel(y));
    const float *xp = x->data;
    float *yp = y->data;
    int64_t n = tensor_numel(y);
    if (b == 0.0f) {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            yp[i] = a * xp[i];
    } else {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            yp[i] = a * xp[i] + b * yp[i];
    }
}

static void cpu_add(backend *be, const tensor *a, const tensor *b, tensor *y)
{
    (void)be;
    CPU_EXPECT(a, DTYPE_F32);
    CPU_EXPECT(b, DTYPE_F32);
    CPU_EXPECT(y, DTYPE_F32);
    CPU_SAME_LAYOUT(a, y);
    CPU_SAME_LAYOUT(b, y);
    int64_t n = tensor_numel(y);
    CNN_ASSERT(tensor_numel(a) == n && tensor_numel(b) == n);
    const float *ap = a->data, *bp = b->data;
    float *yp = y->data;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        yp[i] = ap[i] + bp[i];
}

/* One (n) block of a channel copy in a 16-bit dtype: y = x + beta * y, rounded once. */
static void copy_block16(dtype dt, const uint16_t *sp, uint16_t *dp, int64_t len, float beta)
{
    if (beta == 0.0f) {
        memcpy(dp, sp, (size_t)len * sizeof *dp);
        return;
    }
    for (int64_t j = 0; j < len; j++)
        cpu_store(dt, dp, j, cpu_load(dt, sp, j) + beta * cpu_load(dt, dp, j));
}

static void cpu_channel_copy(backend *be, const tensor *src, int src_c0, tensor *dst,
                             int dst_c0, int nc, float beta)
{
    (void)be;
    CPU_EXPECT_FLOAT("channel_copy", src);
    CPU_EXPECT(dst, src->dt);
    CPU_SAME_LAYOUT(src, dst);
    int64_t n = src->s.d[0], cs = src->s.d[1], cd = dst->s.d[1];
    int64_t hw = shape_inner(&src->s, 2);
    CNN_ASSERT(dst->s.d[0] == n && shape_inner(&dst->s, 2) == hw);
    CNN_ASSERT(src_c0 >= 0 && dst_c0 >= 0 && src_c0 + nc <= cs && dst_c0 + nc <= cd);
    if (tensor_is_nhwc(src)) { /* channels-last (N, C, H, W) is NCHW (N*H*W, C, 1, 1) */
        n *= hw;
        hw = 1;
    }
    int64_t len = nc * hw;
    if (src->dt != DTYPE_F32) {
        const uint16_t *s = src->data;
        uint16_t *d = dst->data;
#pragma omp parallel for schedule(static) if (n * len > 65536)
        for (int64_t i = 0; i < n; i++)
            copy_block16(src->dt, s + (i * cs + src_c0) * hw, d + (i * cd + dst_c0) * hw, len,
                         beta);
        return;
    }
    const float *s = src->data;
    float *d = dst->data;
#pragma omp parallel for schedule(static) if (n * len > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float *sp = s + (i * cs + src_c0) * hw;
        float *dp = d + (i * cd + dst_c0) * hw;
        if (beta == 0.0f)
            memcpy(dp, sp, (size_t)len * sizeof *dp);
        else
            for (int64_t j = 0; j < len; j++)
                dp[j] = sp[j] + beta * dp[j];
    }
}

void cpu_install_elementwise(backend_ops *ops)
{
    ops->fill = cpu_fill;
    ops->axpby = cpu_axpby;
    ops->add = cpu_add;
    ops->channel_copy = cpu_channel_copy;
}
