/* Shim of cuda_bf16.h for the host emulator: __nv_bfloat16 as its bits, with CUDA's
 * conversions (sm_80's cvt.rn.bf16.f32): round to nearest even, overflow to inf, every NaN
 * the canonical 0x7fff; bf16 -> float is exact. */
#ifndef CNN_TESTS_EMU_CUDA_BF16_H
#define CNN_TESTS_EMU_CUDA_BF16_H

#include <stdint.h>
#include <string.h>

struct __nv_bfloat16 {
    unsigned short __x;
};

static inline unsigned short emu_f32_to_bf16_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return 0x7fffu;
    uint32_t lsb = (x >> 16) & 1u;
    return (unsigned short)((x + 0x7fffu + lsb) >> 16); /* carries reach the exponent */
}

static inline float emu_bf16_bits_to_f32(unsigned short h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

static inline __nv_bfloat16 __float2bfloat16_rn(float f)
{
    return __nv_bfloat16{emu_f32_to_bf16_bits(f)};
}
static inline __nv_bfloat16 __float2bfloat16_rz(float f) /* toward zero: truncation */
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return __nv_bfloat16{(unsigned short)((x & 0x7fffffffu) > 0x7f800000u ? 0x7fffu : x >> 16)};
}
static inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
static inline float __bfloat162float(__nv_bfloat16 h) { return emu_bf16_bits_to_f32(h.__x); }
static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return __nv_bfloat16{u}; }

#endif
