/* Vectorisable exp and tanh for the CPU kernels: libm's calls are opaque to the vectoriser
 * (glibc's scalar tanhf was 60% of a LeNet-5 training step). Everything here is branch-free
 * selects and plain arithmetic, so the loops that call it vectorise without -ffast-math. */
#ifndef CNN_CPU_MATH_H
#define CNN_CPU_MATH_H

#include <stdint.h>
#include <string.h>

/* e^x for x in [-87.3, 88.3] (callers clamp): x = n ln2 + r with |r| <= ln2/2 (ln2 split in
 * two so n ln2 is exact), e^r by the Cephes expf polynomial, 2^n built in the exponent bits;
 * within 2 ulp of expf. n is rounded with the 1.5 * 2^23 trick (no SSE4.1 needed); the bit
 * arithmetic is unsigned, so no shift is undefined. NaN stays NaN. */
static inline float cpu_exp_inrange(float x)
{
    const float shifter = 12582912.0f;
    float t = x * 1.44269504f + shifter;
    float n = t - shifter;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t tb, sb, scale_bits;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&sb, &shifter, sizeof sb);
    scale_bits = (tb - sb + 127u) << 23;
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return p * scale;
}

/* e^x, saturating outside [-87.3, 88.3] (activations only need the absolute error there). */
static inline float cpu_expf(float x)
{
    float c = x < -87.3f ? -87.3f : x;
    c = c > 88.3f ? 88.3f : c;
    return cpu_exp_inrange(c);
}

/* tanh: its odd series below |x| = 1/4 (the next term is < 3e-10 relative), 1 - 2 / (e^2|x|
 * + 1) above, where the cancellation costs at most ~3 ulp; saturates at |x| = 10, where
 * tanh rounds to 1 (tanh(9) is still 1 - 2^-24 in float). NaN stays NaN. */
static inline float cpu_tanhf(float x)
{
    float a = x < 0 ? -x : x;
    float e = cpu_exp_inrange(2.0f * (a > 10.0f ? 10.0f : a));
    float t = 1.0f - 2.0f / (e + 1.0f);
    float x2 = x * x;
    float s = x * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 +
              x2 * (62.0f / 2835 + x2 * (-1382.0f / 155925))))));
    float y = x < 0 ? -t : t;
    y = a < 0.25f ? s : y;
    return x != x ? x : y;
}

#endif
