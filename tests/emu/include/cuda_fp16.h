/* Shim of cuda_fp16.h for the host emulator: __half as its bits, with CUDA's conversions.
 * float -> half rounds to nearest even, overflows to inf, and turns every NaN into the
 * canonical 0x7fff that the GPU's cvt.rn.f16.f32 produces; half -> float is exact. Written
 * independently of src/core/float16.c, which the test checks it against. */
#ifndef CNN_TESTS_EMU_CUDA_FP16_H
#define CNN_TESTS_EMU_CUDA_FP16_H

#include <math.h>
#include <stdint.h>
#include <string.h>

struct __half {
    unsigned short __x;
};

static inline unsigned short emu_f32_to_f16_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    unsigned short sign = (unsigned short)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return 0x7fffu;
    int e = (int)(ax >> 23) - 127;
    if (e > 15)
        return (unsigned short)(sign | 0x7c00u);
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u, h;
    int shift = 13;
    if (e >= -14) {
        h = ((uint32_t)(e + 15) << 10) | ((mant >> 13) & 0x3ffu);
    } else {
        shift = 13 + (-14 - e);
        if (shift > 25)
            return sign;
        h = mant >> shift;
    }
    uint32_t rem = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1u)))
        h++; /* a carry moves into the exponent: up to the next binade, or to inf */
    return (unsigned short)(sign | h);
}

static inline float emu_f16_bits_to_f32(unsigned short h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t x;
    float f;
    if (exp == 0x1f) {
        x = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        f = ldexpf((float)man, -24);
        return sign ? -f : f;
    } else {
        x = sign | ((exp + 112u) << 23) | (man << 13);
    }
    memcpy(&f, &x, sizeof f);
    return f;
}

static inline __half __float2half_rn(float f) { return __half{emu_f32_to_f16_bits(f)}; }
static inline __half __float2half(float f) { return __float2half_rn(f); }
static inline float __half2float(__half h) { return emu_f16_bits_to_f32(h.__x); }
static inline unsigned short __half_as_ushort(__half h) { return h.__x; }
static inline __half __ushort_as_half(unsigned short u) { return __half{u}; }

#endif
