/* Host conversions between f32 and the 16-bit float formats. The CPU backend stores f16/bf16
 * tensors with these, and tests and initialisers write low-precision tensors through them,
 * so they round exactly as CUDA's __float2half_rn / __float2bfloat16_rn: to nearest even,
 * overflow to inf, NaN kept a (quiet) NaN. */
#include <math.h>
#include <string.h>

#include "tensor.h"

static uint32_t bits_of(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

uint16_t f32_to_bf16(float v)
{
    uint32_t u = bits_of(v);
    if (isnan(v))
        return (uint16_t)((u >> 16) | 0x0040u); /* keep the sign, force a quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);             /* nearest even; carries into the exponent */
    return (uint16_t)(u >> 16);
}

float bf16_to_f32(uint16_t h) { return float_of((uint32_t)h << 16); }

uint16_t f32_to_f16(float v)
{
    uint32_t u = bits_of(v);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) /* rounds to 65536 or more (or is inf): inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below 2^-14: a subnormal half (or zero) */
        /* 0.5's ulp is 2^-24, the subnormal half's step: the f32 addition rounds a onto
         * that grid (nearest even) and the bit difference counts the steps. */
        float r = float_of(a) + 0.5f;
        return (uint16_t)(sign | (uint16_t)(bits_of(r) - bits_of(0.5f)));
    }
    uint32_t odd = (a >> 13) & 1u;
    a += 0xc8000fffu + odd; /* rebias the exponent (127 -> 15) and round to nearest even */
    return (uint16_t)(sign | (uint16_t)(a >> 13));
}

float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f)
        return float_of(sign | 0x7f800000u | (man << 13));
    if (exp == 0) /* subnormal or zero: man * 2^-24 is exact in f32 */
        return float_of(sign) + (sign ? -1.0f : 1.0f) * ldexpf((float)man, -24);
    return float_of(sign | ((exp + 112u) << 23) | (man << 13));
}

static float load(dtype dt, const void *p, int64_t i)
{
    switch (dt) {
    case DTYPE_F32: return ((const float *)p)[i];
    case DTYPE_F16: return f16_to_f32(((const uint16_t *)p)[i]);
    case DTYPE_BF16: return bf16_to_f32(((const uint16_t *)p)[i]);
    default: cnn_fatal("dtype_convert_host: %s is not a float dtype", dtype_name(dt));
    }
}

void dtype_convert_host(dtype dst_dt, void *dst, dtype src_dt, const void *src, int64_t n)
{
    if (dst_dt == src_dt) {
        memmove(dst, src, (size_t)n * dtype_size(dst_dt));
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float v = load(src_dt, src, i);
        switch (dst_dt) {
        case DTYPE_F32: ((float *)dst)[i] = v; break;
        case DTYPE_F16: ((uint16_t *)dst)[i] = f32_to_f16(v); break;
        case DTYPE_BF16: ((uint16_t *)dst)[i] = f32_to_bf16(v); break;
        default: cnn_fatal("dtype_convert_host: %s is not a float dtype", dtype_name(dst_dt));
        }
    }
}
