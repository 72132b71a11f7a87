/* Bias kernels of the dense group. bias_grad reduces each channel in one block: every thread
 * sums a fixed strided subset of the channel's N * inner values, then a shared-memory tree
 * combines the threads in a fixed order, so results do not vary from run to run. */
#include "cuda_dense_kernels.h"

static __global__ void bias_add_kernel(float *y, const float *b, int64_t total, int64_t C,
                                       int64_t inner)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] += b[(i / inner) % C];
}

/* blockDim.x == CUDA_THREADS (a power of two); grid-stride over channels. */
static __global__ void bias_grad_kernel(const float *dy, float *db, int64_t N, int64_t C,
                                        int64_t inner, float beta)
{
    __shared__ float part[CUDA_THREADS];
    const int64_t per_channel = N * inner;
    for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
        float acc = 0.0f;
        for (int64_t j = threadIdx.x; j < per_channel; j += blockDim.x) {
            int64_t n = j / inner, i = j - n * inner;
            acc += dy[(n * C + c) * inner + i];
        }
        part[threadIdx.x] = acc;
        __syncthreads();
        for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
            if (threadIdx.x < half)
                part[threadIdx.x] += part[threadIdx.x + half];
            __syncthreads();
        }
        if (threadIdx.x == 0)
            db[c] = part[0] + (beta == 0.0f ? 0.0f : beta * db[c]);
        __syncthreads(); /* part[0] is read before the next channel overwrites part */
    }
}

extern "C" void cuda_bias_add_launch(cudaStream_t s, float *y, const float *b, int64_t N,
                                     int64_t C, int64_t inner)
{
    int64_t total = N * C * inner;
    if (total <= 0)
        return;
    bias_add_kernel<<<cuda_blocks(total), CUDA_THREADS, 0, s>>>(y, b, total, C, inner);
}

extern "C" void cuda_bias_grad_launch(cudaStream_t s, const float *dy, float *db, int64_t N,
                                      int64_t C, int64_t inner, float beta)
{
    if (C <= 0)
        return;
    unsigned blocks = (unsigned)(C < 65535 * 8 ? C : 65535 * 8);
    bias_grad_kernel<<<blocks, CUDA_THREADS, 0, s>>>(dy, db, N, C, inner, beta);
}
