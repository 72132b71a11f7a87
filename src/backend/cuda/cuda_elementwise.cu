/* Elementwise CUDA kernels: fill, axpby, add, channel copy, activations and dropout. Every
 * kernel is a grid-stride loop over int64 indices. Dropout draws its mask from the same
 * Philox4x32-10 as src/core/rng.c (rng_philox, rng_uniform): element i keeps iff word i%4 of
 * the block at counter (i/4 low, i/4 high, 0, 0) >> 8, scaled by 2^-24, is >= p, so the mask
 * is bit-identical to the CPU backend's; i is the logical NCHW index, so a channels-last
 * tensor gets the same mask, stored at the element's channels-last position. Formulas of the
 * activations follow cpu_act.c. Every kernel is instantiated for f32, f16 and bf16
 * (cuda_dtype.cuh): f32 math, one rounding per output. convert and scale_by serve mixed
 * precision (backend.h); convert's transposing variant is a tiled shared-memory transpose. */
#include "cuda_dtype.cuh"
#include "cuda_elementwise_kernels.h"
#include "cuda_layout.cuh"

#define GRID_STRIDE(i, n)                                                                \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);             \
         i += (int64_t)blockDim.x * gridDim.x)

template <typename T> __global__ void fill_kernel(T *y, int64_t n, T v)
{
    GRID_STRIDE(i, n)
    y[i] = v;
}

/* Floats: v rounded once on the device (stf), so f16/bf16 fills round as every kernel does. */
template <typename T> __global__ void fill_float_kernel(T *y, int64_t n, float v)
{
    T t = stf<T>(v);
    GRID_STRIDE(i, n)
    y[i] = t;
}

/* y = x + beta * y between any float types, unfused (as the CPU's f32 expression). */
template <typename TX, typename TY>
__global__ void convert_kernel(int64_t n, const TX *x, TY *y, float beta)
{
    if (beta == 0.0f) {
        GRID_STRIDE(i, n)
        y[i] = stf<TY>(ldf(x[i]));
    } else {
        GRID_STRIDE(i, n)
        y[i] = stf<TY>(__fadd_rn(ldf(x[i]), __fmul_rn(beta, ldf(y[i]))));
    }
}

/* Batched transpose with convert's arithmetic: y[b][j][i] = x[b][i][j] (+ beta * y) for
 * x (B, R, K) and y (B, K, R), which is NCHW -> NHWC with (R, K) = (C, H*W) and
 * NHWC -> NCHW with (R, K) = (H*W, C). Block items are TILE x TILE tiles (grid-stride over
 * them, so no grid dimension limits the shape): rows of x are read and rows of y written
 * along threadIdx.x (coalesced on both sides), through a padded shared tile (no bank
 * conflicts). Each element is computed once, as in convert_kernel: deterministic. */
#define TILE 32
#define TILE_ROWS 8 /* blockDim = (TILE, TILE_ROWS) */

template <typename TX, typename TY>
__global__ void transpose_kernel(int64_t B, int64_t R, int64_t K, const TX *x, TY *y,
                                 float beta)
{
    __shared__ float tile[TILE][TILE + 1];
    int64_t tr = (R + TILE - 1) / TILE, tk = (K + TILE - 1) / TILE, per = tr * tk;
    for (int64_t t = blockIdx.x; t < B * per; t += gridDim.x) {
        int64_t b = t / per, r0 = (t % per) / tk * TILE, k0 = (t % per) % tk * TILE;
        const TX *xb = x + b * R * K;
        TY *yb = y + b * R * K;
        for (int a = threadIdx.y; a < TILE; a += TILE_ROWS) {
            int64_t i = r0 + a, j = k0 + threadIdx.x;
            if (i < R && j < K)
                tile[a][threadIdx.x] = ldf(xb[i * K + j]);
        }
        __syncthreads();
        for (int a = threadIdx.y; a < TILE; a += TILE_ROWS) {
            int64_t j = k0 + a, i = r0 + threadIdx.x;
            if (i < R && j < K) {
                float v = tile[threadIdx.x][a];
                TY *o = yb + j * R + i;
                *o = stf<TY>(beta == 0.0f ? v : __fadd_rn(v, __fmul_rn(beta, ldf(*o))));
            }
        }
        __syncthreads(); /* the tile is refilled by the next item */
    }
}

template <typename T> __global__ void scale_by_kernel(int64_t n, T *y, const float *s)
{
    float k = s[0];
    GRID_STRIDE(i, n)
    y[i] = stf<T>(ldf(y[i]) * k);
}

template <typename T>
__global__ void axpby_kernel(int64_t n, float a, const T *x, float b, T *y)
{
    if (b == 0.0f) {
        GRID_STRIDE(i, n)
        y[i] = stf<T>(a * ldf(x[i]));
    } else {
        GRID_STRIDE(i, n)
        y[i] = stf<T>(a * ldf(x[i]) + b * ldf(y[i]));
    }
}

