/* The host f16/bf16 conversions: every 16-bit value round-trips, every midpoint between two
 * neighbours rounds to the even one and a hair off it to the nearer one, overflow gives inf,
 * NaN stays NaN, and a few values checked against numpy (float16) and torch (bfloat16). */
#include <math.h>

#include "../../src/core/core.h"
#include "../check.h"

typedef struct fmt {
    const char *name;
    uint16_t (*to)(float);
    float (*from)(uint16_t);
    uint16_t inf; /* +inf's bits: every pattern below it is finite and positive */
} fmt;

static void check_format(const fmt *f)
{
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float v = f->from((uint16_t)h);
        if (isnan(v)) {
            CHECK(isnan(f->from(f->to(v))));
            continue;
        }
        if (f->to(v) != h) {
            fprintf(stderr, "%s: 0x%04x -> %g -> 0x%04x\n", f->name, h, v, f->to(v));
            exit(1);
        }
    }
    for (uint32_t h = 0; h + 1 < f->inf; h++) {
        float a = f->from((uint16_t)h), b = f->from((uint16_t)(h + 1));
        float mid = (float)(((double)a + (double)b) / 2); /* exact: one more bit than 16 */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        CHECK_EQ(f->to(mid), even);
        CHECK_EQ(f->to(-mid), even | 0x8000u);
        CHECK_EQ(f->to(nextafterf(mid, 0.0f)), h);
        CHECK_EQ(f->to(nextafterf(mid, INFINITY)), h + 1);
    }
    CHECK_EQ(f->to(INFINITY), f->inf);
    CHECK_EQ(f->to(-INFINITY), f->inf | 0x8000u);
    CHECK(isnan(f->from(f->to(NAN))));
}

int main(void)
{
    const fmt half = {"f16", f32_to_f16, f16_to_f32, 0x7c00};
    const fmt brain = {"bf16", f32_to_bf16, bf16_to_f32, 0x7f80};
    check_format(&half);
    check_format(&brain);
    /* numpy.float16(x).view(numpy.uint16) */
    CHECK_EQ(f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ(f32_to_f16(0.1f), 0x2e66);
    CHECK_EQ(f32_to_f16(-2.5f), 0xc100);
    CHECK_EQ(f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ(f32_to_f16(65519.0f), 0x7bff);
    CHECK_EQ(f32_to_f16(65520.0f), 0x7c00);
    CHECK_EQ(f32_to_f16(5.96e-8f), 0x0001);
    CHECK_EQ(f32_to_f16(2.0e-8f), 0x0000);
    CHECK_EQ(f32_to_f16(6.1e-5f), 0x03ff);
    /* torch.tensor(x).bfloat16().view(torch.int16) */
    CHECK_EQ(f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ(f32_to_bf16(0.1f), 0x3dcd);
    CHECK_EQ(f32_to_bf16(3.0e38f), 0x7f62);
    CHECK_EQ(f32_to_bf16(3.4e38f), 0x7f80);

    float src[4] = {1.0f, -0.1f, 3.0f, 1e-3f}, back[4];
    uint16_t h[4], b[4];
    dtype_convert_host(DTYPE_F16, h, DTYPE_F32, src, 4);
    dtype_convert_host(DTYPE_BF16, b, DTYPE_F16, h, 4);
    dtype_convert_host(DTYPE_F32, back, DTYPE_BF16, b, 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(b[i], f32_to_bf16(f16_to_f32(f32_to_f16(src[i]))));
    CHECK_NEAR(back[1], -0.1, 1e-3);
    CHECK(dtype_is_float(DTYPE_BF16) && !dtype_is_float(DTYPE_I32));
    printf("float16: all 2x65536 values round-trip, midpoints round to even\n");
    return 0;
}
