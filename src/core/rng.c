/* Philox4x32-10 and the streams derived from it; constants from the Random123 paper. */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#define FOLD_TAG 0x666f6c64u /* "fold": keeps fold blocks apart from stream blocks */

void rng_philox(rng_key k, const uint32_t ctr[4], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = k.k[0], k1 = k.k[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

rng_key rng_key_from_seed(uint64_t seed)
{
    rng_key k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    return k;
}

rng_key rng_fold(rng_key k, uint64_t data)
{
    uint32_t ctr[4] = {(uint32_t)data, (uint32_t)(data >> 32), FOLD_TAG, 0}, out[4];
    rng_philox(k, ctr, out);
    rng_key r = {{out[0], out[1]}};
    return r;
}

rng_key rng_fold_str(rng_key k, const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return rng_fold(k, h);
}

static float u24(uint32_t w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }

float rng_uniform(rng_key k, uint64_t i)
{
    uint64_t blk = i >> 2;
    uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), 0, 0}, out[4];
    rng_philox(k, ctr, out);
    return u24(out[i & 3]);
}

float rng_normal(rng_key k, uint64_t i)
{
    uint32_t ctr[4] = {(uint32_t)i, (uint32_t)(i >> 32), 1, 0}, out[4];
    rng_philox(k, ctr, out);
    float u1 = u24(out[0]) + (1.0f / 16777216.0f); /* (0, 1]: log stays finite */
    float u2 = u24(out[1]);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

/* Same values as rng_uniform, one Philox block per four values instead of one per value. */
void rng_fill_uniform(rng_key k, uint64_t offset, float *x, size_t n, float lo, float hi)
{
    size_t j = 0;
    while (j < n) {
        uint64_t i = offset + j, blk = i >> 2;
        uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), 0, 0}, out[4];
        rng_philox(k, ctr, out);
        for (unsigned w = (unsigned)(i & 3); w < 4 && j < n; w++, j++)
            x[j] = lo + (hi - lo) * u24(out[w]);
    }
}

void rng_fill_normal(rng_key k, uint64_t offset, float *x, size_t n, float mean, float std)
{
    for (size_t j = 0; j < n; j++)
        x[j] = mean + std * rng_normal(k, offset + j);
}
