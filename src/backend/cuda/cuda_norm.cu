/* Batch and instance normalisation kernels (backend.h "normalisation"), matching
 * cpu_norm.c. Reductions accumulate shifted sums in double (statistics: x - x0 with x0 the
 * statistic's first element, so a mean of 1000 with std 0.05 keeps its variance; backward:
 * dy and dy * (x - mean)); every statistic is cut into a fixed number of ranges that depend
 * only on the shape, each reduced by one block in a fixed tree, and the ranges are summed in
 * order by a second kernel: no atomics, bitwise reproducible. Pointwise passes use a
 * per-statistic coefficient table (mean, xs, ds, add) computed once in double. x, y, dy and
 * dx are of element type T (cuda_dtype.cuh: f32 math, one rounding per output); statistics,
 * sums, gamma and beta are always f32. */
#include "cuda_block_sum.cuh"
#include "cuda_dtype.cuh"
#include "cuda_norm_kernels.h"

#define NORM_CHUNK 2048 /* elements of one plane per block item on the chunked path */
#define NORM_GRID_MAX (65535 * 8)
#define NORM_SHORT CUDA_THREADS /* shorter planes are reduced across segments */

static unsigned grid_for(int64_t items)
{
    return (unsigned)(items < 1 ? 1 : items > NORM_GRID_MAX ? NORM_GRID_MAX : items);
}

/* Turns the sums of statistic s into its outputs: a = sum (x - x0), b = sum (x - x0)^2 over
 * n values (statistics), or a = sum dy, b = sum dy (x - mean) (backward). */
template <bool BWD>
__device__ static void reduce_finish(int64_t s, double n, double shift, double a, double b,
                                     const float *var, float eps, float *out0, float *out1)
{
    if (BWD) {
        out0[s] = (float)a;
        out1[s] = (float)(b / sqrt((double)var[s] + (double)eps));
    } else {
        double m = a / n, v = b / n - m * m;
        out0[s] = (float)(shift + m);
        out1[s] = (float)(v > 0.0 ? v : 0.0); /* biased, never negative */
    }
}

template <bool BWD, typename T>
__device__ static double reduce_shift(const cuda_norm_geom &g, int64_t s, const T *x,
                                      const float *mean)
{
    return BWD ? (double)mean[s] : (double)ldf(x[s * g.len]);
}

template <bool BWD, typename T>
__device__ static inline void reduce_add(const T *x, const T *dy, int64_t i, double shift,
                                         double *a, double *b)
{
    double d = (double)ldf(x[i]) - shift;
    if (BWD) {
        double gy = (double)ldf(dy[i]);
        *a += gy;
        *b += gy * d;
    } else {
        *a += d;
        *b += d * d;
    }
}

/* Block item = (statistic s, piece p): elements [L p / P, L (p + 1) / P) of the statistic's
 * L = nseg * len, walked segment by segment so reads stay contiguous (short planes
 * element by element instead, so the threads are not idle). */
template <bool BWD, typename T>
__global__ void norm_reduce_kernel(cuda_norm_geom g, int64_t pieces, const T *x,
                                   const T *dy, const float *mean, const float *var,
                                   float eps, double2 *part, float *out0, float *out1)
{
    int64_t total = g.groups * pieces, l = g.nseg * g.len;
    for (int64_t item = blockIdx.x; item < total; item += gridDim.x) {
        int64_t s = item / pieces, p = item % pieces;
        int64_t k0 = l * p / pieces, k1 = l * (p + 1) / pieces;
        double shift = reduce_shift<BWD, T>(g, s, x, mean);
        double a = 0.0, b = 0.0;
        if (g.len >= NORM_SHORT) {
            for (int64_t seg = k0 / g.len; seg < g.nseg && seg * g.len < k1; seg++) {
                int64_t base = (s + seg * g.c) * g.len;
                int64_t j0 = k0 - seg * g.len, j1 = k1 - seg * g.len;
                j0 = j0 > 0 ? j0 : 0;
                j1 = j1 < g.len ? j1 : g.len;
                for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x)
                    reduce_add<BWD, T>(x, dy, base + j, shift, &a, &b);
            }
        } else { /* short planes (BatchNorm1d: len 1): threads across segments */
            for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) {
                int64_t seg = k / g.len;
                reduce_add<BWD, T>(x, dy, (s + seg * g.c) * g.len + (k - seg * g.len), shift,
                                   &a, &b);
            }
        }
        a = block_sum(a);
        b = block_sum(b);
        if (threadIdx.x == 0) {
            if (pieces == 1)
                reduce_finish<BWD>(s, (double)l, shift, a, b, var, eps, out0, out1);
            else
                part[item] = make_double2(a, b);
        }
    }
}

