/* Bias kernels of the dense group. bias_grad reduces each channel in one block, or, when few
 * channels hold many values, in fixed pieces whose partials are added in order by a second
 * kernel: every thread sums a fixed strided subset, a shared-memory tree combines the
 * threads in a fixed order, so results do not vary from run to run. Channels-last gradients
 * (rows of C values) are summed by column tiles instead, a warp reading 32 neighbouring
 * channels of one row, so that reads stay coalesced. All are templates on the element types
 * of the activations (T) and of the bias (B): f32 sums, one rounding per output
 * (cuda_dtype.cuh). */
#include "cuda_dense_kernels.h"
#include "cuda_dtype.cuh"

template <typename T, typename B>
static __global__ void bias_add_kernel(T *y, const B *b, int64_t total, int64_t C,
                                       int64_t inner)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] = stf<T>(ldf(y[i]) + ldf(b[(i / inner) % C]));
}

/* The sum of dy over elements [j0, j1) of channel c's N * inner (n-major), in a fixed
 * order: each thread a fixed strided subset, then a shared-memory tree. blockDim.x ==
 * CUDA_THREADS (a power of two); valid in thread 0; every thread must call it. */
template <typename T>
__device__ static float channel_sum(const T *dy, int64_t C, int64_t inner, int64_t c,
                                    int64_t j0, int64_t j1)
{
    __shared__ float part[CUDA_THREADS];
    float acc = 0.0f;
    for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
        int64_t n = j / inner, i = j - n * inner;
        acc += ldf(dy[(n * C + c) * inner + i]);
    }
    __syncthreads(); /* part may still be read from the previous call */
    part[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half)
            part[threadIdx.x] += part[threadIdx.x + half];
        __syncthreads();
    }
    return part[0];
}

/* One block per channel (grid-stride over channels): the whole channel at once. */
template <typename T, typename B>
static __global__ void bias_grad_kernel(const T *dy, B *db, int64_t N, int64_t C,
                                        int64_t inner, float beta)
{
    for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
        float sum = channel_sum(dy, C, inner, c, 0, N * inner);
        if (threadIdx.x == 0)
            db[c] = stf<B>(sum + (beta == 0.0f ? 0.0f : beta * ldf(db[c])));
    }
}

/* Two stages for few channels with many elements each (VGG's first layers: 64 channels of
 * 3.2M values would leave most SMs idle): block item (c, p) sums piece p of P fixed pieces
 * of channel c into part[c * P + p]; then one thread per channel adds its P partials in
 * order. P depends only on the shape, so results are the same on every run. */
template <typename T>
static __global__ void bias_grad_part_kernel(const T *dy, float *part, int64_t N, int64_t C,
                                             int64_t inner, int64_t P)
{
    int64_t l = N * inner;
    for (int64_t item = blockIdx.x; item < C * P; item += gridDim.x) {
        int64_t c = item / P, p = item - c * P;
        float sum = channel_sum(dy, C, inner, c, l * p / P, l * (p + 1) / P);
        if (threadIdx.x == 0)
            part[item] = sum;
    }
}

template <typename B>
static __global__ void bias_grad_final_kernel(const float *part, B *db, int64_t C, int64_t P,
                                              float beta)
{
    for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < C;
         c += (int64_t)gridDim.x * blockDim.x) {
        float sum = 0.0f;
        for (int64_t p = 0; p < P; p++)
            sum += part[c * P + p];
        db[c] = stf<B>(sum + (beta == 0.0f ? 0.0f : beta * ldf(db[c])));
    }
}

/* Channels-last: dy is (rows, C) row-major. Block item (t, p) sums rows
 * [rows p / P, rows (p + 1) / P) of the 32 channels of tile t: lane l of warp g takes
 * channel 32 t + l on rows g, g + 8, ... of the range, then lane l of warp 0 adds the
 * eight warps' sums in order. P == 1 finishes db; otherwise part[c * P + p], which
 * bias_grad_final_kernel adds in order. blockDim.x == CUDA_THREADS (8 warps). */
#define CL_WARPS (CUDA_THREADS / 32)
template <typename T, typename B>
static __global__ void bias_grad_cl_kernel(const T *dy, B *db, float *part, int64_t rows,
                                           int64_t C, int64_t P, float beta)
{
    __shared__ float sh[CL_WARPS][32];
    int lane = threadIdx.x & 31, g = threadIdx.x >> 5;
    int64_t tiles = (C + 31) / 32;
    for (int64_t item = blockIdx.x; item < tiles * P; item += gridDim.x) {
        int64_t t = item / P, p = item - t * P, c = t * 32 + lane;
        int64_t r0 = rows * p / P, r1 = rows * (p + 1) / P;
        float acc = 0.0f;
        if (c < C)
            for (int64_t r = r0 + g; r < r1; r += CL_WARPS)
                acc += ldf(dy[r * C + c]);
        sh[g][lane] = acc;
        __syncthreads();
        if (g == 0 && c < C) {
            float sum = 0.0f;
            for (int k = 0; k < CL_WARPS; k++)
                sum += sh[k][lane];
            if (P == 1)
                db[c] = stf<B>(sum + (beta == 0.0f ? 0.0f : beta * ldf(db[c])));
            else
                part[c * P + p] = sum;
        }
        __syncthreads(); /* sh is rewritten by the next item */
    }
}