template <typename T> __global__ void add_kernel(int64_t n, const T *a, const T *b, T *y)
{
    GRID_STRIDE(i, n)
    y[i] = stf<T>(ldf(a[i]) + ldf(b[i]));
}

/* One thread per copied element; len = nc*hw elements per batch item. */
template <typename T>
__global__ void channel_copy_kernel(int64_t total, int64_t len, int64_t cs, int64_t cd,
                                    int64_t hw, const T *src, int64_t src_c0, T *dst,
                                    int64_t dst_c0, float beta)
{
    GRID_STRIDE(i, total)
    {
        int64_t b = i / len, r = i - b * len;
        float v = ldf(src[(b * cs + src_c0) * hw + r]);
        T *d = dst + (b * cd + dst_c0) * hw + r;
        *d = stf<T>(beta == 0.0f ? v : v + beta * ldf(*d));
    }
}

template <typename T>
__global__ void act_fwd_kernel(int kind, float alpha, int64_t n, const T *x, T *y)
{
    GRID_STRIDE(i, n)
    {
        float v = ldf(x[i]);
        switch (kind) {
        case CUEW_RELU: /* NaN passes, as on the CPU and in PyTorch */
            y[i] = stf<T>(v <= 0.0f ? 0.0f : v);
            break;
        case CUEW_LEAKY_RELU:
            y[i] = stf<T>(v > 0.0f ? v : alpha * v);
            break;
        case CUEW_TANH:
            y[i] = stf<T>(tanhf(v));
            break;
        default:
            y[i] = stf<T>(1.0f / (1.0f + expf(-v)));
            break;
        }
    }
}

/* neg: the slope below zero (0 for relu, alpha for leaky relu). */
template <typename T>
__global__ void relu_bwd_kernel(float neg, int64_t n, const T *x, const T *dy, T *dx)
{
    GRID_STRIDE(i, n)
    dx[i] = stf<T>((ldf(x[i]) <= 0.0f ? neg : 1.0f) * ldf(dy[i]));
}

template <typename T> __global__ void tanh_bwd_kernel(int64_t n, const T *y, const T *dy, T *dx)
{
    GRID_STRIDE(i, n)
    {
        float yi = ldf(y[i]);
        dx[i] = stf<T>(ldf(dy[i]) * (1.0f - yi * yi));
    }
}

template <typename T>
__global__ void sigmoid_bwd_kernel(int64_t n, const T *y, const T *dy, T *dx)
{
    GRID_STRIDE(i, n)
    {
        float yi = ldf(y[i]);
        dx[i] = stf<T>(ldf(dy[i]) * yi * (1.0f - yi));
    }
}

/* Philox4x32-10; the constants and the round must stay identical to rng_philox in
 * src/core/rng.c (PHILOX_M0/M1, PHILOX_W0/W1), or GPU and CPU masks part ways. */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__device__ __forceinline__ void philox(uint32_t k0, uint32_t k1, uint32_t c[4])
{
    uint32_t c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
#pragma unroll
    for (int r = 0; r < 10; r++) {
        uint32_t hi0 = __umulhi(PHILOX_M0, c0), lo0 = PHILOX_M0 * c0;
        uint32_t hi1 = __umulhi(PHILOX_M1, c2), lo1 = PHILOX_M1 * c2;
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        c1 = lo1;
        c3 = lo0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    c[0] = c0;
    c[1] = c1;
    c[2] = c2;
    c[3] = c3;
}

/* One thread per Philox block of 4 elements, over the logical index (the RNG key of every
 * element, whatever the layout: backend.h). The 24-bit conversion is exact in float, as in
 * rng.c's u24, so the comparison with p matches the CPU's bit for bit. */
template <bool CL, typename T>
__global__ void dropout_fwd_kernel(uint32_t k0, uint32_t k1, float p, float scale, int64_t n,
                                   int64_t c, int64_t hw, const T *x, T *y, uint8_t *mask)
{
    int64_t nblk = (n + 3) / 4;
    GRID_STRIDE(blk, nblk)
    {
        uint32_t w[4] = {(uint32_t)blk, (uint32_t)((uint64_t)blk >> 32), 0u, 0u};
        philox(k0, k1, w);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int64_t i = blk * 4 + j;
            if (i < n) {
                /* logical i is element i % hw of plane i / hw (cuda_layout.cuh) */
                int64_t q = CL ? cl_base<CL>(i / hw, hw, c) + i % hw * cl_step<CL>(c) : i;
                float u = (float)(w[j] >> 8) * (1.0f / 16777216.0f);
                uint8_t keep = u >= p;
                mask[q] = keep;
                y[q] = stf<T>(keep ? ldf(x[q]) * scale : 0.0f);
            }
        }
    }
}

template <typename T>
__global__ void dropout_bwd_kernel(float scale, int64_t n, const uint8_t *mask, const T *dy,
                                   T *dx)
{
    GRID_STRIDE(i, n)
    dx[i] = stf<T>(mask[i] ? ldf(dy[i]) * scale : 0.0f);
}