/* One thread per statistic sums its pieces in order. */
template <bool BWD, typename T>
__global__ void norm_reduce_final_kernel(cuda_norm_geom g, int64_t pieces, const T *x,
                                         const float *mean, const float *var, float eps,
                                         const double2 *part, float *out0, float *out1)
{
    for (int64_t s = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; s < g.groups;
         s += (int64_t)gridDim.x * blockDim.x) {
        double a = 0.0, b = 0.0;
        for (int64_t p = 0; p < pieces; p++) {
            double2 v = part[s * pieces + p];
            a += v.x;
            b += v.y;
        }
        reduce_finish<BWD>(s, (double)(g.nseg * g.len), reduce_shift<BWD, T>(g, s, x, mean),
                           a, b, var, eps, out0, out1);
    }
}

extern "C" void cuda_norm_reduce(cudaStream_t st, int dt, cuda_norm_geom g, int64_t pieces,
                                 const void *xv, const void *dyv, const float *mean,
                                 const float *var, float eps, void *part, float *out0,
                                 float *out1)
{
    double2 *pt = (double2 *)part;
    unsigned grid = grid_for(g.groups * pieces);
    CU_DISPATCH(dt, T, {
        const T *x = (const T *)xv, *dy = (const T *)dyv;
        if (dy)
            norm_reduce_kernel<true, T><<<grid, CUDA_THREADS, 0, st>>>(g, pieces, x, dy, mean,
                                                                       var, eps, pt, out0, out1);
        else
            norm_reduce_kernel<false, T><<<grid, CUDA_THREADS, 0, st>>>(
                g, pieces, x, dy, mean, var, eps, pt, out0, out1);
        if (pieces > 1) {
            unsigned fg = cuda_blocks(g.groups);
            if (dy)
                norm_reduce_final_kernel<true, T><<<fg, CUDA_THREADS, 0, st>>>(
                    g, pieces, x, mean, var, eps, pt, out0, out1);
            else
                norm_reduce_final_kernel<false, T><<<fg, CUDA_THREADS, 0, st>>>(
                    g, pieces, x, mean, var, eps, pt, out0, out1);
        }
    });
}

/* cpu_norm.c pw_coefficients: forward xs = gamma*invstd, add = beta; backward with batch
 * statistics ds = gamma*invstd, xs = -ds*invstd*sdyx/count, add = -ds*sdy/count; eval
 * backward ds = gamma*invstd only. */
__global__ void norm_coefs_kernel(cuda_norm_geom g, cuda_norm_pw kind, const float *mean,
                                  const float *var, float eps, const float *gamma,
                                  const float *beta, const float *sdy, const float *sdyx,
                                  double count, float4 *coef)
{
    for (int64_t s = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; s < g.groups;
         s += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = s % g.c;
        double invstd = 1.0 / sqrt((double)var[s] + (double)eps);
        double gi = (gamma ? (double)gamma[c] : 1.0) * invstd;
        float4 k = make_float4(mean[s], 0.0f, 0.0f, 0.0f);
        if (kind == CUDA_NORM_APPLY) {
            k.y = (float)gi;
            k.w = beta ? beta[c] : 0.0f;
        } else if (kind == CUDA_NORM_BWD_EVAL) {
            k.z = (float)gi;
        } else {
            k.y = (float)(-gi * invstd * (double)sdyx[s] / count);
            k.z = (float)gi;
            k.w = (float)(-gi * (double)sdy[s] / count);
        }
        coef[s] = k;
    }
}

