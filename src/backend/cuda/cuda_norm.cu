/* Batch and instance normalisation kernels (backend.h "normalisation"), matching
 * cpu_norm.c. Reductions accumulate shifted sums in double (statistics: x - x0 with x0 the
 * statistic's first element, so a mean of 1000 with std 0.05 keeps its variance; backward:
 * dy and dy * (x - mean)); every statistic is cut into a fixed number of ranges that depend
 * only on the shape, each reduced by one block in a fixed tree, and the ranges are summed in
 * order by a second kernel: no atomics, bitwise reproducible. Pointwise passes use a
 * per-statistic coefficient table (mean, xs, ds, add) computed once in double. x, y, dy and
 * dx are of element type T (cuda_dtype.cuh: f32 math, one rounding per output); statistics,
 * sums, gamma and beta are always f32. Channels-last tensors are reduced by column tiles (a
 * warp reads 32 neighbouring channels of one row, coalesced) and pointwise element by
 * element; the shift of a statistic is the same logical element in both layouts. */
#include "cuda_block_sum.cuh"
#include "cuda_dtype.cuh"
#include "cuda_norm_kernels.h"

#define NORM_CHUNK 2048 /* elements of one plane per block item on the chunked path */
#define NORM_GRID_MAX (65535 * 8)
#define NORM_SHORT CUDA_THREADS /* shorter planes are reduced across segments */
#define NORM_PIECE_MIN 4096  /* elements per piece at least: a block's worth of work */
#define NORM_TARGET 2048     /* block items to aim for when few statistics share the GPU */
#define NORM_PIECES_MAX 1024 /* pieces per statistic at most */
#define CL_LANES 32          /* channels of a column tile: one warp */
#define CL_WARPS (CUDA_THREADS / CL_LANES)

/* Pieces per statistic: enough block items to fill the GPU when there are few statistics
 * (channels-last: few column tiles), never pieces shorter than NORM_PIECE_MIN elements.
 * Depends only on the shape (determinism). */
extern "C" int64_t cuda_norm_pieces(cuda_norm_geom g)
{
    int64_t l = g.nseg * g.len, items = g.groups, min_len = NORM_PIECE_MIN;
    if (g.cl) { /* a piece covers rows of a tile of CL_LANES channels */
        items = g.groups / g.c * ((g.c + CL_LANES - 1) / CL_LANES);
        min_len = NORM_PIECE_MIN / CL_LANES;
    }
    int64_t by_len = (l + min_len - 1) / min_len;
    int64_t by_fill = (NORM_TARGET + items - 1) / items;
    int64_t p = by_len < by_fill ? by_len : by_fill;
    p = p < NORM_PIECES_MAX ? p : NORM_PIECES_MAX;
    return p < 1 ? 1 : p;
}

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

/* Statistics shift by the statistic's first logical element, x[n0, c, 0, 0] (n0 = 0 for
 * batch, the sample for instance): the same value in either layout, so both layouts sum the
 * same shifted terms. */
template <bool BWD, typename T>
__device__ static double reduce_shift(const cuda_norm_geom &g, int64_t s, const T *x,
                                      const float *mean)
{
    if (BWD)
        return (double)mean[s];
    return (double)ldf(x[g.cl ? (s / g.c) * g.len * g.c + s % g.c : s * g.len]);
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

/* Channels-last: statistic s = m*C + c of matrix m (rows R = nseg * len, C channels).
 * Block item (m, t, p): rows [R p / P, R (p + 1) / P) of the CL_LANES channels of tile t;
 * lane l of warp w takes channel CL_LANES t + l on rows w, w + CL_WARPS, ... of the range,
 * then lane l of warp 0 adds the warps' sums in order (a fixed order, as the planar
 * kernel's tree). Partials as norm_reduce_kernel: part[s * pieces + p]. */
template <bool BWD, typename T>
__global__ void norm_reduce_cl_kernel(cuda_norm_geom g, int64_t pieces, const T *x,
                                      const T *dy, const float *mean, const float *var,
                                      float eps, double2 *part, float *out0, float *out1)
{
    __shared__ double sa[CL_WARPS][CL_LANES], sb[CL_WARPS][CL_LANES];
    int lane = threadIdx.x % CL_LANES, wp = threadIdx.x / CL_LANES;
    int64_t R = g.nseg * g.len, tiles = (g.c + CL_LANES - 1) / CL_LANES;
    int64_t total = g.groups / g.c * tiles * pieces;
    for (int64_t item = blockIdx.x; item < total; item += gridDim.x) {
        int64_t p = item % pieces, mt = item / pieces, m = mt / tiles;
        int64_t c = (mt % tiles) * CL_LANES + lane, s = m * g.c + c;
        int64_t r0 = R * p / pieces, r1 = R * (p + 1) / pieces;
        double a = 0.0, b = 0.0, shift = 0.0;
        if (c < g.c) {
            int64_t base = m * R * g.c + c;
            shift = reduce_shift<BWD, T>(g, s, x, mean);
            for (int64_t r = r0 + wp; r < r1; r += CL_WARPS)
                reduce_add<BWD, T>(x, dy, base + r * g.c, shift, &a, &b);
        }
        sa[wp][lane] = a;
        sb[wp][lane] = b;
        __syncthreads();
        if (wp == 0 && c < g.c) {
            a = 0.0;
            b = 0.0;
            for (int k = 0; k < CL_WARPS; k++) {
                a += sa[k][lane];
                b += sb[k][lane];
            }
            if (pieces == 1)
                reduce_finish<BWD>(s, (double)R, shift, a, b, var, eps, out0, out1);
            else
                part[s * pieces + p] = make_double2(a, b);
        }
        __syncthreads(); /* sa, sb are rewritten by the next item */
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
    if (g.cl)
        grid = grid_for(g.groups / g.c * ((g.c + CL_LANES - 1) / CL_LANES) * pieces);
    CU_DISPATCH(dt, T, {
        const T *x = (const T *)xv, *dy = (const T *)dyv;
        if (g.cl && dy)
            norm_reduce_cl_kernel<true, T><<<grid, CUDA_THREADS, 0, st>>>(
                g, pieces, x, dy, mean, var, eps, pt, out0, out1);
        else if (g.cl)
            norm_reduce_cl_kernel<false, T><<<grid, CUDA_THREADS, 0, st>>>(
                g, pieces, x, dy, mean, var, eps, pt, out0, out1);
        else if (dy)
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
 * statistic of plane p is p % groups for both modes (batch: p % C; instance: p).
 * Channels-last goes element by element: element i of matrix m = i / (R*C) (0 for batch)
 * and channel i % C belongs to statistic m*C + c. */
template <typename T>
__global__ void norm_pointwise_kernel(cuda_norm_geom g, const float4 *coef, const T *x,
                                      const T *dy, T *out)
{
    if (g.cl) {
        int64_t n = g.planes * g.len, rc = g.nseg * g.len * g.c;
        for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
             i += (int64_t)gridDim.x * blockDim.x)
            out[i] = pw_one(coef[i / rc * g.c + i % g.c], x, dy, i);
        return;
    }
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
    if (!g.cl && g.len >= NORM_CHUNK / 8)
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