extern "C" {

void cuew_fill_float(cudaStream_t s, int dt, void *y, int64_t n, float v)
{
    CU_DISPATCH(dt, T, fill_float_kernel<T><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>((T *)y, n, v));
}

void cuew_fill_i32(cudaStream_t s, int32_t *y, int64_t n, int32_t v)
{
    fill_kernel<int32_t><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(y, n, v);
}

void cuew_fill_i64(cudaStream_t s, int64_t *y, int64_t n, int64_t v)
{
    fill_kernel<int64_t><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(y, n, v);
}

void cuew_convert(cudaStream_t s, int64_t n, int xdt, const void *x, int ydt, void *y,
                  float beta)
{
    CU_DISPATCH(xdt, TX, CU_DISPATCH(ydt, TY,
        convert_kernel<TX, TY><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(n, (const TX *)x,
                                                                        (TY *)y, beta)));
}

void cuew_transpose(cudaStream_t s, int64_t b, int64_t r, int64_t k, int xdt, const void *x,
                    int ydt, void *y, float beta)
{
    int64_t tiles = b * ((r + TILE - 1) / TILE) * ((k + TILE - 1) / TILE);
    unsigned grid = (unsigned)(tiles < 65535 * 8 ? tiles : 65535 * 8);
    dim3 block(TILE, TILE_ROWS);
    CU_DISPATCH(xdt, TX, CU_DISPATCH(ydt, TY,
        transpose_kernel<TX, TY><<<grid, block, 0, s>>>(b, r, k, (const TX *)x, (TY *)y,
                                                        beta)));
}

void cuew_scale_by(cudaStream_t s, int dt, int64_t n, void *y, const float *k)
{
    CU_DISPATCH(dt, T, scale_by_kernel<T><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(n, (T *)y, k));
}

void cuew_axpby(cudaStream_t s, int dt, int64_t n, float a, const void *x, float b, void *y)
{
    CU_DISPATCH(dt, T, axpby_kernel<T><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(
                           n, a, (const T *)x, b, (T *)y));
}

void cuew_add(cudaStream_t s, int dt, int64_t n, const void *a, const void *b, void *y)
{
    CU_DISPATCH(dt, T, add_kernel<T><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(
                           n, (const T *)a, (const T *)b, (T *)y));
}

void cuew_channel_copy(cudaStream_t s, int dt, int64_t n, int64_t cs, int64_t cd, int64_t hw,
                       const void *src, int64_t src_c0, void *dst, int64_t dst_c0,
                       int64_t nc, float beta)
{
    int64_t len = nc * hw, total = n * len;
    if (total == 0)
        return;
    CU_DISPATCH(dt, T, channel_copy_kernel<T><<<cuda_blocks(total), CUDA_THREADS, 0, s>>>(
                           total, len, cs, cd, hw, (const T *)src, src_c0, (T *)dst, dst_c0,
                           beta));
}

void cuew_act_fwd(cudaStream_t s, int dt, int kind, float alpha, int64_t n, const void *x,
                  void *y)
{
    CU_DISPATCH(dt, T, act_fwd_kernel<T><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(
                           kind, alpha, n, (const T *)x, (T *)y));
}

void cuew_act_bwd(cudaStream_t s, int dt, int kind, float alpha, int64_t n, const void *x,
                  const void *y, const void *dy, void *dx)
{
    unsigned g = cuda_blocks(n);
    CU_DISPATCH(dt, T, {
        if (kind == CUEW_RELU || kind == CUEW_LEAKY_RELU)
            relu_bwd_kernel<T><<<g, CUDA_THREADS, 0, s>>>(kind == CUEW_RELU ? 0.0f : alpha, n,
                                                           (const T *)x, (const T *)dy,
                                                           (T *)dx);
        else if (kind == CUEW_TANH)
            tanh_bwd_kernel<T><<<g, CUDA_THREADS, 0, s>>>(n, (const T *)y, (const T *)dy,
                                                           (T *)dx);
        else
            sigmoid_bwd_kernel<T><<<g, CUDA_THREADS, 0, s>>>(n, (const T *)y, (const T *)dy,
                                                              (T *)dx);
    });
}

void cuew_dropout_fwd(cudaStream_t s, int dt, uint32_t k0, uint32_t k1, float p, float scale,
                      int64_t n, int64_t c, int64_t hw, const void *x, void *y, uint8_t *mask)
{
    unsigned g = cuda_blocks((n + 3) / 4);
    int64_t cc = c > 0 ? c : 1, hh = c > 0 ? hw : 1;
    CU_DISPATCH(dt, T, CL_DISPATCH(c > 0, CL,
        dropout_fwd_kernel<CL, T><<<g, CUDA_THREADS, 0, s>>>(k0, k1, p, scale, n, cc, hh,
                                                              (const T *)x, (T *)y, mask)));
}

void cuew_dropout_bwd(cudaStream_t s, int dt, float scale, int64_t n, const uint8_t *mask,
                      const void *dy, void *dx)
{
    CU_DISPATCH(dt, T, dropout_bwd_kernel<T><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(
                           scale, n, mask, (const T *)dy, (T *)dx));
}

} /* extern "C" */