extern "C" void cuda_norm_coefs(cudaStream_t st, cuda_norm_geom g, cuda_norm_pw kind,
                                const float *mean, const float *var, float eps,
                                const float *gamma, const float *beta, const float *sdy,
                                const float *sdyx, double count, float *coef)
{
    norm_coefs_kernel<<<cuda_blocks(g.groups), CUDA_THREADS, 0, st>>>(
        g, kind, mean, var, eps, gamma, beta, sdy, sdyx, count, (float4 *)coef);
}

/* With both xs and add zero (eval backward) x is not read, as on the CPU. */
template <typename T>
__device__ static inline T pw_one(float4 k, const T *x, const T *dy, int64_t i)
{
    if (!dy)
        return stf<T>((ldf(x[i]) - k.x) * k.y + k.w);
    if (k.y == 0.0f && k.w == 0.0f)
        return stf<T>(ldf(dy[i]) * k.z);
    return stf<T>((ldf(x[i]) - k.x) * k.y + ldf(dy[i]) * k.z + k.w);
}

/* Planes of len >= NORM_CHUNK / 8 go by (plane, chunk) block items, one coefficient load
 * per item; shorter planes (BatchNorm1d's len 1 included) go element by element. The
 * statistic of plane p is p % groups for both modes (batch: p % C; instance: p). */
template <typename T>
__global__ void norm_pointwise_kernel(cuda_norm_geom g, const float4 *coef, const T *x,
                                      const T *dy, T *out)
{
    if (g.len >= NORM_CHUNK / 8) {
        int64_t nchunk = (g.len + NORM_CHUNK - 1) / NORM_CHUNK, items = g.planes * nchunk;
        for (int64_t it = blockIdx.x; it < items; it += gridDim.x) {
            int64_t plane = it / nchunk, j0 = (it % nchunk) * NORM_CHUNK;
            int64_t j1 = j0 + NORM_CHUNK < g.len ? j0 + NORM_CHUNK : g.len;
            float4 k = coef[plane % g.groups];
            for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
                int64_t i = plane * g.len + j;
                out[i] = pw_one(k, x, dy, i);
            }
        }
        return;
    }
    int64_t n = g.planes * g.len;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = pw_one(coef[(i / g.len) % g.groups], x, dy, i);
}

extern "C" void cuda_norm_pointwise(cudaStream_t st, int dt, cuda_norm_geom g,
                                    const float *coef, const void *x, const void *dy,
                                    void *out)
{
    unsigned grid;
    if (g.len >= NORM_CHUNK / 8)
        grid = grid_for(g.planes * ((g.len + NORM_CHUNK - 1) / NORM_CHUNK));
    else
        grid = cuda_blocks(g.planes * g.len);
    CU_DISPATCH(dt, T, norm_pointwise_kernel<T><<<grid, CUDA_THREADS, 0, st>>>(
                           g, (const float4 *)coef, (const T *)x, (const T *)dy, (T *)out));
}

__global__ void norm_stats_sums_kernel(bool to_sums, const float *shift, double count,
                                       int64_t c, float *stats)
{
    float *mean = stats, *var = stats + c;
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < c;
         j += (int64_t)gridDim.x * blockDim.x) {
        double kj = shift ? (double)shift[j] : 0.0;
        if (to_sums) {
            double d = (double)mean[j] - kj;
            mean[j] = (float)(count * d);
            var[j] = (float)(count * ((double)var[j] + d * d));
        } else {
            double d = (double)mean[j] / count, v = (double)var[j] / count - d * d;
            mean[j] = (float)(kj + d);
            var[j] = (float)(v > 0.0 ? v : 0.0);
        }
    }
}

extern "C" void cuda_norm_stats_sums(cudaStream_t st, bool to_sums, const float *shift,
                                     double count, int64_t c, float *stats)
{
    norm_stats_sums_kernel<<<cuda_blocks(c), CUDA_THREADS, 0, st>>>(to_sums, shift, count, c,
                                                                    stats);
}
