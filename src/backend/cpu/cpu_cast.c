/* The mixed-precision glue of the CPU backend: convert between float dtypes and layouts
 * (f32 master weights to their f16/bf16 or channels-last working copies, and those copies'
 * gradients back) and scale_by
 * (the loss scale applied to the loss gradient). Both run in f32 and round each element once
 * to the output's dtype with the float16.c conversions, as the CUDA kernels do. */
#include "cpu_impl.h"

/* y = x + beta * y element by element: in memory order, or (x and y 4-D in different
 * layouts) per logical element, which transposes. */
static void cpu_convert(backend *be, const tensor *x, tensor *y, float beta)
{
    (void)be;
    CPU_EXPECT_FLOAT("convert", x);
    CPU_EXPECT_FLOAT("convert", y);
    int64_t n = tensor_numel(y);
    CNN_ASSERT(tensor_numel(x) == n);
    const dtype xt = x->dt, yt = y->dt;
    const void *xp = x->data;
    void *yp = y->data;
    if (tensor_is_nhwc(x) != tensor_is_nhwc(y)) {
        CNN_ASSERT(x->s.nd == 4 && shape_eq(&x->s, &y->s));
        int64_t C = y->s.d[1], HW = y->s.d[2] * y->s.d[3], planes = y->s.d[0] * C;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t pl = 0; pl < planes; pl++)
            for (int64_t q = 0; q < HW; q++) {
                int64_t xi = cpu_lay_off(x, pl / C, pl % C, q, C, HW);
                int64_t yi = cpu_lay_off(y, pl / C, pl % C, q, C, HW);
                float v = cpu_load(xt, xp, xi); /* beta 0: ignores y, even NaN; keeps -0 */
                cpu_store(yt, yp, yi, beta == 0.0f ? v : v + beta * cpu_load(yt, yp, yi));
            }
        return;
    }
    if (beta == 0.0f) { /* old contents ignored, even NaN */
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            cpu_store(yt, yp, i, cpu_load(xt, xp, i));
        return;
    }
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        cpu_store(yt, yp, i, cpu_load(xt, xp, i) + beta * cpu_load(yt, yp, i));
}

static void cpu_scale_by(backend *be, tensor *y, const tensor *s)
{
    (void)be;
    CPU_EXPECT_FLOAT("scale_by", y);
    CPU_EXPECT(s, DTYPE_F32);
    CNN_ASSERT(tensor_numel(s) == 1);
    const float f = ((const float *)s->data)[0];
    const dtype dt = y->dt;
    void *yp = y->data;
    int64_t n = tensor_numel(y);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        cpu_store(dt, yp, i, cpu_load(dt, yp, i) * f);
}

void cpu_install_cast(backend_ops *ops)
{
    ops->convert = cpu_convert;
    ops->scale_by = cpu_scale_by;
}
