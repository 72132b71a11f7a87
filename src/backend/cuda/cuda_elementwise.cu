/* Elementwise CUDA kernels: fill, axpby, add, channel copy, activations and dropout. Every
 * kernel is a grid-stride loop over int64 indices. Dropout draws its mask from the same
 * Philox4x32-10 as src/core/rng.c (rng_philox, rng_uniform): element i keeps iff word i%4 of
 * the block at counter (i/4 low, i/4 high, 0, 0) >> 8, scaled by 2^-24, is >= p, so the mask
 * is bit-identical to the CPU backend's. Formulas of the activations follow cpu_act.c. */
#include "cuda_elementwise_kernels.h"

#define GRID_STRIDE(i, n)                                                                \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);             \
         i += (int64_t)blockDim.x * gridDim.x)

template <typename T> __global__ void fill_kernel(T *y, int64_t n, T v)
{
    GRID_STRIDE(i, n)
    y[i] = v;
}

__global__ void axpby_kernel(int64_t n, float a, const float *x, float b, float *y)
{
    if (b == 0.0f) {
        GRID_STRIDE(i, n)
        y[i] = a * x[i];
    } else {
        GRID_STRIDE(i, n)
        y[i] = a * x[i] + b * y[i];
    }
}

__global__ void add_kernel(int64_t n, const float *a, const float *b, float *y)
{
    GRID_STRIDE(i, n)
    y[i] = a[i] + b[i];
}

/* One thread per copied element; len = nc*hw elements per batch item. */
__global__ void channel_copy_kernel(int64_t total, int64_t len, int64_t cs, int64_t cd,
                                    int64_t hw, const float *src, int64_t src_c0, float *dst,
                                    int64_t dst_c0, float beta)
{
    GRID_STRIDE(i, total)
    {
        int64_t b = i / len, r = i - b * len;
        float v = src[(b * cs + src_c0) * hw + r];
        float *d = dst + (b * cd + dst_c0) * hw + r;
        *d = beta == 0.0f ? v : v + beta * *d;
    }
}

__global__ void act_fwd_kernel(int kind, float alpha, int64_t n, const float *x, float *y)
{
    GRID_STRIDE(i, n)
    {
        float v = x[i];
        switch (kind) {
        case CUEW_RELU:
            y[i] = v > 0.0f ? v : 0.0f;
            break;
        case CUEW_LEAKY_RELU:
            y[i] = v > 0.0f ? v : alpha * v;
            break;
        case CUEW_TANH:
            y[i] = tanhf(v);
            break;
        default:
            y[i] = 1.0f / (1.0f + expf(-v));
            break;
        }
    }
}

/* neg: the slope below zero (0 for relu, alpha for leaky relu). */
__global__ void relu_bwd_kernel(float neg, int64_t n, const float *x, const float *dy,
                                float *dx)
{
    GRID_STRIDE(i, n)
    dx[i] = (x[i] > 0.0f ? 1.0f : neg) * dy[i];
}

__global__ void tanh_bwd_kernel(int64_t n, const float *y, const float *dy, float *dx)
{
    GRID_STRIDE(i, n)
    dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

__global__ void sigmoid_bwd_kernel(int64_t n, const float *y, const float *dy, float *dx)
{
    GRID_STRIDE(i, n)
    dx[i] = dy[i] * y[i] * (1.0f - y[i]);
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

/* One thread per Philox block of 4 elements. The 24-bit conversion is exact in float, as
 * in rng.c's u24, so the comparison with p matches the CPU's bit for bit. */
__global__ void dropout_fwd_kernel(uint32_t k0, uint32_t k1, float p, float scale, int64_t n,
                                   const float *x, float *y, uint8_t *mask)
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
                float u = (float)(w[j] >> 8) * (1.0f / 16777216.0f);
                uint8_t keep = u >= p;
                mask[i] = keep;
                y[i] = keep ? x[i] * scale : 0.0f;
            }
        }
    }
}

__global__ void dropout_bwd_kernel(float scale, int64_t n, const uint8_t *mask,
                                   const float *dy, float *dx)
{
    GRID_STRIDE(i, n)
    dx[i] = mask[i] ? dy[i] * scale : 0.0f;
}

extern "C" {

void cuew_fill_f32(cudaStream_t s, float *y, int64_t n, float v)
{
    fill_kernel<float><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(y, n, v);
}

void cuew_fill_i32(cudaStream_t s, int32_t *y, int64_t n, int32_t v)
{
    fill_kernel<int32_t><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(y, n, v);
}

void cuew_fill_i64(cudaStream_t s, int64_t *y, int64_t n, int64_t v)
{
    fill_kernel<int64_t><<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(y, n, v);
}

void cuew_axpby(cudaStream_t s, int64_t n, float a, const float *x, float b, float *y)
{
    axpby_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(n, a, x, b, y);
}

void cuew_add(cudaStream_t s, int64_t n, const float *a, const float *b, float *y)
{
    add_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(n, a, b, y);
}

void cuew_channel_copy(cudaStream_t s, int64_t n, int64_t cs, int64_t cd, int64_t hw,
                       const float *src, int64_t src_c0, float *dst, int64_t dst_c0,
                       int64_t nc, float beta)
{
    int64_t len = nc * hw, total = n * len;
    if (total == 0)
        return;
    channel_copy_kernel<<<cuda_blocks(total), CUDA_THREADS, 0, s>>>(
        total, len, cs, cd, hw, src, src_c0, dst, dst_c0, beta);
}

void cuew_act_fwd(cudaStream_t s, int kind, float alpha, int64_t n, const float *x, float *y)
{
    act_fwd_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(kind, alpha, n, x, y);
}

void cuew_act_bwd(cudaStream_t s, int kind, float alpha, int64_t n, const float *x,
                  const float *y, const float *dy, float *dx)
{
    unsigned g = cuda_blocks(n);
    if (kind == CUEW_RELU || kind == CUEW_LEAKY_RELU)
        relu_bwd_kernel<<<g, CUDA_THREADS, 0, s>>>(kind == CUEW_RELU ? 0.0f : alpha, n, x,
                                                    dy, dx);
    else if (kind == CUEW_TANH)
        tanh_bwd_kernel<<<g, CUDA_THREADS, 0, s>>>(n, y, dy, dx);
    else
        sigmoid_bwd_kernel<<<g, CUDA_THREADS, 0, s>>>(n, y, dy, dx);
}

void cuew_dropout_fwd(cudaStream_t s, uint32_t k0, uint32_t k1, float p, float scale,
                      int64_t n, const float *x, float *y, uint8_t *mask)
{
    dropout_fwd_kernel<<<cuda_blocks((n + 3) / 4), CUDA_THREADS, 0, s>>>(k0, k1, p, scale, n,
                                                                          x, y, mask);
}

void cuew_dropout_bwd(cudaStream_t s, float scale, int64_t n, const uint8_t *mask,
                      const float *dy, float *dx)
{
    dropout_bwd_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(scale, n, mask, dy, dx);
}

} /* extern "C" */