extern "C" int64_t cuda_bias_grad_cl_pieces(int64_t rows, int64_t C)
{
    int64_t tiles = (C + 31) / 32;
    int64_t by_len = (rows + CUDA_BIAS_CL_ROWS_MIN - 1) / CUDA_BIAS_CL_ROWS_MIN;
    int64_t by_fill = (CUDA_BIAS_TARGET_BLOCKS + tiles - 1) / (tiles > 0 ? tiles : 1);
    int64_t p = by_len < by_fill ? by_len : by_fill;
    p = p < CUDA_BIAS_PIECES_MAX ? p : CUDA_BIAS_PIECES_MAX;
    return p < 1 ? 1 : p;
}

extern "C" void cuda_bias_grad_cl_launch(cudaStream_t s, int ydt, const void *dy, int bdt,
                                         void *db, int64_t rows, int64_t C, float beta,
                                         float *part)
{
    if (C <= 0)
        return;
    int64_t P = cuda_bias_grad_cl_pieces(rows, C), items = (C + 31) / 32 * P;
    unsigned blocks = (unsigned)(items < 65535 * 8 ? items : 65535 * 8);
    CU_DISPATCH(ydt, T, CU_DISPATCH(bdt, B,
        bias_grad_cl_kernel<T, B><<<blocks, CUDA_THREADS, 0, s>>>((const T *)dy, (B *)db, part,
                                                                   rows, C, P, beta)));
    if (P > 1)
        CU_DISPATCH(bdt, B, bias_grad_final_kernel<B><<<cuda_blocks(C), CUDA_THREADS, 0, s>>>(
                                part, (B *)db, C, P, beta));
}

extern "C" void cuda_bias_add_launch(cudaStream_t s, int ydt, void *y, int bdt, const void *b,
                                     int64_t N, int64_t C, int64_t inner)
{
    int64_t total = N * C * inner;
    if (total <= 0)
        return;
    CU_DISPATCH(ydt, T, CU_DISPATCH(bdt, B,
        bias_add_kernel<T, B><<<cuda_blocks(total), CUDA_THREADS, 0, s>>>(
            (T *)y, (const B *)b, total, C, inner)));
}

extern "C" int64_t cuda_bias_grad_pieces(int64_t N, int64_t C, int64_t inner)
{
    int64_t by_len = (N * inner + CUDA_BIAS_PIECE_MIN - 1) / CUDA_BIAS_PIECE_MIN;
    int64_t by_fill = (CUDA_BIAS_TARGET_BLOCKS + C - 1) / (C > 0 ? C : 1);
    int64_t p = by_len < by_fill ? by_len : by_fill;
    p = p < CUDA_BIAS_PIECES_MAX ? p : CUDA_BIAS_PIECES_MAX;
    return p < 1 ? 1 : p;
}

extern "C" void cuda_bias_grad_launch(cudaStream_t s, int ydt, const void *dy, int bdt,
                                      void *db, int64_t N, int64_t C, int64_t inner, float beta,
                                      float *part)
{
    if (C <= 0)
        return;
    int64_t P = cuda_bias_grad_pieces(N, C, inner);
    if (P == 1) {
        unsigned blocks = (unsigned)(C < 65535 * 8 ? C : 65535 * 8);
        CU_DISPATCH(ydt, T, CU_DISPATCH(bdt, B,
            bias_grad_kernel<T, B><<<blocks, CUDA_THREADS, 0, s>>>((const T *)dy, (B *)db, N,
                                                                    C, inner, beta)));
        return;
    }
    int64_t items = C * P;
    unsigned blocks = (unsigned)(items < 65535 * 8 ? items : 65535 * 8);
    CU_DISPATCH(ydt, T, bias_grad_part_kernel<T><<<blocks, CUDA_THREADS, 0, s>>>(
                            (const T *)dy, part, N, C, inner, P));
    CU_DISPATCH(bdt, B, bias_grad_final_kernel<B><<<cuda_blocks(C), CUDA_THREADS, 0, s>>>(
                            part, (B *)db, C, P, beta));
}
