/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers:
 * as easy as 1, 2, 3"). A value is a pure function of (key, index), so every thread, rank and
 * backend (the CUDA kernels run the same rounds) draws the same numbers for the same key.
 * Keys are derived, never advanced: rng_fold(key, epoch), rng_fold_str(key, layer name).
 * tools/fixtures/philox.py is the independent Python twin used to build test fixtures. */
#ifndef CNN_CORE_RNG_H
#define CNN_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng_key {
    uint32_t k[2];
} rng_key;

rng_key rng_key_from_seed(uint64_t seed);
/* A new independent key for (k, data). */
rng_key rng_fold(rng_key k, uint64_t data);
/* A new key for (k, FNV-1a-64 hash of s). */
rng_key rng_fold_str(rng_key k, const char *s);

void rng_philox(rng_key k, const uint32_t ctr[4], uint32_t out[4]);

/* Value i of the uniform stream of k, in [0, 1) with 24 random bits: word i%4 of the
 * Philox block at counter (i/4, 0, 0, 0). */
float rng_uniform(rng_key k, uint64_t i);
/* Value i of the normal stream of k (Box-Muller cosine branch on the block at counter
 * (i, 0, 1, 0): u1 from word 0, u2 from word 1). */
float rng_normal(rng_key k, uint64_t i);

/* x[j] = lo + (hi - lo) * rng_uniform(k, offset + j). */
void rng_fill_uniform(rng_key k, uint64_t offset, float *x, size_t n, float lo, float hi);
void rng_fill_normal(rng_key k, uint64_t offset, float *x, size_t n, float mean, float std);

#endif
