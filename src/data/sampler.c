/* The world-size-invariant sampler (DESIGN.md "World-size invariance"): one global permutation
 * per (seed, epoch), the same on every rank and for every world size, cut into global batches
 * and then into equal per-rank slices. The permutation is a Fisher-Yates shuffle whose draws
 * come from Philox on explicit counters, so it is a pure function of (seed, epoch, n).
 * Draw for position i: x = 64 random bits (two words of the block at counter (i/2, 0, 0, 0)),
 * j = floor(x * (i + 1) / 2^64), exact in 128-bit arithmetic (Lemire's multiply-shift without
 * rejection): every j in [0, i] has probability within (i + 1) / 2^64 <= 2^-24 (relative) of
 * 1 / (i + 1) for n <= 2^40, far below anything training could notice. */
#include "data.h"

#define SAMPLER_TAG 0x5A4D504Cu /* "sampler" key separation from other uses of the seed */

int sampler_init(sampler *s, int64_t n, int global_batch, int rank, int world, uint64_t seed,
                 bool shuffle, bool drop_last, cnn_err *e)
{
    if (n < 1)
        return CNN_ERR(e, CNN_EINVAL, "the dataset has %lld samples; it needs at least one "
                       "(check the data path and that cnn-pack wrote samples)", (long long)n);
    if (n > ((int64_t)1 << 40))
        return CNN_ERR(e, CNN_EINVAL, "the dataset has %lld samples, more than the sampler's "
                       "limit of 2^40", (long long)n);
    if (global_batch < 1)
        return CNN_ERR(e, CNN_EINVAL, "data.batch_size=%d must be at least 1", global_batch);
    if (world < 1 || rank < 0 || rank >= world)
        return CNN_ERR(e, CNN_EINVAL, "rank %d of %d ranks is not a valid rank", rank, world);
    if (global_batch % world != 0)
        return CNN_ERR(e, CNN_EINVAL, "data.batch_size=%d is not divisible by %d ranks; use a "
                       "multiple of %d", global_batch, world, world);
    if (drop_last && n < global_batch)
        return CNN_ERR(e, CNN_EINVAL, "the dataset has %lld samples, fewer than one global "
                       "batch (data.batch_size=%d), so training would have no step; lower "
                       "data.batch_size or use more data", (long long)n, global_batch);
    *s = (sampler){.n = n, .global_batch = global_batch, .rank = rank, .world = world,
                   .seed = seed, .shuffle = shuffle, .drop_last = drop_last};
    return CNN_OK;
}

int64_t sampler_steps(const sampler *s)
{
    int64_t b = s->global_batch;
    return s->drop_last ? s->n / b : (s->n + b - 1) / b;
}

/* floor(x * m / 2^64) for x < 2^64, m <= 2^40: the exact product needs 104 bits. */
static uint64_t mul_shift(uint64_t x, uint64_t m)
{
    return (uint64_t)(((unsigned __int128)x * m) >> 64);
}

void sampler_perm(const sampler *s, int64_t epoch, int64_t *perm)
{
    for (int64_t i = 0; i < s->n; i++)
        perm[i] = i;
    if (!s->shuffle)
        return;
    rng_key k = rng_fold(rng_fold(rng_key_from_seed(s->seed), SAMPLER_TAG), (uint64_t)epoch);
    uint32_t out[4];
    uint64_t have = UINT64_MAX; /* block counter whose words are in out */
    for (int64_t i = s->n - 1; i > 0; i--) {
        uint64_t blk = (uint64_t)i >> 1;
        if (blk != have) {
            uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), 0, 0};
            rng_philox(k, ctr, out);
            have = blk;
        }
        int w = 2 * (int)(i & 1);
        uint64_t x = (uint64_t)out[w] | (uint64_t)out[w + 1] << 32;
        int64_t j = (int64_t)mul_shift(x, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void sampler_slice(const sampler *s, const int64_t *perm, int64_t step, int64_t *idx)
{
    CNN_ASSERT(step >= 0 && step < sampler_steps(s));
    int per = s->global_batch / s->world;
    int64_t first = step * s->global_batch + (int64_t)s->rank * per;
    for (int k = 0; k < per; k++) {
        int64_t pos = first + k;
        idx[k] = pos < s->n ? perm[pos] : -1;
    }
}
