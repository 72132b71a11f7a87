/* The mixed-precision and layout glue of the CPU backend: cpu_move, behind convert (f32
 * master weights to their f16/bf16 or channels-last working copies, those copies' gradients
 * back, the input batch into a channels-last net) and the emulation's views, and scale_by
 * (the loss scale applied to the loss gradient). Both run in f32 and round each element once
 * to the output's dtype with the float16.c conversions, as the CUDA kernels do. */
#include <string.h>

#include "cpu_impl.h"

#define CHUNK 16384 /* elements per conversion task */

void cpu_move(const tensor *dst, const tensor *src, float beta)
{
    int64_t n = tensor_numel(src);
    bool fl = dtype_is_float(src->dt);
    size_t es = dtype_size(src->dt);
    CNN_ASSERT(tensor_numel(dst) == n);
    CNN_ASSERT(fl ? dtype_is_float(dst->dt) : dst->dt == src->dt && beta == 0.0f);
    const dtype sdt = src->dt, ddt = dst->dt;
    const char *sp = src->data;
    char *dp = dst->data;
    if (tensor_is_nhwc(src) != tensor_is_nhwc(dst)) {
        CNN_ASSERT(src->s.nd == 4 && shape_eq(&src->s, &dst->s));
        int64_t C = src->s.d[1], HW = src->s.d[2] * src->s.d[3], planes = src->s.d[0] * C;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t pl = 0; pl < planes; pl++)
            for (int64_t q = 0; q < HW; q++) {
                int64_t si = cpu_lay_off(src, pl / C, pl % C, q, C, HW);
                int64_t di = cpu_lay_off(dst, pl / C, pl % C, q, C, HW);
                if (!fl) {
                    memcpy(dp + (size_t)di * es, sp + (size_t)si * es, es);
                    continue;
                }
                float v = cpu_load(sdt, sp, si); /* beta 0: ignores dst, even NaN; keeps -0 */
                cpu_store(ddt, dp, di, beta == 0.0f ? v : v + beta * cpu_load(ddt, dp, di));
            }
        return;
    }
    if (!fl) {
        memcpy(dp, sp, (size_t)n * es);
    } else if (beta == 0.0f) { /* in parallel chunks */
        int64_t chunks = (n + CHUNK - 1) / CHUNK;
        size_t ds = dtype_size(ddt);
#pragma omp parallel for schedule(static) if (chunks > 1)
        for (int64_t c = 0; c < chunks; c++) {
            int64_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
            dtype_convert_host(ddt, dp + (size_t)lo * ds, sdt, sp + (size_t)lo * es, len);
        }
    } else {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            cpu_store(ddt, dp, i, cpu_load(sdt, sp, i) + beta * cpu_load(ddt, dp, i));
    }
}

static void cpu_convert(backend *be, const tensor *x, tensor *y, float beta)
{
    (void)be;
    CPU_EXPECT_FLOAT("convert", x);
    CPU_EXPECT_FLOAT("convert", y);
    cpu_move(y, x, beta);
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
